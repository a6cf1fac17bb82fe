/* graph_eval.c - double-precision evaluation of a dense model graph. */
#include "dlor_graph_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

double dlor_act_eval(int act, double x, double p)
{
    switch (act) {
    case DLOR_ACT_RELU: return x < 0 ? 0 : x; /* NaN stays NaN, as in PyTorch (runtime.c, act_apply) */
    case DLOR_ACT_LEAKY_RELU: return x >= 0 ? x : p * x;
    case DLOR_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case DLOR_ACT_TANH: return tanh(x);
    case DLOR_ACT_SOFTPLUS: return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
    case DLOR_ACT_GELU_ERF: return 0.5 * x * (1 + erf(x * 0.70710678118654752));
    case DLOR_ACT_GELU_TANH: return 0.5 * x * (1 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
    case DLOR_ACT_SILU: return x / (1 + exp(-x));
    default: return x;
    }
}

dlor_status dlor_graph_forward_f64(const dlor_graph *g, const dlor_tensor_list *t, const double *x, uint64_t n,
                                   dlor_linear_hook hook, void *ctx, double *y, dlor_error *err)
{
    uint64_t in_dim, out_dim;
    if (dlor_graph_is_dag(g)) return dlor_fail(err, DLOR_E_UNSUPPORTED, "graph: only chain graphs are evaluated here");
    dlor_status st = dlor_graph_check(g, t, "graph", &in_dim, &out_dim, err);
    if (st != DLOR_OK) return st;
    double *cur = malloc((size_t)(n * in_dim > 0 ? n * in_dim : 1) * sizeof *cur);
    if (!cur) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for %llu activations", (unsigned long long)n);
    memcpy(cur, x, (size_t)(n * in_dim) * sizeof *cur);
    uint64_t width = in_dim, gin = 0;
    /* a BRANCH group: its input (saved), the weighted sum of its branches (acc) */
    double *saved = NULL, *acc = NULL, gscale = 0;
    for (size_t i = 0; i < g->count && st == DLOR_OK; i++) {
        const dlor_graph_op *op = &g->ops[i];
        if (op->kind == DLOR_OP_BRANCH || op->kind == DLOR_OP_MERGE) {
            if (saved) { /* a branch ends: add its weighted output (the first one sizes the sum) */
                if (!acc) acc = calloc((size_t)(n * width > 0 ? n * width : 1), sizeof *acc);
                if (!acc) {
                    st = dlor_fail(err, DLOR_E_NOMEM, "out of memory evaluating a branch group");
                    break;
                }
                for (uint64_t j = 0; j < n * width; j++) acc[j] += gscale * cur[j];
            } else { /* a BRANCH opens the group (the check rejects a MERGE without one) */
                saved = malloc((size_t)(n * width > 0 ? n * width : 1) * sizeof *saved);
                if (!saved) {
                    st = dlor_fail(err, DLOR_E_NOMEM, "out of memory evaluating a branch group");
                    break;
                }
                memcpy(saved, cur, (size_t)(n * width) * sizeof *saved);
                gin = width;
            }
            if (op->kind == DLOR_OP_BRANCH) {
                free(cur);
                cur = malloc((size_t)(n * gin > 0 ? n * gin : 1) * sizeof *cur);
                if (!cur) {
                    st = dlor_fail(err, DLOR_E_NOMEM, "out of memory evaluating a branch group");
                    break;
                }
                memcpy(cur, saved, (size_t)(n * gin) * sizeof *cur);
                width = gin;
                gscale = op->param;
                continue;
            }
            free(cur);
            free(saved);
            cur = acc;
            saved = acc = NULL;
            if (op->bias) {
                double *b = malloc((size_t)(width ? width : 1) * sizeof *b);
                if (!b) {
                    st = dlor_fail(err, DLOR_E_NOMEM, "out of memory evaluating '%s'", op->bias);
                    break;
                }
                st = dlor_tensor_to_f64(dlor_tensor_list_find(t, op->bias), b, err);
                for (uint64_t s = 0; st == DLOR_OK && s < n; s++)
                    for (uint64_t j = 0; j < width; j++) cur[s * width + j] += b[j];
                free(b);
            }
            continue;
        }
        if (op->kind == DLOR_OP_ACT) {
            for (uint64_t j = 0; j < n * width; j++) cur[j] = dlor_act_eval(op->act, cur[j], op->param);
            continue;
        }
        if (op->kind == DLOR_OP_SOFTMAX) {
            for (uint64_t s = 0; s < n; s++) {
                double *v = cur + s * width, mx = v[0], sum = 0;
                for (uint64_t j = 1; j < width; j++) mx = v[j] > mx ? v[j] : mx;
                for (uint64_t j = 0; j < width; j++) sum += (v[j] = exp(v[j] - mx));
                for (uint64_t j = 0; j < width; j++) v[j] /= sum;
            }
            continue;
        }
        const dlor_tensor *w = dlor_tensor_list_find(t, op->weight);
        uint64_t m = w->dims[0], k = w->dims[1];
        if (hook && (st = hook(ctx, i, op->weight, cur, n, k, err)) != DLOR_OK) break;
        double *W = malloc((size_t)(m * k) * sizeof *W), *nxt = malloc((size_t)(n * m > 0 ? n * m : 1) * sizeof *nxt);
        double *b = op->bias ? malloc((size_t)m * sizeof *b) : NULL;
        if (!W || !nxt || (op->bias && !b)) {
            free(W);
            free(nxt);
            free(b);
            st = dlor_fail(err, DLOR_E_NOMEM, "out of memory evaluating '%s'", op->weight);
            break;
        }
        st = dlor_tensor_to_f64(w, W, err);
        if (st == DLOR_OK && b) st = dlor_tensor_to_f64(dlor_tensor_list_find(t, op->bias), b, err);
        if (st == DLOR_OK) {
            /* next = cur W^T (+ b) */
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)m, (int)k, 1.0, cur, (int)k, W,
                        (int)k, 0.0, nxt, (int)m);
            if (b)
                for (uint64_t s = 0; s < n; s++)
                    for (uint64_t j = 0; j < m; j++) nxt[s * m + j] += b[j];
        }
        free(W);
        free(b);
        free(cur);
        cur = nxt;
        width = m;
    }
    free(saved);
    free(acc);
    if (st == DLOR_OK && y) memcpy(y, cur, (size_t)(n * width) * sizeof *y);
    free(cur);
    return st;
}
