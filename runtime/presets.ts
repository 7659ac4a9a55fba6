/**
 * The published Mamba-1 and Mamba-2 shapes (state-spaces/mamba-* and mamba2-* on the Hugging Face hub), as
 * configs for benchmarking and profiling with synthetic weights.
 *
 * @module
 */

import type { Arch, MambaConfig } from "./config.ts";

/**
 * Model sizes with a published checkpoint for both architectures (790m ≈ mamba2-780m, 1.4b ≈ 1.3b, 2.8b ≈ 2.7b).
 *
 * @example
 * ```ts
 * import { PRESET_SIZES, presetConfig } from "@perfmamba/perfmamba";
 *
 * for (const size of PRESET_SIZES) {
 *   const c = presetConfig("mamba2", size);
 *   console.log(size, c.dModel, c.nLayer);
 * }
 * // 130m 768 24
 * // 370m 1024 48
 * // 790m 1536 48
 * // 1.4b 2048 48
 * // 2.8b 2560 64
 * ```
 */
export const PRESET_SIZES = ["130m", "370m", "790m", "1.4b", "2.8b"] as const;

/**
 * One of {@link PRESET_SIZES}.
 *
 * @example
 * ```ts
 * import { PRESET_SIZES, type PresetSize } from "@perfmamba/perfmamba";
 *
 * // Narrow a user-supplied string (a CLI flag, a query parameter) to a preset size.
 * function isPresetSize(s: string): s is PresetSize {
 *   return (PRESET_SIZES as readonly string[]).includes(s);
 * }
 * console.log(isPresetSize("370m"), isPresetSize("7b")); // true false
 * ```
 */
export type PresetSize = typeof PRESET_SIZES[number];

const SHAPES: Record<PresetSize, { dModel: number; nLayer: number }> = {
  "130m": { dModel: 768, nLayer: 24 },
  "370m": { dModel: 1024, nLayer: 48 },
  "790m": { dModel: 1536, nLayer: 48 },
  "1.4b": { dModel: 2048, nLayer: 48 },
  "2.8b": { dModel: 2560, nLayer: 64 },
};

/**
 * Explicit dimensions for {@link makeConfig}; unspecified fields take the published defaults.
 *
 * @example
 * ```ts
 * import { type ConfigDims, makeConfig } from "@perfmamba/perfmamba";
 *
 * const dims: ConfigDims = { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16, nGroups: 2 };
 * const c = makeConfig("mamba2", dims);
 * console.log(c.dInner, c.nHeads, c.nGroups, c.dConv); // 128 8 2 4
 * ```
 */
export interface ConfigDims {
  /** Residual stream width d_model. */
  dModel: number;
  /** Number of blocks. */
  nLayer: number;
  /** Embedding rows (default 50280, GPT-NeoX padded). */
  vocabSize?: number;
  /** SSM state size N (default 16 for Mamba-1, 128 for Mamba-2). */
  dState?: number;
  /** dInner = expand · dModel (default 2). */
  expand?: number;
  /** Causal conv kernel width, 2..4 (default 4). */
  dConv?: number;
  /** Mamba-2: channels per head P (default 64); must divide dInner. */
  headDim?: number;
  /** Mamba-2: B/C groups G (default 1); must divide the number of heads. */
  nGroups?: number;
  /** Mamba-2: SSD chunk length for prefill (default 256). */
  chunkSize?: number;
}

/**
 * A config with mamba_ssm's defaults (Mamba-1: d_state 16, dt_rank ⌈d/16⌉; Mamba-2: d_state 128, headdim 64,
 * 1 group, chunk 256; both: conv 4, expand 2, GPT-NeoX vocab 50280).
 *
 * @example
 * ```ts
 * import { makeConfig } from "@perfmamba/perfmamba";
 * const c = makeConfig("mamba2", { dModel: 768, nLayer: 24 });
 * console.log(c.nHeads); // 24
 * ```
 */
export function makeConfig(arch: Arch, dims: ConfigDims): MambaConfig {
  const expand = dims.expand ?? 2;
  const dInner = expand * dims.dModel;
  const headDim = dims.headDim ?? 64;
  const nGroups = dims.nGroups ?? 1;
  const dState = dims.dState ?? (arch === "mamba1" ? 16 : 128);
  const positive = { dModel: dims.dModel, nLayer: dims.nLayer, dState, expand, headDim, nGroups };
  for (const [k, v] of Object.entries(positive)) {
    if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`${k} must be a positive whole number, got ${v}`);
  }
  if (arch === "mamba2") {
    if (dInner % headDim !== 0) {
      throw new RangeError(
        `d_inner ${dInner} (expand ${expand} × d_model ${dims.dModel}) is not a multiple of head_dim ${headDim}`,
      );
    }
    if ((dInner / headDim) % nGroups !== 0) {
      throw new RangeError(`${dInner / headDim} heads cannot be split into ${nGroups} groups`);
    }
  }
  const dConv = dims.dConv ?? 4;
  if (!(dConv >= 2 && dConv <= 4)) throw new RangeError(`conv kernel must be 2..4, got ${dConv}`);
  const vocabSize = dims.vocabSize ?? 50280;
  return {
    arch,
    dModel: dims.dModel,
    nLayer: dims.nLayer,
    vocabSize,
    tokenVocabSize: vocabSize, // no padded rows
    dState,
    dConv,
    dInner,
    eps: 1e-5,
    useBias: false,
    useConvBias: true,
    tieEmbeddings: true,
    dtRank: Math.ceil(dims.dModel / 16),
    headDim: arch === "mamba2" ? headDim : 0,
    nHeads: arch === "mamba2" ? dInner / headDim : 0,
    nGroups: arch === "mamba2" ? nGroups : 0,
    chunkSize: dims.chunkSize ?? 256,
    timeStepLimit: [0, Infinity],
    normBeforeGate: false,
    normGroupSize: arch === "mamba2" ? dInner / nGroups : 0,
    source: "builtin",
  };
}

/**
 * The published shape of a size, e.g. `presetConfig("mamba2", "130m")`.
 *
 * @throws RangeError for a size outside {@link PRESET_SIZES}
 *
 * @example
 * ```ts
 * import { presetConfig } from "@perfmamba/perfmamba";
 *
 * const c = presetConfig("mamba1", "130m"); // the shape of state-spaces/mamba-130m
 * console.log(c.dModel, c.nLayer, c.dState, c.dInner, c.vocabSize); // 768 24 16 1536 50280
 * ```
 */
export function presetConfig(arch: Arch, size: PresetSize | string): MambaConfig {
  const s = SHAPES[size as PresetSize];
  if (!s) throw new RangeError(`unknown size "${size}"; choose one of ${PRESET_SIZES.join(", ")}`);
  return makeConfig(arch, s);
}
