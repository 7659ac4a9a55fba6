/**
 * Host (JavaScript/CPU) cost of issuing a forward pass on the WebGPU backend (not a test):
 * `deno run -A tests/kernels/_host_overhead.ts [layers=24] [prefillLen=64] [arch=both] [reps=5] [vocab]`.
 *
 * The model runs on a wrapped backend that times every backend call's synchronous part (op methods, and the part
 * of `read` up to its first await, i.e. the submit), so the GPU time and the readback wait are excluded. A second
 * set of runs patches the WebGPU prototypes to attribute that time to API calls (bind groups, passes, pipelines,
 * writeBuffer, createBuffer, labels, submit); "js" is what remains (backend + kernel TypeScript).
 */
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import type { Backend } from "../../runtime/backend.ts";
import { MambaModel } from "../../runtime/model.ts";
import { presetConfig } from "../../runtime/presets.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";

const layers = Number(Deno.args[0] ?? 24);
const prefillLen = Number(Deno.args[1] ?? 64);
const archs: ("mamba1" | "mamba2")[] = Deno.args[2] && Deno.args[2] !== "both"
  ? [Deno.args[2] as "mamba1" | "mamba2"]
  : ["mamba1", "mamba2"];
const REPS = Number(Deno.args[3] ?? 5);
/** Vocabulary (default the preset's); a small one keeps llvmpipe's lm_head time down, dispatches unchanged. */
const vocab = Deno.args[4] ? Number(Deno.args[4]) : undefined;
const now = () => performance.now();

/** Milliseconds by WebGPU API, filled while `patched` is true. */
const api = new Map<string, { ms: number; n: number }>();
let patched = false;
let dispatches = 0;
let passes = 0;
/** Milliseconds inside `queue.submit` (on llvmpipe this runs the GPU work: excluded from the host cost). */
let submitMs = 0;
function wrap(proto: object, name: string, cat = name, isSetter = false): void {
  const desc = Object.getOwnPropertyDescriptor(proto, name);
  if (!desc) return;
  const orig = (isSetter ? desc.set : desc.value) as (...a: unknown[]) => unknown;
  if (typeof orig !== "function") return;
  const f = function (this: unknown, ...a: unknown[]) {
    if (name === "dispatchWorkgroups") dispatches++;
    if (name === "beginComputePass") passes++;
    if (!patched && name !== "submit") return orig.apply(this, a);
    const t0 = now();
    try {
      return orig.apply(this, a);
    } finally {
      const ms = now() - t0;
      if (name === "submit") submitMs += ms;
      else if (patched) {
        const e = api.get(cat) ?? { ms: 0, n: 0 };
        e.ms += ms;
        e.n++;
        api.set(cat, e);
      }
    }
  };
  Object.defineProperty(proto, name, isSetter ? { ...desc, set: f } : { ...desc, value: f });
}
const G = globalThis as unknown as Record<string, { prototype: object }>;
for (const n of ["createBindGroup", "createBuffer", "createCommandEncoder"]) wrap(G.GPUDevice.prototype, n);
wrap(G.GPUComputePipeline.prototype, "getBindGroupLayout");
for (const n of ["beginComputePass", "clearBuffer", "copyBufferToBuffer", "finish"]) {
  wrap(G.GPUCommandEncoder.prototype, n);
}
for (const n of ["setPipeline", "setBindGroup", "dispatchWorkgroups"]) wrap(G.GPUComputePassEncoder.prototype, n);
wrap(G.GPUComputePassEncoder.prototype, "end", "pass.end");
for (const n of ["writeBuffer", "submit"]) wrap(G.GPUQueue.prototype, n);
wrap(G.GPUBuffer.prototype, "label", "buffer.label=", true);
wrap(G.GPUBuffer.prototype, "destroy", "buffer.destroy");

const be = await createWebGpuBackend();
console.log(be.description, `layers ${layers}, prefill L${prefillLen}`);

/** Synchronous ms spent inside backend calls, in total and by method. */
let issueMs = 0;
const byMethod = new Map<string, number>();
const timed = new Proxy(be, {
  get(target, key) {
    const v = Reflect.get(target, key, target);
    if (typeof v !== "function") return v;
    return (...a: unknown[]) => {
      const t0 = now();
      try {
        return v.apply(target, a);
      } finally {
        const ms = now() - t0;
        issueMs += ms;
        byMethod.set(String(key), (byMethod.get(String(key)) ?? 0) + ms);
      }
    };
  },
}) as Backend;

for (const arch of archs) {
  const preset = presetConfig(arch, "130m");
  const cfg = { ...preset, nLayer: layers, vocabSize: vocab ?? preset.vocabSize };
  const m = MambaModel.load(syntheticWeights(cfg, 1), timed);
  const ids = Array.from({ length: prefillLen }, (_, i) => (i * 7919) % cfg.vocabSize);
  const state = m.newState(1);
  const runs: [string, () => Promise<unknown>][] = [
    [`prefill L${prefillLen}`, async () => (await m.prefill(ids, { lastOnly: true })).state.dispose()],
    ["decode step", () => m.step([5], state)],
  ];
  for (const [label, run] of runs) {
    await run(); // warm-up: pipelines, pool
    await run();
    let host = 0, wall = 0;
    const bg0 = { hits: 0, misses: 0, ...(be as { bindGroupStats?: { hits: number; misses: number } }).bindGroupStats };
    dispatches = 0;
    passes = 0;
    for (let r = 0; r < REPS; r++) {
      issueMs = 0;
      submitMs = 0;
      const t0 = now();
      await run();
      wall += now() - t0;
      host += issueMs - submitMs;
    }
    const perRun = dispatches / REPS;
    const bg = (be as { bindGroupStats?: { hits: number; misses: number } }).bindGroupStats;
    const bgLine = bg ? `, bind groups ${bg.hits - bg0.hits} hits / ${bg.misses - bg0.misses} misses` : "";
    const hostMs = host / REPS;
    console.log(
      `${arch} ${label}: host ${hostMs.toFixed(2)} ms / forward, ${perRun} dispatches, ${passes / REPS} passes, ` +
        `${((hostMs * 1000) / perRun).toFixed(1)} µs/dispatch (wall ${(wall / REPS).toFixed(1)} ms)${bgLine}`,
    );
    // Attribution run(s), with patched prototypes.
    api.clear();
    byMethod.clear();
    patched = true;
    let hostP = 0;
    for (let r = 0; r < REPS; r++) {
      issueMs = 0;
      submitMs = 0;
      await run();
      hostP += issueMs - submitMs;
    }
    patched = false;
    let apiMs = 0;
    const rows = [...api.entries()].sort((a, b) => b[1].ms - a[1].ms);
    for (const [, e] of rows) apiMs += e.ms;
    const parts = rows.map(([k, e]) => `${k} ${((e.ms * 1000) / REPS / perRun).toFixed(1)} (${e.n / REPS})`);
    parts.push(`js ${(((hostP - apiMs) * 1000) / REPS / perRun).toFixed(1)}`);
    console.log(`  µs/dispatch by API (calls/forward): ${parts.join(", ")}`);
    const methods = [...byMethod.entries()].sort((a, b) => b[1] - a[1]);
    console.log(
      `  ms/forward by backend method (submit included): ${
        methods.map(([k, ms]) => `${k} ${(ms / REPS).toFixed(3)}`).join(", ")
      }`,
    );
  }
  state.dispose();
  m.dispose();
}
be.dispose();
