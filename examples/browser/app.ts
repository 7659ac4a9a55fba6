/**
 * The demo page: load a checkpoint (URL or picked files) and a tokenizer, generate with streamed tokens, profile
 * and chart the component breakdown. The runtime runs in a Web Worker (worker.ts) or, unticked, on the main thread.
 *
 * Test hook (used by tests/browser/browser_e2e_test.ts; also handy for sharing a setup by URL). Query parameters:
 *
 * | parameter   | meaning                                                                                   |
 * | ----------- | ----------------------------------------------------------------------------------------- |
 * | `model`     | checkpoint folder URL (relative to the page) to load at start                             |
 * | `tokenizer` | tokenizer.json URL                                                                        |
 * | `backend`   | `auto` (default), `webgpu` or `wasm`                                                      |
 * | `worker`    | `1` (default): the runtime in a Web Worker; `0`: on the main thread                       |
 * | `threads`   | WASM threads; `fallback=1` lets "auto" take a software WebGPU adapter                     |
 * | `check`     | `logits`: prefill `ids` (comma-separated; default: `input_ids` of `<model>/golden.json`)  |
 * |             | `generate`: greedy `n` tokens (default 8) from `ids`, else from `prompt` (text, or ids    |
 * |             | without a tokenizer)                                                                      |
 * |             | `profile`: the Profile button's run (charts drawn) at lengths `seq` (default "16, 64")    |
 *
 * When a `model` is given, the outcome is published as JSON in `<script type="application/json" id="result">` —
 * `{ ok, error?, backend: { name, description, requested, reason, gpu }, thread, crossOriginIsolated, model,
 * logits?: { rows, vocab, ms, data }, generated?: { promptIds, tokens, text, prefillMs, decodeMsPerToken },
 * profile?: { timing, runs } }` —
 * and then `<html data-result="ok">` (or `"error"`) is set.
 *
 * @module
 */

import { probeWebGpu, type ProfileReport, VERSION } from "../../mod.ts";
import type { BackendChoice, LoadInfo, LoadRequest, ModelInput, TokenizerInput } from "./engine.ts";
import { backendLabel, parseIds } from "./engine.ts";
import { type EngineApi, mainThreadEngine, workerEngine } from "./protocol.ts";
import { breakdownCharts, breakdownTable } from "./chart.ts";

// ---------------------------------------------------------------- DOM helpers

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page is missing #${id}`);
  return el as T;
}

const input = (id: string) => $<HTMLInputElement>(id);

function showError(e: unknown): void {
  const box = $("error");
  const msg = e instanceof Error ? e.message : String(e);
  box.textContent = msg;
  box.hidden = false;
  console.error(e);
}

function clearError(): void {
  $("error").hidden = true;
  $("error").textContent = "";
}

function intField(id: string, min: number, fallback?: number): number | undefined {
  const raw = input(id).value.trim();
  if (raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${id}: expected a whole number ≥ ${min}, got "${raw}"`);
  return n;
}

function numberField(id: string, min: number): number {
  const raw = input(id).value.trim();
  const n = Number(raw === "" ? "0" : raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${id}: expected a number ≥ ${min}, got "${raw}"`);
  return n;
}

// ---------------------------------------------------------------- engine

let engine: EngineApi | null = null;
let info: LoadInfo | null = null;
let running = false;

function engineFor(useWorker: boolean): EngineApi {
  if (engine && engine.thread === (useWorker ? "worker" : "main")) return engine;
  engine?.dispose();
  engine = useWorker ? workerEngine(new URL("./worker.js", import.meta.url)) : mainThreadEngine();
  return engine;
}

function setBusy(busy: boolean): void {
  running = busy;
  $<HTMLButtonElement>("load").disabled = busy;
  $<HTMLButtonElement>("generate").disabled = busy || !info;
  $<HTMLButtonElement>("profile").disabled = busy || !info;
  $<HTMLButtonElement>("stop").disabled = !busy || !info;
}

/** Runs one user action: clears the error box, disables the buttons, shows any error. */
async function action(fn: () => Promise<void>): Promise<void> {
  if (running) return;
  clearError();
  setBusy(true);
  try {
    await fn();
  } catch (e) {
    showError(e);
  } finally {
    setBusy(false);
  }
}

function absolute(url: string): string {
  return new URL(url, location.href).href;
}

/** The load request the form describes. */
function loadRequestFromForm(): { req: LoadRequest; useWorker: boolean } {
  const files = [...(input("model-files").files ?? [])];
  const url = input("model-url").value.trim();
  let model: ModelInput;
  if (files.length > 0) model = { files };
  else if (url !== "") model = { url: absolute(url) };
  else throw new Error("give a checkpoint folder URL or pick the checkpoint's files");
  const tokFile = input("tokenizer-file").files?.[0];
  const tokUrl = input("tokenizer-url").value.trim();
  const tokenizer: TokenizerInput = tokFile ? { file: tokFile } : tokUrl ? { url: absolute(tokUrl) } : null;
  return {
    req: {
      model,
      tokenizer,
      backend: $<HTMLSelectElement>("backend").value as BackendChoice,
      threads: intField("threads", 1),
      allowFallbackAdapter: input("fallback").checked,
    },
    useWorker: input("use-worker").checked,
  };
}

function showLoadInfo(i: LoadInfo): void {
  const badge = $("backend-badge");
  badge.textContent = backendLabel(i.backend.name);
  badge.className = `badge ${i.backend.name}`;
  badge.dataset.backend = i.backend.name;
  $("backend-description").textContent = `${i.backend.description} · ${
    i.thread === "worker" ? "in a Web Worker" : "on the main thread"
  }`;
  $("backend-reason").textContent = i.backend.reason;
  const m = i.model;
  const t = i.timings;
  $("model-info").textContent = `${m.arch}, ${m.nLayer} layers, d_model ${m.dModel}, d_state ${m.dState}, ` +
    `vocab ${m.vocabSize}, ${(m.parameters / 1e6).toFixed(2)} M parameters from ${m.source} · ` +
    (i.tokenizer ? `tokenizer ${i.tokenizer.source} (${i.tokenizer.vocab} tokens)` : "no tokenizer: prompts are ids") +
    ` · read ${t.readMs.toFixed(0)} ms, convert ${t.convertMs.toFixed(0)} ms, upload ${t.uploadMs.toFixed(0)} ms`;
  $("backend-info").hidden = false;
  input("prompt").placeholder = i.tokenizer ? "Prompt text" : "Token ids, e.g. 72, 101, 108";
}

async function load(req: LoadRequest, useWorker: boolean): Promise<LoadInfo> {
  info = null;
  $("backend-info").hidden = true;
  $("load-status").textContent = "loading…";
  const t0 = performance.now();
  try {
    info = await engineFor(useWorker).load(req);
  } finally {
    $("load-status").textContent = "";
  }
  $("load-status").textContent = `loaded in ${((performance.now() - t0) / 1e3).toFixed(2)} s`;
  showLoadInfo(info);
  return info;
}

async function runGenerate(): Promise<void> {
  if (!engine || !info) throw new Error("load a model first");
  const prompt = $<HTMLTextAreaElement>("prompt").value;
  const out = $("output-new");
  out.textContent = "";
  $("output-prompt").textContent = prompt;
  $("generate-status").textContent = "generating…";
  const r = await engine.generate(
    {
      prompt,
      maxNewTokens: intField("max-new", 1, 24)!,
      temperature: numberField("temperature", 0),
      topK: intField("top-k", 0, 0),
    },
    (e) => {
      if (e.type === "token") out.textContent += e.text;
    },
  );
  out.textContent = info.tokenizer ? r.text : ` ${r.text}`;
  const tps = 1000 / r.decodeMsPerToken;
  $("generate-status").textContent = `${r.promptIds.length} prompt tokens in ${r.prefillMs.toFixed(1)} ms · ` +
    `${r.tokens.length} new tokens at ${Number.isFinite(tps) ? tps.toFixed(1) : "–"} tok/s · stop: ${r.stop}`;
}

async function runProfile(): Promise<ProfileReport> {
  if (!engine || !info) throw new Error("load a model first");
  const seqLens = parseIds(input("seq-lens").value);
  if (seqLens.length === 0 || seqLens.some((l) => l < 1)) throw new Error("sequence lengths: give e.g. 16, 64");
  const bar = $<HTMLProgressElement>("profile-progress");
  bar.hidden = false;
  bar.value = 0;
  $("charts").replaceChildren();
  $("profile-table").replaceChildren();
  try {
    const report = await engine.profile(
      { seqLens, iters: intField("iters", 1, 3)!, warmup: intField("warmup", 0, 1)! },
      (e) => {
        if (e.type !== "progress") return;
        bar.max = e.total;
        bar.value = e.done;
        $("profile-status").textContent = `${e.label} (${e.done}/${e.total})`;
      },
    );
    const charts = await breakdownCharts(report);
    $("charts").innerHTML = charts.map((c) => `<figure data-mode="${c.mode}">${c.svg}</figure>`).join("");
    $("profile-table").innerHTML = breakdownTable(report);
    $("profile-status").textContent = `${report.runs.length} runs on ${report.environment.backend}`;
    return report;
  } finally {
    bar.hidden = true;
  }
}

// ---------------------------------------------------------------- page set-up

/** Checkpoints the dev server (serve.ts) offers, with a matching tokenizer; absent on other hosts. */
async function offerModels(): Promise<void> {
  let list: { name: string; url: string; tokenizer: string | null }[];
  try {
    const res = await fetch("models.json");
    if (!res.ok) {
      await res.body?.cancel();
      return;
    }
    list = await res.json();
  } catch {
    return;
  }
  $("model-list").replaceChildren(...list.map((m) => {
    const o = document.createElement("option");
    o.value = m.url;
    o.label = m.name;
    return o;
  }));
  const tokenizerOf = new Map(list.map((m) => [m.url, m.tokenizer]));
  let suggested = "";
  input("model-url").addEventListener("change", () => {
    const tok = tokenizerOf.get(input("model-url").value.trim());
    const field = input("tokenizer-url");
    if (tok !== undefined && (field.value === "" || field.value === suggested)) {
      field.value = suggested = tok ?? "";
    }
  });
  if (!input("model-url").value && list.length > 0) {
    input("model-url").value = list[0].url;
    input("model-url").dispatchEvent(new Event("change"));
  }
}

async function describeEnvironment(): Promise<void> {
  const gpu = await probeWebGpu();
  const webgpu = gpu.adapter
    ? `WebGPU adapter: ${gpu.detail}${gpu.fallback ? " (software fallback)" : ""}`
    : `no WebGPU (${gpu.detail})`;
  const coi = globalThis.crossOriginIsolated
    ? "cross-origin isolated: WASM threads available"
    : "not cross-origin isolated: WASM runs single-threaded";
  $("env").textContent = `${webgpu} · ${coi} · ${navigator.hardwareConcurrency} cores`;
  $("env").dataset.webgpu = gpu.adapter ? (gpu.fallback ? "fallback" : "hardware") : "none";
}

function heartbeat(): void {
  let frames = 0, since = performance.now();
  const tick = (now: number) => {
    frames++;
    if (now - since >= 1000) {
      $("heartbeat").textContent = `main thread: ${Math.round((frames * 1000) / (now - since))} fps`;
      frames = 0;
      since = now;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

// ---------------------------------------------------------------- test hook

function publish(result: Record<string, unknown>): void {
  $("result").textContent = JSON.stringify(result);
  document.documentElement.dataset.result = result.ok ? "ok" : "error";
}

async function goldenIds(modelUrl: string): Promise<number[]> {
  const url = new URL("golden.json", modelUrl.endsWith("/") ? modelUrl : `${modelUrl}/`);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} (give ids=… instead)`);
  return (await res.json()).input_ids;
}

/** Loads `model` from the query and runs `check` (see the module documentation). */
async function runHook(q: URLSearchParams): Promise<void> {
  const model = absolute(q.get("model")!);
  const tok = q.get("tokenizer");
  const backend = (q.get("backend") ?? "auto") as BackendChoice;
  const useWorker = q.get("worker") !== "0";
  // Mirror the query in the form, so the page shows what ran.
  input("model-url").value = q.get("model")!;
  input("tokenizer-url").value = tok ?? "";
  $<HTMLSelectElement>("backend").value = backend;
  input("use-worker").checked = useWorker;
  input("fallback").checked = q.get("fallback") === "1";
  if (q.has("threads")) input("threads").value = q.get("threads")!;
  if (q.has("seq")) input("seq-lens").value = q.get("seq")!;
  const result: Record<string, unknown> = { ok: false, check: q.get("check") };
  try {
    setBusy(true);
    const req: LoadRequest = {
      model: { url: model },
      tokenizer: tok ? { url: absolute(tok) } : null,
      backend,
      threads: intField("threads", 1),
      allowFallbackAdapter: input("fallback").checked,
    };
    const i = await load(req, useWorker);
    Object.assign(result, {
      backend: i.backend,
      thread: i.thread,
      crossOriginIsolated: i.crossOriginIsolated,
      model: i.model,
    });
    const check = q.get("check");
    if (check === "logits") {
      const ids = q.has("ids") ? parseIds(q.get("ids")!) : await goldenIds(model);
      const r = await engine!.logits(ids);
      result.logits = { rows: r.rows, vocab: r.vocab, ms: r.ms, data: Array.from(r.data) };
      $("load-status").textContent += ` · prefill logits ${r.rows}×${r.vocab} in ${r.ms.toFixed(1)} ms`;
    } else if (check === "generate") {
      const n = Number(q.get("n") ?? 8);
      const ids = q.has("ids") ? parseIds(q.get("ids")!) : undefined;
      const r = await engine!.generate({ prompt: q.get("prompt") ?? "", ids, maxNewTokens: n }, () => {});
      result.generated = {
        promptIds: r.promptIds,
        tokens: r.tokens,
        text: r.text,
        prefillMs: r.prefillMs,
        decodeMsPerToken: r.decodeMsPerToken,
      };
      $("output-prompt").textContent = q.get("prompt") ?? "";
      $("output-new").textContent = r.text;
    } else if (check === "profile") {
      const report = await runProfile();
      result.profile = {
        timing: report.environment.timing,
        runs: report.runs.map((r) => ({
          mode: r.mode,
          seqLen: r.seqLen,
          components: r.components.map((c) => ({ name: c.name, ms: c.ms.median })),
        })),
      };
    } else if (check !== null) {
      throw new Error(`check=${check}: expected logits, generate or profile`);
    }
    result.ok = true;
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
    showError(e);
  } finally {
    setBusy(false);
  }
  publish(result);
}

// ---------------------------------------------------------------- wiring

function main(): void {
  $("version").textContent = VERSION;
  heartbeat();
  addEventListener("error", (e) => showError(e.error ?? e.message));
  addEventListener("unhandledrejection", (e) => showError(e.reason));
  input("model-folder-mode").addEventListener("change", (e) => {
    input("model-files").webkitdirectory = (e.target as HTMLInputElement).checked;
  });
  $("load-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void action(async () => {
      const { req, useWorker } = loadRequestFromForm();
      await load(req, useWorker);
    });
  });
  $("generate-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void action(runGenerate);
  });
  $("profile-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void action(async () => void await runProfile());
  });
  $("stop").addEventListener("click", () => engine?.cancel());
  setBusy(false);
  const q = new URLSearchParams(location.search);
  const ready = Promise.all([describeEnvironment().catch(showError), q.has("model") ? null : offerModels()]);
  if (q.has("model")) void ready.then(() => runHook(q));
}

main();
