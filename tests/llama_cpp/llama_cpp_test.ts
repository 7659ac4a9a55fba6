/**
 * The proof against the real llama.cpp: npm node-llama-cpp 3.22.1 (its prebuilt CPU library; installed by
 * tests/llama_cpp/install.sh into .llama-cpp/, no install scripts, nothing built or downloaded) loads the GGUF files
 * our `export` command writes, and its logits match ours for the same token ids:
 *
 *   max over the compared rows of |llama.cpp − ours| ≤ 1e-4 · max|ours| + 1e-5   (tests/_assert.ts `assertClose`)
 *
 * (the fp32 CPU tolerance of ../shared/README.md; 1e-3 for the F16 export, whose activations llama.cpp rounds to f16
 * in its matrix products; 4e-2 for Q8_0 / Q4_0, whose activations it quantises to Q8_0); for the fixtures also
 * against golden.json (transformers), except Falcon-Mamba, whose δ/B/C norm epsilon llama.cpp takes from the layer
 * norm (ours is computed with that epsilon for it). Cases: the six fixtures (no tokenizer: `no_vocab`; mamba2-tiny
 * also with the byte tokenizer of tests/fixtures/eval), the two trained models of ../shared/models with the GPT-NeoX tokenizer (skipped visibly when absent), fixtures pruned
 * at r = 0.25 with one k for every layer (runtime/prune), an F16 export, and Q8_0 / Q4_0 exports of two fixtures and
 * both trained models (ours: the same GGUF loaded back, so both sides see the same f16 / dequantised weights;
 * tolerance: {@link QUANTIZED_REL}). llama.cpp's own tokenization (from the GGUF's vocabulary) must equal
 * @huggingface/tokenizers' ids for the trained models' exports and the byte tokenizer.
 *
 * llama.cpp runs in one `node` process for all files (tests/llama_cpp/llama_cpp_runner.mjs). The logits come from
 * node-llama-cpp's `controlledEvaluate` with `generateNext.logits` (raw logits, not probabilities).
 */
import assert from "node:assert/strict";
import { Tokenizer } from "@huggingface/tokenizers";
import { loadWeights, toHostWeights } from "../../runtime/checkpoint.ts";
import { checkpointFiles } from "../../runtime/checkpoint_write.ts";
import { ggufCheckpoint } from "../../runtime/gguf_mamba.ts";
import { parseGguf } from "../../runtime/gguf.ts";
import { MambaModel } from "../../runtime/model.ts";
import { pruneWeights } from "../../runtime/prune/apply.ts";
import { selectStates } from "../../runtime/prune/select.ts";
import type { MambaWeights } from "../../runtime/weights.ts";
import type { Backend } from "../../runtime/backend.ts";
import { createWasmBackend } from "../../wasm/backend.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { run as exportCommand } from "../../cli/commands/export.ts";
import {
  assertClose,
  exists,
  fixtureDir,
  type FixtureGolden,
  type ModelGolden,
  readGolden,
  SHARED,
} from "../_golden.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const LLAMA_DIR = `${ROOT}.llama-cpp`;
const RUNNER = new URL("./llama_cpp_runner.mjs", import.meta.url).pathname;
const VERSION = "3.22.1";
const NEOX = `${SHARED}/data/tokenizer/gpt-neox-20b-tokenizer.json`;
const BYTE_TOKENIZER = new URL("../fixtures/eval/byte-tokenizer.json", import.meta.url).pathname;
const ALL_FIXTURES = [
  "mamba1-tiny",
  "mamba2-tiny",
  "mamba2-groups",
  "falcon-mamba-tiny",
  "ssm-mamba1-tiny",
  "ssm-mamba2-tiny-bf16",
];

/** Why llama.cpp cannot run here, or null. */
async function skipReason(): Promise<string | null> {
  const pkg = `${LLAMA_DIR}/node_modules/node-llama-cpp/package.json`;
  if (!exists(pkg)) {
    return `skipped: node-llama-cpp is not installed in ${LLAMA_DIR} (run tests/llama_cpp/install.sh; in CI see ` +
      "/tmp/perfmamba-llama-cpp.log for why the install failed)";
  }
  const version = JSON.parse(Deno.readTextFileSync(pkg)).version;
  if (version !== VERSION) return `skipped: ${LLAMA_DIR} holds node-llama-cpp ${version}, not ${VERSION}`;
  try {
    const { success } = await new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    if (!success) return "skipped: `node --version` failed";
  } catch {
    return "skipped: `node` is not on the PATH (node-llama-cpp is a Node package)";
  }
  return null;
}

/** One file for llama.cpp and what to compare. */
interface Case {
  name: string;
  gguf: string;
  ids: number[];
  positions: number[];
  /** Our logits at `positions`, row after row. */
  ours: Float32Array;
  /** transformers' logits (golden.json) of the rows from `firstRow` on, when known. */
  golden?: { data: number[]; firstRow: number };
  /** Relative tolerance against ours (default 1e-4; see the F16 case). */
  rel?: number;
  /** Texts llama.cpp tokenizes, and the ids @huggingface/tokenizers gives. */
  texts?: string[];
  expectedTokens?: number[][];
}

/** Our logits of `ids` at `positions` (WASM backend, f32). */
async function ourLogits(
  backend: Backend,
  weights: MambaWeights,
  ids: number[],
  positions: number[],
): Promise<Float32Array> {
  const model = MambaModel.load(weights, backend);
  try {
    const { logits, state } = await model.prefill(ids);
    state.dispose();
    const V = logits.vocab;
    const out = new Float32Array(positions.length * V);
    positions.forEach((p, i) => out.set(logits.data.subarray(p * V, (p + 1) * V), i * V));
    return out;
  } finally {
    model.dispose();
  }
}

/** `perfmamba export` in-process (the command's own code, flags and all). */
async function exportGguf(model: string, out: string, ...flags: string[]): Promise<string> {
  await exportCommand(["--model", model, "--format", "gguf", "--out", out, ...flags]);
  return out;
}

/** The pruned checkpoint (r = 0.25, one k for every layer, seeded random states) of a fixture, written to `dir`. */
async function prunedFixture(name: string, dir: string): Promise<{ weights: MambaWeights; k: number }> {
  const weights = await loadWeights(dirSource(fixtureDir(name)));
  const sizes = weights.layers.map(() => weights.config.dState);
  const keep = selectStates(
    {
      arch: weights.config.arch,
      stateSizes: sizes,
      sequences: 0,
      tokens: 0,
      scores: { delta_b: null, delta_a: null, energy: null, ghost: null },
      gram: [],
    },
    "random",
    0.25,
    { scope: "layer", seed: 7 },
  );
  const pruned = pruneWeights(weights, keep);
  await Deno.mkdir(dir);
  for (const [file, data] of Object.entries(checkpointFiles(pruned))) {
    if (typeof data === "string") await Deno.writeTextFile(`${dir}/${file}`, data);
    else await Deno.writeFile(`${dir}/${file}`, data);
  }
  return { weights: pruned, k: keep[0].length };
}

const skip = await skipReason();

/**
 * Relative tolerance against ours for exports whose matrices llama.cpp multiplies in lower precision. F16: ggml's CPU
 * matrix product with F16 weights rounds the activations to f16 too (vec_dot_type F16, relative rounding
 * 2⁻¹¹ ≈ 4.9e-4 per element); ours keeps them f32. Measured: 3e-4 · max|logit|. Q8_0 / Q4_0: both sides hold the same
 * weights (ours dequantised exactly), but ggml's CPU product quantises the activations to Q8_0 blocks (vec_dot_type
 * Q8_0: 8-bit, a scale per 32, rounding error ≤ max|block| / 254 per element, compounded through every matrix product
 * of every layer); ours keeps them f32. Measured: Q8_0 6.4e-3 / 1.7e-2 (mamba1-tiny / mamba2-tiny), 8.1e-3 / 9.1e-3
 * (the trained mamba1 / mamba2); Q4_0 7.3e-3 / 1.9e-2 and 7.6e-3 / 1.2e-2. The bound is about twice the worst; a
 * wrong block layout or scale gives errors of order 1.
 */
const QUANTIZED_REL: Record<string, number> = { f16: 1e-3, q8_0: 4e-2, q4_0: 4e-2 };

Deno.test({
  name: `llama.cpp (node-llama-cpp ${VERSION}, CPU) loads our GGUF exports and matches our logits${
    skip ? ` (${skip})` : ""
  }`,
  ignore: skip !== null,
  fn: async (t) => {
    const tmp = await Deno.makeTempDir({ prefix: "perfmamba-llama-cpp-" });
    const backend = await createWasmBackend({ threads: 2 });
    try {
      const cases: Case[] = [];
      // The six fixtures, no tokenizer (no_vocab): all 37 golden positions.
      for (const name of ALL_FIXTURES) {
        const dir = fixtureDir(name);
        const golden = readGolden<FixtureGolden>(dir);
        const positions = golden.input_ids.map((_, p) => p);
        const weights = await loadWeights(dirSource(dir));
        const c = weights.config;
        // llama.cpp normalises Falcon-Mamba's δ, B, C with the layer-norm epsilon (build_norm, f_norm_rms_eps);
        // transformers with mixer_rms_eps (1e-6 here, 1e-5 the layer's). GGUF has no key for it: llama.cpp computes
        // our model with that epsilon, which is what it is compared with (and not with golden.json).
        const llamaEps = c.bcdtNormEps !== undefined && c.bcdtNormEps !== c.eps;
        cases.push({
          name: llamaEps ? `${name} (δ/B/C norm epsilon ${c.eps}, as llama.cpp computes it)` : name,
          gguf: await exportGguf(dir, `${tmp}/${name}.gguf`),
          ids: golden.input_ids,
          positions,
          ours: await ourLogits(
            backend,
            llamaEps ? { ...weights, config: { ...c, bcdtNormEps: c.eps } } : weights,
            golden.input_ids,
            positions,
          ),
          golden: llamaEps ? undefined : { data: golden.logits.flat(), firstRow: 0 },
        });
      }
      // mamba2-tiny with the byte tokenizer: llama.cpp tokenizes with the GGUF's vocabulary.
      {
        const dir = fixtureDir("mamba2-tiny");
        const golden = readGolden<FixtureGolden>(dir);
        const tok = new Tokenizer(JSON.parse(await Deno.readTextFile(BYTE_TOKENIZER)), {});
        const texts = ["Hello world", "Bytes: Äpfel 🦙 \t\n  x"];
        cases.push({
          name: "mamba2-tiny + byte tokenizer",
          gguf: await exportGguf(dir, `${tmp}/mamba2-tiny-bytes.gguf`, "--tokenizer", BYTE_TOKENIZER),
          ids: golden.input_ids,
          positions: [0, 36],
          ours: await ourLogits(backend, await loadWeights(dirSource(dir)), golden.input_ids, [0, 36]),
          texts,
          expectedTokens: texts.map((s) => tok.encode(s, { add_special_tokens: false }).ids),
        });
      }
      // Pruned with one k for all layers (r = 0.25: k = 12 of 16), exported from the folder `prune` would write.
      for (const name of ["mamba1-tiny", "mamba2-tiny"]) {
        const golden = readGolden<FixtureGolden>(fixtureDir(name));
        const { weights, k } = await prunedFixture(name, `${tmp}/${name}-pruned`);
        assert.equal(k, 12);
        const positions = golden.input_ids.map((_, p) => p);
        cases.push({
          name: `${name} pruned r=0.25 (k=${k})`,
          gguf: await exportGguf(`${tmp}/${name}-pruned`, `${tmp}/${name}-pruned.gguf`),
          ids: golden.input_ids,
          positions,
          ours: await ourLogits(backend, weights, golden.input_ids, positions),
        });
      }
      // Q8_0 / Q4_0 exports of fixtures: ours runs the same GGUF loaded back (dequantised to f32 by the import).
      for (const name of ["mamba1-tiny", "mamba2-tiny"]) {
        const golden = readGolden<FixtureGolden>(fixtureDir(name));
        const positions = golden.input_ids.map((_, p) => p);
        for (const type of ["q8_0", "q4_0"]) {
          const gguf = await exportGguf(fixtureDir(name), `${tmp}/${name}-${type}.gguf`, "--type", type);
          cases.push({
            name: `${name} ${type.toUpperCase()}`,
            gguf,
            ids: golden.input_ids,
            positions,
            ours: await ourLogits(
              backend,
              toHostWeights(ggufCheckpoint(parseGguf(await Deno.readFile(gguf), gguf))),
              golden.input_ids,
              positions,
            ),
            rel: QUANTIZED_REL[type],
          });
        }
      }
      // The trained models with the GPT-NeoX tokenizer; mamba2 also as F16, both as Q8_0 and Q4_0.
      const trainedSkip = exists(`${SHARED}/models`) && exists(NEOX) ? null : `${SHARED}/models or ${NEOX} not found`;
      if (trainedSkip === null) {
        const neox = new Tokenizer(JSON.parse(await Deno.readTextFile(NEOX)), {});
        const shakespeare = (await Deno.readTextFile(`${SHARED}/data/text/tinyshakespeare.txt`)).slice(0, 3000);
        for (
          const [name, type] of [
            ["mamba1-text-small", "f32"],
            ["mamba2-text-small", "f32"],
            ["mamba2-text-small", "f16"],
            ["mamba1-text-small", "q8_0"],
            ["mamba2-text-small", "q8_0"],
            ["mamba1-text-small", "q4_0"],
            ["mamba2-text-small", "q4_0"],
          ]
        ) {
          const dir = `${SHARED}/models/${name}`;
          const golden = readGolden<ModelGolden>(dir);
          const texts = [
            "Hello world",
            golden.prompt_text,
            " Hello world!  Two  spaces,\ttabs\n\n\nand     runs of spaces; numbers 3 33 333 3.14; I've 'RE you",
            shakespeare,
          ];
          const positions = [0, 31, ...golden.logits_positions];
          const gguf = await exportGguf(dir, `${tmp}/${name}-${type}.gguf`, "--tokenizer", NEOX, "--type", type);
          // F16, Q8_0, Q4_0: our side loads the same GGUF back (import: runtime/gguf_mamba.ts), so both see the f16 weights.
          const weights = type === "f32"
            ? await loadWeights(dirSource(dir))
            : toHostWeights(ggufCheckpoint(parseGguf(await Deno.readFile(gguf), gguf)));
          cases.push({
            name: `${name} ${type.toUpperCase()}`,
            gguf,
            ids: golden.input_ids,
            positions,
            ours: await ourLogits(backend, weights, golden.input_ids, positions),
            // golden.json's rows are the last 4 of `positions` (f32 only: F16 weights are not transformers').
            golden: type === "f32" ? { data: golden.logits_last4.flat(), firstRow: 2 } : undefined,
            // F16: ggml's CPU matrix product with F16 weights rounds the activations to f16 too (vec_dot_type F16,
            // relative rounding 2⁻¹¹ ≈ 4.9e-4 per element); ours keeps them f32. Measured: 3e-4 · max|logit|.
            rel: QUANTIZED_REL[type] ?? 1e-4,
            texts,
            expectedTokens: texts.map((s) => neox.encode(s, { add_special_tokens: false }).ids),
          });
        }
      }

      const request = {
        jobs: cases.map((c, i) => ({
          model: c.gguf,
          ids: c.ids,
          positions: c.positions,
          logitsOut: `${tmp}/logits-${i}.f32`,
          tokenize: c.texts ?? [],
        })),
      };
      await Deno.writeTextFile(`${tmp}/request.json`, JSON.stringify(request));
      const out = await new Deno.Command("node", {
        args: [RUNNER, LLAMA_DIR, `${tmp}/request.json`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, `llama.cpp runner failed:\n${dec.decode(out.stderr)}`);
      const { results } = JSON.parse(dec.decode(out.stdout).trim().split("\n").at(-1)!);

      for (const [i, c] of cases.entries()) {
        await t.step(c.name, () => {
          const llama = new Float32Array(Deno.readFileSync(request.jobs[i].logitsOut).buffer);
          const V = c.ours.length / c.positions.length;
          assert.equal(results[i].vocab, V, "llama.cpp's vocabulary = our logits' width");
          assertClose(llama, c.ours, `${c.name}: llama.cpp vs ours`, c.rel ?? 1e-4);
          let err = 0, ref = 0;
          c.ours.forEach((v, j) => [err, ref] = [Math.max(err, Math.abs(llama[j] - v)), Math.max(ref, Math.abs(v))]);
          console.log(`${c.name}: max |llama.cpp − ours| / max|ours| = ${(err / ref).toExponential(2)}`);
          if (c.golden) {
            const { data, firstRow } = c.golden;
            assertClose(llama.subarray(firstRow * V), data, `${c.name}: llama.cpp vs transformers (golden.json)`);
          }
          if (c.expectedTokens) assert.deepEqual(results[i].tokens, c.expectedTokens, `${c.name}: llama.cpp's tokens`);
        });
      }
      if (trainedSkip !== null) {
        await t.step({ name: `trained models (skipped: ${trainedSkip})`, ignore: true, fn: () => {} });
      }
    } finally {
      backend.dispose();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
