// Mamba-2 decode step after in_proj, one workgroup per (b, h): conv1d + SiLU of the token's x, B and C channels
// (reading the conv state; conv_state.wgsl updates it afterwards), then per head channel p, as ssd_step.wgsl,
//   Δ = clamp(softplus(dt + dt_bias[h])),  s[n] ← exp(Δ A[h]) s[n] + Δ B[n] x,  y = Σ_n C[n] s[n] + D[h] x,
// and the gate of the gated RMSNorm, g = y · SiLU(z) (its RMS and weight are fused_gemv's prologue). The group's
// B and C (conv outputs shared by its heads) are staged in workgroup memory. States keep the unfused layouts:
// conv (batch, D + 2GN, K−1), ssm (batch, H, P, N).

#include "grid.wgsl"
#include "softplus.wgsl"
#include "half_params.wgsl"

override WG: u32 = 64u;
override P16: bool = false; // conv1d weight / bias, A and D as f16 pairs (include/half_params.wgsl)

const MAX_N: u32 = 256u;

struct Params {
  batch: u32,
  heads: u32,
  head_dim: u32,
  groups: u32,
  n: u32,
  k: u32, // conv width K
  zx_stride: u32, // in_proj output: z [0, D), x [D, 2D), B [2D, 2D + GN), C [2D + GN, 2D + 2GN), dt after
  dt_min: f32,
  dt_max: f32,
  has_bias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> zx: array<f32>; // (batch, zx_stride)
@group(0) @binding(2) var<storage, read> conv_w: array<u32>; // (D + 2GN, K) f32 bits or f16 pairs
@group(0) @binding(3) var<storage, read> conv_b: array<u32>; // (D + 2GN) f32 bits or f16 pairs, or a dummy
@group(0) @binding(4) var<storage, read> conv_state: array<f32>; // (batch, D + 2GN, K−1)
@group(0) @binding(5) var<storage, read> dt_bias: array<f32>; // (H)
@group(0) @binding(6) var<storage, read> A: array<u32>; // (H) f32 bits or f16 pairs
@group(0) @binding(7) var<storage, read> Dv: array<u32>; // (H) f32 bits or f16 pairs
@group(0) @binding(8) var<storage, read_write> state: array<f32>; // (batch, H, P, N)
@group(0) @binding(9) var<storage, read_write> g: array<f32>; // (batch, D)

var<workgroup> sb: array<f32, MAX_N>;
var<workgroup> sc: array<f32, MAX_N>;

// SiLU(conv1d) of conv channel c (of D + 2GN) of sequence b, for one token (conv1d.wgsl with L = 1).
fn conv(b: u32, c: u32, channels: u32, d: u32) -> f32 {
  let km1 = p.k - 1u;
  var acc = 0.0;
  if (p.has_bias != 0u) {
    acc = param_of(conv_b[param_word(c, P16)], c, P16);
  }
  for (var j = 0u; j < km1; j++) {
    let wi = c * p.k + j;
    acc = fma(param_of(conv_w[param_word(wi, P16)], wi, P16), conv_state[(b * channels + c) * km1 + j], acc);
  }
  let wl = c * p.k + km1;
  acc = fma(param_of(conv_w[param_word(wl, P16)], wl, P16), zx[b * p.zx_stride + d + c], acc);
  return acc / (1.0 + exp(-acc));
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let id = flat_workgroup(wid, nwg);
  let live = id < p.batch * p.heads; // a whole workgroup is live or not: barriers stay uniform
  let idc = min(id, p.batch * p.heads - 1u);
  let b = idc / p.heads;
  let h = idc % p.heads;
  let d = p.heads * p.head_dim;
  let gn = p.groups * p.n;
  let channels = d + 2u * gn;
  let grp = h / (p.heads / p.groups);
  for (var n = lid; n < p.n; n += WG) {
    sb[n] = conv(b, d + grp * p.n + n, channels, d);
    sc[n] = conv(b, d + gn + grp * p.n + n, channels, d);
  }
  workgroupBarrier();
  if (!live) {
    return;
  }
  let dtv = clamp(softplus(zx[b * p.zx_stride + 2u * d + 2u * gn + h] + dt_bias[h]), p.dt_min, p.dt_max);
  let da = exp(dtv * param_of(A[param_word(h, P16)], h, P16));
  let dv = param_of(Dv[param_word(h, P16)], h, P16);
  for (var pp = lid; pp < p.head_dim; pp += WG) {
    let c = h * p.head_dim + pp;
    let xv = conv(b, c, channels, d);
    let base = ((b * p.heads + h) * p.head_dim + pp) * p.n;
    var acc = 0.0;
    for (var n = 0u; n < p.n; n++) {
      let s = fma(da, state[base + n], dtv * sb[n] * xv);
      state[base + n] = s;
      acc = fma(sc[n], s, acc);
    }
    let zv = zx[b * p.zx_stride + c];
    g[b * d + c] = (acc + dv * xv) * zv / (1.0 + exp(-zv));
  }
}
