/**
 * Test helpers: fixture locations and golden files; re-exports the tree's one tolerance check (tests/_assert.ts).
 */
export { assertClose } from "./_assert.ts";

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
  /** argmax of each of those rows. */
  argmax_last4: number[];
  /** log Σ exp of each of those rows. */
  logsumexp_last4: number[];
  /** Mean next-token negative log-likelihood over the prompt (every position but the last predicts the next id). */
  prompt_mean_nll: number;
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
