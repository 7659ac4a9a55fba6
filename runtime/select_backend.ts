/**
 * Choosing a backend by capability: `selectBackend("auto" | "webgpu" | "wasm")`.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import { createWasmBackend } from "../wasm/backend.ts";
import type { WorkerFactory } from "../wasm/threads.ts";
import { createWebGpuBackend } from "../kernels/webgpu_backend.ts";

/**
 * Backends this build can run, besides "auto".
 *
 * @example
 * ```ts
 * import { BACKEND_KINDS } from "@perfmamba/perfmamba";
 *
 * const requested = "wasm";
 * if (!(BACKEND_KINDS as readonly string[]).includes(requested)) throw new Error(`no backend ${requested}`);
 * console.log(BACKEND_KINDS); // [ "webgpu", "wasm" ]
 * ```
 */
export const BACKEND_KINDS = ["webgpu", "wasm"] as const;

/**
 * A backend name or "auto" (the best available).
 *
 * @example
 * ```ts
 * import { type BackendKind, selectBackend } from "@perfmamba/perfmamba";
 *
 * // e.g. from a `?backend=` query parameter; selectBackend rejects unknown names with a RangeError.
 * const kind: BackendKind = "wasm";
 * const backend = await selectBackend(kind, { threads: 1 });
 * console.log(backend.name); // wasm
 * backend.dispose();
 * ```
 */
export type BackendKind = "auto" | typeof BACKEND_KINDS[number];

/**
 * Options passed to whichever backend is created.
 *
 * @example
 * ```ts
 * import { selectBackend, type SelectBackendOptions } from "@perfmamba/perfmamba";
 *
 * const options: SelectBackendOptions = { threads: 1, f16Weights: false };
 * const backend = await selectBackend("wasm", options);
 * console.log(backend.description); // WASM SIMD (128-bit), 1 thread
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
   * WebGPU: store weight matrices as f16 (f32 math; see `WebGpuBackendOptions.f16Weights`). "auto" keeps f32
   * weights when it falls back to WASM; "wasm" refuses it.
   */
  f16Weights?: boolean;
  /** WebGPU: request `timestamp-query` where the adapter has it, for per-pass GPU timing (`Backend.passTimer`). */
  timestamps?: boolean;
  /** "auto" also takes a software (fallback) WebGPU adapter such as llvmpipe or SwiftShader (default false). */
  allowFallbackAdapter?: boolean;
}

/**
 * What "auto" found: whether a WebGPU adapter exists and whether it is a software fallback.
 *
 * @example
 * ```ts
 * import { type GpuProbe, probeWebGpu } from "@perfmamba/perfmamba";
 *
 * const probe: GpuProbe = await probeWebGpu();
 * const choice = probe.adapter && !probe.fallback ? "webgpu" : "wasm"; // what selectBackend("auto") takes
 * console.log(choice, probe.detail); // e.g. wasm llvmpipe (LLVM 15.0.6, 256 bits)
 * ```
 */
export interface GpuProbe {
  /** An adapter was returned. */
  adapter: boolean;
  /** The adapter is a software rasteriser (isFallbackAdapter). */
  fallback: boolean;
  /** Adapter description, or why there is none. */
  detail: string;
}

/**
 * Ask for a WebGPU adapter without creating a device; never hangs (10 s limit). A page can use it to say which
 * backend "auto" will take, and why, before loading a model.
 *
 * @example
 * ```ts
 * import { probeWebGpu } from "@perfmamba/perfmamba";
 *
 * const probe = await probeWebGpu();
 * if (!probe.adapter) console.log(`WASM: no WebGPU here (${probe.detail})`);
 * else if (probe.fallback) console.log(`WASM: ${probe.detail} is a software adapter`);
 * else console.log(`WebGPU on ${probe.detail}`);
 * ```
 */
export async function probeWebGpu(): Promise<GpuProbe> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return { adapter: false, fallback: false, detail: "navigator.gpu is undefined" };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 10_000));
  try {
    const adapter = await Promise.race([gpu.requestAdapter().catch(() => null), timeout]);
    if (!adapter) return { adapter: false, fallback: false, detail: "requestAdapter() returned no adapter" };
    const info = adapter.info;
    // Adapters without a description (SwiftShader: vendor "google", architecture "swiftshader") are named by parts.
    const name = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" ");
    return { adapter: true, fallback: info.isFallbackAdapter, detail: name || "adapter" };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What "auto" takes given a {@link probeWebGpu} result, and why: WebGPU on a hardware adapter (or on a software one
 * when `allowFallbackAdapter`), else WASM. `selectBackend("auto")` decides with this; a page can show the reason.
 *
 * @example
 * ```ts
 * import { autoBackend } from "@perfmamba/perfmamba";
 *
 * const swiftshader = { adapter: true, fallback: true, detail: "google swiftshader" };
 * console.log(autoBackend(swiftshader).kind); // wasm
 * console.log(autoBackend(swiftshader, true).reason); // auto chose WebGPU: software adapter (google swiftshader) allowed
 * ```
 */
export function autoBackend(
  probe: GpuProbe,
  allowFallbackAdapter = false,
): { kind: "webgpu" | "wasm"; reason: string } {
  if (!probe.adapter) return { kind: "wasm", reason: `auto chose WASM: no WebGPU adapter (${probe.detail})` };
  if (probe.fallback && !allowFallbackAdapter) {
    return {
      kind: "wasm",
      reason: `auto chose WASM: the WebGPU adapter (${probe.detail}) is a software fallback (isFallbackAdapter), ` +
        `which runs the kernels far slower than WASM SIMD on the same CPU`,
    };
  }
  return {
    kind: "webgpu",
    reason: probe.fallback
      ? `auto chose WebGPU: software adapter (${probe.detail}) allowed`
      : `auto chose WebGPU: hardware adapter (${probe.detail})`,
  };
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
export async function selectBackend(
  kind: BackendKind | string = "auto",
  options: SelectBackendOptions = {},
): Promise<Backend> {
  const wasmOptions = { threads: options.threads, module: options.wasmModule, workerFactory: options.workerFactory };
  switch (kind) {
    case "auto": {
      const { kind } = autoBackend(await probeWebGpu(), options.allowFallbackAdapter);
      if (kind === "webgpu") {
        return await createWebGpuBackend({ f16Weights: options.f16Weights, timestamps: options.timestamps });
      }
      return await createWasmBackend(wasmOptions);
    }
    case "webgpu":
      return await createWebGpuBackend({ f16Weights: options.f16Weights, timestamps: options.timestamps });
    case "wasm":
      if (options.f16Weights) {
        throw new RangeError("f16 weight storage is a WebGPU option; the WASM backend keeps f32 weights");
      }
      return await createWasmBackend(wasmOptions);
    default:
      throw new RangeError(`unknown backend "${kind}"; supported: auto, ${BACKEND_KINDS.join(", ")}`);
  }
}
