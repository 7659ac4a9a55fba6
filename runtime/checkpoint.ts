/**
 * Loading Mamba checkpoints from anywhere (platform-neutral).
 *
 * A {@link CheckpointSource} reads the files of one checkpoint directory: {@link urlSource} over `fetch`,
 * {@link memorySource} from bytes in memory, and `dirSource` (cli/fs_source.ts) from a local folder under Deno.
 *
 * {@link loadCheckpoint} reads `config.json` and the weights (one `model.safetensors`, or shards listed by
 * `model.safetensors.index.json`; failing those, `pytorch_model.bin` or the shards of `pytorch_model.bin.index.json`,
 * read without executing anything by runtime/pytorch.ts), normalising tensor names to Hugging Face's; {@link toHostWeights}
 * converts them to float32 and builds the typed per-layer records of `weights.ts`, checking every shape against
 * the config; {@link loadWeights} does both.
 *
 * @module
 */

import type { MambaConfig } from "./config.ts";
import { layerBridgeSize, layerStateSize } from "./config.ts";
import { parseConfig, parseConfigText } from "./config_parse.ts";
import { parseTorchCheckpoint } from "./pytorch.ts";
import { FLOAT_DTYPES, parseSafetensors, type SafetensorRecord, toFloat32 } from "./safetensors.ts";
import type {
  HostMatrix,
  HostTensor,
  LayerWeights,
  Mamba1LayerWeights,
  Mamba2LayerWeights,
  MambaWeights,
} from "./weights.ts";
import { joinBlocks, parseQuantizationConfig, type QuantizationConfig } from "./quant_layout.ts";
import { dequantizeWeights } from "./quantize.ts";
import { halfParamWeights } from "./half_params.ts";

/**
 * Read access to the files of one checkpoint directory (names are relative, e.g. "config.json").
 *
 * Implement it to load from anywhere else: IndexedDB, the Cache API, an archive, a blob store.
 *
 * @example
 * ```ts
 * import { type CheckpointSource, checkpointFiles, loadWeights, makeConfig, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * // A source over a Map (think: files the user dropped on a page, or entries of an archive).
 * function mapSource(files: Map<string, Uint8Array>): CheckpointSource {
 *   const bytes = (name: string): Uint8Array => {
 *     const data = files.get(name);
 *     if (!data) throw new Error(`map checkpoint: no file "${name}"`);
 *     return data;
 *   };
 *   return {
 *     describe: () => "map checkpoint",
 *     list: () => Promise.resolve([...files.keys()]),
 *     readBytes: (name) => Promise.resolve().then(() => bytes(name)),
 *     readText: (name) => Promise.resolve().then(() => new TextDecoder().decode(bytes(name))),
 *     exists: (name) => Promise.resolve(files.has(name)),
 *   };
 * }
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const written = checkpointFiles(syntheticWeights(config, 3));
 * const files = new Map([
 *   ["config.json", new TextEncoder().encode(written["config.json"])],
 *   ["model.safetensors", written["model.safetensors"]],
 * ]);
 * const weights = await loadWeights(mapSource(files));
 * console.log(weights.config.arch, weights.layers.length); // mamba2 2
 * ```
 */
export interface CheckpointSource {
  /** Where the checkpoint lives (a path or URL), for messages. */
  describe(): string;
  /** File names, when the source can list them. */
  list?(): Promise<string[]>;
  /** A file as UTF-8 text; rejects with a message naming the file when it cannot be read. */
  readText(name: string): Promise<string>;
  /** A file's bytes; rejects with a message naming the file when it cannot be read. */
  readBytes(name: string): Promise<Uint8Array>;
  /** Whether the file exists. */
  exists(name: string): Promise<boolean>;
}

/**
 * A loaded (not yet converted) checkpoint: the parsed config and lazy tensor records.
 *
 * @example
 * ```ts
 * import { type Checkpoint, checkpointFiles, loadCheckpoint, makeConfig, memorySource, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const ckpt: Checkpoint = await loadCheckpoint(memorySource({ ...checkpointFiles(syntheticWeights(config)) }));
 * console.log(ckpt.source, ckpt.files); // memory checkpoint [ "config.json", "model.safetensors" ]
 * const embedding = ckpt.tensors.get("backbone.embeddings.weight")!;
 * console.log(embedding.dtype, embedding.shape); // F32 [ 64, 32 ]
 * // Bytes on disk before conversion: a quick size check before converting to f32.
 * const bytes = [...ckpt.tensors.values()].reduce((n, t) => n + t.bytes.byteLength, 0);
 * console.log(bytes > 0); // true
 * ```
 */
export interface Checkpoint {
  /** Normalised configuration. */
  config: MambaConfig;
  /** Tensors by Hugging Face name (state-spaces names and a leading `model.` normalised away). */
  tensors: Map<string, SafetensorRecord>;
  /** Files read, relative to the source: config.json, then the index (if any) and weight files. */
  files: string[];
  /** The source's description (path or URL). */
  source: string;
  /**
   * config.json's `quantization_config` (a quantized checkpoint: matrices as codes + `_scale`, QUANTIZATION.md),
   * or null / absent for a float checkpoint. A GGUF file's Q8_0 / Q4_0 matrices arrive in the same layout.
   */
  quantization?: QuantizationConfig | null;
}

/** Whether `s` holds a control character (U+0000–U+001F, U+007F). */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Why `name` is not a plain relative file name inside a checkpoint, or null when it is one. */
function fileNameProblem(name: string): string | null {
  if (name === "") return "empty";
  if (hasControl(name)) return "a control character";
  if (name.includes("\\")) return "a backslash";
  if (name.includes("?") || name.includes("#")) return "a query or fragment ('?' or '#')";
  let decoded: string;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    return "malformed percent-encoding";
  }
  if (hasControl(decoded)) return "a percent-encoded control character";
  if (/[\\?#%]/.test(decoded)) return "a percent-encoded '\\', '?', '#' or '%'";
  if (decoded.includes(":")) return "a scheme or drive (':')";
  if (decoded.startsWith("/")) return "an absolute path (leading '/')";
  for (const segment of decoded.split("/")) {
    if (segment === "") return "an empty path segment";
    if (segment === "." || segment === "..") return `a "${segment}" segment`;
  }
  return null;
}

/**
 * Checks that `name` is a plain relative file name inside a checkpoint directory, as every
 * {@link CheckpointSource} of this package requires of the names it is asked for (shard names come from
 * `model.safetensors.index.json`, which may be hostile).
 *
 * After percent-decoding, the name must be one or more `/`-separated segments, none empty, `.` or `..`; with no
 * backslash, no `:` (a scheme or drive), no leading `/`, no `?` / `#`, no `%` left and no control character.
 * Subfolders are allowed (`sub/model-00001-of-00002.safetensors`); Hugging Face shard names are flat.
 *
 * @param name a file name relative to the checkpoint, e.g. `model-00001-of-00002.safetensors`
 * @returns the name's decoded path segments
 * @throws Error naming the file name (JSON-quoted) and what is wrong with it
 *
 * @example
 * ```ts
 * import { checkpointFileSegments } from "@perfmamba/perfmamba";
 *
 * console.log(checkpointFileSegments("model-00001-of-00002.safetensors")); // [ "model-00001-of-00002.safetensors" ]
 * for (const hostile of ["../x", "%2e%2e/x", "https://evil/x", "/etc/passwd"]) {
 *   try {
 *     checkpointFileSegments(hostile);
 *   } catch (e) {
 *     console.log((e as Error).message); // file name "../x" is not a plain relative file name … (a ".." segment)
 *   }
 * }
 * ```
 */
export function checkpointFileSegments(name: string): string[] {
  const problem = fileNameProblem(name);
  if (problem !== null) {
    throw new Error(
      `file name ${JSON.stringify(name)} is not a plain relative file name inside the checkpoint (${problem})`,
    );
  }
  return decodeURIComponent(name).split("/");
}

/** Join a source description and a file name for messages. */
function joinName(base: string, name: string): string {
  return base.endsWith("/") ? `${base}${name}` : `${base}/${name}`;
}

/**
 * A checkpoint served over HTTP(S): file `name` is fetched from `baseUrl/name`.
 *
 * `exists` sends a HEAD request (404 and 410 → false); `readBytes` / `readText` reject naming the URL and the HTTP
 * status on failure.
 *
 * For the Hugging Face hub use the `resolve` URL of a revision, e.g.
 * `urlSource("https://huggingface.co/state-spaces/mamba-130m-hf/resolve/main/")`.
 *
 * @param baseUrl the checkpoint directory's URL (a trailing slash is added when missing)
 * @param fetchFn the fetch implementation (e.g. one that adds auth headers)
 * @returns a source for {@link loadCheckpoint} / {@link loadWeights}
 *
 * @example
 * ```ts
 * import { checkpointFiles, loadWeights, makeConfig, syntheticWeights, urlSource } from "@perfmamba/perfmamba";
 *
 * // A stand-in for a web server (or pass `(url, init) => fetch(url, { ...init, headers: { authorization } })`).
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const files = checkpointFiles(syntheticWeights(config));
 * const served: Record<string, BodyInit> = {
 *   "config.json": files["config.json"],
 *   "model.safetensors": files["model.safetensors"].slice(), // an ArrayBuffer-backed copy, as BodyInit wants
 * };
 * const requested: string[] = [];
 * const fakeFetch: typeof fetch = (input, init) => {
 *   const url = new URL(input instanceof Request ? input.url : input);
 *   requested.push(`${init?.method ?? "GET"} ${url.pathname}`);
 *   const body = served[url.pathname.split("/").pop()!];
 *   if (body === undefined) return Promise.resolve(new Response(null, { status: 404, statusText: "Not Found" }));
 *   return Promise.resolve(new Response(init?.method === "HEAD" ? null : body));
 * };
 *
 * const source = urlSource("https://models.example/tiny-mamba2", fakeFetch);
 * console.log(source.describe()); // https://models.example/tiny-mamba2/
 * const weights = await loadWeights(source);
 * console.log(weights.layers.length, requested[0]); // 2 HEAD /tiny-mamba2/config.json
 * ```
 */
export function urlSource(baseUrl: string | URL, fetchFn: typeof fetch = fetch): CheckpointSource {
  const base = new URL(baseUrl);
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const dir = new URL("./", base).href; // the base without query or fragment: every request must start with it
  const urlOf = (name: string): URL => {
    let segments: string[];
    try {
      segments = checkpointFileSegments(name);
    } catch (e) {
      throw new Error(`${base.href}: ${(e as Error).message}`);
    }
    const url = new URL(segments.map(encodeURIComponent).join("/"), dir);
    if (!url.href.startsWith(dir) || url.search !== "" || url.hash !== "") {
      throw new Error(
        `${base.href}: file name ${JSON.stringify(name)} resolves to ${url.href}, outside the checkpoint`,
      );
    }
    return url;
  };
  const request = async (name: string, method: "GET" | "HEAD"): Promise<Response> => {
    const url = urlOf(name);
    try {
      return await fetchFn(url, { method });
    } catch (e) {
      throw new Error(`${url}: fetch failed (${(e as Error).message})`);
    }
  };
  const failure = async (name: string, res: Response): Promise<Error> => {
    await res.body?.cancel();
    return new Error(`${urlOf(name)}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  };
  const get = async (name: string): Promise<Response> => {
    const res = await request(name, "GET");
    if (!res.ok) throw await failure(name, res);
    return res;
  };
  return {
    describe: () => base.href,
    async readText(name: string): Promise<string> {
      return await (await get(name)).text();
    },
    async readBytes(name: string): Promise<Uint8Array> {
      return new Uint8Array(await (await get(name)).arrayBuffer());
    },
    async exists(name: string): Promise<boolean> {
      const res = await request(name, "HEAD");
      if (res.ok) {
        await res.body?.cancel();
        return true;
      }
      if (res.status === 404 || res.status === 410) {
        await res.body?.cancel();
        return false;
      }
      throw await failure(name, res);
    },
  };
}

/**
 * A checkpoint held in memory (tests, browsers with files picked by the user, pruning round trips).
 *
 * @param files contents by file name; strings are UTF-8 encoded
 * @returns a source for {@link loadCheckpoint} / {@link loadWeights}
 *
 * @example
 * ```ts
 * import { checkpointFiles, loadWeights, makeConfig, memorySource, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const original = syntheticWeights(config, 9);
 * const source = memorySource({ ...checkpointFiles(original) }); // { "config.json": text, "model.safetensors": bytes }
 * console.log(await source.list!()); // [ "config.json", "model.safetensors" ]
 * console.log(await source.exists("model.safetensors.index.json")); // false
 * const loaded = await loadWeights(source);
 * if (loaded.embedding.data.some((v, i) => v !== original.embedding.data[i])) throw new Error("round trip changed");
 * ```
 */
export function memorySource(files: Record<string, Uint8Array | ArrayBuffer | string>): CheckpointSource {
  const bytesOf = (name: string): Uint8Array => {
    checkName(name);
    if (!Object.hasOwn(files, name)) throw new Error(`memory checkpoint: no file "${name}"`);
    const v = files[name];
    if (typeof v === "string") return new TextEncoder().encode(v);
    return v instanceof Uint8Array ? v : new Uint8Array(v);
  };
  return {
    describe: () => "memory checkpoint",
    list: () => Promise.resolve(Object.keys(files)),
    readText: (name) => Promise.resolve().then(() => new TextDecoder().decode(bytesOf(name))),
    readBytes: (name) => Promise.resolve().then(() => bytesOf(name)),
    exists: (name) => Promise.resolve().then(() => checkName(name) && Object.hasOwn(files, name)),
  };
}

/** Throws (naming the source) unless `name` passes {@link checkpointFileSegments}; returns true. */
function checkName(name: string, where = "memory checkpoint"): true {
  try {
    checkpointFileSegments(name);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  return true;
}

const CONFIG = "config.json";
const SINGLE = "model.safetensors";
const INDEX = "model.safetensors.index.json";
const TORCH_SINGLE = "pytorch_model.bin";
const TORCH_INDEX = "pytorch_model.bin.index.json";

/** The Hugging Face name of a checkpoint tensor name. */
function normaliseName(name: string): string {
  const n = name.startsWith("model.") ? name.slice("model.".length) : name;
  return n === "backbone.embedding.weight" ? "backbone.embeddings.weight" : n;
}

/**
 * Reads a checkpoint's config and weights (tensors stay lazy: views of the files' bytes).
 *
 * Takes a single `model.safetensors`, or the shards listed by `model.safetensors.index.json`; failing those, a
 * `pytorch_model.bin` or the shards of `pytorch_model.bin.index.json` (see `parseTorchCheckpoint`: an allowlisting
 * reader that executes nothing). State-spaces tensor names are renamed to Hugging Face's.
 *
 * @example
 * ```ts
 * import { loadCheckpoint, memorySource, toHostWeights, writeSafetensors } from "@perfmamba/perfmamba";
 *
 * // A one-layer Mamba-1 with state-spaces names, stored as two shards listed by an index.
 * const f = (shape: number[], v = 0.01) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b)).fill(v) });
 * const [d, D, N, R, K, V] = [16, 32, 4, 1, 4, 32];
 * const p = "backbone.layers.0.mixer.";
 * const shard1 = { "backbone.embedding.weight": f([V, d]), "backbone.layers.0.norm.weight": f([d], 1) };
 * const shard2 = {
 *   [`${p}in_proj.weight`]: f([2 * D, d]),
 *   [`${p}conv1d.weight`]: f([D, 1, K]),
 *   [`${p}conv1d.bias`]: f([D]),
 *   [`${p}x_proj.weight`]: f([R + 2 * N, D]),
 *   [`${p}dt_proj.weight`]: f([D, R]),
 *   [`${p}dt_proj.bias`]: f([D]),
 *   [`${p}A_log`]: f([D, N]),
 *   [`${p}D`]: f([D], 1),
 *   [`${p}out_proj.weight`]: f([d, D]),
 *   "backbone.norm_f.weight": f([d], 1),
 * };
 * const write = (tensors: Record<string, { shape: number[]; data: Float32Array }>) =>
 *   writeSafetensors(Object.entries(tensors).map(([name, t]) => ({ name, ...t })));
 * const weightMap = Object.fromEntries([
 *   ...Object.keys(shard1).map((n) => [n, "model-00001-of-00002.safetensors"]),
 *   ...Object.keys(shard2).map((n) => [n, "model-00002-of-00002.safetensors"]),
 * ]);
 * const source = memorySource({
 *   "config.json": JSON.stringify({ d_model: d, n_layer: 1, vocab_size: V, ssm_cfg: { d_state: N } }),
 *   "model.safetensors.index.json": JSON.stringify({ weight_map: weightMap }),
 *   "model-00001-of-00002.safetensors": write(shard1),
 *   "model-00002-of-00002.safetensors": write(shard2),
 * });
 *
 * const ckpt = await loadCheckpoint(source);
 * console.log(ckpt.config.source, ckpt.files.length); // state-spaces 4
 * console.log(ckpt.tensors.has("backbone.embeddings.weight")); // true (renamed from backbone.embedding.weight)
 * console.log(toHostWeights(ckpt).layers[0].arch); // mamba1
 * ```
 *
 * @throws Error naming the file at fault: no config.json, an invalid config, no weights, a pytorch_model.bin
 *   refused by the allowlisting reader, an invalid index or shard, a tensor listed in the index but missing from its shard, or
 *   two tensors with the same (normalised) name.
 */
export async function loadCheckpoint(source: CheckpointSource): Promise<Checkpoint> {
  const where = source.describe();
  if (!(await source.exists(CONFIG))) throw new Error(`${joinName(where, CONFIG)}: not found`);
  const configFile = joinName(where, CONFIG);
  const configJson = parseConfigText(await source.readText(CONFIG), configFile);
  const config = parseConfig(configJson, configFile);
  const quantization = parseQuantizationConfig(configJson as Record<string, unknown>, configFile);
  const files = [CONFIG];
  const tensors = new Map<string, SafetensorRecord>();
  const add = (record: SafetensorRecord): void => {
    const key = normaliseName(record.name);
    const prev = tensors.get(key);
    if (prev) {
      throw new Error(
        `${record.file}: tensor "${record.name}" duplicates "${prev.name}" of ${prev.file} (both are "${key}")`,
      );
    }
    tensors.set(key, record);
  };
  let torch = false;
  const readShard = async (name: string): Promise<Map<string, SafetensorRecord>> => {
    files.push(name);
    const bytes = await source.readBytes(name);
    return torch
      ? parseTorchCheckpoint(bytes, joinName(where, name))
      : parseSafetensors(bytes, joinName(where, name)).tensors;
  };

  let single = SINGLE;
  let index = INDEX;
  if (!(await source.exists(SINGLE)) && !(await source.exists(INDEX))) {
    torch = true;
    [single, index] = [TORCH_SINGLE, TORCH_INDEX];
  }
  if (await source.exists(single)) {
    for (const record of (await readShard(single)).values()) add(record);
  } else if (await source.exists(index)) {
    files.push(index);
    const indexFile = joinName(where, index);
    const weightMap = parseIndex(parseConfigText(await source.readText(index), indexFile), indexFile);
    const byShard = new Map<string, string[]>();
    for (const [tensor, shard] of weightMap) byShard.set(shard, [...(byShard.get(shard) ?? []), tensor]);
    for (const [shard, listed] of byShard) {
      if (!(await source.exists(shard))) {
        const more = listed.length > 1 ? ` (and ${listed.length - 1} more tensors)` : "";
        throw new Error(
          `${indexFile}: weight_map["${clip(listed[0])}"]${more} names the shard ${clip(JSON.stringify(shard))}, ` +
            `which is not in ${where}`,
        );
      }
      const shardTensors = await readShard(shard);
      for (const tensor of listed) {
        if (!shardTensors.has(tensor)) {
          throw new Error(`${joinName(where, shard)}: no tensor "${tensor}", which ${index} places in this shard`);
        }
      }
      for (const record of shardTensors.values()) add(record);
    }
  } else {
    throw new Error(`${where}: no weights found (expected ${SINGLE}, ${INDEX}, ${TORCH_SINGLE} or ${TORCH_INDEX})`);
  }
  return { config, tensors, files, source: where, quantization };
}

/** Text from a file as an error message shows it: at most 80 characters. */
function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}… (${text.length} characters)` : text;
}

/** `weight_map` of a sharded checkpoint's index, as [tensor, shard file] pairs. */
function parseIndex(json: unknown, file: string): [string, string][] {
  const map = typeof json === "object" && json !== null ? (json as Record<string, unknown>).weight_map : undefined;
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    throw new Error(`${file}: expected an object with a "weight_map" object`);
  }
  return Object.entries(map).map(([tensor, shard]) => {
    if (typeof shard !== "string") {
      throw new Error(
        `${file}: weight_map["${clip(tensor)}"] must be a shard file name, got ${clip(JSON.stringify(shard) ?? "")}`,
      );
    }
    const problem = fileNameProblem(shard);
    if (problem !== null) {
      throw new Error(
        `${file}: weight_map["${clip(tensor)}"] is ${
          clip(JSON.stringify(shard))
        }, not a plain relative file name inside the ` +
          `checkpoint (${problem})`,
      );
    }
    return [tensor, shard];
  });
}

/** `[C, 1, K]` → `[C, K]` when asked; other shapes are copied unchanged. */
function squeezed(shape: number[], squeezeMiddle: boolean): number[] {
  return squeezeMiddle && shape.length === 3 && shape[1] === 1 ? [shape[0], shape[2]] : [...shape];
}

/**
 * Index of the first NaN or ±Infinity, or -1: an integer test of the exponent bits (all ones), one pass over a
 * u32 view, a few percent of the time the f32 conversion itself takes.
 */
function firstNonFinite(data: Float32Array): number {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i] & 0x7f800000) === 0x7f800000) return i;
  }
  return -1;
}

/** Refuses a tensor holding NaN or ±Infinity, naming it, its file, the first bad index and value, and the count. */
function checkFinite(data: Float32Array, record: SafetensorRecord): void {
  const first = firstNonFinite(data);
  if (first < 0) return;
  let count = 0;
  for (let i = first; i < data.length; i++) if (!Number.isFinite(data[i])) count++;
  throw new Error(
    `${record.file}: tensor "${record.name}" (shape [${record.shape.join(", ")}], ${record.dtype}) holds ` +
      `${data[first]} at flat index ${first} (${count} non-finite value(s) in all); corrupt weights? To load it ` +
      `anyway for debugging: toHostWeights(checkpoint, { allowNonFinite: true }), or --allow-nonfinite on the CLI`,
  );
}

/** Pulls tensors out of a checkpoint by Hugging Face name, converting to f32 and checking shapes. */
class TensorReader {
  private readonly used = new Set<string>();

  constructor(private readonly ckpt: Checkpoint, private readonly allowNonFinite = false) {}

  /** Whether the checkpoint has the tensor. */
  has(name: string): boolean {
    return this.ckpt.tensors.has(name);
  }

  /** The raw record, or an error naming the tensor and the checkpoint's weight files. */
  record(name: string): SafetensorRecord {
    const record = this.ckpt.tensors.get(name);
    if (!record) {
      const weights = this.ckpt.files.filter((f) => f !== CONFIG).map((f) => joinName(this.ckpt.source, f));
      throw new Error(`missing tensor "${name}" in ${weights.join(", ")}`);
    }
    return record;
  }

  /** Shape of a tensor (without converting it). */
  shape(name: string): number[] {
    return this.record(name).shape;
  }

  /**
   * The record after checking its shape against `expected`; marks it used. With `squeezeMiddle` a conv weight
   * `[C, 1, K]` is checked (and later read) as `[C, K]`.
   */
  check(name: string, expected: number[], squeezeMiddle = false): SafetensorRecord {
    const record = this.record(name);
    const shape = squeezed(record.shape, squeezeMiddle);
    if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
      const got = `[${record.shape.join(", ")}]`;
      const want = squeezeMiddle ? `[${expected[0]}, 1, ${expected[1]}]` : `[${expected.join(", ")}]`;
      throw new Error(
        `${record.file}: tensor "${record.name}" has shape ${got}, expected ${want} from ${
          joinName(this.ckpt.source, CONFIG)
        }`,
      );
    }
    this.used.add(name);
    return record;
  }

  /** The tensor as f32 after {@link TensorReader.check}. */
  get(name: string, expected: number[], squeezeMiddle = false): HostTensor {
    const record = this.check(name, expected, squeezeMiddle);
    const data = toFloat32(record);
    if (!this.allowNonFinite) checkFinite(data, record);
    return { shape: squeezed(record.shape, squeezeMiddle), data };
  }

  /**
   * A weight matrix `[n, k]`: f32 as {@link TensorReader.get}, or — in a quantized checkpoint, where the tensor
   * holds integer codes — its GGUF blocks rebuilt from the codes and `<name>_scale`, bytes unchanged.
   */
  matrix(name: string, expected: [number, number]): HostMatrix {
    const record = this.record(name);
    if (FLOAT_DTYPES.includes(record.dtype)) {
      if (this.has(name + "_scale")) {
        throw new Error(
          `${record.file}: tensor "${name}_scale" is present but "${name}" is ${record.dtype}, not codes`,
        );
      }
      return this.get(name, expected);
    }
    const q = this.ckpt.quantization;
    if (!q) {
      throw new Error(
        `${record.file}: tensor "${name}" is ${record.dtype} (quantized codes) but ${
          joinName(this.ckpt.source, CONFIG)
        } has no quantization_config`,
      );
    }
    this.used.add(name);
    const scales = this.ckpt.tensors.get(name + "_scale");
    if (scales) this.used.add(name + "_scale");
    return joinBlocks(q.format, expected[0], expected[1], record, scales, name, record.file);
  }

  /** The tensor when `present`, else null (and then it must not be in the checkpoint at all). */
  optional(name: string, expected: number[], present: boolean, configField: string): HostTensor | null {
    if (present) return this.get(name, expected);
    if (this.has(name)) {
      throw new Error(
        `${this.record(name).file}: tensor "${name}" is present but config says ${configField} is false`,
      );
    }
    return null;
  }

  /** Fails when the checkpoint holds tensors nothing consumed (an unsupported variant). */
  checkAllUsed(): void {
    const left = [...this.ckpt.tensors.keys()].filter((n) => !this.used.has(n));
    if (left.length > 0) {
      const shown = left.slice(0, 6).map((n) => `"${n}" (${this.ckpt.tensors.get(n)!.file})`).join(", ");
      throw new Error(
        `${this.ckpt.source}: ${left.length} unexpected tensor(s) for a ${this.ckpt.config.nLayer}-layer ` +
          `${this.ckpt.config.arch} model: ${shown}${left.length > 6 ? ", …" : ""}`,
      );
    }
  }
}

/** Mamba-1 block i (d = dModel, D = dInner, N from A_log, R = dtRank, K = dConv). */
function mamba1Layer(t: TensorReader, c: MambaConfig, i: number): Mamba1LayerWeights<HostMatrix> {
  const p = `backbone.layers.${i}.mixer.`;
  const { dModel: d, dInner: D, dtRank: R, dConv: K } = c;
  const aShape = t.shape(`${p}A_log`);
  const N = aShape.length === 2 && aShape[0] === D ? aShape[1] : layerStateSize(c, i);
  checkStateSize(t, c, i, `${p}A_log`, N);
  return {
    arch: "mamba1",
    norm: t.get(`backbone.layers.${i}.norm.weight`, [d]),
    inProj: t.matrix(`${p}in_proj.weight`, [2 * D, d]),
    inProjBias: t.optional(`${p}in_proj.bias`, [2 * D], c.useBias, "use_bias"),
    convWeight: t.get(`${p}conv1d.weight`, [D, K], true),
    convBias: t.optional(`${p}conv1d.bias`, [D], c.useConvBias, "use_conv_bias"),
    xProj: t.matrix(`${p}x_proj.weight`, [R + 2 * N, D]),
    dtProj: t.matrix(`${p}dt_proj.weight`, [D, R]),
    dtProjBias: t.get(`${p}dt_proj.bias`, [D]),
    aLog: t.get(`${p}A_log`, [D, N]),
    D: t.get(`${p}D`, [D]),
    outProj: t.matrix(`${p}out_proj.weight`, [d, D]),
    outProjBias: t.optional(`${p}out_proj.bias`, [d], c.useBias, "use_bias"),
  };
}

/**
 * Mamba-2 block i (d = dModel, D = dInner, H heads, G groups, N from the conv channels D + 2GN, K = dConv).
 *
 * A bridged layer (PerfMamba-only: `state_bridge_sizes[i]` = N_C > 0 in config.json) also has
 * `mixer.state_bridge.weight` `[G·N, G·N_C]`, and its C keeps width G·N_C: conv channels D + G·N + G·N_C, in_proj
 * rows 2D + G·N + G·N_C + H.
 */
function mamba2Layer(t: TensorReader, c: MambaConfig, i: number): Mamba2LayerWeights<HostMatrix> {
  const p = `backbone.layers.${i}.mixer.`;
  const { dModel: d, dInner: D, nHeads: H, nGroups: G, dConv: K } = c;
  const bridgeName = `${p}state_bridge.weight`;
  const Nc = layerBridgeSize(c, i); // 0: no bridge
  if (Nc === 0 && t.has(bridgeName)) {
    throw new Error(
      `${t.record(bridgeName).file}: tensor "${bridgeName}" is present but config "state_bridge_sizes" gives ` +
        `layer ${i} no bridge (missing or 0; it must be the bridge's input state size)`,
    );
  }
  if (Nc > 0 && !t.has(bridgeName)) {
    throw new Error(
      `missing tensor "${bridgeName}": config "state_bridge_sizes"[${i}] is ${Nc}, so layer ${i} needs a state bridge`,
    );
  }
  const convChannels = t.shape(`${p}conv1d.weight`)[0];
  // Per group: B has N, C has N (no bridge) or Nc (bridged).
  const N = Nc > 0 ? (convChannels - D - G * Nc) / G : (convChannels - D) / (2 * G);
  const stateSize = Number.isInteger(N) && N > 0 ? N : layerStateSize(c, i);
  checkStateSize(t, c, i, `${p}conv1d.weight`, stateSize);
  const cSize = Nc > 0 ? Nc : stateSize;
  const convDim = D + G * (stateSize + cSize);
  const inRows = 2 * D + G * (stateSize + cSize) + H;
  const gotRows = t.shape(`${p}in_proj.weight`)[0];
  const extra = gotRows - inRows;
  if (extra > 0 && extra % 2 === 0) {
    const record = t.record(`${p}in_proj.weight`);
    throw new Error(
      `${record.file}: tensor "${record.name}" has shape [${record.shape.join(", ")}], expected [${inRows}, ${d}] ` +
        `(2D + 2GN + H rows); ${extra} extra rows would be a gated MLP (d_mlp = ${extra / 2} > 0), which is not ` +
        `supported`,
    );
  }
  const bridge = Nc > 0 ? { bridge: t.get(bridgeName, [G * stateSize, G * Nc]) } : {};
  return {
    arch: "mamba2",
    norm: t.get(`backbone.layers.${i}.norm.weight`, [d]),
    inProj: t.matrix(`${p}in_proj.weight`, [inRows, d]),
    inProjBias: t.optional(`${p}in_proj.bias`, [inRows], c.useBias, "use_bias"),
    convWeight: t.get(`${p}conv1d.weight`, [convDim, K], true),
    convBias: t.optional(`${p}conv1d.bias`, [convDim], c.useConvBias, "use_conv_bias"),
    dtBias: t.get(`${p}dt_bias`, [H]),
    aLog: t.get(`${p}A_log`, [H]),
    D: t.get(`${p}D`, [H]),
    gateNorm: t.get(`${p}norm.weight`, [D]),
    outProj: t.matrix(`${p}out_proj.weight`, [d, D]),
    outProjBias: t.optional(`${p}out_proj.bias`, [d], c.useBias, "use_bias"),
    ...bridge,
  };
}

/** The state size read from the weights must match the config (`layerStateSize`). */
function checkStateSize(t: TensorReader, c: MambaConfig, i: number, tensor: string, found: number): void {
  const want = layerStateSize(c, i);
  if (found !== want) {
    const record = t.record(tensor);
    throw new Error(
      `${record.file}: tensor "${record.name}" (shape [${record.shape.join(", ")}]) implies state size ${found} ` +
        `for layer ${i}, but config says ${want}` + (c.layerStateSizes ? " (layer_state_sizes)" : ""),
    );
  }
}

/**
 * Options of {@link toHostWeights} and {@link loadWeights}.
 *
 * @example
 * ```ts
 * import { checkpointFiles, type HostWeightsOptions, loadWeights, makeConfig, memorySource, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 16, nLayer: 1, vocabSize: 32 });
 * const weights = syntheticWeights(config);
 * weights.normF.data[3] = NaN; // a corrupt value
 * const files = memorySource({ ...checkpointFiles(weights) });
 * try {
 *   await loadWeights(files);
 * } catch (e) {
 *   console.log((e as Error).message.includes('tensor "backbone.norm_f.weight"')); // true
 * }
 * const debug: HostWeightsOptions = { allowNonFinite: true };
 * console.log(Number.isNaN((await loadWeights(files, debug)).normF.data[3])); // true
 * ```
 */
export interface HostWeightsOptions {
  /**
   * Accept tensors holding NaN or ±Infinity (for debugging a broken checkpoint); default false: such a tensor is
   * refused, naming it and the first bad index.
   */
  allowNonFinite?: boolean;
}

/**
 * Converts a loaded checkpoint to f32 host weights, validating every tensor's shape against the config. The
 * matrices of a quantized checkpoint (and a GGUF file's Q8_0 / Q4_0 ones) are dequantized (w = d · q): what pruning,
 * calibration and f32 writing need. {@link toModelWeights} keeps their blocks instead.
 *
 * @example
 * ```ts
 * import { checkpointFiles, loadCheckpoint, makeConfig, memorySource, syntheticWeights, toHostWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const files = checkpointFiles(syntheticWeights(config));
 * const ckpt = await loadCheckpoint(memorySource({ ...files }));
 * const weights = toHostWeights(ckpt);
 * console.log(weights.layers.map((l) => l.arch), weights.lmHead); // [ "mamba2", "mamba2" ] null
 *
 * // A missing tensor is reported with the checkpoint's weight files (a wrong shape with both shapes).
 * ckpt.tensors.delete("backbone.norm_f.weight");
 * try {
 *   toHostWeights(ckpt);
 * } catch (e) {
 *   console.log((e as Error).message); // missing tensor "backbone.norm_f.weight" in memory checkpoint/model.safetensors
 * }
 * ```
 *
 * The lm_head is tied (null) when the config says so (even if an `lm_head.weight` is stored, as transformers does)
 * or when no `lm_head.weight` is stored; the returned config's `tieEmbeddings` says which.
 *
 * PerfMamba's bridged pruned Mamba-2 checkpoints (`checkpointFiles` of `pruneWeights(…, { bridges })`) are read
 * too: config `"state_bridge_sizes": [N_0, N_1, …]` (the pre-pruning state size of each bridged layer, 0 for the
 * others) and `backbone.layers.{i}.mixer.state_bridge.weight` `[G·N′, G·N_i]` per bridged layer, whose in_proj and
 * conv1d keep the C channels at G·N_i. transformers cannot load these.
 *
 * Every tensor read is checked for NaN and ±Infinity after its conversion to f32 (an integer test per element, a
 * few percent of the conversion's time); a non-finite value is refused unless `options.allowNonFinite`.
 *
 * @throws Error naming the tensor, its file, its shape and the expected shape; a missing tensor and the weight
 *   files; a NaN or ±Infinity (the tensor, the first flat index and the count; see {@link HostWeightsOptions}); a state size disagreeing with the config; a Mamba-2 in_proj with a gated MLP; a state bridge tensor
 *   without its `state_bridge_sizes` entry or the reverse; or leftover tensors.
 */
export function toHostWeights(checkpoint: Checkpoint, options: HostWeightsOptions = {}): MambaWeights {
  return dequantizeWeights(toModelWeights(checkpoint, options));
}

/**
 * As {@link toHostWeights}, but a quantized checkpoint's matrices (a `quantization_config` in config.json, or a
 * GGUF file's Q8_0 / Q4_0 matrices) stay block-quantized, bytes unchanged: what `MambaModel.load` takes.
 *
 * @throws Error as {@link toHostWeights}, and for a quantized matrix whose scales are missing or of the wrong
 *   shape, whose codes have the wrong dtype or shape, or whose rows the block size 32 does not divide
 *
 * @example
 * ```ts
 * import { checkpointFiles, loadCheckpoint, makeConfig, memorySource, quantizeWeights, syntheticWeights, toModelWeights } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 1, vocabSize: 64 });
 * const q8 = quantizeWeights(syntheticWeights(config, 1), { bits: 8 });
 * const back = toModelWeights(await loadCheckpoint(memorySource({ ...checkpointFiles(q8) })));
 * console.log("blocks" in back.layers[0].inProj); // true
 * ```
 */
export function toModelWeights(checkpoint: Checkpoint, options: HostWeightsOptions = {}): MambaWeights<HostMatrix> {
  const c = checkpoint.config;
  const t = new TensorReader(checkpoint, options.allowNonFinite === true);
  const embedding = t.matrix("backbone.embeddings.weight", [c.vocabSize, c.dModel]);
  const layers: LayerWeights<HostMatrix>[] = [];
  for (let i = 0; i < c.nLayer; i++) layers.push(c.arch === "mamba1" ? mamba1Layer(t, c, i) : mamba2Layer(t, c, i));
  const normF = t.get("backbone.norm_f.weight", [c.dModel]);
  const tied = c.tieEmbeddings || !t.has("lm_head.weight");
  let lmHead: HostMatrix | null = null;
  if (tied) {
    if (t.has("lm_head.weight")) {
      t.check("lm_head.weight", [c.vocabSize, c.dModel]); // shape-checked, then dropped for the embedding
    }
  } else {
    lmHead = t.matrix("lm_head.weight", [c.vocabSize, c.dModel]);
  }
  t.checkAllUsed();
  const w = { config: { ...c, tieEmbeddings: tied }, embedding, layers, normF, lmHead };
  // A quantized checkpoint's A_log, conv1d and D are held in f16 (rounded here when an older one stored F32)
  // unless its quantization_config says float32.
  const q = checkpoint.quantization;
  if (!q) return w;
  return q.param_dtype === "float32" ? { ...w, paramFormat: "f32" } : halfParamWeights(w);
}

/**
 * {@link loadCheckpoint} then {@link toHostWeights}: a checkpoint's f32 host weights, ready for `MambaModel.load`.
 *
 * @param source where the checkpoint's files are: {@link urlSource}, {@link memorySource}, or your own
 * @param options as for {@link toHostWeights} (`allowNonFinite`)
 * @returns the weights with their normalised config
 * @throws Error naming the file (and tensor) at fault, as {@link loadCheckpoint} and {@link toHostWeights} do
 *
 * @example
 * ```ts
 * import { checkpointFiles, generate, loadWeights, MambaModel, makeConfig, memorySource, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * // A real model: `await loadWeights(urlSource("https://huggingface.co/state-spaces/mamba-130m-hf/resolve/main/"))`.
 * const config = makeConfig("mamba2", { dModel: 32, nLayer: 2, vocabSize: 64, dState: 8, headDim: 16 });
 * const weights = await loadWeights(memorySource({ ...checkpointFiles(syntheticWeights(config)) }));
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(weights, backend);
 * const { tokens } = await generate(model, [1, 2, 3], { maxNewTokens: 2 });
 * console.log(tokens.length); // 2
 * model.dispose();
 * backend.dispose();
 * ```
 */
export async function loadWeights(source: CheckpointSource, options: HostWeightsOptions = {}): Promise<MambaWeights> {
  return toHostWeights(await loadCheckpoint(source), options);
}
