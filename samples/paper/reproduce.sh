#!/usr/bin/env bash
# Regenerates the paper's sawtooth experiments with dlor (see README.md beside this script):
# the report (tables, JSON, CSV of every figure) and the four network-form models of the
# accuracy targets, each run once in the precision it was made for.
# usage: samples/paper/reproduce.sh [OUT_DIR]     (default: out/paper; DLOR=path/to/dlor)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dlor=${DLOR:-$root/build/dlor}
out=${1:-out/paper}
saw=$root/samples/sawtooth
if [ ! -x "$dlor" ]; then
  echo "reproduce.sh: no dlor at $dlor (build first: bash scripts/test.sh, or set DLOR=...)" >&2
  exit 2
fi
mkdir -p "$out"
status=0
"$dlor" reproduce --sample "$saw" --out "$out" || status=$?
for dt in f64 f32; do
  for form in "deep" "wide --beta paired"; do
    name=$(echo "$form" | cut -d' ' -f1)-$dt
    # shellcheck disable=SC2086
    "$dlor" convert "$saw/sawtooth.safetensors" -o "$out/$name.dlor" --activation softplus \
      --form network --construction $form --rank 6 --c 0.5 --dtype "$dt" --calib "$saw/x_test.npy"
    "$dlor" run "$out/$name.dlor" -i "$saw/x_test.npy" -o "$out/$name.npy" --dtype "$dt"
  done
done
echo "wrote $out: report.txt, report.json, curves.csv, approx.csv, table1.csv, spectral.csv," \
     "deep-f64.dlor, wide-f64.dlor, deep-f32.dlor, wide-f32.dlor and their outputs on x_test"
exit $status
