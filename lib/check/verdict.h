/* verdict.h - the verdict of 'dlor verify', which says PASS only after a check:
 * a compressed layer with no tolerance of its own (its target a budget, a rank,
 * or a tolerance on calibration data) is checked only by the outputs on the
 * user's --inputs (cosine per sample at least --min-cosine, default 0.99, and
 * relative error at most --max-rel-error when given); without --inputs such a
 * file's verdict is "unchecked". */
#ifndef DLOR_VERDICT_H
#define DLOR_VERDICT_H

#include "verify_result.h"

#define DLOR_VERIFY_MIN_COSINE 0.99 /* --min-cosine when layers have no tolerance and none is given */

/* Sets r->unchecked_layers, r->e2e_checked, r->req_*, r->verdict and clears
 * r->pass on a miss. inputs: --inputs was given (the end-to-end figures of r
 * come from them); min_cos, max_rel: the options (NAN: not given). */
void dlor_verify_verdict(verify_result *r, int inputs, double min_cos, double max_rel);

#endif
