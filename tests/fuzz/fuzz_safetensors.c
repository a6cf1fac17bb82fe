/* fuzz_safetensors - property: the safetensors reader (and the JSON parser
 * under it, and the "dlor.graph" metadata it may carry) never crashes, hangs
 * or reads outside the input; it returns a consistent list or a clean error,
 * and what it returns can be carried into a .dlor that reads back. */
#include "fuzz_common.h"
#include "dlor_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlf_check_reader(dlor_safetensors_parse, data, size, "fuzz.safetensors");
    return 0;
}
