// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// Mamba-2 SSD: chunked prefill (the 4 steps of ssd_minimal) and the recurrent decode step.
//
// Notation per sequence b, head h (group g = ⌊h / (H/G)⌋), chunk of Lc ≤ Q tokens starting at token c0:
//   dt'_s = clamp(softplus(dt[s,h] + dtBias[h]), dtMin, dtMax), cs_t = Σ_{s≤t} dt'_s·A[h] (within the chunk)
//   1. intra-chunk: y[t,p] += Σ_{s≤t} (C_t·B_s)·exp(cs_t − cs_s)·dt'_s · x[s,p]
//   2. chunk state: S[p,n] = Σ_s exp(cs_last − cs_s)·dt'_s·x[s,p]·B[s,n]
//   3. state passing: h_out = exp(cs_last)·h_in + S (h_in: the initial state for the first chunk)
//   4. state → output: y[t,p] += exp(cs_t)·Σ_n C[t,n]·h_in[p,n]
// plus y += Dskip[h]·x. During the chunked kernel the state of each head is kept transposed, hT[n][p], so every
// product above vectorises over p without horizontal sums.

import { paramAt } from "./half";
import { exp4, expf, fma4, hsum, loadLanes, softplus4, softplusf, storeLanes, storeTransposed4 } from "./simd_math";

/** Floats rounded up to a multiple of 4 (16-byte aligned sub-buffers). */
// @ts-ignore: decorator
@inline function pad4(n: i32): usize {
  return <usize>((n + 3) & ~3);
}

/** Scratch bytes the chunked kernel needs per thread for chunk Q, head dim P and state N. */
export function ssd_scratch_bytes(Q: i32, P: i32, N: i32): usize {
  return (pad4(Q * Q + 4) + 3 * pad4(Q + 8) + pad4(N) + pad4(P * N) + pad4(Q * N) + <usize>N * pad4(Q + 8) + pad4(Q * P) +
    <usize>Q * pad4(Q + 8) + pad4(Q * P) + 2 * pad4(Q + 8)) << 2;
}

/**
 * Transposes a (rows, cols) block at p in place through tmp (rows·cols floats): by 4×4 register transposes (4 loads,
 * 8 shuffles, 4 stores) when both sides are multiples of 4, else one float at a time.
 */
function transposeInPlace(p: usize, rows: i32, cols: i32, tmp: usize): void {
  memory.copy(tmp, p, (<usize>rows * <usize>cols) << 2);
  if (((rows | cols) & 3) == 0) {
    const rs = <usize>cols << 2; // bytes of a source row
    const ds = <usize>rows << 2; // bytes of a destination row
    for (let r = 0; r < rows; r += 4) {
      for (let c = 0; c < cols; c += 4) {
        const s = tmp + <usize>r * rs + (<usize>c << 2);
        const d = p + <usize>c * ds + (<usize>r << 2);
        storeTransposed4(d, ds, v128.load(s), v128.load(s + rs), v128.load(s + 2 * rs), v128.load(s + 3 * rs));
      }
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      store<f32>(p + ((<usize>(c * rows + r)) << 2), load<f32>(tmp + ((<usize>(r * cols + c)) << 2)));
    }
  }
}

/**
 * Chunked SSD for heads [h0, h1) of every sequence (requires seqLen ≥ 1; used for seqLen ≥ 2).
 * x: (batch·seqLen, ·) stride xS (head h at column h·P); dt: stride dtS (column h); B, C: strides bS, cS
 * (group g at column g·N); dtBias, A, Dskip: (H); state: (batch, H, P, N); out: (batch·seqLen, H·P). half: bit 0 —
 * A holds f16 (converted once per head); bit 1 — Dskip holds f16.
 * scratch: ssd_scratch_bytes(Q, P, N), 16-byte aligned, private to the calling thread.
 *
 * The chunk's B, C (per group) and x (per head) are first copied to contiguous scratch: the activation rows are
 * several KiB apart, and walking them directly maps every row onto the same few L1 sets.
 */
export function ssd_chunked(
  x: usize,
  xS: i32,
  dt: usize,
  dtS: i32,
  dtBias: usize,
  A: usize,
  B: usize,
  bS: i32,
  C: usize,
  cS: i32,
  Dskip: usize,
  half: i32,
  state: usize,
  out: usize,
  H: i32,
  P: i32,
  G: i32,
  N: i32,
  batch: i32,
  seqLen: i32,
  Q: i32,
  dtMin: f32,
  dtMax: f32,
  h0: i32,
  h1: i32,
  scratch: usize,
): void {
  const Qs = pad4(Q + 8); // row length of the (·, Q) buffers: spare lanes for vector loops over s ≤ t and L's diagonal
  const cb = scratch; // (Q, Q) C_t·B_s of the current group and chunk
  const dtp = cb + (pad4(Q * Q + 4) << 2); // (Q) dt'_s, later exp(cs_last − cs_s)·dt'_s
  const cs = dtp + (Qs << 2); // (Q) cumulative dt'·A within the chunk
  const coef = cs + (Qs << 2); // (Q) per-row coefficients
  const crow = coef + (Qs << 2); // (N) exp(cs_t)·C[t, :]
  const tmp = crow + (pad4(N) << 2); // (P·N) transpose buffer
  const cc = tmp + (pad4(P * N) << 2); // (Q, N) C of the chunk, contiguous
  const bt = cc + (pad4(Q * N) << 2); // (N, Qs) B of the chunk, transposed
  const xc = bt + ((<usize>N * Qs) << 2); // (Q, P) x of the chunk and head, contiguous
  // The tiled path (P a multiple of 8): the chunk's three products as register-tiled matrix products.
  const lm = xc + (pad4(Q * P) << 2); // (Q, Qs) L[t, s] = CB[t, s]·exp(cs_t − cs_s)·dt'_s for s ≤ t, else 0
  const xw = lm + ((<usize>Q * Qs) << 2); // (Q, P) x[s, :]·exp(cs_last − cs_s)·dt'_s
  const ecs = xw + (pad4(Q * P) << 2); // (Q) exp(cs_t)
  const ft = ecs + (Qs << 2); // (Q) exp(cs_t − cs_t0), t0 the first row of t's tile
  const headsPerGroup = H / G;
  const stateHead = (<usize>P * <usize>N) << 2;
  for (let b = 0; b < batch; b++) {
    for (let h = h0; h < h1; h++) transposeInPlace(state + <usize>(b * H + h) * stateHead, P, N, tmp);
    for (let c0 = 0; c0 < seqLen; c0 += Q) {
      const Lc = min(Q, seqLen - c0);
      const r0 = b * seqLen + c0; // first row of the chunk
      let cachedGroup = -1;
      for (let h = h0; h < h1; h++) {
        const g = h / headsPerGroup;
        if (g != cachedGroup) {
          groupChunk(B + (<usize>(g * N) << 2), bS, C + (<usize>(g * N) << 2), cS, N, r0, Lc, Q, Qs, cb, cc, bt);
          cachedGroup = g;
        }
        const xh = x + (<usize>(h * P) << 2);
        for (let s = 0; s < Lc; s++) {
          memory.copy(xc + ((<usize>(s * P)) << 2), xh + ((<usize>(r0 + s) * <usize>xS) << 2), <usize>P << 2);
        }
        if ((P & 7) == 0) {
          headChunkTiled(
            dt + (<usize>h << 2),
            dtS,
            load<f32>(dtBias + (<usize>h << 2)),
            paramAt(A, <usize>h, (half & 1) != 0),
            paramAt(Dskip, <usize>h, (half & 2) != 0),
            state + <usize>(b * H + h) * stateHead,
            out + ((<usize>r0 * <usize>(H * P) + <usize>(h * P)) << 2),
            H * P,
            P,
            N,
            r0,
            Lc,
            Q,
            Qs,
            dtMin,
            dtMax,
            cb,
            dtp,
            cs,
            cc,
            bt,
            xc,
            lm,
            xw,
            ecs,
            ft,
            coef,
            c0 == 0 && allZero(state + <usize>(b * H + h) * stateHead, P * N),
          );
        } else headChunk(
          dt + (<usize>h << 2),
          dtS,
          load<f32>(dtBias + (<usize>h << 2)),
          paramAt(A, <usize>h, (half & 1) != 0),
          paramAt(Dskip, <usize>h, (half & 2) != 0),
          state + <usize>(b * H + h) * stateHead,
          out + ((<usize>r0 * <usize>(H * P) + <usize>(h * P)) << 2),
          H * P,
          P,
          N,
          r0,
          Lc,
          Q,
          Qs,
          dtMin,
          dtMax,
          cb,
          dtp,
          cs,
          coef,
          crow,
          cc,
          bt,
          xc,
        );
      }
    }
    for (let h = h0; h < h1; h++) transposeInPlace(state + <usize>(b * H + h) * stateHead, N, P, tmp);
  }
}

/**
 * Copies one group's C (cc: (Lc, N)) and B (bt: (N, Qs), transposed) of a chunk into scratch and computes
 * CB[t, s] = C_t · B_s for s ≤ t, 4 values of s at a time (lanes past t are garbage and never read).
 */
function groupChunk(
  bg: usize,
  bS: i32,
  cg: usize,
  cS: i32,
  N: i32,
  r0: i32,
  Lc: i32,
  Q: i32,
  Qs: usize,
  cb: usize,
  cc: usize,
  bt: usize,
): void {
  for (let t = 0; t < Lc; t++) {
    memory.copy(cc + ((<usize>(t * N)) << 2), cg + ((<usize>(r0 + t) * <usize>cS) << 2), <usize>N << 2);
    const br = bg + ((<usize>(r0 + t) * <usize>bS) << 2);
    for (let n = 0; n < N; n++) store<f32>(bt + ((<usize>n * Qs + <usize>t) << 2), load<f32>(br + (<usize>n << 2)));
  }
  let t = 0;
  // Four rows at a time share each load of Bᵀ: four independent accumulator chains instead of one, each summing
  // over n in the same order as the single row below (bit-identical). With Q a multiple of 4 no vector of s
  // crosses a row's end, so a row's spare lanes never land on the next rows' values.
  if ((Q & 3) == 0) {
    const ns = <usize>N << 2, qs = <usize>Q << 2;
    for (; t + 4 <= Lc; t += 4) {
      const c0 = cc + <usize>t * ns;
      const o0 = cb + <usize>t * qs;
      for (let s = 0; s <= t + 3; s += 4) {
        let a0 = f32x4.splat(0.0), a1 = f32x4.splat(0.0), a2 = f32x4.splat(0.0), a3 = f32x4.splat(0.0);
        let bp = bt + (<usize>s << 2);
        for (let n: usize = 0; n < ns; n += 4) {
          const bv = v128.load(bp);
          a0 = fma4(v128.load32_splat(c0 + n), bv, a0);
          a1 = fma4(v128.load32_splat(c0 + ns + n), bv, a1);
          a2 = fma4(v128.load32_splat(c0 + 2 * ns + n), bv, a2);
          a3 = fma4(v128.load32_splat(c0 + 3 * ns + n), bv, a3);
          bp += Qs << 2;
        }
        const so = <usize>s << 2;
        v128.store(o0 + so, a0);
        v128.store(o0 + qs + so, a1);
        v128.store(o0 + 2 * qs + so, a2);
        v128.store(o0 + 3 * qs + so, a3);
      }
    }
  }
  for (; t < Lc; t++) {
    const ct = cc + ((<usize>(t * N)) << 2);
    const cbt = cb + ((<usize>(t * Q)) << 2);
    for (let s = 0; s <= t; s += 4) {
      let acc = f32x4.splat(0.0);
      let bp = bt + (<usize>s << 2);
      for (let n = 0; n < N; n++) {
        acc = fma4(v128.load32_splat(ct + (<usize>n << 2)), v128.load(bp), acc);
        bp += Qs << 2;
      }
      v128.store(cbt + (<usize>s << 2), acc);
    }
  }
}

/**
 * Output register tile of 6 rows t × 8 columns p (steps 4, 1 and the skip):
 *   out[i, j] = e[i]·Σ_{k < k1} A1[i, k]·B1[k, j] + D·X[i, j] + Σ_{k < k2} A2[i, k]·B2[k, j]
 * for rows i < rows (1..6; missing rows alias row 0 and are not stored) and 8 columns j. A1, A2 row-major with row
 * strides a1s, a2s bytes (one value broadcast per k), B1, B2 with row strides b1s, b2s bytes (two f32x4 per k), X and
 * out with strides xs, os bytes, e: one scale per row (f32, consecutive). The row scale is applied to the first sum in
 * the accumulators between the two products, so A1 is the group's C as copied (not a per-head scaled copy of it). The
 * two products are two loops written out, not one loop over both: each loop keeps only its own pointers live.
 * 12 accumulators, 2 B vectors and a broadcast: V8's 15 allocatable xmm registers, as linear's tile6x8.
 */
// @ts-ignore: decorator
@inline function tileOut6x8(
  rows: i32,
  a1: usize, a1s: usize, b1: usize, b1s: usize, k1: i32, e: usize,
  a2: usize, a2s: usize, b2: usize, b2s: usize, k2: i32,
  dv: v128, px: usize, xs: usize,
  po: usize, os: usize,
): void {
  const r1 = rows > 1 ? 1 : 0, r2 = rows > 2 ? 2 : 0, r3 = rows > 3 ? 3 : 0, r4 = rows > 4 ? 4 : 0, r5 = rows > 5 ? 5 : 0;
  let c0 = f32x4.splat(0.0), d0 = f32x4.splat(0.0), c1 = f32x4.splat(0.0), d1 = f32x4.splat(0.0);
  let c2 = f32x4.splat(0.0), d2 = f32x4.splat(0.0), c3 = f32x4.splat(0.0), d3 = f32x4.splat(0.0);
  let c4 = f32x4.splat(0.0), d4 = f32x4.splat(0.0), c5 = f32x4.splat(0.0), d5 = f32x4.splat(0.0);
  {
    const q0 = a1, q1 = a1 + r1 * a1s, q2 = a1 + r2 * a1s, q3 = a1 + r3 * a1s, q4 = a1 + r4 * a1s, q5 = a1 + r5 * a1s;
    let bp = b1;
    const bs = b1s;
    const kb = <usize>k1 << 2;
    for (let o: usize = 0; o < kb; o += 4) {
      const bl = v128.load(bp);
      const bh = v128.load(bp, 16);
      const s0 = v128.load32_splat(q0 + o);
      c0 = fma4(s0, bl, c0);
      d0 = fma4(s0, bh, d0);
      const s1 = v128.load32_splat(q1 + o);
      c1 = fma4(s1, bl, c1);
      d1 = fma4(s1, bh, d1);
      const s2 = v128.load32_splat(q2 + o);
      c2 = fma4(s2, bl, c2);
      d2 = fma4(s2, bh, d2);
      const s3 = v128.load32_splat(q3 + o);
      c3 = fma4(s3, bl, c3);
      d3 = fma4(s3, bh, d3);
      const s4 = v128.load32_splat(q4 + o);
      c4 = fma4(s4, bl, c4);
      d4 = fma4(s4, bh, d4);
      const s5 = v128.load32_splat(q5 + o);
      c5 = fma4(s5, bl, c5);
      d5 = fma4(s5, bh, d5);
      bp += bs;
    }
  }
  let ev = v128.load32_splat(e);
  c0 = fma4(ev, c0, f32x4.mul(dv, v128.load(px)));
  d0 = fma4(ev, d0, f32x4.mul(dv, v128.load(px, 16)));
  ev = v128.load32_splat(e + r1 * 4);
  c1 = fma4(ev, c1, f32x4.mul(dv, v128.load(px + r1 * xs)));
  d1 = fma4(ev, d1, f32x4.mul(dv, v128.load(px + r1 * xs, 16)));
  ev = v128.load32_splat(e + r2 * 4);
  c2 = fma4(ev, c2, f32x4.mul(dv, v128.load(px + r2 * xs)));
  d2 = fma4(ev, d2, f32x4.mul(dv, v128.load(px + r2 * xs, 16)));
  ev = v128.load32_splat(e + r3 * 4);
  c3 = fma4(ev, c3, f32x4.mul(dv, v128.load(px + r3 * xs)));
  d3 = fma4(ev, d3, f32x4.mul(dv, v128.load(px + r3 * xs, 16)));
  ev = v128.load32_splat(e + r4 * 4);
  c4 = fma4(ev, c4, f32x4.mul(dv, v128.load(px + r4 * xs)));
  d4 = fma4(ev, d4, f32x4.mul(dv, v128.load(px + r4 * xs, 16)));
  ev = v128.load32_splat(e + r5 * 4);
  c5 = fma4(ev, c5, f32x4.mul(dv, v128.load(px + r5 * xs)));
  d5 = fma4(ev, d5, f32x4.mul(dv, v128.load(px + r5 * xs, 16)));
  {
    const q0 = a2, q1 = a2 + r1 * a2s, q2 = a2 + r2 * a2s, q3 = a2 + r3 * a2s, q4 = a2 + r4 * a2s, q5 = a2 + r5 * a2s;
    let bp = b2;
    const bs = b2s;
    const kb = <usize>k2 << 2;
    for (let o: usize = 0; o < kb; o += 4) {
      const bl = v128.load(bp);
      const bh = v128.load(bp, 16);
      const s0 = v128.load32_splat(q0 + o);
      c0 = fma4(s0, bl, c0);
      d0 = fma4(s0, bh, d0);
      const s1 = v128.load32_splat(q1 + o);
      c1 = fma4(s1, bl, c1);
      d1 = fma4(s1, bh, d1);
      const s2 = v128.load32_splat(q2 + o);
      c2 = fma4(s2, bl, c2);
      d2 = fma4(s2, bh, d2);
      const s3 = v128.load32_splat(q3 + o);
      c3 = fma4(s3, bl, c3);
      d3 = fma4(s3, bh, d3);
      const s4 = v128.load32_splat(q4 + o);
      c4 = fma4(s4, bl, c4);
      d4 = fma4(s4, bh, d4);
      const s5 = v128.load32_splat(q5 + o);
      c5 = fma4(s5, bl, c5);
      d5 = fma4(s5, bh, d5);
      bp += bs;
    }
  }
  v128.store(po, c0);
  v128.store(po, d0, 16);
  if (rows > 1) { v128.store(po + os, c1); v128.store(po + os, d1, 16); }
  if (rows > 2) { v128.store(po + 2 * os, c2); v128.store(po + 2 * os, d2, 16); }
  if (rows > 3) { v128.store(po + 3 * os, c3); v128.store(po + 3 * os, d3, 16); }
  if (rows > 4) { v128.store(po + 4 * os, c4); v128.store(po + 4 * os, d4, 16); }
  if (rows > 5) { v128.store(po + 5 * os, c5); v128.store(po + 5 * os, d5, 16); }
}

/**
 * State register tile of 6 rows n × 8 columns p (steps 2, 3): h[i, j] = decay·h[i, j] + Σ_{k < kk} A[i, k]·B[k, j],
 * A row-major with row stride sa bytes, B with row stride bs bytes, h with row stride hs bytes; rows as tileOut6x8.
 */
// @ts-ignore: decorator
@inline function tileState6x8(
  rows: i32, a: usize, sa: usize, b: usize, bsb: usize, kk: i32, decay: v128, po: usize, os: usize,
): void {
  const r1 = rows > 1 ? 1 : 0, r2 = rows > 2 ? 2 : 0, r3 = rows > 3 ? 3 : 0, r4 = rows > 4 ? 4 : 0, r5 = rows > 5 ? 5 : 0;
  let c0 = f32x4.mul(decay, v128.load(po)), d0 = f32x4.mul(decay, v128.load(po, 16));
  let c1 = f32x4.mul(decay, v128.load(po + r1 * os)), d1 = f32x4.mul(decay, v128.load(po + r1 * os, 16));
  let c2 = f32x4.mul(decay, v128.load(po + r2 * os)), d2 = f32x4.mul(decay, v128.load(po + r2 * os, 16));
  let c3 = f32x4.mul(decay, v128.load(po + r3 * os)), d3 = f32x4.mul(decay, v128.load(po + r3 * os, 16));
  let c4 = f32x4.mul(decay, v128.load(po + r4 * os)), d4 = f32x4.mul(decay, v128.load(po + r4 * os, 16));
  let c5 = f32x4.mul(decay, v128.load(po + r5 * os)), d5 = f32x4.mul(decay, v128.load(po + r5 * os, 16));
  const q0 = a, q1 = a + r1 * sa, q2 = a + r2 * sa, q3 = a + r3 * sa, q4 = a + r4 * sa, q5 = a + r5 * sa;
  let bp = b;
  const bs = bsb;
  const kb = <usize>kk << 2;
  for (let o: usize = 0; o < kb; o += 4) {
    const bl = v128.load(bp);
    const bh = v128.load(bp, 16);
    const s0 = v128.load32_splat(q0 + o);
    c0 = fma4(s0, bl, c0);
    d0 = fma4(s0, bh, d0);
    const s1 = v128.load32_splat(q1 + o);
    c1 = fma4(s1, bl, c1);
    d1 = fma4(s1, bh, d1);
    const s2 = v128.load32_splat(q2 + o);
    c2 = fma4(s2, bl, c2);
    d2 = fma4(s2, bh, d2);
    const s3 = v128.load32_splat(q3 + o);
    c3 = fma4(s3, bl, c3);
    d3 = fma4(s3, bh, d3);
    const s4 = v128.load32_splat(q4 + o);
    c4 = fma4(s4, bl, c4);
    d4 = fma4(s4, bh, d4);
    const s5 = v128.load32_splat(q5 + o);
    c5 = fma4(s5, bl, c5);
    d5 = fma4(s5, bh, d5);
    bp += bs;
  }
  v128.store(po, c0);
  v128.store(po, d0, 16);
  if (rows > 1) { v128.store(po + os, c1); v128.store(po + os, d1, 16); }
  if (rows > 2) { v128.store(po + 2 * os, c2); v128.store(po + 2 * os, d2, 16); }
  if (rows > 3) { v128.store(po + 3 * os, c3); v128.store(po + 3 * os, d3, 16); }
  if (rows > 4) { v128.store(po + 4 * os, c4); v128.store(po + 4 * os, d4, 16); }
  if (rows > 5) { v128.store(po + 5 * os, c5); v128.store(po + 5 * os, d5, 16); }
}

/** Whether the n floats at p (n a multiple of 4) are all +0: a fresh sequence's state, whose output term is zero. */
function allZero(p: usize, n: i32): bool {
  const end = p + (<usize>n << 2);
  for (let q = p; q < end; q += 16) if (v128.any_true(v128.load(q))) return false;
  return true;
}

/** Rows of the SSD register tiles. */
const SSD_TILE: i32 = 6;

/**
 * headChunk for P a multiple of 8, as three register-tiled matrix products:
 *   y[t, :] = exp(cs_t)·C[t, :]·hT + D·x[t, :] + Σ_{s ≤ t} L[t, s]·x[s, :]     (steps 4, the skip and 1)
 *   hT[n, :] = exp(cs_last)·hT[n, :] + Σ_s Bᵀ[n, s]·(exp(cs_last − cs_s)·dt'_s·x[s, :])   (steps 2, 3)
 * L (lower triangle, zero above) and the scaled x are formed first, so the inner loops are pure FMAs; the group's C
 * and Bᵀ are read as copied, shared by its heads. fresh: hT is all zero (a new sequence's first chunk), so the
 * state's output term is skipped.
 */
function headChunkTiled(
  dth: usize,
  dtS: i32,
  dtBias: f32,
  a: f32,
  dskip: f32,
  hT: usize,
  oh: usize,
  oS: i32,
  P: i32,
  N: i32,
  r0: i32,
  Lc: i32,
  Q: i32,
  Qs: usize,
  dtMin: f32,
  dtMax: f32,
  cb: usize,
  dtp: usize,
  cs: usize,
  cc: usize,
  bt: usize,
  xc: usize,
  lm: usize,
  xw: usize,
  ecs: usize,
  ft: usize,
  w0: usize,
  fresh: bool,
): void {
  const xs = <usize>P << 2;
  const os = <usize>oS << 2;
  const ls = Qs << 2;
  const ns = <usize>N << 2;
  const qs = <usize>Q << 2;
  // dt' four tokens at a time (the column is gathered lane by lane), then the running log-decay.
  const ds = <usize>dtS << 2;
  const biasv = f32x4.splat(dtBias), lo = f32x4.splat(dtMin), hi = f32x4.splat(dtMax);
  for (let s = 0; s < Lc; s += 4) {
    const p = dth + <usize>(r0 + s) * ds;
    let v = f32x4.splat(load<f32>(p));
    if (s + 1 < Lc) v = f32x4.replace_lane(v, 1, load<f32>(p + ds));
    if (s + 2 < Lc) v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * ds));
    if (s + 3 < Lc) v = f32x4.replace_lane(v, 3, load<f32>(p + 3 * ds));
    v128.store(dtp + (<usize>s << 2), f32x4.min(f32x4.max(softplus4(f32x4.add(v, biasv)), lo), hi));
  }
  let sum: f32 = 0;
  for (let s = 0; s < Lc; s++) {
    sum += load<f32>(dtp + (<usize>s << 2)) * a;
    store<f32>(cs + (<usize>s << 2), sum);
  }
  // exp(cs_t), the outputs' row scales (lanes past Lc are never read).
  for (let t = 0; t < Lc; t += 4) v128.store(ecs + (<usize>t << 2), exp4(v128.load(cs + (<usize>t << 2))));
  // L by row tiles t0: for s < t0, exp(cs_t − cs_s) = exp(cs_t − cs_t0)·exp(cs_t0 − cs_s): w0[s] = exp(cs_t0 − cs_s)·dt'_s
  // once per tile, then one factor ft per row (both exponents ≤ 0, so neither overflows and the product underflows
  // only where the whole does). The diagonal block s ∈ [t0, t0 + 8) directly (there exp(cs_t0 − cs_s) may overflow),
  // zero past t: it covers the tile's columns, which the output tile reads up to its last row.
  const iota = i32x4(0, 1, 2, 3), iota4 = i32x4(4, 5, 6, 7);
  for (let t0 = 0; t0 < Lc; t0 += SSD_TILE) {
    const to = <usize>t0 << 2;
    const cs0v = v128.load32_splat(cs + to);
    // Lanes from t0 to the next multiple of 4 are garbage (exp of a positive): the diagonal block overwrites them.
    for (let s = 0; s < t0; s += 4) {
      const o = <usize>s << 2;
      v128.store(w0 + o, f32x4.mul(exp4(f32x4.sub(cs0v, v128.load(cs + o))), v128.load(dtp + o)));
    }
    const cd0 = v128.load(cs + to), cd1 = v128.load(cs + to, 16);
    v128.store(ft, exp4(f32x4.sub(cd0, cs0v)));
    v128.store(ft, exp4(f32x4.sub(cd1, cs0v)), 16);
    const dd0 = v128.load(dtp + to), dd1 = v128.load(dtp + to, 16);
    const tileEnd = min(Lc, t0 + SSD_TILE);
    for (let t = t0; t < tileEnd; t++) {
      const fv = v128.load32_splat(ft + (<usize>(t - t0) << 2));
      const cbt = cb + <usize>t * qs;
      const lt = lm + <usize>t * ls;
      for (let s = 0; s < t0; s += 4) {
        const o = <usize>s << 2;
        v128.store(lt + o, f32x4.mul(f32x4.mul(fv, v128.load(w0 + o)), v128.load(cbt + o)));
      }
      const cst = v128.load32_splat(cs + (<usize>t << 2));
      const lim = i32x4.splat(t - t0);
      const l0 = f32x4.mul(f32x4.mul(exp4(f32x4.sub(cst, cd0)), dd0), v128.load(cbt + to));
      const l1 = f32x4.mul(f32x4.mul(exp4(f32x4.sub(cst, cd1)), dd1), v128.load(cbt + to, 16));
      v128.store(lt + to, v128.and(l0, i32x4.le_s(iota, lim)));
      v128.store(lt + to, v128.and(l1, i32x4.le_s(iota4, lim)), 16);
    }
  }
  // Outputs: tiles of 6 t × 8 p.
  const dv = f32x4.splat(dskip);
  const kState = fresh ? 0 : N;
  for (let t = 0; t < Lc; t += SSD_TILE) {
    const rows = min(SSD_TILE, Lc - t);
    const kIntra = t + rows; // L[t.., s] is zero past each row's own t, up to the tile's last row
    for (let p = 0; p < P; p += 8) {
      const po = <usize>p << 2;
      tileOut6x8(
        rows,
        cc + <usize>t * ns, ns, hT + po, xs, kState, ecs + (<usize>t << 2),
        lm + <usize>t * ls, ls, xc + po, xs, kIntra,
        dv, xc + <usize>t * xs + po, xs,
        oh + <usize>t * os + po, os,
      );
    }
  }
  // State: xw[s, :] = exp(cs_last − cs_s)·dt'_s·x[s, :], then tiles of 6 n × 8 p of hT over Bᵀ and xw.
  const last = load<f32>(cs + (<usize>(Lc - 1) << 2));
  const lastv = f32x4.splat(last);
  for (let s = 0; s < Lc; s += 4) {
    const o = <usize>s << 2;
    v128.store(dtp + o, f32x4.mul(exp4(f32x4.sub(lastv, v128.load(cs + o))), v128.load(dtp + o)));
  }
  for (let s = 0; s < Lc; s++) {
    const wv = v128.load32_splat(dtp + (<usize>s << 2));
    const xr = xc + <usize>s * xs, wr = xw + <usize>s * xs;
    for (let o: usize = 0; o < xs; o += 16) v128.store(wr + o, f32x4.mul(wv, v128.load(xr + o)));
  }
  const decay = f32x4.splat(expf(last));
  for (let n = 0; n < N; n += SSD_TILE) {
    const rows = min(SSD_TILE, N - n);
    for (let p = 0; p < P; p += 8) {
      const po = <usize>p << 2;
      tileState6x8(rows, bt + <usize>n * ls, ls, xw + po, xs, Lc, decay, hT + <usize>n * xs + po, xs);
    }
  }
}

/**
 * One head × one chunk: outputs (steps 1, 4 and the D skip), then the state update (steps 2, 3) on hT.
 * xc: (Lc, P) the chunk's x; cc: (Lc, N) and bt: (N, Qs) the group's C and Bᵀ; oh: output of row r0, head h.
 */
function headChunk(
  dth: usize,
  dtS: i32,
  dtBias: f32,
  a: f32,
  dskip: f32,
  hT: usize,
  oh: usize,
  oS: i32,
  P: i32,
  N: i32,
  r0: i32,
  Lc: i32,
  Q: i32,
  Qs: usize,
  dtMin: f32,
  dtMax: f32,
  cb: usize,
  dtp: usize,
  cs: usize,
  coef: usize,
  crow: usize,
  cc: usize,
  bt: usize,
  xc: usize,
): void {
  const xs = <usize>P << 2;
  const os = <usize>oS << 2;
  // dt' and the running log-decay.
  let sum: f32 = 0;
  for (let s = 0; s < Lc; s++) {
    let v = softplusf(load<f32>(dth + ((<usize>(r0 + s) * <usize>dtS) << 2)) + dtBias);
    v = min(max(v, dtMin), dtMax);
    store<f32>(dtp + (<usize>s << 2), v);
    sum += v * a;
    store<f32>(cs + (<usize>s << 2), sum);
  }
  const dv = f32x4.splat(dskip);
  for (let t = 0; t < Lc; t++) {
    const cst = load<f32>(cs + (<usize>t << 2));
    const cstv = f32x4.splat(cst);
    // coef[s] = CB[t, s]·exp(cs_t − cs_s)·dt'_s for s ≤ t (lanes past t are never read).
    const cbt = cb + ((<usize>(t * Q)) << 2);
    for (let s = 0; s <= t; s += 4) {
      const o = <usize>s << 2;
      const e = exp4(f32x4.sub(cstv, v128.load(cs + o)));
      v128.store(coef + o, f32x4.mul(f32x4.mul(e, v128.load(dtp + o)), v128.load(cbt + o)));
    }
    // crow[n] = exp(cs_t)·C[t, n].
    const ect = f32x4.splat(expf(cst));
    const ct = cc + ((<usize>(t * N)) << 2);
    for (let n = 0; n < N; n += 4) {
      const o = <usize>n << 2;
      v128.store(crow + o, f32x4.mul(ect, v128.load(ct + o))); // lanes past N land in crow's padding
    }
    const xt = xc + <usize>t * xs;
    const ot = oh + <usize>t * os;
    let p = 0;
    for (; p + 16 <= P; p += 16) {
      const po = <usize>p << 2;
      let a0 = f32x4.mul(dv, v128.load(xt + po));
      let a1 = f32x4.mul(dv, v128.load(xt + po, 16));
      let a2 = f32x4.mul(dv, v128.load(xt + po, 32));
      let a3 = f32x4.mul(dv, v128.load(xt + po, 48));
      let hp = hT + po;
      for (let n = 0; n < N; n++) {
        const c = v128.load32_splat(crow + (<usize>n << 2));
        a0 = f32x4.add(a0, f32x4.mul(c, v128.load(hp)));
        a1 = f32x4.add(a1, f32x4.mul(c, v128.load(hp, 16)));
        a2 = f32x4.add(a2, f32x4.mul(c, v128.load(hp, 32)));
        a3 = f32x4.add(a3, f32x4.mul(c, v128.load(hp, 48)));
        hp += xs;
      }
      let xp = xc + po;
      for (let s = 0; s <= t; s++) {
        const m = v128.load32_splat(coef + (<usize>s << 2));
        a0 = f32x4.add(a0, f32x4.mul(m, v128.load(xp)));
        a1 = f32x4.add(a1, f32x4.mul(m, v128.load(xp, 16)));
        a2 = f32x4.add(a2, f32x4.mul(m, v128.load(xp, 32)));
        a3 = f32x4.add(a3, f32x4.mul(m, v128.load(xp, 48)));
        xp += xs;
      }
      v128.store(ot + po, a0);
      v128.store(ot + po, a1, 16);
      v128.store(ot + po, a2, 32);
      v128.store(ot + po, a3, 48);
    }
    for (; p < P; p += 4) {
      const lanes = min(4, P - p);
      const po = <usize>p << 2;
      let a0 = f32x4.mul(dv, loadLanes(xt + po, lanes));
      for (let n = 0; n < N; n++) {
        a0 = f32x4.add(
          a0,
          f32x4.mul(v128.load32_splat(crow + (<usize>n << 2)), loadLanes(hT + ((<usize>(n * P + p)) << 2), lanes)),
        );
      }
      let xp = xc + po;
      for (let s = 0; s <= t; s++) {
        a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(coef + (<usize>s << 2)), loadLanes(xp, lanes)));
        xp += xs;
      }
      storeLanes(ot + po, a0, lanes);
    }
  }
  // State: hT[n, p] = exp(cs_last)·hT[n, p] + Σ_s (exp(cs_last − cs_s)·dt'_s·B[s, n])·x[s, p].
  const last = load<f32>(cs + (<usize>(Lc - 1) << 2));
  const lastv = f32x4.splat(last);
  for (let s = 0; s < Lc; s += 4) {
    const o = <usize>s << 2;
    v128.store(dtp + o, f32x4.mul(exp4(f32x4.sub(lastv, v128.load(cs + o))), v128.load(dtp + o)));
  }
  const decay = f32x4.splat(expf(last));
  for (let n = 0; n < N; n++) {
    const bn = bt + ((<usize>n * Qs) << 2);
    for (let s = 0; s < Lc; s += 4) {
      const o = <usize>s << 2;
      v128.store(coef + o, f32x4.mul(v128.load(dtp + o), v128.load(bn + o)));
    }
    const hn = hT + ((<usize>(n * P)) << 2);
    let p = 0;
    for (; p + 16 <= P; p += 16) {
      const po = <usize>p << 2;
      let a0 = f32x4.mul(decay, v128.load(hn + po));
      let a1 = f32x4.mul(decay, v128.load(hn + po, 16));
      let a2 = f32x4.mul(decay, v128.load(hn + po, 32));
      let a3 = f32x4.mul(decay, v128.load(hn + po, 48));
      let xp = xc + po;
      for (let s = 0; s < Lc; s++) {
        const m = v128.load32_splat(coef + (<usize>s << 2));
        a0 = f32x4.add(a0, f32x4.mul(m, v128.load(xp)));
        a1 = f32x4.add(a1, f32x4.mul(m, v128.load(xp, 16)));
        a2 = f32x4.add(a2, f32x4.mul(m, v128.load(xp, 32)));
        a3 = f32x4.add(a3, f32x4.mul(m, v128.load(xp, 48)));
        xp += xs;
      }
      v128.store(hn + po, a0);
      v128.store(hn + po, a1, 16);
      v128.store(hn + po, a2, 32);
      v128.store(hn + po, a3, 48);
    }
    for (; p < P; p += 4) {
      const lanes = min(4, P - p);
      const po = <usize>p << 2;
      let a0 = f32x4.mul(decay, loadLanes(hn + po, lanes));
      let xp = xc + po;
      for (let s = 0; s < Lc; s++) {
        a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(coef + (<usize>s << 2)), loadLanes(xp, lanes)));
        xp += xs;
      }
      storeLanes(hn + po, a0, lanes);
    }
  }
}

/**
 * Recurrent SSD step for heads [h0, h1), one token per sequence (rows = batch): h = exp(dt'·A)·h + dt'·x·B,
 * y = C·h + D·x. Same argument layout as ssd_chunked; state stays (batch, H, P, N).
 */
export function ssd_step(
  x: usize,
  xS: i32,
  dt: usize,
  dtS: i32,
  dtBias: usize,
  A: usize,
  B: usize,
  bS: i32,
  C: usize,
  cS: i32,
  Dskip: usize,
  half: i32,
  state: usize,
  out: usize,
  H: i32,
  P: i32,
  G: i32,
  N: i32,
  batch: i32,
  dtMin: f32,
  dtMax: f32,
  h0: i32,
  h1: i32,
): void {
  const headsPerGroup = H / G;
  for (let b = 0; b < batch; b++) {
    for (let h = h0; h < h1; h++) {
      const g = h / headsPerGroup;
      const ho = <usize>h << 2;
      let v = softplusf(load<f32>(dt + ((<usize>b * <usize>dtS) << 2) + ho) + load<f32>(dtBias + ho));
      v = min(max(v, dtMin), dtMax);
      const dA = f32x4.splat(expf(v * paramAt(A, <usize>h, (half & 1) != 0)));
      const dsk = paramAt(Dskip, <usize>h, (half & 2) != 0);
      const bp = B + ((<usize>b * <usize>bS + <usize>(g * N)) << 2);
      const cp = C + ((<usize>b * <usize>cS + <usize>(g * N)) << 2);
      const xp = x + ((<usize>b * <usize>xS + <usize>(h * P)) << 2);
      const op = out + ((<usize>b * <usize>(H * P) + <usize>(h * P)) << 2);
      const sh = state + ((<usize>(b * H + h) * <usize>P * <usize>N) << 2);
      if ((N & 7) == 0) {
        ssdStepHead8(sh, xp, bp, cp, op, dA, v, dsk, P, N);
        continue;
      }
      for (let p = 0; p < P; p++) {
        const xv = load<f32>(xp + (<usize>p << 2));
        const k = f32x4.splat(v * xv);
        const hp = sh + ((<usize>p * <usize>N) << 2);
        let acc = f32x4.splat(0.0);
        for (let n = 0; n < N; n += 4) {
          const lanes = min(4, N - n);
          const o = <usize>n << 2;
          const hv = f32x4.add(f32x4.mul(dA, loadLanes(hp + o, lanes)), f32x4.mul(k, loadLanes(bp + o, lanes)));
          storeLanes(hp + o, hv, lanes);
          acc = f32x4.add(acc, f32x4.mul(loadLanes(cp + o, lanes), hv));
        }
        store<f32>(op + (<usize>p << 2), hsum(acc) + dsk * xv);
      }
    }
  }
}

/**
 * ssd_step's update of one head for N a multiple of 8: two rows p of the state at a time share each load of B and C,
 * 8 lanes of n per step with two accumulators per row (four independent chains), whole-vector loads and stores;
 * an odd last row alone. h[p, :] = dA·h[p, :] + (dt'·x[p])·B, y[p] = C·h[p, :] + D·x[p].
 */
// @ts-ignore: decorator
@inline function ssdStepHead8(
  sh: usize, xp: usize, bp: usize, cp: usize, op: usize, dA: v128, v: f32, dsk: f32, P: i32, N: i32,
): void {
  const rs = <usize>N << 2; // bytes of one state row
  const nb = rs;
  let p = 0;
  for (; p + 2 <= P; p += 2) {
    const xa = load<f32>(xp + (<usize>p << 2));
    const xb = load<f32>(xp + (<usize>p << 2), 4);
    const ka = f32x4.splat(v * xa);
    const kb = f32x4.splat(v * xb);
    const ha = sh + <usize>p * rs;
    const hb = ha + rs;
    let a0 = f32x4.splat(0.0), a1 = f32x4.splat(0.0), b0 = f32x4.splat(0.0), b1 = f32x4.splat(0.0);
    for (let o: usize = 0; o < nb; o += 32) {
      const B0 = v128.load(bp + o), B1 = v128.load(bp + o, 16);
      const C0 = v128.load(cp + o), C1 = v128.load(cp + o, 16);
      const ha0 = fma4(ka, B0, f32x4.mul(dA, v128.load(ha + o)));
      const ha1 = fma4(ka, B1, f32x4.mul(dA, v128.load(ha + o, 16)));
      const hb0 = fma4(kb, B0, f32x4.mul(dA, v128.load(hb + o)));
      const hb1 = fma4(kb, B1, f32x4.mul(dA, v128.load(hb + o, 16)));
      v128.store(ha + o, ha0);
      v128.store(ha + o, ha1, 16);
      v128.store(hb + o, hb0);
      v128.store(hb + o, hb1, 16);
      a0 = fma4(C0, ha0, a0);
      a1 = fma4(C1, ha1, a1);
      b0 = fma4(C0, hb0, b0);
      b1 = fma4(C1, hb1, b1);
    }
    store<f32>(op + (<usize>p << 2), hsum(f32x4.add(a0, a1)) + dsk * xa);
    store<f32>(op + (<usize>p << 2), hsum(f32x4.add(b0, b1)) + dsk * xb, 4);
  }
  if (p < P) {
    const xa = load<f32>(xp + (<usize>p << 2));
    const ka = f32x4.splat(v * xa);
    const ha = sh + <usize>p * rs;
    let a0 = f32x4.splat(0.0), a1 = f32x4.splat(0.0);
    for (let o: usize = 0; o < nb; o += 32) {
      const ha0 = fma4(ka, v128.load(bp + o), f32x4.mul(dA, v128.load(ha + o)));
      const ha1 = fma4(ka, v128.load(bp + o, 16), f32x4.mul(dA, v128.load(ha + o, 16)));
      v128.store(ha + o, ha0);
      v128.store(ha + o, ha1, 16);
      a0 = fma4(v128.load(cp + o), ha0, a0);
      a1 = fma4(v128.load(cp + o, 16), ha1, a1);
    }
    store<f32>(op + (<usize>p << 2), hsum(f32x4.add(a0, a1)) + dsk * xa);
  }
}
