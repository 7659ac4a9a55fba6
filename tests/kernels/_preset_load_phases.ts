/**
 * Where a preset's load on WebGPU spends its time, phase by phase (not a test): for issue 17 item 4's "time to
 * first timing". `deno run -A --config TREE/deno.json tests/kernels/_preset_load_phases.ts TREE [size=1.4b]
 * [arch=mamba2] [prefill]`.
 *
 * Prints one JSON line of seconds: the process's age when this module starts (`launchS`: the Deno runtime's own
 * start, from /proc), importing TREE's `mod.ts` (`importS`), `selectBackend("webgpu")` (`deviceS`: adapter and
 * device), then `MambaModel.fromSource(syntheticSource(config, 1))` split into the time inside
 * `GPUDevice.createBuffer` (`createBufferS`, with the bytes created), inside `GPUQueue.submit` (`submitS`) and the
 * rest (`recordS`: building tensors, recording dispatches, compiling the generator's pipeline), then the wait for
 * the device to finish (`syncS`: the generator's dispatches), and with `prefill` the first L8 prefill (pipelines
 * compiled on first use). Wrapping `createBuffer` and
 * `submit` is done on the prototypes, so an old tree (`git archive`) is measured the same way.
 */
const launchS = processAgeS();
const t0 = performance.now();
const [tree, size = "1.4b", arch = "mamba2", ...flags] = Deno.args;
if (!tree) {
  console.error("usage: _preset_load_phases.ts TREE [size] [arch] [prefill]");
  Deno.exit(2);
}

/** Seconds since this process started (Linux: /proc/self/stat's start time against /proc/uptime). */
function processAgeS(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const startTicks = Number(fields[19]); // field 22 of stat: starttime in clock ticks (100 Hz)
  const uptime = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  return uptime - startTicks / 100;
}

const acc = { createBuffer: 0, createBytes: 0, createCount: 0, submit: 0, submits: 0 };
const proto = GPUDevice.prototype as unknown as { createBuffer: (d: GPUBufferDescriptor) => GPUBuffer };
const createBuffer = proto.createBuffer;
proto.createBuffer = function (this: GPUDevice, d: GPUBufferDescriptor) {
  const s = performance.now();
  try {
    return createBuffer.call(this, d);
  } finally {
    acc.createBuffer += performance.now() - s;
    acc.createBytes += d.size;
    acc.createCount++;
  }
};
const qproto = GPUQueue.prototype as unknown as { submit: (c: GPUCommandBuffer[]) => void };
const submit = qproto.submit;
qproto.submit = function (this: GPUQueue, c: GPUCommandBuffer[]) {
  const s = performance.now();
  try {
    return submit.call(this, c);
  } finally {
    acc.submit += performance.now() - s;
    acc.submits++;
  }
};

const m = await import(new URL("mod.ts", `file://${Deno.realPathSync(tree)}/`).href);
const tImport = performance.now();
const backend = await m.selectBackend("webgpu");
const tDevice = performance.now();
const config = m.presetConfig(arch, size);
const base = { ...acc };
const source = m.syntheticSource(config, 1);
const tLoad0 = performance.now();
const model = m.MambaModel.fromSource(source, backend);
const tQueued = performance.now();
const queued = { ...acc };
await backend.sync();
const tReady = performance.now();
const s = (ms: number) => +(ms / 1000).toFixed(2);
const loadMs = tQueued - tLoad0;
const cb = queued.createBuffer - base.createBuffer, sub = queued.submit - base.submit;
console.log(JSON.stringify({
  tree,
  size,
  arch,
  params: model.parameterCount,
  launchS: +launchS.toFixed(2),
  importS: s(tImport - t0),
  deviceS: s(tDevice - tImport),
  createBufferS: s(cb),
  createdGB: +((queued.createBytes - base.createBytes) / 1e9).toFixed(2),
  buffers: queued.createCount - base.createCount,
  submitS: s(sub),
  submits: queued.submits - base.submits,
  recordS: s(loadMs - cb - sub),
  syncS: s(tReady - tQueued),
  processAgeReadyS: +processAgeS().toFixed(2),
  rssMB: Math.round(Deno.memoryUsage().rss / 1e6),
  hugePagesMB: Math.round(
    Number(/AnonHugePages:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/smaps_rollup"))?.[1] ?? 0) / 1024,
  ),
  glibcTunables: Deno.env.get("GLIBC_TUNABLES") ?? "",
  loadavg: Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" "),
}));
if (flags.includes("prefill")) {
  const p0 = performance.now();
  const { state } = await model.prefill([1, 2, 3, 4, 5, 6, 7, 8], { lastOnly: true });
  const done = performance.now();
  console.log(JSON.stringify({ firstPrefillS: s(done - p0), processAgeFirstTokenS: +processAgeS().toFixed(2) }));
  state.dispose();
}
model.dispose();
backend.dispose();
