/* fuzz_pickle - property: the restricted unpickler runs any byte stream to a
 * clean end (a result or an error) without crashing, hanging, reading outside
 * the stream or executing anything, and the object arena it returns is
 * closed: every id, storage and tensor index is in range and every string
 * lies inside the stream. */
#include "fuzz_common.h"
#include "dlor_pickle.h"

static void check_arena(const dlor_pkl *p, const uint8_t *data, size_t size)
{
    DLF_REQUIRE(p->nobjs > 0 && p->root < p->nobjs, "root %u of %zu objects", p->root, p->nobjs);
    for (size_t i = 0; i < p->nobjs; i++) {
        const dlor_pkl_obj *o = &p->objs[i];
        switch (o->kind) {
        case DLOR_PKL_NONE: case DLOR_PKL_BOOL: case DLOR_PKL_INT: case DLOR_PKL_FLOAT: break;
        case DLOR_PKL_STR:
            DLF_REQUIRE(o->len == 0 || (o->u.s >= data && o->len <= size && o->u.s <= data + size - o->len),
                        "string %zu outside the stream", i);
            break;
        case DLOR_PKL_TUPLE: case DLOR_PKL_LIST: case DLOR_PKL_DICT: {
            size_t n = o->kind == DLOR_PKL_DICT ? 2 * o->len : o->len;
            DLF_REQUIRE(n == 0 || o->u.items != NULL, "container %zu without items", i);
            for (size_t k = 0; k < n; k++)
                DLF_REQUIRE(o->u.items[k] < p->nobjs, "container %zu holds id %u of %zu", i, o->u.items[k],
                            p->nobjs);
            break;
        }
        case DLOR_PKL_GLOBAL:
            DLF_REQUIRE(o->sym >= DLOR_PKL_SYM_ORDERED_DICT && o->sym <= DLOR_PKL_SYM_STORAGE, "global %zu: sym %d",
                        i, o->sym);
            break;
        case DLOR_PKL_STORAGE:
            DLF_REQUIRE(o->u.idx < p->nstorages, "storage object %zu: index %u", i, o->u.idx);
            break;
        case DLOR_PKL_TENSOR:
            DLF_REQUIRE(o->u.idx < p->ntensors, "tensor object %zu: index %u", i, o->u.idx);
            break;
        default: dlf_die("object %zu has kind %d", i, o->kind);
        }
    }
    for (size_t i = 0; i < p->nstorages; i++) {
        const dlor_pkl_storage *s = &p->storages[i];
        DLF_REQUIRE(s->numel >= 0 && dlor_dtype_size(s->dtype) != 0, "storage %zu", i);
        DLF_REQUIRE(s->key_len <= size && s->key >= data && s->key <= data + size - s->key_len,
                    "storage %zu key outside the stream", i);
    }
    for (size_t i = 0; i < p->ntensors; i++)
        DLF_REQUIRE(p->tensors[i].storage < p->nstorages && p->tensors[i].ndim >= 0, "tensor %zu", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlor_pkl p;
    dlor_error err;
    dlor_status st = dlor_pkl_load(&p, data, size, "fuzz.pkl", &err);
    if (st == DLOR_OK) check_arena(&p, data, size);
    else {
        dlf_check_error(st, &err);
        DLF_REQUIRE(p.nobjs == 0 && p.objs == NULL && p.nstorages == 0 && p.ntensors == 0,
                    "failed load left objects behind");
    }
    dlor_pkl_free(&p);
    return 0;
}
