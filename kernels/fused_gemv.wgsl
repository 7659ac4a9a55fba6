// Fused decode GEMV (m ≤ 8 rows): y[m, j] = res[m, j] + Σ_k pro(m, k) · w[j, k] + bias[j], with a prologue pro
// applied to each input of x as the lanes read it:
//   PRO = 0: x itself;
//   PRO = 1: RMS norm per group of `group` channels, times aux[k] (Mamba's RMSNorm with group = k; Mamba-2's gated
//            norm, whose gate y · SiLU(z) was applied by fused_ssd_step), each workgroup recomputing the row's
//            sums of squares alongside its dot products (see main);
//   PRO = 2: Mamba-1's causal conv1d + SiLU of one decode token, in(k) = SiLU(aux2[k] + Σ_j aux[k, j] · tap_j),
//            the taps being the conv state st[m, k, 0..K−2] then x[m, k]; workgroup 0 also writes the result to
//            xout (the scan's input). The state is read only: fused_scan_step updates it afterwards.
// RES adds res (same placement as y) in the epilogue: the residual add of out_proj.
// A workgroup computes GEMV_FEATURES outputs with 64 lanes each, as gemv.wgsl; F16W as there.

#include "grid.wgsl"
#include "gemm_tile.wgsl"

override F16W: bool = false;
override PRO: u32 = 0u;
override RES: bool = false;

const LANES: u32 = 64u;
const FEATS: u32 = GEMV_FEATURES;
const THREADS: u32 = 256u;

struct Params {
  m: u32, // rows of x and y (≤ 8)
  n: u32, // rows of this weight part
  k: u32,
  x_stride: u32,
  x_base: u32,
  y_stride: u32,
  y_base: u32,
  has_bias: u32,
  bias_base: u32,
  group: u32, // PRO = 1: channels per norm group (k is a multiple)
  eps: f32,
  conv_k: u32, // PRO = 2: K
  has_aux2: u32, // PRO = 2: conv bias present
  write_x: u32, // PRO = 2: workgroup 0 writes the conv output to xout (m, k)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (m, x_stride)
@group(0) @binding(2) var<storage, read> w: array<u32>; // (n, k) f32 bits, or (n, ⌈k/2⌉) f16 pairs
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (≥ bias_base + n), or a dummy
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (m, y_stride)
@group(0) @binding(5) var<storage, read> aux: array<f32>; // PRO 1: norm weight (k); PRO 2: conv weight (k, K)
@group(0) @binding(6) var<storage, read> aux2: array<f32>; // PRO 2: conv bias (k), or a dummy
@group(0) @binding(7) var<storage, read> st: array<f32>; // PRO 2: conv state (m, k, K−1), or a dummy
@group(0) @binding(8) var<storage, read_write> xout: array<f32>; // PRO 2: (m, k), or a scratch
@group(0) @binding(9) var<storage, read> res: array<f32>; // RES: indexed as y, or a dummy

var<workgroup> red: array<vec2<f32>, THREADS>; // (FEATS, LANES): partial (dot, sum of squares)

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

// Weight k of row j: f32 bits, or one half of an f16 pair.
fn weight(j: u32, k: u32) -> f32 {
  if (F16W) {
    let wv = unpack2x16float(w[j * ((p.k + 1u) / 2u) + k / 2u]);
    return select(wv.x, wv.y, (k & 1u) == 1u);
  }
  return bitcast<f32>(w[j * p.k + k]);
}

// The prologue's input k of row m before any norm scale: x (PRO 0), x · aux[k] (PRO 1), SiLU(conv) (PRO 2, as
// conv1d.wgsl computes it).
fn staged(m: u32, k: u32) -> f32 {
  let xv = x[p.x_base + m * p.x_stride + k];
  if (PRO == 1u) {
    return xv * aux[k];
  }
  if (PRO == 2u) {
    let km1 = p.conv_k - 1u;
    var acc = 0.0;
    if (p.has_aux2 != 0u) {
      acc = aux2[k];
    }
    for (var j = 0u; j < km1; j++) {
      acc = fma(aux[k * p.conv_k + j], st[(m * p.k + k) * km1 + j], acc);
    }
    acc = fma(aux[k * p.conv_k + km1], xv, acc);
    return silu(acc);
  }
  return xv;
}

@compute @workgroup_size(THREADS)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let t = lid.x;
  let f = t / LANES;
  let lane = t % LANES;
  let wg = flat_workgroup(wid, nwg);
  let j = wg * FEATS + f;
  let jc = min(j, p.n - 1u); // rows past the end recompute the last one and do not store
  // The norm's scale of a group is the same for each of its inputs: Σ_k s_g x_k a_k w_jk = s_g Σ_k x_k a_k w_jk. So
  // each lane accumulates, per group, the dot product and the sum of squares of the inputs it reads anyway, the two
  // are reduced together, and the group's 1 / RMS scales its dot at the end: no extra pass, load or barrier over a
  // plain GEMV with one group (every workgroup, every row of it, recomputes the sum of squares: k is small).
  let group = select(p.k, p.group, PRO == 1u);
  let groups = p.k / group;
  let keep = PRO == 2u && p.write_x != 0u && wg == 0u && f == 0u;
  for (var m = 0u; m < p.m; m++) {
    var v = 0.0;
    for (var g = 0u; g < groups; g++) {
      var acc = vec2<f32>(0.0, 0.0);
      for (var k = g * group + lane; k < (g + 1u) * group; k += LANES) {
        let a = staged(m, k);
        acc.x = fma(weight(jc, k), a, acc.x);
        if (PRO == 1u) {
          let xv = x[p.x_base + m * p.x_stride + k];
          acc.y = fma(xv, xv, acc.y);
        }
        if (keep) {
          xout[m * p.k + k] = a;
        }
      }
      red[t] = acc;
      for (var h = LANES / 2u; h > 0u; h >>= 1u) {
        workgroupBarrier();
        if (lane < h) {
          red[t] += red[t + h];
        }
      }
      workgroupBarrier();
      let r = red[t];
      if (PRO == 1u) {
        v = fma(r.x, 1.0 / sqrt(r.y / f32(group) + p.eps), v);
      } else {
        v += r.x;
      }
      workgroupBarrier();
    }
    if (lane == 0u && j < p.n) {
      if (p.has_bias != 0u) {
        v += bias[p.bias_base + j];
      }
      let yi = p.y_base + m * p.y_stride + j;
      if (RES) {
        v += res[yi];
      }
      y[yi] = v;
    }
  }
}
