/**
 * `bench`: prefill and decode speed of 130m-shaped Mamba-1 and Mamba-2 (deterministic random weights), or of a real
 * checkpoint (`--model`: a folder, a .gguf file or a model id, fingerprinted in the JSON), set
 * against this machine's own limits measured in the same run — streaming bandwidth and the GEMM peak of the
 * backend's kernels. Decode is reported as a fraction of its roofline — the larger of (bytes of weights and state
 * moved per step ÷ bandwidth) and (FLOPs ÷ GEMM peak) — and prefill as achieved GFLOP/s over the GEMM peak.
 */
import type { CommandSpec } from "../args.ts";
import { choiceFlag, intListFlag, numberFlag, parseCommand, UsageError } from "../args.ts";
import {
  type Backend,
  forwardFlops,
  generate,
  gpuTimeOf,
  type HostMatrix,
  makeConfig,
  type MambaConfig,
  MambaModel,
  type MambaWeights,
  modelShape,
  mulberry32,
  presetConfig,
  toModelWeights,
  VERSION,
  weightsQuantFormat,
} from "../../mod.ts";
import { hostInfo } from "../host_info.ts";
import {
  BACKEND_FLAGS,
  backendFromFlags,
  hostWeightsOptions,
  MODEL_FLAGS,
  openModel,
  WEIGHTS_FLAGS,
  weightsForFlags,
} from "../load.ts";
import { writeFileAtomic } from "../output.ts";
import { checkPresetFits, loadPreset } from "../preset_model.ts";
import { parseDims } from "./profile.ts";

export const spec: CommandSpec = {
  name: "bench",
  summary: "Prefill/decode tok/s on published shapes vs this machine's measured bandwidth and GEMM peak.",
  usage: "perfmamba bench [--model DIR|FILE.gguf|org/name | --arch both --size 130m | --dims ...] [--seqlens 512] " +
    "[--batch 1] [--decode-tokens 16] [--json FILE]",
  flags: {
    model: {
      type: "string",
      help: "Checkpoint folder, .gguf file or Hugging Face model id to time (instead of built-in random weights)",
    },
    ...MODEL_FLAGS,
    ...WEIGHTS_FLAGS,
    arch: { type: "string", help: "mamba1, mamba2 or both", default: "both" },
    size: { type: "string", help: "Published shape (130m, 370m, 790m, 1.4b, 2.8b)", default: "130m" },
    dims: {
      type: "string",
      help: "Explicit shape instead of --size (d_model=,n_layer=,...; see profile --help), e.g. a tiny model",
    },
    seqlens: { type: "string", help: "Prefill lengths, comma-separated", default: "512" },
    batch: { type: "string", help: "Batch sizes, comma-separated", default: "1" },
    "decode-tokens": {
      type: "string",
      help: "Decode steps timed after a 16-token prompt (0 = skip decode)",
      default: "16",
    },
    warmup: { type: "string", help: "Untimed runs before timing", default: "1" },
    iters: { type: "string", help: "Timed runs (median reported)", default: "3" },
    ...BACKEND_FLAGS,
    "skip-peaks": { type: "boolean", help: "Do not measure bandwidth / GEMM peak" },
    fused: {
      type: "string",
      help: "Fused decode kernels where the backend has them (WebGPU): on, or off (the unfused ops, for an A/B)",
      default: "on",
    },
    json: { type: "string", help: "Also write all figures to this JSON file" },
  },
};

/** One measured configuration. */
interface Row {
  arch: string;
  /**
   * decode: one `step` (logits read back) per token; greedy: `MambaModel.greedy`, one readback per run; sampled
   * (batch 1, {@link SAMPLED}): `generate` with the backend's default bursts (device sampling where it has it);
   * sampled-step: `generate` with one step and a host pick per token — the same tokens.
   */
  mode: "prefill" | "decode" | "greedy" | "sampled" | "sampled-step";
  batch: number;
  seqLen: number;
  ms: number;
  tokPerS: number;
  gflops: number;
  /** prefill: GFLOP/s ÷ GEMM peak; decode: roofline time ÷ measured time. */
  ofPeak: number | null;
  /** decode: weights + state bytes read per step. */
  bytesPerStep?: number;
  /** decode: which limit the roofline is set by. */
  bound?: "bandwidth" | "compute";
  /**
   * Any decode row: kernel dispatches per decode step (one token per sequence), from the backend's
   * `dispatchCount` over the timed steps; null where the backend does not count them (WASM).
   */
  dispatchesPerToken?: number | null;
  /** Why this configuration could not run. */
  error?: string;
  /** The model's shape (`modelShape`): what `perfmamba compare` matches rows on. */
  shape: string;
  /** The raw times `ms` is the median of (decode: per step; greedy: per run ÷ steps), ms. */
  samples?: number[];
  /**
   * GPU time of the same work from device timestamps (WebGPU with `timestamp-query`; absent elsewhere), per call
   * (prefill) or per step (decode, greedy): the median of {@link GPU_RUNS} timed runs after the wall-clock ones —
   * what the GPU needed, without the host's encoding and the readback's wait.
   */
  gpuMs?: number;
  /** The timed runs `gpuMs` is the median of, ms (per call or per step, as `gpuMs`). */
  gpuSamples?: number[];
}

/** Runs of each prefill / decode / greedy configuration timed on the device, after its wall-clock runs. */
const GPU_RUNS = 3;

/**
 * GPU time of `work` (`runs` runs, each divided by `per`) from the backend's pass timer, or {} where it has none.
 * The timed runs are separate from the wall-clock ones: a timed submit waits for its timestamps (runtime/gpu_time.ts).
 */
export async function gpuTimeFields(
  backend: Backend,
  runs: number,
  per: number,
  work: () => Promise<unknown>,
): Promise<Pick<Row, "gpuMs" | "gpuSamples">> {
  const timer = backend.passTimer;
  if (!timer || runs === 0 || per === 0) return {};
  const gpuSamples: number[] = [];
  for (let i = 0; i < runs; i++) gpuSamples.push((await gpuTimeOf(timer, work, "bench")).ms / per);
  return { gpuMs: median(gpuSamples), gpuSamples };
}

/** Format tag of `bench --json` (read by `perfmamba compare`). */
export const BENCH_SCHEMA_ID = "perfmamba.bench/1";

/** Dispatches per decode step of `run` (which decodes `steps` steps), or null where the backend does not count. */
async function dispatchesPerStep(backend: Backend, steps: number, run: () => Promise<void>): Promise<number | null> {
  const before = backend.dispatchCount;
  await run();
  const after = backend.dispatchCount;
  return before === undefined || after === undefined || steps === 0 ? null : (after - before) / steps;
}

/** The sampling the "sampled" rows time: temperature 0.8, top-p 0.95, seed 1. */
const SAMPLED = { temperature: 0.8, topP: 0.95, seed: 1 } as const;

/** Sum of a per-component record (FLOPs). */
function sum(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

/**
 * What `bench --model` timed: the path it was given, the architecture and dimensions, and the weight format — the
 * tensor types stored in the file (a count per type) and the format the backend held the matrices in.
 */
export interface BenchModelFingerprint {
  /** --model as given. */
  path: string;
  /** The folder or .gguf file read. */
  resolved: string;
  arch: MambaConfig["arch"];
  dims: {
    dModel: number;
    nLayer: number;
    vocabSize: number;
    dInner: number;
    dState: number;
    dConv: number;
    /** Mamba-2 only. */
    headDim?: number;
    nHeads?: number;
    nGroups?: number;
    /** A pruned model's per-layer state sizes. */
    layerStateSizes?: number[];
  };
  parameters: number;
  /** Stored tensor types: for a .gguf its ggml types (e.g. Q8_0, F32), else the checkpoint's dtypes. */
  storedTypes: Record<string, number>;
  /** The matrices' format on the backend: q8_0 / q4_0 for quantized weights (a quantized file, or --weights q8|q4), else f32 or f16. */
  ranAs: string;
}

/** The fingerprint of a model opened by `openModel` and converted to `weights` (its parameter count: once loaded). */
export function modelFingerprint(
  path: string,
  resolved: string,
  weights: MambaWeights<HostMatrix>,
  storedTypes: Record<string, number>,
  ranAs: string,
): Omit<BenchModelFingerprint, "parameters"> {
  const c = weights.config;
  return {
    path,
    resolved,
    arch: c.arch,
    dims: {
      dModel: c.dModel,
      nLayer: c.nLayer,
      vocabSize: c.vocabSize,
      dInner: c.dInner,
      dState: c.dState,
      dConv: c.dConv,
      ...(c.arch === "mamba2" ? { headDim: c.headDim, nHeads: c.nHeads, nGroups: c.nGroups } : {}),
      ...(c.layerStateSizes ? { layerStateSizes: [...c.layerStateSizes] } : {}),
    },
    storedTypes,
    ranAs,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function run(argv: string[]): Promise<void> {
  const flags = parseCommand(spec, argv);
  if (!flags) return;
  const archFlag = choiceFlag(flags, "arch", ["mamba1", "mamba2", "both"] as const);
  const arches = archFlag === "both" ? (["mamba1", "mamba2"] as const) : [archFlag];
  const seqlens = intListFlag(flags, "seqlens")!;
  const batches = intListFlag(flags, "batch")!;
  for (const [name, list] of [["seqlens", seqlens], ["batch", batches]] as const) {
    if (list.some((v) => v < 1 || v > 65536)) throw new UsageError(`--${name} values must be in [1, 65536]`);
  }
  const decodeTokens = numberFlag(flags, "decode-tokens", { integer: true, min: 0, max: 100000 })!;
  const warmup = numberFlag(flags, "warmup", { integer: true, min: 0, max: 100 })!;
  const fusedDecode = choiceFlag(flags, "fused", ["on", "off"] as const) === "on";
  const iters = numberFlag(flags, "iters", { integer: true, min: 1, max: 1000 })!;
  const modelSpec = typeof flags.model === "string" ? flags.model : null;
  if (modelSpec !== null) {
    const given = ["arch", "size", "dims"].filter((f) => argv.some((a) => a === `--${f}` || a.startsWith(`--${f}=`)));
    if (given.length > 0) throw new UsageError(`give either --model or --${given[0]}, not both`);
  }
  const shape = modelSpec ?? (typeof flags.dims === "string" ? flags.dims : flags.size as string);
  // The models to time: the checkpoint --model names, or the built-in shapes with deterministic random weights.
  let hostModel: { weights: MambaWeights<HostMatrix>; fingerprint: Omit<BenchModelFingerprint, "parameters"> } | null =
    null;
  if (modelSpec !== null) {
    const { checkpoint, gguf } = await openModel(modelSpec, flags);
    // A quantized checkpoint keeps its blocks; --weights q8|q4 quantizes an f32 one (as every command loads).
    const weights = weightsForFlags(toModelWeights(checkpoint, hostWeightsOptions(flags)), flags);
    const storedTypes: Record<string, number> = {};
    const types = gguf !== null
      ? gguf.tensors.map((t) => t.type)
      : [...checkpoint.tensors.values()].map((t) => t.dtype);
    for (const t of types) storedTypes[t] = (storedTypes[t] ?? 0) + 1;
    const ranAs = weightsQuantFormat(weights) ?? (flags.weights === "f16" ? "f16" : "f32");
    const fp = modelFingerprint(modelSpec, gguf?.name ?? checkpoint.source, weights, storedTypes, ranAs);
    hostModel = { weights, fingerprint: fp };
  }
  const configs = hostModel !== null ? [hostModel.weights.config] : arches.map((a) => {
    if (typeof flags.dims !== "string") return presetConfig(a, flags.size as string);
    const dims = parseDims(flags.dims);
    try {
      return makeConfig(a, dims);
    } catch (e) {
      throw new UsageError(`--dims for ${a}: ${(e as Error).message}`);
    }
  });
  let fingerprint: BenchModelFingerprint | null = null;
  const backend = await backendFromFlags(flags, { timestamps: true });
  if (backend.passTimer) backend.passTimer.enabled = false; // wall-clock runs un-instrumented; gpuTimeFields times
  const log = (s: string) => console.error(s);
  try {
    // What cannot fit is refused before anything is measured or generated (ModelTooLargeError: exit 2).
    const pass = { batch: Math.max(...batches), seqLen: Math.max(...seqlens) };
    if (hostModel === null) { for (const config of configs) checkPresetFits(config, backend, flags, pass); }
    log(`backend: ${backend.name} — ${backend.description}`);
    const peaks = flags["skip-peaks"] ? null : await backend.measurePeaks();
    if (peaks) {
      log(
        `measured: bandwidth ${peaks.bandwidthGBs.toFixed(1)} GB/s, GEMM peak ${
          peaks.gemmGflops.toFixed(1)
        } GFLOP/s (${peaks.detail})`,
      );
    }
    const rows: Row[] = [];
    for (const config of configs) {
      if (hostModel === null) log(`${config.arch} ${shape}: generating weights…`);
      else log(`${config.arch} ${shape}: ${JSON.stringify(hostModel.fingerprint.storedTypes)} stored`);
      const t0 = performance.now();
      const model = hostModel ? MambaModel.load(hostModel.weights, backend) : loadPreset(config, backend, flags, 1);
      await backend.sync(); // queued uploads and weight-generating kernels have finished
      model.fusedDecode = fusedDecode;
      log(`  weights on the backend in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      if (hostModel !== null) fingerprint = { ...hostModel.fingerprint, parameters: model.parameterCount };
      const rand = mulberry32(5);
      const tokens = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * config.vocabSize));
      for (const batch of batches) {
        for (const seqLen of seqlens) {
          try {
            const prompt = Array.from({ length: batch }, () => tokens(seqLen));
            const times: number[] = [];
            for (let i = 0; i < warmup + iters; i++) {
              const t0 = performance.now();
              const { state } = await model.prefill(prompt, { lastOnly: true });
              const ms = performance.now() - t0;
              state.dispose();
              if (i >= warmup) times.push(ms);
            }
            const ms = median(times);
            const gpu = await gpuTimeFields(backend, Math.min(iters, GPU_RUNS), 1, async () => {
              (await model.prefill(prompt, { lastOnly: true })).state.dispose();
            });
            const gflops = sum(forwardFlops(config, batch, seqLen, batch)) / (ms * 1e6);
            rows.push({
              arch: config.arch,
              mode: "prefill",
              batch,
              seqLen,
              ms,
              tokPerS: (batch * seqLen) / (ms / 1000),
              gflops,
              ofPeak: peaks ? gflops / peaks.gemmGflops : null,
              shape: modelShape(config),
              samples: times,
              ...gpu,
            });
            log(
              `  prefill B${batch} L${seqLen}: ${ms.toFixed(1)} ms` +
                (gpu.gpuMs !== undefined ? ` (GPU ${gpu.gpuMs.toFixed(1)} ms)` : ""),
            );
          } catch (e) {
            // A configuration over a device limit is reported and the sweep goes on.
            const error = (e as Error).message;
            rows.push({
              arch: config.arch,
              mode: "prefill",
              batch,
              seqLen,
              ms: NaN,
              tokPerS: NaN,
              gflops: NaN,
              ofPeak: null,
              error,
              shape: modelShape(config),
            });
            log(`  prefill B${batch} L${seqLen}: failed: ${error}`);
          }
        }
        if (decodeTokens > 0) {
          const { state } = await model.prefill(Array.from({ length: batch }, () => tokens(16)), { lastOnly: true });
          let next = tokens(batch);
          for (let i = 0; i < warmup; i++) await model.step(next, state);
          const times: number[] = [];
          const stepDispatches = await dispatchesPerStep(backend, decodeTokens, async () => {
            for (let i = 0; i < decodeTokens; i++) {
              const t0 = performance.now();
              await model.step(next, state);
              times.push(performance.now() - t0);
              next = tokens(batch);
            }
          });
          // Greedy decode with the tokens kept on the device (argmax on the backend): all steps, one readback.
          await model.greedy(next, state, Math.min(warmup, decodeTokens));
          const runs: number[] = [];
          const greedyDispatches = await dispatchesPerStep(backend, 3 * decodeTokens, async () => {
            for (let r = 0; r < 3; r++) {
              const t0 = performance.now();
              await model.greedy(tokens(batch), state, decodeTokens);
              runs.push((performance.now() - t0) / decodeTokens);
            }
          });
          // The GPU's own time per step of both modes, in timed runs of their own.
          const stepGpu = await gpuTimeFields(backend, GPU_RUNS, decodeTokens, async () => {
            for (let i = 0; i < decodeTokens; i++) await model.step(tokens(batch), state);
          });
          const greedyGpu = await gpuTimeFields(backend, GPU_RUNS, decodeTokens, async () => {
            await model.greedy(tokens(batch), state, decodeTokens);
          });
          const bytesPerStep = 4 * model.parameterCount + 2 * state.bytes;
          state.dispose();
          const flops = sum(forwardFlops(config, batch, 1));
          // Roofline: the larger of streaming the bytes and computing the FLOPs at the measured peaks
          // (batch-1 decode is bandwidth-bound; larger batches reuse each weight and become compute-bound).
          const bwMs = peaks ? bytesPerStep / (peaks.bandwidthGBs * 1e6) : NaN;
          const flopMs = peaks ? flops / (peaks.gemmGflops * 1e6) : NaN;
          const rooflineMs = Math.max(bwMs, flopMs);
          const stepMs = median(times), greedyMs = median(runs);
          const decodeRows = [
            ["decode", stepMs, times, stepDispatches, stepGpu],
            ["greedy", greedyMs, runs, greedyDispatches, greedyGpu],
          ] as const;
          // One row of any decode mode: ms per step of `batch` sequences, its samples and dispatches per step.
          const decodeRow = (
            mode: Row["mode"],
            ms: number,
            samples: number[],
            dispatchesPerToken: number | null,
            gpu: Pick<Row, "gpuMs" | "gpuSamples"> = {},
          ) =>
            rows.push({
              arch: config.arch,
              mode,
              batch,
              seqLen: 1,
              ms,
              tokPerS: batch / (ms / 1000),
              gflops: flops / (ms * 1e6),
              ofPeak: peaks ? rooflineMs / ms : null,
              bytesPerStep,
              bound: bwMs >= flopMs ? "bandwidth" : "compute",
              shape: modelShape(config),
              samples,
              dispatchesPerToken,
              ...gpu,
            });
          for (const [mode, ms, samples, dispatchesPerToken, gpu] of decodeRows) {
            decodeRow(mode, ms, samples, dispatchesPerToken, gpu);
          }
          log(
            `  decode B${batch}: ${stepMs.toFixed(2)} ms/token per step; ` +
              `greedy ${decodeTokens} steps per readback: ${greedyMs.toFixed(2)} ms/token` +
              (greedyGpu.gpuMs !== undefined ? ` (GPU ${greedyGpu.gpuMs.toFixed(3)} ms/step)` : "") +
              (stepDispatches !== null ? `; ${stepDispatches} dispatches per step` : ""),
          );
          if (batch === 1 && decodeTokens > 1) {
            // Sampled decoding through generate(), host picks vs the default (device bursts), interleaved.
            const prompt = tokens(16), maxNewTokens = decodeTokens + 1;
            const sampled: Record<"sampled" | "sampled-step", number[]> = { sampled: [], "sampled-step": [] };
            for (let r = 0; r < 4; r++) {
              for (const mode of ["sampled-step", "sampled"] as const) {
                const o = { ...SAMPLED, maxNewTokens, ...(mode === "sampled-step" ? { decodeChunk: 1 } : {}) };
                const ms = (await generate(model, prompt, o)).decodeMsPerToken;
                if (r > 0) sampled[mode].push(ms); // the first round warms up
              }
            }
            for (const mode of ["sampled-step", "sampled"] as const) {
              const ms = median(sampled[mode]);
              // Dispatches per new token: a run of maxNewTokens minus a run of one (which holds the prefill).
              const o = { ...SAMPLED, ...(mode === "sampled-step" ? { decodeChunk: 1 } : {}) };
              const one = await dispatchesPerStep(backend, 1, async () => {
                await generate(model, prompt, { ...o, maxNewTokens: 1 });
              });
              const all = await dispatchesPerStep(backend, 1, async () => {
                await generate(model, prompt, { ...o, maxNewTokens });
              });
              const dispatchesPerToken = one === null || all === null ? null : (all - one) / (maxNewTokens - 1);
              decodeRow(mode, ms, sampled[mode], dispatchesPerToken); // batch 1: tok/s = 1000 / ms
            }
            log(
              `  sampled (T ${SAMPLED.temperature}, top-p ${SAMPLED.topP}): ` +
                `${median(sampled["sampled-step"]).toFixed(2)} ms/token with a host pick per step, ` +
                `${median(sampled.sampled).toFixed(2)} ms/token by default`,
            );
          }
        }
      }
      model.dispose();
    }
    printTable(rows, peaks !== null);
    if (typeof flags.json === "string") {
      await writeFileAtomic(
        flags.json,
        JSON.stringify(
          {
            schema: BENCH_SCHEMA_ID,
            createdAt: new Date().toISOString(),
            tool: { name: "perfmamba", version: VERSION },
            environment: await hostInfo(backend),
            backend: backend.name,
            description: backend.description,
            size: shape,
            fusedDecode: fusedDecode && !!backend.capabilities.fusedDecode,
            ...(fingerprint !== null ? { model: fingerprint } : {}),
            peaks,
            rows,
          },
          null,
          2,
        ) + "\n",
      );
    }
  } finally {
    backend.dispose();
  }
}

function printTable(rows: Row[], withPeak: boolean): void {
  const withGpu = rows.some((r) => r.gpuMs !== undefined);
  const fix = (ms: number) => ms.toFixed(ms < 10 ? 2 : 1);
  const head = ["arch", "mode", "batch", "seqlen", "ms", "GPU ms", "tok/s", "GFLOP/s", withPeak ? "of peak" : ""];
  const body = rows.map((r) =>
    r.error ? [r.arch, r.mode, String(r.batch), String(r.seqLen), "failed", "", "", "", r.error.slice(0, 60)] : [
      r.arch,
      r.mode,
      String(r.batch),
      String(r.seqLen),
      fix(r.ms),
      r.gpuMs !== undefined ? fix(r.gpuMs) : "",
      r.tokPerS.toFixed(1),
      r.gflops.toFixed(2),
      r.ofPeak === null
        ? ""
        : `${(100 * r.ofPeak).toFixed(0)}% ${r.mode === "prefill" ? "of GEMM peak" : `of roofline (${r.bound})`}`,
    ]
  );
  const keep = head.map((_, i) => i !== 5 || withGpu); // the GPU column only where some row has a GPU time
  const cols = (cells: string[]) => cells.filter((_, i) => keep[i]);
  const widths = cols(head).map((h, i) => Math.max(h.length, ...body.map((b) => cols(b)[i].length)));
  const line = (cells: string[]) =>
    cols(cells).map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd();
  console.log(line(head));
  for (const b of body) console.log(line(b));
}
