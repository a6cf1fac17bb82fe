/* fuzz_safetensors - property: the safetensors reader (and the JSON parser
 * under it, and the "dlor.graph" metadata it may carry) never crashes, hangs
 * or reads outside the input; it returns a consistent list or a clean error,
 * and what it returns can be carried into a .dlor that reads back. */
#include "fuzz_common.h"
#include "dlor_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlor_tensor_list l;
    dlor_error err;
    dlor_graph g;
    dlor_tensor_list_init(&l);
    dlor_graph_init(&g);
    dlor_status st = dlor_safetensors_parse(data, size, "fuzz.safetensors", &l, &err);
    dlf_check_result(st, &l, &err);
    if (st == DLOR_OK) {
        dlf_resolve_graph(&l, &g);
        dlf_check_carry(&l, &g);
    }
    dlor_graph_free(&g);
    dlor_tensor_list_free(&l);
    return 0;
}
