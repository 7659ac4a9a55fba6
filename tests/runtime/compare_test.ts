/**
 * compareReports / compareSeries: the arithmetic checked by hand (ratios of medians, degenerate intervals, identical
 * samples within noise, separated samples outside it), the bootstrap interval against an independent brute-force
 * computation over every resample of a tiny case, determinism in the seed, matching with unmatched runs listed on
 * both sides, and the new profile fields (raw samples, host, fingerprint) of a real profile.
 */
import assert from "node:assert/strict";
import {
  COMPARE_RESAMPLES,
  CompareError,
  type CompareInput,
  compareInputFromProfile,
  compareReports,
  type CompareRun,
  compareSeries,
  GPU_SERIES,
  modelShape,
} from "../../runtime/compare.ts";
import { MambaModel } from "../../runtime/model.ts";
import { makeConfig } from "../../runtime/presets.ts";
import { profileModels, type ProfileOptions, stats } from "../../runtime/profiler.ts";
import { quantizeWeights } from "../../runtime/quantize.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { assertValidProfile } from "../_profile_checks.ts";
import { sampleReport } from "../cli/_profile_sample.ts";

const E2E = "end-to-end";

function run(seqLen: number, samples: number[] | null, opts: Partial<CompareRun> = {}): CompareRun {
  const med = samples ? stats(samples).median : 1;
  return {
    key: { arch: "mamba1", shape: "d_model=64", mode: "prefill", batch: 1, seqLen },
    model: "m",
    fingerprint: null,
    endToEnd: { name: E2E, median: med, samples },
    components: [],
    ...opts,
  };
}

const input = (label: string, runs: CompareRun[]): CompareInput => ({ label, schema: "test", summary: "", runs });

Deno.test("compareSeries: identical samples → ratio 1, within noise; constant samples → a point interval", () => {
  const xs = [3.1, 2.9, 3.4, 3.0, 3.2, 2.8, 3.3];
  const same = compareSeries({ name: E2E, median: 3.1, samples: xs }, { name: E2E, median: 3.1, samples: [...xs] }, 5);
  assert.equal(same.ratio, 1);
  assert.equal(same.verdict, "within noise");
  assert.ok(same.interval![0] < 1 && same.interval![1] > 1, `interval ${same.interval}`);
  // Every resample of [2,2,2] has median 2, of [3,3,3] median 3: the interval is exactly [1.5, 1.5].
  const point = compareSeries({ name: E2E, median: 2, samples: [2, 2, 2] }, {
    name: E2E,
    median: 3,
    samples: [3, 3, 3],
  }, 1);
  assert.deepEqual([point.ratio, point.interval, point.verdict], [1.5, [1.5, 1.5], "slower"]);
  assert.deepEqual({ a: point.a, b: point.b }, { a: { median: 2, n: 3 }, b: { median: 3, n: 3 } });
});

Deno.test("compareSeries: clearly separated samples → the interval excludes 1 and lies within the extreme ratios", () => {
  const a = [10, 10.4, 10.1, 10.3, 10.2];
  const b = [5, 5.2, 5.1, 5.05, 5.15];
  const c = compareSeries({ name: E2E, median: 10.2, samples: a }, { name: E2E, median: 5.1, samples: b }, 9);
  assert.equal(c.ratio, 0.5);
  assert.equal(c.verdict, "faster");
  // Any resampled median lies in [min, max] of its side, so every ratio lies in [min b / max a, max b / min a].
  assert.ok(c.interval![0] >= 5 / 10.4 && c.interval![1] <= 5.2 / 10, `interval ${c.interval}`);
  assert.ok(c.interval![0] <= 0.5 && c.interval![1] >= 0.5);
  // And the other way round: B ÷ A of the swapped pair is slower, with the reciprocal ratio.
  const back = compareSeries({ name: E2E, median: 5.1, samples: b }, { name: E2E, median: 10.2, samples: a }, 9);
  assert.equal(back.ratio, 2);
  assert.equal(back.verdict, "slower");
});

Deno.test("compareSeries: the interval matches the exact bootstrap distribution of a two-sample case", () => {
  // A = [1, 3], B = [2, 6]: a resample of two values has median (x + y) / 2 over 4 equally likely ordered draws:
  // A → 1 (¼), 2 (½), 3 (¼); B → 2 (¼), 4 (½), 6 (¼). Ratio B ÷ A: the exact distribution has 9 (a, b) cells.
  const c = compareSeries({ name: E2E, median: 2, samples: [1, 3] }, { name: E2E, median: 4, samples: [2, 6] }, 3);
  assert.equal(c.ratio, 2);
  const cells: [number, number][] = [];
  for (const [ma, pa] of [[1, 0.25], [2, 0.5], [3, 0.25]]) {
    for (const [mb, pb] of [[2, 0.25], [4, 0.5], [6, 0.25]]) cells.push([mb / ma, pa * pb]);
  }
  cells.sort((x, y) => x[0] - y[0]);
  const cdf = (q: number) => cells.filter(([r]) => r <= q).reduce((s, [, p]) => s + p, 0);
  // The 2.5% quantile: the smallest ratio, 2/3, already holds 1/16 = 6.25%; the 97.5% one is 6 (P(ratio ≤ 4) = 15/16).
  const lo = cells.find(([r]) => cdf(r) >= 0.025)![0];
  const hi = cells.find(([r]) => cdf(r) >= 0.975)![0];
  assert.equal(lo, 2 / 3);
  assert.equal(hi, 6);
  // With 2000 resamples the empirical quantiles land on the same support points (the tails hold 6.25% each).
  assert.ok(Math.abs(c.interval![0] - lo) < 1e-12, `lo ${c.interval![0]}`);
  assert.ok(Math.abs(c.interval![1] - hi) < 1e-12, `hi ${c.interval![1]}`);
  assert.equal(c.verdict, "within noise");
});

Deno.test("compareSeries: untested without samples, with one sample, or with a zero baseline", () => {
  const none = compareSeries({ name: E2E, median: 2, samples: null }, { name: E2E, median: 1, samples: [1, 1] }, 1);
  assert.deepEqual([none.ratio, none.interval, none.verdict], [0.5, null, "untested"]);
  assert.match(none.note!, /no per-pass samples/);
  const one = compareSeries({ name: E2E, median: 2, samples: [2] }, { name: E2E, median: 1, samples: [1, 1] }, 1);
  assert.equal(one.verdict, "untested");
  assert.match(one.note!, /fewer than 2 samples/);
  const zero = compareSeries({ name: E2E, median: 0, samples: [0, 0] }, { name: E2E, median: 1, samples: [1, 1] }, 1);
  assert.deepEqual([zero.ratio, zero.verdict], [null, "untested"]);
});

Deno.test("compareReports: deterministic in the seed; another seed moves the interval only within the noise", () => {
  const a = [4.1, 3.9, 4.4, 4.0, 5.2, 4.2, 3.8, 4.6];
  const b = [4.0, 4.3, 3.7, 4.1, 4.9, 4.5, 3.9, 4.2];
  const make = () => [input("A", [run(8, a)]), input("B", [run(8, b)])];
  const r1 = compareReports(make(), { seed: 11 });
  const r2 = compareReports(make(), { seed: 11 });
  const r3 = compareReports(make(), { seed: 12 });
  assert.deepEqual(r1, r2);
  const i1 = r1.pairs[0].runs[0].endToEnd.interval!, i3 = r3.pairs[0].runs[0].endToEnd.interval!;
  assert.notDeepEqual(i1, i3);
  assert.equal(r1.pairs[0].runs[0].endToEnd.ratio, r3.pairs[0].runs[0].endToEnd.ratio);
  assert.equal(r1.method.resamples, COMPARE_RESAMPLES);
  assert.equal(r1.method.seed, 11);
  // Adding an unrelated run to both reports does not change this pair's interval (a seed per pair).
  const more = compareReports([input("A", [run(16, a), run(8, a)]), input("B", [run(8, b), run(16, b)])], { seed: 11 });
  assert.deepEqual(more.pairs[0].runs.find((r) => r.key.seqLen === 8)!.endToEnd, r1.pairs[0].runs[0].endToEnd);
});

Deno.test("compareReports: runs matched by key, components by name; leftovers listed on both sides", () => {
  const comp = (name: string, m: number) => ({ name, median: m, samples: [m, m, m] });
  const A = input("A", [
    run(8, [1, 1, 1], { components: [comp("in_proj", 0.5), comp("ssm", 0.3), comp("gate_norm", 0.1)] }),
    run(16, [2, 2, 2]),
    run(8, [1, 1, 1], { key: { arch: "mamba1", shape: "d_model=64", mode: "decode", batch: 1, seqLen: 8 } }),
  ]);
  const B = input("B", [
    run(8, [2, 2, 2], { components: [comp("ssm", 0.6), comp("in_proj", 0.25), comp("conv1d", 0.1)] }),
    run(32, [3, 3, 3]),
    run(8, [1, 1, 1], { key: { arch: "mamba1", shape: "d_model=128", mode: "decode", batch: 1, seqLen: 8 } }),
  ]);
  const p = compareReports([A, B]).pairs[0];
  assert.equal(p.runs.length, 1);
  const r = p.runs[0];
  assert.deepEqual(r.components.map((c) => [c.name, c.ratio, c.verdict]), [
    ["in_proj", 0.5, "faster"],
    ["ssm", 2, "slower"],
  ]);
  assert.deepEqual([r.onlyInA, r.onlyInB], [["gate_norm"], ["conv1d"]]);
  assert.deepEqual(p.unmatchedA.map((k) => `${k.mode} L${k.seqLen} ${k.shape}`), [
    "prefill L16 d_model=64",
    "decode L8 d_model=64",
  ]);
  assert.deepEqual(p.unmatchedB.map((k) => `${k.mode} L${k.seqLen} ${k.shape}`), [
    "prefill L32 d_model=64",
    "decode L8 d_model=128",
  ]);
  // ignoreShape pairs the decode runs of different shapes too.
  const loose = compareReports([A, B], { ignoreShape: true }).pairs[0];
  assert.equal(loose.runs.length, 2);
  assert.equal(loose.unmatchedB.length, 1);
});

Deno.test("compareReports: three reports are each compared with the first; nothing in common is a CompareError", () => {
  const res = compareReports([
    input("A", [run(8, [2, 2])]),
    input("B", [run(8, [1, 1])]),
    input("C", [run(8, [4, 4])]),
  ]);
  assert.deepEqual(res.pairs.map((p) => [p.a, p.b, p.runs[0].endToEnd.ratio]), [[0, 1, 0.5], [0, 2, 2]]);
  assert.throws(
    () => compareReports([input("before", [run(8, [1, 1])]), input("after", [run(16, [1, 1])])]),
    (e: Error) =>
      e instanceof CompareError && /before and after have no run in common/.test(e.message) &&
      /L8/.test(e.message) && /L16/.test(e.message),
  );
  assert.throws(() => compareReports([input("A", [])]), CompareError);
});

Deno.test("profile /3 on WASM: raw samples summarised by the Stats, host passed through, fingerprints by format", async () => {
  const backend = await createWasmBackend({ threads: 1 });
  const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
  const weights = syntheticWeights(config, 1);
  const f32 = MambaModel.load(weights, backend);
  const q8 = MambaModel.load(quantizeWeights(weights, { bits: 8 }), backend);
  try {
    const options: ProfileOptions = { seqLens: [8], warmup: 0, iters: 3, peaks: null };
    const host = { git: "abcdef0", runtime: { name: "deno", version: Deno.version.deno } };
    const r1 = await profileModels([{ model: f32, name: "f32" }, { model: q8, name: "q8" }], { ...options, host });
    assertValidProfile(r1);
    for (const run of r1.runs) {
      assert.deepEqual(stats(run.endToEnd.samples), run.endToEnd.ms);
      for (const c of run.components) assert.deepEqual(stats(c.samples), c.ms);
    }
    assert.equal(r1.environment.git, "abcdef0");
    assert.equal(r1.environment.runtime.name, "deno");
    assert.equal(r1.environment.gpu, null);
    assert.equal(r1.environment.cpu.logicalCores, navigator.hardwareConcurrency);
    const [fa, fb] = r1.models.map((m) => m.fingerprint);
    assert.match(fa, /^[0-9a-f]{16}$/);
    assert.notEqual(fa, fb, "f32 and q8_0 matrices are different tensors");
    const r2 = await profileModels([{ model: f32, name: "again" }], options);
    assert.equal(r2.models[0].fingerprint, fa, "same config and formats: same fingerprint");
    // Read back for comparison: the same shape, so f32 and q8 runs of r1 each match r2's f32 run in turn.
    const shape = modelShape(config);
    const a = compareInputFromProfile(r1, "r1");
    assert.ok(a.runs.every((r) => r.key.shape === shape), `${a.runs[0].key.shape} vs ${shape}`);
    assert.match(a.summary, /abcdef0/);
    const res = compareReports([compareInputFromProfile(r2, "r2"), a]);
    assert.equal(res.pairs[0].runs.length, 2);
    assert.deepEqual(res.pairs[0].runs.map((r) => r.sameFingerprint), [true, true]);
    assert.deepEqual(res.pairs[0].unmatchedB.map((k) => k.model), ["q8", "q8"]);
    assert.equal(res.pairs[0].runs[0].components.length, r2.runs[0].components.length);
  } finally {
    f32.dispose();
    q8.dispose();
    backend.dispose();
  }
});

Deno.test("compareInputFromProfile: a timestamp-query report's GPU time is compared first, beside the components", () => {
  const a = sampleReport();
  const b = sampleReport();
  // B: the same report with every GPU sample halved (and its Stats with them): GPU time exactly 0.5×.
  for (const run of b.runs) {
    run.endToEnd.gpuSamples = run.endToEnd.gpuSamples!.map((x) => x / 2);
    run.endToEnd.gpuMs = stats(run.endToEnd.gpuSamples);
  }
  const input = compareInputFromProfile(a, "a");
  assert.deepEqual(input.runs[0].components[0], {
    name: GPU_SERIES,
    median: a.runs[0].endToEnd.gpuMs!.median,
    samples: a.runs[0].endToEnd.gpuSamples,
  });
  assert.deepEqual(input.runs[0].components.slice(1).map((c) => c.name), a.runs[0].components.map((c) => c.name));
  const res = compareReports([input, compareInputFromProfile(b, "b")]);
  for (const run of res.pairs[0].runs) {
    const gpu = run.components[0];
    assert.equal(gpu.name, GPU_SERIES);
    assert.ok(Math.abs(gpu.ratio! - 0.5) < 1e-12, `${gpu.ratio}`);
    // Any resampled median stays within its side's range: the interval lies in [min B / max A, max B / min A].
    const sa = a.runs.find((r) => r.mode === run.key.mode && r.seqLen === run.key.seqLen)!.endToEnd.gpuSamples!;
    const lo = Math.min(...sa) / 2 / Math.max(...sa), hi = Math.max(...sa) / 2 / Math.min(...sa);
    assert.ok(gpu.interval![0] >= lo - 1e-12 && gpu.interval![1] <= hi + 1e-12, `${gpu.interval}`);
    assert.equal(gpu.verdict, "faster");
    assert.equal(run.endToEnd.verdict, "within noise", "the wall-clock samples are identical");
    assert.ok(run.components.slice(1).every((c) => c.ratio === 1 && c.verdict === "within noise"));
  }
});
