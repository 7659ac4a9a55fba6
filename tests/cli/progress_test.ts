/**
 * The progress bar's arithmetic on a fake clock: elapsed time, the caller's estimate of the time left (whole job and
 * running stage), the fallback extrapolation from done / total, in-place redraws on a terminal and one line per stage
 * otherwise.
 */
import assert from "node:assert/strict";
import { eta, progressBar, timeText } from "../../cli/progress.ts";

function fake(tty: boolean) {
  let t = 1000;
  const out: string[] = [];
  const bar = progressBar(true, { now: () => t, write: (s) => out.push(s), tty });
  return { bar, out, advance: (ms: number) => (t += ms) };
}

Deno.test("progress: durations and the time text", () => {
  assert.equal(eta(0), "0s");
  assert.equal(eta(59_400), "59s");
  assert.equal(eta(59_600), "1m00s");
  assert.equal(eta(187_000), "3m07s");
  assert.equal(
    timeText(65_000, { leftMs: 30_000, modeLeftMs: 10_000, stage: "mamba1 prefill" }),
    "1m05s elapsed · ~30s left (mamba1 prefill ~10s)",
  );
  assert.equal(timeText(2_000, { leftMs: null, modeLeftMs: null, stage: "x" }), "2s elapsed · estimating");
});

Deno.test("progress: plain lines per stage with elapsed and time left (fake clock)", () => {
  const { bar, out, advance } = fake(false);
  bar.update(1, 10, "mamba1 decode L64", { leftMs: null, modeLeftMs: null, stage: "mamba1 decode" });
  advance(4_000);
  bar.update(2, 10, "mamba1 decode L64", { leftMs: 20_000, modeLeftMs: 3_000, stage: "mamba1 decode" });
  advance(6_000);
  bar.update(5, 10, "mamba1 prefill L64", { leftMs: 12_500, modeLeftMs: 7_000, stage: "mamba1 prefill" });
  bar.done();
  assert.deepEqual(out, [
    "[ 10%] mamba1 decode L64 · 0s elapsed · estimating\n",
    "[ 50%] mamba1 prefill L64 · 10s elapsed · ~13s left (mamba1 prefill ~7s)\n",
  ]);
});

Deno.test("progress: redrawn in place on a terminal; without an estimate, extrapolated from done / total", () => {
  const { bar, out, advance } = fake(true);
  advance(30_000);
  bar.update(3, 12, "sweep", undefined); // 30 s for 3 of 12: 90 s left
  assert.equal(out.length, 1);
  assert.ok(out[0].startsWith("\r\x1b[2K"), "redraws the line");
  assert.match(out[0], / 25% 3\/12 sweep · ETA 1m30s$/);
  advance(5_000);
  bar.update(4, 12, "mamba2 prefill L2048", { leftMs: 61_000, modeLeftMs: 20_000, stage: "mamba2 prefill" });
  assert.match(out[1], / 33% 4\/12 mamba2 prefill L2048 · 35s elapsed · ~1m01s left \(mamba2 prefill ~20s\)$/);
  bar.done();
  assert.equal(out.at(-1), "\r\x1b[2K");
});
