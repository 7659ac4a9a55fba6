/**
 * `bench`'s GPU time per row (cli/commands/bench.ts `gpuTimeFields`): each timed run's summed pass time divided by the
 * steps it ran, the median of the runs, and nothing where the backend has no pass timer. The timer here replays fixed
 * pass timings, so the arithmetic is checked exactly (the real timer: tests/runtime/gpu_time_test.ts).
 */
import assert from "node:assert/strict";
import type { Backend, PassTimer, PassTiming } from "../../mod.ts";
import { gpuTimeFields } from "../../cli/commands/bench.ts";

/** A pass timer whose k-th timed run reports the passes `runs[k]` (ms each). */
function replayTimer(runs: number[][]): PassTimer & { scopes: (string | null)[] } {
  let next = 0, pending: PassTiming[] = [];
  const scopes: (string | null)[] = [];
  return {
    enabled: false,
    scopes,
    setScope(label: string | null) {
      scopes.push(label);
      if (label !== null) pending = runs[next++].map((ms) => ({ label, ms, start: 0, end: ms }));
    },
    timings() {
      const t = pending;
      pending = [];
      return Promise.resolve(t);
    },
  };
}

Deno.test("bench gpuTimeFields: per step, the median of the timed runs; nothing without a pass timer", async () => {
  const timer = replayTimer([[6, 2], [15, 5], [12]]); // 8, 20, 12 ms per run
  let calls = 0;
  const backend = { passTimer: timer } as unknown as Backend;
  const got = await gpuTimeFields(backend, 3, 4, () => Promise.resolve(calls++));
  assert.equal(calls, 3);
  assert.deepEqual(got, { gpuMs: 3, gpuSamples: [2, 5, 3] }); // ÷ 4 steps, median 3
  assert.deepEqual(timer.scopes, ["bench", null, "bench", null, "bench", null]);
  assert.equal(timer.enabled, false);
  const none = await gpuTimeFields({} as Backend, 3, 4, () => Promise.resolve(calls++));
  assert.deepEqual(none, {});
  assert.equal(calls, 3, "no timed runs without a pass timer");
});
