#!/usr/bin/env bash
# The runtime must build with a C99 compiler and libc alone and must never
# allocate: compile its sources standalone with -std=c99 -pedantic -Werror (with
# and without its messages), then check with nm that nothing references an
# allocator, LAPACK(E), BLAS, zlib or the printf family (it formats its own).
# usage: check_runtime_symbols.sh SOURCE_DIR WORK_DIR [CC] [RUNTIME_ARCHIVE]
# RUNTIME_ARCHIVE (the libdlor_runtime.a the build made) is checked the same way.
set -euo pipefail
src=$1
work=$2
cc=${3:-cc}
archive=${4:-}
mkdir -p "$work"
objs=()
for f in formats/crc32.c formats/dlor_image.c formats/dlor_image_graph.c lib/runtime/runtime.c; do
  o="$work/$(basename "$f" .c).o"
  "$cc" -std=c99 -pedantic -Wall -Wextra -Werror -O2 -I"$src/formats" -I"$src/lib/runtime" -c "$src/$f" -o "$o"
  objs+=("$o")
  # ... and without its messages (DLOR_RT_NO_MESSAGES, for the smallest firmware)
  "$cc" -std=c99 -pedantic -Wall -Wextra -Werror -O2 -DDLOR_RT_NO_MESSAGES -I"$src/formats" -I"$src/lib/runtime" \
    -c "$src/$f" -o "${o%.o}-nomsg.o"
  objs+=("${o%.o}-nomsg.o")
done
[ -n "$archive" ] && objs+=("$archive")
undefined=$(nm -u "${objs[@]}" | awk 'NF>=2 {print $2}' | sort -u)
bad=$(printf '%s\n' "$undefined" | grep -E '^(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|memalign|valloc|strdup|strndup)$|^LAPACKE_|^cblas_|^[sd]gemm|^(inflate|deflate|crc32|adler32|compress|uncompress)|printf' || true)
echo "undefined symbols of the runtime objects:" $undefined
if [ -n "$bad" ]; then
  echo "FAIL: the runtime references: $bad"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "1 passed, 0 failed"
