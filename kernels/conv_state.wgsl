// Conv state update: state[b, c, :] = the last K−1 inputs of (state[b, c, :] ++ x[b, :, c]), oldest first, also when
// L < K−1. One thread per (b, c), walking j upwards: slot j reads slot j + L (not yet overwritten) or x.

#include "grid.wgsl"

override WG: u32 = 256u;

struct Params {
  batch: u32,
  seq_len: u32, // L
  channels: u32, // C
  k: u32, // K
  x_stride: u32,
  x_col: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (batch·L, x_stride), columns [x_col, x_col + C)
@group(0) @binding(2) var<storage, read_write> state: array<f32>; // (batch, C, K−1)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_invocation(gid, nwg, WG);
  let C = p.channels;
  if (i >= p.batch * C) {
    return;
  }
  let b = i / C;
  let c = i % C;
  let km1 = p.k - 1u;
  let L = i32(p.seq_len);
  for (var j = 0u; j < km1; j++) {
    let tau = L - i32(km1) + i32(j);
    if (tau >= 0) {
      state[i * km1 + j] = x[(b * p.seq_len + u32(tau)) * p.x_stride + p.x_col + c];
    } else {
      state[i * km1 + j] = state[i * km1 + j + p.seq_len];
    }
  }
}
