// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// Linear layers: weight packing, prefill GEMM, decode GEMV and the embedding gather.
//
// Packed weight layout (the `Matrix` of the backend): W [n, k] is cut into panels of PANEL = 8 output features;
// panel p holds packed[p][kk][j] = W[p·8 + j][kk] (k-major inside the panel), rows ≥ n are zero. One k step of a
// panel is 32 contiguous bytes = two f32x4, so both kernels stream the weights strictly sequentially.

import { fma4 } from "./simd_math";

/** Output features per packed panel (the backend sizes and splits packed matrices by it). */
export const PANEL: i32 = 8;
/**
 * Rows of x swept by every panel of the thread's range before the next rows (a multiple of TILE_ROWS): W is streamed
 * once per ROW_BLOCK rows. 192 rows of k = 768 are 576 KiB of x, held in the 1 MiB L2 of this machine's cores.
 */
const ROW_BLOCK: i32 = 192;
/** ROW_BLOCK is a multiple of both tiles' rows. */
// @ts-ignore: static assertion
assert(ROW_BLOCK % 6 == 0 && ROW_BLOCK % 4 == 0);
/**
 * k steps per block (the whole k of the 130m shapes' in_proj and out_proj): every tile call pays a fixed cost (12
 * accumulators set up, 6 output rows read and written per later block) that 256-step blocks did not amortize.
 * Measured (tests/wasm/gemm_bench.ts, 1 thread, relaxed, 512 rows): 96 rows × 256 steps → 192 × 1536 took the
 * tile from 45.7 to 50.9 GFLOP/s on in_proj and 46.7 to 50.5 on out_proj, though a panel's slice (k·32 bytes, up to
 * 48 KiB) no longer stays in L1: it streams from L2 in order, and the prefetchers keep up.
 */
const K_BLOCK: i32 = 1536;

/**
 * Packs `rows` rows of a row-major [rows, k] matrix at `src` into ⌈rows/8⌉ panels at `dst` (zero-padded).
 * The caller packs a large matrix in slices of a multiple of 8 rows, advancing dst by one panel (k·32 bytes) per 8.
 */
export function pack_panels(src: usize, rows: i32, k: i32, dst: usize): void {
  const panels = (rows + PANEL - 1) / PANEL;
  const panelBytes = <usize>k << 5;
  for (let p = 0; p < panels; p++) {
    const dp = dst + <usize>p * panelBytes;
    for (let j = 0; j < PANEL; j++) {
      const r = p * PANEL + j;
      const d = dp + (<usize>j << 2);
      if (r < rows) {
        const s = src + ((<usize>r * <usize>k) << 2);
        for (let kk = 0; kk < k; kk++) store<f32>(d + (<usize>kk << 5), load<f32>(s + (<usize>kk << 2)));
      } else {
        for (let kk = 0; kk < k; kk++) store<f32>(d + (<usize>kk << 5), 0.0);
      }
    }
  }
}

/** Bias lanes [0,4) and [4,8) of panel columns (`cols` valid), or zeros when there is no bias. */
// @ts-ignore: decorator
@inline function biasLo(bias: usize, cols: i32): v128 {
  if (bias == 0) return f32x4.splat(0.0);
  return cols >= 4 ? v128.load(bias) : loadPart(bias, cols);
}

// @ts-ignore: decorator
@inline function biasHi(bias: usize, cols: i32): v128 {
  if (bias == 0 || cols <= 4) return f32x4.splat(0.0);
  return cols >= 8 ? v128.load(bias, 16) : loadPart(bias + 16, cols - 4);
}

/** Loads 1..3 floats, zero elsewhere. */
function loadPart(p: usize, lanes: i32): v128 {
  let v = f32x4.splat(0.0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (lanes > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (lanes > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Stores 8 panel columns (lo, hi) of one output row, only the first `cols`. */
// @ts-ignore: decorator
@inline function storeRow(o: usize, lo: v128, hi: v128, cols: i32): void {
  if (cols >= 8) {
    v128.store(o, lo);
    v128.store(o, hi, 16);
    return;
  }
  storePart(o, lo, cols < 4 ? cols : 4);
  if (cols > 4) storePart(o + 16, hi, cols - 4);
}

/** Stores the first 1..4 lanes. */
function storePart(p: usize, v: v128, lanes: i32): void {
  if (lanes >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (lanes > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/**
 * Register tile of 4 rows × 8 columns: out[r, 0..cols) = x[r, :] · panel + bias for `rows` (1..4) rows.
 * x rows start at px (row stride xs bytes); missing rows alias row 0 and are not stored. (The quantized GEMM of
 * quant_linear.ts runs it on its dequantized panels; the f32 GEMM uses tile6x8.)
 */
// @ts-ignore: decorator
@inline export function tile4x8(
  px: usize,
  xs: usize,
  rows: i32,
  k: i32,
  wp: usize,
  bias: usize,
  po: usize,
  os: usize,
  cols: i32,
): void {
  const p0 = px;
  const p1 = rows > 1 ? px + xs : px;
  const p2 = rows > 2 ? px + 2 * xs : px;
  const p3 = rows > 3 ? px + 3 * xs : px;
  let a0 = f32x4.splat(0.0), b0 = f32x4.splat(0.0);
  let a1 = f32x4.splat(0.0), b1 = f32x4.splat(0.0);
  let a2 = f32x4.splat(0.0), b2 = f32x4.splat(0.0);
  let a3 = f32x4.splat(0.0), b3 = f32x4.splat(0.0);
  let w = wp;
  const kb = <usize>k << 2;
  for (let o: usize = 0; o < kb; o += 4) {
    const wl = v128.load(w);
    const wh = v128.load(w, 16);
    const s0 = v128.load32_splat(p0 + o);
    a0 = fma4(s0, wl, a0);
    b0 = fma4(s0, wh, b0);
    const s1 = v128.load32_splat(p1 + o);
    a1 = fma4(s1, wl, a1);
    b1 = fma4(s1, wh, b1);
    const s2 = v128.load32_splat(p2 + o);
    a2 = fma4(s2, wl, a2);
    b2 = fma4(s2, wh, b2);
    const s3 = v128.load32_splat(p3 + o);
    a3 = fma4(s3, wl, a3);
    b3 = fma4(s3, wh, b3);
    w += 32;
  }
  const bl = biasLo(bias, cols);
  const bh = biasHi(bias, cols);
  storeRow(po, f32x4.add(a0, bl), f32x4.add(b0, bh), cols);
  if (rows > 1) storeRow(po + os, f32x4.add(a1, bl), f32x4.add(b1, bh), cols);
  if (rows > 2) storeRow(po + 2 * os, f32x4.add(a2, bl), f32x4.add(b2, bh), cols);
  if (rows > 3) storeRow(po + 3 * os, f32x4.add(a3, bl), f32x4.add(b3, bh), cols);
}

/**
 * Rows of the prefill register tile. Relaxed SIMD: 6 × 8 columns = 12 accumulators + 2 weight vectors + 1
 * broadcast, each step one fused multiply-add. Without: mul then add needs a temporary per product, so 6 rows
 * would spill: 4 × 8.
 */
const TILE_ROWS: i32 = ASC_FEATURE_RELAXED_SIMD ? 6 : 4;

/**
 * Register tile of 6 rows × 8 columns over the k slice [0, k) of x rows at px (row stride xs bytes) and of the
 * panel at wp (k steps of 32 bytes): `rows` (1..6) valid rows, missing ones alias row 0 and are not stored.
 * `first`: out = sum + bias; else out += sum (a later k block). 12 accumulators, 2 weight vectors and one
 * broadcast fit V8's 15 allocatable xmm registers on x64, so nothing spills.
 */
// @ts-ignore: decorator
@inline export function tile6x8(
  px: usize,
  xs: usize,
  rows: i32,
  k: i32,
  wp: usize,
  bias: usize,
  po: usize,
  os: usize,
  cols: i32,
  first: bool,
): void {
  const p0 = px;
  const p1 = rows > 1 ? px + xs : px;
  const p2 = rows > 2 ? px + 2 * xs : px;
  const p3 = rows > 3 ? px + 3 * xs : px;
  const p4 = rows > 4 ? px + 4 * xs : px;
  const p5 = rows > 5 ? px + 5 * xs : px;
  let a0 = f32x4.splat(0.0), b0 = f32x4.splat(0.0);
  let a1 = f32x4.splat(0.0), b1 = f32x4.splat(0.0);
  let a2 = f32x4.splat(0.0), b2 = f32x4.splat(0.0);
  let a3 = f32x4.splat(0.0), b3 = f32x4.splat(0.0);
  let a4 = f32x4.splat(0.0), b4 = f32x4.splat(0.0);
  let a5 = f32x4.splat(0.0), b5 = f32x4.splat(0.0);
  let w = wp;
  const kb = <usize>k << 2;
  for (let o: usize = 0; o < kb; o += 4) {
    const wl = v128.load(w);
    const wh = v128.load(w, 16);
    const s0 = v128.load32_splat(p0 + o);
    a0 = fma4(s0, wl, a0);
    b0 = fma4(s0, wh, b0);
    const s1 = v128.load32_splat(p1 + o);
    a1 = fma4(s1, wl, a1);
    b1 = fma4(s1, wh, b1);
    const s2 = v128.load32_splat(p2 + o);
    a2 = fma4(s2, wl, a2);
    b2 = fma4(s2, wh, b2);
    const s3 = v128.load32_splat(p3 + o);
    a3 = fma4(s3, wl, a3);
    b3 = fma4(s3, wh, b3);
    const s4 = v128.load32_splat(p4 + o);
    a4 = fma4(s4, wl, a4);
    b4 = fma4(s4, wh, b4);
    const s5 = v128.load32_splat(p5 + o);
    a5 = fma4(s5, wl, a5);
    b5 = fma4(s5, wh, b5);
    w += 32;
  }
  emitRow(po, a0, b0, bias, cols, first);
  if (rows > 1) emitRow(po + os, a1, b1, bias, cols, first);
  if (rows > 2) emitRow(po + 2 * os, a2, b2, bias, cols, first);
  if (rows > 3) emitRow(po + 3 * os, a3, b3, bias, cols, first);
  if (rows > 4) emitRow(po + 4 * os, a4, b4, bias, cols, first);
  if (rows > 5) emitRow(po + 5 * os, a5, b5, bias, cols, first);
}

/** tile4x8 over one k block: `first` writes sum + bias, otherwise adds the sum to out (see tile6x8). */
// @ts-ignore: decorator
@inline function tile4x8k(
  px: usize,
  xs: usize,
  rows: i32,
  k: i32,
  wp: usize,
  bias: usize,
  po: usize,
  os: usize,
  cols: i32,
  first: bool,
): void {
  const p0 = px;
  const p1 = rows > 1 ? px + xs : px;
  const p2 = rows > 2 ? px + 2 * xs : px;
  const p3 = rows > 3 ? px + 3 * xs : px;
  let a0 = f32x4.splat(0.0), b0 = f32x4.splat(0.0);
  let a1 = f32x4.splat(0.0), b1 = f32x4.splat(0.0);
  let a2 = f32x4.splat(0.0), b2 = f32x4.splat(0.0);
  let a3 = f32x4.splat(0.0), b3 = f32x4.splat(0.0);
  let w = wp;
  const kb = <usize>k << 2;
  for (let o: usize = 0; o < kb; o += 4) {
    const wl = v128.load(w);
    const wh = v128.load(w, 16);
    const s0 = v128.load32_splat(p0 + o);
    a0 = fma4(s0, wl, a0);
    b0 = fma4(s0, wh, b0);
    const s1 = v128.load32_splat(p1 + o);
    a1 = fma4(s1, wl, a1);
    b1 = fma4(s1, wh, b1);
    const s2 = v128.load32_splat(p2 + o);
    a2 = fma4(s2, wl, a2);
    b2 = fma4(s2, wh, b2);
    const s3 = v128.load32_splat(p3 + o);
    a3 = fma4(s3, wl, a3);
    b3 = fma4(s3, wh, b3);
    w += 32;
  }
  emitRow(po, a0, b0, bias, cols, first);
  if (rows > 1) emitRow(po + os, a1, b1, bias, cols, first);
  if (rows > 2) emitRow(po + 2 * os, a2, b2, bias, cols, first);
  if (rows > 3) emitRow(po + 3 * os, a3, b3, bias, cols, first);
}

/** Writes one tile row: sum + bias on the first k block, out + sum on the later ones. */
// @ts-ignore: decorator
@inline function emitRow(o: usize, lo: v128, hi: v128, bias: usize, cols: i32, first: bool): void {
  if (first) {
    storeRow(o, f32x4.add(lo, biasLo(bias, cols)), f32x4.add(hi, biasHi(bias, cols)), cols);
  } else {
    storeRow(o, f32x4.add(lo, biasLo(o, cols)), f32x4.add(hi, biasHi(o, cols)), cols);
  }
}

/**
 * One row × one panel, streaming the panel with 4 independent k steps in flight (decode GEMV).
 */
// @ts-ignore: decorator
@inline function row1x8(px: usize, k: i32, wp: usize, bias: usize, po: usize, cols: i32): void {
  let a0 = f32x4.splat(0.0), b0 = f32x4.splat(0.0);
  let a1 = f32x4.splat(0.0), b1 = f32x4.splat(0.0);
  let a2 = f32x4.splat(0.0), b2 = f32x4.splat(0.0);
  let a3 = f32x4.splat(0.0), b3 = f32x4.splat(0.0);
  let w = wp;
  let kk = 0;
  for (; kk + 4 <= k; kk += 4) {
    const o = px + (<usize>kk << 2);
    const s0 = v128.load32_splat(o);
    const s1 = v128.load32_splat(o, 4);
    const s2 = v128.load32_splat(o, 8);
    const s3 = v128.load32_splat(o, 12);
    a0 = fma4(s0, v128.load(w), a0);
    b0 = fma4(s0, v128.load(w, 16), b0);
    a1 = fma4(s1, v128.load(w, 32), a1);
    b1 = fma4(s1, v128.load(w, 48), b1);
    a2 = fma4(s2, v128.load(w, 64), a2);
    b2 = fma4(s2, v128.load(w, 80), b2);
    a3 = fma4(s3, v128.load(w, 96), a3);
    b3 = fma4(s3, v128.load(w, 112), b3);
    w += 128;
  }
  for (; kk < k; kk++) {
    const s0 = v128.load32_splat(px + (<usize>kk << 2));
    a0 = fma4(s0, v128.load(w), a0);
    b0 = fma4(s0, v128.load(w, 16), b0);
    w += 32;
  }
  const lo = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  const hi = f32x4.add(f32x4.add(b0, b1), f32x4.add(b2, b3));
  storeRow(po, f32x4.add(lo, biasLo(bias, cols)), f32x4.add(hi, biasHi(bias, cols)), cols);
}

/**
 * out[r, :] = x[r, :] · Wᵀ + bias for rows [r0, r1) and output panels [p0, p1) (columns p·8 ..).
 * x: (rows, k) with row stride xStride floats; w: packed (⌈n/8⌉, k, 8); bias: (n) or 0; out: (rows, n) with
 * row stride outStride floats. One row uses the streaming GEMV, more rows the 6×8 register tile, blocked over
 * ROW_BLOCK rows and K_BLOCK k steps so that both operands of the tile come from cache.
 */
export function linear(
  x: usize,
  xStride: i32,
  k: i32,
  w: usize,
  n: i32,
  bias: usize,
  out: usize,
  outStride: i32,
  r0: i32,
  r1: i32,
  p0: i32,
  p1: i32,
): void {
  if (r1 <= r0 || p1 <= p0) return;
  const panelBytes = <usize>k << 5;
  const xs = <usize>xStride << 2;
  const os = <usize>outStride << 2;
  if (r1 - r0 == 1) {
    const px = x + <usize>r0 * xs;
    const po = out + <usize>r0 * os;
    for (let p = p0; p < p1; p++) {
      const c0 = p * PANEL;
      const cols = min(PANEL, n - c0);
      const pb = bias == 0 ? 0 : bias + (<usize>c0 << 2);
      row1x8(px, k, w + <usize>p * panelBytes, pb, po + (<usize>c0 << 2), cols);
    }
    return;
  }
  // Relaxed build: blocked over ROW_BLOCK rows × K_BLOCK of k (see both): every panel sweeps the x block's row tiles,
  // its k slice (K_BLOCK·32 bytes) read from L1 or L2 in order; out is accumulated over the k blocks. Baseline build: the loop as it was before the FMA tile (64-row blocks, the whole of k at once),
  // which measured as fast or faster there without fused multiply-adds.
  const rowBlock = ASC_FEATURE_RELAXED_SIMD ? ROW_BLOCK : 64;
  const kBlock = ASC_FEATURE_RELAXED_SIMD ? K_BLOCK : k;
  for (let rb = r0; rb < r1; rb += rowBlock) {
    const re = min(rb + rowBlock, r1);
    for (let kb = 0; kb < k; kb += kBlock) {
      const kl = min(kBlock, k - kb);
      const first = kb == 0;
      const xk = x + (<usize>kb << 2);
      for (let p = p0; p < p1; p++) {
        const c0 = p * PANEL;
        const cols = min(PANEL, n - c0);
        const pb = bias == 0 ? 0 : bias + (<usize>c0 << 2);
        const wp = w + <usize>p * panelBytes + (<usize>kb << 5);
        for (let r = rb; r < re; r += TILE_ROWS) {
          const po = out + <usize>r * os + (<usize>c0 << 2);
          if (ASC_FEATURE_RELAXED_SIMD) {
            tile6x8(xk + <usize>r * xs, xs, min(TILE_ROWS, re - r), kl, wp, pb, po, os, cols, first);
          } else {
            tile4x8k(xk + <usize>r * xs, xs, min(TILE_ROWS, re - r), kl, wp, pb, po, os, cols, first);
          }
        }
      }
    }
  }
}

/**
 * Embedding gather: out[t, :] = W[ids[t], :] for `count` ids (i32 at `ids`), W packed (⌈n/8⌉, k, 8);
 * out: (count, k). Traps on an id outside [0, n) (the caller validates first).
 */
export function embed(ids: usize, count: i32, w: usize, n: i32, k: i32, out: usize): void {
  const panelBytes = <usize>k << 5;
  for (let t = 0; t < count; t++) {
    const id = load<i32>(ids + (<usize>t << 2));
    if (<u32>id >= <u32>n) unreachable();
    const src = w + <usize>(id >> 3) * panelBytes + (<usize>(id & 7) << 2);
    const dst = out + ((<usize>t * <usize>k) << 2);
    for (let kk = 0; kk < k; kk++) store<f32>(dst + (<usize>kk << 2), load<f32>(src + (<usize>kk << 5)));
  }
}

/** Granule of stream_sum: it reads 128 bytes (eight f32x4) per step. */
export const STREAM_BLOCK_BYTES: i32 = 128;

/**
 * Streams `bytes` (multiple of STREAM_BLOCK_BYTES) at p and returns their f32 sum (bandwidth probe: read-only traffic). Eight
 * independent accumulators keep the add latency off the critical path, so only the memory limits the rate.
 */
export function stream_sum(p: usize, bytes: usize): f32 {
  let a0 = f32x4.splat(0.0), a1 = f32x4.splat(0.0), a2 = f32x4.splat(0.0), a3 = f32x4.splat(0.0);
  let a4 = f32x4.splat(0.0), a5 = f32x4.splat(0.0), a6 = f32x4.splat(0.0), a7 = f32x4.splat(0.0);
  const end = p + bytes;
  for (let q = p; q < end; q += STREAM_BLOCK_BYTES) {
    a0 = f32x4.add(a0, v128.load(q));
    a1 = f32x4.add(a1, v128.load(q, 16));
    a2 = f32x4.add(a2, v128.load(q, 32));
    a3 = f32x4.add(a3, v128.load(q, 48));
    a4 = f32x4.add(a4, v128.load(q, 64));
    a5 = f32x4.add(a5, v128.load(q, 80));
    a6 = f32x4.add(a6, v128.load(q, 96));
    a7 = f32x4.add(a7, v128.load(q, 112));
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
