/**
 * Zero-shot scoring as lm-eval-harness does it: the loglikelihood of a continuation given a context is the sum of
 * the log-probabilities of its tokens; a multiple-choice item is right when the gold choice has the highest
 * loglikelihood (acc), or the highest loglikelihood per character of the choice text (acc_norm) or per UTF-8
 * byte (acc_bytes); a greedy item (LAMBADA) is right when every continuation token is the argmax of its logits.
 *
 * Tokenization follows lm-eval's `HFLM._encode_pair`: trailing whitespace of the context moves to the start of
 * the continuation; the continuation tokens are `encode(context + continuation)` after the first
 * `encode(context).length` tokens (so BPE merges across the boundary are honoured); an empty context is
 * replaced by one `emptyContextToken` (lm-eval uses the end-of-text token).
 *
 * Batching: requests of an item that share a context (PIQA, ARC, OBQA, HellaSwag: all of them) run the context
 * once — a prefill that keeps only the last logits row, which predicts the first continuation token — and then
 * each continuation's remaining tokens from a clone of the context's state (`InferenceState.clone()`). No
 * padding is involved, so every number equals an unbatched forward pass of context + continuation.
 *
 * The tokenizer is a plain function `encode(text) → ids`, so this module runs anywhere.
 *
 * @module
 */

import type { MambaModel } from "../model.ts";
import { scoreToken } from "./logprob.ts";
import type { ChoiceDoc, EvalDoc, MetricName, TaskName } from "./tasks.ts";
import { TASKS } from "./tasks.ts";

/**
 * A tokenizer: text → token ids, without special tokens
 * (e.g. `(t) => tok.encode(t, { add_special_tokens: false }).ids`).
 *
 * @example
 * ```ts
 * import { type Encode, encodeRequest } from "./multiple_choice.ts";
 *
 * // Byte-level: one token per UTF-8 byte (a vocabulary of 256); a real model uses its own tokenizer's encode.
 * const bytes: Encode = (text) => new TextEncoder().encode(text);
 * console.log(encodeRequest(bytes, "Hi", "!").continuation); // [ 33 ]
 * ```
 */
export type Encode = (text: string) => ArrayLike<number>;

/** A (context, continuation) pair in tokens. */
export interface EncodedRequest {
  /** Context tokens (at least one). */
  context: number[];
  /** Continuation tokens (at least one). */
  continuation: number[];
}

/** The loglikelihood of a continuation. */
export interface ContinuationScore {
  /** Σ log p(token | everything before it), natural log. */
  loglikelihood: number;
  /** Every continuation token is the argmax of the logits that predict it. */
  greedy: boolean;
  /** Continuation tokens. */
  tokens: number;
}

/** Trailing whitespace as Python's `str.rstrip()` sees it (`str.isspace`), which differs from JS `trimEnd`. */
// deno-lint-ignore no-control-regex -- \x1c-\x1f (file/group/record/unit separators) are whitespace to Python
const PY_TRAILING_SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/;

/**
 * Tokenize a request as lm-eval's `_encode_pair` does (see the module description).
 *
 * @example
 * ```ts
 * import { encodeRequest } from "./multiple_choice.ts";
 * const bytes = (s: string) => Array.from(new TextEncoder().encode(s));
 * console.log(encodeRequest(bytes, "ab ", "c")); // { context: [ 97, 98 ], continuation: [ 32, 99 ] }
 * ```
 */
export function encodeRequest(
  encode: Encode,
  context: string,
  continuation: string,
  emptyContextToken?: number,
): EncodedRequest {
  const trimmed = context.replace(PY_TRAILING_SPACE, "");
  if (trimmed.length < context.length) {
    continuation = context.slice(trimmed.length) + continuation;
    context = trimmed;
  }
  let ctx: number[], cont: number[];
  if (context === "") {
    if (emptyContextToken === undefined) {
      throw new RangeError("empty context: give emptyContextToken (lm-eval uses the end-of-text token)");
    }
    ctx = [emptyContextToken];
    cont = Array.from(encode(continuation));
  } else {
    ctx = Array.from(encode(context));
    cont = Array.from(encode(context + continuation)).slice(ctx.length);
    if (ctx.length === 0) throw new RangeError(`context ${JSON.stringify(context)} encodes to no tokens`);
  }
  if (cont.length === 0) {
    throw new RangeError(`continuation ${JSON.stringify(continuation)} encodes to no tokens after its context`);
  }
  return { context: ctx, continuation: cont };
}

/**
 * Loglikelihoods of several requests; requests with identical context tokens share one context prefill (its
 * state is cloned per continuation). Results are in the order of `requests`.
 *
 * @example
 * ```ts ignore
 * const [a, b] = await scoreRequests(model, [{ context: [1, 2], continuation: [3] }, { context: [1, 2], continuation: [4, 5] }]);
 * ```
 */
export async function scoreRequests(model: MambaModel, requests: EncodedRequest[]): Promise<ContinuationScore[]> {
  const V = model.config.vocabSize;
  const groups = new Map<string, number[]>();
  requests.forEach((r, i) => {
    const key = r.context.join(",");
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  });
  const out: ContinuationScore[] = new Array(requests.length);
  for (const members of groups.values()) {
    const ctx = requests[members[0]].context;
    const { logits: last, state } = await model.prefill(ctx, { lastOnly: true });
    try {
      for (const [k, i] of members.entries()) {
        const cont = requests[i].continuation;
        const first = scoreToken(last.data, 0, V, cont[0]);
        let ll = first.logprob, greedy = first.greedy;
        if (cont.length > 1) {
          // The last member may advance the shared state itself; the others advance clones.
          const own = k === members.length - 1 ? state : state.clone();
          try {
            const { logits } = await model.prefill(cont.slice(0, -1), { state: own });
            for (let t = 1; t < cont.length; t++) {
              const s = scoreToken(logits.data, (t - 1) * V, V, cont[t]);
              ll += s.logprob;
              greedy &&= s.greedy;
            }
          } finally {
            if (own !== state) own.dispose();
          }
        }
        out[i] = { loglikelihood: ll, greedy, tokens: cont.length };
      }
    } finally {
      state.dispose();
    }
  }
  return out;
}

/**
 * The scores of one multiple-choice item.
 *
 * @example
 * ```ts
 * import {
 *   evaluateDocs,
 *   makeConfig,
 *   MambaModel,
 *   parseTask,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 * import type { ChoiceResult } from "./multiple_choice.ts";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const docs = parseTask("arc_easy", '{"query": "Question: 2+2?", "choices": ["3", "4"], "gold": 1}');
 * const r = await evaluateDocs(model, (t) => new TextEncoder().encode(t), docs);
 * const item = r.items[0] as ChoiceResult; // every item of a multiple-choice task
 * console.log(item.loglikelihoods.length, item.tokens, item.gold); // 2 [ 2, 2 ] 1
 * console.log(item.pred === item.gold ? "right" : "wrong", item.predNorm, item.predBytes);
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface ChoiceResult {
  /** Discriminant. */
  kind: "choice";
  /** Line of the item in its source. */
  line: number;
  /** Index of the right choice. */
  gold: number;
  /** Per choice: the continuation's loglikelihood. */
  loglikelihoods: number[];
  /** Per choice: continuation tokens. */
  tokens: number[];
  /** argmax of loglikelihoods (acc). */
  pred: number;
  /** argmax of loglikelihood / characters of the choice text (acc_norm). */
  predNorm: number;
  /** argmax of loglikelihood / UTF-8 bytes of the choice text (acc_bytes). */
  predBytes: number;
}

/**
 * The score of one greedy item.
 *
 * @example
 * ```ts
 * import {
 *   evaluateDocs,
 *   makeConfig,
 *   MambaModel,
 *   parseTask,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 * import type { GreedyResult } from "./multiple_choice.ts";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const docs = parseTask("lambada", '{"context": "one two three", "continuation": "four"}');
 * const r = await evaluateDocs(model, (t) => new TextEncoder().encode(t), docs);
 * const item = r.items[0] as GreedyResult; // every item of a greedy task
 * console.log(item.kind, item.tokens, item.greedy); // greedy 5 false (random weights do not know "four")
 * console.log(Math.exp(-item.loglikelihood / item.tokens)); // per-token perplexity of the continuation
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface GreedyResult {
  /** Discriminant. */
  kind: "greedy";
  /** Line of the item in its source. */
  line: number;
  /** Σ log p of the continuation's tokens. */
  loglikelihood: number;
  /** Continuation tokens. */
  tokens: number;
  /** Greedy decoding reproduces the continuation. */
  greedy: boolean;
}

/**
 * What {@link evaluateDocs} measured.
 *
 * @example
 * ```ts
 * import {
 *   evaluateTask,
 *   makeConfig,
 *   MambaModel,
 *   parseTask,
 *   selectBackend,
 *   syntheticWeights,
 *   type TaskResult,
 * } from "@perfmamba/perfmamba";
 *
 * // A tiny random model with a byte-level "tokenizer" (vocabulary 256); a real evaluation loads a checkpoint and
 * // encodes with its tokenizer, e.g. `(t) => tok.encode(t, { add_special_tokens: false }).ids`.
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const encode = (text: string) => new TextEncoder().encode(text);
 *
 * // LAMBADA-style items: is the last word the model's greedy continuation?
 * const docs = parseTask("lambada", [
 *   '{"context": "one two three", "continuation": "four"}',
 *   '{"context": "red green", "continuation": "blue"}',
 * ].join("\n"));
 * const r: TaskResult = await evaluateTask(model, encode, "lambada", docs);
 * console.log(r.count, Object.keys(r.metrics)); // 2 [ "ppl", "acc" ]
 * console.log(`acc ${r.metrics.acc} ± ${r.stderr.acc}, ppl ${r.metrics.ppl?.toFixed(0)}`);
 * for (const item of r.items) if (item.kind === "greedy") console.log(item.line, item.loglikelihood, item.greedy);
 * console.log(r.contextTokens, r.continuationTokens); // 22 10 (byte tokens: " four" and " blue" are 5 each)
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface TaskResult {
  /** Items scored. */
  count: number;
  /** acc, acc_norm, acc_bytes (multiple choice) or acc, ppl (greedy), restricted to the task's metrics. */
  metrics: Partial<Record<MetricName, number>>;
  /** Standard error of each accuracy: sample standard deviation / √n, as lm-eval reports it. */
  stderr: Partial<Record<MetricName, number>>;
  /** Per item, in order. */
  items: (ChoiceResult | GreedyResult)[];
  /** Context tokens run through the model (once per distinct context). */
  contextTokens: number;
  /** Continuation tokens scored. */
  continuationTokens: number;
}

/**
 * Options of {@link evaluateDocs} and {@link evaluateTask}.
 *
 * @example
 * ```ts
 * import {
 *   evaluateDocs,
 *   type EvaluateOptions,
 *   makeConfig,
 *   MambaModel,
 *   parseTask,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * // A tiny random model with a byte-level "tokenizer" (vocabulary 256); a real evaluation loads a checkpoint and
 * // encodes with its tokenizer, e.g. `(t) => tok.encode(t, { add_special_tokens: false }).ids`.
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const encode = (text: string) => new TextEncoder().encode(text);
 *
 * const docs = parseTask("arc_easy", [
 *   '{"query": "Question: 2+2?", "choices": ["3", "4"], "gold": 1}',
 *   '{"query": "Question: 1+1?", "choices": ["2", "5"], "gold": 0}',
 *   '{"query": "Question: 3+3?", "choices": ["6", "9"], "gold": 0}',
 * ].join("\n"));
 * const options: EvaluateOptions = {
 *   limit: 2, // the first two items only (a quick smoke test of a long task)
 *   emptyContextToken: 0, // stands in for an empty context (GPT-NeoX's end-of-text is 0)
 *   onProgress: ({ done, total }) => console.log(`${done}/${total}`),
 * };
 * const r = await evaluateDocs(model, encode, docs, options);
 * console.log(r.count); // 2
 * model.dispose();
 * backend.dispose();
 * ```
 */
export interface EvaluateOptions {
  /** Score only the first `limit` items. */
  limit?: number;
  /** Token standing in for an empty context (lm-eval: end-of-text; 0 for GPT-NeoX). */
  emptyContextToken?: number;
  /** Called after each item. */
  onProgress?: (p: { done: number; total: number }) => void;
}

/** Index of the first maximum (numpy.argmax). */
function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** Unicode code points, as Python's len(str) counts them. */
const chars = (s: string): number => Array.from(s).length;
const utf8 = new TextEncoder();

/** Mean and standard error (sample standard deviation / √n) of 0/1 outcomes. */
function meanStderr(xs: boolean[]): [number, number] {
  const n = xs.length;
  const mean = xs.filter(Boolean).length / n;
  if (n < 2) return [mean, NaN];
  const variance = (n * mean * (1 - mean)) / (n - 1);
  return [mean, Math.sqrt(variance / n)];
}

function checkIds(req: EncodedRequest, V: number, where: string): void {
  for (const id of [...req.context, ...req.continuation]) {
    if (!(Number.isInteger(id) && id >= 0 && id < V)) {
      throw new RangeError(`${where}: token id ${id} is outside the model's vocabulary [0, ${V}): wrong tokenizer?`);
    }
  }
}

/**
 * Score task items (all multiple-choice, or all greedy) and aggregate acc / acc_norm / acc_bytes, or acc / ppl
 * (LAMBADA's: exp of minus the mean per-item loglikelihood, as lm-eval's `perplexity` aggregation).
 *
 * @example
 * ```ts
 * import {
 *   evaluateDocs,
 *   makeConfig,
 *   MambaModel,
 *   parseTask,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * // A tiny random model with a byte-level "tokenizer" (vocabulary 256); a real evaluation loads a checkpoint and
 * // encodes with its tokenizer, e.g. `(t) => tok.encode(t, { add_special_tokens: false }).ids`.
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const encode = (text: string) => new TextEncoder().encode(text);
 *
 * // PIQA items as JSON lines: the text of piqa.jsonl (read it with fetch, or Deno.readTextFile on a server).
 * const jsonl = [
 *   '{"query": "Question: Dry hands?\\n", "choices": ["Use a towel.", "Use water."], "gold": 0}',
 *   '{"query": "Question: Cool soup?\\n", "choices": ["Heat it.", "Let it stand."], "gold": 1}',
 * ].join("\n");
 * const docs = parseTask("piqa", jsonl);
 * const r = await evaluateDocs(model, encode, docs, { limit: 100 });
 * console.log(r.count, r.metrics.acc, r.metrics.acc_norm, r.metrics.acc_bytes); // 2, then chance-level accuracies
 * const first = r.items[0];
 * if (first.kind !== "choice" || first.loglikelihoods.length !== 2) throw new Error("one loglikelihood per choice");
 * console.log(first.loglikelihoods.map((ll) => ll.toFixed(1)), "gold", first.gold, "pred", first.pred);
 * model.dispose();
 * backend.dispose();
 * ```
 */
export async function evaluateDocs(
  model: MambaModel,
  encode: Encode,
  docs: EvalDoc[],
  options: EvaluateOptions = {},
): Promise<TaskResult> {
  const limit = options.limit ?? Infinity;
  if (!(limit === Infinity || (Number.isInteger(limit) && limit >= 1))) {
    throw new RangeError(`limit must be a whole number ≥ 1, got ${limit}`);
  }
  const chosen = docs.slice(0, Math.min(limit, docs.length));
  if (chosen.length === 0) throw new RangeError("no items to evaluate");
  const kind = chosen[0].kind;
  if (chosen.some((d) => d.kind !== kind)) {
    throw new RangeError("mixed item kinds: evaluate choice and greedy items apart");
  }
  const V = model.config.vocabSize;
  const items: (ChoiceResult | GreedyResult)[] = [];
  let contextTokens = 0, continuationTokens = 0;
  for (const [n, doc] of chosen.entries()) {
    const where = `item ${n} (line ${doc.line})`;
    const pairs: [string, string][] = doc.kind === "choice"
      ? doc.contexts.map((c, i) => [c, (doc as ChoiceDoc).continuations[i]])
      : [[doc.context, doc.continuation]];
    const reqs = pairs.map(([c, k]) => {
      try {
        return encodeRequest(encode, c, k, options.emptyContextToken);
      } catch (e) {
        throw new RangeError(`${where}: ${(e as Error).message}`);
      }
    });
    reqs.forEach((r) => checkIds(r, V, where));
    const scores = await scoreRequests(model, reqs);
    const distinct = new Map(reqs.map((r) => [r.context.join(","), r.context.length]));
    for (const len of distinct.values()) contextTokens += len;
    continuationTokens += scores.reduce((s, x) => s + x.tokens, 0);
    if (doc.kind === "choice") {
      const lls = scores.map((s) => s.loglikelihood);
      items.push({
        kind: "choice",
        line: doc.line,
        gold: doc.gold,
        loglikelihoods: lls,
        tokens: scores.map((s) => s.tokens),
        pred: argmax(lls),
        predNorm: argmax(lls.map((ll, i) => ll / chars(doc.choiceTexts[i]))),
        predBytes: argmax(lls.map((ll, i) => ll / utf8.encode(doc.choiceTexts[i]).length)),
      });
    } else {
      const s = scores[0];
      items.push({
        kind: "greedy",
        line: doc.line,
        loglikelihood: s.loglikelihood,
        tokens: s.tokens,
        greedy: s.greedy,
      });
    }
    options.onProgress?.({ done: n + 1, total: chosen.length });
  }
  const metrics: TaskResult["metrics"] = {};
  const stderr: TaskResult["stderr"] = {};
  const put = (name: MetricName, outcomes: boolean[]) => [metrics[name], stderr[name]] = meanStderr(outcomes);
  if (kind === "choice") {
    const cs = items as ChoiceResult[];
    put("acc", cs.map((r) => r.pred === r.gold));
    put("acc_norm", cs.map((r) => r.predNorm === r.gold));
    put("acc_bytes", cs.map((r) => r.predBytes === r.gold));
  } else {
    const gs = items as GreedyResult[];
    put("acc", gs.map((r) => r.greedy));
    metrics.ppl = Math.exp(-gs.reduce((s, r) => s + r.loglikelihood, 0) / gs.length);
  }
  return { count: items.length, metrics, stderr, items, contextTokens, continuationTokens };
}

/**
 * {@link evaluateDocs} for a named task, keeping only the metrics lm-eval reports for it (WinoGrande: acc).
 *
 * @example
 * ```ts
 * import {
 *   evaluateDocs,
 *   evaluateTask,
 *   makeConfig,
 *   MambaModel,
 *   parseTask,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * // A tiny random model with a byte-level "tokenizer" (vocabulary 256); a real evaluation loads a checkpoint and
 * // encodes with its tokenizer, e.g. `(t) => tok.encode(t, { add_special_tokens: false }).ids`.
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const encode = (text: string) => new TextEncoder().encode(text);
 *
 * // WinoGrande: one context per option, the same continuation after each; lm-eval reports acc only.
 * const line = '{"context_options": ["Ann saw Bo so Ann", "Ann saw Bo so Bo"], "continuation": "waved.", "gold": 0}';
 * const docs = parseTask("winogrande", line);
 * const task = await evaluateTask(model, encode, "winogrande", docs);
 * console.log(Object.keys(task.metrics)); // [ "acc" ]
 * const all = await evaluateDocs(model, encode, docs);
 * console.log(Object.keys(all.metrics)); // [ "acc", "acc_norm", "acc_bytes" ]
 * if (task.metrics.acc !== all.metrics.acc) throw new Error("same scores, fewer metrics");
 * model.dispose();
 * backend.dispose();
 * ```
 */
export async function evaluateTask(
  model: MambaModel,
  encode: Encode,
  task: TaskName,
  docs: EvalDoc[],
  options: EvaluateOptions = {},
): Promise<TaskResult> {
  const spec = TASKS[task];
  if (!spec) throw new RangeError(`unknown task "${task}"`);
  const r = await evaluateDocs(model, encode, docs, options);
  const keep = <T>(o: Partial<Record<MetricName, T>>) =>
    Object.fromEntries(spec.metrics.filter((m) => m in o).map((m) => [m, o[m]])) as Partial<Record<MetricName, T>>;
  return { ...r, metrics: keep(r.metrics), stderr: keep(r.stderr) };
}
