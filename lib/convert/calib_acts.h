/* calib_acts.h - calibration from captured activations (convert --calib-acts),
 * for models dlor cannot run: a .npz whose keys name converted layers by their
 * weight tensor and whose arrays are the inputs those layers saw.
 *
 *   key 'NAME'       activations [..., in]: every leading dimension is a row
 *                    (a 1-D array of length in is one row); accumulated X^T X
 *   key 'NAME.gram'  the Gram matrix X^T X itself, [in, in], symmetric
 *
 * NAME is a converted layer's weight tensor name and in its input width (the
 * weight's second dimension). A key ending in '.gram' is a Gram matrix when
 * the name before the suffix is a converted layer; it is activations when the
 * whole key is one; when both are (layers 'a' and 'a.gram'), the key is
 * refused as ambiguous. The shape never decides, so an [in, in] array of
 * activations (n == in rows) is never taken for a Gram matrix. A layer given
 * both ways is refused too: Gram matrices are sums over rows, not means, and
 * a mix is a likely mistake. Arrays must be float (f16, bf16, f32, f64) and
 * finite; a Gram matrix must be symmetric (to 1e-6 of its largest diagonal
 * entry) with a non-negative diagonal. */
#ifndef DLOR_CALIB_ACTS_H
#define DLOR_CALIB_ACTS_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"
#include "dlor_tensor.h"

typedef struct dlor_calib_acts_entry {
    char *name;          /* the layer's weight tensor */
    uint64_t in;         /* its input width */
    uint64_t rows;       /* activation rows accumulated (0 when given as a Gram matrix) */
    double *gram;        /* in x in, row-major, both triangles */
} dlor_calib_acts_entry;

typedef struct dlor_calib_acts {
    dlor_calib_acts_entry *e;
    size_t n;
} dlor_calib_acts;

/* Reads path and accumulates one Gram matrix per layer it names. A key must
 * name a tensor of src with selected[i] != 0 (a converted layer). Bad input
 * is one DLOR_E_FORMAT (DLOR_E_NUMERIC for NaN or Inf) line naming the file
 * and the key; *out is untouched then. */
dlor_status dlor_calib_acts_load(const char *path, const dlor_tensor_list *src, const int *selected,
                                 dlor_calib_acts *out, dlor_error *err);

/* The entry of layer 'name', or NULL. */
const dlor_calib_acts_entry *dlor_calib_acts_find(const dlor_calib_acts *a, const char *name);

/* Frees what load allocated; a zeroed struct is fine. */
void dlor_calib_acts_free(dlor_calib_acts *a);

#endif
