/**
 * `perfmamba compare` end to end on WASM at tiny shapes: two profile folders (f32 and q8 weights), a `bench --json`
 * file and a `sweep --speed` folder. The printed and written figures follow from the reports' own samples (medians
 * recomputed here, ratio = B ÷ A, the interval that of compareSeries with the stated seed), runs match by shape,
 * mode, batch and length with the rest listed, and bad input is refused by name with nothing written.
 */
import assert from "node:assert/strict";
import { cli } from "./_cli.ts";
import type { CompareResult } from "../../runtime/compare.ts";
import type { ProfileReport } from "../../runtime/profile_report.ts";
import { stats } from "../../runtime/profiler.ts";
import { assertValidProfile } from "../_profile_checks.ts";

const WASM = ["--backend", "wasm", "--threads", "1"];
const SHAPE = ["--arch", "mamba1", "--dims", "d_model=64,n_layer=2,vocab=256", "--seqlens", "8,16"];
const FAST = ["--warmup", "1", "--iters", "4"];

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

Deno.test("cli compare: profiles, bench --json and sweep --speed compared; figures follow from the samples", async () => {
  const dir = await Deno.makeTempDir({ prefix: "perfmamba-compare-" });
  try {
    const profile = (out: string, ...extra: string[]) =>
      cli("profile", ...SHAPE, ...FAST, ...WASM, "--skip-peaks", "--quiet", "--out", out, ...extra);
    for (const r of [await profile(`${dir}/f32`), await profile(`${dir}/q8`, "--weights", "q8")]) {
      assert.equal(r.code, 0, r.stderr);
    }
    const a = await readJson<ProfileReport>(`${dir}/f32/profile.json`);
    const b = await readJson<ProfileReport>(`${dir}/q8/profile.json`);
    assertValidProfile(a);
    // The host fields: this checkout's commit (none in a copy that is not a checkout), Deno's version, the CPU's
    // logical cores.
    const head = await new Deno.Command("git", {
      args: ["rev-parse", "HEAD"],
      cwd: new URL("../../cli/", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.equal(a.environment.git, head.success ? new TextDecoder().decode(head.stdout).trim() : null);
    assert.deepEqual(a.environment.runtime, { name: "deno", version: Deno.version.deno });
    assert.equal(a.environment.cpu.logicalCores, navigator.hardwareConcurrency);
    assert.equal(a.environment.gpu, null);
    assert.notEqual(a.models[0].fingerprint, b.models[0].fingerprint);

    const c = await cli("compare", `${dir}/f32`, `${dir}/q8`, "--out", `${dir}/cmp`, "--json", `${dir}/cmp.json`);
    assert.equal(c.code, 0, c.stderr);
    const result = await readJson<CompareResult>(`${dir}/cmp/compare.json`);
    assert.deepEqual(result, await readJson<CompareResult>(`${dir}/cmp.json`));
    assert.equal(result.pairs.length, 1);
    const pair = result.pairs[0];
    assert.equal(pair.runs.length, 4);
    assert.deepEqual([pair.unmatchedA, pair.unmatchedB], [[], []]);
    for (const [i, run] of pair.runs.entries()) {
      const ra = a.runs[i], rb = b.runs[i];
      assert.deepEqual([run.key.mode, run.key.seqLen], [ra.mode, ra.seqLen]);
      assert.equal(run.sameFingerprint, false);
      const e = run.endToEnd;
      assert.equal(e.a.median, stats(ra.endToEnd.samples).median);
      assert.equal(e.b.median, stats(rb.endToEnd.samples).median);
      assert.equal(e.ratio, e.b.median / e.a.median);
      assert.deepEqual([e.a.n, e.b.n], [4, 4]);
      assert.ok(e.interval![0] <= e.ratio! && e.ratio! <= e.interval![1], `${e.ratio} in ${e.interval}`);
      assert.equal(e.verdict, e.interval![1] < 1 ? "faster" : e.interval![0] > 1 ? "slower" : "within noise");
      assert.deepEqual(run.components.map((x) => x.name), ra.components.map((x) => x.name));
      for (const comp of run.components) {
        const ca = ra.components.find((x) => x.name === comp.name)!,
          cb = rb.components.find((x) => x.name === comp.name)!;
        assert.equal(comp.a.median, ca.ms.median);
        assert.equal(comp.b.median, cb.ms.median);
      }
    }
    // The table prints every run and the stated test; the page has the ratio chart and one paired chart per run.
    assert.match(c.stdout, /2000 resamples, 95% interval, seed 1/);
    assert.equal(c.stdout.match(/^mamba1 d_model=64 .* (prefill|decode) B1 L(8|16) /gm)?.length, 4);
    const html = await Deno.readTextFile(`${dir}/cmp/compare.html`);
    assert.equal(html.match(/<svg/g)?.length, 5);
    assert.ok(!html.includes("could not be rendered"));
    assert.ok(!/<script/i.test(html));

    // bench --json: the prefill rows match the profile's prefill runs; decode (one step after 16 tokens) and
    // greedy have no partner and are listed, as are the profile's decode runs.
    const bench = await cli(
      "bench",
      ...SHAPE,
      ...FAST,
      ...WASM,
      "--skip-peaks",
      "--decode-tokens",
      "3",
      "--json",
      `${dir}/bench.json`,
    );
    assert.equal(bench.code, 0, bench.stderr);
    const benchJson = await readJson<{ schema: string; rows: { mode: string; seqLen: number; samples: number[] }[] }>(
      `${dir}/bench.json`,
    );
    assert.equal(benchJson.schema, "perfmamba.bench/1");
    const cb = await cli("compare", `${dir}/f32`, `${dir}/bench.json`, "--format", "json");
    assert.equal(cb.code, 0, cb.stderr);
    const rb = JSON.parse(cb.stdout) as CompareResult;
    const pb = rb.pairs[0];
    assert.deepEqual(pb.runs.map((r) => `${r.key.mode} L${r.key.seqLen}`), ["prefill L8", "prefill L16"]);
    assert.deepEqual(pb.unmatchedA.map((k) => `${k.mode} L${k.seqLen}`), ["decode L8", "decode L16"]);
    assert.deepEqual(pb.unmatchedB.map((k) => `${k.mode} L${k.seqLen}`), [
      "decode L1",
      "greedy L1",
      "sampled-step L1",
      "sampled L1",
    ]);
    for (const r of pb.runs) {
      const row = benchJson.rows.find((x) => x.mode === "prefill" && x.seqLen === r.key.seqLen)!;
      assert.equal(r.endToEnd.b.median, stats(row.samples).median);
      assert.deepEqual(r.components, []);
      const profiled = a.runs.find((x) => x.mode === "prefill" && x.seqLen === r.key.seqLen)!;
      assert.equal(r.endToEnd.a.median, stats(profiled.endToEnd.samples).median);
      assert.equal(r.endToEnd.ratio, r.endToEnd.b.median / r.endToEnd.a.median);
    }

    // sweep --speed: the dense points match (same shape), the pruned ones are another shape and are listed.
    const sw = await cli(
      "sweep",
      "--speed",
      ...SHAPE,
      ...FAST,
      ...WASM,
      "--ratios",
      "0.5",
      "--quiet",
      "--out",
      `${dir}/sweep`,
    );
    assert.equal(sw.code, 0, sw.stderr);
    const cs = await cli("compare", `${dir}/f32`, `${dir}/sweep`, "--format", "json");
    assert.equal(cs.code, 0, cs.stderr);
    const ps = (JSON.parse(cs.stdout) as CompareResult).pairs[0];
    assert.deepEqual(ps.runs.map((r) => `${r.key.mode} L${r.key.seqLen} ${r.modelB}`), [
      "prefill L8 mamba1-d_model=64,n_layer=2,vocab=256 r=0",
      "prefill L16 mamba1-d_model=64,n_layer=2,vocab=256 r=0",
    ]);
    assert.deepEqual(ps.unmatchedB.map((k) => `${k.seqLen} ${k.shape.match(/d_state=\d+/)![0]}`), [
      "8 d_state=8",
      "16 d_state=8",
    ]);
    // Three inputs: each against the first.
    const c3 = await cli("compare", `${dir}/f32`, `${dir}/q8`, `${dir}/sweep`, "--format", "json");
    assert.equal(c3.code, 0, c3.stderr);
    assert.deepEqual((JSON.parse(c3.stdout) as CompareResult).pairs.map((p) => [p.a, p.b, p.runs.length]), [
      [0, 1, 4],
      [0, 2, 2],
    ]);

    // Bad input: a named error, exit 1 (content) or 2 (flags), nothing written.
    await Deno.writeTextFile(`${dir}/notes.json`, '{"hello": 1}\n');
    await Deno.writeTextFile(`${dir}/old.json`, JSON.stringify({ ...a, schema: "perfmamba.profile/2" }));
    await Deno.writeTextFile(
      `${dir}/other.json`,
      JSON.stringify({ ...a, runs: a.runs.map((r) => ({ ...r, batch: 2 })) }),
    );
    const cases: [string[], number, RegExp][] = [
      [[`${dir}/f32`, `${dir}/notes.json`], 1, /notes\.json is not a report: no "schema" field/],
      [
        [`${dir}/f32`, `${dir}/old.json`],
        1,
        /different schema versions: .*f32\/profile\.json is perfmamba\.profile\/3, .*old\.json is perfmamba\.profile\/2/,
      ],
      [
        [`${dir}/old.json`, `${dir}/old.json`],
        1,
        /old\.json is perfmamba\.profile\/2; compare reads perfmamba\.profile\/3/,
      ],
      [[`${dir}/f32`, `${dir}/other.json`], 1, /f32 and other\.json have no run in common/],
      [[`${dir}/f32`, `${dir}`], 1, /is not a report folder: it holds none of profile\.json/],
      [[`${dir}/f32`], 2, /give at least two reports/],
      [[`${dir}/f32`, `${dir}/q8`, "--seed", "x"], 2, /--seed/],
      [[`${dir}/f32`, `${dir}/q8`, "--format", "csv"], 2, /--format/],
    ];
    for (const [args, code, message] of cases) {
      const r = await cli("compare", ...args, "--out", `${dir}/never`, "--json", `${dir}/never.json`);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.ok(!(await exists(`${dir}/never`)) && !(await exists(`${dir}/never.json`)), "nothing written");
    }
    // An existing --out is refused before reading anything.
    const again = await cli("compare", `${dir}/f32`, `${dir}/q8`, "--out", `${dir}/cmp`);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
