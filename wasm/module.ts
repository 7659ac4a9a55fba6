/**
 * Loading and instantiating the WASM kernels, and the typed signatures of their exports.
 *
 * Every kernel takes byte offsets into the single imported memory (`env.memory`) and sizes as i32; floats are
 * f32. Row strides are in floats.
 *
 * @module
 */

import { decodeBase64, KERNELS_SIMD_BASE64, KERNELS_THREADS_BASE64 } from "./generated/kernels_wasm.ts";

/** The exports of the kernel module (see wasm/assembly/ for the documentation of each). */
export interface KernelExports {
  /** Copy bytes (memmove). */
  copy_bytes(dst: number, src: number, bytes: number): void;
  /** out = a + b over n floats. */
  add(a: number, b: number, out: number, n: number): void;
  /** Zero bytes. */
  fill_zero(p: number, bytes: number): void;
  /** out[i, :] = x[rows[i], :]. */
  gather_rows(x: number, cols: number, rows: number, count: number, out: number): void;
  /** Gated RMSNorm, norm_before_gate = false. */
  gated_rms_norm(
    y: number,
    z: number,
    zStride: number,
    w: number,
    out: number,
    rows: number,
    d: number,
    groupSize: number,
    eps: number,
  ): void;
  /** RMSNorm. */
  rms_norm(x: number, w: number, out: number, rows: number, d: number, eps: number): void;
  /** Embedding gather from a packed matrix. */
  embed(ids: number, count: number, w: number, n: number, k: number, out: number): void;
  /** GEMM / GEMV on a packed matrix for rows [r0, r1) and panels [p0, p1). */
  linear(
    x: number,
    xStride: number,
    k: number,
    w: number,
    n: number,
    bias: number,
    out: number,
    outStride: number,
    r0: number,
    r1: number,
    p0: number,
    p1: number,
  ): void;
  /** Packs rows of a row-major matrix into 8-wide k-major panels. */
  pack_panels(src: number, rows: number, k: number, dst: number): void;
  /** Sum of a buffer (bandwidth probe). */
  stream_sum(p: number, bytes: number): number;
  /** Causal depthwise conv1d + SiLU for channels [c0, c1), updating the conv state. */
  conv1d(
    x: number,
    xStride: number,
    w: number,
    bias: number,
    state: number,
    out: number,
    wt: number,
    C: number,
    K: number,
    batch: number,
    seqLen: number,
    c0: number,
    c1: number,
  ): void;
  /** Mamba-1 selective scan for channels [d0, d1). */
  selective_scan(
    u: number,
    uS: number,
    delta: number,
    dS: number,
    A: number,
    B: number,
    bS: number,
    C: number,
    cS: number,
    Dskip: number,
    z: number,
    zS: number,
    state: number,
    out: number,
    D: number,
    N: number,
    batch: number,
    seqLen: number,
    d0: number,
    d1: number,
    scratch: number,
  ): void;
  /** Chunked Mamba-2 SSD for heads [h0, h1). */
  ssd_chunked(
    x: number,
    xS: number,
    dt: number,
    dtS: number,
    dtBias: number,
    A: number,
    B: number,
    bS: number,
    C: number,
    cS: number,
    Dskip: number,
    state: number,
    out: number,
    H: number,
    P: number,
    G: number,
    N: number,
    batch: number,
    seqLen: number,
    Q: number,
    dtMin: number,
    dtMax: number,
    h0: number,
    h1: number,
    scratch: number,
  ): void;
  /** Scratch bytes per thread of ssd_chunked. */
  ssd_scratch_bytes(Q: number, P: number, N: number): number;
  /** Recurrent Mamba-2 SSD step for heads [h0, h1). */
  ssd_step(
    x: number,
    xS: number,
    dt: number,
    dtS: number,
    dtBias: number,
    A: number,
    B: number,
    bS: number,
    C: number,
    cS: number,
    Dskip: number,
    state: number,
    out: number,
    H: number,
    P: number,
    G: number,
    N: number,
    batch: number,
    dtMin: number,
    dtMax: number,
    h0: number,
    h1: number,
  ): void;
}

/** Names of the kernel exports, in a fixed order (the worker protocol addresses them by index). */
export const KERNEL_NAMES: readonly (keyof KernelExports)[] = [
  "copy_bytes",
  "add",
  "fill_zero",
  "gather_rows",
  "gated_rms_norm",
  "rms_norm",
  "embed",
  "linear",
  "pack_panels",
  "stream_sum",
  "conv1d",
  "selective_scan",
  "ssd_chunked",
  "ssd_scratch_bytes",
  "ssd_step",
];

/** Maximum memory in 64 KiB pages (4 GiB, the wasm32 limit; the modules declare the same maximum). */
export const MAX_PAGES = 65536;

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

/** Instantiates the kernels on a memory (synchronous: the module is already compiled). */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
