/**
 * The published Mamba-1 and Mamba-2 shapes (state-spaces/mamba-* and mamba2-* on the Hugging Face hub), as
 * configs for benchmarking and profiling with synthetic weights.
 *
 * @module
 */

import type { Arch, MambaConfig } from "./config.ts";

/** Model sizes with a published checkpoint for both architectures (790m ≈ mamba2-780m, 1.4b ≈ 1.3b, 2.8b ≈ 2.7b). */
export const PRESET_SIZES = ["130m", "370m", "790m", "1.4b", "2.8b"] as const;

/** One of {@link PRESET_SIZES}. */
export type PresetSize = typeof PRESET_SIZES[number];

const SHAPES: Record<PresetSize, { dModel: number; nLayer: number }> = {
  "130m": { dModel: 768, nLayer: 24 },
  "370m": { dModel: 1024, nLayer: 48 },
  "790m": { dModel: 1536, nLayer: 48 },
  "1.4b": { dModel: 2048, nLayer: 48 },
  "2.8b": { dModel: 2560, nLayer: 64 },
};

/** Explicit dimensions for {@link makeConfig}; unspecified fields take the published defaults. */
export interface ConfigDims {
  dModel: number;
  nLayer: number;
  vocabSize?: number;
  dState?: number;
  expand?: number;
  dConv?: number;
  headDim?: number;
  nGroups?: number;
  chunkSize?: number;
}

/**
 * A config with mamba_ssm's defaults (Mamba-1: d_state 16, dt_rank ⌈d/16⌉; Mamba-2: d_state 128, headdim 64,
 * 1 group, chunk 256; both: conv 4, expand 2, GPT-NeoX vocab 50280).
 *
 * @example
 * ```ts
 * import { makeConfig } from "./presets.ts";
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
  return {
    arch,
    dModel: dims.dModel,
    nLayer: dims.nLayer,
    vocabSize: dims.vocabSize ?? 50280,
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

/** The published shape of a size, e.g. `presetConfig("mamba2", "130m")`. */
export function presetConfig(arch: Arch, size: PresetSize | string): MambaConfig {
  const s = SHAPES[size as PresetSize];
  if (!s) throw new RangeError(`unknown size "${size}"; choose one of ${PRESET_SIZES.join(", ")}`);
  return makeConfig(arch, s);
}
