// Mamba-2 SSD step 3: per (b, h, p, n), pass the state across chunks from the initial state:
//   prev_c = s;  s = exp(A_cum_c[Q−1]) · s + S_c,
// replacing each chunk state S_c by the state entering the chunk, and write the final state.

#include "grid.wgsl"

override WG: u32 = 256u;

struct Params {
  batch: u32,
  heads: u32,
  head_dim: u32,
  n: u32,
  n_chunks: u32,
  chunk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> acs: array<f32>; // (batch, H, n_chunks, Q)
@group(0) @binding(2) var<storage, read_write> st: array<f32>; // (batch, n_chunks, H, P, N): S_c → prev_c
@group(0) @binding(3) var<storage, read_write> state: array<f32>; // (batch, H, P, N)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_invocation(gid, nwg, WG);
  let hpn = p.heads * p.head_dim * p.n;
  if (i >= p.batch * hpn) {
    return;
  }
  let b = i / hpn;
  let r = i % hpn;
  let h = r / (p.head_dim * p.n);
  var s = state[i];
  for (var c = 0u; c < p.n_chunks; c++) {
    let idx = (b * p.n_chunks + c) * hpn + r;
    let v = st[idx];
    st[idx] = s;
    s = fma(exp(acs[((b * p.heads + h) * p.n_chunks + c) * p.chunk + p.chunk - 1u]), s, v);
  }
  state[i] = s;
}
