/**
 * The fused decode ops of the WebGPU backend (`capabilities.fusedDecode`): a decode step of a layer in 4 dispatches
 * instead of 8–9, since at batch 1 a step's time is mostly dispatches, not bytes.
 *
 * - {@link fusedLinear} (`fused_gemv.wgsl`): the GEMV with a prologue applied to x as the lanes read it (nothing,
 *   or the RMS norm per channel group times a weight) and the residual add in the epilogue: `norm → in_proj`,
 *   `gated norm → out_proj → + residual`, `norm_f → lm_head` are one dispatch each (per weight part).
 * - {@link mamba1DecodeStep}: `fused_gemv` for norm → in_proj with the conv1d epilogue (the lane that stores an
 *   output of the x half also stores its conv1d + SiLU: the conv is computed once per (row, channel)), `fused_gemv`
 *   for x_proj of that conv output, then `fused_scan_step.wgsl` (conv state update, dt_proj + softplus, scan
 *   update, D skip, SiLU(z) gate).
 * - {@link mamba2DecodeStep}: `fused_ssd_step.wgsl` (conv1d + SSD state update per head + D skip + y · SiLU(z)),
 *   then `conv_state.wgsl` (the conv state update, after every head has read the old state).
 *
 * States keep the layouts of the unfused kernels, so prefill and fused decode hand over state unchanged. Weights:
 * f32, f16 (F16W) and Q8_0 / Q4_0 blocks (Q: dequantized in registers with include/quant_blocks.wgsl, as gemv_q;
 * a quantized matrix behind a norm needs groups of whole blocks, {@link fusesMatrix}). Rows: at most
 * {@link GEMV_MAX_ROWS} (decode batches beyond take the unfused GEMM path).
 *
 * @module
 */

import type {
  FusedLinearOptions,
  Mamba1DecodeArgs,
  Mamba2DecodeArgs,
  Matrix,
  Tensor,
  View,
} from "../runtime/backend.ts";
import { asView } from "../runtime/backend.ts";
import { checkLinear } from "../runtime/op_checks.ts";
import { GEMV_FEATURES, KERNELS, QBLOCK } from "./generated/kernels.ts";
import { type GpuMatrix, type GpuTensor, paramsHalf } from "./gpu_tensors.ts";
import { GEMV_MAX_ROWS } from "./linear.ts";
import { finiteF32, grid, type Program, type Slice } from "./program.ts";
import type { OpContext } from "./webgpu_ops.ts";

/** Most norm groups of a fused GEMV (each is one more tree reduction; more groups run unfused). */
export const FUSED_MAX_NORM_GROUPS = 64;
/** Largest state size N of the fused Mamba-2 step (MAX_N of fused_ssd_step.wgsl). */
export const FUSED_MAX_STATE = 256;

const SCAN_WG = KERNELS.fused_scan_step.overrides.WG;
const SSD_WG = KERNELS.fused_ssd_step.overrides.WG;

/**
 * Whether the fused ops take `m`: f32, f16 or block-quantized storage; a quantized matrix behind a norm prologue
 * only when its groups are whole blocks (`normGroupSize` a multiple of 32: the kernel walks a group's code words).
 */
export function fusesMatrix(c: OpContext, m: Matrix, normGroupSize?: number): boolean {
  const gm = c.matrix(m, "fusesMatrix");
  return gm.quant === null || normGroupSize === undefined || normGroupSize % QBLOCK === 0;
}

function fail(op: string, what: string): never {
  throw new RangeError(`${op}: ${what}`);
}

function rowsOf(op: string, t: GpuTensor, cols: number): number {
  if (t.shape.length !== 2 || t.shape[1] !== cols) fail(op, `${t.label} is [${t.shape}], expected [rows, ${cols}]`);
  return t.shape[0];
}

function sizeIs(op: string, t: GpuTensor | null, size: number): void {
  if (t && t.size !== size) fail(op, `${t.label} has ${t.size} values, expected ${size}`);
}

/** The `Q` override of a matrix's storage: 0 f32 / f16, 1 Q8_0, 2 Q4_0. */
function quantCode(m: GpuMatrix): 0 | 1 | 2 {
  return m.quant === null ? 0 : m.quant === "q8_0" ? 1 : 2;
}

/**
 * The conv epilogue of in_proj's GEMV: conv weight (d, K), bias, state (m, d, K−1), output (m, d), for the d outputs
 * from column `lo` on (Mamba-1: x, lo 0; Mamba-2: x, B, C, lo D); `update` shifts the token into the state there.
 */
interface ConvEpilogue {
  weight: Slice;
  bias: Slice | null;
  state: Slice;
  out: Slice;
  k: number;
  d: number;
  lo: number;
  update: boolean;
  /** weight and bias as f16 pairs (include/half_params.wgsl). */
  p16: boolean;
}

interface GemvSpec {
  x: Slice;
  xBase: number;
  xStride: number;
  rows: number;
  w: GpuMatrix;
  bias: Slice | null;
  y: Slice;
  yStride: number;
  norm: { weight: Slice; group: number; eps: number } | null;
  res: Slice | null;
  conv: ConvEpilogue | null;
  /** Writable slices for xout and conv_st when there is no conv epilogue (two ranges of one scratch). */
  scratch: [Slice, Slice];
  dummy: Slice;
}

/** The fused GEMV dispatches, one per weight part. */
function gemvPrograms(s: GemvSpec): Program<"fused_gemv">[] {
  const out: Program<"fused_gemv">[] = [];
  const q = quantCode(s.w);
  for (const part of s.w.parts!) {
    if (part.rows <= 0) continue;
    out.push({
      kernel: "fused_gemv",
      label: s.conv ? "fused_norm_gemv_conv" : s.norm ? "fused_norm_gemv" : "fused_gemv",
      constants: {
        F16W: s.w.f16 ? 1 : 0,
        Q: q,
        PRO: s.norm ? 1 : 0,
        RES: s.res ? 1 : 0,
        CONV: s.conv ? 1 : 0,
        P16: s.conv?.p16 ? 1 : 0,
        ROWS: s.rows, // one weight load per k-step for all rows
      },
      bindings: {
        x: s.x,
        w: { buffer: part.buffer, offset: 0, size: s.w.partBytes(part.rows) },
        bias: s.bias ?? s.dummy,
        y: s.y,
        nw: s.norm ? s.norm.weight : s.dummy,
        conv_b: s.conv?.bias ?? s.dummy,
        conv_st: s.conv ? s.conv.state : s.scratch[1],
        xout: s.conv ? s.conv.out : s.scratch[0],
        epi: s.res ?? s.conv?.weight ?? s.dummy,
      },
      uniforms: {
        m: s.rows,
        n: part.rows,
        k: s.w.k,
        x_stride: s.xStride,
        x_base: s.xBase,
        y_stride: s.yStride,
        y_base: part.r0,
        has_bias: s.bias ? 1 : 0,
        bias_base: part.r0,
        group: s.norm ? s.norm.group : 1,
        eps: s.norm ? s.norm.eps : 0,
        scale_base: q ? s.w.scaleBase(part.rows) : 0,
        conv_k: s.conv ? s.conv.k : 1,
        conv_d: s.conv ? s.conv.d : 0,
        has_conv_b: s.conv?.bias ? 1 : 0,
        conv_lo: s.conv ? s.conv.lo : 0,
        conv_upd: s.conv?.update ? 1 : 0,
      },
      workgroups: grid(part.rows, GEMV_FEATURES),
    });
  }
  return out;
}

/** A small read-write tensor bound where a kernel's writable operands are unused (never aliasing the read dummy). */
function scratch(c: OpContext): GpuTensor {
  return c.alloc([128], "fused.unused");
}

/** The scratch's two 256-byte halves, for fused_gemv's xout and conv_st when it has no conv epilogue. */
function scratchHalves(c: OpContext, t: GpuTensor, op: string): [Slice, Slice] {
  const s = c.slice(t, op);
  return [{ buffer: s.buffer, offset: s.offset, size: 256 }, { buffer: s.buffer, offset: s.offset + 256, size: 256 }];
}

/** The norm prologue of a fused GEMV over `m`, checked (`RangeError` naming `op`). */
function normPrologue(
  c: OpContext,
  op: string,
  m: GpuMatrix,
  norm: { weight: Tensor; eps: number; groupSize: number },
): { weight: Slice; group: number; eps: number } {
  const nw = c.tensor(norm.weight, op);
  sizeIs(op, nw, m.k);
  const g = norm.groupSize;
  if (!(Number.isInteger(g) && g >= 1 && m.k % g === 0 && m.k / g <= FUSED_MAX_NORM_GROUPS)) {
    fail(op, `norm groupSize ${g} must divide ${m.k} into at most ${FUSED_MAX_NORM_GROUPS} groups`);
  }
  if (m.quant && g % QBLOCK !== 0) {
    fail(op, `norm groupSize ${g} of ${m.quant} ${m.label} is not a multiple of its ${QBLOCK}-weight blocks`);
  }
  return { weight: c.slice(nw, op), group: g, eps: norm.eps };
}

/** `[T, n]` residual + prologue(x) · Wᵀ + bias (see {@link FusedLinearOptions}). */
export function fusedLinear(
  c: OpContext,
  x: Tensor | View,
  w: Matrix,
  bias: Tensor | null,
  options: FusedLinearOptions = {},
): Tensor {
  const op = `fusedLinear(${w.label})`;
  const v = asView(x);
  const xt = c.tensor(v.tensor, op);
  const m = c.matrix(w, op);
  const bt = bias ? c.tensor(bias, op) : null;
  const rows = checkLinear(v, m, bt);
  if (rows > GEMV_MAX_ROWS) fail(op, `${rows} rows; the fused GEMV takes at most ${GEMV_MAX_ROWS} (decode)`);
  const norm = options.norm ? normPrologue(c, op, m, options.norm) : null;
  const res = options.residual ? c.tensor(options.residual, op) : null;
  if (res && (res.shape.length !== 2 || res.shape[0] !== rows || res.shape[1] !== m.n)) {
    fail(op, `residual ${res.label} is [${res.shape}], expected [${rows}, ${m.n}]`);
  }
  const out = c.alloc([rows, m.n], `${m.label}.out`);
  if (rows === 0 || m.n === 0) return out;
  const unused = scratch(c);
  for (
    const p of gemvPrograms({
      x: c.slice(xt, op),
      xBase: v.col,
      xStride: xt.shape[1],
      rows,
      w: m,
      bias: bt ? c.slice(bt, op) : null,
      y: c.slice(out, op),
      yStride: m.n,
      norm,
      res: res ? c.slice(res, op) : null,
      conv: null,
      scratch: scratchHalves(c, unused, op),
      dummy: c.dummy,
    })
  ) c.run(p);
  c.free(unused);
  return out;
}

/**
 * How fused_scan_step.wgsl spreads the channels over workgroups: `tpp` threads per channel (a power of two ≥ N, at
 * most 64; each thread updates states q, q + tpp, …), `cpw` = WG / tpp channels per workgroup.
 *
 * @example
 * ```ts
 * import { scanStepWork } from "./fused_decode.ts";
 * console.log(scanStepWork(16)); // { tpp: 16, cpw: 16 } — Mamba-1 130m: 1536 channels in 96 workgroups
 * ```
 */
export function scanStepWork(n: number): { tpp: number; cpw: number } {
  const tpp = Math.min(64, SCAN_WG, 2 ** Math.ceil(Math.log2(Math.max(1, n))));
  return { tpp, cpw: SCAN_WG / tpp };
}

/**
 * One Mamba-1 decode step from the residual stream h `[batch, dModel]`: returns the mixer's y `[batch, D]` (before
 * out_proj); updates the conv and SSM states. Three dispatches: RMSNorm → in_proj with the conv epilogue (each
 * output of the x half also stores its conv1d + SiLU), x_proj of the conv output, then fused_scan_step.
 */
export function mamba1DecodeStep(c: OpContext, a: Mamba1DecodeArgs): Tensor {
  const op = "mamba1DecodeStep";
  const inProj = c.matrix(a.inProj, op), xProj = c.matrix(a.xProj, op), dtProj = c.matrix(a.dtProj, op);
  const D = xProj.k, R = a.dtRank, N = a.dState, B = a.batch;
  const h = c.tensor(a.h, op);
  if (rowsOf(op, h, inProj.k) !== B) fail(op, `${h.label} has ${h.shape[0]} rows for a batch of ${B}`);
  if (B > GEMV_MAX_ROWS) fail(op, `batch ${B}; the fused step takes at most ${GEMV_MAX_ROWS}`);
  if (inProj.n !== 2 * D) fail(op, `${inProj.label} has ${inProj.n} rows, expected 2D = ${2 * D}`);
  const inBias = a.inProjBias ? c.tensor(a.inProjBias, op) : null;
  sizeIs(op, inBias, 2 * D);
  if (xProj.n !== R + 2 * N) fail(op, `${xProj.label} has ${xProj.n} rows, expected R + 2N = ${R + 2 * N}`);
  if (dtProj.n !== D || dtProj.k !== R) {
    fail(op, `${dtProj.label} is [${dtProj.n}, ${dtProj.k}], expected [${D}, ${R}]`);
  }
  if (dtProj.parts!.length !== 1) fail(op, `${dtProj.label} is split over binding parts`);
  const norm = normPrologue(c, op, inProj, { ...a.norm, groupSize: inProj.k });
  const cw = c.param(a.convWeight, op), cb = a.convBias ? c.param(a.convBias, op) : null;
  const K = cw.size / D;
  if (!(Number.isInteger(K) && K >= 2)) fail(op, `${cw.label} has ${cw.size} values: not [${D}, K ≥ 2]`);
  const cs = c.tensor(a.convState, op), ss = c.tensor(a.ssmState, op);
  sizeIs(op, cb, D);
  sizeIs(op, cs, B * D * (K - 1));
  sizeIs(op, ss, B * D * N);
  const A = c.param(a.A, op), Dv = c.param(a.D, op), dtb = c.tensor(a.dtProjBias, op);
  const convP16 = paramsHalf(op, [cw, cb]), scanP16 = paramsHalf(op, [A, Dv]);
  sizeIs(op, A, D * N);
  sizeIs(op, Dv, D);
  sizeIs(op, dtb, D);
  const xz = c.alloc([B, 2 * D], `${inProj.label}.out`);
  const xc = c.alloc([B, D], "ssm.out");
  const xdbl = c.alloc([B, R + 2 * N], `${xProj.label}.out`);
  const xzs = c.slice(xz, op), xcs = c.slice(xc, op), css = c.slice(cs, op);
  const unused = scratch(c);
  const common = { rows: B, res: null, scratch: scratchHalves(c, unused, op), dummy: c.dummy };
  const conv = {
    weight: c.slice(cw, op),
    bias: cb ? c.slice(cb, op) : null,
    state: css,
    out: xcs,
    k: K,
    d: D,
    lo: 0,
    update: false,
    p16: convP16,
  };
  const programs = [
    ...gemvPrograms({
      ...common,
      x: c.slice(h, op),
      xBase: 0,
      xStride: inProj.k,
      w: inProj,
      bias: inBias ? c.slice(inBias, op) : null,
      y: xzs,
      yStride: 2 * D,
      norm,
      conv,
    }),
    ...gemvPrograms({
      ...common,
      x: xcs,
      xBase: 0,
      xStride: D,
      w: xProj,
      bias: null,
      y: c.slice(xdbl, op),
      yStride: R + 2 * N,
      norm: null,
      conv: null,
    }),
  ];
  for (const p of programs) c.run(p);
  const part = dtProj.parts![0];
  const work = scanStepWork(N);
  c.run({
    kernel: "fused_scan_step",
    label: "fused_scan_step",
    constants: { WG: SCAN_WG, F16W: dtProj.f16 ? 1 : 0, Q: quantCode(dtProj), P16: scanP16 ? 1 : 0 },
    bindings: {
      xz: xzs,
      xc: xcs,
      xdbl: c.slice(xdbl, op),
      conv_state: css,
      dtw: { buffer: part.buffer, offset: 0, size: dtProj.partBytes(part.rows) },
      dtb: c.slice(dtb, op),
      A: c.slice(A, op),
      Dv: c.slice(Dv, op),
      hs: c.slice(ss, op),
    },
    uniforms: {
      batch: B,
      d: D,
      n: N,
      r: R,
      k: K,
      xz_stride: 2 * D,
      xdbl_stride: R + 2 * N,
      has_dt_bias: 1,
      scale_base: dtProj.quant ? dtProj.scaleBase(part.rows) : 0,
      tpp: work.tpp,
      cpw: work.cpw,
    },
    workgroups: grid(B * D, work.cpw),
  });
  c.free(unused);
  c.free(xdbl);
  c.free(xz);
  return xc;
}

/**
 * How fused_ssd_step.wgsl spreads a head over workgroups: `tpp` threads per head channel (a power of two with
 * 4 · tpp ≥ N, so each thread holds at most 4 of the channel's states), `ppw` = WG / tpp channels per workgroup,
 * `blocks` workgroups per (sequence, head).
 *
 * @example
 * ```ts
 * import { ssdStepWork } from "./fused_decode.ts";
 * console.log(ssdStepWork(128, 64)); // { tpp: 32, ppw: 8, blocks: 8 } — Mamba-2 130m: 8 workgroups per head
 * ```
 */
export function ssdStepWork(n: number, headDim: number): { tpp: number; ppw: number; blocks: number } {
  const tpp = Math.min(SSD_WG, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(n / 4)))));
  const ppw = SSD_WG / tpp;
  return { tpp, ppw, blocks: Math.max(1, Math.ceil(headDim / ppw)) };
}

/**
 * One Mamba-2 decode step from the residual stream h `[batch, dModel]`: returns y · SiLU(z) `[batch, D]` (before the
 * gated norm and out_proj); updates the conv and SSM states. Two dispatches (plus one per extra in_proj part): RMSNorm
 * → in_proj with the conv epilogue over x, B and C (each output's lane stores its conv1d + SiLU and shifts the
 * channel's conv state in place), then fused_ssd_step.
 */
export function mamba2DecodeStep(c: OpContext, a: Mamba2DecodeArgs): Tensor {
  const op = "mamba2DecodeStep";
  const H = a.nHeads, P = a.headDim, G = a.nGroups, N = a.dState, B = a.batch;
  const D = H * P, GN = G * N, C = D + 2 * GN, width = 2 * D + 2 * GN + H;
  if (!(G >= 1 && H % G === 0)) fail(op, `${H} heads are not a multiple of ${G} groups`);
  if (N > FUSED_MAX_STATE) fail(op, `state size ${N} exceeds ${FUSED_MAX_STATE}`);
  if (B > GEMV_MAX_ROWS) fail(op, `batch ${B}; the fused step takes at most ${GEMV_MAX_ROWS}`);
  const inProj = c.matrix(a.inProj, op);
  if (inProj.n !== width) fail(op, `${inProj.label} has ${inProj.n} rows, expected 2D + 2GN + H = ${width}`);
  const h = c.tensor(a.h, op);
  if (rowsOf(op, h, inProj.k) !== B) fail(op, `${h.label} has ${h.shape[0]} rows for a batch of ${B}`);
  const inBias = a.inProjBias ? c.tensor(a.inProjBias, op) : null;
  sizeIs(op, inBias, width);
  const norm = normPrologue(c, op, inProj, { ...a.norm, groupSize: inProj.k });
  const cw = c.param(a.convWeight, op), cb = a.convBias ? c.param(a.convBias, op) : null;
  const K = cw.size / C;
  if (!(Number.isInteger(K) && K >= 2)) fail(op, `${cw.label} has ${cw.size} values: not [${C}, K ≥ 2]`);
  const cs = c.tensor(a.convState, op), ss = c.tensor(a.ssmState, op);
  sizeIs(op, cb, C);
  sizeIs(op, cs, B * C * (K - 1));
  sizeIs(op, ss, B * H * P * N);
  const dtb = c.tensor(a.dtBias, op), A = c.param(a.A, op), Dv = c.param(a.D, op);
  for (const t of [dtb, A, Dv]) sizeIs(op, t, H);
  const convP16 = paramsHalf(op, [cw, cb]), ssdP16 = paramsHalf(op, [A, Dv]);
  const g = c.alloc([B, D], "gate.out");
  if (B === 0) return g;
  const zx = c.alloc([B, width], `${inProj.label}.out`);
  const xbc = c.alloc([B, C], "conv1d.out");
  const zxs = c.slice(zx, op), xbcs = c.slice(xbc, op);
  const unused = scratch(c);
  for (
    const p of gemvPrograms({
      rows: B,
      res: null,
      scratch: scratchHalves(c, unused, op),
      dummy: c.dummy,
      x: c.slice(h, op),
      xBase: 0,
      xStride: inProj.k,
      w: inProj,
      bias: inBias ? c.slice(inBias, op) : null,
      y: zxs,
      yStride: width,
      norm,
      conv: {
        weight: c.slice(cw, op),
        bias: cb ? c.slice(cb, op) : null,
        state: c.slice(cs, op),
        out: xbcs,
        k: K,
        d: C,
        lo: D,
        update: true,
        p16: convP16,
      },
    })
  ) c.run(p);
  const work = ssdStepWork(N, P);
  c.run({
    kernel: "fused_ssd_step",
    label: "fused_ssd_step",
    constants: { WG: SSD_WG, P16: ssdP16 ? 1 : 0 },
    bindings: {
      zx: zxs,
      xbc: xbcs,
      dt_bias: c.slice(dtb, op),
      A: c.slice(A, op),
      Dv: c.slice(Dv, op),
      state: c.slice(ss, op),
      g: c.slice(g, op),
    },
    uniforms: {
      batch: B,
      heads: H,
      head_dim: P,
      groups: G,
      n: N,
      zx_stride: width,
      dt_min: finiteF32(a.dtMin),
      dt_max: finiteF32(a.dtMax),
      tpp: work.tpp,
      ppw: work.ppw,
      blocks: work.blocks,
    },
    workgroups: grid(B * H * work.blocks, 1),
  });
  c.free(unused);
  c.free(xbc);
  c.free(zx);
  return g;
}
