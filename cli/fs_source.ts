/**
 * A {@link CheckpointSource} over a local directory, for Deno (needs `--allow-read`).
 *
 * Only regular files are read, each exactly as long as `stat` said (a FIFO is never opened, `/dev/zero` never
 * read), and only files whose real path lies inside the model folder, unless `followSymlinks` is set: see
 * {@link dirSource}.
 *
 * @module
 */

import { checkpointFileSegments, type CheckpointSource } from "../mod.ts";

/** Options of {@link dirSource}. */
export interface DirSourceOptions {
  /**
   * Read files whose real path (after symlinks) lies outside the model folder (default false; the CLI's
   * `--follow-symlinks`). Only regular files are read either way.
   */
  followSymlinks?: boolean;
}

/** The most bytes a text file of a checkpoint (config.json, the index) may have: 64 MiB. */
export const MAX_TEXT_BYTES = 64 * 2 ** 20;

/** `dir/name` (a trailing slash of `dir` is not doubled). */
function pathOf(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/** Wraps a Deno file-system error with the full path. */
function fsError(path: string, e: unknown): Error {
  if (e instanceof Deno.errors.NotFound) return new Error(`${path}: no such file`);
  return new Error(`${path}: cannot read (${(e as Error).message})`);
}

/** What a non-regular file is, for messages. */
function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

const SEP = Deno.build.os === "windows" ? "\\" : "/";

/** Whether real path `path` is `root` or lies under it. */
function inside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(SEP) ? root : root + SEP);
}

/**
 * The real folders whose files a checkpoint folder may read without `followSymlinks`: the folder itself, and for a
 * Hugging Face cache snapshot (`…/models--org--name/snapshots/<revision>/`, whose files are symlinks to
 * `../../blobs/<hash>`) that repository's `blobs/` folder.
 */
function allowedRoots(root: string): string[] {
  const parts = root.split(SEP);
  if (parts.length < 3 || parts[parts.length - 2] !== "snapshots") return [root];
  try {
    return [root, Deno.realPathSync(parts.slice(0, -2).join(SEP) + `${SEP}blobs`)];
  } catch {
    return [root];
  }
}

/** Exactly `size` bytes of regular file `real` (`path` in messages); refuses a file that is no longer that file. */
async function readExactly(path: string, real: string, size: number): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(real, { read: true });
  } catch (e) {
    throw fsError(path, e);
  }
  try {
    const now = await file.stat();
    if (!now.isFile || now.size !== size) throw new Error(`${path}: changed while being opened`);
    const out = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const n = await file.read(out.subarray(at));
      if (n === null) throw new Error(`${path}: shorter than its ${size} bytes (changed while being read)`);
      at += n;
    }
    if ((await file.read(new Uint8Array(1))) !== null) {
      throw new Error(`${path}: longer than its ${size} bytes (changed while being read)`);
    }
    return out;
  } catch (e) {
    if (e instanceof Error && e.message.startsWith(`${path}: `)) throw e;
    throw fsError(path, e);
  } finally {
    file.close();
  }
}

/**
 * The bytes of one regular file named by the user (e.g. `--model model.gguf`): symlinks are followed (the user
 * named the file), but only a regular file is read, exactly as long as `stat` said (a FIFO is never opened).
 *
 * @param path the file's path
 * @returns its bytes
 * @throws Error naming the path: no such file, not a regular file, unreadable, or changed while being read
 */
export async function readRegularFile(path: string): Promise<Uint8Array> {
  let real: string;
  let info: Deno.FileInfo;
  try {
    real = await Deno.realPath(path);
    info = await Deno.stat(real); // stat, not open: opening a FIFO blocks
  } catch (e) {
    throw fsError(path, e);
  }
  if (!info.isFile) throw new Error(`${path}: ${kindOf(info)}${real === path ? "" : ` (${real})`}, not a regular file`);
  return await readExactly(path, real, info.size);
}

/**
 * A checkpoint directory on the local file system.
 *
 * Safe on a folder you did not write yourself: file names must pass `checkpointFileSegments` (no `..`, absolute
 * paths, …); only regular files are read (a FIFO, a device such as `/dev/zero`, a socket or a directory is refused
 * by its `stat`, before any open), exactly as many bytes as `stat` reported (a file that changes meanwhile is
 * refused), text files (config.json, the index) up to {@link MAX_TEXT_BYTES}; and a file whose real path (after
 * symlinks, in the file name or the folders of a shard's subfolder) lies outside the folder's real path is refused
 * unless `options.followSymlinks` is set. A Hugging Face cache snapshot folder
 * (`~/.cache/huggingface/hub/models--org--name/snapshots/<revision>`) works without it: its symlinks into that
 * repository's `blobs/` folder are allowed.
 *
 * @param dir path of the directory holding config.json and the weights
 * @param options `followSymlinks`: also read files whose symlinks lead outside the folder
 * @returns a source whose errors name full paths (never file contents)
 * @throws Error when `dir` does not exist, is not a directory, or has no config.json
 */
export function dirSource(dir: string, options: DirSourceOptions = {}): CheckpointSource {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${dir}: no such checkpoint directory`);
    throw fsError(dir, e);
  }
  if (!info.isDirectory) throw new Error(`${dir}: not a directory (expected a checkpoint directory)`);
  const config = pathOf(dir, "config.json");
  try {
    Deno.statSync(config);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${dir}: no config.json (not a model checkpoint directory)`);
    throw fsError(config, e);
  }
  const root = Deno.realPathSync(dir);
  const roots = allowedRoots(root);
  const follow = options.followSymlinks === true;

  /** The full path of a checked file name. */
  const pathFor = (name: string): string => {
    try {
      checkpointFileSegments(name);
    } catch (e) {
      throw new Error(`${dir}: ${(e as Error).message}`);
    }
    return pathOf(dir, name);
  };

  /** The real path and size of a regular file inside the folder (or anywhere with `followSymlinks`). */
  const resolve = async (name: string): Promise<{ path: string; real: string; size: number }> => {
    const path = pathFor(name);
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch (e) {
      throw fsError(path, e);
    }
    if (!follow && !roots.some((r) => inside(real, r))) {
      throw new Error(
        `${path}: a symlink to ${real}, outside the model folder ${root}; to read it anyway, pass ` +
          `--follow-symlinks (dirSource(dir, { followSymlinks: true }))`,
      );
    }
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(real); // stat, not open: opening a FIFO blocks
    } catch (e) {
      throw fsError(path, e);
    }
    if (!info.isFile) {
      throw new Error(`${path}: ${kindOf(info)}${real === path ? "" : ` (${real})`}, not a regular file`);
    }
    return { path, real, size: info.size };
  };

  return {
    describe: () => dir,
    async list(): Promise<string[]> {
      const names: string[] = [];
      for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
      return names.sort();
    },
    async readText(name: string): Promise<string> {
      const { path, real, size } = await resolve(name);
      if (size > MAX_TEXT_BYTES) {
        throw new Error(`${path}: ${size} bytes, more than the ${MAX_TEXT_BYTES} a config or index file may have`);
      }
      return new TextDecoder().decode(await readExactly(path, real, size));
    },
    async readBytes(name: string): Promise<Uint8Array> {
      const { path, real, size } = await resolve(name);
      return await readExactly(path, real, size);
    },
    /** True for anything at that name but a directory (reading then says what is wrong with it). */
    async exists(name: string): Promise<boolean> {
      const path = pathFor(name);
      try {
        return !(await Deno.stat(path)).isDirectory;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return false;
        throw fsError(path, e);
      }
    },
  };
}
