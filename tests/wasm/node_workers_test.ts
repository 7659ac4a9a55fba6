/**
 * The WASM backend's threads on Node's worker_threads (via Deno's node:worker_threads), the path Node 20 takes
 * since it has no Web Workers: a fixture's logits match transformers and the work really runs on 3 threads.
 */
import assert from "node:assert/strict";
import { createWasmBackend } from "../../wasm/backend.ts";
import { nodeWorkerFactory } from "../../wasm/node_workers.ts";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";

Deno.test("wasm threads on worker_threads: mamba2-groups logits match transformers", async () => {
  const be = await createWasmBackend({ threads: 3, workerFactory: nodeWorkerFactory, minWorkPerThread: 0 });
  try {
    assert.equal(be.threads, 3);
    assert.match(be.description, /3 threads/);
    const dir = fixtureDir("mamba2-groups");
    const golden = readGolden<FixtureGolden>(dir);
    using model = MambaModel.load(await loadWeights(dirSource(dir)), be);
    const { logits, state } = await model.prefill(golden.input_ids);
    state.dispose();
    assertClose(logits.data, golden.logits.flat(), "logits on worker_threads");
    // The work ran on 3 threads: the caller and both workers each completed kernel calls (counted by the worker
    // itself in its record of the shared control block), not just a pool of the configured size.
    const calls = be.callsPerThread();
    assert.equal(calls.length, 3);
    assert.ok(calls.every((n) => n > 0), `kernel calls per thread: [${calls}]`);
  } finally {
    be.dispose();
  }
});
