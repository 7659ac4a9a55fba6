/**
 * `compare`: two or more reports side by side — profile report folders (profile.json, perfmamba.profile/3),
 * `sweep --speed` folders (sweep.json) or `bench --json` files. Runs are matched by architecture, model shape,
 * mode, batch and length, components by name; per matched pair it prints the medians, the ratio B ÷ A and its
 * bootstrap 95% interval with a verdict (faster, slower, within noise), every report against the first, and lists
 * what matched nothing. --out writes compare.json and compare.html (paired charts); --json writes the JSON alone.
 *
 * Exit codes: 2 for bad flags or too few reports; 1 for a file that is not a report, reports of different schema
 * versions, or reports with no run in common (nothing is written then).
 */
import { compareReports, VERSION } from "../../mod.ts";
import { choiceFlag, type CommandSpec, numberFlag, parseCommand, UsageError } from "../args.ts";
import { prepareOutput, writeFileAtomic, writeFolder } from "../output.ts";
import { compareHtml } from "../report/compare_html.ts";
import { loadCompareInputs } from "../report/compare_load.ts";
import { compareTable } from "../report/compare_table.ts";

export const spec: CommandSpec = {
  name: "compare",
  summary: "Compare reports (profile, sweep --speed, bench --json): medians, ratios, bootstrap intervals.",
  usage: "perfmamba compare BASELINE OTHER [OTHER ...] [--out DIR] [--json FILE] [--format table|json] " +
    "[--ignore-shape] [--seed 1]   (each a report folder or a report JSON file)",
  flags: {
    out: { type: "string", help: "Write compare.json and compare.html (paired charts) to this new folder" },
    json: { type: "string", help: "Write the comparison as JSON to this file" },
    format: { type: "string", help: "What to print on stdout: table or json", default: "table" },
    "ignore-shape": {
      type: "boolean",
      help: "Match runs without the model shape (dense against pruned): by architecture, mode, batch and length",
    },
    seed: { type: "string", help: "Seed of the bootstrap", default: "1" },
  },
};

export async function run(argv: string[]): Promise<void> {
  const paths: string[] = [];
  const flags = parseCommand(spec, argv, paths);
  if (!flags) return;
  if (paths.length < 2) {
    throw new UsageError(`compare: give at least two reports (folders or files), got ${paths.length}`);
  }
  const format = choiceFlag(flags, "format", ["table", "json"] as const);
  const seed = numberFlag(flags, "seed", { integer: true, min: 0 })!;
  const out = typeof flags.out === "string" ? flags.out : null;
  const jsonFile = typeof flags.json === "string" ? flags.json : null;
  if (out !== null) await prepareOutput(out);
  // Everything is read and compared before anything is written: a bad input leaves no file behind.
  const inputs = await loadCompareInputs(paths);
  const result = compareReports(inputs, { seed, ignoreShape: flags["ignore-shape"] === true });
  const createdAt = new Date().toISOString();
  const json = JSON.stringify({ ...result, createdAt, tool: { name: "perfmamba", version: VERSION } }, null, 1) + "\n";
  if (out !== null) {
    await writeFolder(out, { "compare.json": json, "compare.html": await compareHtml(result, createdAt) });
  }
  if (jsonFile !== null) await writeFileAtomic(jsonFile, json);
  if (format === "json") console.log(json.trimEnd());
  else console.log(compareTable(result).trimEnd());
  if (out !== null) console.error(`report: ${out}/compare.html (also compare.json)`);
}
