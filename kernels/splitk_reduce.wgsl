// Second step of a split-K GEMM (gemm.wgsl): y[m, n] = Σ_z part[z, m, n] (+ bias[n]), part laid out
// [splits, m, n]; y may be a view (row stride and element offset in Params).

#include "grid.wgsl"

override WG: u32 = 256u;

struct Params {
  m: u32,
  n: u32,
  splits: u32,
  y_stride: u32,
  y_base: u32,
  has_bias: u32,
  bias_base: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>; // (splits, m, n)
@group(0) @binding(2) var<storage, read> bias: array<f32>; // (≥ bias_base + n), or a dummy
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (m, y_stride)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_invocation(gid, nwg, WG);
  let mn = p.m * p.n;
  if (i >= mn) {
    return;
  }
  var v = 0.0;
  for (var z = 0u; z < p.splits; z++) {
    v += part[z * mn + i];
  }
  let c = i % p.n;
  if (p.has_bias != 0u) {
    v += bias[p.bias_base + c];
  }
  y[p.y_base + (i / p.n) * p.y_stride + c] = v;
}
