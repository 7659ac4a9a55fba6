/**
 * Comparing measurements: two or more reports (profile reports, or any timings put in the same plain form), runs
 * matched by architecture, model shape, mode, batch and length, components by name; per matched pair the medians,
 * the ratio B ÷ A and a bootstrap 95% interval of that ratio, with a verdict (faster, slower, within noise).
 * Several reports: each against the first (the baseline). Runs without a partner are listed, never dropped.
 *
 * The test: the samples of A and of B are resampled with replacement ({@link COMPARE_RESAMPLES} times, from a
 * seeded generator per pair, so the same inputs give the same interval), the ratio of the two resampled medians
 * taken each time, and the 2.5th and 97.5th percentiles of those ratios are the interval (percentile bootstrap).
 * An interval wholly below 1 says B is faster, wholly above 1 slower, otherwise the difference is within the noise
 * of the samples. With fewer than {@link COMPARE_MIN_SAMPLES} samples on a side there is no test ("untested").
 *
 * Platform-neutral: plain data in, plain data out.
 *
 * @module
 */

import type { ProfiledModel, ProfileReport } from "./profile_report.ts";
import { mulberry32 } from "./sampling.ts";

/**
 * Format tag of a comparison's JSON.
 *
 * @example
 * ```ts
 * import { COMPARE_SCHEMA_ID } from "@perfmamba/perfmamba";
 *
 * console.log(COMPARE_SCHEMA_ID); // perfmamba.compare/1
 * ```
 */
export const COMPARE_SCHEMA_ID = "perfmamba.compare/1";
/**
 * Bootstrap resamples per compared pair.
 *
 * @example
 * ```ts
 * import { COMPARE_RESAMPLES } from "@perfmamba/perfmamba";
 *
 * // The 2.5th percentile of 2000 ratios sits between the 50th and 51st smallest.
 * console.log(COMPARE_RESAMPLES, 0.025 * (COMPARE_RESAMPLES - 1)); // 2000 49.975
 * ```
 */
export const COMPARE_RESAMPLES = 2000;
/**
 * The series name of a profile's whole-pass GPU time (timestamp-query), listed before the components.
 *
 * @example
 * ```ts
 * import { GPU_SERIES, type RunComparison } from "@perfmamba/perfmamba";
 *
 * // The GPU time of a matched WebGPU run, where both reports have it.
 * const gpuOf = (r: RunComparison) => r.components.find((c) => c.name === GPU_SERIES) ?? null;
 * console.log(GPU_SERIES); // end-to-end GPU
 * void gpuOf;
 * ```
 */
export const GPU_SERIES = "end-to-end GPU";
/**
 * Fewest samples on each side for the bootstrap test.
 *
 * @example
 * ```ts
 * import { COMPARE_MIN_SAMPLES, compareSeries } from "@perfmamba/perfmamba";
 *
 * const one = compareSeries({ name: "x", median: 2, samples: [2] }, { name: "x", median: 1, samples: [1, 1] }, 1);
 * console.log(COMPARE_MIN_SAMPLES, one.verdict); // 2 untested
 * ```
 */
export const COMPARE_MIN_SAMPLES = 2;

/**
 * One measured quantity of a run: its median and the raw samples it summarises (null when the report kept none).
 *
 * @example
 * ```ts
 * import type { CompareSeries } from "@perfmamba/perfmamba";
 *
 * const e2e: CompareSeries = { name: "end-to-end", median: 4.05, samples: [4.1, 3.9, 4.0, 5.2] };
 * console.log(e2e.samples?.length); // 4
 * ```
 */
export interface CompareSeries {
  /** "end-to-end" or a component name. */
  name: string;
  /** Median (ms). */
  median: number;
  /** The raw per-pass times (ms), or null. */
  samples: number[] | null;
}

/**
 * What runs are matched by: architecture, model shape ({@link modelShape}), mode, batch and length.
 *
 * @example
 * ```ts
 * import { type CompareRunKey, runKeyLabel } from "@perfmamba/perfmamba";
 *
 * const key: CompareRunKey = { arch: "mamba1", shape: "d_model=64 n_layer=2", mode: "prefill", batch: 1, seqLen: 8 };
 * console.log(runKeyLabel(key)); // mamba1 d_model=64 n_layer=2 prefill B1 L8
 * ```
 */
export interface CompareRunKey {
  arch: string;
  /** The dimensions that decide the work ({@link modelShape}). */
  shape: string;
  /** "prefill", "decode", or another mode a report names (bench's "greedy"). */
  mode: string;
  batch: number;
  seqLen: number;
}

/**
 * One run of a report in the form {@link compareReports} reads.
 *
 * @example
 * ```ts
 * import type { CompareRun } from "@perfmamba/perfmamba";
 *
 * const run: CompareRun = {
 *   key: { arch: "mamba2", shape: "d_model=64", mode: "decode", batch: 1, seqLen: 16 },
 *   model: "tiny",
 *   fingerprint: null,
 *   endToEnd: { name: "end-to-end", median: 0.8, samples: [0.8, 0.9, 0.7] },
 *   components: [],
 * };
 * console.log(run.key.mode, run.endToEnd.median); // decode 0.8
 * ```
 */
export interface CompareRun {
  key: CompareRunKey;
  /** The model's display name. */
  model: string;
  /** The model's fingerprint where the report has one (different fingerprints: different tensors or formats). */
  fingerprint: string | null;
  endToEnd: CompareSeries;
  /** Per component (empty when the report times only whole passes). */
  components: CompareSeries[];
}

/**
 * A report in the form {@link compareReports} reads: a label, its format, one line of where it ran, its runs.
 *
 * @example
 * ```ts
 * import type { CompareInput } from "@perfmamba/perfmamba";
 *
 * const input: CompareInput = { label: "before", schema: "perfmamba.profile/3", summary: "wasm, 2 threads", runs: [] };
 * console.log(input.label, input.runs.length); // before 0
 * ```
 */
export interface CompareInput {
  /** How the comparison names it (a folder or file name). */
  label: string;
  /** The format it was read from ("perfmamba.profile/3", "perfmamba.bench/1", …). */
  schema: string;
  /** Backend, host, commit: one line for the reader. */
  summary: string;
  runs: CompareRun[];
}

/**
 * The outcome of one compared quantity: the 95% interval of B ÷ A wholly below 1 ("faster"), wholly above
 * ("slower"), around 1 ("within noise"), or no test ("untested": no samples, too few, or a zero baseline).
 *
 * @example
 * ```ts
 * import { type CompareVerdict, compareSeries } from "@perfmamba/perfmamba";
 *
 * const v: CompareVerdict = compareSeries(
 *   { name: "x", median: 4, samples: [4, 4.1, 3.9] },
 *   { name: "x", median: 2, samples: [2, 2.1, 1.9] },
 *   1,
 * ).verdict;
 * console.log(v); // faster
 * ```
 */
export type CompareVerdict = "faster" | "slower" | "within noise" | "untested";

/**
 * One quantity compared: A's and B's medians, the ratio B ÷ A, its bootstrap interval and the verdict.
 *
 * @example
 * ```ts
 * import { compareSeries, type SeriesComparison } from "@perfmamba/perfmamba";
 *
 * const c: SeriesComparison = compareSeries(
 *   { name: "end-to-end", median: 10, samples: [10, 10, 10] },
 *   { name: "end-to-end", median: 5, samples: [5, 5, 5] },
 *   1,
 * );
 * console.log(c.ratio, c.interval, c.verdict); // 0.5 [ 0.5, 0.5 ] faster
 * ```
 */
export interface SeriesComparison {
  name: string;
  a: { median: number; n: number };
  b: { median: number; n: number };
  /** B's median ÷ A's (null when A's median is 0). */
  ratio: number | null;
  /** Bootstrap 95% interval of the ratio of medians (null when untested). */
  interval: [number, number] | null;
  verdict: CompareVerdict;
  /** Why it is untested. */
  note?: string;
}

/**
 * A matched run: its key, the two models, end to end and per component.
 *
 * @example
 * ```ts
 * import { compareReports, type RunComparison } from "@perfmamba/perfmamba";
 *
 * const key = { arch: "mamba1", shape: "d_model=64", mode: "prefill", batch: 1, seqLen: 8 };
 * const run = (median: number) => ({
 *   key,
 *   model: "tiny",
 *   fingerprint: null,
 *   endToEnd: { name: "end-to-end", median, samples: [median, median * 1.01, median * 0.99] },
 *   components: [{ name: "ssm", median: median / 2, samples: null }],
 * });
 * const result = compareReports([
 *   { label: "A", schema: "x", summary: "", runs: [run(2)] },
 *   { label: "B", schema: "x", summary: "", runs: [run(1)] },
 * ]);
 * const r: RunComparison = result.pairs[0].runs[0];
 * console.log(r.endToEnd.verdict, r.components[0].verdict); // faster untested
 * ```
 */
export interface RunComparison {
  key: CompareRunKey;
  modelA: string;
  modelB: string;
  /** False when both carry fingerprints and they differ (other tensors or formats, same shape). */
  sameFingerprint: boolean | null;
  endToEnd: SeriesComparison;
  /** Components present in both runs, in A's order. */
  components: SeriesComparison[];
  /** Component names present in only one of the two. */
  onlyInA: string[];
  onlyInB: string[];
}

/**
 * The baseline against one other report: the matched runs and what did not match on either side.
 *
 * @example
 * ```ts
 * import { compareReports, type PairComparison } from "@perfmamba/perfmamba";
 *
 * const run = (seqLen: number) => ({
 *   key: { arch: "mamba1", shape: "s", mode: "prefill", batch: 1, seqLen },
 *   model: "m",
 *   fingerprint: null,
 *   endToEnd: { name: "end-to-end", median: 1, samples: [1, 1] },
 *   components: [],
 * });
 * const result = compareReports([
 *   { label: "A", schema: "x", summary: "", runs: [run(8), run(16)] },
 *   { label: "B", schema: "x", summary: "", runs: [run(8), run(32)] },
 * ]);
 * const p: PairComparison = result.pairs[0];
 * console.log(p.runs.length, p.unmatchedA.map((k) => k.seqLen), p.unmatchedB.map((k) => k.seqLen)); // 1 [ 16 ] [ 32 ]
 * ```
 */
export interface PairComparison {
  /** Index of the baseline (0) and of the other report in {@link CompareResult.inputs}. */
  a: number;
  b: number;
  runs: RunComparison[];
  /** Runs of A (the baseline) with no partner in B, and the other way round. */
  unmatchedA: (CompareRunKey & { model: string })[];
  unmatchedB: (CompareRunKey & { model: string })[];
}

/**
 * The whole comparison (written as compare.json).
 *
 * @example
 * ```ts
 * import { COMPARE_SCHEMA_ID, compareReports, type CompareResult } from "@perfmamba/perfmamba";
 *
 * const run = { key: { arch: "mamba2", shape: "s", mode: "decode", batch: 1, seqLen: 8 }, model: "m", fingerprint: null,
 *   endToEnd: { name: "end-to-end", median: 1, samples: [1, 1.1, 0.9] }, components: [] };
 * const result: CompareResult = compareReports([
 *   { label: "A", schema: "x", summary: "", runs: [run] },
 *   { label: "B", schema: "x", summary: "", runs: [run] },
 * ]);
 * console.log(result.schema === COMPARE_SCHEMA_ID, result.method.resamples); // true 2000
 * ```
 */
export interface CompareResult {
  schema: typeof COMPARE_SCHEMA_ID;
  /** How the interval was obtained, stated. */
  method: { test: string; resamples: number; confidence: number; seed: number; minSamples: number };
  inputs: { label: string; schema: string; summary: string }[];
  /** The baseline against each other input, in order. */
  pairs: PairComparison[];
  /** Matching ignored the model shape (`ignoreShape`). */
  ignoreShape: boolean;
}

/**
 * Options of {@link compareReports}.
 *
 * @example
 * ```ts
 * import type { CompareOptions } from "@perfmamba/perfmamba";
 *
 * // Dense against pruned: the shapes differ on purpose, so match by architecture, mode, batch and length only.
 * const options: CompareOptions = { seed: 7, ignoreShape: true };
 * console.log(options.ignoreShape); // true
 * ```
 */
export interface CompareOptions {
  /** Seed of the bootstrap (default 1). */
  seed?: number;
  /**
   * Match runs without the model shape (e.g. dense against pruned, where the shapes differ on purpose); runs of the
   * same (arch, mode, batch, length) within one report then pair in order.
   */
  ignoreShape?: boolean;
}

/**
 * A comparison that cannot be made: reports with no run in common.
 *
 * @example
 * ```ts
 * import { CompareError, compareReports } from "@perfmamba/perfmamba";
 *
 * const run = (mode: string) => ({ key: { arch: "mamba1", shape: "s", mode, batch: 1, seqLen: 8 }, model: "m",
 *   fingerprint: null, endToEnd: { name: "end-to-end", median: 1, samples: null }, components: [] });
 * try {
 *   compareReports([
 *     { label: "A", schema: "x", summary: "", runs: [run("prefill")] },
 *     { label: "B", schema: "x", summary: "", runs: [run("decode")] },
 *   ]);
 * } catch (e) {
 *   console.log(e instanceof CompareError); // true
 * }
 * ```
 */
export class CompareError extends Error {
  override name = "CompareError";
}

/**
 * The dimensions that decide a model's work, as one readable line (runs are matched on it): architecture-specific
 * fields are left out where they are 0. A pruned model's per-layer state sizes are not part of it (its `dState`
 * is); the model fingerprint tells such models apart ({@link RunComparison.sameFingerprint}).
 *
 * @example
 * ```ts
 * import { makeConfig, modelShape } from "@perfmamba/perfmamba";
 *
 * console.log(modelShape(makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 })));
 * // d_model=64 n_layer=2 d_inner=128 d_state=16 vocab=256 d_conv=4 dt_rank=4
 * ```
 */
export function modelShape(
  c: ProfiledModel["config"] | {
    dModel: number;
    nLayer: number;
    dInner: number;
    dState: number;
    vocabSize: number;
    dConv: number;
    arch?: string;
    nHeads?: number;
    headDim?: number;
    nGroups?: number;
    chunkSize?: number;
    dtRank?: number;
  },
): string {
  const m = c as Record<string, unknown>;
  const mamba1 = m.arch === "mamba1" || (m.arch === undefined && !m.nHeads);
  const parts = [
    `d_model=${c.dModel}`,
    `n_layer=${c.nLayer}`,
    `d_inner=${c.dInner}`,
    `d_state=${c.dState}`,
    `vocab=${c.vocabSize}`,
    `d_conv=${c.dConv}`,
  ];
  if (mamba1) {
    if (m.dtRank) parts.push(`dt_rank=${m.dtRank}`);
  } else {
    if (m.nHeads) parts.push(`heads=${m.nHeads}x${m.headDim}`);
    if (m.nGroups) parts.push(`groups=${m.nGroups}`);
    if (m.chunkSize) parts.push(`chunk=${m.chunkSize}`);
  }
  return parts.join(" ");
}

/**
 * A run key as one line ("mamba1 <shape> prefill B1 L8").
 *
 * @example
 * ```ts
 * import { runKeyLabel } from "@perfmamba/perfmamba";
 *
 * console.log(runKeyLabel({ arch: "mamba2", shape: "d_model=64", mode: "decode", batch: 2, seqLen: 16 }));
 * // mamba2 d_model=64 decode B2 L16
 * ```
 */
export function runKeyLabel(k: CompareRunKey): string {
  return `${k.arch} ${k.shape} ${k.mode} B${k.batch} L${k.seqLen}`;
}

/**
 * A profile report (perfmamba.profile/3) in the form {@link compareReports} reads: one run per profiled run, the
 * end-to-end un-instrumented times and every component's per-pass times, preceded (timestamp-query reports) by the
 * whole pass's GPU time as the series {@link GPU_SERIES}.
 *
 * @example
 * ```ts
 * import {
 *   compareInputFromProfile,
 *   makeConfig,
 *   MambaModel,
 *   profileModels,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 3, peaks: null });
 * const input = compareInputFromProfile(report, "run A");
 * console.log(input.runs.length, input.runs[0].endToEnd.samples?.length); // 2 3
 * model.dispose();
 * backend.dispose();
 * ```
 */
export function compareInputFromProfile(report: ProfileReport, label: string): CompareInput {
  const env = report.environment;
  const summary = [
    `${env.backend}: ${env.description}`,
    env.timing,
    env.gpu ? `GPU ${env.gpu.description || [env.gpu.vendor, env.gpu.architecture].join(" ")}` : null,
    env.cpu?.model ? `CPU ${env.cpu.model} (${env.cpu.logicalCores ?? "?"} threads)` : null,
    env.runtime ? `${env.runtime.name} ${env.runtime.version}` : null,
    `${report.tool.name} ${report.tool.version}${env.git ? ` @ ${env.git.slice(0, 12)}` : ""}`,
  ].filter((s) => s !== null).join(" · ");
  return {
    label,
    schema: report.schema,
    summary,
    runs: report.runs.map((r) => {
      const m = report.models[r.model];
      return {
        key: {
          arch: r.arch,
          shape: modelShape({ ...m.config, arch: r.arch }),
          mode: r.mode,
          batch: r.batch,
          seqLen: r.seqLen,
        },
        model: m.name,
        fingerprint: m.fingerprint ?? null,
        endToEnd: { name: "end-to-end", median: r.endToEnd.ms.median, samples: r.endToEnd.samples ?? null },
        // GPU time of the whole pass (timestamp-query) first, beside the components: what a GPU comparison is about.
        components: [
          ...(r.endToEnd.gpuMs
            ? [{ name: GPU_SERIES, median: r.endToEnd.gpuMs.median, samples: r.endToEnd.gpuSamples ?? null }]
            : []),
          ...r.components.map((c) => ({ name: c.name, median: c.ms.median, samples: c.samples ?? null })),
        ],
      };
    }),
  };
}

/** FNV-1a (32 bits) of a string: the per-pair seed offset. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Interpolated quantile of sorted values. */
function quantile(sorted: number[], p: number): number {
  const i = (sorted.length - 1) * p, lo = Math.floor(i), hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

/**
 * Compare one quantity: medians, ratio B ÷ A and the percentile-bootstrap 95% interval of the ratio of medians
 * ({@link COMPARE_RESAMPLES} resamples from `mulberry32(seed)`).
 *
 * @example
 * ```ts
 * import { compareSeries } from "@perfmamba/perfmamba";
 *
 * const a = { name: "ssm", median: 3, samples: [1, 2, 3, 4, 5] };
 * const same = compareSeries(a, { ...a }, 1);
 * console.log(same.ratio, same.verdict); // 1 within noise
 * const slow = compareSeries(a, { name: "ssm", median: 30, samples: [10, 20, 30, 40, 50] }, 1);
 * console.log(slow.ratio, slow.interval![0] > 1, slow.verdict); // 10 true slower
 * ```
 */
export function compareSeries(a: CompareSeries, b: CompareSeries, seed: number): SeriesComparison {
  const base = {
    name: a.name,
    a: { median: a.median, n: a.samples?.length ?? 0 },
    b: { median: b.median, n: b.samples?.length ?? 0 },
  };
  const ratio = a.median > 0 ? b.median / a.median : null;
  const untested = (note: string): SeriesComparison => ({ ...base, ratio, interval: null, verdict: "untested", note });
  if (ratio === null) return untested("the baseline's median is 0");
  if (!a.samples || !b.samples) return untested("no per-pass samples in the report");
  if (a.samples.length < COMPARE_MIN_SAMPLES || b.samples.length < COMPARE_MIN_SAMPLES) {
    return untested(`fewer than ${COMPARE_MIN_SAMPLES} samples on a side`);
  }
  const rand = mulberry32(seed);
  const xs = a.samples, ys = b.samples;
  const bufA = new Array<number>(xs.length), bufB = new Array<number>(ys.length);
  const median = (buf: number[]) => {
    buf.sort((p, q) => p - q);
    return quantile(buf, 0.5);
  };
  const ratios = new Array<number>(COMPARE_RESAMPLES);
  for (let r = 0; r < COMPARE_RESAMPLES; r++) {
    for (let i = 0; i < xs.length; i++) bufA[i] = xs[Math.floor(rand() * xs.length)];
    for (let i = 0; i < ys.length; i++) bufB[i] = ys[Math.floor(rand() * ys.length)];
    const ma = median(bufA);
    ratios[r] = ma > 0 ? median(bufB) / ma : Infinity;
  }
  ratios.sort((p, q) => p - q);
  const interval: [number, number] = [quantile(ratios, 0.025), quantile(ratios, 0.975)];
  const verdict: CompareVerdict = interval[1] < 1 ? "faster" : interval[0] > 1 ? "slower" : "within noise";
  return { ...base, ratio, interval, verdict };
}

function keyString(k: CompareRunKey, ignoreShape: boolean): string {
  return [k.arch, ignoreShape ? "" : k.shape, k.mode, k.batch, k.seqLen].join("|");
}

/** Runs by match key; a key that occurs again within one report gets its occurrence number. */
function indexRuns(runs: CompareRun[], ignoreShape: boolean): Map<string, CompareRun> {
  const out = new Map<string, CompareRun>();
  const seen = new Map<string, number>();
  for (const r of runs) {
    const k = keyString(r.key, ignoreShape);
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    out.set(n === 1 ? k : `${k}#${n}`, r);
  }
  return out;
}

function compareRun(a: CompareRun, b: CompareRun, seed: number): RunComparison {
  const s = (name: string) => (seed + hash32(`${keyString(a.key, false)}|${name}`)) >>> 0;
  const bByName = new Map(b.components.map((c) => [c.name, c]));
  const aNames = new Set(a.components.map((c) => c.name));
  return {
    key: a.key,
    modelA: a.model,
    modelB: b.model,
    sameFingerprint: a.fingerprint !== null && b.fingerprint !== null ? a.fingerprint === b.fingerprint : null,
    endToEnd: compareSeries(a.endToEnd, b.endToEnd, s("end-to-end")),
    components: a.components.filter((c) => bByName.has(c.name)).map((c) =>
      compareSeries(c, bByName.get(c.name)!, s(c.name))
    ),
    onlyInA: a.components.filter((c) => !bByName.has(c.name)).map((c) => c.name),
    onlyInB: b.components.filter((c) => !aNames.has(c.name)).map((c) => c.name),
  };
}

/**
 * Compare reports: each against the first (the baseline). Runs are matched by architecture, model shape, mode,
 * batch and length (`ignoreShape`: without the shape), components by name; unmatched runs are listed per side.
 *
 * @throws CompareError with fewer than two inputs, or when the baseline and another input have no run in common
 * (the message names both and what each holds).
 *
 * @example
 * ```ts
 * import { compareReports } from "@perfmamba/perfmamba";
 *
 * const key = { arch: "mamba1", shape: "d_model=64", mode: "prefill", batch: 1, seqLen: 8 };
 * const input = (label: string, samples: number[]) => ({
 *   label,
 *   schema: "perfmamba.profile/3",
 *   summary: "",
 *   runs: [{
 *     key,
 *     model: "tiny",
 *     fingerprint: null,
 *     endToEnd: { name: "end-to-end", median: samples.toSorted((x, y) => x - y)[2], samples },
 *     components: [],
 *   }],
 * });
 * const result = compareReports([input("f32", [10, 11, 10.5, 10.2, 10.8]), input("q8", [6, 6.3, 6.1, 6.2, 5.9])]);
 * const e2e = result.pairs[0].runs[0].endToEnd;
 * console.log(e2e.ratio!.toFixed(3), e2e.verdict); // 0.581 faster
 * ```
 */
export function compareReports(inputs: CompareInput[], options: CompareOptions = {}): CompareResult {
  if (inputs.length < 2) throw new CompareError("compare: give at least two reports");
  const seed = options.seed ?? 1;
  const ignoreShape = options.ignoreShape ?? false;
  const [baseline, ...others] = inputs;
  const baseRuns = indexRuns(baseline.runs, ignoreShape);
  const pairs: PairComparison[] = others.map((other, i) => {
    const otherRuns = indexRuns(other.runs, ignoreShape);
    const runs: RunComparison[] = [];
    const unmatchedA: PairComparison["unmatchedA"] = [];
    for (const [k, a] of baseRuns) {
      const b = otherRuns.get(k);
      if (b) runs.push(compareRun(a, b, seed));
      else unmatchedA.push({ ...a.key, model: a.model });
    }
    const unmatchedB = [...otherRuns].filter(([k]) => !baseRuns.has(k)).map(([, b]) => ({ ...b.key, model: b.model }));
    if (runs.length === 0) {
      const list = (rs: CompareRun[]) =>
        rs.length === 0 ? "no runs" : rs.slice(0, 4).map((r) => runKeyLabel(r.key)).join("; ") +
          (rs.length > 4 ? `; … (${rs.length} runs)` : "");
      throw new CompareError(
        `${baseline.label} and ${other.label} have no run in common (matched by architecture, ` +
          `${ignoreShape ? "" : "model shape, "}mode, batch and length): ${baseline.label} has ${
            list(baseline.runs)
          }; ${other.label} has ${list(other.runs)}`,
      );
    }
    return { a: 0, b: i + 1, runs, unmatchedA, unmatchedB };
  });
  return {
    schema: COMPARE_SCHEMA_ID,
    method: {
      test: "percentile bootstrap of the ratio of medians (B ÷ A), samples of each side resampled with replacement",
      resamples: COMPARE_RESAMPLES,
      confidence: 0.95,
      seed,
      minSamples: COMPARE_MIN_SAMPLES,
    },
    inputs: inputs.map(({ label, schema, summary }) => ({ label, schema, summary })),
    pairs,
    ignoreShape,
  };
}
