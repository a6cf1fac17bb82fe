/* protobuf.c - bounds-checked protobuf wire-format cursor (see dlor_protobuf.h). */
#include "dlor_protobuf.h"

#include <string.h>

#include "dlor_tensor.h"

const char *dlor_pb_wt_name(int wt)
{
    switch (wt) {
    case DLOR_PB_VARINT: return "VARINT";
    case DLOR_PB_I64: return "I64";
    case DLOR_PB_LEN: return "LEN";
    case 3: return "SGROUP";
    case 4: return "EGROUP";
    case DLOR_PB_I32: return "I32";
    default: return "invalid";
    }
}

int dlor_pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    const unsigned char *q = *p;
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (q == end) return -1;
        unsigned char b = *q++;
        /* the 10th byte holds bit 63 only; anything more does not fit */
        if (i == 9 && b > 1) return b & 0x80 ? -2 : -3;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *p = q;
            *v = x;
            return 0;
        }
    }
    return -2;
}

static dlor_status varint_fail(dlor_error *err, int rc, const dlor_pb *r, const unsigned char *at,
                               const char *what)
{
    size_t off = (size_t)(at - r->base);
    if (rc == -1)
        return dlor_fail(err, DLOR_E_FORMAT, "truncated varint (%s) at byte %zu", what, off);
    if (rc == -2)
        return dlor_fail(err, DLOR_E_FORMAT, "varint (%s) at byte %zu is longer than 10 bytes", what,
                         off);
    return dlor_fail(err, DLOR_E_FORMAT, "varint (%s) at byte %zu overflows 64 bits", what, off);
}

void dlor_pb_init(dlor_pb *r, const unsigned char *buf, size_t len, int max_depth)
{
    r->base = buf;
    r->pos = buf;
    r->end = buf + len;
    r->depth = 0;
    r->max_depth = max_depth;
}

dlor_status dlor_pb_next(dlor_pb *r, dlor_pb_field *f, dlor_error *err)
{
    const unsigned char *start = r->pos;
    uint64_t tag;
    int rc;
    memset(f, 0, sizeof *f);
    if (r->pos == r->end) return DLOR_OK;
    f->offset = (size_t)(start - r->base);
    if ((rc = dlor_pb_varint(&r->pos, r->end, &tag))) return varint_fail(err, rc, r, start, "tag");
    if ((tag >> 3) == 0)
        return dlor_fail(err, DLOR_E_FORMAT, "field number 0 at byte %zu", f->offset);
    if ((tag >> 3) > DLOR_PB_MAX_FIELD)
        return dlor_fail(err, DLOR_E_FORMAT, "field number %llu at byte %zu exceeds 2^29-1",
                         (unsigned long long)(tag >> 3), f->offset);
    f->num = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    size_t left;
    switch (f->wt) {
    case DLOR_PB_VARINT: {
        const unsigned char *at = r->pos;
        if ((rc = dlor_pb_varint(&r->pos, r->end, &f->u))) return varint_fail(err, rc, r, at, "value");
        return DLOR_OK;
    }
    case DLOR_PB_I64:
    case DLOR_PB_I32: {
        size_t n = f->wt == DLOR_PB_I64 ? 8 : 4;
        if ((size_t)(r->end - r->pos) < n)
            return dlor_fail(err, DLOR_E_FORMAT,
                             "field %u at byte %zu: %zu-byte value truncated (%zu bytes left)", f->num,
                             f->offset, n, (size_t)(r->end - r->pos));
        f->u = n == 8 ? dlor_load_u64(r->pos) : dlor_load_u32(r->pos);
        r->pos += n;
        return DLOR_OK;
    }
    case DLOR_PB_LEN: {
        const unsigned char *at = r->pos;
        uint64_t n;
        if ((rc = dlor_pb_varint(&r->pos, r->end, &n))) return varint_fail(err, rc, r, at, "length");
        left = (size_t)(r->end - r->pos);
        if (n > left)
            return dlor_fail(err, DLOR_E_FORMAT,
                             "field %u at byte %zu: length %llu exceeds the %zu bytes left in its "
                             "message", f->num, f->offset, (unsigned long long)n, left);
        f->data = r->pos;
        f->len = (size_t)n;
        r->pos += n;
        return DLOR_OK;
    }
    case 3:
    case 4:
        return dlor_fail(err, DLOR_E_FORMAT, "field %u at byte %zu uses deprecated group wire type %d",
                         f->num, f->offset, f->wt);
    default:
        return dlor_fail(err, DLOR_E_FORMAT, "field %u at byte %zu has invalid wire type %d", f->num,
                         f->offset, f->wt);
    }
}

dlor_status dlor_pb_enter(const dlor_pb *r, const dlor_pb_field *f, dlor_pb *sub, dlor_error *err)
{
    if (f->wt != DLOR_PB_LEN)
        return dlor_fail(err, DLOR_E_FORMAT, "field %u at byte %zu has wire type %s, expected a message",
                         f->num, f->offset, dlor_pb_wt_name(f->wt));
    if (r->depth >= r->max_depth)
        return dlor_fail(err, DLOR_E_LIMIT, "messages nested deeper than %d levels (field %u at byte %zu)",
                         r->max_depth, f->num, f->offset);
    sub->base = r->base;
    sub->pos = f->data;
    sub->end = f->data + f->len;
    sub->depth = r->depth + 1;
    sub->max_depth = r->max_depth;
    return DLOR_OK;
}

dlor_status dlor_pb_count(const dlor_pb *r, const dlor_pb_field *f, int elem_wt, uint64_t *count,
                          dlor_error *err)
{
    if (f->wt == elem_wt) {
        *count = 1;
        return DLOR_OK;
    }
    if (f->wt != DLOR_PB_LEN)
        return dlor_fail(err, DLOR_E_FORMAT, "field %u at byte %zu has wire type %s, expected %s or "
                         "packed LEN", f->num, f->offset, dlor_pb_wt_name(f->wt),
                         dlor_pb_wt_name(elem_wt));
    if (elem_wt == DLOR_PB_I32 || elem_wt == DLOR_PB_I64) {
        size_t es = elem_wt == DLOR_PB_I32 ? 4 : 8;
        if (f->len % es)
            return dlor_fail(err, DLOR_E_FORMAT,
                             "packed field %u at byte %zu: %zu bytes is not a multiple of %zu",
                             f->num, f->offset, f->len, es);
        *count = f->len / es;
        return DLOR_OK;
    }
    const unsigned char *p = f->data, *end = f->data + f->len;
    uint64_t n = 0, v;
    while (p < end) {
        const unsigned char *at = p;
        int rc = dlor_pb_varint(&p, end, &v);
        if (rc) return varint_fail(err, rc, r, at, "packed element");
        n++;
    }
    *count = n;
    return DLOR_OK;
}

void dlor_pb_iter_init(dlor_pb_iter *it, const dlor_pb_field *f, int elem_wt)
{
    it->elem_wt = elem_wt;
    it->single = f->wt != DLOR_PB_LEN;
    it->u = f->u;
    it->p = f->data;
    it->end = f->data ? f->data + f->len : NULL;
}

int dlor_pb_iter_next(dlor_pb_iter *it, uint64_t *v)
{
    if (it->single) {
        if (it->single == 2) return 0;
        it->single = 2;
        *v = it->u;
        return 1;
    }
    if (it->p >= it->end) return 0;
    if (it->elem_wt == DLOR_PB_I32) {
        *v = dlor_load_u32(it->p);
        it->p += 4;
    } else if (it->elem_wt == DLOR_PB_I64) {
        *v = dlor_load_u64(it->p);
        it->p += 8;
    } else if (dlor_pb_varint(&it->p, it->end, v)) {
        it->p = it->end; /* dlor_pb_count rejected this already */
        return 0;
    }
    return 1;
}
