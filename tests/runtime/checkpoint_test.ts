/**
 * Checkpoint loading: fixtures from disk, sharded bf16 models, state-spaces twins, URLs, memory, and every error.
 */
import assert from "node:assert/strict";
import {
  type CheckpointSource,
  loadCheckpoint,
  loadWeights,
  memorySource,
  toHostWeights,
  urlSource,
} from "../../runtime/checkpoint.ts";
import {
  parseSafetensors,
  type SafetensorRecord,
  type TensorToWrite,
  toFloat32,
  writeSafetensors,
} from "../../runtime/safetensors.ts";
import { stateSizeOf } from "../../runtime/weights.ts";
import type { Mamba1LayerWeights, Mamba2LayerWeights, MambaWeights } from "../../runtime/weights.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { SHARED, sharedSkipReason } from "../_golden.ts";

const fixtureDir = (name: string): string => new URL(`../fixtures/${name}`, import.meta.url).pathname;

/** A fixture's config.json and all its tensors as f32. */
async function readFixture(name: string): Promise<{ config: Record<string, unknown>; tensors: TensorToWrite[] }> {
  const dir = fixtureDir(name);
  const file = parseSafetensors(await Deno.readFile(`${dir}/model.safetensors`), name);
  return {
    config: JSON.parse(await Deno.readTextFile(`${dir}/config.json`)),
    tensors: [...file.tensors.values()].map((r: SafetensorRecord) => ({
      name: r.name,
      shape: r.shape,
      data: toFloat32(r),
    })),
  };
}

/** An in-memory single-file checkpoint. */
function memCheckpoint(config: unknown, tensors: TensorToWrite[]): CheckpointSource {
  return memorySource({ "config.json": JSON.stringify(config), "model.safetensors": writeSafetensors(tensors) });
}

/** Replaces (or with `data` null, removes) one tensor. */
function edit(tensors: TensorToWrite[], name: string, replacement: TensorToWrite | null): TensorToWrite[] {
  assert.ok(tensors.some((t) => t.name === name), `no ${name}`);
  return tensors.flatMap((t) => (t.name !== name ? [t] : replacement ? [replacement] : []));
}

function find(tensors: TensorToWrite[], name: string): TensorToWrite {
  return tensors.find((t) => t.name === name)!;
}

/** Rows [from, to) ranges of a row-major 2-D or 3-D tensor, concatenated. */
function takeRows(t: TensorToWrite, ranges: [number, number][]): TensorToWrite {
  const rowSize = t.data.length / t.shape[0];
  const parts = ranges.map(([a, b]) => t.data.subarray(a * rowSize, b * rowSize));
  const rows = ranges.reduce((n, [a, b]) => n + b - a, 0);
  const data = new Float32Array(rows * rowSize);
  let o = 0;
  for (const p of parts) {
    data.set(p, o);
    o += p.length;
  }
  return { name: t.name, shape: [rows, ...t.shape.slice(1)], data };
}

/** Leading columns of a 2-D tensor. */
function takeCols(t: TensorToWrite, cols: number): TensorToWrite {
  const [rows, width] = t.shape;
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) data.set(t.data.subarray(r * width, r * width + cols), r * cols);
  return { name: t.name, shape: [rows, cols], data };
}

/** Everything but the config's provenance. */
function withoutSource(w: MambaWeights): unknown {
  return { ...w, config: { ...w.config, source: "any" } };
}

Deno.test("checkpoint: mamba1-tiny loads from its directory; shapes and values match python's reads", async () => {
  const w = await loadWeights(dirSource(fixtureDir("mamba1-tiny")));
  assert.equal(w.config.arch, "mamba1");
  assert.equal(w.lmHead, null, "tied");
  assert.deepEqual(w.embedding.shape, [256, 64]);
  assert.deepEqual([...w.embedding.data.subarray(16381, 16384)], [
    0.012026256881654263,
    0.08004648983478546,
    -0.13785533607006073,
  ]);
  assert.equal(w.layers.length, 2);
  const [l0, l1] = w.layers as Mamba1LayerWeights[];
  assert.deepEqual(
    [l0.inProj.shape, l0.convWeight.shape, l0.xProj.shape, l0.dtProj.shape, l0.aLog.shape, l0.outProj.shape],
    [[256, 64], [128, 4], [36, 128], [128, 4], [128, 16], [64, 128]],
  );
  assert.equal(l0.inProjBias, null);
  assert.deepEqual(l0.convBias?.shape, [128]);
  assert.deepEqual([...l0.aLog.data.subarray(0, 3)], [0.04333236441016197, 0.5786669254302979, 0.973387598991394]);
  assert.deepEqual([...l0.xProj.data.subarray(128 * 35 + 125, 128 * 35 + 128)], [
    -0.18894065916538239,
    -0.27028897404670715,
    -0.003345642238855362,
  ]);
  // conv1d.weight [128, 1, 4] squeezed to [128, 4]: elements 4..6 are channel 1, taps 0..2.
  assert.deepEqual([...l1.convWeight.data.subarray(4, 7)], [
    -0.35171183943748474,
    0.07066529989242554,
    -0.3365560472011566,
  ]);
  assert.deepEqual([...l1.inProj.data.subarray(640, 643)], [
    0.02433072216808796,
    -0.09426359087228775,
    -0.06966816633939743,
  ]);
  assert.deepEqual([...w.normF.data.subarray(0, 3)], [1.0161653757095337, 0.9961182475090027, 1.0374503135681152]);
  assert.equal(stateSizeOf(l1, w.config), 16);
});

Deno.test("checkpoint: mamba2-tiny and mamba2-groups load; shapes and values match python's reads", async () => {
  const expected = {
    "mamba2-tiny": {
      groups: 1,
      emb0: [0.10140978544950485, -0.06805817782878876, -0.04424363747239113],
      aLog: [-0.12955342233181, 0.9262768626213074, 1.061111330986023],
      conv: [-0.10717537999153137, -0.4322925806045532, -0.28893136978149414],
      inProj: [0.1761052906513214, 0.024641262367367744, -0.04400559514760971],
      dtBias: [-3.330719470977783, -3.801486015319824, -2.6939685344696045],
    },
    "mamba2-groups": {
      groups: 4,
      emb0: [-0.0017201052978634834, 0.09966348111629486, 0.08209332823753357],
      aLog: [0.019549937918782234, 0.8143715262413025, 0.8588817715644836],
      conv: [0.39111894369125366, -0.022998543456196785, -0.2969498634338379],
      inProj: [-0.0625203400850296, 0.037439487874507904, -0.1414070576429367],
      dtBias: [-4.931039810180664, -4.357523441314697, -6.767112731933594],
    },
  };
  for (const [name, want] of Object.entries(expected)) {
    const w = await loadWeights(dirSource(fixtureDir(name)));
    const G = want.groups, convDim = 128 + 2 * G * 16;
    assert.equal(w.config.nGroups, G);
    const [l0, l1] = w.layers as Mamba2LayerWeights[];
    assert.deepEqual(
      [l0.inProj.shape, l0.convWeight.shape, l0.dtBias.shape, l0.aLog.shape, l0.D.shape, l0.gateNorm.shape],
      [[2 * 128 + 2 * G * 16 + 8, 64], [convDim, 4], [8], [8], [8], [128]],
      name,
    );
    assert.deepEqual([...w.embedding.data.subarray(0, 3)], want.emb0, name);
    assert.deepEqual([...l0.aLog.data.subarray(0, 3)], want.aLog, name);
    assert.deepEqual([...l1.convWeight.data.subarray(4, 7)], want.conv, name);
    assert.deepEqual([...l1.inProj.data.subarray(640, 643)], want.inProj, name);
    assert.deepEqual([...l1.dtBias.data.subarray(5, 8)], want.dtBias, name);
    assert.equal(stateSizeOf(l0, w.config), 16);
    assert.equal(w.lmHead, null);
  }
});

const SHARDED: [string, { arch: string; emb: number[]; normF: number[]; aLog11: number[] }][] = [
  ["mamba1-text-small", {
    arch: "mamba1",
    emb: [0.1865234375, 0.21484375, -0.13671875], // bf16 0x3e3f 0x3e5c 0xbe0c
    normF: [1.7734375, 1.828125, 1.7734375],
    aLog11: [-0.08544921875, 0.67578125, 1.0703125],
  }],
  ["mamba2-text-small", {
    arch: "mamba2",
    emb: [0.0016326904296875, 0.05224609375, -0.2255859375],
    normF: [1.8359375, 1.7734375, 1.71875],
    aLog11: [0.08447265625, 0.7734375, 1.1484375],
  }],
];

for (const [name, want] of SHARDED) {
  const skip = sharedSkipReason(`models/${name}`);
  Deno.test({
    name: `checkpoint: sharded bf16 ${name} loads through its index${skip ? ` (${skip})` : ""}`,
    ignore: skip !== null,
    fn: async () => {
      const dir = `${SHARED}/models/${name}`;
      const ckpt = await loadCheckpoint(dirSource(dir));
      assert.deepEqual(ckpt.files, [
        "config.json",
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
      ]);
      assert.equal(ckpt.tensors.get("backbone.embeddings.weight")!.dtype, "BF16");
      const w = toHostWeights(ckpt);
      assert.equal(w.config.arch, want.arch);
      assert.equal(w.layers.length, 12);
      assert.deepEqual(w.embedding.shape, [50280, 256]);
      assert.deepEqual([...w.embedding.data.subarray(12092 * 256, 12092 * 256 + 3)], want.emb, "embeddings[12092]");
      assert.deepEqual([...w.normF.data.subarray(0, 3)], want.normF);
      assert.deepEqual([...w.layers[11].aLog.data.subarray(0, 3)], want.aLog11);
      assert.equal(w.lmHead, null);
      assert.equal(stateSizeOf(w.layers[5], w.config), want.arch === "mamba1" ? 16 : 64);
    },
  });
}

Deno.test("checkpoint: a state-spaces Mamba-1 checkpoint loads to the same weights as its HF twin", async () => {
  const { config, tensors } = await readFixture("mamba1-tiny");
  const hf = await loadWeights(memCheckpoint(config, tensors));
  const ssConfig = {
    d_model: 64,
    n_layer: 2,
    vocab_size: 250, // padded to 256 by pad_vocab_size_multiple
    pad_vocab_size_multiple: 8,
    ssm_cfg: { d_state: 16, d_conv: 4, expand: 2, dt_rank: "auto" },
    rms_norm: true,
    residual_in_fp32: true,
    fused_add_norm: true,
  };
  const renamed = tensors.map((t) =>
    t.name === "backbone.embeddings.weight" ? { ...t, name: "backbone.embedding.weight" } : t
  );
  const ss = await loadWeights(memCheckpoint(ssConfig, renamed));
  assert.equal(ss.config.source, "state-spaces");
  // The same weights; only the token count differs: rows 250..255 are padding, never chosen as tokens.
  assert.deepEqual([ss.config.vocabSize, ss.config.tokenVocabSize, hf.config.tokenVocabSize], [256, 250, 256]);
  assert.deepEqual(withoutSource({ ...ss, config: { ...ss.config, tokenVocabSize: 256 } }), withoutSource(hf));
});

Deno.test("checkpoint: a state-spaces Mamba-2 checkpoint (4 groups) loads to the same weights as its HF twin", async () => {
  const { config, tensors } = await readFixture("mamba2-groups");
  const hf = await loadWeights(memCheckpoint(config, tensors));
  const ssConfig = {
    d_model: 64,
    n_layer: 2,
    vocab_size: 256,
    pad_vocab_size_multiple: 16,
    ssm_cfg: { layer: "Mamba2", d_state: 16, headdim: 16, ngroups: 4, chunk_size: 16 },
    rms_norm: true,
    tie_embeddings: true,
  };
  const renamed = tensors.map((t) =>
    t.name === "backbone.embeddings.weight" ? { ...t, name: "backbone.embedding.weight" } : t
  );
  const ss = await loadWeights(memCheckpoint(ssConfig, renamed));
  assert.deepEqual(withoutSource(ss), withoutSource(hf));
});

Deno.test("checkpoint: a leading `model.` prefix is accepted", async () => {
  const { config, tensors } = await readFixture("mamba2-tiny");
  const prefixed = tensors.map((t) => ({ ...t, name: `model.${t.name}` }));
  const w = await loadWeights(memCheckpoint(config, prefixed));
  assert.deepEqual(w, await loadWeights(memCheckpoint(config, tensors)));
});

Deno.test("checkpoint: shards in memory through an index load like the single file; bad indexes are named", async () => {
  const { config, tensors } = await readFixture("mamba1-tiny");
  const first = tensors.filter((t) => t.name.includes("layers.0"));
  const rest = tensors.filter((t) => !t.name.includes("layers.0"));
  const weightMap = Object.fromEntries([
    ...first.map((t) => [t.name, "a.safetensors"]),
    ...rest.map((t) => [t.name, "b.safetensors"]),
  ]);
  const files = {
    "config.json": JSON.stringify(config),
    "model.safetensors.index.json": JSON.stringify({ metadata: {}, weight_map: weightMap }),
    "a.safetensors": writeSafetensors(first),
    "b.safetensors": writeSafetensors(rest),
  };
  const ckpt = await loadCheckpoint(memorySource(files));
  assert.deepEqual(ckpt.files, ["config.json", "model.safetensors.index.json", "a.safetensors", "b.safetensors"]);
  assert.deepEqual(toHostWeights(ckpt), await loadWeights(memCheckpoint(config, tensors)));

  const lying = { ...weightMap, "backbone.norm_f.weight": "a.safetensors" };
  await assert.rejects(
    loadCheckpoint(memorySource({ ...files, "model.safetensors.index.json": JSON.stringify({ weight_map: lying }) })),
    /memory checkpoint\/a\.safetensors: no tensor "backbone\.norm_f\.weight", which model\.safetensors\.index\.json places in this shard/,
  );
  await assert.rejects(
    loadCheckpoint(memorySource({ ...files, "model.safetensors.index.json": "{}" })),
    /memory checkpoint\/model\.safetensors\.index\.json: expected an object with a "weight_map" object/,
  );
  const { "b.safetensors": _dropped, ...withoutB } = files;
  await assert.rejects(
    loadCheckpoint(memorySource(withoutB)),
    /model\.safetensors\.index\.json: weight_map\["backbone\.embeddings\.weight"\] \(and 11 more tensors\) names the shard "b\.safetensors", which is not in memory checkpoint/,
  );
});

Deno.test("checkpoint: missing config, missing weights, pytorch_model.bin, corrupt weights", async () => {
  const { config, tensors } = await readFixture("mamba1-tiny");
  await assert.rejects(loadCheckpoint(memorySource({})), /memory checkpoint\/config\.json: not found/);
  await assert.rejects(
    loadCheckpoint(memorySource({ "config.json": JSON.stringify(config) })),
    /memory checkpoint: no weights found \(expected model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin or pytorch_model\.bin\.index\.json\)/,
  );
  await assert.rejects(
    loadCheckpoint(memorySource({ "config.json": JSON.stringify(config), "pytorch_model.bin": new Uint8Array(4) })),
    /pytorch_model\.bin: not a zip archive, or truncated/,
  );
  await assert.rejects(
    loadCheckpoint(memorySource({ "config.json": JSON.stringify({ ...config, model_type: "jamba" }) })),
    /memory checkpoint\/config\.json: field "model_type" is "jamba"; supported: "mamba", "falcon_mamba", "mamba2"/,
  );
  const truncated = writeSafetensors(tensors).slice(0, 5000);
  await assert.rejects(
    loadCheckpoint(memorySource({ "config.json": JSON.stringify(config), "model.safetensors": truncated })),
    /memory checkpoint\/model\.safetensors: tensor "backbone\.embeddings\.weight": data_offsets \[0, 65536\] out of range/,
  );
});

Deno.test("checkpoint: a missing tensor is named with the file it should be in", async () => {
  const { config, tensors } = await readFixture("mamba1-tiny");
  const source = memCheckpoint(config, edit(tensors, "backbone.layers.1.mixer.dt_proj.bias", null));
  await assert.rejects(
    loadWeights(source),
    /missing tensor "backbone\.layers\.1\.mixer\.dt_proj\.bias" in memory checkpoint\/model\.safetensors/,
  );
});

Deno.test("checkpoint: shapes disagreeing with the config name the tensor, its shape and the expected shape", async () => {
  const m1 = await readFixture("mamba1-tiny");
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { conv_kernel: 3 },
      /model\.safetensors: tensor "backbone\.layers\.0\.mixer\.conv1d\.weight" has shape \[128, 1, 4\], expected \[128, 1, 3\] from memory checkpoint\/config\.json/,
    ],
    [{ vocab_size: 300 }, /tensor "backbone\.embeddings\.weight" has shape \[256, 64\], expected \[300, 64\]/],
    [
      { time_step_rank: 8 },
      /tensor "backbone\.layers\.0\.mixer\.x_proj\.weight" has shape \[36, 128\], expected \[40, 128\]/,
    ],
    [
      { state_size: 8 },
      /tensor "backbone\.layers\.0\.mixer\.A_log" \(shape \[128, 16\]\) implies state size 16 for layer 0, but config says 8/,
    ],
    [{ use_bias: true }, /missing tensor "backbone\.layers\.0\.mixer\.in_proj\.bias"/],
  ];
  for (const [change, pattern] of cases) {
    await assert.rejects(loadWeights(memCheckpoint({ ...m1.config, ...change }, m1.tensors)), pattern);
  }
  const m2 = await readFixture("mamba2-tiny");
  await assert.rejects(
    loadWeights(memCheckpoint({ ...m2.config, num_heads: 4, head_dim: 32 }, m2.tensors)),
    /tensor "backbone\.layers\.0\.mixer\.in_proj\.weight" has shape \[296, 64\], expected \[292, 64\] \(2D \+ 2GN \+ H rows\)/,
  );
});

Deno.test("checkpoint: Mamba-2 in_proj with gated-MLP rows (d_mlp > 0) is rejected", async () => {
  const { config, tensors } = await readFixture("mamba2-tiny");
  const name = "backbone.layers.1.mixer.in_proj.weight";
  const t = find(tensors, name);
  const wider = { name, shape: [t.shape[0] + 64, 64], data: new Float32Array((t.shape[0] + 64) * 64) };
  await assert.rejects(
    loadWeights(memCheckpoint(config, edit(tensors, name, wider))),
    /tensor "backbone\.layers\.1\.mixer\.in_proj\.weight" has shape \[360, 64\], expected \[296, 64\] \(2D \+ 2GN \+ H rows\); 64 extra rows would be a gated MLP \(d_mlp = 32 > 0\), which is not supported/,
  );
});

Deno.test("checkpoint: unexpected tensors (extra layers, MLPs, biases the config rules out) are reported", async () => {
  const { config, tensors } = await readFixture("mamba1-tiny");
  const extra = (name: string, shape: number[]): TensorToWrite[] => [
    ...tensors,
    { name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) },
  ];
  await assert.rejects(
    loadWeights(memCheckpoint(config, extra("backbone.layers.2.norm.weight", [64]))),
    /memory checkpoint: 1 unexpected tensor\(s\) for a 2-layer mamba1 model: "backbone\.layers\.2\.norm\.weight"/,
  );
  await assert.rejects(
    loadWeights(memCheckpoint(config, extra("backbone.layers.0.mlp.fc1.weight", [8, 64]))),
    /unexpected tensor\(s\).*"backbone\.layers\.0\.mlp\.fc1\.weight" \(memory checkpoint\/model\.safetensors\)/,
  );
  await assert.rejects(
    loadWeights(memCheckpoint(config, extra("backbone.layers.0.mixer.out_proj.bias", [64]))),
    /tensor "backbone\.layers\.0\.mixer\.out_proj\.bias" is present but config says use_bias is false/,
  );
});

Deno.test("checkpoint: lm_head tying follows the config, and an absent lm_head means tied", async () => {
  const { config, tensors } = await readFixture("mamba1-tiny");
  const head = { name: "lm_head.weight", shape: [256, 64], data: new Float32Array(256 * 64).fill(0.5) };
  const untied = await loadWeights(memCheckpoint({ ...config, tie_word_embeddings: false }, [...tensors, head]));
  assert.deepEqual(untied.lmHead, { shape: [256, 64], data: head.data });
  assert.equal(untied.config.tieEmbeddings, false);
  const tiedAnyway = await loadWeights(memCheckpoint(config, [...tensors, head]));
  assert.equal(tiedAnyway.lmHead, null, "tie_word_embeddings true: the embedding is used, as transformers does");
  const absent = await loadWeights(memCheckpoint({ ...config, tie_word_embeddings: false }, tensors));
  assert.equal(absent.lmHead, null);
  assert.equal(absent.config.tieEmbeddings, true);
  await assert.rejects(
    loadWeights(memCheckpoint({ ...config, tie_word_embeddings: false }, [...tensors, { ...head, shape: [64, 256] }])),
    /tensor "lm_head\.weight" has shape \[64, 256\], expected \[256, 64\]/,
  );
});

Deno.test("checkpoint: pruned per-layer state sizes load with layer_state_sizes (Mamba-1 and Mamba-2)", async () => {
  // Mamba-1 layer 1 keeps 8 of 16 states: A_log [D, 8], x_proj rows [R + 2·8].
  const m1 = await readFixture("mamba1-tiny");
  const p1 = "backbone.layers.1.mixer.";
  let pruned = edit(m1.tensors, `${p1}A_log`, takeCols(find(m1.tensors, `${p1}A_log`), 8));
  pruned = edit(pruned, `${p1}x_proj.weight`, takeRows(find(m1.tensors, `${p1}x_proj.weight`), [[0, 12], [20, 28]]));
  const w1 = await loadWeights(memCheckpoint({ ...m1.config, layer_state_sizes: [16, 8] }, pruned));
  assert.deepEqual(w1.layers.map((l) => stateSizeOf(l, w1.config)), [16, 8]);
  assert.deepEqual(w1.config.layerStateSizes, [16, 8]);
  await assert.rejects(
    loadWeights(memCheckpoint(m1.config, pruned)),
    /tensor "backbone\.layers\.1\.mixer\.A_log" \(shape \[128, 8\]\) implies state size 8 for layer 1, but config says 16/,
  );

  // Mamba-2 layer 0 keeps 8 of 16 states: in_proj rows [z 128 | x 128 | B 16→8 | C 16→8 | dt 8], conv [x | B | C].
  const m2 = await readFixture("mamba2-tiny");
  const p2 = "backbone.layers.0.mixer.";
  const inProj = takeRows(find(m2.tensors, `${p2}in_proj.weight`), [[0, 264], [272, 280], [288, 296]]);
  const conv = (n: string): TensorToWrite => takeRows(find(m2.tensors, `${p2}${n}`), [[0, 136], [144, 152]]);
  let pruned2 = edit(m2.tensors, `${p2}in_proj.weight`, inProj);
  pruned2 = edit(pruned2, `${p2}conv1d.weight`, conv("conv1d.weight"));
  pruned2 = edit(pruned2, `${p2}conv1d.bias`, conv("conv1d.bias"));
  const w2 = await loadWeights(memCheckpoint({ ...m2.config, layer_state_sizes: [8, 16] }, pruned2));
  assert.deepEqual(w2.layers.map((l) => stateSizeOf(l, w2.config)), [8, 16]);
  assert.deepEqual(w2.layers[0].inProj.shape, [280, 64]);
  assert.deepEqual(w2.layers[0].convWeight.shape, [144, 4]);
  // Saved and reloaded, a pruned checkpoint is unchanged (pruning saves with writeSafetensors).
  const resaved: TensorToWrite[] = [...(await loadCheckpoint(memCheckpoint(m2.config, pruned2))).tensors.values()]
    .map((r) => ({ name: r.name, shape: r.shape, data: toFloat32(r) }));
  assert.deepEqual(await loadWeights(memCheckpoint({ ...m2.config, layer_state_sizes: [8, 16] }, resaved)), w2);
});

Deno.test("checkpoint: urlSource loads a fixture served by a local HTTP server", async () => {
  const dir = fixtureDir("mamba2-groups");
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const name = decodeURIComponent(new URL(req.url).pathname.replace(/^\/ckpt\//, ""));
    try {
      const body = await Deno.readFile(`${dir}/${name}`);
      return new Response(req.method === "HEAD" ? null : body, { headers: { "content-length": `${body.length}` } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  try {
    const source = urlSource(`http://127.0.0.1:${server.addr.port}/ckpt`);
    assert.equal(source.describe(), `http://127.0.0.1:${server.addr.port}/ckpt/`);
    assert.equal(await source.exists("model.safetensors.index.json"), false);
    assert.equal(await source.exists("config.json"), true);
    const w = await loadWeights(source);
    assert.deepEqual(w, await loadWeights(dirSource(dir)));
    await assert.rejects(source.readBytes("nope.bin"), /\/ckpt\/nope\.bin: HTTP 404/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("checkpoint: memorySource accepts bytes, ArrayBuffers and strings", async () => {
  const source = memorySource({
    "a.txt": "héllo",
    "b.bin": new Uint8Array([1, 2]).buffer,
    "c.bin": new Uint8Array([3]),
  });
  assert.deepEqual(await source.list!(), ["a.txt", "b.bin", "c.bin"]);
  assert.equal(await source.readText("a.txt"), "héllo");
  assert.deepEqual(await source.readBytes("b.bin"), new Uint8Array([1, 2]));
  assert.deepEqual(await source.readBytes("c.bin"), new Uint8Array([3]));
  assert.equal(await source.exists("d.bin"), false);
  await assert.rejects(source.readBytes("d.bin"), /memory checkpoint: no file "d\.bin"/);
});

Deno.test("checkpoint: dirSource rejects missing paths, files and directories without config.json", async () => {
  const missing = `${fixtureDir("mamba1-tiny")}-nope`;
  assert.throws(() => dirSource(missing), new RegExp(`${missing}: no such checkpoint directory`));
  const file = `${fixtureDir("mamba1-tiny")}/config.json`;
  assert.throws(() => dirSource(file), new RegExp(`${file}: not a directory`));
  const empty = await Deno.makeTempDir();
  try {
    assert.throws(() => dirSource(empty), new RegExp(`${empty}: no config.json`));
    await Deno.writeTextFile(`${empty}/config.json`, "{}");
    const source = dirSource(empty);
    await assert.rejects(source.readBytes("model.safetensors"), new RegExp(`${empty}/model.safetensors: no such file`));
    await assert.rejects(loadCheckpoint(source), new RegExp(`${empty}/config.json: unrecognised config`));
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("checkpoint: a header length one byte short fails the load, naming the file (not garbage weights)", async () => {
  const { config, tensors } = await readFixture("mamba1-tiny");
  const bytes = writeSafetensors(tensors);
  const view = new DataView(bytes.buffer);
  const n = view.getBigUint64(0, true);
  assert.equal(bytes[8 + Number(n) - 1], 0x20, "fixture header ends in a pad space, so the short header parses");
  view.setBigUint64(0, n - 1n, true);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    await Deno.writeFile(`${dir}/model.safetensors`, bytes);
    await assert.rejects(
      loadWeights(dirSource(dir)),
      (e: Error) => e.message.startsWith(`${dir}/model.safetensors: data section has 1 trailing byte(s)`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkpoint: NaN / ±Infinity in a tensor is refused, naming it and the first bad index; allowNonFinite loads", async () => {
  const { config, tensors } = await readFixture("mamba1-tiny");
  const name = "backbone.layers.1.mixer.A_log";
  const bad = (values: [number, number][]): TensorToWrite => {
    const t = find(tensors, name);
    const data = t.data.slice();
    for (const [i, v] of values) data[i] = v;
    return { ...t, data };
  };
  await assert.rejects(
    loadWeights(memCheckpoint(config, edit(tensors, name, bad([[37, NaN], [40, Infinity]])))),
    /memory checkpoint\/model\.safetensors: tensor "backbone\.layers\.1\.mixer\.A_log" \(shape \[128, 16\], F32\) holds NaN at flat index 37 \(2 non-finite value\(s\) in all\)/,
  );
  await assert.rejects(
    loadWeights(memCheckpoint(config, edit(tensors, name, bad([[2047, -Infinity]])))),
    /tensor "backbone\.layers\.1\.mixer\.A_log" .* holds -Infinity at flat index 2047 .*allowNonFinite: true.*--allow-nonfinite/,
  );
  const ckpt = await loadCheckpoint(memCheckpoint(config, edit(tensors, name, bad([[5, NaN]]))));
  assert.throws(() => toHostWeights(ckpt), /holds NaN at flat index 5/);
  const layer = toHostWeights(ckpt, { allowNonFinite: true }).layers[1] as Mamba1LayerWeights;
  assert.ok(Number.isNaN(layer.aLog.data[5]));
  // The largest finite f32 and subnormals are fine.
  const edge = bad([[0, 3.4028234663852886e38], [1, -3.4028234663852886e38], [2, 1e-45]]);
  await loadWeights(memCheckpoint(config, edit(tensors, name, edge)));
});

Deno.test({
  name: "checkpoint: a BF16 Infinity (bits 0x7F80) in a shared model's shard is caught after conversion",
  ignore: sharedSkipReason("models/mamba2-text-small") !== null,
  fn: async () => {
    const dir = `${SHARED}/models/mamba2-text-small`;
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    const files: Record<string, Uint8Array | string> = {};
    for (const n of names) files[n] = await Deno.readFile(`${dir}/${n}`);
    const shard = "model-00002-of-00002.safetensors";
    const rec = [...parseSafetensors(files[shard] as Uint8Array, shard).tensors.values()].find((r) =>
      r.dtype === "BF16" && r.name.endsWith("norm_f.weight")
    )!;
    new DataView(rec.bytes.buffer, rec.bytes.byteOffset).setUint16(2 * 7, 0xff80, true); // -Infinity
    await assert.rejects(
      loadWeights(memorySource(files)),
      /model-00002-of-00002\.safetensors: tensor "backbone\.norm_f\.weight" \(shape \[256\], BF16\) holds -Infinity at flat index 7/,
    );
  },
});
