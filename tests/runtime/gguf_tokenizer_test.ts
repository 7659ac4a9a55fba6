/**
 * runtime/gguf_tokenizer.ts: tokenizer.json → llama.cpp's tokenizer.ggml.* metadata and back. The oracles are
 * llama.cpp's converter table (GPT-NeoX-20B's pre-tokenizer hash is "mpt"), the GPT-NeoX tokenizer.json itself
 * (its vocabulary, added tokens and merges must come through unchanged) and @huggingface/tokenizers (the rebuilt
 * tokenizer.json must give the original's ids). llama.cpp's own tokenization of the exported files is checked in
 * tests/llama_cpp/llama_cpp_test.ts.
 */
import assert from "node:assert/strict";
import { Tokenizer } from "@huggingface/tokenizers";
import { type GgufMetadataEntry, parseGguf, writeGguf } from "../../runtime/gguf.ts";
import {
  GGUF_TOKEN_TYPES,
  ggufNoVocabMetadata,
  ggufPreTokenizer,
  GgufTokenizerError,
  ggufTokenizerMetadata,
  preTokenizerHash,
  tokenizerJsonFromGguf,
} from "../../runtime/gguf_tokenizer.ts";
import { SHARED, sharedSkipReason } from "../_golden.ts";

const NEOX = `${SHARED}/data/tokenizer/gpt-neox-20b-tokenizer.json`;
const neoxSkip = sharedSkipReason("data/tokenizer/gpt-neox-20b-tokenizer.json");

const byKey = (meta: GgufMetadataEntry[]) => new Map(meta.map((e) => [e.key, e]));
// deno-lint-ignore no-explicit-any
const value = (meta: GgufMetadataEntry[], key: string): any => byKey(meta).get(key)?.value;

/** A small byte-level BPE tokenizer.json. */
function tiny(extra: Record<string, unknown> = {}) {
  return {
    added_tokens: [{ id: 0, content: "<|endoftext|>", special: true }, { id: 5, content: "  ", special: false }],
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false },
    decoder: { type: "ByteLevel" },
    model: { type: "BPE", vocab: { "<|endoftext|>": 0, a: 1, b: 2, ab: 3, "Ġ": 4 }, merges: ["a b"] },
    ...extra,
  };
}

Deno.test("preTokenizerHash hashes the ids as Python's str(list) does (llama.cpp's chkhsh)", async () => {
  // Python: hashlib.sha256(str([1, 2, 3]).encode()).hexdigest(), and of str([]).
  assert.equal(await preTokenizerHash([1, 2, 3]), "a36b1f2c3f84522dd1005145646617d7054c0851e97c72a039c0bdfac9fa07f3");
  assert.equal(await preTokenizerHash([]), "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945");
});

Deno.test({
  name: `GPT-NeoX-20B tokenizer.json → GGUF metadata as llama.cpp's converter writes it${
    neoxSkip ? ` (${neoxSkip})` : ""
  }`,
  ignore: neoxSkip !== null,
  fn: async () => {
    const json = JSON.parse(await Deno.readTextFile(NEOX));
    const tok = new Tokenizer(json, {});
    // llama.cpp's table: b6dc8df9… is MPT-7B's tokenizer, which is GPT-NeoX-20B's.
    assert.equal(await ggufPreTokenizer((t) => tok.encode(t).ids), "mpt");
    const meta = ggufTokenizerMetadata(json, { vocabSize: 50280, pre: "mpt", specialIds: { bos: 0, eos: 0, pad: 0 } });
    assert.equal(value(meta, "tokenizer.ggml.model"), "gpt2");
    assert.equal(value(meta, "tokenizer.ggml.pre"), "mpt");
    const tokens: string[] = value(meta, "tokenizer.ggml.tokens");
    const types: number[] = value(meta, "tokenizer.ggml.token_type");
    assert.equal(tokens.length, 50280);
    assert.equal(types.length, 50280);
    for (const [text, id] of Object.entries(json.model.vocab as Record<string, number>)) {
      if (tokens[id] !== text) assert.fail(`token ${id}: ${tokens[id]} ≠ ${text}`);
    }
    // Added tokens: the two special ones are CONTROL, the whitespace runs 50254…50276 USER_DEFINED (raw spaces).
    assert.deepEqual([tokens[0], types[0], tokens[1], types[1]], ["<|endoftext|>", 3, "<|padding|>", 3]);
    assert.deepEqual([tokens[50276], types[50276], tokens[50254].length], ["  ", 4, 24]);
    // Past the tokenizer's 50277 ids: llama.cpp's padding names, UNUSED.
    assert.deepEqual(tokens.slice(50277), ["[PAD50277]", "[PAD50278]", "[PAD50279]"]);
    assert.deepEqual(types.slice(50277), [5, 5, 5]);
    assert.equal(types.filter((t) => t === GGUF_TOKEN_TYPES.NORMAL).length, 50254 - 2); // vocab less the 2 special
    assert.deepEqual(value(meta, "tokenizer.ggml.merges"), json.model.merges);
    assert.equal(value(meta, "tokenizer.ggml.bos_token_id"), 0);
    assert.equal(value(meta, "tokenizer.ggml.eos_token_id"), 0);
    assert.equal(value(meta, "tokenizer.ggml.padding_token_id"), 0);
    assert.equal(byKey(meta).has("tokenizer.ggml.add_bos_token"), false); // NeoX's post-processor adds nothing
  },
});

Deno.test({
  name: `GPT-NeoX tokenizer round trip: tokenizer.json → GGUF file → tokenizer.json gives the same ids${
    neoxSkip ? ` (${neoxSkip})` : ""
  }`,
  ignore: neoxSkip !== null,
  fn: async () => {
    const json = JSON.parse(await Deno.readTextFile(NEOX));
    const original = new Tokenizer(json, {});
    const meta = ggufTokenizerMetadata(json, { vocabSize: 50280, pre: "mpt", specialIds: { eos: 0 } });
    // Through the bytes of a GGUF file (the strings' UTF-8, the arrays), not only the in-memory entries.
    const file = parseGguf(writeGguf(meta, []), "tokenizer.gguf");
    const rebuilt = new Tokenizer(tokenizerJsonFromGguf(file.metadata, file.name), {});
    const shakespeare = await Deno.readTextFile(`${SHARED}/data/text/tinyshakespeare.txt`).catch(() => "");
    const samples = [
      "Hello world",
      " Hello world!  Two  spaces,\ttabs\n\n\nand     runs of spaces         here.",
      "Numbers 3 33 333 3333 3.14, unicode: Äpfel нещо на Български 我想在apple工作 🦙🦙 ✅",
      "I've been 'told he's there, 'RE you sure? <|endoftext|> after the end",
      shakespeare.slice(0, 20000),
    ];
    for (const text of samples) {
      const a = original.encode(text, { add_special_tokens: false }).ids;
      const b = rebuilt.encode(text, { add_special_tokens: false }).ids;
      assert.deepEqual(b, a, `ids of ${JSON.stringify(text.slice(0, 40))}`);
      assert.equal(rebuilt.decode(b), original.decode(a));
    }
    assert.deepEqual(rebuilt.encode("Hello world", { add_special_tokens: false }).ids, [12092, 1533]); // shared/README
  },
});

Deno.test("ggufTokenizerMetadata: pair merges, TemplateProcessing BOS / EOS, config ids, SentencePiece spaces", () => {
  const meta = ggufTokenizerMetadata(
    tiny({
      added_tokens: [
        { id: 0, content: "<s>", special: true },
        { id: 5, content: "\u2581x", special: false },
        { id: 6, content: "<|im_end|>", special: false },
      ],
      model: { type: "BPE", vocab: { a: 1, b: 2, ab: 3, "Ġ": 4 }, merges: [["a", "b"], ["a", " b"]] },
      post_processor: {
        type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      },
    }),
    { vocabSize: 8, pre: "gpt-2", specialIds: { bos: 6, eos: 6, unk: 99 } },
  );
  assert.deepEqual(value(meta, "tokenizer.ggml.merges"), ["a b", "a \u0120b"]);
  assert.deepEqual(value(meta, "tokenizer.ggml.tokens"), ["<s>", "a", "b", "ab", "Ġ", " x", "<|im_end|>", "[PAD7]"]);
  assert.deepEqual(value(meta, "tokenizer.ggml.token_type"), [3, 1, 1, 1, 1, 4, 3, 5]); // <|…|> looks special
  assert.equal(value(meta, "tokenizer.ggml.bos_token_id"), 0); // the template's, before config.json's 6
  assert.equal(value(meta, "tokenizer.ggml.eos_token_id"), 6);
  assert.equal(byKey(meta).has("tokenizer.ggml.unknown_token_id"), false); // 99 is outside the vocabulary
  assert.equal(value(meta, "tokenizer.ggml.add_bos_token"), true);
  assert.equal(byKey(meta).has("tokenizer.ggml.add_eos_token"), false);
  // Back: BOS is added by the rebuilt tokenizer's post-processor.
  const rebuilt = new Tokenizer(tokenizerJsonFromGguf(byKey(meta)), {});
  assert.deepEqual(rebuilt.encode("ab").ids, [0, 3]);
  assert.deepEqual(rebuilt.encode("ab", { add_special_tokens: false }).ids, [3]);
});

Deno.test("ggufTokenizerMetadata refuses what llama.cpp's gpt2 tokenizer cannot describe", () => {
  const refuse = (json: unknown, re: RegExp, vocabSize = 8) =>
    assert.throws(() => ggufTokenizerMetadata(json, { vocabSize, pre: "gpt-2" }, "tok.json"), (e: Error) => {
      assert.ok(e instanceof GgufTokenizerError, String(e));
      assert.match(e.message, re);
      return true;
    });
  refuse(tiny({ model: { type: "WordPiece", vocab: {} } }), /tok\.json: model type "WordPiece" is not supported/);
  refuse(tiny({ pre_tokenizer: { type: "Metaspace" } }), /tok\.json: the BPE tokenizer is not byte-level/);
  refuse(tiny(), /added token " {2}" has id 5, past the model's vocabulary of 5/, 5);
  refuse(tiny({ model: { type: "BPE", vocab: { a: 0 } } }), /model\.merges is missing/);
  refuse(tiny({ model: { type: "BPE", vocab: { a: 0 }, merges: [["a"]] } }), /model\.merges\[0\] is neither/);
});

Deno.test("ggufPreTokenizer: an unknown hash is refused, naming it, unless the pre-tokenizer is GPT-2's own", async () => {
  const bytes = (t: string) => [...new TextEncoder().encode(t)];
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, use_regex: true };
  assert.equal(await ggufPreTokenizer(bytes, { pre_tokenizer: byteLevel }), "gpt-2");
  for (
    const other of [
      undefined,
      { pre_tokenizer: { ...byteLevel, use_regex: false } },
      { pre_tokenizer: { ...byteLevel, add_prefix_space: true } },
      { pre_tokenizer: byteLevel, normalizer: { type: "Lowercase" } },
      { pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Split" }, byteLevel] } },
    ]
  ) {
    await assert.rejects(
      () => ggufPreTokenizer(bytes, other),
      /does not know this tokenizer's pre-tokenizer \(check hash [0-9a-f]{64}\)/,
    );
  }
});

Deno.test("the byte tokenizer of tests/fixtures/eval (no merges): empty merges kept, 256 NORMAL tokens, same ids back", async () => {
  const json = JSON.parse(await Deno.readTextFile(new URL("../fixtures/eval/byte-tokenizer.json", import.meta.url)));
  const original = new Tokenizer(json, {});
  const pre = await ggufPreTokenizer((t) => original.encode(t).ids, json);
  assert.equal(pre, "gpt-2");
  const meta = ggufTokenizerMetadata(json, { vocabSize: 256, pre });
  assert.deepEqual(value(meta, "tokenizer.ggml.merges"), []);
  assert.deepEqual(value(meta, "tokenizer.ggml.token_type"), new Array(256).fill(GGUF_TOKEN_TYPES.NORMAL));
  const rebuilt = new Tokenizer(tokenizerJsonFromGguf(byKey(meta)), {});
  const text = "Bytes: Äpfel 🦙 \t\n  x";
  assert.deepEqual(rebuilt.encode(text).ids, [...new TextEncoder().encode(text)]);
});

Deno.test("a model without a tokenizer: no_vocab + <arch>.vocab_size, and no tokenizer.json back", () => {
  const meta = ggufNoVocabMetadata("mamba2", 256);
  assert.deepEqual(meta, [
    { key: "tokenizer.ggml.model", type: "STRING", value: "no_vocab" },
    { key: "mamba2.vocab_size", type: "UINT32", value: 256 },
  ]);
  assert.equal(tokenizerJsonFromGguf(byKey(meta)), null);
  assert.equal(tokenizerJsonFromGguf(new Map()), null);
});

Deno.test("tokenizerJsonFromGguf refuses other tokenizer models and pre-tokenizers, naming the file", () => {
  const meta = (model: string, pre: string) =>
    byKey([
      { key: "tokenizer.ggml.model", type: "STRING", value: model },
      { key: "tokenizer.ggml.pre", type: "STRING", value: pre },
      { key: "tokenizer.ggml.tokens", type: "ARRAY", arrayType: "STRING", value: ["a"] },
      { key: "tokenizer.ggml.merges", type: "ARRAY", arrayType: "STRING", value: [] },
    ]);
  assert.throws(
    () => tokenizerJsonFromGguf(meta("llama", "default"), "x.gguf"),
    /x\.gguf: tokenizer\.ggml\.model "llama"/,
  );
  assert.throws(
    () => tokenizerJsonFromGguf(meta("gpt2", "llama-bpe"), "x.gguf"),
    /x\.gguf: tokenizer\.ggml\.pre "llama-bpe"/,
  );
  const noTypes = meta("gpt2", "gpt-2");
  noTypes.set("tokenizer.ggml.token_type", {
    key: "tokenizer.ggml.token_type",
    type: "ARRAY",
    arrayType: "INT32",
    value: [1, 1],
  });
  assert.throws(() => tokenizerJsonFromGguf(noTypes, "x.gguf"), /token_type has 2 entries for 1 tokens/);
  const noMerges = meta("gpt2", "gpt-2");
  noMerges.delete("tokenizer.ggml.merges");
  assert.throws(() => tokenizerJsonFromGguf(noMerges, "x.gguf"), /tokenizer\.ggml\.merges is missing/);
});
