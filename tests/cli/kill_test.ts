/**
 * The commands that write an output folder — prune, profile, sweep — killed with SIGKILL at random moments (fixed
 * seed) on tiny inputs: `--out` then holds nothing or the complete output (the file list of a full run, every JSON
 * file parseable); the only other thing beside it is a temporary of the killed process, which the next run with the
 * same `--out` removes (and nothing else that looks like one); that run succeeds (or, when the killed run had finished, is refused and leaves the output
 * as it was); and the input checkpoint's bytes never change.
 */
import assert from "node:assert/strict";
import { mulberry32 } from "../../mod.ts";
import { fixtureDir } from "../_golden.ts";
import { MAIN } from "./_cli.ts";

const BYTES = new URL("../fixtures/eval/byte-tokenizer.json", import.meta.url).pathname;
const KILLS = 3;
const WASM = ["--backend", "wasm", "--threads", "1", "--quiet"];

function spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), { args: ["run", "-A", MAIN, ...args], stdout: "null", stderr: "piped" })
    .spawn();
}

async function finish(child: Deno.ChildProcess): Promise<{ code: number; stderr: string }> {
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

async function hashes(dir: string): Promise<Record<string, string>> {
  const h: Record<string, string> = {};
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile) continue;
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}/${e.name}`)));
    h[e.name] = Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  return h;
}

const names = async (dir: string) => (await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).sort();

/** `out` holds every file of a full run and each JSON file parses. */
async function assertComplete(out: string, files: string[], what: string): Promise<void> {
  assert.deepEqual(await names(out), files, `${what}: the complete file list`);
  for (const f of files.filter((f) => f.endsWith(".json"))) JSON.parse(await Deno.readTextFile(`${out}/${f}`));
}

interface Case {
  name: string;
  /** The input checkpoint (its bytes must not change). */
  model: string;
  args: (out: string, scratch: string) => string[];
}

const CASES: Case[] = [
  {
    name: "prune",
    model: fixtureDir("mamba2-groups"),
    args: (
      out,
    ) => ["prune", "--model", fixtureDir("mamba2-groups"), "--out", out, "--ratio", "0.5", "--score", "index"],
  },
  {
    name: "profile",
    model: fixtureDir("mamba2-groups"),
    args: (out) => [
      "profile",
      "--model",
      fixtureDir("mamba2-groups"),
      "--seqlens",
      "8",
      "--warmup",
      "0",
      "--iters",
      "1",
      "--skip-peaks",
      "--out",
      out,
      ...WASM,
    ],
  },
  {
    name: "sweep",
    model: fixtureDir("mamba2-tiny"),
    args: (out, scratch) => [
      "sweep",
      "--model",
      fixtureDir("mamba2-tiny"),
      "--calib",
      `${scratch}/text.txt`,
      "--tokenizer",
      BYTES,
      "--calib-seqs",
      "1",
      "--calib-len",
      "32",
      "--eval-text",
      `${scratch}/text.txt`,
      "--eval-window",
      "32",
      "--eval-windows",
      "1",
      "--ratios",
      "0.5",
      "--scores",
      "energy",
      "--out",
      out,
      ...WASM,
    ],
  },
];

for (const [i, c] of CASES.entries()) {
  Deno.test(`cli ${c.name} killed at ${KILLS} random moments: --out holds nothing or everything; a rerun cleans up`, async () => {
    const scratch = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${scratch}/text.txt`, "The quick brown fox jumps over the lazy dog. ".repeat(20));
      const input = await hashes(c.model);
      // A full run: its duration spreads the kills, its files are the complete output.
      await Deno.mkdir(`${scratch}/full`);
      const t0 = performance.now();
      const full = await finish(spawn(c.args(`${scratch}/full/out`, scratch)));
      const duration = performance.now() - t0;
      assert.equal(full.code, 0, full.stderr);
      const files = await names(`${scratch}/full/out`);
      assert.ok(files.length >= 3, files.join());
      assert.deepEqual(await names(`${scratch}/full`), ["out"], "a full run leaves no temporary");

      const rand = mulberry32(1234 + i);
      for (let k = 0; k < KILLS; k++) {
        // Past the start-up (nothing written yet) up to a little beyond the full run's end.
        const at = duration * (0.3 + 0.8 * rand());
        const parent = `${scratch}/kill${k}`;
        const out = `${parent}/out`;
        await Deno.mkdir(parent);
        const child = spawn(c.args(out, scratch));
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* already exited */ }
        }, at);
        const killed = await finish(child);
        clearTimeout(timer);
        const what = `${c.name} killed at ${at.toFixed(0)} of ${duration.toFixed(0)} ms (exit ${killed.code})`;

        const temp = new RegExp(`^\\.out\\.tmp-${child.pid}-[0-9a-f]{8}$`);
        const left = await names(parent);
        for (const n of left) assert.ok(n === "out" || temp.test(n), `${what}: unexpected ${n} beside --out`);
        const complete = left.includes("out");
        if (complete) await assertComplete(out, files, what);
        const before = complete ? await hashes(out) : null;
        const tempLeft = left.some((n) => n !== "out");
        console.log(`${what}: ${complete ? "complete output" : "no output"}${tempLeft ? " + a temporary" : ""}`);

        // A kill inside the short write phase is rare at random moments: plant what it leaves (a temporary of the
        // dead process with a partial file), beside the user's own look-alikes, which must survive: a temporary of
        // a live process (pid 1), a name without a pid, and a plain folder.
        const planted = `${parent}/.out.tmp-${child.pid}-0badf00d`;
        await Deno.mkdir(planted);
        await Deno.writeFile(`${planted}/${files[0]}`, new Uint8Array(10));
        const keep = [".out.tmp-1-0badf00d", "out.tmp-0badf00d", ".out.tmp-mine"];
        for (const n of keep) await Deno.mkdir(`${parent}/${n}`);

        const again = await finish(spawn(c.args(out, scratch)));
        if (complete) {
          // A complete output is never overwritten: refused, and the output stays as it was.
          assert.equal(again.code, 2, `${what}: rerun over a complete output: ${again.stderr}`);
          assert.match(again.stderr, /already (exists|holds)/);
          assert.deepEqual(await hashes(out), before);
        } else {
          assert.equal(again.code, 0, `${what}: rerun: ${again.stderr}`);
          await assertComplete(out, files, `${what}, rerun`);
        }
        assert.deepEqual(
          await names(parent),
          [...keep, "out"].sort(),
          `${what}: the rerun removed the killed run's temporaries and nothing else`,
        );
        assert.match(again.stderr, /0badf00d, left by an interrupted run/);
      }
      assert.deepEqual(await hashes(c.model), input, "the input checkpoint is unchanged");
    } finally {
      await Deno.remove(scratch, { recursive: true });
    }
  });
}
