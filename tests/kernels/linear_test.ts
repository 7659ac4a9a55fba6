import assert from "node:assert/strict";
import { view } from "../../runtime/backend.ts";
import { gemmConfig, splitK } from "../../kernels/linear.ts";
import { embedRef, linearRef } from "../wasm/reference.ts";
import { assertClose, gpuTest, rand, viewIn } from "./_gpu.ts";

// (M, N, K): M ≤ 8 takes the GEMV path, larger M the tiled GEMM; none is a multiple of the 128×128×8 tiles
// except 300×256·(320×256)ᵀ (k, strides and bases multiples of 4; several tiles in each dimension).
const SHAPES: [number, number, number][] = [
  [1, 37, 19],
  [5, 70, 33],
  [8, 3, 130],
  [9, 65, 17],
  [67, 131, 45],
  [130, 66, 100],
  [261, 259, 133],
  [300, 320, 256],
];

for (const [M, N, K] of SHAPES) {
  gpuTest(`linear ${M}×${K} · (${N}×${K})ᵀ`, async (be) => {
    const x = rand(M * K, M + N), W = rand(N * K, K), bias = rand(N, N + 1);
    const w = be.uploadMatrix(W, N, K, "w");
    const b = be.upload(bias, [N], "b");
    const withBias = linearRef(x, W, bias, M, N, K), without = linearRef(x, W, null, M, N, K);
    const saved = gemmConfig.wideMinWorkgroups;
    try {
      // Both GEMM tiles: 128×64 (narrow) and 128×128 (wide).
      for (const [tile, min] of [["128×64", Infinity], ["128×128", 0]] as const) {
        gemmConfig.wideMinWorkgroups = min;
        const { view: xv } = viewIn(be, x, M, K, 3, 5, "x");
        assertClose(await be.read(be.linear(xv, w, b)), withBias, `linear+bias (view) ${tile}`);
        const { view: xa } = viewIn(be, x, M, K, 4, 8, "x.aligned");
        assertClose(await be.read(be.linear(xa, w, b)), withBias, `linear+bias (aligned view) ${tile}`);
        const xt = be.upload(x, [M, K], "x.dense");
        assertClose(await be.read(be.linear(xt, w)), without, `linear ${tile}`);
        if (M <= 8) break; // GEMV: no tile
      }
    } finally {
      gemmConfig.wideMinWorkgroups = saved;
    }
  });
}

gpuTest("linear and embed with a matrix split over several buffers, rows split over bindings", async (be) => {
  // maxBindingSize 4 KiB: a [300, 20] matrix (24 000 B) becomes 6 parts of 51 rows; x [200, 20] and y [200, 300]
  // are bound a few rows at a time.
  const N = 300, K = 20;
  const W = rand(N * K, 5), bias = rand(N, 6);
  const w = be.uploadMatrix(W, N, K, "big");
  const b = be.upload(bias, [N], "big.bias");
  const saved = gemmConfig.wideMinWorkgroups;
  try {
    for (const min of [Infinity, 0]) {
      gemmConfig.wideMinWorkgroups = min; // 128×64, then 128×128 GEMM tiles
      for (const M of [3, 70, 200]) {
        const x = rand(M * K, M);
        const { view: xv } = M * (K + 4) * 4 <= 4096
          ? viewIn(be, x, M, K, 1, 3, "x")
          : { view: view(be.upload(x, [M, K], "x")) };
        assertClose(
          await be.read(be.linear(xv, w, b)),
          linearRef(x, W, bias, M, N, K),
          `split linear M=${M} wideMin=${min}`,
        );
      }
    }
  } finally {
    gemmConfig.wideMinWorkgroups = saved;
  }
  const ids = Int32Array.from([0, 299, 50, 51, 102, 250, 7, 153]);
  assertClose(await be.read(be.embed(ids, w)), embedRef(ids, W, K), "split embed", 0, 0);
}, { maxBindingSize: 4096 });

/** The values f16 storage keeps: each weight rounded to the nearest f16. */
function f16Rounded(w: Float32Array): Float32Array {
  return w.map((v) => Math.f16round(v));
}

// f16 weight storage: the kernels must compute exactly (to f32 summation order) with the f16-rounded weights,
// for odd k (rows padded to an even length), both paths (GEMV and GEMM tiles) and a split matrix.
for (const [M, N, K] of [[3, 37, 19], [67, 131, 45], [300, 320, 256]] as const) {
  gpuTest(`f16 weights: linear ${M}×${K} · (${N}×${K})ᵀ uses the f16-rounded weights`, async (be) => {
    assert.equal(be.f16Weights, true);
    const x = rand(M * K, M + 7), W = rand(N * K, K + 7), bias = rand(N, N + 7);
    const before = be.memory().liveBytes;
    const w = be.uploadMatrix(W, N, K, "w16");
    const held = be.memory().liveBytes - before;
    assert.ok(held >= N * Math.ceil(K / 2) * 4 && held < N * Math.ceil(K / 2) * 4 + 16, `f16 matrix holds ${held} B`);
    const b = be.upload(bias, [N], "b");
    const { view: xv } = viewIn(be, x, M, K, 3, 5, "x");
    const got = await be.read(be.linear(xv, w, b));
    assertClose(got, linearRef(x, f16Rounded(W), bias, M, N, K), "f16 linear");
    // It is not the f32 product: the rounding is visible (so the test would catch f32 storage).
    const f32 = linearRef(x, W, bias, M, N, K);
    assert.ok(got.some((v, i) => Math.abs(v - f32[i]) > 1e-6), "f16 result differs from the f32 product");
  }, { f16Weights: true });
}

gpuTest("f16 weights: embed and linear over a split matrix", async (be) => {
  const N = 300, K = 21; // odd k: rows padded to 22 halves (44 B); 4 KiB bindings hold 93 rows
  const W = rand(N * K, 11);
  const w = be.uploadMatrix(W, N, K, "big16");
  const ids = Int32Array.from([0, 299, 92, 93, 186, 250, 7, 153]);
  assertClose(await be.read(be.embed(ids, w)), embedRef(ids, f16Rounded(W), K), "split f16 embed", 0, 0);
  for (const M of [2, 140]) {
    const x = rand(M * K, M);
    const got = await be.read(be.linear(be.upload(x, [M, K], "x"), w));
    assertClose(got, linearRef(x, f16Rounded(W), null, M, N, K), `split f16 linear M=${M}`);
  }
}, { f16Weights: true, maxBindingSize: 4096 });

// Split-K: outputs with few tiles and a long k (Mamba-1's x_proj: 80 outputs; out_proj at short lengths) sum
// partial products of k ranges; with and without bias, from a view, f32 and f16 weights, and with splitting off.
for (const [M, N, K] of [[70, 80, 1536], [130, 37, 1000], [9, 768, 520]] as const) {
  for (const f16Weights of [false, true]) {
    gpuTest(`split-K linear ${M}×${K} · (${N}×${K})ᵀ${f16Weights ? " (f16 weights)" : ""}`, async (be) => {
      const split = splitK(M, N, K);
      assert.ok(split.splits > 1, `expected a split for ${M}×${N}×${K}`);
      const x = rand(M * K, M + 3), W = rand(N * K, K + 3), bias = rand(N, N + 3);
      const Wq = f16Weights ? f16Rounded(W) : W;
      const w = be.uploadMatrix(W, N, K, "w");
      const b = be.upload(bias, [N], "b");
      const { view: xv } = viewIn(be, x, M, K, 2, 7, "x");
      const saved = gemmConfig.splitMinWorkgroups;
      try {
        assertClose(await be.read(be.linear(xv, w, b)), linearRef(x, Wq, bias, M, N, K), "split-K with bias");
        assertClose(await be.read(be.linear(xv, w)), linearRef(x, Wq, null, M, N, K), "split-K without bias");
        gemmConfig.splitMinWorkgroups = 0; // never split: the same result from the plain GEMM
        assertClose(await be.read(be.linear(xv, w, b)), linearRef(x, Wq, bias, M, N, K), "unsplit");
      } finally {
        gemmConfig.splitMinWorkgroups = saved;
      }
    }, { f16Weights });
  }
}

Deno.test("splitK: no split for GEMV rows, well-filled grids or short k; whole k-tiles covering k", () => {
  assert.deepEqual(splitK(8, 80, 1536), { splits: 1, kSplit: 1536 });
  assert.deepEqual(splitK(2048, 3072, 768), { splits: 1, kSplit: 768 });
  assert.deepEqual(splitK(70, 80, 200), { splits: 1, kSplit: 200 });
  for (const [m, n, k] of [[70, 80, 1536], [64, 768, 1536], [130, 37, 1000], [2048, 80, 1536]]) {
    const s = splitK(m, n, k);
    assert.ok(s.splits >= 2 && s.splits <= 16 && s.kSplit % 8 === 0, JSON.stringify(s));
    assert.ok((s.splits - 1) * s.kSplit < k && s.splits * s.kSplit >= k, `covers k: ${JSON.stringify(s)}`);
  }
});
