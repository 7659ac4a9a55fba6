/**
 * `perfmamba export --format gguf` end to end: a dense fixture (no tokenizer: no_vocab; with the byte tokenizer;
 * tokenizer.json found in the folder; F16 matrices), the output of `prune` with one k (exported, and read back by
 * the GGUF importer with the pruned state size) and with per-layer k (refused, naming why), and usage / input errors
 * with their exit codes; an existing --out is never overwritten and a failed export leaves nothing behind.
 * llama.cpp running these files is tests/llama_cpp/llama_cpp_test.ts.
 */
import assert from "node:assert/strict";
import { ggufCheckpoint } from "../../runtime/gguf_mamba.ts";
import { type GgufFile, parseGguf } from "../../runtime/gguf.ts";
import { exists, fixtureDir } from "../_golden.ts";
import { cli } from "./_cli.ts";

const BYTE_TOKENIZER = new URL("../fixtures/eval/byte-tokenizer.json", import.meta.url).pathname;

async function readGguf(path: string): Promise<GgufFile> {
  return parseGguf(await Deno.readFile(path), path);
}

const meta = (f: GgufFile, key: string) => f.metadata.get(key)?.value;

Deno.test("cli export: dense fixture without / with a tokenizer, tokenizer.json in the folder, F16", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fx = fixtureDir("mamba1-tiny");
    const r = await cli("export", "--model", fx, "--format", "gguf", "--out", `${dir}/a.gguf`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /a\.gguf: GGUF mamba, 2 layers, state size 16, F32 matrices, .* no tokenizer \(no_vocab/);
    const a = await readGguf(`${dir}/a.gguf`);
    assert.equal(meta(a, "general.architecture"), "mamba");
    assert.equal(meta(a, "general.name"), "mamba1-tiny");
    assert.equal(meta(a, "tokenizer.ggml.model"), "no_vocab");
    assert.equal(meta(a, "mamba.vocab_size"), 256);
    assert.ok(a.tensors.every((t) => t.type === "F32"));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.gguf"]); // no temporary left

    const b = await cli(
      "export",
      "--model",
      fixtureDir("mamba2-tiny"),
      "--format",
      "gguf",
      "--out",
      `${dir}/b.gguf`,
      "--tokenizer",
      BYTE_TOKENIZER,
      "--type",
      "f16",
      "--name",
      "tiny",
    );
    assert.equal(b.code, 0, b.stderr);
    const bf = await readGguf(`${dir}/b.gguf`);
    assert.equal(meta(bf, "general.name"), "tiny");
    assert.equal(meta(bf, "tokenizer.ggml.model"), "gpt2");
    assert.equal(meta(bf, "tokenizer.ggml.pre"), "gpt-2");
    assert.equal(meta(bf, "tokenizer.ggml.tokens").length, 256);
    assert.equal(meta(bf, "general.file_type"), 1); // MOSTLY_F16
    assert.equal(bf.tensors.find((t) => t.name === "blk.0.ssm_in.weight")!.type, "F16");
    assert.equal(bf.tensors.find((t) => t.name === "blk.0.ssm_norm.weight")!.type, "F32");

    // A folder holding tokenizer.json: used without --tokenizer.
    await Deno.mkdir(`${dir}/with-tok`);
    for (const f of ["config.json", "model.safetensors"]) await Deno.copyFile(`${fx}/${f}`, `${dir}/with-tok/${f}`);
    await Deno.copyFile(BYTE_TOKENIZER, `${dir}/with-tok/tokenizer.json`);
    const c = await cli("export", "--model", `${dir}/with-tok`, "--format", "gguf", "--out", `${dir}/c.gguf`);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /tokenizer tokenizer\.json \(gpt2, pre gpt-2, 256 tokens\)/);
    assert.equal(meta(await readGguf(`${dir}/c.gguf`), "tokenizer.ggml.model"), "gpt2");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli export: prune's output with one k exports; per-layer k is refused with the reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fx = fixtureDir("mamba2-groups");
    const p = await cli("prune", "--model", fx, "--out", `${dir}/p`, "--ratio", "0.25", "--score", "index", "--quiet");
    assert.equal(p.code, 0, p.stderr);
    const e = await cli("export", "--model", `${dir}/p`, "--format", "gguf", "--out", `${dir}/p.gguf`);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /GGUF mamba2, 2 layers, state size 12/);
    const back = ggufCheckpoint(await readGguf(`${dir}/p.gguf`));
    assert.equal(back.config.dState, 12);
    assert.equal(back.config.nGroups, 4);

    const g = await cli(
      "prune",
      "--model",
      fx,
      "--out",
      `${dir}/g`,
      "--ratio",
      "0.3",
      "--score",
      "random",
      "--scope",
      "global",
      "--quiet",
    );
    assert.equal(g.code, 0, g.stderr);
    const sizes = JSON.parse(await Deno.readTextFile(`${dir}/g/pruning.json`)).stateSizes.after as number[];
    assert.notEqual(sizes[0], sizes[1], "the global budget gives the layers different k here");
    const x = await cli("export", "--model", `${dir}/g`, "--format", "gguf", "--out", `${dir}/g.gguf`);
    assert.equal(x.code, 1);
    assert.match(
      x.stderr,
      new RegExp(
        `cannot write this model as GGUF: its layers have different state sizes \\(${sizes.join(", ")}\\); ` +
          "GGUF's ssm.state_size is one number for every layer",
      ),
    );
    assert.equal(exists(`${dir}/g.gguf`), false);
    assert.deepEqual([...Deno.readDirSync(dir)].map((d) => d.name).sort(), ["g", "p", "p.gguf"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli export: usage errors exit 2, input errors exit 1, nothing of the user's overwritten", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fx = fixtureDir("mamba1-tiny");
    await Deno.writeTextFile(`${dir}/mine.gguf`, "the user's file");
    const tooBig = JSON.parse(await Deno.readTextFile(BYTE_TOKENIZER));
    tooBig.added_tokens = [{ id: 300, content: "<|endoftext|>", special: true }];
    await Deno.writeTextFile(`${dir}/big-tokenizer.json`, JSON.stringify(tooBig));
    await Deno.writeTextFile(
      `${dir}/wordpiece.json`,
      JSON.stringify({ model: { type: "WordPiece", vocab: { a: 0 } }, pre_tokenizer: null, decoder: null }),
    );
    const base = ["export", "--model", fx, "--format", "gguf"];
    const cases: [string[], number, RegExp][] = [
      [[...base, "--out", `${dir}/mine.gguf`], 2, /--out .*mine\.gguf already exists; choose a new file/],
      [["export", "--model", fx, "--format", "onnx", "--out", `${dir}/x`], 2, /--format must be gguf, got "onnx"/],
      [["export", "--model", fx, "--out", `${dir}/x`], 2, /--format/],
      [[...base], 2, /--out/],
      [[...base, "--out", `${dir}/x`, "--type", "q4_1"], 2, /--type/],
      [[...base, "--out", `${dir}/x`, "--bogus"], 2, /bogus/],
      [["export", "--model", `${dir}/none`, "--format", "gguf", "--out", `${dir}/x`], 1, /none/],
      [
        ["export", "--model", `${dir}/mine.gguf`, "--format", "gguf", "--out", `${dir}/x`],
        2,
        /--model .*mine\.gguf is a GGUF file already; export reads a checkpoint folder/,
      ],
      [
        [...base, "--out", `${dir}/x`, "--tokenizer", `${dir}/big-tokenizer.json`],
        1,
        /big-tokenizer\.json: added token "<\|endoftext\|>" has id 300, past the model's vocabulary of 256/,
      ],
      [
        [...base, "--out", `${dir}/x`, "--tokenizer", `${dir}/wordpiece.json`],
        1,
        /wordpiece\.json: model type "WordPiece" is not supported; only byte-level BPE/,
      ],
      [[...base, "--out", `${dir}/x`, "--tokenizer", `${dir}/missing.json`], 1, /missing\.json: cannot read/],
      [[...base, "--out", `${dir}/no/such/dir/x.gguf`], 1, /cannot write .*no\/such\/dir\/x\.gguf/],
    ];
    for (const [args, code, re] of cases) {
      const r = await cli(...args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
    }
    assert.equal(await Deno.readTextFile(`${dir}/mine.gguf`), "the user's file");
    assert.deepEqual([...Deno.readDirSync(dir)].map((d) => d.name).sort(), [
      "big-tokenizer.json",
      "mine.gguf",
      "wordpiece.json",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli generate and eval --model FILE.gguf use the file's own tokenizer (rebuilt from tokenizer.ggml.*)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fx = fixtureDir("mamba2-tiny");
    const e = await cli(
      "export",
      "--model",
      fx,
      "--format",
      "gguf",
      "--out",
      `${dir}/t.gguf`,
      "--tokenizer",
      BYTE_TOKENIZER,
    );
    assert.equal(e.code, 0, e.stderr);
    const common = ["--prompt", "Hello, wörld", "--max-new-tokens", "6", "--backend", "wasm", "--json"];
    const fromGguf = await cli("generate", "--model", `${dir}/t.gguf`, ...common);
    assert.equal(fromGguf.code, 0, fromGguf.stderr);
    const fromDir = await cli("generate", "--model", fx, "--tokenizer", BYTE_TOKENIZER, ...common);
    assert.equal(fromDir.code, 0, fromDir.stderr);
    const [a, b] = [JSON.parse(fromGguf.stdout), JSON.parse(fromDir.stdout)];
    assert.deepEqual(a.prompt_tokens, [...new TextEncoder().encode("Hello, wörld")]); // byte ids
    assert.deepEqual(a.prompt_tokens, b.prompt_tokens);
    assert.equal(a.tokens.length, 6);
    assert.deepEqual(a.tokens, b.tokens);
    assert.equal(a.text, b.text);

    // eval (and every command with a tokenizer: commandTokenizer) reads the GGUF's own tokenizer too.
    const text = `${dir}/t.txt`;
    await Deno.writeTextFile(text, "Hello, wörld: a short text to score, twice over. ".repeat(4));
    const evalArgs = ["--text", text, "--window", "64", "--backend", "wasm", "--format", "json"];
    const evalGguf = await cli("eval", "--model", `${dir}/t.gguf`, ...evalArgs);
    assert.equal(evalGguf.code, 0, evalGguf.stderr);
    const evalDir = await cli("eval", "--model", fx, "--tokenizer", BYTE_TOKENIZER, ...evalArgs);
    assert.equal(evalDir.code, 0, evalDir.stderr);
    const [pa, pb] = [JSON.parse(evalGguf.stdout), JSON.parse(evalDir.stdout)];
    assert.ok(pa.counts.scored_tokens > 100, `scored ${pa.counts.scored_tokens} tokens`);
    assert.deepEqual(pa.counts, pb.counts);
    assert.ok(
      Math.abs(pa.metrics.ppl - pb.metrics.ppl) <= 1e-4 * pb.metrics.ppl,
      `${pa.metrics.ppl} vs ${pb.metrics.ppl}`,
    );

    const n = await cli("export", "--model", fx, "--format", "gguf", "--out", `${dir}/n.gguf`);
    assert.equal(n.code, 0, n.stderr);
    const g = await cli("generate", "--model", `${dir}/n.gguf`, ...common);
    assert.equal(g.code, 2);
    assert.match(g.stderr, /n\.gguf has no tokenizer \(tokenizer\.ggml\.model "no_vocab"\); pass --tokenizer FILE/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
