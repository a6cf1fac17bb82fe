/* dlor_image_internal.h - helpers the dependency-free parts share (the image
 * parser, the runtime, and the host's tensor conversions). Not public API. */
#ifndef DLOR_IMAGE_INTERNAL_H
#define DLOR_IMAGE_INTERNAL_H

#include <stdint.h>

#include "dlor_image.h"

/* Formats one line into err (if non-NULL) without allocating; returns code. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int dlor__image_fail(dlor_image_error *err, int code, const char *fmt, ...);

/* IEEE binary16 to float, exactly (NaN stays NaN). */
float dlor__half_to_float(uint16_t h);

#endif
