/**
 * PerfMamba: Mamba-1 and Mamba-2 language models on WebAssembly SIMD (and WebGPU), in Deno, browsers and edge
 * runtimes — load a Hugging Face or state-spaces checkpoint, run prefill and recurrent decode, generate text.
 *
 * @example
 * ```ts
 * import { generate, makeConfig, MambaModel, selectBackend, syntheticWeights } from "@perfmamba/perfmamba";
 *
 * // A tiny Mamba-2 with deterministic random weights; use loadWeights(urlSource(...)) for a real checkpoint.
 * const config = makeConfig("mamba2", { dModel: 64, nLayer: 2, vocabSize: 256, dState: 16, headDim: 16 });
 * const backend = await selectBackend("wasm", { threads: 1 });
 * const model = MambaModel.load(syntheticWeights(config, 42), backend);
 * const { tokens } = await generate(model, [1, 2, 3], { maxNewTokens: 4 });
 * console.log(tokens.length); // 4
 * model.dispose();
 * backend.dispose();
 * ```
 *
 * @module
 */

export type {
  Backend,
  BackendCapabilities,
  DevicePeaks,
  FusedDecodeLimits,
  FusedLinearOptions,
  Mamba1DecodeArgs,
  Mamba2DecodeArgs,
  Matrix,
  MemoryStats,
  PassTimer,
  PassTiming,
  QuantFormat,
  QuantizedMatrixData,
  SelectiveScanArgs,
  SsdArgs,
  SyntheticUniform,
  Tensor,
  View,
  WeightFormat,
} from "./runtime/backend.ts";
export { DeviceLostError, QUANT_BLOCK_BYTES, view } from "./runtime/backend.ts";
export type { Arch, MambaConfig } from "./runtime/config.ts";
export { inProjWidth } from "./runtime/config.ts";
export { parseConfig } from "./runtime/config_parse.ts";
export type { Checkpoint, CheckpointSource, HostWeightsOptions } from "./runtime/checkpoint.ts";
export {
  checkpointFileSegments,
  loadCheckpoint,
  loadWeights,
  memorySource,
  toHostWeights,
  toModelWeights,
  urlSource,
} from "./runtime/checkpoint.ts";
export type { HubOptions, HubSourceOptions, RepoId } from "./runtime/hub.ts";
export {
  blobName,
  cacheFolderName,
  checkRevision,
  HF_ENDPOINT,
  HubIdError,
  hubSource,
  isCommitHash,
  modelInfoUrl,
  parseRepoId,
  resolveUrl,
} from "./runtime/hub.ts";
export type { Dtype, SafetensorRecord, SafetensorsFile, TensorToWrite } from "./runtime/safetensors.ts";
export { parseTorchCheckpoint, readZip } from "./runtime/pytorch.ts";
export { DTYPE_SIZES, parseSafetensors, toFloat32, writeSafetensors } from "./runtime/safetensors.ts";
export type {
  GgufErrorReason,
  GgufFile,
  GgufMetadataEntry,
  GgufTensorInfo,
  GgufTensorToWrite,
  GgufTypedValue,
  GgufValueType,
} from "./runtime/gguf.ts";
export {
  GGUF_VALUE_TYPES,
  GgufFormatError,
  ggufTensorBytes,
  ggufTensorToFloat32,
  parseGguf,
  writeGguf,
} from "./runtime/gguf.ts";
export type { GgufExportOptions } from "./runtime/gguf_mamba.ts";
export { ggufCheckpoint, ggufFromWeights, ggufParts, loadGgufCheckpoint } from "./runtime/gguf_mamba.ts";
export type { GgufTokenizerOptions, SpecialTokenIds } from "./runtime/gguf_tokenizer.ts";
export {
  checkGgufTokenizer,
  GGUF_PRE_CHECK_TEXT,
  GGUF_PRE_TOKENIZERS,
  GGUF_TOKEN_TYPES,
  ggufNoVocabMetadata,
  ggufPreTokenizer,
  GgufTokenizerError,
  ggufTokenizerMetadata,
  preTokenizerHash,
  tokenizerJsonFromGguf,
} from "./runtime/gguf_tokenizer.ts";
export type {
  HostMatrix,
  HostTensor,
  LayerWeights,
  Mamba1LayerWeights,
  Mamba2LayerWeights,
  MambaWeights,
  ParamFormat,
} from "./runtime/weights.ts";
export { isQuantized } from "./runtime/weights.ts";
export { halfParamWeights, roundToHalf, snapALog } from "./runtime/half_params.ts";
export type { QuantizeOptions } from "./runtime/quantize.ts";
export { paddedDtRank, padDtRank, padDtRankConfig } from "./runtime/dt_rank_pad.ts";
export {
  hostWeightBytes,
  paramFormatOf,
  QUANTIZABLE_KINDS,
  quantizedMatrixNames,
  QuantizeError,
  quantizeWeights,
  weightsQuantFormat,
} from "./runtime/quantize.ts";
export type { BurstSampling, Component, ForwardHooks, Logits, PrefillOptions, QueuedBurst } from "./runtime/model.ts";
export { MambaModel } from "./runtime/model.ts";
export { InferenceState } from "./runtime/state.ts";
export type { GenerateOptions, GenerateResult } from "./runtime/generate.ts";
export { generate } from "./runtime/generate.ts";
export type { SamplingOptions, TokenChoice } from "./runtime/sampling.ts";
export { argmax, mulberry32, Sampler, sampleRow, tokenChoice } from "./runtime/sampling.ts";
export type { BackendFactories, BackendKind, ChooseOptions, GpuProbe } from "./runtime/select_backend.ts";
export {
  autoBackend,
  BACKEND_KINDS,
  BackendOptionError,
  chooseBackend,
  probeWebGpu,
} from "./runtime/select_backend.ts";
export type { SelectBackendOptions } from "./backends.ts";
export { selectBackend } from "./backends.ts";
export type { WorkerFactory, WorkerLike } from "./wasm/threads.ts";
export type { WasmKernelVariant } from "./wasm/module.ts";
export { relaxedSimdSupported, wasmKernelBytes } from "./wasm/module.ts";
export { RelaxedSimdUnsupportedError } from "./wasm/backend.ts";
export type { ConfigDims, PresetSize } from "./runtime/presets.ts";
export { makeConfig, PRESET_SIZES, presetConfig } from "./runtime/presets.ts";
export {
  SYNTHETIC_IDS,
  syntheticEmbedding,
  syntheticKey,
  syntheticLayer,
  syntheticLayerId,
  syntheticLmHead,
  syntheticUniform,
  syntheticUniformOf,
  syntheticWeights,
} from "./runtime/synthetic.ts";
export {
  syntheticSource,
  type SyntheticSourceOptions,
  type WeightSource,
  weightSource,
} from "./runtime/weight_source.ts";
export {
  checkModelFits,
  type FitOptions,
  modelFitProblem,
  type ModelFootprint,
  modelFootprint,
  ModelTooLargeError,
  type PassShape,
  WEIGHT_STORAGES,
  type WeightStorage,
} from "./runtime/memory_check.ts";
export type { BytesOptions, ComponentBytes, MatrixBytes } from "./runtime/cost.ts";
export {
  COMPONENTS,
  componentStateBytes,
  componentWeightBytes,
  COST_NOTES,
  forwardBytes,
  forwardFlops,
  quantizedMatrixBytes,
} from "./runtime/cost.ts";
export type { GpuTime } from "./runtime/gpu_time.ts";
export { gpuTimeOf } from "./runtime/gpu_time.ts";
export type { NamedModel, ProfileOptions, ProfileProgress } from "./runtime/profiler.ts";
export { mergeReports, profileModels, stats } from "./runtime/profiler.ts";
export { fnv1a64, hostDefaults, webGpuAdapterInfo } from "./runtime/profiler.ts";
export type { MedianInterval, RepetitionOptions, StopReason } from "./runtime/repetitions.ts";
export { checkRepetitionOptions, medianInterval, REPETITION_DEFAULTS, shouldStop } from "./runtime/repetitions.ts";
export { estimatePointMs, PassClock, type PlannedPoint } from "./runtime/profile_eta.ts";
export type {
  CompareInput,
  CompareOptions,
  CompareResult,
  CompareRun,
  CompareRunKey,
  CompareSeries,
  CompareVerdict,
  PairComparison,
  RunComparison,
  SeriesComparison,
} from "./runtime/compare.ts";
export {
  COMPARE_MIN_SAMPLES,
  COMPARE_RESAMPLES,
  COMPARE_SCHEMA_ID,
  CompareError,
  compareInputFromProfile,
  compareReports,
  compareSeries,
  GPU_SERIES,
  modelShape,
  runKeyLabel,
} from "./runtime/compare.ts";
export type {
  BytesMoved,
  ComponentMemory,
  ComponentProfile,
  EndToEnd,
  FusedDecodeTiming,
  GpuAdapterInfo,
  HostInfo,
  MatrixFormat,
  ProfiledModel,
  ProfilePeaks,
  ProfileReport,
  ProfileRun,
  Roofline,
  RunMemory,
  RunRepetitions,
  Stats,
  TimingMethod,
  TraceSpan,
  WeightFormatReport,
} from "./runtime/profile_report.ts";
export { PROFILE_SCHEMA_ID } from "./runtime/profile_report.ts";
export { PROFILE_JSON_SCHEMA } from "./runtime/profile_schema.ts";
export { VERSION } from "./runtime/version.ts";
export type {
  PerplexityOptions,
  PerplexityProgress,
  PerplexityResult,
  PerplexityWindow,
  WindowOptions,
} from "./runtime/eval/perplexity.ts";
export { perplexity, planWindows } from "./runtime/eval/perplexity.ts";
export type {
  ChoiceResult,
  Encode,
  EvaluateOptions,
  GreedyResult,
  TaskResult,
} from "./runtime/eval/multiple_choice.ts";
export { evaluateDocs, evaluateTask } from "./runtime/eval/multiple_choice.ts";
export type { ChoiceDoc, EvalDoc, GreedyDoc, MetricName, TaskName, TaskSpec } from "./runtime/eval/tasks.ts";
export { parseTask, TASK_NAMES, TaskFormatError, TASKS } from "./runtime/eval/tasks.ts";
export type { ActivityScore, CalibrateOptions, StateActivity } from "./runtime/prune/calibrate.ts";
export { ACTIVITY_SCORES, calibrate } from "./runtime/prune/calibrate.ts";
export type { SelectionScore, SelectOptions } from "./runtime/prune/select.ts";
export { keptCount, SELECTION_SCORES, selectStates } from "./runtime/prune/select.ts";
export { fitBridges } from "./runtime/prune/bridge.ts";
export type { PruneOptions } from "./runtime/prune/apply.ts";
export { pruneWeights } from "./runtime/prune/apply.ts";
export type { Bridges, KeepSets, PruneMode } from "./runtime/prune/types.ts";
export type { SpeedOptions, SpeedPoint, SpeedVariant } from "./runtime/prune/speed.ts";
export { pruningSpeed } from "./runtime/prune/speed.ts";
export type { CheckpointFiles, CheckpointWriteOptions } from "./runtime/checkpoint_write.ts";
export { checkpointFiles } from "./runtime/checkpoint_write.ts";
