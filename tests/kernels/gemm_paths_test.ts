/**
 * WebGPU's choice of GEMM path, which the op suite (tests/ops/) cannot steer through the Backend interface: both
 * tiles (128×64 and 128×128) forced through `gemmConfig.wideMinWorkgroups`, split-K against the plain GEMM
 * (`gemmConfig.splitMinWorkgroups`), and `splitK`'s choice itself. Results against the float64 reference.
 */
import assert from "node:assert/strict";
import { gemmConfig, splitK } from "../../kernels/linear.ts";
import type { WebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { assertClose } from "../_assert.ts";
import { f16Rounded, rand, sideBySide } from "../ops/data.ts";
import { linearRef } from "../ops/reference.ts";
import { gpuTest } from "./_gpu.ts";

/** linear from a view with bias and from a dense tensor without, for each setting of `knob` in `values`. */
async function eachSetting(
  be: WebGpuBackend,
  M: number,
  K: number,
  N: number,
  knob: "wideMinWorkgroups" | "splitMinWorkgroups",
  values: number[],
): Promise<void> {
  const x = rand(M * K, M + N), W = rand(N * K, K), bias = rand(N, N + 1);
  const Wq = be.f16Weights ? f16Rounded(W) : W;
  const w = be.uploadMatrix(W, N, K, "W"), b = be.upload(bias, [N], "bias");
  const xv = sideBySide(be, M, [x], "x.view", { left: 3, right: 5 }).views[0];
  const xt = be.upload(x, [M, K], "x");
  const saved = gemmConfig[knob];
  try {
    for (const v of values) {
      gemmConfig[knob] = v;
      const tag = `M=${M} K=${K} N=${N} ${knob}=${v}`;
      assertClose(await be.read(be.linear(xv, w, b)), linearRef(x, Wq, bias, M, N, K), `${tag} view, bias`, 1e-5, 1e-6);
      assertClose(await be.read(be.linear(xt, w)), linearRef(x, Wq, null, M, N, K), `${tag} dense`, 1e-5, 1e-6);
    }
  } finally {
    gemmConfig[knob] = saved;
  }
}

// GEMM shapes (M > 8) of the op suite, on both tiles: 128×64 (narrow, wideMin ∞) and 128×128 (wide, wideMin 0).
for (const [M, K, N] of [[9, 17, 65], [67, 45, 131], [130, 100, 66], [261, 133, 259], [300, 256, 320]]) {
  gpuTest(
    `linear M=${M} K=${K} N=${N} on both GEMM tiles`,
    (be) => eachSetting(be, M, K, N, "wideMinWorkgroups", [Infinity, 0]),
  );
}

// A [300, 20] matrix in 6 parts and x / y bound a few rows at a time, on both tiles.
for (const M of [3, 70, 200]) {
  gpuTest(
    `linear M=${M} K=20 N=300 split under 4 KiB bindings, on both GEMM tiles`,
    (be) => eachSetting(be, M, 20, 300, "wideMinWorkgroups", [Infinity, 0]),
    { maxBindingSize: 4096 },
  );
}

// Split-K shapes: the split result and the plain GEMM's (splitMin 0: never split) both match the reference.
for (const [M, K, N] of [[70, 1536, 80], [130, 1000, 37], [9, 520, 768]]) {
  for (const f16Weights of [false, true]) {
    gpuTest(`split-K linear M=${M} K=${K} N=${N} split and unsplit${f16Weights ? " (f16 weights)" : ""}`, (be) => {
      assert.ok(splitK(M, N, K).splits > 1, `expected a split for ${M}×${N}×${K}`);
      return eachSetting(be, M, K, N, "splitMinWorkgroups", [gemmConfig.splitMinWorkgroups, 0]);
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
