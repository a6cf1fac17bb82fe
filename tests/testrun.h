/* testrun.h - running the dlor binary from a C test, in a child process. */
#ifndef DLOR_TESTRUN_H
#define DLOR_TESTRUN_H

#include <stddef.h>

/* Runs $DLOR_BIN with args (NULL-terminated, without argv[0]). stdout goes
 * to /dev/null, stderr into err (NUL-terminated, cut at errn - 1 bytes).
 * fsize > 0 sets RLIMIT_FSIZE for the child (SIGXFSZ ignored, so a write past
 * it fails with EFBIG as on a full disk); as > 0 sets RLIMIT_AS. Returns the
 * exit status, 128 + N when the child died of signal N, -1 when it could not
 * be run. */
int dlt_run(const char *const *args, unsigned long long fsize, unsigned long long as, char *err, size_t errn);

/* The source tree (DLOR_SOURCE_DIR, default "."), joined with rel into buf. */
const char *dlt_source_path(char *buf, size_t n, const char *rel);

/* Reads a whole file (malloc'd, *n bytes); NULL when it cannot. */
unsigned char *dlt_read_file(const char *path, size_t *n);

#endif
