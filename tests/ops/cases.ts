/**
 * Every op case of the conformance suite, each listed once; tests/ops/ops_test.ts runs them on every backend
 * configuration of tests/ops/backends.ts. Shapes are deliberately odd: widths and state sizes that are not
 * multiples of 4 (or of 32, 64, 128: the GPU workgroups and tiles), sequence lengths that are not a multiple of the
 * SSD / scan chunk, batch > 1, n_groups > 1, views into wider tensors, decode (seqLen 1) next to prefill, states
 * carried across calls, and matrices split over several buffers under the lowered binding limit.
 *
 * @module
 */
import type { Backend, QuantFormat } from "../../runtime/backend.ts";

/** Bound of max |got − want| ≤ rel · max|want| + abs (see tests/_assert.ts). */
export interface Tol {
  rel: number;
  abs: number;
}

/** Data movement (copies, gathers, state shifts, argmax): bit-exact. */
export const EXACT: Tol = { rel: 0, abs: 0 };
/**
 * fp32 arithmetic against the float64 reference, any summation order (SIMD lanes, GEMM k-tiles, tree reductions,
 * chunked scans): 1e-5 relative to the largest reference value, plus an absolute floor for all-small outputs.
 */
export const F32: Tol = { rel: 1e-5, abs: 1e-6 };
// f16 weight storage (WebGPU) keeps this bound: its references use the f16-rounded weights, since the arithmetic
// stays f32; the distance to the f32 product is checked separately (it must show, or f32 storage would pass).
/** One fp32 rounding of an exact sum. */
export const ONE_ROUNDING: Tol = { rel: 1e-7, abs: 1e-7 };

/** Handling of tensors: upload/read/zeros/copy/fill0 round trips, memory accounting, handle errors, dispose. */
export interface DataCase {
  op: "data";
  name: string;
  check: "roundtrip" | "pooled zeros" | "handles" | "growth" | "zero-size" | "dispose";
}

/** embed: rows of a [vocab, d] matrix. */
export interface EmbedCase {
  op: "embed";
  name: string;
  vocab: number;
  d: number;
  ids: number[];
}

/** argmaxInto: row maxima written as int32 into an id tensor at an offset (rows built by `fill`). */
export interface ArgmaxCase {
  op: "argmaxInto";
  name: string;
  rows: number;
  cols: number;
  /** Row contents; default pseudo-random. */
  fill?: (x: Float32Array, rows: number, cols: number) => void;
  /** Size of the id tensor and where the ids go; the other ids must stay as they were. */
  idsSize: number;
  offset: number;
  /** Only the first this many columns are candidates (a padded vocabulary's token count); default all. */
  candidates?: number;
}

/** embedFrom: embedding rows of int32 ids held by a device tensor. */
export interface EmbedFromCase {
  op: "embedFrom";
  name: string;
  vocab: number;
  d: number;
  /** The id tensor's content; `count` ids are read from `offset`. */
  ids: number[];
  offset: number;
  count: number;
}

/** Row-wise ops on [T, d]. */
export interface RowCase {
  op: "rmsNorm" | "add";
  name: string;
  T: number;
  d: number;
  /** Inputs are uniform in [−scale, scale). */
  scale: number;
  eps: number;
  tol: Tol;
}

/** linear: x [M, K] · Wᵀ (W [N, K]) from a view (bias), an aligned view (bias) and a dense tensor (no bias). */
export interface LinearCase {
  op: "linear";
  name: string;
  M: number;
  K: number;
  N: number;
  tol: Tol;
}

/** gatherRows of a [R, cols] tensor. */
export interface GatherCase {
  op: "gatherRows";
  name: string;
  R: number;
  cols: number;
  rows: number[];
}

/** conv1d over `segments` consecutive calls carrying the state (one segment: a single call). */
export interface Conv1dCase {
  op: "conv1d";
  name: string;
  batch: number;
  C: number;
  K: number;
  bias: boolean;
  /** Token counts of consecutive calls; the output of all must equal one run over their sum. */
  segments: number[];
}

/** Mamba-1 selective scan over `segments` consecutive calls carrying the state. */
export interface ScanCase {
  op: "selectiveScan";
  name: string;
  batch: number;
  D: number;
  N: number;
  segments: number[];
  seed: number;
}

/** Mamba-2 SSD over `segments` consecutive calls carrying the state. */
export interface SsdCase {
  op: "ssd";
  name: string;
  batch: number;
  H: number;
  P: number;
  G: number;
  N: number;
  Q: number;
  dtMin: number;
  dtMax: number;
  segments: number[];
  seed: number;
  /** The initial state is zero (a new sequence), not random. */
  zeroState?: boolean;
}

/** gatedRmsNorm of [T, D] with a z view, in groups of `group` channels. */
export interface GatedNormCase {
  op: "gatedRmsNorm";
  name: string;
  T: number;
  D: number;
  group: number;
  eps: number;
}

/**
 * linear on a block-quantized `[N, K]` weight (`uploadQuantizedMatrix`), as {@link LinearCase} (a view with bias,
 * an aligned view with bias, a dense input without): the reference is the float64 product with the dequantized
 * weights (runtime/ggml_types.ts `dequantize`). Runs where `capabilities.quantFormats` lists `quant`; elsewhere it
 * is registered as ignored, the reason in its name.
 */
export interface QuantLinearCase {
  op: "linear";
  quant: QuantFormat;
  name: string;
  M: number;
  K: number;
  N: number;
  tol: Tol;
}

/** embed (and embedFrom, where the backend has it) of rows of a block-quantized `[vocab, d]` table: bit-exact
 * against the dequantized rows. */
export interface QuantEmbedCase {
  op: "embed";
  quant: QuantFormat;
  name: string;
  vocab: number;
  d: number;
  ids: number[];
}

/** Bad arguments: the op must throw (a RangeError where the backend's flag says so) whose message names `op`. */
export interface ErrorCase {
  op: string;
  error: true;
  name: string;
  call: (be: Backend) => unknown;
  /** Runs only where `capabilities.quantFormats` lists this format (ignored elsewhere, saying so). */
  quant?: QuantFormat;
}

/** Any case. */
export type OpCase =
  | DataCase
  | EmbedCase
  | ArgmaxCase
  | EmbedFromCase
  | RowCase
  | LinearCase
  | GatherCase
  | Conv1dCase
  | ScanCase
  | SsdCase
  | GatedNormCase
  | QuantLinearCase
  | QuantEmbedCase
  | ErrorCase;

/** The quantized format a case needs the backend to list in `capabilities.quantFormats`, or null. */
export function quantOf(c: OpCase): QuantFormat | null {
  return "quant" in c && c.quant ? c.quant : null;
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

// ---- data movement ------------------------------------------------------------------------------------------

const DATA: DataCase[] = [
  { op: "data", check: "roundtrip", name: "upload/read/zeros/copy/fill0 [5, 7], [13], [3, 3]; memory and resetPeak" },
  { op: "data", check: "pooled zeros", name: "zeros after a freed buffer held data comes back zero" },
  { op: "data", check: "handles", name: "freed, twice-freed and foreign handles are errors naming them" },
  { op: "data", check: "growth", name: "a 20 MB tensor keeps earlier tensors; reusing its space keeps the peak" },
  { op: "data", check: "zero-size", name: "zero-size tensors, linear of 0 rows, embed of 0 ids, gather of 0 rows" },
  { op: "data", check: "dispose", name: "calls after dispose throw" },
];

// ---- embeddings and greedy decoding -------------------------------------------------------------------------

const EMBED: EmbedCase[] = [
  { op: "embed", name: "vocab 29 d=13", vocab: 29, d: 13, ids: [0, 28, 7, 8, 15, 16, 3] },
  { op: "embed", name: "vocab 41 d=133, a repeated id", vocab: 41, d: 133, ids: [40, 0, 3, 3, 17] },
  // Under 4 KiB bindings: 51-row parts (f32) / 93-row parts (f16, odd d padded to 22 halves); ids at part edges.
  { op: "embed", name: "vocab 300 d=20 (split matrix)", vocab: 300, d: 20, ids: [0, 299, 50, 51, 102, 250, 7, 153] },
  { op: "embed", name: "vocab 300 d=21 (split, odd d)", vocab: 300, d: 21, ids: [0, 299, 92, 93, 186, 250, 7, 153] },
];

const ARGMAX: ArgmaxCase[] = [
  {
    op: "argmaxInto",
    name: "4×300: max at the last column, ties, all equal, −1e30 rows; at offset 2 of 7",
    rows: 4,
    cols: 300, // not a multiple of the workgroup size
    idsSize: 7,
    offset: 2,
    fill(x, _rows, cols) {
      for (let i = 0; i < cols; i++) x[i] = Math.sin(i * 1.7);
      x[299] = 5; // row 0: a plain maximum at the last column
      x.fill(-1, cols, 2 * cols); // row 1: ties at 5 and 260 → 5
      x[cols + 5] = x[cols + 260] = 3;
      x.fill(-2, 2 * cols, 3 * cols); // row 2: all equal → 0
      for (let i = 0; i < cols; i++) x[3 * cols + i] = -1e30 - i; // row 3: very negative, max at 0
    },
  },
  { op: "argmaxInto", name: "3×5003 random rows (vocab-sized), offset 0", rows: 3, cols: 5003, idsSize: 3, offset: 0 },
  {
    op: "argmaxInto",
    name: "2×1000 ties far apart (first wins), offset 1 of 4",
    rows: 2,
    cols: 1000,
    idsSize: 4,
    offset: 1,
    fill(x, _rows, cols) {
      x.fill(0);
      x[997] = x[3] = 1; // row 0 → 3
      x[cols + 999] = x[cols + 640] = x[cols + 130] = 2; // row 1 → 130
    },
  },
  { op: "argmaxInto", name: "1×1", rows: 1, cols: 1, idsSize: 1, offset: 0 },
  {
    op: "argmaxInto",
    name: "3×5008 with 5003 candidates: the padded columns hold each row's largest values; offset 1 of 5",
    rows: 3,
    cols: 5008, // a vocabulary of 5003 padded to a multiple of 16
    candidates: 5003,
    idsSize: 5,
    offset: 1,
    fill(x, rows, cols) {
      for (let r = 0; r < rows; r++) x.fill(100 + r, r * cols + 5003, (r + 1) * cols); // never chosen
      x[2 * cols + 5002] = 50; // row 2: the last candidate wins
    },
  },
  {
    op: "argmaxInto",
    name: "2×300 with 1 candidate (→ 0 whatever the row holds)",
    rows: 2,
    cols: 300,
    candidates: 1,
    idsSize: 2,
    offset: 0,
  },
];

const EMBED_FROM: EmbedFromCase[] = [
  {
    op: "embedFrom",
    name: "3 ids from offset 2 of 7, vocab 300 d=4",
    vocab: 300,
    d: 4,
    ids: [7, 8, 299, 5, 0, 1, 9],
    offset: 2,
    count: 3,
  },
  {
    op: "embedFrom",
    name: "5 ids from offset 3, vocab 300 d=21 (split, odd d)",
    vocab: 300,
    d: 21,
    ids: [1, 2, 3, 0, 299, 92, 93, 186, 4],
    offset: 3,
    count: 5,
  },
  { op: "embedFrom", name: "0 ids from offset 4", vocab: 10, d: 6, ids: [1, 2, 3, 4], offset: 4, count: 0 },
];

// ---- row-wise -----------------------------------------------------------------------------------------------

const ROWS: RowCase[] = [
  { op: "rmsNorm", name: "T=5 d=37", T: 5, d: 37, scale: 3, eps: 1e-5, tol: F32 },
  { op: "rmsNorm", name: "T=7 d=133", T: 7, d: 133, scale: 3, eps: 1e-5, tol: F32 },
  // A row wider than the GPU workgroup's 128 threads × several strides.
  { op: "rmsNorm", name: "T=3 d=1000 (wide rows)", T: 3, d: 1000, scale: 10, eps: 1e-6, tol: F32 },
  { op: "rmsNorm", name: "T=1 d=4", T: 1, d: 4, scale: 1, eps: 1e-5, tol: F32 },
  { op: "add", name: "5×37", T: 5, d: 37, scale: 3, eps: 0, tol: ONE_ROUNDING },
  { op: "add", name: "7×133", T: 7, d: 133, scale: 3, eps: 0, tol: ONE_ROUNDING },
  { op: "add", name: "1×1", T: 1, d: 1, scale: 1, eps: 0, tol: ONE_ROUNDING },
];

// ---- linear -------------------------------------------------------------------------------------------------

const lin = (M: number, K: number, N: number, note = ""): LinearCase => ({
  op: "linear",
  name: `M=${M} K=${K} N=${N}${note}`,
  M,
  K,
  N,
  tol: F32,
});

const LINEAR: LinearCase[] = [
  // GEMV (M ≤ 8 on WebGPU; WASM's row-panel path).
  lin(1, 37, 29),
  lin(1, 19, 37),
  lin(1, 256, 100),
  lin(2, 19, 8),
  lin(3, 64, 17),
  lin(3, 19, 37),
  lin(4, 5, 3),
  lin(5, 33, 70),
  lin(7, 45, 70),
  lin(8, 130, 3),
  lin(8, 33, 37), // every row of the GEMV at once, odd K (f16 storage: the last pair's high half unused)
  // GEMM: none a multiple of the 128×128×8 tiles except the last (several tiles each way, k a multiple of 4).
  lin(9, 17, 65),
  lin(13, 100, 9),
  lin(67, 45, 131),
  lin(70, 33, 41),
  lin(130, 100, 66),
  lin(131, 130, 24),
  lin(261, 133, 259),
  lin(300, 256, 320),
  // WASM's k blocks (K_BLOCK 1536) and row blocks (ROW_BLOCK 192): k = 2 blocks + a ragged one, out accumulated
  // over them with the bias added once; rows crossing a row block and ending in a partial tile.
  lin(20, 3112, 27, " (k blocks)"),
  lin(199, 1560, 17, " (k and row blocks)"),
  // A [300, 20] / [300, 21] matrix: 6 or 4 parts under 4 KiB bindings, x and y bound a few rows at a time.
  lin(3, 20, 300, " (split matrix)"),
  lin(70, 20, 300, " (split matrix)"),
  lin(200, 20, 300, " (split matrix)"),
  lin(2, 21, 300, " (split, odd K)"),
  lin(140, 21, 300, " (split, odd K)"),
  // Split-K on WebGPU: few output tiles and a long k (Mamba-1's x_proj; out_proj at short lengths).
  lin(70, 1536, 80, " (split-K)"),
  lin(130, 1000, 37, " (split-K)"),
  lin(9, 520, 768, " (split-K)"),
];

const GATHER: GatherCase[] = [
  { op: "gatherRows", name: "rows 6, 0, 6 of 7×13", R: 7, cols: 13, rows: [6, 0, 6] },
  { op: "gatherRows", name: "rows 6, 0, 3 of 7×133", R: 7, cols: 133, rows: [6, 0, 3] },
  { op: "gatherRows", name: "last rows of 2 sequences, 80×5", R: 80, cols: 5, rows: [39, 79] },
];

// ---- conv1d -------------------------------------------------------------------------------------------------

const CONV1D: Conv1dCase[] = [];
// K = 1 (no state) to 4, seqLen below, at and above K − 1, batch 2, odd channel counts, with and without bias.
for (const K of [1, 2, 3, 4]) {
  for (const L of [1, 2, 7]) {
    for (const bias of [true, false]) {
      const C = bias ? 13 : 11;
      CONV1D.push({
        op: "conv1d",
        name: `batch 2 L=${L} C=${C} K=${K}${bias ? "" : " no bias"}`,
        batch: 2,
        C,
        K,
        bias,
        segments: [L],
      });
    }
  }
}
CONV1D.push(
  // Channels over several GPU workgroups.
  { op: "conv1d", name: "batch 3 L=33 C=130 K=4", batch: 3, C: 130, K: 4, bias: true, segments: [33] },
  // State carried: prefill 4 then 2 steps, and prefill 37 then 3 steps, equal one run of 6 / 40.
  { op: "conv1d", name: "batch 2 C=9 K=4 L=4+1+1", batch: 2, C: 9, K: 4, bias: true, segments: [4, 1, 1] },
  { op: "conv1d", name: "batch 2 C=9 K=4 L=37+1+1+1", batch: 2, C: 9, K: 4, bias: false, segments: [37, 1, 1, 1] },
  // WASM's 16-channel groups (and a ragged tail) reading and rolling the state, K − 1 above and below the length.
  { op: "conv1d", name: "batch 2 C=37 K=4 L=2+5+1", batch: 2, C: 37, K: 4, bias: true, segments: [2, 5, 1] },
  { op: "conv1d", name: "batch 2 C=48 K=3 L=6+1", batch: 2, C: 48, K: 3, bias: false, segments: [6, 1] },
  // WASM's decode step for K = 4 (4 channels per pass, shuffled taps, tail channels alone), bit-identical to the
  // one-call run: decode from the first token (batch 3), and a tail of 2 channels after 3 groups, 2 threads each.
  { op: "conv1d", name: "batch 3 C=24 K=4 L=1+1+1+1+1", batch: 3, C: 24, K: 4, bias: true, segments: [1, 1, 1, 1, 1] },
  { op: "conv1d", name: "batch 2 C=14 K=4 L=3+1+1 no bias", batch: 2, C: 14, K: 4, bias: false, segments: [3, 1, 1] },
);

// ---- Mamba-1 selective scan ---------------------------------------------------------------------------------

const scan = (batch: number, D: number, N: number, segments: number[], note = ""): ScanCase => ({
  op: "selectiveScan",
  name: `batch ${batch} L=${segments.join("+")} D=${D} N=${N}${note}`,
  batch,
  D,
  N,
  segments,
  seed: sum(segments) + D,
});

const SCAN: ScanCase[] = [
  // Decode, one GPU chunk, several chunks of 32 with a shorter last one; N = 13.
  scan(2, 19, 13, [1]),
  scan(2, 19, 13, [5]),
  scan(2, 19, 13, [37]),
  scan(2, 19, 13, [70]),
  // Many chunks (the combine's prefetch of 8 chunk summaries, a ragged last group); the model's N = 16.
  scan(2, 40, 16, [300]),
  // One token past a whole number of chunks (a last chunk of one token).
  scan(1, 19, 13, [257]),
  // D over several GPU workgroups of 64 channels (idle lanes in the last one).
  scan(1, 70, 16, [45]),
  // N > 16: two GPU passes over the states, the second padded.
  scan(2, 11, 20, [3]),
  scan(2, 11, 20, [70]),
  // Prefill then decode, carrying the state: equal to one run over all tokens.
  scan(2, 11, 13, [8, 1]),
  scan(2, 8, 16, [8, 1]),
  // Decode tokens on WASM's per-channel step (N a multiple of 4, 4 channels at a time) beside its lane path for the
  // ragged last channels (D = 19), and N = 20.
  scan(2, 19, 16, [1, 1], ", per-channel step"),
  scan(3, 11, 20, [4, 1], ", per-channel step"),
  scan(2, 5, 3, [8, 1]),
  scan(2, 9, 13, [37, 1, 1, 1]),
];

// ---- Mamba-2 SSD --------------------------------------------------------------------------------------------

const ssd = (
  batch: number,
  segments: number[],
  H: number,
  P: number,
  G: number,
  N: number,
  Q: number,
  dt: [number, number] = [0, Infinity],
  zeroState = false,
): SsdCase => ({
  op: "ssd",
  name: `batch ${batch} L=${segments.join("+")} H=${H} P=${P} G=${G} N=${N} Q=${Q}` +
    (dt[0] > 0 || dt[1] < Infinity ? ` Δ∈[${dt[0]}, ${dt[1]}]` : "") + (zeroState ? " zero state" : ""),
  batch,
  H,
  P,
  G,
  N,
  Q,
  dtMin: dt[0],
  dtMax: dt[1],
  segments,
  seed: sum(segments) + H,
  zeroState,
});

const SSD: SsdCase[] = [
  ssd(2, [1], 4, 5, 2, 13, 8), // decode (recurrent path)
  ssd(2, [5], 4, 5, 2, 13, 8), // one partial chunk
  ssd(2, [37], 4, 5, 2, 13, 8), // several chunks, the last shorter
  ssd(2, [11], 4, 5, 2, 13, 4),
  ssd(1, [20], 3, 20, 1, 16, 8, [0.01, 0.8]),
  ssd(1, [37], 6, 3, 3, 7, 16, [0.01, 0.5]), // 3 groups
  ssd(2, [7], 6, 16, 3, 8, 16), // L < Q
  ssd(1, [33], 2, 7, 2, 5, 32), // one head per group; one token past a chunk
  ssd(3, [2], 2, 4, 1, 4, 1), // chunks of one token
  ssd(3, [16], 2, 4, 1, 16, 16), // L = Q exactly
  // Tiled GPU kernels: partial l / s / p / n tiles, several chunks, the last shorter, groups > 1.
  ssd(2, [150], 4, 16, 2, 32, 64),
  // More than one 64-wide tile along l, s, p and n, a chunk longer than the scan workgroup, L = 1 chunk + 1.
  ssd(1, [301], 2, 70, 1, 67, 300, [0.001, 0.2]),
  // WASM's register-tiled chunk (P a multiple of 8, tiles of 6 rows): the 130m head shape (P 64, Q 128 here),
  // tiles ragged along t, n and the chunk, N not a multiple of 4; and P = 24 (three 8-column tiles).
  ssd(1, [300], 3, 64, 1, 45, 128, [0.001, 0.3]),
  ssd(2, [70], 2, 24, 1, 20, 32),
  // A new sequence (zero initial state): WASM skips the first chunk's state-to-output term; the state carried into
  // the later chunks and calls is not zero.
  ssd(2, [70, 1, 30], 2, 24, 1, 20, 32, [0, Infinity], true),
  // WASM's decode fast path (N a multiple of 8: two state rows per pass, 8 lanes of n): P odd (the last row alone),
  // batch > 1, heads split over the threads, N = 24 (not a multiple of 16), the 130m head shape; N = 12 takes the
  // general path.
  ssd(3, [1], 4, 5, 2, 16, 8),
  ssd(2, [1], 3, 8, 1, 24, 8),
  ssd(1, [1], 2, 64, 1, 128, 8),
  ssd(2, [1], 3, 6, 1, 12, 8),
  ssd(2, [6, 1, 1, 1], 4, 7, 2, 32, 4),
  // State carried: chunked prefill then seqLen-1 steps equal one run.
  ssd(2, [9, 1, 1, 1], 4, 6, 2, 13, 4),
  ssd(2, [37, 1, 1, 1], 4, 5, 2, 13, 8),
];

// ---- gated RMSNorm ------------------------------------------------------------------------------------------

const GATED: GatedNormCase[] = [
  { op: "gatedRmsNorm", name: "T=5 D=24 group 8", T: 5, D: 24, group: 8, eps: 1e-6 },
  { op: "gatedRmsNorm", name: "T=5 D=24 group 24", T: 5, D: 24, group: 24, eps: 1e-6 },
  { op: "gatedRmsNorm", name: "T=5 D=30 group 10", T: 5, D: 30, group: 10, eps: 1e-6 },
  { op: "gatedRmsNorm", name: "T=5 D=6 group 3", T: 5, D: 6, group: 3, eps: 1e-6 },
  { op: "gatedRmsNorm", name: "T=5 D=96 group 96", T: 5, D: 96, group: 96, eps: 1e-5 },
  { op: "gatedRmsNorm", name: "T=5 D=96 group 24", T: 5, D: 96, group: 24, eps: 1e-5 },
];

// ---- block-quantized weights (q8_0, q4_0) --------------------------------------------------------------------

const QUANT_FORMATS: QuantFormat[] = ["q8_0", "q4_0"];

// K a multiple of the block (32); N odd or not a multiple of 4; GEMV (M = 1, decode) and GEMM (prefill) shapes.
const QUANT_SHAPES: [number, number, number, string][] = [
  [1, 32, 29, " (one block per row)"],
  [1, 256, 100, ""],
  [1, 768, 37, ""],
  [2, 64, 9, ""],
  [3, 96, 17, ""],
  [5, 160, 70, ""],
  [8, 96, 21, " (the GEMV's most rows)"],
  [9, 32, 65, ""],
  [13, 128, 9, ""],
  [67, 160, 131, ""],
  [130, 256, 66, ""],
  [261, 96, 259, ""],
  [70, 32, 300, " (split matrix)"],
  [70, 1536, 80, " (split-K)"],
];

const QUANT_LINEAR: QuantLinearCase[] = QUANT_FORMATS.flatMap((quant) =>
  QUANT_SHAPES.map(([M, K, N, note]): QuantLinearCase => ({
    op: "linear",
    quant,
    name: `${quant} M=${M} K=${K} N=${N}${note}`,
    M,
    K,
    N,
    tol: F32,
  }))
);

const QUANT_EMBED: QuantEmbedCase[] = QUANT_FORMATS.flatMap((quant): QuantEmbedCase[] => [
  { op: "embed", quant, name: `${quant} vocab 29 d=32`, vocab: 29, d: 32, ids: [0, 28, 7, 8, 15, 16, 3] },
  { op: "embed", quant, name: `${quant} vocab 41 d=96, a repeated id`, vocab: 41, d: 96, ids: [40, 0, 3, 3, 17] },
  { op: "embed", quant, name: `${quant} vocab 300 d=64`, vocab: 300, d: 64, ids: [0, 299, 15, 16, 31, 250, 7, 153] },
]);

/** A zero-filled quantized [n, k] matrix of `format` (k a multiple of 32). */
const qmat = (be: Backend, format: QuantFormat, n: number, k: number, label = "Wq") =>
  be.uploadQuantizedMatrix?.(
    { format, n, k, blocks: new Uint8Array(n * (k / 32) * (format === "q8_0" ? 34 : 18)) },
    label,
  );

const QUANT_ERRORS: ErrorCase[] = [
  {
    op: "uploadQuantizedMatrix",
    error: true,
    quant: "q8_0",
    name: "q8_0 rejects k = 48 (not a multiple of 32)",
    call: (be) => be.uploadQuantizedMatrix?.({ format: "q8_0", n: 2, k: 48, blocks: new Uint8Array(2 * 34) }, "Wq"),
  },
  {
    op: "uploadQuantizedMatrix",
    error: true,
    quant: "q4_0",
    name: "q4_0 rejects 71 bytes for [2, 64] (want 72)",
    call: (be) => be.uploadQuantizedMatrix?.({ format: "q4_0", n: 2, k: 64, blocks: new Uint8Array(71) }, "Wq"),
  },
  {
    op: "uploadQuantizedMatrix",
    error: true,
    quant: "q8_0",
    name: "q8_0 rejects 36 bytes for [1, 64] (q4_0's size; want 68)",
    call: (be) => be.uploadQuantizedMatrix?.({ format: "q8_0", n: 1, k: 64, blocks: new Uint8Array(36) }, "Wq"),
  },
  {
    op: "uploadQuantizedMatrix",
    error: true,
    quant: "q8_0",
    name: "rejects an unknown format (q5_0)",
    call: (be) =>
      be.uploadQuantizedMatrix?.(
        { format: "q5_0" as QuantFormat, n: 1, k: 32, blocks: new Uint8Array(22) },
        "Wq",
      ),
  },
  ...QUANT_FORMATS.flatMap((quant): ErrorCase[] => [
    {
      op: "linear",
      error: true,
      quant,
      name: `${quant} matrix: rejects input columns ≠ k`,
      call: (be) => be.linear(z(be, [2, 64]), qmat(be, quant, 3, 32)!),
    },
    {
      op: "linear",
      error: true,
      quant,
      name: `${quant} matrix: rejects a bias of the wrong size`,
      call: (be) => be.linear(z(be, [2, 32]), qmat(be, quant, 3, 32)!, z(be, [4])),
    },
    {
      op: "embed",
      error: true,
      quant,
      name: `${quant} matrix: rejects id = vocab`,
      call: (be) => be.embed(Int32Array.from([1, 29]), qmat(be, quant, 29, 32)!),
    },
  ]),
];

// ---- bad arguments ------------------------------------------------------------------------------------------

const z = (be: Backend, shape: number[], label = "t") => be.zeros(shape, label);
const mat = (be: Backend, n: number, k: number, label = "W") => be.uploadMatrix(new Float32Array(n * k), n, k, label);
const ids = (be: Backend, values: number[]) =>
  be.upload(new Float32Array(Int32Array.from(values).buffer), [values.length], "ids");

const ERRORS: ErrorCase[] = [
  {
    op: "upload",
    error: true,
    name: "rejects 5 values for shape [2, 3]",
    call: (be) => be.upload(new Float32Array(5), [2, 3], "x"),
  },
  {
    op: "uploadMatrix",
    error: true,
    name: "rejects 5 values for [2, 3]",
    call: (be) => be.uploadMatrix(new Float32Array(5), 2, 3, "W"),
  },
  {
    op: "embed",
    error: true,
    name: "rejects id = vocab",
    call: (be) => be.embed(Int32Array.from([1, 29]), mat(be, 29, 4)),
  },
  { op: "embed", error: true, name: "rejects id −1", call: (be) => be.embed(Int32Array.from([-1]), mat(be, 29, 4)) },
  {
    op: "argmaxInto",
    error: true,
    name: "rejects ids that do not fit",
    call: (be) => be.argmaxInto?.(z(be, [4, 3]), ids(be, [0, 0, 0, 0, 0, 0, 0]), 4),
  },
  {
    op: "argmaxInto",
    error: true,
    name: "rejects more candidates than columns",
    call: (be) => be.argmaxInto?.(z(be, [2, 3]), ids(be, [0, 0]), 0, 4),
  },
  {
    op: "argmaxInto",
    error: true,
    name: "rejects 0 candidates",
    call: (be) => be.argmaxInto?.(z(be, [2, 3]), ids(be, [0, 0]), 0, 0),
  },
  {
    op: "embedFrom",
    error: true,
    name: "rejects a count past the ids",
    call: (be) => be.embedFrom?.(ids(be, [0, 0, 0, 0, 0, 0, 0]), 5, 3, mat(be, 4, 2)),
  },
  {
    op: "rmsNorm",
    error: true,
    name: "rejects a weight of the wrong width",
    call: (be) => be.rmsNorm(z(be, [2, 5]), z(be, [4]), 1e-5),
  },
  { op: "add", error: true, name: "rejects different sizes", call: (be) => be.add(z(be, [2, 5]), z(be, [2, 4])) },
  {
    op: "linear",
    error: true,
    name: "rejects input columns ≠ k",
    call: (be) => be.linear(z(be, [2, 5]), mat(be, 3, 4, "W34")),
  },
  {
    op: "linear",
    error: true,
    name: "rejects a bias of the wrong size",
    call: (be) => be.linear(z(be, [2, 4]), mat(be, 3, 4, "W34"), z(be, [4])),
  },
  {
    op: "gatherRows",
    error: true,
    name: "rejects a row past the end",
    call: (be) => be.gatherRows(z(be, [7, 3]), Int32Array.from([0, 7])),
  },
  {
    op: "conv1d",
    error: true,
    name: "rejects rows ≠ batch · seqLen",
    call: (be) => be.conv1d({ tensor: z(be, [5, 3]), col: 0, cols: 3 }, z(be, [3, 4]), null, z(be, [2, 3, 3]), 2, 3),
  },
  {
    op: "conv1d",
    error: true,
    name: "rejects a state of the wrong size",
    call: (be) => be.conv1d({ tensor: z(be, [6, 3]), col: 0, cols: 3 }, z(be, [3, 4]), null, z(be, [2, 3, 2]), 2, 3),
  },
  {
    op: "selectiveScan",
    error: true,
    name: "rejects a state of the wrong size",
    call: (be) => {
      const t = z(be, [4, 10]); // u | delta | z (2 each), B | C (2 each)
      const v = (col: number) => ({ tensor: t, col, cols: 2 });
      return be.selectiveScan({
        u: v(0),
        delta: v(2),
        z: v(4),
        B: v(6),
        C: v(8),
        A: z(be, [2, 2]),
        D: z(be, [2]),
        state: z(be, [2, 2, 3]),
        batch: 2,
        seqLen: 2,
      });
    },
  },
  ...[
    ["rejects nHeads not a multiple of nGroups", 3, 2, [1, 3, 2, 4]],
    ["rejects a state of the wrong size", 2, 1, [1, 2, 2, 3]],
  ].map(([name, H, G, st]) => ({
    op: "ssd",
    error: true as const,
    name: name as string,
    call: (be: Backend) => {
      const h = H as number, g = G as number, P = 2, N = 4;
      const t = z(be, [3, h * P + 2 * g * N + h]);
      return be.ssd({
        x: { tensor: t, col: 0, cols: h * P },
        B: { tensor: t, col: h * P, cols: g * N },
        C: { tensor: t, col: h * P + g * N, cols: g * N },
        dt: { tensor: t, col: h * P + 2 * g * N, cols: h },
        dtBias: z(be, [h]),
        A: z(be, [h]),
        D: z(be, [h]),
        state: z(be, st as number[]),
        batch: 1,
        seqLen: 3,
        nHeads: h,
        headDim: P,
        nGroups: g,
        dState: N,
        chunkSize: 2,
        dtMin: 0,
        dtMax: Infinity,
      });
    },
  })),
  {
    op: "gatedRmsNorm",
    error: true,
    name: "rejects a group size that does not divide the width",
    call: (be) => be.gatedRmsNorm(z(be, [2, 37]), { tensor: z(be, [2, 37]), col: 0, cols: 37 }, z(be, [37]), 5, 1e-6),
  },
];

/** All cases, in registration order. */
export const CASES: OpCase[] = [
  ...DATA,
  ...EMBED,
  ...ARGMAX,
  ...EMBED_FROM,
  ...ROWS,
  ...LINEAR,
  ...GATHER,
  ...CONV1D,
  ...SCAN,
  ...SSD,
  ...GATED,
  ...ERRORS,
  ...QUANT_LINEAR,
  ...QUANT_EMBED,
  ...QUANT_ERRORS,
];
