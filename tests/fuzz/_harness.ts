/**
 * Runs one fuzz case through the real entry points — `loadCheckpoint(memorySource | urlSource)` → `toHostWeights`
 * (or `parseGguf` → `ggufCheckpoint` for a model.gguf) → `MambaModel.load` (WASM, 1 thread) → `prefill` — and returns the properties it broke.
 *
 * Properties: a correct load (finite weights and logits of the right shape) or an `Error` with a non-empty message
 * naming one of the case's names; refused when the case must be; no internal error (TypeError, stack overflow, a
 * failed allocation); no request outside the checkpoint's base URL (query and fragment included); allocations tied
 * to the input size (the backend's peak bytes and the host weights' bytes); no device memory left behind; within
 * the time budget.
 */
import {
  type Backend,
  type Checkpoint,
  type CheckpointSource,
  ggufCheckpoint,
  loadCheckpoint,
  MambaModel,
  type MambaWeights,
  memorySource,
  parseGguf,
  toHostWeights,
  urlSource,
} from "../../mod.ts";
import { loadTokenizer } from "../../cli/tokenizer.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { CONFIG, type FuzzCase, GGUF, SECRET } from "./_cases.ts";

/** The checkpoint's URL in url cases. */
export const BASE_URL = "https://models.example/org/ckpt/";
/** A case slower than this (ms) is a violation; the watchdog kills a case after {@link HANG_MS}. */
export const CASE_BUDGET_MS = 5000;
/** No sign of life for this long (ms): the case hangs. */
export const HANG_MS = 20000;
/** Backend peak bytes allowed per input byte, plus {@link PEAK_SLACK}. */
export const PEAK_PER_INPUT_BYTE = 8;
export const PEAK_SLACK = 1 << 20;

/** What one case did. */
export interface CaseResult {
  outcome: "loaded" | "refused";
  message?: string;
  violations: string[];
  ms: number;
  /** The backend's peak bytes over the case, and the case's input bytes (for the run's summary). */
  peakBytes: number;
  inputBytes: number;
}

function bodyOf(v: Uint8Array | string): Uint8Array<ArrayBuffer> {
  return typeof v === "string" ? new TextEncoder().encode(v) : new Uint8Array(v);
}

/** A fake server for `files` that records every URL and flags those outside {@link BASE_URL}. */
function fakeServer(c: FuzzCase, violations: string[]): { source: CheckpointSource; requested: string[] } {
  const base = new URL(BASE_URL);
  const requested: string[] = [];
  const fetchFn: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input);
    requested.push(`${init?.method ?? "GET"} ${url.href}`);
    const inside = url.origin === base.origin && url.pathname.startsWith(base.pathname) && url.search === "" &&
      url.hash === "" && url.username === "" && url.password === "";
    if (!inside) violations.push(`request outside ${BASE_URL}: ${init?.method ?? "GET"} ${url.href} [needs (a)]`);
    // An evil server: answers by the last path segment wherever it is asked, so an escape would load.
    let rel: string;
    try {
      rel = decodeURIComponent(inside ? url.pathname.slice(base.pathname.length) : url.pathname.split("/").pop()!);
    } catch {
      rel = "";
    }
    const body = Object.hasOwn(c.files, rel) ? c.files[rel] : undefined;
    if (body === undefined) return Promise.resolve(new Response(null, { status: 404, statusText: "Not Found" }));
    const isWeights = rel.endsWith(".safetensors") || rel.endsWith(".bin");
    if (init?.method !== "HEAD" && isWeights) {
      if (c.server === "get500") return Promise.resolve(new Response("oops", { status: 500, statusText: "Boom" }));
      if (c.server === "throws") return Promise.reject(new TypeError("connection reset"));
      if (c.server === "truncated-body") {
        const b = bodyOf(body);
        return Promise.resolve(new Response(b.slice(0, b.length >> 1)));
      }
    }
    return Promise.resolve(new Response(init?.method === "HEAD" ? null : bodyOf(body)));
  };
  return { source: urlSource(BASE_URL, fetchFn), requested };
}

/** Messages of errors that escaped from inside (not a refusal the loader meant): flagged even when wrapped. */
const INTERNAL = [
  /Maximum call stack/i,
  /Array buffer allocation failed/i,
  /Invalid typed array length/i,
  /Invalid array length/i,
  /out of memory/i,
  /Offset is outside the bounds/i,
  /start offset of .* should be a multiple/i,
  /WebAssembly/i,
];

function inputBytes(c: FuzzCase): number {
  let n = 0;
  for (const v of Object.values(c.files)) n += typeof v === "string" ? v.length * 3 : v.byteLength;
  return n;
}

/** First non-finite host weight, as "tensor[i] = v", or null. */
function nonFinite(w: MambaWeights): string | null {
  const check = (label: string, data: Float32Array | undefined | null): string | null => {
    if (!data) return null;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return `${label}[${i}] = ${data[i]}`;
    return null;
  };
  const found = check("embedding", w.embedding.data) ?? check("norm_f", w.normF.data) ??
    check("lm_head", w.lmHead?.data);
  if (found) return found;
  for (const [i, layer] of w.layers.entries()) {
    for (const [k, v] of Object.entries(layer)) {
      if (v && typeof v === "object" && "data" in v) {
        const r = check(`layers.${i}.${k}`, (v as { data: Float32Array }).data);
        if (r) return r;
      }
    }
  }
  return null;
}

function hostBytes(w: MambaWeights): number {
  let n = w.embedding.data.byteLength + w.normF.data.byteLength + (w.lmHead?.data.byteLength ?? 0);
  for (const layer of w.layers) {
    for (const v of Object.values(layer)) {
      if (v && typeof v === "object" && "data" in v) n += (v as { data: Float32Array }).data.byteLength;
    }
  }
  return n;
}

/** A FIFO left unread is opened read-write and written after this long (ms), which ends a blocked read. */
const FIFO_UNBLOCK_MS = 1500;
let tmpRoot: string | null = null;

/** The case's folder under a temp root, with its twist; `done` undoes what `source` may still be blocked on. */
async function folder(c: FuzzCase, violations: string[]): Promise<{ source: CheckpointSource; done: () => void }> {
  tmpRoot ??= await Deno.makeTempDir({ prefix: "perfmamba-fuzz-" });
  const root = tmpRoot;
  for await (const e of Deno.readDir(root)) await Deno.remove(`${root}/${e.name}`, { recursive: true });
  const dir = `${root}/ckpt`;
  await Deno.mkdir(dir);
  for (const [name, v] of Object.entries(c.files)) await Deno.writeFile(`${dir}/${name}`, bodyOf(v));
  const tw = c.twist!;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let unblocked = false;
  if (tw.op === "symlink-out" || tw.op === "symlink-in") {
    const outside = tw.op === "symlink-out" ? `${root}/outside-${tw.file}` : `${dir}/real-${tw.file}`;
    const body = tw.file === CONFIG
      ? `${(c.files[CONFIG] as string).trimEnd().slice(0, -1)}, "comment": "${SECRET}"}`
      : bodyOf(c.files[tw.file]);
    await Deno.writeFile(outside, bodyOf(body));
    await Deno.remove(`${dir}/${tw.file}`);
    await Deno.symlink(
      tw.op === "symlink-out" && c.ids.length % 2 === 0 ? outside : outside.replace(`${root}/`, "../"),
      `${dir}/${tw.file}`,
    );
  } else if (tw.op === "folder") {
    await Deno.remove(`${dir}/${tw.file}`);
    await Deno.mkdir(`${dir}/${tw.file}`);
  } else if (tw.op === "fifo") {
    const path = `${dir}/${tw.file}`;
    await Deno.remove(path);
    const r = await new Deno.Command("mkfifo", { args: [path] }).output();
    if (!r.success) throw new Error(`mkfifo ${path} failed`);
    timer = setTimeout(async () => {
      unblocked = true;
      const f = await Deno.open(path, { read: true, write: true }); // O_RDWR: never blocks on Linux
      await f.write(new TextEncoder().encode("not a checkpoint"));
      f.close();
    }, FIFO_UNBLOCK_MS);
  } else if (tw.op === "outside-shard") {
    await Deno.rename(`${dir}/${tw.shard}`, `${root}/outside.safetensors`);
    const index = (c.files["model.safetensors.index.json"] as string).replaceAll(
      "ABSOLUTE",
      `${root}/outside.safetensors`,
    );
    await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, index);
  } else if (tw.op === "symlinked-subfolder") {
    await Deno.mkdir(`${root}/elsewhere`);
    await Deno.rename(`${dir}/${tw.shard}`, `${root}/elsewhere/${tw.shard}`);
    await Deno.symlink(`${root}/elsewhere`, `${dir}/sub`);
  }
  return {
    source: dirSource(dir),
    done: () => {
      clearTimeout(timer);
      if (unblocked) {
        violations.push(
          `blocked reading the FIFO ${tw.op === "fifo" ? tw.file : ""} until the fuzzer wrote to it [needs (a)]`,
        );
      }
    },
  };
}

/** Where a temp tokenizer file is written (its path must appear in tokenizer errors). */
let tokenizerPath: string | null = null;

/** Runs one case on `backend` (WASM, 1 thread, shared by all cases). */
export async function runCase(c: FuzzCase, backend: Backend): Promise<CaseResult> {
  const violations: string[] = [];
  const t0 = performance.now();
  let model: MambaModel | null = null;
  let outcome: "loaded" | "refused" = "loaded";
  let message: string | undefined;
  const input = inputBytes(c);
  const liveBefore = backend.memory().liveBytes;
  backend.resetPeak();
  let tokenizerStage = false;
  let done = () => {};
  try {
    let ckpt: Checkpoint;
    if (c.via === "gguf") {
      ckpt = ggufCheckpoint(parseGguf(c.files[GGUF] as Uint8Array, GGUF));
    } else {
      let source: CheckpointSource;
      if (c.via === "dir") ({ source, done } = await folder(c, violations));
      else source = c.via === "url" ? fakeServer(c, violations).source : memorySource(c.files);
      ckpt = await loadCheckpoint(source);
    }
    const weights = toHostWeights(ckpt);
    const bad = nonFinite(weights);
    if (bad) violations.push(`toHostWeights accepted a non-finite weight: ${bad} [needs (b) NaN]`);
    const hb = hostBytes(weights);
    const expansion = c.expansion ?? 2;
    if (hb > expansion * input + 4096) {
      violations.push(`host weights hold ${hb} bytes for ${input} input bytes (> ${expansion}×)`);
    }
    model = MambaModel.load(weights, backend);
    let ids: number[] = c.ids;
    if (c.tokenizer) {
      tokenizerStage = true;
      tokenizerPath ??= await Deno.makeTempFile({ prefix: "perfmamba-fuzz-", suffix: "-tokenizer.json" });
      await Deno.writeFile(tokenizerPath, c.tokenizer.bytes);
      const tok = await loadTokenizer(tokenizerPath);
      ids = [];
      for (const text of c.tokenizer.texts) ids.push(...tok.encode(text, { add_special_tokens: false }).ids);
      if (ids.length === 0) ids = [0];
    }
    const { logits, state } = await model.prefill(ids);
    state.dispose();
    if (logits.rows !== ids.length || logits.vocab !== model.config.vocabSize) {
      violations.push(`logits ${logits.rows}×${logits.vocab}, expected ${ids.length}×${model.config.vocabSize}`);
    }
    const i = logits.data.findIndex((v) => !Number.isFinite(v));
    if (i >= 0) violations.push(`loaded, but logit ${i} is ${logits.data[i]}`);
    if (c.expect === "error") violations.push(`loaded and ran, but must be refused`);
    else if (c.server && c.server !== "ok") violations.push(`loaded although the server answered ${c.server}`);
  } catch (e) {
    outcome = "refused";
    if (!(e instanceof Error)) {
      violations.push(`threw a non-Error: ${String(e)}`);
    } else {
      message = e.message;
      if (message.trim() === "") violations.push(`${e.name} with an empty message`);
      if (message.length > 2000) violations.push(`message of ${message.length} chars (echoes input?)`);
      if (e instanceof TypeError || e instanceof SyntaxError) {
        violations.push(`internal TypeError: ${message.slice(0, 300)}`);
      } else if (INTERNAL.some((r) => r.test(message!))) violations.push(`internal error: ${message.slice(0, 300)}`);
      const names = c.tokenizer && tokenizerStage ? [tokenizerPath!, "token id"] : c.names;
      const where = c.via === "url" ? [...names, BASE_URL] : names;
      if (c.server && c.server !== "ok") where.push(BASE_URL);
      if (names.length > 0 && !where.some((n) => message!.includes(n))) {
        violations.push(`message names none of ${JSON.stringify(where)}: ${JSON.stringify(message.slice(0, 300))}`);
      }
    }
  } finally {
    model?.dispose();
    done();
  }
  if (message?.includes(SECRET.slice(0, 6))) {
    violations.push(`the message echoes file content: ${message.slice(0, 200)} [needs (a)]`);
  }
  const ms = performance.now() - t0;
  const mem = backend.memory();
  if (mem.peakBytes > PEAK_PER_INPUT_BYTE * input + PEAK_SLACK) {
    violations.push(`backend peak ${mem.peakBytes} bytes for ${input} input bytes`);
  }
  if (mem.liveBytes !== liveBefore) violations.push(`backend holds ${mem.liveBytes - liveBefore} bytes after dispose`);
  if (ms > CASE_BUDGET_MS) violations.push(`took ${ms.toFixed(0)} ms (budget ${CASE_BUDGET_MS} ms)`);
  return { outcome, message, violations, ms, peakBytes: mem.peakBytes, inputBytes: input };
}

/** Removes the temp tokenizer file and folders, if any were written. */
export function cleanup(): void {
  if (tokenizerPath) Deno.removeSync(tokenizerPath);
  if (tmpRoot) Deno.removeSync(tmpRoot, { recursive: true });
  tokenizerPath = tmpRoot = null;
}
