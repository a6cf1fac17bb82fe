/* network_train.c - the paper's Appendix H.2 models of the sawtooth (dense, deep and
 * wide DLoR), built as runnable graphs for their parameter counts, a full-batch Adam
 * trainer for the deep one, and Experiment 3's spectral split of a DLoR layer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "network.h"

double dlor_sawtooth(double x)
{
    double a = 3.7 * x;
    return fabs(a - 2.0 * floor(a / 2.0) - 1.0);
}

/* splitmix64 uniforms in [-s, s) */
typedef struct {
    uint64_t s;
} rng;

static double uni(rng *g, double s)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return s * (2.0 * ((double)(z >> 11) * (1.0 / 9007199254740992.0)) - 1.0);
}

static double softplus(double x) { return (x > 0 ? x : 0) + log1p(exp(-fabs(x))); }
static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

void dlor_h2_train_opts_default(dlor_h2_train_opts *o)
{
    o->epochs = 5000;
    o->lr = 0.005;
    o->lr_min = 1e-5;
    o->factor = 0.5;
    o->patience = 200;
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
    rng g = {seed * 0x632be59bd9b4e019ull + 1};
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

double dlor_h2_deep_predict(const dlor_h2_deep *m, double x)
{
    int64_t N = m->N, r = m->r;
    double h[1024], t[1024], z[1024];
    if (N > 1024) return NAN; /* the H.2 models are 16 wide */
    for (int64_t i = 0; i < N; i++) h[i] = softplus(m->win[i] * x + m->bin[i]);
    for (int64_t l = 0; l < m->k; l++) {
        const double *U = m->U + l * N * r, *V = m->V + l * N * r;
        for (int64_t j = 0; j < r; j++) {
            double s = 0;
            for (int64_t i = 0; i < N; i++) s += V[i * r + j] * h[i];
            z[j] = s;
        }
        for (int64_t i = 0; i < N; i++) {
            double a = m->alpha * h[i] + m->b[l * N + i];
            for (int64_t j = 0; j < r; j++) a += U[i * r + j] * z[j];
            t[i] = softplus(a);
        }
        memcpy(h, t, (size_t)N * sizeof *h);
    }
    double y = m->bout;
    for (int64_t i = 0; i < N; i++) y += m->wout[i] * h[i];
    return y;
}

/* ---- training: full-batch Adam on the MSE, ReduceLROnPlateau ----------------------- */

typedef struct {
    double *p;                /* parameter */
    double *g, *m1, *m2;      /* gradient, Adam moments */
    size_t n;
} pblock;

dlor_status dlor_h2_train_deep(dlor_h2_deep *md, const double *x, const double *y, uint64_t n,
                               const dlor_h2_train_opts *o, double *mse, dlor_error *err)
{
    const int64_t N = md->N, k = md->k, r = md->r;
    pblock pb[8] = {{md->win, 0, 0, 0, (size_t)N},           {md->bin, 0, 0, 0, (size_t)N},
                    {md->U, 0, 0, 0, (size_t)(k * N * r)},   {md->V, 0, 0, 0, (size_t)(k * N * r)},
                    {md->b, 0, 0, 0, (size_t)(k * N)},       {&md->alpha, 0, 0, 0, 1},
                    {md->wout, 0, 0, 0, (size_t)N},          {&md->bout, 0, 0, 0, 1}};
    size_t total = 0;
    for (int i = 0; i < 8; i++) total += pb[i].n;
    double *mem = calloc(3 * total, sizeof *mem);
    /* activations of every sample: pre-activations a_l and outputs h_l, l = 0..k */
    double *A = malloc((size_t)n * (size_t)(k + 1) * (size_t)N * sizeof *A);
    double *H = malloc((size_t)n * (size_t)(k + 1) * (size_t)N * sizeof *H);
    double *Z = malloc((size_t)n * (size_t)k * (size_t)r * sizeof *Z);
    double *dh = malloc((size_t)N * sizeof *dh), *da = malloc((size_t)N * sizeof *da), *dz = malloc((size_t)r * sizeof *dz);
    if (!mem || !A || !H || !Z || !dh || !da || !dz) {
        free(mem);
        free(A);
        free(H);
        free(Z);
        free(dh);
        free(da);
        free(dz);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory training the deep model");
    }
    size_t off = 0;
    for (int i = 0; i < 8; i++) {
        pb[i].g = mem + off;
        pb[i].m1 = mem + total + off;
        pb[i].m2 = mem + 2 * total + off;
        off += pb[i].n;
    }
    double *gwin = pb[0].g, *gbin = pb[1].g, *gU = pb[2].g, *gV = pb[3].g, *gb = pb[4].g, *galpha = pb[5].g,
           *gwout = pb[6].g, *gbout = pb[7].g;
    double lr = o->lr, best = INFINITY, loss = NAN;
    int64_t bad = 0;
    for (int64_t ep = 1; ep <= o->epochs; ep++) {
        memset(mem, 0, total * sizeof *mem);
        loss = 0.0;
        for (uint64_t s = 0; s < n; s++) {
            double *As = A + s * (size_t)((k + 1) * N), *Hs = H + s * (size_t)((k + 1) * N), *Zs = Z + s * (size_t)(k * r);
            for (int64_t i = 0; i < N; i++) {
                As[i] = md->win[i] * x[s] + md->bin[i];
                Hs[i] = softplus(As[i]);
            }
            for (int64_t l = 0; l < k; l++) {
                const double *U = md->U + l * N * r, *V = md->V + l * N * r, *hp = Hs + l * N;
                double *a = As + (l + 1) * N, *h = Hs + (l + 1) * N, *z = Zs + l * r;
                for (int64_t j = 0; j < r; j++) {
                    double t = 0;
                    for (int64_t i = 0; i < N; i++) t += V[i * r + j] * hp[i];
                    z[j] = t;
                }
                for (int64_t i = 0; i < N; i++) {
                    double t = md->alpha * hp[i] + md->b[l * N + i];
                    for (int64_t j = 0; j < r; j++) t += U[i * r + j] * z[j];
                    a[i] = t;
                    h[i] = softplus(t);
                }
            }
            const double *hk = Hs + k * N;
            double out = md->bout;
            for (int64_t i = 0; i < N; i++) out += md->wout[i] * hk[i];
            double e = out - y[s];
            loss += e * e;
            double dy = 2.0 * e / (double)n;
            *gbout += dy;
            for (int64_t i = 0; i < N; i++) {
                gwout[i] += dy * hk[i];
                dh[i] = dy * md->wout[i];
            }
            for (int64_t l = k - 1; l >= 0; l--) {
                const double *U = md->U + l * N * r, *V = md->V + l * N * r, *hp = Hs + l * N, *a = As + (l + 1) * N;
                const double *z = Zs + l * r;
                double *gUl = gU + l * N * r, *gVl = gV + l * N * r;
                for (int64_t i = 0; i < N; i++) {
                    da[i] = dh[i] * sigm(a[i]);
                    gb[l * N + i] += da[i];
                    *galpha += da[i] * hp[i];
                }
                for (int64_t j = 0; j < r; j++) {
                    double t = 0;
                    for (int64_t i = 0; i < N; i++) {
                        gUl[i * r + j] += da[i] * z[j];
                        t += U[i * r + j] * da[i];
                    }
                    dz[j] = t;
                }
                for (int64_t i = 0; i < N; i++) {
                    double t = md->alpha * da[i];
                    for (int64_t j = 0; j < r; j++) {
                        gVl[i * r + j] += hp[i] * dz[j];
                        t += V[i * r + j] * dz[j];
                    }
                    dh[i] = t;
                }
            }
            for (int64_t i = 0; i < N; i++) {
                double d0 = dh[i] * sigm(As[i]);
                gwin[i] += d0 * x[s];
                gbin[i] += d0;
            }
        }
        loss /= (double)n;
        /* Adam (beta1 0.9, beta2 0.999, eps 1e-8, bias-corrected) */
        double c1 = 1.0 - pow(0.9, (double)ep), c2 = 1.0 - pow(0.999, (double)ep);
        for (int i = 0; i < 8; i++)
            for (size_t j = 0; j < pb[i].n; j++) {
                double g = pb[i].g[j];
                pb[i].m1[j] = 0.9 * pb[i].m1[j] + 0.1 * g;
                pb[i].m2[j] = 0.999 * pb[i].m2[j] + 0.001 * g * g;
                pb[i].p[j] -= lr * (pb[i].m1[j] / c1) / (sqrt(pb[i].m2[j] / c2) + 1e-8);
            }
        /* plateau: relative threshold 1e-4 as torch's default */
        if (loss < best * (1.0 - 1e-4)) {
            best = loss;
            bad = 0;
        } else if (++bad > o->patience) {
            lr = lr * o->factor > o->lr_min ? lr * o->factor : o->lr_min;
            bad = 0;
        }
        if (!isfinite(loss)) break;
    }
    free(mem);
    free(A);
    free(H);
    free(Z);
    free(dh);
    free(da);
    free(dz);
    if (!isfinite(loss)) return dlor_fail(err, DLOR_E_NUMERIC, "training the deep model diverged (loss %g)", loss);
    /* the loss of the final parameters */
    double s2 = 0.0;
    for (uint64_t s = 0; s < n; s++) {
        double e = dlor_h2_deep_predict(md, x[s]) - y[s];
        s2 += e * e;
    }
    *mse = s2 / (double)n;
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
    rng g = {seed * 0x632be59bd9b4e019ull + 7};
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

/* ---- Experiment 3: the spectral split ------------------------------------------------- */

dlor_status dlor_spectral_split(int64_t n, int64_t r, double alpha, const double *U, const double *V, double *sigma,
                                double *lowrank, double *identity, dlor_error *err)
{
    size_t nn = (size_t)(n * n);
    double *W = malloc(nn * sizeof *W), *L = malloc(nn * sizeof *L), *P = malloc(nn * sizeof *P);
    double *QT = malloc(nn * sizeof *QT), *sup = malloc((size_t)n * sizeof *sup);
    dlor_status st = DLOR_OK;
    if (!W || !L || !P || !QT || !sup) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    /* row-major: L = U V^T, W = alpha I + L */
    for (int64_t i = 0; st == DLOR_OK && i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t q = 0; q < r; q++) s += U[i * r + q] * V[j * r + q];
            L[i * n + j] = s;
            W[i * n + j] = s + (i == j ? alpha : 0.0);
        }
    if (st == DLOR_OK) {
        lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', (lapack_int)n, (lapack_int)n, W, (lapack_int)n,
                                         sigma, P, (lapack_int)n, QT, (lapack_int)n, sup);
        if (info != 0) st = dlor_fail(err, DLOR_E_NUMERIC, "SVD failed (LAPACKE_dgesvd info = %d)", (int)info);
    }
    /* (P^T L Q)_ii = p_i^T L q_i with p_i column i of P and q_i row i of Q^T */
    for (int64_t i = 0; st == DLOR_OK && i < n; i++) {
        double lr = 0, id = 0;
        for (int64_t a = 0; a < n; a++) {
            double t = 0;
            for (int64_t b = 0; b < n; b++) t += L[a * n + b] * QT[i * n + b];
            lr += P[a * n + i] * t;
            id += P[a * n + i] * QT[i * n + a];
        }
        lowrank[i] = lr;
        identity[i] = alpha * id;
    }
    free(W);
    free(L);
    free(P);
    free(QT);
    free(sup);
    return st;
}
