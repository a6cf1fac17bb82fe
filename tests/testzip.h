/* testzip.h - zlib helpers for the tests that build zip archives by hand. */
#ifndef DLOR_TESTZIP_H
#define DLOR_TESTZIP_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 of n bytes, computed by zlib (the reference, not dlor's own). */
uint32_t crc_of(const void *p, size_t n);
/* Raw deflate (no zlib header), level 6, as Python's zipfile writes it;
 * malloc'd, *out_n bytes. Aborts on a zlib failure. */
unsigned char *deflate_raw(const void *src, size_t n, size_t *out_n);

#endif
