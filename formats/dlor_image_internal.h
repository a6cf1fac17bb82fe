/* dlor_image_internal.h - helpers the dependency-free parts share (the image
 * parser, the runtime, and the host's tensor conversions). Not public API. */
#ifndef DLOR_IMAGE_INTERNAL_H
#define DLOR_IMAGE_INTERNAL_H

#include <stdint.h>

#include "dlor_image.h"

#ifndef DLOR_RT_NO_MESSAGES
/* Formats one line into err (if non-NULL) without allocating or calling the C
 * library's printf (the conversions it knows are listed in dlor_image.c);
 * returns code. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int dlor__image_fail(dlor_image_error *err, int code, const char *fmt, ...);
#else
/* Built with DLOR_RT_NO_MESSAGES (for the smallest firmware): no format string
 * is compiled in, err gets the code and a fixed text with its number. The
 * arguments are still named in an unevaluated sizeof, so that a variable kept
 * only for a message is not an unused one. */
int dlor__image_error(dlor_image_error *err, int code);
int dlor__image_args(int unused, ...);
#define dlor__image_fail(err, code, ...) \
    (dlor__image_error((err), (code)) + 0 * (int)sizeof dlor__image_args(0, __VA_ARGS__))
#endif

/* IEEE binary16 to float, exactly (NaN stays NaN), in integer operations. */
float dlor__half_to_float(uint16_t h);

/* A double to the nearest float, ties to even, as a cast gives (NaN stays a
 * quiet NaN, overflow is infinity), in integer operations: a Cortex-M4F has no
 * double-precision hardware, and this links no software emulation of it. */
float dlor__double_to_float(double d);

#endif
