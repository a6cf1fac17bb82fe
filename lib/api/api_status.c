/* api_status.c - the status strings and the version; the status codes are
 * the runtime's too, which the checks below keep true at compile time. */
#include "dlor.h"
#include "dlor_error.h"
#include "dlor_image.h"
#include "dlor_runtime.h"

/* A C99 static assertion: an array of negative size when cond is false. */
#define DLOR_STATIC_ASSERT(cond, name) typedef char dlor__assert_##name[(cond) ? 1 : -1]

DLOR_STATIC_ASSERT(DLOR_E_FORMAT == DLOR_IMAGE_E_FORMAT, format);
DLOR_STATIC_ASSERT(DLOR_E_UNSUPPORTED == DLOR_IMAGE_E_UNSUPPORTED, unsupported);
DLOR_STATIC_ASSERT(DLOR_E_LIMIT == DLOR_IMAGE_E_LIMIT, limit);
DLOR_STATIC_ASSERT(DLOR_E_ARG == DLOR_IMAGE_E_ARG, arg);
DLOR_STATIC_ASSERT(DLOR_E_NOGRAPH == DLOR_RT_E_NOGRAPH, nograph);
DLOR_STATIC_ASSERT(DLOR_E_SCRATCH == DLOR_RT_E_SCRATCH, scratch);
DLOR_STATIC_ASSERT(DLOR_E_PLAN == DLOR_RT_E_PLAN, plan);
DLOR_STATIC_ASSERT(DLOR_E_INPUT == DLOR_RT_E_INPUT, input);
DLOR_STATIC_ASSERT(DLOR_E_STOPPED == DLOR_RT_E_STOPPED, stopped);

const char *dlor_strerror(dlor_status s)
{
    return dlor_status_str(s);
}

#define DLOR_STR_(x) #x
#define DLOR_STR(x) DLOR_STR_(x)

const char *dlor_version(void)
{
    return DLOR_STR(DLOR_VERSION_MAJOR) "." DLOR_STR(DLOR_VERSION_MINOR) "." DLOR_STR(DLOR_VERSION_PATCH);
}
