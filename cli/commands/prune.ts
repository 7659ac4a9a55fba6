/**
 * `prune`: Δ-guided structured state pruning of a checkpoint. Calibrate on text (or reuse a saved activity file),
 * rank each layer's SSM states by a score, keep k = ⌊N·(1 − r)⌋ per layer (or a global layer-adaptive budget), remove
 * the rest (or mask them), optionally fit the least-squares bridge, and write a new checkpoint folder — never over the
 * input, via a temporary folder renamed at the end.
 */
import { loadCheckpoint, toHostWeights } from "../../runtime/checkpoint.ts";
import { checkpointFiles } from "../../runtime/checkpoint_write.ts";
import { MambaModel } from "../../runtime/model.ts";
import { type ActivityScore, calibrate, type StateActivity } from "../../runtime/prune/calibrate.ts";
import { pruneWeights } from "../../runtime/prune/apply.ts";
import { fitBridges } from "../../runtime/prune/bridge.ts";
import { SELECTION_SCORES, type SelectionScore, selectStates } from "../../runtime/prune/select.ts";
import type { MambaWeights } from "../../runtime/weights.ts";
import {
  choiceFlag,
  type CommandSpec,
  type Flags,
  numberFlag,
  parseCommand,
  requireFlag,
  UsageError,
} from "../args.ts";
import { calibrationSequences } from "../calibration.ts";
import { dirSource } from "../fs_source.ts";
import { BACKEND_FLAGS, backendFromFlags } from "../load.ts";
import { writeFileAtomic } from "../output.ts";
import { progressBar } from "../progress.ts";
import { activitySvg } from "../report/activity.ts";
import { loadTokenizer } from "../tokenizer.ts";

export const spec: CommandSpec = {
  name: "prune",
  summary: "Δ-guided structured state pruning: calibrate, select states, write a smaller checkpoint.",
  usage: "perfmamba prune --model DIR --out DIR --ratio 0.5 --calib FILE --tokenizer FILE [--score energy] " +
    "[--scope layer|global] [--mode remove|mask] [--bridge]",
  flags: {
    model: { type: "string", help: "Checkpoint folder to prune (read only)" },
    out: { type: "string", help: "New checkpoint folder (must not exist)" },
    ratio: { type: "string", help: "Fraction r of each layer's states to remove, in [0, 1): keeps ⌊N·(1 − r)⌋" },
    score: { type: "string", help: `State ranking: ${SELECTION_SCORES.join(", ")}`, default: "energy" },
    scope: { type: "string", help: "layer (same r in every layer) or global (layer-adaptive)", default: "layer" },
    mode: { type: "string", help: "remove (smaller tensors) or mask (zeroed, same sizes)", default: "remove" },
    bridge: {
      type: "boolean",
      help: "Fit the least-squares bridge h ≈ W·h′ (Mamba-1: folded into x_proj; Mamba-2: a map after the conv)",
    },
    calib: { type: "string", help: "Calibration text: comma-separated .txt files or .jsonl with a text field" },
    tokenizer: { type: "string", help: "tokenizer.json for the calibration text" },
    "calib-seqs": { type: "string", help: "Calibration sequences", default: "16" },
    "calib-len": { type: "string", help: "Tokens per calibration sequence", default: "512" },
    activity: { type: "string", help: "Reuse a state_activity.json from an earlier prune instead of calibrating" },
    seed: { type: "string", help: "Seed of the random control", default: "0" },
    quiet: { type: "boolean", help: "No progress bar" },
    ...BACKEND_FLAGS,
  },
};

/** A StateActivity as JSON (Gram matrices as plain arrays). */
export function activityToJson(a: StateActivity): unknown {
  return { ...a, gram: a.gram.map((g) => ({ samples: g.samples, matrix: Array.from(g.matrix) })) };
}

/** Read a StateActivity written by {@link activityToJson}; errors name the file. */
export async function readActivity(path: string): Promise<StateActivity> {
  let json: StateActivity & { gram: { samples: number; matrix: number[] }[] };
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new UsageError(`--activity ${path}: cannot read (${(e as Error).message})`);
  }
  if (!json || !Array.isArray(json.stateSizes) || !json.scores || !Array.isArray(json.gram)) {
    throw new UsageError(`--activity ${path}: not a state_activity.json written by perfmamba prune`);
  }
  return { ...json, gram: json.gram.map((g) => ({ samples: g.samples, matrix: Float64Array.from(g.matrix) })) };
}

/** Calibrate `weights` on the --calib text with the backend flags (progress on stderr). */
export async function calibrateFromFlags(flags: Flags, weights: MambaWeights): Promise<StateActivity> {
  const files = typeof flags.calib === "string" ? flags.calib.split(",").filter((s) => s !== "") : [];
  if (files.length === 0) throw new UsageError("--calib is required to calibrate (or pass --activity FILE)");
  const tokenizer = await loadTokenizer(requireFlag(spec, flags, "tokenizer"));
  const count = numberFlag(flags, "calib-seqs", { integer: true, min: 1, max: 100000 })!;
  const length = numberFlag(flags, "calib-len", { integer: true, min: 2, max: 65536 })!;
  const seqs = await calibrationSequences(files, tokenizer, count, length, weights.config.vocabSize);
  const backend = await backendFromFlags(flags);
  const model = MambaModel.load(weights, backend);
  const bar = progressBar(!flags.quiet);
  try {
    return await calibrate(model, weights, seqs, { onProgress: (d, t) => bar.update(d, t, "calibrating") });
  } finally {
    bar.done();
    model.dispose();
    backend.dispose();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Write the files of a folder into a temporary sibling, then rename it to `dir` (refused when `dir` exists). */
export async function writeFolder(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  if (await exists(dir)) throw new UsageError(`--out ${dir} already exists; choose a new folder (nothing was written)`);
  const tmp = `${dir.replace(/\/+$/, "")}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  try {
    for (const [name, data] of Object.entries(files)) await writeFileAtomic(`${tmp}/${name}`, data);
    await Deno.rename(tmp, dir);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}

export async function run(argv: string[]): Promise<void> {
  const flags = parseCommand(spec, argv);
  if (!flags) return;
  const modelDir = requireFlag(spec, flags, "model");
  const out = requireFlag(spec, flags, "out");
  const ratio = numberFlag(flags, "ratio", { min: 0 });
  if (ratio === undefined) throw new UsageError("prune: --ratio is required (see --help)");
  if (!(ratio < 1)) throw new UsageError(`--ratio must be in [0, 1), got ${ratio}`);
  const score = choiceFlag(flags, "score", SELECTION_SCORES) as SelectionScore;
  const scope = choiceFlag(flags, "scope", ["layer", "global"] as const);
  const mode = choiceFlag(flags, "mode", ["remove", "mask"] as const);
  const seed = numberFlag(flags, "seed", { integer: true, min: 0 })!;
  const norm = (p: string) => p.replace(/\/+$/, "");
  if (norm(out) === norm(modelDir)) {
    throw new UsageError("--out must differ from --model (the input is never overwritten)");
  }
  if (await exists(out)) throw new UsageError(`--out ${out} already exists; choose a new folder (nothing was written)`);
  if (flags.bridge && mode === "mask") throw new UsageError("--bridge needs --mode remove");

  const weights = toHostWeights(await loadCheckpoint(dirSource(modelDir)));
  const needsActivity = flags.bridge || (score !== "random" && score !== "index") || typeof flags.activity === "string";
  const activity: StateActivity | null = typeof flags.activity === "string"
    ? await readActivity(flags.activity)
    : needsActivity
    ? await calibrateFromFlags(flags, weights)
    : null;
  const sizes = weights.layers.map((_, l) => weights.config.layerStateSizes?.[l] ?? weights.config.dState);
  if (activity && activity.stateSizes.join() !== sizes.join()) {
    throw new UsageError(
      `the activity file covers state sizes [${activity.stateSizes}] but ${modelDir} has [${sizes}] (another model?)`,
    );
  }
  const basis: StateActivity = activity ?? {
    arch: weights.config.arch,
    stateSizes: sizes,
    sequences: 0,
    tokens: 0,
    scores: { delta_b: null, delta_a: null, energy: null, ghost: null },
    gram: [],
  };
  let keep: number[][];
  try {
    keep = selectStates(basis, score, ratio, { scope, seed });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const bridges = flags.bridge ? fitBridges(activity!, keep) : undefined;
  const pruned = pruneWeights(weights, keep, { mode, bridges });
  const files = checkpointFiles(pruned);
  const count = (w: MambaWeights) =>
    [w.embedding, w.lmHead, w.normF, ...w.layers.flatMap((l) => Object.values(l))].reduce(
      (a, t) => a + (t && typeof t === "object" && "data" in t ? t.data.length : 0),
      0,
    );
  const record = {
    tool: "perfmamba prune",
    source: modelDir,
    ratio,
    score,
    scope,
    mode,
    bridge: !!flags.bridge,
    seed,
    calibration: activity ? { sequences: activity.sequences, tokens: activity.tokens } : null,
    stateSizes: { before: sizes, after: keep.map((k) => k.length) },
    parameters: { before: count(weights), after: count(pruned) },
    keep,
  };
  const extra: Record<string, string> = { "pruning.json": JSON.stringify(record, null, 1) + "\n" };
  if (activity) {
    extra["state_activity.json"] = JSON.stringify(activityToJson(activity)) + "\n";
    const shown: ActivityScore = score === "delta_a" || score === "energy" || score === "ghost" ? score : "delta_b";
    extra["state_activity.svg"] = await activitySvg(activity, shown);
  }
  await writeFolder(out, { ...files, ...extra });
  console.log(
    `${out}: kept ${record.stateSizes.after.reduce((a, b) => a + b, 0)} of ${sizes.reduce((a, b) => a + b, 0)} ` +
      `states (per layer: ${record.stateSizes.after.join(", ")}); parameters ${record.parameters.before} → ` +
      `${record.parameters.after}`,
  );
}
