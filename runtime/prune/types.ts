/**
 * Shared vocabulary of Δ-guided structured state pruning: which state channels of each layer's SSM are kept.
 *
 * A state index s of a layer names one column of A (Mamba-1: `A_log[:, s]`), one B row and one C row (Mamba-1:
 * `x_proj` rows dt_rank + s and dt_rank + N + s; Mamba-2: the B and C rows of `in_proj` and their `conv1d`
 * channels, for every group), and h[..., s]. One index set per layer, shared by all channels, heads and groups.
 *
 * @module
 */

/**
 * Kept state indices per layer, each ascending and unique (layer l keeps `keep[l].length` of its N states).
 *
 * @example
 * ```ts
 * import { type KeepSets, makeConfig, pruneWeights, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const weights = syntheticWeights(makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 }), 1);
 * // By hand: layer 0 keeps its first 8 of 16 states, layer 1 every fourth (selectStates computes these).
 * const keep: KeepSets = [[0, 1, 2, 3, 4, 5, 6, 7], [0, 4, 8, 12]];
 * const pruned = pruneWeights(weights, keep);
 * console.log(pruned.config.dState, pruned.config.layerStateSizes); // 8 [ 8, 4 ]
 * ```
 */
export type KeepSets = number[][];

/**
 * A least-squares bridge per layer (or null): W with h ≈ W·h′, stored row-major as `[N, N′]` where N is the
 * layer's state size before pruning and N′ the kept count. Equivalent to replacing C by Wᵀ·C.
 *
 * @example
 * ```ts
 * import { type Bridges, type KeepSets, makeConfig, pruneWeights, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const weights = syntheticWeights(makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 }), 1);
 * const keep: KeepSets = [[0, 2, 4, 6], [1, 3, 5, 7]];
 * // The trivial bridge h ≈ W·h′ with W[keep[j], j] = 1 (N = 16 rows, N′ = 4 columns): the kept states stand for
 * // themselves and the others for 0, i.e. plain removal. fitBridges fits a better W from calibration data.
 * const bridges: Bridges = keep.map((k) => {
 *   const w = new Float64Array(16 * k.length);
 *   k.forEach((s, j) => (w[s * k.length + j] = 1));
 *   return w;
 * });
 * const bridged = pruneWeights(weights, keep, { bridges });
 * const plain = pruneWeights(weights, keep);
 * for (const [l, layer] of bridged.layers.entries()) {
 *   const ref = plain.layers[l];
 *   if (layer.arch !== "mamba1" || ref.arch !== "mamba1") continue;
 *   if (!layer.xProj.data.every((v, i) => v === ref.xProj.data[i])) throw new Error(`layer ${l} differs`);
 * }
 * console.log(bridged.config.dState, plain.config.dState); // 4 4
 * ```
 */
export type Bridges = (Float64Array | null)[];

/**
 * How pruned states are removed.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   type PruneMode,
 *   pruneWeights,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const weights = syntheticWeights(config, 7);
 * const keep = [[0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]];
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const logits: Float32Array[] = [];
 * for (const mode of ["remove", "mask"] satisfies PruneMode[]) {
 *   const pruned = pruneWeights(weights, keep, { mode });
 *   console.log(mode, pruned.config.dState); // remove 8, then mask 16 (same sizes, pruned B and C rows zeroed)
 *   const model = MambaModel.load(pruned, backend);
 *   const { logits: out, state } = await model.prefill([1, 2, 3, 4], { lastOnly: true });
 *   logits.push(out.data);
 *   state.dispose();
 *   model.dispose();
 * }
 * // Both compute the same function, up to summation order.
 * const diff = Math.max(...logits[0].map((v, i) => Math.abs(v - logits[1][i])));
 * if (diff > 1e-4) throw new Error(`remove and mask differ by ${diff}`);
 * backend.dispose();
 * ```
 */
export type PruneMode =
  /** Physically removed: smaller A, B/C producing rows, conv channels and state. */
  | "remove"
  /** Zeroed in place (same sizes): B rows (and their conv channels and bias) and C rows set to 0. */
  | "mask";
