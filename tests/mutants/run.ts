/**
 * `deno task mutants`: proves the tests bite. For each mutant of tests/mutants/mutants.ts (one deliberate defect in
 * the product), a scratch copy of the repository gets the defect, the mutant's test files run there, and the mutant
 * is killed when they fail. Any survivor (the tests stayed green with the defect in place) fails the task, as does a
 * failing control run (the unmutated copy must pass the same tests, or the suite is broken, not the mutant).
 *
 * The scratch copy (the tracked and untracked-but-not-ignored files of the working tree) lives in a temporary folder
 * with a `shared` link beside it, so tests find `../shared` as they do in the checkout; the user's tree is never
 * written. A snippet that does not occur exactly once stops the run before any test (the table cannot rot silently).
 *
 * Usage: deno run -A tests/mutants/run.ts [--only NAME]... [--list] [--keep]
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { applyMutant, type Mutant } from "./_mutant.ts";
import { MUTANTS } from "./mutants.ts";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
/** A mutant whose tests run longer than this is counted killed (a hang is a failure), and reported so. */
const TIMEOUT_MS = 10 * 60_000;

interface Outcome {
  name: string;
  status: "killed" | "SURVIVED" | "timeout" | "CRASHED";
  seconds: number;
  why: string;
}

function parseArgs(argv: string[]): { only: string[]; list: boolean; keep: boolean } {
  const only: string[] = [];
  let list = false, keep = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--only") {
      const v = argv[++i];
      if (!v) throw new Error("--only needs a mutant name");
      only.push(...v.split(","));
    } else if (a === "--list") list = true;
    else if (a === "--keep") keep = true;
    else throw new Error(`unknown argument ${a} (usage: run.ts [--only NAME]... [--list] [--keep])`);
  }
  return { only, list, keep };
}

async function git(args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd: ROOT, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/** Copies the working tree's tracked and untracked-not-ignored files to `dest`. */
async function copyTree(dest: string): Promise<number> {
  const files = (await git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])).split("\0").filter(
    Boolean,
  );
  let n = 0;
  for (const f of new Set(files)) {
    const from = join(ROOT, f);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(from);
    } catch {
      continue; // deleted in the working tree
    }
    if (!info.isFile) continue;
    const to = join(dest, f);
    await Deno.mkdir(dirname(to), { recursive: true });
    await Deno.copyFile(from, to);
    n++;
  }
  return n;
}

/** How one `deno test` run ended. */
type TestRun = "passed" | "failed" | "timeout" | "crashed";

/**
 * Runs `deno test` on these files in the copy. "failed" needs a failed test or an error reported by Deno (a test
 * that failed, a module that did not load); a non-zero exit after every test passed (e.g. the process aborting at
 * exit) is "crashed", run once more before it counts.
 */
async function runTests(repo: string, files: string[], retry = true, log?: string[]): Promise<TestRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--fail-fast", "--no-check", ...files],
    cwd: repo,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, TIMEOUT_MS);
  const out = await child.output();
  clearTimeout(timer);
  if (timedOut) return "timeout";
  if (out.success) return "passed";
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  log?.push(text);
  if (/\|\s*\d+ passed.*\|\s*[1-9]\d* failed/.test(text) || /^error: /m.test(text) || /^ERRORS/m.test(text)) {
    return "failed";
  }
  if (retry) return await runTests(repo, files, false, log);
  console.error(text.split("\n").slice(-15).join("\n"));
  return "crashed";
}

function table(rows: Outcome[]): string {
  const head = ["mutant", "result", "s", "defect"];
  const body = rows.map((r) => [r.name, r.status, r.seconds.toFixed(0), r.why]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => (i === 3 ? 0 : b[i].length))));
  const line = (c: string[]) => c.map((x, i) => (i === 3 ? x : i === 2 ? x.padStart(w[i]) : x.padEnd(w[i]))).join("  ");
  return [line(head), ...body.map(line)].join("\n");
}

async function main(): Promise<number> {
  const { only, list, keep } = parseArgs(Deno.args);
  for (const n of only) {
    if (!MUTANTS.some((m) => m.name === n)) {
      throw new Error(`--only ${n}: no such mutant (known: ${MUTANTS.map((m) => m.name).join(", ")})`);
    }
  }
  const chosen: Mutant[] = only.length ? MUTANTS.filter((m) => only.includes(m.name)) : MUTANTS;
  if (list) {
    for (const m of chosen) console.log(`${m.name}\t${m.file}\t${m.killedBy.join(" ")}\n\t${m.why}`);
    return 0;
  }
  // Every snippet must match before anything runs.
  for (const m of chosen) applyMutant(m, await Deno.readTextFile(join(ROOT, m.file)));

  const scratch = await Deno.makeTempDir({ prefix: "perfmamba-mutants-" });
  const repo = join(scratch, "repo");
  try {
    const n = await copyTree(repo);
    const shared = resolve(ROOT, "..", "shared");
    try {
      await Deno.symlink(await Deno.realPath(shared), join(scratch, "shared"));
    } catch {
      console.error(`note: ${shared} not found; tests needing it skip in the copy as they do here`);
    }
    console.error(`scratch copy: ${repo} (${n} files)`);

    const allTests = [...new Set(chosen.flatMap((m) => m.killedBy))].sort();
    console.error(`control: the unmutated copy must pass ${allTests.join(" ")}`);
    const t0 = performance.now();
    const log: string[] = [];
    const control = await runTests(repo, allTests, true, log);
    console.error(
      `control: ${control} in ${((performance.now() - t0) / 1e3).toFixed(0)} s`,
    );
    if (control !== "passed") {
      console.error(
        (log.at(-1) ?? "").split("\n").filter((l) => /FAILED|failed|error|Error/.test(l)).slice(0, 30).join("\n"),
      );
      console.error("the unmutated copy fails these tests: fix the suite first (no mutant was run)");
      return 1;
    }

    const rows: Outcome[] = [];
    for (const m of chosen) {
      const path = join(repo, m.file);
      const original = await Deno.readTextFile(path);
      await Deno.writeTextFile(path, applyMutant(m, original));
      const t = performance.now();
      let result: TestRun;
      try {
        result = await runTests(repo, m.killedBy);
      } finally {
        await Deno.writeTextFile(path, original);
      }
      const row: Outcome = {
        name: m.name,
        status: ({ passed: "SURVIVED", failed: "killed", timeout: "timeout", crashed: "CRASHED" } as const)[result],
        seconds: (performance.now() - t) / 1e3,
        why: m.why,
      };
      rows.push(row);
      console.error(`${row.status.padEnd(8)} ${m.name} (${row.seconds.toFixed(0)} s)`);
    }
    console.log(table(rows));
    const survivors = rows.filter((r) => r.status === "SURVIVED");
    if (survivors.length) {
      console.log(
        `\n${survivors.length} of ${rows.length} mutants survived: ${survivors.map((r) => r.name).join(", ")}`,
      );
      return 1;
    }
    console.log(`\nall ${rows.length} mutants killed`);
    return 0;
  } finally {
    if (keep) console.error(`kept ${scratch}`);
    else await Deno.remove(scratch, { recursive: true });
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`mutants: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
