/**
 * `linear`: y = x · wᵀ (+ bias). Prefill (m > 8 rows) uses the tiled GEMM (64×64 tiles, 4×4 per thread, k-tiles
 * of 16); decode (m ≤ 8) the GEMV (4 features per workgroup, 64 lanes reducing over k). The backend calls this
 * once per (row chunk of x/y, row part of w) when a tensor or matrix exceeds the storage binding limit.
 *
 * @module
 */
import { grid, type Program, type Slice } from "./program.ts";

/** Largest row count served by the GEMV kernel. */
export const GEMV_MAX_ROWS = 8;

/** Shapes and placements of one linear dispatch. */
export interface LinearDims {
  /** Rows of x and y. */
  m: number;
  /** Output features of this weight part. */
  n: number;
  /** Input features. */
  k: number;
  /** Row stride of x, and the element of x[0, 0] in its binding. */
  xStride: number;
  xBase: number;
  /** Row stride of y, and the element of y[0, 0] (this part's first column) in its binding. */
  yStride: number;
  yBase: number;
  /** Element of bias[0] for this part, or −1 without bias. */
  biasBase: number;
}

/** y (m, yStride) ← x (m, k) · w (n, k)ᵀ + bias; bias is a dummy slice when biasBase < 0. */
export function linearProgram(x: Slice, w: Slice, bias: Slice, y: Slice, d: LinearDims): Program {
  const gemv = d.m <= GEMV_MAX_ROWS;
  return {
    kernel: gemv ? "gemv" : "gemm",
    label: gemv ? "gemv" : "gemm",
    constants: {},
    storage: [x, w, bias, y],
    uniforms: [
      ["u32", d.m],
      ["u32", d.n],
      ["u32", d.k],
      ["u32", d.xStride],
      ["u32", d.xBase],
      ["u32", d.yStride],
      ["u32", d.yBase],
      ["u32", d.biasBase >= 0 ? 1 : 0],
      ["u32", Math.max(0, d.biasBase)],
    ],
    workgroups: gemv ? grid(d.n, 4) : [Math.ceil(d.n / 64), Math.ceil(d.m / 64), 1],
  };
}
