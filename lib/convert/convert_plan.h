/* convert_plan.h - what a conversion will do and cost, known before any work:
 * per tensor its role and form; per converted layer the estimated bytes it
 * writes, the memory it needs while it converts and its time; the totals and
 * the peak memory of the whole run. Estimates come from the shapes alone and
 * the rates measured on the machine of BENCHMARKS.md (plan.c says how). The
 * plan flags every layer whose exact form stores more than 4x its dense bytes
 * (the zero padding of a non-square layer for mul), and checks the peak memory
 * against MemAvailable (/proc/meminfo) and the output against the free space
 * of its file system (statvfs).
 *
 * For tests, two environment variables stand in for the machine:
 * DLOR_TEST_MEM_AVAILABLE and DLOR_TEST_DISK_FREE (bytes). */
#ifndef DLOR_CONVERT_PLAN_H
#define DLOR_CONVERT_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "convert_roles.h"
#include "convert_spec.h"
#include "dlor_error.h"
#include "dlor_tensor.h"

#define DLOR_PLAN_GROWTH_FLAG 4.0  /* exact forms past this many times their dense bytes are flagged */

typedef struct dlor_plan_item {
    const dlor_tensor *t;
    dlor_tensor_role role;
    int convert;                /* converted here (else carried, or another shard's) */
    int other_shard;            /* converted by another shard of this run */
    dlor_layer_spec spec;       /* when converted */
    uint64_t out_bytes;         /* bytes it adds to the output */
    int out_bound;              /* out_bytes is an upper bound (a --tol target may keep it dense) */
    uint64_t work_bytes;        /* memory it needs while it is converted */
    uint64_t held_bytes;        /* memory held for it until the file is written */
    double secs;                /* estimated time */
    double growth;              /* exact forms: stored bytes / dense bytes at the storage dtype */
} dlor_plan_item;

typedef struct dlor_plan {
    dlor_plan_item *items;      /* one per tensor of the source, in its order */
    size_t n, nconvert, nflagged;
    uint64_t src_bytes;         /* the source file */
    uint64_t dense_bytes;       /* of the converted layers, as stored in the source */
    uint64_t out_bytes;         /* the whole output file */
    uint64_t peak_bytes;        /* the process at its largest */
    double secs;                /* the whole run (jobs layers at once) */
    double sens_secs;           /* of which the sensitivity passes of a calibrated allocation */
    double speed;               /* the factor the rates were scaled by (dlor_plan_speed) */
    int jobs;
} dlor_plan;

/* The calibration a conversion runs: its rows (0: none) and the end-to-end
 * sensitivity passes of a calibrated allocation (sensitivity.h): 'sweeps' runs
 * of one pass per compressed layer and one more (each layer's probe fitted
 * first when 'fits' is set), and 'joint' runs of two passes with every layer
 * fitted. */
typedef struct dlor_plan_calib {
    uint64_t rows;
    int sweeps, joint, fits;
} dlor_plan_calib;

/* The sensitivity passes --budget F --calib (bits 0) or --budget-bits --calib
 * (bits 1) run, with the allocation uniform or not. */
dlor_plan_calib dlor_plan_calib_of(uint64_t rows, int budget, int bits, int uniform);

/* Builds the plan of converting src: specs[i] for every i with selected[i]
 * (1: this process, 2: another shard), jobs layers at once, the --budget
 * fraction (0: none), the calibration (see above), src_file_bytes the source
 * file's size. */
dlor_status dlor_plan_make(dlor_plan *p, const dlor_tensor_list *src, const struct dlor_graph *g, const int *selected,
                           const dlor_layer_spec *specs, int jobs, double budget, const dlor_plan_calib *calib,
                           uint64_t src_file_bytes, dlor_error *err);
void dlor_plan_free(dlor_plan *p);

/* The mean seconds of one run of the plan's probe (plan_speed.c: small SVDs
 * for about 50 ms; 0 when it cannot run), and that time over the probe's time
 * on the machine the rates were measured on, idle: the factor every rate is
 * scaled by, in [0.25, 50] (DLOR_TEST_PLAN_SPEED, when set to a positive
 * number, stands in for it). dlor_plan_make probes only a plan of a second or
 * more at the reference rates. */
double dlor_plan_probe_secs(void);
double dlor_plan_speed(void);

/* The plan as a table, told to h line by line (DLOR_LINE_PLAN): every tensor
 * with its role and form, converted layers with their estimates, then the
 * totals. */
void dlor_plan_lines(const dlor_plan *p, const char *in, const dlor_convert_hooks *h);

/* One note through h per flagged layer (exact form past 4x its dense bytes) with what
 * stores it smaller. Returns the count. */
size_t dlor_plan_print_flags(const dlor_plan *p, const dlor_convert_hooks *h);

/* Memory the system has for a new process (MemAvailable), or DLOR_TEST_MEM_AVAILABLE;
 * 0 when unknown. Free bytes of the file system that would hold 'path' (its folder),
 * or DLOR_TEST_DISK_FREE; UINT64_MAX when unknown. */
uint64_t dlor_mem_available(void);
uint64_t dlor_disk_free(const char *path);

/* Checks the plan against the machine; 0 when it fits, else 1 with one line
 * in msg naming the estimate, what is available and the option that forces it. */
int dlor_plan_check_resources(const dlor_plan *p, const char *out, char *msg, size_t len);

/* Writes the plan file (--plan-out: convert_spec.h's format, one layer per line,
 * the estimates as comments); '-' is standard output. */
dlor_status dlor_plan_write(const char *path, const dlor_plan *p, const char *in, dlor_error *err);

/* "12.3 MB" etc. into buf; returns buf. */
const char *dlor_bytes_str(uint64_t b, char *buf, size_t len);

#endif
