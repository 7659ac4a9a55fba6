/**
 * `perfmamba eval` end to end in a subprocess: perplexity and tasks on the tiny fixture with a byte-level
 * tokenizer (checked against the library in-process), the trained model with the GPT-NeoX tokenizer, the
 * tokenizer / vocabulary mismatch, unreadable and malformed data, and bad flags.
 */
import assert from "node:assert/strict";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { perplexity } from "../../runtime/eval/perplexity.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { fixtureDir, type ModelGolden, readGolden, SHARED, sharedSkipReason } from "../_golden.ts";
import { loadTokenizer } from "../../cli/tokenizer.ts";
import { TEST_BACKENDS } from "../_backends.ts";
import { cli } from "./_cli.ts";
import type { MambaWeights } from "../../runtime/weights.ts";
import { referenceForward } from "../_reference_forward.ts";
import { referencePerplexity } from "../_prune_oracles.ts";

const TINY = fixtureDir("mamba1-tiny");
const BYTE_TOKENIZER = fixtureDir("eval/byte-tokenizer.json");
const HELLASWAG_BZ2 = fixtureDir("eval/hellaswag_tiny.txt.bz2");
const NEOX = `${SHARED}/data/tokenizer/gpt-neox-20b-tokenizer.json`;

const TEXT = "The quick brown fox jumps over the lazy dog.\nA second line of text, for a few more windows.\n" +
  "And a third: the end.\n";
const PIQA_ROWS = [
  { query: "Question: How do I open a jar?\n", choices: ["Twist the lid.", "Paint the lid."], gold: 0 },
  { query: "Question: How do I dry a towel?\n", choices: ["Soak it.", "Hang it in the sun."], gold: 1 },
  { query: "Question: How do I cool tea?\n", choices: ["Wait a while.", "Boil it."], gold: 0 },
];

/** A temp folder with the tiny text and task files; removed afterwards. */
async function withFiles(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "perfmamba-eval-" });
  try {
    await Deno.writeTextFile(`${dir}/text.txt`, TEXT);
    await Deno.writeTextFile(`${dir}/piqa.jsonl`, PIQA_ROWS.map((r) => JSON.stringify(r)).join("\n") + "\n");
    await Deno.writeTextFile(`${dir}/bad.jsonl`, JSON.stringify(PIQA_ROWS[0]) + "\n{not json\n");
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const base = (tokenizer = BYTE_TOKENIZER, model = TINY) => ["eval", "--model", model, "--tokenizer", tokenizer];

Deno.test("cli eval --text on the fixture: JSON equals the library's windowed perplexity", async () => {
  await withFiles(async (dir) => {
    const r = await cli(
      ...base(),
      "--text",
      `${dir}/text.txt`,
      "--window",
      "16",
      "--stride",
      "12",
      "--format",
      "json",
      "--quiet",
      "--backend",
      "wasm",
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const ids = Array.from(new TextEncoder().encode(TEXT));
    assert.equal(out.model, TINY);
    assert.equal(out.backend, "wasm");
    assert.equal(out.text, `${dir}/text.txt`);
    assert.equal(out.window, 16);
    assert.equal(out.stride, 12);
    assert.equal(out.tail, "drop");
    assert.equal(out.counts.input_tokens, ids.length);
    assert.ok(out.seconds > 0);
    const backend = await TEST_BACKENDS[0].create();
    try {
      const model = MambaModel.load(await loadWeights(dirSource(TINY)), backend);
      const want = await perplexity(model, ids, { windowLength: 16, stride: 12 });
      model.dispose();
      assert.equal(out.counts.windows, want.windows.length);
      assert.equal(out.counts.scored_tokens, want.tokens);
      assert.equal(out.window_nll.length, want.windows.length);
      assert.ok(Math.abs(out.metrics.ppl - want.ppl) < 1e-5 * want.ppl, `${out.metrics.ppl} vs ${want.ppl}`);
    } finally {
      backend.dispose();
    }
    // The table, and --limit / --tail keep.
    const t = await cli(
      ...base(),
      "--text",
      `${dir}/text.txt`,
      "--window",
      "32",
      "--limit",
      "2",
      "--tail",
      "keep",
      "--quiet",
    );
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /windows\s+2 × 32 tokens, stride 32/);
    assert.match(t.stdout, /scored\s+62 tokens/);
    assert.match(t.stdout, /perplexity\s+\d+\.\d{3}/);
  });
});

Deno.test("cli eval --task on the fixture: JSON lines and a bzip2 HellaSwag file", async () => {
  await withFiles(async (dir) => {
    const r = await cli(...base(), "--task", "piqa", "--data", `${dir}/piqa.jsonl`, "--format", "json", "--quiet");
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.task, "piqa");
    assert.equal(out.primary, "acc");
    assert.deepEqual(Object.keys(out.metrics), ["acc", "acc_norm", "acc_bytes"]);
    for (const v of Object.values(out.metrics) as number[]) assert.ok([0, 1 / 3, 2 / 3, 1].includes(v), `${v}`);
    assert.equal(out.counts.items, 3);
    assert.equal(out.counts.items_in_data, 3);
    // --items: one JSON line per item, in order; the reported accuracies are the means of its predictions.
    const items = await cli(
      ...base(),
      ...["--task", "piqa", "--data", `${dir}/piqa.jsonl`, "--items", `${dir}/items.jsonl`, "--format", "json"],
      "--quiet",
    );
    assert.equal(items.code, 0, items.stderr);
    assert.deepEqual(JSON.parse(items.stdout).metrics, out.metrics);
    const rows = (await Deno.readTextFile(`${dir}/items.jsonl`)).trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((x) => x.gold), PIQA_ROWS.map((x) => x.gold));
    const mean = (key: string) => rows.filter((x) => x[key] === x.gold).length / rows.length;
    assert.equal(mean("pred"), out.metrics.acc);
    assert.equal(mean("predNorm"), out.metrics.acc_norm);
    for (const x of rows) {
      assert.equal(x.loglikelihoods.length, 2);
      assert.equal(x.pred, x.loglikelihoods[0] >= x.loglikelihoods[1] ? 0 : 1);
    }
    const limited = await cli(...base(), "--task", "piqa", "--data", `${dir}/piqa.jsonl`, "--limit", "2", "--quiet");
    assert.equal(limited.code, 0, limited.stderr);
    assert.match(limited.stdout, /PIQA \(2 of 3 items\)/);
    assert.match(limited.stdout, /acc \*\s+\d\.\d{4}/);
    const hs = await cli(...base(), "--task", "hellaswag", "--data", HELLASWAG_BZ2, "--format", "json", "--quiet");
    assert.equal(hs.code, 0, hs.stderr);
    const h = JSON.parse(hs.stdout);
    assert.equal(h.counts.items, 2);
    assert.equal(h.primary, "acc_norm");
  });
});

Deno.test("cli eval: unreadable and malformed data fail with exit 1 naming the file (and the line)", async () => {
  await withFiles(async (dir) => {
    const missing = await cli(...base(), "--text", `${dir}/nope.txt`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`text ${dir}/nope\\.txt: cannot read`));
    const bad = await cli(...base(), "--task", "piqa", "--data", `${dir}/bad.jsonl`);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`${dir}/bad\\.jsonl: line 2: not valid JSON`));
    await Deno.writeFile(`${dir}/broken.bz2`, new Uint8Array([0x42, 0x5a, 0x68, 0x39, 1, 2, 3]));
    const bz = await cli(...base(), "--task", "hellaswag", "--data", `${dir}/broken.bz2`);
    assert.equal(bz.code, 1);
    assert.match(bz.stderr, /broken\.bz2: not a valid bzip2 file/);
    await Deno.writeFile(`${dir}/latin1.txt`, new Uint8Array([0x63, 0x61, 0x66, 0xe9]));
    const enc = await cli(...base(), "--text", `${dir}/latin1.txt`);
    assert.equal(enc.code, 1);
    assert.match(enc.stderr, /latin1\.txt: not UTF-8 text/);
    const short = await cli(...base(), "--text", `${dir}/text.txt`);
    assert.equal(short.code, 1);
    assert.match(short.stderr, /tokens make no complete window of 512: use a smaller --window or --tail keep/);
  });
});

Deno.test("cli eval: bad flags exit 2 with a message naming the flag", async () => {
  const cases: [string[], RegExp][] = [
    [base(), /give either --text FILE \(perplexity\) or --task NAME --data FILE/],
    [[...base(), "--text", "a.txt", "--task", "piqa"], /give either --text/],
    // No --tokenizer and no tokenizer.json in the model folder (checked after the text is read: a real file here).
    [
      ["eval", "--model", TINY, "--text", new URL("../fixtures/eval/README.md", import.meta.url).pathname],
      /eval: no --tokenizer given and the model folder .*mamba1-tiny has no tokenizer\.json/,
    ],
    [[...base(), "--text", "a.txt", "--window", "1"], /--window must be a whole number in \[2, /],
    [[...base(), "--text", "a.txt", "--window", "8", "--stride", "9"], /--stride \(9\) must not exceed --window \(8\)/],
    [[...base(), "--text", "a.txt", "--tail", "maybe"], /--tail must be one of drop, keep/],
    [[...base(), "--text", "a.txt", "--batch", "0"], /--batch must be a whole number/],
    [[...base(), "--text", "a.txt", "--data", "b.jsonl"], /--data goes with --task/],
    [[...base(), "--text", "a.txt", "--items", "i.jsonl"], /--items goes with --task/],
    [[...base(), "--task", "mmlu", "--data", "b.jsonl"], /--task must be one of piqa, arc_easy/],
    [[...base(), "--task", "piqa"], /--data is required/],
    [[...base(), "--task", "piqa", "--data", "b.jsonl", "--window", "8"], /--window applies to --text/],
    [[...base(), "--task", "piqa", "--data", "b.jsonl", "--limit", "0"], /--limit must be a whole number/],
    [[...base(), "--text", "a.txt", "--format", "csv"], /--format must be one of table, json/],
    [[...base(), "--text", "a.txt", "--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
  }
});

const neox = sharedSkipReason("data/tokenizer");
Deno.test({
  name: `cli eval: a tokenizer whose ids exceed the model's vocabulary is an error naming both sizes${
    neox ? ` (${neox})` : ""
  }`,
  ignore: neox !== null,
  fn: async () => {
    await withFiles(async (dir) => {
      for (
        const data of [["--text", `${dir}/text.txt`, "--window", "8"], [
          "--task",
          "piqa",
          "--data",
          `${dir}/piqa.jsonl`,
        ]]
      ) {
        const r = await cli(...base(NEOX), ...data, "--quiet");
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stderr,
          /vocabulary of 50277 tokens\) produced id \d+, but the model .* has a vocabulary of 256/,
        );
        assert.ok(r.stderr.includes(NEOX), r.stderr);
      }
    });
  },
});

const trained = sharedSkipReason("models/mamba2-text-small") ?? neox;
Deno.test({
  name: `cli eval with the trained model and the GPT-NeoX tokenizer: a few lines of text, a task${
    trained ? ` (${trained})` : ""
  }`,
  ignore: trained !== null,
  fn: async () => {
    await withFiles(async (dir) => {
      const model = `${SHARED}/models/mamba2-text-small`;
      const r = await cli(
        ...base(NEOX, model),
        "--text",
        `${dir}/text.txt`,
        "--window",
        "16",
        "--tail",
        "keep",
        "--format",
        "json",
        "--quiet",
      );
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.counts.windows, Math.ceil(out.counts.input_tokens / 16));
      // A real English model on plain English: far better than uniform over 50,280 tokens.
      assert.ok(out.metrics.ppl > 1 && out.metrics.ppl < 5000, `ppl ${out.metrics.ppl}`);
      // The text as one window against a direct float64 computation (reference forward, log-softmax by definition),
      // whose own mean NLL on the golden prompt ids is transformers' prompt_mean_nll.
      const weights = await loadWeights(dirSource(model));
      const golden = readGolden<ModelGolden & { prompt_mean_nll: number }>(model);
      const onGolden = referencePerplexity(weights, golden.input_ids, golden.input_ids.length, 1);
      assert.ok(
        Math.abs(onGolden.nll / onGolden.predictions - golden.prompt_mean_nll) < 2e-4,
        `reference mean NLL ${onGolden.nll / onGolden.predictions} vs prompt_mean_nll ${golden.prompt_mean_nll}`,
      );
      const tokenizer = await loadTokenizer(NEOX);
      const ids = tokenizer.encode(TEXT, { add_special_tokens: false }).ids;
      const one = await cli(
        ...base(NEOX, model),
        ...["--text", `${dir}/text.txt`, "--window", `${ids.length}`, "--format", "json", "--quiet"],
      );
      assert.equal(one.code, 0, one.stderr);
      const o = JSON.parse(one.stdout);
      const want = referencePerplexity(weights, ids, ids.length, 1);
      assert.equal(o.counts.scored_tokens, want.predictions);
      assert.ok(Math.abs(o.metrics.ppl - want.ppl) < 1e-4 * want.ppl, `ppl ${o.metrics.ppl} vs reference ${want.ppl}`);
      // The 16-token windows above: a different split of the same text, so a different (worse) perplexity.
      assert.ok(out.metrics.ppl > want.ppl, `${out.metrics.ppl} (windows of 16) vs ${want.ppl} (one window)`);
      const t = await cli(
        ...base(NEOX, model),
        "--task",
        "piqa",
        "--data",
        `${dir}/piqa.jsonl`,
        "--format",
        "json",
        "--quiet",
      );
      assert.equal(t.code, 0, t.stderr);
      assert.equal(JSON.parse(t.stdout).counts.items, 3);
    });
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Task metrics against an independent computation: every choice's loglikelihood from the float64 reference
// forward's logits (tests/_reference_forward.ts) by lm-eval's definition (context, then " " + choice; Σ log-softmax
// of each continuation token), then acc = argmax, acc_norm = argmax of ll / characters, acc_bytes = ll / UTF-8
// bytes, each averaged over the items.

/** The fixture's loglikelihood of `cont` after `ctx` (byte ids), float64 reference forward. */
function refLoglik(weights: MambaWeights, ctx: string, cont: string): number {
  const bytes = (s: string) => Array.from(new TextEncoder().encode(s));
  const c = bytes(ctx), x = bytes(cont), V = weights.config.vocabSize;
  const logits = referenceForward(weights, [...c, ...x]);
  let ll = 0;
  x.forEach((tok, t) => {
    const row = logits.subarray((c.length - 1 + t) * V, (c.length + t) * V);
    const m = row.reduce((a, b) => Math.max(a, b), -Infinity);
    ll += row[tok] - m - Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
  });
  return ll;
}

/** acc, acc_norm and acc_bytes of items (context, choices, gold) by the definitions above. */
function refMetrics(weights: MambaWeights, items: { ctx: string; choices: string[]; gold: number }[]) {
  const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
  let acc = 0, accNorm = 0, accBytes = 0; // counts, divided at the end as a mean is
  const disagree = { norm: 0, bytes: 0 };
  for (const it of items) {
    const lls = it.choices.map((c) => refLoglik(weights, it.ctx, " " + c));
    const pred = argmax(lls);
    const predNorm = argmax(lls.map((ll, i) => ll / Array.from(it.choices[i]).length));
    const predBytes = argmax(lls.map((ll, i) => ll / new TextEncoder().encode(it.choices[i]).length));
    acc += +(pred === it.gold);
    accNorm += +(predNorm === it.gold);
    accBytes += +(predBytes === it.gold);
    disagree.norm += +(pred !== predNorm);
    disagree.bytes += +(predNorm !== predBytes);
  }
  const n = items.length;
  return { metrics: { acc: acc / n, acc_norm: accNorm / n, acc_bytes: accBytes / n }, disagree };
}

/** PIQA items whose choices differ in length (so acc and acc_norm can disagree) and in bytes per character. */
const PIQA_MORE = [
  ...PIQA_ROWS,
  {
    query: "Question: How do I warm my hands?\n",
    choices: ["Rub them.", "Hold them near a small fire for a while."],
    gold: 1,
  },
  {
    query: "Question: How do I sweeten café au lait?\n",
    choices: ["Add sugar.", "Stir in crème brûlée syrup."],
    gold: 0,
  },
  { query: "Question: How do I keep bread fresh?\n", choices: ["Wrap it in a cloth bag.", "Leave it open."], gold: 0 },
  {
    query: "Question: How do I find north?\n",
    choices: ["Ask.", "Look at where the sun rises, then turn left."],
    gold: 1,
  },
  { query: "Question: How do I fix a squeaky door?\n", choices: ["Oil the hinge.", "Slam it."], gold: 0 },
];

/** HellaSwag items: the fixture file's two, then three more written here. */
const HS_ITEMS = [
  {
    ctx: "Baking bread: A woman kneads dough on a table. she",
    gold: 2,
    choices: [
      "throws the dough at the ceiling fan.",
      "sings to the oven.",
      "shapes it into a loaf and puts it in a pan.",
      "falls asleep.",
    ],
  },
  {
    ctx: "Washing a car: A man sprays a red car with a hose. he",
    gold: 0,
    choices: [
      "scrubs the doors with a soapy sponge.",
      "climbs onto the roof of the house.",
      "eats a sandwich.",
      "reads a newspaper.",
    ],
  },
  {
    ctx: "Painting a fence: A girl dips a brush into white paint. she",
    gold: 1,
    choices: ["flies.", "paints the first board with long strokes.", "cries.", "drinks the paint from the can."],
  },
  {
    ctx: "Walking the dog: A man clips a leash to a collar. the dog",
    gold: 3,
    choices: ["meows.", "reads.", "is asleep on the moon.", "pulls him down the street toward the park."],
  },
  {
    ctx: "Making tea: A boy fills a kettle with water. he",
    gold: 0,
    choices: ["puts it on the stove.", "waters a plant.", "throws it.", "sells it to a neighbour at noon."],
  },
];

Deno.test("cli eval --task: PIQA and HellaSwag metrics = the float64 reference loglikelihoods' acc, acc_norm, acc_bytes", async () => {
  await withFiles(async (dir) => {
    const weights = await loadWeights(dirSource(TINY));
    await Deno.writeTextFile(`${dir}/piqa8.jsonl`, PIQA_MORE.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const r = await cli(...base(), "--task", "piqa", "--data", `${dir}/piqa8.jsonl`, "--format", "json", "--quiet");
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const items = PIQA_MORE.map((row) => ({ ctx: row.query + "Answer:", choices: row.choices, gold: row.gold }));
    const want = refMetrics(weights, items);
    // The items separate the metrics: a run reporting one metric for another fails.
    assert.ok(want.disagree.norm > 0 && want.disagree.bytes > 0, JSON.stringify(want));
    assert.ok(new Set(Object.values(want.metrics)).size > 1, JSON.stringify(want.metrics));
    assert.deepEqual(out.metrics, want.metrics, "PIQA metrics vs the float64 reference");
    const bytes = (s: string) => new TextEncoder().encode(s).length;
    assert.equal(out.counts.context_tokens, items.reduce((a, it) => a + bytes(it.ctx), 0));
    assert.equal(
      out.counts.continuation_tokens,
      items.reduce((a, it) => a + it.choices.reduce((b, c) => b + bytes(" " + c), 0), 0),
    );

    // HellaSwag (6-line items: context, gold, 4 endings; continuation " " + ending): the bzip2 fixture's two items
    // (as tests/fixtures/eval/README.md describes them), and those plus three more as plain text.
    for (const [data, items] of [[HELLASWAG_BZ2, HS_ITEMS.slice(0, 2)], [`${dir}/hs.txt`, HS_ITEMS]] as const) {
      await Deno.writeTextFile(
        `${dir}/hs.txt`,
        HS_ITEMS.map((it) => [it.ctx, `${it.gold}`, ...it.choices].join("\n")).join("\n") + "\n",
      );
      const hs = await cli(...base(), "--task", "hellaswag", "--data", data, "--format", "json", "--quiet");
      assert.equal(hs.code, 0, hs.stderr);
      const h = JSON.parse(hs.stdout);
      const hsWant = refMetrics(weights, [...items]);
      assert.equal(h.counts.items, items.length);
      assert.equal(h.primary, "acc_norm");
      assert.deepEqual({ acc: h.metrics.acc, acc_norm: h.metrics.acc_norm }, {
        acc: hsWant.metrics.acc,
        acc_norm: hsWant.metrics.acc_norm,
      }, `${data}: HellaSwag metrics vs the float64 reference`);
    }
  });
});
