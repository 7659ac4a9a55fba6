/**
 * Loading a model for a CLI command: checkpoint directory → host weights → backend.
 */
import { loadCheckpoint, toHostWeights } from "../runtime/checkpoint.ts";
import { MambaModel } from "../runtime/model.ts";
import { BACKEND_KINDS } from "../runtime/select_backend.ts";
import { selectBackend } from "../backends.ts";
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
export async function backendFromFlags(flags: Flags, extra: { timestamps?: boolean } = {}) {
  const name = flags.backend as string;
  if (!BACKEND_CHOICES.includes(name)) {
    throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(", ")}, got "${name}"`);
  }
  const threads = numberFlag(flags, "threads", { integer: true, min: 1, max: 64 });
  const weights = choiceFlag(flags, "weights", ["f32", "f16"] as const);
  if (weights === "f16" && name === "wasm") {
    throw new UsageError("--weights f16 is a WebGPU storage option; the WASM backend keeps f32 weights");
  }
  return await selectBackend(name, { threads, f16Weights: weights === "f16", timestamps: extra.timestamps });
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
