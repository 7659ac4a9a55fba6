/**
 * `prune`: Δ-guided structured state pruning of a checkpoint. Calibrate on text (or reuse a saved activity file),
 * rank each layer's SSM states by a score, keep k = ⌊N·(1 − r)⌋ per layer (or a global layer-adaptive budget), remove
 * the rest (or mask them), optionally fit the least-squares bridge, and write a new checkpoint folder — never over the
 * input, via a temporary folder renamed at the end.
 */
import {
  type ActivityScore,
  checkpointFiles,
  fitBridges,
  type MambaWeights,
  pruneWeights,
  SELECTION_SCORES,
  type SelectionScore,
  selectStates,
  type StateActivity,
  toHostWeights,
} from "../../mod.ts";
import { choiceFlag, type CommandSpec, numberFlag, parseCommand, requireFlag, UsageError } from "../args.ts";
import { activityToJson, CALIB_FLAGS, calibrateFromFlags, readActivity } from "../calibration.ts";
import { BACKEND_FLAGS, hostWeightsOptions, MODEL_FLAGS, openCheckpoint, WEIGHTS_FLAGS } from "../load.ts";
import { prepareOutput, writeFolder } from "../output.ts";
import { activitySvg } from "../report/activity.ts";

export const spec: CommandSpec = {
  name: "prune",
  summary: "Δ-guided structured state pruning: calibrate, select states, write a smaller checkpoint.",
  usage: "perfmamba prune --model DIR --out DIR --ratio 0.5 --calib FILE --tokenizer FILE [--score energy] " +
    "[--scope layer|global] [--mode remove|mask] [--bridge]",
  flags: {
    model: { type: "string", help: "Checkpoint folder or .gguf file to prune (read only)" },
    ...MODEL_FLAGS,
    out: { type: "string", help: "New checkpoint folder (must not exist)" },
    ratio: { type: "string", help: "Fraction r of each layer's states to remove, in [0, 1): keeps ⌊N·(1 − r)⌋" },
    score: { type: "string", help: `State ranking: ${SELECTION_SCORES.join(", ")}`, default: "energy" },
    scope: { type: "string", help: "layer (same r in every layer) or global (layer-adaptive)", default: "layer" },
    mode: { type: "string", help: "remove (smaller tensors) or mask (zeroed, same sizes)", default: "remove" },
    bridge: {
      type: "boolean",
      help: "Fit the least-squares bridge h ≈ W·h′ (Mamba-1: folded into x_proj; Mamba-2: a map after the conv)",
    },
    ...CALIB_FLAGS,
    seed: { type: "string", help: "Seed of the random control", default: "0" },
    quiet: { type: "boolean", help: "No progress bar" },
    ...BACKEND_FLAGS,
    ...WEIGHTS_FLAGS,
  },
};

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
  await prepareOutput(out);
  if (flags.bridge && mode === "mask") throw new UsageError("--bridge needs --mode remove");

  const weights = toHostWeights(await openCheckpoint(modelDir, flags), hostWeightsOptions(flags));
  const needsActivity = flags.bridge || (score !== "random" && score !== "index") || typeof flags.activity === "string";
  const activity: StateActivity | null = typeof flags.activity === "string"
    ? await readActivity(flags.activity)
    : needsActivity
    ? await calibrateFromFlags(flags, weights, spec.name)
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
