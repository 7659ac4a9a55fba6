#!/usr/bin/env bash
# Usage (on the lent GPU machine, from the project root, after `source .device/env.sh`):
#   bash tests/gpu_peer/device_study.sh [step ...]
# Issue 19's one batched run of our own side (the mamba_ssm side is tests/gpu_peer/device_run.sh): the study's GPU
# columns (PAPER.md Table 1: `profile --preset paper`; PRUNING.md Table 2: `sweep --preset paper`), decode with the
# fused kernels on and off (greedy and sampled, batch 1 and 8, both architectures), the batch 1-64 greedy curve
# beside mamba_ssm's CUDA-graph generate, 2.8b Mamba-2 with f32 / q8 / q4 weights (prefill L2048 and decode), and the
# 2.8b decode profile per component. Each step has its own time limit and writes $OUT/<step>.txt (a report folder as
# $OUT/<step>.tar.gz: the device returns a limited number of files); $OUT/steps.log has each command, exit status and
# wall time. Steps run in the order given (default:
# all, most wanted first) so that a run cut off at the device's limit keeps the first ones.
set -uo pipefail
out=${OUT:-out/device_study}
mkdir -p "$out"
command -v deno >/dev/null || { echo "device_study: no deno on the PATH (source .device/env.sh first)" >&2; exit 1; }
if [ -f .device/gpu-peer-deno-dir.tar.xz ]; then
  export DENO_DIR=/tmp/gpu-peer-deno-dir
  mkdir -p "$DENO_DIR" && tar -C "$DENO_DIR" -xJf .device/gpu-peer-deno-dir.tar.xz || exit 1
fi
cli=(deno run --no-lock -A cli/main.ts)
py=(python3 tests/gpu_peer/mamba_ssm_bench.py)
export PYTHONPATH=$PWD/.mamba_ssm${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

run() { # run NAME SECONDS COMMAND...
  local name=$1 limit=$2 t0 rc
  shift 2
  echo "== $name: $*" >>"$out/steps.log"
  t0=$(date +%s)
  timeout "$limit" "$@" >"$out/$name.txt" 2>&1
  rc=$?
  echo "   $name rc=$rc $(($(date +%s) - t0)) s" >>"$out/steps.log"
  if [ -d "$out/$name" ]; then tar -C "$out" -czf "$out/$name.tar.gz" "$name" && rm -rf "${out:?}/$name"; fi
}

step() {
  case $1 in
  table1) run table1 150 "${cli[@]}" profile --preset paper --backend webgpu --out "$out/table1" ;;
  table2) run table2 300 "${cli[@]}" sweep --preset paper --backend webgpu --out "$out/table2" ;;
  decode)
    for f in on off; do
      run "decode_fused_$f" 60 "${cli[@]}" bench --arch both --size 130m --seqlens 2048 --batch 1,8 --decode-tokens 32 \
        --iters 3 --skip-peaks --backend webgpu --fused "$f" --json "$out/decode_fused_$f.json"
    done
    ;;
  big)
    for w in f32 q8 q4; do
      run "big_$w" 75 "${cli[@]}" bench --arch mamba2 --size 2.8b --seqlens 2048 --batch 1 --decode-tokens 32 --iters 2 \
        --skip-peaks --backend webgpu --weights "$w" --json "$out/big_$w.json"
    done
    ;;
  curve)
    run curve_ours 90 "${cli[@]}" bench --arch both --size 130m --seqlens 16 --batch 1,2,4,8,16,32,64 --decode-tokens 32 \
      --iters 2 --skip-peaks --backend webgpu --json "$out/curve_ours.json"
    for a in mamba2 mamba1; do
      if [ $a = mamba2 ]; then shape=(--d-state 128 --headdim 64 --ngroups 1 --chunk-size 256); else shape=(--d-state 16); fi
      run "curve_mamba_ssm_$a" 90 "${py[@]}" --arch $a --label 130m --d-model 768 --n-layer 24 --vocab 50280 --expand 2 \
        --d-conv 4 "${shape[@]}" --prefill-batch 1 --seqlens 16 --batches 1,2,4,8,16,32,64 --modes greedy --dtypes fp32 \
        --decode-tokens 32 --prompt 16 --warmup 1 --iters 2 --json "$out/curve_mamba_ssm_$a.json"
    done
    ;;
  limits) run limits 150 deno run --no-lock -A tests/kernels/_greedy_limits.ts both 130m 32 5 1,8 ;;
  bench130m)
    run bench130m 150 "${cli[@]}" bench --arch both --size 130m --seqlens 2048,8192,16384 --batch 1,8 --decode-tokens 32 \
      --iters 3 --skip-peaks --backend webgpu --json "$out/bench130m.json"
    ;;
  profile2.8b)
    run profile_2.8b 90 "${cli[@]}" profile --arch mamba2 --size 2.8b --mode decode --seqlens 64 --iters 3 --backend webgpu \
      --out "$out/profile_2.8b"
    ;;
  *) echo "device_study: unknown step $1 (table1 table2 decode big curve profile2.8b limits bench130m)" >&2 ;;
  esac
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(table1 table2 decode big curve profile2.8b)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$out/device.txt" 2>&1 || true
git rev-parse HEAD >>"$out/device.txt" 2>/dev/null || true
for s in "${steps[@]}"; do step "$s"; done
cat "$out/steps.log"
