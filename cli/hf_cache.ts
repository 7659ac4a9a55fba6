/**
 * The local Hugging Face cache, laid out and located exactly as huggingface_hub does, and the resolution of a
 * `--model org/name` to a snapshot folder in it (downloading into it when it is missing and the network is allowed:
 * cli/hub_download.ts).
 *
 * Layout (`<cache>/models--org--name/`): `refs/<revision>` holds a 40-hex commit; `snapshots/<commit>/<file>` is a
 * relative symlink to `../../blobs/<etag>`. Nothing a cache says is trusted: a ref must be a commit hash, and refs,
 * snapshot folders and snapshot files whose real paths leave the repository's folder are refused with a
 * {@link HubCacheError} before anything is read through them.
 *
 * @module
 */
import { join } from "node:path";
import { cacheFolderName, checkRevision, HF_ENDPOINT, isCommitHash, parseRepoId } from "../mod.ts";
import { type CachedSnapshot, type DownloadProgress, downloadSnapshot, HubDownloadError } from "./hub_download.ts";

/** A cache that is not what huggingface_hub writes, or that points outside itself; names the path. */
export class HubCacheError extends Error {
  override name = "HubCacheError";
}

/** A model neither in the cache nor downloadable (offline, or the network failed); lists where it looked. */
export class HubNotFoundError extends Error {
  override name = "HubNotFoundError";
}

/** Environment variables, as `Deno.env` gives them (tests pass a Map's `get`). */
export interface Env {
  get(name: string): string | undefined;
}

/** Where the hub cache is, and which variable (or default) said so. */
export interface CacheLocation {
  dir: string;
  /** e.g. `HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`. */
  from: string;
}

/** A non-empty variable, or undefined. */
function envVar(env: Env, name: string): string | undefined {
  const v = env.get(name);
  return v === undefined || v === "" ? undefined : v;
}

/** The user's home folder (HOME, or USERPROFILE on Windows). */
function home(env: Env): string {
  const h = envVar(env, "HOME") ?? envVar(env, "USERPROFILE");
  if (h === undefined) throw new HubCacheError("cannot locate the Hugging Face cache: neither HF_HOME nor HOME is set");
  return h;
}

/** `HF_HOME`, else `XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface` (huggingface_hub's constants). */
function hfHome(env: Env): CacheLocation {
  const hf = envVar(env, "HF_HOME");
  if (hf !== undefined) return { dir: hf, from: "HF_HOME" };
  const xdg = envVar(env, "XDG_CACHE_HOME");
  if (xdg !== undefined) return { dir: join(xdg, "huggingface"), from: "XDG_CACHE_HOME/huggingface" };
  return { dir: join(home(env), ".cache", "huggingface"), from: "~/.cache/huggingface" };
}

/**
 * The hub cache folder as huggingface_hub finds it: `HF_HUB_CACHE`, else the legacy `HUGGINGFACE_HUB_CACHE`, else
 * `HF_HOME/hub`, else `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
 */
export function hubCacheDir(env: Env = Deno.env): CacheLocation {
  for (const name of ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"]) {
    const v = envVar(env, name);
    if (v !== undefined) return { dir: v, from: name };
  }
  const base = hfHome(env);
  return { dir: join(base.dir, "hub"), from: `${base.from}/hub` };
}

/** Whether `HF_HUB_OFFLINE` is set to a true value (1, ON, YES, TRUE, any case), as huggingface_hub reads it. */
export function hubOffline(env: Env = Deno.env): boolean {
  return ["1", "ON", "YES", "TRUE"].includes((env.get("HF_HUB_OFFLINE") ?? "").trim().toUpperCase());
}

/** `HF_ENDPOINT`, else https://huggingface.co. */
export function hubEndpoint(env: Env = Deno.env): string {
  return envVar(env, "HF_ENDPOINT") ?? HF_ENDPOINT;
}

/**
 * The access token as huggingface_hub finds it: `HF_TOKEN`, else the file `HF_TOKEN_PATH`, else `HF_HOME/token`
 * (written by `huggingface-cli login`); undefined when there is none. Never printed.
 */
export function hubToken(env: Env = Deno.env): string | undefined {
  const direct = envVar(env, "HF_TOKEN");
  if (direct !== undefined) return direct.trim();
  const path = envVar(env, "HF_TOKEN_PATH") ?? join(hfHome(env).dir, "token");
  try {
    const t = Deno.readTextFileSync(path).trim();
    return t === "" ? undefined : t;
  } catch {
    return undefined;
  }
}

/** Whether `path` is `root` or lies under it (both real paths). */
function inside(path: string, root: string): boolean {
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The real path of `path`, or null when it (or its symlink target) does not exist. */
function realOrNull(path: string): string | null {
  try {
    return Deno.realPathSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new HubCacheError(`${path}: cannot read (${(e as Error).message})`);
  }
}

/** The most bytes a `refs/<revision>` file may have (a commit hash and a newline need 41). */
const MAX_REF_BYTES = 256;

/** `<cache>/models--org--name`. */
export function repoCacheDir(cache: string, repo: string): string {
  return join(cache, cacheFolderName(repo));
}

/**
 * Checks that every entry of a snapshot folder (recursively) resolves inside the repository's real folder:
 * a symlink out of the cache, a dangling one, or a symlink to a folder (huggingface_hub links files only; a folder
 * link could loop) is a {@link HubCacheError} naming it and its target.
 */
function checkSnapshotEntries(dir: string, repoReal: string): void {
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    const real = realOrNull(path);
    if (real === null) {
      let target = "?";
      try {
        target = Deno.readLinkSync(path);
      } catch { /* not a link */ }
      throw new HubCacheError(`${path}: a dangling symlink (to ${target}) in the Hugging Face cache`);
    }
    if (!inside(real, repoReal)) {
      throw new HubCacheError(`${path}: a symlink to ${real}, outside the cache's model folder ${repoReal}`);
    }
    if (entry.isSymlink && Deno.statSync(real).isDirectory) {
      throw new HubCacheError(`${path}: a symlink to the folder ${real} (a snapshot links files only)`);
    }
    if (entry.isDirectory) checkSnapshotEntries(path, repoReal);
  }
}

/**
 * The snapshot a revision names in the cache, or null when the cache has none (no repository folder, no
 * `refs/<revision>`, no `snapshots/<commit>`). A revision that is itself a commit hash goes straight to
 * `snapshots/<revision>`.
 *
 * @throws HubCacheError when the ref is not a 40-hex commit, or a ref, the snapshot folder or a file in it
 *   resolves outside the repository's folder (nothing is read through such a path)
 */
export function findCachedSnapshot(cache: string, repo: string, revision: string): CachedSnapshot | null {
  checkRevision(revision);
  const repoDir = repoCacheDir(cache, repo);
  const repoReal = realOrNull(repoDir);
  if (repoReal === null) return null;
  let commit = revision;
  if (!isCommitHash(revision)) {
    const refPath = join(repoDir, "refs", revision);
    const refReal = realOrNull(refPath);
    if (refReal === null) return null;
    if (!inside(refReal, repoReal)) {
      throw new HubCacheError(`${refPath}: a symlink to ${refReal}, outside the cache's model folder ${repoReal}`);
    }
    const info = Deno.statSync(refReal);
    if (!info.isFile) throw new HubCacheError(`${refPath}: not a regular file (a ref holds a commit hash)`);
    if (info.size > MAX_REF_BYTES) {
      throw new HubCacheError(`${refPath}: ${info.size} bytes; a ref holds one 40-hex commit hash`);
    }
    const text = new TextDecoder().decode(Deno.readFileSync(refReal)).trim();
    if (!isCommitHash(text)) {
      throw new HubCacheError(`${refPath}: holds ${JSON.stringify(text.slice(0, 80))}, not a 40-hex commit hash`);
    }
    commit = text;
  }
  const dir = join(repoDir, "snapshots", commit);
  const dirReal = realOrNull(dir);
  if (dirReal === null) return null;
  if (!inside(dirReal, join(repoReal, "snapshots"))) {
    throw new HubCacheError(`${dir}: a symlink to ${dirReal}, outside the cache's snapshots folder`);
  }
  if (!Deno.statSync(dirReal).isDirectory) throw new HubCacheError(`${dir}: not a directory`);
  checkSnapshotEntries(dir, repoReal);
  return { dir, commit, repoDir };
}

/** The weight files a snapshot may hold (one is enough to try loading it without asking the network). */
const WEIGHT_FILES = [
  "model.safetensors",
  "model.safetensors.index.json",
  "pytorch_model.bin",
  "pytorch_model.bin.index.json",
];

/** Whether a (checked) snapshot folder has config.json and a weights file. */
function hasCheckpoint(dir: string): boolean {
  const has = (name: string) => realOrNull(join(dir, name)) !== null;
  return has("config.json") && WEIGHT_FILES.some(has);
}

/** Options of {@link hubModelFolder}; each defaults to what the environment says. */
export interface HubModelOptions {
  revision?: string;
  env?: Env;
  fetch?: typeof fetch;
  /** Called as bytes arrive (the CLI draws a progress bar). */
  progress?: DownloadProgress;
  /** Called with one-line notes for stderr (e.g. "network failed, using the cache"). */
  note?: (line: string) => void;
}

/** The paths looked in for a repo at a revision, for messages. */
function lookedIn(loc: CacheLocation, repo: string, revision: string): string {
  const repoDir = repoCacheDir(loc.dir, repo);
  const where = isCommitHash(revision) ? join(repoDir, "snapshots", revision) : join(repoDir, "refs", revision);
  return `looked in the Hugging Face cache ${loc.dir} (from ${loc.from}): ${where}`;
}

/**
 * The snapshot folder of hub model `spec` (`org/name` or `org/name@revision`): from the cache when it is there
 * (a commit hash whose snapshot has config.json and weights without asking the network, as huggingface_hub does), else downloaded into it; offline
 * (`HF_HUB_OFFLINE=1`) from the cache only.
 *
 * @throws HubNotFoundError offline and not cached, or the network failed and not cached: lists the paths looked in
 *   and the URL tried
 * @throws HubCacheError a cache pointing outside itself; HubDownloadError a failed download (names repo, file, URL)
 */
export async function hubModelFolder(spec: string, options: HubModelOptions = {}): Promise<CachedSnapshot> {
  const env = options.env ?? Deno.env;
  const parsed = parseRepoId(spec);
  if (options.revision !== undefined && parsed.revision !== undefined && options.revision !== parsed.revision) {
    throw new HubCacheError(
      `${spec}: revision "${parsed.revision}" in the id and --revision "${options.revision}" differ`,
    );
  }
  const revision = checkRevision(options.revision ?? parsed.revision ?? "main");
  const loc = hubCacheDir(env);
  const cached = findCachedSnapshot(loc.dir, parsed.id, revision);
  if (hubOffline(env)) {
    if (cached !== null) return cached;
    throw new HubNotFoundError(
      `${parsed.id}@${revision}: not in the cache and HF_HUB_OFFLINE is set (no download tried); ` +
        lookedIn(loc, parsed.id, revision),
    );
  }
  if (cached !== null && isCommitHash(revision) && hasCheckpoint(cached.dir)) return cached;
  try {
    return await downloadSnapshot(parsed.id, revision, {
      cache: loc.dir,
      endpoint: hubEndpoint(env),
      token: hubToken(env),
      fetch: options.fetch,
      progress: options.progress,
    });
  } catch (e) {
    if (!(e instanceof HubDownloadError) || !e.network) throw e;
    if (cached !== null) {
      options.note?.(`${e.message}; using the cached snapshot ${cached.dir}`);
      return cached;
    }
    if (e.partial !== undefined) throw e; // cut short mid-file: the message says how to resume
    throw new HubNotFoundError(`${e.message}; not in the cache either: ${lookedIn(loc, parsed.id, revision)}`);
  }
}
