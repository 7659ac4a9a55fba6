// The register-tiled GEMM core of ssd_cb, ssd_state and ssd_out: a workgroup of 256 threads computes one
// SSD_TILE × SSD_TILE output tile, 4 × 4 outputs per thread (thread (tx, ty) = (tid % 16, tid / 16) owns rows
// 4ty .. 4ty + 3 and columns 4tx .. 4tx + 3), from SSD_TILE_K-deep k slices of both operands staged transposed in
// workgroup memory ([k][row], vec4 per 4 rows, padded rows against bank conflicts). The tile sizes are exported
// to TypeScript (kernels/generated/kernels.ts) for the dispatch grids.

const SSD_TILE: u32 = 64u; // output rows (and columns) per workgroup
const SSD_TILE_K: u32 = 16u; // k per staged slice
const BM: u32 = SSD_TILE;
const BK: u32 = SSD_TILE_K;
const RS: u32 = BM / 4u + 1u; // vec4 per staged row, + 1 of padding against bank conflicts on the transposed store

var<workgroup> As: array<vec4f, BK * RS>; // [k][row]: the left operand
var<workgroup> Bs: array<vec4f, BK * RS>; // [k][column]: the right operand

// Stage element (k, m) of the left (As) or right (Bs) operand.
fn stage_a(k: u32, m: u32, v: f32) {
  As[k * RS + m / 4u][m % 4u] = v;
}

fn stage_b(k: u32, m: u32, v: f32) {
  Bs[k * RS + m / 4u][m % 4u] = v;
}

// acc += the staged slice's product for thread (tx, ty): 4 × 4 outputs as 4 vec4 rows.
fn mac(acc: ptr<function, array<vec4f, 4>>, tx: u32, ty: u32) {
  for (var k = 0u; k < BK; k++) {
    let av = As[k * RS + ty];
    let bv = Bs[k * RS + tx];
    (*acc)[0] = fma(vec4f(av.x), bv, (*acc)[0]);
    (*acc)[1] = fma(vec4f(av.y), bv, (*acc)[1]);
    (*acc)[2] = fma(vec4f(av.z), bv, (*acc)[2]);
    (*acc)[3] = fma(vec4f(av.w), bv, (*acc)[3]);
  }
}
