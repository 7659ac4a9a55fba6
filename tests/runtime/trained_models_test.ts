/**
 * The genuinely trained checkpoints of ../shared/models (sharded, bf16) against everything their golden.json holds
 * from transformers (fp32 compute from the bf16 weights): the last 4 logit rows, their argmax and logsumexp, the
 * prompt's mean next-token NLL (which reads every one of the 64 rows), and 16 greedy tokens; sampled tokens in device
 * bursts equal the host step path's. Skipped visibly when ../shared/models is absent.
 */
import assert from "node:assert/strict";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { generate } from "../../runtime/generate.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, type ModelGolden, readGolden, SHARED, sharedSkipReason } from "../_golden.ts";
import { TEST_BACKENDS } from "../_backends.ts";

/** Index of the first maximum. */
function argmaxOf(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/** log Σ exp, in float64. */
function logSumExp(xs: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < xs.length; i++) max = Math.max(max, xs[i]);
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += Math.exp(xs[i] - max);
  return max + Math.log(sum);
}

for (const tb of TEST_BACKENDS) {
  for (const name of ["mamba1-text-small", "mamba2-text-small"]) {
    const skip = tb.skip ?? sharedSkipReason(`models/${name}`);
    Deno.test({
      name: `${tb.name} ${name}: sharded bf16 checkpoint reproduces transformers' logits, prompt NLL and greedy tokens${
        skip ? ` (${skip})` : ""
      }`,
      ignore: skip !== null,
      fn: async () => {
        const dir = `${SHARED}/models/${name}`;
        const golden = readGolden<ModelGolden>(dir);
        const backend = await tb.create();
        try {
          const model = MambaModel.load(await loadWeights(dirSource(dir)), backend);
          assert.equal(model.config.vocabSize, 50280);
          const { logits, state } = await model.prefill(golden.input_ids);
          state.dispose();
          const V = logits.vocab;
          const row = (pos: number) => logits.data.subarray(pos * V, (pos + 1) * V);
          golden.logits_positions.forEach((pos, i) => {
            assertClose(row(pos), golden.logits_last4[i], `logits at position ${pos}`);
            assert.equal(argmaxOf(row(pos)), golden.argmax_last4[i], `argmax at position ${pos}`);
            const lse = logSumExp(row(pos));
            assert.ok(Math.abs(lse - golden.logsumexp_last4[i]) <= 1e-4 * Math.abs(lse), `logsumexp at ${pos}: ${lse}`);
          });
          // Every row: the mean NLL of each next prompt token (float64 log-softmax), to the golden's 6 decimals plus
          // the fp32 logit tolerance (1e-4 relative).
          const ids = golden.input_ids;
          let nll = 0;
          for (let t = 0; t + 1 < ids.length; t++) nll += logSumExp(row(t)) - row(t)[ids[t + 1]];
          nll /= ids.length - 1;
          assert.ok(
            Math.abs(nll - golden.prompt_mean_nll) <= 1e-4 * golden.prompt_mean_nll + 5e-7,
            `prompt mean NLL ${nll} vs ${golden.prompt_mean_nll}`,
          );
          const r = await generate(model, golden.greedy_prompt, { maxNewTokens: golden.greedy_continuation.length });
          assert.deepEqual(r.tokens, golden.greedy_continuation);
          assert.deepEqual(r.tokens, golden.generate_continuation);
          // Sampled decoding over the full 50k vocabulary (top-k, top-p and a repetition penalty together): device
          // bursts (where the backend samples on the device), two of them, give the host step path's tokens for the
          // same seed. Few tokens: a decode step takes seconds on a software adapter.
          const o = { temperature: 1, topK: 40, topP: 0.9, repetitionPenalty: 1.2, seed: 4, maxNewTokens: 5 };
          const host = await generate(model, golden.greedy_prompt, { ...o, decodeChunk: 1 });
          const burst = await generate(model, golden.greedy_prompt, { ...o, decodeChunk: 2 });
          assert.deepEqual(burst.tokens, host.tokens, "sampled tokens, device bursts vs host steps");
          model.dispose();
        } finally {
          backend.dispose();
        }
      },
    });
  }
}
