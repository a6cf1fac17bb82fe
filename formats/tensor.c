/* tensor.c - the neutral tensor list, dtype helpers and error records. */
#define _DEFAULT_SOURCE /* madvise */
#include "dlor_tensor.h"
#include "dlor_image_internal.h"
#include "dlor_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- errors ------------------------------------------------------------ */

const char *dlor_status_str(dlor_status s)
{
    switch (s) {
    case DLOR_OK: return "ok";
    case DLOR_E_IO: return "i/o error";
    case DLOR_E_FORMAT: return "malformed input";
    case DLOR_E_UNSUPPORTED: return "unsupported input";
    case DLOR_E_NOMEM: return "out of memory";
    case DLOR_E_LIMIT: return "size limit exceeded";
    case DLOR_E_ARG: return "invalid argument";
    case DLOR_E_NUMERIC: return "numerical failure";
    case DLOR_E_NOGRAPH: return "no runnable graph";
    case DLOR_E_SCRATCH: return "scratch buffer too small";
    case DLOR_E_PLAN: return "graph needs a plan buffer";
    case DLOR_E_INPUT: return "bad model inputs";
    case DLOR_E_STOPPED: return "stopped";
    case DLOR_E_USAGE: return "usage error";
    }
    return "unknown status";
}

dlor_status dlor_fail(dlor_error *err, dlor_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        dlor_one_line(err->msg); /* messages quote the input */
        err->code = code;
    }
    return code;
}

void dlor_error_prefix(dlor_error *err, const char *prefix)
{
    if (!err || !prefix) return;
    size_t pl = strlen(prefix), ml = strlen(err->msg);
    if (pl + 2 >= sizeof err->msg) return;
    if (pl + 2 + ml >= sizeof err->msg) ml = sizeof err->msg - pl - 3;
    memmove(err->msg + pl + 2, err->msg, ml);
    err->msg[pl + 2 + ml] = 0;
    memcpy(err->msg, prefix, pl);
    err->msg[pl] = ':';
    err->msg[pl + 1] = ' ';
    dlor_one_line(err->msg);
}

/* ---- dtypes ------------------------------------------------------------ */

size_t dlor_dtype_size(dlor_dtype dt)
{
    switch (dt) {
    case DLOR_DT_F64: case DLOR_DT_I64: case DLOR_DT_U64: return 8;
    case DLOR_DT_F32: case DLOR_DT_I32: case DLOR_DT_U32: return 4;
    case DLOR_DT_F16: case DLOR_DT_BF16: case DLOR_DT_I16: case DLOR_DT_U16: return 2;
    case DLOR_DT_I8: case DLOR_DT_U8: case DLOR_DT_BOOL: return 1;
    case DLOR_DT_Q8: case DLOR_DT_Q4: break; /* blocks, not elements: dlor_shape_nbytes */
    case DLOR_DT_INVALID: break;
    }
    return 0;
}

static const struct { dlor_dtype dt; const char *name; } dtype_names[] = {
    {DLOR_DT_F32, "f32"}, {DLOR_DT_F16, "f16"}, {DLOR_DT_BF16, "bf16"}, {DLOR_DT_F64, "f64"},
    {DLOR_DT_I8, "i8"}, {DLOR_DT_I16, "i16"}, {DLOR_DT_I32, "i32"}, {DLOR_DT_I64, "i64"},
    {DLOR_DT_U8, "u8"}, {DLOR_DT_U16, "u16"}, {DLOR_DT_U32, "u32"}, {DLOR_DT_U64, "u64"},
    {DLOR_DT_BOOL, "bool"}, {DLOR_DT_Q8, "q8"}, {DLOR_DT_Q4, "q4"},
};

const char *dlor_dtype_name(dlor_dtype dt)
{
    for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0]; i++)
        if (dtype_names[i].dt == dt) return dtype_names[i].name;
    return "invalid";
}

dlor_dtype dlor_dtype_from_name(const char *name)
{
    static const struct { const char *alias; dlor_dtype dt; } aliases[] = {
        {"float32", DLOR_DT_F32}, {"float16", DLOR_DT_F16}, {"half", DLOR_DT_F16},
        {"bfloat16", DLOR_DT_BF16}, {"float64", DLOR_DT_F64}, {"double", DLOR_DT_F64},
    };
    char low[16];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof low) return DLOR_DT_INVALID;
    for (size_t i = 0; i <= n; i++) {
        char c = name[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0]; i++)
        if (strcmp(dtype_names[i].name, low) == 0) return dtype_names[i].dt;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(aliases[i].alias, low) == 0) return aliases[i].dt;
    return DLOR_DT_INVALID;
}

int dlor_dtype_is_float(dlor_dtype dt)
{
    return dt == DLOR_DT_F32 || dt == DLOR_DT_F64 || dt == DLOR_DT_F16 || dt == DLOR_DT_BF16;
}

int dlor_dtype_is_quant(dlor_dtype dt) { return dt == DLOR_DT_Q8 || dt == DLOR_DT_Q4; }
int dlor_dtype_is_weight(dlor_dtype dt) { return dlor_dtype_is_float(dt) || dlor_dtype_is_quant(dt); }

/* ---- half precision -------------------------------------------------------
 * IEEE binary16: 1 sign, 5 exponent (bias 15), 10 fraction bits.
 * bfloat16: the top 16 bits of a binary32. */

float dlor_f16_to_f32(uint16_t h) { return dlor__half_to_float(h); }

uint16_t dlor_f32_to_f16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t exp = (bits >> 23) & 0xff, frac = bits & 0x7fffffu;
    if (exp == 0xff) /* inf / NaN (keep a quiet NaN bit) */
        return (uint16_t)(sign | 0x7c00u | (frac ? 0x200u | (frac >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u); /* overflow to inf */
    if (e <= 0) {
        /* subnormal in f16 (or zero): shift the full significand */
        if (e < -10) return sign;
        uint32_t m = frac | 0x800000u;
        int shift = 14 - e;             /* 13 + (1 - e) */
        uint32_t half = 1u << (shift - 1);
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((uint32_t)e << 10) | (frac >> 13), rem = frac & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) r++; /* may carry into exp: correct */
    return (uint16_t)(sign | r);
}

float dlor_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t dlor_f32_to_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40u); /* NaN */
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

double dlor_round_to_dtype(double x, dlor_dtype dt)
{
    switch (dt) {
    case DLOR_DT_F32: return (double)(float)x;
    case DLOR_DT_F16: return (double)dlor_f16_to_f32(dlor_f32_to_f16((float)x));
    case DLOR_DT_BF16: return (double)dlor_bf16_to_f32(dlor_f32_to_bf16((float)x));
    default: return x;
    }
}

/* ---- little-endian access ---------------------------------------------- */

uint16_t dlor_load_u16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
uint32_t dlor_load_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
uint64_t dlor_load_u64(const unsigned char *p)
{
    return (uint64_t)dlor_load_u32(p) | ((uint64_t)dlor_load_u32(p + 4) << 32);
}
void dlor_store_u16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
void dlor_store_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
void dlor_store_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* ---- shapes ------------------------------------------------------------ */

int dlor_shape_nelem(const uint64_t *dims, int ndim, uint64_t *nelem)
{
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] != 0 && n > UINT64_MAX / dims[i]) return -1;
        n *= dims[i];
    }
    *nelem = n;
    return 0;
}

int dlor_shape_nbytes(const uint64_t *dims, int ndim, dlor_dtype dt, uint64_t *nbytes)
{
    uint64_t n, es = dlor_dtype_size(dt);
    if (dlor_dtype_is_quant(dt)) { /* 2-D only; padded to whole blocks of the last dimension */
        if (ndim != 2 || dlor_shape_nelem(dims, ndim, &n) != 0) return -1;
        *nbytes = n ? dlor_image_qbytes((int)dt, dims[0], dims[1]) : 0;
        return n && !*nbytes ? -1 : 0;
    }
    if (es == 0 || dlor_shape_nelem(dims, ndim, &n) != 0) return -1;
    if (n > UINT64_MAX / es) return -1;
    *nbytes = n * es;
    return 0;
}

const char *dlor_shape_str(const uint64_t *dims, int ndim, char *buf, size_t bufsize)
{
    size_t pos = 0;
    if (bufsize == 0) return buf;
    buf[0] = 0;
    pos += (size_t)snprintf(buf, bufsize, "[");
    for (int i = 0; i < ndim && pos < bufsize; i++)
        pos += (size_t)snprintf(buf + pos, bufsize - pos, "%s%llu", i ? ", " : "",
                                (unsigned long long)dims[i]);
    if (pos < bufsize) snprintf(buf + pos, bufsize - pos, "]");
    return buf;
}

/* ---- conversions ------------------------------------------------------- */

dlor_status dlor_tensor_to_f64(const dlor_tensor *t, double *out, dlor_error *err)
{
    const unsigned char *p = t->data;
    uint64_t n = t->nelem;
    switch (t->dtype) {
    case DLOR_DT_F64:
        for (uint64_t i = 0; i < n; i++) {
            uint64_t b = dlor_load_u64(p + 8 * i);
            memcpy(&out[i], &b, 8);
        }
        return DLOR_OK;
    case DLOR_DT_F32:
        for (uint64_t i = 0; i < n; i++) {
            uint32_t b = dlor_load_u32(p + 4 * i);
            float f;
            memcpy(&f, &b, 4);
            out[i] = f;
        }
        return DLOR_OK;
    case DLOR_DT_F16:
        for (uint64_t i = 0; i < n; i++) out[i] = dlor_f16_to_f32(dlor_load_u16(p + 2 * i));
        return DLOR_OK;
    case DLOR_DT_BF16:
        for (uint64_t i = 0; i < n; i++) out[i] = dlor_bf16_to_f32(dlor_load_u16(p + 2 * i));
        return DLOR_OK;
    case DLOR_DT_Q8:
    case DLOR_DT_Q4: {
        if (t->ndim != 2) break;
        uint64_t rows = t->dims[0], cols = t->dims[1], nb = (cols + 31) / 32;
        unsigned vb = dlor_image_qblock_bytes((int)t->dtype);
        const unsigned char *sc = p + rows * nb * vb;
        for (uint64_t r = 0; r < rows; r++)
            for (uint64_t c = 0; c < cols; c++) {
                uint64_t b = r * nb + c / 32;
                unsigned j = (unsigned)(c % 32);
                int q;
                if (vb == 32) {
                    q = (int)p[b * 32 + j] - (p[b * 32 + j] >= 128 ? 256 : 0);
                } else {
                    unsigned nib = j < 16 ? p[b * 16 + j] & 15u : p[b * 16 + j - 16] >> 4;
                    q = (int)(nib ^ 8u) - 8;
                }
                out[r * cols + c] = (double)dlor_f16_to_f32(dlor_load_u16(sc + 2 * b)) * q;
            }
        return DLOR_OK;
    }
    default:
        break;
    }
    return dlor_fail(err, DLOR_E_UNSUPPORTED, "tensor '%s': dtype %s is not a float type",
                     t->name, dlor_dtype_name(t->dtype));
}


void dlor_encode_f64(const double *x, size_t n, dlor_dtype dt, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        switch (dt) {
        case DLOR_DT_F64: {
            uint64_t b;
            memcpy(&b, &x[i], 8);
            dlor_store_u64(out + 8 * i, b);
            break;
        }
        case DLOR_DT_F32: {
            float f = (float)x[i];
            uint32_t b;
            memcpy(&b, &f, 4);
            dlor_store_u32(out + 4 * i, b);
            break;
        }
        case DLOR_DT_F16: dlor_store_u16(out + 2 * i, dlor_f32_to_f16((float)x[i])); break;
        case DLOR_DT_BF16: dlor_store_u16(out + 2 * i, dlor_f32_to_bf16((float)x[i])); break;
        default: break;
        }
    }
}

/* The f16 scale of a block whose largest magnitude is a, for values up to
 * qmax: a / qmax in binary64, rounded to binary32, then to binary16 (both to
 * nearest, ties to even). */
static uint16_t quant_scale(double a, int qmax) { return dlor_f32_to_f16((float)(a / qmax)); }

dlor_status dlor_encode_matrix(const double *x, uint64_t rows, uint64_t cols, dlor_dtype dt, unsigned char *out,
                               const char *name, dlor_error *err)
{
    if (!dlor_dtype_is_quant(dt)) {
        dlor_encode_f64(x, (size_t)(rows * cols), dt, out);
        return DLOR_OK;
    }
    uint64_t nb = (cols + 31) / 32;
    unsigned vb = dlor_image_qblock_bytes((int)dt);
    int qmax = dt == DLOR_DT_Q8 ? 127 : 7;
    unsigned char *sc = out + rows * nb * vb;
    memset(out, 0, (size_t)(rows * nb * vb));
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t b = 0; b < nb; b++) {
            const double *v = x + r * cols + 32 * b;
            uint64_t w = cols - 32 * b < 32 ? cols - 32 * b : 32;
            double a = 0;
            for (uint64_t j = 0; j < w; j++) {
                if (!isfinite(v[j]))
                    return dlor_fail(err, DLOR_E_ARG, "tensor '%s': element [%llu, %llu] is %g; %s stores finite values only",
                                     name, (unsigned long long)r, (unsigned long long)(32 * b + j), v[j],
                                     dlor_dtype_name(dt));
                a = fabs(v[j]) > a ? fabs(v[j]) : a;
            }
            uint16_t h = quant_scale(a, qmax);
            if ((h & 0x7c00u) == 0x7c00u)
                return dlor_fail(err, DLOR_E_ARG, "tensor '%s': row %llu holds %g, too large for an f16 %s scale "
                                 "(largest magnitude %g)", name, (unsigned long long)r, a, dlor_dtype_name(dt),
                                 65504.0 * qmax);
            dlor_store_u16(sc + 2 * (r * nb + b), h);
            double s = (double)dlor_f16_to_f32(h);
            unsigned char *o = out + (r * nb + b) * vb;
            for (uint64_t j = 0; j < w && s > 0; j++) {
                double q = nearbyint(v[j] / s); /* the default rounding: to nearest, ties to even */
                q = q > qmax ? qmax : q < -qmax ? -qmax : q;
                int qi = (int)q;
                if (vb == 32) o[j] = (unsigned char)(qi & 0xff);
                else if (j < 16) o[j] |= (unsigned char)(qi & 15);
                else o[j - 16] |= (unsigned char)((qi & 15) << 4);
            }
        }
    return DLOR_OK;
}

/* ---- the list ---------------------------------------------------------- */

void dlor_tensor_list_init(dlor_tensor_list *l) { memset(l, 0, sizeof *l); }

dlor_status dlor_tensor_list_own_map(dlor_tensor_list *l, void *base, size_t len, dlor_error *err)
{
    void **m = realloc(l->maps, (l->nmaps + 1) * sizeof *m);
    if (m) l->maps = m;
    size_t *n = m ? realloc(l->map_lens, (l->nmaps + 1) * sizeof *n) : NULL;
    if (n) l->map_lens = n;
    if (!m || !n) {
        munmap(base, len);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    l->maps[l->nmaps] = base;
    l->map_lens[l->nmaps++] = len;
    return DLOR_OK;
}

void dlor_tensor_release(const dlor_tensor_list *l, const dlor_tensor *t)
{
    long page = sysconf(_SC_PAGESIZE);
    if (!l || !t || !t->nbytes || page <= 0) return;
    uintptr_t a = (uintptr_t)t->data, b = a + t->nbytes;
    for (size_t i = 0; i < l->nmaps; i++) {
        uintptr_t lo = (uintptr_t)l->maps[i], hi = lo + l->map_lens[i];
        if (a < lo || b > hi) continue;
        /* whole pages, rounded outward: a read-only private mapping's pages
         * always load again from the file, so a neighbour's bytes are safe */
        uintptr_t p0 = a / (uintptr_t)page * (uintptr_t)page, p1 = (b + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
        if (p0 < lo) p0 = lo;
        if (p1 > hi) p1 = hi;
        madvise((void *)p0, p1 - p0, MADV_DONTNEED);
        return;
    }
}

void dlor_tensor_list_free(dlor_tensor_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->count; i++) free(l->items[i].name);
    for (size_t i = 0; i < l->meta_count; i++) {
        free(l->meta_keys[i]);
        free(l->meta_vals[i]);
    }
    for (size_t i = 0; i < l->nblocks; i++) free(l->blocks[i]);
    for (size_t i = 0; i < l->nmaps; i++) munmap(l->maps[i], l->map_lens[i]);
    free(l->maps);
    free(l->map_lens);
    free(l->items);
    free(l->meta_keys);
    free(l->meta_vals);
    free(l->blocks);
    memset(l, 0, sizeof *l);
}

/* Grows *arr (of elem-size es) to hold at least need entries. */
static int grow(void **arr, size_t *cap, size_t need, size_t es)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need) nc *= 2;
    if (nc > SIZE_MAX / es) return -1;
    void *p = realloc(*arr, nc * es);
    if (!p) return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

dlor_status dlor_tensor_list_own(dlor_tensor_list *l, void *block, dlor_error *err)
{
    if (grow((void **)&l->blocks, &l->blocks_cap, l->nblocks + 1, sizeof(void *))) {
        free(block);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    l->blocks[l->nblocks++] = block;
    return DLOR_OK;
}

dlor_status dlor_tensor_list_add(dlor_tensor_list *l, const char *what, const char *name,
                                 size_t name_len, dlor_dtype dt, int ndim,
                                 const uint64_t *dims, const unsigned char *data,
                                 size_t nbytes, dlor_error *err)
{
    uint64_t need, nelem;
    if (name_len == 0)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: empty tensor name", what);
    if (name_len > DLOR_MAX_NAME)
        return dlor_fail(err, DLOR_E_LIMIT, "%s: tensor name of %zu bytes exceeds the %d-byte limit",
                         what, name_len, DLOR_MAX_NAME);
    if (memchr(name, 0, name_len))
        return dlor_fail(err, DLOR_E_FORMAT, "%s: tensor name contains a NUL byte", what);
    if (l->count >= DLOR_MAX_TENSORS)
        return dlor_fail(err, DLOR_E_LIMIT, "%s: more than %u tensors", what, DLOR_MAX_TENSORS);
    if (ndim < 0 || ndim > DLOR_MAX_NDIM)
        return dlor_fail(err, DLOR_E_LIMIT, "%s: tensor '%.*s' has %d dimensions (limit %d)", what,
                         (int)name_len, name, ndim, DLOR_MAX_NDIM);
    if (dlor_shape_nbytes(dims, ndim, dt, &need) != 0 || dlor_shape_nelem(dims, ndim, &nelem) != 0)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: tensor '%.*s': shape size overflows", what,
                         (int)name_len, name);
    if (need != nbytes)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: tensor '%.*s': shape needs %llu bytes, got %zu",
                         what, (int)name_len, name, (unsigned long long)need, nbytes);
    if (grow((void **)&l->items, &l->cap, l->count + 1, sizeof(dlor_tensor)))
        return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
    char *nm = malloc(name_len + 1);
    if (!nm) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
    memcpy(nm, name, name_len);
    nm[name_len] = 0;
    dlor_tensor *t = &l->items[l->count++];
    memset(t, 0, sizeof *t);
    t->name = nm;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    t->nelem = nelem;
    t->nbytes = nbytes;
    t->data = data;
    return DLOR_OK;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

dlor_status dlor_tensor_list_add_meta(dlor_tensor_list *l, const char *key, const char *val,
                                      dlor_error *err)
{
    size_t cap_k = l->meta_cap, cap_v = l->meta_cap;
    if (grow((void **)&l->meta_keys, &cap_k, l->meta_count + 1, sizeof(char *)) ||
        grow((void **)&l->meta_vals, &cap_v, l->meta_count + 1, sizeof(char *)))
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    l->meta_cap = cap_k < cap_v ? cap_k : cap_v;
    char *k = dup_str(key), *v = dup_str(val);
    if (!k || !v) {
        free(k);
        free(v);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    l->meta_keys[l->meta_count] = k;
    l->meta_vals[l->meta_count] = v;
    l->meta_count++;
    return DLOR_OK;
}

static int cmp_name_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

dlor_status dlor_tensor_list_check_unique(const dlor_tensor_list *l, const char *what,
                                          dlor_error *err)
{
    if (l->count < 2) return DLOR_OK;
    char **names = malloc(l->count * sizeof *names);
    if (!names) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
    for (size_t i = 0; i < l->count; i++) names[i] = l->items[i].name;
    qsort(names, l->count, sizeof *names, cmp_name_ptr);
    for (size_t i = 1; i < l->count; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            dlor_status s = dlor_fail(err, DLOR_E_FORMAT, "%s: duplicate tensor name '%s'", what,
                                      names[i]);
            free(names);
            return s;
        }
    }
    free(names);
    return DLOR_OK;
}

const dlor_tensor *dlor_tensor_list_find(const dlor_tensor_list *l, const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i].name, name) == 0) return &l->items[i];
    return NULL;
}

const char *dlor_tensor_list_meta(const dlor_tensor_list *l, const char *key)
{
    for (size_t i = 0; i < l->meta_count; i++)
        if (strcmp(l->meta_keys[i], key) == 0) return l->meta_vals[i];
    return NULL;
}

int dlor_name_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *q = list; q && *q;) {
        size_t len = strcspn(q, ",");
        if (len == n && memcmp(q, name, n) == 0) return 1;
        q += len + (q[len] == ',');
    }
    return 0;
}
