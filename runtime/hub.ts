/**
 * Hugging Face hub model ids, huggingface_hub's cache names, resolve URLs, and {@link hubSource}: a
 * {@link CheckpointSource} reading a model straight from the hub (browsers, edge runtimes, Deno) — platform-neutral.
 *
 * The on-disk cache (`~/.cache/huggingface/hub`) and downloads into it are the CLI's (cli/hf_cache.ts,
 * cli/hub_download.ts); the names they use are defined here, once.
 *
 * @module
 */

import { type CheckpointSource, urlSource } from "./checkpoint.ts";

/**
 * The public hub: the default endpoint (the CLI also reads `HF_ENDPOINT`).
 *
 * @example
 * ```ts
 * import { HF_ENDPOINT } from "@perfmamba/perfmamba";
 *
 * console.log(HF_ENDPOINT); // https://huggingface.co
 * ```
 */
export const HF_ENDPOINT = "https://huggingface.co";

/**
 * A model id, revision or endpoint that is not one the hub could have; `input` is what was given.
 *
 * @example
 * ```ts
 * import { HubIdError, parseRepoId } from "@perfmamba/perfmamba";
 *
 * try {
 *   parseRepoId("../../etc/passwd");
 * } catch (e) {
 *   if (!(e instanceof HubIdError)) throw e;
 *   console.log(e.input); // ../../etc/passwd
 * }
 * ```
 */
export class HubIdError extends Error {
  override name = "HubIdError";
  /** The id or revision as given. */
  readonly input: string;
  constructor(input: string, message: string) {
    super(message);
    this.input = input;
  }
}

/**
 * A model repository on the hub: `org/name`, at a revision (a branch, tag or 40-hex commit).
 *
 * @example
 * ```ts
 * import { parseRepoId, type RepoId } from "@perfmamba/perfmamba";
 *
 * const repo: RepoId = parseRepoId("state-spaces/mamba-130m-hf@main");
 * console.log(repo.org, repo.name, repo.revision); // state-spaces mamba-130m-hf main
 * ```
 */
export interface RepoId {
  /** The owner (user or organisation), e.g. `state-spaces`. */
  org: string;
  /** The repository name, e.g. `mamba-130m-hf`. */
  name: string;
  /** `org/name`. */
  id: string;
  /** The revision given after `@`, or undefined. */
  revision?: string;
}

/** One part of a repo id: letters, digits, `_`, `-`, `.`; not starting or ending with `-` or `.`; no `--` / `..`. */
const PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
/** A full commit hash as the hub names snapshots. */
const COMMIT = /^[0-9a-f]{40}$/;

/**
 * Whether `revision` is a full commit hash (40 lowercase hex digits): it names a snapshot directly.
 *
 * @example
 * ```ts
 * import { isCommitHash } from "@perfmamba/perfmamba";
 *
 * console.log(isCommitHash("main"), isCommitHash("0123456789abcdef0123456789abcdef01234567")); // false true
 * ```
 */
export function isCommitHash(revision: string): boolean {
  return COMMIT.test(revision);
}

/** Why `part` (org or name) is not a valid repo id part, or null. */
function partProblem(part: string, what: string): string | null {
  if (part === "") return `an empty ${what}`;
  if (part.length > 96) return `a ${what} longer than 96 characters`;
  if (part.includes("--") || part.includes("..")) return `"--" or ".." in the ${what}`;
  if (!PART.test(part)) {
    return `a ${what} with characters other than letters, digits, "_", "-", "." (or starting or ending with "-" / ".")`;
  }
  return null;
}

/**
 * Checks a revision (branch, tag, `refs/pr/N` or a commit hash): `/`-separated segments of letters, digits, `_`,
 * `-`, `.`, none empty, `.` or `..`, at most 255 characters. It becomes a file name under the cache's `refs/` and a
 * URL path segment, so nothing else is accepted.
 *
 * @param revision the revision as given
 * @returns the revision
 * @throws HubIdError naming the revision and what is wrong with it
 *
 * @example
 * ```ts
 * import { checkRevision } from "@perfmamba/perfmamba";
 *
 * console.log(checkRevision("refs/pr/1")); // refs/pr/1
 * try {
 *   checkRevision("../../etc");
 * } catch (e) {
 *   console.log((e as Error).name); // HubIdError
 * }
 * ```
 */
export function checkRevision(revision: string): string {
  const bad = (why: string) => new HubIdError(revision, `revision ${JSON.stringify(revision)} is not valid (${why})`);
  if (revision === "") throw bad("empty");
  if (revision.length > 255) throw bad("longer than 255 characters");
  for (const segment of revision.split("/")) {
    if (segment === "" || segment === "." || segment === "..") throw bad(`a "${segment}" segment`);
    if (!/^[A-Za-z0-9_.-]+$/.test(segment)) throw bad(`characters other than letters, digits, "_", "-", "." and "/"`);
  }
  return revision;
}

/**
 * Parses a hub model id, `org/name` or `org/name@revision` (e.g. `state-spaces/mamba-130m-hf`).
 *
 * Refused with a {@link HubIdError}: anything but exactly one `/` (absolute paths, `./x`, `a/b/c`), `..` or `--`
 * in a part, characters other than letters, digits, `_`, `-`, `.`, parts starting or ending with `-` or `.`, and a
 * revision {@link checkRevision} refuses.
 *
 * @param input the id as given
 * @returns its parts
 * @throws HubIdError naming the input and what is wrong with it
 *
 * @example
 * ```ts
 * import { parseRepoId } from "@perfmamba/perfmamba";
 *
 * console.log(parseRepoId("state-spaces/mamba-130m-hf@main"));
 * // { org: "state-spaces", name: "mamba-130m-hf", id: "state-spaces/mamba-130m-hf", revision: "main" }
 * for (const bad of ["/etc/passwd", "a/../b", "org/na me", "org--x/y"]) {
 *   try {
 *     parseRepoId(bad);
 *   } catch (e) {
 *     console.log((e as Error).name); // HubIdError
 *   }
 * }
 * ```
 */
export function parseRepoId(input: string): RepoId {
  const at = input.indexOf("@");
  const idPart = at < 0 ? input : input.slice(0, at);
  const revision = at < 0 ? undefined : input.slice(at + 1);
  const parts = idPart.split("/");
  const bad = (why: string) =>
    new HubIdError(input, `${JSON.stringify(input)} is not a Hugging Face model id "org/name" (${why})`);
  if (parts.length !== 2) throw bad(`${parts.length - 1} "/" instead of one`);
  const [org, name] = parts;
  const problem = partProblem(org, "owner") ?? partProblem(name, "name");
  if (problem !== null) throw bad(problem);
  if (revision !== undefined) {
    try {
      checkRevision(revision);
    } catch (e) {
      throw bad((e as Error).message);
    }
  }
  return { org, name, id: `${org}/${name}`, ...(revision !== undefined ? { revision } : {}) };
}

/**
 * The folder name huggingface_hub gives a model repository in its cache: `models--org--name`.
 *
 * @param repo an `org/name` id (checked by {@link parseRepoId})
 * @returns the folder name
 *
 * @example
 * ```ts
 * import { cacheFolderName } from "@perfmamba/perfmamba";
 *
 * console.log(cacheFolderName("state-spaces/mamba-130m-hf")); // models--state-spaces--mamba-130m-hf
 * ```
 */
export function cacheFolderName(repo: string): string {
  const { org, name } = parseRepoId(repo);
  return `models--${org}--${name}`;
}

/**
 * A blob's name in the cache from an `ETag` / `X-Linked-Etag` header, as huggingface_hub normalises it (a weak
 * `W/` prefix and the quotes stripped). It must then be a plain name of letters, digits, `_` and `-` (the hub's are
 * a git SHA-1 or an LFS SHA-256 in hex): anything else could name a path, and is refused.
 *
 * @param etag the header's value
 * @returns the blob file name
 * @throws Error naming the header value
 *
 * @example
 * ```ts
 * import { blobName } from "@perfmamba/perfmamba";
 *
 * console.log(blobName('W/"0123abcd"')); // 0123abcd
 * ```
 */
export function blobName(etag: string): string {
  const name = etag.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(name)) {
    throw new Error(`ETag ${JSON.stringify(etag)} is not a plain blob name (letters, digits, "_", "-")`);
  }
  return name;
}

/**
 * Options of {@link resolveUrl} and {@link modelInfoUrl}.
 *
 * @example
 * ```ts
 * import { type HubOptions, resolveUrl } from "@perfmamba/perfmamba";
 *
 * const mirror: HubOptions = { endpoint: "https://hf-mirror.example", revision: "v1.0" };
 * console.log(resolveUrl("org/model", "config.json", mirror)); // https://hf-mirror.example/org/model/resolve/v1.0/config.json
 * ```
 */
export interface HubOptions {
  /** Branch, tag or commit (default `main`). */
  revision?: string;
  /** The hub's base URL (default {@link HF_ENDPOINT}; a mirror or a local test server). */
  endpoint?: string;
}

/** The endpoint without trailing slashes, checked to be an http(s) URL. */
function endpointOf(endpoint: string = HF_ENDPOINT): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new HubIdError(endpoint, `hub endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new HubIdError(endpoint, `hub endpoint ${JSON.stringify(endpoint)} is not an http(s) URL`);
  }
  return url.href.replace(/\/+$/, "");
}

/**
 * The URL of one file of a model at a revision: `{endpoint}/{org}/{name}/resolve/{revision}/{file}` (the revision
 * percent-encoded as one segment, as huggingface_hub does: `refs/pr/1` → `refs%2Fpr%2F1`).
 *
 * @param repo `org/name`
 * @param file a file name inside the repository (e.g. `config.json`)
 * @param options revision (default `main`) and endpoint (default https://huggingface.co)
 * @returns the URL
 *
 * @example
 * ```ts
 * import { resolveUrl } from "@perfmamba/perfmamba";
 *
 * console.log(resolveUrl("state-spaces/mamba-130m-hf", "config.json"));
 * // https://huggingface.co/state-spaces/mamba-130m-hf/resolve/main/config.json
 * ```
 */
export function resolveUrl(repo: string, file: string, options: HubOptions = {}): string {
  return `${resolveBase(repo, options)}${file.split("/").map(encodeURIComponent).join("/")}`;
}

/** `{endpoint}/{org}/{name}/resolve/{revision}/`. */
function resolveBase(repo: string, options: HubOptions): string {
  const { id, revision: given } = parseRepoId(repo);
  const revision = checkRevision(options.revision ?? given ?? "main");
  return `${endpointOf(options.endpoint)}/${id}/resolve/${encodeURIComponent(revision)}/`;
}

/**
 * The hub's API URL describing a model at a revision (`sha`: its commit; `siblings`: its files):
 * `{endpoint}/api/models/{org}/{name}/revision/{revision}`.
 *
 * @param repo `org/name`
 * @param options revision (default `main`) and endpoint
 * @returns the URL
 *
 * @example
 * ```ts
 * import { modelInfoUrl } from "@perfmamba/perfmamba";
 *
 * console.log(modelInfoUrl("state-spaces/mamba-130m-hf"));
 * // https://huggingface.co/api/models/state-spaces/mamba-130m-hf/revision/main
 * ```
 */
export function modelInfoUrl(repo: string, options: HubOptions = {}): string {
  const { id, revision: given } = parseRepoId(repo);
  const revision = checkRevision(options.revision ?? given ?? "main");
  return `${endpointOf(options.endpoint)}/api/models/${id}/revision/${encodeURIComponent(revision)}`;
}

/**
 * Options of {@link hubSource}: a revision and endpoint, the fetch to use and a token.
 *
 * @example
 * ```ts
 * import { hubSource, type HubSourceOptions } from "@perfmamba/perfmamba";
 *
 * const options: HubSourceOptions = { revision: "main", token: "hf_…" }; // token: gated or private models
 * console.log(hubSource("state-spaces/mamba-130m-hf", options).describe());
 * // https://huggingface.co/state-spaces/mamba-130m-hf/resolve/main/
 * ```
 */
export interface HubSourceOptions extends HubOptions {
  /** The fetch implementation (default the global `fetch`). */
  fetch?: typeof fetch;
  /** An access token for gated or private models, sent as `Authorization: Bearer …` (never in messages). */
  token?: string;
}

/**
 * A model on the Hugging Face hub as a {@link CheckpointSource}: files are fetched from the revision's `resolve`
 * URLs ({@link urlSource} underneath, so file names from a hostile index cannot leave the repository). Nothing is
 * cached: in a browser, the HTTP cache (or the Cache API in your own `fetch`) does that; the CLI keeps
 * huggingface_hub's cache on disk instead.
 *
 * @param repo `org/name` or `org/name@revision`
 * @param options revision, endpoint, fetch, token
 * @returns a source for `loadWeights`; its `describe()` is the resolve URL
 * @throws HubIdError for a malformed id, revision or endpoint
 *
 * @example
 * ```ts
 * import { checkpointFiles, hubSource, loadWeights, makeConfig, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * // A stand-in for the hub; in real use, leave `fetch` out.
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const files = checkpointFiles(syntheticWeights(config));
 * const seen: string[] = [];
 * const fakeHub: typeof fetch = (input, init) => {
 *   const url = new URL(input instanceof Request ? input.url : input);
 *   seen.push(new Headers(init?.headers).get("authorization") ?? "none");
 *   const name = url.pathname.split("/").pop()!;
 *   const body = name === "config.json" ? files["config.json"] : name === "model.safetensors" ? files["model.safetensors"].slice() : undefined;
 *   return Promise.resolve(new Response(body === undefined ? null : init?.method === "HEAD" ? null : body, { status: body === undefined ? 404 : 200 }));
 * };
 * const source = hubSource("my-org/tiny-mamba2", { fetch: fakeHub, token: "hf_secret" });
 * console.log(source.describe()); // https://huggingface.co/my-org/tiny-mamba2/resolve/main/
 * const weights = await loadWeights(source);
 * console.log(weights.layers.length, seen[0]); // 2 Bearer hf_secret
 * ```
 */
export function hubSource(repo: string, options: HubSourceOptions = {}): CheckpointSource {
  const base = resolveBase(repo, options);
  const fetchFn = options.fetch ?? fetch;
  const token = options.token;
  const authed: typeof fetch = token === undefined || token === "" ? fetchFn : (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set("authorization", `Bearer ${token}`);
    return fetchFn(input, { ...init, headers });
  };
  return urlSource(base, authed);
}
