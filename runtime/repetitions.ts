/**
 * How many times the profiler repeats a measurement: a distribution-free confidence interval of the median from the
 * samples so far, and the rule that stops a point when that interval is narrow enough, its time budget is spent, or
 * a forced count is reached.
 *
 * The interval: with n samples sorted x₍₁₎ ≤ … ≤ x₍ₙ₎, the median lies in [x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎] with probability
 * 1 − 2·P(B ≤ j − 1), B ~ Binomial(n, ½), whatever the distribution (continuous, samples independent). j is the
 * largest rank whose coverage is still at least the confidence asked; with 95 % that needs n ≥ 6 (at n = 6 the
 * interval is [min, max], coverage 1 − 2/64 = 96.9 %).
 *
 * @module
 */

/**
 * A confidence interval of the median: the order statistics [x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎] of the sorted samples.
 *
 * @example
 * ```ts
 * import { type MedianInterval, medianInterval } from "@perfmamba/perfmamba";
 *
 * const ci: MedianInterval | null = medianInterval([10, 11, 9, 10, 12, 10]);
 * console.log(ci); // { lo: 9, hi: 12, ranks: [ 1, 6 ], coverage: 0.96875, relHalfWidth: 0.15 }
 * ```
 */
export interface MedianInterval {
  /** Lower end x₍ⱼ₎. */
  lo: number;
  /** Upper end x₍ₙ₊₁₋ⱼ₎. */
  hi: number;
  /** The 1-based ranks j and n + 1 − j. */
  ranks: [number, number];
  /** Exact coverage 1 − 2·P(B ≤ j − 1) (≥ the confidence asked). */
  coverage: number;
  /** (hi − lo) / 2 ÷ the sample median: the precision the stopping rule compares. */
  relHalfWidth: number;
}

/** P(B ≤ k) for B ~ Binomial(n, ½). */
function binomialHalfCdf(n: number, k: number): number {
  let term = 2 ** -n; // C(n, 0) / 2ⁿ
  let sum = 0;
  for (let i = 0; i <= k; i++) {
    sum += term;
    term = term * (n - i) / (i + 1);
  }
  return sum;
}

function median(sorted: number[]): number {
  const m = (sorted.length - 1) / 2;
  return (sorted[Math.floor(m)] + sorted[Math.ceil(m)]) / 2;
}

/**
 * The distribution-free confidence interval of the median of `samples` (see the module notes), or null when there
 * are too few samples for the confidence asked (95 %: fewer than 6).
 *
 * @example
 * ```ts
 * import { medianInterval } from "@perfmamba/perfmamba";
 *
 * console.log(medianInterval([1, 2, 3, 4, 5])); // null: 5 samples cannot give 95 % (the best is [min, max], 93.75 %)
 * const ci = medianInterval([100, 101, 99, 100, 102, 100, 98, 101, 100])!;
 * console.log(ci.ranks, ci.lo, ci.hi); // [ 2, 8 ] 99 101 — coverage 1 − 2·10/512 = 96.1 %
 * ```
 */
export function medianInterval(samples: number[], confidence = 0.95): MedianInterval | null {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`medianInterval: confidence must be in (0, 1)`);
  const n = samples.length;
  const alpha = 1 - confidence;
  let j = 0;
  while (j + 1 <= n / 2 && 2 * binomialHalfCdf(n, j) <= alpha) j++;
  if (j === 0) return null;
  const s = [...samples].sort((a, b) => a - b);
  const lo = s[j - 1], hi = s[n - j];
  const med = median(s);
  return {
    lo,
    hi,
    ranks: [j, n + 1 - j],
    coverage: 1 - 2 * binomialHalfCdf(n, j - 1),
    relHalfWidth: med > 0 ? (hi - lo) / 2 / med : hi > lo ? Infinity : 0,
  };
}

/**
 * Why a profile point stopped repeating: its median's interval was narrow enough, its budget ran out, or a count was
 * forced.
 *
 * @example
 * ```ts
 * import { shouldStop, type StopReason } from "@perfmamba/perfmamba";
 *
 * const why: StopReason | null = shouldStop([5, 5, 5], { elapsedMs: 30, iterMs: 30 }, { iters: 3 });
 * console.log(why); // iters
 * ```
 */
export type StopReason = "precision" | "budget" | "iters";

/**
 * When to stop repeating one profile point (all optional; the defaults are the profiler's).
 *
 * @example
 * ```ts
 * import type { RepetitionOptions } from "@perfmamba/perfmamba";
 *
 * // Median known to ±2 % at 95 %, at most 10 s a point, at least 8 and at most 50 iterations.
 * const rep: RepetitionOptions = { precision: 0.02, maxMs: 10_000, minIters: 8, maxIters: 50 };
 * console.log(Object.keys(rep).length); // 4
 * ```
 */
export interface RepetitionOptions {
  /** A fixed number of iterations: no interval, no budget (stop reason "iters"). */
  iters?: number;
  /** Relative half-width of the 95 % interval of the median to reach (default 0.03). */
  precision?: number;
  /** Time budget of one point in ms, warm-up included (default 5000): no iteration starts that would overrun it. */
  maxMs?: number;
  /** Iterations before the precision may stop a point (default 6, the fewest with a 95 % interval). */
  minIters?: number;
  /** Iterations at most (default 50); reaching it counts as "budget". */
  maxIters?: number;
}

/**
 * The defaults of {@link RepetitionOptions}.
 *
 * @example
 * ```ts
 * import { REPETITION_DEFAULTS } from "@perfmamba/perfmamba";
 *
 * console.log(REPETITION_DEFAULTS); // { precision: 0.03, maxMs: 5000, minIters: 6, maxIters: 50 }
 * ```
 */
export const REPETITION_DEFAULTS: Required<Omit<RepetitionOptions, "iters">> = {
  precision: 0.03,
  maxMs: 5000,
  minIters: 6,
  maxIters: 50,
};

/** The options with the defaults filled in where missing (or undefined). */
export function withDefaults(options: RepetitionOptions): Required<Omit<RepetitionOptions, "iters">> {
  return {
    precision: options.precision ?? REPETITION_DEFAULTS.precision,
    maxMs: options.maxMs ?? REPETITION_DEFAULTS.maxMs,
    minIters: options.minIters ?? REPETITION_DEFAULTS.minIters,
    maxIters: options.maxIters ?? REPETITION_DEFAULTS.maxIters,
  };
}

/**
 * The stopping rule, after each iteration of a point: "iters" when a forced count is reached; else "precision" when
 * there are at least `minIters` samples and the 95 % interval's relative half-width is at most `precision`; else
 * "budget" when `maxIters` is reached or when the next iteration (estimated as the mean so far) would end past
 * `maxMs`; else null (go on). `elapsedMs` counts the point's whole time (warm-up included), `iterMs` the
 * iterations' time only.
 *
 * @example
 * ```ts
 * import { shouldStop } from "@perfmamba/perfmamba";
 *
 * const tight = [10.0, 10.1, 9.9, 10.0, 10.05, 9.95];
 * console.log(shouldStop(tight, { elapsedMs: 200, iterMs: 180 }, {})); // precision
 * console.log(shouldStop(tight.slice(0, 5), { elapsedMs: 200, iterMs: 150 }, {})); // null: no 95 % interval yet
 * console.log(shouldStop([10, 30], { elapsedMs: 4000, iterMs: 3000 }, {})); // budget: a third would end at 5500 ms
 * console.log(shouldStop([10, 30], { elapsedMs: 60, iterMs: 40 }, { iters: 2 })); // iters
 * ```
 */
export function shouldStop(
  samples: number[],
  time: { elapsedMs: number; iterMs: number },
  options: RepetitionOptions,
): StopReason | null {
  const n = samples.length;
  if (options.iters !== undefined) return n >= options.iters ? "iters" : null;
  const o = withDefaults(options);
  if (n >= o.minIters) {
    const ci = medianInterval(samples);
    if (ci && ci.relHalfWidth <= o.precision) return "precision";
  }
  if (n >= o.maxIters) return "budget";
  if (n >= 1 && time.elapsedMs + time.iterMs / n > o.maxMs) return "budget";
  return null;
}

/**
 * Check {@link RepetitionOptions}; throws a RangeError naming the option.
 *
 * @example
 * ```ts
 * import { checkRepetitionOptions } from "@perfmamba/perfmamba";
 *
 * checkRepetitionOptions({ precision: 0.05 }); // fine
 * try {
 *   checkRepetitionOptions({ precision: 0 });
 * } catch (e) {
 *   console.log((e as Error).message); // profile: precision must be in (0, 1), got 0
 * }
 * ```
 */
export function checkRepetitionOptions(o: RepetitionOptions): void {
  const int = (v: number | undefined, name: string) => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new RangeError(`profile: ${name} must be a whole number ≥ 1, got ${v}`);
    }
  };
  int(o.iters, "iters");
  int(o.minIters, "minIters");
  int(o.maxIters, "maxIters");
  if (o.precision !== undefined && !(o.precision > 0 && o.precision < 1)) {
    throw new RangeError(`profile: precision must be in (0, 1), got ${o.precision}`);
  }
  if (o.maxMs !== undefined && !(o.maxMs > 0 && Number.isFinite(o.maxMs))) {
    throw new RangeError(`profile: maxMs must be a positive number of ms, got ${o.maxMs}`);
  }
  const min = o.minIters ?? REPETITION_DEFAULTS.minIters, max = o.maxIters ?? REPETITION_DEFAULTS.maxIters;
  if (min > max) throw new RangeError(`profile: minIters (${min}) exceeds maxIters (${max})`);
}
