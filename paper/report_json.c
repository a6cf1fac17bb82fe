/* report_json.c - 'dlor reproduce's report as JSON: every curve point, approximation,
 * Table 1 row, the spectral split, the targets and the notes (reproduce.h). */
#include <math.h>
#include <stdio.h>

#include "json_out.h"
#include "reproduce.h"

static void jnum(dlor_jw *w, const char *k, double v)
{
    dlor_jw_key(w, k);
    dlor_jw_num(w, v);
}

static void jstr(dlor_jw *w, const char *k, const char *v)
{
    dlor_jw_key(w, k);
    if (v) dlor_jw_str(w, v);
    else dlor_jw_num(w, NAN); /* null */
}

static void jarr(dlor_jw *w, const char *k, const double *v, size_t n)
{
    dlor_jw_key(w, k);
    dlor_jw_begin_arr(w);
    for (size_t i = 0; i < n; i++) dlor_jw_num(w, v[i]);
    dlor_jw_end_arr(w);
}

static void jbest(dlor_jw *w, const char *k, const dlor_repro_best *b)
{
    dlor_jw_key(w, k);
    dlor_jw_begin_obj(w);
    jnum(w, "h", b->h);
    jnum(w, "max_abs_error", b->err);
    dlor_jw_end_obj(w);
}

void dlor_repro_json(FILE *f, const dlor_repro_report *r)
{
    dlor_jw w;
    dlor_jw_init(&w, f);
    dlor_jw_begin_obj(&w);
    jstr(&w, "sample", r->sample_dir);
    dlor_jw_key(&w, "test_samples");
    dlor_jw_u64(&w, r->test_samples);
    jnum(&w, "dense_test_mse", r->dense_test_mse);
    dlor_jw_key(&w, "curves");
    dlor_jw_begin_arr(&w);
    for (size_t i = 0; i < r->ncurves; i++) {
        const dlor_repro_curve *cv = &r->curves[i];
        dlor_jw_begin_obj(&w);
        jstr(&w, "label", cv->label);
        jstr(&w, "construction", cv->construction);
        jstr(&w, "basis", cv->basis);
        jstr(&w, "alpha", cv->alpha);
        jstr(&w, "beta", cv->beta);
        dlor_jw_key(&w, "seed");
        dlor_jw_u64(&w, cv->seed);
        dlor_jw_key(&w, "rank");
        dlor_jw_u64(&w, (uint64_t)cv->rank);
        jnum(&w, "c", cv->c);
        dlor_jw_key(&w, "paper_h_range");
        dlor_jw_begin_arr(&w);
        dlor_jw_num(&w, cv->paper_h_min);
        dlor_jw_num(&w, cv->paper_h_max);
        dlor_jw_end_arr(&w);
        dlor_jw_key(&w, "failed");
        dlor_jw_bool(&w, cv->failed);
        dlor_jw_key(&w, "points");
        dlor_jw_begin_arr(&w);
        for (size_t j = 0; j < cv->npoints; j++) {
            dlor_jw_begin_obj(&w);
            jnum(&w, "h", cv->points[j].h);
            jnum(&w, "err_f64", cv->points[j].err_f64);
            jnum(&w, "err_f32", cv->points[j].err_f32);
            dlor_jw_end_obj(&w);
        }
        dlor_jw_end_arr(&w);
        jbest(&w, "grid_min_f64", &cv->grid_min_f64);
        jbest(&w, "grid_min_f32", &cv->grid_min_f32);
        jbest(&w, "auto_f64", &cv->auto_f64);
        jbest(&w, "auto_f32", &cv->auto_f32);
        jstr(&w, "note", cv->note);
        dlor_jw_end_obj(&w);
    }
    dlor_jw_end_arr(&w);
    dlor_jw_key(&w, "approximation");
    dlor_jw_begin_arr(&w);
    for (size_t i = 0; i < r->napprox; i++) {
        const dlor_repro_approx *a = &r->approx[i];
        dlor_jw_begin_obj(&w);
        jstr(&w, "construction", a->construction);
        jstr(&w, "variant", a->variant);
        jarr(&w, "x", a->x, a->n);
        jarr(&w, "target", a->target, a->n);
        jarr(&w, "dense", a->dense, a->n);
        dlor_jw_key(&w, "series");
        dlor_jw_begin_arr(&w);
        for (size_t k = 0; k < a->nseries; k++) {
            dlor_jw_begin_obj(&w);
            jstr(&w, "label", a->series[k].label);
            jnum(&w, "h", a->series[k].h);
            jnum(&w, "max_abs_to_dense", a->series[k].max_abs_to_dense);
            jnum(&w, "max_abs_to_target", a->series[k].max_abs_to_target);
            jarr(&w, "y", a->series[k].y, a->n);
            dlor_jw_end_obj(&w);
        }
        dlor_jw_end_arr(&w);
        dlor_jw_end_obj(&w);
    }
    dlor_jw_end_arr(&w);
    dlor_jw_key(&w, "table1");
    dlor_jw_begin_arr(&w);
    for (size_t i = 0; i < r->ntable1; i++) {
        const dlor_repro_table1_row *t = &r->table1[i];
        const char *keys[9] = {"k", "rank", "dense_width", "dense", "deep", "wide", "wide_formula", "paper_dense",
                               "paper_deep"};
        uint64_t vals[9] = {(uint64_t)t->k, (uint64_t)t->rank, (uint64_t)t->dense_width, t->dense, t->deep, t->wide,
                            t->wide_formula, t->paper_dense, t->paper_deep};
        dlor_jw_begin_obj(&w);
        for (int k = 0; k < 9; k++) {
            dlor_jw_key(&w, keys[k]);
            dlor_jw_u64(&w, vals[k]);
        }
        dlor_jw_key(&w, "paper_wide");
        dlor_jw_u64(&w, t->paper_wide);
        dlor_jw_end_obj(&w);
    }
    dlor_jw_end_arr(&w);
    const dlor_repro_spectral *sp = &r->spectral;
    dlor_jw_key(&w, "spectral");
    dlor_jw_begin_obj(&w);
    jstr(&w, "layer", sp->layer);
    dlor_jw_key(&w, "n");
    dlor_jw_u64(&w, (uint64_t)sp->n);
    dlor_jw_key(&w, "rank");
    dlor_jw_u64(&w, (uint64_t)sp->rank);
    dlor_jw_key(&w, "k");
    dlor_jw_u64(&w, (uint64_t)sp->k);
    dlor_jw_key(&w, "epochs");
    dlor_jw_u64(&w, (uint64_t)sp->epochs);
    jnum(&w, "alpha", sp->alpha);
    jnum(&w, "train_mse", sp->train_mse);
    jnum(&w, "test_mse", sp->test_mse);
    jnum(&w, "test_mse_runtime", sp->test_mse_runtime);
    if (sp->sigma) {
        jarr(&w, "sigma", sp->sigma, (size_t)sp->n);
        jarr(&w, "lowrank", sp->lowrank, (size_t)sp->n);
        jarr(&w, "identity", sp->identity, (size_t)sp->n);
        jarr(&w, "U", sp->U, (size_t)(sp->n * sp->rank));
        jarr(&w, "V", sp->V, (size_t)(sp->n * sp->rank));
    }
    dlor_jw_end_obj(&w);
    dlor_jw_key(&w, "targets");
    dlor_jw_begin_arr(&w);
    for (size_t i = 0; i < r->ntargets; i++) {
        dlor_jw_begin_obj(&w);
        jstr(&w, "name", r->targets[i].name);
        jnum(&w, "value", r->targets[i].value);
        jnum(&w, "limit", r->targets[i].limit);
        jnum(&w, "h", r->targets[i].h);
        dlor_jw_key(&w, "pass");
        dlor_jw_bool(&w, r->targets[i].pass);
        dlor_jw_end_obj(&w);
    }
    dlor_jw_end_arr(&w);
    dlor_jw_key(&w, "notes");
    dlor_jw_begin_arr(&w);
    for (size_t i = 0; i < r->nnotes; i++) dlor_jw_str(&w, r->notes[i]);
    dlor_jw_end_arr(&w);
    dlor_jw_end_obj(&w);
    fputc('\n', f);
}
