/* plan_speed.c - how fast this machine factors now (convert_plan.h).
 *
 * The plan's rates (plan.c) are seconds per unit of work on the machine they
 * were measured on, idle. A conversion on another machine, or on this one while
 * other jobs share its cores, runs slower or faster by about the same factor
 * for every LAPACK call, and the float32 passes follow it. So a plan of more
 * than a second (at the reference rates) times small SVDs of the kind a
 * conversion runs (LAPACKE_dgesdd with singular vectors, 128 x 128, a fixed
 * matrix, one BLAS thread) for about 50 ms, and scales every rate by their mean
 * time over the mean on the idle reference machine (PROBE_REF_SECS). The mean,
 * not the median: a run another process preempts is the sharing being measured.
 * A probe much shorter than the scheduler's slices misses that sharing: 14 ms
 * of probe with six busy processes on the 2 cores measured 1.3x, 50 ms 3-4x. */
#define _POSIX_C_SOURCE 200809L
#include "convert_plan.h"

#include <errno.h>
#include <cblas.h>
#include <lapacke.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define PROBE_N 128
#define PROBE_MIN_RUNS 4
#define PROBE_MAX_RUNS 64
#define PROBE_SECS 0.05
/* the probe's mean on the reference machine (the 2-core machine of BENCHMARKS.md), idle */
#define PROBE_REF_SECS 2.0e-3

static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double dlor_plan_probe_secs(void)
{
    enum { N = PROBE_N };
    double *buf = malloc(sizeof(double) * (size_t)(3 * N * N + N));
    if (!buf) return 0;
    double *a0 = buf, *a = a0 + N * N, *vt = a + N * N, *s = vt + N * N;
    uint32_t x = 12345u;
    for (int i = 0; i < N * N; i++) { /* a fixed matrix of uniform entries */
        x = x * 1664525u + 1013904223u;
        a0[i] = (double)(x >> 8) / 16777216.0 - 0.5;
    }
    int threads = openblas_get_num_threads(), runs = 0;
    openblas_set_num_threads(1); /* as the conversion's tasks run (parallel.h) */
    double t0 = 0, t1 = 0;
    for (int r = -1; r < PROBE_MAX_RUNS; r++) { /* run -1 warms the caches, untimed */
        if (r == 0) t0 = now_secs();
        for (int i = 0; i < N * N; i++) a[i] = a0[i];
        if (LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'O', N, N, a, N, s, NULL, 1, vt, N) != 0) break;
        if (r < 0) continue;
        runs++;
        t1 = now_secs();
        if (runs >= PROBE_MIN_RUNS && t1 - t0 >= PROBE_SECS) break;
    }
    openblas_set_num_threads(threads);
    free(buf);
    return runs ? (t1 - t0) / runs : 0;
}

double dlor_plan_speed(void)
{
    const char *v = getenv("DLOR_TEST_PLAN_SPEED");
    if (v && *v) { /* tests: a fixed factor, so that two plans compare */
        char *end;
        errno = 0;
        double f = strtod(v, &end);
        if (!*end && !errno && f > 0) return f;
    }
    double t = dlor_plan_probe_secs();
    if (!(t > 0)) return 1.0;
    double f = t / PROBE_REF_SECS;
    /* a factor outside [0.25, 50] is a clock problem, not a machine */
    return f < 0.25 ? 0.25 : f > 50 ? 50 : f;
}
