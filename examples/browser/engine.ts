/**
 * The demo's engine: the PerfMamba runtime behind a small request/response API that runs the same on the page's
 * main thread and in a dedicated Web Worker (worker.ts). It loads a checkpoint (URL or picked files) and a
 * tokenizer, creates the backend and says why it got that one, streams generated tokens, profiles, and runs the
 * prefill of the test hook.
 *
 * Everything here is platform-neutral browser code: no DOM (workers have none), no Deno APIs.
 *
 * @module
 */

import { Tokenizer } from "@huggingface/tokenizers";
import {
  autoBackend,
  type Backend,
  type CheckpointSource,
  generate,
  type GpuProbe,
  loadCheckpoint,
  MambaModel,
  probeWebGpu,
  profileModels,
  type ProfileReport,
  selectBackend,
  toHostWeights,
  urlSource,
} from "../../mod.ts";

/** The backends the page offers. */
export type BackendChoice = "auto" | "webgpu" | "wasm";

/** How the page writes a backend's name ("WebGPU" for "webgpu"); a name it does not know is shown as it is. */
export function backendLabel(name: string): string {
  return ({ webgpu: "WebGPU", wasm: "WASM" } as Record<string, string>)[name] ?? name;
}

/** Where the checkpoint comes from: a folder URL (absolute) or the files of a folder picked by the user. */
export type ModelInput = { url: string } | { files: File[] };

/** Where the tokenizer comes from; null: a `tokenizer.json` among the picked files, else none (prompts are ids). */
export type TokenizerInput = { url: string } | { file: File } | null;

/** What {@link Engine.load} is asked to do. */
export interface LoadRequest {
  model: ModelInput;
  tokenizer: TokenizerInput;
  backend: BackendChoice;
  /** WASM threads including the caller (default: the runtime's, i.e. cores capped at 8). */
  threads?: number;
  /** "auto" may take a software WebGPU adapter (SwiftShader, llvmpipe). */
  allowFallbackAdapter?: boolean;
}

/** What was loaded and on which backend. */
export interface LoadInfo {
  backend: {
    /** What ran: "wasm" or "webgpu". */
    name: string;
    /** The backend's own description (adapter, threads). */
    description: string;
    requested: BackendChoice;
    /** Why this backend: the "auto" decision, or "requested". */
    reason: string;
    /** The WebGPU probe "auto" decides on (adapter present, software fallback, description). */
    gpu: GpuProbe;
  };
  model: {
    source: string;
    files: string[];
    arch: string;
    nLayer: number;
    dModel: number;
    dState: number;
    vocabSize: number;
    parameters: number;
  };
  tokenizer: { source: string; vocab: number } | null;
  /** Milliseconds: reading + parsing the checkpoint, converting to f32, uploading to the backend. */
  timings: { readMs: number; convertMs: number; uploadMs: number };
  /** "worker" or "main". */
  thread: string;
  crossOriginIsolated: boolean;
}

/** What {@link Engine.generate} is asked to do. */
export interface GenerateRequest {
  /** Text (encoded with the tokenizer), or, without a tokenizer, token ids separated by commas or spaces. */
  prompt: string;
  /** Token ids instead of a prompt. */
  ids?: number[];
  maxNewTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

/** One streamed token: its id and the text it adds (empty while a multi-byte character is incomplete). */
export interface TokenEvent {
  type: "token";
  id: number;
  text: string;
}

/** Profile progress. */
export interface ProgressEvent {
  type: "progress";
  done: number;
  total: number;
  label: string;
}

/** Events streamed while a request runs. */
export type EngineEvent = TokenEvent | ProgressEvent;

/** What {@link Engine.generate} returns. */
export interface GenerateResult {
  promptIds: number[];
  tokens: number[];
  /** The decoded continuation, or the ids joined with spaces without a tokenizer. */
  text: string;
  stop: string;
  prefillMs: number;
  decodeMsPerToken: number;
}

/** What {@link Engine.profile} is asked to do. */
export interface ProfileRequest {
  seqLens: number[];
  iters: number;
  warmup: number;
}

/** What {@link Engine.logits} returns: the prefill logits of every position. */
export interface LogitsResult {
  rows: number;
  vocab: number;
  data: Float32Array;
  ms: number;
}

/** A macrotask boundary: lets the page paint (main thread) and cancel messages arrive (worker). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/** File name of a picked file: its base name (a folder pick gives "folder/config.json"). */
function baseName(file: File): string {
  const path = (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name;
  return path.slice(path.lastIndexOf("/") + 1);
}

/** A {@link CheckpointSource} over picked files, read lazily (only the files the checkpoint needs). */
export function fileSource(files: File[]): CheckpointSource {
  const byName = new Map<string, File>();
  for (const f of files) {
    const name = baseName(f);
    if (byName.has(name)) throw new Error(`two picked files are named "${name}": pick one checkpoint folder`);
    byName.set(name, f);
  }
  const first = files[0] as (File & { webkitRelativePath?: string }) | undefined;
  const folder = first?.webkitRelativePath?.includes("/")
    ? first.webkitRelativePath.slice(0, first.webkitRelativePath.lastIndexOf("/"))
    : "";
  const where = `picked files${folder ? ` (${folder}/)` : ""}`;
  const get = (name: string): File => {
    const f = byName.get(name);
    if (!f) throw new Error(`${where}: no file "${name}" (picked: ${[...byName.keys()].join(", ") || "none"})`);
    return f;
  };
  return {
    describe: () => where,
    list: () => Promise.resolve([...byName.keys()]),
    readText: async (name) => await get(name).text(),
    readBytes: async (name) => new Uint8Array(await get(name).arrayBuffer()),
    exists: (name) => Promise.resolve(byName.has(name)),
  };
}

/** Parses "1, 2 3" into ids; throws naming the bad entry. */
export function parseIds(text: string): number[] {
  const parts = text.split(/[\s,]+/).filter((s) => s !== "");
  return parts.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a token id: "${s}" (without a tokenizer, give ids)`);
    return n;
  });
}

async function fetchTokenizerJson(url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`tokenizer ${url}: fetch failed (${(e as Error).message})`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`tokenizer ${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  }
  try {
    return await res.json();
  } catch (e) {
    throw new Error(`tokenizer ${url}: not valid JSON (${(e as Error).message})`);
  }
}

/** The runtime behind the demo (one model on one backend at a time). */
export class Engine {
  #backend: Backend | null = null;
  #model: MambaModel | null = null;
  #tokenizer: Tokenizer | null = null;
  #cancelled = false;
  #busy = false;

  constructor(readonly thread: "main" | "worker") {}

  /** Asks a running generation or profile to stop at its next token or pass. */
  cancel(): void {
    this.#cancelled = true;
  }

  /** Loads a checkpoint and tokenizer onto a new backend (the previous ones are released first). */
  async load(req: LoadRequest): Promise<LoadInfo> {
    return await this.#exclusive(async () => {
      this.#release();
      const t0 = performance.now();
      const source = "url" in req.model ? urlSource(req.model.url) : fileSource(req.model.files);
      const checkpoint = await loadCheckpoint(source);
      const t1 = performance.now();
      const weights = toHostWeights(checkpoint);
      const t2 = performance.now();
      const config = weights.config;

      const tokenizer = await this.#loadTokenizer(req, source);
      if (tokenizer) {
        let maxId = -1;
        for (const id of tokenizer.tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
        if (maxId >= config.vocabSize) {
          throw new Error(
            `tokenizer ${tokenizer.source} has ids up to ${maxId}, but the model's vocabulary has ` +
              `${config.vocabSize} entries: wrong tokenizer for ${source.describe()}?`,
          );
        }
      }

      const gpu = await probeWebGpu();
      const allow = req.allowFallbackAdapter ?? false;
      const auto = autoBackend(gpu, allow); // what selectBackend("auto") decides, without probing again
      const backend = await selectBackend(req.backend === "auto" ? auto.kind : req.backend, {
        threads: req.threads,
        allowFallbackAdapter: allow,
        timestamps: true,
      });
      let model: MambaModel;
      try {
        model = MambaModel.load(weights, backend);
        await model.prepare(); // WebGPU: compile the pipelines in parallel now, not one by one at the first prompt
        await backend.sync();
      } catch (e) {
        backend.dispose();
        throw e;
      }
      const t3 = performance.now();
      this.#backend = backend;
      this.#model = model;
      this.#tokenizer = tokenizer?.tokenizer ?? null;
      let reason = req.backend === "auto" ? auto.reason : `requested ${req.backend}`;
      if (req.backend === "auto" && gpu.fallback && !allow) {
        reason += `; tick "allow a software WebGPU adapter" to use it`;
      }
      if (req.backend === "webgpu" && gpu.fallback) reason += ` (software adapter ${gpu.detail}: slow)`;
      // Kernels that run on the page's own threads (not queued to a device) get more than one only with
      // SharedArrayBuffer, which needs cross-origin isolation.
      const { queued, threads } = backend.capabilities;
      if (!queued && threads === 1 && !globalThis.crossOriginIsolated) {
        const what = `single-threaded ${backendLabel(backend.name)}`;
        reason += `; ${what}: the page is not cross-origin isolated (serve it with COOP/COEP)`;
      }
      return {
        backend: { name: backend.name, description: backend.description, requested: req.backend, reason, gpu },
        model: {
          source: checkpoint.source,
          files: checkpoint.files,
          arch: config.arch,
          nLayer: config.nLayer,
          dModel: config.dModel,
          dState: config.dState,
          vocabSize: config.vocabSize,
          parameters: model.parameterCount,
        },
        tokenizer: tokenizer ? { source: tokenizer.source, vocab: tokenizer.tokenizer.get_vocab(true).size } : null,
        timings: { readMs: t1 - t0, convertMs: t2 - t1, uploadMs: t3 - t2 },
        thread: this.thread,
        crossOriginIsolated: globalThis.crossOriginIsolated === true,
      };
    });
  }

  async #loadTokenizer(
    req: LoadRequest,
    source: CheckpointSource,
  ): Promise<{ tokenizer: Tokenizer; source: string } | null> {
    let json: unknown;
    let where: string;
    if (req.tokenizer && "url" in req.tokenizer) {
      where = req.tokenizer.url;
      json = await fetchTokenizerJson(where);
    } else if (req.tokenizer && "file" in req.tokenizer) {
      where = req.tokenizer.file.name;
      try {
        json = JSON.parse(await req.tokenizer.file.text());
      } catch (e) {
        throw new Error(`tokenizer ${where}: not valid JSON (${(e as Error).message})`);
      }
    } else if ("files" in req.model && (await source.exists("tokenizer.json"))) {
      where = `${source.describe()}: tokenizer.json`;
      try {
        json = JSON.parse(await source.readText("tokenizer.json"));
      } catch (e) {
        throw new Error(`tokenizer ${where}: not valid JSON (${(e as Error).message})`);
      }
    } else {
      return null;
    }
    try {
      return { tokenizer: new Tokenizer(json as Record<string, unknown>, {}), source: where };
    } catch (e) {
      throw new Error(`tokenizer ${where}: not a Hugging Face tokenizer.json (${(e as Error).message})`);
    }
  }

  /** Continues a prompt, streaming each token through `emit`. */
  async generate(req: GenerateRequest, emit: (e: EngineEvent) => void): Promise<GenerateResult> {
    return await this.#exclusive(async () => {
      const model = this.#loaded();
      const tok = this.#tokenizer;
      const promptIds = req.ids ??
        (tok ? tok.encode(req.prompt, { add_special_tokens: false }).ids : parseIds(req.prompt));
      if (promptIds.length === 0) throw new Error("the prompt is empty (it encodes to no tokens)");
      const bad = promptIds.find((t) => t >= model.config.vocabSize);
      if (bad !== undefined) throw new Error(`token id ${bad} ≥ the model's vocabulary (${model.config.vocabSize})`);
      const tokens: number[] = [];
      let shown = "";
      const decoded = () =>
        tok ? tok.decode(tokens, { clean_up_tokenization_spaces: false }) : tokens.map(String).join(" ");
      const r = await generate(model, promptIds, {
        maxNewTokens: req.maxNewTokens,
        temperature: req.temperature,
        topK: req.topK,
        topP: req.topP,
        seed: req.seed,
        onToken: async (id) => {
          tokens.push(id);
          // Decode the whole continuation and send what is new, so multi-token characters arrive whole.
          const text = decoded();
          let delta = "";
          if (!text.endsWith("\uFFFD") && text.startsWith(shown)) {
            delta = text.slice(shown.length);
            shown = text;
          }
          emit({ type: "token", id, text: tok ? delta : (tokens.length > 1 ? " " : "") + id });
          await yieldToEventLoop();
          return !this.#cancelled;
        },
      });
      return {
        promptIds,
        tokens: r.tokens,
        text: decoded(),
        stop: r.stop,
        prefillMs: r.prefillMs,
        decodeMsPerToken: r.decodeMsPerToken,
      };
    });
  }

  /** A small component profile (prefill and decode) of the loaded model. */
  async profile(req: ProfileRequest, emit: (e: EngineEvent) => void): Promise<ProfileReport> {
    return await this.#exclusive(async () => {
      const model = this.#loaded();
      const name = model.config.arch;
      return await profileModels([{ model, name }], {
        seqLens: req.seqLens,
        iters: req.iters,
        warmup: req.warmup,
        peaks: null,
        onProgress: (p) => {
          if (this.#cancelled) throw new Error("profile cancelled");
          emit({ type: "progress", done: p.done, total: p.total, label: p.label });
        },
      });
    });
  }

  /** The prefill logits of every position of `ids` (the test hook compares them with golden files). */
  async logits(ids: number[]): Promise<LogitsResult> {
    return await this.#exclusive(async () => {
      const model = this.#loaded();
      const t0 = performance.now();
      const { logits, state } = await model.prefill(ids);
      state.dispose();
      return { rows: logits.rows, vocab: logits.vocab, data: logits.data, ms: performance.now() - t0 };
    });
  }

  /** Releases the model and backend. */
  dispose(): void {
    this.#release();
  }

  #release(): void {
    this.#model?.dispose();
    this.#backend?.dispose();
    this.#model = null;
    this.#backend = null;
    this.#tokenizer = null;
  }

  #loaded(): MambaModel {
    if (!this.#model) throw new Error("no model loaded: load a checkpoint first");
    return this.#model;
  }

  /** One request at a time: the backend and its state are not re-entrant. */
  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#busy) throw new Error("busy: wait for the running request to finish (or stop it)");
    this.#busy = true;
    this.#cancelled = false;
    try {
      return await fn();
    } finally {
      this.#busy = false;
    }
  }
}
