// GEMV path of linear for decode (m ≤ 8 rows): y[m, n] = Σ_k x[m, k] · w[n, k] (+ bias[n]). A workgroup of
// 256 threads handles 4 output features with 64 lanes each; lanes stride over k (coalesced reads of a weight
// row) and reduce in workgroup memory, one row of x after the other.

#include "grid.wgsl"
#include "gemm_tile.wgsl"

// Weight storage as in gemm.wgsl: F16W packs a row's elements in pairs (rows padded to an even length); each
// lane then reads one u32 = two weights, halving the bytes of this bandwidth-bound kernel.
override F16W: bool = false;

const LANES: u32 = 64u;
const FEATS: u32 = GEMV_FEATURES;

struct Params {
  m: u32, // rows of x and y (≤ 8)
  n: u32, // rows of this weight part
  k: u32,
  x_stride: u32,
  x_base: u32,
  y_stride: u32,
  y_base: u32,
  has_bias: u32,
  bias_base: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (m, x_stride)
@group(0) @binding(2) var<storage, read> w: array<u32>; // (n, k) f32 bits, or (n, ⌈k/2⌉) f16 pairs
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (≥ bias_base + n), or a dummy
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (m, y_stride)

var<workgroup> red: array<f32, 256>; // (FEATS, LANES)

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let f = lid.x / LANES;
  let lane = lid.x % LANES;
  let j = flat_workgroup(wid, nwg) * FEATS + f;
  let jc = min(j, p.n - 1u); // rows past the end recompute the last one and do not store
  // One row of x at a time: the weight row is re-read from cache for rows after the first, and no private
  // array is indexed dynamically (slow on some compilers).
  for (var m = 0u; m < p.m; m++) {
    var acc = 0.0;
    let xb = p.x_base + m * p.x_stride;
    if (F16W) {
      let words = (p.k + 1u) / 2u;
      for (var i = lane; i < words; i += LANES) {
        let wv = unpack2x16float(w[jc * words + i]);
        let k = 2u * i;
        acc = fma(wv.x, x[xb + k], acc);
        if (k + 1u < p.k) {
          acc = fma(wv.y, x[xb + k + 1u], acc);
        }
      }
    } else {
      for (var k = lane; k < p.k; k += LANES) {
        acc = fma(bitcast<f32>(w[jc * p.k + k]), x[xb + k], acc);
      }
    }
    red[lid.x] = acc;
    for (var h = LANES / 2u; h > 0u; h >>= 1u) {
      workgroupBarrier();
      if (lane < h) {
        red[lid.x] += red[lid.x + h];
      }
    }
    workgroupBarrier();
    if (lane == 0u && j < p.n) {
      var v = red[lid.x];
      if (p.has_bias != 0u) {
        v += bias[p.bias_base + j];
      }
      y[p.y_base + m * p.y_stride + j] = v;
    }
    workgroupBarrier();
  }
}
