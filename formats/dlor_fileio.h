/* dlor_fileio.h - whole-file reads and atomic (temp file + rename) writes.
 *
 * dlor_file_read loads a regular file into a malloc'd buffer. dlor_atomic_*
 * writes into "<path>.tmp.<pid>.<n>" in the target's folder, fsyncs it and
 * renames it over the target only when everything succeeded, so a failed or
 * interrupted run never leaves a partial file and never clobbers a good one.
 * The path "-" is standard output: the bytes are staged in an anonymous
 * temporary file and copied out on commit, so a failed run writes nothing
 * there either.
 */
#ifndef DLOR_FILEIO_H
#define DLOR_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "dlor_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens path for reading: a regular file of at most max_bytes (else DLOR_E_LIMIT).
 * On success *fd (the caller closes it) and *size; dlor_file_read and
 * dlor_file_map start here. */
dlor_status dlor_file_open_read(const char *path, size_t max_bytes, int *fd, size_t *size, dlor_error *err);

/* Reads all of path. *buf is malloc'd (at least 1 byte even for an empty
 * file); the caller frees it. Refuses non-regular files and files larger
 * than max_bytes (DLOR_E_LIMIT). */
dlor_status dlor_file_read(const char *path, size_t max_bytes, unsigned char **buf,
                           size_t *len, dlor_error *err);

/* A read-only view of a whole file (mmap): pages load on use and are shared
 * with the page cache, so a large model costs no copy. The file must not be
 * truncated while mapped (the mapping would fault). data is valid (1 readable
 * byte) even for an empty file. */
typedef struct dlor_mapped_file {
    const unsigned char *data;
    size_t len;
    void *base;                /* the mapping, NULL for an empty file */
} dlor_mapped_file;
dlor_status dlor_file_map(const char *path, size_t max_bytes, dlor_mapped_file *m, dlor_error *err);
void dlor_file_unmap(dlor_mapped_file *m);

typedef struct dlor_atomic_file {
    FILE *fp;
    char *final_path;
    char *tmp_path;    /* NULL for standard output (fp is then an anonymous tmpfile) */
    int failed;        /* set once a write failed; commit then refuses */
} dlor_atomic_file;

/* Opens the temporary file of path; "-" stages standard output (see above). */
dlor_status dlor_atomic_open(dlor_atomic_file *af, const char *path, dlor_error *err);
/* Whether an output could be written at path now: not a directory, and a
 * temporary file can be created beside it (created and removed again). Commands
 * call it before long work, so that a mistyped path fails at once rather than
 * after the work; it cannot foresee a full disk. */
dlor_status dlor_output_check(const char *path, dlor_error *err);
/* Writes n bytes; on failure marks the file failed and sets err. */
dlor_status dlor_atomic_write(dlor_atomic_file *af, const void *data, size_t n, dlor_error *err);
/* Flushes, fsyncs and renames over the target. Always releases af. */
dlor_status dlor_atomic_commit(dlor_atomic_file *af, dlor_error *err);
/* Removes the temporary file and releases af. Harmless on a released af. */
void dlor_atomic_abort(dlor_atomic_file *af);

/* Whether two paths name the same file: the same device and inode when both
 * exist (so a symbolic or hard link to a file is that file), else the same
 * path once resolved (the folder's canonical path and the last component, for
 * an output not yet written). */
int dlor_same_file(const char *a, const char *b);

/* Reserves standard output for one machine-readable output (a report or a file
 * written to "-") and returns the stream that reaches it. The first call moves
 * the process's standard output aside and points file descriptor 1, and so
 * stdout and printf, at standard error, line buffered: whatever else the
 * program prints from then on lands on stderr and cannot corrupt the output.
 * Later calls return the same stream. Call it before printing anything. */
FILE *dlor_stdout_claim(void);

/* Returns the last path component (pointer into path). */
const char *dlor_basename(const char *path);

#ifdef __cplusplus
}
#endif
#endif
