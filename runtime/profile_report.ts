/**
 * The profile report: what {@link profileModel} returns and `perfmamba profile` writes as `profile.json`.
 * Plain JSON data (no classes, no typed arrays), versioned by {@link PROFILE_SCHEMA_ID}; its JSON Schema is
 * {@link PROFILE_JSON_SCHEMA}.
 *
 * Units: times in milliseconds, sizes in bytes, rates in GFLOP/s and GB/s (10⁹ bytes per second).
 *
 * @module
 */

import { COMPONENTS } from "./cost.ts";
import type { Component } from "./model.ts";

/** Version tag of the report format; bumped when a field changes meaning or disappears. */
export const PROFILE_SCHEMA_ID = "perfmamba.profile/1";

/** How component latencies were measured. */
export type TimingMethod =
  /** GPU time of one compute pass per component and layer, from `timestamp-query`. */
  | "timestamp-query"
  /** Wall time between GPU fences (a sync after each component), minus the measured cost of an empty sync. */
  | "fenced"
  /** performance.now() around each (synchronous) CPU op. */
  | "wall-clock";

/** Summary statistics of repeated measurements (ms). */
export interface Stats {
  /** Number of samples. */
  n: number;
  mean: number;
  median: number;
  min: number;
  max: number;
  /** Sample standard deviation (0 for one sample). */
  std: number;
  /** Interquartile range (p75 − p25): the spread reported beside the median. */
  iqr: number;
}

/** Bytes a component moves through memory per forward pass (minimum traffic: every operand once). */
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

/** Bytes a component holds. */
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

/** Roofline position of a component against the measured device peaks. */
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

/** One component of the block (all layers summed) in one run. */
export interface ComponentProfile {
  /** Component name (see {@link Component}). */
  name: Component;
  /** Layers it appears in (1 for embedding, norm_f, lm_head). */
  layers: number;
  /** Latency per forward pass, summed over layers (timestamp-query: net of passes × passOverheadMs). */
  ms: Stats;
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

/** One timed span of the representative iteration, for traces (ms from the start of the forward pass). */
export interface TraceSpan {
  component: Component;
  /** Layer index, −1 outside the blocks. */
  layer: number;
  start: number;
  duration: number;
}

/** End-to-end figures of a run. */
export interface EndToEnd {
  /** Wall time of an un-instrumented forward pass (prefill: TTFT of the batch; decode: time per step). */
  ms: Stats;
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
}

/** Memory of a run (bytes, from the backend's allocator). */
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

/** One (model, mode, batch, sequence length) measurement. */
export interface ProfileRun {
  /** Index into {@link ProfileReport.models}. */
  model: number;
  arch: "mamba1" | "mamba2";
  mode: "prefill" | "decode";
  batch: number;
  /** Prefill: prompt length. Decode: the context length the steps continue from. */
  seqLen: number;
  endToEnd: EndToEnd;
  components: ComponentProfile[];
  /** Analytic FLOPs and bytes of the whole pass. */
  flops: number;
  bytes: number;
  memory: RunMemory;
  /** Spans of the iteration with the median instrumented time. */
  trace: TraceSpan[];
}

/** A profiled model. */
export interface ProfiledModel {
  /** Display name ("mamba2-130m (random weights)" or the checkpoint folder). */
  name: string;
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
  parameters: number;
  /** Bytes of the parameters on the backend. */
  weightBytes: number;
}

/** Device peaks measured by the backend's own micro-benchmarks. */
export interface ProfilePeaks {
  bandwidthGBs: number;
  gemmGflops: number;
  detail: string;
}

/** The whole profile. */
export interface ProfileReport {
  schema: typeof PROFILE_SCHEMA_ID;
  /** ISO 8601 time the profile finished. */
  createdAt: string;
  tool: { name: string; version: string };
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
    /** Weight matrix storage. */
    weights: "f32" | "f16";
    peaks: ProfilePeaks | null;
  };
  options: {
    seqLens: number[];
    batch: number;
    modes: ("prefill" | "decode")[];
    warmup: number;
    iters: number;
  };
  models: ProfiledModel[];
  runs: ProfileRun[];
}

const statsSchema = {
  type: "object",
  required: ["n", "mean", "median", "min", "max", "std", "iqr"],
  additionalProperties: false,
  properties: {
    n: { type: "integer", minimum: 1 },
    ...Object.fromEntries(
      ["mean", "median", "min", "max", "std", "iqr"].map((k) => [k, { type: "number", minimum: 0 }]),
    ),
  },
} as const;

const num = { type: "number" } as const;
const nonNeg = { type: "number", minimum: 0 } as const;
const count = { type: "integer", minimum: 0 } as const;

function obj(properties: Record<string, unknown>, required = Object.keys(properties)) {
  return { type: "object", required, additionalProperties: false, properties };
}

/** JSON Schema (draft 2020-12) of {@link ProfileReport}. */
export const PROFILE_JSON_SCHEMA: Record<string, unknown> = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://jsr.io/@perfmamba/perfmamba/profile.schema.json",
  title: "PerfMamba profile report",
  ...obj({
    schema: { const: PROFILE_SCHEMA_ID },
    createdAt: { type: "string", format: "date-time" },
    tool: obj({ name: { type: "string" }, version: { type: "string" } }),
    environment: obj({
      backend: { type: "string" },
      description: { type: "string" },
      timing: { enum: ["timestamp-query", "fenced", "wall-clock"] },
      timingNote: { type: "string" },
      host: { type: "string" },
      weights: { enum: ["f32", "f16"] },
      peaks: {
        oneOf: [{ type: "null" }, obj({ bandwidthGBs: nonNeg, gemmGflops: nonNeg, detail: { type: "string" } })],
      },
    }),
    options: obj({
      seqLens: { type: "array", items: { type: "integer", minimum: 1 }, minItems: 1 },
      batch: { type: "integer", minimum: 1 },
      modes: { type: "array", items: { enum: ["prefill", "decode"] }, minItems: 1 },
      warmup: count,
      iters: { type: "integer", minimum: 1 },
    }),
    models: {
      type: "array",
      minItems: 1,
      items: obj({
        name: { type: "string" },
        arch: { enum: ["mamba1", "mamba2"] },
        config: obj(
          Object.fromEntries(
            [
              "dModel",
              "nLayer",
              "dInner",
              "dState",
              "vocabSize",
              "dConv",
              "nHeads",
              "headDim",
              "nGroups",
              "chunkSize",
              "dtRank",
            ]
              .map((k) => [k, count]),
          ),
        ),
        parameters: count,
        weightBytes: count,
      }),
    },
    runs: {
      type: "array",
      items: obj({
        model: count,
        arch: { enum: ["mamba1", "mamba2"] },
        mode: { enum: ["prefill", "decode"] },
        batch: { type: "integer", minimum: 1 },
        seqLen: { type: "integer", minimum: 1 },
        endToEnd: obj({
          ms: statsSchema,
          tokensPerS: nonNeg,
          instrumentedMs: statsSchema,
          overheadPct: num,
          gpuMs: { oneOf: [{ type: "null" }, statsSchema] },
          referenceMs: nonNeg,
          coverage: nonNeg,
          passOverheadMs: { oneOf: [{ type: "null" }, nonNeg] },
          rawCoverage: nonNeg,
        }),
        components: {
          type: "array",
          minItems: 1,
          items: obj({
            name: { enum: COMPONENTS },
            layers: { type: "integer", minimum: 1 },
            ms: statsSchema,
            passes: count,
            share: { type: "number", minimum: 0, maximum: 1 },
            flops: nonNeg,
            bytes: obj({ weights: nonNeg, activations: nonNeg, state: nonNeg, total: nonNeg }),
            gflops: nonNeg,
            gbs: nonNeg,
            roofline: {
              oneOf: [
                { type: "null" },
                obj({
                  intensity: nonNeg,
                  attainableGflops: nonNeg,
                  bound: { enum: ["memory", "compute"] },
                  ofAttainable: nonNeg,
                }),
              ],
            },
            memory: obj({ weights: count, activations: { type: "integer" }, state: count, scratch: count }),
            perLayerMs: { type: "array", items: nonNeg, minItems: 1 },
          }),
        },
        flops: nonNeg,
        bytes: nonNeg,
        memory: obj({ baseline: count, peak: count, weights: count, state: count }),
        trace: {
          type: "array",
          items: obj({
            component: { enum: COMPONENTS },
            layer: { type: "integer", minimum: -1 },
            start: nonNeg,
            duration: nonNeg,
          }),
        },
      }),
    },
  }),
};
