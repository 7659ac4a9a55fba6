/**
 * The one tolerance check of the test tree: max |actual − expected| ≤ rel · max|expected| + abs.
 *
 * @module
 */
import assert from "node:assert/strict";

/**
 * Assert max |actual − expected| ≤ rel · max|expected| + abs; on failure the message names the case, the worst
 * index, both values there and the bound. NaN anywhere in `actual` fails. The default (1e-4, 1e-5) is the fp32
 * CPU tolerance of ../shared/README.md for whole-model logits; op tests pass their own.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  rel = 1e-4,
  abs = 1e-5,
): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} ≠ ${expected.length}`);
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) maxRef = Math.max(maxRef, Math.abs(expected[i]));
  let worst = -1, worstErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= worstErr)) { // NaN is never ≤, so it becomes the worst
      worstErr = e;
      worst = i;
    }
  }
  const tol = rel * maxRef + abs;
  assert.ok(
    worstErr <= tol,
    `${what}: max |Δ| = ${worstErr} at ${worst} (got ${actual[worst]}, want ${expected[worst]}) > bound ${tol} ` +
      `(${rel} · max|e| ${maxRef} + ${abs})`,
  );
}
