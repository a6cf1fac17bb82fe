/* cost_report.c - prints what dlor_model_op_cost computes (see cost_report.h). */
#include "cost_report.h"

/* A name from the file made safe inside a C comment and on one line: control
 * and non-ASCII bytes become '?', and so does a '/' after a '*'. */
static void safe_name(char *s)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || (*p == '/' && p > s && p[-1] == '*')) *p = '?';
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
    if (op.kind == DLOR_IMAGE_OP_LINEAR && op.is_layer) {
        dlor_image_layer L;
        dlor_image_layer_at(&m->img, op.weight, &L);
        snprintf(what, n, "linear %.*s (%s, rank %llu, %llu factors)", (int)(L.name_len > 64 ? 64 : L.name_len),
                 L.name, L.method == DLOR_IMAGE_MUL ? "mul" : "add", (unsigned long long)L.rank,
                 (unsigned long long)L.factors);
    } else if (op.kind == DLOR_IMAGE_OP_LINEAR) {
        dlor_image_tensor t;
        dlor_image_tensor_at(&m->img, op.weight, &t);
        snprintf(what, n, "linear %.*s (dense)", (int)(t.name_len > 64 ? 64 : t.name_len), t.name);
    } else if (op.kind == DLOR_IMAGE_OP_BRANCH || op.kind == DLOR_IMAGE_OP_MERGE) {
        snprintf(what, n, "%s (weighted sum)", op.kind == DLOR_IMAGE_OP_MERGE ? "merge" : "branch");
        *in = *out = *macs; /* one per feature */
    } else {
        return 0;
    }
    safe_name(what);
    return 1;
}

void dlor_cost_print(FILE *f, const char *prefix, const dlor_model *m, size_t image_bytes)
{
    fprintf(f, "%scost of one inference: %zu bytes of flash (the image), %zu bytes of scratch RAM (batch 1), "
               "%llu multiply-accumulates\n",
            prefix, image_bytes, dlor_model_scratch_size(m, 1), (unsigned long long)dlor_model_macs(m));
    fprintf(f, "%s  %4s  %-48s %15s %12s %12s\n", prefix, "op", "operation", "features", "weight bytes", "MACs");
    for (uint32_t i = 0; i < m->img.nops; i++) {
        char what[128], feat[48];
        uint64_t in, out, macs, bytes;
        if (!describe(m, i, what, sizeof what, &in, &out, &macs, &bytes)) continue;
        snprintf(feat, sizeof feat, "%llu -> %llu", (unsigned long long)in, (unsigned long long)out);
        fprintf(f, "%s  %4u  %-48s %15s %12llu %12llu\n", prefix, (unsigned)i, what, feat, (unsigned long long)bytes,
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
    for (uint32_t i = 0; i < m->img.nops; i++) {
        char what[128];
        uint64_t in, out, macs, bytes;
        if (!describe(m, i, what, sizeof what, &in, &out, &macs, &bytes)) continue;
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
