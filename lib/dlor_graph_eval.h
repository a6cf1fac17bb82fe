/* dlor_graph_eval.h - evaluating a dense model graph in double precision on a
 * host, with a hook that sees the inputs of every linear layer (calibration
 * activations for data-aware compression, data-space errors). It runs the
 * runtime's double pass (dlor_runtime.h), the one graph walk there is. */
#ifndef DLOR_GRAPH_EVAL_H
#define DLOR_GRAPH_EVAL_H

#include <stdint.h>

#include "dlor_graph.h"
#include "dlor_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called once per LINEAR operation (op: its index in the graph), in the graph's
 * order, with the n x in inputs it receives (row-major, valid only during the
 * call). Return DLOR_OK to go on; any other status stops the evaluation and is
 * returned, with the hook's message. */
typedef dlor_status (*dlor_linear_hook)(void *ctx, size_t op, const char *weight, const double *x, uint64_t n,
                                        uint64_t in, dlor_error *err);

/* One activation (a dlor_act code with its parameter) in double precision. */
double dlor_act_eval(int act, double x, double p);

/* Runs the graph over n samples x (n x in_dim), a chain or a DAG of a
 * features input, in one pass. y (n x out_dim, may be NULL) receives the first
 * output. Weights are the dense tensors of t. */
dlor_status dlor_graph_forward_f64(const dlor_graph *g, const dlor_tensor_list *t, const double *x, uint64_t n,
                                   dlor_linear_hook hook, void *ctx, double *y, dlor_error *err);

#ifdef __cplusplus
}
#endif
#endif
