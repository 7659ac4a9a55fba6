/**
 * The package version, reported in profiles (kept equal to deno.json's "version" by tests/runtime/version_test.ts).
 *
 * @module
 */

/** Semantic version of this package. */
export const VERSION = "0.1.0";
