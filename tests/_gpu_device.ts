/**
 * One WebGPU device per test process, shared by the tests' backends: each new device recompiles every pipeline,
 * which on a software adapter (llvmpipe, cold shader cache) costs seconds per kernel and dominated the suite.
 * Tests that destroy or lose their device must not use it.
 */
import { acquireDevice } from "../kernels/device.ts";

let shared: Promise<GPUDevice> | null = null;

/** The shared device (requested once, with timestamp-query when the adapter has it). */
export function sharedGpuDevice(): Promise<GPUDevice> {
  shared ??= acquireDevice({ timestamps: true }).then((a) => {
    // A device still alive when the process exits crashes wgpu/Mesa's teardown (double free): destroy it first.
    globalThis.addEventListener("unload", () => a.device.destroy());
    return a.device;
  });
  return shared;
}
