// Mamba-2 recurrent SSD (decode): per (b, h, p), token by token,
//   Δ = clamp(softplus(dt + dt_bias[h])),  s[n] ← exp(Δ A[h]) s[n] + Δ B[n] x,  y = Σ_n C[n] s[n] + D[h] x,
// updating the state in place. One dispatch for the whole step.

#include "grid.wgsl"
#include "softplus.wgsl"
#include "half_params.wgsl"

override WG: u32 = 64u;
override P16: bool = false; // A and D as f16 pairs (include/half_params.wgsl)

struct Params {
  batch: u32,
  seq_len: u32,
  heads: u32,
  head_dim: u32,
  groups: u32,
  n: u32,
  x_stride: u32,
  x_col: u32,
  dt_stride: u32,
  dt_col: u32,
  b_stride: u32,
  b_col: u32,
  c_stride: u32,
  c_col: u32,
  dt_min: f32,
  dt_max: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (batch·L, x_stride)
@group(0) @binding(2) var<storage, read> dt: array<f32>; // (batch·L, dt_stride)
@group(0) @binding(3) var<storage, read> dt_bias: array<f32>; // (H)
@group(0) @binding(4) var<storage, read> A: array<u32>; // (H) f32 bits or f16 pairs
@group(0) @binding(5) var<storage, read> Bm: array<f32>; // (batch·L, b_stride)
@group(0) @binding(6) var<storage, read> Cm: array<f32>; // (batch·L, c_stride)
@group(0) @binding(7) var<storage, read> Dv: array<u32>; // (H) f32 bits or f16 pairs
@group(0) @binding(8) var<storage, read_write> state: array<f32>; // (batch, H, P, N)
@group(0) @binding(9) var<storage, read_write> y: array<f32>; // (batch·L, H·P)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_invocation(gid, nwg, WG);
  let hp = p.heads * p.head_dim;
  if (i >= p.batch * hp) {
    return;
  }
  let b = i / hp;
  let h = (i / p.head_dim) % p.heads;
  let pp = i % p.head_dim;
  let g = h / (p.heads / p.groups);
  let a = param_of(A[param_word(h, P16)], h, P16);
  let dv = param_of(Dv[param_word(h, P16)], h, P16);
  for (var t = 0u; t < p.seq_len; t++) {
    let row = b * p.seq_len + t;
    let dtv = clamp(softplus(dt[row * p.dt_stride + p.dt_col + h] + dt_bias[h]), p.dt_min, p.dt_max);
    let da = exp(dtv * a);
    let xv = x[row * p.x_stride + p.x_col + h * p.head_dim + pp];
    let b0 = row * p.b_stride + p.b_col + g * p.n;
    let c0 = row * p.c_stride + p.c_col + g * p.n;
    var acc = 0.0;
    for (var n = 0u; n < p.n; n++) {
      let si = i * p.n + n;
      let s = fma(da, state[si], dtv * Bm[b0 + n] * xv);
      state[si] = s;
      acc = fma(Cm[c0 + n], s, acc);
    }
    y[row * hp + h * p.head_dim + pp] = acc + dv * xv;
  }
}
