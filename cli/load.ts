/**
 * Loading a model for a CLI command: checkpoint directory → host weights → backend.
 */
import {
  type Backend,
  BACKEND_KINDS,
  loadCheckpoint,
  MambaModel,
  selectBackend,
  type SelectBackendOptions,
  toHostWeights,
} from "../mod.ts";
import { choiceFlag, type Flags, type FlagSpec, numberFlag, UsageError } from "./args.ts";
import { dirSource } from "./fs_source.ts";

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
};

/** Create the backend named by --backend, --threads and --weights (`timestamps`: for the profiler). */
export async function backendFromFlags(flags: Flags, extra: { timestamps?: boolean } = {}): Promise<Backend> {
  const kind = flags.backend as string;
  if (!BACKEND_CHOICES.includes(kind)) {
    throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(", ")}, got "${kind}"`);
  }
  const threads = numberFlag(flags, "threads", { integer: true, min: 1, max: 64 });
  const weights = choiceFlag(flags, "weights", ["f32", "f16"] as const);
  const options: SelectBackendOptions = { threads, f16Weights: weights === "f16", timestamps: extra.timestamps };
  try {
    return await selectBackend(kind, options);
  } catch (e) {
    if (options.f16Weights) await refuseF16(kind, { ...options, f16Weights: false });
    throw e;
  }
}

/**
 * After `selectBackend` failed with f16 weights asked for ("auto" falls back to f32 on a backend without them; a
 * backend named outright refuses): a usage error when the same backend with f32 weights cannot store f16 (its
 * capabilities say so). Returns when it can, or cannot be created at all: the first error is the one to report.
 */
async function refuseF16(kind: string, options: SelectBackendOptions): Promise<void> {
  let backend: Backend;
  try {
    backend = await selectBackend(kind, options);
  } catch {
    return;
  }
  const { name, capabilities: { weightFormats } } = backend;
  backend.dispose();
  if (!weightFormats.includes("f16")) {
    throw new UsageError(
      `--weights f16 is a WebGPU storage option; the ${name} backend keeps ${weightFormats.join(", ")} weights`,
    );
  }
}

/** Load a checkpoint directory onto a new backend chosen by the backend flags. */
export async function loadModel(dir: string, flags: Flags): Promise<MambaModel> {
  const checkpoint = await loadCheckpoint(dirSource(dir));
  const weights = toHostWeights(checkpoint);
  const backend = await backendFromFlags(flags);
  try {
    return MambaModel.load(weights, backend);
  } catch (e) {
    backend.dispose();
    throw e;
  }
}
