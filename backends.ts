/**
 * The composition root: the one place where the platform-neutral runtime meets the concrete backends. `runtime/`
 * knows only the `Backend` interface and the selection rule (`chooseBackend`); this file hands it the WebGPU
 * (`kernels/`) and WebAssembly (`wasm/`) factories with the caller's options.
 *
 * @module
 */

import type { Backend } from "./runtime/backend.ts";
import { type BackendKind, chooseBackend } from "./runtime/select_backend.ts";
import { createWebGpuBackend } from "./kernels/webgpu_backend.ts";
import { createWasmBackend } from "./wasm/backend.ts";
import type { WorkerFactory } from "./wasm/threads.ts";

/**
 * Options passed to whichever backend is created.
 *
 * @example
 * ```ts
 * import { selectBackend, type SelectBackendOptions } from "@perfmamba/perfmamba";
 *
 * const options: SelectBackendOptions = { threads: 1, f16Weights: false };
 * const backend = await selectBackend("wasm", options);
 * console.log(backend.description); // WASM SIMD (128-bit, relaxed), 1 thread
 * backend.dispose();
 * ```
 */
export interface SelectBackendOptions {
  /** WASM: worker threads for the GEMMs (default: hardware concurrency, max 8; 1 = single-threaded). */
  threads?: number;
  /** WASM: a precompiled kernel module, for runtimes that forbid compiling bytes. */
  wasmModule?: WebAssembly.Module;
  /** WASM: starts the kernel workers; on Node pass `nodeWorkerFactory` (`wasm/node_workers.ts`, worker_threads). */
  workerFactory?: WorkerFactory;
  /**
   * WASM: the relaxed-SIMD kernels (fused multiply-adds): "auto" (default) where the host validates them, true to
   * require them (`RelaxedSimdUnsupportedError` otherwise), false for the baseline SIMD build.
   */
  relaxedSimd?: "auto" | boolean;
  /**
   * WASM: how `linear` computes on q8_0 / q4_0 matrices: "int8" (default) integer dot products on 8-bit activations
   * (llama.cpp's q8_0; bit-identical on every host), true or "int16" on 16-bit activations, false the exact kernels
   * (dequantized in registers); see `WasmBackendOptions.quantActivations`.
   */
  quantActivations?: boolean | "int16" | "int8";
  /**
   * WebGPU: store weight matrices as f16 (f32 math; see `WebGpuBackendOptions.f16Weights`). "auto" keeps f32
   * weights when it falls back to WASM; "wasm" refuses it.
   */
  f16Weights?: boolean;
  /** WebGPU: request `timestamp-query` where the adapter has it, for per-pass GPU timing (`Backend.passTimer`). */
  timestamps?: boolean;
  /** "auto" also takes a software (fallback) WebGPU adapter such as llvmpipe or SwiftShader (default false). */
  allowFallbackAdapter?: boolean;
  /**
   * WebGPU: run every dispatch inside a validation error scope and submit it alone, so that a GPU validation error
   * is thrown at the next `read` / `sync` naming the kernel and op that caused it (slow: for debugging).
   */
  debug?: boolean;
}

/**
 * Create a backend. "auto" takes WebGPU when a hardware adapter exists, else WASM. A software adapter
 * (llvmpipe, SwiftShader: `isFallbackAdapter`) runs our GEMMs an order of magnitude slower than the WASM SIMD
 * kernels on the same CPU, so "auto" passes it over unless `allowFallbackAdapter` is set; "webgpu" always uses
 * whatever adapter there is and throws a clear error when there is none.
 *
 * @example
 * ```ts
 * import { selectBackend } from "@perfmamba/perfmamba";
 * const backend = await selectBackend("wasm", { threads: 1 });
 * console.log(backend.name); // wasm
 * backend.dispose();
 * ```
 */
export function selectBackend(
  kind: BackendKind | string = "auto",
  options: SelectBackendOptions = {},
): Promise<Backend> {
  return chooseBackend(kind, {
    webgpu: () =>
      createWebGpuBackend({ f16Weights: options.f16Weights, timestamps: options.timestamps, debug: options.debug }),
    // The WASM kernels read f32 weights: f16 storage, when asked for, is refused by chooseBackend from the backend's
    // capabilities ("auto" keeps f32).
    wasm: () =>
      createWasmBackend({
        threads: options.threads,
        module: options.wasmModule,
        workerFactory: options.workerFactory,
        relaxedSimd: options.relaxedSimd,
        quantActivations: options.quantActivations,
      }),
  }, {
    allowFallbackAdapter: options.allowFallbackAdapter,
    weightFormat: options.f16Weights ? "f16" : undefined,
  });
}
