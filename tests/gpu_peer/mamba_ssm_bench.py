#!/usr/bin/env python3
"""The mamba_ssm side of the GPU peer harness (tests/gpu_peer/peer_gpu.ts).

Times state-spaces/mamba's own PyTorch model (mamba_ssm.models.mixer_seq_simple.MambaLMHeadModel, random weights,
on the GPU) at the shapes our `bench` times, and prints (or writes) one JSON document: per planned run its median
time and range over --iters timed runs after --warmup untimed ones, timed with torch.cuda.Event.

  prefill  B x L random token ids through model(ids, num_last_tokens=1): ms per forward (ours: prefill, lastOnly)
  decode   after a --prompt-token prompt, one model(...) step per token with the inference cache, logits copied to
           the host each step (ours: model.step, logits read back): median ms per step
  greedy   model.generate(cg=True, top_k=1) (CUDA graphs): ms per decoded step, from the difference between a
           generate of --decode-tokens + 1 new tokens and one of 1 new token (both include the prompt's prefill)
  sampled  the same with top_k/top_p/temperature sampling (default: temperature 0.8, top-p 0.95, as bench's sampled rows)

The package is not installed: tests/gpu_peer/fetch_mamba_ssm.sh puts its source in .mamba_ssm/ (PYTHONPATH). Its
CUDA extensions are not built there, so this script picks the paths mamba_ssm itself falls back to and says which ran
(the JSON's "paths"): Mamba-1's prefill scan is mamba_ssm's own reference scan `selective_scan_ref` (a PyTorch loop
over time) when `selective_scan_cuda` is missing; the causal conv is torch's conv1d when `causal_conv1d` is missing;
Mamba-2's prefill goes through its non-fused path (`use_mem_eff_path=False`: the fused one calls causal_conv1d) into
the Triton SSD kernels (`mamba_chunk_scan_combined`); decode of both uses the Triton `selective_state_update`; the
norms are the Triton fused add + RMSNorm.

--dry-run prints the planned runs (one JSON object a line: arch, mode, batch, seqLen, dtype) without importing torch;
tests/gpu_peer/peer_gpu_test.ts checks that they equal the Deno side's plan.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

MODES = ("prefill", "decode", "greedy", "sampled")
DTYPES = ("fp32", "bf16")


def int_list(name):
    def parse(text):
        try:
            values = [int(v) for v in text.split(",") if v.strip() != ""]
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name}: {text!r} is not a comma-separated list of whole numbers")
        if not values or any(v < 1 or v > 65536 for v in values):
            raise argparse.ArgumentTypeError(f"--{name}: {text!r}: give values in [1, 65536]")
        return values

    return parse


def choice_list(name, allowed):
    def parse(text):
        values = [v.strip() for v in text.split(",") if v.strip() != ""]
        for v in values:
            if v not in allowed:
                raise argparse.ArgumentTypeError(f"--{name}: {v!r} is not one of {', '.join(allowed)}")
        if not values:
            raise argparse.ArgumentTypeError(f"--{name}: give at least one of {', '.join(allowed)}")
        return values

    return parse


def parse_args(argv):
    p = argparse.ArgumentParser(description="Time mamba_ssm at our bench's shapes (GPU peer harness).")
    p.add_argument("--arch", choices=("mamba1", "mamba2"), required=True)
    p.add_argument("--d-model", type=int, required=True)
    p.add_argument("--n-layer", type=int, required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--d-state", type=int, required=True)
    p.add_argument("--expand", type=int, default=2)
    p.add_argument("--d-conv", type=int, default=4)
    p.add_argument("--headdim", type=int, default=64, help="Mamba-2 only")
    p.add_argument("--ngroups", type=int, default=1, help="Mamba-2 only")
    p.add_argument("--chunk-size", type=int, default=256, help="Mamba-2 only")
    p.add_argument("--label", default="", help="The shape's name in the output (e.g. 130m)")
    p.add_argument("--prefill-batch", type=int_list("prefill-batch"), default=[1])
    p.add_argument("--seqlens", type=int_list("seqlens"), default=[512])
    p.add_argument("--batches", type=int_list("batches"), default=[1], help="decode batch sizes")
    p.add_argument("--modes", type=choice_list("modes", MODES), default=list(MODES))
    p.add_argument("--dtypes", type=choice_list("dtypes", DTYPES), default=["fp32"])
    p.add_argument("--decode-tokens", type=int, default=16)
    p.add_argument("--prompt", type=int, default=16, help="prompt tokens before decode")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--temperature", type=float, default=0.8, help="sampled mode (ours: bench's sampled rows, T 0.8)")
    p.add_argument("--top-k", type=int, default=0, help="sampled mode (0: the whole vocabulary)")
    p.add_argument("--top-p", type=float, default=0.95, help="sampled mode (0: off; ours: 0.95)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the result here (default: stdout)")
    p.add_argument("--dry-run", action="store_true", help="print the planned runs and exit (no torch needed)")
    a = p.parse_args(argv)
    positive = {
        "d-model": a.d_model, "n-layer": a.n_layer, "vocab": a.vocab, "d-state": a.d_state, "expand": a.expand,
        "headdim": a.headdim, "ngroups": a.ngroups, "chunk-size": a.chunk_size, "decode-tokens": a.decode_tokens,
        "prompt": a.prompt, "iters": a.iters,
    }
    for name, v in positive.items():
        if v < 1:
            p.error(f"--{name}: {v} must be at least 1")
    if a.warmup < 0:
        p.error(f"--warmup: {a.warmup} must be at least 0")
    if not 2 <= a.d_conv <= 4:
        p.error(f"--d-conv: {a.d_conv} must be 2..4")
    if a.arch == "mamba2":
        d_inner = a.expand * a.d_model
        if d_inner % a.headdim != 0 or (d_inner // a.headdim) % a.ngroups != 0:
            p.error(f"--headdim {a.headdim} / --ngroups {a.ngroups} do not divide d_inner {d_inner}")
    return a


def plan(a):
    """The runs, in the order they are timed: per dtype, prefill at each prefill batch and length, then per decode
    batch the decode modes. Mirrors planRuns in tests/gpu_peer/gpu_peer_table.ts."""
    runs = []
    for dtype in a.dtypes:
        if "prefill" in a.modes:
            for b in a.prefill_batch:
                for length in a.seqlens:
                    runs.append({"arch": a.arch, "mode": "prefill", "batch": b, "seqLen": length, "dtype": dtype})
        for b in a.batches:
            for mode in ("decode", "greedy", "sampled"):
                if mode in a.modes:
                    runs.append({"arch": a.arch, "mode": mode, "batch": b, "seqLen": 1, "dtype": dtype})
    return runs


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


class Bench:
    """A mamba_ssm model of one shape and dtype on the GPU, and the timed runs of the plan."""

    def __init__(self, a, dtype_name):
        import torch
        from mamba_ssm.models.config_mamba import MambaConfig
        from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel

        self.torch = torch
        self.a = a
        self.dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
        if a.arch == "mamba1":
            ssm_cfg = {"layer": "Mamba1", "d_state": a.d_state, "d_conv": a.d_conv, "expand": a.expand}
        else:
            # The fused (use_mem_eff_path) prefill calls causal_conv1d's CUDA function unconditionally; the
            # non-fused path falls back to torch's conv1d and runs the same Triton SSD kernels.
            ssm_cfg = {
                "layer": "Mamba2", "d_state": a.d_state, "d_conv": a.d_conv, "expand": a.expand,
                "headdim": a.headdim, "ngroups": a.ngroups, "chunk_size": a.chunk_size,
                "use_mem_eff_path": not _causal_conv1d_missing(),
            }
        config = MambaConfig(
            d_model=a.d_model, n_layer=a.n_layer, vocab_size=a.vocab, ssm_cfg=ssm_cfg, rms_norm=True,
            residual_in_fp32=True, fused_add_norm=True, pad_vocab_size_multiple=8, tie_embeddings=True,
        )
        torch.manual_seed(a.seed)
        self.model = MambaLMHeadModel(config, device="cuda", dtype=self.dtype).eval()
        self.parameters = sum(p.numel() for p in self.model.parameters())
        self.gen = torch.Generator(device="cuda").manual_seed(a.seed + 1)

    def ids(self, batch, length):
        return self.torch.randint(0, self.a.vocab, (batch, length), device="cuda", generator=self.gen)

    def timed(self, fn):
        """Milliseconds of fn() between two CUDA events (the GPU idle before: synchronized)."""
        torch = self.torch
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end)

    def prefill(self, batch, length):
        ids = self.ids(batch, length)
        with self.torch.inference_mode():
            run = lambda: self.model(ids, num_last_tokens=1).logits  # noqa: E731
            for _ in range(self.a.warmup):
                self.timed(run)
            return [self.timed(run) for _ in range(self.a.iters)]

    def decode_steps(self, batch):
        """Median step time of each of --warmup + --iters decode loops of --decode-tokens steps after a prompt."""
        from mamba_ssm.utils.generation import InferenceParams

        torch, a = self.torch, self.a
        medians = []
        with torch.inference_mode():
            for rep in range(a.warmup + a.iters):
                params = InferenceParams(max_seqlen=a.prompt + a.decode_tokens + 1, max_batch_size=batch)
                self.model(self.ids(batch, a.prompt), inference_params=params, num_last_tokens=1)
                params.seqlen_offset += a.prompt
                tokens = [self.ids(batch, 1) for _ in range(a.decode_tokens)]
                steps = []
                for t in tokens:
                    def step():
                        logits = self.model(t, inference_params=params, num_last_tokens=1).logits
                        logits.float().cpu()  # ours reads each step's logits back to the host

                    steps.append(self.timed(step))
                    params.seqlen_offset += 1
                if rep >= a.warmup:
                    medians.append(statistics.median(steps))
        return medians

    def generate_per_step(self, batch, sampled):
        """ms per decoded step of model.generate(cg=True): (generate of N+1 new tokens - median generate of 1) / N."""
        torch, a = self.torch, self.a
        kw = {"cg": True, "top_k": 1}
        if sampled:
            kw = {"cg": True, "top_k": a.top_k, "top_p": a.top_p, "temperature": a.temperature}
        long_len, short_len = a.prompt + a.decode_tokens + 1, a.prompt + 1
        # The graph cache is kept per batch size; a new batch size captures anew (inside the warm-up).
        self.model._decoding_cache = None
        longs, shorts = [], []
        with torch.inference_mode():
            for rep in range(a.warmup + a.iters):
                prompt = self.ids(batch, a.prompt)
                long_ms = self.timed(lambda: self.model.generate(prompt, max_length=long_len, **kw))
                short_ms = self.timed(lambda: self.model.generate(prompt, max_length=short_len, **kw))
                if rep >= a.warmup:
                    longs.append(long_ms)
                    shorts.append(short_ms)
        # Each long run minus the MEDIAN short run: a per-pair difference let one slow short run (host jitter of
        # generate's prompt pass) make a sample negative (seen on an H100: [0.97, -1.19, 0.87] ms).
        short = statistics.median(shorts)
        return [(x - short) / a.decode_tokens for x in longs]

    def run(self, r):
        if r["mode"] == "prefill":
            return self.prefill(r["batch"], r["seqLen"])
        if r["mode"] == "decode":
            return self.decode_steps(r["batch"])
        return self.generate_per_step(r["batch"], r["mode"] == "sampled")


def _causal_conv1d_missing():
    try:
        import causal_conv1d  # noqa: F401
    except ImportError:
        return True
    return False


def use_available_paths():
    """Points Mamba-1's prefill scan at mamba_ssm's reference scan when the CUDA extension is missing; returns the
    paths that will run, by part."""
    import mamba_ssm.modules.mamba_simple as mamba_simple
    import mamba_ssm.ops.selective_scan_interface as ssi

    paths = {}
    if ssi.selective_scan_cuda is None:
        mamba_simple.selective_scan_fn = ssi.selective_scan_ref
        paths["mamba1 prefill scan"] = (
            "selective_scan_ref (mamba_ssm's PyTorch reference loop over time; selective_scan_cuda not built)"
        )
    else:
        paths["mamba1 prefill scan"] = "selective_scan_fn (CUDA extension selective_scan_cuda)"
    conv_missing = mamba_simple.causal_conv1d_fn is None
    paths["conv1d"] = (
        "torch conv1d / rolled-state step (causal_conv1d not built)" if conv_missing else "causal_conv1d (CUDA)"
    )
    paths["mamba2 prefill scan"] = "mamba_chunk_scan_combined (Triton SSD)" + (
        ", use_mem_eff_path=False (its fused path needs causal_conv1d)" if conv_missing else ", fused mem-eff path"
    )
    paths["decode scan"] = (
        "selective_state_update (Triton)" if mamba_simple.selective_state_update is not None
        else "PyTorch einsum step (Triton selective_state_update unavailable)"
    )
    paths["norms"] = "Triton fused add + RMSNorm (mamba_ssm.ops.triton.layer_norm)"
    return paths


def main(argv):
    a = parse_args(argv)
    runs = plan(a)
    if a.dry_run:
        for r in runs:
            print(json.dumps(r, separators=(",", ":")))
        return 0
    import torch
    import triton

    if not torch.cuda.is_available():
        print("mamba_ssm_bench: no CUDA device (torch.cuda.is_available() is False)", file=sys.stderr)
        return 1
    try:
        import mamba_ssm
    except ImportError as e:
        print(f"mamba_ssm_bench: cannot import mamba_ssm ({e}); run tests/gpu_peer/fetch_mamba_ssm.sh and set "
              f"PYTHONPATH=.mamba_ssm", file=sys.stderr)
        return 1
    paths = use_available_paths()
    commit_file = os.path.join(os.path.dirname(os.path.dirname(mamba_ssm.__file__)), "COMMIT")
    commit = open(commit_file).read().strip() if os.path.exists(commit_file) else None
    rows = []
    t_start = time.time()
    for dtype in a.dtypes:
        bench = Bench(a, dtype)
        for r in (r for r in runs if r["dtype"] == dtype):
            try:
                ms = bench.run(r)
                if any(not math.isfinite(x) or x <= 0 for x in ms):
                    raise RuntimeError(f"non-positive or non-finite timing {ms}")
                s = summary(ms)
                tokens = r["batch"] * (r["seqLen"] if r["mode"] == "prefill" else 1)
                row = {**r, "ms": s["median"], "msMin": s["min"], "msMax": s["max"], "n": s["n"],
                       "tokPerS": tokens / (s["median"] / 1000)}
            except Exception as e:  # a shape over a limit (memory) is reported and the sweep goes on
                row = {**r, "error": f"{type(e).__name__}: {e}"[:300]}
                bench.model._decoding_cache = None
                torch.cuda.empty_cache()
            rows.append(row)
            shown = f"{row['ms']:.3f} ms" if "ms" in row else f"failed: {row['error']}"
            print(f"mamba_ssm {a.arch} {a.label} {dtype} {r['mode']} B{r['batch']} L{r['seqLen']}: {shown}",
                  file=sys.stderr, flush=True)
        parameters = bench.parameters
        del bench
        torch.cuda.empty_cache()
    out = {
        "mambaSsm": {"version": mamba_ssm.__version__, "commit": commit},
        "torch": torch.__version__,
        "triton": triton.__version__,
        "device": torch.cuda.get_device_name(0),
        "tf32Matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32Cudnn": bool(torch.backends.cudnn.allow_tf32),
        "arch": a.arch,
        "label": a.label,
        "parameters": parameters,
        "paths": paths,
        "options": {k: v for k, v in vars(a).items() if k not in ("json", "dry_run")},
        "seconds": time.time() - t_start,
        "rows": rows,
    }
    text = json.dumps(out, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
