/**
 * The npm package from Node 20: `build.ts` builds it, `npm pack` packs it, a scratch Node project installs
 * the tarball, and a Node ESM script importing the package by name runs the tiny fixtures on the WASM backend —
 * single-threaded on a kernel module precompiled from the shipped `.wasm` file, then on 2 worker_threads through
 * the `./node` subpath — and prints the logits, which must match transformers' golden logits. A TypeScript consumer
 * is type-checked against the installed declarations (strict, skipLibCheck off) so a broken `.d.ts` fails here.
 *
 * Needs `node` (v20) and `npm` on PATH; `npm install` fetches the package's one dependency (`@webgpu/types`, types
 * only) from the registry unless npm's cache has it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import ts from "typescript";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { PACKAGE_NAME } from "../../build.ts";

const FIXTURES = ["mamba1-tiny", "mamba2-tiny"] as const;
const BUILD_SCRIPT = new URL("../../build.ts", import.meta.url).pathname;

/** Runs a command; returns stdout, throws with stderr on failure. */
async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${text(out.stderr)}\n${text(out.stdout)}`);
  }
  return text(out.stdout);
}

/** The Node script: loads each fixture from disk, prefills golden.json's input_ids, prints the logits as JSON. */
const NODE_SCRIPT = `import { readFileSync } from "node:fs";
import { loadWeights, MambaModel, memorySource, selectBackend, VERSION, wasmKernelBytes } from "${PACKAGE_NAME}";
import { nodeWorkerFactory } from "${PACKAGE_NAME}/node";

const [threadsArg, ...dirs] = process.argv.slice(2);
const threads = Number(threadsArg);
let options;
if (threads === 1) {
  // The edge-host path: the kernel module precompiled from the shipped .wasm file.
  const file = new URL(import.meta.resolve("${PACKAGE_NAME}/wasm/kernels_simd.wasm"));
  const bytes = readFileSync(file);
  if (!bytes.equals(wasmKernelBytes("simd"))) throw new Error("kernels_simd.wasm differs from wasmKernelBytes");
  options = { threads: 1, wasmModule: await WebAssembly.compile(bytes) };
} else {
  options = { threads, workerFactory: nodeWorkerFactory };
}
const backend = await selectBackend("wasm", options);
const out = { version: VERSION, backend: backend.name, threads: backend.threads, logits: {} };
for (const dir of dirs) {
  const read = (name) => readFileSync(\`\${dir}/\${name}\`);
  const { input_ids } = JSON.parse(read("golden.json"));
  const weights = await loadWeights(memorySource({
    "config.json": read("config.json"),
    "model.safetensors": read("model.safetensors"),
  }));
  const model = MambaModel.load(weights, backend);
  const { logits, state } = await model.prefill(input_ids);
  out.logits[dir] = { rows: logits.rows, data: Array.from(logits.data) };
  state.dispose();
  model.dispose();
}
backend.dispose();
console.log(JSON.stringify(out));
`;

/** A TypeScript consumer of both entry points; type-checked, never run. */
const CONSUMER_TS = `import {
  type Backend,
  loadWeights,
  MambaModel,
  memorySource,
  type MambaConfig,
  selectBackend,
  type SelectBackendOptions,
  wasmKernelBytes,
} from "${PACKAGE_NAME}";
import { nodeWorkerFactory } from "${PACKAGE_NAME}/node";

export async function logits(files: Record<string, Uint8Array>, ids: number[]): Promise<Float32Array> {
  const options: SelectBackendOptions = { threads: 2, workerFactory: nodeWorkerFactory };
  const backend: Backend = await selectBackend("wasm", options);
  const model = MambaModel.load(await loadWeights(memorySource(files)), backend);
  const config: MambaConfig = model.config;
  const { logits, state } = await model.prefill(ids);
  state.dispose();
  model.dispose();
  backend.dispose();
  if (logits.vocab !== config.vocabSize) throw new Error("vocab");
  return logits.data;
}

export const kernels: Uint8Array<ArrayBuffer> = wasmKernelBytes("threads");
`;

/** Type-checks `file` as a strict Node ESM consumer with the given libs; returns formatted diagnostics. */
function typeCheck(project: string, file: string, lib: string[], skipLibCheck: boolean): string {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib,
    types: [],
  };
  const program = ts.createProgram([join(project, file)], options);
  const host: ts.FormatDiagnosticsHost = {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => project,
    getNewLine: () => "\n",
  };
  return ts.formatDiagnostics(ts.getPreEmitDiagnostics(program), host);
}

Deno.test("npm package: installs into a Node 20 project, matches golden logits on WASM, type-checks", async (t) => {
  const tmp = await Deno.makeTempDir({ prefix: "perfmamba-npm-test-" });
  try {
    const pkgDir = join(tmp, "package");
    await run(Deno.execPath(), ["run", "-A", BUILD_SCRIPT, "--out", pkgDir], tmp);

    const [packed] = JSON.parse(await run("npm", ["pack", "--json", "--pack-destination", tmp], pkgDir)) as {
      filename: string;
      size: number;
      unpackedSize: number;
      entryCount: number;
    }[];
    console.log(
      `${packed.filename}: ${(packed.size / 1024).toFixed(0)} KiB packed, ` +
        `${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${packed.entryCount} files`,
    );

    const app = join(tmp, "app");
    await Deno.mkdir(app);
    await Deno.writeTextFile(
      join(app, "package.json"),
      JSON.stringify({ name: "scratch", version: "0.0.0", private: true, type: "module" }),
    );
    await run(
      "npm",
      ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", join(tmp, packed.filename)],
      app,
    );
    const nodeVersion = (await run("node", ["--version"], app)).trim();
    assert.match(nodeVersion, /^v20\./, `the package is tested on Node 20, found ${nodeVersion}`);
    await Deno.writeTextFile(join(app, "logits.mjs"), NODE_SCRIPT);

    const dirs = FIXTURES.map(fixtureDir);
    for (const threads of [1, 2]) {
      await t.step(`node ${nodeVersion}, wasm backend, ${threads} thread(s): logits match golden`, async () => {
        const out = JSON.parse(await run("node", ["logits.mjs", String(threads), ...dirs], app)) as {
          version: string;
          backend: string;
          threads: number;
          logits: Record<string, { rows: number; data: number[] }>;
        };
        assert.equal(out.backend, "wasm");
        assert.equal(out.threads, threads);
        for (const [i, dir] of dirs.entries()) {
          const golden = readGolden<FixtureGolden>(dir);
          const got = out.logits[dir];
          assert.equal(got.rows, golden.input_ids.length);
          assertClose(got.data, golden.logits.flat(), `${FIXTURES[i]} logits from Node (${threads} threads)`);
        }
      });
    }

    await t.step("the build refuses to replace a folder that is not a previous build", async () => {
      const foreign = join(tmp, "foreign");
      await Deno.mkdir(foreign);
      await Deno.writeTextFile(join(foreign, "notes.txt"), "keep me");
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", BUILD_SCRIPT, "--out", foreign],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 1);
      assert.match(new TextDecoder().decode(out.stderr), /refusing to write the package to .*notes\.txt/);
      assert.equal(await Deno.readTextFile(join(foreign, "notes.txt")), "keep me");
    });

    await t.step("the installed declarations type-check in a TypeScript consumer", async () => {
      await Deno.writeTextFile(join(app, "consumer.ts"), CONSUMER_TS);
      // Strict, with the package's own .d.ts files checked, as a project with DOM types sees it…
      assert.equal(typeCheck(app, "consumer.ts", ["lib.es2022.d.ts", "lib.dom.d.ts"], false), "");
      // …and as a Node project without DOM types (the usual skipLibCheck) does.
      assert.equal(typeCheck(app, "consumer.ts", ["lib.es2022.d.ts"], true), "");
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
