/**
 * Quick GPU timings of the shapes that matter for a 130m model (not a test; `deno run -A tests/kernels/_bench.ts`).
 * Prints GPU time per op from timestamp queries when available.
 */
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { rand } from "./_gpu.ts";

const be = await createWebGpuBackend({ timestamps: true });
console.log(be.description, "maxBinding", be.maxBindingSize, "timestamps", be.timestamps);
const reps = 5;
async function time(label: string, flops: number, f: () => void) {
  f();
  await be.sync();
  await be.gpuTimings();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) {
    be.setScope(label);
    f();
  }
  be.setScope(null);
  await be.sync();
  const wall = (performance.now() - t0) / reps;
  const t = await be.gpuTimings();
  const gpu = t.reduce((s, e) => s + e.ms, 0) / reps;
  console.log(
    `${label}: gpu ${gpu.toFixed(3)} ms, wall ${wall.toFixed(3)} ms, ${(flops / gpu / 1e6).toFixed(0)} GFLOP/s`,
  );
}
const T = Number(Deno.args[0] ?? 512);
for (const [n, k] of [[3072, 768], [768, 1536], [3352, 768]]) {
  const w = be.uploadMatrix(rand(n * k, 1), n, k, "w");
  const x = be.upload(rand(T * k, 2), [T, k], "x");
  await time(`gemm ${T}×${k}→${n}`, 2 * T * n * k, () => be.free(be.linear(x, w)));
  const x1 = be.upload(rand(k, 2), [1, k], "x1");
  await time(`gemv 1×${k}→${n}`, 2 * n * k, () => be.free(be.linear(x1, w)));
}
{
  const n = 50280, k = 768;
  const w = be.uploadMatrix(rand(n * k, 3), n, k, "lm_head");
  const x1 = be.upload(rand(k, 2), [1, k], "x1");
  await time(`lm_head gemv 1×${k}→${n}`, 2 * n * k, () => be.free(be.linear(x1, w)));
  const x = be.upload(rand(T * k, 2), [T, k], "x");
  await time(`lm_head gemm ${T}×${k}→${n}`, 2 * T * n * k, () => be.free(be.linear(x, w)));
}
{
  const D = 1536, N = 16;
  const u = be.upload(rand(T * D, 4), [T, D], "u"), dl = be.upload(rand(T * D, 5, -4, 0), [T, D], "dt");
  const bc = be.upload(rand(T * (48 + 2 * N), 6), [T, 48 + 2 * N], "xdbl");
  const A = be.upload(rand(D * N, 7).map((v) => -Math.exp(v)), [D, N], "A"), Dv = be.upload(rand(D, 8), [D], "D");
  const st = be.zeros([1, D, N], "st");
  const args = (L: number, uu = u) => ({
    u: { tensor: uu, col: 0, cols: D },
    delta: { tensor: dl, col: 0, cols: D },
    A,
    B: { tensor: bc, col: 48, cols: N },
    C: { tensor: bc, col: 48 + N, cols: N },
    D: Dv,
    z: { tensor: u, col: 0, cols: D },
    state: st,
    batch: 1,
    seqLen: L,
  });
  await time(`selectiveScan T=${T} D=${D} N=${N}`, 0, () => be.free(be.selectiveScan(args(T))));
}
{
  const H = 24, P = 64, N = 128, G = 1, HP = H * P;
  const xBC = be.upload(rand(T * (HP + 2 * G * N), 9), [T, HP + 2 * G * N], "xBC");
  const dt = be.upload(rand(T * H, 10, -4, 0), [T, H], "dt");
  const st = be.zeros([1, H, P, N], "st");
  const small = (t: import("../../runtime/backend.ts").Tensor) => t;
  const args = (L: number) => ({
    x: { tensor: small(xBC), col: 0, cols: HP },
    dt: { tensor: dt, col: 0, cols: H },
    dtBias: be.upload(rand(H, 11), [H], "b"),
    A: be.upload(rand(H, 12).map((v) => -Math.exp(v)), [H], "A"),
    B: { tensor: xBC, col: HP, cols: G * N },
    C: { tensor: xBC, col: HP + G * N, cols: G * N },
    D: be.upload(rand(H, 13), [H], "D"),
    state: st,
    batch: 1,
    seqLen: L,
    nHeads: H,
    headDim: P,
    nGroups: G,
    dState: N,
    chunkSize: 256,
    dtMin: 0,
    dtMax: Infinity,
  });
  await time(`ssd T=${T} H=${H} P=${P} N=${N} Q=256`, 0, () => be.free(be.ssd(args(T))));
}
be.dispose();
