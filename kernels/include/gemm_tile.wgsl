// Tile shapes of the linear kernels, exported to TypeScript (kernels/linear.ts reads them from
// kernels/generated/kernels.ts for the dispatch grids and the split-K ranges).

const GEMM_TILE_M: u32 = 128u; // output rows per GEMM workgroup
const GEMM_TILE_N_WIDE: u32 = 128u; // output columns per GEMM workgroup with WIDE
const GEMM_TILE_N_NARROW: u32 = 64u; // ... and without
const GEMM_TILE_K: u32 = 8u; // k per staged tile (a split-K range is a multiple)
const GEMV_FEATURES: u32 = 4u; // output features per GEMV workgroup
const GEMV_MAX_ROWS: u32 = 8u; // most rows of x (decode batch) a GEMV takes; more go to the GEMM
