/* fuzz_pt - property: the PyTorch state-dict reader (zip archive, record
 * lookup, views and strides, the restricted unpickler) never crashes, hangs
 * or reads outside the input; it returns a consistent list or a clean error,
 * and what it returns can be carried into a .dlor that reads back. */
#include "fuzz_common.h"
#include "dlor_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlf_check_reader(dlor_pt_parse, data, size, "fuzz.pt");
    return 0;
}
