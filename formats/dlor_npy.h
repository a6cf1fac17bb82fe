/* dlor_npy.h - writing NumPy .npy files (format 1.0, little-endian, C order). */
#ifndef DLOR_NPY_H
#define DLOR_NPY_H

#include <stdint.h>

#include "dlor_tensor.h"

/* Writes data (LE, C order) atomically to path. dtype: any float or integer
 * dlor dtype except BF16 (NumPy has none). */
dlor_status dlor_npy_write(const char *path, dlor_dtype dt, int ndim, const uint64_t *dims,
                           const void *data, dlor_error *err);

#endif
