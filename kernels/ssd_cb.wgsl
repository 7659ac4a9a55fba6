// Mamba-2 SSD step 1a: per (b, chunk, group), the causal Gram matrix CB[l, s] = C_l · B_s for s ≤ l, as a tiled
// GEMM C·Bᵀ over N. One workgroup computes a 64 × 64 (l, s) tile, 4 × 4 per thread, from 16-deep k slices of C
// and B staged in workgroup memory. Tiles strictly above the diagonal are skipped and left unwritten; inside the
// diagonal tiles s > l holds junk: ssd_out reads CB only where s ≤ l. Rows past the sequence end are 0.

#include "grid.wgsl"
#include "ssd_tile.wgsl"

struct Params {
  batch: u32,
  seq_len: u32,
  groups: u32, // G
  n: u32, // N
  n_chunks: u32,
  chunk: u32, // Q
  b_stride: u32,
  b_col: u32,
  c_stride: u32,
  c_col: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Bm: array<f32>; // (batch·L, b_stride), columns [b_col, b_col + G·N)
@group(0) @binding(2) var<storage, read> Cm: array<f32>; // (batch·L, c_stride), columns [c_col, c_col + G·N)
@group(0) @binding(3) var<storage, read_write> cb: array<f32>; // (batch, n_chunks, G, Q, Q)

// Staged: As [k][l] = C_l[n0 + k], Bs [k][s] = B_s[n0 + k].

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) tid: u32,
) {
  let tiles = (p.chunk + BM - 1u) / BM;
  let w = flat_workgroup(wid, nwg);
  if (w >= p.batch * p.n_chunks * p.groups * tiles * tiles) {
    return;
  }
  let ts = w % tiles;
  let tl = (w / tiles) % tiles;
  if (ts > tl) {
    return;
  }
  let bcg = w / (tiles * tiles);
  let g = bcg % p.groups;
  let c = (bcg / p.groups) % p.n_chunks;
  let b = bcg / (p.groups * p.n_chunks);
  let cnt = min(p.chunk, p.seq_len - c * p.chunk);
  let row0 = b * p.seq_len + c * p.chunk;
  let l0 = tl * BM;
  let s0 = ts * BM;
  let tx = tid % 16u;
  let ty = tid / 16u;
  let lk = tid % BK; // staging: k fastest (contiguous n in global memory)
  let lm = tid / BK;
  var acc: array<vec4f, 4>;
  for (var n0 = 0u; n0 < p.n; n0 += BK) {
    let n = n0 + lk;
    for (var r = 0u; r < 4u; r++) {
      let m = lm + 16u * r;
      var cv = 0.0;
      var bv = 0.0;
      if (n < p.n) {
        if (l0 + m < cnt) {
          cv = Cm[(row0 + l0 + m) * p.c_stride + p.c_col + g * p.n + n];
        }
        if (s0 + m < cnt) {
          bv = Bm[(row0 + s0 + m) * p.b_stride + p.b_col + g * p.n + n];
        }
      }
      stage_a(lk, m, cv);
      stage_b(lk, m, bv);
    }
    workgroupBarrier();
    mac(&acc, tx, ty);
    workgroupBarrier();
  }
  let base = bcg * p.chunk * p.chunk;
  for (var i = 0u; i < 4u; i++) {
    let l = l0 + ty * 4u + i;
    if (l < p.chunk) {
      for (var j = 0u; j < 4u; j++) {
        let s = s0 + tx * 4u + j;
        if (s < p.chunk) {
          cb[base + l * p.chunk + s] = acc[i][j];
        }
      }
    }
  }
}
