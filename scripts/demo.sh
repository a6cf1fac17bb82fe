#!/usr/bin/env bash
# Sets up dlor, then runs the main job on the bundled sawtooth sample:
# convert the dense network to exact DLoR form and verify the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
mkdir -p out
src=samples/sawtooth/sawtooth.safetensors
echo "== dlor info $src"
build/dlor info "$src"
echo "== dlor convert $src -o out/sawtooth.dlor --method mul --rank 4"
build/dlor convert "$src" -o out/sawtooth.dlor --method mul --rank 4 --verbose
echo "== dlor verify $src out/sawtooth.dlor"
build/dlor verify "$src" out/sawtooth.dlor --json out/sawtooth-verify.json
echo "report written to out/sawtooth-verify.json"
