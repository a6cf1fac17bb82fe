/* dlor_runtime.h - run a .dlor model from memory, with no allocation.
 *
 * The runtime needs a C99 compiler and the C library (with <math.h>) only: no
 * LAPACK, no zlib, never malloc. The model is a view of a .dlor image that the
 * caller keeps in memory (a file mapped or read, or a const array in flash);
 * every field is validated when it is opened (dlor_image.h) and never trusted
 * before. Computation is in float32; f16, bf16 and f64 factors are converted
 * one factor (or one weight row) at a time into the caller's scratch buffer.
 * dlor_model_forward_f64 runs the same graph in double precision (f64 inputs,
 * outputs and scratch; factors of any float dtype widened to double), for
 * models whose accuracy needs it (the network form of DLoR layers).
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
 * aligned for speed; any 4-byte alignment works.
 *
 * Several threads can also run one forward pass together (dlor_model_forward_team,
 * below; dlor_pool.h gives a ready-made pthread team for hosts).
 *
 * Build option DLOR_RUNTIME_BLAS: batches go through cblas_sgemm.
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

typedef struct dlor_model {
    dlor_image img;
    uint64_t in_dim, out_dim;
    uint64_t width;           /* largest feature count of any activation, D of mul layers included */
    uint64_t zmax;            /* largest factor count k of a layer (floats per sample of the factor products) */
    uint64_t widen;           /* elements per worker to widen a bias, four weight or factor rows, or four panel blocks */
    uint64_t widen_batch;     /* ... a chunk of factor rows for BLAS at batch > 1 (0 without BLAS) */
    uint64_t widen_f64;       /* ... a whole factor, U and V (the double-precision pass) */
    uint64_t gwidth;          /* widest BRANCH group (0: the graph has none; no scratch for it) */
} dlor_model;

/* Opens (validates) an image. flags: DLOR_IMAGE_CHECK_CRC to verify every
 * tensor's checksum too (reads the whole image once). A file without a graph
 * fails with DLOR_RT_E_NOGRAPH and the reason recorded by the converter. */
int dlor_model_open(dlor_model *m, const void *image, size_t len, unsigned flags, dlor_image_error *err);

uint64_t dlor_model_input_dim(const dlor_model *m);
uint64_t dlor_model_output_dim(const dlor_model *m);

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
 * weights and bias it reads; returns -1 when there is no operation i.
 * dlor_model_macs is the sum over the graph. */
int dlor_model_op_cost(const dlor_model *m, uint32_t i, uint64_t *macs, uint64_t *bytes);
uint64_t dlor_model_macs(const dlor_model *m);

/* y = model(x) for 'batch' samples. Returns 0 or an error code (err set). */
int dlor_model_forward(const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                       size_t scratch_size, dlor_image_error *err);

/* A team of workers running one forward pass together. Every worker calls
 * dlor_model_forward_team with the same model, x, batch, y, scratch and size,
 * and its own id (0 .. size-1); sync(ctx) must be a barrier across all 'size'
 * workers (it returns once every worker has called it). Each layer's output
 * rows (and factor products) are split among the workers, who meet at sync
 * between steps; the result has the same bits as dlor_model_forward, and y is
 * complete once every worker has returned. A team of size 1 needs no sync.
 * The scratch is shared: dlor_model_scratch_size_team gives its size for
 * 'workers' workers (0 on overflow). Every worker sees the same errors (they are
 * found before any work or sync). */
typedef struct dlor_team {
    unsigned id, size;
    void (*sync)(void *ctx);
    void *ctx;
} dlor_team;

size_t dlor_model_scratch_size_team(const dlor_model *m, size_t batch, unsigned workers);
int dlor_model_forward_team(const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                            size_t scratch_size, const dlor_team *team, dlor_image_error *err);

/* The same in double precision: x, y and the scratch hold doubles. Scratch
 * must be 8-byte aligned; dlor_model_scratch_size_f64 gives its size (0 on
 * overflow). */
size_t dlor_model_scratch_size_f64(const dlor_model *m, size_t batch);
int dlor_model_forward_f64(const dlor_model *m, const double *x, size_t batch, double *y, void *scratch,
                           size_t scratch_size, dlor_image_error *err);

#ifdef __cplusplus
}
#endif
#endif
