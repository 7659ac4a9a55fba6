/**
 * Downloading a model's checkpoint files from the Hugging Face hub into huggingface_hub's cache layout:
 * `blobs/<etag>`, `snapshots/<commit>/<file>` → `../../blobs/<etag>`, `refs/<revision>` = commit.
 *
 * A blob is written to `blobs/<etag>.incomplete` and renamed when it has exactly the size the hub announced and,
 * when its ETag is a content hash (SHA-256 for LFS files, the git blob SHA-1 for others), hashes to it; an
 * interrupted download is resumed on the next run with a `Range: bytes=N-` request. The snapshot symlink appears
 * only after its blob is complete, so a partial file is never visible under `snapshots/`. The token goes in an
 * `Authorization` header only, never into a message.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join, relative } from "node:path";
import { blobName, cacheFolderName, checkpointFileSegments, isCommitHash, modelInfoUrl, resolveUrl } from "../mod.ts";

/**
 * A download that failed; `network` when the network failed (no HTTP answer, or a body cut short), `partial` the
 * `.incomplete` file a later run resumes from.
 */
export class HubDownloadError extends Error {
  override name = "HubDownloadError";
  readonly network: boolean;
  readonly partial?: string;
  constructor(message: string, network = false, partial?: string) {
    super(message);
    this.network = network;
    this.partial = partial;
  }
}

/** A snapshot in the cache: the folder to read, its commit, and the repository folder holding it. */
export interface CachedSnapshot {
  dir: string;
  commit: string;
  repoDir: string;
}

/** Progress of one file: bytes done of total (total 0 when unknown). */
export type DownloadProgress = (file: string, done: number, total: number) => void;

/** Options of {@link downloadSnapshot}. */
export interface DownloadOptions {
  cache: string;
  endpoint: string;
  token?: string;
  fetch?: typeof fetch;
  progress?: DownloadProgress;
}

/** The model's commit and file names, from `GET {endpoint}/api/models/{repo}/revision/{revision}`. */
interface ModelInfo {
  sha: string;
  files: string[];
}

/** Exit-free fetch with the token header; a thrown fetch becomes a network HubDownloadError naming the URL. */
async function request(url: string, init: RequestInit, options: DownloadOptions, what: string): Promise<Response> {
  const headers = new Headers(init.headers);
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  headers.set("user-agent", "perfmamba");
  try {
    return await (options.fetch ?? fetch)(url, { ...init, headers });
  } catch (e) {
    throw new HubDownloadError(`${what}: ${url}: network error (${(e as Error).message})`, true);
  }
}

/** An HTTP failure: names what, the URL and the status, with a hint for 401/403 (gated or private models). */
async function httpError(res: Response, url: string, what: string): Promise<HubDownloadError> {
  await res.body?.cancel();
  const hint = res.status === 401 || res.status === 403
    ? " (a gated or private model? set HF_TOKEN or log in with `huggingface-cli login`)"
    : res.status === 404
    ? " (no such model, revision or file)"
    : "";
  return new HubDownloadError(`${what}: ${url}: HTTP ${res.status} ${res.statusText}`.trimEnd() + hint);
}

/** Reads the model's commit and file list. */
async function modelInfo(repo: string, revision: string, options: DownloadOptions): Promise<ModelInfo> {
  const url = modelInfoUrl(repo, { revision, endpoint: options.endpoint });
  const res = await request(url, {}, options, repo);
  if (!res.ok) throw await httpError(res, url, repo);
  let json: { sha?: unknown; siblings?: unknown };
  try {
    json = await res.json();
  } catch (e) {
    throw new HubDownloadError(`${repo}: ${url}: not JSON (${(e as Error).message})`);
  }
  if (typeof json.sha !== "string" || !isCommitHash(json.sha)) {
    throw new HubDownloadError(`${repo}: ${url}: "sha" is not a 40-hex commit hash`);
  }
  if (!Array.isArray(json.siblings)) throw new HubDownloadError(`${repo}: ${url}: no "siblings" file list`);
  const files = json.siblings.map((s: { rfilename?: unknown }) => s?.rfilename).filter((f): f is string =>
    typeof f === "string"
  );
  return { sha: json.sha, files };
}

/**
 * The files a checkpoint needs, in the order `loadCheckpoint` looks for them: config.json, then model.safetensors,
 * else model.safetensors.index.json (its shards come after it is read), else pytorch_model.bin, else
 * pytorch_model.bin.index.json; and tokenizer.json when the repository has one.
 */
export function checkpointDownloadPlan(files: string[]): { files: string[]; index?: string } {
  const has = new Set(files);
  if (!has.has("config.json")) throw new HubDownloadError("the repository has no config.json (not a model?)");
  const weights = [
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
  ]
    .find((f) => has.has(f));
  if (weights === undefined) {
    throw new HubDownloadError(
      "the repository has none of model.safetensors, model.safetensors.index.json, pytorch_model.bin, " +
        "pytorch_model.bin.index.json",
    );
  }
  const out = ["config.json", weights];
  if (has.has("tokenizer.json")) out.push("tokenizer.json");
  return weights.endsWith(".index.json") ? { files: out, index: weights } : { files: out };
}

/** The shard file names an index lists (deduplicated, checked to be plain names the repository has). */
function shardsOf(indexText: string, indexName: string, repoFiles: string[]): string[] {
  let json: { weight_map?: unknown };
  try {
    json = JSON.parse(indexText);
  } catch (e) {
    throw new HubDownloadError(`${indexName}: not JSON (${(e as Error).message})`);
  }
  if (!json.weight_map || typeof json.weight_map !== "object") {
    throw new HubDownloadError(`${indexName}: no "weight_map"`);
  }
  const shards = [...new Set(Object.values(json.weight_map as Record<string, unknown>))];
  const have = new Set(repoFiles);
  return shards.map((s) => {
    if (typeof s !== "string") throw new HubDownloadError(`${indexName}: a weight_map value is not a file name`);
    try {
      checkpointFileSegments(s);
    } catch (e) {
      throw new HubDownloadError(`${indexName}: ${(e as Error).message}`);
    }
    if (!have.has(s)) throw new HubDownloadError(`${indexName}: shard "${s}" is not a file of the repository`);
    return s;
  });
}

/** Whether a path exists (after symlinks). */
function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The size of a file, or -1 when there is none. */
function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return -1;
  }
}

/** Writes `text` to `path` through a temporary file and a rename (readers never see half a ref). */
function writeAtomic(path: string, text: string): void {
  Deno.mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  Deno.writeTextFileSync(tmp, text);
  Deno.renameSync(tmp, path);
}

/** Points `link` at `target` (relative) through a temporary link and a rename. */
function symlinkAtomic(target: string, link: string): void {
  Deno.mkdirSync(dirname(link), { recursive: true });
  const tmp = `${link}.tmp-${crypto.randomUUID()}`;
  Deno.symlinkSync(target, tmp);
  Deno.renameSync(tmp, link);
}

/** A header's value as a non-negative integer, or undefined. */
function intHeader(res: Response, name: string): number | undefined {
  const v = res.headers.get(name);
  if (v === null || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

/** What the hub says of a file before its body: the blob name, its size (when announced) and the commit. */
interface FileMeta {
  etag: string;
  size?: number;
  commit?: string;
}

/**
 * A file's metadata as huggingface_hub gets it: a HEAD request that follows only same-host redirects (a renamed
 * repository) and reads `X-Linked-Etag` / `X-Linked-Size` from the hub's redirect to its CDN, else `ETag` /
 * `Content-Length`, and `X-Repo-Commit`.
 */
async function fileMeta(url: string, what: string, options: DownloadOptions): Promise<FileMeta> {
  let at = url;
  for (let hops = 0; hops < 5; hops++) {
    const res = await request(at, { method: "HEAD", redirect: "manual" }, options, what);
    await res.body?.cancel();
    const location = res.headers.get("location");
    const redirect = res.status >= 300 && res.status < 400 && location !== null;
    if (redirect && new URL(location, at).host === new URL(at).host && res.headers.get("x-linked-etag") === null) {
      at = new URL(location, at).href;
      continue;
    }
    if (!redirect && !res.ok) throw await httpError(res, at, what);
    const etag = res.headers.get("x-linked-etag") ?? res.headers.get("etag");
    if (etag === null) throw new HubDownloadError(`${what}: ${at}: no ETag header (is this a Hugging Face hub?)`);
    let name: string;
    try {
      name = blobName(etag);
    } catch (e) {
      throw new HubDownloadError(`${what}: ${at}: ${(e as Error).message}`);
    }
    const size = intHeader(res, "x-linked-size") ?? (redirect ? undefined : intHeader(res, "content-length"));
    return { etag: name, size, commit: res.headers.get("x-repo-commit") ?? undefined };
  }
  throw new HubDownloadError(`${what}: ${url}: more than 5 redirects`);
}

/** `bytes start-end/total` → start and total (total undefined for `*`). */
function contentRange(res: Response): { start: number; total?: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get("content-range")?.trim() ?? "");
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

/**
 * Checks a downloaded blob against its ETag when the ETag is a content hash, as the hub's are: 64 hex digits are the
 * SHA-256 of an LFS file, 40 the git blob hash (SHA-1 of `blob <size>\0<content>`) of a plain one. Other ETags are
 * not checked (their size still is). Streams the file: no second copy in memory.
 */
async function verifyBlob(path: string, etag: string, what: string, url: string): Promise<void> {
  const kind = /^[0-9a-f]{64}$/.test(etag) ? "sha256" : /^[0-9a-f]{40}$/.test(etag) ? "sha1" : null;
  if (kind === null) return;
  const hash = createHash(kind);
  if (kind === "sha1") hash.update(`blob ${Deno.statSync(path).size}\0`);
  const file = await Deno.open(path, { read: true });
  try {
    for await (const chunk of file.readable) hash.update(chunk);
  } catch (e) {
    throw new HubDownloadError(`${what}: ${path}: cannot read back (${(e as Error).message})`);
  }
  const got = hash.digest("hex");
  if (got !== etag) {
    Deno.removeSync(path);
    throw new HubDownloadError(
      `${what}: ${url}: the downloaded bytes hash to ${got}, not the ETag ${etag} (${
        kind === "sha256" ? "SHA-256" : "git blob SHA-1"
      }); removed ${path}, run again`,
    );
  }
}

/**
 * Downloads `url` into `blob` through `blob.incomplete`, resuming a partial one with a Range request; renames it
 * to `blob` only when it has exactly the announced size.
 */
async function downloadBlob(
  url: string,
  blob: string,
  meta: FileMeta,
  what: string,
  options: DownloadOptions,
): Promise<void> {
  const partial = `${blob}.incomplete`;
  let have = Math.max(0, sizeOf(partial));
  if (meta.size !== undefined && have > meta.size) {
    Deno.removeSync(partial); // longer than the file: not a prefix of it
    have = 0;
  }
  if (meta.size === undefined || have < meta.size) {
    const headers: HeadersInit = have > 0 ? { range: `bytes=${have}-` } : {};
    const res = await request(url, { headers }, options, what);
    let start = 0;
    let total: number | undefined;
    if (res.status === 206) {
      const range = contentRange(res);
      if (range === undefined || range.start !== have) {
        await res.body?.cancel();
        throw new HubDownloadError(
          `${what}: ${url}: asked for bytes ${have}- but got Content-Range ${res.headers.get("content-range")}`,
        );
      }
      start = have;
      total = range.total;
    } else if (res.ok) {
      total = intHeader(res, "content-length");
    } else if (res.status === 416 && have > 0) {
      await res.body?.cancel();
      Deno.removeSync(partial); // not a prefix the server can continue: start over next time
      throw new HubDownloadError(
        `${what}: ${url}: the server cannot resume from byte ${have} (HTTP 416); removed ${partial}, run again`,
      );
    } else {
      throw await httpError(res, url, what);
    }
    total ??= meta.size;
    if (meta.size !== undefined && total !== undefined && total !== meta.size) {
      await res.body?.cancel();
      throw new HubDownloadError(`${what}: ${url}: ${total} bytes but the hub announced ${meta.size}`);
    }
    Deno.mkdirSync(dirname(partial), { recursive: true });
    const file = Deno.openSync(partial, { write: true, create: true, truncate: start === 0, append: start > 0 });
    let done = start;
    options.progress?.(what, done, total ?? 0);
    try {
      if (res.body === null) throw new HubDownloadError(`${what}: ${url}: empty response`);
      for await (const chunk of res.body) {
        let off = 0;
        while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
        done += chunk.length;
        options.progress?.(what, done, total ?? 0);
      }
    } catch (e) {
      if (e instanceof HubDownloadError) throw e;
      throw new HubDownloadError(
        `${what}: ${url}: the download stopped after ${done} of ${total ?? "?"} bytes (${(e as Error).message}); ` +
          `run again to resume from ${partial}`,
        true,
        partial,
      );
    } finally {
      file.close();
    }
    have = done;
    if (total !== undefined && have !== total) {
      throw new HubDownloadError(
        `${what}: ${url}: the download ended after ${have} of ${total} bytes; run again to resume from ${partial}`,
        true,
        partial,
      );
    }
  }
  await verifyBlob(partial, meta.etag, what, url);
  Deno.renameSync(partial, blob);
}

/** Downloads one file of the snapshot (unless its symlink is already there) and links it into the snapshot. */
async function downloadFile(
  repo: string,
  commit: string,
  file: string,
  repoDir: string,
  options: DownloadOptions,
): Promise<void> {
  const link = join(repoDir, "snapshots", commit, ...checkpointFileSegments(file));
  if (exists(link)) return;
  const what = `${repo}: ${file}`;
  const url = resolveUrl(repo, file, { revision: commit, endpoint: options.endpoint });
  const meta = await fileMeta(url, what, options);
  if (meta.commit !== undefined && meta.commit !== commit) {
    throw new HubDownloadError(`${what}: ${url}: X-Repo-Commit ${meta.commit} is not the commit asked for (${commit})`);
  }
  const blob = join(repoDir, "blobs", meta.etag);
  if (meta.size === undefined || sizeOf(blob) !== meta.size) await downloadBlob(url, blob, meta, what, options);
  symlinkAtomic(relative(dirname(link), blob), link);
}

/**
 * Downloads what a checkpoint needs of `repo` at `revision` into the cache's layout and returns its snapshot.
 *
 * @throws HubDownloadError naming the repository, the file and the URL (`network` when no HTTP answer came)
 */
export async function downloadSnapshot(
  repo: string,
  revision: string,
  options: DownloadOptions,
): Promise<CachedSnapshot> {
  const repoDir = join(options.cache, cacheFolderName(repo));
  const info = await modelInfo(repo, revision, options);
  let plan: { files: string[]; index?: string };
  try {
    plan = checkpointDownloadPlan(info.files);
  } catch (e) {
    throw new HubDownloadError(`${repo}@${revision}: ${(e as Error).message}`);
  }
  for (const file of plan.files) await downloadFile(repo, info.sha, file, repoDir, options);
  const dir = join(repoDir, "snapshots", info.sha);
  if (plan.index !== undefined) {
    const text = Deno.readTextFileSync(join(dir, plan.index));
    for (const shard of shardsOf(text, `${repo}: ${plan.index}`, info.files)) {
      await downloadFile(repo, info.sha, shard, repoDir, options);
    }
  }
  if (!isCommitHash(revision)) writeAtomic(join(repoDir, "refs", revision), info.sha);
  return { dir, commit: info.sha, repoDir };
}
