/**
 * `--model org/name` end to end against a local hub (tests/cli/_hub_server.ts): downloads into huggingface_hub's
 * cache layout (checked on disk), runs offline from it with transformers' logits, resumes a cut download with a
 * Range request, says where it looked when it cannot find a model, refuses caches that point outside themselves,
 * and reads a cache laid out by hand the way huggingface_hub writes it. Plus a fixed-seed property test of the cache
 * resolver over thousands of mutated caches.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cacheFolderName, HubIdError, parseSafetensors, toFloat32, writeSafetensors } from "../../mod.ts";
import { findCachedSnapshot, hubCacheDir, HubCacheError, hubOffline, hubToken } from "../../cli/hf_cache.ts";
import { checkpointDownloadPlan } from "../../cli/hub_download.ts";
import { assertClose, exists, fixtureDir, type FixtureGolden, readGolden } from "../_golden.ts";
import { Rng } from "../fuzz/_rng.ts";
import { type CliResult, cliWith } from "./_cli.ts";
import { type HubServer, startHub } from "./_hub_server.ts";

const FIXTURE = fixtureDir("mamba1-tiny");
const TOKENIZER = fixtureDir("eval") + "/byte-tokenizer.json";
const REPO = "test-org/mamba1-tiny";
const GOLDEN = readGolden<FixtureGolden>(FIXTURE);

/** The repository the local hub serves: the mamba1-tiny fixture and a 256-id byte tokenizer. */
function repoFiles(): Record<string, Uint8Array> {
  return {
    "config.json": Deno.readFileSync(`${FIXTURE}/config.json`),
    "model.safetensors": Deno.readFileSync(`${FIXTURE}/model.safetensors`),
    "tokenizer.json": Deno.readFileSync(TOKENIZER),
    "README.md": new TextEncoder().encode("# not needed by a checkpoint: never downloaded\n"),
  };
}

/** Environment for the CLI: HF_HOME in `home`, the hub at `endpoint`, nothing from the user's own settings. */
function hfEnv(home: string, endpoint: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HF_HOME: home,
    HF_ENDPOINT: endpoint,
    HF_HUB_CACHE: "",
    HUGGINGFACE_HUB_CACHE: "",
    HF_TOKEN: "",
    HF_TOKEN_PATH: "",
    HF_HUB_OFFLINE: "",
    ...extra,
  };
}

/** `logits` of the golden prompt on WASM. */
function logitsArgs(model: string, ...more: string[]): string[] {
  return ["logits", "--model", model, "--tokens", GOLDEN.input_ids.join(","), "--backend", "wasm", ...more];
}

/** Asserts a logits run succeeded with transformers' logits. */
function assertGolden(r: CliResult, what: string): void {
  assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.shape, [37, 256], what);
  assertClose(out.logits.flat(), GOLDEN.logits.flat(), what);
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "perfmamba-hub-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function withHub(fn: (hub: HubServer) => Promise<void>, token?: string): Promise<void> {
  const hub = await startHub({ repo: REPO, files: repoFiles(), token });
  try {
    await fn(hub);
  } finally {
    await hub.close();
  }
}

/** A port nothing listens on (bound, then released). */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("hub cache: --model org/name downloads into huggingface_hub's layout, then runs offline from it", async () => {
  await withTemp(async (home) => {
    const repoDir = join(home, "hub", cacheFolderName(REPO));
    let sha = "";
    await withHub(async (hub) => {
      sha = hub.sha;
      assertGolden(await cliWith({ env: hfEnv(home, hub.url) }, ...logitsArgs(REPO)), "first run (download)");
      // The layout on disk, exactly.
      assert.equal(Deno.readTextFileSync(join(repoDir, "refs", "main")), hub.sha);
      const snap = join(repoDir, "snapshots", hub.sha);
      const expected: Record<string, string> = {
        "config.json": await hub.gitHash("config.json"),
        "model.safetensors": await hub.sha256("model.safetensors"),
        "tokenizer.json": await hub.gitHash("tokenizer.json"),
      };
      const entries = [...Deno.readDirSync(snap)].map((e) => e.name).sort();
      assert.deepEqual(entries, Object.keys(expected).sort(), "snapshot files (README.md not needed)");
      for (const [file, blob] of Object.entries(expected)) {
        assert.ok(Deno.lstatSync(join(snap, file)).isSymlink, `${file} is a symlink`);
        assert.equal(Deno.readLinkSync(join(snap, file)), `../../blobs/${blob}`, file);
        assert.deepEqual(Deno.readFileSync(join(repoDir, "blobs", blob)), repoFiles()[file], `${file} bytes`);
      }
      assert.deepEqual(
        [...Deno.readDirSync(join(repoDir, "blobs"))].map((e) => e.name).sort(),
        [
          ...new Set(Object.values(expected)),
        ].sort(),
        "blobs: no .incomplete left",
      );
      assert.ok(hub.seen.some((s) => s.path === `/api/models/${REPO}/revision/main`), "asked the model API");
      assert.ok(hub.seen.some((s) => s.path.startsWith("/cdn/")), "followed the LFS redirect to the CDN");
      assert.ok(!hub.seen.some((s) => s.path.endsWith("README.md")), "downloads only what a checkpoint needs");

      // Second run online: nothing downloaded again (the API is asked for main's commit, nothing else).
      const before = hub.seen.length;
      assertGolden(await cliWith({ env: hfEnv(home, hub.url) }, ...logitsArgs(REPO)), "second run (cached)");
      assert.deepEqual(hub.seen.slice(before).map((s) => s.path), [`/api/models/${REPO}/revision/main`]);
    });
    // The server is gone: offline from the cache, by HF_HUB_OFFLINE, by a commit hash, and when the network fails.
    const dead = `http://127.0.0.1:${closedPort()}`;
    assertGolden(
      await cliWith({ env: hfEnv(home, dead, { HF_HUB_OFFLINE: "1" }) }, ...logitsArgs(REPO)),
      "HF_HUB_OFFLINE=1",
    );
    assertGolden(await cliWith({ env: hfEnv(home, dead) }, ...logitsArgs(REPO, "--revision", sha)), "--revision sha");
    assertGolden(await cliWith({ env: hfEnv(home, dead) }, ...logitsArgs(`${REPO}@${sha}`)), "org/name@sha");
    const fallback = await cliWith({ env: hfEnv(home, dead) }, ...logitsArgs(REPO));
    assertGolden(fallback, "network down: the cached snapshot");
    assert.match(fallback.stderr, /network error .*using the cached snapshot/);
  });
});

/** The mamba1-tiny fixture as an index and two shards (layer 0 in a.safetensors, the rest in b.safetensors). */
function shardedRepo(): Record<string, Uint8Array> {
  const file = parseSafetensors(Deno.readFileSync(`${FIXTURE}/model.safetensors`), "fixture");
  const all = [...file.tensors.values()].map((r) => ({ name: r.name, shape: r.shape, data: toFloat32(r) }));
  const first = all.filter((t) => t.name.includes("layers.0."));
  const rest = all.filter((t) => !t.name.includes("layers.0."));
  const weightMap = Object.fromEntries([
    ...first.map((t) => [t.name, "a.safetensors"]),
    ...rest.map((t) => [t.name, "b.safetensors"]),
  ]);
  return {
    "config.json": Deno.readFileSync(`${FIXTURE}/config.json`),
    "model.safetensors.index.json": new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: weightMap })),
    "a.safetensors": writeSafetensors(first),
    "b.safetensors": writeSafetensors(rest),
    "unused.safetensors": writeSafetensors(first),
  };
}

Deno.test("hub cache: a sharded repository downloads the index and the shards it lists; pytorch_model.bin too", async () => {
  await withTemp(async (home) => {
    const hub = await startHub({ repo: "test-org/sharded", files: shardedRepo() });
    try {
      assertGolden(await cliWith({ env: hfEnv(home, hub.url) }, ...logitsArgs("test-org/sharded")), "sharded");
      const snap = join(home, "hub", cacheFolderName("test-org/sharded"), "snapshots", hub.sha);
      assert.deepEqual([...Deno.readDirSync(snap)].map((e) => e.name).sort(), [
        "a.safetensors",
        "b.safetensors",
        "config.json",
        "model.safetensors.index.json",
      ]);
    } finally {
      await hub.close();
    }
    // A state-spaces repository with pytorch_model.bin: the same logits as its folder.
    const torchDir = fixtureDir("ssm-mamba1-tiny");
    const torch = await startHub({
      repo: "test-org/torch",
      files: {
        "config.json": Deno.readFileSync(`${torchDir}/config.json`),
        "pytorch_model.bin": Deno.readFileSync(`${torchDir}/pytorch_model.bin`),
      },
    });
    try {
      const fromHub = await cliWith({ env: hfEnv(home, torch.url) }, ...logitsArgs("test-org/torch"));
      const fromFolder = await cliWith({}, ...logitsArgs(torchDir));
      assert.equal(fromHub.code, 0, fromHub.stderr);
      assert.equal(fromFolder.code, 0, fromFolder.stderr);
      assert.equal(fromHub.stdout, fromFolder.stdout);
    } finally {
      await torch.close();
    }
  });
});

Deno.test("hub cache: a hostile hub (ETag paths, size lies, shards outside the repo) is refused, naming file and URL", async () => {
  await withTemp(async (home) => {
    const cases: [Partial<Parameters<typeof startHub>[0]>, RegExp][] = [
      [
        { etags: { "config.json": '"../../../evil"' } },
        /config\.json: .*ETag "\\"\.\.\/\.\.\/\.\.\/evil\\"" is not a plain blob name/,
      ],
      [{ etags: { "model.safetensors": '"a/b"' } }, /model\.safetensors: .*is not a plain blob name/],
      [{ sizes: { "model.safetensors": 1000 } }, /model\.safetensors: .*329624 bytes but the hub announced 1000/],
      [{
        files: {
          "config.json": Deno.readFileSync(`${FIXTURE}/config.json`),
          "model.safetensors.index.json": new TextEncoder().encode(
            JSON.stringify({ weight_map: { "backbone.norm_f.weight": "../../../../x.safetensors" } }),
          ),
        },
      }, /model\.safetensors\.index\.json: file name "\.\.\/\.\.\/\.\.\/\.\.\/x\.safetensors" is not a plain relative/],
      [{
        files: {
          "config.json": Deno.readFileSync(`${FIXTURE}/config.json`),
          "model.safetensors.index.json": new TextEncoder().encode(
            JSON.stringify({ weight_map: { "backbone.norm_f.weight": "elsewhere.safetensors" } }),
          ),
        },
      }, /shard "elsewhere\.safetensors" is not a file of the repository/],
    ];
    for (const [options, pattern] of cases) {
      const hub = await startHub({ repo: REPO, files: repoFiles(), ...options });
      try {
        const r = await cliWith({ env: hfEnv(home, hub.url) }, ...logitsArgs(REPO));
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, pattern);
        assert.ok(r.stderr.includes(REPO), "names the repository");
      } finally {
        await hub.close();
      }
      // Nothing was written outside the cache's repository folder, and nothing partial is under snapshots/.
      const repoDir = join(home, "hub", cacheFolderName(REPO));
      const written = [...Deno.readDirSync(home)].map((e) => e.name);
      assert.ok(written.every((n) => n === "hub"), written.join());
      if (written.length > 0) {
        assert.deepEqual([...Deno.readDirSync(join(home, "hub"))].map((e) => e.name), [cacheFolderName(REPO)]);
        assert.ok(!exists(join(repoDir, "refs", "main")), "no ref to a failed download");
        const snaps = join(repoDir, "snapshots");
        for (const snap of exists(snaps) ? Deno.readDirSync(snaps) : []) {
          for (const f of Deno.readDirSync(join(snaps, snap.name))) {
            assert.ok(Deno.statSync(join(snaps, snap.name, f.name)).isFile, `${f.name} resolves to a whole blob`);
          }
        }
        Deno.removeSync(join(home, "hub"), { recursive: true });
      }
    }
  });
});

Deno.test("hub cache: generate and eval default to the snapshot's tokenizer.json; --tokenizer still overrides", async () => {
  await withTemp(async (home) => {
    await withHub(async (hub) => {
      const env = hfEnv(home, hub.url);
      const args = ["--prompt", "Hello", "--max-new-tokens", "6", "--backend", "wasm", "--json"];
      const fromHub = await cliWith({ env }, "generate", "--model", REPO, ...args);
      assert.equal(fromHub.code, 0, fromHub.stderr);
      const a = JSON.parse(fromHub.stdout);
      assert.deepEqual(a.prompt_tokens, [...new TextEncoder().encode("Hello")], "the byte tokenizer's ids");
      // The same model from its folder with the tokenizer named: the same continuation.
      const named = await cliWith({}, "generate", "--model", FIXTURE, "--tokenizer", TOKENIZER, ...args);
      assert.equal(named.code, 0, named.stderr);
      assert.deepEqual(a.tokens, JSON.parse(named.stdout).tokens);
      // A folder without tokenizer.json and no --tokenizer: a usage error naming the folder.
      const none = await cliWith({}, "generate", "--model", FIXTURE, ...args);
      assert.equal(none.code, 2, none.stderr);
      assert.ok(
        none.stderr.includes(`generate: no --tokenizer given and the model folder ${FIXTURE} has no tokenizer.json`),
        none.stderr,
      );
      // eval too.
      const text = join(home, "text.txt");
      Deno.writeTextFileSync(text, "The quick brown fox jumps over the lazy dog. ".repeat(4));
      const ev = await cliWith({ env }, "eval", "--model", REPO, "--text", text, "--window", "32", "--format", "json");
      assert.equal(ev.code, 0, ev.stderr);
      const evNamed = await cliWith(
        {},
        "eval",
        "--model",
        FIXTURE,
        "--tokenizer",
        TOKENIZER,
        "--text",
        text,
        "--window",
        "32",
        "--format",
        "json",
      );
      assert.equal(evNamed.code, 0, evNamed.stderr);
      assert.equal(JSON.parse(ev.stdout).perplexity, JSON.parse(evNamed.stdout).perplexity);
    });
  });
});

Deno.test("hub cache: a download cut mid-body resumes with a Range request and ends with the right bytes", async () => {
  await withTemp(async (home) => {
    await withHub(async (hub) => {
      const env = hfEnv(home, hub.url);
      hub.dropAfter.set("model.safetensors", 100_000);
      const cut = await cliWith({ env }, ...logitsArgs(REPO));
      assert.equal(cut.code, 1, cut.stderr);
      const blob = join(home, "hub", cacheFolderName(REPO), "blobs", await hub.sha256("model.safetensors"));
      assert.match(cut.stderr, /model\.safetensors: .*the download stopped after \d+ of 329624 bytes/);
      assert.ok(cut.stderr.includes(`run again to resume from ${blob}.incomplete`), cut.stderr);
      const have = Deno.statSync(`${blob}.incomplete`).size;
      assert.ok(have > 0 && have <= 100_000, `partial blob of ${have} bytes`);
      const link = join(home, "hub", cacheFolderName(REPO), "snapshots", hub.sha, "model.safetensors");
      assert.throws(() => Deno.lstatSync(link), Deno.errors.NotFound, "no partial file under snapshots/");

      const before = hub.seen.length;
      assertGolden(await cliWith({ env }, ...logitsArgs(REPO)), "resumed");
      const ranged = hub.seen.slice(before).filter((s) => s.method === "GET" && s.path.startsWith("/cdn/"));
      assert.deepEqual(ranged.map((s) => s.range), [`bytes=${have}-`], "one ranged GET from where it stopped");
      assert.deepEqual(Deno.readFileSync(blob), repoFiles()["model.safetensors"]);
      assert.throws(() => Deno.statSync(`${blob}.incomplete`), Deno.errors.NotFound);
    });
  });
});

Deno.test("hub cache: a wrong partial blob is caught by its hash (or its size) and removed; the next run is right", async () => {
  await withTemp(async (home) => {
    await withHub(async (hub) => {
      const env = hfEnv(home, hub.url);
      const blobs = join(home, "hub", cacheFolderName(REPO), "blobs");
      const blob = join(blobs, await hub.sha256("model.safetensors"));
      Deno.mkdirSync(blobs, { recursive: true });
      // A same-length prefix of other bytes: the resumed file has the right size but not the right SHA-256.
      Deno.writeFileSync(`${blob}.incomplete`, new Uint8Array(1000).fill(7));
      const bad = await cliWith({ env }, ...logitsArgs(REPO));
      assert.equal(bad.code, 1, bad.stderr);
      assert.ok(
        bad.stderr.includes(
          `not the ETag ${await hub.sha256("model.safetensors")} (SHA-256); removed ${blob}.incomplete`,
        ),
        bad.stderr,
      );
      assert.ok(!exists(`${blob}.incomplete`) && !exists(blob));
      assertGolden(await cliWith({ env }, ...logitsArgs(REPO)), "after the bad partial was removed");
      // A partial longer than the file is not a prefix of it: dropped, downloaded whole.
      Deno.removeSync(join(home, "hub"), { recursive: true });
      Deno.mkdirSync(blobs, { recursive: true });
      Deno.writeFileSync(`${blob}.incomplete`, new Uint8Array(400_000));
      assertGolden(await cliWith({ env }, ...logitsArgs(REPO)), "an over-long partial");
      assert.deepEqual(Deno.readFileSync(blob), repoFiles()["model.safetensors"]);
    });
  });
});

Deno.test("hub cache: a gated model sends HF_TOKEN (or the token file) as a Bearer header and never prints it", async () => {
  await withTemp(async (home) => {
    await withHub(async (hub) => {
      const denied = await cliWith({ env: hfEnv(home, hub.url) }, ...logitsArgs(REPO));
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /HTTP 401 .*set HF_TOKEN/);
      assert.ok(denied.stderr.includes(`/api/models/${REPO}/revision/main`), "names the URL");
      const ok = await cliWith({ env: hfEnv(home, hub.url, { HF_TOKEN: "hf_s3cret" }) }, ...logitsArgs(REPO));
      assertGolden(ok, "HF_TOKEN");
      assert.ok(!ok.stderr.includes("hf_s3cret"));
      Deno.writeTextFileSync(join(home, "token"), "hf_s3cret\n");
      Deno.removeSync(join(home, "hub"), { recursive: true });
      assertGolden(await cliWith({ env: hfEnv(home, hub.url) }, ...logitsArgs(REPO)), "HF_HOME/token");
    }, "hf_s3cret");
  });
});

Deno.test("hub cache: not cached and offline (or no network): the error lists where it looked and the URL", async () => {
  await withTemp(async (home) => {
    const dead = `http://127.0.0.1:${closedPort()}`;
    const cache = join(home, "hub");
    const refs = join(cache, cacheFolderName(REPO), "refs", "main");
    const offline = await cliWith({ env: hfEnv(home, dead, { HF_HUB_OFFLINE: "1" }) }, ...logitsArgs(REPO));
    assert.equal(offline.code, 1);
    assert.ok(offline.stderr.includes(`${REPO}@main: not in the cache and HF_HUB_OFFLINE is set`), offline.stderr);
    assert.ok(offline.stderr.includes(`looked in the Hugging Face cache ${cache} (from HF_HOME/hub): ${refs}`));
    const down = await cliWith({ env: hfEnv(home, dead) }, ...logitsArgs(REPO));
    assert.equal(down.code, 1);
    assert.ok(down.stderr.includes(`${dead}/api/models/${REPO}/revision/main: network error`), down.stderr);
    assert.ok(down.stderr.includes(`not in the cache either: looked in the Hugging Face cache ${cache}`));
    // HF_HUB_CACHE wins over HF_HOME.
    const other = join(home, "elsewhere");
    const hubCache = await cliWith(
      { env: hfEnv(home, dead, { HF_HUB_OFFLINE: "1", HF_HUB_CACHE: other }) },
      ...logitsArgs(REPO),
    );
    assert.ok(hubCache.stderr.includes(`looked in the Hugging Face cache ${other} (from HF_HUB_CACHE)`));
    // A 404 from the hub names the URL.
    await withHub(async (hub) => {
      const missing = await cliWith({ env: hfEnv(home, hub.url) }, ...logitsArgs("test-org/no-such-model"));
      assert.equal(missing.code, 1);
      assert.ok(
        missing.stderr.includes(`${hub.url}/api/models/test-org/no-such-model/revision/main: HTTP 404`),
        missing.stderr,
      );
    });
  });
});

/** Writes a cache by hand the way huggingface_hub lays it out; returns the repository folder and the commit. */
function handMadeCache(
  cache: string,
  commit = "0123456789abcdef0123456789abcdef01234567",
  copy: (from: string, to: string) => void = Deno.copyFileSync,
): string {
  const repoDir = join(cache, cacheFolderName(REPO));
  Deno.mkdirSync(join(repoDir, "blobs"), { recursive: true });
  Deno.mkdirSync(join(repoDir, "refs"), { recursive: true });
  Deno.mkdirSync(join(repoDir, "snapshots", commit), { recursive: true });
  Deno.writeTextFileSync(join(repoDir, "refs", "main"), commit); // huggingface_hub writes no newline
  for (const [file, blob] of [["config.json", "aaaa1111"], ["model.safetensors", "bbbb2222"]]) {
    copy(join(FIXTURE, file), join(repoDir, "blobs", blob));
    Deno.symlinkSync(`../../blobs/${blob}`, join(repoDir, "snapshots", commit, file));
  }
  return repoDir;
}

Deno.test("hub cache: a cache laid out by hand like huggingface_hub's resolves through refs/main", async () => {
  await withTemp(async (home) => {
    const commit = "0123456789abcdef0123456789abcdef01234567";
    handMadeCache(join(home, "hub"), commit);
    const env = hfEnv(home, "http://127.0.0.1:1", { HF_HUB_OFFLINE: "1" });
    assertGolden(await cliWith({ env }, ...logitsArgs(REPO)), "hand-made cache");
    assertGolden(await cliWith({ env }, ...logitsArgs(REPO, "--revision", commit)), "--revision commit");
    // XDG_CACHE_HOME when HF_HOME is not set.
    const xdg = await cliWith({ env: { ...env, HF_HOME: "", XDG_CACHE_HOME: join(home, "xdg") } }, ...logitsArgs(REPO));
    assert.ok(xdg.stderr.includes(`${join(home, "xdg", "huggingface", "hub")} (from XDG_CACHE_HOME/huggingface/hub)`));
  });
});

Deno.test("hub cache: an existing folder always wins over a model id of the same name", async () => {
  await withTemp(async (dir) => {
    Deno.mkdirSync(join(dir, "test-org", "mamba1-tiny"), { recursive: true });
    for (const f of ["config.json", "model.safetensors"]) {
      Deno.copyFileSync(join(FIXTURE, f), join(dir, "test-org", "mamba1-tiny", f));
    }
    const env = hfEnv(join(dir, "empty-home"), "http://127.0.0.1:1", { HF_HUB_OFFLINE: "1" });
    assertGolden(await cliWith({ env, cwd: dir }, ...logitsArgs(REPO)), "the folder test-org/mamba1-tiny");
    const rev = await cliWith({ env, cwd: dir }, ...logitsArgs(REPO, "--revision", "main"));
    assert.equal(rev.code, 2);
    assert.match(rev.stderr, /--revision applies to a model id, but test-org\/mamba1-tiny is a folder/);
  });
});

Deno.test("hub cache: bad ids and hostile caches are refused with named errors, reading nothing outside", async () => {
  await withTemp(async (home) => {
    const env = hfEnv(home, "http://127.0.0.1:1", { HF_HUB_OFFLINE: "1" });
    const outside = join(home, "outside");
    Deno.mkdirSync(outside);
    const fifo = join(outside, "fifo");
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.equal(mk.code, 0, "mkfifo failed");
    Deno.copyFileSync(join(FIXTURE, "config.json"), join(outside, "config.json"));

    for (
      const [model, pattern] of [
        ["a/../b", /a\/\.\.\/b: no such checkpoint directory, and not a Hugging Face model id .*2 "\/" instead of one/],
        ["org/x..y", /not a Hugging Face model id .*"--" or "\.\." in the name/],
        ["org--a/b", /not a Hugging Face model id .*"--" or "\.\." in the owner/],
        ["/no/such/dir", /no such checkpoint directory, and not a Hugging Face model id .*3 "\/" instead of one/],
        ["org/na me", /not a Hugging Face model id .*characters other than/],
        ["org/name@../../x", /revision "\.\.\/\.\.\/x" is not valid/],
      ] as const
    ) {
      const r = await cliWith({ env, cwd: home }, ...logitsArgs(model));
      assert.equal(r.code, 1, `${model}: ${r.stderr}`);
      assert.match(r.stderr, pattern, model);
    }

    const cache = join(home, "hub");
    const cases: [string, (repoDir: string) => void, RegExp][] = [
      [
        "refs/main = ../../x",
        (d) => Deno.writeTextFileSync(join(d, "refs", "main"), "../../x"),
        /refs\/main: holds "\.\.\/\.\.\/x", not a 40-hex commit hash/,
      ],
      [
        "refs/main not hex",
        (d) => Deno.writeTextFileSync(join(d, "refs", "main"), "zz".repeat(20)),
        /not a 40-hex commit hash/,
      ],
      ["refs/main → a FIFO outside", (d) => {
        Deno.removeSync(join(d, "refs", "main"));
        Deno.symlinkSync(fifo, join(d, "refs", "main"));
      }, /refs\/main: a symlink to .*outside\/fifo, outside the cache's model folder/],
      ["config.json → a file outside", (d) => {
        const link = join(d, "snapshots", "0123456789abcdef0123456789abcdef01234567", "config.json");
        Deno.removeSync(link);
        Deno.symlinkSync(join(outside, "config.json"), link);
      }, /config\.json: a symlink to .*outside\/config\.json, outside the cache's model folder/],
      ["snapshot folder → outside", (d) => {
        const snap = join(d, "snapshots", "0123456789abcdef0123456789abcdef01234567");
        Deno.removeSync(snap, { recursive: true });
        Deno.symlinkSync(outside, snap);
      }, /a symlink to .*outside, outside the cache's snapshots folder/],
      ["a dangling snapshot symlink", (d) => {
        Deno.removeSync(join(d, "blobs", "bbbb2222"));
      }, /model\.safetensors: a dangling symlink \(to \.\.\/\.\.\/blobs\/bbbb2222\)/],
    ];
    for (const [what, damage, pattern] of cases) {
      await Deno.remove(cache, { recursive: true }).catch(() => {}); // a fresh cache per case
      damage(handMadeCache(cache));
      const started = performance.now();
      const r = await cliWith({ env }, ...logitsArgs(REPO));
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, pattern, what);
      assert.ok(performance.now() - started < 60_000, `${what}: did not block`);
    }
  });
});

Deno.test("hub cache: where the cache, the token and offline mode come from (huggingface_hub's rules)", () => {
  const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });
  assert.deepEqual(hubCacheDir(env({ HOME: "/h" })), {
    dir: "/h/.cache/huggingface/hub",
    from: "~/.cache/huggingface/hub",
  });
  assert.deepEqual(hubCacheDir(env({ HOME: "/h", XDG_CACHE_HOME: "/x" })).dir, "/x/huggingface/hub");
  assert.deepEqual(hubCacheDir(env({ HOME: "/h", XDG_CACHE_HOME: "/x", HF_HOME: "/hf" })).dir, "/hf/hub");
  assert.deepEqual(hubCacheDir(env({ HF_HOME: "/hf", HF_HUB_CACHE: "/c" })), { dir: "/c", from: "HF_HUB_CACHE" });
  assert.deepEqual(hubCacheDir(env({ HF_HOME: "/hf", HUGGINGFACE_HUB_CACHE: "/l" })).dir, "/l");
  for (const v of ["1", "ON", "yes", "True"]) assert.equal(hubOffline(env({ HF_HUB_OFFLINE: v })), true, v);
  for (const v of ["", "0", "false", "off"]) assert.equal(hubOffline(env({ HF_HUB_OFFLINE: v })), false, v);
  assert.equal(hubToken(env({ HF_TOKEN: " hf_x\n" })), "hf_x");
  assert.equal(hubToken(env({ HF_HOME: "/nonexistent-perfmamba" })), undefined);
  assert.deepEqual(checkpointDownloadPlan(["config.json", "model.safetensors", "pytorch_model.bin", "x"]), {
    files: ["config.json", "model.safetensors"],
  });
  assert.deepEqual(checkpointDownloadPlan(["config.json", "model.safetensors.index.json", "tokenizer.json"]), {
    files: ["config.json", "model.safetensors.index.json", "tokenizer.json"],
    index: "model.safetensors.index.json",
  });
  assert.throws(() => checkpointDownloadPlan(["model.safetensors"]), /no config\.json/);
  assert.throws(() => checkpointDownloadPlan(["config.json", "README.md"]), /none of model\.safetensors/);
});

/** One random mutation of a hand-made cache: refs contents, snapshot layout, symlink targets. */
function mutateCache(rng: Rng, repoDir: string, outside: string): void {
  const commit = "0123456789abcdef0123456789abcdef01234567";
  const snap = join(repoDir, "snapshots", commit);
  const targets = [
    join(outside, "config.json"),
    outside,
    "../../blobs/aaaa1111",
    "../../blobs/bbbb2222",
    "../../../outside/config.json",
    "../../../../outside/config.json",
    "../../refs/main",
    "../..",
    "/dev/null",
    "nonexistent",
    ".",
  ];
  const n = rng.int(1, 3);
  for (let i = 0; i < n; i++) {
    switch (rng.int(0, 5)) {
      case 0: { // refs/main contents: a mutated commit, a path, bytes, whitespace
        const choices = [
          commit.slice(0, rng.int(0, 40)),
          commit.toUpperCase(),
          `${commit}\n`,
          `  ${commit}  `,
          "../../x",
          `${commit}${commit}`,
          String.fromCharCode(...Array.from({ length: rng.int(0, 60) }, () => rng.int(0, 255))),
          "1".repeat(rng.int(0, 1000)),
        ];
        Deno.writeTextFileSync(join(repoDir, "refs", "main"), rng.pick(choices));
        break;
      }
      case 1: { // refs/main becomes a symlink
        Deno.removeSync(join(repoDir, "refs", "main"), { recursive: true });
        Deno.symlinkSync(rng.pick(targets), join(repoDir, "refs", "main"));
        break;
      }
      case 2: { // a snapshot file points elsewhere
        const file = join(snap, rng.pick(["config.json", "model.safetensors", "extra.json"]));
        try {
          Deno.removeSync(file, { recursive: true });
        } catch { /* absent */ }
        Deno.symlinkSync(rng.pick(targets), file);
        break;
      }
      case 3: { // the snapshot folder is a symlink, a file or gone
        Deno.removeSync(snap, { recursive: true });
        const what = rng.int(0, 2);
        if (what === 0) Deno.symlinkSync(rng.pick(targets), snap);
        if (what === 1) Deno.writeTextFileSync(snap, "not a folder");
        break;
      }
      case 4: { // a subfolder in the snapshot with a symlink in it
        Deno.mkdirSync(join(snap, "sub"), { recursive: true });
        Deno.symlinkSync(rng.pick(targets), join(snap, "sub", `f${i}`));
        break;
      }
      default: { // refs/main is a folder, or gone
        Deno.removeSync(join(repoDir, "refs", "main"), { recursive: true });
        if (rng.chance(0.5)) Deno.mkdirSync(join(repoDir, "refs", "main"));
      }
    }
  }
}

Deno.test("hub cache: fixed-seed property test of the resolver over 2000 mutated caches", () => {
  const root = Deno.makeTempDirSync({ prefix: "perfmamba-hubprop-" });
  try {
    const outside = join(root, "outside");
    Deno.mkdirSync(outside);
    Deno.copyFileSync(join(FIXTURE, "config.json"), join(outside, "config.json"));
    const cache = join(root, "cache");
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 2000; i++) {
      try {
        Deno.removeSync(cache, { recursive: true });
      } catch { /* first case */ }
      const repoDir = handMadeCache(cache, undefined, (_, to) => Deno.writeTextFileSync(to, "{}"));
      try {
        mutateCache(Rng.forCase(20261205, 15, i), repoDir, outside);
      } catch {
        continue; // a mutation the file system refused (e.g. a symlink over a folder): nothing to resolve
      }
      let result;
      try {
        result = findCachedSnapshot(cache, REPO, "main");
      } catch (e) {
        const named = e instanceof HubCacheError || e instanceof HubIdError;
        assert.ok(named, `case ${i}: ${(e as Error).name}: ${(e as Error).message}`);
        outcomes.refused = (outcomes.refused ?? 0) + 1;
        continue;
      }
      if (result === null) {
        outcomes.absent = (outcomes.absent ?? 0) + 1;
        continue;
      }
      // Found: every file it offers resolves inside the repository folder.
      const repoReal = Deno.realPathSync(repoDir);
      const walk = (dir: string): void => {
        for (const entry of Deno.readDirSync(dir)) {
          const real = Deno.realPathSync(join(dir, entry.name));
          assert.ok(real === repoReal || real.startsWith(repoReal + "/"), `case ${i}: ${entry.name} → ${real}`);
          if (entry.isDirectory) walk(join(dir, entry.name));
        }
      };
      walk(result.dir);
      assert.match(result.commit, /^[0-9a-f]{40}$/);
      outcomes.found = (outcomes.found ?? 0) + 1;
    }
    // Every outcome happened (the mutations reach all three), and most are refusals.
    assert.ok(outcomes.found > 0 && outcomes.absent > 0 && outcomes.refused > 500, JSON.stringify(outcomes));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
