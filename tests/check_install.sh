#!/usr/bin/env bash
# check_install.sh MODE BUILD_DIR SOURCE_DIR CC SANITIZE - libdlor as a user
# gets it, from 'cmake --install' into a temporary prefix:
#   pkgconfig     exactly dlor.h and dlor_runtime.h installed, with the libraries,
#                 dlor.pc, the CMake package, the dlor binary and its man page (a
#                 section per command of 'dlor --help'); a program that includes
#                 only <dlor.h>, built with 'pkg-config --cflags --libs dlor'
#                 (-Werror), converts the digits model, verifies it and prints the
#                 errors, which must be within the f32 tolerance (1e-4 per layer,
#                 1e-3 end to end against outputs of order 10); cancelling from the
#                 progress callback returns DLOR_E_STOPPED;
#   find_package  the same program and run_both.c (the .dlor run by <dlor_runtime.h>
#                 against the dense model run through <dlor.h>, within 1e-3
#                 relative) built by a CMake project with find_package(dlor);
#   exports       a BUILD_SHARED_LIBS=ON build: libdlor.so's dynamic symbols are
#                 exactly the functions the public headers declare (all dlor_*),
#                 and the pkg-config program runs against the shared library; the
#                 formats library references no LAPACK or BLAS symbol.
set -euo pipefail
mode=$1 build=$2 src=$3 cc=$4 sanitize=${5:-OFF}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dlor_install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
model=$src/samples/digits/digits.safetensors
fail() { echo "check_install ($mode): $*" >&2; exit 1; }

# value KEY FILE: the value of a "key value" line
value() { awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) exit 1 }' "$2" || fail "no '$1' in $2"; }
# le A B: A <= B (numbers; false for nan)
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 == a && a <= b) }'; }

check_convert_verify() { # OUTPUT
  cat "$1"
  [ "$(value layers "$1")" = 3 ] || fail "expected 3 converted layers"
  [ "$(value pass "$1")" = 1 ] || fail "verify did not pass"
  le "$(value max_rel_error "$1")" 1e-4 || fail "max relative error $(value max_rel_error "$1") above 1e-4"
  [ "$(value e2e_samples "$1")" = 256 ] || fail "expected the end-to-end check on 256 samples"
  le "$(value e2e_max_abs_error "$1")" 1e-3 || fail "end-to-end error $(value e2e_max_abs_error "$1") above 1e-3"
  le 3 "$(value progress_calls "$1")" || fail "the progress callback was called fewer than 3 times"
  [ "$(value cancelled "$1")" = yes ] || fail "cancelling from the progress callback did not stop the conversion"
}

install_into() { # BUILD PREFIX
  cmake --install "$1" --prefix "$2" >/dev/null
  pc=$(find "$2" -name dlor.pc)
  [ -n "$pc" ] || fail "no dlor.pc installed"
  export PKG_CONFIG_PATH
  PKG_CONFIG_PATH=$(dirname "$pc")
}

pkgconfig_program() { # PREFIX OUT_BINARY
  # shellcheck disable=SC2046
  "$cc" -std=c99 -Wall -Wextra -Werror "$src/tests/install/convert_verify.c" \
        $(pkg-config --cflags --libs dlor) -o "$2" || fail "the pkg-config build failed"
}

case $mode in
pkgconfig)
  install_into "$build" "$tmp/prefix"
  headers=$(cd "$tmp/prefix/include" && ls | tr '\n' ' ')
  [ "$headers" = "dlor.h dlor_runtime.h " ] || fail "installed headers: $headers (expected dlor.h dlor_runtime.h)"
  [ -x "$tmp/prefix/bin/dlor" ] || fail "no dlor binary installed"
  find "$tmp/prefix" -name dlorConfig.cmake | grep -q . || fail "no CMake package installed"
  man=$(find "$tmp/prefix" -name dlor.1)
  [ -n "$man" ] || fail "no man page dlor.1 installed"
  for c in $("$tmp/prefix/bin/dlor" --help | awk '/^commands:/ { on = 1; next } on && NF { print $1 } on && !NF { exit }'); do
    grep -q "^\.SS \"dlor $c\"" "$man" || fail "the man page has no section for 'dlor $c'"
  done
  pkgconfig_program "$tmp/prefix" "$tmp/convert_verify"
  "$tmp/convert_verify" "$model" relu "$tmp/digits.dlor" > "$tmp/out.txt" || fail "convert_verify failed"
  check_convert_verify "$tmp/out.txt"
  ;;
find_package)
  install_into "$build" "$tmp/prefix"
  cmake -S "$src/tests/install/cmake_project" -B "$tmp/proj" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >/dev/null || fail "find_package(dlor) failed"
  cmake --build "$tmp/proj" >/dev/null || fail "the CMake project did not build"
  "$tmp/proj/convert_verify" "$model" relu "$tmp/digits.dlor" > "$tmp/out.txt" || fail "convert_verify failed"
  check_convert_verify "$tmp/out.txt"
  "$tmp/proj/run_both" "$tmp/digits.dlor" "$model" relu > "$tmp/run.txt" || fail "run_both failed"
  cat "$tmp/run.txt"
  [ "$(value outputs "$tmp/run.txt")" = 320 ] || fail "expected 32 x 10 outputs"
  bound=$(awk -v s="$(value max_abs_output "$tmp/run.txt")" 'BEGIN { print 1e-3 * (s > 1 ? s : 1) }')
  le "$(value max_abs_diff "$tmp/run.txt")" "$bound" || fail "the runtime and the dense model differ by more than $bound"
  ;;
exports)
  bad=$(nm -A --undefined-only "$build/libdlor_formats.a" | grep -E ' U (LAPACKE_|cblas_|d[a-z]+_$|openblas_)' || true)
  [ -z "$bad" ] || fail "the formats library references LAPACK or BLAS: $bad"
  cmake -S "$src" -B "$tmp/shared" -DBUILD_SHARED_LIBS=ON -DDLOR_BUILD_TESTS=OFF -DDLOR_SANITIZE="$sanitize" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$tmp/shared" -j2 >/dev/null || fail "the shared build failed"
  so=$(find "$tmp/shared" -maxdepth 1 -name 'libdlor.so.*.*' | head -1)
  [ -n "$so" ] || fail "no libdlor.so built"
  nm -D --defined-only "$so" | awk '{ print $NF }' | sort -u > "$tmp/exported.txt"
  tr ' ' '\n' < "$tmp/shared/libdlor_public_functions.txt" | grep . | sort -u > "$tmp/declared.txt"
  grep -v '^dlor_' "$tmp/exported.txt" && fail "libdlor.so exports symbols outside dlor_*"
  missing=$(comm -13 "$tmp/exported.txt" "$tmp/declared.txt" | tr '\n' ' ')
  extra=$(comm -23 "$tmp/exported.txt" "$tmp/declared.txt" | tr '\n' ' ')
  [ -z "$missing" ] || fail "declared in the public headers but not exported: $missing"
  [ -z "$extra" ] || fail "exported but not in the public headers: $extra"
  echo "libdlor.so exports the $(wc -l < "$tmp/declared.txt") functions of dlor.h and dlor_runtime.h, nothing else"
  install_into "$tmp/shared" "$tmp/prefix"
  [ -z "$(find "$tmp/prefix" -name '*.a')" ] || fail "a shared install also installs static archives"
  pkgconfig_program "$tmp/prefix" "$tmp/convert_verify"
  LD_LIBRARY_PATH=$(dirname "$(find "$tmp/prefix" -name 'libdlor.so' | head -1)") \
    "$tmp/convert_verify" "$model" relu "$tmp/digits.dlor" > "$tmp/out.txt" || fail "convert_verify failed"
  check_convert_verify "$tmp/out.txt"
  ;;
*) fail "unknown mode" ;;
esac
echo "check_install ($mode): ok"
