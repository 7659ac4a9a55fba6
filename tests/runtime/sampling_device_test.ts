/**
 * The device samplers (`Backend.sampleInto`: WGSL on WebGPU, `sampleRow` on the WASM heap) against the host's
 * definition (runtime/sampling.ts `sampleRow`): the same draws give the same tokens, top-k / top-p never leave the
 * kept set, the seen bitmap is updated, and the frequencies of many device draws match the exact softmax (chi-square).
 */
import assert from "node:assert/strict";
import type { Backend } from "../../runtime/backend.ts";
import { mulberry32, sampleRow, type TokenChoice } from "../../runtime/sampling.ts";
import { TEST_BACKENDS } from "../_backends.ts";
import { CHI2_CRIT_999, chiSquare, keptSet, softmaxProbs } from "./_sampling_stats.ts";

const CHOICES: TokenChoice[] = [
  { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 },
  { temperature: 0.7, topK: 5, topP: 1, repetitionPenalty: 1 },
  { temperature: 1.3, topK: 0, topP: 0.8, repetitionPenalty: 1 },
  { temperature: 0.9, topK: 8, topP: 0.9, repetitionPenalty: 1.3 },
  { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1.5 },
  { temperature: 2, topK: 1, topP: 1, repetitionPenalty: 0.8 },
];

/** Run sampleInto over `rows` rows × `draws.length / rows` steps on the same logits; returns ids and the seen bits. */
async function deviceDraws(
  be: Backend,
  logits: Float32Array,
  rows: number,
  width: number,
  cols: number,
  choice: TokenChoice,
  draws: Float32Array,
  seenInit: Uint32Array,
): Promise<{ ids: Int32Array; seen: Uint32Array }> {
  const steps = draws.length / rows;
  const x = be.upload(logits, [rows, width], "x");
  const ids = be.upload(new Float32Array(steps * rows), [steps * rows], "ids");
  const d = be.upload(draws, [draws.length], "draws");
  const seen = be.upload(new Float32Array(seenInit.slice().buffer), [seenInit.length], "seen");
  try {
    for (let i = 0; i < steps; i++) be.sampleInto!(x, ids, i * rows, choice, d, i * rows, seen, cols);
    return {
      ids: new Int32Array((await be.read(ids)).buffer),
      seen: new Uint32Array((await be.read(seen)).buffer),
    };
  } finally {
    for (const t of [x, ids, d, seen]) be.free(t);
  }
}

for (const tb of TEST_BACKENDS) {
  const suffix = tb.skip ? ` (${tb.skip})` : "";
  Deno.test({
    name: `${tb.name} sampleInto: the same draws give the host's tokens; the kept set holds; seen bits set${suffix}`,
    ignore: tb.skip !== null,
    async fn() {
      const be = await tb.create();
      try {
        const rand = mulberry32(5);
        for (const [rows, width, cols] of [[1, 16, 16], [2, 45, 40], [3, 300, 297]]) {
          const logits = Float32Array.from({ length: rows * width }, () => 4 * rand() - 2);
          logits[width - 1] = 1e4; // a padded column (when cols < width) larger than everything: never chosen
          logits[1] = logits[2]; // a tie
          // The fixed choices, then random ones (top-k and top-p together: the top-p search runs over every key).
          const randomChoices = Array.from({ length: 12 }, () => ({
            temperature: 0.3 + 2 * rand(),
            topK: Math.floor(rand() * cols),
            topP: rand() < 0.2 ? 1 : 0.05 + 0.95 * rand(),
            repetitionPenalty: rand() < 0.3 ? 1 : 0.5 + 1.5 * rand(),
          }));
          for (const choice of [...CHOICES, ...randomChoices]) {
            const steps = 6;
            const draws = Float32Array.from({ length: steps * rows }, () => Math.floor(rand() * 2 ** 24) / 2 ** 24);
            const words = Math.ceil(cols / 32);
            const seenInit = new Uint32Array(rows * words);
            for (let r = 0; r < rows; r++) for (const id of [1, 3, 7]) seenInit[r * words] |= 1 << id;
            const got = await deviceDraws(be, logits, rows, width, cols, choice, draws, seenInit);
            // The host, step by step, with its own seen set per row.
            const seen = Array.from({ length: rows }, () => new Set([1, 3, 7]));
            for (let i = 0; i < steps; i++) {
              for (let r = 0; r < rows; r++) {
                const row = logits.subarray(r * width, (r + 1) * width);
                const want = sampleRow(row, cols, choice, draws[i * rows + r], (id) => seen[r].has(id));
                const id = got.ids[i * rows + r];
                const kept = keptSet(row, cols, choice, (c) => seen[r].has(c));
                assert.ok(kept.has(id), `${JSON.stringify(choice)} row ${r} step ${i}: ${id} outside the kept set`);
                assert.equal(id, want, `${JSON.stringify(choice)} ${rows}×${cols} row ${r} step ${i}`);
                seen[r].add(want);
              }
            }
            for (let r = 0; r < rows; r++) {
              for (let c = 0; c < cols; c++) {
                const bit = (got.seen[r * words + (c >>> 5)] >>> (c & 31)) & 1;
                assert.equal(bit, seen[r].has(c) ? 1 : 0, `seen bit of ${c}, row ${r}`);
              }
            }
          }
        }
      } finally {
        be.dispose();
      }
    },
  });

  Deno.test({
    name:
      `${tb.name} sampleInto: frequencies of 4000 device draws match the exact softmax (chi-square, p = 0.001)${suffix}`,
    ignore: tb.skip !== null,
    async fn() {
      const be = await tb.create();
      try {
        const V = 12, n = 4000;
        const logits = Float32Array.from({ length: V }, (_, i) => Math.sin(1.7 * i) * 1.5);
        const rand = mulberry32(2024);
        for (const choice of [CHOICES[0], CHOICES[2], { ...CHOICES[1], topK: 6 }]) {
          const draws = Float32Array.from({ length: n }, () => Math.floor(rand() * 2 ** 24) / 2 ** 24);
          const { ids } = await deviceDraws(be, logits, 1, V, V, choice, draws, new Uint32Array(1));
          const probs = softmaxProbs(logits, V, choice, () => false);
          const { stat, dof } = chiSquare(ids, probs);
          assert.ok(
            stat < CHI2_CRIT_999[dof],
            `${JSON.stringify(choice)}: χ² = ${stat} ≥ ${CHI2_CRIT_999[dof]} (dof ${dof})`,
          );
        }
      } finally {
        be.dispose();
      }
    },
  });
}
