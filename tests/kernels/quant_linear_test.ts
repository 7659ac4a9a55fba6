/**
 * WebGPU's block-quantized kernels (gemv_q, gemm_q, gather_q) against a float64 reference of the dequantized
 * weights (runtime/ggml_types.ts `dequantize`, the host oracle shared with the GGUF reader): linear on both paths
 * (GEMV m ≤ 8, GEMM m > 8: `gemm_q`, and the f32 GEMM over a dequantized copy from `dequantMinRows` rows on, each
 * forced in turn) from a view with bias and from a dense tensor, embed and embedFrom, with matrices split over 4 KiB
 * bindings (the dequantized copy then spans a few rows at a time), on an f16-weight backend (a quantized matrix keeps its blocks), and the bytes it keeps.
 */
import assert from "node:assert/strict";
import type { QuantFormat, QuantizedMatrixData } from "../../runtime/backend.ts";
import { dequantize, quantizeQ4_0, quantizeQ8_0 } from "../../runtime/ggml_types.ts";
import type { WebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { assertClose } from "../_assert.ts";
import { idBits, rand, sideBySide } from "../ops/data.ts";
import { embedRef, linearRef } from "../ops/reference.ts";
import { gpuTest } from "./_gpu.ts";
import { quantGemmConfig } from "../../kernels/linear_q.ts";

const FORMATS: QuantFormat[] = ["q8_0", "q4_0"];

/** Random [n, k] weights quantized to `format`, and their dequantized values (the reference's weights). */
function quantized(
  format: QuantFormat,
  n: number,
  k: number,
  seed: number,
): { q: QuantizedMatrixData; w: Float32Array } {
  const blocks = (format === "q8_0" ? quantizeQ8_0 : quantizeQ4_0)(rand(n * k, seed));
  return { q: { format, n, k, blocks }, w: dequantize(blocks, format === "q8_0" ? "Q8_0" : "Q4_0", n * k) };
}

async function checkLinear(be: WebGpuBackend, format: QuantFormat, M: number, K: number, N: number): Promise<void> {
  const { q, w: Wq } = quantized(format, N, K, K + N);
  const x = rand(M * K, M + N), bias = rand(N, N + 1);
  const w = be.uploadQuantizedMatrix(q, "W"), b = be.upload(bias, [N], "bias");
  const xv = sideBySide(be, M, [x], "x.view", { left: 3, right: 5 }).views[0];
  const xt = be.upload(x, [M, K], "x");
  const tag = `${format} M=${M} K=${K} N=${N}`;
  assertClose(await be.read(be.linear(xv, w, b)), linearRef(x, Wq, bias, M, N, K), `${tag} view, bias`, 1e-5, 1e-6);
  assertClose(await be.read(be.linear(xt, w)), linearRef(x, Wq, null, M, N, K), `${tag} dense`, 1e-5, 1e-6);
}

async function checkEmbed(be: WebGpuBackend, format: QuantFormat, V: number, d: number): Promise<void> {
  const { q, w: table } = quantized(format, V, d, V + d);
  const m = be.uploadQuantizedMatrix(q, "emb");
  const ids = [0, V - 1, 3 % V, V - 1, Math.floor(V / 2), 1 % V];
  const tag = `${format} V=${V} d=${d}`;
  assertClose(await be.read(be.embed(Int32Array.from(ids), m)), embedRef(ids, table, d), `${tag} embed`, 0, 0);
  const idt = be.upload(idBits([7, 7, ...ids]), [ids.length + 2], "ids");
  assertClose(await be.read(be.embedFrom!(idt, 2, ids.length, m)), embedRef(ids, table, d), `${tag} embedFrom`, 0, 0);
}

const LINEAR_SHAPES = [
  [1, 32, 1],
  [1, 96, 37],
  [3, 64, 5],
  [8, 160, 67],
  [9, 32, 65],
  [67, 96, 131],
  [130, 256, 66],
];

for (const format of FORMATS) {
  gpuTest(`quantized ${format}: capabilities list it, linear on the GEMV and both GEMM paths`, async (be) => {
    assert.ok(be.capabilities.quantFormats.includes(format));
    const saved = quantGemmConfig.dequantMinRows;
    try {
      // Default (gemm_q below 128 rows, the f32 copy from 128), then every GEMM through the copy, then none.
      for (const setting of [saved, 9, Infinity]) {
        quantGemmConfig.dequantMinRows = setting;
        for (const [M, K, N] of LINEAR_SHAPES) await checkLinear(be, format, M, K, N);
      }
    } finally {
      quantGemmConfig.dequantMinRows = saved;
    }
  });
  gpuTest(`quantized ${format}: embed and embedFrom are exact`, async (be) => {
    await checkEmbed(be, format, 50, 64);
    await checkEmbed(be, format, 3, 32);
  });
  gpuTest(`quantized ${format}: split under 4 KiB bindings`, async (be) => {
    // [300, 320]: 340 (q8_0) or 180 (q4_0) bytes a row, so 12 or 22 rows a part; x / y bound a few rows at a time.
    for (const M of [3, 70, 200]) await checkLinear(be, format, M, 320, 300); // 200 rows: the f32 copy, 3 rows a time
    await checkEmbed(be, format, 300, 128); // 6 output rows of 128 fit one 4 KiB binding; the table is 10 parts
  }, { maxBindingSize: 4096 });
  gpuTest(`quantized ${format}: the dequantized GEMM copies a part a binding's rows at a time`, async (be) => {
    // 16 KiB bindings: an f32 copy holds 16 rows of k = 256, a quantized part ~60 (q8_0) or more (q4_0), x chunks ~15
    // rows, so every chunk (≥ 9 rows with the copy forced from 9) copies each part in several row spans.
    const saved = quantGemmConfig.dequantMinRows;
    try {
      quantGemmConfig.dequantMinRows = 9;
      await checkLinear(be, format, 40, 256, 64);
      await checkLinear(be, format, 40, 256, 150);
    } finally {
      quantGemmConfig.dequantMinRows = saved;
    }
  }, { maxBindingSize: 16384 });
  gpuTest(`quantized ${format}: keeps its blocks on an f16-weight backend`, async (be) => {
    for (const [M, K, N] of [[2, 64, 33], [40, 128, 70]]) await checkLinear(be, format, M, K, N);
    await checkEmbed(be, format, 20, 96);
  }, { f16Weights: true });
  gpuTest(`quantized ${format}: memory counts the block bytes, not f32`, (be) => {
    const N = 768, K = 3072;
    const { q } = quantized(format, N, K, 5);
    const before = be.memory().liveBytes;
    const m = be.uploadQuantizedMatrix(q, "W");
    const used = be.memory().liveBytes - before;
    assert.ok(used >= q.blocks.byteLength && used <= q.blocks.byteLength + 16, `${used} vs ${q.blocks.byteLength}`);
    be.free(m);
    assert.equal(be.memory().liveBytes, before);
    return Promise.resolve();
  });
}

gpuTest("quantized upload: bad blocks are a named error", (be) => {
  const blocks = new Uint8Array(34 * 2 - 1);
  assert.throws(() => be.uploadQuantizedMatrix({ format: "q8_0", n: 1, k: 64, blocks }, "bad.w"), /bad\.w.*want 68/);
  assert.throws(
    () => be.uploadQuantizedMatrix({ format: "q4_0", n: 1, k: 48, blocks: new Uint8Array(27) }, "odd.w"),
    /odd\.w.*multiple of the block size 32/,
  );
  return Promise.resolve();
});
