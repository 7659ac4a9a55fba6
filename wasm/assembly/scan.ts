// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// Mamba-1 selective scan, vectorised over 4 channels d at a time (any state size N, no horizontal sums).

import { halves4, paramAt, paramLanes } from "./half";
import { exp4, fma4, hsum, loadLanes, silu4, softplus4, storeLanes, storeTransposed4 } from "./simd_math";

/** Scratch bytes of selective_scan per state dimension n, per thread: h and A of 4 channels, 2 × 4 f32. */
export const SCAN_SCRATCH_BYTES_PER_STATE: i32 = 32;

/**
 * For channels [d0, d1) (d0 a multiple of 4) of every sequence b:
 *   δ = softplus(delta[b,t,d]); h[n] = exp(δ·A[d,n])·h[n] + δ·B[b,t,n]·u[b,t,d];
 *   out[b,t,d] = (Σ_n C[b,t,n]·h[n] + Dskip[d]·u[b,t,d]) · SiLU(z[b,t,d]); the final h goes back to state.
 *
 * u, delta, z: (batch·seqLen, ·) with row strides uS, dS, zS floats; B, C: (batch·seqLen, ·) with strides bS, cS
 * (N values from the pointer); A: (D, N); Dskip: (D); state: (batch, D, N); out: (batch·seqLen, D).
 * half: bit 0 — A holds f16 (converted as it is gathered, once per channel and state per call); bit 1 — Dskip f16.
 * scratch: SCAN_SCRATCH_BYTES_PER_STATE·N bytes, 16-byte aligned, private to the calling thread (h and A transposed to [N][4 lanes]).
 * (Vectorising over n instead, for decode, measured 2× slower: softplus and SiLU then run once per channel.)
 */
export function selective_scan(
  u: usize,
  uS: i32,
  delta: usize,
  dS: i32,
  A: usize,
  B: usize,
  bS: i32,
  C: usize,
  cS: i32,
  Dskip: usize,
  half: i32,
  z: usize,
  zS: i32,
  state: usize,
  out: usize,
  D: i32,
  N: i32,
  batch: i32,
  seqLen: i32,
  d0: i32,
  d1: i32,
  scratch: usize,
): void {
  const hs = scratch; // [N][4] current h of the 4 channels (the first half of SCAN_SCRATCH_BYTES_PER_STATE·N)
  const as = scratch + (<usize>N << 4); // [N][4] A of the 4 channels
  const nb = <usize>N << 2;
  const aHalf = (half & 1) != 0;
  for (let b = 0; b < batch; b++) {
    for (let d = d0; d < d1; d += 4) {
      const lanes = min(4, d1 - d);
      if (seqLen == 1 && lanes == 4 && (N & 3) == 0) {
        stepChannels4(u, uS, delta, dS, A, B, bS, C, cS, Dskip, half, z, zS, state, out, D, N, b, d);
        continue;
      }
      const sb = state + ((<usize>(b * D + d) * <usize>N) << 2);
      const ab = A + ((<usize>d * <usize>N) << 2);
      // Gather h and A lanes: [n][l] = X[d + l, n] (4×4 register transposes where 4 channels and 4 states are
      // there: a decode step's whole cost is otherwise these scalar copies).
      const n4 = lanes == 4 ? N & ~3 : 0;
      for (let n = 0; n < n4; n += 4) {
        transpose4To(hs + (<usize>n << 4), sb + (<usize>n << 2), nb);
        const an = as + (<usize>n << 4);
        if (aHalf) {
          // Each channel's 4 states as one vector, transposed in registers.
          const a0 = A + ((<usize>d * <usize>N + <usize>n) << 1), hb = <usize>N << 1;
          storeTransposed4(an, 16, halves4(a0), halves4(a0 + hb), halves4(a0 + 2 * hb), halves4(a0 + 3 * hb));
        } else transpose4To(an, ab + (<usize>n << 2), nb);
      }
      for (let n = n4; n < N; n++) {
        for (let l = 0; l < 4; l++) {
          const src = (<usize>n << 2) + <usize>l * nb;
          const dst = (<usize>n << 4) + (<usize>l << 2);
          store<f32>(hs + dst, l < lanes ? load<f32>(sb + src) : 0.0);
          store<f32>(as + dst, l < lanes ? paramAt(A, <usize>(d + l) * <usize>N + <usize>n, aHalf) : 0.0);
        }
      }
      const dv = (half & 2) == 0
        ? loadLanes(Dskip + (<usize>d << 2), lanes)
        : lanes == 4 ? halves4(Dskip + (<usize>d << 1)) : paramLanes(Dskip, <usize>d, lanes, true);
      const co = <usize>d << 2;
      for (let t = 0; t < seqLen; t++) {
        const row = <usize>(b * seqLen + t);
        const dl = softplus4(loadLanes(delta + ((row * <usize>dS) << 2) + co, lanes));
        const uu = loadLanes(u + ((row * <usize>uS) << 2) + co, lanes);
        const du = f32x4.mul(dl, uu);
        const bp = B + ((row * <usize>bS) << 2);
        const cp = C + ((row * <usize>cS) << 2);
        let y = f32x4.mul(dv, uu);
        for (let n = 0; n < N; n++) {
          const o = <usize>n << 4;
          const dA = exp4(f32x4.mul(dl, v128.load(as + o)));
          const h = fma4(dA, v128.load(hs + o), f32x4.mul(du, v128.load32_splat(bp + (<usize>n << 2))));
          v128.store(hs + o, h);
          y = fma4(v128.load32_splat(cp + (<usize>n << 2)), h, y);
        }
        const zz = loadLanes(z + ((row * <usize>zS) << 2) + co, lanes);
        storeLanes(out + ((row * <usize>D) << 2) + co, f32x4.mul(y, silu4(zz)), lanes);
      }
      for (let n = 0; n < n4; n += 4) transpose4From(sb + (<usize>n << 2), nb, hs + (<usize>n << 4));
      for (let n = n4; n < N; n++) {
        for (let l = 0; l < lanes; l++) {
          store<f32>(sb + (<usize>n << 2) + <usize>l * nb, load<f32>(hs + (<usize>n << 4) + (<usize>l << 2)));
        }
      }
    }
  }
}


/**
 * One token of channels d..d + 3 of sequence b (N a multiple of 4), vectorised over n in each channel's own state
 * row: no transposes of h and A in and out (a decode step's scan was a quarter transposes), softplus and SiLU still
 * 4 channels at a time. Per channel y = hsum(Σ_n C·h) + D·u: the same terms as the path over lanes, summed in
 * another order (rounding-level differences; decode equals prefill within the model tests' tolerance).
 */
// @ts-ignore: decorator
@inline function stepChannels4(
  u: usize, uS: i32, delta: usize, dS: i32, A: usize, B: usize, bS: i32, C: usize, cS: i32, Dskip: usize,
  half: i32, z: usize, zS: i32, state: usize, out: usize, D: i32, N: i32, b: i32, d: i32,
): void {
  const aHalf = (half & 1) != 0;
  const co = <usize>d << 2;
  const dl4 = softplus4(v128.load(delta + ((<usize>b * <usize>dS) << 2) + co));
  const uu4 = v128.load(u + ((<usize>b * <usize>uS) << 2) + co);
  const du4 = f32x4.mul(dl4, uu4);
  const bp = B + ((<usize>b * <usize>bS) << 2);
  const cp = C + ((<usize>b * <usize>cS) << 2);
  const nb = <usize>N << 2;
  const sb = state + ((<usize>(b * D + d) * <usize>N) << 2);
  // A's rows: N floats, or N halves.
  const an = aHalf ? <usize>N << 1 : nb;
  const ab = A + <usize>d * an;
  let y = f32x4.splat(stepChannel(sb, ab, aHalf, f32x4.extract_lane(dl4, 0), f32x4.extract_lane(du4, 0), bp, cp, N));
  y = f32x4.replace_lane(y, 1, stepChannel(sb + nb, ab + an, aHalf, f32x4.extract_lane(dl4, 1), f32x4.extract_lane(du4, 1), bp, cp, N));
  y = f32x4.replace_lane(y, 2, stepChannel(sb + 2 * nb, ab + 2 * an, aHalf, f32x4.extract_lane(dl4, 2), f32x4.extract_lane(du4, 2), bp, cp, N));
  y = f32x4.replace_lane(y, 3, stepChannel(sb + 3 * nb, ab + 3 * an, aHalf, f32x4.extract_lane(dl4, 3), f32x4.extract_lane(du4, 3), bp, cp, N));
  const dv = (half & 2) != 0 ? halves4(Dskip + (<usize>d << 1)) : v128.load(Dskip + co);
  y = fma4(dv, uu4, y);
  const zz = v128.load(z + ((<usize>b * <usize>zS) << 2) + co);
  v128.store(out + ((<usize>b * <usize>D) << 2) + co, f32x4.mul(y, silu4(zz)));
}

/**
 * One channel's token (state row at hp, A row at ap — f32, or f16 when aHalf —, δ and δ·u given): updates h, returns
 * Σ_n C·h.
 */
// @ts-ignore: decorator
@inline function stepChannel(hp: usize, ap: usize, aHalf: bool, dls: f32, dus: f32, bp: usize, cp: usize, N: i32): f32 {
  const dl = f32x4.splat(dls), du = f32x4.splat(dus);
  let acc = f32x4.splat(0.0);
  for (let n = 0; n < N; n += 4) {
    const o = <usize>n << 2;
    const a = aHalf ? halves4(ap + (<usize>n << 1)) : v128.load(ap + o);
    const dA = exp4(f32x4.mul(dl, a));
    const h = fma4(dA, v128.load(hp + o), f32x4.mul(du, v128.load(bp + o)));
    v128.store(hp + o, h);
    acc = fma4(v128.load(cp + o), h, acc);
  }
  return hsum(acc);
}

/**
 * dst[j][l] = src[l·stride + j] for a 4×4 block (rows l of 4 floats at src + l·stride bytes → 4 contiguous vectors of
 * one column each at dst): two rounds of shuffles.
 */
// @ts-ignore: decorator
@inline function transpose4To(dst: usize, src: usize, stride: usize): void {
  storeTransposed4(dst, 16, v128.load(src), v128.load(src + stride), v128.load(src + 2 * stride), v128.load(src + 3 * stride));
}

/** The inverse of {@link transpose4To}: dst[l·stride + j] = src[j][l]. */
// @ts-ignore: decorator
@inline function transpose4From(dst: usize, stride: usize, src: usize): void {
  storeTransposed4(dst, stride, v128.load(src), v128.load(src, 16), v128.load(src, 32), v128.load(src, 48));
}
