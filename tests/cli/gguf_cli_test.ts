/**
 * `--model FILE.gguf` end to end, as a user runs it: info, logits, generate and prune on GGUF files written from
 * the fixtures, and bad GGUF input refused with a named error, exit ≠ 0, nothing read that is not a regular file.
 */
import assert from "node:assert/strict";
import { ggufFromWeights, loadWeights } from "../../mod.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { openModel, resolveModel } from "../../cli/load.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { cli } from "./_cli.ts";

const tmp = await Deno.makeTempDir({ prefix: "perfmamba-gguf-cli-" });
addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));

/** A fixture written as GGUF of `type` under the temp folder; returns its path. */
async function ggufOf(fixture: string, type: "F32" | "F16" | "Q8_0"): Promise<string> {
  const path = `${tmp}/${fixture}-${type}.gguf`;
  const weights = await loadWeights(dirSource(fixtureDir(fixture)));
  await Deno.writeFile(path, ggufFromWeights(weights, { tensorType: type }));
  return path;
}

Deno.test("cli info on a .gguf: its format, architecture and the file's own tensor types", async () => {
  const path = await ggufOf("mamba2-groups", "Q8_0");
  const r = await cli("info", "--model", path, "--format", "json");
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.source, "gguf");
  assert.equal(info.arch, "mamba2");
  assert.equal(info.n_groups, 4);
  assert.equal(info.n_heads, 8);
  assert.deepEqual(info.files, [path]);
  assert.equal(info.file_bytes, (await Deno.stat(path)).size);
  // The matrices are Q8_0 (embedding 256×64, in_proj 392×64, out_proj 64×128 per layer); the rest F32.
  const q8 = 256 * 64 + 2 * (392 * 64 + 64 * 128);
  assert.deepEqual(info.dtypes, { Q8_0: q8, F32: info.parameters - q8 });
  const t = await cli("info", "--model", path);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /format\s+gguf v3 \(llama\.cpp mamba2\)/);
  assert.match(t.stdout, /dtypes\s+Q8_0: /);
});

Deno.test("cli logits on .gguf files of the fixtures matches transformers", async () => {
  for (const f of ["mamba1-tiny", "mamba2-groups", "falcon-mamba-tiny"]) {
    const golden = readGolden<FixtureGolden>(fixtureDir(f));
    const path = await ggufOf(f, "F32");
    const r = await cli("logits", "--model", path, "--tokens", golden.input_ids.join(","), "--backend", "wasm");
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.shape, [golden.input_ids.length, 256]);
    assertClose(out.logits.flat(), golden.logits.flat(), `${f}.gguf logits`);
  }
});

const BYTES = new URL("../fixtures/eval/byte-tokenizer.json", import.meta.url).pathname;

Deno.test("cli generate on a .gguf continues as the checkpoint folder does (greedy)", async () => {
  const args = ["--tokenizer", BYTES, "--prompt", "Hello", "--max-new-tokens", "6", "--backend", "wasm", "--json"];
  const fromDir = await cli("generate", "--model", fixtureDir("mamba1-tiny"), ...args);
  const fromGguf = await cli("generate", "--model", await ggufOf("mamba1-tiny", "F32"), ...args);
  assert.equal(fromDir.code, 0, fromDir.stderr);
  assert.equal(fromGguf.code, 0, fromGguf.stderr);
  const a = JSON.parse(fromDir.stdout), b = JSON.parse(fromGguf.stdout);
  assert.equal(b.tokens.length, 6);
  assert.deepEqual(b.tokens, a.tokens);
});

Deno.test("cli prune reads a .gguf and writes a pruned checkpoint folder", async () => {
  const out = `${tmp}/pruned`;
  const r = await cli(
    "prune",
    "--model",
    await ggufOf("mamba2-tiny", "F16"),
    "--out",
    out,
    "--ratio",
    "0.5",
    "--score",
    "index",
    "--quiet",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await loadWeights(dirSource(out))).config.dState, 8);
});

Deno.test("cli bad .gguf input: a named error, exit ≠ 0, only regular files read", async () => {
  const good = await Deno.readFile(await ggufOf("mamba1-tiny", "F32"));
  const write = async (name: string, bytes: Uint8Array) => {
    await Deno.writeFile(`${tmp}/${name}`, bytes);
    return `${tmp}/${name}`;
  };
  const cases: [string, RegExp][] = [
    [await write("magic.gguf", new TextEncoder().encode("GGML not gguf")), /magic\.gguf: not a GGUF file/],
    [await write("cut.gguf", good.slice(0, good.length - 4096)), /cut\.gguf: tensor ".*" .* needs bytes .*truncated/],
    [await write("v9.gguf", Uint8Array.from([...good.subarray(0, 4), 9, 0, 0, 0, ...good.subarray(8)])), /version 9/],
    [`${tmp}/missing.gguf`, /missing\.gguf: no such file/],
  ];
  await Deno.mkdir(`${tmp}/folder.gguf`);
  cases.push([`${tmp}/folder.gguf`, /folder\.gguf: a directory.*not a regular file/]);
  const fifo = `${tmp}/fifo.gguf`;
  if ((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success) {
    cases.push([fifo, /fifo\.gguf: a FIFO \(named pipe\).*not a regular file/]);
  }
  for (const [path, message] of cases) {
    const r = await cli("logits", "--model", path, "--tokens", "1,2", "--backend", "wasm");
    assert.notEqual(r.code, 0, `${path}: exit 0`);
    assert.match(r.stderr, message, path);
    assert.equal(r.stdout, "", `${path}: printed output`);
  }
});

Deno.test("a resolved .gguf is read and parsed once for its tokenizer and its weights", async () => {
  const path = await ggufOf("mamba1-tiny", "F32");
  const resolved = await resolveModel(path, {});
  const first = await resolved.parseGguf!();
  assert.equal(await resolved.parseGguf!(), first, "the second call returns the first parse");
  assert.equal((await openModel(resolved, {})).gguf, first, "openModel reuses it");
  assert.equal((await resolveModel(fixtureDir("mamba1-tiny"), {})).parseGguf, null);
});
