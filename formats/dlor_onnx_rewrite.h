/* dlor_onnx_rewrite.h - convert --emit-onnx: the source ONNX model with each
 * converted weight's MatMul or Gemm replaced by its DLoR computation.
 *
 * The output is the source file's bytes with only the graph's changed parts
 * re-encoded: every node that does not use a converted weight, every other
 * initializer, input, output, value_info, opset and metadata field is copied
 * as it was. A MatMul(x, B) or Gemm(x, B, C) whose B is a converted layer
 * becomes, on the rows of x (y = x W^T with W the layer's [out, in] matrix):
 *   mul:  h = pad(x to D); per factor l: h = alpha h + (h V_l) U_l^T; y = h cut to out
 *   add:  y = (x V) U^T + L alpha x' (x' = x cut or zero-padded to out; one
 *         pair of MatMuls for all components; beta*I + P Q^T is L = 1)
 * then Gemm's C (times beta) added. When the .dlor was converted without a
 * recovered graph, its layers are the initializers as stored ([in, out] for
 * MatMul), so y = x W: the pairs are (U, V^T) and the factors run in reverse.
 * Padding is Shape/Slice/ConstantOfShape/Concat and cutting is Slice, which
 * need opset 11 of the default domain; factors, alpha and beta are stored in
 * the weight initializer's element type (float, double, float16, bfloat16).
 * A weight initializer no node uses any more is dropped. */
#ifndef DLOR_ONNX_REWRITE_H
#define DLOR_ONNX_REWRITE_H

#include "dlor_container.h"
#include "dlor_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether src (the convert input) can be rewritten: an ONNX model. A usage
 * error (DLOR_E_USAGE) naming the file otherwise. */
dlor_status dlor_onnx_rewrite_check_source(const char *src, dlor_error *err);

/* Writes to 'out' (atomically) the ONNX model 'src' with c's layers rewritten
 * as above. Refused, with one message naming the file and the layer or node:
 * a source that is not a well-formed ONNX model, external data, a layer that
 * is not the weight (input B) of a MatMul or Gemm node, a Gemm with transA,
 * an element type other than the four float ones, a layer whose shape is not
 * the node's, padding or cutting below opset 11. Nothing is written then. */
dlor_status dlor_onnx_rewrite(const char *out, const char *src, const dlor_container *c, dlor_error *err);

/* The same on the n bytes of a model in memory ('src' names it in messages): on
 * success *out (malloc'd; the caller frees it; NULL when *out_len is 0) holds the
 * rewritten model. */
dlor_status dlor_onnx_rewrite_buffer(const unsigned char *buf, size_t n, const char *src, const dlor_container *c,
                                     unsigned char **out, size_t *out_len, dlor_error *err);

#ifdef __cplusplus
}
#endif
#endif
