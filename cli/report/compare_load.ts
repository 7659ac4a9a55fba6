/**
 * Reading the reports `perfmamba compare` compares: a profile report (`profile.json`, perfmamba.profile/3), a
 * pruning sweep's speed points (`sweep.json`, perfmamba.sweep/1, written with --speed) or `bench --json`
 * (perfmamba.bench/1), each turned into a `CompareInput`. A folder stands for the report in it. What is not one of
 * these is refused by name; so are older versions (perfmamba.profile/2 kept no per-pass samples), and reports of
 * one kind in two versions.
 */
import { basename } from "node:path";
import {
  type CompareInput,
  compareInputFromProfile,
  type CompareRun,
  PROFILE_SCHEMA_ID,
  type ProfileReport,
  stats,
} from "../../mod.ts";

/** The report formats compare reads, by kind. */
export const READABLE_SCHEMAS: Record<string, string> = {
  "perfmamba.profile": PROFILE_SCHEMA_ID,
  "perfmamba.sweep": "perfmamba.sweep/1",
  "perfmamba.bench": "perfmamba.bench/1",
};

/** Files a report folder is recognised by, in this order. */
const FOLDER_FILES = ["profile.json", "sweep.json"];

/** A report that cannot be compared: the message names the file and why. */
export class ReportReadError extends Error {
  override name = "ReportReadError";
}

/** One input as read: where from, its parsed JSON and its schema tag. */
export interface RawReport {
  /** The file read. */
  file: string;
  /** The label in the comparison: the argument as given (a folder or file name). */
  label: string;
  json: Record<string, unknown>;
  schema: string;
}

/** Read a report file, or the report file of a folder, and its schema tag (not yet checked). */
export async function readRawReport(arg: string): Promise<RawReport> {
  let file = arg;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(arg);
  } catch (e) {
    throw new ReportReadError(
      `${arg}: ${e instanceof Deno.errors.NotFound ? "no such file or folder" : (e as Error).message}`,
    );
  }
  if (info.isDirectory) {
    const found: string[] = [];
    for (const f of FOLDER_FILES) {
      try {
        if ((await Deno.stat(`${arg}/${f}`)).isFile) found.push(f);
      } catch { /* absent */ }
    }
    if (found.length === 0) {
      throw new ReportReadError(`${arg} is not a report folder: it holds none of ${FOLDER_FILES.join(", ")}`);
    }
    file = `${arg.replace(/\/+$/, "")}/${found[0]}`;
  }
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new ReportReadError(
      `${file} is not a report: ${e instanceof SyntaxError ? "not JSON" : (e as Error).message}`,
    );
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ReportReadError(`${file} is not a report: not a JSON object`);
  }
  const o = json as Record<string, unknown>;
  if (typeof o.schema !== "string") {
    const old = Array.isArray(o.rows) && typeof o.backend === "string";
    throw new ReportReadError(
      old
        ? `${file} is bench --json output from before ${READABLE_SCHEMAS["perfmamba.bench"]} (no schema field, no ` +
          "per-pass samples); run bench --json again to compare it"
        : `${file} is not a report: no "schema" field (compare reads ${Object.values(READABLE_SCHEMAS).join(", ")})`,
    );
  }
  return { file, label: basename(arg.replace(/\/+$/, "")) || arg, json: o, schema: o.schema };
}

/**
 * Check the inputs' schemas together: one version per kind (two versions of one kind are refused, naming both
 * files and versions), and only versions compare reads.
 */
export function checkSchemas(raws: RawReport[]): void {
  const byKind = new Map<string, RawReport>();
  for (const r of raws) {
    const kind = r.schema.replace(/\/[^/]*$/, "");
    const first = byKind.get(kind);
    if (first && first.schema !== r.schema) {
      throw new ReportReadError(
        `reports of different schema versions: ${first.file} is ${first.schema}, ${r.file} is ${r.schema}`,
      );
    }
    byKind.set(kind, r);
  }
  for (const r of raws) {
    const kind = r.schema.replace(/\/[^/]*$/, "");
    const readable = READABLE_SCHEMAS[kind];
    if (readable === undefined) {
      throw new ReportReadError(
        `${r.file} is not a report compare reads (schema "${r.schema}"; it reads ${
          Object.values(READABLE_SCHEMAS).join(", ")
        })`,
      );
    }
    if (r.schema !== readable) {
      const why = kind === "perfmamba.profile" && r.schema === "perfmamba.profile/2"
        ? " (/2 kept only summaries, no per-pass samples); profile again with this version"
        : "";
      throw new ReportReadError(`${r.file} is ${r.schema}; compare reads ${readable}${why}`);
    }
  }
}

/** A field that must hold a number (or a list of numbers), named with the file on error. */
function need(cond: boolean, file: string, what: string): void {
  if (!cond) throw new ReportReadError(`${file} is not a valid report: ${what}`);
}

const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const isSamples = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every(isNum);

/** Median from the raw samples (the same interpolated median the bootstrap uses), else the stated one. */
function series(name: string, median: number, samples: unknown): CompareRun["endToEnd"] {
  const s = isSamples(samples) ? samples : null;
  return { name, median: s ? stats(s).median : median, samples: s };
}

function fromProfile(r: RawReport): CompareInput {
  const j = r.json;
  need(Array.isArray(j.runs) && Array.isArray(j.models), r.file, "no runs / models lists");
  const report = j as unknown as ProfileReport;
  for (const [i, run] of report.runs.entries()) {
    need(report.models[run?.model] !== undefined, r.file, `runs[${i}].model points at no model`);
    need(isNum(run.endToEnd?.ms?.median), r.file, `runs[${i}].endToEnd.ms.median is not a number`);
    need(isSamples(run.endToEnd.samples), r.file, `runs[${i}].endToEnd.samples is not a list of numbers`);
    need(Array.isArray(run.components), r.file, `runs[${i}].components is not a list`);
    for (const [k, c] of run.components.entries()) {
      need(isNum(c?.ms?.median) && isSamples(c.samples), r.file, `runs[${i}].components[${k}] has no median / samples`);
    }
  }
  return compareInputFromProfile(report, r.label);
}

function fromSweep(r: RawReport): CompareInput {
  const j = r.json;
  need(Array.isArray(j.speed), r.file, "no speed list");
  const speed = j.speed as { arch: string; size: string; points: Record<string, unknown>[] }[];
  if (speed.length === 0) {
    throw new ReportReadError(`${r.file} has no speed points (the sweep ran without --speed): nothing to compare`);
  }
  const runs: CompareRun[] = [];
  for (const [i, s] of speed.entries()) {
    need(Array.isArray(s?.points), r.file, `speed[${i}].points is not a list`);
    for (const [k, p] of s.points.entries()) {
      const where = `speed[${i}].points[${k}]`;
      need(isNum(p.ms) && isNum(p.seqLen) && typeof p.mode === "string", r.file, `${where} lacks ms / seqLen / mode`);
      need(
        typeof p.shape === "string",
        r.file,
        `${where} has no shape (a sweep.json from before compare; sweep again)`,
      );
      runs.push({
        key: { arch: s.arch, shape: p.shape as string, mode: p.mode as string, batch: 1, seqLen: p.seqLen as number },
        model: `${s.arch}-${s.size} r=${p.ratio}`,
        fingerprint: null,
        endToEnd: series("end-to-end", p.ms as number, p.samples),
        components: [],
      });
    }
  }
  return { label: r.label, schema: r.schema, summary: `sweep --speed · ${String(j.backend)}`, runs };
}

function fromBench(r: RawReport): CompareInput {
  const j = r.json;
  need(Array.isArray(j.rows), r.file, "no rows list");
  const runs: CompareRun[] = [];
  for (const [i, row] of (j.rows as Record<string, unknown>[]).entries()) {
    if (typeof row.error === "string") continue; // a configuration that failed to run: nothing measured
    need(
      typeof row.arch === "string" && typeof row.mode === "string" && isNum(row.batch) && isNum(row.seqLen) &&
        isNum(row.ms) && typeof row.shape === "string",
      r.file,
      `rows[${i}] lacks arch / mode / batch / seqLen / ms / shape`,
    );
    const model = j.model as { path?: string } | undefined;
    runs.push({
      key: {
        arch: row.arch as string,
        shape: row.shape as string,
        mode: row.mode as string,
        batch: row.batch as number,
        seqLen: row.seqLen as number,
      },
      model: model?.path ?? `${row.arch}-${String(j.size)} (random weights)`,
      fingerprint: null,
      endToEnd: series("end-to-end", row.ms as number, row.samples),
      components: [],
    });
  }
  const env = j.environment as { git?: string | null } | undefined;
  const summary = [
    `bench · ${String(j.backend)}: ${String(j.description)}`,
    env?.git ? `@ ${env.git.slice(0, 12)}` : null,
  ]
    .filter(Boolean).join(" ");
  return { label: r.label, schema: r.schema, summary, runs };
}

/** A checked raw report as a `CompareInput`. */
export function toCompareInput(r: RawReport): CompareInput {
  if (r.schema.startsWith("perfmamba.profile/")) return fromProfile(r);
  if (r.schema.startsWith("perfmamba.sweep/")) return fromSweep(r);
  return fromBench(r);
}

/** Read, check and convert every argument (the first is the baseline). */
export async function loadCompareInputs(args: string[]): Promise<CompareInput[]> {
  const raws: RawReport[] = [];
  for (const a of args) raws.push(await readRawReport(a));
  checkSchemas(raws);
  const inputs = raws.map(toCompareInput);
  // Two arguments with the same folder name (runs/a/profile, runs/b/profile): label them by their path instead.
  const labels = inputs.map((x) => x.label);
  if (new Set(labels).size < labels.length) inputs.forEach((x, i) => (x.label = args[i]));
  return inputs;
}
