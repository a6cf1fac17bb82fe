/* onnx_internal.h - what the files of the ONNX reader share (onnx.c has the
 * reader's description; dlor_readers.h its interface). Not a public header.
 *
 *   onnx.c           entry points, the value table (names, definitions, uses), helpers
 *   onnx_proto.c     the protobuf walk: model, graph, nodes, attributes, value infos
 *   onnx_tensor.c    TensorProto decoding (raw_data, typed fields)
 *   onnx_external.c  external data, read only from files beneath the model's folder
 *   onnx_recover.c   graph recovery: the walk from the input, layers and single ops
 *   onnx_patterns.c  multi-node patterns (SiLU, GELU, LayerNorm, residual Add)
 *   onnx_emit.c      the tensor list and the graph handed back
 */
#ifndef DLOR_ONNX_INTERNAL_H
#define DLOR_ONNX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_graph.h"
#include "dlor_protobuf.h"
#include "dlor_readers.h"

/* Newest default-domain opset whose operator definitions dlor was checked
 * against (onnx 1.19). */
#define OX_MAX_OPSET 24
/* Not limits of the format: they bound the memory a hostile file can claim
 * with tiny records (an empty node is 2 bytes). */
#define OX_MAX_NODES (1u << 21)
#define OX_MAX_REFS (1u << 23)
#define OX_MAX_ATTRS (1u << 22)
#define OX_MAX_IO (1u << 16)
#define OX_MAX_LOCATION 4096

/* ONNX TensorProto.DataType codes. */
enum {
    OT_UNDEFINED = 0, OT_FLOAT = 1, OT_UINT8 = 2, OT_INT8 = 3, OT_UINT16 = 4, OT_INT16 = 5,
    OT_INT32 = 6, OT_INT64 = 7, OT_STRING = 8, OT_BOOL = 9, OT_FLOAT16 = 10, OT_DOUBLE = 11,
    OT_UINT32 = 12, OT_UINT64 = 13, OT_BFLOAT16 = 16
};


/* AttributeProto.AttributeType codes used here. */
enum { AT_FLOAT = 1, AT_INT = 2, AT_STRING = 3, AT_TENSOR = 4, AT_FLOATS = 6, AT_INTS = 7 };

/* TensorProto fields holding values, in the order of the 'typed' slots. */
enum { TF_FLOAT, TF_INT32, TF_STRING, TF_INT64, TF_DOUBLE, TF_UINT64, TF_COUNT };

typedef struct { const unsigned char *p; size_t n; } ox_str;

typedef struct ox_vec { void *p; size_t n, cap; } ox_vec;

typedef struct ox_tensor {
    ox_str name;
    dlor_dtype dt;
    int ndim;
    uint64_t dims[DLOR_MAX_NDIM];
    uint64_t nelem;
    const unsigned char *data;
    size_t nbytes;
} ox_tensor;

typedef struct ox_attr {
    ox_str name, s;
    int64_t type, i;
    float f;
    int has_f, has_i, has_s, has_t, has_floats, has_ints, has_other, has_ref;
    dlor_pb msg;  /* the AttributeProto itself */
    dlor_pb t;    /* its TensorProto (has_t) */
} ox_attr;

typedef struct ox_node {
    ox_str name, op, domain;
    size_t in0, nin, out0, nout, attr0, nattr;
    long cidx;    /* Constant: index into consts, or -1 */
    int visited;
} ox_node;

typedef struct ox_input { ox_str name; int rank; uint64_t feat; } ox_input;

typedef struct ox_value {
    ox_str name;
    long init, input, node;    /* definitions, -1 when not */
    uint32_t nuse, use0, filled;
    int is_output;
} ox_value;

/* A normalised copy of an initializer (see the top comment). */
enum { D_TRANSPOSE = 1, D_SCALE = 2, D_RESHAPE = 4, D_BCAST = 8 };
typedef struct ox_der {
    long src;
    int kind;
    double scale;
    uint64_t n;
    dlor_dtype dt;
    int ndim;
    uint64_t dims[DLOR_MAX_NDIM];
    const unsigned char *data;
    size_t nbytes;
    void *block;
    char *name;
    uint32_t uses;
    int replaces;
    size_t item;
    long next;    /* previous copy of the same initializer, or -1 */
} ox_der;

/* Tensor references in recovered ops: >= 0 initializer, <= -2 derived
 * (-2 - index), -1 none. */
#define REF_NONE (-1L)
#define REF_DER(i) (-2L - (long)(i))
/* A recovered op. The walk makes a chain: op i reads the value op i - 1 made
 * (op 0 the model's input); ADD (a residual connection) also reads value in1,
 * numbered as in a graph of values (0 the input, op i's value i + 1). */
typedef struct ox_op { dlor_op_kind kind; long w, b; dlor_act act; double param; long in1; } ox_op;

/* A residual Add met on the way: node 'node' adds 'saved' (its value, with
 * 'feat' features) to the end of the branch the walk follows. */
typedef struct ox_pending { size_t node; long saved; uint64_t feat; } ox_pending;

typedef struct ox_walk { long cur; int rank; uint64_t feat; } ox_walk;

typedef struct ox_ctx {
    const char *what, *model_dir;
    dlor_error *err;
    dlor_tensor_list *out;
    char *why;
    size_t why_len;
    int64_t opset;
    int opset_seen, opset_conflict, ngraphs;
    ox_vec inits, consts, nodes, ins, outs, attrs, ginputs, goutputs;
    long *in_vals, *out_vals;
    ox_vec vals;
    uint32_t *hash;
    size_t hash_cap;
    uint32_t *uses;
    ox_vec ders, ops;
    ox_vec pending;        /* ox_pending: residual Adds waiting for their branch */
    long *dagv;            /* per value: its number in the recovered graph of values, or -1 */
    uint64_t feat0;        /* the model input's feature count (0 while unknown) */
    long *der_head;        /* per initializer: its latest copy, or -1 */
    uint32_t *der_count;   /* per initializer: number of copies */
    uint32_t *dhash;       /* names of the copies added under a suffix */
    size_t dhash_cap;
    char show[8][96];
    unsigned showi;
} ox_ctx;

#define INIT(c, i) (((ox_tensor *)(c)->inits.p)[i])
#define CONSTT(c, i) (((ox_tensor *)(c)->consts.p)[i])
#define NODE(c, i) (((ox_node *)(c)->nodes.p)[i])
#define INS(c, i) (((ox_str *)(c)->ins.p)[i])
#define OUTS(c, i) (((ox_str *)(c)->outs.p)[i])
#define ATTR(c, i) (((ox_attr *)(c)->attrs.p)[i])
#define GIN(c, i) (((ox_input *)(c)->ginputs.p)[i])
#define GOUT(c, i) (((ox_str *)(c)->goutputs.p)[i])
#define VAL(c, i) (((ox_value *)(c)->vals.p)[i])
#define DER(c, i) (((ox_der *)(c)->ders.p)[i])
#define OP(c, i) (((ox_op *)(c)->ops.p)[i])

typedef struct ox_ext {
    ox_str loc, off, len;
    int has_loc, has_off, has_len, has_sum;
} ox_ext;

/* ---- helpers (onnx.c) ---- */
void *ox_vec_push(ox_vec *v, size_t es);
int ox_str_is(ox_str s, const char *lit);
int ox_str_eq(ox_str a, ox_str b);
/* A name made printable for a message: control bytes become '?', long names
 * are cut at a UTF-8 boundary and marked "...". Eight rotating buffers: a
 * message may use up to eight ox_s/ox_nl/def_kind results (ox_nl takes two,
 * def_kind three). */
const char *ox_s(ox_ctx *c, ox_str s);
/* "'name'" for a named node, "#k" otherwise. */
const char *ox_nl(ox_ctx *c, size_t k);
const char *ox_type_name(int64_t t);
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
dlor_status ox_fail(ox_ctx *c, dlor_status code, const char *fmt, ...);
/* Adds "<what>: <label>: " in front of a protobuf-level message. */
dlor_status ox_pb_err(ox_ctx *c, dlor_status s, const char *label);
dlor_status ox_nomem(ox_ctx *c);
dlor_status ox_want_wt(ox_ctx *c, const dlor_pb_field *f, int wt, const char *label, const char *field);
/* Sets the reason why there is no graph; returns 1. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int ox_why(ox_ctx *c, const char *fmt, ...);
dlor_dtype ox_dtype_of(int64_t t);
/* The typed field that holds values of ONNX type t. */
int ox_typed_field_for(int64_t t);
uint32_t ox_hash_str(ox_str s);
/* The value named s, or -1. */
long ox_lookup(const ox_ctx *c, ox_str s);
/* Checks the graph's structure and fills the value table. */
dlor_status ox_build_values(ox_ctx *c);

/* ---- external data (onnx_external.c) ---- */
dlor_status ox_parse_ext_entry(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f, const char *label, ox_ext *x);
dlor_status ox_read_external(ox_ctx *c, const ox_ext *x, const char *label, ox_tensor *t);

/* ---- tensors (onnx_tensor.c) ---- */
dlor_status ox_decode_tensor(ox_ctx *c, const dlor_pb *msg, const char *kind, int index, int allow_external,
                             ox_tensor *t);

/* ---- the protobuf walk (onnx_proto.c) ---- */
dlor_status ox_parse_model(ox_ctx *c, const unsigned char *buf, size_t len);

/* ---- recovery (onnx_recover.c) ---- */
/* 0: the graph is recovered (ops filled); 1: it is not (why set); -1: error. */
int ox_recover(ox_ctx *c, dlor_status *st);
int ox_is_default_domain(ox_str d);
const ox_attr *ox_find_attr(ox_ctx *c, size_t k, const char *name);
/* 1 (why set) unless every attribute of node k is in the NULL-terminated
 * list allowed, given once, and not a reference to a function attribute. */
int ox_check_attrs(ox_ctx *c, size_t k, const char *const *allowed);
int ox_attr_type_ok(ox_ctx *c, size_t k, const ox_attr *a, int want);
int ox_get_float(ox_ctx *c, size_t k, const char *name, double dflt, double *v);
int ox_get_int(ox_ctx *c, size_t k, const char *name, int64_t dflt, int64_t *v);
const ox_tensor *ox_init_of(ox_ctx *c, long v);
/* An initializer or the tensor of a Constant node. */
const ox_tensor *ox_const_of(ox_ctx *c, long v);
double ox_elem_f64(const ox_tensor *t, uint64_t i);
/* 1 when v is a one-element float constant within 1e-3 (relative) of want. */
int ox_const_near(ox_ctx *c, long v, double want);
/* The single node consuming v, when v has exactly one use and is not a graph
 * output; -1 otherwise. */
long ox_sole_use(ox_ctx *c, long v);
long ox_in_v(ox_ctx *c, size_t k, size_t j);
/* The value of node k's first output; 1 (why set) when it has none or
 * when any other output is used. */
int ox_main_out(ox_ctx *c, size_t k, long *out);
/* A plain op node: default domain, no attributes, nin inputs, one output. */
int ox_plain(ox_ctx *c, long k, const char *op, size_t nin);
long ox_out_of(ox_ctx *c, size_t k);
dlor_status ox_push_op(ox_ctx *c, dlor_op_kind kind, long w, long b, dlor_act act, double param);

/* ---- patterns (onnx_patterns.c): 0 matched (ops pushed, walk moved on), 1 not, -1 error ---- */
/* The other input of binary node k (one of whose inputs is v), or -2. */
long ox_other_in(ox_ctx *c, size_t k, long v);
int ox_try_silu(ox_ctx *c, ox_walk *w, size_t s, size_t m, dlor_status *st);
int ox_try_gelu(ox_ctx *c, ox_walk *w, size_t d, size_t m, dlor_status *st);
/* x -> ReduceMean -> Sub(x, .) -> Pow 2 -> ReduceMean -> Add eps -> Sqrt -> Div, then an
 * optional Mul(weight) and Add(bias): LayerNorm over the last axis. r and s are two uses of x. */
int ox_try_layernorm(ox_ctx *c, ox_walk *w, size_t r, size_t s, dlor_status *st);
/* LayerNormalization (opset 17) over the last axis. */
int ox_op_layernorm(ox_ctx *c, size_t k, ox_walk *w, dlor_status *st);
/* 1 when node k is an Add of value v and another value that is no constant:
 * where a residual branch that starts at v joins it again. */
int ox_is_residual_add(ox_ctx *c, size_t k, long v);
/* The walk reached residual Add 'p' (an index into c->pending) from its branch: pushes ADD. */
int ox_join_residual(ox_ctx *c, ox_walk *w, size_t p, dlor_status *st);
/* The elements of INTS attribute a (at most max); 1 (why set) when it has more or is not INTS. */
int ox_attr_ints(ox_ctx *c, size_t k, const ox_attr *a, int64_t *v, size_t max, size_t *n);

/* ---- output (onnx_emit.c) ---- */
/* 1 when the recovered ops need a graph of values (LayerNorm, residual Add), not a chain. */
int ox_is_dag(const ox_ctx *c);
/* Adds the tensors (normalised when 'graphed') to c->out, then the ops to graph. */
dlor_status ox_emit(ox_ctx *c, int graphed, dlor_graph *graph);

#endif
