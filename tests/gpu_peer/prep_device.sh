#!/usr/bin/env bash
# Usage: tests/gpu_peer/prep_device.sh [MIRROR_GIT_DIR]
# Prepares, here, what the GPU peer harness needs on the lent GPU machine, which reaches no registry:
#   .mamba_ssm/                          the mamba_ssm source (tests/gpu_peer/fetch_mamba_ssm.sh)
#   .device/gpu-peer-deno-dir.tar.xz     a Deno cache holding the npm packages cli/main.ts and peer_gpu.ts import,
#                                        made without the lockfile (with it, Deno wants every locked package: ~190
#                                        MB, over the 64 MiB a device run carries; this one packs to ~4 MB).
# Then a device run carries [".device", ".mamba_ssm"] and starts with `source .device/env.sh;` (device-prep.sh puts
# the Deno binary and GL loaders in .device/); tests/gpu_peer/device_run.sh unpacks the cache and runs with --no-lock.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
"$(dirname "$0")/fetch_mamba_ssm.sh" "$@"
if command -v deno >/dev/null; then deno=(deno); else deno=(npx -y deno@2.9.6); fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DENO_DIR="$tmp/deno-dir" "${deno[@]}" cache --no-lock cli/main.ts tests/gpu_peer/peer_gpu.ts
mkdir -p .device
tar -C "$tmp/deno-dir" -cf - npm gen | xz -T2 -6 > .device/gpu-peer-deno-dir.tar.xz.tmp
mv .device/gpu-peer-deno-dir.tar.xz.tmp .device/gpu-peer-deno-dir.tar.xz
du -sh .device/gpu-peer-deno-dir.tar.xz .mamba_ssm
