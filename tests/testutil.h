/* testutil.h - a tiny assertion harness for dlor's C tests.
 * CHECK(cond, fmt, ...) records a failure and continues; each test program
 * ends with 'return dlt_finish();', which prints "N passed, N failed" and
 * returns non-zero when anything failed. */
#ifndef DLOR_TESTUTIL_H
#define DLOR_TESTUTIL_H

#include <stddef.h>
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

/* Deterministic pseudo-random numbers (splitmix64 + Box-Muller). */
typedef struct { unsigned long long s; } dlt_rng;
double dlt_uniform(dlt_rng *r);  /* [0, 1) */
double dlt_normal(dlt_rng *r);

#endif
