/**
 * The accuracy measurement of `sweep`: perplexity on a text (the first windows of it) and, optionally, zero-shot
 * tasks — read and tokenized once, then run for the dense model and every pruned one.
 */
import {
  type EvalDoc,
  evaluateTask,
  type MambaModel,
  parseTask,
  perplexity,
  TASK_NAMES,
  type TaskName,
  TASKS,
} from "../../mod.ts";
import { type Flags, type FlagSpec, numberFlag, UsageError } from "../args.ts";
import { commandTokenizer, type TokenizerModel } from "../tokenizer.ts";
import { readText } from "./eval.ts";

/** Flags of the accuracy part of `sweep`. */
export const EVAL_FLAGS: Record<string, FlagSpec> = {
  "eval-text": { type: "string", help: "Perplexity text (e.g. wikitext-2-test.txt; must not overlap --calib)" },
  "eval-window": { type: "string", help: "Tokens per perplexity window (each from a zero state)", default: "512" },
  "eval-windows": { type: "string", help: "Windows scored (the first ones; 0 = all)", default: "64" },
  tasks: { type: "string", help: `Zero-shot tasks as name=FILE,… (${TASK_NAMES.join(", ")})` },
  "task-limit": { type: "string", help: "Items per task", default: "200" },
};

/** What every model of the sweep is measured on. */
export interface EvalSetup {
  ids: number[];
  windowLength: number;
  maxWindows: number | undefined;
  tasks: { name: TaskName; docs: EvalDoc[] }[];
  encode: (text: string) => number[];
  limit: number;
  description: string;
}

/** Read and tokenize the evaluation data named by the flags. */
export async function evalSetupFromFlags(
  flags: Flags,
  vocabSize: number,
  model: TokenizerModel | null = null,
): Promise<EvalSetup> {
  if (typeof flags["eval-text"] !== "string") throw new UsageError("sweep: --eval-text is required with --model");
  const { tokenizer } = await commandTokenizer("sweep", flags, model);
  const encode = (t: string): number[] => tokenizer.encode(t, { add_special_tokens: false }).ids;
  const text = await readText(flags["eval-text"], "--eval-text");
  const ids = encode(text);
  const bad = ids.find((id) => id >= vocabSize);
  if (bad !== undefined) {
    throw new UsageError(`--eval-text: the tokenizer produced id ${bad} but the model's vocabulary has ${vocabSize}`);
  }
  const windowLength = numberFlag(flags, "eval-window", { integer: true, min: 2 })!;
  const windows = numberFlag(flags, "eval-windows", { integer: true, min: 0 })!;
  const tasks: EvalSetup["tasks"] = [];
  if (typeof flags.tasks === "string") {
    for (const item of flags.tasks.split(",")) {
      const [name, path] = item.split("=");
      if (!TASKS[name as TaskName] || !path) {
        throw new UsageError(`--tasks: "${item}" must be name=FILE with name one of ${TASK_NAMES.join(", ")}`);
      }
      tasks.push({ name: name as TaskName, docs: parseTask(name, await readText(path, `--tasks ${name}`), path) });
    }
  }
  const limit = numberFlag(flags, "task-limit", { integer: true, min: 1 })!;
  const scored = windows === 0
    ? Math.floor(ids.length / windowLength)
    : Math.min(windows, ids.length / windowLength | 0);
  return {
    ids,
    windowLength,
    maxWindows: windows === 0 ? undefined : windows,
    tasks,
    encode,
    limit,
    description: `Perplexity: ${scored} windows of ${windowLength} tokens of ${flags["eval-text"]}, each from a ` +
      `zero state${tasks.length ? `; tasks: ${tasks.map((t) => `${t.name} (first ${limit})`).join(", ")}` : ""}.`,
  };
}

/** Perplexity and the tasks' primary metrics for one model. */
export async function accuracyOf(
  model: MambaModel,
  setup: EvalSetup,
  progress: (done: number, total: number) => void,
): Promise<{ ppl: number; tasks: Record<string, number> }> {
  const r = await perplexity(model, setup.ids, {
    windowLength: setup.windowLength,
    maxWindows: setup.maxWindows,
    onProgress: (p) => progress(p.windows, p.totalWindows),
  });
  const tasks: Record<string, number> = {};
  for (const t of setup.tasks) {
    const res = await evaluateTask(model, setup.encode, t.name, t.docs, { limit: setup.limit });
    tasks[t.name] = res.metrics[TASKS[t.name].primary] ?? NaN;
  }
  return { ppl: r.ppl, tasks };
}
