/** Sampling: greedy = argmax, seeds reproduce, top-k / top-p restrict the support, frequencies follow softmax. */
import assert from "node:assert/strict";
import { argmax, mulberry32, Sampler, sampleRow } from "../../runtime/sampling.ts";
import { CHI2_CRIT_999, chiSquare, keptSet, softmaxProbs } from "./_sampling_stats.ts";

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

Deno.test("repetition penalty: a hand-computed case (Hugging Face semantics, before temperature)", () => {
  // Logits [2, -1, 1.2, 0.5]; ids 0 and 1 seen; penalty 2: 2 → 1 (x > 0: x / p), −1 → −2 (x ≤ 0: x · p).
  const row = [2, -1, 1.2, 0.5];
  const seen = (id: number) => id === 0 || id === 1;
  const choice = { temperature: 0.5, topK: 0, topP: 1, repetitionPenalty: 2 };
  assert.equal(sampleRow(row, 4, { ...choice, temperature: 0 }, 0, seen), 2); // greedy: 1.2 now beats 1
  assert.equal(sampleRow(row, 4, { ...choice, temperature: 0, repetitionPenalty: 1 }, 0, seen), 0);
  // Temperature 0.5 after the penalty: z = [2, −4, 2.4, 1]; probabilities ∝ exp(z − 2.4).
  const w = [2, -4, 2.4, 1].map((z) => Math.exp(z - 2.4));
  const s = w.reduce((a, b) => a + b);
  const cdf = w.map((_, i) => w.slice(0, i + 1).reduce((a, b) => a + b) / s); // in id order
  for (let i = 0; i < 4; i++) {
    // a draw just below each cumulative boundary (id order) lands on that id, just above on the next id (id 1's
    // probability, e^−6.4 / Σ ≈ 0.0009, is small but > 2e-6)
    assert.equal(sampleRow(row, 4, choice, cdf[i] - 1e-6, seen), i, `below boundary ${i}`);
    if (i < 3) assert.equal(sampleRow(row, 4, choice, cdf[i] + 1e-6, seen), i + 1, `above boundary ${i}`);
  }
  // Top-k 2 keeps z = 2.4 and 2 (ids 2 and 0), id 2 holding 0.599 of their mass: top-p 0.55 keeps it alone.
  const two = w[0] + w[2];
  assert.ok(w[2] / two > 0.5 && w[2] / two < 0.6);
  for (const u of [0, 0.3, 0.6, 0.999]) {
    assert.ok([0, 2].includes(sampleRow(row, 4, { ...choice, topK: 2 }, u, seen)));
    assert.equal(sampleRow(row, 4, { ...choice, topK: 2, topP: 0.55 }, u, seen), 2);
    assert.ok([0, 2].includes(sampleRow(row, 4, { ...choice, topK: 2, topP: 0.65 }, u, seen)));
  }
});

Deno.test("host sampler: chi-square of 6000 draws against the exact softmax for top-k / top-p (p = 0.001)", () => {
  const row = Float32Array.from({ length: 12 }, (_, i) => Math.cos(2.3 * i) * 2);
  const options = [
    { temperature: 0.9, seed: 11 },
    { temperature: 1.1, topK: 5, seed: 12 },
    { temperature: 0.7, topP: 0.85, seed: 13 },
    { temperature: 1.3, topK: 8, topP: 0.9, repetitionPenalty: 1.4, seed: 14 },
  ];
  const seen = (id: number) => id % 3 === 0;
  for (const o of options) {
    const s = new Sampler(o);
    const ids = Array.from({ length: 6000 }, () => s.pick(row, 12, seen));
    const probs = softmaxProbs(row, 12, s.choice, seen);
    const kept = keptSet(row, 12, s.choice, seen);
    assert.ok(ids.every((id) => kept.has(id)), `${JSON.stringify(o)}: an id outside the kept set`);
    const { stat, dof } = chiSquare(ids, probs);
    assert.ok(stat < CHI2_CRIT_999[dof], `${JSON.stringify(o)}: χ² = ${stat} ≥ ${CHI2_CRIT_999[dof]} (dof ${dof})`);
  }
});

Deno.test("top-k / top-p never leave the kept set, over many seeds; a 24-bit draw is exact in f32", () => {
  for (let seed = 0; seed < 200; seed++) {
    const rand = mulberry32(1000 + seed);
    const n = 2 + Math.floor(rand() * 40);
    const row = Float32Array.from({ length: n }, () => Math.round(8 * rand() - 4) / 2); // many ties
    const o = { temperature: 0.2 + rand() * 2, topK: Math.floor(rand() * n), topP: 0.05 + 0.95 * rand(), seed };
    const s = new Sampler(o);
    const kept = keptSet(row, n, s.choice, () => false);
    for (let i = 0; i < 20; i++) assert.ok(kept.has(s.pick(row, n)), `seed ${seed}`);
    const u = s.draw();
    assert.ok(u >= 0 && u < 1 && Math.fround(u) === u);
  }
});
