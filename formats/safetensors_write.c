/* safetensors_write.c - safetensors writer: u64 header length, JSON header, data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_fileio.h"
#include "dlor_safetensors.h"

typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->failed) return;
    if (t->len + n + 1 > t->cap) {
        size_t nc = t->cap ? t->cap : 1024;
        while (nc < t->len + n + 1) nc *= 2;
        char *q = realloc(t->p, nc);
        if (!q) {
            t->failed = 1;
            return;
        }
        t->p = q;
        t->cap = nc;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

static void put_json_str(text *t, const char *s)
{
    put(t, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char buf[8];
        if (*p == '"' || *p == '\\') {
            buf[0] = '\\';
            buf[1] = (char)*p;
            put(t, buf, 2);
        } else if (*p < 0x20) {
            snprintf(buf, sizeof buf, "\\u%04x", *p);
            put(t, buf, 6);
        } else {
            put(t, (const char *)p, 1);
        }
    }
    put(t, "\"", 1);
}

static const char *st_dtype(dlor_dtype dt)
{
    static const char *const names[] = {"", "F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64",
                                        "U8", "U16", "U32", "U64", "BOOL"};
    return (dt >= 1 && dt <= 13) ? names[dt] : NULL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const dlor_tensor *const *)a)->name, (*(const dlor_tensor *const *)b)->name);
}

dlor_status dlor_safetensors_write(const char *path, const dlor_tensor_list *l, dlor_error *err)
{
    const dlor_tensor **v = malloc((l->count ? l->count : 1) * sizeof *v);
    text h = {NULL, 0, 0, 0};
    dlor_status st = DLOR_OK;
    if (!v) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < l->count; i++) v[i] = &l->items[i];
    qsort(v, l->count, sizeof *v, by_name);
    puts_(&h, "{");
    int first = 1;
    if (l->meta_count) {
        puts_(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < l->meta_count; i++) {
            if (i) puts_(&h, ",");
            put_json_str(&h, l->meta_keys[i]);
            puts_(&h, ":");
            put_json_str(&h, l->meta_vals[i]);
        }
        puts_(&h, "}");
        first = 0;
    }
    unsigned long long off = 0;
    for (size_t i = 0; i < l->count; i++) {
        const dlor_tensor *t = v[i];
        const char *dt = st_dtype(t->dtype);
        char num[64];
        if (!dt || strcmp(t->name, "__metadata__") == 0) {
            st = dlor_fail(err, DLOR_E_ARG, "%s: tensor '%s' cannot be written to safetensors", path, t->name);
            break;
        }
        if (!first) puts_(&h, ",");
        first = 0;
        put_json_str(&h, t->name);
        puts_(&h, ":{\"dtype\":\"");
        puts_(&h, dt);
        puts_(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%llu", d ? "," : "", (unsigned long long)t->dims[d]);
            puts_(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", off, off + (unsigned long long)t->nbytes);
        puts_(&h, num);
        off += t->nbytes;
    }
    puts_(&h, "}");
    while (!h.failed && h.len % 8) puts_(&h, " "); /* data starts 8-byte aligned */
    if (st == DLOR_OK && h.failed) st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
    if (st == DLOR_OK) {
        dlor_atomic_file af;
        unsigned char n8[8];
        dlor_store_u64(n8, h.len);
        st = dlor_atomic_open(&af, path, err);
        if (st == DLOR_OK) st = dlor_atomic_write(&af, n8, 8, err);
        if (st == DLOR_OK) st = dlor_atomic_write(&af, h.p, h.len, err);
        for (size_t i = 0; i < l->count && st == DLOR_OK; i++) st = dlor_atomic_write(&af, v[i]->data, v[i]->nbytes, err);
        if (st == DLOR_OK) st = dlor_atomic_commit(&af, err);
        else dlor_atomic_abort(&af);
    }
    free(h.p);
    free(v);
    return st;
}
