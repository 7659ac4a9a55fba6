/**
 * cli/huge_pages.ts: when `bench` / `profile` relaunch themselves with glibc's huge-page malloc, and that the
 * relaunched process is the same command (same output, same exit code) with the tunable set.
 */
import assert from "node:assert/strict";
import {
  HUGE_PAGE_TRIES,
  HUGE_PAGE_TUNABLE,
  hugePageRelaunchBlocker,
  mayUseHugePages,
  smapsAdvised,
} from "../../cli/huge_pages.ts";
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

Deno.test("huge pages: the smaps entry holding an address says whether it is advised (hg)", () => {
  const smaps = [
    "55d000000000-55d000200000 rw-p 00000000 00:00 0                          [heap]",
    "Size:               2048 kB",
    "VmFlags: rd wr mr mw me ac sd",
    "7f0000000000-7f0004000000 rw-p 00000000 00:00 0 ",
    "Size:              65536 kB",
    "AnonHugePages:         0 kB",
    "VmFlags: rd wr mr mw me ac sd hg",
  ].join("\n");
  assert.equal(smapsAdvised(smaps, 0x7f0000001000n), true);
  assert.equal(smapsAdvised(smaps, 0x7f0003ffffffn), true);
  assert.equal(smapsAdvised(smaps, 0x55d000000010n), false);
  assert.equal(smapsAdvised(smaps, 0x7f0004000000n), null, "the end is outside");
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
  // Relaunched: the last process says glibc took the tunable (or gave up after the most tries); else why not.
  if (blocker === null) {
    const m = /huge pages: (on \(process (\d) of at most \d\)|glibc ignored .* in (\d) processes)/.exec(help.stderr);
    assert.ok(m, help.stderr);
    assert.ok(Number(m[2] ?? m[3]) <= HUGE_PAGE_TRIES, help.stderr);
  } else {
    assert.ok(help.stderr.includes(`huge pages: ${blocker}`), help.stderr);
  }
  const bad = await cliWith({ env }, "bench", "--no-such-flag");
  assert.equal(bad.code, 2, "a usage error's exit code survives the relaunch");
  assert.match(bad.stderr, /no-such-flag/);
  const off = await cliWith({ env: { ...env, PERFMAMBA_HUGE_PAGES: "0" } }, "bench", "--help");
  assert.match(off.stderr, /huge pages: PERFMAMBA_HUGE_PAGES=0/);
  const info = await cliWith({ env }, "info", "--help");
  assert.match(info.stderr, /huge pages: not bench \/ profile on WebGPU/);
});
