/**
 * The backends every model test runs on. WebGPU joins when an adapter exists; otherwise its cases are
 * registered as ignored with the reason in the name, so the skip is visible.
 */
import type { Backend } from "../runtime/backend.ts";
import { probeWebGpu } from "../runtime/select_backend.ts";
import { createWasmBackend } from "../wasm/backend.ts";
import { createWebGpuBackend } from "../kernels/webgpu_backend.ts";
import { loadWeights } from "../runtime/checkpoint.ts";
import { MambaModel } from "../runtime/model.ts";
import { dirSource } from "../cli/fs_source.ts";
import { sharedGpuDevice } from "./_gpu_device.ts";

/** A named backend factory for tests. */
export interface TestBackend {
  name: string;
  /** Why this backend's cases are skipped here, or null. */
  skip: string | null;
  create(): Promise<Backend>;
}

const gpu = await probeWebGpu();

/** Why cases that need WebGPU timestamp-query are skipped here (no adapter, or one without the feature), or null. */
export const TIMESTAMP_SKIP: string | null = !gpu.adapter
  ? `skipped: no WebGPU adapter (${gpu.detail})`
  : (await navigator.gpu.requestAdapter())?.features.has("timestamp-query")
  ? null
  : "skipped: the WebGPU adapter has no timestamp-query";

/** Backends to test, in order. */
export const TEST_BACKENDS: TestBackend[] = [
  // The default build: relaxed SIMD where the host has it (WASM_BASELINE below is the other build).
  { name: "wasm", skip: null, create: () => createWasmBackend({ threads: 2 }) },
  {
    name: "webgpu",
    skip: gpu.adapter ? null : `skipped: no WebGPU adapter (${gpu.detail})`,
    create: async () => createWebGpuBackend({ device: await sharedGpuDevice() }),
  },
];

/**
 * The WASM backend's baseline SIMD build (no relaxed SIMD), for the tests that must hold on both builds (the golden
 * fixtures): on a host with relaxed SIMD, TEST_BACKENDS' "wasm" runs the relaxed build.
 */
export const WASM_BASELINE: TestBackend = {
  name: "wasm baseline SIMD",
  skip: null,
  create: () => createWasmBackend({ threads: 2, relaxedSimd: false }),
};

/** Loads the checkpoint folder `dir` on a new backend of `tb`, runs `f` on the model, then frees both. */
export async function withFixtureModel(
  tb: TestBackend,
  dir: string,
  f: (m: MambaModel) => Promise<void>,
): Promise<void> {
  const backend = await tb.create();
  try {
    const model = MambaModel.load(await loadWeights(dirSource(dir)), backend);
    await f(model);
    model.dispose();
  } finally {
    backend.dispose();
  }
}
