/* dlor_protobuf.h - a bounds-checked reader of the protobuf wire format
 * (internal to the ONNX reader; formats.md §3).
 *
 * A dlor_pb cursor walks one message: a byte range inside a larger buffer.
 * dlor_pb_next returns its fields one at a time (tag, then the value for
 * VARINT / I64 / I32, or a pointer and length for LEN); every length is
 * checked against the bytes left in the enclosing message, so a sub-message
 * can never reach outside its parent. dlor_pb_enter opens a LEN field as a
 * nested message one level deeper and refuses to go past max_depth.
 *
 * Rejected: varints that are truncated, longer than 10 bytes or overflow 64
 * bits; field number 0 or above 2^29-1; wire types 3 and 4 (groups), 6 and 7.
 * Error messages name the byte offset from the start of the whole buffer but
 * not the file: callers prefix them.
 */
#ifndef DLOR_PROTOBUF_H
#define DLOR_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"

#define DLOR_PB_VARINT 0
#define DLOR_PB_I64 1
#define DLOR_PB_LEN 2
#define DLOR_PB_I32 5

#define DLOR_PB_MAX_FIELD ((1u << 29) - 1)

typedef struct dlor_pb {
    const unsigned char *base;  /* start of the whole buffer (for offsets) */
    const unsigned char *pos;   /* next field */
    const unsigned char *end;   /* end of this message */
    int depth, max_depth;
} dlor_pb;

typedef struct dlor_pb_field {
    uint32_t num;               /* field number; 0 at the end of the message */
    int wt;                     /* wire type */
    uint64_t u;                 /* VARINT value, or the LE bits of I64 / I32 */
    const unsigned char *data;  /* LEN: payload */
    size_t len;                 /* LEN: payload length */
    size_t offset;              /* offset of the tag from base */
} dlor_pb_field;

/* A cursor over a whole buffer (depth 0). */
void dlor_pb_init(dlor_pb *r, const unsigned char *buf, size_t len, int max_depth);

/* Reads the next field into *f; at the end of the message returns DLOR_OK
 * with f->num == 0. */
dlor_status dlor_pb_next(dlor_pb *r, dlor_pb_field *f, dlor_error *err);

/* A cursor over the payload of LEN field f (read from r), one level deeper.
 * Fails with DLOR_E_LIMIT past r->max_depth, DLOR_E_FORMAT if f is not LEN. */
dlor_status dlor_pb_enter(const dlor_pb *r, const dlor_pb_field *f, dlor_pb *sub, dlor_error *err);

/* Decodes one varint from [*p, end) and advances *p. Returns 0, or -1 when
 * truncated, -2 when longer than 10 bytes, -3 when it overflows 64 bits. */
int dlor_pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v);

/* Repeated scalar fields arrive packed (one LEN) or unpacked (one field per
 * element). An iterator over the elements of one occurrence f whose element
 * wire type is elem_wt (VARINT, I32 or I64). */
typedef struct dlor_pb_iter {
    const unsigned char *p, *end;
    int elem_wt;
    int single;                 /* unpacked: one value, in u */
    uint64_t u;
} dlor_pb_iter;

/* Checks f's wire type against elem_wt (or LEN) and counts its elements,
 * validating every packed varint. Fails with DLOR_E_FORMAT. */
dlor_status dlor_pb_count(const dlor_pb *r, const dlor_pb_field *f, int elem_wt, uint64_t *count,
                          dlor_error *err);
/* Starts iterating f; call dlor_pb_count on it first (the iterator relies on
 * the checks it made). */
void dlor_pb_iter_init(dlor_pb_iter *it, const dlor_pb_field *f, int elem_wt);
/* Returns 1 and the next element in *v, or 0 at the end. */
int dlor_pb_iter_next(dlor_pb_iter *it, uint64_t *v);

/* Name of a wire type for messages ("VARINT", "LEN", ...). */
const char *dlor_pb_wt_name(int wt);

#endif
