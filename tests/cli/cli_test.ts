/**
 * The CLI end to end, as a user runs it: `deno run -A cli/main.ts <command>` in a subprocess.
 */
import assert from "node:assert/strict";
import { Tokenizer } from "@huggingface/tokenizers";
import { parseSafetensors, writeSafetensors } from "../../runtime/safetensors.ts";
import {
  assertClose,
  fixtureDir,
  type FixtureGolden,
  type ModelGolden,
  readGolden,
  SHARED,
  sharedSkipReason,
} from "../_golden.ts";
import {
  generate,
  loadWeights,
  MambaModel,
  modelFootprint,
  presetConfig,
  probeWebGpu,
  selectBackend,
} from "../../mod.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { cli } from "./_cli.ts";

const TOKENIZER = `${SHARED}/data/tokenizer/gpt-neox-20b-tokenizer.json`;

Deno.test("cli logits on every fixture matches transformers (and --last)", async () => {
  for (const f of ["mamba1-tiny", "mamba2-tiny", "mamba2-groups"]) {
    const golden = readGolden<FixtureGolden>(fixtureDir(f));
    const r = await cli(
      "logits",
      "--model",
      fixtureDir(f),
      "--tokens",
      golden.input_ids.join(","),
      "--backend",
      "wasm",
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.backend, "wasm");
    assert.deepEqual(out.shape, [37, 256]);
    assertClose(out.logits.flat(), golden.logits.flat(), `${f} logits`);
  }
  const golden = readGolden<FixtureGolden>(fixtureDir("mamba2-tiny"));
  const ids = golden.input_ids;
  const r = await cli(
    "logits",
    "--model",
    fixtureDir("mamba2-tiny"),
    "--tokens",
    `${ids.join(",")};${ids.join(",")}`,
    "--last",
  );
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.shape, [2, 256]);
  assertClose(out.logits[1], golden.logits[36], "batched --last");
});

Deno.test({
  name: "cli logits --backend webgpu --gpu-debug: every dispatch checked in its own error scope, same logits",
  ignore: !(await probeWebGpu()).adapter,
  async fn() {
    const golden = readGolden<FixtureGolden>(fixtureDir("mamba2-groups"));
    const ids = golden.input_ids.join(",");
    const r = await cli(
      "logits",
      "--model",
      fixtureDir("mamba2-groups"),
      "--tokens",
      ids,
      "--backend",
      "webgpu",
      "--gpu-debug",
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.backend, "webgpu");
    // GPU kernels reorder sums (tiled GEMMs, chunked SSD): 1e-3 of the largest logit, as the WebGPU model tests.
    assertClose(out.logits.flat(), golden.logits.flat(), "mamba2-groups logits with --gpu-debug", 1e-3, 1e-5);
  },
});

Deno.test("cli info describes a fixture", async () => {
  const r = await cli("info", "--model", fixtureDir("mamba2-groups"), "--format", "json");
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.arch, "mamba2");
  assert.equal(info.n_groups, 4);
  assert.equal(info.n_heads, 8);
  assert.equal(info.d_state, 16);
  assert.deepEqual(info.dtypes, { F32: info.parameters });
  const t = await cli("info", "--model", fixtureDir("mamba1-tiny"));
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /Mamba-1/);
  assert.match(t.stdout, /dt_rank\s+4/);
});

Deno.test("cli info --size: bytes per storage format and which backends hold them, without loading a model", async () => {
  const r = await cli("info", "--size", "2.8b", "--arch", "mamba1", "--format", "json");
  assert.equal(r.code, 0, r.stderr);
  const [m] = JSON.parse(r.stdout);
  const config = presetConfig("mamba1", "2.8b");
  assert.equal(m.parameters, 2_768_345_600);
  const by = Object.fromEntries(m.storages.map((s: { storage: string }) => [s.storage, s]));
  for (const [name, storage] of [["f32", "f32"], ["f16", "f16"], ["q8", "q8_0"], ["q4", "q4_0"]] as const) {
    assert.equal(by[name].weight_bytes, modelFootprint(config, storage).weightBytes, name);
  }
  // WASM's 4 GiB: f32 (10.31 GiB) is too large, f16 is not a WASM format, q8 (3.11 GiB) and q4 fit.
  assert.match(by.f32.fits.wasm, /^too large \(limit 4\.00 GiB\)$/);
  assert.equal(by.f16.fits.wasm, "no f16 weights");
  assert.equal(by.q8.fits.wasm, "fits");
  assert.equal(by.q4.fits.wasm, "fits");
  const bad = await cli("info", "--size", "7b");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--size must be one of 130m, 370m, 790m, 1\.4b, 2\.8b, got "7b"/);
});

Deno.test("cli info shows a padded vocabulary's token count (token_vocab_size)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fx = fixtureDir("mamba1-tiny");
    const config = JSON.parse(await Deno.readTextFile(`${fx}/config.json`));
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...config, token_vocab_size: 250 }));
    await Deno.copyFile(`${fx}/model.safetensors`, `${dir}/model.safetensors`);
    const j = await cli("info", "--model", dir, "--format", "json");
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual([JSON.parse(j.stdout).vocab_size, JSON.parse(j.stdout).token_vocab_size], [256, 250]);
    const t = await cli("info", "--model", dir);
    assert.match(t.stdout, /vocab\s+256 \(250 tokens \+ padding\)/);
    const plain = await cli("info", "--model", fx, "--format", "json");
    assert.equal("token_vocab_size" in JSON.parse(plain.stdout), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const BYTES = new URL("../fixtures/eval/byte-tokenizer.json", import.meta.url).pathname;

Deno.test("cli generate --max-new-tokens 0: the prompt and an empty continuation, exit 0 (text and JSON)", async () => {
  const base = ["generate", "--model", fixtureDir("mamba1-tiny"), "--tokenizer", BYTES, "--prompt", "Hi there"];
  const opts = ["--max-new-tokens", "0", "--backend", "wasm", "--threads", "1"];
  const s = await cli(...base, ...opts);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, "Hi there\n");
  assert.match(s.stderr, /0 new tokens .*\(stop: length\)/);
  const j = await cli(...base, ...opts, "--json");
  assert.equal(j.code, 0, j.stderr);
  const out = JSON.parse(j.stdout);
  assert.deepEqual(out.prompt_tokens, [...new TextEncoder().encode("Hi there")]);
  assert.deepEqual(out.tokens, []);
  assert.equal(out.text, "");
  assert.equal(out.stop, "length");
  // One token still decodes through the same path.
  const one = await cli(...base, ...opts.map((a) => a === "0" ? "1" : a), "--json");
  assert.equal(one.code, 0, one.stderr);
  assert.equal(JSON.parse(one.stdout).tokens.length, 1);
});

Deno.test("cli generate --repetition-penalty: the library's tokens for the same options; a bad value is a usage error", async () => {
  const base = ["generate", "--model", fixtureDir("mamba1-tiny"), "--tokenizer", BYTES, "--prompt", "Hi there"];
  const opts = ["--max-new-tokens", "6", "--backend", "wasm", "--threads", "1", "--json"];
  const o = { temperature: 0.9, topP: 0.9, repetitionPenalty: 1.7, seed: 5 };
  const r = await cli(
    ...base,
    ...opts,
    "--temperature",
    "0.9",
    "--top-p",
    "0.9",
    "--repetition-penalty",
    "1.7",
    "--seed",
    "5",
  );
  assert.equal(r.code, 0, r.stderr);
  const backend = await selectBackend("wasm", { threads: 1 });
  try {
    const model = MambaModel.load(await loadWeights(dirSource(fixtureDir("mamba1-tiny"))), backend);
    const want = await generate(model, [...new TextEncoder().encode("Hi there")], { ...o, maxNewTokens: 6 });
    const plain = await generate(model, [...new TextEncoder().encode("Hi there")], {
      ...o,
      repetitionPenalty: 1,
      maxNewTokens: 6,
    });
    assert.deepEqual(JSON.parse(r.stdout).tokens, want.tokens);
    assert.notDeepEqual(want.tokens, plain.tokens); // the penalty changes this continuation
    model.dispose();
  } finally {
    backend.dispose();
  }
  for (const bad of ["0", "-1", "x"]) {
    const b = await cli(...base, ...opts, `--repetition-penalty=${bad}`);
    assert.equal(b.code, 2, b.stderr);
    assert.match(b.stderr, /--repetition-penalty must be a number/);
  }
});

const small = sharedSkipReason("models/mamba2-text-small") ?? sharedSkipReason("data/tokenizer");
Deno.test({
  name: `cli generate continues the trained model's prompt with transformers' greedy tokens${
    small ? ` (${small})` : ""
  }`,
  ignore: small !== null,
  fn: async () => {
    const dir = `${SHARED}/models/mamba2-text-small`;
    const golden = readGolden<ModelGolden>(dir);
    // golden.prompt_text is the cleaned-up decode (" ." → "."), which re-encodes differently; the raw decode
    // of the prompt ids re-encodes to exactly those ids.
    const tok = new Tokenizer(JSON.parse(Deno.readTextFileSync(TOKENIZER)), {});
    const prompt = tok.decode(golden.input_ids, { clean_up_tokenization_spaces: false });
    const n = golden.greedy_continuation.length;
    const r = await cli(
      "generate",
      "--model",
      dir,
      "--tokenizer",
      TOKENIZER,
      "--prompt",
      prompt,
      "--max-new-tokens",
      String(n),
      "--json",
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.prompt_tokens, golden.input_ids);
    assert.deepEqual(out.tokens, golden.greedy_continuation);
    assert.equal(out.text, tok.decode(golden.greedy_continuation, { clean_up_tokenization_spaces: false }));
    // Streaming mode prints the prompt followed by the continuation.
    const s = await cli(
      "generate",
      "--model",
      dir,
      "--tokenizer",
      TOKENIZER,
      "--prompt",
      prompt,
      "--max-new-tokens",
      "4",
    );
    assert.equal(s.code, 0, s.stderr);
    assert.equal(
      s.stdout,
      prompt + tok.decode(golden.greedy_continuation.slice(0, 4), { clean_up_tokenization_spaces: false }) + "\n",
    );
  },
});

Deno.test("cli bad input: clear errors naming the flag, file or tensor, non-zero exit", async () => {
  const fx = fixtureDir("mamba1-tiny");
  const cases: [string[], number, RegExp][] = [
    [["logits", "--tokens", "1,2"], 2, /--model is required/],
    [["logits", "--model", fx, "--tokens", "1,2", "--bogus"], 2, /Unknown option '--bogus'/],
    [["logits", "--model", fx, "--tokens", "1,x"], 2, /--tokens: item 1 \("x"\) is not a whole number/],
    [
      ["logits", "--model", fx, "--tokens", "1,256"],
      1,
      /token id 256 at position 1 is outside the vocabulary \[0, 256\)/,
    ],
    [["logits", "--model", fx, "--tokens", "4294967296"], 1, /token id 4294967296 at position 0 is outside/],
    [["logits", "--model", fx, "--tokens", "1;4294967296"], 1, /sequence 1: token id 4294967296 at position 0/],
    [["logits", "--model", fx, "--tokens", "1,1.5"], 2, /--tokens: item 1 \("1\.5"\) is not a whole number/],
    [["logits", "--model", fx, "--tokens", "1,2;3"], 1, /batch of unequal lengths/],
    [["logits", "--model", fx, "--tokens", "1", "--backend", "cuda"], 2, /--backend must be one of auto, webgpu, wasm/],
    [["logits", "--model", "/nonexistent/dir", "--tokens", "1"], 1, /\/nonexistent\/dir/],
    [["logits", "--model", fx, "--tokens", "1", "--weights", "int4"], 2, /--weights must be one of f32, f16/],
    [
      ["logits", "--model", fx, "--tokens", "1", "--backend", "wasm", "--weights", "f16"],
      2,
      /--weights f16: f16 weight storage is not available on the wasm backend \(it stores f32 weights\)/,
    ],
    [
      ["generate", "--model", fx, "--tokenizer", "/nonexistent/tok.json", "--prompt", "hi"],
      1,
      /tokenizer \/nonexistent\/tok.json/,
    ],
    [["generate", "--model", fx, "--tokenizer", TOKENIZER, "--prompt", ""], 2, /--prompt is empty/],
    [["nonsense"], 2, /unknown command "nonsense"/],
  ];
  for (const [args, code, re] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, code, `${args.join(" ")}: exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
  }
  // A truncated checkpoint and an unknown model_type, in a scratch copy of the fixture.
  const dir = await Deno.makeTempDir();
  try {
    const bytes = await Deno.readFile(`${fx}/model.safetensors`);
    await Deno.writeFile(`${dir}/model.safetensors`, bytes.subarray(0, bytes.length - 100));
    await Deno.copyFile(`${fx}/config.json`, `${dir}/config.json`);
    let r = await cli("logits", "--model", dir, "--tokens", "1");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /model\.safetensors/);
    const cfg = JSON.parse(await Deno.readTextFile(`${fx}/config.json`));
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...cfg, model_type: "llama" }));
    await Deno.writeFile(
      `${dir}/model.safetensors`,
      writeSafetensors([{ name: "x", shape: [1], data: new Float32Array(1) }]),
    );
    r = await cli("info", "--model", dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /config\.json.*llama|llama.*config\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const neoxSkip = sharedSkipReason("data/tokenizer");
Deno.test({
  name: `cli generate: a tokenizer whose ids exceed the model's vocabulary is a usage error${
    neoxSkip ? ` (${neoxSkip})` : ""
  }`,
  ignore: neoxSkip !== null,
  fn: async () => {
    // GPT-NeoX ids on a 256-token fixture.
    const r = await cli(
      "generate",
      "--model",
      fixtureDir("mamba1-tiny"),
      "--tokenizer",
      TOKENIZER,
      "--prompt",
      "Hello world",
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /produced id 12092 but the model's vocabulary has 256 entries/);
  },
});

Deno.test("cli --help works for every command", async () => {
  for (const c of ["demo", "info", "logits", "generate", "bench"]) {
    const r = await cli(c, "--help");
    assert.equal(r.code, 0, `${c}: ${r.stderr}`);
    assert.match(r.stdout, /Usage: perfmamba/);
  }
  const r = await cli("--help");
  assert.match(r.stdout, /Commands:/);
});

Deno.test("cli: weights holding NaN are refused naming the tensor; --allow-nonfinite loads them (info, logits)", async () => {
  const fx = fixtureDir("mamba1-tiny");
  const dir = await Deno.makeTempDir();
  try {
    const bytes = (await Deno.readFile(`${fx}/model.safetensors`)).slice();
    const file = parseSafetensors(bytes, "m");
    const rec = file.tensors.get("backbone.layers.0.mixer.D")!;
    new DataView(rec.bytes.buffer, rec.bytes.byteOffset).setFloat32(4 * 9, NaN, true);
    await Deno.writeFile(`${dir}/model.safetensors`, bytes);
    await Deno.copyFile(`${fx}/config.json`, `${dir}/config.json`);
    for (const args of [["info", "--model", dir], ["logits", "--model", dir, "--tokens", "1", "--backend", "wasm"]]) {
      let r = await cli(...args);
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /model\.safetensors: tensor "backbone\.layers\.0\.mixer\.D" .* holds NaN at flat index 9/);
      r = await cli(...args, "--allow-nonfinite");
      assert.equal(r.code, 0, `${args[0]} --allow-nonfinite: ${r.stderr}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
