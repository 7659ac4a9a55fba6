/**
 * `linear`: y = x · wᵀ (+ bias). Prefill (m > 8 rows) uses the tiled GEMM: 256 threads per workgroup, a
 * 128×128 output tile with 8×8 outputs per thread ({@link GEMM_TILE_M}×{@link GEMM_TILE_N_WIDE}), or 128×64 with
 * 8×4 when the wide grid would leave the GPU under-filled ({@link gemmConfig}); k-tiles of 8, double-buffered
 * in bank-conflict-free workgroup memory. Decode (m ≤ 8) uses the GEMV (4 features per workgroup, 64 lanes
 * reducing over k; the row count is its pipeline constant `ROWS`, so each weight is loaded once for all m rows).
 * When the output has too few tiles to fill the GPU and k is long ({@link splitK}), the GEMM splits k over
 * workgroups into a scratch and {@link splitkReduceProgram} sums the partial results. The backend
 * calls this once per (row chunk of x/y, row part of w) when a tensor or matrix exceeds the storage binding limit.
 *
 * @module
 */
import {
  GEMM_TILE_K,
  GEMM_TILE_M,
  GEMM_TILE_N_NARROW,
  GEMM_TILE_N_WIDE,
  GEMV_FEATURES,
  GEMV_MAX_ROWS,
  KERNELS,
} from "./generated/kernels.ts";
import { grid, type Program, type Slice } from "./program.ts";

/**
 * Output rows per GEMM workgroup, output columns with the wide tile (override `WIDE = true`) and with the narrow one:
 * constants of kernels/include/gemm_tile.wgsl.
 */
export { GEMM_TILE_M, GEMM_TILE_N_NARROW, GEMM_TILE_N_WIDE };

/** Largest row count served by the GEMV kernels (constant of kernels/include/gemm_tile.wgsl). */
export { GEMV_MAX_ROWS };

/** Tuning of the GEMM tile choice (mutable: tests and benchmarks may force one variant). */
export const gemmConfig: { wideMinWorkgroups: number; splitMinWorkgroups: number } = {
  /**
   * Use the 128×128 tile when it still yields at least this many workgroups, else 128×64 (twice as many,
   * for occupancy on GPUs with ~100+ SMs / CUs). 0 forces the wide tile, Infinity the narrow one.
   */
  wideMinWorkgroups: 256,
  /**
   * Split k when the output has fewer tiles than this (0 never splits); {@link splitK} then aims for about twice
   * this many workgroups.
   */
  splitMinWorkgroups: 128,
};

/** Shortest k range one split-K workgroup reduces. */
export const SPLIT_MIN_K = 128;
/** Most splits of one GEMM. */
export const SPLIT_MAX = 16;

/** How a GEMM's k is split: `splits` workgroups along z, each reducing `kSplit` elements (splits = 1: none). */
export interface KSplit {
  splits: number;
  kSplit: number;
}

/** The k split for an m × n output with inner dimension k (GEMV shapes and well-filled grids: none). */
export function splitK(m: number, n: number, k: number): KSplit {
  const none = { splits: 1, kSplit: k };
  if (m <= GEMV_MAX_ROWS) return none;
  const tiles = Math.ceil(n / GEMM_TILE_N_NARROW) * Math.ceil(m / GEMM_TILE_M);
  if (tiles >= gemmConfig.splitMinWorkgroups || k < 2 * SPLIT_MIN_K) return none;
  const want = Math.ceil((2 * gemmConfig.splitMinWorkgroups) / tiles);
  const s = Math.min(SPLIT_MAX, Math.floor(k / SPLIT_MIN_K), want);
  if (s < 2) return none;
  const kSplit = Math.ceil(k / s / GEMM_TILE_K) * GEMM_TILE_K; // whole k-tiles
  return { splits: Math.ceil(k / kSplit), kSplit };
}

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
export function linearProgram(
  x: Slice,
  w: Slice,
  bias: Slice,
  y: Slice,
  d: LinearDims,
  f16 = false,
  split: KSplit = { splits: 1, kSplit: d.k },
): Program<"gemv" | "gemm"> {
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
  };
  const F16W = f16 ? 1 : 0;
  if (d.m <= GEMV_MAX_ROWS) {
    return {
      kernel: "gemv",
      label: "gemv",
      constants: { F16W, ROWS: d.m }, // one weight load per k-step for all m rows
      bindings: { x, w, bias, y },
      uniforms,
      workgroups: grid(d.n, GEMV_FEATURES),
    };
  }
  const rowTiles = Math.ceil(d.m / GEMM_TILE_M);
  const wide = split.splits === 1 && Math.ceil(d.n / GEMM_TILE_N_WIDE) * rowTiles >= gemmConfig.wideMinWorkgroups;
  const tn = wide ? GEMM_TILE_N_WIDE : GEMM_TILE_N_NARROW;
  return {
    kernel: "gemm",
    label: "gemm",
    constants: { WIDE: wide ? 1 : 0, F16W },
    bindings: { x, w, bias, y },
    uniforms: { ...uniforms, k_split: split.kSplit, split_stride: d.m * d.yStride },
    workgroups: [Math.ceil(d.n / tn), rowTiles, split.splits],
  };
}

const REDUCE_WG = KERNELS.splitk_reduce.overrides.WG;

/** Dimensions of {@link splitkReduceProgram}: the m × n output, its placement in y and the bias. */
export interface SplitReduceDims {
  m: number;
  n: number;
  splits: number;
  yStride: number;
  yBase: number;
  /** Element of bias[0], or −1 without bias. */
  biasBase: number;
}

/** y (m, yStride) ← Σ_z part (splits, m, n) + bias: the second step of a split-K GEMM. */
export function splitkReduceProgram(part: Slice, bias: Slice, y: Slice, d: SplitReduceDims): Program<"splitk_reduce"> {
  return {
    kernel: "splitk_reduce",
    label: "splitk_reduce",
    constants: { WG: REDUCE_WG },
    bindings: { part, bias, y },
    uniforms: {
      m: d.m,
      n: d.n,
      splits: d.splits,
      y_stride: d.yStride,
      y_base: d.yBase,
      has_bias: d.biasBase >= 0 ? 1 : 0,
      bias_base: Math.max(0, d.biasBase),
    },
    workgroups: grid(d.m * d.n, REDUCE_WG),
  };
}
