/* dlor_image.c - validation and zero-copy access for .dlor images.
 * Every rule here is numbered in DLOR_FORMAT.md section 9. */
#include "dlor_image.h"

#include <stdarg.h>
#include <string.h>

#include "dlor_crc32.h"
#include "dlor_image_internal.h"
#include "dlor_text.h"

#define ld16 dlor__ld16
#define ld32 dlor__ld32
#define ld64 dlor__ld64

/* Tests of a double on its bits (dlor_image_internal.h), so that validating an
 * image links no double-precision arithmetic. */
#define finite_d dlor__finite_d
#define nonzero_d dlor__nonzero_d

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

#ifndef DLOR_RT_NO_MESSAGES
/* ---- messages ------------------------------------------------------------------
 * Formatted here rather than by vsnprintf: newlib-nano, the usual C library of
 * microcontrollers, has no %llu or %zu and misreads every argument after one
 * (measured on Cortex-M3: a %s after a %llu would take a number for a pointer),
 * and without vsnprintf the runtime links no printf family at all. This knows
 * the conversions the messages use: %s and %.*s, %c, %d, %u and %x with an
 * optional zero-padded width, the l, ll and z length modifiers, %g (six
 * significant digits, as C's %g prints them) and %%. */
typedef struct {
    char *p;
    size_t left; /* room, the terminating NUL included */
} msg_out;

static void out_c(msg_out *o, char c)
{
    if (o->left > 1) {
        *o->p++ = c;
        o->left--;
    }
}

static void out_s(msg_out *o, const char *s, size_t max)
{
    for (size_t i = 0; i < max && s[i]; i++) out_c(o, s[i]);
}

/* v in base 10 or 16, after a '-' when neg, padded to width */
static void out_u(msg_out *o, uint64_t v, int neg, unsigned base, int width, char pad)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg) {
        if (pad == '0') out_c(o, '-');
        else d[n++] = '-';
    }
    for (width -= neg && pad == '0'; width > n; width--) out_c(o, pad);
    while (n) out_c(o, d[--n]);
}

/* v = m 2^e2 with m kept in [2^59, 2^60), so that m * 10 and m * 16 fit in 64 bits */
static void norm60(uint64_t *m, int *e2)
{
    while (*m < (1ull << 59)) *m <<= 1, (*e2)--;
    while (*m >= (1ull << 60)) *m >>= 1, (*e2)++;
}

/* %g of a double in integer arithmetic (no double operations linked): scale by
 * tens until six digits are left of the binary point, then round to nearest
 * even. Each step truncates at most 2^-59 of the value, so the digits are C's
 * unless the value lies within ~1e-15 (relative) of a rounding tie. */
static void out_g(msg_out *o, double v)
{
    uint64_t b, m;
    memcpy(&b, &v, 8);
    int e = (int)((b >> 52) & 0x7ff), e2, k = 0;
    m = b & 0xfffffffffffffull;
    if (b >> 63) out_c(o, '-');
    if (e == 0x7ff) {
        out_s(o, m ? "nan" : "inf", 3);
        return;
    }
    if (e == 0 && m == 0) {
        out_c(o, '0');
        return;
    }
    if (e) m |= 1ull << 52;
    else e = 1;
    e2 = e - 1075;
    norm60(&m, &e2);
    uint64_t ip;
    for (;;) { /* v 10^k = m 2^e2; ip its integer part */
        ip = e2 >= 0 ? UINT64_MAX : e2 <= -64 ? 0 : m >> -e2;
        if (ip >= 1000000) {
            m = (m << 4) / 10, e2 -= 4, k--;
        } else if (ip < 100000) {
            m *= 10, k++;
        } else {
            break;
        }
        norm60(&m, &e2);
    }
    uint64_t rest = m & ((1ull << -e2) - 1), half = 1ull << (-e2 - 1);
    if (rest > half || (rest == half && (ip & 1))) ip++;
    if (ip == 1000000) ip = 100000, k--;
    int x = 5 - k; /* the decimal exponent */
    char d[6];
    for (int i = 5; i >= 0; i--) d[i] = (char)('0' + ip % 10), ip /= 10;
    int last = 5; /* trailing zeros go */
    while (last > 0 && d[last] == '0') last--;
    if (x < -4 || x >= 6) {
        out_c(o, d[0]);
        if (last > 0) out_c(o, '.');
        for (int i = 1; i <= last; i++) out_c(o, d[i]);
        out_c(o, 'e');
        out_c(o, x < 0 ? '-' : '+');
        out_u(o, (uint64_t)(x < 0 ? -x : x), 0, 10, 2, '0');
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++) out_c(o, d[i]);
        if (last > x) out_c(o, '.');
        for (int i = x + 1; i <= last; i++) out_c(o, d[i]);
    } else {
        out_s(o, "0.", 2);
        for (int i = 0; i < -x - 1; i++) out_c(o, '0');
        for (int i = 0; i <= last; i++) out_c(o, d[i]);
    }
}

int dlor__image_fail(dlor_image_error *err, int code, const char *fmt, ...)
{
    if (!err) return code;
    msg_out o = {err->msg, sizeof err->msg};
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            out_c(&o, *f);
            continue;
        }
        char pad = ' ';
        int width = 0, lng = 0, size = 0;
        size_t prec = (size_t)-1;
        if (*++f == '0') pad = '0', f++;
        while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        if (*f == '.') {
            if (*++f == '*') {
                int p = va_arg(ap, int);
                prec = p < 0 ? (size_t)-1 : (size_t)p;
                f++;
            } else {
                for (prec = 0; *f >= '0' && *f <= '9'; f++) prec = prec * 10 + (size_t)(*f - '0');
            }
        }
        for (; *f == 'l'; f++) lng++;
        if (*f == 'z') size = 1, f++;
        switch (*f) {
        case 's': out_s(&o, va_arg(ap, const char *), prec); break;
        case 'c': out_c(&o, (char)va_arg(ap, int)); break;
        case 'g': out_g(&o, va_arg(ap, double)); break;
        case 'd': {
            long long v = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
            out_u(&o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, 10, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = size       ? va_arg(ap, size_t)
                         : lng >= 2 ? va_arg(ap, unsigned long long)
                         : lng      ? va_arg(ap, unsigned long)
                                    : va_arg(ap, unsigned);
            out_u(&o, v, 0, *f == 'x' ? 16 : 10, width, pad);
            break;
        }
        case '%': out_c(&o, '%'); break;
        default: /* not a conversion the messages use */
            out_c(&o, '%');
            if (!*f) f--;
            else out_c(&o, *f);
        }
    }
    va_end(ap);
    *o.p = 0;
    dlor_one_line(err->msg); /* names and metadata quoted from the image */
    err->code = code;
    return code;
}
#else
int dlor__image_error(dlor_image_error *err, int code)
{
    if (err) {
        static const char text[] = "error 00 (runtime built without messages: DLOR_RT_NO_MESSAGES)";
        memcpy(err->msg, text, sizeof text);
        err->msg[6] = (char)('0' + code / 10 % 10);
        err->msg[7] = (char)('0' + code % 10);
        err->code = code;
    }
    return code;
}
#endif

#if !defined(DLOR_RT_NO_F16) || !defined(DLOR_RT_NO_QUANT) /* its users */
float dlor__half_to_float(uint16_t h)
{
    /* 1 sign, 5 exponent (bias 15), 10 fraction bits; a subnormal f 2^-24 is
     * 1.f' 2^(-14 - n) after n shifts of f */
    uint32_t sign = (uint32_t)(h >> 15) << 31, frac = h & 0x3ffu, bits;
    int exp = (h >> 10) & 0x1f;
    float f;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (frac << 13); /* inf or NaN */
    } else if (exp == 0 && frac == 0) {
        bits = sign;
    } else {
        if (exp == 0) {
            for (exp = 1; !(frac & 0x400u); exp--) frac <<= 1;
            frac &= 0x3ffu;
        }
        bits = sign | ((uint32_t)(exp + 112) << 23) | (frac << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}
#endif

float dlor__double_to_float(double d)
{
    uint64_t b, m;
    memcpy(&b, &d, 8);
    uint32_t sign = (uint32_t)(b >> 32) & 0x80000000u, bits;
    int e = (int)((b >> 52) & 0x7ff), shift = 29, E = e - 1023 + 127;
    float f;
    m = b & 0xfffffffffffffull;
    if (e == 0x7ff) {
        bits = sign | 0x7f800000u | (m ? 0x400000u | (uint32_t)(m >> 29) : 0); /* NaN stays NaN, quiet */
    } else if (E >= 255) {
        bits = sign | 0x7f800000u;
    } else if (e == 0 || 29 + 1 - E > 53) {
        bits = sign; /* below half of 2^-149 (a double subnormal is far below) */
    } else {
        if (E < 1) { /* a float subnormal: all 53 bits, shifted further */
            m |= 1ull << 52;
            shift += 1 - E;
            E = 0;
        }
        uint64_t keep = m >> shift, rest = m & ((1ull << shift) - 1), half = 1ull << (shift - 1);
        bits = ((uint32_t)E << 23) + (uint32_t)keep; /* a carry out of the fraction raises E */
        if (rest > half || (rest == half && (keep & 1))) bits++;
        bits |= sign;
    }
    memcpy(&f, &bits, 4);
    return f;
}

unsigned dlor_image_dtype_size(int dtype)
{
    static const unsigned char sizes[14] = {0, 4, 2, 2, 8, 1, 2, 4, 8, 1, 2, 4, 8, 1};
    return (dtype >= 1 && dtype <= 13) ? sizes[dtype] : 0;
}

unsigned dlor_image_qblock_bytes(int dtype)
{
    return dtype == DLOR_IMAGE_DT_Q8 ? 32u : dtype == DLOR_IMAGE_DT_Q4 ? 16u : 0u;
}

uint64_t dlor_image_qbytes(int dtype, uint64_t rows, uint64_t cols)
{
    uint64_t vb = dlor_image_qblock_bytes(dtype), nb = cols / DLOR_IMAGE_QBLOCK + (cols % DLOR_IMAGE_QBLOCK != 0);
    if (!vb || (rows && nb > UINT64_MAX / rows)) return 0;
    nb *= rows; /* blocks */
    return nb > UINT64_MAX / (vb + 2) ? 0 : nb * (vb + 2);
}

/* The rules of DLOR_FORMAT.md 6.1 a file's bytes can break: every scale a
 * finite f16 with its sign bit clear, every padding column 0. */
int dlor_image_check_qdata(const unsigned char *d, int dtype, uint64_t rows, uint64_t cols, const char *shown,
                       dlor_image_error *err)
{
    uint64_t nb = (cols + DLOR_IMAGE_QBLOCK - 1) / DLOR_IMAGE_QBLOCK, vb = dlor_image_qblock_bytes(dtype);
    const unsigned char *sc = d + rows * nb * vb;
    unsigned used = (unsigned)(cols % DLOR_IMAGE_QBLOCK);
    for (uint64_t i = 0; i < rows * nb; i++) {
        unsigned h = (unsigned)sc[2 * i] | ((unsigned)sc[2 * i + 1] << 8);
        if ((h & 0x7c00u) == 0x7c00u || (h & 0x8000u))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': scale of row %llu block %llu is %s (0x%04x)",
                                    shown, (unsigned long long)(i / nb), (unsigned long long)(i % nb),
                                    (h & 0x7c00u) == 0x7c00u ? "not finite" : "negative", h);
    }
    if (used == 0) return DLOR_IMAGE_OK;
    for (uint64_t r = 0; r < rows; r++) {
        const unsigned char *blk = d + (r * nb + nb - 1) * vb;
        for (unsigned c = used; c < DLOR_IMAGE_QBLOCK; c++) {
            unsigned v = vb == 32 ? blk[c] : c < 16 ? blk[c] & 15u : blk[c - 16] >> 4;
            if (v)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': row %llu has a nonzero padding "
                                        "value past its %llu columns", shown, (unsigned long long)r,
                                        (unsigned long long)cols);
        }
    }
    return DLOR_IMAGE_OK;
}

int dlor__all_zero(const unsigned char *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

/* Strict UTF-8: no overlong forms, no surrogates, max U+10FFFF, no NUL. */
static int valid_utf8(const unsigned char *s, uint64_t n)
{
    uint64_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0) return 0;
        if (c < 0x80) { i++; continue; }
        unsigned need, min;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) { need = 1; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { need = 2; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { need = 3; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i <= need) return 0;
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += need + 1;
    }
    return 1;
}

/* Byte-wise order with a shorter prefix first; <0, 0, >0 like memcmp. */
static int name_cmp(const unsigned char *a, uint32_t al, const unsigned char *b, uint32_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : (al > bl ? 1 : 0);
}

typedef struct {
    const unsigned char *pool;
    uint64_t pool_len;
} strpool;

/* Checks a (offset, length) string reference: inside the pool, length in
 * [min, max], valid UTF-8. Returns a pointer to the bytes or NULL. */
static const unsigned char *pool_str(const strpool *sp, uint32_t off, uint32_t len,
                                     uint32_t min, uint32_t max)
{
    if (len < min || len > max) return NULL;
    if ((uint64_t)off > sp->pool_len || (uint64_t)len > sp->pool_len - off) return NULL;
    if (!valid_utf8(sp->pool + off, len)) return NULL;
    return sp->pool + off;
}

#ifndef DLOR_RT_NO_DAG /* the DAG check is its only user */
const unsigned char *dlor__image_str(const dlor_image *img, uint32_t off, uint32_t len, uint32_t min, uint32_t max)
{
    strpool sp = {img->strings, img->strings_len};
    return pool_str(&sp, off, len, min, max);
}
#endif

/* Prints a possibly-hostile name for a message: at most 64 bytes, and any
 * byte that is not printable ASCII becomes '?'. */
const char *dlor__image_show(const unsigned char *s, uint32_t n, char out[72])
{
    uint32_t k = n < 64 ? n : 64;
    for (uint32_t i = 0; i < k; i++) out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    if (n > 64) { out[k++] = '.'; out[k++] = '.'; out[k++] = '.'; }
    out[k] = 0;
    return out;
}

static int check_sections(dlor_image *img, const unsigned char *b, uint32_t nsec,
                          dlor_image_error *err)
{
    uint64_t pos = align_up(DLOR_IMAGE_PREAMBLE + (uint64_t)nsec * DLOR_IMAGE_DIR_ENTRY, 8);
    uint64_t dir_end = DLOR_IMAGE_PREAMBLE + (uint64_t)nsec * DLOR_IMAGE_DIR_ENTRY;
    int seen[5] = {0, 0, 0, 0, 0};
    uint64_t off_of[5] = {0}, size_of[5] = {0}, count_of[5] = {0};
    if (!dlor__all_zero(b + dir_end, pos - dir_end))
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "nonzero padding after the section directory");
    /* the kinds first: known, and in one order, so one file has one layout (and each
     * kind appears once) */
    for (uint32_t s = 0; s < nsec; s++) {
        uint32_t kind = ld32(b + DLOR_IMAGE_PREAMBLE + (uint64_t)s * DLOR_IMAGE_DIR_ENTRY);
        uint32_t prev_kind = s ? ld32(b + DLOR_IMAGE_PREAMBLE + (uint64_t)(s - 1) * DLOR_IMAGE_DIR_ENTRY) : 0;
        if (kind < 0x8000 && !(kind >= 1 && kind <= 4))
            return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED,
                        "required section kind %u is unknown to this reader (file minor version %u)",
                        (unsigned)kind, img->minor);
        if (s > 0 && kind == prev_kind)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "section kind %u appears twice", (unsigned)kind);
        if (s > 0 && kind < prev_kind)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                        "section kind %u follows kind %u: kinds must be in increasing order", (unsigned)kind,
                        (unsigned)prev_kind);
    }
    for (uint32_t s = 0; s < nsec; s++) {
        const unsigned char *e = b + DLOR_IMAGE_PREAMBLE + (uint64_t)s * DLOR_IMAGE_DIR_ENTRY;
        uint32_t kind = ld32(e), esize = ld32(e + 4);
        uint64_t off = ld64(e + 8), size = ld64(e + 16), count = ld64(e + 24);
        if (off != pos)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                        "section %u (kind %u) starts at %llu, expected %llu", (unsigned)s, (unsigned)kind,
                        (unsigned long long)off, (unsigned long long)pos);
        if (size > img->header_len - off)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                        "section %u (kind %u) of %llu bytes runs past the header end %llu", (unsigned)s, (unsigned)kind,
                        (unsigned long long)size, (unsigned long long)img->header_len);
        if (kind >= 1 && kind <= 4) {
            static const uint32_t want_esize[5] = {0, 0, DLOR_IMAGE_META_REC, DLOR_IMAGE_TENSOR_REC,
                                                   DLOR_IMAGE_LAYER_REC};
            if (esize != want_esize[kind])
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "section kind %u has entry size %u, expected %u",
                            (unsigned)kind, (unsigned)esize, (unsigned)want_esize[kind]);
            if (kind == DLOR_SECTION_STRINGS ? count != size : count * esize != size ||
                                                                   count > size)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                            "section kind %u: size %llu does not match %llu records", (unsigned)kind,
                            (unsigned long long)size, (unsigned long long)count);
            seen[kind] = 1;
            off_of[kind] = off;
            size_of[kind] = size;
            count_of[kind] = count;
        } else if (kind == DLOR_SECTION_GRAPH || kind == DLOR_SECTION_DAG) {
            /* one graph: a chain (1.1) or a DAG (1.5) */
            uint32_t rec = kind == DLOR_SECTION_GRAPH ? DLOR_IMAGE_GRAPH_REC : DLOR_IMAGE_DAG_REC;
            if (img->graph || img->dag)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "the file has two graph sections");
            if (esize != rec || count > size || count * esize != size)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph section: bad entry size or count");
            if (count > DLOR_IMAGE_MAX_OPS)
                return dlor__image_fail(err, DLOR_IMAGE_E_LIMIT, "graph of %llu operations exceeds the limit of %u",
                            (unsigned long long)count, DLOR_IMAGE_MAX_OPS);
            if (kind == DLOR_SECTION_GRAPH) {
                img->graph = b + off;
                img->nops = (uint32_t)count;
            } else {
                img->dag = b + off;
                img->ndag = (uint32_t)count;
            }
        } else if (esize == 0 ? count != size : size % esize != 0 || size / esize != count) {
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "optional section kind %u: inconsistent size", (unsigned)kind);
        }
        uint64_t end = off + size, next = align_up(end, 8);
        if (s + 1 == nsec) {
            if (end != img->header_len)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                            "last section ends at %llu but header_len is %llu",
                            (unsigned long long)end, (unsigned long long)img->header_len);
        } else {
            if (next > img->header_len)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "sections run past the header end");
            if (!dlor__all_zero(b + end, next - end))
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "nonzero padding after section %u", (unsigned)s);
        }
        pos = next;
    }
    for (int k = 1; k <= 4; k++)
        if (!seen[k]) return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "required section kind %d is missing", k);
    if (count_of[DLOR_SECTION_METADATA] > DLOR_IMAGE_MAX_META)
        return dlor__image_fail(err, DLOR_IMAGE_E_LIMIT, "%llu metadata records exceed the limit of %u",
                    (unsigned long long)count_of[DLOR_SECTION_METADATA], DLOR_IMAGE_MAX_META);
    if (count_of[DLOR_SECTION_TENSORS] > DLOR_IMAGE_MAX_TENSORS)
        return dlor__image_fail(err, DLOR_IMAGE_E_LIMIT, "%llu tensors exceed the limit of %u",
                    (unsigned long long)count_of[DLOR_SECTION_TENSORS], DLOR_IMAGE_MAX_TENSORS);
    if (count_of[DLOR_SECTION_LAYERS] > DLOR_IMAGE_MAX_LAYERS)
        return dlor__image_fail(err, DLOR_IMAGE_E_LIMIT, "%llu layers exceed the limit of %u",
                    (unsigned long long)count_of[DLOR_SECTION_LAYERS], DLOR_IMAGE_MAX_LAYERS);
    img->strings = b + off_of[DLOR_SECTION_STRINGS];
    img->strings_len = size_of[DLOR_SECTION_STRINGS];
    img->meta = b + off_of[DLOR_SECTION_METADATA];
    img->nmeta = (uint32_t)count_of[DLOR_SECTION_METADATA];
    img->tensors = b + off_of[DLOR_SECTION_TENSORS];
    img->ntensors = (uint32_t)count_of[DLOR_SECTION_TENSORS];
    img->layers = b + off_of[DLOR_SECTION_LAYERS];
    img->nlayers = (uint32_t)count_of[DLOR_SECTION_LAYERS];
    return DLOR_IMAGE_OK;
}

static int check_meta(const dlor_image *img, const strpool *sp, dlor_image_error *err)
{
    const unsigned char *prev = NULL;
    uint32_t prev_len = 0;
    uint64_t text = 0;
    char shown[72];
    for (uint32_t i = 0; i < img->nmeta; i++) {
        const unsigned char *r = img->meta + (uint64_t)i * DLOR_IMAGE_META_REC;
        uint32_t ko = ld32(r), kl = ld32(r + 4), vo = ld32(r + 8), vl = ld32(r + 12);
        const unsigned char *k = pool_str(sp, ko, kl, 1, DLOR_IMAGE_MAX_NAME);
        if (!k) return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "metadata record %u: bad key reference", (unsigned)i);
        if (!pool_str(sp, vo, vl, 0, DLOR_IMAGE_MAX_VALUE))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "metadata '%s': bad value reference",
                        dlor__image_show(k, kl, shown));
        if (prev && name_cmp(prev, prev_len, k, kl) >= 0)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "metadata key '%s' is out of order or duplicated",
                        dlor__image_show(k, kl, shown));
        text += (uint64_t)kl + vl;
        prev = k;
        prev_len = kl;
    }
    if (text > DLOR_IMAGE_MAX_META_TEXT)
        return dlor__image_fail(err, DLOR_IMAGE_E_LIMIT, "metadata text of %llu bytes exceeds the 1 MiB limit",
                    (unsigned long long)text);
    return DLOR_IMAGE_OK;
}

static int check_tensors(dlor_image *img, const strpool *sp, unsigned flags,
                         dlor_image_error *err)
{

    const unsigned char *prev = NULL;
    uint32_t prev_len = 0;
    uint64_t pos = img->data_offset;
    char shown[72];
    for (uint32_t i = 0; i < img->ntensors; i++) {
        const unsigned char *r = img->tensors + (uint64_t)i * DLOR_IMAGE_TENSOR_REC;
        uint32_t no = ld32(r), nl = ld32(r + 4);
        const unsigned char *nm = pool_str(sp, no, nl, 1, DLOR_IMAGE_MAX_NAME);
        if (!nm) return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor record %u: bad name reference", (unsigned)i);
        dlor__image_show(nm, nl, shown);
        if (prev && name_cmp(prev, prev_len, nm, nl) >= 0)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s' is out of order or duplicated", shown);
        prev = nm;
        prev_len = nl;
        int dtype = ld16(r + 8), ndim = r[10];
        unsigned es = dlor_image_dtype_size(dtype);
        int quant = dlor__is_quant_dtype(dtype);
        if (quant && ndim != 2)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': a quantized tensor is 2-D, not %d-D", shown, ndim);
        if (!es && !quant) return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED, "tensor '%s': unknown dtype code %d", shown, dtype);
        const char *left = dlor__rt_dtype_left_out(dtype);
        if (left)
            return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED,
                                    "tensor '%s': dtype code %d is left out of this build of the runtime (%s)", shown,
                                    dtype, left);
        if (ndim > DLOR_IMAGE_MAX_NDIM)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': %d dimensions (limit 8)", shown, ndim);
        if (!dlor__all_zero(r + 11, 5) || !dlor__all_zero(r + 100, 28))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': reserved bytes are not zero", shown);
        uint64_t nelem = 1;
        for (int d = 0; d < DLOR_IMAGE_MAX_NDIM; d++) {
            uint64_t dim = ld64(r + 16 + 8 * d);
            if (d >= ndim) {
                if (dim != 0)
                    return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': unused dimension %d is %llu",
                                shown, d, (unsigned long long)dim);
                continue;
            }
            if (dim != 0 && nelem > UINT64_MAX / dim)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': element count overflows", shown);
            nelem *= dim;
        }
        uint64_t want = 0, qr = quant ? ld64(r + 16) : 0, qc = quant ? ld64(r + 24) : 0;
        if (quant ? nelem && !(want = dlor_image_qbytes(dtype, qr, qc)) : nelem > UINT64_MAX / es)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': byte size overflows", shown);
        if (!quant) want = nelem * es;
        uint64_t off = ld64(r + 80), nbytes = ld64(r + 88);
        if (nbytes != want)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': nbytes %llu but shape needs %llu",
                        shown, (unsigned long long)nbytes, (unsigned long long)want);
        if (off != pos)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': data at offset %llu, expected %llu",
                        shown, (unsigned long long)off, (unsigned long long)pos);
        if (nbytes > img->len - off)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                        "tensor '%s': needs %llu bytes at offset %llu, file has %llu left", shown,
                        (unsigned long long)nbytes, (unsigned long long)off,
                        (unsigned long long)(img->len - off));
        uint64_t end = off + nbytes;
        if (i + 1 < img->ntensors) {
            uint64_t next = align_up(end, DLOR_IMAGE_ALIGN);
            if (next > img->len)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': file ends inside padding", shown);
            if (!dlor__all_zero(img->base + end, next - end))
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "nonzero padding after tensor '%s'", shown);
            pos = next;
        } else {
            pos = end;
        }
        if ((flags & DLOR_IMAGE_CHECK_CRC) && dlor_crc32(0, img->base + off, (size_t)nbytes) != ld32(r + 96))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': CRC-32 mismatch (data corrupt)", shown);
        if (quant && nelem) {
            int rc = dlor_image_check_qdata(img->base + off, dtype, qr, qc, shown, err);
            if (rc) return rc;
        }
        if (dtype == DLOR_IMAGE_DT_BOOL)
            for (uint64_t k = 0; k < nbytes; k++)
                if (img->base[off + k] > 1)
                    return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "tensor '%s': bool element %llu is %u, not 0 or 1",
                                shown, (unsigned long long)k, (unsigned)img->base[off + k]);
    }
    if (pos != img->len)
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "%llu trailing bytes after the last tensor",
                    (unsigned long long)(img->len - pos));
    return DLOR_IMAGE_OK;
}

/* The layer whose U tensor, stored in panels, is tensor t (named '<layer>.dlor.U'
 * by 7.6), or -1. Layer names must have been checked. */
long dlor__panel_owner(const dlor_image *img, uint32_t t)
{
    dlor_image_tensor tt;
    dlor_image_layer L;
    if (dlor_image_tensor_at(img, t, &tt) != 0 || tt.name_len <= 7 ||
        memcmp(tt.name + tt.name_len - 7, ".dlor.U", 7) != 0)
        return -1;
    long i = dlor_image_find_layer(img, tt.name, tt.name_len - 7);
    if (i < 0) return -1;
    dlor_image_layer_at(img, (uint32_t)i, &L);
    return L.u_layout == DLOR_IMAGE_U_PANELS && L.u_tensor == t ? i : -1;
}

static int check_layers(const dlor_image *img, const strpool *sp, dlor_image_error *err)
{
    const unsigned char *prev = NULL;
    uint32_t prev_len = 0;
    char shown[72];
    for (uint32_t i = 0; i < img->nlayers; i++) {
        const unsigned char *r = img->layers + (uint64_t)i * DLOR_IMAGE_LAYER_REC;
        uint32_t no = ld32(r), nl = ld32(r + 4);
        const unsigned char *nm = pool_str(sp, no, nl, 1, DLOR_IMAGE_MAX_NAME);
        if (!nm) return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer record %u: bad name reference", (unsigned)i);
        dlor__image_show(nm, nl, shown);
        if (prev && name_cmp(prev, prev_len, nm, nl) >= 0)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s' is out of order or duplicated", shown);
        prev = nm;
        prev_len = nl;
        dlor_image_layer L;
        dlor_image_layer_at(img, i, &L);
        if ((ld16(r + 14) & ~DLOR_IMAGE_LAYER_BASE) != 0 || !dlor__all_zero(r + 66, 6) ||
            !dlor__all_zero(r + 84, 44) || (!L.has_base && !dlor__all_zero(r + 80, 4)))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': reserved bytes are not zero", shown);
        if (L.u_layout != DLOR_IMAGE_U_ROWS && L.u_layout != DLOR_IMAGE_U_PANELS)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': unknown U layout %d", shown, L.u_layout);
        if (!((L.method == DLOR_IMAGE_MUL && (L.basis == DLOR_IMAGE_SCHUR || L.basis == DLOR_IMAGE_RANDOM)) ||
              (L.method == DLOR_IMAGE_ADD && L.basis == DLOR_IMAGE_SVD)))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': method %d with basis %d is not defined",
                        shown, L.method, L.basis);
        if (L.rows == 0 || L.cols == 0)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': empty shape", shown);
        if (L.k == 0 || L.k > L.kmax)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': %llu factor columns, must be 1 to %llu", shown,
                        (unsigned long long)L.k, (unsigned long long)L.kmax);
        if (L.rank == 0 || L.rank > L.k)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': rank %llu outside [1, %llu]", shown,
                        (unsigned long long)L.rank, (unsigned long long)L.k);
        if (L.factors != (L.k + L.rank - 1) / L.rank)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': %llu factors, expected ceil(%llu/%llu)",
                        shown, (unsigned long long)L.factors, (unsigned long long)L.k,
                        (unsigned long long)L.rank);
        if (!finite_d(L.alpha) || (L.method == DLOR_IMAGE_MUL && !nonzero_d(L.alpha)))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': invalid alpha %g", shown, L.alpha);
        if (!dlor__is_float_dtype(L.source_dtype)) /* layers are made from float weights only */
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': source dtype %d is not a float dtype", shown,
                        L.source_dtype);
        if (L.basis != DLOR_IMAGE_RANDOM && L.seed != 0)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': seed set for a non-random basis", shown);
        if (L.u_tensor >= img->ntensors || L.v_tensor >= img->ntensors || L.u_tensor == L.v_tensor)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': bad factor tensor indices %u, %u", shown,
                        (unsigned)L.u_tensor, (unsigned)L.v_tensor);
        dlor_image_tensor tu, tv;
        dlor_image_tensor_at(img, L.u_tensor, &tu);
        dlor_image_tensor_at(img, L.v_tensor, &tv);
        if (!dlor__is_weight_dtype(tu.dtype) || tu.dtype != tv.dtype)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': factor dtypes %d and %d are not one float "
                        "or quantized dtype", shown, tu.dtype, tv.dtype);
        if (dlor__is_quant_dtype(tu.dtype) && L.u_layout == DLOR_IMAGE_U_PANELS)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': a quantized U tensor is stored in rows, "
                        "not panels", shown);
        if (tu.ndim != 2 || tu.dims[0] != L.k || tu.dims[1] != L.dim_u || tv.ndim != 2 ||
            tv.dims[0] != L.k || tv.dims[1] != L.dim_v)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                        "layer '%s': factor shapes do not match [%llu, %llu] and [%llu, %llu]", shown,
                        (unsigned long long)L.k, (unsigned long long)L.dim_u,
                        (unsigned long long)L.k, (unsigned long long)L.dim_v);
#ifdef DLOR_RT_NO_QUANT
        /* the writer stores bases in q8 or q4, so a build without them leaves bases out */
        if (L.has_base)
            return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED, "layer '%s': a base tensor is left out of this "
                        "build of the runtime (DLOR_RT_NO_QUANT)", shown);
#else
        if (L.has_base) {
            /* 1.7: W = B + (the add layer's matrix), B [rows, cols] in a weight dtype */
            dlor_image_tensor tb;
            if (L.method != DLOR_IMAGE_ADD)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': a base tensor needs method add, not %d",
                            shown, L.method);
            if (L.base_tensor >= img->ntensors || L.base_tensor == L.u_tensor || L.base_tensor == L.v_tensor)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': bad base tensor index %u", shown,
                            (unsigned)L.base_tensor);
            dlor_image_tensor_at(img, L.base_tensor, &tb);
            if (!dlor__is_weight_dtype(tb.dtype) || tb.ndim != 2 || tb.dims[0] != L.rows || tb.dims[1] != L.cols)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': the base tensor must be a float or "
                            "quantized [%llu, %llu] tensor", shown, (unsigned long long)L.rows,
                            (unsigned long long)L.cols);
        }
#endif
        if (L.u_layout == DLOR_IMAGE_U_PANELS &&
            (tu.name_len != nl + 7 || memcmp(tu.name, nm, nl) != 0 || memcmp(tu.name + nl, ".dlor.U", 7) != 0))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%s': its U tensor is stored in panels, so it must "
                        "be named '<layer>.dlor.U', not '%.*s'", shown, (int)(tu.name_len < 64 ? tu.name_len : 64),
                        tu.name);
    }
    /* A U tensor in panels is read through its layer alone (7.6): no other
     * reference may take it for rows. Its name ties it to its layer, so this
     * needs no memory: a binary search per reference. */
    for (uint32_t i = 0; i < img->nlayers; i++) {
        dlor_image_layer L;
        dlor_image_layer_at(img, i, &L);
        if (dlor__panel_owner(img, L.v_tensor) >= 0 || (L.has_base && dlor__panel_owner(img, L.base_tensor) >= 0) ||
            (L.u_layout != DLOR_IMAGE_U_PANELS && dlor__panel_owner(img, L.u_tensor) >= 0))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "layer '%.*s': a factor tensor is another layer's U stored "
                        "in panels, which only that layer may use", (int)(L.name_len < 64 ? L.name_len : 64), L.name);
    }
    return DLOR_IMAGE_OK;
}

int dlor_image_open(dlor_image *out, const void *buf, size_t len, unsigned flags,
                    dlor_image_error *err)
{
    const unsigned char *b = (const unsigned char *)buf;
    dlor_image img;
    int rc;
    if (!b && len) return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "null buffer");
    if (len < DLOR_IMAGE_PREAMBLE)
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "file of %zu bytes is shorter than the 64-byte preamble", len);
    if (memcmp(b, DLOR_IMAGE_MAGIC, 8) != 0)
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "not a .dlor file (bad magic)");
    unsigned major = ld16(b + 8);
    memset(&img, 0, sizeof img);
    img.base = b;
    img.len = len;
    img.minor = ld16(b + 10);
    if (major != DLOR_IMAGE_MAJOR)
        return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED, "format version %u.%u is not supported (this reader reads 1.x)",
                    major, img.minor);
    if (ld32(b + 12) != DLOR_IMAGE_ENDIAN_TAG)
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "bad endianness tag 0x%08x", (unsigned)ld32(b + 12));
    img.header_len = ld64(b + 16);
    img.data_offset = ld64(b + 24);
    uint64_t data_len = ld64(b + 32), file_len = ld64(b + 40);
    uint32_t freq = ld32(b + 48), nsec = ld32(b + 52);
    if (freq & DLOR_IMAGE_FLAG_DEFLATE)
        return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED,
                    "the image is zlib-compressed (converted with --compress); this reader needs an "
                    "uncompressed image: inflate it on a host first (dlor export-c writes it uncompressed)");
    if (file_len != (uint64_t)len)
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "file is %zu bytes but its header says %llu (truncated or extended)",
                    len, (unsigned long long)file_len);
    if (freq & ~DLOR_IMAGE_FLAG_DEFLATE)
        return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED, "unknown required feature flags 0x%08x", (unsigned)freq);
    /* offset 60: zero in an uncompressed image (a compressed one keeps its CRC there) */
    if (ld32(b + 60) != 0) return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "reserved preamble field is not zero");
    if (nsec < 1 || nsec > DLOR_IMAGE_MAX_SECTIONS)
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "%u sections (must be 1 to %d)", (unsigned)nsec,
                    DLOR_IMAGE_MAX_SECTIONS);
    if (img.header_len > DLOR_IMAGE_MAX_HEADER)
        return dlor__image_fail(err, DLOR_IMAGE_E_LIMIT, "header of %llu bytes exceeds the 64 MiB limit",
                    (unsigned long long)img.header_len);
    if (img.header_len < DLOR_IMAGE_PREAMBLE + (uint64_t)nsec * DLOR_IMAGE_DIR_ENTRY || img.header_len > len)
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "header_len %llu is inconsistent with the file",
                    (unsigned long long)img.header_len);
    if (img.data_offset != align_up(img.header_len, DLOR_IMAGE_ALIGN) || img.data_offset > len ||
        data_len != len - img.data_offset)
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "data_offset %llu / data_len %llu are inconsistent",
                    (unsigned long long)img.data_offset, (unsigned long long)data_len);
    /* The checksum comes first so that nothing below interprets corrupt records. */
    {
        static const unsigned char zero4[4] = {0, 0, 0, 0};
        uint32_t c = dlor_crc32(0, b, 56);
        c = dlor_crc32(c, zero4, 4);
        c = dlor_crc32(c, b + 60, (size_t)(img.header_len - 60));
        if (c != ld32(b + 56))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "header checksum mismatch (header corrupt)");
    }
    if (!dlor__all_zero(b + img.header_len, img.data_offset - img.header_len))
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "nonzero padding before the data section");
    if ((rc = check_sections(&img, b, nsec, err)) != 0) return rc;
    strpool sp = {img.strings, img.strings_len};
    if ((rc = check_meta(&img, &sp, err)) != 0) return rc;
    if ((rc = check_tensors(&img, &sp, flags, err)) != 0) return rc;
    if ((rc = check_layers(&img, &sp, err)) != 0) return rc;
    if ((rc = dlor__image_check_graph(&img, err)) != 0) return rc;
    *out = img;
    return DLOR_IMAGE_OK;
}

int dlor_image_tensor_at(const dlor_image *img, uint32_t i, dlor_image_tensor *t)
{
    if (i >= img->ntensors) return -1;
    const unsigned char *r = img->tensors + (uint64_t)i * DLOR_IMAGE_TENSOR_REC;
    memset(t, 0, sizeof *t);
    t->name = (const char *)img->strings + ld32(r);
    t->name_len = ld32(r + 4);
    t->dtype = ld16(r + 8);
    t->ndim = r[10];
    t->nelem = 1;
    for (int d = 0; d < t->ndim && d < DLOR_IMAGE_MAX_NDIM; d++) {
        t->dims[d] = ld64(r + 16 + 8 * d);
        t->nelem *= t->dims[d];
    }
    t->offset = ld64(r + 80);
    t->nbytes = ld64(r + 88);
    t->crc32 = ld32(r + 96);
    t->data = img->base + t->offset;
    return 0;
}

int dlor_image_layer_at(const dlor_image *img, uint32_t i, dlor_image_layer *l)
{
    if (i >= img->nlayers) return -1;
    const unsigned char *r = img->layers + (uint64_t)i * DLOR_IMAGE_LAYER_REC;
    uint64_t bits = ld64(r + 48);
    memset(l, 0, sizeof *l);
    l->name = (const char *)img->strings + ld32(r);
    l->name_len = ld32(r + 4);
    l->method = ld16(r + 8);
    l->basis = ld16(r + 10);
    l->u_layout = ld16(r + 12);
    l->rows = ld64(r + 16);
    l->cols = ld64(r + 24);
    l->rank = ld64(r + 32);
    l->factors = ld64(r + 40);
    memcpy(&l->alpha, &bits, 8);
    l->u_tensor = ld32(r + 56);
    l->v_tensor = ld32(r + 60);
    l->source_dtype = ld16(r + 64);
    l->seed = ld64(r + 72);
    l->has_base = (ld16(r + 14) & DLOR_IMAGE_LAYER_BASE) != 0;
    l->base_tensor = ld32(r + 80);
    if (l->method == DLOR_IMAGE_MUL) {
        l->kmax = l->dim_u = l->dim_v = l->rows > l->cols ? l->rows : l->cols;
    } else {
        l->kmax = l->rows < l->cols ? l->rows : l->cols;
        l->dim_u = l->rows;
        l->dim_v = l->cols;
    }
    /* K, the number of columns of U and V, is the U tensor's row count */
    l->k = l->kmax;
    if (l->u_tensor < img->ntensors) {
        const unsigned char *t = img->tensors + (uint64_t)l->u_tensor * DLOR_IMAGE_TENSOR_REC;
        if (t[10] >= 1) l->k = ld64(t + 16);
    }
    return 0;
}

void dlor_image_u_permute(const void *src, void *dst, uint64_t k, uint64_t dim, uint64_t rank, size_t esize,
                          int to_panels)
{
    const unsigned char *s = src;
    unsigned char *d = dst;
    for (uint64_t g0 = 0; g0 < k; g0 += rank) {
        uint64_t h = k - g0 < rank ? k - g0 : rank;
        for (uint64_t j = 0; j < h; j++)
            for (uint64_t c = 0; c < dim; c += DLOR_IMAGE_PANEL) {
                uint64_t w = dim - c < DLOR_IMAGE_PANEL ? dim - c : DLOR_IMAGE_PANEL;
                uint64_t row = ((g0 + j) * dim + c) * esize, pan = dlor_image_panel_index(g0, h, dim, j, c) * esize;
                if (to_panels) memcpy(d + pan, s + row, (size_t)(w * esize));
                else memcpy(d + row, s + pan, (size_t)(w * esize));
            }
    }
}

int dlor_image_meta_at(const dlor_image *img, uint32_t i, const char **key, uint32_t *key_len,
                       const char **val, uint32_t *val_len)
{
    if (i >= img->nmeta) return -1;
    const unsigned char *r = img->meta + (uint64_t)i * DLOR_IMAGE_META_REC;
    *key = (const char *)img->strings + ld32(r);
    *key_len = ld32(r + 4);
    *val = (const char *)img->strings + ld32(r + 8);
    *val_len = ld32(r + 12);
    return 0;
}

/* Binary search over records whose first 8 bytes are a (offset, length) name. */
static long find_named(const dlor_image *img, const unsigned char *recs, uint32_t n, uint32_t rec_size,
                       const char *name, size_t name_len)
{
    long lo = 0, hi = (long)n - 1;
    if (name_len > DLOR_IMAGE_MAX_NAME) return -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        const unsigned char *r = recs + (uint64_t)mid * rec_size;
        int c = name_cmp(img->strings + ld32(r), ld32(r + 4), (const unsigned char *)name,
                         (uint32_t)name_len);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

long dlor_image_find_tensor(const dlor_image *img, const char *name, size_t name_len)
{
    return find_named(img, img->tensors, img->ntensors, DLOR_IMAGE_TENSOR_REC, name, name_len);
}

long dlor_image_find_layer(const dlor_image *img, const char *name, size_t name_len)
{
    return find_named(img, img->layers, img->nlayers, DLOR_IMAGE_LAYER_REC, name, name_len);
}

const char *dlor_image_meta_get(const dlor_image *img, const char *key, uint32_t *val_len)
{
    long i = find_named(img, img->meta, img->nmeta, DLOR_IMAGE_META_REC, key, strlen(key));
    if (i < 0) return NULL;
    const unsigned char *r = img->meta + (uint64_t)i * DLOR_IMAGE_META_REC;
    if (val_len) *val_len = ld32(r + 12);
    return (const char *)img->strings + ld32(r + 8);
}
