// Mamba-2 SSD step 2: per (b, chunk, h, p, n), the state a chunk produces from a zero start:
//   S[p, n] = Σ_l B_l[n] · exp(A_cum[Q−1] − A_cum[l]) · Δ_l · x_l[h, p].

override WG: u32 = 256u;

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

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.batch * p.n_chunks * p.heads * p.head_dim * p.n) {
    return;
  }
  let n = i % p.n;
  let hp = i / p.n;
  let pp = hp % p.head_dim;
  let h = (hp / p.head_dim) % p.heads;
  let bc = hp / (p.head_dim * p.heads);
  let c = bc % p.n_chunks;
  let b = bc / p.n_chunks;
  let g = h / (p.heads / p.groups);
  let abase = ((b * p.heads + h) * p.n_chunks + c) * p.chunk;
  let alast = acs[abase + p.chunk - 1u];
  let cnt = min(p.chunk, p.seq_len - c * p.chunk);
  let row0 = b * p.seq_len + c * p.chunk;
  var s = 0.0;
  for (var l = 0u; l < cnt; l++) {
    let row = row0 + l;
    let wgt = exp(alast - acs[abase + l]) * dtc[abase + l];
    s = fma(Bm[row * p.b_stride + p.b_col + g * p.n + n] * wgt, x[row * p.x_stride + p.x_col + h * p.head_dim + pp], s);
  }
  st[i] = s;
}
