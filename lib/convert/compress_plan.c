/* compress_plan.c - convert's compressed forms: for each selected layer the
 * smallest beta*I + P Q^T (or truncated SVD) meeting the target, optionally
 * data-aware and optionally as a product of m DLoR factors.
 *
 * Streamed: a layer is in double precision only while a task works on it
 * (at most --jobs at once). --tol and --budget take two passes: the error
 * curves of every layer (kept: a few numbers per rank), the ranks from them,
 * then the fits; each fit is encoded into the storage dtype at once and its
 * doubles freed, so what stays held is the output's bytes. --budget-bits also
 * measures, in the curve task, every dense dtype and qlr base of the layer,
 * and allocates over those few numbers per layer. */
#define _POSIX_C_SOURCE 200809L
#include "compress_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "calib_acts.h"
#include "calib_tokens.h"
#include "progress.h"
#include "dlor_compress.h"
#include "dlor_fileio.h"
#include "dlor_graph_eval.h"
#include "dlor_readers.h"
#include "model_load.h"
#include "parallel.h"
#include "sensitivity.h"

typedef struct {
    const dlor_tensor *t;
    int64_t m, n, kcap;     /* kcap: the largest rank still cheaper than dense storage */
    double *w;              /* m x n, only while a task works on the layer */
    double *chol;           /* n x n whitening factor, or NULL (weight space) */
    dlor_curve curve;
    int64_t k;              /* chosen rank, or DLOR_KEEP_DENSE */
    int has_lr;             /* fitted: the factors are in part */
    double beta, rel_err, rel_err_data; /* the fit's, for the progress line */
    dlor_container part;    /* the layer's tensors as stored (factors, or a narrowed dense copy) */
    dlor_lowrank lr;        /* with --factors: the fit, made a product after the parallel fits (at the
                             * caller's BLAS thread count, as its bytes depend on it) */
    double secs;            /* time of the fit */
    /* qlr: the quantized base and the residual W - Q(W) the correction fits (both,
     * like w, only while a task works on the layer), and the ratios ||R||/||W|| and
     * ||R S||/||W S|| that turn the fit's errors (relative to R) into errors relative to W */
    unsigned char *base;
    uint64_t base_nbytes;
    double *r;
    double ratio_w, ratio_d;
    /* the layer's form: the run's, or (--budget-bits) the one the allocation chose */
    int qlr, fit_beta;
    dlor_dtype dt;          /* of the factors, of a layer kept dense, or of the qlr base */
    dlor_dtype corr_dt;     /* qlr: of the correction */
    double *qerr[2];        /* --budget-bits: the qlr curves (errors relative to W) of a q4 and a q8 base */
    uint64_t qbytes[2];     /* and those bases' bytes */
    double derr[5];         /* --budget-bits: the error of the layer kept dense in each of BITS_DENSE */
    uint64_t dbytes[5];
    double sens;            /* the allocations' factor on the layer's relative errors: sqrt of its end-to-end
                             * weight over the layers' mean (sensitivity.h), or 1; with --budget-bits, of
                             * its quantized forms (dense in a narrower dtype, qlr) */
    double sens_lr;         /* --budget-bits: the same for its beta I + P Q^T forms */
} plan_layer;

/* --budget-bits: the dtypes a layer may be kept dense in, and those of a qlr base */
static const dlor_dtype BITS_DENSE[5] = {DLOR_DT_F32, DLOR_DT_F16, DLOR_DT_BF16, DLOR_DT_Q8, DLOR_DT_Q4};
static const dlor_dtype BITS_BASE[2] = {DLOR_DT_Q4, DLOR_DT_Q8};

typedef struct {
    plan_layer *layers;
    size_t n;
    const dlor_tensor_list *src;
    dlor_error *err;
    const dlor_compress_cfg *cc;
    const dlor_convert_hooks *hooks;
    dlor_phase prog;      /* of the phase running */
    size_t nridge;        /* layers whose whitening needed a ridge */
    double ridge_max;     /* the largest ridge (x the mean diagonal) */
    size_t nshort;        /* layers with fewer calibration rows than inputs */
    const char *short_name; /* the one of them with the fewest rows per input */
    uint64_t short_rows, short_in;
} plan;

/* A layer's share of a phase's work (its SVDs), for progress ETAs. */
static double layer_work(const plan_layer *L)
{
    double k = (double)(L->m < L->n ? L->m : L->n);
    return (double)L->m * (double)L->n * k;
}

static double plan_work(const plan *p)
{
    double w = 0;
    for (size_t i = 0; i < p->n; i++) w += layer_work(&p->layers[i]);
    return w;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int64_t dlor_compress_rank_cap(int64_t m, int64_t n, int fit_beta)
{
    int64_t kmin = m < n ? m : n, k = (m * n - 1 - (fit_beta != 0)) / (m + n);
    return k < kmin ? k : kmin;
}

void dlor_compress_rank_note(int64_t rank, int64_t m, int64_t n, int fit_beta, char *buf, size_t len)
{
    int64_t kmin = m < n ? m : n;
    if (rank > kmin)
        snprintf(buf, len, "--rank %lld exceeds the layer's largest rank, %lld", (long long)rank, (long long)kmin);
    else
        snprintf(buf, len, "--rank %lld would store %lld numbers, the dense layer %lld", (long long)rank,
                 (long long)(rank * (m + n) + (fit_beta != 0)), (long long)(m * n));
}

/* --allocate uniform: the largest rank whose form stores at most 'budget' x the
 * layer's dense numbers, at least 1 and at most kmax. */
static int64_t uniform_rank(int64_t m, int64_t n, int64_t kmax, int with_beta, double budget)
{
    double share = budget * (double)m * (double)n - (with_beta != 0);
    int64_t k = share > 0 ? (int64_t)floor(share / (double)(m + n)) : 0;
    if (k < 1) k = 1;
    return k < kmax ? k : kmax;
}

static plan_layer *find_layer(plan *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->layers[i].t->name, name) == 0) return &p->layers[i];
    return NULL;
}

/* A Gram matrix too close to singular (or indefinite by rounding) is whitened
 * with lambda x its mean diagonal added: counted, said once after calibration. */
static void whiten_count(plan *p, double lambda)
{
    if (!(lambda > 0)) return;
    p->nridge++;
    if (lambda > p->ridge_max) p->ridge_max = lambda;
}

/* Fewer calibration rows than inputs (rows known: samples, or tokens the mask
 * keeps): the Gram matrix has rank at most the rows, and a fit reproduces
 * those rows, not the layer. Counted, said once after calibration. */
static void rows_count(plan *p, const char *weight, uint64_t rows, uint64_t in)
{
    if (rows == 0 || rows >= in) return;
    p->nshort++;
    if (!p->short_name || (double)rows / (double)in < (double)p->short_rows / (double)p->short_in) {
        p->short_name = weight;
        p->short_rows = rows;
        p->short_in = in;
    }
}

static void whiten_note(const plan *p)
{
    if (p->nshort)
        dlor_hooks_line(p->hooks, 1, "note: %zu layer%s had fewer calibration rows (samples or unmasked tokens) "
                        "than inputs ('%s': %llu rows for %llu inputs): such a fit follows those rows and can do "
                        "worse on other inputs than a fit to the weights; give more calibration data than the "
                        "widest layer has inputs", p->nshort, p->nshort == 1 ? "" : "s", p->short_name,
                        (unsigned long long)p->short_rows, (unsigned long long)p->short_in);
    if (p->nridge)
        dlor_hooks_line(p->hooks, 1, "note: the Gram matrix of the calibration inputs of %zu layer%s is singular or "
                        "indefinite by rounding: whitened with up to %g x its mean diagonal added", p->nridge,
                        p->nridge == 1 ? "" : "s", p->ridge_max);
}

/* Calibration hook: the inputs a linear layer sees give its whitening factor. */
static dlor_status calib_hook(void *ctx, size_t op, const char *weight, const double *x, uint64_t n, uint64_t in,
                              dlor_error *err)
{
    plan *p = ctx;
    plan_layer *L = find_layer(p, weight);
    (void)op;
    if (!L || L->chol) return DLOR_OK; /* not compressed, or already seen (a weight used twice) */
    L->chol = malloc((size_t)(in * in) * sizeof *L->chol);
    if (!L->chol) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for the whitening of '%s'", weight);
    double lam = 0;
    dlor_status st = dlor_whitening(weight, x, DLOR_DT_F64, (int64_t)n, (int64_t)in, 0.0, L->chol, &lam, err);
    if (st == DLOR_OK) whiten_count(p, lam);
    if (st == DLOR_OK) rows_count(p, L->t->name, n, in);
    return st;
}

/* Calibration of a model of token ids: each compressed layer's whitening from
 * the Gram matrix of its inputs (calib_tokens.h). */
static int calib_want(void *ctx, const char *weight)
{
    plan_layer *L = find_layer(ctx, weight);
    return L && !L->chol;
}

static dlor_status calib_gram(void *ctx, const char *weight, const double *gram, uint64_t in, uint64_t rows,
                              dlor_error *err)
{
    plan_layer *L = find_layer(ctx, weight);
    L->chol = malloc((size_t)(in * in) * sizeof *L->chol);
    if (!L->chol) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for the whitening of '%s'", weight);
    double lam = 0;
    dlor_status st = dlor_whitening_gram(weight, gram, (int64_t)in, 0.0, L->chol, &lam, err);
    if (st == DLOR_OK) whiten_count(ctx, lam);
    if (st == DLOR_OK) rows_count(ctx, L->t->name, rows, in);
    return st;
}

/* Calibration from captured activations: each layer the file names is whitened
 * by its Gram matrix; the others are fitted in weight space. */
static dlor_status load_calib_acts(const dlor_compress_cfg *cc, plan *p, dlor_error *err)
{
    dlor_status st = DLOR_OK;
    for (size_t i = 0; i < p->n && st == DLOR_OK; i++) {
        plan_layer *L = &p->layers[i];
        const dlor_calib_acts_entry *e = dlor_calib_acts_find(cc->acts, L->t->name);
        if (!e) continue;
        st = calib_gram(p, L->t->name, e->gram, e->in, e->rows, err);
        if (st != DLOR_OK) dlor_error_prefix(err, cc->calib_acts);
    }
    return st;
}

static dlor_status load_calibration(const dlor_compress_cfg *cc, const dlor_tensor_list *src,
                                    const dlor_graph *g, plan *p, dlor_error *err)
{
    uint64_t in_dim, n;
    float *xf = NULL;
    if (!g->count)
        return dlor_fail(err, DLOR_E_USAGE, "--calib needs the model's graph to propagate activations; give "
                                            "--activation (or use a source with a graph)");
    dlor_status st = dlor_graph_check(g, src, "model", &in_dim, NULL, err);
    if (st == DLOR_OK && in_dim == 0) return dlor_calib_tokens_gram(g, src, cc->calib, calib_want, calib_gram, p, cc->progress, err);
    if (st == DLOR_OK) st = dlor_load_inputs(cc->calib, in_dim, &xf, &n, err);
    if (st != DLOR_OK) return st;
    double *x = malloc((size_t)(n * in_dim > 0 ? n * in_dim : 1) * sizeof *x);
    if (!x) {
        free(xf);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory for calibration data");
    }
    for (uint64_t i = 0; i < n * in_dim; i++) {
        x[i] = xf[i];
        if (!isfinite(x[i])) {
            free(x);
            free(xf);
            return dlor_fail(err, DLOR_E_NUMERIC, "%s: calibration value %llu is not finite", cc->calib,
                             (unsigned long long)i);
        }
    }
    free(xf);
    st = dlor_graph_forward_f64(g, src, x, n, calib_hook, p, NULL, err);
    free(x);
    return st;
}

/* --budget and --budget-bits with --calib: each layer's relative errors weighed by the
 * square root of its end-to-end weight (sensitivity.h) over the layers' mean, so that the
 * allocations' sums of squared errors estimate the outputs' squared error. */
typedef struct {
    plan *p;
    const int64_t *k;       /* per layer: the rank of the probe's fit, or DLOR_KEEP_DENSE (no error) */
} rank_probe_ctx;

/* The probe of layer i: its beta I + P Q^T (or truncated SVD) fit at rank k[i]. */
static dlor_status rank_probe(void *ctx, size_t i, const double *w, int64_t m, int64_t n, double *out,
                              dlor_error *err)
{
    rank_probe_ctx *rc = ctx;
    plan_layer *L = &rc->p->layers[i];
    const dlor_compress_cfg *cc = rc->p->cc;
    int64_t k = rc->k[i];
    if (L->kcap < 1 || k == DLOR_KEEP_DENSE) {
        memcpy(out, w, (size_t)(m * n) * sizeof *out);
        return DLOR_OK;
    }
    dlor_lowrank lr;
    memset(&lr, 0, sizeof lr);
    dlor_lowrank_opts o = dlor_lowrank_defaults();
    o.beta_mode = L->fit_beta || cc->has_bits ? DLOR_BETA_FIT : DLOR_BETA_ZERO;
    o.chol = L->chol;
    dlor_status st = dlor_lowrank_fit(L->t->name, w, m, n, k, &o, &lr, err);
    if (st == DLOR_OK) st = dlor_lowrank_reconstruct(&lr, out, err);
    dlor_lowrank_free(&lr);
    return st;
}

/* The outputs on the calibration inputs with every layer i fitted at rank k[i] (rank_probe):
 * per layer (w) or all at once (e), as dlor_sensitivity measures them. */
static dlor_status probe_ranks(plan *p, const dlor_tensor_list *src, const dlor_graph *g, const char **names,
                               const int64_t *k, double *w, double *e, dlor_error *err)
{
    rank_probe_ctx rc = {p, k};
    return dlor_sensitivity(g, src, p->cc->calib, names, p->n, rank_probe, &rc, w, e, p->cc->jobs, p->cc->progress, err);
}

/* Every layer's rank under --allocate uniform at the fraction frac (with beta: beta or the layer's own). */
static void uniform_ranks(const plan *p, double frac, int beta, int64_t *k)
{
    for (size_t i = 0; i < p->n; i++) {
        const plan_layer *L = &p->layers[i];
        k[i] = L->kcap >= 1 ? uniform_rank(L->m, L->n, L->kcap, beta || L->fit_beta, frac) : DLOR_KEEP_DENSE;
    }
}

/* --budget with --calib: the allocated ranks and those of --allocate uniform, each fitted
 * and put into the dense graph at once, run over the calibration inputs; the uniform ones
 * replace the allocation when their outputs' squared error is smaller. */
static dlor_status keep_better_than_uniform(plan *p, const dlor_tensor_list *src, const dlor_graph *g, dlor_error *err)
{
    const dlor_compress_cfg *cc = p->cc;
    const char **names = malloc((p->n ? p->n : 1) * sizeof *names);
    int64_t *ka = malloc((p->n ? p->n : 1) * sizeof *ka), *ku = malloc((p->n ? p->n : 1) * sizeof *ku);
    dlor_status st = DLOR_OK;
    if (!names || !ka || !ku) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    for (size_t i = 0; st == DLOR_OK && i < p->n; i++) {
        names[i] = p->layers[i].t->name;
        ka[i] = p->layers[i].k;
    }
    if (st == DLOR_OK) uniform_ranks(p, cc->budget, 0, ku);
    double ea = 0, eu = 0;
    if (st == DLOR_OK) st = probe_ranks(p, src, g, names, ka, NULL, &ea, err);
    if (st == DLOR_OK) st = probe_ranks(p, src, g, names, ku, NULL, &eu, err);
    if (st == DLOR_OK && eu < ea) {
        for (size_t i = 0; i < p->n; i++) p->layers[i].k = ku[i];
        dlor_hooks_line(p->hooks, 1, "note: --budget %g: one rank fraction for every layer (--allocate uniform) "
                        "keeps the outputs on the calibration inputs closer than the allocation (mean cosine %.6g "
                        "against %.6g): kept", cc->budget, 1.0 - eu, 1.0 - ea);
    }
    free(names);
    free(ka);
    free(ku);
    return st;
}

static dlor_status measure_sensitivity(const dlor_compress_cfg *cc, const dlor_tensor_list *src, const dlor_graph *g,
                                       plan *p, dlor_error *err)
{
    const char **names = malloc((p->n ? p->n : 1) * sizeof *names);
    double *w = malloc((p->n ? p->n : 1) * sizeof *w), *wl = malloc((p->n ? p->n : 1) * sizeof *wl);
    dlor_status st = DLOR_OK;
    if (!names || !w || !wl) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    for (size_t i = 0; st == DLOR_OK && i < p->n; i++) names[i] = p->layers[i].t->name;
    /* --budget: one probe, the fit at the rank --allocate uniform would give; --budget-bits:
     * the q4 error for the quantized forms, and the beta I + P Q^T fit storing about as many
     * f16 numbers as the target's bits for the others */
    int64_t *ku = malloc((p->n ? p->n : 1) * sizeof *ku);
    if (st == DLOR_OK && !ku) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    if (st == DLOR_OK) uniform_ranks(p, cc->has_bits ? cc->bits / 32.0 : cc->budget, cc->has_bits, ku);
    if (st == DLOR_OK) st = probe_ranks(p, src, g, names, ku, wl, NULL, err);
    free(ku);
    if (st == DLOR_OK && cc->has_bits)
        st = dlor_sensitivity(g, src, cc->calib, names, p->n, NULL, NULL, w, NULL, cc->jobs, cc->progress, err);
    else if (st == DLOR_OK) memcpy(w, wl, p->n * sizeof *w);
    double mean = 0;
    for (size_t i = 0; st == DLOR_OK && i < p->n; i++) mean += w[i] / (double)p->n;
    for (size_t i = 0; st == DLOR_OK && mean > 0 && isfinite(mean) && i < p->n; i++) {
        p->layers[i].sens = sqrt(w[i] / mean);
        p->layers[i].sens_lr = sqrt(wl[i] / mean);
    }
    free(names);
    free(w);
    free(wl);
    return st;
}

/* ||A S||_F for an m x n matrix a (S lower triangular n x n), or ||A||_F without S. */
static double data_norm(const double *a, int64_t m, int64_t n, const double *chol, double *tmp)
{
    double s = 0;
    if (!chol) {
        for (int64_t i = 0; i < m * n; i++) s += a[i] * a[i];
        return sqrt(s);
    }
    memcpy(tmp, a, (size_t)(m * n) * sizeof *tmp);
    cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)m, (int)n, 1.0, chol, (int)n,
                tmp, (int)n);
    for (int64_t i = 0; i < m * n; i++) s += tmp[i] * tmp[i];
    return sqrt(s);
}

/* qlr: quantizes W into the base dtype and keeps the residual R = W - Q(W) that the
 * low-rank correction fits, with the ratios of its norms to W's (weight and data). */
static dlor_status qlr_prepare(plan_layer *L, dlor_error *err)
{
    uint64_t nb = 0, mn = (uint64_t)(L->m * L->n);
    if (dlor_shape_nbytes(L->t->dims, 2, L->dt, &nb) != 0)
        return dlor_fail(err, DLOR_E_LIMIT, "layer '%s' is too large", L->t->name);
    L->base = malloc(nb ? (size_t)nb : 1);
    L->r = malloc((size_t)mn * sizeof *L->r);
    double *tmp = malloc((size_t)mn * sizeof *tmp);
    dlor_status st = DLOR_OK;
    if (!L->base || !L->r || !tmp) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", L->t->name);
    if (st == DLOR_OK) st = dlor_encode_matrix(L->w, L->t->dims[0], L->t->dims[1], L->dt, L->base, L->t->name, err);
    if (st == DLOR_OK) {
        dlor_tensor q;
        memset(&q, 0, sizeof q);
        q.name = (char *)L->t->name;
        q.dtype = L->dt;
        q.ndim = 2;
        q.dims[0] = L->t->dims[0];
        q.dims[1] = L->t->dims[1];
        q.nelem = mn;
        q.nbytes = (size_t)nb;
        q.data = L->base;
        st = dlor_tensor_to_f64(&q, L->r, err);
    }
    if (st == DLOR_OK) {
        L->base_nbytes = nb;
        for (uint64_t i = 0; i < mn; i++) L->r[i] = L->w[i] - L->r[i];
        double nw = data_norm(L->w, L->m, L->n, NULL, tmp), nr = data_norm(L->r, L->m, L->n, NULL, tmp);
        L->ratio_w = nw > 0 ? nr / nw : nr;
        L->ratio_d = L->ratio_w;
        if (L->chol) {
            nw = data_norm(L->w, L->m, L->n, L->chol, tmp);
            nr = data_norm(L->r, L->m, L->n, L->chol, tmp);
            L->ratio_d = nw > 0 ? nr / nw : nr;
        }
    }
    free(tmp);
    return st;
}

/* --budget-bits: what every form of the layer would cost and err (in the data space with
 * --calib): kept dense in each dtype of BITS_DENSE (measured), beta I + P Q^T at every rank
 * (its error curve), and a q4 or q8 base with a correction of every rank (the curve of the
 * residual's truncated SVD). */
static dlor_status bits_curves(plan_layer *L, dlor_error *err)
{
    uint64_t mn = (uint64_t)(L->m * L->n);
    dlor_status st = DLOR_OK;
    double *deq = malloc((size_t)mn * sizeof *deq), *tmp = malloc((size_t)mn * sizeof *tmp);
    if (!deq || !tmp) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", L->t->name);
    double nw = st == DLOR_OK ? data_norm(L->w, L->m, L->n, L->chol, tmp) : 0;
    for (int d = 0; d < 5 && st == DLOR_OK; d++) {
        uint64_t nb = 0;
        if (dlor_shape_nbytes(L->t->dims, 2, BITS_DENSE[d], &nb) != 0)
            st = dlor_fail(err, DLOR_E_LIMIT, "layer '%s' is too large", L->t->name);
        unsigned char *buf = st == DLOR_OK ? malloc(nb ? (size_t)nb : 1) : NULL;
        if (st == DLOR_OK && !buf) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", L->t->name);
        if (st == DLOR_OK) st = dlor_encode_matrix(L->w, L->t->dims[0], L->t->dims[1], BITS_DENSE[d], buf, L->t->name, err);
        if (st == DLOR_OK) {
            dlor_tensor q;
            memset(&q, 0, sizeof q);
            q.name = (char *)L->t->name;
            q.dtype = BITS_DENSE[d];
            q.ndim = 2;
            q.dims[0] = L->t->dims[0];
            q.dims[1] = L->t->dims[1];
            q.nelem = mn;
            q.nbytes = (size_t)nb;
            q.data = buf;
            st = dlor_tensor_to_f64(&q, deq, err);
        }
        if (st == DLOR_OK) {
            for (uint64_t i = 0; i < mn; i++) deq[i] = L->w[i] - deq[i];
            double nd = data_norm(deq, L->m, L->n, L->chol, tmp);
            L->derr[d] = nw > 0 ? nd / nw : nd;
            L->dbytes[d] = nb;
        }
        free(buf);
    }
    free(deq);
    free(tmp);
    if (st == DLOR_OK && L->kcap >= 1) {
        dlor_curve_opts co = {0, 0.0, 0};
        st = dlor_error_curves_ex(L->t->name, L->w, L->m, L->n, L->kcap, L->chol, &co, &L->curve, err);
    }
    for (int b = 0; b < 2 && st == DLOR_OK; b++) {
        L->dt = BITS_BASE[b];
        st = qlr_prepare(L, err);
        L->qerr[b] = st == DLOR_OK ? malloc((size_t)(L->kcap + 1) * sizeof(double)) : NULL;
        if (st == DLOR_OK && !L->qerr[b]) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", L->t->name);
        double ratio = L->chol ? L->ratio_d : L->ratio_w;
        if (st == DLOR_OK) {
            L->qbytes[b] = L->base_nbytes;
            L->qerr[b][0] = ratio;
        }
        if (st == DLOR_OK && L->kcap >= 1) {
            dlor_curve c;
            dlor_curve_opts co = {1, 0.0, 0};
            st = dlor_error_curves_ex(L->t->name, L->r, L->m, L->n, L->kcap, L->chol, &co, &c, err);
            for (int64_t k = 1; st == DLOR_OK && k <= L->kcap; k++) L->qerr[b][k] = c.err_svd[k] * ratio;
            if (st == DLOR_OK) dlor_curve_free(&c);
        }
        free(L->base);
        free(L->r);
        L->base = NULL;
        L->r = NULL;
    }
    return st;
}

/* --budget-bits: one form per layer (dlor_allocate_choices over every form bits_curves
 * measured), the sum of squared errors least with the average bits per weight <= the target. */
typedef struct {
    int form;               /* 0: dense, 1: beta I + P Q^T, 2: qlr */
    dlor_dtype dt;
    int64_t k;
} bits_form;

static dlor_status bits_allocate(plan *p, dlor_error *err)
{
    const dlor_compress_cfg *cc = p->cc;
    double weights = 0;
    size_t total = 0;
    for (size_t i = 0; i < p->n; i++) {
        weights += (double)p->layers[i].m * (double)p->layers[i].n;
        total += 5 + 4 * (size_t)(p->layers[i].kcap > 0 ? p->layers[i].kcap : 0);
    }
    dlor_choice *ch = malloc((total ? total : 1) * sizeof *ch);
    bits_form *fm = malloc((total ? total : 1) * sizeof *fm);
    dlor_choice_layer *cl = malloc((p->n ? p->n : 1) * sizeof *cl);
    int64_t *pick = malloc((p->n ? p->n : 1) * sizeof *pick);
    dlor_status st = DLOR_OK;
    if (!ch || !fm || !cl || !pick) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    size_t at = 0;
    for (size_t i = 0; i < p->n && st == DLOR_OK; i++) {
        const plan_layer *L = &p->layers[i];
        uint64_t mu = (uint64_t)L->m, nu = (uint64_t)L->n;
        cl[i].c = ch + at;
        size_t first = at;
        for (int d = 0; d < 5; d++) {
            ch[at] = (dlor_choice){L->dbytes[d], L->sens * L->derr[d]};
            fm[at++] = (bits_form){0, BITS_DENSE[d], 0};
        }
        for (int64_t k = 1; k <= L->kcap; k++) {
            uint64_t ku = (uint64_t)k;
            ch[at] = (dlor_choice){2 * ku * (mu + nu), L->sens_lr * L->curve.err_dlor[k]};
            fm[at++] = (bits_form){1, DLOR_DT_F16, k};
            ch[at] = (dlor_choice){dlor_image_qbytes(DLOR_IMAGE_DT_Q8, ku, mu) + dlor_image_qbytes(DLOR_IMAGE_DT_Q8, ku, nu),
                                   L->sens_lr * L->curve.err_dlor[k]};
            fm[at++] = (bits_form){1, DLOR_DT_Q8, k};
            for (int b = 0; b < 2; b++) {
                ch[at] = (dlor_choice){L->qbytes[b] + 2 * ku * (mu + nu), L->sens * L->qerr[b][k]};
                fm[at++] = (bits_form){2, BITS_BASE[b], k};
            }
        }
        cl[i].n = (int64_t)(at - first);
    }
    uint64_t budget = (uint64_t)floor(cc->bits * weights / 8.0), used = 0;
    if (st == DLOR_OK) st = dlor_allocate_choices(cl, (int64_t)p->n, budget, pick, &used, err);
    if (st != DLOR_OK && err->code == DLOR_E_ARG)
        err->code = DLOR_E_USAGE; /* the target is below what the smallest forms take */
    for (size_t i = 0; i < p->n && st == DLOR_OK; i++) {
        plan_layer *L = &p->layers[i];
        const bits_form *f = &fm[(size_t)(cl[i].c - ch) + (size_t)pick[i]];
        L->dt = f->dt;
        L->qlr = f->form == 2;
        L->fit_beta = f->form == 1;
        L->corr_dt = DLOR_DT_F16;
        L->k = f->form == 0 ? DLOR_KEEP_DENSE : f->k;
    }
    free(ch);
    free(fm);
    free(cl);
    free(pick);
    return st;
}

/* Stores a fitted component as an add layer (K = r = k, L = 1, alpha = beta) or,
 * with --factors, as an exact product of m factors. */
static dlor_status store(const dlor_compress_cfg *cc, const plan_layer *L, const dlor_lowrank *lr,
                         dlor_container *c, dlor_error *err)
{
    dlor_factored f;
    dlor_status st;
    memset(&f, 0, sizeof f);
    if (cc->factors > 0) {
        st = dlor_lowrank_to_mul(L->t->name, lr, cc->factors, L->dt, &f, err);
        if (st != DLOR_OK) return st;
    } else {
        f.method = DLOR_METHOD_ADD;
        f.basis = DLOR_BASIS_SVD;
        f.m = L->m;
        f.n = L->n;
        f.dim_u = L->m;
        f.dim_v = L->n;
        f.rank = f.k = lr->k;
        f.factors = 1;
        f.alpha = lr->beta;
        f.ut = lr->pt; /* borrowed: not freed here */
        f.vt = lr->qt;
    }
    if (L->qlr) {
        st = dlor_store_with_base(c, L->t, &f, L->corr_dt, L->base, L->base_nbytes, L->dt, err);
        ((plan_layer *)L)->base = NULL; /* the container's now */
        return st;
    }
    st = dlor_store_factored(c, L->t, &f, L->dt, 0, err);
    if (cc->factors > 0) dlor_factored_free(&f);
    return st;
}

/* The dense copy of a layer kept dense, when its storage dtype (the one asked for,
 * or the one --budget-bits chose) is narrower than the layer's: a layer the target
 * keeps dense is still a converted layer, so --dtype f16 halves it like the factors;
 * it is never widened. Encoded into L->part while the layer's doubles are loaded. */
static dlor_status narrow_dense(plan_layer *L, dlor_error *err)
{
    uint64_t nb = 0;
    if (dlor_shape_nbytes(L->t->dims, 2, L->dt, &nb) != 0 || nb >= L->t->nbytes) return DLOR_OK;
    unsigned char *buf = malloc(nb ? (size_t)nb : 1);
    if (!buf) return dlor_fail(err, DLOR_E_NOMEM, "out of memory storing '%s'", L->t->name);
    dlor_status st = dlor_encode_matrix(L->w, L->t->dims[0], L->t->dims[1], L->dt, buf, L->t->name, err);
    if (st == DLOR_OK) st = dlor_tensor_list_own(&L->part.tensors, buf, err);
    else free(buf);
    if (st == DLOR_OK)
        st = dlor_tensor_list_add(&L->part.tensors, "input", L->t->name, strlen(L->t->name), L->dt, 2,
                                  L->t->dims, buf, nb, err);
    return st;
}

/* Carries a layer over dense (its narrowed copy, or the source's bytes) and
 * records its name for dlor.kept_dense. */
static dlor_status keep_dense(plan_layer *L, dlor_container *c, char *kept, size_t kept_len, dlor_error *err)
{
    size_t used = strlen(kept), nlen = strlen(L->t->name);
    if (used + nlen + 2 > kept_len)
        return dlor_fail(err, DLOR_E_ARG, "too many layers kept dense to list in dlor.kept_dense (%zu bytes at most)",
                         kept_len - 1);
    snprintf(kept + used, kept_len - used, "%s%s", used ? "," : "", L->t->name);
    if (L->part.tensors.count) return DLOR_OK; /* moved in by the caller */
    return dlor_tensor_list_add(&c->tensors, "input", L->t->name, nlen, L->t->dtype, 2, L->t->dims, L->t->data,
                                L->t->nbytes, err);
}

/* Moves a layer's part (tensors, the blocks that hold their bytes, layers) into c. */
static dlor_status move_part(dlor_container *part, dlor_container *c, dlor_error *err)
{
    dlor_status st = DLOR_OK;
    for (size_t q = 0; q < part->tensors.nblocks && st == DLOR_OK; q++) {
        void *b = part->tensors.blocks[q];
        part->tensors.blocks[q] = NULL; /* c owns it now (or freed it, failing) */
        st = dlor_tensor_list_own(&c->tensors, b, err);
    }
    if (st == DLOR_OK) st = dlor_store_part(c, part, err);
    dlor_container_free(part);
    dlor_container_init(part);
    return st;
}

/* Layer L's weights in double precision, checked finite, into L->w; the
 * source's pages of the layer are then released. A qlr layer also gets its
 * quantized base and the residual its correction fits (qlr_prepare). */
static dlor_status load_layer(const plan *p, plan_layer *L, dlor_error *err)
{
    int64_t mn = L->m * L->n;
    L->w = malloc((size_t)(mn ? mn : 1) * sizeof *L->w);
    if (!L->w) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", L->t->name);
    dlor_status st = dlor_tensor_to_f64(L->t, L->w, err);
    for (int64_t j = 0; st == DLOR_OK && j < mn; j++)
        if (!isfinite(L->w[j]))
            st = dlor_fail(err, DLOR_E_NUMERIC, "layer '%s': entry [%lld, %lld] is not finite", L->t->name,
                           (long long)(j / L->n), (long long)(j % L->n));
    dlor_tensor_release(p->src, L->t);
    if (st == DLOR_OK && L->qlr) st = qlr_prepare(L, err);
    return st;
}

/* Frees what load_layer made: the doubles, and qlr's residual and base (unless
 * the fit stored the base in L->part). */
static void drop_layer(plan_layer *L)
{
    free(L->w);
    free(L->r);
    free(L->base);
    L->w = L->r = NULL;
    L->base = NULL;
}

static void plan_free(plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->layers[i].w);
        free(p->layers[i].chol);
        free(p->layers[i].base);
        free(p->layers[i].r);
        free(p->layers[i].qerr[0]);
        free(p->layers[i].qerr[1]);
        dlor_curve_free(&p->layers[i].curve);
        dlor_container_free(&p->layers[i].part);
        dlor_lowrank_free(&p->layers[i].lr);
    }
    free(p->layers);
}

/* Error curves of layer i (for --tol and --budget). */
static dlor_status curve_task(void *ctx, size_t i, dlor_error *err)
{
    plan *p = ctx;
    plan_layer *L = &p->layers[i];
    const dlor_compress_cfg *cc = p->cc;
    if (cc->rank > 0 || (L->kcap < 1 && !cc->has_bits)) return DLOR_OK;
    dlor_status st = dlor_hooks_poll(p->hooks, i, p->n, L->t->name, err);
    if (st != DLOR_OK) return st;
    st = load_layer(p, L, err);
    if (st == DLOR_OK && cc->has_bits) {
        st = bits_curves(L, err);
    } else if (st == DLOR_OK) {
        dlor_curve_opts co = {!L->fit_beta, 0.0, 0}; /* --method svd: only the SVD curve */
        st = dlor_error_curves_ex(L->t->name, L->qlr ? L->r : L->w, L->m, L->n, L->kcap, L->chol, &co, &L->curve,
                                  err);
        if (st == DLOR_OK && L->qlr) /* relative to W, not to the residual */
            for (int64_t k = 0; k <= L->curve.kmax; k++) L->curve.err_svd[k] *= L->chol ? L->ratio_d : L->ratio_w;
    }
    drop_layer(L);
    if (st == DLOR_OK && cc->has_tol)
        L->k = dlor_rank_for_tol(L->fit_beta ? L->curve.err_dlor : L->curve.err_svd, L->kcap, L->m, L->n,
                                 L->fit_beta, cc->tol);
    return st;
}

/* The fit of layer i at its chosen rank; under --tol the rank steps up when the
 * fit misses what the curve promised, and the layer stays dense when even the
 * largest rank cheaper than dense misses. */
static dlor_status fit_layer(plan *p, plan_layer *L, size_t i, dlor_error *err)
{
    const dlor_compress_cfg *cc = p->cc;
    int with_beta = L->fit_beta;
    double t0 = now_s();
    dlor_lowrank lr;
    memset(&lr, 0, sizeof lr);
    if (L->k == DLOR_KEEP_DENSE) return narrow_dense(L, err);
    dlor_status st = dlor_hooks_poll(p->hooks, i, p->n, L->t->name, err);
    if (st != DLOR_OK) return st;
    for (;;) {
        dlor_lowrank_opts o = dlor_lowrank_defaults();
        o.beta_mode = with_beta ? DLOR_BETA_FIT : DLOR_BETA_ZERO;
        o.chol = L->chol;
        if (with_beta && L->curve.beta && L->k <= L->curve.kmax) {
            o.has_start = 1;
            o.beta = L->curve.beta[L->k];
        }
        st = dlor_lowrank_fit(L->t->name, L->qlr ? L->r : L->w, L->m, L->n, L->k, &o, &lr, err);
        if (st != DLOR_OK) return st;
        if (L->qlr) { /* relative to W, not to the residual */
            lr.rel_err *= L->ratio_w;
            lr.rel_err_data *= L->ratio_d;
        }
        if (!cc->has_tol) break;
        double e = L->chol ? lr.rel_err_data : lr.rel_err;
        if (e <= cc->tol || L->k >= L->kcap) break;
        dlor_lowrank_free(&lr);
        L->k++;
    }
    if (cc->has_tol && (L->chol ? lr.rel_err_data : lr.rel_err) > cc->tol) {
        dlor_lowrank_free(&lr);
        L->k = DLOR_KEEP_DENSE;
        L->secs = now_s() - t0;
        return narrow_dense(L, err);
    }
    L->beta = lr.beta;
    L->rel_err = lr.rel_err;
    L->rel_err_data = lr.rel_err_data;
    if (cc->factors > 0) {
        L->lr = lr; /* stored after the parallel fits */
        L->has_lr = 1;
        L->secs = now_s() - t0;
        return DLOR_OK;
    }
    st = store(cc, L, &lr, &L->part, err);
    dlor_lowrank_free(&lr);
    L->has_lr = st == DLOR_OK;
    L->secs = now_s() - t0;
    return st;
}

/* Layer i loaded, fitted at its chosen rank (under --tol the rank steps up when
 * the fit misses what the curve promised, and the layer stays dense when even the
 * largest rank cheaper than dense misses), encoded, and released. */
static dlor_status fit_task(void *ctx, size_t i, dlor_error *err)
{
    plan *p = ctx;
    plan_layer *L = &p->layers[i];
    dlor_status st = load_layer(p, L, err);
    if (st == DLOR_OK) st = fit_layer(p, L, i, err);
    drop_layer(L);
    return st;
}

/* The tasks as the parallel loop runs them: each also counts for the progress lines. */
static dlor_status curve_step(void *ctx, size_t i, dlor_error *err)
{
    plan *p = ctx;
    dlor_status st = curve_task(ctx, i, err);
    dlor_progress_step(&p->prog, layer_work(&p->layers[i]));
    return st;
}

static dlor_status fit_step(void *ctx, size_t i, dlor_error *err)
{
    plan *p = ctx;
    dlor_status st = fit_task(ctx, i, err);
    dlor_progress_step(&p->prog, layer_work(&p->layers[i]));
    return st;
}

dlor_status dlor_compress_layers(const dlor_compress_cfg *cc, const dlor_tensor_list *src, const dlor_graph *g,
                                 const int *selected, dlor_container *c, const dlor_convert_hooks *hooks, char *kept_dense,
                                 size_t kept_len, dlor_error *err)
{
    plan p;
    memset(&p, 0, sizeof p);
    p.err = err;
    p.src = src;
    p.cc = cc;
    p.hooks = hooks;
    int progress = hooks && hooks->verbose;
    dlor_status st = DLOR_OK;
    int with_beta = cc->fit_beta;
    kept_dense[0] = 0;
    p.layers = calloc(src->count ? src->count : 1, sizeof *p.layers);
    if (!p.layers) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    for (size_t i = 0; i < src->count && st == DLOR_OK; i++) {
        if (!selected[i]) continue;
        plan_layer *L = &p.layers[p.n++];
        L->t = &src->items[i];
        L->m = (int64_t)L->t->dims[0];
        L->n = (int64_t)L->t->dims[1];
        L->kcap = dlor_compress_rank_cap(L->m, L->n, with_beta);
        L->qlr = cc->qlr;
        L->fit_beta = cc->fit_beta;
        L->dt = cc->storage;
        L->corr_dt = cc->corr_storage;
        dlor_container_init(&L->part);
    }
    int blas = dlor_parallel_blas_begin(cc->jobs); /* from the calibration pass to the last fit */
    if (st == DLOR_OK && cc->calib) st = load_calibration(cc, src, g, &p, err);
    if (st == DLOR_OK && cc->acts) st = load_calib_acts(cc, &p, err);
    if (st == DLOR_OK) whiten_note(&p);
    for (size_t i = 0; i < p.n; i++) p.layers[i].sens = p.layers[i].sens_lr = 1.0;
    if (st == DLOR_OK && cc->calib && ((cc->has_budget && !cc->allocate_uniform) || cc->has_bits))
        st = measure_sensitivity(cc, src, g, &p, err);
    for (size_t i = 0; i < p.n; i++) dlor_tensor_release(src, p.layers[i].t); /* what calibration read */

    /* Ranks: explicit (a layer the rank would not make smaller stays dense), or from the
     * error curves (smallest meeting --tol, or the budget allocation). */
    for (size_t i = 0; i < p.n && st == DLOR_OK; i++) {
        plan_layer *L = &p.layers[i];
        if (cc->rank > 0) L->k = cc->rank <= L->kcap ? cc->rank : DLOR_KEEP_DENSE;
        else L->k = L->kcap < 1 ? DLOR_KEEP_DENSE : 0;
    }
    if (st == DLOR_OK && cc->rank <= 0) {
        dlor_progress_begin(&p.prog, cc->progress, "error curves", "layers", p.n, plan_work(&p));
        st = dlor_parallel_for(p.n, cc->jobs, curve_step, &p, err);
        dlor_progress_end(&p.prog);
    }
    if (st == DLOR_OK && cc->has_bits) st = bits_allocate(&p, err);
    if (st == DLOR_OK && cc->has_budget) dlor_progress_begin(&p.prog, cc->progress, "allocation", "steps", 1, 0);
    if (st == DLOR_OK && cc->has_budget) {
        dlor_alloc_layer *al = calloc(p.n ? p.n : 1, sizeof *al);
        int64_t *ks = calloc(p.n ? p.n : 1, sizeof *ks);
        double **scaled = calloc(p.n ? p.n : 1, sizeof *scaled);
        size_t na = 0;
        if (!al || !ks || !scaled) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        for (size_t i = 0; st == DLOR_OK && i < p.n; i++) {
            plan_layer *L = &p.layers[i];
            if (L->kcap < 1) continue;
            const double *e = with_beta ? L->curve.err_dlor : L->curve.err_svd;
            al[na].m = L->m;
            al[na].n = L->n;
            al[na].kmax = L->kcap;
            al[na].err = e;
            if (L->sens != 1.0) { /* the errors weighed by the layer's end-to-end sensitivity */
                scaled[na] = malloc((size_t)(L->kcap + 1) * sizeof(double));
                if (!scaled[na]) {
                    st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
                    break;
                }
                for (int64_t k = 0; k <= L->kcap; k++) scaled[na][k] = L->sens * e[k];
                al[na].err = scaled[na];
            }
            na++;
        }
        if (st == DLOR_OK && cc->allocate_uniform)
            for (size_t i = 0; i < na; i++) ks[i] = uniform_rank(al[i].m, al[i].n, al[i].kmax, with_beta, cc->budget);
        else if (st == DLOR_OK)
            st = cc->allocate_sum ? dlor_allocate_sum(al, (int64_t)na, cc->budget, with_beta, ks, NULL, NULL, err)
                                  : dlor_allocate(al, (int64_t)na, cc->budget, with_beta, ks, NULL, NULL, err);
        for (size_t i = 0, j = 0; st == DLOR_OK && i < p.n; i++)
            if (p.layers[i].kcap >= 1) p.layers[i].k = ks[j++];
        if (st == DLOR_OK && cc->calib && !cc->allocate_uniform) st = keep_better_than_uniform(&p, src, g, err);
        for (size_t i = 0; scaled && i < na; i++) free(scaled[i]);
        free(scaled);
        free(al);
        free(ks);
        dlor_progress_step(&p.prog, 0);
        dlor_progress_end(&p.prog);
    }

    /* Fit (in parallel), then store in order. */
    if (st == DLOR_OK) {
        dlor_progress_begin(&p.prog, cc->progress, "fits", "layers", p.n, plan_work(&p));
        st = dlor_parallel_for(p.n, cc->jobs, fit_step, &p, err);
        dlor_progress_end(&p.prog);
    }
    dlor_parallel_blas_end(blas);
    for (size_t i = 0; i < p.n && st == DLOR_OK; i++) {
        plan_layer *L = &p.layers[i];
        char shape[64];
        dlor_shape_str(L->t->dims, 2, shape, sizeof shape);
        if (!L->has_lr) {
            char why[160];
            if (cc->has_bits)
                snprintf(why, sizeof why, "in %s: --budget-bits chose it", dlor_dtype_name(L->dt));
            else if (cc->rank > 0)
                dlor_compress_rank_note(cc->rank, L->m, L->n, cc->fit_beta, why, sizeof why);
            else
                snprintf(why, sizeof why, "%s", L->kcap < 1 ? "no rank is cheaper than dense"
                                                : cc->has_budget ? "the budget is better spent elsewhere"
                                                                 : "no smaller form meets the target");
            st = keep_dense(L, c, kept_dense, kept_len, err);
            if (st == DLOR_OK) st = move_part(&L->part, c, err);
            if (progress)
                dlor_hooks_line(hooks, 0, "[%zu/%zu] %-32s %-14s kept dense (%s)", i + 1, p.n, L->t->name, shape, why);
            continue;
        }
        if (cc->factors > 0) {
            st = store(cc, L, &L->lr, &L->part, err);
            dlor_lowrank_free(&L->lr);
        }
        if (st == DLOR_OK) st = move_part(&L->part, c, err);
        if (progress && st == DLOR_OK) {
            char data_err[48] = "";
            if (L->chol) snprintf(data_err, sizeof data_err, " data-err=%.3g", L->rel_err_data);
            if (cc->has_bits) /* the form's dtypes: the allocation chose them */
                snprintf(data_err + strlen(data_err), sizeof data_err - strlen(data_err), " %s%s", dlor_dtype_name(L->dt),
                         L->qlr ? "+f16" : "");
            dlor_hooks_line(hooks, 0, "[%zu/%zu] %-32s %-14s %s k=%lld beta=%.4g err=%.3g%s %.2f s", i + 1, p.n,
                            L->t->name, shape, L->qlr ? "qlr" : cc->factors > 0 ? "mul" : (L->fit_beta ? "dlor" : "svd"),
                            (long long)L->k, L->beta, L->rel_err, data_err, L->secs);
        }
    }
    plan_free(&p);
    return st;
}
