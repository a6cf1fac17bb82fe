/* h2_train.c - the deep H.2 model's own forward pass and its trainer: full-batch Adam
 * on the mean squared error with torch's ReduceLROnPlateau schedule, as Appendix H.2
 * trains it (sawtooth.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sawtooth.h"

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

/* Layer l on the N values hp: z = V_l^T hp (r values), a = alpha hp + b_l + U_l z (the
 * pre-activations) and h = softplus(a) (N values each; h may be hp). */
static void deep_layer(const dlor_h2_deep *m, int64_t l, const double *hp, double *z, double *a, double *h)
{
    const int64_t N = m->N, r = m->r;
    const double *U = m->U + l * N * r, *V = m->V + l * N * r;
    for (int64_t j = 0; j < r; j++) {
        double t = 0;
        for (int64_t i = 0; i < N; i++) t += V[i * r + j] * hp[i];
        z[j] = t;
    }
    for (int64_t i = 0; i < N; i++) {
        double t = m->alpha * hp[i] + m->b[l * N + i];
        for (int64_t j = 0; j < r; j++) t += U[i * r + j] * z[j];
        a[i] = t;
        h[i] = softplus(t);
    }
}

double dlor_h2_deep_predict(const dlor_h2_deep *m, double x)
{
    int64_t N = m->N;
    double h[1024], a[1024], z[1024];
    if (N > 1024) return NAN; /* the H.2 models are 16 wide */
    for (int64_t i = 0; i < N; i++) h[i] = softplus(m->win[i] * x + m->bin[i]);
    for (int64_t l = 0; l < m->k; l++) deep_layer(m, l, h, z, a, h);
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
            for (int64_t l = 0; l < k; l++)
                deep_layer(md, l, Hs + l * N, Zs + l * r, As + (l + 1) * N, Hs + (l + 1) * N);
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
