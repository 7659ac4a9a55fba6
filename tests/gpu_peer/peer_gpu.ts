/**
 * The GPU peer harness (issue 17, item 5): our `bench` (WebGPU by default) and state-spaces/mamba's own PyTorch
 * model, mamba_ssm (tests/gpu_peer/mamba_ssm_bench.py), on the same GPU, shapes, lengths and batches, random weights:
 * prefill of B×L tokens (ms per forward, last position's logits) and decode (ms per step: the step loop with logits
 * read back each step, greedy and sampled generation), ours in f32 against mamba_ssm in fp32 (and bf16 with
 * `--dtypes fp32,bf16`). Each repetition runs one process of each side per model shape, INTERLEAVED (ours, mamba_ssm;
 * then mamba_ssm, ours; …), each with its own untimed warm-up; the table gives per run the median and min–max of the
 * repetitions' figures (each a median of that process's timed runs) and the speed ratio ours ÷ mamba_ssm from the
 * medians (above 1 = ours faster). Prints one markdown table (tests/gpu_peer/gpu_peer_table.ts) and the paths
 * mamba_ssm ran; `--json FILE` writes everything, rewritten after every repetition (a run cut off keeps what it had).
 *
 *   deno task peer:gpu [--arches mamba1,mamba2] [--sizes 130m,2.8b | --dims d_model=64,n_layer=2,vocab=256]
 *                      [--seqlens 64,…,16384] [--prefill-batch 1] [--batches 1,2,4,8,16,32,64]
 *                      [--modes prefill,decode,greedy,sampled] [--dtypes fp32] [--decode-tokens 32] [--reps 3]
 *                      [--warmup 1] [--iters 3] [--backend webgpu] [--python python3] [--no-lock] [--json FILE]
 *                      [--dry-run]
 *
 * mamba_ssm is not installed: tests/gpu_peer/fetch_mamba_ssm.sh (run by prep_device.sh) puts its source in the
 * ignored .mamba_ssm/, which this harness puts on PYTHONPATH; BENCHMARKS.md ("GPU peer harness") gives the device
 * commands (tests/gpu_peer/device_run.sh). `--dry-run` prints the planned runs and both sides' command lines and runs
 * nothing.
 */
import { parseArgs } from "node:util";
import { makeConfig, type MambaConfig, presetConfig } from "../../mod.ts";
import { parseDims } from "../../cli/commands/profile.ts";
import {
  type Dtype,
  type GpuPeerRow,
  gpuPeerTable,
  type MambaSsmMeta,
  mergeRuns,
  type Mode,
  MODES,
  oursBenchArgs,
  parseMambaSsm,
  parseOursBench,
  type PlannedRun,
  planRuns,
  pythonArgs,
  runKey,
  type SideRep,
} from "./gpu_peer_table.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** Where fetch_mamba_ssm.sh puts the mamba_ssm source (PYTHONPATH). */
export const MAMBA_SSM_DIR = `${ROOT}.mamba_ssm`;
/** The Python side. */
export const BENCH_PY = new URL("./mamba_ssm_bench.py", import.meta.url).pathname;
const CLI = `${ROOT}cli/main.ts`;
/** Our bench's decode prompt length (cli/commands/bench.ts prefills 16 tokens before decode). */
export const PROMPT = 16;

/** The harness's options, from its command line. */
export interface GpuPeerOptions {
  arches: ("mamba1" | "mamba2")[];
  sizes: string[];
  dims: string | null;
  seqlens: number[];
  prefillBatch: number[];
  batches: number[];
  modes: Mode[];
  dtypes: Dtype[];
  decodeTokens: number;
  reps: number;
  warmup: number;
  iters: number;
  backend: string;
  python: string;
  /** Run our bench processes with `deno run --no-lock` (the offline GPU machine's cache holds only what they import). */
  noLock: boolean;
  json: string | null;
  dryRun: boolean;
}

/** Parses the harness's flags (see the module doc), naming a bad one. */
export function parseGpuPeerArgs(args: string[]): GpuPeerOptions {
  const { values } = parseArgs({
    args,
    options: {
      arches: { type: "string", default: "mamba1,mamba2" },
      sizes: { type: "string", default: "130m,2.8b" },
      dims: { type: "string" },
      seqlens: { type: "string", default: "64,128,256,512,1024,2048,4096,8192,16384" },
      "prefill-batch": { type: "string", default: "1" },
      batches: { type: "string", default: "1,2,4,8,16,32,64" },
      modes: { type: "string", default: MODES.join(",") },
      dtypes: { type: "string", default: "fp32" },
      "decode-tokens": { type: "string", default: "32" },
      reps: { type: "string", default: "3" },
      warmup: { type: "string", default: "1" },
      iters: { type: "string", default: "3" },
      backend: { type: "string", default: "webgpu" },
      python: { type: "string", default: "python3" },
      "no-lock": { type: "boolean", default: false },
      json: { type: "string" },
      "dry-run": { type: "boolean", default: false },
    },
    strict: true,
  });
  const int = (name: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (text.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
      throw new Error(`--${name}: ${text} is not a whole number in [${min}, ${max}]`);
    }
    return n;
  };
  const list = (text: string) => text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const ints = (name: string, text: string) => {
    const xs = list(text).map((t) => int(name, t, 1, 65536));
    if (xs.length === 0) throw new Error(`--${name}: give at least one value`);
    return xs;
  };
  const choices = <T extends string>(name: string, text: string, allowed: readonly T[]): T[] => {
    const xs = list(text);
    for (const x of xs) {
      if (!(allowed as readonly string[]).includes(x)) {
        throw new Error(`--${name}: "${x}" is not one of ${allowed.join(", ")}`);
      }
    }
    if (xs.length === 0) throw new Error(`--${name}: give at least one of ${allowed.join(", ")}`);
    return xs as T[];
  };
  const dims = values.dims ?? null;
  if (dims !== null) parseDims(dims); // a bad --dims fails here, naming the item
  const sizes = dims !== null ? [] : list(values.sizes!);
  for (const s of sizes) presetConfig("mamba1", s); // names the unknown size
  if (dims === null && sizes.length === 0) throw new Error("--sizes: give at least one size");
  return {
    arches: choices("arches", values.arches!, ["mamba1", "mamba2"] as const),
    sizes,
    dims,
    seqlens: ints("seqlens", values.seqlens!),
    prefillBatch: ints("prefill-batch", values["prefill-batch"]!),
    batches: ints("batches", values.batches!),
    modes: choices("modes", values.modes!, MODES),
    dtypes: choices("dtypes", values.dtypes!, ["fp32", "bf16"] as const),
    decodeTokens: int("decode-tokens", values["decode-tokens"]!, 1, 100000),
    reps: int("reps", values.reps!, 1, 1000),
    warmup: int("warmup", values.warmup!, 0, 100),
    iters: int("iters", values.iters!, 1, 1000),
    backend: values.backend!,
    python: values.python!,
    noLock: values["no-lock"]!,
    json: values.json ?? null,
    dryRun: values["dry-run"]!,
  };
}

/** One model shape both sides time. */
export interface Unit {
  /** "130m", or the --dims text. */
  size: string;
  config: MambaConfig;
  /** Our bench's shape flags. */
  shape: string[];
  plan: PlannedRun[];
  /** Our bench's command lines (after `deno run -A cli/main.ts`). */
  oursArgs: string[][];
  /** mamba_ssm_bench.py's arguments (before --json). */
  pyArgs: string[];
}

/** The shapes, in the order each repetition times them, with their plans and both sides' command lines. */
export function units(o: GpuPeerOptions): Unit[] {
  const side = { ...o, prompt: PROMPT };
  const shapes: [string, string[], (a: "mamba1" | "mamba2") => MambaConfig][] = o.dims !== null
    ? [[o.dims, ["--dims", o.dims], (a) => makeConfig(a, parseDims(o.dims!))]]
    : o.sizes.map((s) => [s, ["--size", s], (a) => presetConfig(a, s)]);
  const out: Unit[] = [];
  for (const [size, shape, config] of shapes) {
    for (const arch of o.arches) {
      const c = config(arch);
      out.push({
        size,
        config: c,
        shape,
        plan: planRuns(arch, o),
        oursArgs: oursBenchArgs(arch, shape, o, ["--backend", o.backend]),
        pyArgs: pythonArgs(c, size, side),
      });
    }
  }
  return out;
}

/** Runs a command, its stderr shown as progress; returns its stdout, or throws with its exit status. */
async function runProcess(cmd: string, args: string[], env: Record<string, string>, what: string): Promise<string> {
  const r = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "inherit" }).output();
  if (!r.success) throw new Error(`${what} exited with status ${r.code}`);
  return new TextDecoder().decode(r.stdout);
}

/** Every planned run of `plan` failed with `message`. */
function failedRep(plan: readonly PlannedRun[], message: string): SideRep {
  return { figures: new Map(), errors: new Map(plan.map((r) => [runKey(r), message])) };
}

/** One repetition of ours for a unit: its bench processes, their planned figures merged. */
async function oursRep(u: Unit, o: GpuPeerOptions, tmp: string): Promise<{ rep: SideRep; backend: string | null }> {
  const rep: SideRep = { figures: new Map(), errors: new Map() };
  let backend: string | null = null;
  for (const [i, args] of u.oursArgs.entries()) {
    const file = `${tmp}/ours-${i}.json`;
    const run = ["run", ...(o.noLock ? ["--no-lock"] : []), "-A", CLI, ...args, "--json", file];
    await runProcess(Deno.execPath(), run, {}, `our bench ${args.join(" ")}`);
    const text = await Deno.readTextFile(file);
    const doc = JSON.parse(text);
    backend = `${doc.backend} — ${doc.description}`;
    const part = parseOursBench(text, file);
    // A run two processes report (a prefill length both time) keeps the first process's figure.
    for (const [k, v] of part.figures) if (!rep.figures.has(k)) rep.figures.set(k, v);
    for (const [k, v] of part.errors) if (!rep.figures.has(k) && !rep.errors.has(k)) rep.errors.set(k, v);
  }
  return { rep, backend };
}

/** One repetition of mamba_ssm for a unit: one mamba_ssm_bench.py process. */
async function theirsRep(u: Unit, o: GpuPeerOptions, tmp: string): Promise<ReturnType<typeof parseMambaSsm>> {
  const file = `${tmp}/mamba_ssm.json`;
  const pythonPath = [MAMBA_SSM_DIR, Deno.env.get("PYTHONPATH")].filter((p) => p).join(":");
  await runProcess(
    o.python,
    [BENCH_PY, ...u.pyArgs, "--json", file],
    { PYTHONPATH: pythonPath, PYTHONUNBUFFERED: "1" },
    `mamba_ssm_bench.py ${u.config.arch} ${u.size}`,
  );
  return parseMambaSsm(await Deno.readTextFile(file), file);
}

/** The harness's result: the rows, both sides' descriptions, and what failed. */
export interface GpuPeerResult {
  rows: GpuPeerRow[];
  ours: string | null;
  mambaSsm: MambaSsmMeta | null;
  failures: string[];
}

/** Runs the harness; returns the result (the table is printed). */
export async function runGpuPeer(o: GpuPeerOptions): Promise<GpuPeerResult> {
  const us = units(o);
  if (o.dryRun) {
    for (const u of us) {
      console.log(`# ${u.config.arch} ${u.size}`);
      const deno = `deno run${o.noLock ? " --no-lock" : ""} -A cli/main.ts`;
      for (const a of u.oursArgs) console.log(`ours: ${deno} ${a.join(" ")} --json FILE`);
      console.log(`mamba_ssm: ${o.python} tests/gpu_peer/mamba_ssm_bench.py ${u.pyArgs.join(" ")} --json FILE`);
      for (const r of u.plan) console.log(JSON.stringify(r));
    }
    return { rows: [], ours: null, mambaSsm: null, failures: [] };
  }
  try {
    Deno.statSync(`${MAMBA_SSM_DIR}/mamba_ssm/__init__.py`);
  } catch {
    throw new Error(`no mamba_ssm source in ${MAMBA_SSM_DIR}: run tests/gpu_peer/fetch_mamba_ssm.sh first`);
  }
  const tmp = await Deno.makeTempDir({ prefix: "perfmamba-gpu-peer-" });
  const ours = us.map(() => [] as SideRep[]);
  const theirs = us.map(() => new Map<Dtype, SideRep[]>(o.dtypes.map((d) => [d, []])));
  const result: GpuPeerResult = { rows: [], ours: null, mambaSsm: null, failures: [] };
  const rows = () => us.flatMap((u, i) => mergeRuns(u.size, u.plan, ours[i], theirs[i]));
  const started = new Date().toISOString();
  try {
    for (let rep = 0; rep < o.reps; rep++) {
      for (const [i, u] of us.entries()) {
        const runOurs = async () => {
          console.error(`[rep ${rep + 1}/${o.reps}] ours ${u.config.arch} ${u.size}…`);
          try {
            const r = await oursRep(u, o, tmp);
            ours[i].push(r.rep);
            result.ours ??= r.backend;
          } catch (e) {
            result.failures.push(`ours ${u.config.arch} ${u.size} rep ${rep + 1}: ${(e as Error).message}`);
            ours[i].push(failedRep(u.plan, (e as Error).message));
          }
        };
        const runTheirs = async () => {
          console.error(`[rep ${rep + 1}/${o.reps}] mamba_ssm ${u.config.arch} ${u.size}…`);
          try {
            const r = await theirsRep(u, o, tmp);
            result.mambaSsm ??= r.meta;
            for (const d of o.dtypes) {
              theirs[i].get(d)!.push(
                r.byDtype.get(d) ?? failedRep(u.plan, `no ${d} rows in mamba_ssm_bench.py's JSON`),
              );
            }
          } catch (e) {
            result.failures.push(`mamba_ssm ${u.config.arch} ${u.size} rep ${rep + 1}: ${(e as Error).message}`);
            for (const d of o.dtypes) theirs[i].get(d)!.push(failedRep(u.plan, (e as Error).message));
          }
        };
        // Alternate which side goes first, so a drift in the machine's speed does not favour one side.
        if (rep % 2 === 0) await runOurs().then(runTheirs);
        else await runTheirs().then(runOurs);
      }
      result.rows = rows();
      if (o.json !== null) {
        const doc = { options: o, started, repsDone: rep + 1, ...result };
        await Deno.writeTextFile(o.json, JSON.stringify(doc, null, 2) + "\n");
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  const m = result.mambaSsm;
  console.log(
    `GPU peer harness: ours (${result.ours ?? "no run succeeded"}, f32 weights) vs mamba_ssm ` +
      `${
        m
          ? `${m.mambaSsm.version} (${m.mambaSsm.commit?.slice(0, 7) ?? "?"}), torch ${m.torch}, triton ` +
            `${m.triton}, ${m.device}, TF32 matmul ${m.tf32Matmul ? "on" : "off"}, cuDNN ${m.tf32Cudnn ? "on" : "off"}`
          : "(no run succeeded)"
      }; random ` +
      `weights; ${o.reps} interleaved repetitions (each: ${o.warmup} warm-up + ${o.iters} timed), median ` +
      `(min–max) of the repetitions; decode after a ${PROMPT}-token prompt, ${o.decodeTokens} steps; ratio = ` +
      `mamba_ssm ms ÷ ours ms (above 1 = ours faster); ${started}\n`,
  );
  console.log(gpuPeerTable(result.rows, o.dtypes));
  if (m) {
    console.log("\nmamba_ssm paths that ran (no CUDA extensions built):");
    for (const [part, path] of Object.entries(m.paths)) console.log(`- ${part}: ${path}`);
  }
  for (const f of result.failures) console.log(`\nfailed: ${f}`);
  return result;
}

if (import.meta.main) {
  let options: GpuPeerOptions;
  try {
    options = parseGpuPeerArgs(Deno.args);
  } catch (e) {
    console.error(`peer:gpu: ${(e as Error).message}`);
    Deno.exit(2);
  }
  try {
    const r = await runGpuPeer(options);
    if (r.failures.length > 0) Deno.exit(1);
  } catch (e) {
    console.error(`peer:gpu: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
