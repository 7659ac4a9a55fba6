/**
 * Development server of the browser demo: builds the bundle, then serves it on localhost with the headers that
 * make the page cross-origin isolated (COOP/COEP, so the WASM backend can use threads on a SharedArrayBuffer),
 * together with local checkpoints and tokenizers for the URL loader.
 *
 *     deno run -A examples/browser/serve.ts [--port 8000] [--host 127.0.0.1] [--models DIR] [--tokenizer FILE]
 *                                           [--no-build]
 *
 * Routes:
 * - `/` … the bundle (examples/browser/dist/);
 * - `/fixtures/…` the repo's tests/fixtures (tiny checkpoints; `/fixtures/eval/byte-tokenizer.json` fits them);
 * - `/models/…` the `--models` folder (default ../shared/models beside the repo, when it exists);
 * - `/tokenizer.json` the `--tokenizer` file (default ../shared/data/tokenizer/gpt-neox-20b-tokenizer.json);
 * - `/models.json` the checkpoints found under `/fixtures/` and `/models/`, each with the tokenizer that fits its
 *   vocabulary, for the page's model list.
 *
 * GET and HEAD only; paths are confined to their folders.
 *
 * @module
 */

import { buildDemo } from "./build.ts";

const HERE = new URL(".", import.meta.url);
const REPO = new URL("../../", HERE);

/** Options of {@link serveDemo}. */
export interface ServeOptions {
  /** The built bundle (default examples/browser/dist). */
  dist?: string;
  /** Checkpoint folders served at /models/ (default ../shared/models when present). null: none. */
  models?: string | null;
  /** Served at /fixtures/ (default tests/fixtures). null: none. */
  fixtures?: string | null;
  /** Served at /tokenizer.json (default the GPT-NeoX-20B tokenizer in ../shared when present). null: none. */
  tokenizer?: string | null;
  /** Port (default 8000; 0: any free port). */
  port?: number;
  /** Interface (default 127.0.0.1). */
  hostname?: string;
  /** Log each request (default false). */
  log?: boolean;
}

/** A running demo server. */
export interface DemoServer {
  /** The page's URL, e.g. http://127.0.0.1:8000/. */
  url: string;
  /** What is served where (for messages). */
  mounts: Record<string, string>;
  /** Stops the server and waits for open connections to close. */
  shutdown(): Promise<void>;
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json; charset=utf-8",
  map: "application/json; charset=utf-8",
  wasm: "application/wasm",
  svg: "image/svg+xml",
  png: "image/png",
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
};

/** Cross-origin isolation (SharedArrayBuffer, WASM threads) and no caching during development. */
const BASE_HEADERS: Record<string, string> = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function abs(path: string): string {
  const p = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  return p.endsWith("/") && p.length > 1 ? p.slice(0, -1) : p;
}

function reply(status: number, body: BodyInit | null, type: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { ...BASE_HEADERS, "content-type": type, ...extra } });
}

/** Serves `root/rel` (a file, or index.html of a folder); 404 outside the root or when missing. */
async function serveFile(root: string, rel: string, method: string): Promise<Response> {
  const parts = decodeURIComponent(rel).split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === ".." || p.includes("\\") || p.includes("\0"))) {
    return reply(400, "bad path\n", TYPES.txt);
  }
  let path = [root, ...parts].join("/");
  if (isDir(path)) {
    if (!rel.endsWith("/") && rel !== "") return reply(404, `${rel}: a folder\n`, TYPES.txt);
    path += "/index.html";
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return reply(404, `not found: ${rel}\n`, TYPES.txt);
    }
    throw e;
  }
  const { size, isFile } = await file.stat();
  if (!isFile) {
    file.close();
    return reply(404, `not found: ${rel}\n`, TYPES.txt);
  }
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  const type = TYPES[ext] ?? "application/octet-stream";
  const headers = { "content-length": String(size) };
  if (method === "HEAD") {
    file.close();
    return reply(200, null, type, headers);
  }
  return reply(200, file.readable, type, headers);
}

/** Checkpoint folders (a config.json beside weights) under `root`, at most `depth` levels down. */
function findCheckpoints(root: string, depth = 2): { dir: string; vocab: number }[] {
  const out: { dir: string; vocab: number }[] = [];
  const walk = (dir: string, rel: string, left: number) => {
    const config = `${dir}/config.json`;
    if (isFile(config) && (isFile(`${dir}/model.safetensors`) || isFile(`${dir}/model.safetensors.index.json`))) {
      let vocab = 0;
      try {
        vocab = Number(JSON.parse(Deno.readTextFileSync(config)).vocab_size) || 0;
      } catch { /* listed without a tokenizer suggestion */ }
      out.push({ dir: rel, vocab });
      return;
    }
    if (left === 0) return;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory && !e.name.startsWith(".")) walk(`${dir}/${e.name}`, `${rel}${e.name}/`, left - 1);
    }
  };
  walk(root, "", depth);
  return out;
}

/** Starts the server (the bundle must be built: see build.ts, or run this file). */
export function serveDemo(opts: ServeOptions = {}): DemoServer {
  const dist = abs(opts.dist ?? new URL("dist", HERE).pathname);
  if (!isFile(`${dist}/index.html`)) throw new Error(`${dist}/index.html not found: build the demo first`);
  const sharedModels = new URL("../shared/models", REPO).pathname;
  const sharedTokenizer = new URL("../shared/data/tokenizer/gpt-neox-20b-tokenizer.json", REPO).pathname;
  const models = opts.models === undefined ? (isDir(sharedModels) ? sharedModels : null) : opts.models;
  const fixtures = opts.fixtures === undefined ? new URL("tests/fixtures", REPO).pathname : opts.fixtures;
  const tokenizer = opts.tokenizer === undefined ? (isFile(sharedTokenizer) ? sharedTokenizer : null) : opts.tokenizer;
  if (models !== null && !isDir(models)) throw new Error(`--models ${models}: not a folder`);
  if (fixtures !== null && !isDir(fixtures)) throw new Error(`fixtures ${fixtures}: not a folder`);
  if (tokenizer !== null && !isFile(tokenizer)) throw new Error(`--tokenizer ${tokenizer}: not a file`);
  const byteTokenizer = fixtures && isFile(`${fixtures}/eval/byte-tokenizer.json`)
    ? "/fixtures/eval/byte-tokenizer.json"
    : null;

  const listing = () => {
    const list: { name: string; url: string; tokenizer: string | null }[] = [];
    const add = (root: string | null, mount: string) => {
      if (!root) return;
      for (const { dir, vocab } of findCheckpoints(abs(root))) {
        const tok = vocab > 0 && vocab <= 256 ? byteTokenizer : tokenizer && vocab > 256 ? "/tokenizer.json" : null;
        list.push({ name: `${mount}/${dir.replace(/\/$/, "")}`, url: `/${mount}/${dir}`, tokenizer: tok });
      }
    };
    add(models, "models");
    add(fixtures, "fixtures");
    return list;
  };

  const mounts: Record<string, string> = { "/": dist };
  if (fixtures) mounts["/fixtures/"] = abs(fixtures);
  if (models) mounts["/models/"] = abs(models);
  if (tokenizer) mounts["/tokenizer.json"] = abs(tokenizer);

  const handler = async (req: Request): Promise<Response> => {
    const { pathname } = new URL(req.url);
    if (opts.log) console.log(`${req.method} ${pathname}`);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return reply(405, "GET and HEAD only\n", TYPES.txt, { allow: "GET, HEAD" });
    }
    if (pathname === "/models.json") return reply(200, JSON.stringify(listing()), TYPES.json);
    if (pathname === "/tokenizer.json" && tokenizer) return await serveFile(abs(tokenizer), "", req.method);
    for (const [mount, dir] of Object.entries(mounts)) {
      if (mount !== "/" && mount.endsWith("/") && (pathname + "/").startsWith(mount)) {
        return await serveFile(dir, pathname.slice(mount.length), req.method);
      }
    }
    return await serveFile(dist, pathname.slice(1), req.method);
  };

  const hostname = opts.hostname ?? "127.0.0.1";
  const server = Deno.serve({ port: opts.port ?? 8000, hostname, onListen: () => {} }, handler);
  const addr = server.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return { url: `http://${host}:${addr.port}/`, mounts, shutdown: () => server.shutdown() };
}

function parseArgs(args: string[]): { opts: ServeOptions; build: boolean } {
  const opts: ServeOptions = { log: false };
  let build = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--port") opts.port = Number(value());
    else if (a === "--host") opts.hostname = value();
    else if (a === "--models") opts.models = value();
    else if (a === "--tokenizer") opts.tokenizer = value();
    else if (a === "--dist") opts.dist = value();
    else if (a === "--no-build") build = false;
    else if (a === "--log") opts.log = true;
    else if (a === "--help" || a === "-h") {
      console.log(
        "usage: deno run -A examples/browser/serve.ts [--port 8000] [--host 127.0.0.1] [--models DIR] " +
          "[--tokenizer FILE] [--dist DIR] [--no-build] [--log]",
      );
      Deno.exit(0);
    } else throw new Error(`unknown argument "${a}" (see --help)`);
  }
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port >= 0 && opts.port < 65536)) {
    throw new Error(`--port: expected a port number, got ${opts.port}`);
  }
  return { opts, build };
}

if (import.meta.main) {
  const { opts, build } = parseArgs(Deno.args);
  if (build) {
    const t0 = performance.now();
    const { outDir } = await buildDemo({ outDir: opts.dist });
    console.log(`built ${outDir} in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  }
  const server = serveDemo(opts);
  for (const [mount, dir] of Object.entries(server.mounts)) console.log(`  ${mount.padEnd(16)} ${dir}`);
  console.log(`PerfMamba browser demo: ${server.url}`);
}
