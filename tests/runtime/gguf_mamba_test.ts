/**
 * llama.cpp's Mamba models in GGUF (runtime/gguf_mamba.ts): every fixture written as GGUF (F32, F16, Q8_0),
 * read back, and run — logits against the fixture's golden.json from transformers, on WASM and WebGPU; the
 * weights read back equal the originals exactly as each type stores them (F16 rounding, Q8_0 blocks); pruned
 * models; and every refusal (what GGUF cannot describe, metadata and tensors llama.cpp would not load).
 */
import assert from "node:assert/strict";
import {
  ggufCheckpoint,
  ggufFromWeights,
  type GgufMetadataEntry,
  ggufParts,
  type GgufTensorToWrite,
  loadWeights,
  makeConfig,
  MambaModel,
  type MambaWeights,
  parseGguf,
  syntheticWeights,
  toHostWeights,
  writeGguf,
} from "../../mod.ts";
import { dequantize, f32ToBf16Bits, f32ToF16Bits, quantizeQ8_0 } from "../../runtime/ggml_types.ts";
import { f16BitsToNumber } from "../../runtime/safetensors.ts";
import { snapALog } from "../../runtime/half_params.ts";
import { pruneWeights } from "../../runtime/prune/apply.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { TEST_BACKENDS } from "../_backends.ts";

const FIXTURES = [
  "mamba1-tiny",
  "mamba2-tiny",
  "mamba2-groups",
  "falcon-mamba-tiny",
  "ssm-mamba1-tiny",
  "ssm-mamba2-tiny-bf16",
] as const;

const weightsOf = new Map<string, MambaWeights>();
async function fixtureWeights(name: string): Promise<MambaWeights> {
  if (!weightsOf.has(name)) weightsOf.set(name, await loadWeights(dirSource(fixtureDir(name))));
  return weightsOf.get(name)!;
}

/** Write as GGUF, parse, and read back as host weights. */
function roundTrip(w: MambaWeights, tensorType: "F32" | "F16" | "BF16" | "Q8_0", name = "rt.gguf"): MambaWeights {
  return toHostWeights(ggufCheckpoint(parseGguf(ggufFromWeights(w, { tensorType }), name)));
}

/** Every tensor of the weights as [path, tensor] pairs. */
function tensorsOf(w: MambaWeights): [string, { shape: number[]; data: Float32Array }][] {
  const out: [string, { shape: number[]; data: Float32Array }][] = [["embedding", w.embedding], ["normF", w.normF]];
  if (w.lmHead) out.push(["lmHead", w.lmHead]);
  w.layers.forEach((l, i) => {
    for (const [k, v] of Object.entries(l)) if (v && typeof v === "object" && "data" in v) out.push([`${i}.${k}`, v]);
  });
  return out;
}

/** The 2-D matrices convert_hf_to_gguf.py stores in the output type (the rest stay F32). */
const MATRICES = /^(embedding|lmHead|\d+\.(inProj|xProj|dtProj|outProj))$/;

const f16Round = (v: number): number => f16BitsToNumber(f32ToF16Bits(v));
const bf16Round = (v: number): number => new Float32Array(new Uint32Array([f32ToBf16Bits(v) << 16]).buffer)[0];

/** The per-channel parameters a quantized model holds in f16 (runtime/half_params.ts), written F32 to GGUF. */
const PARAMS = /\.(aLog|convWeight|convBias|D)$/;

/**
 * Asserts `got` holds what `type` stores of `want`: matrices through the type, the rest F32 (A via exp/log); read
 * back from Q8_0, a quantized model, A_log, conv1d and D are then rounded to f16.
 */
function assertStored(got: MambaWeights, want: MambaWeights, type: "F32" | "F16" | "BF16" | "Q8_0"): void {
  const g = new Map(tensorsOf(got));
  for (const [path, t] of tensorsOf(want)) {
    const h = g.get(path);
    assert.ok(h, `${path} missing after the round trip`);
    assert.deepEqual(h.shape, t.shape, path);
    if (path.endsWith(".aLog")) {
      // Q8_0: A_log snapped so that A is a half (half_params.ts), from log(−(−exp(A_log))): the same half but where
      // the 1e-7 of exp/log crosses a rounding boundary (one f16 step of A, 2⁻¹⁰ relative, apart).
      const negExp = (a: Float32Array) => a.map((v) => -Math.exp(v));
      if (type === "Q8_0") {
        assertClose(negExp(h.data), negExp(snapALog(t.data, path)), `${path} (A of the snapped A_log)`, 2 ** -10, 1e-7);
      } else assertClose(h.data, t.data, `${path} (log(−(−exp(A_log))))`, 1e-6, 1e-7);
      continue;
    }
    let expected: Float32Array = t.data;
    if (PARAMS.test(path) && type === "Q8_0") expected = t.data.map(f16Round);
    if (MATRICES.test(path) && type === "F16") expected = t.data.map(f16Round);
    if (MATRICES.test(path) && type === "BF16") expected = t.data.map(bf16Round);
    if (MATRICES.test(path) && type === "Q8_0") {
      expected = t.shape[t.shape.length - 1] % 32 === 0
        ? dequantize(quantizeQ8_0(t.data), "Q8_0", t.data.length)
        : t.data.map(f16Round); // rows not a multiple of 32: F16, as convert falls back
    }
    assert.ok(h.data.every((v, i) => v === expected[i]), `${path}: values differ from ${type}'s storage`);
  }
}

for (const fixture of FIXTURES) {
  for (const type of ["F32", "F16", "BF16", "Q8_0"] as const) {
    Deno.test(`gguf ${fixture} ${type}: read back, the weights are exactly what ${type} stores`, async () => {
      const w = await fixtureWeights(fixture);
      const back = roundTrip(w, type);
      assert.equal(back.config.source, "gguf");
      for (const k of ["arch", "dModel", "nLayer", "vocabSize", "dState", "dConv", "dInner"] as const) {
        assert.equal(back.config[k], w.config[k], k);
      }
      // GGUF stores epsilons as FLOAT32 (llama.cpp computes in f32 too).
      assert.equal(back.config.eps, Math.fround(w.config.eps));
      const bcdt = w.config.bcdtNormEps;
      assert.equal(back.config.bcdtNormEps, bcdt === undefined ? undefined : Math.fround(bcdt));
      if (w.config.arch === "mamba1") assert.equal(back.config.dtRank, w.config.dtRank);
      else {
        for (const k of ["nHeads", "headDim", "nGroups", "normGroupSize"] as const) {
          assert.equal(back.config[k], w.config[k], k);
        }
      }
      assertStored(back, w, type);
    });
  }
}

for (const tb of TEST_BACKENDS) {
  // WebGPU (llvmpipe in CI) runs every fixture at F32 and two at F16; WASM every fixture at both.
  const cases = tb.name === "webgpu"
    ? [...FIXTURES.map((f) => [f, "F32"] as const), ["mamba1-tiny", "F16"] as const, ["mamba2-groups", "F16"] as const]
    : FIXTURES.flatMap((f) => [[f, "F32"], [f, "F16"]] as const);
  for (const [fixture, type] of cases) {
    // F32 is the checkpoint itself: transformers' fp32 tolerance (1e-3 on WebGPU, whose kernels reorder sums, as
    // the WebGPU model tests). F16 rounds every matrix weight (2^-11 relative); measured 1e-3 of max|logit| on
    // these fixtures, bounded at 4e-3.
    const rel = type === "F16" ? 4e-3 : tb.name === "webgpu" ? 1e-3 : 1e-4;
    Deno.test({
      name: `${tb.name} gguf ${fixture} ${type}: prefill logits match transformers' golden${
        tb.skip ? ` (${tb.skip})` : ""
      }`,
      ignore: tb.skip !== null,
      async fn() {
        const dir = fixtureDir(fixture);
        const golden = readGolden<FixtureGolden>(dir);
        const backend = await tb.create();
        try {
          const model = MambaModel.load(roundTrip(await fixtureWeights(fixture), type, `${fixture}.gguf`), backend);
          const { logits, state } = await model.prefill(golden.input_ids);
          state.dispose();
          assert.equal(logits.rows, golden.input_ids.length);
          assertClose(logits.data, golden.logits.flat(), `${fixture} ${type} logits`, rel);
          model.dispose();
        } finally {
          backend.dispose();
        }
      },
    });
  }
}

Deno.test("gguf: the metadata and tensors follow convert_hf_to_gguf.py (Mamba-1, Mamba-2, Falcon-Mamba)", async () => {
  const m1 = parseGguf(ggufFromWeights(await fixtureWeights("mamba1-tiny"), { tensorType: "F16" }), "m1.gguf");
  const meta = (f: typeof m1, k: string) => f.metadata.get(k)?.value;
  assert.equal(meta(m1, "general.architecture"), "mamba");
  assert.equal(meta(m1, "mamba.embedding_length"), 64);
  assert.equal(meta(m1, "mamba.ssm.inner_size"), 128);
  assert.equal(meta(m1, "mamba.ssm.time_step_rank"), 4);
  assert.equal(meta(m1, "mamba.ssm.dt_b_c_rms"), false);
  assert.equal(meta(m1, "mamba.context_length"), 2 ** 20);
  assert.equal(meta(m1, "general.file_type"), 1); // MOSTLY_F16
  assert.equal(m1.tensors.some((t) => t.name === "output.weight"), false, "tied: no output.weight");
  const t = (f: typeof m1, n: string) => f.tensors.find((x) => x.name === n)!;
  assert.deepEqual([t(m1, "blk.0.ssm_conv1d.weight").dims, t(m1, "blk.0.ssm_conv1d.weight").type], [[4, 128], "F32"]);
  assert.deepEqual([t(m1, "blk.0.ssm_a").dims, t(m1, "blk.0.ssm_a").type], [[16, 128], "F32"]);
  assert.deepEqual([t(m1, "blk.0.ssm_x.weight").dims, t(m1, "blk.0.ssm_x.weight").type], [[128, 36], "F16"]);
  assert.deepEqual([t(m1, "blk.1.ssm_dt.weight").dims, t(m1, "blk.1.ssm_dt.weight").type], [[4, 128], "F16"]);

  const m2 = parseGguf(ggufFromWeights(await fixtureWeights("mamba2-groups")), "m2.gguf");
  assert.equal(meta(m2, "general.architecture"), "mamba2");
  assert.equal(meta(m2, "mamba2.ssm.time_step_rank"), 8); // the head count
  assert.equal(meta(m2, "mamba2.ssm.group_count"), 4);
  assert.equal(m2.metadata.has("mamba2.ssm.dt_b_c_rms"), false);
  assert.deepEqual(t(m2, "blk.0.ssm_a").dims, [1, 8]);
  assert.deepEqual(t(m2, "blk.0.ssm_d").dims, [1, 8]);
  assert.deepEqual(t(m2, "blk.0.ssm_dt.bias").dims, [8]);
  assert.deepEqual(t(m2, "blk.0.ssm_norm.weight").dims, [32, 4]); // torch [G, D/G]
  assert.deepEqual(t(m2, "blk.0.ssm_in.weight").dims, [64, 2 * 128 + 2 * 4 * 16 + 8]);
  const w2 = await fixtureWeights("mamba2-groups");
  const a = new Float32Array(ggufTensorF32(m2, "blk.0.ssm_a"));
  assert.ok(
    a.every((v, i) => v === Math.fround(-Math.exp((w2.layers[0] as { aLog: { data: Float32Array } }).aLog.data[i]))),
  );

  const falcon = parseGguf(ggufFromWeights(await fixtureWeights("falcon-mamba-tiny")), "f.gguf");
  assert.equal(meta(falcon, "mamba.ssm.dt_b_c_rms"), true);
  assert.equal(meta(falcon, "perfmamba.mixer_rms_eps"), Math.fround(1e-6));
});

function ggufTensorF32(file: ReturnType<typeof parseGguf>, name: string): Float32Array {
  const t = file.tensors.find((x) => x.name === name)!;
  const b = file.bytes.slice(file.dataOffset + t.offset, file.dataOffset + t.offset + t.byteLength);
  return new Float32Array(b.buffer);
}

Deno.test("gguf: untied lm_head round-trips as output.weight; extra metadata is appended, ours not overridable", () => {
  const w = syntheticWeights(makeConfig("mamba1", { dModel: 32, nLayer: 1, vocabSize: 64 }), 4);
  const lmHead = { shape: [64, 32], data: Float32Array.from({ length: 64 * 32 }, (_, i) => Math.sin(i)) };
  const untied: MambaWeights = { ...w, config: { ...w.config, tieEmbeddings: false }, lmHead };
  const tokens: GgufMetadataEntry = {
    key: "tokenizer.ggml.tokens",
    type: "ARRAY",
    arrayType: "STRING",
    value: Array.from({ length: 64 }, (_, i) => `t${i}`),
  };
  const file = parseGguf(ggufFromWeights(untied, { metadata: [tokens], name: "n" }), "u.gguf");
  assert.ok(file.tensors.some((t) => t.name === "output.weight"));
  assert.equal(file.metadata.get("general.name")!.value, "n");
  const back = toHostWeights(ggufCheckpoint(file));
  assert.equal(back.config.tieEmbeddings, false);
  assert.deepEqual([...back.lmHead!.data], [...lmHead.data]);
  assert.throws(
    () => ggufFromWeights(w, { metadata: [{ key: "mamba.block_count", type: "UINT32", value: 9 }] }),
    /"mamba.block_count" is written from the model already/,
  );
});

Deno.test("gguf: a model pruned with one k for every layer exports and runs as the pruned model", async () => {
  for (const fixture of ["mamba1-tiny", "mamba2-tiny"]) {
    const w = await fixtureWeights(fixture);
    const keep = w.layers.map(() => [0, 2, 3, 5, 8, 13]);
    const pruned = pruneWeights(w, keep);
    const back = roundTrip(pruned, "F32");
    assert.equal(back.config.dState, 6);
    const ids = [3, 1, 4, 1, 5, 9, 2, 6];
    const run = async (weights: MambaWeights) => {
      const backend = await TEST_BACKENDS[0].create();
      const model = MambaModel.load(weights, backend);
      const { logits, state } = await model.prefill(ids);
      state.dispose();
      const data = logits.data.slice();
      model.dispose();
      backend.dispose();
      return data;
    };
    assertClose(await run(back), await run(pruned), `${fixture} pruned via GGUF`, 1e-5);
  }
});

Deno.test("gguf: what GGUF (or llama.cpp) cannot hold is refused with the reason", async () => {
  const m1 = await fixtureWeights("mamba1-tiny");
  const uneven = pruneWeights(m1, [[0, 1, 2], [0, 1, 2, 3]]);
  assert.throws(() => ggufFromWeights(uneven), /layers have different state sizes \(3, 4\).*one k for all layers/);
  const m2 = syntheticWeights(makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 }));
  const bridged = { ...m2, config: { ...m2.config, stateBridgeSizes: [16, 0] } };
  assert.throws(() => ggufFromWeights(bridged), /state bridges \(state_bridge_sizes\)/);
  const biased = { ...m1, config: { ...m1.config, useBias: true } };
  assert.throws(() => ggufFromWeights(biased), /in_proj \/ out_proj have biases/);
  const wide = syntheticWeights(makeConfig("mamba1", { dModel: 32, nLayer: 1, vocabSize: 64, expand: 3 }));
  assert.throws(() => ggufFromWeights(wide), /d_inner 96 is not 2 × d_model 32/);
  const clamped = { ...m2, config: { ...m2.config, timeStepLimit: [0.001, 0.1] as [number, number] } };
  assert.throws(() => ggufFromWeights(clamped), /time_step_limit \[0.001, 0.1\]/);
});

/** A GGUF from parts with a change to the metadata or tensors. */
function edited(
  w: MambaWeights,
  edit: (m: GgufMetadataEntry[], t: GgufTensorToWrite[]) => void,
): ReturnType<typeof parseGguf> {
  const { metadata, tensors } = ggufParts(w);
  edit(metadata, tensors);
  return parseGguf(writeGguf(metadata, tensors), "edited.gguf");
}

Deno.test("gguf: metadata and tensors llama.cpp would not load are refused, naming the file and key or tensor", () => {
  const w = syntheticWeights(makeConfig("mamba1", { dModel: 32, nLayer: 2, vocabSize: 64 }), 5);
  const set = (key: string, e: Partial<GgufMetadataEntry> | null) => (m: GgufMetadataEntry[]) => {
    const i = m.findIndex((x) => x.key === key);
    if (e === null) m.splice(i, 1);
    else m[i] = { ...m[i], ...e };
  };
  const cases: [(m: GgufMetadataEntry[], t: GgufTensorToWrite[]) => void, RegExp][] = [
    [set("general.architecture", { value: "llama" }), /"general.architecture" is "llama"; PerfMamba runs/],
    [set("general.architecture", null), /"general.architecture" is missing/],
    [set("mamba.ssm.state_size", null), /"mamba.ssm.state_size" is missing \(llama.cpp requires it/],
    [set("mamba.block_count", { type: "STRING", value: "2" }), /"mamba.block_count" must be a non-negative integer/],
    [set("mamba.attention.layer_norm_rms_epsilon", { value: -1 }), /must be a positive float/],
    [set("mamba.ssm.conv_kernel", { value: 9 }), /cannot run: .*conv_kernel.*2\.\.4/],
    [set("mamba.block_count", { value: 3 }), /missing tensor "backbone.layers.2.[^"]*" in \.\/edited\.gguf/],
    [
      set("mamba.ssm.state_size", { value: 8 }),
      /edited\.gguf: tensor "blk\.0\.ssm_a" .*state size 16 .* config says 8/,
    ],
    [
      (_m, t) => void t.push({ name: "blk.0.attn_q.weight", dims: [4], type: "F32", data: new Float32Array(4) }),
      /tensor "blk.0.attn_q.weight" is not part of llama.cpp's mamba/,
    ],
    [
      (_m, t) => void t.splice(t.findIndex((x) => x.name === "blk.1.ssm_d"), 1),
      /missing tensor "backbone.layers.1.mixer.D" in \.\/edited\.gguf/,
    ],
    [
      (m) => void m.push({ key: "tokenizer.ggml.tokens", type: "ARRAY", arrayType: "STRING", value: ["a"] }),
      /holds 1 tokens, but "token_embd.weight" has 64 rows/,
    ],
    [
      (_m, t) => {
        const i = t.findIndex((x) => x.name === "blk.0.ssm_in.weight");
        t[i] = { ...t[i], dims: [32, 127], data: new Float32Array(32 * 127) };
      },
      /edited\.gguf: tensor "blk\.0\.ssm_in\.weight" has shape \[127, 32\], expected \[128, 32\]/,
    ],
  ];
  for (const [edit, message] of cases) {
    assert.throws(() => toHostWeights(ggufCheckpoint(edited(w, edit))), message);
  }
  // A type ggml defines that PerfMamba does not convert (Q4_K): refused naming the tensor.
  const q4k = edited(w, (_m, t) => {
    const i = t.findIndex((x) => x.name === "blk.0.ssm_in.weight");
    t[i] = { name: t[i].name, dims: [256, 1], type: "Q4_K", data: new Uint8Array(144) };
  });
  assert.throws(
    () => ggufCheckpoint(q4k),
    /tensor "blk.0.ssm_in.weight" has type Q4_K; PerfMamba reads F32, F16, BF16, Q8_0, Q4_0/,
  );
});

Deno.test("gguf: Falcon-Mamba without PerfMamba's key uses llama.cpp's layer-norm epsilon for the δ/B/C norms", async () => {
  const f = await fixtureWeights("falcon-mamba-tiny");
  const file = edited(f, (m) => void m.splice(m.findIndex((e) => e.key === "perfmamba.mixer_rms_eps"), 1));
  const c = ggufCheckpoint(file).config;
  assert.equal(c.bcdtNormEps, Math.fround(1e-5));
  assert.equal(ggufCheckpoint(edited(f, () => {})).config.bcdtNormEps, Math.fround(1e-6));
});
