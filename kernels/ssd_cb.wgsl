// Mamba-2 SSD step 1a: per (b, chunk, group), the causal Gram matrix CB[l, s] = C_l · B_s for s ≤ l (0 above
// the diagonal and past the sequence end).

override WG: u32 = 256u;

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

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let qq = p.chunk * p.chunk;
  if (i >= p.batch * p.n_chunks * p.groups * qq) {
    return;
  }
  let s = i % p.chunk;
  let l = (i / p.chunk) % p.chunk;
  let bcg = i / qq;
  let g = bcg % p.groups;
  let c = (bcg / p.groups) % p.n_chunks;
  let b = bcg / (p.groups * p.n_chunks);
  let tl = c * p.chunk + l;
  var acc = 0.0;
  if (s <= l && tl < p.seq_len) {
    let rl = b * p.seq_len + tl;
    let rs = b * p.seq_len + c * p.chunk + s;
    let cb0 = rl * p.c_stride + p.c_col + g * p.n;
    let bb0 = rs * p.b_stride + p.b_col + g * p.n;
    for (var n = 0u; n < p.n; n++) {
      acc = fma(Cm[cb0 + n], Bm[bb0 + n], acc);
    }
  }
  cb[i] = acc;
}
