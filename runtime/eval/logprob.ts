/**
 * Log-probabilities from a row of logits: a numerically stable log-softmax in float64.
 *
 *   log p(t | row) = row[t] − (m + log Σ_j exp(row[j] − m)),  m = max_j row[j]
 *
 * The logits arrive as float32 (what the backends compute); the shift and the sum run in float64 so that a
 * 50k-entry vocabulary loses nothing to rounding.
 *
 * @module
 */

/** The log-probability of one token under a logits row, and whether that token is the row's argmax. */
export interface TokenScore {
  /** log p(target | context), natural log (≤ 0). */
  logprob: number;
  /** The target is the most likely token (the first maximum on ties, like `numpy.argmax`). */
  greedy: boolean;
}

/**
 * Score `target` under the row of `vocab` logits starting at `offset` in `data`.
 *
 * @example
 * ```ts
 * import { scoreToken } from "./logprob.ts";
 * const { logprob, greedy } = scoreToken(new Float32Array([0, 0, Math.log(2)]), 0, 3, 2);
 * console.log(logprob.toFixed(4), greedy); // -0.6931 true  (p = 2/4)
 * ```
 */
export function scoreToken(data: Float32Array, offset: number, vocab: number, target: number): TokenScore {
  if (!(Number.isInteger(target) && target >= 0 && target < vocab)) {
    throw new RangeError(`target token ${target} is outside the vocabulary [0, ${vocab})`);
  }
  if (offset < 0 || offset + vocab > data.length) {
    throw new RangeError(`logits row [${offset}, ${offset + vocab}) is outside the ${data.length} values given`);
  }
  let max = -Infinity;
  let arg = 0;
  const end = offset + vocab;
  for (let j = offset; j < end; j++) {
    const v = data[j];
    if (v > max) {
      max = v;
      arg = j - offset;
    }
  }
  let sum = 0;
  for (let j = offset; j < end; j++) sum += Math.exp(data[j] - max);
  const x = data[offset + target];
  return { logprob: x - max - Math.log(sum), greedy: arg === target };
}
