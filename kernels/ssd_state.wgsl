// Mamba-2 SSD step 2: per (b, chunk, h), the state a chunk produces from a zero start, as a tiled GEMM over the
// chunk positions s:
//   S[p, n] = Σ_s (x_s[h, p] · exp(A_cum[Q−1] − A_cum[s]) · Δ_s) · B_s[n].
// One workgroup computes a 64 × 64 (p, n) tile, 4 × 4 per thread, from 16-deep s slices staged in workgroup memory.

#include "grid.wgsl"
#include "ssd_tile.wgsl"

struct Params {
  batch: u32,
  seq_len: u32,
  heads: u32, // H
  head_dim: u32, // P
  groups: u32, // G
  n: u32, // N
  n_chunks: u32,
  chunk: u32, // Q
  x_stride: u32,
  x_col: u32,
  b_stride: u32,
  b_col: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (batch·L, x_stride), columns [x_col, x_col + H·P)
@group(0) @binding(2) var<storage, read> Bm: array<f32>; // (batch·L, b_stride), columns [b_col, b_col + G·N)
@group(0) @binding(3) var<storage, read> dtc: array<f32>; // (batch, H, n_chunks, Q)
@group(0) @binding(4) var<storage, read> acs: array<f32>; // (batch, H, n_chunks, Q)
@group(0) @binding(5) var<storage, read_write> st: array<f32>; // (batch, n_chunks, H, P, N)

// Staged: As [k][p] = decayed x, Bs [k][n] = B.

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) tid: u32,
) {
  let tp = (p.head_dim + BM - 1u) / BM;
  let tn = (p.n + BM - 1u) / BM;
  let w = flat_workgroup(wid, nwg);
  if (w >= p.batch * p.n_chunks * p.heads * tp * tn) {
    return;
  }
  let n0 = (w % tn) * BM;
  let p0 = ((w / tn) % tp) * BM;
  let bch = w / (tn * tp); // (b · n_chunks + c) · H + h
  let h = bch % p.heads;
  let c = (bch / p.heads) % p.n_chunks;
  let b = bch / (p.heads * p.n_chunks);
  let g = h / (p.heads / p.groups);
  let abase = ((b * p.heads + h) * p.n_chunks + c) * p.chunk;
  let alast = acs[abase + p.chunk - 1u];
  let cnt = min(p.chunk, p.seq_len - c * p.chunk);
  let row0 = b * p.seq_len + c * p.chunk;
  let tx = tid % 16u;
  let ty = tid / 16u;
  let lm = tid % BM; // staging: p / n fastest (contiguous in global memory)
  let lk = tid / BM;
  let pp = p0 + lm;
  let nn = n0 + lm;
  let xc = p.x_col + h * p.head_dim + pp;
  let bc = p.b_col + g * p.n + nn;
  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < cnt; k0 += BK) {
    for (var r = 0u; r < 4u; r++) {
      let k = lk + 4u * r;
      let s = k0 + k;
      var xv = 0.0;
      var bv = 0.0;
      if (s < cnt) {
        let row = row0 + s;
        if (pp < p.head_dim) {
          xv = x[row * p.x_stride + xc] * (exp(alast - acs[abase + s]) * dtc[abase + s]);
        }
        if (nn < p.n) {
          bv = Bm[row * p.b_stride + bc];
        }
      }
      stage_a(k, lm, xv);
      stage_b(k, lm, bv);
    }
    workgroupBarrier();
    mac(&acc, tx, ty);
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let pi = p0 + ty * 4u + i;
    if (pi < p.head_dim) {
      let o = (bch * p.head_dim + pi) * p.n;
      for (var j = 0u; j < 4u; j++) {
        let n = n0 + tx * 4u + j;
        if (n < p.n) {
          st[o + n] = acc[i][j];
        }
      }
    }
  }
}
