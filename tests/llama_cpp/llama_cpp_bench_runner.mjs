// Times the real llama.cpp (npm node-llama-cpp, its prebuilt CPU library) for the CPU peer harness
// (tests/llama_cpp/peer_cpu.ts): prefill of L tokens and decode per token at a given thread count, model loading and
// context creation excluded. A long-lived `node` process driven by JSON lines on stdin, so that the harness can
// interleave runs of ours and llama.cpp without reloading either:
//
//   node llama_cpp_bench_runner.mjs <folder holding node_modules/node-llama-cpp>
//
// stdin, one JSON object per line; stdout, one JSON line per request ({"ok": true, …} or {"ok": false, "error": …}):
//   {"cmd": "load", "model": "x.gguf", "threads": 2}       → {"ok": true, "threads": 2}   (unloads the previous one)
//   {"cmd": "run", "ids": [...], "decode": 64}              → {"ok": true, "prefillMs": t, "decodeMs": [t1, …]}
//   {"cmd": "quit"}
// "run": a fresh context (state empty), then the prefill of `ids` in one batch, the last position producing a
// greedy token (so llama.cpp computes its logits, as our prefill does), then `decode` single-token steps each
// producing the next greedy token from its logits. decodeMs holds each step's time.

import { createInterface } from "node:readline";
import { loadLlamaCpp } from "./llama_cpp_load.mjs";

const [dir] = process.argv.slice(2);
// maxThreads 0: a context's `threads` is the number llama.cpp really uses (not a hint capped by a shared pool).
const { llama } = await loadLlamaCpp(dir, { maxThreads: 0 });

let model = null;
let threads = 1;

async function handle(req) {
  if (req.cmd === "load") {
    if (model) await model.dispose();
    model = await llama.loadModel({ modelPath: req.model, gpuLayers: 0 });
    threads = req.threads;
    return { threads };
  }
  if (req.cmd === "run") {
    if (!model) throw new Error("run before load");
    const ids = req.ids;
    const context = await model.createContext({
      contextSize: Math.max(ids.length + req.decode + 8, 32),
      batchSize: ids.length,
      sequences: 1,
      threads,
    });
    try {
      const seq = context.getSequence();
      const items = ids.map((id, p) => p === ids.length - 1 ? [id, { generateNext: { token: true } }] : id);
      let t0 = performance.now();
      const out = await seq.controlledEvaluate(items);
      const prefillMs = performance.now() - t0;
      let next = out[ids.length - 1]?.next?.token ?? ids[0];
      const decodeMs = [];
      for (let i = 0; i < req.decode; i++) {
        t0 = performance.now();
        const step = await seq.controlledEvaluate([[next, { generateNext: { token: true } }]]);
        decodeMs.push(performance.now() - t0);
        next = step[0]?.next?.token ?? next;
      }
      return { prefillMs, decodeMs };
    } finally {
      await context.dispose();
    }
  }
  throw new Error(`unknown command ${JSON.stringify(req.cmd)}`);
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === "") continue;
  const req = JSON.parse(line);
  if (req.cmd === "quit") break;
  try {
    console.log(JSON.stringify({ ok: true, ...(await handle(req)) }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: String(e?.stack ?? e) }));
  }
}
if (model) await model.dispose();
await llama.dispose();
