/* verify_network.c - dlor verify on network-form files (dlor.form = network): what
 * became of each dense layer, and the end-to-end check of the dense model (the
 * source with its own graph) against the network, in the factors' precision. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "dlor_graph_eval.h"
#include "dlor_readers.h"
#include "dlor_splitmix.h"
#include "model_load.h"
#include "verify_result.h"

static const char *meta(const dlor_container *c, const char *key)
{
    for (size_t i = 0; i < c->tensors.meta_count; i++)
        if (strcmp(c->tensors.meta_keys[i], key) == 0) return c->tensors.meta_vals[i];
    return NULL;
}

int dlor_verify_is_network(const dlor_container *c)
{
    const char *f = meta(c, "dlor.form");
    return f && strcmp(f, "network") == 0;
}

void dlor_verify_net_free(verify_network *n)
{
    if (!n) return;
    free(n->layers);
    free(n);
}

/* Is name '<W>.deep.<digits>' / '<W>.wide.<digits>' (rest_any: '<W>.deep.' / '<W>.wide.'
 * followed by anything) for the dense weight W? Returns "deep", "wide" or NULL. */
static const char *sub_of(const char *name, const char *w, int rest_any)
{
    size_t n = strlen(w);
    if (strncmp(name, w, n) != 0) return NULL;
    const char *kind = NULL;
    if (strncmp(name + n, ".deep.", 6) == 0) kind = "deep";
    else if (strncmp(name + n, ".wide.", 6) == 0) kind = "wide";
    if (!kind) return NULL;
    const char *q = name + n + 6;
    if (rest_any) return *q ? kind : NULL;
    if (!*q) return NULL;
    for (; *q; q++)
        if (*q < '0' || *q > '9') return NULL;
    return kind;
}

/* The dense layer a name of the network belongs to: itself (*kind NULL) or as one of
 * its sub-layers / construction tensors; the longest matching weight wins. -1: none. */
static long owner(const verify_network *n, const char *name, int rest_any, const char **kind)
{
    long best = -1;
    size_t blen = 0;
    *kind = NULL;
    for (size_t i = 0; i < n->nlayers; i++) {
        const char *w = n->layers[i].name, *k = NULL;
        size_t len = strlen(w);
        int self = strcmp(name, w) == 0;
        if (!self && !(k = sub_of(name, w, rest_any))) continue;
        if (best < 0 || len > blen) {
            best = (long)i;
            blen = len;
            *kind = self ? NULL : k;
        }
    }
    return best;
}

int dlor_verify_net_sublayer(const verify_network *n, const char *name)
{
    const char *kind;
    return n && owner(n, name, 0, &kind) >= 0 && kind != NULL;
}

int dlor_verify_net_made(const verify_network *n, const char *name)
{
    const char *kind;
    return n && owner(n, name, 1, &kind) >= 0 && kind != NULL;
}

int dlor_verify_net_replaced(const verify_network *n, const char *name)
{
    for (size_t i = 0; n && i < n->nlayers; i++) {
        const verify_net_layer *L = &n->layers[i];
        if (strcmp(L->name, name) == 0) return strcmp(L->form, "deep") == 0 || strcmp(L->form, "wide") == 0;
    }
    return 0;
}

/* Tensors counted once: a small set of names. */
typedef struct {
    const char **names;
    size_t n, cap;
} name_set;

static int set_add(name_set *s, const char *name, dlor_error *err, dlor_status *st)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) return 0;
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 64;
        const char **p = realloc(s->names, nc * sizeof *p);
        if (!p) {
            *st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
            return 0;
        }
        s->names = p;
        s->cap = nc;
    }
    s->names[s->n++] = name;
    return 1;
}

/* Adds tensor 'name' of tl to *params / *bytes unless counted before. */
static void count_tensor(name_set *seen, const dlor_tensor_list *tl, const char *name, uint64_t *params,
                         uint64_t *bytes, dlor_error *err, dlor_status *st)
{
    if (!name || *st != DLOR_OK) return;
    const dlor_tensor *t = dlor_tensor_list_find(tl, name);
    if (t && set_add(seen, name, err, st)) {
        *params += t->nelem;
        *bytes += t->nbytes;
    }
}

static void add_problem(verify_result *r, const char *line)
{
    char **p = realloc(r->problems, (r->nproblems + 1) * sizeof *p);
    if (!p) return;
    r->problems = p;
    r->problems[r->nproblems] = malloc(strlen(line) + 1);
    if (r->problems[r->nproblems]) strcpy(r->problems[r->nproblems++], line);
}

/* The dense model's graph as convert resolved it: the source's own graph (ONNX),
 * its dlor.graph metadata, or nn.Sequential names with the activation the network
 * uses (or --activation). */
static dlor_status dense_graph(const char *in, const char *out, const dlor_container *c, const char *activation,
                               const dlor_tensor_list *src, dlor_graph *g, verify_network *n, dlor_error *err)
{
    char why[512] = "", actbuf[64] = "";
    const char *source = NULL, *recorded = meta(c, "dlor.graph_source");
    const char *act = activation;
    if (!act && !g->count) {
        /* every activation of a graph made from names is the same one, and the network
         * keeps it between and after its sub-layers */
        for (size_t i = 0; i < c->graph.count; i++) {
            const dlor_graph_op *op = &c->graph.ops[i];
            if (op->kind == DLOR_OP_ACT && op->act != DLOR_ACT_IDENTITY) {
                snprintf(actbuf, sizeof actbuf, "%s", dlor_act_name(op->act));
                act = actbuf;
                break;
            }
        }
    }
    dlor_status st = dlor_resolve_graph(in, src, g, act, &source, why, sizeof why, err);
    if (st != DLOR_OK) return st;
    if (!g->count)
        return dlor_fail(err, DLOR_E_UNSUPPORTED,
                         "%s: cannot rebuild the dense model that %s replaces (%s): %s; give its activation with "
                         "--activation NAME", in, out, recorded ? recorded : "graph source not recorded",
                         why[0] ? why : "no graph");
    if (strcmp(source, "names") == 0)
        snprintf(n->dense_graph, sizeof n->dense_graph, "nn.Sequential names with %s", act);
    else if (strcmp(source, "metadata") == 0)
        snprintf(n->dense_graph, sizeof n->dense_graph, "the source's dlor.graph metadata");
    else
        snprintf(n->dense_graph, sizeof n->dense_graph, "the ONNX graph");
    return dlor_graph_check(g, src, in, NULL, NULL, err);
}

dlor_status dlor_verify_net_prepare(const char *in, const char *out, const char *activation,
                                    const dlor_tensor_list *src, const dlor_container *c, dlor_graph *g,
                                    verify_result *r, dlor_error *err)
{
    verify_network *n = calloc(1, sizeof *n);
    if (!n) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    r->net = n;
    n->construction = meta(c, "dlor.construction");
    n->basis = meta(c, "dlor.basis");
    n->beta = meta(c, "dlor.beta");
    n->alpha = meta(c, "dlor.alpha");
    n->h_choice = meta(c, "dlor.h_choice");
    n->recorded_error = meta(c, "dlor.network_error");
    n->h = n->c = NAN;
    n->tol = NAN;
    const char *v;
    if ((v = meta(c, "dlor.h"))) n->h = strtod(v, NULL);
    if ((v = meta(c, "dlor.c"))) n->c = strtod(v, NULL);
    if ((v = meta(c, "dlor.rank"))) n->rank = strtoll(v, NULL, 10);
    /* the precision the file is made for: f64 when every DLoR layer stores f64 factors */
    n->f64 = c->nlayers > 0;
    for (size_t i = 0; i < c->nlayers; i++) {
        const dlor_tensor *u = dlor_tensor_list_find(&c->tensors, c->layers[i].u_name);
        if (!u || u->dtype != DLOR_DT_F64) n->f64 = 0;
    }
    n->storage = n->f64 ? "f64" : "f32";

    dlor_status st = dense_graph(in, out, c, activation, src, g, n, err);
    size_t nlin = 0;
    for (size_t i = 0; st == DLOR_OK && i < g->count; i++) nlin += g->ops[i].kind == DLOR_OP_LINEAR;
    if (st == DLOR_OK) {
        n->layers = calloc(nlin ? nlin : 1, sizeof *n->layers);
        if (!n->layers) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    /* the dense side: weight and bias of every LINEAR op (and the weight of a BRANCH
     * that opens in front of it) */
    name_set seen;
    memset(&seen, 0, sizeof seen);
    uint64_t pending = 0;
    for (size_t i = 0; st == DLOR_OK && i < g->count; i++) {
        const dlor_graph_op *op = &g->ops[i];
        if (op->kind == DLOR_OP_BRANCH) pending++;
        if (op->kind == DLOR_OP_MERGE && n->nlayers) {
            verify_net_layer *L = &n->layers[n->nlayers - 1];
            count_tensor(&seen, src, op->bias, &L->params_dense, &L->bytes_dense, err, &st);
        }
        if (op->kind != DLOR_OP_LINEAR) continue;
        verify_net_layer *L = &n->layers[n->nlayers++];
        const dlor_tensor *w = dlor_tensor_list_find(src, op->weight);
        L->name = op->weight;
        L->rows = w ? w->dims[0] : 0;
        L->cols = w && w->ndim == 2 ? w->dims[1] : 0;
        L->params_dense = pending;
        L->bytes_dense = 8 * pending;
        pending = 0;
        count_tensor(&seen, src, op->weight, &L->params_dense, &L->bytes_dense, err, &st);
        count_tensor(&seen, src, op->bias, &L->params_dense, &L->bytes_dense, err, &st);
    }
    /* the network side: walk its graph, giving every operation to the dense layer it
     * stands for */
    seen.n = 0;
    pending = 0;
    long cur = -1;
    char line[700];
    for (size_t i = 0; st == DLOR_OK && i < c->graph.count; i++) {
        const dlor_graph_op *op = &c->graph.ops[i];
        if (op->kind == DLOR_OP_BRANCH) {
            pending++;
            continue;
        }
        if (op->kind == DLOR_OP_MERGE) {
            if (cur >= 0)
                count_tensor(&seen, &c->tensors, op->bias, &n->layers[cur].params_net, &n->layers[cur].bytes_net, err,
                             &st);
            continue;
        }
        if (op->kind == DLOR_OP_ACT) {
            if (cur >= 0 && !n->layers[cur].act && n->layers[cur].form &&
                (strcmp(n->layers[cur].form, "deep") == 0 || strcmp(n->layers[cur].form, "wide") == 0))
                n->layers[cur].act = dlor_act_name(op->act);
            continue;
        }
        if (op->kind != DLOR_OP_LINEAR) continue;
        const char *kind;
        long k = owner(n, op->weight, 0, &kind);
        if (k < 0) {
            snprintf(line, sizeof line, "the graph of %s uses '%.255s', which stands for no layer of the dense model in %s",
                     out, op->weight, in);
            add_problem(r, line);
            r->pass = 0;
            cur = -1;
            continue;
        }
        verify_net_layer *L = &n->layers[k];
        cur = k;
        L->params_net += pending;
        L->bytes_net += 8 * pending;
        pending = 0;
        const dlor_layer_desc *d = dlor_container_find_layer(c, op->weight);
        if (kind) {
            L->form = kind;
            L->components++;
        } else {
            L->form = d ? "exact" : "dense";
            L->components = d ? 1 : 0;
        }
        if (d) {
            if (d->rank > L->rank) L->rank = d->rank;
            uint64_t p = 0, b = 0;
            count_tensor(&seen, &c->tensors, d->u_name, &p, &b, err, &st);
            count_tensor(&seen, &c->tensors, d->v_name, &p, &b, err, &st);
            if (p && d->alpha != 0.0) p++;
            if (b) b += 8; /* the layer record's alpha */
            L->params_net += p;
            L->bytes_net += b;
        } else {
            count_tensor(&seen, &c->tensors, op->weight, &L->params_net, &L->bytes_net, err, &st);
        }
        count_tensor(&seen, &c->tensors, op->bias, &L->params_net, &L->bytes_net, err, &st);
    }
    free(seen.names);
    for (size_t i = 0; st == DLOR_OK && i < n->nlayers; i++) {
        verify_net_layer *L = &n->layers[i];
        if (!L->form) {
            snprintf(line, sizeof line, "dense layer '%.255s' of %s has no counterpart in the graph of %s", L->name, in,
                     out);
            add_problem(r, line);
            r->pass = 0;
            L->form = "missing";
        }
        if (strcmp(L->form, "deep") == 0 || strcmp(L->form, "wide") == 0) n->constructed++;
        else if (strcmp(L->form, "exact") == 0) n->exact++;
        else if (strcmp(L->form, "dense") == 0) n->kept_dense++;
        n->components += L->components;
        n->params_dense += L->params_dense;
        n->params_net += L->params_net;
        n->bytes_dense += L->bytes_dense;
        n->bytes_net += L->bytes_net;
    }
    for (size_t i = 0; st == DLOR_OK && i < c->nlayers; i++) n->skipped += dlor_verify_net_sublayer(n, c->layers[i].name);
    return st;
}

/* ---- inputs and output comparison, shared with the layer-form check ------------------- */

void dlor_verify_random_inputs(uint64_t seed, float *x, uint64_t count)
{
    /* rounded to float32, as convert --form network draws them when it has no --calib */
    uint64_t s = seed;
    for (uint64_t i = 0; i < count; i++) x[i] = (float)dlor_splitmix_normal(&s);
}

/* *m = max(*m, d), where a NaN, once there, stays. */
static void worst(double *m, double d)
{
    if (!isnan(*m) && !(d <= *m)) *m = d;
}

static uint64_t argmax(const double *v, uint64_t n)
{
    uint64_t k = 0;
    for (uint64_t i = 1; i < n; i++)
        if (v[i] > v[k]) k = i;
    return k;
}

dlor_status dlor_verify_compare_outputs(const double *yd, const double *yl, uint64_t n, uint64_t fout,
                                        const char *labels, verify_result *r, dlor_error *err)
{
    dlor_status st = DLOR_OK;
    if (labels) {
        dlor_tensor_list lt;
        dlor_tensor_list_init(&lt);
        st = dlor_read_npy(labels, &lt, err);
        if (st == DLOR_OK) {
            const dlor_tensor *t = &lt.items[0];
            int isint = t->dtype == DLOR_DT_I64 || t->dtype == DLOR_DT_I32 || t->dtype == DLOR_DT_U8 ||
                        t->dtype == DLOR_DT_I8 || t->dtype == DLOR_DT_I16 || t->dtype == DLOR_DT_U16;
            if (!isint || t->ndim != 1 || t->dims[0] != n)
                st = dlor_fail(err, DLOR_E_FORMAT, "%s: labels must be a vector of %llu integers", labels,
                               (unsigned long long)n);
            uint64_t agree = 0, cd = 0, cl = 0;
            for (uint64_t i = 0; st == DLOR_OK && i < n; i++) {
                const unsigned char *p = t->data + i * dlor_dtype_size(t->dtype);
                int64_t lab = t->dtype == DLOR_DT_I64 ? (int64_t)dlor_load_u64(p)
                            : t->dtype == DLOR_DT_I32 ? (int32_t)dlor_load_u32(p)
                            : t->dtype == DLOR_DT_I16 ? (int16_t)dlor_load_u16(p)
                            : t->dtype == DLOR_DT_U16 ? (int64_t)dlor_load_u16(p)
                            : t->dtype == DLOR_DT_I8 ? (int8_t)p[0] : (int64_t)p[0];
                uint64_t ad = argmax(yd + i * fout, fout), al = argmax(yl + i * fout, fout);
                agree += ad == al;
                cd += (int64_t)ad == lab;
                cl += (int64_t)al == lab;
            }
            if (st == DLOR_OK && n) {
                r->has_labels = 1;
                r->argmax_agreement = (double)agree / (double)n;
                r->acc_dense = (double)cd / (double)n;
                r->acc_dlor = (double)cl / (double)n;
            }
        }
        dlor_tensor_list_free(&lt);
    }
    if (st != DLOR_OK) return st;
    r->e2e_samples = n;
    r->e2e_values = n * fout;
    for (uint64_t i = 0; i < n; i++) {
        double dmax = 0, dn = 0;
        for (uint64_t j = 0; j < fout; j++) {
            double a = yd[i * fout + j], b = yl[i * fout + j], d;
            r->e2e_nonfinite_dense += !isfinite(a);
            r->e2e_nonfinite_dlor += !isfinite(b);
            if (isfinite(a) && isfinite(b)) d = fabs(b - a);
            else /* the same NaN or infinity is reproduced; any other pair is an error that must show */
                d = (isnan(a) && isnan(b)) || a == b ? 0.0 : NAN;
            worst(&r->e2e_max_abs, d);
            worst(&dmax, d);
            if (isfinite(a) && fabs(a) > dn) dn = fabs(a);
        }
        worst(&r->e2e_max_rel, dn > 0 ? dmax / dn : dmax);
    }
    return DLOR_OK;
}

/* ---- the end-to-end check of a network form ------------------------------------------- */

dlor_status dlor_verify_net_end_to_end(const char *in, const char *out, const dlor_graph *g,
                                       const dlor_tensor_list *src, const char *xin, uint64_t nsamples, uint64_t seed,
                                       const char *labels, verify_result *r, dlor_error *err)
{
    verify_network *net = r->net;
    dlor_loaded dl;
    uint64_t fin = 0, fout = 0, n = 0;
    double *x = NULL, *yd = NULL, *yl = NULL;
    float *xf = NULL, *yf = NULL;
    dlor_status st = dlor_graph_check(g, src, in, &fin, &fout, err);
    if (st != DLOR_OK) return st;
    if ((st = dlor_load_runnable(out, NULL, &dl, err)) != DLOR_OK) return st;
    if (dl.model.in_dim != fin || dl.model.out_dim != fout)
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: the network maps %llu -> %llu features, the dense model in %s %llu -> %llu",
                       out, (unsigned long long)dl.model.in_dim, (unsigned long long)dl.model.out_dim, in,
                       (unsigned long long)fin, (unsigned long long)fout);
    if (st == DLOR_OK && xin) {
        st = dlor_load_inputs_f64(xin, fin, &x, &n, err);
        r->e2e_inputs = dlor_basename(xin);
    } else if (st == DLOR_OK) {
        n = nsamples;
        x = malloc((n * fin > 0 ? n * fin : 1) * sizeof *x);
        xf = malloc((n * fin > 0 ? n * fin : 1) * sizeof *xf);
        if (!x || !xf) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        if (st == DLOR_OK) dlor_verify_random_inputs(seed, xf, n * fin);
        for (uint64_t i = 0; st == DLOR_OK && i < n * fin; i++) x[i] = xf[i];
        r->e2e_inputs = "random";
    }
    if (st == DLOR_OK) {
        yd = malloc((n * fout > 0 ? n * fout : 1) * sizeof *yd);
        yl = malloc((n * fout > 0 ? n * fout : 1) * sizeof *yl);
        if (!yd || !yl) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    /* the dense model in double precision: the reference either way */
    if (st == DLOR_OK) st = dlor_graph_forward_f64(g, src, x, n, NULL, NULL, yd, err);
    if (st == DLOR_OK && net->f64) {
        const size_t batch = 64;
        size_t need = dlor_model_scratch_size_f64(&dl.model, batch);
        void *scratch = NULL;
        if (need == 0 || posix_memalign(&scratch, 64, need) != 0)
            st = dlor_fail(err, DLOR_E_NOMEM, "cannot allocate %zu bytes of scratch for batch %zu", need, batch);
        for (uint64_t i = 0; st == DLOR_OK && i < n; i += batch) {
            size_t b = (size_t)(n - i < batch ? n - i : batch);
            dlor_image_error ie;
            if (dlor_model_forward_f64(&dl.model, x + i * fin, b, yl + i * fout, scratch, need, &ie) != 0)
                st = dlor_fail(err, DLOR_E_NUMERIC, "%s: forward pass failed: %s", out, ie.msg);
        }
        free(scratch);
    } else if (st == DLOR_OK) {
        if (!xf) xf = malloc((n * fin > 0 ? n * fin : 1) * sizeof *xf);
        yf = malloc((n * fout > 0 ? n * fout : 1) * sizeof *yf);
        if (!xf || !yf) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        for (uint64_t i = 0; st == DLOR_OK && i < n * fin; i++) xf[i] = (float)x[i];
        if (st == DLOR_OK) st = dlor_run_batches(&dl.model, xf, n, 64, 1, yf, err);
        for (uint64_t i = 0; st == DLOR_OK && i < n * fout; i++) yl[i] = yf[i];
    }
    if (st == DLOR_OK) st = dlor_verify_compare_outputs(yd, yl, n, fout, labels, r, err);
    if (st == DLOR_OK) {
        net->e2e_pass = isnan(net->tol) ? isfinite(r->e2e_max_abs) : r->e2e_max_abs <= net->tol;
        if (!net->e2e_pass) r->pass = 0;
    }
    free(x);
    free(xf);
    free(yd);
    free(yl);
    free(yf);
    dlor_loaded_free(&dl);
    return st;
}
