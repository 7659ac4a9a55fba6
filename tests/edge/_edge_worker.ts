/**
 * Worker body of tests/edge/deno_worker_test.ts: runs the runtime (mod.ts, no cli/) inside a Deno Web Worker
 * started with `permissions: "none"`. Everything it needs arrives by message: the checkpoint's files, the token ids
 * and optionally a precompiled kernel module. With `forbidCompile` it first disables every way of compiling
 * WebAssembly from bytes, as Cloudflare Workers do ("Wasm code generation disallowed by embedder"), so only a
 * passed-in `WebAssembly.Module` can work.
 */
/// <reference lib="deno.worker" />
import { type BackendKind, loadWeights, MambaModel, memorySource, selectBackend } from "../../mod.ts";

/** What the test sends. */
export interface EdgeJob {
  files: Record<string, Uint8Array>;
  inputIds: number[];
  backend: BackendKind;
  threads?: number;
  wasmModule?: WebAssembly.Module;
  forbidCompile?: boolean;
}

/** What the worker answers. */
export interface EdgeResult {
  logits?: number[];
  backend?: string;
  description?: string;
  /** Deno.permissions states seen inside the worker. */
  permissions?: Record<string, string>;
  /** Whether compiling bytes was refused (forbidCompile only). */
  compileRefused?: boolean;
  error?: string;
}

const DISALLOWED = "Wasm code generation disallowed by embedder";

/** Make every byte-compiling WebAssembly entry point throw; instantiating a Module stays allowed. */
function forbidCompilingBytes(): void {
  const wa = WebAssembly as unknown as Record<string, unknown>;
  const refuse = () => Promise.reject(new WebAssembly.CompileError(DISALLOWED));
  const instantiate = WebAssembly.instantiate.bind(WebAssembly);
  wa.compile = refuse;
  wa.compileStreaming = refuse;
  wa.instantiateStreaming = refuse;
  wa.instantiate = (source: unknown, imports?: WebAssembly.Imports) =>
    source instanceof WebAssembly.Module ? instantiate(source, imports) : refuse();
  wa.Module = function () {
    throw new WebAssembly.CompileError(DISALLOWED);
  };
}

self.onmessage = async (event: MessageEvent<EdgeJob>) => {
  const job = event.data;
  const result: EdgeResult = {};
  try {
    result.permissions = {};
    for (const name of ["read", "write", "net", "env", "run", "ffi", "sys"] as const) {
      result.permissions[name] = Deno.permissions.querySync({ name }).state;
    }
    if (job.forbidCompile) {
      forbidCompilingBytes();
      result.compileRefused = await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))
        .then(() => false, () => true);
    }
    const backend = await selectBackend(job.backend, {
      threads: job.threads,
      wasmModule: job.wasmModule,
      allowFallbackAdapter: true,
    });
    try {
      const model = MambaModel.load(await loadWeights(memorySource(job.files)), backend);
      const { logits, state } = await model.prefill(job.inputIds);
      result.logits = Array.from(logits.data);
      result.backend = backend.name;
      result.description = backend.description;
      state.dispose();
      model.dispose();
    } finally {
      backend.dispose();
    }
  } catch (err) {
    result.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  self.postMessage(result);
};
