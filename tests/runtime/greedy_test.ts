/**
 * Greedy decoding on the device (`Backend.argmaxInto` / `embedFrom`, `MambaModel.greedy`, `generate`'s
 * `decodeChunk`): the ops against host references, and the model's tokens against host argmax step by step.
 */
import assert from "node:assert/strict";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { MambaModel } from "../../runtime/model.ts";
import { generate } from "../../runtime/generate.ts";
import { argmax } from "../../runtime/sampling.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { fixtureDir, type FixtureGolden, FIXTURES, readGolden } from "../_golden.ts";
import { TEST_BACKENDS } from "../_backends.ts";

/** int32 ids as the float tensor bits the ops use. */
const bits = (ids: number[]) => new Float32Array(Int32Array.from(ids).buffer);

for (const tb of TEST_BACKENDS) {
  const suffix = tb.skip ? ` (${tb.skip})` : "";

  Deno.test({
    name:
      `${tb.name}: argmaxInto picks the lowest index among maxima, writes at an offset; embedFrom reads there${suffix}`,
    ignore: tb.skip !== null,
    async fn() {
      const be = await tb.create();
      try {
        assert.ok(be.argmaxInto && be.embedFrom, `${tb.name} has no device argmax`);
        const cols = 300; // not a multiple of the workgroup size
        const x = new Float32Array(4 * cols);
        for (let i = 0; i < cols; i++) x[i] = Math.sin(i * 1.7); // row 0: a plain maximum
        x[299] = 5; // … at the last column
        x.fill(-1, cols, 2 * cols); // row 1: ties at 5 and 260
        x[cols + 5] = x[cols + 260] = 3;
        x.fill(-2, 2 * cols, 3 * cols); // row 2: all equal
        for (let i = 0; i < cols; i++) x[3 * cols + i] = -1e30 - i; // row 3: very negative, max at 0
        const xt = be.upload(x, [4, cols], "x");
        const ids = be.upload(bits([7, 8, 0, 0, 0, 0, 9]), [7], "ids");
        be.argmaxInto(xt, ids, 2);
        const got = Array.from(new Int32Array((await be.read(ids)).buffer));
        const want = [0, 1, 2, 3].map((r) => argmax(x.subarray(r * cols, (r + 1) * cols)));
        assert.deepEqual(want, [299, 5, 0, 0]);
        assert.deepEqual(got, [7, 8, ...want, 9]);

        const table = new Float32Array(300 * 4).map((_, i) => i);
        const m = be.uploadMatrix(table, 300, 4, "table");
        const e = be.embedFrom(ids, 2, 3, m); // ids 299, 5, 0
        assert.deepEqual(Array.from(await be.read(e)), [
          ...table.subarray(299 * 4, 300 * 4),
          ...table.subarray(5 * 4, 6 * 4),
          ...table.subarray(0, 4),
        ]);
        assert.throws(() => be.argmaxInto!(xt, ids, 4), /do not fit/);
        assert.throws(() => be.embedFrom!(ids, 5, 3, m), /outside/);
        for (const t of [xt, ids, m, e]) be.free(t);
      } finally {
        be.dispose();
      }
    },
  });

  for (const fixture of FIXTURES) {
    const dir = fixtureDir(fixture);
    Deno.test({
      name: `${tb.name} ${fixture}: greedy() on the device equals host argmax step by step (batch 2)${suffix}`,
      ignore: tb.skip !== null,
      async fn() {
        const golden = readGolden<FixtureGolden>(dir);
        const be = await tb.create();
        try {
          const m = MambaModel.load(await loadWeights(dirSource(dir)), be);
          const prompts = [golden.input_ids.slice(0, 12), golden.input_ids.slice(12, 24).reverse()];
          const steps = 10;
          // Host reference: one step (logits read back) per token, argmax on the host.
          const ref = await m.prefill(prompts, { lastOnly: true });
          const V = m.config.vocabSize;
          let cur = [0, 1].map((b) => argmax(ref.logits.data.subarray(b * V, (b + 1) * V)));
          const first = cur;
          const want: number[][] = [[], []];
          for (let i = 0; i < steps; i++) {
            const l = await m.step(cur, ref.state);
            cur = [0, 1].map((b) => argmax(l.data.subarray(b * V, (b + 1) * V)));
            cur.forEach((t, b) => want[b].push(t));
          }
          // Device: the same steps, one readback, split in two calls to check the state carries over.
          const dev = await m.prefill(prompts, { lastOnly: true });
          const a = await m.greedy(first, dev.state, 4);
          const b = await m.greedy([a[0][3], a[1][3]], dev.state, steps - 4);
          assert.deepEqual([[...a[0], ...b[0]], [...a[1], ...b[1]]], want);
          assert.equal(dev.state.position, ref.state.position);
          ref.state.dispose();
          dev.state.dispose();

          // generate: the same tokens whatever the chunk, and a stop token ends a burst early.
          const runs = [];
          for (const decodeChunk of [1, 3, 8]) {
            runs.push((await generate(m, prompts[0], { maxNewTokens: steps, decodeChunk })).tokens);
          }
          assert.deepEqual(runs[1], runs[0]);
          assert.deepEqual(runs[2], runs[0]);
          assert.deepEqual(runs[0], [first[0], ...want[0].slice(0, steps - 1)]);
          const stopAt = runs[0][4];
          const stopped = await generate(m, prompts[0], { maxNewTokens: steps, decodeChunk: 8, stopTokens: [stopAt] });
          assert.equal(stopped.stop, "stop_token");
          assert.deepEqual(stopped.tokens, runs[0].slice(0, runs[0].indexOf(stopAt) + 1));
          await assert.rejects(() => generate(m, [1], { decodeChunk: 0 }), /decodeChunk must be/);
          m.dispose();
        } finally {
          be.dispose();
        }
      },
    });
  }
}
