/* onnx_rewrite.c - convert --emit-onnx (see dlor_onnx_rewrite.h).
 *
 * One walk over the source's ModelProto and GraphProto records, for each field
 * where it starts and ends in the source bytes, the nodes' inputs, outputs and
 * the Gemm attributes, the initializers' names, element types and shapes.
 * Each MatMul/Gemm whose weight is a layer of the container gets a plan; the
 * new graph is then the old one field by field, a planned node replaced by its
 * new nodes in place (so the order stays topological), dropped initializers
 * left out and the new ones (factors, scalars, Slice bounds) appended; the new
 * model is the old one with the new graph in place of the old. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_fileio.h"
#include "dlor_onnx_rewrite.h"
#include "dlor_pb_write.h"
#include "dlor_protobuf.h"
#include "dlor_readers.h"

#define RW_MAX_BYTES ((size_t)1 << 31) /* protobuf's own limit on a message */
#define RW_MAX_DEPTH 64

/* ONNX field numbers used here */
enum { MODEL_GRAPH = 7, MODEL_OPSET = 8 };
enum { GRAPH_NODE = 1, GRAPH_INIT = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12 };
enum { NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP = 4, NODE_ATTR = 5, NODE_DOMAIN = 7 };
enum { ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_T = 5, ATTR_G = 6, ATTR_GRAPHS = 11, ATTR_TYPE = 20 };
enum { AT_INT = 2, AT_TENSOR = 4 };
enum { TENSOR_DIMS = 1, TENSOR_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW = 9, TENSOR_LOCATION = 14 };
enum { OT_FLOAT = 1, OT_INT64 = 7, OT_FLOAT16 = 10, OT_DOUBLE = 11, OT_BFLOAT16 = 16 };

typedef struct { const unsigned char *p; size_t n; } rw_str;

typedef struct rw_node {
    const unsigned char *start, *payload; /* the field's tag; its NodeProto bytes */
    size_t len, plen;
    rw_str op, domain, name, in[3], out0;
    size_t nin, nout;
    int64_t trans_a, trans_b;
    double alpha, beta;
    int subgraph;           /* an attribute holds a graph: it may read any outer name */
    long plan;              /* index into plans, or -1 */
} rw_node;

typedef struct rw_init {
    rw_str name;
    int64_t type;
    int ndim;
    uint64_t dims[2];
    int external, drop;
} rw_init;

typedef struct rw_plan {
    size_t node;
    const dlor_layer_desc *d;
    size_t init;            /* the weight initializer */
    int t;                  /* 1: y = x W^T (normalised layer), 0: y = x W (as stored) */
    double scale;           /* Gemm alpha not folded into the layer */
} rw_plan;

typedef struct rw_newnode {
    const char *op;
    char *in[4], *out;
    int nin;
    int attr;               /* 0 none, 1 Concat axis, 2 ConstantOfShape zero of type 'type' */
    int64_t axis, type;
} rw_newnode;

typedef struct rw_ctx {
    const char *src;
    const dlor_container *c;
    dlor_error *err;
    const unsigned char *buf;
    size_t len;
    dlor_pb model_msg, graph_msg;
    int have_graph;
    int64_t opset;
    rw_node *nodes;
    size_t nnodes, cap_nodes;
    rw_init *inits;
    size_t ninits, cap_inits;
    rw_str *io;             /* graph inputs and outputs */
    size_t nio, cap_io;
    rw_plan *plans;
    size_t nplans;
    char **names;           /* every name of the graph, and the ones made here (a hash set) */
    size_t names_cap, names_count;
    char **owned;           /* strings made here */
    size_t nowned, cap_owned;
    int subgraphs;
    dlor_pbw new_inits;
    int oom;
} rw_ctx;

static dlor_status fail(rw_ctx *x, dlor_status code, const char *fmt, ...)
{
    char msg[DLOR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) /* names from the file: one line, no control characters */
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return dlor_fail(x->err, code, "%s: %s", x->src, msg);
}

static dlor_status nomem(rw_ctx *x) { return fail(x, DLOR_E_NOMEM, "out of memory"); }

static int grow(void **p, size_t *cap, size_t n, size_t es)
{
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, c * es);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int str_is(rw_str s, const char *lit) { return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0; }
static int str_eq(rw_str a, rw_str b) { return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0); }

/* A name from the file as a C string (owned by the context), or NULL when out of memory. */
static char *own(rw_ctx *x, const char *p, size_t n)
{
    if (grow((void **)&x->owned, &x->cap_owned, x->nowned, sizeof *x->owned)) return NULL;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n) memcpy(s, p, n);
    s[n] = 0;
    x->owned[x->nowned++] = s;
    return s;
}

/* ---- the set of names ------------------------------------------------------------ */

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int name_find(const rw_ctx *x, const char *s, size_t n)
{
    if (!x->names_cap) return 0;
    for (size_t i = hash(s, n) & (x->names_cap - 1);; i = (i + 1) & (x->names_cap - 1)) {
        const char *e = x->names[i];
        if (!e) return 0;
        if (strlen(e) == n && memcmp(e, s, n) == 0) return 1;
    }
}

static int name_add(rw_ctx *x, const char *s, size_t n)
{
    if (name_find(x, s, n)) return 0;
    if (2 * (x->names_count + 1) > x->names_cap) {
        size_t cap = x->names_cap ? x->names_cap * 2 : 1024;
        char **t = calloc(cap, sizeof *t);
        if (!t) return -1;
        for (size_t i = 0; i < x->names_cap; i++)
            if (x->names[i]) {
                size_t j = hash(x->names[i], strlen(x->names[i])) & (cap - 1);
                while (t[j]) j = (j + 1) & (cap - 1);
                t[j] = x->names[i];
            }
        free(x->names);
        x->names = t;
        x->names_cap = cap;
    }
    char *c = own(x, s, n);
    if (!c) return -1;
    size_t j = hash(s, n) & (x->names_cap - 1);
    while (x->names[j]) j = (j + 1) & (x->names_cap - 1);
    x->names[j] = c;
    x->names_count++;
    return 0;
}

/* A name not yet in the graph: base, else base_1, base_2, ... */
static char *fresh(rw_ctx *x, const char *fmt, ...)
{
    char base[512], name[560];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(base, sizeof base, fmt, ap);
    va_end(ap);
    snprintf(name, sizeof name, "%s", base);
    for (unsigned k = 1; name_find(x, name, strlen(name)); k++) snprintf(name, sizeof name, "%s_%u", base, k);
    char *s = name_add(x, name, strlen(name)) ? NULL : own(x, name, strlen(name));
    if (!s) x->oom = 1;
    return s;
}

/* ---- reading the source ------------------------------------------------------------ */

static dlor_status pb(rw_ctx *x, dlor_status st)
{
    if (st == DLOR_OK) return st;
    char msg[DLOR_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", x->err->msg);
    return fail(x, st == DLOR_E_NOMEM ? st : DLOR_E_FORMAT, "not a well-formed ONNX model: %s", msg);
}

static dlor_status need_len(rw_ctx *x, const dlor_pb_field *f, const char *what)
{
    if (f->wt == DLOR_PB_LEN) return DLOR_OK;
    return fail(x, DLOR_E_FORMAT, "not a well-formed ONNX model: %s (field %u) is %s, not LEN", what,
                (unsigned)f->num, dlor_pb_wt_name(f->wt));
}

static dlor_status read_attr(rw_ctx *x, const dlor_pb *r, const dlor_pb_field *f, rw_node *n)
{
    dlor_pb a;
    dlor_pb_field g;
    rw_str name = {NULL, 0};
    double fv = 0;
    int64_t iv = 0;
    int has_f = 0, has_i = 0;
    dlor_status st = pb(x, dlor_pb_enter(r, f, &a, x->err));
    while (st == DLOR_OK && (st = pb(x, dlor_pb_next(&a, &g, x->err))) == DLOR_OK && g.num) {
        if (g.num == ATTR_NAME && (st = need_len(x, &g, "attribute name")) == DLOR_OK) {
            name.p = g.data;
            name.n = g.len;
        } else if (g.num == ATTR_F && g.wt == DLOR_PB_I32) {
            float v;
            uint32_t u = (uint32_t)g.u;
            memcpy(&v, &u, 4);
            fv = v;
            has_f = 1;
        } else if (g.num == ATTR_I && g.wt == DLOR_PB_VARINT) {
            iv = (int64_t)g.u;
            has_i = 1;
        } else if (g.num == ATTR_G || g.num == ATTR_GRAPHS) {
            n->subgraph = 1;
        }
    }
    if (st != DLOR_OK) return st;
    if (str_is(name, "transA") && has_i) n->trans_a = iv;
    if (str_is(name, "transB") && has_i) n->trans_b = iv;
    if (str_is(name, "alpha") && has_f) n->alpha = fv;
    if (str_is(name, "beta") && has_f) n->beta = fv;
    return DLOR_OK;
}

static dlor_status read_node(rw_ctx *x, const dlor_pb *r, const dlor_pb_field *f)
{
    if (grow((void **)&x->nodes, &x->cap_nodes, x->nnodes, sizeof *x->nodes)) return nomem(x);
    rw_node *n = &x->nodes[x->nnodes];
    memset(n, 0, sizeof *n);
    n->start = x->buf + f->offset;
    n->len = (size_t)(f->data + f->len - n->start);
    n->payload = f->data;
    n->plen = f->len;
    n->alpha = n->beta = 1.0;
    n->plan = -1;
    dlor_pb m;
    dlor_pb_field g;
    dlor_status st = pb(x, dlor_pb_enter(r, f, &m, x->err));
    while (st == DLOR_OK && (st = pb(x, dlor_pb_next(&m, &g, x->err))) == DLOR_OK && g.num) {
        if (g.num == NODE_ATTR) {
            if ((st = need_len(x, &g, "node attribute")) == DLOR_OK) st = read_attr(x, &m, &g, n);
            continue;
        }
        if (g.num != NODE_INPUT && g.num != NODE_OUTPUT && g.num != NODE_NAME && g.num != NODE_OP &&
            g.num != NODE_DOMAIN)
            continue;
        if ((st = need_len(x, &g, "node field")) != DLOR_OK) break;
        rw_str s = {g.data, g.len};
        if (g.num == NODE_INPUT) {
            if (n->nin < 3) n->in[n->nin] = s;
            n->nin++;
        } else if (g.num == NODE_OUTPUT) {
            if (n->nout == 0) n->out0 = s;
            n->nout++;
        } else if (g.num == NODE_NAME) n->name = s;
        else if (g.num == NODE_OP) n->op = s;
        else n->domain = s;
        if ((g.num == NODE_INPUT || g.num == NODE_OUTPUT) && name_add(x, (const char *)s.p, s.n)) return nomem(x);
    }
    if (st == DLOR_OK) {
        x->subgraphs |= n->subgraph;
        x->nnodes++;
    }
    return st;
}

static dlor_status read_init(rw_ctx *x, const dlor_pb *r, const dlor_pb_field *f)
{
    if (grow((void **)&x->inits, &x->cap_inits, x->ninits, sizeof *x->inits)) return nomem(x);
    rw_init *t = &x->inits[x->ninits];
    memset(t, 0, sizeof *t);
    dlor_pb m;
    dlor_pb_field g;
    dlor_status st = pb(x, dlor_pb_enter(r, f, &m, x->err));
    while (st == DLOR_OK && (st = pb(x, dlor_pb_next(&m, &g, x->err))) == DLOR_OK && g.num) {
        if (g.num == TENSOR_DIMS) {
            uint64_t count, v;
            dlor_pb_iter it;
            if ((st = pb(x, dlor_pb_count(&m, &g, DLOR_PB_VARINT, &count, x->err))) != DLOR_OK) break;
            dlor_pb_iter_init(&it, &g, DLOR_PB_VARINT);
            while (dlor_pb_iter_next(&it, &v)) {
                if (t->ndim < 2) t->dims[t->ndim] = v;
                t->ndim++;
            }
        } else if (g.num == TENSOR_TYPE && g.wt == DLOR_PB_VARINT) {
            t->type = (int64_t)g.u;
        } else if (g.num == TENSOR_NAME) {
            if ((st = need_len(x, &g, "initializer name")) != DLOR_OK) break;
            t->name.p = g.data;
            t->name.n = g.len;
        } else if (g.num == TENSOR_LOCATION && g.wt == DLOR_PB_VARINT && g.u == 1) {
            t->external = 1;
        }
    }
    if (st != DLOR_OK) return st;
    if (t->external)
        return fail(x, DLOR_E_UNSUPPORTED, "initializer '%.*s' keeps its data in an external file, which "
                    "--emit-onnx does not copy (save the model with its data inside)", (int)(t->name.n > 200 ? 200 : t->name.n),
                    (const char *)t->name.p);
    if (name_add(x, (const char *)t->name.p, t->name.n)) return nomem(x);
    x->ninits++;
    return DLOR_OK;
}

static dlor_status read_io(rw_ctx *x, const dlor_pb *r, const dlor_pb_field *f)
{
    dlor_pb m;
    dlor_pb_field g;
    dlor_status st = pb(x, dlor_pb_enter(r, f, &m, x->err));
    while (st == DLOR_OK && (st = pb(x, dlor_pb_next(&m, &g, x->err))) == DLOR_OK && g.num)
        if (g.num == 1 && (st = need_len(x, &g, "value name")) == DLOR_OK) {
            if (grow((void **)&x->io, &x->cap_io, x->nio, sizeof *x->io)) return nomem(x);
            x->io[x->nio].p = g.data;
            x->io[x->nio++].n = g.len;
            if (name_add(x, (const char *)g.data, g.len)) return nomem(x);
        }
    return st;
}

static dlor_status read_opset(rw_ctx *x, const dlor_pb *r, const dlor_pb_field *f)
{
    dlor_pb m;
    dlor_pb_field g;
    rw_str domain = {NULL, 0};
    int64_t version = -1;
    dlor_status st = pb(x, dlor_pb_enter(r, f, &m, x->err));
    while (st == DLOR_OK && (st = pb(x, dlor_pb_next(&m, &g, x->err))) == DLOR_OK && g.num) {
        if (g.num == 1 && g.wt == DLOR_PB_LEN) {
            domain.p = g.data;
            domain.n = g.len;
        } else if (g.num == 2 && g.wt == DLOR_PB_VARINT) {
            version = (int64_t)g.u;
        }
    }
    if (st == DLOR_OK && (domain.n == 0 || str_is(domain, "ai.onnx"))) x->opset = version;
    return st;
}

static dlor_status read_model(rw_ctx *x)
{
    dlor_pb_field f;
    dlor_status st;
    dlor_pb_init(&x->model_msg, x->buf, x->len, RW_MAX_DEPTH);
    dlor_pb r = x->model_msg;
    while ((st = pb(x, dlor_pb_next(&r, &f, x->err))) == DLOR_OK && f.num) {
        if (f.num == MODEL_OPSET) {
            if ((st = need_len(x, &f, "opset_import")) == DLOR_OK) st = read_opset(x, &r, &f);
        } else if (f.num == MODEL_GRAPH) {
            if ((st = need_len(x, &f, "graph")) != DLOR_OK) return st;
            if (x->have_graph) return fail(x, DLOR_E_FORMAT, "not a well-formed ONNX model: two graphs");
            x->have_graph = 1;
            if ((st = pb(x, dlor_pb_enter(&r, &f, &x->graph_msg, x->err))) != DLOR_OK) return st;
        }
        if (st != DLOR_OK) return st;
    }
    if (st != DLOR_OK) return st;
    if (!x->have_graph) return fail(x, DLOR_E_FORMAT, "not an ONNX model (no graph)");
    r = x->graph_msg;
    while ((st = pb(x, dlor_pb_next(&r, &f, x->err))) == DLOR_OK && f.num) {
        if (f.num == GRAPH_NODE || f.num == GRAPH_INIT || f.num == GRAPH_INPUT || f.num == GRAPH_OUTPUT)
            if ((st = need_len(x, &f, "graph field")) != DLOR_OK) return st;
        if (f.num == GRAPH_NODE) st = read_node(x, &r, &f);
        else if (f.num == GRAPH_INIT) st = read_init(x, &r, &f);
        else if (f.num == GRAPH_INPUT || f.num == GRAPH_OUTPUT) st = read_io(x, &r, &f);
        if (st != DLOR_OK) return st;
    }
    return st;
}

/* ---- which nodes change ------------------------------------------------------------ */

static long find_init(const rw_ctx *x, rw_str name)
{
    for (size_t i = 0; i < x->ninits; i++)
        if (str_eq(x->inits[i].name, name)) return (long)i;
    return -1;
}

/* The layer of weight initializer 'name' used with shape [rows, cols]: the layer of
 * that name, else (a normalised copy, onnx.c) one named "<name>.dlor<k>". */
static const dlor_layer_desc *layer_for(const rw_ctx *x, rw_str name, uint64_t rows, uint64_t cols, int copies)
{
    const dlor_layer_desc *by_name = NULL;
    for (size_t i = 0; i < x->c->nlayers; i++) {
        const dlor_layer_desc *d = &x->c->layers[i];
        size_t n = strlen(d->name);
        if (n < name.n || memcmp(d->name, name.p, name.n) != 0) continue;
        if (n == name.n) {
            by_name = d;
            if (d->rows == rows && d->cols == cols) return d;
            continue;
        }
        const char *rest = d->name + name.n;
        if (!copies || strncmp(rest, ".dlor", 5) != 0 || !rest[5]) continue;
        size_t k = 5;
        while (rest[k] >= '0' && rest[k] <= '9') k++;
        if (!rest[k] && d->rows == rows && d->cols == cols) return d;
    }
    return by_name; /* the shape differs: refused by the caller, naming it */
}

/* The weight the recovered graph's next LINEAR names, when it is the initializer
 * 'name' or a copy of it ("<name>.dlor<k>"): with a weight used two ways (tied, or
 * also elsewhere) the reader made a copy per way, and only the graph says which
 * node takes which. NULL when the graph does not say. */
static const char *graph_weight(const rw_ctx *x, size_t *li, rw_str name)
{
    const dlor_graph *g = &x->c->graph;
    while (*li < g->count && g->ops[*li].kind != DLOR_OP_LINEAR) (*li)++;
    if (*li >= g->count) return NULL;
    const char *w = g->ops[(*li)++].weight;
    if (!w || strlen(w) < name.n || memcmp(w, name.p, name.n) != 0) return NULL;
    return w[name.n] == 0 || strncmp(w + name.n, ".dlor", 5) == 0 ? w : NULL;
}

static dlor_status plan_nodes(rw_ctx *x, int *used)
{
    int normalised = x->c->graph.count > 0;
    size_t li = 0;
    for (size_t k = 0; k < x->nnodes; k++) {
        rw_node *n = &x->nodes[k];
        int matmul = str_is(n->op, "MatMul"), gemm = str_is(n->op, "Gemm");
        if ((!matmul && !gemm) || !(n->domain.n == 0 || str_is(n->domain, "ai.onnx")) || n->nin < 2) continue;
        long w = find_init(x, n->in[1]);
        if (w < 0 || x->inits[w].ndim != 2) continue;
        const rw_init *t = &x->inits[w];
        int trans_b = gemm && n->trans_b != 0;
        uint64_t out = trans_b ? t->dims[0] : t->dims[1], in = trans_b ? t->dims[1] : t->dims[0];
        const char *gw = normalised ? graph_weight(x, &li, t->name) : NULL;
        const dlor_layer_desc *d = gw ? dlor_container_find_layer(x->c, gw)
                                   : normalised ? layer_for(x, t->name, out, in, 1)
                                                : layer_for(x, t->name, t->dims[0], t->dims[1], 0);
        if (!d) continue; /* kept dense */
        if (d->base_name)
            return fail(x, DLOR_E_UNSUPPORTED, "layer '%s' is a quantized base with a low-rank correction, which "
                        "--emit-onnx does not rewrite", d->name);
        const char *node = n->name.n ? own(x, (const char *)n->name.p, n->name.n) : "(unnamed)";
        if (!node) return nomem(x);
        uint64_t want_r = normalised ? out : t->dims[0], want_c = normalised ? in : t->dims[1];
        if (d->rows != want_r || d->cols != want_c)
            return fail(x, DLOR_E_FORMAT, "layer '%s' is %llux%llu, but node '%s' (%s) uses it as %llux%llu", d->name,
                        (unsigned long long)d->rows, (unsigned long long)d->cols, node, gemm ? "Gemm" : "MatMul",
                        (unsigned long long)want_r, (unsigned long long)want_c);
        if (gemm && n->trans_a)
            return fail(x, DLOR_E_UNSUPPORTED, "node '%s' (Gemm) transposes its input (transA), which --emit-onnx "
                        "does not rewrite", node);
        if (t->type != OT_FLOAT && t->type != OT_DOUBLE && t->type != OT_FLOAT16 && t->type != OT_BFLOAT16)
            return fail(x, DLOR_E_UNSUPPORTED, "layer '%s': initializer of element type %lld, not a float type",
                        d->name, (long long)t->type);
        rw_plan *p = &x->plans[x->nplans];
        p->node = k;
        p->d = d;
        p->init = (size_t)w;
        p->t = normalised || trans_b;
        p->scale = gemm && !normalised ? n->alpha : 1.0;
        n->plan = (long)x->nplans++;
        used[d - x->c->layers] = 1;
    }
    for (size_t i = 0; i < x->c->nlayers; i++)
        if (!used[i])
            return fail(x, DLOR_E_UNSUPPORTED, "layer '%s' is not the weight (input B) of a MatMul or Gemm node, so "
                        "--emit-onnx cannot rewrite it (leave it out of the conversion with --exclude)",
                        x->c->layers[i].name);
    return DLOR_OK;
}

/* Drops the weight initializers no node, graph input or output reads any more. */
static dlor_status mark_drops(rw_ctx *x)
{
    if (x->subgraphs) return DLOR_OK; /* a subgraph may read any outer name */
    for (size_t p = 0; p < x->nplans; p++) x->inits[x->plans[p].init].drop = 1;
    for (size_t k = 0; k < x->nnodes; k++) {
        const rw_node *n = &x->nodes[k];
        if (n->plan >= 0) { /* the new nodes still read the input and Gemm's C */
            for (size_t j = 0; j < 3 && j < n->nin; j++) {
                long i = j == 1 ? -1 : find_init(x, n->in[j]);
                if (i >= 0) x->inits[i].drop = 0;
            }
            continue;
        }
        dlor_pb m;
        dlor_pb_field g;
        dlor_pb_init(&m, n->payload, n->plen, RW_MAX_DEPTH);
        while (dlor_pb_next(&m, &g, x->err) == DLOR_OK && g.num)
            if (g.num == NODE_INPUT) {
                long i = find_init(x, (rw_str){g.data, g.len});
                if (i >= 0) x->inits[i].drop = 0;
            }
    }
    for (size_t i = 0; i < x->nio; i++) {
        long t = find_init(x, x->io[i]);
        if (t >= 0) x->inits[t].drop = 0;
    }
    return DLOR_OK;
}

/* ---- the new nodes and initializers ------------------------------------------------------ */

typedef struct rw_emit {
    rw_newnode *v;
    size_t n, cap;
} rw_emit;

static dlor_dtype dtype_of(int64_t t)
{
    return t == OT_DOUBLE ? DLOR_DT_F64 : t == OT_FLOAT16 ? DLOR_DT_F16 : t == OT_BFLOAT16 ? DLOR_DT_BF16 : DLOR_DT_F32;
}

/* Appends an initializer of 'type' and shape dims from doubles (float types) or int64s. */
static char *add_init(rw_ctx *x, const char *name, int64_t type, int ndim, const uint64_t *dims, const double *f,
                      const int64_t *ints, size_t count)
{
    char *nm = fresh(x, "%s", name);
    if (!nm) return NULL;
    dlor_pbw t;
    dlor_pbw_init(&t);
    for (int d = 0; d < ndim; d++) dlor_pbw_uint(&t, TENSOR_DIMS, dims[d]);
    dlor_pbw_uint(&t, TENSOR_TYPE, (uint64_t)type);
    dlor_pbw_str(&t, TENSOR_NAME, nm);
    size_t es = type == OT_INT64 ? 8 : dlor_dtype_size(dtype_of(type));
    unsigned char *raw = malloc(count * es + 1);
    if (!raw) {
        dlor_pbw_free(&t);
        x->oom = 1;
        return NULL;
    }
    if (type == OT_INT64) {
        for (size_t i = 0; i < count; i++)
            for (int b = 0; b < 8; b++) raw[i * 8 + (size_t)b] = (unsigned char)((uint64_t)ints[i] >> (8 * b));
    } else {
        dlor_encode_f64(f, count, dtype_of(type), raw);
    }
    dlor_pbw_len(&t, TENSOR_RAW, raw, count * es);
    free(raw);
    dlor_pbw_msg(&x->new_inits, GRAPH_INIT, &t);
    if (dlor_pbw_failed(&t)) x->oom = 1;
    dlor_pbw_free(&t);
    return nm;
}

static char *scalar(rw_ctx *x, const char *name, int64_t type, double v)
{
    return add_init(x, name, type, 0, NULL, &v, NULL, 1);
}

static char *ints1(rw_ctx *x, const char *name, int64_t v)
{
    uint64_t one = 1;
    return add_init(x, name, OT_INT64, 1, &one, NULL, &v, 1);
}

/* Appends a node reading a, b, c, d (the first NULL ends them); returns its
 * output's name (NULL when out of memory). */
static char *node(rw_ctx *x, rw_emit *e, const char *y, const char *op, char *a, char *b, char *c, char *d)
{
    char *in[4] = {a, b, c, d};
    int nin = 0;
    while (nin < 4 && in[nin]) nin++;
    for (int i = nin; i < 4; i++)
        if (in[i]) x->oom = 1; /* an input made here is missing: out of memory */
    if (!a || x->oom) return NULL;
    if (grow((void **)&e->v, &e->cap, e->n, sizeof *e->v)) {
        x->oom = 1;
        return NULL;
    }
    rw_newnode *n = &e->v[e->n];
    memset(n, 0, sizeof *n);
    n->op = op;
    memcpy(n->in, in, sizeof in);
    n->nin = nin;
    n->out = fresh(x, "%s/dlor/%s", y, op);
    if (!n->out) return NULL;
    e->n++;
    return n->out;
}

/* h with its last dimension changed from 'from' to 'to' features: cut by Slice, or
 * zero-padded by Concat with ConstantOfShape of h's shape with 'to - from' last. */
static char *fit(rw_ctx *x, rw_emit *e, const char *y, const char *pre, char *h, uint64_t from, uint64_t to,
                 int64_t type)
{
    char nm[600];
    if (!h || from == to) return h;
    if (from > to) {
        snprintf(nm, sizeof nm, "%s.dlor.cut", pre);
        char *s0 = ints1(x, nm, 0), *s1 = ints1(x, nm, (int64_t)to), *ax = ints1(x, nm, -1);
        if (!s0 || !s1 || !ax) return NULL;
        return node(x, e, y, "Slice", h, s0, s1, ax);
    }
    snprintf(nm, sizeof nm, "%s.dlor.pad", pre);
    char *s0 = ints1(x, nm, 0), *s1 = ints1(x, nm, -1), *extra = ints1(x, nm, (int64_t)(to - from));
    if (!s0 || !s1 || !extra) return NULL;
    char *shape = node(x, e, y, "Shape", h, NULL, NULL, NULL);
    char *lead = node(x, e, y, "Slice", shape, s0, s1, NULL);
    char *full = node(x, e, y, "Concat", lead, extra, NULL, NULL);
    if (!full) return NULL;
    e->v[e->n - 1].attr = 1;
    e->v[e->n - 1].axis = 0;
    char *zeros = node(x, e, y, "ConstantOfShape", full, NULL, NULL, NULL);
    if (!zeros) return NULL;
    e->v[e->n - 1].attr = 2;
    e->v[e->n - 1].type = type;
    char *out = node(x, e, y, "Concat", h, zeros, NULL, NULL);
    if (!out) return NULL;
    e->v[e->n - 1].attr = 1;
    e->v[e->n - 1].axis = -1;
    return out;
}

/* The factor matrix A_l ([dim, cols]: columns c0.. of the stored rows, transposed)
 * and B_l ([cols, dim]: those stored rows as they are) as initializers. */
static char *factor_init(rw_ctx *x, const char *name, int64_t type, const double *rows, uint64_t dim,
                         uint64_t c0, uint64_t cols, int transpose)
{
    double *m = malloc((size_t)(dim * cols) * sizeof *m + 1);
    if (!m) {
        x->oom = 1;
        return NULL;
    }
    uint64_t dims[2];
    if (transpose) {
        for (uint64_t i = 0; i < dim; i++)
            for (uint64_t j = 0; j < cols; j++) m[i * cols + j] = rows[(c0 + j) * dim + i];
        dims[0] = dim;
        dims[1] = cols;
    } else {
        memcpy(m, rows + c0 * dim, (size_t)(dim * cols) * sizeof *m);
        dims[0] = cols;
        dims[1] = dim;
    }
    char *nm = add_init(x, name, type, 2, dims, m, NULL, (size_t)(dim * cols));
    free(m);
    return nm;
}

/* The new nodes of plan p, into e; the last one's output is renamed to the node's own. */
static dlor_status emit_plan(rw_ctx *x, const rw_plan *p, rw_emit *e)
{
    const rw_node *n = &x->nodes[p->node];
    const dlor_layer_desc *d = p->d;
    const dlor_tensor *u = dlor_tensor_list_find(&x->c->tensors, d->u_name);
    const dlor_tensor *v = dlor_tensor_list_find(&x->c->tensors, d->v_name);
    uint64_t D = d->rows > d->cols ? d->rows : d->cols;
    int mul = d->method == DLOR_IMAGE_MUL;
    /* the container's own invariants (DLOR_FORMAT.md 7): every index below stays inside U and V */
    if (!u || !v || u->ndim != 2 || v->ndim != 2 || u->dims[0] != v->dims[0] || u->dims[0] == 0 || d->rank == 0 ||
        d->factors != (u->dims[0] + d->rank - 1) / d->rank || u->dims[1] != (mul ? D : d->rows) ||
        v->dims[1] != (mul ? D : d->cols))
        return fail(x, DLOR_E_FORMAT, "layer '%s': factor tensors missing or not of the layer's shapes", d->name);
    int64_t type = x->inits[p->init].type;
    uint64_t K = u->dims[0], du = u->dims[1], dv = v->dims[1];
    uint64_t din = p->t ? d->cols : d->rows, dout = p->t ? d->rows : d->cols;
    char *y = own(x, (const char *)n->out0.p, n->out0.n), *h = own(x, (const char *)n->in[0].p, n->in[0].n);
    double *ut = malloc((size_t)u->nelem * sizeof *ut + 1), *vt = malloc((size_t)v->nelem * sizeof *vt + 1);
    dlor_status st = y && h && ut && vt ? DLOR_OK : nomem(x);
    if (st == DLOR_OK) st = dlor_tensor_to_f64(u, ut, x->err);
    if (st == DLOR_OK) st = dlor_tensor_to_f64(v, vt, x->err);
    /* y = x W^T: pairs (V_l, U_l^T); y = x W: pairs (U_l, V_l^T), factors in reverse */
    const double *first = p->t ? vt : ut, *second = p->t ? ut : vt;
    uint64_t dfirst = p->t ? dv : du, dsecond = p->t ? du : dv;
    char nm[600];
    if (st == DLOR_OK && mul) {
        if (din < D || dout < D) {
            if (x->opset < 11) st = fail(x, DLOR_E_UNSUPPORTED, "layer '%s' (%llux%llu) needs zero padding or a cut "
                                         "(Slice, Concat of opset 11); the model imports opset %lld", d->name,
                                         (unsigned long long)d->rows, (unsigned long long)d->cols, (long long)x->opset);
        }
        if (st == DLOR_OK) h = fit(x, e, y, d->name, h, din, D, type);
        snprintf(nm, sizeof nm, "%s.dlor.alpha", d->name);
        char *a = d->alpha != 0 ? scalar(x, nm, type, d->alpha) : NULL;
        for (uint64_t s = 0; st == DLOR_OK && s < d->factors && !x->oom; s++) {
            uint64_t l = p->t ? s : d->factors - 1 - s;
            uint64_t c0 = l * d->rank, cols = K - c0 < d->rank ? K - c0 : d->rank;
            snprintf(nm, sizeof nm, "%s.dlor.A%llu", d->name, (unsigned long long)l);
            char *A = factor_init(x, nm, type, first, dfirst, c0, cols, 1);
            snprintf(nm, sizeof nm, "%s.dlor.B%llu", d->name, (unsigned long long)l);
            char *B = factor_init(x, nm, type, second, dsecond, c0, cols, 0);
            char *t = node(x, e, y, "MatMul", node(x, e, y, "MatMul", h, A, NULL, NULL), B, NULL, NULL);
            h = a ? node(x, e, y, "Add", node(x, e, y, "Mul", h, a, NULL, NULL), t, NULL, NULL) : t;
        }
        if (st == DLOR_OK) h = fit(x, e, y, d->name, h, D, dout, type);
    } else if (st == DLOR_OK) {
        if (d->alpha != 0 && din != dout && x->opset < 11)
            st = fail(x, DLOR_E_UNSUPPORTED, "layer '%s' (%llux%llu) needs zero padding or a cut (Slice, Concat of "
                      "opset 11); the model imports opset %lld", d->name, (unsigned long long)d->rows,
                      (unsigned long long)d->cols, (long long)x->opset);
        snprintf(nm, sizeof nm, "%s.dlor.A", d->name);
        char *A = factor_init(x, nm, type, first, dfirst, 0, K, 1);
        snprintf(nm, sizeof nm, "%s.dlor.B", d->name);
        char *B = factor_init(x, nm, type, second, dsecond, 0, K, 0);
        char *x0 = h;
        h = node(x, e, y, "MatMul", node(x, e, y, "MatMul", h, A, NULL, NULL), B, NULL, NULL);
        if (st == DLOR_OK && d->alpha != 0) {
            snprintf(nm, sizeof nm, "%s.dlor.alpha", d->name);
            char *a = scalar(x, nm, type, (double)d->factors * d->alpha);
            char *diag = node(x, e, y, "Mul", fit(x, e, y, d->name, x0, din, dout, type), a, NULL, NULL);
            h = node(x, e, y, "Add", h, diag, NULL, NULL);
        }
    }
    free(ut);
    free(vt);
    if (st == DLOR_OK && p->scale != 1.0) {
        snprintf(nm, sizeof nm, "%s.dlor.gemm_alpha", d->name);
        h = node(x, e, y, "Mul", h, scalar(x, nm, type, p->scale), NULL, NULL);
    }
    if (st == DLOR_OK && str_is(n->op, "Gemm") && n->nin >= 3 && n->in[2].n && n->beta != 0) {
        char *cin = own(x, (const char *)n->in[2].p, n->in[2].n);
        if (cin && n->beta != 1.0) {
            snprintf(nm, sizeof nm, "%s.dlor.gemm_beta", d->name);
            cin = node(x, e, y, "Mul", cin, scalar(x, nm, type, n->beta), NULL, NULL);
        }
        h = node(x, e, y, "Add", h, cin, NULL, NULL);
    }
    if (st == DLOR_OK && (x->oom || !h)) st = nomem(x);
    if (st == DLOR_OK) e->v[e->n - 1].out = y;
    return st;
}

/* ---- writing -------------------------------------------------------------------------------- */

static void write_node(rw_ctx *x, dlor_pbw *g, const rw_newnode *n, const rw_node *orig, size_t k)
{
    dlor_pbw m;
    dlor_pbw_init(&m);
    for (int i = 0; i < n->nin; i++) dlor_pbw_str(&m, NODE_INPUT, n->in[i]);
    dlor_pbw_str(&m, NODE_OUTPUT, n->out);
    char name[700];
    snprintf(name, sizeof name, "%.*s/dlor/%zu", (int)(orig->name.n > 500 ? 500 : orig->name.n),
             orig->name.n ? (const char *)orig->name.p : "node", k);
    dlor_pbw_str(&m, NODE_NAME, name);
    dlor_pbw_str(&m, NODE_OP, n->op);
    if (n->attr) {
        dlor_pbw a;
        dlor_pbw_init(&a);
        if (n->attr == 1) {
            dlor_pbw_str(&a, ATTR_NAME, "axis");
            dlor_pbw_uint(&a, ATTR_I, (uint64_t)n->axis);
            dlor_pbw_uint(&a, ATTR_TYPE, AT_INT);
        } else {
            dlor_pbw t;
            unsigned char zero[8] = {0};
            dlor_pbw_init(&t);
            dlor_pbw_uint(&t, TENSOR_DIMS, 1);
            dlor_pbw_uint(&t, TENSOR_TYPE, (uint64_t)n->type);
            dlor_pbw_len(&t, TENSOR_RAW, zero, dlor_dtype_size(dtype_of(n->type)));
            dlor_pbw_str(&a, ATTR_NAME, "value");
            dlor_pbw_msg(&a, ATTR_T, &t);
            dlor_pbw_uint(&a, ATTR_TYPE, AT_TENSOR);
            dlor_pbw_free(&t);
        }
        dlor_pbw_msg(&m, NODE_ATTR, &a);
        dlor_pbw_free(&a);
    }
    dlor_pbw_msg(g, GRAPH_NODE, &m);
    if (dlor_pbw_failed(&m)) x->oom = 1;
    dlor_pbw_free(&m);
}

static dlor_status write_graph(rw_ctx *x, dlor_pbw *g)
{
    dlor_pb r = x->graph_msg;
    dlor_pb_field f;
    size_t node = 0, init = 0;
    dlor_status st;
    while ((st = pb(x, dlor_pb_next(&r, &f, x->err))) == DLOR_OK && f.num) {
        const unsigned char *start = x->buf + f.offset;
        size_t len = (size_t)((f.wt == DLOR_PB_LEN ? f.data + f.len : r.pos) - start);
        if (f.num == GRAPH_NODE) {
            const rw_node *n = &x->nodes[node++];
            if (n->plan < 0) {
                dlor_pbw_raw(g, start, len);
                continue;
            }
            rw_emit e = {NULL, 0, 0};
            st = emit_plan(x, &x->plans[n->plan], &e);
            for (size_t i = 0; st == DLOR_OK && i < e.n; i++) write_node(x, g, &e.v[i], n, i);
            free(e.v);
            if (st != DLOR_OK) return st;
            continue;
        }
        if (f.num == GRAPH_INIT && x->inits[init++].drop) continue;
        dlor_pbw_raw(g, start, len);
    }
    if (st != DLOR_OK) return st;
    dlor_pbw_raw(g, x->new_inits.p, x->new_inits.n);
    if (x->new_inits.oom) x->oom = 1;
    return x->oom || dlor_pbw_failed(g) ? nomem(x) : DLOR_OK;
}

static dlor_status write_model(rw_ctx *x, const dlor_pbw *graph, dlor_pbw *out)
{
    dlor_pb r = x->model_msg;
    dlor_pb_field f;
    dlor_status st;
    while ((st = pb(x, dlor_pb_next(&r, &f, x->err))) == DLOR_OK && f.num) {
        const unsigned char *start = x->buf + f.offset;
        if (f.num == MODEL_GRAPH) dlor_pbw_msg(out, MODEL_GRAPH, graph);
        else dlor_pbw_raw(out, start, (size_t)((f.wt == DLOR_PB_LEN ? f.data + f.len : r.pos) - start));
    }
    if (st == DLOR_OK && dlor_pbw_failed(out)) st = nomem(x);
    return st;
}

dlor_status dlor_onnx_rewrite_check_source(const char *src, dlor_error *err)
{
    const char *format = NULL;
    dlor_status st = dlor_sniff_format(src, &format, err);
    if (st != DLOR_OK) return st;
    if (!format || strcmp(format, "onnx") != 0)
        return dlor_fail(err, DLOR_E_USAGE, "%s: --emit-onnx rewrites an ONNX model, and this is %s%s", src,
                         format ? "a file of format " : "not a model file", format ? format : "");
    return DLOR_OK;
}

dlor_status dlor_onnx_rewrite_buffer(const unsigned char *buf, size_t len, const char *src, const dlor_container *c,
                                     unsigned char **out, size_t *out_len, dlor_error *err)
{
    rw_ctx x;
    memset(&x, 0, sizeof x);
    x.src = src;
    x.c = c;
    x.err = err;
    x.opset = 1;
    x.buf = buf;
    x.len = len;
    int *used = calloc(c->nlayers + 1, sizeof *used);
    dlor_pbw graph, model;
    dlor_pbw_init(&graph);
    dlor_pbw_init(&model);
    dlor_pbw_init(&x.new_inits);
    dlor_status st = used ? DLOR_OK : nomem(&x);
    if (st == DLOR_OK) st = read_model(&x);
    if (st == DLOR_OK && !(x.plans = calloc(x.nnodes + 1, sizeof *x.plans))) st = nomem(&x);
    if (st == DLOR_OK) st = plan_nodes(&x, used);
    if (st == DLOR_OK) st = mark_drops(&x);
    if (st == DLOR_OK) st = write_graph(&x, &graph);
    if (st == DLOR_OK) st = write_model(&x, &graph, &model);
    if (st == DLOR_OK) {
        *out = model.p; /* handed over */
        *out_len = model.n;
        dlor_pbw_init(&model);
    }
    dlor_pbw_free(&graph);
    dlor_pbw_free(&model);
    dlor_pbw_free(&x.new_inits);
    for (size_t i = 0; i < x.nowned; i++) free(x.owned[i]);
    free(x.owned);
    free(x.names);
    free(x.nodes);
    free(x.inits);
    free(x.io);
    free(x.plans);
    free(used);
    return st;
}

dlor_status dlor_onnx_rewrite(const char *out, const char *src, const dlor_container *c, dlor_error *err)
{
    unsigned char *buf = NULL, *model = NULL;
    size_t len = 0, n = 0;
    dlor_status st = dlor_file_read(src, RW_MAX_BYTES, &buf, &len, err);
    if (st == DLOR_OK) st = dlor_onnx_rewrite_buffer(buf, len, src, c, &model, &n, err);
    if (st == DLOR_OK) {
        dlor_atomic_file af;
        st = dlor_atomic_open(&af, out, err);
        if (st == DLOR_OK) st = dlor_atomic_write(&af, model, n, err);
        if (st == DLOR_OK) st = dlor_atomic_commit(&af, err);
        else dlor_atomic_abort(&af);
    }
    free(model);
    free(buf);
    return st;
}
