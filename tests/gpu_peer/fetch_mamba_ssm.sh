#!/usr/bin/env bash
# Usage: tests/gpu_peer/fetch_mamba_ssm.sh [MIRROR_GIT_DIR] [COMMIT]
# Materializes the Python package `mamba_ssm/` of state-spaces/mamba (the GPU peer harness's outside reference,
# tests/gpu_peer/mamba_ssm_bench.py) into .mamba_ssm/ at the project root, importable with PYTHONPATH=.mamba_ssm.
# No pip install and no compiled extension: the GPU machine reaches no registry, and mamba_ssm's CUDA extensions
# (selective_scan_cuda, causal_conv1d) are not built; the bench script says which paths ran instead.
# .mamba_ssm/ is ignored (.gitignore): never commit it; name it in the device run's `carry`.
# MIRROR_GIT_DIR: a bare git dir of github.com/state-spaces/mamba (the search tool's `fetch` puts one at
# /work/.mirror/state-spaces+mamba/repo); COMMIT: default the one the harness was written against.
set -euo pipefail
mirror=${1:-${MAMBA_MIRROR:-/work/.mirror/state-spaces+mamba/repo}}
commit=${2:-e9594ce1c732d97440f0332fdc43170a2294dbfa}
root=$(git rev-parse --show-toplevel)
dest="$root/.mamba_ssm"
if ! git -C "$mirror" rev-parse --verify --quiet "$commit^{commit}" >/dev/null; then
  echo "fetch_mamba_ssm: commit $commit not found in $mirror (fetch github:state-spaces/mamba first)" >&2
  exit 1
fi
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
git -C "$mirror" archive "$commit" mamba_ssm LICENSE AUTHORS | tar -x -C "$dest.tmp"
git -C "$mirror" rev-parse "$commit^{commit}" > "$dest.tmp/COMMIT"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "mamba_ssm $(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$dest/mamba_ssm/__init__.py") at $(cat "$dest/COMMIT") in $dest ($(du -sh "$dest" | cut -f1))"
