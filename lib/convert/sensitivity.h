/* sensitivity.h - how much a layer's error costs the model's outputs, measured on
 * the calibration inputs through the dense graph. The allocations (--budget and
 * --budget-bits with --calib) weigh each layer's squared relative data-space error
 * by it, so that they minimise an estimate of the outputs' squared error instead of
 * treating equal layer errors as equally costly.
 *
 * For layer l with weight W, a probe error E (an error of the kind and size the
 * allocation trades: the caller's, such as the layer's fit at a reference rank, or its
 * q4 quantization error Q4(W) - W) is added to W alone and the calibration inputs are
 * run through the dense graph:
 *
 *   gain_l   = ||Y(W + E) - Y(W)||_F^2 / ||E X_l^T||_F^2   (outputs per layer-output error)
 *   weight_l = gain_l ||W X_l^T||_F^2
 *
 * so weight_l e^2 estimates the outputs' squared error caused by a relative data-space
 * error e in layer l. X_l are the inputs layer l sees in that pass (padding left out),
 * Y the graph's first output (padded positions left out when it has one row per token).
 * Cost: one dense pass plus one per layer over at most DLOR_SENS_ROWS calibration rows
 * (feature samples, or tokens of whole sequences), in float32 (the probe errors are
 * orders of magnitude above its rounding: the weights agree with double passes' to
 * about 1e-6 relative), and one image of the dense graph's tensors built per layer.
 * X_l is the same in the dense pass and in layer l's (its error acts after it), so the
 * dense pass, on one worker, gathers each layer's Gram matrix X_l^T X_l (n^2 doubles
 * per layer, held for the call) and the perturbed passes run on 'jobs' workers.
 * Deterministic: no random numbers, a pass's bits do not depend on its workers. */
#ifndef DLOR_SENSITIVITY_H
#define DLOR_SENSITIVITY_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"
#include "dlor_graph.h"
#include "dlor_tensor.h"

#define DLOR_SENS_ROWS 4096 /* calibration rows the passes use at most */

/* The perturbed weight of layer i: w (m x n, row-major, double) in, W + E out (m x n). */
typedef dlor_status (*dlor_sens_probe)(void *ctx, size_t i, const double *w, int64_t m, int64_t n, double *out,
                                       dlor_error *err);

/* Measures weight[i] (>= 0, see above) of every layer names[i] (2-D weights the graph's
 * LINEAR ops use) of src, over the calibration inputs in 'calib' (a .npy of features or
 * a .npz of token ids, as --calib reads them), each layer perturbed by probe (NULL: its
 * q4 error). With joint not NULL, every layer is perturbed at once instead, in one
 * pass, and *joint receives the outputs' squared error ||Y(perturbed) - Y||_F^2 (weight
 * is not written). progress may be NULL; jobs: the workers of a pass (1 or less: the
 * caller alone). */
struct dlor_convert_hooks;
dlor_status dlor_sensitivity(const dlor_graph *g, const dlor_tensor_list *src, const char *calib,
                             const char *const *names, size_t nnames, dlor_sens_probe probe, void *probe_ctx,
                             double *weight, double *joint, int jobs, const struct dlor_convert_hooks *progress,
                             dlor_error *err);

#endif
