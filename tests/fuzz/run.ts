/**
 * The long fuzz run: `deno task fuzz [--cases N] [--seed S] [--kind K] [--case I] [--out DIR]`.
 *
 * Prints the seed first (random unless given), runs N cases spread over the kinds as tests/fuzz/fuzz_test.ts
 * does, and writes each failing case's files and a replay line to DIR (default `fuzz-failures/`). `--kind K --case
 * I` replays one case and prints its outcome; `--json FILE` writes every failing case's result.
 */
import { parseArgs } from "node:util";
import { KIND_NAMES, KINDS } from "./_cases.ts";
import { describeFailures, runPlan } from "./_driver.ts";
import { Rng } from "./_rng.ts";
import { planFor } from "./_plan.ts";

const opt = { type: "string" } as const;
const { values: args } = parseArgs({
  args: Deno.args,
  options: { cases: opt, seed: opt, kind: opt, case: opt, out: opt, json: opt },
  strict: true,
});
const seed = args.seed !== undefined ? Number(args.seed) >>> 0 : crypto.getRandomValues(new Uint32Array(1))[0];
const out = args.out ?? "fuzz-failures";
console.log(`fuzz seed ${seed}`);

let plan;
if (args.kind !== undefined) {
  if (!KIND_NAMES.includes(args.kind)) throw new Error(`--kind must be one of ${KIND_NAMES.join(", ")}`);
  const start = Number(args.case ?? 0);
  plan = [{ kind: args.kind, start, count: args.case !== undefined ? 1 : Number(args.cases ?? 1000) }];
} else {
  plan = planFor(Number(args.cases ?? 200000));
}
console.log(plan.map((p) => `${p.kind} ${p.count}`).join(", "));

let n = 0;
const r = await runPlan(seed, plan, (d) => {
  if (++n % 5000 === 0) console.log(`${n} cases…`);
  if (args.case !== undefined) console.log(JSON.stringify(d, null, 2));
});
const failing = r.done.filter((d) => d.violations.length > 0);
const broken = [...failing.map((d) => ({ kind: d.kind, index: d.index })), ...r.hung];
if (broken.length > 0) {
  Deno.mkdirSync(out, { recursive: true });
  for (const { kind, index } of broken.slice(0, 200)) {
    if (!Object.hasOwn(KINDS, kind)) continue; // "(worker, between cases)": a stalled worker, no case to save
    const c = KINDS[kind].make(Rng.forCase(seed, KIND_NAMES.indexOf(kind), index));
    const dir = `${out}/seed${seed}-${kind}-${index}`;
    Deno.mkdirSync(dir, { recursive: true });
    for (const [name, v] of Object.entries(c.files)) {
      const safe = encodeURIComponent(name);
      if (typeof v === "string") Deno.writeTextFileSync(`${dir}/${safe}`, v);
      else Deno.writeFileSync(`${dir}/${safe}`, v);
    }
    if (c.tokenizer) Deno.writeFileSync(`${dir}/tokenizer.json`, c.tokenizer.bytes);
    Deno.writeTextFileSync(
      `${dir}/case.json`,
      JSON.stringify(
        { seed, kind, index, mutation: c.mutation, via: c.via, expect: c.expect, names: c.names },
        null,
        2,
      ),
    );
  }
}
console.log(describeFailures(seed, r, 100).join("\n"));
if (args.json) Deno.writeTextFileSync(args.json, JSON.stringify({ seed, hung: r.hung, failing }, null, 1));
const worst = r.done.reduce((a, d) => (d.peakBytes / d.inputBytes > a.peakBytes / a.inputBytes ? d : a));
const slowest = r.done.reduce((a, d) => (d.ms > a.ms ? d : a));
console.log(
  `largest backend peak per input byte: ${(worst.peakBytes / worst.inputBytes).toFixed(2)} ` +
    `(${worst.kind} case ${worst.index}); slowest case: ${
      slowest.ms.toFixed(0)
    } ms (${slowest.kind} case ${slowest.index})`,
);
console.log(
  `${r.done.length} cases in ${(r.ms / 1000).toFixed(1)} s: ${r.done.filter((d) => d.outcome === "loaded").length} ` +
    `loaded, ${failing.length} failing, ${r.hung.length} hung` + (broken.length ? `; cases saved under ${out}/` : ""),
);
if (broken.length > 0) Deno.exit(1);
