/**
 * The import rules of ARCHITECTURE.md, checked on the project's own source: which room may import which, no import
 * cycle outside tests/, and a platform-neutral runtime (no `Deno.*`, no `node:` imports). Imports are read with
 * TypeScript's own pre-processor (comments and JSDoc examples are not imports).
 */

import assert from "node:assert/strict";
import ts from "typescript";
import { ALLOWED, checkImports, findCycles, type ImportGraph, roomOf } from "./_architecture.ts";

const ROOT = new URL("../", import.meta.url);
const SKIP_DIRS = new Set(["node_modules", "npm", "out", "dist", "fixtures", ".git", ".device"]);
const ROOMS = ["runtime", "kernels", "wasm", "cli", "examples", "tests"];

/** Repository-relative paths of every .ts file of the given rooms, plus the root's .ts files. */
async function sourceFiles(): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}${e.name}`;
      if (e.isDirectory && !SKIP_DIRS.has(e.name)) await walk(`${path}/`);
      else if (e.isFile && e.name.endsWith(".ts")) files.push(path);
    }
  };
  for await (const e of Deno.readDir(ROOT)) if (e.isFile && e.name.endsWith(".ts")) files.push(e.name);
  for (const room of ROOMS) await walk(`${room}/`);
  return files.sort();
}

/** Resolves a relative specifier of `from` to a repository-relative path (AssemblyScript omits ".ts"). */
function resolve(from: string, specifier: string): string {
  const url = new URL(specifier, new URL(from, "file:///r/"));
  let path = url.pathname.slice("/r/".length);
  if (!/\.[cm]?[jt]sx?$/.test(path)) path += ".ts";
  return path;
}

interface Parsed {
  graph: ImportGraph;
  /** Non-relative specifiers by file (npm packages, `node:` built-ins, URLs). */
  bare: Map<string, string[]>;
  /** Files using the `Deno` global in code. */
  denoUse: Map<string, number[]>;
}

async function parse(files: string[]): Promise<Parsed> {
  const graph: ImportGraph = new Map(), bare = new Map<string, string[]>(), denoUse = new Map<string, number[]>();
  for (const file of files) {
    const text = await Deno.readTextFile(new URL(file, ROOT));
    const info = ts.preProcessFile(text, true, true);
    const specs = info.importedFiles.map((f) => f.fileName);
    graph.set(file, specs.filter((s) => s.startsWith(".")).map((s) => resolve(file, s)));
    bare.set(file, specs.filter((s) => !s.startsWith(".")));
    const lines: number[] = [];
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
    const visit = (node: ts.Node) => {
      // Values only (`Deno.readFile(...)`); types such as `Deno.Command` in annotations cost nothing at run time.
      if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "Deno") {
        lines.push(source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    if (lines.length) denoUse.set(file, lines);
  }
  return { graph, bare, denoUse };
}

/** The package's entry points from deno.json `exports`, repository-relative. */
async function publicFiles(): Promise<Set<string>> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const exports: Record<string, string> = typeof config.exports === "string" ? { ".": config.exports } : config.exports;
  return new Set(Object.values(exports).map((p) => p.replace(/^\.\//, "")));
}

const files = await sourceFiles();
const parsed = await parse(files);

Deno.test("architecture: every room imports only what ARCHITECTURE.md allows, and no cycle outside tests/", async () => {
  assert.ok(files.length > 80, `found only ${files.length} source files`);
  for (const room of ["runtime", "kernels", "wasm", "cli", "examples"]) {
    assert.ok(files.some((f) => roomOf(f) === room), `no files found in ${room}/`);
  }
  const violations = checkImports(parsed.graph, await publicFiles());
  assert.deepEqual(violations.map((v) => v.message), []);
});

Deno.test("architecture: runtime/ is platform-neutral (no Deno.*, no node: imports); kernels/ and wasm/ use no Deno.*", () => {
  const problems: string[] = [];
  for (const [file, specs] of parsed.bare) {
    const room = roomOf(file);
    if (room === "runtime") {
      for (const s of specs) if (s.startsWith("node:")) problems.push(`${file} imports ${s}`);
    }
  }
  for (const [file, lines] of parsed.denoUse) {
    const room = roomOf(file);
    // Build scripts run in Deno by design; they are not part of the package.
    if (file.endsWith("/build.ts")) continue;
    if (room === "runtime" || room === "kernels" || room === "wasm") {
      problems.push(`${file} uses Deno.* (line ${lines.join(", ")})`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("architecture: the checker itself names both files of a forbidden arrow and every file of a cycle", () => {
  // A planted graph: runtime reaching into a backend, the CLI into the runtime, and a cycle inside wasm/.
  const graph: ImportGraph = new Map([
    ["runtime/model.ts", ["runtime/backend.ts", "kernels/webgpu_backend.ts"]],
    ["runtime/backend.ts", []],
    ["kernels/webgpu_backend.ts", ["runtime/backend.ts"]],
    ["wasm/backend.ts", ["wasm/bench.ts", "runtime/backend.ts"]],
    ["wasm/bench.ts", ["wasm/backend.ts"]],
    ["cli/main.ts", ["mod.ts", "runtime/model.ts"]],
    ["mod.ts", ["runtime/model.ts"]],
    ["tests/a_test.ts", ["tests/b.ts", "cli/main.ts"]],
    ["tests/b.ts", ["tests/a_test.ts"]], // cycles among tests are allowed
  ]);
  const messages = checkImports(graph, new Set(["mod.ts"])).map((v) => v.message);
  assert.deepEqual(messages, [
    "runtime/model.ts imports kernels/webgpu_backend.ts: runtime may import only itself",
    "cli/main.ts imports runtime/model.ts: cli may import the package's entry points (deno.json exports)",
    "import cycle: wasm/backend.ts → wasm/bench.ts → wasm/backend.ts",
  ]);
  // A longer cycle across rooms is reported once, as a path.
  const ring: ImportGraph = new Map([
    ["kernels/a.ts", ["kernels/b.ts"]],
    ["kernels/b.ts", ["kernels/c.ts"]],
    ["kernels/c.ts", ["kernels/a.ts", "kernels/b.ts"]],
  ]);
  assert.deepEqual(findCycles(ring), [["kernels/a.ts", "kernels/b.ts", "kernels/c.ts"]]);
  // Product code importing tests/ is forbidden too, and a new top-level room must be given rules.
  const odd: ImportGraph = new Map([["runtime/x.ts", ["tests/_golden.ts"]], ["scripts/y.ts", []]]);
  assert.deepEqual(checkImports(odd, new Set()).map((v) => v.message), [
    "runtime/x.ts imports tests/_golden.ts: product code may not import tests/",
    'scripts/y.ts: room "scripts" has no import rules',
  ]);
  assert.ok(Object.keys(ALLOWED).includes("runtime"));
});
