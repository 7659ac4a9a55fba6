/**
 * End to end in a real browser: the demo of examples/browser/ is bundled (esbuild), served by its own server
 * (cross-origin isolated) and driven in headless Chromium through playwright-core.
 *
 * - Per tiny fixture (mamba1-tiny, mamba2-tiny): the page's test hook loads the checkpoint by URL and runs the
 *   prefill of golden.json's input ids on WASM on the main thread, WASM in a Web Worker, WebGPU (this machine's
 *   SwiftShader adapter) and "auto"; the logits must match golden.json, and the page must report the backend that
 *   ran (and, for "auto", why it chose it).
 * - A bad checkpoint URL must end in an error shown on the page.
 * - With ../shared/models present: greedy tokens from mamba2-text-small (GPT-NeoX tokenizer) on WASM must match
 *   its golden continuation.
 * - The demo UI itself: load, generate, profile (chart drawn); a screenshot is saved (path printed).
 *
 * Chromium: $CHROMIUM or /usr/bin/chromium (Debian's `chromium` package); the test is skipped, with the reason in
 * its name, when it is missing (a failure in CI: tests/browser/_chromium.ts).
 */
import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { buildDemo } from "../../examples/browser/build.ts";
import { type DemoServer, serveDemo } from "../../examples/browser/serve.ts";
import {
  assertClose,
  fixtureDir,
  type FixtureGolden,
  type ModelGolden,
  readGolden,
  SHARED,
  sharedSkipReason,
} from "../_golden.ts";
import { CHROMIUM, CHROMIUM_ARGS, chromiumSkipReason } from "./_chromium.ts";

const SCREENSHOT = new URL("../../out/browser-e2e/demo.png", import.meta.url).pathname;
const FIXTURES = ["mamba1-tiny", "mamba2-tiny"] as const;

/** What the page's test hook publishes in #result (see examples/browser/app.ts). */
interface HookResult {
  ok: boolean;
  error?: string;
  thread?: string;
  crossOriginIsolated?: boolean;
  backend?: {
    name: string;
    description: string;
    requested: string;
    reason: string;
    gpu: { adapter: boolean; fallback: boolean; detail: string };
  };
  logits?: { rows: number; vocab: number; ms: number; data: number[] };
  generated?: { promptIds: number[]; tokens: number[]; text: string };
  profile?: { timing: string; runs: { mode: string; seqLen: number; components: { name: string; ms: number }[] }[] };
}

/** Opens a hook URL in a new page and returns what it published (page errors fail the run). */
async function hook(ctx: BrowserContext, url: string): Promise<{ result: HookResult; shown: string }> {
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await page.goto(url);
    await page.waitForSelector("html[data-result]", { timeout: 60_000 });
    const result = JSON.parse((await page.textContent("#result")) ?? "null") as HookResult;
    const shown = (await page.locator("#error").isVisible()) ? (await page.textContent("#error")) ?? "" : "";
    assert.deepEqual(errors, [], "uncaught page errors");
    return { result, shown };
  } finally {
    await page.close();
  }
}

function assertGoldenLogits(r: HookResult, golden: FixtureGolden, what: string): void {
  assert.ok(r.ok, `${what}: ${r.error}`);
  const l = r.logits!;
  assert.equal(l.rows, golden.input_ids.length, `${what}: rows`);
  assert.equal(l.vocab, golden.logits[0].length, `${what}: vocab`);
  assertClose(l.data, golden.logits.flat(), `${what}: logits`);
}

const skip = chromiumSkipReason();

Deno.test({
  name: `browser e2e: demo in headless Chromium (WASM main/worker, WebGPU, auto)${skip ? ` — ${skip}` : ""}`,
  ignore: skip !== null,
  async fn(t) {
    const t0 = performance.now();
    const lap = (what: string) => console.log(`  ${what}: ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
    const dist = await Deno.makeTempDir({ prefix: "perfmamba-browser-" });
    const profileDir = await Deno.makeTempDir({ prefix: "perfmamba-chromium-" });
    let server: DemoServer | null = null;
    let ctx: BrowserContext | null = null;
    try {
      await buildDemo({ outDir: dist, logWarnings: false });
      server = serveDemo({ dist, port: 0 });
      lap("built and serving");
      ctx = await chromium.launchPersistentContext(profileDir, {
        executablePath: CHROMIUM,
        headless: true,
        args: [...CHROMIUM_ARGS],
        viewport: { width: 1100, height: 900 },
      });
      lap("chromium started");
      const base = server.url;
      const browser = ctx;

      for (const fixture of FIXTURES) {
        const golden = readGolden<FixtureGolden>(fixtureDir(fixture));
        const q = `model=/fixtures/${fixture}/&check=logits&ids=${golden.input_ids.join(",")}`;

        await t.step(`${fixture}: WASM on the main thread`, async () => {
          const { result } = await hook(browser, `${base}?${q}&backend=wasm&worker=0`);
          assertGoldenLogits(result, golden, "wasm main");
          assert.equal(result.backend!.name, "wasm");
          assert.equal(result.thread, "main");
          assert.equal(result.crossOriginIsolated, true, "served with COOP/COEP: cross-origin isolated");
          assert.match(result.backend!.description, /WASM SIMD/);
        });

        await t.step(`${fixture}: WASM in a Web Worker`, async () => {
          const { result } = await hook(browser, `${base}?${q}&backend=wasm&worker=1`);
          assertGoldenLogits(result, golden, "wasm worker");
          assert.equal(result.backend!.name, "wasm");
          assert.equal(result.thread, "worker");
          // Two cores here: the kernels' own worker threads share the memory (crossOriginIsolated in the worker).
          if (navigator.hardwareConcurrency > 1) assert.match(result.backend!.description, /threads, shared memory/);
        });

        // WebGPU: mamba1-tiny on the main thread, mamba2-tiny in the worker (navigator.gpu in workers too).
        const worker = fixture === "mamba2-tiny" ? 1 : 0;
        await t.step(`${fixture}: WebGPU (${worker ? "worker" : "main thread"})`, async () => {
          const { result } = await hook(browser, `${base}?${q}&backend=webgpu&worker=${worker}`);
          assert.ok(result.ok, `webgpu: ${result.error}`);
          assert.equal(result.backend!.name, "webgpu", "the page reports WebGPU");
          assert.ok(result.backend!.gpu.adapter, "a WebGPU adapter is present");
          assert.match(result.backend!.description, /^WebGPU \(/);
          console.log(`    adapter: ${result.backend!.gpu.detail} (fallback: ${result.backend!.gpu.fallback})`);
          assertGoldenLogits(result, golden, "webgpu");
        });

        await t.step(`${fixture}: WebGPU greedy generation (argmax on the device) = transformers'`, async () => {
          const n = golden.greedy_continuation.length;
          const g = `model=/fixtures/${fixture}/&check=generate&ids=${golden.greedy_prompt.join(",")}&n=${n}`;
          const { result } = await hook(browser, `${base}?${g}&backend=webgpu&worker=${worker}`);
          assert.ok(result.ok, `webgpu generate: ${result.error}`);
          assert.equal(result.backend!.name, "webgpu");
          assert.deepEqual(result.generated!.tokens, golden.greedy_continuation);
        });

        await t.step(`${fixture}: auto`, async () => {
          const { result } = await hook(browser, `${base}?${q}&backend=auto`);
          assertGoldenLogits(result, golden, "auto");
          const b = result.backend!;
          assert.equal(b.requested, "auto");
          if (b.gpu.adapter && !b.gpu.fallback) {
            assert.equal(b.name, "webgpu");
            assert.match(b.reason, /auto chose WebGPU: hardware adapter/);
          } else if (b.gpu.adapter) {
            // SwiftShader here: a software adapter, which "auto" passes over.
            assert.equal(b.name, "wasm");
            assert.match(b.reason, /auto chose WASM: .* is a software fallback \(isFallbackAdapter\)/);
          } else {
            assert.equal(b.name, "wasm");
            assert.match(b.reason, /auto chose WASM: no WebGPU adapter/);
          }
          console.log(`    auto → ${b.name}: ${b.reason}`);
        });
      }
      lap("fixtures checked");

      await t.step("auto with a software adapter allowed takes WebGPU", async () => {
        const golden = readGolden<FixtureGolden>(fixtureDir("mamba2-tiny"));
        const { result } = await hook(
          browser,
          `${base}?model=/fixtures/mamba2-tiny/&check=logits&backend=auto&fallback=1`, // ids from golden.json
        );
        assertGoldenLogits(result, golden, "auto + fallback");
        if (result.backend!.gpu.adapter) {
          assert.equal(result.backend!.name, "webgpu");
          assert.match(result.backend!.reason, /auto chose WebGPU/);
        }
      });

      await t.step("profile on WebGPU in the worker: every component timed", async () => {
        const { result } = await hook(
          browser,
          `${base}?model=/fixtures/mamba2-tiny/&check=profile&seq=32&backend=webgpu&worker=1`,
        );
        assert.ok(result.ok, result.error);
        assert.equal(result.backend!.name, "webgpu");
        const p = result.profile!;
        assert.deepEqual(p.runs.map((r) => `${r.mode} ${r.seqLen}`), ["prefill 32", "decode 32"]);
        for (const r of p.runs) {
          const names = r.components.map((c) => c.name);
          for (const c of ["in_proj", "conv1d", "ssm", "out_proj"]) assert.ok(names.includes(c), `${c} in ${names}`);
          assert.ok(r.components.some((c) => c.ms > 0), "some component took time");
        }
        console.log(`    timing: ${p.timing}`);
      });

      await t.step("a bad checkpoint URL is an error on the page", async () => {
        const { result, shown } = await hook(browser, `${base}?model=/fixtures/no-such-model/&check=logits`);
        assert.equal(result.ok, false);
        assert.match(result.error!, /no-such-model\/config\.json: not found/);
        assert.match(shown, /config\.json: not found/, "the error is shown on the page");
      });

      const sharedSkip = sharedSkipReason("models/mamba2-text-small") ??
        sharedSkipReason("data/tokenizer/gpt-neox-20b-tokenizer.json");
      await t.step({
        name: `mamba2-text-small + GPT-NeoX tokenizer on WASM: greedy tokens${sharedSkip ? ` (${sharedSkip})` : ""}`,
        ignore: sharedSkip !== null,
        fn: async () => {
          const golden = readGolden<ModelGolden>(`${SHARED}/models/mamba2-text-small`);
          const n = 8;
          const { result } = await hook(
            browser,
            `${base}?model=/models/mamba2-text-small/&tokenizer=/tokenizer.json&backend=wasm&check=generate` +
              `&n=${n}&ids=${golden.greedy_prompt.join(",")}`,
          );
          assert.ok(result.ok, result.error);
          assert.equal(result.backend!.name, "wasm");
          assert.deepEqual(result.generated!.tokens, golden.greedy_continuation.slice(0, n));
          assert.ok(result.generated!.text.trim().length > 0, "decoded text");
          console.log(`    text: ${JSON.stringify(result.generated!.text)}`);
        },
      });
      if (sharedSkip) console.log(`  ${sharedSkip}`);
      lap("hook checks done");

      await t.step("demo UI: picked files (main thread), and a mismatched pick's error", async () => {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        try {
          await pickedFiles(page, base);
          assert.deepEqual(errors, [], "uncaught page errors");
        } finally {
          await page.close();
        }
      });

      await t.step("demo UI: load, generate, profile, screenshot", async () => {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on("pageerror", (e) => errors.push(e.message));
        try {
          await demoRun(page, base, sharedSkip === null);
          assert.deepEqual(errors, [], "uncaught page errors");
        } finally {
          await page.close();
        }
      });
      lap("UI run done");
    } finally {
      await ctx?.close();
      await server?.shutdown();
      await Deno.remove(dist, { recursive: true });
      await Deno.remove(profileDir, { recursive: true });
    }
  },
});

/** Drives the page as a user would (worker mode, WASM) and saves a screenshot. */
async function demoRun(page: Page, base: string, shared: boolean): Promise<void> {
  await page.goto(base);
  await page.waitForFunction(() => document.getElementById("env")?.dataset.webgpu !== undefined);
  const model = shared ? "/models/mamba2-text-small/" : "/fixtures/mamba2-tiny/";
  const tokenizer = shared ? "/tokenizer.json" : "/fixtures/eval/byte-tokenizer.json";
  await page.fill("#model-url", model);
  await page.fill("#tokenizer-url", tokenizer);
  await page.selectOption("#backend", "auto");
  await page.click("#load");
  await page.waitForSelector("#backend-info:not([hidden])", { timeout: 60_000 });
  assert.equal(await page.locator("#error").isVisible(), false, await page.textContent("#error") ?? "");
  const badge = await page.getAttribute("#backend-badge", "data-backend");
  assert.ok(badge === "wasm" || badge === "webgpu", `badge ${badge}`);
  assert.ok(((await page.textContent("#backend-reason")) ?? "").startsWith("auto chose"), "the page says why");

  await page.fill("#prompt", shared ? "The history of the city began" : "Mamba ");
  await page.fill("#max-new", "24");
  await page.click("#generate");
  await page.waitForFunction(() => /stop: /.test(document.getElementById("generate-status")?.textContent ?? ""), {
    timeout: 60_000,
  });
  const text = (await page.textContent("#output-new")) ?? "";
  assert.ok(text.length > 0, "generated text is shown");

  await page.fill("#seq-lens", "16, 64");
  await page.click("#profile");
  await page.waitForSelector("#charts figure svg", { timeout: 60_000 });
  await page.waitForSelector("#profile-table table");
  const charts = await page.locator("#charts figure").count();
  assert.equal(charts, 2, "prefill and decode breakdown charts");
  const table = (await page.textContent("#profile-table")) ?? "";
  for (const c of ["in_proj", "conv1d", "ssm", "out_proj"]) assert.ok(table.includes(c), `component ${c} listed`);
  assert.equal(await page.locator("#error").isVisible(), false, await page.textContent("#error") ?? "");

  await Deno.mkdir(SCREENSHOT.slice(0, SCREENSHOT.lastIndexOf("/")), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`screenshot: ${SCREENSHOT}`);
}

/** Loads a checkpoint from picked files (the tokenizer picked too), generates; then picks a mismatched pair. */
async function pickedFiles(page: Page, base: string): Promise<void> {
  const m1 = fixtureDir("mamba1-tiny"), m2 = fixtureDir("mamba2-tiny");
  await page.goto(base);
  await page.setInputFiles("#model-files", [`${m2}/config.json`, `${m2}/model.safetensors`]);
  await page.setInputFiles("#tokenizer-file", fixtureDir("eval/byte-tokenizer.json"));
  await page.selectOption("#backend", "wasm");
  await page.uncheck("#use-worker");
  await page.click("#load");
  await page.waitForSelector("#backend-info:not([hidden])", { timeout: 30_000 });
  assert.match((await page.textContent("#model-info")) ?? "", /mamba2, 2 layers.* from picked files/);
  assert.match((await page.textContent("#backend-description")) ?? "", /on the main thread/);
  await page.fill("#prompt", "Mamba ");
  await page.fill("#max-new", "8");
  await page.click("#generate");
  await page.waitForFunction(() => /stop: /.test(document.getElementById("generate-status")?.textContent ?? ""));
  assert.ok(((await page.textContent("#output-new")) ?? "").length > 0, "generated text is shown");

  // Stop: tokens stream and the page takes the click while the main thread generates.
  await page.fill("#max-new", "4000");
  await page.click("#generate");
  await page.waitForFunction(() => (document.getElementById("output-new")?.textContent ?? "").length >= 4);
  await page.click("#stop");
  await page.waitForFunction(() => /stop: /.test(document.getElementById("generate-status")?.textContent ?? ""));
  assert.match((await page.textContent("#generate-status")) ?? "", /stop: callback/);

  // Mamba-1 config with Mamba-2 weights: loading fails, and the page says which tensor.
  await page.setInputFiles("#model-files", [`${m1}/config.json`, `${m2}/model.safetensors`]);
  await page.click("#load");
  await page.waitForSelector("#error:not([hidden])", { timeout: 30_000 });
  const shown = (await page.textContent("#error")) ?? "";
  assert.match(shown, /tensor "backbone\.layers\.0\./, `error names the tensor: ${shown}`);
  console.log(`    shown: ${shown.split("\n")[0]}`);
}
