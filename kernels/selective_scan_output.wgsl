// Mamba-1 chunked scan, pass 3 of 3 (and the whole scan when the sequence fits in one chunk, e.g. decode).
// A workgroup owns WG channels d of one (batch b, chunk c); each thread rescans the chunk for its channel from
// the state entering it, the states n in registers (NB at a time), with the chunk's B/C rows staged in workgroup
// memory (shared by all channels) TT tokens at a time and its own Δ/u/z column read coalesced over d:
//   y_t = (Σ_n C[t, n] h_t[n] + D[d] u[t, d]) · SiLU(z[t, d]).
// The entering state is hs[(b·n_chunks + c)·N·D + n·hs_n + d·hs_d]: the chunk states (batch, n_chunks, N, D) of
// pass 2, or with one chunk the state itself (batch, D, N), overwritten with the final state when write_state = 1.
// With N > NB the passes over n add their partial sums in y; the last pass applies D·u and the gate.

#include "scan_tile.wgsl"
#include "softplus.wgsl"
#include "half_params.wgsl"

override NB: u32 = SCAN_MAX_STATES; // states per pass: min(N, NBMAX); states past N are padded with zeros
override P16: bool = false; // A and D as f16 pairs (include/half_params.wgsl)

struct Params {
  seq_len: u32,
  d: u32,
  n: u32,
  n_chunks: u32,
  chunk: u32,
  write_state: u32,
  hs_n: u32,
  hs_d: u32,
  u_stride: u32,
  u_col: u32,
  dl_stride: u32,
  dl_col: u32,
  b_stride: u32,
  b_col: u32,
  c_stride: u32,
  c_col: u32,
  z_stride: u32,
  z_col: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>; // (batch·L, u_stride)
@group(0) @binding(2) var<storage, read> delta: array<f32>; // (batch·L, dl_stride)
@group(0) @binding(3) var<storage, read> A: array<u32>; // (D, N) f32 bits or f16 pairs
@group(0) @binding(4) var<storage, read> Bm: array<f32>; // (batch·L, b_stride)
@group(0) @binding(5) var<storage, read> Cm: array<f32>; // (batch·L, c_stride)
@group(0) @binding(6) var<storage, read> Dv: array<u32>; // (D) f32 bits or f16 pairs
@group(0) @binding(7) var<storage, read> z: array<f32>; // (batch·L, z_stride)
@group(0) @binding(8) var<storage, read_write> hs: array<f32>; // entering states, see above
@group(0) @binding(9) var<storage, read_write> y: array<f32>; // (batch·L, D)

var<workgroup> t_b: array<f32, 256>; // (TT, NBMAX) B
var<workgroup> t_c: array<f32, 256>; // (TT, NBMAX) C

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let d = wid.x * WG + lid;
  let live = d < p.d;
  let dc = min(d, p.d - 1u); // clamped: loads stay in bounds for the idle lanes
  let c = wid.y;
  let b = wid.z;
  let t0 = c * p.chunk;
  let cnt = min(p.chunk, p.seq_len - t0);
  let row0 = b * p.seq_len + t0;
  let hbase = (b * p.n_chunks + c) * p.n * p.d + dc * p.hs_d;
  let dd = param_of(Dv[param_word(dc, P16)], dc, P16);
  for (var nb0 = 0u; nb0 < p.n; nb0 += NB) {
    let first = nb0 == 0u;
    let last = nb0 + NB >= p.n;
    var a: array<f32, NBMAX>;
    var h: array<f32, NBMAX>;
    for (var k = 0u; k < NB; k++) {
      let n = min(nb0 + k, p.n - 1u);
      let ok = nb0 + k < p.n;
      let ai = dc * p.n + n;
      a[k] = select(0.0, param_of(A[param_word(ai, P16)], ai, P16), ok);
      h[k] = select(0.0, hs[hbase + n * p.hs_n], ok);
    }
    for (var j0 = 0u; j0 < cnt; j0 += TT) {
      let m = min(TT, cnt - j0);
      workgroupBarrier();
      for (var i = lid; i < TT * NB; i += WG) {
        let j = i / NB;
        let k = i % NB;
        let n = min(nb0 + k, p.n - 1u);
        let ok = nb0 + k < p.n;
        let row = row0 + j0 + min(j, m - 1u);
        t_b[j * NBMAX + k] = select(0.0, Bm[row * p.b_stride + p.b_col + n], ok);
        t_c[j * NBMAX + k] = select(0.0, Cm[row * p.c_stride + p.c_col + n], ok);
      }
      workgroupBarrier();
      if (live) {
        // The thread's own Δ/u/z column (coalesced over d), loaded one token ahead of its use.
        var r = (row0 + j0) * p.d + d;
        var ndl = delta[(row0 + j0) * p.dl_stride + p.dl_col + d];
        var nu = u[(row0 + j0) * p.u_stride + p.u_col + d];
        var nz = z[(row0 + j0) * p.z_stride + p.z_col + d];
        for (var j = 0u; j < m; j++) {
          let row = row0 + j0 + min(j + 1u, m - 1u);
          let dl = softplus(ndl);
          let uv = nu;
          let zv = nz;
          ndl = delta[row * p.dl_stride + p.dl_col + d];
          nu = u[row * p.u_stride + p.u_col + d];
          nz = z[row * p.z_stride + p.z_col + d];
          let du = dl * uv;
          var acc = 0.0;
          for (var k = 0u; k < NB; k++) {
            h[k] = fma(exp(dl * a[k]), h[k], du * t_b[j * NBMAX + k]);
            acc = fma(t_c[j * NBMAX + k], h[k], acc);
          }
          let yi = r;
          r += p.d;
          if (!first) {
            acc += y[yi];
          }
          if (last) {
            acc = fma(dd, uv, acc) * zv / (1.0 + exp(-zv));
          }
          y[yi] = acc;
        }
      }
    }
    if (live && p.write_state != 0u) {
      for (var k = 0u; k < NB; k++) {
        let n = nb0 + k;
        if (n < p.n) {
          hs[hbase + n * p.hs_n] = h[k];
        }
      }
    }
  }
}
