#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

double dlt_uniform(dlt_rng *r)
{
    unsigned long long z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

double dlt_normal(dlt_rng *r)
{
    double u1 = dlt_uniform(r), u2 = dlt_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
