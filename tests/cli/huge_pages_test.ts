/**
 * cli/huge_pages.ts: when `bench` / `profile` relaunch themselves with glibc's huge-page malloc, and that the
 * relaunched process is the same command (same output, same exit code) with the tunable set.
 */
import assert from "node:assert/strict";
import { HUGE_PAGE_TUNABLE, hugePageRelaunchBlocker, mayUseHugePages } from "../../cli/huge_pages.ts";
import { cliWith } from "./_cli.ts";

const LINUX = { os: "linux", thpMode: "always [madvise] never\n", tunables: undefined, optOut: undefined };

Deno.test("huge pages: relaunch only on Linux with THP in madvise mode, the tunable unset, not opted out", () => {
  assert.equal(hugePageRelaunchBlocker(LINUX), null);
  assert.equal(hugePageRelaunchBlocker({ ...LINUX, tunables: "glibc.malloc.arena_max=2" }), null);
  assert.match(hugePageRelaunchBlocker({ ...LINUX, os: "darwin" })!, /not Linux \(darwin\)/);
  assert.match(hugePageRelaunchBlocker({ ...LINUX, optOut: "0" })!, /PERFMAMBA_HUGE_PAGES=0/);
  assert.match(hugePageRelaunchBlocker({ ...LINUX, tunables: HUGE_PAGE_TUNABLE })!, /already sets/);
  assert.match(hugePageRelaunchBlocker({ ...LINUX, thpMode: "[always] madvise never" })!, /"\[always\] madvise never"/);
  assert.match(hugePageRelaunchBlocker({ ...LINUX, thpMode: "always madvise [never]" })!, /not madvise/);
  assert.match(hugePageRelaunchBlocker({ ...LINUX, thpMode: null })!, /unreadable/);
});

Deno.test("huge pages: bench and profile may relaunch, unless on --backend wasm; other commands never", () => {
  assert.ok(mayUseHugePages(["bench", "--size", "2.8b"]));
  assert.ok(mayUseHugePages(["profile", "--backend", "webgpu"]));
  assert.ok(!mayUseHugePages(["bench", "--backend", "wasm", "--size", "2.8b"]));
  assert.ok(!mayUseHugePages(["profile", "--backend=wasm"]));
  assert.ok(!mayUseHugePages(["info", "--size", "2.8b"]));
  assert.ok(!mayUseHugePages([]));
});

/** What this host's state says the CLI does (null: it relaunches). */
function hereBlocker(): string | null {
  let thpMode: string | null = null;
  try {
    thpMode = Deno.readTextFileSync("/sys/kernel/mm/transparent_hugepage/enabled");
  } catch { /* none */ }
  return hugePageRelaunchBlocker({ os: Deno.build.os, thpMode, tunables: undefined, optOut: undefined });
}

Deno.test("huge pages: the relaunched bench is the same command, with the tunable, and keeps its exit code", async () => {
  const env = { PERFMAMBA_DEBUG: "1", GLIBC_TUNABLES: "", PERFMAMBA_HUGE_PAGES: "" };
  const help = await cliWith({ env }, "bench", "--help");
  assert.equal(help.code, 0, help.stderr);
  assert.equal(help.stdout.split("Prefill/decode tok/s").length, 2, "the usage printed once");
  const blocker = hereBlocker();
  // Relaunched: the new process finds the tunable already set; otherwise it says why not.
  const want = blocker === null ? "GLIBC_TUNABLES already sets glibc.malloc.hugetlb" : blocker;
  assert.ok(help.stderr.includes(`huge pages: ${want}`), help.stderr);
  const bad = await cliWith({ env }, "bench", "--no-such-flag");
  assert.equal(bad.code, 2, "a usage error's exit code survives the relaunch");
  assert.match(bad.stderr, /no-such-flag/);
  const off = await cliWith({ env: { ...env, PERFMAMBA_HUGE_PAGES: "0" } }, "bench", "--help");
  assert.match(off.stderr, /huge pages: PERFMAMBA_HUGE_PAGES=0/);
  const info = await cliWith({ env }, "info", "--help");
  assert.match(info.stderr, /huge pages: not bench \/ profile on WebGPU/);
});
