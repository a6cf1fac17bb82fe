/* cmd_run.c - dlor run: evaluate a model (.dlor or dense source) on inputs. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "dlor_npy.h"
#include "dlor_pool.h"
#include "model_load.h"
#include "network_cmd.h"
#include "opts.h"

static const dlor_optdef defs[] = {
    {"input", 'i', "X.npy", "inputs, float, [N, features] or [N, d1, ..., dk] with d1 x ... x dk =\n"
                            "                             features, as an ONNX model declares them (required)"},
    {"output", 'o', "Y.npy", "where to write the outputs, float32 [N, outputs] (required; '-': standard output)"},
    {"batch", 'b', "B", "samples per forward call (default 64)"},
    {"threads", 't', "T", "threads running each forward call together (default 1; f32 only)"},
    {"activation", 0, "NAME", "for dense sources without a graph: activation between nn.Sequential layers"},
    {"dtype", 0, "f32|f64", "precision of the forward pass and of Y.npy (default f32; f64 runs in double,\n"
                            "                             as the network form of 'convert --form network' needs)"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "MODEL -i X.npy -o Y.npy [--batch B] [--threads T]\n\n"
                                "MODEL is a .dlor file with a graph, or a dense source whose graph is known\n"
                                "(ONNX; safetensors/npz/pt with a 'dlor.graph' metadata entry or nn.Sequential\n"
                                "names plus --activation), so dense and DLoR models can be compared.";

dlor_status dlor_run_batches(const dlor_model *m, const float *x, uint64_t n, size_t batch, unsigned threads,
                             float *y, dlor_error *err)
{
    if (threads == 0) threads = 1;
    dlor_pool *pool = dlor_pool_create(threads); /* a pool of one runs in the caller alone */
    if (!pool) return dlor_fail(err, DLOR_E_NOMEM, "cannot allocate or start a team of %u threads", threads);
    size_t need = dlor_model_scratch_size_team(m, batch, threads);
    void *scratch = NULL;
    if (need == 0 || posix_memalign(&scratch, 64, need) != 0) {
        dlor_pool_destroy(pool);
        return dlor_fail(err, DLOR_E_NOMEM, "cannot allocate %zu bytes of scratch for batch %zu", need, batch);
    }
    dlor_status st = DLOR_OK;
    for (uint64_t i = 0; i < n && st == DLOR_OK; i += batch) {
        size_t b = (size_t)(n - i < batch ? n - i : batch);
        dlor_image_error ie;
        if (dlor_pool_forward(pool, m, x + i * m->in_dim, b, y + i * m->out_dim, scratch, need, &ie) != 0)
            st = dlor_fail(err, DLOR_E_NUMERIC, "forward pass failed: %s", ie.msg);
    }
    dlor_pool_destroy(pool);
    free(scratch);
    return st;
}

int dlor_cmd_run(int argc, char **argv)
{
    dlor_opts o;
    int rc = dlor_opts_parse("run", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    const char *in = dlor_opt(&o, defs, "input"), *out = dlor_opt(&o, defs, "output");
    const char *bs = dlor_opt(&o, defs, "batch"), *ts = dlor_opt(&o, defs, "threads");
    if (o.npos != 1 || !in || !out) {
        fprintf(stderr, "dlor run: expected MODEL, -i X.npy and -o Y.npy (see 'dlor run --help')\n");
        return 2;
    }
    int64_t batch = 64;
    if (bs && (dlor_parse_i64(bs, &batch) != 0 || batch < 1 || batch > (1 << 20))) {
        fprintf(stderr, "dlor run: --batch must be an integer from 1 to 1048576, not '%s'\n", bs);
        return 2;
    }
    int64_t threads = 1;
    if (ts && (dlor_parse_i64(ts, &threads) != 0 || threads < 1 || threads > 256)) {
        fprintf(stderr, "dlor run: --threads must be an integer from 1 to 256, not '%s'\n", ts);
        return 2;
    }
    dlor_error err;
    dlor_loaded l;
    float *x = NULL, *y = NULL;
    uint64_t n = 0;
    const char *dt = dlor_opt(&o, defs, "dtype");
    if (dt && strcmp(dt, "f32") != 0 && strcmp(dt, "f64") != 0) {
        fprintf(stderr, "dlor run: --dtype must be f32 or f64, not '%s'\n", dt);
        return 2;
    }
    if (dt && strcmp(dt, "f64") == 0 && ts && threads != 1) {
        fprintf(stderr, "dlor run: --threads goes with --dtype f32 (the float64 pass runs on one thread)\n");
        return 2;
    }
    if ((rc = dlor_check_activation_opt("run", dlor_opt(&o, defs, "activation"))) != 0) return rc;
    const dlor_cmd_output outputs[] = {{"-o", out, DLOR_OUT_BINARY}};
    const char *inputs[] = {o.pos[0], in};
    if ((rc = dlor_cmd_check_outputs("run", outputs, 1, inputs, 2)) != 0) return rc;
    dlor_status st = dlor_load_runnable(o.pos[0], dlor_opt(&o, defs, "activation"), &l, &err);
    if (st != DLOR_OK) return dlor_cmd_fail("run", &err);
    dlor_network_run_note(o.pos[0], &l.model, dt && strcmp(dt, "f64") == 0);
    if (dt && strcmp(dt, "f64") == 0) {
        st = dlor_run_f64(&l.model, in, out, (size_t)batch, &err);
        dlor_loaded_free(&l);
        return st == DLOR_OK ? 0 : dlor_cmd_fail("run", &err);
    }
    st = dlor_load_inputs(in, l.model.in_dim, &x, &n, &err);
    if (st == DLOR_OK) dlor_warn_nonfinite_inputs("run", in, x, NULL, n, l.model.in_dim);
    if (st == DLOR_OK) {
        y = malloc((n ? n : 1) * l.model.out_dim * sizeof *y);
        if (!y) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory for %llu outputs", (unsigned long long)n);
    }
    if (st == DLOR_OK) st = dlor_run_batches(&l.model, x, n, (size_t)batch, (unsigned)threads, y, &err);
    if (st == DLOR_OK) {
        uint64_t dims[2] = {n, l.model.out_dim};
        st = dlor_npy_write(out, DLOR_DT_F32, 2, dims, y, &err);
    }
    free(x);
    free(y);
    dlor_loaded_free(&l);
    if (st != DLOR_OK) return dlor_cmd_fail("run", &err);
    return 0;
}
