// Mamba-1 chunked scan, pass 1 of 3. A workgroup owns WG channels d of one (batch b, chunk c); each thread walks
// the chunk's tokens for its channel with the states n in registers (NB at a time), the chunk's B rows staged in
// workgroup memory (shared by all channels) TT tokens at a time and its own Δ/u column read coalesced over d.
// It leaves the chunk's step from h = 0,
//   bsum[b, c, n, d] = the chunk scanned from 0,  S[b, c, d] = Σ_t Δ_t   (so a[n] = exp(A[d, n] S)),
// with Δ_t = softplus(delta[t, d]) and h ← exp(Δ_t A[d, n]) h + Δ_t B[t, n] u[t, d].

#include "scan_tile.wgsl"
#include "softplus.wgsl"
#include "half_params.wgsl"

override NB: u32 = SCAN_MAX_STATES; // states per pass: min(N, NBMAX); states past N are padded with zeros
override P16: bool = false; // A and D as f16 pairs (include/half_params.wgsl)

struct Params {
  seq_len: u32, // L
  d: u32, // D channels
  n: u32, // N state size
  n_chunks: u32,
  chunk: u32, // tokens per chunk (the last one is shorter)
  u_stride: u32,
  u_col: u32,
  dl_stride: u32,
  dl_col: u32,
  b_stride: u32,
  b_col: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>; // (batch·L, u_stride), columns [u_col, u_col + D)
@group(0) @binding(2) var<storage, read> delta: array<f32>; // (batch·L, dl_stride), columns [dl_col, dl_col + D)
@group(0) @binding(3) var<storage, read> A: array<u32>; // (D, N) f32 bits or f16 pairs
@group(0) @binding(4) var<storage, read> Bm: array<f32>; // (batch·L, b_stride), columns [b_col, b_col + N)
@group(0) @binding(5) var<storage, read_write> bsum: array<f32>; // (batch, n_chunks, N, D)
@group(0) @binding(6) var<storage, read_write> dsum: array<f32>; // (batch, n_chunks, D)

var<workgroup> t_b: array<f32, 256>; // (TT, NBMAX) B

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
  var sdl = 0.0;
  for (var nb0 = 0u; nb0 < p.n; nb0 += NB) {
    var a: array<f32, NBMAX>;
    var h: array<f32, NBMAX>;
    var s = 0.0;
    for (var k = 0u; k < NB; k++) {
      let n = nb0 + k;
      let ai = dc * p.n + min(n, p.n - 1u);
      a[k] = select(0.0, param_of(A[param_word(ai, P16)], ai, P16), n < p.n);
      h[k] = 0.0;
    }
    for (var j0 = 0u; j0 < cnt; j0 += TT) {
      let m = min(TT, cnt - j0);
      workgroupBarrier();
      for (var i = lid; i < TT * NB; i += WG) {
        let j = i / NB;
        let k = i % NB;
        let n = nb0 + k;
        let row = row0 + j0 + min(j, m - 1u);
        t_b[j * NBMAX + k] = select(0.0, Bm[row * p.b_stride + p.b_col + min(n, p.n - 1u)], n < p.n);
      }
      workgroupBarrier();
      // The thread's own Δ/u column (coalesced over d; clamped for idle lanes), loaded one token ahead of its use.
      var ndl = delta[(row0 + j0) * p.dl_stride + p.dl_col + dc];
      var nu = u[(row0 + j0) * p.u_stride + p.u_col + dc];
      for (var j = 0u; j < m; j++) {
        let row = row0 + j0 + min(j + 1u, m - 1u);
        let dl = softplus(ndl);
        let du = dl * nu;
        ndl = delta[row * p.dl_stride + p.dl_col + dc];
        nu = u[row * p.u_stride + p.u_col + dc];
        s += dl;
        for (var k = 0u; k < NB; k++) {
          h[k] = fma(exp(dl * a[k]), h[k], du * t_b[j * NBMAX + k]);
        }
      }
    }
    if (nb0 == 0u) {
      sdl = s;
    }
    if (live) {
      let base = (b * p.n_chunks + c) * p.n * p.d + d;
      for (var k = 0u; k < NB; k++) {
        let n = nb0 + k;
        if (n < p.n) {
          bsum[base + n * p.d] = h[k];
        }
      }
    }
  }
  if (live) {
    dsum[(b * p.n_chunks + c) * p.d + d] = sdl;
  }
}
