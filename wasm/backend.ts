/**
 * The WebAssembly SIMD backend: every op runs in the AssemblyScript kernels of wasm/assembly/ on one linear
 * memory; tensors are blocks of that memory handed out by a JavaScript allocator; GEMM/GEMV, the scans and the
 * convolution are spread over Web Workers sharing the memory when the host allows threads.
 *
 * @example
 * ```ts
 * import { createWasmBackend } from "./backend.ts";
 * const be = await createWasmBackend({ threads: 1 });
 * const x = be.upload(new Float32Array([1, 2, 3, 4]), [2, 2], "x");
 * const w = be.uploadMatrix(new Float32Array([1, 0, 0, 1]), 2, 2, "identity");
 * const y = be.linear(x, w);
 * console.log(await be.read(y)); // Float32Array [1, 2, 3, 4]
 * be.dispose();
 * ```
 *
 * @module
 */

import {
  asView,
  type Backend,
  type BackendCapabilities,
  type DevicePeaks,
  type Matrix,
  type MemoryStats,
  type SelectiveScanArgs,
  type SsdArgs,
  type Tensor,
  type View,
} from "../runtime/backend.ts";
import {
  checkAdd,
  checkConv1d,
  checkEmbed,
  checkGatedRmsNorm,
  checkGatherRows,
  checkIdRange,
  checkLinear,
  checkRmsNorm,
  checkSelectiveScan,
  checkShape,
  checkSsd,
  checkUpload,
  checkUploadMatrix,
} from "../runtime/op_checks.ts";
import { measurePeaks } from "./bench.ts";
import { Allocator } from "./memory.ts";
import {
  compileKernels,
  createMemory,
  instantiateKernels,
  KERNEL_NAMES,
  type KernelExports,
  MAX_PAGES,
  threadsSupported,
} from "./module.ts";
import { controlBytes, type KernelCall, type WorkerFactory, WorkerPool } from "./threads.ts";

/** Options of {@link createWasmBackend}. */
export interface WasmBackendOptions {
  /** Threads including the caller (default navigator.hardwareConcurrency capped at 8; 1 = no workers). */
  threads?: number;
  /**
   * A precompiled kernel module (for hosts that refuse to compile bytes). It may be either variant from
   * wasm/generated/kernels_wasm.ts; threads are used only with the threads variant and when workers can receive it.
   */
  module?: WebAssembly.Module;
  /**
   * Minimum work (multiply-adds) per thread before an op is spread over the workers (default 131072, about
   * 20–50 µs); tests set 0 to run even tiny shapes on every thread.
   */
  minWorkPerThread?: number;
  /**
   * Starts the kernel workers; default: Web Workers from a Blob URL. Node has no Web Workers: pass
   * `nodeWorkerFactory` from `wasm/node_workers.ts` (worker_threads) to use threads there.
   */
  workerFactory?: WorkerFactory;
}

/** Byte offset of the worker control block (page 0 is reserved: offset 0 stays unused as a null pointer). */
const CONTROL_BASE = 1024;
/** First byte managed by the allocator. */
const HEAP_BASE = 65536;
/** Initial memory: 16 MiB. */
const INITIAL_PAGES = 256;
/** Most threads used by default. */
const DEFAULT_MAX_THREADS = 8;
/** Default minimum work (multiply-adds or equivalent) per thread worth a dispatch (dispatch costs ~10–30 µs). */
const MIN_WORK_PER_THREAD = 1 << 17;
/** Rows packed per pack_panels call in uploadMatrix (multiple of 8). */
const PACK_ROWS = 256;

const KERNEL_INDEX: Record<string, number> = Object.fromEntries(KERNEL_NAMES.map((n, i) => [n, i]));

/** A tensor living in the WASM memory. */
class WasmTensor implements Tensor {
  readonly size: number;
  alive = true;
  constructor(
    readonly owner: WasmBackend,
    readonly shape: readonly number[],
    readonly label: string,
    readonly ptr: number,
    readonly bytes: number,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }
}

/** A packed weight matrix: ⌈n/8⌉ panels of (k, 8) floats. */
class WasmMatrix implements Matrix {
  alive = true;
  constructor(
    readonly owner: WasmBackend,
    readonly n: number,
    readonly k: number,
    readonly label: string,
    readonly ptr: number,
    readonly bytes: number,
  ) {}
}

/** Splits [0, total) into at most `parts` contiguous ranges whose starts are multiples of `align`. */
function split(total: number, parts: number, align: number): [number, number][] {
  const units = Math.ceil(total / align);
  const n = Math.max(1, Math.min(parts, units));
  const ranges: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const a = Math.min(total, Math.floor((units * i) / n) * align);
    const b = Math.min(total, Math.floor((units * (i + 1)) / n) * align);
    if (b > a) ranges.push([a, b]);
  }
  return ranges;
}

/** The WASM backend (see the module documentation). */
class WasmBackend implements Backend {
  readonly name = "wasm";
  readonly description: string;
  /** Threads used by parallel ops, the caller included. */
  readonly threads: number;
  readonly capabilities: BackendCapabilities;

  readonly #k: KernelExports;
  readonly #memory: WebAssembly.Memory;
  readonly #alloc: Allocator;
  readonly #pool: WorkerPool | null;
  #f32: Float32Array;
  #i32: Int32Array;
  #live = 0;
  #peak = 0;
  #handles = new Set<WasmTensor | WasmMatrix>();
  #scratchPtr = 0;
  #scratchBytes = 0;
  #disposed = false;
  readonly #minWork: number;

  constructor(
    k: KernelExports,
    memory: WebAssembly.Memory,
    pool: WorkerPool | null,
    shared: boolean,
    minWork: number,
  ) {
    this.#minWork = minWork;
    this.#k = k;
    this.#memory = memory;
    this.#alloc = new Allocator(memory, HEAP_BASE, MAX_PAGES);
    this.#pool = pool;
    this.threads = 1 + (pool?.size ?? 0);
    this.capabilities = {
      queued: false,
      timestamps: false,
      deviceTokenChoice: true,
      decodeBurst: 1,
      threads: this.threads,
      weightFormats: ["f32"],
      weightFormat: "f32",
      preferredBatch: 1,
      maxMemoryBytes: MAX_PAGES * 65536,
      deviceSampling: false,
    };
    this.#f32 = new Float32Array(memory.buffer);
    this.#i32 = new Int32Array(memory.buffer);
    this.description = `WASM SIMD (128-bit), ${this.threads} thread${this.threads > 1 ? "s" : ""}` +
      (shared ? ", shared memory" : "");
  }

  // ---------------------------------------------------------------- memory management

  /** Float32 view of the whole memory, refreshed after growth. */
  get #heap(): Float32Array {
    if (this.#f32.buffer !== this.#memory.buffer) {
      this.#f32 = new Float32Array(this.#memory.buffer);
      this.#i32 = new Int32Array(this.#memory.buffer);
    }
    return this.#f32;
  }

  /** Int32 view of the whole memory, refreshed after growth. */
  get #heapI32(): Int32Array {
    void this.#heap;
    return this.#i32;
  }

  #checkOpen(): void {
    if (this.#disposed) throw new Error("WASM backend used after dispose()");
  }

  /** Allocates a tensor (contents undefined). */
  #tensor(shape: readonly number[], label: string): WasmTensor {
    this.#checkOpen();
    const bytes = checkShape(label, shape) * 4;
    const t = new WasmTensor(this, [...shape], label, this.#alloc.alloc(bytes), bytes);
    this.#track(t, bytes);
    return t;
  }

  #track(h: WasmTensor | WasmMatrix, bytes: number): void {
    this.#handles.add(h);
    this.#live += bytes;
    if (this.#live > this.#peak) this.#peak = this.#live;
  }

  /** Validates a tensor argument of `op`. */
  #t(t: Tensor, op: string): WasmTensor {
    if (!(t instanceof WasmTensor) || t.owner !== this) {
      throw new Error(`${op}: tensor "${t?.label}" does not belong to this WASM backend`);
    }
    if (!t.alive) throw new Error(`${op}: tensor "${t.label}" was freed`);
    return t;
  }

  /** Validates a matrix argument of `op`. */
  #m(m: Matrix, op: string): WasmMatrix {
    if (!(m instanceof WasmMatrix) || m.owner !== this) {
      throw new Error(`${op}: matrix "${m?.label}" does not belong to this WASM backend`);
    }
    if (!m.alive) throw new Error(`${op}: matrix "${m.label}" was freed`);
    return m;
  }

  /** Resolves a view: base pointer of its first column, row stride, rows, cols. */
  #v(x: Tensor | View, op: string): { ptr: number; stride: number; rows: number; cols: number; label: string } {
    const v = asView(x);
    const t = this.#t(v.tensor, op);
    if (t.shape.length !== 2) throw new Error(`${op}: "${t.label}" must be 2-D, got [${t.shape.join(", ")}]`);
    return { ptr: t.ptr + 4 * v.col, stride: t.shape[1], rows: t.shape[0], cols: v.cols, label: t.label };
  }

  /** A temporary buffer of `bytes` per thread for `count` threads (reused between ops; not counted as live). */
  #scratch(bytes: number, count = 1): { ptr: number; stride: number } {
    const stride = Allocator.round(bytes);
    const total = stride * count;
    if (total > this.#scratchBytes) {
      if (this.#scratchBytes) this.#alloc.free(this.#scratchPtr, this.#scratchBytes);
      this.#scratchBytes = Math.max(total, 2 * this.#scratchBytes);
      this.#scratchPtr = this.#alloc.alloc(this.#scratchBytes);
    }
    return { ptr: this.#scratchPtr, stride };
  }

  /** Copies an Int32Array into scratch memory and returns its pointer. */
  #ints(values: Int32Array): number {
    const { ptr } = this.#scratch(values.length * 4);
    this.#heapI32.set(values, ptr >> 2);
    return ptr;
  }

  /** Runs `calls` (one per thread) on the pool, or sequentially when single-threaded. */
  #parallel(name: keyof KernelExports, argsPerThread: number[][]): void {
    const fn = this.#k[name] as (...a: number[]) => void;
    if (argsPerThread.length === 0) return; // empty problem
    if (argsPerThread.length === 1 || !this.#pool) {
      for (const a of argsPerThread) fn(...a);
      return;
    }
    const index = KERNEL_INDEX[name];
    const calls: KernelCall[] = argsPerThread.map((args) => ({ fn: index, args }));
    this.#pool.run(calls, (c) => fn(...c.args));
  }

  /** Threads worth using for `work` multiply-adds. */
  #threadsFor(work: number): number {
    return Math.max(1, Math.min(this.threads, this.#minWork > 0 ? Math.floor(work / this.#minWork) : Infinity));
  }

  // ---------------------------------------------------------------- Backend: data movement

  upload(data: Float32Array, shape: readonly number[], label: string): Tensor {
    checkUpload(data, shape, label);
    const t = this.#tensor(shape, label);
    this.#heap.set(data, t.ptr >> 2);
    return t;
  }

  uploadMatrix(data: Float32Array, n: number, k: number, label: string): Matrix {
    this.#checkOpen();
    checkUploadMatrix(data, n, k, label);
    const bytes = Math.ceil(n / 8) * 8 * k * 4;
    const m = new WasmMatrix(this, n, k, label, this.#alloc.alloc(bytes), bytes);
    this.#track(m, bytes);
    // Stage PACK_ROWS rows at a time in scratch, then pack them into panels in WASM.
    const staging = this.#scratch(PACK_ROWS * k * 4).ptr;
    for (let r = 0; r < n; r += PACK_ROWS) {
      const rows = Math.min(PACK_ROWS, n - r);
      this.#heap.set(data.subarray(r * k, (r + rows) * k), staging >> 2);
      this.#k.pack_panels(staging, rows, k, m.ptr + r * k * 4);
    }
    return m;
  }

  zeros(shape: readonly number[], label: string): Tensor {
    const t = this.#tensor(shape, label);
    this.#k.fill_zero(t.ptr, t.bytes);
    return t;
  }

  copy(t: Tensor, label?: string): Tensor {
    const src = this.#t(t, "copy");
    const dst = this.#tensor(src.shape, label ?? `${src.label} (copy)`);
    this.#k.copy_bytes(dst.ptr, src.ptr, src.bytes);
    return dst;
  }

  fill0(t: Tensor): void {
    const x = this.#t(t, "fill0");
    this.#k.fill_zero(x.ptr, x.bytes);
  }

  read(t: Tensor): Promise<Float32Array> {
    const x = this.#t(t, "read");
    return Promise.resolve(this.#heap.slice(x.ptr >> 2, (x.ptr >> 2) + x.size));
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  free(t: Tensor | Matrix): void {
    const h = t instanceof WasmMatrix ? this.#m(t, "free") : this.#t(t as Tensor, "free");
    h.alive = false;
    this.#handles.delete(h);
    this.#alloc.free(h.ptr, h.bytes);
    this.#live -= h.bytes;
  }

  memory(): MemoryStats {
    return { liveBytes: this.#live, peakBytes: this.#peak };
  }

  /** Restarts the peak measurement at the current live bytes. */
  resetPeak(): void {
    this.#peak = this.#live;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#pool?.dispose();
    for (const h of this.#handles) h.alive = false;
    this.#handles.clear();
    this.#live = 0;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  measurePeaks(): Promise<DevicePeaks> {
    this.#checkOpen();
    return Promise.resolve(measurePeaks(this));
  }

  // ---------------------------------------------------------------- Backend: ops

  embed(ids: Int32Array, table: Matrix): Tensor {
    const w = this.#m(table, "embed");
    checkEmbed(ids, w);
    const out = this.#tensor([ids.length, w.k], `embed(${w.label})`);
    this.#k.embed(this.#ints(ids), ids.length, w.ptr, w.n, w.k, out.ptr);
    return out;
  }

  argmaxInto(x: Tensor, ids: Tensor, offset: number): void {
    const xt = this.#t(x, "argmaxInto");
    const it = this.#t(ids, "argmaxInto");
    const [rows, cols] = xt.shape;
    checkIdRange("argmaxInto", it, offset, rows);
    const heap = this.#heap, out = this.#heapI32;
    for (let r = 0; r < rows; r++) {
      const base = (xt.ptr >> 2) + r * cols;
      let best = 0;
      for (let c = 1; c < cols; c++) if (heap[base + c] > heap[base + best]) best = c;
      out[(it.ptr >> 2) + offset + r] = best;
    }
  }

  embedFrom(ids: Tensor, offset: number, count: number, table: Matrix): Tensor {
    const w = this.#m(table, "embedFrom");
    const it = this.#t(ids, "embedFrom");
    checkIdRange("embedFrom", it, offset, count);
    const first = (it.ptr >> 2) + offset, heapIds = this.#heapI32;
    for (let i = 0; i < count; i++) {
      const id = heapIds[first + i];
      if (!(id >= 0 && id < w.n)) throw new Error(`embedFrom(${w.label}): token id ${id} is outside [0, ${w.n})`);
    }
    const out = this.#tensor([count, w.k], `embed(${w.label})`);
    this.#k.embed(it.ptr + 4 * offset, count, w.ptr, w.n, w.k, out.ptr);
    return out;
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const xt = this.#t(x, "rmsNorm");
    const wt = this.#t(weight, "rmsNorm");
    const { rows, cols } = checkRmsNorm(xt, wt);
    const out = this.#tensor(xt.shape, "rmsNorm");
    if (rows * cols > 0) this.#k.rms_norm(xt.ptr, wt.ptr, out.ptr, rows, cols, eps);
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    const at = this.#t(a, "add");
    const bt = this.#t(b, "add");
    checkAdd(at, bt);
    const out = this.#tensor(at.shape, "add");
    this.#k.add(at.ptr, bt.ptr, out.ptr, at.size);
    return out;
  }

  linear(x: Tensor | View, w: Matrix, bias?: Tensor | null): Tensor {
    const xv = this.#v(x, "linear");
    const m = this.#m(w, "linear");
    const bt = bias ? this.#t(bias, "linear") : null;
    checkLinear(asView(x), m, bt);
    const biasPtr = bt ? bt.ptr : 0;
    const T = xv.rows;
    const out = this.#tensor([T, m.n], `linear(${m.label})`);
    const panels = Math.ceil(m.n / 8);
    const nt = this.#threadsFor(T * m.n * m.k);
    const base = [xv.ptr, xv.stride, m.k, m.ptr, m.n, biasPtr, out.ptr, m.n];
    // Split output panels (each thread streams its own slice of W); split rows when panels are too few.
    const args = panels >= 2 * nt || T < 8
      ? split(panels, nt, 1).map(([p0, p1]) => [...base, 0, T, p0, p1])
      : split(T, nt, 4).map(([r0, r1]) => [...base, r0, r1, 0, panels]);
    this.#parallel("linear", args);
    return out;
  }

  gatherRows(x: Tensor, rows: Int32Array): Tensor {
    const xt = this.#t(x, "gatherRows");
    const { cols } = checkGatherRows(xt, rows);
    const out = this.#tensor([rows.length, cols], `gatherRows(${xt.label})`);
    this.#k.gather_rows(xt.ptr, cols, this.#ints(rows), rows.length, out.ptr);
    return out;
  }

  conv1d(x: View, weight: Tensor, bias: Tensor | null, state: Tensor, batch: number, seqLen: number): Tensor {
    const xv = this.#v(x, "conv1d");
    const wt = this.#t(weight, "conv1d");
    const st = this.#t(state, "conv1d");
    const bt = bias ? this.#t(bias, "conv1d") : null;
    const { C, K } = checkConv1d(x, wt, bt, st, batch, seqLen);
    const bp = bt ? bt.ptr : 0;
    const out = this.#tensor([batch * seqLen, C], "conv1d");
    const wtPtr = this.#scratch(K * C * 4).ptr;
    const nt = this.#threadsFor(batch * seqLen * C * K);
    const args = split(C, nt, 4).map((
      [c0, c1],
    ) => [xv.ptr, xv.stride, wt.ptr, bp, st.ptr, out.ptr, wtPtr, C, K, batch, seqLen, c0, c1]);
    this.#parallel("conv1d", args);
    return out;
  }

  selectiveScan(a: SelectiveScanArgs): Tensor {
    const op = "selectiveScan";
    const u = this.#v(a.u, op), dl = this.#v(a.delta, op), Bv = this.#v(a.B, op), Cv = this.#v(a.C, op);
    const z = this.#v(a.z, op);
    const A = this.#t(a.A, op), Dt = this.#t(a.D, op), st = this.#t(a.state, op);
    const { T, D, N } = checkSelectiveScan(a);
    const out = this.#tensor([T, D], op);
    const nt = this.#threadsFor(T * D * N * 16); // one exp + update ≈ 16 multiply-adds
    const ranges = split(D, nt, 4);
    const scratch = this.#scratch(32 * N, ranges.length);
    const args = ranges.map(([d0, d1], i) => [
      u.ptr,
      u.stride,
      dl.ptr,
      dl.stride,
      A.ptr,
      Bv.ptr,
      Bv.stride,
      Cv.ptr,
      Cv.stride,
      Dt.ptr,
      z.ptr,
      z.stride,
      st.ptr,
      out.ptr,
      D,
      N,
      a.batch,
      a.seqLen,
      d0,
      d1,
      scratch.ptr + i * scratch.stride,
    ]);
    this.#parallel("selective_scan", args);
    return out;
  }

  ssd(a: SsdArgs): Tensor {
    const op = "ssd";
    const x = this.#v(a.x, op), dt = this.#v(a.dt, op), Bv = this.#v(a.B, op), Cv = this.#v(a.C, op);
    const dtBias = this.#t(a.dtBias, op), A = this.#t(a.A, op), Dt = this.#t(a.D, op), st = this.#t(a.state, op);
    const { batch, seqLen } = a;
    const { T, H, P, G, N } = checkSsd(a);
    const out = this.#tensor([T, H * P], op);
    const common = [
      x.ptr,
      x.stride,
      dt.ptr,
      dt.stride,
      dtBias.ptr,
      A.ptr,
      Bv.ptr,
      Bv.stride,
      Cv.ptr,
      Cv.stride,
      Dt.ptr,
      st.ptr,
      out.ptr,
      H,
      P,
      G,
      N,
      batch,
    ];
    if (seqLen === 1) {
      const nt = this.#threadsFor(batch * H * P * N * 4);
      this.#parallel("ssd_step", split(H, nt, 1).map(([h0, h1]) => [...common, a.dtMin, a.dtMax, h0, h1]));
    } else if (seqLen > 1) {
      const Q = Math.min(a.chunkSize, seqLen);
      const nt = this.#threadsFor(T * H * P * (N + Q));
      const ranges = split(H, nt, 1);
      const scratch = this.#scratch(this.#k.ssd_scratch_bytes(Q, P, N), ranges.length);
      this.#parallel(
        "ssd_chunked",
        ranges.map((
          [h0, h1],
          i,
        ) => [...common, seqLen, Q, a.dtMin, a.dtMax, h0, h1, scratch.ptr + i * scratch.stride]),
      );
    }
    return out;
  }

  gatedRmsNorm(y: Tensor, z: View, weight: Tensor, groupSize: number, eps: number): Tensor {
    const op = "gatedRmsNorm";
    const yt = this.#t(y, op), wt = this.#t(weight, op);
    const zv = this.#v(z, op);
    const { T, D } = checkGatedRmsNorm(yt, z, wt, groupSize);
    const out = this.#tensor([T, D], op);
    this.#k.gated_rms_norm(yt.ptr, zv.ptr, zv.stride, wt.ptr, out.ptr, T, D, groupSize, eps);
    return out;
  }

  /**
   * Runs every loop-heavy kernel a few times on small zeroed data. V8 first runs wasm in its baseline tier
   * (Liftoff) and switches a function to optimised code only on a later call once it has run enough, so without
   * this the first large prefill GEMM would run ~3× slower. Costs a few milliseconds.
   */
  warmUp(): void {
    const bytes = 1 << 20;
    const buf = this.#alloc.alloc(bytes);
    const k = this.#k;
    try {
      k.fill_zero(buf, bytes);
      const a = buf, b = buf + (256 << 10), o = buf + (512 << 10), sc = buf + (768 << 10);
      for (let rep = 0; rep < 4; rep++) {
        k.linear(a, 256, 256, b, 64, 0, o, 64, 0, 32, 0, 8);
        k.linear(a, 256, 256, b, 64, 0, o, 64, 0, 1, 0, 8);
        k.selective_scan(a, 16, a, 16, b, a, 16, a, 16, b, a, 16, b, o, 16, 16, 1, 256, 0, 16, sc);
        k.ssd_chunked(a, 32, a, 2, b, b, a, 16, a, 16, b, b + 4096, o, 2, 16, 1, 16, 1, 128, 64, 0, 1e30, 0, 2, sc);
        k.ssd_step(a, 32, a, 2, b, b, a, 16, a, 16, b, b + 4096, o, 2, 16, 1, 16, 64, 0, 1e30, 0, 2);
        k.conv1d(a, 64, b, 0, b + 4096, o, sc, 64, 4, 1, 256, 0, 64);
        k.rms_norm(a, b, o, 64, 256, 1e-5);
        k.gated_rms_norm(a, a, 256, b, o, 64, 256, 64, 1e-5);
        k.add(a, b, o, 16384);
      }
    } finally {
      this.#alloc.free(buf, bytes);
    }
  }

  // ---------------------------------------------------------------- benchmarks (used by wasm/bench.ts)

  /**
   * Streams a `bytes`-byte buffer `reps` times with every thread reading its own slice (SIMD sum) and returns the
   * median read bandwidth in bytes per second.
   */
  streamBandwidth(bytes: number, reps: number): number {
    const buf = this.#alloc.alloc(bytes);
    try {
      this.#k.fill_zero(buf, bytes);
      const slices = split(bytes / 128, this.threads, 1).map(([a, b]) => [buf + a * 128, (b - a) * 128]);
      // Median, not best: on a shared VM one lucky run can read far above the sustained rate (seen: 63 GB/s
      // once among runs of 38–40 GB/s), and the decode roofline should be what memory sustains.
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        this.#parallel("stream_sum", slices);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)];
      return (slices.reduce((s, [, b]) => s + b, 0) / median) * 1e3;
    } finally {
      this.#alloc.free(buf, bytes);
    }
  }
}

/**
 * Creates the WASM backend. Threads (Web Workers on a shared memory) are used when `SharedArrayBuffer` exists,
 * the page is cross-origin isolated (browsers), and `threads` (default: hardwareConcurrency, at most 8) is > 1;
 * otherwise everything runs on the calling thread.
 */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<Backend & WasmBackendExtras> {
  const hw = typeof navigator !== "undefined" && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : 1;
  let threads = Math.max(1, Math.floor(opts.threads ?? Math.min(hw, DEFAULT_MAX_THREADS)));
  if (!threadsSupported(opts.workerFactory !== undefined)) threads = 1;
  let module: WebAssembly.Module;
  let memory: WebAssembly.Memory;
  let kernels: KernelExports;
  let shared: boolean;
  if (opts.module) {
    module = opts.module;
    // The caller's module may be either variant: try the shared memory first when threads are possible.
    try {
      if (!threadsSupported(opts.workerFactory !== undefined)) throw new Error("no shared memory");
      memory = createMemory(true, INITIAL_PAGES);
      kernels = instantiateKernels(module, memory);
      shared = true;
    } catch {
      memory = createMemory(false, INITIAL_PAGES);
      kernels = instantiateKernels(module, memory);
      shared = false;
      threads = 1;
    }
  } else {
    shared = threads > 1;
    module = await compileKernels(shared);
    memory = createMemory(shared, INITIAL_PAGES);
    kernels = instantiateKernels(module, memory);
  }
  if (CONTROL_BASE + controlBytes(threads) > HEAP_BASE) throw new Error("control block overflows page 0");
  let pool: WorkerPool | null = null;
  if (threads > 1) {
    try {
      pool = await WorkerPool.create(module, memory, threads - 1, CONTROL_BASE, opts.workerFactory);
    } catch {
      pool = null; // e.g. the host cannot send a Module to a worker: stay single-threaded
    }
  }
  const backend = new WasmBackend(kernels, memory, pool, shared, opts.minWorkPerThread ?? MIN_WORK_PER_THREAD);
  backend.warmUp();
  return backend;
}

/** Extra methods of the WASM backend beyond {@link Backend}. */
export interface WasmBackendExtras {
  /** Threads used by parallel ops, the caller included. */
  readonly threads: number;
  /** Restarts the peak measurement at the current live bytes. */
  resetPeak(): void;
  /** Median read bandwidth (bytes/s) of a SIMD sum over `bytes` bytes split across the threads. */
  streamBandwidth(bytes: number, reps: number): number;
  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void;
}
