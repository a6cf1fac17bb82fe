/* bench_run.h - the measurement behind 'dlor bench': a .dlor model in dlor's
 * runtime against its dense source in OpenBLAS, alternating in one process
 * (see bench_run.c for the protocol). */
#ifndef DLOR_BENCH_RUN_H
#define DLOR_BENCH_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dlor_error.h"

typedef struct dlor_bench_result {
    size_t samples, passes_per_sample;  /* timed samples, passes timed together in each */
    double dense_s, dlor_s, read_s;      /* median seconds per pass: dense, DLoR, a read of the image */
    uint64_t image_bytes;                /* the .dlor image read */
    double params_dense, params_dlor;    /* stored numbers of the graph's weights */
    double bytes_dense, bytes_dlor;      /* and their bytes */
    double max_abs_diff;                 /* largest |dense - DLoR| output difference on the seeded inputs */
} dlor_bench_result;

/* bench's options as given on the command line, NULL when not given. */
typedef struct dlor_bench_words {
    const char *batch, *threads, *time;
} dlor_bench_words;

/* What they ask for. */
typedef struct dlor_bench_args {
    size_t batch;        /* samples per forward pass */
    unsigned threads;    /* OpenBLAS's for the dense model, the runtime's team for DLoR */
    double budget;       /* seconds of sampling at most */
} dlor_bench_args;

/* Checks bench's options in a fixed order (the first problem is the one told)
 * and fills a. On failure DLOR_E_USAGE with one line naming the option and the
 * value refused; the command prints it after "dlor bench: " and exits 2. */
dlor_status dlor_bench_args_check(const dlor_bench_words *w, dlor_bench_args *a, dlor_error *err);

/* Times model_path (.dlor) against dense_path at this batch size on threads
 * threads, sampling until the medians are stable or budget seconds are spent;
 * flags: dlor_model_open's runtime flags for the .dlor model (DLOR_RT_QUANT_ACTS). */
dlor_status dlor_bench_measure(const char *model_path, const char *dense_path, size_t batch, unsigned threads,
                               unsigned flags, double budget, dlor_bench_result *r, dlor_error *err);

/* The figures of r as one JSON object (the format of dlor bench --json, without
 * the closing newline): times in milliseconds per pass and their ratios. */
void dlor_bench_write_json(FILE *f, const char *model_path, const char *dense_path, size_t batch, unsigned threads,
                           const dlor_bench_result *r);

#endif
