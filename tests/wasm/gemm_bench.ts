/**
 * The f32 GEMM micro-kernel alone (not a test): `linear` of the kernel modules called directly, single-threaded,
 * at the 130m prefill shapes (in_proj of Mamba-2 and Mamba-1, out_proj) and a 1024³ square. Compares this tree's
 * builds (baseline SIMD and relaxed SIMD) with the builds of other commits (`--rev`, read from git; repeatable),
 * interleaved round after round so that load from other processes hits them alike; prints GFLOP/s medians with
 * min–max (on a loaded machine the max, the least disturbed run, is the steadier figure).
 *
 *   deno run -A tests/wasm/gemm_bench.ts [--rev 59b23b9 ...] [--rounds 9] [--rows 512]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { decodeBase64 } from "../../wasm/generated/kernels_wasm.ts";
import * as current from "../../wasm/generated/kernels_wasm.ts";
import { rand } from "../ops/data.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rev: { type: "string", multiple: true, default: [] },
    rounds: { type: "string", default: "9" },
    rows: { type: "string", default: "512" },
  },
});
const rounds = Number(values.rounds), rows = Number(values.rows);

/** The base64 constants of a generated kernels module. */
type Generated = Record<string, unknown>;

/** The generated kernels module of commit `rev` (git show into a temporary file, then imported). */
async function kernelsAt(rev: string): Promise<Generated> {
  const out = await new Deno.Command("git", { args: ["show", `${rev}:wasm/generated/kernels_wasm.ts`] }).output();
  if (!out.success) throw new Error(`git show ${rev}: ${new TextDecoder().decode(out.stderr)}`);
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeFile(file, out.stdout);
  return await import(`file://${file}`);
}

/** The raw exports the bench calls (every build since the packed panels has them). */
interface Gemm {
  pack_panels(src: number, rows: number, k: number, dst: number): void;
  linear(...args: number[]): void;
  PANEL: WebAssembly.Global;
}

/** One kernel build on its own memory. */
interface Build {
  name: string;
  exports: Gemm;
  memory: WebAssembly.Memory;
}

async function build(name: string, base64: unknown): Promise<Build> {
  if (typeof base64 !== "string") throw new Error(`${name}: no such build`);
  const memory = new WebAssembly.Memory({ initial: 2048, maximum: 65536 });
  const { instance } = await WebAssembly.instantiate(decodeBase64(base64), { env: { memory } });
  return { name, exports: instance.exports as unknown as Gemm, memory };
}

const builds: Build[] = [];
for (const rev of values.rev) {
  const old = await kernelsAt(rev);
  builds.push(await build(`${rev} simd`, old.KERNELS_SIMD_BASE64));
  if (old.KERNELS_SIMD_RELAXED_BASE64) builds.push(await build(`${rev} relaxed`, old.KERNELS_SIMD_RELAXED_BASE64));
}
builds.push(await build("this simd", current.KERNELS_SIMD_BASE64));
builds.push(await build("this relaxed", current.KERNELS_SIMD_RELAXED_BASE64));

// 130m: Mamba-2 in_proj 768 → 3352, Mamba-1 in_proj 768 → 3072, out_proj 1536 → 768; and a square.
const SHAPES: [string, number, number, number][] = [
  ["mamba2 in_proj", rows, 3352, 768],
  ["mamba1 in_proj", rows, 3072, 768],
  ["out_proj", rows, 768, 1536],
  ["square", 1024, 1024, 1024],
];

/** Lays out x, packed W and out in a build's memory; returns a closure running the whole GEMM once. */
function setup(b: Build, m: number, n: number, k: number): () => void {
  const e = b.exports;
  const panel = Number(e.PANEL.value);
  const panels = Math.ceil(n / panel);
  const f32 = () => new Float32Array(b.memory.buffer);
  const x = 65536, w = x + m * k * 4, src = w + panels * panel * k * 4, out = src + n * k * 4;
  const need = out + m * n * 4;
  if (need > b.memory.buffer.byteLength) b.memory.grow(Math.ceil((need - b.memory.buffer.byteLength) / 65536));
  f32().set(rand(m * k, 1), x >> 2);
  f32().set(rand(n * k, 2), src >> 2);
  e.pack_panels(src, n, k, w);
  return () => e.linear(x, k, k, w, n, 0, out, n, 0, m, 0, panels);
}

const median = (a: number[]) => a.slice().sort((p, q) => p - q)[Math.floor(a.length / 2)];
console.log(`GEMM GFLOP/s, 1 thread, median (min–max) of ${rounds} interleaved rounds`);
for (const [label, m, n, k] of SHAPES) {
  const runs = builds.map((b) => setup(b, m, n, k));
  runs.forEach((r) => r()); // warm-up
  const times: number[][] = builds.map(() => []);
  for (let round = 0; round < rounds; round++) {
    runs.forEach((r, i) => {
      const t0 = performance.now();
      r();
      times[i].push(performance.now() - t0);
    });
  }
  const gf = (ms: number) => (2 * m * n * k) / (ms * 1e6);
  const cells = builds.map((b, i) => {
    const g = times[i].map(gf);
    return `${b.name} ${gf(median(times[i])).toFixed(1)} (${Math.min(...g).toFixed(1)}–${Math.max(...g).toFixed(1)})`;
  });
  console.log(`${label} ${m}×${k}→${n}: ${cells.join(" | ")}`);
}
