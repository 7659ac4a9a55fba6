// Tiled GEMM path of linear over a block-quantized weight (prefill, m > 8 rows): y[m, n] = Σ_k x[m, k] · w[n, k]
// (+ bias[n]), w = d · q (storage: include/quant_blocks.wgsl). A workgroup of 16×16 threads computes a 64×64
// output tile, 4×4 per thread (rows 4ty + i, columns 4tx + j). k is walked one block (32) at a time: the x tile
// [32][64] and the weight tile, dequantized once per workgroup (each code word read by one thread, scaled by its
// block's f16 scale: exact in f32), are staged in workgroup memory (16 KiB), then every thread does 32 rank-1
// updates of its 4×4 accumulators. The products are those of the f32 GEMM on the dequantized weights.

#include "grid.wgsl"
#include "quant_blocks.wgsl"

override Q4: bool = false; // Q4_0 blocks, else Q8_0

const TILE: u32 = 64u; // output rows and columns per workgroup

struct Params {
  m: u32, // rows of x and y
  n: u32, // rows of this weight part (output columns written)
  k: u32, // a multiple of 32
  x_stride: u32,
  x_base: u32,
  y_stride: u32,
  y_base: u32,
  has_bias: u32,
  bias_base: u32,
  scale_base: u32, // first word of the scales in w
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (m, x_stride)
@group(0) @binding(2) var<storage, read> w: array<u32>; // codes then scales of (n, k) weights
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (≥ bias_base + n), or a dummy
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (m, y_stride)

var<workgroup> xs: array<vec4<f32>, 512>; // [kk][16]: rows 4r .. 4r + 3 of x at k0 + kk
var<workgroup> ws: array<vec4<f32>, 512>; // [kk][16]: columns 4c .. 4c + 3 of w at k0 + kk

fn xs_set(kk: u32, row: u32, v: f32) {
  xs[kk * 16u + row / 4u][row % 4u] = v;
}

fn ws_set(kk: u32, col: u32, v: f32) {
  ws[kk * 16u + col / 4u][col % 4u] = v;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_index) t: u32, @builtin(local_invocation_id) lid: vec3u,
        @builtin(workgroup_id) wid: vec3u) {
  let n0 = wid.x * TILE;
  let m0 = wid.y * TILE;
  let nb = p.k / QBLOCK;
  let qw = qwords(Q4);
  var acc: array<vec4<f32>, 4>; // acc[i][j]: row 4ty + i, column 4tx + j
  for (var b = 0u; b < nb; b++) {
    // x tile: 64 rows × 32 k, 8 per thread, reading along k.
    for (var e = t; e < TILE * QBLOCK; e += 256u) {
      let row = e / QBLOCK;
      let kk = e % QBLOCK;
      var v = 0.0;
      if (m0 + row < p.m) {
        v = x[p.x_base + (m0 + row) * p.x_stride + b * QBLOCK + kk];
      }
      xs_set(kk, row, v);
    }
    // Weight tile: 64 columns × one block, one code word per thread (and a second for Q8_0).
    for (var e = t; e < TILE * qw; e += 256u) {
      let col = e / qw;
      let jw = e % qw;
      let nc = n0 + col;
      var d = 0.0;
      var word = 0u;
      if (nc < p.n) {
        let s = nc * nb + b;
        d = qscale(w[p.scale_base + s / 2u], s);
        word = w[s * qw + jw];
      }
      if (Q4) {
        let lo = d * q4_codes(word, 0u);
        let hi = d * q4_codes(word, 4u);
        for (var u = 0u; u < 4u; u++) {
          ws_set(4u * jw + u, col, lo[u]);
          ws_set(16u + 4u * jw + u, col, hi[u]);
        }
      } else {
        let v = d * q8_codes(word);
        for (var u = 0u; u < 4u; u++) {
          ws_set(4u * jw + u, col, v[u]);
        }
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < QBLOCK; kk++) {
      let a = xs[kk * 16u + lid.y];
      let c = ws[kk * 16u + lid.x];
      acc[0] = fma(vec4<f32>(a.x), c, acc[0]);
      acc[1] = fma(vec4<f32>(a.y), c, acc[1]);
      acc[2] = fma(vec4<f32>(a.z), c, acc[2]);
      acc[3] = fma(vec4<f32>(a.w), c, acc[3]);
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = m0 + 4u * lid.y + i;
    if (row >= p.m) {
      break;
    }
    for (var j = 0u; j < 4u; j++) {
      let col = n0 + 4u * lid.x + j;
      if (col < p.n) {
        var v = acc[i][j];
        if (p.has_bias != 0u) {
          v += bias[p.bias_base + col];
        }
        y[p.y_base + row * p.y_stride + col] = v;
      }
    }
  }
}
