/**
 * Checks shared by the profiler, renderer and CLI tests: the report against its JSON Schema (Ajv, draft 2020-12),
 * and a Chrome trace's forward ⊃ layer ⊃ component nesting.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Ajv2020 } from "npm:ajv@8.17.1/dist/2020.js";
import formatsModule from "ajv-formats";
import type { ProfileReport } from "../runtime/profile_report.ts";
import { PROFILE_JSON_SCHEMA } from "../runtime/profile_schema.ts";
import type { TraceEvent } from "../cli/report/trace.ts";

// ajv-formats is CommonJS: at run time the default import is the plugin itself; its types say otherwise.
const addFormats = formatsModule as unknown as typeof formatsModule.default;

/** A compiled validator of PROFILE_JSON_SCHEMA (`errors` set after a failed call). */
export function profileValidator(): ReturnType<Ajv2020["compile"]> {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv.compile(PROFILE_JSON_SCHEMA);
}

/** Assert the report (after a JSON round trip) validates against its schema. */
export function assertValidProfile(report: unknown): void {
  const validate = profileValidator();
  const ok = validate(JSON.parse(JSON.stringify(report)));
  assert.ok(ok, `schema errors: ${JSON.stringify(validate.errors?.slice(0, 5))}`);
}

/**
 * Assert the trace of every run nests: one "forward" per process, a "layer N" per layer inside it, every component
 * span inside its layer (or directly inside forward outside the blocks), and nothing else overlapping.
 */
export function assertTraceNests(report: ProfileReport, traceEvents: TraceEvent[]): void {
  for (const [i, run] of report.runs.entries()) {
    const pid = i + 1;
    const named = traceEvents.filter((e) => e.pid === pid && e.ph === "M" && e.name === "process_name");
    assert.equal(named.length, 1);
    const xs = traceEvents.filter((e) => e.pid === pid && e.ph === "X");
    for (const e of xs) assert.ok(e.tid === 1 && e.ts! >= 0 && e.dur! >= 0);
    assert.equal(xs.filter((e) => e.name === "forward").length, 1);
    const comps = xs.filter((e) => e.cat === "component");
    assert.equal(comps.length, run.trace.length);
    const layers = xs.filter((e) => e.name.startsWith("layer "));
    assert.equal(layers.length, report.models[run.model].config.nLayer);
    assert.equal(xs.length, 1 + layers.length + comps.length);
    const contains = (p: TraceEvent, c: TraceEvent) => p.ts! <= c.ts! && c.ts! + c.dur! <= p.ts! + p.dur!;
    for (const e of xs) {
      const parents = xs.filter((p) => p !== e && contains(p, e)).map((p) => p.name).sort();
      let expected: string[];
      if (e.name === "forward") expected = [];
      else if (e.cat === "layer") expected = ["forward"];
      else {
        const layer = e.args!.layer as number;
        expected = layer >= 0 ? ["forward", `layer ${layer}`] : ["forward"];
      }
      // Zero-length spans at a boundary may sit inside a neighbour too; only require the expected chain.
      for (const p of expected) assert.ok(parents.includes(p), `${e.name} ${JSON.stringify(e.args)} not in ${p}`);
      if (e.dur! > 0) assert.deepEqual(parents, expected, `${e.name} ${JSON.stringify(e.args)}`);
    }
  }
}
