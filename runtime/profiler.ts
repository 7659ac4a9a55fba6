/**
 * The component-level profiler: where a Mamba block spends its time, memory and bandwidth, in prefill (TTFT) and
 * decode (TPOT). Runs anywhere the model runs (Deno, browsers, workers) and returns a {@link ProfileReport}.
 *
 * How each figure is obtained:
 * - **Latency.** Every component runs between the model's `begin`/`end` hooks. On a backend with a
 *   {@link PassTimer} (WebGPU with `timestamp-query`) each component of each layer is recorded as its own timed
 *   compute pass and its GPU time read from the timestamps ("timestamp-query"). On WebGPU without timestamps the
 *   profiler waits for the GPU after each component and subtracts the measured cost of an empty wait ("fenced";
 *   coarse where the host's wait is coarse, as in Deno). On the CPU (WASM; ops are synchronous) it takes
 *   `performance.now()` around each component ("wall-clock").
 * - **End to end.** Un-instrumented passes (no hooks, no timing) interleaved with the instrumented ones give the
 *   latency a user sees and the profiling overhead. With timestamps, a third kind of pass records the whole
 *   forward as one timed scope: the GPU time the per-component GPU times must add up to (coverage).
 * - **FLOPs and bytes** are analytic (runtime/cost.ts); achieved GFLOP/s and GB/s divide them by the median time,
 *   and the roofline compares them with the backend's own measured peaks (`Backend.measurePeaks`).
 * - **Memory** comes from the backend's allocator (`memory()`): what each component leaves allocated (its
 *   outputs), what it needed on top while running (scratch), the run's peak; weights and state are analytic.
 *
 * @module
 */

import type { Backend, DevicePeaks } from "./backend.ts";
import { type GpuTime, gpuTimeOf } from "./gpu_time.ts";
import {
  COMPONENTS,
  componentStateBytes,
  componentWeightBytes,
  forwardBytes,
  forwardFlops,
  type MatrixBytes,
  quantizedMatrixBytes,
} from "./cost.ts";
import { fusedDecodeAvailable } from "./fused_step.ts";
import type { Component, ForwardHooks, MambaModel } from "./model.ts";
import {
  type ComponentProfile,
  type FusedDecodeTiming,
  type GpuAdapterInfo,
  type HostInfo,
  type MatrixFormat,
  PROFILE_SCHEMA_ID,
  type ProfiledModel,
  type ProfileReport,
  type ProfileRun,
  type Stats,
  type TimingMethod,
  type TraceSpan,
  type WeightFormatReport,
} from "./profile_report.ts";
import { mulberry32 } from "./sampling.ts";
import {
  checkRepetitionOptions,
  medianInterval,
  REPETITION_DEFAULTS,
  type RepetitionOptions,
  shouldStop,
  type StopReason,
  withDefaults,
} from "./repetitions.ts";
import { estimatePointMs, PassClock, type PlannedPoint } from "./profile_eta.ts";
import { VERSION } from "./version.ts";

/**
 * Progress of a profile: one tick per forward pass run.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   type ProfileProgress,
 *   profileModels,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const ticks: ProfileProgress[] = [];
 * await profileModels([{ model, name: "tiny" }], {
 *   seqLens: [8],
 *   warmup: 0,
 *   iters: 1,
 *   peaks: null,
 *   onProgress: (p) => ticks.push(p), // e.g. update a progress bar with p.done / p.total
 * });
 * const last = ticks.at(-1)!;
 * console.log(ticks[0].label, `${last.done}/${last.total}`); // mamba1 prefill L8 4/4
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ProfileProgress {
  /** Forward passes run so far. */
  done: number;
  /** Forward passes the whole profile runs. */
  total: number;
  /** What is running ("mamba2 prefill L2048"). */
  label: string;
  /** The running model's name. */
  model: string;
  /** The running mode. */
  mode: "prefill" | "decode";
  /** ms since the profile started (peaks included). */
  elapsedMs: number;
  /**
   * Estimate of the ms left for the whole profile, from the per-pass times measured so far and the passes still
   * planned (an estimate: adaptive points stop when they stop); null until a pass of each remaining mode was timed.
   */
  leftMs: number | null;
  /** The same estimate for the running model and mode only. */
  modeLeftMs: number | null;
}

/**
 * Options of {@link profileModels}.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   type ProfileOptions,
 *   profileModels,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * // Prefill only, two prompt lengths, batch 2, one measured pass each, no roofline (peaks: null skips the
 * // backend's micro-benchmarks). The defaults measure [64, 512, 2048] tokens with 3 warm-up and 5 timed passes.
 * const options: ProfileOptions = { seqLens: [8, 16], batch: 2, modes: ["prefill"], warmup: 0, iters: 1, peaks: null };
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], options);
 * console.log(report.runs.map((r) => `${r.mode} ${r.batch}×${r.seqLen}`)); // [ "prefill 2×8", "prefill 2×16" ]
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ProfileOptions {
  /** Prompt lengths (prefill) and context lengths (decode). Default [64, 512, 2048]. */
  seqLens?: number[];
  /** Sequences per pass. Default 1. */
  batch?: number;
  /** Default both. */
  modes?: ("prefill" | "decode")[];
  /**
   * Un-timed passes before measuring. Default adaptive: plain passes until one agrees within 10 % with the one before
   * it (that one is kept as the first sample; at most 3 are discarded).
   */
  warmup?: number;
  /**
   * Measured passes of each kind: a forced count (stop reason "iters"). Default adaptive: see `precision`, `maxMs`,
   * `minIters`, `maxIters` ({@link RepetitionOptions}).
   */
  iters?: number;
  /** Adaptive: relative half-width of the 95 % interval of the end-to-end median to reach (default 0.03). */
  precision?: number;
  /** Adaptive: time budget of one point in ms, warm-up included (default 5000). */
  maxMs?: number;
  /** Adaptive: iterations before the precision may stop a point (default 6: the fewest with a 95 % interval). */
  minIters?: number;
  /** Adaptive: iterations at most (default 50). */
  maxIters?: number;
  /** Device peaks for the roofline: measured by the backend (default), given, or none. */
  peaks?: "measure" | DevicePeaks | null;
  /** "auto": timestamp-query where available; "fenced" forces fenced GPU timing. */
  timing?: "auto" | "fenced";
  /** Seed of the random token ids. */
  seed?: number;
  /** Called after every forward pass. */
  onProgress?: (p: ProfileProgress) => void;
  /**
   * What the caller knows of the host (git commit, CPU model, GPU adapter, runtime); the rest comes from the web
   * platform where it exposes it ({@link hostDefaults}).
   */
  host?: Partial<HostInfo>;
}

/**
 * What the web platform tells of the host synchronously: logical cores (`navigator.hardwareConcurrency`) and the
 * runtime from the user agent ("Deno/2.9.6" → deno 2.9.6; a browser: "browser" and its agent string); no git commit,
 * CPU model or GPU adapter (`profileModels` asks {@link webGpuAdapterInfo} on a GPU backend; callers that know more
 * pass `ProfileOptions.host`).
 *
 * @example
 * ```ts
 * import { hostDefaults } from "@perfmamba/perfmamba";
 *
 * const host = hostDefaults();
 * console.log(host.git, host.gpu, host.cpu.logicalCores !== 0); // null null true
 * ```
 */
export function hostDefaults(): HostInfo {
  const nav = globalThis.navigator as Navigator | undefined;
  const cores = nav?.hardwareConcurrency;
  return {
    git: null,
    cpu: { model: null, logicalCores: typeof cores === "number" && cores > 0 ? cores : null },
    gpu: null,
    runtime: runtimeOf(nav?.userAgent),
  };
}

/**
 * The WebGPU adapter's info (`GPUAdapter.info`: vendor, architecture, device, description) of the default adapter
 * (`navigator.gpu.requestAdapter()`, the one a WebGPU backend takes unless told otherwise), or null without WebGPU.
 * Hosts may leave fields empty (browsers hide some for privacy).
 *
 * @example
 * ```ts
 * import { webGpuAdapterInfo } from "@perfmamba/perfmamba";
 *
 * const info = await webGpuAdapterInfo();
 * console.log(info === null ? "no WebGPU" : info.description || info.vendor);
 * ```
 */
export async function webGpuAdapterInfo(): Promise<GpuAdapterInfo | null> {
  try {
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    const info = (await gpu?.requestAdapter())?.info;
    if (!info) return null;
    return {
      vendor: info.vendor ?? "",
      architecture: info.architecture ?? "",
      device: info.device ?? "",
      description: info.description ?? "",
    };
  } catch {
    return null;
  }
}

/** "Deno/2.9.6" (one product token: Deno, Bun, Node) → that name and version; a browser's agent string as is. */
function runtimeOf(agent: string | undefined): HostInfo["runtime"] {
  if (!agent) return { name: "unknown", version: "unknown" };
  const one = /^([A-Za-z.]+)\/(\S+)$/.exec(agent);
  return one ? { name: one[1].toLowerCase(), version: one[2] } : { name: "browser", version: agent };
}

/**
 * FNV-1a (64 bits) of a string's UTF-16 code units, as 16 hex digits: a stable fingerprint, not a cryptographic hash.
 *
 * @example
 * ```ts
 * import { fnv1a64 } from "@perfmamba/perfmamba";
 *
 * console.log(fnv1a64("")); // cbf29ce484222325 (the FNV offset basis)
 * console.log(fnv1a64("a")); // af63dc4c8601ec8c
 * ```
 */
export function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n, mask = 0xffffffffffffffffn;
  for (let i = 0; i < text.length; i++) h = ((h ^ BigInt(text.charCodeAt(i))) * prime) & mask;
  return h.toString(16).padStart(16, "0");
}

/** The model's fingerprint: its architecture, whole configuration and each matrix's format. */
function modelFingerprint(config: MambaModel["config"], formats: WeightFormatReport["components"]): string {
  const sorted = (o: object) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return fnv1a64(JSON.stringify({ config: sorted(config), formats: sorted(formats) }));
}

/**
 * A model to profile and the name the report gives it.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   type NamedModel,
 *   profileModels,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * // Mamba-1 against Mamba-2 of the same width, on the same backend, in one report.
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const dims = { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 };
 * const models: NamedModel[] = (["mamba1", "mamba2"] as const).map((arch) => ({
 *   name: arch,
 *   model: MambaModel.load(syntheticWeights(makeConfig(arch, dims), 1), backend),
 * }));
 * const report = await profileModels(models, { seqLens: [8], modes: ["decode"], warmup: 0, iters: 1, peaks: null });
 * for (const run of report.runs) console.log(report.models[run.model].name, run.endToEnd.ms.median);
 * console.log(report.models.map((m) => m.name)); // [ "mamba1", "mamba2" ]
 * for (const { model } of models) model.dispose();
 * backend.dispose();
 * ```
 */
export interface NamedModel {
  /** The model, loaded on the backend the profile runs on. */
  model: MambaModel;
  /** Its name in the report ({@link ProfiledModel.name}). */
  name: string;
}

/**
 * Summary statistics of samples (ms).
 *
 * @example
 * ```ts
 * import { stats } from "@perfmamba/perfmamba";
 *
 * // Time a function five times and summarise.
 * const samples: number[] = [];
 * for (let i = 0; i < 5; i++) {
 *   const t0 = performance.now();
 *   Array.from({ length: 1000 }, (_, j) => Math.sqrt(j)).reduce((a, b) => a + b, 0);
 *   samples.push(performance.now() - t0);
 * }
 * const s = stats(samples);
 * console.log(`${s.median.toFixed(3)} ms ± ${s.iqr.toFixed(3)} (n = ${s.n})`);
 *
 * console.log(stats([4, 1, 3, 2])); // { n: 4, mean: 2.5, median: 2.5, min: 1, max: 4, std: 1.29…, iqr: 1.5 }
 * ```
 */
export function stats(samples: number[]): Stats {
  const n = samples.length;
  if (n === 0) return { n: 0, mean: 0, median: 0, min: 0, max: 0, std: 0, iqr: 0 };
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => {
    const i = (n - 1) * p, lo = Math.floor(i), hi = Math.ceil(i);
    return s[lo] + (s[hi] - s[lo]) * (i - lo);
  };
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, median: q(0.5), min: s[0], max: s[n - 1], std, iqr: q(0.75) - q(0.25) };
}

/** Per (component, layer): time and memory of one instrumented pass. */
interface Sample {
  component: Component;
  layer: number;
  start: number;
  ms: number;
  /** Timed passes it took (timestamp-query), else 1. */
  passes: number;
  /** Net live bytes it left (outputs). */
  net: number;
  /** Peak above the live bytes at its end. */
  scratch: number;
}

interface Instrumented {
  wallMs: number;
  samples: Sample[];
  peak: number;
}

/** How one forward pass of a run is issued: a prefill of the prompt, or one decode step after it. */
type PassFn = (hooks: ForwardHooks | undefined) => Promise<void>;

function key(c: Component, l: number): string {
  return `${c}@${l}`;
}

/** Measures components on one backend with one timing method. */
class Meter {
  readonly method: TimingMethod;
  /** Cost of an empty GPU wait (fenced timing), subtracted from each component. */
  syncMs = 0;

  constructor(readonly backend: Backend, timing: "auto" | "fenced") {
    const queued = backend.capabilities.queued;
    this.method = !queued ? "wall-clock" : backend.passTimer && timing === "auto" ? "timestamp-query" : "fenced";
    if (backend.passTimer) backend.passTimer.enabled = false;
  }

  get note(): string {
    switch (this.method) {
      case "timestamp-query":
        return "GPU time of one compute pass per component and layer (timestamp-query), minus the GPU cost of a " +
          "pass boundary measured in the same run (passOverheadMs). Un-instrumented passes run all dispatches in " +
          "one pass per submit; the instrumented wall time shows what the split costs on the host.";
      case "fenced":
        return `Wall time between GPU fences (a wait after each component) minus the median empty wait ` +
          `(${this.syncMs.toFixed(3)} ms measured); components much shorter than the wait are not resolved.`;
      default:
        return "performance.now() around each component; the CPU ops are synchronous, so this is their run time.";
    }
  }

  /** Median cost of an empty wait for the GPU (fenced timing). */
  async calibrate(): Promise<void> {
    if (this.method !== "fenced") return;
    const xs: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      await this.backend.sync();
      xs.push(performance.now() - t0);
    }
    this.syncMs = stats(xs).median;
  }

  /** A pass with no hooks and no timing; returns its wall time. */
  async plain(pass: PassFn): Promise<number> {
    await this.backend.sync();
    const t0 = performance.now();
    await pass(undefined);
    return performance.now() - t0;
  }

  /**
   * GPU time and pass count of a forward pass recorded as one timed scope ("forward"), or with one timed pass per
   * kernel (scope null) — timestamp-query only.
   */
  gpuTimed(pass: PassFn, scope: "forward" | null): Promise<GpuTime> {
    return gpuTimeOf(this.backend.passTimer!, () => pass(undefined), scope);
  }

  /** A pass with per-component hooks. */
  async instrumented(pass: PassFn): Promise<Instrumented> {
    const be = this.backend;
    const timer = this.method === "timestamp-query" ? be.passTimer! : null;
    const samples: Sample[] = [];
    let live0 = 0, t0 = 0, runPeak = 0;
    const hooks: ForwardHooks = {
      begin: (c, l) => {
        live0 = be.memory().liveBytes;
        be.resetPeak();
        if (timer) timer.setScope(key(c, l));
        t0 = performance.now();
      },
      end: async (c, l) => {
        let ms = 0;
        if (this.method === "wall-clock") ms = performance.now() - t0;
        else if (this.method === "fenced") {
          await be.sync();
          ms = Math.max(0, performance.now() - t0 - this.syncMs);
        } else timer!.setScope(null);
        const m = be.memory();
        runPeak = Math.max(runPeak, m.peakBytes);
        samples.push({
          component: c,
          layer: l,
          start: t0 - start,
          ms,
          passes: 1,
          net: m.liveBytes - live0,
          scratch: Math.max(0, m.peakBytes - m.liveBytes),
        });
      },
    };
    await be.sync();
    if (timer) {
      await timer.timings();
      timer.enabled = true;
    }
    be.resetPeak();
    const start = performance.now();
    try {
      await pass(hooks);
    } finally {
      if (timer) {
        timer.setScope(null);
        timer.enabled = false;
      }
    }
    const wallMs = performance.now() - start;
    runPeak = Math.max(runPeak, be.memory().peakBytes);
    if (timer) {
      // One scope can span several passes (copies end a pass): sum their GPU time, span first begin to last end.
      const byKey = new Map<string, { ms: number; start: number; passes: number }>();
      let origin = Infinity;
      for (const t of await timer.timings()) {
        origin = Math.min(origin, t.start);
        const e = byKey.get(t.label);
        if (e) {
          e.ms += t.ms;
          e.start = Math.min(e.start, t.start);
          e.passes++;
        } else byKey.set(t.label, { ms: t.ms, start: t.start, passes: 1 });
      }
      for (const s of samples) {
        const e = byKey.get(key(s.component, s.layer));
        s.ms = e?.ms ?? 0;
        s.passes = e?.passes ?? 0;
        s.start = e ? e.start - origin : 0;
      }
    }
    return { wallMs, samples, peak: runPeak };
  }
}

function modelInfo(m: NamedModel): ProfiledModel {
  const c = m.model.config;
  const format = weightFormat(m.model);
  const mamba2 = c.arch === "mamba2";
  return {
    name: m.name,
    arch: c.arch,
    config: {
      dModel: c.dModel,
      nLayer: c.nLayer,
      dInner: c.dInner,
      dState: c.dState,
      vocabSize: c.vocabSize,
      dConv: c.dConv,
      nHeads: mamba2 ? c.nHeads : 0,
      headDim: mamba2 ? c.headDim : 0,
      nGroups: mamba2 ? c.nGroups : 0,
      chunkSize: mamba2 ? c.chunkSize : 0,
      dtRank: mamba2 ? 0 : c.dtRankPaddedFrom ?? c.dtRank, // the model's rank, not its zero-padded storage
    },
    parameters: m.model.parameterCount,
    weightBytes: Object.values(componentWeightBytes(c, modelMatrixBytes(m.model))).reduce((a, b) => a + b, 0),
    weightFormat: format,
    fingerprint: modelFingerprint(c, format.components),
  };
}

/** The format each matrix component of a model runs in: its blocks' format, else the backend's storage. */
function weightFormat(model: MambaModel): WeightFormatReport {
  const c = model.config;
  const base: MatrixFormat = matrixBytes(model.backend) === 2 ? "f16" : "f32";
  const layerMatrices: Component[] = c.arch === "mamba1"
    ? ["in_proj", "x_proj", "dt_proj", "out_proj"]
    : ["in_proj", "out_proj"];
  const all: Component[] = ["embedding", ...layerMatrices, ...(c.tieEmbeddings ? [] : ["lm_head" as const])];
  const components: Partial<Record<Component, MatrixFormat>> = {};
  for (const k of all) components[k] = model.quantFormats[k] ?? base;
  const byFormat = new Map<MatrixFormat, Component[]>();
  for (const k of layerMatrices) byFormat.set(components[k]!, [...(byFormat.get(components[k]!) ?? []), k]);
  const matrices = byFormat.size === 1 ? [...byFormat.keys()][0] : "mixed";
  // The activation arithmetic matters only where some matrix is block-quantized.
  const quantized = Object.values(components).some((f) => f === "q8_0" || f === "q4_0");
  const activations = quantized ? model.backend.capabilities.quantActivations ?? null : null;
  const parts = [
    matrices !== "mixed" ? matrices : `mixed (${[...byFormat].map(([f, ks]) => `${f}: ${ks.join(", ")}`).join("; ")})`,
    `embedding ${components.embedding}`,
    ...(c.tieEmbeddings ? [] : [`lm_head ${components.lm_head}`]),
    ...(activations === null ? [] : [`activations ${activations}`]),
  ];
  return { matrices, embedding: components.embedding!, components, activations, label: parts.join(", ") };
}

/** The environment's one label for the layer matrices of all these models, or "mixed". */
function reportWeights(models: ProfiledModel[]): MatrixFormat | "mixed" {
  const formats = new Set(models.map((m) => m.weightFormat.matrices));
  return formats.size === 1 ? [...formats][0] : "mixed";
}

function matrixBytes(backend: Backend): number {
  return (backend as { f16Weights?: boolean }).f16Weights ? 2 : 4;
}

/** A model's matrix widths: the backend's storage, and the block formats of its quantized components. */
function modelMatrixBytes(model: MambaModel): MatrixBytes {
  return quantizedMatrixBytes(matrixBytes(model.backend), model.quantFormats, model.paramFormat === "f16" ? 2 : 4);
}

/** Random token ids, deterministic in the seed (the profiler's prompts; also the paired pruning speed's). */
export function randomTokens(n: number, vocab: number, seed: number): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Math.floor(rand() * vocab));
}

/**
 * Profile models in prefill and decode over sequence lengths, on the backend each model lives on.
 *
 * @example
 * ```ts
 * import { makeConfig, MambaModel, profileModels, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [16], warmup: 1, iters: 2, peaks: null });
 * const top = report.runs[0].components.toSorted((a, b) => b.ms.median - a.ms.median)[0];
 * console.log(report.runs.length, top.name); // 2 (prefill and decode), and the slowest component
 * model.dispose();
 * backend.dispose();
 * ```
 */
export async function profileModels(models: NamedModel[], options: ProfileOptions = {}): Promise<ProfileReport> {
  if (models.length === 0) throw new RangeError("profileModels: give at least one model");
  const started = performance.now();
  const seqLens = options.seqLens ?? [64, 512, 2048];
  const batch = options.batch ?? 1;
  const modes = options.modes ?? ["prefill", "decode"];
  const warmup = options.warmup;
  const rep: RepetitionOptions = {
    iters: options.iters,
    precision: options.precision,
    maxMs: options.maxMs,
    minIters: options.minIters,
    maxIters: options.maxIters,
  };
  if (seqLens.length === 0 || seqLens.some((l) => !Number.isInteger(l) || l < 1)) {
    throw new RangeError(`profile: sequence lengths must be positive integers, got [${seqLens.join(", ")}]`);
  }
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`profile: batch must be ≥ 1, got ${batch}`);
  if (warmup !== undefined && (!Number.isInteger(warmup) || warmup < 0)) {
    throw new RangeError(`profile: warmup must be ≥ 0, got ${warmup}`);
  }
  if (rep.iters !== undefined && (!Number.isInteger(rep.iters) || rep.iters < 1)) {
    throw new RangeError(`profile: iters must be ≥ 1, got ${rep.iters}`);
  }
  checkRepetitionOptions(rep);
  if (modes.length === 0 || modes.some((m) => m !== "prefill" && m !== "decode")) {
    throw new RangeError(`profile: modes must be prefill and/or decode, got [${modes.join(", ")}]`);
  }
  const backend = models[0].model.backend;
  if (models.some((m) => m.model.backend !== backend)) {
    throw new RangeError("profile: all models must live on the same backend");
  }
  const meter = new Meter(backend, options.timing ?? "auto");
  await meter.calibrate();
  const peaks = options.peaks === undefined || options.peaks === "measure"
    ? await backend.measurePeaks()
    : options.peaks;

  const timed = meter.method === "timestamp-query";
  const passesPerIter = timed ? 4 : 2;
  // Per model and length: decode first, whose prompt prefill (its state) doubles as the prefill point's first
  // warm-up pass; the report lists the runs model, mode, length as before.
  const order: PlannedPoint[] = [];
  for (const [mi] of models.entries()) {
    for (const seqLen of seqLens) {
      for (const mode of [...modes].sort((a, b) => (a === b ? 0 : a === "decode" ? -1 : 1))) {
        order.push({ model: mi, mode, seqLen });
      }
    }
  }
  const clock = new PassClock();
  // Planned passes of each point (its real count once it ran); done counts passes run.
  const plannedPasses = order.map(() =>
    (warmup ?? 1) + (rep.iters ?? rep.minIters ?? REPETITION_DEFAULTS.minIters) * passesPerIter
  );
  let done = 0;
  const estimate = (points: number[], current: number, currentMs: number): number | null => {
    let ms = 0;
    for (const i of points) {
      const p = order[i];
      const pass = clock.passMs(p);
      if (pass === null) return null;
      const setup = p.mode === "decode" ? clock.passMs({ ...p, mode: "prefill" }) ?? 0 : 0;
      const est = estimatePointMs(pass, passesPerIter, rep, { warmup, setupMs: setup });
      ms += i === current ? Math.max(0, est - currentMs) : est;
    }
    return ms;
  };
  const runs: { index: number; run: ProfileRun }[] = [];
  let handoff: { seqLen: number; model: number; passMs: number } | null = null;
  for (const [i, point] of order.entries()) {
    const named = models[point.model];
    const { mode, seqLen } = point;
    const label = `${named.model.config.arch} ${mode} L${seqLen}`;
    const pointStart = performance.now();
    let pointPasses = 0;
    const tick = (passMs?: number) => {
      done++;
      pointPasses++;
      if (passMs !== undefined && pointPasses === 1) clock.record(point, passMs);
      if (!options.onProgress) return;
      const now = performance.now();
      const rest = order.map((_, j) => j).filter((j) => j >= i);
      const sameMode = rest.filter((j) => order[j].model === point.model && order[j].mode === mode);
      plannedPasses[i] = Math.max(plannedPasses[i], pointPasses);
      options.onProgress({
        done,
        total: plannedPasses.reduce((a, b) => a + b, 0),
        label,
        model: named.name,
        mode,
        elapsedMs: now - started,
        leftMs: estimate(rest, i, now - pointStart),
        modeLeftMs: estimate(sameMode, i, now - pointStart),
      });
    };
    const prior = handoff && handoff.model === point.model && handoff.seqLen === seqLen && mode === "prefill"
      ? handoff.passMs
      : undefined;
    const out = await profileRun(named.model, point.model, mode, batch, seqLen, warmup, rep, meter, peaks, {
      seed: options.seed ?? 1,
      tick,
      prefillMs: prior,
      keepSetup: modes.includes("prefill"),
    });
    handoff = out.setupMs === null ? null : { seqLen, model: point.model, passMs: out.setupMs };
    plannedPasses[i] = pointPasses;
    runs.push({ index: i, run: out.run });
  }
  // The report's order: model, mode (as given), length.
  const rank = (p: PlannedPoint) =>
    (p.model * modes.length + modes.indexOf(p.mode)) * seqLens.length + seqLens.indexOf(p.seqLen);
  runs.sort((a, b) => rank(order[a.index]) - rank(order[b.index]));
  const profiled = models.map(modelInfo);
  const queuedBackend = backend.capabilities.queued;
  const maxOf = (f: (r: ProfileRun) => number) => Math.max(...runs.map((r) => f(r.run)));
  return {
    schema: PROFILE_SCHEMA_ID,
    createdAt: new Date().toISOString(),
    tool: { name: "perfmamba", version: VERSION },
    environment: {
      backend: backend.name,
      description: backend.description,
      timing: meter.method,
      timingNote: meter.note,
      host: (globalThis.navigator as Navigator | undefined)?.userAgent ?? "unknown",
      weights: reportWeights(profiled),
      peaks: peaks ? { bandwidthGBs: peaks.bandwidthGBs, gemmGflops: peaks.gemmGflops, detail: peaks.detail } : null,
      ...hostDefaults(),
      ...options.host,
      // A GPU backend (queued work): the adapter's info, unless the caller gave it.
      gpu: options.host?.gpu !== undefined ? options.host.gpu : queuedBackend ? await webGpuAdapterInfo() : null,
    },
    options: {
      seqLens,
      batch,
      modes,
      // Adaptive: the most any run used (each run's `repetitions` says its own).
      warmup: warmup ?? maxOf((r) => r.repetitions!.warmup),
      iters: rep.iters ?? maxOf((r) => r.repetitions!.iters),
      repetitions: rep.iters !== undefined ? { adaptive: false, warmup: warmup ?? null } : {
        adaptive: true,
        warmup: warmup ?? null,
        precision: rep.precision ?? REPETITION_DEFAULTS.precision,
        confidence: 0.95,
        maxMs: rep.maxMs ?? REPETITION_DEFAULTS.maxMs,
        minIters: rep.minIters ?? REPETITION_DEFAULTS.minIters,
        maxIters: rep.maxIters ?? REPETITION_DEFAULTS.maxIters,
      },
    },
    models: profiled,
    runs: runs.map((r) => r.run),
  };
}

/** What a run needs besides its point: seed, the progress tick, and the decode → prefill hand-off. */
interface RunContext {
  seed: number;
  /** One per pass run; a plain pass gives its ms. */
  tick: (passMs?: number) => void;
  /** Prefill: ms of the previous plain prefill of this prompt (the decode point's setup), as the first warm-up. */
  prefillMs?: number;
  /** Decode: time the prompt's prefill as a plain pass, for the prefill point after it. */
  keepSetup: boolean;
}

async function profileRun(
  model: MambaModel,
  modelIndex: number,
  mode: "prefill" | "decode",
  batch: number,
  seqLen: number,
  warmup: number | undefined,
  rep: RepetitionOptions,
  meter: Meter,
  peaks: DevicePeaks | null,
  ctx: RunContext,
): Promise<{ run: ProfileRun; setupMs: number | null }> {
  const cfg = model.config;
  const { tick } = ctx;
  let started = performance.now();
  const prompt = Array.from({ length: batch }, (_, b) => randomTokens(seqLen, cfg.vocabSize, ctx.seed + b));
  const memBefore = model.backend.memory().liveBytes;
  // Prefill: the prompt from a zero state, last-position logits (TTFT). Decode: one step continuing a state that
  // has read the prompt (TPOT); the state advances one token per pass, which costs the same at any position.
  let pass: PassFn;
  let fusedPass: PassFn | null = null;
  let decodeState: ReturnType<MambaModel["newState"]> | null = null;
  let setupMs: number | null = null;
  if (mode === "prefill") {
    pass = async (hooks) => {
      const state = model.newState(batch);
      try {
        await model.prefill(prompt, { state, lastOnly: true, hooks });
      } finally {
        state.dispose();
      }
    };
  } else {
    // The same work as a plain prefill pass (a fresh state, the prompt, last logits), timed the same way.
    setupMs = await meter.plain(async () => {
      decodeState = model.newState(batch);
      await model.prefill(prompt, { state: decodeState, lastOnly: true });
    });
    if (!ctx.keepSetup) setupMs = null;
    // The prompt's prefill is the prefill point's work (its first warm-up pass): not this point's budget.
    started = performance.now();
    const next = prompt.map((p) => p[p.length - 1]);
    const state = decodeState!;
    // The components are timed on the unfused ops (hooks take that path anyway); so is the plain pass they are
    // compared with. The fused step, where the backend has it, is timed beside them (fusedPass).
    const fusedOn = model.fusedDecode;
    pass = async (hooks) => {
      model.fusedDecode = false;
      try {
        await model.step(next, state, hooks);
      } finally {
        model.fusedDecode = fusedOn;
      }
    };
    if (fusedOn && fusedDecodeAvailable(model.backend.capabilities, batch)) {
      fusedPass = async () => void await model.step(next, state);
    }
  }
  try {
    const stateBytes = decodeState ? (decodeState as { bytes: number }).bytes : 0;
    const plain: number[] = [];
    let warmRuns = 0;
    if (warmup !== undefined) {
      for (let i = 0; i < warmup; i++) {
        tick(await meter.plain(pass));
        warmRuns++;
      }
    } else {
      // Adaptive warm-up: plain passes until one agrees within 10 % with the one before it (warm already at the
      // one before); that one is the first sample. At most 3 are discarded, and none once the point's budget is
      // spent (passes that long are not what a warm-up is for: the prompt's prefill already ran at this length).
      const budget = rep.iters === undefined ? withDefaults(rep).maxMs : Infinity;
      let prev = ctx.prefillMs;
      if (prev === undefined) {
        prev = await meter.plain(pass);
        tick(prev);
        warmRuns++;
      }
      for (;;) {
        const x = await meter.plain(pass);
        tick(x);
        const spent = performance.now() - started >= budget;
        if (Math.abs(x - prev) <= 0.1 * Math.min(x, prev) || warmRuns >= 3 || spent) {
          plain.push(x);
          break;
        }
        prev = x;
        warmRuns++;
      }
    }
    // Compiles the timed variants (timestamp-query); not counted. Other methods run the same kernels as plain passes.
    if (meter.method === "timestamp-query" && warmup !== 0) await meter.instrumented(pass);
    const keptMs = plain[0] ?? 0;
    const fusedMs: number[] = [], fusedGpu: number[] = [];
    const dispatches = fusedPass
      ? { fused: await dispatchesOf(model, fusedPass), unfused: await dispatchesOf(model, pass) }
      : null;
    const measureStart = performance.now();
    const gpu: number[] = [], overhead: number[] = [], inst: Instrumented[] = [];
    let stop: StopReason | null = null;
    while (stop === null) {
      if (plain.length === inst.length) {
        plain.push(await meter.plain(pass));
        tick(plain.at(-1));
      }
      if (fusedPass) {
        // The fused step beside each sample of the unfused ones (interleaved, same state).
        fusedMs.push(await meter.plain(fusedPass));
        if (meter.method === "timestamp-query") fusedGpu.push((await meter.gpuTimed(fusedPass, "forward")).ms);
      }
      inst.push(await meter.instrumented(pass));
      tick();
      if (meter.method === "timestamp-query") {
        const whole = await meter.gpuTimed(pass, "forward");
        gpu.push(whole.ms);
        tick();
        const perKernel = await meter.gpuTimed(pass, null);
        tick();
        if (perKernel.passes > whole.passes) {
          overhead.push(Math.max(0, (perKernel.ms - whole.ms) / (perKernel.passes - whole.passes)));
        }
      }
      const now = performance.now();
      stop = shouldStop(plain, { elapsedMs: now - started, iterMs: now - measureStart + keptMs }, rep);
    }
    const passOverhead = meter.method === "timestamp-query" ? (overhead.length ? stats(overhead).median : 0) : null;
    const run = summarize(
      model,
      modelIndex,
      mode,
      batch,
      seqLen,
      plain,
      gpu,
      inst,
      peaks,
      memBefore,
      stateBytes,
      passOverhead,
      fusedPass
        ? {
          ms: stats(fusedMs),
          gpuMs: fusedGpu.length > 0 ? stats(fusedGpu) : null,
          dispatches: dispatches!.fused,
          unfusedDispatches: dispatches!.unfused,
        }
        : null,
    );
    const ci = medianInterval(plain);
    run.repetitions = {
      warmup: warmRuns,
      iters: inst.length,
      stopReason: stop,
      interval: ci ? { lo: ci.lo, hi: ci.hi, coverage: ci.coverage } : null,
      relHalfWidth: ci ? ci.relHalfWidth : null,
      ms: performance.now() - started,
    };
    return { run, setupMs };
  } finally {
    (decodeState as { dispose(): void } | null)?.dispose();
  }
}

/** Dispatches of one pass, where the backend counts them (null elsewhere); the pass runs once, untimed. */
async function dispatchesOf(model: MambaModel, pass: PassFn): Promise<number | null> {
  const be = model.backend;
  const before = be.dispatchCount;
  await pass(undefined);
  const after = be.dispatchCount;
  await be.sync();
  return before === undefined || after === undefined ? null : after - before;
}

function summarize(
  model: MambaModel,
  modelIndex: number,
  mode: "prefill" | "decode",
  batch: number,
  seqLen: number,
  plain: number[],
  gpu: number[],
  inst: Instrumented[],
  peaks: DevicePeaks | null,
  baseline: number,
  decodeStateBytes: number,
  passOverhead: number | null,
  fusedDecode: FusedDecodeTiming | null,
): ProfileRun {
  const cfg = model.config;
  const tokens = mode === "prefill" ? seqLen : 1;
  const wb = modelMatrixBytes(model);
  const flops = forwardFlops(cfg, batch, tokens, batch);
  const bytes = forwardBytes(cfg, batch, tokens, { logitRows: batch, matrixBytes: wb });
  const weights = componentWeightBytes(cfg, wb);
  const state = componentStateBytes(cfg, batch);
  const present = COMPONENTS.filter((c) => inst[0].samples.some((s) => s.component === c));

  // Per component and iteration: time summed over layers; per layer: median over iterations.
  const perIter = new Map<Component, number[]>(present.map((c) => [c, inst.map(() => 0)]));
  const perLayer = new Map<string, number[]>();
  const mem = new Map<Component, { net: number; scratch: number }>();
  const rawPerIter = new Map<Component, number[]>(present.map((c) => [c, inst.map(() => 0)]));
  inst.forEach((it, i) => {
    for (const s of it.samples) {
      rawPerIter.get(s.component)![i] += s.ms;
      // Each timed pass costs the GPU a fixed overhead (measured for this run): subtract it.
      s.ms = Math.max(0, s.ms - (passOverhead ?? 0) * s.passes);
      perIter.get(s.component)![i] += s.ms;
      const k = key(s.component, s.layer);
      if (!perLayer.has(k)) perLayer.set(k, []);
      perLayer.get(k)!.push(s.ms);
      const m = mem.get(s.component) ?? { net: 0, scratch: 0 };
      m.net = Math.max(m.net, s.net);
      m.scratch = Math.max(m.scratch, s.scratch);
      mem.set(s.component, m);
    }
  });
  const medians = present.map((c) => stats(perIter.get(c)!).median);
  const rawTotal = present.reduce((a, c) => a + stats(rawPerIter.get(c)!).median, 0);
  const sum = medians.reduce((a, b) => a + b, 0);
  const components: ComponentProfile[] = present.map((c, i) => {
    const ms = stats(perIter.get(c)!);
    const b = bytes[c];
    const totalBytes = b.weights + b.activations + b.state;
    const sec = ms.median / 1e3;
    const gflops = sec > 0 ? flops[c] / sec / 1e9 : 0;
    const gbs = sec > 0 ? totalBytes / sec / 1e9 : 0;
    const layers = [...new Set(inst[0].samples.filter((s) => s.component === c).map((s) => s.layer))].sort((a, b) =>
      a - b
    );
    let roofline: ComponentProfile["roofline"] = null;
    if (peaks && totalBytes > 0) {
      const intensity = flops[c] / totalBytes;
      const attainable = Math.min(peaks.gemmGflops, intensity * peaks.bandwidthGBs);
      roofline = {
        intensity,
        attainableGflops: attainable,
        bound: intensity < peaks.gemmGflops / peaks.bandwidthGBs ? "memory" : "compute",
        ofAttainable: attainable > 0 ? gflops / attainable : gbs / peaks.bandwidthGBs,
      };
    }
    return {
      name: c,
      layers: layers.length,
      ms,
      samples: perIter.get(c)!,
      passes: inst[0].samples.filter((s) => s.component === c).reduce((a, s) => a + s.passes, 0),
      share: sum > 0 ? medians[i] / sum : 0,
      flops: flops[c],
      bytes: { ...b, total: totalBytes },
      gflops,
      gbs,
      roofline,
      memory: {
        weights: weights[c],
        activations: mem.get(c)?.net ?? 0,
        state: state[c],
        scratch: mem.get(c)?.scratch ?? 0,
      },
      perLayerMs: layers.map((l) => stats(perLayer.get(key(c, l))!).median),
    };
  });

  const e2e = stats(plain);
  const gpuStats = gpu.length > 0 ? stats(gpu) : null;
  const instStats = stats(inst.map((i) => i.wallMs));
  // What the components must add up to: the GPU time of the same work as one timed scope, or (CPU, fences) the wall
  // time of the very passes they were timed in — run-to-run noise stays out; overheadPct compares with plain passes.
  const referenceMs = gpuStats ? gpuStats.median : instStats.median;
  // The representative iteration: median instrumented wall time.
  const order = inst.map((_, i) => i).sort((a, b) => inst[a].wallMs - inst[b].wallMs);
  const rep = inst[order[Math.floor((order.length - 1) / 2)]];
  const trace: TraceSpan[] = rep.samples.map((s) => ({
    component: s.component,
    layer: s.layer,
    start: Math.max(0, s.start),
    duration: s.ms,
  }));
  const totalFlops = Object.values(flops).reduce((a, b) => a + b, 0);
  const totalBytes = Object.values(bytes).reduce((a, b) => a + b.weights + b.activations + b.state, 0);
  const weightTotal = Object.values(weights).reduce((a, b) => a + b, 0);
  return {
    model: modelIndex,
    arch: cfg.arch,
    mode,
    batch,
    seqLen,
    endToEnd: {
      ms: e2e,
      samples: plain,
      tokensPerS: e2e.median > 0 ? (batch * tokens) / (e2e.median / 1e3) : 0,
      instrumentedMs: instStats,
      overheadPct: e2e.median > 0 ? (instStats.median / e2e.median - 1) * 100 : 0,
      gpuMs: gpuStats,
      gpuSamples: gpuStats ? gpu : null,
      referenceMs,
      coverage: referenceMs > 0 ? sum / referenceMs : 0,
      passOverheadMs: passOverhead,
      rawCoverage: referenceMs > 0 ? rawTotal / referenceMs : 0,
      fusedDecode,
    },
    components,
    flops: totalFlops,
    bytes: totalBytes,
    memory: {
      baseline: baseline + decodeStateBytes,
      peak: Math.max(...inst.map((i) => i.peak)),
      weights: weightTotal,
      state: Object.values(state).reduce((a, b) => a + b, 0),
    },
    trace,
  };
}

/**
 * One report from several made with the same options on the same backend (e.g. one model loaded at a time, so
 * that each run's memory holds only its own model): models and runs concatenated, the first report's
 * environment (its weights label over all the models) and options kept.
 *
 * @example
 * ```ts
 * import {
 *   makeConfig,
 *   MambaModel,
 *   mergeReports,
 *   type ProfileReport,
 *   profileModels,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const reports: ProfileReport[] = [];
 * for (const nLayer of [1, 2]) {
 *   // One model on the backend at a time: each run's memory figures hold only its own weights.
 *   const config = makeConfig("mamba1", { dModel: 64, nLayer, vocabSize: 256 });
 *   const model = MambaModel.load(syntheticWeights(config, 1), backend);
 *   const options = { seqLens: [8], warmup: 0, iters: 1, peaks: null };
 *   reports.push(await profileModels([{ model, name: `${nLayer} layers` }], options));
 *   model.dispose();
 * }
 * const merged = mergeReports(reports);
 * console.log(merged.models.map((m) => m.name)); // [ "1 layers", "2 layers" ]
 * console.log(merged.runs.map((r) => r.model)); // [ 0, 0, 1, 1 ]: each run points at its model
 * backend.dispose();
 * ```
 */
export function mergeReports(reports: ProfileReport[]): ProfileReport {
  if (reports.length === 0) throw new RangeError("mergeReports: no reports");
  const [first] = reports;
  const models: ProfiledModel[] = [];
  const runs: ProfileRun[] = [];
  for (const r of reports) {
    if (r.environment.backend !== first.environment.backend || r.environment.timing !== first.environment.timing) {
      throw new RangeError("mergeReports: reports come from different backends or timing methods");
    }
    runs.push(...r.runs.map((run) => ({ ...run, model: run.model + models.length })));
    models.push(...r.models);
  }
  const environment = { ...first.environment, weights: reportWeights(models) };
  return { ...reports.at(-1)!, environment, options: first.options, models, runs };
}
