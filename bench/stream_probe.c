/* stream_probe.c - read bandwidth of one core by working-set size, for
 * BENCHMARKS.md: how fast a forward pass that streams its weights once can be,
 * for weights of each size (in cache or not).
 *
 *     stream_probe MB...     prints one JSON object per size:
 *                            {"mb": S, "gbs_median": G, "gbs_best": B}
 *
 * Each size is a buffer of S * 10^6 bytes summed with 16 independent partial
 * sums (vectorised by the compiler; bench/run.sh builds it with -march=native),
 * repeated until 0.2 s have passed per sample, 15 samples after one warm-up
 * pass. Not part of the product. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

__attribute__((noinline)) static float sum(const float *a, size_t n)
{
    float s[16] = {0};
    for (size_t i = 0; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) s[l] += a[i + l];
    float t = 0;
    for (int l = 0; l < 16; l++) t += s[l];
    return t;
}

int main(int argc, char **argv)
{
    for (int k = 1; k < argc; k++) {
        double mb = atof(argv[k]);
        size_t n = (size_t)(mb * 1e6 / 4);
        float *a = NULL;
        if (n < 16 || posix_memalign((void **)&a, 64, n * 4) != 0) return 1;
        for (size_t i = 0; i < n; i++) a[i] = (float)(i % 7) * 1e-3f;
        volatile float sink = sum(a, n);
        double g[15];
        for (int s = 0; s < 15; s++) {
            size_t reps = 0;
            double t0 = now(), t;
            do {
                sink += sum(a, n);
                reps++;
                t = now() - t0;
            } while (t < 0.2);
            g[s] = (double)reps * (double)n * 4 / t / 1e9;
        }
        qsort(g, 15, sizeof *g, cmp);
        printf("{\"mb\": %g, \"gbs_median\": %.2f, \"gbs_best\": %.2f}\n", mb, g[7], g[14]);
        fflush(stdout);
        free(a);
        (void)sink;
    }
    return 0;
}
