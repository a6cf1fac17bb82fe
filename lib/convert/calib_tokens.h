/* calib_tokens.h - calibration of models of token ids (transformers): the
 * Gram matrix X^T X of the inputs every linear layer receives when token ids
 * run through the dense model in the runtime (double precision), accumulated
 * batch by batch, so the memory does not grow with the number of samples.
 * Positions whose attention mask is 0 (padding) are left out. */
#ifndef DLOR_CALIB_TOKENS_H
#define DLOR_CALIB_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"
#include "dlor_graph.h"
#include "dlor_tensor.h"

struct dlor_convert_hooks;

/* want(ctx, weight): accumulate for this linear weight? done(ctx, weight,
 * gram, in, rows): once per wanted weight the graph uses, in graph order, its
 * in x in Gram matrix (row-major, lower triangle filled) over 'rows' token rows;
 * gram is valid during the call only. */
typedef int (*dlor_calib_want_fn)(void *ctx, const char *weight);
typedef dlor_status (*dlor_calib_gram_fn)(void *ctx, const char *weight, const double *gram, uint64_t in,
                                          uint64_t rows, dlor_error *err);

/* Runs the token ids of 'path' (a .npz with input_ids [N, S], optionally
 * attention_mask and token_type_ids; as 'dlor run' reads them, checked the
 * same way: one line naming the file and the field, DLOR_E_FORMAT) through
 * the dense graph g over src, a few sequences at a time (progress lines to
 * progress, when not NULL and the passes take long). */
dlor_status dlor_calib_tokens_gram(const dlor_graph *g, const dlor_tensor_list *src, const char *path,
                                   dlor_calib_want_fn want, dlor_calib_gram_fn done, void *ctx,
                                   const struct dlor_convert_hooks *progress,
                                   dlor_error *err);

/* The graph g over src's tensors (borrowed), with the tensor named name[j]
 * replaced by the f32 matrix pw[j] (j < np, pw[j] not NULL), as a .dlor image
 * in memory (*img, malloc'd, *len bytes): the dense model the calibration and
 * sensitivity passes run. */
dlor_status dlor_calib_model_image(const dlor_graph *g, const dlor_tensor_list *src, const char *const *name,
                                   unsigned char *const *pw, size_t np, unsigned char **img, size_t *len,
                                   dlor_error *err);

/* The rows an observer of the runtime (dlor_runtime.h) is shown, gathered into out
 * (rows x in doubles at most, row-major) without the padded positions: x holds
 * 'rows' rows of 'in' elements, 'stride' elements apart, of the pass's precision
 * (dtype DLOR_RT_F32 or DLOR_RT_F64); when mask is not NULL (the pass's [batch, seq]
 * attention mask) and the rows are the pass's tokens in order (rows == batch * seq,
 * row b * seq + s), those whose mask is 0 are left out. Returns the rows kept. */
size_t dlor_calib_gather_rows(const void *x, int dtype, size_t rows, uint64_t stride, uint64_t in,
                              const int64_t *mask, size_t batch, size_t seq, double *out);

#endif
