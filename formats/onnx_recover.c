/* onnx_recover.c - recovering the computation of an ONNX graph: the walk from
 * the model's input through the consumers of each value, the layers (Gemm,
 * MatMul + Add) and the single-node operators. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static const char *const attr_type_names[] = {
    "UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH", "FLOATS", "INTS", "STRINGS",
    "TENSORS", "GRAPHS", "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};

int ox_is_default_domain(ox_str d) { return d.n == 0 || ox_str_is(d, "ai.onnx"); }

const ox_attr *ox_find_attr(ox_ctx *c, size_t k, const char *name)
{
    const ox_node *n = &NODE(c, k);
    for (size_t j = 0; j < n->nattr; j++)
        if (ox_str_is(ATTR(c, n->attr0 + j).name, name)) return &ATTR(c, n->attr0 + j);
    return NULL;
}

/* 1 (why set) unless every attribute of node k is in the NULL-terminated
 * list allowed, given once, and not a reference to a function attribute. */
int ox_check_attrs(ox_ctx *c, size_t k, const char *const *allowed)
{
    const ox_node *n = &NODE(c, k);
    for (size_t j = 0; j < n->nattr; j++) {
        const ox_attr *a = &ATTR(c, n->attr0 + j);
        int ok = 0;
        for (const char *const *p = allowed; p && *p; p++)
            if (ox_str_is(a->name, *p)) ok = 1;
        if (!ok)
            return ox_why(c, "node %s: %s attribute '%s' is not supported", ox_nl(c, k), ox_s(c, n->op),
                       ox_s(c, a->name));
        if (a->has_ref)
            return ox_why(c, "node %s: attribute '%s' refers to a function attribute", ox_nl(c, k),
                       ox_s(c, a->name));
        for (size_t i = 0; i < j; i++)
            if (ox_str_eq(ATTR(c, n->attr0 + i).name, a->name))
                return ox_why(c, "node %s: attribute '%s' is given twice", ox_nl(c, k), ox_s(c, a->name));
    }
    return 0;
}

int ox_attr_type_ok(ox_ctx *c, size_t k, const ox_attr *a, int want)
{
    if (a->type == want) return 0;
    return ox_why(c, "node %s: attribute '%s' has type %s, expected %s", ox_nl(c, k), ox_s(c, a->name),
               a->type >= 0 && a->type < 15 ? attr_type_names[a->type] : "unknown",
               attr_type_names[want]);
}

int ox_get_float(ox_ctx *c, size_t k, const char *name, double dflt, double *v)
{
    const ox_attr *a = ox_find_attr(c, k, name);
    *v = dflt;
    if (!a) return 0;
    if (ox_attr_type_ok(c, k, a, AT_FLOAT)) return 1;
    *v = a->f;
    if (!isfinite(*v)) return ox_why(c, "node %s: attribute '%s' is not finite", ox_nl(c, k), name);
    return 0;
}

int ox_get_int(ox_ctx *c, size_t k, const char *name, int64_t dflt, int64_t *v)
{
    const ox_attr *a = ox_find_attr(c, k, name);
    *v = dflt;
    if (!a) return 0;
    if (ox_attr_type_ok(c, k, a, AT_INT)) return 1;
    *v = a->i;
    return 0;
}

int ox_attr_ints(ox_ctx *c, size_t k, const ox_attr *a, int64_t *v, size_t max, size_t *n)
{
    dlor_pb r = a->msg;
    dlor_pb_field f;
    dlor_error e;
    *n = 0;
    if (ox_attr_type_ok(c, k, a, AT_INTS)) return 1;
    /* the attribute's record was checked when it was read: the walk cannot fail */
    while (dlor_pb_next(&r, &f, &e) == DLOR_OK && f.num) {
        if (f.num != 8) continue;
        dlor_pb_iter it;
        uint64_t u;
        dlor_pb_iter_init(&it, &f, DLOR_PB_VARINT);
        while (dlor_pb_iter_next(&it, &u)) {
            if (*n == max)
                return ox_why(c, "node %s: attribute '%s' has more than %zu values", ox_nl(c, k), ox_s(c, a->name), max);
            v[(*n)++] = (int64_t)u;
        }
    }
    return 0;
}

const ox_tensor *ox_init_of(ox_ctx *c, long v)
{
    return v >= 0 && VAL(c, v).init >= 0 ? &INIT(c, VAL(c, v).init) : NULL;
}

/* An initializer or the tensor of a Constant node. */
const ox_tensor *ox_const_of(ox_ctx *c, long v)
{
    if (v < 0) return NULL;
    if (VAL(c, v).init >= 0) return &INIT(c, VAL(c, v).init);
    if (VAL(c, v).node >= 0) {
        const ox_node *n = &NODE(c, VAL(c, v).node);
        if (n->cidx >= 0) return &CONSTT(c, n->cidx);
    }
    return NULL;
}

double ox_elem_f64(const ox_tensor *t, uint64_t i)
{
    const unsigned char *p = t->data + i * dlor_dtype_size(t->dt);
    switch (t->dt) {
    case DLOR_DT_F64: {
        uint64_t b = dlor_load_u64(p);
        double d;
        memcpy(&d, &b, 8);
        return d;
    }
    case DLOR_DT_F32: {
        uint32_t b = dlor_load_u32(p);
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    case DLOR_DT_F16: return dlor_f16_to_f32(dlor_load_u16(p));
    case DLOR_DT_BF16: return dlor_bf16_to_f32(dlor_load_u16(p));
    default: return 0;
    }
}

/* 1 when v is a one-element float constant within 1e-3 (relative) of want. */
int ox_const_near(ox_ctx *c, long v, double want)
{
    const ox_tensor *t = ox_const_of(c, v);
    if (!t || t->nelem != 1 || t->ndim > 1 || !dlor_dtype_is_float(t->dt)) return 0;
    return fabs(ox_elem_f64(t, 0) - want) <= 1e-3 * fabs(want);
}

/* The single node consuming v, when v has exactly one use and is not a graph
 * output; -1 otherwise. */
long ox_sole_use(ox_ctx *c, long v)
{
    if (v < 0 || VAL(c, v).nuse != 1 || VAL(c, v).is_output) return -1;
    return (long)c->uses[VAL(c, v).use0];
}

long ox_in_v(ox_ctx *c, size_t k, size_t j)
{
    return j < NODE(c, k).nin ? c->in_vals[NODE(c, k).in0 + j] : -1;
}

/* The value of node k's first output; 1 (why set) when it has none or
 * when any other output is used. */
int ox_main_out(ox_ctx *c, size_t k, long *out)
{
    const ox_node *n = &NODE(c, k);
    if (n->nout == 0 || c->out_vals[n->out0] < 0)
        return ox_why(c, "node %s (%s) has no output", ox_nl(c, k), ox_s(c, n->op));
    for (size_t j = 1; j < n->nout; j++) {
        long v = c->out_vals[n->out0 + j];
        if (v >= 0 && (VAL(c, v).nuse || VAL(c, v).is_output))
            return ox_why(c, "node %s (%s): its output '%s' is used; dlor runs single-output ops",
                       ox_nl(c, k), ox_s(c, n->op), ox_s(c, VAL(c, v).name));
    }
    *out = c->out_vals[n->out0];
    return 0;
}

/* A plain op node: default domain, no attributes, nin inputs, one output. */
int ox_plain(ox_ctx *c, long k, const char *op, size_t nin)
{
    if (k < 0) return 0;
    const ox_node *n = &NODE(c, k);
    if (!ox_str_is(n->op, op) || !ox_is_default_domain(n->domain) || n->nin != nin || n->nattr) return 0;
    if (n->nout < 1 || c->out_vals[n->out0] < 0) return 0;
    for (size_t j = 1; j < n->nout; j++) {
        long v = c->out_vals[n->out0 + j];
        if (v >= 0 && (VAL(c, v).nuse || VAL(c, v).is_output)) return 0;
    }
    return 1;
}

long ox_out_of(ox_ctx *c, size_t k) { return c->out_vals[NODE(c, k).out0]; }

dlor_status ox_push_op(ox_ctx *c, dlor_op_kind kind, long w, long b, dlor_act act, double param)
{
    if (c->ops.n >= DLOR_GRAPH_MAX_OPS)
        return ox_fail(c, DLOR_E_LIMIT, "model graph has more than %d operations", DLOR_GRAPH_MAX_OPS);
    ox_op *o = ox_vec_push(&c->ops, sizeof *o);
    if (!o) return ox_nomem(c);
    o->kind = kind;
    o->w = w;
    o->b = b;
    o->act = act;
    o->param = param;
    o->in1 = -1;
    return DLOR_OK;
}

/* A normalised copy of initializer src (see the top comment), shared by
 * every use that asks for the same thing. Returns its reference in *ref. */
static dlor_status derive(ox_ctx *c, long src, int kind, double scale, uint64_t n, long *ref)
{
    const ox_tensor *t = &INIT(c, src);
    if (!c->der_head) {
        c->der_head = malloc(c->inits.n * sizeof *c->der_head);
        c->der_count = calloc(c->inits.n, sizeof *c->der_count);
        if (!c->der_head || !c->der_count) return ox_nomem(c);
        for (size_t i = 0; i < c->inits.n; i++) c->der_head[i] = -1;
    }
    for (long i = c->der_head[src]; i >= 0; i = DER(c, i).next) {
        ox_der *d = &DER(c, i);
        if (d->kind == kind && d->scale == scale && d->n == n) {
            d->uses++;
            *ref = REF_DER(i);
            return DLOR_OK;
        }
    }
    ox_der d;
    memset(&d, 0, sizeof d);
    d.src = src;
    d.kind = kind;
    d.scale = scale;
    d.n = n;
    d.uses = 1;
    d.next = c->der_head[src];
    d.dt = (kind & (D_SCALE | D_BCAST)) ? (t->dt == DLOR_DT_F64 ? DLOR_DT_F64 : DLOR_DT_F32) : t->dt;
    size_t es = dlor_dtype_size(d.dt), ses = dlor_dtype_size(t->dt);
    uint64_t ne = (kind & D_BCAST) ? n : t->nelem;
    if (kind & D_TRANSPOSE) {
        d.ndim = 2;
        d.dims[0] = t->dims[1];
        d.dims[1] = t->dims[0];
    } else if (kind & (D_BCAST | D_RESHAPE)) {
        d.ndim = 1;
        d.dims[0] = ne;
    } else {
        d.ndim = t->ndim;
        memcpy(d.dims, t->dims, sizeof d.dims);
    }
    d.nbytes = (size_t)ne * es; /* ne <= elements already in memory, or a weight's row count */
    if (kind == D_RESHAPE) {
        d.data = t->data; /* same bytes, new shape */
    } else {
        unsigned char *p = malloc(d.nbytes ? d.nbytes : 1);
        if (!p) return ox_nomem(c);
        d.block = p;
        d.data = p;
        int copy = d.dt == t->dt && !(kind & (D_SCALE | D_BCAST));
        uint64_t rows = d.dims[0], cols = d.ndim == 2 ? d.dims[1] : 1;
        for (uint64_t di = 0; di < ne; di++) {
            uint64_t si = (kind & D_BCAST) ? 0 : di;
            if (kind & D_TRANSPOSE) si = (di % cols) * rows + di / cols;
            if (copy) {
                memcpy(p + di * es, t->data + si * ses, es);
            } else {
                double x = ox_elem_f64(t, si) * scale;
                dlor_encode_f64(&x, 1, d.dt, p + di * es);
            }
        }
    }
    ox_der *slot = ox_vec_push(&c->ders, sizeof *slot);
    if (!slot) {
        free(d.block);
        return ox_nomem(c);
    }
    *slot = d;
    c->der_head[src] = (long)(c->ders.n - 1);
    c->der_count[src]++;
    *ref = REF_DER(c->ders.n - 1);
    return DLOR_OK;
}

/* The bias reference for an initializer b added to a layer of n outputs,
 * scaled by beta. Returns 1 (with the reason in why) when b's shape does not
 * broadcast as a per-output bias. */
static int bias_ref(ox_ctx *c, size_t k, long bv, uint64_t n, double beta, long *ref, dlor_status *st)
{
    const ox_tensor *b = ox_init_of(c, bv);
    char shape[200];
    *st = DLOR_OK;
    if (!b)
        return ox_why(c, "node %s (%s): bias '%s' is not an initializer", ox_nl(c, k),
                   ox_s(c, NODE(c, k).op), ox_s(c, VAL(c, bv).name));
    if (!dlor_dtype_is_float(b->dt))
        return ox_why(c, "node %s (%s): bias '%s' is %s, not a float tensor", ox_nl(c, k),
                   ox_s(c, NODE(c, k).op), ox_s(c, b->name), dlor_dtype_name(b->dt));
    long src = VAL(c, bv).init;
    if (b->ndim == 1 && b->dims[0] == n) {
        if (beta == 1.0) *ref = src;
        else *st = derive(c, src, D_SCALE, beta, 0, ref);
        return 0;
    }
    if (b->ndim == 2 && b->dims[0] == 1 && b->dims[1] == n) {
        *st = derive(c, src, D_RESHAPE | (beta == 1.0 ? 0 : D_SCALE), beta, 0, ref);
        return 0;
    }
    if (b->nelem == 1 && b->ndim <= 2) {
        *st = derive(c, src, D_BCAST, beta, n, ref);
        return 0;
    }
    return ox_why(c, "node %s (%s): bias '%s' of shape %s does not broadcast to [batch, %llu]",
               ox_nl(c, k), ox_s(c, NODE(c, k).op), ox_s(c, b->name),
               dlor_shape_str(b->dims, b->ndim, shape, sizeof shape), (unsigned long long)n);
}

/* Checks the weight initializer in value wv for a layer of node k: a 2-D
 * float tensor whose input side (dims[in_axis]) matches the chain. */
static int weight_ok(ox_ctx *c, size_t k, ox_walk *w, long wv, int in_axis, const ox_tensor **out)
{
    const ox_node *n = &NODE(c, k);
    const ox_tensor *t = ox_init_of(c, wv);
    char shape[200];
    if (wv < 0) return ox_why(c, "node %s (%s) has no weight input", ox_nl(c, k), ox_s(c, n->op));
    if (!t)
        return ox_why(c, "node %s (%s): weight '%s' is not an initializer", ox_nl(c, k), ox_s(c, n->op),
                   ox_s(c, VAL(c, wv).name));
    if (t->ndim != 2 || !dlor_dtype_is_float(t->dt) || t->nelem == 0)
        return ox_why(c, "node %s (%s): weight '%s' (%s %s) is not a non-empty 2-D float tensor",
                   ox_nl(c, k), ox_s(c, n->op), ox_s(c, t->name), dlor_dtype_name(t->dt),
                   dlor_shape_str(t->dims, t->ndim, shape, sizeof shape));
    if (w->rank >= 0 && w->rank != 2)
        return ox_why(c, "node %s (%s): its input has rank %d; dlor runs layers on [batch, features]",
                   ox_nl(c, k), ox_s(c, n->op), w->rank);
    if (w->feat && t->dims[in_axis] != w->feat)
        return ox_why(c, "node %s (%s): weight '%s' %s takes %llu inputs but the previous layer "
                   "gives %llu", ox_nl(c, k), ox_s(c, n->op), ox_s(c, t->name),
                   dlor_shape_str(t->dims, t->ndim, shape, sizeof shape),
                   (unsigned long long)t->dims[in_axis], (unsigned long long)w->feat);
    if (!w->feat && !c->ops.n && !c->feat0) c->feat0 = t->dims[in_axis]; /* the input's, undeclared */
    *out = t;
    return 0;
}

static int op_gemm(ox_ctx *c, size_t k, ox_walk *w, dlor_status *st)
{
    static const char *const allowed[] = {"alpha", "beta", "transA", "transB", NULL};
    const ox_node *n = &NODE(c, k);
    const ox_tensor *t;
    double alpha, beta;
    int64_t ta, tb;
    long wref, bref = REF_NONE, out;
    if (n->nin < 2 || n->nin > 3)
        return ox_why(c, "node %s: Gemm has %zu inputs (expected 2 or 3)", ox_nl(c, k), n->nin);
    if (ox_in_v(c, k, 0) != w->cur)
        return ox_why(c, "node %s: Gemm takes the chain's value as B or C, not as A", ox_nl(c, k));
    if (ox_check_attrs(c, k, allowed) || ox_get_float(c, k, "alpha", 1.0, &alpha) ||
        ox_get_float(c, k, "beta", 1.0, &beta) || ox_get_int(c, k, "transA", 0, &ta) ||
        ox_get_int(c, k, "transB", 0, &tb))
        return 1;
    if (ta != 0) return ox_why(c, "node %s: Gemm transA = %lld is not supported", ox_nl(c, k), (long long)ta);
    if (tb != 0 && tb != 1)
        return ox_why(c, "node %s: Gemm transB = %lld (expected 0 or 1)", ox_nl(c, k), (long long)tb);
    if (weight_ok(c, k, w, ox_in_v(c, k, 1), tb ? 1 : 0, &t)) return 1;
    uint64_t nout = t->dims[tb ? 0 : 1];
    long src = VAL(c, ox_in_v(c, k, 1)).init;
    if (tb == 1 && alpha == 1.0) wref = src;
    else if ((*st = derive(c, src, (tb ? 0 : D_TRANSPOSE) | (alpha != 1.0 ? D_SCALE : 0), alpha, 0, &wref)))
        return -1;
    if (n->nin == 3 && ox_in_v(c, k, 2) >= 0) {
        if (ox_in_v(c, k, 2) == w->cur) return ox_why(c, "node %s: Gemm adds the chain's value as C", ox_nl(c, k));
        if (bias_ref(c, k, ox_in_v(c, k, 2), nout, beta, &bref, st)) return 1;
        if (*st) return -1;
    }
    if (ox_main_out(c, k, &out)) return 1;
    if ((*st = ox_push_op(c, DLOR_OP_LINEAR, wref, bref, DLOR_ACT_IDENTITY, 0))) return -1;
    NODE(c, k).visited = 1;
    w->cur = out;
    w->rank = 2;
    w->feat = nout;
    return 0;
}

static int op_matmul(ox_ctx *c, size_t k, ox_walk *w, dlor_status *st)
{
    const ox_node *n = &NODE(c, k);
    const ox_tensor *t;
    long wref, bref = REF_NONE, out;
    if (n->nin != 2) return ox_why(c, "node %s: MatMul has %zu inputs", ox_nl(c, k), n->nin);
    if (ox_in_v(c, k, 0) != w->cur)
        return ox_why(c, "node %s: MatMul multiplies the chain's value from the right (W @ x); dlor "
                   "runs x @ W", ox_nl(c, k));
    if (ox_check_attrs(c, k, NULL) || weight_ok(c, k, w, ox_in_v(c, k, 1), 0, &t) || ox_main_out(c, k, &out))
        return 1;
    uint64_t nout = t->dims[1];
    if ((*st = derive(c, VAL(c, ox_in_v(c, k, 1)).init, D_TRANSPOSE, 1.0, 0, &wref))) return -1;
    NODE(c, k).visited = 1;
    /* MatMul then Add(initializer) is a linear layer with a bias */
    long a = ox_sole_use(c, out);
    if (ox_plain(c, a, "Add", 2)) {
        long other = ox_in_v(c, (size_t)a, 0) == out ? ox_in_v(c, (size_t)a, 1) : ox_in_v(c, (size_t)a, 0);
        const ox_tensor *b = ox_init_of(c, other);
        if (other != out && b && dlor_dtype_is_float(b->dt) && b->ndim <= 2 &&
            (b->nelem == 1 || b->dims[b->ndim - 1] == nout) && (b->ndim < 2 || b->dims[0] == 1)) {
            if (bias_ref(c, (size_t)a, other, nout, 1.0, &bref, st)) return 1;
            if (*st) return -1;
            NODE(c, a).visited = 1;
            out = ox_out_of(c, (size_t)a);
        }
    }
    if ((*st = ox_push_op(c, DLOR_OP_LINEAR, wref, bref, DLOR_ACT_IDENTITY, 0))) return -1;
    w->cur = out;
    w->rank = 2;
    w->feat = nout;
    return 0;
}

static int op_reshape(ox_ctx *c, size_t k, ox_walk *w)
{
    static const char *const allowed[] = {"allowzero", NULL};
    const ox_node *n = &NODE(c, k);
    int64_t allowzero;
    if (n->nin != 2 || ox_in_v(c, k, 0) != w->cur)
        return ox_why(c, "node %s: Reshape must take the chain's value and a shape", ox_nl(c, k));
    if (ox_check_attrs(c, k, allowed) || ox_get_int(c, k, "allowzero", 0, &allowzero)) return 1;
    const ox_tensor *s = ox_const_of(c, ox_in_v(c, k, 1));
    if (!s || s->dt != DLOR_DT_I64 || s->ndim != 1 || s->nelem != 2)
        return ox_why(c, "node %s: Reshape's shape must be a constant INT64 vector of 2 values "
                   "[batch, features]", ox_nl(c, k));
    int64_t a = (int64_t)dlor_load_u64(s->data), b = (int64_t)dlor_load_u64(s->data + 8);
    if (w->rank >= 0 && w->rank != 2 && !(b == -1 && a >= 0 && !allowzero))
        return ox_why(c, "node %s: Reshape [%lld, %lld] of a rank-%d value is not a no-op", ox_nl(c, k),
                   (long long)a, (long long)b, w->rank);
    if (a < -1 || (a == 0 && allowzero) || b < -1 || b == 0 || (a == -1 && b == -1))
        return ox_why(c, "node %s: Reshape to [%lld, %lld] is not a no-op on [batch, features]",
                   ox_nl(c, k), (long long)a, (long long)b);
    if (b > 0 && w->feat && (uint64_t)b != w->feat)
        return ox_why(c, "node %s: Reshape to [%lld, %lld] changes the %llu features", ox_nl(c, k),
                   (long long)a, (long long)b, (unsigned long long)w->feat);
    if (b > 0) w->feat = (uint64_t)b;
    w->rank = 2;
    return 0;
}

static int op_single(ox_ctx *c, size_t k, ox_walk *w, dlor_status *st)
{
    static const char *const none[] = {NULL};
    static const char *const leaky[] = {"alpha", NULL};
    static const char *const gelu[] = {"approximate", NULL};
    static const char *const axis[] = {"axis", NULL};
    static const struct { const char *op; dlor_act act; } simple[] = {
        {"Relu", DLOR_ACT_RELU}, {"Sigmoid", DLOR_ACT_SIGMOID}, {"Tanh", DLOR_ACT_TANH},
        {"Softplus", DLOR_ACT_SOFTPLUS}};
    const ox_node *n = &NODE(c, k);
    long out;
    int kind = -1; /* act code, or 100 softmax, 101 no-op */
    double param = 0;
    if (ox_str_is(n->op, "Gemm")) return op_gemm(c, k, w, st);
    if (ox_str_is(n->op, "MatMul")) return op_matmul(c, k, w, st);
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (ox_str_is(n->op, simple[i].op)) {
            if (ox_check_attrs(c, k, none)) return 1;
            kind = (int)simple[i].act;
        }
    if (ox_str_is(n->op, "LeakyRelu")) {
        if (ox_check_attrs(c, k, leaky) || ox_get_float(c, k, "alpha", (double)0.01f, &param)) return 1;
        kind = DLOR_ACT_LEAKY_RELU;
    } else if (ox_str_is(n->op, "Gelu")) {
        const ox_attr *a = ox_find_attr(c, k, "approximate");
        if (c->opset < 20)
            return ox_why(c, "node %s: Gelu needs opset 20 but the model imports opset %lld", ox_nl(c, k),
                       (long long)c->opset);
        if (ox_check_attrs(c, k, gelu) || (a && ox_attr_type_ok(c, k, a, AT_STRING))) return 1;
        if (!a || ox_str_is(a->s, "none")) kind = DLOR_ACT_GELU_ERF;
        else if (ox_str_is(a->s, "tanh")) kind = DLOR_ACT_GELU_TANH;
        else return ox_why(c, "node %s: Gelu approximate = '%s' (expected none or tanh)", ox_nl(c, k), ox_s(c, a->s));
    } else if (ox_str_is(n->op, "Softmax")) {
        int64_t ax;
        if (ox_check_attrs(c, k, axis) || ox_get_int(c, k, "axis", c->opset >= 13 ? -1 : 1, &ax)) return 1;
        if ((ax != -1 && ax != 1) || (w->rank >= 0 && w->rank != 2))
            return ox_why(c, "node %s: Softmax over axis %lld of a rank-%d value is not over the "
                       "features of each sample", ox_nl(c, k), (long long)ax, w->rank < 0 ? 2 : w->rank);
        kind = 100;
    } else if (ox_str_is(n->op, "Flatten")) {
        int64_t ax;
        if (ox_check_attrs(c, k, axis) || ox_get_int(c, k, "axis", 1, &ax)) return 1;
        if (w->rank >= 0 && ax < 0) ax += w->rank;
        if (ax != 1 || w->rank == 1 || w->rank == 0)
            return ox_why(c, "node %s: Flatten with axis %lld does not keep the batch axis", ox_nl(c, k),
                       (long long)ax);
        w->rank = 2;
        kind = 101;
    } else if (ox_str_is(n->op, "Identity")) {
        if (ox_check_attrs(c, k, none)) return 1;
        kind = 101;
    } else if (ox_str_is(n->op, "Reshape")) {
        if (op_reshape(c, k, w)) return 1;
        kind = 101;
    } else if (ox_str_is(n->op, "LayerNormalization")) {
        return ox_op_layernorm(c, k, w, st);
    } else if (ox_str_is(n->op, "Add")) {
        return ox_why(c, "node %s: Add is supported right after MatMul, adding an initializer bias of one "
                   "value per output, or joining a residual branch to the value it started from", ox_nl(c, k));
    } else if (kind < 0) {
        return ox_why(c, "node %s: operator %s is not supported", ox_nl(c, k), ox_s(c, n->op));
    }
    if (!ox_str_is(n->op, "Reshape") && (n->nin != 1 || ox_in_v(c, k, 0) != w->cur))
        return ox_why(c, "node %s: %s must have the chain's value as its only input", ox_nl(c, k),
                   ox_s(c, n->op));
    if (ox_main_out(c, k, &out)) return 1;
    if (kind == 100) *st = ox_push_op(c, DLOR_OP_SOFTMAX, REF_NONE, REF_NONE, DLOR_ACT_IDENTITY, 0);
    else if (kind != 101) *st = ox_push_op(c, DLOR_OP_ACT, REF_NONE, REF_NONE, (dlor_act)kind, param);
    if (*st) return -1;
    NODE(c, k).visited = 1;
    w->cur = out;
    return 0;
}

/* 0: the graph is a chain (ops filled); 1: it is not (why set); -1: error. */
int ox_recover(ox_ctx *c, dlor_status *st)
{
    *st = DLOR_OK;
    for (size_t k = 0; k < c->nodes.n; k++) {
        const ox_node *n = &NODE(c, k);
        if (!ox_is_default_domain(n->domain))
            return ox_why(c, "node %s: operator %s of domain '%s' is not supported (dlor runs the "
                       "default ONNX domain)", ox_nl(c, k), ox_s(c, n->op), ox_s(c, n->domain));
    }
    if (!c->opset_seen)
        return ox_why(c, "the model imports no opset of the default ONNX domain");
    if (c->opset_conflict)
        return ox_why(c, "the model imports two different opsets of the default ONNX domain");
    if (c->opset < 1 || c->opset > OX_MAX_OPSET)
        return ox_why(c, "the model imports opset %lld of the default domain; dlor knows opsets 1 "
                   "to %d", (long long)c->opset, OX_MAX_OPSET);
    long in = -1;
    size_t ndata = 0;
    for (size_t i = 0; i < c->ginputs.n; i++) {
        long v = ox_lookup(c, GIN(c, i).name);
        if (VAL(c, v).init < 0) ndata++, in = (long)i;
    }
    if (ndata != 1)
        return ox_why(c, "the model has %zu inputs besides its initializers; dlor runs single-input "
                   "chains", ndata);
    if (c->goutputs.n != 1)
        return ox_why(c, "the model has %zu outputs; dlor runs single-output chains", c->goutputs.n);
    ox_walk w = {ox_lookup(c, GIN(c, in).name), GIN(c, in).rank, GIN(c, in).feat};
    long outv = ox_lookup(c, GOUT(c, 0));
    c->feat0 = GIN(c, in).feat;
    if (!(c->dagv = malloc((c->vals.n ? c->vals.n : 1) * sizeof *c->dagv))) return (*st = ox_nomem(c)), -1;
    for (size_t i = 0; i < c->vals.n; i++) c->dagv[i] = -1;
    for (size_t steps = 0;; steps++) {
        const ox_value *v = &VAL(c, w.cur);
        int rc;
        if (steps > c->nodes.n) return ox_why(c, "the graph loops");
        c->dagv[w.cur] = (long)c->ops.n; /* the value the last op made (the input before any) */
        if (v->nuse == 0) {
            if (w.cur == outv) break;
            return ox_why(c, "value '%s' is neither used by a node nor the graph output",
                       ox_s(c, v->name));
        }
        if (v->is_output)
            return ox_why(c, "value '%s' is the graph output and also feeds a node", ox_s(c, v->name));
        /* the end of a residual branch, at the Add that joins it */
        size_t p = 0;
        while (v->nuse == 1 && p < c->pending.n &&
               ((ox_pending *)c->pending.p)[p].node != c->uses[v->use0])
            p++;
        if (v->nuse == 1 && p < c->pending.n) {
            if ((rc = ox_join_residual(c, &w, p, st))) return rc;
            continue;
        }
        /* the start of one: a use that is an Add of this value and another waits for the branch */
        size_t u[2] = {0, 0}, nu = 0;
        long res = -1;
        for (uint32_t j = 0; j < v->nuse; j++) {
            size_t k = c->uses[v->use0 + j];
            if (res < 0 && v->nuse >= 2 && ox_is_residual_add(c, k, w.cur)) {
                res = (long)k;
                continue;
            }
            if (nu < 2) u[nu] = k;
            nu++;
        }
        if (res >= 0) {
            ox_pending *pd = ox_vec_push(&c->pending, sizeof *pd);
            if (!pd) return (*st = ox_nomem(c)), -1;
            pd->node = (size_t)res;
            pd->saved = w.cur;
            pd->feat = w.feat;
        }
        if (nu == 1) {
            rc = op_single(c, u[0], &w, st);
        } else if (nu == 2) {
            size_t a = u[0], b = u[1];
            rc = 1;
            if (a != b) {
                rc = ox_try_silu(c, &w, a, b, st);
                if (rc > 0) rc = ox_try_silu(c, &w, b, a, st);
                if (rc > 0) rc = ox_try_gelu(c, &w, a, b, st);
                if (rc > 0) rc = ox_try_gelu(c, &w, b, a, st);
                if (rc > 0) rc = ox_try_layernorm(c, &w, a, b, st);
                if (rc > 0) rc = ox_try_layernorm(c, &w, b, a, st);
            }
            if (rc > 0)
                return ox_why(c, "value '%s' feeds two nodes (%s %s and %s %s) that are not the GELU, SiLU "
                           "or LayerNorm pattern; dlor runs chains with residual connections", ox_s(c, v->name),
                           ox_nl(c, a), ox_s(c, NODE(c, a).op), ox_nl(c, b), ox_s(c, NODE(c, b).op));
        } else {
            return ox_why(c, "value '%s' feeds %u node inputs; dlor runs chains with residual connections",
                       ox_s(c, v->name), v->nuse);
        }
        if (rc) return rc;
    }
    for (size_t k = 0; k < c->nodes.n; k++) {
        const ox_node *n = &NODE(c, k);
        if (!n->visited && !(ox_str_is(n->op, "Constant") && n->nin == 0))
            return ox_why(c, "node %s (%s) is not on the chain from the model's input to its output",
                       ox_nl(c, k), ox_s(c, n->op));
    }
    int linear = 0;
    for (size_t i = 0; i < c->ops.n; i++) linear |= OP(c, i).kind == DLOR_OP_LINEAR;
    if (!linear) return ox_why(c, "the graph has no Gemm or MatMul layer");
    if (ox_is_dag(c) && !c->feat0)
        return ox_why(c, "the model's input declares no feature count and no layer before its first LayerNorm or "
                         "residual connection gives one");
    return 0;
}
