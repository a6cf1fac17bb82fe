/* experiments.c - the experiments of 'dlor reproduce' that sweep h: the error of the
 * network form against the dense sawtooth MLP as a function of h for each construction,
 * basis, alpha and beta (Figures 2a, 3a), and the sawtooth approximated at a few h
 * (Figures 2b, 3b); and the sample they run on (reproduce.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_readers.h"
#include "model_load.h"
#include "repro_internal.h"
#include "sawtooth.h"

/* ---- the sample ------------------------------------------------------------------- */

void dlor__repro_sample_free(dlor__repro_sample *s)
{
    dlor_tensor_list_free(&s->src);
    dlor_graph_free(&s->g);
    free(s->xtr);
    free(s->ytr);
    free(s->xte);
    free(s->yte);
    dlor_net_ref_free(&s->ref);
}

const char *const dlor_repro_sample_files[DLOR_REPRO_NSAMPLE_FILES] = {
    "sawtooth.safetensors", "x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy"};

dlor_status dlor__repro_sample_load(const dlor_repro_cfg *cfg, dlor__repro_sample *s, dlor_error *err)
{
    char p[4096];
    char why[256] = "";
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    dlor_tensor_list_init(&s->src);
    dlor_graph_init(&s->g);
    snprintf(p, sizeof p, "%s/%s", cfg->sample_dir, dlor_repro_sample_files[0]);
    dlor_status st = dlor_read_model(p, &s->src, &s->g, why, sizeof why, err);
    if (st == DLOR_OK) st = dlor_graph_from_names(&s->src, DLOR_ACT_SOFTPLUS, 0.0, &s->g, why, sizeof why, err);
    if (st == DLOR_OK && !s->g.count) st = dlor_fail(err, DLOR_E_FORMAT, "%s: not the sawtooth MLP: %s", p, why);
    double **dst[4] = {&s->xtr, &s->ytr, &s->xte, &s->yte};
    uint64_t n[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4 && st == DLOR_OK; i++) {
        snprintf(p, sizeof p, "%s/%s", cfg->sample_dir, dlor_repro_sample_files[i + 1]);
        st = dlor_load_inputs_f64(p, 1, dst[i], &n[i], err);
    }
    if (st == DLOR_OK && (n[0] != n[1] || n[2] != n[3] || n[2] == 0))
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: x/y sample counts differ", cfg->sample_dir);
    s->ntr = n[0];
    s->nte = n[2];
    if (st == DLOR_OK) st = dlor_net_ref_make(&s->g, &s->src, s->xte, s->nte, &s->ref, err);
    return st;
}

/* ---- Figures 2a / 3a ------------------------------------------------------------- */

static void fmt_note(char *buf, size_t n, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, n - used, fmt, ap);
    va_end(ap);
}

/* What a curve shows against the paper's claim that the error falls as h -> 0. */
static void curve_note(dlor_repro_curve *cv)
{
    for (int prec = 0; prec < 2; prec++) {
        double best = INFINITY, hbest = NAN, e_end = NAN, h_end = NAN;
        for (size_t i = 0; i < cv->npoints; i++) {
            double h = cv->points[i].h, e = prec ? cv->points[i].err_f32 : cv->points[i].err_f64;
            if (h > cv->paper_h_max * (1 + 1e-9) || h < cv->paper_h_min * (1 - 1e-9)) continue;
            if (e < best) {
                best = e;
                hbest = h;
            }
            e_end = e;
            h_end = h;
        }
        const dlor_repro_best *gm = prec ? &cv->grid_min_f32 : &cv->grid_min_f64;
        const char *pn = prec ? "f32" : "f64";
        if (isnan(hbest)) continue;
        if (hbest > cv->paper_h_min * 1.001)
            fmt_note(cv->note, sizeof cv->note,
                     "%s%s: stops falling at h = %.2g (%.2g) inside the paper's range; at h = %.0e it is %.2g",
                     prec ? "; " : "", pn, hbest, best, h_end, e_end);
        else
            fmt_note(cv->note, sizeof cv->note, "%s%s: falls over the paper's range (%.2g at h = %.0e)",
                     prec ? "; " : "", pn, e_end, h_end);
        if (gm->h < cv->paper_h_min * 0.999 || gm->h > cv->paper_h_max * 1.001)
            fmt_note(cv->note, sizeof cv->note, ", smallest %.2g at h = %.2g outside it", gm->err, gm->h);
    }
}

static double grid_h(double step, size_t i) { return pow(10.0, 0.0 - (double)i * step); }

static dlor_status run_curve(const dlor__repro_sample *s, const dlor_net_opts *no, dlor_repro_curve *cv,
                             dlor_error *err)
{
    const double step = s->cfg->step;
    size_t n = (size_t)floor(12.0 / step + 1e-9) + 1;
    dlor_net_plan plan;
    dlor_net_search s64, s32;
    memset(&s64, 0, sizeof s64);
    memset(&s32, 0, sizeof s32);
    cv->rank = no->rank;
    cv->c = no->c;
    cv->grid_min_f64.h = cv->grid_min_f32.h = cv->auto_f64.h = cv->auto_f32.h = NAN;
    cv->grid_min_f64.err = cv->grid_min_f32.err = cv->auto_f64.err = cv->auto_f32.err = NAN;
    dlor_error e2;
    dlor_status st = dlor_net_plan_make(&s->g, &s->src, no, NULL, "sawtooth", &plan, &e2);
    if (st == DLOR_E_NUMERIC) { /* e.g. the random basis breaks down: a result, not an error */
        cv->failed = 1;
        snprintf(cv->note, sizeof cv->note, "construction failed: %.560s", e2.msg);
        return DLOR_OK;
    }
    if (st != DLOR_OK) {
        *err = e2;
        return st;
    }
    cv->points = calloc(n, sizeof *cv->points);
    if (!cv->points) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    if (st == DLOR_OK) st = dlor_net_search_h(&plan, DLOR_DT_F64, 1, &s->ref, -12.0, 0.0, step, &s64, err);
    if (st == DLOR_OK) st = dlor_net_search_h(&plan, DLOR_DT_F32, 0, &s->ref, -12.0, 0.0, step, &s32, err);
    if (st == DLOR_OK) {
        cv->npoints = n;
        cv->grid_min_f64.err = cv->grid_min_f32.err = INFINITY;
        for (size_t i = 0; i < n; i++) {
            dlor_repro_point *pt = &cv->points[i];
            pt->h = grid_h(step, i);
            pt->err_f64 = pt->err_f32 = NAN;
            for (size_t j = 0; j < s64.npoints; j++)
                if (s64.hs[j] == pt->h) { pt->err_f64 = s64.errs[j]; break; }
            for (size_t j = 0; j < s32.npoints; j++)
                if (s32.hs[j] == pt->h) { pt->err_f32 = s32.errs[j]; break; }
            if (pt->err_f64 < cv->grid_min_f64.err) cv->grid_min_f64 = (dlor_repro_best){pt->h, pt->err_f64};
            if (pt->err_f32 < cv->grid_min_f32.err) cv->grid_min_f32 = (dlor_repro_best){pt->h, pt->err_f32};
        }
        cv->auto_f64 = (dlor_repro_best){s64.h, s64.err};
        cv->auto_f32 = (dlor_repro_best){s32.h, s32.err};
        curve_note(cv);
    }
    dlor_net_search_free(&s64);
    dlor_net_search_free(&s32);
    dlor_net_plan_free(&plan);
    return st;
}

static dlor_status add_curve(dlor_repro_report *r, size_t *cap, dlor_repro_curve **out, dlor_error *err)
{
    if (r->ncurves == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        dlor_repro_curve *p = realloc(r->curves, nc * sizeof *p);
        if (!p) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        r->curves = p;
        *cap = nc;
    }
    *out = &r->curves[r->ncurves++];
    memset(*out, 0, sizeof **out);
    return DLOR_OK;
}

/* The curves: deep with the Schur basis (alpha 0.8 as the paper, auto, 1 = the tool's
 * default) and the paper's random basis (alpha 0.8 and auto, several seeds), and wide
 * with the paper's beta and the paired beta. Indices of the two default curves and
 * the wide paired one go to idx[0..2]. */
dlor_status dlor__repro_curves(const dlor__repro_sample *s, dlor_repro_report *r, size_t idx[3], dlor_error *err)
{
    size_t cap = 0;
    dlor_status st = DLOR_OK;
    static const struct {
        int random, alpha_auto;
        double alpha;
    } deep[] = {{0, 0, 0.8}, {0, 1, 0}, {0, 0, 1.0}, {1, 0, 0.8}, {1, 1, 0}};
    for (size_t d = 0; d < sizeof deep / sizeof deep[0] && st == DLOR_OK; d++) {
        int64_t nseeds = deep[d].random ? s->cfg->seeds : 1;
        for (int64_t seed = 0; seed < nseeds && st == DLOR_OK; seed++) {
            dlor_net_opts no;
            dlor_repro_curve *cv = NULL;
            dlor_net_opts_default(&no);
            no.kind = DLOR_NET_DEEP;
            no.rank = s->cfg->rank;
            no.c = s->cfg->c;
            no.basis = deep[d].random ? DLOR_BASIS_RANDOM : DLOR_BASIS_SCHUR;
            no.alpha_auto = deep[d].alpha_auto;
            no.alpha = deep[d].alpha;
            no.seed = (uint64_t)seed;
            if ((st = add_curve(r, &cap, &cv, err)) != DLOR_OK) break;
            cv->construction = "deep";
            cv->basis = deep[d].random ? "random" : "schur";
            if (deep[d].alpha_auto) snprintf(cv->alpha, sizeof cv->alpha, "auto");
            else snprintf(cv->alpha, sizeof cv->alpha, "%g", deep[d].alpha);
            cv->seed = (uint64_t)seed;
            if (deep[d].random)
                snprintf(cv->label, sizeof cv->label, "deep, random basis (seed %lld), alpha = %s", (long long)seed,
                         cv->alpha);
            else
                snprintf(cv->label, sizeof cv->label, "deep, Schur basis, alpha = %s", cv->alpha);
            cv->paper_h_min = 1e-8;
            cv->paper_h_max = 1e-2;
            if (!deep[d].random && !deep[d].alpha_auto && deep[d].alpha == 1.0) idx[0] = r->ncurves - 1;
            st = run_curve(s, &no, cv, err);
        }
    }
    for (int paired = 0; paired < 2 && st == DLOR_OK; paired++) {
        dlor_net_opts no;
        dlor_repro_curve *cv = NULL;
        dlor_net_opts_default(&no);
        no.kind = DLOR_NET_WIDE;
        no.rank = s->cfg->rank;
        no.c = s->cfg->c;
        no.beta = paired ? DLOR_NET_BETA_PAIRED : DLOR_NET_BETA_PAPER;
        if ((st = add_curve(r, &cap, &cv, err)) != DLOR_OK) break;
        cv->construction = "wide";
        cv->basis = "svd";
        snprintf(cv->alpha, sizeof cv->alpha, "0");
        cv->beta = paired ? "paired" : "paper";
        snprintf(cv->label, sizeof cv->label, "wide, %s", paired ? "paired beta (+1/-1)" : "paper's beta (1, .., 1, -(L-1))");
        cv->paper_h_min = 1e-6;
        cv->paper_h_max = 1e-1;
        idx[1 + paired] = r->ncurves - 1;
        st = run_curve(s, &no, cv, err);
    }
    return st;
}

/* ---- Figures 2b / 3b ------------------------------------------------------------- */

dlor_status dlor__repro_approx(const dlor__repro_sample *s, dlor_repro_report *r, const double auto_h[2], dlor_error *err)
{
    const size_t n = 401;
    dlor_status st = DLOR_OK;
    dlor_net_ref grid;
    memset(&grid, 0, sizeof grid);
    r->approx = calloc(2, sizeof *r->approx);
    double *x = malloc(n * sizeof *x);
    if (!r->approx || !x) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    for (size_t i = 0; st == DLOR_OK && i < n; i++) x[i] = -2.0 + 4.0 * (double)i / (double)(n - 1);
    if (st == DLOR_OK) st = dlor_net_ref_make(&s->g, &s->src, x, n, &grid, err);
    for (int w = 0; w < 2 && st == DLOR_OK; w++) {
        dlor_repro_approx *a = &r->approx[r->napprox++];
        dlor_net_opts no;
        dlor_net_plan plan;
        dlor_net_opts_default(&no);
        no.kind = w ? DLOR_NET_WIDE : DLOR_NET_DEEP;
        no.beta = DLOR_NET_BETA_PAPER;
        no.rank = s->cfg->rank;
        no.c = s->cfg->c;
        a->construction = w ? "wide" : "deep";
        snprintf(a->variant, sizeof a->variant, "%s", w ? "paper's beta" : "Schur basis, alpha = 1");
        a->n = n;
        a->x = malloc(n * sizeof *a->x);
        a->target = malloc(n * sizeof *a->target);
        a->dense = malloc(n * sizeof *a->dense);
        a->series = calloc(4, sizeof *a->series);
        if (!a->x || !a->target || !a->dense || !a->series) {
            st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < n; i++) {
            a->x[i] = x[i];
            a->target[i] = dlor_sawtooth(x[i]);
            a->dense[i] = grid.y[i];
        }
        st = dlor_net_plan_make(&s->g, &s->src, &no, NULL, "sawtooth", &plan, err);
        if (st != DLOR_OK) break;
        double hs[4] = {1e-1, 1e-2, 1e-3, auto_h[w]};
        for (int k = 0; k < 4 && st == DLOR_OK; k++) {
            dlor_repro_series *se = &a->series[a->nseries++];
            se->h = hs[k];
            snprintf(se->label, sizeof se->label, k < 3 ? "h = %.0e" : "h = %.2g (auto)", hs[k]);
            se->y = malloc(n * sizeof *se->y);
            if (!se->y) {
                st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
                break;
            }
            st = dlor_net_error(&plan, hs[k], DLOR_DT_F64, 1, &grid, &se->max_abs_to_dense, se->y, err);
            se->max_abs_to_target = 0;
            for (size_t i = 0; st == DLOR_OK && i < n; i++) {
                double d = fabs(se->y[i] - a->target[i]);
                if (!(d <= se->max_abs_to_target)) se->max_abs_to_target = d;
            }
        }
        dlor_net_plan_free(&plan);
    }
    free(x);
    dlor_net_ref_free(&grid);
    return st;
}
