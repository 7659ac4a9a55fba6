// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// Row-wise and element-wise ops: RMSNorm, gated RMSNorm, add, row gather, fill and copy.

import { hsum, loadLanes, silu4, storeLanes } from "./simd_math";

/** Σ x² over n floats at p (SIMD with a scalar tail). */
// @ts-ignore: decorator
@inline function sumSquares(p: usize, n: i32): f32 {
  let a0 = f32x4.splat(0.0);
  let a1 = f32x4.splat(0.0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const v0 = v128.load(p + (<usize>i << 2));
    const v1 = v128.load(p + (<usize>i << 2), 16);
    a0 = f32x4.add(a0, f32x4.mul(v0, v0));
    a1 = f32x4.add(a1, f32x4.mul(v1, v1));
  }
  let s = hsum(f32x4.add(a0, a1));
  for (; i < n; i++) {
    const v = load<f32>(p + (<usize>i << 2));
    s += v * v;
  }
  return s;
}

/** dst[i] = src[i] · scale · w[i] for n floats. */
// @ts-ignore: decorator
@inline function scaleRow(dst: usize, src: usize, w: usize, scale: f32, n: i32): void {
  const sv = f32x4.splat(scale);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dst + o, f32x4.mul(f32x4.mul(v128.load(src + o), sv), v128.load(w + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(src + o) * scale * load<f32>(w + o));
  }
}

/** RMSNorm. x, out: (rows, d); w: (d). out = x / sqrt(mean(x²) + eps) · w. */
export function rms_norm(x: usize, w: usize, out: usize, rows: i32, d: i32, eps: f32): void {
  for (let r = 0; r < rows; r++) {
    const o = (<usize>r * <usize>d) << 2;
    const ms = sumSquares(x + o, d) / <f32>d;
    scaleRow(out + o, x + o, w, <f32>(1.0 / Math.sqrt(<f64>(ms + eps))), d);
  }
}

/**
 * Gated RMSNorm (norm_before_gate = false). y, out: (rows, d); z: (rows, ·) with row stride zStride floats;
 * w: (d). g = y · SiLU(z); each group of `groupSize` channels: out = g / sqrt(mean(g²) + eps) · w.
 * g is written to out first, then normalised in place.
 */
export function gated_rms_norm(
  y: usize,
  z: usize,
  zStride: i32,
  w: usize,
  out: usize,
  rows: i32,
  d: i32,
  groupSize: i32,
  eps: f32,
): void {
  for (let r = 0; r < rows; r++) {
    const yo = y + ((<usize>r * <usize>d) << 2);
    const zo = z + ((<usize>r * <usize>zStride) << 2);
    const oo = out + ((<usize>r * <usize>d) << 2);
    if ((groupSize & 7) == 0) {
      gatedGroups8(yo, zo, w, oo, d, groupSize, eps);
      continue;
    }
    for (let i = 0; i < d; i += 4) {
      const lanes = min(4, d - i);
      const o = <usize>i << 2;
      storeLanes(oo + o, f32x4.mul(loadLanes(yo + o, lanes), silu4(loadLanes(zo + o, lanes))), lanes);
    }
    for (let g0 = 0; g0 < d; g0 += groupSize) {
      const go = oo + (<usize>g0 << 2);
      const ms = sumSquares(go, groupSize) / <f32>groupSize;
      scaleRow(go, go, w + (<usize>g0 << 2), <f32>(1.0 / Math.sqrt(<f64>(ms + eps))), groupSize);
    }
  }
}

/**
 * One row of gated_rms_norm for groupSize a multiple of 8, in two passes over each group instead of three: g is
 * stored and its squares summed in the same pass (8 lanes at a time into two accumulators, sumSquares' order, so
 * the result is bit-identical), then the group is scaled in place.
 */
// @ts-ignore: decorator
@inline function gatedGroups8(yo: usize, zo: usize, w: usize, oo: usize, d: i32, groupSize: i32, eps: f32): void {
  const gb = <usize>groupSize << 2;
  for (let g0: usize = 0; g0 < (<usize>d << 2); g0 += gb) {
    let a0 = f32x4.splat(0.0);
    let a1 = f32x4.splat(0.0);
    for (let o = g0; o < g0 + gb; o += 32) {
      const v0 = f32x4.mul(v128.load(yo + o), silu4(v128.load(zo + o)));
      const v1 = f32x4.mul(v128.load(yo + o, 16), silu4(v128.load(zo + o, 16)));
      v128.store(oo + o, v0);
      v128.store(oo + o, v1, 16);
      a0 = f32x4.add(a0, f32x4.mul(v0, v0));
      a1 = f32x4.add(a1, f32x4.mul(v1, v1));
    }
    const ms = hsum(f32x4.add(a0, a1)) / <f32>groupSize;
    scaleRow(oo + g0, oo + g0, w + g0, <f32>(1.0 / Math.sqrt(<f64>(ms + eps))), groupSize);
  }
}

/** out[i] = a[i] + b[i] for n floats. */
export function add(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** out[i, :] = x[rows[i], :]. x: (·, cols); rows: `count` i32 at `rows`; out: (count, cols). */
export function gather_rows(x: usize, cols: i32, rows: usize, count: i32, out: usize): void {
  const rowBytes = <usize>cols << 2;
  for (let i = 0; i < count; i++) {
    const r = load<i32>(rows + (<usize>i << 2));
    memory.copy(out + <usize>i * rowBytes, x + <usize>r * rowBytes, rowBytes);
  }
}

/** Zero `bytes` bytes at p. */
export function fill_zero(p: usize, bytes: usize): void {
  memory.fill(p, 0, bytes);
}

/** Copy `bytes` bytes from src to dst (regions may overlap). */
export function copy_bytes(dst: usize, src: usize, bytes: usize): void {
  memory.copy(dst, src, bytes);
}
