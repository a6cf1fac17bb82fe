#!/usr/bin/env bash
# The benchmark suite: builds dlor for benchmarking, runs every measurement and
# writes BENCHMARKS.md at the repository root.
#
#   bash bench/run.sh            full run (about 15-20 minutes on 2 cores; run it on an idle machine)
#   bash bench/run.sh --quick    tiny sizes, to check that the suite works; writes
#                                build-bench/BENCHMARKS.quick.md instead (never commit those figures)
#
# It builds build-bench/ (Release, portable runtime) and build-bench-blas/ (Release,
# -DDLOR_RUNTIME_BLAS=ON), compiles bench_factor, bench_compress and the runtime shim
# (bench/rt_shim.c, for the Python timing processes) against build-bench's libraries,
# installs bench/requirements.txt (and bench/requirements-nodeps.txt without dependencies) into the
# current python3, and runs bench/harness.py.
# PyTorch comes from Debian (python3-torch, under /usr/bin/python3; installed here when
# missing and run as root), not from PyPI. Generated models go to build-bench/work/.
# The tests never run this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

echo "== load: $(cat /proc/loadavg 2>/dev/null || uptime)"
if [ "$quick" = 0 ] && awk '{exit !($1 > 1.2)}' /proc/loadavg 2>/dev/null; then
  echo "bench/run.sh: note: the 1-minute load average is above 1.2; other work will inflate the timings" >&2
fi

# ---- PyTorch (Debian's CPU build) --------------------------------------------------------
torch_py=/usr/bin/python3
if ! "$torch_py" -c 'import torch' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing python3-torch (Debian's PyTorch CPU build)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch >/dev/null
  else
    echo "bench/run.sh: PyTorch is missing under $torch_py: apt-get install python3-torch" >&2
    exit 1
  fi
fi

# ---- GNU time (peak RSS) -------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing time (GNU time, for peak RSS)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
  else
    echo "bench/run.sh: /usr/bin/time is missing: apt-get install time" >&2
    exit 1
  fi
fi

# ---- Python packages of the benchmark environment -------------------------------------------
echo "== python3 -m pip install -r bench/requirements.txt"
python3 -m pip install -q --disable-pip-version-check -r bench/requirements.txt 2>&1 \
  | grep -v -i "running pip as the 'root' user" || true
echo "== python3 -m pip install --no-deps -r bench/requirements-nodeps.txt"
python3 -m pip install -q --disable-pip-version-check --no-deps -r bench/requirements-nodeps.txt 2>&1 \
  | grep -v -i "running pip as the 'root' user" || true

# ---- builds ----------------------------------------------------------------------------------
jobs=$(nproc 2>/dev/null || echo 2)
for variant in "build-bench OFF" "build-bench-blas ON"; do
  set -- $variant
  echo "== cmake: $1 (Release, DLOR_RUNTIME_BLAS=$2)"
  cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=Release -DDLOR_BUILD_TESTS=OFF -DDLOR_RUNTIME_BLAS="$2" >/dev/null
  cmake --build "$1" -j"$jobs" --target dlor >/dev/null
done

# bench programs and the runtime shim, with build-bench's compiler, libraries and include paths
cache() { sed -n "s/^$1:[A-Z]*=//p" build-bench/CMakeCache.txt; }
cc=$(cache CMAKE_C_COMPILER)
lapacke_inc=$(cache DLOR_LAPACKE_INCLUDE)
cblas_inc=$(cache DLOR_CBLAS_INCLUDE)
lapacke_lib=$(cache DLOR_LAPACKE_LIB)
openblas_lib=$(cache DLOR_OPENBLAS_LIB)
zlib_lib=$(cache ZLIB_LIBRARY_RELEASE)
[ -n "$zlib_lib" ] || zlib_lib=-lz
mkdir -p build-bench/bench
echo "== compiling bench_factor, bench_compress, the bandwidth probe and the runtime shim"
for prog in bench_factor bench_compress; do
  "$cc" -std=c99 -O3 -DNDEBUG -Wall -Wextra -Iinclude -Iformats -Ilib -Ilib/runtime -Itests -I"$lapacke_inc" -I"$cblas_inc" \
    "bench/$prog.c" tests/testutil.c build-bench/libdlor_core.a build-bench/libdlor_formats.a build-bench/libdlor_runtime.a \
    "$lapacke_lib" "$openblas_lib" "$zlib_lib" -lm -o "build-bench/bench/$prog"
done
# the read-bandwidth probe, for this machine only
"$cc" -std=c99 -O3 -march=native -Wall -Wextra bench/stream_probe.c -o build-bench/bench/stream_probe
# the runtime's own sources and flags (see CMakeLists.txt: runtime.c at -O3 -ffp-contract=off)
rt_src=(bench/rt_shim.c formats/crc32.c formats/dlor_image.c formats/dlor_image_graph.c lib/runtime/runtime.c lib/runtime/pool.c)
rt_flags=(-std=c99 -O3 -DNDEBUG -ffp-contract=off -fPIC -shared -fvisibility=hidden -Wall -Wextra
          -Iinclude -Iformats -Ilib/runtime)
"$cc" "${rt_flags[@]}" "${rt_src[@]}" -lm -lpthread -o build-bench/bench/librt_shim.so
"$cc" "${rt_flags[@]}" -DDLOR_RUNTIME_BLAS -I"$cblas_inc" "${rt_src[@]}" "$openblas_lib" -lm -lpthread \
  -o build-bench/bench/librt_shim_blas.so

# ---- the measurements -----------------------------------------------------------------------
if [ "$quick" = 1 ]; then
  out=build-bench/BENCHMARKS.quick.md
  rm -rf build-bench/work-quick
  python3 bench/harness.py --quick --out "$out" --work build-bench/work-quick --torch-python "$torch_py"
else
  out=BENCHMARKS.md
  rm -rf build-bench/work
  python3 bench/harness.py --out "$out" --work build-bench/work --torch-python "$torch_py"
fi
echo "== wrote $out"

