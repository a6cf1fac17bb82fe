/* dlor_pickle.h - internal: a restricted unpickler for PyTorch state dicts.
 * Not a public header.
 *
 * dlor_pkl_load runs a pickle stream (protocols 2-5) on a small stack machine
 * that builds plain data objects and never executes anything. GLOBAL is
 * resolved against an allow-list into opaque symbols:
 *
 *   collections.OrderedDict           REDUCE with () gives an empty dict
 *   torch._utils._rebuild_tensor_v2   REDUCE gives a tensor descriptor
 *   torch._utils._rebuild_parameter   REDUCE gives the tensor it wraps
 *   torch.{Float,Double,Half,BFloat16,Long,Int,Short,Char,Byte,Bool}Storage
 *                                     only inside a persistent id
 *
 * Any other global, any call on something else and every opcode a state dict
 * does not use (STACK_GLOBAL, INST, OBJ, EXT*, POP, DUP, ...) is refused with
 * a message naming it. BUILD on a dict discards the state (torch puts
 * '_metadata' there). BINPERSID must see ('storage', StorageType, key:str,
 * location:str, numel:int) and gives a storage descriptor.
 *
 * The result is an arena of objects addressed by index; containers hold
 * indices, so shared (memoised) objects are shared here too and a dict may
 * even contain itself: walkers must bound their depth and total work.
 * Strings point into the pickle buffer, which must outlive the dlor_pkl.
 * Tensor descriptors are only checked for types and arity: the caller checks
 * sizes, strides and offsets against the storage (it knows the names).
 *
 * Limits: DLOR_PKL_MAX_OBJECTS objects, DLOR_PKL_MAX_STACK stack items,
 * DLOR_PKL_MAX_MARKS open MARKs, DLOR_PKL_MAX_ITEMS ids per container, memo
 * indices <= DLOR_PKL_MAX_MEMO, integers within int64 (LONG1 of at most 8
 * bytes), string lengths within the bytes left. At STOP exactly one object
 * must be on the stack, no MARK open and no byte left. Everything is freed
 * on failure.
 */
#ifndef DLOR_PICKLE_H
#define DLOR_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_tensor.h"

#define DLOR_PKL_MAX_OBJECTS (1u << 23)
#define DLOR_PKL_MAX_STACK (1u << 20)
#define DLOR_PKL_MAX_MARKS 4096u
#define DLOR_PKL_MAX_MEMO (1u << 20)
#define DLOR_PKL_MAX_ITEMS (1u << 26)  /* ids in one list or dict (2 per pair) */
#define DLOR_PKL_MAX_GLOBAL 256u /* bytes of "module\nname\n" */

typedef enum dlor_pkl_kind {
    DLOR_PKL_NONE = 0,
    DLOR_PKL_BOOL,
    DLOR_PKL_INT,
    DLOR_PKL_FLOAT,
    DLOR_PKL_STR,
    DLOR_PKL_TUPLE,
    DLOR_PKL_LIST,
    DLOR_PKL_DICT,    /* dict or OrderedDict: key/value pairs in insertion order */
    DLOR_PKL_GLOBAL,  /* an allow-listed symbol, see dlor_pkl_sym */
    DLOR_PKL_STORAGE, /* from BINPERSID */
    DLOR_PKL_TENSOR   /* from _rebuild_tensor_v2 */
} dlor_pkl_kind;

typedef enum dlor_pkl_sym {
    DLOR_PKL_SYM_ORDERED_DICT = 1,
    DLOR_PKL_SYM_REBUILD_TENSOR_V2,
    DLOR_PKL_SYM_REBUILD_PARAMETER,
    DLOR_PKL_SYM_STORAGE          /* a storage class; the object's dtype says which */
} dlor_pkl_sym;

typedef struct dlor_pkl_obj {
    unsigned char kind;           /* dlor_pkl_kind */
    unsigned char sym;            /* GLOBAL: dlor_pkl_sym */
    unsigned char dtype;          /* GLOBAL storage class: dlor_dtype */
    size_t len;                   /* STR bytes; TUPLE/LIST items; DICT pairs */
    size_t cap;                   /* LIST/DICT: allocated ids (2 per pair for DICT) */
    union {
        int64_t i;                /* BOOL (0/1), INT */
        double f;                 /* FLOAT */
        const unsigned char *s;   /* STR, UTF-8 as written, not NUL-terminated */
        uint32_t *items;          /* TUPLE/LIST ids; DICT key0, value0, key1, ... */
        uint32_t idx;             /* STORAGE/TENSOR: index into storages/tensors */
    } u;
} dlor_pkl_obj;

typedef struct dlor_pkl_storage {
    dlor_dtype dtype;
    const unsigned char *key;     /* record name under "<prefix>/data/" */
    size_t key_len;
    const unsigned char *location;/* "cpu", "cuda:0", ... (not used) */
    size_t location_len;
    int64_t numel;                /* >= 0 */
    size_t pos;                   /* BINPERSID offset, for messages */
} dlor_pkl_storage;

typedef struct dlor_pkl_tensor {
    uint32_t storage;             /* index into storages */
    int64_t offset;               /* in elements; unchecked */
    int ndim;                     /* length of the size tuple; may exceed DLOR_MAX_NDIM */
    int64_t size[DLOR_MAX_NDIM];  /* first min(ndim, DLOR_MAX_NDIM) filled; unchecked */
    int64_t stride[DLOR_MAX_NDIM];
    size_t pos;                   /* REDUCE offset, for messages */
} dlor_pkl_tensor;

typedef struct dlor_pkl {
    dlor_pkl_obj *objs;
    size_t nobjs, objs_cap;
    dlor_pkl_storage *storages;
    size_t nstorages, storages_cap;
    dlor_pkl_tensor *tensors;
    size_t ntensors, tensors_cap;
    uint32_t root;                /* the object STOP returned */
    int protocol;                 /* from PROTO; 0 when absent */
} dlor_pkl;

/* Runs the pickle in buf[0..len). 'what' names the file in messages, which
 * read "<what>: pickle offset N (OPCODE): ..." or name the refused global or
 * opcode. On failure p is left empty. */
dlor_status dlor_pkl_load(dlor_pkl *p, const unsigned char *buf, size_t len, const char *what,
                          dlor_error *err);
/* Harmless on an empty or zeroed dlor_pkl. */
void dlor_pkl_free(dlor_pkl *p);

/* "an int", "a dict", "None", ... for messages. */
const char *dlor_pkl_kind_name(int kind);

#endif
