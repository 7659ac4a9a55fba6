#!/usr/bin/env python3
"""llama.cpp's GGUF conventions from llama.cpp's own code, for tests/runtime/gguf_llama_cpp_test.ts.

Needs gguf-py (`pip install gguf==0.19.0`, llama.cpp's gguf-py package) and numpy; no torch.

  convert FIXTURE_DIR OUT.gguf f32|f16|q8_0|q4_0
      Converts a Hugging Face Mamba / Falcon-Mamba / Mamba-2 checkpoint (config.json + model.safetensors) to GGUF
      the way convert_hf_to_gguf.py's MambaModel and Mamba2Model do (hparams, tensor names through gguf-py's
      TensorNameMap, A = -exp(A_log), conv1d squeezed, Mamba-2 A/D unsqueezed and the gated norm reshaped to
      [n_group, d_inner / n_group], lm_head omitted when tied, 1-D / norm / conv1d / non-".weight" tensors kept
      F32, Q8_0 falling back to F16 where the rows are not a multiple of 32), written with gguf-py's GGUFWriter.
      The vocabulary is a placeholder token list of vocab_size (padded as convert pads it) tokens.

  dump IN.gguf
      Prints what gguf-py's GGUFReader reads from a GGUF as JSON: the metadata (scalars and arrays) and per
      tensor its type, GGUF-order shape and raw bytes (hex); for `ssm_a` also its values.
"""
import json
import struct
import sys

import numpy as np
import gguf


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        buf = data[b:end]
        if e["dtype"] == "F32":
            arr = np.frombuffer(buf, dtype="<f4")
        elif e["dtype"] == "F16":
            arr = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "BF16":
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: tensor {name}: dtype {e['dtype']} not handled")
        out[name] = arr.reshape(e["shape"]).copy()
    return out


def convert(fixture, out, outtype):
    with open(f"{fixture}/config.json") as f:
        hp = json.load(f)
    tensors = read_safetensors(f"{fixture}/model.safetensors")
    mamba2 = hp["model_type"] == "mamba2"
    arch = gguf.MODEL_ARCH.MAMBA2 if mamba2 else gguf.MODEL_ARCH.MAMBA
    arch_name = gguf.MODEL_ARCH_NAMES[arch]
    n_layer = hp["num_hidden_layers"]
    d_model = hp["hidden_size"]
    w = gguf.GGUFWriter(out, arch_name)
    ftype = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
             "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}[outtype]

    # set_vocab: the vocabulary padded to pad_vocab_size_multiple (8: Mamba, 16: Mamba-2).
    pad = hp.get("pad_vocab_size_multiple", 16 if mamba2 else 8)
    vocab = -(hp["vocab_size"] // -pad) * pad
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"<t{i}>" for i in range(vocab)])

    # set_gguf_parameters, as MambaModel / Mamba2Model write them.
    d_conv = hp.get("conv_kernel") or 4
    eps = hp.get("layer_norm_epsilon") or 1e-5
    w.add_context_length(2**20)
    w.add_embedding_length(d_model)
    w.add_feed_forward_length(0)
    w.add_head_count(0)
    w.add_block_count(n_layer)
    w.add_ssm_conv_kernel(d_conv)
    if mamba2:
        d_inner = hp.get("intermediate_size") or 2 * d_model
        if "expand" in hp:
            d_inner = int(hp["expand"] * d_model)
        head_dim = hp.get("head_dim") or 64
        n_group = hp.get("n_groups") or 1
        w.add_ssm_inner_size(d_inner)
        w.add_ssm_state_size(hp.get("state_size") or 128)
        w.add_ssm_time_step_rank(d_inner // head_dim)
        w.add_ssm_group_count(n_group)
    else:
        d_inner = hp.get("intermediate_size") or 2 * d_model
        w.add_ssm_inner_size(d_inner)
        w.add_ssm_state_size(hp.get("state_size") or 16)
        w.add_ssm_time_step_rank(hp.get("time_step_rank") or -(d_model // -16))
    w.add_layer_norm_rms_eps(eps)
    if not mamba2:
        w.add_ssm_dt_b_c_rms(hp["model_type"] == "falcon_mamba")
    w.add_file_type(ftype)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    names = gguf.TensorNameMap(arch, n_layer)
    tok_embd = None
    for name, data in tensors.items():
        if mamba2 and name.endswith(".dt_bias"):
            name = name.rpartition(".dt_bias")[0] + ".dt_proj.bias"
        new_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise SystemExit(f"cannot map {name}")
        if name.endswith(".A_log"):
            data = -np.exp(data)
        if ".ssm_conv1d." in new_name:
            data = data.squeeze()
        elif mamba2 and (new_name.endswith(".ssm_a") or new_name.endswith(".ssm_d")):
            data = data.reshape((*data.shape, 1))
        elif mamba2 and new_name.endswith(".ssm_norm.weight"):
            data = data.reshape((n_group, d_inner // n_group))
        if new_name == "token_embd.weight":
            tok_embd = data
        if new_name == "output.weight" and tok_embd is not None and np.array_equal(tok_embd, data):
            continue
        # prepare_tensors: which tensors keep F32.
        qtype = None
        if data.ndim <= 1 or new_name.endswith("_norm.weight") or ".ssm_conv1d." in new_name \
                or not name.endswith(".weight"):
            qtype = gguf.GGMLQuantizationType.F32
        if qtype is None:
            qtype = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
                     "q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}[outtype]
        try:
            stored = gguf.quants.quantize(data.astype(np.float32), qtype)
        except gguf.QuantError:
            qtype = gguf.GGMLQuantizationType.F16
            stored = gguf.quants.quantize(data.astype(np.float32), qtype)
        w.add_tensor(new_name, stored, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def plain(v):
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def dump(path):
    r = gguf.GGUFReader(path)
    meta = {}
    for k, f in r.fields.items():
        if k.startswith("GGUF."):
            continue
        meta[k] = {"types": [t.name for t in f.types], "value": plain(f.contents())}
    tensors = {}
    for t in r.tensors:
        raw = np.asarray(t.data).tobytes()
        tensors[t.name] = {"type": t.tensor_type.name, "shape": [int(x) for x in t.shape], "hex": raw.hex()}
        if t.name.endswith(".ssm_a"):  # compared by value (exp in f32 may differ by an ulp), the rest by bytes
            values = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float64).reshape(-1)
            tensors[t.name]["values"] = values.tolist()
    json.dump({"metadata": meta, "tensors": tensors, "alignment": r.alignment}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "convert":
        convert(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 3 and sys.argv[1] == "dump":
        dump(sys.argv[2])
    else:
        raise SystemExit(__doc__)
