/* compress_alloc.c - spending a parameter budget across layers (minimise the largest
 * per-layer error) and the per-layer rank for an error tolerance. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_compress.h"
#include "factor_internal.h"

/* Ranks worth storing: strictly cheaper than the dense layer. */
static int64_t useful_kmax(const dlor_alloc_layer *L, int with_beta)
{
    int64_t k = 0;
    while (k < L->kmax && dlor_lowrank_params(L->m, L->n, k + 1, with_beta) < L->m * L->n) k++;
    return k;
}

int64_t dlor_rank_for_tol(const double *err, int64_t kmax, int64_t m, int64_t n, int with_beta,
                          double tol)
{
    if (!err || m <= 0 || n <= 0) return DLOR_KEEP_DENSE;
    for (int64_t k = 1; k <= kmax; k++) {
        if (dlor_lowrank_params(m, n, k, with_beta) >= m * n) break;
        if (err[k] <= tol) return k;
    }
    return DLOR_KEEP_DENSE;
}

/* The cheapest option of layer L with error <= t: the smallest such rank (a larger rank
 * always costs more), else dense. */
static int64_t pick(const dlor_alloc_layer *L, int64_t kuse, double t)
{
    for (int64_t k = 1; k <= kuse; k++)
        if (L->err[k] <= t) return k;
    return DLOR_KEEP_DENSE;
}

static int64_t cost(const dlor_alloc_layer *L, int64_t k, int with_beta)
{
    return k == DLOR_KEEP_DENSE ? L->m * L->n : dlor_lowrank_params(L->m, L->n, k, with_beta);
}

static double kerr(const dlor_alloc_layer *L, int64_t k)
{
    return k == DLOR_KEEP_DENSE ? 0.0 : L->err[k];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

dlor_status dlor_allocate(const dlor_alloc_layer *layers, int64_t nlayers, double budget,
                          int with_beta, int64_t *k_out, double *max_err, int64_t *params,
                          dlor_error *err)
{
    if (!layers || !k_out || nlayers <= 0)
        return dlor_fail(err, DLOR_E_ARG, "allocate: no layers");
    if (!(budget > 0.0) || !isfinite(budget))
        return dlor_fail(err, DLOR_E_ARG, "allocate: budget %g must be a positive fraction",
                         budget);
    /* int64 sums of m n: each layer is bounded so the total cannot wrap for any real model. */
    double dense_total = 0.0, min_total = 0.0;
    int64_t ncand = 1;
    for (int64_t l = 0; l < nlayers; l++) {
        const dlor_alloc_layer *L = &layers[l];
        if (L->m <= 0 || L->n <= 0 || L->m > INT32_MAX || L->n > INT32_MAX || L->kmax < 0 ||
            L->kmax > (L->m < L->n ? L->m : L->n) || (L->kmax > 0 && !L->err))
            return dlor_fail(err, DLOR_E_ARG, "allocate: layer %lld has a bad shape or curve",
                             (long long)l);
        for (int64_t k = 1; k <= L->kmax; k++)
            if (!(L->err[k] >= 0.0) || !isfinite(L->err[k]))
                return dlor_fail(err, DLOR_E_ARG, "allocate: layer %lld: error %g at rank %lld",
                                 (long long)l, L->err[k], (long long)k);
        int64_t kuse = useful_kmax(L, with_beta);
        dense_total += (double)L->m * (double)L->n;
        min_total += (double)cost(L, kuse >= 1 ? 1 : DLOR_KEEP_DENSE, with_beta);
        ncand += kuse;
    }
    const double cap = budget * dense_total;
    if (min_total > cap)
        return dlor_fail(err, DLOR_E_ARG,
                         "allocate: budget %.4g is below the %.4g that one rank per layer needs",
                         budget, min_total / dense_total);

    /* Candidate thresholds: 0 (dense everywhere) and every attainable error. */
    double *cand = dlor__alloc((size_t)ncand, sizeof *cand);
    int64_t *kk = dlor__alloc((size_t)nlayers, sizeof *kk);
    int64_t *kuse = dlor__alloc((size_t)nlayers, sizeof *kuse);
    if (!cand || !kk || !kuse) {
        free(cand);
        free(kk);
        free(kuse);
        return dlor_fail(err, DLOR_E_NOMEM, "allocate: out of memory");
    }
    int64_t nc = 0;
    cand[nc++] = 0.0;
    for (int64_t l = 0; l < nlayers; l++) {
        kuse[l] = useful_kmax(&layers[l], with_beta);
        for (int64_t k = 1; k <= kuse[l]; k++) cand[nc++] = layers[l].err[k];
    }
    qsort(cand, (size_t)nc, sizeof *cand, cmp_double);

    /* The cost of the cheapest configuration meeting threshold t falls as t grows, and the
     * largest candidate is feasible (checked above): bisect for the smallest feasible. */
    int64_t lo = 0, hi = nc - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        double c = 0.0;
        for (int64_t l = 0; l < nlayers; l++)
            c += (double)cost(&layers[l], pick(&layers[l], kuse[l], cand[mid]), with_beta);
        if (c <= cap)
            hi = mid;
        else
            lo = mid + 1;
    }
    double used = 0.0;
    for (int64_t l = 0; l < nlayers; l++) {
        kk[l] = pick(&layers[l], kuse[l], cand[lo]);
        used += (double)cost(&layers[l], kk[l], with_beta);
    }

    /* Leftover: repeatedly give the layer with the largest error (among those that can still
     * afford it) its cheapest strictly better option. */
    for (;;) {
        int64_t best_l = -1, best_k = 0;
        double best_e = -1.0;
        for (int64_t l = 0; l < nlayers; l++) {
            const dlor_alloc_layer *L = &layers[l];
            double e = kerr(L, kk[l]);
            if (kk[l] == DLOR_KEEP_DENSE || e <= best_e) continue;
            int64_t nk = DLOR_KEEP_DENSE;
            for (int64_t k = kk[l] + 1; k <= kuse[l]; k++)
                if (L->err[k] < e) {
                    nk = k;
                    break;
                }
            double extra = (double)(cost(L, nk, with_beta) - cost(L, kk[l], with_beta));
            if (used + extra > cap) continue;
            best_l = l;
            best_k = nk;
            best_e = e;
        }
        if (best_l < 0) break;
        used += (double)(cost(&layers[best_l], best_k, with_beta) -
                         cost(&layers[best_l], kk[best_l], with_beta));
        kk[best_l] = best_k;
    }

    double emax = 0.0;
    int64_t total = 0;
    for (int64_t l = 0; l < nlayers; l++) {
        emax = fmax(emax, kerr(&layers[l], kk[l]));
        total += cost(&layers[l], kk[l], with_beta);
        k_out[l] = kk[l];
    }
    if (max_err) *max_err = emax;
    if (params) *params = total;
    free(cand);
    free(kk);
    free(kuse);
    return DLOR_OK;
}

/* The sum objective: minimise sum_l err_l^2 (relative errors squared) within the budget.
 * Greedy by marginal value: starting from each layer's cheapest option, repeatedly take
 * the affordable step with the largest decrease of err^2 per stored number, where a step
 * is one more rank or the jump to the dense layer. For error curves from singular values
 * the decrease per rank shrinks as k grows (sigma_(k+1)^2 / ||W||^2), which is the
 * condition under which this greedy choice is optimal up to the last, partly filled
 * step; where that last step leaves budget unused, the minimax allocation (which spends
 * it) can have the smaller sum, and then it is returned instead. Unlike the minimax
 * objective, cheap layers whose error would stay large (a small classifier head) get the
 * ranks they need. */
dlor_status dlor_allocate_sum(const dlor_alloc_layer *layers, int64_t nlayers, double budget, int with_beta,
                              int64_t *k_out, double *sum_err2, int64_t *params, dlor_error *err)
{
    int64_t *k0 = NULL, *kmm = NULL;
    double e2 = 0, e2mm = 0;
    /* The minimax allocation validates the input (and words the infeasible-budget error);
     * it is also a candidate: greedy steps can leave budget unused that it spends. */
    k0 = dlor__alloc((size_t)(nlayers > 0 ? nlayers : 1), sizeof *k0);
    kmm = dlor__alloc((size_t)(nlayers > 0 ? nlayers : 1), sizeof *kmm);
    if (!k0 || !kmm) {
        free(k0);
        free(kmm);
        return dlor_fail(err, DLOR_E_NOMEM, "allocate: out of memory");
    }
    dlor_status st = dlor_allocate(layers, nlayers, budget, with_beta, kmm, NULL, NULL, err);
    if (st != DLOR_OK) {
        free(k0);
        free(kmm);
        return st;
    }
    double dense_total = 0, total = 0;
    for (int64_t l = 0; l < nlayers; l++) {
        const dlor_alloc_layer *L = &layers[l];
        int64_t kuse = useful_kmax(L, with_beta);
        dense_total += (double)L->m * (double)L->n;
        k0[l] = kuse >= 1 ? 1 : DLOR_KEEP_DENSE;
        total += (double)cost(L, k0[l], with_beta);
    }
    const double cap = budget * dense_total;
    for (;;) {
        int64_t best_l = -1, best_k = 0;
        double best_ratio = 0;
        for (int64_t l = 0; l < nlayers; l++) {
            const dlor_alloc_layer *L = &layers[l];
            if (k0[l] == DLOR_KEEP_DENSE) continue;
            int64_t kuse = useful_kmax(L, with_beta), options[2] = {k0[l] + 1, DLOR_KEEP_DENSE};
            for (int o = 0; o < 2; o++) {
                int64_t k = options[o];
                if (k != DLOR_KEEP_DENSE && k > kuse) continue;
                double dc = (double)(cost(L, k, with_beta) - cost(L, k0[l], with_beta));
                double gain = kerr(L, k0[l]) * kerr(L, k0[l]) - kerr(L, k) * kerr(L, k);
                if (dc <= 0 || gain <= 0 || total + dc > cap) continue;
                if (gain / dc > best_ratio) {
                    best_ratio = gain / dc;
                    best_l = l;
                    best_k = k;
                }
            }
        }
        if (best_l < 0) break;
        total += (double)(cost(&layers[best_l], best_k, with_beta) - cost(&layers[best_l], k0[best_l], with_beta));
        k0[best_l] = best_k;
    }
    for (int64_t l = 0; l < nlayers; l++) {
        e2 += kerr(&layers[l], k0[l]) * kerr(&layers[l], k0[l]);
        e2mm += kerr(&layers[l], kmm[l]) * kerr(&layers[l], kmm[l]);
    }
    const int64_t *pick_k = e2mm < e2 ? kmm : k0;
    int64_t p = 0;
    for (int64_t l = 0; l < nlayers; l++) {
        k_out[l] = pick_k[l];
        p += cost(&layers[l], pick_k[l], with_beta);
    }
    if (sum_err2) *sum_err2 = e2mm < e2 ? e2mm : e2;
    if (params) *params = p;
    free(k0);
    free(kmm);
    return DLOR_OK;
}

/* The lower convex hull of a layer's choices in (bytes, err^2), cheapest first: indices into
 * c, written to h; returns their count. Pareto first (each next choice costs more and errs
 * less), then the points under the chords dropped. */
static int64_t choice_hull(const dlor_choice *c, int64_t n, int64_t *order, int64_t *h)
{
    for (int64_t i = 0; i < n; i++) order[i] = i;
    /* insertion sort by (bytes, err): lists are a few thousand long and mostly in order */
    for (int64_t i = 1; i < n; i++) {
        int64_t v = order[i], j = i;
        while (j > 0 && (c[order[j - 1]].bytes > c[v].bytes ||
                         (c[order[j - 1]].bytes == c[v].bytes && c[order[j - 1]].err > c[v].err))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    int64_t nh = 0;
    for (int64_t i = 0; i < n; i++) {
        const dlor_choice *p = &c[order[i]];
        if (nh && !(p->err < c[h[nh - 1]].err)) continue; /* costs no less, errs no less */
        double e2 = p->err * p->err;
        while (nh >= 2) {
            const dlor_choice *a = &c[h[nh - 2]], *b = &c[h[nh - 1]];
            double ea = a->err * a->err, eb = b->err * b->err;
            /* b lies on or above the chord from a to p: drop it */
            double lhs = (eb - ea) * (double)(p->bytes - a->bytes), rhs = (e2 - ea) * (double)(b->bytes - a->bytes);
            if (lhs >= rhs) nh--;
            else break;
        }
        h[nh++] = order[i];
    }
    return nh;
}

dlor_status dlor_allocate_choices(const dlor_choice_layer *layers, int64_t nlayers, uint64_t budget, int64_t *pick,
                                  uint64_t *used, dlor_error *err)
{
    if (!layers || nlayers < 0 || (nlayers > 0 && !pick))
        return dlor_fail(err, DLOR_E_ARG, "allocate: NULL argument or negative layer count");
    int64_t total = 0;
    for (int64_t i = 0; i < nlayers; i++) {
        if (!layers[i].c || layers[i].n < 1) return dlor_fail(err, DLOR_E_ARG, "allocate: layer %lld has no choice",
                                                               (long long)i);
        for (int64_t j = 0; j < layers[i].n; j++)
            if (!(layers[i].c[j].err >= 0) || !isfinite(layers[i].c[j].err))
                return dlor_fail(err, DLOR_E_ARG, "allocate: layer %lld, choice %lld: error %g", (long long)i,
                                 (long long)j, layers[i].c[j].err);
        total += layers[i].n;
    }
    int64_t *hull = malloc((size_t)(total ? total : 1) * sizeof *hull);
    int64_t *order = malloc((size_t)(total ? total : 1) * sizeof *order);
    int64_t *start = malloc((size_t)(nlayers + 1) * sizeof *start), *at = calloc((size_t)(nlayers ? nlayers : 1), sizeof *at);
    if (!hull || !order || !start || !at) {
        free(hull);
        free(order);
        free(start);
        free(at);
        return dlor_fail(err, DLOR_E_NOMEM, "allocate: out of memory");
    }
    uint64_t spent = 0;
    start[0] = 0;
    for (int64_t i = 0; i < nlayers; i++) {
        int64_t nh = choice_hull(layers[i].c, layers[i].n, order + start[i], hull + start[i]);
        start[i + 1] = start[i] + nh;
        spent += layers[i].c[hull[start[i]]].bytes;
    }
    dlor_status st = DLOR_OK;
    if (spent > budget) {
        st = dlor_fail(err, DLOR_E_ARG, "the cheapest forms of the layers take %llu bytes, more than the budget's %llu",
                       (unsigned long long)spent, (unsigned long long)budget);
    }
    while (st == DLOR_OK) {
        int64_t best = -1;
        double best_slope = 0;
        for (int64_t i = 0; i < nlayers; i++) {
            int64_t a = start[i] + at[i];
            if (a + 1 >= start[i + 1]) continue;
            const dlor_choice *p = &layers[i].c[hull[a]], *q = &layers[i].c[hull[a + 1]];
            if (q->bytes - p->bytes > budget - spent) continue;
            double slope = (p->err * p->err - q->err * q->err) / (double)(q->bytes - p->bytes);
            if (best < 0 || slope > best_slope) {
                best = i;
                best_slope = slope;
            }
        }
        if (best < 0) break;
        int64_t a = start[best] + at[best];
        spent += layers[best].c[hull[a + 1]].bytes - layers[best].c[hull[a]].bytes;
        at[best]++;
    }
    if (st == DLOR_OK) {
        for (int64_t i = 0; i < nlayers; i++) pick[i] = hull[start[i] + at[i]];
        if (used) *used = spent;
    }
    free(hull);
    free(order);
    free(start);
    free(at);
    return st;
}
