/**
 * Deterministic random weights for any config, initialised the way mamba_ssm initialises a fresh model
 * (A = 1..N, Δ bias giving Δ ∈ [0.001, 0.1], unit norms, small projections), so that benchmarks and profiles
 * run realistic numerics without downloading a checkpoint.
 *
 * @module
 */

import type { MambaConfig } from "./config.ts";
import { layerStateSize } from "./config.ts";
import { mulberry32 } from "./sampling.ts";
import type { HostTensor, LayerWeights, MambaWeights } from "./weights.ts";

function tensor(shape: number[], fill: (i: number) => number): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = fill(i);
  return { shape, data };
}

/**
 * Weights for `config` from `seed`: the same seed always gives the same model.
 *
 * @example
 * ```ts
 * import { makeConfig, syntheticWeights } from "@perfmamba/perfmamba";
 * const w = syntheticWeights(makeConfig("mamba1", { dModel: 64, nLayer: 2, vocabSize: 256 }), 1);
 * console.log(w.layers.length); // 2
 * ```
 */
export function syntheticWeights(config: MambaConfig, seed = 0): MambaWeights {
  const rand = mulberry32(seed);
  // Uniform with standard deviation `std`.
  const u = (std: number) => () => (rand() * 2 - 1) * std * Math.sqrt(3);
  const ones = (n: number) => tensor([n], () => 1);
  const d = config.dModel, D = config.dInner, K = config.dConv;
  // Δ bias: softplus⁻¹ of Δ log-uniform in [0.001, 0.1].
  const dtBias = () => {
    const dt = Math.exp(rand() * (Math.log(0.1) - Math.log(0.001)) + Math.log(0.001));
    return dt + Math.log(-Math.expm1(-dt));
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayer; l++) {
    const N = layerStateSize(config, l);
    if (config.arch === "mamba1") {
      const R = config.dtRank;
      layers.push({
        arch: "mamba1",
        norm: ones(d),
        inProj: tensor([2 * D, d], u(d ** -0.5)),
        inProjBias: config.useBias ? tensor([2 * D], () => 0) : null,
        convWeight: tensor([D, K], u(K ** -0.5)),
        convBias: config.useConvBias ? tensor([D], u(0.1)) : null,
        xProj: tensor([R + 2 * N, D], u(D ** -0.5)),
        dtProj: tensor([D, R], u(R ** -0.5)),
        dtProjBias: tensor([D], dtBias),
        aLog: tensor([D, N], (i) => Math.log((i % N) + 1)),
        D: ones(D),
        outProj: tensor([d, D], u(D ** -0.5 / Math.sqrt(config.nLayer))),
        outProjBias: config.useBias ? tensor([d], () => 0) : null,
      });
    } else {
      const G = config.nGroups, H = config.nHeads;
      const rows = 2 * D + 2 * G * N + H;
      layers.push({
        arch: "mamba2",
        norm: ones(d),
        inProj: tensor([rows, d], u(d ** -0.5)),
        inProjBias: config.useBias ? tensor([rows], () => 0) : null,
        convWeight: tensor([D + 2 * G * N, K], u(K ** -0.5)),
        convBias: config.useConvBias ? tensor([D + 2 * G * N], u(0.1)) : null,
        dtBias: tensor([H], dtBias),
        aLog: tensor([H], () => Math.log(1 + rand() * 15)),
        D: ones(H),
        gateNorm: ones(D),
        outProj: tensor([d, D], u(D ** -0.5 / Math.sqrt(config.nLayer))),
        outProjBias: config.useBias ? tensor([d], () => 0) : null,
      });
    }
  }
  return {
    config,
    embedding: tensor([config.vocabSize, d], u(0.02)),
    layers,
    normF: ones(d),
    lmHead: config.tieEmbeddings ? null : tensor([config.vocabSize, d], u(0.02)),
  };
}
