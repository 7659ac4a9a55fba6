/**
 * Zero-padding of Mamba-1's Δ rank to a whole number of 32-weight blocks, so that dt_proj (`[D, R]`) can hold
 * q8_0 / q4_0 blocks when R is not a multiple of 32 (130m: R = 48).
 *
 * The padded model computes the same function. With R′ = the next multiple of 32 above R:
 * - x_proj `[R + 2N, D]` gains R′ − R zero rows after its δ rows: `[W_δ; 0; W_B; W_C]`. Its output is
 *   `[δ, 0, B, C]`: each new entry is a sum of products 0 · u_j, exactly 0 in floating point for finite u (x_proj
 *   has no bias), and exactly 0 on the quantized paths too (all-zero blocks: d = 0, codes 0). B and C are unchanged
 *   (the same rows, the same sums).
 * - dt_proj `[D, R]` gains R′ − R zero columns: `[W_dt, 0]`. Row i's sum Σ_{j<R′} W′_ij · δ′_j is the unpadded sum
 *   plus R′ − R terms 0 · 0 = 0; adding an exact zero to a partial sum leaves its value unchanged (at most a −0 becomes
 *   +0, which the bias add and softplus cannot tell apart), so Δ = softplus(W_dt δ + b) is the same value. A kernel
 *   may group the non-zero terms differently for a different k (SIMD lanes, blocks): that is f32 reassociation, the
 *   ordinary difference between two kernels, not a change of the function.
 * - On the integer (quantized-activation) paths dt_proj's last activation block holds δ's tail and zeros: the zeros
 *   do not change the block's max |x|, so δ's codes are those of an unpadded block of the same values.
 * Nothing else reads R: the scan sees Δ, B, C only. Falcon-Mamba is not padded: its RMS norm of δ averages over R
 * entries, and zeros would change that mean.
 *
 * @module
 */

import type { MambaConfig } from "./config.ts";
import type { HostTensor, Mamba1LayerWeights, MambaWeights } from "./weights.ts";

/** Weights per quantization block: the multiple the Δ rank is padded to. */
const BLOCK = 32;

/**
 * The Δ rank that quantization pads `config`'s to: the next multiple of 32 for a Mamba-1 model (not Falcon-Mamba)
 * whose dt_rank is not one, else its own (Mamba-2: 0, unused).
 *
 * @example
 * ```ts
 * import { paddedDtRank, presetConfig } from "@perfmamba/perfmamba";
 *
 * console.log(paddedDtRank(presetConfig("mamba1", "130m")), paddedDtRank(presetConfig("mamba1", "2.8b"))); // 64 160
 * ```
 */
export function paddedDtRank(config: MambaConfig): number {
  const R = config.dtRank;
  if (config.arch !== "mamba1" || config.bcdtNormEps !== undefined || R % BLOCK === 0) return R;
  return Math.ceil(R / BLOCK) * BLOCK;
}

/**
 * `config` with its Δ rank padded by {@link padDtRank} (`dtRank` R′, `dtRankPaddedFrom` the original R), or
 * `config` itself when {@link paddedDtRank} leaves it.
 *
 * @example
 * ```ts
 * import { padDtRankConfig, presetConfig } from "@perfmamba/perfmamba";
 *
 * const c = padDtRankConfig(presetConfig("mamba1", "130m"));
 * console.log(c.dtRank, c.dtRankPaddedFrom); // 64 48
 * ```
 */
export function padDtRankConfig(config: MambaConfig): MambaConfig {
  const R2 = paddedDtRank(config);
  if (R2 === config.dtRank) return config;
  return { ...config, dtRank: R2, dtRankPaddedFrom: config.dtRankPaddedFrom ?? config.dtRank };
}

/**
 * One Mamba-1 layer's f32 weights with the Δ rank padded from R to R2 (x_proj's zero rows after δ, dt_proj's zero
 * columns; see the module comment for why the function is unchanged).
 */
export function padDtRankLayer(layer: Mamba1LayerWeights, R: number, R2: number): Mamba1LayerWeights {
  const [rows, D] = layer.xProj.shape;
  const pad = R2 - R;
  const xProj = new Float32Array((rows + pad) * D);
  xProj.set(layer.xProj.data.subarray(0, R * D), 0);
  xProj.set(layer.xProj.data.subarray(R * D), R2 * D);
  const dtProj = new Float32Array(D * R2);
  for (let i = 0; i < D; i++) dtProj.set(layer.dtProj.data.subarray(i * R, (i + 1) * R), i * R2);
  const x: HostTensor = { shape: [rows + pad, D], data: xProj };
  return { ...layer, xProj: x, dtProj: { shape: [D, R2], data: dtProj } };
}

/**
 * A Mamba-1 model's f32 weights with the Δ rank zero-padded to a multiple of 32 ({@link paddedDtRank}), so that
 * dt_proj quantizes to whole blocks; the same function (the module comment proves it). Returns the input when
 * there is nothing to pad. `quantizeWeights` calls it before quantizing dt_proj.
 *
 * @example
 * ```ts
 * import { makeConfig, padDtRank, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const w = padDtRank(syntheticWeights(makeConfig("mamba1", { dModel: 64, nLayer: 1, vocabSize: 64 }), 1));
 * const l = w.layers[0];
 * console.log(w.config.dtRank, w.config.dtRankPaddedFrom, l.arch === "mamba1" && l.dtProj.shape); // 32 4 [ 128, 32 ]
 * ```
 */
export function padDtRank(weights: MambaWeights): MambaWeights {
  const config = padDtRankConfig(weights.config);
  if (config === weights.config) return weights;
  const R = weights.config.dtRank, R2 = config.dtRank;
  const layers = weights.layers.map((l) => (l.arch === "mamba1" ? padDtRankLayer(l, R, R2) : l));
  return { ...weights, config, layers };
}
