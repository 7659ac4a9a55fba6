/**
 * Builds the npm package of mod.ts: `deno task build:npm [--out DIR]` (default `npm/` in the repo root). The
 * project's one build script beside mod.ts; `deno task build` runs the kernel, WASM, npm and demo builds in order.
 *
 * Why esbuild + the TypeScript compiler instead of dnt: `@deno/dnt`, the usual Deno → npm tool, is published only
 * on JSR, which this project's machines and CI cannot reach, while esbuild and typescript are plain npm packages
 * (pinned in deno.json). Nor is much of dnt needed: the runtime uses web-standard globals only (no `Deno.*`, so no
 * shims), its one npm dependency (`fflate`) is bundled, and the package is ESM-only. What is left is two compiler calls:
 * - JavaScript: esbuild bundles mod.ts into one readable (unminified) ES2022 module, `esm/mod.js`, with a source
 *   map, and wasm/node_workers.ts into `esm/node.js` (subpath `./node`: `nodeWorkerFactory` for Node's
 *   worker_threads, the only file importing a `node:` module);
 * - declarations: TypeScript's compiler API type-checks the sources (the build fails on any error) and emits
 *   `types/**\/*.d.ts` mirroring the source tree, with every relative `./x.ts` specifier rewritten to `./x.js` by a
 *   declaration transformer (TypeScript's `rewriteRelativeImportExtensions` rewrites emitted JavaScript only) and
 *   checked to name a shipped `.d.ts`, for any TypeScript ≥ 5.7 consumer (`Uint8Array<ArrayBuffer>` needs 5.7).
 *   Files naming WebGPU types reference `@webgpu/types` (the package's one dependency, types only; Node's and
 *   TypeScript's libs have no WebGPU), those naming `Symbol.dispose` reference the `esnext.disposable` lib.
 *
 * The package also ships the two kernel modules as files (`wasm/kernels_simd.wasm`, `wasm/kernels_threads.wasm`,
 * the bytes of `wasmKernelBytes`) with subpath exports, for edge hosts that precompile imported `.wasm` files
 * (Cloudflare Workers): `selectBackend("wasm", { wasmModule })`. README.md and LICENSE are copied.
 *
 * The package is built in a temporary folder beside DIR and renamed into place, so DIR is never half-written; an
 * existing DIR is replaced only when it is empty or holds a previous build of this package.
 *
 * Usage:
 *   deno run -A build.ts [--out DIR]
 *
 * @module
 */

import * as esbuild from "esbuild";
import ts from "typescript";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { VERSION, wasmKernelBytes, type WasmKernelVariant } from "./mod.ts";
import { denoInfo } from "./examples/browser/build.ts";

/** The repository root. */
const ROOT = fileURLToPath(new URL(".", import.meta.url));

/**
 * The npm name: deno.json's (the JSR name), so `import … from "@perfmamba/perfmamba"` is the same line in Deno
 * (through an import map) and in Node.
 */
export const PACKAGE_NAME = "@perfmamba/perfmamba";

/** Type packages the sources are type-checked against (build time only; Deno's npm cache, locked in deno.lock). */
const BUILD_TYPES = {
  webgpu: "@webgpu/types@0.1.74",
  node: "@types/node@20.19.43",
} as const;

/**
 * npm packages the runtime imports, bundled into esm/mod.js (so the package still has no code dependency): their
 * deno.json import names. `fflate` inflates DEFLATE entries of pytorch_model.bin archives (runtime/pytorch.ts).
 */
const BUNDLED = ["fflate"] as const;

/** The shipped dependency: WebGPU type declarations (no code). */
const WEBGPU_TYPES_RANGE = "^0.1.74";

/** The JavaScript entry points: output name (under esm/) → source. */
const ENTRIES = { mod: "mod.ts", node: "wasm/node_workers.ts" } as const;

/** What {@link buildNpm} wrote. */
export interface BuildResult {
  /** The package folder. */
  outDir: string;
  /** package.json as written. */
  packageJson: Record<string, unknown>;
  /** Files of the package, relative to outDir, sorted. */
  files: string[];
}

/**
 * A node_modules folder of symlinks into Deno's npm cache holding the build-time type packages, so TypeScript
 * resolves them (and @types/node's own `undici-types`) as in any Node project.
 */
async function typesNodeModules(work: string): Promise<string> {
  const dir = join(work, "node_modules");
  // Deno's graph of the type packages (the same lookup the demo build resolves its npm imports with).
  const imports: Record<string, string> = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).imports;
  const specs = [...Object.values(BUILD_TYPES).map((spec) => `npm:${spec}`), ...BUNDLED.map((name) => imports[name])];
  const packages = Object.values((await denoInfo(specs)).npmPackages).filter((p) => p.localPath);
  if (packages.length === 0) throw new Error(`deno info ${specs.join(" ")}: no local path (is DENO_DIR writable?)`);
  for (const { name, localPath } of packages) {
    const link = join(dir, name);
    await Deno.mkdir(dirname(link), { recursive: true });
    await Deno.symlink(localPath!, link).catch((e) => {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    });
  }
  return dir;
}

/** Rewrites relative `.ts` module specifiers (imports, re-exports, `import("…")` types) to `.js`. */
function rewriteSpecifiers(ctx: ts.TransformationContext): (node: ts.SourceFile | ts.Bundle) => ts.SourceFile {
  const f = ctx.factory;
  const fix = (s: ts.StringLiteral): ts.StringLiteral =>
    /^\.\.?\//.test(s.text) && s.text.endsWith(".ts") ? f.createStringLiteral(s.text.slice(0, -3) + ".js") : s;
  const visit = (node: ts.Node): ts.Node => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      return f.updateImportDeclaration(
        node,
        node.modifiers,
        node.importClause,
        fix(node.moduleSpecifier),
        node.attributes,
      );
    }
    if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      return f.updateExportDeclaration(
        node,
        node.modifiers,
        node.isTypeOnly,
        node.exportClause,
        fix(node.moduleSpecifier),
        node.attributes,
      );
    }
    if (
      ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)
    ) {
      return f.updateImportTypeNode(
        node,
        f.updateLiteralTypeNode(node.argument, fix(node.argument.literal)),
        node.attributes,
        node.qualifier,
        node.typeArguments && ts.visitNodes(node.typeArguments, visit, ts.isTypeNode),
        node.isTypeOf,
      );
    }
    return ts.visitEachChild(node, visit, ctx);
  };
  return (node) => {
    if (!ts.isSourceFile(node)) throw new Error("declaration bundles are not used");
    return visit(node) as ts.SourceFile;
  };
}

/** Reference directives a declaration file needs: `@webgpu/types` for GPU* names, the disposable lib. */
function referencesFor(fileName: string, text: string): string[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, false);
  let gpu = false, disposable = false;
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node)) {
      if (/^GPU[A-Z]/.test(node.text)) gpu = true;
      if (node.text === "Disposable" || node.text === "AsyncDisposable") disposable = true;
    }
    if (ts.isPropertyAccessExpression(node) && node.getText(sf).replace(/\s/g, "") === "Symbol.dispose") {
      disposable = true;
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return [
    ...(disposable ? ['/// <reference lib="esnext.disposable" />'] : []),
    ...(gpu ? ['/// <reference types="@webgpu/types" />'] : []),
  ];
}

/**
 * Type-checks the sources and writes their declarations under `outDir`; throws listing every diagnostic. `modules`:
 * the node_modules folder of {@link typesNodeModules}.
 */
async function emitDeclarations(outDir: string, modules: string): Promise<void> {
  const options: ts.CompilerOptions = {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: [
      "lib.es2022.d.ts",
      "lib.esnext.disposable.d.ts",
      "lib.esnext.float16.d.ts",
      "lib.dom.d.ts",
      "lib.dom.iterable.d.ts",
    ],
    types: [],
    allowImportingTsExtensions: true,
    declaration: true,
    emitDeclarationOnly: true,
    rootDir: ROOT,
    outDir,
    newLine: ts.NewLineKind.LineFeed,
    // Resolve through the symlinks of `modules`, so @types/node finds undici-types beside it.
    preserveSymlinks: true,
    // The BUNDLED packages' own declarations (the sources import them by bare name, as deno.json maps them).
    paths: Object.fromEntries(BUNDLED.map((name) => [name, [join(modules, name)]])),
  };
  const roots = [
    ...Object.values(ENTRIES).map((e) => join(ROOT, e)),
    join(modules, "@webgpu/types/dist/index.d.ts"),
    join(modules, "@types/node/index.d.ts"),
  ];
  const program = ts.createProgram(roots, options);
  const written: [string, string][] = [];
  const result = program.emit(undefined, (name, text) => written.push([name, text]), undefined, true, {
    afterDeclarations: [rewriteSpecifiers],
  });
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
  if (diagnostics.length > 0) {
    const host: ts.FormatDiagnosticsHost = {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => ROOT,
      getNewLine: () => "\n",
    };
    throw new Error(`type errors in the sources:\n${ts.formatDiagnostics(diagnostics, host)}`);
  }
  for (const [name, text] of written) {
    if (relative(outDir, name).startsWith("..")) throw new Error(`declaration outside the package: ${name}`);
    const body = text
      // Examples in doc comments import the package by name.
      .replace(/(["'])(?:\.\.?\/)+mod\.ts\1/g, `"${PACKAGE_NAME}"`)
      // The generated constants (base64 kernels, WGSL sources) are typed `string`, not as their 100 KB of literals.
      .replace(/(\bdeclare const \w+) = "(?:[^"\\\n]|\\.){200,}";/g, "$1: string;")
      .replace(/(\breadonly \w+): "(?:[^"\\\n]|\\.){200,}";/g, "$1: string;");
    const refs = referencesFor(name, body);
    await Deno.mkdir(dirname(name), { recursive: true });
    await Deno.writeTextFile(name, refs.length ? `${refs.join("\n")}\n${body}` : body);
  }
}

/** Every relative specifier of every shipped declaration file names a shipped `.d.ts` (via `.js`). */
async function checkDeclarationLinks(pkg: string, files: string[]): Promise<void> {
  const shipped = new Set(files);
  for (const file of files.filter((f) => f.endsWith(".d.ts"))) {
    const info = ts.preProcessFile(await Deno.readTextFile(join(pkg, file)), true, true);
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith(".")) continue;
      const target = relative(pkg, resolve(pkg, dirname(file), fileName)).replace(/\.js$/, ".d.ts");
      if (!fileName.endsWith(".js") || !shipped.has(target)) {
        throw new Error(`${file}: import "${fileName}" does not resolve to a shipped declaration file`);
      }
    }
  }
}

/** Bundles the entry points into `esm/` with linked source maps (sources relative to the repo layout). */
async function bundle(pkg: string, banner: string, modules: string): Promise<void> {
  // Output paths as if built into <root>/npm/esm: source-map paths do not depend on where the package is written.
  const virtualOut = join(ROOT, "npm", "esm");
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: Object.entries(ENTRIES).map(([out, src]) => ({ in: join(ROOT, src), out })),
    outdir: virtualOut,
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    external: ["node:*"],
    nodePaths: [modules], // the BUNDLED npm packages
    sourcemap: "linked",
    sourcesContent: true,
    charset: "utf8",
    legalComments: "inline",
    banner: { js: banner },
    write: false,
    logLevel: "warning",
  });
  for (const file of result.outputFiles) {
    const path = join(pkg, "esm", relative(virtualOut, file.path));
    await Deno.mkdir(dirname(path), { recursive: true });
    if (path.endsWith(".map")) {
      // The generated modules are data (base64 kernels, WGSL text) already in the bundle: no second copy in the map.
      const map = JSON.parse(file.text) as { sources: string[]; sourcesContent: (string | null)[] };
      map.sourcesContent = map.sourcesContent.map((c, i) => /\/generated\//.test(map.sources[i]) ? null : c);
      await Deno.writeTextFile(path, JSON.stringify(map));
    } else {
      await Deno.writeFile(path, file.contents);
    }
  }
}

/** All files under `dir`, relative, sorted. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await listFiles(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

/** Top-level entries of a build (and tarballs `npm pack` may have left there). */
const PACKAGE_ENTRY = /^(package\.json|README\.md|LICENSE|esm|types|wasm|.*\.tgz)$/;

/**
 * Throws unless `dir` may be replaced by a build: it must not be a file-system root, the repository or one of its
 * ancestors, and must be missing, an empty folder, or a previous build of this package (only a build's entries,
 * package.json naming {@link PACKAGE_NAME}).
 */
export async function assertReplaceable(dir: string): Promise<void> {
  const refuse = (why: string) => new Error(`refusing to write the package to ${dir}: ${why}`);
  if (dirname(dir) === dir) throw refuse("it is a file-system root");
  const up = relative(dir, ROOT);
  if (up === "" || !up.startsWith("..")) throw refuse("it is the repository or a folder containing it");
  const entries: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) entries.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw refuse(`it cannot be listed as a folder (${(e as Error).message})`);
  }
  if (entries.length === 0) return;
  const foreign = entries.filter((n) => !PACKAGE_ENTRY.test(n));
  if (foreign.length > 0) throw refuse(`it holds files a build does not write: ${foreign.slice(0, 5).join(", ")}`);
  let name: unknown;
  try {
    name = JSON.parse(await Deno.readTextFile(join(dir, "package.json"))).name;
  } catch {
    name = undefined;
  }
  if (name !== PACKAGE_NAME) throw refuse(`its package.json is not ${PACKAGE_NAME}'s`);
}

/** package.json of the build. */
function packageJson(version: string, license: string): Record<string, unknown> {
  const wasmExports = Object.fromEntries(
    (["simd", "threads"] as const).map((v) => [`./wasm/kernels_${v}.wasm`, `./wasm/kernels_${v}.wasm`]),
  );
  return {
    name: PACKAGE_NAME,
    version,
    description:
      "Mamba-1 and Mamba-2 language models on WebAssembly SIMD and WebGPU: load Hugging Face checkpoints, run " +
      "prefill and recurrent decode, generate, profile, prune.",
    license,
    keywords: ["mamba", "mamba2", "ssm", "llm", "webgpu", "wasm", "simd", "inference"],
    type: "module",
    types: "./types/mod.d.ts",
    exports: {
      ".": { types: "./types/mod.d.ts", import: "./esm/mod.js" },
      "./node": { types: "./types/wasm/node_workers.d.ts", import: "./esm/node.js" },
      ...wasmExports,
      "./package.json": "./package.json",
    },
    engines: { node: ">=20" },
    dependencies: { "@webgpu/types": WEBGPU_TYPES_RANGE },
    publishConfig: { access: "public" },
  };
}

/**
 * Builds the package into `outDir` (replacing a previous build there) and returns what it wrote.
 *
 * @throws Error on type errors in the sources, a version mismatch between deno.json and runtime/version.ts, or an
 * `outDir` holding something else than a previous build
 */
export async function buildNpm(outDir: string = join(ROOT, "npm")): Promise<BuildResult> {
  const out = resolve(outDir);
  const deno = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  if (deno.version !== VERSION) {
    throw new Error(`deno.json version ${deno.version} ≠ runtime/version.ts VERSION ${VERSION}`);
  }
  await assertReplaceable(out);
  await Deno.mkdir(dirname(out), { recursive: true });
  // Beside the output (same file system, so the rename is atomic); "*.tmp" is gitignored.
  const tmp = await Deno.makeTempDir({ dir: dirname(out), prefix: `.${basename(out)}-build-`, suffix: ".tmp" });
  const work = await Deno.makeTempDir({ prefix: "perfmamba-npm-work-" });
  try {
    const pkg = join(tmp, "package");
    await Deno.mkdir(pkg);
    const license = String(deno.license ?? "UNLICENSED");
    const modules = await typesNodeModules(work);
    await bundle(pkg, `// ${PACKAGE_NAME} ${VERSION} (${license}), built from the Deno sources by build.ts`, modules);
    await emitDeclarations(join(pkg, "types"), modules);
    await Deno.mkdir(join(pkg, "wasm"));
    for (const v of ["simd", "threads"] as WasmKernelVariant[]) {
      await Deno.writeFile(join(pkg, "wasm", `kernels_${v}.wasm`), wasmKernelBytes(v));
    }
    const manifest = packageJson(VERSION, license);
    await Deno.writeTextFile(join(pkg, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
    for (const doc of ["README.md", "LICENSE"]) {
      try {
        await Deno.copyFile(join(ROOT, doc), join(pkg, doc));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        console.error(`warning: ${doc} not found in the repo root; the package ships without it`);
      }
    }
    const files = await listFiles(pkg);
    await checkDeclarationLinks(pkg, files);

    // Swap in: the old build moves aside first (into tmp, deleted below: checked again, as it may have changed
    // during the build), so `out` is always either the old or the new complete package.
    await assertReplaceable(out);
    const old = join(tmp, "old");
    let hadOld = false;
    try {
      await Deno.rename(out, old);
      hadOld = true;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    try {
      await Deno.rename(pkg, out);
    } catch (e) {
      if (hadOld) await Deno.rename(old, out);
      throw e;
    }
    return { outDir: out, packageJson: manifest, files };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
    await esbuild.stop();
  }
}

const USAGE = `Build the npm package (ESM + type declarations + WASM kernel files) of mod.ts

Usage: deno run -A build.ts [--out DIR]

Options:
  --out <value>  Package folder, replaced if it holds a previous build (default: npm/ in the repo)
  --help         Show this help`;

/** Parses the flags; exits 2 (a usage error) on an unknown or malformed one, returns null after --help. */
function parseFlags(args: string[]): { out?: string } | null {
  let values: { out?: string; help?: boolean };
  try {
    values = parseArgs({ args, options: { out: { type: "string" }, help: { type: "boolean" } }, strict: true }).values;
  } catch (e) {
    console.error(`build: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, "")}\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return null;
  }
  return values;
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  if (flags) {
    try {
      const t0 = performance.now();
      const r = await buildNpm(flags.out !== undefined ? resolve(Deno.cwd(), flags.out) : undefined);
      const bytes = (await Promise.all(r.files.map((f) => Deno.stat(join(r.outDir, f))))).reduce(
        (a, s) => a + s.size,
        0,
      );
      console.log(
        `${PACKAGE_NAME}@${VERSION}: ${r.files.length} files, ${(bytes / 1024).toFixed(0)} KiB in ${r.outDir} ` +
          `(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
    } catch (e) {
      console.error(`build: ${(e as Error).message}`);
      Deno.exit(1);
    }
  }
}
