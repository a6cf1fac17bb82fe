/* fuzz_npy - property: the .npy reader (header dict parser, every descr,
 * byte swapping, Fortran order) never crashes, hangs or reads outside the
 * input; it returns a consistent tensor or a clean error. */
#include "fuzz_common.h"
#include "dlor_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    dlor_status st = dlor_npy_parse(data, size, "fuzz.npy", "x", &l, &err);
    dlf_check_result(st, &l, &err);
    if (st == DLOR_OK) {
        DLF_REQUIRE(l.count == 1, ".npy gave %zu tensors", l.count);
        dlf_check_carry(&l, NULL);
    }
    dlor_tensor_list_free(&l);
    return 0;
}
