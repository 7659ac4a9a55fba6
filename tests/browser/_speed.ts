/**
 * Generation speed of the trained models of ../shared/models in headless Chromium (through the demo's test hook)
 * and in Deno, on the same kernels (not a test): `deno run -A tests/browser/_speed.ts [tokens=64] [runs=3]`.
 *
 * Greedy generation of `tokens` tokens from each model's golden prompt; per configuration the best of `runs`
 * page loads (Chromium) or calls (Deno) is kept for prefill ms and decode ms per token.
 */
import { chromium } from "playwright-core";
import { buildDemo } from "../../examples/browser/build.ts";
import { serveDemo } from "../../examples/browser/serve.ts";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { generate } from "../../runtime/generate.ts";
import { MambaModel } from "../../runtime/model.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { type ModelGolden, readGolden, SHARED } from "../_golden.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "./_chromium.ts";

const N = Number(Deno.args[0] ?? 64);
const RUNS = Number(Deno.args[1] ?? 3);
const MODELS = ["mamba1-text-small", "mamba2-text-small"];

interface Row {
  host: string;
  model: string;
  backend: string;
  prefillMs: number;
  msPerToken: number;
}
const rows: Row[] = [];
const best = (xs: { prefillMs: number; decodeMsPerToken: number }[]) => ({
  prefillMs: Math.min(...xs.map((x) => x.prefillMs)),
  msPerToken: Math.min(...xs.map((x) => x.decodeMsPerToken)),
});

const dist = await Deno.makeTempDir({ prefix: "perfmamba-speed-" });
await buildDemo({ outDir: dist, logWarnings: false });
const server = serveDemo({ dist, port: 0 });
const ctx = await chromium.launchPersistentContext(`${dist}/profile`, {
  executablePath: CHROMIUM,
  headless: true,
  args: [...CHROMIUM_ARGS],
});
const version = ctx.browser()?.version() ?? "chromium";
try {
  for (const name of MODELS) {
    const golden = readGolden<ModelGolden>(`${SHARED}/models/${name}`);
    const ids = golden.greedy_prompt.join(",");
    // WASM only: this machine's WebGPU adapter is SwiftShader (a CPU rasteriser), minutes per run at these sizes.
    for (const [backend, worker] of [["wasm", 1], ["wasm", 0]] as const) {
      const got = [];
      let description = "";
      for (let r = 0; r < RUNS; r++) {
        const page = await ctx.newPage();
        await page.goto(
          `${server.url}?model=/models/${name}/&tokenizer=/tokenizer.json&backend=${backend}&worker=${worker}` +
            `&check=generate&ids=${ids}&n=${N}`,
        );
        await page.waitForSelector("html[data-result]", { timeout: 300_000 });
        const result = JSON.parse((await page.textContent("#result")) ?? "null");
        await page.close();
        if (!result.ok) throw new Error(`${name} ${backend}: ${result.error}`);
        description = result.backend.description;
        got.push(result.generated);
      }
      rows.push({
        host: `Chromium ${version}, ${worker ? "worker" : "main thread"}`,
        model: name,
        backend: description,
        ...best(got),
      });
      console.error(JSON.stringify(rows.at(-1)));
    }
  }
} finally {
  await ctx.close();
  await server.shutdown();
  await Deno.remove(dist, { recursive: true });
}

for (const name of MODELS) {
  const dir = `${SHARED}/models/${name}`;
  const golden = readGolden<ModelGolden>(dir);
  const backend = await createWasmBackend({ threads: 2 });
  const model = MambaModel.load(await loadWeights(dirSource(dir)), backend);
  const got = [];
  await generate(model, golden.greedy_prompt, { maxNewTokens: 8 }); // warm-up
  for (let r = 0; r < RUNS; r++) got.push(await generate(model, golden.greedy_prompt, { maxNewTokens: N }));
  rows.push({ host: `Deno ${Deno.version.deno}`, model: name, backend: backend.description, ...best(got) });
  model.dispose();
  backend.dispose();
}

console.log(`| host | model | backend | prefill ms (${"prompt"}) | decode ms/token | tok/s |`);
console.log("| --- | --- | --- | ---: | ---: | ---: |");
for (const r of rows) {
  console.log(
    `| ${r.host} | ${r.model} | ${r.backend} | ${r.prefillMs.toFixed(1)} | ${r.msPerToken.toFixed(2)} | ${
      (1000 / r.msPerToken).toFixed(0)
    } |`,
  );
}
