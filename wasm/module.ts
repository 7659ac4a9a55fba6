/**
 * Loading and instantiating the WASM kernels, checking that a module's exports match the ABI generated from the
 * kernel sources (wasm/generated/abi.ts, which also types them).
 *
 * Every kernel takes byte offsets into the single imported memory (`env.memory`) and sizes as i32; floats are
 * f32. Row strides are in floats.
 *
 * @module
 */

import { KERNEL_CONSTANTS, KERNEL_NAMES, KERNEL_PARAMS, type KernelExports, MAX_PAGES } from "./generated/abi.ts";
import {
  decodeBase64,
  KERNELS_SIMD_BASE64,
  KERNELS_SIMD_RELAXED_BASE64,
  KERNELS_THREADS_BASE64,
  KERNELS_THREADS_RELAXED_BASE64,
} from "./generated/kernels_wasm.ts";

export type { KernelExports } from "./generated/abi.ts";

/** A kernel module whose exports do not match the generated ABI (see {@link checkKernelExports}). */
export class KernelAbiError extends Error {
  override name = "KernelAbiError";
}

const compiled = new Map<WasmKernelVariant, Promise<WebAssembly.Module>>();

/** The base64 module of each variant. */
const VARIANT_BASE64: Record<WasmKernelVariant, string> = {
  simd: KERNELS_SIMD_BASE64,
  threads: KERNELS_THREADS_BASE64,
  "simd-relaxed": KERNELS_SIMD_RELAXED_BASE64,
  "threads-relaxed": KERNELS_THREADS_RELAXED_BASE64,
};

/**
 * The four builds of the kernel module: SIMD on an ordinary memory, or SIMD + threads on a shared memory; each
 * also with relaxed SIMD (`-relaxed`: fused multiply-adds where the host has them), for hosts where
 * {@link relaxedSimdSupported}.
 *
 * @example
 * ```ts
 * import { type WasmKernelVariant, wasmKernelBytes } from "@perfmamba/perfmamba";
 *
 * // The threads build needs SharedArrayBuffer (and cross-origin isolation in browsers).
 * const variant: WasmKernelVariant = typeof SharedArrayBuffer === "function" ? "threads" : "simd";
 * const bytes = wasmKernelBytes(variant);
 * console.log(WebAssembly.validate(bytes)); // true
 * const module = await WebAssembly.compile(bytes);
 * const memory = WebAssembly.Module.imports(module).find((i) => i.kind === "memory");
 * console.log(memory?.module, memory?.name); // env memory
 * ```
 */
export type WasmKernelVariant = "simd" | "threads" | "simd-relaxed" | "threads-relaxed";

/**
 * The kernel module's bytes, for hosts that refuse to compile WebAssembly from bytes at run time (Cloudflare
 * Workers and other edge runtimes): write them to a `.wasm` file at build time, let the host hand you the compiled
 * `WebAssembly.Module`, and pass it as `selectBackend("wasm", { wasmModule })`.
 *
 * @example
 * ```ts
 * import { selectBackend, wasmKernelBytes } from "@perfmamba/perfmamba";
 * const wasmModule = await WebAssembly.compile(wasmKernelBytes("simd"));
 * const backend = await selectBackend("wasm", { wasmModule, threads: 1 });
 * console.log(backend.name); // wasm
 * backend.dispose();
 * ```
 */
export function wasmKernelBytes(variant: WasmKernelVariant = "simd"): Uint8Array<ArrayBuffer> {
  if (!Object.hasOwn(VARIANT_BASE64, variant)) {
    throw new RangeError(
      `unknown WASM kernel variant "${variant}"; expected one of ${Object.keys(VARIANT_BASE64).join(", ")}`,
    );
  }
  return decodeBase64(VARIANT_BASE64[variant]);
}

/**
 * The smallest module using relaxed SIMD: one function (v128, v128, v128) → v128 whose body is
 * `local.get 0, local.get 1, local.get 2, f32x4.relaxed_madd` (opcode 0xfd 0x105, LEB128 0x85 0x02).
 * A host validates it exactly when it implements the relaxed-SIMD proposal.
 */
export const RELAXED_SIMD_PROBE: Uint8Array<ArrayBuffer> = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // magic, version 1
  0x01,
  0x08,
  0x01,
  0x60,
  0x03,
  0x7b,
  0x7b,
  0x7b,
  0x01,
  0x7b, // type section: (v128 v128 v128) → v128
  0x03,
  0x02,
  0x01,
  0x00, // function section: one function of type 0
  0x0a,
  0x0d,
  0x01,
  0x0b,
  0x00, // code section: one body of 11 bytes, no locals
  0x20,
  0x00,
  0x20,
  0x01,
  0x20,
  0x02, // local.get 0, 1, 2
  0xfd,
  0x85,
  0x02, // f32x4.relaxed_madd
  0x0b, // end
]);

let relaxedSupport: boolean | undefined;

/**
 * True when this host validates relaxed SIMD ({@link RELAXED_SIMD_PROBE}); computed once.
 *
 * @example
 * ```ts
 * import { relaxedSimdSupported } from "./module.ts";
 * // Deno 2.9 and current Chromium: true (their V8 ships relaxed SIMD).
 * console.log(relaxedSimdSupported() ? "fused multiply-add kernels" : "baseline SIMD kernels");
 * ```
 */
export function relaxedSimdSupported(): boolean {
  if (relaxedSupport === undefined) {
    try {
      relaxedSupport = WebAssembly.validate(RELAXED_SIMD_PROBE);
    } catch {
      relaxedSupport = false;
    }
  }
  return relaxedSupport;
}

/** The kernel variant for a memory kind and relaxed SIMD on or off. */
export function kernelVariant(shared: boolean, relaxed: boolean): WasmKernelVariant {
  return `${shared ? "threads" : "simd"}${relaxed ? "-relaxed" : ""}` as WasmKernelVariant;
}

/**
 * Compiles (once per variant) the kernel module: `shared = true` gives the threads variant that imports a shared
 * memory, `false` the SIMD-only variant for an ordinary memory; `relaxed` their relaxed-SIMD builds (the caller
 * checks {@link relaxedSimdSupported} first).
 */
export function compileKernels(shared: boolean, relaxed = false): Promise<WebAssembly.Module> {
  const variant = kernelVariant(shared, relaxed);
  let m = compiled.get(variant);
  if (!m) {
    m = WebAssembly.compile(wasmKernelBytes(variant)).catch((err: unknown) => {
      compiled.delete(variant);
      throw new Error(
        `this host refused to compile the WASM kernels (${
          (err as Error).message
        }); compile wasmKernelBytes("${variant}") ` +
          `ahead of time and pass it as selectBackend("wasm", { wasmModule })`,
        { cause: err },
      );
    });
    compiled.set(variant, m);
  }
  return m;
}

/**
 * True when the host can run the threads variant: SharedArrayBuffer, cross-origin isolation in browsers, and
 * Web Workers (or a caller-supplied worker factory, e.g. Node's worker_threads).
 */
export function threadsSupported(hasWorkerFactory = false): boolean {
  if (typeof SharedArrayBuffer === "undefined") return false;
  if (!hasWorkerFactory && typeof Worker === "undefined") return false;
  const coi = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return coi !== false;
}

/** Creates the memory the kernels import: shared (threads variant) or not, `initialPages` pages. */
export function createMemory(shared: boolean, initialPages: number): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared });
}

/**
 * Instantiates the kernels on a memory (synchronous: the module is already compiled) and checks the instance
 * against the generated ABI ({@link checkKernelExports}).
 */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  checkKernelExports(instance);
  return instance.exports as unknown as KernelExports;
}

/**
 * Throws, naming the export, unless the module exports exactly the kernels of the generated ABI (functions with
 * its parameter counts) and its constants (globals with its values): a module built from other sources (say a
 * caller's precompiled `wasmModule` of another version) would otherwise run with its arguments misplaced.
 */
export function checkKernelExports(instance: WebAssembly.Instance): void {
  const fail = (what: string): never => {
    throw new KernelAbiError(
      `WASM kernel module does not match the kernel ABI (wasm/generated/abi.ts): ${what}; ` +
        `use wasmKernelBytes() of this version, or rebuild with \`deno task build:wasm\``,
    );
  };
  // The instance's exports, not WebAssembly.Module.exports(module): edge hosts that forbid compiling bytes may
  // replace the WebAssembly.Module constructor (and so its static methods).
  const exports = instance.exports;
  for (const name of KERNEL_NAMES) {
    const params = KERNEL_PARAMS[name];
    const fn = exports[name];
    if (typeof fn !== "function") fail(`export "${name}" (kernel of ${params.length} parameters) is missing`);
    else if (fn.length !== params.length) {
      fail(`export "${name}" takes ${fn.length} parameters, the ABI ${params.length} (${params.join(", ")})`);
    }
  }
  for (const [name, value] of Object.entries(KERNEL_CONSTANTS)) {
    const global = exports[name];
    if (!(global instanceof WebAssembly.Global)) fail(`export "${name}" (constant ${value}) is missing`);
    else if (Number(global.value) !== value) fail(`constant "${name}" is ${global.value}, the ABI ${value}`);
  }
  const known = new Set<string>([...KERNEL_NAMES, ...Object.keys(KERNEL_CONSTANTS)]);
  for (const name of Object.keys(exports)) if (!known.has(name)) fail(`unexpected export "${name}"`);
}
