/* report_html.c - the page of 'dlor reproduce --html': the error-versus-h curves
 * (Figures 2a, 3a), the sawtooth approximations (2b, 3b), Table 1, the spectral split
 * of Experiment 3 (2c), the targets and where the numbers differ from the paper's, as
 * one self-contained page (html_report.h: inline SVG, no scripts, no requests). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html_report.h"
#include "html_spectrum.h"
#include "reproduce.h"

#define INK "#1f2937"
#define MUTED "#9ca3af"
#define WIDTH2 608 /* two charts side by side (in 1232 px: the page at 1280 px) */

/* Colours of the variants of one chart, and their lighter shades for extra seeds. */
static const char *const colour[] = {"#2563eb", "#ea580c", "#7c3aed", "#0891b2"};
static const char *const light[] = {"#93c5fd", "#fdba74", "#c4b5fd", "#67e8f9"};

/* ---- Figures 2a / 3a --------------------------------------------------------------- */

/* The columns of one curve: h, the f64 and the f32 errors (malloc'd, 3 x n). */
typedef struct {
    double *h, *e64, *e32;
} curve_cols;

static int curve_split(const dlor_repro_curve *cv, curve_cols *c)
{
    size_t n = cv->npoints ? cv->npoints : 1;
    c->h = malloc(3 * n * sizeof *c->h);
    if (!c->h) return -1;
    c->e64 = c->h + n;
    c->e32 = c->h + 2 * n;
    for (size_t i = 0; i < cv->npoints; i++) {
        c->h[i] = cv->points[i].h;
        c->e64[i] = cv->points[i].err_f64;
        c->e32[i] = cv->points[i].err_f32;
    }
    return 0;
}

/* The curves one chart shows: construction, basis (NULL: any), seed 0 first. */
static int curve_in(const dlor_repro_curve *cv, const char *construction, const char *basis)
{
    return strcmp(cv->construction, construction) == 0 && (!basis || strcmp(cv->basis, basis) == 0);
}

/* One chart of error against h: every matching curve's f64 (solid, dots) and f32
 * (dashed) errors; other seeds of the random basis as thin f64 lines; the searched
 * optima as squares; the paper's range of h as a bar under the curves. */
static void h_chart(dlor_html *h, const dlor_repro_report *r, const char *title, const char *construction,
                    const char *basis, const char *caption)
{
    size_t nmax = 2 * r->ncurves + 2;
    dlor_html_series *se = calloc(nmax, sizeof *se);
    curve_cols *cols = calloc(r->ncurves ? r->ncurves : 1, sizeof *cols);
    char (*names)[96] = calloc(nmax, sizeof *names);
    double *opt = malloc(4 * (r->ncurves ? r->ncurves : 1) * sizeof *opt);
    if (!se || !cols || !names || !opt) {
        h->nomem = 1;
        free(se);
        free(cols);
        free(names);
        free(opt);
        return;
    }
    size_t ns = 0, nvar = 0, nopt = 0, nfailed = 0;
    char cap[900];
    double ymin = INFINITY, hmin = NAN, hmax = NAN;
    double *ox = opt, *oy = opt + 2 * r->ncurves;
    const char *variant[4] = {NULL, NULL, NULL, NULL};
    for (size_t i = 0; i < r->ncurves; i++) {
        const dlor_repro_curve *cv = &r->curves[i];
        if (curve_in(cv, construction, basis) && cv->failed) nfailed++;
        if (!curve_in(cv, construction, basis) || cv->failed || !cv->npoints) continue;
        /* the variant (alpha or beta) picks the colour */
        const char *key = cv->beta ? cv->beta : cv->alpha;
        size_t v = 0;
        while (v < nvar && strcmp(variant[v], key) != 0) v++;
        if (v == nvar) {
            if (nvar == 4) continue;
            variant[nvar++] = key;
        }
        if (curve_split(cv, &cols[i]) != 0) {
            h->nomem = 1;
            break;
        }
        hmin = cv->paper_h_min;
        hmax = cv->paper_h_max;
        for (size_t j = 0; j < cv->npoints; j++) {
            if (cols[i].e64[j] > 0 && cols[i].e64[j] < ymin) ymin = cols[i].e64[j];
            if (cols[i].e32[j] > 0 && cols[i].e32[j] < ymin) ymin = cols[i].e32[j];
        }
        char what[48];
        if (cv->beta) snprintf(what, sizeof what, "%s beta", strcmp(cv->beta, "paired") == 0 ? "paired" : "paper's");
        else snprintf(what, sizeof what, "alpha %s", cv->alpha);
        if (cv->seed == 0) {
            snprintf(names[ns], sizeof names[ns], "%s, f64", what);
            se[ns] = dlor_html_series_make(names[ns], cols[i].h, cols[i].e64, cv->npoints, DLOR_HTML_SOLID,
                                           DLOR_HTML_MARK_CIRCLE, colour[v], 2);
            ns++;
            snprintf(names[ns], sizeof names[ns], "%s, f32", what);
            se[ns] = dlor_html_series_make(names[ns], cols[i].h, cols[i].e32, cv->npoints, DLOR_HTML_DASHED,
                                           DLOR_HTML_MARK_NONE, colour[v], 2);
            ns++;
            ox[nopt] = cv->auto_f64.h;
            oy[nopt++] = cv->auto_f64.err;
            ox[nopt] = cv->auto_f32.h;
            oy[nopt++] = cv->auto_f32.err;
        } else {
            /* the other seeds: thin, light, f64 only, no legend entry */
            se[ns++] = dlor_html_series_make(NULL, cols[i].h, cols[i].e64, cv->npoints, DLOR_HTML_SOLID,
                                             DLOR_HTML_MARK_NONE, light[v], 1);
        }
    }
    double range_x[2] = {hmin, hmax}, range_y[2];
    range_y[0] = range_y[1] = isfinite(ymin) ? ymin / 4 : NAN;
    if (nopt)
        se[ns++] = dlor_html_series_make("searched optimum of h (f64, f32)", ox, oy, nopt, DLOR_HTML_NOLINE,
                                         DLOR_HTML_MARK_SQUARE, INK, 2);
    if (!isnan(hmin))
        se[ns++] = dlor_html_series_make("the paper's range of h", range_x, range_y, 2, DLOR_HTML_SOLID,
                                         DLOR_HTML_MARK_NONE, MUTED, 6);
    dlor_html_plot p;
    memset(&p, 0, sizeof p);
    p.title = title;
    p.x = (dlor_html_axis){"h (log scale)", DLOR_HTML_LOG, NAN, NAN};
    p.y = (dlor_html_axis){"max abs error to the dense MLP (log scale)", DLOR_HTML_LOG, NAN, NAN};
    p.series = se;
    p.nseries = ns;
    p.width = WIDTH2;
    p.height = 440;
    snprintf(cap, sizeof cap, "%s", caption ? caption : "");
    if (nfailed)
        snprintf(cap + strlen(cap), sizeof cap - strlen(cap), " %zu of the constructions failed and are not drawn "
                 "(see the table below).", nfailed);
    p.caption = cap;
    if (!h->nomem) dlor_html_line_plot(h, &p);
    for (size_t i = 0; i < r->ncurves; i++) free(cols[i].h);
    free(se);
    free(cols);
    free(names);
    free(opt);
}

static void curves_section(dlor_html *h, const dlor_repro_report *r)
{
    char cap[700];
    int64_t seeds = 0;
    for (size_t i = 0; i < r->ncurves; i++)
        seeds += strcmp(r->curves[i].basis, "random") == 0 && strcmp(r->curves[i].alpha, "0.8") == 0;
    dlor_html_heading(h, 2, "Figures 2a and 3a: error of the network form against h");
    dlor_html_para(h, NULL,
                   "The largest absolute difference between the network form and the dense MLP on the %llu test "
                   "points, over a grid of h (r = %lld, c = %g). Solid lines with dots: float64 factors run by the "
                   "float64 runtime; dashed lines: float32 factors run by the float32 runtime. Squares: the h that "
                   "'convert --form network --h auto' picks for each precision; the grey bar under the curves spans "
                   "the h the paper plots.",
                   (unsigned long long)r->test_samples, r->ncurves ? (long long)r->curves[0].rank : 0LL,
                   r->ncurves ? r->curves[0].c : 0.0);
    dlor_html_row_begin(h);
    h_chart(h, r, "Figure 2a: deep, Schur basis", "deep", "schur",
            "Deep construction (Appendix E.1) with the real Schur basis, alpha = 0.8 (the paper's), auto "
            "(||W||_2^(1/L)) and 1 (the tool's default).");
    snprintf(cap, sizeof cap,
             "Deep construction with the paper's seeded random basis, alpha = 0.8 and auto; bold: seed 0, thin "
             "light lines: seeds 1 to %lld (float64).", (long long)(seeds > 1 ? seeds - 1 : 1));
    h_chart(h, r, "Figure 2a: deep, the paper's random basis", "deep", "random", seeds > 1 ? cap :
            "Deep construction with the paper's seeded random basis, alpha = 0.8 and auto (seed 0).");
    dlor_html_row_end(h);
    dlor_html_row_begin(h);
    h_chart(h, r, "Figure 3a: wide", "wide", NULL,
            "Wide construction (Theorem 3): the paper's beta (1, .., 1, -(L-1)) and the paired beta (each "
            "component as M/2 with beta = +1 and -1, a central difference).");
    dlor_html_row_end(h);

    static const char *const head[] = {"curve", "h (f64)", "error (f64)", "h (f32)", "error (f32)",
                                       "grid minimum (f64)"};
    dlor_html_table_begin(h, "The searched optimum of h per curve", 6, head, "lrrrrr");
    for (size_t i = 0; i < r->ncurves; i++) {
        const dlor_repro_curve *cv = &r->curves[i];
        char a[32], b[32], c[32], d[32], e[96], eh[32], ee[32];
        if (cv->failed) {
            const char *cells[6] = {cv->label, "-", "-", "-", "-", "construction failed"};
            dlor_html_table_row(h, cells, "muted");
            continue;
        }
        dlor_html_format_num(cv->auto_f64.h, a, sizeof a);
        dlor_html_format_num(cv->auto_f64.err, b, sizeof b);
        dlor_html_format_num(cv->auto_f32.h, c, sizeof c);
        dlor_html_format_num(cv->auto_f32.err, d, sizeof d);
        dlor_html_format_num(cv->grid_min_f64.err, ee, sizeof ee);
        dlor_html_format_num(cv->grid_min_f64.h, eh, sizeof eh);
        snprintf(e, sizeof e, "%s at h = %s", ee, eh);
        const char *cells[6] = {cv->label, a, b, c, d, e};
        dlor_html_table_row(h, cells, NULL);
    }
    dlor_html_table_end(h);
    dlor_html_details_begin(h, 0, "What each curve shows against the paper (%zu curves)", r->ncurves);
    dlor_html_para(h, "note", "The paper's range of h: deep 1e-2 to 1e-8, wide 1e-1 to 1e-6.");
    for (size_t i = 0; i < r->ncurves; i++) dlor_html_para(h, "note", "%s: %s", r->curves[i].label, r->curves[i].note);
    dlor_html_details_end(h);
}

/* ---- Figures 2b / 3b --------------------------------------------------------------- */

static void approx_section(dlor_html *h, const dlor_repro_report *r)
{
    static const int style[4] = {DLOR_HTML_DASHED, DLOR_HTML_DOTTED, DLOR_HTML_SOLID, DLOR_HTML_SOLID};
    static const char *const col[4] = {"#ea580c", "#7c3aed", "#0891b2", "#2563eb"};
    dlor_html_heading(h, 2, "Figures 2b and 3b: the sawtooth approximated");
    dlor_html_para(h, NULL,
                   "The sawtooth |((3.7 x) mod 2) - 1|, the dense MLP trained on it and the network form at several h "
                   "(float64), on %zu points of x in [-2, 2]. For each construction the first chart shows the functions, "
                   "the second the network form's distance to the dense MLP, which falls with h.", r->napprox ? r->approx[0].n : (size_t)0);
    for (size_t i = 0; i < r->napprox; i++) {
        const dlor_repro_approx *a = &r->approx[i];
        size_t ns = a->nseries < 4 ? a->nseries : 4;
        dlor_html_series se[6], de[4];
        double *diff = malloc((ns ? ns : 1) * (a->n ? a->n : 1) * sizeof *diff);
        char t1[160], t2[160], lab[4][80];
        if (!diff) {
            h->nomem = 1;
            return;
        }
        se[0] = dlor_html_series_make("sawtooth (target)", a->x, a->target, a->n, DLOR_HTML_SOLID, DLOR_HTML_MARK_NONE,
                                      MUTED, 6);
        se[1] = dlor_html_series_make("dense MLP", a->x, a->dense, a->n, DLOR_HTML_SOLID, DLOR_HTML_MARK_NONE, INK, 2);
        for (size_t k = 0; k < ns; k++) {
            const dlor_repro_series *s = &a->series[k];
            snprintf(lab[k], sizeof lab[k], "network, %s", s->label);
            se[2 + k] = dlor_html_series_make(lab[k], a->x, s->y, a->n, style[k], DLOR_HTML_MARK_NONE, col[k], 2);
            for (size_t j = 0; j < a->n; j++) diff[k * a->n + j] = fabs(s->y[j] - a->dense[j]);
            de[k] =
                dlor_html_series_make(lab[k], a->x, diff + k * a->n, a->n, style[k], DLOR_HTML_MARK_NONE, col[k], 2);
        }
        snprintf(t1, sizeof t1, "Figure %s: %s (%s)", strcmp(a->construction, "deep") == 0 ? "2b" : "3b",
                 a->construction, a->variant);
        snprintf(t2, sizeof t2, "|network - dense MLP|, %s", a->construction);
        dlor_html_plot p;
        memset(&p, 0, sizeof p);
        p.title = t1;
        p.x = (dlor_html_axis){"x", DLOR_HTML_LINEAR, -2, 2};
        /* the sawtooth's range: the network at the largest h leaves it near the ends (cut off, noted) */
        p.y = (dlor_html_axis){"output", DLOR_HTML_LINEAR, -0.5, 1.5};
        p.series = se;
        p.nseries = 2 + ns;
        p.width = WIDTH2;
        p.height = 400;
        dlor_html_row_begin(h);
        dlor_html_line_plot(h, &p);
        p.title = t2;
        p.y = (dlor_html_axis){"absolute difference (log scale)", DLOR_HTML_LOG, NAN, NAN};
        p.series = de;
        p.nseries = ns;
        dlor_html_line_plot(h, &p);
        dlor_html_row_end(h);
        free(diff);
    }
    static const char *const head[] = {"construction", "series", "max abs to the dense MLP", "max abs to the sawtooth"};
    dlor_html_table_begin(h, NULL, 4, head, "llrr");
    for (size_t i = 0; i < r->napprox; i++) {
        const dlor_repro_approx *a = &r->approx[i];
        double dm = 0;
        char c1[128], v1[32], v2[32];
        for (size_t j = 0; j < a->n; j++)
            if (fabs(a->dense[j] - a->target[j]) > dm) dm = fabs(a->dense[j] - a->target[j]);
        snprintf(c1, sizeof c1, "%s (%s)", a->construction, a->variant);
        dlor_html_format_num(dm, v2, sizeof v2);
        const char *cells0[4] = {c1, "dense MLP", "0", v2};
        dlor_html_table_row(h, cells0, "muted");
        for (size_t k = 0; k < a->nseries; k++) {
            dlor_html_format_num(a->series[k].max_abs_to_dense, v1, sizeof v1);
            dlor_html_format_num(a->series[k].max_abs_to_target, v2, sizeof v2);
            const char *cells[4] = {c1, a->series[k].label, v1, v2};
            dlor_html_table_row(h, cells, NULL);
        }
    }
    dlor_html_table_end(h);
}

/* ---- Table 1 ------------------------------------------------------------------------ */

static void table1_section(dlor_html *h, const dlor_repro_report *r)
{
    static const char *const head[] = {"k", "r_k", "dense width w", "dense", "paper", "deep", "paper", "wide",
                                       "paper", "wide, H.2's formula", "against the paper"};
    int mism = 0;
    dlor_html_heading(h, 2, "Table 1: parameter counts");
    dlor_html_para(h, NULL,
                   "The Appendix H.2 architectures built as runnable graphs and their parameters counted, beside the "
                   "paper's figures. Rows where a count differs are marked.");
    dlor_html_table_begin(h, NULL, 11, head, "rrrrrrrrrrl");
    for (size_t i = 0; i < r->ntable1; i++) {
        const dlor_repro_table1_row *t = &r->table1[i];
        char c[10][32], verdict[96] = "";
        unsigned long long v[10] = {(unsigned long long)t->k, (unsigned long long)t->rank,
                                    (unsigned long long)t->dense_width, t->dense, t->paper_dense, t->deep,
                                    t->paper_deep, t->wide, t->paper_wide, t->wide_formula};
        for (int k = 0; k < 10; k++) snprintf(c[k], sizeof c[k], "%llu", v[k]);
        const char *what[3] = {"dense", "deep", "wide"};
        int bad[3] = {t->dense != t->paper_dense, t->deep != t->paper_deep, t->wide != t->paper_wide};
        for (int k = 0; k < 3; k++) {
            if (!bad[k]) continue;
            mism++;
            snprintf(c[3 + 2 * k], sizeof c[3 + 2 * k], "%llu \xE2\x89\xA0", v[3 + 2 * k]);
            size_t len = strlen(verdict);
            snprintf(verdict + len, sizeof verdict - len, "%s%s", len ? ", " : "differs: ", what[k]);
        }
        if (!verdict[0]) snprintf(verdict, sizeof verdict, "matches");
        const char *cells[11] = {c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], verdict};
        dlor_html_table_row(h, cells, verdict[0] == 'd' ? "fail" : NULL);
    }
    dlor_html_table_end(h);
    dlor_html_para(h, "note",
                   "%d of %zu counts differ from the paper's (marked \xE2\x89\xA0). The wide counts include a bias of 16 "
                   "inside the outer softplus; H.2's formula as written has none, which gives the last column. The "
                   "dense baseline has two hidden layers of width w, the w whose count is nearest the wide model's.",
                   mism, 3 * r->ntable1);
}

/* ---- Experiment 3 ------------------------------------------------------------------- */

static void spectral_section(dlor_html *h, const dlor_repro_report *r)
{
    const dlor_repro_spectral *sp = &r->spectral;
    char title[160], cap[400], a[32], b[32], c[32];
    dlor_html_heading(h, 2, "Experiment 3: identity and low-rank parts of the singular values (Figure 2c)");
    if (!sp->sigma) {
        dlor_html_para(h, "warn", "The spectral split was not computed.");
        return;
    }
    dlor_spectral_split s;
    memset(&s, 0, sizeof s);
    s.m = s.n = s.k = sp->n;
    s.sigma = sp->sigma;
    s.identity = sp->identity;
    s.lowrank = sp->lowrank;
    s.branches = 1;
    snprintf(title, sizeof title, "Layer %s = alpha I + U V^T (n = %lld, r = %lld)", sp->layer, (long long)sp->n,
             (long long)sp->rank);
    snprintf(cap, sizeof cap,
             "On each singular direction (p_j, q_j) of the trained layer the identity part contributes alpha p_j^T q_j "
             "and the low-rank part p_j^T U V^T q_j.");
    dlor_html_row_begin(h);
    dlor_html_split_plot(h, title, &s, cap);
    dlor_html_kv_begin(h, "The trained model");
    dlor_html_kv(h, "model", "Appendix H.2 deep: width %lld, k = %lld DLoR layers of rank %lld, one shared alpha",
                 (long long)sp->n, (long long)sp->k, (long long)sp->rank);
    dlor_html_kv(h, "training", "%lld epochs of full-batch Adam on the sawtooth sample", (long long)sp->epochs);
    dlor_html_kv(h, "alpha", "%.4g", sp->alpha);
    dlor_html_format_num(sp->train_mse, a, sizeof a);
    dlor_html_format_num(sp->test_mse, b, sizeof b);
    dlor_html_format_num(sp->test_mse_runtime, c, sizeof c);
    dlor_html_kv(h, "MSE", "train %s, test %s; test through the .dlor runtime %s", a, b, c);
    dlor_html_kv(h, "split layer", "%s (the second of the k layers)", sp->layer);
    dlor_html_kv_end(h);
    dlor_html_row_end(h);
}

/* ---- targets, notes, the page -------------------------------------------------------- */

static void targets_section(dlor_html *h, const dlor_repro_report *r)
{
    static const char *const head[] = {"target", "measured", "limit", "at h", "status"};
    dlor_html_heading(h, 2, "Targets");
    dlor_html_table_begin(h, NULL, 5, head, "lrrrl");
    for (size_t i = 0; i < r->ntargets; i++) {
        const dlor_repro_target *t = &r->targets[i];
        char v[32], l[32], hh[32];
        dlor_html_format_num(t->value, v, sizeof v);
        dlor_html_format_num(t->limit, l, sizeof l);
        dlor_html_format_num(t->h, hh, sizeof hh);
        const char *cells[5] = {t->name, v, l, hh, t->pass ? "PASS" : "FAIL"};
        dlor_html_table_row(h, cells, t->pass ? NULL : "fail");
    }
    dlor_html_table_end(h);
}

int dlor_repro_html(FILE *f, const dlor_repro_report *r)
{
    dlor_html h;
    size_t met = 0;
    for (size_t i = 0; i < r->ntargets; i++) met += r->targets[i].pass != 0;
    dlor_html_begin(&h, f, "dlor reproduce: the paper's sawtooth experiments");
    dlor_html_verdict(&h, met == r->ntargets, "%zu of %zu targets met", met, r->ntargets);
    dlor_html_para(&h, NULL,
                   "Appendix H of 'Structural Correspondence and Universal Approximation in Diagonal plus Low-Rank "
                   "Neural Networks' (arXiv 2605.05659) recomputed with dlor's own code from the sample %s: the "
                   "sawtooth MLP 1-16-16-16-16-1 with softplus (dense test MSE %.3g on %llu test points).",
                   r->sample_dir, r->dense_test_mse, (unsigned long long)r->test_samples);
    curves_section(&h, r);
    approx_section(&h, r);
    table1_section(&h, r);
    spectral_section(&h, r);
    targets_section(&h, r);
    dlor_html_heading(&h, 2, "Where our numbers differ from the paper's, and why");
    for (size_t i = 0; i < r->nnotes; i++) dlor_html_para(&h, NULL, "%s", r->notes[i]);
    dlor_html_end(&h, "Written by dlor " DLOR_VERSION_STRING " reproduce. A self-contained page: no scripts, no "
                      "network requests.");
    return h.nomem;
}
