/**
 * A pool of Web Workers running the kernels on one shared `WebAssembly.Memory`, synchronised with Atomics on a
 * control block inside that memory, so a parallel op stays synchronous for the caller.
 *
 * Control block (Int32 words from `base`):
 *   [0] done counter, [1] error flag (a header of 64 bytes);
 *   per worker w, a record of 256 bytes at byte base + 64 + 256·w: [0] sequence number, [1] kernel index (−1: exit),
 *   [2] argument count, [3] kernel calls the worker has completed, then the arguments as f64 from byte 16 (at most
 *   {@link MAX_ARGS}).
 * The caller writes a record, bumps its sequence number and notifies; the worker (spinning briefly, then blocked
 * in Atomics.wait) runs the kernel and increments the done counter. The caller runs its own share meanwhile, then
 * waits for the counter (Atomics.wait where the host allows it, otherwise spinning, e.g. a browser main thread).
 *
 * @module
 */

import { KERNEL_NAMES, MAX_KERNEL_PARAMS } from "./generated/abi.ts";

/** Bytes of the control block before the first worker record (done counter, error flag, padding). */
const HEADER_BYTES = 64;
/** Bytes of one worker record. */
const RECORD_BYTES = 256;
/** Byte offset of the arguments (f64) in a record, after the sequence number, kernel index, argument count and calls. */
const ARGS_OFFSET = 16;
/** Maximum number of arguments of one kernel call: what fits in a record. */
export const MAX_ARGS = (RECORD_BYTES - ARGS_OFFSET) / 8;
if (MAX_KERNEL_PARAMS > MAX_ARGS) {
  throw new Error(`wasm/threads.ts: a kernel takes ${MAX_KERNEL_PARAMS} arguments, a worker record holds ${MAX_ARGS}`);
}

/** Bytes of control block needed for `workers` workers. */
export function controlBytes(workers: number): number {
  return HEADER_BYTES + RECORD_BYTES * workers;
}

/** Spin iterations before blocking (a few tens of µs: consecutive ops of a forward pass arrive faster). */
const SPIN = 4000;

/** One kernel call: export index in KERNEL_NAMES and its arguments. */
export interface KernelCall {
  /** Index of the kernel in KERNEL_NAMES. */
  fn: number;
  /** Arguments (numbers; pointers are byte offsets). */
  args: number[];
}

/**
 * The surface of a worker the pool needs: Web Workers have it; other hosts (Node's worker_threads) get it from
 * a small adapter such as `nodeWorkerFactory` in `node_workers.ts` (the npm package's `@perfmamba/perfmamba/node`).
 *
 * @example
 * ```ts
 * import type { WorkerLike } from "@perfmamba/perfmamba";
 *
 * // A Web Worker has this shape (its handlers take full MessageEvents, hence the cast).
 * const url = URL.createObjectURL(new Blob(["self.onmessage = (e) => self.postMessage(e.data * 2);"]));
 * const worker = new Worker(url, { type: "module" }) as unknown as WorkerLike;
 * const answer = await new Promise((resolve) => {
 *   worker.onmessage = (e) => resolve(e.data);
 *   worker.postMessage(21);
 * });
 * console.log(answer); // 42
 * worker.terminate();
 * URL.revokeObjectURL(url);
 * ```
 */
export interface WorkerLike {
  /** Sends a message (structured clone; a `WebAssembly.Module` and a shared memory must survive it). */
  postMessage(message: unknown): void;
  /** Called with each message from the worker. */
  onmessage: ((event: { data: unknown }) => void) | null;
  /** Called when the worker fails (script error, failed start). */
  onerror: ((event: { message: string; preventDefault(): void }) => void) | null;
  /** Stops the worker. */
  terminate(): void;
}

/**
 * Starts a worker running `source`, a classic script that talks through `self.onmessage` / `self.postMessage`.
 * Pass one as `selectBackend("wasm", { workerFactory })` where the host has no Web Workers (Node) or needs them
 * created its own way.
 *
 * @example
 * ```ts
 * import { selectBackend, type WorkerFactory, type WorkerLike } from "@perfmamba/perfmamba";
 *
 * let started = 0;
 * const workerFactory: WorkerFactory = (source) => {
 *   started++;
 *   const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
 *   return new Worker(url, { type: "module" }) as unknown as WorkerLike;
 * };
 * const backend = await selectBackend("wasm", { threads: 2, workerFactory });
 * console.log(backend.description, started); // WASM SIMD (128-bit, relaxed), 2 threads … 1
 * backend.dispose();
 * ```
 */
export type WorkerFactory = (source: string) => WorkerLike;

/** Web Workers from a Blob URL: Deno, browsers (cross-origin isolated for shared memory), Deno Deploy. */
export const webWorkerFactory: WorkerFactory = (source) => {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  try {
    return new Worker(url, { type: "module" }) as unknown as WorkerLike;
  } finally {
    // The worker has fetched its script once started; revoking now is safe in Deno and browsers.
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
};

/** Worker body (plain JS, no imports, so any host's worker can run it). */
const WORKER_SOURCE = `
const SPIN = ${SPIN};
self.onmessage = (event) => {
  const { module, memory, names, index, base } = event.data;
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const fns = names.map((name) => instance.exports[name]);
  const i32 = new Int32Array(memory.buffer, 0, (base + ${HEADER_BYTES} + ${RECORD_BYTES} * (index + 1)) >> 2);
  const f64 = new Float64Array(memory.buffer, 0, i32.length >> 1);
  const ctl = base >> 2;
  const rec = (base + ${HEADER_BYTES} + ${RECORD_BYTES} * index) >> 2;
  const argAt = (base + ${HEADER_BYTES} + ${RECORD_BYTES} * index + ${ARGS_OFFSET}) >> 3;
  self.postMessage("ready");
  let seen = 0;
  for (;;) {
    let seq = Atomics.load(i32, rec);
    for (let i = 0; i < SPIN && seq === seen; i++) seq = Atomics.load(i32, rec);
    while (seq === seen) {
      Atomics.wait(i32, rec, seen);
      seq = Atomics.load(i32, rec);
    }
    seen = seq;
    const fn = i32[rec + 1];
    if (fn < 0) break;
    const n = i32[rec + 2];
    const args = new Array(n);
    for (let i = 0; i < n; i++) args[i] = f64[argAt + i];
    try {
      fns[fn](...args);
      Atomics.add(i32, rec + 3, 1);
    } catch (err) {
      Atomics.store(i32, ctl + 1, 1);
      console.error("perfmamba wasm worker " + index + ": " + err);
    }
    Atomics.add(i32, ctl, 1);
    Atomics.notify(i32, ctl);
  }
  self.close();
};
`;

/** True when Atomics.wait may block this thread (false on a browser main thread). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Workers sharing one memory with the caller; the caller itself is thread 0. */
export class WorkerPool {
  readonly #workers: WorkerLike[];
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;
  readonly #base: number;
  readonly #block: boolean;
  #seq = 0;
  #disposed = false;

  private constructor(workers: WorkerLike[], memory: WebAssembly.Memory, base: number) {
    this.#workers = workers;
    this.#base = base;
    const words = (base + controlBytes(workers.length)) >> 2;
    this.#i32 = new Int32Array(memory.buffer, 0, words);
    this.#f64 = new Float64Array(memory.buffer, 0, words >> 1);
    this.#block = canBlock();
  }

  /**
   * Starts `count` workers on a shared memory, the control block at byte `base` (controlBytes(count) bytes,
   * zeroed, never moved). Rejects if a worker cannot receive the module (e.g. the host cannot clone it).
   */
  static async create(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    count: number,
    base: number,
    factory: WorkerFactory = webWorkerFactory,
  ): Promise<WorkerPool> {
    const workers: WorkerLike[] = [];
    try {
      const ready: Promise<void>[] = [];
      for (let index = 0; index < count; index++) {
        const worker = factory(WORKER_SOURCE);
        workers.push(worker);
        ready.push(
          new Promise<void>((resolve, reject) => {
            worker.onmessage = () => resolve();
            worker.onerror = (e) => {
              e.preventDefault();
              reject(new Error(`WASM worker ${index} failed to start: ${e.message}`));
            };
          }),
        );
        worker.postMessage({ module, memory, names: KERNEL_NAMES, index, base });
      }
      await Promise.all(ready);
    } catch (err) {
      for (const w of workers) w.terminate();
      throw err;
    }
    for (const w of workers) {
      w.onmessage = null;
      w.onerror = null;
    }
    return new WorkerPool(workers, memory, base);
  }

  /** Number of workers (threads besides the caller). */
  get size(): number {
    return this.#workers.length;
  }

  /** Kernel calls each worker has completed since it started (what proves the work ran on it). */
  callsPerWorker(): number[] {
    return this.#workers.map((_, w) =>
      Atomics.load(this.#i32, ((this.#base + HEADER_BYTES + RECORD_BYTES * w) >> 2) + 3)
    );
  }

  /**
   * Runs calls[0] on the caller and calls[1..] on workers 0.., returning when all are done. Throws if a worker's
   * kernel failed.
   */
  run(calls: KernelCall[], local: (call: KernelCall) => void): void {
    if (this.#disposed) throw new Error("WorkerPool: used after dispose()");
    const remote = calls.length - 1;
    if (remote > this.#workers.length) throw new Error("WorkerPool.run: more calls than threads");
    const i32 = this.#i32, ctl = this.#base >> 2;
    Atomics.store(i32, ctl, 0);
    Atomics.store(i32, ctl + 1, 0);
    this.#seq = (this.#seq + 1) | 0;
    for (let w = 0; w < remote; w++) {
      const { fn, args } = calls[w + 1];
      if (args.length > MAX_ARGS) throw new Error(`WorkerPool.run: ${args.length} arguments (max ${MAX_ARGS})`);
      const rec = (this.#base + HEADER_BYTES + RECORD_BYTES * w) >> 2;
      const argAt = (this.#base + HEADER_BYTES + RECORD_BYTES * w + ARGS_OFFSET) >> 3;
      i32[rec + 1] = fn;
      i32[rec + 2] = args.length;
      for (let i = 0; i < args.length; i++) this.#f64[argAt + i] = args[i];
      Atomics.store(i32, rec, this.#seq);
      Atomics.notify(i32, rec);
    }
    let localError: unknown = null;
    try {
      local(calls[0]);
    } catch (err) {
      localError = err;
    }
    let done = Atomics.load(i32, ctl);
    for (let i = 0; i < SPIN && done < remote; i++) done = Atomics.load(i32, ctl);
    while (done < remote) {
      if (this.#block) Atomics.wait(i32, ctl, done);
      done = Atomics.load(i32, ctl);
    }
    if (localError) throw localError;
    if (Atomics.load(i32, ctl + 1)) throw new Error("WASM worker kernel failed (see the worker's console output)");
  }

  /** Stops the workers. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#seq = (this.#seq + 1) | 0;
    for (let w = 0; w < this.#workers.length; w++) {
      const rec = (this.#base + HEADER_BYTES + RECORD_BYTES * w) >> 2;
      this.#i32[rec + 1] = -1;
      Atomics.store(this.#i32, rec, this.#seq);
      Atomics.notify(this.#i32, rec);
      this.#workers[w].terminate();
    }
  }
}
