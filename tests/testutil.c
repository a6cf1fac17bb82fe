#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlor_container.h"

int dlt_pass, dlt_fail;

int dlt_finish(void)
{
    printf("%d passed, %d failed\n", dlt_pass, dlt_fail);
    return dlt_fail ? 1 : 0;
}

static const char *join(char *buf, size_t n, const char *env, const char *dflt, const char *name)
{
    const char *dir = getenv(env);
    if (!dir || !*dir) dir = dflt;
    mkdir(dir, 0755);
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

const char *dlt_tmp_path(char *buf, size_t n, const char *name)
{
    return join(buf, n, "DLOR_TEST_TMP", "/tmp", name);
}

const char *dlt_data_path(char *buf, size_t n, const char *name)
{
    return join(buf, n, "DLOR_TEST_DATA", "tests/data", name);
}

int dlt_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    int rc = fclose(f);
    return (w == n && rc == 0) ? 0 : -1;
}

int dlt_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

uint64_t dlt_u64(dlt_rng *r)
{
    unsigned long long z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double dlt_uniform(dlt_rng *r)
{
    return (double)(dlt_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

double dlt_normal(dlt_rng *r)
{
    double u1 = dlt_uniform(r), u2 = dlt_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double *dlt_normals(dlt_rng *r, size_t n, double scale)
{
    double *a = malloc((n ? n : 1) * sizeof *a);
    if (!a) {
        fprintf(stderr, "test: out of memory for %zu numbers\n", n);
        exit(2);
    }
    for (size_t i = 0; i < n; i++) a[i] = scale * dlt_normal(r);
    return a;
}

int dlt_sparse_file(const char *path, const void *head, size_t n, uint64_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    int ok = (n == 0 || write(fd, head, n) == (ssize_t)n) && ftruncate(fd, (off_t)size) == 0;
    close(fd);
    return ok ? 0 : -1;
}

void dlt_put(dlt_buf *o, const void *p, size_t n)
{
    if (o->n + n > o->cap) {
        size_t c = o->cap ? o->cap : 256;
        while (c < o->n + n) c *= 2;
        unsigned char *nb = realloc(o->b, c);
        if (!nb) {
            fprintf(stderr, "test: out of memory for %zu bytes\n", c);
            exit(2);
        }
        o->b = nb;
        o->cap = c;
    }
    if (n) memcpy(o->b + o->n, p, n);
    o->n += n;
}

void dlt_put1(dlt_buf *o, unsigned v)
{
    unsigned char c = (unsigned char)v;
    dlt_put(o, &c, 1);
}

void dlt_putle(dlt_buf *o, uint64_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++) dlt_put1(o, (unsigned)(v >> (8 * i)) & 0xffu);
}

void dlt_buf_free(dlt_buf *o)
{
    free(o->b);
    memset(o, 0, sizeof *o);
}

void dlt_add_tensor(dlor_container *c, const char *name, const double *x, int ndim, uint64_t d0, uint64_t d1, int dt)
{
    uint64_t dims[2] = {d0, d1}, n = ndim == 1 ? d0 : d0 * d1;
    size_t nb = (size_t)n * dlor_dtype_size((dlor_dtype)dt);
    unsigned char *b = malloc(nb ? nb : 1);
    dlor_error e;
    if (!b) {
        fprintf(stderr, "test: out of memory for %zu bytes\n", nb);
        exit(2);
    }
    dlor_encode_f64(x, n, (dlor_dtype)dt, b);
    dlor_tensor_list_own(&c->tensors, b, &e);
    CHECK(dlor_tensor_list_add(&c->tensors, "t", name, strlen(name), (dlor_dtype)dt, ndim, dims, b, nb, &e) == DLOR_OK,
          "%s", e.msg);
}
