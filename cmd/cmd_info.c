/* cmd_info.c - dlor info: what is inside a weight file or a .dlor file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "convert_roles.h"
#include "cost_report.h"
#include "dlor_container.h"
#include "dlor_readers.h"
#include "dlor_verify.h"
#include "json_out.h"
#include "model_load.h"
#include "opts.h"

static const dlor_optdef defs[] = {
    {"json", 0, NULL, "print JSON instead of text"},
    {"activation", 0, "NAME", "for dense files without a graph: the activation between nn.Sequential layers"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "FILE [--json] [--activation NAME]\n\n"
                                "FILE is a .dlor file, or a dense model: safetensors, NumPy .npy or .npz, ONNX,\n"
                                "or a PyTorch .pt state dict. The model graph is recovered as convert recovers it:\n"
                                "ONNX's own, a 'dlor.graph' metadata entry, or nn.Sequential names with\n"
                                "--activation; when there is none, info says why.";

/* The tensor table's name column: as wide as the longest name (names are what
 * --include, --exclude and --set match, so they are shown whole), at least 36. */
static int name_width(const dlor_tensor_list *l)
{
    size_t w = 36;
    for (size_t i = 0; i < l->count; i++)
        if (strlen(l->items[i].name) > w) w = strlen(l->items[i].name);
    return (int)w;
}

static void json_tensor(dlor_jw *w, const dlor_tensor *t, const char *role)
{
    dlor_jw_begin_obj(w);
    dlor_jw_key(w, "name");
    dlor_jw_str(w, t->name);
    dlor_jw_key(w, "dtype");
    dlor_jw_str(w, dlor_dtype_name(t->dtype));
    dlor_jw_key(w, "shape");
    dlor_jw_begin_arr(w);
    for (int d = 0; d < t->ndim; d++) dlor_jw_u64(w, t->dims[d]);
    dlor_jw_end_arr(w);
    dlor_jw_key(w, "nbytes");
    dlor_jw_u64(w, t->nbytes);
    if (role) {
        dlor_jw_key(w, "role");
        dlor_jw_str(w, role);
    }
    dlor_jw_end_obj(w);
}

static const char *role_of(const dlor_container *c, const char *name)
{
    if (dlor_name_listed(dlor_tensor_list_meta(&c->tensors, "dlor.kept_dense"), name)) return "kept dense";
    for (size_t i = 0; i < c->nlayers; i++) {
        if (strcmp(c->layers[i].u_name, name) == 0) return "factor U^T";
        if (c->layers[i].base_name && strcmp(c->layers[i].base_name, name) == 0) return "base B";
        if (strcmp(c->layers[i].v_name, name) == 0) return "factor V^T";
    }
    return "carried";
}

static void print_meta(const dlor_tensor_list *l, dlor_jw *w)
{
    if (w) {
        dlor_jw_key(w, "metadata");
        dlor_jw_begin_obj(w);
        for (size_t i = 0; i < l->meta_count; i++) {
            dlor_jw_key(w, l->meta_keys[i]);
            dlor_jw_str(w, l->meta_vals[i]);
        }
        dlor_jw_end_obj(w);
        return;
    }
    for (size_t i = 0; i < l->meta_count; i++) printf("  %s = %s\n", l->meta_keys[i], l->meta_vals[i]);
}

/* The ops of a graph over values (format 1.5), after print_graph's heading: its
 * text form (dlor_graph.h), or one JSON object per op with the values it reads. */
static void print_dag(const dlor_graph *g, const dlor_container *c, dlor_jw *w)
{
    static const char *const modes[] = {"", "features", "ids", "mask", "type_ids"};
    if (!w) {
        char *text = NULL;
        dlor_error e;
        if (dlor_graph_to_text(g, &text, &e) == DLOR_OK) printf(" %s", text);
        else printf(" (%s)", e.msg);
        free(text);
        return;
    }
    for (size_t i = 0; i < g->count; i++) {
        const dlor_graph_op *op = &g->ops[i];
        dlor_jw_begin_obj(w);
        dlor_jw_key(w, "op");
        dlor_jw_str(w, op->kind == DLOR_OP_ACT ? dlor_act_name(op->act) : dlor_op_name(op->kind));
        dlor_jw_key(w, "in");
        dlor_jw_begin_arr(w);
        for (int k = 0; k < DLOR_GRAPH_MAX_IN; k++)
            if (op->in[k] != DLOR_GRAPH_NONE) dlor_jw_num(w, op->in[k]);
        dlor_jw_end_arr(w);
        const char *keys[3] = {"weight", "bias", "name"}, *vals[3] = {op->weight, op->bias, op->name};
        for (int k = 0; k < 3; k++)
            if (vals[k]) {
                dlor_jw_key(w, keys[k]);
                dlor_jw_str(w, vals[k]);
            }
        if (op->kind == DLOR_OP_LINEAR) {
            dlor_jw_key(w, "dlor");
            dlor_jw_bool(w, c && dlor_container_find_layer(c, op->weight));
        }
        if (op->kind == DLOR_OP_INPUT || op->kind == DLOR_OP_POOL) {
            dlor_jw_key(w, "mode");
            dlor_jw_str(w, op->kind == DLOR_OP_POOL ? (op->mode == DLOR_POOL_CLS ? "cls" : "mean")
                                                    : op->mode >= 1 && op->mode <= 4 ? modes[op->mode] : "?");
        }
        if (op->kind == DLOR_OP_INPUT && op->features) {
            dlor_jw_key(w, "features");
            dlor_jw_num(w, (double)op->features);
        }
        if (op->param != 0.0) {
            dlor_jw_key(w, "param");
            dlor_jw_num(w, op->param);
        }
        if (op->kind == DLOR_OP_ATTENTION) {
            dlor_jw_key(w, "heads");
            dlor_jw_num(w, op->heads);
            dlor_jw_key(w, "kv_heads");
            dlor_jw_num(w, op->kv_heads);
            dlor_jw_key(w, "causal");
            dlor_jw_bool(w, op->causal);
            dlor_jw_key(w, "rope_theta");
            dlor_jw_num(w, op->rope_theta);
        }
        dlor_jw_end_obj(w);
    }
}

/* One line (text) or an array (JSON) describing a graph; source says where it
 * came from (dlor_resolve_graph; NULL for a .dlor file's own), why explains an
 * empty one. */
static void print_graph(const dlor_graph *g, const dlor_container *c, const char *source, const char *why,
                        dlor_jw *w)
{
    if (w) {
        if (!c) {
            dlor_jw_key(w, "graph_source");
            if (g->count && source) dlor_jw_str(w, source);
            else dlor_jw_num(w, NAN); /* null */
            if (!g->count) {
                dlor_jw_key(w, "graph_missing");
                dlor_jw_str(w, why && *why ? why : "no graph");
            }
        }
        dlor_jw_key(w, "graph");
        dlor_jw_begin_arr(w);
    } else if (g->count && source) {
        printf("graph (from %s): %zu operations:", strcmp(source, "metadata") == 0 ? "dlor.graph metadata"
                                                   : strcmp(source, "names") == 0 ? "names and --activation"
                                                   : strcmp(source, "onnx") == 0 ? "the ONNX graph" : source,
               g->count);
    } else if (g->count) {
        printf("graph: %zu operations:", g->count);
    } else {
        if (why && *why) printf("graph: none (%s)\n", why);
        else printf("graph: none\n");
        return;
    }
    if (dlor_graph_is_dag(g)) print_dag(g, c, w);
    for (size_t i = 0; !dlor_graph_is_dag(g) && i < g->count; i++) {
        const dlor_graph_op *op = &g->ops[i];
        const char *kind = op->kind == DLOR_OP_LINEAR ? "linear" : op->kind == DLOR_OP_SOFTMAX ? "softmax"
                         : op->kind == DLOR_OP_BRANCH ? "branch" : op->kind == DLOR_OP_MERGE ? "merge" : "act";
        int is_layer = op->kind == DLOR_OP_LINEAR && c && dlor_container_find_layer(c, op->weight);
        if (w) {
            dlor_jw_begin_obj(w);
            dlor_jw_key(w, "op");
            dlor_jw_str(w, op->kind == DLOR_OP_ACT ? dlor_act_name(op->act) : kind);
            if (op->kind == DLOR_OP_LINEAR) {
                dlor_jw_key(w, "weight");
                dlor_jw_str(w, op->weight);
                dlor_jw_key(w, "dlor");
                dlor_jw_bool(w, is_layer);
                if (op->bias) {
                    dlor_jw_key(w, "bias");
                    dlor_jw_str(w, op->bias);
                }
            } else if ((op->kind == DLOR_OP_ACT && op->act == DLOR_ACT_LEAKY_RELU) || op->kind == DLOR_OP_BRANCH) {
                dlor_jw_key(w, "param");
                dlor_jw_num(w, op->param);
            } else if (op->kind == DLOR_OP_MERGE && op->bias) {
                dlor_jw_key(w, "bias");
                dlor_jw_str(w, op->bias);
            }
            dlor_jw_end_obj(w);
        } else if (op->kind == DLOR_OP_LINEAR) {
            printf(" linear(%s%s%s%s)", op->weight, is_layer ? " [DLoR]" : "", op->bias ? ", " : "",
                   op->bias ? op->bias : "");
        } else if (op->kind == DLOR_OP_ACT) {
            printf(" %s", dlor_act_name(op->act));
            if (op->act == DLOR_ACT_LEAKY_RELU) printf("(%g)", op->param);
        } else if (op->kind == DLOR_OP_BRANCH) {
            printf(" branch(%.6g)", op->param);
        } else if (op->kind == DLOR_OP_MERGE) {
            printf(" merge%s%s%s", op->bias ? "(" : "", op->bias ? op->bias : "", op->bias ? ")" : "");
        } else {
            printf(" softmax");
        }
    }
    if (w) dlor_jw_end_arr(w);
    else printf("\n");
}

/* The cost of one inference (cost_report.h) of an image with a graph, as
 * export-c would write it (inflated). */
static void print_cost(const unsigned char *img, size_t len, dlor_jw *w)
{
    dlor_model m;
    dlor_image_error ie;
    if (dlor_model_open(&m, img, len, 0, &ie) != 0) return;
    if (w) {
        dlor_jw_key(w, "cost");
        dlor_cost_json(w, &m, len);
    } else {
        dlor_cost_print(stdout, "", &m, len);
    }
}

static int info_dlor(const char *path, int json)
{
    dlor_container c;
    dlor_error err;
    unsigned char *img;
    size_t img_len;
    dlor_container_init(&c);
    if (dlor_image_load_file(path, &img, &img_len, &err) != DLOR_OK) return dlor_cmd_fail("info", &err);
    if (dlor_container_parse(img, img_len, path, DLOR_IMAGE_CHECK_CRC, &c, &err) != DLOR_OK) {
        free(img);
        return dlor_cmd_fail("info", &err);
    }
    uint64_t pd = 0, pl = 0;
    dlor_jw w;
    if (json) {
        dlor_jw_init(&w, stdout);
        dlor_jw_begin_obj(&w);
        dlor_jw_key(&w, "file");
        dlor_jw_str(&w, path);
        dlor_jw_key(&w, "format");
        dlor_jw_str(&w, "dlor");
        print_meta(&c.tensors, &w);
        print_graph(&c.graph, &c, NULL, NULL, &w);
        dlor_jw_key(&w, "layers");
        dlor_jw_begin_arr(&w);
    } else {
        printf("%s: .dlor container, format %d.x\nmetadata:\n", path, DLOR_IMAGE_MAJOR);
        print_meta(&c.tensors, NULL);
        print_graph(&c.graph, &c, NULL, NULL, NULL);
        printf("layers: %zu\n", c.nlayers);
    }
    for (size_t i = 0; i < c.nlayers; i++) {
        const dlor_layer_desc *d = &c.layers[i];
        const dlor_tensor *u = dlor_tensor_list_find(&c.tensors, d->u_name);
        const dlor_tensor *v = dlor_tensor_list_find(&c.tensors, d->v_name);
        const dlor_tensor *bt = d->base_name ? dlor_tensor_list_find(&c.tensors, d->base_name) : NULL;
        uint64_t params = u->nelem + v->nelem + 1 + (bt ? bt->nelem : 0);
        const char *layout = d->u_layout == DLOR_IMAGE_U_PANELS ? "panels" : "rows";
        /* one component (beta*I + P Q^T, or add with one factor) stores beta, as --emit names it */
        int single = d->method == DLOR_IMAGE_ADD && d->factors == 1;
        pd += d->rows * d->cols;
        pl += params;
        if (json) {
            dlor_jw_begin_obj(&w);
            dlor_jw_key(&w, "name");
            dlor_jw_str(&w, d->name);
            dlor_jw_key(&w, "shape");
            dlor_jw_begin_arr(&w);
            dlor_jw_u64(&w, d->rows);
            dlor_jw_u64(&w, d->cols);
            dlor_jw_end_arr(&w);
            dlor_jw_key(&w, "form");
            dlor_jw_str(&w, dlor_layer_form(&c, d));
            dlor_jw_key(&w, "method");
            dlor_jw_str(&w, dlor_method_name(d->method));
            dlor_jw_key(&w, "basis");
            dlor_jw_str(&w, dlor_basis_name(d->basis));
            dlor_jw_key(&w, "rank");
            dlor_jw_u64(&w, d->rank);
            dlor_jw_key(&w, "factors");
            dlor_jw_u64(&w, d->factors);
            dlor_jw_key(&w, "alpha");
            dlor_jw_num(&w, d->alpha);
            if (single) {
                dlor_jw_key(&w, "beta");
                dlor_jw_num(&w, d->alpha);
            }
            dlor_jw_key(&w, "dtype");
            dlor_jw_str(&w, dlor_dtype_name(u->dtype));
            dlor_jw_key(&w, "source_dtype");
            dlor_jw_str(&w, dlor_dtype_name(d->source_dtype));
            dlor_jw_key(&w, "u_layout");
            dlor_jw_str(&w, layout);
            dlor_jw_key(&w, "params_dense");
            dlor_jw_u64(&w, d->rows * d->cols);
            dlor_jw_key(&w, "params_dlor");
            dlor_jw_u64(&w, params);
            dlor_jw_end_obj(&w);
        } else {
            printf("  %-28s [%llu, %llu] %s/%s rank %llu, %llu factor%s, %s %.9g, %s factors (U in %s), params "
                   "%llu -> %llu\n",
                   d->name, (unsigned long long)d->rows, (unsigned long long)d->cols,
                   dlor_layer_form(&c, d), dlor_basis_name(d->basis), (unsigned long long)d->rank,
                   (unsigned long long)d->factors, d->factors == 1 ? "" : "s", single ? "beta" : "alpha", d->alpha,
                   dlor_dtype_name(u->dtype), layout, (unsigned long long)(d->rows * d->cols),
                   (unsigned long long)params);
        }
    }
    /* the layers a compressed form kept dense are converted layers too: stored as they are */
    const char *kept = dlor_tensor_list_meta(&c.tensors, "dlor.kept_dense");
    size_t nkept = 0;
    if (json) {
        dlor_jw_end_arr(&w);
        dlor_jw_key(&w, "kept_dense");
        dlor_jw_begin_arr(&w);
    }
    for (size_t i = 0; i < c.tensors.count; i++) {
        const dlor_tensor *t = &c.tensors.items[i];
        if (!dlor_name_listed(kept, t->name)) continue;
        char shape[96];
        nkept++;
        pd += t->nelem;
        pl += t->nelem;
        if (json) {
            json_tensor(&w, t, NULL);
        } else {
            if (nkept == 1) printf("layers kept dense:\n");
            printf("  %-28s %s dense, %s, params %llu\n", t->name, dlor_shape_str(t->dims, t->ndim, shape, sizeof shape),
                   dlor_dtype_name(t->dtype), (unsigned long long)t->nelem);
        }
    }
    if (json) {
        dlor_jw_end_arr(&w);
        dlor_jw_key(&w, "tensors");
        dlor_jw_begin_arr(&w);
    } else {
        printf("tensors: %zu\n", c.tensors.count);
    }
    int nw = name_width(&c.tensors);
    for (size_t i = 0; i < c.tensors.count; i++) {
        const dlor_tensor *t = &c.tensors.items[i];
        char shape[96];
        if (json) json_tensor(&w, t, role_of(&c, t->name));
        else printf("  %-*s %-5s %-16s %s\n", nw, t->name, dlor_dtype_name(t->dtype),
                    dlor_shape_str(t->dims, t->ndim, shape, sizeof shape), role_of(&c, t->name));
    }
    if (json) {
        dlor_jw_end_arr(&w);
        dlor_jw_key(&w, "params_dense_total");
        dlor_jw_u64(&w, pd);
        dlor_jw_key(&w, "params_dlor_total");
        dlor_jw_u64(&w, pl);
        print_cost(img, img_len, &w);
        dlor_jw_end_obj(&w);
    } else {
        if (c.nlayers + nkept)
            printf("converted layers' params: %llu dense -> %llu stored (%.3fx; %zu factored, %zu kept dense)\n",
                   (unsigned long long)pd, (unsigned long long)pl, pd ? (double)pl / (double)pd : 0.0, c.nlayers,
                   nkept);
        print_cost(img, img_len, NULL);
    }
    dlor_container_free(&c);
    free(img);
    return 0;
}

static int info_weights(const char *path, int json, const char *activation)
{
    dlor_tensor_list l;
    dlor_graph g;
    dlor_error err;
    char why[DLOR_ERROR_MSG_MAX] = "";
    const char *source = NULL;
    dlor_tensor_list_init(&l);
    dlor_graph_init(&g);
    if (dlor_read_model(path, &l, &g, why, sizeof why, &err) != DLOR_OK) return dlor_cmd_fail("info", &err);
    /* the graph convert would record: an unusable one is shown as none, with convert's reason */
    dlor_status st = dlor_resolve_graph(path, &l, &g, activation, &source, why, sizeof why, &err);
    if (st == DLOR_OK && g.count) st = dlor_graph_check(&g, &l, path, NULL, NULL, &err);
    if (st == DLOR_E_NOMEM || st == DLOR_E_ARG) {
        dlor_graph_free(&g);
        dlor_tensor_list_free(&l);
        return dlor_cmd_fail("info", &err);
    }
    if (st != DLOR_OK) {
        dlor_graph_free(&g);
        dlor_graph_init(&g);
        snprintf(why, sizeof why, "%s", err.msg);
    }
    uint64_t params = 0;
    dlor_jw w;
    if (json) {
        dlor_jw_init(&w, stdout);
        dlor_jw_begin_obj(&w);
        dlor_jw_key(&w, "file");
        dlor_jw_str(&w, path);
        dlor_jw_key(&w, "format");
        dlor_jw_str(&w, dlor_weights_format(path));
        print_meta(&l, &w);
        print_graph(&g, NULL, source, why, &w);
        dlor_jw_key(&w, "tensors");
        dlor_jw_begin_arr(&w);
    } else {
        printf("%s: %s, %zu tensors\n", path, dlor_weights_format(path), l.count);
        if (l.meta_count) printf("metadata:\n");
        print_meta(&l, NULL);
        print_graph(&g, NULL, source, why, NULL);
    }
    int nw = name_width(&l);
    for (size_t i = 0; i < l.count; i++) {
        const dlor_tensor *t = &l.items[i];
        char shape[96];
        const char *role = dlor_role_name(dlor_tensor_role_of(t, &g));
        params += t->nelem;
        if (json) json_tensor(&w, t, role);
        else printf("  %-*s %-5s %-16s %s\n", nw, t->name, dlor_dtype_name(t->dtype),
                    dlor_shape_str(t->dims, t->ndim, shape, sizeof shape), role);
    }
    if (json) {
        dlor_jw_end_arr(&w);
        dlor_jw_key(&w, "params_total");
        dlor_jw_u64(&w, params);
        dlor_jw_end_obj(&w);
    } else {
        printf("parameters: %llu\n", (unsigned long long)params);
    }
    dlor_tensor_list_free(&l);
    dlor_graph_free(&g);
    return 0;
}

int dlor_cmd_info(int argc, char **argv)
{
    dlor_opts o;
    int rc = dlor_opts_parse("info", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    if (o.npos != 1) {
        fprintf(stderr, "dlor info: expected one FILE (see 'dlor info --help')\n");
        return 2;
    }
    int json = dlor_opt(&o, defs, "json") != NULL;
    const char *activation = dlor_opt(&o, defs, "activation");
    if (strcmp(dlor_weights_format(o.pos[0]), "dlor") == 0) {
        if (activation) {
            fprintf(stderr, "dlor info: --activation is for dense files; %s records its own graph\n", o.pos[0]);
            return 2;
        }
        return info_dlor(o.pos[0], json);
    }
    return info_weights(o.pos[0], json, activation);
}
