/**
 * Loading a model for a CLI command: checkpoint directory → host weights → backend.
 */
import {
  type Backend,
  BACKEND_KINDS,
  BackendOptionError,
  type Checkpoint,
  ggufCheckpoint,
  type GgufFile,
  halfParamWeights,
  type HostMatrix,
  type HostWeightsOptions,
  HubIdError,
  loadCheckpoint,
  MambaModel,
  type MambaWeights,
  paramFormatOf,
  parseGguf,
  parseRepoId,
  QuantizeError,
  quantizeWeights,
  RelaxedSimdUnsupportedError,
  selectBackend,
  type SelectBackendOptions,
  toModelWeights,
  weightsQuantFormat,
} from "../mod.ts";
import { choiceFlag, type Flags, type FlagSpec, numberFlag, UsageError } from "./args.ts";
import { dirSource, readRegularFile } from "./fs_source.ts";
import { hubModelFolder } from "./hf_cache.ts";
import type { DownloadProgress } from "./hub_download.ts";
import { type ProgressBar, progressBar } from "./progress.ts";
import type { CheckpointSource } from "../mod.ts";

/** Backend names the CLI accepts for --backend: the runtime's, plus "auto". */
export const BACKEND_CHOICES: readonly string[] = ["auto", ...BACKEND_KINDS];

/** The flags of every command that runs a model: --backend, --threads, --weights. */
export const BACKEND_FLAGS: Record<string, FlagSpec> = {
  backend: { type: "string", help: `Compute backend: ${BACKEND_CHOICES.join(", ")}`, default: "auto" },
  threads: { type: "string", help: "WASM worker threads (1 = single-threaded; default: cores, max 8)" },
  "relaxed-simd": {
    type: "string",
    help: "WASM relaxed SIMD (fused multiply-add kernels): auto (where the host has it), on (required), off",
    default: "auto",
  },
  weights: {
    type: "string",
    help: "Weight matrices: f32; f16 on WebGPU (half the memory and decode bytes; f32 math); q8 or q4 " +
      "(quantize in_proj, x_proj, dt_proj and out_proj to q8_0 / q4_0 blocks at load; math: see --quant-math)",
    default: "f32",
  },
  params: {
    type: "string",
    help: "A quantized model's per-channel SSM parameters (A_log, conv1d weight and bias, D): f16 (half their " +
      "memory; the kernels read the halves) or f32. Default: f16 for --weights q8|q4, as stored for a quantized " +
      "checkpoint",
  },
  "quant-math": {
    type: "string",
    help: "WASM, on q8_0 / q4_0 weights: int8 (the default: dot products on activations quantized to 8 bits per " +
      "block of 32, llama.cpp's q8_0 activations; relaxed-SIMD i8 dot products where the host has them, the same " +
      "results everywhere; error bound in QUANTIZATION.md), int16 (16 bits per block; slower, 258x tighter bound), " +
      "exact (weights dequantized to f32 in registers; slower), or integer (= int16)",
    default: "int8",
  },
  "gpu-debug": {
    type: "boolean",
    help: "WebGPU: check every dispatch in its own validation error scope; an error names the kernel (slow)",
  },
};

/** The help of --model: a folder or a hub model id. */
export const MODEL_HELP =
  "Checkpoint folder, a llama.cpp .gguf file, or a Hugging Face model id org/name[@revision] (read from the cache " +
  "HF_HOME/hub, downloaded into it when missing; an existing folder of that name wins)";

/** The flags of every command that reads a checkpoint (--model): --revision, --follow-symlinks. */
export const MODEL_FLAGS: Record<string, FlagSpec> = {
  revision: { type: "string", help: "With a model id: branch, tag or commit (default: main)" },
  "follow-symlinks": {
    type: "boolean",
    help: "Read checkpoint files whose symlinks lead outside the --model folder (a Hugging Face cache snapshot " +
      "needs no flag)",
  },
};

/** A resolved --model: the folder read (a cache snapshot for a model id) and its source. */
export interface ResolvedModel {
  /** What --model said. */
  spec: string;
  /** The folder holding config.json (for a model id, the snapshot in the Hugging Face cache). */
  dir: string;
  /** The checkpoint folder's source; null for a .gguf file. */
  source: CheckpointSource | null;
  /** The .gguf file --model names, or null for a folder or a model id. */
  gguf: string | null;
  /**
   * The parsed .gguf file, read and parsed on the first call and shared by the later ones (the tokenizer and
   * the weights come from one parse); null for a folder or a model id.
   */
  parseGguf: (() => Promise<GgufFile>) | null;
}

/** A once-only reader of the .gguf file at `path` (see {@link ResolvedModel.parseGguf}). */
function ggufOnce(path: string): () => Promise<GgufFile> {
  let parsed: Promise<GgufFile> | undefined;
  return () => parsed ??= readRegularFile(path).then((bytes) => parseGguf(bytes, path));
}

/** Whether `path` exists (anything: a folder, a file, a dangling link counts as absent). */
function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A download progress callback drawing one byte bar per file on stderr (redrawn at most every 100 ms). */
function downloadBar(): DownloadProgress {
  let bar: ProgressBar | undefined;
  let current = "";
  let last = 0;
  return (file, done, total) => {
    if (file !== current) {
      bar?.done();
      bar = progressBar(true, { bytes: true });
      current = file;
    }
    const now = performance.now();
    if (done < total && now - last < 100) return;
    last = now;
    bar!.update(done, total, file);
    if (done >= total) bar!.done();
  };
}

/**
 * Resolves --model: an existing path is a checkpoint folder (always: a folder named like a model id wins);
 * otherwise a Hugging Face model id `org/name[@revision]` (and --revision) is looked up in the local cache and
 * downloaded into it when missing (cli/hf_cache.ts). Follows symlinks out of a folder when --follow-symlinks is given.
 */
export async function resolveModel(spec: string, flags: Flags): Promise<ResolvedModel> {
  const follow = flags["follow-symlinks"] === true;
  const revision = typeof flags.revision === "string" ? flags.revision : undefined;
  if (isGgufPath(spec)) {
    if (revision !== undefined) throw new UsageError(`--revision applies to a model id, but ${spec} is a .gguf file`);
    return { spec, dir: spec, source: null, gguf: spec, parseGguf: ggufOnce(spec) };
  }
  if (pathExists(spec)) {
    if (revision !== undefined) throw new UsageError(`--revision applies to a model id, but ${spec} is a folder`);
    return { spec, dir: spec, source: dirSource(spec, { followSymlinks: follow }), gguf: null, parseGguf: null };
  }
  try {
    parseRepoId(spec);
  } catch (e) {
    if (!(e instanceof HubIdError)) throw e;
    // Neither a path nor an id: say both.
    throw new Error(`${spec}: no such checkpoint directory, and not a Hugging Face model id (${e.message})`);
  }
  const snapshot = await hubModelFolder(spec, {
    revision,
    progress: flags.quiet === true ? undefined : downloadBar(),
    note: (line) => console.error(`note: ${line}`),
  });
  return {
    spec,
    dir: snapshot.dir,
    source: dirSource(snapshot.dir, { followSymlinks: follow }),
    gguf: null,
    parseGguf: null,
  };
}

/** Whether --model names a GGUF file (by its `.gguf` extension) rather than a checkpoint folder. */
export function isGgufPath(model: string): boolean {
  return /\.gguf$/i.test(model);
}

/**
 * The checkpoint --model names, the one way every command opens one: a `.gguf` file (llama.cpp's `mamba` /
 * `mamba2`, read whole from a regular file and parsed by `parseGguf`, which checks every count and offset), or
 * a checkpoint folder or model id (`loadCheckpoint` over {@link resolveModel}'s source). `gguf` is the parsed file,
 * for `info`.
 */
export async function openModel(
  model: string | ResolvedModel,
  flags: Flags,
): Promise<{ checkpoint: Checkpoint; gguf: GgufFile | null }> {
  const resolved = typeof model === "string" ? await resolveModel(model, flags) : model;
  if (resolved.source !== null) return { checkpoint: await loadCheckpoint(resolved.source), gguf: null };
  const gguf = await resolved.parseGguf!();
  return { checkpoint: ggufCheckpoint(gguf), gguf };
}

/** {@link openModel}'s checkpoint. */
export async function openCheckpoint(model: string | ResolvedModel, flags: Flags): Promise<Checkpoint> {
  return (await openModel(model, flags)).checkpoint;
}

/** The flags of every command that loads a checkpoint's weights: --allow-nonfinite. */
export const WEIGHTS_FLAGS: Record<string, FlagSpec> = {
  "allow-nonfinite": {
    type: "boolean",
    help: "Load weights holding NaN or ±Infinity (refused by default, naming the tensor): for debugging only",
  },
};

/** `toHostWeights` options from the weights flags. */
export function hostWeightsOptions(flags: Flags): HostWeightsOptions {
  return { allowNonFinite: flags["allow-nonfinite"] === true };
}

/** What --params accepts: how a quantized model holds A_log, conv1d's weight and bias, and D. */
export const PARAMS_CHOICES = ["f16", "f32"] as const;

/** What --weights accepts: a backend storage format (f32, f16), or a quantization done at load (q8, q4). */
export const WEIGHTS_CHOICES = ["f32", "f16", "q8", "q4"] as const;

/**
 * The host weights as --weights asks: quantized to q8_0 / q4_0 blocks for `q8` / `q4` (refusing an already
 * quantized model), else unchanged. Call after any pruning, before `MambaModel.load`.
 */
export function weightsForFlags(weights: MambaWeights<HostMatrix>, flags: Flags): MambaWeights<HostMatrix> {
  const choice = choiceFlag(flags, "weights", WEIGHTS_CHOICES);
  const asked = flags.params === undefined ? undefined : choiceFlag(flags, "params", PARAMS_CHOICES);
  const params = asked ?? "f16";
  // A quantized checkpoint: its parameters as stored (F16 ones stay the rounded values), held as --params says.
  if (choice !== "q8" && choice !== "q4") {
    if (!asked || !weightsQuantFormat(weights) || paramFormatOf(weights) === params) return weights;
    return params === "f16" ? halfParamWeights(weights) : { ...weights, paramFormat: "f32" };
  }
  try {
    return quantizeWeights(weights, { bits: choice === "q8" ? 8 : 4, params });
  } catch (e) {
    if (e instanceof QuantizeError) throw new UsageError(`--weights ${choice}: ${e.message}`);
    throw e;
  }
}

/** Create the backend named by --backend, --threads and --weights (`timestamps`: for the profiler). */
export async function backendFromFlags(flags: Flags, extra: { timestamps?: boolean } = {}): Promise<Backend> {
  const kind = flags.backend as string;
  if (!BACKEND_CHOICES.includes(kind)) {
    throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(", ")}, got "${kind}"`);
  }
  const threads = numberFlag(flags, "threads", { integer: true, min: 1, max: 64 });
  const weights = choiceFlag(flags, "weights", WEIGHTS_CHOICES);
  const relaxed = choiceFlag(flags, "relaxed-simd", ["auto", "on", "off"] as const);
  const quantMath = choiceFlag(flags, "quant-math", ["int16", "int8", "exact", "integer"] as const);
  const options: SelectBackendOptions = {
    threads,
    relaxedSimd: relaxed === "auto" ? "auto" : relaxed === "on",
    quantActivations: quantMath === "exact" ? false : quantMath === "int8" ? "int8" : "int16",
    f16Weights: weights === "f16",
    timestamps: extra.timestamps,
    debug: flags["gpu-debug"] === true,
  };
  try {
    return await selectBackend(kind, options);
  } catch (e) {
    if (e instanceof RelaxedSimdUnsupportedError) throw new UsageError(`--relaxed-simd on: ${e.message}`);
    if (e instanceof BackendOptionError && e.option === "weightFormat") {
      throw new UsageError(`--weights ${weights}: ${e.message}`);
    }
    throw e;
  }
}

/** Load --model (a folder, a model id, a .gguf file, or one already resolved) onto a new backend chosen by the backend
 * flags (and the weights flags). */
export async function loadModel(model: string | ResolvedModel, flags: Flags): Promise<MambaModel> {
  const checkpoint = await openCheckpoint(model, flags);
  // A quantized checkpoint keeps its blocks (toModelWeights); --weights q8|q4 quantizes an f32 one here.
  const weights = weightsForFlags(toModelWeights(checkpoint, hostWeightsOptions(flags)), flags);
  const backend = await backendFromFlags(flags);
  try {
    const model = MambaModel.load(weights, backend);
    await model.prepare(); // WebGPU: the pipelines of a prefill and decode, compiled in parallel now
    return model;
  } catch (e) {
    backend.dispose();
    throw e;
  }
}
