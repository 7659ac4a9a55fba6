import assert from "node:assert/strict";
import { embedRef, gatedRmsNormRef, rmsNormRef } from "../wasm/reference.ts";
import { assertClose, gpuTest, rand, viewIn } from "./_gpu.ts";

gpuTest("add, rmsNorm, embed, gatherRows on odd shapes", async (be) => {
  const T = 7, d = 133;
  const a = rand(T * d, 1), b = rand(T * d, 2, -3, 3), w = rand(d, 3);
  const ta = be.upload(a, [T, d], "a"), tb = be.upload(b, [T, d], "b"), tw = be.upload(w, [d], "w");
  assertClose(await be.read(be.add(ta, tb)), a.map((v, i) => v + b[i]), "add", 0, 1e-6);
  assertClose(await be.read(be.rmsNorm(tb, tw, 1e-5)), rmsNormRef(b, w, T, d, 1e-5), "rmsNorm");
  // A row wider than the workgroup's 128 threads × several strides.
  const wide = rand(3 * 1000, 4, -10, 10), ww = rand(1000, 5);
  const y = be.rmsNorm(be.upload(wide, [3, 1000], "wide"), be.upload(ww, [1000], "ww"), 1e-6);
  assertClose(await be.read(y), rmsNormRef(wide, ww, 3, 1000, 1e-6), "rmsNorm wide");

  const vocab = 41, table = rand(vocab * d, 6);
  const ids = Int32Array.from([40, 0, 3, 3, 17]);
  const emb = be.uploadMatrix(table, vocab, d, "emb");
  assertClose(await be.read(be.embed(ids, emb)), embedRef(ids, table, d), "embed", 0, 0);
  assert.throws(() => be.embed(Int32Array.from([41]), emb), /outside/);

  const rows = Int32Array.from([6, 0, 3]);
  const g = await be.read(be.gatherRows(ta, rows));
  assertClose(g, embedRef(rows, a, d), "gatherRows", 0, 0);
});

for (const groups of [1, 4]) {
  gpuTest(`gatedRmsNorm with ${groups} group(s), z a view`, async (be) => {
    const T = 5, D = 96, gs = D / groups;
    const y = rand(T * D, 10, -2, 2), z = rand(T * D, 11, -4, 4), w = rand(D, 12);
    const { view: zv } = viewIn(be, z, T, D, 7, 30, "zxbcdt");
    const out = be.gatedRmsNorm(be.upload(y, [T, D], "y"), zv, be.upload(w, [D], "w"), gs, 1e-5);
    assertClose(await be.read(out), gatedRmsNormRef(y, z, w, T, D, gs, 1e-5), "gatedRmsNorm");
  });
}

gpuTest("zeros, copy, fill0, free, memory accounting and errors", async (be) => {
  const m0 = be.memory().liveBytes;
  const z = be.zeros([3, 5], "z");
  assert.deepEqual([...await be.read(z)], new Array(15).fill(0));
  const x = be.upload(rand(15, 1), [3, 5], "x");
  const c = be.copy(x, "c");
  be.fill0(x);
  assertClose(await be.read(c), rand(15, 1), "copy", 0, 0);
  assert.deepEqual([...await be.read(x)], new Array(15).fill(0));
  assert.ok(be.memory().liveBytes > m0);
  assert.ok(be.memory().peakBytes >= be.memory().liveBytes);
  for (const t of [z, x, c]) be.free(t);
  assert.equal(be.memory().liveBytes, m0);
  await assert.rejects(() => be.read(x), /used after free/);
  assert.throws(() => be.free(x), /freed twice/);
  // A pooled buffer comes back zero-filled from zeros() even after holding data.
  const y = be.upload(rand(15, 2), [3, 5], "y");
  be.free(y);
  assert.deepEqual([...await be.read(be.zeros([3, 5], "z2"))], new Array(15).fill(0));
});
