// GEMV path of linear over a block-quantized weight (decode, m ≤ 8 rows): y[m, n] = Σ_k x[m, k] · w[n, k]
// (+ bias[n]) with w = d · q dequantized in registers (storage: include/quant_blocks.wgsl). A workgroup of 256
// threads handles 8 output features with 32 lanes each; lanes stride over the u32 code words of a row (128
// contiguous bytes per step), each word 4 (Q8_0) or 8 (Q4_0) weights, dequantize each word once and multiply it
// by every row's x (one accumulator per row), then reduce in workgroup memory. A row has 4 to 8 times fewer words
// than the f32 GEMV's elements, so half its lanes suffice.

#include "grid.wgsl"
#include "gemm_tile.wgsl"
#include "quant_blocks.wgsl"

override Q4: bool = false; // Q4_0 blocks, else Q8_0
// Rows of x and y (= p.m, 1 ≤ ROWS ≤ GEMV_MAX_ROWS): fixed row loops, each code word loaded and dequantized once
// for all rows (gemv.wgsl).
override ROWS: u32 = 1u;

const LANES: u32 = 32u;
const FEATS: u32 = 8u; // output features per workgroup

struct Params {
  m: u32, // rows of x and y (≤ 8; = ROWS)
  n: u32, // rows of this weight part
  k: u32, // a multiple of 32
  x_stride: u32,
  x_base: u32,
  y_stride: u32,
  y_base: u32,
  has_bias: u32,
  bias_base: u32,
  scale_base: u32, // first word of the scales in w
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (m, x_stride)
@group(0) @binding(2) var<storage, read> w: array<u32>; // codes then scales of (n, k) weights
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (≥ bias_base + n), or a dummy
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (m, y_stride)

var<workgroup> red: array<f32, 256>; // (FEATS, LANES)

fn xv(at: u32) -> vec4<f32> {
  return vec4<f32>(x[at], x[at + 1u], x[at + 2u], x[at + 3u]);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let f = lid.x / LANES;
  let lane = lid.x % LANES;
  let j = flat_workgroup(wid, nwg) * FEATS + f;
  let jc = min(j, p.n - 1u); // rows past the end recompute the last one and do not store
  let nb = p.k / QBLOCK;
  let qw = qwords(Q4);
  let words = nb * qw; // code words of one row
  var acc: array<f32, GEMV_MAX_ROWS>; // row r's partial dot product (only the first ROWS are used)
  for (var i = lane; i < words; i += LANES) {
    let b = i / qw;
    let s = jc * nb + b;
    let d = qscale(w[p.scale_base + s / 2u], s);
    let word = w[jc * words + i];
    let k0 = b * QBLOCK + (i % qw) * 4u;
    if (Q4) {
      let lo = q4_codes(word, 0u);
      let hi = q4_codes(word, 4u);
      for (var r = 0u; r < ROWS; r++) {
        let xk = p.x_base + r * p.x_stride + k0;
        acc[r] = fma(d, dot(lo, xv(xk)) + dot(hi, xv(xk + 16u)), acc[r]);
      }
    } else {
      let c = q8_codes(word);
      for (var r = 0u; r < ROWS; r++) {
        acc[r] = fma(d, dot(c, xv(p.x_base + r * p.x_stride + k0)), acc[r]);
      }
    }
  }
  // One tree per row, in turn (as many barriers as one row at a time; a workgroup array for all rows at once
  // costs more than those barriers where workgroup memory is zeroed per dispatch, as it must be in WebGPU).
  for (var r = 0u; r < ROWS; r++) {
    red[lid.x] = acc[r];
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
      y[p.y_base + r * p.y_stride + j] = v;
    }
    workgroupBarrier();
  }
}
