// Runs the real llama.cpp (npm node-llama-cpp, its prebuilt CPU library) on a GGUF file: evaluates token ids and
// writes the logits of every position, and/or tokenizes texts with the GGUF's own vocabulary. Driven by
// tests/llama_cpp/llama_cpp_test.ts with `node` (node-llama-cpp is a Node package with a native addon).
//
//   node llama_cpp_runner.mjs <node-llama-cpp dir> <request.json>
//
// request.json: {"model": "x.gguf", "ids": [1, 2, 3], "logitsOut": "x.f32", "tokenize": ["Hello world"]}
// Writes `ids.length × vocab` little-endian float32 logits (row-major, position by position) to logitsOut and prints
// one JSON line: {"vocab": n, "positions": p, "tokens": [[…], …]} (tokens: llama.cpp's ids of each text, no BOS).
// Exit 0 on success; an error is printed on stderr with exit 1.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [dir, requestPath] = process.argv.slice(2);
const request = JSON.parse(readFileSync(requestPath, "utf8"));
const entry = join(dir, "node_modules", "node-llama-cpp", "dist", "index.js");
const { getLlama, LlamaLogLevel, LlamaModel } = await import(pathToFileURL(entry).href);

// node-llama-cpp's loadModel checks a tokenize → detokenize round trip (LlamaModel.getWarnings); llama.cpp aborts the
// process (GGML_ASSERT "Tokenizer not initialized") when asked to tokenize with a vocabulary-less model
// (`tokenizer.ggml.model` "no_vocab", which llama.cpp loads with `<arch>.vocab_size` dummy tokens). Skip that check
// for such models only; evaluation by token ids, all this runner does with them, needs no tokenizer.
const warnings = LlamaModel.prototype.getWarnings;
LlamaModel.prototype.getWarnings = function () {
  return this.fileInfo.metadata?.tokenizer?.ggml?.model === "no_vocab" ? [] : warnings.call(this);
};

// CPU only, the prebuilt binary, never a build or a download (the machine may be offline).
const llama = await getLlama({
  gpu: false,
  build: "never",
  usePrebuiltBinaries: true,
  skipDownload: true,
  progressLogs: false,
  logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({ modelPath: request.model, gpuLayers: 0 });
const out = { vocab: 0, positions: 0, tokens: [] };
for (const text of request.tokenize ?? []) out.tokens.push(Array.from(model.tokenize(text, false)));
const ids = request.ids ?? [];
if (ids.length > 0) {
  const context = await model.createContext({
    contextSize: Math.max(ids.length + 1, 32),
    batchSize: Math.max(ids.length, 1),
    sequences: 1,
    threads: 2,
  });
  const sequence = context.getSequence();
  const results = await sequence.controlledEvaluate(ids.map((id) => [id, { generateNext: { logits: true } }]));
  const vocab = results[0]?.next?.logits?.size ?? 0;
  const rows = new Float32Array(ids.length * vocab);
  for (let p = 0; p < ids.length; p++) {
    const logits = results[p]?.next?.logits;
    if (!logits || logits.size !== vocab) throw new Error(`no full logits at position ${p}`);
    for (const [token, value] of logits) rows[p * vocab + token] = value;
  }
  writeFileSync(request.logitsOut, new Uint8Array(rows.buffer));
  out.vocab = vocab;
  out.positions = ids.length;
  await context.dispose();
}
await model.dispose();
await llama.dispose();
console.log(JSON.stringify(out));
