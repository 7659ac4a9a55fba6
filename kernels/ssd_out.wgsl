// Mamba-2 SSD step 4: per (b, chunk, h), the output of the chunk as two tiled GEMMs plus the D skip:
//   y[l, p] = exp(A_cum[l]) · Σ_n C_l[n] · prev[p, n]                                  (state entering the chunk)
//           + Σ_{s ≤ l} (CB[l, s] · exp(A_cum[l] − A_cum[s]) · Δ_s) · x_s[h, p]           (intra-chunk, causal)
//           + D[h] · x_l[h, p].
// One workgroup computes a 64 × 64 (l, p) tile, 4 × 4 per thread, from 16-deep k slices (k = n, then k = s up to
// the tile's last row) staged in workgroup memory; the masked, decayed weights are formed while staging.

#include "grid.wgsl"
#include "ssd_tile.wgsl"
#include "half_params.wgsl"

override P16: bool = false; // D as f16 pairs (include/half_params.wgsl)

struct Params {
  batch: u32,
  seq_len: u32,
  heads: u32,
  head_dim: u32,
  groups: u32,
  n: u32,
  n_chunks: u32,
  chunk: u32,
  x_stride: u32,
  x_col: u32,
  c_stride: u32,
  c_col: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (batch·L, x_stride), columns [x_col, x_col + H·P)
@group(0) @binding(2) var<storage, read> Cm: array<f32>; // (batch·L, c_stride), columns [c_col, c_col + G·N)
@group(0) @binding(3) var<storage, read> Dv: array<u32>; // (H) f32 bits or f16 pairs
@group(0) @binding(4) var<storage, read> dtc: array<f32>; // (batch, H, n_chunks, Q)
@group(0) @binding(5) var<storage, read> acs: array<f32>; // (batch, H, n_chunks, Q)
@group(0) @binding(6) var<storage, read> cb: array<f32>; // (batch, n_chunks, G, Q, Q), valid where s ≤ l
@group(0) @binding(7) var<storage, read> st: array<f32>; // (batch, n_chunks, H, P, N) states entering chunks
@group(0) @binding(8) var<storage, read_write> y: array<f32>; // (batch·L, H·P)

// Staged: As [k][l] = C, then the weights; Bs [k][p] = prev, then x.

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) tid: u32,
) {
  let tl = (p.chunk + BM - 1u) / BM;
  let tp = (p.head_dim + BM - 1u) / BM;
  let w = flat_workgroup(wid, nwg);
  if (w >= p.batch * p.n_chunks * p.heads * tl * tp) {
    return;
  }
  let p0 = (w % tp) * BM;
  let l0 = ((w / tp) % tl) * BM;
  let bch = w / (tp * tl); // (b · n_chunks + c) · H + h
  let h = bch % p.heads;
  let c = (bch / p.heads) % p.n_chunks;
  let b = bch / (p.heads * p.n_chunks);
  let g = h / (p.heads / p.groups);
  let abase = ((b * p.heads + h) * p.n_chunks + c) * p.chunk;
  let cbase = ((b * p.n_chunks + c) * p.groups + g) * p.chunk * p.chunk;
  let sbase = bch * p.head_dim * p.n;
  let cnt = min(p.chunk, p.seq_len - c * p.chunk);
  let row0 = b * p.seq_len + c * p.chunk;
  let xc = p.x_col + h * p.head_dim;
  let tx = tid % 16u;
  let ty = tid / 16u;
  // Staging of k-contiguous sources (C, prev, CB): k = tid % BK, rows tid / BK + 16 r.
  let ck = tid % BK;
  let cm = tid / BK;
  // Staging of x (p contiguous): p = tid % BM, k = tid / BM + 4 r.
  let xm = tid % BM;
  let xk = tid / BM;
  var acc: array<vec4f, 4>;

  // exp(A_cum[l]) · C_l · prev, k = n.
  for (var n0 = 0u; n0 < p.n; n0 += BK) {
    let n = n0 + ck;
    for (var r = 0u; r < 4u; r++) {
      let m = cm + 16u * r;
      var cv = 0.0;
      var sv = 0.0;
      if (n < p.n) {
        if (l0 + m < cnt) {
          cv = Cm[(row0 + l0 + m) * p.c_stride + p.c_col + g * p.n + n];
        }
        if (p0 + m < p.head_dim) {
          sv = st[sbase + (p0 + m) * p.n + n];
        }
      }
      stage_a(ck, m, cv);
      stage_b(ck, m, sv);
    }
    workgroupBarrier();
    mac(&acc, tx, ty);
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let l = l0 + ty * 4u + i;
    if (l < cnt) {
      acc[i] *= exp(acs[abase + l]);
    }
  }

  // Σ_{s ≤ l} W[l, s] x_s, k = s, up to the tile's last row.
  var al: array<f32, 4>; // A_cum of this thread's staged rows
  for (var r = 0u; r < 4u; r++) {
    let l = l0 + cm + 16u * r;
    al[r] = 0.0;
    if (l < cnt) {
      al[r] = acs[abase + l];
    }
  }
  let s_end = min(l0 + BM, cnt);
  for (var s0 = 0u; s0 < s_end; s0 += BK) {
    let s = s0 + ck;
    var acs_s = 0.0;
    var ds = 0.0;
    if (s < cnt) {
      acs_s = acs[abase + s];
      ds = dtc[abase + s];
    }
    for (var r = 0u; r < 4u; r++) {
      let m = cm + 16u * r;
      let l = l0 + m;
      var wv = 0.0;
      if (s <= l && l < cnt) {
        wv = cb[cbase + l * p.chunk + s] * exp(al[r] - acs_s) * ds;
      }
      stage_a(ck, m, wv);
    }
    for (var r = 0u; r < 4u; r++) {
      let k = xk + 4u * r;
      var xv = 0.0;
      if (s0 + k < cnt && p0 + xm < p.head_dim) {
        xv = x[(row0 + s0 + k) * p.x_stride + xc + p0 + xm];
      }
      stage_b(k, xm, xv);
    }
    workgroupBarrier();
    mac(&acc, tx, ty);
    workgroupBarrier();
  }

  let hp = p.heads * p.head_dim;
  let d = param_of(Dv[param_word(h, P16)], h, P16);
  for (var i = 0u; i < 4u; i++) {
    let l = l0 + ty * 4u + i;
    if (l < cnt) {
      let row = row0 + l;
      for (var j = 0u; j < 4u; j++) {
        let pj = p0 + tx * 4u + j;
        if (pj < p.head_dim) {
          y[row * hp + h * p.head_dim + pj] = acc[i][j] + d * x[row * p.x_stride + xc + pj];
        }
      }
    }
  }
}
