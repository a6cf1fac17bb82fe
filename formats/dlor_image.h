/* dlor_image.h - a validated, zero-copy view of a .dlor file held in memory.
 *
 * The byte layout is specified in DLOR_FORMAT.md beside this header. This is
 * the one parser of that layout: the host tools and the embedded runtime both
 * use it. It needs a C99 compiler and libc only, never allocates, and checks
 * every field (DLOR_FORMAT.md section 9) before anything is used, so a view
 * returned by dlor_image_open can be trusted.
 *
 * Usage:
 *     dlor_image img;
 *     dlor_image_error e;
 *     if (dlor_image_open(&img, buf, len, DLOR_IMAGE_CHECK_CRC, &e) != 0)
 *         fprintf(stderr, "%s\n", e.msg);
 *     dlor_image_tensor t;
 *     dlor_image_tensor_at(&img, 0, &t);   // t.data points into buf
 *
 * The buffer is borrowed: it must stay valid and unchanged while the view is
 * used. Any alignment of buf is accepted; tensor data is 64-byte aligned
 * relative to buf, so it is aligned in memory when buf is. A view is read-only
 * after opening and may be shared between threads.
 */
#ifndef DLOR_IMAGE_H
#define DLOR_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLOR_IMAGE_MAGIC "\x89" "DLOR\r\n\x1a"
#define DLOR_IMAGE_MAJOR 1
#define DLOR_IMAGE_MINOR 7
#define DLOR_IMAGE_ENDIAN_TAG 0x01020304u
#define DLOR_IMAGE_ALIGN 64
#define DLOR_IMAGE_PREAMBLE 64
#define DLOR_IMAGE_DIR_ENTRY 32
#define DLOR_IMAGE_TENSOR_REC 128
#define DLOR_IMAGE_LAYER_REC 128
#define DLOR_IMAGE_META_REC 16
#define DLOR_IMAGE_GRAPH_REC 32
#define DLOR_IMAGE_DAG_REC 96
#define DLOR_IMAGE_MAX_OUTPUTS 64u     /* OUTPUT nodes of a DAG */
#define DLOR_IMAGE_MAX_OPS 65536u
#define DLOR_IMAGE_NO_TENSOR 0xFFFFFFFFu
#define DLOR_IMAGE_MAX_HEADER (64ull << 20)
#define DLOR_IMAGE_MAX_SECTIONS 64
#define DLOR_IMAGE_MAX_TENSORS (1u << 20)
#define DLOR_IMAGE_MAX_LAYERS (1u << 20)
#define DLOR_IMAGE_MAX_META 65536u
#define DLOR_IMAGE_MAX_META_TEXT (1u << 20)
#define DLOR_IMAGE_MAX_NAME 255u
#define DLOR_IMAGE_MAX_VALUE 65535u
#define DLOR_IMAGE_MAX_NDIM 8

enum dlor_image_section {
    DLOR_SECTION_STRINGS = 1,
    DLOR_SECTION_METADATA = 2,
    DLOR_SECTION_TENSORS = 3,
    DLOR_SECTION_LAYERS = 4,
    DLOR_SECTION_GRAPH = 0x8001,  /* optional (1.1): the model's computation, a chain */
    DLOR_SECTION_DAG = 0x8002     /* optional (1.5): the model's computation, a DAG over values */
};

enum dlor_image_op_kind {
    DLOR_IMAGE_OP_LINEAR = 1,
    DLOR_IMAGE_OP_ACT = 2,
    DLOR_IMAGE_OP_SOFTMAX = 3,
    DLOR_IMAGE_OP_BRANCH = 4,      /* 1.3: starts a branch of a parallel group, weight in param */
    DLOR_IMAGE_OP_MERGE = 5        /* 1.3: sums the group's weighted branches (+ optional bias) */
};
#define DLOR_IMAGE_OP_LAYER 1u     /* LINEAR flag: the weight is a DLoR layer */
#define DLOR_IMAGE_OP_CAUSAL 2u    /* ATTENTION flag (DAG records): causal */
#define DLOR_IMAGE_MAX_ACT 8       /* activation codes 0..8, see dlor_act.h */
#define DLOR_IMAGE_NONE 0xFFFFFFFFu /* no value (DAG records) */

enum dlor_image_method { DLOR_IMAGE_MUL = 1, DLOR_IMAGE_ADD = 2 };
enum dlor_image_basis { DLOR_IMAGE_SCHUR = 1, DLOR_IMAGE_RANDOM = 2, DLOR_IMAGE_SVD = 3 };
/* How a layer's U tensor orders its elements (DLOR_FORMAT.md 7.6): plain rows of
 * U^T, or each factor's rows in column panels of DLOR_IMAGE_PANEL columns. */
enum dlor_image_u_layout { DLOR_IMAGE_U_ROWS = 0, DLOR_IMAGE_U_PANELS = 1 };
#define DLOR_IMAGE_PANEL 16u
/* Layer flags (DLOR_FORMAT.md 7, offset 14; version 1.7). */
#define DLOR_IMAGE_LAYER_BASE 1u   /* the layer adds a base tensor (7.2) */

/* Element index, in a U tensor of 'dim' columns stored in panels, of U^T row
 * g0 + j, column i, for the factor whose rows are [g0, g0 + h). */
static inline uint64_t dlor_image_panel_index(uint64_t g0, uint64_t h, uint64_t dim, uint64_t j, uint64_t i)
{
    uint64_t c = i / DLOR_IMAGE_PANEL * DLOR_IMAGE_PANEL;
    uint64_t w = dim - c < DLOR_IMAGE_PANEL ? dim - c : DLOR_IMAGE_PANEL;
    return g0 * dim + c * h + j * w + (i - c);
}

/* Flags for dlor_image_open (bits 0-7; it ignores the others, which
 * dlor_model_open takes for the runtime: dlor_runtime.h). */
#define DLOR_IMAGE_CHECK_CRC 1u   /* verify every tensor's CRC-32 (reads all data) */

/* flags_required bits (DLOR_FORMAT.md section 3) */
#define DLOR_IMAGE_FLAG_DEFLATE 1u /* everything after the preamble is one zlib stream */

/* Status codes (same values as dlor_status in dlor_error.h). */
#define DLOR_IMAGE_OK 0
#define DLOR_IMAGE_E_FORMAT 2
#define DLOR_IMAGE_E_UNSUPPORTED 3
#define DLOR_IMAGE_E_LIMIT 5
#define DLOR_IMAGE_E_ARG 6

typedef struct dlor_image_error {
    int code;
    char msg[256];   /* one line; names the tensor/layer and the value */
} dlor_image_error;

typedef struct dlor_image {
    const unsigned char *base;
    size_t len;
    unsigned minor;
    uint64_t header_len, data_offset;
    const unsigned char *strings;  uint64_t strings_len;
    const unsigned char *meta;     uint32_t nmeta;
    const unsigned char *tensors;  uint32_t ntensors;
    const unsigned char *layers;   uint32_t nlayers;
    const unsigned char *graph;    uint32_t nops;     /* chain GRAPH section; nops == 0: none */
    const unsigned char *dag;      uint32_t ndag;     /* DAG section; ndag == 0: none */
    uint32_t nnodes;               /* nodes of the graph read as a DAG (dlor_image_walk); 0: no graph */
    uint32_t input_of[5];          /* node of the input of each mode (dlor_graph.h), DLOR_IMAGE_NONE */
    uint32_t noutputs;
    uint64_t in_dim, out_dim;      /* features of the FEATURES input (0: the graph takes ids) and of
                                      the first output */
} dlor_image;

typedef struct dlor_image_op {
    int kind;                      /* enum dlor_image_op_kind */
    int act;                       /* ACT: activation code */
    double param;                  /* ACT: leaky_relu slope; BRANCH: the branch's weight */
    int is_layer;                  /* LINEAR: weight is layer 'weight', else tensor 'weight' */
    uint32_t weight;
    uint32_t bias;                 /* LINEAR, MERGE: tensor index or DLOR_IMAGE_NO_TENSOR */
    uint64_t in, out;              /* LINEAR: features in and out */
} dlor_image_op;

/* One node of the graph read as a DAG (DLOR_FORMAT.md 7.7): a DAG section's
 * record, or a node of a chain graph converted (7.4, read as 7.8 says). Node i
 * writes value i. Kinds and codes are dlor_graph.h's (dlor_op_kind,
 * dlor_input_mode, dlor_pool_mode, dlor_value_type). */
typedef struct dlor_image_node {
    int kind;
    int code;                      /* ACT: activation; INPUT: mode; POOL: mode; 0 */
    int is_layer;                  /* LINEAR: weight is layer 'weight', else tensor 'weight' */
    int causal;                    /* ATTENTION */
    uint32_t in[4];                /* values read, DLOR_IMAGE_NONE for unused slots */
    int in_type[4];                /* ... their types and features (0 for unused slots) */
    uint64_t in_features[4];
    uint32_t weight, bias;         /* tensor (or layer) indices, DLOR_IMAGE_NO_TENSOR for none */
    const char *name;              /* INPUT, OUTPUT (not NUL-terminated); NULL otherwise */
    uint32_t name_len;
    uint32_t heads, kv_heads;      /* ATTENTION */
    int type;                      /* of the value written */
    uint64_t features;
    double p0;                     /* ACT: slope; SCALE: factor; norms: eps; ATTENTION: score scale */
    double p1;                     /* ATTENTION: rotary embedding theta (0: none) */
} dlor_image_node;

/* Walks the nodes of an opened image's graph in order, chain or DAG. */
typedef struct dlor_image_walk {
    uint32_t node, op;             /* next node to give; next chain record to read */
    uint32_t cur, gin, acc, part;  /* chain: current value, group input, group sum, pending term */
    uint64_t cur_f, gin_f;
    double scale;                  /* chain: weight of the open branch */
    int in_group, stage, done;
} dlor_image_walk;

typedef struct dlor_image_tensor {
    const char *name;              /* not NUL-terminated */
    uint32_t name_len;
    int dtype;                     /* dlor_dtype code */
    int ndim;
    uint64_t dims[DLOR_IMAGE_MAX_NDIM];
    uint64_t nelem, nbytes, offset;
    uint32_t crc32;
    const unsigned char *data;     /* base + offset */
} dlor_image_tensor;

typedef struct dlor_image_layer {
    const char *name;
    uint32_t name_len;
    int method, basis;
    uint64_t rows, cols, rank, factors;
    uint64_t k, dim_u, dim_v;      /* derived: see DLOR_FORMAT.md 7.1 / 7.2; k = rows of the U tensor */
    uint64_t kmax;                 /* D (mul) or min(rows, cols) (add): k of an exact layer */
    double alpha;
    uint32_t u_tensor, v_tensor;
    int u_layout;                  /* DLOR_IMAGE_U_ROWS or DLOR_IMAGE_U_PANELS (DLOR_FORMAT.md 7.6) */
    int source_dtype;
    uint64_t seed;
    int has_base;                  /* 1.7: W = B + (the add layer's matrix), B the base tensor */
    uint32_t base_tensor;          /* index of B ([rows, cols], float or quantized) when has_base */
} dlor_image_layer;

/* Validates buf[0, len) and fills *img. Returns DLOR_IMAGE_OK or an error
 * code with err->msg set; *img is untouched on failure. */
int dlor_image_open(dlor_image *img, const void *buf, size_t len, unsigned flags,
                    dlor_image_error *err);

/* Record accessors; i must be < the count (returns nonzero otherwise). */
int dlor_image_tensor_at(const dlor_image *img, uint32_t i, dlor_image_tensor *t);
int dlor_image_layer_at(const dlor_image *img, uint32_t i, dlor_image_layer *l);
/* Reorders the k x dim elements of a U tensor (esize bytes each) whose factors
 * have 'rank' rows (the last one fewer): from plain rows to panels (to_panels
 * nonzero) or back. src and dst must not overlap. */
void dlor_image_u_permute(const void *src, void *dst, uint64_t k, uint64_t dim, uint64_t rank, size_t esize,
                          int to_panels);
int dlor_image_meta_at(const dlor_image *img, uint32_t i, const char **key, uint32_t *key_len,
                       const char **val, uint32_t *val_len);

int dlor_image_op_at(const dlor_image *img, uint32_t i, dlor_image_op *op);

/* Record i of a DAG section as a node (-1 when the image has no DAG section or
 * i >= ndag). */
int dlor_image_node_at(const dlor_image *img, uint32_t i, dlor_image_node *n);
/* The graph as a DAG, chain or not: dlor_image_walk_next gives node after node
 * (returns 1) until there are none (returns 0). */
void dlor_image_walk_init(dlor_image_walk *w);
int dlor_image_walk_next(const dlor_image *img, dlor_image_walk *w, dlor_image_node *n);

/* Binary searches; return the index or -1. */
long dlor_image_find_tensor(const dlor_image *img, const char *name, size_t name_len);
long dlor_image_find_layer(const dlor_image *img, const char *name, size_t name_len);
/* Returns the value of a metadata key (not NUL-terminated) or NULL. */
const char *dlor_image_meta_get(const dlor_image *img, const char *key, uint32_t *val_len);

/* dtype codes the parser itself looks at (DLOR_FORMAT.md section 6): float
 * dtypes are 1 to 4 (f32, f16, bf16, f64); a bool is one byte, 0 or 1. */
#define DLOR_IMAGE_DT_BOOL 13
/* Block-quantized weights (DLOR_FORMAT.md 6.1): 2-D, blocks of 32 along the
 * last dimension, each with one f16 scale. q8: 32 int8 values a block; q4: 16
 * bytes a block, byte j holding column j (low nibble) and column j + 16 (high
 * nibble) as 4-bit two's complement. All values of the tensor first (row by
 * row, block by block), then all its scales in the same order. */
#define DLOR_IMAGE_DT_Q8 14
#define DLOR_IMAGE_DT_Q4 15
#define DLOR_IMAGE_QBLOCK 32

/* Size in bytes of an element of a dtype code, 0 if unknown or quantized. */
unsigned dlor_image_dtype_size(int dtype);
/* Bytes of the values of one block (32 for q8, 16 for q4), 0 otherwise. */
unsigned dlor_image_qblock_bytes(int dtype);
/* Bytes a quantized tensor of rows x cols holds (0 on overflow; 0 for an empty one). */
uint64_t dlor_image_qbytes(int dtype, uint64_t rows, uint64_t cols);
/* Checks the data of a non-empty quantized tensor (dlor_image_qbytes bytes):
 * every scale finite and not negative, every padding value 0. 0 or an error
 * naming the tensor ('name', NUL-terminated). */
int dlor_image_check_qdata(const unsigned char *d, int dtype, uint64_t rows, uint64_t cols, const char *name,
                           dlor_image_error *err);

#ifdef __cplusplus
}
#endif
#endif
