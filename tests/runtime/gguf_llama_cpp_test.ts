/**
 * llama.cpp's conventions from llama.cpp's own code: tests/runtime/gguf_llama_cpp.py converts the fixtures with
 * gguf-py (llama.cpp's Python package: its GGUFWriter, TensorNameMap and quantisation) the way
 * convert_hf_to_gguf.py does. Those files load in PerfMamba with transformers' logits; and PerfMamba's own GGUF
 * of each fixture, read back by gguf-py's GGUFReader, holds the same tensors (names, types, shapes, bytes) and
 * metadata. Skipped, saying so, where `python3 -c "import gguf"` fails (`pip install gguf==0.19.0`).
 */
import assert from "node:assert/strict";
import {
  ggufCheckpoint,
  ggufFromWeights,
  loadWeights,
  MambaModel,
  type MambaWeights,
  parseGguf,
  toHostWeights,
} from "../../mod.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { createWasmBackend } from "../../wasm/backend.ts";

const SCRIPT = new URL("./gguf_llama_cpp.py", import.meta.url).pathname;

/** Why the gguf-py cases are skipped here, or null. */
const skip: string | null = (() => {
  try {
    const r = new Deno.Command("python3", { args: ["-c", "import gguf, numpy"], stdout: "null", stderr: "piped" })
      .outputSync();
    if (r.success) return null;
    const why = new TextDecoder().decode(r.stderr).trim().split("\n").pop();
    return `skipped: python3 cannot import gguf-py (${why}; pip install gguf==0.19.0)`;
  } catch (e) {
    return `skipped: no python3 (${(e as Error).message})`;
  }
})();

async function python(...args: string[]): Promise<string> {
  const r = await new Deno.Command("python3", { args: [SCRIPT, ...args], stdout: "piped", stderr: "piped" }).output();
  const err = new TextDecoder().decode(r.stderr);
  if (!r.success) throw new Error(`gguf_llama_cpp.py ${args.join(" ")} failed:\n${err}`);
  return new TextDecoder().decode(r.stdout);
}

interface Dump {
  metadata: Record<string, { types: string[]; value: unknown }>;
  tensors: Record<string, { type: string; shape: number[]; hex: string; values?: number[] }>;
  alignment: number;
}

async function logitsOf(weights: MambaWeights, ids: number[]): Promise<Float32Array> {
  const backend = await createWasmBackend({ threads: 2 });
  try {
    const model = MambaModel.load(weights, backend);
    const { logits, state } = await model.prefill(ids);
    state.dispose();
    const out = logits.data.slice();
    model.dispose();
    return out;
  } finally {
    backend.dispose();
  }
}

const FIXTURES = ["mamba1-tiny", "mamba2-tiny", "mamba2-groups", "falcon-mamba-tiny"];
const TYPES = { f32: "F32", f16: "F16", q8_0: "Q8_0", q4_0: "Q4_0" } as const;

for (const fixture of FIXTURES) {
  for (const [outtype, type] of Object.entries(TYPES)) {
    Deno.test({
      name: `llama.cpp conventions ${fixture} ${type}: gguf-py's conversion loads with the golden logits; ours ` +
        `matches it tensor for tensor${skip ? ` (${skip})` : ""}`,
      ignore: skip !== null,
      async fn() {
        const dir = fixtureDir(fixture);
        const golden = readGolden<FixtureGolden>(dir);
        const tmp = await Deno.makeTempDir({ prefix: "perfmamba-gguf-" });
        try {
          const theirs = `${tmp}/theirs.gguf`;
          const ours = `${tmp}/ours.gguf`;
          await python("convert", dir, theirs, outtype);
          const original = await loadWeights(dirSource(dir));
          await Deno.writeFile(ours, ggufFromWeights(original, { tensorType: type }));

          // 1. Their file in our reader.
          const loaded = toHostWeights(ggufCheckpoint(parseGguf(await Deno.readFile(theirs), theirs)));
          const ourLoaded = toHostWeights(ggufCheckpoint(parseGguf(await Deno.readFile(ours), ours)));
          const logits = await logitsOf(loaded, golden.input_ids);
          // llama.cpp computes Falcon-Mamba's δ/B/C norms with the layer-norm epsilon (1e-5; transformers uses
          // mixer_rms_eps, 1e-6): so does PerfMamba on a GGUF without its own key. The oracle there is the
          // checkpoint run with that epsilon; elsewhere transformers' golden logits.
          const withTheirEps = (w: MambaWeights): MambaWeights => ({
            ...w,
            config: { ...w.config, bcdtNormEps: loaded.config.bcdtNormEps },
          });
          const falcon = original.config.bcdtNormEps !== undefined;
          if (falcon) assert.equal(loaded.config.bcdtNormEps, Math.fround(1e-5));
          const expected = falcon ? await logitsOf(withTheirEps(original), golden.input_ids) : golden.logits.flat();
          // F32 is the checkpoint; F16 rounds the matrices (measured ≤ 1e-3 of max|logit|); Q8_0 stores 8-bit
          // blocks (measured ≤ 2.1e-2); Q4_0 4-bit blocks, 16 levels for these fixtures' random N(0, σ) weights
          // (measured 0.11 Mamba-1, 0.34 Mamba-2: the tiny random models amplify it; the byte equality below is
          // the exact check of Q4_0, this one catches a garbled layout).
          const rel = { F32: 1e-4, F16: 4e-3, Q8_0: 5e-2, Q4_0: 0.5 }[type];
          assertClose(logits, expected, `${fixture} ${type}: gguf-py's file, logits`, rel);
          // The same weights as our own file of the same type (A_log through f32 exp and log twice: 1e-5).
          const ourLogits = await logitsOf(withTheirEps(ourLoaded), golden.input_ids);
          assertClose(ourLogits, logits, `${fixture} ${type}: our file vs gguf-py's, logits`, 1e-5);

          // 2. Our file in gguf-py's reader: the same tensors and metadata as gguf-py's conversion.
          const a: Dump = JSON.parse(await python("dump", ours));
          const b: Dump = JSON.parse(await python("dump", theirs));
          assert.equal(a.alignment, b.alignment);
          assert.deepEqual(Object.keys(a.tensors).sort(), Object.keys(b.tensors).sort());
          for (const [name, t] of Object.entries(b.tensors)) {
            const o = a.tensors[name];
            assert.equal(o.type, t.type, `${name} type`);
            assert.deepEqual(o.shape, t.shape, `${name} shape`);
            if (name.endsWith(".ssm_a")) assertClose(o.values!, t.values!, `${name} (−exp(A_log))`, 1e-6, 0);
            else assert.ok(o.hex === t.hex, `${name}: our bytes differ from gguf-py's (${t.type})`);
          }
          for (const [key, m] of Object.entries(b.metadata)) {
            if (key.startsWith("tokenizer.")) continue; // the export command adds the tokenizer
            assert.deepEqual(a.metadata[key], m, `metadata ${key}`);
          }
          const extra = Object.keys(a.metadata).filter((k) => !(k in b.metadata));
          assert.deepEqual(extra, original.config.bcdtNormEps === undefined ? [] : ["perfmamba.mixer_rms_eps"]);
        } finally {
          await Deno.remove(tmp, { recursive: true });
        }
      },
    });
  }
}
