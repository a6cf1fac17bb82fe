/* One private copy of the one-file runtime: dlor_runtime.c included with
 * DLOR_RT_STATIC, so that every function of it is static to this file.
 * test_one_file_runtime.py compiles this file twice, with COPY=copy_a and
 * COPY=copy_b, into one program (rt_two_copies.c); without DLOR_RT_STATIC the
 * two copies' public functions would clash when linked. */
#include <stdio.h>

#define DLOR_RT_STATIC
#include "dlor_runtime.c"

#define RT_COPY_JOIN(a, b) a##b
#define RT_COPY_NAME(a, b) RT_COPY_JOIN(a, b)

/* Opens the model and runs 'batch' samples of x into y through this copy, with
 * work[0, work_size) as its scratch. Returns 0, or prints the runtime's message
 * and returns its error code. */
int RT_COPY_NAME(COPY, _forward)(const void *image, size_t len, const float *x, size_t batch, float *y, void *work,
                                 size_t work_size);

int RT_COPY_NAME(COPY, _forward)(const void *image, size_t len, const float *x, size_t batch, float *y, void *work,
                                 size_t work_size)
{
    dlor_model m;
    dlor_image_error e;
    int rc = dlor_model_open(&m, image, len, DLOR_IMAGE_CHECK_CRC, &e);
    if (rc == 0 && dlor_model_scratch_size(&m, batch) > work_size) rc = -1;
    if (rc == 0) rc = dlor_model_forward(&m, x, batch, y, work, work_size, &e);
    if (rc > 0) fprintf(stderr, "%s\n", e.msg);
    return rc;
}
