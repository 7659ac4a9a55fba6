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
  type HostWeightsOptions,
  loadCheckpoint,
  MambaModel,
  parseGguf,
  selectBackend,
  type SelectBackendOptions,
  toHostWeights,
} from "../mod.ts";
import { choiceFlag, type Flags, type FlagSpec, numberFlag, UsageError } from "./args.ts";
import { dirSource, readRegularFile } from "./fs_source.ts";
import type { CheckpointSource } from "../mod.ts";

/** Backend names the CLI accepts for --backend: the runtime's, plus "auto". */
export const BACKEND_CHOICES: readonly string[] = ["auto", ...BACKEND_KINDS];

/** The flags of every command that runs a model: --backend, --threads, --weights. */
export const BACKEND_FLAGS: Record<string, FlagSpec> = {
  backend: { type: "string", help: `Compute backend: ${BACKEND_CHOICES.join(", ")}`, default: "auto" },
  threads: { type: "string", help: "WASM worker threads (1 = single-threaded; default: cores, max 8)" },
  weights: {
    type: "string",
    help: "Weight matrix storage on WebGPU: f32, or f16 (half the memory and decode bytes; f32 math)",
    default: "f32",
  },
  "gpu-debug": {
    type: "boolean",
    help: "WebGPU: check every dispatch in its own validation error scope; an error names the kernel (slow)",
  },
};

/** The flags of every command that reads a checkpoint folder (--model): --follow-symlinks. */
export const MODEL_FLAGS: Record<string, FlagSpec> = {
  "follow-symlinks": {
    type: "boolean",
    help: "Read checkpoint files whose symlinks lead outside the --model folder (a Hugging Face cache snapshot " +
      "needs no flag)",
  },
};

/** The checkpoint folder `dir` as a source, following symlinks out of it when --follow-symlinks is given. */
export function modelSource(dir: string, flags: Flags): CheckpointSource {
  return dirSource(dir, { followSymlinks: flags["follow-symlinks"] === true });
}

/** Whether --model names a GGUF file (by its `.gguf` extension) rather than a checkpoint folder. */
export function isGgufPath(model: string): boolean {
  return /\.gguf$/i.test(model);
}

/**
 * The checkpoint --model names, the one way every command opens one: a `.gguf` file (llama.cpp's `mamba` /
 * `mamba2`, read whole from a regular file and parsed by `parseGguf`, which checks every count and offset), or
 * a checkpoint folder (`loadCheckpoint` over {@link modelSource}). `gguf` is the parsed file, for `info`.
 */
export async function openModel(
  model: string,
  flags: Flags,
): Promise<{ checkpoint: Checkpoint; gguf: GgufFile | null }> {
  if (!isGgufPath(model)) return { checkpoint: await loadCheckpoint(modelSource(model, flags)), gguf: null };
  const gguf = parseGguf(await readRegularFile(model), model);
  return { checkpoint: ggufCheckpoint(gguf), gguf };
}

/** {@link openModel}'s checkpoint. */
export async function openCheckpoint(model: string, flags: Flags): Promise<Checkpoint> {
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

/** Create the backend named by --backend, --threads and --weights (`timestamps`: for the profiler). */
export async function backendFromFlags(flags: Flags, extra: { timestamps?: boolean } = {}): Promise<Backend> {
  const kind = flags.backend as string;
  if (!BACKEND_CHOICES.includes(kind)) {
    throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(", ")}, got "${kind}"`);
  }
  const threads = numberFlag(flags, "threads", { integer: true, min: 1, max: 64 });
  const weights = choiceFlag(flags, "weights", ["f32", "f16"] as const);
  const options: SelectBackendOptions = {
    threads,
    f16Weights: weights === "f16",
    timestamps: extra.timestamps,
    debug: flags["gpu-debug"] === true,
  };
  try {
    return await selectBackend(kind, options);
  } catch (e) {
    if (e instanceof BackendOptionError && e.option === "weightFormat") {
      throw new UsageError(`--weights ${weights}: ${e.message}`);
    }
    throw e;
  }
}

/** Load --model (a checkpoint folder or a .gguf) onto a new backend chosen by the backend and weights flags. */
export async function loadModel(model: string, flags: Flags): Promise<MambaModel> {
  const checkpoint = await openCheckpoint(model, flags);
  const weights = toHostWeights(checkpoint, hostWeightsOptions(flags));
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
