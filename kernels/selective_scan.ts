/**
 * `selectiveScan` (Mamba-1): the recurrence h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t u_t, y_t = C_t·h_t + D u_t, gated by
 * SiLU(z), parallel over the sequence.
 *
 * Every kernel gives a workgroup {@link SCAN_WG} channels d of one (batch, chunk): a thread per channel keeps the
 * states n in registers and walks the chunk's tokens, with the chunk's B/C rows staged in workgroup memory (shared by
 * all channels of the workgroup) and Δ/u/z read coalesced over d; y's sum over n stays inside the thread.
 *
 * The sequence is cut into chunks ({@link scanChunk}: a multiple of 32 tokens, long enough that the chunks of all
 * sequences and channels give about {@link SCAN_TARGET_THREADS} threads). With one chunk (decode, short prompts) a
 * single dispatch scans it from the state and writes the state back. Otherwise three dispatches:
 * 1. `selective_scan_chunk` — per (b, chunk, d) the chunk scanned from 0 (one value per n) and Σ Δ, whose
 *    exp(A·ΣΔ) is the chunk's decay;
 * 2. `selective_scan_combine` — per (b, n, d) the prefix over chunks (a₁·a₀, a₁·b₀ + b₁) from the initial state,
 *    leaving the state entering each chunk, and the final state;
 * 3. `selective_scan_output` — per (b, chunk, d) rescan the chunk from its entering state and emit y.
 *
 * @module
 */
import { KERNELS, SCAN_MAX_STATES, SCAN_WG } from "./generated/kernels.ts";
import { grid, type Program, type Slice } from "./program.ts";

/**
 * Channels per workgroup of the chunk and output kernels, and the states a thread keeps in registers per pass over
 * n (larger N takes several passes): constants of kernels/include/scan_tile.wgsl.
 */
export { SCAN_MAX_STATES, SCAN_WG };

/** Chunks are a multiple of this many tokens (and at least this long). */
export const SCAN_MIN_CHUNK = 32;

/** Threads (batch · chunks · D) a chunked scan aims for: enough to occupy a large GPU (e.g. 132 SMs). */
export const SCAN_TARGET_THREADS = 1 << 17;

/** A view operand: its tensor's row stride and first column. */
export interface ViewPlace {
  stride: number;
  col: number;
}

/** Shapes of a selective scan. */
export interface ScanDims {
  batch: number;
  seqLen: number;
  /** Channels D. */
  d: number;
  /** State size N. */
  n: number;
  u: ViewPlace;
  delta: ViewPlace;
  B: ViewPlace;
  C: ViewPlace;
  z: ViewPlace;
}

/** Bindings of a selective scan. `scratch` is null for a single chunk. */
export interface ScanSlices {
  u: Slice; // (T, ·)
  delta: Slice; // (T, ·)
  A: Slice; // (D, N)
  B: Slice; // (T, ·)
  C: Slice; // (T, ·)
  D: Slice; // (D)
  z: Slice; // (T, ·)
  state: Slice; // (batch, D, N)
  y: Slice; // (T, D)
  /** {@link scanScratchFloats} floats laid out by {@link scanScratchLayout}; null with one chunk. */
  scratch: Slice | null;
  /** Unused (kept for callers): the kernels bind regions of `scratch`. */
  scratchStates: Slice | null;
  /** A and D as f16 pairs (include/half_params.wgsl). */
  p16?: boolean;
}

/** Tokens per chunk of a scan. */
export function scanChunk(d: Pick<ScanDims, "batch" | "seqLen" | "d">): number {
  const chunks = Math.max(1, Math.ceil(SCAN_TARGET_THREADS / Math.max(1, d.batch * d.d)));
  const len = Math.ceil(d.seqLen / chunks);
  return Math.max(SCAN_MIN_CHUNK, Math.ceil(len / SCAN_MIN_CHUNK) * SCAN_MIN_CHUNK);
}

/** Number of chunks of a scan. */
export function scanChunks(d: Pick<ScanDims, "batch" | "seqLen" | "d">): number {
  return Math.max(1, Math.ceil(d.seqLen / scanChunk(d)));
}

/** Region alignment in floats (256 bytes: minStorageBufferOffsetAlignment at its largest). */
const ALIGN = 64;
const up = (x: number) => Math.ceil(x / ALIGN) * ALIGN;

/**
 * Float offsets of the scratch regions: `hstart` (batch, chunks, N, D) the states entering each chunk, `bsum`
 * (batch, chunks, N, D) each chunk scanned from 0, `dsum` (batch, chunks, D) each chunk's Σ Δ; `total` floats.
 */
export function scanScratchLayout(d: ScanDims): { hstart: number; bsum: number; dsum: number; total: number } {
  const nc = scanChunks(d);
  const states = d.batch * nc * d.n * d.d;
  const bsum = up(states);
  const dsum = bsum + up(states);
  return { hstart: 0, bsum, dsum, total: dsum + up(d.batch * nc * d.d) };
}

/** Floats of scratch a scan needs (0 when it fits in one chunk). */
export function scanScratchFloats(d: ScanDims): number {
  return scanChunks(d) <= 1 ? 0 : scanScratchLayout(d).total;
}

const COMBINE_WG = KERNELS.selective_scan_combine.overrides.WG;

function region(s: Slice, first: number, floats: number): Slice {
  return { buffer: s.buffer, offset: s.offset + first * 4, size: Math.max(1, floats) * 4 };
}

/** The dispatches of one selective scan, in order. */
export function selectiveScanPrograms(s: ScanSlices, d: ScanDims): Program[] {
  const chunk = scanChunk(d);
  const nc = scanChunks(d);
  const single = nc <= 1;
  const nb = Math.min(d.n, SCAN_MAX_STATES);
  const wgs: [number, number, number] = [Math.ceil(d.d / SCAN_WG), nc, d.batch];
  const out: Program[] = [];
  const p16 = s.p16 ? 1 : 0;
  let hs = s.state;
  if (!single) {
    if (!s.scratch) throw new Error("selectiveScan: scratch required for a chunked scan");
    const lay = scanScratchLayout(d);
    const states = d.batch * nc * d.n * d.d;
    hs = region(s.scratch, lay.hstart, states);
    const bsum = region(s.scratch, lay.bsum, states);
    const dsum = region(s.scratch, lay.dsum, d.batch * nc * d.d);
    out.push({
      kernel: "selective_scan_chunk",
      label: "scan_chunk",
      constants: { NB: nb, P16: p16 },
      bindings: { u: s.u, delta: s.delta, A: s.A, Bm: s.B, bsum, dsum },
      uniforms: {
        seq_len: d.seqLen,
        d: d.d,
        n: d.n,
        n_chunks: nc,
        chunk,
        u_stride: d.u.stride,
        u_col: d.u.col,
        dl_stride: d.delta.stride,
        dl_col: d.delta.col,
        b_stride: d.B.stride,
        b_col: d.B.col,
      },
      workgroups: wgs,
    });
    out.push({
      kernel: "selective_scan_combine",
      label: "scan_combine",
      constants: { WG: COMBINE_WG, P16: p16 },
      bindings: { A: s.A, bsum, dsum, hstart: hs, state: s.state },
      uniforms: { batch: d.batch, d: d.d, n: d.n, n_chunks: nc },
      workgroups: grid(d.batch * d.d * d.n, COMBINE_WG),
    });
  }
  out.push({
    kernel: "selective_scan_output",
    label: single ? "scan_step" : "scan_output",
    constants: { NB: nb, P16: p16 },
    bindings: { u: s.u, delta: s.delta, A: s.A, Bm: s.B, Cm: s.C, Dv: s.D, z: s.z, hs, y: s.y },
    uniforms: {
      seq_len: d.seqLen,
      d: d.d,
      n: d.n,
      n_chunks: nc,
      chunk: single ? d.seqLen : chunk,
      write_state: single ? 1 : 0,
      hs_n: single ? 1 : d.d,
      hs_d: single ? d.n : 1,
      u_stride: d.u.stride,
      u_col: d.u.col,
      dl_stride: d.delta.stride,
      dl_col: d.delta.col,
      b_stride: d.B.stride,
      b_col: d.B.col,
      c_stride: d.C.stride,
      c_col: d.C.col,
      z_stride: d.z.stride,
      z_col: d.z.col,
    },
    workgroups: wgs,
  });
  return out;
}
