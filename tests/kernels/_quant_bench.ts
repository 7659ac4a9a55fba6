/**
 * Decode bandwidth of the quantized GEMV against the f32 (and f16) one at 130m shapes, and the prefill GEMM's time
 * with `rows` > 8 (not a test; `deno run -A tests/kernels/_quant_bench.ts [reps] [rows]`): weight bytes read per
 * call over the time per call, GPU time from timestamp queries when the adapter has them, else wall clock over
 * `reps` calls submitted together.
 */
import type { Matrix } from "../../runtime/backend.ts";
import { quantizeQ4_0, quantizeQ8_0 } from "../../runtime/ggml_types.ts";
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { rand } from "./_gpu.ts";

const reps = Number(Deno.args[0] ?? 20);
const rows = Number(Deno.args[1] ?? 1);
const be = await createWebGpuBackend({ timestamps: true });
const be16 = await createWebGpuBackend({ device: be.device, f16Weights: true });
console.log(be.description, "| timestamps:", be.timestamps, "| reps", reps);

async function time(b: typeof be, w: Matrix, k: number, bytes: number, label: string): Promise<void> {
  const x = b.upload(rand(rows * k, 2), [rows, k], "x");
  b.free(b.linear(x, w)); // compile
  await b.sync();
  await b.gpuTimings();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) b.free(b.linear(x, w));
  await b.sync();
  const wall = (performance.now() - t0) / reps;
  const t = await b.gpuTimings();
  const gpu = t.length ? t.reduce((s, e) => s + e.ms, 0) / reps : NaN;
  const ms = Number.isNaN(gpu) ? wall : gpu;
  const how = Number.isNaN(gpu) ? "wall" : "gpu";
  console.log(
    `${label.padEnd(28)} ${(bytes / 1e6).toFixed(2).padStart(6)} MB  ${ms.toFixed(3).padStart(8)} ms (${how})  ` +
      `${(bytes / ms / 1e6).toFixed(2).padStart(6)} GB/s`,
  );
  b.free(x);
}

for (const [n, k] of [[3072, 768], [768, 3072]]) {
  const data = rand(n * k, 1);
  const tag = `${rows > 8 ? "gemm" : "gemv"} ${rows}×${k}→${n}`;
  await time(be, be.uploadMatrix(data, n, k, "w"), k, n * k * 4, `${tag} f32`);
  await time(be16, be16.uploadMatrix(data, n, k, "w"), k, n * k * 2, `${tag} f16`);
  const q8 = quantizeQ8_0(data), q4 = quantizeQ4_0(data);
  await time(be, be.uploadQuantizedMatrix({ format: "q8_0", n, k, blocks: q8 }, "w"), k, q8.length, `${tag} q8_0`);
  await time(be, be.uploadQuantizedMatrix({ format: "q4_0", n, k, blocks: q4 }, "w"), k, q4.length, `${tag} q4_0`);
}
be16.dispose();
be.dispose();
