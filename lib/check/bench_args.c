/* bench_args.c - dlor bench's options checked (bench_run.h). */
#include <stdint.h>

#include "bench_run.h"
#include "numparse.h"

#define USAGE(...) dlor_fail(err, DLOR_E_USAGE, __VA_ARGS__)

dlor_status dlor_bench_args_check(const dlor_bench_words *w, dlor_bench_args *a, dlor_error *err)
{
    int64_t batch = 1, threads = 1;
    a->budget = 3.0;
    if (w->batch && (dlor_parse_i64(w->batch, &batch) != 0 || batch < 1 || batch > 65536))
        return USAGE("--batch must be an integer from 1 to 65536, not '%s'", w->batch);
    if (w->threads && (dlor_parse_i64(w->threads, &threads) != 0 || threads < 1 || threads > 64))
        return USAGE("--threads must be an integer from 1 to 64, not '%s'", w->threads);
    if (w->time && (dlor_parse_double(w->time, &a->budget) != 0 || !(a->budget > 0) || a->budget > 600))
        return USAGE("--time must be a number of seconds in (0, 600], not '%s'", w->time);
    a->batch = (size_t)batch;
    a->threads = (unsigned)threads;
    return DLOR_OK;
}
