/** Sampling: greedy = argmax, seeds reproduce, top-k / top-p restrict the support, frequencies follow softmax. */
import assert from "node:assert/strict";
import { argmax, mulberry32, Sampler } from "../../runtime/sampling.ts";

const logits = new Float32Array([1.0, 3.0, 2.5, -1.0, 0.0, 2.9]);

Deno.test("greedy picks the argmax (first on ties)", () => {
  assert.equal(new Sampler().pick(logits), 1);
  assert.equal(argmax([2, 5, 5, 1]), 1);
});

Deno.test("the same seed gives the same draws; another seed differs", () => {
  const draw = (seed: number) => {
    const s = new Sampler({ temperature: 1, seed });
    return Array.from({ length: 50 }, () => s.pick(logits));
  };
  assert.deepEqual(draw(3), draw(3));
  assert.notDeepEqual(draw(3), draw(4));
});

Deno.test("top-k = 2 only yields the two most likely tokens; top-p keeps the nucleus", () => {
  const k = new Sampler({ temperature: 2, topK: 2, seed: 1 });
  const seenK = new Set(Array.from({ length: 400 }, () => k.pick(logits)));
  assert.deepEqual([...seenK].sort(), [1, 5]);
  // softmax probabilities: p(1)≈0.368, p(5)≈0.333, p(2)≈0.223 → top-p 0.6 keeps {1, 5} (0.702), 0.8 adds 2.
  const p = new Sampler({ temperature: 1, topP: 0.6, seed: 2 });
  assert.deepEqual([...new Set(Array.from({ length: 400 }, () => p.pick(logits)))].sort(), [1, 5]);
  const p2 = new Sampler({ temperature: 1, topP: 0.8, seed: 2 });
  assert.deepEqual([...new Set(Array.from({ length: 400 }, () => p2.pick(logits)))].sort(), [1, 2, 5]);
});

Deno.test("sampling frequencies follow softmax(logits / T)", () => {
  const T = 0.7, n = 20000;
  const s = new Sampler({ temperature: T, seed: 9 });
  const counts = new Array(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[s.pick(logits)]++;
  const e = Array.from(logits, (v) => Math.exp(v / T));
  const z = e.reduce((a, b) => a + b);
  for (let i = 0; i < logits.length; i++) {
    const p = e[i] / z;
    const sd = Math.sqrt((p * (1 - p)) / n);
    assert.ok(Math.abs(counts[i] / n - p) < 5 * sd + 1e-4, `token ${i}: ${counts[i] / n} vs ${p}`);
  }
});

Deno.test("mulberry32 is uniform in [0, 1)", () => {
  const r = mulberry32(123);
  let sum = 0;
  for (let i = 0; i < 10000; i++) {
    const v = r();
    assert.ok(v >= 0 && v < 1);
    sum += v;
  }
  assert.ok(Math.abs(sum / 10000 - 0.5) < 0.01);
});

Deno.test("bad sampling options are refused with the option's name", () => {
  assert.throws(() => new Sampler({ temperature: NaN }), /temperature/);
  assert.throws(() => new Sampler({ topK: 1.5 }), /topK/);
  assert.throws(() => new Sampler({ topP: 1.5 }), /topP/);
});
