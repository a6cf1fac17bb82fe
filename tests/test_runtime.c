/* test_runtime.c - the float32 runtime against a double-precision reference
 * built independently (dense matrices rebuilt with dlor_reconstruct, the
 * activations written out from their definitions), plus its contracts:
 * scratch sizing, batch and alignment invariance, no-graph refusal, threads. */
#define _POSIX_C_SOURCE 200809L
#define _GNU_SOURCE /* pthread_getaffinity_np, CPU_EQUAL (Linux) */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_container.h"
#include "dlor_factor.h"
#include "dlor_graph_eval.h"
#include "dlor_pool.h"
#include "dlor_runtime.h"
#include "dlor_verify.h"
#include "testutil.h"

static dlt_rng rng = {42};

/* Adds layer 'name' (m x n, dense w) to c: factored (method) or dense (method NONE).
 * keep > 0 keeps only the first 'keep' columns of U and V (a compressed layer:
 * the truncated SVD for add, the first factors of the product for mul). */
static void add_layer_k(dlor_container *c, const char *name, const double *w, int64_t m, int64_t n,
                        dlor_method method, int64_t rank, dlor_dtype dt, int64_t keep);

static void add_layer(dlor_container *c, const char *name, const double *w, int64_t m, int64_t n, dlor_method method,
                      int64_t rank, dlor_dtype dt)
{
    add_layer_k(c, name, w, m, n, method, rank, dt, 0);
}

static void add_layer_k(dlor_container *c, const char *name, const double *w, int64_t m, int64_t n,
                        dlor_method method, int64_t rank, dlor_dtype dt, int64_t keep)
{
    if (method == DLOR_METHOD_NONE) {
        dlt_add_tensor(c, name, w, 2, (uint64_t)m, (uint64_t)n, dt);
        return;
    }
    dlor_factor_opts o = {method, method == DLOR_METHOD_MUL ? DLOR_BASIS_SCHUR : DLOR_BASIS_SVD, rank, 1, 0, 0, dt};
    dlor_factored f;
    dlor_error e;
    CHECK(dlor_factor(name, w, m, n, &o, &f, &e) == DLOR_OK, "factor %s: %s", name, e.msg);
    if (keep > 0 && keep < f.k) {
        f.k = keep;
        f.factors = (keep + f.rank - 1) / f.rank;
    }
    char un[64], vn[64];
    snprintf(un, sizeof un, "%s.dlor.U", name);
    snprintf(vn, sizeof vn, "%s.dlor.V", name);
    dlt_add_tensor(c, un, f.ut, 2, (uint64_t)f.k, (uint64_t)f.dim_u, dt);
    dlt_add_tensor(c, vn, f.vt, 2, (uint64_t)f.k, (uint64_t)f.dim_v, dt);
    dlor_layer_desc d = {(char *)name, method == DLOR_METHOD_MUL ? DLOR_IMAGE_MUL : DLOR_IMAGE_ADD,
                         method == DLOR_METHOD_MUL ? DLOR_IMAGE_SCHUR : DLOR_IMAGE_SVD, (uint64_t)m, (uint64_t)n,
                         (uint64_t)f.rank, (uint64_t)f.factors, f.alpha, un, vn, DLOR_DT_F32, 0,
                         DLOR_IMAGE_U_PANELS /* check_model compares with rows (DLOR_FORMAT.md 7.6) */, NULL};
    CHECK(dlor_container_add_layer(c, &d, &e) == DLOR_OK, "layer %s", e.msg);
    dlor_factored_free(&f);
}

/* ---- the double-precision reference ------------------------------------ */

static double act_ref(int act, double x, double p)
{
    switch (act) {
    case DLOR_ACT_RELU: return x > 0 ? x : 0;
    case DLOR_ACT_LEAKY_RELU: return x >= 0 ? x : p * x;
    case DLOR_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case DLOR_ACT_TANH: return tanh(x);
    case DLOR_ACT_SOFTPLUS: return log(1 + exp(x));
    case DLOR_ACT_GELU_ERF: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case DLOR_ACT_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case DLOR_ACT_SILU: return x / (1 + exp(-x));
    default: return x;
    }
}

/* Evaluates the container's graph in double: each linear's matrix is the dense
 * tensor or the layer rebuilt from its stored factors. */
static void reference(const dlor_container *c, const double *x, uint64_t batch, uint64_t nin, double *y,
                      uint64_t *nout)
{
    uint64_t width = 4096;
    double *cur = calloc(batch * width, sizeof *cur), *nxt = calloc(batch * width, sizeof *nxt);
    uint64_t n = nin;
    for (uint64_t b = 0; b < batch; b++) memcpy(cur + b * width, x + b * nin, nin * sizeof *x);
    for (size_t i = 0; i < c->graph.count; i++) {
        const dlor_graph_op *op = &c->graph.ops[i];
        if (op->kind == DLOR_OP_ACT) {
            for (uint64_t b = 0; b < batch; b++)
                for (uint64_t j = 0; j < n; j++) cur[b * width + j] = act_ref(op->act, cur[b * width + j], op->param);
            continue;
        }
        if (op->kind == DLOR_OP_SOFTMAX) {
            for (uint64_t b = 0; b < batch; b++) {
                double s = 0, *v = cur + b * width;
                for (uint64_t j = 0; j < n; j++) s += exp(v[j]);
                for (uint64_t j = 0; j < n; j++) v[j] = exp(v[j]) / s;
            }
            continue;
        }
        const dlor_layer_desc *L = dlor_container_find_layer(c, op->weight);
        uint64_t m, k;
        double *W;
        dlor_error e;
        if (L) {
            dlor_factored f;
            dlor_layer_load(c, L, &f, &e);
            m = L->rows;
            k = L->cols;
            W = malloc(m * k * sizeof *W);
            dlor_reconstruct(&f, W, &e);
            dlor_factored_free(&f);
        } else {
            const dlor_tensor *t = dlor_tensor_list_find(&c->tensors, op->weight);
            m = t->dims[0];
            k = t->dims[1];
            W = malloc(m * k * sizeof *W);
            dlor_tensor_to_f64(t, W, &e);
        }
        double *bias = NULL;
        if (op->bias) {
            const dlor_tensor *t = dlor_tensor_list_find(&c->tensors, op->bias);
            bias = malloc(m * sizeof *bias);
            dlor_tensor_to_f64(t, bias, &e);
        }
        for (uint64_t b = 0; b < batch; b++)
            for (uint64_t r = 0; r < m; r++) {
                double s = bias ? bias[r] : 0;
                for (uint64_t j = 0; j < k; j++) s += W[r * k + j] * cur[b * width + j];
                nxt[b * width + r] = s;
            }
        free(W);
        free(bias);
        double *t = cur;
        cur = nxt;
        nxt = t;
        n = m;
    }
    for (uint64_t b = 0; b < batch; b++) memcpy(y + b * n, cur + b * width, n * sizeof *y);
    *nout = n;
    free(cur);
    free(nxt);
}

/* A pool pinned one worker per processor gives the same bits, and unpinning
 * gives the calling thread its affinity back. */
static void test_pinned_pool(const char *what, const dlor_model *m, const float *x, uint64_t batch, const float *y,
                             uint64_t nout)
{
#if defined(__linux__)
    cpu_set_t before, after;
    CHECK(pthread_getaffinity_np(pthread_self(), sizeof before, &before) == 0, "affinity");
    dlor_pool *pool = dlor_pool_create(2);
    size_t need = dlor_model_scratch_size_team(m, (size_t)batch, 2);
    void *ts = malloc(need);
    float *yp = calloc((size_t)(batch * nout), sizeof *yp);
    dlor_image_error ie;
    CHECK(pool && dlor_pool_pin(pool) == 0, "%s: pin", what);
    CHECK(dlor_pool_forward(pool, m, x, (size_t)batch, yp, ts, need, &ie) == 0 &&
              memcmp(yp, y, (size_t)(batch * nout) * sizeof *y) == 0,
          "%s: a pinned team of 2: not the bits of one call", what);
    CHECK(dlor_pool_unpin(pool) == 0, "%s: unpin", what);
    CHECK(pthread_getaffinity_np(pthread_self(), sizeof after, &after) == 0 && CPU_EQUAL(&before, &after),
          "%s: unpinning restores the caller's affinity", what);
    dlor_pool_destroy(pool);
    free(ts);
    free(yp);
#else
    (void)what, (void)m, (void)x, (void)batch, (void)y, (void)nout;
#endif
}

/* dlor_pool_run: every worker runs the function once, with its own id, and a
 * forward pass after it still gives the bits of one call. */
static unsigned run_calls[5];
static void count_call(void *arg, unsigned id, unsigned size)
{
    if (id < 5 && size == 5 && arg == (void *)run_calls) __atomic_add_fetch(&run_calls[id], 1, __ATOMIC_RELAXED);
}

static void test_pool_run(const char *what, const dlor_model *m, const float *x, uint64_t batch, const float *y,
                          uint64_t nout)
{
    dlor_pool *pool = dlor_pool_create(5);
    size_t need = dlor_model_scratch_size_team(m, (size_t)batch, 5);
    void *ts = malloc(need);
    float *yp = calloc((size_t)(batch * nout), sizeof *yp);
    dlor_image_error ie;
    CHECK(pool && ts && yp, "%s: pool of 5", what);
    memset(run_calls, 0, sizeof run_calls);
    dlor_pool_run(pool, count_call, run_calls);
    dlor_pool_run(pool, count_call, run_calls);
    for (unsigned i = 0; i < 5; i++) CHECK(run_calls[i] == 2, "%s: worker %u ran %u times, not 2", what, i, run_calls[i]);
    CHECK(dlor_pool_forward(pool, m, x, (size_t)batch, yp, ts, need, &ie) == 0 &&
              memcmp(yp, y, (size_t)(batch * nout) * sizeof *y) == 0,
          "%s: a forward pass after dlor_pool_run: not the bits of one call", what);
    dlor_pool_destroy(pool);
    free(ts);
    free(yp);
}

/* The model with every U tensor in rows instead of panels: in double the same
 * bits (each factor is unpacked to rows, then the same arithmetic); in float32,
 * alone and in a team of 3, within tol of the panels' output (relative, 2-norm:
 * the panel kernel adds a factor's rows in order, the row path in bands, so
 * they round differently; a misplaced element would be off by O(1)). */
static double rel_diff(const float *a, const float *b, uint64_t n)
{
    double num = 0, den = 0;
    for (uint64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static void check_layouts(const char *what, dlor_container *c, const dlor_model *m, const float *x, uint64_t batch,
                          const float *y, uint64_t nout, double tol)
{
    unsigned char *img;
    size_t len;
    dlor_error e;
    dlor_image_error ie;
    dlor_model mr;
    dlor_container_set_u_layout(c, DLOR_IMAGE_U_ROWS);
    int rc = dlor_container_to_memory(c, &img, &len, &e);
    dlor_container_set_u_layout(c, DLOR_IMAGE_U_PANELS);
    CHECK(rc == DLOR_OK && dlor_model_open(&mr, img, len, DLOR_IMAGE_CHECK_CRC, &ie) == 0, "%s: rows layout", what);
    if (rc != DLOR_OK) return;
    size_t need = dlor_model_scratch_size_team(&mr, batch, 3), need64 = dlor_model_scratch_size_f64(m, batch);
    void *ts = malloc(need), *s64 = malloc(need64);
    float *yr = calloc(batch * nout, sizeof *yr);
    dlor_pool *pool = dlor_pool_create(3);
    CHECK(dlor_model_forward(&mr, x, batch, yr, ts, need, &ie) == 0 && rel_diff(yr, y, batch * nout) <= tol,
          "%s: U in rows and in panels: relative difference %.3g > %.3g", what, rel_diff(yr, y, batch * nout), tol);
    float *yt = calloc(batch * nout, sizeof *yt);
    CHECK(pool && dlor_pool_forward(pool, &mr, x, batch, yt, ts, need, &ie) == 0 &&
              memcmp(yt, yr, batch * nout * sizeof *yt) == 0,
          "%s: U in rows, a team of 3 differs from one call", what);
    free(yt);
    double *xd = malloc(batch * dlor_model_input_dim(m) * sizeof *xd), *y64 = malloc(batch * nout * sizeof *y64),
           *y64r = malloc(batch * nout * sizeof *y64r);
    for (uint64_t i = 0; i < batch * dlor_model_input_dim(m); i++) xd[i] = x[i];
    /* the double pass runs the float32 pass's kernels (one body): its layouts
     * round differently too, within double's rounding */
    double d64 = 0, n64 = 0;
    CHECK(dlor_model_forward_f64(m, xd, batch, y64, s64, need64, &ie) == 0 &&
              dlor_model_forward_f64(&mr, xd, batch, y64r, s64, need64, &ie) == 0,
          "%s: double precision: %s", what, ie.msg);
    for (uint64_t i = 0; i < batch * nout; i++) {
        d64 = fmax(d64, fabs(y64[i] - y64r[i]));
        n64 = fmax(n64, fabs(y64[i]));
    }
    CHECK(d64 <= 1e-12 * n64, "%s: double precision, U in rows and in panels: relative difference %.3g", what,
          n64 > 0 ? d64 / n64 : d64);
    dlor_pool_destroy(pool);
    free(xd);
    free(y64);
    free(y64r);
    free(yr);
    free(ts);
    free(s64);
    free(img);
}

/* Opens c through the runtime and compares with the reference. */
static void check_model(const char *what, dlor_container *c, uint64_t nin, uint64_t batch, double tol)
{
    unsigned char *img;
    size_t len;
    dlor_error e;
    dlor_image_error ie;
    dlor_model m;
    CHECK(dlor_container_to_memory(c, &img, &len, &e) == DLOR_OK, "%s: serialize: %s", what, e.msg);
    int rc = dlor_model_open(&m, img, len, DLOR_IMAGE_CHECK_CRC, &ie);
    CHECK(rc == 0, "%s: open: %s", what, ie.msg);
    if (rc) {
        free(img);
        return;
    }
    CHECK(dlor_model_input_dim(&m) == nin, "%s: input dim", what);
    double *xd = dlt_normals(&rng, batch * nin, 1.0), *yref = malloc(batch * 4096 * sizeof(double));
    float *x = malloc(batch * nin * sizeof *x);
    for (uint64_t i = 0; i < batch * nin; i++) {
        x[i] = (float)xd[i];
        xd[i] = x[i];
    }
    uint64_t nout;
    reference(c, xd, batch, nin, yref, &nout);
    CHECK(dlor_model_output_dim(&m) == nout, "%s: output dim", what);
    size_t need = dlor_model_scratch_size(&m, batch);
    void *scratch;
    CHECK(posix_memalign(&scratch, 64, need) == 0, "alloc");
    float *y = malloc(batch * nout * sizeof *y), *y1 = malloc(batch * nout * sizeof *y1);
    rc = dlor_model_forward(&m, x, batch, y, scratch, need, &ie);
    CHECK(rc == 0, "%s: forward: %s", what, ie.msg);
    double num = 0, den = 0, maxrel = 0;
    for (uint64_t i = 0; i < batch * nout; i++) {
        double d = fabs(y[i] - yref[i]);
        num += d * d;
        den += yref[i] * yref[i];
        if (d / (fabs(yref[i]) + 1e-3) > maxrel) maxrel = d / (fabs(yref[i]) + 1e-3);
    }
    double rel = sqrt(num / (den > 0 ? den : 1));
    CHECK(rel <= tol, "%s: float32 runtime vs double reference: rel error %.3g > %.3g", what, rel, tol);

    /* One sample at a time gives the same bits as the whole batch. */
    for (uint64_t b = 0; b < batch; b++) dlor_model_forward(&m, x + b * nin, 1, y1 + b * nout, scratch, need, &ie);
    CHECK(memcmp(y, y1, batch * nout * sizeof *y) == 0, "%s: batch of %llu differs from one-by-one", what,
          (unsigned long long)batch);

    /* An image at an odd address (f32 data then widened, not used in place) gives
     * the same bits; it needs scratch for the widening that an aligned image of
     * f32 tensors does without. */
    unsigned char *odd = malloc(len + 1);
    memcpy(odd + 1, img, len);
    dlor_model m2;
    CHECK(dlor_model_open(&m2, odd + 1, len, 0, &ie) == 0, "%s: open unaligned: %s", what, ie.msg);
    size_t need2 = dlor_model_scratch_size(&m2, batch);
    void *scratch2;
    CHECK(need2 >= need && posix_memalign(&scratch2, 64, need2) == 0, "%s: unaligned needs %zu, aligned %zu", what,
          need2, need);
    memset(y1, 0, batch * nout * sizeof *y1);
    rc = dlor_model_forward(&m2, x, batch, y1, scratch2, need2, &ie);
    CHECK(rc == 0 && memcmp(y, y1, batch * nout * sizeof *y) == 0, "%s: unaligned image changes the output: %s",
          what, rc ? ie.msg : "");
    if (need2 > need)
        CHECK(dlor_model_forward(&m2, x, batch, y1, scratch2, need, &ie) == DLOR_RT_E_SCRATCH,
              "%s: the aligned image's scratch is refused for the unaligned one", what);
    free(scratch2);

    /* A team of workers (threads of a dlor_pool, rows split among them) gives the
     * same bits as one call, for this batch and for one sample. */
    for (unsigned workers = 2; workers <= 5; workers += 3) {
        dlor_pool *pool = dlor_pool_create(workers);
        CHECK(pool && dlor_pool_size(pool) == workers, "%s: pool of %u", what, workers);
        if (!pool) continue;
        for (int one = 0; one < 2; one++) {
            size_t nb = one ? 1 : (size_t)batch, tneed = dlor_model_scratch_size_team(&m, nb, workers);
            void *ts = malloc(tneed);
            memset(y1, 0, batch * nout * sizeof *y1);
            rc = dlor_pool_forward(pool, &m, x, nb, y1, ts, tneed, &ie);
            CHECK(rc == 0 && memcmp(y, y1, nb * nout * sizeof *y) == 0, "%s: a team of %u, batch %zu: %s", what,
                  workers, nb, rc ? ie.msg : "different bits");
            rc = dlor_pool_forward(pool, &m, x, nb, y1, ts, tneed - 1, &ie);
            CHECK(rc == DLOR_RT_E_SCRATCH, "%s: a team of %u refuses short scratch", what, workers);
            free(ts);
        }
        dlor_pool_destroy(pool);
    }
    test_pinned_pool(what, &m, x, batch, y, nout);
    test_pool_run(what, &m, x, batch, y, nout);
    check_layouts(what, c, &m, x, batch, y, nout, tol);

    /* Scratch one byte short is refused; nothing is written to y. */
    float sentinel = y1[0] = 12345.0f;
    rc = dlor_model_forward(&m, x, batch, y1, scratch, need - 1, &ie);
    CHECK(rc == DLOR_RT_E_SCRATCH && strstr(ie.msg, "too small") && y1[0] == sentinel, "%s: short scratch: %d %s",
          what, rc, ie.msg);
    CHECK(dlor_model_scratch_size(&m, batch + 1) >= need && dlor_model_scratch_size(&m, 32 * batch) > need,
          "%s: scratch grows with the batch", what);
    free(odd);
    free(scratch);
    free(x);
    free(xd);
    free(y);
    free(y1);
    free(yref);
    free(img);
}

static void test_activations(void)
{
    for (int act = 0; act <= DLOR_ACT_SILU; act++) {
        dlor_container c;
        dlor_error e;
        dlor_container_init(&c);
        double *w1 = dlt_normals(&rng, 6 * 5, 1.0), *b1 = dlt_normals(&rng, 6, 0.5),
               *w2 = dlt_normals(&rng, 3 * 6, 0.5);
        add_layer(&c, "a", w1, 6, 5, DLOR_METHOD_NONE, 0, DLOR_DT_F32);
        dlt_add_tensor(&c, "a.bias", b1, 1, 6, 0, DLOR_DT_F32);
        add_layer(&c, "b", w2, 3, 6, DLOR_METHOD_MUL, 2, DLOR_DT_F32);
        dlor_graph_add_linear(&c.graph, "a", "a.bias", &e);
        dlor_graph_add_act(&c.graph, (dlor_act)act, act == DLOR_ACT_LEAKY_RELU ? 0.2 : 0.0, &e);
        dlor_graph_add_linear(&c.graph, "b", NULL, &e);
        if (act == DLOR_ACT_SIGMOID) dlor_graph_add_softmax(&c.graph, &e);
        char what[64];
        snprintf(what, sizeof what, "activation %s", dlor_act_name((dlor_act)act));
        check_model(what, &c, 5, 9, 2e-6);
        dlor_container_free(&c);
        free(w1);
        free(b1);
        free(w2);
    }
}

/* A deeper model mixing dense, mul (square and rectangular both ways) and add
 * layers, for every storage dtype. */
static void test_mixed(dlor_dtype dt, double tol)
{
    dlor_container c;
    dlor_error e;
    dlor_container_init(&c);
    double *w1 = dlt_normals(&rng, 40 * 24, 0.2), *w2 = dlt_normals(&rng, 40 * 40, 0.15),
           *w3 = dlt_normals(&rng, 17 * 40, 0.15), *w4 = dlt_normals(&rng, 10 * 17, 0.25),
           *b2 = dlt_normals(&rng, 40, 0.1), *b4 = dlt_normals(&rng, 10, 0.1);
    add_layer(&c, "l1", w1, 40, 24, DLOR_METHOD_MUL, 5, dt);  /* wide: padded to 40 */
    add_layer(&c, "l2", w2, 40, 40, DLOR_METHOD_MUL, 8, dt);
    dlt_add_tensor(&c, "l2.bias", b2, 1, 40, 0, dt);
    add_layer(&c, "l3", w3, 17, 40, DLOR_METHOD_ADD, 3, dt);
    add_layer(&c, "l4", w4, 10, 17, DLOR_METHOD_NONE, 0, dt);
    dlt_add_tensor(&c, "l4.bias", b4, 1, 10, 0, dt);
    dlor_graph_add_linear(&c.graph, "l1", NULL, &e);
    dlor_graph_add_act(&c.graph, DLOR_ACT_TANH, 0, &e);
    dlor_graph_add_linear(&c.graph, "l2", "l2.bias", &e);
    dlor_graph_add_act(&c.graph, DLOR_ACT_GELU_ERF, 0, &e);
    dlor_graph_add_linear(&c.graph, "l3", NULL, &e);
    dlor_graph_add_act(&c.graph, DLOR_ACT_SOFTPLUS, 0, &e);
    dlor_graph_add_linear(&c.graph, "l4", "l4.bias", &e);
    char what[64];
    snprintf(what, sizeof what, "mixed model, %s storage", dlor_dtype_name(dt));
    check_model(what, &c, 24, 13, tol);
    dlor_container_free(&c);
    free(w1);
    free(w2);
    free(w3);
    free(w4);
    free(b2);
    free(b4);
}

/* Compressed layers: fewer factor columns than an exact factorization. */
static void test_truncated(void)
{
    dlor_container c;
    dlor_error e;
    dlor_container_init(&c);
    double *w1 = dlt_normals(&rng, 30 * 20, 0.3), *w2 = dlt_normals(&rng, 30 * 30, 0.2),
           *w3 = dlt_normals(&rng, 6 * 30, 0.3);
    add_layer_k(&c, "t1", w1, 30, 20, DLOR_METHOD_ADD, 4, DLOR_DT_F32, 4);  /* beta I + P Q^T, rank 4 */
    add_layer_k(&c, "t2", w2, 30, 30, DLOR_METHOD_MUL, 3, DLOR_DT_F16, 7);  /* 3 factors, 7 columns */
    add_layer_k(&c, "t3", w3, 6, 30, DLOR_METHOD_ADD, 2, DLOR_DT_F32, 5);   /* 3 pieces, 5 columns */
    dlor_graph_add_linear(&c.graph, "t1", NULL, &e);
    dlor_graph_add_act(&c.graph, DLOR_ACT_RELU, 0, &e);
    dlor_graph_add_linear(&c.graph, "t2", NULL, &e);
    dlor_graph_add_act(&c.graph, DLOR_ACT_SILU, 0, &e);
    dlor_graph_add_linear(&c.graph, "t3", NULL, &e);
    const dlor_layer_desc *L = dlor_container_find_layer(&c, "t2");
    CHECK(L && L->factors == 3, "truncated mul keeps 3 factors");
    check_model("truncated (compressed) layers", &c, 20, 11, 3e-6);
    dlor_container_free(&c);
    free(w1);
    free(w2);
    free(w3);
}

/* Layers wide enough that every worker of a team of 2 updates four or more
 * full blocks of 16 columns per factor (DLOR_FORMAT.md 7.6), with a partial
 * block at the end: an exact mul of rank mul_rank (150 x 150), an exact add of
 * rank add_rank (131 x 150) and, when lr_rank > 0, a compressed add beta I + P Q^T
 * of that rank (140 x 131); check_model runs them with a scratch of exactly the
 * size asked for, so AddressSanitizer sees an overrun of it. */
static void test_wide(const char *label, dlor_dtype dt, int mul_rank, int add_rank, int lr_rank)
{
    dlor_container c;
    dlor_error e;
    dlor_container_init(&c);
    double *w1 = dlt_normals(&rng, 150 * 150, 1.0 / sqrt(150.0)), *w2 = dlt_normals(&rng, 131 * 150, 1.0 / sqrt(150.0)),
           *w3 = lr_rank > 0 ? dlt_normals(&rng, 140 * 131, 1.0 / sqrt(131.0)) : NULL;
    add_layer(&c, "w1", w1, 150, 150, DLOR_METHOD_MUL, mul_rank, dt);
    add_layer(&c, "w2", w2, 131, 150, DLOR_METHOD_ADD, add_rank, dt);
    dlor_graph_add_linear(&c.graph, "w1", NULL, &e);
    dlor_graph_add_act(&c.graph, DLOR_ACT_TANH, 0, &e);
    dlor_graph_add_linear(&c.graph, "w2", NULL, &e);
    if (lr_rank > 0) {
        add_layer_k(&c, "w3", w3, 140, 131, DLOR_METHOD_ADD, lr_rank, dt, lr_rank);
        dlor_graph_add_act(&c.graph, DLOR_ACT_RELU, 0, &e);
        dlor_graph_add_linear(&c.graph, "w3", NULL, &e);
    }
    char what[64];
    snprintf(what, sizeof what, "%s, %s storage", label, dlor_dtype_name(dt));
    check_model(what, &c, 150, lr_rank > 0 ? 7 : 5, 2e-5);
    dlor_container_free(&c);
    free(w1);
    free(w2);
    free(w3);
}

/* dlor_graph_forward_f64 (the host's double evaluation, used for calibration)
 * against the test's own reference, and its hook's view of each layer's input. */
typedef struct {
    int calls;
    uint64_t ins[8];
} hook_log;

static dlor_status log_hook(void *ctx, size_t op, const char *weight, const double *x, uint64_t n, uint64_t in,
                            dlor_error *err)
{
    hook_log *h = ctx;
    (void)op; (void)weight; (void)x; (void)n; (void)err;
    if (h->calls < 8) h->ins[h->calls] = in;
    h->calls++;
    return DLOR_OK;
}

static void test_graph_eval(void)
{
    dlor_container c;
    dlor_error e;
    dlor_container_init(&c);
    double *w1 = dlt_normals(&rng, 9 * 4, 0.5), *b1 = dlt_normals(&rng, 9, 0.1), *w2 = dlt_normals(&rng, 5 * 9, 0.5),
           *w3 = dlt_normals(&rng, 3 * 5, 0.5);
    dlt_add_tensor(&c, "w1", w1, 2, 9, 4, DLOR_DT_F32);
    dlt_add_tensor(&c, "b1", b1, 1, 9, 0, DLOR_DT_F16);
    dlt_add_tensor(&c, "w2", w2, 2, 5, 9, DLOR_DT_F64);
    dlt_add_tensor(&c, "w3", w3, 2, 3, 5, DLOR_DT_BF16);
    dlor_graph_add_linear(&c.graph, "w1", "b1", &e);
    dlor_graph_add_act(&c.graph, DLOR_ACT_GELU_TANH, 0, &e);
    dlor_graph_add_linear(&c.graph, "w2", NULL, &e);
    dlor_graph_add_act(&c.graph, DLOR_ACT_LEAKY_RELU, 0.1, &e);
    dlor_graph_add_linear(&c.graph, "w3", NULL, &e);
    dlor_graph_add_softmax(&c.graph, &e);
    double *x = dlt_normals(&rng, 6 * 4, 1.0), yref[6 * 3], y[6 * 3];
    uint64_t nout;
    reference(&c, x, 6, 4, yref, &nout);
    hook_log h = {0, {0}};
    CHECK(dlor_graph_forward_f64(&c.graph, &c.tensors, x, 6, log_hook, &h, y, &e) == DLOR_OK, "graph eval: %s", e.msg);
    double md = 0;
    for (int i = 0; i < 18; i++) md = fabs(y[i] - yref[i]) > md ? fabs(y[i] - yref[i]) : md;
    CHECK(nout == 3 && md < 1e-14, "graph eval vs reference: %.3g", md);
    CHECK(h.calls == 3 && h.ins[0] == 4 && h.ins[1] == 9 && h.ins[2] == 5, "hook saw %d layers", h.calls);
    free(w1);
    free(b1);
    free(w2);
    free(w3);
    free(x);
    dlor_container_free(&c);
}

static void test_no_graph(void)
{
    dlor_container c;
    dlor_error e;
    dlor_image_error ie;
    dlor_model m;
    unsigned char *img;
    size_t len;
    double w[4] = {1, 2, 3, 4};
    dlor_container_init(&c);
    dlt_add_tensor(&c, "w", w, 2, 2, 2, DLOR_DT_F32);
    dlor_tensor_list_add_meta(&c.tensors, "dlor.graph_missing", "node 'Conv_1': operator Conv is not supported", &e);
    dlor_container_to_memory(&c, &img, &len, &e);
    int rc = dlor_model_open(&m, img, len, 0, &ie);
    CHECK(rc == DLOR_RT_E_NOGRAPH && strstr(ie.msg, "operator Conv"), "no graph: %d %s", rc, ie.msg);
    free(img);
    dlor_container_free(&c);
    /* the reason is quoted from the file: a newline in it keeps the message one line */
    dlor_container_init(&c);
    dlt_add_tensor(&c, "w", w, 2, 2, 2, DLOR_DT_F32);
    dlor_tensor_list_add_meta(&c.tensors, "dlor.graph_missing", "node 'Conv_1':\noperator\tConv", &e);
    dlor_container_to_memory(&c, &img, &len, &e);
    rc = dlor_model_open(&m, img, len, 0, &ie);
    CHECK(rc == DLOR_RT_E_NOGRAPH && strstr(ie.msg, "'Conv_1':?operator?Conv") && !strchr(ie.msg, '\n'),
          "a newline in the quoted reason is shown as '?': %d %s", rc, ie.msg);
    free(img);
    dlor_container_free(&c);
}

typedef struct {
    const dlor_model *m;
    const float *x;
    float *y;
    size_t batch;
    int rc;
} job;

static void *worker(void *p)
{
    job *j = p;
    size_t need = dlor_model_scratch_size(j->m, j->batch);
    void *s = malloc(need);
    dlor_image_error ie;
    j->rc = 0;
    for (int it = 0; it < 50 && j->rc == 0; it++) j->rc = dlor_model_forward(j->m, j->x, j->batch, j->y, s, need, &ie);
    free(s);
    return NULL;
}

static void noop_sync(void *ctx) { (void)ctx; }

static void test_threads(void)
{
    dlor_container c;
    dlor_error e;
    dlor_image_error ie;
    dlor_container_init(&c);
    double *w = dlt_normals(&rng, 64 * 64, 0.1);
    add_layer(&c, "w", w, 64, 64, DLOR_METHOD_MUL, 4, DLOR_DT_F32);
    dlor_graph_add_linear(&c.graph, "w", NULL, &e);
    unsigned char *img;
    size_t len;
    dlor_container_to_memory(&c, &img, &len, &e);
    dlor_model m;
    dlor_model_open(&m, img, len, 0, &ie);
    float x[8 * 64], y[4][8 * 64];
    for (int i = 0; i < 8 * 64; i++) x[i] = (float)dlt_normal(&rng);
    pthread_t th[4];
    job jobs[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (job){&m, x, y[t], 8, -1};
        pthread_create(&th[t], NULL, worker, &jobs[t]);
    }
    for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < 4; t++) {
        CHECK(jobs[t].rc == 0, "thread %d failed", t);
        CHECK(memcmp(y[0], y[t], sizeof y[0]) == 0, "thread %d got different results", t);
    }
    /* A team must be well formed: a sync function for two or more, an id below the size. */
    dlor_team bad[2] = {{0, 2, NULL, NULL}, {2, 2, noop_sync, NULL}};
    size_t tneed = dlor_model_scratch_size_team(&m, 8, 2);
    void *ts = malloc(tneed);
    for (int b = 0; b < 2; b++)
        CHECK(dlor_model_forward_team(&m, x, 8, y[0], ts, tneed, &bad[b], &ie) == DLOR_IMAGE_E_ARG, "bad team %d: %s",
              b, ie.msg);
    CHECK(dlor_model_scratch_size_team(&m, 8, 0) == 0, "a team of 0 has no scratch size");
    free(ts);
    free(img);
    free(w);
    dlor_container_free(&c);
}

int main(void)
{
    test_activations();
    test_mixed(DLOR_DT_F32, 3e-6);
    test_mixed(DLOR_DT_F64, 3e-6);
    test_mixed(DLOR_DT_F16, 3e-6);  /* the reference uses the same rounded factors */
    test_mixed(DLOR_DT_BF16, 3e-6);
    test_truncated();
    /* mul: 10 factors, the last of 6 rows; add: 15 pieces; beta I + P Q^T of rank 21 */
    test_wide("wide layers", DLOR_DT_F32, 16, 9, 21);
    test_wide("wide layers", DLOR_DT_F16, 16, 9, 21);
    /* small ranks (38 factors, the last of 2 rows; 44 pieces): the widening buffer
     * is then sized by four rows of a factor, not by four panel blocks */
    test_wide("low-rank wide layers", DLOR_DT_F16, 4, 3, 0);
    test_wide("low-rank wide layers", DLOR_DT_BF16, 4, 3, 0);
    /* mul rank 100 (two factors, of 100 and 50 rows): the panel update takes a
     * factor's rows 64 at a time across the batch, and one sample at a time must
     * still give the batch's bits */
    test_wide("rank above the update's row chunk", DLOR_DT_F32, 100, 9, 0);
    test_wide("rank above the update's row chunk", DLOR_DT_F16, 100, 9, 0);
    test_graph_eval();
    test_no_graph();
    test_threads();
    return dlt_finish();
}
