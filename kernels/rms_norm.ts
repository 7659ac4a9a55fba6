/**
 * `rmsNorm` and `gatedRmsNorm`: one workgroup per row (per row and group for the gated norm), a tree reduction
 * of the sum of squares in workgroup memory.
 *
 * @module
 */
import { KERNELS } from "./generated/kernels.ts";
import { grid, type Program, type Slice } from "./program.ts";

/** Threads per row (the WGSL default): enough for d_model 768–2560 in a few strides; a power of two. */
const WG = KERNELS.rms_norm.overrides.WG;
const GATED_WG = KERNELS.gated_rms_norm.overrides.WG;

/** y (rows, cols) = x / sqrt(mean(x²) + eps) · w (cols). */
export function rmsNormProgram(
  x: Slice,
  w: Slice,
  y: Slice,
  rows: number,
  cols: number,
  eps: number,
): Program<"rms_norm"> {
  return {
    kernel: "rms_norm",
    label: "rms_norm",
    constants: { WG },
    bindings: { x, w, y },
    uniforms: { rows, cols, eps },
    workgroups: grid(rows),
  };
}

/** o (rows, D) = per group of `group` channels: rmsnorm(y · SiLU(z)) · w; z is a view (stride, col). */
export function gatedRmsNormProgram(
  y: Slice,
  z: Slice,
  w: Slice,
  o: Slice,
  dims: { rows: number; cols: number; group: number; zStride: number; zCol: number; eps: number },
): Program<"gated_rms_norm"> {
  return {
    kernel: "gated_rms_norm",
    label: "gated_rms_norm",
    constants: { WG: GATED_WG },
    bindings: { y, z, w, o },
    uniforms: {
      rows: dims.rows,
      cols: dims.cols,
      group: dims.group,
      z_stride: dims.zStride,
      z_col: dims.zCol,
      eps: dims.eps,
    },
    workgroups: grid(dims.rows * (dims.cols / dims.group)),
  };
}
