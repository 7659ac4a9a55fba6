// Mamba-2 decode step after in_proj, one workgroup per (b, h, block of head channels): given SiLU(conv1d) of the
// token's x, B and C channels (xbc: in_proj's fused_gemv computed them in its epilogue and updated the conv state),
// per head channel p, as ssd_step.wgsl,
//   Δ = clamp(softplus(dt + dt_bias[h])),  s[n] ← exp(Δ A[h]) s[n] + Δ B[n] x,  y = Σ_n C[n] s[n] + D[h] x,
// and the gate of the gated RMSNorm, g = y · SiLU(z) (its RMS and weight are fused_gemv's prologue). The group's
// B and C (conv outputs shared by its heads) are staged in workgroup memory. The state keeps the unfused layout
// (batch, H, P, N).
//
// Work layout: a channel's N states are contiguous, so `tpp` threads (a power of two ≥ N / 4, from the host) share
// one channel p, thread q taking n = q, q + tpp, q + 2·tpp, q + 3·tpp — neighbouring threads read neighbouring
// words, and each thread loads its (up to) 4 states before using any, so the loads are in flight together; the
// dot product Σ_n C[n] s[n] is then a tree over the tpp threads. A workgroup holds WG / tpp = `ppw` channels of one
// head: the 130m shape (P 64, N 128) runs 8 workgroups per head instead of 1 (one thread per channel walking its
// 128 states in turn, 32 cache lines per warp load).

#include "grid.wgsl"
#include "softplus.wgsl"
#include "half_params.wgsl"
#include "segment_sum.wgsl"

override WG: u32 = 256u;
override P16: bool = false; // A and D as f16 pairs (include/half_params.wgsl)

const MAX_N: u32 = 256u;
const MAX_WG: u32 = 256u; // WG ≤ MAX_WG

struct Params {
  batch: u32,
  heads: u32,
  head_dim: u32,
  groups: u32,
  n: u32,
  zx_stride: u32, // in_proj output: z [0, D), x [D, 2D), B [2D, 2D + GN), C [2D + GN, 2D + 2GN), dt after
  dt_min: f32,
  dt_max: f32,
  tpp: u32, // threads per head channel: a power of two, tpp · 4 ≥ n, tpp ≤ WG
  ppw: u32, // head channels per workgroup: WG / tpp
  blocks: u32, // workgroups per (b, h): ⌈head_dim / ppw⌉
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> zx: array<f32>; // (batch, zx_stride): z and dt are read here
@group(0) @binding(2) var<storage, read> xbc: array<f32>; // (batch, D + 2GN): SiLU(conv1d) of x, B, C
@group(0) @binding(3) var<storage, read> dt_bias: array<f32>; // (H)
@group(0) @binding(4) var<storage, read> A: array<u32>; // (H) f32 bits or f16 pairs
@group(0) @binding(5) var<storage, read> Dv: array<u32>; // (H) f32 bits or f16 pairs
@group(0) @binding(6) var<storage, read_write> state: array<f32>; // (batch, H, P, N)
@group(0) @binding(7) var<storage, read_write> g: array<f32>; // (batch, D)

var<workgroup> sb: array<f32, MAX_N>;
var<workgroup> sc: array<f32, MAX_N>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let id = flat_workgroup(wid, nwg);
  let live = id < p.batch * p.heads * p.blocks; // a whole workgroup is live or not: barriers stay uniform
  let idc = min(id, p.batch * p.heads * p.blocks - 1u);
  let bh = idc / p.blocks;
  let b = bh / p.heads;
  let h = bh % p.heads;
  let p0 = (idc % p.blocks) * p.ppw; // the block's first head channel
  let d = p.heads * p.head_dim;
  let gn = p.groups * p.n;
  let channels = d + 2u * gn;
  let grp = h / (p.heads / p.groups);
  for (var n = lid; n < p.n; n += WG) {
    sb[n] = xbc[b * channels + d + grp * p.n + n];
    sc[n] = xbc[b * channels + d + gn + grp * p.n + n];
  }
  workgroupBarrier();
  let dtv = clamp(softplus(zx[b * p.zx_stride + 2u * d + 2u * gn + h] + dt_bias[h]), p.dt_min, p.dt_max);
  let da = exp(dtv * param_of(A[param_word(h, P16)], h, P16));
  let pi = lid / p.tpp; // this thread's channel in the block
  let q = lid % p.tpp;
  let pp = p0 + pi;
  let mine = live && pi < p.ppw && pp < p.head_dim;
  var acc = 0.0;
  if (mine) {
    let xv = xbc[b * channels + h * p.head_dim + pp];
    let base = ((b * p.heads + h) * p.head_dim + pp) * p.n;
    var sv: array<f32, 4>;
    for (var i = 0u; i < 4u; i++) {
      let n = q + i * p.tpp;
      if (n < p.n) {
        sv[i] = state[base + n];
      }
    }
    for (var i = 0u; i < 4u; i++) {
      let n = q + i * p.tpp;
      if (n < p.n) {
        let s = fma(da, sv[i], dtv * sb[n] * xv);
        state[base + n] = s;
        acc = fma(sc[n], s, acc);
      }
    }
  }
  let sum = segment_sum(lid, p.tpp, acc); // C·s over the channel's threads, in its thread q = 0
  if (mine && q == 0u) {
    let c = h * p.head_dim + pp;
    let zv = zx[b * p.zx_stride + c];
    let dv = param_of(Dv[param_word(h, P16)], h, P16);
    g[b * d + c] = (sum + dv * xbc[b * channels + c]) * zv / (1.0 + exp(-zv));
  }
}
