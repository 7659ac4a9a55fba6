// Synthetic weights generated in place (runtime/synthetic.ts `syntheticUniform`): element e of a tensor with
// stream `key` is ((h >> 8) − 2²³) · 2⁻²³ · scale, h the lowbias32 hash of key + e (mod 2³²). The integer part and
// the product by 2⁻²³ are exact, so each value is one correctly rounded f32 multiply: the host's bits. With F16,
// each output word holds two f16 of a row padded to an even length `kp` (the padding is 0), rounded to nearest
// even by integer arithmetic (the host's Float16Array), not by the adapter's conversion.

#include "grid.wgsl"

override WG: u32 = 256u;
override F16: bool = false;
// Groups of 4 words (vec4: one 16-byte store, several times cheaper on llvmpipe than 4 single-word stores) each
// invocation writes, consecutive per invocation group of WG.
override PER: u32 = 4u;

struct Params {
  n: u32, // words to write (f32: elements)
  first: u32, // key + index of the first element written (mod 2³²)
  k: u32, // F16: columns of a row
  kp: u32, // F16: stored columns (k rounded up to even)
  scale: f32, // the tensor's half-range, rounded to f32
}

@group(0) @binding(0) var<uniform> p: Params;
// (n) words, bound as ⌈n/4⌉ vec4: the words of the last vec4 past n keep what they held.
@group(0) @binding(1) var<storage, read_write> y: array<vec4u>;

// lowbias32 (C. Wellons), runtime/synthetic.ts mix32.
fn mix32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn value(counter: u32) -> f32 {
  let h = mix32(counter);
  return f32(i32(h >> 8u) - 8388608) * 1.1920928955078125e-7 * p.scale;
}

// f32 → f16 bits, rounded to nearest even (f16 subnormals included; f32 subnormals give ±0, as the host's
// conversion of values this generator never makes). No infinities or NaN reach it: |value| ≤ scale.
fn f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let E = (b >> 23u) & 0xffu;
  if (E == 0u) {
    return sign;
  }
  let e = i32(E) - 112; // the f16 biased exponent
  if (e >= 31) {
    return sign | 0x7c00u;
  }
  let M = (b & 0x7fffffu) | 0x800000u; // 24-bit significand
  // Bits dropped: 13 for an f16 normal, 14 − e for a subnormal (quantum 2⁻²⁴).
  let s = select(13u, u32(14 - e), e <= 0);
  if (s >= 25u) {
    return sign; // below half the smallest subnormal
  }
  var r = M >> s;
  let rem = M & ((1u << s) - 1u);
  let half = 1u << (s - 1u);
  if (rem > half || (rem == half && (r & 1u) == 1u)) {
    r += 1u;
  }
  if (e <= 0) {
    return sign | r; // r = 1024 is the smallest normal, as it should be
  }
  return sign | ((u32(e - 1) << 10u) + r); // a carry out of the significand bumps the exponent
}

// Output word w.
fn word(w: u32) -> u32 {
  if (F16) {
    let c = (2u * w) % p.kp;
    let r = (2u * w) / p.kp;
    let e = p.first + r * p.k + c;
    let lo = f16_bits(value(e));
    let hi = select(0u, f16_bits(value(e + 1u)), c + 1u < p.k);
    return lo | (hi << 16u);
  }
  return bitcast<u32>(value(p.first + w));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let base = flat_workgroup(wid, nwg) * WG * PER + lid.x;
  for (var j = 0u; j < PER; j++) {
    let q = base + j * WG;
    let w = 4u * q;
    if (w >= p.n) {
      return;
    }
    if (w + 4u <= p.n) {
      y[q] = vec4u(word(w), word(w + 1u), word(w + 2u), word(w + 3u));
    } else {
      let old = y[q]; // the tail: words past n are not this tensor's
      y[q] = select(old, vec4u(word(w), word(w + 1u), word(w + 2u), word(w + 3u)), vec4u(w, w + 1u, w + 2u, w + 3u) < vec4u(p.n));
    }
  }
}
