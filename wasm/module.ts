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
import { decodeBase64, KERNELS_SIMD_BASE64, KERNELS_THREADS_BASE64 } from "./generated/kernels_wasm.ts";

export type { KernelExports } from "./generated/abi.ts";

/** A kernel module whose exports do not match the generated ABI (see {@link checkKernelExports}). */
export class KernelAbiError extends Error {
  override name = "KernelAbiError";
}

const compiled = new Map<boolean, Promise<WebAssembly.Module>>();

/**
 * The two builds of the kernel module: SIMD on an ordinary memory, or SIMD + threads on a shared memory.
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
export type WasmKernelVariant = "simd" | "threads";

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
  if (variant !== "simd" && variant !== "threads") {
    throw new RangeError(`unknown WASM kernel variant "${variant}"; expected "simd" or "threads"`);
  }
  return decodeBase64(variant === "threads" ? KERNELS_THREADS_BASE64 : KERNELS_SIMD_BASE64);
}

/**
 * Compiles (once per variant) the kernel module: `shared = true` gives the threads variant that imports a shared
 * memory, `false` the SIMD-only variant for an ordinary memory.
 */
export function compileKernels(shared: boolean): Promise<WebAssembly.Module> {
  let m = compiled.get(shared);
  if (!m) {
    const variant = shared ? "threads" : "simd";
    m = WebAssembly.compile(wasmKernelBytes(variant)).catch((err: unknown) => {
      compiled.delete(shared);
      throw new Error(
        `this host refused to compile the WASM kernels (${
          (err as Error).message
        }); compile wasmKernelBytes("${variant}") ` +
          `ahead of time and pass it as selectBackend("wasm", { wasmModule })`,
        { cause: err },
      );
    });
    compiled.set(shared, m);
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
