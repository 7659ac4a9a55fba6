/**
 * The WebGPU `Backend` (runtime/backend.ts): weights resident on the GPU, activations from a {@link BufferPool},
 * every op of a forward pass encoded into one command encoder (compute passes) and submitted when the host waits
 * (`read`, `sync`) or when the encoder grows past a threshold.
 *
 * This class composes the parts and owns the backend's lifecycle (device loss, errors, dispose) and the ownership
 * checks of tensors and matrices:
 * - {@link TensorStore} (`gpu_tensors.ts`): tensors, matrices split over binding-limit parts, memory accounting;
 * - {@link UploadArena} (`upload_arena.ts`): uniforms and host ids staged per submit;
 * - {@link PipelineCache} / {@link BindGroupCache}: pipelines per device, bind groups per buffer ranges;
 * - {@link CommandRecorder}: encoder, passes, submits, timestamp queries, deferred destroys;
 * - {@link Dispatcher}: one program recorded (checked, packed, bound, dispatched; debug scopes; planning);
 * - `webgpu_ops.ts`: the ops; `peaks.ts`: `measurePeaks`; `webgpu_interface.ts`: the public interface and options.
 *
 * **Device loss** (GPU reset, driver crash, `device.destroy()`): every wait on the GPU (`read`, `sync`, timestamp
 * readbacks, debug error scopes, pipeline compilation) races `device.lost`, so a forward in flight rejects within a
 * task or two of the loss, never hangs, with a {@link DeviceLostError} ("WebGPU device lost (destroyed: …) during read
 * of logits; …"); every later call throws it at once. Policy: no retry and no silent switch to WASM in the middle of a
 * computation (results would silently change speed and rounding). `model.dispose()` and `backend.dispose()` are safe
 * after the loss; to go on, load the weights again on a new backend: `createWebGpuBackend()` (a new device) or
 * `selectBackend("wasm")`. The CLI prints this advice (`--backend wasm`) with the error.
 *
 * @example
 * ```ts
 * import { createWebGpuBackend } from "./webgpu_backend.ts";
 * if (await navigator.gpu?.requestAdapter()) {
 *   using backend = await createWebGpuBackend();
 *   const a = backend.upload(new Float32Array([1, 2]), [1, 2], "a");
 *   const b = backend.add(a, a);
 *   console.log(await backend.read(b)); // Float32Array(2) [ 2, 4 ]
 * }
 * ```
 *
 * @module
 */

import {
  type BackendCapabilities,
  DeviceLostError,
  type DevicePeaks,
  type FusedLinearOptions,
  type Mamba1DecodeArgs,
  type Mamba2DecodeArgs,
  type Matrix,
  type MemoryStats,
  type PassTimer,
  type QuantizedMatrixData,
  type SelectiveScanArgs,
  type SsdArgs,
  type SyntheticUniform,
  type Tensor,
  type View,
} from "../runtime/backend.ts";
import {
  checkShape,
  checkSyntheticUniform,
  checkUpload,
  checkUploadHalf,
  checkUploadMatrix,
  checkUploadQuantized,
} from "../runtime/op_checks.ts";
import { syntheticUniformProgram } from "./synthetic_weights.ts";
import type { TokenChoice } from "../runtime/sampling.ts";
import { BindGroupCache } from "./bind_group_cache.ts";
import type { BufferPool } from "./buffer_pool.ts";
import { CommandRecorder } from "./command_recorder.ts";
import { acquireDevice } from "./device.ts";
import { Dispatcher, RAW_DISPATCH } from "./dispatcher.ts";
import { MAP_READ, READBACK, U } from "./gpu_flags.ts";
import { GpuMatrix, GpuTensor, TensorStore } from "./gpu_tensors.ts";
import { measurePeaks } from "./peaks.ts";
import { PipelineCache, type PipelineSpec, type PipelineStats } from "./pipeline_cache.ts";
import type { Program, Slice } from "./program.ts";
import { UploadArena } from "./upload_arena.ts";
import type { GpuTiming, WebGpuBackend, WebGpuBackendOptions } from "./webgpu_interface.ts";
import * as fused from "./fused_decode.ts";
import { FUSED_MAX_NORM_GROUPS, FUSED_MAX_STATE } from "./fused_decode.ts";
import { GEMV_MAX_ROWS } from "./linear.ts";
import * as ops from "./webgpu_ops.ts";

export type { GpuTiming, PipelineSpec, PipelineStats, WebGpuBackend, WebGpuBackendOptions };

/**
 * Greedy decode steps per readback: a readback costs ≥ 10 ms in Deno (deno_webgpu polls, then sleeps), a step on an
 * H100 ~2.3 ms (BENCHMARKS.md).
 */
const DECODE_BURST = 32;
/** Perplexity windows per forward pass: enough rows to fill the GEMM tiles. */
const PREFERRED_BATCH = 8;
/** Dispatches recorded before the encoder is submitted on its own. */
const MAX_DISPATCHES_PER_SUBMIT = 128;
/**
 * After a failed GPU wait, how long to wait for `device.lost` to settle before reporting the failure as it is (the
 * loss is delivered a task after `destroy()` in Deno; a driver reset may take longer).
 */
const LOSS_GRACE_MS = 100;

/**
 * Create the WebGPU backend.
 *
 * @throws Error when WebGPU is missing ("WebGPU is not available: navigator.gpu is undefined"), when there is no
 * adapter, or when a requested feature is missing.
 *
 * Once the device is lost, the backend's calls fail with a {@link DeviceLostError} (see the module's notes): dispose
 * the model and the backend, then load the weights again on a new backend — this function again, or WASM.
 */
export async function createWebGpuBackend(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  const { device, owned, description } = await acquireDevice(opts);
  return new WebGpuBackendImpl(device, owned, description, opts);
}

class WebGpuBackendImpl implements WebGpuBackend {
  readonly name = "webgpu";
  readonly description: string;
  readonly device: GPUDevice;
  readonly maxBindingSize: number;
  readonly f16Weights: boolean;
  readonly debug: boolean;
  readonly passTimer?: PassTimer;
  readonly capabilities: BackendCapabilities;
  get timestamps(): boolean {
    return this.#recorder.timing;
  }
  get bindGroupStats(): { readonly hits: number; readonly misses: number } {
    return this.#bindGroups.stats;
  }
  get pipelineStats(): Readonly<PipelineStats> {
    return this.#pipelines.stats;
  }
  get dispatchCount(): number {
    return this.#dispatcher.count;
  }

  readonly #owned: boolean;
  readonly #store: TensorStore;
  readonly #pool: BufferPool;
  readonly #arena: UploadArena;
  readonly #pipelines: PipelineCache;
  readonly #bindGroups: BindGroupCache;
  readonly #recorder: CommandRecorder;
  readonly #dispatcher: Dispatcher;
  readonly #ops: ops.OpContext;
  readonly #align: number; // storage offset alignment
  readonly #dummy: GPUBuffer; // bound where an optional operand (bias) is absent
  #disposed = false;
  /** The device's loss (reason and message), once `device.lost` has settled; null while the device lives. */
  #lostReason: string | null = null;
  /** Rejects with a {@link DeviceLostError} when the device is lost: every GPU wait races it. */
  readonly #lostPromise: Promise<never>;
  #gpuError: string | null = null;

  constructor(device: GPUDevice, owned: boolean, description: string, opts: WebGpuBackendOptions) {
    this.device = device;
    this.#owned = owned;
    this.description = opts.f16Weights ? `${description}, f16 weights` : description;
    const limit = device.limits.maxStorageBufferBindingSize;
    this.maxBindingSize = Math.min(limit, opts.maxBindingSize ?? limit);
    if (this.maxBindingSize < 4096) throw new RangeError(`maxBindingSize ${this.maxBindingSize} is below 4096 bytes`);
    this.#align = device.limits.minStorageBufferOffsetAlignment;
    this.#pipelines = new PipelineCache(device);
    this.#bindGroups = new BindGroupCache(device, this.maxBindingSize);
    this.#store = new TensorStore(device, this, this.maxBindingSize, (b) => this.#bindGroups.forget(b));
    this.#pool = this.#store.pool;
    this.#arena = new UploadArena(device);
    this.#dummy = device.createBuffer({ size: 256, usage: U.STORAGE, label: "dummy" });
    const canTime = !!opts.timestamps && device.features.has("timestamp-query");
    this.f16Weights = !!opts.f16Weights;
    this.debug = !!opts.debug;
    this.capabilities = {
      queued: true,
      timestamps: canTime,
      deviceTokenChoice: true,
      decodeBurst: DECODE_BURST,
      threads: 1,
      weightFormats: ["f32", "f16"],
      quantFormats: ["q8_0", "q4_0"],
      // gemv_q / gemm_q dequantize each block in registers and multiply in f32.
      quantActivations: "f32",
      weightFormat: this.f16Weights ? "f16" : "f32",
      preferredBatch: PREFERRED_BATCH,
      deviceSampling: true,
      fusedDecode: { maxRows: GEMV_MAX_ROWS, maxNormGroups: FUSED_MAX_NORM_GROUPS, maxState: FUSED_MAX_STATE },
    };
    this.#recorder = new CommandRecorder(
      device,
      {
        check: () => this.#check(),
        beforeSubmit: () => this.#arena.flush(device.queue),
        onDestroy: (b) => this.#bindGroups.forget(b),
        wait: (p, what) => this.#wait(p, what),
      },
      canTime,
      opts.dispatchesPerSubmit ?? MAX_DISPATCHES_PER_SUBMIT,
    );
    this.passTimer = this.#recorder.passTimer;
    this.#dispatcher = new Dispatcher({
      device,
      pipelines: this.#pipelines,
      bindGroups: this.#bindGroups,
      arena: this.#arena,
      recorder: this.#recorder,
      uniformAlign: Math.max(device.limits.minUniformBufferOffsetAlignment, this.#align),
      debug: this.debug,
    });
    const store = this.#store, align = this.#align;
    this.#ops = {
      tensor: (t, op) => this.#tensor(t, op),
      param: (t, op) => this.#tensor(t, op, true),
      matrix: (m, op) => this.#matrix(m, op),
      alloc: (shape, label) => store.alloc(shape, label),
      slice: (t, op) => store.slice(t, op),
      range: (t, e0, e1) => store.range(t, e0, e1),
      stage: (data) => this.#arena.stage(data, align),
      run: (p) => this.#dispatcher.run(p),
      free: (t) => this.free(t),
      dummy: { buffer: this.#dummy, offset: 0, size: 16 } satisfies Slice,
      maxBindingSize: this.maxBindingSize,
      align,
    };
    this.#lostPromise = device.lost.then((info) => {
      const reason = [info.reason, info.message].filter((x) => x).join(": ") || "unknown";
      if (!this.#disposed) this.#lostReason = reason;
      throw new DeviceLostError("WebGPU", reason);
    });
    this.#lostPromise.catch(() => {}); // observed through #wait
    device.addEventListener("uncapturederror", (e) => {
      this.#gpuError ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  // ---- housekeeping ------------------------------------------------------------------------------------------

  #check(): void {
    if (this.#disposed) throw new Error("WebGPU backend used after dispose()");
    if (this.#lostReason !== null) throw new DeviceLostError("WebGPU", this.#lostReason);
  }

  async #throwGpuError(): Promise<void> {
    await this.#dispatcher.throwErrors((p, what) => this.#wait(p, what));
    const m = this.#gpuError ?? this.#store.error;
    this.#gpuError = this.#store.error = null;
    if (m !== null) throw new Error(`WebGPU error: ${m}`);
  }

  /**
   * Wait for a GPU promise, failing instead of hanging when the device is lost: the wait races `device.lost`, and
   * any failure seen while (or just before) the device is lost is a {@link DeviceLostError} naming `what`.
   */
  async #wait<T>(p: Promise<T>, what = "operation"): Promise<T> {
    try {
      return await Promise.race([p, this.#lostPromise]);
    } catch (e) {
      if (this.#lostReason === null && !(e instanceof DeviceLostError)) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const grace = new Promise((r) => timer = setTimeout(r, LOSS_GRACE_MS));
        await Promise.race([this.#lostPromise, grace]).catch(() => {});
        clearTimeout(timer);
      }
      const reason = this.#lostReason ?? (e instanceof DeviceLostError ? e.reason : null);
      if (reason !== null) throw new DeviceLostError("WebGPU", reason, what, { cause: e });
      if (this.#disposed) throw new Error(`WebGPU ${what} failed: the backend was disposed meanwhile`, { cause: e });
      throw new Error(`WebGPU ${what} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  #tensor(t: Tensor | View, op: string, half = false): GpuTensor {
    const x = "tensor" in t ? t.tensor : t;
    if (!(x instanceof GpuTensor) || x.owner !== this) {
      throw new Error(`${op}: ${x.label} is not a tensor of this WebGPU backend`);
    }
    if (!x.buffer) throw new Error(`${op}: tensor ${x.label} used after free`);
    if (x.half && !half) throw new Error(`${op}: tensor "${x.label}" is stored as f16, which ${op} does not read`);
    return x;
  }

  #matrix(m: Matrix, op: string): GpuMatrix {
    if (!(m instanceof GpuMatrix) || m.owner !== this) {
      throw new Error(`${op}: ${m.label} is not a matrix of this WebGPU backend`);
    }
    if (!m.parts) throw new Error(`${op}: matrix ${m.label} used after free`);
    return m;
  }

  flush(): void {
    this.#recorder.flush();
  }

  async sync(): Promise<void> {
    this.flush();
    await this.#wait(this.device.queue.onSubmittedWorkDone(), "sync");
    await this.#throwGpuError();
  }

  async read(t: Tensor): Promise<Float32Array> {
    this.#check();
    const x = this.#tensor(t, "read", true);
    const bytes = x.bytes;
    const out = new Float32Array(x.size);
    if (bytes === 0) return out;
    const { buffer: staging } = this.#pool.acquire(bytes, READBACK, `read:${x.label}`);
    this.#recorder.endPass();
    this.#recorder.encoder().copyBufferToBuffer(x.buffer!, 0, staging, 0, bytes);
    this.flush();
    try {
      await this.#wait(staging.mapAsync(MAP_READ, 0, bytes), `read of ${x.label}`);
      const mapped = staging.getMappedRange(0, bytes);
      out.set(x.half ? new Float16Array(mapped, 0, x.size) : new Float32Array(mapped));
      staging.unmap();
    } finally {
      if (this.#disposed || this.#lostReason !== null) staging.destroy();
      else this.#pool.release(staging);
    }
    await this.#throwGpuError();
    return out;
  }

  gpuTimings(): Promise<GpuTiming[]> {
    return this.#recorder.timings();
  }

  setScope(label: string | null): void {
    this.#recorder.scope = label;
  }

  memory(): MemoryStats {
    return { liveBytes: this.#store.live, peakBytes: this.#store.peak };
  }

  resetPeak(): void {
    this.#store.resetPeak();
  }

  trim(): void {
    this.flush();
    this.#pool.trim();
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#recorder.dispose();
    this.#pool.dispose();
    this.#bindGroups.clear();
    this.#arena.destroy();
    this.#dummy.destroy();
    if (this.#owned) this.device.destroy();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async measurePeaks(): Promise<DevicePeaks> {
    this.#check();
    await this.sync();
    return measurePeaks(this, { device: this.device, maxBindingSize: this.maxBindingSize, wait: (p) => this.#wait(p) });
  }

  async pipelinesFor(run: () => unknown): Promise<PipelineSpec[]> {
    this.#check();
    return await this.#dispatcher.plan(run);
  }

  async precompile(specs: Iterable<PipelineSpec>): Promise<number> {
    this.#check();
    return await this.#wait(this.#pipelines.precompile(specs), "pipeline compilation");
  }

  async prepare(forward: () => Promise<unknown>): Promise<number> {
    return await this.precompile(await this.pipelinesFor(forward));
  }

  /** Test hook (see {@link RAW_DISPATCH}): record a program without an op's checks. */
  [RAW_DISPATCH](p: Program): void {
    this.#check();
    this.#dispatcher.run(p);
  }

  // ---- memory ops --------------------------------------------------------------------------------------------

  upload(data: Float32Array, shape: readonly number[], label: string): Tensor {
    this.#check();
    return this.#store.upload(data, checkUpload(data, shape, label), shape, label);
  }

  uploadHalf(data: Float32Array, shape: readonly number[], label: string): Tensor {
    this.#check();
    return this.#store.uploadHalf(data, checkUploadHalf(data, shape, label), shape, label);
  }

  uploadMatrix(data: Float32Array, n: number, k: number, label: string): Matrix {
    this.#check();
    checkUploadMatrix(data, n, k, label);
    return this.#store.uploadMatrix(data, n, k, label, this.f16Weights);
  }

  uploadQuantizedMatrix(data: QuantizedMatrixData, label: string): Matrix {
    this.#check();
    checkUploadQuantized(data, label);
    return this.#store.uploadQuantizedMatrix(data, label);
  }

  generateUniform(u: SyntheticUniform, shape: readonly number[], label: string): Tensor {
    this.#check();
    checkSyntheticUniform(u, `generateUniform(${label})`);
    const t = this.#store.alloc(shape, label);
    if (t.size > 0) {
      const y = { buffer: t.buffer!, offset: 0, size: t.size * 4 };
      this.#dispatcher.run(syntheticUniformProgram(y, t.size, u.key, 0, u.scale, false, 1));
    }
    return t;
  }

  generateUniformMatrix(u: SyntheticUniform, n: number, k: number, label: string): Matrix {
    this.#check();
    const op = `generateUniformMatrix(${label})`;
    checkShape(op, [n, k]);
    checkSyntheticUniform(u, op);
    const f16 = this.f16Weights;
    return this.#store.matrix(n, k, label, f16, (r0, rows, partLabel) => {
      const words = f16 ? (rows * (k + (k % 2))) / 2 : rows * k;
      const buffer = this.#store.buffer(words * 4, partLabel);
      if (words > 0) {
        const y = { buffer, offset: 0, size: words * 4 };
        this.#dispatcher.run(syntheticUniformProgram(y, words, u.key, r0 * k, u.scale, f16, k));
      }
      return buffer;
    }, "generateUniformMatrix");
  }

  zeros(shape: readonly number[], label: string): Tensor {
    this.#check();
    const t = this.#store.alloc(shape, label);
    this.#recorder.endPass();
    this.#recorder.encoder().clearBuffer(t.buffer!);
    return t;
  }

  copy(t: Tensor, label?: string): Tensor {
    this.#check();
    const src = this.#tensor(t, "copy");
    const out = this.#store.alloc(src.shape, label ?? `${src.label}.copy`);
    if (src.bytes > 0) {
      this.#recorder.endPass();
      this.#recorder.encoder().copyBufferToBuffer(src.buffer!, 0, out.buffer!, 0, src.bytes);
    }
    return out;
  }

  fill0(t: Tensor): void {
    this.#check();
    const x = this.#tensor(t, "fill0");
    this.#recorder.endPass();
    this.#recorder.encoder().clearBuffer(x.buffer!);
  }

  free(t: Tensor | Matrix): void {
    if (this.#disposed) return;
    if (t instanceof GpuTensor && t.owner === this) {
      if (!t.buffer) throw new Error(`free: tensor ${t.label} freed twice`);
      this.#store.untrack(t.buffer.size);
      this.#pool.release(t.buffer);
      t.buffer = null;
    } else if (t instanceof GpuMatrix && t.owner === this) {
      if (!t.parts) throw new Error(`free: matrix ${t.label} freed twice`);
      for (const p of t.parts) this.#store.untrack(p.buffer.size);
      // Recorded work may still read them: destroyed after the next submit.
      this.#recorder.destroyAfterSubmit(t.parts.map((p) => p.buffer));
      t.parts = null;
    } else {
      throw new Error(`free: ${t.label} does not belong to this WebGPU backend`);
    }
  }

  // ---- compute ops (kernels/webgpu_ops.ts) -------------------------------------------------------------------

  embed(ids: Int32Array, table: Matrix): Tensor {
    this.#check();
    return ops.embed(this.#ops, ids, table);
  }

  argmaxInto(x: Tensor, ids: Tensor, offset: number, cols?: number): void {
    this.#check();
    ops.argmaxInto(this.#ops, x, ids, offset, cols);
  }

  sampleInto(
    x: Tensor,
    ids: Tensor,
    offset: number,
    choice: TokenChoice,
    draws: Tensor,
    drawOffset: number,
    seen: Tensor,
    cols?: number,
  ): void {
    this.#check();
    ops.sampleInto(this.#ops, x, ids, offset, choice, draws, drawOffset, seen, cols);
  }

  embedFrom(ids: Tensor, offset: number, count: number, table: Matrix): Tensor {
    this.#check();
    return ops.embedFrom(this.#ops, ids, offset, count, table);
  }

  gatherRows(x: Tensor, rows: Int32Array): Tensor {
    this.#check();
    return ops.gatherRows(this.#ops, x, rows);
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    this.#check();
    return ops.rmsNorm(this.#ops, x, weight, eps);
  }

  add(a: Tensor, b: Tensor): Tensor {
    this.#check();
    return ops.add(this.#ops, a, b);
  }

  linear(x: Tensor | View, w: Matrix, bias?: Tensor | null): Tensor {
    this.#check();
    return ops.linear(this.#ops, x, w, bias);
  }

  conv1d(x: View, weight: Tensor, bias: Tensor | null, state: Tensor, batch: number, seqLen: number): Tensor {
    this.#check();
    return ops.conv1d(this.#ops, x, weight, bias, state, batch, seqLen);
  }

  selectiveScan(a: SelectiveScanArgs): Tensor {
    this.#check();
    return ops.selectiveScan(this.#ops, a);
  }

  ssd(a: SsdArgs): Tensor {
    this.#check();
    return ops.ssd(this.#ops, a);
  }

  gatedRmsNorm(y: Tensor, z: View, weight: Tensor, groupSize: number, eps: number): Tensor {
    this.#check();
    return ops.gatedRmsNorm(this.#ops, y, z, weight, groupSize, eps);
  }

  // ---- fused decode ops (kernels/fused_decode.ts) ------------------------------------------------------------

  fusesMatrix(m: Matrix, normGroupSize?: number): boolean {
    this.#check();
    return fused.fusesMatrix(this.#ops, m, normGroupSize);
  }

  fusedLinear(x: Tensor | View, w: Matrix, bias: Tensor | null, options?: FusedLinearOptions): Tensor {
    this.#check();
    return fused.fusedLinear(this.#ops, x, w, bias, options);
  }

  mamba1DecodeStep(args: Mamba1DecodeArgs): Tensor {
    this.#check();
    return fused.mamba1DecodeStep(this.#ops, args);
  }

  mamba2DecodeStep(args: Mamba2DecodeArgs): Tensor {
    this.#check();
    return fused.mamba2DecodeStep(this.#ops, args);
  }
}
