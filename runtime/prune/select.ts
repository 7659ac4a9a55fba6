/**
 * Choosing which states to keep from calibration scores: per layer (top k = ⌊N·(1 − r)⌋ of each layer) or global
 * (layer-adaptive: scores normalised per layer, one ranking over all layers keeping ⌊Σ N·(1 − r)⌋ states, at least
 * one per layer), plus the controls — random and index order.
 *
 * @module
 */

import { mulberry32 } from "../sampling.ts";
import type { ActivityScore, StateActivity } from "./calibrate.ts";
import type { KeepSets } from "./types.ts";

/**
 * Every way of ranking states: the measured scores and the two controls.
 *
 * @example
 * ```ts
 * import {
 *   calibrate,
 *   makeConfig,
 *   MambaModel,
 *   selectBackend,
 *   SELECTION_SCORES,
 *   selectStates,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const weights = syntheticWeights(config, 42); // the host weights calibrate reads
 * const model = MambaModel.load(weights, backend);
 * const sequences = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 4, 8, 16, 32, 64, 128, 255]]; // calibration token ids
 * const activity = await calibrate(model, weights, sequences);
 *
 * // Which states each ranking keeps in layer 0 at ratio 0.75 (4 of 16).
 * for (const score of SELECTION_SCORES) console.log(score, selectStates(activity, score, 0.75)[0]);
 * console.log(SELECTION_SCORES.length); // 6; "index" keeps the first states: [ 0, 1, 2, 3 ]
 * model.dispose();
 * backend.dispose();
 * ```
 */
export const SELECTION_SCORES = ["delta_b", "delta_a", "energy", "ghost", "random", "index"] as const;

/**
 * A ranking of states.
 *
 * @example
 * ```ts
 * import {
 *   calibrate,
 *   makeConfig,
 *   MambaModel,
 *   selectBackend,
 *   type SelectionScore,
 *   selectStates,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const weights = syntheticWeights(config, 42); // the host weights calibrate reads
 * const model = MambaModel.load(weights, backend);
 * const sequences = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 4, 8, 16, 32, 64, 128, 255]]; // calibration token ids
 * const activity = await calibrate(model, weights, sequences);
 *
 * // How many of the states Δ·|B| keeps does each other ranking keep too (layer 0, half the states)?
 * const reference = new Set(selectStates(activity, "delta_b", 0.5)[0]);
 * const others: SelectionScore[] = ["energy", "ghost", "random", "index"];
 * for (const score of others) {
 *   const kept = selectStates(activity, score, 0.5, { seed: 3 })[0];
 *   console.log(score, kept.filter((s) => reference.has(s)).length, "of", kept.length);
 * }
 * model.dispose();
 * backend.dispose();
 * ```
 */
export type SelectionScore = typeof SELECTION_SCORES[number];

/**
 * Options of {@link selectStates}.
 *
 * @example
 * ```ts
 * import {
 *   calibrate,
 *   makeConfig,
 *   MambaModel,
 *   selectBackend,
 *   type SelectOptions,
 *   selectStates,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const weights = syntheticWeights(config, 42); // the host weights calibrate reads
 * const model = MambaModel.load(weights, backend);
 * const sequences = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 4, 8, 16, 32, 64, 128, 255]]; // calibration token ids
 * const activity = await calibrate(model, weights, sequences);
 *
 * // Layer-adaptive: one ranking over both layers, so an active layer can keep more than a quiet one.
 * const global: SelectOptions = { scope: "global" };
 * const keep = selectStates(activity, "energy", 0.5, global);
 * console.log(keep.map((k) => k.length), keep.flat().length); // per-layer counts, 16 in all (half of 2 × 16)
 * // The random control, reproducible through its seed.
 * const a = selectStates(activity, "random", 0.5, { seed: 1 }), b = selectStates(activity, "random", 0.5, { seed: 1 });
 * console.log(JSON.stringify(a) === JSON.stringify(b)); // true
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface SelectOptions {
  /** "layer": the same ratio in every layer; "global": one ranking of per-layer-normalised scores. */
  scope?: "layer" | "global";
  /** Seed of the "random" control. */
  seed?: number;
}

/**
 * States each layer keeps at ratio r: ⌊N·(1 − r)⌋.
 *
 * @example
 * ```ts
 * import { keptCount } from "@perfmamba/perfmamba";
 *
 * console.log(keptCount(16, 0.5)); // 8
 * console.log(keptCount(16, 0.3)); // 11 (⌊11.2⌋)
 * console.log(keptCount(128, 0.75)); // 32 (Mamba-2's 128 states at 75% pruning)
 * console.log(keptCount(16, 0.95)); // 0: selectStates refuses such a ratio (every layer must keep a state)
 * ```
 */
export function keptCount(n: number, ratio: number): number {
  return Math.floor(n * (1 - ratio) + 1e-9);
}

function checkRatio(ratio: number): void {
  if (!(Number.isFinite(ratio) && ratio >= 0 && ratio < 1)) {
    throw new RangeError(`pruning ratio must be in [0, 1), got ${ratio}`);
  }
}

/** Per-layer values of a ranking (higher = more important). */
function layerValues(activity: StateActivity, score: SelectionScore, seed: number): number[][] {
  const sizes = activity.stateSizes;
  if (score === "index") return sizes.map((n) => Array.from({ length: n }, (_, s) => n - s));
  if (score === "random") {
    const rand = mulberry32(seed);
    return sizes.map((n) => Array.from({ length: n }, () => rand()));
  }
  const v = activity.scores[score as ActivityScore];
  if (!v) throw new RangeError(`score "${score}" is not defined for ${activity.arch} (A has no state index there)`);
  return v;
}

/** Indices of the k largest values, ascending (ties: lower index first). */
function topK(values: number[], k: number): number[] {
  return values.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k)
    .map(([, i]) => i).sort((a, b) => a - b);
}

/**
 * The states to keep in each layer at pruning ratio r ∈ [0, 1).
 *
 * @example
 * ```ts
 * import {
 *   calibrate,
 *   makeConfig,
 *   MambaModel,
 *   selectBackend,
 *   selectStates,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const weights = syntheticWeights(config, 42); // the host weights calibrate reads
 * const model = MambaModel.load(weights, backend);
 * const sequences = [[1, 5, 9, 13, 17, 21, 25, 29], [2, 4, 8, 16, 32, 64, 128, 255]]; // calibration token ids
 * const activity = await calibrate(model, weights, sequences);
 *
 * const keep = selectStates(activity, "delta_b", 0.5); // the 8 most active states of each layer, ascending
 * console.log(keep[0].length, keep[1].length); // 8 8
 * if (!keep.every((k) => k.every((s, i) => i === 0 || s > k[i - 1]))) throw new Error("sets are ascending");
 * try {
 *   selectStates(activity, "delta_b", 0.97); // ⌊16 · 0.03⌋ = 0 states
 * } catch (e) {
 *   console.log((e as Error).name); // RangeError
 * }
 * model.dispose();
 * backend.dispose();
 * ```
 *
 * @throws RangeError for a ratio outside [0, 1), a layer left with k = 0 states, or a score the architecture lacks.
 */
export function selectStates(
  activity: StateActivity,
  score: SelectionScore,
  ratio: number,
  options: SelectOptions = {},
): KeepSets {
  checkRatio(ratio);
  const values = layerValues(activity, score, options.seed ?? 0);
  const sizes = activity.stateSizes;
  if ((options.scope ?? "layer") === "layer") {
    return sizes.map((n, l) => {
      const k = keptCount(n, ratio);
      if (k < 1) {
        throw new RangeError(
          `ratio ${ratio} keeps k = ⌊${n}·(1 − ${ratio})⌋ = 0 states in layer ${l}; k must be ≥ 1 (use a smaller ratio)`,
        );
      }
      return topK(values[l], k);
    });
  }
  // Global: normalise each layer by its mean score, rank all states, keep the budget; every layer keeps ≥ 1.
  const budget = keptCount(sizes.reduce((a, b) => a + b, 0), ratio);
  if (budget < sizes.length) {
    throw new RangeError(`ratio ${ratio} keeps ${budget} states for ${sizes.length} layers; each layer needs k ≥ 1`);
  }
  const all: { l: number; s: number; v: number }[] = [];
  values.forEach((row, l) => {
    const mean = row.reduce((a, b) => a + b, 0) / row.length || 1;
    row.forEach((v, s) => all.push({ l, s, v: v / mean }));
  });
  all.sort((a, b) => b.v - a.v || a.l - b.l || a.s - b.s);
  const keep: number[][] = sizes.map(() => []);
  // The best state of each layer first, then the rest of the budget in global order.
  for (let l = 0; l < sizes.length; l++) keep[l].push(all.find((e) => e.l === l)!.s);
  let left = budget - sizes.length;
  for (const e of all) {
    if (left === 0) break;
    if (keep[e.l].includes(e.s)) continue;
    keep[e.l].push(e.s);
    left--;
  }
  return keep.map((k) => k.sort((a, b) => a - b));
}
