/**
 * The CPU peer harness (issue 16, item 5): our WASM backend and the real llama.cpp (npm node-llama-cpp 3.22.1, its
 * prebuilt CPU library, installed by tests/llama_cpp/install.sh into .llama-cpp/ when missing) on the same weights,
 * exported by our GGUF export (runtime/gguf_mamba.ts `ggufFromWeights`) as F32, Q8_0 and Q4_0. For each model,
 * format and thread count: prefill of L random token ids (tok/s) and decode (ms/token over N steps, logits computed
 * every step on both sides), model loading excluded, runs INTERLEAVED (ours, llama.cpp, ours, llama.cpp, …) after
 * untimed warm-up runs, medians with min–max. Prints one markdown table (tests/llama_cpp/peer_table.ts).
 *
 * Ours runs the Q8_0 / Q4_0 files loaded back through our GGUF import, which keeps their blocks (`toModelWeights`), on
 * the WASM backend's quantized kernels: 8-bit activations (llama.cpp's q8_0; relaxed-SIMD i8 dot products; the
 * backend's default) and/or, with `--quant-paths int8,int16,exact`, 16-bit activations ("integer" = "int16") and the
 * exact kernels (weights dequantized in registers) as rows of their own in the same
 * interleaved run; the table's "ours ran" column names the format and path ours really computed with. The GGUF exports
 * quantize every matrix, embedding / lm_head included, as llama.cpp's do.
 *
 *   deno task peer [--models mamba1,mamba2,trained] [--size 130m | --dims d_model=64,n_layer=2,vocab=256]
 *                  [--formats f32,q8_0,q4_0] [--threads 1,2] [--prefill 512] [--decode 64] [--reps 5] [--warmup 1]
 *                  [--quant-paths int16,int8,exact] [--json FILE]
 *
 * Models: mamba1 / mamba2 are the --size preset (default 130m) or --dims shape with deterministic random weights;
 * "trained" the two trained models of ../shared/models (skipped, saying so, when absent); any other entry a checkpoint
 * folder. Exit status non-zero when llama.cpp cannot be installed or run.
 */
import { parseArgs } from "node:util";
import {
  ggufCheckpoint,
  ggufFromWeights,
  ggufNoVocabMetadata,
  loadWeights,
  makeConfig,
  MambaModel,
  type MambaWeights,
  mulberry32,
  parseGguf,
  presetConfig,
  syntheticWeights,
  toModelWeights,
  weightsQuantFormat,
} from "../../mod.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { parseDims } from "../../cli/commands/profile.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { parseRunnerRun, type PeerRow, peerRow, peerTable, type RunTiming } from "./peer_table.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** Where install.sh puts node-llama-cpp. */
export const LLAMA_DIR = `${ROOT}.llama-cpp`;
const RUNNER = new URL("./llama_cpp_bench_runner.mjs", import.meta.url).pathname;
const INSTALL = new URL("./install.sh", import.meta.url).pathname;
const SHARED = new URL("../../../shared", import.meta.url).pathname;
const TRAINED = ["mamba1-text-small", "mamba2-text-small"];
const FORMATS = { f32: "F32", q8_0: "Q8_0", q4_0: "Q4_0" } as const;

/** The harness's options, from its command line. */
export interface PeerOptions {
  models: string[];
  size: string;
  dims: string | null;
  formats: (keyof typeof FORMATS)[];
  threads: number[];
  prefill: number;
  decode: number;
  reps: number;
  warmup: number;
  /** The WASM quantized paths ours runs Q8_0 / Q4_0 with (`quantActivations` "int16" / "int8" / false). */
  quantPaths: ("int16" | "int8" | "exact")[];
  json: string | null;
}

/** Parses the harness's flags (see the module doc), naming a bad one. */
export function parsePeerArgs(args: string[]): PeerOptions {
  const { values } = parseArgs({
    args,
    options: {
      models: { type: "string", default: "mamba1,mamba2,trained" },
      size: { type: "string", default: "130m" },
      dims: { type: "string" },
      formats: { type: "string", default: "f32,q8_0,q4_0" },
      threads: { type: "string", default: "1,2" },
      prefill: { type: "string", default: "512" },
      decode: { type: "string", default: "64" },
      reps: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      "quant-paths": { type: "string", default: "int8" },
      json: { type: "string" },
    },
    strict: true,
  });
  const int = (name: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`--${name}: ${text} is not a whole number in [${min}, ${max}]`);
    }
    return n;
  };
  const list = (text: string) => text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const formats = list(values.formats!);
  for (const f of formats) {
    if (!Object.hasOwn(FORMATS, f)) {
      throw new Error(`--formats: "${f}" is not one of ${Object.keys(FORMATS).join(", ")}`);
    }
  }
  const quantPaths = list(values["quant-paths"]!).map((p) => p === "integer" ? "int16" : p);
  for (const p of quantPaths) {
    if (p !== "int16" && p !== "int8" && p !== "exact") {
      throw new Error(`--quant-paths: "${p}" is not one of int16 (or integer), int8, exact`);
    }
  }
  if (quantPaths.length === 0) throw new Error("--quant-paths: give int16, int8 and/or exact");
  const models = list(values.models!);
  if (models.length === 0) throw new Error("--models: give at least one model");
  return {
    models,
    size: values.size!,
    dims: values.dims ?? null,
    formats: formats as PeerOptions["formats"],
    threads: list(values.threads!).map((t) => int("threads", t, 1, 64)),
    prefill: int("prefill", values.prefill!, 1, 65536),
    decode: int("decode", values.decode!, 1, 100000),
    reps: int("reps", values.reps!, 1, 1000),
    warmup: int("warmup", values.warmup!, 0, 100),
    quantPaths: quantPaths as PeerOptions["quantPaths"],
    json: values.json ?? null,
  };
}

/** The models to time: [name, weights] pairs, and the lines saying which were skipped. */
async function resolveModels(o: PeerOptions): Promise<{ models: [string, MambaWeights][]; skipped: string[] }> {
  const models: [string, MambaWeights][] = [];
  const skipped: string[] = [];
  for (const m of o.models) {
    if (m === "mamba1" || m === "mamba2") {
      const config = o.dims !== null ? makeConfig(m, parseDims(o.dims)) : presetConfig(m, o.size);
      models.push([`${m} ${o.dims ?? o.size} (random)`, syntheticWeights(config, 1)]);
    } else if (m === "trained") {
      for (const name of TRAINED) {
        const dir = `${SHARED}/models/${name}`;
        try {
          Deno.statSync(`${dir}/config.json`);
        } catch {
          skipped.push(`${name}: skipped (${dir} not found)`);
          continue;
        }
        models.push([name, await loadWeights(dirSource(dir))]);
      }
    } else {
      models.push([m, await loadWeights(dirSource(m))]);
    }
  }
  return { models, skipped };
}

/** Installs node-llama-cpp with install.sh when .llama-cpp/ lacks it. */
async function ensureLlamaCpp(): Promise<void> {
  try {
    Deno.statSync(`${LLAMA_DIR}/node_modules/node-llama-cpp/package.json`);
    return;
  } catch {
    // not installed: install below
  }
  console.error(`installing node-llama-cpp into ${LLAMA_DIR} (tests/llama_cpp/install.sh)…`);
  const r = await new Deno.Command("bash", { args: [INSTALL], stdout: "inherit", stderr: "inherit" }).output();
  if (!r.success) throw new Error(`tests/llama_cpp/install.sh failed (exit ${r.code}): llama.cpp is needed`);
}

/** The long-lived llama.cpp bench runner: one JSON request, one JSON reply line. */
class LlamaRunner {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;
  constructor() {
    this.#child = new Deno.Command("node", {
      args: [RUNNER, LLAMA_DIR],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = lineIterator(this.#child.stdout);
  }
  async request(req: Record<string, unknown>): Promise<string> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(req) + "\n"));
    const next = await this.#lines.next();
    if (next.done) throw new Error(`llama.cpp bench runner exited during ${JSON.stringify(req).slice(0, 80)}`);
    return next.value;
  }
  async load(model: string, threads: number): Promise<void> {
    const r = JSON.parse(await this.request({ cmd: "load", model, threads }));
    if (r.ok !== true) throw new Error(`llama.cpp could not load ${model}: ${r.error}`);
  }
  async run(ids: number[], decode: number): Promise<RunTiming> {
    return parseRunnerRun(await this.request({ cmd: "run", ids, decode }), decode);
  }
  async close(): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify({ cmd: "quit" }) + "\n")).catch(() => {});
    await this.#writer.close().catch(() => {});
    const status = await this.#child.status;
    if (!status.success) console.error(`llama.cpp bench runner exited with ${status.code}`);
  }
}

async function* lineIterator(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() !== "") yield line;
    }
  }
}

/** One timed run of ours: prefill of `ids` (last logits only), then `decode` steps each reading its logits back. */
async function oursRun(model: MambaModel, ids: number[], decode: number, next: () => number): Promise<RunTiming> {
  let t0 = performance.now();
  const { state } = await model.prefill([ids], { lastOnly: true });
  const prefillMs = performance.now() - t0;
  const decodeMs: number[] = [];
  try {
    for (let i = 0; i < decode; i++) {
      t0 = performance.now();
      await model.step([next()], state);
      decodeMs.push(performance.now() - t0);
    }
  } finally {
    state.dispose();
  }
  return { prefillMs, decodeMs };
}

/** Runs the harness; returns the rows (the table is printed). */
export async function runPeer(o: PeerOptions): Promise<PeerRow[]> {
  await ensureLlamaCpp();
  const { models, skipped } = await resolveModels(o);
  for (const s of skipped) console.error(s);
  const tmp = await Deno.makeTempDir({ prefix: "perfmamba-peer-" });
  const llama = new LlamaRunner();
  const rows: PeerRow[] = [];
  try {
    for (const [name, weights] of models) {
      const c = weights.config;
      const rand = mulberry32(11);
      const token = () => Math.floor(rand() * c.vocabSize);
      const ids = Array.from({ length: o.prefill }, token);
      for (const f of o.formats) {
        const type = FORMATS[f];
        const arch = c.arch === "mamba1" ? "mamba" : "mamba2";
        const bytes = ggufFromWeights(weights, { tensorType: type, metadata: ggufNoVocabMetadata(arch, c.vocabSize) });
        const file = `${tmp}/${name.replace(/[^A-Za-z0-9_.-]+/g, "_")}-${f}.gguf`;
        await Deno.writeFile(file, bytes);
        // Ours: the f32 weights, or the quantized file read back keeping its Q8_0 / Q4_0 blocks (quantized kernels).
        const ours = type === "F32" ? weights : toModelWeights(ggufCheckpoint(parseGguf(bytes, file)));
        const quant = weightsQuantFormat(ours);
        const paths: ("f32" | "int16" | "int8" | "exact")[] = quant ? o.quantPaths : ["f32"];
        for (const [threads, path] of o.threads.flatMap((t) => paths.map((p) => [t, p] as const))) {
          const oursRanAs = quant ? `${quant} ${path}` : "f32";
          console.error(
            `${name} ${type} (ours ${oursRanAs}) threads ${threads}: ${o.warmup} warm-up + ${o.reps} interleaved runs…`,
          );
          const backend = await createWasmBackend({
            threads,
            quantActivations: path === "exact" ? false : path === "int8" ? "int8" : "int16",
          });
          const model = MambaModel.load(ours, backend);
          try {
            await llama.load(file, threads);
            for (let i = 0; i < o.warmup; i++) {
              await oursRun(model, ids, o.decode, token);
              await llama.run(ids, o.decode);
            }
            const oursRuns: RunTiming[] = [], llamaRuns: RunTiming[] = [];
            for (let i = 0; i < o.reps; i++) {
              oursRuns.push(await oursRun(model, ids, o.decode, token));
              llamaRuns.push(await llama.run(ids, o.decode));
            }
            const row = peerRow({ model: name, format: type, threads, oursRanAs }, o.prefill, oursRuns, llamaRuns);
            rows.push(row);
            console.error(peerTable([row], o.prefill).split("\n")[2]);
          } finally {
            model.dispose();
            backend.dispose();
          }
        }
      }
    }
  } finally {
    await llama.close();
    await Deno.remove(tmp, { recursive: true });
  }
  const version = JSON.parse(Deno.readTextFileSync(`${LLAMA_DIR}/node_modules/node-llama-cpp/package.json`)).version;
  console.log(
    `CPU peer harness: ours (WASM) vs llama.cpp (node-llama-cpp ${version}, prebuilt CPU), ${o.reps} interleaved ` +
      `runs after ${o.warmup} warm-up, median (min–max); prefill L = ${o.prefill}, decode ${o.decode} tokens; ` +
      `${navigator.hardwareConcurrency} logical cores; ${new Date().toISOString()}\n`,
  );
  console.log(peerTable(rows, o.prefill));
  for (const s of skipped) console.log(`\n${s}`);
  if (o.json !== null) {
    await Deno.writeTextFile(o.json, JSON.stringify({ options: o, llamaCpp: version, rows }, null, 2) + "\n");
  }
  return rows;
}

if (import.meta.main) {
  let options: PeerOptions;
  try {
    options = parsePeerArgs(Deno.args);
  } catch (e) {
    console.error(`peer: ${(e as Error).message}`);
    Deno.exit(2);
  }
  try {
    await runPeer(options);
  } catch (e) {
    console.error(`peer: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
