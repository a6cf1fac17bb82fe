/* onnx_proto.c - the walk over an ONNX ModelProto's protobuf records: opset
 * imports, the graph's nodes and attributes, initializers, inputs and outputs. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

static dlor_status read_string_field(ox_ctx *c, const dlor_pb_field *f, const char *label,
                                     const char *field, ox_str *dst)
{
    dlor_status s = ox_want_wt(c, f, DLOR_PB_LEN, label, field);
    if (!s) *dst = (ox_str){f->data, f->len};
    return s;
}

/* Walks an attribute's subgraph: only its wire format and nesting depth. */
static dlor_status walk_graph(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f, const char *label);

static dlor_status walk_msg(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f, const char *label,
                            uint32_t field_a, uint32_t field_b, int level)
{
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return ox_pb_err(c, s, label);
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return ox_pb_err(c, s, label);
        if (!g.num) return DLOR_OK;
        if (g.num != field_a && g.num != field_b) continue;
        if (level == 0) s = walk_msg(c, &sub, &g, label, 6, 11, 1); /* node -> attribute */
        else s = walk_graph(c, &sub, &g, label);                    /* attribute -> g, graphs */
        if (s) return s;
    }
}

static dlor_status walk_graph(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f, const char *label)
{
    /* graph -> node (1); the recursion is bounded by the cursor's depth */
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return ox_pb_err(c, s, label);
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return ox_pb_err(c, s, label);
        if (!g.num) return DLOR_OK;
        if (g.num == 1 && (s = walk_msg(c, &sub, &g, label, 5, 0, 0))) return s;
    }
}

static dlor_status parse_attr(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f, const char *label)
{
    ox_attr *a;
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    uint64_t n;
    if (c->attrs.n >= OX_MAX_ATTRS)
        return ox_fail(c, DLOR_E_LIMIT, "%s: more than %u attributes in the graph", label, OX_MAX_ATTRS);
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return ox_pb_err(c, s, label);
    if (!(a = ox_vec_push(&c->attrs, sizeof *a))) return ox_nomem(c);
    a->msg = sub;
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return ox_pb_err(c, s, label);
        if (!g.num) break;
        switch (g.num) {
        case 1: s = read_string_field(c, &g, label, "attribute name", &a->name); break;
        case 2:
            if (!(s = ox_want_wt(c, &g, DLOR_PB_I32, label, "attribute f"))) {
                uint32_t b = (uint32_t)g.u;
                memcpy(&a->f, &b, 4);
                a->has_f = 1;
            }
            break;
        case 3:
            if (!(s = ox_want_wt(c, &g, DLOR_PB_VARINT, label, "attribute i"))) a->i = (int64_t)g.u, a->has_i = 1;
            break;
        case 4:
            if (!(s = read_string_field(c, &g, label, "attribute s", &a->s))) a->has_s = 1;
            break;
        case 5:
            if (a->has_t)
                return ox_fail(c, DLOR_E_FORMAT, "%s: attribute '%s' sets its tensor twice", label,
                               ox_s(c, a->name));
            if ((s = dlor_pb_enter(&sub, &g, &a->t, c->err))) return ox_pb_err(c, s, label);
            a->has_t = 1;
            break;
        case 6: case 11: s = walk_graph(c, &sub, &g, label); a->has_other = 1; break;
        case 7:
            if (!(s = dlor_pb_count(&sub, &g, DLOR_PB_I32, &n, c->err))) a->has_floats = 1;
            else ox_pb_err(c, s, label);
            break;
        case 8:
            if (!(s = dlor_pb_count(&sub, &g, DLOR_PB_VARINT, &n, c->err))) a->has_ints = 1;
            else ox_pb_err(c, s, label);
            break;
        case 9: case 10: case 14: case 15: case 22: case 23: a->has_other = 1; break;
        case 20:
            if (!(s = ox_want_wt(c, &g, DLOR_PB_VARINT, label, "attribute type"))) a->type = (int64_t)g.u;
            break;
        case 21: a->has_ref = 1; break;
        default: break;
        }
        if (s) return s;
    }
    /* very old files leave 'type' out: infer it from the field that is set */
    if (a->type == 0) {
        if (a->has_f) a->type = AT_FLOAT;
        else if (a->has_i) a->type = AT_INT;
        else if (a->has_s) a->type = AT_STRING;
        else if (a->has_t) a->type = AT_TENSOR;
        else if (a->has_floats) a->type = AT_FLOATS;
        else if (a->has_ints) a->type = AT_INTS;
    }
    return DLOR_OK;
}

/* Collects the elements of every occurrence of 'field' in msg. */
static dlor_status collect_repeated(ox_ctx *c, const dlor_pb *msg, uint32_t field, int wt,
                                    const char *label, uint64_t **vals, uint64_t *count)
{
    dlor_pb r = *msg;
    dlor_pb_field f;
    dlor_status s;
    uint64_t total = 0, n, i = 0, v;
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) return ox_pb_err(c, s, label);
        if (!f.num) break;
        if (f.num != field) continue;
        if ((s = dlor_pb_count(&r, &f, wt, &n, c->err))) return ox_pb_err(c, s, label);
        total += n;
    }
    uint64_t *p = malloc(total ? total * sizeof *p : 1);
    if (!p) return ox_nomem(c);
    r = *msg;
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) {
            free(p);
            return ox_pb_err(c, s, label);
        }
        if (!f.num) break;
        if (f.num != field) continue;
        dlor_pb_iter it;
        dlor_pb_iter_init(&it, &f, wt);
        while (i < total && dlor_pb_iter_next(&it, &v)) p[i++] = v;
    }
    *vals = p;
    *count = total;
    return DLOR_OK;
}

/* Turns a Constant node's value into a tensor in c->consts (cidx), or
 * leaves cidx = -1 when it holds something dlor does not read. */
static dlor_status make_constant(ox_ctx *c, size_t k)
{
    ox_node *n = &NODE(c, k);
    const ox_attr *val = NULL;
    char label[200];
    int nval = 0;
    n->cidx = -1;
    for (size_t j = 0; j < n->nattr; j++) {
        const ox_attr *a = &ATTR(c, n->attr0 + j);
        if (a->name.n >= 5 && memcmp(a->name.p, "value", 5) == 0) val = a, nval++;
    }
    if (nval != 1 || n->nout != 1 || val->has_ref) return DLOR_OK;
    snprintf(label, sizeof label, "node %s: attribute '%s'", ox_nl(c, k), ox_s(c, val->name));
    ox_tensor t;
    memset(&t, 0, sizeof t);
    if (ox_str_is(val->name, "value") && val->has_t) {
        dlor_status s = ox_decode_tensor(c, &val->t, label, -1, 0, &t);
        if (s == DLOR_E_UNSUPPORTED) return DLOR_OK;
        if (s) return s;
    } else if ((ox_str_is(val->name, "value_float") && val->has_f) ||
               (ox_str_is(val->name, "value_int") && val->has_i)) {
        unsigned char *p = malloc(8);
        if (!p || dlor_tensor_list_own(c->out, p, c->err)) return ox_nomem(c);
        if (val->has_f) {
            uint32_t b;
            memcpy(&b, &val->f, 4);
            dlor_store_u32(p, b);
            t.dt = DLOR_DT_F32, t.nbytes = 4;
        } else {
            dlor_store_u64(p, (uint64_t)val->i);
            t.dt = DLOR_DT_I64, t.nbytes = 8;
        }
        t.nelem = 1;
        t.data = p;
    } else if (ox_str_is(val->name, "value_floats") || ox_str_is(val->name, "value_ints")) {
        int fl = ox_str_is(val->name, "value_floats");
        uint64_t *v = NULL, cnt = 0;
        dlor_status s = collect_repeated(c, &val->msg, fl ? 7 : 8, fl ? DLOR_PB_I32 : DLOR_PB_VARINT,
                                         label, &v, &cnt);
        if (s) return s;
        unsigned char *p = malloc(cnt ? cnt * 8 : 1);
        if (!p || dlor_tensor_list_own(c->out, p, c->err)) {
            free(v);
            return ox_nomem(c);
        }
        for (uint64_t i = 0; i < cnt; i++) {
            if (fl) dlor_store_u32(p + 4 * i, (uint32_t)v[i]);
            else dlor_store_u64(p + 8 * i, v[i]);
        }
        free(v);
        t.dt = fl ? DLOR_DT_F32 : DLOR_DT_I64;
        t.ndim = 1;
        t.dims[0] = cnt;
        t.nelem = cnt;
        t.nbytes = (size_t)cnt * (fl ? 4 : 8);
        t.data = p;
    } else {
        return DLOR_OK;
    }
    ox_tensor *slot = ox_vec_push(&c->consts, sizeof *slot);
    if (!slot) return ox_nomem(c);
    *slot = t;
    n->cidx = (long)(c->consts.n - 1);
    return DLOR_OK;
}

static dlor_status parse_node(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f)
{
    char label[64];
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    ox_node nd;
    size_t k = c->nodes.n;
    snprintf(label, sizeof label, "node #%zu", k);
    if (k >= OX_MAX_NODES)
        return ox_fail(c, DLOR_E_LIMIT, "graph has more than %u nodes", OX_MAX_NODES);
    memset(&nd, 0, sizeof nd);
    nd.in0 = c->ins.n;
    nd.out0 = c->outs.n;
    nd.attr0 = c->attrs.n;
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return ox_pb_err(c, s, label);
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return ox_pb_err(c, s, label);
        if (!g.num) break;
        switch (g.num) {
        case 1: case 2: {
            ox_vec *v = g.num == 1 ? &c->ins : &c->outs;
            ox_str *slot;
            if ((s = ox_want_wt(c, &g, DLOR_PB_LEN, label, g.num == 1 ? "input" : "output"))) return s;
            if (c->ins.n + c->outs.n >= OX_MAX_REFS)
                return ox_fail(c, DLOR_E_LIMIT, "graph has more than %u node inputs and outputs",
                               OX_MAX_REFS);
            if (!(slot = ox_vec_push(v, sizeof *slot))) return ox_nomem(c);
            *slot = (ox_str){g.data, g.len};
            break;
        }
        case 3: s = read_string_field(c, &g, label, "name", &nd.name); break;
        case 4: s = read_string_field(c, &g, label, "op_type", &nd.op); break;
        case 7: s = read_string_field(c, &g, label, "domain", &nd.domain); break;
        case 5: s = parse_attr(c, &sub, &g, label); break;
        default: break;
        }
        if (s) return s;
    }
    nd.nin = c->ins.n - nd.in0;
    nd.nout = c->outs.n - nd.out0;
    nd.nattr = c->attrs.n - nd.attr0;
    nd.cidx = -1;
    ox_node *slot = ox_vec_push(&c->nodes, sizeof *slot);
    if (!slot) return ox_nomem(c);
    *slot = nd;
    if (ox_str_is(nd.op, "Constant") && (nd.domain.n == 0 || ox_str_is(nd.domain, "ai.onnx")))
        return make_constant(c, k);
    return DLOR_OK;
}

/* ValueInfoProto: the name and, for a tensor with a shape, its rank and the
 * product of all dims but the first (0 when unknown). */
static dlor_status parse_value_info(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f,
                                    const char *label, ox_input *vi)
{
    dlor_pb m[5];
    dlor_pb_field g;
    dlor_status s;
    int rank = 0, known = 1, have_shape = 0;
    uint64_t feat = 1;
    vi->name = (ox_str){NULL, 0}; /* a ValueInfoProto without field 1 has no name */
    vi->rank = -1;
    vi->feat = 0;
    if ((s = dlor_pb_enter(r, f, &m[0], c->err))) return ox_pb_err(c, s, label);
    for (;;) {
        if ((s = dlor_pb_next(&m[0], &g, c->err))) return ox_pb_err(c, s, label);
        if (!g.num) break;
        if (g.num == 1 && (s = read_string_field(c, &g, label, "name", &vi->name))) return s;
        if (g.num != 2 || g.wt != DLOR_PB_LEN) continue;
        /* TypeProto -> tensor_type (1) -> shape (2) -> dim (1) -> dim_value (1) */
        if ((s = dlor_pb_enter(&m[0], &g, &m[1], c->err))) return ox_pb_err(c, s, label);
        for (;;) {
            if ((s = dlor_pb_next(&m[1], &g, c->err))) return ox_pb_err(c, s, label);
            if (!g.num) break;
            if (g.num != 1 || g.wt != DLOR_PB_LEN) continue;
            if ((s = dlor_pb_enter(&m[1], &g, &m[2], c->err))) return ox_pb_err(c, s, label);
            for (;;) {
                if ((s = dlor_pb_next(&m[2], &g, c->err))) return ox_pb_err(c, s, label);
                if (!g.num) break;
                if (g.num != 2 || g.wt != DLOR_PB_LEN) continue;
                have_shape = 1;
                if ((s = dlor_pb_enter(&m[2], &g, &m[3], c->err))) return ox_pb_err(c, s, label);
                for (;;) {
                    if ((s = dlor_pb_next(&m[3], &g, c->err))) return ox_pb_err(c, s, label);
                    if (!g.num) break;
                    if (g.num != 1 || g.wt != DLOR_PB_LEN) continue;
                    uint64_t dv = 0;
                    int has_v = 0;
                    if ((s = dlor_pb_enter(&m[3], &g, &m[4], c->err))) return ox_pb_err(c, s, label);
                    for (;;) {
                        if ((s = dlor_pb_next(&m[4], &g, c->err))) return ox_pb_err(c, s, label);
                        if (!g.num) break;
                        if (g.num == 1 && g.wt == DLOR_PB_VARINT) dv = g.u, has_v = 1;
                    }
                    if (rank > 0) {
                        if (!has_v || dv == 0 || (dv >> 63) || feat > UINT64_MAX / dv) known = 0;
                        else feat *= dv;
                    }
                    if (rank < 64) rank++;
                }
            }
        }
    }
    if (have_shape) {
        vi->rank = rank;
        vi->feat = known && rank >= 2 ? feat : 0;
    }
    return DLOR_OK;
}

static dlor_status parse_graph(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f)
{
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    char label[64];
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return ox_pb_err(c, s, "graph");
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return ox_pb_err(c, s, "graph");
        if (!g.num) break;
        switch (g.num) {
        case 1:
            if ((s = ox_want_wt(c, &g, DLOR_PB_LEN, "graph", "node"))) return s;
            s = parse_node(c, &sub, &g);
            break;
        case 5: {
            dlor_pb tm;
            ox_tensor *t;
            snprintf(label, sizeof label, "initializer #%zu", c->inits.n);
            if (c->inits.n >= DLOR_MAX_TENSORS)
                return ox_fail(c, DLOR_E_LIMIT, "more than %u initializers", DLOR_MAX_TENSORS);
            if ((s = dlor_pb_enter(&sub, &g, &tm, c->err))) return ox_pb_err(c, s, label);
            if (!(t = ox_vec_push(&c->inits, sizeof *t))) return ox_nomem(c);
            if ((s = ox_decode_tensor(c, &tm, "initializer", (int)(c->inits.n - 1), 1, t))) return s;
            if (t->name.n == 0)
                return ox_fail(c, DLOR_E_FORMAT, "initializer #%zu has no name", c->inits.n - 1);
            break;
        }
        case 11: case 12: {
            ox_vec *v = g.num == 11 ? &c->ginputs : &c->goutputs;
            const char *kind = g.num == 11 ? "graph input" : "graph output";
            snprintf(label, sizeof label, "%s #%zu", kind, v->n);
            if (v->n >= OX_MAX_IO)
                return ox_fail(c, DLOR_E_LIMIT, "more than %u %ss", OX_MAX_IO, kind);
            if ((s = ox_want_wt(c, &g, DLOR_PB_LEN, "graph", kind))) return s;
            ox_input vi;
            if ((s = parse_value_info(c, &sub, &g, label, &vi))) return s;
            if (vi.name.n == 0) return ox_fail(c, DLOR_E_FORMAT, "%s has no name", label);
            if (g.num == 11) {
                ox_input *slot = ox_vec_push(v, sizeof *slot);
                if (!slot) return ox_nomem(c);
                *slot = vi;
            } else {
                ox_str *slot = ox_vec_push(v, sizeof *slot);
                if (!slot) return ox_nomem(c);
                *slot = vi.name;
            }
            break;
        }
        case 15:
            return ox_fail(c, DLOR_E_UNSUPPORTED, "graph: sparse initializers are not supported");
        default: break;
        }
        if (s) return s;
    }
    return DLOR_OK;
}

static dlor_status parse_opset(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f)
{
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    ox_str dom = {NULL, 0};
    int64_t ver = 0;
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return ox_pb_err(c, s, "opset_import");
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return ox_pb_err(c, s, "opset_import");
        if (!g.num) break;
        if (g.num == 1 && (s = read_string_field(c, &g, "opset_import", "domain", &dom))) return s;
        if (g.num == 2) {
            if ((s = ox_want_wt(c, &g, DLOR_PB_VARINT, "opset_import", "version"))) return s;
            ver = (int64_t)g.u;
        }
    }
    if (dom.n == 0 || ox_str_is(dom, "ai.onnx")) {
        if (c->opset_seen && c->opset != ver) c->opset_conflict = 1;
        c->opset_seen = 1;
        c->opset = ver;
    }
    return DLOR_OK;
}

dlor_status ox_parse_model(ox_ctx *c, const unsigned char *buf, size_t len)
{
    dlor_pb r;
    dlor_pb_field f;
    dlor_status s;
    if (len == 0) return ox_fail(c, DLOR_E_FORMAT, "file is empty (not an ONNX model)");
    dlor_pb_init(&r, buf, len, DLOR_ONNX_MAX_DEPTH);
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) return ox_pb_err(c, s, "model");
        if (!f.num) break;
        switch (f.num) {
        case 1: s = ox_want_wt(c, &f, DLOR_PB_VARINT, "model", "ir_version"); break;
        case 7:
            /* a message field given twice is merged: the graph's lists add up */
            if (!(s = ox_want_wt(c, &f, DLOR_PB_LEN, "model", "graph"))) s = parse_graph(c, &r, &f);
            c->ngraphs++;
            break;
        case 8:
            if (!(s = ox_want_wt(c, &f, DLOR_PB_LEN, "model", "opset_import"))) s = parse_opset(c, &r, &f);
            break;
        default: break;
        }
        if (s) return s;
    }
    if (!c->ngraphs) return ox_fail(c, DLOR_E_FORMAT, "model has no graph (not an ONNX model?)");
    return DLOR_OK;
}
