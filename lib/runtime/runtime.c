/* runtime.c - the forward pass of a .dlor graph in float32 or double, with a
 * caller-provided scratch: opening a model, planning its scratch, the API.
 *
 * The graph is walked as a DAG (dlor_image_walk: a chain of format 1.1-1.4 is
 * read as one), node after node; node i writes value i. Every value that holds
 * floats has a fixed place in a row of the scratch: the scratch's first part
 * is 'rows' rows of m->width elements (rows = samples, or samples x tokens),
 * and value i occupies elements [plan[i], plan[i] + its width) of every row
 * (one row per sample or token; a pooled value uses the first N rows). The
 * plan is made when the model is opened (plan_model): a value's place is free
 * again after its last reader, elementwise steps write over their input when
 * nothing reads it later, and new values are placed on the side opposite to
 * the value they read (the places are taken from the two ends of a row), so a
 * chain of layers alternates between two buffers as a ping-pong pair would.
 *
 * The pass itself, with every kernel, is written once in runtime_body.h and
 * compiled here twice: for float (the kernels the file's bits are made by,
 * with sgemm in a BLAS build) and for double (not with DLOR_RT_NO_F64: the
 * parts a build may leave out are listed in dlor_rt_features.h). */
#include "dlor_runtime.h"

#include <math.h>
#include <string.h>

#include "dlor_act.h"
#include "dlor_image_internal.h"
#include "dlor_mathf.h"

#ifdef DLOR_RUNTIME_BLAS
#include <cblas.h>
#endif

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t round16(uint64_t n) { return (n + 15) / 16 * 16; }

/* Hosts with vector units (RT_VECTOR_HOST) take batches through tiles (gemm
 * in runtime_body.h), attention four queries at a time, and GELU and the
 * attention's exponentials through dlor__erff_sel and dlor__expf_sel (every
 * branch computed: vector loops). Each gives the bits of the path it replaces,
 * which other processors (a Cortex-M, with 16-32 float registers and no vector
 * unit) keep taking. */
#if defined(__x86_64__) || defined(__aarch64__) || defined(_M_X64) || defined(_M_ARM64)
#define RT_VECTOR_HOST 1
#endif

/* Queries an attention takes at a time (see attend in runtime_body.h), and the
 * scores that needs per worker: RT_QB rows of seq on a vector host (one row for
 * a sequence shorter than that, which goes query by query). */
#define RT_QB 4
static uint64_t att_scores(uint64_t seq)
{
#ifdef RT_VECTOR_HOST
    return seq >= RT_QB ? RT_QB * seq : seq;
#else
    return seq;
#endif
}

static const uint64_t *plan_of(const dlor_model *m) { return m->plan ? m->plan : m->plan_inline; }

/* A count as a float, from 32-bit halves: a 64-bit conversion is a libgcc
 * routine in software even where the FPU converts 32-bit integers. */
static float u64_to_f32(uint64_t v)
{
    return (float)(uint32_t)(v >> 32) * 4294967296.0f + (float)(uint32_t)v;
}

#if !defined(DLOR_RT_NO_F16) || !defined(DLOR_RT_NO_QUANT)
/* An f16 as float: normal numbers here, with a shift and an add of the
 * exponent bias difference (112 << 23); the rest by dlor__half_to_float. */
static float f16_f32(const unsigned char *p)
{
    uint32_t h = (uint32_t)p[0] | ((uint32_t)p[1] << 8), e = h & 0x7c00u, b;
    if (e == 0 || e == 0x7c00u) return dlor__half_to_float((uint16_t)h);
    b = ((h & 0x8000u) << 16) | (((h & 0x7fffu) << 13) + 0x38000000u);
    float f;
    memcpy(&f, &b, 4);
    return f;
}
#endif

/* The passes a build has (dlor_rt_features.h): float32, and double unless left out. */
#ifdef DLOR_RT_NO_F64
#define RT_PASSES 1
#else
#define RT_PASSES 2
#endif

/* Rows of V^T or of U per sgemm call when a BLAS build runs a batch through a
 * DLoR layer; 0 keeps the layer on the portable kernels. mul layers stay there:
 * their per-factor sgemm calls (batch x r x D, then batch x D x r) took 20-45%
 * longer at batch 64, rank 64-256, on the machine of BENCHMARKS.md. */
static uint64_t gemm_rows(const dlor_image_layer *L) { return L->method == DLOR_IMAGE_MUL ? 0 : max_u64(L->rank, 4); }

/* The same for the updates y += U z, which sgemm can take only from U stored in
 * rows: copying panels into rows before each call made a batch of 64 through a
 * p = 0.1 model 1.4 times and through an add model 1.7 times slower than the
 * kernels (N = 1024, one thread, machine of BENCHMARKS.md), so with panels the
 * updates stay on the kernels and only the products go through sgemm. */
static uint64_t gemm_rows_u(const dlor_image_layer *L)
{
    return L->u_layout == DLOR_IMAGE_U_PANELS ? 0 : gemm_rows(L);
}

/* ---- teams -----------------------------------------------------------------
 * Every step of the forward pass is split among the workers of a team by
 * output rows (features, the rows of V^T for the factor products, tokens, or
 * attention heads), and the workers meet at team->sync between steps that read
 * what others wrote. Each output element is computed by exactly one worker
 * with the same operations in the same order as alone, so a team's result has
 * the bits of a single call. */
static const dlor_team solo = {0, 1, NULL, NULL};

static void team_sync(const dlor_team *t)
{
    if (t->size > 1) t->sync(t->ctx);
}

/* This worker's share [lo, hi) of n items, in chunks that are multiples of grain
 * (16 elements: whole 64-byte lines of the output when rows are aligned). */
static void share(const dlor_team *t, uint64_t n, uint64_t grain, uint64_t *lo, uint64_t *hi)
{
    uint64_t c = (n + t->size - 1) / t->size;
    c = (c + grain - 1) / grain * grain;
    uint64_t a = c * t->id;
    *lo = a < n ? a : n;
    *hi = c < n - *lo ? *lo + c : n;
}

/* ---- the plan ------------------------------------------------------------------ */

/* Elements per row value n needs in the scratch: its features (a mul layer's D
 * padded ones), 0 for values that are not stored there (ids, the mask, outputs). */
static uint64_t slot_width(const dlor_image *img, const dlor_image_node *n)
{
    if (n->kind == K_OUTPUT || (n->type != V_ROWS && n->type != V_TOKENS)) return 0;
    uint64_t w = n->features;
    if (n->kind == K_LINEAR && n->is_layer) {
        dlor_image_layer L;
        dlor_image_layer_at(img, n->weight, &L);
        if (L.method == DLOR_IMAGE_MUL) w = max_u64(w, L.dim_u);
    }
    return round16(w);
}

/* Steps that may write their result over an input that nothing reads later. */
static int elementwise(int kind)
{
    return kind == K_ACT || kind == K_SOFTMAX || kind == K_SCALE || kind == K_ADD || kind == K_MUL ||
           kind == K_LAYERNORM || kind == K_RMSNORM || kind == K_L2NORM;
}

#define TOP (1ull << 63) /* a place taken from the top end of the row */

typedef struct {
    uint32_t v, last;  /* the value holding the place, and its last reader */
    uint64_t at, w;    /* bottom: offset; top: distance of its end from the row's top */
    int top;
} live_place;

/* The lowest place of w elements on one side that no live place overlaps. */
static uint64_t first_fit(const live_place *lv, int n, int top, uint64_t w)
{
    uint64_t best = UINT64_MAX;
    for (int c = -1; c < n; c++) {
        if (c >= 0 && lv[c].top != top) continue;
        uint64_t lo = c < 0 ? 0 : lv[c].at + (top ? 0 : lv[c].w); /* candidate: 0, or just past another place */
        if (top && c >= 0) lo = lv[c].at;
        int ok = lo < best;
        for (int j = 0; ok && j < n; j++) {
            if (lv[j].top != top) continue;
            uint64_t a = top ? lv[j].at - lv[j].w : lv[j].at, b = top ? lv[j].at : lv[j].at + lv[j].w;
            if (lo < b && a < lo + w) ok = 0;
        }
        if (ok) best = lo;
    }
    return best;
}

/* Plans where every value lives (see the top of the file); P has nvalues
 * entries. Needs the walk three times: last readers, places, offsets. */
static int plan_model(dlor_model *m, uint64_t *P, dlor_image_error *err)
{
    const dlor_image *img = &m->img;
    dlor_image_walk w;
    dlor_image_node n;
    live_place lv[DLOR_RT_MAX_LIVE];
    int nlive = 0;
    uint64_t extent[2] = {0, 0};
    uint32_t i;
    /* the last reader of every value (a value nothing reads: its own node) */
    dlor_image_walk_init(&w);
    for (i = 0; dlor_image_walk_next(img, &w, &n); i++) {
        P[i] = i;
        for (int k = 0; k < 4; k++)
            if (n.in[k] != DLOR_IMAGE_NONE) P[n.in[k]] = i;
    }
    /* places: P[i] becomes the side and position of value i's place */
    dlor_image_walk_init(&w);
    for (i = 0; dlor_image_walk_next(img, &w, &n); i++) {
        uint64_t need = slot_width(img, &n), last = P[i], place = 0;
        int got = 0;
        if (need && elementwise(n.kind)) /* over an input read last here, preferably the value just made */
            for (int pass = 0; pass < 2 && !got; pass++)
                for (int k = 0; k < 4 && !got; k++) {
                    uint32_t v = n.in[k];
                    if (v == DLOR_IMAGE_NONE || (pass == 0 && v + 1 != i)) continue;
                    for (int j = 0; j < nlive; j++)
                        if (lv[j].v == v && lv[j].last == i && lv[j].w >= need) {
                            lv[j].v = i;
                            lv[j].last = (uint32_t)last;
                            place = lv[j].top ? (TOP | lv[j].at) : lv[j].at;
                            got = 1;
                            break;
                        }
                }
        if (need && !got) {
            /* the side opposite to the value read first */
            int top = 1;
            for (int j = 0; j < nlive; j++)
                if (n.in[0] != DLOR_IMAGE_NONE && lv[j].v == n.in[0]) top = !lv[j].top;
            if (n.in[0] == DLOR_IMAGE_NONE || n.in_type[0] < V_ROWS || n.in_type[0] > V_TOKENS) top = 0;
            if (nlive == DLOR_RT_MAX_LIVE)
                return dlor__image_fail(err, DLOR_RT_E_PLAN, "the graph keeps more than %d values alive at once",
                                        DLOR_RT_MAX_LIVE);
            uint64_t at = first_fit(lv, nlive, top, need);
            if (at > (UINT64_MAX >> 2) - need)
                return dlor__image_fail(err, DLOR_RT_E_PLAN, "the values of the graph do not fit in a row");
            lv[nlive].v = i;
            lv[nlive].last = (uint32_t)last;
            lv[nlive].w = need;
            lv[nlive].top = top;
            lv[nlive].at = top ? at + need : at;
            place = top ? (TOP | (at + need)) : at;
            extent[top] = max_u64(extent[top], at + need);
            nlive++;
        }
        /* places whose value was read for the last time here are free again */
        for (int j = 0; j < nlive;)
            if (lv[j].last == i) lv[j] = lv[--nlive];
            else j++;
        P[i] = place;
    }
    if (extent[0] > (UINT64_MAX >> 2) - extent[1])
        return dlor__image_fail(err, DLOR_RT_E_PLAN, "the values of the graph do not fit in a row");
    m->width = extent[0] + extent[1];
    /* Rows a multiple of 1024 elements apart (4 KB of float32) would put a
     * feature of every row into the same few sets of a processor's first-level
     * cache: the attention reads its keys and values down such columns (one row
     * per token), and so do the batch tiles their samples. 16 more elements
     * move each row to the next cache line's set. */
    if (m->width % 1024 == 0) m->width += 16;
    /* offsets: the top side's places counted from the top of the row */
    dlor_image_walk_init(&w);
    for (i = 0; dlor_image_walk_next(img, &w, &n); i++)
        if (P[i] & TOP) P[i] = m->width - (P[i] & ~TOP);
    return 0;
}

/* ---- opening a model ------------------------------------------------------------ */

/* Whether a pass of the given dtype (1 float32, 4 double) converts tensor i
 * into its widening buffer: data of the pass's dtype is used where it lies when
 * the image is aligned for it (every tensor is 64-byte aligned relative to the
 * image). */
static int widens(const dlor_image *img, uint32_t i, int dtype)
{
    dlor_image_tensor t;
    dlor_image_tensor_at(img, i, &t);
    return t.dtype != dtype || ((uintptr_t)img->base & (dtype == 1 ? 3u : 7u)) != 0;
}

/* Sizes the scratch and the limits of the inputs from the graph's nodes. */
static void size_model(dlor_model *r)
{
    dlor_image_walk w;
    dlor_image_node n;
    /* The widening buffer per worker and precision, in elements: a bias, a norm's
     * weight and bias, four rows of a dense weight or a table, and for a DLoR
     * layer four rows of V^T or of U, or four of U's panel blocks (16 x rank
     * each); with BLAS at batch > 1 a chunk of gemm_rows rows of V^T or of U
     * (widen_batch). Only what a pass converts counts (widens): a model whose
     * tensors are all float32 in an aligned image needs none for float32, 32 KB
     * less scratch for an exact mul layer of 128 features on a device where RAM
     * is the scarce part. */
    dlor_image_walk_init(&w);
    while (dlor_image_walk_next(&r->img, &w, &n)) {
        const uint32_t tens[3] = {n.is_layer ? DLOR_IMAGE_NO_TENSOR : n.weight, n.bias, DLOR_IMAGE_NO_TENSOR};
        for (int p = 0; p < RT_PASSES; p++) {
            uint64_t *wd = p ? &r->widen_f64 : &r->widen;
            int dt = p ? 4 : 1;
            for (int k = 0; k < 2; k++) {
                if (tens[k] == DLOR_IMAGE_NO_TENSOR || !widens(&r->img, tens[k], dt)) continue;
                uint64_t need = 2 * n.features; /* a vector: a norm's weight and bias */
                if (n.kind == K_LINEAR && k == 0) need = 4 * n.in_features[0]; /* four weight rows */
                if (n.kind == K_EMBED || n.kind == K_POS_EMBED) need = 4 * n.features;
                *wd = max_u64(*wd, need);
            }
        }
#ifndef DLOR_RT_NO_TOKENS
        if (n.kind == K_EMBED || n.kind == K_POS_EMBED) {
            dlor_image_tensor t;
            dlor_image_tensor_at(&r->img, n.weight, &t);
            uint64_t *lim = n.kind == K_POS_EMBED ? &r->max_seq : &r->vocab[r->img.input_of[M_IDS] == n.in[0]
                                                                               ? M_IDS
                                                                               : M_TYPE_IDS];
            *lim = *lim ? min_u64(*lim, t.dims[0]) : t.dims[0];
        }
#endif
#ifndef DLOR_RT_NO_ATTENTION
        if (n.kind == K_ATTENTION) {
            r->att_head = max_u64(r->att_head, n.in_features[0] / n.heads);
            r->att_rope |= dlor__nonzero_d(n.p1);
        }
#endif
        if (n.kind != K_LINEAR || !n.is_layer) continue;
        dlor_image_layer L;
        dlor_image_layer_at(&r->img, n.weight, &L);
        uint64_t rk = max_u64(L.rank, 4), du_dv = max_u64(L.dim_u, L.dim_v);
        r->zmax = max_u64(r->zmax, L.k); /* an add layer's products for all its factors at once */
        uint64_t need = max_u64(4 * du_dv, 4 * DLOR_IMAGE_PANEL * rk);
        if (widens(&r->img, L.u_tensor, 1)) { /* U and V have one dtype */
            r->widen = max_u64(r->widen, need);
#ifdef DLOR_RUNTIME_BLAS
            r->widen_batch = max_u64(r->widen_batch, gemm_rows(&L) * du_dv);
#endif
        }
        if (RT_PASSES > 1 && widens(&r->img, L.u_tensor, 4)) r->widen_f64 = max_u64(r->widen_f64, need);
#ifndef DLOR_RT_NO_QUANT
        if (L.has_base) { /* four rows of the base, as for a dense weight */
            if (widens(&r->img, L.base_tensor, 1)) r->widen = max_u64(r->widen, 4 * L.cols);
            if (RT_PASSES > 1 && widens(&r->img, L.base_tensor, 4)) r->widen_f64 = max_u64(r->widen_f64, 4 * L.cols);
        }
#endif
    }
}

/* The widest q8/q4 tensor a dot product reads (a dense weight, a layer's V^T):
 * the columns of the activations DLOR_RT_QUANT_ACTS quantizes at once. */
static void size_qacts(dlor_model *r)
{
    dlor_image_walk w;
    dlor_image_node n;
    dlor_image_walk_init(&w);
    while (dlor_image_walk_next(&r->img, &w, &n)) {
        if (n.kind != K_LINEAR) continue;
        uint32_t ti = n.weight;
        if (n.is_layer) {
            dlor_image_layer L;
            dlor_image_layer_at(&r->img, n.weight, &L);
            ti = L.v_tensor;
        }
        dlor_image_tensor t;
        dlor_image_tensor_at(&r->img, ti, &t);
        if (dlor__is_quant_dtype(t.dtype)) r->qcols = max_u64(r->qcols, t.dims[1]);
    }
}

static int open_model(dlor_model *m, const void *image, size_t len, unsigned flags, void *plan, size_t plan_size,
                      dlor_image_error *err)
{
    dlor_model r;
    memset(&r, 0, sizeof r);
    int rc = dlor_image_open(&r.img, image, len, flags, err);
    if (rc != 0) return rc;
    if (r.img.nnodes == 0) {
        uint32_t n = 0;
        const char *why = dlor_image_meta_get(&r.img, "dlor.graph_missing", &n);
        if (why)
            return dlor__image_fail(err, DLOR_RT_E_NOGRAPH, "the model has no graph to run: %.*s",
                                    (int)(n > 180 ? 180 : n), why);
        return dlor__image_fail(err, DLOR_RT_E_NOGRAPH,
                                "the model has no graph to run (it was converted from tensors only)");
    }
    r.nvalues = r.img.nnodes;
    r.in_dim = r.img.in_dim;
    r.out_dim = r.img.out_dim;
    if (plan) {
        if (plan_size / sizeof(uint64_t) < r.nvalues || ((uintptr_t)plan & 7u) != 0)
            return dlor__image_fail(err, DLOR_RT_E_PLAN, "plan buffer of %zu bytes is too small or not 8-byte aligned: "
                                                         "the graph needs %llu", plan_size,
                                    (unsigned long long)r.nvalues * 8);
        r.plan = plan;
    } else if (r.nvalues > DLOR_RT_PLAN_INLINE) {
        return dlor__image_fail(err, DLOR_RT_E_PLAN, "the graph has %u values: open it with a plan buffer of %llu bytes "
                                                     "(dlor_model_open_plan)", (unsigned)r.nvalues,
                                (unsigned long long)r.nvalues * 8);
    }
    size_model(&r);
    r.flags = flags;
    if (flags & DLOR_RT_QUANT_ACTS) size_qacts(&r);
    uint64_t *P = r.plan ? r.plan : r.plan_inline;
    if ((rc = plan_model(&r, P, err)) != 0) return rc;
    *m = r;
    if (!plan) m->plan = NULL; /* the inline plan moves with the struct */
    return 0;
}

int dlor_model_open(dlor_model *m, const void *image, size_t len, unsigned flags, dlor_image_error *err)
{
    return open_model(m, image, len, flags, NULL, 0, err);
}

int dlor_model_open_plan(dlor_model *m, const void *image, size_t len, unsigned flags, void *plan, size_t plan_size,
                         dlor_image_error *err)
{
    return open_model(m, image, len, flags, plan, plan_size, err);
}

size_t dlor_model_plan_size(const void *image, size_t len)
{
    dlor_image img;
    if (dlor_image_open(&img, image, len, 0, NULL) != 0) return 0;
    return (size_t)img.nnodes * sizeof(uint64_t);
}

uint64_t dlor_model_input_dim(const dlor_model *m) { return m->in_dim; }
uint64_t dlor_model_output_dim(const dlor_model *m) { return m->out_dim; }
uint32_t dlor_model_output_count(const dlor_model *m) { return m->img.noutputs; }

int dlor_model_output_at(const dlor_model *m, uint32_t i, const char **name, uint32_t *name_len, int *per_token,
                         uint64_t *features)
{
    dlor_image_walk w;
    dlor_image_node n;
    uint32_t k = 0;
    dlor_image_walk_init(&w);
    while (dlor_image_walk_next(&m->img, &w, &n))
        if (n.kind == K_OUTPUT && k++ == i) {
            if (name) *name = n.name;
            if (name_len) *name_len = n.name_len;
            if (per_token) *per_token = n.type == V_TOKENS;
            if (features) *features = n.features;
            return 0;
        }
    return -1;
}

int dlor_model_input_at(const dlor_model *m, int mode, const char **name, uint32_t *name_len)
{
    if (mode < M_FEATURES || mode > M_TYPE_IDS || m->img.input_of[mode] == DLOR_IMAGE_NONE) return -1;
    dlor_image_walk w;
    dlor_image_node n;
    dlor_image_walk_init(&w);
    while (dlor_image_walk_next(&m->img, &w, &n))
        if (n.kind == K_INPUT && n.code == mode) {
            if (name) *name = n.name;
            if (name_len) *name_len = n.name_len;
            return (int)m->img.input_of[mode];
        }
    return -1;
}

/* ---- the cost of an inference ------------------------------------------------------ */

static uint64_t branch_macs(const dlor_model *m, uint32_t i)
{
    uint64_t out = 0;
    for (uint32_t j = i; j-- > 0;) {
        dlor_image_op op;
        dlor_image_op_at(&m->img, j, &op);
        if (op.kind == DLOR_IMAGE_OP_LINEAR && out == 0) out = op.out;
        if (op.kind == DLOR_IMAGE_OP_BRANCH) return out;
        if (op.kind == DLOR_IMAGE_OP_MERGE) return 0;
    }
    return 0;
}

/* The cost of a DLoR layer's product with one row (dlor_runtime.h). */
static uint64_t layer_macs(const dlor_image_layer *L)
{
    return L->k * (L->dim_u + L->dim_v) + (L->method == DLOR_IMAGE_MUL ? L->factors * L->dim_u
                                                                      : (L->rows < L->cols ? L->rows : L->cols)) +
           (L->has_base ? L->rows * L->cols : 0);
}

static uint64_t tensor_bytes(const dlor_model *m, uint32_t i)
{
    dlor_image_tensor t;
    return i != DLOR_IMAGE_NO_TENSOR && dlor_image_tensor_at(&m->img, i, &t) == 0 ? t.nbytes : 0;
}

/* A node of a DAG: its weights' bytes; a linear step's products, and a scale's or
 * multiply's one per feature, per row. */
static int node_cost(const dlor_model *m, uint32_t i, uint64_t *macs, uint64_t *bytes)
{
    dlor_image_node n;
    if (dlor_image_node_at(&m->img, i, &n) != 0) return -1;
    *bytes = tensor_bytes(m, n.bias);
    *macs = 0;
    if (n.kind == K_LINEAR && n.is_layer) {
        dlor_image_layer L;
        dlor_image_layer_at(&m->img, n.weight, &L);
        *bytes += tensor_bytes(m, L.u_tensor) + tensor_bytes(m, L.v_tensor) +
                  (L.has_base ? tensor_bytes(m, L.base_tensor) : 0);
        *macs = layer_macs(&L);
    } else {
        if (n.weight != DLOR_IMAGE_NO_TENSOR) *bytes += tensor_bytes(m, n.weight);
        if (n.kind == K_LINEAR) *macs = n.in_features[0] * n.features;
        if (n.kind == K_SCALE || n.kind == K_MUL) *macs = n.features;
    }
    return 0;
}

int dlor_model_op_cost(const dlor_model *m, uint32_t i, uint64_t *macs, uint64_t *bytes)
{
    if (m->img.ndag) return node_cost(m, i, macs, bytes);
    dlor_image_op op;
    dlor_image_tensor t;
    if (dlor_image_op_at(&m->img, i, &op) != 0) return -1;
    *macs = *bytes = 0;
    if ((op.kind == DLOR_IMAGE_OP_LINEAR || op.kind == DLOR_IMAGE_OP_MERGE) && op.bias != DLOR_IMAGE_NO_TENSOR &&
        dlor_image_tensor_at(&m->img, op.bias, &t) == 0)
        *bytes += t.nbytes;
    if (op.kind == DLOR_IMAGE_OP_BRANCH || op.kind == DLOR_IMAGE_OP_MERGE) {
        *macs = branch_macs(m, i);
    } else if (op.kind == DLOR_IMAGE_OP_LINEAR && op.is_layer) {
        dlor_image_layer L;
        dlor_image_tensor u, v;
        dlor_image_layer_at(&m->img, op.weight, &L);
        dlor_image_tensor_at(&m->img, L.u_tensor, &u);
        dlor_image_tensor_at(&m->img, L.v_tensor, &v);
        *bytes += u.nbytes + v.nbytes + (L.has_base ? tensor_bytes(m, L.base_tensor) : 0);
        /* the products V^T x and the updates U z, one per stored element, and the
         * diagonal: alpha x once per mul factor, L alpha x once for add */
        *macs = layer_macs(&L);
    } else if (op.kind == DLOR_IMAGE_OP_LINEAR) {
        dlor_image_tensor_at(&m->img, op.weight, &t);
        *bytes += t.nbytes;
        *macs = op.in * op.out;
    }
    return 0;
}

uint64_t dlor_model_macs(const dlor_model *m)
{
    uint64_t total = 0, macs, bytes;
    uint32_t n = m->img.ndag ? m->img.ndag : m->img.nops;
    for (uint32_t i = 0; i < n; i++)
        if (dlor_model_op_cost(m, i, &macs, &bytes) == 0) total += macs;
    return total;
}

/* ---- the scratch ---------------------------------------------------------------- */

/* Scratch layout in elements of 'esize' bytes (each part rounded up to 16
 * elements, a multiple of 64 bytes): the values, rows x width; the factor
 * products, rows x zmax; a widening buffer for each worker of a team; and for
 * attention each worker's scores (att_scores: seq x RT_QB queries on a vector
 * host, seq elsewhere), with rotary embedding also its rotated
 * keys (seq x head), their angles' cosines and sines (seq x head) and a
 * rotated query (head); with DLOR_RT_QUANT_ACTS (float32) each worker's
 * quantized activations, QA_BYTES per block of 32 features of qcols, per row.
 * rows = batch x seq. */
#define DLOR_RT_PARTS 5
#define QA_BYTES 104 /* the float scale, the values' sum and 32 values as int16 and as int8 (see quant_acts) */

static int layout(const dlor_model *m, size_t batch, size_t seq, unsigned workers, size_t esize,
                  size_t part[DLOR_RT_PARTS], size_t *total)
{
    const uint64_t lim = (uint64_t)SIZE_MAX / esize;
    uint64_t n[DLOR_RT_PARTS], rows;
    if (batch == 0 || seq == 0 || workers == 0 || seq > lim / batch) return -1;
    if (m->max_seq && seq > m->max_seq) return -1;
    rows = (uint64_t)batch * seq;
    uint64_t widen = esize == sizeof(double) ? m->widen_f64 : rows > 1 ? max_u64(m->widen, m->widen_batch) : m->widen;
    if ((m->width && rows > lim / m->width) || (m->zmax && rows > lim / m->zmax)) return -1;
    n[0] = rows * m->width;
    n[1] = rows * m->zmax;
    if (round16(widen) > lim / workers) return -1;
    n[2] = round16(widen) * workers;
    uint64_t att = 0;
    if (m->att_head) {
        if (m->att_rope && seq > lim / 4 / (m->att_head + 1)) return -1;
        att = att_scores(seq) + (m->att_rope ? (2 * (uint64_t)seq + 1) * m->att_head : 0);
    }
    if (round16(att) > lim / workers) return -1;
    n[3] = round16(att) * workers;
    uint64_t qa = 0;
    if ((m->flags & DLOR_RT_QUANT_ACTS) && esize == sizeof(float) && m->qcols) {
        uint64_t per_row = (m->qcols + 31) / 32 * QA_BYTES / esize;
        if (rows > lim / per_row) return -1;
        qa = rows * per_row;
    }
    if (round16(qa) > lim / workers) return -1;
    n[4] = round16(qa) * workers;
    uint64_t sum = 0;
    for (int i = 0; i < DLOR_RT_PARTS; i++) {
        uint64_t a = round16(n[i]);
        if (a > lim - sum) return -1;
        part[i] = (size_t)a;
        sum += a;
    }
    *total = (size_t)sum * esize;
    return 0;
}

size_t dlor_model_scratch_bytes(const dlor_model *m, size_t batch, size_t seq, unsigned workers, int dtype)
{
    size_t part[DLOR_RT_PARTS], total;
    if (dtype != DLOR_RT_F32 && (dtype != DLOR_RT_F64 || RT_PASSES == 1)) return 0;
    return layout(m, batch, seq, workers, dtype == DLOR_RT_F32 ? sizeof(float) : sizeof(double), part, &total) == 0
               ? total
               : 0;
}

size_t dlor_model_scratch_size_team(const dlor_model *m, size_t batch, unsigned workers)
{
    return dlor_model_scratch_bytes(m, batch, 1, workers, DLOR_RT_F32);
}

size_t dlor_model_scratch_size(const dlor_model *m, size_t batch) { return dlor_model_scratch_size_team(m, batch, 1); }

size_t dlor_model_scratch_size_f64(const dlor_model *m, size_t batch)
{
    return dlor_model_scratch_bytes(m, batch, 1, 1, DLOR_RT_F64);
}

/* ---- checking a pass's inputs ----------------------------------------------------- */

#ifndef DLOR_RT_NO_TOKENS
static int64_t id_at(const void *p, int dtype, uint64_t i)
{
    if (dtype == DLOR_RT_I32) {
        int32_t v;
        memcpy(&v, (const unsigned char *)p + 4 * i, 4);
        return v;
    }
    int64_t v;
    memcpy(&v, (const unsigned char *)p + 8 * i, 8);
    return v;
}

/* The input of a mode, named for a message. */
static const char *input_name(const dlor_model *m, int mode, char out[72])
{
    const char *name = NULL;
    uint32_t len = 0;
    if (dlor_model_input_at(m, mode, &name, &len) < 0) return "?";
    return dlor__image_show((const unsigned char *)name, len, out);
}
#endif

/* Every input the graph reads is given, has its shape (a pass's sizes) and
 * holds what its tables can take. Found before any work, alike by every worker. */
static int check_run(const dlor_model *m, const dlor_run *r, dlor_image_error *err)
{
    const dlor_image *img = &m->img;
    if (!r->y || r->ny == 0 || r->ny > img->noutputs)
        return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "%u output buffers for a model of %u outputs",
                                (unsigned)r->ny, (unsigned)img->noutputs);
    if (img->input_of[M_FEATURES] != DLOR_IMAGE_NONE) {
        if (!r->x) return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "null input");
        if (r->seq != 1)
            return dlor__image_fail(err, DLOR_RT_E_INPUT, "the model takes features, not sequences (seq %zu)", r->seq);
        return 0;
    }
#ifdef DLOR_RT_NO_TOKENS
    return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED, "models of token ids are left out of this build of the "
                                                           "runtime (DLOR_RT_NO_TOKENS)");
#else
    char nm[72];
    if (!r->ids) return dlor__image_fail(err, DLOR_RT_E_INPUT, "input '%s' (token ids) is missing", input_name(m, M_IDS, nm));
    if (r->ids_dtype != DLOR_RT_I32 && r->ids_dtype != DLOR_RT_I64)
        return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "ids of dtype %d (int32 or int64 only)", r->ids_dtype);
    if (m->max_seq && r->seq > m->max_seq)
        return dlor__image_fail(err, DLOR_RT_E_INPUT, "sequences of %zu tokens are longer than the position table (%llu)",
                                r->seq, (unsigned long long)m->max_seq);
    uint64_t n = (uint64_t)r->batch * r->seq;
    const void *src[5] = {NULL, NULL, r->ids, r->mask, r->type_ids};
    for (int mode = M_IDS; mode <= M_TYPE_IDS; mode++) {
        if (!src[mode] || img->input_of[mode] == DLOR_IMAGE_NONE) continue;
        for (uint64_t i = 0; i < n; i++) {
            int64_t v = id_at(src[mode], r->ids_dtype, i);
            int bad = mode == M_MASK ? (v != 0 && v != 1) : (v < 0 || (m->vocab[mode] && (uint64_t)v >= m->vocab[mode]));
            if (bad) {
                if (mode == M_MASK)
                    return dlor__image_fail(err, DLOR_RT_E_INPUT, "%s[%llu, %llu] = %lld is not 0 or 1",
                                            input_name(m, mode, nm), (unsigned long long)(i / r->seq),
                                            (unsigned long long)(i % r->seq), (long long)v);
                return dlor__image_fail(err, DLOR_RT_E_INPUT, "%s[%llu, %llu] = %lld is outside the table of %llu rows",
                                        input_name(m, mode, nm), (unsigned long long)(i / r->seq),
                                        (unsigned long long)(i % r->seq), (long long)v,
                                        (unsigned long long)m->vocab[mode]);
            }
        }
    }
    return 0;
#endif
}

/* ---- the pass, once per precision ------------------------------------------------- */

/* The kernels' build: see the comment above dot in runtime_body.h. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* GCC leaves it off in ISO C modes and warns about the pragma */
#endif
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(DLOR_RUNTIME_NO_CLONES)
#define DLOR_RT_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define DLOR_RT_KERNEL
#endif

/* The batch kernel's tile: samples x rows (see tile in runtime_body.h). On
 * x86-64 a 4 x 4 tile for AVX-512 processors as well, chosen at run time. */
#define RT_TILE_MB 2
#define RT_TILE_NB 2
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(DLOR_RUNTIME_NO_CLONES)
#define RT_WIDE_TILE __attribute__((target("avx512f")))
#define RT_WIDE_TILE_OK() __builtin_cpu_supports("avx512f")
/* Lines of the next four rows of weights that each 4 x 4 tile asks the cache
 * for while it works on the current four (gemm): the rows are read from the
 * last-level cache or memory once per pass, then from the first level for
 * every block of samples. A BERT encoder of 256 features at S = 128 (one
 * thread) ran 9% faster with 2 or 4 lines a tile, 5% with 1. */
#define RT_PREFETCH 4
#endif

/* Keeps GCC from unrolling a loop of a fixed trip count before its loop
 * vectoriser sees it: at -O3 it unrolls the quantized kernels' 16- and 32-lane
 * loops first, and its block vectoriser then makes scalar conversions of them
 * (32 vcvtsi2ss a block); left as loops they become 8-wide vector code. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define RT_NO_UNROLL _Pragma("GCC unroll 1")
#else
#define RT_NO_UNROLL
#endif
/* ... and makes it unroll the integer kernels' loops of eight blocks, whose
 * vectors it otherwise keeps on the stack between the loop and the reduction. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define RT_UNROLL8 _Pragma("GCC unroll 8")
#else
#define RT_UNROLL8
#endif

/* RT_VEC, the one switch of the quantized kernels: set, they are written in
 * GCC/Clang vector types (the float kernels qdot8 and qdot4, the integer ones
 * of DLOR_RT_QUANT_ACTS with __builtin_shufflevector: GCC 12 or Clang) on a
 * vector host (RT_VECTOR_HOST), with the same lanes and the same exact or
 * same-order operations as their plain loops, so the same bits (the plain
 * loops are what the vectoriser made 128-bit code of, 2 x slower for q4: see
 * qdot8). DLOR_RT_NO_VECTOR_EXT, an older compiler or another processor keeps
 * the plain loops (the tests build the runtime so to compare the two). */
#if defined(RT_VECTOR_HOST) && !defined(DLOR_RT_NO_VECTOR_EXT) &&                                                  \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
#define RT_VEC 1
typedef int32_t rt_v8i __attribute__((vector_size(32)));
typedef int16_t rt_v16h __attribute__((vector_size(32)));
typedef int16_t rt_v8h __attribute__((vector_size(16)));
typedef float rt_v8f __attribute__((vector_size(32)));
/* Reductions across vectors without lane crossing (x86's unpack and add):
 * RT_FOLD32(a, b) = [a0+a2, b0+b2, a1+a3, b1+b3 | a4+a6, b4+b6, a5+a7, b5+b7],
 * RT_FOLD64 the same on pairs of lanes, RT_HALVES the sum of the 128-bit halves
 * of a and b, a's in the low half; RT_FOLD16 .. RT_FOLD16_64 the same on
 * 16-bit lanes. */
#define RT_FOLD32(a, b)                                                                                             \
    (__builtin_shufflevector((a), (b), 0, 8, 1, 9, 4, 12, 5, 13) +                                                  \
     __builtin_shufflevector((a), (b), 2, 10, 3, 11, 6, 14, 7, 15))
#define RT_FOLD64(a, b)                                                                                             \
    (__builtin_shufflevector((a), (b), 0, 1, 8, 9, 4, 5, 12, 13) +                                                  \
     __builtin_shufflevector((a), (b), 2, 3, 10, 11, 6, 7, 14, 15))
#define RT_HALVES(a, b)                                                                                             \
    (__builtin_shufflevector((a), (b), 0, 1, 2, 3, 8, 9, 10, 11) +                                                  \
     __builtin_shufflevector((a), (b), 4, 5, 6, 7, 12, 13, 14, 15))
#define RT_FOLD16(a, b)                                                                                             \
    (__builtin_shufflevector((a), (b), 0, 16, 1, 17, 2, 18, 3, 19, 8, 24, 9, 25, 10, 26, 11, 27) +                  \
     __builtin_shufflevector((a), (b), 4, 20, 5, 21, 6, 22, 7, 23, 12, 28, 13, 29, 14, 30, 15, 31))
#define RT_FOLD16_32(a, b)                                                                                          \
    (__builtin_shufflevector((a), (b), 0, 1, 16, 17, 2, 3, 18, 19, 8, 9, 24, 25, 10, 11, 26, 27) +                  \
     __builtin_shufflevector((a), (b), 4, 5, 20, 21, 6, 7, 22, 23, 12, 13, 28, 29, 14, 15, 30, 31))
#define RT_FOLD16_64(a, b)                                                                                          \
    (__builtin_shufflevector((a), (b), 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +                  \
     __builtin_shufflevector((a), (b), 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))

/* ... and where GCC makes per-processor versions (DLOR_RT_KERNEL), processors
 * with AVX-512 VNNI take q8 and q4 rows with int8 activations through qirow_vnni
 * (runtime_body.h), chosen at run time. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) &&                       \
    !defined(DLOR_RUNTIME_NO_CLONES)
#define RT_VNNI __attribute__((target("avx512vnni,avx512vl,avx512bw")))
#define RT_VNNI_OK()                                                                                                \
    (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
typedef int32_t rt_v16i __attribute__((vector_size(64)));
typedef float rt_v16f __attribute__((vector_size(64)));
typedef uint16_t rt_v16u16 __attribute__((vector_size(32)));
typedef float rt_v4f __attribute__((vector_size(16)));
typedef unsigned char rt_v32u8 __attribute__((vector_size(32)));
#endif
#endif

/* Blocks of a quantized row whose scales qdot converts at a time (on the stack). */
#define RT_QCHUNK 64

/* A call's activations quantized for integer dot products (DLOR_RT_QUANT_ACTS;
 * see quant_acts in runtime_body.h): nb blocks per row, their float scales,
 * the sums of their values, and their values (-127 to 127) as int16 (what the
 * AVX2 and plain kernels multiply) and as int8 (the AVX-512 VNNI kernel's). */
typedef struct rt_qacts {
    float *s;
    int32_t *sum;
    int16_t *v;
    signed char *v8;
    uint64_t nb;
} rt_qacts;

/* Rows of a factor's panels the update takes at a time (see update). */
#define PANEL_ROWS 64

#if !defined(DLOR_RT_NO_F64) && !defined(DLOR_RT_NO_ATTENTION)
/* double, with libm */
static void sincos_d(double a, double *s, double *c)
{
    *s = sin(a);
    *c = cos(a);
}
#endif

#define RT_T float
#define RT_(name) name##_f32
#define RT_F32 1
#define RT_DTYPE 1
#define RT_EXP dlor__expf
#define RT_SQRT dlor__sqrtf
#define RT_POWM dlor__powmf
#define RT_SINCOS dlor__sincosf
#define RT_ACT dlor_act_f32
#define RT_D2T dlor__double_to_float
#define RT_U2T u64_to_f32
#include "runtime_body.h"
#undef RT_T
#undef RT_
#undef RT_F32
#undef RT_DTYPE
#undef RT_EXP
#undef RT_SQRT
#undef RT_POWM
#undef RT_SINCOS
#undef RT_ACT
#undef RT_D2T
#undef RT_U2T

#ifndef DLOR_RT_NO_F64
#define RT_T double
#define RT_(name) name##_f64
#define RT_F32 0
#define RT_DTYPE 4
#define RT_EXP exp
#define RT_SQRT sqrt
#define RT_POWM(theta, e) pow((theta), -(e))
#define RT_SINCOS sincos_d
#define RT_ACT dlor_act_f64
#define RT_D2T(d) (d)
#define RT_U2T(n) ((double)(n))
#include "runtime_body.h"
#endif

/* What every pass checks first, alike in every worker: the team, the inputs
 * (check_run), the scratch; *part receives the layout. */
static int prepare(const dlor_model *m, const dlor_run *r, size_t esize, void *scratch, size_t scratch_size,
                   const dlor_team *t, size_t part[DLOR_RT_PARTS], dlor_image_error *err)
{
    size_t total;
    if (!r || (r->batch && !scratch)) return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "null run or scratch");
    if (t->size == 0 || t->id >= t->size || (t->size > 1 && !t->sync))
        return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "worker %u of a team of %u (with%s a sync function)", t->id,
                                t->size, t->sync ? "" : "out");
    if (r->observe && t->size > 1)
        return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "an observer watches a pass of one worker");
    if (r->batch == 0) return 0;
    int rc = check_run(m, r, err);
    if (rc != 0) return rc;
    if (layout(m, r->batch, r->seq, t->size, esize, part, &total) != 0)
        return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "a pass of %zu x %zu is too large for this model", r->batch,
                                r->seq);
    if (scratch_size < total)
        return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "scratch of %zu bytes is too small: batch %zu needs %zu",
                                scratch_size, r->batch, total);
    if (((uintptr_t)scratch & (esize - 1)) != 0)
        return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "scratch is not %zu-byte aligned", esize);
    return 0;
}

/* One pass per precision; a firmware that runs only float32 links no double
 * pass (dlor_model_forward calls run_f32 alone). */
static int run_f32(const dlor_model *m, const dlor_run *r, void *scratch, size_t scratch_size, const dlor_team *t,
                   dlor_image_error *err)
{
    size_t part[DLOR_RT_PARTS];
    int rc = prepare(m, r, sizeof(float), scratch, scratch_size, t, part, err);
    return rc != 0 || r->batch == 0 ? rc : pass_f32(m, r, scratch, part, t, err);
}

static int run_f64(const dlor_model *m, const dlor_run *r, void *scratch, size_t scratch_size, const dlor_team *t,
                   dlor_image_error *err)
{
#ifdef DLOR_RT_NO_F64
    (void)m, (void)r, (void)scratch, (void)scratch_size, (void)t;
    return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED,
                            "the double-precision pass is left out of this build of the runtime (DLOR_RT_NO_F64)");
#else
    size_t part[DLOR_RT_PARTS];
    int rc = prepare(m, r, sizeof(double), scratch, scratch_size, t, part, err);
    return rc != 0 || r->batch == 0 ? rc : pass_f64(m, r, scratch, part, t, err);
#endif
}

int dlor_model_run(const dlor_model *m, const dlor_run *r, int dtype, void *scratch, size_t scratch_size,
                   const dlor_team *team, dlor_image_error *err)
{
    const dlor_team *t = team ? team : &solo;
    if (dtype == DLOR_RT_F32) return run_f32(m, r, scratch, scratch_size, t, err);
    if (dtype == DLOR_RT_F64) return run_f64(m, r, scratch, scratch_size, t, err);
    return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "a pass in float32 or double only, not dtype %d", dtype);
}

/* A pass of a model of features: x and y of the pass's precision (run_f32 or
 * run_f64). */
static int forward(const dlor_model *m, const void *x, size_t batch, void *y, void *scratch, size_t scratch_size,
                   const dlor_team *t, int (*run)(const dlor_model *, const dlor_run *, void *, size_t,
                                                  const dlor_team *, dlor_image_error *),
                   dlor_image_error *err)
{
    dlor_run r;
    void *ys[1];
    if (!x || !y || (batch && !scratch) || !t)
        return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "null input, output or scratch");
    if (m->img.input_of[M_FEATURES] == DLOR_IMAGE_NONE)
        return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "the model takes token ids: run it with dlor_model_run");
    memset(&r, 0, sizeof r);
    ys[0] = y;
    r.batch = batch;
    r.seq = 1;
    r.x = x;
    r.y = ys;
    r.ny = 1;
    return run(m, &r, scratch, scratch_size, t, err);
}

int dlor_model_forward_team(const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                            size_t scratch_size, const dlor_team *t, dlor_image_error *err)
{
    return forward(m, x, batch, y, scratch, scratch_size, t, run_f32, err);
}

int dlor_model_forward(const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                       size_t scratch_size, dlor_image_error *err)
{
    return forward(m, x, batch, y, scratch, scratch_size, &solo, run_f32, err);
}

int dlor_model_forward_f64(const dlor_model *m, const double *x, size_t batch, double *y, void *scratch,
                           size_t scratch_size, dlor_image_error *err)
{
    return forward(m, x, batch, y, scratch, scratch_size, &solo, run_f64, err);
}
