/**
 * `info --model DIR`: what a checkpoint is — architecture, dimensions, parameters, dtypes and memory.
 */
import type { CommandSpec } from "../args.ts";
import { choiceFlag, parseCommand, requireFlag } from "../args.ts";
import {
  componentStateBytes,
  type HostMatrix,
  hostWeightBytes,
  isQuantized,
  quantizedMatrixNames,
  toModelWeights,
  weightsQuantFormat,
} from "../../mod.ts";
import { presetInfo } from "./info_preset.ts";
import { hostWeightsOptions, MODEL_FLAGS, MODEL_HELP, openModel, WEIGHTS_FLAGS } from "../load.ts";

export const spec: CommandSpec = {
  name: "info",
  summary: "Describe a checkpoint: architecture, dimensions, parameter count, dtypes and memory.",
  usage: "perfmamba info --model DIR|FILE.gguf | --size 2.8b [--arch both] [--format table|json]",
  flags: {
    model: { type: "string", help: MODEL_HELP },
    size: {
      type: "string",
      help: "A published shape (130m … 2.8b) instead of --model: its memory per format and which backends hold it",
    },
    arch: { type: "string", help: "With --size: mamba1, mamba2 or both", default: "both" },
    ...MODEL_FLAGS,
    format: { type: "string", help: "Output format: table or json", default: "table" },
    ...WEIGHTS_FLAGS,
  },
};

/** Whether a layer field is a matrix (f32 or quantized) rather than a flag, a number or null. */
function isHostMatrix(t: object): t is HostMatrix {
  return "blocks" in t || "data" in t;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
}

export async function run(argv: string[]): Promise<void> {
  const flags = parseCommand(spec, argv);
  if (!flags) return;
  const format = choiceFlag(flags, "format", ["table", "json"] as const);
  if (typeof flags.size === "string" && typeof flags.model !== "string") {
    const arch = choiceFlag(flags, "arch", ["mamba1", "mamba2", "both"] as const);
    return await presetInfo(arch === "both" ? ["mamba1", "mamba2"] : [arch], flags.size, format);
  }
  const dir = requireFlag(spec, flags, "model");
  const { checkpoint: ckpt, gguf } = await openModel(dir, flags);
  const w = toModelWeights(ckpt, hostWeightsOptions(flags)); // quantized matrices keep their blocks
  const c = w.config;
  const dtypes: Record<string, number> = {};
  let fileBytes = 0;
  if (gguf) {
    // The file's own tensor types (Q8_0 stays Q8_0 here, though it was dequantised to f32 to load).
    for (const t of gguf.tensors) dtypes[t.type] = (dtypes[t.type] ?? 0) + t.dims.reduce((a, b) => a * b, 1);
    fileBytes = gguf.bytes.byteLength;
  } else {
    for (const r of ckpt.tensors.values()) {
      dtypes[r.dtype] = (dtypes[r.dtype] ?? 0) + r.shape.reduce((a: number, b: number) => a * b, 1);
      fileBytes += r.bytes.byteLength;
    }
  }
  const count = (t: unknown): number => {
    if (!t || typeof t !== "object") return 0;
    if (isHostMatrix(t) && isQuantized(t)) return t.n * t.k;
    return "data" in t && t.data instanceof Float32Array ? t.data.length : 0;
  };
  let params = count(w.embedding) + count(w.normF) + count(w.lmHead);
  for (const l of w.layers) for (const v of Object.values(l)) params += count(v);
  // A Δ rank zero-padded for quantization: the padding (x_proj rows, dt_proj columns) holds no parameters.
  const padFrom = c.arch === "mamba1" ? c.dtRankPaddedFrom : undefined;
  if (padFrom !== undefined) params -= c.nLayer * 2 * c.dInner * (c.dtRank - padFrom);
  const quantFormat = weightsQuantFormat(w);
  const weightBytes = hostWeightBytes(w);
  // toHostWeights checked every layer's state size against the config, which names the pruned ones.
  const stateSizes = w.layers.map((_l, i) => c.layerStateSizes?.[i] ?? c.dState);
  const stateBytesPerSeq = Object.values(componentStateBytes(c, 1)).reduce((a, b) => a + b, 0);
  const info = {
    model: dir,
    source: c.source,
    arch: c.arch,
    d_model: c.dModel,
    n_layer: c.nLayer,
    vocab_size: c.vocabSize,
    token_vocab_size: c.tokenVocabSize < c.vocabSize ? c.tokenVocabSize : undefined, // padded rows are no tokens
    d_inner: c.dInner,
    d_state: c.dState,
    layer_state_sizes: stateSizes.every((n) => n === c.dState) ? undefined : stateSizes,
    d_conv: c.dConv,
    ...(c.arch === "mamba1" ? { dt_rank: c.dtRank, dt_rank_padded_from: padFrom } : {
      n_heads: c.nHeads,
      head_dim: c.headDim,
      n_groups: c.nGroups,
      chunk_size: c.chunkSize,
      time_step_limit: c.timeStepLimit.map(String),
    }),
    tie_embeddings: w.lmHead === null,
    parameters: params,
    dtypes,
    files: gguf ? [dir] : ckpt.files,
    file_bytes: fileBytes,
    f32_weight_bytes: 4 * params,
    weight_format: quantFormat ?? "f32",
    quantized_matrices: quantFormat ? quantizedMatrixNames(w).length : undefined,
    weight_bytes: weightBytes,
    weight_ratio_to_f32: Number((weightBytes / (4 * params)).toFixed(4)),
    state_bytes_per_sequence: stateBytesPerSeq,
  };
  if (format === "json") {
    console.log(JSON.stringify(info, null, 2));
    return;
  }
  const rows: [string, string][] = [
    ["model", dir],
    ["format", gguf ? `gguf v${gguf.version} (llama.cpp ${c.arch === "mamba1" ? "mamba" : "mamba2"})` : c.source],
    ["architecture", c.arch === "mamba1" ? "Mamba-1 (selective scan)" : "Mamba-2 (SSD)"],
    ["d_model / d_inner", `${c.dModel} / ${c.dInner}`],
    ["layers", String(c.nLayer)],
    [
      "vocab",
      c.tokenVocabSize < c.vocabSize ? `${c.vocabSize} (${c.tokenVocabSize} tokens + padding)` : String(c.vocabSize),
    ],
    ["d_state", info.layer_state_sizes ? `per layer ${stateSizes.join(",")}` : String(c.dState)],
    ["conv kernel", String(c.dConv)],
    ...(c.arch === "mamba1"
      ? [[
        "dt_rank",
        padFrom === undefined ? String(c.dtRank) : `${c.dtRank} (${padFrom} zero-padded to whole quantization blocks)`,
      ] as [string, string]]
      : [
        ["heads × head_dim", `${c.nHeads} × ${c.headDim}`] as [string, string],
        ["groups", String(c.nGroups)] as [string, string],
        ["chunk size", String(c.chunkSize)] as [string, string],
      ]),
    ["lm_head", info.tie_embeddings ? "tied to embedding" : "separate"],
    ["parameters", `${params.toLocaleString("en-US")} (${(params / 1e6).toFixed(2)} M)`],
    ["dtypes", Object.entries(dtypes).map(([k, v]) => `${k}: ${v.toLocaleString("en-US")}`).join(", ")],
    ["files", `${info.files.join(", ")} (${mib(fileBytes)})`],
    ["memory (f32 weights)", mib(4 * params)],
    ...(quantFormat
      ? [[
        `memory (${quantFormat})`,
        `${mib(weightBytes)} (${(weightBytes / (4 * params)).toFixed(3)}× f32; ` +
        `${quantizedMatrixNames(w).length} matrices in ${quantFormat}, the rest f32)`,
      ] as [string, string]]
      : []),
    ["state per sequence", mib(stateBytesPerSeq)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}
