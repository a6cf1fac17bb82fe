/* read_all.h - a whole stream into a buffer on the heap, for the test programs
 * (run_image and rt_two_copies, which are built with the one-file runtime and
 * nothing else of the tests, and testrun.c's dlt_read_file). */
#ifndef DLOR_TEST_READ_ALL_H
#define DLOR_TEST_READ_ALL_H

#include <stdio.h>
#include <stdlib.h>

/* The bytes of f up to its end, their count in *len; NULL when out of memory. */
static inline unsigned char *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    unsigned char *b = malloc(cap);
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    *len = n;
    return b;
}

#endif
