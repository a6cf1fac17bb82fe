/* dlor_graph.h - the neutral description of a feed-forward model's computation.
 *
 * A graph is a straight sequence of operations on a batch of row vectors:
 *
 *     LINEAR   y = W x + b     W is a tensor of shape [out, in] (PyTorch's Linear
 *                              layout); b is an optional 1-D tensor of length out.
 *     ACT      y = f(x)        elementwise activation (dlor_act), with one
 *                              parameter (the negative slope of leaky_relu).
 *     SOFTMAX  y = softmax(x)  over the features of each sample.
 *     BRANCH   starts a branch of a parallel group whose output is weighted by
 *              'param' (format 1.3). The first BRANCH of a group saves the
 *              current activations as the group's input; each further BRANCH
 *              ends the previous branch (adding param * its output to the
 *              group's sum) and restarts from the saved input.
 *     MERGE    ends the last branch of the group: y = sum_j s_j branch_j(x) (+ b),
 *              with b the optional bias tensor. Groups do not nest; every branch
 *              holds at least one LINEAR and all branches give the same width.
 *
 * Readers that can recover the computation (ONNX, or names plus an activation)
 * produce a dlor_graph next to their tensor list; the graph names tensors of
 * that list. Readers normalise what they read: a transposed ONNX weight is
 * transposed into [out, in] order, Gemm's alpha and beta are folded into W and
 * b, no-op reshapes disappear. Nothing here knows about factorization.
 */
#ifndef DLOR_GRAPH_H
#define DLOR_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"
#include "dlor_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dlor_op_kind {
    DLOR_OP_LINEAR = 1,
    DLOR_OP_ACT = 2,
    DLOR_OP_SOFTMAX = 3,
    DLOR_OP_BRANCH = 4,        /* param = the branch's weight */
    DLOR_OP_MERGE = 5          /* bias = optional tensor added to the sum */
} dlor_op_kind;

/* Stable codes (also stored in .dlor graphs). */
typedef enum dlor_act {
    DLOR_ACT_IDENTITY = 0,
    DLOR_ACT_RELU = 1,
    DLOR_ACT_LEAKY_RELU = 2,   /* param = negative slope */
    DLOR_ACT_SIGMOID = 3,
    DLOR_ACT_TANH = 4,
    DLOR_ACT_SOFTPLUS = 5,     /* log(1 + exp(x)) */
    DLOR_ACT_GELU_ERF = 6,     /* x/2 (1 + erf(x / sqrt 2)) */
    DLOR_ACT_GELU_TANH = 7,    /* x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    DLOR_ACT_SILU = 8          /* x sigmoid(x) */
} dlor_act;

typedef struct dlor_graph_op {
    dlor_op_kind kind;
    char *weight;              /* LINEAR: tensor name, [out, in] */
    char *bias;                /* LINEAR, MERGE: tensor name or NULL */
    dlor_act act;              /* ACT */
    double param;              /* ACT: leaky_relu slope; BRANCH: weight; 0 otherwise */
} dlor_graph_op;

typedef struct dlor_graph {
    dlor_graph_op *ops;
    size_t count, cap;
} dlor_graph;

#define DLOR_GRAPH_MAX_OPS 65536

void dlor_graph_init(dlor_graph *g);
void dlor_graph_free(dlor_graph *g);
/* Appends an op; strings are copied. */
dlor_status dlor_graph_add_linear(dlor_graph *g, const char *weight, const char *bias, dlor_error *err);
dlor_status dlor_graph_add_act(dlor_graph *g, dlor_act act, double param, dlor_error *err);
dlor_status dlor_graph_add_softmax(dlor_graph *g, dlor_error *err);
dlor_status dlor_graph_add_branch(dlor_graph *g, double weight, dlor_error *err);
dlor_status dlor_graph_add_merge(dlor_graph *g, const char *bias, dlor_error *err);

/* "relu", "leaky_relu", "gelu", "gelu_tanh", ... -> code; -1 if unknown. */
int dlor_act_from_name(const char *name);
const char *dlor_act_name(dlor_act act);

/* Checks a graph against its tensors: every name exists, weights are 2-D
 * float tensors, biases 1-D of the right length, consecutive LINEAR shapes
 * chain (out of one = in of the next), BRANCH/MERGE groups are well formed
 * (no nesting, no empty branch, equal branch widths, closed by the end). On
 * success *in_dim / *out_dim are the model's input and output feature counts.
 * 'what' names the file. */
dlor_status dlor_graph_check(const dlor_graph *g, const dlor_tensor_list *t, const char *what,
                             uint64_t *in_dim, uint64_t *out_dim, dlor_error *err);

/* Builds a graph from nn.Sequential-style names: every 2-D float tensor
 * "<prefix>.weight" whose prefix ends in an integer index ("0.weight",
 * "net.2.weight") is a linear layer, taken in index order, with "<prefix>.bias"
 * as its bias when present, and the activation 'act' between consecutive
 * layers (none after the last). Returns DLOR_OK with an empty graph and a
 * reason in 'why' when the names do not fit; errors only on allocation. */
dlor_status dlor_graph_from_names(const dlor_tensor_list *t, dlor_act act, double param, dlor_graph *g,
                                  char *why, size_t why_len, dlor_error *err);

/* Parses the text form of a graph (safetensors metadata key "dlor.graph"):
 * operations separated by ';', each one of
 *     linear(WEIGHT)  linear(WEIGHT,BIAS)  ACT  leaky_relu(SLOPE)  softmax
 *     branch(WEIGHT_NUMBER)  merge  merge(BIAS)
 * with ACT an activation name of dlor_act_from_name; spaces are ignored.
 * Example: "linear(0.weight,0.bias); relu; linear(2.weight,2.bias); softmax". */
dlor_status dlor_graph_parse(const char *text, dlor_graph *g, dlor_error *err);

#ifdef __cplusplus
}
#endif
#endif
