// out[i, :] = src[ids[id_offset + i] − r0, :] for the ids inside this part's row range [r0, r0 + part_rows); rows
// of other parts are left alone (embedding tables split over several buffers run one dispatch per part).

#include "grid.wgsl"

override WG: u32 = 256u;
// Source storage as in gemm.wgsl: f32 bits, or (F16) f16 pairs with rows padded to an even length.
override F16: bool = false;

struct Params {
  rows: u32, // output rows (ids)
  cols: u32,
  r0: u32, // first source row held by src
  part_rows: u32, // rows held by src
  id_offset: u32, // first id read (ids written on the device by argmax.wgsl, one step after another)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>; // (id_offset + rows, …)
@group(0) @binding(2) var<storage, read> src: array<u32>; // (part_rows, cols) f32 bits or f16 pairs
@group(0) @binding(3) var<storage, read_write> o: array<f32>; // (rows, cols)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_invocation(gid, nwg, WG);
  if (i >= p.rows * p.cols) {
    return;
  }
  let row = i / p.cols;
  let c = i % p.cols;
  let r = u32(ids[p.id_offset + row]) - p.r0; // wraps for ids below r0
  if (r < p.part_rows) {
    if (F16) {
      o[i] = unpack2x16float(src[r * ((p.cols + 1u) / 2u) + c / 2u])[c % 2u];
    } else {
      o[i] = bitcast<f32>(src[r * p.cols + c]);
    }
  }
}
