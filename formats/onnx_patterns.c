/* onnx_patterns.c - operators exporters write as several nodes, recognised
 * where the walk of onnx_recover.c meets them. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* x -> Sigmoid -> Mul(x, .): SiLU. */
int ox_try_silu(ox_ctx *c, ox_walk *w, size_t s, size_t m, dlor_status *st)
{
    if (!ox_plain(c, (long)s, "Sigmoid", 1) || !ox_plain(c, (long)m, "Mul", 2) || ox_in_v(c, s, 0) != w->cur)
        return 1;
    long so = ox_out_of(c, s);
    if (ox_sole_use(c, so) != (long)m) return 1;
    if (!((ox_in_v(c, m, 0) == w->cur && ox_in_v(c, m, 1) == so) ||
          (ox_in_v(c, m, 1) == w->cur && ox_in_v(c, m, 0) == so)))
        return 1;
    if ((*st = ox_push_op(c, DLOR_OP_ACT, REF_NONE, REF_NONE, DLOR_ACT_SILU, 0))) return -1;
    NODE(c, s).visited = NODE(c, m).visited = 1;
    w->cur = ox_out_of(c, m);
    return 0;
}

/* The other input of binary node k (one of whose inputs is v), or -2. */
long ox_other_in(ox_ctx *c, size_t k, long v)
{
    if (ox_in_v(c, k, 0) == v) return ox_in_v(c, k, 1);
    if (ox_in_v(c, k, 1) == v) return ox_in_v(c, k, 0);
    return -2;
}

/* Div(x, sqrt 2) -> Erf -> Add(., 1) -> Mul(x, .) -> Mul(., 0.5), or with
 * the half first: Mul(x, 0.5) -> Mul(., Add(...)). Operands in any order. */
int ox_try_gelu(ox_ctx *c, ox_walk *w, size_t d, size_t m, dlor_status *st)
{
    long x = w->cur;
    if (!ox_plain(c, (long)d, "Div", 2) || !ox_plain(c, (long)m, "Mul", 2) || ox_in_v(c, d, 0) != x ||
        !ox_const_near(c, ox_in_v(c, d, 1), 1.4142135623730951))
        return 1;
    long e = ox_sole_use(c, ox_out_of(c, d));
    if (!ox_plain(c, e, "Erf", 1)) return 1;
    long a = ox_sole_use(c, ox_out_of(c, (size_t)e));
    if (!ox_plain(c, a, "Add", 2) || !ox_const_near(c, ox_other_in(c, (size_t)a, ox_out_of(c, (size_t)e)), 1.0))
        return 1;
    long ao = ox_out_of(c, (size_t)a), mo = ox_out_of(c, m), last;
    long m2 = ox_sole_use(c, ao), h;
    if (m2 == (long)m && ox_other_in(c, m, ao) == x) {
        h = ox_sole_use(c, mo);
        if (!ox_plain(c, h, "Mul", 2) || !ox_const_near(c, ox_other_in(c, (size_t)h, mo), 0.5)) return 1;
    } else if (ox_const_near(c, ox_other_in(c, m, x), 0.5) && ox_plain(c, m2, "Mul", 2) &&
               ox_sole_use(c, mo) == m2 && ox_other_in(c, (size_t)m2, mo) == ao) {
        h = m2;
    } else {
        return 1;
    }
    last = h;
    if ((*st = ox_push_op(c, DLOR_OP_ACT, REF_NONE, REF_NONE, DLOR_ACT_GELU_ERF, 0))) return -1;
    NODE(c, d).visited = NODE(c, e).visited = NODE(c, a).visited = 1;
    NODE(c, m).visited = NODE(c, last).visited = 1;
    w->cur = ox_out_of(c, (size_t)last);
    return 0;
}

/* Node k reduces value x to its mean over the last axis, keeping the axis:
 * ReduceMean with axes [-1] (an attribute before opset 18, a constant input
 * from 18 on) and keepdims 1. */
static int reduce_last(ox_ctx *c, long k, long x, const ox_walk *w)
{
    static const char *const allowed[] = {"axes", "keepdims", "noop_with_empty_axes", NULL};
    if (k < 0) return 0;
    const ox_node *n = &NODE(c, k);
    int64_t keep = 1, noop = 0, axis;
    size_t na = 0;
    if (!ox_str_is(n->op, "ReduceMean") || !ox_is_default_domain(n->domain) || n->nout < 1 ||
        ox_in_v(c, (size_t)k, 0) != x || c->out_vals[n->out0] < 0)
        return 0;
    for (size_t j = 1; j < n->nout; j++) {
        long v = c->out_vals[n->out0 + j];
        if (v >= 0 && (VAL(c, v).nuse || VAL(c, v).is_output)) return 0;
    }
    /* a mismatch is no match (not a reason): the walk then names the node it cannot run */
    const ox_attr *a = ox_find_attr(c, (size_t)k, "axes");
    for (size_t j = 0; j < n->nattr; j++) {
        const ox_attr *b = &ATTR(c, n->attr0 + j);
        int ok = 0;
        for (const char *const *p = allowed; *p; p++) ok |= ox_str_is(b->name, *p);
        if (!ok || b->has_ref) return 0;
    }
    const ox_attr *ka = ox_find_attr(c, (size_t)k, "keepdims");
    if (ka && (ka->type != AT_INT || (keep = ka->i) != 1)) return 0;
    const ox_attr *na_ = ox_find_attr(c, (size_t)k, "noop_with_empty_axes");
    if (na_ && (na_->type != AT_INT || (noop = na_->i) != 0)) return 0;
    if (c->opset < 18) {
        if (n->nin != 1 || !a || a->type != AT_INTS) return 0;
        int64_t v[2];
        char *why = c->why;
        c->why = NULL;
        int bad = ox_attr_ints(c, (size_t)k, a, v, 2, &na);
        c->why = why;
        if (bad || na != 1) return 0;
        axis = v[0];
    } else {
        const ox_tensor *t = ox_const_of(c, ox_in_v(c, (size_t)k, 1));
        if (n->nin != 2 || a || !t || t->dt != DLOR_DT_I64 || t->nelem != 1 || t->ndim > 1) return 0;
        axis = (int64_t)dlor_load_u64(t->data);
    }
    return axis == -1 || (w->rank > 0 && axis == w->rank - 1);
}

/* A 1-D float initializer of f elements (f = 0: any) in value v; its index, or -1. */
static long vector_init(ox_ctx *c, long v, uint64_t f)
{
    const ox_tensor *t = ox_init_of(c, v);
    if (!t || t->ndim != 1 || !dlor_dtype_is_float(t->dt) || t->nelem == 0 || (f && t->nelem != f)) return -1;
    return VAL(c, v).init;
}

int ox_try_layernorm(ox_ctx *c, ox_walk *w, size_t r, size_t s, dlor_status *st)
{
    long x = w->cur;
    if (w->rank >= 0 && w->rank != 2) return 1;
    if (!reduce_last(c, (long)r, x, w) || !ox_plain(c, (long)s, "Sub", 2) || ox_in_v(c, s, 0) != x ||
        ox_in_v(c, s, 1) != ox_out_of(c, r) || ox_sole_use(c, ox_out_of(c, r)) != (long)s)
        return 1;
    long d = ox_out_of(c, s);
    if (VAL(c, d).nuse != 2 || VAL(c, d).is_output) return 1;
    size_t p = c->uses[VAL(c, d).use0], q = c->uses[VAL(c, d).use0 + 1];
    if (!ox_plain(c, (long)p, "Pow", 2)) {
        size_t t = p;
        p = q;
        q = t;
    }
    if (!ox_plain(c, (long)p, "Pow", 2) || ox_in_v(c, p, 0) != d || !ox_const_near(c, ox_in_v(c, p, 1), 2.0)) return 1;
    long r2 = ox_sole_use(c, ox_out_of(c, p));
    if (!reduce_last(c, r2, ox_out_of(c, p), w)) return 1;
    long ae = ox_sole_use(c, ox_out_of(c, (size_t)r2));
    if (!ox_plain(c, ae, "Add", 2)) return 1;
    const ox_tensor *et = ox_const_of(c, ox_other_in(c, (size_t)ae, ox_out_of(c, (size_t)r2)));
    if (!et || et->nelem != 1 || et->ndim > 1 || !dlor_dtype_is_float(et->dt)) return 1;
    double eps = ox_elem_f64(et, 0);
    if (!(eps >= 0) || !isfinite(eps)) return 1;
    long sq = ox_sole_use(c, ox_out_of(c, (size_t)ae));
    if (!ox_plain(c, sq, "Sqrt", 1)) return 1;
    if ((long)q != ox_sole_use(c, ox_out_of(c, (size_t)sq)) || !ox_plain(c, (long)q, "Div", 2) ||
        ox_in_v(c, q, 0) != d || ox_in_v(c, q, 1) != ox_out_of(c, (size_t)sq))
        return 1;
    /* the affine part: Mul by a weight of one value per feature, then Add a bias */
    long out = ox_out_of(c, q), m = ox_sole_use(c, out), ba = -1, wref = REF_NONE, bref = REF_NONE;
    if (ox_plain(c, m, "Mul", 2) && (wref = vector_init(c, ox_other_in(c, (size_t)m, out), w->feat)) >= 0) {
        long mo = ox_out_of(c, (size_t)m);
        ba = ox_sole_use(c, mo);
        if (!ox_plain(c, ba, "Add", 2) || (bref = vector_init(c, ox_other_in(c, (size_t)ba, mo), INIT(c, wref).nelem)) < 0)
            ba = -1, bref = REF_NONE;
    } else {
        m = -1, wref = REF_NONE;
    }
    uint64_t f = wref >= 0 ? INIT(c, wref).nelem : w->feat;
    if (!f) return 1; /* the features of the first op, undeclared */
    if (!w->feat && !c->ops.n && !c->feat0) c->feat0 = f;
    if ((*st = ox_push_op(c, DLOR_OP_LAYERNORM, wref, bref, DLOR_ACT_IDENTITY, eps))) return -1;
    NODE(c, r).visited = NODE(c, s).visited = NODE(c, p).visited = NODE(c, r2).visited = 1;
    NODE(c, ae).visited = NODE(c, sq).visited = NODE(c, q).visited = 1;
    w->cur = out;
    if (m >= 0) NODE(c, m).visited = 1, w->cur = ox_out_of(c, (size_t)m);
    if (ba >= 0) NODE(c, ba).visited = 1, w->cur = ox_out_of(c, (size_t)ba);
    w->feat = f;
    return 0;
}

int ox_op_layernorm(ox_ctx *c, size_t k, ox_walk *w, dlor_status *st)
{
    static const char *const allowed[] = {"axis", "epsilon", "stash_type", NULL};
    const ox_node *n = &NODE(c, k);
    int64_t axis, stash;
    double eps;
    long out, wref, bref = REF_NONE;
    if (c->opset < 17)
        return ox_why(c, "node %s: LayerNormalization needs opset 17 but the model imports opset %lld", ox_nl(c, k),
                      (long long)c->opset);
    if (n->nin < 2 || n->nin > 3 || ox_in_v(c, k, 0) != w->cur)
        return ox_why(c, "node %s: LayerNormalization must take the chain's value, a scale and an optional bias",
                      ox_nl(c, k));
    if (ox_check_attrs(c, k, allowed) || ox_get_int(c, k, "axis", -1, &axis) ||
        ox_get_float(c, k, "epsilon", (double)1e-5f, &eps) || ox_get_int(c, k, "stash_type", 1, &stash))
        return 1;
    if (!(axis == -1 || (w->rank > 0 && axis == w->rank - 1)) || (w->rank >= 0 && w->rank != 2))
        return ox_why(c, "node %s: LayerNormalization over axis %lld is not over the features of each sample",
                      ox_nl(c, k), (long long)axis);
    if (stash != 1) return ox_why(c, "node %s: LayerNormalization stash_type %lld (expected 1)", ox_nl(c, k), (long long)stash);
    if (eps < 0) return ox_why(c, "node %s: LayerNormalization epsilon %g is negative", ox_nl(c, k), eps);
    if ((wref = vector_init(c, ox_in_v(c, k, 1), w->feat)) < 0)
        return ox_why(c, "node %s: LayerNormalization's scale is not a 1-D float initializer of %llu values",
                      ox_nl(c, k), (unsigned long long)w->feat);
    uint64_t f = INIT(c, wref).nelem;
    if (n->nin == 3 && ox_in_v(c, k, 2) >= 0 && (bref = vector_init(c, ox_in_v(c, k, 2), f)) < 0)
        return ox_why(c, "node %s: LayerNormalization's bias is not a 1-D float initializer of %llu values",
                      ox_nl(c, k), (unsigned long long)f);
    if (ox_main_out(c, k, &out)) return 1;
    if (!w->feat && !c->ops.n && !c->feat0) c->feat0 = f;
    if ((*st = ox_push_op(c, DLOR_OP_LAYERNORM, wref, bref, DLOR_ACT_IDENTITY, eps))) return -1;
    NODE(c, k).visited = 1;
    w->cur = out;
    w->feat = f;
    return 0;
}

int ox_is_residual_add(ox_ctx *c, size_t k, long v)
{
    if (!ox_plain(c, (long)k, "Add", 2)) return 0;
    long o = ox_other_in(c, k, v);
    return o >= 0 && o != v && !ox_const_of(c, o);
}

int ox_join_residual(ox_ctx *c, ox_walk *w, size_t p, dlor_status *st)
{
    ox_pending *pd = &((ox_pending *)c->pending.p)[p];
    size_t k = pd->node;
    long out;
    if (ox_other_in(c, k, w->cur) != pd->saved)
        return ox_why(c, "node %s: Add joins two branches that do not start from the same value", ox_nl(c, k));
    if (pd->feat && w->feat && pd->feat != w->feat)
        return ox_why(c, "node %s: Add of %llu and %llu features", ox_nl(c, k), (unsigned long long)pd->feat,
                      (unsigned long long)w->feat);
    if (ox_main_out(c, k, &out)) return 1;
    if ((*st = ox_push_op(c, DLOR_OP_ADD, REF_NONE, REF_NONE, DLOR_ACT_IDENTITY, 0))) return -1;
    OP(c, c->ops.n - 1).in1 = c->dagv[pd->saved];
    NODE(c, k).visited = 1;
    if (!w->feat) w->feat = pd->feat;
    /* drop it: the last entry takes its place */
    *pd = ((ox_pending *)c->pending.p)[--c->pending.n];
    w->cur = out;
    return 0;
}
