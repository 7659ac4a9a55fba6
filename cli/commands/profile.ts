/**
 * `profile`: where a Mamba block spends its time, memory and bandwidth, per component and layer, in prefill
 * (TTFT) and decode (TPOT). With no flags: 130m-shaped Mamba-1 and Mamba-2 with deterministic random weights on
 * the best backend, L = 64, 512, 2048. Prints a table (or JSON / CSV) and writes a report folder: profile.json
 * (+ its JSON Schema), profile.csv, trace.json (Perfetto / chrome://tracing) and report.html.
 */
import { basename } from "node:path";
import {
  type Arch,
  type ConfigDims,
  makeConfig,
  type MambaConfig,
  MambaModel,
  mergeReports,
  PRESET_SIZES,
  presetConfig,
  PROFILE_JSON_SCHEMA,
  profileModels,
  type ProfileReport,
  toModelWeights,
} from "../../mod.ts";
import { choiceFlag, type CommandSpec, type Flags, intListFlag, numberFlag, UsageError } from "../args.ts";
import {
  BACKEND_FLAGS,
  backendFromFlags,
  hostWeightsOptions,
  MODEL_FLAGS,
  openCheckpoint,
  WEIGHTS_FLAGS,
  weightsForFlags,
} from "../load.ts";
import { hostInfo } from "../host_info.ts";
import { exists, type OutputOptions, prepareOutput, writeFolder } from "../output.ts";
import { checkPresetFits, loadPreset } from "../preset_model.ts";
import { progressBar } from "../progress.ts";
import { profileCsv } from "../report/csv.ts";
import { profileHtml } from "../report/html.ts";
import { profileTable } from "../report/table.ts";
import { profileTrace } from "../report/trace.ts";
import { paperTable1Comparison } from "../report/paper_compare.ts";
import { paperMarkdown } from "../report/paper_markdown.ts";
import { parseWithPreset, PROFILE_PRESET_NAMES } from "./profile_preset.ts";

/** Longest sequence the profiler sweeps. */
const MAX_SEQLEN = 16384;
/** The files of a report folder. */
export const REPORT_FILES = ["profile.json", "profile.schema.json", "profile.csv", "trace.json", "report.html"];
/** The files `--preset paper` adds: ours beside the paper's Table 1, as Markdown and JSON. */
export const PAPER_FILES = ["paper.md", "paper.json"];

export const spec: CommandSpec = {
  name: "profile",
  summary: "Component-level profile (latency, FLOPs, bytes, memory, roofline) in prefill and decode.",
  usage:
    "perfmamba profile [--preset paper] [--model DIR | --arch both --size 130m | --arch mamba2 --dims d_model=256,n_layer=4] " +
    "[--seqlens 64,512,2048] [--mode both] [--out DIR] [--format table|json|csv]",
  flags: {
    model: {
      type: "string",
      help: "Checkpoint folder, .gguf file or Hugging Face model id to profile (instead of built-in random weights)",
    },
    ...MODEL_FLAGS,
    preset: {
      type: "string",
      help: `A named setup (${PROFILE_PRESET_NAMES.join(", ")}). paper: the paper's Table 1 — both architectures at ` +
        "130m, batch 8, L 64,512,2048, prefill and decode — and paper.md / paper.json beside the report; explicit " +
        "flags override its values",
    },
    arch: { type: "string", help: "Built-in model: mamba1, mamba2 or both", default: "both" },
    size: { type: "string", help: `Published shape: ${PRESET_SIZES.join(", ")}`, default: "130m" },
    dims: {
      type: "string",
      help: "Explicit shape instead of --size: d_model=,n_layer= and optionally vocab=,d_state=,expand=,d_conv=," +
        "head_dim=,n_groups=,chunk_size=",
    },
    seqlens: { type: "string", help: `Prompt / context lengths, 1..${MAX_SEQLEN}`, default: "64,512,2048" },
    batch: { type: "string", help: "Sequences per pass", default: "1" },
    mode: { type: "string", help: "prefill, decode or both", default: "both" },
    warmup: {
      type: "string",
      help: "Warm-up passes per measurement (default: until a pass agrees within 10% with the one before, at most 3)",
    },
    iters: {
      type: "string",
      help: "Measured passes of each kind, forced (default: adaptive, see --precision and --max-ms)",
    },
    precision: {
      type: "string",
      help: "Stop a point when the 95% interval of its median is within ± this fraction",
      default: "0.03",
    },
    "max-ms": { type: "string", help: "Time budget of one point (ms), warm-up included", default: "5000" },
    timing: { type: "string", help: "auto (timestamp-query where available) or fenced (GPU waits)", default: "auto" },
    "skip-peaks": { type: "boolean", help: "Do not measure the device peaks (no roofline)" },
    seed: { type: "string", help: "Seed of the random weights and tokens", default: "1" },
    out: { type: "string", help: "Report folder (default: profiles/<date-time>); must be new or an empty folder" },
    format: { type: "string", help: "What to print on stdout: table, json or csv", default: "table" },
    quiet: { type: "boolean", help: "No progress bar" },
    ...BACKEND_FLAGS,
    ...WEIGHTS_FLAGS,
  },
};

const DIM_KEYS: Record<string, keyof ConfigDims> = {
  d_model: "dModel",
  n_layer: "nLayer",
  vocab: "vocabSize",
  d_state: "dState",
  expand: "expand",
  d_conv: "dConv",
  head_dim: "headDim",
  n_groups: "nGroups",
  chunk_size: "chunkSize",
};

/** Parse --dims "d_model=256,n_layer=4,...". */
export function parseDims(text: string): ConfigDims {
  const dims: Partial<Record<keyof ConfigDims, number>> = {};
  for (const item of text.split(",")) {
    const [k, v, ...rest] = item.split("=").map((s) => s.trim());
    const field = DIM_KEYS[k];
    if (!field || v === undefined || rest.length > 0) {
      throw new UsageError(`--dims: "${item}" is not one of ${Object.keys(DIM_KEYS).join(", ")} =<whole number>`);
    }
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--dims: ${k} must be a positive whole number, got "${v}"`);
    dims[field] = n;
  }
  if (dims.dModel === undefined || dims.nLayer === undefined) {
    throw new UsageError("--dims needs at least d_model= and n_layer=");
  }
  return dims as ConfigDims;
}

/** The built-in configurations named by --arch and --size / --dims. */
function builtinConfigs(flags: Flags): MambaConfig[] {
  const arch = choiceFlag(flags, "arch", ["mamba1", "mamba2", "both"] as const);
  const arches: Arch[] = arch === "both" ? ["mamba1", "mamba2"] : [arch];
  if (typeof flags.dims === "string") {
    const dims = parseDims(flags.dims);
    return arches.map((a) => {
      try {
        return makeConfig(a, dims);
      } catch (e) {
        throw new UsageError(`--dims for ${a}: ${(e as Error).message}`);
      }
    });
  }
  const size = flags.size as string;
  if (!(PRESET_SIZES as readonly string[]).includes(size)) {
    throw new UsageError(`--size must be one of ${PRESET_SIZES.join(", ")}, got "${size}"`);
  }
  return arches.map((a) => presetConfig(a, size));
}

function defaultOutDir(): string {
  return `profiles/${new Date().toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "")}`;
}

/**
 * The report folder must be new or empty; one that already holds a report is refused by name (nothing of the user's
 * is overwritten).
 */
const OUT_RULES: OutputOptions = {
  emptyFolder: true,
  check: async (dir) => {
    for (const f of [...REPORT_FILES, ...PAPER_FILES]) {
      if (await exists(`${dir}/${f}`)) {
        return `--out ${dir} already holds ${f}; choose another folder (nothing was overwritten)`;
      }
    }
    return null;
  },
};

/** Write the report folder whole: a temporary sibling renamed to `dir` when every file is in it. */
export async function writeReport(
  dir: string,
  report: ProfileReport,
  extra: Record<string, string> = {},
): Promise<void> {
  await writeFolder(dir, {
    ...extra,
    "profile.json": JSON.stringify(report, null, 1) + "\n",
    "profile.schema.json": JSON.stringify(PROFILE_JSON_SCHEMA, null, 2) + "\n",
    "profile.csv": profileCsv(report),
    "trace.json": JSON.stringify(profileTrace(report)) + "\n",
    "report.html": await profileHtml(report),
  }, OUT_RULES);
}

export async function run(argv: string[]): Promise<void> {
  const parsed = parseWithPreset(spec, argv);
  if (!parsed) return;
  const { flags, preset } = parsed;
  const seqLens = intListFlag(flags, "seqlens")!;
  if (seqLens.some((l) => l < 1 || l > MAX_SEQLEN)) {
    throw new UsageError(`--seqlens values must be in [1, ${MAX_SEQLEN}], got ${seqLens.join(",")}`);
  }
  const batch = numberFlag(flags, "batch", { integer: true, min: 1, max: 1024 })!;
  const mode = choiceFlag(flags, "mode", ["prefill", "decode", "both"] as const);
  const warmup = numberFlag(flags, "warmup", { integer: true, min: 0, max: 100 });
  const iters = numberFlag(flags, "iters", { integer: true, min: 1, max: 1000 });
  const precision = numberFlag(flags, "precision", { min: 0.001, max: 0.5 })!;
  const maxMs = numberFlag(flags, "max-ms", { min: 1 })!;
  const timing = choiceFlag(flags, "timing", ["auto", "fenced"] as const);
  const format = choiceFlag(flags, "format", ["table", "json", "csv"] as const);
  const seed = numberFlag(flags, "seed", { integer: true, min: 0 })!;
  const modelDir = typeof flags.model === "string" ? flags.model : null;
  if (modelDir !== null && (typeof flags.dims === "string")) {
    throw new UsageError("give either --model or --dims, not both");
  }
  const configs = modelDir === null ? builtinConfigs(flags) : [];
  const outDir = typeof flags.out === "string" ? flags.out : defaultOutDir();
  await prepareOutput(outDir, OUT_RULES);

  const host = modelDir === null
    ? null
    : toModelWeights(await openCheckpoint(modelDir, flags), hostWeightsOptions(flags));
  const backend = await backendFromFlags(flags, { timestamps: true });
  // One model on the backend at a time, so that each run's memory figures hold only its own model.
  const sources: { name: string; config: MambaConfig; load: () => MambaModel }[] = host
    ? [{
      name: basename(modelDir!.replace(/\/+$/, "")),
      config: host.config,
      load: () => MambaModel.load(weightsForFlags(host, flags), backend),
    }]
    : configs.map((c) => {
      const name = typeof flags.dims === "string" ? `${c.arch} (${flags.dims})` : `${c.arch}-${flags.size}`;
      return {
        name: `${name} (random weights)`,
        config: c,
        load: () => loadPreset(c, backend, flags, seed),
      };
    });
  const bar = progressBar(!flags.quiet);
  let model: MambaModel | null = null;
  try {
    // What cannot fit is refused before spending minutes (or the host's memory) on it (ModelTooLargeError: exit 2).
    const pass = { batch, seqLen: Math.max(...seqLens) };
    for (const s of sources) checkPresetFits(s.config, backend, flags, pass);
    console.error(`profiling on ${backend.name} — ${backend.description}`);
    const reports: ProfileReport[] = [];
    const hostEnv = await hostInfo(backend);
    let peaks: ProfileReport["environment"]["peaks"] | "measure" = flags["skip-peaks"] ? null : "measure";
    let passesBefore = 0, lastDone = 0;
    for (const [i, s] of sources.entries()) {
      const modelStart = performance.now();
      model = s.load();
      const r = await profileModels([{ model, name: s.name }], {
        seqLens,
        batch,
        modes: mode === "both" ? ["prefill", "decode"] : [mode],
        warmup,
        iters,
        precision,
        maxMs,
        peaks,
        timing,
        seed,
        host: hostEnv,
        onProgress: (p) => {
          lastDone = p.done;
          // Models still to come after this one: assumed to take as long as this one (same size, other arch).
          const later = sources.length - 1 - i;
          const thisModel = p.leftMs === null ? null : performance.now() - modelStart + p.leftMs;
          bar.update(p.done + passesBefore, passesBefore + p.total * (1 + later), p.label, {
            leftMs: p.leftMs === null || thisModel === null ? null : p.leftMs + later * thisModel,
            modeLeftMs: p.modeLeftMs,
            stage: `${s.config.arch} ${p.mode}`,
          });
        },
      });
      model.dispose();
      model = null;
      passesBefore += lastDone;
      peaks = r.environment.peaks; // measured once
      reports.push(r);
    }
    const report = mergeReports(reports);
    bar.done();
    const extra: Record<string, string> = {};
    if (preset === "paper") {
      const cmp = paperTable1Comparison(report);
      extra["paper.md"] = paperMarkdown(cmp, ["deno run -A cli/main.ts profile", ...argv].join(" "));
      extra["paper.json"] = JSON.stringify(cmp, null, 1) + "\n";
    }
    await writeReport(outDir, report, extra);
    if (format === "json") console.log(JSON.stringify(report, null, 1));
    else if (format === "csv") console.log(profileCsv(report).trimEnd());
    else console.log(profileTable(report));
    console.error(`report: ${outDir}/report.html (also profile.json, profile.csv, trace.json for Perfetto)`);
    if (preset === "paper") console.error(`beside the paper's Table 1: ${outDir}/paper.md (and paper.json)`);
  } finally {
    bar.done();
    model?.dispose();
    backend.dispose();
  }
}
