/* network.c - the network form of DLoR layers (Appendix E.1 deep, Theorem 3/6 wide),
 * its evaluation through the runtime, and the search for the scaling h.
 * See network.h for the construction. */
#define _POSIX_C_SOURCE 200809L
#include "network.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_graph_eval.h"
#include "dlor_host.h"
#include "dlor_runtime.h"
#include "dlor_splitmix.h"

void dlor_net_opts_default(dlor_net_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kind = DLOR_NET_DEEP;
    o->beta = DLOR_NET_BETA_PAIRED;
    o->basis = DLOR_BASIS_SCHUR;
    o->rank = 16;
    o->alpha = 1.0;
    o->c = 0.5;
}

/* ---- the activation at the expansion point ----------------------------------- */

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

dlor_status dlor_net_rho(dlor_act act, double p, double c, double *rho_c, double *drho_c, dlor_error *err)
{
    const char *an = dlor_act_name(act);
    double r, d;
    if (!isfinite(c)) return dlor_fail(err, DLOR_E_ARG, "the expansion point c = %g is not finite", c);
    switch (act) {
    case DLOR_ACT_IDENTITY: r = c; d = 1.0; break;
    case DLOR_ACT_RELU:
    case DLOR_ACT_LEAKY_RELU: {
        double slope = act == DLOR_ACT_RELU ? 0.0 : p;
        if (c == 0.0)
            return dlor_fail(err, DLOR_E_USAGE,
                             "c = 0: %s has no derivative at 0, and the construction divides by rho'(c); "
                             "pick c > 0 (in the linear regime, where rho'(c) = 1)", an);
        r = c > 0 ? c : slope * c;
        d = c > 0 ? 1.0 : slope;
        break;
    }
    case DLOR_ACT_SIGMOID: r = sigmoid(c); d = r * (1.0 - r); break;
    case DLOR_ACT_TANH: r = tanh(c); d = 1.0 - r * r; break;
    case DLOR_ACT_SOFTPLUS: r = (c > 0 ? c : 0) + log1p(exp(-fabs(c))); d = sigmoid(c); break;
    case DLOR_ACT_GELU_ERF: {
        double phi = exp(-0.5 * c * c) * 0.39894228040143268;
        r = 0.5 * c * (1.0 + erf(c * 0.70710678118654752));
        d = 0.5 * (1.0 + erf(c * 0.70710678118654752)) + c * phi;
        break;
    }
    case DLOR_ACT_GELU_TANH: {
        const double k = 0.79788456080286536;
        double u = k * (c + 0.044715 * c * c * c), t = tanh(u);
        r = 0.5 * c * (1.0 + t);
        d = 0.5 * (1.0 + t) + 0.5 * c * (1.0 - t * t) * k * (1.0 + 3 * 0.044715 * c * c);
        break;
    }
    case DLOR_ACT_SILU: {
        double s = sigmoid(c);
        r = c * s;
        d = s * (1.0 + c * (1.0 - s));
        break;
    }
    default: return dlor_fail(err, DLOR_E_ARG, "unknown activation code %d", (int)act);
    }
    if (!isfinite(r) || !isfinite(d) || fabs(d) < 1e-8) {
        if (act == DLOR_ACT_RELU || act == DLOR_ACT_LEAKY_RELU)
            return dlor_fail(err, DLOR_E_USAGE,
                             "c = %g: %s has rho'(c) = %g there, and the construction divides by rho'(c); "
                             "pick c > 0 (in the linear regime, where rho'(c) = 1)", c, an, d);
        return dlor_fail(err, DLOR_E_USAGE,
                         "c = %g: %s has rho'(c) = %.3g there (zero or too close to it), and the construction "
                         "divides by rho'(c); pick a c where the activation is not flat (e.g. c = 0.5)",
                         c, an, d);
    }
    *rho_c = r;
    *drho_c = d;
    return DLOR_OK;
}

/* ---- the plan: factors computed once ----------------------------------------- */

void dlor_net_plan_free(dlor_net_plan *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->nlayers; i++) {
        dlor_factored_free(&p->layers[i].f);
        free(p->layers[i].w);
        free(p->layers[i].b);
    }
    free(p->layers);
    memset(p, 0, sizeof *p);
}

/* The activation used between the sub-layers of LINEAR op i: the one that follows
 * it, else the nearest one before it, else the first one after it (identity
 * activations are skipped). Returns 0 when the graph has none. */
static int pick_act(const dlor_graph *g, size_t i, dlor_act *act, double *param)
{
    for (size_t j = i + 1; j < g->count && g->ops[j].kind != DLOR_OP_LINEAR; j++)
        if (g->ops[j].kind == DLOR_OP_ACT && g->ops[j].act != DLOR_ACT_IDENTITY) {
            *act = g->ops[j].act;
            *param = g->ops[j].param;
            return 1;
        }
    for (size_t j = i; j-- > 0;)
        if (g->ops[j].kind == DLOR_OP_ACT && g->ops[j].act != DLOR_ACT_IDENTITY) {
            *act = g->ops[j].act;
            *param = g->ops[j].param;
            return 1;
        }
    for (size_t j = i + 1; j < g->count; j++)
        if (g->ops[j].kind == DLOR_OP_ACT && g->ops[j].act != DLOR_ACT_IDENTITY) {
            *act = g->ops[j].act;
            *param = g->ops[j].param;
            return 1;
        }
    return 0;
}

dlor_status dlor_net_plan_make(const dlor_graph *g, const dlor_tensor_list *src, const dlor_net_opts *o,
                               const int *selected, const char *what, dlor_net_plan *p, dlor_error *err)
{
    dlor_net_plan q;
    memset(&q, 0, sizeof q);
    q.opts = *o;
    q.graph = g;
    q.src = src;
    if (o->rank < 1) return dlor_fail(err, DLOR_E_ARG, "%s: rank %lld must be >= 1", what, (long long)o->rank);
    if (o->kind != DLOR_NET_DEEP && o->kind != DLOR_NET_WIDE)
        return dlor_fail(err, DLOR_E_ARG, "%s: unknown construction %d", what, (int)o->kind);
    if (dlor_graph_is_dag(g))
        return dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: the network form takes a chain of layers (an MLP), not a graph "
                                                  "with inputs and values", what);
    dlor_status st = dlor_graph_check(g, src, what, NULL, NULL, err);
    if (st != DLOR_OK) return st;
    size_t nlin = 0;
    for (size_t i = 0; i < g->count; i++) nlin += g->ops[i].kind == DLOR_OP_LINEAR;
    q.layers = calloc(nlin ? nlin : 1, sizeof *q.layers);
    if (!q.layers) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
    /* First pass: shapes, selection, the activation and rho'(c) (cheap; refuses a bad c
     * before anything is factored). */
    int in_group = 0;
    for (size_t i = 0; i < g->count && st == DLOR_OK; i++) {
        const dlor_graph_op *op = &g->ops[i];
        if (op->kind == DLOR_OP_BRANCH) in_group = 1;
        if (op->kind == DLOR_OP_MERGE) in_group = 0;
        if (op->kind != DLOR_OP_LINEAR) continue;
        dlor_net_layer *L = &q.layers[q.nlayers++];
        const dlor_tensor *w = dlor_tensor_list_find(src, op->weight);
        L->op = i;
        L->weight = op->weight;
        L->bias = op->bias;
        L->m = (int64_t)w->dims[0];
        L->n = (int64_t)w->dims[1];
        L->converted = selected ? selected[w - src->items] : 1;
        if (!L->converted) continue;
        int64_t kmin = L->m < L->n ? L->m : L->n;
        L->exact = kmin <= o->rank;
        if (L->exact) continue;
        if (o->kind == DLOR_NET_WIDE && in_group) {
            st = dlor_fail(err, DLOR_E_UNSUPPORTED,
                           "%s: layer '%s' sits inside a branch group; the wide form would nest groups", what,
                           op->weight);
            break;
        }
        if (!pick_act(g, i, &L->act, &L->act_param)) {
            st = dlor_fail(err, DLOR_E_UNSUPPORTED,
                           "%s: the network form needs an activation between the sub-layers of '%s', and the "
                           "graph has none", what, op->weight);
            break;
        }
        st = dlor_net_rho(L->act, L->act_param, o->c, &L->rho_c, &L->drho_c, err);
        if (st != DLOR_OK) dlor_error_prefix(err, what);
    }
    /* Second pass: the dense weights and the factors. */
    for (size_t k = 0; k < q.nlayers && st == DLOR_OK; k++) {
        dlor_net_layer *L = &q.layers[k];
        if (!L->converted) continue;
        const dlor_tensor *w = dlor_tensor_list_find(src, L->weight);
        L->w = malloc((size_t)(L->m * L->n) * sizeof *L->w);
        if (L->bias) L->b = malloc((size_t)L->m * sizeof *L->b);
        if (!L->w || (L->bias && !L->b)) {
            st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory for '%s'", what, L->weight);
            break;
        }
        st = dlor_tensor_to_f64(w, L->w, err);
        if (st == DLOR_OK && L->bias) st = dlor_tensor_to_f64(dlor_tensor_list_find(src, L->bias), L->b, err);
        if (st == DLOR_OK) {
            int64_t bad = -1;
            for (int64_t j = 0; j < L->m * L->n && bad < 0; j++)
                if (!isfinite(L->w[j])) bad = j;
            if (bad >= 0)
                st = dlor_fail(err, DLOR_E_NUMERIC, "%s: tensor '%s': non-finite value at [%lld, %lld]", what,
                               L->weight, (long long)(bad / L->n), (long long)(bad % L->n));
            for (int64_t j = 0; st == DLOR_OK && L->b && j < L->m; j++)
                if (!isfinite(L->b[j]))
                    st = dlor_fail(err, DLOR_E_NUMERIC, "%s: tensor '%s': non-finite value at [%lld]", what, L->bias,
                                   (long long)j);
        }
        if (st != DLOR_OK || L->exact) continue;
        dlor_factor_opts fo;
        memset(&fo, 0, sizeof fo);
        fo.rank = o->rank;
        fo.storage = DLOR_DT_F64; /* alpha is kept exactly: every sub-layer record stores its own */
        fo.seed = o->seed;
        if (o->kind == DLOR_NET_DEEP) {
            fo.method = DLOR_METHOD_MUL;
            fo.basis = o->basis;
            fo.alpha_auto = o->alpha_auto;
            fo.alpha = o->alpha;
        } else {
            fo.method = DLOR_METHOD_ADD;
            fo.basis = DLOR_BASIS_SVD;
            fo.alpha_auto = 1; /* the paper's components: alpha = 0, rank-r pieces of the SVD */
        }
        st = dlor_factor(L->weight, L->w, L->m, L->n, &fo, &L->f, err);
        if (st != DLOR_OK) dlor_error_prefix(err, what);
    }
    if (st != DLOR_OK) {
        dlor_net_plan_free(&q);
        return st;
    }
    *p = q;
    return DLOR_OK;
}

/* ---- building the network form -------------------------------------------------- */

/* Adds a tensor of 'count' doubles, encoded in dt, under 'name'. */
static dlor_status add_tensor(dlor_container *c, const char *name, const double *x, int ndim, const uint64_t *dims,
                              dlor_dtype dt, dlor_error *err)
{
    size_t count = 1;
    for (int i = 0; i < ndim; i++) count *= (size_t)dims[i];
    size_t nbytes = count * dlor_dtype_size(dt);
    unsigned char *buf = malloc(nbytes ? nbytes : 1);
    if (!buf) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for tensor '%s'", name);
    dlor_encode_f64(x, count, dt, buf);
    dlor_status st = dlor_tensor_list_own(&c->tensors, buf, err);
    if (st != DLOR_OK) return st;
    return dlor_tensor_list_add(&c->tensors, "network form", name, strlen(name), dt, ndim, dims, buf, nbytes, err);
}

/* Makes sure c holds the source tensor 'name' (carried unchanged). */
static dlor_status need_src(dlor_container *c, const dlor_tensor_list *src, const char *name, dlor_error *err)
{
    if (!name || dlor_tensor_list_find(&c->tensors, name)) return DLOR_OK;
    const dlor_tensor *t = dlor_tensor_list_find(src, name);
    if (!t) return dlor_fail(err, DLOR_E_FORMAT, "tensor '%s' of the graph is missing", name);
    return dlor_tensor_list_add(&c->tensors, "network form", t->name, strlen(t->name), t->dtype, t->ndim, t->dims,
                                t->data, t->nbytes, err);
}

/* out = base + mid (+ "." idx when idx >= 0) + suffix, within DLOR_MAX_NAME. */
static dlor_status make_name(char *out, size_t n, dlor_error *err, const char *base, const char *mid, long idx,
                             const char *suffix)
{
    char ib[32] = "";
    if (idx >= 0) snprintf(ib, sizeof ib, ".%ld", idx);
    int k = snprintf(out, n, "%s%s%s%s", base, mid, ib, suffix);
    if (k < 0 || (size_t)k >= n || (size_t)k > DLOR_MAX_NAME)
        return dlor_fail(err, DLOR_E_LIMIT, "tensor '%s': name too long to add the network form's suffixes", base);
    return DLOR_OK;
}

/* One stored DLoR component: a layer record named 'name' with factor tensors
 * '<name>.dlor.U' (K x du: rows of ut, scaled by uscale) and '.dlor.V'. */
static dlor_status add_component(dlor_container *c, const char *name, int method, int basis, uint64_t rows,
                                 uint64_t cols, uint64_t K, double alpha, const double *ut, double uscale, int64_t du,
                                 const double *vt, int64_t dv, dlor_dtype storage, dlor_dtype src_dtype, uint64_t seed,
                                 dlor_error *err)
{
    char un[DLOR_MAX_NAME + 32], vn[DLOR_MAX_NAME + 32];
    dlor_status st = make_name(un, sizeof un, err, name, "", -1, ".dlor.U");
    if (st == DLOR_OK) st = make_name(vn, sizeof vn, err, name, "", -1, ".dlor.V");
    if (st != DLOR_OK) return st;
    double *us = malloc((size_t)K * (size_t)du * sizeof *us);
    if (!us) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", name);
    for (size_t j = 0; j < (size_t)K * (size_t)du; j++) us[j] = uscale * ut[j];
    uint64_t dims_u[2] = {K, (uint64_t)du}, dims_v[2] = {K, (uint64_t)dv};
    st = add_tensor(c, un, us, 2, dims_u, storage, err);
    free(us);
    if (st == DLOR_OK) st = add_tensor(c, vn, vt, 2, dims_v, storage, err);
    if (st != DLOR_OK) return st;
    dlor_layer_desc d;
    memset(&d, 0, sizeof d);
    d.name = (char *)name;
    d.method = method;
    d.basis = basis;
    d.rows = rows;
    d.cols = cols;
    d.rank = K;
    d.factors = 1;
    d.alpha = alpha;
    d.u_name = un;
    d.v_name = vn;
    d.source_dtype = src_dtype;
    d.seed = basis == DLOR_IMAGE_RANDOM ? seed : 0;
    return dlor_container_add_layer(c, &d, err);
}

/* A layer of rank bound <= r: W = U V^T exactly, with U = W, V = I (n <= m) or
 * U = I, V = W^T (m < n); stored under the weight's own name. */
static dlor_status build_exact(const dlor_net_layer *L, dlor_dtype src_dtype, dlor_dtype storage, dlor_container *c,
                               dlor_error *err)
{
    int64_t m = L->m, n = L->n, K = m < n ? m : n;
    double *ut = calloc((size_t)(K * m), sizeof *ut), *vt = calloc((size_t)(K * n), sizeof *vt);
    dlor_status st = DLOR_OK;
    if (!ut || !vt) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", L->weight);
    for (int64_t j = 0; st == DLOR_OK && j < K; j++) {
        if (n <= m) { /* column j of U = column j of W; V = I_n */
            for (int64_t i = 0; i < m; i++) ut[j * m + i] = L->w[i * n + j];
            vt[j * n + j] = 1.0;
        } else {      /* U = I_m; column j of V = row j of W */
            ut[j * m + j] = 1.0;
            for (int64_t i = 0; i < n; i++) vt[j * n + i] = L->w[j * n + i];
        }
    }
    if (st == DLOR_OK)
        st = add_component(c, L->weight, DLOR_IMAGE_ADD, DLOR_IMAGE_SVD, (uint64_t)m, (uint64_t)n, (uint64_t)K, 0.0, ut,
                           1.0, m, vt, n, storage, src_dtype, 0, err);
    free(ut);
    free(vt);
    if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, L->weight, L->bias, err);
    return st;
}

static dlor_status build_deep(const dlor_net_plan *p, const dlor_net_layer *L, double h, dlor_dtype src_dtype,
                              dlor_dtype storage, dlor_container *c, dlor_error *err)
{
    const dlor_factored *f = &L->f;
    int64_t D = f->dim_u, nf = f->factors;
    double a = f->alpha, rc = L->rho_c, dc = L->drho_c, cc = p->opts.c;
    double *bias = malloc((size_t)D * sizeof *bias), *v1 = malloc((size_t)f->rank * sizeof *v1);
    dlor_status st = bias && v1 ? DLOR_OK : dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", L->weight);
    int basis = f->basis == DLOR_BASIS_RANDOM ? DLOR_IMAGE_RANDOM : DLOR_IMAGE_SCHUR;
    for (int64_t l = 0; l < nf && st == DLOR_OK; l++) {
        int64_t j0 = l * f->rank, r = dlor_factor_cols(f, l);
        const double *ut = f->ut + j0 * D, *vt = f->vt + j0 * D;
        double s = l == 0 ? h : l < nf - 1 ? 1.0 / dc : 1.0 / (h * dc);
        uint64_t rows = l == nf - 1 ? (uint64_t)L->m : (uint64_t)D, cols = l == 0 ? (uint64_t)L->n : (uint64_t)D;
        char name[DLOR_MAX_NAME + 32], bname[DLOR_MAX_NAME + 32];
        st = make_name(name, sizeof name, err, L->weight, ".deep", (long)l, "");
        if (st == DLOR_OK) st = make_name(bname, sizeof bname, err, L->weight, ".deep", (long)l, ".bias");
        if (st != DLOR_OK) break;
        st = add_component(c, name, DLOR_IMAGE_MUL, basis, rows, cols, (uint64_t)r, s * a, ut, s, D, vt, D, storage,
                           src_dtype, p->opts.seed, err);
        if (st != DLOR_OK) break;
        /* biases (E.1): c 1 first; c 1 - rho(c)/rho'(c) M_l 1 in between; b - rho(c)/(h rho'(c)) M_L 1 last */
        for (int64_t j = 0; j < r; j++) {
            double sum = 0;
            for (int64_t i = 0; i < D; i++) sum += vt[j * D + i];
            v1[j] = sum;
        }
        for (int64_t i = 0; i < (int64_t)rows; i++) {
            double m1 = a;
            for (int64_t j = 0; j < r; j++) m1 += ut[j * D + i] * v1[j];
            if (l == 0) bias[i] = cc;
            else if (l < nf - 1) bias[i] = cc - rc / dc * m1;
            else bias[i] = (L->b ? L->b[i] : 0.0) - rc / (h * dc) * m1;
        }
        uint64_t bd[1] = {rows};
        st = add_tensor(c, bname, bias, 1, bd, storage, err);
        if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, name, bname, err);
        if (st == DLOR_OK && l < nf - 1) st = dlor_graph_add_act(&c->graph, L->act, L->act_param, err);
    }
    free(bias);
    free(v1);
    return st;
}

static dlor_status build_wide(const dlor_net_plan *p, const dlor_net_layer *L, double h, dlor_dtype src_dtype,
                              dlor_dtype storage, dlor_container *c, dlor_error *err)
{
    const dlor_factored *f = &L->f;
    int64_t m = L->m, n = L->n, nf = f->factors;
    int paired = p->opts.beta == DLOR_NET_BETA_PAIRED;
    double dc = L->drho_c;
    char cname[DLOR_MAX_NAME + 32];
    dlor_status st = make_name(cname, sizeof cname, err, L->weight, ".wide", -1, ".c");
    double *cvec = malloc((size_t)m * sizeof *cvec);
    if (st == DLOR_OK && !cvec) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", L->weight);
    for (int64_t i = 0; st == DLOR_OK && i < m; i++) cvec[i] = p->opts.c;
    uint64_t cd[1] = {(uint64_t)m};
    if (st == DLOR_OK) st = add_tensor(c, cname, cvec, 1, cd, storage, err);
    free(cvec);
    long branch = 0;
    for (int64_t l = 0; l < nf && st == DLOR_OK; l++) {
        int64_t j0 = l * f->rank, r = dlor_factor_cols(f, l);
        for (int sgn = 0; sgn < (paired ? 2 : 1) && st == DLOR_OK; sgn++) {
            /* beta_l and the share of M_l this branch carries */
            double beta = paired ? (sgn ? -1.0 : 1.0) : (l < nf - 1 ? 1.0 : -(double)(nf - 1));
            double share = paired ? 0.5 : 1.0;
            char name[DLOR_MAX_NAME + 32];
            st = make_name(name, sizeof name, err, L->weight, ".wide", branch++, "");
            if (st == DLOR_OK) st = dlor_graph_add_branch(&c->graph, beta / (h * dc), err);
            if (st == DLOR_OK)
                st = add_component(c, name, DLOR_IMAGE_ADD, DLOR_IMAGE_SVD, (uint64_t)m, (uint64_t)n, (uint64_t)r, 0.0,
                                   f->ut + j0 * m, share * h / beta, m, f->vt + j0 * n, n, storage, src_dtype, 0, err);
            if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, name, cname, err);
            if (st == DLOR_OK) st = dlor_graph_add_act(&c->graph, L->act, L->act_param, err);
        }
    }
    if (st == DLOR_OK) st = dlor_graph_add_merge(&c->graph, L->bias, err);
    return st;
}

dlor_status dlor_net_build(const dlor_net_plan *p, double h, dlor_dtype storage, dlor_container *c, dlor_error *err)
{
    if (!(h > 0) || !isfinite(h)) return dlor_fail(err, DLOR_E_ARG, "h = %g must be a positive number", h);
    if (c->graph.count) return dlor_fail(err, DLOR_E_ARG, "the container already has a graph");
    dlor_status st = DLOR_OK;
    size_t k = 0;
    for (size_t i = 0; i < p->graph->count && st == DLOR_OK; i++) {
        const dlor_graph_op *op = &p->graph->ops[i];
        switch (op->kind) {
        case DLOR_OP_ACT: st = dlor_graph_add_act(&c->graph, op->act, op->param, err); continue;
        case DLOR_OP_SOFTMAX: st = dlor_graph_add_softmax(&c->graph, err); continue;
        case DLOR_OP_BRANCH: st = dlor_graph_add_branch(&c->graph, op->param, err); continue;
        case DLOR_OP_MERGE:
            st = need_src(c, p->src, op->bias, err);
            if (st == DLOR_OK) st = dlor_graph_add_merge(&c->graph, op->bias, err);
            continue;
        default: break;
        }
        const dlor_net_layer *L = &p->layers[k++];
        const dlor_tensor *w = dlor_tensor_list_find(p->src, L->weight);
        if (L->bias) st = need_src(c, p->src, L->bias, err);
        if (st != DLOR_OK) break;
        if (!L->converted) {
            st = need_src(c, p->src, L->weight, err);
            if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, L->weight, L->bias, err);
        } else if (L->exact) {
            st = build_exact(L, w->dtype, storage, c, err);
        } else if (p->opts.kind == DLOR_NET_DEEP) {
            st = build_deep(p, L, h, w->dtype, storage, c, err);
        } else {
            st = build_wide(p, L, h, w->dtype, storage, c, err);
        }
    }
    return st;
}

/* ---- evaluation -------------------------------------------------------------------- */

void dlor_net_ref_free(dlor_net_ref *r)
{
    if (!r) return;
    free(r->x);
    free(r->y);
    memset(r, 0, sizeof *r);
}

dlor_status dlor_net_ref_make(const dlor_graph *g, const dlor_tensor_list *src, const double *x, uint64_t n,
                              dlor_net_ref *r, dlor_error *err)
{
    dlor_net_ref q;
    memset(&q, 0, sizeof q);
    dlor_status st = dlor_graph_check(g, src, "model", &q.in_dim, &q.out_dim, err);
    if (st != DLOR_OK) return st;
    q.n = n;
    q.x = malloc((size_t)(n * q.in_dim > 0 ? n * q.in_dim : 1) * sizeof *q.x);
    q.y = malloc((size_t)(n * q.out_dim > 0 ? n * q.out_dim : 1) * sizeof *q.y);
    if (!q.x || !q.y) {
        dlor_net_ref_free(&q);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory for %llu samples", (unsigned long long)n);
    }
    memcpy(q.x, x, (size_t)(n * q.in_dim) * sizeof *q.x);
    st = dlor_graph_forward_f64(g, src, q.x, n, NULL, NULL, q.y, err);
    if (st != DLOR_OK) {
        dlor_net_ref_free(&q);
        return st;
    }
    *r = q;
    return DLOR_OK;
}

dlor_status dlor_net_ref_random(const dlor_graph *g, const dlor_tensor_list *src, uint64_t n, uint64_t seed,
                                dlor_net_ref *r, dlor_error *err)
{
    uint64_t in_dim;
    dlor_status st = dlor_graph_check(g, src, "model", &in_dim, NULL, err);
    if (st != DLOR_OK) return st;
    double *x = malloc((size_t)(n * in_dim > 0 ? n * in_dim : 1) * sizeof *x);
    if (!x) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for %llu samples", (unsigned long long)n);
    /* seeded standard normals rounded to float32, as 'dlor verify --samples' draws them */
    uint64_t s = seed;
    for (uint64_t i = 0; i < n * in_dim; i++) x[i] = (double)(float)dlor_splitmix_normal(&s);
    st = dlor_net_ref_make(g, src, x, n, r, err);
    free(x);
    return st;
}

dlor_status dlor_net_image_error(const unsigned char *image, size_t len, const dlor_net_ref *r, int f64,
                                 double *max_abs, double *y_out, dlor_error *err)
{
    dlor_model m;
    dlor_image_error ie;
    void *plan;
    if (dlor_model_open_alloc(&m, image, len, 0, &plan, &ie) != 0)
        return dlor_fail(err, DLOR_E_FORMAT, "the network form does not open: %s", ie.msg);
    if (m.in_dim != r->in_dim || m.out_dim != r->out_dim) {
        free(plan);
        return dlor_fail(err, DLOR_E_FORMAT, "the network form maps %llu -> %llu features, the dense model %llu -> %llu",
                         (unsigned long long)m.in_dim, (unsigned long long)m.out_dim,
                         (unsigned long long)r->in_dim, (unsigned long long)r->out_dim);
    }
    const size_t batch = 64;
    size_t need = f64 ? dlor_model_scratch_size_f64(&m, batch) : dlor_model_scratch_size(&m, batch);
    void *scratch = need ? malloc(need) : NULL;
    double *yd = malloc(batch * m.out_dim * sizeof *yd);
    float *xf = malloc(batch * m.in_dim * sizeof *xf), *yf = malloc(batch * m.out_dim * sizeof *yf);
    dlor_status st = DLOR_OK;
    if (!scratch || !yd || !xf || !yf) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory running the network form");
    double worst = 0.0;
    for (uint64_t i = 0; st == DLOR_OK && i < r->n; i += batch) {
        size_t b = (size_t)(r->n - i < batch ? r->n - i : batch);
        int rc;
        if (f64) {
            rc = dlor_model_forward_f64(&m, r->x + i * m.in_dim, b, yd, scratch, need, &ie);
        } else {
            for (size_t j = 0; j < b * m.in_dim; j++) xf[j] = (float)r->x[i * m.in_dim + j];
            rc = dlor_model_forward(&m, xf, b, yf, scratch, need, &ie);
            for (size_t j = 0; rc == 0 && j < b * m.out_dim; j++) yd[j] = (double)yf[j];
        }
        if (rc != 0) {
            st = dlor_fail(err, DLOR_E_NUMERIC, "forward pass failed: %s", ie.msg);
            break;
        }
        for (size_t j = 0; j < b * m.out_dim; j++) {
            double d = fabs(yd[j] - r->y[i * m.out_dim + j]);
            if (!(d <= worst)) worst = isfinite(d) ? d : INFINITY;
            if (y_out) y_out[i * m.out_dim + j] = yd[j];
        }
    }
    free(scratch);
    free(yd);
    free(xf);
    free(yf);
    free(plan);
    if (st == DLOR_OK) *max_abs = worst;
    return st;
}

dlor_status dlor_net_error(const dlor_net_plan *p, double h, dlor_dtype storage, int f64, const dlor_net_ref *r,
                           double *max_abs, double *y_out, dlor_error *err)
{
    dlor_container c;
    unsigned char *img = NULL;
    size_t len = 0;
    dlor_container_init(&c);
    dlor_status st = dlor_net_build(p, h, storage, &c, err);
    if (st == DLOR_OK) st = dlor_container_to_memory(&c, &img, &len, err);
    if (st == DLOR_OK) st = dlor_net_image_error(img, len, r, f64, max_abs, y_out, err);
    free(img);
    dlor_container_free(&c);
    return st;
}

/* ---- the search for h -------------------------------------------------------------- */

void dlor_net_search_free(dlor_net_search *s)
{
    if (!s) return;
    free(s->hs);
    free(s->errs);
    memset(s, 0, sizeof *s);
}

typedef struct {
    const dlor_net_plan *p;
    dlor_dtype storage;
    int f64;
    const dlor_net_ref *r;
    dlor_net_search *s;
    size_t cap;
} search_ctx;

static dlor_status probe(search_ctx *q, double t, double *e, dlor_error *err)
{
    double h = pow(10.0, t), v = INFINITY;
    dlor_status st = dlor_net_error(q->p, h, q->storage, q->f64, q->r, &v, NULL, err);
    if (st != DLOR_OK) return st;
    if (q->s->npoints == q->cap) {
        size_t nc = q->cap ? 2 * q->cap : 64;
        double *a = realloc(q->s->hs, nc * sizeof *a);
        if (!a) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        q->s->hs = a;
        double *b = realloc(q->s->errs, nc * sizeof *b);
        if (!b) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        q->s->errs = b;
        q->cap = nc;
    }
    q->s->hs[q->s->npoints] = h;
    q->s->errs[q->s->npoints++] = v;
    if (v < q->s->err || q->s->err != q->s->err) {
        q->s->err = v;
        q->s->h = h;
    }
    *e = v;
    return DLOR_OK;
}

dlor_status dlor_net_search_h(const dlor_net_plan *p, dlor_dtype storage, int f64, const dlor_net_ref *r,
                              double lo, double hi, double step, dlor_net_search *s, dlor_error *err)
{
    memset(s, 0, sizeof *s);
    s->err = NAN;
    if (!(lo < hi) || !(step > 0))
        return dlor_fail(err, DLOR_E_ARG, "bad search range [%g, %g] step %g", lo, hi, step);
    search_ctx q = {p, storage, f64, r, s, 0};
    dlor_status st = DLOR_OK;
    double e, best_t = hi;
    size_t steps = (size_t)floor((hi - lo) / step + 1e-9);
    for (size_t i = 0; i <= steps && st == DLOR_OK; i++) {
        double t = hi - (double)i * step;
        double before = s->err;
        st = probe(&q, t, &e, err);
        if (st == DLOR_OK && (e < before || before != before)) best_t = t;
    }
    /* golden-section refinement on [best - step, best + step] */
    double a = best_t - step > lo ? best_t - step : lo, b = best_t + step < hi ? best_t + step : hi;
    const double g = 0.6180339887498949;
    double x1 = b - g * (b - a), x2 = a + g * (b - a), f1 = INFINITY, f2 = INFINITY;
    if (st == DLOR_OK) st = probe(&q, x1, &f1, err);
    if (st == DLOR_OK) st = probe(&q, x2, &f2, err);
    for (int it = 0; it < 14 && st == DLOR_OK; it++) {
        if (f1 <= f2) {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - g * (b - a);
            st = probe(&q, x1, &f1, err);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + g * (b - a);
            st = probe(&q, x2, &f2, err);
        }
    }
    if (st != DLOR_OK) {
        dlor_net_search_free(s);
        return st;
    }
    /* sort the points by h, largest first (insertion sort: a few dozen points) */
    for (size_t i = 1; i < s->npoints; i++) {
        double hh = s->hs[i], ee = s->errs[i];
        size_t j = i;
        for (; j > 0 && s->hs[j - 1] < hh; j--) {
            s->hs[j] = s->hs[j - 1];
            s->errs[j] = s->errs[j - 1];
        }
        s->hs[j] = hh;
        s->errs[j] = ee;
    }
    return DLOR_OK;
}

/* ---- parameter counts --------------------------------------------------------------- */

static int seen_before(const char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return 1;
    return 0;
}

uint64_t dlor_net_param_count(const dlor_container *c, int tied_alpha)
{
    const char **seen = malloc((4 * c->graph.count + 1) * sizeof *seen);
    size_t ns = 0;
    uint64_t total = 0, alphas = 0;
    if (!seen) return 0;
    for (size_t i = 0; i < c->graph.count; i++) {
        const dlor_graph_op *op = &c->graph.ops[i];
        const char *names[3] = {NULL, NULL, NULL};
        if (op->kind == DLOR_OP_BRANCH) total += 1;
        if (op->kind == DLOR_OP_MERGE) names[0] = op->bias;
        if (op->kind == DLOR_OP_LINEAR) {
            const dlor_layer_desc *d = dlor_container_find_layer(c, op->weight);
            names[0] = op->bias;
            if (d) {
                names[1] = d->u_name;
                names[2] = d->v_name;
                if (d->alpha != 0.0 && !seen_before(seen, ns, d->name)) alphas++;
            } else {
                names[1] = op->weight;
            }
            if (d && !seen_before(seen, ns, d->name)) seen[ns++] = d->name;
        }
        for (int k = 0; k < 3; k++) {
            if (!names[k] || seen_before(seen, ns, names[k])) continue;
            const dlor_tensor *t = dlor_tensor_list_find(&c->tensors, names[k]);
            if (t) total += t->nelem;
            seen[ns++] = names[k];
        }
    }
    free(seen);
    return total + (tied_alpha ? (alphas > 0) : alphas);
}
