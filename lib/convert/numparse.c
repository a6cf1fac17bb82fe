/* numparse.c - strict number parsing for option values and metadata: the
 * whole string must be the number. */
#include "numparse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int dlor_parse_i64(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno) return -1;
    *v = x;
    return 0;
}

int dlor_parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    if (*s == '-') return -1;
    unsigned long long x = strtoull(s, &end, 10);
    if (!*s || *end || errno) return -1;
    *v = x;
    return 0;
}

int dlor_parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(x)) return -1;
    *v = x;
    return 0;
}
