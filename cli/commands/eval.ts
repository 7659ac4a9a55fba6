/**
 * `eval`: perplexity of a text file in windows (`--text`), or a zero-shot task (`--task --data`) scored as
 * lm-eval-harness does. Prints a table or JSON; a progress bar on stderr.
 */
import { basename } from "node:path";
import Bunzip from "seek-bzip";
import {
  evaluateTask,
  type MambaModel,
  parseTask,
  perplexity,
  type PerplexityResult,
  TASK_NAMES,
  TaskFormatError,
  type TaskName,
  type TaskResult,
  TASKS,
} from "../../mod.ts";
import {
  choiceFlag,
  type CommandSpec,
  type Flags,
  numberFlag,
  parseCommand,
  requireFlag,
  UsageError,
} from "../args.ts";
import { BACKEND_FLAGS, loadModel, MODEL_FLAGS, MODEL_HELP, resolveModel, WEIGHTS_FLAGS } from "../load.ts";
import { writeFileAtomic } from "../output.ts";
import { progressBar } from "../progress.ts";
import { commandTokenizer, TOKENIZER_HELP } from "../tokenizer.ts";

/** Window length when --window is not given. */
const DEFAULT_WINDOW = 512;

/** Flags and help of `perfmamba eval`. */
export const spec: CommandSpec = {
  name: "eval",
  summary: "Evaluate a model: perplexity of a text file, or a zero-shot task (PIQA, ARC, HellaSwag, ...).",
  usage:
    "perfmamba eval --model DIR|ORG/NAME [--tokenizer FILE] (--text FILE [--window 512] [--stride N] [--tail drop|keep] | " +
    `--task ${
      TASK_NAMES.join("|")
    } --data FILE [--items FILE]) [--limit N] [--batch N] [--format table|json] [--quiet]`,
  flags: {
    model: { type: "string", help: MODEL_HELP },
    ...MODEL_FLAGS,
    tokenizer: { type: "string", help: TOKENIZER_HELP },
    text: { type: "string", help: "Text file whose perplexity to measure (encoded as one string, no BOS)" },
    window: {
      type: "string",
      help: `Perplexity: tokens per window, each scored from a zero state (default ${DEFAULT_WINDOW})`,
    },
    stride: {
      type: "string",
      help: "Perplexity: tokens between window starts (default: the window, non-overlapping); later windows " +
        "score only their last `stride` tokens",
    },
    tail: {
      type: "string",
      help: "Perplexity: an incomplete last window is dropped or kept (drop|keep, default drop)",
    },
    task: { type: "string", help: `Zero-shot task: ${TASK_NAMES.join(", ")}` },
    data: {
      type: "string",
      help: "The task's data: JSON lines ({query, choices, gold} ...), or HellaSwag's 6-line text (.bz2 is read too)",
    },
    limit: { type: "string", help: "Only the first N windows (--text) or items (--task)" },
    items: {
      type: "string",
      help: "Task: also write each item's result (line, gold, predictions, loglikelihoods) to FILE as JSON lines, " +
        "for paired comparisons of two models on the same items",
    },
    batch: {
      type: "string",
      help: "Perplexity: windows per forward pass (default: the backend's preferred batch, 1 on wasm, 8 on webgpu)",
    },
    format: { type: "string", help: "Output: table or json", default: "table" },
    quiet: { type: "boolean", help: "No progress bar" },
    ...BACKEND_FLAGS,
    ...WEIGHTS_FLAGS,
  },
};

/** What the flags ask for, checked before any file is read. */
type Job =
  | { kind: "text"; path: string; window: number; stride: number; tail: "drop" | "keep"; batch?: number }
  | { kind: "task"; task: TaskName; path: string; items?: string };

function jobFromFlags(flags: Flags): Job {
  const text = flags.text, task = flags.task;
  if ((text === undefined) === (task === undefined)) {
    throw new UsageError("eval: give either --text FILE (perplexity) or --task NAME --data FILE (see --help)");
  }
  if (typeof text === "string") {
    if (text === "") throw new UsageError("eval: --text is empty");
    if (flags.data !== undefined) throw new UsageError("eval: --data goes with --task; --text names the text file");
    if (flags.items !== undefined) {
      throw new UsageError("eval: --items goes with --task (per-item results of a zero-shot task)");
    }
    const window = numberFlag(flags, "window", { integer: true, min: 2, max: 1 << 20 }) ?? DEFAULT_WINDOW;
    const stride = numberFlag(flags, "stride", { integer: true, min: 1 }) ?? window;
    if (stride > window) throw new UsageError(`--stride (${stride}) must not exceed --window (${window})`);
    const tail = flags.tail === undefined ? "drop" : choiceFlag(flags, "tail", ["drop", "keep"] as const);
    const batch = numberFlag(flags, "batch", { integer: true, min: 1, max: 1024 });
    return { kind: "text", path: text, window, stride, tail, batch };
  }
  const name = choiceFlag(flags, "task", TASK_NAMES);
  for (const f of ["window", "stride", "tail", "batch"]) {
    if (flags[f] !== undefined) {
      throw new UsageError(
        `eval: --${f} applies to --text (perplexity); a task runs each item's shared context once instead`,
      );
    }
  }
  const items = flags.items;
  if (items === "") throw new UsageError("eval: --items is empty");
  return { kind: "task", task: name, path: requireFlag(spec, flags, "data"), items: items as string | undefined };
}

/** Read a data file as UTF-8 text, decompressing bzip2 (by its "BZh" magic); errors name the file. */
export async function readText(path: string, what: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${what} ${path}: cannot read (${(e as Error).message})`);
  }
  if (bytes.length >= 3 && bytes[0] === 0x42 && bytes[1] === 0x5a && bytes[2] === 0x68) {
    try {
      bytes = new Uint8Array(Bunzip.decode(bytes));
    } catch (e) {
      throw new Error(`${what} ${path}: not a valid bzip2 file (${(e as Error).message ?? e})`);
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${what} ${path}: not UTF-8 text`);
  }
}

/** Fail when the tokenizer produces ids the model has no embedding for, naming both vocabulary sizes. */
function vocabGuard(
  tokPath: string,
  tokVocab: number,
  model: MambaModel,
  dir: string,
): (ids: ArrayLike<number>) => void {
  const V = model.config.vocabSize;
  return (ids) => {
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] >= V) {
        throw new Error(
          `tokenizer ${tokPath} (vocabulary of ${tokVocab} tokens) produced id ${ids[i]}, but the model ${dir} has a ` +
            `vocabulary of ${V}: this tokenizer does not belong to this model`,
        );
      }
    }
  };
}

const fixed = (v: number | undefined, digits: number): string =>
  v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);

function textTable(model: string, backend: string, path: string, r: PerplexityResult, seconds: number): string {
  const rows: [string, string][] = [
    ["model", model],
    ["backend", backend],
    ["text", `${path} (${r.inputTokens} tokens)`],
    ["windows", `${r.windows.length} × ${r.windowLength} tokens, stride ${r.stride}`],
    ["scored", `${r.tokens} tokens`],
    ["nll/token", fixed(r.nllPerToken, 5)],
    ["perplexity", fixed(r.ppl, 3)],
    ["seconds", `${seconds.toFixed(1)} (${(r.windows.length * r.windowLength / seconds).toFixed(0)} tok/s)`],
  ];
  return rows.map(([k, v]) => `${k.padEnd(11)}${v}`).join("\n");
}

function taskTable(model: string, backend: string, task: TaskName, total: number, r: TaskResult, s: number): string {
  const spec = TASKS[task];
  const rows: [string, string][] = [
    ["model", model],
    ["backend", backend],
    ["task", `${spec.title} (${r.count}${r.count < total ? ` of ${total}` : ""} items)`],
  ];
  for (const m of spec.metrics) {
    const v = r.metrics[m];
    const err = r.stderr[m];
    const text = m === "ppl"
      ? fixed(v, 3)
      : `${fixed(v, 4)}${err !== undefined && Number.isFinite(err) ? ` ± ${fixed(err, 4)}` : ""}`;
    rows.push([m + (m === spec.primary ? " *" : ""), text]);
  }
  rows.push(["tokens", `${r.contextTokens} context + ${r.continuationTokens} continuation`]);
  rows.push(["seconds", s.toFixed(1)]);
  return rows.map(([k, v]) => `${k.padEnd(12)}${v}`).join("\n") + "\n(* the metric published results quote)";
}

/** Run `perfmamba eval` with these arguments (after the command name). */
export async function run(argv: string[]): Promise<void> {
  const flags = parseCommand(spec, argv);
  if (!flags) return;
  const dir = requireFlag(spec, flags, "model");
  const job = jobFromFlags(flags);
  const limit = numberFlag(flags, "limit", { integer: true, min: 1 });
  const format = choiceFlag(flags, "format", ["table", "json"] as const);

  // Everything that can fail on the user's files fails before the model is loaded.
  const text = await readText(job.path, job.kind === "text" ? "text" : "data");
  let docs = null;
  if (job.kind === "task") {
    try {
      docs = parseTask(job.task, text, job.path);
    } catch (e) {
      if (e instanceof TaskFormatError) throw new Error(`${job.task}: ${e.message}`);
      throw e;
    }
  } else if (text.length === 0) {
    throw new Error(`text ${job.path}: the file is empty`);
  }
  const resolved = await resolveModel(dir, flags);
  const { tokenizer, from: tokPath } = await commandTokenizer(spec.name, flags, resolved);
  const tokVocab = tokenizer.get_vocab(true).size;
  const encode = (s: string): number[] => tokenizer.encode(s, { add_special_tokens: false }).ids;

  const model = await loadModel(resolved, flags);
  const name = basename(dir.replace(/\/+$/, ""));
  const backend = model.backend;
  const guard = vocabGuard(tokPath, tokVocab, model, dir);
  const bar = progressBar(!flags.quiet);
  try {
    const t0 = performance.now();
    if (job.kind === "text") {
      const ids = encode(text);
      if (ids.length === 0) throw new Error(`text ${job.path}: encodes to no tokens`);
      guard(ids);
      if (job.tail === "drop" && ids.length < job.window) {
        throw new Error(
          `text ${job.path}: ${ids.length} tokens make no complete window of ${job.window}: ` +
            `use a smaller --window or --tail keep`,
        );
      }
      const started = performance.now();
      const r = await perplexity(model, ids, {
        windowLength: job.window,
        stride: job.stride,
        tail: job.tail,
        // One window per pass is fastest on WASM (2 cores: 8 windows of 512 take 5.1 s at 1, 6.8 s at 4, 9.2 s at 8);
        // a GPU wants bigger passes. Each backend says which in its capabilities.
        batch: job.batch ?? backend.capabilities.preferredBatch,
        maxWindows: limit,
        onProgress: (p) => bar.update(p.windows, p.totalWindows, "perplexity windows"),
      });
      const seconds = (performance.now() - started) / 1000;
      bar.done();
      if (format === "json") {
        console.log(JSON.stringify({
          model: dir,
          backend: backend.name,
          backend_description: backend.description,
          text: job.path,
          window: r.windowLength,
          stride: r.stride,
          tail: job.tail,
          metrics: { ppl: r.ppl, nll_per_token: r.nllPerToken, nll: r.nll },
          counts: { input_tokens: r.inputTokens, windows: r.windows.length, scored_tokens: r.tokens },
          window_nll: r.windowNll,
          seconds,
          tokenize_seconds: (started - t0) / 1000,
        }));
      } else {
        console.log(textTable(name, `${backend.name} — ${backend.description}`, job.path, r, seconds));
      }
    } else {
      const checked = (s: string): number[] => {
        const ids = encode(s);
        guard(ids);
        return ids;
      };
      const r = await evaluateTask(model, checked, job.task, docs!, {
        limit,
        emptyContextToken: tokenizer.token_to_id("<|endoftext|>"),
        onProgress: (p) => bar.update(p.done, p.total, job.task),
      });
      const seconds = (performance.now() - t0) / 1000;
      bar.done();
      if (job.items !== undefined) {
        await writeFileAtomic(job.items, r.items.map((it) => JSON.stringify(it) + "\n").join(""));
      }
      if (format === "json") {
        console.log(JSON.stringify({
          model: dir,
          backend: backend.name,
          backend_description: backend.description,
          task: job.task,
          data: job.path,
          primary: TASKS[job.task].primary,
          metrics: r.metrics,
          stderr: r.stderr,
          counts: {
            items: r.count,
            items_in_data: docs!.length,
            context_tokens: r.contextTokens,
            continuation_tokens: r.continuationTokens,
          },
          seconds,
        }));
      } else {
        console.log(taskTable(name, `${backend.name} — ${backend.description}`, job.task, docs!.length, r, seconds));
      }
    }
  } finally {
    bar.done();
    model.dispose();
    backend.dispose();
  }
}
