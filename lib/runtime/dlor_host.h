/* dlor_host.h - the runtime on hosts: a model opened with its plan on the heap.
 *
 * Not part of the embedded runtime (it allocates). dlor_model_open keeps the
 * plan of graphs of up to DLOR_RT_PLAN_INLINE values in the model itself; a
 * larger graph (a transformer, the network form's wide layers) needs a plan
 * buffer, which this allocates:
 *
 *     dlor_model m;
 *     void *plan;
 *     if (dlor_model_open_alloc(&m, image, len, 0, &plan, &e) != 0) ...
 *     ...
 *     free(plan);          // after the last use of m
 */
#ifndef DLOR_HOST_H
#define DLOR_HOST_H

#include "dlor_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dlor_model_open, with the plan in a malloc'd buffer when the graph needs one:
 * *plan receives it (NULL when the model holds its plan itself), to free once
 * the model is no longer used; *plan is NULL after a failure. An allocation
 * failure is DLOR_IMAGE_E_LIMIT with a message saying so. */
int dlor_model_open_alloc(dlor_model *m, const void *image, size_t len, unsigned flags, void **plan,
                          dlor_image_error *err);

#ifdef __cplusplus
}
#endif
#endif
