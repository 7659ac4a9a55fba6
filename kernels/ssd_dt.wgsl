// Mamba-2 SSD step 0: per (b, h, chunk), Δ = clamp(softplus(dt + dt_bias), dt_min, dt_max) and its running sum
// A_cum[l] = Σ_{l' ≤ l} A[h] Δ_l' inside the chunk. Positions past the sequence end get Δ = 0 (A_cum carries on),
// so A_cum[Q − 1] is the chunk total.
//
// One workgroup per (b, h, chunk): thread i owns the contiguous run l ∈ [i·E, (i + 1)·E), E = ⌈Q / WG⌉, sums it,
// the run totals are scanned in workgroup memory (Hillis–Steele), then each thread writes its run.

#include "grid.wgsl"
#include "softplus.wgsl"
#include "half_params.wgsl"

const WG: u32 = 256u;
override P16: bool = false; // A as f16 pairs (include/half_params.wgsl)

struct Params {
  batch: u32,
  seq_len: u32,
  heads: u32,
  n_chunks: u32,
  chunk: u32, // Q
  dt_stride: u32,
  dt_col: u32,
  dt_min: f32,
  dt_max: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dt: array<f32>; // (batch·L, dt_stride), columns [dt_col, dt_col + H)
@group(0) @binding(2) var<storage, read> dt_bias: array<f32>; // (H)
@group(0) @binding(3) var<storage, read> A: array<u32>; // (H) f32 bits or f16 pairs
@group(0) @binding(4) var<storage, read_write> dtc: array<f32>; // (batch, H, n_chunks, Q)
@group(0) @binding(5) var<storage, read_write> acs: array<f32>; // (batch, H, n_chunks, Q)

var<workgroup> sums: array<f32, WG>;

fn delta(b: u32, h: u32, t: u32, bias: f32) -> f32 {
  if (t >= p.seq_len) {
    return 0.0;
  }
  return clamp(softplus(dt[(b * p.seq_len + t) * p.dt_stride + p.dt_col + h] + bias), p.dt_min, p.dt_max);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) tid: u32,
) {
  let i = flat_workgroup(wid, nwg);
  if (i >= p.batch * p.heads * p.n_chunks) {
    return;
  }
  let c = i % p.n_chunks;
  let h = (i / p.n_chunks) % p.heads;
  let b = i / (p.n_chunks * p.heads);
  let a = param_of(A[param_word(h, P16)], h, P16);
  let bias = dt_bias[h];
  let e = (p.chunk + WG - 1u) / WG;
  let l0 = min(tid * e, p.chunk);
  let l1 = min(l0 + e, p.chunk);
  var run = 0.0;
  for (var l = l0; l < l1; l++) {
    run += a * delta(b, h, c * p.chunk + l, bias);
  }
  sums[tid] = run;
  workgroupBarrier();
  for (var off = 1u; off < WG; off <<= 1u) {
    var v = sums[tid];
    if (tid >= off) {
      v += sums[tid - off];
    }
    workgroupBarrier();
    sums[tid] = v;
    workgroupBarrier();
  }
  var s = 0.0; // the runs before this thread
  if (tid > 0u) {
    s = sums[tid - 1u];
  }
  let base = i * p.chunk;
  for (var l = l0; l < l1; l++) {
    let v = delta(b, h, c * p.chunk + l, bias);
    s += a * v;
    dtc[base + l] = v;
    acs[base + l] = s;
  }
}
