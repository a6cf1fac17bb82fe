/* calib_tokens.c - Gram matrices of the linear layers' inputs over token ids
 * (calib_tokens.h), through the runtime's observer. */
#include "calib_tokens.h"

#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "convert.h"
#include "dlor_container.h"
#include "dlor_host.h"
#include "dlor_runtime.h"
#include "model_load.h"
#include "progress.h"

#define CALIB_BATCH 8 /* sequences per pass */

typedef struct {
    char *name;
    uint64_t in, rows;
    double *gram;       /* in x in, lower triangle */
} gram_acc;

typedef struct {
    gram_acc *acc;
    size_t n;
    const int64_t *mask;  /* [batch, seq] of this pass, or NULL */
    size_t seq, batch;    /* of this pass */
    double *rows;         /* gathered unmasked rows */
    const dlor_model *m;
} calib_ctx;

size_t dlor_calib_gather_rows(const void *x, int dtype, size_t rows, uint64_t stride, uint64_t in,
                              const int64_t *mask, size_t batch, size_t seq, double *out)
{
    size_t k = 0;
    int tokens = mask && rows == batch * seq;
    for (size_t r = 0; r < rows; r++) {
        if (tokens && mask[r] == 0) continue; /* padding */
        double *o = out + k * in;
        if (dtype == DLOR_RT_F32) {
            const float *xf = (const float *)x + r * stride;
            for (uint64_t j = 0; j < in; j++) o[j] = (double)xf[j];
        } else {
            memcpy(o, (const double *)x + r * stride, (size_t)in * sizeof(double));
        }
        k++;
    }
    return k;
}

static int observe(void *vctx, const dlor_model *m, const dlor_image_node *node, const void *x, size_t rows,
                   uint64_t stride)
{
    calib_ctx *c = vctx;
    dlor_image_tensor t;
    dlor_image_tensor_at(&m->img, node->weight, &t);
    gram_acc *a = NULL;
    for (size_t i = 0; i < c->n && !a; i++)
        if (strlen(c->acc[i].name) == t.name_len && memcmp(c->acc[i].name, t.name, t.name_len) == 0) a = &c->acc[i];
    if (!a) return 0;
    uint64_t in = a->in;
    size_t k = dlor_calib_gather_rows(x, DLOR_RT_F64, rows, stride, in, c->mask, c->batch, c->seq, c->rows);
    if (k)
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)in, (int)k, 1.0, c->rows, (int)in, 1.0, a->gram,
                    (int)in);
    a->rows += k;
    return 0;
}

dlor_status dlor_calib_model_image(const dlor_graph *g, const dlor_tensor_list *src, const char *const *name,
                                   unsigned char *const *pw, size_t np, unsigned char **img, size_t *len,
                                   dlor_error *err)
{
    dlor_container c;
    dlor_container_init(&c);
    dlor_status st = DLOR_OK;
    for (size_t i = 0; i < g->count && st == DLOR_OK; i++) {
        const char *names[2] = {g->ops[i].weight, g->ops[i].bias};
        for (int k = 0; k < 2 && st == DLOR_OK; k++) {
            const dlor_tensor *w = names[k] ? dlor_tensor_list_find(src, names[k]) : NULL;
            if (!w || dlor_tensor_list_find(&c.tensors, w->name)) continue;
            size_t j = 0;
            while (j < np && (!pw[j] || strcmp(w->name, name[j]) != 0)) j++;
            if (j < np)
                st = dlor_tensor_list_add(&c.tensors, "the dense model", w->name, strlen(w->name), DLOR_DT_F32, 2,
                                          w->dims, pw[j], (size_t)(w->dims[0] * w->dims[1] * 4), err);
            else
                st = dlor_tensor_list_add(&c.tensors, "the dense model", w->name, strlen(w->name), w->dtype, w->ndim,
                                          w->dims, w->data, w->nbytes, err);
        }
    }
    if (st == DLOR_OK) st = dlor_graph_copy(&c.graph, g, err);
    if (st == DLOR_OK) st = dlor_container_to_memory(&c, img, len, err);
    dlor_container_free(&c);
    return st;
}

dlor_status dlor_calib_tokens_gram(const dlor_graph *g, const dlor_tensor_list *src, const char *path,
                                   dlor_calib_want_fn want, dlor_calib_gram_fn done, void *ctx, const dlor_convert_hooks *progress,
                                   dlor_error *err)
{
    /* the dense model: the graph over the tensors it names (borrowed) */
    unsigned char *img = NULL;
    size_t len = 0;
    dlor_status st = dlor_calib_model_image(g, src, NULL, NULL, 0, &img, &len, err);
    if (st != DLOR_OK) return st;
    dlor_model m;
    dlor_image_error ie;
    void *plan = NULL;
    if (dlor_model_open_alloc(&m, img, len, 0, &plan, &ie) != 0) {
        free(img);
        return dlor_fail(err, DLOR_E_FORMAT, "the model's graph does not open for calibration: %s", ie.msg);
    }
    dlor_tokens tok;
    memset(&tok, 0, sizeof tok);
    st = dlor_load_tokens(path, &m, &tok, err);
    calib_ctx cc;
    memset(&cc, 0, sizeof cc);
    cc.m = &m;
    uint64_t widest = 0;
    /* one accumulator per wanted linear weight, in graph order */
    if (st == DLOR_OK) cc.acc = calloc(g->count ? g->count : 1, sizeof *cc.acc);
    if (st == DLOR_OK && !cc.acc) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for calibration");
    for (size_t i = 0; st == DLOR_OK && i < g->count; i++) {
        const dlor_graph_op *op = &g->ops[i];
        if (op->kind != DLOR_OP_LINEAR || !want(ctx, op->weight)) continue;
        int seen = 0;
        for (size_t j = 0; j < cc.n; j++) seen |= strcmp(cc.acc[j].name, op->weight) == 0;
        if (seen) continue;
        const dlor_tensor *w = dlor_tensor_list_find(src, op->weight);
        gram_acc *a = &cc.acc[cc.n];
        a->in = w->dims[1];
        a->name = malloc(strlen(op->weight) + 1);
        a->gram = calloc((size_t)(a->in * a->in), sizeof *a->gram);
        if (!a->name || !a->gram) {
            free(a->name);
            free(a->gram);
            st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for the Gram matrix of '%s'", op->weight);
            break;
        }
        strcpy(a->name, op->weight);
        if (a->in > widest) widest = a->in;
        cc.n++;
    }
    size_t B = CALIB_BATCH, S = (size_t)tok.seq;
    void *scratch = NULL;
    double *y = NULL;
    size_t need = 0, ylen = 0;
    if (st == DLOR_OK && cc.n) {
        const char *nm;
        uint32_t nl;
        int per_token = 0;
        uint64_t feat = 0;
        dlor_model_output_at(&m, 0, &nm, &nl, &per_token, &feat);
        need = dlor_model_scratch_bytes(&m, B, S, 1, DLOR_RT_F64);
        ylen = B * (per_token ? S : 1) * (size_t)feat;
        scratch = need ? malloc(need) : NULL;
        y = malloc((ylen ? ylen : 1) * sizeof *y);
        cc.rows = malloc((size_t)(B * S * widest) * sizeof *cc.rows);
        if (!scratch || !y || !cc.rows) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for calibration passes");
    }
    dlor_phase prog;
    dlor_progress_begin(&prog, progress, "calibration", "sequences", (size_t)tok.n, 0);
    for (uint64_t b0 = 0; st == DLOR_OK && cc.n && b0 < tok.n; b0 += B) {
        size_t nb = (size_t)(tok.n - b0 < B ? tok.n - b0 : B);
        void *ys[1] = {y};
        dlor_run r;
        memset(&r, 0, sizeof r);
        r.batch = nb;
        r.seq = S;
        r.ids = tok.ids + b0 * S;
        r.mask = tok.mask ? tok.mask + b0 * S : NULL;
        r.type_ids = tok.type_ids ? tok.type_ids + b0 * S : NULL;
        r.ids_dtype = DLOR_RT_I64;
        r.y = ys;
        r.ny = 1;
        r.observe = observe;
        r.observe_ctx = &cc;
        cc.mask = r.mask;
        cc.seq = S;
        cc.batch = nb;
        if (dlor_model_run(&m, &r, DLOR_RT_F64, scratch, need, NULL, &ie) != 0)
            st = dlor_fail(err, DLOR_E_NUMERIC, "%s: calibration pass: %s", path, ie.msg);
        for (size_t i = 0; i < nb; i++) dlor_progress_step(&prog, 0);
    }
    dlor_progress_end(&prog);
    for (size_t i = 0; st == DLOR_OK && i < cc.n; i++)
        st = done(ctx, cc.acc[i].name, cc.acc[i].gram, cc.acc[i].in, cc.acc[i].rows, err);
    for (size_t i = 0; i < cc.n; i++) {
        free(cc.acc[i].name);
        free(cc.acc[i].gram);
    }
    free(cc.acc);
    free(cc.rows);
    free(scratch);
    free(y);
    dlor_tokens_free(&tok);
    free(plan);
    free(img);
    return st;
}
