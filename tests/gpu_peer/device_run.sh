#!/usr/bin/env bash
# Usage (on the lent GPU machine, from the project root, after `source .device/env.sh`):
#   bash tests/gpu_peer/device_run.sh [peer_gpu.ts flags ...]
# Runs the GPU peer harness (tests/gpu_peer/peer_gpu.ts) with the mamba_ssm source carried in .mamba_ssm/ and the
# Deno cache carried in .device/gpu-peer-deno-dir.tar.xz (both made here by tests/gpu_peer/prep_device.sh), and
# writes the table ($OUT/gpu_peer.md), the JSON ($OUT/gpu_peer.json, rewritten after each repetition) and the
# progress log ($OUT/gpu_peer.log). The run carries [".device", ".mamba_ssm"] (BENCHMARKS.md, "GPU peer harness").
set -uo pipefail
out=${OUT:-out/gpu_peer}
mkdir -p "$out"
[ -f .mamba_ssm/mamba_ssm/__init__.py ] || { echo "device_run: no .mamba_ssm/ (run tests/gpu_peer/prep_device.sh here, carry .mamba_ssm)" >&2; exit 1; }
command -v deno >/dev/null || { echo "device_run: no deno on the PATH (source .device/env.sh first)" >&2; exit 1; }
if [ -f .device/gpu-peer-deno-dir.tar.xz ]; then
  export DENO_DIR=/tmp/gpu-peer-deno-dir
  mkdir -p "$DENO_DIR" && tar -C "$DENO_DIR" -xJf .device/gpu-peer-deno-dir.tar.xz || exit 1
fi
export PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  python3 -c 'import torch, triton, einops, transformers; print("torch", torch.__version__, "triton", triton.__version__, "cuda", torch.cuda.is_available())'
  echo "DENO_DIR=${DENO_DIR:-}"
} 2>&1 | tee "$out/gpu_peer.log"
deno run --no-lock -A tests/gpu_peer/peer_gpu.ts --no-lock "$@" --json "$out/gpu_peer.json" \
  2> >(tee -a "$out/gpu_peer.log" >&2) | tee "$out/gpu_peer.md"
