/* stream_probe.c - read bandwidth by working-set size, for BENCHMARKS.md: how
 * fast a forward pass that streams its weights once can be, for weights of each
 * size (in cache or not), on one core or on several together.
 *
 *     stream_probe [-t T] MB...   prints one JSON object per size:
 *                                 {"mb": S, "threads": T, "gbs_median": G, "gbs_best": B}
 *     stream_probe -p             core-to-core round trip: {"round_trip_ns_median": M,
 *                                 "round_trip_ns_best": B, "cpus": [C0, C1]}
 *
 * Each size is a buffer of S * 10^6 bytes; each of T threads (default 1) sums
 * its own contiguous 1/T of it with 16 independent partial sums (vectorised by
 * the compiler; bench/run.sh builds it with -march=native), over and over. A
 * sample starts all threads together and lasts until every one has passed 0.2 s;
 * GB/s = bytes read by all threads / the slowest thread's time. 15 samples after
 * one warm-up pass.
 *
 * -p: two threads pinned to the first two processors the process may use hand
 * a counter on one cache line back and forth (each waits for the other's
 * increment, then increments); the time per round trip, median and best of 15
 * samples of 20000 round trips after a warm-up. A team of workers meets once
 * per step of a forward pass, so this is what each step's hand-over costs: on a
 * virtual machine it depends on where the host placed the two processors
 * (threads of one core, cores sharing a last-level cache, or not). Linux only.
 * Not part of the product. */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

typedef struct {
    const float *a;
    size_t n;
    pthread_barrier_t *start;
    double bytes, secs;
    volatile float sink;
} part;

static void *stream(void *arg)
{
    part *p = arg;
    size_t reps = 0;
    pthread_barrier_wait(p->start);
    double t0 = now(), t;
    do {
        p->sink += sum(p->a, p->n);
        reps++;
        t = now() - t0;
    } while (t < 0.2);
    p->bytes = (double)reps * (double)p->n * 4;
    p->secs = t;
    return NULL;
}

#define ROUND_TRIPS 20000

static struct {
    volatile unsigned n; /* odd: the second thread's turn, even: the first's */
    char pad[60];
} ball __attribute__((aligned(64)));

static int pin(pthread_t t, int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return pthread_setaffinity_np(t, sizeof one, &one);
}

/* The second thread: answers every odd value with the next even one. */
static void *answer(void *arg)
{
    unsigned last = 2u * (unsigned)(16 * ROUND_TRIPS);
    (void)arg;
    for (unsigned v = 1; v < last; v += 2) {
        while (__atomic_load_n(&ball.n, __ATOMIC_ACQUIRE) != v)
            ;
        __atomic_store_n(&ball.n, v + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static int pingpong(void)
{
    cpu_set_t allowed;
    int cpus[2], n = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 1;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &allowed)) cpus[n++] = c;
    if (n < 2) {
        fprintf(stderr, "stream_probe -p: needs two processors\n");
        return 1;
    }
    pthread_t th;
    ball.n = 0;
    if (pin(pthread_self(), cpus[0]) != 0 || pthread_create(&th, NULL, answer, NULL) != 0 || pin(th, cpus[1]) != 0)
        return 1;
    double ns[16];
    unsigned v = 0;
    for (int s = 0; s < 16; s++) { /* sample 0 is the warm-up */
        double t0 = now();
        for (int r = 0; r < ROUND_TRIPS; r++, v += 2) {
            __atomic_store_n(&ball.n, v + 1, __ATOMIC_RELEASE);
            while (__atomic_load_n(&ball.n, __ATOMIC_ACQUIRE) != v + 2)
                ;
        }
        ns[s] = (now() - t0) / ROUND_TRIPS * 1e9;
    }
    pthread_join(th, NULL);
    qsort(ns + 1, 15, sizeof *ns, cmp);
    printf("{\"round_trip_ns_median\": %.1f, \"round_trip_ns_best\": %.1f, \"cpus\": [%d, %d]}\n", ns[8], ns[1],
           cpus[0], cpus[1]);
    return 0;
}

int main(int argc, char **argv)
{
    int k = 1, threads = 1;
    if (argc == 2 && strcmp(argv[1], "-p") == 0) return pingpong();
    if (argc > 2 && argv[1][0] == '-' && argv[1][1] == 't') {
        threads = atoi(argv[2]);
        k = 3;
    }
    if (threads < 1 || threads > 64) return 2;
    for (; k < argc; k++) {
        double mb = atof(argv[k]);
        size_t n = (size_t)(mb * 1e6 / 4), each = n / (size_t)threads / 16 * 16;
        float *a = NULL;
        if (each < 16 || posix_memalign((void **)&a, 64, n * 4) != 0) return 1;
        for (size_t i = 0; i < n; i++) a[i] = (float)(i % 7) * 1e-3f;
        part p[64];
        pthread_t th[64];
        pthread_barrier_t start;
        double g[16];
        for (int s = 0; s < 16; s++) { /* sample 0 is the warm-up */
            pthread_barrier_init(&start, NULL, (unsigned)threads);
            for (int i = 0; i < threads; i++) {
                p[i].a = a + (size_t)i * each;
                p[i].n = each;
                p[i].start = &start;
                if (i > 0 && pthread_create(&th[i], NULL, stream, &p[i]) != 0) return 1;
            }
            stream(&p[0]);
            double bytes = p[0].bytes, secs = p[0].secs;
            for (int i = 1; i < threads; i++) {
                pthread_join(th[i], NULL);
                bytes += p[i].bytes;
                if (p[i].secs > secs) secs = p[i].secs;
            }
            pthread_barrier_destroy(&start);
            g[s] = bytes / secs / 1e9;
        }
        qsort(g + 1, 15, sizeof *g, cmp);
        printf("{\"mb\": %g, \"threads\": %d, \"gbs_median\": %.2f, \"gbs_best\": %.2f}\n", mb, threads, g[8],
               g[15]);
        fflush(stdout);
        free(a);
    }
    return 0;
}
