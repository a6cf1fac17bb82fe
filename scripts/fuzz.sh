#!/usr/bin/env bash
# Builds dlor's libFuzzer targets (clang, AddressSanitizer + UBSan) in
# build-fuzz/ and runs each for SECONDS (default 30), two at a time. Fails on
# any crash, hang, leak, sanitizer report or broken property.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
#   TARGET          safetensors npy npz onnx onnx_rewrite pt pickle dlor
#                   dlor_roundtrip runtime hf_config (default: all)
#   DLOR_FUZZ_JOBS  targets run at once (default 2)
#   DLOR_FUZZ_RUNS  stop each target after this many executions instead of
#                   SECONDS (for long campaigns; see FUZZING.md)
#   DLOR_FUZZ_ARGS  extra libFuzzer flags (e.g. -jobs=1 -workers=1)
#   DLOR_FUZZ_BUILD build folder (default build-fuzz), so that a long
#                   campaign and short runs can go on side by side
#
# Each run starts from the committed corpus tests/fuzz/corpus/TARGET (read,
# never written; runtime and dlor_roundtrip also read tests/fuzz/corpus/dlor,
# onnx_rewrite tests/fuzz/corpus/onnx)
# plus build-fuzz/corpus/TARGET, where new inputs go. Logs are in
# build-fuzz/logs/, crash reproducers in build-fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
[ $# -gt 0 ] && shift
all=(safetensors npy npz onnx onnx_rewrite pt pickle dlor dlor_roundtrip runtime hf_config plan)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
jobs=${DLOR_FUZZ_JOBS:-2}
out=${DLOR_FUZZ_BUILD:-build-fuzz}

if ! command -v clang >/dev/null 2>&1 ||
   ! compgen -G '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a' >/dev/null; then
  echo "fuzz: clang and its libFuzzer are needed: install them with" >&2
  echo "fuzz:   sudo apt-get install clang libclang-rt-14-dev" >&2
  echo "fuzz: (bash scripts/setup.sh does it when run as root with DLOR_WITH_FUZZ=1)" >&2
  exit 1
fi

CC=clang cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLOR_FUZZ=ON -DDLOR_BUILD_TESTS=ON >/dev/null
cmake --build "$out" -j"$jobs" --target "${targets[@]/#/fuzz_}" >/dev/null
mkdir -p "$out/logs"

# run_target NAME: one libFuzzer run; its exit status is the run's.
run_target() {
  local t=$1 limit extra=()
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  # the targets that take .dlor images also start from the shared image corpus
  case $t in runtime|dlor_roundtrip) extra=(tests/fuzz/corpus/dlor) ;; onnx_rewrite) extra=(tests/fuzz/corpus/onnx) ;; esac
  if [ -n "${DLOR_FUZZ_RUNS:-}" ]; then limit=(-runs="$DLOR_FUZZ_RUNS"); else limit=(-max_total_time="$seconds"); fi
  # shellcheck disable=SC2086
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/tests/fuzz_$t" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=32768 \
      -dict="tests/fuzz/$t.dict" -artifact_prefix="$out/artifacts/$t/" -print_final_stats=1 \
      ${DLOR_FUZZ_ARGS:-} "$out/corpus/$t" "tests/fuzz/corpus/$t" "${extra[@]}" >"$out/logs/$t.log" 2>&1
}

failed=()
declare -A pid_of
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_target "$t" &
  pid_of[$t]=$!
done
for t in "${targets[@]}"; do
  if wait "${pid_of[$t]}"; then status=ok; else status=FAILED; failed+=("$t"); fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/logs/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/logs/$t.log" | tail -1)
  printf 'fuzz %-15s %-6s %12s executions %8s exec/s\n' "$t" "$status" "${execs:-?}" "${rate:-?}"
done
if [ ${#failed[@]} -gt 0 ]; then
  for t in "${failed[@]}"; do
    echo "== $out/logs/$t.log (last lines)" >&2
    tail -40 "$out/logs/$t.log" >&2
  done
  echo "fuzz: FAILED: ${failed[*]} (reproducers in $out/artifacts/)" >&2
  exit 1
fi
