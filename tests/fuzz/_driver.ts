/**
 * Drives fuzz cases in a worker with a watchdog: a case showing no sign of life for `HANG_MS` is reported as a
 * hang, the worker is terminated and a fresh one goes on with the next case. Used by the test (fixed seed) and by
 * `deno task fuzz` (tests/fuzz/run.ts).
 */
import { type CaseResult, HANG_MS } from "./_harness.ts";
import type { WorkerRequest } from "./_worker.ts";

/** One finished case: which one it was, and what it did. */
export interface Done extends CaseResult {
  kind: string;
  index: number;
  mutation: string;
  via: string;
  expect: string;
}

/** What a run did: every case's result, and the cases that hung. */
export interface RunResult {
  done: Done[];
  hung: { kind: string; index: number }[];
  ms: number;
}

type Plan = WorkerRequest["plan"];

/** One worker over `plan`; resolves with the case it hung on, or null when all ran. */
function runWorker(
  seed: number,
  plan: Plan,
  done: Done[],
  onDone: ((d: Done) => void) | undefined,
  hangMs: number,
): Promise<{ kind: string; index: number } | null> {
  const worker = new Worker(new URL("./_worker.ts", import.meta.url), { type: "module" });
  let current: { kind: string; index: number } | null = null;
  let lastSign = performance.now();
  return new Promise((resolve, reject) => {
    const finish = (hung: { kind: string; index: number } | null) => {
      clearInterval(timer);
      worker.terminate();
      resolve(hung);
    };
    const timer = setInterval(() => {
      const quiet = performance.now() - lastSign;
      // Between cases (or before the first) nothing is in flight: only a long stall of the worker itself counts.
      if (current && quiet > hangMs) finish(current);
      else if (!current && quiet > 3 * hangMs) finish({ kind: "(worker, between cases)", index: -1 });
    }, 200);
    worker.onmessage = (ev) => {
      lastSign = performance.now();
      const m = ev.data;
      if (m.t === "start") current = { kind: m.kind, index: m.index };
      else if (m.t === "done") {
        current = null;
        done.push(m);
        onDone?.(m);
      } else if (m.t === "end") finish(null);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      clearInterval(timer);
      worker.terminate();
      reject(new Error(`fuzz worker failed during ${JSON.stringify(current)}: ${e.message}`));
    };
    worker.postMessage({ seed, plan } satisfies WorkerRequest);
  });
}

/** Runs `plan` under `seed`; `onDone` sees each case as it finishes. */
export async function runPlan(
  seed: number,
  plan: Plan,
  onDone?: (d: Done) => void,
  hangMs = HANG_MS,
): Promise<RunResult> {
  const t0 = performance.now();
  const done: Done[] = [];
  const hung: RunResult["hung"] = [];
  let rest = plan.filter((p) => p.count > 0);
  while (rest.length > 0) {
    const h = await runWorker(seed, rest, done, onDone, hangMs);
    if (!h) break;
    hung.push(h);
    if (h.index < 0) break; // the worker itself stalled: nothing to resume from
    // Go on after the hung case.
    const i = rest.findIndex((p) => p.kind === h.kind && h.index >= p.start && h.index < p.start + p.count);
    const p = rest[i];
    rest = [{ kind: p.kind, start: h.index + 1, count: p.start + p.count - h.index - 1 }, ...rest.slice(i + 1)]
      .filter((q) => q.count > 0);
  }
  return { done, hung, ms: performance.now() - t0 };
}

/** The failure report of a run: one line per broken case, with what replays it. */
export function describeFailures(seed: number, r: RunResult, limit = 40): string[] {
  const lines: string[] = [];
  for (const h of r.hung) {
    lines.push(
      `HANG: seed=${seed} kind=${h.kind} case=${h.index} showed no sign of life for ${HANG_MS} ms ` +
        `(replay: deno task fuzz --seed ${seed} --kind ${h.kind} --case ${h.index})`,
    );
  }
  const bad = r.done.filter((d) => d.violations.length > 0);
  for (const d of bad.slice(0, limit)) {
    lines.push(
      `seed=${seed} kind=${d.kind} case=${d.index} via=${d.via} mutation=${d.mutation}\n    ` +
        d.violations.map((v) => `${classify(d, v)}: ${v}`).join("\n    ") +
        `\n    (replay: deno task fuzz --seed ${seed} --kind ${d.kind} --case ${d.index})`,
    );
  }
  if (bad.length > limit) lines.push(`… and ${bad.length - limit} more failing cases`);
  return lines;
}

/**
 * Which issue-14 fix a violation waits for — "(a) paths": shard names and dirSource; "(b) safetensors": the strict
 * format; "(b) NaN": non-finite weights; "(b) ids": token ids before Int32; "(b) config": unhonoured keys — or
 * "no fix yet" for what none of them covers.
 */
export function classify(d: Done, violation: string): string {
  if (violation.includes("[needs (a)]")) return "(a) paths";
  if (violation.includes("[needs (b) NaN]")) return "(b) NaN";
  const nan = /:= (NaN|-?Infinity)/.test(d.mutation);
  const mustRefuse = violation.startsWith("loaded and ran, but must be refused");
  const logit = violation.startsWith("loaded, but logit");
  if (d.kind === "ids" && (mustRefuse || violation.startsWith("message names none"))) return "(b) ids";
  if ((d.kind === "shard-index" || d.kind === "dir") && (mustRefuse || violation.startsWith("message names none"))) {
    return "(a) paths";
  }
  if (d.kind.startsWith("safetensors") && (mustRefuse || logit)) return nan ? "(b) NaN" : "(b) safetensors";
  if (d.kind === "config" && mustRefuse && d.mutation.includes("hidden_act")) return "(b) config";
  return "no fix yet";
}

/** Violations counted by {@link classify}. */
export function classCounts(r: RunResult): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const d of r.done) {
    for (const v of d.violations) {
      const c = classify(d, v);
      counts[c] = (counts[c] ?? 0) + 1;
    }
  }
  if (r.hung.length > 0) counts["hang"] = r.hung.length;
  return counts;
}
