/**
 * Checks shared by the profiler, renderer and CLI tests: the report against its JSON Schema (Ajv, draft 2020-12),
 * and a Chrome trace's forward ⊃ layer ⊃ component nesting.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Ajv2020 } from "npm:ajv@8.17.1/dist/2020.js";
import formatsModule from "ajv-formats";
import type { ProfileReport, Stats } from "../runtime/profile_report.ts";
import { PROFILE_JSON_SCHEMA } from "../runtime/profile_schema.ts";
import type { TraceEvent } from "../cli/report/trace.ts";

// ajv-formats is CommonJS: at run time the default import is the plugin itself; its types say otherwise.
const addFormats = formatsModule as unknown as typeof formatsModule.default;

/** A compiled validator of PROFILE_JSON_SCHEMA (`errors` set after a failed call). */
export function profileValidator(): ReturnType<Ajv2020["compile"]> {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv.compile(PROFILE_JSON_SCHEMA);
}

/**
 * Assert the report (after a JSON round trip) validates against its schema, and that every Stats summarises the raw
 * samples beside it (same count, median, min and max: what the schema cannot say).
 */
export function assertValidProfile(report: unknown): void {
  const validate = profileValidator();
  const ok = validate(JSON.parse(JSON.stringify(report)));
  assert.ok(ok, `schema errors: ${JSON.stringify(validate.errors?.slice(0, 5))}`);
  const r = report as ProfileReport;
  for (const run of r.runs) {
    const where = `${run.arch} ${run.mode} L${run.seqLen}`;
    assertSummarises(run.endToEnd.ms, run.endToEnd.samples, `${where} end-to-end`);
    const { gpuMs, gpuSamples } = run.endToEnd;
    assert.equal(gpuSamples === null, gpuMs === null, `${where}: GPU samples without GPU Stats, or the reverse`);
    if (gpuMs && gpuSamples) assertSummarises(gpuMs, gpuSamples, `${where} end-to-end GPU`);
    for (const c of run.components) assertSummarises(c.ms, c.samples, `${where} ${c.name}`);
  }
}

function assertSummarises(s: Stats, samples: number[], where: string): void {
  assert.equal(samples.length, s.n, `${where}: ${samples.length} samples for n = ${s.n}`);
  const sorted = samples.toSorted((a, b) => a - b);
  const mid = (sorted.length - 1) / 2;
  const median = (sorted[Math.floor(mid)] + sorted[Math.ceil(mid)]) / 2;
  const close = (x: number, y: number) => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));
  assert.ok(close(median, s.median), `${where}: median of samples ${median} ≠ ${s.median}`);
  assert.ok(close(sorted[0], s.min) && close(sorted.at(-1)!, s.max), `${where}: min/max differ from the samples`);
}

/**
 * Assert the trace of every run nests: one "forward" per process, a "layer N" per layer inside it, every component
 * span inside its layer (or directly inside forward outside the blocks), and nothing else overlapping.
 */
export function assertTraceNests(report: ProfileReport, traceEvents: TraceEvent[]): void {
  for (const [i, run] of report.runs.entries()) {
    const pid = i + 1;
    const named = traceEvents.filter((e) => e.pid === pid && e.ph === "M" && e.name === "process_name");
    assert.equal(named.length, 1);
    const xs = traceEvents.filter((e) => e.pid === pid && e.ph === "X");
    for (const e of xs) assert.ok(e.tid === 1 && e.ts! >= 0 && e.dur! >= 0);
    assert.equal(xs.filter((e) => e.name === "forward").length, 1);
    const comps = xs.filter((e) => e.cat === "component");
    assert.equal(comps.length, run.trace.length);
    const layers = xs.filter((e) => e.name.startsWith("layer "));
    assert.equal(layers.length, report.models[run.model].config.nLayer);
    assert.equal(xs.length, 1 + layers.length + comps.length);
    const contains = (p: TraceEvent, c: TraceEvent) => p.ts! <= c.ts! && c.ts! + c.dur! <= p.ts! + p.dur!;
    for (const e of xs) {
      const parents = xs.filter((p) => p !== e && contains(p, e)).map((p) => p.name).sort();
      let expected: string[];
      if (e.name === "forward") expected = [];
      else if (e.cat === "layer") expected = ["forward"];
      else {
        const layer = e.args!.layer as number;
        expected = layer >= 0 ? ["forward", `layer ${layer}`] : ["forward"];
      }
      // Zero-length spans at a boundary may sit inside a neighbour too; only require the expected chain.
      for (const p of expected) assert.ok(parents.includes(p), `${e.name} ${JSON.stringify(e.args)} not in ${p}`);
      if (e.dur! > 0) assert.deepEqual(parents, expected, `${e.name} ${JSON.stringify(e.args)}`);
    }
  }
}

/** Components whose FLOPs grow with the prompt length (everything in the blocks). */
const PER_TOKEN = new Set([
  "norm",
  "in_proj",
  "conv1d",
  "x_proj",
  "dt_proj",
  "ssm",
  "gate_norm",
  "out_proj",
  "residual",
]);

/**
 * The figures a wall-clock (CPU) profile must satisfy on every run, whatever the machine's speed or load:
 * - every component of every run took a positive time (its fastest pass: > 0);
 * - the components lie inside the instrumented pass: Σ over components of their fastest time ≤ the fastest
 *   instrumented pass (exact: in the pass that was fastest overall each component took at least its own minimum).
 * The relations that load can break once are {@link timingFailures}.
 */
export function assertWallClockTimes(report: ProfileReport): void {
  assert.equal(report.environment.timing, "wall-clock");
  for (const run of report.runs) {
    const what = `${report.models[run.model].name} ${run.mode} L${run.seqLen}`;
    for (const c of run.components) assert.ok(c.ms.min > 0, `${what} ${c.name}: ${c.ms.min} ms`);
    const inside = run.components.reduce((a, c) => a + c.ms.min, 0);
    const pass = run.endToEnd.instrumentedMs.min;
    assert.ok(inside <= pass * (1 + 1e-9), `${what}: components ${inside} ms > the pass ${pass} ms`);
  }
}

/**
 * The relations of a wall-clock profile that hold on a quiet machine but that a burst of load can break in one run
 * (callers profile again; a defect fails every attempt). Returns the failures, empty when all hold:
 * - coverage: the components' fastest times cover at least {@link MIN_COVERAGE} of the fastest instrumented pass;
 * - scaling: across two prefill lengths of each model, `ratio`× the tokens, in_proj, ssm and the blocks as a whole
 *   take more than half that ratio as long (their FLOPs grow `ratio`×, checked). Fastest passes (ms.min), not
 *   medians: other processes only ever add time. On the 2-core VM under load the ratios at 4× the FLOPs ranged
 *   3.9–6.3 (in_proj) and 4.1–7.6 (ssm), so "> 2" is a wide margin that a zeroed (0/0) or constant (1×) time never
 *   meets.
 */
export function timingFailures(report: ProfileReport, ratio: number): string[] {
  const failures: string[] = [];
  for (const run of report.runs) {
    const inside = run.components.reduce((a, c) => a + c.ms.min, 0);
    const pass = run.endToEnd.instrumentedMs.min;
    if (!(inside >= MIN_COVERAGE * pass)) {
      const what = `${report.models[run.model].name} ${run.mode} L${run.seqLen}`;
      failures.push(`${what}: components ${inside.toFixed(3)} ms cover < ${MIN_COVERAGE} of ${pass.toFixed(3)} ms`);
    }
  }
  for (const [mi, model] of report.models.entries()) {
    const prefill = report.runs.filter((r) => r.model === mi && r.mode === "prefill").sort((a, b) =>
      a.seqLen - b.seqLen
    );
    const pairs = prefill.flatMap((
      b,
      i,
    ) => (i > 0 && b.seqLen === ratio * prefill[i - 1].seqLen ? [[prefill[i - 1], b]] : []));
    assert.ok(pairs.length > 0, `${model.name}: no two prefill lengths ${ratio}× apart`);
    for (const [a, b] of pairs) {
      const comp = (r: typeof a, name: string) => r.components.find((c) => c.name === name)!;
      const blocks = (r: typeof a) =>
        r.components.filter((c) => PER_TOKEN.has(c.name)).reduce((s, c) => s + c.ms.min, 0);
      const what = `${model.name} prefill L${a.seqLen} → L${b.seqLen}`;
      for (const name of ["in_proj", "ssm"]) {
        const flopsRatio = comp(b, name).flops / comp(a, name).flops;
        assert.ok(Math.abs(flopsRatio - ratio) < 1e-9, `${what} ${name} FLOPs ×${flopsRatio}`);
        const t = comp(b, name).ms.min / comp(a, name).ms.min;
        if (!(t > ratio / 2)) failures.push(`${what}: ${name} time ×${t.toFixed(2)} for ×${ratio} the FLOPs`);
      }
      const t = blocks(b) / blocks(a);
      if (!(t > ratio / 2)) failures.push(`${what}: the blocks' time ×${t.toFixed(2)} for ×${ratio} the FLOPs`);
    }
  }
  return failures;
}

/**
 * Profiles with `profile` up to `attempts` times until {@link timingFailures} finds nothing; every attempt must pass
 * {@link assertWallClockTimes}. Fails with every attempt's failures.
 */
export async function assertTimesScale(
  profile: () => Promise<ProfileReport>,
  ratio: number,
  attempts = 3,
): Promise<void> {
  const seen: string[] = [];
  for (let i = 1; i <= attempts; i++) {
    const report = await profile();
    assertWallClockTimes(report);
    const failures = timingFailures(report, ratio);
    if (failures.length === 0) return;
    seen.push(`attempt ${i}: ${failures.join("; ")}`);
  }
  assert.fail(`component times off in all ${attempts} attempts:\n${seen.join("\n")}`);
}

/**
 * Least share of the fastest instrumented pass its components' fastest times cover on the CPU. PROFILE.md's "a few
 * percent" gap holds on a quiet machine; with other processes competing for 2 cores it was measured at 0.51–0.96,
 * and once at 0.12 under heavy load (no pass free of interruption, while each component had a quiet one). The floor
 * 0.25 is there to fail mostly-missing component times, not to measure noise; load is what the retries absorb.
 */
export const MIN_COVERAGE = 0.25;

/**
 * The fused decode figure of every run ({@link ProfileReport} `endToEnd.fusedDecode`): null for prefill and on a
 * backend without fused decode; on one with it, for decode, timed as often as the unfused pass, with GPU time
 * exactly when the unfused pass has it, and (where dispatches are counted) at most 4 per layer + 2 per step,
 * fewer than the unfused step's.
 */
export function assertFusedDecodeFigures(report: ProfileReport, backendFuses: boolean): void {
  for (const run of report.runs) {
    const what = `${report.models[run.model].name} ${run.mode} L${run.seqLen}`;
    const e = run.endToEnd, f = e.fusedDecode;
    if (run.mode === "prefill" || !backendFuses) {
      assert.equal(f, null, `${what}: no fused figure`);
      continue;
    }
    assert.ok(f, `${what}: the fused decode figure`);
    assert.equal(f.ms.n, e.ms.n, `${what}: fused timed as often as unfused`);
    assert.ok(f.ms.min > 0, `${what}: fused step time`);
    assert.equal(f.gpuMs !== null, e.gpuMs !== null, `${what}: fused GPU time iff unfused GPU time`);
    if (f.dispatches !== null) {
      const nLayer = report.models[run.model].config.nLayer;
      assert.ok(f.dispatches <= 4 * nLayer + 2, `${what}: ${f.dispatches} fused dispatches`);
      assert.ok(f.dispatches < f.unfusedDispatches!, `${what}: ${f.dispatches} vs ${f.unfusedDispatches}`);
    }
  }
}
