/**
 * The fused decode GEMV (kernels/fused_gemv.wgsl through `fusedLinear`) at every row count the decode batch takes
 * it with (1, 2, 3, 5, 8: the kernel loads each weight once and keeps one accumulator per row, so each row's x,
 * output and residual index must be right), on every weight storage (f32, f16, q8_0, q4_0), against a float64
 * reference written from the definitions: y[m] = res[m] + W · (RMS norm per group of x[m] · nw) + bias. x is a view
 * inside a wider NaN-padded tensor (its row stride is not k, so a row read with the wrong stride poisons the result).
 * The conv epilogue (Mamba-1's in_proj) at those row counts is held to the unfused ops, whose GEMVs the op
 * conformance suite holds to its float64 reference at the same row counts: a synthetic Mamba-1 and Mamba-2 decoding
 * batches of 5 and 8, fused against unfused, on f32, f16 and q8_0 weights.
 */
import assert from "node:assert/strict";
import type { Matrix, QuantFormat } from "../../runtime/backend.ts";
import { MambaModel } from "../../runtime/model.ts";
import { makeConfig } from "../../runtime/presets.ts";
import { quantizeWeights } from "../../runtime/quantize.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";
import type { WebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { assertClose } from "../_assert.ts";
import { f16Rounded, quantWeights, rand, sideBySide } from "../ops/data.ts";
import { gpuTest } from "./_gpu.ts";

const ROWS = [1, 2, 3, 5, 8];
const K = 96, N = 37, GROUP = 32, EPS = 1e-5;

/** y (T, n) = res + W · (x normalised per group of `group` (none: 0), times nw) + bias, in float64. */
function fusedRef(
  x: Float32Array,
  W: Float32Array,
  bias: Float32Array | null,
  nw: Float32Array | null,
  group: number,
  res: Float32Array | null,
  T: number,
): Float64Array {
  const out = new Float64Array(T * N);
  const xn = new Float64Array(K);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < K; i++) xn[i] = x[t * K + i];
    if (nw) {
      for (let g0 = 0; g0 < K; g0 += group) {
        let ss = 0;
        for (let i = g0; i < g0 + group; i++) ss += xn[i] * xn[i];
        const r = 1 / Math.sqrt(ss / group + EPS);
        for (let i = g0; i < g0 + group; i++) xn[i] *= r * nw[i];
      }
    }
    for (let j = 0; j < N; j++) {
      let s = (bias ? bias[j] : 0) + (res ? res[t * N + j] : 0);
      for (let i = 0; i < K; i++) s += xn[i] * W[j * K + i];
      out[t * N + j] = s;
    }
  }
  return out;
}

/** The weight as stored on `be` in `format` ("f32": the backend's own f32 / f16 storage) and its values. */
function weight(be: WebGpuBackend, format: "f32" | QuantFormat): { m: Matrix; values: Float32Array } {
  if (format === "f32") {
    const w = rand(N * K, 7);
    return { m: be.uploadMatrix(w, N, K, "W"), values: be.f16Weights ? f16Rounded(w) : w };
  }
  const q = quantWeights(format, N, K, 11);
  return { m: be.uploadQuantizedMatrix(q.data, "W"), values: q.values };
}

async function checkRows(be: WebGpuBackend, format: "f32" | QuantFormat, storage: string): Promise<void> {
  const { m: w, values: W } = weight(be, format);
  const fusedLinear = be.fusedLinear!.bind(be);
  const bias = rand(N, 3), nwv = rand(K, 5, 0.5, 1.5);
  const b = be.upload(bias, [N], "bias"), nw = be.upload(nwv, [K], "nw");
  for (const T of ROWS) {
    // Rows of different magnitudes, so that a row's norm or output taken from another row shows.
    const x = rand(T * K, 100 + T).map((v, i) => v * (1 + Math.floor(i / K)));
    const resv = rand(T * N, 200 + T);
    const xv = sideBySide(be, T, [x], "x", { left: 5, right: 3 }).views[0];
    const res = be.upload(resv, [T, N], "res");
    const tag = `${storage} rows ${T}`;
    const plain = await be.read(fusedLinear(xv, w, null));
    assertClose(plain, fusedRef(x, W, null, null, 0, null, T), `${tag}: plain GEMV`, 1e-5, 1e-6);
    const one = await be.read(fusedLinear(xv, w, b, { norm: { weight: nw, eps: EPS, groupSize: K } }));
    assertClose(one, fusedRef(x, W, bias, nwv, K, null, T), `${tag}: RMS norm prologue, bias`, 1e-5, 1e-6);
    const grouped = await be.read(
      fusedLinear(xv, w, b, { norm: { weight: nw, eps: EPS, groupSize: GROUP }, residual: res }),
    );
    assertClose(
      grouped,
      fusedRef(x, W, bias, nwv, GROUP, resv, T),
      `${tag}: norm per group of ${GROUP}, bias, residual epilogue`,
      1e-5,
      1e-6,
    );
  }
}

for (const format of ["f32", "q8_0", "q4_0"] as const) {
  gpuTest(`fused GEMV, ${format} weights, rows ${ROWS.join(", ")}: = float64 reference`, async (be) => {
    await checkRows(be, format, format);
  });
}
gpuTest(`fused GEMV, f16 weights, rows ${ROWS.join(", ")}: = float64 reference`, async (be) => {
  assert.ok(be.f16Weights);
  await checkRows(be, "f32", "f16");
}, { f16Weights: true });

/** Batches 5 and 8 of a synthetic model: fused decode steps = unfused steps (logits), and the same states after. */
async function fusedEqualsUnfused(be: WebGpuBackend, model: MambaModel, what: string): Promise<void> {
  const V = model.config.vocabSize;
  for (const B of [5, 8]) {
    const prompts = Array.from({ length: B }, (_, b) => Array.from({ length: 6 }, (_, t) => (b * 13 + t * 7 + 1) % V));
    const f = (await model.prefill(prompts, { lastOnly: true })).state;
    const u = f.clone();
    for (let s = 0; s < 4; s++) {
      const ids = Array.from({ length: B }, (_, b) => (s * 17 + b * 5 + 3) % V);
      model.fusedDecode = true;
      const d0 = be.dispatchCount;
      const a = await model.step(ids, f);
      const d1 = be.dispatchCount;
      model.fusedDecode = false;
      const ref = await model.step(ids, u);
      model.fusedDecode = true;
      const fused = d1 - d0, plain = be.dispatchCount - d1;
      assert.ok(fused <= 4 * model.config.nLayer + 2, `${what} batch ${B}: ${fused} dispatches, not the fused step`);
      assert.ok(fused < plain, `${what} batch ${B}: fused ${fused} dispatches not below unfused ${plain}`);
      assertClose(a.data, ref.data, `${what} batch ${B} step ${s}: fused vs unfused logits`);
    }
    for (let l = 0; l < f.conv.length; l++) {
      assertClose(await be.read(f.conv[l]), await be.read(u.conv[l]), `${what} batch ${B} conv state ${l}`);
      assertClose(await be.read(f.ssm[l]), await be.read(u.ssm[l]), `${what} batch ${B} ssm state ${l}`);
    }
    f.dispose();
    u.dispose();
  }
}

for (const arch of ["mamba1", "mamba2"] as const) {
  const config = makeConfig(arch, { dModel: 64, nLayer: 2, vocabSize: 64 });
  for (const storage of ["f32", "f16", "q8_0"] as const) {
    gpuTest(
      `${arch} ${storage}: fused decode at batch 5 and 8 = unfused (norm prologue, conv epilogue)`,
      async (be) => {
        const weights = syntheticWeights(config, 9);
        using model = MambaModel.load(storage === "q8_0" ? quantizeWeights(weights, { bits: 8 }) : weights, be);
        if (storage === "q8_0") assert.equal(model.quantFormats.in_proj, "q8_0");
        await fusedEqualsUnfused(be, model, `${arch} ${storage}`);
      },
      { f16Weights: storage === "f16" },
    );
  }
}
