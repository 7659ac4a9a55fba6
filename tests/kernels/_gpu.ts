/**
 * Helpers of the WebGPU-specific tests (op conformance is tests/ops/): registration that skips visibly without an
 * adapter, and the suite's deterministic data.
 *
 * @module
 */

import { createWebGpuBackend, type WebGpuBackend, type WebGpuBackendOptions } from "../../kernels/webgpu_backend.ts";
import { sharedGpuDevice } from "../_gpu_device.ts";
import { probeWebGpu } from "../../runtime/select_backend.ts";

export { rand } from "../ops/data.ts";

/** Whether this host has a WebGPU adapter (probed once). */
export const HAS_ADAPTER: boolean = (await probeWebGpu()).adapter;

/**
 * Register a test on a new WebGPU backend, or an ignored one naming the reason when there is no adapter. The
 * backend runs on the process's shared device (pipelines compile once) unless `freshDevice` is set, as a test
 * that destroys its device must.
 */
export function gpuTest(
  name: string,
  fn: (be: WebGpuBackend, t: Deno.TestContext) => Promise<void>,
  opts: WebGpuBackendOptions & { freshDevice?: boolean } = {},
): void {
  if (!HAS_ADAPTER) {
    Deno.test({ ignore: true, name: `webgpu ${name} (skipped: no WebGPU adapter)`, fn: () => {} });
    return;
  }
  Deno.test(`webgpu ${name}`, async (t) => {
    const { freshDevice, ...backendOpts } = opts;
    const device = freshDevice || backendOpts.device ? backendOpts.device : await sharedGpuDevice();
    const be = await createWebGpuBackend({ ...backendOpts, device });
    try {
      await fn(be, t);
    } finally {
      be.dispose();
    }
  });
}
