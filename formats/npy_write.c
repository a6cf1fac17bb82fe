/* npy_write.c - NumPy .npy writer (format 1.0). */
#include <stdio.h>
#include <string.h>

#include "dlor_fileio.h"
#include "dlor_npy.h"

static const char *descr(dlor_dtype dt)
{
    switch (dt) {
    case DLOR_DT_F32: return "<f4";
    case DLOR_DT_F64: return "<f8";
    case DLOR_DT_F16: return "<f2";
    case DLOR_DT_I8: return "|i1";
    case DLOR_DT_I16: return "<i2";
    case DLOR_DT_I32: return "<i4";
    case DLOR_DT_I64: return "<i8";
    case DLOR_DT_U8: return "|u1";
    case DLOR_DT_U16: return "<u2";
    case DLOR_DT_U32: return "<u4";
    case DLOR_DT_U64: return "<u8";
    case DLOR_DT_BOOL: return "|b1";
    default: return NULL;
    }
}

dlor_status dlor_npy_write(const char *path, dlor_dtype dt, int ndim, const uint64_t *dims,
                           const void *data, dlor_error *err)
{
    const char *d = descr(dt);
    uint64_t nbytes;
    char head[512];
    if (!d) return dlor_fail(err, DLOR_E_ARG, "%s: dtype %s cannot be written as .npy", path, dlor_dtype_name(dt));
    if (ndim < 0 || ndim > DLOR_MAX_NDIM || dlor_shape_nbytes(dims, ndim, dt, &nbytes) != 0)
        return dlor_fail(err, DLOR_E_ARG, "%s: bad shape for .npy output", path);
    int n = snprintf(head + 10, sizeof head - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (", d);
    for (int i = 0; i < ndim; i++)
        n += snprintf(head + 10 + n, sizeof head - 10 - (size_t)n, "%llu%s", (unsigned long long)dims[i],
                      ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    n += snprintf(head + 10 + n, sizeof head - 10 - (size_t)n, "), }");
    /* pad with spaces so that magic + length + header (ending in '\n') is a multiple of 64 */
    size_t total = (size_t)(10 + n + 1 + 63) / 64 * 64;
    memset(head + 10 + n, ' ', total - 10 - (size_t)n - 1);
    head[total - 1] = '\n';
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (char)((total - 10) & 0xff);
    head[9] = (char)((total - 10) >> 8);
    dlor_atomic_file af;
    dlor_status st = dlor_atomic_open(&af, path, err);
    if (st != DLOR_OK) return st;
    st = dlor_atomic_write(&af, head, total, err);
    if (st == DLOR_OK) st = dlor_atomic_write(&af, data, (size_t)nbytes, err);
    if (st == DLOR_OK) return dlor_atomic_commit(&af, err);
    dlor_atomic_abort(&af);
    return st;
}
