/**
 * Oracles of the sampling tests, written from the definition in runtime/sampling.ts in float64 (sharing no code with
 * it): the kept set and the exact probabilities of one choice, and Pearson's chi-square statistic with its critical
 * values.
 */
import type { TokenChoice } from "../../runtime/sampling.ts";

/** The penalized, scaled values z of the first `cols` logits (f32 reciprocals, as the definition says). */
function zValues(row: ArrayLike<number>, cols: number, c: TokenChoice, seen: (id: number) => boolean): number[] {
  const f = Math.fround;
  return Array.from({ length: cols }, (_, i) => {
    let v = row[i];
    if (c.repetitionPenalty !== 1 && seen(i)) {
      v = v > 0 ? f(v * f(1 / c.repetitionPenalty)) : f(v * c.repetitionPenalty);
    }
    return c.temperature > 0 ? f(v * f(1 / c.temperature)) : v;
  });
}

/** Exact probabilities (float64) of each id under the definition: 0 outside the kept set. */
export function softmaxProbs(
  row: ArrayLike<number>,
  cols: number,
  c: TokenChoice,
  seen: (id: number) => boolean,
): number[] {
  const z = zValues(row, cols, c, seen);
  const kept = keptSet(row, cols, c, seen);
  const m = Math.max(...z);
  const w = z.map((v, i) => kept.has(i) ? Math.exp(v - m) : 0);
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
}

/** The ids the definition may emit: greedy's argmax, or those at or above the top-k and top-p thresholds. */
export function keptSet(
  row: ArrayLike<number>,
  cols: number,
  c: TokenChoice,
  seen: (id: number) => boolean,
): Set<number> {
  const z = zValues(row, cols, c, seen);
  if (c.temperature === 0) return new Set([z.indexOf(Math.max(...z))]);
  const desc = [...z].sort((a, b) => b - a);
  let tau = c.topK > 0 && c.topK < cols ? desc[c.topK - 1] : -Infinity;
  if (c.topP < 1) {
    const m = desc[0];
    const kept = desc.filter((v) => v >= tau);
    const total = kept.reduce((a, v) => a + Math.exp(v - m), 0);
    // the largest value whose head (every id at or above it) reaches p of the mass
    for (const v of kept) {
      if (kept.filter((u) => u >= v).reduce((a, u) => a + Math.exp(u - m), 0) >= Math.fround(c.topP) * total) {
        tau = v;
        break;
      }
    }
  }
  return new Set(z.flatMap((v, i) => v >= tau ? [i] : []));
}

/**
 * Pearson's χ² of observed ids against probabilities; ids of probability 0 must not occur (their count goes into
 * the statistic as infinite). Cells with p > 0 count; dof = cells − 1.
 */
export function chiSquare(ids: ArrayLike<number>, probs: number[]): { stat: number; dof: number } {
  const counts = new Array(probs.length).fill(0);
  for (let i = 0; i < ids.length; i++) counts[ids[i]]++;
  let stat = 0, cells = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) {
      if (counts[i] > 0) return { stat: Infinity, dof: 1 };
      continue;
    }
    const e = probs[i] * ids.length;
    stat += (counts[i] - e) ** 2 / e;
    cells++;
  }
  return { stat, dof: cells - 1 };
}

/** Upper 0.1 % critical values of χ² by degrees of freedom (1..15): a correct sampler fails 1 run in 1000. */
export const CHI2_CRIT_999: number[] = [
  NaN,
  10.828,
  13.816,
  16.266,
  18.467,
  20.515,
  22.458,
  24.322,
  26.124,
  27.877,
  29.588,
  31.264,
  32.909,
  34.528,
  36.123,
  37.697,
];
