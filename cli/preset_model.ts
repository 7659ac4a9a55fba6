/**
 * Built-in models (`--size`, `--dims`) for `bench`, `profile` and `demo`: synthetic weights made and uploaded layer
 * by layer (`syntheticSource`), quantized layer by layer for `--weights q8|q4`, after a memory check that refuses
 * what cannot fit the backend (a `ModelTooLargeError`: exit code 2, one line).
 */
import {
  type Backend,
  checkModelFits,
  type MambaConfig,
  MambaModel,
  type PassShape,
  syntheticSource,
  type WeightStorage,
} from "../mod.ts";
import { choiceFlag, type Flags } from "./args.ts";
import { PARAMS_CHOICES, WEIGHTS_CHOICES } from "./load.ts";

/** How --weights stores the matrices on `backend` (f16 only where the backend was created with it). */
export function storageForFlags(flags: Flags, backend: Backend): WeightStorage {
  const choice = choiceFlag(flags, "weights", WEIGHTS_CHOICES);
  if (choice === "q8") return "q8_0";
  if (choice === "q4") return "q4_0";
  return backend.capabilities.weightFormat;
}

/**
 * Check that `config` fits `backend` as --weights stores it (with `pass`'s state and activations if given); throws
 * `ModelTooLargeError` when not.
 */
export function checkPresetFits(config: MambaConfig, backend: Backend, flags: Flags, pass?: PassShape): void {
  checkModelFits(config, backend, { storage: storageForFlags(flags, backend), pass });
}

/** The synthetic model of `config` and `seed` on `backend`, stored as --weights says. */
export function loadPreset(config: MambaConfig, backend: Backend, flags: Flags, seed: number): MambaModel {
  const storage = storageForFlags(flags, backend);
  const quantize = storage === "q8_0" || storage === "q4_0" ? storage : undefined;
  const params = flags.params === undefined ? "f16" : choiceFlag(flags, "params", PARAMS_CHOICES);
  return MambaModel.fromSource(syntheticSource(config, seed, { quantize, params }), backend);
}
