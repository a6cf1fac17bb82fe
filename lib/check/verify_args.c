/* verify_args.c - dlor verify's options checked together (verify_result.h). */
#include <math.h>
#include <string.h>

#include "dlor_act.h"
#include "model_load.h"
#include "numparse.h"
#include "verify_result.h"

#define USAGE(...) dlor_fail(err, DLOR_E_USAGE, __VA_ARGS__)

dlor_status dlor_verify_args_check(const dlor_verify_words *w, dlor_verify_args *a, dlor_error *err)
{
    memset(a, 0, sizeof *a);
    a->tol = -1;
    if (w->tol && (dlor_parse_double(w->tol, &a->tol) != 0 || a->tol < 0))
        return USAGE("--tol must be a non-negative number, not '%s'", w->tol);
    a->nsamples = 256;
    if (w->samples && (dlor_parse_u64(w->samples, &a->nsamples) != 0 || a->nsamples == 0 || a->nsamples > (1u << 24)))
        return USAGE("--samples must be an integer from 1 to 16777216, not '%s'", w->samples);
    if (w->seed && dlor_parse_u64(w->seed, &a->seed) != 0)
        return USAGE("--seed must be a non-negative integer, not '%s'", w->seed);
    if (w->samples && w->inputs)
        return USAGE("--inputs and --samples do not go together (the inputs are the samples)");
    if (w->labels && !w->inputs) return USAGE("--labels goes with --inputs (the labels of those inputs)");
    if (w->activation && dlor_act_from_name(w->activation) < 0) return USAGE(DLOR_ACTIVATION_OPT_MSG, w->activation);
    a->min_cos = a->max_rel = NAN;
    if (w->min_cosine && (dlor_parse_double(w->min_cosine, &a->min_cos) != 0 || !(a->min_cos >= -1 && a->min_cos <= 1)))
        return USAGE("--min-cosine must be a number from -1 to 1, not '%s'", w->min_cosine);
    if (w->max_rel_error && (dlor_parse_double(w->max_rel_error, &a->max_rel) != 0 || !(a->max_rel >= 0)))
        return USAGE("--max-rel-error must be a non-negative number, not '%s'", w->max_rel_error);
    if ((w->min_cosine || w->max_rel_error) && !w->inputs)
        return USAGE("--min-cosine and --max-rel-error hold the outputs on --inputs to a tolerance; give --inputs");
    a->activation = w->activation;
    a->inputs = w->inputs;
    a->labels = w->labels;
    a->samples_given = w->samples != NULL;
    a->has_min_cos = w->min_cosine != NULL;
    a->has_max_rel = w->max_rel_error != NULL;
    return DLOR_OK;
}
