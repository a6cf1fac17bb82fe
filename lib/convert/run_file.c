/* run_file.c - dlor run's work: a model on the inputs of a file, its outputs
 * written as .npy (convert.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "dlor_npy.h"
#include "dlor_pool.h"
#include "model_load.h"

dlor_status dlor_run_graph_file(const dlor_model *m, const char *in, const char *out, const char *select, size_t batch,
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
        if (sel == count) { /* a value the file cannot take: a usage error naming the ones it can */
            char names[512] = "";
            size_t at = 0;
            for (uint32_t i = 0; i < count && at < sizeof names; i++) {
                if (dlor_model_output_at(m, i, &name, &name_len, NULL, NULL) != 0) continue;
                int k = name_len ? snprintf(names + at, sizeof names - at, "%s'%.*s'", i ? ", " : "", (int)name_len, name)
                                 : snprintf(names + at, sizeof names - at, "%s(output %u, unnamed)", i ? ", " : "", i);
                at += k > 0 ? (size_t)k : 0;
            }
            return dlor_fail(err, DLOR_E_USAGE, "--select '%s': the model has no output of that name (its output%s: %s)",
                             select, count == 1 ? "" : "s", count ? names : "none");
        }
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

dlor_status dlor_run_features_file(const dlor_model *m, const float *x, const double *xd, uint64_t n, size_t batch,
                                   unsigned threads, int f64, const char *out, dlor_error *err)
{
    void *y = malloc((n ? n : 1) * m->out_dim * (f64 ? sizeof(double) : sizeof(float)));
    dlor_status st = DLOR_OK;
    if (!y) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for %llu outputs", (unsigned long long)n);
    if (st == DLOR_OK && f64) st = dlor_run_f64(m, xd, n, batch, y, err);
    else if (st == DLOR_OK) st = dlor_run_batches(m, x, n, batch, threads, y, err);
    if (st == DLOR_OK) {
        uint64_t dims[2] = {n, m->out_dim};
        st = dlor_npy_write(out, f64 ? DLOR_DT_F64 : DLOR_DT_F32, 2, dims, y, err);
    }
    free(y);
    return st;
}
