#!/usr/bin/env bash
# Sets up dlor and runs the whole test suite twice through ctest: once in a
# normal build (build/) and once with AddressSanitizer + UBSan (build-asan/),
# then every libFuzzer target for a bounded time (scripts/fuzz.sh, build-fuzz/).
#   DLOR_FUZZ_SECONDS  seconds per fuzz target (default 30; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
DLOR_WITH_PYTHON=1 DLOR_WITH_FUZZ=1 bash scripts/setup.sh build
jobs=$(nproc)
echo "== tests (release build)"
ctest --test-dir build --output-on-failure -j"$jobs"
echo "== tests (AddressSanitizer + UBSan build)"
DLOR_SANITIZE=ON bash scripts/setup.sh build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
fuzz_seconds=${DLOR_FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" != 0 ]; then
  echo "== fuzzing (libFuzzer, ASan + UBSan, ${fuzz_seconds} s per target)"
  bash scripts/fuzz.sh "$fuzz_seconds"
fi
