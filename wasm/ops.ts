/**
 * The WASM backend's implementation of {@link Backend}: argument checks (runtime/op_checks.ts), output
 * allocation on the {@link WasmHeap}, and kernel calls with named argument records, spread over the threads by
 * {@link KernelDispatch} for the GEMM/GEMV, the scans and the convolution.
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
  QUANT_BLOCK_BYTES,
  type QuantFormat,
  type QuantizedMatrixData,
  type SelectiveScanArgs,
  type SsdArgs,
  type Tensor,
  type View,
} from "../runtime/backend.ts";
import {
  checkAdd,
  checkArgmaxCols,
  checkConv1d,
  checkEmbed,
  checkGatedRmsNorm,
  checkGatherRows,
  checkIdRange,
  checkLinear,
  checkRmsNorm,
  checkSampleInto,
  checkSelectiveScan,
  checkSsd,
  checkUpload,
  checkUploadHalf,
  checkUploadMatrix,
  checkUploadQuantized,
} from "../runtime/op_checks.ts";
import { sampleRow, type TokenChoice } from "../runtime/sampling.ts";
import { measurePeaks } from "./bench.ts";
import { type KernelDispatch, split } from "./dispatch.ts";
import {
  ACT_INT16,
  ACT_INT8,
  ACT_INT8_PACKED,
  type Conv1dArgs,
  type LinearArgs,
  type LinearQaArgs,
  type LinearQArgs,
  MAX_PAGES,
  PANEL,
  QUANT_GEMM_ROWS,
  QUANT_Q4_0,
  QUANT_Q8_0,
  SCAN_SCRATCH_BYTES_PER_STATE,
  type SelectiveScanArgs as ScanKernelArgs,
  type SsdChunkedArgs,
  type SsdStepArgs,
  STREAM_BLOCK_BYTES,
  type StreamSumArgs,
} from "./generated/abi.ts";
import type { WasmHeap, WasmMatrix } from "./heap.ts";
import { warmUp } from "./warmup.ts";

/**
 * How `linear` computes on a block-quantized matrix: "int16" / "int8", activations quantized per block of 32 to 16- or
 * 8-bit codes and integer dot products; "f32", the weights dequantized in registers (wasm/assembly/quant_linear.ts).
 */
export type QuantMath = "int16" | "int8" | "f32";

/** The kernels' code of each block-quantized format (wasm/assembly/quant_linear.ts). */
const QUANT_CODE: Record<QuantFormat, number> = { q8_0: QUANT_Q8_0, q4_0: QUANT_Q4_0 };

/** Rows packed per pack_panels call in uploadMatrix (a multiple of PANEL). */
const PACK_ROWS = 32 * PANEL;
/** The longest chunk the chunked SSD kernel uses, whatever the model's chunk_size (see ssd). */
const SSD_MAX_CHUNK = 64;

/** The WASM backend (see wasm/backend.ts). */
export class WasmBackend implements Backend {
  readonly name = "wasm";
  readonly description: string;
  /** Threads used by parallel ops, the caller included. */
  readonly threads: number;
  readonly capabilities: BackendCapabilities;
  /** The kernels are the relaxed-SIMD build (read from the module itself, so a caller's module reports its own). */
  readonly relaxedSimd: boolean;

  readonly #heap: WasmHeap;
  readonly #run: KernelDispatch;
  readonly #quantActivations: QuantMath;
  /** Q8_0 matrices holding a −128 code: the int8 GEMV's sign trick cannot negate it, so they take the 16-bit layout. */
  readonly #q8MinCode = new WeakSet<WasmMatrix>();
  /**
   * Quantized matrices with a ±inf or NaN block scale: the integer path converts scales assuming them finite
   * (quant_linear.ts finiteHalfToFloat4), so these take the exact path, which keeps inf and NaN.
   */
  readonly #nonFiniteScale = new WeakSet<WasmMatrix>();

  constructor(heap: WasmHeap, run: KernelDispatch, shared: boolean, quantActivations: QuantMath = "int8") {
    this.#heap = heap;
    this.#run = run;
    this.#quantActivations = quantActivations;
    this.threads = run.threads;
    this.relaxedSimd = run.k.relaxed_simd({}) === 1;
    this.capabilities = {
      queued: false,
      timestamps: false,
      deviceTokenChoice: true,
      decodeBurst: 1,
      threads: this.threads,
      weightFormats: ["f32"],
      quantFormats: ["q8_0", "q4_0"],
      weightFormat: "f32",
      preferredBatch: 1,
      maxMemoryBytes: MAX_PAGES * 65536,
      // sampleInto runs sampleRow on the heap; with decodeBurst 1, generate keeps its host pick per step by default.
      deviceSampling: true,
      relaxedSimd: this.relaxedSimd,
      quantActivations,
    };
    this.description =
      `WASM SIMD (128-bit${this.relaxedSimd ? ", relaxed" : ""}), ${this.threads} thread${
        this.threads > 1 ? "s" : ""
      }` +
      (shared ? ", shared memory" : "") +
      (quantActivations === "int16"
        ? ", quantized weights: integer dot products on 16-bit activations"
        : quantActivations === "int8"
        ? `, quantized weights: integer dot products on 8-bit activations${
          this.relaxedSimd ? " (relaxed i8 dot, sign trick)" : " (widened to i16)"
        }`
        : ", quantized weights: exact (dequantized in registers)");
  }

  /**
   * Kernel calls of the parallel ops each thread has run so far, the calling thread first, then each worker: how
   * the work was really spread (a pool that exists but is never used shows zeros).
   */
  callsPerThread(): number[] {
    return this.#run.callsPerThread();
  }

  // ---------------------------------------------------------------- Backend: data movement

  upload(data: Float32Array, shape: readonly number[], label: string): Tensor {
    checkUpload(data, shape, label);
    const t = this.#heap.tensor(shape, label);
    this.#heap.f32.set(data, t.ptr >>> 2);
    return t;
  }

  uploadHalf(data: Float32Array, shape: readonly number[], label: string): Tensor {
    checkUploadHalf(data, shape, label);
    const t = this.#heap.halfTensor(shape, label);
    new Float16Array(this.#heap.f32.buffer, t.ptr, t.size).set(data);
    return t;
  }

  uploadMatrix(data: Float32Array, n: number, k: number, label: string): Matrix {
    const heap = this.#heap;
    heap.checkOpen();
    checkUploadMatrix(data, n, k, label);
    const m = heap.matrix(n, k, label);
    // Stage PACK_ROWS rows at a time in scratch, then pack them into panels in WASM.
    const staging = heap.scratch(PACK_ROWS * k * 4).ptr;
    for (let r = 0; r < n; r += PACK_ROWS) {
      const rows = Math.min(PACK_ROWS, n - r);
      heap.f32.set(data.subarray(r * k, (r + rows) * k), staging >>> 2);
      this.#run.k.pack_panels({ src: staging, rows, k, dst: m.ptr + r * k * 4 });
    }
    return m;
  }

  /** Holds exactly the GGUF blocks' bytes, repacked for the kernels. */
  uploadQuantizedMatrix(data: QuantizedMatrixData, label: string): Matrix {
    const heap = this.#heap;
    heap.checkOpen();
    checkUploadQuantized(data, label);
    const m = heap.quantMatrix(data.n, data.k, data.format, data.blocks.byteLength, label);
    // Repack (same bytes): every block's codes first, row after row (16-byte aligned for the SIMD loads), each whole
    // group of 8 rows interleaved in 4-byte words, then every block's f16 scale in the same order as the rows
    // (wasm/assembly/quant_linear.ts).
    const nb = data.k / 32, blocks = data.n * nb, per = QUANT_BLOCK_BYTES[data.format], codes = per - 2;
    const src = data.blocks, dst = new Uint8Array(heap.f32.buffer, m.ptr, m.bytes), scales = blocks * codes;
    const n8 = data.n & ~7, words = codes / 4;
    for (let g = 0; g < n8; g += 8) {
      // Word t of row g + r's block b goes to the group's block b, word t, then row r (rows 0..3, then 4..7).
      const base = g * nb * codes;
      for (let r = 0; r < 8; r++) {
        const lane = (r >> 2) * 16 + (r & 3) * 4;
        for (let b = 0; b < nb; b++) {
          const from = ((g + r) * nb + b) * per + 2, to = base + b * 8 * codes + lane;
          for (let t = 0; t < words; t++) {
            const f = from + 4 * t, o = to + 32 * t;
            dst[o] = src[f];
            dst[o + 1] = src[f + 1];
            dst[o + 2] = src[f + 2];
            dst[o + 3] = src[f + 3];
          }
        }
      }
    }
    for (let i = n8 * nb; i < blocks; i++) dst.set(src.subarray(i * per + 2, (i + 1) * per), i * codes);
    for (let i = 0; i < blocks; i++) {
      dst[scales + 2 * i] = src[i * per];
      dst[scales + 2 * i + 1] = src[i * per + 1];
    }
    if (data.format === "q8_0" && dst.subarray(0, scales).includes(0x80)) this.#q8MinCode.add(m);
    for (let i = 0; i < blocks; i++) {
      // The exponent all ones: bits 2..6 of the little-endian f16's high byte.
      if ((dst[scales + 2 * i + 1] & 0x7c) === 0x7c) {
        this.#nonFiniteScale.add(m);
        break;
      }
    }
    return m;
  }

  zeros(shape: readonly number[], label: string): Tensor {
    const t = this.#heap.tensor(shape, label);
    this.#run.k.fill_zero({ p: t.ptr, bytes: t.bytes });
    return t;
  }

  copy(t: Tensor, label?: string): Tensor {
    const src = this.#heap.t(t, "copy");
    const dst = this.#heap.tensor(src.shape, label ?? `${src.label} (copy)`);
    this.#run.k.copy_bytes({ dst: dst.ptr, src: src.ptr, bytes: src.bytes });
    return dst;
  }

  fill0(t: Tensor): void {
    const x = this.#heap.t(t, "fill0");
    this.#run.k.fill_zero({ p: x.ptr, bytes: x.bytes });
  }

  read(t: Tensor): Promise<Float32Array> {
    const x = this.#heap.p(t, "read");
    if (x.half) return Promise.resolve(new Float32Array(new Float16Array(this.#heap.f32.buffer, x.ptr, x.size)));
    return Promise.resolve(this.#heap.f32.slice(x.ptr >>> 2, (x.ptr >>> 2) + x.size));
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  free(t: Tensor | Matrix): void {
    this.#heap.free(t);
  }

  memory(): MemoryStats {
    return this.#heap.stats();
  }

  /** Restarts the peak measurement at the current live bytes. */
  resetPeak(): void {
    this.#heap.resetPeak();
  }

  dispose(): void {
    if (!this.#heap.dispose()) return;
    this.#run.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  measurePeaks(): Promise<DevicePeaks> {
    this.#heap.checkOpen();
    return Promise.resolve(measurePeaks(this));
  }

  // ---------------------------------------------------------------- Backend: ops

  embed(ids: Int32Array, table: Matrix): Tensor {
    const w = this.#heap.m(table, "embed");
    checkEmbed(ids, w);
    const out = this.#heap.tensor([ids.length, w.k], `embed(${w.label})`);
    this.#embedRows(this.#heap.ints(ids), ids.length, w, out.ptr);
    return out;
  }

  argmaxInto(x: Tensor, ids: Tensor, offset: number, candidates?: number): void {
    const xt = this.#heap.t(x, "argmaxInto");
    const it = this.#heap.t(ids, "argmaxInto");
    const [rows, width] = xt.shape;
    checkIdRange("argmaxInto", it, offset, rows);
    if (rows === 0 || width === 0) return;
    const cols = checkArgmaxCols(xt, candidates); // a padded vocabulary's rows from `cols` on are never chosen
    const heap = this.#heap.f32, out = this.#heap.i32;
    for (let r = 0; r < rows; r++) {
      const base = (xt.ptr >>> 2) + r * width;
      let best = 0;
      for (let c = 1; c < cols; c++) if (heap[base + c] > heap[base + best]) best = c;
      out[(it.ptr >>> 2) + offset + r] = best;
    }
  }

  /** The host's definition itself (runtime/sampling.ts `sampleRow`) on the heap's rows: no copy, same tokens. */
  sampleInto(
    x: Tensor,
    ids: Tensor,
    offset: number,
    choice: TokenChoice,
    draws: Tensor,
    drawOffset: number,
    seen: Tensor,
    candidates?: number,
  ): void {
    const op = "sampleInto";
    const xt = this.#heap.t(x, op), it = this.#heap.t(ids, op), dt = this.#heap.t(draws, op);
    const st = this.#heap.t(seen, op);
    const [rows, width] = xt.shape;
    checkIdRange(op, it, offset, rows);
    if (rows === 0 || width === 0) return;
    const cols = checkArgmaxCols(xt, candidates);
    const words = checkSampleInto(choice, dt, drawOffset, st, rows, cols);
    const f32 = this.#heap.f32, bits = new Uint32Array(f32.buffer, st.ptr, rows * words);
    for (let r = 0; r < rows; r++) {
      const base = (xt.ptr >> 2) + r * width, w0 = r * words;
      const isSeen = (id: number) => ((bits[w0 + (id >>> 5)] >>> (id & 31)) & 1) !== 0;
      const id = sampleRow(f32.subarray(base, base + cols), cols, choice, f32[(dt.ptr >> 2) + drawOffset + r], isSeen);
      this.#heap.i32[(it.ptr >> 2) + offset + r] = id;
      bits[w0 + (id >>> 5)] |= 1 << (id & 31);
    }
  }

  embedFrom(ids: Tensor, offset: number, count: number, table: Matrix): Tensor {
    const w = this.#heap.m(table, "embedFrom");
    const it = this.#heap.t(ids, "embedFrom");
    checkIdRange("embedFrom", it, offset, count);
    const first = (it.ptr >>> 2) + offset, heapIds = this.#heap.i32;
    for (let i = 0; i < count; i++) {
      const id = heapIds[first + i];
      if (!(id >= 0 && id < w.n)) throw new Error(`embedFrom(${w.label}): token id ${id} is outside [0, ${w.n})`);
    }
    const out = this.#heap.tensor([count, w.k], `embed(${w.label})`);
    this.#embedRows(it.ptr + 4 * offset, count, w, out.ptr);
    return out;
  }

  /** Rows of `w` for `count` validated int32 ids at `ids` into out: the f32 gather, or dequantized rows. */
  #embedRows(ids: number, count: number, w: WasmMatrix, out: number): void {
    const { n, k } = w;
    if (w.quant) this.#run.k.embed_q({ ids, count, w: w.ptr, format: QUANT_CODE[w.quant], n, k, out });
    else this.#run.k.embed({ ids, count, w: w.ptr, n, k, out });
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const xt = this.#heap.t(x, "rmsNorm");
    const wt = this.#heap.t(weight, "rmsNorm");
    const { rows, cols } = checkRmsNorm(xt, wt);
    const out = this.#heap.tensor(xt.shape, "rmsNorm");
    if (rows * cols > 0) this.#run.k.rms_norm({ x: xt.ptr, w: wt.ptr, out: out.ptr, rows, d: cols, eps });
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    const at = this.#heap.t(a, "add");
    const bt = this.#heap.t(b, "add");
    checkAdd(at, bt);
    const out = this.#heap.tensor(at.shape, "add");
    this.#run.k.add({ a: at.ptr, b: bt.ptr, out: out.ptr, n: at.size });
    return out;
  }

  linear(x: Tensor | View, w: Matrix, bias?: Tensor | null): Tensor {
    const xv = this.#heap.v(x, "linear");
    const m = this.#heap.m(w, "linear");
    const bt = bias ? this.#heap.t(bias, "linear") : null;
    checkLinear(asView(x), m, bt);
    const T = xv.rows;
    const out = this.#heap.tensor([T, m.n], `linear(${m.label})`);
    if (m.quant) {
      this.#linearQuant(xv.ptr, xv.stride, T, m, bt ? bt.ptr : 0, out.ptr);
      return out;
    }
    const panels = m.panels;
    const nt = this.#run.threadsFor(T * m.n * m.k);
    const base: Omit<LinearArgs, "r0" | "r1" | "p0" | "p1"> = {
      x: xv.ptr,
      xStride: xv.stride,
      k: m.k,
      w: m.ptr,
      n: m.n,
      bias: bt ? bt.ptr : 0,
      out: out.ptr,
      outStride: m.n,
    };
    // Split output panels (each thread streams its own slice of W); split rows when panels are too few.
    const args: LinearArgs[] = panels >= 2 * nt || T < 8
      ? split(panels, nt, 1).map(([p0, p1]) => ({ ...base, r0: 0, r1: T, p0, p1 }))
      : split(T, nt, 4).map(([r0, r1]) => ({ ...base, r0, r1, p0: 0, p1: panels }));
    this.#run.parallel("linear", args);
    return out;
  }

  /**
   * linear on a block-quantized matrix (wasm/assembly/quant_linear.ts). Few rows (decode): output features split
   * over the threads, each streaming its rows' blocks once. Many rows: features in groups of 8 (one dequantized
   * panel each) over the threads, or rows when the groups are too few; each thread has its own panel scratch.
   */
  #linearQuant(x: number, xStride: number, T: number, m: WasmMatrix, bias: number, out: number): void {
    const { n, k } = m;
    const nt = this.#run.threadsFor(T * n * k);
    if (this.#quantActivations !== "f32" && !this.#nonFiniteScale.has(m)) {
      // The integer path: the input rows quantized to 16 or 8 bits once (calling thread), then output features over
      // the threads (in groups of 8, the GEMV's), or rows when the features are too few; the GEMM tile (4 rows or
      // more) needs a scratch of its own per thread. 8 bits: the GEMV on the relaxed build takes the packed layout
      // (sign-trick relaxed dot) unless a Q8_0 code is −128; otherwise the 16-bit layout (same integer sums).
      const format = QUANT_CODE[m.quant!];
      const packed = this.#quantActivations === "int8" && this.relaxedSimd && T < QUANT_GEMM_ROWS &&
        !this.#q8MinCode.has(m);
      const mode = this.#quantActivations === "int16" ? ACT_INT16 : packed ? ACT_INT8_PACKED : ACT_INT8;
      const xRow = this.#run.k.act_row_bytes({ k });
      const byFeatures = T < QUANT_GEMM_ROWS || n >= 8 * nt;
      const ranges = byFeatures ? split(n, nt, 8) : split(T, nt, 4);
      const tile = T < QUANT_GEMM_ROWS ? 0 : this.#run.k.linear_qa_scratch_bytes({ k });
      const xBytes = Math.ceil((T * xRow) / 16) * 16;
      const s = this.#heap.scratch(xBytes + tile * ranges.length);
      const xq = s.ptr;
      this.#run.k.quantize_act({ x, xStride, rows: T, k, format, mode, dst: xq });
      const common = { xq, k, w: m.ptr, format, packed: packed ? 1 : 0, n, bias, out, outStride: n };
      this.#run.parallel(
        "linear_qa",
        ranges.map(([a, b], i): LinearQaArgs => ({
          ...common,
          ...(byFeatures ? { r0: 0, r1: T, j0: a, j1: b } : { r0: a, r1: b, j0: 0, j1: n }),
          scratch: tile === 0 ? 0 : xq + xBytes + i * tile,
        })),
      );
      return;
    }
    const base: Omit<LinearQArgs, "r0" | "r1" | "j0" | "j1" | "scratch"> = {
      x,
      xStride,
      k,
      w: m.ptr,
      format: QUANT_CODE[m.quant!],
      n,
      bias,
      out,
      outStride: n,
    };
    const groups = Math.ceil(n / PANEL);
    const byFeatures = T < QUANT_GEMM_ROWS || groups >= 2 * nt;
    const ranges = byFeatures ? split(n, nt, PANEL) : split(T, nt, 4);
    const scratch = T < QUANT_GEMM_ROWS
      ? { ptr: 0, stride: 0 }
      : this.#heap.scratch(this.#run.k.linear_q_scratch_bytes({ k }), ranges.length);
    const args = ranges.map(([a, b], i): LinearQArgs => ({
      ...base,
      r0: byFeatures ? 0 : a,
      r1: byFeatures ? T : b,
      j0: byFeatures ? a : 0,
      j1: byFeatures ? b : n,
      scratch: scratch.ptr + i * scratch.stride,
    }));
    this.#run.parallel("linear_q", args);
  }

  gatherRows(x: Tensor, rows: Int32Array): Tensor {
    const xt = this.#heap.t(x, "gatherRows");
    const { cols } = checkGatherRows(xt, rows);
    const out = this.#heap.tensor([rows.length, cols], `gatherRows(${xt.label})`);
    this.#run.k.gather_rows({ x: xt.ptr, cols, rows: this.#heap.ints(rows), count: rows.length, out: out.ptr });
    return out;
  }

  conv1d(x: View, weight: Tensor, bias: Tensor | null, state: Tensor, batch: number, seqLen: number): Tensor {
    const xv = this.#heap.v(x, "conv1d");
    const wt = this.#heap.p(weight, "conv1d");
    const st = this.#heap.t(state, "conv1d");
    const bt = bias ? this.#heap.p(bias, "conv1d") : null;
    const { C, K } = checkConv1d(x, wt, bt, st, batch, seqLen);
    const out = this.#heap.tensor([batch * seqLen, C], "conv1d");
    // (K + 1, C): the transposed weights, then the bias when it is f16 (converted there once per channel).
    const wtPtr = this.#heap.scratch((K + 1) * C * 4).ptr;
    const nt = this.#run.threadsFor(batch * seqLen * C * K);
    const args = split(C, nt, 4).map(([c0, c1]): Conv1dArgs => ({
      x: xv.ptr,
      xStride: xv.stride,
      w: wt.ptr,
      bias: bt ? bt.ptr : 0,
      state: st.ptr,
      out: out.ptr,
      wt: wtPtr,
      half: (wt.half ? 1 : 0) | (bt?.half ? 2 : 0),
      C,
      K,
      batch,
      seqLen,
      c0,
      c1,
    }));
    this.#run.parallel("conv1d", args);
    return out;
  }

  selectiveScan(a: SelectiveScanArgs): Tensor {
    const op = "selectiveScan", heap = this.#heap;
    const u = heap.v(a.u, op), dl = heap.v(a.delta, op), Bv = heap.v(a.B, op), Cv = heap.v(a.C, op);
    const z = heap.v(a.z, op);
    const A = heap.p(a.A, op), Dt = heap.p(a.D, op), st = heap.t(a.state, op);
    const { T, D, N } = checkSelectiveScan(a);
    const out = heap.tensor([T, D], op);
    const nt = this.#run.threadsFor(T * D * N * 16); // one exp + update ≈ 16 multiply-adds
    const ranges = split(D, nt, 4);
    const scratch = heap.scratch(SCAN_SCRATCH_BYTES_PER_STATE * N, ranges.length);
    const args = ranges.map(([d0, d1], i): ScanKernelArgs => ({
      u: u.ptr,
      uS: u.stride,
      delta: dl.ptr,
      dS: dl.stride,
      A: A.ptr,
      B: Bv.ptr,
      bS: Bv.stride,
      C: Cv.ptr,
      cS: Cv.stride,
      Dskip: Dt.ptr,
      half: (A.half ? 1 : 0) | (Dt.half ? 2 : 0),
      z: z.ptr,
      zS: z.stride,
      state: st.ptr,
      out: out.ptr,
      D,
      N,
      batch: a.batch,
      seqLen: a.seqLen,
      d0,
      d1,
      scratch: scratch.ptr + i * scratch.stride,
    }));
    this.#run.parallel("selective_scan", args);
    return out;
  }

  ssd(a: SsdArgs): Tensor {
    const op = "ssd", heap = this.#heap;
    const x = heap.v(a.x, op), dt = heap.v(a.dt, op), Bv = heap.v(a.B, op), Cv = heap.v(a.C, op);
    const dtBias = heap.t(a.dtBias, op), A = heap.p(a.A, op), Dt = heap.p(a.D, op), st = heap.t(a.state, op);
    const { batch, seqLen, dtMin, dtMax } = a;
    const { T, H, P, G, N } = checkSsd(a);
    const out = heap.tensor([T, H * P], op);
    // The arguments both SSD kernels share.
    const common: Omit<SsdStepArgs, "h0" | "h1"> = {
      x: x.ptr,
      xS: x.stride,
      dt: dt.ptr,
      dtS: dt.stride,
      dtBias: dtBias.ptr,
      A: A.ptr,
      B: Bv.ptr,
      bS: Bv.stride,
      C: Cv.ptr,
      cS: Cv.stride,
      Dskip: Dt.ptr,
      half: (A.half ? 1 : 0) | (Dt.half ? 2 : 0),
      state: st.ptr,
      out: out.ptr,
      H,
      P,
      G,
      N,
      batch,
      dtMin,
      dtMax,
    };
    if (seqLen === 1) {
      const nt = this.#run.threadsFor(batch * H * P * N * 4);
      this.#run.parallel("ssd_step", split(H, nt, 1).map(([h0, h1]): SsdStepArgs => ({ ...common, h0, h1 })));
    } else if (seqLen > 1) {
      // The chunk is this kernel's own choice: the chunked SSD's result does not depend on it (up to rounding), its
      // intra-chunk work grows with it, and 64 measured fastest (130m shape, L512: ~25% less SSD time than 256).
      const Q = Math.min(a.chunkSize, SSD_MAX_CHUNK, seqLen);
      const nt = this.#run.threadsFor(T * H * P * (N + Q));
      const ranges = split(H, nt, 1);
      const scratch = heap.scratch(this.#run.k.ssd_scratch_bytes({ Q, P, N }), ranges.length);
      const args = ranges.map(([h0, h1], i): SsdChunkedArgs => ({
        ...common,
        seqLen,
        Q,
        h0,
        h1,
        scratch: scratch.ptr + i * scratch.stride,
      }));
      this.#run.parallel("ssd_chunked", args);
    }
    return out;
  }

  gatedRmsNorm(y: Tensor, z: View, weight: Tensor, groupSize: number, eps: number): Tensor {
    const op = "gatedRmsNorm";
    const yt = this.#heap.t(y, op), wt = this.#heap.t(weight, op);
    const zv = this.#heap.v(z, op);
    const { T, D } = checkGatedRmsNorm(yt, z, wt, groupSize);
    const out = this.#heap.tensor([T, D], op);
    const nt = this.#run.threadsFor(T * D * 4);
    this.#run.parallel(
      "gated_rms_norm",
      split(T, nt, 1).map(([r0, r1]) => ({
        y: yt.ptr + r0 * D * 4,
        z: zv.ptr + r0 * zv.stride * 4,
        zStride: zv.stride,
        w: wt.ptr,
        out: out.ptr + r0 * D * 4,
        rows: r1 - r0,
        d: D,
        groupSize,
        eps,
      })),
    );
    return out;
  }

  /** Runs every loop-heavy kernel a few times so V8 tiers them up before the first real op (wasm/warmup.ts). */
  warmUp(): void {
    warmUp(this.#run.k, this.#heap.alloc);
  }

  // ---------------------------------------------------------------- benchmarks (used by wasm/bench.ts)

  /**
   * Streams a `bytes`-byte buffer `reps` times with every thread reading its own slice (SIMD sum) and returns the
   * median read bandwidth in bytes per second.
   */
  streamBandwidth(bytes: number, reps: number): number {
    const alloc = this.#heap.alloc;
    const buf = alloc.alloc(bytes);
    try {
      this.#run.k.fill_zero({ p: buf, bytes });
      const block = STREAM_BLOCK_BYTES;
      const slices = split(bytes / block, this.threads, 1).map(([a, b]): StreamSumArgs => ({
        p: buf + a * block,
        bytes: (b - a) * block,
      }));
      // Median, not best: on a shared VM one lucky run can read far above the sustained rate (seen: 63 GB/s
      // once among runs of 38–40 GB/s), and the decode roofline should be what memory sustains.
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        this.#run.parallel("stream_sum", slices);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)];
      return (slices.reduce((s, { bytes }) => s + bytes, 0) / median) * 1e3;
    } finally {
      alloc.free(buf, bytes);
    }
  }
}
