#!/usr/bin/env bash
# Installs what dlor needs (when run as root and something is missing),
# then configures and builds it into build/ (or the folder given as $1).
#   DLOR_SANITIZE=ON  builds with AddressSanitizer and UBSan
#   DLOR_WITH_PYTHON=1 also installs the pinned Python packages the tests use, and
#                      Debian's python3-torch for the tests of dlor.torch
#   DLOR_WITH_FUZZ=1   also installs clang and its libFuzzer (scripts/fuzz.sh)
# The build treats compiler warnings as errors (DLOR_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}

# any_file GLOB... : true when at least one glob matches a file
any_file() { for g in "$@"; do compgen -G "$g" >/dev/null && return 0; done; return 1; }

need_pkgs=()
command -v cmake >/dev/null 2>&1 || need_pkgs+=(cmake)
command -v cc >/dev/null 2>&1 || need_pkgs+=(gcc)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
any_file /usr/include/lapacke.h || need_pkgs+=(liblapacke-dev)
{ any_file '/usr/include/*/cblas.h' /usr/include/cblas.h /usr/include/openblas/cblas.h &&
  any_file '/usr/lib/*/libopenblas.so' /usr/lib/libopenblas.so; } || need_pkgs+=(libopenblas-dev)
any_file /usr/include/zlib.h || need_pkgs+=(zlib1g-dev)
if [ "${DLOR_WITH_PYTHON:-0}" = 1 ] && ! command -v python3 >/dev/null 2>&1; then
  need_pkgs+=(python3 python3-pip)
fi
# the HTML report test renders pages in headless Chromium
if [ "${DLOR_WITH_PYTHON:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  need_pkgs+=(chromium)
fi
# the firmware tests cross-compile the runtime for Cortex-M and run it on QEMU's mps2 boards
if [ "${DLOR_WITH_PYTHON:-0}" = 1 ]; then
  if ! command -v arm-none-eabi-gcc >/dev/null 2>&1; then
    need_pkgs+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
  elif ! echo '#include <math.h>' | arm-none-eabi-gcc -x c -fsyntax-only - >/dev/null 2>&1; then
    need_pkgs+=(libnewlib-arm-none-eabi)  # the compiler without its C library
  fi
  command -v qemu-system-arm >/dev/null 2>&1 || need_pkgs+=(qemu-system-arm)
fi
# the README's MPI recipe for sharded conversion runs on two local ranks (tests/test_shard_mpi.py)
if [ "${DLOR_WITH_PYTHON:-0}" = 1 ]; then
  command -v mpirun >/dev/null 2>&1 || need_pkgs+=(openmpi-bin)
fi
# dlor.torch's tests and the fine-tuning sample run on Debian's Python with its PyTorch;
# without root they are skipped rather than failing the setup
if [ "${DLOR_WITH_PYTHON:-0}" = 1 ] && ! /usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    need_pkgs+=(python3-torch python3-numpy)
  else
    echo "setup: note: /usr/bin/python3 has no torch (sudo apt-get install python3-torch): the dlor.torch tests will be skipped" >&2
  fi
fi
if [ "${DLOR_WITH_FUZZ:-0}" = 1 ]; then
  command -v clang >/dev/null 2>&1 || need_pkgs+=(clang)
  any_file '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a' || need_pkgs+=(libclang-rt-14-dev)
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "setup: missing packages: ${need_pkgs[*]}" >&2
    echo "setup: install them with: sudo apt-get install ${need_pkgs[*]}" >&2
    exit 1
  fi
fi

if [ "${DLOR_WITH_PYTHON:-0}" = 1 ]; then
  python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt 2>&1 \
    | grep -v -i "running pip as the 'root' user" || true
fi

py_args=()
if command -v python3 >/dev/null 2>&1; then
  py_args=(-DPython3_EXECUTABLE="$(command -v python3)")  # the one pip installed into
fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DDLOR_SANITIZE="${DLOR_SANITIZE:-OFF}" -DDLOR_WERROR=ON "${py_args[@]}" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
