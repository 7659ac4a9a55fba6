/**
 * Evaluation: zero-shot metrics against loglikelihoods computed independently (one full prefill of context +
 * continuation, a separate log-softmax), windowed perplexity against per-window full prefills, the task parsers,
 * and the trained models' WikiText-2 perplexity against train_report.json (first windows by default; all 576
 * with PERFMAMBA_FULL_EVAL=1).
 */
import assert from "node:assert/strict";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { loadTokenizer } from "../../cli/tokenizer.ts";
import { scoreToken } from "../../runtime/eval/logprob.ts";
import { perplexity, planWindows } from "../../runtime/eval/perplexity.ts";
import {
  type ChoiceResult,
  encodeRequest,
  evaluateDocs,
  evaluateTask,
  type GreedyResult,
} from "../../runtime/eval/multiple_choice.ts";
import {
  type ChoiceDoc,
  type GreedyDoc,
  parseHellaswag,
  parseLambada,
  parseQueryTask,
  parseTask,
  parseWinogrande,
  TaskFormatError,
} from "../../runtime/eval/tasks.ts";
import { fixtureDir, SHARED, sharedSkipReason } from "../_golden.ts";
import { TEST_BACKENDS } from "../_backends.ts";

const wasm = TEST_BACKENDS.find((b) => b.name === "wasm")!;

async function withModel(dir: string, f: (m: MambaModel) => Promise<void>): Promise<void> {
  const backend = await wasm.create();
  try {
    const model = MambaModel.load(await loadWeights(dirSource(dir)), backend);
    try {
      await f(model);
    } finally {
      model.dispose();
    }
  } finally {
    backend.dispose();
  }
}

/** Latin-1 "bytes" → ids: every character below 256 is its own token (the tiny fixtures have 256). */
const latin1 = (s: string): number[] =>
  Array.from(s, (c) => {
    const k = c.charCodeAt(0);
    if (k > 255) throw new RangeError(`character ${c} is not Latin-1`);
    return k;
  });

/** log-softmax of one row, written independently of runtime/eval (float64 log-sum-exp over a copied row). */
function refLogProb(row: Float32Array, target: number): number {
  const xs = Array.from(row);
  const m = xs.reduce((a, b) => Math.max(a, b), -Infinity);
  const lse = m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
  return xs[target] - lse;
}

/** Loglikelihood and greediness of `cont` after `ctx`, from ONE full prefill of ctx + cont. */
async function refLogLik(model: MambaModel, ctx: number[], cont: number[]): Promise<{ ll: number; greedy: boolean }> {
  const { logits, state } = await model.prefill([...ctx, ...cont]);
  state.dispose();
  const V = logits.vocab;
  let ll = 0, greedy = true;
  for (let t = 0; t < cont.length; t++) {
    const row = logits.data.subarray((ctx.length - 1 + t) * V, (ctx.length + t) * V);
    ll += refLogProb(row, cont[t]);
    let best = 0;
    for (let j = 1; j < V; j++) if (row[j] > row[best]) best = j;
    greedy &&= best === cont[t];
  }
  return { ll, greedy };
}

const firstMax = (xs: number[]): number => xs.indexOf(Math.max(...xs));

// ---------------------------------------------------------------------------------------------------------------
// (a) zero-shot metrics on a synthetic task with answers computed independently

/** Four questions; the second's choices differ a lot in length, the third's in UTF-8 bytes per character. */
const SYNTHETIC: ChoiceDoc[] = [
  { context: "Q: a b c\nAnswer:", choices: ["d", "dddddddddddd"], gold: 0 },
  { context: "The bird sang", choices: ["loudly.", "in the tall old tree by the river.", "x"], gold: 1 },
  { context: "Café", choices: ["é", "ee", "ïï"], gold: 1 },
  { context: "Hello", choices: ["world", "there", "you", "again"], gold: 3 },
].map((q, i) => ({
  kind: "choice",
  line: i + 1,
  contexts: q.choices.map(() => q.context),
  continuations: q.choices.map((c) => " " + c),
  choiceTexts: q.choices,
  gold: q.gold,
}));

/** Winogrande-style: a different context per option, the same continuation. */
const WINO: ChoiceDoc = {
  kind: "choice",
  line: 5,
  contexts: ["Anna gave Bob the book because Anna", "Anna gave Bob the book because Bob"],
  continuations: [" was done with it.", " was done with it."],
  choiceTexts: ["was done with it.", "was done with it."],
  gold: 0,
};

const utf8Length = (s: string): number => new TextEncoder().encode(s).length;

Deno.test("multiple choice: acc, acc_norm, acc_bytes and per-item choices equal an independent computation", async () => {
  await withModel(fixtureDir("mamba1-tiny"), async (model) => {
    const docs = [...SYNTHETIC, WINO];
    const expected: { lls: number[]; pred: number; predNorm: number; predBytes: number }[] = [];
    for (const d of docs) {
      const lls: number[] = [];
      for (let i = 0; i < d.contexts.length; i++) {
        // With one token per character, encode(context + continuation) splits exactly at the context.
        lls.push((await refLogLik(model, latin1(d.contexts[i]), latin1(d.continuations[i]))).ll);
      }
      expected.push({
        lls,
        pred: firstMax(lls),
        predNorm: firstMax(lls.map((ll, i) => ll / Array.from(d.choiceTexts[i]).length)),
        predBytes: firstMax(lls.map((ll, i) => ll / utf8Length(d.choiceTexts[i]))),
      });
    }
    // The cases the test is built to contain (true for this fixture's weights, checked on the independent path):
    assert.ok(expected.some((e) => e.pred !== e.predNorm), "no item where acc and acc_norm disagree");
    assert.notEqual(expected[0].pred, expected[0].predNorm, "item 0: length normalisation should flip the choice");
    assert.notEqual(expected[2].predNorm, expected[2].predBytes, "item 2: chars vs UTF-8 bytes should disagree");

    const progress: number[] = [];
    const r = await evaluateDocs(model, latin1, docs, { onProgress: (p) => progress.push(p.done) });
    assert.deepEqual(progress, [1, 2, 3, 4, 5]);
    assert.equal(r.count, docs.length);
    r.items.forEach((item, n) => {
      const it = item as ChoiceResult;
      assert.equal(it.kind, "choice");
      assert.equal(it.line, docs[n].line);
      assert.equal(it.gold, docs[n].gold);
      it.loglikelihoods.forEach((ll, i) =>
        assert.ok(Math.abs(ll - expected[n].lls[i]) < 1e-4, `item ${n} choice ${i}: ${ll} vs ${expected[n].lls[i]}`)
      );
      assert.equal(it.pred, expected[n].pred, `item ${n} pred`);
      assert.equal(it.predNorm, expected[n].predNorm, `item ${n} predNorm`);
      assert.equal(it.predBytes, expected[n].predBytes, `item ${n} predBytes`);
      assert.deepEqual(it.tokens, docs[n].continuations.map((c) => c.length));
    });
    const mean = (f: (e: typeof expected[number], d: ChoiceDoc) => boolean) =>
      expected.filter((e, i) => f(e, docs[i])).length / docs.length;
    assert.equal(r.metrics.acc, mean((e, d) => e.pred === d.gold));
    assert.equal(r.metrics.acc_norm, mean((e, d) => e.predNorm === d.gold));
    assert.equal(r.metrics.acc_bytes, mean((e, d) => e.predBytes === d.gold));
    const p = r.metrics.acc!;
    assert.ok(Math.abs(r.stderr.acc! - Math.sqrt(p * (1 - p) * docs.length / (docs.length - 1) / docs.length)) < 1e-12);
    // Shared contexts run once: 4 questions + 2 winogrande contexts.
    const ctxTokens = SYNTHETIC.reduce((s, d) => s + d.contexts[0].length, 0) + WINO.contexts[0].length +
      WINO.contexts[1].length;
    assert.equal(r.contextTokens, ctxTokens);

    // --limit, and a task's metric list (winogrande: acc only).
    const two = await evaluateDocs(model, latin1, docs, { limit: 2 });
    assert.equal(two.count, 2);
    const wino = await evaluateTask(model, latin1, "winogrande", [WINO]);
    assert.deepEqual(Object.keys(wino.metrics), ["acc"]);
    assert.equal(wino.metrics.acc, expected[4].pred === 0 ? 1 : 0);
  });
});

Deno.test("greedy items (LAMBADA): acc is exact greedy match, ppl = exp(−mean loglikelihood)", async () => {
  await withModel(fixtureDir("mamba2-tiny"), async (model) => {
    // The model's own greedy continuation of a context, found with full prefills (independent of the library).
    const ctx = "Once upon a time";
    const ids = latin1(ctx);
    const greedyIds: number[] = [];
    for (let t = 0; t < 3; t++) {
      const { logits, state } = await model.prefill([...ids, ...greedyIds], { lastOnly: true });
      state.dispose();
      greedyIds.push(firstMax(Array.from(logits.data)));
    }
    const text = (xs: number[]) => String.fromCharCode(...xs);
    const wrong = [...greedyIds.slice(0, 2), (greedyIds[2] + 1) % 256];
    // A continuation must not start the same way a trailing-whitespace move would change; keep the tokens as is.
    const docs: GreedyDoc[] = [
      { kind: "greedy", line: 1, context: ctx, continuation: text(greedyIds) },
      { kind: "greedy", line: 2, context: ctx, continuation: text(wrong) },
    ];
    const refs = [await refLogLik(model, ids, greedyIds), await refLogLik(model, ids, wrong)];
    assert.deepEqual(refs.map((r) => r.greedy), [true, false]);
    const r = await evaluateTask(model, latin1, "lambada", docs);
    const items = r.items as GreedyResult[];
    assert.deepEqual(items.map((i) => i.greedy), [true, false]);
    items.forEach((it, i) => assert.ok(Math.abs(it.loglikelihood - refs[i].ll) < 1e-4));
    assert.equal(r.metrics.acc, 0.5);
    const ppl = Math.exp(-(refs[0].ll + refs[1].ll) / 2);
    assert.ok(Math.abs(r.metrics.ppl! - ppl) / ppl < 1e-4, `ppl ${r.metrics.ppl} vs ${ppl}`);
    assert.deepEqual(Object.keys(r.metrics), ["ppl", "acc"]);
  });
});

Deno.test("encodeRequest follows lm-eval: trailing whitespace moves to the continuation; empty context", () => {
  assert.deepEqual(encodeRequest(latin1, "Hi  ", "x"), { context: latin1("Hi"), continuation: latin1("  x") });
  assert.deepEqual(encodeRequest(latin1, "Hi\x85", "x"), { context: latin1("Hi"), continuation: latin1("\x85x") });
  assert.deepEqual(encodeRequest(latin1, "", " x", 0), { context: [0], continuation: latin1(" x") });
  assert.throws(() => encodeRequest(latin1, "", " x"), /empty context/);
  assert.throws(() => encodeRequest(latin1, "Hi", ""), /continuation "" encodes to no tokens/);
  // The continuation is what encode(context + continuation) adds after encode(context): merges are honoured.
  const merging = (s: string) => latin1(s.replaceAll("ab", "\x01"));
  assert.deepEqual(encodeRequest(merging, "xa", "bab"), { context: latin1("xa"), continuation: [0x01] });
});

Deno.test("evaluateDocs names the item of a token outside the vocabulary", async () => {
  await withModel(fixtureDir("mamba1-tiny"), async (model) => {
    const big = (s: string) => [...latin1(s), 300];
    await assert.rejects(
      () => evaluateDocs(model, big, [SYNTHETIC[1]]),
      /item 0 \(line 2\): token id 300 is outside the model's vocabulary \[0, 256\)/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// (b) windowed perplexity against full prefills of each window

/** Deterministic pseudo-random ids in [0, 256). */
function ids(n: number, seed = 7): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % 256;
  });
}

Deno.test("planWindows: non-overlapping, strided, tail drop / keep", () => {
  assert.deepEqual(planWindows(10, { windowLength: 4 }), [
    { start: 0, end: 4, scoreFrom: 1 },
    { start: 4, end: 8, scoreFrom: 5 },
  ]);
  assert.deepEqual(planWindows(10, { windowLength: 4, tail: "keep" }).at(-1), { start: 8, end: 10, scoreFrom: 9 });
  assert.deepEqual(planWindows(10, { windowLength: 4, stride: 3 }), [
    { start: 0, end: 4, scoreFrom: 1 },
    { start: 3, end: 7, scoreFrom: 4 },
    { start: 6, end: 10, scoreFrom: 7 },
  ]);
  assert.deepEqual(planWindows(9, { windowLength: 4, stride: 3, tail: "keep" }), [
    { start: 0, end: 4, scoreFrom: 1 },
    { start: 3, end: 7, scoreFrom: 4 },
    { start: 6, end: 9, scoreFrom: 7 },
  ]);
  assert.deepEqual(planWindows(3, { windowLength: 4 }), []);
  assert.deepEqual(planWindows(3, { windowLength: 4, tail: "keep" }), [{ start: 0, end: 3, scoreFrom: 1 }]);
  assert.equal(planWindows(100, { windowLength: 4, maxWindows: 5 }).length, 5);
  // WikiText-2 test: 295,232 tokens → 576 windows of 512, 511 predictions each.
  const wiki = planWindows(295232, { windowLength: 512 });
  assert.equal(wiki.length, 576);
  assert.equal(wiki.reduce((s, w) => s + w.end - w.scoreFrom, 0), 294336);
  assert.throws(
    () => planWindows(10, { windowLength: 4, stride: 5 }),
    /stride must be a whole number in \[1, windowLength = 4\], got 5/,
  );
  assert.throws(() => planWindows(10, { windowLength: 1 }), /windowLength must be a whole number ≥ 2/);
});

for (const fixture of ["mamba1-tiny", "mamba2-tiny"]) {
  Deno.test(`${fixture}: windowed perplexity equals per-window full prefills (non-overlapping, strided, tail)`, async () => {
    await withModel(fixtureDir(fixture), async (model) => {
      const seq = ids(50);
      // Everything in one window: exactly the full-prefill NLL of the sequence.
      {
        const { logits, state } = await model.prefill(seq);
        state.dispose();
        let nll = 0;
        for (let p = 1; p < seq.length; p++) nll -= refLogProb(logits.data.subarray((p - 1) * 256, p * 256), seq[p]);
        const r = await perplexity(model, seq, { windowLength: 50 });
        assert.equal(r.tokens, 49);
        assert.ok(Math.abs(r.nll - nll) < 1e-4 * nll, `${r.nll} vs ${nll}`);
        assert.ok(Math.abs(r.ppl - Math.exp(nll / 49)) < 1e-4 * r.ppl);
      }
      const cases = [
        { windowLength: 16 }, // 3 windows of 15 predictions; 2 tokens dropped
        { windowLength: 16, stride: 5 }, // 16 + 5 + 5 ... : every token after the first window scored once
        { windowLength: 16, tail: "keep" as const }, // a last window of 2 tokens, 1 prediction
        { windowLength: 16, stride: 7, tail: "keep" as const },
      ];
      for (const opts of cases) {
        const windows = planWindows(seq.length, opts);
        const want: number[] = [];
        for (const w of windows) {
          const { logits, state } = await model.prefill(seq.slice(w.start, w.end));
          state.dispose();
          let nll = 0;
          for (let p = w.scoreFrom; p < w.end; p++) {
            const r = p - 1 - w.start;
            nll -= refLogProb(logits.data.subarray(r * 256, (r + 1) * 256), seq[p]);
          }
          want.push(nll);
        }
        for (const batch of [1, 3]) {
          const seen: number[] = [];
          const r = await perplexity(model, seq, { ...opts, batch, onProgress: (p) => seen.push(p.windows) });
          const what = `${JSON.stringify(opts)} batch ${batch}`;
          assert.deepEqual(r.windows, windows, what);
          assert.equal(seen.at(-1), windows.length);
          r.windowNll.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-4 * want[i], `${what} window ${i}`));
          const tokens = windows.reduce((s, w) => s + w.end - w.scoreFrom, 0);
          assert.equal(r.tokens, tokens);
          const nll = want.reduce((a, b) => a + b, 0);
          assert.ok(Math.abs(r.ppl - Math.exp(nll / tokens)) < 1e-4 * r.ppl, what);
        }
      }
      // Coverage: non-overlapping windows skip each window's first token; strided ones score each token once.
      assert.equal((await perplexity(model, seq, { windowLength: 16 })).tokens, 45);
      assert.equal((await perplexity(model, seq, { windowLength: 16, stride: 5 })).tokens, 15 + 5 * 6);
      await assert.rejects(() => perplexity(model, seq.slice(0, 10), { windowLength: 16 }), /no complete window/);
      await assert.rejects(() => perplexity(model, [1, 2, 256], { windowLength: 2 }), /token id 256 at position 2/);
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// (c) parsers

Deno.test("parsers: PIQA / ARC / OpenBookQA build lm-eval's contexts and continuations", () => {
  const piqa = parseQueryTask("piqa", '{"choices": ["a", "b"], "gold": 1, "query": "Question: How?\\n"}\n');
  assert.deepEqual(piqa, [{
    kind: "choice",
    line: 1,
    contexts: ["Question: How?\nAnswer:", "Question: How?\nAnswer:"],
    continuations: [" a", " b"],
    choiceTexts: ["a", "b"],
    gold: 1,
  }]);
  const arc = parseTask("arc_challenge", '\n{"choices": ["x", "y", "z"], "query": "Question: Why?", "gold": 2}');
  assert.equal((arc[0] as ChoiceDoc).contexts[0], "Question: Why?\nAnswer:");
  assert.equal(arc[0].line, 2);
  const obqa = parseTask("openbookqa", '{"query": "Predators eat", "choices": ["grass", "bunnies"], "gold": 1}');
  assert.equal((obqa[0] as ChoiceDoc).contexts[1], "Predators eat");
  assert.deepEqual((obqa[0] as ChoiceDoc).continuations, [" grass", " bunnies"]);
});

Deno.test("parsers: Winogrande, LAMBADA and HellaSwag's 6-line format", () => {
  const w = parseWinogrande('{"context_options": ["A so A", "A so B"], "continuation": "left.", "gold": 0}');
  assert.deepEqual(w[0].contexts, ["A so A", "A so B"]);
  assert.deepEqual(w[0].continuations, [" left.", " left."]);
  const l = parseLambada('{"context": "He opened the", "continuation": "door"}\n{"context": "a", "continuation": "b"}');
  assert.deepEqual(l.map((d) => [d.line, d.context, d.continuation]), [[1, "He opened the", " door"], [2, "a", " b"]]);
  const hs = parseHellaswag("Ctx one. he\n3\ne0\ne1\ne2\ne3\nCtx two: she\n0\nf0\nf1\nf2\nf3");
  assert.equal(hs.length, 2);
  assert.deepEqual(hs[0], {
    kind: "choice",
    line: 1,
    contexts: Array(4).fill("Ctx one. he"),
    continuations: [" e0", " e1", " e2", " e3"],
    choiceTexts: ["e0", "e1", "e2", "e3"],
    gold: 3,
  });
  assert.equal(hs[1].line, 7);
  assert.equal(hs[1].gold, 0);
  assert.equal(parseHellaswag("c\r\n1\r\na\r\nb\r\nc\r\nd\r\n")[0].choiceTexts[3], "d");
});

Deno.test("parsers: malformed input throws TaskFormatError naming the source and the line", () => {
  const bad = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: Error) => e instanceof TaskFormatError && re.test(e.message));
  bad(
    () => parseTask("piqa", '{"query": "q", "choices": ["a", "b"], "gold": 0}\n{"query": "q", "choices": ', "p.jsonl"),
    /^p\.jsonl: line 2: not valid JSON/,
  );
  bad(
    () => parseTask("arc_easy", '{"query": "q", "choices": ["a"], "gold": 0}', "a.jsonl"),
    /a\.jsonl: line 1: field "choices" must be a list of at least 2 strings/,
  );
  bad(
    () => parseTask("openbookqa", '{"query": "q", "choices": ["a", "b"], "gold": 2}', "o"),
    /o: line 1: gold 2 is not an index of the 2 choices/,
  );
  bad(
    () => parseTask("openbookqa", '{"choices": ["a", "b"], "gold": 0}', "o"),
    /o: line 1: field "query" must be a string, got nothing/,
  );
  bad(() => parseTask("winogrande", "[1, 2]", "w"), /w: line 1: expected a JSON object/);
  bad(
    () => parseTask("lambada", '{"context": "c", "continuation": " "}', "l"),
    /l: line 1: field "continuation" is empty/,
  );
  bad(() => parseTask("lambada", "\n\n", "l"), /l: no items/);
  bad(
    () => parseHellaswag("c\n1\na\nb\nc\nd\nc2\nX\na\nb\nc\nd\n", "h.txt"),
    /h\.txt: line 8: gold index must be 0, 1, 2 or 3, got "X"/,
  );
  bad(
    () => parseHellaswag("c\n1\na\nb\nc\nd\nc2\n1\na\n", "h.txt"),
    /h\.txt: 9 lines is not a whole number of 6-line items.*starts at line 7/,
  );
  bad(() => parseHellaswag("c\n1\na\n\nc\nd\n", "h.txt"), /h\.txt: line 4: empty ending/);
  assert.throws(() => parseTask("mmlu", "{}"), /unknown task "mmlu"; supported: piqa/);
});

Deno.test("scoreToken: float64 log-softmax, stable for large logits, argmax first on ties", () => {
  const row = new Float32Array([1000, 1000, 999]);
  const s = scoreToken(row, 0, 3, 1);
  assert.ok(Math.abs(s.logprob - (-Math.log(2 + Math.exp(-1)))) < 1e-12);
  assert.equal(s.greedy, false); // the tie goes to index 0, like numpy / torch argmax
  assert.equal(scoreToken(row, 0, 3, 0).greedy, true);
  assert.throws(() => scoreToken(row, 0, 3, 3), /outside the vocabulary/);
});

// ---------------------------------------------------------------------------------------------------------------
// (d) the trained models' WikiText-2 perplexity against transformers (train_report.json)

interface TrainReport {
  evaluation: {
    method: string;
    wikitext2_test: {
      windows: number;
      window_len: number;
      predicted_tokens: number;
      ppl: number;
      window_mean_nll: number[];
    };
  };
}

const FULL = Deno.env.get("PERFMAMBA_FULL_EVAL") === "1";
const WIKI = `${SHARED}/data/text/wikitext-2-test.txt`;
const TOKENIZER = `${SHARED}/data/tokenizer/gpt-neox-20b-tokenizer.json`;
const FIRST_WINDOWS = 4;

for (const name of ["mamba2-text-small", "mamba1-text-small"]) {
  const skip = sharedSkipReason(`models/${name}`) ?? sharedSkipReason("data/text") ??
    sharedSkipReason("data/tokenizer");
  const check = async (windows: number | undefined) => {
    const dir = `${SHARED}/models/${name}`;
    const report = (JSON.parse(await Deno.readTextFile(`${dir}/train_report.json`)) as TrainReport).evaluation
      .wikitext2_test;
    const tok = await loadTokenizer(TOKENIZER);
    const wikiIds = tok.encode(await Deno.readTextFile(WIKI), { add_special_tokens: false }).ids;
    assert.equal(wikiIds.length, 295232, "WikiText-2 test encoded as one string, no BOS");
    await withModel(dir, async (model) => {
      const t0 = performance.now();
      const r = await perplexity(model, wikiIds, { windowLength: 512, maxWindows: windows });
      const seconds = (performance.now() - t0) / 1000;
      const n = windows ?? report.windows;
      assert.equal(r.windows.length, n);
      assert.ok(r.windowTokens.every((t) => t === 511));
      // Per-window mean NLL: transformers' values are rounded to 5 decimals; fp32 on both sides.
      r.windowNll.forEach((nll, i) => {
        const diff = Math.abs(nll / 511 - report.window_mean_nll[i]);
        assert.ok(diff < 5e-5, `window ${i}: mean NLL ${nll / 511} vs transformers ${report.window_mean_nll[i]}`);
      });
      if (windows === undefined) {
        assert.equal(r.tokens, report.predicted_tokens);
        const rel = Math.abs(r.ppl - report.ppl) / report.ppl;
        assert.ok(rel < 0.005, `perplexity ${r.ppl} vs transformers ${report.ppl} (${(rel * 100).toFixed(3)}%)`);
        console.log(
          `${name}: WikiText-2 test perplexity ${r.ppl.toFixed(3)} (transformers ${report.ppl.toFixed(3)}, ` +
            `relative Δ ${rel.toExponential(1)}), ${r.tokens} predictions in ${
              seconds.toFixed(1)
            } s on ${model.backend.name}`,
        );
      }
    });
  };
  Deno.test({
    name: `${name}: first ${FIRST_WINDOWS} WikiText-2 windows match transformers' per-window NLL${
      skip ? ` (${skip})` : ""
    }`,
    ignore: skip !== null,
    fn: () => check(FIRST_WINDOWS),
  });
  const fullSkip = skip ??
    (FULL ? null : "skipped: set PERFMAMBA_FULL_EVAL=1 (WASM on 2 CPU cores: Mamba-2 6 min, Mamba-1 10 min)");
  Deno.test({
    name: `${name}: full WikiText-2 test perplexity within 0.5% of train_report.json${
      fullSkip ? ` (${fullSkip})` : ""
    }`,
    ignore: fullSkip !== null,
    fn: () => check(undefined),
  });
}

Deno.test("perplexity refuses 2^32 as given (Int32Array.from would make it token 0)", async () => {
  await withModel(fixtureDir("mamba1-tiny"), async (model) => {
    const ids = Array.from({ length: 40 }, (_, i) => i % 200);
    ids[7] = 4294967296;
    await assert.rejects(
      () => perplexity(model, ids, { windowLength: 16 }),
      /token id 4294967296 at position 7 is outside the model's vocabulary \[0, 256\)/,
    );
  });
});
