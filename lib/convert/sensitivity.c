/* sensitivity.c - per-layer end-to-end weights of the allocations (sensitivity.h):
 * the dense graph run over the calibration inputs with one layer's weight perturbed
 * at a time, through the runtime's float32 pass on a pool of workers. A layer's
 * inputs are those of the dense pass (its own error acts after them), so that pass
 * gathers the Gram matrix X_l^T X_l of every probed layer, and ||E X_l^T||^2 =
 * tr(E G E^T) needs no observer in the perturbed passes. */
#include "sensitivity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "calib_tokens.h"
#include "convert.h"
#include "dlor_host.h"
#include "dlor_runtime.h"
#include "dlor_pool.h"
#include "dlor_verify.h"
#include "model_load.h"
#include "progress.h"

#define SENS_BATCH 16 /* sequences (or 16 x 64 samples) per pass */

static size_t nz(uint64_t v) { return v ? (size_t)v : 1; }

typedef struct {
    dlor_tokens tok;         /* token ids, or (features) x */
    float *x;
    uint64_t n, in_dim, seq; /* samples or sequences used, features, tokens per sequence (1: features) */
    size_t batch;            /* per pass */
    /* the dense pass: per probed layer names[i] its input width in[i] and the Gram
     * matrix gram[i] (in x in, lower triangle) of the rows it sees */
    const char *const *names;
    size_t nnames;
    const uint64_t *in;
    double **gram;
    const int64_t *mask;     /* of the running batch, or NULL */
    size_t nb;
    double *rows;            /* gathered rows (in double) */
    float *yb;               /* one pass's outputs */
    dlor_pool *pool;         /* the workers of the passes without an observer */
} sens_ctx;

static int observe(void *vctx, const dlor_model *m, const dlor_image_node *node, const void *x, size_t rows,
                   uint64_t stride)
{
    sens_ctx *c = vctx;
    dlor_image_tensor t;
    dlor_image_tensor_at(&m->img, node->weight, &t);
    for (size_t i = 0; i < c->nnames; i++) {
        if (strlen(c->names[i]) != t.name_len || memcmp(c->names[i], t.name, t.name_len) != 0) continue;
        size_t k = dlor_calib_gather_rows(x, DLOR_RT_F32, rows, stride, c->in[i], c->mask, c->nb, (size_t)c->seq,
                                          c->rows);
        if (k)
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)c->in[i], (int)k, 1.0, c->rows, (int)c->in[i], 1.0,
                        c->gram[i], (int)c->in[i]);
    }
    return 0;
}

/* tr(A G A^T) = ||A X^T||_F^2 for an m x n matrix a, G = X^T X (lower triangle), tmp m x n. */
static double gram_norm2(const double *a, const double *gram, uint64_t m, uint64_t n, double *tmp)
{
    cblas_dsymm(CblasRowMajor, CblasRight, CblasLower, (int)m, (int)n, 1.0, gram, (int)n, a, (int)n, 0.0, tmp, (int)n);
    double s = 0;
    for (uint64_t i = 0; i < m * n; i++) s += tmp[i] * a[i];
    return s;
}

/* Runs the image over the calibration rows into y (the first output, every row, widened
 * to double): with the observer (gathering the Gram matrices) on one worker, else on
 * the pool. The passes run in float32: the probe errors are orders of magnitude above
 * its rounding, and the runtime's float kernels are several times faster than its double
 * ones. */
static dlor_status run_all(sens_ctx *c, const unsigned char *img, size_t len, double *y, uint64_t ystride,
                           int observed, dlor_error *err)
{
    dlor_model m;
    dlor_image_error ie;
    void *plan = NULL;
    if (dlor_model_open_alloc(&m, img, len, 0, &plan, &ie) != 0)
        return dlor_fail(err, DLOR_E_FORMAT, "the model's graph does not open for the sensitivity passes: %s", ie.msg);
    unsigned workers = observed || !c->pool ? 1 : dlor_pool_size(c->pool);
    size_t need = dlor_model_scratch_bytes(&m, c->batch, (size_t)c->seq, workers, DLOR_RT_F32);
    void *scratch = need ? malloc(need) : NULL;
    dlor_status st = need && !scratch ? dlor_fail(err, DLOR_E_NOMEM, "out of memory for the sensitivity passes") : DLOR_OK;
    for (uint64_t b0 = 0; st == DLOR_OK && b0 < c->n; b0 += c->batch) {
        size_t nb = (size_t)(c->n - b0 < c->batch ? c->n - b0 : c->batch);
        void *ys[1] = {c->yb};
        dlor_run r;
        memset(&r, 0, sizeof r);
        r.batch = nb;
        r.seq = (size_t)c->seq;
        if (c->x) {
            r.x = c->x + b0 * c->in_dim;
        } else {
            r.ids = c->tok.ids + b0 * c->seq;
            r.mask = c->tok.mask ? c->tok.mask + b0 * c->seq : NULL;
            r.type_ids = c->tok.type_ids ? c->tok.type_ids + b0 * c->seq : NULL;
            r.ids_dtype = DLOR_RT_I64;
        }
        r.y = ys;
        r.ny = 1;
        r.observe = observed ? observe : NULL;
        r.observe_ctx = c;
        c->mask = r.mask;
        c->nb = nb;
        int rc = workers > 1 ? dlor_pool_run_model(c->pool, &m, &r, DLOR_RT_F32, scratch, need, &ie)
                             : dlor_model_run(&m, &r, DLOR_RT_F32, scratch, need, NULL, &ie);
        if (rc != 0)
            st = dlor_fail(err, DLOR_E_NUMERIC, "sensitivity pass: %s", ie.msg);
        for (size_t j = 0; st == DLOR_OK && j < nb * ystride; j++) y[b0 * ystride + j] = (double)c->yb[j];
    }
    free(scratch);
    free(plan);
    return st;
}

/* ||Y1 - Y0||_F^2 over the outputs' rows (padded positions left out). */
static double out_err2(const sens_ctx *c, const double *y0, const double *y1, int per_token, uint64_t ystride,
                       uint64_t feat)
{
    double d = 0;
    for (uint64_t s = 0; s < c->n; s++)
        for (uint64_t r = 0; r < (per_token ? c->seq : 1); r++) {
            if (per_token && c->tok.mask && c->tok.mask[s * c->seq + r] == 0) continue;
            const double *a = y0 + s * ystride + r * feat, *b = y1 + s * ystride + r * feat;
            for (uint64_t f = 0; f < feat; f++) d += (a[f] - b[f]) * (a[f] - b[f]);
        }
    return d;
}

dlor_status dlor_sensitivity(const dlor_graph *g, const dlor_tensor_list *src, const char *calib,
                             const char *const *names, size_t nnames, dlor_sens_probe probe, void *probe_ctx,
                             double *weight, double *joint, int jobs, const dlor_convert_hooks *progress,
                             dlor_error *err)
{
    unsigned char **pws = NULL;
    if (joint && !(pws = calloc(nnames ? nnames : 1, sizeof *pws)))
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory for the sensitivity passes");
    sens_ctx c;
    memset(&c, 0, sizeof c);
    uint64_t in_dim = 0;
    unsigned char *img = NULL, *pw = NULL;
    size_t len = 0;
    double *y0 = NULL, *y1 = NULL, *w = NULL, *e = NULL, *tmp = NULL;
    dlor_status st = dlor_graph_check(g, src, "model", &in_dim, NULL, err);
    if (st == DLOR_OK) st = dlor_calib_model_image(g, src, NULL, NULL, 0, &img, &len, err);
    /* the calibration rows: whole sequences or samples, DLOR_SENS_ROWS at most */
    dlor_model m;
    dlor_image_error ie;
    void *plan = NULL;
    int per_token = 0;
    uint64_t feat = 0;
    if (st == DLOR_OK && dlor_model_open_alloc(&m, img, len, 0, &plan, &ie) != 0)
        st = dlor_fail(err, DLOR_E_FORMAT, "the model's graph does not open for the sensitivity passes: %s", ie.msg);
    else if (st == DLOR_OK) {
        const char *nm;
        uint32_t nl;
        dlor_model_output_at(&m, 0, &nm, &nl, &per_token, &feat);
        if (in_dim == 0) {
            st = dlor_load_tokens(calib, &m, &c.tok, err);
            c.seq = c.tok.seq;
            c.n = c.tok.n;
            c.batch = SENS_BATCH;
        } else {
            st = dlor_load_inputs(calib, in_dim, &c.x, &c.n, err);
            c.seq = 1;
            c.in_dim = in_dim;
            c.batch = SENS_BATCH * 64;
        }
        free(plan);
        if (c.seq && c.n * c.seq > DLOR_SENS_ROWS) c.n = DLOR_SENS_ROWS / c.seq ? DLOR_SENS_ROWS / c.seq : 1;
    }
    uint64_t ystride = (per_token ? c.seq : 1) * feat, widest = 0, biggest = 0;
    for (size_t i = 0; st == DLOR_OK && i < nnames; i++) {
        const dlor_tensor *t = dlor_tensor_list_find(src, names[i]);
        if (!t || t->ndim != 2) {
            st = dlor_fail(err, DLOR_E_ARG, "sensitivity: no 2-D weight '%s'", names[i]);
            break;
        }
        if (t->dims[1] > widest) widest = t->dims[1];
        if (t->dims[0] * t->dims[1] > biggest) biggest = t->dims[0] * t->dims[1];
    }
    uint64_t *ins = calloc(nz(nnames), sizeof *ins);
    c.gram = calloc(nz(nnames), sizeof *c.gram);
    if (st == DLOR_OK && (!ins || !c.gram)) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for the sensitivity passes");
    for (size_t i = 0; st == DLOR_OK && !joint && i < nnames; i++) {
        ins[i] = dlor_tensor_list_find(src, names[i])->dims[1];
        if (!(c.gram[i] = calloc((size_t)(ins[i] * ins[i]), sizeof(double))))
            st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for the Gram matrix of '%s'", names[i]);
    }
    c.names = names;
    c.nnames = joint ? 0 : nnames;
    c.in = ins;
    if (st == DLOR_OK && jobs > 1 && !(c.pool = dlor_pool_create(jobs > 256 ? 256u : (unsigned)jobs)))
        st = dlor_fail(err, DLOR_E_NOMEM, "cannot start the workers of the sensitivity passes");
    if (st == DLOR_OK) {
        size_t rows = c.batch * (size_t)c.seq;
        y0 = malloc(nz(c.n * ystride) * sizeof *y0);
        y1 = malloc(nz(c.n * ystride) * sizeof *y1);
        w = malloc(nz(biggest) * sizeof *w);
        e = malloc(nz(biggest) * sizeof *e);
        pw = malloc(nz(biggest) * 4);
        c.rows = malloc(nz(rows * widest) * sizeof *c.rows);
        tmp = malloc(nz(biggest) * sizeof *tmp);
        c.yb = malloc(nz(c.batch * ystride) * sizeof *c.yb);
        if (!y0 || !y1 || !w || !e || !pw || !c.rows || !tmp || !c.yb)
            st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for the sensitivity passes");
    }
    if (st == DLOR_OK) st = run_all(&c, img, len, y0, ystride, !joint, err);
    free(img);
    img = NULL;
    dlor_phase prog;
    dlor_progress_begin(&prog, progress, "sensitivity", "layers", nnames, 0);
    for (size_t i = 0; st == DLOR_OK && i < nnames; i++) {
        const dlor_tensor *t = dlor_tensor_list_find(src, names[i]);
        uint64_t mm = t->dims[0], nn = t->dims[1], mn = mm * nn, nq = 0;
        unsigned char *q = NULL;
        st = dlor_tensor_to_f64(t, w, err);
        dlor_tensor_release(src, t);
        /* the probe: the layer's q4 error, as the f32 image holds W + E */
        if (st == DLOR_OK && probe) {
            st = probe(probe_ctx, i, w, (int64_t)mm, (int64_t)nn, e, err);
        } else if (st == DLOR_OK && dlor_shape_nbytes(t->dims, 2, DLOR_DT_Q4, &nq) != 0)
            st = dlor_fail(err, DLOR_E_LIMIT, "layer '%s' is too large", t->name);
        if (st == DLOR_OK && !probe && !(q = malloc(nq ? (size_t)nq : 1)))
            st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", t->name);
        if (st == DLOR_OK && !probe) st = dlor_encode_matrix(w, mm, nn, DLOR_DT_Q4, q, t->name, err);
        if (st == DLOR_OK && !probe) {
            dlor_tensor qt;
            memset(&qt, 0, sizeof qt);
            qt.name = (char *)t->name;
            qt.dtype = DLOR_DT_Q4;
            qt.ndim = 2;
            qt.dims[0] = mm;
            qt.dims[1] = nn;
            qt.nelem = mn;
            qt.nbytes = (size_t)nq;
            qt.data = q;
            st = dlor_tensor_to_f64(&qt, e, err);
        }
        free(q);
        if (st == DLOR_OK && joint) { /* kept for the one pass with every layer perturbed */
            if (!(pws[i] = malloc((size_t)mn * 4))) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for '%s'", t->name);
            else dlor_encode_f64(e, (size_t)mn, DLOR_DT_F32, pws[i]);
        } else if (st == DLOR_OK) {
            dlor_encode_f64(e, (size_t)mn, DLOR_DT_F32, pw);
            float f;
            for (uint64_t j = 0; j < mn; j++) { /* the error the pass sees */
                memcpy(&f, pw + 4 * j, 4);
                e[j] = (double)f - w[j];
            }
            const char *nm = t->name;
            st = dlor_calib_model_image(g, src, &nm, &pw, 1, &img, &len, err);
        }
        if (joint) {
            dlor_progress_step(&prog, 0);
            continue;
        }
        if (st == DLOR_OK) st = run_all(&c, img, len, y1, ystride, 0, err);
        free(img);
        img = NULL;
        if (st == DLOR_OK) {
            double d = out_err2(&c, y0, y1, per_token, ystride, feat);
            double se = gram_norm2(e, c.gram[i], mm, nn, tmp), sw = gram_norm2(w, c.gram[i], mm, nn, tmp);
            weight[i] = se > 0 && isfinite(d) ? d / se * sw : 0;
        }
        dlor_progress_step(&prog, 0);
    }
    dlor_progress_end(&prog);
    if (st == DLOR_OK && joint) {
        st = dlor_calib_model_image(g, src, names, pws, nnames, &img, &len, err);
        if (st == DLOR_OK) st = run_all(&c, img, len, y1, ystride, 0, err);
        free(img);
        /* 1 - the mean per-sample cosine of the outputs, mean-pooled over each sequence's
         * tokens when there is one row per token: the figure dlor verify reports */
        double mean = 0, lo = 0;
        if (st == DLOR_OK)
            dlor_pooled_cosine(y0, y1, per_token ? c.tok.mask : NULL, c.n, per_token ? c.seq : 1, feat, &mean, &lo);
        *joint = st == DLOR_OK ? 1.0 - mean : 0;
    }
    for (size_t i = 0; pws && i < nnames; i++) free(pws[i]);
    free(pws);
    free(y0);
    free(y1);
    free(w);
    free(e);
    free(pw);
    free(c.rows);
    free(tmp);
    for (size_t i = 0; c.gram && i < nnames; i++) free(c.gram[i]);
    free(c.gram);
    free(ins);
    dlor_pool_destroy(c.pool);
    free(c.yb);
    free(c.x);
    dlor_tokens_free(&c.tok);
    return st;
}
