/* dense_ref.h - the dense reference pass (dense_ref.c): a graph over dense
 * weights, run in float32 by OpenBLAS. */
#ifndef DLOR_DENSE_REF_H
#define DLOR_DENSE_REF_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"
#include "dlor_graph.h"
#include "dlor_tensor.h"

typedef struct dense_op {
    int kind;                /* DLOR_OP_* */
    float *w, *b;            /* LINEAR: out x in (row-major), bias or NULL */
    uint64_t in, out;
    int act;
    double param;
} dense_op;

typedef struct dense_model {
    dense_op *ops;
    size_t n;
    uint64_t in_dim, out_dim, width;
    float *buf[2];           /* batch x width each */
    size_t batch;
} dense_model;

/* The dense model: the graph g (of a .dlor file) over the source's tensors src,
 * widened to float32, with buffers for batches of 'batch' samples. On failure
 * d holds what was made: free it with dlor_dense_free either way. */
dlor_status dlor_dense_build(const char *src_path, const dlor_tensor_list *src, const dlor_graph *g, size_t batch,
                             dense_model *d, dlor_error *err);
/* y[batch x out_dim] = the model on x[batch x in_dim]. */
void dlor_dense_forward(dense_model *d, const float *x, float *y);
void dlor_dense_free(dense_model *d);

#endif
