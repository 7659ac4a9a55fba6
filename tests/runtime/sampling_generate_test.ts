/**
 * Sampled generation in device bursts (`generate` with `decodeChunk` > 1 on a backend with `deviceSampling`, and
 * `MambaModel.queueBurst` on every backend with `sampleInto`) against the host step path (one `model.step` and a
 * `Sampler.pick` per token, the same seed hence the same draws), on the golden fixtures: the same tokens for
 * temperature / top-k / top-p / repetition-penalty combinations, with and without overlapped readbacks; stop tokens
 * and an early stop from the callback end a burst exactly where the host path ends; callbacks see every token in
 * order.
 */
import assert from "node:assert/strict";
import { generate, type GenerateOptions } from "../../runtime/generate.ts";
import { Sampler, type SamplingOptions } from "../../runtime/sampling.ts";
import type { MambaModel } from "../../runtime/model.ts";
import { TEST_BACKENDS, withFixtureModel } from "../_backends.ts";
import { fixtureDir } from "../_golden.ts";

const PROMPT = [5, 17, 42, 99, 3];
const OPTIONS: SamplingOptions[] = [
  { temperature: 1, seed: 1 },
  { temperature: 0.8, topP: 0.95, seed: 2 },
  { temperature: 1.2, topK: 7, seed: 3 },
  { temperature: 0.9, topK: 20, topP: 0.8, repetitionPenalty: 1.3, seed: 4 },
  { temperature: 0, repetitionPenalty: 1.8 }, // greedy with a penalty: on the device sampler too
  { temperature: 1.5, repetitionPenalty: 0.7, seed: 5 },
];

/** The host step path, written out: prefill, then one step and one host pick per token. */
async function hostTokens(m: MambaModel, o: SamplingOptions, n: number): Promise<number[]> {
  const s = new Sampler(o);
  const seen = new Set(PROMPT);
  const { logits, state } = await m.prefill(PROMPT, { lastOnly: true });
  const V = m.config.tokenVocabSize;
  const out = [s.pick(logits.data, V, (id) => seen.has(id))];
  while (out.length < n) {
    seen.add(out.at(-1)!);
    out.push(s.pick((await m.step([out.at(-1)!], state)).data, V, (id) => seen.has(id)));
  }
  state.dispose();
  return out;
}

for (const tb of TEST_BACKENDS) {
  const suffix = tb.skip ? ` (${tb.skip})` : "";
  for (const fixture of ["mamba1-tiny", "mamba2-tiny"]) {
    Deno.test({
      name: `${tb.name} ${fixture}: sampled bursts give the host step path's tokens${suffix}`,
      ignore: tb.skip !== null,
      async fn() {
        await withFixtureModel(tb, fixtureDir(fixture), async (m) => {
          const n = 11;
          for (const o of OPTIONS) {
            const want = await hostTokens(m, o, n);
            const viaGenerate = await generate(m, PROMPT, { ...o, maxNewTokens: n, decodeChunk: 1 });
            assert.deepEqual(viaGenerate.tokens, want, `generate, host path, ${JSON.stringify(o)}`);
            // queueBurst directly (every backend with sampleInto): bursts of 4, the second queued from the first.
            const s = new Sampler(o);
            if (s.choice.temperature > 0) s.draw(); // the first token's draw (taken by the pick after the prefill)
            const { state } = await m.prefill(PROMPT, { lastOnly: true });
            const seen = m.seenTokens([[...PROMPT, want[0]]]);
            const got = [want[0]];
            let prev = null;
            for (const steps of [4, 4, 2]) {
              const sampling = { choice: s.choice, draws: Float32Array.from({ length: steps }, () => s.draw()), seen };
              if (s.choice.temperature === 0) sampling.draws.fill(0);
              const b = await m.queueBurst(prev ?? [want[0]], state, steps, sampling);
              got.push(...(await m.readBurst(b))[0]);
              if (prev) m.freeBurst(prev);
              prev = b;
            }
            m.freeBurst(prev!);
            m.backend.free(seen);
            state.dispose();
            assert.deepEqual(got, want, `queueBurst, ${JSON.stringify(o)}`);
            if (!m.backend.capabilities.deviceSampling) continue;
            for (const [decodeChunk, overlapReadback] of [[3, true], [3, false], [32, true]] as const) {
              {
                const streamed: number[] = [];
                const r = await generate(m, PROMPT, {
                  ...o,
                  maxNewTokens: n,
                  decodeChunk,
                  overlapReadback,
                  onToken: (t, i) => {
                    assert.equal(i, streamed.length);
                    streamed.push(t);
                  },
                });
                const what = `generate chunk ${decodeChunk} overlap ${overlapReadback} ${JSON.stringify(o)}`;
                assert.deepEqual(r.tokens, want, what);
                assert.deepEqual(streamed, want, what);
                assert.equal(r.stop, "length");
              }
            }
          }
        });
      },
    });

    Deno.test({
      name:
        `${tb.name} ${fixture}: a stop token or the callback ends a sampled burst where the host path ends${suffix}`,
      ignore: tb.skip !== null,
      async fn() {
        await withFixtureModel(tb, fixtureDir(fixture), async (m) => {
          const o: GenerateOptions = { temperature: 1.1, topP: 0.9, seed: 8, maxNewTokens: 14 };
          const full = await generate(m, PROMPT, { ...o, decodeChunk: 1 });
          const at = 6; // mid-burst for chunks of 4
          const stopToken = full.tokens[at];
          const firstAt = full.tokens.indexOf(stopToken);
          for (const decodeChunk of [1, 4]) {
            const r = await generate(m, PROMPT, { ...o, decodeChunk, stopTokens: [stopToken] });
            assert.deepEqual(r.tokens, full.tokens.slice(0, firstAt + 1), `stop token, chunk ${decodeChunk}`);
            assert.equal(r.stop, "stop_token");
            const seenByCallback: number[] = [];
            const c = await generate(m, PROMPT, {
              ...o,
              decodeChunk,
              onToken: (t) => {
                seenByCallback.push(t);
                return seenByCallback.length < 7 ? undefined : false;
              },
            });
            assert.deepEqual(c.tokens, full.tokens.slice(0, 7), `callback, chunk ${decodeChunk}`);
            assert.deepEqual(seenByCallback, c.tokens);
            assert.equal(c.stop, "callback");
          }
          // After a stop, the model is reusable (the speculative burst was discarded with its state).
          assert.deepEqual((await generate(m, PROMPT, { ...o, decodeChunk: 4 })).tokens, full.tokens);
        });
      },
    });
  }
}
