/**
 * Where the time of `MambaModel.greedy` goes on the WebGPU backend (not a test):
 * `deno run -A tests/kernels/_greedy_timing.ts [arch=mamba2] [layers=24] [dispatchesPerSubmit=4096]`.
 *
 * For N greedy steps per readback it reports the wall time, the synchronous host time inside backend calls
 * (encoding: op methods and the submit part of read), and the time spent awaiting `read` (GPU execution that the host
 * did not overlap, plus Deno's readback wait). An empty `sync()` and a 4-byte read give the fixed readback cost.
 */
import { createWebGpuBackend } from "../../kernels/webgpu_backend.ts";
import type { Backend } from "../../runtime/backend.ts";
import { MambaModel } from "../../runtime/model.ts";
import { presetConfig } from "../../runtime/presets.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";

const arch = (Deno.args[0] ?? "mamba2") as "mamba1" | "mamba2";
const layers = Number(Deno.args[1] ?? 24);
const dispatchesPerSubmit = Number(Deno.args[2] ?? 4096);
const now = () => performance.now();

let hostMs = 0, readMs = 0, calls = 0;
/** The backend with every method's synchronous part timed, and reads timed to resolution. */
function timed(be: Backend): Backend {
  return new Proxy(be, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        const t0 = now();
        const r = v.apply(target, args);
        hostMs += now() - t0;
        calls++;
        if (prop === "read" || prop === "sync") {
          return (r as Promise<unknown>).finally(() => readMs += now() - t0);
        }
        return r;
      };
    },
  });
}

const raw = await createWebGpuBackend({ dispatchesPerSubmit });
const be = timed(raw);
const config = { ...presetConfig(arch, "130m"), nLayer: layers };
const model = MambaModel.load(syntheticWeights(config, 1), be);
const { state } = await model.prefill([1, 2, 3, 4], { lastOnly: true });
await model.greedy([5], state, 4); // warm-up: pipelines, bind groups

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const emptySync: number[] = [];
for (let i = 0; i < 5; i++) {
  const t0 = now();
  await raw.sync();
  emptySync.push(now() - t0);
}
console.log(`${raw.description}; ${arch} 130m, ${layers} layers, submit every ${dispatchesPerSubmit} dispatches`);
console.log(`empty sync(): ${med(emptySync).toFixed(2)} ms`);
console.log("steps  wall ms  per token  host ms  host/step  await read ms  backend calls/step");
for (const steps of [1, 2, 4, 16, 64]) {
  const rows: number[][] = [];
  for (let r = 0; r < 3; r++) {
    hostMs = readMs = calls = 0;
    const t0 = now();
    await model.greedy([7], state, steps);
    const wall = now() - t0;
    rows.push([wall, hostMs, readMs, calls]);
  }
  const [wall, host, read, n] = [0, 1, 2, 3].map((i) => med(rows.map((x) => x[i])));
  console.log(
    [steps, wall.toFixed(1), (wall / steps).toFixed(2), host.toFixed(1), (host / steps).toFixed(2), read.toFixed(1)]
      .map((s) => String(s).padStart(9)).join(" ") + `  ${(n / steps).toFixed(0)}`,
  );
}
state.dispose();
model.dispose();
raw.dispose();
