/* testutil.h - a tiny assertion harness for dlor's C tests.
 * CHECK(cond, fmt, ...) records a failure and continues; each test program
 * ends with 'return dlt_finish();', which prints "N passed, N failed" and
 * returns non-zero when anything failed. */
#ifndef DLOR_TESTUTIL_H
#define DLOR_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int dlt_pass, dlt_fail;

#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        if (cond) {                                                                  \
            dlt_pass++;                                                              \
        } else {                                                                     \
            dlt_fail++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fprintf(stderr, "\n");                                                   \
        }                                                                            \
    } while (0)

int dlt_finish(void);

/* Directory for scratch files (DLOR_TEST_TMP or /tmp); path joins into buf. */
const char *dlt_tmp_path(char *buf, size_t n, const char *name);
/* Directory of committed test data (DLOR_TEST_DATA). */
const char *dlt_data_path(char *buf, size_t n, const char *name);
/* Writes bytes to a file; returns 0 on success. */
int dlt_write_file(const char *path, const void *data, size_t n);
/* Returns 1 when a file exists. */
int dlt_file_exists(const char *path);

/* Creates path as a sparse file of size bytes that starts with head[0 .. n): 0 on
 * success, -1 when the file system cannot hold it (the caller says so and skips). */
int dlt_sparse_file(const char *path, const void *head, size_t n, uint64_t size);

/* The tests' one generator of pseudo-random numbers: splitmix64, normals by
 * Box-Muller. The same seed gives the same numbers everywhere. */
typedef struct { unsigned long long s; } dlt_rng;
uint64_t dlt_u64(dlt_rng *r);     /* 64 random bits */
double dlt_uniform(dlt_rng *r);  /* [0, 1) */
double dlt_normal(dlt_rng *r);
/* n normals times scale (malloc'd; exits when memory runs out). */
double *dlt_normals(dlt_rng *r, size_t n, double scale);

struct dlor_container;
/* Adds to c a tensor 'name' of ndim 1 ([d0]) or 2 ([d0, d1]) holding x encoded as dt
 * (the container owns the bytes); a failure is a failed check. */
void dlt_add_tensor(struct dlor_container *c, const char *name, const double *x, int ndim, uint64_t d0, uint64_t d1,
                    int dt);

/* A growing byte buffer for files and streams built by hand ({0} is empty).
 * dlt_put appends n bytes (exits when memory runs out), dlt_put1 one byte,
 * dlt_putle the nbytes low bytes of v, little-endian; dlt_buf_free releases
 * the bytes and empties the buffer. */
typedef struct dlt_buf {
    unsigned char *b;
    size_t n, cap;
} dlt_buf;
void dlt_put(dlt_buf *o, const void *p, size_t n);
void dlt_put1(dlt_buf *o, unsigned v);
void dlt_putle(dlt_buf *o, uint64_t v, int nbytes);
void dlt_buf_free(dlt_buf *o);

#endif
