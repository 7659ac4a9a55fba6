/**
 * The op conformance suite: every case of tests/ops/cases.ts on every backend configuration of
 * tests/ops/backends.ts, one Deno test each, named `op <op> [<config>] <case>`. Configurations without a WebGPU
 * adapter register their cases as ignored with the reason in the name.
 */
import { OP_BACKENDS } from "./backends.ts";
import { CASES } from "./cases.ts";
import { runCase, runsOn } from "./runners.ts";

for (const cfg of OP_BACKENDS) {
  for (const c of CASES) {
    if (!runsOn(c, cfg)) continue;
    const name = `op ${c.op} [${cfg.label}] ${c.name}`;
    if (cfg.skip) {
      Deno.test({ name: `${name} (${cfg.skip})`, ignore: true, fn: () => {} });
      continue;
    }
    Deno.test(name, async () => {
      const be = await cfg.create();
      try {
        await runCase(be, c, cfg, name);
      } finally {
        be.dispose();
      }
    });
  }
}
