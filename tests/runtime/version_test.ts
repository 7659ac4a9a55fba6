import assert from "node:assert/strict";
import { VERSION } from "../../runtime/version.ts";

Deno.test("VERSION equals deno.json's version", async () => {
  const cfg = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.equal(VERSION, cfg.version);
});
