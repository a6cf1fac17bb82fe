/* e2e_check.h - what 'dlor verify' measures end to end beyond the largest
 * errors: the cosine between dense and DLoR outputs, sample by sample. */
#ifndef DLOR_E2E_CHECK_H
#define DLOR_E2E_CHECK_H

#include <stdint.h>

#include "dlor_error.h"
#include "dlor_runtime.h"

/* Cosine similarity of each of the n rows (f values) of a and b: the least
 * and the mean over rows. Two zero rows count as 1, one zero row as 0; a row
 * holding NaN makes both NaN. */
void dlor_output_cosines(const double *a, const double *b, uint64_t n, uint64_t f, double *min, double *mean);

#endif
