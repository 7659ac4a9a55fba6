/**
 * The compute ops of the WebGPU backend: each checks its arguments (runtime/op_checks.ts), allocates its output,
 * resolves tensors to bindings and records the programs of `kernels/<op>.ts`, splitting operands over the storage
 * binding limit where the op supports it (embed over matrix parts; linear over x/y row chunks and weight parts).
 * Block-quantized matrices (`uploadQuantizedMatrix`) take the `_q` kernels, which dequantize in registers.
 * Ownership of the operands is checked by the backend ({@link OpContext.tensor} / {@link OpContext.matrix}).
 *
 * @module
 */

import type { Matrix, SelectiveScanArgs, SsdArgs, Tensor, View } from "../runtime/backend.ts";
import { asView } from "../runtime/backend.ts";
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
} from "../runtime/op_checks.ts";
import { addProgram } from "./add.ts";
import { argmaxProgram } from "./argmax.ts";
import { sampleProgram } from "./sampling.ts";
import type { TokenChoice } from "../runtime/sampling.ts";
import { type Conv1dDims, conv1dProgram, convStateProgram } from "./conv1d.ts";
import { gatherProgram, gatherQuantProgram } from "./gather.ts";
import { type GpuMatrix, type GpuTensor, paramsHalf } from "./gpu_tensors.ts";
import { linearProgram, splitK, splitkReduceProgram } from "./linear.ts";
import { dequantizesForGemm, dequantRowsProgram, quantLinearProgram } from "./linear_q.ts";
import type { Program, Slice } from "./program.ts";
import { gatedRmsNormProgram, rmsNormProgram } from "./rms_norm.ts";
import { type ScanDims, scanScratchFloats, selectiveScanPrograms } from "./selective_scan.ts";
import { type SsdDims, ssdPrograms, ssdRecurrent, ssdScratchFloats } from "./ssd.ts";

/** What the ops use of the backend. */
export interface OpContext {
  /** The backend's own tensor behind `t` (throws for a foreign or freed one). */
  tensor(t: Tensor | View, op: string): GpuTensor;
  /** As `tensor`, for a per-channel parameter (A, D, conv1d's weight and bias): f32 or f16 (`GpuTensor.half`). */
  param(t: Tensor, op: string): GpuTensor;
  /** The backend's own matrix (throws for a foreign or freed one). */
  matrix(m: Matrix, op: string): GpuMatrix;
  /** A new tensor. */
  alloc(shape: readonly number[], label: string): GpuTensor;
  /** A tensor as one binding. */
  slice(t: GpuTensor, op: string): Slice;
  /** Elements [e0, e1) of a tensor as an aligned binding, and the element of e0 in it. */
  range(t: GpuTensor, e0: number, e1: number): { slice: Slice; base: number };
  /** Host bytes as a binding valid for the current submit. */
  stage(data: Uint8Array): Slice;
  /** Record a program. */
  run(p: Program): void;
  /** Free a tensor (its buffer is reused by work recorded later, ordered by the queue). */
  free(t: Tensor): void;
  /** Bound where an optional operand (bias, conv state) is absent. */
  readonly dummy: Slice;
  readonly maxBindingSize: number;
  /** minStorageBufferOffsetAlignment. */
  readonly align: number;
}

const bytesOf = (a: Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Rows of `table` named by host ids. */
export function embed(c: OpContext, ids: Int32Array, table: Matrix): Tensor {
  const m = c.matrix(table, "embed");
  checkEmbed(ids, m);
  const out = c.alloc([ids.length, m.k], "embed.out");
  if (ids.length === 0) return out;
  const idSlice = c.stage(bytesOf(ids));
  const o = c.slice(out, "embed");
  for (const part of m.parts!) {
    const src = { buffer: part.buffer, offset: 0, size: m.partBytes(part.rows) };
    c.run(
      m.quant
        ? gatherQuantProgram(idSlice, src, o, ids.length, m.k, part.r0, part.rows, m.quant, m.scaleBase(part.rows))
        : gatherProgram(idSlice, src, o, ids.length, m.k, part.r0, part.rows, m.f16),
    );
  }
  return out;
}

/** ids[offset + r] = argmax of row r of x, on the device. */
export function argmaxInto(c: OpContext, x: Tensor, ids: Tensor, offset: number, cols?: number): void {
  const xt = c.tensor(x, "argmaxInto"), it = c.tensor(ids, "argmaxInto");
  const [rows, width] = xt.shape;
  checkIdRange("argmaxInto", it, offset, rows);
  if (rows === 0 || width === 0) return;
  const n = checkArgmaxCols(xt, cols);
  c.run(argmaxProgram(c.slice(xt, "argmaxInto"), c.slice(it, "argmaxInto"), rows, n, width, offset));
}

/** ids[offset + r] = a token sampled from row r of x, on the device (runtime/sampling.ts `sampleRow`). */
export function sampleInto(
  c: OpContext,
  x: Tensor,
  ids: Tensor,
  offset: number,
  choice: TokenChoice,
  draws: Tensor,
  drawOffset: number,
  seen: Tensor,
  cols?: number,
): void {
  const op = "sampleInto";
  const xt = c.tensor(x, op), it = c.tensor(ids, op), dt = c.tensor(draws, op), st = c.tensor(seen, op);
  const [rows, width] = xt.shape;
  checkIdRange(op, it, offset, rows);
  if (rows === 0 || width === 0) return;
  const n = checkArgmaxCols(xt, cols);
  const words = checkSampleInto(choice, dt, drawOffset, st, rows, n);
  const slices = { x: c.slice(xt, op), ids: c.slice(it, op), draws: c.slice(dt, op), seen: c.slice(st, op) };
  c.run(sampleProgram(slices, rows, n, width, offset, drawOffset, words, choice));
}

/** Rows of `table` named by ids on the device. */
export function embedFrom(c: OpContext, ids: Tensor, offset: number, count: number, table: Matrix): Tensor {
  const m = c.matrix(table, "embedFrom"), it = c.tensor(ids, "embedFrom");
  checkIdRange("embedFrom", it, offset, count);
  const out = c.alloc([count, m.k], "embed.out");
  if (count === 0) return out;
  const idSlice = c.slice(it, "embedFrom");
  const o = c.slice(out, "embedFrom");
  for (const part of m.parts!) {
    const src = { buffer: part.buffer, offset: 0, size: m.partBytes(part.rows) };
    c.run(
      m.quant
        ? gatherQuantProgram(idSlice, src, o, count, m.k, part.r0, part.rows, m.quant, m.scaleBase(part.rows), offset)
        : gatherProgram(idSlice, src, o, count, m.k, part.r0, part.rows, m.f16, offset),
    );
  }
  return out;
}

/** Rows of a tensor named by host ids. */
export function gatherRows(c: OpContext, x: Tensor, rows: Int32Array): Tensor {
  const src = c.tensor(x, "gatherRows");
  const { rows: R, cols } = checkGatherRows(src, rows);
  const out = c.alloc([rows.length, cols], `${src.label}.rows`);
  if (rows.length === 0 || cols === 0) return out;
  const idSlice = c.stage(bytesOf(rows));
  c.run(gatherProgram(idSlice, c.slice(src, "gatherRows"), c.slice(out, "gatherRows"), rows.length, cols, 0, R));
  return out;
}

/** RMS norm of each row. */
export function rmsNorm(c: OpContext, x: Tensor, weight: Tensor, eps: number): Tensor {
  const xt = c.tensor(x, "rmsNorm"), w = c.tensor(weight, "rmsNorm");
  const { rows, cols } = checkRmsNorm(xt, w);
  const out = c.alloc(xt.shape, "rms_norm.out");
  if (rows > 0) {
    c.run(rmsNormProgram(c.slice(xt, "rmsNorm"), c.slice(w, "rmsNorm"), c.slice(out, "rmsNorm"), rows, cols, eps));
  }
  return out;
}

/** a + b. */
export function add(c: OpContext, a: Tensor, b: Tensor): Tensor {
  const at = c.tensor(a, "add"), bt = c.tensor(b, "add");
  checkAdd(at, bt);
  const out = c.alloc(at.shape, "add.out");
  if (at.size > 0) c.run(addProgram(c.slice(at, "add"), c.slice(bt, "add"), c.slice(out, "add"), at.size));
  return out;
}

/** x · wᵀ (+ bias), in row chunks and weight parts that fit the binding limit, split over k when it pays. */
export function linear(c: OpContext, x: Tensor | View, w: Matrix, bias?: Tensor | null): Tensor {
  const v = asView(x);
  const xt = c.tensor(v.tensor, "linear");
  const m = c.matrix(w, "linear");
  const bt = bias ? c.tensor(bias, "linear") : null;
  checkLinear(v, m, bt);
  const [M, xStride] = xt.shape;
  const N = m.n;
  const out = c.alloc([M, N], `${m.label}.out`);
  if (M === 0 || N === 0) return out;
  const biasSlice = bt ? c.slice(bt, "linear") : c.dummy;
  // Rows per chunk so that both the x rows and the y rows fit one binding (with alignment slack).
  const rowBytes = Math.max(xStride, N) * 4;
  const fitRows = Math.floor((c.maxBindingSize - c.align) / rowBytes);
  const whole = M * xStride * 4 <= c.maxBindingSize && M * N * 4 <= c.maxBindingSize;
  const chunk = whole ? M : fitRows;
  if (chunk < 1) throw new RangeError(`linear(${m.label}): one row exceeds the binding limit`);
  for (let m0 = 0; m0 < M; m0 += chunk) {
    const m1 = Math.min(M, m0 + chunk);
    const xr = c.range(xt, m0 * xStride + v.col, (m1 - 1) * xStride + v.col + m.k);
    const yr = c.range(out, m0 * N, m1 * N);
    for (const part of m.parts!) {
      if (part.rows <= 0) continue;
      const w = { buffer: part.buffer, offset: 0, size: m.partBytes(part.rows) };
      const dims = {
        m: m1 - m0,
        n: part.rows,
        k: m.k,
        xStride,
        xBase: xr.base,
        yStride: N,
        yBase: yr.base + part.r0,
        biasBase: bt ? part.r0 : -1,
      };
      if (m.quant) {
        if (!dequantizesForGemm(dims.m)) {
          // Dequantized in registers, never split over k (each GEMM workgroup already walks k block by block).
          c.run(quantLinearProgram(xr.slice, w, biasSlice, yr.slice, dims, m.quant, m.scaleBase(part.rows)));
          continue;
        }
        // A long prompt: the f32 GEMM over a transient f32 copy of this part, one binding's worth of rows at a time.
        const span = Math.max(1, Math.floor((c.maxBindingSize - c.align) / (m.k * 4)));
        for (let r0 = 0; r0 < part.rows; r0 += span) {
          const rows = Math.min(span, part.rows - r0);
          const wf = c.alloc([rows, m.k], `${m.label}.dequant`);
          const wfs = c.slice(wf, "linear");
          c.run(dequantRowsProgram(c.dummy, w, wfs, r0, rows, m.k, part.rows, m.quant, m.scaleBase(part.rows)));
          const sub = { ...dims, n: rows, yBase: dims.yBase + r0, biasBase: bt ? part.r0 + r0 : -1 };
          c.run(linearProgram(xr.slice, wfs, biasSlice, yr.slice, sub, false));
          c.free(wf);
        }
        continue;
      }
      const split = splitK(dims.m, dims.n, dims.k);
      if (split.splits > 1 && split.splits * dims.m * dims.n * 4 <= c.maxBindingSize) {
        // Too few output tiles to fill the GPU: partial sums over k ranges into a scratch, then one reduce.
        const part32 = c.alloc([split.splits * dims.m * dims.n], `${m.label}.splitk`);
        const ps = c.slice(part32, "linear");
        const toScratch = { ...dims, yStride: dims.n, yBase: 0, biasBase: -1 };
        c.run(linearProgram(xr.slice, w, c.dummy, ps, toScratch, m.f16, split));
        c.run(splitkReduceProgram(ps, biasSlice, yr.slice, { ...dims, splits: split.splits }));
        c.free(part32);
      } else {
        c.run(linearProgram(xr.slice, w, biasSlice, yr.slice, dims, m.f16));
      }
    }
  }
  return out;
}

/** Causal depthwise conv + SiLU, then the conv state update. */
export function conv1d(
  c: OpContext,
  x: View,
  weight: Tensor,
  bias: Tensor | null,
  state: Tensor,
  batch: number,
  seqLen: number,
): Tensor {
  const xt = c.tensor(x, "conv1d"), w = c.param(weight, "conv1d"), st = c.tensor(state, "conv1d");
  const bt = bias ? c.param(bias, "conv1d") : null;
  const p16 = paramsHalf("conv1d", [w, bt]);
  const { C, K } = checkConv1d(x, w, bt, st, batch, seqLen);
  const out = c.alloc([batch * seqLen, C], "conv1d.out");
  if (batch * seqLen * C === 0) return out;
  const d: Conv1dDims = { batch, seqLen, channels: C, k: K, xStride: xt.shape[1], xCol: x.col };
  const xs = c.slice(xt, "conv1d");
  const ss = K > 1 ? c.slice(st, "conv1d") : c.dummy;
  const bs = bt ? c.slice(bt, "conv1d") : c.dummy;
  c.run(conv1dProgram(xs, c.slice(w, "conv1d"), bs, !!bt, ss, c.slice(out, "conv1d"), d, p16));
  if (K > 1) c.run(convStateProgram(xs, ss, d));
  return out;
}

const place = (v: View) => ({ stride: v.tensor.shape[1], col: v.col });

/** The Mamba-1 selective scan. */
export function selectiveScan(c: OpContext, a: SelectiveScanArgs): Tensor {
  const op = "selectiveScan";
  const u = c.tensor(a.u, op), dl = c.tensor(a.delta, op), A = c.param(a.A, op);
  const B = c.tensor(a.B, op), C = c.tensor(a.C, op), Dt = c.param(a.D, op);
  const p16 = paramsHalf(op, [A, Dt]);
  const z = c.tensor(a.z, op), st = c.tensor(a.state, op);
  const { T, D, N } = checkSelectiveScan(a);
  const out = c.alloc([T, D], "ssm.out");
  if (T * D === 0) return out;
  const dims: ScanDims = {
    batch: a.batch,
    seqLen: a.seqLen,
    d: D,
    n: N,
    u: place(a.u),
    delta: place(a.delta),
    B: place(a.B),
    C: place(a.C),
    z: place(a.z),
  };
  const scratchFloats = scanScratchFloats(dims);
  const scratch = scratchFloats > 0 ? c.alloc([scratchFloats], "scan.scratch") : null;
  const programs = selectiveScanPrograms({
    u: c.slice(u, op),
    delta: c.slice(dl, op),
    A: c.slice(A, op),
    B: c.slice(B, op),
    C: c.slice(C, op),
    D: c.slice(Dt, op),
    z: c.slice(z, op),
    state: c.slice(st, op),
    y: c.slice(out, op),
    scratch: scratch ? c.slice(scratch, op) : null,
    scratchStates: scratch ? { buffer: scratch.buffer!, offset: 0, size: (scratchFloats / 2) * 4 } : null,
    p16,
  }, dims);
  for (const p of programs) c.run(p);
  if (scratch) c.free(scratch); // reuse after this point is ordered after the scan by the queue
  return out;
}

/** The Mamba-2 SSD. */
export function ssd(c: OpContext, a: SsdArgs): Tensor {
  const op = "ssd";
  const x = c.tensor(a.x, op), dt = c.tensor(a.dt, op), dtBias = c.tensor(a.dtBias, op);
  const A = c.param(a.A, op), B = c.tensor(a.B, op), C = c.tensor(a.C, op);
  const Dt = c.param(a.D, op), st = c.tensor(a.state, op);
  const p16 = paramsHalf(op, [A, Dt]);
  const { T, H, P, G, N } = checkSsd(a);
  const out = c.alloc([T, H * P], "ssm.out");
  if (T === 0) return out;
  const dims: SsdDims = {
    batch: a.batch,
    seqLen: a.seqLen,
    heads: H,
    headDim: P,
    groups: G,
    n: N,
    chunk: Math.min(a.chunkSize, a.seqLen),
    dtMin: a.dtMin,
    dtMax: a.dtMax,
    x: place(a.x),
    dt: place(a.dt),
    B: place(a.B),
    C: place(a.C),
  };
  const scratch: GpuTensor[] = [];
  const tmp = (floats: number, label: string): Slice => {
    const t = c.alloc([floats], label);
    scratch.push(t);
    return c.slice(t, op);
  };
  const f = ssdRecurrent(dims) ? null : ssdScratchFloats(dims);
  const programs = ssdPrograms({
    x: c.slice(x, op),
    dt: c.slice(dt, op),
    dtBias: c.slice(dtBias, op),
    A: c.slice(A, op),
    B: c.slice(B, op),
    C: c.slice(C, op),
    D: c.slice(Dt, op),
    state: c.slice(st, op),
    y: c.slice(out, op),
    dtc: f ? tmp(f.dtc, "ssd.dt") : null,
    acs: f ? tmp(f.acs, "ssd.acum") : null,
    cb: f ? tmp(f.cb, "ssd.cb") : null,
    st: f ? tmp(f.st, "ssd.states") : null,
    p16,
  }, dims);
  for (const p of programs) c.run(p);
  for (const t of scratch) c.free(t);
  return out;
}

/** rmsnorm(y · SiLU(z)) · w per group of channels. */
export function gatedRmsNorm(c: OpContext, y: Tensor, z: View, weight: Tensor, groupSize: number, eps: number): Tensor {
  const op = "gatedRmsNorm";
  const yt = c.tensor(y, op), zt = c.tensor(z, op), w = c.tensor(weight, op);
  const { T: rows, D: cols } = checkGatedRmsNorm(yt, z, w, groupSize);
  const out = c.alloc([rows, cols], "gate_norm.out");
  if (rows * cols === 0) return out;
  c.run(gatedRmsNormProgram(c.slice(yt, op), c.slice(zt, op), c.slice(w, op), c.slice(out, op), {
    rows,
    cols,
    group: groupSize,
    zStride: zt.shape[1],
    zCol: z.col,
    eps,
  }));
  return out;
}
