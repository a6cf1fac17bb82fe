/* dlor_pb_write.h - a protobuf wire-format writer: a growing byte buffer with
 * encoders for tags, varints, fixed-width values and length-delimited fields.
 *
 * A nested message is written into a buffer of its own and then added to its
 * parent with dlor_pbw_len, which writes the tag, the length and the bytes.
 * Allocation failures are sticky: every call after one is a no-op and
 * dlor_pbw_failed reports it, so a writer checks once at the end. */
#ifndef DLOR_PB_WRITE_H
#define DLOR_PB_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dlor_pbw {
    unsigned char *p;
    size_t n, cap;
    int oom;
} dlor_pbw;

void dlor_pbw_init(dlor_pbw *w);
void dlor_pbw_free(dlor_pbw *w);
int dlor_pbw_failed(const dlor_pbw *w);

void dlor_pbw_raw(dlor_pbw *w, const void *data, size_t n);          /* bytes as they are */
void dlor_pbw_varint(dlor_pbw *w, uint64_t v);
void dlor_pbw_tag(dlor_pbw *w, uint32_t field, int wire_type);
void dlor_pbw_uint(dlor_pbw *w, uint32_t field, uint64_t v);        /* VARINT field (int64: two's complement) */
void dlor_pbw_float(dlor_pbw *w, uint32_t field, float v);          /* I32 field */
void dlor_pbw_len(dlor_pbw *w, uint32_t field, const void *data, size_t n); /* LEN field */
void dlor_pbw_str(dlor_pbw *w, uint32_t field, const char *s);      /* LEN field of a C string */
void dlor_pbw_msg(dlor_pbw *w, uint32_t field, const dlor_pbw *sub); /* LEN field holding sub's bytes */

#endif
