// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// f16 → f32 conversion: the block scales of quantized matrices, and the per-channel SSM parameters (A_log, conv1d's
// weight and bias, D) that a quantized model holds as halves (`Backend.uploadHalf`). Kernels taking parameters get a
// `half` bit mask saying which of their parameter pointers hold halves.

/** f16 bits → f32 (exact, subnormals included; ±inf and NaN kept). */
// @ts-ignore: decorator
@inline export function halfToFloat(h: u32): f32 {
  const bits = (h & 0x7fff) << 13;
  // A normal or subnormal half shifted into f32's field is the value · 2^−112: scale back exactly.
  let v = reinterpret<f32>(bits) * <f32>5.192296858534828e33;
  if ((h & 0x7c00) == 0x7c00) v = reinterpret<f32>(bits | 0x70000000);
  return (h & 0x8000) != 0 ? -v : v;
}

/** Four f16 scales (the low 16 bits of each i32 lane; the upper ones are ignored) → f32x4, as {@link halfToFloat}. */
// @ts-ignore: decorator
@inline export function halfToFloat4(h: v128): v128 {
  const bits = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13);
  let v = f32x4.mul(bits, f32x4.splat(<f32>5.192296858534828e33));
  const special = i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00));
  v = v128.bitselect(v128.or(bits, i32x4.splat(0x70000000)), v, special);
  return v128.or(v, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

/** Element i of a parameter: f32 at p, or (half) f16 at p. */
// @ts-ignore: decorator
@inline export function paramAt(p: usize, i: usize, half: bool): f32 {
  return half ? halfToFloat(<u32>load<u16>(p + (i << 1))) : load<f32>(p + (i << 2));
}

/** Lanes (1..4) of a parameter from element i (missing lanes 0), f32 or f16. */
// @ts-ignore: decorator
@inline export function paramLanes(p: usize, i: usize, lanes: i32, half: bool): v128 {
  let v = f32x4.splat(0.0);
  v = f32x4.replace_lane(v, 0, paramAt(p, i, half));
  if (lanes > 1) v = f32x4.replace_lane(v, 1, paramAt(p, i + 1, half));
  if (lanes > 2) v = f32x4.replace_lane(v, 2, paramAt(p, i + 2, half));
  if (lanes > 3) v = f32x4.replace_lane(v, 3, paramAt(p, i + 3, half));
  return v;
}

/**
 * Four FINITE f16, sign-extended to i32 lanes, → f32x4 in three operations: shifted left by 13, a lane holds the
 * half's sign in bit 31 (copies in 28..30, cleared by the mask), its exponent in f32's low five exponent bits and its
 * mantissa at the top of f32's — the value · 2^−112, normal or subnormal, scaled back exactly (WASM keeps f32
 * subnormals). ±inf / NaN would come out finite: callers never pass one (quantized matrices with such block scales
 * take the exact path, wasm/ops.ts; `uploadHalf` refuses values that are not finite halves).
 */
// @ts-ignore: decorator
@inline export function finiteHalfToFloat4(h: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(h, 13), i32x4.splat(0x8fffffff)), f32x4.splat(<f32>5.192296858534828e33));
}

/** Four consecutive finite f16 at p as f32x4 (one 8-byte load, widened, {@link finiteHalfToFloat4}). */
// @ts-ignore: decorator
@inline export function halves4(p: usize): v128 {
  return finiteHalfToFloat4(i32x4.extend_low_i16x8_s(v128.load64_zero(p)));
}
