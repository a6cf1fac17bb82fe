/* experiments_h2.c - the experiments of 'dlor reproduce' on the Appendix H.2 models:
 * Table 1's parameter counts and Experiment 3's spectral split of a trained deep DLoR
 * layer (reproduce.h). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "network.h"
#include "repro_internal.h"
#include "sawtooth.h"

/* ---- Table 1 ---------------------------------------------------------------------- */

dlor_status dlor__repro_table1(dlor_repro_report *r, dlor_error *err)
{
    static const int64_t ks[5] = {1, 2, 4, 8, 16};
    static const uint64_t pd[5] = {573, 622, 622, 726, 838}, pdeep[5] = {578, 594, 626, 690, 818},
                          pwide[5] = {594, 611, 645, 713, 849};
    dlor_status st = DLOR_OK;
    for (int i = 0; i < 5 && st == DLOR_OK; i++) {
        dlor_repro_table1_row *row = &r->table1[r->ntable1++];
        int64_t k = ks[i], rk = (16 + k - 1) / k; /* r_k = ceil(16 / k) */
        row->k = k;
        row->rank = rk;
        row->paper_dense = pd[i];
        row->paper_deep = pdeep[i];
        row->paper_wide = pwide[i];
        dlor_h2_arch deep = {DLOR_H2_DEEP, 16, k, rk, 0}, wide = {DLOR_H2_WIDE, 16, k, rk, 1},
                     widef = {DLOR_H2_WIDE, 16, k, rk, 0};
        st = dlor_h2_params(&deep, &row->deep, err);
        if (st == DLOR_OK) st = dlor_h2_params(&wide, &row->wide, err);
        if (st == DLOR_OK) st = dlor_h2_params(&widef, &row->wide_formula, err);
        /* the parameter-matched dense baseline: both hidden layers of width w, w chosen so
         * that its count is nearest the wide model's */
        uint64_t best = UINT64_MAX;
        for (int64_t w = 1; w <= 64 && st == DLOR_OK; w++) {
            dlor_h2_arch dense = {DLOR_H2_DENSE, w, 0, 0, 0};
            uint64_t cnt;
            st = dlor_h2_params(&dense, &cnt, err);
            uint64_t d = cnt > row->wide ? cnt - row->wide : row->wide - cnt;
            if (st == DLOR_OK && d < best) {
                best = d;
                row->dense_width = w;
                row->dense = cnt;
            }
        }
    }
    return st;
}

/* ---- Experiment 3 ------------------------------------------------------------------ */

dlor_status dlor__repro_spectral(const dlor__repro_sample *s, dlor_repro_spectral *sp, dlor_error *err)
{
    const int64_t N = 16, k = 4, r = 4, which = 1;
    dlor_h2_deep m;
    dlor_h2_train_opts to;
    dlor_h2_train_opts_default(&to);
    to.epochs = s->cfg->epochs;
    sp->layer = "deep.1";
    sp->n = N;
    sp->rank = r;
    sp->k = k;
    sp->epochs = to.epochs;
    dlor_status st = dlor_h2_deep_init(N, k, r, 0, &m, err);
    if (st != DLOR_OK) return st;
    st = dlor_h2_train_deep(&m, s->xtr, s->ytr, s->ntr, &to, &sp->train_mse, err);
    if (st == DLOR_OK) {
        double s2 = 0;
        for (uint64_t i = 0; i < s->nte; i++) {
            double e = dlor_h2_deep_predict(&m, s->xte[i]) - s->yte[i];
            s2 += e * e;
        }
        sp->test_mse = s2 / (double)s->nte;
        /* the same model through the container and the runtime */
        dlor_container c;
        dlor_net_ref ref;
        unsigned char *img = NULL;
        size_t len;
        double dummy, *y = malloc(s->nte * sizeof *y);
        dlor_container_init(&c);
        memset(&ref, 0, sizeof ref);
        ref.x = s->xte;
        ref.y = s->yte; /* 'error' against the labels; outputs collected in y */
        ref.n = s->nte;
        ref.in_dim = ref.out_dim = 1;
        st = y ? dlor_h2_deep_container(&m, DLOR_DT_F64, &c, err) : dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        if (st == DLOR_OK) st = dlor_container_to_memory(&c, &img, &len, err);
        if (st == DLOR_OK) st = dlor_net_image_error(img, len, &ref, 1, &dummy, y, err);
        if (st == DLOR_OK) {
            s2 = 0;
            for (uint64_t i = 0; i < s->nte; i++) s2 += (y[i] - s->yte[i]) * (y[i] - s->yte[i]);
            sp->test_mse_runtime = s2 / (double)s->nte;
        }
        free(img);
        free(y);
        dlor_container_free(&c);
    }
    sp->alpha = m.alpha;
    sp->sigma = malloc((size_t)N * sizeof *sp->sigma);
    sp->lowrank = malloc((size_t)N * sizeof *sp->lowrank);
    sp->identity = malloc((size_t)N * sizeof *sp->identity);
    sp->U = malloc((size_t)(N * r) * sizeof *sp->U);
    sp->V = malloc((size_t)(N * r) * sizeof *sp->V);
    if (st == DLOR_OK && (!sp->sigma || !sp->lowrank || !sp->identity || !sp->U || !sp->V))
        st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    if (st == DLOR_OK) {
        memcpy(sp->U, m.U + which * N * r, (size_t)(N * r) * sizeof *sp->U);
        memcpy(sp->V, m.V + which * N * r, (size_t)(N * r) * sizeof *sp->V);
        st = dlor_spectral_split(N, r, m.alpha, sp->U, sp->V, sp->sigma, sp->lowrank, sp->identity, err);
    }
    dlor_h2_deep_free(&m);
    return st;
}
