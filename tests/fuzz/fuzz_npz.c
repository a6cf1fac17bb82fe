/* fuzz_npz - property: the .npz reader and the zip walker under it (zip64,
 * deflate, local/central header agreement, overlap and bomb checks) never
 * crash, hang or read outside the input; they return a consistent list or a
 * clean error, and what they return can be carried into a .dlor that reads
 * back. */
#include "fuzz_common.h"
#include "dlor_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlf_check_reader(dlor_npz_parse, data, size, "fuzz.npz");
    return 0;
}
