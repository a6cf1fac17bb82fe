/* cmd_verify.c - dlor verify: prove a .dlor file reproduces its dense source. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "compress_plan.h"
#include "dlor_fileio.h"
#include "dlor_graph_eval.h"
#include "dlor_host.h"
#include "dlor_readers.h"
#include "dlor_sha256.h"
#include "dlor_verify.h"
#include "json_out.h"
#include "model_load.h"
#include "opts.h"
#include "verify_result.h"
#include "convert_run.h"
#include "e2e_check.h"
#include "verdict.h"

static const dlor_optdef defs[] = {
    {"json", 0, "FILE", "also write the report as JSON to FILE ('-' for stdout)"},
    {"html", 0, "FILE", "also write a self-contained HTML report with charts to FILE ('-' for stdout;\n"
                        "                             for a network form: its structure and the end-to-end figures)"},
    {"tol", 0, "T", "largest relative Frobenius error accepted per layer (default by storage dtype:\n"
                    "                             f32 1e-4, f64 1e-10, f16 1e-2, bf16 5e-2); for a network-form\n"
                    "                             file, the largest end-to-end max abs output error accepted\n"
                    "                             (its exact components keep the defaults; no --tol: reported, and\n"
                    "                             only a non-finite error fails)"},
    {"inputs", 0, "X.npy", "end-to-end check on these model inputs [N, features]"},
    {"samples", 0, "N", "end-to-end check on N seeded random inputs (default 256 when a graph is known)"},
    {"labels", 0, "Y.npy", "integer class labels of --inputs: adds accuracy and argmax agreement"},
    {"seed", 0, "S", "seed of the random inputs (default 0)"},
    {"activation", 0, "NAME", "network form from nn.Sequential names: the dense model's activation\n"
                              "                             (default: the one the network's graph uses)"},
    {"min-cosine", 0, "C", "with --inputs: the least cosine between dense and DLoR outputs accepted, sample by\n"
                           "                             sample (default 0.99 where layers have no tolerance of their own)"},
    {"max-rel-error", 0, "E", "with --inputs: the largest end-to-end relative error accepted (default: none)"},
    {"quiet", 'q', NULL, "print only the verdict line"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "IN OUT.dlor [--json FILE] [--html FILE] [--tol T]\n"
                                "                   [--inputs X.npy [--labels Y.npy] | --samples N [--seed S]] [-q]\n\n"
                                "Rebuilds every layer of OUT.dlor from its stored factors (in double precision)\n"
                                "and compares it with the dense weights in IN; checks that every other tensor\n"
                                "was carried over bit for bit. Exits 1 when a layer exceeds the tolerance.\n\n"
                                "A network form (convert --form network) replaces dense layers by sub-layers\n"
                                "that have no dense counterpart: verify reports its structure (construction,\n"
                                "h, c, components, parameters and bytes against the dense layers), compares\n"
                                "its exact components weight for weight, and runs the dense model (IN with\n"
                                "its graph, resolved as convert did) against the network end to end, in double\n"
                                "precision when the file stores f64 factors and in float32 otherwise. There\n"
                                "--tol T is the largest end-to-end max abs output error accepted.\n\n"
                                "With a graph, the dense and DLoR models also run end to end on --inputs (or on\n"
                                "--samples seeded normal inputs, 256 by default). A report written to '-' is\n"
                                "all that goes to standard output; the text then goes to stderr.";

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
        if (strcmp(c->layers[i].u_name, name) == 0 || strcmp(c->layers[i].v_name, name) == 0) return 1;
    return 0;
}

/* Is name one of the comma-separated names of list? */
static int name_in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *q = list; q && *q;) {
        const char *e = strchr(q, ',');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        if (len == n && memcmp(q, name, n) == 0) return 1;
        q = e ? e + 1 : q + len;
    }
    return 0;
}

const char *dlor_verify_layer_note(const verify_result *r, const dlor_layer_report *L, char *buf, size_t len)
{
    long long rank;
    buf[0] = 0;
    if (L->method && r->rank_capped && name_in_list(r->rank_capped, L->name)) {
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

static void write_json(FILE *f, const char *in, const char *out, const verify_result *r)
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
static void print_net_structure(const verify_network *n)
{
    char variant[160] = "";
    if (n->construction && strcmp(n->construction, "wide") == 0)
        snprintf(variant, sizeof variant, "%s beta", n->beta ? n->beta : "?");
    else
        snprintf(variant, sizeof variant, "%s basis, alpha %s",
                 n->basis && strcmp(n->basis, "schur") == 0 ? "Schur" : n->basis ? n->basis : "?",
                 n->alpha ? n->alpha : "?");
    printf("network form: %s construction (%s), r = %lld, c = %g, h = %.3g (%s), %s factors; dense model: %s\n",
           n->construction ? n->construction : "?", variant, (long long)n->rank, n->c, n->h,
           n->h_choice && strcmp(n->h_choice, "auto") == 0 ? "searched" : "given", n->storage, n->dense_graph);
    printf("%-28s %-13s %-22s %10s %5s %-21s %s\n", "dense layer", "shape", "becomes", "components", "rank",
           "params dense>network", "bytes dense>network");
    for (size_t i = 0; i < n->nlayers; i++) {
        const verify_net_layer *L = &n->layers[i];
        char shape[48], becomes[64], params[48], bytes[48];
        snprintf(shape, sizeof shape, "[%llu, %llu]", (unsigned long long)L->rows, (unsigned long long)L->cols);
        if (L->act) snprintf(becomes, sizeof becomes, "%s (rho = %s)", L->form, L->act);
        else if (strcmp(L->form, "exact") == 0) snprintf(becomes, sizeof becomes, "exact (one component)");
        else snprintf(becomes, sizeof becomes, "%s", L->form);
        snprintf(params, sizeof params, "%llu>%llu", (unsigned long long)L->params_dense,
                 (unsigned long long)L->params_net);
        snprintf(bytes, sizeof bytes, "%llu>%llu", (unsigned long long)L->bytes_dense,
                 (unsigned long long)L->bytes_net);
        printf("%-28s %-13s %-22s %10llu %5llu %-21s %s\n", L->name, shape, becomes,
               (unsigned long long)L->components, (unsigned long long)L->rank, params, bytes);
    }
    printf("network total: %zu dense layers (%zu constructed, %zu exact, %zu left dense), %zu DLoR components; "
           "params %llu -> %llu (%.3fx), bytes %llu -> %llu (%.3fx)\n",
           n->nlayers, n->constructed, n->exact, n->kept_dense, n->components, (unsigned long long)n->params_dense,
           (unsigned long long)n->params_net, n->params_dense ? (double)n->params_net / (double)n->params_dense : 0.0,
           (unsigned long long)n->bytes_dense, (unsigned long long)n->bytes_net,
           n->bytes_dense ? (double)n->bytes_net / (double)n->bytes_dense : 0.0);
    if (n->skipped)
        printf("note: the %zu sub-layers of the constructed layers have no dense counterpart: no per-layer weight "
               "comparison for them (the end-to-end check measures them)%s\n", n->skipped,
               n->exact == 0 ? "" : n->exact == 1 ? "; the exact component is compared below"
                                                  : "; the exact components are compared below");
}

static void print_net_verdict(const verify_result *r)
{
    const verify_network *n = r->net;
    char tb[64], lb[160] = "";
    if (isnan(n->tol)) snprintf(tb, sizeof tb, "no tolerance given");
    else snprintf(tb, sizeof tb, "tol %.3g", n->tol);
    if (r->nlayers)
        snprintf(lb, sizeof lb, ", exact components: max relative Frobenius error %.3g (tol %.3g)", r->max_rel,
                 r->layers[0].tol);
    if (r->e2e_samples && !n->e2e_pass && !isnan(n->tol))
        printf("network form: end-to-end max abs error %.3g exceeds --tol %.3g%s: FAIL\n", r->e2e_max_abs, n->tol, lb);
    else
        printf("network form: end-to-end max abs error %.3g (%s)%s: %s\n", r->e2e_max_abs, tb, lb,
               r->pass ? "PASS" : "FAIL");
}

static void print_text(const char *in, const char *out, const verify_result *r)
{
    uint64_t pd = 0, pl = 0, bd = 0, bl = 0;
    printf("dlor verify: %s -> %s\n", in, out);
    if (r->net) print_net_structure(r->net);
    if (r->nlayers)
        printf("%-28s %-13s %-8s %-6s %5s %5s %-11s %-10s %-10s %-10s %-10s %-17s %s\n", "layer", "shape", "form",
               "basis", "rank", "L", "alpha/beta", "rel_fro", "max_abs", "svd@size", "data_err",
               "params dense>dlor", "bytes dense>dlor");
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        char shape[48], params[48], bytes[48];
        snprintf(shape, sizeof shape, "[%llu, %llu]", (unsigned long long)L->rows, (unsigned long long)L->cols);
        snprintf(params, sizeof params, "%llu>%llu", (unsigned long long)L->params_dense,
                 (unsigned long long)L->params_dlor);
        snprintf(bytes, sizeof bytes, "%llu>%llu", (unsigned long long)L->bytes_dense,
                 (unsigned long long)L->bytes_dlor);
        char derr[32] = "-", svd[32] = "-";
        if (!isnan(L->data_rel_error)) snprintf(derr, sizeof derr, "%.3g", L->data_rel_error);
        if (!isnan(L->svd_rel_fro_error)) snprintf(svd, sizeof svd, "%.3g", L->svd_rel_fro_error);
        printf("%-28s %-13s %-8s %-6s %5llu %5llu %-11.6g %-10.3g %-10.3g %-10s %-10s %-17s %s%s\n", L->name,
               shape, L->form, L->method ? dlor_basis_name(L->basis) : "-", (unsigned long long)L->rank,
               (unsigned long long)L->factors, L->alpha, L->rel_fro_error, L->max_abs_error, svd, derr, params, bytes, L->pass ? "" : "  EXCEEDS TOL");
        pd += L->params_dense;
        pl += L->params_dlor;
        bd += L->bytes_dense;
        bl += L->bytes_dlor;
    }
    if (r->nlayers)
        printf("total: %zu layers, params %llu -> %llu (%.3fx), bytes %llu -> %llu (%.3fx)\n", r->nlayers,
               (unsigned long long)pd, (unsigned long long)pl, pd ? (double)pl / (double)pd : 0.0,
               (unsigned long long)bd, (unsigned long long)bl, bd ? (double)bl / (double)bd : 0.0);
    for (size_t i = 0; i < r->nlayers; i++)
        if (!isnan(r->layers[i].data_rel_error)) {
            printf("data_err: ||(W - W_hat) X||_F / ||W X||_F on the inputs X each layer receives in the dense model "
                   "(end-to-end inputs below)\n");
            break;
        }
    for (size_t i = 0; i < r->nlayers; i++) {
        char note[400];
        if (dlor_verify_layer_note(r, &r->layers[i], note, sizeof note)[0])
            printf("note: layer '%s': %s\n", r->layers[i].name, note);
    }
    if (r->calib)
        printf("note: the layers were fitted to calibration data (%s): the fit minimises the error on those "
               "activations, so weight-space errors (and svd@size) do not measure it; the end-to-end error does\n",
               r->calib);
    for (size_t i = 0; i < r->nlayers && !r->calib; i++) {
        const dlor_layer_report *L = &r->layers[i];
        int compressed = L->method && strcmp(L->form, "mul") != 0 && strcmp(L->form, "add") != 0;
        if (compressed && L->svd_rel_fro_error <= L->rel_fro_error * (1 + 1e-6))
            printf("note: layer '%s': DLoR does not beat plain truncated SVD at this size (%.3g vs %.3g): "
                   "the best diagonal is ~0 for this layer\n", L->name, L->rel_fro_error, L->svd_rel_fro_error);
    }
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        if (L->method && L->rows != L->cols && L->form && strcmp(L->form, "mul") != 0 && strcmp(L->form, "add") != 0 &&
            strcmp(L->form, "svd") != 0) {
            printf("note: rectangular layers hold beta on their leading diagonal: W_hat = beta*I[m x n] + P Q^T, with "
                   "I[m x n] ones at (i, i) for i < min(m, n)\n");
            break;
        }
    }
    printf("carried tensors: %zu, identical to the source: %zu\n", r->carried, r->carried_same);
    if (r->e2e_samples) {
        if (r->net)
            printf("end to end on %llu %s inputs, the network in %s against the dense model in float64: max abs "
                   "output error %.3g, max relative error %.3g\n", (unsigned long long)r->e2e_samples, r->e2e_inputs,
                   r->net->f64 ? "float64 (f64 factors)" : "float32 (f32 factors)", r->e2e_max_abs, r->e2e_max_rel);
        else
            printf("end to end on %llu %s inputs: max abs output error %.3g, max relative error %.3g\n",
                   (unsigned long long)r->e2e_samples, r->e2e_inputs, r->e2e_max_abs, r->e2e_max_rel);
        if (!isnan(r->e2e_mean_cos))
            printf("cosine of dense and DLoR outputs per sample: mean %.6f, least %.6f%s\n", r->e2e_mean_cos,
                   r->e2e_min_cos, r->e2e_checked && !isnan(r->req_min_cos) && !(r->e2e_min_cos >= r->req_min_cos)
                                       ? "  BELOW --min-cosine" : "");
        if (r->e2e_checked && !isnan(r->req_max_rel) && !(r->e2e_max_rel <= r->req_max_rel))
            printf("end-to-end relative error %.3g exceeds --max-rel-error %.3g\n", r->e2e_max_rel, r->req_max_rel);
        printf("non-finite outputs: dense %llu, DLoR %llu of %llu\n", (unsigned long long)r->e2e_nonfinite_dense,
               (unsigned long long)r->e2e_nonfinite_dlor, (unsigned long long)r->e2e_values);
        if (r->net && r->net->recorded_error) printf("convert measured: %s\n", r->net->recorded_error);
        if (r->has_labels)
            printf("accuracy: dense %.2f%%, DLoR %.2f%%; argmax agreement %.2f%%\n", 100 * r->acc_dense,
                   100 * r->acc_dlor, 100 * r->argmax_agreement);
    }
    if (!r->sha_match)
        printf("note: %s is not the file %s was made from (SHA-256 differs from dlor.source_sha256)\n", in, out);
}

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
                              const dlor_container *c, const dlor_opts *o, uint64_t nsamples, uint64_t seed,
                              verify_result *r, dlor_error *err)
{
    const char *xin = dlor_opt(o, defs, "inputs"), *labels = dlor_opt(o, defs, "labels");
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
    if (st == DLOR_OK && fin == 0) { /* a model of token ids: only on the inputs given */
        double *a = NULL, *b = NULL;
        if (xin) st = dlor_e2e_tokens(&dm, &dl.model, xin, &a, &b, &n, &fout, err);
        r->e2e_inputs = xin ? dlor_basename(xin) : NULL;
        if (st == DLOR_OK && xin) st = dlor_verify_compare_outputs(a, b, n, fout, NULL, r, err);
        if (st == DLOR_OK && xin) dlor_output_cosines(a, b, n, fout, &r->e2e_min_cos, &r->e2e_mean_cos);
        free(a);
        free(b);
        n = 0;
    } else if (st == DLOR_OK && xin) {
        st = dlor_load_inputs(xin, fin, &x, &n, err);
        r->e2e_inputs = dlor_basename(xin);
    } else if (st == DLOR_OK) {
        n = nsamples;
        x = malloc((n * fin > 0 ? n * fin : 1) * sizeof *x);
        if (!x) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        else dlor_verify_random_inputs(seed, x, n * fin);
        r->e2e_inputs = "random";
    }
    if (st == DLOR_OK && fin) {
        yd = malloc((n ? n : 1) * fout * sizeof *yd);
        yl = malloc((n ? n : 1) * fout * sizeof *yl);
        if (!yd || !yl) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    if (st == DLOR_OK && fin) st = dlor_run_batches(&dm, x, n, 64, 1, yd, err);
    if (st == DLOR_OK && fin) {
        /* per-layer data-space errors, on the activations of the dense model in double */
        double *xd = malloc((n ? n : 1) * fin * sizeof *xd);
        data_err_ctx dc = {r, c, src};
        if (!xd) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        for (uint64_t i = 0; st == DLOR_OK && i < n * fin; i++) xd[i] = x[i];
        if (st == DLOR_OK) st = dlor_graph_forward_f64(&dense.graph, &dense.tensors, xd, n, data_err_hook, &dc, NULL, err);
        free(xd);
    }
    if (st == DLOR_OK && fin) st = dlor_run_batches(&dl.model, x, n, 64, 1, yl, err);
    if (st == DLOR_OK && fin) {
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
    free(x);
    free(yd);
    free(yl);
    free(dplan);
    free(dimg);
    dlor_container_free(&dense);
    dlor_loaded_free(&dl);
    return st;
}

int dlor_cmd_verify(int argc, char **argv)
{
    dlor_opts o;
    int rc = dlor_opts_parse("verify", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    if (o.npos != 2) {
        fprintf(stderr, "dlor verify: expected IN and OUT.dlor (see 'dlor verify --help')\n");
        return 2;
    }
    double tol = -1;
    const char *tols = dlor_opt(&o, defs, "tol"), *json = dlor_opt(&o, defs, "json");
    if (tols && (dlor_parse_double(tols, &tol) != 0 || tol < 0)) {
        fprintf(stderr, "dlor verify: --tol must be a non-negative number, not '%s'\n", tols);
        return 2;
    }
    const char *ns = dlor_opt(&o, defs, "samples"), *seeds = dlor_opt(&o, defs, "seed");
    uint64_t nsamples = 256, seed = 0;
    if (ns && (dlor_parse_u64(ns, &nsamples) != 0 || nsamples == 0 || nsamples > (1u << 24))) {
        fprintf(stderr, "dlor verify: --samples must be an integer from 1 to 16777216, not '%s'\n", ns);
        return 2;
    }
    if (seeds && dlor_parse_u64(seeds, &seed) != 0) {
        fprintf(stderr, "dlor verify: --seed must be a non-negative integer, not '%s'\n", seeds);
        return 2;
    }
    if (ns && dlor_opt(&o, defs, "inputs")) {
        fprintf(stderr, "dlor verify: --inputs and --samples do not go together (the inputs are the samples)\n");
        return 2;
    }
    if (dlor_opt(&o, defs, "labels") && !dlor_opt(&o, defs, "inputs")) {
        fprintf(stderr, "dlor verify: --labels goes with --inputs (the labels of those inputs)\n");
        return 2;
    }
    if ((rc = dlor_check_activation_opt("verify", dlor_opt(&o, defs, "activation"))) != 0) return rc;
    double min_cos = NAN, max_rel = NAN;
    const char *mcs = dlor_opt(&o, defs, "min-cosine"), *mres = dlor_opt(&o, defs, "max-rel-error");
    if (mcs && (dlor_parse_double(mcs, &min_cos) != 0 || !(min_cos >= -1 && min_cos <= 1))) {
        fprintf(stderr, "dlor verify: --min-cosine must be a number from -1 to 1, not '%s'\n", mcs);
        return 2;
    }
    if (mres && (dlor_parse_double(mres, &max_rel) != 0 || !(max_rel >= 0))) {
        fprintf(stderr, "dlor verify: --max-rel-error must be a non-negative number, not '%s'\n", mres);
        return 2;
    }
    if ((mcs || mres) && !dlor_opt(&o, defs, "inputs")) {
        fprintf(stderr, "dlor verify: --min-cosine and --max-rel-error hold the outputs on --inputs to a tolerance; "
                        "give --inputs\n");
        return 2;
    }
    const char *in = o.pos[0], *out = o.pos[1];
    const dlor_cmd_output outputs[] = {{"--json", json, DLOR_OUT_TEXT},
                                       {"--html", dlor_opt(&o, defs, "html"), DLOR_OUT_TEXT}};
    const char *inputs[] = {in, out, dlor_opt(&o, defs, "inputs"), dlor_opt(&o, defs, "labels")};
    if ((rc = dlor_cmd_check_outputs("verify", outputs, 2, inputs, 4)) != 0) return rc;
    dlor_error err;
    dlor_tensor_list src;
    dlor_graph g;                /* the source's own graph (ONNX), for a network form's dense model */
    dlor_container c;
    verify_result r;
    char why[512];
    memset(&r, 0, sizeof r);
    r.pass = 1;
    r.e2e_min_cos = r.e2e_mean_cos = r.req_min_cos = r.req_max_rel = NAN;
    dlor_tensor_list_init(&src);
    dlor_graph_init(&g);
    dlor_container_init(&c);
    dlor_status st = dlor_read_model(in, &src, &g, why, sizeof why, &err);
    if (st == DLOR_OK) st = dlor_container_read(out, &c, &err);
    double layer_tol = tol;      /* a network form's --tol is on the end-to-end error */
    if (st == DLOR_OK && dlor_verify_is_network(&c)) {
        layer_tol = -1;
        st = dlor_verify_net_prepare(in, out, dlor_opt(&o, defs, "activation"), &src, &c, &g, &r, &err);
        if (st == DLOR_OK) r.net->tol = tol >= 0 ? tol : NAN;
    } else if (st == DLOR_OK && dlor_opt(&o, defs, "activation")) {
        st = dlor_fail(&err, DLOR_E_USAGE, "%s: --activation applies to network-form files only (this one records "
                                           "its own graph)", out);
    }
    const char *kept = NULL, *target = NULL;
    size_t nkept = 0;
    for (size_t i = 0; st == DLOR_OK && i < c.tensors.meta_count; i++) {
        if (strcmp(c.tensors.meta_keys[i], "dlor.kept_dense") == 0) kept = c.tensors.meta_vals[i];
        if (strcmp(c.tensors.meta_keys[i], "dlor.calib") == 0) r.calib = c.tensors.meta_vals[i];
        if (strcmp(c.tensors.meta_keys[i], "dlor.target") == 0) target = c.tensors.meta_vals[i];
        if (strcmp(c.tensors.meta_keys[i], "dlor.layer_targets") == 0) r.layer_targets = c.tensors.meta_vals[i];
        if (strcmp(c.tensors.meta_keys[i], "dlor.rank_capped") == 0) r.rank_capped = c.tensors.meta_vals[i];
        if (strcmp(c.tensors.meta_keys[i], "dlor.rank") == 0) r.rank_asked = c.tensors.meta_vals[i];
        if (strcmp(c.tensors.meta_keys[i], "dlor.method") == 0) r.fit_beta = strcmp(c.tensors.meta_vals[i], "svd") != 0;
    }
    r.target = target;
    for (const char *q = kept; q && *q; q++) nkept += *q == ',';
    if (kept && *kept) nkept++;
    if (st == DLOR_OK && c.nlayers + nkept) {
        r.layers = calloc(c.nlayers + nkept, sizeof *r.layers);
        if (!r.layers) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
    }
    if (st != DLOR_OK) {
        dlor_verify_net_free(r.net);
        for (size_t i = 0; i < r.nproblems; i++) free(r.problems[i]);
        free(r.problems);
        free(r.layers);
        dlor_container_free(&c);
        dlor_graph_free(&g);
        dlor_tensor_list_free(&src);
        return dlor_cmd_fail("verify", &err);
    }
    {
        unsigned char *buf;
        size_t len;
        r.sha_match = 0;
        const char *recorded = NULL;
        for (size_t i = 0; i < c.tensors.meta_count; i++)
            if (strcmp(c.tensors.meta_keys[i], "dlor.source_sha256") == 0) recorded = c.tensors.meta_vals[i];
        if (recorded) st = dlor_file_read(in, DLOR_MAX_INPUT_BYTES, &buf, &len, &err);
        if (recorded && st == DLOR_OK) {
            char hex[65];
            dlor_sha256_hex(buf, len, hex);
            r.sha_match = strcmp(hex, recorded) == 0;
            free(buf);
        }
    }
    for (size_t i = 0; i < c.nlayers && st == DLOR_OK; i++) {
        const dlor_layer_desc *d = &c.layers[i];
        const dlor_tensor *w = dlor_tensor_list_find(&src, d->name);
        if (!w && dlor_verify_net_sublayer(r.net, d->name)) continue; /* no dense counterpart */
        if (!w) {
            add_problem(&r, "layer '%s' has no dense tensor of that name in %s", d->name, in);
            r.pass = 0;
            continue;
        }
        if (w->ndim != 2 || w->dims[0] != d->rows || w->dims[1] != d->cols) {
            char shape[96];
            st = dlor_fail(&err, DLOR_E_FORMAT, "layer '%s' is [%llu, %llu], the tensor of that name in %s is %s: %s "
                           "is not the model %s was made from", d->name, (unsigned long long)d->rows,
                           (unsigned long long)d->cols, in, dlor_shape_str(w->dims, w->ndim, shape, sizeof shape),
                           in, out);
            break;
        }
        st = dlor_verify_layer(w, &c, d, layer_tol, &r.layers[r.nlayers], &err);
        if (st != DLOR_OK) {
            dlor_error_prefix(&err, out);
            break;
        }
        /* A compressed layer is approximate by design: without --tol it is held to the
         * converter's own --tol target (met in double, plus the storage dtype's rounding
         * allowance), and to nothing when the target was a budget, a rank or a fit to
         * calibration data (whose error is measured on activations, not weights). */
        dlor_layer_report *lr = &r.layers[r.nlayers];
        if (layer_tol < 0 && !r.net && strcmp(lr->form, "mul") != 0 && strcmp(lr->form, "add") != 0) {
            double t;
            dlor_layer_spec ls;
            r.compressed = 1;
            if (r.layer_targets && dlor_convert_target_of(r.layer_targets, lr->name, &ls)) {
                if (!r.calib && ls.tol > 0) lr->tol = ls.tol + dlor_default_tol(lr->factor_dtype);
                else lr->tol = NAN;
            } else if (!r.calib && target && sscanf(target, "tol %lf", &t) == 1 && t >= 0)
                lr->tol = t + dlor_default_tol(lr->factor_dtype);
            else
                lr->tol = NAN;
            lr->pass = isnan(lr->tol) || lr->rel_fro_error <= lr->tol;
        }
        double e = r.layers[r.nlayers].rel_fro_error;
        if (!(e <= r.max_rel)) r.max_rel = e; /* a NaN error must show, not hide */
        if (!(r.layers[r.nlayers].max_abs_error <= r.max_abs)) r.max_abs = r.layers[r.nlayers].max_abs_error;
        if (!r.layers[r.nlayers].pass) r.pass = 0;
        r.nlayers++;
    }
    /* layers the converter kept dense (no smaller form met the target) */
    for (const char *q = kept; st == DLOR_OK && q && *q;) {
        const char *e = strchr(q, ',');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        char nm[DLOR_MAX_NAME + 1];
        snprintf(nm, sizeof nm, "%.*s", (int)len, q);
        const dlor_tensor *t = dlor_tensor_list_find(&c.tensors, nm);
        const dlor_tensor *s = dlor_tensor_list_find(&src, nm);
        if (t && t->ndim == 2) {
            dlor_layer_report *L = &r.layers[r.nlayers++];
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
                add_problem(&r, "kept-dense layer '%s' has no tensor of that shape in %s", nm, in);
                r.pass = 0;
                r.nlayers--;
            } else {
                double *a = malloc(t->nelem * sizeof *a), *b = malloc(t->nelem * sizeof *b);
                if (!a || !b) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
                if (st == DLOR_OK) st = dlor_tensor_to_f64(s, a, &err);
                if (st == DLOR_OK) st = dlor_tensor_to_f64(t, b, &err);
                if (st == DLOR_OK) dlor_compare(a, b, t->nelem, &L->rel_fro_error, &L->max_abs_error);
                free(a);
                free(b);
                L->pass = L->rel_fro_error <= L->tol;
                if (!L->pass) r.pass = 0;
                if (!(L->rel_fro_error <= r.max_rel)) r.max_rel = L->rel_fro_error;
                if (!(L->max_abs_error <= r.max_abs)) r.max_abs = L->max_abs_error;
            }
        }
        q = e ? e + 1 : q + len;
    }
    if (st == DLOR_OK) st = model_order(&r, &c.graph, &src, &err);
    for (size_t i = 0; i < c.tensors.count && st == DLOR_OK; i++) {
        const dlor_tensor *t = &c.tensors.items[i];
        if (is_factor_tensor(&c, t->name) || name_in_list(kept, t->name)) continue;
        if (!dlor_tensor_list_find(&src, t->name) && dlor_verify_net_made(r.net, t->name)) continue;
        r.carried++;
        const dlor_tensor *s = dlor_tensor_list_find(&src, t->name);
        if (!s) {
            add_problem(&r, "tensor '%s' is not in %s", t->name, in);
            r.pass = 0;
        } else if (!same_tensor(s, t)) {
            add_problem(&r, "tensor '%s' differs from the one in %s", t->name, in);
            r.pass = 0;
        } else {
            r.carried_same++;
        }
    }
    for (size_t i = 0; i < src.count && st == DLOR_OK; i++) {
        const char *nm = src.items[i].name;
        if (!dlor_tensor_list_find(&c.tensors, nm) && !dlor_container_find_layer(&c, nm) &&
            !dlor_verify_net_replaced(r.net, nm)) {
            add_problem(&r, "tensor '%s' of the source is missing from %s", nm, out);
            r.pass = 0;
        }
    }
    if (st == DLOR_OK && r.net && !c.graph.count)
        st = dlor_fail(&err, DLOR_E_FORMAT, "%s: a network-form file without a graph", out);
    if (st == DLOR_OK && c.graph.count) st = end_to_end(in, out, &src, &g, &c, &o, nsamples, seed, &r, &err);
    else if (st == DLOR_OK && (dlor_opt(&o, defs, "inputs") || ns))
        st = dlor_fail(&err, DLOR_E_USAGE, "%s: no end-to-end check possible: the file records no graph (leave out "
                                           "--%s)", out, ns ? "samples" : "inputs");
    if (st == DLOR_OK) dlor_verify_verdict(&r, dlor_opt(&o, defs, "inputs") != NULL, min_cos, max_rel);
    if (st == DLOR_OK) {
        if (!dlor_opt(&o, defs, "quiet")) print_text(in, out, &r);
        for (size_t i = 0; i < r.nproblems; i++) printf("problem: %s\n", r.problems[i]);
        /* the page is written to a temporary file first and renamed into place with the
         * JSON report: both appear, or neither */
        const char *html = dlor_opt(&o, defs, "html");
        dlor_atomic_file haf;
        memset(&haf, 0, sizeof haf);
        if (html) st = dlor_verify_html(html, in, out, &r, &c, &src, target, &haf, &err);
        if (st == DLOR_OK && json) { /* "-": standard output, staged whole */
            dlor_atomic_file af;
            st = dlor_atomic_open(&af, json, &err);
            if (st == DLOR_OK) {
                write_json(af.fp, in, out, &r);
                if (ferror(af.fp)) af.failed = 1;
                st = dlor_atomic_commit(&af, &err);
            }
        }
        if (haf.fp && st == DLOR_OK) st = dlor_atomic_commit(&haf, &err);
        else if (haf.fp) dlor_atomic_abort(&haf);
        char tolbuf[96];
        if (tol >= 0) snprintf(tolbuf, sizeof tolbuf, "tol %.3g", tol);
        else if (r.compressed) snprintf(tolbuf, sizeof tolbuf, "compressed, target %s", target ? target : "unknown");
        else snprintf(tolbuf, sizeof tolbuf, "tol %.3g", r.nlayers ? r.layers[0].tol : 0.0);
        if (r.net) print_net_verdict(&r);
        else if (strcmp(r.verdict, "unchecked") == 0)
            printf("max relative Frobenius error %.3g, max abs error %.3g over %zu layers (%s): UNCHECKED: nothing was "
                   "checked (the compressed layers have no tolerance of their own; give --inputs to hold the outputs "
                   "to --min-cosine / --max-rel-error)\n", r.max_rel, r.max_abs, r.nlayers, tolbuf);
        else
            printf("max relative Frobenius error %.3g, max abs error %.3g over %zu layers (%s%s): %s\n", r.max_rel,
                   r.max_abs, r.nlayers, tolbuf, r.e2e_checked ? ", outputs checked end to end" : "",
                   r.pass ? "PASS" : "FAIL");
    }
    dlor_verify_net_free(r.net);
    for (size_t i = 0; i < r.nproblems; i++) free(r.problems[i]);
    free(r.problems);
    free(r.layers);
    dlor_container_free(&c);
    dlor_graph_free(&g);
    dlor_tensor_list_free(&src);
    if (st != DLOR_OK) return dlor_cmd_fail("verify", &err);
    return r.pass ? 0 : 1;
}
