// Mamba-2 gated RMSNorm (norm_before_gate = false): g = y · SiLU(z), each group of `group` channels of a row
// normalised by its own RMS, times w. One workgroup per (row, group).

#include "grid.wgsl"
#include "workgroup_sum.wgsl"

override WG: u32 = 128u; // power of two

struct Params {
  rows: u32,
  cols: u32, // D
  group: u32, // channels per group; cols is a multiple
  z_stride: u32, // row stride of z's tensor
  z_col: u32, // first column of z
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>; // (rows, D)
@group(0) @binding(2) var<storage, read> z: array<f32>; // (rows, z_stride), columns [z_col, z_col + D)
@group(0) @binding(3) var<storage, read> w: array<f32>; // (D)
@group(0) @binding(4) var<storage, read_write> o: array<f32>; // (rows, D)

fn gated(row: u32, c: u32) -> f32 {
  let zv = z[row * p.z_stride + p.z_col + c];
  return y[row * p.cols + c] * zv / (1.0 + exp(-zv));
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let groups = p.cols / p.group;
  let id = flat_workgroup(wid, nwg);
  if (id >= p.rows * groups) {
    return;
  }
  let row = id / groups;
  let c0 = (id % groups) * p.group;
  var s = 0.0;
  for (var i = lid.x; i < p.group; i += WG) {
    let g = gated(row, c0 + i);
    s = fma(g, g, s);
  }
  let scale = 1.0 / sqrt(workgroup_sum(lid.x, s) / f32(p.group) + p.eps);
  for (var i = lid.x; i < p.group; i += WG) {
    let c = c0 + i;
    o[row * p.cols + c] = gated(row, c) * scale * w[c];
  }
}
