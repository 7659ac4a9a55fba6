// deno-fmt-ignore-file -- AssemblyScript: `deno fmt` would drop the `@inline` decorators.
// deno-lint-ignore-file prefer-const -- the vector constants are mutable globals on purpose (see EXP_LO4).
// SIMD elementary functions shared by the kernels: exp, log, softplus, SiLU and small memory helpers.
//
// Everything is `@inline` so the kernels keep their values in registers; nothing here touches static data. The
// constants of exp, log and SiLU are mutable globals (see EXP_LO4).

/**
 * Whether this build of the kernels uses relaxed SIMD (1) or not (0): `fma4` is one `f32x4.relaxed_madd` there.
 * The host reads it after instantiation, so a caller-supplied module reports its own build.
 */
export function relaxed_simd(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

/**
 * a·b + c for 4 lanes. Built with relaxed SIMD: one `f32x4.relaxed_madd`, which the host may fuse (one rounding,
 * x64 vfmadd) or not (mul then add, two roundings); without: mul then add. Every kernel's error bound must hold
 * for both (a fused step is at least as accurate: |fl(ab+c) − (ab+c)| ≤ u·|ab+c| against
 * u·|ab| + u·|fl(ab)+c| unfused).
 */
// @ts-ignore: decorator
@inline export function fma4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Lower clamp of exp's argument: below it the result is flushed to zero. */
const EXP_LO: f32 = -87.33654;
/** Upper clamp of exp's argument: keeps 2^k finite (k ≤ 127). */
const EXP_HI: f32 = 88.0;

/** 1.5·2^23: adding it rounds a float of magnitude < 2^22 to an integer held in the low mantissa bits. */
const ROUND_MAGIC: f32 = 12582912.0;

// The vector constants of exp4, log4, softplus4 and silu4, as mutable globals (initialised, never written) instead of
// `v128.const`: V8 (x64) builds a v128.const where it is used, inside loops too — an immediate moved through a
// general register into the vector register, a few instructions per constant and use, 14 in one exp4 — while a global
// is one load, folded into the instruction that reads it. SiLU-bound kernels (conv1d's prefill, the gated RMSNorm)
// run ~40% faster with the same results bit for bit (BENCHMARKS.md, issue 16, branch ssd). Binaryen (-O3) leaves
// mutable globals as globals; as constants (`const`) they would be inlined back into v128.const.
let EXP_LO4: v128 = f32x4.splat(EXP_LO);
let EXP_HI4: v128 = f32x4.splat(EXP_HI);
let LOG2E4: v128 = f32x4.splat(1.44269504089);
let ROUND4: v128 = f32x4.splat(ROUND_MAGIC);
let LN2_HI4: v128 = f32x4.splat(0.693359375);
let LN2_LO4: v128 = f32x4.splat(2.12194440e-4);
let EXP_P0: v128 = f32x4.splat(1.9875691500e-4);
let EXP_P1: v128 = f32x4.splat(1.3981999507e-3);
let EXP_P2: v128 = f32x4.splat(8.3334519073e-3);
let EXP_P3: v128 = f32x4.splat(4.1665795894e-2);
let EXP_P4: v128 = f32x4.splat(1.6666665459e-1);
let EXP_P5: v128 = f32x4.splat(5.0000001201e-1);
let ONE4: v128 = f32x4.splat(1.0);
let EXP_BIAS4: v128 = i32x4.splat(127 - 0x4B400000);
let LOG_EXP_BIAS4: v128 = i32x4.splat(127);
let MANTISSA4: v128 = i32x4.splat(0x007fffff);
let ONE_BITS4: v128 = i32x4.splat(0x3f800000);
let SQRT2_4: v128 = f32x4.splat(1.41421356);
let HALF4: v128 = f32x4.splat(0.5);
let LOG_P0: v128 = f32x4.splat(1.0 / 9.0);
let LOG_P1: v128 = f32x4.splat(1.0 / 7.0);
let LOG_P2: v128 = f32x4.splat(1.0 / 5.0);
let LOG_P3: v128 = f32x4.splat(1.0 / 3.0);
let TWO4: v128 = f32x4.splat(2.0);
let LN2_4: v128 = f32x4.splat(0.69314718056);
let TWENTY4: v128 = f32x4.splat(20.0);

/**
 * exp(x) for 4 lanes: x = k·ln2 + r with |r| ≤ ln2/2 (Cody–Waite split of ln2), e^r by the Cephes degree-6
 * polynomial, 2^k built in the exponent bits. Relative error ≈ 1–2 ulp over [EXP_LO, EXP_HI].
 * Uses pmin/pmax (single minps/maxps) and the round-by-magic-add trick: both are much cheaper in V8 than the
 * NaN-exact min/max and the saturating conversion.
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  return v128.andnot(expClamped4(x), f32x4.lt(x, EXP_LO4));
}

/**
 * exp4 without the flush to zero below EXP_LO: there it returns exp(EXP_LO) ≈ 1.2e-38 instead of 0. For callers
 * where that difference vanishes in rounding (SiLU: 1 + 1.2e-38 rounds to 1), two operations fewer.
 */
// @ts-ignore: decorator
@inline function expClamped4(x: v128): v128 {
  const xc = f32x4.pmin(f32x4.pmax(x, EXP_LO4), EXP_HI4);
  const kf = fma4(xc, LOG2E4, ROUND4);
  const k = f32x4.sub(kf, ROUND4);
  let r = f32x4.sub(xc, f32x4.mul(k, LN2_HI4));
  r = fma4(k, LN2_LO4, r);
  let p = EXP_P0;
  p = fma4(p, r, EXP_P1);
  p = fma4(p, r, EXP_P2);
  p = fma4(p, r, EXP_P3);
  p = fma4(p, r, EXP_P4);
  p = fma4(p, r, EXP_P5);
  const y = f32x4.add(fma4(f32x4.mul(p, r), r, r), ONE4);
  // bits(kf) = bits(ROUND_MAGIC) + k, so the exponent field of 2^k is (bits(kf) − 0x4B400000 + 127) << 23.
  const pow2k = i32x4.shl(i32x4.add(kf, EXP_BIAS4), 23);
  return f32x4.mul(y, pow2k);
}

/**
 * ln(w) for 4 lanes of positive normal w: w = m·2^e with m ∈ [√½, √2), ln m = 2·atanh(f), f = (m−1)/(m+1),
 * by its odd series up to f⁹ (|f| ≤ 0.172, truncation < 1e-9).
 */
// @ts-ignore: decorator
@inline export function log4(w: v128): v128 {
  let e = i32x4.sub(i32x4.shr_u(w, 23), LOG_EXP_BIAS4);
  let m = v128.or(v128.and(w, MANTISSA4), ONE_BITS4);
  const big = f32x4.gt(m, SQRT2_4);
  m = v128.bitselect(f32x4.mul(m, HALF4), m, big);
  e = i32x4.sub(e, big); // a true lane is −1: e + 1
  const f = f32x4.div(f32x4.sub(m, ONE4), f32x4.add(m, ONE4));
  const s = f32x4.mul(f, f);
  let p = LOG_P0;
  p = fma4(p, s, LOG_P1);
  p = fma4(p, s, LOG_P2);
  p = fma4(p, s, LOG_P3);
  p = fma4(p, s, ONE4);
  const lnm = f32x4.mul(f32x4.mul(f, p), TWO4);
  return fma4(f32x4.convert_i32x4_s(e), LN2_4, lnm);
}

/** torch softplus for 4 lanes: x > 20 ? x : log1p(exp(x)), with log1p(e) = ln(1+e)·e/((1+e)−1) for accuracy. */
// @ts-ignore: decorator
@inline export function softplus4(x: v128): v128 {
  const e = exp4(f32x4.pmin(x, TWENTY4));
  const w = f32x4.add(e, ONE4);
  const wm1 = f32x4.sub(w, ONE4);
  const exact = f32x4.eq(wm1, f32x4.splat(0.0)); // zero: V8 builds it by one xor
  const l = f32x4.div(f32x4.mul(log4(w), e), v128.bitselect(ONE4, wm1, exact));
  const l1p = v128.bitselect(e, l, exact);
  return v128.bitselect(x, l1p, f32x4.gt(x, TWENTY4));
}

/**
 * SiLU for 4 lanes: x / (1 + exp(−x)). Bit-identical with exp4: where −x < EXP_LO, 1 + exp(EXP_LO) rounds to 1
 * exactly as 1 + 0 does, so the flush to zero is skipped.
 */
// @ts-ignore: decorator
@inline export function silu4(x: v128): v128 {
  return f32x4.div(x, f32x4.add(ONE4, expClamped4(f32x4.neg(x))));
}

/** Scalar exp through the SIMD path (keeps scalar and vector lanes bit-identical). */
// @ts-ignore: decorator
@inline export function expf(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/** Scalar softplus through the SIMD path. */
// @ts-ignore: decorator
@inline export function softplusf(x: f32): f32 {
  return f32x4.extract_lane(softplus4(f32x4.splat(x)), 0);
}

/** Scalar SiLU through the SIMD path. */
// @ts-ignore: decorator
@inline export function siluf(x: f32): f32 {
  return f32x4.extract_lane(silu4(f32x4.splat(x)), 0);
}

/** Horizontal sum of 4 lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/**
 * A 4×4 transpose in registers: column j of the rows r0..r3 (lane j of each) stored as one vector at dst + j·stride
 * bytes — rows of 4 channels' values to per-value vectors over the channels, or back.
 */
// @ts-ignore: decorator
@inline export function storeTransposed4(dst: usize, stride: usize, r0: v128, r1: v128, r2: v128, r3: v128): void {
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(dst + stride, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  v128.store(dst + 2 * stride, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * stride, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}

/** Load `lanes` (1..4) consecutive floats at p, zero in the other lanes. */
// @ts-ignore: decorator
@inline export function loadLanes(p: usize, lanes: i32): v128 {
  if (lanes >= 4) return v128.load(p);
  let v = f32x4.splat(0.0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (lanes > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (lanes > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Store the first `lanes` (1..4) lanes of v at p. */
// @ts-ignore: decorator
@inline export function storeLanes(p: usize, v: v128, lanes: i32): void {
  if (lanes >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (lanes > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** dot(a[0..n), b[0..n)) with two vector accumulators and a scalar tail. */
// @ts-ignore: decorator
@inline export function dot(a: usize, b: usize, n: i32): f32 {
  let acc0 = f32x4.splat(0.0);
  let acc1 = f32x4.splat(0.0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    acc0 = fma4(v128.load(a + o), v128.load(b + o), acc0);
    acc1 = fma4(v128.load(a + o, 16), v128.load(b + o, 16), acc1);
  }
  if (i + 4 <= n) {
    const o = <usize>i << 2;
    acc0 = fma4(v128.load(a + o), v128.load(b + o), acc0);
    i += 4;
  }
  let s = hsum(f32x4.add(acc0, acc1));
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}
