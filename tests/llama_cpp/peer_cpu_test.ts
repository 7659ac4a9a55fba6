/**
 * The CPU peer harness (tests/llama_cpp/peer_cpu.ts): its pure parts — summaries, the llama.cpp bench runner's
 * replies, the markdown table, the flags — against hand-computed values; and, where node-llama-cpp is installed in
 * .llama-cpp/ (tests/llama_cpp/install.sh), one run end to end at a tiny shape (1 repetition, both architectures,
 * F32 / Q8_0 / Q4_0, 1 thread), its printed table checked against its JSON. Skipped, saying so, otherwise.
 */
import assert from "node:assert/strict";
import { formatSummary, parseRunnerRun, type PeerRow, peerRow, peerTable, runRates, summarize } from "./peer_table.ts";
import { LLAMA_DIR, parsePeerArgs } from "./peer_cpu.ts";

Deno.test("peer harness: summarize gives the median and range; bad input is refused", () => {
  assert.deepEqual(summarize([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(summarize([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, n: 4 });
  assert.deepEqual(summarize([7]), { median: 7, min: 7, max: 7, n: 1 });
  assert.throws(() => summarize([]), /need finite values/);
  assert.throws(() => summarize([1, NaN]), /need finite values/);
});

Deno.test("peer harness: a run's rates and the runner's reply lines", () => {
  // 512 tokens in 2 s = 256 tok/s; decode steps of 10, 20, 30 ms: 20 ms/token.
  assert.deepEqual(runRates({ prefillMs: 2000, decodeMs: [10, 20, 30] }, 512), {
    prefillTokS: 256,
    decodeMsPerToken: 20,
  });
  assert.deepEqual(parseRunnerRun('{"ok":true,"prefillMs":12.5,"decodeMs":[1,2]}', 2), {
    prefillMs: 12.5,
    decodeMs: [1, 2],
  });
  assert.throws(() => parseRunnerRun('{"ok":false,"error":"no model"}', 2), /failed: no model/);
  assert.throws(() => parseRunnerRun("llama.cpp says hello", 2), /not a JSON line: llama.cpp says hello/);
  assert.throws(() => parseRunnerRun('{"ok":true,"prefillMs":0,"decodeMs":[1,2]}', 2), /no positive prefillMs/);
  assert.throws(() => parseRunnerRun('{"ok":true,"prefillMs":1,"decodeMs":[1]}', 2), /expected 2 positive decodeMs/);
  assert.throws(() => parseRunnerRun('{"ok":true,"prefillMs":1,"decodeMs":[1,-2]}', 2), /expected 2 positive/);
});

Deno.test("peer harness: the markdown table, medians with min–max and the speed ratios", () => {
  const row = peerRow(
    { model: "m", format: "Q8_0", threads: 2, oursRanAs: "f32 (dequantised Q8_0)" },
    100,
    [{ prefillMs: 1000, decodeMs: [4] }, { prefillMs: 500, decodeMs: [2] }, { prefillMs: 250, decodeMs: [3] }],
    [{ prefillMs: 200, decodeMs: [6, 6] }, { prefillMs: 400, decodeMs: [8, 8] }, { prefillMs: 100, decodeMs: [5, 7] }],
  );
  // Ours: 100, 200, 400 tok/s → 200 (100–400); 4, 2, 3 ms → 3 (2–4). llama.cpp: 500, 250, 1000 → 500 (250–1000);
  // 6, 8, 6 ms → 6 (6–8). Ratios: prefill 200 / 500 = 0.40×; decode 6 / 3 = 2.00× (ours faster).
  assert.deepEqual(row.ours.prefillTokS, { median: 200, min: 100, max: 400, n: 3 });
  assert.deepEqual(row.llama.decodeMs, { median: 6, min: 6, max: 8, n: 3 });
  assert.equal(formatSummary(row.ours.decodeMs, 2), "3.00 (2.00–4.00)");
  assert.equal(formatSummary({ median: 5, min: 5, max: 5, n: 1 }, 1), "5.0");
  assert.deepEqual(peerTable([row], 100).split("\n"), [
    "| model | format | ours ran | threads | prefill L100 tok/s ours | llama.cpp | decode ms/token ours | llama.cpp | " +
    "prefill ratio | decode ratio |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    "| m | Q8_0 | f32 (dequantised Q8_0) | 2 | 200 (100–400) | 500 (250–1000) | 3.00 (2.00–4.00) | 6.00 (6.00–8.00) | " +
    "0.40× | 2.00× |",
  ]);
});

Deno.test("peer harness: flags, defaults and clear errors", () => {
  const o = parsePeerArgs([]);
  assert.deepEqual(
    [o.models, o.size, o.formats, o.threads, o.prefill, o.decode, o.reps],
    [["mamba1", "mamba2", "trained"], "130m", ["f32", "q8_0", "q4_0"], [1, 2], 512, 64, 5],
  );
  assert.deepEqual(parsePeerArgs(["--threads", "2", "--formats", "q4_0", "--reps", "1"]).threads, [2]);
  assert.throws(() => parsePeerArgs(["--formats", "q4_1"]), /--formats: "q4_1" is not one of f32, q8_0, q4_0/);
  assert.throws(() => parsePeerArgs(["--threads", "0"]), /--threads: 0 is not a whole number in \[1, 64\]/);
  assert.throws(() => parsePeerArgs(["--prefill", "1.5"]), /--prefill: 1.5/);
  assert.throws(() => parsePeerArgs(["--bogus"]), /bogus/);
  assert.deepEqual(parsePeerArgs([]).quantPaths, ["int8"]); // the WASM backend's default
  // "integer" (the old name of the 16-bit path) is int16.
  assert.deepEqual(parsePeerArgs(["--quant-paths", "integer,exact"]).quantPaths, ["int16", "exact"]);
  assert.deepEqual(parsePeerArgs(["--quant-paths", "int8,int16"]).quantPaths, ["int8", "int16"]);
  assert.throws(
    () => parsePeerArgs(["--quant-paths", "int4"]),
    /--quant-paths: "int4" is not one of int16 \(or integer\), int8, exact/,
  );
});

/** Why the end-to-end run is skipped here, or null. */
function e2eSkip(): string | null {
  try {
    Deno.statSync(`${LLAMA_DIR}/node_modules/node-llama-cpp/package.json`);
  } catch {
    return `skipped: node-llama-cpp is not installed in ${LLAMA_DIR} (run tests/llama_cpp/install.sh)`;
  }
  try {
    if (!new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync().success) {
      return "skipped: `node --version` failed";
    }
  } catch {
    return "skipped: `node` is not on the PATH";
  }
  return null;
}

const skip = e2eSkip();

Deno.test({
  name: `peer harness end to end at a tiny shape, 1 repetition: the table equals its JSON${skip ? ` (${skip})` : ""}`,
  ignore: skip !== null,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "perfmamba-peer-test-" });
    try {
      const json = `${tmp}/peer.json`;
      const script = new URL("./peer_cpu.ts", import.meta.url).pathname;
      const args = ["run", "-A", script, "--models", "mamba1,mamba2", "--dims", "d_model=64,n_layer=2,vocab=256"];
      args.push("--prefill", "8", "--decode", "2", "--reps", "1", "--warmup", "0", "--threads", "1", "--json", json);
      const r = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).output();
      const out = new TextDecoder().decode(r.stdout);
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
      const report = JSON.parse(await Deno.readTextFile(json)) as { rows: PeerRow[] };
      assert.deepEqual(
        report.rows.map((row) => `${row.model.split(" ")[0]} ${row.format} ${row.threads} ${row.oursRanAs}`),
        [
          "mamba1 F32 1 f32",
          "mamba1 Q8_0 1 q8_0 int8",
          "mamba1 Q4_0 1 q4_0 int8",
          "mamba2 F32 1 f32",
          "mamba2 Q8_0 1 q8_0 int8",
          "mamba2 Q4_0 1 q4_0 int8",
        ],
      );
      for (const row of report.rows) {
        for (const side of [row.ours, row.llama]) {
          assert.equal(side.prefillTokS.n, 1);
          assert.ok(side.prefillTokS.median > 0 && side.decodeMs.median > 0, JSON.stringify(row));
        }
      }
      // The printed table is the JSON's rows through peerTable.
      const table = out.split("\n").filter((l) => l.startsWith("|"));
      assert.deepEqual(table, peerTable(report.rows, 8).split("\n"));
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
