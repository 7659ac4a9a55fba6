/**
 * Edge readiness: the runtime (mod.ts and what it imports; no cli/) runs in a Deno Web Worker with no permissions
 * at all, and on a host that refuses to compile WebAssembly from bytes when the kernel module arrives precompiled.
 * Logits are checked against the fixtures' golden files (transformers' forward).
 */
import assert from "node:assert/strict";
import { wasmKernelBytes } from "../../mod.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import type { EdgeJob, EdgeResult } from "./_edge_worker.ts";

/** The files of a fixture checkpoint, as the worker (which may read nothing) receives them. */
function fixtureFiles(name: string): Record<string, Uint8Array> {
  const dir = fixtureDir(name);
  const files: Record<string, Uint8Array> = {};
  for (const file of ["config.json", "model.safetensors"]) files[file] = Deno.readFileSync(`${dir}/${file}`);
  return files;
}

/** Runs one job in a fresh permission-less worker and returns its answer. */
async function runInWorker(job: EdgeJob): Promise<EdgeResult> {
  // Deno's `deno.permissions` worker option (deno.json: "unstable": ["worker-options"]); the "dom" lib's
  // WorkerOptions type does not know it.
  const options = { type: "module", deno: { permissions: "none" } } as WorkerOptions;
  const worker = new Worker(new URL("./_edge_worker.ts", import.meta.url), options);
  try {
    const answer = new Promise<EdgeResult>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<EdgeResult>) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`worker failed: ${e.message}`));
      };
    });
    worker.postMessage(job);
    return await answer;
  } finally {
    worker.terminate();
  }
}

/** Asserts the worker ran without error, without any permission, and matched the fixture's golden logits. */
function assertGolden(result: EdgeResult, fixture: string, backend: string): void {
  assert.equal(result.error, undefined, `${fixture}: worker error: ${result.error}`);
  assert.deepEqual(Object.keys(result.permissions ?? {}).length, 7, "the worker reported no permission states");
  assert.equal(result.backend, backend);
  for (const [name, state] of Object.entries(result.permissions ?? {})) {
    assert.notEqual(state, "granted", `${name} permission is ${state} inside the worker`);
  }
  const golden = readGolden<FixtureGolden>(fixtureDir(fixture));
  assertClose(result.logits ?? [], golden.logits.flat(), `${fixture} logits in a permission-less worker`);
}

Deno.test("edge: permission-less worker, bytes compilation forbidden, precompiled SIMD module", async () => {
  const wasmModule = await WebAssembly.compile(wasmKernelBytes("simd"));
  for (const fixture of ["mamba1-tiny", "mamba2-tiny"]) {
    const golden = readGolden<FixtureGolden>(fixtureDir(fixture));
    const result = await runInWorker({
      files: fixtureFiles(fixture),
      inputIds: golden.input_ids,
      backend: "wasm",
      threads: 1,
      wasmModule,
      forbidCompile: true,
    });
    assert.equal(result.compileRefused, true, "the worker could still compile WebAssembly bytes");
    assertGolden(result, fixture, "wasm");
  }
});

Deno.test("edge: permission-less worker, precompiled threads module on 2 threads", async () => {
  const wasmModule = await WebAssembly.compile(wasmKernelBytes("threads"));
  const golden = readGolden<FixtureGolden>(fixtureDir("mamba2-groups"));
  const result = await runInWorker({
    files: fixtureFiles("mamba2-groups"),
    inputIds: golden.input_ids,
    backend: "wasm",
    threads: 2,
    wasmModule,
    forbidCompile: true,
  });
  assertGolden(result, "mamba2-groups", "wasm");
  assert.match(result.description ?? "", /2 threads/, `expected 2 threads, got "${result.description}"`);
});

Deno.test("edge: permission-less worker compiling its own kernels (default options)", async () => {
  const golden = readGolden<FixtureGolden>(fixtureDir("mamba1-tiny"));
  const result = await runInWorker({ files: fixtureFiles("mamba1-tiny"), inputIds: golden.input_ids, backend: "wasm" });
  assertGolden(result, "mamba1-tiny", "wasm");
});

Deno.test("edge: without a precompiled module, a host that forbids compiling bytes gets a clear error", async () => {
  const golden = readGolden<FixtureGolden>(fixtureDir("mamba1-tiny"));
  const result = await runInWorker({
    files: fixtureFiles("mamba1-tiny"),
    inputIds: golden.input_ids,
    backend: "wasm",
    threads: 1,
    forbidCompile: true,
  });
  assert.match(
    result.error ?? "",
    /refused to compile the WASM kernels \(Wasm code generation disallowed by embedder\)/,
  );
  assert.match(result.error ?? "", /selectBackend\("wasm", \{ wasmModule \}\)/);
});

Deno.test("edge: permission-less worker on WebGPU (any adapter, software ones included)", async () => {
  const golden = readGolden<FixtureGolden>(fixtureDir("mamba1-tiny"));
  const result = await runInWorker({
    files: fixtureFiles("mamba1-tiny"),
    inputIds: golden.input_ids,
    backend: "webgpu",
  });
  assertGolden(result, "mamba1-tiny", "webgpu");
});
