/**
 * The op conformance suite: every case of tests/ops/cases.ts on every backend configuration of
 * tests/ops/backends.ts, one Deno test each, named `op <op> [<config>] <case>`. Configurations without a WebGPU
 * adapter register their cases as ignored with the reason in the name, as do the block-quantized cases on a backend
 * whose `capabilities.quantFormats` lacks their format.
 */
import { OP_BACKENDS } from "./backends.ts";
import { CASES, quantOf } from "./cases.ts";
import { runCase, runsOn } from "./runners.ts";

for (const cfg of OP_BACKENDS) {
  // The block-quantized formats the configuration's backend lists (cases needing another are ignored, saying so).
  let quantFormats: readonly string[] = [];
  if (!cfg.skip) {
    const be = await cfg.create();
    quantFormats = be.capabilities.quantFormats;
    be.dispose();
  }
  for (const c of CASES) {
    if (!runsOn(c, cfg)) continue;
    const name = `op ${c.op} [${cfg.label}] ${c.name}`;
    const quant = quantOf(c);
    const skip = cfg.skip ??
      (quant && !quantFormats.includes(quant) ? `skipped: capabilities.quantFormats lacks ${quant}` : null);
    if (skip) {
      Deno.test({ name: `${name} (${skip})`, ignore: true, fn: () => {} });
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
