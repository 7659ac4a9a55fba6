/**
 * Bundles the browser demo with esbuild: app.ts (the page) and worker.ts (the engine's Web Worker) as ES modules,
 * plus index.html and style.css, into `examples/browser/dist/` (or `--out DIR`).
 *
 *     deno run -A examples/browser/build.ts [--out DIR] [--minify]
 *
 * The project keeps no node_modules (`"nodeModulesDir": "none"`), so esbuild cannot find `vega` & co. on its own.
 * {@link denoNpmResolver} asks Deno for the module graph ({@link denoInfo}: every npm package's cache folder and
 * resolved dependencies) and resolves bare imports with it — each package by the exact version Deno resolved for
 * its importer, from Deno's npm cache — while esbuild does the rest (package.json `exports`, `browser` fields).
 * {@link packageSelfResolver} resolves the package's own subpaths (`@perfmamba/perfmamba/charts`) by deno.json's
 * `exports`, as Deno does.
 *
 * @module
 */

import * as esbuild from "esbuild";

const HERE = new URL(".", import.meta.url);
/** The repository root: its deno.json and deno.lock decide how Deno resolves the graph. */
const ROOT = new URL("../../", import.meta.url);
const STATIC_FILES = ["index.html", "style.css"];
const ENTRIES = ["app.ts", "worker.ts"];

/** An npm package of `deno info --json`. */
export interface NpmPackage {
  name: string;
  version: string;
  dependencies: string[];
  localPath?: string;
}

/** What the builds need from `deno info --json`. */
export interface DenoInfo {
  modules: { kind?: string; specifier: string; npmPackage?: string }[];
  npmPackages: Record<string, NpmPackage>;
}

/**
 * Deno's module graph of `specifiers` (files, or `npm:` packages) in the repository root, merged: every module and
 * every npm package with its folder in Deno's npm cache. Cached first (`deno cache`), so that every package has its
 * files there on a fresh machine. The npm build (`build.ts`) reads its build-time type packages from it too.
 */
export async function denoInfo(specifiers: string[]): Promise<DenoInfo> {
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stdout: "piped", stderr: "piped" })
      .output();
    if (!out.success) {
      throw new Error(`deno ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
    }
    return new TextDecoder().decode(out.stdout);
  };
  await run(["cache", "--quiet", ...specifiers]);
  const infos = await Promise.all(
    specifiers.map(async (s) => JSON.parse(await run(["info", "--json", s])) as DenoInfo),
  );
  return {
    modules: infos.flatMap((i) => i.modules),
    npmPackages: Object.assign({}, ...infos.map((i) => i.npmPackages)),
  };
}

/** "vega-lite/build/x" → ["vega-lite", "build/x"]; "@scope/pkg/sub" → ["@scope/pkg", "sub"]. */
function splitSpecifier(spec: string): [string, string] {
  const parts = spec.split("/");
  const n = spec.startsWith("@") ? 2 : 1;
  return [parts.slice(0, n).join("/"), parts.slice(n).join("/")];
}

/**
 * An esbuild plugin resolving bare imports (`vega`, and the imports inside npm packages) the way Deno does, from
 * Deno's npm cache. Packages are exposed to esbuild through a folder of symlinks (`<farm>/<id>/node_modules/<name>`
 * → the package's cache folder), so esbuild applies package.json `exports` and `browser` maps itself; symlinks are
 * followed to the cache, so each package version is bundled once.
 */
export async function denoNpmResolver(entries: string[], farm: string): Promise<esbuild.Plugin> {
  const info = await denoInfo(entries);
  const packages = info.npmPackages;
  const roots = new Map<string, string>(); // package name → id, for imports from the project's own files
  for (const m of info.modules) {
    if (m.kind === "npm" && m.npmPackage && packages[m.npmPackage]) {
      roots.set(packages[m.npmPackage].name, m.npmPackage);
    }
  }
  const byDir = new Map<string, string>(); // cache folder → id
  for (const [id, p] of Object.entries(packages)) if (p.localPath) byDir.set(p.localPath, id);
  const owner = (file: string): NpmPackage | null => {
    for (let dir = file; dir.includes("/"); dir = dir.slice(0, dir.lastIndexOf("/"))) {
      const id = byDir.get(dir);
      if (id) return packages[id];
    }
    return null;
  };
  const linked = new Map<string, Promise<string>>(); // id → resolveDir (a promise: resolutions run concurrently)
  const linkDir = (id: string): Promise<string> => {
    let dir = linked.get(id);
    if (!dir) {
      dir = (async () => {
        const p = packages[id];
        if (!p.localPath) throw new Error(`npm package ${id} is not in Deno's cache (run deno cache)`);
        const base = `${farm}/${id.replaceAll("/", "+")}`;
        const link = `${base}/node_modules/${p.name}`;
        await Deno.mkdir(link.slice(0, link.lastIndexOf("/")), { recursive: true });
        await Deno.symlink(p.localPath, link);
        return base;
      })();
      linked.set(id, dir);
    }
    return dir;
  };
  return {
    name: "deno-npm",
    setup(build) {
      build.onResolve({ filter: /^(@[^/]+\/)?[a-zA-Z0-9][^:]*$/ }, async (args) => {
        if ((args.pluginData as { denoNpm?: boolean } | undefined)?.denoNpm) return undefined;
        const [name] = splitSpecifier(args.path);
        const from = args.importer ? owner(args.importer) : null;
        const id = from ? from.dependencies.find((d) => packages[d]?.name === name) : roots.get(name);
        if (!id) return undefined; // not an npm dependency here: esbuild decides (browser map, error)
        const resolved = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: await linkDir(id),
          pluginData: { denoNpm: true },
        });
        return resolved.errors.length > 0 ? { errors: resolved.errors } : resolved;
      });
    },
  };
}

/**
 * An esbuild plugin resolving the package's own name and subpaths (`@perfmamba/perfmamba/charts`) to the files
 * deno.json `exports` names, as Deno resolves such a self-reference: the demo imports the package's public
 * subpaths, never its internals.
 */
export async function packageSelfResolver(): Promise<esbuild.Plugin> {
  const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    name: string;
    exports: string | Record<string, string>;
  };
  const exports = typeof deno.exports === "string" ? { ".": deno.exports } : deno.exports;
  const files = new Map(
    Object.entries(exports).map(([sub, file]) => [deno.name + sub.slice(1), new URL(file, ROOT).pathname]),
  );
  return {
    name: "package-self",
    setup(build) {
      build.onResolve({ filter: /^@/ }, (args) => {
        const path = files.get(args.path);
        return path ? { path } : undefined;
      });
    },
  };
}

/** Options of {@link buildDemo}. */
export interface BuildOptions {
  /** Output folder (default: examples/browser/dist). Emptied first. */
  outDir?: string;
  /** Minify (default false: readable stack traces in the demo). */
  minify?: boolean;
  /** Log esbuild warnings (default true). */
  logWarnings?: boolean;
}

/** Builds the demo; returns the output folder and the bundle sizes. */
export async function buildDemo(opts: BuildOptions = {}): Promise<{ outDir: string; files: Record<string, number> }> {
  const given = opts.outDir ?? new URL("dist", HERE).pathname;
  const outDir = given.startsWith("/") ? given : `${Deno.cwd()}/${given}`;
  const entries = ENTRIES.map((e) => new URL(e, HERE).pathname);
  const farm = await Deno.makeTempDir({ prefix: "perfmamba-esbuild-" });
  try {
    await Deno.remove(outDir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    await Deno.mkdir(outDir, { recursive: true });
    const result = await esbuild.build({
      entryPoints: entries,
      outdir: outDir,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: ["chrome113", "firefox141", "safari26"],
      splitting: true,
      chunkNames: "chunks/[name]-[hash]",
      sourcemap: "linked",
      minify: opts.minify ?? false,
      metafile: true,
      // No tsconfig lookup: some npm packages ship a tsconfig.json extending a file that is not published.
      tsconfigRaw: {},
      logLevel: opts.logWarnings === false ? "error" : "warning",
      plugins: [await packageSelfResolver(), await denoNpmResolver(entries, farm)],
    });
    for (const f of STATIC_FILES) await Deno.copyFile(new URL(f, HERE), `${outDir}/${f}`);
    const files: Record<string, number> = {};
    for (const [path, o] of Object.entries(result.metafile!.outputs)) {
      const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
      if (!path.endsWith(".map")) files[abs.slice(outDir.length + 1)] = o.bytes;
    }
    return { outDir, files };
  } finally {
    await esbuild.stop();
    await Deno.remove(farm, { recursive: true });
  }
}

if (import.meta.main) {
  const args = [...Deno.args];
  const outAt = args.indexOf("--out");
  const outDir = outAt >= 0 ? args[outAt + 1] : undefined;
  if (outAt >= 0 && !outDir) throw new Error("--out needs a folder");
  const t0 = performance.now();
  const { outDir: dir, files } = await buildDemo({ outDir, minify: args.includes("--minify") });
  const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
  console.log(`built ${dir} in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  for (const [f, b] of Object.entries(files)) console.log(`  ${f.padEnd(40)} ${kib(b)}`);
}
