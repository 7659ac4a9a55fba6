/**
 * Prefill A/B of two checkouts of this repository in ONE process (not a test): each tree's mod.ts loads the same
 * 130m-shaped model with deterministic random weights on its own WASM backend, then L-token prefills (last logits
 * only) alternate between the trees round after round (order flipped every round), so that the load of a shared
 * machine hits both alike. Prints tok/s median, best and worst per tree.
 *
 *   git archive <old commit> | tar -x -C /tmp/old; git archive HEAD | tar -x -C /tmp/new
 *   deno run -A tests/wasm/prefill_ab.ts --old /tmp/old --new /tmp/new --arch mamba2 --threads 1 --rounds 8
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
  },
});
if (!values.old || !values.new) throw new Error("--old DIR and --new DIR (checkouts of this repository) are required");
const threads = Number(values.threads), rounds = Number(values.rounds), L = Number(values.length);
const ids = Array.from({ length: L }, (_, i) => (i * 7919 + 13) % 50000);

/** What the bench uses of a tree's model (the public API of every version since the presets). */
interface Model {
  prefill(ids: number[], opts: { lastOnly: boolean }): Promise<{ state: { dispose(): void } }>;
}

const runs: { name: string; model: Model; backend: Backend }[] = [];
for (const [name, dir] of [["old", values.old], ["new", values.new]] as const) {
  const m = await import(`file://${dir}/mod.ts`);
  const backend: Backend = await m.selectBackend("wasm", { threads });
  const model: Model = m.MambaModel.load(m.syntheticWeights(m.presetConfig(values.arch, "130m"), 1), backend);
  runs.push({ name, model, backend });
  console.log(`${name} (${dir}): ${backend.description}`);
}
const prefill = async (model: Model) => (await model.prefill(ids, { lastOnly: true })).state.dispose();
for (const r of runs) await prefill(r.model); // warm-up
const times = runs.map(() => [] as number[]);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 ? [1, 0] : [0, 1];
  for (const i of order) {
    const t0 = performance.now();
    await prefill(runs[i].model);
    times[i].push(performance.now() - t0);
  }
}
const median = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
const tps = (ms: number) => (L / ms * 1e3).toFixed(1);
runs.forEach((r, i) => {
  const t = times[i];
  console.log(
    `${values.arch} L${L} ${threads} thread(s) ${r.name}: ${tps(median(t))} tok/s median ` +
      `(best ${tps(Math.min(...t))}, worst ${tps(Math.max(...t))}, ${t.length} runs)`,
  );
  r.backend.dispose();
});
