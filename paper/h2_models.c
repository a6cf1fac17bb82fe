/* h2_models.c - the paper's Appendix H.2 models of the sawtooth: the deep model's
 * seeded parameters, and the dense, deep and wide architectures built as runnable .dlor
 * graphs, whose tensors give Table 1's parameter counts (sawtooth.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "factor_internal.h"
#include "network.h"
#include "sawtooth.h"

double dlor_sawtooth(double x)
{
    double a = 3.7 * x;
    return fabs(a - 2.0 * floor(a / 2.0) - 1.0);
}

/* uniforms in [-s, s) */
static double uni(dlor__rng *g, double s)
{
    return s * (2.0 * dlor__rng_uniform(g) - 1.0);
}

void dlor_h2_deep_free(dlor_h2_deep *m)
{
    if (!m) return;
    free(m->win);
    free(m->bin);
    free(m->U);
    free(m->V);
    free(m->b);
    free(m->wout);
    memset(m, 0, sizeof *m);
}

static dlor_status deep_alloc(int64_t N, int64_t k, int64_t r, dlor_h2_deep *m, dlor_error *err)
{
    memset(m, 0, sizeof *m);
    if (N < 1 || N > 1024 || k < 1 || r < 1 || r > N) return dlor_fail(err, DLOR_E_ARG, "bad deep architecture N=%lld k=%lld r=%lld",
                                                           (long long)N, (long long)k, (long long)r);
    m->N = N;
    m->k = k;
    m->r = r;
    m->win = calloc((size_t)N, sizeof(double));
    m->bin = calloc((size_t)N, sizeof(double));
    m->U = calloc((size_t)(k * N * r), sizeof(double));
    m->V = calloc((size_t)(k * N * r), sizeof(double));
    m->b = calloc((size_t)(k * N), sizeof(double));
    m->wout = calloc((size_t)N, sizeof(double));
    if (!m->win || !m->bin || !m->U || !m->V || !m->b || !m->wout) {
        dlor_h2_deep_free(m);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    return DLOR_OK;
}

dlor_status dlor_h2_deep_init(int64_t N, int64_t k, int64_t r, uint64_t seed, dlor_h2_deep *m, dlor_error *err)
{
    dlor_status st = deep_alloc(N, k, r, m, err);
    if (st != DLOR_OK) return st;
    dlor__rng g = {seed * 0x632be59bd9b4e019ull + 1};
    double sN = 1.0 / sqrt((double)N);
    for (int64_t i = 0; i < N; i++) m->win[i] = uni(&g, 1.0);
    for (int64_t i = 0; i < N; i++) m->bin[i] = uni(&g, 1.0);
    for (int64_t i = 0; i < k * N * r; i++) m->U[i] = uni(&g, sN);
    for (int64_t i = 0; i < k * N * r; i++) m->V[i] = uni(&g, sN);
    for (int64_t i = 0; i < k * N; i++) m->b[i] = uni(&g, sN);
    for (int64_t i = 0; i < N; i++) m->wout[i] = uni(&g, sN);
    m->bout = uni(&g, sN);
    m->alpha = 1.0;
    return DLOR_OK;
}

/* ---- the models as graphs ----------------------------------------------------------- */

static dlor_status add_t(dlor_container *c, const char *name, const double *x, int ndim, uint64_t d0, uint64_t d1,
                         dlor_dtype dt, dlor_error *err)
{
    uint64_t dims[2] = {d0, d1};
    size_t count = (size_t)d0 * (ndim == 2 ? (size_t)d1 : 1), nbytes = count * dlor_dtype_size(dt);
    unsigned char *buf = malloc(nbytes ? nbytes : 1);
    if (!buf) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    dlor_encode_f64(x, count, dt, buf);
    dlor_status st = dlor_tensor_list_own(&c->tensors, buf, err);
    if (st == DLOR_OK) st = dlor_tensor_list_add(&c->tensors, "model", name, strlen(name), dt, ndim, dims, buf, nbytes, err);
    return st;
}

/* A layer record with U^T, V^T from N x r row-major U and V. */
static dlor_status add_lr_layer(dlor_container *c, const char *name, int method, int64_t N, int64_t r, double alpha,
                                const double *U, const double *V, dlor_dtype dt, dlor_error *err)
{
    char un[64], vn[64];
    double *ut = malloc((size_t)(N * r) * sizeof *ut), *vt = malloc((size_t)(N * r) * sizeof *vt);
    if (!ut || !vt) {
        free(ut);
        free(vt);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < r; j++) {
            ut[j * N + i] = U[i * r + j];
            vt[j * N + i] = V[i * r + j];
        }
    snprintf(un, sizeof un, "%s.dlor.U", name);
    snprintf(vn, sizeof vn, "%s.dlor.V", name);
    dlor_status st = add_t(c, un, ut, 2, (uint64_t)r, (uint64_t)N, dt, err);
    if (st == DLOR_OK) st = add_t(c, vn, vt, 2, (uint64_t)r, (uint64_t)N, dt, err);
    free(ut);
    free(vt);
    if (st != DLOR_OK) return st;
    dlor_layer_desc d;
    memset(&d, 0, sizeof d);
    d.name = (char *)name;
    d.method = method;
    d.basis = method == DLOR_IMAGE_MUL ? DLOR_IMAGE_SCHUR : DLOR_IMAGE_SVD;
    d.rows = d.cols = (uint64_t)N;
    d.rank = (uint64_t)r;
    d.factors = 1;
    d.alpha = alpha;
    d.u_name = un;
    d.v_name = vn;
    d.source_dtype = dt;
    return dlor_container_add_layer(c, &d, err);
}

dlor_status dlor_h2_deep_container(const dlor_h2_deep *m, dlor_dtype dt, dlor_container *c, dlor_error *err)
{
    int64_t N = m->N, r = m->r;
    dlor_status st = add_t(c, "in.weight", m->win, 2, (uint64_t)N, 1, dt, err);
    if (st == DLOR_OK) st = add_t(c, "in.bias", m->bin, 1, (uint64_t)N, 0, dt, err);
    if (st == DLOR_OK) st = add_t(c, "out.weight", m->wout, 2, 1, (uint64_t)N, dt, err);
    if (st == DLOR_OK) st = add_t(c, "out.bias", &m->bout, 1, 1, 0, dt, err);
    if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, "in.weight", "in.bias", err);
    if (st == DLOR_OK) st = dlor_graph_add_act(&c->graph, DLOR_ACT_SOFTPLUS, 0.0, err);
    for (int64_t l = 0; l < m->k && st == DLOR_OK; l++) {
        char name[32], bname[40];
        snprintf(name, sizeof name, "deep.%lld", (long long)l);
        snprintf(bname, sizeof bname, "deep.%lld.bias", (long long)l);
        st = add_lr_layer(c, name, DLOR_IMAGE_MUL, N, r, m->alpha, m->U + l * N * r, m->V + l * N * r, dt, err);
        if (st == DLOR_OK) st = add_t(c, bname, m->b + l * N, 1, (uint64_t)N, 0, dt, err);
        if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, name, bname, err);
        if (st == DLOR_OK) st = dlor_graph_add_act(&c->graph, DLOR_ACT_SOFTPLUS, 0.0, err);
    }
    if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, "out.weight", "out.bias", err);
    return st;
}

dlor_status dlor_h2_build(const dlor_h2_arch *a, uint64_t seed, dlor_container *c, dlor_error *err)
{
    int64_t N = a->width, k = a->k, r = a->rank;
    if (a->kind == DLOR_H2_DEEP) {
        dlor_h2_deep m;
        dlor_status st = dlor_h2_deep_init(N, k, r, seed, &m, err);
        if (st == DLOR_OK) st = dlor_h2_deep_container(&m, DLOR_DT_F32, c, err);
        dlor_h2_deep_free(&m);
        return st;
    }
    if (N < 1 || N > 100000 || (a->kind == DLOR_H2_WIDE && (k < 1 || r < 1 || r > N)))
        return dlor_fail(err, DLOR_E_ARG, "bad architecture N=%lld k=%lld r=%lld", (long long)N, (long long)k,
                         (long long)r);
    dlor__rng g = {seed * 0x632be59bd9b4e019ull + 7};
    size_t big = (size_t)(N * N > N * r ? N * N : N * r);
    double *w = malloc(big * sizeof *w), *v = malloc(big * sizeof *v);
    if (!w || !v) {
        free(w);
        free(v);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    double sN = 1.0 / sqrt((double)N);
    for (size_t i = 0; i < big; i++) {
        w[i] = uni(&g, sN);
        v[i] = uni(&g, sN);
    }
    dlor_status st = add_t(c, "in.weight", w, 2, (uint64_t)N, 1, DLOR_DT_F32, err);
    if (st == DLOR_OK) st = add_t(c, "in.bias", v, 1, (uint64_t)N, 0, DLOR_DT_F32, err);
    if (st == DLOR_OK) st = add_t(c, "out.weight", w, 2, 1, (uint64_t)N, DLOR_DT_F32, err);
    if (st == DLOR_OK) st = add_t(c, "out.bias", v, 1, 1, 0, DLOR_DT_F32, err);
    if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, "in.weight", "in.bias", err);
    if (st == DLOR_OK) st = dlor_graph_add_act(&c->graph, DLOR_ACT_SOFTPLUS, 0.0, err);
    if (a->kind == DLOR_H2_DENSE) {
        if (st == DLOR_OK) st = add_t(c, "hidden.weight", w, 2, (uint64_t)N, (uint64_t)N, DLOR_DT_F32, err);
        if (st == DLOR_OK) st = add_t(c, "hidden.bias", v, 1, (uint64_t)N, 0, DLOR_DT_F32, err);
        if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, "hidden.weight", "hidden.bias", err);
    } else {
        for (int64_t l = 0; l < k && st == DLOR_OK; l++) {
            char name[32], bname[40];
            snprintf(name, sizeof name, "wide.%lld", (long long)l);
            snprintf(bname, sizeof bname, "wide.%lld.bias", (long long)l);
            st = dlor_graph_add_branch(&c->graph, 1.0 / (double)k, err);
            if (st == DLOR_OK) st = add_lr_layer(c, name, DLOR_IMAGE_ADD, N, r, 0.0, w, v, DLOR_DT_F32, err);
            if (st == DLOR_OK) st = add_t(c, bname, v, 1, (uint64_t)N, 0, DLOR_DT_F32, err);
            if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, name, bname, err);
            if (st == DLOR_OK) st = dlor_graph_add_act(&c->graph, DLOR_ACT_SOFTPLUS, 0.0, err);
        }
        if (st == DLOR_OK && a->outer_bias) st = add_t(c, "wide.bias", v, 1, (uint64_t)N, 0, DLOR_DT_F32, err);
        if (st == DLOR_OK) st = dlor_graph_add_merge(&c->graph, a->outer_bias ? "wide.bias" : NULL, err);
    }
    if (st == DLOR_OK) st = dlor_graph_add_act(&c->graph, DLOR_ACT_SOFTPLUS, 0.0, err);
    if (st == DLOR_OK) st = dlor_graph_add_linear(&c->graph, "out.weight", "out.bias", err);
    free(w);
    free(v);
    return st;
}

dlor_status dlor_h2_params(const dlor_h2_arch *a, uint64_t *count, dlor_error *err)
{
    dlor_container c;
    dlor_container_init(&c);
    dlor_status st = dlor_h2_build(a, 0, &c, err);
    if (st == DLOR_OK) {
        /* the graph must be one the runtime accepts */
        unsigned char *img = NULL;
        size_t len;
        dlor_image view;
        dlor_image_error ie;
        st = dlor_container_to_memory(&c, &img, &len, err);
        if (st == DLOR_OK && dlor_image_open(&view, img, len, 0, &ie) != 0)
            st = dlor_fail(err, DLOR_E_FORMAT, "architecture graph rejected: %s", ie.msg);
        free(img);
    }
    if (st == DLOR_OK) *count = dlor_net_param_count(&c, a->kind == DLOR_H2_DEEP);
    dlor_container_free(&c);
    return st;
}
