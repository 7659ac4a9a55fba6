/**
 * WASM linear on f32 vs q8_0 vs q4_0 weights at Mamba-1 130m's shapes: decode (one row through every layer's
 * in_proj, x_proj and out_proj, each layer its own weights, as a token does) and prefill GEMM (`--rows`, default
 * 512); the formats run interleaved round after round so that load from other processes hits them alike. Prints
 * medians with min–max.
 *
 *   deno run -A tests/wasm/quant_bench.ts [--threads 1] [--rounds 15] [--rows 512] [--layers 24]
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Matrix, QuantFormat } from "../../runtime/backend.ts";
import { quantizeQ4_0, quantizeQ8_0 } from "../../runtime/ggml_types.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { rand } from "../ops/data.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    threads: { type: "string", default: "1" },
    rounds: { type: "string", default: "15" },
    rows: { type: "string", default: "512" },
    layers: { type: "string", default: "24" },
  },
});
const threads = Number(values.threads), rounds = Number(values.rounds), prefillRows = Number(values.rows);

// 130m (d_model 768, d_inner 1536, d_state 16, dt_rank 48): in_proj, x_proj, out_proj.
const SHAPES: [string, number, number][] = [["in_proj", 3072, 768], ["x_proj", 80, 1536], ["out_proj", 768, 1536]];
/**
 * f32; q8_0, q4_0 on the 16-bit integer path (`quantActivations: "int16"`, integer dot products); the same on 8-bit
 * activations (`quantActivations: "int8"`, the default: relaxed i8 dot products on the relaxed build); and q8_0, q4_0 exact
 * (`quantActivations: false`: dequantized in registers).
 */
const FORMATS = ["f32", "q8_0", "q4_0", "q8_0 int8", "q4_0 int8", "q8_0 exact", "q4_0 exact"] as const;
type Fmt = typeof FORMATS[number];

const be = await createWasmBackend({ threads, quantActivations: "int16" });
const beA = await createWasmBackend({ threads, quantActivations: false });
const be8 = await createWasmBackend({ threads, quantActivations: "int8" });
const on = (f: Fmt) => (f.endsWith("exact") ? beA : f.endsWith("int8") ? be8 : be);
const byFormat = <T>(make: () => T) => Object.fromEntries(FORMATS.map((f) => [f, make()])) as Record<Fmt, T>;
const median = (a: number[]) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];

const layers = Number(values.layers);
console.log(`WASM linear, ${be.description}; ${rounds} interleaved rounds, median (min–max)`);
console.log(`  int8 rows: ${be8.description}`);

// Decode: one token through `layers` layers' in_proj, x_proj and out_proj, each layer its own weights, so that
// (as in a real model) the weights stream from memory rather than sit in cache.
{
  const mats = byFormat<Matrix[]>(() => []);
  const bytes = byFormat(() => 0);
  for (let l = 0; l < layers; l++) {
    for (const [name, n, k] of SHAPES) {
      const W = rand(n * k, l * 7 + n + k);
      for (const f of FORMATS) {
        const m = upload(f, W, n, k, `${name}.${l}`);
        mats[f].push(m.m);
        bytes[f] += m.bytes;
      }
    }
  }
  const xs = new Map(SHAPES.map(([, , k]) => [k, be.upload(rand(k, k), [1, k], "x")]));
  const xsA = new Map(SHAPES.map(([, , k]) => [k, beA.upload(rand(k, k), [1, k], "x")]));
  const xs8 = new Map(SHAPES.map(([, , k]) => [k, be8.upload(rand(k, k), [1, k], "x")]));
  const times = byFormat<number[]>(() => []);
  for (let r = 0; r < rounds + 1; r++) {
    for (const f of FORMATS) {
      const t0 = performance.now();
      const b = on(f), x = b === be ? xs : b === be8 ? xs8 : xsA;
      for (const m of mats[f]) b.free(b.linear(x.get(m.k)!, m));
      if (r > 0) times[f].push(performance.now() - t0); // round 0 warms up
    }
  }
  console.log(`decode: ${layers} layers × (in_proj, x_proj, out_proj), 1 row, ms per token`);
  const base = median(times.f32);
  for (const f of FORMATS) {
    const t = times[f], med = median(t);
    console.log(
      `  ${f.padEnd(10)} ${med.toFixed(2).padStart(7)} ms (${Math.min(...t).toFixed(2)}–${Math.max(...t).toFixed(2)})` +
        `  ${(bytes[f] / 1e6).toFixed(0).padStart(4)} MB of weights, ${(bytes[f] / med / 1e6).toFixed(1)} GB/s, ` +
        `${(base / med).toFixed(2)}× f32`,
    );
  }
  for (const f of FORMATS) for (const m of mats[f]) on(f).free(m);
  for (const x of xs.values()) be.free(x);
  for (const x of xsA.values()) beA.free(x);
  for (const x of xs8.values()) be8.free(x);
}

// Prefill: `rows` rows through each shape (compute-bound: one matrix at a time is enough).
console.log(`prefill: ${prefillRows} rows, ms per call`);
for (const [name, n, k] of SHAPES) {
  const W = rand(n * k, n + k);
  const mats = Object.fromEntries(FORMATS.map((f) => [f, upload(f, W, n, k, name).m])) as Record<Fmt, Matrix>;
  const xv = rand(prefillRows * k, prefillRows);
  const x = be.upload(xv, [prefillRows, k], "x"), xA = beA.upload(xv, [prefillRows, k], "x");
  const x8 = be8.upload(xv, [prefillRows, k], "x");
  const times = byFormat<number[]>(() => []);
  for (let r = 0; r < rounds + 1; r++) {
    for (const f of FORMATS) {
      const t0 = performance.now();
      const b = on(f);
      b.free(b.linear(b === be ? x : b === be8 ? x8 : xA, mats[f]));
      if (r > 0) times[f].push(performance.now() - t0);
    }
  }
  const base = median(times.f32);
  for (const f of FORMATS) {
    const t = times[f], med = median(t);
    console.log(
      `  ${`${name} [${n}, ${k}]`.padEnd(20)} ${f.padEnd(10)} ${med.toFixed(2).padStart(8)} ms ` +
        `(${Math.min(...t).toFixed(2)}–${Math.max(...t).toFixed(2)})  ${(base / med).toFixed(2)}× f32`,
    );
  }
  for (const f of FORMATS) on(f).free(mats[f]);
  be.free(x);
  beA.free(xA);
  be8.free(x8);
}
be.dispose();
beA.dispose();
be8.dispose();

function upload(f: Fmt, W: Float32Array, n: number, k: number, label: string): { m: Matrix; bytes: number } {
  if (f === "f32") return { m: be.uploadMatrix(W, n, k, label), bytes: n * k * 4 };
  const format: QuantFormat = f.startsWith("q8_0") ? "q8_0" : "q4_0";
  const blocks = format === "q8_0" ? quantizeQ8_0(W) : quantizeQ4_0(W);
  return { m: on(f).uploadQuantizedMatrix!({ format, n, k, blocks }, label), bytes: blocks.length };
}
