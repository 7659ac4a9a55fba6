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

/** A device tensor. Its memory belongs to the backend that made it. */
export interface Tensor {
  /** Dimensions, outermost first. Activations are `[rows, cols]`. */
  readonly shape: readonly number[];
  /** Number of float32 elements. */
  readonly size: number;
  /** Debug name (buffer labels, error messages, profiler memory attribution). */
  readonly label: string;
}

/** A weight matrix `[n, k]` (out × in), stored however the backend likes. */
export interface Matrix {
  /** Output features (rows of the PyTorch weight). */
  readonly n: number;
  /** Input features. */
  readonly k: number;
  /** Debug name. */
  readonly label: string;
}

/** Columns `[col, col + cols)` of a 2-D tensor; the row stride is `tensor.shape[1]`. */
export interface View {
  /** The 2-D tensor viewed. */
  readonly tensor: Tensor;
  /** First column. */
  readonly col: number;
  /** Number of columns. */
  readonly cols: number;
}

/** Arguments of the Mamba-1 selective scan (`selective_scan_fn` with `delta_softplus = true` and a z gate). */
export interface SelectiveScanArgs {
  /** `[T, D]` conv output u (after SiLU). */
  u: View;
  /** `[T, D]` Δ before softplus (dt_proj output including its bias). */
  delta: View;
  /** `[D, N]` A = −exp(A_log). */
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

/** Arguments of the Mamba-2 SSD (chunked for prefill, recurrent when seqLen is 1). Output includes D·x. */
export interface SsdArgs {
  /** `[T, H·P]` x (after conv + SiLU). */
  x: View;
  /** `[T, H]` Δ before bias and softplus. */
  dt: View;
  /** `[H]` Δ bias. */
  dtBias: Tensor;
  /** `[H]` A = −exp(A_log), one scalar per head. */
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

/** Bytes a backend currently holds, and the most it has held at once. */
export interface MemoryStats {
  /** Bytes in live tensors and matrices. */
  liveBytes: number;
  /** High-water mark of liveBytes since creation (or the last `resetPeak`). */
  peakBytes: number;
}

/** This device's limits, measured by a backend's own micro-benchmarks (not a datasheet). */
export interface DevicePeaks {
  /** Streaming memory bandwidth, GB/s (bytes read + written per second). */
  bandwidthGBs: number;
  /** Best GEMM rate of the backend's own kernel, GFLOP/s. */
  gemmGflops: number;
  /** How they were measured (sizes, threads). */
  detail: string;
}

/** GPU time of one timed compute pass. */
export interface PassTiming {
  /** The scope set with {@link PassTimer.setScope}, or the kernel name when no scope was set. */
  label: string;
  /** Milliseconds between the pass's begin and end timestamps. */
  ms: number;
  /** Begin and end on the device clock, in ms from the backend's first timed pass. */
  start: number;
  end: number;
}

/** Per-pass GPU timing (WebGPU with `timestamp-query`), for profilers. */
export interface PassTimer {
  /** Whether passes recorded from now on are timed; switch off to measure an un-instrumented run. */
  enabled: boolean;
  /** Label the passes recorded from now on; work under one label shares a pass (null: one pass per kernel). */
  setScope(label: string | null): void;
  /** Timings of every pass recorded since the last call (submits pending work first). */
  timings(): Promise<PassTiming[]>;
}

/** A compute device able to run every op of a Mamba-1 or Mamba-2 model. */
export interface Backend {
  /** "wasm" or "webgpu". */
  readonly name: string;
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
}

/** A view of all columns of a 2-D tensor, or `cols` columns from `col`. */
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
