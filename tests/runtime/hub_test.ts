/**
 * runtime/hub.ts: model ids, huggingface_hub's cache names, resolve and API URLs, and hubSource against a local
 * hub (tests/cli/_hub_server.ts: a real HTTP server with the hub's redirects and headers).
 */
import assert from "node:assert/strict";
import {
  blobName,
  cacheFolderName,
  checkRevision,
  HubIdError,
  hubSource,
  isCommitHash,
  loadWeights,
  memorySource,
  modelInfoUrl,
  parseRepoId,
  resolveUrl,
} from "../../mod.ts";
import { fixtureDir } from "../_golden.ts";
import { startHub } from "../cli/_hub_server.ts";

Deno.test("hub ids: org/name[@revision] parses; paths, '..', '--', odd characters are refused with HubIdError", () => {
  assert.deepEqual(parseRepoId("state-spaces/mamba-130m-hf"), {
    org: "state-spaces",
    name: "mamba-130m-hf",
    id: "state-spaces/mamba-130m-hf",
  });
  assert.deepEqual(parseRepoId("a_b/c.d@refs/pr/1").revision, "refs/pr/1");
  const bad: [string, RegExp][] = [
    ["", /0 "\/" instead of one/],
    ["gpt2", /0 "\/" instead of one/],
    ["/etc/passwd", /2 "\/" instead of one/],
    ["./x", /"--" or "\.\." in the owner|starting or ending/],
    ["a/b/c", /2 "\/"/],
    ["../x", /"--" or "\.\." in the owner/],
    ["org/..", /"--" or "\.\." in the name/],
    ["org--x/y", /"--" or "\.\." in the owner/],
    ["org/-x", /starting or ending/],
    ["org/x.", /starting or ending/],
    ["org/na me", /characters other than/],
    ["org/n%2e", /characters other than/],
    ["org/n\u0000", /characters other than/],
    ["org/x@", /revision "" is not valid \(empty\)/],
    ["org/x@../y", /revision "\.\.\/y" is not valid/],
    ["org/x@a//b", /revision "a\/\/b" is not valid/],
    ["org/x@a b", /revision "a b" is not valid/],
    [`org/${"x".repeat(97)}`, /longer than 96/],
  ];
  for (const [input, pattern] of bad) {
    assert.throws(() => parseRepoId(input), (e: Error) => {
      assert.ok(e instanceof HubIdError, `${input}: ${e.name}`);
      assert.equal((e as HubIdError).input, input);
      assert.match(e.message, pattern, input);
      return true;
    }, input);
  }
  assert.equal(checkRevision("v1.0"), "v1.0");
  assert.throws(() => checkRevision("x".repeat(256)), HubIdError);
  assert.ok(isCommitHash("0123456789abcdef0123456789abcdef01234567"));
  assert.ok(!isCommitHash("0123456789ABCDEF0123456789abcdef01234567"));
  assert.ok(!isCommitHash("main"));
});

Deno.test("hub names: cache folders, blob names from ETags, resolve and API URLs", () => {
  assert.equal(cacheFolderName("state-spaces/mamba-130m-hf"), "models--state-spaces--mamba-130m-hf");
  assert.throws(() => cacheFolderName("a--b/c"), HubIdError);
  assert.equal(blobName('"abc123"'), "abc123");
  assert.equal(blobName('W/"abc123"'), "abc123");
  for (const hostile of ['"../x"', '"a/b"', '""', '"a b"', '".."']) assert.throws(() => blobName(hostile), /ETag/);
  assert.equal(
    resolveUrl("state-spaces/mamba-130m-hf", "config.json"),
    "https://huggingface.co/state-spaces/mamba-130m-hf/resolve/main/config.json",
  );
  assert.equal(
    resolveUrl("o/n@refs/pr/1", "sub/a b.json", { endpoint: "http://127.0.0.1:8080/" }),
    "http://127.0.0.1:8080/o/n/resolve/refs%2Fpr%2F1/sub/a%20b.json",
  );
  assert.equal(resolveUrl("o/n", "x", { revision: "v2" }), "https://huggingface.co/o/n/resolve/v2/x");
  assert.equal(
    modelInfoUrl("o/n", { endpoint: "https://hf-mirror.example/base" }),
    "https://hf-mirror.example/base/api/models/o/n/revision/main",
  );
  assert.throws(() => resolveUrl("o/n", "x", { endpoint: "file:///etc" }), /not an http\(s\) URL/);
  assert.throws(() => resolveUrl("o/n", "x", { revision: "../x" }), HubIdError);
});

Deno.test("hubSource: loads the fixture from a local hub (302 to the CDN for LFS files), with token and revision", async () => {
  const dir = fixtureDir("mamba1-tiny");
  const files = {
    "config.json": Deno.readFileSync(`${dir}/config.json`),
    "model.safetensors": Deno.readFileSync(`${dir}/model.safetensors`),
  };
  const reference = await loadWeights(memorySource(files));
  const hub = await startHub({ repo: "org/tiny", files, token: "hf_secret" });
  try {
    const source = hubSource("org/tiny", { endpoint: hub.url, token: "hf_secret" });
    assert.equal(source.describe(), `${hub.url}/org/tiny/resolve/main/`);
    assert.deepEqual(await loadWeights(source), reference);
    assert.ok(hub.seen.some((s) => s.path.startsWith("/cdn/")), "followed the redirect");
    assert.ok(hub.seen.every((s) => s.authorization === "Bearer hf_secret"));
    assert.deepEqual(
      await loadWeights(hubSource(`org/tiny@${hub.sha}`, { endpoint: hub.url, token: "hf_secret" })),
      reference,
    );

    // Without the token: the URL and the status, and the token never appears in a message.
    await assert.rejects(
      loadWeights(hubSource("org/tiny", { endpoint: hub.url })),
      (e: Error) => e.message.includes(`${hub.url}/org/tiny/resolve/main/config.json`) && /401/.test(e.message),
    );
    await assert.rejects(
      loadWeights(hubSource("org/tiny", { endpoint: hub.url, token: "hf_wrong", revision: "nope" })),
      (e: Error) => !e.message.includes("hf_wrong") && e.message.includes("/resolve/nope/"),
    );
    // A hostile name stays inside the repository.
    await assert.rejects(
      hubSource("org/tiny", { endpoint: hub.url, token: "hf_secret" }).readBytes("../other/model.safetensors"),
      /not a plain relative file name/,
    );
  } finally {
    await hub.close();
  }
});
