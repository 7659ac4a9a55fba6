// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// Linear layers and the embedding gather on block-quantized weights. GGUF's blocks (an f16 scale d, then the
// codes — Q8_0: 32 int8 q, w = d·q; Q4_0: 16 bytes of nibbles, byte j holding element j low and j + 16 high,
// w = d·(q − 8)) are repacked once at upload into the same number of bytes, codes apart from scales: first every
// block's codes (32 or 16 bytes, row after row, so 16-byte aligned), then every block's f16 scale (2 bytes, same
// order: row j's at sc + (j·nb + b)·2).
//
// The codes of each whole group of 8 rows (rows [0, n & ~7)) are interleaved in 4-byte words: block b of the group
// (8·32 or 8·16 bytes) holds for each word t of a block's codes (bytes 4t..4t + 3) 32 bytes — rows 0..3's word t, then
// rows 4..7's. A 16-byte load then holds word t of four rows, so one relaxed i8 dot against the activations' word t
// broadcast sums row r in lane r: the GEMV needs no horizontal sums, and streams each group's blocks in address order.
// The last n mod 8 rows stay plain (a row's blocks one after another). Every reader here follows (rowCodes,
// codes16); the integer sums, and so the results, are those of the plain layout.
//
// Every weight is dequantized in registers to the exact f32 value d·q (an f16 times an integer of ≤ 8 bits is
// exact in f32), so results differ from the f32 kernels' on the dequantized matrix only by summation order.

import { finiteHalfToFloat4, halfToFloat, halfToFloat4 } from "./half";
import { PANEL, tile4x8 } from "./linear";

/** Format code of Q8_0 blocks (the backend passes it as `format`). */
export const QUANT_Q8_0: i32 = 0;
/** Format code of Q4_0 blocks. */
export const QUANT_Q4_0: i32 = 1;
/** Rows of x kept hot while the dequantized panels sweep over them (as linear's ROW_BLOCK). */
const Q_ROW_BLOCK: i32 = 64;
/** Fewer rows than this use the streaming GEMV straight from the blocks; more, the dequantized-panel GEMM. */
export const QUANT_GEMM_ROWS: i32 = 4;

/** Bytes of one block's codes. */
// @ts-ignore: decorator
@inline function blockBytes(format: i32): usize {
  return format == QUANT_Q8_0 ? 32 : 16;
}

/**
 * Address of row j's codes of block 0 (matrix codes at w, rows of rowBytes, rows [0, n8) in interleaved groups): in a
 * group, the row's first 4-byte word (its next words 32 bytes apart, its next block rowStep bytes on); else the row.
 */
// @ts-ignore: decorator
@inline function rowCodes(w: usize, rowBytes: usize, n8: i32, j: i32): usize {
  if (j >= n8) return w + <usize>j * rowBytes;
  return w + <usize>(j & ~7) * rowBytes + (<usize>(j & 4) << 2) + (<usize>(j & 3) << 2);
}

/** Bytes from one block of a row to its next: 8 blocks' codes in an interleaved group, one block's otherwise. */
// @ts-ignore: decorator
@inline function rowStep(il: bool, format: i32): usize {
  return il ? blockBytes(format) << 3 : blockBytes(format);
}

/** Code bytes 16·half .. 16·half + 15 of the block of one row at bp (il: bp in an interleaved group, see rowCodes). */
// @ts-ignore: decorator
@inline function codes16(bp: usize, half: i32, il: bool): v128 {
  if (!il) return v128.load(bp + (<usize>half << 4));
  const p = bp + (<usize>half << 7);
  let v = v128.load32_zero(p);
  v = v128.load32_lane(p, v, 1, 32);
  v = v128.load32_lane(p, v, 2, 64);
  return v128.load32_lane(p, v, 3, 96);
}

/** Address of the scales of a matrix of n rows of nb blocks whose codes start at w. */
// @ts-ignore: decorator
@inline function scalesOf(w: usize, n: i32, nb: i32, format: i32): usize {
  return w + <usize>n * <usize>nb * blockBytes(format);
}

/** The f16 scales of the blocks at b0..b3, sign-extended to i32 lanes (both conversions below take that). */
// @ts-ignore: decorator
@inline function scaleLanes4(b0: usize, b1: usize, b2: usize, b3: usize): v128 {
  let h = i32x4.splat(<i32>load<i16>(b0));
  h = i32x4.replace_lane(h, 1, <i32>load<i16>(b1));
  h = i32x4.replace_lane(h, 2, <i32>load<i16>(b2));
  return i32x4.replace_lane(h, 3, <i32>load<i16>(b3));
}

/** The finite scales of the blocks at b0..b3 as f32x4 ({@link finiteHalfToFloat4}). */
// @ts-ignore: decorator
@inline function finiteScales4(b0: usize, b1: usize, b2: usize, b3: usize): v128 {
  return finiteHalfToFloat4(scaleLanes4(b0, b1, b2, b3));
}

/** The scales of the blocks at b0..b3 as f32x4 (±inf and NaN kept: {@link halfToFloat4} masks the sign bits off). */
// @ts-ignore: decorator
@inline function scales4(b0: usize, b1: usize, b2: usize, b3: usize): v128 {
  return halfToFloat4(scaleLanes4(b0, b1, b2, b3));
}

/** The signed codes of elements 0..15 of the block at bp, as i8x16. */
// @ts-ignore: decorator
@inline function codesLo(bp: usize, format: i32, il: bool): v128 {
  if (format == QUANT_Q8_0) return codes16(bp, 0, il);
  return i8x16.sub(v128.and(codes16(bp, 0, il), i8x16.splat(0x0f)), i8x16.splat(8));
}

/** The signed codes of elements 16..31 of the block at bp, as i8x16. */
// @ts-ignore: decorator
@inline function codesHi(bp: usize, format: i32, il: bool): v128 {
  if (format == QUANT_Q8_0) return codes16(bp, 1, il);
  return i8x16.sub(i8x16.shr_u(codes16(bp, 0, il), 4), i8x16.splat(8));
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
@inline function blockDot(bp: usize, xp: usize, format: i32, il: bool): v128 {
  const lo = codesLo(bp, format, il);
  const hi = codesHi(bp, format, il);
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

/** The f16 scale at sp, splatted. */
// @ts-ignore: decorator
@inline function scale(sp: usize): v128 {
  return f32x4.splat(halfToFloat(<u32>load<u16>(sp)));
}

/**
 * GEMV of one x row (k floats at px) against weight rows [j0, j1) (row j at w + j·rowBytes), four rows at a time
 * sharing the x loads, each block's integer-code dot scaled by its d: out[j] = x · W[j] (+ bias[j]).
 */
// @ts-ignore: decorator
@inline function gemvRow(
  px: usize, nb: i32, w: usize, sc: usize, rowBytes: usize, n8: i32, format: i32, bias: usize, po: usize, j0: i32,
  j1: i32,
): void {
  const sRow = <usize>nb << 1;
  let j = j0;
  for (; j + 4 <= j1; j += 4) {
    // j0 is a multiple of 4 (of 8 from the backend), so a group of four never straddles the plain rows' start.
    const il = j < n8, step = rowStep(il, format);
    let b0 = rowCodes(w, rowBytes, n8, j);
    let b1 = rowCodes(w, rowBytes, n8, j + 1);
    let b2 = rowCodes(w, rowBytes, n8, j + 2);
    let b3 = rowCodes(w, rowBytes, n8, j + 3);
    let sp = sc + <usize>j * sRow;
    let a0 = f32x4.splat(0.0), a1 = f32x4.splat(0.0), a2 = f32x4.splat(0.0), a3 = f32x4.splat(0.0);
    let xp = px;
    for (let b = 0; b < nb; b++) {
      const d = scales4(sp, sp + sRow, sp + 2 * sRow, sp + 3 * sRow);
      a0 = f32x4.add(a0, f32x4.mul(blockDot(b0, xp, format, il), v128.shuffle<f32>(d, d, 0, 0, 0, 0)));
      a1 = f32x4.add(a1, f32x4.mul(blockDot(b1, xp, format, il), v128.shuffle<f32>(d, d, 1, 1, 1, 1)));
      a2 = f32x4.add(a2, f32x4.mul(blockDot(b2, xp, format, il), v128.shuffle<f32>(d, d, 2, 2, 2, 2)));
      a3 = f32x4.add(a3, f32x4.mul(blockDot(b3, xp, format, il), v128.shuffle<f32>(d, d, 3, 3, 3, 3)));
      b0 += step;
      b1 += step;
      b2 += step;
      b3 += step;
      sp += 2;
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
    const il = j < n8, step = rowStep(il, format);
    let bp = rowCodes(w, rowBytes, n8, j);
    let sp = sc + <usize>j * sRow;
    let a = f32x4.splat(0.0);
    let xp = px;
    for (let b = 0; b < nb; b++) {
      a = f32x4.add(a, f32x4.mul(blockDot(bp, xp, format, il), scale(sp)));
      bp += step;
      sp += 2;
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

/** Dequantizes row j of nb blocks (its scales at sp) into 32·nb floats at o. */
// @ts-ignore: decorator
@inline function dequantRow(w: usize, rowBytes: usize, n8: i32, j: i32, sp: usize, nb: i32, format: i32, o: usize): void {
  const il = j < n8, step = rowStep(il, format);
  let bp = rowCodes(w, rowBytes, n8, j);
  for (let b = 0; b < nb; b++) {
    const d = scale(sp);
    store16(o, codesLo(bp, format, il), d);
    store16(o + 64, codesHi(bp, format, il), d);
    bp += step;
    sp += 2;
    o += 128;
  }
}

/**
 * Dequantizes weight rows [c0, c0 + 8) (rows ≥ n as zeros) into one packed panel at dst, k-major as linear.ts's
 * panels: dst[kk·8 + j] = W[c0 + j][kk]. Each row goes through `row` (k floats of scratch after the panel).
 */
// @ts-ignore: decorator
@inline function dequantPanel(w: usize, sc: usize, rowBytes: usize, nb: i32, format: i32, n: i32, c0: i32, dst: usize): void {
  const k = nb << 5;
  const row = dst + (<usize>k << 5);
  for (let j = 0; j < PANEL; j++) {
    const d = dst + (<usize>j << 2);
    if (c0 + j < n) {
      dequantRow(w, rowBytes, n & ~7, c0 + j, sc + (<usize>(c0 + j) * <usize>nb << 1), nb, format, row);
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
  const sc = scalesOf(w, n, nb, format);
  const xs = <usize>xStride << 2;
  const os = <usize>outStride << 2;
  if (r1 - r0 < QUANT_GEMM_ROWS) {
    for (let r = r0; r < r1; r++) gemvRow(x + <usize>r * xs, nb, w, sc, rowBytes, n & ~7, format, bias, out + <usize>r * os, j0, j1);
    return;
  }
  for (let rb = r0; rb < r1; rb += Q_ROW_BLOCK) {
    const re = min(rb + Q_ROW_BLOCK, r1);
    for (let c0 = j0; c0 < j1; c0 += PANEL) {
      const cols = min(PANEL, j1 - c0);
      dequantPanel(w, sc, rowBytes, nb, format, n, c0, scratch);
      const pb = bias == 0 ? 0 : bias + (<usize>c0 << 2);
      for (let r = rb; r < re; r += 4) {
        tile4x8(x + <usize>r * xs, xs, min(4, re - r), k, scratch, pb, out + <usize>r * os + (<usize>c0 << 2), os, cols);
      }
    }
  }
}

/**
 * out[r, j] = x[r, :] · W[j, :] + bias[j] for rows [r0, r1) and output features [j0, j1) (j0 a multiple of 8 when
 * r1 − r0 ≥ QUANT_GEMM_ROWS; of 4 otherwise), W [n, k] repacked (codes, then scales) at w (k a multiple of 32). x: row stride xStride
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
    const sp = scalesOf(w, n, nb, format) + (<usize>id * <usize>nb << 1);
    if (format == QUANT_Q8_0) dequantRow(w, rowBytes, n & ~7, id, sp, nb, QUANT_Q8_0, o);
    else dequantRow(w, rowBytes, n & ~7, id, sp, nb, QUANT_Q4_0, o);
  }
}

// ---- the integer path (the default): activations quantized to 16 bits per block ---------------------------------
//
// Each input row is quantized per block of 32 to i16 codes qx = nearest-even(fl(x · fl(1 / dx))) with an f32 scale
// dx = fl(max|x| / 32767), and a block's dot product with a weight block is the exact integer Σ qw·qx
// (i32x4.dot_i16x8_s), converted to f32 and scaled by fl(dw·dx). Per output: acc = fl(acc + fl(f32(Σ qw·qx)·fl(dw·dx)))
// over the blocks in order, then fl(acc + bias): every kernel below (GEMV groups of 8 / 4 rows, the single-row tail,
// the GEMM tile) performs exactly this arithmetic, so a result does not depend on the path, the row grouping or the
// thread split (tests/wasm/quant_activations_test.ts emulates it bit for bit).
//
// No integer overflow. |qx| ≤ 32767: fl(max|x| · fl(1 / dx)) is 32767 within three f32 roundings (≤ 32767.01), which
// rounds to 32767 (and narrow_i32x4_s saturates besides), so the one overflowing pair of dot_i16x8_s, (−32768)² +
// (−32768)², cannot occur. |qw| ≤ 128 (Q8_0: any int8, −128 included; Q4_0: q − 8 ∈ [−8, 7], or in the GEMV the
// unsigned nibble q ∈ [0, 15] with Σ (q − 8)·qx = Σ q·qx − 8·Σ qx). So a product is at most 128·32767 = 4 194 176 in
// magnitude, and a block's 32 products sum, in any grouping, to at most 32·4 194 176 = 134 213 632 < 2^31 − 1
// (Q4_0's unsigned form: |Σ q·qx| ≤ 32·15·32767 = 15 728 160, |8·Σ qx| ≤ 8 388 352). Sums never cross a block.
//
// Error against the exact product with the dequantized weights: |fl(x · fl(1/dx)) − x/dx| ≤ 32767·2^−23 < 2^−8, so
// |x − dx·qx| ≤ dx·(1/2 + 2^−8) with dx ≤ max|x_block| / 32767 · (1 + 2^−24): each output moves by at most
// Σ_blocks dx·(1/2 + 2^−8)·Σ|w_block| (≈ 250× less than 8-bit codes' max/254), plus the f32 rounding of the scaling
// and the accumulation (the conversion, fl(dw·dx) and the product: 3 roundings per block, then one per block added).

//
// ---- 8-bit activations (ACT_INT8, ACT_INT8_PACKED) -------------------------------------------------------------
//
// The same arithmetic with llama.cpp's q8_0 activation quantization: dx = fl(max|x| / 127), qx = nearest-even(
// fl(x · fl(1 / dx))) ∈ [−127, 127] (llama.cpp's AVX2 quantize_row_q8_0 also rounds to nearest even, _mm256_round_ps;
// its scalar path rounds half away from zero; its d is then stored as f16, ours stays f32). |qx| ≤ 127 as above
// (fl(max|x|·fl(1/dx)) ≤ 127.0001 rounds to 127; narrow_i16x8_s / i8x16.narrow saturate besides).
//
// ACT_INT8 keeps the 16-bit layout (codes widened to i16): the GEMM tile and builds without relaxed SIMD use the
// kernels above unchanged. ACT_INT8_PACKED (the GEMV on the relaxed build) stores per block |qx| as 32 bytes and the
// sign mask of qx (0xff where qx < 0) as 32 bytes, and takes each Q8_0 block's dot product with llama.cpp's AVX2
// sign trick: Σ qw·qx = Σ (qw·sign(qx))·|qx|, the signed operand qw·sign(qx) = (qw ^ m) − m (m the mask), the 7-bit
// operand |qx| ∈ [0, 127], whose high bit is never set — so i32x4.relaxed_dot_i8x16_i7x16_add_s is fully defined on
// every host (x64: pmaddubsw then pmaddwd, or vpdpbusd; arm64: sdot). Negation needs qw ≠ −128: a Q8_0 matrix holding
// a −128 code is run with ACT_INT8 instead (wasm/ops.ts checks at upload; llama.cpp's and our quantizers write codes
// in [−127, 127]). Q4_0 needs no trick: its unsigned nibbles q ∈ [0, 15] are the 7-bit operand as they are, the
// signed qx (stored as 32 bytes) the other, and Σ (q − 8)·qx = Σ q·qx − 8·Σ qx as on the 16-bit path.
//
// No saturation: pmaddubsw adds two i8·u7 products into a saturating i16; |qw·sign(qx)| ≤ 127 and |qx| ≤ 127 give
// |pair| ≤ 2·127·127 = 32 258 < 32 767 (Q4_0: 2·127·15 = 3 810), so the pair sum is exact, and the i32 lanes gather
// at most 32 products of ≤ 16 129 (≤ 516 128 ≪ 2^31). The integer sums are therefore exactly Σ qw·qx, as with the
// widening i16x8.dot on ACT_INT8: results are bit-identical across the builds and the layouts.
//
// Error against the exact product with the dequantized weights: |fl(x·fl(1/dx)) − x/dx| ≤ 127·2^−23·(1 + 2^−22) < 2^−15, so
// |x − dx·qx| ≤ dx·(1/2 + 2^−15) with dx ≤ max|x_block| / 127 · (1 + 2^−24): each output moves by at most
// Σ_blocks dx·(1/2 + 2^−15)·Σ|w_block| plus the same f32 roundings as above.

/** quantize_act mode: 16-bit codes (scale max|x| / 32767), widened layout. */
export const ACT_INT16: i32 = 0;
/** quantize_act mode: 8-bit codes (scale max|x| / 127) in the 16-bit layout (GEMM tile; builds without relaxed SIMD). */
export const ACT_INT8: i32 = 1;
/** quantize_act mode: 8-bit codes as bytes (Q8_0: |q| then sign masks; Q4_0: q) for linear_qa with packed = 1. */
export const ACT_INT8_PACKED: i32 = 2;

/**
 * Bytes of one row of quantized activations for inner size k: k/32 blocks of 32 i16 codes (64 bytes each), then the
 * k/32 f32 scales dx, then the k/32 i32 values 8·Σ qx, padded to a multiple of 16 bytes.
 */
export function act_row_bytes(k: i32): i32 {
  return actRowBytes(k >> 5);
}

// @ts-ignore: decorator
@inline function actRowBytes(nb: i32): i32 {
  return (nb << 6) + (((nb << 3) + 15) & ~15);
}

/**
 * Quantizes `rows` rows of k floats (row stride xStride floats) at x for the weights' `format` into dst (row r at
 * dst + r·act_row_bytes(k)), as 16-bit (mode ACT_INT16) or 8-bit codes (ACT_INT8, ACT_INT8_PACKED). The 16-bit
 * layout: Q8_0, a block's codes in element order; Q4_0, in the order the nibbles unpack as i16 lanes (elements 0, 2,
 * …, 14; 1, 3, …, 15; 16, 18, …, 30; 17, 19, …, 31; see blockDotInt). ACT_INT8_PACKED: Q8_0, |q| of elements 0..31,
 * then their sign masks; Q4_0, the signed q of elements 0..31 (then 32 unused bytes).
 */
export function quantize_act(x: usize, xStride: i32, rows: i32, k: i32, format: i32, mode: i32, dst: usize): void {
  const levels: f32 = mode == ACT_INT16 ? <f32>32767.0 : <f32>127.0;
  const nb = k >> 5;
  const rowBytes = <usize>actRowBytes(nb);
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>r * <usize>xStride) << 2);
    const codes = dst + <usize>r * rowBytes;
    const scales = codes + (<usize>nb << 6);
    const sums = scales + (<usize>nb << 2);
    for (let b = 0; b < nb; b++) {
      const xp = xr + (<usize>b << 7);
      const v0 = v128.load(xp), v1 = v128.load(xp, 16), v2 = v128.load(xp, 32), v3 = v128.load(xp, 48);
      const v4 = v128.load(xp, 64), v5 = v128.load(xp, 80), v6 = v128.load(xp, 96), v7 = v128.load(xp, 112);
      const m = f32x4.max(
        f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
        f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))),
      );
      const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const d: f32 = amax / levels;
      const id = f32x4.splat(d != 0 ? <f32>1.0 / d : <f32>0.0);
      let c0 = i16x8.narrow_i32x4_s(qi(v0, id), qi(v1, id)); // elements 0..7
      let c1 = i16x8.narrow_i32x4_s(qi(v2, id), qi(v3, id)); // 8..15
      let c2 = i16x8.narrow_i32x4_s(qi(v4, id), qi(v5, id)); // 16..23
      let c3 = i16x8.narrow_i32x4_s(qi(v6, id), qi(v7, id)); // 24..31
      const s = i32x4.add(
        i32x4.add(i32x4.extadd_pairwise_i16x8_s(c0), i32x4.extadd_pairwise_i16x8_s(c1)),
        i32x4.add(i32x4.extadd_pairwise_i16x8_s(c2), i32x4.extadd_pairwise_i16x8_s(c3)),
      );
      const sum = i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
      store<i32>(sums + (<usize>b << 2), sum << 3);
      if (mode == ACT_INT8_PACKED) {
        const p0 = i8x16.narrow_i16x8_s(c0, c1), p1 = i8x16.narrow_i16x8_s(c2, c3);
        if (format == QUANT_Q8_0) {
          // |q| (≤ 127, so the high bit is clear: the i7 operand) and the sign mask (0xff where q < 0).
          c0 = i8x16.abs(p0);
          c1 = i8x16.abs(p1);
          c2 = i8x16.shr_s(p0, 7);
          c3 = i8x16.shr_s(p1, 7);
        } else {
          // The signed codes themselves (Q4_0's unsigned nibbles are the i7 operand); the second half unused.
          c0 = p0;
          c1 = p1;
          c2 = i8x16.splat(0);
          c3 = i8x16.splat(0);
        }
      } else if (format == QUANT_Q4_0) {
        const e0 = v128.shuffle<i16>(c0, c1, 0, 2, 4, 6, 8, 10, 12, 14);
        const o0 = v128.shuffle<i16>(c0, c1, 1, 3, 5, 7, 9, 11, 13, 15);
        const e1 = v128.shuffle<i16>(c2, c3, 0, 2, 4, 6, 8, 10, 12, 14);
        const o1 = v128.shuffle<i16>(c2, c3, 1, 3, 5, 7, 9, 11, 13, 15);
        c0 = e0;
        c1 = o0;
        c2 = e1;
        c3 = o1;
      }
      const c = codes + (<usize>b << 6);
      v128.store(c, c0);
      v128.store(c, c1, 16);
      v128.store(c, c2, 32);
      v128.store(c, c3, 48);
      store<f32>(scales + (<usize>b << 2), d);
    }
  }
}

// @ts-ignore: decorator
@inline function qi(v: v128, id: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, id)));
}

/**
 * Partial sums (i32x4) of Σ qw·qx of the weight block at bp against one activation block's codes x0..x3. Q8_0: the
 * int8 codes sign-extended. Q4_0: the UNSIGNED nibbles q (the caller subtracts 8·Σ qx), unpacked as i16 lanes of the
 * 16 bytes — lane i of (v & 15) is element 2i, of (v >> 8) & 15 element 2i + 1, of (v >> 4) & 15 element 2i + 16, of
 * v >> 12 element 2i + 17 — against activations stored in that order (quantize_act).
 */
// @ts-ignore: decorator
@inline function blockDotInt(bp: usize, format: i32, packed: bool, il: bool, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  if (packed) return blockDotPacked(bp, format, il, x0, x1, x2, x3);
  if (format == QUANT_Q8_0) {
    if (il) {
      const lo = codes16(bp, 0, il), hi = codes16(bp, 1, il);
      return i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(lo), x0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(lo), x1)),
        i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(hi), x2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(hi), x3)),
      );
    }
    // v128.load8x8_s loads 8 codes sign-extended to i16 in one instruction (pmovsxbw from memory).
    return i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(bp), x0), i32x4.dot_i16x8_s(v128.load8x8_s(bp, 8), x1)),
      i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(bp, 16), x2), i32x4.dot_i16x8_s(v128.load8x8_s(bp, 24), x3)),
    );
  }
  // Shifts only (no mask constant to materialise): a lane's bits 0–3, 8–11, 4–7, 12–15 moved to the top, then down.
  const v = codes16(bp, 0, il);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.shr_u(i16x8.shl(v, 12), 12), x0), i32x4.dot_i16x8_s(i16x8.shr_u(i16x8.shl(v, 4), 12), x1)),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.shr_u(i16x8.shl(v, 8), 12), x2), i32x4.dot_i16x8_s(i16x8.shr_u(v, 12), x3)),
  );
}

/**
 * blockDotInt on ACT_INT8_PACKED activations. Q8_0 (x0, x1: |qx| of elements 0..15, 16..31; x2, x3: their sign
 * masks): the int8 codes (never −128 here) with qx's sign applied, dotted with |qx| (the sign trick, see above).
 * Q4_0 (x0, x1: the signed qx of elements 0..15, 16..31): the unsigned nibbles (low = elements 0..15, high = 16..31)
 * are already 7-bit, so qx is the signed operand as it is (the caller subtracts 8·Σ qx).
 */
// @ts-ignore: decorator
@inline function blockDotPacked(bp: usize, format: i32, il: bool, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  if (format == QUANT_Q8_0) {
    const w0 = codes16(bp, 0, il), w1 = codes16(bp, 1, il);
    return dotSigned(i8x16.sub(v128.xor(w0, x2), x2), x0, dotSigned(i8x16.sub(v128.xor(w1, x3), x3), x1, i32x4.splat(0)));
  }
  const v = codes16(bp, 0, il);
  return dotSigned(x0, v128.and(v, i8x16.splat(0x0f)), dotSigned(x1, i8x16.shr_u(v, 4), i32x4.splat(0)));
}

/**
 * acc + the four-product sums of a (i8x16, |a| ≤ 127) times b (i8x16 in [0, 127]) as i32x4, lane i the sum over bytes
 * 4i..4i + 3 — one relaxed dot on the relaxed build (defined there because b's high bit is clear; pair sums ≤ 2·127·127
 * = 32 258 do not saturate), the same integers by widening to i16, i32x4.dot_i16x8_s and a pairwise add otherwise.
 */
// @ts-ignore: decorator
@inline function dotSigned(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, acc);
  const l = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(a), i16x8.extend_low_i8x16_u(b));
  const h = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(a), i16x8.extend_high_i8x16_u(b));
  return i32x4.add(acc, i32x4.add(v128.shuffle<i32>(l, h, 0, 2, 4, 6), v128.shuffle<i32>(l, h, 1, 3, 5, 7)));
}

/**
 * Σ qw·qx of one block of four rows of an interleaved group (their words t at bp + 32t, see the header) against
 * ACT_INT8_PACKED activations at xp, row r in lane r: each 4-byte word of the activations broadcast and one dotSigned
 * per word (and nibble half), two chains. The same integers as hadd4 of four blockDotPacked.
 */
// @ts-ignore: decorator
@inline function dotInterleaved4(bp: usize, xp: usize, format: i32): v128 {
  if (format == QUANT_Q8_0) {
    // Word t: |qx| at xp + 4t, its sign mask at xp + 32 + 4t; the weights' signs flipped where qx < 0.
    let e = i32x4.splat(0), o = i32x4.splat(0);
    let m = v128.load32_splat(xp, 32), v = v128.load(bp);
    e = dotSigned(i8x16.sub(v128.xor(v, m), m), v128.load32_splat(xp), e);
    m = v128.load32_splat(xp, 36); v = v128.load(bp, 32);
    o = dotSigned(i8x16.sub(v128.xor(v, m), m), v128.load32_splat(xp, 4), o);
    m = v128.load32_splat(xp, 40); v = v128.load(bp, 64);
    e = dotSigned(i8x16.sub(v128.xor(v, m), m), v128.load32_splat(xp, 8), e);
    m = v128.load32_splat(xp, 44); v = v128.load(bp, 96);
    o = dotSigned(i8x16.sub(v128.xor(v, m), m), v128.load32_splat(xp, 12), o);
    m = v128.load32_splat(xp, 48); v = v128.load(bp, 128);
    e = dotSigned(i8x16.sub(v128.xor(v, m), m), v128.load32_splat(xp, 16), e);
    m = v128.load32_splat(xp, 52); v = v128.load(bp, 160);
    o = dotSigned(i8x16.sub(v128.xor(v, m), m), v128.load32_splat(xp, 20), o);
    m = v128.load32_splat(xp, 56); v = v128.load(bp, 192);
    e = dotSigned(i8x16.sub(v128.xor(v, m), m), v128.load32_splat(xp, 24), e);
    m = v128.load32_splat(xp, 60); v = v128.load(bp, 224);
    o = dotSigned(i8x16.sub(v128.xor(v, m), m), v128.load32_splat(xp, 28), o);
    return i32x4.add(e, o);
  }
  // Word t: low nibbles elements 4t..4t + 3 (qx at xp + 4t), high nibbles 16 + 4t.. (qx at xp + 16 + 4t).
  const f = i8x16.splat(0x0f);
  let lo = i32x4.splat(0), hi = i32x4.splat(0);
  let v = v128.load(bp);
  lo = dotSigned(v128.load32_splat(xp), v128.and(v, f), lo);
  hi = dotSigned(v128.load32_splat(xp, 16), i8x16.shr_u(v, 4), hi);
  v = v128.load(bp, 32);
  lo = dotSigned(v128.load32_splat(xp, 4), v128.and(v, f), lo);
  hi = dotSigned(v128.load32_splat(xp, 20), i8x16.shr_u(v, 4), hi);
  v = v128.load(bp, 64);
  lo = dotSigned(v128.load32_splat(xp, 8), v128.and(v, f), lo);
  hi = dotSigned(v128.load32_splat(xp, 24), i8x16.shr_u(v, 4), hi);
  v = v128.load(bp, 96);
  lo = dotSigned(v128.load32_splat(xp, 12), v128.and(v, f), lo);
  hi = dotSigned(v128.load32_splat(xp, 28), i8x16.shr_u(v, 4), hi);
  return i32x4.add(lo, hi);
}

/** [Σ s0, Σ s1, Σ s2, Σ s3]: the lane sums of four i32x4 (exact integers). */
// @ts-ignore: decorator
@inline function hadd4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const u0 = i32x4.add(v128.shuffle<i32>(s0, s1, 0, 4, 1, 5), v128.shuffle<i32>(s0, s1, 2, 6, 3, 7));
  const u1 = i32x4.add(v128.shuffle<i32>(s2, s3, 0, 4, 1, 5), v128.shuffle<i32>(s2, s3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(u0, u1, 0, 1, 4, 5), v128.shuffle<i32>(u0, u1, 2, 3, 6, 7));
}

// @ts-ignore: decorator
@inline function isum(s: v128): i32 {
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}

/**
 * One block of four weight rows (codes at bp, bp + rs, …, il: of an interleaved group; their scales dw as f32x4)
 * against one activation block (at xp: codes x0..x3, scale dx splatted, Q4_0's correction 8·Σ qx splatted):
 * acc + f32(Σ qw·qx)·fl(dw·dx) per row.
 */
// @ts-ignore: decorator
@inline function group4(
  acc: v128, bp: usize, rs: usize, il: bool, dw: v128, format: i32, packed: bool,
  xp: usize, x0: v128, x1: v128, x2: v128, x3: v128, dx: v128, corr: v128,
): v128 {
  let s = packed && il ? dotInterleaved4(bp, xp, format) : hadd4(
    blockDotInt(bp, format, packed, il, x0, x1, x2, x3),
    blockDotInt(bp + rs, format, packed, il, x0, x1, x2, x3),
    blockDotInt(bp + 2 * rs, format, packed, il, x0, x1, x2, x3),
    blockDotInt(bp + 3 * rs, format, packed, il, x0, x1, x2, x3),
  );
  if (format == QUANT_Q4_0) s = i32x4.sub(s, corr);
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(dw, dx)));
}

/**
 * The f16 scales of blocks b..b + 3 of two rows (the first's at sp, the second's at sp + sRow) as i16x8: [r0b0, r0b1,
 * r0b2, r0b3, r1b0, …]. Two such, shuffled (0, 4, 8, 12, 1, 5, 9, 13 / 2, 6, 10, 14, 3, 7, 11, 15), give the four rows'
 * scales block by block: 16 scales in 4 loads instead of 16.
 */
// @ts-ignore: decorator
@inline function rowScales(sp: usize, sRow: usize): v128 {
  return v128.load64_lane(sp + sRow, v128.load64_zero(sp), 1);
}

/** Stores four outputs (+ bias) at o. */
// @ts-ignore: decorator
@inline function store4(acc: v128, bias: usize, j: i32, o: usize): void {
  v128.store(o, bias != 0 ? f32x4.add(acc, v128.load(bias + (<usize>j << 2))) : acc);
}

/** One output: weight row j (scales at sp) against the quantized activation row xr. */
// @ts-ignore: decorator
@inline function rowInt(
  xr: usize, nb: i32, w: usize, rowBytes: usize, n8: i32, j: i32, sp: usize, format: i32, packed: bool,
): f32 {
  const il = j < n8, step = rowStep(il, format);
  let bp = rowCodes(w, rowBytes, n8, j);
  const xsc = xr + (<usize>nb << 6);
  const xsum = xsc + (<usize>nb << 2);
  let acc: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const xp = xr + (<usize>b << 6);
    let s = isum(blockDotInt(bp, format, packed, il, v128.load(xp), v128.load(xp, 16), v128.load(xp, 32), v128.load(xp, 48)));
    if (format == QUANT_Q4_0) s -= load<i32>(xsum + (<usize>b << 2));
    acc += <f32>s * (halfToFloat(<u32>load<u16>(sp)) * load<f32>(xsc + (<usize>b << 2)));
    bp += step;
    sp += 2;
  }
  return acc;
}

/**
 * gemvInt's rows j..j + 7 (j a multiple of 8: one interleaved group if il, else eight plain rows): two groups of four
 * sharing each activation block; the rows' scales converted 16 at a time (four rows × four blocks), the last nb mod 4
 * blocks one at a time.
 */
// @ts-ignore: decorator
@inline function gemvGroup8(
  xr: usize, nb: i32, w: usize, sc: usize, rowBytes: usize, n8: i32, il: bool, format: i32, packed: bool, bias: usize,
  po: usize, j: i32,
): void {
  const sRow = <usize>nb << 1;
  const xsc = xr + (<usize>nb << 6);
  const xsum = xsc + (<usize>nb << 2);
  const nb4 = nb & ~3;
  const bb = rowStep(il, format), rs: usize = il ? 4 : rowBytes;
  let bp = rowCodes(w, rowBytes, n8, j);
  let sp = sc + <usize>j * sRow;
  const bp4: usize = il ? 16 : rowBytes << 2, sp4 = sRow << 2;
  let a0 = f32x4.splat(0.0), a1 = f32x4.splat(0.0);
  let b = 0;
  for (; b < nb4; b += 4) {
    const l0 = rowScales(sp, sRow), l1 = rowScales(sp + 2 * sRow, sRow);
    const h0 = rowScales(sp + sp4, sRow), h1 = rowScales(sp + sp4 + 2 * sRow, sRow);
    const lo01 = v128.shuffle<i16>(l0, l1, 0, 4, 8, 12, 1, 5, 9, 13), lo23 = v128.shuffle<i16>(l0, l1, 2, 6, 10, 14, 3, 7, 11, 15);
    const hi01 = v128.shuffle<i16>(h0, h1, 0, 4, 8, 12, 1, 5, 9, 13), hi23 = v128.shuffle<i16>(h0, h1, 2, 6, 10, 14, 3, 7, 11, 15);
    {
      const xp = xr + (<usize>(b + 0) << 6);
      const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
      const dx = v128.load32_splat(xsc + (<usize>(b + 0) << 2));
      const corr = format == QUANT_Q4_0 ? v128.load32_splat(xsum + (<usize>(b + 0) << 2)) : i32x4.splat(0);
      a0 = group4(a0, bp, rs, il, finiteHalfToFloat4(i32x4.extend_low_i16x8_s(lo01)), format, packed, xp, x0, x1, x2, x3, dx, corr);
      a1 = group4(a1, bp + bp4, rs, il, finiteHalfToFloat4(i32x4.extend_low_i16x8_s(hi01)), format, packed, xp, x0, x1, x2, x3, dx, corr);
      bp += bb;
    }
    {
      const xp = xr + (<usize>(b + 1) << 6);
      const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
      const dx = v128.load32_splat(xsc + (<usize>(b + 1) << 2));
      const corr = format == QUANT_Q4_0 ? v128.load32_splat(xsum + (<usize>(b + 1) << 2)) : i32x4.splat(0);
      a0 = group4(a0, bp, rs, il, finiteHalfToFloat4(i32x4.extend_high_i16x8_s(lo01)), format, packed, xp, x0, x1, x2, x3, dx, corr);
      a1 = group4(a1, bp + bp4, rs, il, finiteHalfToFloat4(i32x4.extend_high_i16x8_s(hi01)), format, packed, xp, x0, x1, x2, x3, dx, corr);
      bp += bb;
    }
    {
      const xp = xr + (<usize>(b + 2) << 6);
      const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
      const dx = v128.load32_splat(xsc + (<usize>(b + 2) << 2));
      const corr = format == QUANT_Q4_0 ? v128.load32_splat(xsum + (<usize>(b + 2) << 2)) : i32x4.splat(0);
      a0 = group4(a0, bp, rs, il, finiteHalfToFloat4(i32x4.extend_low_i16x8_s(lo23)), format, packed, xp, x0, x1, x2, x3, dx, corr);
      a1 = group4(a1, bp + bp4, rs, il, finiteHalfToFloat4(i32x4.extend_low_i16x8_s(hi23)), format, packed, xp, x0, x1, x2, x3, dx, corr);
      bp += bb;
    }
    {
      const xp = xr + (<usize>(b + 3) << 6);
      const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
      const dx = v128.load32_splat(xsc + (<usize>(b + 3) << 2));
      const corr = format == QUANT_Q4_0 ? v128.load32_splat(xsum + (<usize>(b + 3) << 2)) : i32x4.splat(0);
      a0 = group4(a0, bp, rs, il, finiteHalfToFloat4(i32x4.extend_high_i16x8_s(lo23)), format, packed, xp, x0, x1, x2, x3, dx, corr);
      a1 = group4(a1, bp + bp4, rs, il, finiteHalfToFloat4(i32x4.extend_high_i16x8_s(hi23)), format, packed, xp, x0, x1, x2, x3, dx, corr);
      bp += bb;
    }
    sp += 8;
  }
  for (; b < nb; b++) {
    const xp = xr + (<usize>b << 6);
    const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
    const dx = v128.load32_splat(xsc + (<usize>b << 2));
    const corr = format == QUANT_Q4_0 ? v128.load32_splat(xsum + (<usize>b << 2)) : i32x4.splat(0);
    a0 = group4(a0, bp, rs, il, finiteScales4(sp, sp + sRow, sp + 2 * sRow, sp + 3 * sRow), format, packed, xp, x0, x1, x2, x3, dx, corr);
    const sq = sp + sp4;
    a1 = group4(a1, bp + bp4, rs, il, finiteScales4(sq, sq + sRow, sq + 2 * sRow, sq + 3 * sRow), format, packed, xp, x0, x1, x2, x3, dx, corr);
    bp += bb;
    sp += 2;
  }
  store4(a0, bias, j, po + (<usize>j << 2));
  store4(a1, bias, j + 4, po + (<usize>(j + 4) << 2));
}

/**
 * GEMV: one quantized activation row xr against weight rows [j0, j1) (j0 a multiple of 8), eight (gemvGroup8) then
 * four rows sharing each x load, then single rows.
 */
// @ts-ignore: decorator
@inline function gemvInt(
  xr: usize, nb: i32, w: usize, sc: usize, rowBytes: usize, n8: i32, format: i32, packed: bool, bias: usize,
  po: usize, j0: i32, j1: i32,
): void {
  const sRow = <usize>nb << 1;
  const xsc = xr + (<usize>nb << 6);
  const xsum = xsc + (<usize>nb << 2);
  let j = j0;
  // j0 a multiple of 8 and j + 8 ≤ j1 ≤ n: rows j..j + 7 are always one interleaved group.
  for (; j + 8 <= j1; j += 8) gemvGroup8(xr, nb, w, sc, rowBytes, n8, true, format, packed, bias, po, j);
  for (; j + 4 <= j1; j += 4) {
    const il = j < n8, bb = rowStep(il, format), rs: usize = il ? 4 : rowBytes;
    let bp = rowCodes(w, rowBytes, n8, j);
    let sp = sc + <usize>j * sRow;
    let a0 = f32x4.splat(0.0);
    for (let b = 0; b < nb; b++) {
      const xp = xr + (<usize>b << 6);
      const dx = v128.load32_splat(xsc + (<usize>b << 2));
      const corr = format == QUANT_Q4_0 ? v128.load32_splat(xsum + (<usize>b << 2)) : i32x4.splat(0);
      const dw = finiteScales4(sp, sp + sRow, sp + 2 * sRow, sp + 3 * sRow);
      a0 = group4(a0, bp, rs, il, dw, format, packed, xp, v128.load(xp), v128.load(xp, 16), v128.load(xp, 32), v128.load(xp, 48), dx, corr);
      bp += bb;
      sp += 2;
    }
    store4(a0, bias, j, po + (<usize>j << 2));
  }
  for (; j < j1; j++) {
    const y = rowInt(xr, nb, w, rowBytes, n8, j, sc + <usize>j * sRow, format, packed);
    store<f32>(po + (<usize>j << 2), bias != 0 ? y + load<f32>(bias + (<usize>j << 2)) : y);
  }
}

/** Rows of quantized activations kept hot (L2) while the unpacked weight groups sweep over them. */
const QA_ROW_BLOCK: i32 = 64;

/**
 * The GEMM tile: four weight rows [j, j + 4) unpacked once into `scratch` (per block: the four rows' 32 codes as
 * i16, Q4_0's as q − 8, in the activations' order, 256 bytes; then per block the rows' dw as f32x4), then every
 * activation row of [r0, r1) swept over them — the codes are unpacked once per 64 rows instead of once per row.
 */
// @ts-ignore: decorator
@inline function gemmInt(
  xq: usize, nb: i32, w: usize, sc: usize, rowBytes: usize, n: i32, format: i32, bias: usize, out: usize, os: usize,
  r0: i32, r1: i32, j0: i32, j1: i32, scratch: usize,
): void {
  const n8 = n & ~7;
  const sRow = <usize>nb << 1;
  const xRow = <usize>actRowBytes(nb);
  const dws = scratch + (<usize>nb << 8);
  for (let rb = r0; rb < r1; rb += QA_ROW_BLOCK) {
    const re = min(rb + QA_ROW_BLOCK, r1);
    let j = j0;
    for (; j + 4 <= j1; j += 4) {
      // Unpack the group (j a multiple of 4: its four rows are all in one interleaved group, or all plain).
      const il = j < n8, bb = rowStep(il, format), rs: usize = il ? 4 : rowBytes;
      let bp = rowCodes(w, rowBytes, n8, j);
      let sp = sc + <usize>j * sRow;
      for (let b = 0; b < nb; b++) {
        const dst = scratch + (<usize>b << 8);
        for (let i = 0; i < 4; i++) {
          const p = bp + <usize>i * rs, o = dst + (<usize>i << 6);
          if (format == QUANT_Q8_0) {
            const lo = codes16(p, 0, il), hi = codes16(p, 1, il);
            v128.store(o, i16x8.extend_low_i8x16_s(lo));
            v128.store(o, i16x8.extend_high_i8x16_s(lo), 16);
            v128.store(o, i16x8.extend_low_i8x16_s(hi), 32);
            v128.store(o, i16x8.extend_high_i8x16_s(hi), 48);
          } else {
            const v = codes16(p, 0, il);
            const m = i16x8.splat(0x0f), e = i16x8.splat(8);
            v128.store(o, i16x8.sub(v128.and(v, m), e));
            v128.store(o, i16x8.sub(v128.and(i16x8.shr_u(v, 8), m), e), 16);
            v128.store(o, i16x8.sub(v128.and(i16x8.shr_u(v, 4), m), e), 32);
            v128.store(o, i16x8.sub(i16x8.shr_u(v, 12), e), 48);
          }
        }
        v128.store(dws + (<usize>b << 4), finiteScales4(sp, sp + sRow, sp + 2 * sRow, sp + 3 * sRow));
        bp += bb;
        sp += 2;
      }
      for (let r = rb; r < re; r++) {
        const xr = xq + <usize>r * xRow;
        const xsc = xr + (<usize>nb << 6);
        let acc = f32x4.splat(0.0);
        for (let b = 0; b < nb; b++) {
          const xp = xr + (<usize>b << 6), g = scratch + (<usize>b << 8);
          const x0 = v128.load(xp), x1 = v128.load(xp, 16), x2 = v128.load(xp, 32), x3 = v128.load(xp, 48);
          const s = hadd4(
            dot4(g, x0, x1, x2, x3),
            dot4(g + 64, x0, x1, x2, x3),
            dot4(g + 128, x0, x1, x2, x3),
            dot4(g + 192, x0, x1, x2, x3),
          );
          const d = f32x4.mul(v128.load(dws + (<usize>b << 4)), v128.load32_splat(xsc + (<usize>b << 2)));
          acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), d));
        }
        store4(acc, bias, j, out + <usize>r * os + (<usize>j << 2));
      }
    }
    for (; j < j1; j++) {
      for (let r = rb; r < re; r++) {
        const y = rowInt(xq + <usize>r * xRow, nb, w, rowBytes, n8, j, sc + <usize>j * sRow, format, false);
        store<f32>(out + <usize>r * os + (<usize>j << 2), bias != 0 ? y + load<f32>(bias + (<usize>j << 2)) : y);
      }
    }
  }
}

/** Σ of the i16 codes at g (32, as four i16x8) times x0..x3, as i32x4 partial sums. */
// @ts-ignore: decorator
@inline function dot4(g: usize, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load(g), x0), i32x4.dot_i16x8_s(v128.load(g, 16), x1)),
    i32x4.add(i32x4.dot_i16x8_s(v128.load(g, 32), x2), i32x4.dot_i16x8_s(v128.load(g, 48), x3)),
  );
}

/** Bytes of linear_qa's GEMM scratch for inner size k: four unpacked weight rows (k·8) and their scales (k/2). */
export function linear_qa_scratch_bytes(k: i32): i32 {
  return (k >> 5) * 272;
}

// @ts-ignore: decorator
@inline function linearQa(
  xq: usize, k: i32, w: usize, format: i32, packed: bool, n: i32, bias: usize, out: usize, outStride: i32,
  r0: i32, r1: i32, j0: i32, j1: i32, scratch: usize,
): void {
  const nb = k >> 5;
  const sc = scalesOf(w, n, nb, format);
  const rowBytes = <usize>nb * blockBytes(format);
  const os = <usize>outStride << 2;
  if (packed || r1 - r0 < QUANT_GEMM_ROWS || scratch == 0) {
    const xRow = <usize>actRowBytes(nb);
    for (let r = r0; r < r1; r++) {
      gemvInt(xq + <usize>r * xRow, nb, w, sc, rowBytes, n & ~7, format, packed, bias, out + <usize>r * os, j0, j1);
    }
    return;
  }
  gemmInt(xq, nb, w, sc, rowBytes, n, format, bias, out, os, r0, r1, j0, j1, scratch);
}

/**
 * The integer path: out[r, j] = Σ_blocks fl(dw·dx)·(Σ qw·qx) + bias[j] (see above) for rows [r0, r1) of activations
 * quantized by quantize_act (same format) at xq and weight rows [j0, j1) (j0 a multiple of 8) of W [n, k] repacked
 * (codes, then scales) at w; out: row stride outStride floats. `packed` (1): the activations are ACT_INT8_PACKED (the GEMV's sign-trick
 * dot, any number of rows; Q8_0 codes must not hold −128); 0: the 16-bit layout (ACT_INT16 or ACT_INT8). Under
 * QUANT_GEMM_ROWS rows (or scratch 0): the GEMV streaming the blocks; from it on the GEMM tile with
 * linear_qa_scratch_bytes(k) of `scratch` (16-byte aligned). Same results either way.
 */
export function linear_qa(
  xq: usize, k: i32, w: usize, format: i32, packed: i32, n: i32, bias: usize, out: usize, outStride: i32,
  r0: i32, r1: i32, j0: i32, j1: i32, scratch: usize,
): void {
  if (r1 <= r0 || j1 <= j0) return;
  if ((j0 & 7) != 0) unreachable(); // an interleaved group is never split
  if (packed != 0) {
    if (format == QUANT_Q8_0) linearQa(xq, k, w, QUANT_Q8_0, true, n, bias, out, outStride, r0, r1, j0, j1, scratch);
    else linearQa(xq, k, w, QUANT_Q4_0, true, n, bias, out, outStride, r0, r1, j0, j1, scratch);
  } else if (format == QUANT_Q8_0) {
    linearQa(xq, k, w, QUANT_Q8_0, false, n, bias, out, outStride, r0, r1, j0, j1, scratch);
  } else {
    linearQa(xq, k, w, QUANT_Q4_0, false, n, bias, out, outStride, r0, r1, j0, j1, scratch);
  }
}
