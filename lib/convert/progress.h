/* progress.h - progress lines of the long phases of a conversion (error
 * curves, allocation, fits, exact factorizations, calibration, writing): the
 * phase, items done of the total, the share of the estimated work and an ETA
 * from the rate so far, as lines of the conversion's hooks (DLOR_LINE_PROGRESS
 * while the phase runs, a closing DLOR_LINE_INFO line). Quiet for phases
 * shorter than 2 s (DLOR_PROGRESS_AFTER=SECONDS changes that, for tests); at
 * most one line a second. Items may finish on several threads. */
#ifndef DLOR_PROGRESS_H
#define DLOR_PROGRESS_H

#include <pthread.h>
#include <stddef.h>

struct dlor_convert_hooks;

typedef struct dlor_phase {
    const struct dlor_convert_hooks *h; /* where lines go (NULL: quiet) */
    const char *phase;        /* "error curves", ... */
    const char *unit;         /* "layers", ... */
    size_t total, done;
    double work_total, work_done;
    double t0, last;          /* start, last line printed (monotonic seconds) */
    double after;             /* first line after this many seconds */
    int shown;                /* a line was printed */
    pthread_mutex_t mu;
} dlor_phase;

/* Starts a phase of 'total' items of 'work_total' estimated work (any unit; 0:
 * items count alike), telling h (NULL: nothing told). p may be NULL (no
 * progress) in every function. */
void dlor_progress_begin(dlor_phase *p, const struct dlor_convert_hooks *h, const char *phase, const char *unit, size_t total,
                         double work_total);
/* One item done, of estimated 'work'. */
void dlor_progress_step(dlor_phase *p, double work);
/* Ends the phase (a closing line when any was shown). */
void dlor_progress_end(dlor_phase *p);

/* Seconds since an arbitrary start (CLOCK_MONOTONIC). */
double dlor_progress_now(void);

#endif
