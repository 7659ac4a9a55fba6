// Fused decode GEMV (m ≤ 8 rows): y[m, j] = res[m, j] + Σ_k pro(m, k) · w[j, k] + bias[j], with a prologue pro
// applied to each x row as it is staged in workgroup memory, TILE inputs at a time:
//   PRO = 0: x itself;
//   PRO = 1: RMS norm per group of `group` channels, times aux[k] (Mamba's RMSNorm with group = k; Mamba-2's gated
//            norm, whose gate y · SiLU(z) was applied by fused_ssd_step), each workgroup recomputing the row's
//            sums of squares (k is d_model or d_inner: small);
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
const TILE: u32 = 1024u; // staged inputs per pass (even: f16 pairs never straddle two tiles)
const MAX_GROUPS: u32 = 64u;

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
  group: u32, // PRO = 1: channels per norm group (k is a multiple; k / group ≤ MAX_GROUPS)
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

var<workgroup> red: array<f32, THREADS>; // (FEATS, LANES); also the sums of squares
var<workgroup> tile: array<f32, TILE>;
var<workgroup> gscale: array<f32, MAX_GROUPS>;

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

// The sum of every thread's v (all threads call it; all get the total).
fn wg_sum(tid: u32, v: f32) -> f32 {
  workgroupBarrier();
  red[tid] = v;
  for (var h = THREADS / 2u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (tid < h) {
      red[tid] += red[tid + h];
    }
  }
  workgroupBarrier();
  let s = red[0];
  workgroupBarrier();
  return s;
}

// The prologue's value of input k of row m (as the unfused kernels compute it: conv1d.wgsl, rms_norm.wgsl).
fn staged(m: u32, k: u32) -> f32 {
  let xv = x[p.x_base + m * p.x_stride + k];
  if (PRO == 1u) {
    return xv * gscale[k / p.group] * aux[k];
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
  let words = (p.k + 1u) / 2u;
  for (var m = 0u; m < p.m; m++) {
    if (PRO == 1u) {
      // Each group's 1 / RMS, from the whole row (every workgroup recomputes it: k is small).
      let groups = p.k / p.group;
      for (var g = 0u; g < groups; g++) {
        var s = 0.0;
        for (var i = t; i < p.group; i += THREADS) {
          let v = x[p.x_base + m * p.x_stride + g * p.group + i];
          s = fma(v, v, s);
        }
        let tot = wg_sum(t, s);
        if (t == 0u) {
          gscale[g] = 1.0 / sqrt(tot / f32(p.group) + p.eps);
        }
      }
      workgroupBarrier();
    }
    var acc = 0.0;
    for (var k0 = 0u; k0 < p.k; k0 += TILE) {
      let cnt = min(TILE, p.k - k0);
      workgroupBarrier();
      for (var i = t; i < cnt; i += THREADS) {
        let v = staged(m, k0 + i);
        tile[i] = v;
        if (PRO == 2u && p.write_x != 0u && wg == 0u) {
          xout[m * p.k + k0 + i] = v;
        }
      }
      workgroupBarrier();
      if (F16W) {
        let w0 = k0 / 2u;
        for (var i = lane; 2u * i < cnt; i += LANES) {
          let wv = unpack2x16float(w[jc * words + w0 + i]);
          acc = fma(wv.x, tile[2u * i], acc);
          if (2u * i + 1u < cnt) {
            acc = fma(wv.y, tile[2u * i + 1u], acc);
          }
        }
      } else {
        for (var i = lane; i < cnt; i += LANES) {
          acc = fma(bitcast<f32>(w[jc * p.k + k0 + i]), tile[i], acc);
        }
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
    if (lane == 0u && j < p.n) {
      var v = red[t];
      if (p.has_bias != 0u) {
        v += bias[p.bias_base + j];
      }
      let yi = p.y_base + m * p.y_stride + j;
      if (RES) {
        v += res[yi];
      }
      y[yi] = v;
    }
    workgroupBarrier();
  }
}
