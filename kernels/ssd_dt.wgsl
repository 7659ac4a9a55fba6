// Mamba-2 SSD step 0: per (b, h, chunk), Δ = clamp(softplus(dt + dt_bias), dt_min, dt_max) and its running sum
// A_cum[l] = Σ_{l' ≤ l} A[h] Δ_l' inside the chunk. Positions past the sequence end get Δ = 0 (A_cum carries on),
// so A_cum[Q − 1] is the chunk total.

override WG: u32 = 64u;

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
@group(0) @binding(3) var<storage, read> A: array<f32>; // (H)
@group(0) @binding(4) var<storage, read_write> dtc: array<f32>; // (batch, H, n_chunks, Q)
@group(0) @binding(5) var<storage, read_write> acs: array<f32>; // (batch, H, n_chunks, Q)

fn softplus(v: f32) -> f32 {
  if (v > 20.0) {
    return v;
  }
  let e = exp(v);
  if (e < 1e-3) {
    return e * (1.0 - e * (0.5 - e / 3.0));
  }
  return log(1.0 + e);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.batch * p.heads * p.n_chunks) {
    return;
  }
  let c = i % p.n_chunks;
  let h = (i / p.n_chunks) % p.heads;
  let b = i / (p.n_chunks * p.heads);
  let a = A[h];
  let bias = dt_bias[h];
  var s = 0.0;
  for (var l = 0u; l < p.chunk; l++) {
    let t = c * p.chunk + l;
    var v = 0.0;
    if (t < p.seq_len) {
      v = clamp(softplus(dt[(b * p.seq_len + t) * p.dt_stride + p.dt_col + h] + bias), p.dt_min, p.dt_max);
    }
    s += a * v;
    dtc[i * p.chunk + l] = v;
    acs[i * p.chunk + l] = s;
  }
}
