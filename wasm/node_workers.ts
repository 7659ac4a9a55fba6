/**
 * Kernel workers on Node's `worker_threads`, for hosts without Web Workers (Node 20 has none):
 * `createWasmBackend({ workerFactory: nodeWorkerFactory })`. Only a Node entry point imports this file; the rest
 * of the runtime stays free of `node:` modules.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import type { WorkerFactory, WorkerLike } from "./threads.ts";

// Gives the worker body the `self` it expects: messages arrive as { data }, like a Web Worker's.
const SHIM = `const { parentPort } = require("node:worker_threads");
const self = {
  postMessage: (m) => parentPort.postMessage(m),
  // Node has parentPort.close(); hosts without it (Deno's node:worker_threads) end the thread by terminate().
  close: () => parentPort.close?.(),
  set onmessage(f) { parentPort.on("message", (data) => f({ data })); },
};
`;

/**
 * A {@link WorkerFactory} running the worker body in a `worker_threads` Worker (CommonJS eval).
 *
 * @example
 * ```ts
 * import { selectBackend } from "@perfmamba/perfmamba";
 * import { nodeWorkerFactory } from "@perfmamba/perfmamba/node";
 *
 * // Node 20 has no Web Workers: the WASM kernels' threads run on worker_threads instead.
 * const backend = await selectBackend("wasm", { threads: 2, workerFactory: nodeWorkerFactory });
 * console.log(backend.description); // WASM SIMD (128-bit, relaxed), 2 threads, shared memory …
 * backend.dispose(); // ends the threads
 * ```
 */
export const nodeWorkerFactory: WorkerFactory = (source: string): WorkerLike => {
  const worker = new Worker(SHIM + source, { eval: true });
  const like: WorkerLike = {
    onmessage: null,
    onerror: null,
    postMessage: (message) => worker.postMessage(message),
    terminate: () => void worker.terminate(),
  };
  worker.on("message", (data) => like.onmessage?.({ data }));
  worker.on("error", (e: Error) => like.onerror?.({ message: e.message, preventDefault() {} }));
  return like;
};
