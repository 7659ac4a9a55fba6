/**
 * Command-line parsing on `node:util` parseArgs: one spec per command gives its flags, defaults and help, and
 * every bad flag becomes a {@link UsageError} naming it (exit code 2).
 */
import { parseArgs } from "node:util";

/** A mistake in how the command was called: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** One flag of a command. */
export interface FlagSpec {
  type: "string" | "boolean";
  /** Shown in --help. */
  help: string;
  /** Default value shown in --help and returned when absent. */
  default?: string | boolean;
  short?: string;
}

/** A command's flags and help text. */
export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
}

/** Parsed flag values. */
export type Flags = Record<string, string | boolean | undefined>;

/** Render a command's --help. */
export function helpText(spec: CommandSpec): string {
  const lines = [`${spec.summary}\n`, `Usage: ${spec.usage}\n`, "Options:"];
  const all: [string, FlagSpec][] = [...Object.entries(spec.flags), ["help", {
    type: "boolean",
    help: "Show this help",
  }]];
  const width = Math.max(...all.map(([k, f]) => k.length + (f.type === "string" ? 8 : 0))) + 4;
  for (const [k, f] of all) {
    const left = `--${k}${f.type === "string" ? " <value>" : ""}`;
    const def = f.default !== undefined && f.default !== false ? ` (default: ${f.default})` : "";
    lines.push(`  ${left.padEnd(width)}${f.help}${def}`);
  }
  return lines.join("\n");
}

/**
 * Parse argv for a command; returns null when --help was printed. Positional arguments are refused unless
 * `positionals` is given: then they are appended to it.
 */
export function parseCommand(spec: CommandSpec, argv: string[], positionals?: string[]): Flags | null {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = { help: { type: "boolean" } };
  for (const [k, f] of Object.entries(spec.flags)) {
    options[k] = { type: f.type, ...(f.short ? { short: f.short } : {}) };
  }
  let values: Flags;
  try {
    const parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: positionals !== undefined });
    values = parsed.values as Flags;
    positionals?.push(...parsed.positionals);
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new UsageError(`${spec.name}: ${msg}`);
  }
  if (values.help) {
    console.log(helpText(spec));
    return null;
  }
  for (const [k, f] of Object.entries(spec.flags)) {
    if (values[k] === undefined && f.default !== undefined) values[k] = f.default;
  }
  return values;
}

/** A required string flag. */
export function requireFlag(spec: CommandSpec, flags: Flags, name: string): string {
  const v = flags[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`${spec.name}: --${name} is required (see --help)`);
  return v;
}

/** A flag holding a number, checked against bounds; names the flag on error. */
export function numberFlag(
  flags: Flags,
  name: string,
  opts: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  const ok = typeof v === "string" && v.trim() !== "" && Number.isFinite(n) &&
    (!opts.integer || Number.isInteger(n)) && (opts.min === undefined || n >= opts.min) &&
    (opts.max === undefined || n <= opts.max);
  if (!ok) {
    const kind = opts.integer ? "a whole number" : "a number";
    const range = opts.min !== undefined || opts.max !== undefined
      ? ` in [${opts.min ?? "-∞"}, ${opts.max ?? "∞"}]`
      : "";
    throw new UsageError(`--${name} must be ${kind}${range}, got "${v}"`);
  }
  return n;
}

/** A comma-separated list of whole numbers (e.g. --tokens 1,2,3); names the flag and the bad item on error. */
export function intListFlag(flags: Flags, name: string): number[] | undefined {
  const v = flags[name];
  if (typeof v !== "string") return undefined;
  if (v.trim() === "") throw new UsageError(`--${name} is empty`);
  return v.split(",").map((s, i) => {
    const n = Number(s.trim());
    if (s.trim() === "" || !Number.isInteger(n)) {
      throw new UsageError(`--${name}: item ${i} ("${s}") is not a whole number`);
    }
    return n;
  });
}

/** One of a fixed set of values. */
export function choiceFlag<T extends string>(flags: Flags, name: string, choices: readonly T[]): T {
  const v = flags[name];
  if (typeof v !== "string" || !choices.includes(v as T)) {
    throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got "${v}"`);
  }
  return v as T;
}
