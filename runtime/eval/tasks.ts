/**
 * Zero-shot tasks read from text, turned into the (context, continuation) requests lm-eval-harness scores.
 *
 * Data formats (../shared/data/eval, mosaicml/llm-foundry's local eval data, and klosax/hellaswag_text_data):
 * - PIQA, ARC-Easy, ARC-Challenge, OpenBookQA: JSON lines `{query, choices, gold}`;
 * - Winogrande: JSON lines `{context_options, continuation, gold}`;
 * - LAMBADA (OpenAI): JSON lines `{context, continuation}`;
 * - HellaSwag: plain text, 6 lines per task — context, gold index (0–3), 4 endings.
 *
 * How each becomes lm-eval-harness' requests (its `doc_to_text` / `doc_to_choice`, `target_delimiter` " "):
 * - PIQA: lm-eval's context is `"Question: {goal}\nAnswer:"`; llm-foundry's query is `"Question: {goal}\n"`,
 *   so context = query + "Answer:" (a missing final newline is added). Continuation: " " + choice.
 * - ARC: lm-eval's context is `"Question: {question}\nAnswer:"`; the query here is `"Question: {question}"`, so
 *   context = query + "\nAnswer:". Continuation: " " + choice.
 * - OpenBookQA: lm-eval's context is the question stem, which is the query. Continuation: " " + choice.
 * - Winogrande (lm-eval's partial scoring): one context per option (the sentence up to the blank with the
 *   option filled in), the same continuation " " + rest-of-sentence after each. Metric: acc only.
 * - LAMBADA: context = text before the last word, continuation = " " + last word. Metrics: ppl and acc
 *   (greedy decoding reproduces the word).
 * - HellaSwag: lm-eval builds `"{activity_label}: {ctx_a} {ctx_b.capitalize()}"` and cleans it; this text
 *   format (the one llama.cpp's `--hellaswag` reads) already holds the cleaned context, but with `ctx_b`
 *   as in the dataset (not capitalised), which cannot be undone without the split. It is used as given;
 *   continuation: " " + ending. So HellaSwag numbers here may differ slightly from lm-eval's.
 *
 * acc_norm divides each choice's loglikelihood by the length of the choice text without the delimiter (lm-eval:
 * `len(choice)`, Python characters = Unicode code points); acc_bytes by its UTF-8 bytes (lm-eval's `acc_bytes`).
 *
 * @module
 */

/**
 * Tasks this module reads.
 *
 * @example
 * ```ts
 * import { TASK_NAMES, type TaskName } from "@perfmamba/perfmamba";
 *
 * // Validate a command-line argument.
 * function taskArg(arg: string): TaskName {
 *   if (!(TASK_NAMES as readonly string[]).includes(arg)) {
 *     throw new Error(`unknown task ${arg}; one of ${TASK_NAMES.join(", ")}`);
 *   }
 *   return arg as TaskName;
 * }
 * console.log(taskArg("hellaswag")); // hellaswag
 * console.log(TASK_NAMES.length); // 7
 * ```
 */
export const TASK_NAMES = [
  "piqa",
  "arc_easy",
  "arc_challenge",
  "openbookqa",
  "winogrande",
  "lambada",
  "hellaswag",
] as const;

/**
 * A task name.
 *
 * @example
 * ```ts
 * import { TASKS, type TaskName } from "@perfmamba/perfmamba";
 *
 * // The zero-shot suite of the Mamba papers, with the metric each one quotes.
 * const suite: TaskName[] = ["lambada", "hellaswag", "piqa", "arc_easy", "arc_challenge", "winogrande"];
 * for (const name of suite) console.log(TASKS[name].title, TASKS[name].primary);
 * // LAMBADA (OpenAI) acc, HellaSwag acc_norm, PIQA acc, ARC-Easy acc, ARC-Challenge acc_norm, WinoGrande acc
 * ```
 */
export type TaskName = typeof TASK_NAMES[number];

/**
 * Metrics a task reports.
 *
 * @example
 * ```ts
 * import { TASK_NAMES, TASKS } from "@perfmamba/perfmamba";
 * import type { MetricName } from "./tasks.ts";
 *
 * // A results table: the metric the papers quote for each task.
 * const quoted: Record<string, MetricName> = Object.fromEntries(TASK_NAMES.map((t) => [t, TASKS[t].primary]));
 * console.log(quoted.hellaswag, quoted.lambada); // acc_norm acc
 * ```
 */
export type MetricName = "acc" | "acc_norm" | "acc_bytes" | "ppl";

/**
 * A multiple-choice item: one (context, continuation) request per choice.
 *
 * @example
 * ```ts
 * import { evaluateDocs, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 * import type { ChoiceDoc } from "./tasks.ts";
 *
 * // A custom task built in code: which word follows the context?
 * const doc: ChoiceDoc = {
 *   kind: "choice",
 *   line: 1,
 *   contexts: ["The sky is", "The sky is"],
 *   continuations: [" blue", " loud"],
 *   choiceTexts: ["blue", "loud"],
 *   gold: 0,
 * };
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const r = await evaluateDocs(model, (t) => new TextEncoder().encode(t), [doc]);
 * console.log(r.count, r.contextTokens); // 1 10: the shared context ran once
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ChoiceDoc {
  /** Discriminant. */
  kind: "choice";
  /** 1-based line of the item in its source (the first line of a HellaSwag group). */
  line: number;
  /** Per choice: the context the continuation is scored after. */
  contexts: string[];
  /** Per choice: the continuation whose loglikelihood is summed (usually " " + the choice). */
  continuations: string[];
  /** Per choice: the text whose length normalises acc_norm / acc_bytes (the choice without the delimiter). */
  choiceTexts: string[];
  /** Index of the right choice. */
  gold: number;
}

/**
 * A greedy-continuation item (LAMBADA): loglikelihood of the continuation, and whether greedy decoding gives it.
 *
 * @example
 * ```ts
 * import { type GreedyDoc, parseLambada } from "./tasks.ts";
 *
 * const docs: GreedyDoc[] = parseLambada('{"context": "She locked the", "continuation": "door"}');
 * console.log(docs[0]); // { kind: "greedy", line: 1, context: "She locked the", continuation: " door" }
 * ```
 */
export interface GreedyDoc {
  /** Discriminant. */
  kind: "greedy";
  /** 1-based line of the item in its source. */
  line: number;
  /** The text before the target word. */
  context: string;
  /** The target, with its leading delimiter (" " + word). */
  continuation: string;
}

/**
 * One item of a task.
 *
 * @example
 * ```ts
 * import { type EvalDoc, parseTask } from "@perfmamba/perfmamba";
 *
 * const docs: EvalDoc[] = [
 *   ...parseTask("piqa", '{"query": "Question: Dry hands?\\n", "choices": ["Use a towel.", "Use water."], "gold": 0}'),
 *   ...parseTask("lambada", '{"context": "He opened the", "continuation": "door"}'),
 * ];
 * for (const doc of docs) {
 *   if (doc.kind === "choice") {
 *     // One (context, continuation) request per choice; the gold one should score highest.
 *     console.log(JSON.stringify(doc.contexts[0]), doc.continuations, "gold", doc.gold);
 *     // "Question: Dry hands?\nAnswer:" [ " Use a towel.", " Use water." ] gold 0
 *   } else {
 *     // Greedy: the continuation should be what greedy decoding produces.
 *     console.log(JSON.stringify(doc.context), JSON.stringify(doc.continuation)); // "He opened the" " door"
 *   }
 * }
 * ```
 */
export type EvalDoc = ChoiceDoc | GreedyDoc;

/**
 * What a task is and how to read it.
 *
 * @example
 * ```ts
 * import { TASKS } from "@perfmamba/perfmamba";
 * import type { TaskSpec } from "./tasks.ts";
 *
 * const spec: TaskSpec = TASKS.winogrande;
 * console.log(spec.title, spec.metrics, spec.primary); // WinoGrande [ "acc" ] acc
 * const docs = spec.parse('{"context_options": ["A or", "B or"], "continuation": "C.", "gold": 1}', "inline.jsonl");
 * console.log(docs[0].kind, docs[0].line); // choice 1
 * ```
 */
export interface TaskSpec {
  /** Its name on the command line. */
  name: TaskName;
  /** Human-readable name. */
  title: string;
  /** Metrics it reports, in order. */
  metrics: readonly MetricName[];
  /** The metric published results quote (the Mamba papers' convention). */
  primary: MetricName;
  /** Parse the task's text; `source` names it in errors. */
  parse(text: string, source?: string): EvalDoc[];
}

/**
 * A malformed task file, thrown by {@link parseTask} and the tasks' `parse`: the message names the source and the
 * line. Tell bad input apart from other failures with `instanceof`.
 *
 * @example
 * ```ts
 * import { parseTask, TaskFormatError } from "@perfmamba/perfmamba";
 *
 * try {
 *   parseTask("piqa", "{not json", "piqa.jsonl");
 *   throw new Error("parsed");
 * } catch (e) {
 *   if (!(e instanceof TaskFormatError)) throw e;
 *   console.log(e.message); // piqa.jsonl: line 1: not valid JSON (…)
 * }
 * ```
 */
export class TaskFormatError extends Error {
  /** "TaskFormatError", as printed before the message. */
  override name = "TaskFormatError";
}

type Row = Record<string, unknown>;

/** Parse JSON lines; blank lines are skipped; errors name the source and the 1-based line. */
function jsonLines(text: string, source: string): { row: Row; line: number }[] {
  const out: { row: Row; line: number }[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const s = raw.trim();
    if (s === "") return;
    let v: unknown;
    try {
      v = JSON.parse(s);
    } catch (e) {
      throw new TaskFormatError(`${source}: line ${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      throw new TaskFormatError(`${source}: line ${i + 1}: expected a JSON object, got ${JSON.stringify(v)}`);
    }
    out.push({ row: v as Row, line: i + 1 });
  });
  if (out.length === 0) throw new TaskFormatError(`${source}: no items (the file is empty)`);
  return out;
}

function field<T>(row: Row, key: string, check: (v: unknown) => v is T, want: string, where: string): T {
  const v = row[key];
  if (!check(v)) {
    throw new TaskFormatError(
      `${where}: field "${key}" must be ${want}, got ${v === undefined ? "nothing" : JSON.stringify(v)}`,
    );
  }
  return v;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isStringList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.length >= 2 && v.every((s) => typeof s === "string");
const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

function goldOf(row: Row, n: number, where: string): number {
  const gold = field(row, "gold", isIndex, "a whole number ≥ 0", where);
  if (gold >= n) throw new TaskFormatError(`${where}: gold ${gold} is not an index of the ${n} choices`);
  return gold;
}

/** Read `{query, choices, gold}` lines; `context` builds lm-eval's context from the query. */
function parseQueryChoices(text: string, source: string, context: (query: string) => string): ChoiceDoc[] {
  return jsonLines(text, source).map(({ row, line }) => {
    const where = `${source}: line ${line}`;
    const query = field(row, "query", isString, "a string", where);
    const choices = field(row, "choices", isStringList, "a list of at least 2 strings", where);
    const gold = goldOf(row, choices.length, where);
    const ctx = context(query);
    return {
      kind: "choice",
      line,
      contexts: choices.map(() => ctx),
      continuations: choices.map((c) => " " + c),
      choiceTexts: choices,
      gold,
    };
  });
}

/** lm-eval's `"Question: ...\nAnswer:"` from a query that holds `"Question: ..."` with or without the newline. */
const questionAnswer = (query: string): string => (query.endsWith("\n") ? query : query + "\n") + "Answer:";

/**
 * PIQA / ARC-Easy / ARC-Challenge / OpenBookQA items from `{query, choices, gold}` JSON lines.
 *
 * @example
 * ```ts
 * import { parseQueryTask } from "./tasks.ts";
 * const [doc] = parseQueryTask("arc_easy", '{"query": "Question: 2+2?", "choices": ["3", "4"], "gold": 1}');
 * console.log(JSON.stringify(doc.contexts[0]), JSON.stringify(doc.continuations)); // "Question: 2+2?\nAnswer:" [" 3"," 4"]
 * ```
 */
export function parseQueryTask(
  task: "piqa" | "arc_easy" | "arc_challenge" | "openbookqa",
  text: string,
  source: string = task,
): ChoiceDoc[] {
  return parseQueryChoices(text, source, task === "openbookqa" ? (q) => q : questionAnswer);
}

/**
 * Winogrande items from `{context_options, continuation, gold}` JSON lines (partial scoring: the continuation
 * after each context option).
 *
 * @example
 * ```ts
 * import { parseWinogrande } from "./tasks.ts";
 * const [doc] = parseWinogrande('{"context_options": ["A saw B so A", "A saw B so B"], "continuation": "ran.", "gold": 1}');
 * console.log(doc.contexts.length, JSON.stringify(doc.continuations[0])); // 2 " ran."
 * ```
 */
export function parseWinogrande(text: string, source = "winogrande"): ChoiceDoc[] {
  return jsonLines(text, source).map(({ row, line }) => {
    const where = `${source}: line ${line}`;
    const options = field(row, "context_options", isStringList, "a list of at least 2 strings", where);
    const continuation = field(row, "continuation", isString, "a string", where);
    const gold = goldOf(row, options.length, where);
    return {
      kind: "choice",
      line,
      contexts: options,
      continuations: options.map(() => " " + continuation),
      choiceTexts: options.map(() => continuation),
      gold,
    };
  });
}

/**
 * LAMBADA items from `{context, continuation}` JSON lines (the continuation is the last word, given without its
 * leading space).
 *
 * @example
 * ```ts
 * import { parseLambada } from "./tasks.ts";
 * const [doc] = parseLambada('{"context": "He opened the", "continuation": "door"}');
 * console.log(JSON.stringify(doc.continuation)); // " door"
 * ```
 */
export function parseLambada(text: string, source = "lambada"): GreedyDoc[] {
  return jsonLines(text, source).map(({ row, line }) => {
    const where = `${source}: line ${line}`;
    const context = field(row, "context", isString, "a string", where);
    const continuation = field(row, "continuation", isString, "a string", where);
    if (continuation.trim() === "") throw new TaskFormatError(`${where}: field "continuation" is empty`);
    return { kind: "greedy", line, context, continuation: " " + continuation };
  });
}

/**
 * HellaSwag items from the 6-lines-per-item text format: context, gold index (0–3), then 4 endings. A final
 * newline is allowed; blank endings are not (an ending line of whitespace is taken as a misaligned file).
 *
 * @example
 * ```ts
 * import { parseHellaswag } from "./tasks.ts";
 * const docs = parseHellaswag("A man sits. he\n1\nflies.\nstands up.\nsings.\nsleeps.\n");
 * console.log(docs[0].gold, JSON.stringify(docs[0].continuations[1])); // 1 " stands up."
 * ```
 */
export function parseHellaswag(text: string, source = "hellaswag"): ChoiceDoc[] {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) throw new TaskFormatError(`${source}: no items (the file is empty)`);
  if (lines.length % 6 !== 0) {
    const last = lines.length - (lines.length % 6) + 1;
    throw new TaskFormatError(
      `${source}: ${lines.length} lines is not a whole number of 6-line items (context, gold index, 4 endings); ` +
        `the incomplete item starts at line ${last}`,
    );
  }
  const docs: ChoiceDoc[] = [];
  for (let i = 0; i < lines.length; i += 6) {
    const line = i + 1;
    const context = lines[i];
    if (context.trim() === "") throw new TaskFormatError(`${source}: line ${line}: empty context`);
    const goldText = lines[i + 1].trim();
    if (!/^[0-3]$/.test(goldText)) {
      throw new TaskFormatError(
        `${source}: line ${line + 1}: gold index must be 0, 1, 2 or 3, got ${JSON.stringify(lines[i + 1])}`,
      );
    }
    const endings = lines.slice(i + 2, i + 6);
    endings.forEach((e, k) => {
      if (e.trim() === "") throw new TaskFormatError(`${source}: line ${line + 2 + k}: empty ending`);
    });
    docs.push({
      kind: "choice",
      line,
      contexts: endings.map(() => context),
      continuations: endings.map((e) => " " + e),
      choiceTexts: endings,
      gold: Number(goldText),
    });
  }
  return docs;
}

/**
 * Every task: its metrics, the one published results quote, and its parser.
 *
 * @example
 * ```ts
 * import { TASKS } from "@perfmamba/perfmamba";
 *
 * const hellaswag = TASKS.hellaswag;
 * console.log(hellaswag.title, hellaswag.primary); // HellaSwag acc_norm
 * console.log(hellaswag.metrics); // [ "acc", "acc_norm", "acc_bytes" ]
 * // Its parser reads the 6-lines-per-item text format (context, gold index, 4 endings).
 * const docs = hellaswag.parse("A man sits. he\n1\nflies.\nstands up.\nsings.\nsleeps.\n", "inline");
 * console.log(docs.length, docs[0].kind); // 1 choice
 * ```
 */
export const TASKS: Readonly<Record<TaskName, TaskSpec>> = {
  piqa: {
    name: "piqa",
    title: "PIQA",
    metrics: ["acc", "acc_norm", "acc_bytes"],
    primary: "acc",
    parse: (t, s) => parseQueryTask("piqa", t, s),
  },
  arc_easy: {
    name: "arc_easy",
    title: "ARC-Easy",
    metrics: ["acc", "acc_norm", "acc_bytes"],
    primary: "acc",
    parse: (t, s) => parseQueryTask("arc_easy", t, s),
  },
  arc_challenge: {
    name: "arc_challenge",
    title: "ARC-Challenge",
    metrics: ["acc", "acc_norm", "acc_bytes"],
    primary: "acc_norm",
    parse: (t, s) => parseQueryTask("arc_challenge", t, s),
  },
  openbookqa: {
    name: "openbookqa",
    title: "OpenBookQA",
    metrics: ["acc", "acc_norm", "acc_bytes"],
    primary: "acc_norm",
    parse: (t, s) => parseQueryTask("openbookqa", t, s),
  },
  winogrande: {
    name: "winogrande",
    title: "WinoGrande",
    metrics: ["acc"],
    primary: "acc",
    parse: (t, s) => parseWinogrande(t, s),
  },
  lambada: {
    name: "lambada",
    title: "LAMBADA (OpenAI)",
    metrics: ["ppl", "acc"],
    primary: "acc",
    parse: (t, s) => parseLambada(t, s),
  },
  hellaswag: {
    name: "hellaswag",
    title: "HellaSwag",
    metrics: ["acc", "acc_norm", "acc_bytes"],
    primary: "acc_norm",
    parse: (t, s) => parseHellaswag(t, s),
  },
};

/**
 * Parse a task's text by name; throws {@link TaskFormatError} naming `source` and the line on malformed input,
 * RangeError on an unknown task.
 *
 * @example
 * ```ts
 * import { parseTask } from "@perfmamba/perfmamba";
 *
 * const docs = parseTask("openbookqa", '{"query": "Predators eat", "choices": ["grass", "bunnies"], "gold": 1}');
 * console.log(docs.length, docs[0].kind); // 1 choice
 * ```
 */
export function parseTask(task: TaskName | string, text: string, source: string = task): EvalDoc[] {
  const spec = TASKS[task as TaskName];
  if (!spec) throw new RangeError(`unknown task "${task}"; supported: ${TASK_NAMES.join(", ")}`);
  return spec.parse(text, source);
}
