/* verify_run.c - dlor verify's measurements: every stored layer rebuilt and
 * compared with its dense weights, carried tensors compared bit for bit, the
 * dense and DLoR models run end to end; and the JSON report. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "compress_plan.h"
#include "dlor_fileio.h"
#include "dlor_graph_eval.h"
#include "dlor_hf.h"
#include "dlor_host.h"
#include "dlor_readers.h"
#include "dlor_sha256.h"
#include "dlor_verify.h"
#include "json_out.h"
#include "model_load.h"
#include "convert_targets.h"
#include "e2e_check.h"
#include "verdict.h"
#include "verify_result.h"

static void add_problem(verify_result *r, const char *fmt, const char *a, const char *b)
{
    char line[600];
    snprintf(line, sizeof line, fmt, a, b);
    char **p = realloc(r->problems, (r->nproblems + 1) * sizeof *p);
    if (!p) return;
    r->problems = p;
    r->problems[r->nproblems] = malloc(strlen(line) + 1);
    if (r->problems[r->nproblems]) strcpy(r->problems[r->nproblems++], line);
}

static int same_tensor(const dlor_tensor *a, const dlor_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return memcmp(a->data, b->data, a->nbytes) == 0;
}

static int is_factor_tensor(const dlor_container *c, const char *name)
{
    for (size_t i = 0; i < c->nlayers; i++)
        if (strcmp(c->layers[i].u_name, name) == 0 || strcmp(c->layers[i].v_name, name) == 0 ||
            (c->layers[i].base_name && strcmp(c->layers[i].base_name, name) == 0))
            return 1;
    return 0;
}

const char *dlor_verify_layer_note(const verify_result *r, const dlor_layer_report *L, char *buf, size_t len)
{
    long long rank;
    buf[0] = 0;
    if (L->method && r->rank_capped && dlor_name_listed(r->rank_capped, L->name)) {
        snprintf(buf, len, "--rank %s is larger than the layer allows: capped at %llu (one factor)",
                 r->rank_asked ? r->rank_asked : "?", (unsigned long long)L->rank);
    } else if (!L->method && L->form && strcmp(L->form, "dense") == 0 && r->target &&
               sscanf(r->target, "rank %lld", &rank) == 1) {
        char why[160];
        dlor_compress_rank_note(rank, (int64_t)L->rows, (int64_t)L->cols, r->fit_beta, why, sizeof why);
        snprintf(buf, len, "kept dense: %s", why);
    }
    return buf;
}

typedef struct {
    size_t key, at;
} order_key;

static int cmp_order(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* Puts the layers in model order: the order of the graph's linear operations, then
 * (layers the graph does not use, or no graph) the source file's tensor order. */
static dlor_status model_order(verify_result *r, const dlor_graph *g, const dlor_tensor_list *src, dlor_error *err)
{
    size_t n = r->nlayers;
    if (n < 2) return DLOR_OK;
    order_key *k = malloc(n * sizeof *k);
    dlor_layer_report *sorted = malloc(n * sizeof *sorted);
    if (!k || !sorted) {
        free(k);
        free(sorted);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = r->layers[i].name;
        k[i].at = i;
        k[i].key = g->count + src->count + i;
        for (size_t j = 0; j < g->count; j++)
            if (g->ops[j].kind == DLOR_OP_LINEAR && strcmp(g->ops[j].weight, name) == 0) {
                k[i].key = j;
                break;
            }
        for (size_t j = 0; k[i].key >= g->count && j < src->count; j++)
            if (strcmp(src->items[j].name, name) == 0) k[i].key = g->count + j;
    }
    qsort(k, n, sizeof *k, cmp_order);
    for (size_t i = 0; i < n; i++) sorted[i] = r->layers[k[i].at];
    memcpy(r->layers, sorted, n * sizeof *sorted);
    free(k);
    free(sorted);
    return DLOR_OK;
}

static void jstr_or_null(dlor_jw *w, const char *key, const char *v)
{
    dlor_jw_key(w, key);
    if (v) dlor_jw_str(w, v);
    else dlor_jw_num(w, NAN); /* null */
}

static void write_json_net(dlor_jw *w, const verify_network *n)
{
    dlor_jw_key(w, "network");
    dlor_jw_begin_obj(w);
    jstr_or_null(w, "construction", n->construction);
    jstr_or_null(w, "basis", n->basis);
    jstr_or_null(w, "beta", n->beta);
    jstr_or_null(w, "alpha", n->alpha);
    dlor_jw_key(w, "h");
    dlor_jw_num(w, n->h);
    jstr_or_null(w, "h_choice", n->h_choice);
    dlor_jw_key(w, "c");
    dlor_jw_num(w, n->c);
    dlor_jw_key(w, "rank");
    dlor_jw_u64(w, n->rank > 0 ? (uint64_t)n->rank : 0);
    dlor_jw_key(w, "storage");
    dlor_jw_str(w, n->storage);
    dlor_jw_key(w, "dense_graph");
    dlor_jw_str(w, n->dense_graph);
    jstr_or_null(w, "recorded_error", n->recorded_error);
    dlor_jw_key(w, "layers");
    dlor_jw_begin_arr(w);
    for (size_t i = 0; i < n->nlayers; i++) {
        const verify_net_layer *L = &n->layers[i];
        dlor_jw_begin_obj(w);
        dlor_jw_key(w, "name");
        dlor_jw_str(w, L->name);
        dlor_jw_key(w, "shape");
        dlor_jw_begin_arr(w);
        dlor_jw_u64(w, L->rows);
        dlor_jw_u64(w, L->cols);
        dlor_jw_end_arr(w);
        dlor_jw_key(w, "form");
        dlor_jw_str(w, L->form);
        dlor_jw_key(w, "components");
        dlor_jw_u64(w, L->components);
        dlor_jw_key(w, "rank");
        dlor_jw_u64(w, L->rank);
        jstr_or_null(w, "activation", L->act);
        dlor_jw_key(w, "params_dense");
        dlor_jw_u64(w, L->params_dense);
        dlor_jw_key(w, "params_network");
        dlor_jw_u64(w, L->params_net);
        dlor_jw_key(w, "bytes_dense");
        dlor_jw_u64(w, L->bytes_dense);
        dlor_jw_key(w, "bytes_network");
        dlor_jw_u64(w, L->bytes_net);
        dlor_jw_end_obj(w);
    }
    dlor_jw_end_arr(w);
    dlor_jw_key(w, "constructed");
    dlor_jw_u64(w, n->constructed);
    dlor_jw_key(w, "exact");
    dlor_jw_u64(w, n->exact);
    dlor_jw_key(w, "left_dense");
    dlor_jw_u64(w, n->kept_dense);
    dlor_jw_key(w, "components");
    dlor_jw_u64(w, n->components);
    dlor_jw_key(w, "sublayers_not_compared");
    dlor_jw_u64(w, n->skipped);
    dlor_jw_key(w, "params_dense_total");
    dlor_jw_u64(w, n->params_dense);
    dlor_jw_key(w, "params_network_total");
    dlor_jw_u64(w, n->params_net);
    dlor_jw_key(w, "bytes_dense_total");
    dlor_jw_u64(w, n->bytes_dense);
    dlor_jw_key(w, "bytes_network_total");
    dlor_jw_u64(w, n->bytes_net);
    dlor_jw_end_obj(w);
}

void dlor_verify_write_json(FILE *f, const char *in, const char *out, const verify_result *r)
{
    dlor_jw w;
    uint64_t pd = 0, pl = 0, bd = 0, bl = 0;
    dlor_jw_init(&w, f);
    dlor_jw_begin_obj(&w);
    dlor_jw_key(&w, "dlor_version");
    dlor_jw_str(&w, DLOR_VERSION_STRING);
    dlor_jw_key(&w, "source");
    dlor_jw_str(&w, in);
    dlor_jw_key(&w, "dlor_file");
    dlor_jw_str(&w, out);
    dlor_jw_key(&w, "source_sha256_match");
    dlor_jw_bool(&w, r->sha_match);
    dlor_jw_key(&w, "layers");
    dlor_jw_begin_arr(&w);
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        dlor_jw_begin_obj(&w);
        dlor_jw_key(&w, "name");
        dlor_jw_str(&w, L->name);
        dlor_jw_key(&w, "shape");
        dlor_jw_begin_arr(&w);
        dlor_jw_u64(&w, L->rows);
        dlor_jw_u64(&w, L->cols);
        dlor_jw_end_arr(&w);
        dlor_jw_key(&w, "method");
        dlor_jw_str(&w, L->method ? dlor_method_name(L->method) : "dense");
        dlor_jw_key(&w, "form");
        dlor_jw_str(&w, L->form ? L->form : "?");
        dlor_jw_key(&w, "basis");
        dlor_jw_str(&w, L->method ? dlor_basis_name(L->basis) : "none");
        dlor_jw_key(&w, "rank");
        dlor_jw_u64(&w, L->rank);
        dlor_jw_key(&w, "factors");
        dlor_jw_u64(&w, L->factors);
        dlor_jw_key(&w, "alpha");
        dlor_jw_num(&w, L->alpha);
        dlor_jw_key(&w, "dtype");
        dlor_jw_str(&w, dlor_dtype_name(L->factor_dtype));
        dlor_jw_key(&w, "rel_fro_error");
        dlor_jw_num(&w, L->rel_fro_error);
        dlor_jw_key(&w, "max_abs_error");
        dlor_jw_num(&w, L->max_abs_error);
        dlor_jw_key(&w, "svd_rel_fro_error");
        dlor_jw_num(&w, L->svd_rel_fro_error);
        dlor_jw_key(&w, "data_rel_error");
        dlor_jw_num(&w, L->data_rel_error);
        dlor_jw_key(&w, "tol");
        dlor_jw_num(&w, L->tol);
        dlor_jw_key(&w, "pass");
        dlor_jw_bool(&w, L->pass);
        dlor_jw_key(&w, "params_dense");
        dlor_jw_u64(&w, L->params_dense);
        dlor_jw_key(&w, "params_dlor");
        dlor_jw_u64(&w, L->params_dlor);
        dlor_jw_key(&w, "bytes_dense");
        dlor_jw_u64(&w, L->bytes_dense);
        dlor_jw_key(&w, "bytes_dlor");
        dlor_jw_u64(&w, L->bytes_dlor);
        /* the other forms at (no more than) this layer's bytes, weight space */
        dlor_jw_key(&w, "alternatives");
        dlor_jw_begin_arr(&w);
        for (int a = 0; a < L->nalts; a++) {
            dlor_jw_begin_obj(&w);
            dlor_jw_key(&w, "form");
            dlor_jw_str(&w, L->alts[a].form);
            dlor_jw_key(&w, "dtype");
            dlor_jw_str(&w, dlor_dtype_name(L->alts[a].dtype));
            dlor_jw_key(&w, "bytes");
            dlor_jw_u64(&w, L->alts[a].bytes);
            dlor_jw_key(&w, "rel_fro_error");
            dlor_jw_num(&w, L->alts[a].rel_fro_error);
            dlor_jw_end_obj(&w);
        }
        dlor_jw_end_arr(&w);
        const char *winner = dlor_alternatives_winner(L);
        jstr_or_null(&w, "least_error_at_bytes", winner);
        char note[400];
        jstr_or_null(&w, "note", dlor_verify_layer_note(r, L, note, sizeof note)[0] ? note : NULL);
        dlor_jw_end_obj(&w);
        pd += L->params_dense;
        pl += L->params_dlor;
        bd += L->bytes_dense;
        bl += L->bytes_dlor;
    }
    dlor_jw_end_arr(&w);
    dlor_jw_key(&w, "max_rel_fro_error");
    dlor_jw_num(&w, r->max_rel);
    dlor_jw_key(&w, "max_abs_error");
    dlor_jw_num(&w, r->max_abs);
    dlor_jw_key(&w, "params_dense_total");
    dlor_jw_u64(&w, pd);
    dlor_jw_key(&w, "params_dlor_total");
    dlor_jw_u64(&w, pl);
    dlor_jw_key(&w, "bytes_dense_total");
    dlor_jw_u64(&w, bd);
    dlor_jw_key(&w, "bytes_dlor_total");
    dlor_jw_u64(&w, bl);
    if (r->e2e_samples) {
        dlor_jw_key(&w, "end_to_end");
        dlor_jw_begin_obj(&w);
        dlor_jw_key(&w, "inputs");
        dlor_jw_str(&w, r->e2e_inputs);
        dlor_jw_key(&w, "samples");
        dlor_jw_u64(&w, r->e2e_samples);
        dlor_jw_key(&w, "max_abs_error");
        dlor_jw_num(&w, r->e2e_max_abs);
        dlor_jw_key(&w, "max_rel_error");
        dlor_jw_num(&w, r->e2e_max_rel);
        dlor_jw_key(&w, "nonfinite_dense");
        dlor_jw_u64(&w, r->e2e_nonfinite_dense);
        dlor_jw_key(&w, "nonfinite_dlor");
        dlor_jw_u64(&w, r->e2e_nonfinite_dlor);
        dlor_jw_key(&w, "mean_cosine");
        dlor_jw_num(&w, r->e2e_mean_cos);
        dlor_jw_key(&w, "min_cosine");
        dlor_jw_num(&w, r->e2e_min_cos);
        dlor_jw_key(&w, "min_cosine_required");
        dlor_jw_num(&w, r->req_min_cos);
        dlor_jw_key(&w, "max_rel_error_allowed");
        dlor_jw_num(&w, r->req_max_rel);
        if (r->net) {
            dlor_jw_key(&w, "precision");
            dlor_jw_str(&w, r->net->f64 ? "f64" : "f32");
            dlor_jw_key(&w, "tol");
            dlor_jw_num(&w, r->net->tol); /* null: none given */
            dlor_jw_key(&w, "pass");
            dlor_jw_bool(&w, r->net->e2e_pass);
        }
        if (r->e2e_tokens) {
            dlor_jw_key(&w, "padded_length");
            dlor_jw_u64(&w, r->e2e_seq);
            dlor_jw_key(&w, "tokens_mean");
            dlor_jw_num(&w, r->e2e_tokens_mean);
            dlor_jw_key(&w, "tokens_max");
            dlor_jw_u64(&w, r->e2e_tokens_max);
        }
        if (r->e2e_tokens == 1) {
            dlor_jw_key(&w, "cosine_mean");
            dlor_jw_num(&w, r->cosine_mean);
            dlor_jw_key(&w, "cosine_min");
            dlor_jw_num(&w, r->cosine_min);
        } else if (r->e2e_tokens == 2) {
            dlor_jw_key(&w, "top1_agreement");
            dlor_jw_num(&w, r->top1_agreement);
            dlor_jw_key(&w, "kl_mean");
            dlor_jw_num(&w, r->kl_mean);
            dlor_jw_key(&w, "positions");
            dlor_jw_u64(&w, r->e2e_positions);
        }
        if (r->has_labels) {
            dlor_jw_key(&w, "argmax_agreement");
            dlor_jw_num(&w, r->argmax_agreement);
            dlor_jw_key(&w, "accuracy_dense");
            dlor_jw_num(&w, r->acc_dense);
            dlor_jw_key(&w, "accuracy_dlor");
            dlor_jw_num(&w, r->acc_dlor);
        }
        dlor_jw_end_obj(&w);
    }
    if (r->net) write_json_net(&w, r->net);
    dlor_jw_key(&w, "carried_tensors");
    dlor_jw_u64(&w, r->carried);
    dlor_jw_key(&w, "carried_identical");
    dlor_jw_u64(&w, r->carried_same);
    dlor_jw_key(&w, "problems");
    dlor_jw_begin_arr(&w);
    for (size_t i = 0; i < r->nproblems; i++) dlor_jw_str(&w, r->problems[i]);
    dlor_jw_end_arr(&w);
    dlor_jw_key(&w, "pass");
    dlor_jw_bool(&w, r->pass);
    dlor_jw_key(&w, "verdict");
    dlor_jw_str(&w, r->verdict ? r->verdict : "fail");
    dlor_jw_end_obj(&w);
}

/* What a network-form file is made of, per dense layer of the model it replaces. */
typedef struct {
    verify_result *r;
    const dlor_container *c;
    const dlor_tensor_list *src;
} data_err_ctx;

/* Sees the inputs each linear layer of the dense model receives and measures the
 * stored layer's error on them (the quantity a calibrated fit minimises). */
static dlor_status data_err_hook(void *ctx, size_t op, const char *weight, const double *x, uint64_t n, uint64_t in,
                                 dlor_error *err)
{
    data_err_ctx *dc = ctx;
    (void)op;
    (void)in;
    for (size_t i = 0; i < dc->r->nlayers; i++) {
        dlor_layer_report *L = &dc->r->layers[i];
        if (strcmp(L->name, weight) != 0 || !isnan(L->data_rel_error)) continue;
        const dlor_layer_desc *d = dlor_container_find_layer(dc->c, weight);
        const dlor_tensor *w = dlor_tensor_list_find(dc->src, weight);
        const dlor_tensor *kept = d ? NULL : dlor_tensor_list_find(&dc->c->tensors, weight);
        if (!w || (!d && !kept)) return DLOR_OK;
        uint64_t m = w->dims[0], k = w->dims[1];
        double *a = malloc(m * k * sizeof *a), *b = malloc(m * k * sizeof *b);
        dlor_factored f;
        dlor_status st = a && b ? DLOR_OK : dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        memset(&f, 0, sizeof f);
        if (st == DLOR_OK) st = dlor_tensor_to_f64(w, a, err);
        if (st == DLOR_OK && d) {
            st = dlor_layer_load(dc->c, d, &f, err);
            if (st == DLOR_OK) st = dlor_reconstruct(&f, b, err);
            dlor_factored_free(&f);
        } else if (st == DLOR_OK) {
            st = dlor_tensor_to_f64(kept, b, err);
        }
        if (st == DLOR_OK) st = dlor_data_rel_error(weight, a, b, m, k, x, n, &L->data_rel_error, err);
        free(a);
        free(b);
        return st;
    }
    return DLOR_OK;
}

/* Runs the dense model (IN's tensors with OUT's graph) and the DLoR model on
 * the same inputs. max_rel_error is the largest, over samples, of
 * ||y_dlor - y_dense||_inf / ||y_dense||_inf. */
static dlor_status end_to_end(const char *in, const char *out, const dlor_tensor_list *src, const dlor_graph *g,
                              const dlor_container *c, const char *xin, const char *labels, uint64_t nsamples,
                              uint64_t seed, verify_result *r, dlor_error *err)
{
    uint64_t n = 0;
    dlor_loaded dl;
    dlor_container dense;
    unsigned char *dimg = NULL;
    size_t dlen;
    dlor_model dm;
    void *dplan = NULL;
    dlor_image_error ie;
    float *x = NULL, *yd = NULL, *yl = NULL;
    dlor_status st;
    if (r->net) /* the dense model is the source with its own graph */
        return dlor_verify_net_end_to_end(in, out, g, src, xin, nsamples, seed, labels, r, err);
    if ((st = dlor_load_runnable(out, NULL, &dl, err)) != DLOR_OK) return st;
    /* The dense model: the same graph over the source's tensors (a graph op's
     * weight is named after the original dense tensor). */
    dlor_container_init(&dense);
    for (size_t i = 0; i < src->count && st == DLOR_OK; i++) {
        const dlor_tensor *t = &src->items[i];
        st = dlor_tensor_list_add(&dense.tensors, in, t->name, strlen(t->name), t->dtype, t->ndim, t->dims, t->data,
                                  t->nbytes, err);
    }
    if (st == DLOR_OK) st = dlor_graph_copy(&dense.graph, &c->graph, err);
    if (st == DLOR_OK) st = dlor_graph_check(&dense.graph, &dense.tensors, in, NULL, NULL, err);
    if (st == DLOR_OK) st = dlor_container_to_memory(&dense, &dimg, &dlen, err);
    if (st == DLOR_OK && dlor_model_open_alloc(&dm, dimg, dlen, 0, &dplan, &ie) != 0)
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: the dense model does not open: %s", in, ie.msg);
    uint64_t fin = dl.model.in_dim, fout = dl.model.out_dim;
    if (st == DLOR_OK && !fin) { /* a model of token ids */
        if (labels) st = dlor_fail(err, DLOR_E_USAGE, "%s takes token ids: --labels applies to models of features", out);
        else st = dlor_verify_tokens_end_to_end(&dm, &dl.model, xin, nsamples, seed, r, err);
        goto done;
    }
    if (st == DLOR_OK && xin) {
        st = dlor_load_inputs(xin, fin, &x, &n, err);
        r->e2e_inputs = dlor_basename(xin);
    } else if (st == DLOR_OK) {
        n = nsamples;
        x = malloc((n * fin > 0 ? n * fin : 1) * sizeof *x);
        if (!x) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        else dlor_verify_random_inputs(seed, x, n * fin);
        r->e2e_inputs = "random";
    }
    if (st == DLOR_OK) {
        yd = malloc((n ? n : 1) * fout * sizeof *yd);
        yl = malloc((n ? n : 1) * fout * sizeof *yl);
        if (!yd || !yl) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    if (st == DLOR_OK) st = dlor_run_batches(&dm, x, n, 64, 1, yd, err);
    if (st == DLOR_OK) {
        /* per-layer data-space errors, on the activations of the dense model in double */
        double *xd = malloc((n ? n : 1) * fin * sizeof *xd);
        data_err_ctx dc = {r, c, src};
        if (!xd) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        for (uint64_t i = 0; st == DLOR_OK && i < n * fin; i++) xd[i] = x[i];
        if (st == DLOR_OK) st = dlor_graph_forward_f64(&dense.graph, &dense.tensors, xd, n, data_err_hook, &dc, NULL, err);
        free(xd);
    }
    if (st == DLOR_OK) st = dlor_run_batches(&dl.model, x, n, 64, 1, yl, err);
    if (st == DLOR_OK) {
        double *a = malloc((n * fout > 0 ? n * fout : 1) * sizeof *a), *b = malloc((n * fout > 0 ? n * fout : 1) * sizeof *b);
        if (!a || !b) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        for (uint64_t i = 0; st == DLOR_OK && i < n * fout; i++) {
            a[i] = yd[i];
            b[i] = yl[i];
        }
        if (st == DLOR_OK) st = dlor_verify_compare_outputs(a, b, n, fout, labels, r, err);
        if (st == DLOR_OK) dlor_output_cosines(a, b, n, fout, &r->e2e_min_cos, &r->e2e_mean_cos);
        free(a);
        free(b);
    }
done:
    free(x);
    free(yd);
    free(yl);
    free(dplan);
    free(dimg);
    dlor_container_free(&dense);
    dlor_loaded_free(&dl);
    return st;
}

void dlor_verify_state_init(dlor_verify_state *vs)
{
    memset(vs, 0, sizeof *vs);
    vs->r.pass = 1;
    vs->r.e2e_min_cos = vs->r.e2e_mean_cos = vs->r.req_min_cos = vs->r.req_max_rel = NAN;
    dlor_tensor_list_init(&vs->src);
    dlor_graph_init(&vs->g);
    dlor_container_init(&vs->c);
}

void dlor_verify_state_free(dlor_verify_state *vs)
{
    if (!vs) return;
    dlor_verify_net_free(vs->r.net);
    for (size_t i = 0; i < vs->r.nproblems; i++) free(vs->r.problems[i]);
    free(vs->r.problems);
    free(vs->r.layers);
    dlor_container_free(&vs->c);
    dlor_graph_free(&vs->g);
    dlor_tensor_list_free(&vs->src);
    memset(vs, 0, sizeof *vs);
}

dlor_status dlor_verify_files(const dlor_verify_args *a, dlor_verify_state *vs, dlor_error *err)
{
    const char *in = a->in, *out = a->out;
    double tol = a->tol;
    char why[512], hf_file[4096]; /* a Hugging Face folder stands for its weight file */
    dlor_error hf_err;
    if (!(in = dlor_hf_weights_path(in, hf_file, sizeof hf_file, &hf_err))) {
        if (err) *err = hf_err;
        return hf_err.code;
    }
    dlor_status st = dlor_read_model(in, &vs->src, &vs->g, why, sizeof why, err);
    if (st == DLOR_OK) st = dlor_container_read(out, &vs->c, err);
    double layer_tol = tol;      /* a network form's --tol is on the end-to-end error */
    if (st == DLOR_OK && dlor_verify_is_network(&vs->c)) {
        layer_tol = -1;
        st = dlor_verify_net_prepare(in, out, a->activation, &vs->src, &vs->c, &vs->g, &vs->r, err);
        if (st == DLOR_OK) vs->r.net->tol = tol >= 0 ? tol : NAN;
    } else if (st == DLOR_OK && a->activation) {
        st = dlor_fail(err, DLOR_E_USAGE, "%s: --activation applies to network-form files only (this one records "
                                           "its own graph)", out);
    }
    const char *kept = NULL, *target = NULL;
    size_t nkept = 0;
    for (size_t i = 0; st == DLOR_OK && i < vs->c.tensors.meta_count; i++) {
        if (strcmp(vs->c.tensors.meta_keys[i], "dlor.kept_dense") == 0) kept = vs->c.tensors.meta_vals[i];
        if (strcmp(vs->c.tensors.meta_keys[i], "dlor.calib") == 0) vs->r.calib = vs->c.tensors.meta_vals[i];
        if (strcmp(vs->c.tensors.meta_keys[i], "dlor.target") == 0) target = vs->c.tensors.meta_vals[i];
        if (strcmp(vs->c.tensors.meta_keys[i], "dlor.layer_targets") == 0)
            vs->r.layer_targets = vs->c.tensors.meta_vals[i];
        if (strcmp(vs->c.tensors.meta_keys[i], "dlor.rank_capped") == 0) vs->r.rank_capped = vs->c.tensors.meta_vals[i];
        if (strcmp(vs->c.tensors.meta_keys[i], "dlor.rank") == 0) vs->r.rank_asked = vs->c.tensors.meta_vals[i];
        if (strcmp(vs->c.tensors.meta_keys[i], "dlor.method") == 0) vs->r.fit_beta = strcmp(vs->c.tensors.meta_vals[i], "svd") != 0;
    }
    vs->r.target = target;
    for (const char *q = kept; q && *q; q++) nkept += *q == ',';
    if (kept && *kept) nkept++;
    if (st == DLOR_OK && vs->c.nlayers + nkept) {
        vs->r.layers = calloc(vs->c.nlayers + nkept, sizeof *vs->r.layers);
        if (!vs->r.layers) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    if (st != DLOR_OK) return st;
    {
        unsigned char *buf;
        size_t len;
        vs->r.sha_match = 0;
        const char *recorded = NULL;
        for (size_t i = 0; i < vs->c.tensors.meta_count; i++)
            if (strcmp(vs->c.tensors.meta_keys[i], "dlor.source_sha256") == 0) recorded = vs->c.tensors.meta_vals[i];
        if (recorded) st = dlor_file_read(in, DLOR_MAX_INPUT_BYTES, &buf, &len, err);
        if (recorded && st == DLOR_OK) {
            char hex[65];
            dlor_sha256_hex(buf, len, hex);
            vs->r.sha_match = strcmp(hex, recorded) == 0;
            free(buf);
        }
    }
    for (size_t i = 0; i < vs->c.nlayers && st == DLOR_OK; i++) {
        const dlor_layer_desc *d = &vs->c.layers[i];
        const dlor_tensor *w = dlor_tensor_list_find(&vs->src, d->name);
        if (!w && dlor_verify_net_sublayer(vs->r.net, d->name)) continue; /* no dense counterpart */
        if (!w) {
            add_problem(&vs->r, "layer '%s' has no dense tensor of that name in %s", d->name, in);
            vs->r.pass = 0;
            continue;
        }
        if (w->ndim != 2 || w->dims[0] != d->rows || w->dims[1] != d->cols) {
            char shape[96];
            st = dlor_fail(err, DLOR_E_FORMAT, "layer '%s' is [%llu, %llu], the tensor of that name in %s is %s: %s "
                           "is not the model %s was made from", d->name, (unsigned long long)d->rows,
                           (unsigned long long)d->cols, in, dlor_shape_str(w->dims, w->ndim, shape, sizeof shape),
                           in, out);
            break;
        }
        st = dlor_verify_layer(w, &vs->c, d, layer_tol, &vs->r.layers[vs->r.nlayers], err);
        if (st != DLOR_OK) {
            dlor_error_prefix(err, out);
            break;
        }
        /* A compressed layer is approximate by design: without --tol it is held to the
         * converter's own --tol target (met in double, plus the storage dtype's rounding
         * allowance), and to nothing when the target was a budget, a rank or a fit to
         * calibration data (whose error is measured on activations, not weights). */
        dlor_layer_report *lr = &vs->r.layers[vs->r.nlayers];
        if (layer_tol < 0 && !vs->r.net && strcmp(lr->form, "mul") != 0 && strcmp(lr->form, "add") != 0) {
            double t;
            dlor_layer_spec ls;
            vs->r.compressed = 1;
            if (vs->r.layer_targets && dlor_convert_target_of(vs->r.layer_targets, lr->name, &ls)) {
                if (!vs->r.calib && ls.tol > 0) lr->tol = ls.tol + dlor_default_tol(lr->factor_dtype);
                else lr->tol = NAN;
            } else if (!vs->r.calib && target && sscanf(target, "tol %lf", &t) == 1 && t >= 0)
                lr->tol = t + dlor_default_tol(lr->factor_dtype);
            else
                lr->tol = NAN;
            lr->pass = isnan(lr->tol) || lr->rel_fro_error <= lr->tol;
        }
        double e = vs->r.layers[vs->r.nlayers].rel_fro_error;
        if (!(e <= vs->r.max_rel)) vs->r.max_rel = e; /* a NaN error must show, not hide */
        if (!(vs->r.layers[vs->r.nlayers].max_abs_error <= vs->r.max_abs)) vs->r.max_abs = vs->r.layers[vs->r.nlayers].max_abs_error;
        if (!vs->r.layers[vs->r.nlayers].pass) vs->r.pass = 0;
        vs->r.nlayers++;
    }
    /* layers the converter kept dense (no smaller form met the target) */
    for (const char *q = kept; st == DLOR_OK && q && *q;) {
        const char *e = strchr(q, ',');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        char nm[DLOR_MAX_NAME + 1];
        snprintf(nm, sizeof nm, "%.*s", (int)len, q);
        const dlor_tensor *t = dlor_tensor_list_find(&vs->c.tensors, nm);
        const dlor_tensor *s = dlor_tensor_list_find(&vs->src, nm);
        if (t && t->ndim == 2) {
            dlor_layer_report *L = &vs->r.layers[vs->r.nlayers++];
            memset(L, 0, sizeof *L);
            L->name = t->name;
            L->rows = t->dims[0];
            L->cols = t->dims[1];
            L->form = "dense";
            L->dense_dtype = s ? s->dtype : t->dtype;
            L->factor_dtype = t->dtype;
            L->params_dense = L->params_dlor = t->nelem;
            L->bytes_dense = s ? s->nbytes : t->nbytes;
            L->bytes_dlor = t->nbytes;
            L->data_rel_error = NAN;
            L->svd_rel_fro_error = NAN;
            /* stored in the source's dtype: identical; narrowed by --dtype: rounding only */
            L->tol = tol >= 0 ? tol : dlor_default_tol(t->dtype);
            if (!s || s->nelem != t->nelem || s->ndim != 2 || s->dims[0] != t->dims[0]) {
                add_problem(&vs->r, "kept-dense layer '%s' has no tensor of that shape in %s", nm, in);
                vs->r.pass = 0;
                vs->r.nlayers--;
            } else {
                double *a = malloc(t->nelem * sizeof *a), *b = malloc(t->nelem * sizeof *b);
                if (!a || !b) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
                if (st == DLOR_OK) st = dlor_tensor_to_f64(s, a, err);
                if (st == DLOR_OK) st = dlor_tensor_to_f64(t, b, err);
                if (st == DLOR_OK) dlor_compare(a, b, t->nelem, &L->rel_fro_error, &L->max_abs_error);
                free(a);
                free(b);
                L->pass = L->rel_fro_error <= L->tol;
                if (!L->pass) vs->r.pass = 0;
                if (!(L->rel_fro_error <= vs->r.max_rel)) vs->r.max_rel = L->rel_fro_error;
                if (!(L->max_abs_error <= vs->r.max_abs)) vs->r.max_abs = L->max_abs_error;
            }
        }
        q = e ? e + 1 : q + len;
    }
    if (st == DLOR_OK) st = model_order(&vs->r, &vs->c.graph, &vs->src, err);
    for (size_t i = 0; i < vs->c.tensors.count && st == DLOR_OK; i++) {
        const dlor_tensor *t = &vs->c.tensors.items[i];
        if (is_factor_tensor(&vs->c, t->name) || dlor_name_listed(kept, t->name)) continue;
        if (!dlor_tensor_list_find(&vs->src, t->name) && dlor_verify_net_made(vs->r.net, t->name)) continue;
        vs->r.carried++;
        const dlor_tensor *s = dlor_tensor_list_find(&vs->src, t->name);
        if (!s) {
            add_problem(&vs->r, "tensor '%s' is not in %s", t->name, in);
            vs->r.pass = 0;
        } else if (!same_tensor(s, t)) {
            add_problem(&vs->r, "tensor '%s' differs from the one in %s", t->name, in);
            vs->r.pass = 0;
        } else {
            vs->r.carried_same++;
        }
    }
    for (size_t i = 0; i < vs->src.count && st == DLOR_OK; i++) {
        const char *nm = vs->src.items[i].name;
        if (!dlor_tensor_list_find(&vs->c.tensors, nm) && !dlor_container_find_layer(&vs->c, nm) &&
            !dlor_verify_net_replaced(vs->r.net, nm)) {
            add_problem(&vs->r, "tensor '%s' of the source is missing from %s", nm, out);
            vs->r.pass = 0;
        }
    }
    if (st == DLOR_OK && vs->r.net && !vs->c.graph.count)
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: a network-form file without a graph", out);
    if (st == DLOR_OK && vs->c.graph.count) st = end_to_end(in, out, &vs->src, &vs->g, &vs->c, a->inputs, a->labels, a->nsamples, a->seed, &vs->r, err);
    else if (st == DLOR_OK && (a->inputs || a->samples_given))
        st = dlor_fail(err, DLOR_E_USAGE, "%s: no end-to-end check possible: the file records no graph (leave out "
                                           "--%s)", out, a->samples_given ? "samples" : "inputs");
    if (st == DLOR_OK)
        dlor_verify_verdict(&vs->r, a->inputs != NULL, a->has_min_cos ? a->min_cos : NAN,
                            a->has_max_rel ? a->max_rel : NAN);
    return st;
}
