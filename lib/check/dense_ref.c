/* dense_ref.c - the dense model a .dlor file came from, run in float32 by
 * OpenBLAS (sgemv for one sample, sgemm for a batch): the reference that
 * dlor bench times the runtime against. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "dense_ref.h"
#include "dlor_graph_eval.h"

void dlor_dense_free(dense_model *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->ops[i].w);
        free(d->ops[i].b);
    }
    free(d->ops);
    free(d->buf[0]);
    free(d->buf[1]);
}

static dlor_status to_f32(const dlor_tensor *t, float **out, dlor_error *err)
{
    double *d = malloc((t->nelem ? t->nelem : 1) * sizeof *d);
    float *f = malloc((t->nelem ? t->nelem : 1) * sizeof *f);
    dlor_status st = d && f ? dlor_tensor_to_f64(t, d, err) : dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    for (uint64_t i = 0; st == DLOR_OK && i < t->nelem; i++) f[i] = (float)d[i];
    free(d);
    if (st != DLOR_OK) {
        free(f);
        f = NULL;
    }
    *out = f;
    return st;
}

/* The dense model: the .dlor file's graph over the source's tensors. */
dlor_status dlor_dense_build(const char *src_path, const dlor_tensor_list *src, const dlor_graph *g, size_t batch,
                             dense_model *d, dlor_error *err)
{
    dlor_status st = dlor_graph_check(g, src, src_path, &d->in_dim, &d->out_dim, err);
    if (st != DLOR_OK) return st;
    d->ops = calloc(g->count ? g->count : 1, sizeof *d->ops);
    if (!d->ops) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    d->width = d->in_dim;
    for (size_t i = 0; i < g->count && st == DLOR_OK; i++, d->n++) {
        const dlor_graph_op *op = &g->ops[i];
        dense_op *o = &d->ops[i];
        o->kind = op->kind;
        o->act = op->act;
        o->param = op->param;
        if (op->kind != DLOR_OP_LINEAR) continue;
        const dlor_tensor *w = dlor_tensor_list_find(src, op->weight);
        o->out = w->dims[0];
        o->in = w->dims[1];
        if (o->out > d->width) d->width = o->out;
        st = to_f32(w, &o->w, err);
        if (st == DLOR_OK && op->bias) st = to_f32(dlor_tensor_list_find(src, op->bias), &o->b, err);
    }
    d->batch = batch;
    for (int k = 0; k < 2 && st == DLOR_OK; k++) {
        d->buf[k] = malloc(batch * d->width * sizeof(float));
        if (!d->buf[k]) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    return st;
}

void dlor_dense_forward(dense_model *d, const float *x, float *y)
{
    size_t B = d->batch;
    uint64_t width = d->in_dim;
    float *cur = d->buf[0], *nxt = d->buf[1];
    memcpy(cur, x, B * d->in_dim * sizeof *cur);
    for (size_t i = 0; i < d->n; i++) {
        const dense_op *o = &d->ops[i];
        if (o->kind == DLOR_OP_LINEAR) {
            if (B == 1)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)o->out, (int)o->in, 1.0f, o->w, (int)o->in, cur, 1, 0.0f,
                            nxt, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)o->out, (int)o->in, 1.0f, cur,
                            (int)o->in, o->w, (int)o->in, 0.0f, nxt, (int)o->out);
            if (o->b)
                for (size_t s = 0; s < B; s++)
                    for (uint64_t j = 0; j < o->out; j++) nxt[s * o->out + j] += o->b[j];
            float *t = cur;
            cur = nxt;
            nxt = t;
            width = o->out;
        } else if (o->kind == DLOR_OP_ACT) {
            for (uint64_t j = 0; j < B * width; j++) cur[j] = (float)dlor_act_eval(o->act, cur[j], o->param);
        } else {
            for (size_t s = 0; s < B; s++) {
                float *v = cur + s * width, mx = v[0], sum = 0;
                for (uint64_t j = 1; j < width; j++) mx = v[j] > mx ? v[j] : mx;
                for (uint64_t j = 0; j < width; j++) sum += (v[j] = expf(v[j] - mx));
                for (uint64_t j = 0; j < width; j++) v[j] /= sum;
            }
        }
    }
    memcpy(y, cur, B * d->out_dim * sizeof *y);
}
