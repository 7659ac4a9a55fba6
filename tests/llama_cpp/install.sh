#!/usr/bin/env bash
# Install the real llama.cpp for tests/llama_cpp/llama_cpp_test.ts: npm node-llama-cpp (pinned) and its prebuilt CPU
# library for this platform into .llama-cpp/ (git-ignored). No install scripts run (--ignore-scripts): nothing is built
# or downloaded besides the npm packages; the GPU variants (CUDA, Vulkan: 650 MB) are left out (--omit=optional).
# Installed into a temporary sibling first and renamed into place, so .llama-cpp/ is complete or absent.
# Exit status non-zero when the install fails; the test then skips with the reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=3.22.1
platform=$(node -p 'process.platform + "-" + process.arch')
tmp=".llama-cpp.tmp-$$"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp"
npm install --prefix "$tmp" --ignore-scripts --no-audit --no-fund --save-exact --omit=optional \
  "node-llama-cpp@${version}" "@node-llama-cpp/${platform}@${version}"
rm -rf .llama-cpp
mv "$tmp" .llama-cpp
