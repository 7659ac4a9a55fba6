/**
 * The WASM backend's own options (op conformance is tests/ops/): a caller-supplied compiled module of either variant
 * (single-threaded, or shared memory for threads), and dispose releasing it.
 */
import assert from "node:assert/strict";
import { createWasmBackend } from "../../wasm/backend.ts";
import { compileKernels } from "../../wasm/module.ts";
import { assertClose } from "../_assert.ts";
import { rand } from "../ops/data.ts";
import { linearRef } from "../ops/reference.ts";

Deno.test("wasm backend from a caller-supplied module (both variants) and dispose", async () => {
  for (const shared of [false, true]) {
    const be = await createWasmBackend({ module: await compileKernels(shared), threads: 2, minWorkPerThread: 0 });
    assert.equal(be.threads, shared ? 2 : 1, be.description);
    const x = rand(6 * 10, 1), W = rand(10 * 11, 2);
    const y = be.linear(be.upload(x, [6, 10], "x"), be.uploadMatrix(W, 11, 10, "W"));
    assertClose(await be.read(y), linearRef(x, W, null, 6, 11, 10), `linear (module, shared=${shared})`, 1e-5, 1e-6);
    be.dispose();
    assert.throws(() => be.read(y), /freed|dispose/);
    assert.throws(() => be.zeros([1], "z"), /after dispose/);
  }
});
