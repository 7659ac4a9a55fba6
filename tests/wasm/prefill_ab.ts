/**
 * Prefill A/B of two checkouts of this repository in ONE process (not a test): each tree's mod.ts loads the same
 * 130m-shaped model with deterministic random weights on its own WASM backend, then L-token prefills (last logits
 * only) alternate between the trees round after round (order flipped every round), so that the load of a shared
 * machine hits both alike. Prints tok/s median, best and worst per tree.
 *
 * Each side may also run block-quantized weights (`--old-weights` / `--new-weights` q8_0 | q4_0: the model written
 * as a GGUF of that type — every matrix, embedding / lm_head included, as llama.cpp's exports — and read back keeping
 * its blocks) on a chosen WASM quantized path (`--old-math` / `--new-math` int16 | int8 | exact; default the tree's
 * default). The two sides may be the same tree: `--old . --new . --old-math int16 --new-math int8 --length 1` is a
 * one-token (decode-sized) A/B of the two activation paths in one process. `--old-params` / `--new-params f32|f16`:
 * how a quantized side holds A_log, conv1d and D (trees from the f16 parameters on; default f16 there). `--decode N` times N decode steps
 * (`step`, logits every token) after an untimed L-token prefill instead, and reports ms per token.
 * `--relaxed-simd on|off` picks the kernels' build on both sides (default auto: relaxed where the host has it).
 *
 *   git archive <old commit> | tar -x -C /tmp/old; git archive HEAD | tar -x -C /tmp/new
 *   deno run -A tests/wasm/prefill_ab.ts --old /tmp/old --new /tmp/new --arch mamba2 --threads 1 --rounds 8
 *   deno run -A tests/wasm/prefill_ab.ts --old . --new . --old-weights q8_0 --new-weights q8_0 --old-math int16 \
 *     --new-math int8 --length 1 --rounds 40
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Backend } from "../../runtime/backend.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    old: { type: "string" },
    new: { type: "string" },
    arch: { type: "string", default: "mamba2" },
    threads: { type: "string", default: "1" },
    rounds: { type: "string", default: "8" },
    length: { type: "string", default: "512" },
    decode: { type: "string", default: "0" },
    "old-weights": { type: "string", default: "f32" },
    "new-weights": { type: "string", default: "f32" },
    "old-math": { type: "string" },
    "new-math": { type: "string" },
    "relaxed-simd": { type: "string", default: "auto" },
    "old-params": { type: "string" },
    "new-params": { type: "string" },
  },
});
const RELAXED: Record<string, boolean | "auto"> = { auto: "auto", on: true, off: false };
if (!Object.hasOwn(RELAXED, values["relaxed-simd"]!)) {
  throw new Error(`--relaxed-simd: "${values["relaxed-simd"]}" is not auto, on or off`);
}
if (!values.old || !values.new) throw new Error("--old DIR and --new DIR (checkouts of this repository) are required");
const threads = Number(values.threads), rounds = Number(values.rounds), L = Number(values.length);
const ids = Array.from({ length: L }, (_, i) => (i * 7919 + 13) % 50000);

/** What the bench uses of a tree's model (the public API of every version since the presets). */
interface Model {
  prefill(ids: number[], opts: { lastOnly: boolean }): Promise<{ state: { dispose(): void } }>;
  step(ids: number[], state: { dispose(): void }): Promise<unknown>;
}
const D = Number(values.decode);

const GGUF_TYPES: Record<string, string | null> = { f32: null, q8_0: "Q8_0", q4_0: "Q4_0" };
const MATHS: Record<string, boolean | string> = { int16: "int16", int8: "int8", exact: false };
const runs: { name: string; model: Model; backend: Backend }[] = [];
for (const [name, dir] of [["old", values.old], ["new", values.new]] as const) {
  const weights = values[`${name}-weights`]!, math = values[`${name}-math`];
  if (!Object.hasOwn(GGUF_TYPES, weights)) throw new Error(`--${name}-weights: "${weights}" is not f32, q8_0 or q4_0`);
  if (math !== undefined && !Object.hasOwn(MATHS, math)) {
    throw new Error(`--${name}-math: "${math}" is not int16, int8 or exact`);
  }
  const dirUrl = new URL(`${dir}/`, `file://${Deno.cwd()}/`);
  const m = await import(new URL("mod.ts", dirUrl).href);
  const backend: Backend = await m.selectBackend("wasm", {
    threads,
    relaxedSimd: RELAXED[values["relaxed-simd"]!],
    ...(math === undefined ? {} : { quantActivations: MATHS[math] }),
  });
  let w = m.syntheticWeights(m.presetConfig(values.arch, "130m"), 1);
  const type = GGUF_TYPES[weights];
  if (type) w = m.toModelWeights(m.ggufCheckpoint(m.parseGguf(m.ggufFromWeights(w, { tensorType: type }), weights)));
  // A quantized model's A_log, conv1d and D: f16 by default since they are held in f16; "f32" keeps them f32.
  const params = values[`${name}-params`];
  if (params === "f32") w = { ...w, paramFormat: "f32" };
  else if (params !== undefined && params !== "f16") throw new Error(`--${name}-params: "${params}" is not f16 or f32`);
  const model: Model = m.MambaModel.load(w, backend);
  runs.push({
    name: `${name} ${weights}${math ? ` ${math}` : ""}${params ? ` params ${params}` : ""}`,
    model,
    backend,
  });
  console.log(`${name} (${dir}, ${weights}): ${backend.description}`);
}
/** One timed run: the prefill's ms, or (--decode N) the N steps' ms per token after an untimed prefill. */
const timed = async (model: Model): Promise<number> => {
  let t0 = performance.now();
  const { state } = await model.prefill(ids, { lastOnly: true });
  if (D === 0) {
    const ms = performance.now() - t0;
    state.dispose();
    return ms;
  }
  t0 = performance.now();
  for (let i = 0; i < D; i++) await model.step([(i * 104729 + 7) % 50000], state);
  const ms = (performance.now() - t0) / D;
  state.dispose();
  return ms;
};
for (const r of runs) await timed(r.model); // warm-up
const times = runs.map(() => [] as number[]);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 ? [1, 0] : [0, 1];
  for (const i of order) times[i].push(await timed(runs[i].model));
}
const median = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
const tps = (ms: number) => ((D === 0 ? L : 1) / ms * 1e3).toFixed(1);
runs.forEach((r, i) => {
  const t = times[i];
  console.log(
    `${values.arch} ${D === 0 ? `L${L}` : `decode ${D} after L${L}`} ${threads} thread(s) ${r.name}: ` +
      `${tps(median(t))} tok/s median ` +
      `(best ${tps(Math.min(...t))}, worst ${tps(Math.max(...t))}, ${t.length} runs); ` +
      `${median(t).toFixed(2)} ms median (${Math.min(...t).toFixed(2)}–${Math.max(...t).toFixed(2)})`,
  );
  r.backend.dispose();
});
