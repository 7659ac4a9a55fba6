/**
 * Issue 14, GPU faults: the WebGPU device lost (simulated with `device.destroy()`) at several points of a forward —
 * before a prefill, between layers, during greedy bursts, during streamed generation, during a read, while profiling,
 * with timestamps, in debug mode, while planning — rejects within a bounded time with an error naming the lost device
 * and its reason; nothing hangs; dispose after loss does not throw; and a new backend loads the same weights and
 * matches the golden logits. Each test runs on a fresh device (a destroyed device cannot be shared).
 */
import assert from "node:assert/strict";
import { selectBackend } from "../../backends.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { errorMessage } from "../../cli/main.ts";
import { createWebGpuBackend, type WebGpuBackend } from "../../kernels/webgpu_backend.ts";
import { DeviceLostError } from "../../runtime/backend.ts";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { generate } from "../../runtime/generate.ts";
import { MambaModel } from "../../runtime/model.ts";
import { profileModels } from "../../runtime/profiler.ts";
import type { MambaWeights } from "../../runtime/weights.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { gpuTest } from "./_gpu.ts";

const DIR = fixtureDir("mamba1-tiny");
const GOLDEN = readGolden<FixtureGolden>(DIR);
const WEIGHTS: MambaWeights = await loadWeights(dirSource(DIR));
const PROMPT = GOLDEN.input_ids.slice(0, 8);
/** Bound on the time from loss to rejection: a hang fails the test instead of stalling the suite. */
const LIMIT_MS = 20_000;
const LOST = /WebGPU device lost.*destroyed/is;

/** Await `p`, failing if it does not settle within {@link LIMIT_MS}; returns the rejection (fails if it resolves). */
async function rejectsInTime(p: Promise<unknown>, what: string): Promise<Error> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${LIMIT_MS} ms (hang)`)), LIMIT_MS);
  });
  try {
    await Promise.race([p, timeout]);
  } catch (e) {
    if ((e as Error).message.includes("(hang)")) throw e;
    assert.match((e as Error).message, LOST, `${what}: ${(e as Error).message}`);
    assert.ok(e instanceof DeviceLostError, `${what}: a DeviceLostError, got ${(e as Error).name}`);
    return e as Error;
  } finally {
    clearTimeout(timer);
  }
  assert.fail(`${what}: resolved after the device was lost`);
}

/** After loss: disposing the model and the backend does not throw (twice either). */
function disposeAll(model: MambaModel, be: WebGpuBackend): void {
  model.dispose();
  be.dispose();
  model.dispose();
  be.dispose();
}

/**
 * "The model can be loaded again": a new backend (WebGPU by default: a new device; or WASM, the stated fallback) and
 * the same weights give the golden logits.
 */
async function reloadMatchesGolden(kind: "create" | "webgpu" | "wasm" = "create"): Promise<void> {
  const backend = kind === "create" ? await createWebGpuBackend() : await selectBackend(kind, { threads: 1 });
  await using_(backend, async (be) => {
    using model = MambaModel.load(WEIGHTS, be);
    const ids = GOLDEN.input_ids.slice(0, 12);
    const { logits, state } = await model.prefill(ids);
    state.dispose();
    for (let t = 0; t < ids.length; t++) {
      const row = logits.data.subarray(t * logits.vocab, (t + 1) * logits.vocab);
      assertClose(row, GOLDEN.logits[t], `reloaded logits at ${t}`, 1e-4, 1e-5);
    }
  });
}

async function using_<B extends { dispose(): void }>(be: B, fn: (be: B) => Promise<void>): Promise<void> {
  try {
    await fn(be);
  } finally {
    be.dispose();
  }
}

gpuTest("device lost before a prefill: the prefill rejects naming the loss; reload matches golden", async (be) => {
  const model = MambaModel.load(WEIGHTS, be);
  be.device.destroy();
  const err = await rejectsInTime(model.prefill(PROMPT), "prefill");
  // The CLI's policy: say what happened and how to go on, switch nothing.
  assert.match(errorMessage(err), /^error: WebGPU device lost \(destroyed.*\n.*--backend wasm/s);
  disposeAll(model, be);
  await reloadMatchesGolden();
}, { freshDevice: true });

Deno.test("cli: only a device loss gets the --backend wasm advice", () => {
  assert.equal(errorMessage(new Error("bad tensor")), "error: bad tensor");
  assert.match(
    errorMessage(new DeviceLostError("WebGPU", "unknown: reset")),
    /lost \(unknown: reset\).*--backend wasm/s,
  );
});

for (const [component, layer] of [["embedding", -1], ["ssm", 0], ["in_proj", 1], ["lm_head", -1]] as const) {
  gpuTest(
    `device lost when ${component}${layer >= 0 ? ` of layer ${layer}` : ""} starts: prefill rejects`,
    async (be) => {
      const model = MambaModel.load(WEIGHTS, be);
      model.hooks = {
        begin: (c, l) => {
          if (c === component && l === layer) be.device.destroy();
        },
      };
      await rejectsInTime(model.prefill(PROMPT), "prefill");
      // Later calls fail at once with the same cause.
      await rejectsInTime(model.prefill(PROMPT), "second prefill");
      disposeAll(model, be);
    },
    { freshDevice: true },
  );
}

gpuTest("device lost during greedy bursts: greedy rejects; selectBackend reload matches golden", async (be) => {
  const model = MambaModel.load(WEIGHTS, be);
  const { logits, state } = await model.prefill(PROMPT, { lastOnly: true });
  assert.equal(logits.rows, 1);
  let steps = 0;
  model.hooks = {
    begin: (c) => {
      if (c === "embedding" && ++steps === 3) be.device.destroy();
    },
  };
  await rejectsInTime(model.greedy([GOLDEN.input_ids[8]], state, 8), "greedy");
  state.dispose();
  disposeAll(model, be);
  await reloadMatchesGolden("webgpu");
}, { freshDevice: true });

gpuTest("device lost during streamed generate: generate rejects", async (be) => {
  const model = MambaModel.load(WEIGHTS, be);
  const seen: number[] = [];
  const err = await rejectsInTime(
    generate(model, PROMPT, {
      maxNewTokens: 12,
      decodeChunk: 2,
      onToken: (t) => {
        seen.push(t);
        if (seen.length === 3) be.device.destroy();
      },
    }),
    "generate",
  );
  assert.ok(seen.length >= 3 && seen.length < 12, `${seen.length} tokens streamed before the loss (${err.message})`);
  disposeAll(model, be);
  await reloadMatchesGolden("wasm"); // the documented fallback: reload on WASM, explicitly
}, { freshDevice: true });

gpuTest("device lost during a read: the read rejects", async (be) => {
  const x = be.upload(new Float32Array(1024).fill(1), [32, 32], "x");
  let y = x;
  for (let i = 0; i < 16; i++) y = be.add(y, x);
  const pending = be.read(y);
  be.device.destroy();
  await rejectsInTime(pending, "read");
  await rejectsInTime(be.read(x), "read after loss");
  await rejectsInTime(be.sync(), "sync after loss");
  assert.throws(() => be.add(x, x), LOST);
  be.dispose();
}, { freshDevice: true });

gpuTest("device lost with timestamps on: gpuTimings and read reject", async (be) => {
  const x = be.upload(new Float32Array(64).fill(1), [8, 8], "x");
  const y = be.add(x, x);
  be.flush();
  be.device.destroy();
  await rejectsInTime(be.read(y), "read");
  await rejectsInTime(be.gpuTimings(), "gpuTimings");
  be.dispose();
}, { freshDevice: true, timestamps: true });

gpuTest("device lost in debug mode (error scopes): read and sync reject", async (be) => {
  const x = be.upload(new Float32Array(64).fill(1), [8, 8], "x");
  const y = be.add(be.add(x, x), x);
  be.device.destroy();
  await rejectsInTime(be.read(y), "read");
  await rejectsInTime(be.sync(), "sync");
  be.dispose();
}, { freshDevice: true, debug: true });

gpuTest("device lost: prepare and pipelinesFor reject", async (be) => {
  const model = MambaModel.load(WEIGHTS, be);
  be.device.destroy();
  await rejectsInTime(model.prepare(), "prepare");
  disposeAll(model, be);
}, { freshDevice: true });

gpuTest("device lost just after prepare starts (planning, compiling): prepare rejects", async (be) => {
  const model = MambaModel.load(WEIGHTS, be);
  const preparing = model.prepare(); // plans synchronously up to the compile, then waits for it
  be.device.destroy();
  await rejectsInTime(preparing, "prepare");
  await rejectsInTime(be.pipelinesFor(() => {}), "pipelinesFor");
  disposeAll(model, be);
}, { freshDevice: true });

gpuTest("device lost while profiling: profileModels rejects", async (be) => {
  const model = MambaModel.load(WEIGHTS, be);
  let n = 0;
  model.hooks = {
    begin: () => {
      if (++n === 40) be.device.destroy();
    },
  };
  await rejectsInTime(
    profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 1, iters: 2, peaks: null }),
    "profileModels",
  );
  disposeAll(model, be);
}, { freshDevice: true, timestamps: true });
