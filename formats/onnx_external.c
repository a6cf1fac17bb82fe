/* onnx_external.c - ONNX external data: tensors stored in files beside the model,
 * read only from files beneath the model's folder (formats.md §3). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx_internal.h"

/* Parses a decimal string of digits only into *v. */
static int parse_dec(ox_str s, uint64_t *v)
{
    uint64_t x = 0;
    if (s.n == 0 || s.n > 20) return -1;
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned)s.p[i] - '0';
        if (d > 9) return -1;
        if (x > (UINT64_MAX - d) / 10) return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

static dlor_status read_all(ox_ctx *c, int fd, unsigned char *p, size_t n, uint64_t off,
                            const char *label, const char *loc)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return ox_fail(c, DLOR_E_IO, "%s: external file '%s': %s", label, loc,
                           r == 0 ? "file shrank while reading" : strerror(errno));
        got += (size_t)r;
    }
    return DLOR_OK;
}

/* Opens location (already checked to be a relative path without "..")
 * below model_dir without following any symbolic link. */
static dlor_status open_beneath(ox_ctx *c, const char *loc, const char *label, int *out_fd)
{
    int dfd = open(c->model_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ox_fail(c, DLOR_E_IO, "%s: cannot open the model's folder '%s': %s", label,
                       c->model_dir, strerror(errno));
    const char *p = loc;
    for (;;) {
        const char *slash = strchr(p, '/');
        char comp[OX_MAX_LOCATION + 1];
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        memcpy(comp, p, n);
        comp[n] = 0;
        struct stat st;
        if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            int e = errno;
            close(dfd);
            return ox_fail(c, DLOR_E_IO, "%s: external file '%s': %s", label, loc, strerror(e));
        }
        if (S_ISLNK(st.st_mode)) {
            close(dfd);
            return ox_fail(c, DLOR_E_FORMAT,
                           "%s: external file '%s': '%s' is a symbolic link (refused)", label, loc,
                           comp);
        }
        if (slash) {
            int nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int e = errno;
            close(dfd);
            if (nfd < 0)
                return ox_fail(c, DLOR_E_IO, "%s: external file '%s': folder '%s': %s", label, loc,
                               comp, strerror(e));
            dfd = nfd;
            p = slash + 1;
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            close(dfd);
            return ox_fail(c, DLOR_E_FORMAT, "%s: external file '%s' is not a regular file", label,
                           loc);
        }
        int fd = openat(dfd, comp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        int e = errno;
        close(dfd);
        if (fd < 0)
            return ox_fail(c, DLOR_E_IO, "%s: external file '%s': %s", label, loc, strerror(e));
        struct stat st2;
        /* the file must still be the one checked above (no swap in between) */
        if (fstat(fd, &st2) != 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino ||
            !S_ISREG(st2.st_mode)) {
            close(fd);
            return ox_fail(c, DLOR_E_IO, "%s: external file '%s' changed while being opened", label,
                           loc);
        }
        /* a hard link can make a file outside the folder appear inside it */
        if (st2.st_nlink > 1) {
            close(fd);
            return ox_fail(c, DLOR_E_FORMAT,
                           "%s: external file '%s' has %lu hard links (refused: it may be a file "
                           "from outside the model's folder)", label, loc,
                           (unsigned long)st2.st_nlink);
        }
        *out_fd = fd;
        return DLOR_OK;
    }
}

static dlor_status check_location(ox_ctx *c, ox_str s, const char *label, char *loc)
{
    const char *shown = ox_s(c, s);
    if (s.n == 0) return ox_fail(c, DLOR_E_FORMAT, "%s: external data location is empty", label);
    if (s.n > OX_MAX_LOCATION)
        return ox_fail(c, DLOR_E_LIMIT, "%s: external data location of %zu bytes is too long", label,
                       s.n);
    if (memchr(s.p, 0, s.n))
        return ox_fail(c, DLOR_E_FORMAT, "%s: external data location '%s' contains a NUL byte",
                       label, shown);
    if (s.p[0] == '/')
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data location '%s' is an absolute path (refused)", label,
                       shown);
    if (memchr(s.p, '\\', s.n) ||
        (s.n >= 2 && s.p[1] == ':' && ((s.p[0] | 0x20) >= 'a' && (s.p[0] | 0x20) <= 'z')))
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data location '%s' is a Windows path (refused)", label, shown);
    memcpy(loc, s.p, s.n);
    loc[s.n] = 0;
    for (const char *p = loc;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.'))
            return ox_fail(c, DLOR_E_FORMAT,
                           "%s: external data location '%s' has an empty or '.' component", label,
                           shown);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return ox_fail(c, DLOR_E_FORMAT,
                           "%s: external data location '%s' contains '..' (refused: it must stay "
                           "inside the model's folder)", label, shown);
        if (!slash) break;
        p = slash + 1;
    }
    return DLOR_OK;
}

dlor_status ox_read_external(ox_ctx *c, const ox_ext *x, const char *label, ox_tensor *t)
{
    char loc[OX_MAX_LOCATION + 1];
    uint64_t off = 0, len = 0;
    dlor_status s;
    if (!c->model_dir)
        return ox_fail(c, DLOR_E_UNSUPPORTED,
                       "%s: data is in an external file, which is read only when the model is "
                       "read from its folder", label);
    if (!x->has_loc) return ox_fail(c, DLOR_E_FORMAT, "%s: external data has no location", label);
    if ((s = check_location(c, x->loc, label, loc))) return s;
    if (x->has_off && parse_dec(x->off, &off))
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data offset '%s' is not a non-negative decimal integer", label,
                       ox_s(c, x->off));
    if (x->has_len && parse_dec(x->len, &len))
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data length '%s' is not a non-negative decimal integer", label,
                       ox_s(c, x->len));
    int fd = -1;
    if ((s = open_beneath(c, loc, label, &fd))) return s;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return ox_fail(c, DLOR_E_IO, "%s: external file '%s': %s", label, loc, strerror(errno));
    }
    uint64_t size = (uint64_t)st.st_size;
    if (off > size) {
        close(fd);
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data offset %llu is beyond the end of '%s' (%llu bytes)",
                       label, (unsigned long long)off, loc, (unsigned long long)size);
    }
    if (!x->has_len) len = size - off;
    if (len > size - off) {
        close(fd);
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data [offset %llu, length %llu] runs past the end of '%s' "
                       "(%llu bytes)", label, (unsigned long long)off, (unsigned long long)len, loc,
                       (unsigned long long)size);
    }
    if (len != t->nbytes) {
        close(fd);
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data length %llu, but the dims need %zu bytes", label,
                       (unsigned long long)len, t->nbytes);
    }
    unsigned char *p = malloc(t->nbytes ? t->nbytes : 1);
    if (!p) {
        close(fd);
        return ox_nomem(c);
    }
    if ((s = dlor_tensor_list_own(c->out, p, c->err))) {
        close(fd);
        return ox_nomem(c);
    }
    s = read_all(c, fd, p, t->nbytes, off, label, loc);
    close(fd);
    t->data = p;
    return s;
}

dlor_status ox_parse_ext_entry(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f,
                                   const char *label, ox_ext *x)
{
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    ox_str key = {NULL, 0}, val = {NULL, 0};
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return ox_pb_err(c, s, label);
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return ox_pb_err(c, s, label);
        if (!g.num) break;
        if (g.num == 1 || g.num == 2) {
            if ((s = ox_want_wt(c, &g, DLOR_PB_LEN, label, g.num == 1 ? "key" : "value"))) return s;
            ox_str v = {g.data, g.len};
            if (g.num == 1) key = v;
            else val = v;
        }
    }
    int *have = NULL;
    ox_str *dst = NULL;
    if (ox_str_is(key, "location")) have = &x->has_loc, dst = &x->loc;
    else if (ox_str_is(key, "offset")) have = &x->has_off, dst = &x->off;
    else if (ox_str_is(key, "length")) have = &x->has_len, dst = &x->len;
    else if (ox_str_is(key, "checksum")) have = &x->has_sum; /* SHA-1; not verified */
    else
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: unknown external data key '%s' (expected location, offset, length, "
                       "checksum)", label, ox_s(c, key));
    if (*have)
        return ox_fail(c, DLOR_E_FORMAT, "%s: external data key '%s' appears twice", label,
                       ox_s(c, key));
    *have = 1;
    if (dst) *dst = val;
    return DLOR_OK;
}
