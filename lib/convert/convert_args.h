/* convert_args.h - the options of 'dlor convert' as given on the command line
 * (words, not yet numbers), checked together and turned into the
 * configuration of the form they ask for: the layer form (convert_cfg) or the
 * network form (net_cfg). The command parses the words and prints; which
 * options go together, and what each value may be, is decided here. */
#ifndef DLOR_CONVERT_ARGS_H
#define DLOR_CONVERT_ARGS_H

#include <stddef.h>

#include "convert_run.h"
#include "dlor_error.h"
#include "network_run.h"

/* Each member is the option's value as given (its last one), NULL when the
 * option was not given; a switch given is any non-NULL string. */
typedef struct dlor_convert_args {
    const char *form, *method, *rank, *tol, *budget, *budget_bits, *allocate, *factors;
    const char *calib, *calib_acts, *basis, *alpha, *seed, *dtype, *correction_dtype;
    const char *jobs, *shard, *layout, *activation;
    const char *construction, *h, *c, *beta;                  /* the network form's */
    const char *out, *emit, *emit_dense, *emit_onnx, *plan, *plan_out;
    const char *dry_run, *force;                              /* switches */
    const char *const *include, *const *exclude, *const *sets; /* every value of a repeatable option */
    size_t ninclude, nexclude;
    int nsets;
    int api;            /* the options of the public API (dlor.h) written as words: refusals are DLOR_E_ARG,
                           "dlor_convert: " and a line naming its fields (tol, storage) where it has the option */
} dlor_convert_args;

/* Checks the options together, in a fixed order (the first problem is the one
 * told), and fills the configuration of the form they ask for: *network 0
 * and cfg (every member the options set; show_plan and phase_lines 0), or
 * *network 1 and ncfg. On failure DLOR_E_USAGE with one line naming the
 * options and the value refused ("--tol must be a positive number, not 'x'");
 * the command prints it after "dlor convert: " and exits 2 (a->api: see
 * there). Nothing is read:
 * the files named are checked where they are opened. */
dlor_status dlor_convert_args_check(const dlor_convert_args *a, int *network, convert_cfg *cfg, net_cfg *ncfg,
                                    dlor_error *err);

#endif
