/**
 * The profile report: what {@link profileModels} returns and `perfmamba profile` writes as `profile.json`.
 * Plain JSON data (no classes, no typed arrays), versioned by {@link PROFILE_SCHEMA_ID}; its JSON Schema is
 * `PROFILE_JSON_SCHEMA` (profile_schema.ts).
 *
 * Units: times in milliseconds, sizes in bytes, rates in GFLOP/s and GB/s (10⁹ bytes per second).
 *
 * @module
 */

import type { Component } from "./model.ts";

/**
 * Version tag of the report format; bumped when a field changes meaning or disappears. /2: the weights' real
 * format (`environment.weights` may be q8_0 / q4_0 / mixed; each model's `weightFormat`). /3: every measured pass's
 * raw time (`samples` beside the end-to-end and component Stats), the host (`environment.git`, `cpu`, `gpu`,
 * `runtime`) and each model's `fingerprint`, so that reports can be matched and compared (`compareReports`).
 *
 * @example
 * ```ts
 * import { PROFILE_SCHEMA_ID, type ProfileReport } from "@perfmamba/perfmamba";
 *
 * // Check the version of a profile.json before reading it.
 * function readProfile(json: string): ProfileReport {
 *   const report = JSON.parse(json);
 *   if (report?.schema !== PROFILE_SCHEMA_ID) {
 *     throw new Error(`not a ${PROFILE_SCHEMA_ID} report (schema: ${report?.schema})`);
 *   }
 *   return report as ProfileReport;
 * }
 * console.log(PROFILE_SCHEMA_ID); // perfmamba.profile/3
 * try {
 *   readProfile('{"schema": "perfmamba.profile/0"}');
 * } catch (e) {
 *   console.log((e as Error).message); // not a perfmamba.profile/3 report (schema: perfmamba.profile/0)
 * }
 * ```
 */
export const PROFILE_SCHEMA_ID = "perfmamba.profile/3";

/**
 * How component latencies were measured.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   profileModels,
 *   selectBackend,
 *   syntheticWeights,
 *   type TimingMethod,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null });
 *
 * const method: TimingMethod = report.environment.timing;
 * console.log(method); // wall-clock (the WASM backend's ops are synchronous)
 * const exact = method === "timestamp-query"; // only GPU timestamps resolve sub-microsecond kernels
 * console.log(exact, report.environment.timingNote);
 * model.dispose();
 * backend.dispose();
 * ```
 */
export type TimingMethod =
  /** GPU time of one compute pass per component and layer, from `timestamp-query`. */
  | "timestamp-query"
  /** Wall time between GPU fences (a sync after each component), minus the measured cost of an empty sync. */
  | "fenced"
  /** performance.now() around each (synchronous) CPU op. */
  | "wall-clock";

/**
 * Summary statistics of repeated measurements (ms).
 *
 * @example
 * ```ts
 * import { type Stats, stats } from "@perfmamba/perfmamba";
 *
 * const s: Stats = stats([4.1, 3.9, 4.0, 5.2]);
 * console.log(`${s.median.toFixed(2)} ms (IQR ${s.iqr.toFixed(2)}, n = ${s.n})`); // 4.05 ms (IQR 0.40, n = 4)
 * if (s.min !== 3.9 || s.max !== 5.2) throw new Error("min and max are the extreme samples");
 * ```
 */
export interface Stats {
  /** Number of samples. */
  n: number;
  /** Arithmetic mean. */
  mean: number;
  /** Median (p50, interpolated): the figure reports quote. */
  median: number;
  /** Smallest sample. */
  min: number;
  /** Largest sample. */
  max: number;
  /** Sample standard deviation (0 for one sample). */
  std: number;
  /** Interquartile range (p75 − p25): the spread reported beside the median. */
  iqr: number;
}

/**
 * Bytes a component moves through memory per forward pass (minimum traffic: every operand once).
 *
 * @example
 * ```ts
 * import {
 *   type BytesMoved,
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
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null });
 *
 * for (const c of report.runs[0].components) {
 *   const b: BytesMoved = c.bytes;
 *   if (b.total !== b.weights + b.activations + b.state) throw new Error("total is the sum of the three");
 *   console.log(c.name, `${(b.total / 1024).toFixed(1)} KiB`, `${(c.gbs).toFixed(2)} GB/s`);
 * }
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface BytesMoved {
  /** Weights read. */
  weights: number;
  /** Activations read and written. */
  activations: number;
  /** Recurrent state (conv and SSM) read and written. */
  state: number;
  /** Sum of the three. */
  total: number;
}

/**
 * Bytes a component holds.
 *
 * @example
 * ```ts
 * import {
 *   type ComponentMemory,
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
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null });
 *
 * const prefill = report.runs.find((r) => r.mode === "prefill")!;
 * for (const c of prefill.components) {
 *   const m: ComponentMemory = c.memory;
 *   console.log(c.name.padEnd(9), { weights: m.weights, outputs: m.activations, state: m.state, scratch: m.scratch });
 * }
 * const ssm = prefill.components.find((c) => c.name === "ssm")!;
 * console.log(ssm.memory.state); // 16384: 2 layers · 128 channels · 16 states · 4 bytes
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ComponentMemory {
  /** Its parameters on the backend. */
  weights: number;
  /** Net bytes of new tensors it leaves allocated (its outputs), measured from the backend's allocator. */
  activations: number;
  /** Recurrent state it owns (conv / SSM state of every layer, for the batch). */
  state: number;
  /** Temporary bytes above its outputs while it ran (peak − live after it), from the allocator. */
  scratch: number;
}

/**
 * Roofline position of a component against the measured device peaks.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   profileModels,
 *   type Roofline,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], {
 *   seqLens: [8],
 *   warmup: 0,
 *   iters: 1,
 *   // Given peaks (ridge point 200 / 20 = 10 FLOP/byte); the default "measure" runs the backend's benchmarks.
 *   peaks: { bandwidthGBs: 20, gemmGflops: 200, detail: "assumed" },
 * });
 *
 * for (const c of report.runs[0].components) {
 *   const r: Roofline | null = c.roofline;
 *   if (r) console.log(c.name, r.intensity.toFixed(2), "FLOP/B", r.bound, `${(100 * r.ofAttainable).toFixed(0)}%`);
 * }
 * const lmHead = report.runs[0].components.find((c) => c.name === "lm_head")!;
 * console.log(lmHead.roofline?.bound); // memory (one row of logits: 0.49 FLOP/byte)
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface Roofline {
  /** FLOPs per byte moved. */
  intensity: number;
  /** min(peak GFLOP/s, intensity × peak GB/s). */
  attainableGflops: number;
  /** "memory" when intensity is below the ridge point (peak GFLOP/s ÷ peak GB/s), else "compute". */
  bound: "memory" | "compute";
  /**
   * Achieved GFLOP/s ÷ attainable (0‥1, can exceed 1 when data stays in caches); for a component without FLOPs
   * (embedding gather), achieved GB/s ÷ peak bandwidth.
   */
  ofAttainable: number;
}

/**
 * One component of the block (all layers summed) in one run.
 *
 * @example
 * ```ts
 * import {
 *   type ComponentProfile,
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
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null });
 *
 * // Where the time goes in prefill, slowest first.
 * const prefill = report.runs.find((r) => r.mode === "prefill")!;
 * const ranked: ComponentProfile[] = prefill.components.toSorted((a, b) => b.share - a.share);
 * for (const c of ranked.slice(0, 3)) {
 *   console.log(c.name, `${(100 * c.share).toFixed(1)}%`, `${c.ms.median.toFixed(3)} ms`, `${c.layers} layers`);
 * }
 * const ssm = prefill.components.find((c) => c.name === "ssm")!;
 * console.log(ssm.layers, ssm.perLayerMs.length); // 2 2
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ComponentProfile {
  /** Component name (see {@link Component}). */
  name: Component;
  /** Layers it appears in (1 for embedding, norm_f, lm_head). */
  layers: number;
  /** Latency per forward pass, summed over layers (timestamp-query: net of passes × passOverheadMs). */
  ms: Stats;
  /** The raw figures `ms` summarises: one per instrumented pass, in the order they ran (ms). */
  samples: number[];
  /** Timed compute passes it took per forward pass (timestamp-query; else its instances, one per layer). */
  passes: number;
  /** Share of the summed component time (median-based, 0‥1). */
  share: number;
  /** Analytic FLOPs per forward pass (formulas in runtime/cost.ts). */
  flops: number;
  /** Analytic bytes per forward pass. */
  bytes: BytesMoved;
  /** flops ÷ median time. */
  gflops: number;
  /** bytes.total ÷ median time. */
  gbs: number;
  /** Against the measured peaks; null when peaks were not measured. */
  roofline: Roofline | null;
  /** Bytes held (weights, outputs, state, scratch). */
  memory: ComponentMemory;
  /** Median latency of each layer's instance (ms), indexed by layer; one entry outside the blocks. */
  perLayerMs: number[];
}

/**
 * One timed span of the representative iteration, for traces (ms from the start of the forward pass).
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   profileModels,
 *   selectBackend,
 *   syntheticWeights,
 *   type TraceSpan,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null });
 *
 * // Chrome trace events (chrome://tracing, Perfetto) of the prefill pass: times in microseconds.
 * const spans: TraceSpan[] = report.runs[0].trace;
 * const traceEvents = spans.map((s) => ({
 *   name: s.layer < 0 ? s.component : `${s.component} L${s.layer}`,
 *   ph: "X",
 *   ts: s.start * 1e3,
 *   dur: s.duration * 1e3,
 *   pid: 1,
 *   tid: 1,
 * }));
 * console.log(traceEvents[0].name, traceEvents.at(-1)!.name); // embedding lm_head
 * const traceJson = JSON.stringify({ traceEvents }); // save as trace.json
 * console.log(traceJson.startsWith('{"traceEvents":[')); // true
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface TraceSpan {
  /** The component that ran. */
  component: Component;
  /** Layer index, −1 outside the blocks. */
  layer: number;
  /** Start, ms from the start of the forward pass. */
  start: number;
  /** Duration, ms. */
  duration: number;
}

/**
 * End-to-end figures of a run.
 *
 * @example
 * ```ts
 * import {
 *   type EndToEnd,
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
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 1, iters: 1, peaks: null });
 *
 * for (const run of report.runs) {
 *   const e: EndToEnd = run.endToEnd;
 *   // prefill: time to first token; decode: time per output token.
 *   console.log(run.mode, `${e.ms.median.toFixed(3)} ms`, `${e.tokensPerS.toFixed(0)} tok/s`);
 *   console.log("  profiling overhead", `${e.overheadPct.toFixed(0)}%`, "coverage", e.coverage.toFixed(2));
 *   if (e.gpuMs !== null) throw new Error("GPU time needs WebGPU with timestamp-query");
 * }
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface EndToEnd {
  /** Wall time of an un-instrumented forward pass (prefill: TTFT of the batch; decode: time per step). */
  ms: Stats;
  /** The raw figures `ms` summarises: each un-instrumented pass's wall time, in the order they ran (ms). */
  samples: number[];
  /** Tokens per second from the median: batch × seqLen / ms for prefill, batch / ms for decode. */
  tokensPerS: number;
  /** Wall time of the instrumented forward passes. */
  instrumentedMs: Stats;
  /** instrumented ÷ un-instrumented median − 1, in percent. */
  overheadPct: number;
  /**
   * GPU time of the forward pass recorded as one timed scope (timestamp-query only, else null): the reference the
   * per-component GPU times must add up to.
   */
  gpuMs: Stats | null;
  /** The raw figures `gpuMs` summarises, one per timed pass (timestamp-query only, else null). */
  gpuSamples: number[] | null;
  /**
   * timestamp-query only (else null): GPU cost of one extra compute pass, measured by running the pass with one
   * timed compute pass per kernel and comparing with the single timed scope ((Σ per-kernel − whole) ÷ extra
   * passes). Each component's time is its timed passes minus this overhead per pass.
   */
  passOverheadMs: number | null;
  /** Σ component medians before subtracting the pass overhead, ÷ referenceMs (= coverage without timestamps). */
  rawCoverage: number;
  /**
   * The reference the components are compared with: gpuMs with timestamp-query, else the instrumented wall time
   * (the passes the components were timed in).
   */
  referenceMs: number;
  /** Σ component medians ÷ referenceMs (1 = the components account for all of it). */
  coverage: number;
  /**
   * Decode on a backend with fused decode kernels (`capabilities.fusedDecode`), else null. The components, `ms`,
   * `gpuMs` and `instrumentedMs` above come from the unfused ops (hooks take that path; fused kernels cannot be
   * timed apart per component); this is the fused step's end-to-end figure, measured in the same run, interleaved.
   * Absent in reports written before it existed.
   */
  fusedDecode?: FusedDecodeTiming | null;
}

/**
 * The fused decode step timed beside the unfused one ({@link EndToEnd.fusedDecode}).
 *
 * @example
 * ```ts
 * import type { FusedDecodeTiming } from "@perfmamba/perfmamba";
 *
 * // What a report of a 24-layer model on WebGPU may hold: fewer dispatches, less time per step.
 * const f: FusedDecodeTiming = {
 *   ms: { n: 5, mean: 3.12, median: 3.1, min: 3, max: 3.3, std: 0.1, iqr: 0.1 },
 *   gpuMs: null,
 *   dispatches: 98,
 *   unfusedDispatches: 219,
 * };
 * console.log(`${f.dispatches} dispatches instead of ${f.unfusedDispatches}`); // 98 dispatches instead of 219
 * ```
 */
export interface FusedDecodeTiming {
  /** Wall time of an un-instrumented fused decode step. */
  ms: Stats;
  /** GPU time of the fused step as one timed scope (timestamp-query only, else null). */
  gpuMs: Stats | null;
  /** Kernel dispatches of one fused step, and of one unfused step (null where the backend does not count). */
  dispatches: number | null;
  unfusedDispatches: number | null;
}

/**
 * Memory of a run (bytes, from the backend's allocator).
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   profileModels,
 *   type RunMemory,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null });
 *
 * const decode = report.runs.find((r) => r.mode === "decode")!;
 * const m: RunMemory = decode.memory;
 * console.log(`peak ${(m.peak / 1024).toFixed(0)} KiB, of which weights ${m.weights} and state ${m.state}`);
 * console.log(m.weights, m.state); // 327424 19456
 * if (m.peak < m.baseline) throw new Error("the peak includes what was live before the pass");
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface RunMemory {
  /** Live bytes before the pass (weights and state). */
  baseline: number;
  /** Highest live bytes during the pass. */
  peak: number;
  /** Of which weights (all matrices and vectors of the model). */
  weights: number;
  /** Of which recurrent state for the batch. */
  state: number;
}

/**
 * One (model, mode, batch, sequence length) measurement.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   profileModels,
 *   type ProfileRun,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const options = { seqLens: [8, 16], warmup: 0, iters: 1, peaks: null };
 * const report = await profileModels([{ model, name: "tiny" }], options);
 *
 * // One run per mode and length: prefill L8, prefill L16, decode L8, decode L16.
 * const runs: ProfileRun[] = report.runs;
 * for (const run of runs) {
 *   const name = report.models[run.model].name;
 *   console.log(`${name} ${run.mode} L${run.seqLen}: ${run.endToEnd.ms.median.toFixed(3)} ms, ${run.flops} FLOPs`);
 * }
 * console.log(runs.length); // 4
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ProfileRun {
  /** Index into {@link ProfileReport.models}. */
  model: number;
  /** Architecture of that model. */
  arch: "mamba1" | "mamba2";
  /** "prefill": one pass over the prompt (TTFT); "decode": one recurrent step (TPOT). */
  mode: "prefill" | "decode";
  /** Sequences per pass. */
  batch: number;
  /** Prefill: prompt length. Decode: the context length the steps continue from. */
  seqLen: number;
  /** Latency and throughput of the whole pass. */
  endToEnd: EndToEnd;
  /** Each component present in the architecture, in forward order. */
  components: ComponentProfile[];
  /** Analytic FLOPs of the whole pass. */
  flops: number;
  /** Analytic bytes the whole pass moves. */
  bytes: number;
  /** Memory held during the pass. */
  memory: RunMemory;
  /** Spans of the iteration with the median instrumented time. */
  trace: TraceSpan[];
  /** How many passes the run took and why it stopped (absent in reports written before adaptive repetitions). */
  repetitions?: RunRepetitions;
}

/**
 * How a run's repetitions went: warm-up passes discarded, iterations measured, why it stopped, and the 95 %
 * distribution-free interval of its end-to-end median (order statistics; see `medianInterval`).
 *
 * @example
 * ```ts
 * import { makeConfig, MambaModel, profileModels, type RunRepetitions, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], modes: ["decode"], peaks: null });
 * const r: RunRepetitions = report.runs[0].repetitions!;
 * console.log(r.stopReason, r.iters, r.relHalfWidth); // e.g. precision 6 0.012
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface RunRepetitions {
  /** Warm-up passes discarded. */
  warmup: number;
  /** Iterations measured (plain and instrumented passes each). */
  iters: number;
  /** "precision": the interval reached the precision asked; "budget": the time budget (or maxIters) ran out; "iters": a forced count. */
  stopReason: "precision" | "budget" | "iters";
  /** 95 % interval of the end-to-end median (ms), exact coverage; null with fewer than 6 samples. */
  interval: { lo: number; hi: number; coverage: number } | null;
  /** Half the interval's width ÷ the median; null without an interval. */
  relHalfWidth: number | null;
  /** Wall time of the run, warm-up included (ms); a decode run's prompt prefill is not (the prefill run's warm-up). */
  ms: number;
}

/**
 * A profiled model.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   type ProfiledModel,
 *   profileModels,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null });
 *
 * const info: ProfiledModel = report.models[0];
 * console.log(info.name, info.arch, info.config.dModel, info.config.dState); // tiny mamba1 64 16
 * if (info.parameters !== model.parameterCount) throw new Error("parameters are the model's");
 * console.log(info.parameters, info.weightBytes); // 81856 327424 (f32)
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ProfiledModel {
  /** Display name ("mamba2-130m (random weights)" or the checkpoint folder). */
  name: string;
  /** Architecture. */
  arch: "mamba1" | "mamba2";
  /** Main dimensions. */
  config: {
    dModel: number;
    nLayer: number;
    dInner: number;
    dState: number;
    vocabSize: number;
    dConv: number;
    /** Mamba-2 only (0 for Mamba-1). */
    nHeads: number;
    headDim: number;
    nGroups: number;
    chunkSize: number;
    /** Mamba-1 only (0 for Mamba-2). */
    dtRank: number;
  };
  /** Parameter count. */
  parameters: number;
  /** Bytes of the parameters on the backend, each matrix counted in its format (q8_0: 34 bytes per 32 weights). */
  weightBytes: number;
  /** The formats its weights ran in. */
  weightFormat: WeightFormatReport;
  /**
   * 16 hex digits (FNV-1a, 64 bits) of the model's architecture, full configuration (per-layer state sizes of a
   * pruned model included) and each matrix's format: the tensor index (names, shapes, dtypes) follows from these,
   * so two runs with the same fingerprint ran the same tensors. Random and trained weights of one shape share it.
   */
  fingerprint: string;
}

/**
 * How a weight matrix is stored: the backend's float format, or ggml-compatible blocks of 32 (QuantFormat).
 *
 * @example
 * ```ts
 * import type { MatrixFormat } from "@perfmamba/perfmamba";
 *
 * // Bytes per 32 weights of each format (q8_0 and q4_0 are GGUF's blocks: an f16 scale and the codes).
 * const bytesPer32: Record<MatrixFormat, number> = { f32: 128, f16: 64, q8_0: 34, q4_0: 18 };
 * console.log(bytesPer32.q8_0 / bytesPer32.f32); // 0.265625
 * ```
 */
export type MatrixFormat = "f32" | "f16" | "q8_0" | "q4_0";

/**
 * The formats a profiled model's weight matrices really ran in (vectors — norms, A, D, biases, conv — are f32).
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   profileModels,
 *   quantizeWeights,
 *   selectBackend,
 *   syntheticWeights,
 *   type WeightFormatReport,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(quantizeWeights(syntheticWeights(config, 1), { bits: 8 }), backend);
 * const report = await profileModels([{ model, name: "q8" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null });
 * const f: WeightFormatReport = report.models[0].weightFormat;
 * console.log(f.matrices, f.embedding, report.environment.weights); // q8_0 f32 q8_0
 * console.log(f.label.startsWith("q8_0, embedding f32")); // true
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface WeightFormatReport {
  /** The layers' weight matrices (in_proj, x_proj, dt_proj, out_proj): their one format, or "mixed". */
  matrices: MatrixFormat | "mixed";
  /** The token embedding (also the lm_head when tied). */
  embedding: MatrixFormat;
  /** Each matrix component of the model (embedding, layer matrices, lm_head when untied) and its format. */
  components: Partial<Record<Component, MatrixFormat>>;
  /**
   * The arithmetic of a quantized matrix's products where the backend reports it (`quantActivations` in its
   * capabilities, e.g. "f32" for dequantized in registers, "int16" for quantized activations), else null.
   */
  activations: string | null;
  /**
   * One line, e.g. "q8_0, embedding f32" or "mixed (q8_0: in_proj, x_proj, out_proj; f32: dt_proj), embedding f32",
   * with ", activations …" when known.
   */
  label: string;
}

/**
 * Device peaks measured by the backend's own micro-benchmarks.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   profileModels,
 *   type ProfilePeaks,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], {
 *   seqLens: [8],
 *   warmup: 0,
 *   iters: 1,
 *   peaks: { bandwidthGBs: 20, gemmGflops: 200, detail: "from the datasheet" }, // or "measure" (default)
 * });
 *
 * const peaks: ProfilePeaks | null = report.environment.peaks;
 * if (peaks) console.log(`ridge point ${peaks.gemmGflops / peaks.bandwidthGBs} FLOP/byte (${peaks.detail})`);
 * // ridge point 10 FLOP/byte (from the datasheet)
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ProfilePeaks {
  /** Memory bandwidth, GB/s. */
  bandwidthGBs: number;
  /** Matrix-multiply throughput, GFLOP/s. */
  gemmGflops: number;
  /** How they were obtained, in words. */
  detail: string;
}

/**
 * The GPU adapter a profile ran on, as the host exposes it (`GPUAdapter.info`; empty strings where it hides them).
 *
 * @example
 * ```ts
 * import type { GpuAdapterInfo } from "@perfmamba/perfmamba";
 *
 * const info: GpuAdapterInfo = { vendor: "nvidia", architecture: "hopper", device: "", description: "NVIDIA H100" };
 * console.log(info.description || [info.vendor, info.architecture].join(" ")); // NVIDIA H100
 * ```
 */
export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

/**
 * What a reader needs to trust and match a report: the program's checkout, the CPU, the GPU adapter and the
 * runtime. `profileModels` fills what a web platform exposes (`navigator.hardwareConcurrency`, `userAgent`); the
 * caller passes the rest (the CLI: `git rev-parse HEAD`, the CPU model, `Deno.version`, the adapter's info).
 *
 * @example
 * ```ts
 * import {
 *   type HostInfo,
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
 * const host: Partial<HostInfo> = { git: "0123abc", runtime: { name: "deno", version: "2.9.6" } };
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null, host });
 * console.log(report.environment.git, report.environment.runtime.name, report.environment.gpu); // 0123abc deno null
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface HostInfo {
  /** The git commit the program ran from (a checkout), else null. */
  git: string | null;
  /** CPU model name (null where the host hides it) and logical cores. */
  cpu: { model: string | null; logicalCores: number | null };
  /** The GPU adapter (WebGPU backends where the host exposes it), else null. */
  gpu: GpuAdapterInfo | null;
  /** The JavaScript runtime: "deno" and Deno.version.deno, or "browser" and the user agent. */
  runtime: { name: string; version: string };
}

/**
 * The whole profile.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   profileModels,
 *   type ProfileReport,
 *   selectBackend,
 *   syntheticWeights,
 *   VERSION,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null });
 *
 * // Plain JSON: save it as profile.json, read it back with the same type.
 * const json = JSON.stringify(report, null, 2);
 * const loaded: ProfileReport = JSON.parse(json);
 * console.log(loaded.schema, loaded.tool.version === VERSION); // perfmamba.profile/3 true
 * console.log(loaded.environment.backend, loaded.options.seqLens, loaded.runs.length); // wasm [ 8 ] 2
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ProfileReport {
  /** Format version: {@link PROFILE_SCHEMA_ID}. */
  schema: typeof PROFILE_SCHEMA_ID;
  /** ISO 8601 time the profile finished. */
  createdAt: string;
  /** The program that made it ("perfmamba" and its `VERSION`). */
  tool: { name: string; version: string };
  /** Where it ran and how it was timed. */
  environment: {
    /** "webgpu" or "wasm". */
    backend: string;
    /** Adapter / threads description. */
    description: string;
    timing: TimingMethod;
    /** What the timing method measures and costs, in words. */
    timingNote: string;
    /** Host: navigator.userAgent or similar. */
    host: string;
    /**
     * The layers' weight matrices of every model: their one format, or "mixed" (different formats within a model
     * or between models; each model's `weightFormat` says which).
     */
    weights: MatrixFormat | "mixed";
    peaks: ProfilePeaks | null;
  } & HostInfo;
  /** The options it ran with, defaults filled in (see `ProfileOptions`). */
  options: {
    seqLens: number[];
    batch: number;
    modes: ("prefill" | "decode")[];
    warmup: number;
    iters: number;
    /**
     * How repetitions were chosen (absent in older reports): a forced count, or adaptive with its precision,
     * confidence, per-point budget and bounds; `warmup` null when adaptive. With adaptive repetitions `warmup` and
     * `iters` above are the most any run used.
     */
    repetitions?: {
      adaptive: boolean;
      warmup: number | null;
      precision?: number;
      confidence?: number;
      maxMs?: number;
      minIters?: number;
      maxIters?: number;
    };
  };
  /** The models profiled. */
  models: ProfiledModel[];
  /** One per (model, mode, sequence length), in that order. */
  runs: ProfileRun[];
}
