/* testzip.c - zlib helpers for the tests that build zip archives by hand. */
#include "testzip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

uint32_t crc_of(const void *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)p, (uInt)n);
}

unsigned char *deflate_raw(const void *src, size_t n, size_t *out_n)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&s, (uLong)n);
    unsigned char *out = malloc(cap);
    if (!out) abort();
    s.next_in = (Bytef *)(uintptr_t)src;
    s.avail_in = (uInt)n;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    if (deflate(&s, Z_FINISH) != Z_STREAM_END) abort();
    *out_n = s.total_out;
    deflateEnd(&s);
    return out;
}
