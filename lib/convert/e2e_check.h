/* e2e_check.h - what 'dlor verify' measures end to end beyond the largest
 * errors: the cosine between dense and DLoR outputs, sample by sample, and
 * the outputs of models of token ids (transformers) on a set of token ids. */
#ifndef DLOR_E2E_CHECK_H
#define DLOR_E2E_CHECK_H

#include <stdint.h>

#include "dlor_error.h"
#include "dlor_runtime.h"

/* Cosine similarity of each of the n rows (f values) of a and b: the least
 * and the mean over rows. Two zero rows count as 1, one zero row as 0; a row
 * holding NaN makes both NaN. */
void dlor_output_cosines(const double *a, const double *b, uint64_t n, uint64_t f, double *min, double *mean);

/* The first output of the dense and the DLoR model (both of token ids) on the
 * token ids of 'path' (read and checked as 'dlor run' reads them), in float32
 * batches: *yd and *yl (malloc'd) hold *n rows of *f values, a sample's whole
 * output (S x F for an output per token). */
dlor_status dlor_e2e_tokens(const dlor_model *dense, const dlor_model *dlor, const char *path, double **yd,
                            double **yl, uint64_t *n, uint64_t *f, dlor_error *err);

#endif
