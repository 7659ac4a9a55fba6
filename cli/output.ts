/**
 * Writing outputs without ever leaving a half-written file or overwriting the user's: write beside the target, then
 * rename; new folders are refused when something already has their name.
 *
 * An output folder is written whole into a hidden temporary sibling, `.<name>.tmp-<pid>-<8 hex>`, and renamed to
 * `<name>` when complete, so `--out` holds either nothing or the complete output, even when the run is killed. A
 * killed run leaves its temporary behind; the next run with the same `--out` removes the ones whose owner process is
 * gone (only folders matching that exact pattern, never anything else).
 */
import { basename, dirname } from "node:path";
import { UsageError } from "./args.ts";

/** Write text or bytes to `path` atomically (temp file in the same directory, then rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`cannot write ${path}: ${(e as Error).message}`);
  }
}

/** Whether anything (file, folder, link) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function split(dir: string): { parent: string; base: string } {
  const d = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  return { parent: dirname(d), base: basename(d) };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The pattern of the temporary siblings of `dir`: group 1 is the owner's pid. */
export function tempPattern(dir: string): RegExp {
  return new RegExp(`^\\.${escape(split(dir).base)}\\.tmp-(\\d+)-[0-9a-f]{8}$`);
}

/** Temporaries made by this process (never removed as stale while it runs). */
const ours = new Set<string>();

/** A fresh temporary sibling path for `dir` (not created). */
export function tempFolderFor(dir: string): string {
  const { parent, base } = split(dir);
  const rand = crypto.getRandomValues(new Uint8Array(4)).reduce((s, b) => s + b.toString(16).padStart(2, "0"), "");
  return `${parent}/.${base}.tmp-${Deno.pid}-${rand}`;
}

/** One day: where liveness of a pid cannot be read (no /proc), only temporaries this old count as stale. */
const STALE_MS = 24 * 3600 * 1000;

async function ownerGone(pid: number, path: string): Promise<boolean> {
  if (pid === Deno.pid) return !ours.has(path); // a reused pid: not one of ours, so left by a dead process
  if (Deno.build.os === "linux") return !(await exists(`/proc/${pid}`));
  const st = await Deno.lstat(path);
  return Date.now() - (st.mtime?.getTime() ?? Date.now()) > STALE_MS;
}

/**
 * Remove the temporary siblings of `dir` left by killed runs: folders named `.<name>.tmp-<pid>-<8 hex>` whose owner
 * process is no longer alive. Returns the paths removed (each also noted on stderr).
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const { parent } = split(dir);
  const re = tempPattern(dir);
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(parent));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return removed;
    throw e;
  }
  for (const e of entries) {
    const m = re.exec(e.name);
    if (!m || !e.isDirectory || e.isSymlink) continue;
    const path = `${parent}/${e.name}`;
    if (!(await ownerGone(Number(m[1]), path))) continue;
    try {
      await Deno.remove(path, { recursive: true });
      removed.push(path);
      console.error(`removed ${path}, left by an interrupted run`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err; // another run removed it first
    }
  }
  return removed;
}

/** Refuse an --out folder that already exists (checked before any work, and again when writing). */
export async function refuseExisting(dir: string): Promise<void> {
  if (await exists(dir)) throw new UsageError(`--out ${dir} already exists; choose a new folder (nothing was written)`);
}

/** What `prepareOutput` and `writeFolder` accept at the target. */
export interface OutputOptions {
  /**
   * Refuse the target with a specific message (checked first); return null to go on. Without it, anything at the
   * target is refused.
   */
  check?: (dir: string) => Promise<string | null>;
  /** Accept an existing empty folder at the target (it is replaced by the output). */
  emptyFolder?: boolean;
}

async function checkTarget(dir: string, opts: OutputOptions): Promise<void> {
  let st: Deno.FileInfo | null = null;
  try {
    st = await Deno.lstat(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (st && !st.isDirectory && opts.emptyFolder) throw new UsageError(`--out ${dir} exists and is not a folder`);
  const why = st && opts.check ? await opts.check(dir) : null;
  if (why !== null) throw new UsageError(why);
  if (!opts.emptyFolder) return await refuseExisting(dir);
  if (st === null) return;
  for await (const _ of Deno.readDir(dir)) {
    throw new UsageError(
      `--out ${dir} is a folder that is not empty; choose a new or empty folder (nothing was written)`,
    );
  }
}

/**
 * Before any work: remove temporaries of killed runs beside `dir`, then refuse a target that exists (or, with
 * `emptyFolder`, one that is not an empty folder).
 */
export async function prepareOutput(dir: string, opts: OutputOptions = {}): Promise<void> {
  await removeStaleTemps(dir);
  await checkTarget(dir, opts);
}

/**
 * Write the files of a folder into a temporary sibling (`.<name>.tmp-<pid>-<hex>`), then rename it to `dir`: `dir`
 * holds nothing or everything. Refused when `dir` exists (see `OutputOptions`); stale temporaries are removed first.
 */
export async function writeFolder(
  dir: string,
  files: Record<string, string | Uint8Array>,
  opts: OutputOptions = {},
): Promise<void> {
  await prepareOutput(dir, opts);
  await Deno.mkdir(split(dir).parent, { recursive: true });
  const tmp = tempFolderFor(dir);
  ours.add(tmp);
  await Deno.mkdir(tmp);
  try {
    for (const [name, data] of Object.entries(files)) {
      try {
        if (typeof data === "string") await Deno.writeTextFile(`${tmp}/${name}`, data);
        else await Deno.writeFile(`${tmp}/${name}`, data);
      } catch (e) {
        throw new Error(`cannot write ${dir}/${name}: ${(e as Error).message}`);
      }
    }
    if (opts.emptyFolder && await exists(dir)) await Deno.remove(dir); // only an empty folder: no recursive
    await Deno.rename(tmp, dir);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  } finally {
    ours.delete(tmp);
  }
}
