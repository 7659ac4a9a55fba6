/**
 * `linear` over a block-quantized weight (runtime/backend.ts `QuantFormat`; storage in
 * kernels/include/quant_blocks.wgsl): decode (m ≤ {@link GEMV_MAX_ROWS}) uses `gemv_q` (8 features per workgroup,
 * 32 lanes striding over the code words of a row), prefill `gemm_q` (64×64 output tiles, the weight tile
 * dequantized once per workgroup into workgroup memory, one block of k at a time). Both dequantize in registers.
 * From {@link quantGemmConfig}`.dequantMinRows` rows on (long prompts), the weight is instead dequantized into a
 * transient f32 copy ({@link dequantRowsProgram}, at most one binding's worth of rows at a time) that the f32 GEMM
 * multiplies: that GEMM's register tiles are far faster than `gemm_q`'s and the copy costs one pass over the weight,
 * little beside m · n · k FLOPs (issue 19: 2.8b q8 prefill at L2048 took 5.6 s through `gemm_q` on an H100, f32
 * 0.58 s). The products are the same (d · q is exact in f32); only the summation order differs.
 *
 * @module
 */
import type { QuantFormat } from "../runtime/backend.ts";
import { KERNELS } from "./generated/kernels.ts";
import { GEMV_MAX_ROWS, type LinearDims } from "./linear.ts";
import { grid, type Program, type Slice } from "./program.ts";

const TILE = KERNELS.gemm_q.constants.TILE;
const GEMV_Q_FEATURES = KERNELS.gemv_q.constants.FEATS;
const GATHER_WG = KERNELS.gather_q.overrides.WG;

/** When a quantized weight is dequantized for the f32 GEMM (mutable: tests and benchmarks may force a path). */
export const quantGemmConfig: { dequantMinRows: number } = {
  /** Rows of x from which the f32 copy is used; below it (and always for m ≤ 8) the `_q` kernels run. */
  dequantMinRows: 128,
};

/** Whether an m-row product over a quantized weight goes through an f32 copy of the weight. */
export function dequantizesForGemm(m: number): boolean {
  return m > GEMV_MAX_ROWS && m >= quantGemmConfig.dequantMinRows;
}

/**
 * out (rows, k) f32 ← rows [first, first + rows) of the quantized weight part `w` (scales from word `scaleBase`,
 * `partRows` rows in all): `gather_q` with its `ALL` override, `ids` a dummy.
 */
export function dequantRowsProgram(
  dummy: Slice,
  w: Slice,
  out: Slice,
  first: number,
  rows: number,
  k: number,
  partRows: number,
  format: QuantFormat,
  scaleBase: number,
): Program<"gather_q"> {
  return {
    kernel: "gather_q",
    label: "dequant_q",
    constants: { WG: GATHER_WG, Q4: format === "q4_0" ? 1 : 0, ALL: 1 },
    bindings: { ids: dummy, src: w, o: out },
    uniforms: { rows, cols: k, r0: first, part_rows: partRows, id_offset: 0, scale_base: scaleBase },
    workgroups: grid(rows * k, GATHER_WG),
  };
}

/**
 * y (m, yStride) ← x (m, k) · w (n, k)ᵀ + bias for a quantized weight part `w` whose scales start at word
 * `scaleBase`; bias is a dummy slice when `d.biasBase` < 0.
 */
export function quantLinearProgram(
  x: Slice,
  w: Slice,
  bias: Slice,
  y: Slice,
  d: LinearDims,
  format: QuantFormat,
  scaleBase: number,
): Program<"gemv_q" | "gemm_q"> {
  const uniforms = {
    m: d.m,
    n: d.n,
    k: d.k,
    x_stride: d.xStride,
    x_base: d.xBase,
    y_stride: d.yStride,
    y_base: d.yBase,
    has_bias: d.biasBase >= 0 ? 1 : 0,
    bias_base: Math.max(0, d.biasBase),
    scale_base: scaleBase,
  };
  const constants = { Q4: format === "q4_0" ? 1 : 0 };
  const bindings = { x, w, bias, y };
  if (d.m <= GEMV_MAX_ROWS) {
    return {
      kernel: "gemv_q",
      label: "gemv_q",
      constants: { ...constants, ROWS: d.m }, // one code word load per k-step for all m rows
      bindings,
      uniforms,
      workgroups: grid(d.n, GEMV_Q_FEATURES),
    };
  }
  return {
    kernel: "gemm_q",
    label: "gemm_q",
    constants,
    bindings,
    uniforms,
    workgroups: [Math.ceil(d.n / TILE), Math.ceil(d.m / TILE), 1],
  };
}
