/**
 * The last module of `deno test tests/` (the name sorts it last): keeps the test process from aborting at exit on
 * hosts whose WebGPU runs on OpenGL through libglvnd's EGL (Mesa llvmpipe here and on CI).
 *
 * Why: `deno test` runs every module on a thread of its blocking pool. A module that touched WebGPU leaves libglvnd's
 * per-thread EGL state on that thread, which is freed by a TSD destructor when the thread exits. The pool's threads
 * exit when the process shuts down, at the same moment as the main thread runs libEGL's destructor (`__eglFini` →
 * `__eglCurrentTeardown`), which frees every thread's state from its list without holding the lock: both free the
 * same block, and glibc aborts with "double free or corruption" (exit 134) after every test has passed. Seen on CI
 * once; reproduced here in 15–36% of runs of a few small WebGPU test modules, with a core dump showing exactly those
 * two stacks (the same race as gfx-rs/wgpu#4285 / #5084, libglvnd's teardown).
 *
 * The fix: an idle pool thread exits after 10 s on its own, long before the process does, and then its destructor
 * runs alone. So this module, running last, waits until every other pool thread has exited, then releases its own
 * thread's EGL state (`eglReleaseThread`); the process then exits with no thread carrying EGL state. (Same repro with this
 * module: 0 aborts in 15 runs.) Doc tests run in a second `deno test` without the GL backend (deno.json's `test`
 * task), so no module runs after this one in a process that loaded EGL.
 */
import assert from "node:assert/strict";

/** Longest wait for the other pool threads before giving up (they exit 10 s after their last module). */
const MAX_WAIT_MS = 180_000;

/** The ids of this process's threads named `comm`, other than the calling one. */
function otherThreads(comm: string): string[] {
  const self = Deno.readLinkSync("/proc/thread-self").split("/").pop();
  const ids: string[] = [];
  for (const e of Deno.readDirSync("/proc/self/task")) {
    if (e.name === self) continue;
    try {
      if (Deno.readTextFileSync(`/proc/self/task/${e.name}/comm`).trim() === comm) ids.push(e.name);
    } catch {
      // The thread exited while we listed it.
    }
  }
  return ids;
}

/** Whether libglvnd's libEGL is mapped in this process (some module used WebGPU over OpenGL). */
function eglLoaded(): boolean {
  return /\/libEGL\.so/.test(Deno.readTextFileSync("/proc/self/maps"));
}

/** `deno test`'s order: the files it collects from tests/, sorted by path. */
function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...testFiles(p));
    else if (/_test\.ts$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

Deno.test("this barrier is the last test module of tests/", () => {
  const dir = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
  const files = testFiles(dir);
  assert.equal(files.at(-1), new URL(import.meta.url).pathname);
});

Deno.test({
  name: "EGL exit barrier: other test threads have exited before the process does",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const start = Date.now();
    while (otherThreads("tokio-runtime-w").length > 0 && Date.now() - start < MAX_WAIT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const left = otherThreads("tokio-runtime-w");
    if (left.length > 0) {
      console.log(`EGL exit barrier: ${left.length} test threads still alive after ${MAX_WAIT_MS} ms`);
    }
    if (!eglLoaded()) return; // No module used OpenGL: this thread holds no EGL state.
    // Not closed here: closing could unload libEGL and run its teardown on this thread now; Deno closes it when this
    // module ends, and by then this is the only test thread left.
    const egl = Deno.dlopen("libEGL.so.1", { eglReleaseThread: { parameters: [], result: "u32" } });
    assert.equal(egl.symbols.eglReleaseThread(), 1, "eglReleaseThread failed");
  },
});
