import assert from "node:assert/strict";
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { assertClose } from "../_assert.ts";
import { gpuTest, rand } from "./_gpu.ts";
import { TIMESTAMP_SKIP } from "../_backends.ts";

Deno.test("webgpu: a clear error without navigator.gpu, or without an adapter", async () => {
  const hadGpu = !!navigator.gpu;
  const desc = Object.getOwnPropertyDescriptor(navigator, "gpu") ??
    Object.getOwnPropertyDescriptor(Object.getPrototypeOf(navigator), "gpu");
  try {
    Object.defineProperty(navigator, "gpu", { value: undefined, configurable: true });
    await assert.rejects(() => createWebGpuBackend(), /WebGPU is not available: navigator.gpu is undefined/);
    Object.defineProperty(navigator, "gpu", {
      value: { requestAdapter: () => Promise.resolve(null) },
      configurable: true,
    });
    await assert.rejects(() => createWebGpuBackend(), /WebGPU is not available: no adapter/);
  } finally {
    delete (navigator as { gpu?: unknown }).gpu;
    if (desc && !Object.getOwnPropertyDescriptor(Object.getPrototypeOf(navigator), "gpu")) {
      Object.defineProperty(navigator, "gpu", desc);
    }
  }
  assert.equal(!!navigator.gpu, hadGpu, "navigator.gpu restored");
});

gpuTest("device lost: calls fail with a clear error instead of hanging", async (be) => {
  const x = be.upload(rand(8, 1), [2, 4], "x");
  const y = be.add(x, x);
  be.device.destroy();
  await assert.rejects(() => be.read(y), /device lost|destroyed|WebGPU/i);
  await new Promise((r) => setTimeout(r, 10));
  assert.throws(() => be.add(x, x), /WebGPU device lost/);
  await assert.rejects(() => be.sync(), /WebGPU device lost/);
}, { freshDevice: true });

gpuTest("dispose: later calls throw; dispose twice is harmless", async (be) => {
  const x = be.upload(rand(8, 1), [2, 4], "x");
  be.dispose();
  be.dispose();
  assert.throws(() => be.add(x, x), /after dispose/);
  await assert.rejects(() => be.read(x), /after dispose/);
});

if (TIMESTAMP_SKIP) {
  Deno.test({
    ignore: true,
    name: `webgpu timestamps: passes labelled by scope or kernel, timed (${TIMESTAMP_SKIP})`,
    fn() {},
  });
} else {
  gpuTest("timestamps: passes labelled by scope or kernel, timed", async (be) => {
    assert.ok(be.timestamps, "the adapter has timestamp-query: the backend times passes");
    const x = be.upload(rand(64, 2), [8, 8], "x");
    const w = be.uploadMatrix(rand(64, 3), 8, 8, "w");
    be.setScope("in_proj.0");
    const y = be.linear(x, w);
    const z = be.add(y, x);
    be.setScope(null);
    const r = be.rmsNorm(z, be.upload(rand(8, 4), [8], "g"), 1e-5);
    await be.read(r);
    const t = await be.gpuTimings();
    assert.deepEqual(t.map((e) => e.label), ["in_proj.0", "rms_norm"]);
    for (const e of t) assert.ok(e.ms >= 0 && Number.isFinite(e.ms), `${e.label}: ${e.ms} ms`);
    assert.deepEqual(await be.gpuTimings(), []);
    assertClose([t.length], [2], "count", 0, 0);
  }, { timestamps: true });
}

gpuTest("measurePeaks reports positive bandwidth and GEMM rate", async (be) => {
  const p = await be.measurePeaks();
  assert.ok(p.bandwidthGBs > 0 && p.gemmGflops > 0, JSON.stringify(p));
});
