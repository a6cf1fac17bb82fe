/* e2e_check.c - the cosines of dense and DLoR outputs (e2e_check.h). */
#include "e2e_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


void dlor_output_cosines(const double *a, const double *b, uint64_t n, uint64_t f, double *min, double *mean)
{
    double lo = INFINITY, sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        double ab = 0, aa = 0, bb = 0, c;
        for (uint64_t j = 0; j < f; j++) {
            double x = a[i * f + j], y = b[i * f + j];
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        if (isnan(ab) || isnan(aa) || isnan(bb)) c = NAN;
        else if (aa == 0 && bb == 0) c = 1;
        else if (aa == 0 || bb == 0) c = 0;
        else c = ab / (sqrt(aa) * sqrt(bb));
        if (!(c >= lo)) lo = c; /* NaN sticks */
        sum += c;
    }
    *min = n ? lo : NAN;
    *mean = n ? sum / (double)n : NAN;
}

#define E2E_BATCH 16
