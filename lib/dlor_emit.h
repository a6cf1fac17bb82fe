/* dlor_emit.h - files written next to a .dlor for use elsewhere: the dense
 * weights rebuilt from a container's factors (convert --emit-dense). */
#ifndef DLOR_EMIT_H
#define DLOR_EMIT_H

#include "dlor_container.h"
#include "dlor_error.h"
#include "dlor_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the safetensors file 'path' holding every tensor of the source 'src'
 * under its own name, shape and dtype, in the source's order, with the source's
 * metadata: a tensor that is a layer of c is rebuilt from the layer's factors
 * (in double, then rounded to the source dtype), any other is c's tensor of
 * that name (widened back to the source dtype if c stores it narrower). So the
 * file replaces the source wherever it is loaded. Errors name the tensor: one
 * missing from c, or with a shape that differs from the source's. */
dlor_status dlor_emit_dense(const char *path, const dlor_tensor_list *src, const dlor_container *c,
                            dlor_error *err);

#ifdef __cplusplus
}
#endif
#endif
