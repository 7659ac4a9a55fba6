// Tiled GEMM for prefill: y[m, n] = Σ_k x[m, k] · w[n, k] (+ bias[n]), i.e. x · wᵀ with w in PyTorch
// [out, in] layout. A workgroup of 16×16 threads computes a 64×64 output tile, 4×4 outputs per thread (rows
// ly + 16·i, columns lx + 16·j), walking k in tiles of 16 staged in workgroup memory. x and y may be views
// (row strides and element offsets in Params); w is one row-part [n_part, K] of a possibly split matrix.

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

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
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (m, x_stride)
@group(0) @binding(2) var<storage, read> w: array<f32>; // (n, k)
@group(0) @binding(3) var<storage, read> bias: array<f32>; // (≥ bias_base + n), or a dummy
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (m, y_stride)

var<workgroup> xs: array<f32, 1024>; // (TK, TM)
var<workgroup> ws: array<f32, 1024>; // (TK, TN)

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let m0 = wid.y * TM;
  let n0 = wid.x * TN;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < p.k; k0 += TK) {
    for (var r = 0u; r < 4u; r++) {
      let e = tid + r * 256u;
      let row = e / TK;
      let kk = e % TK;
      let gk = k0 + kk;
      var xv = 0.0;
      if (m0 + row < p.m && gk < p.k) {
        xv = x[p.x_base + (m0 + row) * p.x_stride + gk];
      }
      xs[kk * TM + row] = xv;
      var wv = 0.0;
      if (n0 + row < p.n && gk < p.k) {
        wv = w[(n0 + row) * p.k + gk];
      }
      ws[kk * TN + row] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = xs[kk * TM + lid.y + 16u * i];
        b[i] = ws[kk * TN + lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x + 16u * j;
      if (m < p.m && n < p.n) {
        var v = acc[i][j];
        if (p.has_bias != 0u) {
          v += bias[p.bias_base + n];
        }
        y[p.y_base + m * p.y_stride + n] = v;
      }
    }
  }
}
