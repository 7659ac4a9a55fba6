/**
 * The backend's host-side caches: explicit bind group layouts generated from every kernel's WGSL, uniforms packed by
 * name, bind groups reused across repeated op sequences (uniforms still per dispatch), and cached bind groups dropped
 * with their buffers.
 */
import assert from "node:assert/strict";
import { KERNELS } from "../../kernels/generated/kernels.ts";
import { type KernelName, WGSL } from "../../kernels/generated/wgsl.ts";
import { layoutEntries, paramBytes, pipelineKey, writeParams } from "../../kernels/program.ts";
import { assertClose } from "../_assert.ts";
import { gpuTest, rand } from "./_gpu.ts";

Deno.test("layoutEntries: every kernel's generated layout is a dynamic-offset uniform, then its storage bindings", () => {
  for (const name of Object.keys(WGSL) as KernelName[]) {
    const e = layoutEntries(name);
    assert.equal(e[0].buffer?.type, "uniform", name);
    assert.equal(e[0].buffer?.hasDynamicOffset, true, name);
    assert.deepEqual(e.map((x) => x.binding), e.map((_, i) => i), `${name}: bindings 0..n contiguous`);
    // Read-only or read-write exactly as the WGSL declares each binding.
    const declared = [...WGSL[name].matchAll(/@binding\((\d+)\)\s*var<storage,\s*(read|read_write)>/g)];
    assert.equal(declared.length, e.length - 1, `${name}: storage bindings`);
    for (const [, b, access] of declared) {
      assert.equal(e[Number(b)].buffer?.type, access === "read" ? "read-only-storage" : "storage", `${name} @${b}`);
    }
  }
});

Deno.test("writeParams packs each field at its WGSL offset, zeroes the padding, refuses a record that differs; pipelineKey sorts constants", () => {
  // ssd_step's Params: 14 u32 then dt_min, dt_max as f32 (64 bytes bound).
  const names = KERNELS.ssd_step.params.map((f) => f.name);
  const record = Object.fromEntries(names.map((n, i) => [n, n.startsWith("dt_m") ? i + 0.5 : i]));
  const dv = new DataView(new ArrayBuffer(96));
  new Uint8Array(dv.buffer).fill(0xff);
  const size = paramBytes("ssd_step");
  writeParams(dv, 16, size, "ssd_step", "step", record as never);
  for (const f of KERNELS.ssd_step.params) {
    const got = f.type === "f32" ? dv.getFloat32(16 + f.offset, true) : dv.getUint32(16 + f.offset, true);
    assert.equal(got, record[f.name], f.name);
  }
  assert.deepEqual(
    new Uint8Array(dv.buffer, 16 + names.length * 4, size - names.length * 4),
    new Uint8Array(size - names.length * 4),
  );
  assert.deepEqual(
    new Uint8Array(dv.buffer, 16 + size),
    new Uint8Array(96 - 16 - size).fill(0xff),
    "bytes after untouched",
  );
  const { seq_len: _, ...missing } = record;
  assert.throws(
    () => writeParams(dv, 0, size, "ssd_step", "step", missing as never),
    /ssd_step \(step\): .*missing \[seq_len\]/,
  );
  assert.throws(
    () => writeParams(dv, 0, size, "ssd_step", "step", { ...record, extra: 1 } as never),
    /unknown \[extra\]/,
  );
  assert.throws(
    () => writeParams(dv, 0, size, "ssd_step", "step", { ...record, batch: -1 } as never),
    /batch = -1 is not a u32/,
  );
  assert.equal(pipelineKey("k", {}), "k");
  assert.equal(pipelineKey("k", { WG: 64 }), "k|WG=64");
  assert.equal(pipelineKey("k", { b: 2, a: 1 }), "k|a=1,b=2");
});

function hostLinear(x: Float32Array, w: Float32Array, m: number, n: number, k: number): Float32Array {
  const y = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += x[i * k + c] * w[j * k + c];
      y[i * n + j] = s;
    }
  }
  return y;
}

function hostRmsNorm(x: Float32Array, g: Float32Array, rows: number, cols: number, eps: number): Float32Array {
  const y = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += x[r * cols + c] ** 2;
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c] * inv * g[c];
  }
  return y;
}

gpuTest("bind groups: a repeated op sequence creates none; uniforms still differ per dispatch", async (be) => {
  const M = 3, K = 40, N = 24;
  const xh = rand(M * K, 1), gh = rand(K, 2, 0.5, 1.5), wh = rand(N * K, 3);
  const x = be.upload(xh, [M, K], "x"), g = be.upload(gh, [K], "g");
  const w = be.uploadMatrix(wh, N, K, "w");
  // Two rmsNorms with different eps inside one submit share a bind group shape but not their uniforms.
  const step = async (eps1: number, eps2: number) => {
    const a = be.rmsNorm(x, g, eps1);
    const b = be.rmsNorm(x, g, eps2);
    const y = be.linear(a, w);
    const out = [await be.read(a), await be.read(b), await be.read(y)];
    for (const t of [a, b, y]) be.free(t);
    return out;
  };
  const check = ([a, b, y]: Float32Array[], eps1: number, eps2: number) => {
    const ah = hostRmsNorm(xh, gh, M, K, eps1);
    assertClose(a, ah, `rmsNorm eps ${eps1}`, 1e-5, 1e-6);
    assertClose(b, hostRmsNorm(xh, gh, M, K, eps2), `rmsNorm eps ${eps2}`, 1e-5, 1e-6);
    assertClose(y, hostLinear(ah, wh, M, N, K), "linear", 1e-5, 1e-5);
  };
  // Warm-up: the pool hands the three same-bucket buffers out in a permuted order each step, so the first steps
  // see each assignment once.
  for (let i = 0; i < 3; i++) check(await step(1e-5, 50), 1e-5, 50);
  const before = { ...be.bindGroupStats };
  check(await step(50, 1e-5), 50, 1e-5); // same buffers, uniforms swapped
  check(await step(3, 0.5), 3, 0.5);
  assert.equal(be.bindGroupStats.misses, before.misses, "no bind group created by the repeats");
  assert.ok(be.bindGroupStats.hits >= before.hits + 6, JSON.stringify(be.bindGroupStats));
});

gpuTest("bind groups: destroyed buffers drop theirs; new buffers in their place give right results", async (be) => {
  const M = 2, K = 16, N = 8;
  const xh = rand(M * K, 4);
  const x = be.upload(xh, [M, K], "x");
  for (let round = 0; round < 3; round++) {
    const wh = rand(N * K, 10 + round);
    const w = be.uploadMatrix(wh, N, K, `w${round}`);
    const y = be.linear(x, w);
    const s = be.add(y, y);
    assertClose(await be.read(s), hostLinear(xh, wh, M, N, K).map((v) => 2 * v), `round ${round}`, 1e-5, 1e-5);
    be.free(y);
    be.free(s);
    be.free(w); // destroyed after the next submit (at once here: nothing recorded)
    be.trim(); // destroys the pooled buffers of y and s
  }
  const x2 = be.upload(rand(M * K, 5), [M, K], "x2");
  const z = be.add(x2, x);
  assertClose(await be.read(z), Array.from(rand(M * K, 5), (v, i) => v + xh[i]), "add after trims", 1e-6, 1e-6);
});
