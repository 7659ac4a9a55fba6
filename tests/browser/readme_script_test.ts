/**
 * README.md's `<script type="module">` example, run as written in headless Chromium: the block is taken from the
 * README, the CDN address is pointed at a fresh npm build (`build.ts`: the same `esm/mod.js` a CDN serves),
 * the checkpoint folder at a tiny fixture and the prompt at its golden prompt; the page must print the backend and
 * the fixture's greedy continuation (transformers' generate).
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { buildNpm } from "../../build.ts";
import { VERSION } from "../../mod.ts";
import { fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { CHROMIUM, CHROMIUM_ARGS, chromiumSkipReason } from "./_chromium.ts";

const README = new URL("../../README.md", import.meta.url);
const MARKER = "<!-- tests/browser/readme_script_test.ts runs this block in Chromium. -->";
const FIXTURE = "mamba2-tiny";

/** The ```html block that follows the marker comment. */
function readmeBlock(): string {
  const text = Deno.readTextFileSync(README);
  const at = text.indexOf(MARKER);
  assert.ok(at >= 0, `README.md lost the marker ${MARKER}`);
  const m = /```html\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(m, "README.md: no ```html block after the marker");
  return m[1];
}

/** Replaces `from` (which must occur exactly once) by `to`. */
function replaceOnce(text: string, from: string, to: string): string {
  const parts = text.split(from);
  assert.equal(parts.length, 2, `README example: expected "${from}" exactly once`);
  return parts.join(to);
}

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript",
  ".map": "application/json",
  ".json": "application/json",
};

/** A static file under `root`, or null when missing or outside it. */
async function staticFile(root: string, rel: string): Promise<Response | null> {
  if (rel.split("/").some((p) => p === ".." || p === "")) return null;
  try {
    const body = await Deno.readFile(`${root}/${rel}`);
    const ext = rel.slice(rel.lastIndexOf("."));
    return new Response(body, { headers: { "content-type": CONTENT_TYPES[ext] ?? "application/octet-stream" } });
  } catch {
    return null;
  }
}

const skip = chromiumSkipReason();

Deno.test({
  name: `README's <script type="module"> example runs in Chromium${skip ? ` — ${skip}` : ""}`,
  ignore: skip !== null,
  async fn() {
    const golden = readGolden<FixtureGolden>(fixtureDir(FIXTURE));
    let html = readmeBlock();
    const cdn = `https://cdn.jsdelivr.net/npm/@perfmamba/perfmamba@${VERSION}/esm/mod.js`;
    html = replaceOnce(html, cdn, "/pkg/esm/mod.js"); // also checks the README names the current version
    html = replaceOnce(html, `"models/mamba2-130m/"`, `"fixtures/${FIXTURE}/"`);
    html = replaceOnce(html, "[12092, 1533]", JSON.stringify(golden.greedy_prompt));
    html = replaceOnce(html, "maxNewTokens: 8", `maxNewTokens: ${golden.greedy_continuation.length}`);

    const tmp = await Deno.makeTempDir({ prefix: "perfmamba-readme-" });
    const pkg = `${tmp}/pkg`;
    const fixtures = new URL("../fixtures", import.meta.url).pathname;
    const ac = new AbortController();
    let ctx: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | null = null;
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", signal: ac.signal, onListen() {} }, async (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      if (path === "/") {
        return new Response(`<!doctype html><meta charset="utf-8"><title>README example</title>\n${html}`, {
          headers: { "content-type": "text/html; charset=utf-8" },
        });
      }
      const file = path.startsWith("/pkg/")
        ? await staticFile(pkg, path.slice(5))
        : path.startsWith("/fixtures/")
        ? await staticFile(fixtures, path.slice(10))
        : null;
      return file ?? new Response("not found", { status: 404 });
    });
    try {
      await buildNpm(pkg);
      ctx = await chromium.launchPersistentContext(`${tmp}/profile`, {
        executablePath: CHROMIUM,
        headless: true,
        args: [...CHROMIUM_ARGS],
      });
      const page = await ctx.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await page.waitForFunction(() => document.querySelector("#out")?.textContent !== "loading…", null, {
        timeout: 60_000,
      }).catch(() => {});
      const out = await page.textContent("#out");
      assert.deepEqual(errors, [], `page errors: ${errors.join("; ")}`);
      // No cross-origin isolation, SwiftShader is a software adapter: "auto" takes WASM here.
      assert.equal(out, `wasm: ${golden.greedy_continuation.join(" ")}`);
    } finally {
      await ctx?.close();
      ac.abort();
      await server.finished;
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
