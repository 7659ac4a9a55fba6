/**
 * A preset's load on WebGPU in one tree (not a test), for A/B runs of two trees in turn, each a fresh process:
 * `deno run -A --config TREE/deno.json tests/kernels/_preset_load_ab.ts TREE [size=1.4b] [arch=mamba2] [prefill]`.
 *
 * Prints one JSON line: the seconds `MambaModel.fromSource(syntheticSource(config, 1))` took to return
 * (`weightsQueuedS`) and until the backend has synced (`weightsReadyS`: uploads and weight kernels finished), the
 * process's age then (`processStartToReadyS`: when a bench would start timing) and its RSS; with `prefill`, a second
 * line with the first L8 prefill (pipelines compiled on first use). TREE's own `mod.ts` is imported, so an old
 * checkout (`git archive`) runs its own code.
 */
const [tree, size = "1.4b", arch = "mamba2", prefill] = Deno.args;
if (!tree) {
  console.error("usage: _preset_load_ab.ts TREE [size] [arch] [prefill]");
  Deno.exit(2);
}
const m = await import(new URL("mod.ts", `file://${Deno.realPathSync(tree)}/`).href);
const backend = await m.selectBackend("webgpu");
const config = m.presetConfig(arch, size);
const t0 = performance.now();
const model = m.MambaModel.fromSource(m.syntheticSource(config, 1), backend);
const queued = performance.now();
await backend.sync();
const ready = performance.now();
const s = (ms: number) => +(ms / 1000).toFixed(2);
console.log(JSON.stringify({
  tree,
  size,
  arch,
  params: model.parameterCount,
  weightsQueuedS: s(queued - t0),
  weightsReadyS: s(ready - t0),
  processStartToReadyS: s(ready),
  rssMB: Math.round(Deno.memoryUsage().rss / 1e6),
}));
if (prefill === "prefill") {
  const { state } = await model.prefill([1, 2, 3, 4, 5, 6, 7, 8], { lastOnly: true });
  const done = performance.now();
  console.log(JSON.stringify({ firstPrefillS: s(done - ready), processStartToFirstTokenS: s(done) }));
  state.dispose();
}
model.dispose();
backend.dispose();
