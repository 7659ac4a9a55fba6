/**
 * Running the kernels: direct calls with named argument records, and ops spread over the worker pool (one record
 * per thread; the caller runs the first) when the work is worth the dispatch.
 *
 * @module
 */

import {
  bindKernels,
  KERNEL_NAMES,
  kernelArgList,
  type KernelArgs,
  type KernelExports,
  type KernelName,
  type Kernels,
} from "./generated/abi.ts";
import type { KernelCall, WorkerPool } from "./threads.ts";

const KERNEL_INDEX: Record<string, number> = Object.fromEntries(KERNEL_NAMES.map((n, i) => [n, i]));

/** Splits [0, total) into at most `parts` contiguous ranges whose starts are multiples of `align`. */
export function split(total: number, parts: number, align: number): [number, number][] {
  const units = Math.ceil(total / align);
  const n = Math.max(1, Math.min(parts, units));
  const ranges: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const a = Math.min(total, Math.floor((units * i) / n) * align);
    const b = Math.min(total, Math.floor((units * (i + 1)) / n) * align);
    if (b > a) ranges.push([a, b]);
  }
  return ranges;
}

/** The kernels of one instance and the pool of workers running the same module on the same memory. */
export class KernelDispatch {
  /** The kernels taking named argument records, on the calling thread. */
  readonly k: Kernels;
  /** Threads used by parallel ops, the caller included. */
  readonly threads: number;
  readonly #raw: KernelExports;
  readonly #pool: WorkerPool | null;
  readonly #minWork: number;
  #callerCalls = 0;

  /** `minWork`: multiply-adds per thread below which fewer threads are used (0: always every thread). */
  constructor(raw: KernelExports, pool: WorkerPool | null, minWork: number) {
    this.#raw = raw;
    this.k = bindKernels(raw);
    this.#pool = pool;
    this.#minWork = minWork;
    this.threads = 1 + (pool?.size ?? 0);
  }

  /** Runs kernel `name` once per record, one per thread: on the pool, or sequentially when single-threaded. */
  parallel<K extends KernelName>(name: K, argsPerThread: KernelArgs[K][]): void {
    if (argsPerThread.length === 0) return; // empty problem
    const fn = this.#raw[name] as (...a: number[]) => void;
    if (argsPerThread.length === 1 || !this.#pool) {
      for (const a of argsPerThread) fn(...kernelArgList(name, a));
      this.#callerCalls += argsPerThread.length;
      return;
    }
    const index = KERNEL_INDEX[name];
    const calls: KernelCall[] = argsPerThread.map((a) => ({ fn: index, args: kernelArgList(name, a) }));
    this.#pool.run(calls, (c) => fn(...c.args));
    this.#callerCalls++;
  }

  /** Parallel kernel calls each thread has run: the caller first, then each worker of the pool. */
  callsPerThread(): number[] {
    return [this.#callerCalls, ...(this.#pool?.callsPerWorker() ?? [])];
  }

  /** Threads worth using for `work` multiply-adds. */
  threadsFor(work: number): number {
    return Math.max(1, Math.min(this.threads, this.#minWork > 0 ? Math.floor(work / this.#minWork) : Infinity));
  }

  /** Stops the workers. */
  dispose(): void {
    this.#pool?.dispose();
  }
}
