/**
 * Test helpers: which Chromium the browser tests drive, with which flags, and when they may skip.
 */
import { exists } from "../_golden.ts";

/** Debian's `chromium` (install with apt), or $CHROMIUM. */
export const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";

/**
 * Headless, no sandbox (root in CI), WebGPU on (SwiftShader here), and none of Chromium's background traffic: this
 * machine's closed network refuses those connections.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * Why a browser test is skipped (no Chromium on a user's machine), or null. In CI (.ci/run sets
 * PERFMAMBA_CI=1 and installs Chromium) a missing browser is a failure, never a skip.
 */
export function chromiumSkipReason(): string | null {
  if (exists(CHROMIUM) || Deno.env.get("PERFMAMBA_CI") === "1") return null;
  return `skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`;
}
