/* run_args.h - the options of 'dlor run' as given on the command line (words,
 * not yet numbers), checked together and turned into what the run takes. The
 * command parses the words and prints; which options go together, and what
 * each value may be, is decided here. */
#ifndef DLOR_RUN_ARGS_H
#define DLOR_RUN_ARGS_H

#include <stddef.h>

#include "dlor_error.h"

/* run's options as given, NULL when not given; a switch given is any non-NULL string. */
typedef struct dlor_run_words {
    const char *batch, *threads, *dtype, *activation, *quant_acts;
} dlor_run_words;

/* What 'dlor run' does with them. */
typedef struct dlor_run_args {
    size_t batch;           /* samples (or sequences) per forward call */
    unsigned threads;       /* threads running each call together */
    int f64;                /* the float64 pass (--dtype f64) */
    unsigned flags;         /* dlor_load_runnable_flags's: DLOR_RT_QUANT_ACTS or 0 */
    const char *activation; /* for dense sources without a graph (or NULL) */
} dlor_run_args;

/* Checks run's options together, in a fixed order (the first problem is the
 * one told), and fills a. On failure DLOR_E_USAGE with one line naming the
 * options and the value refused ("--batch must be an integer from 1 to
 * 1048576, not 'x'"); the command prints it after "dlor run: " and exits 2.
 * Nothing is read. */
dlor_status dlor_run_args_check(const dlor_run_words *w, dlor_run_args *a, dlor_error *err);

#endif
