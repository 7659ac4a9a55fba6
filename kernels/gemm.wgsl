// Tiled GEMM for prefill: y[m, n] = Σ_k x[m, k] · w[n, k] (+ bias[n]), i.e. x · wᵀ with w in PyTorch
// [out, in] layout (both operands k-contiguous). x and y may be views (row strides and element offsets in
// Params); w is one row-part [n_part, K] of a possibly split matrix. m, n, k are arbitrary.
//
// A workgroup of 16×16 threads computes a 128×TN output tile (TN = 128 when WIDE, else 64): thread (tx, ty)
// holds rows {4ty + i, 64 + 4ty + i} (i < 4) × columns {4tx + j, 64 + 4tx + j} (j < 4; the second group only
// when WIDE) as vec4 accumulators, i.e. 8×8 (or 8×4) outputs. k is walked in tiles of TK = 8 staged transposed
// in workgroup memory, [TK][128] per operand, double-buffered (one barrier per k-tile: the next tile's global
// loads are issued before the FMAs of the current one and stored into the other buffer after them).
//
// Split-K: when the output has too few tiles to fill the GPU (x_proj's 80 columns, out_proj at short lengths),
// workgroup z reduces only k in [z·k_split, (z + 1)·k_split) and writes its partial tile to slab z of y (a scratch
// [splits, m, y_stride] bound by the backend, bias off); splitk_reduce.wgsl then sums the slabs and adds the bias.
// Without a split k_split ≥ k, z = 0 and split_stride is unused.
//
// Global loads: thread t reads k = k0 + t % 8 of rows t / 8 + 32·r, so a warp reads 4 rows × 32 contiguous
// bytes per instruction (full sectors, any alignment of x_stride / x_base / k). Workgroup layout: element
// (kk, row) lives in vec4 slot kk·32 + ((row / 4) ^ kk), lane row % 4. The XOR swizzle makes both the
// transposing scalar stores (8 kk × 4 rows per warp → 32 distinct banks) and the vec4 reads of the inner loop
// (16 distinct slots per warp, or broadcasts) free of bank conflicts without padding, so the two double
// buffers take exactly 16 KiB (WebGPU's default maxComputeWorkgroupStorageSize).

#include "gemm_tile.wgsl"

override WIDE: bool = true; // 128×128 tile (8×8 per thread); false: 128×64 (8×4 per thread)
// Weight storage: false = f32 bits in each u32; true = f16 pairs (element k of a row in half k % 2 of word
// k / 2, rows padded to an even length), unpacked with the core unpack2x16float (no shader-f16 needed).
override F16W: bool = false;

const TK: u32 = GEMM_TILE_K;
const SLOTS: u32 = 256u; // vec4 slots of one [TK][128] buffer

struct Params {
  m: u32, // rows of x and y
  n: u32, // rows of this weight part (output columns written)
  k: u32, // inner dimension
  x_stride: u32, // row stride of x
  x_base: u32, // element of x[0, 0] in the x binding
  y_stride: u32, // row stride of y
  y_base: u32, // element of y[0, 0] (this part's first column) in the y binding
  has_bias: u32,
  bias_base: u32, // element of bias[0] for this part
  k_split: u32, // k elements per workgroup z
  split_stride: u32, // elements between the partial results of consecutive z
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (m, x_stride)
@group(0) @binding(2) var<storage, read> w: array<u32>; // (n, k) f32 bits, or (n, ⌈k/2⌉) f16 pairs
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (≥ bias_base + n), or a dummy
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (m, y_stride)

var<workgroup> xs: array<vec4<f32>, 512>; // 2 buffers × (TK, 128 rows of x), swizzled
var<workgroup> ws: array<vec4<f32>, 512>; // 2 buffers × (TK, 128 rows of w), swizzled

// x[m0 + row, gk], 0 outside the matrix or past this workgroup's k range (ke).
fn load_x(row: u32, gk: u32, ke: u32) -> f32 {
  if (row < p.m && gk < ke) {
    return x[p.x_base + row * p.x_stride + gk];
  }
  return 0.0;
}

// w[row, gk], 0 outside the matrix or past ke.
fn load_w(row: u32, gk: u32, ke: u32) -> f32 {
  if (row < p.n && gk < ke) {
    if (F16W) {
      return unpack2x16float(w[row * ((p.k + 1u) / 2u) + gk / 2u])[gk % 2u];
    }
    return bitcast<f32>(w[row * p.k + gk]);
  }
  return 0.0;
}

// y[m, n .. n + 3] = v (+ bias), the columns that exist; slab z of a split-K scratch.
fn store4(m: u32, n: u32, v: vec4<f32>, z: u32) {
  if (m >= p.m) {
    return;
  }
  let row = p.y_base + z * p.split_stride + m * p.y_stride;
  for (var j = 0u; j < 4u; j++) {
    let c = n + j;
    if (c < p.n) {
      var o = v[j];
      if (p.has_bias != 0u) {
        o += bias[p.bias_base + c];
      }
      y[row + c] = o;
    }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3u) {
  let tn = select(GEMM_TILE_N_NARROW, GEMM_TILE_N_WIDE, WIDE);
  let m0 = wid.y * GEMM_TILE_M;
  let n0 = wid.x * tn;
  let tx = tid % 16u;
  let ty = tid / 16u;

  // This thread's share of a k-tile: column kk of rows lr + 32·r.
  let kk_ld = tid % TK;
  let lr = tid / TK; // 0 .. 31
  let st_base = kk_ld * 32u; // + ((row / 4) ^ kk) for row = lr + 32·r: (lr / 4 + 8·r) ^ kk
  let st_lane = lr % 4u;
  let st_slot = (lr / 4u) ^ kk_ld;

  var acc: array<vec4<f32>, 16>; // [row i of 8][column group of 2]
  var ra: vec4<f32>; // prefetched x values (rows lr + 32·r)
  var rb: vec4<f32>; // prefetched w values

  let kb = wid.z * p.k_split; // this workgroup's k range [kb, ke)
  let ke = min(p.k, kb + p.k_split);
  let ntiles = (ke - kb + TK - 1u) / TK;
  // Stage tile 0 into buffer 0.
  ra = vec4(
    load_x(m0 + lr, kb + kk_ld, ke),
    load_x(m0 + lr + 32u, kb + kk_ld, ke),
    load_x(m0 + lr + 64u, kb + kk_ld, ke),
    load_x(m0 + lr + 96u, kb + kk_ld, ke),
  );
  rb = vec4(load_w(n0 + lr, kb + kk_ld, ke), load_w(n0 + lr + 32u, kb + kk_ld, ke), 0.0, 0.0);
  if (WIDE) {
    rb.z = load_w(n0 + lr + 64u, kb + kk_ld, ke);
    rb.w = load_w(n0 + lr + 96u, kb + kk_ld, ke);
  }
  for (var r = 0u; r < 4u; r++) {
    xs[st_base + (st_slot ^ (8u * r))][st_lane] = ra[r];
    if (WIDE || r < 2u) {
      ws[st_base + (st_slot ^ (8u * r))][st_lane] = rb[r];
    }
  }
  workgroupBarrier();

  for (var t = 0u; t < ntiles; t++) {
    let cur = (t % 2u) * SLOTS;
    let more = t + 1u < ntiles;
    if (more) {
      let gk = kb + (t + 1u) * TK + kk_ld;
      ra = vec4(
        load_x(m0 + lr, gk, ke),
        load_x(m0 + lr + 32u, gk, ke),
        load_x(m0 + lr + 64u, gk, ke),
        load_x(m0 + lr + 96u, gk, ke),
      );
      rb.x = load_w(n0 + lr, gk, ke);
      rb.y = load_w(n0 + lr + 32u, gk, ke);
      if (WIDE) {
        rb.z = load_w(n0 + lr + 64u, gk, ke);
        rb.w = load_w(n0 + lr + 96u, gk, ke);
      }
    }
    for (var kk = 0u; kk < TK; kk++) {
      let o = cur + kk * 32u;
      let a0 = xs[o + (ty ^ kk)]; // rows 4ty .. 4ty + 3
      let a1 = xs[o + ((16u + ty) ^ kk)]; // rows 64 + 4ty ..
      let b0 = ws[o + (tx ^ kk)]; // columns 4tx .. 4tx + 3
      acc[0] = fma(vec4(a0.x), b0, acc[0]);
      acc[2] = fma(vec4(a0.y), b0, acc[2]);
      acc[4] = fma(vec4(a0.z), b0, acc[4]);
      acc[6] = fma(vec4(a0.w), b0, acc[6]);
      acc[8] = fma(vec4(a1.x), b0, acc[8]);
      acc[10] = fma(vec4(a1.y), b0, acc[10]);
      acc[12] = fma(vec4(a1.z), b0, acc[12]);
      acc[14] = fma(vec4(a1.w), b0, acc[14]);
      if (WIDE) {
        let b1 = ws[o + ((16u + tx) ^ kk)]; // columns 64 + 4tx ..
        acc[1] = fma(vec4(a0.x), b1, acc[1]);
        acc[3] = fma(vec4(a0.y), b1, acc[3]);
        acc[5] = fma(vec4(a0.z), b1, acc[5]);
        acc[7] = fma(vec4(a0.w), b1, acc[7]);
        acc[9] = fma(vec4(a1.x), b1, acc[9]);
        acc[11] = fma(vec4(a1.y), b1, acc[11]);
        acc[13] = fma(vec4(a1.z), b1, acc[13]);
        acc[15] = fma(vec4(a1.w), b1, acc[15]);
      }
    }
    if (more) {
      // The other buffer was last read in iteration t − 1, before that iteration's barrier.
      let nxt = SLOTS - cur + st_base;
      for (var r = 0u; r < 4u; r++) {
        xs[nxt + (st_slot ^ (8u * r))][st_lane] = ra[r];
        if (WIDE || r < 2u) {
          ws[nxt + (st_slot ^ (8u * r))][st_lane] = rb[r];
        }
      }
    }
    workgroupBarrier();
  }

  let ma = m0 + 4u * ty;
  let mb = ma + 64u;
  let na = n0 + 4u * tx;
  store4(ma, na, acc[0], wid.z);
  store4(ma + 1u, na, acc[2], wid.z);
  store4(ma + 2u, na, acc[4], wid.z);
  store4(ma + 3u, na, acc[6], wid.z);
  store4(mb, na, acc[8], wid.z);
  store4(mb + 1u, na, acc[10], wid.z);
  store4(mb + 2u, na, acc[12], wid.z);
  store4(mb + 3u, na, acc[14], wid.z);
  if (WIDE) {
    let nb = na + 64u;
    store4(ma, nb, acc[1], wid.z);
    store4(ma + 1u, nb, acc[3], wid.z);
    store4(ma + 2u, nb, acc[5], wid.z);
    store4(ma + 3u, nb, acc[7], wid.z);
    store4(mb, nb, acc[9], wid.z);
    store4(mb + 1u, nb, acc[11], wid.z);
    store4(mb + 2u, nb, acc[13], wid.z);
    store4(mb + 3u, nb, acc[15], wid.z);
  }
}
