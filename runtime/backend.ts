/**
 * The backend interface: everything the model needs from a compute device, and nothing about the model.
 *
 * Conventions shared by every op:
 * - Activations are 2-D, row-major `[rows, cols]` float32 tensors. A batch of `B` sequences of length `L` is
 *   `rows = B·L` with row `b·L + t` holding token `t` of sequence `b`.
 * - A {@link View} is a column slice of a 2-D tensor (row stride = the tensor's `cols`), so the outputs of
 *   `in_proj` / `x_proj` are split into z, x, B, C, Δ without copies.
 * - Linear weights are {@link Matrix} handles `[n, k]` (PyTorch `Linear` layout: out features × in features); a
 *   backend may keep them in any internal layout. `linear(x, W)` computes `x · Wᵀ (+ bias)`.
 * - Ops return new tensors owned by the caller, who releases them with `free`. State tensors passed to
 *   `conv1d`, `selectiveScan` and `ssd` are read and updated in place.
 * - Ops may run eagerly (WASM) or be queued (WebGPU); `read` and `sync` wait for queued work.
 *
 * @module
 */
import type { TokenChoice } from "./sampling.ts";

/**
 * A device tensor. Its memory belongs to the backend that made it.
 *
 * @example
 * ```ts
 * import { selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const t = backend.upload(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], "x");
 * console.log(t.shape, t.size, t.label); // [ 2, 3 ] 6 x
 * const back = await backend.read(t); // copies it back to the host
 * if (back[5] !== 6) throw new Error("round trip lost data");
 * backend.free(t);
 * backend.dispose();
 * ```
 */
export interface Tensor {
  /** Dimensions, outermost first. Activations are `[rows, cols]`. */
  readonly shape: readonly number[];
  /** Number of float32 elements. */
  readonly size: number;
  /** Debug name (buffer labels, error messages, profiler memory attribution). */
  readonly label: string;
}

/**
 * A weight matrix `[n, k]` (out × in), stored however the backend likes.
 *
 * @example
 * ```ts
 * import { selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * // W = [[1, 0, 0], [1, 1, 1]]: 2 outputs (n) × 3 inputs (k), PyTorch `Linear` layout.
 * const w = backend.uploadMatrix(new Float32Array([1, 0, 0, 1, 1, 1]), 2, 3, "w");
 * console.log(w.n, w.k); // 2 3
 * const x = backend.upload(new Float32Array([1, 2, 3]), [1, 3], "x");
 * const y = backend.linear(x, w); // x · Wᵀ
 * console.log(await backend.read(y)); // Float32Array(2) [ 1, 6 ]
 * for (const t of [x, y, w]) backend.free(t);
 * backend.dispose();
 * ```
 */
export interface Matrix {
  /** Output features (rows of the PyTorch weight). */
  readonly n: number;
  /** Input features. */
  readonly k: number;
  /** Debug name. */
  readonly label: string;
}

/**
 * Columns `[col, col + cols)` of a 2-D tensor; the row stride is `tensor.shape[1]`.
 *
 * @example
 * ```ts
 * import { selectBackend, type View } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * // Two rows [a0 a1 | b0 b1]: the columns of "b" are a View, not a copy.
 * const ab = backend.upload(new Float32Array([1, 2, 10, 20, 3, 4, 30, 40]), [2, 4], "ab");
 * const b: View = { tensor: ab, col: 2, cols: 2 };
 * const sum = backend.uploadMatrix(new Float32Array([1, 1]), 1, 2, "sum"); // y = b0 + b1
 * const y = backend.linear(b, sum);
 * console.log(await backend.read(y)); // Float32Array(2) [ 30, 70 ]
 * for (const t of [ab, sum, y]) backend.free(t);
 * backend.dispose();
 * ```
 */
export interface View {
  /** The 2-D tensor viewed. */
  readonly tensor: Tensor;
  /** First column. */
  readonly col: number;
  /** Number of columns. */
  readonly cols: number;
}

/**
 * Arguments of the Mamba-1 selective scan (`selective_scan_fn` with `delta_softplus = true` and a z gate).
 *
 * @example
 * ```ts
 * import { selectBackend, type SelectiveScanArgs, view } from "@perfmamba/perfmamba";
 *
 * // One token, one channel (D = 1), one state (N = 1): u = 1, Δ = softplus(0) = ln 2, A = −1, B = C = 1,
 * // D skip 0, gate z = 1. From h₀ = 0: h₁ = exp(Δ·A)·h₀ + Δ·B·u = ln 2 and y = (C·h₁ + D·u) · SiLU(z).
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const cols = backend.upload(new Float32Array([1, 0, 1, 1, 1]), [1, 5], "u|delta|B|C|z");
 * const A = backend.upload(new Float32Array([-1]), [1, 1], "A");
 * const D = backend.upload(new Float32Array([0]), [1], "D");
 * const state = backend.zeros([1, 1, 1], "h"); // [batch, D, N]
 * const args: SelectiveScanArgs = {
 *   u: view(cols, 0, 1),
 *   delta: view(cols, 1, 1),
 *   A,
 *   B: view(cols, 2, 1),
 *   C: view(cols, 3, 1),
 *   D,
 *   z: view(cols, 4, 1),
 *   state,
 *   batch: 1,
 *   seqLen: 1,
 * };
 * const y = backend.selectiveScan(args);
 * const silu1 = 1 / (1 + Math.exp(-1));
 * const [got] = await backend.read(y);
 * const [h] = await backend.read(state); // updated in place
 * if (Math.abs(got - Math.LN2 * silu1) > 1e-5 || Math.abs(h - Math.LN2) > 1e-5) throw new Error(`y ${got}, h ${h}`);
 * for (const t of [cols, A, D, state, y]) backend.free(t);
 * backend.dispose();
 * ```
 */
export interface SelectiveScanArgs {
  /** `[T, D]` conv output u (after SiLU). */
  u: View;
  /** `[T, D]` Δ before softplus (dt_proj output including its bias). */
  delta: View;
  /** `[D, N]` A = −exp(A_log) (f32, or f16 from `uploadHalf`). */
  A: Tensor;
  /** `[T, N]` input-dependent B. */
  B: View;
  /** `[T, N]` input-dependent C. */
  C: View;
  /** `[D]` skip connection. */
  D: Tensor;
  /** `[T, D]` gate; the output is multiplied by SiLU(z). */
  z: View;
  /** `[batch, D, N]` SSM state h, read as the initial state and overwritten with the final one. */
  state: Tensor;
  /** Sequences in the batch. */
  batch: number;
  /** Tokens per sequence (T = batch · seqLen). */
  seqLen: number;
}

/**
 * Arguments of the Mamba-2 SSD (chunked for prefill, recurrent when seqLen is 1). Output includes D·x.
 *
 * @example
 * ```ts
 * import { selectBackend, type SsdArgs, view } from "@perfmamba/perfmamba";
 *
 * // One token, one head (H = 1, P = 1), one group with one state (G = 1, N = 1): x = 1, Δ = softplus(0 + 0) = ln 2,
 * // A = −1, B = C = 1, D skip 0.5. From h₀ = 0: h₁ = Δ·B·x = ln 2 and y = C·h₁ + D·x = ln 2 + 0.5.
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const cols = backend.upload(new Float32Array([1, 0, 1, 1]), [1, 4], "x|dt|B|C");
 * const dtBias = backend.upload(new Float32Array([0]), [1], "dt_bias");
 * const A = backend.upload(new Float32Array([-1]), [1], "A");
 * const D = backend.upload(new Float32Array([0.5]), [1], "D");
 * const state = backend.zeros([1, 1, 1, 1], "h"); // [batch, H, P, N]
 * const args: SsdArgs = {
 *   x: view(cols, 0, 1),
 *   dt: view(cols, 1, 1),
 *   dtBias,
 *   A,
 *   B: view(cols, 2, 1),
 *   C: view(cols, 3, 1),
 *   D,
 *   state,
 *   batch: 1,
 *   seqLen: 1,
 *   nHeads: 1,
 *   headDim: 1,
 *   nGroups: 1,
 *   dState: 1,
 *   chunkSize: 256,
 *   dtMin: 0,
 *   dtMax: Infinity,
 * };
 * const y = backend.ssd(args);
 * const [got] = await backend.read(y);
 * if (Math.abs(got - (Math.LN2 + 0.5)) > 1e-5) throw new Error(`y = ${got}`);
 * console.log((await backend.read(state))[0].toFixed(4)); // 0.6931
 * for (const t of [cols, dtBias, A, D, state, y]) backend.free(t);
 * backend.dispose();
 * ```
 */
export interface SsdArgs {
  /** `[T, H·P]` x (after conv + SiLU). */
  x: View;
  /** `[T, H]` Δ before bias and softplus. */
  dt: View;
  /** `[H]` Δ bias. */
  dtBias: Tensor;
  /** `[H]` A = −exp(A_log), one scalar per head (f32, or f16 from `uploadHalf`). */
  A: Tensor;
  /** `[T, G·N]` B (after conv + SiLU). */
  B: View;
  /** `[T, G·N]` C (after conv + SiLU). */
  C: View;
  /** `[H]` skip connection. */
  D: Tensor;
  /** `[batch, H, P, N]` SSM state, read as the initial state and overwritten with the final one. */
  state: Tensor;
  /** Sequences in the batch. */
  batch: number;
  /** Tokens per sequence. */
  seqLen: number;
  /** Heads H. */
  nHeads: number;
  /** Channels per head P. */
  headDim: number;
  /** Groups G of B/C (head h reads group ⌊h / (H / G)⌋). */
  nGroups: number;
  /** State size N. */
  dState: number;
  /** Chunk length Q of the chunked algorithm. */
  chunkSize: number;
  /** Δ clamp after softplus. */
  dtMin: number;
  /** Δ clamp after softplus (may be Infinity). */
  dtMax: number;
}

/**
 * Bytes a backend currently holds, and the most it has held at once.
 *
 * @example
 * ```ts
 * import { type MemoryStats, selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const t = backend.zeros([256, 64], "activations"); // 256 · 64 floats = 64 KiB
 * backend.free(t);
 * const mem: MemoryStats = backend.memory();
 * console.log(mem.liveBytes, mem.peakBytes); // 0 65536
 * backend.resetPeak(); // peak restarts from the live bytes
 * console.log(backend.memory().peakBytes); // 0
 * backend.dispose();
 * ```
 */
export interface MemoryStats {
  /** Bytes in live tensors and matrices. */
  liveBytes: number;
  /** High-water mark of liveBytes since creation (or the last `resetPeak`). */
  peakBytes: number;
}

/**
 * This device's limits, measured by a backend's own micro-benchmarks (not a datasheet).
 *
 * @example
 * ```ts
 * import type { DevicePeaks } from "@perfmamba/perfmamba";
 *
 * // Roofline: the best rate a kernel of a given arithmetic intensity can reach on this device.
 * function attainableGflops(peaks: DevicePeaks, flops: number, bytes: number): number {
 *   return Math.min(peaks.gemmGflops, peaks.bandwidthGBs * (flops / bytes));
 * }
 *
 * // Real numbers come from `await backend.measurePeaks()` (a few hundred ms to a few seconds).
 * const peaks: DevicePeaks = { bandwidthGBs: 25, gemmGflops: 100, detail: "example" };
 * // A decode-time matrix-vector product: 2 FLOPs per f32 weight (4 bytes) → bandwidth-bound.
 * console.log(attainableGflops(peaks, 2, 4)); // 12.5
 * ```
 */
export interface DevicePeaks {
  /** Streaming memory bandwidth, GB/s (bytes read + written per second). */
  bandwidthGBs: number;
  /** Best GEMM rate of the backend's own kernel, GFLOP/s. */
  gemmGflops: number;
  /** How they were measured (sizes, threads). */
  detail: string;
}

/**
 * GPU time of one timed compute pass.
 *
 * @example
 * ```ts
 * import type { PassTiming } from "@perfmamba/perfmamba";
 *
 * // Total GPU milliseconds per scope, from what `backend.passTimer?.timings()` returned.
 * function totals(timings: PassTiming[]): Record<string, number> {
 *   const out: Record<string, number> = {};
 *   for (const t of timings) out[t.label] = (out[t.label] ?? 0) + t.ms;
 *   return out;
 * }
 *
 * console.log(totals([
 *   { label: "ssm", ms: 0.5, start: 0, end: 0.5 },
 *   { label: "out_proj", ms: 0.125, start: 0.5, end: 0.625 },
 *   { label: "ssm", ms: 0.25, start: 1, end: 1.25 },
 * ])); // { ssm: 0.75, out_proj: 0.125 }
 * ```
 */
export interface PassTiming {
  /** The scope set with {@link PassTimer.setScope}, or the kernel name when no scope was set. */
  label: string;
  /** Milliseconds between the pass's begin and end timestamps. */
  ms: number;
  /** Begin on the device clock, in ms from the backend's first timed pass. */
  start: number;
  /** End on the device clock, in ms from the backend's first timed pass. */
  end: number;
}

/**
 * Per-pass GPU timing (WebGPU with `timestamp-query`), for profilers.
 *
 * @example
 * ```ts
 * import { type Backend, selectBackend } from "@perfmamba/perfmamba";
 *
 * // GPU milliseconds of the work `run` queues, or null when the backend cannot time passes.
 * async function gpuMs(backend: Backend, run: () => void): Promise<number | null> {
 *   const timer = backend.passTimer; // WebGPU created with `timestamps: true` on an adapter that has them
 *   if (!timer) return null;
 *   timer.enabled = true;
 *   timer.setScope("work");
 *   run();
 *   timer.setScope(null);
 *   return (await timer.timings()).reduce((ms, t) => ms + t.ms, 0);
 * }
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const x = backend.zeros([4, 4], "x");
 * console.log(await gpuMs(backend, () => backend.free(backend.add(x, x)))); // null (WASM has no pass timer)
 * backend.free(x);
 * backend.dispose();
 * ```
 */
export interface PassTimer {
  /** Whether passes recorded from now on are timed; switch off to measure an un-instrumented run. */
  enabled: boolean;
  /** Label the passes recorded from now on; work under one label shares a pass (null: one pass per kernel). */
  setScope(label: string | null): void;
  /** Timings of every pass recorded since the last call (submits pending work first). */
  timings(): Promise<PassTiming[]>;
}

/**
 * A weight storage format a backend can hold matrices in (the math is f32 in every case).
 *
 * @example
 * ```ts
 * import type { WeightFormat } from "@perfmamba/perfmamba";
 *
 * const bytesPerWeight: Record<WeightFormat, number> = { f32: 4, f16: 2 };
 * console.log(bytesPerWeight.f16 * 768 * 3072); // 4718592
 * ```
 */
export type WeightFormat = "f32" | "f16";

/**
 * A block-quantized weight format, byte-compatible with ggml's (GGUF's) Q8_0 and Q4_0, so GGUF tensors of those
 * types upload without requantizing. A row of k weights (k a multiple of 32) is k / 32 blocks of 32 consecutive
 * weights, each block an f16 scale d (little-endian) followed by its codes:
 * - `q8_0`: 34 bytes — 32 int8 q; w = d · q.
 * - `q4_0`: 18 bytes — 16 bytes of nibbles, byte j holding element j in its low nibble and element j + 16 in its
 *   high nibble; w = d · (q − 8).
 *
 * @example
 * ```ts
 * import type { QuantFormat } from "@perfmamba/perfmamba";
 *
 * const blockBytes: Record<QuantFormat, number> = { q8_0: 34, q4_0: 18 };
 * console.log((768 * 3072 / 32) * blockBytes.q4_0); // 1327104 bytes for a 768 × 3072 matrix
 * ```
 */
export type QuantFormat = "q8_0" | "q4_0";

/**
 * Bytes of one block of 32 weights of each {@link QuantFormat}.
 *
 * @example
 * ```ts
 * import { QUANT_BLOCK_BYTES } from "@perfmamba/perfmamba";
 *
 * // A 768 × 1536 matrix: 1536 / 32 blocks per row.
 * console.log(768 * (1536 / 32) * QUANT_BLOCK_BYTES.q8_0, 768 * (1536 / 32) * QUANT_BLOCK_BYTES.q4_0); // 1253376 663552
 * ```
 */
export const QUANT_BLOCK_BYTES: Readonly<Record<QuantFormat, number>> = { q8_0: 34, q4_0: 18 };

/**
 * A block-quantized `[n, k]` weight on the host (PyTorch `Linear` layout, row-major): row r's k / 32 blocks start at
 * byte r · (k / 32) · {@link QUANT_BLOCK_BYTES}[format].
 *
 * @example
 * ```ts
 * import type { QuantizedMatrixData } from "@perfmamba/perfmamba";
 *
 * // One row of 32 weights, all 1: scale 1/127 would do; here d = 1 (f16 0x3c00) and q = 1.
 * const blocks = new Uint8Array(34);
 * blocks[1] = 0x3c;
 * blocks.fill(1, 2);
 * const w: QuantizedMatrixData = { format: "q8_0", n: 1, k: 32, blocks };
 * console.log(w.blocks.length === w.n * (w.k / 32) * 34); // true
 * ```
 */
export interface QuantizedMatrixData {
  /** Block format. */
  format: QuantFormat;
  /** Output features (rows). */
  n: number;
  /** Input features (a multiple of 32). */
  k: number;
  /** n · (k / 32) blocks, row after row. */
  blocks: Uint8Array;
}

/**
 * Synthetic uniform values as a recipe instead of data (runtime/synthetic.ts): element i of the tensor is the value
 * `syntheticUniform` writes for counter `key + i` at half-range `scale` (an f32). A backend that can generate them
 * itself ({@link Backend.generateUniform}) makes the very same bits without a host array or an upload.
 *
 * @example
 * ```ts
 * import { type SyntheticUniform, syntheticKey, syntheticUniform } from "@perfmamba/perfmamba";
 * const u: SyntheticUniform = { key: syntheticKey(1, 17), scale: Math.fround(0.5) };
 * const values = new Float32Array(4);
 * syntheticUniform(values, u.key, 0, u.scale);
 * console.log(values.every((v) => Math.abs(v) <= u.scale)); // true
 * ```
 */
export interface SyntheticUniform {
  /** The stream key (a u32: `syntheticKey(seed, id)`). */
  readonly key: number;
  /** The half-range, exactly representable as an f32. */
  readonly scale: number;
}

/**
 * What a backend can do. Callers branch on these, never on {@link Backend.name} (a display name).
 *
 * @example
 * ```ts
 * import { selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const caps = backend.capabilities;
 * // Decode in bursts only where a readback is expensive and the device can pick tokens itself.
 * const burst = caps.deviceTokenChoice ? caps.decodeBurst : 1;
 * console.log(caps.queued, caps.threads, burst, caps.weightFormats); // false 1 1 [ "f32" ]
 * backend.dispose();
 * ```
 */
export interface BackendCapabilities {
  /**
   * Ops are queued to a device and run later (WebGPU); false when each op has finished when it returns (WASM).
   * A host clock around a queued op measures only its encoding: time it with {@link timestamps} or fences.
   */
  readonly queued: boolean;
  /** Per-pass device timestamps are available ({@link Backend.passTimer} is set). */
  readonly timestamps: boolean;
  /** The next token can be chosen on the device ({@link Backend.argmaxInto} and {@link Backend.embedFrom}). */
  readonly deviceTokenChoice: boolean;
  /**
   * Decode steps worth running per host readback when {@link deviceTokenChoice} holds: large where a readback
   * costs milliseconds (WebGPU), 1 where reading is free (WASM).
   */
  readonly decodeBurst: number;
  /** Threads the kernels run on (1 for a GPU: its parallelism is not the host's). */
  readonly threads: number;
  /** Weight storage formats this backend can be created with; `weightFormat` is the one it uses. */
  readonly weightFormats: readonly WeightFormat[];
  /**
   * Block-quantized formats {@link Backend.uploadQuantizedMatrix} accepts (empty: none). Whatever the backend's
   * `weightFormat`, such a matrix keeps its blocks: `embed` dequantizes them in registers; `linear` too, or (WASM's
   * default) takes integer dot products with its input quantized to 16 bits per block (wasm/backend.ts).
   */
  readonly quantFormats: readonly QuantFormat[];
  /**
   * The arithmetic of a product with a block-quantized matrix, where the backend states it: "f32" (blocks
   * dequantized in registers, f32 activations) or an integer path ("int16", "int8": activations quantized, integer
   * dot products). Reports (the profiler's `weightFormat.activations`) show it; absent: not stated.
   */
  readonly quantActivations?: string;
  /** The format its matrices are stored in. */
  readonly weightFormat: WeightFormat;
  /** Sequences per forward pass that use the device well (batched perplexity windows, eval). */
  readonly preferredBatch: number;
  /** Bytes of tensors and matrices the backend can hold at once, where it has a hard limit (WASM: 4 GiB memory). */
  readonly maxMemoryBytes?: number;
  /**
   * Sampling (repetition penalty, temperature, top-k, top-p) by {@link Backend.sampleInto}, so sampled decode steps
   * run in bursts of {@link decodeBurst} per readback like greedy ones (`generate` uses it when set).
   */
  readonly deviceSampling: boolean;
  /** WASM: the kernels are the relaxed-SIMD build (fused multiply-adds where the host has them). */
  readonly relaxedSimd?: boolean;
  /**
   * Fused decode kernels, and the shapes they take: {@link Backend.fusedLinear}, {@link Backend.mamba1DecodeStep}
   * and {@link Backend.mamba2DecodeStep} exist, so a decode step takes at most 4 dispatches per layer
   * (`MambaModel.step` / `greedy` use them unless hooks are attached or `model.fusedDecode` is false). Absent: none.
   */
  readonly fusedDecode?: FusedDecodeLimits;
}

/**
 * The shapes the fused decode ops take ({@link BackendCapabilities.fusedDecode}); others run unfused.
 *
 * @example
 * ```ts
 * import { type FusedDecodeLimits, selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * // WASM has no fused decode kernels; WebGPU reports { maxRows: 8, maxNormGroups: 64, maxState: 256 }.
 * const limits: FusedDecodeLimits | undefined = backend.capabilities.fusedDecode;
 * console.log(limits?.maxRows ?? 0); // 0
 * backend.dispose();
 * ```
 */
export interface FusedDecodeLimits {
  /** Most rows (sequences of a decode batch) per call. */
  readonly maxRows: number;
  /** Most norm groups in a {@link FusedLinearOptions.norm} prologue. */
  readonly maxNormGroups: number;
  /** Largest state size N of {@link Backend.mamba2DecodeStep}. */
  readonly maxState: number;
}

/**
 * A compute device able to run every op of a Mamba-1 or Mamba-2 model.
 *
 * Get one with `selectBackend`; `MambaModel.load` uploads weights to it. Ops may be queued, so read
 * results with `read` (or wait with `sync`), and free what the ops return.
 *
 * @example
 * ```ts
 * import { type Backend, selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend: Backend = await selectBackend("wasm", { threads: 1 });
 * console.log(backend.name); // wasm
 * const x = backend.upload(new Float32Array([3, 4]), [1, 2], "x");
 * const ones = backend.upload(new Float32Array([1, 1]), [2], "weight");
 * const y = backend.rmsNorm(x, ones, 0); // x / sqrt(mean(x²)) = [3, 4] / sqrt(12.5)
 * const [a, b] = await backend.read(y);
 * if (Math.abs(a - 3 / Math.sqrt(12.5)) > 1e-6 || Math.abs(b - 4 / Math.sqrt(12.5)) > 1e-6) {
 *   throw new Error(`rmsNorm gave ${a}, ${b}`);
 * }
 * for (const t of [x, ones, y]) backend.free(t);
 * console.log(backend.memory().liveBytes); // 0
 * backend.dispose();
 * ```
 */
export interface Backend {
  /** "wasm" or "webgpu": a display name for reports and logs; branch on {@link capabilities} instead. */
  readonly name: string;
  /** What this backend can do. */
  readonly capabilities: BackendCapabilities;
  /** Human-readable detail: adapter, threads, SIMD. */
  readonly description: string;
  /**
   * Largest tensor (bytes) one kernel can bind, where the backend has such a limit (WebGPU's
   * `maxStorageBufferBindingSize`); the model splits long prefills over time to stay under it.
   */
  readonly maxBindingSize?: number;
  /** GPU pass timing, where the backend has it (WebGPU created with `timestamps` on an adapter that has it). */
  readonly passTimer?: PassTimer;

  /** Copy host data into a new tensor. */
  upload(data: Float32Array, shape: readonly number[], label: string): Tensor;
  /** Copy a `[n, k]` row-major weight into a new matrix. */
  uploadMatrix(data: Float32Array, n: number, k: number, label: string): Matrix;
  /**
   * Copy a block-quantized `[n, k]` weight into a new matrix without converting it: `linear`, `embed` and
   * `embedFrom` read its blocks (dequantized in registers, or WASM's integer path for `linear`). Present when
   * {@link BackendCapabilities.quantFormats} lists `data.format`.
   */
  uploadQuantizedMatrix?(data: QuantizedMatrixData, label: string): Matrix;
  /**
   * Copy host data into a new tensor stored as f16 (each value rounded to the nearest half; 2 bytes a value): a
   * quantized model's per-channel parameters (`MambaModel.paramFormat`). Only `conv1d` (weight, bias),
   * `selectiveScan` / `ssd` (A, D) and the fused decode steps take such a tensor, reading the halves directly (each
   * converted to f32 where it is loaded). Other ops refuse it. `read` returns its values as f32.
   *
   * @example
   * ```ts
   * import { selectBackend } from "@perfmamba/perfmamba";
   *
   * const backend = await selectBackend("wasm", { threads: 1 });
   * const d = backend.uploadHalf!(new Float32Array([1 / 3, -2]), [2], "D");
   * console.log(await backend.read(d)); // Float32Array(2) [ 0.333251953125, -2 ]
   * backend.free(d);
   * backend.dispose();
   * ```
   */
  uploadHalf?(data: Float32Array, shape: readonly number[], label: string): Tensor;
  /**
   * A new tensor of `shape` holding the synthetic values of `u` ({@link SyntheticUniform}), generated on the device
   * with the host generator's bits. Present where that beats generating on the host and uploading (WebGPU):
   * `MambaModel.fromSource` uses it for a source's synthetic tensors.
   */
  generateUniform?(u: SyntheticUniform, shape: readonly number[], label: string): Tensor;
  /** A new `[n, k]` matrix holding the synthetic values of `u`, stored as `uploadMatrix` would store them. */
  generateUniformMatrix?(u: SyntheticUniform, n: number, k: number, label: string): Matrix;
  /** A new zero-filled tensor. */
  zeros(shape: readonly number[], label: string): Tensor;
  /** A copy of a tensor (state cloning). */
  copy(t: Tensor, label?: string): Tensor;
  /** Overwrite a tensor with zeros (state reset). */
  fill0(t: Tensor): void;
  /** Read a tensor back to the host (waits for queued work). */
  read(t: Tensor): Promise<Float32Array>;
  /** Wait until every queued op has finished. */
  sync(): Promise<void>;
  /** Release a tensor or matrix. Using it afterwards is an error. */
  free(t: Tensor | Matrix): void;
  /** Memory held by this backend. */
  memory(): MemoryStats;
  /** Restart the peak of {@link memory} from the current live bytes. */
  resetPeak(): void;
  /** Release everything the backend owns. */
  dispose(): void;
  /** Measure streaming bandwidth and GEMM peak with built-in micro-benchmarks (takes a few seconds). */
  measurePeaks(): Promise<DevicePeaks>;

  /** `[T, d]` rows of the embedding matrix `[vocab, d]` for token ids (each < vocab). */
  embed(ids: Int32Array, table: Matrix): Tensor;
  /**
   * Greedy decoding without readbacks (optional; `MambaModel.greedy` uses it when present): writes the argmax of
   * each row of `x` `[rows, vocab]` — the lowest index among equal maxima, as `argmax` — into `ids` from element
   * `offset` on, as int32 bit patterns (read them with `new Int32Array((await backend.read(ids)).buffer)`). Only
   * the first `cols` columns of each row are candidates (default: all; a model passes `config.tokenVocabSize`, so
   * that a padded vocabulary's rows are never chosen).
   */
  argmaxInto?(x: Tensor, ids: Tensor, offset: number, cols?: number): void;
  /** With {@link argmaxInto}: `[count, d]` embedding rows for the int32 ids held by `ids` from element `offset`. */
  embedFrom?(ids: Tensor, offset: number, count: number, table: Matrix): Tensor;
  /**
   * Sampled decoding without readbacks (optional, with `capabilities.deviceSampling`; `MambaModel.sampleBurst` uses
   * it): for each row r of `x` `[rows, vocab]`, the token `sampleRow(row r, cols, choice, draws[drawOffset + r],
   * seen row r)` (runtime/sampling.ts: penalty → temperature → top-k → top-p → inverse CDF in id order) is written
   * into `ids` at `offset + r` as an int32 bit pattern and marked in `seen`. `seen` holds `[rows, ⌈cols / 32⌉]`
   * u32 bit words (as f32 bits): bit `id % 32` of word `id / 32` is set for every id seen so far (prompt and
   * generated), the repetition penalty's history. Only the first `cols` columns are candidates (default: all).
   */
  sampleInto?(
    x: Tensor,
    ids: Tensor,
    offset: number,
    choice: TokenChoice,
    draws: Tensor,
    drawOffset: number,
    seen: Tensor,
    cols?: number,
  ): void;
  /**
   * Compile ahead, in parallel, every kernel the work of `forward` would use (optional; WebGPU compiles its
   * pipelines with `createComputePipelineAsync`), so that the first real pass does not compile them one by one.
   * `forward` runs against this backend without computing anything (its results are meaningless and discarded).
   * Resolves to the number of kernels compiled. `MambaModel.prepare` calls it with dry forward passes.
   */
  prepare?(forward: () => Promise<unknown>): Promise<number>;
  /** `[T, d]` x / sqrt(mean(x²) + eps) · weight. */
  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor;
  /** `[T, d]` a + b. */
  add(a: Tensor, b: Tensor): Tensor;
  /** `[T, n]` x · Wᵀ (+ bias). x is `[T, k]`. */
  linear(x: Tensor | View, w: Matrix, bias?: Tensor | null): Tensor;
  /** `[R, cols]` the given rows of x (e.g. the last token of each sequence). */
  gatherRows(x: Tensor, rows: Int32Array): Tensor;
  /**
   * `[T, C]` SiLU(causal depthwise conv1d(x) + bias) per sequence, the conv state `[batch, C, K−1]` providing the
   * K−1 inputs before t = 0 and receiving the last K−1 inputs. weight is `[C, K]`.
   */
  conv1d(
    x: View,
    weight: Tensor,
    bias: Tensor | null,
    state: Tensor,
    batch: number,
    seqLen: number,
  ): Tensor;
  /** `[T, D]` Mamba-1 selective scan with softplus(Δ), D skip and SiLU(z) gate; updates the state. */
  selectiveScan(args: SelectiveScanArgs): Tensor;
  /** `[T, H·P]` Mamba-2 SSD including the D skip (no gate); updates the state. */
  ssd(args: SsdArgs): Tensor;
  /**
   * `[T, d]` Mamba-2 gated RMSNorm with norm_before_gate = false: g = y · SiLU(z), then each group of
   * `groupSize` channels is normalised by its own RMS and scaled by weight.
   */
  gatedRmsNorm(y: Tensor, z: View, weight: Tensor, groupSize: number, eps: number): Tensor;
  /**
   * Kernel dispatches recorded since the backend was created, where the backend counts them (WebGPU; planning
   * dry runs are not counted). The difference over a decode loop divided by its tokens is `dispatchesPerToken`.
   */
  readonly dispatchCount?: number;
  /**
   * With {@link BackendCapabilities.fusedDecode}: whether the fused decode ops take this matrix (its storage
   * format and its split over binding parts; `normGroupSize`: behind a norm prologue over groups of that many
   * channels); a layer with a matrix they do not take runs the unfused ops.
   */
  fusesMatrix?(m: Matrix, normGroupSize?: number): boolean;
  /**
   * With {@link BackendCapabilities.fusedDecode}: `[T, n]` residual + prologue(x) · Wᵀ + bias in one kernel per
   * weight part, for decode (T ≤ 8 rows): the prologue is nothing, or `options.norm`'s RMS norm (per group of
   * `groupSize` channels, times its weight; the Mamba RMSNorm and the Mamba-2 gated norm after its gate).
   */
  fusedLinear?(x: Tensor | View, w: Matrix, bias: Tensor | null, options?: FusedLinearOptions): Tensor;
  /**
   * With {@link BackendCapabilities.fusedDecode}: one Mamba-1 decode step of the mixer from the residual stream up
   * to out_proj, in three dispatches: RMSNorm → in_proj with conv1d (reading the conv state) in its epilogue,
   * x_proj, then the conv state update, dt_proj + softplus, the scan update, D skip and SiLU(z) gate. Returns
   * `[batch, D]`, as `selectiveScan`; updates both states.
   */
  mamba1DecodeStep?(args: Mamba1DecodeArgs): Tensor;
  /**
   * With {@link BackendCapabilities.fusedDecode}: one Mamba-2 decode step of the mixer after in_proj, in two
   * dispatches: conv1d + the SSD state update per head + D skip + the y · SiLU(z) gate, then the conv state update.
   * Returns `[batch, D]` y · SiLU(z) (the gated norm's RMS and weight are left to `fusedLinear`'s prologue).
   */
  mamba2DecodeStep?(args: Mamba2DecodeArgs): Tensor;
}

/**
 * Options of {@link Backend.fusedLinear}.
 *
 * @example
 * ```ts
 * import { type FusedLinearOptions, selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const h = backend.upload(new Float32Array([3, 4]), [1, 2], "h");
 * const norm = backend.upload(new Float32Array([1, 1]), [2], "norm");
 * const w = backend.uploadMatrix(new Float32Array([1, 1]), 1, 2, "w");
 * const options: FusedLinearOptions = { norm: { weight: norm, eps: 0, groupSize: 2 }, residual: null };
 * // Where fused decode exists: rmsNorm then linear in one kernel; elsewhere the same from the unfused ops.
 * const y = backend.capabilities.fusedDecode && backend.fusedLinear
 *   ? backend.fusedLinear(h, w, null, options)
 *   : backend.linear(backend.rmsNorm(h, norm, 0), w);
 * console.log(Math.abs((await backend.read(y))[0] - 7 / Math.sqrt(12.5)) < 1e-6); // true
 * backend.dispose();
 * ```
 */
export interface FusedLinearOptions {
  /** RMS norm of each group of `groupSize` input channels (x's width: one group), times `weight`, before the GEMV. */
  norm?: { weight: Tensor; eps: number; groupSize: number } | null;
  /** `[T, n]` added to the output (the residual stream), or none. */
  residual?: Tensor | null;
}

/**
 * Arguments of {@link Backend.mamba1DecodeStep} (one token per sequence, `batch` rows). `MambaModel` fills them from a
 * layer's weights and state (runtime/fused_step.ts); a backend without the op runs the unfused mixer.
 *
 * @example
 * ```ts
 * import { type Mamba1DecodeArgs, selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const step: ((args: Mamba1DecodeArgs) => unknown) | undefined = backend.mamba1DecodeStep;
 * console.log(step === undefined); // true: WASM decodes with the unfused ops
 * backend.dispose();
 * ```
 */
export interface Mamba1DecodeArgs {
  /** The residual stream `[batch, dModel]` entering the layer. */
  h: Tensor;
  /** The layer's RMSNorm (over the whole width) before in_proj. */
  norm: { weight: Tensor; eps: number };
  inProj: Matrix; // (2D, dModel): x in output columns [0, D), z in [D, 2D)
  inProjBias: Tensor | null; // (2D)
  convWeight: Tensor; // (D, K)
  convBias: Tensor | null; // (D)
  convState: Tensor; // (batch, D, K−1)
  xProj: Matrix; // (R + 2N, D)
  dtProj: Matrix; // (D, R)
  dtProjBias: Tensor; // (D)
  A: Tensor; // (D, N)
  D: Tensor; // (D)
  ssmState: Tensor; // (batch, D, N)
  batch: number;
  dtRank: number;
  dState: number;
}

/**
 * Arguments of {@link Backend.mamba2DecodeStep} (one token per sequence, `batch` rows). `MambaModel` fills them from a
 * layer's weights and state (runtime/fused_step.ts); a backend without the op runs the unfused mixer.
 *
 * @example
 * ```ts
 * import { type Mamba2DecodeArgs, selectBackend } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const step: ((args: Mamba2DecodeArgs) => unknown) | undefined = backend.mamba2DecodeStep;
 * console.log(step === undefined); // true: WASM decodes with the unfused ops
 * backend.dispose();
 * ```
 */
export interface Mamba2DecodeArgs {
  /** The residual stream `[batch, dModel]` entering the layer. */
  h: Tensor;
  /** The layer's RMSNorm (over the whole width) before in_proj. */
  norm: { weight: Tensor; eps: number };
  /** (2D + 2GN + H, dModel): z, x, B, C, dt in its output columns. */
  inProj: Matrix;
  inProjBias: Tensor | null; // (2D + 2GN + H)
  convWeight: Tensor; // (D + 2GN, K)
  convBias: Tensor | null;
  convState: Tensor; // (batch, D + 2GN, K−1)
  dtBias: Tensor; // (H)
  A: Tensor; // (H)
  D: Tensor; // (H)
  ssmState: Tensor; // (batch, H, P, N)
  batch: number;
  nHeads: number;
  headDim: number;
  nGroups: number;
  dState: number;
  dtMin: number;
  dtMax: number;
}

/**
 * The backend's device is gone (a GPU reset, driver crash, `GPUDevice.destroy()`): every call on that backend, and on
 * tensors, matrices and models living on it, fails with this error from then on. Nothing is retried and no backend is
 * switched silently: the caller disposes the model and the backend (both safe after loss), then loads the weights
 * again on a new backend — WebGPU again (a new device), or WASM (`selectBackend("wasm")`, the CLI's `--backend wasm`).
 *
 * @example
 * ```ts
 * import { DeviceLostError } from "@perfmamba/perfmamba";
 *
 * const e = new DeviceLostError("WebGPU", "destroyed", "read of logits");
 * console.log(e.message); // WebGPU device lost (destroyed) during read of logits; reload the model on a new backend
 * console.log(e instanceof DeviceLostError, e.reason); // true destroyed
 * ```
 */
export class DeviceLostError extends Error {
  /**
   * @param device the device named in the message ("WebGPU")
   * @param reason the device's loss message or reason ("destroyed", "unknown", a driver message)
   * @param during what was running or awaited when the loss was seen, if known
   */
  constructor(readonly device: string, readonly reason: string, during?: string, options?: ErrorOptions) {
    super(
      `${device} device lost (${reason})${during ? ` during ${during}` : ""}; reload the model on a new backend`,
      options,
    );
    this.name = "DeviceLostError";
  }
}

/**
 * A view of all columns of a 2-D tensor, or `cols` columns from `col`.
 *
 * @param tensor a 2-D tensor
 * @param col first column (default 0)
 * @param cols number of columns (default: the rest of the row)
 * @returns the column slice, without copying
 * @throws Error when the tensor is not 2-D or the columns fall outside it
 *
 * @example
 * ```ts
 * import { selectBackend, view } from "@perfmamba/perfmamba";
 *
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const xz = backend.zeros([3, 8], "in_proj.out"); // 3 tokens of [x (4) | z (4)]
 * const z = view(xz, 4); // columns 4..7
 * console.log(z.col, z.cols); // 4 4
 * console.log(view(xz).cols, view(xz, 0, 4).cols); // 8 4
 * try {
 *   view(xz, 6, 4);
 * } catch (e) {
 *   console.log((e as Error).message); // view(in_proj.out): columns [6, 10) outside width 8
 * }
 * backend.free(xz);
 * backend.dispose();
 * ```
 */
export function view(tensor: Tensor, col = 0, cols?: number): View {
  const width = tensor.shape[tensor.shape.length - 1];
  const n = cols ?? width - col;
  if (tensor.shape.length !== 2) {
    throw new Error(`view(${tensor.label}): expected a 2-D tensor, got shape [${tensor.shape.join(", ")}]`);
  }
  if (col < 0 || n < 0 || col + n > width) {
    throw new Error(`view(${tensor.label}): columns [${col}, ${col + n}) outside width ${width}`);
  }
  return { tensor, col, cols: n };
}

/** Normalise a Tensor-or-View argument to a View. */
export function asView(x: Tensor | View): View {
  return "tensor" in x ? x : view(x);
}
