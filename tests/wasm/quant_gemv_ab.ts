/**
 * A/B of the quantized GEMV and Mamba-1's one-token scan (not a test; issue 16): the kernel modules of two checkouts
 * of this repository, each run by that checkout's own WASM backend (1 thread) in ONE process, calls
 * alternating round after round (order flipped every round) so that a shared machine's load hits both alike. Prints
 * per case and side the 10th percentile over rounds (the least disturbed calls on a loaded machine) with min–max, and
 * checks first that both sides give the same outputs (max |difference|).
 *
 * Cases: `linear` on q8_0 / q4_0 blocks at 130m's in_proj (3072 × 768), out_proj (768 × 1536) and lm_head
 * (50280 × 768) shapes, one row (decode); `selectiveScan` at Mamba-1 130m's decode shape (D 1536, N 16, one token).
 *
 *   git archive <old commit> | tar -x -C /tmp/old
 *   deno run -A tests/wasm/quant_gemv_ab.ts --old /tmp/old --new . [--cases in_proj,out_proj,lm_head,scan] [--rounds 41]
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Backend, Matrix, Tensor } from "../../runtime/backend.ts";
import type { quantizeMatrix } from "../../runtime/quantize.ts";
import type { createWasmBackend } from "../../wasm/backend.ts";
import { rand } from "../ops/data.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    old: { type: "string" },
    new: { type: "string" },
    cases: { type: "string", default: "in_proj,out_proj,lm_head,scan" },
    rounds: { type: "string", default: "41" },
  },
});
if (!values.old || !values.new) throw new Error("--old DIR and --new DIR (checkouts of this repository) are required");
const rounds = Number(values.rounds);
const SHAPES: Record<string, [number, number]> = { in_proj: [3072, 768], out_proj: [768, 1536], lm_head: [50280, 768] };
const cases = values.cases!.split(",");
for (const c of cases) if (c !== "scan" && !SHAPES[c]) throw new Error(`--cases: unknown case "${c}"`);

/** The checkout at dir's own backend and quantizer (kernel ABIs differ between commits). */
async function sideOf(dir: string) {
  const url = (f: string) => new URL(`${dir}/${f}`, `file://${Deno.cwd()}/`).href;
  const backend = await import(url("wasm/backend.ts"));
  const quantize = await import(url("runtime/quantize.ts"));
  return {
    createWasmBackend: backend.createWasmBackend as typeof createWasmBackend,
    quantizeMatrix: quantize.quantizeMatrix as typeof quantizeMatrix,
  };
}

/** One timed case on one side: a call returning its output tensor, and how many calls make one sample. */
interface Case {
  name: string;
  side: string;
  be: Backend;
  call: () => Tensor;
  reps: number;
}

const list: Case[] = [];
for (const [side, dir] of [["old", values.old], ["new", values.new]] as const) {
  const lib = await sideOf(dir);
  const be = await lib.createWasmBackend({ threads: 1 });
  for (const c of cases) {
    if (c === "scan") {
      const D = 1536, N = 16;
      const v = (n: number, seed: number, lo = -1, hi = 1) => ({
        tensor: be.upload(rand(n, seed, lo, hi), [1, n], "v"),
        col: 0,
        cols: n,
      });
      const args = {
        u: v(D, 1),
        delta: v(D, 2, -3, 1),
        A: be.upload(rand(D * N, 3, -16, -1), [D, N], "A"),
        B: v(N, 4),
        C: v(N, 5),
        D: be.upload(rand(D, 6), [D], "D"),
        z: v(D, 7),
        state: be.upload(rand(D * N, 8), [1, D, N], "state"),
        batch: 1,
        seqLen: 1,
      };
      list.push({ name: "scan D1536 N16", side, be, call: () => be.selectiveScan(args), reps: 50 });
      continue;
    }
    const [n, k] = SHAPES[c];
    const data = rand(n * k, n + k);
    const x = be.upload(rand(k, k), [1, k], "x");
    for (const f of ["q8_0", "q4_0"] as const) {
      const w: Matrix = be.uploadQuantizedMatrix!(lib.quantizeMatrix({ shape: [n, k], data }, f, c), c);
      list.push({ name: `${c} ${f}`, side, be, call: () => be.linear(x, w), reps: c === "lm_head" ? 1 : 10 });
    }
  }
}

// Same outputs on both sides (the scan's state is read and written: compared on the first call only).
const half = list.length / 2;
for (let i = 0; i < half; i++) {
  const a = list[i], b = list[i + half];
  const ya = await a.be.read(a.call()), yb = await b.be.read(b.call());
  let d = 0;
  for (let j = 0; j < ya.length; j++) d = Math.max(d, Math.abs(ya[j] - yb[j]));
  console.log(`${a.name}: max |old − new| = ${d}`);
}

const ms = new Map<Case, number[]>(list.map((c) => [c, []]));
for (let r = 0; r < rounds; r++) {
  for (const c of r % 2 ? [...list].reverse() : list) {
    const t0 = performance.now();
    for (let i = 0; i < c.reps; i++) c.be.free(c.call());
    await c.be.sync();
    ms.get(c)!.push((performance.now() - t0) / c.reps);
  }
}
for (const c of list) {
  const s = ms.get(c)!.sort((a, b) => a - b);
  const p10 = s[Math.floor(rounds / 10)];
  console.log(
    `${c.name.padEnd(16)} ${c.side}: p10 ${p10.toFixed(4)} ms (${s[0].toFixed(4)}–${s[s.length - 1].toFixed(4)})`,
  );
}
for (const be of new Set(list.map((c) => c.be))) be.dispose();
