/**
 * `rmsNorm` and `gatedRmsNorm`: one workgroup per row (per row and group for the gated norm), a tree reduction
 * of the sum of squares in workgroup memory.
 *
 * @module
 */
import { grid, type Program, type Slice } from "./program.ts";

/** Threads per row: enough for d_model 768–2560 in a few strides; a power of two. */
const WG = 128;

/** y (rows, cols) = x / sqrt(mean(x²) + eps) · w (cols). */
export function rmsNormProgram(x: Slice, w: Slice, y: Slice, rows: number, cols: number, eps: number): Program {
  return {
    kernel: "rms_norm",
    label: "rms_norm",
    constants: { WG },
    storage: [x, w, y],
    uniforms: [["u32", rows], ["u32", cols], ["f32", eps]],
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
): Program {
  return {
    kernel: "gated_rms_norm",
    label: "gated_rms_norm",
    constants: { WG },
    storage: [y, z, w, o],
    uniforms: [
      ["u32", dims.rows],
      ["u32", dims.cols],
      ["u32", dims.group],
      ["u32", dims.zStride],
      ["u32", dims.zCol],
      ["f32", dims.eps],
    ],
    workgroups: grid(dims.rows * (dims.cols / dims.group)),
  };
}
