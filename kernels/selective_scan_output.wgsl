// Mamba-1 chunked scan, pass 3 of 3 (and the whole scan when the sequence fits in one chunk, e.g. decode):
// per (b, chunk, d), rescan the chunk from its entering state for every n and accumulate
//   y_t = (Σ_n C[t, n] h_t[n] + D[d] u[t, d]) · SiLU(z[t, d]).
// h_start is (batch, n_chunks, D, N); with one chunk it is the state itself (batch, D, N), updated when
// write_state = 1.

override WG: u32 = 64u;
const CH: u32 = 32u; // tokens per chunk (selective_scan.ts: SCAN_CHUNK)

struct Params {
  batch: u32,
  seq_len: u32,
  d: u32,
  n: u32,
  n_chunks: u32,
  write_state: u32,
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
@group(0) @binding(3) var<storage, read> A: array<f32>; // (D, N)
@group(0) @binding(4) var<storage, read> Bm: array<f32>; // (batch·L, b_stride)
@group(0) @binding(5) var<storage, read> Cm: array<f32>; // (batch·L, c_stride)
@group(0) @binding(6) var<storage, read> Dv: array<f32>; // (D)
@group(0) @binding(7) var<storage, read> z: array<f32>; // (batch·L, z_stride)
@group(0) @binding(8) var<storage, read_write> hs: array<f32>; // (batch, n_chunks, D, N)
@group(0) @binding(9) var<storage, read_write> y: array<f32>; // (batch·L, D)

fn softplus(v: f32) -> f32 {
  if (v > 20.0) {
    return v;
  }
  let e = exp(v);
  if (e < 1e-3) {
    return e * (1.0 - e * (0.5 - e / 3.0));
  }
  return log(1.0 + e);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.batch * p.n_chunks * p.d) {
    return;
  }
  let d = i % p.d;
  let bc = i / p.d;
  let c = bc % p.n_chunks;
  let b = bc / p.n_chunks;
  let t0 = c * CH;
  let cnt = min(CH, p.seq_len - t0);
  let row0 = b * p.seq_len + t0;
  var ys: array<f32, CH>;
  var dls: array<f32, CH>;
  var us: array<f32, CH>;
  for (var j = 0u; j < cnt; j++) {
    let row = row0 + j;
    dls[j] = softplus(delta[row * p.dl_stride + p.dl_col + d]);
    us[j] = u[row * p.u_stride + p.u_col + d];
  }
  for (var n = 0u; n < p.n; n++) {
    let a = A[d * p.n + n];
    let hidx = i * p.n + n;
    var h = hs[hidx];
    for (var j = 0u; j < cnt; j++) {
      let row = row0 + j;
      h = exp(dls[j] * a) * h + dls[j] * Bm[row * p.b_stride + p.b_col + n] * us[j];
      ys[j] = fma(Cm[row * p.c_stride + p.c_col + n], h, ys[j]);
    }
    if (p.write_state != 0u) {
      hs[hidx] = h;
    }
  }
  let dd = Dv[d];
  for (var j = 0u; j < cnt; j++) {
    let row = row0 + j;
    let zv = z[row * p.z_stride + p.z_col + d];
    y[row * p.d + d] = fma(dd, us[j], ys[j]) * zv / (1.0 + exp(-zv));
  }
}
