/**
 * `sweep`: pruning ratios × scores → accuracy (perplexity and zero-shot tasks, with impact zones) on a real model,
 * and ratios × sequence lengths → speed and memory of the pruned shapes against dense (the paper's Table 2).
 * Writes sweep.json, sweep.md and sweep.html (charts) to --out.
 */
import {
  fitBridges,
  makeConfig,
  MambaModel,
  presetConfig,
  pruneWeights,
  pruningSpeed,
  SELECTION_SCORES,
  type SelectionScore,
  selectStates,
  type StateActivity,
  toHostWeights,
} from "../../mod.ts";
import {
  choiceFlag,
  type CommandSpec,
  type Flags,
  intListFlag,
  numberFlag,
  parseCommand,
  UsageError,
} from "../args.ts";
import { PAPER_RATIOS, PAPER_SEQLENS } from "../report/paper_table2.ts";
import {
  BACKEND_FLAGS,
  backendFromFlags,
  hostWeightsOptions,
  MODEL_FLAGS,
  openCheckpoint,
  resolveModel,
  WEIGHTS_FLAGS,
  weightsForFlags,
} from "../load.ts";
import { progressBar } from "../progress.ts";
import {
  type AccuracyPoint,
  paperTable2Comparison,
  sweepHtml,
  sweepMarkdown,
  type SweepReport,
} from "../report/sweep_report.ts";
import { activityToJson, CALIB_FLAGS, calibrateFromFlags, readActivity } from "../calibration.ts";
import { prepareOutput, writeFolder } from "../output.ts";
import { activitySvg } from "../report/activity.ts";
import { parseDims } from "./profile.ts";
import { accuracyOf, EVAL_FLAGS, evalSetupFromFlags } from "./sweep_eval.ts";

/**
 * Presets: the flags of a published study, put before the command line's own (which override them, being later).
 * paper: the PerfMamba paper's Table 2 / Fig. 5 — Mamba-2 130m prefill, its ratios and lengths, removed and masked.
 */
export const PRESETS: Record<"paper", string[]> = {
  paper: [
    "--speed",
    "--arch",
    "mamba2",
    "--size",
    "130m",
    "--ratios",
    PAPER_RATIOS.join(","),
    "--seqlens",
    PAPER_SEQLENS.join(","),
    "--mode",
    "prefill",
    "--variants",
    "remove,mask",
    "--warmup",
    "1",
    "--iters",
    "auto",
  ],
};

export const spec: CommandSpec = {
  name: "sweep",
  summary: "Pruning sweep: accuracy per ratio and score on a model, speed and memory per ratio and length.",
  usage: "perfmamba sweep --out DIR [--model DIR --calib FILE --tokenizer FILE --eval-text FILE] " +
    "[--speed --arch mamba2 --size 130m --seqlens 512,2048] [--ratios 0.1,0.3,0.5,0.7,0.9] [--preset paper]",
  flags: {
    out: { type: "string", help: "Report folder (must not exist)" },
    preset: {
      type: "string",
      help: `Flags of a published study; explicit flags override them. paper: ${PRESETS.paper.join(" ")}`,
    },
    ratios: { type: "string", help: "Pruning ratios in [0, 1)", default: "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9" },
    scores: { type: "string", help: "Scores to compare", default: "delta_b,energy,ghost,random" },
    scope: { type: "string", help: "layer or global selection", default: "layer" },
    bridge: {
      type: "boolean",
      help: "Prune with the least-squares bridge (folded into x_proj for Mamba-1; a map after the conv for Mamba-2)",
    },
    model: { type: "string", help: "Checkpoint folder, .gguf file or Hugging Face model id for the accuracy sweep" },
    ...MODEL_FLAGS,
    ...CALIB_FLAGS,
    ...EVAL_FLAGS,
    speed: { type: "boolean", help: "Measure speed and memory of the pruned shapes (random weights)" },
    arch: { type: "string", help: "Speed: mamba1, mamba2 or both (default: the model's, else both)" },
    size: { type: "string", help: "Speed: published shape", default: "130m" },
    dims: { type: "string", help: "Speed: explicit shape instead of --size (see profile --help)" },
    seqlens: { type: "string", help: "Speed: sequence lengths", default: "512,2048" },
    mode: { type: "string", help: "Speed: prefill, decode or both", default: "prefill" },
    variants: {
      type: "string",
      help: "Speed: pruned variants, remove (states removed) and/or mask (same sizes, states zeroed)",
      default: "remove",
    },
    warmup: { type: "string", help: "Speed: warm-up passes, or auto (adaptive)", default: "2" },
    iters: {
      type: "string",
      help: "Speed: measured passes per round, or auto (adaptive: --precision, --max-ms)",
      default: "5",
    },
    precision: { type: "string", help: "Speed, --iters auto: stop at this relative half-width of the 95% interval" },
    "max-ms": { type: "string", help: "Speed, --iters auto: time budget of one point per round (ms)" },
    rounds: {
      type: "string",
      help: "Speed: interleaved rounds per length (each measures every configuration once more)",
      default: "1",
    },
    pairing: {
      type: "string",
      help: "Speed: rounds (each configuration on its own) or paired (dense and pruned loaded together, passes " +
        "alternating, speedup = median of the pairs' ratios with its 95% interval: for machines that drift)",
      default: "rounds",
    },
    seed: { type: "string", help: "Seed of the random control and weights", default: "0" },
    quiet: { type: "boolean", help: "No progress bar" },
    ...BACKEND_FLAGS,
    ...WEIGHTS_FLAGS,
  },
};

/** The flags with the preset's (if --preset is given) under the command line's own. */
export function flagsWithPreset(argv: string[]): Flags | null {
  const first = parseCommand(spec, argv);
  if (!first || first.preset === undefined) return first;
  const preset = choiceFlag(first, "preset", Object.keys(PRESETS) as (keyof typeof PRESETS)[]);
  return parseCommand(spec, [...PRESETS[preset], ...argv]);
}

/** --warmup / --iters: a whole number ≥ min, or "auto" (adaptive). */
function countOrAuto(flags: Flags, name: string, min: number): number | "adaptive" {
  return flags[name] === "auto" ? "adaptive" : numberFlag(flags, name, { integer: true, min })!;
}

/** The speed part's flags, checked before anything is written. */
function speedPlanOf(flags: Flags) {
  const seqLens = intListFlag(flags, "seqlens")!;
  const archFlag = typeof flags.arch === "string"
    ? choiceFlag(flags, "arch", ["mamba1", "mamba2", "both"] as const)
    : "both";
  const arches = archFlag === "both" ? (["mamba1", "mamba2"] as const) : [archFlag];
  const mode = choiceFlag(flags, "mode", ["prefill", "decode", "both"] as const);
  const variants = (flags.variants as string).split(",").map((v) => v.trim());
  if (variants.length === 0 || variants.some((v) => v !== "remove" && v !== "mask")) {
    throw new UsageError(`--variants must be remove and/or mask (comma-separated), got "${flags.variants}"`);
  }
  const warmup = countOrAuto(flags, "warmup", 0), iters = countOrAuto(flags, "iters", 1);
  const precision = numberFlag(flags, "precision", { min: 0.001, max: 0.5 });
  const maxMs = numberFlag(flags, "max-ms", { min: 1 });
  const rounds = numberFlag(flags, "rounds", { integer: true, min: 1 })!;
  const pairing = choiceFlag(flags, "pairing", ["rounds", "paired"] as const);
  if (pairing === "paired" && rounds !== 1) {
    throw new UsageError(`--pairing paired measures each configuration beside the dense one: --rounds must be 1`);
  }
  return {
    pairing,
    seqLens,
    arches,
    mode,
    variants: variants as ("remove" | "mask")[],
    warmup,
    iters,
    precision,
    maxMs,
    rounds,
  };
}

export async function run(argv: string[]): Promise<void> {
  const flags = flagsWithPreset(argv);
  if (!flags) return;
  if (typeof flags.out !== "string") throw new UsageError("sweep: --out is required (see --help)");
  const out = flags.out;
  const ratios = (flags.ratios as string).split(",").map((s) => Number(s.trim()));
  if (ratios.some((r) => !(r >= 0 && r < 1))) {
    throw new UsageError(`--ratios must all be in [0, 1), got ${flags.ratios}`);
  }
  const scores = (flags.scores as string).split(",").map((s) => s.trim()) as SelectionScore[];
  for (const s of scores) {
    if (!SELECTION_SCORES.includes(s)) throw new UsageError(`--scores: "${s}" is not one of ${SELECTION_SCORES}`);
  }
  const scope = choiceFlag(flags, "scope", ["layer", "global"] as const);
  const seed = numberFlag(flags, "seed", { integer: true, min: 0 })!;
  const modelDir = typeof flags.model === "string" ? flags.model : null;
  if (!modelDir && !flags.speed) throw new UsageError("sweep: give --model (accuracy) and/or --speed");
  const speedPlan = flags.speed ? speedPlanOf(flags) : null;
  await prepareOutput(out);
  const bar = progressBar(!flags.quiet);
  let activityUsed: StateActivity | null = null;
  const report: SweepReport = {
    schema: "perfmamba.sweep/1",
    createdAt: "",
    model: modelDir,
    backend: "",
    ratios,
    scores,
    scope,
    dense: null,
    accuracy: [],
    speed: [],
    notes: [],
  };

  if (modelDir) {
    const resolved = await resolveModel(modelDir, flags);
    const weights = toHostWeights(await openCheckpoint(resolved, flags), hostWeightsOptions(flags));
    const setup = await evalSetupFromFlags(flags, weights.config.vocabSize, resolved);
    const activity = typeof flags.activity === "string"
      ? await readActivity(flags.activity)
      : await calibrateFromFlags(flags, weights, spec.name, resolved);
    activityUsed = activity;
    const backend = await backendFromFlags(flags);
    report.backend = backend.description;
    try {
      const measure = async (label: string, w: typeof weights): Promise<Omit<AccuracyPoint, "score" | "ratio">> => {
        const model = MambaModel.load(weightsForFlags(w, flags), backend); // prune, then quantize (--weights q8|q4)
        try {
          return await accuracyOf(model, setup, (d, t) => bar.update(d, t, label));
        } finally {
          model.dispose();
        }
      };
      report.dense = { score: "dense", ratio: 0, ...(await measure("dense", weights)) };
      for (const score of scores) {
        for (const ratio of ratios) {
          const keep = selectStates(activity, score, ratio, { scope, seed });
          const bridges = flags.bridge ? fitBridges(activity, keep) : undefined;
          const pruned = pruneWeights(weights, keep, { mode: "remove", bridges });
          const name = `${score}${bridges ? "+bridge" : ""}`;
          report.accuracy.push({ score: name, ratio, ...(await measure(`${name} r=${ratio}`, pruned)) });
        }
      }
    } finally {
      backend.dispose();
    }
    report.notes.push(`Calibration: ${activity.sequences} sequences, ${activity.tokens} tokens. ${setup.description}`);
  }

  if (flags.speed) {
    const { seqLens, arches, mode, variants, warmup, iters, precision, maxMs, rounds, pairing } = speedPlan!;
    const backend = await backendFromFlags(flags, { timestamps: true });
    report.backend = backend.description;
    try {
      for (const arch of arches) {
        const config = typeof flags.dims === "string"
          ? makeConfig(arch, parseDims(flags.dims))
          : presetConfig(arch, flags.size as string);
        const points = await pruningSpeed(backend, config, ratios, {
          seqLens,
          modes: mode === "both" ? ["prefill", "decode"] : [mode],
          variants,
          warmup,
          iters,
          precision,
          maxMs,
          rounds,
          pairing,
          seed,
          onProgress: (p) => bar.update(p.done, p.total, `${arch} ${p.variant} r=${p.ratio} ${p.label}`),
        });
        report.speed.push({ arch, size: typeof flags.dims === "string" ? flags.dims : flags.size as string, points });
      }
    } finally {
      backend.dispose();
    }
  }
  bar.done();
  report.createdAt = new Date().toISOString();
  const paper = paperTable2Comparison(report);
  if (paper.length > 0) report.paperTable2 = paper;
  const md = sweepMarkdown(report);
  const files: Record<string, string> = {
    "sweep.json": JSON.stringify(report, null, 1) + "\n",
    "sweep.md": md + "\n",
    "sweep.html": await sweepHtml(report),
  };
  if (activityUsed) {
    files["state_activity.json"] = JSON.stringify(activityToJson(activityUsed)) + "\n";
    for (const s of ["delta_b", "energy"] as const) {
      files[`state_activity_${s}.svg`] = await activitySvg(activityUsed, s);
    }
  }
  await writeFolder(out, files);
  console.log(md);
  console.error(`report: ${out}/sweep.html`);
}
