#!/usr/bin/env bash
# The runtime sources must build warning-free for microcontrollers, where
# uint32_t is 'long unsigned int' and firmware is often built with -Werror:
# cross-compile them with arm-none-eabi-gcc for a Cortex-M4 (hard float) and a
# Cortex-M3 (no FPU) with -std=c99 -Wall -Wextra -Werror, at -Os and -O2, and
# at -Os without the runtime's messages (-DDLOR_RT_NO_MESSAGES), at -Os with
# the minimal configuration of samples/embedded, with and without messages,
# and (Cortex-M4 only) at -Os with each switch of formats/dlor_rt_features.h.
# Skipped (exit 77) when the cross compiler or its C library is not installed
# (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi; scripts/setup.sh installs
# them as root with DLOR_WITH_PYTHON=1).
# usage: check_firmware_build.sh WORK_DIR FLAGS SOURCE...
# FLAGS: further flags, the include folders at least (one word, split at spaces);
# the build passes the sources of its dlor_runtime target, or the one-file
# runtime's dlor_runtime.c. DLOR_FW_CC names another compiler.
set -uo pipefail
work=$1
flags=$2
shift 2
cc=${DLOR_FW_CC:-arm-none-eabi-gcc}
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
minimal="-DDLOR_RT_MLP_ONLY -DDLOR_RT_SMALL_CRC -DDLOR_RT_ACTS=0x2"
pass=0
fail=0
for cpu in "${cpus[@]}"; do
  opts=(-Os -O2 "-Os -DDLOR_RT_NO_MESSAGES" "-Os $minimal" "-Os $minimal -DDLOR_RT_NO_MESSAGES")
  if [ "$cpu" = "${cpus[0]}" ]; then # each switch alone: for one processor (they select code, not instructions)
    opts+=(-Os\ -DDLOR_RT_NO_{DAG,F64,F16,BF16,QUANT,TOKENS,ATTENTION,NORMS} "-Os -DDLOR_RT_ACTS=0x2"
           "-Os -DDLOR_RT_NO_F16 -DDLOR_RT_NO_QUANT")
  fi
  for opt in "${opts[@]}"; do
    for f in "$@"; do
      # shellcheck disable=SC2086  # $cpu, $opt and $flags hold several flags
      if out=$("$cc" $cpu -std=c99 -Wall -Wextra -Werror $opt $flags -c "$f" -o "$work/$(basename "$f" .c).o" 2>&1)
      then
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
