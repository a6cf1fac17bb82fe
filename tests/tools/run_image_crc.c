/* run_image_crc - run_image.c opening the model with its checksums checked
 * (DLOR_IMAGE_CHECK_CRC), for a runtime built with another CRC-32 table
 * (DLOR_RT_SMALL_CRC; test_one_file_runtime.py). */
#include "dlor_runtime.h"
#define RUN_IMAGE_OPEN_FLAGS DLOR_IMAGE_CHECK_CRC
#include "run_image.c"
