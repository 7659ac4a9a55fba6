/**
 * Loading a model for a CLI command: checkpoint directory → host weights → backend.
 */
import { loadCheckpoint, toHostWeights } from "../runtime/checkpoint.ts";
import { MambaModel } from "../runtime/model.ts";
import { BACKEND_KINDS, selectBackend } from "../runtime/select_backend.ts";
import { UsageError } from "./args.ts";
import { dirSource } from "./fs_source.ts";

/** Backend names the CLI accepts for --backend: the runtime's, plus "auto". */
export const BACKEND_CHOICES: readonly string[] = ["auto", ...BACKEND_KINDS];

/** Create the backend named by --backend (and --threads). */
export async function backendFromFlag(name: string, threads?: number) {
  if (!BACKEND_CHOICES.includes(name)) {
    throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(", ")}, got "${name}"`);
  }
  return await selectBackend(name, { threads });
}

/** Load a checkpoint directory onto a new backend. */
export async function loadModel(dir: string, backendName: string, threads?: number): Promise<MambaModel> {
  const checkpoint = await loadCheckpoint(dirSource(dir));
  const weights = toHostWeights(checkpoint);
  const backend = await backendFromFlag(backendName, threads);
  try {
    return MambaModel.load(weights, backend);
  } catch (e) {
    backend.dispose();
    throw e;
  }
}
