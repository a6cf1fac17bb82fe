/* dlor_tensor.h - the neutral list of named tensors every reader produces.
 *
 * Readers (safetensors, npy, npz, ...) turn a file into a dlor_tensor_list and
 * know nothing about what is done with it afterwards. Tensor data in a list is
 * always little-endian, C (row-major) order, densely packed; readers byte-swap
 * and transpose as needed. Data pointers may be unaligned: use the converters
 * below (they memcpy) rather than casting.
 *
 * Ownership: the list owns its names, its metadata and a set of backing blocks;
 * tensor data points into one of those blocks. dlor_tensor_list_free releases
 * everything; free(NULL-initialised list) is harmless.
 */
#ifndef DLOR_TENSOR_H
#define DLOR_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stable dtype codes; they are also the codes of the .dlor container and are
 * never reused. */
typedef enum dlor_dtype {
    DLOR_DT_INVALID = 0,
    DLOR_DT_F32 = 1,
    DLOR_DT_F16 = 2,
    DLOR_DT_BF16 = 3,
    DLOR_DT_F64 = 4,
    DLOR_DT_I8 = 5,
    DLOR_DT_I16 = 6,
    DLOR_DT_I32 = 7,
    DLOR_DT_I64 = 8,
    DLOR_DT_U8 = 9,
    DLOR_DT_U16 = 10,
    DLOR_DT_U32 = 11,
    DLOR_DT_U64 = 12,
    DLOR_DT_BOOL = 13,
    DLOR_DT_Q8 = 14,   /* block-quantized 2-D weights, DLOR_FORMAT.md 6.1: */
    DLOR_DT_Q4 = 15    /* nbytes from dlor_shape_nbytes, dlor_dtype_size 0 */
} dlor_dtype;

#define DLOR_MAX_NDIM 8
#define DLOR_MAX_NAME 255          /* bytes, UTF-8, no NUL inside */
#define DLOR_MAX_TENSORS (1u << 20)

typedef struct dlor_tensor {
    char *name;                     /* NUL-terminated, owned by the list */
    dlor_dtype dtype;
    int ndim;                       /* 0 .. DLOR_MAX_NDIM; 0 = scalar */
    uint64_t dims[DLOR_MAX_NDIM];   /* outermost first */
    uint64_t nelem;                 /* product of dims (1 for a scalar) */
    size_t nbytes;                  /* nelem * dtype size */
    const unsigned char *data;      /* nbytes bytes, LE, C order, maybe unaligned */
} dlor_tensor;

typedef struct dlor_tensor_list {
    dlor_tensor *items;
    size_t count, cap;
    char **meta_keys;               /* string metadata (e.g. safetensors __metadata__) */
    char **meta_vals;
    size_t meta_count, meta_cap;
    void **blocks;                  /* owned backing memory */
    size_t nblocks, blocks_cap;
    void **maps;                    /* owned read-only file mappings (munmap'd by free) */
    size_t *map_lens;
    size_t nmaps;
} dlor_tensor_list;

/* dtype helpers. dlor_dtype_size returns 0 for an invalid code. */
size_t dlor_dtype_size(dlor_dtype dt);
const char *dlor_dtype_name(dlor_dtype dt);          /* "f32", "bf16", ...; "invalid" */
dlor_dtype dlor_dtype_from_name(const char *name);   /* accepts "f32"/"F32"/"float32"...; INVALID otherwise */
int dlor_dtype_is_float(dlor_dtype dt);
int dlor_dtype_is_quant(dlor_dtype dt);             /* q8, q4 */
int dlor_dtype_is_weight(dlor_dtype dt);            /* a float or a quantized dtype */

/* Half-precision conversions (round to nearest even; NaN stays NaN). */
float dlor_f16_to_f32(uint16_t h);
uint16_t dlor_f32_to_f16(float f);
float dlor_bf16_to_f32(uint16_t b);
uint16_t dlor_f32_to_bf16(float f);
/* Round a double to what the given float dtype can hold (identity for F64). */
double dlor_round_to_dtype(double x, dlor_dtype dt);

/* Little-endian loads/stores that never assume alignment. */
uint16_t dlor_load_u16(const unsigned char *p);
uint32_t dlor_load_u32(const unsigned char *p);
uint64_t dlor_load_u64(const unsigned char *p);
void dlor_store_u16(unsigned char *p, uint16_t v);
void dlor_store_u32(unsigned char *p, uint32_t v);
void dlor_store_u64(unsigned char *p, uint64_t v);

/* Element count and byte size of a shape with overflow checks.
 * Returns 0 on success, -1 on overflow. */
int dlor_shape_nelem(const uint64_t *dims, int ndim, uint64_t *nelem);
int dlor_shape_nbytes(const uint64_t *dims, int ndim, dlor_dtype dt, uint64_t *nbytes);

/* Formats a shape as "[768, 3072]" into buf (always NUL-terminated). */
const char *dlor_shape_str(const uint64_t *dims, int ndim, char *buf, size_t bufsize);

/* Converts a float tensor (F32/F64/F16/BF16) to doubles. out holds nelem. */
dlor_status dlor_tensor_to_f64(const dlor_tensor *t, double *out, dlor_error *err);
/* Encodes n doubles into dtype dt (float dtypes only), LE, into out. */
void dlor_encode_f64(const double *x, size_t n, dlor_dtype dt, unsigned char *out);
/* Encodes a rows x cols matrix (C order) into dt, a float or a quantized dtype
 * (DLOR_FORMAT.md 6.1: absmax scales rounded to f16, values rounded to nearest,
 * ties to even, padding columns 0), into out of dlor_shape_nbytes bytes. A
 * quantized dtype refuses non-finite values and blocks whose scale f16 cannot
 * hold, naming the tensor. */
dlor_status dlor_encode_matrix(const double *x, uint64_t rows, uint64_t cols, dlor_dtype dt, unsigned char *out,
                               const char *name, dlor_error *err);

/* List management. All return DLOR_OK or DLOR_E_NOMEM / DLOR_E_FORMAT. */
void dlor_tensor_list_init(dlor_tensor_list *l);
void dlor_tensor_list_free(dlor_tensor_list *l);
/* Takes ownership of block (malloc'd); on failure frees it. */
dlor_status dlor_tensor_list_own(dlor_tensor_list *l, void *block, dlor_error *err);
/* Takes ownership of a read-only mapping (mmap) of len bytes, unmapped when the
 * list is freed; on failure unmaps it. */
dlor_status dlor_tensor_list_own_map(dlor_tensor_list *l, void *base, size_t len, dlor_error *err);
/* Drops the resident pages of t's bytes when they lie in one of l's mappings
 * (madvise MADV_DONTNEED: the pages load again from the file when next read),
 * so that a pass over the layers of a mapped file holds about one layer; does
 * nothing for tensors in memory. */
void dlor_tensor_release(const dlor_tensor_list *l, const dlor_tensor *t);
/* Appends a tensor; name is copied; data must point into an owned block (or
 * stay valid as long as the list). Rejects empty names, names longer than
 * DLOR_MAX_NAME or containing NUL, ndim > DLOR_MAX_NDIM, more than
 * DLOR_MAX_TENSORS tensors, and nbytes inconsistent with dims/dtype.
 * 'what' names the source for messages (usually the file path). */
dlor_status dlor_tensor_list_add(dlor_tensor_list *l, const char *what, const char *name,
                                 size_t name_len, dlor_dtype dt, int ndim,
                                 const uint64_t *dims, const unsigned char *data,
                                 size_t nbytes, dlor_error *err);
dlor_status dlor_tensor_list_add_meta(dlor_tensor_list *l, const char *key, const char *val,
                                      dlor_error *err);
/* The value of metadata key, or NULL when the list has none. */
const char *dlor_tensor_list_meta(const dlor_tensor_list *l, const char *key);
/* Is name one of the comma-separated names of list (a metadata value such as
 * dlor.kept_dense; NULL lists none)? */
int dlor_name_listed(const char *list, const char *name);
/* Rejects duplicate tensor names (O(n log n)); readers call it once at the end. */
dlor_status dlor_tensor_list_check_unique(const dlor_tensor_list *l, const char *what,
                                          dlor_error *err);
/* Returns the tensor with this name or NULL (linear search). */
const dlor_tensor *dlor_tensor_list_find(const dlor_tensor_list *l, const char *name);

#ifdef __cplusplus
}
#endif
#endif
