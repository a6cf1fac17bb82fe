/* graph_eval.c - double-precision evaluation of a dense model graph on a host,
 * through the runtime's double pass: the graph and the tensors it names are
 * packed into an image in memory and run there, with the runtime's observer
 * handing every linear step's input to the caller's hook. One graph walk for
 * the runtime and the host. */
#include "dlor_graph_eval.h"

#include <stdlib.h>
#include <string.h>

#include "dlor_container.h"
#include "dlor_host.h"

double dlor_act_eval(int act, double x, double p) { return dlor_act_f64(act, x, p); }

typedef struct {
    dlor_linear_hook hook;
    void *ctx;
    const dlor_graph *g;
    size_t next;       /* the graph op after the last LINEAR seen (steps run in the graph's order) */
    double *buf;       /* the inputs of a step, rows x in, contiguous */
    dlor_status st;
    dlor_error *err;
} hook_bridge;

static int observe(void *ctx, const dlor_model *m, const dlor_image_node *node, const void *x, size_t rows,
                   uint64_t stride)
{
    hook_bridge *b = ctx;
    dlor_image_tensor t;
    char name[DLOR_IMAGE_MAX_NAME + 1];
    uint64_t in = node->in_features[0];
    dlor_image_tensor_at(&m->img, node->weight, &t); /* a dense source: weights are tensors */
    memcpy(name, t.name, t.name_len);
    name[t.name_len] = 0;
    for (size_t r = 0; r < rows; r++) memcpy(b->buf + r * in, (const double *)x + r * stride, in * sizeof(double));
    while (b->next < b->g->count && b->g->ops[b->next].kind != DLOR_OP_LINEAR) b->next++;
    b->st = b->hook(b->ctx, b->next++, name, b->buf, rows, in, b->err);
    return b->st != DLOR_OK;
}

dlor_status dlor_graph_forward_f64(const dlor_graph *g, const dlor_tensor_list *t, const double *x, uint64_t n,
                                   dlor_linear_hook hook, void *ctx, double *y, dlor_error *err)
{
    uint64_t in_dim, out_dim;
    dlor_status st = dlor_graph_check(g, t, "graph", &in_dim, &out_dim, err);
    if (st != DLOR_OK) return st;
    if (in_dim == 0) return dlor_fail(err, DLOR_E_UNSUPPORTED, "graph: a model of token ids is not evaluated here");
    if (n == 0) return DLOR_OK;
    /* the tensors the graph names (borrowed: t outlives the image) and the graph */
    dlor_container c;
    dlor_container_init(&c);
    for (size_t i = 0; i < g->count && st == DLOR_OK; i++) {
        const char *names[2] = {g->ops[i].weight, g->ops[i].bias};
        for (int k = 0; k < 2 && st == DLOR_OK; k++) {
            const dlor_tensor *w = names[k] ? dlor_tensor_list_find(t, names[k]) : NULL;
            if (w && !dlor_tensor_list_find(&c.tensors, w->name))
                st = dlor_tensor_list_add(&c.tensors, "graph", w->name, strlen(w->name), w->dtype, w->ndim, w->dims,
                                          w->data, w->nbytes, err);
        }
    }
    if (st == DLOR_OK) st = dlor_graph_copy(&c.graph, g, err);
    unsigned char *img = NULL;
    size_t len = 0;
    if (st == DLOR_OK) st = dlor_container_to_memory(&c, &img, &len, err);
    dlor_container_free(&c);
    if (st != DLOR_OK) return st;
    dlor_model m;
    dlor_image_error ie;
    void *plan = NULL, *scratch = NULL;
    double *yy = NULL, *buf = NULL;
    if (dlor_model_open_alloc(&m, img, len, 0, &plan, &ie) != 0) {
        free(img);
        return dlor_fail(err, ie.code == DLOR_IMAGE_E_LIMIT ? DLOR_E_NOMEM : DLOR_E_FORMAT, "graph: %s", ie.msg);
    }
    /* one pass over every sample, as the hook sees each step's inputs at once */
    size_t need = dlor_model_scratch_bytes(&m, (size_t)n, 1, 1, DLOR_RT_F64);
    uint64_t widest = 0;
    for (size_t i = 0; i < g->count; i++) {
        const dlor_tensor *w = g->ops[i].kind == DLOR_OP_LINEAR ? dlor_tensor_list_find(t, g->ops[i].weight) : NULL;
        if (w && w->dims[1] > widest) widest = w->dims[1];
    }
    if (need) scratch = malloc(need);
    if (!y) yy = malloc((size_t)(n * out_dim) * sizeof *yy);
    if (hook) buf = malloc((size_t)(n * widest) * sizeof *buf);
    if (!need || !scratch || (!y && !yy) || (hook && !buf)) {
        st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for %llu activations", (unsigned long long)n);
    } else {
        hook_bridge b = {hook, ctx, g, 0, buf, DLOR_OK, err};
        void *ys[1] = {y ? (void *)y : (void *)yy};
        dlor_run r;
        memset(&r, 0, sizeof r);
        r.batch = (size_t)n;
        r.seq = 1;
        r.x = x;
        r.y = ys;
        r.ny = 1;
        r.observe = hook ? observe : NULL;
        r.observe_ctx = &b;
        int rc = dlor_model_run(&m, &r, DLOR_RT_F64, scratch, need, NULL, &ie);
        if (rc == DLOR_RT_E_STOPPED) st = b.st;
        else if (rc != 0) st = dlor_fail(err, DLOR_E_NUMERIC, "graph: %s", ie.msg);
    }
    free(buf);
    free(yy);
    free(scratch);
    free(plan);
    free(img);
    return st;
}
