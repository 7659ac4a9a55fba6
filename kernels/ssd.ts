/**
 * `ssd` (Mamba-2 state-space duality). Prefill runs the chunked algorithm of `ssd_minimal.py` in five
 * dispatches over chunks of Q = chunkSize tokens (the last one shorter):
 * 0. `ssd_dt`    — Δ = clamp(softplus(dt + dt_bias)) and A_cum = cumsum(A·Δ), one workgroup scan per (b, h, chunk);
 * 1. `ssd_cb`    — CB = C·Bᵀ per (b, chunk, group), causal (64 × 64 tiles on or below the diagonal);
 * 2. `ssd_state` — the state each chunk produces from zero: Σ_l B_l exp(A_cum[Q−1] − A_cum[l]) Δ_l x_l
 *                  (64 × 64 (p, n) tiles, k = l);
 * 3. `ssd_pass`  — inter-chunk recurrence from the initial state (states entering chunks, final state);
 * 4. `ssd_out`   — y = (CB ∘ exp(segsum) ∘ Δ) x + exp(A_cum) C·prev + D x (64 × 64 (l, p) tiles, k = n then s).
 * Steps 1, 2 and 4 are register-tiled GEMMs (4 × 4 outputs per thread, k slices staged in workgroup memory).
 * Decode (seqLen = 1) is one fused recurrent dispatch, `ssd_step`.
 *
 * @module
 */
import { KERNELS, SSD_TILE } from "./generated/kernels.ts";
import { finiteF32, grid, type Program, type Slice } from "./program.ts";
import type { ViewPlace } from "./selective_scan.ts";

/** Shapes of an SSD call. */
export interface SsdDims {
  batch: number;
  seqLen: number;
  heads: number;
  headDim: number;
  groups: number;
  n: number;
  chunk: number;
  dtMin: number;
  dtMax: number;
  x: ViewPlace;
  dt: ViewPlace;
  B: ViewPlace;
  C: ViewPlace;
}

/** Bindings of an SSD call; scratch slices are null for the recurrent path. */
export interface SsdSlices {
  x: Slice; // (T, ·)
  dt: Slice; // (T, ·)
  dtBias: Slice; // (H)
  A: Slice; // (H)
  B: Slice; // (T, ·)
  C: Slice; // (T, ·)
  D: Slice; // (H)
  state: Slice; // (batch, H, P, N)
  y: Slice; // (T, H·P)
  dtc: Slice | null; // (batch, H, chunks, Q)
  acs: Slice | null; // (batch, H, chunks, Q)
  cb: Slice | null; // (batch, chunks, G, Q, Q)
  st: Slice | null; // (batch, chunks, H, P, N)
  /** A and D as f16 pairs (include/half_params.wgsl). */
  p16?: boolean;
}

/** Tiles of the SSD GEMMs' output edge (`SSD_TILE` of kernels/include/ssd_tile.wgsl) covering `n`. */
function tiles(n: number): number {
  return Math.ceil(n / SSD_TILE);
}

const STEP_WG = KERNELS.ssd_step.overrides.WG;
const PASS_WG = KERNELS.ssd_pass.overrides.WG;

/** Whether a call takes the fused recurrent path. */
export function ssdRecurrent(d: SsdDims): boolean {
  return d.seqLen === 1;
}

/** Floats of each scratch buffer of the chunked path. */
export function ssdScratchFloats(d: SsdDims): { dtc: number; acs: number; cb: number; st: number } {
  const nc = Math.ceil(d.seqLen / d.chunk);
  return {
    dtc: d.batch * d.heads * nc * d.chunk,
    acs: d.batch * d.heads * nc * d.chunk,
    cb: d.batch * nc * d.groups * d.chunk * d.chunk,
    st: d.batch * nc * d.heads * d.headDim * d.n,
  };
}

/** The dispatches of one SSD call, in order. */
export function ssdPrograms(s: SsdSlices, d: SsdDims): Program[] {
  const dtMin = finiteF32(d.dtMin), dtMax = finiteF32(d.dtMax);
  const P16 = s.p16 ? 1 : 0;
  if (ssdRecurrent(d)) {
    return [{
      kernel: "ssd_step",
      label: "ssd_step",
      constants: { WG: STEP_WG, P16 },
      bindings: { x: s.x, dt: s.dt, dt_bias: s.dtBias, A: s.A, Bm: s.B, Cm: s.C, Dv: s.D, state: s.state, y: s.y },
      uniforms: {
        batch: d.batch,
        seq_len: d.seqLen,
        heads: d.heads,
        head_dim: d.headDim,
        groups: d.groups,
        n: d.n,
        x_stride: d.x.stride,
        x_col: d.x.col,
        dt_stride: d.dt.stride,
        dt_col: d.dt.col,
        b_stride: d.B.stride,
        b_col: d.B.col,
        c_stride: d.C.stride,
        c_col: d.C.col,
        dt_min: dtMin,
        dt_max: dtMax,
      },
      workgroups: grid(d.batch * d.heads * d.headDim, STEP_WG),
    }];
  }
  const { dtc, acs, cb, st } = s;
  if (!dtc || !acs || !cb || !st) throw new Error("ssd: scratch required for the chunked path");
  const nc = Math.ceil(d.seqLen / d.chunk);
  const Q = d.chunk;
  return [
    {
      kernel: "ssd_dt",
      label: "ssd_dt",
      constants: { P16 },
      bindings: { dt: s.dt, dt_bias: s.dtBias, A: s.A, dtc, acs },
      uniforms: {
        batch: d.batch,
        seq_len: d.seqLen,
        heads: d.heads,
        n_chunks: nc,
        chunk: Q,
        dt_stride: d.dt.stride,
        dt_col: d.dt.col,
        dt_min: dtMin,
        dt_max: dtMax,
      },
      workgroups: grid(d.batch * d.heads * nc),
    },
    {
      kernel: "ssd_cb",
      label: "ssd_cb",
      constants: {},
      bindings: { Bm: s.B, Cm: s.C, cb },
      uniforms: {
        batch: d.batch,
        seq_len: d.seqLen,
        groups: d.groups,
        n: d.n,
        n_chunks: nc,
        chunk: Q,
        b_stride: d.B.stride,
        b_col: d.B.col,
        c_stride: d.C.stride,
        c_col: d.C.col,
      },
      workgroups: grid(d.batch * nc * d.groups * tiles(Q) * tiles(Q)),
    },
    {
      kernel: "ssd_state",
      label: "ssd_state",
      constants: {},
      bindings: { x: s.x, Bm: s.B, dtc, acs, st },
      uniforms: {
        batch: d.batch,
        seq_len: d.seqLen,
        heads: d.heads,
        head_dim: d.headDim,
        groups: d.groups,
        n: d.n,
        n_chunks: nc,
        chunk: Q,
        x_stride: d.x.stride,
        x_col: d.x.col,
        b_stride: d.B.stride,
        b_col: d.B.col,
      },
      workgroups: grid(d.batch * nc * d.heads * tiles(d.headDim) * tiles(d.n)),
    },
    {
      kernel: "ssd_pass",
      label: "ssd_pass",
      constants: { WG: PASS_WG },
      bindings: { acs, st, state: s.state },
      uniforms: { batch: d.batch, heads: d.heads, head_dim: d.headDim, n: d.n, n_chunks: nc, chunk: Q },
      workgroups: grid(d.batch * d.heads * d.headDim * d.n, PASS_WG),
    },
    {
      kernel: "ssd_out",
      label: "ssd_out",
      constants: { P16 },
      bindings: { x: s.x, Cm: s.C, Dv: s.D, dtc, acs, cb, st, y: s.y },
      uniforms: {
        batch: d.batch,
        seq_len: d.seqLen,
        heads: d.heads,
        head_dim: d.headDim,
        groups: d.groups,
        n: d.n,
        n_chunks: nc,
        chunk: Q,
        x_stride: d.x.stride,
        x_col: d.x.col,
        c_stride: d.C.stride,
        c_col: d.C.col,
      },
      workgroups: grid(d.batch * nc * d.heads * tiles(Q) * tiles(d.headDim)),
    },
  ];
}
