/**
 * `linear` over a block-quantized weight (runtime/backend.ts `QuantFormat`; storage in
 * kernels/include/quant_blocks.wgsl): decode (m ≤ {@link GEMV_MAX_ROWS}) uses `gemv_q` (8 features per workgroup,
 * 32 lanes striding over the code words of a row), prefill `gemm_q` (64×64 output tiles, the weight tile
 * dequantized once per workgroup into workgroup memory, one block of k at a time). Both dequantize in registers;
 * no f32 copy of the weight exists.
 *
 * @module
 */
import type { QuantFormat } from "../runtime/backend.ts";
import { KERNELS } from "./generated/kernels.ts";
import { GEMV_MAX_ROWS, type LinearDims } from "./linear.ts";
import { grid, type Program, type Slice } from "./program.ts";

const TILE = KERNELS.gemm_q.constants.TILE;
const GEMV_Q_FEATURES = KERNELS.gemv_q.constants.FEATS;

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
    return { kernel: "gemv_q", label: "gemv_q", constants, bindings, uniforms, workgroups: grid(d.n, GEMV_Q_FEATURES) };
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
