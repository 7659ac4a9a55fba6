/**
 * JSR readiness of the public surface (every entry point of deno.json `exports`: mod.ts and its subpaths): every
 * export is documented with an example that `deno test --doc` runs, and `deno publish --dry-run` passes without
 * slow types.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
/** The package's entry points: subpath → file, from deno.json `exports`. */
const ENTRIES: Record<string, string> = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).exports;

/** Runs `deno <args>` in the repository root without colours; returns the exit code and the combined output. */
async function deno(args: string[]): Promise<{ code: number; stdout: string; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  return { code, stdout: out, output: out + new TextDecoder().decode(stderr) };
}

/** The parts of `deno doc --json` this test reads. */
interface DocJson {
  nodes: Record<string, { symbols?: DocSymbol[] }>;
}
interface DocSymbol {
  name: string;
  declarations: { location?: { filename?: string }; jsDoc?: { tags?: { kind: string; doc?: string }[] } }[];
}

/** Whether a fenced block in an @example's text is run by `deno test --doc` (a ts/js block not marked ignore). */
function hasCheckedBlock(example: string): boolean {
  return [...example.matchAll(/^\s*```([^\n]*)$/gm)].some((m, i) => {
    if (i % 2 === 1) return false; // closing fence
    const words = m[1].trim().split(/\s+/);
    return ["ts", "typescript", "js", "javascript", "tsx", "jsx"].includes(words[0]) && !words.includes("ignore");
  });
}

for (const [subpath, file] of Object.entries(ENTRIES)) {
  Deno.test(`every export of ${file} (${subpath}) has JSDoc with an @example that deno test --doc runs`, async () => {
    const { code, stdout, output } = await deno(["doc", "--json", file]);
    assert.equal(code, 0, output);
    const doc = JSON.parse(stdout) as DocJson;
    const symbols = doc.nodes[new URL(file, ROOT).href]?.symbols ?? [];
    // mod.ts is the whole runtime; a subpath has at least one export.
    const least = subpath === "." ? 50 : 0;
    assert.ok(symbols.length > least, `deno doc listed only ${symbols.length} exports of ${file}`);

    const relative = (f: string | undefined) => (f ?? "?").replace(ROOT.href, "");
    const missing: string[] = [];
    const unchecked: string[] = [];
    for (const symbol of symbols) {
      const examples = symbol.declarations.flatMap((d) =>
        (d.jsDoc?.tags ?? []).filter((t) => t.kind === "example").map((t) => t.doc ?? "")
      );
      const where = `${symbol.name} (${relative(symbol.declarations[0]?.location?.filename)})`;
      if (examples.length === 0) missing.push(where);
      else if (!examples.some(hasCheckedBlock)) unchecked.push(where);
    }
    const problems = [
      missing.length > 0
        ? `${missing.length} export(s) of ${file} without an @example:\n  ${missing.join("\n  ")}`
        : "",
      unchecked.length > 0
        ? `${unchecked.length} export(s) whose @example has no \`\`\`ts block that deno test --doc runs (all marked ` +
          `ignore, or not fenced):\n  ${unchecked.join("\n  ")}`
        : "",
    ].filter(Boolean);
    assert.equal(problems.length, 0, problems.join("\n"));
  });
}

Deno.test("deno publish --dry-run passes with no slow types", async () => {
  const { code, output } = await deno(["publish", "--dry-run", "--allow-dirty"]);
  assert.equal(code, 0, `deno publish --dry-run failed:\n${output}`);
  assert.match(output, /Checking for slow types in the public API\.\.\./, output);
  assert.doesNotMatch(output, /errors for slow types|--allow-slow-types/, output);
  assert.doesNotMatch(output, /^(error|warning)\[/m, output);
  assert.match(output, /Simulating publish of @perfmamba\/perfmamba@\d+\.\d+\.\d+/, output);
  assert.match(output, /Success Dry run complete/, output);
});
