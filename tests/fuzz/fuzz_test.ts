/**
 * The loader fuzz suite (issue 14): thousands of mutated checkpoints, shard indexes, configs, tokenizers, token
 * ids and checkpoint folders through the real entry points, under a fixed seed. One test per mutation kind, so a
 * failure says which part of the loader broke; each failing case prints its seed, kind, index, mutation, the
 * violated property with the fix it waits for, and the `deno task fuzz` line that replays it.
 *
 * The long run: `deno task fuzz --cases 200000` (random seed, printed) — see tests/fuzz/run.ts.
 */
import { KIND_NAMES, KINDS, SHARED_TOKENIZER } from "./_cases.ts";
import { classCounts, describeFailures, runPlan } from "./_driver.ts";
import { planFor } from "./_plan.ts";
import { Rng } from "./_rng.ts";

/** The normal suite's seed and size. */
const SEED = 14;
const TOTAL = 4480; // 4000 before the gguf-bytes kind; raised so that no other kind gets fewer cases

for (const { kind, count } of planFor(TOTAL)) {
  const shared = kind === "tokenizer-shared";
  const n = shared ? Math.min(count, 5) : count;
  Deno.test({
    name: shared && !SHARED_TOKENIZER.bytes
      ? `fuzz ${kind}: skipped: no shared tokenizer (${SHARED_TOKENIZER.why})`
      : `fuzz ${kind}: ${n} cases, seed ${SEED}`,
    ignore: shared && !SHARED_TOKENIZER.bytes,
    async fn() {
      const r = await runPlan(SEED, [{ kind, start: 0, count: n }]);
      const failing = r.done.filter((d) => d.violations.length > 0);
      const loaded = r.done.filter((d) => d.outcome === "loaded").length;
      if (failing.length > 0 || r.hung.length > 0 || r.done.length !== n) {
        throw new Error(
          `${failing.length} of ${n} ${kind} cases broke a property, ${r.hung.length} hung, ${r.done.length} ran ` +
            `(${loaded} loaded) in ${(r.ms / 1000).toFixed(1)} s; by fix: ${JSON.stringify(classCounts(r))}\n` +
            describeFailures(SEED, r, 25).join("\n"),
        );
      }
    },
  });
}

Deno.test("fuzz cases replay: the same (seed, kind, index) gives the same mutation", () => {
  for (const kind of KIND_NAMES) {
    const k = KIND_NAMES.indexOf(kind);
    for (let i = 0; i < 8; i++) {
      const a = KINDS[kind].make(Rng.forCase(SEED, k, i));
      const b = KINDS[kind].make(Rng.forCase(SEED, k, i));
      if (a.mutation !== b.mutation || JSON.stringify(Object.keys(a.files)) !== JSON.stringify(Object.keys(b.files))) {
        throw new Error(`${kind} case ${i} is not deterministic: ${a.mutation} vs ${b.mutation}`);
      }
    }
  }
});
