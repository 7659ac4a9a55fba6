/**
 * `measurePeaks` of the WebGPU backend: the device's streaming bandwidth (buffer copies, and the decode GEMV over a
 * large matrix) and its GEMM rate (the prefill kernel on random data), each timed as the difference of n and 2n
 * repetitions so that the fixed cost of waiting for the GPU cancels.
 *
 * @module
 */

import type { Backend, DevicePeaks } from "../runtime/backend.ts";
import { STORAGE } from "./gpu_flags.ts";

/** What the measurement needs besides the backend's ops. */
export interface PeakContext {
  device: GPUDevice;
  maxBindingSize: number;
  /** Waits for a GPU promise, failing instead of hanging when the device is lost. */
  wait<T>(p: Promise<T>): Promise<T>;
}

/** Measure the device's peaks through `be` (which must be idle: call after `sync`). */
export async function measurePeaks(be: Backend, ctx: PeakContext): Promise<DevicePeaks> {
  const { device } = ctx;
  // Every wait for the GPU has a fixed cost (in Deno ≥ 10 ms, from deno_webgpu's poll sleep) that would swamp
  // short runs: time n and 2n repetitions, each run at least ~200 ms, and keep the difference per repetition.
  const msPerRep = async (issue: () => void, wait: () => Promise<void>): Promise<number> => {
    const run = async (n: number) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) issue();
      await wait();
      return performance.now() - t0;
    };
    await run(1); // warm-up: pipelines, first touch of the buffers
    let n = 1;
    while ((await run(n)) < 200 && n < 1 << 14) n *= 2;
    const a = await run(n), b = await run(2 * n);
    // If noise made the difference implausible, fall back to the longer run's plain average.
    return b - a > b / 4 ? (b - a) / n : b / (2 * n);
  };
  // Streaming bandwidth: buffer-to-buffer copies (bytes read + written).
  const bytes = Math.min(1 << 28, device.limits.maxBufferSize);
  const src = device.createBuffer({ size: bytes, usage: STORAGE, label: "peaks.src" });
  const dst = device.createBuffer({ size: bytes, usage: STORAGE, label: "peaks.dst" });
  const copyMs = await msPerRep(() => {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
    device.queue.submit([enc.finish()]);
  }, () => ctx.wait(device.queue.onSubmittedWorkDone()));
  src.destroy();
  dst.destroy();
  const copyBw = (2 * bytes) / (copyMs * 1e6);
  // Read bandwidth: the decode GEMV streaming a 4096-wide matrix of the same size (copies through some drivers
  // reach well under what kernels read; the larger of the two is the device's streaming rate).
  const k = 4096, n = Math.floor(Math.min(bytes, 1 << 27) / (4 * k)); // 128 MiB: well beyond any L2
  const wm = be.uploadMatrix(new Float32Array(n * k), n, k, "peaks.gemv.w");
  const xv = be.upload(new Float32Array(k), [1, k], "peaks.gemv.x");
  const gemvMs = await msPerRep(() => be.free(be.linear(xv, wm)), () => be.sync());
  be.free(wm);
  be.free(xv);
  const readBw = (n * k * 4) / (gemvMs * 1e6);
  const bw = Math.max(copyBw, readBw);
  // GEMM peak: the prefill kernel on random data (zeros can run faster than real data), on the largest square
  // size up to 4096 that fits a binding and that this device runs in under ~30 ms.
  let rand = 12345;
  const random = (n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = ((rand = (Math.imul(rand, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
    return a;
  };
  let size = 0, gemmMs = Infinity;
  for (let s = 512; s <= 4096 && s * s * 4 <= ctx.maxBindingSize; s *= 2) {
    const x = be.upload(random(s * s), [s, s], "peaks.x");
    const w = be.uploadMatrix(random(s * s), s, s, "peaks.w");
    const ms = await msPerRep(() => be.free(be.linear(x, w)), () => be.sync());
    be.free(x);
    be.free(w);
    if (size === 0 || (2 * s ** 3) / ms > (2 * size ** 3) / gemmMs) [size, gemmMs] = [s, ms];
    if (ms > 30) break;
  }
  const gflops = (2 * size ** 3) / (gemmMs * 1e6);
  return {
    bandwidthGBs: bw,
    gemmGflops: gflops,
    detail: `bandwidth max(copy ${bytes >> 20} MiB: ${copyBw.toFixed(1)} GB/s read + written, ` +
      `GEMV over a ${(n * k * 4) >> 20} MiB matrix: ${readBw.toFixed(1)} GB/s read); ` +
      `gemm ${size}×${size}×${size} on random data; ` +
      "per repetition from the difference of n and 2n repetitions (cancels the fixed cost of waiting for the GPU)",
  };
}
