/**
 * A/B of the decode GEMV kernels before and after they load each weight once for all rows (issue 19; not a test):
 * the kernels' WGSL as generated at commit b1ef1c7 (tests/kernels/_gemv_rows_old.json: a loop over rows at run
 * time, the weight row re-read per row) and as generated in this tree (override ROWS: one weight load per k-step,
 * one accumulator per row), each dispatched on the same buffers at 1 and `rows` rows, interleaved (old, new, new, old, … per round), `reps` dispatches per
 * timing submitted together; medians (min–max) of the rounds. Wall clock over the submission unless the adapter
 * has timestamp queries (then the GPU time of the pass). Outputs of old and new are compared too.
 *
 *   deno run -A tests/kernels/_gemv_rows_ab.ts [rounds] [reps] [rows] [n] [k]
 *
 * @module
 */
import { layoutEntries } from "../../kernels/program.ts";
import { KERNELS } from "../../kernels/generated/kernels.ts";
import { WGSL as NEW } from "../../kernels/generated/wgsl.ts";
import { quantizeQ4_0, quantizeQ8_0 } from "../../runtime/ggml_types.ts";
import { rand } from "../ops/data.ts";

const [rounds, reps, rowsMax, n, k] = [5, 10, 8, 512, 1024].map((d, i) => Number(Deno.args[i] ?? d));

// The old kernels as generated at commit b1ef1c7 (kept beside this script, so that it runs without git history:
// `git show b1ef1c7:kernels/generated/wgsl.ts` has them).
const OLD = JSON.parse(await Deno.readTextFile(new URL("./_gemv_rows_old.json", import.meta.url))) as Pick<
  typeof NEW,
  "gemv" | "gemv_q" | "fused_gemv"
>;

const adapter = await navigator.gpu.requestAdapter();
if (!adapter) throw new Error("no WebGPU adapter");
const ts = adapter.features.has("timestamp-query");
const device = await adapter.requestDevice({
  requiredFeatures: ts ? ["timestamp-query"] : [],
  requiredLimits: { maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage },
});
console.log(
  `${adapter.info.description || adapter.info.vendor} | ${ts ? "GPU timestamps" : "wall clock"} | ` +
    `rounds ${rounds}, ${reps} dispatches per timing, ${n}×${k} weight, rows 1 and ${rowsMax}`,
);

const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
function buffer(data: ArrayBufferView | number, usage = S): GPUBuffer {
  const size = typeof data === "number" ? data : data.byteLength;
  const b = device.createBuffer({ size: Math.max(16, Math.ceil(size / 16) * 16), usage });
  if (typeof data !== "number") device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
  return b;
}

/** The weight buffer of each storage: f32 bits, f16 pairs, q8_0 / q4_0 codes then scales (as gpu_tensors.ts). */
const wf = rand(n * k, 1);
function f16Pairs(): Uint32Array {
  const h = new Float16Array(wf);
  return new Uint32Array(h.buffer);
}
function quant(q4: boolean): { words: Uint32Array; scaleBase: number } {
  const blocks = q4 ? quantizeQ4_0(wf) : quantizeQ8_0(wf);
  const bb = q4 ? 18 : 34, cb = bb - 2, nb = n * k / 32;
  const codes = new Uint8Array(nb * cb), scales = new Uint16Array(nb + (nb & 1));
  const dv = new DataView(blocks.buffer, blocks.byteOffset, blocks.byteLength);
  for (let s = 0; s < nb; s++) {
    scales[s] = dv.getUint16(s * bb, true);
    codes.set(blocks.subarray(s * bb + 2, (s + 1) * bb), s * cb);
  }
  const words = new Uint32Array(codes.byteLength / 4 + scales.byteLength / 4);
  words.set(new Uint32Array(codes.buffer));
  words.set(new Uint32Array(scales.buffer), codes.byteLength / 4);
  return { words, scaleBase: codes.byteLength / 4 };
}

interface Variant {
  name: string;
  kernel: "gemv" | "gemv_q" | "fused_gemv";
  constants: Record<string, number>;
  w: GPUBuffer;
  scaleBase: number;
  feats: number;
  pro: boolean;
}
const q8 = quant(false), q4 = quant(true);
const VARIANTS: Variant[] = [
  {
    name: "gemv f32",
    kernel: "gemv",
    constants: {},
    w: buffer(new Float32Array(wf)),
    scaleBase: 0,
    feats: 4,
    pro: false,
  },
  {
    name: "gemv f16",
    kernel: "gemv",
    constants: { F16W: 1 },
    w: buffer(f16Pairs()),
    scaleBase: 0,
    feats: 4,
    pro: false,
  },
  {
    name: "gemv_q q8_0",
    kernel: "gemv_q",
    constants: {},
    w: buffer(q8.words),
    scaleBase: q8.scaleBase,
    feats: 8,
    pro: false,
  },
  {
    name: "gemv_q q4_0",
    kernel: "gemv_q",
    constants: { Q4: 1 },
    w: buffer(q4.words),
    scaleBase: q4.scaleBase,
    feats: 8,
    pro: false,
  },
  {
    name: "fused norm f32",
    kernel: "fused_gemv",
    constants: { PRO: 1 },
    w: buffer(new Float32Array(wf)),
    scaleBase: 0,
    feats: 4,
    pro: true,
  },
  {
    name: "fused norm q8_0",
    kernel: "fused_gemv",
    constants: { PRO: 1, Q: 1 },
    w: buffer(q8.words),
    scaleBase: q8.scaleBase,
    feats: 4,
    pro: true,
  },
];

const x = buffer(rand(rowsMax * k, 2)), bias = buffer(n * 4), nw = buffer(rand(k, 3, 0.5, 1.5));
const dummy = buffer(64), scratch = buffer(64);
const yOld = buffer(rowsMax * n * 4), yNew = buffer(rowsMax * n * 4);
const querySet = ts ? device.createQuerySet({ type: "timestamp", count: 2 }) : null;
const qbuf = buffer(16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
const qread = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });

interface Run {
  pipeline: GPUComputePipeline;
  group: GPUBindGroup;
  workgroups: number;
  y: GPUBuffer;
}

function prepare(v: Variant, old: boolean, m: number): Run {
  const code = (old ? OLD : NEW)[v.kernel];
  const layout = device.createBindGroupLayout({ entries: layoutEntries(v.kernel) });
  const constants = old ? v.constants : { ...v.constants, ROWS: m };
  const pipeline = device.createComputePipeline({
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module: device.createShaderModule({ code }), entryPoint: "main", constants },
  });
  // Params in field order: m, n, k, x_stride, x_base, y_stride, y_base, has_bias, bias_base, then per kernel.
  const u = new Uint32Array(16);
  u.set([m, n, k, k, 0, n, 0, 0, 0]);
  if (v.kernel === "gemv_q") u[9] = v.scaleBase;
  if (v.kernel === "fused_gemv") {
    u[9] = k; // one norm group
    new Float32Array(u.buffer)[10] = 1e-5;
    u.set([v.scaleBase, 1, 0, 0], 11);
  }
  const ub = buffer(u, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  const y = old ? yOld : yNew;
  const named: Record<string, GPUBuffer> = v.kernel === "fused_gemv"
    ? { x, w: v.w, bias, y, nw, conv_b: dummy, conv_st: dummy, xout: scratch, epi: dummy }
    : { x, w: v.w, bias, y };
  const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: ub, size: 64 } }];
  for (const s of KERNELS[v.kernel].storage) entries.push({ binding: s.binding, resource: { buffer: named[s.name] } });
  return { pipeline, group: device.createBindGroup({ layout, entries }), workgroups: Math.ceil(n / v.feats), y };
}

async function time(r: Run): Promise<number> {
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass(
    querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : undefined,
  );
  pass.setPipeline(r.pipeline);
  pass.setBindGroup(0, r.group, [0]);
  for (let i = 0; i < reps; i++) pass.dispatchWorkgroups(r.workgroups);
  pass.end();
  if (querySet) {
    enc.resolveQuerySet(querySet, 0, 2, qbuf, 0);
    enc.copyBufferToBuffer(qbuf, 0, qread, 0, 16);
  }
  const t0 = performance.now();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  const wall = performance.now() - t0;
  if (!querySet) return wall / reps;
  await qread.mapAsync(GPUMapMode.READ);
  const [a, b] = new BigUint64Array(qread.getMappedRange());
  const ms = Number(b - a) / 1e6;
  qread.unmap();
  return ms / reps;
}

async function read(b: GPUBuffer, count: number): Promise<Float32Array> {
  const r = device.createBuffer({ size: count * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(b, 0, r, 0, count * 4);
  device.queue.submit([enc.finish()]);
  await r.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(r.getMappedRange().slice(0));
  r.destroy();
  return out;
}

const stat = (a: number[]) => {
  const s = [...a].sort((p, q) => p - q);
  const med = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return `${med.toFixed(3)} (${s[0].toFixed(3)}–${s[s.length - 1].toFixed(3)})`;
};
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

console.log("kernel            rows  old ms/dispatch          new ms/dispatch          new/old  max|Δ|/max|y|");
for (const v of VARIANTS) {
  for (const m of [1, rowsMax]) {
    device.pushErrorScope("validation");
    const runs = [prepare(v, true, m), prepare(v, false, m)];
    await time(runs[0]);
    await time(runs[1]); // compile and warm
    const error = await device.popErrorScope();
    if (error) throw new Error(`${v.name} rows ${m}: ${error.message}`);
    const [ya, yb] = [await read(yOld, m * n), await read(yNew, m * n)];
    const max = ya.reduce((s, e) => Math.max(s, Math.abs(e)), 0);
    const diff = ya.reduce((s, e, i) => Math.max(s, Math.abs(e - yb[i])), 0) / max;
    const t: number[][] = [[], []];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [1, 0] : [0, 1];
      for (const i of order) t[i].push(await time(runs[i]));
    }
    console.log(
      `${v.name.padEnd(17)} ${String(m).padStart(4)}  ${stat(t[0]).padEnd(24)} ${stat(t[1]).padEnd(24)} ` +
        `${(median(t[1]) / median(t[0])).toFixed(2).padStart(7)}  ${diff.toExponential(1)}`,
    );
  }
}
device.destroy();
