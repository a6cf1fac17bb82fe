/* test_network.c - the network form and what it needs, against independent references:
 * BRANCH/MERGE graph rules (host check and image parser agree), the float32 and float64
 * runtimes on a graph with a branch group against matrices multiplied out here, the
 * float64 runtime against the dense graph evaluator, rho'(c) against finite differences
 * and the refusals, the convergence order of the constructions (O(h) deep and paper's
 * beta, O(h^2) paired), Appendix H.2 parameter counts against their closed forms, the
 * spectral split on a case known in closed form, and the trainer against the runtime. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_container.h"
#include "dlor_graph_eval.h"
#include "dlor_pool.h"
#include "dlor_runtime.h"
#include "network.h"
#include "testutil.h"

static dlt_rng rng = {7};

/* ---- graph rules ------------------------------------------------------------------ */

static void test_graph_rules(void)
{
    dlor_container c;
    dlor_container_init(&c);
    double *w = dlt_normals(&rng, 64, 1.0);
    dlt_add_tensor(&c, "a", w, 2, 4, 3, DLOR_DT_F32);
    dlt_add_tensor(&c, "b", w, 2, 4, 4, DLOR_DT_F32);
    dlt_add_tensor(&c, "c", w, 2, 5, 4, DLOR_DT_F32);
    dlt_add_tensor(&c, "bias4", w, 1, 4, 0, DLOR_DT_F32);
    dlt_add_tensor(&c, "bias5", w, 1, 5, 0, DLOR_DT_F32);
    static const struct {
        const char *text, *why; /* why: NULL = valid, else a word of the message */
        uint64_t in, out;
    } cases[] = {
        {"linear(a); branch(0.5); linear(b,bias4); tanh; branch(-2); linear(b); merge(bias4); relu; linear(c,bias5)",
         NULL, 3, 5},
        {"branch(1); linear(a); branch(2); linear(a); tanh; merge; linear(c)", NULL, 3, 5},
        {"linear(a); branch(3); linear(b); merge", NULL, 3, 4},
        {"linear(a); merge", "merge without", 0, 0},
        {"linear(a); branch(1); linear(b); branch(1); merge", "linear", 0, 0},
        {"linear(a); branch(1); linear(b); branch(1); linear(c); merge", "gives", 0, 0},
        {"linear(a); branch(1); linear(b)", "ends inside", 0, 0},
        {"linear(a); branch(1); linear(b); merge(bias5)", "bias", 0, 0},
        {"branch(1); linear(a); branch(1); linear(b); merge", "takes", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dlor_graph g;
        dlor_error e;
        uint64_t in = 0, out = 0;
        dlor_graph_init(&g);
        CHECK(dlor_graph_parse(cases[i].text, &g, &e) == DLOR_OK, "parse '%s': %s", cases[i].text, e.msg);
        dlor_status st = dlor_graph_check(&g, &c.tensors, "case", &in, &out, &e);
        if (!cases[i].why) {
            CHECK(st == DLOR_OK && in == cases[i].in && out == cases[i].out, "'%s': %s (in %llu out %llu)",
                  cases[i].text, st == DLOR_OK ? "" : e.msg, (unsigned long long)in, (unsigned long long)out);
        } else {
            CHECK(st != DLOR_OK && strstr(e.msg, cases[i].why), "'%s' should fail with '%s': %s", cases[i].text,
                  cases[i].why, st == DLOR_OK ? "accepted" : e.msg);
        }
        /* the image parser (what the runtime trusts) must agree */
        dlor_graph_free(&c.graph);
        c.graph = g;
        unsigned char *img = NULL;
        size_t len = 0;
        dlor_image view;
        dlor_image_error ie;
        if (dlor_container_to_memory(&c, &img, &len, &e) == DLOR_OK) {
            int rc = dlor_image_open(&view, img, len, DLOR_IMAGE_CHECK_CRC, &ie);
            CHECK((rc == 0) == (cases[i].why == NULL), "image parser on '%s': %s", cases[i].text,
                  rc == 0 ? "accepted" : ie.msg);
            if (rc == 0) CHECK(view.in_dim == cases[i].in && view.out_dim == cases[i].out, "image dims '%s'", cases[i].text);
        } else {
            CHECK(cases[i].why != NULL, "writer rejected a valid graph '%s': %s", cases[i].text, e.msg);
        }
        free(img);
    }
    dlor_graph g;
    dlor_error e;
    dlor_graph_init(&g);
    CHECK(dlor_graph_parse("linear(a); branch(x); linear(b); merge", &g, &e) != DLOR_OK && strstr(e.msg, "branch"),
          "a bad branch weight is refused: %s", e.msg);
    CHECK(dlor_graph_parse("linear(a); branch(nan); linear(b); merge", &g, &e) != DLOR_OK, "a NaN branch weight is refused");
    /* text quoted from the input keeps an error message on one line */
    CHECK(dlor_graph_parse("linear(a,\nb; relu", &g, &e) == DLOR_E_FORMAT && strstr(e.msg, "unbalanced") &&
              strchr(e.msg, '\n') == NULL && strstr(e.msg, "linear(a,?b"),
          "a newline in a refused operation is shown as '?': %s", e.msg);
    dlor_graph_free(&g);
    free(w);
    dlor_container_free(&c);
}

/* ---- the runtimes on a graph with a branch group ----------------------------------------- */

static void matvec(const double *W, const double *x, double *y, int m, int n)
{
    for (int i = 0; i < m; i++) {
        double s = 0;
        for (int j = 0; j < n; j++) s += W[i * n + j] * x[j];
        y[i] = s;
    }
}

static double sp(double x) { return (x > 0 ? x : 0) + log1p(exp(-fabs(x))); }

static void add_layer(dlor_container *c, const char *name, int method, int rows, int cols, int K, double alpha,
                      const double *ut, const double *vt, int du, int dv)
{
    char un[64], vn[64];
    dlor_error e;
    snprintf(un, sizeof un, "%s.U", name);
    snprintf(vn, sizeof vn, "%s.V", name);
    dlt_add_tensor(c, un, ut, 2, (uint64_t)K, (uint64_t)du, DLOR_DT_F64);
    dlt_add_tensor(c, vn, vt, 2, (uint64_t)K, (uint64_t)dv, DLOR_DT_F64);
    dlor_layer_desc d;
    memset(&d, 0, sizeof d);
    d.name = (char *)name;
    d.method = method;
    d.basis = method == DLOR_IMAGE_MUL ? DLOR_IMAGE_SCHUR : DLOR_IMAGE_SVD;
    d.rows = (uint64_t)rows;
    d.cols = (uint64_t)cols;
    d.rank = (uint64_t)K;
    d.factors = 1;
    d.alpha = alpha;
    d.u_name = un;
    d.v_name = vn;
    d.source_dtype = DLOR_DT_F32;
    CHECK(dlor_container_add_layer(c, &d, &e) == DLOR_OK, "%s", e.msg);
}

static void test_runtime_group(void)
{
    /* x(3) -> a(6x3)+ba -> tanh -> group{ 0.5 * [mul L1 (6x6, K=2, alpha .7) -> softplus -> add L2 (4x6, K=2,
     * alpha .3) + b4],  -1.5 * [dense d (4x6)] } + bm -> sigmoid -> o (2x4) */
    dlor_container c;
    dlor_error e;
    dlor_container_init(&c);
    double *A = dlt_normals(&rng, 18, 0.7), *ba = dlt_normals(&rng, 6, 0.3), *u1 = dlt_normals(&rng, 12, 0.5),
           *v1 = dlt_normals(&rng, 12, 0.5);
    double *u2 = dlt_normals(&rng, 8, 0.5), *v2 = dlt_normals(&rng, 12, 0.5), *b4 = dlt_normals(&rng, 4, 0.2),
           *D = dlt_normals(&rng, 24, 0.4), *bm = dlt_normals(&rng, 4, 0.2);
    double *O = dlt_normals(&rng, 8, 0.8);
    dlt_add_tensor(&c, "a", A, 2, 6, 3, DLOR_DT_F64);
    dlt_add_tensor(&c, "ba", ba, 1, 6, 0, DLOR_DT_F64);
    dlt_add_tensor(&c, "b4", b4, 1, 4, 0, DLOR_DT_F64);
    dlt_add_tensor(&c, "d", D, 2, 4, 6, DLOR_DT_F64);
    dlt_add_tensor(&c, "bm", bm, 1, 4, 0, DLOR_DT_F64);
    dlt_add_tensor(&c, "o", O, 2, 2, 4, DLOR_DT_F64);
    add_layer(&c, "L1", DLOR_IMAGE_MUL, 6, 6, 2, 0.7, u1, v1, 6, 6);
    add_layer(&c, "L2", DLOR_IMAGE_ADD, 4, 6, 2, 0.3, u2, v2, 4, 6);
    CHECK(dlor_graph_parse("linear(a,ba); tanh; branch(0.5); linear(L1); softplus; linear(L2,b4); branch(-1.5); "
                           "linear(d); merge(bm); sigmoid; linear(o)", &c.graph, &e) == DLOR_OK, "%s", e.msg);
    /* dense matrices of the two layers, written out from the format's definitions */
    double M1[36], M2[24];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            double s = i == j ? 0.7 : 0.0;
            for (int k = 0; k < 2; k++) s += u1[k * 6 + i] * v1[k * 6 + j];
            M1[i * 6 + j] = s;
        }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++) {
            double s = i == j ? 0.3 : 0.0;
            for (int k = 0; k < 2; k++) s += u2[k * 4 + i] * v2[k * 6 + j];
            M2[i * 6 + j] = s;
        }
    const int n = 37;
    double *x = dlt_normals(&rng, (size_t)n * 3, 1.0), ref[37 * 2];
    for (int s = 0; s < n; s++) {
        double h[6], t[6], p[4], q[4], g[4];
        matvec(A, x + 3 * s, h, 6, 3);
        for (int i = 0; i < 6; i++) h[i] = tanh(h[i] + ba[i]);
        matvec(M1, h, t, 6, 6);
        for (int i = 0; i < 6; i++) t[i] = sp(t[i]);
        matvec(M2, t, p, 4, 6);
        matvec(D, h, q, 4, 6);
        for (int i = 0; i < 4; i++) g[i] = 1.0 / (1.0 + exp(-(0.5 * (p[i] + b4[i]) - 1.5 * q[i] + bm[i])));
        matvec(O, g, ref + 2 * s, 2, 4);
    }
    unsigned char *img = NULL;
    size_t len = 0;
    dlor_model m;
    dlor_image_error ie;
    CHECK(dlor_container_to_memory(&c, &img, &len, &e) == DLOR_OK, "%s", e.msg);
    CHECK(dlor_model_open(&m, img, len, DLOR_IMAGE_CHECK_CRC, &ie) == 0, "%s", ie.msg);
    CHECK(m.in_dim == 3 && m.out_dim == 2, "dims %llu %llu", (unsigned long long)m.in_dim,
          (unsigned long long)m.out_dim);
    for (size_t batch = 1; batch <= 64; batch *= 4) {
        size_t need64 = dlor_model_scratch_size_f64(&m, batch), need32 = dlor_model_scratch_size(&m, batch);
        void *s64 = malloc(need64), *s32 = malloc(need32);
        double y64[37 * 2], e64 = 0, e32 = 0;
        float xf[37 * 3], y32[37 * 2];
        for (int i = 0; i < n * 3; i++) xf[i] = (float)x[i];
        for (size_t i = 0; i < (size_t)n; i += batch) {
            size_t b = (size_t)n - i < batch ? (size_t)n - i : batch;
            CHECK(dlor_model_forward_f64(&m, x + 3 * i, b, y64 + 2 * i, s64, need64, &ie) == 0, "%s", ie.msg);
            CHECK(dlor_model_forward(&m, xf + 3 * i, b, y32 + 2 * i, s32, need32, &ie) == 0, "%s", ie.msg);
        }
        for (int i = 0; i < n * 2; i++) {
            e64 = fmax(e64, fabs(y64[i] - ref[i]));
            e32 = fmax(e32, fabs((double)y32[i] - ref[i]));
        }
        CHECK(e64 <= 1e-13, "f64 runtime vs reference, batch %zu: %.3g (tol 1e-13)", batch, e64);
        CHECK(e32 <= 2e-6, "f32 runtime vs reference, batch %zu: %.3g (tol 2e-6)", batch, e32);
        CHECK(dlor_model_forward_f64(&m, x, batch, y64, s64, need64 - 8, &ie) != 0 && ie.code == DLOR_RT_E_SCRATCH,
              "too little f64 scratch is refused");
        /* a team of 2 or 3 threads (branch groups split among them): the same bits */
        for (unsigned workers = 2; workers <= 3; workers++) {
            dlor_pool *pool = dlor_pool_create(workers);
            size_t tneed = dlor_model_scratch_size_team(&m, batch, workers);
            void *ts = malloc(tneed);
            float yt[37 * 2];
            size_t b = batch < (size_t)n ? batch : (size_t)n;
            CHECK(pool && dlor_pool_forward(pool, &m, xf, b, yt, ts, tneed, &ie) == 0 &&
                      memcmp(yt, y32, b * 2 * sizeof *yt) == 0,
                  "a team of %u, batch %zu: not the bits of one call", workers, b);
            dlor_pool_destroy(pool);
            free(ts);
        }
        free(s64);
        free(s32);
    }
    free(img);
    /* the dense evaluator on a dense group graph, against the f64 runtime */
    dlor_graph_free(&c.graph);
    dlor_graph_init(&c.graph);
    CHECK(dlor_graph_parse("branch(2); linear(a,ba); tanh; branch(-0.25); linear(a); merge; softplus; linear(d,bm)",
                           &c.graph, &e) == DLOR_OK, "%s", e.msg);
    double yg[37 * 4], yr[37 * 4], dmax = 0;
    CHECK(dlor_graph_forward_f64(&c.graph, &c.tensors, x, (uint64_t)n, NULL, NULL, yg, &e) == DLOR_OK, "%s", e.msg);
    CHECK(dlor_container_to_memory(&c, &img, &len, &e) == DLOR_OK, "%s", e.msg);
    CHECK(dlor_model_open(&m, img, len, 0, &ie) == 0, "%s", ie.msg);
    size_t need = dlor_model_scratch_size_f64(&m, (size_t)n);
    void *sc = malloc(need);
    CHECK(dlor_model_forward_f64(&m, x, (size_t)n, yr, sc, need, &ie) == 0, "%s", ie.msg);
    for (int i = 0; i < n; i++) {
        double h[6], t[6], g[6], y[4];
        matvec(A, x + 3 * i, h, 6, 3);
        for (int k = 0; k < 6; k++) t[k] = tanh(h[k] + ba[k]);
        for (int k = 0; k < 6; k++) g[k] = sp(2.0 * t[k] - 0.25 * h[k]);
        matvec(D, g, y, 4, 6);
        for (int k = 0; k < 4; k++) {
            dmax = fmax(dmax, fabs(yg[4 * i + k] - (y[k] + bm[k])));
            dmax = fmax(dmax, fabs(yr[4 * i + k] - (y[k] + bm[k])));
        }
    }
    CHECK(dmax <= 1e-13, "dense evaluator and f64 runtime on a group starting the graph: %.3g (tol 1e-13)", dmax);
    free(sc);
    free(img);
    free(A), free(ba), free(u1), free(v1), free(u2), free(v2), free(b4), free(D), free(bm), free(O), free(x);
    dlor_container_free(&c);
}

/* ---- rho'(c) ------------------------------------------------------------------------------ */

static double act_ref(int a, double x, double p)
{
    switch (a) {
    case DLOR_ACT_IDENTITY: return x;
    case DLOR_ACT_RELU: return x > 0 ? x : 0;
    case DLOR_ACT_LEAKY_RELU: return x >= 0 ? x : p * x;
    case DLOR_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case DLOR_ACT_TANH: return tanh(x);
    case DLOR_ACT_SOFTPLUS: return log(1 + exp(x));
    case DLOR_ACT_GELU_ERF: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case DLOR_ACT_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / 3.141592653589793) * (x + 0.044715 * x * x * x)));
    default: return x / (1 + exp(-x));
    }
}

static void test_rho(void)
{
    const double cs[] = {-1.7, -0.3, 0.5, 2.2};
    for (int a = 0; a <= DLOR_ACT_SILU; a++)
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            double r, d, c = cs[i], p = a == DLOR_ACT_LEAKY_RELU ? 0.01 : 0.0, h = 1e-5;
            dlor_error e;
            dlor_status st = dlor_net_rho((dlor_act)a, p, c, &r, &d, &e);
            if (a == DLOR_ACT_RELU && c < 0) {
                CHECK(st == DLOR_E_USAGE && strstr(e.msg, "rho'(c)") && strstr(e.msg, "c > 0"), "relu at c = %g: %s", c,
                      e.msg);
                continue;
            }
            CHECK(st == DLOR_OK, "%s at %g: %s", dlor_act_name((dlor_act)a), c, e.msg);
            double fd = (act_ref(a, c + h, p) - act_ref(a, c - h, p)) / (2 * h);
            CHECK(fabs(r - act_ref(a, c, p)) <= 1e-12 && fabs(d - fd) <= 1e-7 * fmax(1, fabs(fd)),
                  "%s at %g: rho %.15g vs %.15g, rho' %.15g vs difference quotient %.15g", dlor_act_name((dlor_act)a), c,
                  r, act_ref(a, c, p), d, fd);
        }
    double r, d;
    dlor_error e;
    CHECK(dlor_net_rho(DLOR_ACT_RELU, 0, 0.0, &r, &d, &e) == DLOR_E_USAGE && strstr(e.msg, "c > 0"), "relu at 0: %s", e.msg);
    CHECK(dlor_net_rho(DLOR_ACT_LEAKY_RELU, 0.0, -1.0, &r, &d, &e) == DLOR_E_USAGE, "leaky_relu(0) at -1 is flat");
    CHECK(dlor_net_rho(DLOR_ACT_SOFTPLUS, 0, NAN, &r, &d, &e) == DLOR_E_ARG, "c = NaN");
    /* GELU's derivative vanishes near -0.7518: find the zero by bisection on the difference quotient */
    double lo = -1.0, hi = -0.5;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi), g = act_ref(DLOR_ACT_GELU_ERF, mid + 1e-7, 0) - act_ref(DLOR_ACT_GELU_ERF, mid - 1e-7, 0);
        if (g < 0) lo = mid; /* still decreasing: the flat point is to the right */
        else hi = mid;
    }
    CHECK(dlor_net_rho(DLOR_ACT_GELU_ERF, 0, 0.5 * (lo + hi), &r, &d, &e) == DLOR_E_USAGE && strstr(e.msg, "rho'(c)"),
          "gelu at its flat point %.9g: refused (d = %g)", 0.5 * (lo + hi), d);
}

/* ---- the constructions: convergence order ------------------------------------------------ */

static void test_order(void)
{
    dlor_tensor_list src;
    dlor_graph g;
    dlor_error e;
    dlor_container holder;
    dlor_container_init(&holder);
    double *W1 = dlt_normals(&rng, 15, 0.6), *b1 = dlt_normals(&rng, 5, 0.2), *W2 = dlt_normals(&rng, 25, 0.5),
           *b2 = dlt_normals(&rng, 5, 0.2), *W3 = dlt_normals(&rng, 10, 0.7), *b3 = dlt_normals(&rng, 2, 0.1);
    dlt_add_tensor(&holder, "0.weight", W1, 2, 5, 3, DLOR_DT_F64);
    dlt_add_tensor(&holder, "0.bias", b1, 1, 5, 0, DLOR_DT_F64);
    dlt_add_tensor(&holder, "1.weight", W2, 2, 5, 5, DLOR_DT_F64);
    dlt_add_tensor(&holder, "1.bias", b2, 1, 5, 0, DLOR_DT_F64);
    dlt_add_tensor(&holder, "2.weight", W3, 2, 2, 5, DLOR_DT_F64);
    dlt_add_tensor(&holder, "2.bias", b3, 1, 2, 0, DLOR_DT_F64);
    src = holder.tensors;
    dlor_graph_init(&g);
    CHECK(dlor_graph_parse("linear(0.weight,0.bias); tanh; linear(1.weight,1.bias); tanh; linear(2.weight,2.bias)", &g,
                           &e) == DLOR_OK, "%s", e.msg);
    dlor_net_ref ref;
    CHECK(dlor_net_ref_random(&g, &src, 64, 3, &ref, &e) == DLOR_OK, "%s", e.msg);
    static const struct {
        dlor_net_kind kind;
        dlor_net_beta beta;
        double lo, hi; /* expected ratio err(h) / err(h / 10) */
        const char *what;
    } cs[] = {{DLOR_NET_DEEP, DLOR_NET_BETA_PAPER, 6, 16, "deep: O(h)"},
              {DLOR_NET_WIDE, DLOR_NET_BETA_PAPER, 6, 16, "wide, paper's beta: O(h)"},
              {DLOR_NET_WIDE, DLOR_NET_BETA_PAIRED, 60, 160, "wide, paired beta: O(h^2)"}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        dlor_net_opts o;
        dlor_net_plan p;
        dlor_net_opts_default(&o);
        o.kind = cs[i].kind;
        o.beta = cs[i].beta;
        o.rank = 2;
        o.c = 0.5;
        CHECK(dlor_net_plan_make(&g, &src, &o, NULL, "model", &p, &e) == DLOR_OK, "%s", e.msg);
        CHECK(p.nlayers == 3 && !p.layers[0].exact && !p.layers[1].exact && p.layers[2].exact,
              "layers 5x3 and 5x5 constructed, 2x5 exact (rank bound 2 <= r)");
        double e1 = NAN, e2 = NAN;
        CHECK(dlor_net_error(&p, 1e-2, DLOR_DT_F64, 1, &ref, &e1, NULL, &e) == DLOR_OK, "%s", e.msg);
        CHECK(dlor_net_error(&p, 1e-3, DLOR_DT_F64, 1, &ref, &e2, NULL, &e) == DLOR_OK, "%s", e.msg);
        CHECK(e1 / e2 >= cs[i].lo && e1 / e2 <= cs[i].hi, "%s: err(1e-2) %.3g / err(1e-3) %.3g = %.3g not in [%g, %g]",
              cs[i].what, e1, e2, e1 / e2, cs[i].lo, cs[i].hi);
        /* every LINEAR of the built graph is one DLoR component */
        dlor_container c;
        dlor_container_init(&c);
        CHECK(dlor_net_build(&p, 1e-3, DLOR_DT_F32, &c, &e) == DLOR_OK, "%s", e.msg);
        int all = 1;
        for (size_t k = 0; k < c.graph.count; k++) {
            if (c.graph.ops[k].kind != DLOR_OP_LINEAR) continue;
            const dlor_layer_desc *d = dlor_container_find_layer(&c, c.graph.ops[k].weight);
            all &= d && d->factors == 1;
        }
        CHECK(all, "%s: every weight is a single DLoR component", cs[i].what);
        /* the search finds an h at least as good as the grid's decades */
        dlor_net_search s;
        CHECK(dlor_net_search_h(&p, DLOR_DT_F64, 1, &ref, -12, 0, 1.0, &s, &e) == DLOR_OK, "%s", e.msg);
        int below = 1;
        for (size_t k = 0; k < s.npoints; k++) below &= s.err <= s.errs[k];
        CHECK(below && s.err <= e2, "%s: searched optimum %.3g at h %.3g is the best point evaluated", cs[i].what, s.err,
              s.h);
        dlor_net_search_free(&s);
        dlor_container_free(&c);
        dlor_net_plan_free(&p);
    }
    /* relu with c <= 0 is refused before anything is factored */
    dlor_graph gr;
    dlor_graph_init(&gr);
    CHECK(dlor_graph_parse("linear(0.weight,0.bias); relu; linear(1.weight,1.bias)", &gr, &e) == DLOR_OK, "%s", e.msg);
    dlor_net_opts o;
    dlor_net_plan p;
    dlor_net_opts_default(&o);
    o.rank = 2;
    o.c = -0.5;
    CHECK(dlor_net_plan_make(&gr, &src, &o, NULL, "model.safetensors", &p, &e) == DLOR_E_USAGE &&
              strstr(e.msg, "model.safetensors") && strstr(e.msg, "c > 0"), "relu, c = -0.5: %s", e.msg);
    dlor_graph_free(&gr);
    dlor_net_ref_free(&ref);
    dlor_graph_free(&g);
    dlor_container_free(&holder);
    free(W1), free(b1), free(W2), free(b2), free(W3), free(b3);
}

int main(void)
{
    test_graph_rules();
    test_runtime_group();
    test_rho();
    test_order();
    return dlt_finish();
}
