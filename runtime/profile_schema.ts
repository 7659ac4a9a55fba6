/**
 * The JSON Schema (draft 2020-12) of the profile report (`ProfileReport`, profile_report.ts), written beside
 * every `profile.json` and used by tests to validate reports.
 *
 * @module
 */

import { COMPONENTS } from "./cost.ts";
import { PROFILE_SCHEMA_ID } from "./profile_report.ts";

const statsSchema = {
  type: "object",
  required: ["n", "mean", "median", "min", "max", "std", "iqr"],
  additionalProperties: false,
  properties: {
    n: { type: "integer", minimum: 1 },
    ...Object.fromEntries(
      ["mean", "median", "min", "max", "std", "iqr"].map((k) => [k, { type: "number", minimum: 0 }]),
    ),
  },
} as const;

const num = { type: "number" } as const;
/** Raw per-pass times (ms), in the order they ran: what a Stats summarises. */
const samplesSchema = { type: "array", items: { type: "number", minimum: 0 }, minItems: 1 } as const;
const nullable = (schema: unknown) => ({ oneOf: [{ type: "null" }, schema] });
const MATRIX_FORMATS = ["f32", "f16", "q8_0", "q4_0"];
const nonNeg = { type: "number", minimum: 0 } as const;
const count = { type: "integer", minimum: 0 } as const;

/** Every field of a run but `repetitions` (added in /3 after its first reports). */
const RUN_REQUIRED = [
  "model",
  "arch",
  "mode",
  "batch",
  "seqLen",
  "endToEnd",
  "components",
  "flops",
  "bytes",
  "memory",
  "trace",
];

function obj(properties: Record<string, unknown>, required = Object.keys(properties)) {
  return { type: "object", required, additionalProperties: false, properties };
}

/**
 * JSON Schema (draft 2020-12) of `ProfileReport`.
 *
 * @example
 * ```ts
 * import { Ajv2020 } from "npm:ajv@8.17.1/dist/2020.js";
 * import {
 *   makeConfig,
 *   MambaModel,
 *   PROFILE_JSON_SCHEMA,
 *   profileModels,
 *   selectBackend,
 *   syntheticWeights,
 * } from "@perfmamba/perfmamba";
 *
 * const config = makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 1), backend);
 * const report = await profileModels([{ model, name: "tiny" }], { seqLens: [8], warmup: 0, iters: 1, peaks: null });
 *
 * // Validate a report (here a fresh one, as it would be read back from profile.json) against the schema.
 * // Formats (createdAt's date-time) need the ajv-formats plugin; they are skipped here.
 * const ajv = new Ajv2020({ strict: false, validateFormats: false });
 * const validate = ajv.compile(PROFILE_JSON_SCHEMA);
 * if (!validate(JSON.parse(JSON.stringify(report)))) throw new Error(ajv.errorsText(validate.errors));
 * console.log(PROFILE_JSON_SCHEMA.$id); // https://jsr.io/@perfmamba/perfmamba/profile.schema.json
 * model.dispose();
 * backend.dispose();
 * ```
 */
export const PROFILE_JSON_SCHEMA: Record<string, unknown> = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://jsr.io/@perfmamba/perfmamba/profile.schema.json",
  title: "PerfMamba profile report",
  ...obj({
    schema: { const: PROFILE_SCHEMA_ID },
    createdAt: { type: "string", format: "date-time" },
    tool: obj({ name: { type: "string" }, version: { type: "string" } }),
    environment: obj({
      backend: { type: "string" },
      description: { type: "string" },
      timing: { enum: ["timestamp-query", "fenced", "wall-clock"] },
      timingNote: { type: "string" },
      host: { type: "string" },
      weights: { enum: [...MATRIX_FORMATS, "mixed"] },
      peaks: {
        oneOf: [{ type: "null" }, obj({ bandwidthGBs: nonNeg, gemmGflops: nonNeg, detail: { type: "string" } })],
      },
      git: nullable({ type: "string", pattern: "^[0-9a-f]{7,64}$" }),
      cpu: obj({
        model: nullable({ type: "string", minLength: 1 }),
        logicalCores: nullable({ type: "integer", minimum: 1 }),
      }),
      gpu: nullable(obj({
        vendor: { type: "string" },
        architecture: { type: "string" },
        device: { type: "string" },
        description: { type: "string" },
      })),
      runtime: obj({ name: { type: "string", minLength: 1 }, version: { type: "string", minLength: 1 } }),
    }),
    options: obj({
      seqLens: { type: "array", items: { type: "integer", minimum: 1 }, minItems: 1 },
      batch: { type: "integer", minimum: 1 },
      modes: { type: "array", items: { enum: ["prefill", "decode"] }, minItems: 1 },
      warmup: count,
      iters: { type: "integer", minimum: 1 },
      repetitions: obj({
        adaptive: { type: "boolean" },
        warmup: nullable(count),
        precision: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
        confidence: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
        maxMs: { type: "number", exclusiveMinimum: 0 },
        minIters: { type: "integer", minimum: 1 },
        maxIters: { type: "integer", minimum: 1 },
      }, ["adaptive", "warmup"]),
    }, ["seqLens", "batch", "modes", "warmup", "iters"]),
    models: {
      type: "array",
      minItems: 1,
      items: obj({
        name: { type: "string" },
        arch: { enum: ["mamba1", "mamba2"] },
        config: obj(
          Object.fromEntries(
            [
              "dModel",
              "nLayer",
              "dInner",
              "dState",
              "vocabSize",
              "dConv",
              "nHeads",
              "headDim",
              "nGroups",
              "chunkSize",
              "dtRank",
            ]
              .map((k) => [k, count]),
          ),
        ),
        parameters: count,
        weightBytes: count,
        weightFormat: obj({
          matrices: { enum: [...MATRIX_FORMATS, "mixed"] },
          embedding: { enum: MATRIX_FORMATS },
          components: {
            type: "object",
            additionalProperties: false,
            minProperties: 1,
            properties: Object.fromEntries(COMPONENTS.map((c) => [c, { enum: MATRIX_FORMATS }])),
          },
          activations: { oneOf: [{ type: "null" }, { type: "string", minLength: 1 }] },
          label: { type: "string", minLength: 1 },
        }),
        fingerprint: { type: "string", pattern: "^[0-9a-f]{16}$" },
      }),
    },
    runs: {
      type: "array",
      items: obj({
        model: count,
        arch: { enum: ["mamba1", "mamba2"] },
        mode: { enum: ["prefill", "decode"] },
        batch: { type: "integer", minimum: 1 },
        seqLen: { type: "integer", minimum: 1 },
        endToEnd: obj({
          ms: statsSchema,
          samples: samplesSchema,
          tokensPerS: nonNeg,
          instrumentedMs: statsSchema,
          overheadPct: num,
          gpuMs: { oneOf: [{ type: "null" }, statsSchema] },
          gpuSamples: nullable(samplesSchema),
          referenceMs: nonNeg,
          coverage: nonNeg,
          passOverheadMs: { oneOf: [{ type: "null" }, nonNeg] },
          rawCoverage: nonNeg,
          fusedDecode: {
            oneOf: [
              { type: "null" },
              obj({
                ms: statsSchema,
                gpuMs: { oneOf: [{ type: "null" }, statsSchema] },
                dispatches: { oneOf: [{ type: "null" }, count] },
                unfusedDispatches: { oneOf: [{ type: "null" }, count] },
              }),
            ],
          },
        }, [
          "ms",
          "tokensPerS",
          "instrumentedMs",
          "overheadPct",
          "gpuMs",
          "referenceMs",
          "coverage",
          "passOverheadMs",
          "rawCoverage",
        ]), // fusedDecode: absent in reports written before it
        components: {
          type: "array",
          minItems: 1,
          items: obj({
            name: { enum: COMPONENTS },
            layers: { type: "integer", minimum: 1 },
            ms: statsSchema,
            samples: samplesSchema,
            passes: count,
            share: { type: "number", minimum: 0, maximum: 1 },
            flops: nonNeg,
            bytes: obj({ weights: nonNeg, activations: nonNeg, state: nonNeg, total: nonNeg }),
            gflops: nonNeg,
            gbs: nonNeg,
            roofline: {
              oneOf: [
                { type: "null" },
                obj({
                  intensity: nonNeg,
                  attainableGflops: nonNeg,
                  bound: { enum: ["memory", "compute"] },
                  ofAttainable: nonNeg,
                }),
              ],
            },
            memory: obj({ weights: count, activations: { type: "integer" }, state: count, scratch: count }),
            perLayerMs: { type: "array", items: nonNeg, minItems: 1 },
          }),
        },
        flops: nonNeg,
        bytes: nonNeg,
        memory: obj({ baseline: count, peak: count, weights: count, state: count }),
        trace: {
          type: "array",
          items: obj({
            component: { enum: COMPONENTS },
            layer: { type: "integer", minimum: -1 },
            start: nonNeg,
            duration: nonNeg,
          }),
        },
        repetitions: obj({
          warmup: count,
          iters: { type: "integer", minimum: 1 },
          stopReason: { enum: ["precision", "budget", "iters"] },
          interval: nullable(obj({ lo: nonNeg, hi: nonNeg, coverage: { type: "number", minimum: 0, maximum: 1 } })),
          relHalfWidth: nullable(nonNeg),
          ms: nonNeg,
        }),
      }, RUN_REQUIRED),
    },
  }),
};
