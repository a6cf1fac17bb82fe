/* fuzz_npz - property: the .npz reader and the zip walker under it (zip64,
 * deflate, local/central header agreement, overlap and bomb checks) never
 * crash, hang or read outside the input; they return a consistent list or a
 * clean error, and what they return can be carried into a .dlor that reads
 * back. */
#include "fuzz_common.h"
#include "dlor_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlor_tensor_list l;
    dlor_error err;
    dlor_graph g;
    dlor_tensor_list_init(&l);
    dlor_graph_init(&g);
    dlor_status st = dlor_npz_parse(data, size, "fuzz.npz", &l, &err);
    dlf_check_result(st, &l, &err);
    if (st == DLOR_OK) {
        dlf_resolve_graph(&l, &g);
        dlf_check_carry(&l, &g);
    }
    dlor_graph_free(&g);
    dlor_tensor_list_free(&l);
    return 0;
}
