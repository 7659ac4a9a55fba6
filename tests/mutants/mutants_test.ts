/**
 * The mutation table stays usable without running it (that is `deno task mutants`, minutes): names unique, every
 * snippet occurs exactly once in the current tree and changes it, every test file it names exists.
 */
import assert from "node:assert/strict";
import { applyMutant, occurrences } from "./_mutant.ts";
import { MUTANTS } from "./mutants.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("mutants: the table is well formed and every snippet matches the tree exactly once", async () => {
  assert.ok(MUTANTS.length >= 10);
  const names = MUTANTS.map((m) => m.name);
  assert.equal(new Set(names).size, names.length, "mutant names are unique");
  for (const m of MUTANTS) {
    assert.match(m.name, /^[a-z0-9-]+$/, m.name);
    assert.ok(m.why.length > 10 && m.killedBy.length > 0, m.name);
    assert.notEqual(m.find, m.replace, m.name);
    const text = await Deno.readTextFile(new URL(m.file, ROOT));
    assert.equal(occurrences(text, m.find), 1, `${m.name}: snippet in ${m.file}`);
    assert.notEqual(applyMutant(m, text), text, m.name);
    for (const t of m.killedBy) {
      assert.match(t, /^tests\/.*_test\.ts$/, `${m.name}: ${t}`);
      assert.ok((await Deno.stat(new URL(t, ROOT))).isFile, `${m.name}: ${t} exists`);
    }
  }
});

Deno.test("mutants: a snippet that is missing or ambiguous stops the run, naming the mutant and the file", () => {
  const m = { name: "x", file: "f.ts", find: "a = 1;", replace: "a = 2;", why: "example defect", killedBy: [] };
  assert.equal(applyMutant(m, "let a = 1;"), "let a = 2;");
  assert.throws(() => applyMutant(m, "let b = 1;"), /mutant x: its snippet occurs 0 times in f\.ts/);
  assert.throws(() => applyMutant(m, "a = 1; a = 1;"), /occurs 2 times in f\.ts/);
  assert.equal(occurrences("aaaa", "aa"), 2);
  // `$&` in a replacement is literal text, not a back-reference.
  assert.equal(applyMutant({ ...m, replace: "a = '$&';" }, "a = 1;"), "a = '$&';");
});
