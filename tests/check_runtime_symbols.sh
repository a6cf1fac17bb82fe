#!/usr/bin/env bash
# The runtime must build with a C99 compiler and libc alone and must never
# allocate: compile its sources standalone with -std=c99 -pedantic -Werror (with
# and without its messages), then check with nm that nothing references an
# allocator, LAPACK(E), BLAS, zlib or the printf family (it formats its own).
# usage: check_runtime_symbols.sh WORK_DIR CC RUNTIME_ARCHIVE FLAGS SOURCE...
# RUNTIME_ARCHIVE (the libdlor_runtime.a the build made; "" for none) is checked
# the same way. FLAGS: the include folders (one word, split at spaces); the build
# passes the sources and include folders of its dlor_runtime target.
set -euo pipefail
work=$1
cc=$2
archive=$3
flags=$4
shift 4
mkdir -p "$work"
objs=()
for f in "$@"; do
  o="$work/$(basename "$f" .c).o"
  # shellcheck disable=SC2086  # $flags holds several flags
  "$cc" -std=c99 -pedantic -Wall -Wextra -Werror -O2 $flags -c "$f" -o "$o"
  objs+=("$o")
  # ... and without its messages (DLOR_RT_NO_MESSAGES, for the smallest firmware)
  # shellcheck disable=SC2086
  "$cc" -std=c99 -pedantic -Wall -Wextra -Werror -O2 -DDLOR_RT_NO_MESSAGES $flags -c "$f" -o "${o%.o}-nomsg.o"
  objs+=("${o%.o}-nomsg.o")
done
undefined=$(nm -u "${objs[@]}" | awk 'NF>=2 {print $2}' | sort -u)
bad=$(printf '%s\n' "$undefined" | grep -E '^(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|memalign|valloc|strdup|strndup)$|^LAPACKE_|^cblas_|^[sd]gemm|^(inflate|deflate|crc32|adler32|compress|uncompress)|printf' || true)
echo "undefined symbols of the runtime objects:" $undefined
if [ -n "$bad" ]; then
  echo "FAIL: the runtime references: $bad"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
