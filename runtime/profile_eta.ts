/**
 * The profiler's estimate of the time left: each remaining point's cost from the per-pass time measured so far
 * (prefill scaled by its length, decode as measured), its planned passes and its time budget.
 *
 * @module
 */

import { type RepetitionOptions, withDefaults } from "./repetitions.ts";

/**
 * One point of a profile sweep.
 *
 * @example
 * ```ts
 * import { PassClock, type PlannedPoint } from "@perfmamba/perfmamba";
 *
 * const point: PlannedPoint = { model: 0, mode: "decode", seqLen: 2048 };
 * console.log(new PassClock().passMs(point)); // null: nothing timed yet
 * ```
 */
export interface PlannedPoint {
  /** Index of the model. */
  model: number;
  mode: "prefill" | "decode";
  seqLen: number;
}

/**
 * Expected ms of one point, given the ms of one of its passes: forced counts cost their passes; adaptive points
 * cost one warm-up pass plus `minIters` iterations, capped by the budget (which never stops before one
 * iteration). `setupMs`: a decode point's prefill of its prompt.
 *
 * @example
 * ```ts
 * import { estimatePointMs } from "@perfmamba/perfmamba";
 *
 * // 100 ms passes, 2 passes an iteration, adaptive defaults (6 iterations, 5 s budget): 100 + 6·200 = 1300 ms.
 * console.log(estimatePointMs(100, 2, {}, { warmup: undefined })); // 1300
 * // 4 s passes: the budget stops after the first iteration: 4000 + 8000 = 12000 ms.
 * console.log(estimatePointMs(4000, 2, {}, { warmup: undefined })); // 12000
 * // Forced: 3 warm-up passes and 5 iterations of 2 passes.
 * console.log(estimatePointMs(100, 2, { iters: 5 }, { warmup: 3 })); // 1300
 * ```
 */
export function estimatePointMs(
  passMs: number,
  passesPerIter: number,
  rep: RepetitionOptions,
  point: { warmup: number | undefined; setupMs?: number },
): number {
  const setup = point.setupMs ?? 0;
  const warm = (point.warmup ?? 1) * passMs;
  const iterMs = passesPerIter * passMs;
  if (rep.iters !== undefined) return setup + warm + rep.iters * iterMs;
  const o = withDefaults(rep);
  const planned = warm + o.minIters * iterMs;
  return setup + Math.min(planned, Math.max(o.maxMs, warm + iterMs));
}

/**
 * Per-pass times measured so far, and the estimate of the ms a remaining point will take.
 *
 * @example
 * ```ts
 * import { PassClock } from "@perfmamba/perfmamba";
 *
 * const clock = new PassClock();
 * console.log(clock.passMs({ model: 0, mode: "prefill", seqLen: 512 })); // null: nothing measured yet
 * clock.record({ model: 0, mode: "prefill", seqLen: 64 }, 50);
 * console.log(clock.passMs({ model: 0, mode: "prefill", seqLen: 512 })); // 400: scaled by the length
 * clock.record({ model: 0, mode: "prefill", seqLen: 512 }, 274);
 * console.log(clock.passMs({ model: 0, mode: "prefill", seqLen: 2048 })); // 1042: the line through 64 and 512 (50 ms + 0.5 ms a token beyond 64)
 * clock.record({ model: 0, mode: "decode", seqLen: 64 }, 5);
 * console.log(clock.passMs({ model: 1, mode: "decode", seqLen: 2048 })); // 5: another model's, at any length
 * ```
 */
export class PassClock {
  #seen: { point: PlannedPoint; ms: number }[] = [];

  /** Record the mean ms of one pass of a point. */
  record(point: PlannedPoint, passMs: number): void {
    this.#seen.push({ point, ms: passMs });
  }

  /**
   * The ms of one pass of `point` from the same model and mode (else any model, same mode): decode as measured at the
   * nearest length; prefill on the line through the two nearest measured lengths (one: scaled by the length ratio);
   * null when that mode was never measured.
   */
  passMs(point: PlannedPoint): number | null {
    const same = this.#seen.filter((s) => s.point.mode === point.mode);
    const mine = same.filter((s) => s.point.model === point.model);
    const pool = mine.length > 0 ? mine : same;
    if (pool.length === 0) return null;
    const dist = (s: { point: PlannedPoint }) => Math.abs(Math.log(s.point.seqLen / point.seqLen));
    const [near, second] = [...pool].sort((a, b) => dist(a) - dist(b));
    if (point.mode === "decode") return near.ms;
    if (second && second.point.seqLen !== near.point.seqLen) {
      // Two lengths: the line through them (a fixed cost plus a cost per token), at least the proportional floor.
      const slope = (second.ms - near.ms) / (second.point.seqLen - near.point.seqLen);
      const line = near.ms + slope * (point.seqLen - near.point.seqLen);
      if (slope > 0 && line > 0) return line;
    }
    return near.ms * point.seqLen / near.point.seqLen;
  }
}
