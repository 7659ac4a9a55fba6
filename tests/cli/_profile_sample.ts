/**
 * A small synthetic {@link ProfileReport} for renderer tests: Mamba-1 and Mamba-2 with two layers, prefill at
 * L 64 and 128 and decode from the same contexts, batch 1, peaks measured. FLOPs and bytes come from runtime/cost.ts;
 * latencies from a simple launch + roofline model, so every derived field (share, GFLOP/s, roofline, coverage,
 * tokens/s, perLayerMs, trace spans) is consistent with the others.
 */

import type { MambaConfig } from "../../runtime/config.ts";
import { COMPONENTS, forwardBytes, forwardFlops } from "../../runtime/cost.ts";
import type { Component } from "../../runtime/model.ts";
import { makeConfig } from "../../runtime/presets.ts";
import { fnv1a64 } from "../../runtime/profiler.ts";
import {
  type ComponentProfile,
  PROFILE_SCHEMA_ID,
  type ProfiledModel,
  type ProfilePeaks,
  type ProfileReport,
  type ProfileRun,
  type Stats,
  type TraceSpan,
} from "../../runtime/profile_report.ts";

const PEAKS: ProfilePeaks = { bandwidthGBs: 180, gemmGflops: 2400, detail: "copy 64 MiB; 1024³ f32 GEMM" };
const SEQ_LENS = [64, 128];
const BATCH = 1;
const ITERS = 5;
/** Per-launch cost (ms) and the gap between timed spans (ms). */
const LAUNCH_MS = 0.0042;
const GAP_MS = 0.0011;

const CONFIGS: MambaConfig[] = [
  makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 512, dState: 16 }),
  makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 512, dState: 32, headDim: 16, chunkSize: 32 }),
];

/** Components a block of `arch` runs, in forward order. */
function componentsOf(config: MambaConfig): Component[] {
  const absent: Component[] = config.arch === "mamba1" ? ["gate_norm"] : ["x_proj", "dt_proj"];
  return COMPONENTS.filter((c) => !absent.includes(c));
}

const OUTSIDE = new Set<Component>(["embedding", "norm_f", "lm_head"]);

/** Stats around a median with a fixed, plausible spread. */
function stats(median: number, n = ITERS): Stats {
  return {
    n,
    mean: median * 1.012,
    median,
    min: median * 0.968,
    max: median * 1.094,
    std: median * 0.021,
    iqr: median * 0.034,
  };
}

/** Raw samples matching {@link stats}: n values with that median, min and max. */
function samples(median: number, n = ITERS): number[] {
  const spread = [0.968, 0.991, 1, 1.027, 1.094];
  return Array.from({ length: n }, (_, i) => median * spread[i % spread.length]);
}

/** Bytes of one output tensor per component (f32), for the activations it leaves allocated. */
function outputBytes(config: MambaConfig, c: Component, rows: number, logitRows: number): number {
  const d = config.dModel, D = config.dInner, N = config.dState;
  const conv = config.arch === "mamba1" ? D : D + 2 * config.nGroups * N;
  const perRow: Record<Component, number> = {
    embedding: d,
    norm: d,
    in_proj: config.arch === "mamba1" ? 2 * D : 2 * D + 2 * config.nGroups * N + config.nHeads,
    conv1d: conv,
    x_proj: config.dtRank + 2 * N,
    dt_proj: D,
    bcdt_norm: config.dtRank + 2 * N, // Falcon-Mamba only: δ, B and C normalised
    ssm: D,
    gate_norm: D,
    out_proj: d,
    residual: d,
    norm_f: d,
    lm_head: config.vocabSize,
  };
  const r = c === "norm_f" || c === "lm_head" ? logitRows : rows;
  return 4 * r * perRow[c] * (OUTSIDE.has(c) ? 1 : config.nLayer);
}

/** Parameter bytes per component (f32), all layers. */
function parameterBytes(config: MambaConfig, c: Component): number {
  const b = forwardBytes(config, 1, 1, { logitRows: 1 });
  // Weights are read once per pass whatever the rows, except the embedding, which gathers rows: use the table.
  if (c === "embedding") return 4 * config.vocabSize * config.dModel;
  if (c === "lm_head") return 0; // tied to the embedding
  return b[c].weights;
}

function stateBytes(config: MambaConfig, c: Component, batch: number): number {
  const D = config.dInner, N = config.dState, K = config.dConv, L = config.nLayer;
  if (c === "conv1d") {
    const C = config.arch === "mamba1" ? D : D + 2 * config.nGroups * N;
    return 4 * batch * C * (K - 1) * L;
  }
  if (c === "ssm") return 4 * batch * (config.arch === "mamba1" ? D * N : config.nHeads * config.headDim * N) * L;
  return 0;
}

function makeRun(model: number, config: MambaConfig, mode: "prefill" | "decode", seqLen: number): ProfileRun {
  const tokens = mode === "prefill" ? seqLen : 1;
  const logitRows = BATCH;
  const flops = forwardFlops(config, BATCH, tokens, logitRows);
  const bytes = forwardBytes(config, BATCH, tokens, { logitRows });
  const ridge = PEAKS.gemmGflops / PEAKS.bandwidthGBs;
  const names = componentsOf(config);

  // Per-layer instance latency: launch + time on the roof at 55 % efficiency, layer l slightly slower.
  const perLayer = new Map<Component, number[]>();
  for (const c of names) {
    const layers = OUTSIDE.has(c) ? 1 : config.nLayer;
    const f = flops[c] / layers, b = (bytes[c].weights + bytes[c].activations + bytes[c].state) / layers;
    const roofMs = Math.max(f / (PEAKS.gemmGflops * 1e6), b / (PEAKS.bandwidthGBs * 1e6));
    perLayer.set(c, Array.from({ length: layers }, (_, l) => (LAUNCH_MS + roofMs / 0.55) * (1 + 0.037 * l)));
  }

  const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);
  const totalMs = sum(names.map((c) => sum(perLayer.get(c)!)));
  const components: ComponentProfile[] = names.map((c) => {
    const perLayerMs = perLayer.get(c)!;
    const median = sum(perLayerMs);
    const total = bytes[c].weights + bytes[c].activations + bytes[c].state;
    const gflops = flops[c] / (median * 1e6), gbs = total / (median * 1e6);
    const intensity = total > 0 ? flops[c] / total : 0;
    const attainable = Math.min(PEAKS.gemmGflops, intensity * PEAKS.bandwidthGBs);
    return {
      name: c,
      layers: perLayerMs.length,
      passes: perLayerMs.length,
      ms: stats(median),
      samples: samples(median),
      share: median / totalMs,
      flops: flops[c],
      bytes: { ...bytes[c], total },
      gflops,
      gbs,
      roofline: {
        intensity,
        attainableGflops: attainable,
        bound: intensity < ridge ? "memory" : "compute",
        ofAttainable: attainable > 0 ? gflops / attainable : gbs / PEAKS.bandwidthGBs,
      },
      memory: {
        weights: parameterBytes(config, c),
        activations: outputBytes(config, c, BATCH * tokens, logitRows),
        state: stateBytes(config, c, BATCH),
        scratch: c === "ssm" && mode === "prefill" ? 4 * BATCH * tokens * config.dInner : 0,
      },
      perLayerMs,
    };
  });

  // The representative iteration: spans back to back in forward order, a small gap after each.
  const trace: TraceSpan[] = [];
  let t = 0.0023;
  const span = (c: Component, layer: number, duration: number) => {
    trace.push({ component: c, layer, start: t, duration });
    t += duration + GAP_MS;
  };
  span("embedding", -1, perLayer.get("embedding")![0]);
  for (let l = 0; l < config.nLayer; l++) {
    for (const c of names) if (!OUTSIDE.has(c)) span(c, l, perLayer.get(c)![l]);
  }
  span("norm_f", -1, perLayer.get("norm_f")![0]);
  span("lm_head", -1, perLayer.get("lm_head")![0]);

  const gpuMs = stats(totalMs * 1.018);
  const wallMs = gpuMs.median * 1.06 + 0.021;
  const state = sum(components.map((c) => c.memory.state));
  const weights = sum(components.map((c) => c.memory.weights));
  const peakExtra = Math.max(...components.map((c) => c.memory.activations + c.memory.scratch));
  return {
    model,
    arch: config.arch,
    mode,
    batch: BATCH,
    seqLen,
    endToEnd: {
      ms: stats(wallMs),
      samples: samples(wallMs),
      tokensPerS: (mode === "prefill" ? BATCH * seqLen : BATCH) / (wallMs / 1000),
      instrumentedMs: stats(t + 0.05),
      overheadPct: ((t + 0.05) / wallMs - 1) * 100,
      gpuMs,
      gpuSamples: samples(gpuMs.median),
      referenceMs: gpuMs.median,
      coverage: totalMs / gpuMs.median,
      passOverheadMs: 0,
      rawCoverage: totalMs / gpuMs.median,
    },
    components,
    flops: sum(Object.values(flops)),
    bytes: sum(components.map((c) => c.bytes.total)),
    memory: { baseline: weights + state, peak: weights + state + peakExtra, weights, state },
    trace,
  };
}

function describe(config: MambaConfig, index: number): ProfiledModel {
  const weightBytes = COMPONENTS.reduce((a, c) => a + parameterBytes(config, c), 0);
  return {
    name: `${config.arch}-tiny (random weights, seed ${index})`,
    arch: config.arch,
    config: {
      dModel: config.dModel,
      nLayer: config.nLayer,
      dInner: config.dInner,
      dState: config.dState,
      vocabSize: config.vocabSize,
      dConv: config.dConv,
      nHeads: config.nHeads,
      headDim: config.headDim,
      nGroups: config.nGroups,
      chunkSize: config.arch === "mamba2" ? config.chunkSize : 0,
      dtRank: config.arch === "mamba1" ? config.dtRank : 0,
    },
    parameters: weightBytes / 4,
    weightBytes,
    weightFormat: {
      matrices: "f32",
      embedding: "f32",
      components: Object.fromEntries(
        (config.arch === "mamba1"
          ? ["embedding", "in_proj", "x_proj", "dt_proj", "out_proj"]
          : ["embedding", "in_proj", "out_proj"]).map((c) => [c, "f32"]),
      ),
      activations: null,
      label: "f32, embedding f32",
    },
    fingerprint: fnv1a64(JSON.stringify({ arch: config.arch, dModel: config.dModel, nLayer: config.nLayer, index })),
  };
}

/** A fresh copy of the sample report (callers may mutate it). */
export function sampleReport(): ProfileReport {
  const runs = CONFIGS.flatMap((config, m) =>
    (["prefill", "decode"] as const).flatMap((mode) => SEQ_LENS.map((L) => makeRun(m, config, mode, L)))
  );
  return {
    schema: PROFILE_SCHEMA_ID,
    createdAt: "2025-01-15T10:20:30.000Z",
    tool: { name: "perfmamba", version: "0.1.0" },
    environment: {
      backend: "webgpu",
      description: "Test Adapter (vendor: test, architecture: synthetic)",
      timing: "timestamp-query",
      timingNote: "GPU time of one compute pass per component and layer; passes split at every component.",
      host: "Deno/2.9.6 (test)",
      weights: "f32",
      peaks: { ...PEAKS },
      git: "0123456789abcdef0123456789abcdef01234567",
      cpu: { model: "Test CPU @ 3.0GHz", logicalCores: 8 },
      gpu: { vendor: "test", architecture: "synthetic", device: "", description: "Test Adapter" },
      runtime: { name: "deno", version: "2.9.6" },
    },
    options: { seqLens: [...SEQ_LENS], batch: BATCH, modes: ["prefill", "decode"], warmup: 2, iters: ITERS },
    models: CONFIGS.map(describe),
    runs,
  };
}
