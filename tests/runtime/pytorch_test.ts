/**
 * PyTorch checkpoints (pytorch_model.bin): the state-spaces fixtures against golden logits on every backend, sharded
 * torch indexes, and every refusal of the allowlisting reader (globals, opcodes, zip paths, bounds, bombs, truncation).
 */
import assert from "node:assert/strict";
import { loadCheckpoint, loadWeights, memorySource } from "../../runtime/checkpoint.ts";
import { parseTorchCheckpoint, readZip } from "../../runtime/pytorch.ts";
import { toFloat32, writeSafetensors } from "../../runtime/safetensors.ts";
import { zipSync } from "fflate";
import { MambaModel } from "../../runtime/model.ts";
import { generate } from "../../runtime/generate.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { TEST_BACKENDS } from "../_backends.ts";

const TORCH_FIXTURES = ["ssm-mamba1-tiny", "ssm-mamba2-tiny-bf16"];

for (const tb of TEST_BACKENDS) {
  for (const fixture of TORCH_FIXTURES) {
    Deno.test({
      name: `${tb.name} ${fixture}: pytorch_model.bin logits within 1e-4 of golden, same greedy tokens${
        tb.skip ? ` (${tb.skip})` : ""
      }`,
      ignore: tb.skip !== null,
      fn: async () => {
        const dir = fixtureDir(fixture);
        const golden = readGolden<FixtureGolden>(dir);
        const backend = await tb.create();
        try {
          const model = MambaModel.load(await loadWeights(dirSource(dir)), backend);
          const { logits, state } = await model.prefill(golden.input_ids);
          state.dispose();
          assertClose(logits.data, golden.logits.flat(), "logits", 1e-4);
          const r = await generate(model, golden.greedy_prompt, { maxNewTokens: golden.greedy_continuation.length });
          assert.deepEqual(r.tokens, golden.greedy_continuation);
          model.dispose();
        } finally {
          backend.dispose();
        }
      },
    });
  }
}

// ---- builders: a tiny pickler and zip writer for hostile inputs ----

const enc = new TextEncoder();
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const str = (s: string) => {
  const b = enc.encode(s);
  return [0x58, ...u32(b.length), ...b];
};
const glob = (m: string, n: string) => [0x63, ...enc.encode(`${m}\n${n}\n`)];
const int = (n: number) => [0x4a, ...new Uint8Array(new Int32Array([n]).buffer)];
const tuple = (...items: number[][]) => [0x28, ...items.flat(), 0x74];

/** A pickle of {name: tensor} with one tensor per entry over storage `key` (numel elements of `storage` class). */
function statePickle(
  tensors: {
    name: string;
    key: string;
    storage?: string;
    numel: number;
    offset: number;
    size: number[];
    stride: number[];
  }[],
): Uint8Array {
  const body: number[] = [0x80, 2, 0x7d, 0x28];
  for (const t of tensors) {
    body.push(...str(t.name), ...glob("torch._utils", "_rebuild_tensor_v2"));
    const pid = tuple(str("storage"), glob("torch", t.storage ?? "FloatStorage"), str(t.key), str("cpu"), int(t.numel));
    body.push(
      0x28,
      ...pid,
      0x51,
      ...int(t.offset),
      ...tuple(...t.size.map(int)),
      ...tuple(...t.stride.map(int)),
      0x89,
      ...glob("collections", "OrderedDict"),
      0x29,
      0x52,
      0x74,
      0x52,
    );
  }
  body.push(0x75, 0x2e);
  return new Uint8Array(body);
}

/** A zip of STORED entries (or DEFLATE with the declared size overridden, for bombs). */
function zip(entries: [string, Uint8Array][], opts: { method?: number; declare?: number } = {}): Uint8Array {
  const parts: number[] = [];
  const central: number[] = [];
  for (const [name, data] of entries) {
    const n = enc.encode(name);
    const offset = parts.length;
    const size = opts.declare ?? data.length;
    const head = (sig: number) => {
      const h = new DataView(new ArrayBuffer(sig === 0x04034b50 ? 30 : 46));
      h.setUint32(0, sig, true);
      const c = sig === 0x02014b50 ? 2 : 0;
      h.setUint16(8 + c, opts.method ?? 0, true);
      h.setUint32(18 + c, data.length, true);
      h.setUint32(22 + c, size, true);
      h.setUint16(26 + c, n.length, true);
      if (c) h.setUint32(42, offset, true);
      return [...new Uint8Array(h.buffer)];
    };
    parts.push(...head(0x04034b50), ...n, ...data);
    central.push(...head(0x02014b50), ...n);
  }
  const eocd = new DataView(new ArrayBuffer(22));
  eocd.setUint32(0, 0x06054b50, true);
  eocd.setUint16(8, entries.length, true);
  eocd.setUint16(10, entries.length, true);
  eocd.setUint32(12, central.length, true);
  eocd.setUint32(16, parts.length, true);
  return new Uint8Array([...parts, ...central, ...new Uint8Array(eocd.buffer)]);
}

const f32 = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);
const archive = (pkl: Uint8Array, storages: Record<string, Uint8Array>, byteorder = "little") =>
  zip([
    ["archive/data.pkl", pkl],
    ["archive/byteorder", enc.encode(byteorder)],
    ...Object.entries(storages).map(([k, v]) => [`archive/data/${k}`, v] as [string, Uint8Array]),
  ]);

Deno.test("pytorch: views share a storage, strides copy to row-major, offsets, big-endian", () => {
  const pkl = statePickle([
    { name: "a", key: "0", numel: 6, offset: 0, size: [2, 3], stride: [3, 1] },
    { name: "t", key: "0", numel: 6, offset: 0, size: [3, 2], stride: [1, 3] },
    { name: "tail", key: "0", numel: 6, offset: 4, size: [2], stride: [1] },
  ]);
  const t = parseTorchCheckpoint(archive(pkl, { "0": f32(0, 1, 2, 3, 4, 5) }), "m.bin");
  const vals = (name: string) => [...new Float32Array(t.get(name)!.bytes.slice().buffer)];
  assert.deepEqual(vals("a"), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(t.get("t")!.shape, [3, 2]);
  assert.deepEqual(vals("t"), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(vals("tail"), [4, 5]);
  const be = f32(1.5, -2);
  for (let i = 0; i < be.length; i += 4) be.subarray(i, i + 4).reverse();
  const big = parseTorchCheckpoint(
    archive(statePickle([{ name: "b", key: "0", numel: 2, offset: 0, size: [2], stride: [1] }]), { "0": be }, "big"),
    "m.bin",
  );
  assert.deepEqual([...new Float32Array(big.get("b")!.bytes.slice().buffer)], [1.5, -2]);
});

Deno.test("pytorch: refuses globals outside the allowlist, naming them", () => {
  const hostile = (g: number[]) =>
    archive(new Uint8Array([0x80, 2, ...g, ...tuple(str("echo pwned")), 0x52, 0x2e]), {});
  assert.throws(() => parseTorchCheckpoint(hostile(glob("os", "system")), "pytorch_model.bin"), {
    message: "pytorch_model.bin: refuses global os.system",
  });
  assert.throws(
    () => parseTorchCheckpoint(hostile(glob("builtins", "eval")), "pytorch_model.bin"),
    /refuses global builtins\.eval/,
  );
  // STACK_GLOBAL, the protocol-4 way to name a global.
  const stack = archive(new Uint8Array([0x80, 4, ...str("posix"), ...str("system"), 0x93, 0x2e]), {});
  assert.throws(() => parseTorchCheckpoint(stack, "x.bin"), /refuses global posix\.system/);
  // A __reduce__ trick inside a state dict: a tensor entry whose value is subprocess.Popen(...).
  const trick = new Uint8Array([
    0x80,
    2,
    0x7d,
    0x28,
    ...str("w"),
    ...glob("subprocess", "Popen"),
    ...tuple(str("sh")),
    0x52,
    0x75,
    0x2e,
  ]);
  assert.throws(() => parseTorchCheckpoint(archive(trick, {}), "x.bin"), /refuses global subprocess\.Popen/);
  // Calling an allowed storage class, and opcodes a state dict never needs.
  const call = new Uint8Array([0x80, 2, ...glob("torch", "FloatStorage"), 0x29, 0x52, 0x2e]);
  assert.throws(() => parseTorchCheckpoint(archive(call, {}), "x.bin"), /refuses to call torch\.FloatStorage/);
  const inst = new Uint8Array([0x80, 2, 0x28, 0x69, ...enc.encode("os\nsystem\n"), 0x2e]);
  assert.throws(() => parseTorchCheckpoint(archive(inst, {}), "x.bin"), /pickle opcode INST/);
  const legacy = new Uint8Array([0x80, 2, 0x8a, 0x0a]);
  assert.throws(() => parseTorchCheckpoint(legacy, "x.bin"), /legacy torch\.save format/);
});

Deno.test("pytorch: tensors outside their storage", () => {
  const one = (t: { numel: number; offset: number; size: number[]; stride: number[] }, data: Uint8Array) =>
    parseTorchCheckpoint(archive(statePickle([{ name: "w", key: "0", ...t }]), { "0": data }), "m.bin");
  assert.throws(
    () => one({ numel: 6, offset: 0, size: [6], stride: [1] }, f32(1, 2, 3)),
    /storage 0 of tensor "w" has 12 bytes, shorter than its 6 F32 elements/,
  );
  assert.throws(() => one({ numel: 4, offset: 0, size: [2, 2], stride: [3, 1] }, f32(1, 2, 3, 4)), /out of bounds/);
  assert.throws(() => one({ numel: 3, offset: 2, size: [2], stride: [1] }, f32(1, 2, 3)), /out of bounds/);
  assert.throws(() => one({ numel: 3, offset: 0, size: [3], stride: [5] }, f32(1, 2, 3)), /out of bounds/);
  assert.throws(
    () => one({ numel: 3, offset: 0, size: [1000000, 3], stride: [0, 1] }, f32(1, 2, 3)),
    /tensor "w" has 3000000 elements, more than the 3 of its storage 0/,
  );
  const missing = parseTorchCheckpoint.bind(
    null,
    archive(statePickle([{ name: "w", key: "7", numel: 1, offset: 0, size: [1], stride: [1] }]), {}),
    "m.bin",
  );
  assert.throws(missing, /uses storage 7, which is not in the archive/);
});

Deno.test("pytorch: zip paths, bombs, truncation", () => {
  const pkl = statePickle([]);
  assert.throws(() => readZip(zip([["../evil", pkl]]), "z"), /zip entry "\.\.\/evil" has a '\.\.' or '\.' segment/);
  assert.throws(() => readZip(zip([["a/../../evil", pkl]]), "z"), /escapes the archive/);
  assert.throws(() => readZip(zip([["/etc/passwd", pkl]]), "z"), /zip entry "\/etc\/passwd" has an absolute path/);
  assert.throws(() => readZip(zip([["C:/x", pkl]]), "z"), /absolute path/);
  assert.throws(
    () => readZip(zip([["bomb", new Uint8Array(10)]], { method: 8, declare: 4_000_000_000 }), "z"),
    /zip entry "bomb" declares 4000000000 bytes from 10 compressed: refused as a zip bomb/,
  );
  assert.throws(() => readZip(zip([["s", pkl]], { declare: 99 }), "z"), /STORED but declares 99 bytes/);
  const good = archive(pkl, {});
  assert.equal(parseTorchCheckpoint(good, "m.bin").size, 0);
  for (const cut of [good.length - 1, good.length - 30, 40, 0]) {
    assert.throws(
      () => parseTorchCheckpoint(good.slice(0, cut), "m.bin"),
      /m\.bin: .*(truncated|malformed)/,
      `cut ${cut}`,
    );
  }
});

Deno.test("pytorch: sharded pytorch_model.bin.index.json, and its file-name checks", async () => {
  const dir = fixtureDir("ssm-mamba1-tiny");
  const config = Deno.readTextFileSync(`${dir}/config.json`);
  const whole = Deno.readFileSync(`${dir}/pytorch_model.bin`);
  const names = [...parseTorchCheckpoint(whole, "x").keys()];
  const weightMap = Object.fromEntries(names.map((n) => [n, "pytorch_model-00001-of-00001.bin"]));
  const ckpt = await loadCheckpoint(memorySource({
    "config.json": config,
    "pytorch_model.bin.index.json": JSON.stringify({ weight_map: weightMap }),
    "pytorch_model-00001-of-00001.bin": whole,
  }));
  assert.equal(ckpt.tensors.size, names.length);
  assert.deepEqual(ckpt.files, ["config.json", "pytorch_model.bin.index.json", "pytorch_model-00001-of-00001.bin"]);
  await assert.rejects(
    loadCheckpoint(memorySource({
      "config.json": config,
      "pytorch_model.bin.index.json": JSON.stringify({ weight_map: { [names[0]]: "../x.bin" } }),
    })),
    /not a plain relative file name/,
  );
});

Deno.test("pytorch: state-spaces configs: empty ssm_cfg, padded vocab rows kept, tie_embeddings both ways", async () => {
  const dir = fixtureDir("ssm-mamba1-tiny");
  const config = JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
  const bin = Deno.readFileSync(`${dir}/pytorch_model.bin`);
  // Empty ssm_cfg: mamba_ssm's Mamba-1 defaults.
  const w = await loadWeights(memorySource({ "config.json": JSON.stringify(config), "pytorch_model.bin": bin }));
  assert.deepEqual(
    [w.config.arch, w.config.dState, w.config.dConv, w.config.dInner, w.config.dtRank, w.config.source],
    ["mamba1", 16, 4, 128, 4, "state-spaces"],
  );
  // vocab_size 250 pads to 256 (multiple 8): the embedding keeps its 256 rows, as mamba_ssm stores and runs them.
  const padded = await loadWeights(
    memorySource({ "config.json": JSON.stringify({ ...config, vocab_size: 250 }), "pytorch_model.bin": bin }),
  );
  assert.equal(padded.config.vocabSize, 256);
  assert.equal(padded.config.tokenVocabSize, 250); // rows 250..255 are padding: never chosen as tokens
  assert.deepEqual(padded.embedding.shape, [256, 64]);
  // tie_embeddings: true ignores a stored lm_head (shape-checked); false uses it.
  const records = parseTorchCheckpoint(bin, "x");
  const emb = records.get("backbone.embedding.weight")!;
  const head = new Float32Array(256 * 64).fill(0.5);
  const withHead = writeSafetensors([
    ...[...records.values()].map((r) => ({ name: r.name, shape: r.shape, data: toFloat32(r) })),
    { name: "lm_head.weight", shape: emb.shape, data: head },
  ]);
  const load = (tie: boolean) =>
    loadWeights(
      memorySource({
        "config.json": JSON.stringify({ ...config, tie_embeddings: tie }),
        "model.safetensors": withHead,
      }),
    );
  assert.equal((await load(true)).lmHead, null);
  const untied = await load(false);
  assert.deepEqual(untied.lmHead!.data, head);
  assert.equal(untied.config.tieEmbeddings, false);
});

Deno.test("pytorch: DEFLATE entries inflate (torch writes STORED, other zippers may not)", () => {
  const pkl = statePickle([{ name: "w", key: "0", numel: 3, offset: 0, size: [3], stride: [1] }]);
  const bytes = zipSync({ "a/data.pkl": pkl, "a/byteorder": enc.encode("little"), "a/data/0": f32(1, 2, 3) }, {
    level: 6,
  });
  const t = parseTorchCheckpoint(bytes, "m.bin");
  assert.deepEqual([...new Float32Array(t.get("w")!.bytes.slice().buffer)], [1, 2, 3]);
});
