/**
 * `selectiveScan` (Mamba-1): the recurrence h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t u_t, y_t = C_t·h_t + D u_t, gated by
 * SiLU(z), parallel over the sequence.
 *
 * The sequence is cut into chunks of {@link SCAN_CHUNK} tokens. With one chunk (decode, short prompts) a single
 * dispatch scans it from the state and writes the state back. Otherwise three dispatches:
 * 1. `selective_scan_chunk` — per (b, chunk, d, n) the chunk's composed step (a, b) = (Π exp(ΔA), scan from 0);
 * 2. `selective_scan_combine` — per (b, d, n) the prefix over chunks (a₁·a₀, a₁·b₀ + b₁) from the initial state,
 *    leaving the state entering each chunk, and the final state;
 * 3. `selective_scan_output` — per (b, chunk, d) rescan the chunk from its entering state and emit y.
 *
 * @module
 */
import { grid, type Program, type Slice } from "./program.ts";

/** Tokens per chunk (the constant CH of selective_scan_output.wgsl). */
export const SCAN_CHUNK = 32;

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
  /** (2, batch, chunks, D, N) chunk summaries, {@link scanScratchFloats} floats; null with one chunk. */
  scratch: Slice | null;
  /** The first half of scratch: the states entering each chunk. */
  scratchStates: Slice | null;
}

/** Number of chunks of a scan. */
export function scanChunks(seqLen: number): number {
  return Math.ceil(seqLen / SCAN_CHUNK);
}

/** Floats of scratch a scan needs (0 when it fits in one chunk). */
export function scanScratchFloats(d: ScanDims): number {
  const nc = scanChunks(d.seqLen);
  return nc <= 1 ? 0 : 2 * d.batch * nc * d.d * d.n;
}

/** The dispatches of one selective scan, in order. */
export function selectiveScanPrograms(s: ScanSlices, d: ScanDims): Program[] {
  const nc = scanChunks(d.seqLen);
  const single = nc <= 1;
  const out: Program[] = [];
  if (!single) {
    if (!s.scratch || !s.scratchStates) throw new Error("selectiveScan: scratch required for a chunked scan");
    out.push({
      kernel: "selective_scan_chunk",
      label: "scan_chunk",
      constants: { WG: 256 },
      storage: [s.u, s.delta, s.A, s.B, s.scratch],
      uniforms: [
        ["u32", d.batch],
        ["u32", d.seqLen],
        ["u32", d.d],
        ["u32", d.n],
        ["u32", nc],
        ["u32", SCAN_CHUNK],
        ["u32", d.u.stride],
        ["u32", d.u.col],
        ["u32", d.delta.stride],
        ["u32", d.delta.col],
        ["u32", d.B.stride],
        ["u32", d.B.col],
      ],
      workgroups: grid(d.batch * nc * d.d * d.n, 256),
    });
    out.push({
      kernel: "selective_scan_combine",
      label: "scan_combine",
      constants: { WG: 256 },
      storage: [s.scratch, s.state],
      uniforms: [["u32", d.batch], ["u32", d.d], ["u32", d.n], ["u32", nc]],
      workgroups: grid(d.batch * d.d * d.n, 256),
    });
  }
  out.push({
    kernel: "selective_scan_output",
    label: single ? "scan_step" : "scan_output",
    constants: { WG: 64 },
    storage: [s.u, s.delta, s.A, s.B, s.C, s.D, s.z, single ? s.state : s.scratchStates!, s.y],
    uniforms: [
      ["u32", d.batch],
      ["u32", d.seqLen],
      ["u32", d.d],
      ["u32", d.n],
      ["u32", nc],
      ["u32", single ? 1 : 0],
      ["u32", d.u.stride],
      ["u32", d.u.col],
      ["u32", d.delta.stride],
      ["u32", d.delta.col],
      ["u32", d.B.stride],
      ["u32", d.B.col],
      ["u32", d.C.stride],
      ["u32", d.C.col],
      ["u32", d.z.stride],
      ["u32", d.z.col],
    ],
    workgroups: grid(d.batch * nc * d.d, 64),
  });
  return out;
}
