// Mamba-1 chunked scan, pass 2 of 3: per (b, n, d), walk the chunk summaries from the initial state,
//   h ← exp(A[d, n] S[b, c, d]) h + bsum[b, c, n, d],
// writing the state entering each chunk to hstart and the final state to state. bsum, dsum and hstart are
// regions of one scratch buffer, all bound read_write (a buffer may not be both read-only and writable in a
// dispatch).

#include "grid.wgsl"
#include "half_params.wgsl"

override WG: u32 = 256u;
override P16: bool = false; // A and D as f16 pairs (include/half_params.wgsl)
const PF: u32 = 8u; // chunk summaries loaded ahead of the dependent chain

struct Params {
  batch: u32,
  d: u32,
  n: u32,
  n_chunks: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<u32>; // (D, N) f32 bits or f16 pairs
@group(0) @binding(2) var<storage, read_write> bsum: array<f32>; // (batch, n_chunks, N, D)
@group(0) @binding(3) var<storage, read_write> dsum: array<f32>; // (batch, n_chunks, D)
@group(0) @binding(4) var<storage, read_write> hstart: array<f32>; // (batch, n_chunks, N, D)
@group(0) @binding(5) var<storage, read_write> state: array<f32>; // (batch, D, N)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_invocation(gid, nwg, WG);
  let nd = p.n * p.d;
  if (i >= p.batch * nd) {
    return;
  }
  let d = i % p.d;
  let n = (i / p.d) % p.n;
  let b = i / nd;
  let ai = d * p.n + n;
  let a = param_of(A[param_word(ai, P16)], ai, P16);
  let si = (b * p.d + d) * p.n + n;
  var h = state[si];
  for (var c0 = 0u; c0 < p.n_chunks; c0 += PF) {
    var ea: array<f32, PF>;
    var bb: array<f32, PF>;
    for (var k = 0u; k < PF; k++) {
      let c = min(c0 + k, p.n_chunks - 1u);
      ea[k] = exp(a * dsum[(b * p.n_chunks + c) * p.d + d]);
      bb[k] = bsum[(b * p.n_chunks + c) * nd + n * p.d + d];
    }
    for (var k = 0u; k < PF; k++) {
      let c = c0 + k;
      if (c < p.n_chunks) {
        hstart[(b * p.n_chunks + c) * nd + n * p.d + d] = h;
        h = fma(ea[k], h, bb[k]);
      }
    }
  }
  state[si] = h;
}
