/* fileio.c - whole-file reads and atomic writes (POSIX). */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with realpath */
#include "dlor_fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

dlor_status dlor_file_open_read(const char *path, size_t max_bytes, int *fd_out, size_t *size, dlor_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return dlor_fail(err, DLOR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return dlor_fail(err, DLOR_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return dlor_fail(err, DLOR_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        close(fd);
        return dlor_fail(err, DLOR_E_LIMIT, "%s: file of %lld bytes exceeds the %zu-byte limit", path,
                         (long long)st.st_size, max_bytes);
    }
    *fd_out = fd;
    *size = (size_t)st.st_size;
    return DLOR_OK;
}

dlor_status dlor_file_read(const char *path, size_t max_bytes, unsigned char **buf,
                           size_t *len, dlor_error *err)
{
    size_t n;
    int fd;
    dlor_status st = dlor_file_open_read(path, max_bytes, &fd, &n, err);
    if (st != DLOR_OK) return st;
    unsigned char *p = malloc(n ? n : 1);
    if (!p) {
        close(fd);
        return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(p);
            close(fd);
            if (r == 0) return dlor_fail(err, DLOR_E_IO, "%s: file shrank while reading", path);
            return dlor_fail(err, DLOR_E_IO, "%s: read failed: %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    *buf = p;
    *len = n;
    return DLOR_OK;
}

/* The path with its folder resolved: the file's canonical path when it exists,
 * else the folder's canonical path and the last component (an output not yet
 * written), else the path as given. */
static void resolve_path(const char *path, char out[PATH_MAX])
{
    char dir[PATH_MAX], rdir[PATH_MAX];
    if (realpath(path, out)) return;
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t dl = slash ? (size_t)(slash - path) : 0;
    snprintf(out, PATH_MAX, "%s", path);
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || dl >= PATH_MAX) return;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (dl == 0) snprintf(dir, sizeof dir, "/");
    else {
        memcpy(dir, path, dl);
        dir[dl] = 0;
    }
    if (!realpath(dir, rdir)) return;
    size_t rl = strcmp(rdir, "/") == 0 ? 0 : strlen(rdir), bl = strlen(base);
    if (rl + 1 + bl >= PATH_MAX) return;
    memcpy(out, rdir, rl);
    out[rl] = '/';
    memcpy(out + rl + 1, base, bl + 1);
}

int dlor_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    char ra[PATH_MAX], rb[PATH_MAX];
    int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea != eb) return 0;
    resolve_path(a, ra);
    resolve_path(b, rb);
    return strcmp(ra, rb) == 0;
}

const char *dlor_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void atomic_release(dlor_atomic_file *af)
{
    free(af->final_path);
    free(af->tmp_path);
    af->final_path = af->tmp_path = NULL;
    af->fp = NULL;
}

FILE *dlor_stdout_claim(void)
{
    static FILE *claimed;
    if (claimed) return claimed;
    fflush(stdout);
    int fd = dup(STDOUT_FILENO);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        if (f) fclose(f);
        else if (fd >= 0) close(fd);
        return NULL;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* text on stderr interleaves with direct stderr writes in order */
    return claimed = f;
}

/* Standard output: staged in an anonymous temporary file, so that nothing
 * reaches the reader of a pipe unless the whole output was made. */
static dlor_status atomic_open_stdout(dlor_atomic_file *af, dlor_error *err)
{
    if (!dlor_stdout_claim())
        return dlor_fail(err, DLOR_E_NOMEM, "standard output: cannot set it aside for the output");
    af->final_path = strdup("standard output");
    if (!af->final_path) return dlor_fail(err, DLOR_E_NOMEM, "standard output: out of memory");
    af->fp = tmpfile();
    if (!af->fp) {
        int e = errno;
        atomic_release(af);
        return dlor_fail(err, DLOR_E_IO, "standard output: cannot create a temporary file to stage it: %s",
                         strerror(e));
    }
    return DLOR_OK;
}

static dlor_status atomic_commit_stdout(dlor_atomic_file *af, dlor_error *err)
{
    FILE *out = dlor_stdout_claim();
    char buf[65536];
    size_t n;
    dlor_status st = DLOR_OK;
    if (fflush(af->fp) != 0 || fseek(af->fp, 0, SEEK_SET) != 0)
        st = dlor_fail(err, DLOR_E_IO, "standard output: cannot read back the staged output: %s", strerror(errno));
    while (st == DLOR_OK && out && (n = fread(buf, 1, sizeof buf, af->fp)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            st = dlor_fail(err, DLOR_E_IO, "standard output: write failed: %s", strerror(errno));
    if (st == DLOR_OK && (!out || ferror(af->fp)))
        st = dlor_fail(err, DLOR_E_IO, "standard output: cannot read back the staged output");
    if (st == DLOR_OK && (fflush(out) != 0 || ferror(out)))
        st = dlor_fail(err, DLOR_E_IO, "standard output: write failed: %s", strerror(errno));
    fclose(af->fp);
    atomic_release(af);
    return st;
}

dlor_status dlor_atomic_open(dlor_atomic_file *af, const char *path, dlor_error *err)
{
    static unsigned counter;
    memset(af, 0, sizeof *af);
    if (strcmp(path, "-") == 0) return atomic_open_stdout(af, err);
    size_t n = strlen(path) + 64;
    af->final_path = strdup(path);
    af->tmp_path = malloc(n);
    if (!af->final_path || !af->tmp_path) {
        atomic_release(af);
        return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(af->tmp_path, n, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
        int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) {
            int e = errno;
            atomic_release(af);
            return dlor_fail(err, DLOR_E_IO, "%s: cannot create output: %s", path, strerror(e));
        }
        af->fp = fdopen(fd, "wb");
        if (!af->fp) {
            int e = errno;
            close(fd);
            unlink(af->tmp_path);
            atomic_release(af);
            return dlor_fail(err, DLOR_E_IO, "%s: cannot open output: %s", path, strerror(e));
        }
        return DLOR_OK;
    }
    atomic_release(af);
    return dlor_fail(err, DLOR_E_IO, "%s: cannot pick a temporary file name", path);
}

dlor_status dlor_output_check(const char *path, dlor_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return dlor_fail(err, DLOR_E_IO, "%s: cannot create output: it is a directory", path);
    dlor_atomic_file af;
    dlor_status s = dlor_atomic_open(&af, path, err);
    if (s == DLOR_OK) dlor_atomic_abort(&af);
    return s;
}

dlor_status dlor_atomic_write(dlor_atomic_file *af, const void *data, size_t n, dlor_error *err)
{
    if (af->failed) return dlor_fail(err, DLOR_E_IO, "%s: earlier write failed", af->final_path);
    if (n && fwrite(data, 1, n, af->fp) != n) {
        af->failed = 1;
        return dlor_fail(err, DLOR_E_IO, "%s: write failed: %s", af->final_path, strerror(errno));
    }
    return DLOR_OK;
}

void dlor_atomic_abort(dlor_atomic_file *af)
{
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    atomic_release(af);
}

dlor_status dlor_atomic_commit(dlor_atomic_file *af, dlor_error *err)
{
    const char *what = af->final_path ? af->final_path : "output";
    if (!af->fp) return dlor_fail(err, DLOR_E_IO, "%s: output not open", what);
    if (af->failed) {
        dlor_status s = dlor_fail(err, DLOR_E_IO, "%s: not written: an earlier write failed", what);
        dlor_atomic_abort(af);
        return s;
    }
    if (!af->tmp_path) return atomic_commit_stdout(af, err);
    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0) {
        dlor_status s = dlor_fail(err, DLOR_E_IO, "%s: cannot flush output: %s", what, strerror(errno));
        dlor_atomic_abort(af);
        return s;
    }
    if (fclose(af->fp) != 0) {
        af->fp = NULL;
        dlor_status s = dlor_fail(err, DLOR_E_IO, "%s: cannot close output: %s", what, strerror(errno));
        dlor_atomic_abort(af);
        return s;
    }
    af->fp = NULL;
    if (rename(af->tmp_path, af->final_path) != 0) {
        dlor_status s = dlor_fail(err, DLOR_E_IO, "%s: cannot rename output into place: %s", what,
                                  strerror(errno));
        dlor_atomic_abort(af);
        return s;
    }
    atomic_release(af);
    return DLOR_OK;
}
