/**
 * What bounds a greedy decode step on the WebGPU backend — the host's encoding or the GPU (not a test):
 * `deno run -A tests/kernels/_greedy_limits.ts [arch=both] [size=130m] [steps=32] [rounds=5] [batches=1,8]`.
 *
 * For each arch, batch and path (fused / unfused decode) it times greedy bursts of `steps` steps two ways, in one
 * process, interleaved per round:
 * - `overlap`: the backend as shipped (a submit every N dispatches, so the GPU runs while the host encodes):
 *   `encode` = launch → the burst's last submit (the host's synchronous work), `wall` = launch → tokens read;
 * - `serial`: a second backend that submits only at the read, so the GPU starts once encoding is done:
 *   `gpu` = wall − encode is the GPU's own time for the burst (plus one submit and the readback).
 * Then one burst with the WebGPU prototypes wrapped attributes the host's encode time per dispatch to API calls
 * ("js" is the rest: model, backend and kernel TypeScript). All figures are ms per step, medians of the rounds.
 */
import { createWebGpuBackend, type WebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { MambaModel } from "../../runtime/model.ts";
import { presetConfig } from "../../runtime/presets.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";

const archArg = Deno.args[0] ?? "both";
const size = Deno.args[1] ?? "130m";
const steps = Number(Deno.args[2] ?? 32);
const rounds = Number(Deno.args[3] ?? 5);
const batches = (Deno.args[4] ?? "1,8").split(",").map(Number);
const arches = archArg === "both" ? ["mamba1", "mamba2"] as const : [archArg as "mamba1" | "mamba2"];
const now = () => performance.now();
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let lastSubmit = 0;
let patched = false;
const api = new Map<string, number>();
const G = globalThis as unknown as Record<string, { prototype: object }>;
function wrap(proto: object, name: string): void {
  const desc = Object.getOwnPropertyDescriptor(proto, name);
  const orig = desc?.value as ((...a: unknown[]) => unknown) | undefined;
  if (typeof orig !== "function") return;
  const f = function (this: unknown, ...a: unknown[]) {
    if (!patched && name !== "submit") return orig.apply(this, a);
    const t0 = now();
    try {
      return orig.apply(this, a);
    } finally {
      const t1 = now();
      if (name === "submit") lastSubmit = t1;
      if (patched) api.set(name, (api.get(name) ?? 0) + t1 - t0);
    }
  };
  Object.defineProperty(proto, name, { ...desc, value: f });
}
for (const n of ["createBindGroup", "createBuffer", "createCommandEncoder"]) wrap(G.GPUDevice.prototype, n);
for (const n of ["beginComputePass", "copyBufferToBuffer", "finish"]) wrap(G.GPUCommandEncoder.prototype, n);
for (const n of ["setPipeline", "setBindGroup", "dispatchWorkgroups", "end"]) {
  wrap(G.GPUComputePassEncoder.prototype, n);
}
for (const n of ["writeBuffer", "submit"]) wrap(G.GPUQueue.prototype, n);

const overlap = await createWebGpuBackend();
const serial = await createWebGpuBackend({ dispatchesPerSubmit: 1e9 });
console.log(`# ${overlap.description}; ${size}, ${steps} steps × ${rounds} rounds, ms per step`);
console.log(
  "| arch | batch | path | dispatches | encode | wall (overlap) | gpu (serial: wall − encode) | encode µs/dispatch |",
);
console.log("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
const attribution: string[] = [];
for (const arch of arches) {
  const config = presetConfig(arch, size);
  const host = syntheticWeights(config, 1);
  const models = new Map<WebGpuBackend, MambaModel>([overlap, serial].map((be) => [be, MambaModel.load(host, be)]));
  for (const B of batches) {
    const tok = (i: number) => Array.from({ length: B }, (_, b) => (i * 7 + b * 13) % config.tokenVocabSize);
    const states = new Map<WebGpuBackend, Awaited<ReturnType<MambaModel["prefill"]>>["state"]>();
    for (const [be, m] of models) {
      await m.prepare({ batch: B, seqLens: [16] });
      const { state } = await m.prefill(Array.from({ length: B }, (_, b) => tok(b).concat(tok(b + 1))), {
        lastOnly: true,
      });
      states.set(be, state);
    }
    for (const fused of [true, false]) {
      const enc: number[] = [], wall: number[] = [], sEnc: number[] = [], sWall: number[] = [];
      let dispatches = 0;
      for (const [be, m] of models) {
        m.fusedDecode = fused;
        const d0 = be.dispatchCount;
        await m.greedy(tok(1), states.get(be)!, 1);
        dispatches = be.dispatchCount - d0;
        await m.greedy(tok(1), states.get(be)!, 4); // warm-up
      }
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 === 0 ? [overlap, serial] : [serial, overlap];
        for (const be of order) {
          const t0 = now();
          const p = models.get(be)!.greedy(tok(r), states.get(be)!, steps);
          await p;
          const t1 = now();
          (be === overlap ? enc : sEnc).push((lastSubmit - t0) / steps);
          (be === overlap ? wall : sWall).push((t1 - t0) / steps);
        }
      }
      const gpu = sWall.map((w, i) => w - sEnc[i]);
      console.log(
        `| ${arch} | ${B} | ${fused ? "fused" : "unfused"} | ${dispatches} | ${med(enc).toFixed(3)} | ${
          med(wall).toFixed(3)
        } | ${med(gpu).toFixed(3)} | ${((med(enc) * 1000) / dispatches).toFixed(1)} |`,
      );
      if (B === batches[0]) {
        api.clear();
        patched = true;
        const t0 = now();
        await models.get(overlap)!.greedy(tok(1), states.get(overlap)!, steps);
        const encMs = lastSubmit - t0;
        patched = false;
        let apiMs = 0;
        for (const v of api.values()) apiMs += v;
        const per = (ms: number) => ((ms * 1000) / steps / dispatches).toFixed(2);
        const parts = [...api.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${per(v)}`);
        attribution.push(
          `${arch} B${B} ${fused ? "fused" : "unfused"}: µs per dispatch — ${parts.join(", ")}, js ${
            per(encMs - apiMs)
          } (encode ${per(encMs)}, wrapped)`,
        );
      }
    }
    for (const s of states.values()) s.dispose();
  }
  for (const m of models.values()) m.dispose();
}
console.log("");
for (const line of attribution) console.log(`- ${line}`);
overlap.dispose();
serial.dispose();
