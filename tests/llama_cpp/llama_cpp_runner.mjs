// Runs the real llama.cpp (npm node-llama-cpp, its prebuilt CPU library) on GGUF files: evaluates token ids and
// writes the logits of chosen positions, and tokenizes texts with a GGUF's own vocabulary. Driven by
// tests/llama_cpp/llama_cpp_test.ts with `node` (node-llama-cpp is a Node package with a native addon).
//
//   node llama_cpp_runner.mjs <folder holding node_modules/node-llama-cpp> <request.json>
//
// request.json: {"jobs": [{"model": "x.gguf", "ids": [1, 2, 3], "positions": [0, 2], "logitsOut": "x.f32",
//                          "tokenize": ["Hello world"]}, …]}
// For each job, writes `positions.length × vocab` little-endian float32 logits (row-major; the logits after
// `ids[p]`, for each p of `positions`, default every position) to logitsOut, and prints one JSON line:
// {"results": [{"vocab": n, "tokens": [[…], …]}, …]} (tokens: llama.cpp's ids of each text, no BOS, no special
// tokens parsed). One process for all jobs: starting llama.cpp's binding takes seconds. An error: stderr, exit 1.
import { readFileSync, writeFileSync } from "node:fs";
import { loadLlamaCpp } from "./llama_cpp_load.mjs";

const [dir, requestPath] = process.argv.slice(2);
const request = JSON.parse(readFileSync(requestPath, "utf8"));
const { llama } = await loadLlamaCpp(dir);

async function runJob(job) {
  const model = await llama.loadModel({ modelPath: job.model, gpuLayers: 0 });
  const result = { vocab: 0, tokens: [] };
  try {
    for (const text of job.tokenize ?? []) result.tokens.push(Array.from(model.tokenize(text, false)));
    const ids = job.ids ?? [];
    if (ids.length === 0) return result;
    const positions = job.positions ?? ids.map((_, p) => p);
    const wanted = new Set(positions);
    const context = await model.createContext({
      contextSize: Math.max(ids.length + 1, 32),
      batchSize: ids.length,
      sequences: 1,
      threads: 2,
    });
    try {
      // controlledEvaluate's `logits: true` returns the raw logits row of that position (a Map token → logit).
      const items = ids.map((id, p) => wanted.has(p) ? [id, { generateNext: { logits: true } }] : id);
      const outputs = await context.getSequence().controlledEvaluate(items);
      const vocab = outputs[positions[0]]?.next?.logits?.size ?? 0;
      const rows = new Float32Array(positions.length * vocab);
      positions.forEach((p, i) => {
        const logits = outputs[p]?.next?.logits;
        if (!logits || logits.size !== vocab) throw new Error(`${job.model}: no full logits at position ${p}`);
        for (const [token, value] of logits) rows[i * vocab + token] = value;
      });
      writeFileSync(job.logitsOut, new Uint8Array(rows.buffer));
      result.vocab = vocab;
    } finally {
      await context.dispose();
    }
    return result;
  } finally {
    await model.dispose();
  }
}

const results = [];
for (const job of request.jobs) results.push(await runJob(job));
await llama.dispose();
console.log(JSON.stringify({ results }));
