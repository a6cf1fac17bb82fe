/* safetensors.c - reader for safetensors files (formats.md §1).
 *
 * Layout: u64 LE header length N | N bytes of UTF-8 JSON | data buffer.
 * The header is first checked as a whole (UTF-8, JSON syntax), then read a
 * second time token by token, collecting one record per tensor; the records
 * are then checked together (duplicates, contiguity, file length) before any
 * tensor is added to the output list.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_fileio.h"
#include "dlor_json.h"
#include "dlor_readers.h"

/* Largest integer a double (and so every JSON implementation) holds exactly;
 * the format's own schema is stricter still (2^48-1). */
#define ST_MAX_INT ((1ull << 53) - 1)
/* Not a limit of the format: bounds the memory a hostile header can claim. */
#define ST_MAX_META 65536u

static const struct { const char *name; dlor_dtype dt; } st_dtypes[] = {
    {"F32", DLOR_DT_F32}, {"F64", DLOR_DT_F64}, {"F16", DLOR_DT_F16}, {"BF16", DLOR_DT_BF16},
    {"I8", DLOR_DT_I8}, {"I16", DLOR_DT_I16}, {"I32", DLOR_DT_I32}, {"I64", DLOR_DT_I64},
    {"U8", DLOR_DT_U8}, {"U16", DLOR_DT_U16}, {"U32", DLOR_DT_U32}, {"U64", DLOR_DT_U64},
    {"BOOL", DLOR_DT_BOOL},
};

/* Valid safetensors dtypes that dlor does not handle. */
static const char *const st_unsupported[] = {
    "F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
    "C64",
};

typedef struct st_entry {
    size_t name_off, name_len;  /* into st_ctx.names */
    size_t index;               /* position in the header */
    dlor_dtype dtype;
    const char *dtype_name;     /* the safetensors spelling */
    int ndim;
    uint64_t dims[DLOR_MAX_NDIM];
    uint64_t begin, end;
} st_entry;

typedef struct st_ctx {
    const char *what;
    dlor_json p;
    dlor_tensor_list *out;
    dlor_error *err;
    st_entry *ents;
    size_t count, cap;
    char *names;                /* tensor names, each NUL-terminated */
    size_t names_len, names_cap;
    char *key;                  /* copy of the current metadata key */
    size_t key_cap;
} st_ctx;

/* Copies s[0..n) into buf for a message: control bytes become '?', and long
 * names are cut at a UTF-8 boundary and marked with "...". */
static const char *shown(const char *s, size_t n, char *buf, size_t bufsize)
{
    size_t max = bufsize - 4, k = n < max ? n : max, i;
    if (k < n)
        while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80) k--;
    for (i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (k < n) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = 0;
    return buf;
}

/* Fails with "<what>: tensor '<name>': <message>" (or "<what>: <message>"
 * when name is NULL). */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static dlor_status st_fail(st_ctx *c, dlor_status code, const char *name, size_t name_len,
                           const char *fmt, ...)
{
    char msg[DLOR_ERROR_MSG_MAX], nm[80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (name)
        return dlor_fail(c->err, code, "%s: tensor '%s': %s", c->what,
                         shown(name, name_len, nm, sizeof nm), msg);
    return dlor_fail(c->err, code, "%s: %s", c->what, msg);
}

static const char *ent_name(const st_ctx *c, const st_entry *e) { return c->names + e->name_off; }

static dlor_status next(st_ctx *c, dlor_json_tok *tok)
{
    dlor_status s = dlor_json_next(&c->p, tok, c->err);
    if (s) dlor_error_prefix(c->err, c->what);
    return s;
}

static int grow(void **arr, size_t *cap, size_t need, size_t es)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / es) return -1;
        nc *= 2;
    }
    void *p = realloc(*arr, nc * es);
    if (!p) return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

static dlor_status nomem(st_ctx *c) { return st_fail(c, DLOR_E_NOMEM, NULL, 0, "out of memory"); }

/* Reads one item of 'field' (already read as tok) as an integer in
 * [0, ST_MAX_INT]. */
static dlor_status read_uint(st_ctx *c, const st_entry *e, const char *field, dlor_json_tok tok,
                             uint64_t *v)
{
    const char *nm = ent_name(c, e);
    if (tok != DLOR_JSON_NUMBER)
        return st_fail(c, DLOR_E_FORMAT, nm, e->name_len,
                       "%s item is a JSON %s, expected a non-negative integer", field,
                       dlor_json_tok_kind(tok));
    if (!c->p.num_is_uint || c->p.num_u > ST_MAX_INT) {
        int n = c->p.num_len > 40 ? 40 : (int)c->p.num_len;
        return st_fail(c, DLOR_E_FORMAT, nm, e->name_len,
                       "%s value %.*s%s is not an integer in [0, 2^53-1]", field, n,
                       (const char *)c->p.src + c->p.tok_pos, c->p.num_len > 40 ? "..." : "");
    }
    *v = c->p.num_u;
    return DLOR_OK;
}

static dlor_status read_dtype(st_ctx *c, st_entry *e)
{
    dlor_json_tok tok;
    dlor_status s = next(c, &tok);
    char shown_dt[48];
    const char *nm = ent_name(c, e);
    if (s) return s;
    if (tok != DLOR_JSON_STRING)
        return st_fail(c, DLOR_E_FORMAT, nm, e->name_len, "dtype is a JSON %s, expected a string",
                       dlor_json_tok_kind(tok));
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++) {
        if (strlen(st_dtypes[i].name) == c->p.str_len && strcmp(st_dtypes[i].name, c->p.str) == 0) {
            e->dtype = st_dtypes[i].dt;
            e->dtype_name = st_dtypes[i].name;
            return DLOR_OK;
        }
    }
    shown(c->p.str, c->p.str_len, shown_dt, sizeof shown_dt);
    for (size_t i = 0; i < sizeof st_unsupported / sizeof st_unsupported[0]; i++)
        if (strlen(st_unsupported[i]) == c->p.str_len && strcmp(st_unsupported[i], c->p.str) == 0)
            return st_fail(c, DLOR_E_UNSUPPORTED, nm, e->name_len,
                           "dtype %s is not supported (dlor reads F32 F64 F16 BF16 and "
                           "integer/bool tensors)", shown_dt);
    return st_fail(c, DLOR_E_UNSUPPORTED, nm, e->name_len, "unknown dtype '%s'", shown_dt);
}

static dlor_status read_shape(st_ctx *c, st_entry *e)
{
    dlor_json_tok tok;
    dlor_status s = next(c, &tok);
    const char *nm = ent_name(c, e);
    if (s) return s;
    if (tok != DLOR_JSON_ARR_BEGIN)
        return st_fail(c, DLOR_E_FORMAT, nm, e->name_len, "shape is a JSON %s, expected an array",
                       dlor_json_tok_kind(tok));
    for (;;) {
        if ((s = next(c, &tok))) return s;
        if (tok == DLOR_JSON_ARR_END) return DLOR_OK;
        if (e->ndim == DLOR_MAX_NDIM)
            return st_fail(c, DLOR_E_LIMIT, nm, e->name_len,
                           "shape has more than %d dimensions", DLOR_MAX_NDIM);
        if ((s = read_uint(c, e, "shape", tok, &e->dims[e->ndim]))) return s;
        e->ndim++;
    }
}

static dlor_status read_offsets(st_ctx *c, st_entry *e)
{
    dlor_json_tok tok;
    dlor_status s = next(c, &tok);
    const char *nm = ent_name(c, e);
    uint64_t v[2] = {0, 0};
    size_t n = 0;
    if (s) return s;
    if (tok != DLOR_JSON_ARR_BEGIN)
        return st_fail(c, DLOR_E_FORMAT, nm, e->name_len,
                       "data_offsets is a JSON %s, expected an array", dlor_json_tok_kind(tok));
    for (;;) {
        if ((s = next(c, &tok))) return s;
        if (tok == DLOR_JSON_ARR_END) break;
        if (n < 2) {
            if ((s = read_uint(c, e, "data_offsets", tok, &v[n]))) return s;
        } else if ((s = dlor_json_skip(&c->p, tok, c->err))) {
            dlor_error_prefix(c->err, c->what);
            return s;
        }
        n++;
    }
    if (n != 2)
        return st_fail(c, DLOR_E_FORMAT, nm, e->name_len,
                       "data_offsets has %zu items, expected 2 [begin, end]", n);
    e->begin = v[0];
    e->end = v[1];
    return DLOR_OK;
}

/* Checks a complete entry on its own: offsets order and byte size. */
static dlor_status check_entry(st_ctx *c, const st_entry *e)
{
    const char *nm = ent_name(c, e);
    char shape[200];
    uint64_t nelem, nbytes;
    dlor_shape_str(e->dims, e->ndim, shape, sizeof shape);
    if (e->end < e->begin)
        return st_fail(c, DLOR_E_FORMAT, nm, e->name_len,
                       "data_offsets [%llu, %llu] end before they begin",
                       (unsigned long long)e->begin, (unsigned long long)e->end);
    if (dlor_shape_nelem(e->dims, e->ndim, &nelem))
        return st_fail(c, DLOR_E_FORMAT, nm, e->name_len,
                       "shape %s: element count overflows 64 bits", shape);
    if (dlor_shape_nbytes(e->dims, e->ndim, e->dtype, &nbytes))
        return st_fail(c, DLOR_E_FORMAT, nm, e->name_len,
                       "shape %s with dtype %s: byte size overflows 64 bits", shape,
                       e->dtype_name);
    if (nbytes != e->end - e->begin)
        return st_fail(c, DLOR_E_FORMAT, nm, e->name_len,
                       "shape %s with dtype %s needs %llu bytes, data_offsets span %llu", shape,
                       e->dtype_name, (unsigned long long)nbytes,
                       (unsigned long long)(e->end - e->begin));
    return DLOR_OK;
}

/* Reads the entry of the tensor whose name is the current key. */
static dlor_status read_entry(st_ctx *c)
{
    enum { HAVE_DTYPE = 1, HAVE_SHAPE = 2, HAVE_OFFSETS = 4 };
    static const char *const keys[] = {"dtype", "shape", "data_offsets"};
    dlor_json_tok tok;
    dlor_status s;
    st_entry *e;
    const char *nm = c->p.str;
    size_t nlen = c->p.str_len;
    int have = 0;

    if (nlen == 0) return st_fail(c, DLOR_E_FORMAT, NULL, 0, "empty tensor name");
    if (nlen > DLOR_MAX_NAME)
        return st_fail(c, DLOR_E_LIMIT, nm, nlen, "name of %zu bytes exceeds the %d-byte limit",
                       nlen, DLOR_MAX_NAME);
    if (memchr(nm, 0, nlen)) return st_fail(c, DLOR_E_FORMAT, nm, nlen, "name contains a NUL byte");
    if (c->count >= DLOR_MAX_TENSORS)
        return st_fail(c, DLOR_E_LIMIT, NULL, 0, "more than %u tensors", DLOR_MAX_TENSORS);
    if (grow((void **)&c->ents, &c->cap, c->count + 1, sizeof *c->ents) ||
        grow((void **)&c->names, &c->names_cap, c->names_len + nlen + 1, 1))
        return nomem(c);
    e = &c->ents[c->count];
    memset(e, 0, sizeof *e);
    e->name_off = c->names_len;
    e->name_len = nlen;
    e->index = c->count;
    memcpy(c->names + c->names_len, nm, nlen + 1);
    c->names_len += nlen + 1;
    c->count++;
    nm = ent_name(c, e);

    if ((s = next(c, &tok))) return s;
    if (tok != DLOR_JSON_OBJ_BEGIN)
        return st_fail(c, DLOR_E_FORMAT, nm, nlen, "entry is a JSON %s, expected an object",
                       dlor_json_tok_kind(tok));
    for (;;) {
        int which = -1;
        char kb[48];
        if ((s = next(c, &tok))) return s;
        if (tok == DLOR_JSON_OBJ_END) break;
        for (int i = 0; i < 3; i++)
            if (strlen(keys[i]) == c->p.str_len && strcmp(keys[i], c->p.str) == 0) which = i;
        if (which < 0)
            return st_fail(c, DLOR_E_FORMAT, nm, nlen,
                           "unknown key '%s' (expected dtype, shape, data_offsets)",
                           shown(c->p.str, c->p.str_len, kb, sizeof kb));
        if (have & (1 << which))
            return st_fail(c, DLOR_E_FORMAT, nm, nlen, "duplicate key '%s'", keys[which]);
        have |= 1 << which;
        s = which == 0 ? read_dtype(c, e) : which == 1 ? read_shape(c, e) : read_offsets(c, e);
        if (s) return s;
    }
    for (int i = 0; i < 3; i++)
        if (!(have & (1 << i))) return st_fail(c, DLOR_E_FORMAT, nm, nlen, "missing key '%s'", keys[i]);
    return check_entry(c, e);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads __metadata__ (the current key) into c->out. */
static dlor_status read_metadata(st_ctx *c)
{
    dlor_json_tok tok;
    dlor_status s;
    size_t first = c->out->meta_count;
    char kb[80];
    if ((s = next(c, &tok))) return s;
    if (tok != DLOR_JSON_OBJ_BEGIN)
        return st_fail(c, DLOR_E_FORMAT, NULL, 0,
                       "__metadata__ is a JSON %s, expected an object of strings",
                       dlor_json_tok_kind(tok));
    for (;;) {
        size_t klen;
        if ((s = next(c, &tok))) return s;
        if (tok == DLOR_JSON_OBJ_END) break;
        klen = c->p.str_len;
        if (grow((void **)&c->key, &c->key_cap, klen + 1, 1)) return nomem(c);
        memcpy(c->key, c->p.str, klen + 1);
        shown(c->key, klen, kb, sizeof kb);
        if ((s = next(c, &tok))) return s;
        if (tok != DLOR_JSON_STRING)
            return st_fail(c, DLOR_E_FORMAT, NULL, 0,
                           "__metadata__ value for key '%s' is a JSON %s, expected a string", kb,
                           dlor_json_tok_kind(tok));
        if (memchr(c->key, 0, klen) || memchr(c->p.str, 0, c->p.str_len))
            return st_fail(c, DLOR_E_FORMAT, NULL, 0,
                           "__metadata__ key or value for key '%s' contains a NUL byte", kb);
        if (c->out->meta_count - first >= ST_MAX_META)
            return st_fail(c, DLOR_E_LIMIT, NULL, 0, "__metadata__ has more than %u entries",
                           ST_MAX_META);
        if ((s = dlor_tensor_list_add_meta(c->out, c->key, c->p.str, c->err))) return nomem(c);
    }
    size_t n = c->out->meta_count - first;
    if (n < 2) return DLOR_OK;
    char **keys = malloc(n * sizeof *keys);
    if (!keys) return nomem(c);
    memcpy(keys, c->out->meta_keys + first, n * sizeof *keys);
    qsort(keys, n, sizeof *keys, cmp_cstr);
    s = DLOR_OK;
    for (size_t i = 1; i < n && !s; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            s = st_fail(c, DLOR_E_FORMAT, NULL, 0, "duplicate __metadata__ key '%s'",
                        shown(keys[i], strlen(keys[i]), kb, sizeof kb));
    free(keys);
    return s;
}

static dlor_status read_header(st_ctx *c)
{
    dlor_json_tok tok;
    dlor_status s;
    int seen_meta = 0;
    if ((s = next(c, &tok))) return s;
    if (tok != DLOR_JSON_OBJ_BEGIN)
        return st_fail(c, DLOR_E_FORMAT, NULL, 0, "header is a JSON %s, expected an object",
                       dlor_json_tok_kind(tok));
    for (;;) {
        if ((s = next(c, &tok))) return s;
        if (tok == DLOR_JSON_OBJ_END) break;
        if (c->p.str_len == 12 && memcmp(c->p.str, "__metadata__", 12) == 0) {
            if (seen_meta) return st_fail(c, DLOR_E_FORMAT, NULL, 0, "duplicate __metadata__");
            seen_meta = 1;
            s = read_metadata(c);
        } else {
            s = read_entry(c);
        }
        if (s) return s;
    }
    return next(c, &tok);
}

typedef struct { const char *name; size_t len; } st_name;

static int cmp_name(const void *a, const void *b)
{
    const st_name *x = a, *y = b;
    int r = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
    if (r) return r;
    return (x->len > y->len) - (x->len < y->len);
}

static dlor_status check_unique(st_ctx *c)
{
    dlor_status s = DLOR_OK;
    if (c->count < 2) return DLOR_OK;
    st_name *v = malloc(c->count * sizeof *v);
    if (!v) return nomem(c);
    for (size_t i = 0; i < c->count; i++) {
        v[i].name = ent_name(c, &c->ents[i]);
        v[i].len = c->ents[i].name_len;
    }
    qsort(v, c->count, sizeof *v, cmp_name);
    for (size_t i = 1; i < c->count && !s; i++)
        if (cmp_name(&v[i - 1], &v[i]) == 0)
            s = st_fail(c, DLOR_E_FORMAT, v[i].name, v[i].len,
                        "duplicate tensor name (the header lists it twice)");
    free(v);
    return s;
}

static int cmp_offsets(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Sorts the entries by data_offsets, checks that they tile the data buffer
 * exactly, and adds them to the list in that order. */
static dlor_status layout(st_ctx *c, const unsigned char *data, size_t data_len)
{
    dlor_status s = DLOR_OK;
    uint64_t pos = 0;
    st_entry **v = NULL;
    if (c->count) {
        v = malloc(c->count * sizeof *v);
        if (!v) return nomem(c);
    }
    for (size_t i = 0; i < c->count; i++) v[i] = &c->ents[i];
    if (c->count) qsort(v, c->count, sizeof *v, cmp_offsets);
    for (size_t i = 0; i < c->count && !s; i++) {
        const st_entry *e = v[i];
        unsigned long long b = e->begin, en = e->end;
        if (e->begin == pos) {
            pos = e->end;
        } else if (i == 0) {
            s = st_fail(c, DLOR_E_FORMAT, ent_name(c, e), e->name_len,
                        "data_offsets [%llu, %llu]: the first tensor must begin at 0", b, en);
        } else if (e->begin > pos) {
            s = st_fail(c, DLOR_E_FORMAT, ent_name(c, e), e->name_len,
                        "data_offsets [%llu, %llu] leave a gap of %llu bytes after tensor "
                        "'%s', which ends at %llu", b, en, b - (unsigned long long)pos,
                        ent_name(c, v[i - 1]), (unsigned long long)pos);
        } else {
            s = st_fail(c, DLOR_E_FORMAT, ent_name(c, e), e->name_len,
                        "data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]", b, en,
                        ent_name(c, v[i - 1]), (unsigned long long)v[i - 1]->begin,
                        (unsigned long long)v[i - 1]->end);
        }
    }
    if (!s && pos > data_len)
        s = st_fail(c, DLOR_E_FORMAT, NULL, 0,
                    "tensors need %llu data bytes but the file holds %zu (truncated?)",
                    (unsigned long long)pos, data_len);
    else if (!s && pos < data_len)
        s = st_fail(c, DLOR_E_FORMAT, NULL, 0, "%llu trailing bytes after the last tensor's data",
                    (unsigned long long)(data_len - pos));
    for (size_t i = 0; i < c->count && !s; i++) {
        const st_entry *e = v[i];
        s = dlor_tensor_list_add(c->out, c->what, ent_name(c, e), e->name_len, e->dtype, e->ndim,
                                 e->dims, data + e->begin, (size_t)(e->end - e->begin), c->err);
    }
    free(v);
    return s;
}

dlor_status dlor_safetensors_parse(const unsigned char *buf, size_t len, const char *what,
                                   dlor_tensor_list *out, dlor_error *err)
{
    st_ctx c;
    dlor_status s;
    uint64_t n;
    size_t bad, hlen = 0;
    const unsigned char *hdr = NULL;
    memset(&c, 0, sizeof c);
    c.what = what;
    c.out = out;
    c.err = err;

    if (len < 8) {
        s = st_fail(&c, DLOR_E_FORMAT, NULL, 0,
                    "file is %zu bytes, too short for the 8-byte header length", len);
        goto done;
    }
    n = dlor_load_u64(buf);
    if (n > DLOR_SAFETENSORS_MAX_HEADER) {
        s = st_fail(&c, DLOR_E_LIMIT, NULL, 0, "header length %llu exceeds the %llu-byte limit",
                    (unsigned long long)n, DLOR_SAFETENSORS_MAX_HEADER);
        goto done;
    }
    if (n > len - 8) {
        s = st_fail(&c, DLOR_E_FORMAT, NULL, 0,
                    "header length %llu exceeds the %zu bytes after the length field",
                    (unsigned long long)n, len - 8);
        goto done;
    }
    hdr = buf + 8;
    hlen = (size_t)n;
    if (!dlor_json_utf8_valid(hdr, hlen, &bad)) {
        s = st_fail(&c, DLOR_E_FORMAT, NULL, 0,
                    "header is not valid UTF-8 (byte 0x%02x at header byte %zu)", hdr[bad], bad);
        goto done;
    }
    /* a full syntax pass first, so malformed JSON is reported as such even
     * when an earlier entry would also be refused */
    if ((s = dlor_json_validate(hdr, hlen, err))) {
        dlor_error_prefix(err, "header");
        dlor_error_prefix(err, what);
        goto done;
    }
    dlor_json_init(&c.p, hdr, hlen);
    if (!(s = read_header(&c)) && !(s = check_unique(&c)))
        s = layout(&c, hdr + hlen, len - 8 - hlen);
done:
    dlor_json_free(&c.p);
    free(c.ents);
    free(c.names);
    free(c.key);
    if (s) dlor_tensor_list_free(out);
    return s;
}

dlor_status dlor_read_safetensors(const char *path, dlor_tensor_list *out, dlor_error *err)
{
    /* mapped, not read: a conversion then holds in memory only the pages of
     * the layers it is reading (dlor_tensor_release drops the others) */
    dlor_mapped_file m;
    dlor_status s = dlor_file_map(path, DLOR_MAX_INPUT_BYTES, &m, err);
    if (s) return s;
    /* the list owns the mapping from here on, so freeing it on failure unmaps it */
    if (m.base && (s = dlor_tensor_list_own_map(out, m.base, m.len, err))) {
        dlor_error_prefix(err, path);
        return s;
    }
    return dlor_safetensors_parse(m.data, m.len, path, out, err);
}
