/* dlor_runtime.h - run a .dlor model from memory, with no allocation.
 *
 * The runtime needs a C99 compiler and the C library (with <math.h>) only: no
 * LAPACK, no zlib, never malloc. The model is a view of a .dlor image that the
 * caller keeps in memory (a file mapped or read, or a const array in flash);
 * every field is validated when it is opened (dlor_image.h) and never trusted
 * before. A pass runs in float32 or, for models whose accuracy needs it (the
 * network form of DLoR layers, the host's calibration), in double precision;
 * factors and weights stored as f16, bf16, f32 or f64 are converted to the
 * pass's precision a few rows at a time into the caller's scratch buffer.
 *
 *     dlor_model m;
 *     dlor_image_error e;
 *     if (dlor_model_open(&m, image, image_len, 0, &e) != 0) { puts(e.msg); ... }
 *     size_t need = dlor_model_scratch_size(&m, batch);   // also in the file's
 *                                                         // metadata for batch 1
 *     dlor_model_forward(&m, x, batch, y, scratch, need, &e);
 *
 * x holds batch * dlor_model_input_dim(&m) floats, y batch * output_dim, both
 * row-major (one sample per row). The image must stay valid and unchanged
 * while the model is used. A model is read-only after opening: threads may
 * share one, each with its own scratch buffer. Scratch should be 64-byte
 * aligned for speed; any alignment of the element size works.
 *
 * Models of token sequences (transformers: a graph of format 1.5 that takes
 * token ids, DLOR_FORMAT.md 7.7) run through dlor_model_run, which takes the
 * ids, the attention mask and the token type ids of 'batch' sequences of 'seq'
 * tokens each, and writes every output of the graph. The scratch is sized by
 * batch and sequence length: dlor_model_scratch_bytes(m, batch, max_seq, ...)
 * serves any call with at most that many sequences and tokens.
 *
 * Where things live in the scratch is planned when the model is opened: every
 * value of the graph gets a fixed place (elements per row), and a value's
 * place is reused by values made after its last reader. The plan is one 8-byte
 * offset per value; dlor_model keeps it itself for graphs of up to
 * DLOR_RT_PLAN_INLINE values (every MLP), a larger graph needs a plan buffer
 * from the caller (dlor_model_plan_size, dlor_model_open_plan).
 *
 * Several threads can also run one forward pass together (dlor_model_forward_team,
 * below; dlor_pool.h gives a ready-made pthread team for hosts).
 *
 * Build option DLOR_RUNTIME_BLAS: float32 batches go through cblas_sgemm.
 */
#ifndef DLOR_RUNTIME_H
#define DLOR_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_image.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DLOR_RT_E_NOGRAPH 8   /* the file has tensors but no runnable graph */
#define DLOR_RT_E_SCRATCH 9   /* scratch buffer too small or misaligned */
#define DLOR_RT_E_PLAN 10     /* the graph needs a plan buffer (dlor_model_open_plan), or more than
                                 DLOR_RT_MAX_LIVE values alive at once */
#define DLOR_RT_E_INPUT 11    /* bad inputs: ids outside a table, a sequence longer than the
                                 position table, a mask value other than 0 and 1, a missing input */
#define DLOR_RT_E_STOPPED 12  /* the observer asked to stop */

#define DLOR_RT_PLAN_INLINE 64 /* values whose plan a dlor_model holds itself */
#define DLOR_RT_MAX_LIVE 64    /* values a graph may keep alive at once (the planner's limit) */

/* Precisions of a pass (the .dlor dtype codes). */
#define DLOR_RT_F32 1
#define DLOR_RT_F64 4
/* Integer types of token ids (the .dlor dtype codes). */
#define DLOR_RT_I32 7
#define DLOR_RT_I64 8

typedef struct dlor_model {
    dlor_image img;
    uint64_t in_dim, out_dim; /* features of the input (0: the model takes token ids) and of the first output */
    uint32_t nvalues;         /* values of the graph (= its nodes, a chain read as a DAG) */
    uint64_t width;           /* elements per row of the values' part of the scratch (the plan's extent) */
    uint64_t zmax;            /* largest factor count k of a layer (elements per row of the factor products) */
    uint64_t widen;           /* elements per worker to widen (float32) a bias or norm weight, four weight,
                                 table or factor rows, or four panel blocks: of what is not float32 in place */
    uint64_t widen_batch;     /* ... a chunk of factor rows for BLAS at batch > 1 (0 without BLAS) */
    uint64_t widen_f64;       /* ... in double: of what is not f64 in place */
    uint64_t att_head;        /* largest q/k head size of an attention (0: none) */
    int att_rope;             /* some attention rotates q and k */
    uint64_t max_seq;         /* rows of the smallest position table: the longest sequence (0: no limit) */
    uint64_t vocab[5];        /* by input mode: rows of the smallest table its ids index (0: none) */
    uint64_t *plan;           /* the offset of each value in a row; NULL: plan_inline */
    uint64_t plan_inline[DLOR_RT_PLAN_INLINE];
} dlor_model;

/* Opens (validates) an image and plans its scratch. flags: DLOR_IMAGE_CHECK_CRC
 * to verify every tensor's checksum too (reads the whole image once). A file
 * without a graph fails with DLOR_RT_E_NOGRAPH and the reason recorded by the
 * converter; a graph of more than DLOR_RT_PLAN_INLINE values with
 * DLOR_RT_E_PLAN (open it with dlor_model_open_plan). A runtime built
 * without a part the model needs (formats/dlor_rt_features.h: DLOR_RT_NO_DAG,
 * DLOR_RT_MLP_ONLY, ...) refuses it with DLOR_IMAGE_E_UNSUPPORTED. */
int dlor_model_open(dlor_model *m, const void *image, size_t len, unsigned flags, dlor_image_error *err);

/* Bytes of plan buffer dlor_model_open_plan needs for this image (its values
 * times 8; the image is checked without the tensors' checksums); 0 when the
 * image does not open. */
size_t dlor_model_plan_size(const void *image, size_t len);
/* dlor_model_open with the plan in plan[0, plan_size) (8-byte aligned), which
 * must stay valid and unchanged while the model is used; plan NULL: as
 * dlor_model_open. */
int dlor_model_open_plan(dlor_model *m, const void *image, size_t len, unsigned flags, void *plan, size_t plan_size,
                         dlor_image_error *err);

uint64_t dlor_model_input_dim(const dlor_model *m);
uint64_t dlor_model_output_dim(const dlor_model *m);

/* The graph's outputs: their count, and output i's name (not NUL-terminated),
 * whether it holds one row per token ([N, S, F]: 1) or per sample ([N, F]: 0),
 * and F. Returns -1 when i is out of range. */
uint32_t dlor_model_output_count(const dlor_model *m);
int dlor_model_output_at(const dlor_model *m, uint32_t i, const char **name, uint32_t *name_len, int *per_token,
                         uint64_t *features);
/* The node of the input of a mode (DLOR_FORMAT.md 7.7: 1 features, 2 token
 * ids, 3 attention mask, 4 token type ids), and its name; -1 when the graph
 * has none. */
int dlor_model_input_at(const dlor_model *m, int mode, const char **name, uint32_t *name_len);

/* ---- running ------------------------------------------------------------------ */

/* A team of workers running one forward pass together. Every worker calls
 * with the same model, inputs, outputs, scratch and size, and its own id
 * (0 .. size-1); sync(ctx) must be a barrier across all 'size' workers (it
 * returns once every worker has called it). Each step's output rows (features,
 * factor products, tokens or heads) are split among the workers, who meet at
 * sync between steps that read what others wrote; the result has the same bits
 * as a pass of one worker, and the outputs are complete once every worker has
 * returned. A team of size 1 needs no sync. The scratch is shared. Every worker
 * sees the same errors (they are found before any work or sync). */
typedef struct dlor_team {
    unsigned id, size;
    void (*sync)(void *ctx);
    void *ctx;
} dlor_team;

/* Called, in a pass of one worker, with the input of every LINEAR node before
 * it runs: 'rows' rows of node->in_features[0] elements of the pass's
 * precision (float or double), 'stride' elements apart. Return 0 to go on;
 * anything else stops the pass (DLOR_RT_E_STOPPED). For calibration and
 * data-space errors on hosts. */
typedef int (*dlor_observer)(void *ctx, const dlor_model *m, const dlor_image_node *node, const void *x, size_t rows,
                             uint64_t stride);

/* One pass. Exactly the inputs the graph takes: x for a features input, else
 * ids with optional mask (NULL: every token attends) and type_ids (NULL: all
 * zero). y[i] receives output i (i < ny, y[i] not NULL; other outputs are
 * not written): batch x F, or batch x seq x F per token. */
typedef struct dlor_run {
    size_t batch;             /* N, samples or sequences */
    size_t seq;               /* S, tokens per sequence (1 for a model of features) */
    const void *x;            /* features [N, in_dim] in the pass's precision */
    const void *ids;          /* [N, S] token ids of ids_dtype */
    const void *mask;         /* [N, S] 0 (padding) or 1, of ids_dtype, or NULL */
    const void *type_ids;     /* [N, S] token type ids of ids_dtype, or NULL */
    int ids_dtype;            /* DLOR_RT_I32 or DLOR_RT_I64 */
    void *const *y;           /* ny buffers, in the pass's precision */
    uint32_t ny;              /* 1 .. dlor_model_output_count(m) */
    dlor_observer observe;    /* NULL, or (a pass of one worker) called at every LINEAR */
    void *observe_ctx;
} dlor_run;

/* Bytes of scratch a pass of 'dtype' (DLOR_RT_F32 or DLOR_RT_F64) needs for up
 * to 'batch' sequences of up to 'seq' tokens on a team of 'workers' workers;
 * 0 on overflow or when seq exceeds the position table. */
size_t dlor_model_scratch_bytes(const dlor_model *m, size_t batch, size_t seq, unsigned workers, int dtype);

/* Runs a pass (team NULL: one worker). Scratch at least
 * dlor_model_scratch_bytes(m, r->batch, r->seq, team size, dtype), aligned to the
 * element size. Returns 0 or an error code (err set). */
int dlor_model_run(const dlor_model *m, const dlor_run *r, int dtype, void *scratch, size_t scratch_size,
                   const dlor_team *team, dlor_image_error *err);

/* ---- models of features (every MLP): the same, shorter ---------------------------- */

/* Bytes of scratch dlor_model_forward needs for this batch size. Returns 0 on
 * overflow (a batch that large cannot be run). It depends on the opened image:
 * tensors stored as f16, bf16 or f64, or f32 ones in an image that is not 4-byte
 * aligned, are converted into the scratch, f32 ones in an aligned image are used
 * where they lie. */
size_t dlor_model_scratch_size(const dlor_model *m, size_t batch);

/* The work of one inference, known before running anything (dlor export-c and
 * dlor info print it): dlor_model_op_cost gives graph operation i's
 * multiply-accumulates per sample (a dense layer out x in; a DLoR layer one per
 * element of its factors, k (dim_u + dim_v), plus its diagonal, alpha x once per
 * mul factor or once for an add layer; a BRANCH closing a branch or a MERGE
 * one per feature it adds; activations and softmax none) and the bytes of the
 * weights and bias it reads; returns -1 when there is no operation i. In a
 * graph of values (format 1.5) operation i is node i, and its work is per row
 * (a sample, or a token of a sequence): a linear step's as above, a scale's or
 * a multiply's one per feature; attention, whose work grows with the
 * sequence, and the other steps none. dlor_model_macs is the sum over the
 * graph. */
int dlor_model_op_cost(const dlor_model *m, uint32_t i, uint64_t *macs, uint64_t *bytes);
uint64_t dlor_model_macs(const dlor_model *m);

/* y = model(x) for 'batch' samples. Returns 0 or an error code (err set). */
int dlor_model_forward(const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                       size_t scratch_size, dlor_image_error *err);

/* The same on a team (above); dlor_model_scratch_size_team gives the scratch
 * for 'workers' workers (0 on overflow). */
size_t dlor_model_scratch_size_team(const dlor_model *m, size_t batch, unsigned workers);
int dlor_model_forward_team(const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                            size_t scratch_size, const dlor_team *team, dlor_image_error *err);

/* The same in double precision: x, y and the scratch hold doubles. Scratch
 * must be 8-byte aligned; dlor_model_scratch_size_f64 gives its size (0 on
 * overflow). A runtime built with DLOR_RT_NO_F64 has no such pass: the size
 * is 0 and the pass, its arguments checked, fails with DLOR_IMAGE_E_UNSUPPORTED. */
size_t dlor_model_scratch_size_f64(const dlor_model *m, size_t batch);
int dlor_model_forward_f64(const dlor_model *m, const double *x, size_t batch, double *y, void *scratch,
                           size_t scratch_size, dlor_image_error *err);

#ifdef __cplusplus
}
#endif
#endif
