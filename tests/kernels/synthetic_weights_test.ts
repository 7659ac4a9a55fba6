/**
 * Synthetic weights generated on the device (kernels/synthetic_uniform.wgsl, `generateUniform` /
 * `generateUniformMatrix`): every buffer holds exactly the host generator's bytes — f32, f16 pairs (rows padded to
 * even, f16 subnormals and ties rounded to nearest even), matrices split over several buffers — for every
 * synthetic tensor of a Mamba-1 and a Mamba-2 preset; a model loaded from a synthetic source (generated on the
 * device) computes bit for bit the logits of the same weights uploaded from the host, and the WASM backend's
 * (host generator) logits within the model tolerance (1e-4 · max|logit| + 1e-5, as tests/kernels/model_test.ts).
 */
import assert from "node:assert/strict";
import type { SyntheticUniform } from "../../runtime/backend.ts";
import { makeConfig } from "../../runtime/presets.ts";
import { MambaModel } from "../../runtime/model.ts";
import { syntheticUniform, syntheticUniformOf, syntheticWeights } from "../../runtime/synthetic.ts";
import { syntheticSource } from "../../runtime/weight_source.ts";
import type { HostTensor } from "../../runtime/weights.ts";
import type { GpuMatrix, GpuTensor } from "../../kernels/gpu_tensors.ts";
import type { WebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { READBACK } from "../../kernels/gpu_flags.ts";
import { RAW_DISPATCH } from "../../kernels/dispatcher.ts";
import { syntheticUniformProgram } from "../../kernels/synthetic_weights.ts";
import type { Program } from "../../kernels/program.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { assertClose } from "../_assert.ts";
import { gpuTest } from "./_gpu.ts";

const M1 = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 96 });
const M2 = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 96, dState: 16, headDim: 16, nGroups: 2 });
// An odd k (f16 rows padded) and tensors whose rows split over several 4 KiB bindings.
const ODD = makeConfig("mamba1", { dModel: 37, nLayer: 1, vocabSize: 70 }); // dt_rank 3

/** The first `bytes` bytes of a buffer. */
async function readBytes(be: WebGpuBackend, buffer: GPUBuffer, bytes: number): Promise<Uint8Array> {
  await be.sync();
  const size = Math.ceil(bytes / 4) * 4;
  const staging = be.device.createBuffer({ size: Math.max(4, size), usage: READBACK });
  const enc = be.device.createCommandEncoder();
  if (size > 0) enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
  be.device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Uint8Array(staging.getMappedRange().slice(0, bytes));
  staging.unmap();
  staging.destroy();
  return out;
}

/** The bytes `uploadMatrix` stores for rows [r0, r0 + rows) of `data` (f32, or f16 rows padded to even). */
function expectedRows(data: Float32Array, k: number, r0: number, rows: number, f16: boolean): Uint8Array {
  const src = data.subarray(r0 * k, (r0 + rows) * k);
  if (!f16) return new Uint8Array(src.slice().buffer);
  const kp = k + (k % 2), out = new Float16Array(rows * kp);
  for (let r = 0; r < rows; r++) out.set(src.subarray(r * k, (r + 1) * k), r * kp);
  return new Uint8Array(out.buffer);
}

function assertBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} bytes, want ${want.length}`);
  const bad = got.findIndex((b, i) => b !== want[i]);
  assert.equal(bad, -1, `${what}: byte ${bad} is ${got[bad]}, want ${want[bad]}`);
}

/** Generate `t` from its recipe on the device and compare every stored byte with the host's values. */
async function checkTensor(be: WebGpuBackend, t: HostTensor, label: string, asMatrix: boolean): Promise<number> {
  const u = syntheticUniformOf(t);
  assert.ok(u, `${label}: a synthetic tensor has a recipe`);
  if (asMatrix) {
    const [n, k] = t.shape;
    const m = be.generateUniformMatrix(u, n, k, label) as GpuMatrix;
    const host = t.data; // made on the host now (the recipe is used up)
    assert.equal(syntheticUniformOf(t), null, `${label}: no recipe once read on the host`);
    for (const p of m.parts!) {
      const want = expectedRows(host, k, p.r0, p.rows, be.f16Weights);
      assertBytes(await readBytes(be, p.buffer, want.length), want, `${label}[${p.r0}:${p.r0 + p.rows}]`);
    }
    const parts = m.parts!.length;
    be.free(m);
    return parts;
  }
  const g = be.generateUniform(u, t.shape, label) as GpuTensor;
  const want = new Uint8Array(t.data.slice().buffer);
  assertBytes(await readBytes(be, g.buffer!, want.length), want, label);
  be.free(g);
  return 1;
}

const MATRICES = ["inProj", "xProj", "dtProj", "outProj"] as const;
const VECTORS = ["convWeight", "convBias"] as const;

for (const f16Weights of [false, true]) {
  gpuTest(
    `synthetic weights generated on the device == the host generator's bytes (${f16Weights ? "f16" : "f32"})`,
    async (be) => {
      let parts = 0, tensors = 0;
      for (const config of [M1, M2, ODD]) {
        const source = syntheticSource(config, 11);
        for (let l = 0; l < config.nLayer; l++) {
          const layer = source.layer(l) as unknown as Record<string, HostTensor | null>;
          for (const name of [...MATRICES, ...VECTORS]) {
            const t = layer[name];
            if (!t) continue;
            parts += await checkTensor(
              be,
              t,
              `${config.arch} d${config.dModel} layers.${l}.${name}`,
              !VECTORS.includes(name as never),
            );
            tensors++;
          }
        }
        parts += await checkTensor(be, source.embedding() as HostTensor, `${config.arch} embedding`, true);
        tensors++;
      }
      // Every synthetic tensor kind of both architectures was checked, and the 4 KiB bindings split the matrices.
      // Mamba-1: 4 matrices + conv weight and bias per layer; Mamba-2: 2 + 2; and each embedding.
      assert.equal(tensors, 2 * 6 + 2 * 4 + 1 * 6 + 3, "tensors checked");
      assert.ok(parts > tensors + 10, `${parts} parts over ${tensors} tensors: matrices split over bindings`);
    },
    { maxBindingSize: 4096, f16Weights },
  );
}

gpuTest(
  "f16 storage rounds as Float16Array: subnormals, ties to even, odd rows, counters wrapping past 2³²",
  async (be) => {
    // Half-ranges from deep in the f16 subnormals to near its largest finite value; the key near 2³² wraps.
    const cases: [number, number][] = [[1e-7, 7], [3e-5, 0xfffffff0], [6.1e-5, 3], [0.75, 12345], [1, 9], [60000, 5]];
    for (const [half, key] of cases) {
      const u: SyntheticUniform = { key, scale: Math.fround(half) };
      const n = 33, k = 257; // odd k: each row padded to 258
      const host = new Float32Array(n * k);
      syntheticUniform(host, key, 0, u.scale);
      const m = be.generateUniformMatrix(u, n, k, `scale ${half}`) as GpuMatrix;
      for (const p of m.parts!) {
        const want = expectedRows(host, k, p.r0, p.rows, true);
        assertBytes(await readBytes(be, p.buffer, want.length), want, `scale ${half} rows ${p.r0}+`);
      }
      be.free(m);
    }
  },
  { f16Weights: true, maxBindingSize: 4096 },
);

gpuTest("generateUniform names the tensor for a bad key or scale", (be) => {
  assert.throws(() => be.generateUniform({ key: -1, scale: 1 }, [4], "w.bad"), /generateUniform\(w\.bad\): key -1/);
  assert.throws(
    () => be.generateUniformMatrix({ key: 1, scale: 0.1 }, 2, 2, "m.bad"),
    /m\.bad\): scale 0\.1 is not a finite f32/,
  );
  assert.throws(() => be.generateUniformMatrix({ key: 1, scale: 1 }, 2, -2, "m.shape"), /m\.shape/);
  return Promise.resolve();
});

for (const f16Weights of [false, true]) {
  gpuTest(
    `a synthetic model generated on the device == uploaded from the host; == WASM (${f16Weights ? "f16" : "f32"})`,
    async (be) => {
      using wasm = await createWasmBackend({ threads: 1 });
      for (const config of [M1, M2]) {
        const ids = [[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]];
        const dispatches = be.dispatchCount;
        using generated = MambaModel.fromSource(syntheticSource(config, 4), be);
        // Every matrix and uniform vector came from a kernel: 4 (Mamba-1) / 2 (Mamba-2) matrices and 1–2 vectors
        // per layer, the embedding and the lm_head.
        const perLayer = config.arch === "mamba1" ? 4 + 2 : 2 + 1;
        assert.ok(be.dispatchCount - dispatches >= config.nLayer * perLayer + 1, "weights generated by kernels");
        // The same weights made on the host first (reading `data` uses up the recipe): uploaded.
        const host = syntheticWeights(config, 4);
        for (const l of host.layers) {
          for (const t of Object.values(l)) if (t && typeof t === "object" && "data" in t) void t.data;
        }
        void host.embedding.data;
        const before = be.dispatchCount;
        using uploaded = MambaModel.load(host, be);
        assert.equal(be.dispatchCount, before, "uploaded weights run no kernel");
        using cpu = MambaModel.fromSource(syntheticSource(config, 4), wasm);
        const [a, b, c] = [await generated.prefill(ids), await uploaded.prefill(ids), await cpu.prefill(ids)];
        for (const r of [a, b, c]) r.state.dispose();
        assert.deepEqual(a.logits.data, b.logits.data, `${config.arch}: generated == uploaded, bit for bit`);
        if (!f16Weights) assertClose(a.logits.data, c.logits.data, `${config.arch} webgpu vs wasm`, 1e-4, 1e-5);
      }
    },
    { f16Weights },
  );
}

for (const f16 of [false, true]) {
  gpuTest(
    `the generator's 16-byte stores leave the words past the tensor as they were (${f16 ? "f16" : "f32"})`,
    async (be) => {
      // Word counts 1 … 9 (every remainder mod 4) in a 48-byte buffer filled with a pattern first.
      const key = 0x9e3779b9, scale = Math.fround(0.25), k = 3; // f16: rows of 3 padded to 4 (2 words a row)
      for (let words = 1; words <= 9; words++) {
        const buffer = be.device.createBuffer({
          size: 48,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        });
        const pattern = new Uint32Array(12).fill(0xa5a5a5a5);
        be.device.queue.writeBuffer(buffer, 0, pattern);
        (be as unknown as { [RAW_DISPATCH](p: Program): void })[RAW_DISPATCH](
          syntheticUniformProgram({ buffer, offset: 0, size: words * 4 }, words, key, 0, scale, f16, k),
        );
        const got = new Uint32Array((await readBytes(be, buffer, 48)).buffer);
        const want = pattern.slice();
        if (f16) {
          const rows = words / 2; // may be fractional: the last word holds a row's first two columns
          const host = new Float32Array(Math.ceil(rows) * k);
          syntheticUniform(host, key, 0, scale);
          want.set(new Uint32Array(expectedRows(host, k, 0, Math.ceil(rows), true).buffer).subarray(0, words));
        } else {
          const host = new Float32Array(words);
          syntheticUniform(host, key, 0, scale);
          want.set(new Uint32Array(host.buffer));
        }
        assert.deepEqual([...got], [...want], `${words} words`);
        buffer.destroy();
      }
    },
  );
}
