/* graph.c - the neutral model graph: building and checking it (the text form
 * is in graph_text.c). */
#include "dlor_graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const act_names[] = {"identity", "relu", "leaky_relu", "sigmoid", "tanh",
                                        "softplus", "gelu", "gelu_tanh", "silu"};

static const char *const op_names[DLOR_OP_KIND_MAX + 1] = {
    NULL, "linear", "act", "softmax", "branch", "merge", "input", "output", "embed", "pos_embed", "add", "mul",
    "scale", "layernorm", "rmsnorm", "attention", "pool", "l2norm"};

int dlor_act_from_name(const char *name)
{
    for (int i = 0; i < (int)(sizeof act_names / sizeof act_names[0]); i++)
        if (strcmp(act_names[i], name) == 0) return i;
    if (strcmp(name, "gelu_erf") == 0) return DLOR_ACT_GELU_ERF;
    if (strcmp(name, "swish") == 0) return DLOR_ACT_SILU;
    if (strcmp(name, "none") == 0 || strcmp(name, "linear") == 0) return DLOR_ACT_IDENTITY;
    return -1;
}

const char *dlor_act_name(dlor_act act)
{
    if ((int)act >= 0 && (size_t)act < sizeof act_names / sizeof act_names[0]) return act_names[act];
    return "unknown";
}

const char *dlor_op_name(dlor_op_kind kind)
{
    return (int)kind >= 1 && (int)kind <= DLOR_OP_KIND_MAX ? op_names[kind] : "unknown";
}

void dlor_graph_init(dlor_graph *g) { memset(g, 0, sizeof *g); }

void dlor_graph_free(dlor_graph *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->count; i++) {
        free(g->ops[i].weight);
        free(g->ops[i].bias);
        free(g->ops[i].name);
    }
    free(g->ops);
    memset(g, 0, sizeof *g);
}

int dlor_graph_is_dag(const dlor_graph *g) { return g->count > 0 && g->ops[0].kind == DLOR_OP_INPUT; }

int dlor_graph_is_table(const dlor_graph *g, const char *name)
{
    for (size_t i = 0; i < g->count; i++)
        if ((g->ops[i].kind == DLOR_OP_EMBED || g->ops[i].kind == DLOR_OP_POS_EMBED) && g->ops[i].weight &&
            strcmp(g->ops[i].weight, name) == 0)
            return 1;
    return 0;
}

static char *dup_opt(const char *s, int *fail)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p) *fail = 1;
    else memcpy(p, s, n);
    return p;
}

dlor_status dlor_graph_push(dlor_graph *g, const dlor_graph_op *op, uint32_t *out, dlor_error *err)
{
    if (g->count >= DLOR_GRAPH_MAX_OPS)
        return dlor_fail(err, DLOR_E_LIMIT, "model graph has more than %d operations", DLOR_GRAPH_MAX_OPS);
    int dag = dlor_graph_is_dag(g) || (g->count == 0 && op->kind == DLOR_OP_INPUT);
    for (int k = 0; dag && k < DLOR_GRAPH_MAX_IN; k++)
        if (op->in[k] != DLOR_GRAPH_NONE && op->in[k] >= g->count)
            return dlor_fail(err, DLOR_E_ARG, "graph op %zu (%s) reads value %u, which is not made before it", g->count,
                             dlor_op_name(op->kind), (unsigned)op->in[k]);
    if (g->count == g->cap) {
        size_t nc = g->cap ? 2 * g->cap : 16;
        dlor_graph_op *p = realloc(g->ops, nc * sizeof *p);
        if (!p) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        g->ops = p;
        g->cap = nc;
    }
    int fail = 0;
    dlor_graph_op o = *op;
    o.weight = dup_opt(op->weight, &fail);
    o.bias = dup_opt(op->bias, &fail);
    o.name = dup_opt(op->name, &fail);
    if (fail) {
        free(o.weight);
        free(o.bias);
        free(o.name);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    if (out) *out = (uint32_t)g->count;
    g->ops[g->count++] = o;
    return DLOR_OK;
}

dlor_status dlor_graph_copy(dlor_graph *dst, const dlor_graph *src, dlor_error *err)
{
    dlor_status st = DLOR_OK;
    for (size_t i = 0; i < src->count && st == DLOR_OK; i++) st = dlor_graph_push(dst, &src->ops[i], NULL, err);
    return st;
}

/* A new op of this kind reading nothing (chains: in[] all zero, as the format stores them). */
static dlor_graph_op blank(dlor_op_kind kind, int dag)
{
    dlor_graph_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    for (int k = 0; k < DLOR_GRAPH_MAX_IN; k++) op.in[k] = dag ? DLOR_GRAPH_NONE : 0;
    return op;
}

/* The chain builders: in a DAG, the op reads the last value (the last op that
 * is not an OUTPUT). */
static dlor_status push_chain(dlor_graph *g, dlor_graph_op *op, dlor_error *err)
{
    if (dlor_graph_is_dag(g)) {
        size_t i = g->count;
        while (i > 0 && g->ops[i - 1].kind == DLOR_OP_OUTPUT) i--;
        if (op->kind == DLOR_OP_BRANCH || op->kind == DLOR_OP_MERGE)
            return dlor_fail(err, DLOR_E_ARG, "graph op %zu: %s belongs to chains; a DAG sums branches with add and scale",
                             g->count, dlor_op_name(op->kind));
        for (int k = 0; k < DLOR_GRAPH_MAX_IN; k++) op->in[k] = DLOR_GRAPH_NONE;
        op->in[0] = (uint32_t)(i - 1);
    }
    return dlor_graph_push(g, op, NULL, err);
}

dlor_status dlor_graph_add_linear(dlor_graph *g, const char *weight, const char *bias, dlor_error *err)
{
    dlor_graph_op op = blank(DLOR_OP_LINEAR, 0);
    op.weight = (char *)weight;
    op.bias = (char *)bias;
    return push_chain(g, &op, err);
}

dlor_status dlor_graph_add_act(dlor_graph *g, dlor_act act, double param, dlor_error *err)
{
    dlor_graph_op op = blank(DLOR_OP_ACT, 0);
    op.act = act;
    op.param = param;
    return push_chain(g, &op, err);
}

dlor_status dlor_graph_add_softmax(dlor_graph *g, dlor_error *err)
{
    dlor_graph_op op = blank(DLOR_OP_SOFTMAX, 0);
    return push_chain(g, &op, err);
}

dlor_status dlor_graph_add_branch(dlor_graph *g, double weight, dlor_error *err)
{
    dlor_graph_op op = blank(DLOR_OP_BRANCH, 0);
    op.param = weight;
    return push_chain(g, &op, err);
}

dlor_status dlor_graph_add_merge(dlor_graph *g, const char *bias, dlor_error *err)
{
    dlor_graph_op op = blank(DLOR_OP_MERGE, 0);
    op.bias = (char *)bias;
    return push_chain(g, &op, err);
}

/* ---- DAG builders ------------------------------------------------------------ */

dlor_status dlor_graph_input(dlor_graph *g, const char *name, dlor_input_mode mode, uint64_t features, uint32_t *out,
                             dlor_error *err)
{
    dlor_graph_op op = blank(DLOR_OP_INPUT, 1);
    op.name = (char *)name;
    op.mode = mode;
    op.features = features;
    return dlor_graph_push(g, &op, out, err);
}

dlor_status dlor_graph_output(dlor_graph *g, const char *name, uint32_t x, dlor_error *err)
{
    dlor_graph_op op = blank(DLOR_OP_OUTPUT, 1);
    op.name = (char *)name;
    op.in[0] = x;
    return dlor_graph_push(g, &op, NULL, err);
}

/* An op reading x (and y) with a weight and a bias. */
static dlor_status push2(dlor_graph *g, dlor_op_kind kind, uint32_t x, uint32_t y, const char *weight,
                         const char *bias, double param, uint32_t *out, dlor_error *err)
{
    dlor_graph_op op = blank(kind, 1);
    op.in[0] = x;
    op.in[1] = y;
    op.weight = (char *)weight;
    op.bias = (char *)bias;
    op.param = param;
    return dlor_graph_push(g, &op, out, err);
}

dlor_status dlor_graph_linear(dlor_graph *g, uint32_t x, const char *weight, const char *bias, uint32_t *out,
                              dlor_error *err)
{
    return push2(g, DLOR_OP_LINEAR, x, DLOR_GRAPH_NONE, weight, bias, 0.0, out, err);
}

dlor_status dlor_graph_act(dlor_graph *g, uint32_t x, dlor_act act, double param, uint32_t *out, dlor_error *err)
{
    dlor_graph_op op = blank(DLOR_OP_ACT, 1);
    op.in[0] = x;
    op.act = act;
    op.param = param;
    return dlor_graph_push(g, &op, out, err);
}

dlor_status dlor_graph_softmax(dlor_graph *g, uint32_t x, uint32_t *out, dlor_error *err)
{
    return push2(g, DLOR_OP_SOFTMAX, x, DLOR_GRAPH_NONE, NULL, NULL, 0.0, out, err);
}

dlor_status dlor_graph_embed(dlor_graph *g, uint32_t ids, const char *table, uint32_t *out, dlor_error *err)
{
    return push2(g, DLOR_OP_EMBED, ids, DLOR_GRAPH_NONE, table, NULL, 0.0, out, err);
}

dlor_status dlor_graph_pos_embed(dlor_graph *g, uint32_t ids, const char *table, uint32_t *out, dlor_error *err)
{
    return push2(g, DLOR_OP_POS_EMBED, ids, DLOR_GRAPH_NONE, table, NULL, 0.0, out, err);
}

dlor_status dlor_graph_add(dlor_graph *g, uint32_t a, uint32_t b, uint32_t *out, dlor_error *err)
{
    return push2(g, DLOR_OP_ADD, a, b, NULL, NULL, 0.0, out, err);
}

dlor_status dlor_graph_mul(dlor_graph *g, uint32_t a, uint32_t b, uint32_t *out, dlor_error *err)
{
    return push2(g, DLOR_OP_MUL, a, b, NULL, NULL, 0.0, out, err);
}

dlor_status dlor_graph_scale(dlor_graph *g, uint32_t x, double factor, const char *bias, uint32_t *out,
                             dlor_error *err)
{
    return push2(g, DLOR_OP_SCALE, x, DLOR_GRAPH_NONE, NULL, bias, factor, out, err);
}

dlor_status dlor_graph_layernorm(dlor_graph *g, uint32_t x, const char *weight, const char *bias, double eps,
                                 uint32_t *out, dlor_error *err)
{
    return push2(g, DLOR_OP_LAYERNORM, x, DLOR_GRAPH_NONE, weight, bias, eps, out, err);
}

dlor_status dlor_graph_rmsnorm(dlor_graph *g, uint32_t x, const char *weight, double eps, uint32_t *out,
                               dlor_error *err)
{
    return push2(g, DLOR_OP_RMSNORM, x, DLOR_GRAPH_NONE, weight, NULL, eps, out, err);
}

dlor_status dlor_graph_attention(dlor_graph *g, const dlor_attention *a, uint32_t *out, dlor_error *err)
{
    dlor_graph_op op = blank(DLOR_OP_ATTENTION, 1);
    op.in[0] = a->q;
    op.in[1] = a->k;
    op.in[2] = a->v;
    op.in[3] = a->mask;
    op.heads = a->heads;
    op.kv_heads = a->kv_heads ? a->kv_heads : a->heads;
    op.causal = a->causal != 0;
    op.param = a->scale;
    op.rope_theta = a->rope_theta;
    return dlor_graph_push(g, &op, out, err);
}

dlor_status dlor_graph_pool(dlor_graph *g, uint32_t x, uint32_t mask, dlor_pool_mode mode, uint32_t *out,
                            dlor_error *err)
{
    dlor_graph_op op = blank(DLOR_OP_POOL, 1);
    op.in[0] = x;
    op.in[1] = mask;
    op.mode = mode;
    return dlor_graph_push(g, &op, out, err);
}

dlor_status dlor_graph_l2norm(dlor_graph *g, uint32_t x, double eps, uint32_t *out, dlor_error *err)
{
    return push2(g, DLOR_OP_L2NORM, x, DLOR_GRAPH_NONE, NULL, NULL, eps, out, err);
}

/* ---- graphs from nn.Sequential names -------------------------------------- */

typedef struct {
    const char *prefix; /* name without ".weight" */
    size_t prefix_len;
    unsigned long long index;
    const dlor_tensor *w;
} seq_layer;

static int cmp_seq(const void *a, const void *b)
{
    const seq_layer *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Splits "<stem>.<int>" or "<int>" off a prefix; returns 0 when it fits. */
static int seq_index(const char *p, size_t n, size_t *stem_len, unsigned long long *idx)
{
    size_t i = n;
    while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9') i--;
    if (i == n || n - i > 9) return -1;
    if (i > 0 && p[i - 1] != '.') return -1;
    *idx = strtoull(p + i, NULL, 10);
    *stem_len = i;
    return 0;
}

dlor_status dlor_graph_from_names(const dlor_tensor_list *t, dlor_act act, double param, dlor_graph *g,
                                  char *why, size_t why_len, dlor_error *err)
{
    static const char suffix[] = ".weight";
    const size_t sl = sizeof suffix - 1;
    seq_layer *v = calloc(t->count ? t->count : 1, sizeof *v);
    size_t n = 0, stem_len = 0;
    const char *stem = NULL;
    dlor_graph tmp;
    dlor_status st = DLOR_OK;
    if (!v) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    dlor_graph_init(&tmp);
    if (why && why_len) why[0] = 0;
    for (size_t i = 0; i < t->count; i++) {
        const dlor_tensor *w = &t->items[i];
        size_t len = strlen(w->name), sl2;
        unsigned long long idx;
        if (w->ndim != 2 || !dlor_dtype_is_weight(w->dtype)) continue;
        if (len <= sl || strcmp(w->name + len - sl, suffix) != 0 ||
            seq_index(w->name, len - sl, &sl2, &idx) != 0) {
            if (why) snprintf(why, why_len, "2-D tensor '%s' does not follow nn.Sequential naming (<index>.weight)", w->name);
            goto done;
        }
        if (stem && (sl2 != stem_len || strncmp(stem, w->name, sl2) != 0)) {
            if (why) snprintf(why, why_len, "weights '%s' and '%s' belong to different modules", stem, w->name);
            goto done;
        }
        stem = w->name;
        stem_len = sl2;
        v[n].prefix = w->name;
        v[n].prefix_len = len - sl;
        v[n].index = idx;
        v[n].w = w;
        n++;
    }
    if (n == 0) {
        if (why) snprintf(why, why_len, "no 2-D weight tensor named like '<index>.weight'");
        goto done;
    }
    qsort(v, n, sizeof *v, cmp_seq);
    for (size_t i = 0; i < n && st == DLOR_OK; i++) {
        char bias[DLOR_MAX_NAME + 8];
        snprintf(bias, sizeof bias, "%.*s.bias", (int)v[i].prefix_len, v[i].prefix);
        const dlor_tensor *b = dlor_tensor_list_find(t, bias);
        if (i > 0 && v[i].index == v[i - 1].index) {
            if (why) snprintf(why, why_len, "two weights share the index %llu", v[i].index);
            goto done;
        }
        st = dlor_graph_add_linear(&tmp, v[i].w->name, b ? bias : NULL, err);
        if (st == DLOR_OK && i + 1 < n && act != DLOR_ACT_IDENTITY) st = dlor_graph_add_act(&tmp, act, param, err);
    }
    if (st == DLOR_OK) {
        dlor_error e;
        dlor_status cs = dlor_graph_check(&tmp, t, "names", NULL, NULL, &e);
        if (cs == DLOR_E_NOMEM) { /* an error, not a reason to go without a graph */
            st = dlor_fail(err, cs, "%s", e.msg);
            goto done;
        }
        if (cs != DLOR_OK) {
            if (why) snprintf(why, why_len, "the layers found by name do not chain: %s", e.msg);
            goto done;
        }
        dlor_graph_free(g);
        *g = tmp;
        dlor_graph_init(&tmp);
    }
done:
    dlor_graph_free(&tmp);
    free(v);
    return st;
}
