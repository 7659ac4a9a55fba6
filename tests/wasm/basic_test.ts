/** Data movement, memory accounting, handle errors and the row-wise ops of the WASM backend. */

import assert from "node:assert/strict";
import { view } from "../../runtime/backend.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { compileKernels } from "../../wasm/module.ts";
import { assertClose, rand, sideBySide, testEachConfig } from "./_helpers.ts";
import { embedRef, gatedRmsNormRef, linearRef, rmsNormRef } from "./reference.ts";

testEachConfig("upload, read, zeros, copy, fill0, free and memory()", async (be) => {
  const data = rand(35, 1);
  const a = be.upload(data, [5, 7], "a");
  assert.deepEqual(a.shape, [5, 7]);
  assert.equal(a.size, 35);
  assert.deepEqual(await be.read(a), data);
  const z = be.zeros([3, 3], "z");
  assert.deepEqual(await be.read(z), new Float32Array(9));
  const c = be.copy(a, "c");
  be.fill0(a);
  assert.deepEqual(await be.read(a), new Float32Array(35));
  assert.deepEqual(await be.read(c), data);
  const live = be.memory().liveBytes;
  assert.equal(live, (35 + 9 + 35) * 4);
  be.free(a);
  assert.equal(be.memory().liveBytes, live - 35 * 4);
  assert.equal(be.memory().peakBytes, live);
  be.resetPeak();
  assert.equal(be.memory().peakBytes, live - 35 * 4);
  // A freed or foreign handle is a clear error naming the label.
  assert.throws(() => be.read(a), /tensor "a" was freed/);
  assert.throws(() => be.free(a), /"a" was freed/);
  assert.throws(() => be.add(z, { shape: [3, 3], size: 9, label: "alien" }), /"alien" does not belong/);
  const m = be.uploadMatrix(rand(6, 2), 2, 3, "W");
  be.free(m);
  assert.throws(() => be.linear(c, m), /matrix "W" was freed/);
  be.free(c);
  be.free(z);
  assert.equal(be.memory().liveBytes, 0);
  await be.sync();
});

testEachConfig("memory grows and keeps earlier tensors", async (be) => {
  const small = rand(1000, 3);
  const a = be.upload(small, [10, 100], "a");
  const big = be.zeros([5_000_000], "big"); // 20 MB: beyond the initial 16 MiB
  const w = be.uploadMatrix(rand(100 * 21, 4), 21, 100, "W");
  assert.deepEqual(await be.read(a), small);
  const y = be.linear(a, w);
  assertClose(await be.read(y), linearRef(small, rand(100 * 21, 4), null, 10, 21, 100), "linear after growth");
  be.free(big);
  // Freed space is reused (best fit), so a second big tensor does not raise the peak by another 20 MB.
  const peak = be.memory().peakBytes;
  const big2 = be.zeros([5_000_000], "big2");
  assert.equal(be.memory().peakBytes, peak);
  be.free(big2);
});

testEachConfig("linear: GEMM and GEMV on odd shapes, views, bias", async (be) => {
  const shapes: [number, number, number][] = [
    [1, 37, 29],
    [1, 256, 100],
    [2, 19, 8],
    [3, 64, 17],
    [4, 5, 3],
    [7, 45, 70],
    [13, 100, 9],
    [70, 33, 41],
    [131, 24, 130],
  ];
  for (const [T, k, n] of shapes) {
    const x = rand(T * k, T + k);
    const W = rand(n * k, n + 7);
    const bias = rand(n, n);
    const w = be.uploadMatrix(W, n, k, "W");
    const b = be.upload(bias, [n], "bias");
    const other = rand(T * 3, 9);
    const { tensor, views } = sideBySide(be, T, [other, x], "xs");
    const y1 = be.linear(views[1], w, b);
    assertClose(await be.read(y1), linearRef(x, W, bias, T, n, k), `linear ${T}×${k}×${n} (view, bias)`);
    const xt = be.upload(x, [T, k], "x");
    const y2 = be.linear(xt, w);
    assert.deepEqual(y2.shape, [T, n]);
    assertClose(await be.read(y2), linearRef(x, W, null, T, n, k), `linear ${T}×${k}×${n}`);
    for (const t of [w, b, tensor, xt, y1, y2]) be.free(t);
  }
  const w = be.uploadMatrix(rand(12, 1), 3, 4, "W34");
  const x = be.zeros([2, 5], "x25");
  assert.throws(() => be.linear(x, w), /linear\(W34\): input has 5 columns, matrix expects 4/);
});

testEachConfig("embed and gatherRows", async (be) => {
  const vocab = 29, d = 13;
  const table = rand(vocab * d, 5);
  const m = be.uploadMatrix(table, vocab, d, "embeddings");
  const ids = Int32Array.from([0, 28, 7, 8, 15, 16, 3]);
  const e = be.embed(ids, m);
  assert.deepEqual(e.shape, [ids.length, d]);
  assertClose(await be.read(e), embedRef(ids, table, d), "embed", 0);
  assert.throws(() => be.embed(Int32Array.from([1, 29]), m), /embed\(embeddings\): token id 29 at position 1/);
  assert.throws(() => be.embed(Int32Array.from([-1]), m), /token id -1/);
  const g = be.gatherRows(e, Int32Array.from([6, 0, 6]));
  const ref = [...table.subarray(3 * d, 4 * d), ...table.subarray(0, d), ...table.subarray(3 * d, 4 * d)];
  assertClose(await be.read(g), ref, "gatherRows", 0);
  assert.throws(() => be.gatherRows(e, Int32Array.from([7])), /row 7 outside \[0, 7\)/);
});

testEachConfig("rmsNorm, add, gatedRmsNorm", async (be) => {
  const T = 5, d = 37;
  const x = rand(T * d, 11, -3, 3), w = rand(d, 12);
  const xt = be.upload(x, [T, d], "x"), wt = be.upload(w, [d], "w");
  assertClose(await be.read(be.rmsNorm(xt, wt, 1e-5)), rmsNormRef(x, w, T, d, 1e-5), "rmsNorm");
  const y = rand(T * d, 13);
  const yt = be.upload(y, [T, d], "y");
  assertClose(await be.read(be.add(xt, yt)), Array.from(x, (v, i) => v + y[i]), "add", 1e-7);
  for (const [D, group] of [[24, 8], [24, 24], [30, 10], [6, 3]]) {
    const yy = rand(T * D, D, -2, 2), z = rand(T * D, D + 1, -4, 4), gw = rand(D, D + 2);
    const { views } = sideBySide(be, T, [rand(T * 2, 1), z], "zx");
    const out = be.gatedRmsNorm(be.upload(yy, [T, D], "y"), views[1], be.upload(gw, [D], "gw"), group, 1e-6);
    assertClose(await be.read(out), gatedRmsNormRef(yy, z, gw, T, D, group, 1e-6), `gatedRmsNorm D=${D} g=${group}`);
  }
  assert.throws(() => be.gatedRmsNorm(yt, view(xt), wt, 5, 1e-6), /groupSize 5 does not divide 37/);
});

Deno.test("wasm backend from a caller-supplied module (both variants) and dispose", async () => {
  for (const shared of [false, true]) {
    const be = await createWasmBackend({ module: await compileKernels(shared), threads: 2, minWorkPerThread: 0 });
    assert.equal(be.threads, shared ? 2 : 1, be.description);
    const x = rand(6 * 10, 1), W = rand(10 * 11, 2);
    const y = be.linear(be.upload(x, [6, 10], "x"), be.uploadMatrix(W, 11, 10, "W"));
    assertClose(await be.read(y), linearRef(x, W, null, 6, 11, 10), `linear (module, shared=${shared})`);
    be.dispose();
    assert.throws(() => be.read(y), /freed|dispose/);
    assert.throws(() => be.zeros([1], "z"), /after dispose/);
  }
});

testEachConfig("empty problems", async (be) => {
  const x = be.zeros([0, 5], "x0");
  const y = be.linear(x, be.uploadMatrix(rand(15, 1), 3, 5, "W"));
  assert.deepEqual(y.shape, [0, 3]);
  assert.equal((await be.read(y)).length, 0);
  assert.equal(be.embed(new Int32Array(0), be.uploadMatrix(rand(4, 1), 2, 2, "E")).size, 0);
});
