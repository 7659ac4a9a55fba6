// y[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) · w. One workgroup per row.

#include "grid.wgsl"
#include "workgroup_sum.wgsl"

override WG: u32 = 128u; // power of two

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (rows, cols)
@group(0) @binding(2) var<storage, read> w: array<f32>; // (cols)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (rows, cols)

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_workgroup(wid, nwg);
  if (row >= p.rows) {
    return;
  }
  let base = row * p.cols;
  var s = 0.0;
  for (var c = lid.x; c < p.cols; c += WG) {
    let v = x[base + c];
    s = fma(v, v, s);
  }
  let scale = 1.0 / sqrt(workgroup_sum(lid.x, s) / f32(p.cols) + p.eps);
  for (var c = lid.x; c < p.cols; c += WG) {
    y[base + c] = x[base + c] * scale * w[c];
  }
}
