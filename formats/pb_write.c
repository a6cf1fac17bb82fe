/* pb_write.c - protobuf wire-format writer (see dlor_pb_write.h). */
#include <stdlib.h>
#include <string.h>

#include "dlor_pb_write.h"
#include "dlor_protobuf.h"

void dlor_pbw_init(dlor_pbw *w) { memset(w, 0, sizeof *w); }

void dlor_pbw_free(dlor_pbw *w)
{
    free(w->p);
    memset(w, 0, sizeof *w);
}

int dlor_pbw_failed(const dlor_pbw *w) { return w->oom; }

void dlor_pbw_raw(dlor_pbw *w, const void *data, size_t n)
{
    if (w->oom || n == 0) return;
    if (n > SIZE_MAX - w->n) {
        w->oom = 1;
        return;
    }
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->n + n) cap = cap > SIZE_MAX / 2 ? w->n + n : cap * 2;
        unsigned char *p = realloc(w->p, cap);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->n, data, n);
    w->n += n;
}

void dlor_pbw_varint(dlor_pbw *w, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;
    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
    } while (v);
    dlor_pbw_raw(w, b, n);
}

void dlor_pbw_tag(dlor_pbw *w, uint32_t field, int wire_type)
{
    dlor_pbw_varint(w, ((uint64_t)field << 3) | (uint64_t)wire_type);
}

void dlor_pbw_uint(dlor_pbw *w, uint32_t field, uint64_t v)
{
    dlor_pbw_tag(w, field, DLOR_PB_VARINT);
    dlor_pbw_varint(w, v);
}

void dlor_pbw_float(dlor_pbw *w, uint32_t field, float v)
{
    uint32_t u;
    unsigned char b[4];
    memcpy(&u, &v, 4);
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(u >> (8 * i));
    dlor_pbw_tag(w, field, DLOR_PB_I32);
    dlor_pbw_raw(w, b, 4);
}

void dlor_pbw_len(dlor_pbw *w, uint32_t field, const void *data, size_t n)
{
    dlor_pbw_tag(w, field, DLOR_PB_LEN);
    dlor_pbw_varint(w, n);
    dlor_pbw_raw(w, data, n);
}

void dlor_pbw_str(dlor_pbw *w, uint32_t field, const char *s) { dlor_pbw_len(w, field, s, strlen(s)); }

void dlor_pbw_msg(dlor_pbw *w, uint32_t field, const dlor_pbw *sub)
{
    if (sub->oom) w->oom = 1;
    dlor_pbw_len(w, field, sub->p, sub->n);
}
