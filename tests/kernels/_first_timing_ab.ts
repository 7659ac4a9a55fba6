/**
 * Time to first timing of `bench` on a preset (issue 17 item 4), trees A/B interleaved (not a test):
 * `deno run -A tests/kernels/_first_timing_ab.ts --size 2.8b --arch mamba2 --rounds 2 --settle 10
 *  --variant old=/tmp/old --variant new=. --variant new-no-thp=.:PERFMAMBA_HUGE_PAGES=0`
 *
 * Each round runs every variant once, in the order given, each a fresh process:
 * `deno run -A TREE/cli/main.ts bench --backend webgpu --size S --arch A --seqlens 8 --decode-tokens 0 --warmup 0
 * --iters 1 --skip-peaks` (`KEY=VALUE` after a `:` are added to its environment), and measures the seconds from
 * spawning it to its line "weights on the backend" — after which bench's first timed pass starts — and how much of
 * its memory is in transparent huge pages then, then stops it.
 * Before each run it waits `--settle` seconds: memory freed by the previous run is handed back to a VM's host after
 * a few seconds (virtio-balloon free page reporting), and a run started sooner would find it cheaper to touch.
 * Prints one JSON line per run, then the medians (min–max) per variant.
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string", default: "1.4b" },
    arch: { type: "string", default: "mamba2" },
    rounds: { type: "string", default: "2" },
    settle: { type: "string", default: "10" },
    timeout: { type: "string", default: "400" },
    variant: { type: "string", multiple: true, default: [] },
  },
});
const variants = values.variant.map((v) => {
  const eq = v.indexOf("=");
  const [tree, ...envs] = (eq > 0 ? v.slice(eq + 1) : v).split(":");
  const env = Object.fromEntries(envs.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  return { name: eq > 0 ? v.slice(0, eq) : v, tree: Deno.realPathSync(tree), env };
});
if (variants.length === 0) {
  console.error("usage: _first_timing_ab.ts --variant NAME=TREE[:K=V…] … [--size] [--arch] [--rounds] [--settle]");
  Deno.exit(2);
}

const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

/** Seconds from spawn to the "weights on the backend" line (null: not reached), and bench's own figure. */
async function once(tree: string, env: Record<string, string>) {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${tree}/cli/main.ts`,
      "bench",
      "--backend",
      "webgpu",
      "--size",
      values.size,
      "--arch",
      values.arch,
      "--seqlens",
      "8",
      "--decode-tokens",
      "0",
      "--warmup",
      "0",
      "--iters",
      "1",
      "--skip-peaks",
    ],
    cwd: tree,
    env: { PERFMAMBA_DEBUG: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  });
  const t0 = performance.now();
  const child = cmd.spawn();
  let readyS: number | null = null, benchS: number | null = null, hugePagesMB: number | null = null;
  let hugePageNote: string | null = null; // what cli/huge_pages.ts did (PERFMAMBA_DEBUG=1)
  const tail: string[] = [];
  const timer = setTimeout(() => child.kill("SIGKILL"), Number(values.timeout) * 1000);
  const watch = async (stream: ReadableStream<Uint8Array>) => {
    for await (const line of stream.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines())) {
      tail.push(line);
      if (line.startsWith("huge pages: ")) hugePageNote = line.slice("huge pages: ".length);
      if (tail.length > 5) tail.shift();
      const m = /weights on the backend in ([\d.]+) s/.exec(line);
      if (m && readyS === null) {
        readyS = (performance.now() - t0) / 1000;
        benchS = Number(m[1]);
        hugePagesMB = hugePages(child.pid);
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
      }
    }
  };
  await Promise.all([watch(child.stdout), watch(child.stderr)]);
  await child.status;
  clearTimeout(timer);
  return { readyS, benchS, hugePagesMB, hugePageNote, tail: readyS === null ? tail : undefined };
}

/** MB of the process's memory in transparent huge pages (null: unreadable). */
function hugePages(pid: number): number | null {
  try {
    const kb = /AnonHugePages:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`));
    return kb ? Math.round(Number(kb[1]) / 1024) : null;
  } catch {
    return null;
  }
}

function splitLines(): TransformStream<string, string> {
  let buf = "";
  return new TransformStream({
    transform(chunk, c) {
      buf += chunk;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) c.enqueue(l);
    },
    flush(c) {
      if (buf) c.enqueue(buf);
    },
  });
}

const results: Record<string, number[]> = {};
for (let r = 0; r < Number(values.rounds); r++) {
  for (const v of variants) {
    await new Promise((res) => setTimeout(res, Number(values.settle) * 1000));
    const before = loadavg();
    const out = await once(v.tree, v.env);
    console.log(JSON.stringify({ round: r + 1, variant: v.name, ...out, loadavgBefore: before, after: loadavg() }));
    if (out.readyS !== null) (results[v.name] ??= []).push(out.readyS);
  }
}
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
for (const [name, xs] of Object.entries(results)) {
  console.log(
    `${name}: ${median(xs).toFixed(1)} s (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}), n=${xs.length}`,
  );
}
