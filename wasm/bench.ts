/**
 * Micro-benchmarks of the WASM backend: streaming bandwidth and GEMM rate, measured with the backend's own
 * kernels and threads (the rooflines the decode GEMV and the prefill GEMM are judged against).
 *
 * @example
 * ```ts ignore
 * import { createWasmBackend } from "./backend.ts";
 * import { measureBandwidth, measureGemmPeak } from "./bench.ts";
 * const be = await createWasmBackend();
 * console.log(measureBandwidth(be) / 1e9, "GB/s", measureGemmPeak(be), "GFLOP/s");
 * be.dispose();
 * ```
 *
 * @module
 */

import type { Backend, DevicePeaks } from "../runtime/backend.ts";

/**
 * What the benchmarks use of a WASM backend (createWasmBackend's result has it): the backend's own linear layer,
 * its thread count and its streaming probe. Stated here so the backend can import the benchmarks without a cycle.
 */
export interface WasmBench extends Pick<Backend, "upload" | "uploadMatrix" | "linear" | "free"> {
  /** Threads used by parallel ops, the caller included. */
  readonly threads: number;
  /** Median read bandwidth (bytes/s) of a SIMD sum over `bytes` bytes split across the threads. */
  streamBandwidth(bytes: number, reps: number): number;
}

/** Options of {@link measureBandwidth}. */
export interface BandwidthOptions {
  /** Buffer size in bytes (default 256 MiB, far beyond the last-level cache). */
  bytes?: number;
  /** Passes over the buffer; the median one counts (default 7). */
  reps?: number;
}

/**
 * Streaming read bandwidth in bytes per second: every thread of the backend sums its slice of a buffer much
 * larger than the last-level cache with SIMD loads (bytes read; nothing is written). This is the roofline of a
 * decode GEMV, which reads its weights once and writes almost nothing.
 */
export function measureBandwidth(backend: WasmBench, opts: BandwidthOptions = {}): number {
  const bytes = Math.ceil((opts.bytes ?? 256 * 2 ** 20) / 4096) * 4096;
  return backend.streamBandwidth(bytes, opts.reps ?? 7);
}

/** Options of {@link measureGemm}. */
export interface GemmOptions {
  /** Rows of x (tokens). */
  m: number;
  /** Output features. */
  n: number;
  /** Input features. */
  k: number;
  /** Timed runs after one warm-up; the best counts (default 3). */
  reps?: number;
}

/** Deterministic pseudo-random values in [−1, 1). */
function noise(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * GFLOP/s (2·m·n·k per run) of `linear(x [m, k], W [n, k])` on the backend, best of `reps` runs. With m ≤ 4 this
 * times the decode GEMV; divide the weight bytes (4·n·k) by the time for its achieved bandwidth.
 */
export function measureGemm(backend: WasmBench, { m, n, k, reps = 3 }: GemmOptions): number {
  const x = backend.upload(noise(m * k, 1), [m, k], "bench.x");
  const w = backend.uploadMatrix(noise(n * k, 2), n, k, "bench.W");
  try {
    let best = Infinity;
    for (let r = 0; r <= reps; r++) {
      const t0 = performance.now();
      const y = backend.linear(x, w);
      const dt = performance.now() - t0;
      backend.free(y);
      if (r > 0) best = Math.min(best, dt);
    }
    return (2 * m * n * k) / (best * 1e6);
  } finally {
    backend.free(x);
    backend.free(w);
  }
}

/** Peak GEMM rate of the backend's own kernel: GFLOP/s on a 1024×1024×1024 problem, best of 3. */
export function measureGemmPeak(backend: WasmBench): number {
  return measureGemm(backend, { m: 1024, n: 1024, k: 1024, reps: 3 });
}

/** Both peaks in the shape of the Backend interface's `measurePeaks`. */
export function measurePeaks(backend: WasmBench): DevicePeaks {
  const bandwidth = measureBandwidth(backend);
  const gemm = measureGemmPeak(backend);
  return {
    bandwidthGBs: bandwidth / 1e9,
    gemmGflops: gemm,
    detail: `${backend.threads} thread(s); bandwidth: SIMD sum over 256 MiB (bytes read), median of 7; ` +
      "GEMM: linear 1024×1024×1024, best of 3",
  };
}
