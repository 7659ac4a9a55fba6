"""Cross-check PerfMamba's pruned checkpoints with Hugging Face transformers (run on the GPU machine, which has
torch + transformers; this machine has neither).

    python3 tests/device/transformers_check.py DIR [DIR ...]

Each DIR is a checkpoint folder written by `perfmamba prune` that also holds `perfmamba_logits.json`
({"input_ids": [...], "logits": [[...], ...]}: our logits for those ids). The script loads DIR with
AutoModelForCausalLM (fp32, CPU, no custom kernels), runs the ids and prints the largest |Δlogit| against ours,
relative to max |logit|; exit code 1 when any folder is off by more than 1e-4 relative or fails to load.
"""

import json
import sys

import torch
from transformers import AutoModelForCausalLM


def check(folder: str) -> bool:
    ours = json.load(open(f"{folder}/perfmamba_logits.json"))
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
    except Exception as e:  # noqa: BLE001 - report any loading failure
        print(f"{folder}: transformers cannot load it: {e}")
        return False
    model.eval()
    with torch.no_grad():
        out = model(torch.tensor([ours["input_ids"]])).logits[0]
    ref = torch.tensor(ours["logits"])
    diff = (out - ref).abs().max().item()
    scale = ref.abs().max().item()
    ok = diff <= 1e-4 * scale + 1e-5
    cfg = model.config
    print(
        f"{folder}: {type(model).__name__} state_size {cfg.state_size}, "
        f"max |Δlogit| {diff:.3e} (max |logit| {scale:.3f}) -> {'OK' if ok else 'MISMATCH'}"
    )
    return ok


if __name__ == "__main__":
    results = [check(f) for f in sys.argv[1:]]
    sys.exit(0 if results and all(results) else 1)
