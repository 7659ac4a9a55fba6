// Mamba-1 chunked scan, pass 2 of 3: per (b, d, n), walk the chunk summaries (a, b) from the initial state,
// replacing each chunk's a by the state entering that chunk, and write the final state.

override WG: u32 = 256u;

struct Params {
  batch: u32,
  d: u32,
  n: u32,
  n_chunks: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>; // (2, batch, n_chunks, D, N): a → h_start, b
@group(0) @binding(2) var<storage, read_write> state: array<f32>; // (batch, D, N)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let dn = p.d * p.n;
  if (i >= p.batch * dn) {
    return;
  }
  let b = i / dn;
  let r = i % dn;
  let total = p.batch * p.n_chunks * dn;
  var h = state[i];
  for (var c = 0u; c < p.n_chunks; c++) {
    let idx = (b * p.n_chunks + c) * dn + r;
    let a = sums[idx];
    sums[idx] = h;
    h = fma(a, h, sums[total + idx]);
  }
  state[i] = h;
}
