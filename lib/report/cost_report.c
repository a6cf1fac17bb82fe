/* cost_report.c - prints what dlor_model_op_cost computes (see cost_report.h). */
#include "cost_report.h"

#include "dlor_graph.h"
#include <string.h>

/* A name from the file made safe inside a C comment and on one line: control
 * and non-ASCII bytes become '?', and so does a '/' after a '*'. */
static void safe_name(char *s)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || (*p == '/' && p > s && p[-1] == '*')) *p = '?';
}

/* A linear step's text: "linear fc1.weight (mul, rank 16, 8 factors)" for DLoR
 * layer 'index', "linear fc1.weight (dense)" for tensor 'index'. */
static void linear_text(const dlor_model *m, int is_layer, uint32_t index, char *what, size_t n)
{
    if (is_layer) {
        dlor_image_layer L;
        dlor_image_layer_at(&m->img, index, &L);
        snprintf(what, n, "linear %.*s (%s, rank %llu, %llu factors)", (int)(L.name_len > 64 ? 64 : L.name_len),
                 L.name, L.method == DLOR_IMAGE_MUL ? "mul" : "add", (unsigned long long)L.rank,
                 (unsigned long long)L.factors);
    } else {
        dlor_image_tensor t;
        dlor_image_tensor_at(&m->img, index, &t);
        snprintf(what, n, "linear %.*s (dense)", (int)(t.name_len > 64 ? 64 : t.name_len), t.name);
    }
}

/* Operation i as text ("linear fc1.weight (mul, rank 16, 8 factors)") and the
 * features it maps; 0 for operations that cost nothing (activations, softmax,
 * a BRANCH opening a group). */
static int describe(const dlor_model *m, uint32_t i, char *what, size_t n, uint64_t *in, uint64_t *out,
                    uint64_t *macs, uint64_t *bytes)
{
    dlor_image_op op;
    if (dlor_image_op_at(&m->img, i, &op) != 0 || dlor_model_op_cost(m, i, macs, bytes) != 0) return 0;
    if (*macs == 0 && *bytes == 0) return 0;
    *in = op.in;
    *out = op.out;
    if (op.kind == DLOR_IMAGE_OP_LINEAR) {
        linear_text(m, op.is_layer, op.weight, what, n);
    } else if (op.kind == DLOR_IMAGE_OP_BRANCH || op.kind == DLOR_IMAGE_OP_MERGE) {
        snprintf(what, n, "%s (weighted sum)", op.kind == DLOR_IMAGE_OP_MERGE ? "merge" : "branch");
        *in = *out = *macs; /* one per feature */
    } else {
        return 0;
    }
    safe_name(what);
    return 1;
}

/* Node i of a graph of values (format 1.5) as text, as describe() does for a
 * chain's operation: a linear step as there; any other node that reads weights
 * (an embedding table, a norm's scale, a bias) or multiplies by kind name and
 * its tensor; 0 for nodes that cost nothing per row. */
static int describe_node(const dlor_model *m, uint32_t i, char *what, size_t n, uint64_t *in, uint64_t *out,
                         uint64_t *macs, uint64_t *bytes)
{
    dlor_image_node nd;
    if (dlor_image_node_at(&m->img, i, &nd) != 0 || dlor_model_op_cost(m, i, macs, bytes) != 0) return 0;
    if (*macs == 0 && *bytes == 0) return 0;
    *in = nd.in_features[0];
    *out = nd.features;
    dlor_image_tensor t;
    uint32_t ti = nd.weight != DLOR_IMAGE_NO_TENSOR ? nd.weight : nd.bias;
    if (nd.kind == DLOR_OP_LINEAR)
        linear_text(m, nd.is_layer, nd.weight, what, n);
    else if (ti != DLOR_IMAGE_NO_TENSOR && dlor_image_tensor_at(&m->img, ti, &t) == 0)
        snprintf(what, n, "%s %.*s", dlor_op_name((dlor_op_kind)nd.kind), (int)(t.name_len > 64 ? 64 : t.name_len),
                 t.name);
    else
        snprintf(what, n, "%s", dlor_op_name((dlor_op_kind)nd.kind));
    safe_name(what);
    return 1;
}

/* Operation (chain) or node (graph of values) i, described; 0 when it costs nothing. */
static int describe_any(const dlor_model *m, uint32_t i, char *what, size_t n, uint64_t *in, uint64_t *out,
                        uint64_t *macs, uint64_t *bytes)
{
    return m->img.ndag ? describe_node(m, i, what, n, in, out, macs, bytes)
                       : describe(m, i, what, n, in, out, macs, bytes);
}

void dlor_cost_print(FILE *f, const char *prefix, const dlor_model *m, size_t image_bytes)
{
    uint32_t count = m->img.ndag ? m->img.ndag : m->img.nops;
    char what[128], feat[48];
    uint64_t in, out, macs, bytes;
    int w = 48; /* the operation column: as wide as its longest entry */
    for (uint32_t i = 0; i < count; i++)
        if (describe_any(m, i, what, sizeof what, &in, &out, &macs, &bytes) && (int)strlen(what) > w)
            w = (int)strlen(what);
    fprintf(f, "%scost of one inference: %zu bytes of flash (the image), %zu bytes of scratch RAM (batch 1), "
               "%llu multiply-accumulates\n",
            prefix, image_bytes, dlor_model_scratch_size(m, 1), (unsigned long long)dlor_model_macs(m));
    fprintf(f, "%s  %4s  %-*s %15s %12s %12s\n", prefix, "op", w, "operation", "features", "weight bytes", "MACs");
    for (uint32_t i = 0; i < count; i++) {
        if (!describe_any(m, i, what, sizeof what, &in, &out, &macs, &bytes)) continue;
        if (in) snprintf(feat, sizeof feat, "%llu -> %llu", (unsigned long long)in, (unsigned long long)out);
        else snprintf(feat, sizeof feat, "ids -> %llu", (unsigned long long)out); /* a lookup */
        fprintf(f, "%s  %4u  %-*s %15s %12llu %12llu\n", prefix, (unsigned)i, w, what, feat, (unsigned long long)bytes,
                (unsigned long long)macs);
    }
}

void dlor_cost_json(dlor_jw *w, const dlor_model *m, size_t image_bytes)
{
    dlor_jw_begin_obj(w);
    dlor_jw_key(w, "flash_bytes");
    dlor_jw_u64(w, image_bytes);
    dlor_jw_key(w, "scratch_bytes");
    dlor_jw_u64(w, dlor_model_scratch_size(m, 1));
    dlor_jw_key(w, "macs");
    dlor_jw_u64(w, dlor_model_macs(m));
    dlor_jw_key(w, "ops");
    dlor_jw_begin_arr(w);
    uint32_t count = m->img.ndag ? m->img.ndag : m->img.nops;
    for (uint32_t i = 0; i < count; i++) {
        char what[128];
        uint64_t in, out, macs, bytes;
        if (!describe_any(m, i, what, sizeof what, &in, &out, &macs, &bytes)) continue;
        dlor_jw_begin_obj(w);
        dlor_jw_key(w, "op");
        dlor_jw_u64(w, i);
        dlor_jw_key(w, "operation");
        dlor_jw_str(w, what);
        dlor_jw_key(w, "in");
        dlor_jw_u64(w, in);
        dlor_jw_key(w, "out");
        dlor_jw_u64(w, out);
        dlor_jw_key(w, "weight_bytes");
        dlor_jw_u64(w, bytes);
        dlor_jw_key(w, "macs");
        dlor_jw_u64(w, macs);
        dlor_jw_end_obj(w);
    }
    dlor_jw_end_arr(w);
    dlor_jw_end_obj(w);
}
