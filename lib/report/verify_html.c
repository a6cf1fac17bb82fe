/* verify_html.c - the HTML page of 'dlor verify --html': summary, per-layer
 * errors against their tolerances, sizes, and singular-value spectra split into
 * their identity / low-rank / per-branch parts (the paper's Figures 2c, 3c). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "dlor_fileio.h"
#include "dlor_spectrum.h"
#include "html_report.h"
#include "html_spectrum.h"
#include "verify_result.h"

/* Spectra are computed for at most this many layers, each at most this large
 * (a full SVD with vectors per layer: about a second at 1024). */
#define SPECTRA_MAX_LAYERS 12
#define SPECTRA_MAX_DIM 1024

static int is_exact(const dlor_layer_report *L)
{
    return L->form && (strcmp(L->form, "mul") == 0 || strcmp(L->form, "add") == 0);
}

static int is_compressed(const dlor_layer_report *L)
{
    return L->method && !is_exact(L) && L->form && strcmp(L->form, "dense") != 0;
}

/* A line series of n values at x = 1..n. */
static dlor_html_series line(const char *name, const double *y, int64_t n, int style, const char *color, double width)
{
    dlor_html_series s;
    memset(&s, 0, sizeof s);
    s.name = name;
    s.y = y;
    s.n = n > 0 ? (size_t)n : 0;
    s.line = style;
    s.color = color;
    s.width = width;
    return s;
}

/* A plot of singular values or contributions against their index 1..k. */
static dlor_html_plot index_plot(const char *title, const char *ylabel, int ylog, int64_t k)
{
    dlor_html_plot p;
    memset(&p, 0, sizeof p);
    p.title = title;
    p.x.label = "singular value index j";
    p.x.min = 1;
    p.x.max = k > 1 ? (double)k : 2;
    p.y.label = ylabel;
    p.y.scale = ylog ? DLOR_HTML_LOG : DLOR_HTML_LINEAR;
    p.y.min = p.y.max = NAN;
    p.width = DLOR_HTML_SPECTRUM_WIDTH;
    return p;
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : NAN;
}

static void end_to_end(dlor_html *h, const verify_result *r)
{
    char a[48], b[48];
    dlor_html_kv_begin(h, "End to end (dense vs DLoR model outputs)");
    if (!r->e2e_samples) {
        dlor_html_kv(h, "not measured", "the .dlor file records no model graph");
        dlor_html_kv_end(h);
        return;
    }
    dlor_html_kv(h, "inputs", "%llu samples (%s)", (unsigned long long)r->e2e_samples, r->e2e_inputs);
    dlor_html_format_num(r->e2e_max_abs, a, sizeof a);
    dlor_html_format_num(r->e2e_max_rel, b, sizeof b);
    dlor_html_kv(h, "max abs output error", "%s", a);
    dlor_html_kv(h, "max relative output error", "%s (largest ||y_DLoR - y_dense||_inf / ||y_dense||_inf)", b);
    dlor_html_kv(h, "non-finite outputs", "dense %llu, DLoR %llu of %llu (NaN or infinite)",
                 (unsigned long long)r->e2e_nonfinite_dense, (unsigned long long)r->e2e_nonfinite_dlor,
                 (unsigned long long)r->e2e_values);
    if (r->e2e_tokens == 1) {
        dlor_html_kv(h, "cosine of mean-pooled hidden states", "mean %.9f, min %.9f (per sequence)", r->cosine_mean,
                     r->cosine_min);
    } else if (r->e2e_tokens == 2) {
        dlor_html_kv(h, "top-1 next-token agreement", "%.2f%% of %llu positions", 100 * r->top1_agreement,
                     (unsigned long long)r->e2e_positions);
        dlor_html_format_num(r->kl_mean, a, sizeof a);
        dlor_html_kv(h, "mean KL divergence", "%s nats (dense || DLoR next-token distributions)", a);
    }
    if (!r->e2e_tokens && r->has_labels) {
        dlor_html_kv(h, "accuracy", "dense %.2f%%, DLoR %.2f%% (%+.2f points)", 100 * r->acc_dense, 100 * r->acc_dlor,
                     100 * (r->acc_dlor - r->acc_dense));
        dlor_html_kv(h, "argmax agreement", "%.2f%%", 100 * r->argmax_agreement);
    } else if (!r->e2e_tokens) {
        dlor_html_kv(h, "accuracy", "not measured (verify --labels Y.npy with --inputs)");
    }
    dlor_html_kv_end(h);
}

static void summary(dlor_html *h, const char *in, const char *out, const verify_result *r, const dlor_container *c,
                    const char *target)
{
    uint64_t pd = 0, pl = 0, bd = 0, bl = 0;
    size_t nexact = 0, ncomp = 0, ndense = 0;
    char a[48], b[48];
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        pd += L->params_dense;
        pl += L->params_dlor;
        bd += L->bytes_dense;
        bl += L->bytes_dlor;
        if (is_exact(L)) nexact++;
        else if (is_compressed(L)) ncomp++;
        else ndense++;
    }
    dlor_html_format_num(r->max_rel, a, sizeof a);
    dlor_html_verdict(h, r->verdict && strcmp(r->verdict, "unchecked") == 0 ? 2 : r->pass, "%zu layer%s checked, largest relative Frobenius error %s; DLoR stores %.3f\xC3\x97 "
                      "the parameters and %.3f\xC3\x97 the bytes of the dense layers", r->nlayers, r->nlayers == 1 ? "" : "s", a,
                      ratio(pl, pd), ratio(bl, bd));
    dlor_html_row_begin(h);
    dlor_html_kv_begin(h, "Summary");
    dlor_html_kv(h, "dense source", "%s%s", in, r->sha_match ? " (SHA-256 matches the converted file's record)"
                                                             : " (not the file the .dlor was made from: SHA-256 differs)");
    dlor_html_kv(h, "DLoR file", "%s", out);
    {
        const char *method = dlor_tensor_list_meta(&c->tensors, "dlor.method"), *dtype = dlor_tensor_list_meta(&c->tensors, "dlor.dtype"), *rank = dlor_tensor_list_meta(&c->tensors, "dlor.rank");
        dlor_html_kv(h, "conversion", "method %s, rank %s, storage %s%s%s%s%s", method ? method : "?",
                     rank ? rank : "?", dtype ? dtype : "?", target ? ", target " : "", target ? target : "",
                     r->calib ? ", calibrated on " : "", r->calib ? r->calib : "");
    }
    dlor_html_kv(h, "layers", "%zu: %zu exact (mul/add), %zu compressed, %zu kept dense", r->nlayers, nexact, ncomp,
                 ndense);
    dlor_html_kv(h, "parameters", "%llu dense \xE2\x86\x92 %llu DLoR (%.3f\xC3\x97)", (unsigned long long)pd,
                 (unsigned long long)pl, ratio(pl, pd));
    dlor_html_kv(h, "bytes", "%llu dense \xE2\x86\x92 %llu DLoR (%.3f\xC3\x97)", (unsigned long long)bd,
                 (unsigned long long)bl, ratio(bl, bd));
    dlor_html_format_num(r->max_abs, b, sizeof b);
    dlor_html_kv(h, "largest layer error", "relative Frobenius %s, absolute %s", a, b);
    dlor_html_kv(h, "other tensors", "%zu carried, %zu identical to the source", r->carried, r->carried_same);
    dlor_html_kv_end(h);
    end_to_end(h, r);
    dlor_html_row_end(h);
    for (size_t i = 0; i < r->nproblems; i++) dlor_html_para(h, "warn", "problem: %s", r->problems[i]);
    if (r->calib)
        dlor_html_para(h, "note",
                       "The layers were fitted to calibration data (%s): the fit minimises the error on those "
                       "activations, so weight-space errors do not measure it; the end-to-end figures do.", r->calib);
    if (r->compressed)
        dlor_html_para(h, "note",
                       "Compressed layers are approximate by design: without --tol they are held to the converter's "
                       "own --tol target, and to no per-layer tolerance when the target was a budget, a rank or "
                       "calibration data (drawn without a tolerance mark).");
}

static void error_chart(dlor_html *h, const verify_result *r)
{
    size_t n = r->nlayers, ns = 1;
    int svd = 0, data = 0;
    for (size_t i = 0; i < n; i++) {
        if (is_compressed(&r->layers[i]) && !isnan(r->layers[i].svd_rel_fro_error)) svd = 1;
        if (!isnan(r->layers[i].data_rel_error)) data = 1;
    }
    const char **names = malloc((n ? n : 1) * sizeof *names);
    double *vals = malloc(3 * (n ? n : 1) * sizeof *vals), *tol = malloc((n ? n : 1) * sizeof *tol);
    const char *series[3] = {"relative Frobenius error", NULL, NULL};
    if (!names || !vals || !tol) {
        h->nomem = 1;
        free(names);
        free(vals);
        free(tol);
        return;
    }
    if (svd) series[ns++] = "truncated SVD at the same size";
    if (data) series[ns++] = "data-space error on the layer's inputs";
    for (size_t i = 0; i < n; i++) {
        const dlor_layer_report *L = &r->layers[i];
        size_t s = 1;
        names[i] = L->name;
        vals[i] = L->rel_fro_error;
        tol[i] = L->tol;
        if (svd) vals[s++ * n + i] = is_compressed(L) ? L->svd_rel_fro_error : NAN;
        if (data) vals[s++ * n + i] = L->data_rel_error;
    }
    dlor_html_bars b;
    memset(&b, 0, sizeof b);
    b.title = "Per-layer relative error ||W - W_hat||_F / ||W||_F against the tolerance";
    b.x_label = "layer";
    b.y.label = "relative error (log)";
    b.y.scale = DLOR_HTML_LOG;
    b.y.min = b.y.max = NAN;
    b.ncat = n;
    b.categories = names;
    b.nseries = ns;
    b.series_names = series;
    b.values = vals;
    b.thresholds = tol;
    b.threshold = NAN;
    b.threshold_name = "tolerance";
    b.value_labels = 1;
    b.caption = "Dashed marks: each layer's tolerance (layers without one have none). A layer stored unchanged "
                "has an error of exactly 0.";
    dlor_html_bar_chart(h, &b);
    free(names);
    free(vals);
    free(tol);
}

/* Two bar charts in a row (side by side when the page is wide enough), parameters
 * and bytes per layer, dense against the stored form. p and q hold 2 n values: the dense figures, then the stored ones. */
static void size_chart_pair(dlor_html *h, size_t n, const char **names, const double *p, const double *q,
                            const char *what, const char *stored)
{
    const char *series[2] = {"dense", stored};
    char tp[96], tb[96];
    dlor_html_bars b;
    memset(&b, 0, sizeof b);
    b.x_label = what;
    b.y.scale = DLOR_HTML_LINEAR;
    b.y.min = b.y.max = NAN;
    b.ncat = n;
    b.categories = names;
    b.nseries = 2;
    b.series_names = series;
    b.threshold = NAN;
    b.width = 608;
    b.height = 360;
    snprintf(tp, sizeof tp, "Parameters per %s", what);
    snprintf(tb, sizeof tb, "Bytes per %s", what);
    dlor_html_row_begin(h);
    b.title = tp;
    b.y.label = "parameters";
    b.values = p;
    dlor_html_bar_chart(h, &b);
    b.title = tb;
    b.y.label = "bytes";
    b.values = q;
    dlor_html_bar_chart(h, &b);
    dlor_html_row_end(h);
}

/* Per-layer sizes: get(i, v) fills v = {params dense, params stored, bytes dense, bytes stored}. */
static void size_charts_of(dlor_html *h, size_t n, const char *(*name)(const void *, size_t),
                           void (*get)(const void *, size_t, double v[4]), const void *ctx, const char *what,
                           const char *stored)
{
    const char **names = malloc((n ? n : 1) * sizeof *names);
    double *p = malloc(2 * (n ? n : 1) * sizeof *p), *q = malloc(2 * (n ? n : 1) * sizeof *q);
    if (!names || !p || !q) {
        h->nomem = 1;
    } else {
        for (size_t i = 0; i < n; i++) {
            double v[4];
            names[i] = name(ctx, i);
            get(ctx, i, v);
            p[i] = v[0];
            p[n + i] = v[1];
            q[i] = v[2];
            q[n + i] = v[3];
        }
        size_chart_pair(h, n, names, p, q, what, stored);
    }
    free(names);
    free(p);
    free(q);
}

static const char *layer_name(const void *ctx, size_t i)
{
    return ((const verify_result *)ctx)->layers[i].name;
}

static void layer_sizes(const void *ctx, size_t i, double v[4])
{
    const dlor_layer_report *L = &((const verify_result *)ctx)->layers[i];
    v[0] = (double)L->params_dense;
    v[1] = (double)L->params_dlor;
    v[2] = (double)L->bytes_dense;
    v[3] = (double)L->bytes_dlor;
}

static void size_charts(dlor_html *h, const verify_result *r)
{
    size_charts_of(h, r->nlayers, layer_name, layer_sizes, r, "layer", "DLoR");
}

/* Each compressed layer's other forms at (no more than) its bytes, weight error, and which
 * family has the least error there. */
static void alternatives_table(dlor_html *h, const verify_result *r)
{
    static const char *const head[] = {"layer", "stored form", "bytes", "rel. error", "alternative", "bytes",
                                       "rel. error", "least error at these bytes"};
    size_t any = 0, won[3] = {0, 0, 0};
    for (size_t i = 0; i < r->nlayers; i++) {
        const char *w = dlor_alternatives_winner(&r->layers[i]);
        if (!w) continue;
        any++;
        won[strcmp(w, "dlor") == 0 ? 0 : strcmp(w, "quantization") == 0 ? 1 : 2]++;
    }
    if (!any) return;
    dlor_html_para(h, NULL, "Alternatives at each compressed layer's bytes (weight error; factors at the float fit's "
                   "error): DLoR has the least error on %zu layer%s, quantization (q8, q4, f16, bf16, or a quantized "
                   "base with an f16 correction) on %zu, dense f32 on %zu.", won[0], won[0] == 1 ? "" : "s", won[1],
                   won[2]);
    dlor_html_table_begin(h, NULL, 8, head, "llrrlrrl");
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        const char *w = dlor_alternatives_winner(L);
        if (!w) continue;
        for (int a = 0; a < L->nalts; a++) {
            char sb[32], se[32], ab[32], ae[32], alt[48], stored[48];
            snprintf(stored, sizeof stored, "%s %s", L->form, dlor_dtype_name(L->factor_dtype));
            snprintf(sb, sizeof sb, "%llu", (unsigned long long)L->bytes_dlor);
            dlor_html_format_num(L->rel_fro_error, se, sizeof se);
            snprintf(alt, sizeof alt, "%s %s%s", L->alts[a].form, dlor_dtype_name(L->alts[a].dtype),
                     strcmp(L->alts[a].form, "qlr") == 0 ? " + f16" : "");
            snprintf(ab, sizeof ab, "%llu", (unsigned long long)L->alts[a].bytes);
            dlor_html_format_num(L->alts[a].rel_fro_error, ae, sizeof ae);
            const char *cells[8] = {a ? "" : L->name, a ? "" : stored, a ? "" : sb, a ? "" : se, alt, ab, ae,
                                    a ? "" : w};
            dlor_html_table_row(h, cells, NULL);
        }
    }
    dlor_html_table_end(h);
}

static void layer_table(dlor_html *h, const verify_result *r)
{
    static const char *const head[] = {"layer", "shape", "form", "rank", "L", "alpha / beta", "rel. error",
                                       "tolerance", "SVD at size", "data error", "params (dense \xE2\x86\x92 DLoR)",
                                       "bytes (dense \xE2\x86\x92 DLoR)", "status"};
    dlor_html_table_begin(h, NULL, 13, head, "llrrrrrrrrrrl");
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        char shape[48], rank[24], fac[24], alpha[32], err[32], tol[32], svd[32], data[32], pa[64], by[64];
        snprintf(shape, sizeof shape, "%llu \xC3\x97 %llu", (unsigned long long)L->rows, (unsigned long long)L->cols);
        snprintf(rank, sizeof rank, "%llu", (unsigned long long)L->rank);
        snprintf(fac, sizeof fac, "%llu", (unsigned long long)L->factors);
        snprintf(alpha, sizeof alpha, "%.6g", L->alpha);
        dlor_html_format_num(L->rel_fro_error, err, sizeof err);
        if (isnan(L->tol)) snprintf(tol, sizeof tol, "none");
        else dlor_html_format_num(L->tol, tol, sizeof tol);
        dlor_html_format_num(L->svd_rel_fro_error, svd, sizeof svd);
        dlor_html_format_num(L->data_rel_error, data, sizeof data);
        snprintf(pa, sizeof pa, "%llu \xE2\x86\x92 %llu", (unsigned long long)L->params_dense,
                 (unsigned long long)L->params_dlor);
        snprintf(by, sizeof by, "%llu \xE2\x86\x92 %llu", (unsigned long long)L->bytes_dense,
                 (unsigned long long)L->bytes_dlor);
        int dense = !L->method;
        const char *cells[13] = {L->name, shape, L->form ? L->form : "?", dense ? "-" : rank, dense ? "-" : fac,
                                 dense ? "-" : alpha, err, tol, svd, data, pa, by,
                                 L->pass ? (isnan(L->tol) ? "ok (no tol.)" : "ok") : "FAIL"};
        dlor_html_table_row(h, cells, L->pass ? NULL : "fail");
    }
    dlor_html_table_end(h);
    for (size_t i = 0; i < r->nlayers; i++) {
        char note[400];
        if (dlor_verify_layer_note(r, &r->layers[i], note, sizeof note)[0])
            dlor_html_para(h, "note", "%s: %s.", r->layers[i].name, note);
    }
    alternatives_table(h, r);
    dlor_html_para(h, "note",
                   "rank: columns per DLoR factor; L: factors; alpha / beta: the shared diagonal (beta of a compressed "
                   "beta I + P Q^T). SVD at size: the error plain truncated SVD has when it stores as many numbers. "
                   "data error: ||(W - W_hat) X||_F / ||W X||_F on the inputs X the layer receives in the dense "
                   "model (with end-to-end inputs). The largest absolute error is in the summary and the JSON "
                   "report.");
}

/* The two charts of one stored (factored) layer: its spectrum, then its split. */
static void factored_spectra(dlor_html *h, const dlor_layer_report *L, const dlor_layer_desc *d,
                             const dlor_layer_spectrum *s)
{
    int add = d->method == DLOR_IMAGE_ADD, single = d->factors == 1;
    char cap[600], cap2[600];
    dlor_html_series se[4];
    size_t ns = 0;
    double *idl = malloc((size_t)s->k * sizeof *idl);
    if (!idl) {
        h->nomem = 1;
        return;
    }
    for (int64_t j = 0; j < s->k; j++) idl[j] = s->identity_sv;
    if (s->dense) se[ns++] = line("dense W", s->dense, s->k, DLOR_HTML_SOLID, "#9ca3af", 5);
    se[ns++] = line("rebuilt W_hat", s->rebuilt, s->k, DLOR_HTML_DASHED, "#2563eb", 2);
    if (add && s->identity_sv > 0)
        se[ns++] = line(single ? "identity part |beta|" : "identity part |L alpha|", idl, s->k, DLOR_HTML_DOTTED,
                        "#ea580c", 2.5);
    if (add && s->lowrank_sv && s->identity_sv > 0) /* without an identity part it is W_hat itself */
        se[ns++] = line(single ? "low-rank part P Q^T" : "low-rank part U V^T", s->lowrank_sv, s->n_lowrank,
                        DLOR_HTML_SOLID, "#7c3aed", 2);
    dlor_html_plot p = index_plot("Singular values", "singular value (log)", 1, s->k);
    p.series = se;
    p.nseries = ns;
    if (add && s->identity_sv > 0)
        snprintf(cap, sizeof cap,
                 "W_hat = %s I + %s: the identity part has every singular value equal to %s = %.4g, the "
                 "low-rank part %lld nonzero ones.",
                 single ? "beta" : "L alpha", single ? "P Q^T" : "U V^T", single ? "|beta|" : "|L alpha|",
                 s->identity_sv, (long long)s->n_lowrank);
    else if (add)
        snprintf(cap, sizeof cap, "W_hat = %s: no identity part (%s = 0); the low-rank part has %lld singular values.",
                 single ? "P Q^T" : "U V^T", single ? "beta" : "alpha", (long long)s->n_lowrank);
    else
        snprintf(cap, sizeof cap, "W_hat = M_L ... M_1 (L = %llu factors alpha I + U_l V_l^T)%s.",
                 (unsigned long long)d->factors, s->dense ? ", against the dense layer's spectrum" : "");
    p.caption = cap;
    dlor_html_row_begin(h);
    dlor_html_line_plot(h, &p);
    if (add && s->split.branches > 1) {
        char title[160];
        snprintf(title, sizeof title, "Per-branch contributions of the %lld components", (long long)s->split.branches);
        snprintf(cap2, sizeof cap2,
                 "Wide form (Figure 3c): |p_j^T M_l q_j| for each component M_l = alpha I + U_l V_l^T of %s, on "
                 "the singular directions (p_j, q_j) of W_hat; the signed contributions add up to sigma_j.",
                 L->name);
        dlor_html_branch_chart(h, title, &s->split, cap2);
    } else {
        snprintf(cap2, sizeof cap2,
                 "Figure 2c split: on each singular direction (p_j, q_j) of %s the identity part contributes "
                 "%s p_j^T I q_j and the low-rank part p_j^T %s q_j; the two add up to sigma_j",
                 s->split_is_factor ? "M_1" : "W_hat", s->split_is_factor ? "alpha" : "beta",
                 s->split_is_factor ? "U_1 V_1^T" : "P Q^T");
        dlor_html_split_plot(h,
                             s->split_is_factor ? "Split of the first factor M_1 = alpha I + U_1 V_1^T"
                                                : "Identity and low-rank contributions to sigma_j",
                             &s->split, cap2);
    }
    dlor_html_row_end(h);
    free(idl);
}

static void layer_spectra(dlor_html *h, const verify_result *r, const dlor_layer_report *L, const dlor_container *c,
                          const dlor_tensor_list *src)
{
    const dlor_layer_desc *d = dlor_container_find_layer(c, L->name);
    const dlor_tensor *w = dlor_tensor_list_find(src, L->name);
    const dlor_tensor *kept = d ? NULL : dlor_tensor_list_find(&c->tensors, L->name);
    dlor_error err;
    dlor_status st = DLOR_OK;
    uint64_t m = L->rows, n = L->cols, k = m < n ? m : n;
    double *wd = NULL;

    dlor_html_heading(h, 3, "%s (%s, %llu \xC3\x97 %llu)", L->name, L->form ? L->form : "?", (unsigned long long)m,
                      (unsigned long long)n);
    if (w && w->nelem == m * n && dlor_dtype_is_float(w->dtype)) {
        wd = malloc(m * n * sizeof *wd);
        if (!wd) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
        if (st == DLOR_OK) st = dlor_tensor_to_f64(w, wd, &err);
    }
    if (st == DLOR_OK && !d) {
        /* kept dense: the stored matrix's spectrum only */
        double *sv = malloc(k * sizeof *sv), *ws = kept ? malloc(m * n * sizeof *ws) : NULL;
        if (!kept || kept->nelem != m * n) st = dlor_fail(&err, DLOR_E_FORMAT, "no stored tensor of that shape");
        else if (!sv || !ws) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
        if (st == DLOR_OK) st = dlor_tensor_to_f64(kept, ws, &err);
        if (st == DLOR_OK) st = dlor_singular_values(ws, (int64_t)m, (int64_t)n, sv, &err);
        if (st == DLOR_OK) {
            dlor_html_series se = line("stored W (kept dense)", sv, (int64_t)k, DLOR_HTML_SOLID, "#4b5563", 2);
            dlor_html_plot p = index_plot("Singular values", "singular value (log)", 1, (int64_t)k);
            p.series = &se;
            p.nseries = 1;
            char cap[500];
            if (dlor_verify_layer_note(r, L, cap, sizeof cap)[0]) {
                cap[0] = (char)toupper((unsigned char)cap[0]);
                snprintf(cap + strlen(cap), sizeof cap - strlen(cap), " (no DLoR parts to split).");
            } else {
                snprintf(cap, sizeof cap, "No smaller form met the target: the layer is stored dense (no DLoR parts "
                                          "to split).");
            }
            p.caption = cap;
            dlor_html_line_plot(h, &p);
        }
        free(sv);
        free(ws);
    } else if (st == DLOR_OK) {
        dlor_factored f;
        dlor_layer_spectrum s;
        memset(&s, 0, sizeof s);
        st = dlor_layer_load(c, d, &f, &err);
        if (st == DLOR_OK) {
            st = dlor_layer_spectrum_compute(&f, wd, &s, &err);
            dlor_factored_free(&f);
        }
        if (st == DLOR_OK) factored_spectra(h, L, d, &s);
        dlor_layer_spectrum_free(&s);
    }
    /* a numerical failure is shown on the page; running out of memory fails the report */
    if (st == DLOR_E_NOMEM) h->nomem = 1;
    else if (st != DLOR_OK) dlor_html_para(h, "warn", "spectrum not available: %s", err.msg);
    free(wd);
}

static void spectra(dlor_html *h, const verify_result *r, const dlor_container *c, const dlor_tensor_list *src)
{
    size_t shown = 0, big = 0, over = 0;
    dlor_html_heading(h, 2, "Singular-value spectra");
    dlor_html_para(h, NULL,
                   "How each layer's spectrum is made up. Each layer's first chart: the singular values of the "
                   "rebuilt layer W_hat (and of the dense W it replaces). Its second chart: the contribution of each "
                   "part of the DLoR form to "
                   "each singular value: identity versus low-rank for one component alpha I + U V^T (the paper's "
                   "Figure 2c), or each parallel branch of a wide (add) form (Figure 3c).");
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        if (L->rows > SPECTRA_MAX_DIM || L->cols > SPECTRA_MAX_DIM) {
            big++;
            continue;
        }
        if (shown == SPECTRA_MAX_LAYERS) {
            over++;
            continue;
        }
        layer_spectra(h, r, L, c, src);
        shown++;
    }
    if (big)
        dlor_html_para(h, "note", "%zu layer%s larger than %d on a side %s left out (a full SVD each).", big,
                       big == 1 ? "" : "s", SPECTRA_MAX_DIM, big == 1 ? "is" : "are");
    if (over)
        dlor_html_para(h, "note", "Spectra are shown for the first %d layers; %zu more are left out.", SPECTRA_MAX_LAYERS,
                       over);
}

/* ---- network-form files ------------------------------------------------------------------ */

static const char *net_variant(const verify_network *n, char *buf, size_t len)
{
    if (n->construction && strcmp(n->construction, "wide") == 0)
        snprintf(buf, len, "wide (Theorem 3): %s beta", n->beta && strcmp(n->beta, "paired") == 0 ? "paired (+1/-1)"
                                                        : "the paper's (1, .., 1, -(L-1))");
    else
        snprintf(buf, len, "deep (Appendix E.1): %s basis, alpha %s",
                 n->basis && strcmp(n->basis, "random") == 0 ? "random" : "Schur", n->alpha ? n->alpha : "?");
    return buf;
}

static void net_summary(dlor_html *h, const char *in, const char *out, const verify_result *r)
{
    const verify_network *n = r->net;
    char a[48], b[48], v[160];
    dlor_html_format_num(r->e2e_max_abs, a, sizeof a);
    if (isnan(n->tol)) snprintf(b, sizeof b, "no tolerance given");
    else dlor_html_format_num(n->tol, b, sizeof b);
    dlor_html_verdict(h, r->pass, "network form: end-to-end max abs output error %s (%s%s) on %llu inputs; the network "
                      "stores %.3f\xC3\x97 the parameters of the dense layers it replaces", a,
                      isnan(n->tol) ? "" : "tolerance ", b, (unsigned long long)r->e2e_samples,
                      ratio(n->params_net, n->params_dense));
    dlor_html_row_begin(h);
    dlor_html_kv_begin(h, "Network form");
    dlor_html_kv(h, "dense source", "%s%s", in, r->sha_match ? " (SHA-256 matches the converted file's record)"
                                                             : " (not the file the .dlor was made from: SHA-256 differs)");
    dlor_html_kv(h, "network file", "%s", out);
    dlor_html_kv(h, "construction", "%s", net_variant(n, v, sizeof v));
    dlor_html_kv(h, "h, c, r", "h = %.3g (%s), c = %g, r = %lld", n->h,
                 n->h_choice && strcmp(n->h_choice, "auto") == 0 ? "searched" : "given", n->c, (long long)n->rank);
    dlor_html_kv(h, "storage", "%s factors", n->storage);
    dlor_html_kv(h, "dense model", "%s", n->dense_graph);
    dlor_html_kv(h, "dense layers", "%zu: %zu constructed, %zu exact (one component), %zu left dense", n->nlayers,
                 n->constructed, n->exact, n->kept_dense);
    dlor_html_kv(h, "DLoR components", "%zu (%zu sub-layers without a dense counterpart)", n->components, n->skipped);
    dlor_html_kv(h, "parameters", "%llu dense \xE2\x86\x92 %llu network (%.3f\xC3\x97)",
                 (unsigned long long)n->params_dense, (unsigned long long)n->params_net,
                 ratio(n->params_net, n->params_dense));
    dlor_html_kv(h, "bytes", "%llu dense \xE2\x86\x92 %llu network (%.3f\xC3\x97)", (unsigned long long)n->bytes_dense,
                 (unsigned long long)n->bytes_net, ratio(n->bytes_net, n->bytes_dense));
    dlor_html_kv(h, "other tensors", "%zu carried, %zu identical to the source", r->carried, r->carried_same);
    dlor_html_kv_end(h);
    dlor_html_kv_begin(h, "End to end (dense model vs network outputs)");
    dlor_html_kv(h, "inputs", "%llu samples (%s)", (unsigned long long)r->e2e_samples, r->e2e_inputs);
    dlor_html_kv(h, "precision", "the network in %s, the dense model in float64",
                 n->f64 ? "float64 (f64 factors)" : "float32 (f32 factors)");
    dlor_html_kv(h, "max abs output error", "%s", a);
    dlor_html_format_num(r->e2e_max_rel, a, sizeof a);
    dlor_html_kv(h, "max relative output error", "%s (largest ||y_net - y_dense||_inf / ||y_dense||_inf)", a);
    dlor_html_kv(h, "non-finite outputs", "dense %llu, network %llu of %llu (NaN or infinite)",
                 (unsigned long long)r->e2e_nonfinite_dense, (unsigned long long)r->e2e_nonfinite_dlor,
                 (unsigned long long)r->e2e_values);
    if (isnan(n->tol)) dlor_html_kv(h, "tolerance", "none given (--tol T holds the max abs error to T)");
    else dlor_html_kv(h, "tolerance", "%s on the max abs error: %s", b, n->e2e_pass ? "met" : "EXCEEDED");
    if (r->has_labels) {
        dlor_html_kv(h, "accuracy", "dense %.2f%%, network %.2f%% (%+.2f points)", 100 * r->acc_dense,
                     100 * r->acc_dlor, 100 * (r->acc_dlor - r->acc_dense));
        dlor_html_kv(h, "argmax agreement", "%.2f%%", 100 * r->argmax_agreement);
    }
    if (n->recorded_error) dlor_html_kv(h, "convert measured", "%s", n->recorded_error);
    dlor_html_kv_end(h);
    dlor_html_row_end(h);
    for (size_t i = 0; i < r->nproblems; i++) dlor_html_para(h, "warn", "problem: %s", r->problems[i]);
}

static void net_structure(dlor_html *h, const verify_result *r)
{
    const verify_network *n = r->net;
    static const char *const head[] = {"dense layer", "shape", "becomes", "components", "rank", "activation",
                                       "params (dense \xE2\x86\x92 network)", "bytes (dense \xE2\x86\x92 network)",
                                       "checked"};
    dlor_html_table_begin(h, NULL, 9, head, "lllrrlrrl");
    for (size_t i = 0; i < n->nlayers; i++) {
        const verify_net_layer *L = &n->layers[i];
        char shape[48], comp[24], rank[24], pa[64], by[64], chk[96];
        snprintf(shape, sizeof shape, "%llu \xC3\x97 %llu", (unsigned long long)L->rows, (unsigned long long)L->cols);
        snprintf(comp, sizeof comp, "%llu", (unsigned long long)L->components);
        snprintf(rank, sizeof rank, "%llu", (unsigned long long)L->rank);
        snprintf(pa, sizeof pa, "%llu \xE2\x86\x92 %llu", (unsigned long long)L->params_dense,
                 (unsigned long long)L->params_net);
        snprintf(by, sizeof by, "%llu \xE2\x86\x92 %llu", (unsigned long long)L->bytes_dense,
                 (unsigned long long)L->bytes_net);
        const char *cls = NULL;
        snprintf(chk, sizeof chk, "end to end only");
        if (strcmp(L->form, "exact") == 0 || strcmp(L->form, "dense") == 0) {
            snprintf(chk, sizeof chk, "%s", strcmp(L->form, "dense") == 0 ? "carried bit for bit" : "weight for weight");
            for (size_t j = 0; j < r->nlayers; j++)
                if (strcmp(r->layers[j].name, L->name) == 0) {
                    char e[32];
                    dlor_html_format_num(r->layers[j].rel_fro_error, e, sizeof e);
                    snprintf(chk, sizeof chk, "weight for weight: error %s%s", e, r->layers[j].pass ? "" : " FAIL");
                    if (!r->layers[j].pass) cls = "fail";
                }
        } else if (strcmp(L->form, "missing") == 0) {
            snprintf(chk, sizeof chk, "no counterpart");
            cls = "fail";
        }
        const char *cells[9] = {L->name, shape, L->form, comp, L->rank ? rank : "-", L->act ? L->act : "-", pa, by, chk};
        dlor_html_table_row(h, cells, cls);
    }
    dlor_html_table_end(h);
    dlor_html_para(h, "note",
                   "deep: the layer becomes L sub-layers, each one DLoR component alpha I + U V^T, with rho between "
                   "them; wide: a group of parallel branches, one DLoR component each, weighted and summed; exact: "
                   "a layer whose rank bound is at most r already is one component U V^T = W. Parameters count what "
                   "the graph uses: factors, nonzero alphas, biases and branch weights.");
}

static const char *net_layer_name(const void *ctx, size_t i)
{
    return ((const verify_network *)ctx)->layers[i].name;
}

static void net_layer_sizes(const void *ctx, size_t i, double v[4])
{
    const verify_network *n = ctx;
    v[0] = (double)n->layers[i].params_dense;
    v[1] = (double)n->layers[i].params_net;
    v[2] = (double)n->layers[i].bytes_dense;
    v[3] = (double)n->layers[i].bytes_net;
}

static void net_size_charts(dlor_html *h, const verify_network *n)
{
    size_charts_of(h, n->nlayers, net_layer_name, net_layer_sizes, n, "dense layer", "network form");
}

static void net_page(dlor_html *h, const char *in, const char *out, const verify_result *r)
{
    net_summary(h, in, out, r);
    dlor_html_heading(h, 2, "Structure");
    net_structure(h, r);
    net_size_charts(h, r->net);
    dlor_html_heading(h, 2, "Per-layer error");
    dlor_html_para(h, NULL,
                   "Per-layer error bars are not applicable to a network form: its %zu sub-layers stand for dense "
                   "layers only together, through the activation, so they have no dense counterpart to compare "
                   "with. The end-to-end figures above measure them.%s", r->net->skipped,
                   r->nlayers ? " The exact components are compared with the dense weights they store:" : "");
    if (r->nlayers) layer_table(h, r);
}

/* Writes the page; returns nonzero when it is incomplete for lack of memory. */
static int page(FILE *f, const char *in, const char *out, const verify_result *r, const dlor_container *c,
                const dlor_tensor_list *src, const char *target)
{
    dlor_html h;
    char title[600];
    snprintf(title, sizeof title, "dlor verify: %s \xE2\x86\x92 %s", dlor_basename(in), dlor_basename(out));
    dlor_html_begin(&h, f, title);
    if (r->net) {
        net_page(&h, in, out, r);
        dlor_html_end(&h, "Written by dlor " DLOR_VERSION_STRING " verify. A self-contained page: no scripts, no "
                          "network requests.");
        return h.nomem;
    }
    summary(&h, in, out, r, c, target);
    dlor_html_heading(&h, 2, "Per-layer error");
    if (r->nlayers) {
        error_chart(&h, r);
        layer_table(&h, r);
        dlor_html_heading(&h, 2, "Size");
        size_charts(&h, r);
        spectra(&h, r, c, src);
    } else {
        dlor_html_para(&h, "note", "The file has no converted layers.");
    }
    dlor_html_end(&h, "Written by dlor " DLOR_VERSION_STRING " verify. A self-contained page: no scripts, no "
                      "network requests.");
    return h.nomem;
}

dlor_status dlor_verify_html(const char *path, const char *in, const char *out, const verify_result *r,
                             const dlor_container *c, const dlor_tensor_list *src, const char *target,
                             dlor_atomic_file *af, dlor_error *err)
{
    memset(af, 0, sizeof *af);
    dlor_status st = dlor_atomic_open(af, path, err); /* "-": standard output, staged whole */
    if (st != DLOR_OK) {
        memset(af, 0, sizeof *af);
        return st;
    }
    if (page(af->fp, in, out, r, c, src, target)) {
        dlor_atomic_abort(af);
        return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory writing the HTML report", path);
    }
    if (ferror(af->fp)) {
        dlor_atomic_abort(af);
        return dlor_fail(err, DLOR_E_IO, "%s: writing the HTML report failed", path);
    }
    return DLOR_OK;
}
