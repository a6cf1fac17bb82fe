/* verify_result.h - what 'dlor verify' measured, shared by its text, JSON and HTML reports. */
#ifndef DLOR_VERIFY_RESULT_H
#define DLOR_VERIFY_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_container.h"
#include "dlor_error.h"
#include "dlor_fileio.h"
#include "dlor_tensor.h"
#include "dlor_verify.h"

typedef struct verify_result {
    dlor_layer_report *layers;
    size_t nlayers;
    size_t carried, carried_same;
    char **problems;             /* one line each: missing / differing tensors */
    size_t nproblems;
    int sha_match;
    double max_rel, max_abs;
    int pass;
    /* end to end (dense vs DLoR model outputs); e2e_samples == 0: not run */
    uint64_t e2e_samples;
    const char *e2e_inputs;          /* file name or "random" */
    double e2e_max_abs, e2e_max_rel;
    int has_labels;
    const char *calib;               /* dlor.calib: layers were fitted to calibration data */
    int compressed;                  /* some layer is a compressed (approximate) form */
    double argmax_agreement, acc_dense, acc_dlor;
} verify_result;

/* Writes the verify report as one self-contained HTML page (inline SVG charts:
 * per-layer errors against their tolerances, sizes, singular-value spectra split
 * into identity / low-rank / per-branch parts). c and src are the .dlor file and
 * the dense source the results came from (the spectra are computed from them);
 * target is the converter's dlor.target (or NULL).
 * The page goes to the temporary file of path (dlor_atomic_open), left open in
 * *af for the caller to dlor_atomic_commit (or _abort) together with its other
 * outputs; path "-" writes to stdout and leaves af->fp NULL. On failure nothing
 * is left behind. */
dlor_status dlor_verify_html(const char *path, const char *in, const char *out, const verify_result *r,
                             const dlor_container *c, const dlor_tensor_list *src, const char *target,
                             dlor_atomic_file *af, dlor_error *err);

#endif
