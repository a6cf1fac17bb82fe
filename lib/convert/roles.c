/* roles.c - tensor roles and convert's default selection (convert_roles.h). */
#include "convert_roles.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

const char *dlor_role_name(dlor_tensor_role r)
{
    switch (r) {
    case DLOR_ROLE_LINEAR: return "linear";
    case DLOR_ROLE_EMBEDDING: return "embedding";
    case DLOR_ROLE_NORM: return "norm";
    default: return "other";
    }
}

/* Case-insensitive substring test. */
static int has_word(const char *name, const char *w)
{
    size_t n = strlen(name), k = strlen(w);
    for (size_t i = 0; i + k <= n; i++) {
        size_t j = 0;
        while (j < k && tolower((unsigned char)name[i + j]) == w[j]) j++;
        if (j == k) return 1;
    }
    return 0;
}

/* Does a dot- or slash-separated component of name satisfy pred? */
static int any_component(const char *name, int (*pred)(const char *c, size_t len))
{
    const char *p = name;
    while (*p) {
        size_t len = strcspn(p, "./");
        if (len && pred(p, len)) return 1;
        p += len;
        if (*p) p++;
    }
    return 0;
}

static int is_gpt_table(const char *c, size_t len)
{
    return len == 3 && (memcmp(c, "wte", 3) == 0 || memcmp(c, "wpe", 3) == 0);
}

/* ln, ln_f, ln_1, ln1, ln2 ...: GPT-style norm modules */
static int is_ln(const char *c, size_t len)
{
    if (len < 2 || c[0] != 'l' || c[1] != 'n') return 0;
    return len == 2 || c[2] == '_' || isdigit((unsigned char)c[2]);
}

static int named_embedding(const char *name)
{
    return has_word(name, "embed") || has_word(name, "position") || has_word(name, "token_type") ||
           any_component(name, is_gpt_table);
}

static int named_norm(const char *name)
{
    return has_word(name, "norm") || any_component(name, is_ln);
}

dlor_tensor_role dlor_tensor_role_of(const dlor_tensor *t, const dlor_graph *g)
{
    int in_graph_linear = 0;
    if (g && g->count) {
        if (dlor_graph_is_table(g, t->name)) return DLOR_ROLE_EMBEDDING;
        for (size_t i = 0; i < g->count; i++) {
            const dlor_graph_op *op = &g->ops[i];
            int names_it = (op->weight && strcmp(op->weight, t->name) == 0) ||
                           (op->bias && strcmp(op->bias, t->name) == 0);
            if (!names_it) continue;
            if (op->kind == DLOR_OP_LAYERNORM || op->kind == DLOR_OP_RMSNORM) return DLOR_ROLE_NORM;
            if (op->kind == DLOR_OP_LINEAR && op->weight && strcmp(op->weight, t->name) == 0) in_graph_linear = 1;
        }
        if (in_graph_linear && t->ndim == 2) return DLOR_ROLE_LINEAR;
    }
    /* integer tensors (position_ids, buffers) are indices or counts, never weights */
    if (!dlor_dtype_is_float(t->dtype)) return DLOR_ROLE_OTHER;
    if (named_embedding(t->name)) return DLOR_ROLE_EMBEDDING;
    if (named_norm(t->name)) return DLOR_ROLE_NORM;
    if (g && g->count) return DLOR_ROLE_OTHER; /* the graph does not multiply by it */
    if (t->ndim == 2 && t->dims[0] > 1 && t->dims[1] > 1 && dlor_dtype_is_float(t->dtype)) return DLOR_ROLE_LINEAR;
    return DLOR_ROLE_OTHER;
}

static int matches_any(const char *const *globs, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (fnmatch(globs[i], name, 0) == 0) return 1;
    return 0;
}

size_t dlor_convert_select(const dlor_tensor_list *src, const dlor_graph *g, const char *const *include,
                           int ninclude, const char *const *exclude, int nexclude, const char *in, int *selected,
                           const dlor_convert_hooks *hooks)
{
    size_t n = 0;
    for (size_t i = 0; i < src->count; i++) {
        const dlor_tensor *t = &src->items[i];
        selected[i] = 0;
        if (matches_any(exclude, nexclude, t->name)) continue;
        if (ninclude == 0) {
            selected[i] = dlor_tensor_role_of(t, g) == DLOR_ROLE_LINEAR && t->nelem > 0;
            n += (size_t)selected[i];
            continue;
        }
        if (t->ndim != 2 || !matches_any(include, ninclude, t->name)) continue;
        const char *why = NULL;
        if (g && g->count && dlor_graph_is_table(g, t->name)) why = "a table an embedding lookup of the graph reads";
        else if (!dlor_dtype_is_float(t->dtype)) why = "not a float tensor";
        else if (t->nelem == 0) why = "empty";
        if (why) {
            dlor_hooks_line(hooks, 1, "note: %s: tensor '%s' is %s, carried over unchanged", in, t->name, why);
            continue;
        }
        selected[i] = 1;
        n++;
    }
    return n;
}
