/* dlor_graph.h - the neutral description of a model's computation.
 *
 * A graph is one of two kinds, told apart by its first operation:
 *
 * A chain (what readers of MLPs produce; the GRAPH section of format 1.1-1.4):
 * a straight sequence of operations on a batch of row vectors, each applied to
 * the result of the one before. Its ops are LINEAR, ACT, SOFTMAX, BRANCH and
 * MERGE, and they have no inputs of their own:
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
 * A DAG (format 1.5; transformers): it starts with its INPUT ops, and every op
 * reads values by number and writes one: value i is the result of op i. Values
 * are float [N, F] (one row per sample: MLP inputs, pooled outputs), float
 * [N, S, F] (one row per token of a sequence of S), or integer [N, S] (token
 * ids, token type ids, an attention mask), N the batch. Every op but INPUT,
 * EMBED and POS_EMBED works on the last dimension alone, so it applies alike to
 * [N, F] and [N, S, F]. The ops, with in[] the values they read:
 *
 *     INPUT      a graph input named 'name'; mode says what it holds:
 *                FEATURES float [N, features]; IDS token ids [N, S]; MASK an
 *                attention mask [N, S] of 0 (padding) and 1; TYPE_IDS token type
 *                ids [N, S]. At most one input of each mode; FEATURES goes alone,
 *                MASK and TYPE_IDS need IDS. A run may leave MASK out (all ones)
 *                and TYPE_IDS out (all zeros), as Hugging Face models do.
 *     OUTPUT     names in[0] as a graph output 'name'; no op reads an OUTPUT.
 *     LINEAR     y = W x + b over the last dimension; W a tensor [out, in] (or, in
 *                a .dlor file, a DLoR layer of that shape), b optional [out].
 *     ACT        activation (act, param), elementwise.
 *     SOFTMAX    softmax over the last dimension.
 *     EMBED      y[n, s] = weight[in0[n, s]]: rows of a table [rows, F] picked by
 *                the ids in in0 (an IDS value: token or token type ids).
 *     POS_EMBED  y[n, s] = weight[s]: learned position embeddings, positions
 *                0 .. S-1 of the [N, S] value in0 (a table [positions, F]).
 *     ADD, MUL   y = in0 + in1, y = in0 * in1, elementwise; same shapes.
 *     SCALE      y = param * x (+ b): a constant factor, b optional [F].
 *     LAYERNORM  y = (x - mean) / sqrt(var + param) * w + b over the last
 *                dimension (var the biased variance), w and b optional [F].
 *     RMSNORM    y = x / sqrt(mean(x^2) + param) * w, w optional [F].
 *     ATTENTION  multi-head scaled dot-product attention (dlor_attention below):
 *                in0 = q [N, S, heads d], in1 = k [N, S, kv_heads d], in2 = v
 *                [N, S, kv_heads dv], in3 = an attention mask (MASK input) or
 *                DLOR_GRAPH_NONE; y [N, S, heads dv].
 *     POOL       [N, S, F] -> [N, F]: mode MEAN averages the tokens whose mask
 *                (in1, a MASK input, or NONE: all tokens) is 1; CLS takes token 0.
 *     L2NORM     y = x / max(||x||_2, param) over the last dimension.
 *
 * Readers that can recover the computation (ONNX, or names plus an activation)
 * produce a dlor_graph next to their tensor list; the graph names tensors of
 * that list. Readers normalise what they read: a transposed ONNX weight is
 * transposed into [out, in] order, Gemm's alpha and beta are folded into W and
 * b, no-op reshapes disappear. Nothing here knows about factorization. The
 * exact semantics of every op, as formulas, are in DLOR_FORMAT.md 7.4 and 7.7.
 */
#ifndef DLOR_GRAPH_H
#define DLOR_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_act.h"
#include "dlor_error.h"
#include "dlor_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stable codes (also stored in .dlor graphs). */
typedef enum dlor_op_kind {
    DLOR_OP_LINEAR = 1,
    DLOR_OP_ACT = 2,
    DLOR_OP_SOFTMAX = 3,
    DLOR_OP_BRANCH = 4,        /* chains only; param = the branch's weight */
    DLOR_OP_MERGE = 5,         /* chains only; bias = optional tensor added to the sum */
    DLOR_OP_INPUT = 6,         /* DAGs only, from here on */
    DLOR_OP_OUTPUT = 7,
    DLOR_OP_EMBED = 8,
    DLOR_OP_POS_EMBED = 9,
    DLOR_OP_ADD = 10,
    DLOR_OP_MUL = 11,
    DLOR_OP_SCALE = 12,
    DLOR_OP_LAYERNORM = 13,
    DLOR_OP_RMSNORM = 14,
    DLOR_OP_ATTENTION = 15,
    DLOR_OP_POOL = 16,
    DLOR_OP_L2NORM = 17
} dlor_op_kind;
#define DLOR_OP_KIND_MAX 17

/* INPUT modes (stable codes). */
typedef enum dlor_input_mode {
    DLOR_INPUT_FEATURES = 1,   /* float [N, features] */
    DLOR_INPUT_IDS = 2,        /* token ids [N, S] */
    DLOR_INPUT_MASK = 3,       /* attention mask [N, S]: 1 attend, 0 padding */
    DLOR_INPUT_TYPE_IDS = 4    /* token type (segment) ids [N, S] */
} dlor_input_mode;

/* POOL modes (stable codes). */
typedef enum dlor_pool_mode {
    DLOR_POOL_MEAN = 1,        /* mean over the tokens whose mask is 1 (all without a mask) */
    DLOR_POOL_CLS = 2          /* the first token */
} dlor_pool_mode;

/* What a value holds (stable codes, also stored in .dlor graphs). */
typedef enum dlor_value_type {
    DLOR_VALUE_ROWS = 1,       /* float [N, F] */
    DLOR_VALUE_TOKENS = 2,     /* float [N, S, F] */
    DLOR_VALUE_IDS = 3,        /* integer ids [N, S] */
    DLOR_VALUE_MASK = 4        /* attention mask [N, S] */
} dlor_value_type;

#define DLOR_GRAPH_NONE 0xFFFFFFFFu  /* no value */
#define DLOR_GRAPH_MAX_IN 4          /* values an op reads at most */
#define DLOR_GRAPH_MAX_OPS 65536
#define DLOR_GRAPH_MAX_OUTPUTS 64    /* OUTPUT ops of a DAG */

typedef struct dlor_graph_op {
    dlor_op_kind kind;
    char *weight;              /* LINEAR: [out, in]; EMBED, POS_EMBED: the table;
                                  LAYERNORM, RMSNORM: the scale w (NULL: none) */
    char *bias;                /* LINEAR, MERGE, SCALE, LAYERNORM: tensor name or NULL */
    dlor_act act;              /* ACT */
    double param;              /* ACT: leaky_relu slope; BRANCH: weight; SCALE: the factor;
                                  LAYERNORM, RMSNORM, L2NORM: eps; ATTENTION: the score
                                  scale (0: 1/sqrt(d)); 0 otherwise */
    /* DAGs only (zero in chains): */
    uint32_t in[DLOR_GRAPH_MAX_IN]; /* values read, DLOR_GRAPH_NONE for unused slots */
    char *name;                /* INPUT, OUTPUT: the graph's input or output name */
    int mode;                  /* INPUT: dlor_input_mode; POOL: dlor_pool_mode */
    uint64_t features;         /* INPUT FEATURES: F */
    uint32_t heads, kv_heads;  /* ATTENTION */
    int causal;                /* ATTENTION: position s attends to positions <= s only */
    double rope_theta;         /* ATTENTION: rotary position embedding base (0: none) */
} dlor_graph_op;

typedef struct dlor_graph {
    dlor_graph_op *ops;
    size_t count, cap;
} dlor_graph;

/* The shape of a value (dlor_graph_shapes). */
typedef struct dlor_graph_value {
    dlor_value_type type;
    uint64_t features;         /* F of float values; 0 for IDS and MASK */
} dlor_graph_value;

/* Multi-head attention, for dlor_graph_attention. */
typedef struct dlor_attention {
    uint32_t q, k, v;          /* values: q [N, S, heads d], k [N, S, kv_heads d], v [N, S, kv_heads dv] */
    uint32_t mask;             /* the MASK input, or DLOR_GRAPH_NONE */
    uint32_t heads, kv_heads;  /* kv_heads divides heads (grouped-query attention); 0: = heads */
    int causal;
    double scale;              /* scores q.k * scale; 0: 1/sqrt(d) */
    double rope_theta;         /* rotary embedding of q and k, Hugging Face's "rotate half"
                                  convention, base theta; 0: none */
} dlor_attention;

void dlor_graph_init(dlor_graph *g);
void dlor_graph_free(dlor_graph *g);

/* A DAG starts with an INPUT op; any other graph is a chain. */
int dlor_graph_is_dag(const dlor_graph *g);

/* ---- building a chain (or extending a DAG at its last value) ----------------
 * Appends an op; strings are copied. In a DAG these read the value of the last
 * op that is not an OUTPUT (BRANCH and MERGE are refused there). */
dlor_status dlor_graph_add_linear(dlor_graph *g, const char *weight, const char *bias, dlor_error *err);
dlor_status dlor_graph_add_act(dlor_graph *g, dlor_act act, double param, dlor_error *err);
dlor_status dlor_graph_add_softmax(dlor_graph *g, dlor_error *err);
dlor_status dlor_graph_add_branch(dlor_graph *g, double weight, dlor_error *err);
dlor_status dlor_graph_add_merge(dlor_graph *g, const char *bias, dlor_error *err);

/* ---- building a DAG ----------------------------------------------------------
 * Each appends one op reading the given values and stores the value it writes
 * (its index) in *out when out is not NULL. Strings are copied; nothing is
 * checked here but the graph's size and that the values exist (< count):
 * dlor_graph_check checks the rest against the tensors. INPUTs come first. */
dlor_status dlor_graph_input(dlor_graph *g, const char *name, dlor_input_mode mode, uint64_t features, uint32_t *out,
                             dlor_error *err);
dlor_status dlor_graph_output(dlor_graph *g, const char *name, uint32_t x, dlor_error *err);
dlor_status dlor_graph_linear(dlor_graph *g, uint32_t x, const char *weight, const char *bias, uint32_t *out,
                              dlor_error *err);
dlor_status dlor_graph_act(dlor_graph *g, uint32_t x, dlor_act act, double param, uint32_t *out, dlor_error *err);
dlor_status dlor_graph_softmax(dlor_graph *g, uint32_t x, uint32_t *out, dlor_error *err);
dlor_status dlor_graph_embed(dlor_graph *g, uint32_t ids, const char *table, uint32_t *out, dlor_error *err);
dlor_status dlor_graph_pos_embed(dlor_graph *g, uint32_t ids, const char *table, uint32_t *out, dlor_error *err);
dlor_status dlor_graph_add(dlor_graph *g, uint32_t a, uint32_t b, uint32_t *out, dlor_error *err);
dlor_status dlor_graph_mul(dlor_graph *g, uint32_t a, uint32_t b, uint32_t *out, dlor_error *err);
dlor_status dlor_graph_scale(dlor_graph *g, uint32_t x, double factor, const char *bias, uint32_t *out,
                             dlor_error *err);
dlor_status dlor_graph_layernorm(dlor_graph *g, uint32_t x, const char *weight, const char *bias, double eps,
                                 uint32_t *out, dlor_error *err);
dlor_status dlor_graph_rmsnorm(dlor_graph *g, uint32_t x, const char *weight, double eps, uint32_t *out,
                               dlor_error *err);
dlor_status dlor_graph_attention(dlor_graph *g, const dlor_attention *a, uint32_t *out, dlor_error *err);
dlor_status dlor_graph_pool(dlor_graph *g, uint32_t x, uint32_t mask, dlor_pool_mode mode, uint32_t *out,
                            dlor_error *err);
dlor_status dlor_graph_l2norm(dlor_graph *g, uint32_t x, double eps, uint32_t *out, dlor_error *err);
/* Appends any op (the builders above are shorthands for it); strings are copied. */
dlor_status dlor_graph_push(dlor_graph *g, const dlor_graph_op *op, uint32_t *out, dlor_error *err);
/* Appends every op of src to dst (an empty graph makes a copy of src). */
dlor_status dlor_graph_copy(dlor_graph *dst, const dlor_graph *src, dlor_error *err);

/* Nonzero when an EMBED or POS_EMBED op reads the tensor 'name': a table of
 * rows picked by index, which conversion carries over as it is. */
int dlor_graph_is_table(const dlor_graph *g, const char *name);

/* "relu", "leaky_relu", "gelu", "gelu_tanh", ... -> code; -1 if unknown. */
int dlor_act_from_name(const char *name);
const char *dlor_act_name(dlor_act act);
/* "linear", "attention", ... (the text form's names); "unknown" for others. */
const char *dlor_op_name(dlor_op_kind kind);

/* Checks a graph against its tensors. A chain: every name exists, weights are
 * 2-D float tensors, biases 1-D of the right length, consecutive LINEAR shapes
 * chain (out of one = in of the next), BRANCH/MERGE groups are well formed (no
 * nesting, no empty branch, equal branch widths, closed by the end). A DAG:
 * every op as DLOR_FORMAT.md 7.7 requires, its value shapes inferred op by op.
 * On success *in_dim / *out_dim are the model's input feature count (0 for a
 * DAG that takes ids) and the first output's feature count. 'what' names the
 * file. */
dlor_status dlor_graph_check(const dlor_graph *g, const dlor_tensor_list *t, const char *what,
                             uint64_t *in_dim, uint64_t *out_dim, dlor_error *err);
/* The same for a DAG, also giving every value's shape: vals has g->count
 * entries (an OUTPUT's entry is the value it names). */
dlor_status dlor_graph_shapes(const dlor_graph *g, const dlor_tensor_list *t, const char *what,
                              dlor_graph_value *vals, dlor_error *err);

/* The same where a LINEAR weight may also name a DLoR layer of a container:
 * layer(ctx, name, &rows, &cols) returns nonzero, with the layer's shape, when
 * 'name' is one (the .dlor writer checks its graph so). */
typedef int (*dlor_graph_layer_fn)(void *ctx, const char *name, uint64_t *rows, uint64_t *cols);
dlor_status dlor_graph_shapes_layers(const dlor_graph *g, const dlor_tensor_list *t, dlor_graph_layer_fn layer,
                                     void *layer_ctx, const char *what, dlor_graph_value *vals, dlor_error *err);

/* Builds a graph from nn.Sequential-style names: every 2-D float tensor
 * "<prefix>.weight" whose prefix ends in an integer index ("0.weight",
 * "net.2.weight") is a linear layer, taken in index order, with "<prefix>.bias"
 * as its bias when present, and the activation 'act' between consecutive
 * layers (none after the last). Returns DLOR_OK with an empty graph and a
 * reason in 'why' when the names do not fit; errors only on allocation. */
dlor_status dlor_graph_from_names(const dlor_tensor_list *t, dlor_act act, double param, dlor_graph *g,
                                  char *why, size_t why_len, dlor_error *err);

/* Parses the text form of a graph (safetensors metadata key "dlor.graph").
 * Operations are separated by ';'; spaces are ignored. A chain is a list of
 *     linear(WEIGHT)  linear(WEIGHT,BIAS)  ACT  leaky_relu(SLOPE)  softmax
 *     branch(WEIGHT_NUMBER)  merge  merge(BIAS)
 * with ACT an activation name of dlor_act_from_name, e.g.
 *     "linear(0.weight,0.bias); relu; linear(2.weight,2.bias); softmax".
 * A DAG starts with its inputs and names values with '%':
 *     input(NAME, features, F)  input(NAME, ids|mask|type_ids)   (value %NAME)
 *     [%V =] OP(ARGS)                         (the value of the op is %V)
 *     output(NAME)  output(NAME, %V)
 * where an op's ARGS are its values first (%V; the value of the op before when
 * the first one is left out), then its tensors, numbers and words, then
 * KEY=NUMBER attributes:
 *     linear(WEIGHT[, BIAS])  ACT  leaky_relu(SLOPE)  softmax  scale(FACTOR[, BIAS])
 *     embed(%IDS, TABLE)  pos_embed(%IDS, TABLE)  add(%B)  mul(%B)  add(%A, %B)
 *     layernorm([WEIGHT[, BIAS]][, eps=E])  rmsnorm([WEIGHT][, eps=E])
 *     attention(%Q, %K, %V[, %MASK], heads=H[, kv_heads=K][, causal][, rope_theta=T][, scale=S])
 *     pool([%MASK,] mean|cls)  l2norm([eps=E])
 * (eps defaults: layernorm 1e-5, rmsnorm 1e-6, l2norm 1e-12). A value is also
 * named by its index: %0 is the first input; "%7 = ..." may name op 7's value.
 * A small encoder:
 *     "input(ids, ids); input(mask, mask); %e = embed(%ids, word); pos_embed(%ids, pos);
 *      add(%e, %3); %x = layernorm(ln.w, ln.b, eps=1e-12); %q = linear(%x, q.w);
 *      %k = linear(%x, k.w); %v = linear(%x, v.w); attention(%q, %k, %v, %mask, heads=4);
 *      add(%x); pool(%mask, mean); output(embedding)" */
dlor_status dlor_graph_parse(const char *text, dlor_graph *g, dlor_error *err);

/* The text form of g (malloc'd; parsing it gives g back): a chain as above, a
 * DAG with every value named by its index (%0, %1, ...). Fails
 * (DLOR_E_UNSUPPORTED) for a name the text form cannot carry: one holding
 * , ; ( ) (and in a DAG = or %), or starting or ending with a space. */
dlor_status dlor_graph_to_text(const dlor_graph *g, char **text, dlor_error *err);

#ifdef __cplusplus
}
#endif
#endif
