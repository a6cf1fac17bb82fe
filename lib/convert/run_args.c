/* run_args.c - dlor run's options checked together (run_args.h). */
#include "run_args.h"

#include <stdint.h>
#include <string.h>

#include "dlor_act.h"
#include "dlor_runtime.h"
#include "model_load.h"
#include "numparse.h"

#define USAGE(...) dlor_fail(err, DLOR_E_USAGE, __VA_ARGS__)

dlor_status dlor_run_args_check(const dlor_run_words *w, dlor_run_args *a, dlor_error *err)
{
    int64_t batch = 64, threads = 1;
    memset(a, 0, sizeof *a);
    if (w->batch && (dlor_parse_i64(w->batch, &batch) != 0 || batch < 1 || batch > (1 << 20)))
        return USAGE("--batch must be an integer from 1 to 1048576, not '%s'", w->batch);
    if (w->threads && (dlor_parse_i64(w->threads, &threads) != 0 || threads < 1 || threads > 256))
        return USAGE("--threads must be an integer from 1 to 256, not '%s'", w->threads);
    if (w->dtype && strcmp(w->dtype, "f32") != 0 && strcmp(w->dtype, "f64") != 0)
        return USAGE("--dtype must be f32 or f64, not '%s'", w->dtype);
    a->f64 = w->dtype && strcmp(w->dtype, "f64") == 0;
    if (a->f64 && threads != 1) return USAGE("--threads goes with --dtype f32 (the float64 pass runs on one thread)");
    if (w->activation && dlor_act_from_name(w->activation) < 0) return USAGE(DLOR_ACTIVATION_OPT_MSG, w->activation);
    if (w->quant_acts && a->f64)
        return USAGE("--quant-acts goes with --dtype f32 (the float64 pass has float activations)");
    a->batch = (size_t)batch;
    a->threads = (unsigned)threads;
    a->flags = w->quant_acts ? DLOR_RT_QUANT_ACTS : 0;
    a->activation = w->activation;
    return DLOR_OK;
}
