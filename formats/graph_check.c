/* graph_check.c - checking a model graph against its tensors: a chain (format
 * 1.1-1.4 semantics) or a DAG (DLOR_FORMAT.md 7.7), shapes inferred op by op. */
#include "dlor_graph.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tensors sorted by name, so a graph of many layers is checked in O(n log n). */
static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp((*(const dlor_tensor *const *)a)->name, (*(const dlor_tensor *const *)b)->name);
}

static const dlor_tensor *find_sorted(const dlor_tensor **v, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid]->name, name);
        if (c == 0) return v[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static dlor_status check_sorted(const dlor_graph *g, const dlor_tensor **v, size_t nt, const char *what,
                                uint64_t *in_dim, uint64_t *out_dim, dlor_error *err);

static dlor_status check_dag(const dlor_graph *g, const dlor_tensor **tv, size_t nt, dlor_graph_layer_fn layer,
                             void *layer_ctx, const char *what, dlor_graph_value *vals, uint64_t *in_dim,
                             uint64_t *out_dim, dlor_error *err);

/* The tensors of t sorted by name (malloc'd). */
static const dlor_tensor **sorted_tensors(const dlor_tensor_list *t)
{
    const dlor_tensor **v = malloc((t->count ? t->count : 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < t->count; i++) v[i] = &t->items[i];
    qsort(v, t->count, sizeof *v, cmp_tensor_name);
    return v;
}

dlor_status dlor_graph_check(const dlor_graph *g, const dlor_tensor_list *t, const char *what,
                             uint64_t *in_dim, uint64_t *out_dim, dlor_error *err)
{
    const dlor_tensor **v = sorted_tensors(t);
    dlor_graph_value *vals = dlor_graph_is_dag(g) ? malloc(g->count * sizeof *vals) : NULL;
    dlor_status st;
    if (!v || (dlor_graph_is_dag(g) && !vals)) st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
    else if (vals) st = check_dag(g, v, t->count, NULL, NULL, what, vals, in_dim, out_dim, err);
    else st = check_sorted(g, v, t->count, what, in_dim, out_dim, err);
    free(v);
    free(vals);
    return st;
}

dlor_status dlor_graph_shapes(const dlor_graph *g, const dlor_tensor_list *t, const char *what,
                              dlor_graph_value *vals, dlor_error *err)
{
    return dlor_graph_shapes_layers(g, t, NULL, NULL, what, vals, err);
}

dlor_status dlor_graph_shapes_layers(const dlor_graph *g, const dlor_tensor_list *t, dlor_graph_layer_fn layer,
                                     void *layer_ctx, const char *what, dlor_graph_value *vals, dlor_error *err)
{
    if (!dlor_graph_is_dag(g)) return dlor_fail(err, DLOR_E_ARG, "%s: the model graph is a chain, not a DAG", what);
    const dlor_tensor **v = sorted_tensors(t);
    if (!v) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
    dlor_status st = check_dag(g, v, t->count, layer, layer_ctx, what, vals, NULL, NULL, err);
    free(v);
    return st;
}

static dlor_status check_sorted(const dlor_graph *g, const dlor_tensor **tv, size_t nt, const char *what,
                                uint64_t *in_dim, uint64_t *out_dim, dlor_error *err)
{
    uint64_t cur = 0, first = 0;
    int have = 0;
    /* an open BRANCH group: its input width (known once a LINEAR has run), the width
     * its branches give (set by the first), whether the current branch has a LINEAR */
    int in_group = 0, gout_set = 0, branch_linear = 0;
    uint64_t gin = 0, gout = 0;
    for (size_t i = 0; i < g->count; i++) {
        const dlor_graph_op *op = &g->ops[i];
        if (op->kind == DLOR_OP_ACT) {
            if ((int)op->act < 0 || op->act > DLOR_ACT_SILU)
                return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: unknown activation %d", what, i, (int)op->act);
            continue;
        }
        if (op->kind == DLOR_OP_SOFTMAX) continue;
        if (op->kind == DLOR_OP_BRANCH || op->kind == DLOR_OP_MERGE) {
            if (op->kind == DLOR_OP_BRANCH && !isfinite(op->param))
                return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: branch weight is not finite", what, i);
            if (op->kind == DLOR_OP_MERGE && !in_group)
                return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: merge without a branch", what, i);
            if (in_group) {
                if (!branch_linear)
                    return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: the branch before it has no linear layer",
                                     what, i);
                if (gout_set && cur != gout)
                    return dlor_fail(err, DLOR_E_FORMAT,
                                     "%s: graph op %zu: a branch gives %llu features, the first one %llu", what, i,
                                     (unsigned long long)cur, (unsigned long long)gout);
                gout = cur;
                gout_set = 1;
            }
            if (op->kind == DLOR_OP_BRANCH) {
                if (!in_group) gin = cur; /* 0 (unknown) when no LINEAR ran before the group */
                in_group = 1;
                branch_linear = 0;
                cur = gin;
                have = gin != 0 || have;
                continue;
            }
            if (op->bias) {
                const dlor_tensor *b = find_sorted(tv, nt, op->bias);
                if (!b)
                    return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: bias tensor '%s' not found", what, i, op->bias);
                if (b->ndim != 1 || b->dims[0] != gout || !dlor_dtype_is_float(b->dtype))
                    return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: bias '%s' must be a float vector of length %llu",
                                     what, i, b->name, (unsigned long long)gout);
            }
            in_group = gout_set = 0;
            cur = gout;
            continue;
        }
        if (op->kind != DLOR_OP_LINEAR)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: %s %d in a chain (a DAG starts with its inputs)",
                             what, i, op->kind >= DLOR_OP_INPUT && op->kind <= DLOR_OP_KIND_MAX ? dlor_op_name(op->kind)
                                                                                                 : "unknown kind",
                             (int)op->kind);
        const dlor_tensor *w = op->weight ? find_sorted(tv, nt, op->weight) : NULL;
        if (!w)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: weight tensor '%s' not found", what, i,
                             op->weight ? op->weight : "(none)");
        if (w->ndim != 2 || !dlor_dtype_is_weight(w->dtype) || w->nelem == 0)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: weight '%s' is not a non-empty 2-D float tensor",
                             what, i, w->name);
        if (have && w->dims[1] != cur)
            return dlor_fail(err, DLOR_E_FORMAT,
                             "%s: graph op %zu: weight '%s' takes %llu inputs but the previous layer gives %llu",
                             what, i, w->name, (unsigned long long)w->dims[1], (unsigned long long)cur);
        if (op->bias) {
            const dlor_tensor *b = find_sorted(tv, nt, op->bias);
            if (!b)
                return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: bias tensor '%s' not found", what, i, op->bias);
            if (b->ndim != 1 || b->dims[0] != w->dims[0] || !dlor_dtype_is_float(b->dtype))
                return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: bias '%s' must be a float vector of length %llu",
                                 what, i, b->name, (unsigned long long)w->dims[0]);
        }
        if (!have) first = w->dims[1];
        if (in_group && !branch_linear && gin == 0) gin = w->dims[1]; /* a group opening the graph */
        branch_linear = 1;
        have = 1;
        cur = w->dims[0];
    }
    if (in_group) return dlor_fail(err, DLOR_E_FORMAT, "%s: model graph ends inside a branch group (no merge)", what);
    if (!have) return dlor_fail(err, DLOR_E_FORMAT, "%s: model graph has no linear layer", what);
    if (in_dim) *in_dim = first;
    if (out_dim) *out_dim = cur;
    return DLOR_OK;
}

/* ---- DAGs (DLOR_FORMAT.md 7.7) --------------------------------------------- */

/* What each kind reads: bit k set = in[k] required; the optional slots. */
static void arity(dlor_op_kind kind, unsigned *need, unsigned *may)
{
    *may = 0;
    switch (kind) {
    case DLOR_OP_INPUT: *need = 0; break;
    case DLOR_OP_ADD:
    case DLOR_OP_MUL: *need = 3; break;
    case DLOR_OP_ATTENTION: *need = 7; *may = 8; break;
    case DLOR_OP_POOL: *need = 1; *may = 2; break;
    default: *need = 1; break;
    }
}

static int is_float_value(dlor_value_type t) { return t == DLOR_VALUE_ROWS || t == DLOR_VALUE_TOKENS; }

typedef struct {
    const dlor_tensor **tv;
    size_t nt;
    dlor_graph_layer_fn layer;
    void *layer_ctx;
    const char *what;
    size_t i;
    const dlor_graph_op *op;
    dlor_error *err;
} dag_ctx;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static dlor_status dag_fail(const dag_ctx *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dlor_fail(c->err, DLOR_E_FORMAT, "%s: graph op %zu (%s): %s", c->what, c->i, dlor_op_name(c->op->kind), msg);
}

/* The tensor 'name' as a float tensor of ndim dimensions (dims[0] == first and,
 * for 2-D, dims[1] == second, unless those are 0), or an error naming its role. */
static dlor_status dag_tensor(const dag_ctx *c, const char *role, const char *name, int ndim, uint64_t first,
                              uint64_t second, const dlor_tensor **out)
{
    const dlor_tensor *t = find_sorted(c->tv, c->nt, name);
    if (!t) return dlor_fail(c->err, DLOR_E_FORMAT, "%s: graph op %zu (%s): %s tensor '%s' not found", c->what, c->i,
                             dlor_op_name(c->op->kind), role, name);
    int dt_ok = dlor_dtype_is_float(t->dtype) || (ndim == 2 && strcmp(role, "weight") == 0 && dlor_dtype_is_quant(t->dtype));
    if (t->ndim != ndim || !dt_ok || t->nelem == 0 || (first && t->dims[0] != first) ||
        (ndim == 2 && second && t->dims[1] != second)) {
        char want[64], got[96];
        if (ndim == 1) snprintf(want, sizeof want, "[%llu]", (unsigned long long)first);
        else if (first) snprintf(want, sizeof want, "[%llu, %llu]", (unsigned long long)first, (unsigned long long)second);
        else if (second) snprintf(want, sizeof want, "[rows, %llu]", (unsigned long long)second);
        else snprintf(want, sizeof want, "2-D");
        return dlor_fail(c->err, DLOR_E_FORMAT, "%s: graph op %zu (%s): %s '%s' is %s %s, not a non-empty float %s tensor",
                         c->what, c->i, dlor_op_name(c->op->kind), role, name, dlor_dtype_name(t->dtype),
                         dlor_shape_str(t->dims, t->ndim, got, sizeof got), want);
    }
    if (out) *out = t;
    return DLOR_OK;
}

static dlor_status check_dag(const dlor_graph *g, const dlor_tensor **tv, size_t nt, dlor_graph_layer_fn layer,
                             void *layer_ctx, const char *what, dlor_graph_value *vals, uint64_t *in_dim,
                             uint64_t *out_dim, dlor_error *err)
{
    dag_ctx c = {tv, nt, layer, layer_ctx, what, 0, NULL, err};
    size_t ninputs = 0, noutputs = 0;
    dlor_status st_;
    uint32_t by_mode[5] = {DLOR_GRAPH_NONE, DLOR_GRAPH_NONE, DLOR_GRAPH_NONE, DLOR_GRAPH_NONE, DLOR_GRAPH_NONE};
    uint64_t first_out = 0;
    for (size_t i = 0; i < g->count; i++) {
        const dlor_graph_op *op = &g->ops[i];
        dlor_graph_value *v = &vals[i], x = {DLOR_VALUE_ROWS, 0}, y = x;
        c.i = i;
        c.op = op;
        if ((int)op->kind < 1 || (int)op->kind > DLOR_OP_KIND_MAX)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: unknown kind %d", what, i, (int)op->kind);
        if (op->kind == DLOR_OP_BRANCH || op->kind == DLOR_OP_MERGE)
            return dag_fail(&c, "belongs to chains; a DAG sums branches with add and scale");
        if (op->kind == DLOR_OP_INPUT && i != ninputs)
            return dag_fail(&c, "the inputs must come first, before every other op");
        unsigned need, may;
        arity(op->kind, &need, &may);
        for (int k = 0; k < DLOR_GRAPH_MAX_IN; k++) {
            uint32_t r = op->in[k];
            if (r == DLOR_GRAPH_NONE) {
                if (need & (1u << k)) return dag_fail(&c, "input %llu is missing", (unsigned long long)k);
                continue;
            }
            if (!((need | may) & (1u << k)))
                return dag_fail(&c, "reads a value in input slot %llu, which it has not", (unsigned long long)k);
            if (r >= i) return dag_fail(&c, "reads value %u, which is not made before it", (unsigned)r);
            if (g->ops[r].kind == DLOR_OP_OUTPUT)
                return dag_fail(&c, "reads value %u, an output (read the value it names)", (unsigned)r);
        }
        if (op->in[0] != DLOR_GRAPH_NONE) x = vals[op->in[0]];
        /* fields a kind does not use are zero */
        int uses_weight = op->kind == DLOR_OP_LINEAR || op->kind == DLOR_OP_EMBED || op->kind == DLOR_OP_POS_EMBED ||
                          op->kind == DLOR_OP_LAYERNORM || op->kind == DLOR_OP_RMSNORM;
        int uses_bias = op->kind == DLOR_OP_LINEAR || op->kind == DLOR_OP_SCALE || op->kind == DLOR_OP_LAYERNORM;
        int uses_param = op->kind == DLOR_OP_ACT || op->kind == DLOR_OP_SCALE || op->kind == DLOR_OP_LAYERNORM ||
                         op->kind == DLOR_OP_RMSNORM || op->kind == DLOR_OP_L2NORM || op->kind == DLOR_OP_ATTENTION;
        int uses_mode = op->kind == DLOR_OP_INPUT || op->kind == DLOR_OP_POOL;
        int att = op->kind == DLOR_OP_ATTENTION;
        if ((!uses_weight && op->weight) || (!uses_bias && op->bias) || (!uses_param && op->param != 0.0) ||
            (!uses_mode && op->mode) || (op->kind != DLOR_OP_ACT && op->act) ||
            ((op->kind != DLOR_OP_INPUT && op->kind != DLOR_OP_OUTPUT) && op->name) ||
            (op->kind != DLOR_OP_INPUT && op->features) ||
            (!att && (op->heads || op->kv_heads || op->causal || op->rope_theta != 0.0)))
            return dag_fail(&c, "has a field its kind does not use");
        if (uses_param && !isfinite(op->param)) return dag_fail(&c, "parameter is not finite");
        const dlor_tensor *t = NULL;
        switch (op->kind) {
        case DLOR_OP_INPUT: {
            if (!op->name || !op->name[0] || strlen(op->name) > DLOR_MAX_NAME)
                return dag_fail(&c, "the name must be 1 to 255 bytes");
            for (size_t j = 0; j < i; j++)
                if (strcmp(g->ops[j].name, op->name) == 0) return dag_fail(&c, "two inputs are named '%s'", op->name);
            if (op->mode < DLOR_INPUT_FEATURES || op->mode > DLOR_INPUT_TYPE_IDS)
                return dag_fail(&c, "input '%s' has an unknown mode %d", op->name, op->mode);
            if (by_mode[op->mode] != DLOR_GRAPH_NONE)
                return dag_fail(&c, "inputs '%s' and '%s' have one mode", g->ops[by_mode[op->mode]].name, op->name);
            if ((op->mode == DLOR_INPUT_FEATURES) != (op->features != 0))
                return dag_fail(&c, "input '%s': a features input has a feature count (>= 1), others none", op->name);
            by_mode[op->mode] = (uint32_t)i;
            y.type = op->mode == DLOR_INPUT_FEATURES ? DLOR_VALUE_ROWS
                     : op->mode == DLOR_INPUT_MASK   ? DLOR_VALUE_MASK
                                                     : DLOR_VALUE_IDS;
            y.features = op->features;
            ninputs++;
            break;
        }
        case DLOR_OP_OUTPUT:
            if (!op->name || !op->name[0] || strlen(op->name) > DLOR_MAX_NAME)
                return dag_fail(&c, "the name must be 1 to 255 bytes");
            for (size_t j = ninputs; j < i; j++)
                if (g->ops[j].kind == DLOR_OP_OUTPUT && strcmp(g->ops[j].name, op->name) == 0)
                    return dag_fail(&c, "two outputs are named '%s'", op->name);
            if (!is_float_value(x.type)) return dag_fail(&c, "output '%s' names an integer value", op->name);
            if (noutputs == DLOR_GRAPH_MAX_OUTPUTS) return dag_fail(&c, "more than %d outputs", DLOR_GRAPH_MAX_OUTPUTS);
            if (noutputs++ == 0) first_out = x.features;
            y = x;
            break;
        case DLOR_OP_LINEAR:
            if (!is_float_value(x.type)) return dag_fail(&c, "its input is not a float value");
            if (!op->weight) return dag_fail(&c, "has no weight");
            uint64_t rows, cols;
            if (layer && layer(layer_ctx, op->weight, &rows, &cols)) { /* a DLoR layer of a container */
                if (cols != x.features)
                    return dag_fail(&c, "layer '%s' takes %llu features but receives %llu", op->weight,
                                    (unsigned long long)cols, (unsigned long long)x.features);
            } else {
                if ((st_ = dag_tensor(&c, "weight", op->weight, 2, 0, x.features, &t)) != DLOR_OK) return st_;
                rows = t->dims[0];
            }
            if (op->bias && (st_ = dag_tensor(&c, "bias", op->bias, 1, rows, 0, NULL)) != DLOR_OK) return st_;
            y.type = x.type;
            y.features = rows;
            break;
        case DLOR_OP_ACT:
            if ((int)op->act < 0 || op->act > DLOR_ACT_MAX || (op->act != DLOR_ACT_LEAKY_RELU && op->param != 0.0))
                return dag_fail(&c, "bad activation %d (param %g)", (int)op->act, op->param);
            /* fall through */
        case DLOR_OP_SOFTMAX:
        case DLOR_OP_SCALE:
        case DLOR_OP_L2NORM:
        case DLOR_OP_LAYERNORM:
        case DLOR_OP_RMSNORM:
            if (!is_float_value(x.type)) return dag_fail(&c, "its input is not a float value");
            if ((op->kind == DLOR_OP_L2NORM || op->kind == DLOR_OP_LAYERNORM || op->kind == DLOR_OP_RMSNORM) &&
                !(op->param > 0.0))
                return dag_fail(&c, "eps must be a finite number > 0");
            if (op->weight && (st_ = dag_tensor(&c, "weight", op->weight, 1, x.features, 0, NULL)) != DLOR_OK) return st_;
            if (op->bias && (st_ = dag_tensor(&c, "bias", op->bias, 1, x.features, 0, NULL)) != DLOR_OK) return st_;
            y = x;
            break;
        case DLOR_OP_EMBED:
        case DLOR_OP_POS_EMBED:
            if (x.type != DLOR_VALUE_IDS && (op->kind == DLOR_OP_EMBED || x.type != DLOR_VALUE_MASK))
                return dag_fail(&c, "its input is not %s", op->kind == DLOR_OP_EMBED ? "token ids" : "an [N, S] input");
            if (!op->weight) return dag_fail(&c, "has no table");
            if ((st_ = dag_tensor(&c, "table", op->weight, 2, 0, 0, &t)) != DLOR_OK) return st_;
            y.type = DLOR_VALUE_TOKENS;
            y.features = t->dims[1];
            break;
        case DLOR_OP_ADD:
        case DLOR_OP_MUL: {
            dlor_graph_value b = vals[op->in[1]];
            if (!is_float_value(x.type) || x.type != b.type || x.features != b.features)
                return dag_fail(&c, "its inputs are not float values of one shape (%llu and %llu features)", (unsigned long long)x.features, (unsigned long long)b.features);
            y = x;
            break;
        }
        case DLOR_OP_ATTENTION: {
            dlor_graph_value k = vals[op->in[1]], v2 = vals[op->in[2]];
            if (x.type != DLOR_VALUE_TOKENS || k.type != DLOR_VALUE_TOKENS || v2.type != DLOR_VALUE_TOKENS)
                return dag_fail(&c, "q, k and v must be token values [N, S, F]");
            if (op->heads == 0 || op->kv_heads == 0 || op->heads % op->kv_heads != 0)
                return dag_fail(&c, "%u heads and %u kv heads (kv heads must divide heads)", (unsigned)op->heads, (unsigned)op->kv_heads);
            if (x.features % op->heads != 0)
                return dag_fail(&c, "q has %llu features, not a multiple of %u heads", (unsigned long long)x.features, (unsigned)op->heads);
            uint64_t d = x.features / op->heads;
            if (k.features != (uint64_t)op->kv_heads * d)
                return dag_fail(&c, "k has %llu features, not kv heads x head size = %llu", (unsigned long long)k.features, (unsigned long long)op->kv_heads * d);
            if (v2.features % op->kv_heads != 0)
                return dag_fail(&c, "v has %llu features, not a multiple of %u kv heads", (unsigned long long)v2.features, (unsigned)op->kv_heads);
            if (op->in[3] != DLOR_GRAPH_NONE && g->ops[op->in[3]].kind != DLOR_OP_INPUT)
                return dag_fail(&c, "the mask is not the mask input");
            if (op->in[3] != DLOR_GRAPH_NONE && vals[op->in[3]].type != DLOR_VALUE_MASK)
                return dag_fail(&c, "the mask is not the mask input");
            if (!(op->param >= 0.0) || !isfinite(op->rope_theta) || !(op->rope_theta >= 0.0) || op->causal > 1 ||
                op->causal < 0)
                return dag_fail(&c, "scale and rope theta must be finite numbers >= 0");
            if (op->rope_theta > 0.0 && d % 2 != 0)
                return dag_fail(&c, "rotary embedding needs an even head size, not %llu", (unsigned long long)d);
            y.type = DLOR_VALUE_TOKENS;
            y.features = (uint64_t)op->heads * (v2.features / op->kv_heads);
            break;
        }
        case DLOR_OP_POOL:
            if (x.type != DLOR_VALUE_TOKENS) return dag_fail(&c, "its input is not a token value [N, S, F]");
            if (op->in[1] != DLOR_GRAPH_NONE &&
                (g->ops[op->in[1]].kind != DLOR_OP_INPUT || vals[op->in[1]].type != DLOR_VALUE_MASK))
                return dag_fail(&c, "the mask is not the mask input");
            if (op->mode != DLOR_POOL_MEAN && op->mode != DLOR_POOL_CLS)
                return dag_fail(&c, "unknown pooling mode %d", op->mode);
            y.type = DLOR_VALUE_ROWS;
            y.features = x.features;
            break;
        default:
            break;
        }
        *v = y;
    }
    if (by_mode[DLOR_INPUT_FEATURES] != DLOR_GRAPH_NONE && by_mode[DLOR_INPUT_IDS] != DLOR_GRAPH_NONE)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: model graph takes both features and token ids", what);
    if ((by_mode[DLOR_INPUT_MASK] != DLOR_GRAPH_NONE || by_mode[DLOR_INPUT_TYPE_IDS] != DLOR_GRAPH_NONE) &&
        by_mode[DLOR_INPUT_IDS] == DLOR_GRAPH_NONE)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: model graph takes a mask or token type ids but no token ids", what);
    if (noutputs == 0) return dlor_fail(err, DLOR_E_FORMAT, "%s: model graph has no output", what);
    if (in_dim) *in_dim = by_mode[DLOR_INPUT_FEATURES] != DLOR_GRAPH_NONE ? g->ops[by_mode[1]].features : 0;
    if (out_dim) *out_dim = first_out;
    return DLOR_OK;
}
