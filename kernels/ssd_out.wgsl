// Mamba-2 SSD step 4: per output (b, chunk, l, h, p), the intra-chunk (diagonal block) term plus the
// contribution of the state entering the chunk, plus the D skip:
//   y = Σ_{s ≤ l} CB[l, s] · exp(A_cum[l] − A_cum[s]) · Δ_s · x_s  +  exp(A_cum[l]) · C_l · prev  +  D[h] · x_l.

override WG: u32 = 64u;

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
@group(0) @binding(3) var<storage, read> Dv: array<f32>; // (H)
@group(0) @binding(4) var<storage, read> dtc: array<f32>; // (batch, H, n_chunks, Q)
@group(0) @binding(5) var<storage, read> acs: array<f32>; // (batch, H, n_chunks, Q)
@group(0) @binding(6) var<storage, read> cb: array<f32>; // (batch, n_chunks, G, Q, Q)
@group(0) @binding(7) var<storage, read> st: array<f32>; // (batch, n_chunks, H, P, N) states entering chunks
@group(0) @binding(8) var<storage, read_write> y: array<f32>; // (batch·L, H·P)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let hp = p.heads * p.head_dim;
  if (i >= p.batch * p.n_chunks * p.chunk * hp) {
    return;
  }
  let pp = i % p.head_dim;
  let h = (i / p.head_dim) % p.heads;
  let bcl = i / hp;
  let l = bcl % p.chunk;
  let c = (bcl / p.chunk) % p.n_chunks;
  let b = bcl / (p.chunk * p.n_chunks);
  let t = c * p.chunk + l;
  if (t >= p.seq_len) {
    return;
  }
  let g = h / (p.heads / p.groups);
  let abase = ((b * p.heads + h) * p.n_chunks + c) * p.chunk;
  let al = acs[abase + l];
  let cbase = (((b * p.n_chunks + c) * p.groups + g) * p.chunk + l) * p.chunk;
  let row0 = b * p.seq_len + c * p.chunk;
  let xc = p.x_col + h * p.head_dim + pp;
  var acc = 0.0;
  for (var s = 0u; s <= l; s++) {
    let wgt = cb[cbase + s] * exp(al - acs[abase + s]) * dtc[abase + s];
    acc = fma(wgt, x[(row0 + s) * p.x_stride + xc], acc);
  }
  let row = row0 + l;
  let sbase = (((b * p.n_chunks + c) * p.heads + h) * p.head_dim + pp) * p.n;
  let c0 = row * p.c_stride + p.c_col + g * p.n;
  var off = 0.0;
  for (var n = 0u; n < p.n; n++) {
    off = fma(Cm[c0 + n], st[sbase + n], off);
  }
  y[row * hp + h * p.head_dim + pp] = acc + exp(al) * off + Dv[h] * x[row * p.x_stride + xc];
}
