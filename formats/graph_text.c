/* graph_text.c - the text form of a model graph (safetensors metadata
 * "dlor.graph"): parsing it and writing it (grammar in dlor_graph.h). */
#include "dlor_graph.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

/* A finite number filling the whole of s. */
static int number(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return end != s && *end == 0 && isfinite(*v);
}

/* ---- chains (the form of format 1.1-1.4) --------------------------------- */

static dlor_status parse_chain_op(dlor_graph *g, size_t k, char *op, char *arg, int semi, dlor_error *err)
{
    if (strcmp(op, "linear") == 0 && arg) {
        char *comma = strchr(arg, ',');
        if (comma) *comma = 0;
        return dlor_graph_add_linear(g, trim(arg), comma ? trim(comma + 1) : NULL, err);
    }
    if (strcmp(op, "softmax") == 0 && !arg) return dlor_graph_add_softmax(g, err);
    if (strcmp(op, "merge") == 0) return dlor_graph_add_merge(g, arg && *arg ? arg : NULL, err);
    if (strcmp(op, "branch") == 0 && arg) {
        double wgt;
        if (!number(arg, &wgt))
            return dlor_fail(err, DLOR_E_FORMAT, "graph text, operation %zu: branch weight '%s' is not a finite number",
                             k + 1, arg);
        return dlor_graph_add_branch(g, wgt, err);
    }
    int a = dlor_act_from_name(op);
    if (a >= 0) {
        double p = a == DLOR_ACT_LEAKY_RELU ? 0.01 : 0.0;
        if (arg) {
            char *end;
            p = strtod(arg, &end);
            if (a != DLOR_ACT_LEAKY_RELU || end == arg || *trim(end))
                return dlor_fail(err, DLOR_E_FORMAT, "graph text, operation %zu: '%s' takes no argument '%s'", k + 1, op,
                                 arg);
        }
        return dlor_graph_add_act(g, (dlor_act)a, p, err);
    }
    if (*op || semi) {
        if (strcmp(op, "input") == 0 || op[0] == '%')
            return dlor_fail(err, DLOR_E_FORMAT,
                             "graph text, operation %zu: a graph with values starts with its input(...) declarations",
                             k + 1);
        return dlor_fail(err, DLOR_E_FORMAT, "graph text, operation %zu: unknown operation '%s'", k + 1, op);
    }
    return DLOR_OK;
}

/* ---- DAGs ------------------------------------------------------------------ */

#define MAX_ARGS 16

typedef struct {
    char *names;               /* value names, NUL-separated, in 'ids' order */
    size_t *off;               /* offset of each name in 'names' */
    uint32_t *ids;
    size_t n, cap, len, names_cap;
} name_table;

static void names_free(name_table *t)
{
    free(t->names);
    free(t->off);
    free(t->ids);
}

static long name_find(const name_table *t, const char *s)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->names + t->off[i], s) == 0) return (long)t->ids[i];
    return -1;
}

static int name_add(name_table *t, const char *s, uint32_t id)
{
    size_t n = strlen(s) + 1;
    if (t->n == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 16;
        size_t *o = realloc(t->off, nc * sizeof *o);
        if (!o) return -1;
        t->off = o;
        uint32_t *d = realloc(t->ids, nc * sizeof *d);
        if (!d) return -1;
        t->ids = d;
        t->cap = nc;
    }
    if (t->len + n > t->names_cap) {
        size_t nc = t->names_cap ? 2 * t->names_cap : 256;
        while (nc < t->len + n) nc *= 2;
        char *p = realloc(t->names, nc);
        if (!p) return -1;
        t->names = p;
        t->names_cap = nc;
    }
    memcpy(t->names + t->len, s, n);
    t->off[t->n] = t->len;
    t->ids[t->n++] = id;
    t->len += n;
    return 0;
}

typedef struct {
    dlor_graph *g;
    name_table names;
    size_t k;                  /* statement number, from 0 */
    dlor_error *err;
} dag_parser;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static dlor_status pfail(const dag_parser *p, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dlor_fail(p->err, DLOR_E_FORMAT, "graph text, operation %zu: %s", p->k + 1, msg);
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

/* The value %s refers to: a name, or a number (the value's index). */
static dlor_status value_ref(const dag_parser *p, const char *s, uint32_t *v)
{
    long id = all_digits(s) ? (strlen(s) < 10 ? atol(s) : -1) : name_find(&p->names, s);
    if (id < 0 || (size_t)id >= p->g->count) return pfail(p, "unknown value '%%%s'", s);
    *v = (uint32_t)id;
    return DLOR_OK;
}

/* The value the op before made (the last one that is not an output). */
static dlor_status previous(const dag_parser *p, uint32_t *v)
{
    size_t i = p->g->count;
    while (i > 0 && p->g->ops[i - 1].kind == DLOR_OP_OUTPUT) i--;
    if (i == 0) return pfail(p, "there is no value before it to apply it to");
    *v = (uint32_t)(i - 1);
    return DLOR_OK;
}

typedef struct {
    uint32_t vals[DLOR_GRAPH_MAX_IN];
    size_t nvals;
    char *words[MAX_ARGS];
    size_t nwords;
    char *keys[MAX_ARGS], *kvals[MAX_ARGS];
    size_t nkeys;
} op_args;

/* Splits the argument text into values (%X, first), words, and KEY=VALUE. */
static dlor_status split_args(const dag_parser *p, char *arg, op_args *a)
{
    memset(a, 0, sizeof *a);
    if (!arg || !*arg) return DLOR_OK;
    for (char *s = arg;;) {
        char *comma = strchr(s, ',');
        if (comma) *comma = 0;
        char *t = trim(s), *eq = strchr(t, '=');
        if (!*t) return pfail(p, "an empty argument");
        if (t[0] == '%') {
            if (a->nvals == DLOR_GRAPH_MAX_IN) return pfail(p, "more than %d values", DLOR_GRAPH_MAX_IN);
            dlor_status st = value_ref(p, trim(t + 1), &a->vals[a->nvals]);
            if (st != DLOR_OK) return st;
            a->nvals++;
        } else if (eq) {
            if (a->nkeys == MAX_ARGS) return pfail(p, "too many arguments");
            *eq = 0;
            a->keys[a->nkeys] = trim(t);
            a->kvals[a->nkeys++] = trim(eq + 1);
        } else {
            if (a->nwords == MAX_ARGS) return pfail(p, "too many arguments");
            a->words[a->nwords++] = t;
        }
        if (!comma) break;
        s = comma + 1;
    }
    return DLOR_OK;
}

/* Takes the attribute 'key' (a finite number) out of a; returns 0 when absent. */
static int take_key(op_args *a, const char *key, char **val)
{
    for (size_t i = 0; i < a->nkeys; i++)
        if (a->keys[i] && strcmp(a->keys[i], key) == 0) {
            *val = a->kvals[i];
            a->keys[i] = NULL;
            return 1;
        }
    return 0;
}

static dlor_status take_number(const dag_parser *p, op_args *a, const char *key, double *v)
{
    char *s;
    if (!take_key(a, key, &s)) return DLOR_OK;
    if (!number(s, v)) return pfail(p, "%s=%s is not a finite number", key, s);
    return DLOR_OK;
}

static dlor_status take_count(const dag_parser *p, op_args *a, const char *key, uint32_t *v)
{
    double d = 0;
    dlor_status st = take_number(p, a, key, &d);
    if (st != DLOR_OK) return st;
    if (d != 0 && (d < 1 || d > 4294967295.0 || d != floor(d))) return pfail(p, "%s must be a positive integer", key);
    if (d != 0) *v = (uint32_t)d;
    return DLOR_OK;
}

/* Every argument was used. */
static dlor_status all_used(const dag_parser *p, const op_args *a, size_t words_used, const char *op)
{
    for (size_t i = 0; i < a->nkeys; i++)
        if (a->keys[i]) return pfail(p, "%s takes no attribute '%s'", op, a->keys[i]);
    if (a->nwords > words_used) return pfail(p, "%s takes no argument '%s'", op, a->words[words_used]);
    return DLOR_OK;
}

/* The values of an op that reads need (+ may) of them: given, or with the
 * value before in front when the first one is left out. */
static dlor_status op_values(const dag_parser *p, op_args *a, size_t need, size_t may, const char *op)
{
    if (a->nvals + 1 == need || (need == 1 && a->nvals == 0)) {
        memmove(a->vals + 1, a->vals, a->nvals * sizeof a->vals[0]);
        dlor_status st = previous(p, &a->vals[0]);
        if (st != DLOR_OK) return st;
        a->nvals++;
    }
    if (a->nvals < need || a->nvals > need + may)
        return pfail(p, "%s reads %zu value%s, not %zu", op, need, may ? " or more" : need == 1 ? "" : "s", a->nvals);
    return DLOR_OK;
}

static dlor_status parse_dag_op(dag_parser *p, const char *lhs, char *op, char *arg)
{
    dlor_graph *g = p->g;
    op_args a;
    dlor_graph_op o;
    dlor_status st = split_args(p, arg, &a);
    if (st != DLOR_OK) return st;
    memset(&o, 0, sizeof o);
    for (int k = 0; k < DLOR_GRAPH_MAX_IN; k++) o.in[k] = DLOR_GRAPH_NONE;
    size_t used = 0;
    int act = dlor_act_from_name(op);
    if (strcmp(op, "input") == 0) {
        static const char *const modes[] = {NULL, "features", "ids", "mask", "type_ids"};
        if (lhs) return pfail(p, "an input is named by its first argument, not by '%%%s ='", lhs);
        if (a.nvals || a.nwords < 2) return pfail(p, "input takes NAME, MODE (features, ids, mask, type_ids)[, F]");
        o.kind = DLOR_OP_INPUT;
        o.name = a.words[0];
        for (int m = 1; m <= 4; m++)
            if (strcmp(a.words[1], modes[m]) == 0) o.mode = m;
        if (!o.mode) return pfail(p, "unknown input mode '%s' (features, ids, mask, type_ids)", a.words[1]);
        used = 2;
        if (o.mode == DLOR_INPUT_FEATURES) {
            double f;
            if (a.nwords < 3 || !number(a.words[2], &f) || f < 1 || f != floor(f) || f > 1e18)
                return pfail(p, "a features input takes its feature count: input(NAME, features, F)");
            o.features = (uint64_t)f;
            used = 3;
        }
        if (p->g->count && p->g->ops[p->g->count - 1].kind != DLOR_OP_INPUT)
            return pfail(p, "the inputs come first");
        lhs = o.name;
    } else if (strcmp(op, "output") == 0) {
        if (lhs) return pfail(p, "an output makes no value to name");
        if (a.nwords < 1) return pfail(p, "output takes NAME[, %%VALUE]");
        o.kind = DLOR_OP_OUTPUT;
        o.name = a.words[0];
        used = 1;
        if ((st = op_values(p, &a, 1, 0, op)) != DLOR_OK) return st;
    } else if (strcmp(op, "linear") == 0) {
        o.kind = DLOR_OP_LINEAR;
        if ((st = op_values(p, &a, 1, 0, op)) != DLOR_OK) return st;
        if (a.nwords < 1) return pfail(p, "linear takes WEIGHT[, BIAS]");
        o.weight = a.words[0];
        o.bias = a.nwords > 1 ? a.words[1] : NULL;
        used = 2;
    } else if (act >= 0) {
        o.kind = DLOR_OP_ACT;
        o.act = (dlor_act)act;
        if ((st = op_values(p, &a, 1, 0, op)) != DLOR_OK) return st;
        if (act == DLOR_ACT_LEAKY_RELU) {
            o.param = 0.01;
            if (a.nwords && !number(a.words[0], &o.param)) return pfail(p, "leaky_relu slope '%s' is not a number", a.words[0]);
            used = 1;
        }
    } else if (strcmp(op, "softmax") == 0 || strcmp(op, "l2norm") == 0) {
        o.kind = op[0] == 's' ? DLOR_OP_SOFTMAX : DLOR_OP_L2NORM;
        if ((st = op_values(p, &a, 1, 0, op)) != DLOR_OK) return st;
        if (o.kind == DLOR_OP_L2NORM) {
            o.param = 1e-12;
            if ((st = take_number(p, &a, "eps", &o.param)) != DLOR_OK) return st;
        }
    } else if (strcmp(op, "embed") == 0 || strcmp(op, "pos_embed") == 0) {
        o.kind = op[0] == 'e' ? DLOR_OP_EMBED : DLOR_OP_POS_EMBED;
        if (a.nvals != 1 || a.nwords < 1) return pfail(p, "%s takes %%IDS, TABLE", op);
        o.weight = a.words[0];
        used = 1;
    } else if (strcmp(op, "add") == 0 || strcmp(op, "mul") == 0) {
        o.kind = op[0] == 'a' ? DLOR_OP_ADD : DLOR_OP_MUL;
        if ((st = op_values(p, &a, 2, 0, op)) != DLOR_OK) return st;
    } else if (strcmp(op, "scale") == 0) {
        o.kind = DLOR_OP_SCALE;
        if ((st = op_values(p, &a, 1, 0, op)) != DLOR_OK) return st;
        if (a.nwords < 1 || !number(a.words[0], &o.param)) return pfail(p, "scale takes FACTOR[, BIAS]");
        o.bias = a.nwords > 1 ? a.words[1] : NULL;
        used = 2;
    } else if (strcmp(op, "layernorm") == 0 || strcmp(op, "rmsnorm") == 0) {
        int ln = op[0] == 'l';
        char *s;
        o.kind = ln ? DLOR_OP_LAYERNORM : DLOR_OP_RMSNORM;
        o.param = ln ? 1e-5 : 1e-6;
        if ((st = op_values(p, &a, 1, 0, op)) != DLOR_OK) return st;
        o.weight = a.nwords > 0 ? a.words[0] : NULL;
        o.bias = ln && a.nwords > 1 ? a.words[1] : NULL;
        used = ln ? 2 : 1;
        if (take_key(&a, "weight", &s)) o.weight = s;
        if (ln && take_key(&a, "bias", &s)) o.bias = s;
        if ((st = take_number(p, &a, "eps", &o.param)) != DLOR_OK) return st;
    } else if (strcmp(op, "attention") == 0) {
        o.kind = DLOR_OP_ATTENTION;
        if (a.nvals < 3) return pfail(p, "attention takes %%Q, %%K, %%V[, %%MASK], heads=H, ...");
        if ((st = op_values(p, &a, 3, 1, op)) != DLOR_OK) return st;
        if ((st = take_count(p, &a, "heads", &o.heads)) != DLOR_OK ||
            (st = take_count(p, &a, "kv_heads", &o.kv_heads)) != DLOR_OK ||
            (st = take_number(p, &a, "rope_theta", &o.rope_theta)) != DLOR_OK ||
            (st = take_number(p, &a, "scale", &o.param)) != DLOR_OK)
            return st;
        if (!o.heads) return pfail(p, "attention needs heads=H");
        if (!o.kv_heads) o.kv_heads = o.heads;
        if (a.nwords && strcmp(a.words[0], "causal") == 0) {
            o.causal = 1;
            used = 1;
        }
    } else if (strcmp(op, "pool") == 0) {
        o.kind = DLOR_OP_POOL;
        o.mode = DLOR_POOL_MEAN;
        /* a single value is the mask when it is the mask input */
        if (a.nvals == 1 && g->ops[a.vals[0]].kind == DLOR_OP_INPUT && g->ops[a.vals[0]].mode == DLOR_INPUT_MASK) {
            a.vals[1] = a.vals[0];
            if ((st = previous(p, &a.vals[0])) != DLOR_OK) return st;
            a.nvals = 2;
        }
        if ((st = op_values(p, &a, 1, 1, op)) != DLOR_OK) return st;
        if (a.nwords) {
            if (strcmp(a.words[0], "mean") == 0) o.mode = DLOR_POOL_MEAN;
            else if (strcmp(a.words[0], "cls") == 0) o.mode = DLOR_POOL_CLS;
            else return pfail(p, "unknown pooling '%s' (mean, cls)", a.words[0]);
            used = 1;
        }
    } else {
        return pfail(p, "unknown operation '%s'", op);
    }
    if ((st = all_used(p, &a, used, op)) != DLOR_OK) return st;
    for (size_t k = 0; k < a.nvals; k++) o.in[k] = a.vals[k];
    if (lhs) {
        if (!*lhs) return pfail(p, "an empty value name");
        if (all_digits(lhs)) { /* %N names value N, which only op N makes */
            if (strlen(lhs) > 9 || (size_t)atol(lhs) != g->count)
                return pfail(p, "'%%%s' is the number of another value (this op makes %%%zu)", lhs, g->count);
        } else {
            if (name_find(&p->names, lhs) >= 0) return pfail(p, "value '%%%s' is named twice", lhs);
            if (name_add(&p->names, lhs, (uint32_t)g->count) != 0)
                return dlor_fail(p->err, DLOR_E_NOMEM, "out of memory");
        }
    }
    return dlor_graph_push(g, &o, NULL, p->err);
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
    dag_parser p;
    memset(&p, 0, sizeof p);
    p.g = &tmp;
    p.err = err;
    int dag = -1; /* decided by the first statement */
    char *save = copy;
    for (size_t k = 0; st == DLOR_OK; k++) {
        char *semi = strchr(save, ';');
        if (semi) *semi = 0;
        char *op = trim(save), *arg = strchr(op, '('), *lhs = NULL;
        p.k = k;
        if (dag != 0 && op[0] == '%') { /* %NAME = OP(...) */
            char *eq = strchr(op, '=');
            if (!eq || (arg && eq > arg)) {
                st = pfail(&p, "'%s' names a value but has no '='", op);
                break;
            }
            *eq = 0;
            lhs = trim(op + 1);
            op = trim(eq + 1);
        }
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
        if (dag < 0 && (*op || semi)) dag = strcmp(op, "input") == 0;
        if (lhs && dag != 1) {
            st = pfail(&p, "a graph with values starts with its input(...) declarations");
            break;
        }
        if (dag == 1) {
            if (*op) st = parse_dag_op(&p, lhs, op, arg);
            else if (semi) st = pfail(&p, "an empty operation");
        } else {
            st = parse_chain_op(&tmp, k, op, arg, semi != NULL, err);
        }
        if (!semi) break;
        save = semi + 1;
    }
    free(copy);
    names_free(&p.names);
    if (st != DLOR_OK) {
        dlor_graph_free(&tmp);
        return st;
    }
    dlor_graph_free(g);
    *g = tmp;
    return DLOR_OK;
}

/* ---- writing the text form -------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    int fail;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void put(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->fail) return;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->fail = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = b->cap ? 2 * b->cap : 256;
        while (nc <= b->len + (size_t)n) nc *= 2;
        char *p = realloc(b->s, nc);
        if (!p) {
            b->fail = 1;
            return;
        }
        b->s = p;
        b->cap = nc;
    }
}

/* A name the text form can carry back unchanged. */
static int plain(const char *s, int dag)
{
    size_t n = strlen(s);
    if (!n || isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1])) return 0;
    return strpbrk(s, dag ? ",;()=%\t\n" : ",;()\t\n") == NULL;
}

dlor_status dlor_graph_to_text(const dlor_graph *g, char **text, dlor_error *err)
{
    static const char *const modes[] = {"", "features", "ids", "mask", "type_ids"};
    sbuf b = {NULL, 0, 0, 0};
    int dag = dlor_graph_is_dag(g);
    put(&b, "%s", "");
    for (size_t i = 0; i < g->count; i++) {
        const dlor_graph_op *o = &g->ops[i];
        const char *names[3] = {o->weight, o->bias, o->name};
        for (int k = 0; k < 3; k++)
            if (names[k] && !plain(names[k], dag)) {
                free(b.s);
                return dlor_fail(err, DLOR_E_UNSUPPORTED,
                                 "name '%s' cannot be written in a graph's text form (it holds one of ; , ( ) = %% "
                                 "or a space)", names[k]);
            }
        if (i) put(&b, ";");
        if (!dag) {
            if (o->kind == DLOR_OP_LINEAR) put(&b, o->bias ? "linear(%s,%s)" : "linear(%s)", o->weight, o->bias);
            else if (o->kind == DLOR_OP_ACT && o->act == DLOR_ACT_LEAKY_RELU) put(&b, "leaky_relu(%.17g)", o->param);
            else if (o->kind == DLOR_OP_ACT) put(&b, "%s", dlor_act_name(o->act));
            else if (o->kind == DLOR_OP_BRANCH) put(&b, "branch(%.17g)", o->param);
            else if (o->kind == DLOR_OP_MERGE) put(&b, o->bias ? "merge(%s)" : "merge", o->bias);
            else put(&b, "%s", dlor_op_name(o->kind));
            continue;
        }
        if (o->kind == DLOR_OP_INPUT) {
            put(&b, "input(%s, %s", o->name, o->mode >= 1 && o->mode <= 4 ? modes[o->mode] : "?");
            if (o->mode == DLOR_INPUT_FEATURES) put(&b, ", %llu", (unsigned long long)o->features);
            put(&b, ")");
            continue;
        }
        if (o->kind == DLOR_OP_OUTPUT) {
            put(&b, "output(%s, %%%u)", o->name, (unsigned)o->in[0]);
            continue;
        }
        put(&b, "%%%zu = %s(", i, o->kind == DLOR_OP_ACT ? dlor_act_name(o->act) : dlor_op_name(o->kind));
        int first = 1;
        for (int k = 0; k < DLOR_GRAPH_MAX_IN; k++)
            if (o->in[k] != DLOR_GRAPH_NONE) {
                put(&b, "%s%%%u", first ? "" : ", ", (unsigned)o->in[k]);
                first = 0;
            }
        switch (o->kind) {
        case DLOR_OP_LINEAR:
        case DLOR_OP_EMBED:
        case DLOR_OP_POS_EMBED:
            put(&b, ", %s", o->weight);
            if (o->bias) put(&b, ", %s", o->bias);
            break;
        case DLOR_OP_ACT:
            if (o->act == DLOR_ACT_LEAKY_RELU) put(&b, ", %.17g", o->param);
            break;
        case DLOR_OP_SCALE:
            put(&b, ", %.17g", o->param);
            if (o->bias) put(&b, ", %s", o->bias);
            break;
        case DLOR_OP_LAYERNORM:
        case DLOR_OP_RMSNORM:
            if (o->weight) put(&b, ", weight=%s", o->weight);
            if (o->bias) put(&b, ", bias=%s", o->bias);
            put(&b, ", eps=%.17g", o->param);
            break;
        case DLOR_OP_L2NORM:
            put(&b, ", eps=%.17g", o->param);
            break;
        case DLOR_OP_ATTENTION:
            if (o->causal) put(&b, ", causal");
            put(&b, ", heads=%u, kv_heads=%u", (unsigned)o->heads, (unsigned)o->kv_heads);
            if (o->rope_theta != 0.0) put(&b, ", rope_theta=%.17g", o->rope_theta);
            if (o->param != 0.0) put(&b, ", scale=%.17g", o->param);
            break;
        case DLOR_OP_POOL:
            put(&b, ", %s", o->mode == DLOR_POOL_CLS ? "cls" : "mean");
            break;
        default:
            break;
        }
        put(&b, ")");
    }
    if (b.fail) {
        free(b.s);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    *text = b.s;
    return DLOR_OK;
}
