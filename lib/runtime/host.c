/* host.c - the runtime on hosts: plans on the heap (dlor_host.h). */
#include "dlor_host.h"

#include <stdio.h>
#include <stdlib.h>

int dlor_model_open_alloc(dlor_model *m, const void *image, size_t len, unsigned flags, void **plan,
                          dlor_image_error *err)
{
    size_t need = dlor_model_plan_size(image, len);
    *plan = NULL;
    if (need / sizeof(uint64_t) <= DLOR_RT_PLAN_INLINE) return dlor_model_open(m, image, len, flags, err);
    void *p = malloc(need);
    if (!p) {
        if (err) {
            snprintf(err->msg, sizeof err->msg, "out of memory for a plan of %zu bytes", need);
            err->code = DLOR_IMAGE_E_LIMIT;
        }
        return DLOR_IMAGE_E_LIMIT;
    }
    int rc = dlor_model_open_plan(m, image, len, flags, p, need, err);
    if (rc != 0) free(p);
    else *plan = p;
    return rc;
}
