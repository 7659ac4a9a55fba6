/**
 * A host CPU profile of greedy decode bursts on the WebGPU backend (not a test): tiny widths, 24 layers, so the GPU work
 * is negligible and the profile is the host's encoding.
 * `deno run -A --cpu-prof --cpu-prof-dir DIR tests/kernels/_host_prof_greedy.ts [arch=mamba2] [bursts=20] [steps=32]
 * [batch=1] [fused=1]`
 */
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { MambaModel } from "../../runtime/model.ts";
import { makeConfig } from "../../runtime/presets.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";

const arch = (Deno.args[0] ?? "mamba2") as "mamba1" | "mamba2";
const bursts = Number(Deno.args[1] ?? 20);
const steps = Number(Deno.args[2] ?? 32);
const B = Number(Deno.args[3] ?? 1);
const fused = (Deno.args[4] ?? "1") === "1";
const be = await createWebGpuBackend(Deno.env.get("DPS") ? { dispatchesPerSubmit: Number(Deno.env.get("DPS")) } : {});
const config = makeConfig(arch, { dModel: 64, nLayer: 24, vocabSize: 256 });
const model = MambaModel.load(syntheticWeights(config, 1), be);
model.fusedDecode = fused;
const tok = (i: number) => Array.from({ length: B }, (_, b) => (i * 7 + b * 13) % config.tokenVocabSize);
const { state } = await model.prefill(Array.from({ length: B }, (_, b) => tok(b).concat(tok(b + 1))), {
  lastOnly: true,
});
await model.greedy(tok(1), state, 4);
const d0 = be.dispatchCount;
const t0 = performance.now();
for (let i = 0; i < bursts; i++) await model.greedy(tok(i), state, steps);
const ms = performance.now() - t0;
const n = (be.dispatchCount - d0) / bursts / steps;
console.log(
  `${arch} B${B} ${fused ? "fused" : "unfused"}: ${(ms / bursts / steps).toFixed(3)} ms/step, ${n} dispatches/step, ${
    ((ms * 1000) / bursts / steps / n).toFixed(1)
  } µs/dispatch wall`,
);
state.dispose();
model.dispose();
be.dispose();
