/**
 * Checkpoint sources on hostile input (issue 14, items 1, 4, 5): shard names that leave the checkpoint's URL or
 * folder, FIFOs and devices, symlinks out of the model folder, and JSON errors that must not echo file contents.
 */
import assert from "node:assert/strict";
import {
  checkpointFileSegments,
  loadCheckpoint,
  loadWeights,
  memorySource,
  urlSource,
} from "../../runtime/checkpoint.ts";
import { parseConfigText } from "../../runtime/config_parse.ts";
import { jsonErrorPosition } from "../../runtime/json_position.ts";
import { dirSource } from "../../cli/fs_source.ts";
import { cli } from "../cli/_cli.ts";

const fixtureDir = (name: string): string => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const FIXTURE = fixtureDir("mamba1-tiny");

/** Names an index may hold that lead outside the checkpoint (raw, percent-encoded, URL and path tricks). */
const HOSTILE = [
  "%2e%2e/x",
  ".%2e/x",
  "%2E%2E/x",
  "../x",
  "..",
  ".",
  "./x",
  "a/../../x",
  "a/%2e%2e/%2e%2e/x",
  "a%2f..%2f..%2fx",
  "https://evil/x",
  "http:x",
  "//host/x",
  "/path",
  "%2fpath",
  "\\\\host\\x",
  "/\\host/x",
  "a\\..\\..\\x",
  "file:///etc/passwd",
  "C:/x",
  "x?y=1",
  "x#frag",
  "x%3fy",
  "%252e%252e/x",
  "x\u0000y",
  "x%00y",
  "x\ny",
  "",
  "a//b",
  "a/",
  "%zz",
];

/** A two-shard copy of the mamba1-tiny fixture: files by name (tensor names 0..k in a.safetensors, the rest in b). */
async function shardedFiles(subfolder = ""): Promise<Record<string, Uint8Array>> {
  const { writeSafetensors, parseSafetensors, toFloat32 } = await import("../../runtime/safetensors.ts");
  const file = parseSafetensors(await Deno.readFile(`${FIXTURE}/model.safetensors`), "fixture");
  const all = [...file.tensors.values()].map((r) => ({ name: r.name, shape: r.shape, data: toFloat32(r) }));
  const first = all.filter((t) => t.name.includes("layers.0"));
  const rest = all.filter((t) => !t.name.includes("layers.0"));
  const a = `${subfolder}a.safetensors`, b = `${subfolder}b.safetensors`;
  const weightMap = Object.fromEntries([...first.map((t) => [t.name, a]), ...rest.map((t) => [t.name, b])]);
  const enc = (s: string) => new TextEncoder().encode(s);
  return {
    "config.json": await Deno.readFile(`${FIXTURE}/config.json`),
    "model.safetensors.index.json": enc(JSON.stringify({ metadata: {}, weight_map: weightMap })),
    [a]: writeSafetensors(first),
    [b]: writeSafetensors(rest),
  };
}

/** An index placing tensor `backbone.norm_f.weight` in shard `name`. */
function hostileIndex(name: string): string {
  return JSON.stringify({ weight_map: { "backbone.norm_f.weight": name } });
}

/** A fake server over `files` that records every URL asked for. */
function recordingFetch(files: Record<string, Uint8Array>, requested: string[]): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input);
    requested.push(url.href);
    const prefix = "/ckpt/";
    const name = url.pathname.startsWith(prefix) ? decodeURIComponent(url.pathname.slice(prefix.length)) : null;
    const body = name !== null && Object.hasOwn(files, name) ? files[name] : undefined;
    if (body === undefined) return Promise.resolve(new Response(null, { status: 404, statusText: "Not Found" }));
    return Promise.resolve(new Response(init?.method === "HEAD" ? null : body.slice()));
  };
}

const BASE = "https://models.example/ckpt/";

Deno.test("source safety: checkpointFileSegments accepts plain names and refuses every hostile one", () => {
  assert.deepEqual(checkpointFileSegments("model-00001-of-00002.safetensors"), ["model-00001-of-00002.safetensors"]);
  assert.deepEqual(checkpointFileSegments("sub/a.safetensors"), ["sub", "a.safetensors"]);
  assert.deepEqual(checkpointFileSegments("a%20b.safetensors"), ["a b.safetensors"]);
  assert.deepEqual(checkpointFileSegments("model..safetensors"), ["model..safetensors"]);
  for (const name of HOSTILE) {
    assert.throws(() => checkpointFileSegments(name), /is not a plain relative file name inside the checkpoint/, name);
  }
});

Deno.test("source safety: urlSource never requests a URL outside its base, for any index entry or name", async () => {
  const config = await Deno.readFile(`${FIXTURE}/config.json`);
  for (const name of HOSTILE) {
    const requested: string[] = [];
    const files = {
      "config.json": config,
      "model.safetensors.index.json": new TextEncoder().encode(hostileIndex(name)),
    };
    const source = urlSource("https://models.example/ckpt", recordingFetch(files, requested));
    await assert.rejects(loadCheckpoint(source), (e: Error) => {
      assert.ok(e.message.includes(`weight_map["backbone.norm_f.weight"] is ${JSON.stringify(name)}`), e.message);
      assert.ok(e.message.includes("not a plain relative file name inside the checkpoint"), e.message);
      return true;
    }, name);
    await assert.rejects(source.readBytes(name), /not a plain relative file name/, name);
    await assert.rejects(source.readText(name), /not a plain relative file name/, name);
    await assert.rejects(source.exists(name), /not a plain relative file name/, name);
    for (const url of requested) assert.ok(url.startsWith(BASE) && !url.includes("?"), `${name}: requested ${url}`);
    assert.ok(requested.length > 0);
  }
});

Deno.test("source safety: urlSource with a query in its base still stays inside; legit shards load", async () => {
  const files = await shardedFiles();
  const requested: string[] = [];
  const source = urlSource("https://models.example/ckpt/?download=true", recordingFetch(files, requested));
  const w = await loadWeights(source);
  assert.equal(w.layers.length, 2);
  assert.deepEqual(w, await loadWeights(dirSource(FIXTURE)));
  for (const url of requested) assert.ok(url.startsWith(BASE), url);
  assert.ok(requested.includes(`${BASE}a.safetensors`) && requested.includes(`${BASE}b.safetensors`));

  // Shards in a subfolder (allowed: plain segments).
  const nested = await shardedFiles("sub/");
  const nestedRequests: string[] = [];
  assert.equal((await loadWeights(urlSource(BASE, recordingFetch(nested, nestedRequests)))).layers.length, 2);
  assert.ok(nestedRequests.includes(`${BASE}sub/a.safetensors`));
});

Deno.test("source safety: memorySource and loadCheckpoint refuse hostile index names, naming the entry", async () => {
  const config = await Deno.readTextFile(`${FIXTURE}/config.json`);
  for (const name of HOSTILE) {
    const source = memorySource({ "config.json": config, "model.safetensors.index.json": hostileIndex(name) });
    await assert.rejects(
      loadCheckpoint(source),
      (e: Error) => e.message.includes(`weight_map["backbone.norm_f.weight"] is ${JSON.stringify(name)}`),
      name,
    );
    await assert.rejects(source.readBytes(name), /memory checkpoint: file name .* is not a plain relative/, name);
  }
});

/** A temp dir, removed after `body`. */
async function withTemp(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "perfmamba_source_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes a two-shard checkpoint into `dir`. */
async function writeSharded(dir: string): Promise<void> {
  for (const [name, bytes] of Object.entries(await shardedFiles())) await Deno.writeFile(`${dir}/${name}`, bytes);
}

/** Rejects within `ms` (a FIFO must not block the load). */
async function rejectsFast(p: Promise<unknown>, pattern: RegExp, ms = 5000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms (blocked?)`)), ms);
  });
  try {
    await assert.rejects(Promise.race([p, timeout]), pattern);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("source safety: dirSource refuses hostile index names without touching the file system", async () => {
  await withTemp(async (dir) => {
    await Deno.copyFile(`${FIXTURE}/config.json`, `${dir}/config.json`);
    for (const name of HOSTILE) {
      await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, hostileIndex(name));
      await assert.rejects(
        loadCheckpoint(dirSource(dir)),
        (e: Error) => e.message.includes(`weight_map["backbone.norm_f.weight"] is ${JSON.stringify(name)}`),
        name,
      );
      await assert.rejects(dirSource(dir).readBytes(name), /is not a plain relative file name/, name);
    }
  });
});

Deno.test({
  name: "source safety: a FIFO shard, a /dev/zero shard and a /dev/zero config.json fail fast, naming the file",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await withTemp(async (dir) => {
      await writeSharded(dir);
      await Deno.remove(`${dir}/b.safetensors`);
      const mk = await new Deno.Command("mkfifo", { args: [`${dir}/b.safetensors`] }).output();
      assert.equal(mk.code, 0, "mkfifo failed");
      await rejectsFast(
        loadCheckpoint(dirSource(dir)),
        new RegExp(`${dir}/b\\.safetensors: a FIFO \\(named pipe\\), not a regular file`),
      );
      await rejectsFast(
        loadCheckpoint(dirSource(dir, { followSymlinks: true })),
        new RegExp(`${dir}/b\\.safetensors: a FIFO`),
      );

      await Deno.remove(`${dir}/b.safetensors`);
      await Deno.symlink("/dev/zero", `${dir}/b.safetensors`);
      // Outside the folder: refused as such; followed: refused as a device, before any read.
      await rejectsFast(loadCheckpoint(dirSource(dir)), new RegExp(`${dir}/b\\.safetensors: a symlink to /dev/zero`));
      const before = Deno.memoryUsage().rss;
      await rejectsFast(
        loadCheckpoint(dirSource(dir, { followSymlinks: true })),
        new RegExp(`${dir}/b\\.safetensors: a character device \\(/dev/zero\\), not a regular file`),
      );
      assert.ok(Deno.memoryUsage().rss - before < 256 * 2 ** 20, "memory grew reading /dev/zero");

      await Deno.remove(`${dir}/config.json`);
      await Deno.symlink("/dev/zero", `${dir}/config.json`);
      await rejectsFast(
        loadCheckpoint(dirSource(dir, { followSymlinks: true })),
        new RegExp(`${dir}/config\\.json: a character device \\(/dev/zero\\), not a regular file`),
      );
      await Deno.remove(`${dir}/config.json`);
      await new Deno.Command("mkfifo", { args: [`${dir}/config.json`] }).output();
      await rejectsFast(loadCheckpoint(dirSource(dir)), new RegExp(`${dir}/config\\.json: a FIFO`));
    });
  },
});

Deno.test({
  name: "source safety: symlinks out of the model folder are refused unless followSymlinks; HF cache layout loads",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await withTemp(async (tmp) => {
      const outside = `${tmp}/outside`, dir = `${tmp}/model`;
      await Deno.mkdir(outside);
      await Deno.mkdir(dir);
      await writeSharded(outside);
      const reference = await loadWeights(dirSource(outside));
      const realOutside = await Deno.realPath(outside);
      const follows = /to read it anyway, pass --follow-symlinks \(dirSource\(dir, \{ followSymlinks: true \}\)\)/;

      // Each of the four files in turn is a symlink out of the folder.
      for (const name of ["config.json", "model.safetensors.index.json", "a.safetensors", "b.safetensors"]) {
        for await (const e of Deno.readDir(dir)) await Deno.remove(`${dir}/${e.name}`);
        for (const other of ["config.json", "model.safetensors.index.json", "a.safetensors", "b.safetensors"]) {
          if (other !== name) await Deno.copyFile(`${outside}/${other}`, `${dir}/${other}`);
        }
        await Deno.symlink(`${outside}/${name}`, `${dir}/${name}`);
        await assert.rejects(loadCheckpoint(dirSource(dir)), (e: Error) => {
          assert.ok(
            e.message.startsWith(`${dir}/${name}: a symlink to ${realOutside}/${name}, outside the model folder`),
            e.message,
          );
          assert.match(e.message, follows);
          return true;
        });
        assert.deepEqual(await loadWeights(dirSource(dir, { followSymlinks: true })), reference);
      }

      // A symlink inside the folder is fine.
      for await (const e of Deno.readDir(dir)) await Deno.remove(`${dir}/${e.name}`);
      await writeSharded(dir);
      await Deno.rename(`${dir}/b.safetensors`, `${dir}/b-real.safetensors`);
      await Deno.symlink("b-real.safetensors", `${dir}/b.safetensors`);
      assert.deepEqual(await loadWeights(dirSource(dir)), reference);

      // A shard subfolder that is a symlink out of the folder.
      const nested = `${tmp}/nested`;
      await Deno.mkdir(nested);
      for (const [name, bytes] of Object.entries(await shardedFiles("sub/"))) {
        const target = name.startsWith("sub/") ? `${outside}/${name.slice(4)}` : `${nested}/${name}`;
        if (!name.startsWith("sub/")) await Deno.writeFile(target, bytes);
      }
      await Deno.symlink(outside, `${nested}/sub`);
      await assert.rejects(
        loadCheckpoint(dirSource(nested)),
        new RegExp(`${nested}/sub/a\\.safetensors: a symlink to ${realOutside}/a\\.safetensors, outside`),
      );
      assert.deepEqual(await loadWeights(dirSource(nested, { followSymlinks: true })), reference);

      // Hugging Face cache: snapshots/<rev>/<file> -> ../../blobs/<hash>.
      const repo = `${tmp}/hub/models--org--tiny`;
      const snapshot = `${repo}/snapshots/0123abcd`;
      await Deno.mkdir(`${repo}/blobs`, { recursive: true });
      await Deno.mkdir(snapshot, { recursive: true });
      for (const [i, [name, bytes]] of Object.entries(await shardedFiles()).entries()) {
        await Deno.writeFile(`${repo}/blobs/hash${i}`, bytes);
        await Deno.symlink(`../../blobs/hash${i}`, `${snapshot}/${name}`);
      }
      assert.deepEqual(await loadWeights(dirSource(snapshot)), reference);
      // …but not out of the repository.
      await Deno.remove(`${snapshot}/a.safetensors`);
      await Deno.symlink(`${outside}/a.safetensors`, `${snapshot}/a.safetensors`);
      await assert.rejects(loadCheckpoint(dirSource(snapshot)), /a\.safetensors: a symlink to .*, outside the model/);
    });
  },
});

Deno.test("source safety: JSON errors in config.json and the index name the file and position, not the content", async () => {
  const secret = "TOPSECRET-7f3a";
  assert.throws(() => parseConfigText(`{"k": "${secret}" oops}`, "dir/config.json"), (e: Error) => {
    assert.equal(e.message, "dir/config.json: not valid JSON at line 1, column 24 (offset 23)");
    return true;
  });
  assert.throws(() => parseConfigText(`${secret}\nmore`, "f"), (e: Error) => !e.message.includes("TOPSECRET"));
  assert.throws(
    () => parseConfigText(`{"a": "${secret}`, "f"),
    /f: not valid JSON \(unexpected end at line 1, column 22\)/,
  );
  await withTemp(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.json`, `root:x:0:0:${secret}:/root:/bin/bash\n`);
    await assert.rejects(loadCheckpoint(dirSource(dir)), (e: Error) => {
      assert.equal(e.message, `${dir}/config.json: not valid JSON at line 1, column 1 (offset 0)`);
      return true;
    });
    await Deno.copyFile(`${FIXTURE}/config.json`, `${dir}/config.json`);
    await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, `{\n "weight_map": {${secret}}}`);
    await assert.rejects(loadCheckpoint(dirSource(dir)), (e: Error) => {
      assert.equal(e.message, `${dir}/model.safetensors.index.json: not valid JSON at line 2, column 17 (offset 18)`);
      return true;
    });
  });
});

Deno.test("source safety: jsonErrorPosition finds the first syntax error, and null for valid JSON", () => {
  for (const ok of ['{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"]}', " [] ", '{"v": NaN, "w": -Infinity}']) {
    assert.equal(jsonErrorPosition(ok), null, ok);
    if (!ok.includes("NaN")) JSON.parse(ok);
  }
  const cases: [string, number][] = [["", 0], ["{", 1], ['{"a" 1}', 5], ["[1,]", 3], ["[1] x", 4], ['"\\q"', 2]];
  for (const [text, offset] of cases) {
    assert.equal(jsonErrorPosition(text)?.offset, offset, text);
    assert.throws(() => JSON.parse(text));
  }
  assert.deepEqual(jsonErrorPosition('{\n  "a": 1,\n  x'), { offset: 14, line: 3, column: 3 });
});

Deno.test({
  name: "source safety: the CLI refuses a symlinked shard out of --model, and --follow-symlinks allows it",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await withTemp(async (tmp) => {
      const dir = `${tmp}/model`;
      await Deno.mkdir(dir);
      await Deno.copyFile(`${FIXTURE}/config.json`, `${dir}/config.json`);
      await Deno.symlink(`${FIXTURE}/model.safetensors`, `${dir}/model.safetensors`);
      const refused = await cli("info", "--model", dir);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, new RegExp(`${dir}/model\\.safetensors: a symlink to .*--follow-symlinks`));
      const allowed = await cli("info", "--model", dir, "--follow-symlinks");
      assert.equal(allowed.code, 0, allowed.stderr);
    });
  },
});
