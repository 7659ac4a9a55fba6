// embed / embedFrom over a block-quantized table (storage: include/quant_blocks.wgsl): out[i, c] = d · q of row
// ids[id_offset + i] − r0, column c, for the ids inside this part's row range [r0, r0 + part_rows); rows of other
// parts are left alone (tables split over several buffers run one dispatch per part), as gather.wgsl.
// ALL: no ids — out row i is part row r0 + i (a whole range of the part dequantized in order: the prefill GEMM's f32
// copy of a quantized weight, kernels/linear_q.ts).

#include "grid.wgsl"
#include "quant_blocks.wgsl"

override WG: u32 = 256u;
override Q4: bool = false; // Q4_0 blocks, else Q8_0
override ALL: bool = false; // rows r0 .. r0 + rows − 1 of the part, ids unused

struct Params {
  rows: u32, // output rows (ids)
  cols: u32, // k, a multiple of 32
  r0: u32, // first table row held by src (ALL: first part row read)
  part_rows: u32, // rows held by src
  id_offset: u32, // first id read
  scale_base: u32, // first word of the scales in src
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>; // (id_offset + rows, …)
@group(0) @binding(2) var<storage, read> src: array<u32>; // codes then scales of (part_rows, cols)
@group(0) @binding(3) var<storage, read_write> o: array<f32>; // (rows, cols)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_invocation(gid, nwg, WG);
  if (i >= p.rows * p.cols) {
    return;
  }
  let row = i / p.cols;
  let c = i % p.cols;
  var r = row + p.r0;
  if (!ALL) {
    r = u32(ids[p.id_offset + row]) - p.r0; // wraps for ids below r0
  }
  if (r < p.part_rows) {
    let s = r * (p.cols / QBLOCK) + c / QBLOCK;
    let d = qscale(src[p.scale_base + s / 2u], s);
    let e = c % QBLOCK;
    if (Q4) {
      let byte = e % 16u;
      let word = src[s * 4u + byte / 4u];
      o[i] = d * (f32(extractBits(word, 8u * (byte % 4u) + 4u * (e / 16u), 4u)) - 8.0);
    } else {
      let word = bitcast<i32>(src[s * 8u + e / 4u]);
      o[i] = d * f32(extractBits(word, 8u * (e % 4u), 8u));
    }
  }
}
