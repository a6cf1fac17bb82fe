/* report_files.c - the files 'dlor reproduce' writes (reproduce.h), each whole or
 * not at all (a temporary file renamed into place; "-": standard output, staged whole). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dlor_fileio.h"
#include "reproduce.h"

dlor_status dlor_repro_write_html(const char *path, const dlor_repro_report *r, dlor_error *err)
{
    dlor_atomic_file af; /* "-": standard output, staged whole */
    dlor_status st = dlor_atomic_open(&af, path, err);
    if (st != DLOR_OK) return st;
    if (dlor_repro_html(af.fp, r)) {
        dlor_atomic_abort(&af);
        return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory writing the HTML report", path);
    }
    if (ferror(af.fp)) af.failed = 1;
    return dlor_atomic_commit(&af, err);
}

dlor_status dlor_repro_write(const char *path, dlor_repro_writer fn, const dlor_repro_report *r, dlor_error *err)
{
    dlor_atomic_file af;
    dlor_status st = dlor_atomic_open(&af, path, err);
    if (st != DLOR_OK) return st;
    fn(af.fp, r);
    if (ferror(af.fp)) af.failed = 1;
    return dlor_atomic_commit(&af, err);
}

dlor_status dlor_repro_write_out(const char *dir, const dlor_repro_report *r, dlor_error *err)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return dlor_fail(err, DLOR_E_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    dlor_status st = DLOR_OK;
    for (size_t i = 0; i < DLOR_REPRO_NOUT_FILES && st == DLOR_OK; i++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, dlor_repro_out_files[i].name) >= sizeof path)
            return dlor_fail(err, DLOR_E_ARG, "%s: path too long", dir);
        st = dlor_repro_write(path, dlor_repro_out_files[i].write, r, err);
    }
    return st;
}
