/**
 * Fused vs unfused decode on the WebGPU backend, in one process, interleaved (not a test):
 * `deno run -A tests/kernels/_fused_timing.ts [arch=both] [size=130m|dims] [steps=32] [rounds=5] [batch=1]
 * [weights=f32|q8|q4]`.
 *
 * `size` is a preset ("130m", "370m", …) or "d_model=64,n_layer=2,vocab=256" (these three keys only). For each round and each
 * path (the order alternates between rounds) it times `steps` decode steps with a readback each (`step`) and one
 * greedy burst of `steps` steps (`greedy`, one readback), and prints the medians over rounds in ms per step, with the
 * dispatches of one step of each path from the backend's counter.
 */
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { MambaModel } from "../../runtime/model.ts";
import { makeConfig, presetConfig } from "../../runtime/presets.ts";
import { quantizeWeights } from "../../runtime/quantize.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";

const archArg = Deno.args[0] ?? "both";
const size = Deno.args[1] ?? "130m";
const steps = Number(Deno.args[2] ?? 32);
const rounds = Number(Deno.args[3] ?? 5);
const batch = Number(Deno.args[4] ?? 1);
const format = Deno.args[5] ?? "f32";
if (!["f32", "q8", "q4"].includes(format)) throw new Error(`weights must be f32, q8 or q4, got ${format}`);
const arches = archArg === "both" ? ["mamba1", "mamba2"] as const : [archArg as "mamba1" | "mamba2"];

const be = await createWebGpuBackend();
console.log(`# ${be.description}; ${steps} steps × ${rounds} rounds, batch ${batch}, ${format} weights`);
/** "d_model=64,n_layer=2,vocab=256" → makeConfig's dimensions (no CLI import: the script runs without npm packages). */
function dims(text: string): { dModel: number; nLayer: number; vocabSize: number } {
  const kv = Object.fromEntries(text.split(",").map((p) => p.split("=")).map(([k, v]) => [k, Number(v)]));
  return { dModel: kv.d_model, nLayer: kv.n_layer, vocabSize: kv.vocab };
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const arch of arches) {
  const config = size.includes("=") ? makeConfig(arch, dims(size)) : presetConfig(arch, size);
  const host = syntheticWeights(config, 1);
  const model = MambaModel.load(format === "f32" ? host : quantizeWeights(host, { bits: format === "q8" ? 8 : 4 }), be);
  await model.prepare({ batch, seqLens: [16] });
  const tok = (i: number) => Array.from({ length: batch }, (_, b) => (i * 7 + b * 13) % config.tokenVocabSize);
  const { state } = await model.prefill(Array.from({ length: batch }, (_, b) => tok(b).concat(tok(b + 1))), {
    lastOnly: true,
  });
  const result: Record<string, { step: number[]; greedy: number[]; dispatches: number }> = {};
  for (const fused of [true, false]) {
    model.fusedDecode = fused;
    const before = be.dispatchCount;
    await model.step(tok(0), state);
    result[fused ? "fused" : "unfused"] = { step: [], greedy: [], dispatches: be.dispatchCount - before };
    await model.greedy(tok(1), state, 4); // warm-up: pipelines, bind groups
  }
  for (let r = 0; r < rounds; r++) {
    for (const fused of r % 2 === 0 ? [true, false] : [false, true]) {
      model.fusedDecode = fused;
      const res = result[fused ? "fused" : "unfused"];
      let t0 = performance.now();
      for (let i = 0; i < steps; i++) await model.step(tok(i), state);
      res.step.push((performance.now() - t0) / steps);
      t0 = performance.now();
      await model.greedy(tok(r), state, steps);
      res.greedy.push((performance.now() - t0) / steps);
    }
  }
  for (const [path, r] of Object.entries(result)) {
    console.log(
      `${arch} ${size} ${format} B${batch} ${path}: step ${med(r.step).toFixed(3)} ms/token, greedy ${
        med(r.greedy).toFixed(3)
      } ms/token, ${r.dispatches} dispatches per step; greedy rounds [${r.greedy.map((x) => x.toFixed(3)).join(" ")}]`,
    );
  }
  state.dispose();
  model.dispose();
}
be.dispose();
