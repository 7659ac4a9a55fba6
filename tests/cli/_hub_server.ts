/**
 * A local HTTP server (Deno.serve on 127.0.0.1, port 0) that answers like the Hugging Face hub for one model
 * repository, for the hub and cache tests: the model-info API with `sha` and `siblings`, `resolve` URLs that answer
 * small files directly (`ETag`: the git blob hash) and large ones with a 302 to a "CDN" path (`X-Linked-Etag`: the
 * SHA-256, `X-Linked-Size`), `X-Repo-Commit` everywhere, `Range` → 206, 404 for what it does not have, an optional
 * token check (401), and a connection dropped mid-body on demand. Every request is logged.
 *
 * @module
 */

/** One request the server saw. */
export interface SeenRequest {
  method: string;
  path: string;
  range: string | null;
  authorization: string | null;
}

/** Options of {@link startHub}. */
export interface HubServerOptions {
  /** `org/name`. */
  repo: string;
  /** The repository's files (names may contain `/`). */
  files: Record<string, Uint8Array>;
  /** Files served as LFS (through the CDN redirect): default every `*.safetensors` and `*.bin`. */
  lfs?: (name: string) => boolean;
  /** When set, every request must carry `Authorization: Bearer <token>` (else 401). */
  token?: string;
  /** A hostile hub: the `X-Linked-Etag` / `ETag` value to send for these files instead of their hash. */
  etags?: Record<string, string>;
  /** A hostile hub: the `X-Linked-Size` to announce for these files instead of their size. */
  sizes?: Record<string, number>;
}

/** A running hub: its URL, the requests it saw, and knobs for the tests. */
export interface HubServer {
  url: string;
  /** The repository's commit hash (40 hex). */
  sha: string;
  seen: SeenRequest[];
  /** The next GET of a CDN blob whose name ends with this file's name sends this many bytes, then drops. */
  dropAfter: Map<string, number>;
  /** The SHA-256 (hex) of a file: its blob name in the cache for LFS files. */
  sha256(name: string): Promise<string>;
  /** The git blob hash (SHA-1 hex of `blob <n>\0<bytes>`): its blob name for plain files. */
  gitHash(name: string): Promise<string>;
  close(): Promise<void>;
}

async function hex(algorithm: "SHA-1" | "SHA-256", bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(algorithm, bytes.slice().buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function gitBlobHash(bytes: Uint8Array): Promise<string> {
  const head = new TextEncoder().encode(`blob ${bytes.length}\0`);
  const all = new Uint8Array(head.length + bytes.length);
  all.set(head);
  all.set(bytes, head.length);
  return await hex("SHA-1", all);
}

/** Starts the server; close it with `close()`. */
export async function startHub(options: HubServerOptions): Promise<HubServer> {
  const { repo, files } = options;
  const lfs = options.lfs ?? ((n: string) => n.endsWith(".safetensors") || n.endsWith(".bin"));
  const sha = await hex("SHA-1", new TextEncoder().encode(`${repo}:${Object.keys(files).join(",")}`));
  const sha256s = new Map<string, string>();
  const gits = new Map<string, string>();
  for (const [name, bytes] of Object.entries(files)) {
    sha256s.set(name, await hex("SHA-256", bytes));
    gits.set(name, await gitBlobHash(bytes));
  }
  const byCdn = new Map([...sha256s].map(([name, h]) => [h, name]));
  const seen: SeenRequest[] = [];
  const dropAfter = new Map<string, number>();
  const common = { "x-repo-commit": sha };

  /** The body for a GET with an optional Range, as the hub's CDN answers it. */
  const body = (name: string, req: Request, headers: Record<string, string>): Response => {
    const bytes = files[name];
    const range = req.headers.get("range");
    let start = 0;
    let status = 200;
    if (range !== null) {
      const m = /^bytes=(\d+)-$/.exec(range);
      if (!m || Number(m[1]) > bytes.length) {
        return new Response(null, { status: 416, headers: { "content-range": `bytes */${bytes.length}` } });
      }
      start = Number(m[1]);
      status = 206;
      headers["content-range"] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    }
    const part = bytes.subarray(start);
    if (req.method === "HEAD") {
      return new Response(null, { status, headers: { ...headers, "content-length": String(part.length) } });
    }
    const drop = dropAfter.get(name);
    if (drop !== undefined) {
      dropAfter.delete(name);
      const first = part.slice(0, drop);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(first);
        },
        pull(controller) {
          controller.error(new Error("connection dropped by the test hub"));
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(part.slice(), { status, headers: { ...headers, "content-length": String(part.length) } });
  };

  const handler = (req: Request): Response => {
    const url = new URL(req.url);
    const path = decodeURIComponent(url.pathname);
    seen.push({
      method: req.method,
      path,
      range: req.headers.get("range"),
      authorization: req.headers.get("authorization"),
    });
    if (options.token !== undefined && req.headers.get("authorization") !== `Bearer ${options.token}`) {
      return new Response("unauthorized", { status: 401, statusText: "Unauthorized" });
    }
    const api = `/api/models/${repo}/revision/`;
    if (path.startsWith(api)) {
      const rev = path.slice(api.length);
      if (rev !== "main" && rev !== sha) return new Response("no such revision", { status: 404 });
      return Response.json({ id: repo, sha, siblings: Object.keys(files).map((rfilename) => ({ rfilename })) });
    }
    const resolve = `/${repo}/resolve/`;
    if (path.startsWith(resolve)) {
      const rest = path.slice(resolve.length);
      const slash = rest.indexOf("/");
      const rev = rest.slice(0, slash);
      const name = rest.slice(slash + 1);
      if ((rev !== "main" && rev !== sha) || !Object.hasOwn(files, name)) {
        return new Response("Entry not found", {
          status: 404,
          statusText: "Not Found",
          headers: { ...common, "x-error-code": "EntryNotFound" },
        });
      }
      if (lfs(name)) {
        return new Response(null, {
          status: 302,
          headers: {
            ...common,
            location: `${url.origin}/cdn/${sha256s.get(name)}`,
            "x-linked-etag": options.etags?.[name] ?? `"${sha256s.get(name)}"`,
            "x-linked-size": String(options.sizes?.[name] ?? files[name].length),
          },
        });
      }
      return body(name, req, { ...common, etag: options.etags?.[name] ?? `"${gits.get(name)}"` });
    }
    if (path.startsWith("/cdn/")) {
      const name = byCdn.get(path.slice("/cdn/".length));
      if (name === undefined) return new Response("no such blob", { status: 404 });
      return body(name, req, { etag: `"${sha256s.get(name)}"` });
    }
    return new Response("not found", { status: 404 });
  };

  const ready = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => ready.resolve(port),
    onError: () => new Response("server error", { status: 500 }),
  }, handler);
  const port = await ready.promise;
  return {
    url: `http://127.0.0.1:${port}`,
    sha,
    seen,
    dropAfter,
    sha256: (name) => Promise.resolve(sha256s.get(name)!),
    gitHash: (name) => Promise.resolve(gits.get(name)!),
    close: () => server.shutdown(),
  };
}
