/* progress.c - progress lines of long phases (progress.h). */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "convert.h"

#define PROGRESS_AFTER 2.0    /* seconds before a phase says anything */
#define PROGRESS_EVERY 1.0    /* seconds between lines */

double dlor_progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_secs(double s, char *buf, size_t len)
{
    if (s < 60) snprintf(buf, len, "%.0f s", s < 1 ? 1 : s);
    else if (s < 3600) snprintf(buf, len, "%.0f min %02.0f s", (double)(long)(s / 60), s - 60 * (double)(long)(s / 60));
    else snprintf(buf, len, "%.1f h", s / 3600);
}

void dlor_progress_begin(dlor_phase *p, const dlor_convert_hooks *h, const char *phase, const char *unit, size_t total,
                         double work_total)
{
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->h = h && h->line ? h : NULL;
    p->phase = phase;
    p->unit = unit;
    p->total = total;
    p->work_total = work_total;
    p->t0 = p->last = dlor_progress_now();
    const char *a = getenv("DLOR_PROGRESS_AFTER");
    p->after = a && *a ? atof(a) : PROGRESS_AFTER;
    pthread_mutex_init(&p->mu, NULL);
}

static void line(dlor_phase *p, double now)
{
    double frac = p->work_total > 0 ? p->work_done / p->work_total : p->total ? (double)p->done / (double)p->total : 1;
    char el[32], eta[48] = "";
    fmt_secs(now - p->t0, el, sizeof el);
    if (frac > 0 && frac < 1) {
        char r[32];
        fmt_secs((now - p->t0) * (1 - frac) / frac, r, sizeof r);
        snprintf(eta, sizeof eta, ", ETA %s", r);
    }
    dlor_hooks_line(p->h, DLOR_LINE_PROGRESS, "dlor convert: %s: %zu/%zu %s, %.0f%% of the work, %s%s", p->phase,
                    p->done, p->total, p->unit, 100 * frac, el, eta);
    p->shown = 1;
    p->last = now;
}

void dlor_progress_step(dlor_phase *p, double work)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->done++;
    p->work_done += work;
    double now = dlor_progress_now();
    if (p->h && now - p->t0 >= p->after && (!p->shown || now - p->last >= PROGRESS_EVERY || p->after == 0))
        line(p, now);
    pthread_mutex_unlock(&p->mu);
}

void dlor_progress_end(dlor_phase *p)
{
    if (!p) return;
    double now = dlor_progress_now();
    if (p->h && (p->shown || now - p->t0 >= p->after)) {
        char el[32];
        fmt_secs(now - p->t0, el, sizeof el);
        dlor_hooks_line(p->h, DLOR_LINE_INFO, "dlor convert: %s: %zu %s done in %s", p->phase, p->done, p->unit, el);
    }
    pthread_mutex_destroy(&p->mu);
}
