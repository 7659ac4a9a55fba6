/**
 * A mutant: one deliberate defect in the product (an exact snippet of one file and its replacement), and the test
 * files that must fail with it in place. Shared by the runner (tests/mutants/run.ts) and the table's check.
 *
 * @module
 */

/** One deliberate defect and the tests that must catch it. */
export interface Mutant {
  /** Short unique name (`--only NAME`). */
  name: string;
  /** File to change, relative to the repository root. */
  file: string;
  /** Exact text that must occur exactly once in `file`. */
  find: string;
  /** What it becomes. */
  replace: string;
  /** The defect in words: what a user would get wrong. */
  why: string;
  /** Test files (relative to the root) of which at least one must fail with the mutant applied. */
  killedBy: string[];
}

/** Number of (non-overlapping) occurrences of `needle` in `text`. */
export function occurrences(text: string, needle: string): number {
  if (needle.length === 0) return Infinity;
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** The file's text with the mutant applied; throws, naming the mutant and file, unless the snippet occurs once. */
export function applyMutant(m: Mutant, text: string): string {
  const n = occurrences(text, m.find);
  if (n !== 1) {
    throw new Error(
      `mutant ${m.name}: its snippet occurs ${n} times in ${m.file} (must be exactly once; update tests/mutants/mutants.ts)`,
    );
  }
  return text.replace(m.find, () => m.replace);
}
