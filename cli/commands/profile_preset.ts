/**
 * `profile --preset NAME`: a named set of flag values (the paper's Table 1 setup) that explicit flags override, and
 * the flag combinations a preset cannot honour, refused by name.
 *
 * @module
 */

import { type CommandSpec, type Flags, parseCommand, UsageError } from "../args.ts";
import { PAPER_TABLE1_SETUP } from "../report/paper_table1.ts";

/** The presets `profile --preset` knows. */
export const PROFILE_PRESET_NAMES = ["paper"] as const;

/** A preset's name. */
export type ProfilePresetName = typeof PROFILE_PRESET_NAMES[number];

/**
 * The flags each preset sets (as they would be typed). `paper`: the paper's Table 1 — both architectures at 130m,
 * batch 8, lengths 64, 512, 2048, prefill (its table) and decode (ours in addition).
 */
export const PROFILE_PRESETS: Readonly<Record<ProfilePresetName, Readonly<Record<string, string>>>> = {
  paper: {
    arch: "both",
    size: PAPER_TABLE1_SETUP.size,
    batch: String(PAPER_TABLE1_SETUP.batch),
    seqlens: PAPER_TABLE1_SETUP.seqLens.join(","),
    mode: "both",
  },
};

/** The flags given on the command line, without any default filled in (null when --help was printed). */
function explicitFlags(spec: CommandSpec, argv: string[]): Flags | null {
  const flags = Object.fromEntries(
    Object.entries(spec.flags).map(([k, f]) => [k, { ...f, default: undefined }]),
  );
  return parseCommand({ ...spec, flags }, argv);
}

/**
 * Parse `profile`'s argv with its preset applied: explicit flags first, then the preset's values, then the spec's
 * defaults. Returns the flags and the preset's name (null without --preset), or null when --help was printed.
 * A preset combined with flags that contradict it is a {@link UsageError} naming both (exit 2).
 */
export function parseWithPreset(
  spec: CommandSpec,
  argv: string[],
): { flags: Flags; preset: ProfilePresetName | null } | null {
  const withDefaults = parseCommand(spec, argv);
  if (!withDefaults) return null;
  const name = withDefaults.preset;
  if (name === undefined) return { flags: withDefaults, preset: null };
  if (typeof name !== "string" || !(PROFILE_PRESET_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`--preset must be one of ${PROFILE_PRESET_NAMES.join(", ")}, got "${name}"`);
  }
  const preset = name as ProfilePresetName;
  const given = explicitFlags(spec, argv)!;
  checkPresetFlags(preset, given);
  const flags: Flags = { ...given };
  for (const [k, v] of Object.entries(PROFILE_PRESETS[preset])) if (flags[k] === undefined) flags[k] = v;
  for (const [k, f] of Object.entries(spec.flags)) {
    if (flags[k] === undefined && f.default !== undefined) flags[k] = f.default;
  }
  return { flags, preset };
}

/** Refuse explicit flags a preset cannot honour. */
function checkPresetFlags(preset: ProfilePresetName, given: Flags): void {
  const why = (flag: string, reason: string) =>
    new UsageError(`--preset ${preset} with --${flag}: ${reason}; drop one of them`);
  if (typeof given.model === "string") {
    throw why("model", "the paper's Table 1 is the built-in 130m shapes of both architectures");
  }
  if (typeof given.dims === "string") throw why("dims", "the paper's Table 1 is the 130m shape");
  if (typeof given.size === "string" && given.size !== PAPER_TABLE1_SETUP.size) {
    throw why("size", `the paper's Table 1 is at ${PAPER_TABLE1_SETUP.size}, not ${given.size}`);
  }
  if (given.mode === "decode") throw why("mode", "the paper's Table 1 is prefill");
}
