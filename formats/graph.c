/* graph.c - the neutral model graph: building and checking it. */
#include "dlor_graph.h"

#include <stdlib.h>
#include <string.h>

static const char *const act_names[] = {"identity", "relu", "leaky_relu", "sigmoid", "tanh",
                                        "softplus", "gelu", "gelu_tanh", "silu"};

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

void dlor_graph_init(dlor_graph *g) { memset(g, 0, sizeof *g); }

void dlor_graph_free(dlor_graph *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->count; i++) {
        free(g->ops[i].weight);
        free(g->ops[i].bias);
    }
    free(g->ops);
    memset(g, 0, sizeof *g);
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

static dlor_status push(dlor_graph *g, const dlor_graph_op *op, dlor_error *err)
{
    if (g->count >= DLOR_GRAPH_MAX_OPS)
        return dlor_fail(err, DLOR_E_LIMIT, "model graph has more than %d operations", DLOR_GRAPH_MAX_OPS);
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
    if (fail) {
        free(o.weight);
        free(o.bias);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    g->ops[g->count++] = o;
    return DLOR_OK;
}

dlor_status dlor_graph_add_linear(dlor_graph *g, const char *weight, const char *bias, dlor_error *err)
{
    dlor_graph_op op = {DLOR_OP_LINEAR, (char *)weight, (char *)bias, DLOR_ACT_IDENTITY, 0.0};
    return push(g, &op, err);
}

dlor_status dlor_graph_add_act(dlor_graph *g, dlor_act act, double param, dlor_error *err)
{
    dlor_graph_op op = {DLOR_OP_ACT, NULL, NULL, act, param};
    return push(g, &op, err);
}

dlor_status dlor_graph_add_softmax(dlor_graph *g, dlor_error *err)
{
    dlor_graph_op op = {DLOR_OP_SOFTMAX, NULL, NULL, DLOR_ACT_IDENTITY, 0.0};
    return push(g, &op, err);
}

dlor_status dlor_graph_check(const dlor_graph *g, const dlor_tensor_list *t, const char *what,
                             uint64_t *in_dim, uint64_t *out_dim, dlor_error *err)
{
    uint64_t cur = 0, first = 0;
    int have = 0;
    for (size_t i = 0; i < g->count; i++) {
        const dlor_graph_op *op = &g->ops[i];
        if (op->kind == DLOR_OP_ACT) {
            if ((int)op->act < 0 || op->act > DLOR_ACT_SILU)
                return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: unknown activation %d", what, i, (int)op->act);
            continue;
        }
        if (op->kind == DLOR_OP_SOFTMAX) continue;
        if (op->kind != DLOR_OP_LINEAR)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: unknown kind %d", what, i, (int)op->kind);
        const dlor_tensor *w = op->weight ? dlor_tensor_list_find(t, op->weight) : NULL;
        if (!w)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: weight tensor '%s' not found", what, i,
                             op->weight ? op->weight : "(none)");
        if (w->ndim != 2 || !dlor_dtype_is_float(w->dtype) || w->nelem == 0)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: weight '%s' is not a non-empty 2-D float tensor",
                             what, i, w->name);
        if (have && w->dims[1] != cur)
            return dlor_fail(err, DLOR_E_FORMAT,
                             "%s: graph op %zu: weight '%s' takes %llu inputs but the previous layer gives %llu",
                             what, i, w->name, (unsigned long long)w->dims[1], (unsigned long long)cur);
        if (op->bias) {
            const dlor_tensor *b = dlor_tensor_list_find(t, op->bias);
            if (!b)
                return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: bias tensor '%s' not found", what, i, op->bias);
            if (b->ndim != 1 || b->dims[0] != w->dims[0] || !dlor_dtype_is_float(b->dtype))
                return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: bias '%s' must be a float vector of length %llu",
                                 what, i, b->name, (unsigned long long)w->dims[0]);
        }
        if (!have) first = w->dims[1];
        have = 1;
        cur = w->dims[0];
    }
    if (!have) return dlor_fail(err, DLOR_E_FORMAT, "%s: model graph has no linear layer", what);
    if (in_dim) *in_dim = first;
    if (out_dim) *out_dim = cur;
    return DLOR_OK;
}
