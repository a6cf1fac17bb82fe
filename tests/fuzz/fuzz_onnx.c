/* fuzz_onnx - property: the ONNX reader (protobuf decoder, initializers in
 * every encoding, graph recovery) never crashes, hangs or reads outside the
 * input, and never touches a file: external data is refused in memory. It
 * returns a consistent list (and a graph that passes the graph check, or none
 * with a reason) or a clean error; what it returns can be carried into a
 * .dlor that reads back and runs. */
#include <string.h>

#include "fuzz_common.h"
#include "dlor_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlor_tensor_list l;
    dlor_error err;
    dlor_graph g;
    char why[512];
    dlor_tensor_list_init(&l);
    dlor_graph_init(&g);
    memset(why, 'x', sizeof why);
    dlor_status st = dlor_onnx_parse(data, size, "fuzz.onnx", NULL, &l, &g, why, sizeof why, &err);
    dlf_check_result(st, &l, &err);
    DLF_REQUIRE(memchr(why, 0, sizeof why) != NULL, "'why' is not NUL-terminated");
    if (st == DLOR_OK) {
        DLF_REQUIRE(g.count > 0 || why[0] != 0, "no graph and no reason");
        dlf_resolve_graph(&l, &g);
        dlf_check_carry(&l, &g);
    } else {
        DLF_REQUIRE(g.count == 0, "failed reader left a graph of %zu operations", g.count);
    }
    dlor_graph_free(&g);
    dlor_tensor_list_free(&l);
    return 0;
}
