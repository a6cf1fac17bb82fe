/* convert_run.h - dlor convert's pipeline for the layer form (convert_run.c):
 * select the tensors, factor them exactly or fit compressed forms, carry the
 * rest over, and record what was done, into a container ready to write. The
 * command fills the configuration from its options, the public API
 * (dlor_convert) from dlor_convert_options. */
#ifndef DLOR_CONVERT_RUN_H
#define DLOR_CONVERT_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "compress_plan.h"
#include "convert.h"
#include "convert_targets.h"
#include "dlor_container.h"
#include "dlor_factor.h"

/* The exact forms store 2 N^2 numbers whatever the rank; a larger rank means
 * fewer, longer factors, i.e. fewer sequential steps for the runtime (each a
 * sync in a team) and longer runs of memory. Measured with dlor bench (each
 * model timed in its steady state, medians of 3 runs, ratio to dense OpenBLAS
 * in the same run): at N = 1024, batch 1, two threads, rank 64 2.79 x, 128
 * 2.21 x, 256 2.42 x (a second set: 128 2.57-3.22 x, 256 2.46-2.95 x, 256
 * ahead in 3 of 4 pairs); one thread 2.22 / 2.38 / 2.34 x (within the noise);
 * at N = 2048 rank 256 1.80 / 1.96 x against rank 64's 1.88 / 2.18 x (one /
 * two threads). Batches of 64 ran 2.2-2.35 x at every rank once the panel
 * update went through 64 rows at a time (before, rank 256 was 20% slower: a
 * factor's runs no longer stayed in L1 across the batch). Hence 256. */
#define DLOR_DEFAULT_RANK 256

typedef struct convert_cfg {
    dlor_factor_opts fo;
    int rank_given;
    int compress;            /* a compressed form was asked for */
    const char *form;        /* the --method word (recorded as dlor.method) */
    int jobs;                /* layers converted at once */
    dlor_compress_cfg cc;
    const char *const *include; /* globs selecting 2-D tensors (ninclude 0: all) */
    size_t ninclude;
    const char *const *exclude;
    size_t nexclude;
    const char *activation;  /* given for nn.Sequential names (the graph is resolved with it) */
    int64_t shard_i, shard_n; /* this process converts part shard_i of shard_n (shard_n 0: all) */
    int u_layout;            /* DLOR_IMAGE_U_PANELS or DLOR_IMAGE_U_ROWS */
    /* per-layer targets and the plan (convert_targets.h): a plan file, --set
     * rules, --plan-out, --dry-run, --force; show_plan tells the plan
     * (DLOR_LINE_PLAN lines) before the work */
    const char *out;         /* the output path (NULL with dry_run) */
    const char *plan_in, *plan_out;
    const char *const *sets;
    int nsets;
    int dry_run, force, show_plan;
    int phase_lines;         /* progress lines with an ETA to the hooks (progress.h) */
} convert_cfg;

/* A conversion: the container to write, and what it points into (the factor
 * bytes of the exact layers live in parts). */
typedef struct dlor_converted {
    dlor_container c;
    dlor_container *parts;
    size_t nparts;
    size_t nfactor;          /* layers selected for conversion (in this shard) */
    size_t nkept, ncapped;   /* of those, kept dense; with --rank capped at their size */
    int stopped;             /* 1: a dry run, done (the plan printed, nothing to write) */
} dlor_converted;

/* Converts src (read from the file in, whose bytes are checksummed into the
 * metadata; graph: its graph, resolved, from graph_source, or empty and why)
 * into out->c (out is initialised here; free it with dlor_converted_free
 * either way). src must outlive out: carried tensors point into it. */
dlor_status dlor_convert_source(const char *in, const dlor_tensor_list *src, const dlor_graph *graph,
                                const char *graph_source, const char *why, const convert_cfg *cfg,
                                const dlor_convert_hooks *hooks, dlor_converted *out, dlor_error *err);
void dlor_converted_free(dlor_converted *x);

#endif
