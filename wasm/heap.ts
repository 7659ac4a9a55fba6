/**
 * The WASM backend's memory: tensors and packed matrices as blocks of the kernels' linear memory (handed out by
 * the {@link Allocator}), their validation as op arguments, live/peak accounting, and the reused scratch buffer.
 *
 * @module
 */

import { asView, type Matrix, type MemoryStats, type QuantFormat, type Tensor, type View } from "../runtime/backend.ts";
import { checkShape } from "../runtime/op_checks.ts";
import { MAX_PAGES, PANEL } from "./generated/abi.ts";
import { Allocator } from "./memory.ts";

/** First byte managed by the allocator (page 0 holds the worker control block; offset 0 is the null pointer). */
export const HEAP_BASE = 65536;

/** A tensor living in the WASM memory. */
export class WasmTensor implements Tensor {
  readonly size: number;
  alive = true;
  constructor(
    readonly owner: WasmHeap,
    readonly shape: readonly number[],
    readonly label: string,
    readonly ptr: number,
    readonly bytes: number,
    /** Stored as f16 (2 bytes a value; `Backend.uploadHalf`): only the ops that read halves take it (`WasmHeap.p`). */
    readonly half = false,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }
}

/**
 * A weight matrix: f32 packed as ⌈n/PANEL⌉ panels of (k, PANEL) floats, or (`quant` set) GGUF's blocks repacked in
 * as many bytes: the codes (each whole group of 8 rows interleaved in 4-byte words), then the scales
 * (wasm/assembly/quant_linear.ts).
 */
export class WasmMatrix implements Matrix {
  alive = true;
  constructor(
    readonly owner: WasmHeap,
    readonly n: number,
    readonly k: number,
    readonly label: string,
    readonly ptr: number,
    readonly bytes: number,
    readonly quant: QuantFormat | null = null,
  ) {}

  /** Number of packed panels. */
  get panels(): number {
    return Math.ceil(this.n / PANEL);
  }
}

/** A resolved 2-D view: base pointer of its first column, row stride (floats), rows, cols. */
export interface ResolvedView {
  ptr: number;
  stride: number;
  rows: number;
  cols: number;
  label: string;
}

/** The handles of one backend on one memory. */
export class WasmHeap {
  readonly #memory: WebAssembly.Memory;
  readonly alloc: Allocator;
  #f32: Float32Array;
  #i32: Int32Array;
  #live = 0;
  #peak = 0;
  #handles = new Set<WasmTensor | WasmMatrix>();
  #scratchPtr = 0;
  #scratchBytes = 0;
  #disposed = false;

  constructor(memory: WebAssembly.Memory) {
    this.#memory = memory;
    this.alloc = new Allocator(memory, HEAP_BASE, MAX_PAGES);
    this.#f32 = new Float32Array(memory.buffer);
    this.#i32 = new Int32Array(memory.buffer);
  }

  /** Float32 view of the whole memory, refreshed after growth. */
  get f32(): Float32Array {
    if (this.#f32.buffer !== this.#memory.buffer) {
      this.#f32 = new Float32Array(this.#memory.buffer);
      this.#i32 = new Int32Array(this.#memory.buffer);
    }
    return this.#f32;
  }

  /** Int32 view of the whole memory, refreshed after growth. */
  get i32(): Int32Array {
    void this.f32;
    return this.#i32;
  }

  /** Throws once the backend was disposed. */
  checkOpen(): void {
    if (this.#disposed) throw new Error("WASM backend used after dispose()");
  }

  /** Allocates a tensor (contents undefined). */
  tensor(shape: readonly number[], label: string): WasmTensor {
    this.checkOpen();
    const bytes = checkShape(label, shape) * 4;
    const t = new WasmTensor(this, [...shape], label, this.alloc.alloc(bytes), bytes);
    this.#track(t, bytes);
    return t;
  }

  /** Allocates a tensor stored as f16, 2 bytes a value (contents undefined). */
  halfTensor(shape: readonly number[], label: string): WasmTensor {
    this.checkOpen();
    const bytes = checkShape(label, shape) * 2;
    const t = new WasmTensor(this, [...shape], label, this.alloc.alloc(bytes), bytes, true);
    this.#track(t, bytes);
    return t;
  }

  /** Allocates a packed matrix of n rows (output features) and k columns (contents undefined). */
  matrix(n: number, k: number, label: string): WasmMatrix {
    const bytes = Math.ceil(n / PANEL) * PANEL * k * 4;
    const m = new WasmMatrix(this, n, k, label, this.alloc.alloc(bytes), bytes);
    this.#track(m, bytes);
    return m;
  }

  /** Allocates a block-quantized matrix of `bytes` bytes of `format` blocks (contents undefined). */
  quantMatrix(n: number, k: number, format: QuantFormat, bytes: number, label: string): WasmMatrix {
    this.checkOpen();
    const m = new WasmMatrix(this, n, k, label, this.alloc.alloc(bytes), bytes, format);
    this.#track(m, bytes);
    return m;
  }

  #track(h: WasmTensor | WasmMatrix, bytes: number): void {
    this.#handles.add(h);
    this.#live += bytes;
    if (this.#live > this.#peak) this.#peak = this.#live;
  }

  /** Validates a tensor argument of `op`. */
  t(t: Tensor, op: string): WasmTensor {
    if (!(t instanceof WasmTensor) || t.owner !== this) {
      throw new Error(`${op}: tensor "${t?.label}" does not belong to this WASM backend`);
    }
    if (!t.alive) throw new Error(`${op}: tensor "${t.label}" was freed`);
    if (t.half) throw new Error(`${op}: tensor "${t.label}" is stored as f16, which ${op} does not read`);
    return t;
  }

  /** Validates a per-channel parameter of `op` (A, D, conv1d's weight and bias): f32 or f16. */
  p(t: Tensor, op: string): WasmTensor {
    if (t instanceof WasmTensor && t.owner === this && t.alive && t.half) return t;
    return this.t(t, op);
  }

  /** Validates a matrix argument of `op`. */
  m(m: Matrix, op: string): WasmMatrix {
    if (!(m instanceof WasmMatrix) || m.owner !== this) {
      throw new Error(`${op}: matrix "${m?.label}" does not belong to this WASM backend`);
    }
    if (!m.alive) throw new Error(`${op}: matrix "${m.label}" was freed`);
    return m;
  }

  /** Resolves a view argument of `op` (its tensor must be 2-D). */
  v(x: Tensor | View, op: string): ResolvedView {
    const v = asView(x);
    const t = this.t(v.tensor, op);
    if (t.shape.length !== 2) throw new Error(`${op}: "${t.label}" must be 2-D, got [${t.shape.join(", ")}]`);
    return { ptr: t.ptr + 4 * v.col, stride: t.shape[1], rows: t.shape[0], cols: v.cols, label: t.label };
  }

  /** A temporary buffer of `bytes` per thread for `count` threads (reused between ops; not counted as live). */
  scratch(bytes: number, count = 1): { ptr: number; stride: number } {
    const stride = Allocator.round(bytes);
    const total = stride * count;
    if (total > this.#scratchBytes) {
      if (this.#scratchBytes) this.alloc.free(this.#scratchPtr, this.#scratchBytes);
      this.#scratchBytes = Math.max(total, 2 * this.#scratchBytes);
      this.#scratchPtr = this.alloc.alloc(this.#scratchBytes);
    }
    return { ptr: this.#scratchPtr, stride };
  }

  /** Copies an Int32Array into scratch memory and returns its pointer. */
  ints(values: Int32Array): number {
    const { ptr } = this.scratch(values.length * 4);
    this.i32.set(values, ptr >>> 2);
    return ptr;
  }

  /** Frees a tensor or matrix (validated as an argument of `free`). */
  free(t: Tensor | Matrix): void {
    const h = t instanceof WasmMatrix ? this.m(t, "free") : this.p(t as Tensor, "free");
    h.alive = false;
    this.#handles.delete(h);
    this.alloc.free(h.ptr, h.bytes);
    this.#live -= h.bytes;
  }

  /** Live and peak bytes of tensors and matrices. */
  stats(): MemoryStats {
    return { liveBytes: this.#live, peakBytes: this.#peak };
  }

  /** Restarts the peak measurement at the current live bytes. */
  resetPeak(): void {
    this.#peak = this.#live;
  }

  /** Marks every handle dead; later use throws. Returns false if already disposed. */
  dispose(): boolean {
    if (this.#disposed) return false;
    this.#disposed = true;
    for (const h of this.#handles) h.alive = false;
    this.#handles.clear();
    this.#live = 0;
    return true;
  }
}
