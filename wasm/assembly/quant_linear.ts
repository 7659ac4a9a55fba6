// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// Linear layers and the embedding gather on block-quantized weights, kept in GGUF's own block layout (the bytes
// uploadQuantizedMatrix receives): a row of k weights is k / 32 blocks, each an f16 scale d then its codes —
// Q8_0: 34 bytes, 32 int8 q, w = d·q; Q4_0: 18 bytes, 16 bytes of nibbles (byte j: element j low, j + 16 high),
// w = d·(q − 8). WASM loads need no alignment, so the 34- and 18-byte blocks are read in place.
//
// Every weight is dequantized in registers to the exact f32 value d·q (an f16 times an integer of ≤ 8 bits is
// exact in f32), so results differ from the f32 kernels' on the dequantized matrix only by summation order.

import { PANEL, tile4x8 } from "./linear";

/** Format code of Q8_0 blocks (the backend passes it as `format`). */
export const QUANT_Q8_0: i32 = 0;
/** Format code of Q4_0 blocks. */
export const QUANT_Q4_0: i32 = 1;
/** Rows of x kept hot while the dequantized panels sweep over them (as linear's ROW_BLOCK). */
const Q_ROW_BLOCK: i32 = 64;
/** Fewer rows than this use the streaming GEMV straight from the blocks; more, the dequantized-panel GEMM. */
export const QUANT_GEMM_ROWS: i32 = 4;

/** Bytes of one block of 32 weights. */
// @ts-ignore: decorator
@inline function blockBytes(format: i32): usize {
  return format == QUANT_Q8_0 ? 34 : 18;
}

/** f16 bits → f32 (exact, subnormals included; ±inf and NaN kept). */
// @ts-ignore: decorator
@inline function halfToFloat(h: u32): f32 {
  const bits = (h & 0x7fff) << 13;
  // A normal or subnormal half shifted into f32's field is the value · 2^−112: scale back exactly.
  let v = reinterpret<f32>(bits) * <f32>5.192296858534828e33;
  if ((h & 0x7c00) == 0x7c00) v = reinterpret<f32>(bits | 0x70000000);
  return (h & 0x8000) != 0 ? -v : v;
}

/** The signed codes of elements 0..15 of the block at bp, as i8x16. */
// @ts-ignore: decorator
@inline function codesLo(bp: usize, format: i32): v128 {
  if (format == QUANT_Q8_0) return v128.load(bp, 2);
  return i8x16.sub(v128.and(v128.load(bp, 2), i8x16.splat(0x0f)), i8x16.splat(8));
}

/** The signed codes of elements 16..31 of the block at bp, as i8x16. */
// @ts-ignore: decorator
@inline function codesHi(bp: usize, format: i32): v128 {
  if (format == QUANT_Q8_0) return v128.load(bp, 18);
  return i8x16.sub(i8x16.shr_u(v128.load(bp, 2), 4), i8x16.splat(8));
}

// Lanes 0..3, 4..7, 8..11, 12..15 of i8x16 codes as f32x4.
// @ts-ignore: decorator
@inline function q0(c: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(c)));
}
// @ts-ignore: decorator
@inline function q1(c: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_low_i8x16_s(c)));
}
// @ts-ignore: decorator
@inline function q2(c: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_high_i8x16_s(c)));
}
// @ts-ignore: decorator
@inline function q3(c: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_high_i8x16_s(c)));
}

/** Σ over the 32 weights of the block at bp of q·x (x: 32 floats at xp), unscaled, as f32x4 partial sums. */
// @ts-ignore: decorator
@inline function blockDot(bp: usize, xp: usize, format: i32): v128 {
  const lo = codesLo(bp, format);
  const hi = codesHi(bp, format);
  const t0 = f32x4.add(f32x4.mul(q0(lo), v128.load(xp)), f32x4.mul(q1(lo), v128.load(xp, 16)));
  const t1 = f32x4.add(f32x4.mul(q2(lo), v128.load(xp, 32)), f32x4.mul(q3(lo), v128.load(xp, 48)));
  const t2 = f32x4.add(f32x4.mul(q0(hi), v128.load(xp, 64)), f32x4.mul(q1(hi), v128.load(xp, 80)));
  const t3 = f32x4.add(f32x4.mul(q2(hi), v128.load(xp, 96)), f32x4.mul(q3(hi), v128.load(xp, 112)));
  return f32x4.add(f32x4.add(t0, t1), f32x4.add(t2, t3));
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** Scale of the block at bp, splatted. */
// @ts-ignore: decorator
@inline function scale(bp: usize): v128 {
  return f32x4.splat(halfToFloat(<u32>load<u16>(bp)));
}

/**
 * GEMV of one x row (k floats at px) against weight rows [j0, j1) (row j at w + j·rowBytes), four rows at a time
 * sharing the x loads, each block's integer-code dot scaled by its d: out[j] = x · W[j] (+ bias[j]).
 */
// @ts-ignore: decorator
@inline function gemvRow(
  px: usize, nb: i32, w: usize, rowBytes: usize, format: i32, bias: usize, po: usize, j0: i32, j1: i32,
): void {
  const bb = blockBytes(format);
  let j = j0;
  for (; j + 4 <= j1; j += 4) {
    let b0 = w + <usize>j * rowBytes;
    let b1 = b0 + rowBytes;
    let b2 = b1 + rowBytes;
    let b3 = b2 + rowBytes;
    let a0 = f32x4.splat(0.0), a1 = f32x4.splat(0.0), a2 = f32x4.splat(0.0), a3 = f32x4.splat(0.0);
    let xp = px;
    for (let b = 0; b < nb; b++) {
      a0 = f32x4.add(a0, f32x4.mul(blockDot(b0, xp, format), scale(b0)));
      a1 = f32x4.add(a1, f32x4.mul(blockDot(b1, xp, format), scale(b1)));
      a2 = f32x4.add(a2, f32x4.mul(blockDot(b2, xp, format), scale(b2)));
      a3 = f32x4.add(a3, f32x4.mul(blockDot(b3, xp, format), scale(b3)));
      b0 += bb;
      b1 += bb;
      b2 += bb;
      b3 += bb;
      xp += 128;
    }
    const o = po + (<usize>j << 2);
    if (bias != 0) {
      const pb = bias + (<usize>j << 2);
      store<f32>(o, hsum(a0) + load<f32>(pb));
      store<f32>(o, hsum(a1) + load<f32>(pb, 4), 4);
      store<f32>(o, hsum(a2) + load<f32>(pb, 8), 8);
      store<f32>(o, hsum(a3) + load<f32>(pb, 12), 12);
    } else {
      store<f32>(o, hsum(a0));
      store<f32>(o, hsum(a1), 4);
      store<f32>(o, hsum(a2), 8);
      store<f32>(o, hsum(a3), 12);
    }
  }
  for (; j < j1; j++) {
    let bp = w + <usize>j * rowBytes;
    let a = f32x4.splat(0.0);
    let xp = px;
    for (let b = 0; b < nb; b++) {
      a = f32x4.add(a, f32x4.mul(blockDot(bp, xp, format), scale(bp)));
      bp += bb;
      xp += 128;
    }
    store<f32>(po + (<usize>j << 2), hsum(a) + (bias != 0 ? load<f32>(bias + (<usize>j << 2)) : <f32>0.0));
  }
}

/** Stores the 16 f32 values of i8x16 codes c, times d, at o (4 vectors). */
// @ts-ignore: decorator
@inline function store16(o: usize, c: v128, d: v128): void {
  v128.store(o, f32x4.mul(q0(c), d));
  v128.store(o, f32x4.mul(q1(c), d), 16);
  v128.store(o, f32x4.mul(q2(c), d), 32);
  v128.store(o, f32x4.mul(q3(c), d), 48);
}

/** Dequantizes one row of nb blocks at bp into 32·nb floats at o. */
// @ts-ignore: decorator
@inline function dequantRow(bp: usize, nb: i32, format: i32, o: usize): void {
  const bb = blockBytes(format);
  for (let b = 0; b < nb; b++) {
    const d = scale(bp);
    store16(o, codesLo(bp, format), d);
    store16(o + 64, codesHi(bp, format), d);
    bp += bb;
    o += 128;
  }
}

/**
 * Dequantizes weight rows [c0, c0 + 8) (rows ≥ n as zeros) into one packed panel at dst, k-major as linear.ts's
 * panels: dst[kk·8 + j] = W[c0 + j][kk]. Each row goes through `row` (k floats of scratch after the panel).
 */
// @ts-ignore: decorator
@inline function dequantPanel(w: usize, rowBytes: usize, nb: i32, format: i32, n: i32, c0: i32, dst: usize): void {
  const k = nb << 5;
  const row = dst + (<usize>k << 5);
  for (let j = 0; j < PANEL; j++) {
    const d = dst + (<usize>j << 2);
    if (c0 + j < n) {
      dequantRow(w + <usize>(c0 + j) * rowBytes, nb, format, row);
      for (let kk = 0; kk < k; kk++) store<f32>(d + (<usize>kk << 5), load<f32>(row + (<usize>kk << 2)));
    } else {
      for (let kk = 0; kk < k; kk++) store<f32>(d + (<usize>kk << 5), 0.0);
    }
  }
}

// @ts-ignore: decorator
@inline function linearQ(
  x: usize, xStride: i32, k: i32, w: usize, format: i32, n: i32, bias: usize, out: usize, outStride: i32,
  r0: i32, r1: i32, j0: i32, j1: i32, scratch: usize,
): void {
  const nb = k >> 5;
  const rowBytes = <usize>nb * blockBytes(format);
  const xs = <usize>xStride << 2;
  const os = <usize>outStride << 2;
  if (r1 - r0 < QUANT_GEMM_ROWS) {
    for (let r = r0; r < r1; r++) gemvRow(x + <usize>r * xs, nb, w, rowBytes, format, bias, out + <usize>r * os, j0, j1);
    return;
  }
  for (let rb = r0; rb < r1; rb += Q_ROW_BLOCK) {
    const re = min(rb + Q_ROW_BLOCK, r1);
    for (let c0 = j0; c0 < j1; c0 += PANEL) {
      const cols = min(PANEL, j1 - c0);
      dequantPanel(w, rowBytes, nb, format, n, c0, scratch);
      const pb = bias == 0 ? 0 : bias + (<usize>c0 << 2);
      for (let r = rb; r < re; r += 4) {
        tile4x8(x + <usize>r * xs, xs, min(4, re - r), k, scratch, pb, out + <usize>r * os + (<usize>c0 << 2), os, cols);
      }
    }
  }
}

/**
 * out[r, j] = x[r, :] · W[j, :] + bias[j] for rows [r0, r1) and output features [j0, j1) (j0 a multiple of 8 when
 * r1 − r0 ≥ QUANT_GEMM_ROWS), W [n, k] in `format`'s blocks at w (k a multiple of 32). x: row stride xStride
 * floats; bias: (n) or 0; out: row stride outStride floats. Under QUANT_GEMM_ROWS rows: a GEMV reading the blocks
 * once per row; from it on: per 8 output features a panel dequantized into `scratch` (k·36 bytes) swept by the f32
 * 4×8 register tile over blocks of 64 rows.
 */
export function linear_q(
  x: usize, xStride: i32, k: i32, w: usize, format: i32, n: i32, bias: usize, out: usize, outStride: i32,
  r0: i32, r1: i32, j0: i32, j1: i32, scratch: usize,
): void {
  if (r1 <= r0 || j1 <= j0) return;
  // Two specialisations, so that the format's branches fold away in the inner loops.
  if (format == QUANT_Q8_0) {
    linearQ(x, xStride, k, w, QUANT_Q8_0, n, bias, out, outStride, r0, r1, j0, j1, scratch);
  } else {
    linearQ(x, xStride, k, w, QUANT_Q4_0, n, bias, out, outStride, r0, r1, j0, j1, scratch);
  }
}

/** Bytes of linear_q's scratch for inner size k: one dequantized panel (k·8 floats) and one row (k floats). */
export function linear_q_scratch_bytes(k: i32): i32 {
  return k * (PANEL + 1) * 4;
}

/**
 * Embedding gather on a quantized [n, k] table: out[t, :] = dequantized W[ids[t], :] for `count` ids (i32 at
 * `ids`); out: (count, k). Traps on an id outside [0, n) (the caller validates first).
 */
export function embed_q(ids: usize, count: i32, w: usize, format: i32, n: i32, k: i32, out: usize): void {
  const nb = k >> 5;
  const rowBytes = <usize>nb * blockBytes(format);
  for (let t = 0; t < count; t++) {
    const id = load<i32>(ids + (<usize>t << 2));
    if (<u32>id >= <u32>n) unreachable();
    const o = out + ((<usize>t * <usize>k) << 2);
    if (format == QUANT_Q8_0) dequantRow(w + <usize>id * rowBytes, nb, QUANT_Q8_0, o);
    else dequantRow(w + <usize>id * rowBytes, nb, QUANT_Q4_0, o);
  }
}

// ---- activation-quantized integer path (opt-in: not exact) ------------------------------------------------------
//
// As llama.cpp's vec_dot_q8_0_q8_0: each input row is quantized per block of 32 to int8 codes with an f32 scale
// dx = max|x| / 127 (codes = round-to-nearest-even(x / dx)), and a block's dot product is the exact integer
// Σ qw·qx (i32x4.dot_i16x8_s) times dw·dx. The only approximation is the input's quantization.

/** Bytes of one quantized activation block: 32 i16 codes (pre-widened for dot_i16x8_s) and, apart, an f32 scale. */
export const ACT_Q8_BLOCK_BYTES: i32 = 68;

/**
 * Quantizes `rows` rows of k floats (row stride xStride floats) at x into dst: row r at dst + r·(k/32)·68 holds
 * its k/32 blocks of 32 i16 codes (64 bytes each), then the k/32 f32 scales.
 */
export function quantize_act_q8(x: usize, xStride: i32, rows: i32, k: i32, dst: usize): void {
  const nb = k >> 5;
  const rowBytes = <usize>nb * ACT_Q8_BLOCK_BYTES;
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * <usize>xStride) << 2);
    const codes = dst + <usize>r * rowBytes;
    const scales = codes + (<usize>nb << 6);
    for (let b = 0; b < nb; b++) {
      const xp = xr + (<usize>b << 7);
      const v0 = v128.load(xp), v1 = v128.load(xp, 16), v2 = v128.load(xp, 32), v3 = v128.load(xp, 48);
      const v4 = v128.load(xp, 64), v5 = v128.load(xp, 80), v6 = v128.load(xp, 96), v7 = v128.load(xp, 112);
      const m = f32x4.max(
        f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
        f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))),
      );
      const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const d: f32 = amax / <f32>127.0;
      const id = f32x4.splat(d != 0 ? <f32>1.0 / d : <f32>0.0);
      const c = codes + (<usize>b << 6);
      v128.store(c, i16x8.narrow_i32x4_s(qi(v0, id), qi(v1, id)));
      v128.store(c, i16x8.narrow_i32x4_s(qi(v2, id), qi(v3, id)), 16);
      v128.store(c, i16x8.narrow_i32x4_s(qi(v4, id), qi(v5, id)), 32);
      v128.store(c, i16x8.narrow_i32x4_s(qi(v6, id), qi(v7, id)), 48);
      store<f32>(scales + (<usize>b << 2), d);
    }
  }
}

// @ts-ignore: decorator
@inline function qi(v: v128, id: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, id)));
}

/** Σ qw·qx of one weight block (bp) and one activation block (x0..x3: its 32 i16 codes), as i32x4. */
// @ts-ignore: decorator
@inline function intDot(bp: usize, format: i32, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const lo = codesLo(bp, format);
  const hi = codesHi(bp, format);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(lo), x0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(lo), x1)),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(hi), x2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(hi), x3)),
  );
}

/** acc + f32(s) · (dw(bp) · dx). */
// @ts-ignore: decorator
@inline function scaled(acc: v128, s: v128, bp: usize, dx: f32): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(halfToFloat(<u32>load<u16>(bp)) * dx)));
}

// @ts-ignore: decorator
@inline function linearQ8a(
  xq: usize, k: i32, w: usize, format: i32, bias: usize, out: usize, outStride: i32,
  r0: i32, r1: i32, j0: i32, j1: i32,
): void {
  const nb = k >> 5;
  const bb = blockBytes(format);
  const rowBytes = <usize>nb * bb;
  const xRowBytes = <usize>nb * ACT_Q8_BLOCK_BYTES;
  const os = <usize>outStride << 2;
  for (let rb = r0; rb < r1; rb += Q_ROW_BLOCK) {
    const re = min(rb + Q_ROW_BLOCK, r1);
    let j = j0;
    for (; j + 4 <= j1; j += 4) {
      const w0 = w + <usize>j * rowBytes;
      for (let r = rb; r < re; r++) {
        const xr = xq + <usize>r * xRowBytes;
        const xs = xr + (<usize>nb << 6);
        let a0 = f32x4.splat(0.0), a1 = f32x4.splat(0.0), a2 = f32x4.splat(0.0), a3 = f32x4.splat(0.0);
        let bp = w0;
        for (let b = 0; b < nb; b++) {
          const xp = xr + (<usize>b << 6);
          const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
          const dx = load<f32>(xs + (<usize>b << 2));
          a0 = scaled(a0, intDot(bp, format, x0, x1, x2, x3), bp, dx);
          a1 = scaled(a1, intDot(bp + rowBytes, format, x0, x1, x2, x3), bp + rowBytes, dx);
          a2 = scaled(a2, intDot(bp + 2 * rowBytes, format, x0, x1, x2, x3), bp + 2 * rowBytes, dx);
          a3 = scaled(a3, intDot(bp + 3 * rowBytes, format, x0, x1, x2, x3), bp + 3 * rowBytes, dx);
          bp += bb;
        }
        const o = out + <usize>r * os + (<usize>j << 2);
        if (bias != 0) {
          const pb = bias + (<usize>j << 2);
          store<f32>(o, hsum(a0) + load<f32>(pb));
          store<f32>(o, hsum(a1) + load<f32>(pb, 4), 4);
          store<f32>(o, hsum(a2) + load<f32>(pb, 8), 8);
          store<f32>(o, hsum(a3) + load<f32>(pb, 12), 12);
        } else {
          store<f32>(o, hsum(a0));
          store<f32>(o, hsum(a1), 4);
          store<f32>(o, hsum(a2), 8);
          store<f32>(o, hsum(a3), 12);
        }
      }
    }
    for (; j < j1; j++) {
      for (let r = rb; r < re; r++) {
        const xr = xq + <usize>r * xRowBytes;
        const xs = xr + (<usize>nb << 6);
        let a = f32x4.splat(0.0);
        let bp = w + <usize>j * rowBytes;
        for (let b = 0; b < nb; b++) {
          const xp = xr + (<usize>b << 6);
          const s = intDot(bp, format, v128.load(xp), v128.load(xp, 16), v128.load(xp, 32), v128.load(xp, 48));
          a = scaled(a, s, bp, load<f32>(xs + (<usize>b << 2)));
          bp += bb;
        }
        store<f32>(out + <usize>r * os + (<usize>j << 2), hsum(a) + (bias != 0 ? load<f32>(bias + (<usize>j << 2)) : <f32>0.0));
      }
    }
  }
}

/**
 * The integer path: out[r, j] = Σ_blocks dw·dx·(Σ qw·qx) + bias[j] for rows [r0, r1) of activations quantized by
 * quantize_act_q8 at xq and weight rows [j0, j1) of W [n, k] in `format`'s blocks at w; out: row stride outStride
 * floats. Four weight rows share each activation block's loads; blocks of 64 rows reuse the weight rows from cache.
 */
export function linear_q8a(
  xq: usize, k: i32, w: usize, format: i32, bias: usize, out: usize, outStride: i32,
  r0: i32, r1: i32, j0: i32, j1: i32,
): void {
  if (r1 <= r0 || j1 <= j0) return;
  if (format == QUANT_Q8_0) linearQ8a(xq, k, w, QUANT_Q8_0, bias, out, outStride, r0, r1, j0, j1);
  else linearQ8a(xq, k, w, QUANT_Q4_0, bias, out, outStride, r0, r1, j0, j1);
}
