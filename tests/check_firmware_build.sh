#!/usr/bin/env bash
# The runtime sources must build warning-free for microcontrollers, where
# uint32_t is 'long unsigned int' and firmware is often built with -Werror:
# cross-compile them with arm-none-eabi-gcc for a Cortex-M4 (hard float) and a
# Cortex-M3 (no FPU) with -std=c99 -Wall -Wextra -Werror, at -Os and -O2, and
# at -Os without the runtime's messages (-DDLOR_RT_NO_MESSAGES).
# Skipped (exit 77) when the cross compiler or its C library is not installed
# (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi; scripts/setup.sh installs
# them as root with DLOR_WITH_PYTHON=1).
# usage: check_firmware_build.sh SOURCE_DIR WORK_DIR [CC]
set -uo pipefail
src=$1
work=$2
cc=${3:-arm-none-eabi-gcc}
hint="install gcc-arm-none-eabi libnewlib-arm-none-eabi (scripts/setup.sh does as root with DLOR_WITH_PYTHON=1)"
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "SKIP: $cc not found: $hint"
  exit 77
fi
mkdir -p "$work"
if ! printf '#include <math.h>\n#include <string.h>\n' |
     "$cc" -mcpu=cortex-m3 -mthumb -std=c99 -x c -c - -o "$work/probe.o" 2>/dev/null; then
  echo "SKIP: $cc has no C library headers (math.h): $hint"
  exit 77
fi
cpus=("-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16" "-mcpu=cortex-m3 -mthumb")
pass=0
fail=0
for cpu in "${cpus[@]}"; do
  for opt in -Os -O2 "-Os -DDLOR_RT_NO_MESSAGES"; do
    for f in formats/crc32.c formats/dlor_image.c formats/dlor_image_graph.c lib/runtime/runtime.c; do
      # shellcheck disable=SC2086  # $cpu and $opt hold several flags
      if out=$("$cc" $cpu -std=c99 -Wall -Wextra -Werror $opt -I"$src/formats" -I"$src/lib/runtime" \
               -c "$src/$f" -o "$work/$(basename "$f" .c).o" 2>&1); then
        pass=$((pass + 1))
      else
        echo "FAIL: $f ($cpu $opt):"
        echo "$out" | head -20
        fail=$((fail + 1))
      fi
    done
  done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
