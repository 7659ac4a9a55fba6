/**
 * Test helpers: fixture locations, golden files and the tolerance check every model test uses.
 */
import assert from "node:assert/strict";

/** A flattened tensor of a golden file. */
export interface GoldenTensor {
  shape: number[];
  data: number[];
}

/** golden.json of a tiny fixture. */
export interface FixtureGolden {
  input_ids: number[];
  logits: number[][];
  greedy_prompt: number[];
  greedy_continuation: number[];
  layer0: Record<string, GoldenTensor>;
}

/** golden.json of a trained model in ../shared/models. */
export interface ModelGolden {
  input_ids: number[];
  prompt_text: string;
  logits_positions: number[];
  logits_last4: number[][];
  greedy_prompt: number[];
  greedy_continuation: number[];
  generate_continuation: number[];
}

/** The tiny fixtures copied into the repo. */
export const FIXTURES = ["mamba1-tiny", "mamba2-tiny", "mamba2-groups"] as const;

/** Absolute path of a fixture directory in tests/fixtures. */
export function fixtureDir(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}

/** Absolute path of ../shared (beside the repo), whether or not it exists. */
export const SHARED = new URL("../../shared", import.meta.url).pathname;

/** Whether a path exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Reason a test needing ../shared/<sub> is skipped, or null when it is there. */
export function sharedSkipReason(sub: string): string | null {
  return exists(`${SHARED}/${sub}`)
    ? null
    : `skipped: ${SHARED}/${sub} not found (needs the shared data beside the repo)`;
}

/** Parse a golden.json. */
export function readGolden<T>(dir: string): T {
  return JSON.parse(Deno.readTextFileSync(`${dir}/golden.json`)) as T;
}

/**
 * Assert max |actual − expected| ≤ rel · max|expected| + abs, reporting the worst index.
 * The default (1e-4, 1e-5) is the fp32 CPU tolerance of ../shared/README.md.
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
    if (!(e <= worstErr)) {
      worstErr = e;
      worst = i;
    }
  }
  const tol = rel * maxRef + abs;
  assert.ok(
    worstErr <= tol,
    `${what}: max |Δ| = ${worstErr} at ${worst} (got ${actual[worst]}, want ${expected[worst]}) > tol ${tol}`,
  );
}
