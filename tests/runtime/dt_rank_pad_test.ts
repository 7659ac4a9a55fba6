/**
 * Mamba-1's Δ rank zero-padded to whole 32-weight blocks (runtime/dt_rank_pad.ts), so dt_proj quantizes: the padded
 * model computes the same function (the float64 reference bit for bit, the WASM kernels to f32 reassociation, both
 * against transformers' golden logits), quantizeWeights pads exactly when dt_proj is to be quantized, the padding
 * survives a checkpoint and a GGUF export with shapes consistent with llama.cpp's Mamba loader, and the weight
 * memory of the 130m / 2.8b shapes.
 */
import assert from "node:assert/strict";
import { checkpointFiles } from "../../runtime/checkpoint_write.ts";
import { loadCheckpoint, loadWeights, memorySource, toHostWeights, toModelWeights } from "../../runtime/checkpoint.ts";
import { parseConfig } from "../../runtime/config_parse.ts";
import { componentWeightBytes, quantizedMatrixBytes, total } from "../../runtime/cost.ts";
import { paddedDtRank, padDtRank, padDtRankConfig } from "../../runtime/dt_rank_pad.ts";
import { parseGguf } from "../../runtime/gguf.ts";
import { ggufCheckpoint, ggufFromWeights } from "../../runtime/gguf_mamba.ts";
import { modelFootprint } from "../../runtime/memory_check.ts";
import { MambaModel } from "../../runtime/model.ts";
import { presetConfig } from "../../runtime/presets.ts";
import { dequantizeWeights, quantizedMatrixNames, quantizeWeights } from "../../runtime/quantize.ts";
import { isQuantized, type Mamba1LayerWeights, type MambaWeights } from "../../runtime/weights.ts";
import type { HostMatrix } from "../../runtime/weights.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { gpuTest } from "../kernels/_gpu.ts";
import { referenceForward } from "../_reference_forward.ts";

/** Logits on WASM, 1 thread; quantized matrices on the exact kernels (dequantized in registers). */
async function wasmLogits(weights: MambaWeights<HostMatrix>, ids: number[]): Promise<Float32Array> {
  const backend = await createWasmBackend({ threads: 1, quantActivations: false });
  const model = MambaModel.load(weights, backend);
  try {
    const { logits, state } = await model.prefill(ids);
    state.dispose();
    return logits.data;
  } finally {
    model.dispose();
    backend.dispose();
  }
}

Deno.test("padDtRank: zero rows in x_proj's δ part, zero columns in dt_proj, everything else shared", async () => {
  const w = await loadWeights(dirSource(fixtureDir("mamba1-tiny")));
  const p = padDtRank(w);
  const R = w.config.dtRank, R2 = p.config.dtRank, N = w.config.dState, D = w.config.dInner;
  assert.deepStrictEqual([R, R2, p.config.dtRankPaddedFrom], [4, 32, 4]);
  for (let l = 0; l < w.layers.length; l++) {
    const a = w.layers[l] as Mamba1LayerWeights, b = p.layers[l] as Mamba1LayerWeights;
    assert.deepStrictEqual(b.xProj.shape, [R2 + 2 * N, D]);
    assert.deepStrictEqual(b.dtProj.shape, [D, R2]);
    const row = (m: Float32Array, r: number) => Array.from(m.subarray(r * D, (r + 1) * D));
    for (let r = 0; r < R; r++) assert.deepStrictEqual(row(b.xProj.data, r), row(a.xProj.data, r));
    for (let r = R; r < R2; r++) assert(row(b.xProj.data, r).every((v) => Object.is(v, 0)), `x_proj row ${r}`);
    for (let r = 0; r < 2 * N; r++) assert.deepStrictEqual(row(b.xProj.data, R2 + r), row(a.xProj.data, R + r));
    for (let i = 0; i < D; i++) {
      for (let j = 0; j < R2; j++) {
        assert(Object.is(b.dtProj.data[i * R2 + j], j < R ? a.dtProj.data[i * R + j] : 0), `dt_proj [${i}, ${j}]`);
      }
    }
    assert(b.aLog === a.aLog && b.inProj === a.inProj && b.dtProjBias === a.dtProjBias && b.outProj === a.outProj);
  }
  // Nothing to pad: a multiple of 32, Mamba-2, Falcon-Mamba (its δ norm averages over R).
  const m2 = await loadWeights(dirSource(fixtureDir("mamba2-tiny")));
  assert.equal(padDtRank(m2), m2);
  const falcon = await loadWeights(dirSource(fixtureDir("falcon-mamba-tiny")));
  assert(falcon.config.dtRank % 32 !== 0, "the Falcon fixture must have a rank padding would change");
  assert.equal(padDtRank(falcon), falcon);
  assert.equal(padDtRank(p), p);
  assert.equal(paddedDtRank(presetConfig("mamba1", "130m")), 64);
  assert.equal(paddedDtRank(presetConfig("mamba1", "2.8b")), 160);
});

Deno.test("padDtRank: the same function — float64 reference bit for bit, WASM within f32 reassociation, both on golden", async () => {
  for (const fixture of ["mamba1-tiny", "ssm-mamba1-tiny"]) {
    const dir = fixtureDir(fixture);
    const golden = readGolden<FixtureGolden>(dir);
    const w = await loadWeights(dirSource(dir));
    const p = padDtRank(w);
    assert(p !== w, fixture);
    // Exact arithmetic: the padded sums add exact zeros at their ends, so float64 gives the same bits.
    const ref = referenceForward(w, golden.input_ids), refPadded = referenceForward(p, golden.input_ids);
    assert.deepStrictEqual(refPadded, ref, `${fixture}: float64 reference, padded vs unpadded`);
    const a = await wasmLogits(w, golden.input_ids), b = await wasmLogits(p, golden.input_ids);
    // The kernels may group dt_proj's non-zero terms differently for k = 32 than for k = 4: f32 reassociation of a
    // 4-term sum, far inside the fixtures' f32 tolerance; measured here it is exact.
    let maxDiff = 0, maxAbs = 0;
    for (let i = 0; i < a.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      maxAbs = Math.max(maxAbs, Math.abs(a[i]));
    }
    assert(maxDiff <= 1e-6 * maxAbs, `${fixture}: WASM padded vs unpadded max |Δ| ${maxDiff} (max |logit| ${maxAbs})`);
    assertClose(b, golden.logits.flat(), `${fixture} padded vs transformers`);
  }
});

Deno.test("quantizeWeights pads the Δ rank exactly when dt_proj is to be quantized; the padded q8 model stays close to f32", async () => {
  const golden = readGolden<FixtureGolden>(fixtureDir("mamba1-tiny"));
  const w = await loadWeights(dirSource(fixtureDir("mamba1-tiny")));
  const q8 = quantizeWeights(w, { bits: 8 });
  assert.deepStrictEqual([q8.config.dtRank, q8.config.dtRankPaddedFrom], [32, 4]);
  assert(quantizedMatrixNames(q8).includes("layers.0.dt_proj"));
  const l0 = q8.layers[0] as Mamba1LayerWeights<HostMatrix>;
  assert(isQuantized(l0.dtProj) && l0.dtProj.k === 32 && isQuantized(l0.xProj) && l0.xProj.n === 32 + 2 * 16);
  // Kept dt_proj: nothing padded, the config untouched.
  const kept = quantizeWeights(w, { bits: 8, keep: ["dt_proj"] });
  assert.equal(kept.config, w.config);
  assert(!quantizedMatrixNames(kept).some((n) => n.endsWith("dt_proj")));
  // The quantized model's logits (exact kernels) equal those of its own dequantized weights to f32 summation order,
  // and stay near f32's.
  const logits = await wasmLogits(q8, golden.input_ids);
  const f32 = await wasmLogits(w, golden.input_ids);
  let num = 0, den = 0;
  for (let i = 0; i < f32.length; i++) {
    num = Math.max(num, Math.abs(logits[i] - f32[i]));
    den = Math.max(den, Math.abs(f32[i]));
  }
  assert(num / den < 0.02, `q8 with dt_proj quantized vs f32: relative ${num / den}`);
  const deq = await wasmLogits(dequantizeWeights(q8), golden.input_ids);
  assertClose(logits, deq, "q8 vs its dequantized f32");
});

Deno.test("a padded quantized checkpoint: dt_rank_padded_from round-trips; GGUF export keeps shapes llama.cpp's loader derives from time_step_rank", async () => {
  const w = await loadWeights(dirSource(fixtureDir("mamba1-tiny")));
  const q8 = quantizeWeights(w, { bits: 8 });
  const files = checkpointFiles(q8);
  const json = JSON.parse(files["config.json"]);
  assert.deepStrictEqual([json.time_step_rank, json.dt_rank_padded_from], [32, 4]);
  const back = toModelWeights(await loadCheckpoint(memorySource(files)));
  assert.deepStrictEqual([back.config.dtRank, back.config.dtRankPaddedFrom], [32, 4]);
  const l = back.layers[0] as Mamba1LayerWeights<HostMatrix>;
  assert(isQuantized(l.dtProj) && l.dtProj.k === 32);
  // A rank "padded from" at least the rank itself is refused by name.
  assert.throws(
    () => parseConfig({ ...json, dt_rank_padded_from: 32 }, "config.json"),
    /dt_rank_padded_from.*not less than time_step_rank 32/,
  );
  // GGUF (the padded f32 values; Q8_0 export): llama.cpp's Mamba loader takes dt_rank from ssm.time_step_rank and
  // creates ssm_x as {d_inner, dt_rank + 2·d_state} and ssm_dt as {dt_rank, d_inner} (ggml order): the file must
  // agree with itself, and dt_proj now holds whole Q8_0 blocks.
  const f32 = toHostWeights(await loadCheckpoint(memorySource(files)));
  const gguf = parseGguf(ggufFromWeights(f32, { tensorType: "Q8_0" }), "padded.gguf");
  const meta = (k: string) => Number(gguf.metadata.get(k)?.value);
  const R = meta("mamba.ssm.time_step_rank");
  const D = meta("mamba.ssm.inner_size"), N = meta("mamba.ssm.state_size");
  assert.deepStrictEqual([R, D, N], [32, 128, 16]);
  const t = new Map(gguf.tensors.map((x) => [x.name, x]));
  assert.deepStrictEqual(t.get("blk.0.ssm_x.weight")?.dims, [D, R + 2 * N]);
  assert.deepStrictEqual(t.get("blk.0.ssm_dt.weight")?.dims, [R, D]);
  assert.equal(t.get("blk.0.ssm_dt.weight")?.type, "Q8_0");
  // And an F32 export of the padded model loads back as the same function (the Q8_0 file also quantizes the
  // embedding, so it is not the checkpoint's function).
  const golden = readGolden<FixtureGolden>(fixtureDir("mamba1-tiny"));
  const f32File = ggufCheckpoint(parseGguf(ggufFromWeights(f32, { tensorType: "F32" }), "padded-f32.gguf"));
  const fromGguf = toModelWeights(f32File);
  assert.deepStrictEqual([fromGguf.config.dtRank, (fromGguf.layers[0] as Mamba1LayerWeights).dtProj.shape], [32, [
    128,
    32,
  ]]);
  assertClose(
    await wasmLogits(fromGguf, golden.input_ids),
    await wasmLogits(f32, golden.input_ids),
    "GGUF F32 vs checkpoint",
  );
});

Deno.test("weight memory of the 130m and 2.8b shapes with the Δ rank padded: Mamba-1 130m q8 0.2806× → 0.2730×", () => {
  type F = "q8_0" | "q4_0";
  // Every quantizable matrix in blocks (the measure), against the unpadded model's f32 bytes.
  const ratio = (arch: "mamba1" | "mamba2", size: string, f: F) => {
    const c = presetConfig(arch, size), p = padDtRankConfig(c);
    const kinds: Record<string, F> = { in_proj: f, x_proj: f, out_proj: f, embedding: f, lm_head: f };
    if (p.dtRank % 32 === 0) kinds.dt_proj = f;
    return total(componentWeightBytes(p, quantizedMatrixBytes(4, kinds))) / total(componentWeightBytes(c));
  };
  assert.equal(ratio("mamba1", "130m", "q8_0").toFixed(4), "0.2730");
  assert.equal(ratio("mamba1", "130m", "q4_0").toFixed(4), "0.1477");
  // 2.8b's dt_rank 160 is whole blocks already: nothing padded, the ratios as before.
  const big = presetConfig("mamba1", "2.8b");
  assert.equal(padDtRankConfig(big), big);
  assert.equal(ratio("mamba1", "2.8b", "q8_0").toFixed(4), "0.2677");
  assert.equal(ratio("mamba1", "2.8b", "q4_0").toFixed(4), "0.1430");
  // modelFootprint (info --size, the fit check) counts the padded model when quantized: dt_proj in blocks,
  // x_proj 16 rows longer, per layer; A_log, conv1d and D in f16 as a quantized model holds them.
  const c = presetConfig("mamba1", "130m"), p = padDtRankConfig(c);
  const q8 = modelFootprint(c, "q8_0").weightBytes;
  const expected = total(
    componentWeightBytes(
      p,
      quantizedMatrixBytes(4, { in_proj: "q8_0", x_proj: "q8_0", dt_proj: "q8_0", out_proj: "q8_0" }, 2),
    ),
  );
  assert.equal(q8, expected);
  assert.equal(modelFootprint(c, "f32").weightBytes, total(componentWeightBytes(c)));
});

gpuTest("the padded q8 / q4 Mamba-1 on WebGPU: dt_proj in blocks, logits of the exact WASM kernels", async (be) => {
  const golden = readGolden<FixtureGolden>(fixtureDir("mamba1-tiny"));
  const w = await loadWeights(dirSource(fixtureDir("mamba1-tiny")));
  for (const bits of [8, 4] as const) {
    const q = quantizeWeights(w, { bits });
    const model = MambaModel.load(q, be);
    try {
      assert.equal(model.quantFormats.dt_proj, bits === 8 ? "q8_0" : "q4_0");
      const { logits, state } = await model.prefill(golden.input_ids);
      state.dispose();
      // Both dequantize in registers (f32 math); the GPU reorders sums: the fixtures' 1e-3 relative GPU tolerance.
      assertClose(logits.data, await wasmLogits(q, golden.input_ids), `webgpu q${bits} vs wasm exact`, 1e-3, 1e-5);
    } finally {
      model.dispose();
    }
  }
});
