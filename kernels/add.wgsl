// y = a + b, elementwise over n floats.

#include "grid.wgsl"

override WG: u32 = 256u;

struct Params {
  n: u32, // elements
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>; // (n)
@group(0) @binding(2) var<storage, read> b: array<f32>; // (n)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (n)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_invocation(gid, nwg, WG);
  if (i >= p.n) {
    return;
  }
  y[i] = a[i] + b[i];
}
