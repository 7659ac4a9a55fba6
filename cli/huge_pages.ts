/**
 * Relaunching the CLI with transparent huge pages for glibc's `malloc` (Linux): `bench` and `profile` of a large
 * preset on WebGPU over llvmpipe spend most of their time to first timing creating the weight buffers, which
 * llvmpipe allocates with `malloc` and zero-fills at once — one page fault per 4 KiB of fresh memory, ~3 ms per MB on
 * a VM (BENCHMARKS.md, issue 17 item 4). With `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` glibc marks its large
 * allocations `MADV_HUGEPAGE`, so they fault 2 MiB at a time; the variable is read only when a process starts, so
 * the process replaces itself (`execve` of `/proc/self/exe` with its own arguments) before doing anything.
 *
 * glibc does not always honour the tunable: strace showed some processes read "always [madvise] never" from
 * /sys and then never read the huge page size nor made a madvise call (about half the 2.8b loads measured,
 * BENCHMARKS.md; a comparison of the unterminated bytes it read is a guess at the cause). So the relaunched process
 * checks that a fresh 64 MiB `malloc` is advised (`hg` in its /proc/self/smaps `VmFlags`) and, if not, relaunches
 * again, up to {@link HUGE_PAGE_TRIES} processes in all.
 *
 * Done only where it can help and is asked for nothing else: Linux; THP in `madvise` mode (with `always` large
 * allocations get huge pages anyway, with `never` none); the tunable not already set (which also ends the
 * relaunch); FFI allowed; and not turned off with `PERFMAMBA_HUGE_PAGES=0`. Any failure leaves the process as it
 * was.
 *
 * @module
 */

/** The glibc tunable that backs `malloc`'s large allocations with transparent huge pages. */
export const HUGE_PAGE_TUNABLE = "glibc.malloc.hugetlb=1";

/** The environment variable that turns the relaunch off (`0`). */
export const HUGE_PAGES_ENV = "PERFMAMBA_HUGE_PAGES";

/** Set by the relaunch: how many processes have tried so far. */
export const HUGE_PAGE_TRY_ENV = "PERFMAMBA_HUGE_PAGES_TRY";

/** The most processes started to get glibc to honour the tunable. */
export const HUGE_PAGE_TRIES = 6;

/** Whether the smaps entry of the mapping holding `addr` is advised for huge pages (null: no such mapping). */
export function smapsAdvised(smaps: string, addr: bigint): boolean | null {
  let inside = false;
  for (const line of smaps.split("\n")) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) {
      inside = BigInt(`0x${range[1]}`) <= addr && addr < BigInt(`0x${range[2]}`);
    } else if (inside && line.startsWith("VmFlags:")) {
      return line.split(/\s+/).includes("hg");
    }
  }
  return null;
}

/** Why the process is not relaunched (null: it should be), from what it sees of the host. */
export function hugePageRelaunchBlocker(host: {
  os: string;
  /** `/sys/kernel/mm/transparent_hugepage/enabled`, or null when unreadable. */
  thpMode: string | null;
  /** `GLIBC_TUNABLES` (undefined: unset). */
  tunables: string | undefined;
  /** `PERFMAMBA_HUGE_PAGES`. */
  optOut: string | undefined;
}): string | null {
  if (host.os !== "linux") return `not Linux (${host.os})`;
  if (host.optOut === "0") return `${HUGE_PAGES_ENV}=0`;
  if (host.tunables?.includes("glibc.malloc.hugetlb")) return "GLIBC_TUNABLES already sets glibc.malloc.hugetlb";
  if (host.thpMode === null) return "no transparent huge pages (/sys/kernel/mm/transparent_hugepage unreadable)";
  if (!host.thpMode.includes("[madvise]")) return `transparent huge pages are "${host.thpMode.trim()}", not madvise`;
  return null;
}

function readOrNull(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** A NUL-terminated copy of `s`. */
function cString(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** A NULL-terminated array of pointers to `strings` (kept alive by `keep`). */
function cArray(strings: string[], keep: Uint8Array[]): BigUint64Array<ArrayBuffer> {
  const out = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => {
    const c = cString(s);
    keep.push(c);
    out[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(c)));
  });
  return out;
}

const LIBC = {
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  malloc: { parameters: ["usize"], result: "pointer" },
  free: { parameters: ["pointer"], result: "void" },
} as const;

/** Whether a fresh 64 MiB `malloc` (above glibc's largest mmap threshold: its own mapping) is advised (null: unknown). */
function mallocAdvised(lib: Deno.DynamicLibrary<typeof LIBC>): boolean | null {
  const p = lib.symbols.malloc(64n << 20n);
  if (p === null) return null;
  try {
    return smapsAdvised(Deno.readTextFileSync("/proc/self/smaps"), BigInt(Deno.UnsafePointer.value(p)));
  } catch {
    return null;
  } finally {
    lib.symbols.free(p);
  }
}

/**
 * Replace this process with itself under {@link HUGE_PAGE_TUNABLE} when {@link hugePageRelaunchBlocker} finds
 * nothing against it; returns (the reason) only when it did not. Call it first, before any output.
 */
export function relaunchWithHugePages(): string {
  let thpMode: string | null = null, tunables: string | undefined, optOut: string | undefined, tries = 0;
  try {
    thpMode = readOrNull("/sys/kernel/mm/transparent_hugepage/enabled");
    tunables = Deno.env.get("GLIBC_TUNABLES");
    optOut = Deno.env.get(HUGE_PAGES_ENV);
    tries = Number((Deno.env.get(HUGE_PAGE_TRY_ENV) ?? "0").trim());
  } catch (e) {
    return `environment not readable: ${(e as Error).message}`;
  }
  // A process this function started: the try count it was given, and the tunable set.
  const relaunched = tries > 0 && tunables?.includes(HUGE_PAGE_TUNABLE) === true;
  const blocker = relaunched ? null : hugePageRelaunchBlocker({ os: Deno.build.os, thpMode, tunables, optOut });
  if (blocker) return blocker;
  const cmdline = readOrNull("/proc/self/cmdline");
  if (!cmdline) return "/proc/self/cmdline unreadable";
  const argv = cmdline.split("\0").slice(0, -1);
  let lib: Deno.DynamicLibrary<typeof LIBC>;
  try {
    lib = Deno.dlopen("libc.so.6", LIBC);
  } catch (e) {
    return `no FFI: ${(e as Error).message}`;
  }
  const env = Deno.env.toObject();
  if (relaunched) {
    // Relaunched: did glibc take the tunable this time?
    const advised = mallocAdvised(lib);
    if (advised !== false) return `on (process ${tries} of at most ${HUGE_PAGE_TRIES})`;
    if (tries >= HUGE_PAGE_TRIES) return `glibc ignored ${HUGE_PAGE_TUNABLE} in ${tries} processes`;
  } else {
    env.GLIBC_TUNABLES = tunables ? `${tunables}:${HUGE_PAGE_TUNABLE}` : HUGE_PAGE_TUNABLE;
  }
  // A padding of random length: what decides is apparently the start-up stack's contents, which move with the
  // environment's size (retries with the same environment failed together more often than chance).
  env[HUGE_PAGE_TRY_ENV] = `${tries + 1}${" ".repeat(Math.floor(Math.random() * 64))}`;
  const keep: Uint8Array[] = [];
  const path = cString("/proc/self/exe");
  const args = cArray(argv, keep);
  const envp = cArray(Object.entries(env).map(([k, v]) => `${k}=${v}`), keep);
  lib.symbols.execve(path, args, envp); // returns only on failure
  lib.close();
  return "execve failed";
}

/** Whether a command line may create large WebGPU buffers: `bench` and `profile`, unless on `--backend wasm`. */
export function mayUseHugePages(argv: readonly string[]): boolean {
  if (argv[0] !== "bench" && argv[0] !== "profile") return false;
  const i = argv.indexOf("--backend");
  return !(argv.includes("--backend=wasm") || (i >= 0 && argv[i + 1] === "wasm"));
}
