/**
 * Helpers of the WebGPU kernel tests: registration that skips visibly without an adapter, deterministic data,
 * views inside wider tensors, and the per-op tolerance check.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Tensor, View } from "../../runtime/backend.ts";
import { createWebGpuBackend, type WebGpuBackend, type WebGpuBackendOptions } from "../../kernels/webgpu_backend.ts";
import type { Arr } from "../wasm/reference.ts";
import { sharedGpuDevice } from "../_gpu_device.ts";
import { probeWebGpu } from "../../runtime/select_backend.ts";

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

/** Deterministic uniform values in [lo, hi) (xorshift32). */
export function rand(count: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + (hi - lo) * (s / 4294967296);
  }
  return out;
}

/**
 * Upload `data` (rows, cols) as columns [left, left + cols) of a wider tensor filled with junk, and return the
 * view: exercises row strides and column offsets the way the model's splits do.
 */
export function viewIn(
  be: WebGpuBackend,
  data: Float32Array,
  rows: number,
  cols: number,
  left: number,
  right: number,
  label: string,
): { view: View; tensor: Tensor } {
  const width = left + cols + right;
  const full = rand(rows * width, 999 + cols, -50, 50);
  for (let r = 0; r < rows; r++) full.set(data.subarray(r * cols, (r + 1) * cols), r * width + left);
  const tensor = be.upload(full, [rows, width], label);
  return { view: { tensor, col: left, cols }, tensor };
}

/** Assert max |actual − expected| ≤ rel · max|expected| + abs, naming the worst index. */
export function assertClose(actual: Arr, expected: Arr, what: string, rel = 1e-5, abs = 1e-6): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} ≠ ${expected.length}`);
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) maxRef = Math.max(maxRef, Math.abs(expected[i]));
  let worst = -1, err = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= err)) {
      err = e;
      worst = i;
    }
  }
  const tol = rel * maxRef + abs;
  assert.ok(
    err <= tol,
    `${what}: max |Δ| = ${err} at ${worst} (got ${actual[worst]}, want ${expected[worst]}) > ${tol}`,
  );
}
