// Fused decode GEMV (m ≤ 8 rows): y[m, j] = res[m, j] + Σ_k pro(m, k) · w[j, k] + bias[j], with a prologue pro
// applied to each input of x as the lanes read it (each weight, or code word, is loaded once and multiplied by every
// row's inputs, one accumulator per row: ROWS, as gemv.wgsl):
//   PRO = 0: x itself;
//   PRO = 1: RMS norm per group of `group` channels, times nw[k] (Mamba's RMSNorm with group = k; Mamba-2's gated
//            norm, whose gate y · SiLU(z) was applied by fused_ssd_step), each workgroup recomputing the row's
//            sums of squares alongside its dot products (see main).
// Epilogues (each output is stored by one lane — lane m of the feature for row m — which applies them):
//   RES:  adds epi (same placement as y): the residual add of out_proj;
//   CONV: the causal conv1d + SiLU of one decode token for the conv_d outputs from column conv_lo on (Mamba-1: the
//         x half of in_proj, conv_lo 0; Mamba-2: x, B and C, conv_lo D): for conv channel c = column − conv_lo,
//         xout[m, c] = SiLU(conv_b[c] + Σ_t epi[c, t] · tap_t), the taps being the conv state conv_st[m, c, 0..K−2]
//         then y[m, column] itself — so the conv is computed once per (row, channel), by the lane that stores y.
//         With conv_upd that lane also shifts the channel's state in place (drops tap 0, appends y): no other lane
//         reads it. Without (Mamba-1), fused_scan_step updates the state afterwards.
// Weights: f32 (Q = 0), f16 pairs (Q = 0, F16W), or Q8_0 / Q4_0 blocks (Q = 1 / 2; include/quant_blocks.wgsl,
// dequantized in registers as gemv_q.wgsl does: lanes stride over a row's code words, 4 or 8 weights each).
// A workgroup computes GEMV_FEATURES outputs with 64 lanes each, as gemv.wgsl.

#include "grid.wgsl"
#include "gemm_tile.wgsl"
#include "quant_blocks.wgsl"
#include "half_params.wgsl"

override F16W: bool = false;
override Q: u32 = 0u; // 0: f32 / f16 weights, 1: Q8_0 blocks, 2: Q4_0 blocks
override PRO: u32 = 0u;
override RES: bool = false;
override CONV: bool = false;
override P16: bool = false; // CONV: conv1d weight and bias as f16 pairs (include/half_params.wgsl)
override ROWS: u32 = 1u; // rows of x and y (= p.m, 1 ≤ ROWS ≤ GEMV_MAX_ROWS; gemv.wgsl)

const LANES: u32 = 64u;
const FEATS: u32 = GEMV_FEATURES;
const THREADS: u32 = 256u;

struct Params {
  m: u32, // rows of x and y (≤ 8; = ROWS)
  n: u32, // rows of this weight part
  k: u32,
  x_stride: u32,
  x_base: u32,
  y_stride: u32,
  y_base: u32, // this part's first output column (its first row of the whole matrix)
  has_bias: u32,
  bias_base: u32,
  group: u32, // PRO = 1: channels per norm group (k is a multiple; with Q, a multiple of 32)
  eps: f32,
  scale_base: u32, // Q: first word of the scales in w
  conv_k: u32, // CONV: K
  conv_d: u32, // CONV: conv channels (outputs conv_lo ≤ y_base + j < conv_lo + conv_d get the conv)
  has_conv_b: u32, // CONV: conv bias present
  conv_lo: u32, // CONV: the output column of conv channel 0
  conv_upd: u32, // CONV: 1 = shift this token into the conv state here
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (m, x_stride)
@group(0) @binding(2) var<storage, read> w: array<u32>; // (n, k) f32 bits, (n, ⌈k/2⌉) f16 pairs, or codes + scales
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (≥ bias_base + n), or a dummy
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (m, y_stride)
@group(0) @binding(5) var<storage, read> nw: array<f32>; // PRO 1: norm weight (k), or a dummy
@group(0) @binding(6) var<storage, read> conv_b: array<u32>; // CONV: conv bias (D) f32 bits or f16 pairs, or a dummy
@group(0) @binding(7) var<storage, read_write> conv_st: array<f32>; // CONV: conv state (m, conv_d, K−1), or a scratch
@group(0) @binding(8) var<storage, read_write> xout: array<f32>; // CONV: conv output (m, D), or a scratch
@group(0) @binding(9) var<storage, read> epi: array<u32>; // RES: the residual (f32 bits), indexed as y; CONV: conv weight (D, K), f32 bits or f16 pairs

var<workgroup> red: array<vec2<f32>, THREADS>; // (FEATS, LANES): partial (dot, sum of squares)

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

// Weight k of row j: f32 bits, or one half of an f16 pair (Q = 0).
fn weight(j: u32, k: u32) -> f32 {
  if (F16W) {
    let wv = unpack2x16float(w[j * ((p.k + 1u) / 2u) + k / 2u]);
    return select(wv.x, wv.y, (k & 1u) == 1u);
  }
  return bitcast<f32>(w[j * p.k + k]);
}

fn x4(at: u32) -> vec4<f32> {
  return vec4<f32>(x[at], x[at + 1u], x[at + 2u], x[at + 3u]);
}

fn nw4(k: u32) -> vec4<f32> {
  if (PRO == 1u) {
    return vec4<f32>(nw[k], nw[k + 1u], nw[k + 2u], nw[k + 3u]);
  }
  return vec4<f32>(1.0);
}

// (dot, sum of squares) of the inputs k0 .. k0 + 3 of a row (at xb + k0) against codes c, the prologue's weights
// nv (nw4(k0)): the prologue's inputs before the norm scale (x · nw with PRO 1) and their raw squares.
fn qpart(xb: u32, k0: u32, c: vec4<f32>, nv: vec4<f32>) -> vec2<f32> {
  let xr = x4(xb + k0);
  return vec2<f32>(dot(c, xr * nv), dot(xr, xr));
}

// Per row r < ROWS, the lane's (dot, sum of squares) over inputs [k_lo, k_hi) against weight row jc, into acc[r].
fn lane_sums(acc: ptr<function, array<vec2<f32>, GEMV_MAX_ROWS>>, jc: u32, k_lo: u32, k_hi: u32, lane: u32) {
  if (Q != 0u) {
    // Code words of the blocks [k_lo, k_hi) / 32 of row jc, one word (4 or 8 weights) per lane step.
    let q4 = Q == 2u;
    let qw = qwords(q4);
    let nb = p.k / QBLOCK;
    let wrow = jc * nb * qw;
    for (var i = k_lo / QBLOCK * qw + lane; i < k_hi / QBLOCK * qw; i += LANES) {
      let b = i / qw;
      let s = jc * nb + b;
      let d = qscale(w[p.scale_base + s / 2u], s);
      let word = w[wrow + i];
      let k0 = b * QBLOCK + (i % qw) * 4u;
      if (q4) {
        let lo = q4_codes(word, 0u);
        let hi = q4_codes(word, 4u);
        let n0 = nw4(k0);
        let n1 = nw4(k0 + 16u);
        for (var r = 0u; r < ROWS; r++) {
          let xb = p.x_base + r * p.x_stride;
          let part = qpart(xb, k0, lo, n0) + qpart(xb, k0 + 16u, hi, n1);
          (*acc)[r] = vec2<f32>(fma(d, part.x, (*acc)[r].x), (*acc)[r].y + part.y);
        }
      } else {
        let c = q8_codes(word);
        let n0 = nw4(k0);
        for (var r = 0u; r < ROWS; r++) {
          let part = qpart(p.x_base + r * p.x_stride, k0, c, n0);
          (*acc)[r] = vec2<f32>(fma(d, part.x, (*acc)[r].x), (*acc)[r].y + part.y);
        }
      }
    }
    return;
  }
  for (var k = k_lo + lane; k < k_hi; k += LANES) {
    let wk = weight(jc, k);
    if (PRO == 1u) {
      let nk = nw[k];
      for (var r = 0u; r < ROWS; r++) {
        let xv = x[p.x_base + r * p.x_stride + k];
        (*acc)[r] = vec2<f32>(fma(wk, xv * nk, (*acc)[r].x), fma(xv, xv, (*acc)[r].y));
      }
    } else {
      for (var r = 0u; r < ROWS; r++) {
        (*acc)[r].x = fma(wk, x[p.x_base + r * p.x_stride + k], (*acc)[r].x);
      }
    }
  }
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
  var v = 0.0; // lane m < ROWS: row m's output
  for (var g = 0u; g < groups; g++) {
    var acc: array<vec2<f32>, GEMV_MAX_ROWS>; // per row (only the first ROWS are used)
    for (var r = 0u; r < ROWS; r++) {
      acc[r] = vec2<f32>(0.0); // zeroed per group (a declaration in a loop may be hoisted, its zeroing with it)
    }
    lane_sums(&acc, jc, g * group, (g + 1u) * group, lane);
    // One tree per row, in turn (a workgroup array for all rows at once costs more than the barriers where
    // workgroup memory is zeroed per dispatch, as WebGPU requires); lane r keeps row r's output.
    for (var r = 0u; r < ROWS; r++) {
      red[t] = acc[r];
      for (var h = LANES / 2u; h > 0u; h >>= 1u) {
        workgroupBarrier();
        if (lane < h) {
          red[t] += red[t + h];
        }
      }
      workgroupBarrier();
      if (lane == r) {
        let s = red[f * LANES];
        if (PRO == 1u) {
          v = fma(s.x, 1.0 / sqrt(s.y / f32(group) + p.eps), v);
        } else {
          v += s.x;
        }
      }
      workgroupBarrier();
    }
  }
  // Lane m of each feature stores row m and applies the epilogues.
  let m = lane;
  if (m < ROWS && j < p.n) {
    if (p.has_bias != 0u) {
      v += bias[p.bias_base + j];
    }
    let yi = p.y_base + m * p.y_stride + j;
    if (RES) {
      v += bitcast<f32>(epi[yi]);
    }
    y[yi] = v;
    let col = p.y_base + j; // the output's column (row of the whole matrix)
    if (CONV && col >= p.conv_lo && col - p.conv_lo < p.conv_d) {
      let c = col - p.conv_lo; // its conv channel
      // conv1d.wgsl's sum for one token: bias, the K − 1 state taps, then this token's input v.
      let km1 = p.conv_k - 1u;
      var acc = 0.0;
      if (p.has_conv_b != 0u) {
        acc = param_of(conv_b[param_word(c, P16)], c, P16);
      }
      for (var tap = 0u; tap < km1; tap++) {
        let wi = c * p.conv_k + tap;
        acc = fma(param_of(epi[param_word(wi, P16)], wi, P16), conv_st[(m * p.conv_d + c) * km1 + tap], acc);
      }
      let wl = c * p.conv_k + km1;
      acc = fma(param_of(epi[param_word(wl, P16)], wl, P16), v, acc);
      xout[m * p.conv_d + c] = silu(acc);
      if (p.conv_upd != 0u && km1 > 0u) {
        let st = (m * p.conv_d + c) * km1;
        for (var tap = 0u; tap + 1u < km1; tap++) {
          conv_st[st + tap] = conv_st[st + tap + 1u];
        }
        conv_st[st + km1 - 1u] = v;
      }
    }
  }
}
