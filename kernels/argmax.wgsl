// Greedy decoding on the device: ids[offset + r] = argmax_{c < cols} x[r, c], the lowest index among equal maxima
// (as the host's argmax in runtime/sampling.ts). Rows are `stride` wide; only the first `cols` columns are candidates
// (a padded vocabulary's rows are never chosen). One workgroup per row; ids are i32 (the tensor holds their bits).

#include "grid.wgsl"

override WG: u32 = 256u; // power of two

struct Params {
  rows: u32,
  cols: u32, // candidate columns (≤ stride)
  stride: u32, // row width of x
  offset: u32, // first id written
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (rows, stride)
@group(0) @binding(2) var<storage, read_write> ids: array<i32>; // (offset + rows, …)

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

// Whether (v, i) beats (w, j): larger value, or equal value and lower index. NaN never wins.
fn beats(v: f32, i: u32, w: f32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let row = flat_workgroup(wid, nwg);
  if (row >= p.rows) {
    return;
  }
  let base = row * p.stride;
  var v = bitcast<f32>(0xff7fffffu); // −FLT_MAX (a decimal literal may round past f32 in some compilers)
  var i = 0xffffffffu;
  for (var c = lid.x; c < p.cols; c += WG) {
    let xc = x[base + c];
    if (beats(xc, c, v, i)) {
      v = xc;
      i = c;
    }
  }
  best_v[lid.x] = v;
  best_i[lid.x] = i;
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (lid.x < h && beats(best_v[lid.x + h], best_i[lid.x + h], best_v[lid.x], best_i[lid.x])) {
      best_v[lid.x] = best_v[lid.x + h];
      best_i[lid.x] = best_i[lid.x + h];
    }
  }
  if (lid.x == 0u) {
    // A row of only NaN (or −∞ below f32's lowest) keeps index 0, as the host's argmax does.
    ids[p.offset + row] = select(0, i32(best_i[0]), best_i[0] != 0xffffffffu);
  }
}
