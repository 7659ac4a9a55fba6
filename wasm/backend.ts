/**
 * The WebAssembly SIMD backend: every op runs in the AssemblyScript kernels of wasm/assembly/ on one linear
 * memory; tensors are blocks of that memory handed out by a JavaScript allocator; GEMM/GEMV, the scans and the
 * convolution are spread over Web Workers sharing the memory when the host allows threads.
 *
 * This file creates the backend (module, memory, workers); wasm/ops.ts implements the ops, wasm/heap.ts the
 * tensors, wasm/dispatch.ts the calls to the kernels and their spreading over the threads.
 *
 * @example
 * ```ts
 * import { createWasmBackend } from "./backend.ts";
 * const be = await createWasmBackend({ threads: 1 });
 * const x = be.upload(new Float32Array([1, 2, 3, 4]), [2, 2], "x");
 * const w = be.uploadMatrix(new Float32Array([1, 0, 0, 1]), 2, 2, "identity");
 * const y = be.linear(x, w);
 * console.log(await be.read(y)); // Float32Array [1, 2, 3, 4]
 * be.dispose();
 * ```
 *
 * @module
 */

import type { Backend } from "../runtime/backend.ts";
import { KernelDispatch } from "./dispatch.ts";
import { HEAP_BASE, WasmHeap } from "./heap.ts";
import {
  compileKernels,
  createMemory,
  instantiateKernels,
  KernelAbiError,
  type KernelExports,
  relaxedSimdSupported,
  threadsSupported,
} from "./module.ts";
import { type QuantMath, WasmBackend } from "./ops.ts";
import { controlBytes, type WorkerFactory, WorkerPool } from "./threads.ts";

/** Options of {@link createWasmBackend}. */
export interface WasmBackendOptions {
  /** Threads including the caller (default navigator.hardwareConcurrency capped at 8; 1 = no workers). */
  threads?: number;
  /**
   * A precompiled kernel module (for hosts that refuse to compile bytes). It may be either variant from
   * wasm/generated/kernels_wasm.ts; threads are used only with the threads variant and when workers can receive it.
   */
  module?: WebAssembly.Module;
  /**
   * Minimum work (multiply-adds) per thread before an op is spread over the workers (default 131072, about
   * 20–50 µs); tests set 0 to run even tiny shapes on every thread.
   */
  minWorkPerThread?: number;
  /**
   * Starts the kernel workers; default: Web Workers from a Blob URL. Node has no Web Workers: pass
   * `nodeWorkerFactory` from `wasm/node_workers.ts` (worker_threads) to use threads there.
   */
  workerFactory?: WorkerFactory;
  /**
   * How `linear` computes on a q8_0 / q4_0 matrix. "int8" (the default, on every build): llama.cpp's q8_0
   * activations — each input row quantized to 8-bit codes per block of 32 (scale max|x| / 127) and exact integer dot
   * products; each output moves from the exact product with the dequantized weights by at most
   * Σ_blocks (max|x_block| / 127)·(1/2 + 2^−15)·Σ|w_block| plus f32 rounding (wasm/assembly/quant_linear.ts). On
   * the relaxed build the one-token GEMV takes `i32x4.relaxed_dot_i8x16_i7x16_add_s` with the sign trick, elsewhere
   * the same codes go through the 16-bit kernels: the integer sums are exact, so the results are bit-identical on
   * every host, relaxed SIMD or not. true or "int16": 16-bit codes (scale max|x| / 32767, `i32x4.dot_i16x8_s`), bound
   * Σ_blocks (max|x_block| / 32767)·(1/2 + 2^−8)·Σ|w_block|, 258× tighter and slower. false: exact — the weights
   * dequantized to f32 in registers, results equal to the f32 kernels' on the dequantized matrix but for summation
   * order (slower).
   */
  quantActivations?: boolean | "int16" | "int8";
  /**
   * Relaxed SIMD (fused multiply-adds in the f32 kernels): `"auto"` (default) uses the relaxed build where the
   * host validates it ({@link relaxedSimdSupported}), `true` requires it ({@link RelaxedSimdUnsupportedError}
   * otherwise), `false` runs the baseline SIMD build. Ignored with a caller-supplied `module`, which reports its
   * own build. The backend's `relaxedSimd` and description say which ran.
   */
  relaxedSimd?: "auto" | boolean;
}

/**
 * `relaxedSimd: true` on a host that does not validate relaxed SIMD.
 *
 * @example
 * ```ts
 * import { createWasmBackend, RelaxedSimdUnsupportedError } from "./backend.ts";
 * try {
 *   const be = await createWasmBackend({ threads: 1, relaxedSimd: true });
 *   console.log(be.description); // "WASM SIMD (128-bit, relaxed), 1 thread, …"
 *   be.dispose();
 * } catch (e) {
 *   if (!(e instanceof RelaxedSimdUnsupportedError)) throw e;
 *   console.log("this host has no relaxed SIMD:", e.message);
 * }
 * ```
 */
export class RelaxedSimdUnsupportedError extends Error {
  override name = "RelaxedSimdUnsupportedError";
}

/**
 * Whether to run the relaxed-SIMD kernels: `want` as {@link WasmBackendOptions.relaxedSimd}, `supported` whether
 * the host validates relaxed SIMD. Throws {@link RelaxedSimdUnsupportedError} for `true` on a host without it.
 */
export function chooseRelaxedSimd(want: "auto" | boolean, supported: boolean): boolean {
  if (want !== "auto" && want !== true && want !== false) {
    throw new TypeError(`createWasmBackend: relaxedSimd must be "auto", true or false, got ${JSON.stringify(want)}`);
  }
  if (want === true && !supported) {
    throw new RelaxedSimdUnsupportedError(
      "createWasmBackend: relaxedSimd: true, but this host does not validate WebAssembly relaxed SIMD " +
        '(f32x4.relaxed_madd); use relaxedSimd: "auto" or false',
    );
  }
  return want === "auto" ? supported : want;
}

/** Byte offset of the worker control block (page 0 is reserved: offset 0 stays unused as a null pointer). */
const CONTROL_BASE = 1024;
/** Initial memory: 16 MiB. */
const INITIAL_PAGES = 256;
/** Most threads used by default. */
const DEFAULT_MAX_THREADS = 8;
/** Default minimum work (multiply-adds or equivalent) per thread worth a dispatch (dispatch costs ~10–30 µs). */
const MIN_WORK_PER_THREAD = 1 << 17;

/**
 * Creates the WASM backend. Threads (Web Workers on a shared memory) are used when `SharedArrayBuffer` exists,
 * the page is cross-origin isolated (browsers), and `threads` (default: hardwareConcurrency, at most 8) is > 1;
 * otherwise everything runs on the calling thread.
 */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<Backend & WasmBackendExtras> {
  const hw = typeof navigator !== "undefined" && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : 1;
  let threads = Math.max(1, Math.floor(opts.threads ?? Math.min(hw, DEFAULT_MAX_THREADS)));
  if (!threadsSupported(opts.workerFactory !== undefined)) threads = 1;
  let module: WebAssembly.Module;
  let memory: WebAssembly.Memory;
  let kernels: KernelExports;
  let shared: boolean;
  if (opts.module) {
    module = opts.module;
    // The caller's module may be either variant: try the shared memory first when threads are possible.
    try {
      if (!threadsSupported(opts.workerFactory !== undefined)) throw new Error("no shared memory");
      memory = createMemory(true, INITIAL_PAGES);
      kernels = instantiateKernels(module, memory);
      shared = true;
    } catch (err) {
      if (err instanceof KernelAbiError) throw err;
      memory = createMemory(false, INITIAL_PAGES);
      kernels = instantiateKernels(module, memory);
      shared = false;
      threads = 1;
    }
  } else {
    const relaxed = chooseRelaxedSimd(opts.relaxedSimd ?? "auto", relaxedSimdSupported());
    shared = threads > 1;
    module = await compileKernels(shared, relaxed);
    memory = createMemory(shared, INITIAL_PAGES);
    kernels = instantiateKernels(module, memory);
  }
  if (CONTROL_BASE + controlBytes(threads) > HEAP_BASE) throw new Error("control block overflows page 0");
  let pool: WorkerPool | null = null;
  if (threads > 1) {
    try {
      pool = await WorkerPool.create(module, memory, threads - 1, CONTROL_BASE, opts.workerFactory);
    } catch {
      pool = null; // e.g. the host cannot send a Module to a worker: stay single-threaded
    }
  }
  const dispatch = new KernelDispatch(kernels, pool, opts.minWorkPerThread ?? MIN_WORK_PER_THREAD);
  const backend = new WasmBackend(new WasmHeap(memory), dispatch, shared, quantMathOf(opts.quantActivations));
  backend.warmUp();
  return backend;
}

/** Extra methods of the WASM backend beyond {@link Backend}. */
export interface WasmBackendExtras {
  /** Threads used by parallel ops, the caller included. */
  readonly threads: number;
  /** The kernels are the relaxed-SIMD build (`WasmBackendOptions.relaxedSimd`). */
  readonly relaxedSimd: boolean;
  /** Restarts the peak measurement at the current live bytes. */
  resetPeak(): void;
  /** Kernel calls of the parallel ops each thread has run, the caller first: how the work was really spread. */
  callsPerThread(): number[];
  /** Median read bandwidth (bytes/s) of a SIMD sum over `bytes` bytes split across the threads. */
  streamBandwidth(bytes: number, reps: number): number;
  /** Same as dispose(), for `using`. */
  [Symbol.dispose](): void;
}

/** The backend's {@link QuantMath} for a `quantActivations` option (checked: a bad value names the option). */
function quantMathOf(v: WasmBackendOptions["quantActivations"]): QuantMath {
  if (v === undefined || v === "int8") return "int8";
  if (v === true || v === "int16") return "int16";
  if (v === false) return "f32";
  throw new TypeError(
    `createWasmBackend: quantActivations must be true, false, "int16" or "int8", got ${JSON.stringify(v)}`,
  );
}
