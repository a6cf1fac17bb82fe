#!/usr/bin/env bash
# Sets up dlor, then runs the main job on the bundled digits classifier
# (64-128-128-10, ReLU): convert it to exact DLoR form, verify it (per layer
# and end to end on the held-out test split, with accuracy before and after),
# and run both models.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
mkdir -p out
d=samples/digits
echo "== dlor info $d/digits.safetensors"
build/dlor info "$d/digits.safetensors"
echo
echo "== dlor convert: every layer as a product of DLoR factors (Theorem 4), rank 16"
build/dlor convert "$d/digits.safetensors" -o out/digits.dlor --activation relu --rank 16 --verbose
echo
echo "== dlor verify: rebuild each layer, then dense vs DLoR on the test split"
build/dlor verify "$d/digits.safetensors" out/digits.dlor --inputs "$d/x_test.npy" --labels "$d/y_test.npy" \
  --json out/digits-verify.json --html out/digits-report.html
echo
echo "== dlor run: the dense model and the DLoR model on the test inputs"
build/dlor run "$d/digits.safetensors" --activation relu -i "$d/x_test.npy" -o out/logits-dense.npy
build/dlor run out/digits.dlor -i "$d/x_test.npy" -o out/logits-dlor.npy
echo "wrote out/logits-dense.npy and out/logits-dlor.npy; report in out/digits-verify.json and out/digits-report.html"
