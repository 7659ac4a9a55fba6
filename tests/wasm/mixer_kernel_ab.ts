/**
 * Kernel A/B of the Mamba-2 mixer's WASM kernels (not a test; issue 16): the kernel modules of two checkouts of this
 * repository instantiated side by side in ONE process on memories of their own, raw exports called at 130m Mamba-2
 * shapes, old and new alternating round after round (order flipped every round), so that a shared machine's load
 * hits both alike. Prints per kernel and side the median over rounds of each round's median call, with min–max.
 *
 * Kernels: `ssd_step` (24 layers' states, 24 heads × 64 × 128, one token: the state read and written once each),
 * `conv_step` (conv1d with seqLen 1, 24 layers × 1792 channels, K 4), `gate_norm` (gated_rms_norm of 512 × 1536 in
 * one group, one layer), `conv_prefill` (conv1d of 512 × 1792 from 4096-float rows, one layer), `ssd_chunked` (L512,
 * chunk 64, one layer). `--compare` also counts the outputs of the last call that differ bitwise between the sides.
 *
 *   git archive <old commit> | tar -x -C /tmp/old
 *   deno run -A tests/wasm/mixer_kernel_ab.ts --old /tmp/old --new . --kernels ssd_step,conv_step --build relaxed
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    old: { type: "string" },
    new: { type: "string" },
    kernels: { type: "string", default: "ssd_step,conv_step,gate_norm,conv_prefill,ssd_chunked" },
    build: { type: "string", default: "relaxed" },
    rounds: { type: "string", default: "9" },
    compare: { type: "boolean", default: false },
  },
});
if (!values.old || !values.new) throw new Error("--old DIR and --new DIR (checkouts of this repository) are required");
if (values.build !== "relaxed" && values.build !== "baseline") throw new Error("--build: relaxed or baseline");
const KERNELS = ["ssd_step", "conv_step", "gate_norm", "conv_prefill", "ssd_chunked"];
const kernels = values.kernels!.split(",");
for (const k of kernels) if (!KERNELS.includes(k)) throw new Error(`--kernels: "${k}" is not one of ${KERNELS}`);
const rounds = Number(values.rounds);

type Fn = (...a: number[]) => number;
const H = 24, P = 64, N = 128, LAYERS = 24, C = 1536 + 2 * N, K = 4, L = 512, Q = 64, ROW = 4096;

/** One side: its module on its own memory, the buffers laid out once and filled with the same pseudo-random data. */
async function side(dir: string) {
  const url = new URL(`${dir}/wasm/generated/kernels_wasm.ts`, `file://${Deno.cwd()}/`);
  const m = await import(url.href);
  const bytes = m.decodeBase64(values.build === "relaxed" ? m.KERNELS_SIMD_RELAXED_BASE64 : m.KERNELS_SIMD_BASE64);
  const mem = new WebAssembly.Memory({ initial: 16, maximum: 65536 });
  const k = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: mem } }).exports as Record<
    string,
    Fn
  >;
  let top = 1 << 20;
  const a = (floats: number) => {
    const p = top;
    top += Math.ceil((floats * 4) / 64) * 64;
    return p;
  };
  const x = a(ROW), dt = a(64), dtBias = a(64), A = a(64), B = a(N), Cm = a(N), D = a(64), out = a(ROW);
  const states = Array.from({ length: LAYERS }, () => a(H * P * N));
  const w = a(C * K), bias = a(C), wt = a(C * K), convStates = Array.from({ length: LAYERS }, () => a(C * (K - 1)));
  const rows = a(L * ROW), dtRows = a(L * 64), outRows = a(L * C);
  const scratch = a(k.ssd_scratch_bytes(Q, P, N) / 4 + 16);
  mem.grow(Math.ceil(top / 65536) + 1 - mem.buffer.byteLength / 65536);
  const f = new Float32Array(mem.buffer);
  let s = 1;
  const r = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  for (let i = (1 << 20) / 4; i < top / 4; i++) f[i] = r();
  for (let h = 0; h < H; h++) f[A / 4 + h] = -0.5 - h * 0.1;
  for (let i = 0; i < L * ROW; i++) f[rows / 4 + i] *= 4;
  const Bs = rows + 1536 * 4, Cs = rows + (1536 + N) * 4;
  const call: Record<string, () => void> = {
    ssd_step: () => {
      for (const st of states) {
        k.ssd_step(x, ROW, dt, 64, dtBias, A, B, N, Cm, N, D, 0, st, out, H, P, 1, N, 1, 0, 1e30, 0, H);
      }
    },
    conv_step: () => {
      for (const st of convStates) k.conv1d(x, C, w, bias, st, outRows, wt, 0, C, K, 1, 1, 0, C);
    },
    gate_norm: () => k.gated_rms_norm(rows, rows + 2048 * 4, ROW, w, outRows, L, 1536, 1536, 1e-5),
    conv_prefill: () => k.conv1d(rows, ROW, w, bias, convStates[0], outRows, wt, 0, C, K, 1, L, 0, C),
    ssd_chunked: () => {
      k.ssd_chunked(
        rows,
        ROW,
        dtRows,
        64,
        dtBias,
        A,
        Bs,
        ROW,
        Cs,
        ROW,
        D,
        0,
        states[0],
        outRows,
        H,
        P,
        1,
        N,
        1,
        L,
        Q,
        0,
        1e30,
        0,
        H,
        scratch,
      );
    },
  };
  const output = (kernel: string, n: number) => new Float32Array(mem.buffer, kernel === "ssd_step" ? out : outRows, n);
  return { call, output };
}

const sides = { old: await side(values.old), new: await side(values.new) };
const names = ["old", "new"] as const;
for (const kernel of kernels) {
  const reps = kernel === "ssd_step" || kernel === "conv_step" ? 20 : kernel === "ssd_chunked" ? 3 : 10;
  for (const n of names) for (let i = 0; i < 3; i++) sides[n].call[kernel]();
  const res = { old: [] as number[], new: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    for (const n of round % 2 ? [...names].reverse() : names) {
      const ts: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        sides[n].call[kernel]();
        ts.push(performance.now() - t0);
      }
      res[n].push(ts.sort((p, q) => p - q)[reps >> 1]);
    }
  }
  const med = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
  const line = (n: "old" | "new") =>
    `${med(res[n]).toFixed(3)} ms (${Math.min(...res[n]).toFixed(3)}–${Math.max(...res[n]).toFixed(3)})`;
  let diff = "";
  if (values.compare) {
    const count = kernel === "ssd_step"
      ? H * P
      : kernel === "gate_norm"
      ? L * 1536
      : kernel === "conv_step"
      ? C
      : L * C;
    const o = sides.old.output(kernel, count), nw = sides.new.output(kernel, count);
    let d = 0;
    for (let i = 0; i < count; i++) if (!Object.is(o[i], nw[i])) d++;
    diff = `; last call's outputs differing bitwise: ${d} of ${count}`;
  }
  console.log(`${kernel} ${values.build}: old ${line("old")}, new ${line("new")}, ${rounds} rounds${diff}`);
}
