/**
 * The backend's GPU memory: tensors (pooled buffers), weight matrices split into row parts that each fit one
 * storage binding (f32, or f16 pairs), their bindings ({@link Slice}s), and the live / peak byte accounting.
 *
 * @module
 */

import {
  type Matrix,
  QUANT_BLOCK_BYTES,
  type QuantFormat,
  type QuantizedMatrixData,
  type Tensor,
} from "../runtime/backend.ts";
import { checkShape } from "../runtime/op_checks.ts";
import { bucketBytes, BufferPool } from "./buffer_pool.ts";
import { STORAGE } from "./gpu_flags.ts";
import type { Slice } from "./program.ts";

/** A tensor of a WebGPU backend: a pooled buffer (null once freed) and the backend that owns it. */
export class GpuTensor implements Tensor {
  readonly size: number;
  constructor(
    readonly shape: readonly number[],
    readonly label: string,
    public buffer: GPUBuffer | null,
    readonly owner: object,
    /** Stored as f16 pairs (`Backend.uploadHalf`, include/half_params.wgsl): only the ops that read halves take it. */
    readonly half = false,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }
  get bytes(): number {
    return this.half ? Math.ceil(this.size / 2) * 4 : this.size * 4;
  }
}

/**
 * Whether the per-channel parameters an op reads together (A, D; conv1d's weight and bias) are f16 (one `P16` per
 * kernel): all of them or none, else an error naming the op and the tensors.
 */
export function paramsHalf(op: string, ts: readonly (GpuTensor | null)[]): boolean {
  const given = ts.filter((t): t is GpuTensor => t !== null);
  const half = given.some((t) => t.half);
  if (half && !given.every((t) => t.half)) {
    throw new Error(
      `${op}: ${given.map((t) => `${t.label} ${t.half ? "f16" : "f32"}`).join(", ")}: the WebGPU kernels read these ` +
        "parameters all as f16 or all as f32",
    );
  }
  return half;
}

/** A row range of a matrix in its own buffer, (rows, k). */
export interface MatrixPart {
  buffer: GPUBuffer;
  r0: number;
  rows: number;
}

/** A weight matrix of a WebGPU backend: row parts (null once freed) and the backend that owns it. */
export class GpuMatrix implements Matrix {
  constructor(
    readonly n: number,
    readonly k: number,
    readonly label: string,
    public parts: MatrixPart[] | null,
    readonly owner: object,
    /** Stored as f16 pairs (rows padded to an even length) instead of f32. */
    readonly f16: boolean,
    /** Block-quantized (kernels/include/quant_blocks.wgsl layout per part), or null for f32 / f16. */
    readonly quant: QuantFormat | null = null,
  ) {}
  /** Bytes of one stored row (quantized: its code words and scales). */
  get rowBytes(): number {
    if (this.quant) return (this.k / 32) * QUANT_BLOCK_BYTES[this.quant];
    return this.f16 ? Math.ceil(this.k / 2) * 4 : this.k * 4;
  }
  /** Bytes a part of `rows` rows binds (quantized: codes, then the f16 scales padded to a whole word). */
  partBytes(rows: number): number {
    if (!this.quant) return Math.max(4, rows * this.rowBytes);
    return Math.max(4, (this.scaleBase(rows) + Math.ceil((rows * this.k) / 64)) * 4);
  }
  /** Quantized: the word where a part of `rows` rows keeps its scales (after the code words). */
  scaleBase(rows: number): number {
    return rows * (this.k / 32) * QUANT_CODE_WORDS[this.quant ?? "q8_0"];
  }
}

/** u32 words of codes per block of each format (the f16 scale is stored apart, two per word). */
const QUANT_CODE_WORDS: Readonly<Record<QuantFormat, number>> = { q8_0: 8, q4_0: 4 };

/**
 * GGUF blocks of rows [r0, r0 + rows) repacked for the kernels (kernels/include/quant_blocks.wgsl): the code bytes
 * of every block in order (whole u32 words), then the f16 scales two per word.
 */
function repackQuant(data: QuantizedMatrixData, r0: number, rows: number): Uint8Array {
  const bb = QUANT_BLOCK_BYTES[data.format], cb = bb - 2;
  const blocks = rows * (data.k / 32), first = r0 * (data.k / 32);
  const codeBytes = blocks * cb;
  const out = new Uint8Array(codeBytes + Math.ceil(blocks / 2) * 4);
  for (let s = 0; s < blocks; s++) {
    const at = (first + s) * bb;
    out.set(data.blocks.subarray(at + 2, at + bb), s * cb);
    out[codeBytes + 2 * s] = data.blocks[at];
    out[codeBytes + 2 * s + 1] = data.blocks[at + 1];
  }
  return out;
}

/** Rows of a row-major [rows, k] f32 matrix as f16, each row padded to an even length (for u32 pairs). */
function toF16Rows(data: Float32Array, rows: number, k: number): Uint16Array {
  const kp = k + (k % 2);
  if (kp === k) return new Uint16Array(new Float16Array(data).buffer);
  const out = new Float16Array(rows * kp);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * k, (r + 1) * k), r * kp);
  return new Uint16Array(out.buffer);
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Creates, binds and accounts the tensors and matrices of one backend (`owner`). */
export class TensorStore {
  readonly #device: GPUDevice;
  readonly #owner: object;
  readonly #align: number;
  readonly #maxBufferSize: number;
  readonly pool: BufferPool;
  readonly maxBindingSize: number;
  #live = 0;
  #peak = 0;

  /** @param onDestroy called with each pooled buffer just before the pool destroys it. */
  constructor(device: GPUDevice, owner: object, maxBindingSize: number, onDestroy: (b: GPUBuffer) => void) {
    this.#device = device;
    this.#owner = owner;
    this.#align = device.limits.minStorageBufferOffsetAlignment;
    this.#maxBufferSize = device.limits.maxBufferSize;
    this.maxBindingSize = maxBindingSize;
    this.pool = new BufferPool(device, onDestroy);
  }

  /** Live bytes and their peak. */
  get live(): number {
    return this.#live;
  }
  get peak(): number {
    return this.#peak;
  }

  /** Restart the peak from the live bytes. */
  resetPeak(): void {
    this.#peak = this.#live;
  }

  #track(bytes: number): void {
    this.#live += bytes;
    if (this.#live > this.#peak) this.#peak = this.#live;
  }

  /** The first upload that could not write its buffer (see {@link TensorStore.upload}), until the backend reports it. */
  error: string | null = null;

  /** Count bytes as no longer live. */
  untrack(bytes: number): void {
    this.#live -= bytes;
  }

  /** A new tensor of uninitialised (pooled) memory. */
  alloc(shape: readonly number[], label: string): GpuTensor {
    const size = checkShape(label, shape);
    if (size * 4 > this.#maxBufferSize) {
      throw new RangeError(`${label}: ${size * 4} bytes exceed the device's maxBufferSize ${this.#maxBufferSize}`);
    }
    const { buffer } = this.pool.acquire(size * 4, STORAGE, label);
    this.#track(buffer.size);
    return new GpuTensor([...shape], label, buffer, this.#owner);
  }

  /**
   * A new buffer holding `data`, written with `queue.writeBuffer` (a new buffer: no work recorded before this call
   * can use it, so there is no ordering hazard). Not `mappedAtCreation`: Deno's `getMappedRange` copies the mapping
   * into a JS buffer first, and on a discrete GPU that mapping is write-combined memory, slow to read: 130m's f32
   * weights took 21 s to upload on an H100 that way (BENCHMARKS.md, "Weights upload").
   */
  #filled(data: ArrayBufferView, label: string, pooled: boolean): GPUBuffer {
    const size = pooled ? bucketBytes(data.byteLength) : Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    const buffer = this.#device.createBuffer({ size, usage: STORAGE, label });
    try {
      const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
      const whole = bytes.byteLength - (bytes.byteLength % 4); // writeBuffer writes whole 4-byte words
      if (whole > 0) this.#device.queue.writeBuffer(buffer, 0, bytes, 0, whole);
      if (whole < bytes.byteLength) {
        const tail = new Uint8Array(4);
        tail.set(bytes.subarray(whole));
        this.#device.queue.writeBuffer(buffer, whole, tail);
      }
    } catch (e) {
      // An invalid buffer (device lost or destroyed a moment ago, out of memory): reported, like every other GPU
      // error, at the next read or sync, which by then also knows whether the device was lost.
      this.error ??= `upload of ${label}: ${(e as Error).message}`;
    }
    if (pooled) this.pool.adopt(buffer);
    return buffer;
  }

  /** A tensor holding `data` (`size` elements, already checked against `shape`). */
  upload(data: Float32Array, size: number, shape: readonly number[], label: string): GpuTensor {
    if (size * 4 > this.#maxBufferSize) {
      throw new RangeError(`upload(${label}): ${size * 4} bytes exceed maxBufferSize`);
    }
    const buffer = this.#filled(data, label, true);
    this.#track(buffer.size);
    return new GpuTensor([...shape], label, buffer, this.#owner);
  }

  /** A tensor holding `data` (`size` elements) as f16 pairs, element i in half i % 2 of word i / 2. */
  uploadHalf(data: Float32Array, size: number, shape: readonly number[], label: string): GpuTensor {
    const halves = new Float16Array(size + (size % 2));
    halves.set(data);
    if (halves.byteLength > this.#maxBufferSize) {
      throw new RangeError(`uploadHalf(${label}): ${halves.byteLength} bytes exceed maxBufferSize`);
    }
    const buffer = this.#filled(new Uint16Array(halves.buffer), label, true);
    this.#track(buffer.size);
    return new GpuTensor([...shape], label, buffer, this.#owner, true);
  }

  /** A matrix (n, k) holding `data`, in row parts that fit a binding; f16 pairs when `f16`. */
  uploadMatrix(data: Float32Array, n: number, k: number, label: string, f16: boolean): GpuMatrix {
    return this.matrix(n, k, label, f16, (r0, rows, partLabel) => {
      const rowsData = data.subarray(r0 * k, (r0 + rows) * k);
      return this.#filled(f16 ? toF16Rows(rowsData, rows, k) : rowsData, partLabel, false);
    }, "uploadMatrix");
  }

  /**
   * A matrix (n, k) in row parts that fit a binding (f16 pairs when `f16`), each part's buffer made by `part`
   * (rows [r0, r0 + rows), of {@link GpuMatrix.partBytes} bytes) under its label; `op` names the caller in errors.
   */
  matrix(
    n: number,
    k: number,
    label: string,
    f16: boolean,
    part: (r0: number, rows: number, partLabel: string) => GPUBuffer,
    op: string,
  ): GpuMatrix {
    const rowBytes = f16 ? Math.ceil(k / 2) * 4 : k * 4;
    if (rowBytes > this.maxBindingSize) {
      throw new RangeError(`${op}(${label}): a row of ${rowBytes} bytes exceeds the binding limit`);
    }
    const rowsPerPart = Math.max(1, Math.floor(this.maxBindingSize / rowBytes));
    const parts: MatrixPart[] = [];
    for (let r0 = 0; r0 < n || parts.length === 0; r0 += rowsPerPart) {
      const rows = Math.min(rowsPerPart, n - r0);
      const suffix = n > rowsPerPart ? `[${r0}:${r0 + rows}]` : "";
      const buffer = part(r0, rows, label + suffix);
      this.#track(buffer.size);
      parts.push({ buffer, r0, rows });
      if (rows <= 0) break;
    }
    return new GpuMatrix(n, k, label, parts, this.#owner, f16);
  }

  /** A new unpooled buffer of at least `bytes` bytes (a multiple of 16), for a kernel to fill. */
  buffer(bytes: number, label: string): GPUBuffer {
    return this.#device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: STORAGE, label });
  }

  /**
   * A block-quantized matrix (already checked), in row parts that fit a binding, each repacked once for the
   * kernels (code words, then scales: exactly the GGUF bytes, plus at most 2 bytes of padding per part).
   */
  uploadQuantizedMatrix(data: QuantizedMatrixData, label: string): GpuMatrix {
    const { n, k, format } = data;
    const rowBytes = (k / 32) * QUANT_BLOCK_BYTES[format];
    // A part of r rows binds r · rowBytes bytes plus ≤ 2 bytes of scale padding.
    const rowsPerPart = Math.floor((this.maxBindingSize - 2) / rowBytes);
    if (rowsPerPart < 1) {
      throw new RangeError(`uploadQuantizedMatrix(${label}): a row of ${rowBytes} bytes exceeds the binding limit`);
    }
    const parts: MatrixPart[] = [];
    for (let r0 = 0; r0 < n || parts.length === 0; r0 += rowsPerPart) {
      const rows = Math.min(rowsPerPart, n - r0);
      const suffix = n > rowsPerPart ? `[${r0}:${r0 + rows}]` : "";
      const buffer = this.#filled(repackQuant(data, r0, Math.max(0, rows)), label + suffix, false);
      this.#track(buffer.size);
      parts.push({ buffer, r0, rows });
      if (rows <= 0) break;
    }
    return new GpuMatrix(n, k, label, parts, this.#owner, false, format);
  }

  /** The whole tensor as one binding (an error when it is over the binding limit). */
  slice(t: GpuTensor, op: string): Slice {
    const size = Math.max(4, t.bytes);
    if (size > this.maxBindingSize) {
      throw new RangeError(
        `${op}: ${t.label} ${shapeStr(t.shape)} is ${size} bytes, over the ${this.maxBindingSize}-byte storage ` +
          "binding limit (linear and embed split their operands; MambaModel.prefill splits long sequences so " +
          "that the other ops' tensors fit)",
      );
    }
    return { buffer: t.buffer!, offset: 0, size };
  }

  /** Elements [e0, e1) of a tensor as a binding whose offset is aligned, and the element index of e0 in it. */
  range(t: GpuTensor, e0: number, e1: number): { slice: Slice; base: number } {
    const offset = Math.floor((e0 * 4) / this.#align) * this.#align;
    const size = Math.max(4, e1 * 4 - offset);
    return { slice: { buffer: t.buffer!, offset, size }, base: (e0 * 4 - offset) / 4 };
  }
}
