/**
 * A state-spaces vocabulary padded to `pad_vocab_size_multiple`: the embedding and lm_head have rows past
 * `vocab_size` that are no token. Those rows are crafted here to have the LARGEST logits at every position, so a
 * token choice that forgot them would pick them: greedy (host and device, `MambaModel.greedy`), sampled generation
 * (temperature, top-k, top-p) must never emit an id ≥ `config.tokenVocabSize`, on WASM and WebGPU; the logits
 * keep every row; `checkpointFiles` keeps the token count through prune → write → reload.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../runtime/config_parse.ts";
import { syntheticWeights } from "../../runtime/synthetic.ts";
import { MambaModel } from "../../runtime/model.ts";
import { generate } from "../../runtime/generate.ts";
import { argmax, Sampler } from "../../runtime/sampling.ts";
import { checkpointFiles } from "../../runtime/checkpoint_write.ts";
import { loadWeights, memorySource } from "../../runtime/checkpoint.ts";
import { pruneWeights } from "../../runtime/prune/apply.ts";
import type { MambaWeights } from "../../runtime/weights.ts";
import { TEST_BACKENDS } from "../_backends.ts";

const TOKENS = 250; // state-spaces vocab_size, padded to 256 by pad_vocab_size_multiple 16

/** A state-spaces model (Mamba-1 or Mamba-2) whose 6 padded rows win every argmax. */
function paddedModel(layer: "Mamba1" | "Mamba2"): MambaWeights {
  const config = parseConfig({
    d_model: 32,
    n_layer: 2,
    vocab_size: TOKENS,
    pad_vocab_size_multiple: 16,
    tie_embeddings: false,
    ssm_cfg: layer === "Mamba1" ? { d_state: 8 } : { layer, d_state: 8, headdim: 16, chunk_size: 8 },
  }, "padded/config.json");
  assert.deepEqual([config.vocabSize, config.tokenVocabSize], [256, TOKENS]);
  const w = syntheticWeights(config, 11);
  const d = config.dModel;
  // Column 0 of every embedding row is large and positive, so the residual stream's coordinate 0 (and the final
  // norm's output there, ≈ √d) dominates at every position; the padded lm_head rows read it with a large weight.
  for (let v = 0; v < config.vocabSize; v++) w.embedding.data[v * d] += 50;
  for (let v = TOKENS; v < config.vocabSize; v++) w.lmHead!.data[v * d] = 2 + 0.1 * (v - TOKENS);
  return w;
}

const PROMPT = [3, 141, 59, 26, 5, 249, 0, 97];

for (const tb of TEST_BACKENDS) {
  const suffix = tb.skip ? ` (${tb.skip})` : "";
  for (const layer of ["Mamba1", "Mamba2"] as const) {
    Deno.test({
      name: `${tb.name} ${layer}: padded vocabulary rows with the largest logits are never chosen${suffix}`,
      ignore: tb.skip !== null,
      async fn() {
        const be = await tb.create();
        try {
          const m = MambaModel.load(paddedModel(layer), be);
          const V = m.config.vocabSize;
          // Host reference, step by step: the logits keep all 256 columns, and a padded row is the full row's
          // argmax at every step (so an unmasked choice would pick it), while the choice among tokens is below 250.
          const steps = 12;
          const ref = await m.prefill(PROMPT, { lastOnly: true });
          assert.equal(ref.logits.vocab, V);
          const want: number[] = [];
          let logits = ref.logits.data;
          for (let i = 0; i < steps; i++) {
            assert.ok(argmax(logits) >= TOKENS, `step ${i}: the padded rows do not have the largest logit`);
            want.push(argmax(logits, TOKENS));
            if (i + 1 < steps) logits = (await m.step([want[i]], ref.state)).data;
          }
          ref.state.dispose();
          assert.ok(want.every((t) => t < TOKENS));

          // Greedy generation: per step (decodeChunk 1) and on the device in bursts (argmaxInto with the count).
          for (const decodeChunk of [1, 5]) {
            const got = await generate(m, PROMPT, { maxNewTokens: steps, decodeChunk });
            assert.deepEqual(got.tokens, want, `greedy, decodeChunk ${decodeChunk}`);
          }
          const dev = await m.prefill(PROMPT, { lastOnly: true });
          const [burst] = await m.greedy([want[0]], dev.state, steps - 1);
          dev.state.dispose();
          assert.deepEqual(burst, want.slice(1), "MambaModel.greedy");

          // Sampling: with these logits an unmasked sampler picks a padded row almost surely; the model's never.
          const padded = new Sampler({ temperature: 1, seed: 1 }).pick(ref.logits.data);
          assert.ok(padded >= TOKENS, `an unmasked sampler picked ${padded}`);
          for (const options of [{ temperature: 1 }, { temperature: 2, topK: 50 }, { temperature: 1.5, topP: 0.9 }]) {
            for (const seed of [1, 2, 3]) {
              const { tokens } = await generate(m, PROMPT, { maxNewTokens: 16, seed, ...options });
              assert.equal(tokens.length, 16);
              assert.ok(tokens.every((t) => t < TOKENS), `${JSON.stringify(options)} seed ${seed}: ${tokens}`);
            }
          }
          m.dispose();
        } finally {
          be.dispose();
        }
      },
    });
  }
}

Deno.test("padded vocabulary: checkpointFiles writes token_vocab_size, and prune → write → reload keeps it", async () => {
  const w = paddedModel("Mamba1");
  const written = JSON.parse(checkpointFiles(w)["config.json"]);
  assert.deepEqual([written.vocab_size, written.token_vocab_size], [256, TOKENS]);
  const keep = w.layers.map(() => [0, 2, 4, 6]);
  const pruned = pruneWeights(w, keep);
  const reloaded = await loadWeights(memorySource(checkpointFiles(pruned)));
  assert.deepEqual(
    [reloaded.config.vocabSize, reloaded.config.tokenVocabSize, reloaded.config.dState],
    [256, TOKENS, 4],
  );
  assert.deepEqual(reloaded.lmHead!.data, w.lmHead!.data);
  // Unpadded models keep the key out (transformers' config stays as it writes it).
  const plain = { ...w, config: { ...w.config, tokenVocabSize: 256 } };
  assert.equal("token_vocab_size" in JSON.parse(checkpointFiles(plain)["config.json"]), false);
  assert.throws(
    () => checkpointFiles({ ...w, config: { ...w.config, tokenVocabSize: 300 } }),
    /checkpointFiles: config\.tokenVocabSize 300 must be a whole number in \[1, 256\]/,
  );
});

Deno.test("argmax / Sampler.pick: only the first `count` entries are candidates", () => {
  const row = [0.5, 3, -1, 9, 8];
  assert.equal(argmax(row), 3);
  assert.equal(argmax(row, 3), 1);
  assert.equal(argmax(row, 1), 0);
  for (const bad of [0, 6, 2.5, NaN]) {
    assert.throws(() => argmax(row, bad), /argmax: the token count must be a whole number in \[1, 5\]/);
    assert.throws(() => new Sampler({ temperature: 1 }).pick(row, bad), /Sampler\.pick: the token count/);
  }
  const s = new Sampler({ temperature: 5, seed: 4 });
  const picks = Array.from({ length: 200 }, () => s.pick(row, 3));
  assert.ok(picks.every((t) => t < 3));
  assert.deepEqual([...new Set(picks)].sort(), [0, 1, 2]); // a high temperature reaches every candidate
});
