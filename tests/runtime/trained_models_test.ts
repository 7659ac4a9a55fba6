/**
 * The genuinely trained checkpoints of ../shared/models (sharded, bf16): last-4 logits and 16 greedy tokens
 * against transformers (fp32 compute from the bf16 weights). Skipped visibly when ../shared/models is absent.
 */
import assert from "node:assert/strict";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { generate } from "../../runtime/generate.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, type ModelGolden, readGolden, SHARED, sharedSkipReason } from "../_golden.ts";
import { TEST_BACKENDS } from "../_backends.ts";

for (const tb of TEST_BACKENDS) {
  for (const name of ["mamba1-text-small", "mamba2-text-small"]) {
    const skip = tb.skip ?? sharedSkipReason(`models/${name}`);
    Deno.test({
      name: `${tb.name} ${name}: sharded bf16 checkpoint reproduces transformers' logits and greedy tokens${
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
          golden.logits_positions.forEach((pos, i) => {
            const row = logits.data.subarray(pos * V, (pos + 1) * V);
            assertClose(row, golden.logits_last4[i], `logits at position ${pos}`);
          });
          const r = await generate(model, golden.greedy_prompt, { maxNewTokens: golden.greedy_continuation.length });
          assert.deepEqual(r.tokens, golden.greedy_continuation);
          assert.deepEqual(r.tokens, golden.generate_continuation);
          model.dispose();
        } finally {
          backend.dispose();
        }
      },
    });
  }
}
