// Mamba-1 decode step after x_proj (in_proj's fused_gemv wrote the conv output, x_proj's read it), per (b, d):
//   conv state[b, d, :] ← its last K−2 taps ++ x[b, d]   (conv_state.wgsl for one token)
//   Δ = softplus(dt_proj[d, :] · δ[b, :] + dt_bias[d])   (the dt_proj GEMV row; softplus as selective_scan_output)
//   h[n] ← exp(Δ A[d, n]) h[n] + Δ B[b, n] u,  y = (Σ_n C[b, n] h[n] + D[d] u) · SiLU(z[b, d])
// with u = xc[b, d] the conv output fused_gemv wrote, overwritten by y (each thread reads and writes only its own
// element). The states keep the layouts of the unfused kernels: conv (batch, D, K−1), ssm (batch, D, N).
//
// Work layout: `tpp` threads (a power of two ≥ N, at most 64, from the host) share a channel: thread 0 of the
// channel shifts the conv state and computes Δ (the dt_proj row, as one thread: f32, f16 and block formats alike),
// shared through workgroup memory; then thread q updates states n = q, q + tpp, … — neighbouring threads read
// neighbouring states of the channel's contiguous row — and Σ_n C[n] h[n] is a tree over the tpp threads. A
// workgroup holds WG / tpp = `cpw` channels: 96 workgroups for the 130m shape (N 16) at batch 1, where one thread
// per channel walking its 16 states gave 24.

#include "grid.wgsl"
#include "softplus.wgsl"
#include "quant_blocks.wgsl"
#include "half_params.wgsl"
#include "segment_sum.wgsl"

override WG: u32 = 256u;
override F16W: bool = false; // dt_proj stored as f16 pairs (rows padded to an even length)
override Q: u32 = 0u; // dt_proj as Q8_0 (1) or Q4_0 (2) blocks (include/quant_blocks.wgsl; R a multiple of 32)
override P16: bool = false; // A and D as f16 pairs (include/half_params.wgsl)

struct Params {
  batch: u32,
  d: u32, // D
  n: u32, // N
  r: u32, // dt_rank R
  k: u32, // conv width K
  xz_stride: u32, // in_proj output: x in columns [0, D), z in [D, 2D)
  xdbl_stride: u32, // x_proj output: δ [0, R), B [R, R + N), C [R + N, R + 2N)
  has_dt_bias: u32,
  scale_base: u32, // Q: first word of dt_proj's scales
  tpp: u32, // threads per channel: a power of two ≥ n (at most 64), tpp ≤ WG
  cpw: u32, // channels per workgroup: WG / tpp
}

const MAX_WG: u32 = 256u; // WG ≤ MAX_WG

var<workgroup> dls: array<f32, MAX_WG>; // Δ of the workgroup's channels

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xz: array<f32>; // (batch, xz_stride)
@group(0) @binding(2) var<storage, read_write> xc: array<f32>; // (batch, D): u in, y out
@group(0) @binding(3) var<storage, read> xdbl: array<f32>; // (batch, xdbl_stride)
@group(0) @binding(4) var<storage, read_write> conv_state: array<f32>; // (batch, D, K−1)
@group(0) @binding(5) var<storage, read> dtw: array<u32>; // (D, R) f32 bits, (D, ⌈R/2⌉) f16 pairs, or blocks
@group(0) @binding(6) var<storage, read> dtb: array<f32>; // (D)
@group(0) @binding(7) var<storage, read> A: array<u32>; // (D, N) f32 bits or f16 pairs
@group(0) @binding(8) var<storage, read> Dv: array<u32>; // (D) f32 bits or f16 pairs
@group(0) @binding(9) var<storage, read_write> hs: array<f32>; // (batch, D, N)

fn xd4(at: u32) -> vec4<f32> {
  return vec4<f32>(xdbl[at], xdbl[at + 1u], xdbl[at + 2u], xdbl[at + 3u]);
}

// Δ of channel d: softplus of the dt_proj row against δ (the x_proj output row starting at `row`) + dt_bias.
fn delta(d: u32, row: u32) -> f32 {
  var dtv = 0.0;
  if (Q != 0u) {
    // gemv_q.wgsl's dequantization, one row by one thread: code word by code word, d · (codes · δ) per word.
    let q4 = Q == 2u;
    let qw = qwords(q4);
    let nb = p.r / QBLOCK;
    for (var i = 0u; i < nb * qw; i++) {
      let b = i / qw;
      let s = d * nb + b;
      let k0 = row + b * QBLOCK + (i % qw) * 4u;
      let word = dtw[d * nb * qw + i];
      var part: f32;
      if (q4) {
        part = dot(q4_codes(word, 0u), xd4(k0)) + dot(q4_codes(word, 4u), xd4(k0 + 16u));
      } else {
        part = dot(q8_codes(word), xd4(k0));
      }
      dtv = fma(qscale(dtw[p.scale_base + s / 2u], s), part, dtv);
    }
  } else if (F16W) {
    let words = (p.r + 1u) / 2u;
    for (var w = 0u; w < words; w++) {
      let wv = unpack2x16float(dtw[d * words + w]);
      dtv = fma(wv.x, xdbl[row + 2u * w], dtv);
      if (2u * w + 1u < p.r) {
        dtv = fma(wv.y, xdbl[row + 2u * w + 1u], dtv);
      }
    }
  } else {
    for (var r = 0u; r < p.r; r++) {
      dtv = fma(bitcast<f32>(dtw[d * p.r + r]), xdbl[row + r], dtv);
    }
  }
  if (p.has_dt_bias != 0u) {
    dtv += dtb[d];
  }
  return softplus(dtv);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(num_workgroups) nwg: vec3u) {
  let ci = lid / p.tpp; // this thread's channel in the workgroup
  let q = lid % p.tpp;
  let i = flat_workgroup(wid, nwg) * p.cpw + ci; // flat (b, d)
  let live = ci < p.cpw && i < p.batch * p.d; // barriers below stay uniform: no early return
  let ic = min(i, p.batch * p.d - 1u);
  let b = ic / p.d;
  let d = ic % p.d;
  let row = b * p.xdbl_stride;
  if (live && q == 0u) {
    // The conv state: shift in this token's input (conv_state.wgsl with L = 1).
    let km1 = p.k - 1u;
    for (var j = 0u; j + 1u < km1; j++) {
      conv_state[ic * km1 + j] = conv_state[ic * km1 + j + 1u];
    }
    if (km1 > 0u) {
      conv_state[ic * km1 + km1 - 1u] = xz[b * p.xz_stride + d];
    }
    dls[ci] = delta(d, row);
  }
  workgroupBarrier();
  var acc = 0.0;
  if (live) {
    let dl = dls[ci];
    let du = dl * xc[ic];
    for (var n = q; n < p.n; n += p.tpp) {
      let si = ic * p.n + n;
      let ai = d * p.n + n;
      let h = fma(exp(dl * param_of(A[param_word(ai, P16)], ai, P16)), hs[si], du * xdbl[row + p.r + n]);
      hs[si] = h;
      acc = fma(xdbl[row + p.r + p.n + n], h, acc);
    }
  }
  let sum = segment_sum(lid, p.tpp, acc); // C·h over the channel's threads, in its thread q = 0
  if (live && q == 0u) {
    let zv = xz[b * p.xz_stride + p.d + d];
    xc[ic] = fma(param_of(Dv[param_word(d, P16)], d, P16), xc[ic], sum) * zv / (1.0 + exp(-zv));
  }
}
