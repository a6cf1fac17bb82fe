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
                            "                             features, as an ONNX model declares them; for a model of\n"
                            "                             token ids a .npz of input_ids [N, S] (int32/int64) and optional\n"
                            "                             attention_mask and token_type_ids, or a .npy of ids (required)"},
    {"output", 'o', "Y.npy", "where to write the outputs, float32 [N, outputs] or [N, S, outputs] (required;\n"
                             "                             '-': standard output)"},
    {"select", 0, "NAME", "the graph output to write, for a model with several (default: the first)"},
    {"batch", 'b', "B", "samples per forward call (default 64)"},
    {"threads", 't', "T", "threads running each forward call together (default 1; f32 only)"},
    {"activation", 0, "NAME", "for dense sources without a graph: activation between nn.Sequential layers"},
    {"dtype", 0, "f32|f64", "precision of the forward pass and of Y.npy (default f32; f64 runs in double,\n"
                            "                             as the network form of 'convert --form network' needs)"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "MODEL -i X.npy|X.npz -o Y.npy [--batch B] [--threads T] [--select NAME]\n\n"
                                "MODEL is a .dlor file with a graph, or a dense source whose graph is known\n"
                                "(ONNX; safetensors/npz/pt with a 'dlor.graph' metadata entry or nn.Sequential\n"
                                "names plus --activation), so dense and DLoR models can be compared.";

/* Any model through dlor_model_run: a model of token ids (batches of
 * sequences) or of features; the selected output written [N, F] or [N, S, F],
 * in float32 or double. */
static dlor_status run_graph(const dlor_model *m, const char *in, const char *out, const char *select, size_t batch,
                              unsigned threads, int f64, dlor_error *err)
{
    uint32_t sel = 0, count = dlor_model_output_count(m);
    const char *name;
    uint32_t name_len;
    int per_token;
    uint64_t f;
    if (select) {
        for (sel = 0; sel < count; sel++)
            if (dlor_model_output_at(m, sel, &name, &name_len, NULL, NULL) == 0 && strlen(select) == name_len &&
                memcmp(select, name, name_len) == 0)
                break;
        if (sel == count) return dlor_fail(err, DLOR_E_ARG, "the model has no output named '%s'", select);
    }
    dlor_model_output_at(m, sel, &name, &name_len, &per_token, &f);
    dlor_tokens tok;
    void *x = NULL;
    dlor_status st;
    memset(&tok, 0, sizeof tok);
    if (m->in_dim) { /* features: one "token" per sample */
        st = f64 ? dlor_load_inputs_f64(in, m->in_dim, (double **)&x, &tok.n, err)
                 : dlor_load_inputs(in, m->in_dim, (float **)&x, &tok.n, err);
        tok.seq = 1;
    } else {
        st = dlor_load_tokens(in, m, &tok, err);
    }
    if (st != DLOR_OK) return st;
    int dtype = f64 ? DLOR_RT_F64 : DLOR_RT_F32;
    size_t esize = f64 ? sizeof(double) : sizeof(float), per = (size_t)((per_token ? tok.seq : 1) * f);
    dlor_pool *pool = dlor_pool_create(threads);
    size_t need = dlor_model_scratch_bytes(m, batch, (size_t)tok.seq, threads, dtype);
    void *scratch = NULL, **ys = calloc(sel + 1, sizeof *ys);
    unsigned char *y = malloc((tok.n ? tok.n : 1) * per * esize);
    if (!pool || !ys || !y) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for %llu outputs", (unsigned long long)tok.n);
    else if (need == 0 || posix_memalign(&scratch, 64, need) != 0)
        st = dlor_fail(err, DLOR_E_NOMEM, "cannot allocate scratch for %zu sequences of %llu tokens", batch,
                       (unsigned long long)tok.seq);
    for (uint64_t i = 0; st == DLOR_OK && i < tok.n; i += batch) {
        dlor_run r;
        dlor_image_error ie;
        memset(&r, 0, sizeof r);
        r.batch = (size_t)(tok.n - i < batch ? tok.n - i : batch);
        r.seq = (size_t)tok.seq;
        r.x = x ? (const unsigned char *)x + i * m->in_dim * esize : NULL;
        r.ids = tok.ids ? tok.ids + i * tok.seq : NULL;
        r.mask = tok.mask ? tok.mask + i * tok.seq : NULL;
        r.type_ids = tok.type_ids ? tok.type_ids + i * tok.seq : NULL;
        r.ids_dtype = DLOR_RT_I64;
        ys[sel] = y + i * per * esize;
        r.y = ys;
        r.ny = sel + 1;
        if (dlor_pool_run_model(pool, m, &r, dtype, scratch, need, &ie) != 0)
            st = dlor_fail(err, ie.code == DLOR_RT_E_INPUT ? DLOR_E_FORMAT : DLOR_E_NUMERIC, "%s: %s", in, ie.msg);
    }
    if (st == DLOR_OK) {
        uint64_t dims[3] = {tok.n, per_token ? tok.seq : f, f};
        st = dlor_npy_write(out, f64 ? DLOR_DT_F64 : DLOR_DT_F32, per_token ? 3 : 2, dims, y, err);
    }
    dlor_pool_destroy(pool);
    free(scratch);
    free(ys);
    free(y);
    free(x);
    dlor_tokens_free(&tok);
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
    float *x = NULL;
    double *xd = NULL;
    void *y = NULL;
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
    if (dlor_model_input_at(&l.model, DLOR_INPUT_IDS, NULL, NULL) >= 0 || dlor_opt(&o, defs, "select")) {
        st = run_graph(&l.model, in, out, dlor_opt(&o, defs, "select"), (size_t)batch, (unsigned)threads,
                       dt && strcmp(dt, "f64") == 0, &err);
        dlor_loaded_free(&l);
        return st == DLOR_OK ? 0 : dlor_cmd_fail("run", &err);
    }
    int f64 = dt && strcmp(dt, "f64") == 0;
    if (f64) st = dlor_load_inputs_f64(in, l.model.in_dim, &xd, &n, &err);
    else st = dlor_load_inputs(in, l.model.in_dim, &x, &n, &err);
    if (st == DLOR_OK) dlor_cmd_warn_nonfinite("run", in, x, xd, n, l.model.in_dim);
    if (st == DLOR_OK) {
        y = malloc((n ? n : 1) * l.model.out_dim * (f64 ? sizeof(double) : sizeof(float)));
        if (!y) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory for %llu outputs", (unsigned long long)n);
    }
    if (st == DLOR_OK && f64) st = dlor_run_f64(&l.model, xd, n, (size_t)batch, y, &err);
    else if (st == DLOR_OK) st = dlor_run_batches(&l.model, x, n, (size_t)batch, (unsigned)threads, y, &err);
    if (st == DLOR_OK) {
        uint64_t dims[2] = {n, l.model.out_dim};
        st = dlor_npy_write(out, f64 ? DLOR_DT_F64 : DLOR_DT_F32, 2, dims, y, &err);
    }
    free(x);
    free(xd);
    free(y);
    dlor_loaded_free(&l);
    if (st != DLOR_OK) return dlor_cmd_fail("run", &err);
    return 0;
}

void dlor_network_run_note(const char *path, const dlor_model *m, int f64)
{
    uint32_t n = 0, nd = 0;
    const char *form = dlor_image_meta_get(&m->img, "dlor.form", &n);
    const char *dt = dlor_image_meta_get(&m->img, "dlor.dtype", &nd);
    if (f64 || !form || n != 7 || memcmp(form, "network", 7) != 0 || !dt || nd != 3 || memcmp(dt, "f64", 3) != 0) return;
    fprintf(stderr, "dlor run: note: %s is a network form made for the float64 runtime (its h balances float64 "
                    "rounding); in float32 its error is far larger: run it with --dtype f64\n", path);
}
