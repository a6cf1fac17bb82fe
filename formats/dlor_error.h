/* dlor_error.h - status codes and the error record used by the host-side library.
 *
 * Every fallible host function returns a dlor_status and, on failure, fills a
 * caller-owned dlor_error with one line of text that names the file, the tensor
 * (when there is one) and what is wrong. Out-parameters are left untouched on
 * failure unless the function's comment says otherwise.
 */
#ifndef DLOR_ERROR_H
#define DLOR_ERROR_H

#include <stdarg.h>

#include "dlor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dlor_status (its codes shared with the runtime's, DLOR_E_USAGE included),
 * dlor_error and DLOR_ERROR_MSG_MAX are the public ones (include/dlor.h). */

/* Never returns NULL. */
const char *dlor_status_str(dlor_status s);

/* Sets err (if non-NULL) and returns code, so checks fit on one line:
 *     return dlor_fail(err, DLOR_E_FORMAT, "%s: header too short", path);
 * The message is one line: control bytes (from quoted input) become '?'. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
dlor_status dlor_fail(dlor_error *err, dlor_status code, const char *fmt, ...);

/* Prepends "prefix: " to an error message already set (used to add a file name). */
void dlor_error_prefix(dlor_error *err, const char *prefix);

#ifdef __cplusplus
}
#endif
#endif
