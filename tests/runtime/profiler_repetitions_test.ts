/**
 * Adaptive repetitions of the profiler: the order-statistic interval of the median against hand-computed ranks and
 * a brute-force coverage (all 2ⁿ sign patterns), the stopping rule on synthetic sample streams under a fake clock
 * (tight → "precision" at minIters, noisy → "budget", forced → "iters"), the time-left arithmetic, and real profiles
 * whose `repetitions` fields validate against the schema and match their samples.
 */
import assert from "node:assert/strict";
import {
  checkRepetitionOptions,
  medianInterval,
  type RepetitionOptions,
  shouldStop,
  type StopReason,
} from "../../runtime/repetitions.ts";
import { estimatePointMs, PassClock } from "../../runtime/profile_eta.ts";
import { profileModels } from "../../runtime/profiler.ts";
import { MambaModel } from "../../runtime/model.ts";
import { makeConfig } from "../../runtime/presets.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";
import { mulberry32 } from "../../runtime/sampling.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { assertValidProfile } from "../_profile_checks.ts";

/** Coverage of [x₍ⱼ₎, x₍ₙ₊₁₋ⱼ₎] by enumeration: the median lies inside unless fewer than j samples fall below it or fewer than j above it. */
function bruteCoverage(n: number, j: number): number {
  let inside = 0;
  for (let mask = 0; mask < 2 ** n; mask++) {
    let below = 0;
    for (let b = 0; b < n; b++) below += (mask >> b) & 1;
    if (below >= j && n - below >= j) inside++;
  }
  return inside / 2 ** n;
}

Deno.test("medianInterval: ranks and coverage by hand and by enumeration", () => {
  // n = 5: the widest interval [min, max] covers 1 − 2/32 = 93.75 % < 95 %: none.
  assert.equal(medianInterval([5, 1, 4, 2, 3]), null);
  // n = 6: [min, max], 1 − 2/64.
  const six = medianInterval([10, 11, 9, 10, 12, 10])!;
  assert.deepEqual(six.ranks, [1, 6]);
  assert.equal(six.coverage, 1 - 2 / 64);
  assert.equal(six.lo, 9);
  assert.equal(six.hi, 12);
  assert.equal(six.relHalfWidth, 0.15); // (12 − 9) / 2 ÷ 10
  // n = 9: P(B ≤ 1) = 10/512 → j = 2 (coverage 1 − 20/512); P(B ≤ 2) = 46/512 would give 82 %.
  const nine = medianInterval([100, 101, 99, 100, 102, 100, 98, 101, 100])!;
  assert.deepEqual(nine.ranks, [2, 8]);
  assert.equal(nine.coverage, 1 - 20 / 512);
  assert.deepEqual([nine.lo, nine.hi], [99, 101]);
  // Every n up to 16: the coverage is exact (enumeration), at least 95 %, and j is the largest such rank.
  for (let n = 6; n <= 16; n++) {
    const ci = medianInterval(Array.from({ length: n }, (_, i) => i + 1))!;
    const j = ci.ranks[0];
    assert.ok(Math.abs(ci.coverage - bruteCoverage(n, j)) < 1e-12, `n=${n}`);
    assert.ok(ci.coverage >= 0.95, `n=${n}: ${ci.coverage}`);
    assert.ok(bruteCoverage(n, j + 1) < 0.95, `n=${n}: rank ${j + 1} would still cover 95 %`);
    assert.deepEqual([ci.lo, ci.hi], [j, n + 1 - j]);
  }
  assert.throws(() => medianInterval([1, 2, 3], 1), /confidence/);
});

/** Feed a stream to the rule as the profiler does: a sample per iteration, the fake clock advanced by it. */
function run(stream: number[], options: RepetitionOptions, warmMs = 0): { n: number; reason: StopReason } {
  const samples: number[] = [];
  let iterMs = 0;
  for (const x of stream) {
    samples.push(x);
    iterMs += 2 * x; // a plain and an instrumented pass
    const reason = shouldStop(samples, { elapsedMs: warmMs + iterMs, iterMs }, options);
    if (reason) return { n: samples.length, reason };
  }
  throw new Error("stream ran out");
}

Deno.test("shouldStop: tight → precision at minIters, noisy → budget, forced → iters", () => {
  const rand = mulberry32(7);
  const tight = Array.from({ length: 100 }, () => 100 * (1 + 0.01 * (rand() - 0.5)));
  assert.deepEqual(run(tight, {}), { n: 6, reason: "precision" });
  assert.deepEqual(run(tight, { minIters: 9 }), { n: 9, reason: "precision" });
  // Log-normal with σ = 0.5: the interval stays wide; 100 ms passes, 2 a iteration, 5 s budget → ~25 iterations.
  const noisy = Array.from({ length: 100 }, () => {
    const g = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return 100 * Math.exp(0.5 * g);
  });
  const r = run(noisy, {});
  assert.equal(r.reason, "budget");
  const spent = 2 * noisy.slice(0, r.n).reduce((a, b) => a + b, 0);
  // Stopped because one more (mean) iteration would end past 5 s, not before.
  assert.ok(spent + spent / r.n > 5000 && spent <= 5000 + 2 * Math.max(...noisy), `${r.n} iterations, ${spent} ms`);
  assert.deepEqual(run(noisy, { maxIters: 8, maxMs: 1e9 }), { n: 8, reason: "budget" });
  assert.deepEqual(run(noisy, { iters: 3 }), { n: 3, reason: "iters" });
  assert.deepEqual(run(tight, { iters: 17 }), { n: 17, reason: "iters" }); // forced: no early stop
  // A single iteration longer than the budget: stop after it (never before one).
  assert.deepEqual(run([4000, 4000], {}), { n: 1, reason: "budget" });
  // Warm-up time counts against the budget.
  assert.deepEqual(run(tight, {}, 4900), { n: 1, reason: "budget" });
});

Deno.test("checkRepetitionOptions: bad options name themselves", () => {
  assert.throws(() => checkRepetitionOptions({ precision: 0 }), /precision must be in \(0, 1\), got 0/);
  assert.throws(() => checkRepetitionOptions({ maxMs: -1 }), /maxMs/);
  assert.throws(() => checkRepetitionOptions({ minIters: 2.5 }), /minIters/);
  assert.throws(() => checkRepetitionOptions({ minIters: 10, maxIters: 5 }), /minIters \(10\) exceeds maxIters \(5\)/);
  checkRepetitionOptions({ precision: 0.01, maxMs: 100, minIters: 6, maxIters: 6 });
});

Deno.test("time left: point estimates and per-pass times by length", () => {
  // Adaptive: one warm-up pass + 6 iterations of 2 passes, capped by the 5 s budget but never below one iteration.
  assert.equal(estimatePointMs(100, 2, {}, { warmup: undefined }), 100 + 6 * 200);
  assert.equal(estimatePointMs(1000, 2, {}, { warmup: undefined }), 5000);
  assert.equal(estimatePointMs(4000, 2, {}, { warmup: undefined, setupMs: 500 }), 500 + 4000 + 8000);
  assert.equal(estimatePointMs(10, 4, { iters: 5 }, { warmup: 3 }), 30 + 200);
  const clock = new PassClock();
  assert.equal(clock.passMs({ model: 0, mode: "prefill", seqLen: 64 }), null);
  clock.record({ model: 0, mode: "prefill", seqLen: 64 }, 30);
  clock.record({ model: 0, mode: "prefill", seqLen: 512 }, 200);
  clock.record({ model: 0, mode: "decode", seqLen: 64 }, 4);
  // The line through the two nearest lengths: 30 ms + (170 / 448) ms per token beyond 64.
  const near = (x: number, y: number) => Math.abs(x - y) < 1e-9;
  assert.ok(near(clock.passMs({ model: 0, mode: "prefill", seqLen: 2048 })!, 200 + 170 / 448 * 1536));
  assert.ok(near(clock.passMs({ model: 0, mode: "prefill", seqLen: 128 })!, 30 + 170 / 448 * 64));
  assert.equal(clock.passMs({ model: 0, mode: "decode", seqLen: 2048 }), 4);
  // One length measured: scaled by the length ratio.
  const one = new PassClock();
  one.record({ model: 0, mode: "prefill", seqLen: 64 }, 30);
  assert.equal(one.passMs({ model: 0, mode: "prefill", seqLen: 512 }), 240);
  // Another model: its own figures once it has them, the first model's until then.
  assert.equal(clock.passMs({ model: 1, mode: "prefill", seqLen: 64 }), 30);
  clock.record({ model: 1, mode: "prefill", seqLen: 64 }, 45);
  assert.equal(clock.passMs({ model: 1, mode: "prefill", seqLen: 64 }), 45);
});

Deno.test("profiler: each run records its repetitions; forced, budget and precision stops", async () => {
  const backend = await createWasmBackend({ threads: 1 });
  const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
  const model = MambaModel.load(syntheticWeights(config, 1), backend);
  try {
    const models = [{ model, name: "tiny" }];
    const forced = await profileModels(models, { seqLens: [8, 16], warmup: 1, iters: 4, peaks: null });
    assertValidProfile(forced);
    assert.deepEqual(forced.options.repetitions, { adaptive: false, warmup: 1 });
    for (const r of forced.runs) {
      assert.deepEqual(
        { ...r.repetitions!, interval: null, relHalfWidth: null, ms: 0 },
        { warmup: 1, iters: 4, stopReason: "iters", interval: null, relHalfWidth: null, ms: 0 },
      );
      assert.equal(r.endToEnd.samples.length, 4);
      assert.equal(r.components[0].samples.length, 4);
    }
    // A budget shorter than any pass (1 ns; warm-up included in the elapsed time): every point stops after its
    // first iteration. (1 ms was not: a warm JIT runs this tiny model's decode step in ~0.1 ms.)
    const budget = await profileModels(models, { seqLens: [8], maxMs: 1e-6, peaks: null });
    assertValidProfile(budget);
    for (const r of budget.runs) {
      assert.equal(r.repetitions!.stopReason, "budget");
      assert.equal(r.repetitions!.iters, 1);
      assert.ok(r.repetitions!.warmup <= 3);
      assert.equal(r.repetitions!.interval, null);
    }
    // A loose precision over 20 iterations (the interval [x₍₆₎, x₍₁₅₎] drops 5 samples each side): "precision" at 20.
    const loose = await profileModels(models, {
      seqLens: [8],
      precision: 0.999,
      minIters: 20,
      maxMs: 60_000,
      peaks: null,
    });
    assertValidProfile(loose);
    for (const r of loose.runs) {
      const rep = r.repetitions!;
      assert.equal(rep.stopReason, "precision");
      assert.equal(rep.iters, 20);
      assert.equal(r.endToEnd.samples.length, 20);
      const ci = medianInterval(r.endToEnd.samples)!;
      assert.deepEqual(rep.interval, { lo: ci.lo, hi: ci.hi, coverage: ci.coverage });
      assert.equal(rep.relHalfWidth, ci.relHalfWidth);
      assert.ok(rep.relHalfWidth! <= 0.999);
    }
    assert.equal(loose.options.repetitions!.precision, 0.999);
    assert.equal(loose.options.iters, 20);
    await assert.rejects(() => profileModels(models, { precision: 2, peaks: null }), /precision must be in/);
  } finally {
    model.dispose();
    backend.dispose();
  }
});

Deno.test("profiler: progress carries elapsed and time left, which reaches ~0 at the end", async () => {
  const backend = await createWasmBackend({ threads: 1 });
  const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
  const model = MambaModel.load(syntheticWeights(config, 1), backend);
  try {
    const ticks: { done: number; elapsedMs: number; leftMs: number | null; mode: string }[] = [];
    await profileModels([{ model, name: "tiny" }], {
      seqLens: [8, 16],
      warmup: 1,
      iters: 3,
      peaks: null,
      onProgress: (p) => ticks.push(p),
    });
    // Forced counts: 4 points × (1 warm-up + 3 × 2 passes), exactly.
    assert.equal(ticks.length, 4 * 7);
    assert.deepEqual(ticks.map((t) => t.done), ticks.map((_, i) => i + 1));
    for (let i = 1; i < ticks.length; i++) assert.ok(ticks[i].elapsedMs >= ticks[i - 1].elapsedMs);
    assert.equal(ticks[0].leftMs, null); // nothing measured of the first mode yet… (decode runs first)
    assert.ok(ticks.at(-1)!.leftMs !== null && ticks.at(-1)!.leftMs! < ticks[10].leftMs! + 1e-9);
    assert.deepEqual([...new Set(ticks.map((t) => t.mode))], ["decode", "prefill"]);
  } finally {
    model.dispose();
    backend.dispose();
  }
});
