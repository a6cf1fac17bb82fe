/* npy.c - NumPy .npy reader (format versions 1.0, 2.0 and 3.0).
 *
 * The header is a Python dict literal. It is read by a small strict parser
 * that knows exactly three keys and three kinds of value (string, bool, tuple
 * of non-negative ints) and evaluates nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_fileio.h"
#include "dlor_readers.h"
#include "dlor_zip.h"

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static const struct {
    const char *descr;
    dlor_dtype dt;
    int big;
} npy_descrs[] = {
    {"<f2", DLOR_DT_F16, 0}, {">f2", DLOR_DT_F16, 1}, {"<f4", DLOR_DT_F32, 0},
    {">f4", DLOR_DT_F32, 1}, {"<f8", DLOR_DT_F64, 0}, {">f8", DLOR_DT_F64, 1},
    {"|i1", DLOR_DT_I8, 0},  {"|u1", DLOR_DT_U8, 0},  {"|b1", DLOR_DT_BOOL, 0},
    {"<i2", DLOR_DT_I16, 0}, {">i2", DLOR_DT_I16, 1}, {"<i4", DLOR_DT_I32, 0},
    {">i4", DLOR_DT_I32, 1}, {"<i8", DLOR_DT_I64, 0}, {">i8", DLOR_DT_I64, 1},
    {"<u2", DLOR_DT_U16, 0}, {">u2", DLOR_DT_U16, 1}, {"<u4", DLOR_DT_U32, 0},
    {">u4", DLOR_DT_U32, 1}, {"<u8", DLOR_DT_U64, 0}, {">u8", DLOR_DT_U64, 1},
};

/* ---- header dict parser ------------------------------------------------ */

typedef struct {
    const unsigned char *start, *p, *end; /* header text, final '\n' excluded */
    int allow_long_suffix;                /* Python 2 "3L" (format 1.0/2.0 only) */
    const char *what;
    dlor_error *err;
} hdr_parser;

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

typedef struct {
    const unsigned char *descr; /* string contents, or raw text of a structured descr */
    size_t descr_len;
    int descr_structured;
    int fortran;
    int ndim;
    uint64_t dims[DLOR_MAX_NDIM];
} npy_header;

static void skip_ws(hdr_parser *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t')) h->p++;
}

/* Quotes up to 24 bytes of header text at p for a message. */
static const char *near(const hdr_parser *h, const unsigned char *p, char *buf, size_t n)
{
    if (p >= h->end) return "end of header";
    size_t k = (size_t)(h->end - p);
    if (k > 24) k = 24;
    while (k > 1 && p[k - 1] == ' ') k--;
    return dlor_zip_quote(p, k, buf, n);
}

static dlor_status syntax(hdr_parser *h, const char *expected)
{
    char b[128];
    return dlor_fail(h->err, DLOR_E_FORMAT, "%s: bad .npy header: expected %s at byte %zu, found '%s'",
                     h->what, expected, (size_t)(h->p - h->start), near(h, h->p, b, sizeof b));
}

/* A Python string literal without prefix or escapes: '...' or "...". */
static dlor_status parse_string(hdr_parser *h, const unsigned char **s, size_t *n)
{
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return syntax(h, "a string literal");
    unsigned char q = *h->p++;
    const unsigned char *b = h->p;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' || *h->p == '\n')
            return dlor_fail(h->err, DLOR_E_FORMAT,
                             "%s: bad .npy header: escape or newline inside a string at byte %zu",
                             h->what, (size_t)(h->p - h->start));
        h->p++;
    }
    if (h->p >= h->end)
        return dlor_fail(h->err, DLOR_E_FORMAT, "%s: bad .npy header: unterminated string", h->what);
    *s = b;
    *n = (size_t)(h->p - b);
    h->p++;
    return DLOR_OK;
}

/* Skips a bracketed value (structured descr) without interpreting it. */
static dlor_status skip_bracketed(hdr_parser *h)
{
    size_t depth = 0;
    do {
        if (h->p >= h->end)
            return dlor_fail(h->err, DLOR_E_FORMAT, "%s: bad .npy header: unbalanced brackets",
                             h->what);
        unsigned char c = *h->p;
        if (c == '\'' || c == '"') {
            const unsigned char *s;
            size_t n;
            dlor_status st = parse_string(h, &s, &n);
            if (st != DLOR_OK) return st;
            continue;
        }
        if (c == '(' || c == '[' || c == '{') depth++;
        else if (c == ')' || c == ']' || c == '}') depth--;
        h->p++;
    } while (depth > 0);
    return DLOR_OK;
}

/* Length of the token at p (up to a separator), for messages. */
static size_t token_len(const hdr_parser *h)
{
    const unsigned char *q = h->p;
    while (q < h->end && *q != ',' && *q != '}' && *q != ')' && *q != ' ' && q - h->p < 40) q++;
    return q > h->p ? (size_t)(q - h->p) : 1;
}

static int is_ident_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static dlor_status parse_bool(hdr_parser *h, int *v)
{
    const unsigned char *b = h->p;
    while (h->p < h->end && is_ident_char(*h->p)) h->p++;
    size_t n = (size_t)(h->p - b);
    if (n == 4 && memcmp(b, "True", 4) == 0) return *v = 1, DLOR_OK;
    if (n == 5 && memcmp(b, "False", 5) == 0) return *v = 0, DLOR_OK;
    h->p = b;
    char t[128];
    size_t k = h->p < h->end ? token_len(h) : 0;
    return dlor_fail(h->err, DLOR_E_FORMAT, "%s: bad .npy header: fortran_order must be True or False, got '%s'",
                     h->what, k ? dlor_zip_quote(b, k, t, sizeof t) : "");
}

static dlor_status parse_dim(hdr_parser *h, uint64_t *v)
{
    char t[128];
    const unsigned char *b = h->p;
    if (h->p < h->end && *h->p == '-') {
        size_t k = token_len(h);
        return dlor_fail(h->err, DLOR_E_FORMAT, "%s: bad .npy header: negative dimension %s in shape",
                         h->what, dlor_zip_quote(b, k, t, sizeof t));
    }
    if (h->p >= h->end || *h->p < '0' || *h->p > '9')
        return dlor_fail(h->err, DLOR_E_FORMAT,
                         "%s: bad .npy header: shape entry '%s' is not an integer literal", h->what,
                         h->p < h->end ? dlor_zip_quote(b, token_len(h), t, sizeof t) : "");
    uint64_t x = 0;
    int overflow = 0;
    while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
        unsigned d = (unsigned)(*h->p - '0');
        if (x > (UINT64_MAX - d) / 10) overflow = 1;
        else x = x * 10 + d;
        h->p++;
    }
    size_t ndig = (size_t)(h->p - b);
    if (h->p < h->end && (*h->p == 'L' || *h->p == 'l') && h->allow_long_suffix) h->p++;
    /* "3.0", "1e3", "1_0", "0x10", "3L" in v3, "1+1": anything glued on is not a plain int */
    if (h->p < h->end && (is_ident_char(*h->p) || *h->p == '.' || *h->p == '+' || *h->p == '-' ||
                          *h->p == '*' || *h->p == '(')) {
        h->p = b;
        return dlor_fail(h->err, DLOR_E_FORMAT,
                         "%s: bad .npy header: shape entry '%s' is not an integer literal", h->what,
                         dlor_zip_quote(b, token_len(h), t, sizeof t));
    }
    if (ndig > 1 && b[0] == '0')
        return dlor_fail(h->err, DLOR_E_FORMAT,
                         "%s: bad .npy header: shape entry '%s' has a leading zero", h->what,
                         dlor_zip_quote(b, ndig, t, sizeof t));
    if (overflow)
        return dlor_fail(h->err, DLOR_E_FORMAT,
                         "%s: bad .npy header: dimension %s does not fit in 64 bits", h->what,
                         dlor_zip_quote(b, ndig, t, sizeof t));
    *v = x;
    return DLOR_OK;
}

static dlor_status parse_shape(hdr_parser *h, npy_header *hd)
{
    dlor_status st;
    if (h->p < h->end && *h->p == '[')
        return dlor_fail(h->err, DLOR_E_FORMAT,
                         "%s: bad .npy header: shape must be a tuple, got a list", h->what);
    if (h->p >= h->end || *h->p != '(') return syntax(h, "a shape tuple '('");
    h->p++;
    skip_ws(h);
    hd->ndim = 0;
    if (h->p < h->end && *h->p == ')') {
        h->p++;
        return DLOR_OK;
    }
    for (;;) {
        uint64_t v = 0;
        if ((st = parse_dim(h, &v)) != DLOR_OK) return st;
        if (hd->ndim == DLOR_MAX_NDIM)
            return dlor_fail(h->err, DLOR_E_LIMIT, "%s: shape has more than %d dimensions",
                             h->what, DLOR_MAX_NDIM);
        hd->dims[hd->ndim++] = v;
        skip_ws(h);
        if (h->p < h->end && *h->p == ',') {
            h->p++;
            skip_ws(h);
            if (h->p < h->end && *h->p == ')') break;
            continue;
        }
        if (h->p < h->end && *h->p == ')') {
            /* "(3)" is the int 3 in Python, not a tuple */
            if (hd->ndim == 1)
                return dlor_fail(h->err, DLOR_E_FORMAT,
                                 "%s: bad .npy header: shape '(%llu)' is not a tuple (needs a comma)",
                                 h->what, (unsigned long long)hd->dims[0]);
            break;
        }
        return syntax(h, "',' or ')' in shape");
    }
    h->p++;
    return DLOR_OK;
}

static dlor_status parse_header(hdr_parser *h, npy_header *hd)
{
    dlor_status st;
    unsigned seen = 0;
    skip_ws(h);
    if (h->p >= h->end || *h->p != '{') {
        char b[128];
        return dlor_fail(h->err, DLOR_E_FORMAT, "%s: bad .npy header: not a dict literal (starts with '%s')",
                         h->what, near(h, h->p, b, sizeof b));
    }
    h->p++;
    skip_ws(h);
    while (h->p < h->end && *h->p != '}') {
        const unsigned char *k;
        size_t kn;
        char kq[128];
        if ((st = parse_string(h, &k, &kn)) != DLOR_OK) return st;
        unsigned key = 0;
        if (kn == 5 && memcmp(k, "descr", 5) == 0) key = KEY_DESCR;
        else if (kn == 13 && memcmp(k, "fortran_order", 13) == 0) key = KEY_FORTRAN;
        else if (kn == 5 && memcmp(k, "shape", 5) == 0) key = KEY_SHAPE;
        if (!key)
            return dlor_fail(h->err, DLOR_E_FORMAT, "%s: bad .npy header: unexpected key '%s'",
                             h->what, dlor_zip_quote(k, kn, kq, sizeof kq));
        if (seen & key)
            return dlor_fail(h->err, DLOR_E_FORMAT, "%s: bad .npy header: duplicate key '%s'",
                             h->what, dlor_zip_quote(k, kn, kq, sizeof kq));
        seen |= key;
        skip_ws(h);
        if (h->p >= h->end || *h->p != ':') return syntax(h, "':'");
        h->p++;
        skip_ws(h);
        if (key == KEY_DESCR) {
            if (h->p < h->end && (*h->p == '[' || *h->p == '(')) {
                const unsigned char *b = h->p;
                if ((st = skip_bracketed(h)) != DLOR_OK) return st;
                hd->descr = b;
                hd->descr_len = (size_t)(h->p - b);
                hd->descr_structured = 1;
            } else if (h->p < h->end && (*h->p == '\'' || *h->p == '"')) {
                if ((st = parse_string(h, &hd->descr, &hd->descr_len)) != DLOR_OK) return st;
            } else {
                char b[128];
                return dlor_fail(h->err, DLOR_E_FORMAT,
                                 "%s: bad .npy header: descr must be a string literal, got '%s'",
                                 h->what, near(h, h->p, b, sizeof b));
            }
        } else if (key == KEY_FORTRAN) {
            if ((st = parse_bool(h, &hd->fortran)) != DLOR_OK) return st;
        } else {
            if ((st = parse_shape(h, hd)) != DLOR_OK) return st;
        }
        skip_ws(h);
        if (h->p < h->end && *h->p == ',') {
            h->p++;
            skip_ws(h);
        } else if (h->p >= h->end || *h->p != '}') {
            return syntax(h, "',' or '}'");
        }
    }
    if (h->p >= h->end) return syntax(h, "'}'");
    h->p++;
    while (h->p < h->end && *h->p == ' ') h->p++;
    if (h->p != h->end) return syntax(h, "only space padding after the dict");
    static const struct { unsigned key; const char *name; } keys[] = {
        {KEY_DESCR, "descr"}, {KEY_FORTRAN, "fortran_order"}, {KEY_SHAPE, "shape"}};
    for (size_t i = 0; i < 3; i++)
        if (!(seen & keys[i].key))
            return dlor_fail(h->err, DLOR_E_FORMAT, "%s: bad .npy header: missing key '%s'",
                             h->what, keys[i].name);
    return DLOR_OK;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xbf;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) k = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            unsigned d = s[i + j];
            if (d < (j == 1 ? lo : 0x80) || d > (j == 1 ? hi : 0xbf)) return 0;
        }
        i += k + 1;
    }
    return 1;
}

/* ---- data conversion --------------------------------------------------- */

static void copy_elem(unsigned char *dst, const unsigned char *src, size_t es, int swap)
{
    if (!swap) {
        memcpy(dst, src, es);
        return;
    }
    for (size_t b = 0; b < es; b++) dst[b] = src[es - 1 - b];
}

/* Writes src (Fortran order if fortran, else C order) to dst in C order,
 * byte-swapping each element if swap. */
static void to_c_order(unsigned char *dst, const unsigned char *src, size_t es, int swap,
                       int fortran, int ndim, const uint64_t *dims, uint64_t nelem)
{
    if (!fortran || ndim < 2) {
        for (uint64_t i = 0; i < nelem; i++) copy_elem(dst + i * es, src + i * es, es, swap);
        return;
    }
    uint64_t stride[DLOR_MAX_NDIM], idx[DLOR_MAX_NDIM] = {0}, d = 0;
    stride[ndim - 1] = 1;
    for (int k = ndim - 2; k >= 0; k--) stride[k] = stride[k + 1] * dims[k + 1];
    /* walk the source in Fortran order (first index fastest), tracking the C offset */
    for (uint64_t i = 0; i < nelem; i++) {
        copy_elem(dst + d * es, src + i * es, es, swap);
        for (int k = 0; k < ndim; k++) {
            if (++idx[k] < dims[k]) {
                d += stride[k];
                break;
            }
            idx[k] = 0;
            d -= (dims[k] - 1) * stride[k];
        }
    }
}

/* ---- entry points ------------------------------------------------------ */

dlor_status dlor_npy_append(const unsigned char *buf, size_t len, const char *what,
                            const char *name, size_t name_len, dlor_tensor_list *out,
                            dlor_error *err)
{
    char q[256];
    if (len < 6 || memcmp(buf, npy_magic, 6) != 0)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: not a .npy file (bad magic '%s')", what,
                         dlor_zip_quote(buf, len < 6 ? len : 6, q, sizeof q));
    if (len < 8)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: file of %zu bytes ends inside the .npy preamble",
                         what, len);
    unsigned major = buf[6], minor = buf[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return dlor_fail(err, DLOR_E_UNSUPPORTED,
                         "%s: .npy format version %u.%u is not supported (1.0, 2.0 and 3.0 are)",
                         what, major, minor);
    size_t prefix = major == 1 ? 10 : 12;
    if (len < prefix)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: file of %zu bytes ends inside the .npy preamble",
                         what, len);
    uint64_t hlen = major == 1 ? dlor_load_u16(buf + 8) : dlor_load_u32(buf + 8);
    if (hlen == 0) return dlor_fail(err, DLOR_E_FORMAT, "%s: .npy header length is 0", what);
    if (hlen > DLOR_NPY_MAX_HEADER)
        return dlor_fail(err, DLOR_E_LIMIT, "%s: .npy header length %llu exceeds the %u-byte limit",
                         what, (unsigned long long)hlen, DLOR_NPY_MAX_HEADER);
    if (hlen > len - prefix)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: .npy header length %llu runs past the end of the file (%zu bytes)",
                         what, (unsigned long long)hlen, len);
    size_t data_off = prefix + (size_t)hlen;
    if (data_off % 16 != 0)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: .npy header ends at byte %zu, which is not a multiple of 16", what,
                         data_off);
    const unsigned char *hs = buf + prefix;
    if (hs[hlen - 1] != '\n')
        return dlor_fail(err, DLOR_E_FORMAT, "%s: .npy header does not end with a newline", what);
    if (major == 3 && !utf8_valid(hs, (size_t)hlen))
        return dlor_fail(err, DLOR_E_FORMAT, "%s: .npy 3.0 header is not valid UTF-8", what);

    npy_header hd;
    memset(&hd, 0, sizeof hd);
    hdr_parser h = {hs, hs, hs + hlen - 1, major < 3, what, err};
    dlor_status st = parse_header(&h, &hd);
    if (st != DLOR_OK) return st;

    dlor_dtype dt = DLOR_DT_INVALID;
    int big = 0;
    for (size_t i = 0; !hd.descr_structured && i < sizeof npy_descrs / sizeof npy_descrs[0]; i++) {
        if (strlen(npy_descrs[i].descr) == hd.descr_len &&
            memcmp(npy_descrs[i].descr, hd.descr, hd.descr_len) == 0) {
            dt = npy_descrs[i].dt;
            big = npy_descrs[i].big;
        }
    }
    if (dt == DLOR_DT_INVALID)
        return dlor_fail(err, DLOR_E_UNSUPPORTED,
                         "%s: dtype descr %s%s%s is not supported (only f2 f4 f8 i1-i8 u1-u8 b1, "
                         "explicitly '<' or '>', or '|' for one byte)",
                         what, hd.descr_structured ? "" : "'",
                         dlor_zip_quote(hd.descr, hd.descr_len, q, 80),
                         hd.descr_structured ? "" : "'");

    uint64_t nbytes;
    char shp[256];
    if (dlor_shape_nbytes(hd.dims, hd.ndim, dt, &nbytes) != 0)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: shape %s of %s overflows 64 bits", what,
                         dlor_shape_str(hd.dims, hd.ndim, shp, sizeof shp), dlor_dtype_name(dt));
    size_t have = len - data_off;
    if (nbytes > have)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: shape %s of %s needs %llu data bytes, file has only %zu", what,
                         dlor_shape_str(hd.dims, hd.ndim, shp, sizeof shp), dlor_dtype_name(dt),
                         (unsigned long long)nbytes, have);
    if (nbytes < have)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: %llu trailing bytes after the data (shape %s of %s needs %llu)", what,
                         (unsigned long long)(have - nbytes),
                         dlor_shape_str(hd.dims, hd.ndim, shp, sizeof shp), dlor_dtype_name(dt),
                         (unsigned long long)nbytes);

    const unsigned char *data = buf + data_off;
    size_t es = dlor_dtype_size(dt);
    int swap = big && es > 1;
    int transpose = hd.fortran && hd.ndim >= 2;
    if ((swap || transpose) && nbytes > 0) {
        unsigned char *blk = malloc((size_t)nbytes);
        if (!blk) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory (%llu bytes)", what,
                                   (unsigned long long)nbytes);
        uint64_t nelem = nbytes / es;
        to_c_order(blk, data, es, swap, transpose, hd.ndim, hd.dims, nelem);
        if ((st = dlor_tensor_list_own(out, blk, err)) != DLOR_OK) return st;
        data = blk;
    }
    return dlor_tensor_list_add(out, what, name, name_len, dt, hd.ndim, hd.dims, data,
                                (size_t)nbytes, err);
}

dlor_status dlor_npy_parse(const unsigned char *buf, size_t len, const char *what,
                           const char *name, dlor_tensor_list *out, dlor_error *err)
{
    if (!buf || !what || !name || !out)
        return dlor_fail(err, DLOR_E_ARG, "dlor_npy_parse: NULL argument");
    dlor_status st = dlor_npy_append(buf, len, what, name, strlen(name), out, err);
    if (st != DLOR_OK) dlor_tensor_list_free(out);
    return st;
}

dlor_status dlor_read_npy(const char *path, dlor_tensor_list *out, dlor_error *err)
{
    unsigned char *buf;
    size_t len;
    dlor_status st = dlor_file_read(path, DLOR_MAX_INPUT_BYTES, &buf, &len, err);
    if (st != DLOR_OK) return st;
    if ((st = dlor_tensor_list_own(out, buf, err)) != DLOR_OK) {
        dlor_error_prefix(err, path);
        dlor_tensor_list_free(out);
        return st;
    }
    const char *base = dlor_basename(path);
    size_t n = strlen(base);
    if (n >= 4 && memcmp(base + n - 4, ".npy", 4) == 0) n -= 4;
    st = dlor_npy_append(buf, len, path, base, n, out, err);
    if (st != DLOR_OK) dlor_tensor_list_free(out);
    return st;
}
