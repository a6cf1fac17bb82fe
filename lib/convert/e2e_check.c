/* e2e_check.c - end-to-end cosines and token-model outputs (e2e_check.h). */
#include "e2e_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_load.h"

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

static dlor_status run_tokens(const dlor_model *m, const dlor_tokens *tok, size_t per_sample, double *out,
                              const char *what, dlor_error *err)
{
    size_t B = E2E_BATCH, S = (size_t)tok->seq;
    size_t need = dlor_model_scratch_bytes(m, B, S, 1, DLOR_RT_F32);
    void *scratch = need ? malloc(need) : NULL;
    float *y = malloc(B * per_sample * sizeof *y);
    dlor_status st = scratch && y ? DLOR_OK : dlor_fail(err, DLOR_E_NOMEM, "out of memory for the %s pass", what);
    for (uint64_t b0 = 0; st == DLOR_OK && b0 < tok->n; b0 += B) {
        size_t nb = (size_t)(tok->n - b0 < B ? tok->n - b0 : B);
        void *ys[1] = {y};
        dlor_run r;
        dlor_image_error ie;
        memset(&r, 0, sizeof r);
        r.batch = nb;
        r.seq = S;
        r.ids = tok->ids + b0 * S;
        r.mask = tok->mask ? tok->mask + b0 * S : NULL;
        r.type_ids = tok->type_ids ? tok->type_ids + b0 * S : NULL;
        r.ids_dtype = DLOR_RT_I64;
        r.y = ys;
        r.ny = 1;
        if (dlor_model_run(m, &r, DLOR_RT_F32, scratch, need, NULL, &ie) != 0) {
            st = dlor_fail(err, DLOR_E_NUMERIC, "the %s model's pass failed: %s", what, ie.msg);
            break;
        }
        for (size_t i = 0; i < nb * per_sample; i++) out[b0 * per_sample + i] = y[i];
    }
    free(scratch);
    free(y);
    return st;
}

dlor_status dlor_e2e_tokens(const dlor_model *dense, const dlor_model *dlor, const char *path, double **yd,
                            double **yl, uint64_t *n, uint64_t *f, dlor_error *err)
{
    dlor_tokens tok;
    memset(&tok, 0, sizeof tok);
    dlor_status st = dlor_load_tokens(path, dlor, &tok, err);
    if (st != DLOR_OK) return st;
    const char *nm;
    uint32_t nl;
    int per_token = 0;
    uint64_t feat = 0;
    dlor_model_output_at(dlor, 0, &nm, &nl, &per_token, &feat);
    size_t per_sample = (size_t)feat * (per_token ? (size_t)tok.seq : 1);
    double *a = malloc((tok.n ? tok.n : 1) * per_sample * sizeof *a);
    double *b = malloc((tok.n ? tok.n : 1) * per_sample * sizeof *b);
    if (!a || !b) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for the end-to-end outputs");
    if (st == DLOR_OK) st = run_tokens(dense, &tok, per_sample, a, "dense", err);
    if (st == DLOR_OK) st = run_tokens(dlor, &tok, per_sample, b, "DLoR", err);
    if (st == DLOR_OK) {
        *yd = a;
        *yl = b;
        *n = tok.n;
        *f = per_sample;
    } else {
        free(a);
        free(b);
    }
    dlor_tokens_free(&tok);
    return st;
}
