/**
 * Applies a structured state-pruning decision ({@link KeepSets}) to host weights.
 *
 * Pruning state s of a layer drops (or zeroes) everything of that layer that has size N along s:
 * - Mamba-1: the column `A_log[:, s]` and the `x_proj` rows `R + s` (B) and `R + N + s` (C);
 * - Mamba-2: the B and C rows of `in_proj` of every group (rows `2D + g·N + s` and `2D + G·N + g·N + s`), their
 *   `in_proj` bias entries, and the matching `conv1d` channels (`D + g·N + s`, `D + G·N + g·N + s`) with their conv
 *   bias entries. A_log is per head and stays.
 *
 * Δ is per channel (Mamba-1) or per head (Mamba-2), never per state, and nothing after the SSM has size N
 * (y = Σ_s C_s·h_s), so the pruned model runs as it is with per-layer state sizes (`config.layerStateSizes`).
 *
 * Falcon-Mamba (Mamba-1 whose B and C are RMS-normalised over the states after x_proj) is pruned like Mamba-1 in
 * remove mode, and its norms then span the k kept states: the pruned layer is a Falcon-Mamba layer with d_state = k
 * (see {@link pruneWeights}).
 *
 * A least-squares bridge h ≈ W·h′ (W `[N, N′]`) is y ≈ Σ_j (Wᵀ·C)_j·h′_j: C is replaced by Wᵀ·C. Mamba-1's C is
 * linear in x_proj's input, so Wᵀ is folded into x_proj's C rows. Mamba-2's C comes out of in_proj → conv1d → SiLU,
 * so a bridged Mamba-2 layer keeps all N C rows of in_proj and C conv channels (B, A and h shrink to N′ as usual)
 * and gets a `state_bridge` `[G·N′, G·N]` = blockdiag(Wᵀ, …, Wᵀ) (one block per group), which the model applies
 * to the conv output's C before the SSD (`config.stateBridgeSizes[l]` = N).
 *
 * @module
 */

import type { MambaConfig } from "../config.ts";
import type { HostTensor, LayerWeights, Mamba1LayerWeights, Mamba2LayerWeights, MambaWeights } from "../weights.ts";
import { cStateSizeOf, stateSizeOf } from "../weights.ts";
import type { Bridges, KeepSets, PruneMode } from "./types.ts";

/**
 * Options of {@link pruneWeights}.
 *
 * @example
 * ```ts
 * import {
 *   calibrate,
 *   fitBridges,
 *   makeConfig,
 *   MambaModel,
 *   type PruneOptions,
 *   pruneWeights,
 *   selectBackend,
 *   selectStates,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const weights = syntheticWeights(config, 42); // the host weights calibrate reads
 * const model = MambaModel.load(weights, backend);
 * const sequences = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 4, 8, 16, 32, 64, 128, 255]]; // calibration token ids
 * const activity = await calibrate(model, weights, sequences);
 *
 * const keep = selectStates(activity, "energy", 0.5);
 * // Physically remove the states and bridge them (Mamba-2: a state_bridge map after the conv).
 * const options: PruneOptions = { mode: "remove", bridges: fitBridges(activity, keep) };
 * const pruned = pruneWeights(weights, keep, options);
 * console.log(pruned.config.dState, pruned.config.stateBridgeSizes); // 8 [ 16, 16 ]
 * // Masking keeps every size (no bridges then): for checking that removal changes nothing else.
 * console.log(pruneWeights(weights, keep, { mode: "mask" }).config.dState); // 16
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface PruneOptions {
  /** "remove" (default): physically smaller tensors; "mask": same sizes, pruned states' B and C zeroed. */
  mode?: PruneMode;
  /**
   * Per-layer least-squares bridges (h ≈ W·h′, W `[N, N′]` row-major), "remove" mode only: C is replaced by Wᵀ·C
   * (all N old C rows). Mamba-1: folded exactly into `x_proj`; Mamba-2: a `state_bridge` map after the conv.
   */
  bridges?: Bridges;
}

/**
 * Falcon-Mamba normalises B and C by weightless RMS norms over their states (the δ / B / C norms after x_proj).
 * A pruned Falcon-Mamba layer normalises over the k states it keeps: it is a Falcon-Mamba with d_state = k, what a
 * checkpoint (transformers' `state_size`, GGUF) can describe, and what the model computes from the pruned weights
 * as they are. The other choice, the dense statistic over all N states, would need the removed x_proj rows kept for
 * the norm alone (no smaller x_proj, nothing a checkpoint describes). At ratio 0 both are the dense model.
 * Two things cannot be expressed then, and are refused: a bridge (Wᵀ cannot be folded into x_proj's C rows, which
 * are normalised after the projection) and mask mode (zeroed rows still count in a norm over N, so masking would not
 * compute what removal computes).
 */
function checkBcdtNorm(config: MambaConfig, mode: PruneMode, bridges: Bridges | null): void {
  if (config.bcdtNormEps === undefined) return;
  if (mode === "mask") {
    throw new Error(
      'pruneWeights: mode "mask" is not available for Falcon-Mamba (model_type "falcon_mamba"): its RMS norms over ' +
        "B and C would still count the zeroed states, so the masked model would not compute what removal computes; " +
        'use mode "remove" (the norms then span the k kept states)',
    );
  }
  const l = bridges?.findIndex((b) => b !== null) ?? -1;
  if (l >= 0) {
    throw new Error(
      `pruneWeights: bridges are not available for Falcon-Mamba (model_type "falcon_mamba"; layer ${l} has one): C ` +
        "is RMS-normalised after x_proj, so Wᵀ·C cannot be folded into x_proj's C rows",
    );
  }
}

/**
 * Prunes SSM states: layer l keeps the states `keep[l]` (ascending, unique, within [0, N_l), at least one).
 *
 * @example
 * ```ts
 * import {
 *   calibrate,
 *   fitBridges,
 *   makeConfig,
 *   MambaModel,
 *   perplexity,
 *   pruneWeights,
 *   selectBackend,
 *   selectStates,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * // Δ-guided pruning end to end: calibrate → select → bridge → prune, then compare perplexities.
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const weights = syntheticWeights(config, 42);
 * const dense = MambaModel.load(weights, backend);
 * const sequences = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 4, 8, 16, 32, 64, 128, 255]];
 * const activity = await calibrate(dense, weights, sequences);
 * const keep = selectStates(activity, "delta_b", 0.5);
 * const pruned = pruneWeights(weights, keep, { bridges: fitBridges(activity, keep) });
 * console.log(config.dState, "→", pruned.config.dState); // 16 → 8
 *
 * const small = MambaModel.load(pruned, backend);
 * const ids = Array.from({ length: 32 }, (_, i) => (i * 7) % 256);
 * const before = await perplexity(dense, ids, { windowLength: 16 });
 * const after = await perplexity(small, ids, { windowLength: 16 });
 * // Random weights predict nothing (ppl ≈ vocabulary size) and lose nothing; a trained model's ppl rises a little.
 * console.log(before.ppl.toFixed(2), after.ppl.toFixed(2)); // 257.78 256.86
 * console.log(small.parameterCount < dense.parameterCount); // true
 * small.dispose();
 * dense.dispose();
 * backend.dispose();
 * ```
 *
 * Returns new weights; the input is never mutated (unchanged tensors are shared by reference).
 *
 * - mode "remove" (default): B/C-producing rows (and Mamba-2 conv channels and biases) and A_log columns of the
 *   dropped states are removed; `config.dState` becomes the common kept count when every layer keeps the same
 *   number (and `layerStateSizes` is dropped), otherwise `layerStateSizes` lists the counts and `dState` is their
 *   maximum.
 * - mode "mask": sizes and config unchanged; the dropped states' B-producing and C-producing rows are zeroed
 *   (Mamba-1: `x_proj` rows; Mamba-2: `in_proj` rows and bias entries, and the B/C `conv1d` weight channels and
 *   conv bias entries — the bias too, since SiLU(bias) ≠ 0 would otherwise leak into B and C). The masked model
 *   computes the same function as the removed one, up to summation order.
 * - bridges (remove mode): Mamba-1: the new C rows are Wᵀ (N′ × N) · old C rows (N × D), computed in f64.
 *   Mamba-2 (C passes through conv1d and SiLU, so nothing can be folded): the layer keeps all N C rows of in_proj
 *   (and their bias entries) and all N C conv channels of every group, B / A / h are pruned to N′, and the layer
 *   gets `bridge` `[G·N′, G·N]` = blockdiag(Wᵀ) (row g·N′ + j, column g·N + i holds W[i, j]); the config gets
 *   `stateBridgeSizes[l]` = N. Such weights are written by `checkpointFiles` in PerfMamba's own format.
 * - Falcon-Mamba (`config.bcdtNormEps`): remove mode only, without bridges. Its weightless RMS norms of B and C
 *   then run over the k kept states (the mean of the k squares), so the pruned model is a Falcon-Mamba with
 *   d_state = k — what transformers' config and GGUF describe, loadable as `falcon_mamba` when every layer keeps
 *   the same count. Keeping the dense statistic over all N states instead would need the removed x_proj rows
 *   kept only for the norm. Mask mode is refused (zeroed states would still count in a norm over N), and so are
 *   bridges (C is normalised after x_proj, so Wᵀ cannot be folded into its rows).
 * - A layer that already has a Mamba-2 bridge (pruning a pruned model) keeps its C width: removal takes the kept
 *   rows of its bridge (a new bridge W multiplies it: blockdiag(Wᵀ)·bridge), masking zeroes them.
 *
 * @param weights the model to prune (not modified)
 * @param keep kept state indices per layer
 * @param options mode and bridges
 * @returns the pruned weights
 * @throws Error when keep does not have one set per layer, a set is empty ("layer 3 keeps no state: k must be ≥ 1"),
 *   not ascending, has duplicates or indices outside [0, N_l); when bridges has the wrong length or a bridge the
 *   wrong size or non-finite values; for a bridge with mode "mask"; for a Falcon-Mamba model with mode "mask" or a
 *   bridge.
 */
export function pruneWeights(weights: MambaWeights, keep: KeepSets, options: PruneOptions = {}): MambaWeights {
  const mode = options.mode ?? "remove";
  if (mode !== "remove" && mode !== "mask") {
    throw new Error(`pruneWeights: mode must be "remove" or "mask", got ${JSON.stringify(mode)}`);
  }
  const config = weights.config;
  const nLayer = weights.layers.length;
  if (nLayer !== config.nLayer) {
    throw new Error(`pruneWeights: the weights have ${nLayer} layers but config.nLayer is ${config.nLayer}`);
  }
  const sizes = weights.layers.map((layer) => stateSizeOf(layer, config));
  validateKeep(keep, sizes);
  const bridges = validateBridges(options.bridges, keep, sizes, mode);
  checkBcdtNorm(config, mode, bridges);

  const layers = weights.layers.map((layer, l): LayerWeights => {
    const N = sizes[l];
    const kept = keep[l];
    if (layer.arch === "mamba1") {
      return mode === "mask"
        ? maskMamba1(layer, config, N, kept)
        : removeMamba1(layer, config, N, kept, bridges?.[l] ?? null);
    }
    return mode === "mask"
      ? maskMamba2(layer, config, N, kept)
      : removeMamba2(layer, config, N, kept, bridges?.[l] ?? null);
  });

  const newConfig: MambaConfig = { ...config };
  if (mode === "remove") {
    const counts = keep.map((k) => k.length);
    if (counts.every((k) => k === counts[0])) {
      newConfig.dState = counts[0];
      delete newConfig.layerStateSizes;
    } else {
      newConfig.dState = Math.max(...counts);
      newConfig.layerStateSizes = counts;
    }
  } else if (config.layerStateSizes) {
    newConfig.layerStateSizes = [...config.layerStateSizes];
  }
  const bridgeSizes = layers.map((l) => (l.arch === "mamba2" && l.bridge ? cStateSizeOf(l, config) : 0));
  if (bridgeSizes.some((n) => n > 0)) newConfig.stateBridgeSizes = bridgeSizes;
  else delete newConfig.stateBridgeSizes;
  return { ...weights, config: newConfig, layers };
}

function validateKeep(keep: KeepSets, sizes: number[]): void {
  if (!Array.isArray(keep) || keep.length !== sizes.length) {
    const got = Array.isArray(keep) ? `${keep.length}` : JSON.stringify(keep);
    throw new Error(`pruneWeights: keep must have one index set per layer (${sizes.length}), got ${got}`);
  }
  keep.forEach((set, l) => {
    const N = sizes[l];
    if (!Array.isArray(set)) throw new Error(`pruneWeights: layer ${l}: keep set must be an array of state indices`);
    if (set.length === 0) throw new Error(`layer ${l} keeps no state: k must be ≥ 1`);
    set.forEach((s, i) => {
      if (!Number.isInteger(s) || s < 0 || s >= N) {
        throw new Error(`pruneWeights: layer ${l}: state index ${s} (position ${i}) is outside [0, ${N})`);
      }
      if (i > 0 && s <= set[i - 1]) {
        const what = s === set[i - 1] ? "duplicate" : "unsorted";
        throw new Error(
          `pruneWeights: layer ${l}: keep indices must be ascending and unique (${what} ${s} after ${
            set[i - 1]
          } at position ${i})`,
        );
      }
    });
  });
}

function validateBridges(
  bridges: Bridges | undefined,
  keep: KeepSets,
  sizes: number[],
  mode: PruneMode,
): Bridges | null {
  if (bridges === undefined) return null;
  if (!Array.isArray(bridges) || bridges.length !== sizes.length) {
    throw new Error(`pruneWeights: bridges must have one entry (or null) per layer (${sizes.length})`);
  }
  const used = bridges.map((b, l) => (b ? l : -1)).filter((l) => l >= 0);
  if (used.length === 0) return bridges;
  if (mode === "mask") {
    throw new Error(
      `pruneWeights: bridges need mode "remove" (layer ${used[0]} has a bridge, mode is "mask"): a bridge maps the ` +
        `kept states onto the full C, which only exists once the pruned states are removed`,
    );
  }
  for (const l of used) {
    const b = bridges[l]!;
    const N = sizes[l], k = keep[l].length;
    if (!(b instanceof Float64Array) || b.length !== N * k) {
      throw new Error(
        `pruneWeights: layer ${l}: bridge must be a Float64Array [N, N′] = [${N}, ${k}] (${N * k} values), got ${
          b instanceof Float64Array ? b.length : typeof b
        } values`,
      );
    }
    if (!b.every(Number.isFinite)) throw new Error(`pruneWeights: layer ${l}: bridge has non-finite values`);
  }
  return bridges;
}

/** `rows` of a `[n, cols]` tensor, in order. */
function takeRows(t: HostTensor, rows: number[]): HostTensor {
  const cols = t.shape.length > 1 ? t.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const data = new Float32Array(rows.length * cols);
  rows.forEach((r, i) => data.set(t.data.subarray(r * cols, (r + 1) * cols), i * cols));
  return { shape: [rows.length, ...t.shape.slice(1)], data };
}

/** A copy of a `[n, cols]` (or `[n]`) tensor with `rows` zeroed. */
function zeroRows(t: HostTensor, rows: number[]): HostTensor {
  const cols = t.shape.length > 1 ? t.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const data = t.data.slice();
  for (const r of rows) data.fill(0, r * cols, (r + 1) * cols);
  return { shape: [...t.shape], data };
}

/** Indices 0..n-1 not in the (sorted) kept set. */
function dropped(N: number, kept: number[]): number[] {
  const keepSet = new Set(kept);
  return Array.from({ length: N }, (_, s) => s).filter((s) => !keepSet.has(s));
}

/** [start, start + n). */
function range(start: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}

function removeMamba1(
  layer: Mamba1LayerWeights,
  config: MambaConfig,
  N: number,
  kept: number[],
  bridge: Float64Array | null,
): Mamba1LayerWeights {
  const R = config.dtRank, D = config.dInner;
  const k = kept.length;
  const xProj = takeRows(layer.xProj, [...range(0, R), ...kept.map((s) => R + s), ...kept.map((s) => R + N + s)]);
  if (bridge) {
    // New C rows (k × D) = Wᵀ (k × N) · old C rows (N × D), in f64.
    const old = layer.xProj.data;
    const acc = new Float64Array(D);
    for (let j = 0; j < k; j++) {
      acc.fill(0);
      for (let i = 0; i < N; i++) {
        const w = bridge[i * k + j];
        if (w === 0) continue;
        const row = (R + N + i) * D;
        for (let c = 0; c < D; c++) acc[c] += w * old[row + c];
      }
      xProj.data.set(acc, (R + k + j) * D);
    }
  }
  // A_log [D, N] → [D, k]: keep columns.
  const aLog = new Float32Array(D * k);
  for (let d = 0; d < D; d++) {
    for (let j = 0; j < k; j++) aLog[d * k + j] = layer.aLog.data[d * N + kept[j]];
  }
  return { ...layer, xProj, aLog: { shape: [D, k], data: aLog } };
}

function maskMamba1(layer: Mamba1LayerWeights, config: MambaConfig, N: number, kept: number[]): Mamba1LayerWeights {
  const R = config.dtRank;
  const drop = dropped(N, kept);
  if (drop.length === 0) return { ...layer };
  return { ...layer, xProj: zeroRows(layer.xProj, [...drop.map((s) => R + s), ...drop.map((s) => R + N + s)]) };
}

/**
 * in_proj rows and conv channels of the B states `bStates` and C channels `cStates` of every group, for a layer
 * whose B has N and whose C has Nc channels per group (Nc = N unless the layer has a bridge).
 */
function mamba2Rows(
  config: MambaConfig,
  N: number,
  Nc: number,
  bStates: number[],
  cStates: number[],
): { inProj: number[]; conv: number[] } {
  const D = config.dInner, G = config.nGroups, GN = G * N;
  const b: number[] = [], c: number[] = [];
  for (let g = 0; g < G; g++) {
    for (const s of bStates) b.push(g * N + s);
    for (const s of cStates) c.push(GN + g * Nc + s);
  }
  const bc = [...b, ...c];
  return { inProj: bc.map((r) => 2 * D + r), conv: bc.map((r) => D + r) };
}

/** Rows `g·N + s` of every group g, for the states `states` (a bridge's rows of those states). */
function groupRows(G: number, N: number, states: number[]): number[] {
  return Array.from({ length: G }, (_, g) => states.map((s) => g * N + s)).flat();
}

/**
 * The state bridge `[G·k, G·Nc]` of a layer pruned with W `[N, k]`: blockdiag(Wᵀ) (Nc = N), or blockdiag(Wᵀ)·old
 * when the layer already had a bridge `[G·N, G·Nc]`. Computed in f64.
 */
function bridgeMatrix(W: Float64Array, G: number, N: number, k: number, old: HostTensor | null): HostTensor {
  const cols = old ? old.shape[1] : G * N;
  const data = new Float32Array(G * k * cols);
  const acc = new Float64Array(cols);
  for (let g = 0; g < G; g++) {
    for (let j = 0; j < k; j++) {
      acc.fill(0);
      for (let i = 0; i < N; i++) {
        const w = W[i * k + j];
        if (w === 0) continue;
        if (!old) {
          acc[g * N + i] += w;
          continue;
        }
        const row = (g * N + i) * cols;
        for (let c = 0; c < cols; c++) acc[c] += w * old.data[row + c];
      }
      data.set(acc, (g * k + j) * cols);
    }
  }
  return { shape: [G * k, cols], data };
}

function removeMamba2(
  layer: Mamba2LayerWeights,
  config: MambaConfig,
  N: number,
  kept: number[],
  W: Float64Array | null,
): Mamba2LayerWeights {
  const D = config.dInner, G = config.nGroups, H = config.nHeads;
  const Nc = cStateSizeOf(layer, config);
  const old = layer.bridge ?? null;
  // A bridged layer (already, or from now on) keeps every C channel; otherwise C is pruned like B.
  const bc = mamba2Rows(config, N, Nc, kept, old || W ? range(0, Nc) : kept);
  const inRows = [...range(0, 2 * D), ...bc.inProj, ...range(2 * D + G * (N + Nc), H)];
  const convRows = [...range(0, D), ...bc.conv];
  const out: Mamba2LayerWeights = {
    ...layer,
    inProj: takeRows(layer.inProj, inRows),
    inProjBias: layer.inProjBias ? takeRows(layer.inProjBias, inRows) : null,
    convWeight: takeRows(layer.convWeight, convRows),
    convBias: layer.convBias ? takeRows(layer.convBias, convRows) : null,
  };
  if (W) out.bridge = bridgeMatrix(W, G, N, kept.length, old);
  else if (old) out.bridge = takeRows(old, groupRows(G, N, kept));
  return out;
}

function maskMamba2(layer: Mamba2LayerWeights, config: MambaConfig, N: number, kept: number[]): Mamba2LayerWeights {
  const drop = dropped(N, kept);
  if (drop.length === 0) return { ...layer };
  const old = layer.bridge ?? null;
  // A bridged layer's C channels are not per state: its bridge rows of the dropped states are zeroed instead.
  const bc = mamba2Rows(config, N, cStateSizeOf(layer, config), drop, old ? [] : drop);
  const out: Mamba2LayerWeights = {
    ...layer,
    inProj: zeroRows(layer.inProj, bc.inProj),
    inProjBias: layer.inProjBias ? zeroRows(layer.inProjBias, bc.inProj) : null,
    convWeight: zeroRows(layer.convWeight, bc.conv),
    convBias: layer.convBias ? zeroRows(layer.convBias, bc.conv) : null,
  };
  if (old) out.bridge = zeroRows(old, groupRows(config.nGroups, N, drop));
  return out;
}
