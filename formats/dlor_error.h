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

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dlor_status {
    DLOR_OK = 0,
    DLOR_E_IO = 1,          /* open/read/write/rename failed */
    DLOR_E_FORMAT = 2,      /* malformed, corrupt or inconsistent input */
    DLOR_E_UNSUPPORTED = 3, /* well-formed but outside what dlor handles */
    DLOR_E_NOMEM = 4,       /* allocation failed */
    DLOR_E_LIMIT = 5,       /* exceeds a documented size limit */
    DLOR_E_ARG = 6,         /* invalid argument or option */
    DLOR_E_NUMERIC = 7,     /* numerical failure (non-finite values, LAPACK error) */
    /* 8 and 9 are the runtime's own codes (dlor_runtime.h) */
    DLOR_E_USAGE = 10       /* an option's value, or a combination of options, that the input cannot
                               take (the dlor command exits 2 for it, as for any usage error) */
} dlor_status;

#define DLOR_ERROR_MSG_MAX 1024

typedef struct dlor_error {
    dlor_status code;
    char msg[DLOR_ERROR_MSG_MAX];
} dlor_error;

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
