/**
 * config.json normalisation: Hugging Face and state-spaces spellings, defaults, and the errors.
 */
import assert from "node:assert/strict";
import type { MambaConfig } from "../../runtime/config.ts";
import { parseConfig, parseConfigText } from "../../runtime/config_parse.ts";

async function fixtureConfig(name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(new URL(`../fixtures/${name}/config.json`, import.meta.url)));
}

/** mamba-130m's config.json in state-spaces' format. */
const STATE_SPACES_130M = {
  d_model: 768,
  n_layer: 24,
  vocab_size: 50277,
  ssm_cfg: {},
  rms_norm: true,
  residual_in_fp32: true,
  fused_add_norm: true,
  pad_vocab_size_multiple: 8,
};

/** mamba2-130m's config.json in state-spaces' format. */
const STATE_SPACES_MAMBA2_130M = {
  d_model: 768,
  d_intermediate: 0,
  n_layer: 24,
  vocab_size: 50277,
  ssm_cfg: { layer: "Mamba2" },
  attn_layer_idx: [],
  attn_cfg: {},
  rms_norm: true,
  residual_in_fp32: true,
  fused_add_norm: true,
  pad_vocab_size_multiple: 16,
  tie_embeddings: true,
};

Deno.test("config: Hugging Face mamba (mamba1-tiny fixture)", async () => {
  const expected: MambaConfig = {
    arch: "mamba1",
    dModel: 64,
    nLayer: 2,
    vocabSize: 256,
    tokenVocabSize: 256,
    dState: 16,
    dConv: 4,
    dInner: 128,
    eps: 1e-5,
    useBias: false,
    useConvBias: true,
    tieEmbeddings: true,
    dtRank: 4,
    headDim: 0,
    nHeads: 0,
    nGroups: 1,
    chunkSize: 0,
    timeStepLimit: [0, Infinity],
    normBeforeGate: false,
    normGroupSize: 128,
    source: "huggingface",
  };
  assert.deepEqual(parseConfig(await fixtureConfig("mamba1-tiny"), "config.json"), expected);
});

Deno.test("config: Hugging Face mamba2 (mamba2-tiny and mamba2-groups fixtures)", async () => {
  const tiny = parseConfig(await fixtureConfig("mamba2-tiny"), "config.json");
  assert.deepEqual(
    { ...tiny },
    {
      arch: "mamba2",
      dModel: 64,
      nLayer: 2,
      vocabSize: 256,
      tokenVocabSize: 256,
      dState: 16,
      dConv: 4,
      dInner: 128,
      eps: 1e-5,
      useBias: false,
      useConvBias: true,
      tieEmbeddings: true,
      dtRank: 0,
      headDim: 16,
      nHeads: 8,
      nGroups: 1,
      chunkSize: 16,
      timeStepLimit: [0, Infinity],
      normBeforeGate: false,
      normGroupSize: 128,
      source: "huggingface",
    },
  );
  const groups = parseConfig(await fixtureConfig("mamba2-groups"), "config.json");
  assert.equal(groups.nGroups, 4);
  assert.equal(groups.normGroupSize, 32);
});

Deno.test("config: time_step_limit spellings", () => {
  const base = { model_type: "mamba2", hidden_size: 64, num_hidden_layers: 1, vocab_size: 8, head_dim: 16 };
  const cases: [unknown, [number, number]][] = [
    [[0, { __float__: "Infinity" }], [0, Infinity]],
    [[0.0, "inf"], [0, Infinity]],
    [[0.001, "Infinity"], [0.001, Infinity]],
    [[0, null], [0, Infinity]],
    [null, [0, Infinity]],
    [[0.01, 0.5], [0.01, 0.5]],
  ];
  for (const [limit, want] of cases) {
    assert.deepEqual(parseConfig({ ...base, time_step_limit: limit }, "c.json").timeStepLimit, want, `${limit}`);
  }
  // Python's json.dump writes bare Infinity, which JSON.parse rejects.
  const text = `{"model_type": "mamba2", "hidden_size": 64, "num_hidden_layers": 1, "vocab_size": 8, ` +
    `"head_dim": 16, "note": "Infinity NaN", "time_step_limit": [0.0, Infinity]}`;
  const parsed = parseConfigText(text, "c.json") as Record<string, unknown>;
  assert.equal(parsed.note, "Infinity NaN");
  assert.deepEqual(parseConfig(parsed, "c.json").timeStepLimit, [0, Infinity]);
  assert.throws(() => parseConfigText("{oops", "dir/config.json"), /dir\/config\.json: not valid JSON/);
  assert.throws(
    () => parseConfig({ ...base, time_step_limit: [1, 0] }, "c.json"),
    /c\.json: field "time_step_limit" must be a \[min, max\] pair/,
  );
});

Deno.test("config: Hugging Face defaults, time_step_rank auto and intermediate_size", () => {
  const m1 = parseConfig(
    { model_type: "mamba", hidden_size: 100, num_hidden_layers: 3, vocab_size: 10, time_step_rank: "auto" },
    "c.json",
  );
  assert.equal(m1.dtRank, 7); // ceil(100 / 16)
  assert.equal(m1.dInner, 200);
  assert.equal(m1.dState, 16);
  assert.equal(m1.useBias, true); // transformers' MambaConfig default
  assert.equal(m1.tieEmbeddings, true);
  const wide = parseConfig(
    { model_type: "mamba", hidden_size: 64, num_hidden_layers: 1, vocab_size: 10, intermediate_size: 96 },
    "c.json",
  );
  assert.equal(wide.dInner, 96);
  const m2 = parseConfig(
    { model_type: "mamba2", hidden_size: 256, num_hidden_layers: 1, vocab_size: 10, n_groups: 1 },
    "c.json",
  );
  assert.deepEqual([m2.dState, m2.headDim, m2.nHeads, m2.chunkSize, m2.tieEmbeddings], [128, 64, 8, 256, false]);
});

Deno.test("config: state-spaces mamba-130m (Mamba1 defaults, vocab padded 50277 → 50280)", () => {
  const c = parseConfig(STATE_SPACES_130M, "mamba-130m/config.json");
  assert.deepEqual(
    { ...c },
    {
      arch: "mamba1",
      dModel: 768,
      nLayer: 24,
      vocabSize: 50280,
      tokenVocabSize: 50277, // the padded rows 50277..50279 are no tokens
      dState: 16,
      dConv: 4,
      dInner: 1536,
      eps: 1e-5,
      useBias: false,
      useConvBias: true,
      tieEmbeddings: true,
      dtRank: 48,
      headDim: 0,
      nHeads: 0,
      nGroups: 1,
      chunkSize: 0,
      timeStepLimit: [0, Infinity],
      normBeforeGate: false,
      normGroupSize: 1536,
      source: "state-spaces",
    },
  );
});

Deno.test("config: state-spaces mamba2-130m (Mamba2 defaults, pad multiple 16)", () => {
  const c = parseConfig(STATE_SPACES_MAMBA2_130M, "c.json");
  assert.equal(c.arch, "mamba2");
  assert.equal(c.vocabSize, 50288);
  assert.equal(c.tokenVocabSize, 50277);
  assert.deepEqual(
    [c.dState, c.dConv, c.dInner, c.headDim, c.nHeads, c.nGroups, c.chunkSize, c.normGroupSize],
    [128, 4, 1536, 64, 24, 1, 256, 1536],
  );
  assert.deepEqual(c.timeStepLimit, [0, Infinity]);
  const custom = parseConfig({
    ...STATE_SPACES_MAMBA2_130M,
    ssm_cfg: { layer: "Mamba2", d_state: 64, headdim: 32, ngroups: 4, dt_limit: [0.001, 0.1], conv_bias: false },
  }, "c.json");
  assert.deepEqual([custom.dState, custom.nHeads, custom.nGroups, custom.normGroupSize], [64, 48, 4, 384]);
  assert.deepEqual(custom.timeStepLimit, [0.001, 0.1]);
  assert.equal(custom.useConvBias, false);
});

Deno.test("config: token_vocab_size (PerfMamba's key for a padded Hugging Face checkpoint)", async () => {
  const json = await fixtureConfig("mamba1-tiny"); // vocab_size 256
  assert.equal(parseConfig(json, "c.json").tokenVocabSize, 256);
  assert.equal(parseConfig({ ...json, token_vocab_size: 250 }, "c.json").tokenVocabSize, 250);
  assert.throws(
    () => parseConfig({ ...json, token_vocab_size: 257 }, "c.json"),
    /c\.json: field "token_vocab_size" is 257, more than vocab_size 256/,
  );
  assert.throws(() => parseConfig({ ...json, token_vocab_size: 0 }, "c.json"), /"token_vocab_size" must be a positive/);
});

Deno.test("config: layer_state_sizes (pruned checkpoints)", async () => {
  const json = { ...(await fixtureConfig("mamba1-tiny")), layer_state_sizes: [16, 9] };
  assert.deepEqual(parseConfig(json, "c.json").layerStateSizes, [16, 9]);
  assert.throws(
    () => parseConfig({ ...json, layer_state_sizes: [16] }, "c.json"),
    /c\.json: field "layer_state_sizes" must be a list of 2 positive integers/,
  );
  assert.throws(() => parseConfig({ ...json, layer_state_sizes: [16, 0] }, "c.json"), /\[1\] must be a positive/);
});

Deno.test("config: falcon_mamba is Mamba-1 with the δ / B / C norms' mixer_rms_eps (default 1e-6)", async () => {
  const json = await fixtureConfig("falcon-mamba-tiny") as Record<string, unknown>;
  const c = parseConfig(json, "c.json");
  assert.equal(c.arch, "mamba1");
  assert.equal(c.bcdtNormEps, 1e-6);
  assert.equal(c.eps, 1e-5);
  assert.equal(c.dtRank, 4);
  assert.equal(parseConfig({ ...json, mixer_rms_eps: undefined }, "c.json").bcdtNormEps, 1e-6);
  assert.equal(parseConfig({ ...json, mixer_rms_eps: 1e-3 }, "c.json").bcdtNormEps, 1e-3);
  assert.equal(parseConfig({ ...json, model_type: "mamba" }, "c.json").bcdtNormEps, undefined);
});

Deno.test("config: errors name the file and the field", async () => {
  const m1 = await fixtureConfig("mamba1-tiny");
  const m2 = await fixtureConfig("mamba2-tiny");
  const cases: [unknown, RegExp][] = [
    [
      { ...m1, model_type: "jamba" },
      /m\.json: field "model_type" is "jamba"; supported: "mamba", "falcon_mamba", "mamba2"/,
    ],
    [{ ...m1, model_type: "falcon_mamba", mixer_rms_eps: 0 }, /field "mixer_rms_eps"/],
    [{ ...m1, hidden_size: undefined }, /m\.json: field "hidden_size" is required/],
    [{ ...m1, num_hidden_layers: 0 }, /field "num_hidden_layers" must be a positive integer, got 0/],
    [{ ...m1, state_size: -4 }, /field "state_size" must be a positive integer, got -4/],
    [{ ...m1, conv_kernel: 5 }, /field "conv_kernel" is 5; the causal conv kernel must be 2\.\.4/],
    [{ ...m1, use_bias: "no" }, /field "use_bias" must be true or false/],
    [{ ...m2, num_heads: 6 }, /field "num_heads" inconsistent: 6 heads × head dim 16 ≠ d_inner 128/],
    [{ ...m2, n_groups: 3 }, /field "n_groups" is 3, which does not divide the 8 heads/],
    [{ ...m2, rms_norm: false }, /field "rms_norm" is false: LayerNorm models are not supported/],
    [{ ...STATE_SPACES_130M, rms_norm: false }, /field "rms_norm" is false: LayerNorm/],
    [{ ...STATE_SPACES_130M, d_model: undefined, vocab_size: 5 }, /m\.json: unrecognised config/],
    [{ ...STATE_SPACES_130M, n_layer: undefined }, /field "n_layer" is required/],
    [{ ...STATE_SPACES_130M, ssm_cfg: { layer: "Mamba3" } }, /field "ssm_cfg\.layer" is "Mamba3"; supported/],
    [{ ...STATE_SPACES_130M, ssm_cfg: { d_conv: 1 } }, /field "ssm_cfg\.d_conv" is 1; the causal conv kernel/],
    [{ ...STATE_SPACES_MAMBA2_130M, d_intermediate: 512 }, /field "d_intermediate" > 0: blocks with an MLP/],
    [{ ...STATE_SPACES_MAMBA2_130M, ssm_cfg: { layer: "Mamba2", headdim: 100 } }, /field "ssm_cfg\.headdim"/],
    [{ ...STATE_SPACES_MAMBA2_130M, ssm_cfg: { layer: "Mamba2", rmsnorm: false } }, /"ssm_cfg\.rmsnorm" is false/],
    [[1, 2], /m\.json: config must be a JSON object/],
  ];
  for (const [json, pattern] of cases) assert.throws(() => parseConfig(json, "m.json"), pattern);
});

Deno.test("config audit: keys whose non-default values the model would not honour are refused, naming the key", async () => {
  const hf1 = await fixtureConfig("mamba1-tiny");
  const hf2 = await fixtureConfig("mamba2-groups");
  const ss1 = STATE_SPACES_130M;
  const ss2 = STATE_SPACES_MAMBA2_130M;
  const ssm2 = (extra: Record<string, unknown>) => ({ ...ss2, ssm_cfg: { layer: "Mamba2", ...extra } });
  const cases: [unknown, RegExp][] = [
    [
      ssm2({ norm_before_gate: true }),
      /c\.json: field "ssm_cfg\.norm_before_gate" is true: the gated RMSNorm computing norm\(y\) · SiLU\(z\) is not supported/,
    ],
    [ssm2({ activation: "relu" }), /field "ssm_cfg\.activation" is "relu": only "silu"/],
    [
      { ...ss2, norm_epsilon: 1e-6 },
      /field "norm_epsilon" is 0\.000001: a state-spaces Mamba-2 keeps eps 1e-5 in its gated RMSNorm/,
    ],
    [{ ...ss1, ssm_cfg: { activation: "gelu" } }, /field "ssm_cfg\.activation" is "gelu"/],
    [{ ...hf1, hidden_act: "gelu" }, /field "hidden_act" is "gelu": only "silu"/],
    [{ ...hf2, hidden_act: "relu" }, /field "hidden_act" is "relu"/],
    [{ ...hf2, norm_before_gate: "yes" }, /field "norm_before_gate" must be true or false/],
    // Refused before this change too (kept here so the audit's refusals are all tested together).
    [{ ...hf2, rms_norm: false }, /field "rms_norm" is false/],
    [ssm2({ rmsnorm: false }), /field "ssm_cfg\.rmsnorm" is false/],
    [ssm2({ D_has_hdim: true }), /field "ssm_cfg\.D_has_hdim" is true/],
    [ssm2({ d_ssm: 768 }), /field "ssm_cfg\.d_ssm" differs from d_inner/],
    [{ ...ss2, d_intermediate: 512 }, /field "d_intermediate"/],
    [{ ...ss2, attn_layer_idx: [3] }, /field "attn_layer_idx" is not empty/],
    [{ ...ss1, rms_norm: false }, /field "rms_norm" is false/],
  ];
  for (const [json, re] of cases) assert.throws(() => parseConfig(json, "c.json"), re, JSON.stringify(json));
  // Accepted: "swish" (SiLU's other name), state-spaces norm_before_gate false, norm_epsilon 1e-5 spelled 1e-05, and
  // a Hugging Face norm_before_gate true, which transformers ignores (its Mamba2Config default), computing
  // norm(y · SiLU(z)) as PerfMamba does; the parsed config says so.
  assert.equal(parseConfig(ssm2({ activation: "swish", norm_before_gate: false }), "c.json").normBeforeGate, false);
  assert.equal(parseConfig({ ...ss2, norm_epsilon: 1e-05 }, "c.json").eps, 1e-5);
  assert.equal(parseConfig({ ...hf1, hidden_act: "silu" }, "c.json").arch, "mamba1");
  assert.equal(parseConfig({ ...hf2, norm_before_gate: true, hidden_act: "swish" }, "c.json").normBeforeGate, false);
  assert.equal(parseConfig({ ...ss1, norm_epsilon: 1e-6 }, "c.json").eps, 1e-6, "Mamba-1 has no gated norm");
});
