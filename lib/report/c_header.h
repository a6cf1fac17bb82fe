/* c_header.h - the C header 'dlor export-c' writes: a .dlor image as an aligned
 * const byte array, with the sizes a device needs to open and run it. */
#ifndef DLOR_C_HEADER_H
#define DLOR_C_HEADER_H

#include <stddef.h>
#include <stdio.h>

#include "dlor_runtime.h"

/* 1 when name can name the array: a C identifier of at most 64 characters. */
int dlor_c_header_name_ok(const char *name);

/* Writes the header of the image buf[len], read from the file named source
 * (its first line says so), its array and macros named after name (which
 * dlor_c_header_name_ok accepts; the macros upper-cased). m is the model
 * opened on the image, or NULL when it has no graph (then only its size is
 * given); with_plan: the graph needs a plan buffer (dlor_model_open_plan). */
void dlor_c_header_write(FILE *f, const char *source, const char *name, const unsigned char *buf, size_t len,
                         const dlor_model *m, int with_plan);

#endif
