/**
 * The package version, reported in profiles (kept equal to deno.json's "version" by tests/runtime/version_test.ts).
 *
 * @module
 */

/**
 * Semantic version of this package.
 *
 * @example
 * ```ts
 * import { VERSION } from "@perfmamba/perfmamba";
 *
 * const [major, minor, patch] = VERSION.split(/[.+-]/).map(Number);
 * if (![major, minor, patch].every(Number.isInteger)) throw new Error(`not a semantic version: ${VERSION}`);
 * console.log(`PerfMamba ${VERSION}`); // e.g. PerfMamba 0.1.0
 * ```
 */
export const VERSION = "0.1.0";
