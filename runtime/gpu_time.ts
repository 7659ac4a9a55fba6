/**
 * The GPU time of a piece of work, from the device's own timestamps ({@link PassTimer}: WebGPU with
 * `timestamp-query`): what `bench` reports beside its wall times and the profiler's end-to-end GPU figure.
 *
 * @module
 */

import type { PassTimer } from "./backend.ts";

/**
 * The summed GPU time of the compute passes some work recorded ({@link gpuTimeOf}).
 *
 * @example
 * ```ts
 * import type { GpuTime } from "@perfmamba/perfmamba";
 *
 * // GPU milliseconds per pass, e.g. to see whether a burst's passes are long enough to hide their boundaries.
 * const perPass = (t: GpuTime) => (t.passes > 0 ? t.ms / t.passes : 0);
 * console.log(perPass({ ms: 3, passes: 4 })); // 0.75
 * ```
 */
export interface GpuTime {
  /** Milliseconds: each pass from its begin to its end timestamp, summed (gaps between passes not counted). */
  ms: number;
  /** Timed passes the work recorded. */
  passes: number;
}

/**
 * Run `work` with the passes it records timed, and return their summed GPU time. With a scope (default "work"),
 * the dispatches of one submit share one timed pass, so the work is recorded as it is untimed; with `null`, every
 * kernel is its own timed pass (per-kernel attribution, at the cost of a pass boundary each). Timings pending from
 * before are dropped, and the timer is switched off again afterwards.
 *
 * A timed submit waits for its timestamps, which in Deno blocks the host until the GPU is done: the host cannot
 * encode ahead while timing, so time the wall clock in runs of its own. The sum excludes the GPU's idle gaps between
 * passes (the host's encoding, the readback's wait): it is what the GPU needed, not what the caller waited.
 *
 * @example
 * ```ts
 * import { gpuTimeOf, selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("auto", { timestamps: true, allowFallbackAdapter: true, threads: 1 });
 * const x = backend.zeros([64, 64], "x");
 * if (backend.passTimer) {
 *   backend.passTimer.enabled = false; // wall-clock runs stay un-instrumented
 *   const { ms, passes } = await gpuTimeOf(backend.passTimer, async () => backend.free(backend.add(x, x)));
 *   console.log(ms >= 0, passes); // true 1
 * } else console.log("no pass timer on", backend.name); // WASM: its ops are synchronous, time them with the clock
 * backend.free(x);
 * backend.dispose();
 * ```
 */
export async function gpuTimeOf(
  timer: PassTimer,
  work: () => Promise<unknown>,
  scope: string | null = "work",
): Promise<GpuTime> {
  await timer.timings(); // drop stale ones
  timer.enabled = true;
  timer.setScope(scope);
  try {
    await work();
  } finally {
    timer.setScope(null);
    timer.enabled = false;
  }
  const t = await timer.timings();
  return { ms: t.reduce((a, x) => a + x.ms, 0), passes: t.length };
}
