/* cmd_bench.c - dlor bench: options and printing; the measurement is
 * dlor_bench_measure (lib/check/bench_run.c). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_run.h"
#include "cmd.h"
#include "dlor_fileio.h"
#include "dlor_runtime.h"
#include "opts.h"

static const dlor_optdef defs[] = {
    {"dense", 0, "SRC", "the dense weight file the model came from (required)"},
    {"batch", 'b', "B", "samples per forward pass (default 1)"},
    {"threads", 't', "T", "threads: OpenBLAS's for the dense path, the runtime's team for DLoR (default 1)"},
    {"time", 0, "S", "stop sampling after S seconds (default 3) if the medians are not stable sooner"},
    {"quant-acts", 0, NULL, "time the model with its q8/q4 weights' dot products on int8 activations\n"
                            "                             (the runtime's DLOR_RT_QUANT_ACTS)"},
    {"json", 0, "FILE", "also write the figures as JSON to FILE ('-' for stdout)"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "MODEL.dlor --dense SRC [--batch B] [--threads T] [--quant-acts] [--json FILE]\n\n"
                                "Times the forward pass of MODEL.dlor (dlor's runtime) and of the dense model\n"
                                "it came from (OpenBLAS sgemv/sgemm on the same layers, same graph) on the same\n"
                                "seeded inputs, alternating until the medians are stable, and prints the\n"
                                "medians, their ratio and the parameter and byte ratios. A third turn only\n"
                                "reads the .dlor file's bytes on the same threads: the floor for a pass.";

int dlor_cmd_bench(int argc, char **argv)
{
    dlor_opts o;
    int rc = dlor_opts_parse("bench", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    const char *dense_path = dlor_opt(&o, defs, "dense"), *json = dlor_opt(&o, defs, "json");
    if (o.npos != 1 || !dense_path) {
        fprintf(stderr, "dlor bench: expected MODEL.dlor and --dense SRC (see 'dlor bench --help')\n");
        return 2;
    }
    const dlor_bench_words words = {dlor_opt(&o, defs, "batch"), dlor_opt(&o, defs, "threads"), dlor_opt(&o, defs, "time")};
    dlor_bench_args a;
    dlor_error err;
    if (dlor_bench_args_check(&words, &a, &err) != DLOR_OK) return dlor_cmd_fail("bench", &err);
    const char *model_path = o.pos[0];
    const dlor_cmd_output outputs[] = {{"--json", json, DLOR_OUT_TEXT}};
    const char *inputs[] = {model_path, dense_path};
    if ((rc = dlor_cmd_check_outputs("bench", outputs, 1, inputs, 2)) != 0) return rc;
    dlor_bench_result r;
    dlor_status st = dlor_bench_measure(model_path, dense_path, a.batch, a.threads,
                                        dlor_opt(&o, defs, "quant-acts") ? DLOR_RT_QUANT_ACTS : 0, a.budget, &r, &err);
    if (st == DLOR_OK) {
        double med_d = r.dense_s, med_l = r.dlor_s, med_r = r.read_s, maxdiff = r.max_abs_diff;
        double pd = r.params_dense, pl = r.params_dlor, bd = r.bytes_dense, bl = r.bytes_dlor;
        size_t n = r.samples, reps = r.passes_per_sample;
        printf("dlor bench: %s vs %s, batch %zu, threads %u, %zu samples of %zu passes each\n", model_path,
               dense_path, a.batch, a.threads, n, reps);
        printf("dense (OpenBLAS %s): median %.4g ms per pass (%.4g samples/s)\n", a.batch == 1 ? "sgemv" : "sgemm",
               1e3 * med_d, (double)a.batch / med_d);
        printf("DLoR (dlor runtime, %u thread%s%s):  median %.4g ms per pass (%.4g samples/s)\n",
               a.threads, a.threads > 1 ? "s" : "",
               dlor_opt(&o, defs, "quant-acts") ? ", int8 activations on q8/q4 weights" : "", 1e3 * med_l,
               (double)a.batch / med_l);
        printf("read of the .dlor file's %.4g MB (same threads): median %.4g ms per pass (%.3g GB/s)\n",
               (double)r.image_bytes / 1e6, 1e3 * med_r, (double)r.image_bytes / med_r / 1e9);
        printf("ratio DLoR / dense: time %.3f, parameters %.3f, bytes %.3f; max abs output difference %.3g\n",
               med_l / med_d, pl / pd, bl / bd, maxdiff);
        printf("ratio read / dense: %.3f (a pass must read those bytes: its floor in this run)\n", med_r / med_d);
        if (json) {
            dlor_atomic_file af; /* "-": standard output, staged whole */
            st = dlor_atomic_open(&af, json, &err);
            if (st == DLOR_OK) {
                FILE *f = af.fp;
                dlor_bench_write_json(f, model_path, dense_path, a.batch, a.threads, &r);
                fputc('\n', f);
                if (ferror(f)) af.failed = 1;
                st = dlor_atomic_commit(&af, &err);
            }
        }
    }
    if (st != DLOR_OK) return dlor_cmd_fail("bench", &err);
    return 0;
}
