// Causal depthwise conv1d + bias + SiLU over a batch of sequences, reading the K−1 inputs before t = 0 from the
// conv state. One thread per output element; the state is updated afterwards by conv_state.wgsl.
//   y[b, t, c] = SiLU(bias[c] + Σ_k w[c, k] · in(b, t − (K−1) + k, c)),
//   in(b, τ, c) = x[b·L + τ, c] for τ ≥ 0, state[b, c, K−1+τ] for τ < 0.

#include "grid.wgsl"
#include "half_params.wgsl"

override WG: u32 = 256u;
override P16: bool = false; // w and bias as f16 pairs (include/half_params.wgsl)

struct Params {
  batch: u32,
  seq_len: u32, // L
  channels: u32, // C
  k: u32, // K (kernel width, ≥ 1)
  x_stride: u32, // row stride of x's tensor
  x_col: u32, // first column of the x view
  has_bias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (batch·L, x_stride), columns [x_col, x_col + C)
@group(0) @binding(2) var<storage, read> w: array<u32>; // (C, K) f32 bits or f16 pairs
@group(0) @binding(3) var<storage, read> bias: array<u32>; // (C) f32 bits or f16 pairs, or a dummy when has_bias = 0
@group(0) @binding(4) var<storage, read> state: array<f32>; // (batch, C, K−1)
@group(0) @binding(5) var<storage, read_write> y: array<f32>; // (batch·L, C)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_invocation(gid, nwg, WG);
  let C = p.channels;
  if (i >= p.batch * p.seq_len * C) {
    return;
  }
  let row = i / C;
  let c = i % C;
  let b = row / p.seq_len;
  let t = i32(row % p.seq_len);
  let km1 = i32(p.k) - 1;
  var acc = 0.0;
  if (p.has_bias != 0u) {
    acc = param_of(bias[param_word(c, P16)], c, P16);
  }
  for (var k = 0; k <= km1; k++) {
    let tau = t - km1 + k;
    var v: f32;
    if (tau >= 0) {
      v = x[(b * p.seq_len + u32(tau)) * p.x_stride + p.x_col + c];
    } else {
      v = state[(b * C + c) * u32(km1) + u32(km1 + tau)];
    }
    let wi = c * p.k + u32(k);
    acc = fma(param_of(w[param_word(wi, P16)], wi, P16), v, acc);
  }
  y[i] = acc / (1.0 + exp(-acc));
}
