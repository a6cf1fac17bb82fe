/* onnx_emit.c - handing back what the ONNX reader found: the tensors (with the
 * normalised copies of onnx_recover.c) and the recovered graph. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

int ox_is_dag(const ox_ctx *c)
{
    for (size_t i = 0; i < c->ops.n; i++)
        if (OP(c, i).kind == DLOR_OP_LAYERNORM || OP(c, i).kind == DLOR_OP_ADD) return 1;
    return 0;
}

/* 1 when name is the name of an initializer or of a copy already named
 * with a suffix (those are in c->dhash). */
static int name_taken(ox_ctx *c, const char *name)
{
    ox_str s = {(const unsigned char *)name, strlen(name)};
    long v = ox_lookup(c, s);
    if (v >= 0 && VAL(c, v).init >= 0) return 1;
    size_t m = c->dhash_cap - 1;
    for (size_t i = ox_hash_str(s) & m; c->dhash[i]; i = (i + 1) & m)
        if (strcmp(DER(c, c->dhash[i] - 1).name, name) == 0) return 1;
    return 0;
}

/* Names the copies and decides which replace their initializer. */
static dlor_status name_ders(ox_ctx *c)
{
    size_t cap = 16;
    while (cap < 2 * c->ders.n + 1) cap *= 2;
    c->dhash_cap = cap;
    c->dhash = calloc(cap, sizeof *c->dhash);
    if (!c->dhash) return ox_nomem(c);
    for (size_t i = 0; i < c->ders.n; i++) {
        ox_der *d = &DER(c, i);
        const ox_tensor *t = &INIT(c, d->src);
        long v = ox_lookup(c, t->name);
        d->replaces = c->der_count[d->src] == 1 && d->uses == VAL(c, v).nuse &&
                      !VAL(c, v).is_output && VAL(c, v).input < 0;
        d->name = malloc(DLOR_MAX_NAME + 1);
        if (!d->name) return ox_nomem(c);
        if (d->replaces) {
            memcpy(d->name, t->name.p, t->name.n);
            d->name[t->name.n] = 0;
            continue;
        }
        for (unsigned k = 1;; k++) {
            char suffix[24];
            int sl = snprintf(suffix, sizeof suffix, ".dlor%u", k);
            size_t base = t->name.n;
            if (base > DLOR_MAX_NAME - (size_t)sl) {
                base = DLOR_MAX_NAME - (size_t)sl;
                while (base > 0 && (t->name.p[base] & 0xc0) == 0x80) base--;
            }
            memcpy(d->name, t->name.p, base);
            memcpy(d->name + base, suffix, (size_t)sl + 1);
            if (!name_taken(c, d->name)) break;
        }
        ox_str ns = {(const unsigned char *)d->name, strlen(d->name)};
        size_t j = ox_hash_str(ns) & (cap - 1);
        while (c->dhash[j]) j = (j + 1) & (cap - 1);
        c->dhash[j] = (uint32_t)(i + 1);
    }
    return DLOR_OK;
}

static const char *ref_name(ox_ctx *c, long ref, const size_t *init_item)
{
    if (ref == REF_NONE) return NULL;
    if (ref >= 0) return c->out->items[init_item[ref]].name;
    return c->out->items[DER(c, -2 - ref).item].name;
}

/* Adds the tensors (normalised when 'graphed') to c->out, then the ops to
 * graph. */
dlor_status ox_emit(ox_ctx *c, int graphed, dlor_graph *graph)
{
    dlor_status s;
    long *rep = NULL;
    size_t *init_item = NULL;
    if (c->inits.n) {
        rep = malloc(c->inits.n * sizeof *rep);
        init_item = malloc(c->inits.n * sizeof *init_item);
        if (!rep || !init_item) {
            free(rep);
            free(init_item);
            return ox_nomem(c);
        }
        for (size_t i = 0; i < c->inits.n; i++) rep[i] = -1;
    }
    if (graphed) {
        if ((s = name_ders(c))) goto done;
        for (size_t i = 0; i < c->ders.n; i++) {
            ox_der *d = &DER(c, i);
            if (d->replaces) rep[d->src] = (long)i;
            if (d->block) {
                void *b = d->block;
                d->block = NULL;
                if ((s = dlor_tensor_list_own(c->out, b, c->err))) {
                    s = ox_nomem(c);
                    goto done;
                }
            }
        }
    }
    for (size_t i = 0; i < c->inits.n; i++) {
        const ox_tensor *t = &INIT(c, i);
        init_item[i] = c->out->count;
        if (rep[i] >= 0) {
            ox_der *d = &DER(c, rep[i]);
            d->item = c->out->count;
            s = dlor_tensor_list_add(c->out, c->what, (const char *)t->name.p, t->name.n, d->dt,
                                     d->ndim, d->dims, d->data, d->nbytes, c->err);
        } else {
            s = dlor_tensor_list_add(c->out, c->what, (const char *)t->name.p, t->name.n, t->dt,
                                     t->ndim, t->dims, t->data, t->nbytes, c->err);
        }
        if (s) goto done;
    }
    for (size_t i = 0; graphed && i < c->ders.n; i++) {
        ox_der *d = &DER(c, i);
        if (d->replaces) continue;
        d->item = c->out->count;
        if ((s = dlor_tensor_list_add(c->out, c->what, d->name, strlen(d->name), d->dt, d->ndim,
                                      d->dims, d->data, d->nbytes, c->err)))
            goto done;
    }
    if ((s = dlor_tensor_list_check_unique(c->out, c->what, c->err))) goto done;
    int dag = graphed && ox_is_dag(c);
    if (dag) { /* a graph of values: the input, then op i reads value i (see ox_op) */
        char name[96];
        long in = -1;
        for (size_t i = 0; i < c->ginputs.n && in < 0; i++)
            if (VAL(c, ox_lookup(c, GIN(c, i).name)).init < 0) in = (long)i;
        snprintf(name, sizeof name, "%s", ox_s(c, GIN(c, in).name));
        if ((s = dlor_graph_input(graph, name, DLOR_INPUT_FEATURES, c->feat0, NULL, c->err))) {
            dlor_error_prefix(c->err, c->what);
            goto done;
        }
    }
    for (size_t i = 0; graphed && i < c->ops.n; i++) {
        const ox_op *o = &OP(c, i);
        uint32_t x = (uint32_t)i;
        if (dag && o->kind == DLOR_OP_LINEAR)
            s = dlor_graph_linear(graph, x, ref_name(c, o->w, init_item), ref_name(c, o->b, init_item), NULL, c->err);
        else if (dag && o->kind == DLOR_OP_ACT) s = dlor_graph_act(graph, x, o->act, o->param, NULL, c->err);
        else if (dag && o->kind == DLOR_OP_SOFTMAX) s = dlor_graph_softmax(graph, x, NULL, c->err);
        else if (o->kind == DLOR_OP_LAYERNORM)
            s = dlor_graph_layernorm(graph, x, ref_name(c, o->w, init_item), ref_name(c, o->b, init_item), o->param,
                                     NULL, c->err);
        else if (o->kind == DLOR_OP_ADD) s = dlor_graph_add(graph, x, (uint32_t)o->in1, NULL, c->err);
        else if (o->kind == DLOR_OP_LINEAR)
            s = dlor_graph_add_linear(graph, ref_name(c, o->w, init_item), ref_name(c, o->b, init_item),
                                      c->err);
        else if (o->kind == DLOR_OP_ACT) s = dlor_graph_add_act(graph, o->act, o->param, c->err);
        else s = dlor_graph_add_softmax(graph, c->err);
        if (s) {
            dlor_error_prefix(c->err, c->what);
            goto done;
        }
    }
    if (dag) {
        char name[96];
        snprintf(name, sizeof name, "%s", ox_s(c, GOUT(c, 0)));
        if ((s = dlor_graph_output(graph, name, (uint32_t)c->ops.n, c->err))) {
            dlor_error_prefix(c->err, c->what);
            goto done;
        }
    }
    if (graphed) {
        dlor_error e;
        dlor_status cs = dlor_graph_check(graph, c->out, c->what, NULL, NULL, &e);
        if (cs == DLOR_E_NOMEM) { /* an error, not a reason to go without a graph */
            s = dlor_fail(c->err, cs, "%s", e.msg);
            goto done;
        }
        if (cs != DLOR_OK) {
            /* should not happen: the walk checked the shapes already */
            size_t wl = strlen(c->what);
            const char *m = strncmp(e.msg, c->what, wl) == 0 && e.msg[wl] == ':' ? e.msg + wl + 2 : e.msg;
            ox_why(c, "%s", m);
            dlor_graph_free(graph);
        }
    }
    s = DLOR_OK;
done:
    free(rep);
    free(init_item);
    return s;
}
