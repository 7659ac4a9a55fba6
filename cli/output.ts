/**
 * Writing outputs without ever leaving a half-written file or overwriting the user's: write beside the target, then
 * rename; new folders are refused when something already has their name.
 */
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

/** Refuse an --out folder that already exists (checked before any work, and again when writing). */
export async function refuseExisting(dir: string): Promise<void> {
  if (await exists(dir)) throw new UsageError(`--out ${dir} already exists; choose a new folder (nothing was written)`);
}

/** Write the files of a folder into a temporary sibling, then rename it to `dir` (refused when `dir` exists). */
export async function writeFolder(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  await refuseExisting(dir);
  const tmp = `${dir.replace(/\/+$/, "")}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.mkdir(tmp, { recursive: true });
  try {
    for (const [name, data] of Object.entries(files)) await writeFileAtomic(`${tmp}/${name}`, data);
    await Deno.rename(tmp, dir);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
}
