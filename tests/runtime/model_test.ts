/**
 * The model against transformers' own outputs on the tiny fixtures: logits, layer-0 components, decode step
 * by step equals prefill, greedy continuation, batching, state cloning, and input validation.
 */
import assert from "node:assert/strict";
import { loadWeights } from "../../runtime/checkpoint.ts";
import { flattenBatch, MambaModel, validateTokens } from "../../runtime/model.ts";
import { generate } from "../../runtime/generate.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { assertClose, fixtureDir, type FixtureGolden, FIXTURES, readGolden } from "../_golden.ts";
import { TEST_BACKENDS, WASM_BASELINE, withFixtureModel } from "../_backends.ts";

// The golden fixtures hold on both WASM builds (relaxed SIMD and baseline).
for (const tb of [...TEST_BACKENDS, WASM_BASELINE]) {
  for (const fixture of FIXTURES) {
    const dir = fixtureDir(fixture);
    const golden = readGolden<FixtureGolden>(dir);
    const name = (what: string) => `${tb.name} ${fixture}: ${what}${tb.skip ? ` (${tb.skip})` : ""}`;
    const withModel = (f: (m: MambaModel) => Promise<void>) => withFixtureModel(tb, dir, f);

    Deno.test({
      name: name("prefill logits match transformers"),
      ignore: tb.skip !== null,
      fn: () =>
        withModel(async (m) => {
          const { logits, state } = await m.prefill(golden.input_ids);
          state.dispose();
          assert.equal(logits.rows, golden.input_ids.length);
          assertClose(logits.data, golden.logits.flat(), "logits");
        }),
    });

    Deno.test({
      name: name("layer-0 components match transformers"),
      ignore: tb.skip !== null,
      fn: () =>
        withModel(async (m) => {
          const got = new Map<string, Float32Array>();
          const { state } = await m.prefill(golden.input_ids, {
            hooks: {
              capture: async (n, layer, t) => {
                if (layer === 0) got.set(n, await m.backend.read(t));
              },
            },
          });
          state.dispose();
          for (const [key, ref] of Object.entries(golden.layer0)) {
            const t = got.get(key);
            assert.ok(t, `component ${key} was not captured`);
            assertClose(t, ref.data, `layer0 ${key}`);
          }
        }),
    });

    Deno.test({
      name: name("decoding one token at a time reproduces prefill at every position"),
      ignore: tb.skip !== null,
      fn: () =>
        withModel(async (m) => {
          const state = m.newState(1);
          const vocab = m.config.vocabSize;
          const steps = new Float32Array(golden.input_ids.length * vocab);
          for (let t = 0; t < golden.input_ids.length; t++) {
            const l = await m.step([golden.input_ids[t]], state);
            steps.set(l.data, t * vocab);
          }
          assert.equal(state.position, golden.input_ids.length);
          state.dispose();
          assertClose(steps, golden.logits.flat(), "step-by-step logits vs golden");
        }),
    });

    Deno.test({
      name: name("greedy continuation equals transformers'"),
      ignore: tb.skip !== null,
      fn: () =>
        withModel(async (m) => {
          const seen: number[] = [];
          const r = await generate(m, golden.greedy_prompt, {
            maxNewTokens: golden.greedy_continuation.length,
            onToken: (t) => void seen.push(t),
          });
          assert.deepEqual(r.tokens, golden.greedy_continuation);
          assert.deepEqual(seen, golden.greedy_continuation);
          assert.equal(r.stop, "length");
        }),
    });

    Deno.test({
      name: name("a batch of 3 equals three single runs; prefill continues from a cloned state"),
      ignore: tb.skip !== null,
      fn: () =>
        withModel(async (m) => {
          const ids = golden.input_ids;
          const seqs = [ids.slice(0, 20), ids.slice(10, 30), ids.slice(17, 37)];
          const { logits: batched, state } = await m.prefill(seqs);
          assert.equal(batched.rows, 60);
          for (let b = 0; b < 3; b++) {
            const { logits: one, state: s1 } = await m.prefill(seqs[b]);
            s1.dispose();
            assertClose(
              batched.data.subarray(b * 20 * one.vocab, (b + 1) * 20 * one.vocab),
              one.data,
              `batch row ${b}`,
            );
          }
          state.dispose();
          // Split the golden prompt in two prefills; a clone of the midway state gives the same tail twice.
          const { state: mid } = await m.prefill(ids.slice(0, 16));
          const fork = mid.clone();
          const a = await m.prefill(ids.slice(16), { state: mid });
          const b = await m.prefill(ids.slice(16), { state: fork, lastOnly: true });
          const vocab = m.config.vocabSize;
          assertClose(a.logits.data, golden.logits.slice(16).flat(), "prefill continued from a state");
          assertClose(b.logits.data, golden.logits[36], "prefill from a cloned state, last only");
          assert.equal(fork.position, 37);
          assert.equal(b.logits.rows, 1);
          assert.equal(a.logits.data.length, 21 * vocab);
          mid.dispose();
          fork.dispose();
        }),
    });

    Deno.test({
      name: name("prefill in pieces (chunkTokens) gives the same logits, all rows or last only"),
      ignore: tb.skip !== null,
      fn: () =>
        withModel(async (m) => {
          const ids = golden.input_ids;
          const seqs = [ids.slice(0, 30), ids.slice(7)];
          const whole = await m.prefill(seqs);
          whole.state.dispose();
          const V = m.config.vocabSize;
          for (const chunkTokens of [1, 7, 16, 29]) {
            const { logits, state } = await m.prefill(seqs, { chunkTokens });
            assert.equal(state.position, 30);
            state.dispose();
            assert.equal(logits.rows, 60);
            assertClose(logits.data, whole.logits.data, `chunkTokens ${chunkTokens}`);
            const last = await m.prefill(seqs, { chunkTokens, lastOnly: true });
            last.state.dispose();
            assert.equal(last.logits.rows, 2);
            assertClose(last.logits.data.subarray(0, V), whole.logits.data.subarray(29 * V, 30 * V), "last, row 0");
            assertClose(last.logits.data.subarray(V), whole.logits.data.subarray(59 * V), "last, row 1");
          }
          await assert.rejects(() => m.prefill(ids, { chunkTokens: 0 }), /chunkTokens must be a positive integer/);
        }),
    });
  }

  Deno.test({
    name: `${tb.name}: bad input gives clear errors`,
    ignore: tb.skip !== null,
    fn: async () => {
      const backend = await tb.create();
      try {
        const m = MambaModel.load(await loadWeights(dirSource(fixtureDir("mamba1-tiny"))), backend);
        await assert.rejects(
          () => m.prefill([1, 2, 256]),
          /token id 256 at position 2 is outside the vocabulary \[0, 256\)/,
        );
        await assert.rejects(() => m.prefill([1, -1]), /token id -1 at position 1/);
        await assert.rejects(() => m.prefill([]), /empty prompt/);
        await assert.rejects(
          () => m.prefill([[1, 2, 3], [4, 5]]),
          /batch of unequal lengths: sequence 0 has 3 tokens, sequence 1 has 2/,
        );
        const s = m.newState(2);
        await assert.rejects(() => m.step([1], s), /1 tokens for a state of 2 sequences/);
        s.dispose();
        await assert.rejects(() => generate(m, [1], { temperature: -1 }), /temperature must be/);
        await assert.rejects(() => generate(m, [1], { topP: 0 }), /topP must be in \(0, 1\]/);
        m.dispose();
        await assert.rejects(() => m.prefill([1]), /used after dispose/);
      } finally {
        backend.dispose();
      }
    },
  });
}

Deno.test("model: token ids are validated as given, before Int32Array would wrap or truncate them", () => {
  const bad: [unknown, RegExp][] = [
    [4294967296, /token id 4294967296 at position 1 is outside the vocabulary \[0, 256\)/],
    [2 ** 31, /token id 2147483648 at position 1 is outside/],
    [-4294967296, /token id -4294967296 at position 1 is outside/],
    [1.5, /token id 1\.5 at position 1 is not a whole number/],
    [NaN, /token id NaN at position 1 is not a whole number/],
    [Infinity, /token id Infinity at position 1 is not a whole number/],
    [-0.5, /token id -0\.5 at position 1 is not a whole number/],
    ["3", /token id "3" \(string\) at position 1 is not a whole number/],
  ];
  for (const [id, re] of bad) {
    const ids = [0, id, 2] as number[];
    assert.throws(() => validateTokens(ids, 256), re, String(id));
    assert.throws(() => flattenBatch(ids, 256), re, `flattenBatch ${id}`);
  }
  assert.throws(() => flattenBatch([[1, 2], [3, 4294967296]], 256), /sequence 1: token id 4294967296 at position 1/);
  assert.throws(() => flattenBatch(new Float64Array([0, 2 ** 32]), 256), /token id 4294967296 at position 1/);
  assert.deepEqual([...flattenBatch([[1, 2], [3, 255]], 256).ids], [1, 2, 3, 255]);
});

Deno.test("model: prefill, step and greedy refuse 2^32 (which used to equal token 0)", async () => {
  const backend = await TEST_BACKENDS[0].create();
  try {
    const m = MambaModel.load(await loadWeights(dirSource(fixtureDir("mamba1-tiny"))), backend);
    await assert.rejects(() => m.prefill([4294967296]), /token id 4294967296 at position 0 is outside/);
    await assert.rejects(() => m.prefill([[1], [4294967296]]), /sequence 1: token id 4294967296 at position 0/);
    const s = m.newState(1);
    await assert.rejects(() => m.step([4294967296], s), /token id 4294967296 at position 0 is outside/);
    await assert.rejects(() => m.step([0.5], s), /token id 0\.5 at position 0 is not a whole number/);
    await assert.rejects(() => m.greedy([4294967296], s, 1), /token id 4294967296 at position 0 is outside/);
    s.dispose();
    m.dispose();
  } finally {
    backend.dispose();
  }
});
