/**
 * `linear`: y = x · wᵀ (+ bias). Prefill (m > 8 rows) uses the tiled GEMM: 256 threads per workgroup, a
 * 128×128 output tile with 8×8 outputs per thread ({@link GEMM_TILE_M}×{@link GEMM_TILE_N_WIDE}), or 128×64 with
 * 8×4 when the wide grid would leave the GPU under-filled ({@link gemmConfig}); k-tiles of 8, double-buffered
 * in bank-conflict-free workgroup memory. Decode (m ≤ 8) uses the GEMV (4 features per workgroup, 64 lanes
 * reducing over k). The backend calls this once per (row chunk of x/y, row part of w) when a tensor or matrix
 * exceeds the storage binding limit.
 *
 * @module
 */
import { grid, type Program, type Slice } from "./program.ts";

/** Largest row count served by the GEMV kernel. */
export const GEMV_MAX_ROWS = 8;

/** Output rows per GEMM workgroup. */
export const GEMM_TILE_M = 128;
/** Output columns per GEMM workgroup with the wide tile (override `WIDE = true`), and with the narrow one. */
export const GEMM_TILE_N_WIDE = 128;
export const GEMM_TILE_N_NARROW = 64;

/** Tuning of the GEMM tile choice (mutable: tests and benchmarks may force one variant). */
export const gemmConfig: { wideMinWorkgroups: number } = {
  /**
   * Use the 128×128 tile when it still yields at least this many workgroups, else 128×64 (twice as many,
   * for occupancy on GPUs with ~100+ SMs / CUs). 0 forces the wide tile, Infinity the narrow one.
   */
  wideMinWorkgroups: 256,
};

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

/**
 * y (m, yStride) ← x (m, k) · w (n, k)ᵀ + bias; bias is a dummy slice when biasBase < 0. `f16` selects weights
 * stored as f16 pairs (rows padded to an even length; see gemm.wgsl), otherwise f32.
 */
export function linearProgram(x: Slice, w: Slice, bias: Slice, y: Slice, d: LinearDims, f16 = false): Program {
  const gemv = d.m <= GEMV_MAX_ROWS;
  const rowTiles = Math.ceil(d.m / GEMM_TILE_M);
  const wide = !gemv && Math.ceil(d.n / GEMM_TILE_N_WIDE) * rowTiles >= gemmConfig.wideMinWorkgroups;
  const tn = wide ? GEMM_TILE_N_WIDE : GEMM_TILE_N_NARROW;
  return {
    kernel: gemv ? "gemv" : "gemm",
    label: gemv ? "gemv" : "gemm",
    constants: gemv ? { F16W: f16 ? 1 : 0 } : { WIDE: wide ? 1 : 0, F16W: f16 ? 1 : 0 },
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
    workgroups: gemv ? grid(d.n, 4) : [Math.ceil(d.n / tn), rowTiles, 1],
  };
}
