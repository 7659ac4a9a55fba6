// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// Causal depthwise conv1d with SiLU and a rolling conv state (Mamba's short convolution).

import { halves4, paramAt } from "./half";
import { fma4, loadLanes, silu4, storeLanes, storeTransposed4 } from "./simd_math";

/** Time steps per block of the convolution (see conv1d). */
const CONV_ROWS: i32 = 32;

/**
 * out[b,t,c] = SiLU(bias[c] + Σ_{j<K} w[c,j] · in[b, t−(K−1)+j, c]) for channels [c0, c1) (c0 a multiple of 4),
 * where in[b, t<0, c] = state[b, c, K−1+t]; afterwards state[b, c, :] holds the last K−1 inputs of
 * (state ++ x[b]).
 *
 * x: (batch·seqLen, ·) with row stride xStride floats; w: (C, K); bias: (C) or 0; state: (batch, C, K−1);
 * out: (batch·seqLen, C); wt: scratch (K + 1, C) that receives the transposed weights of [c0, c1), then (f16 bias)
 * its bias as f32. half: bit 0 — w holds f16; bit 1 — bias holds f16 (each converted once per channel here).
 */
export function conv1d(
  x: usize,
  xStride: i32,
  w: usize,
  bias: usize,
  state: usize,
  out: usize,
  wt: usize,
  half: i32,
  C: i32,
  K: i32,
  batch: i32,
  seqLen: i32,
  c0: i32,
  c1: i32,
): void {
  if (seqLen == 1 && K == 4) {
    conv1dStep4(x, xStride, w, bias, half, state, out, C, batch, c0, c1);
    return;
  }
  const km1 = K - 1;
  // Transpose weights of the channel range: wt[j, c] = w[c, j] so 4 channels load as one vector.
  const wHalf = (half & 1) != 0;
  let cv = c0;
  if (K == 4) {
    // The usual width: 4 channels' 4 taps per 4×4 register transpose (each row one 16-byte f32 or 8-byte f16 load).
    const cs = <usize>C << 2;
    for (; cv + 4 <= c1; cv += 4) {
      const dst = wt + (<usize>cv << 2);
      if (wHalf) {
        const src = w + (<usize>cv << 3);
        storeTransposed4(dst, cs, halves4(src), halves4(src + 8), halves4(src + 16), halves4(src + 24));
      } else {
        const src = w + (<usize>cv << 4);
        storeTransposed4(dst, cs, v128.load(src), v128.load(src, 16), v128.load(src, 32), v128.load(src, 48));
      }
    }
  }
  for (let c = cv; c < c1; c++) {
    for (let j = 0; j < K; j++) {
      store<f32>(wt + ((<usize>(j * C + c)) << 2), paramAt(w, <usize>(c * K + j), wHalf));
    }
  }
  if ((half & 2) != 0 && bias != 0) {
    const bt = wt + ((<usize>K * <usize>C) << 2);
    for (let c = c0; c < c1; c++) store<f32>(bt + (<usize>c << 2), paramAt(bias, <usize>c, true));
    bias = bt;
  }
  const xs = <usize>xStride << 2;
  const os = <usize>C << 2;
  for (let b = 0; b < batch; b++) {
    const xb = x + <usize>(b * seqLen) * xs;
    const ob = out + <usize>(b * seqLen) * os;
    const sb = state + ((<usize>b * <usize>C * <usize>km1) << 2);
    // Blocks of CONV_ROWS time steps, all the channels of [c0, c1) within a block: the rows of x and out are
    // walked along (a strip of 16 channels down all seqLen rows touched one 4 KiB page per row: TLB misses).
    for (let t0 = 0; t0 < seqLen; t0 += CONV_ROWS) {
    const t1 = min(seqLen, t0 + CONV_ROWS);
    for (let c = c0; c < c1; ) {
      // 16 channels (a cache line of each row) at a time: four independent accumulators and SiLUs in flight;
      // the last few channels 4 at a time.
      const wide = c + 16 <= c1;
      const lanes = wide ? 4 : min(4, c1 - c);
      const co = <usize>c << 2;
      if (wide) {
        const b0 = bias == 0 ? f32x4.splat(0.0) : v128.load(bias + co);
        const b1 = bias == 0 ? f32x4.splat(0.0) : v128.load(bias + co, 16);
        const b2 = bias == 0 ? f32x4.splat(0.0) : v128.load(bias + co, 32);
        const b3 = bias == 0 ? f32x4.splat(0.0) : v128.load(bias + co, 48);
        for (let t = t0; t < t1; t++) {
          let a0 = b0, a1 = b1, a2 = b2, a3 = b3;
          for (let j = 0; j < K; j++) {
            const tt = t - km1 + j;
            const wj = wt + ((<usize>(j * C + c)) << 2);
            if (tt >= 0) {
              const xr = xb + <usize>tt * xs + co;
              a0 = fma4(v128.load(wj), v128.load(xr), a0);
              a1 = fma4(v128.load(wj, 16), v128.load(xr, 16), a1);
              a2 = fma4(v128.load(wj, 32), v128.load(xr, 32), a2);
              a3 = fma4(v128.load(wj, 48), v128.load(xr, 48), a3);
            } else {
              a0 = fma4(v128.load(wj), stateLanes(sb, c, km1, tt, 4), a0);
              a1 = fma4(v128.load(wj, 16), stateLanes(sb, c + 4, km1, tt, 4), a1);
              a2 = fma4(v128.load(wj, 32), stateLanes(sb, c + 8, km1, tt, 4), a2);
              a3 = fma4(v128.load(wj, 48), stateLanes(sb, c + 12, km1, tt, 4), a3);
            }
          }
          const o = ob + <usize>t * os + co;
          v128.store(o, silu4(a0));
          v128.store(o, silu4(a1), 16);
          v128.store(o, silu4(a2), 32);
          v128.store(o, silu4(a3), 48);
        }
      } else {
        const bv = bias == 0 ? f32x4.splat(0.0) : loadLanes(bias + co, lanes);
        for (let t = t0; t < t1; t++) {
          let acc = bv;
          for (let j = 0; j < K; j++) {
            const tt = t - km1 + j;
            const v = tt >= 0 ? loadLanes(xb + <usize>tt * xs + co, lanes) : stateLanes(sb, c, km1, tt, lanes);
            acc = fma4(loadLanes(wt + ((<usize>(j * C + c)) << 2), lanes), v, acc);
          }
          storeLanes(ob + <usize>t * os + co, silu4(acc), lanes);
        }
      }
      c += wide ? 16 : 4;
    }
    }
    // Roll the state once every block has read it: new[i] = (state ++ x)[seqLen + i]; ascending i only reads
    // entries not yet written.
    for (let c = c0; c < c1; c++) {
      const sc = sb + ((<usize>(c * km1)) << 2);
      for (let i = 0; i < km1; i++) {
        const src = seqLen + i;
        const v = src < km1
          ? load<f32>(sc + (<usize>src << 2))
          : load<f32>(xb + <usize>(src - km1) * xs + ((<usize>c) << 2));
        store<f32>(sc + (<usize>i << 2), v);
      }
    }
  }
}

/** Lanes (1..4) of channels c.. at input time tt < 0, from the conv state: state[b, c + l, K−1+tt]. */
// @ts-ignore: decorator
@inline function stateLanes(sb: usize, c: i32, km1: i32, tt: i32, lanes: i32): v128 {
  const sp = sb + ((<usize>(c * km1 + km1 + tt)) << 2);
  const st = <usize>km1 << 2;
  let v = f32x4.splat(0.0);
  v = f32x4.replace_lane(v, 0, load<f32>(sp));
  if (lanes > 1) v = f32x4.replace_lane(v, 1, load<f32>(sp + st));
  if (lanes > 2) v = f32x4.replace_lane(v, 2, load<f32>(sp + 2 * st));
  if (lanes > 3) v = f32x4.replace_lane(v, 3, load<f32>(sp + 3 * st));
  return v;
}

/**
 * conv1d's decode step (seqLen 1) for K = 4, reading the weights as they lie, (C, 4) f32 or f16 (half bit 0; the bias f16 with bit 1): per 4 channels, the rows of w
 * and of the state (12 consecutive floats) are 7 vector loads, transposed by shuffles into per-tap vectors over the 4
 * channels; the taps are summed in conv1d's order (bias, then fma4 over j = 0..3), so a step is bit-identical to
 * the same token inside a longer call. The rolled state is shuffled back into place: 3 stores. No transposed copy of
 * the weights, no per-lane gathers. Channels past the last multiple of 4 of [c0, c1) one at a time, in lane 0.
 */
function conv1dStep4(
  x: usize,
  xStride: i32,
  w: usize,
  bias: usize,
  half: i32,
  state: usize,
  out: usize,
  C: i32,
  batch: i32,
  c0: i32,
  c1: i32,
): void {
  const wHalf = (half & 1) != 0, bHalf = (half & 2) != 0;
  for (let b = 0; b < batch; b++) {
    const xb = x + ((<usize>b * <usize>xStride) << 2);
    const ob = out + ((<usize>b * <usize>C) << 2);
    const sb = state + ((<usize>b * <usize>C * 3) << 2);
    let c = c0;
    for (; c + 4 <= c1; c += 4) {
      const co = <usize>c << 2;
      const sp = sb + <usize>c * 12;
      // Weights: rows w[c+i, 0..3] (f32, or f16 converted as loaded) → taps wj = w[c..c+3, j].
      let W0: v128, W1: v128, W2: v128, W3: v128;
      if (wHalf) {
        const wp = w + (co << 1);
        W0 = halves4(wp); W1 = halves4(wp + 8); W2 = halves4(wp + 16); W3 = halves4(wp + 24);
      } else {
        const wp = w + (co << 2);
        W0 = v128.load(wp); W1 = v128.load(wp, 16); W2 = v128.load(wp, 32); W3 = v128.load(wp, 48);
      }
      const ta = v128.shuffle<f32>(W0, W1, 0, 4, 1, 5), tb = v128.shuffle<f32>(W2, W3, 0, 4, 1, 5);
      const tc = v128.shuffle<f32>(W0, W1, 2, 6, 3, 7), td = v128.shuffle<f32>(W2, W3, 2, 6, 3, 7);
      // State: 12 floats s[c+i, j] at 3i + j → columns sj = s[c..c+3, j].
      const S0 = v128.load(sp), S1 = v128.load(sp, 16), S2 = v128.load(sp, 32);
      const s0 = v128.shuffle<f32>(v128.shuffle<f32>(S0, S1, 0, 3, 6, 7), S2, 0, 1, 2, 5);
      const s1 = v128.shuffle<f32>(v128.shuffle<f32>(S0, S1, 1, 4, 7, 7), S2, 0, 1, 2, 6);
      const s2 = v128.shuffle<f32>(v128.shuffle<f32>(S0, S1, 2, 5, 5, 5), S2, 0, 1, 4, 7);
      const xv = v128.load(xb + co);
      let acc = bias == 0 ? f32x4.splat(0.0) : bHalf ? halves4(bias + (<usize>c << 1)) : v128.load(bias + co);
      acc = fma4(v128.shuffle<f32>(ta, tb, 0, 1, 4, 5), s0, acc);
      acc = fma4(v128.shuffle<f32>(ta, tb, 2, 3, 6, 7), s1, acc);
      acc = fma4(v128.shuffle<f32>(tc, td, 0, 1, 4, 5), s2, acc);
      acc = fma4(v128.shuffle<f32>(tc, td, 2, 3, 6, 7), xv, acc);
      v128.store(ob + co, silu4(acc));
      // New state rows [s[c+i, 1], s[c+i, 2], x[c+i]], back in the 3i + j layout.
      const lo = v128.shuffle<f32>(s1, s2, 0, 4, 1, 5); // s01 s02 s11 s12
      const hi = v128.shuffle<f32>(s1, s2, 2, 6, 3, 7); // s21 s22 s31 s32
      v128.store(sp, v128.shuffle<f32>(lo, xv, 0, 1, 4, 2));
      v128.store(sp, v128.shuffle<f32>(v128.shuffle<f32>(lo, xv, 3, 5, 3, 5), hi, 0, 1, 4, 5), 16);
      v128.store(sp, v128.shuffle<f32>(hi, xv, 6, 2, 3, 7), 32);
    }
    for (; c < c1; c++) {
      const co = <usize>c << 2;
      const sp = sb + <usize>c * 12;
      const wi = <usize>c * 4;
      const s1 = load<f32>(sp, 4), s2 = load<f32>(sp, 8), xc = load<f32>(xb + co);
      let acc = f32x4.splat(bias == 0 ? 0.0 : paramAt(bias, <usize>c, bHalf));
      acc = fma4(f32x4.splat(paramAt(w, wi, wHalf)), f32x4.splat(load<f32>(sp)), acc);
      acc = fma4(f32x4.splat(paramAt(w, wi + 1, wHalf)), f32x4.splat(s1), acc);
      acc = fma4(f32x4.splat(paramAt(w, wi + 2, wHalf)), f32x4.splat(s2), acc);
      acc = fma4(f32x4.splat(paramAt(w, wi + 3, wHalf)), f32x4.splat(xc), acc);
      store<f32>(ob + co, f32x4.extract_lane(silu4(acc), 0));
      store<f32>(sp, s1);
      store<f32>(sp, s2, 4);
      store<f32>(sp, xc, 8);
    }
  }
}
