/* graph.c - the neutral model graph: building and checking it. */
#include "dlor_graph.h"

#include <math.h>
#include <stdio.h>
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

dlor_status dlor_graph_add_branch(dlor_graph *g, double weight, dlor_error *err)
{
    dlor_graph_op op = {DLOR_OP_BRANCH, NULL, NULL, DLOR_ACT_IDENTITY, weight};
    return push(g, &op, err);
}

dlor_status dlor_graph_add_merge(dlor_graph *g, const char *bias, dlor_error *err)
{
    dlor_graph_op op = {DLOR_OP_MERGE, NULL, (char *)bias, DLOR_ACT_IDENTITY, 0.0};
    return push(g, &op, err);
}

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

dlor_status dlor_graph_check(const dlor_graph *g, const dlor_tensor_list *t, const char *what,
                             uint64_t *in_dim, uint64_t *out_dim, dlor_error *err)
{
    const dlor_tensor **v = malloc((t->count ? t->count : 1) * sizeof *v);
    if (!v) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
    for (size_t i = 0; i < t->count; i++) v[i] = &t->items[i];
    qsort(v, t->count, sizeof *v, cmp_tensor_name);
    dlor_status st = check_sorted(g, v, t->count, what, in_dim, out_dim, err);
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
            return dlor_fail(err, DLOR_E_FORMAT, "%s: graph op %zu: unknown kind %d", what, i, (int)op->kind);
        const dlor_tensor *w = op->weight ? find_sorted(tv, nt, op->weight) : NULL;
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
        if (w->ndim != 2 || !dlor_dtype_is_float(w->dtype)) continue;
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

/* ---- the text form -------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

dlor_status dlor_graph_parse(const char *text, dlor_graph *g, dlor_error *err)
{
    size_t n = strlen(text);
    char *copy = malloc(n + 1);
    dlor_graph tmp;
    dlor_status st = DLOR_OK;
    if (!copy) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    memcpy(copy, text, n + 1);
    dlor_graph_init(&tmp);
    char *save = copy;
    for (size_t k = 0; st == DLOR_OK; k++) {
        char *semi = strchr(save, ';');
        if (semi) *semi = 0;
        char *op = trim(save), *arg = strchr(op, '(');
        if (arg) {
            char *close = strrchr(arg, ')');
            if (!close || trim(close + 1)[0]) {
                st = dlor_fail(err, DLOR_E_FORMAT, "graph text, operation %zu: unbalanced '(' in '%s'", k + 1, op);
                break;
            }
            *arg++ = 0;
            *close = 0;
            op = trim(op);
            arg = trim(arg);
        }
        if (strcmp(op, "linear") == 0 && arg) {
            char *comma = strchr(arg, ',');
            if (comma) *comma = 0;
            st = dlor_graph_add_linear(&tmp, trim(arg), comma ? trim(comma + 1) : NULL, err);
        } else if (strcmp(op, "softmax") == 0 && !arg) {
            st = dlor_graph_add_softmax(&tmp, err);
        } else if (strcmp(op, "merge") == 0) {
            st = dlor_graph_add_merge(&tmp, arg && *arg ? arg : NULL, err);
        } else if (strcmp(op, "branch") == 0 && arg) {
            char *end;
            double wgt = strtod(arg, &end);
            if (end == arg || *trim(end) || !isfinite(wgt)) {
                st = dlor_fail(err, DLOR_E_FORMAT, "graph text, operation %zu: branch weight '%s' is not a finite number",
                               k + 1, arg);
                break;
            }
            st = dlor_graph_add_branch(&tmp, wgt, err);
        } else if (dlor_act_from_name(op) >= 0) {
            double p = 0.0;
            int a = dlor_act_from_name(op);
            if (arg) {
                char *end;
                p = strtod(arg, &end);
                if (a != DLOR_ACT_LEAKY_RELU || end == arg || *trim(end)) {
                    st = dlor_fail(err, DLOR_E_FORMAT, "graph text, operation %zu: '%s' takes no argument '%s'",
                                   k + 1, op, arg);
                    break;
                }
            } else if (a == DLOR_ACT_LEAKY_RELU) {
                p = 0.01;
            }
            st = dlor_graph_add_act(&tmp, (dlor_act)a, p, err);
        } else if (*op || semi) {
            st = dlor_fail(err, DLOR_E_FORMAT, "graph text, operation %zu: unknown operation '%s'", k + 1, op);
        }
        if (!semi) break;
        save = semi + 1;
    }
    free(copy);
    if (st != DLOR_OK) {
        dlor_graph_free(&tmp);
        return st;
    }
    dlor_graph_free(g);
    *g = tmp;
    return DLOR_OK;
}
