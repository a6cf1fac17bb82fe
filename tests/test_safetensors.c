/* test_safetensors - the safetensors reader on byte-exact files built in
 * memory: valid files of every dtype, and every malformed case 1-20 of
 * formats.md §7 (each must be a clean error with the right status). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_readers.h"
#include "testutil.h"

#define WHAT "model.safetensors"

typedef struct { unsigned char *b; size_t n; } blob;

/* Assembles u64 LE N | header (hlen bytes) | data. */
static blob mk_n(const char *hdr, size_t hlen, const void *data, size_t dlen)
{
    blob f;
    f.n = 8 + hlen + dlen;
    f.b = malloc(f.n ? f.n : 1);
    dlor_store_u64(f.b, hlen);
    memcpy(f.b + 8, hdr, hlen);
    if (dlen) memcpy(f.b + 8 + hlen, data, dlen);
    return f;
}

static blob mk(const char *hdr, const void *data, size_t dlen)
{
    return mk_n(hdr, strlen(hdr), data, dlen);
}

/* A file whose data is dlen bytes 0, 1, 2, ... */
static blob mkz(const char *hdr, size_t dlen)
{
    unsigned char *d = malloc(dlen ? dlen : 1);
    for (size_t i = 0; i < dlen; i++) d[i] = (unsigned char)i;
    blob f = mk(hdr, d, dlen);
    free(d);
    return f;
}

static int list_empty(const dlor_tensor_list *l)
{
    return l->count == 0 && l->meta_count == 0 && l->nblocks == 0 && l->items == NULL &&
           l->meta_keys == NULL && l->blocks == NULL;
}

/* Parses f (and frees it) expecting failure with 'code' and a message that
 * names the file and contains n1 and n2 (either may be NULL). */
static void expect_err_at(int line, blob f, dlor_status code, const char *n1, const char *n2)
{
    dlor_tensor_list l;
    dlor_error err = {0};
    dlor_tensor_list_init(&l);
    dlor_status s = dlor_safetensors_parse(f.b, f.n, WHAT, &l, &err);
    CHECK(s == code, "line %d: status %d, want %d (%s)", line, s, code, err.msg);
    CHECK(err.code == code, "line %d: err.code %d", line, err.code);
    CHECK(strncmp(err.msg, WHAT ": ", strlen(WHAT) + 2) == 0, "line %d: message '%s' lacks file",
          line, err.msg);
    if (n1) CHECK(strstr(err.msg, n1) != NULL, "line %d: '%s' lacks '%s'", line, err.msg, n1);
    if (n2) CHECK(strstr(err.msg, n2) != NULL, "line %d: '%s' lacks '%s'", line, err.msg, n2);
    CHECK(strchr(err.msg, '\n') == NULL, "line %d: message has a newline", line);
    CHECK(list_empty(&l), "line %d: list not empty after failure", line);
    dlor_tensor_list_free(&l);
    free(f.b);
}
#define EXPECT_ERR(f, code, n1, n2) expect_err_at(__LINE__, f, code, n1, n2)

/* Parses f expecting success; the caller frees l and f. */
static int parse_ok_at(int line, const blob *f, dlor_tensor_list *l)
{
    dlor_error err = {0};
    dlor_tensor_list_init(l);
    dlor_status s = dlor_safetensors_parse(f->b, f->n, WHAT, l, &err);
    CHECK(s == DLOR_OK, "line %d: status %d (%s)", line, s, err.msg);
    return s == DLOR_OK;
}
#define PARSE_OK(f, l) parse_ok_at(__LINE__, f, l)

static void put_f32(unsigned char *p, float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    dlor_store_u32(p, b);
}

static void put_f64(unsigned char *p, double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    dlor_store_u64(p, b);
}

/* ---- valid files ------------------------------------------------------ */

static void test_f32(void)
{
    const char *h = "{\"fc.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";
    const float v[6] = {1.5f, -2.25f, 0.0f, 3e-5f, 1e30f, -0.1f};
    unsigned char d[24];
    for (int i = 0; i < 6; i++) put_f32(d + 4 * i, v[i]);
    blob f = mk(h, d, sizeof d);
    dlor_tensor_list l;
    if (PARSE_OK(&f, &l)) {
        const dlor_tensor *t = &l.items[0];
        double x[6];
        CHECK(l.count == 1 && strcmp(t->name, "fc.w") == 0, "name");
        CHECK(t->dtype == DLOR_DT_F32 && t->ndim == 2 && t->dims[0] == 2 && t->dims[1] == 3,
              "dtype/shape");
        CHECK(t->nelem == 6 && t->nbytes == 24, "nelem %llu nbytes %zu",
              (unsigned long long)t->nelem, t->nbytes);
        /* data points into the buffer (no copy), at 8 + N */
        CHECK(t->data == f.b + 8 + strlen(h), "data pointer not into buf");
        CHECK(dlor_tensor_to_f64(t, x, NULL) == DLOR_OK, "to_f64");
        for (int i = 0; i < 6; i++) CHECK(x[i] == (double)v[i], "f32[%d] = %g", i, x[i]);
        CHECK(l.meta_count == 0 && l.nblocks == 0, "no metadata, no owned blocks");
    }
    dlor_tensor_list_free(&l);
    free(f.b);
}

static void test_f64_scalar(void)
{
    /* a rank-0 tensor holds one element */
    const char *h = "{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}";
    unsigned char d[8];
    put_f64(d, -1.0 / 3.0);
    blob f = mk(h, d, 8);
    dlor_tensor_list l;
    if (PARSE_OK(&f, &l)) {
        const dlor_tensor *t = &l.items[0];
        double x = 0;
        CHECK(t->ndim == 0 && t->nelem == 1 && t->nbytes == 8 && t->dtype == DLOR_DT_F64,
              "scalar: ndim %d nelem %llu", t->ndim, (unsigned long long)t->nelem);
        dlor_tensor_to_f64(t, &x, NULL);
        CHECK(x == -1.0 / 3.0, "scalar value %.17g", x);
    }
    dlor_tensor_list_free(&l);
    free(f.b);
}

static void test_half(void)
{
    /* f16 bit patterns and their values, worked out from the binary16 layout */
    static const struct { uint16_t bits; double val; } h16[] = {
        {0x3c00, 1.0}, {0xc000, -2.0}, {0x3555, 0.333251953125}, {0x7bff, 65504.0},
        {0x0001, 5.9604644775390625e-08}, {0x0400, 6.103515625e-05}, {0x3bff, 0.99951171875},
        {0x8000, -0.0},
    };
    /* bf16: top half of a binary32 */
    static const struct { uint16_t bits; double val; } b16[] = {
        {0x3f80, 1.0}, {0xc040, -3.0}, {0x3eab, 0.333984375}, {0x4049, 3.140625},
        {0x7f7f, 3.3895313892515355e+38}, {0x0080, 1.1754943508222875e-38},
    };
    const size_t nh = sizeof h16 / sizeof h16[0], nb = sizeof b16 / sizeof b16[0];
    char h[256];
    unsigned char d[64];
    snprintf(h, sizeof h,
             "{\"h\":{\"dtype\":\"F16\",\"shape\":[%zu],\"data_offsets\":[0,%zu]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]},"
             "\"sp\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[%zu,%zu]}}",
             nh, 2 * nh, nb, 2 * nh, 2 * (nh + nb), 2 * (nh + nb), 2 * (nh + nb) + 6);
    for (size_t i = 0; i < nh; i++) dlor_store_u16(d + 2 * i, h16[i].bits);
    for (size_t i = 0; i < nb; i++) dlor_store_u16(d + 2 * (nh + i), b16[i].bits);
    dlor_store_u16(d + 2 * (nh + nb), 0x7c00);      /* +inf */
    dlor_store_u16(d + 2 * (nh + nb) + 2, 0xfc00);  /* -inf */
    dlor_store_u16(d + 2 * (nh + nb) + 4, 0x7e00);  /* NaN */
    blob f = mk(h, d, 2 * (nh + nb) + 6);
    dlor_tensor_list l;
    if (PARSE_OK(&f, &l)) {
        double x[16];
        CHECK(l.count == 3, "3 tensors");
        const dlor_tensor *th = dlor_tensor_list_find(&l, "h"), *tb = dlor_tensor_list_find(&l, "b"),
                          *ts = dlor_tensor_list_find(&l, "sp");
        CHECK(th && th->dtype == DLOR_DT_F16 && tb && tb->dtype == DLOR_DT_BF16 && ts, "dtypes");
        if (th && tb && ts) {
            dlor_tensor_to_f64(th, x, NULL);
            for (size_t i = 0; i < nh; i++)
                CHECK(x[i] == h16[i].val && signbit(x[i]) == signbit(h16[i].val),
                      "f16 0x%04x -> %.17g, want %.17g", h16[i].bits, x[i], h16[i].val);
            dlor_tensor_to_f64(tb, x, NULL);
            for (size_t i = 0; i < nb; i++)
                CHECK(x[i] == b16[i].val, "bf16 0x%04x -> %.17g, want %.17g", b16[i].bits, x[i],
                      b16[i].val);
            dlor_tensor_to_f64(ts, x, NULL);
            CHECK(isinf(x[0]) && x[0] > 0 && isinf(x[1]) && x[1] < 0 && isnan(x[2]),
                  "f16 inf/-inf/nan");
        }
    }
    dlor_tensor_list_free(&l);
    free(f.b);
}

static void test_int_dtypes(void)
{
    static const struct { const char *st; dlor_dtype dt; size_t es; } dts[] = {
        {"I8", DLOR_DT_I8, 1}, {"I16", DLOR_DT_I16, 2}, {"I32", DLOR_DT_I32, 4},
        {"I64", DLOR_DT_I64, 8}, {"U8", DLOR_DT_U8, 1}, {"U16", DLOR_DT_U16, 2},
        {"U32", DLOR_DT_U32, 4}, {"U64", DLOR_DT_U64, 8}, {"BOOL", DLOR_DT_BOOL, 1},
    };
    const size_t ndt = sizeof dts / sizeof dts[0];
    char h[2048];
    size_t k = 0, off = 0;
    k += (size_t)snprintf(h + k, sizeof h - k, "{");
    for (size_t i = 0; i < ndt; i++) {
        k += (size_t)snprintf(h + k, sizeof h - k,
                              "%s\"t_%s\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[%zu,%zu]}",
                              i ? "," : "", dts[i].st, dts[i].st, off, off + 3 * dts[i].es);
        off += 3 * dts[i].es;
    }
    snprintf(h + k, sizeof h - k, "}");
    blob f = mkz(h, off);
    /* known values in a few of them: I64 [-2, INT64_MIN, INT64_MAX], BOOL [1,0,1] */
    size_t o64 = 3 * (1 + 2 + 4), ob = off - 3;
    dlor_store_u64(f.b + 8 + strlen(h) + o64, (uint64_t)-2);
    dlor_store_u64(f.b + 8 + strlen(h) + o64 + 8, (uint64_t)1 << 63);
    dlor_store_u64(f.b + 8 + strlen(h) + o64 + 16, ((uint64_t)1 << 63) - 1);
    memcpy(f.b + 8 + strlen(h) + ob, "\1\0\1", 3);
    dlor_tensor_list l;
    if (PARSE_OK(&f, &l)) {
        const unsigned char *data = f.b + 8 + strlen(h);
        size_t pos = 0;
        CHECK(l.count == ndt, "count %zu", l.count);
        for (size_t i = 0; i < ndt && i < l.count; i++) {
            const dlor_tensor *t = &l.items[i];
            char nm[16];
            snprintf(nm, sizeof nm, "t_%s", dts[i].st);
            CHECK(strcmp(t->name, nm) == 0 && t->dtype == dts[i].dt, "%s: name %s dtype %d",
                  dts[i].st, t->name, t->dtype);
            CHECK(t->nbytes == 3 * dts[i].es && t->data == data + pos, "%s: bytes/pointer",
                  dts[i].st);
            pos += 3 * dts[i].es;
        }
        const dlor_tensor *t = dlor_tensor_list_find(&l, "t_I64");
        CHECK(t && (int64_t)dlor_load_u64(t->data) == -2 &&
                  (int64_t)dlor_load_u64(t->data + 8) == INT64_MIN &&
                  (int64_t)dlor_load_u64(t->data + 16) == INT64_MAX, "I64 values");
        t = dlor_tensor_list_find(&l, "t_BOOL");
        CHECK(t && memcmp(t->data, "\1\0\1", 3) == 0, "BOOL values");
        /* integer tensors are not converted to doubles */
        double x[3];
        dlor_error err;
        CHECK(t && dlor_tensor_to_f64(t, x, &err) == DLOR_E_UNSUPPORTED, "bool to_f64 refused");
    }
    dlor_tensor_list_free(&l);
    free(f.b);
}

static void test_order_and_keys(void)
{
    /* header order c, a, b; file order (data_offsets) a, b, c; keys in any order */
    const char *h =
        "{\"c\":{\"data_offsets\":[6,10],\"shape\":[1],\"dtype\":\"F32\"},"
        "\"a\":{\"shape\":[2],\"dtype\":\"U8\",\"data_offsets\":[0,2]},"
        "\"b\":{\"dtype\":\"I16\",\"data_offsets\":[2,6],\"shape\":[2]}}";
    blob f = mkz(h, 10);
    dlor_tensor_list l;
    if (PARSE_OK(&f, &l)) {
        CHECK(l.count == 3 && strcmp(l.items[0].name, "a") == 0 &&
                  strcmp(l.items[1].name, "b") == 0 && strcmp(l.items[2].name, "c") == 0,
              "file order");
        const unsigned char *data = f.b + 8 + strlen(h);
        CHECK(l.items[1].data == data + 2 && l.items[2].data == data + 6, "offsets");
    }
    dlor_tensor_list_free(&l);
    free(f.b);
}

static void test_metadata(void)
{
    const char *h = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\\u00e9 \\\"q\\\"\",\"e\":\"\"},"
                    "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    blob f = mkz(h, 1);
    dlor_tensor_list l;
    if (PARSE_OK(&f, &l)) {
        CHECK(l.count == 1 && l.meta_count == 3, "meta count %zu", l.meta_count);
        if (l.meta_count == 3) {
            CHECK(strcmp(l.meta_keys[0], "format") == 0 && strcmp(l.meta_vals[0], "pt") == 0,
                  "meta 0");
            CHECK(strcmp(l.meta_keys[1], "note") == 0 &&
                      strcmp(l.meta_vals[1], "caf\xc3\xa9 \"q\"") == 0, "meta 1: '%s'",
                  l.meta_vals[1]);
            CHECK(strcmp(l.meta_keys[2], "e") == 0 && l.meta_vals[2][0] == 0, "meta 2");
        }
    }
    dlor_tensor_list_free(&l);
    free(f.b);
    /* metadata only, no tensors; and an empty header object */
    f = mk("{\"__metadata__\":{}}", NULL, 0);
    if (PARSE_OK(&f, &l)) CHECK(l.count == 0 && l.meta_count == 0, "empty metadata");
    dlor_tensor_list_free(&l);
    free(f.b);
    f = mk("{}", NULL, 0);
    if (PARSE_OK(&f, &l)) CHECK(l.count == 0, "empty header");
    dlor_tensor_list_free(&l);
    free(f.b);
}

static void test_zero_size_and_whitespace(void)
{
    dlor_tensor_list l;
    /* zero-size tensors, including one sharing its offset with a real tensor
     * (case 18: accepted, as in the reference; it views no bytes) */
    const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                    "\"e\":{\"dtype\":\"I64\",\"shape\":[5,0],\"data_offsets\":[4,4]}}";
    blob f = mkz(h, 4);
    if (PARSE_OK(&f, &l)) {
        CHECK(l.count == 3 && strcmp(l.items[0].name, "z") == 0 &&
                  strcmp(l.items[1].name, "w") == 0 && strcmp(l.items[2].name, "e") == 0,
              "zero-size order");
        CHECK(l.items[0].nelem == 0 && l.items[0].nbytes == 0 && l.items[0].ndim == 2 &&
                  l.items[0].dims[1] == 3, "zero-size shape kept");
        CHECK(l.items[2].nelem == 0 && l.items[2].nbytes == 0, "zero-size at the end");
    }
    dlor_tensor_list_free(&l);
    free(f.b);

    /* leading and trailing JSON whitespace (writers pad the header) */
    h = " \t\r\n{ \"w\" : { \"dtype\" : \"U8\" , \"shape\" : [ 2 ] , \"data_offsets\" : [ 0 , 2 ] } }"
        "\n\t\r       ";
    f = mkz(h, 2);
    if (PARSE_OK(&f, &l)) CHECK(l.count == 1 && l.items[0].dims[0] == 2, "padded header");
    dlor_tensor_list_free(&l);
    free(f.b);

    /* 8 dimensions is the limit, not beyond */
    h = "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}";
    f = mkz(h, 2);
    if (PARSE_OK(&f, &l)) CHECK(l.items[0].ndim == 8 && l.items[0].nelem == 2, "8 dims");
    dlor_tensor_list_free(&l);
    free(f.b);

    /* escaped and UTF-8 names; a 255-byte name */
    char big[400];
    memset(big, 'n', 255);
    big[255] = 0;
    char hb[700];
    snprintf(hb, sizeof hb,
             "{\"caf\\u00e9.w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
             "\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", big);
    f = mkz(hb, 2);
    if (PARSE_OK(&f, &l))
        CHECK(l.count == 2 && strcmp(l.items[0].name, "caf\xc3\xa9.w") == 0 &&
                  strlen(l.items[1].name) == 255, "names");
    dlor_tensor_list_free(&l);
    free(f.b);
}

/* ---- formats.md §7, cases 1-20 ---------------------------------------- */

static const char *ONE = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

static void test_header_length(void)
{
    unsigned char small[8] = {2, 0, 0, 0, 0, 0, 0, 0};
    /* case 1: shorter than 8 bytes (0..7) */
    for (size_t n = 0; n < 8; n++) {
        blob f = {malloc(8), n};
        memcpy(f.b, small, 8);
        EXPECT_ERR(f, DLOR_E_FORMAT, "too short", NULL);
    }
    /* case 2: 8+N overflows */
    blob f = mk("{}", NULL, 0);
    dlor_store_u64(f.b, UINT64_MAX);
    EXPECT_ERR(f, DLOR_E_LIMIT, "header length 18446744073709551615 exceeds the 100000000-byte",
               NULL);
    f = mk("{}", NULL, 0);
    dlor_store_u64(f.b, UINT64_MAX - 7);    /* 8+N wraps to exactly 0 */
    EXPECT_ERR(f, DLOR_E_LIMIT, "18446744073709551608", NULL);
    /* case 3: just over the cap; the cap itself is a length error, not a limit */
    f = mk("{}", NULL, 0);
    dlor_store_u64(f.b, 100000001);
    EXPECT_ERR(f, DLOR_E_LIMIT, "header length 100000001 exceeds the 100000000-byte limit", NULL);
    f = mk("{}", NULL, 0);
    dlor_store_u64(f.b, 100000000);
    EXPECT_ERR(f, DLOR_E_FORMAT, "header length 100000000 exceeds the 2 bytes", NULL);
    /* case 4: N larger than the file */
    f = mkz(ONE, 8);
    dlor_store_u64(f.b, f.n - 8 + 1);
    EXPECT_ERR(f, DLOR_E_FORMAT, "exceeds the", "bytes after the length field");
    f = mk("{}", NULL, 0);
    dlor_store_u64(f.b, 3);
    EXPECT_ERR(f, DLOR_E_FORMAT, "header length 3 exceeds the 2 bytes", NULL);
    /* N = 0: an empty header is not JSON */
    f = mk("", NULL, 0);
    EXPECT_ERR(f, DLOR_E_FORMAT, "header: invalid JSON at byte 0", NULL);
}

static void test_header_json(void)
{
    /* case 5: not UTF-8 */
    EXPECT_ERR(mkz("{\"a\xff\":{}}", 0), DLOR_E_FORMAT, "not valid UTF-8", "0xff at header byte 3");
    EXPECT_ERR(mkz("{\"a\xed\xa0\x80\":{}}", 0), DLOR_E_FORMAT, "not valid UTF-8", "byte 3");
    EXPECT_ERR(mkz("{\"a\xc0\xaf\":{}}", 0), DLOR_E_FORMAT, "not valid UTF-8", NULL);
    /* case 6: not JSON */
    EXPECT_ERR(mkz("{", 0), DLOR_E_FORMAT, "header: invalid JSON at byte 1", "end of input");
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"F32\",}}", 0), DLOR_E_FORMAT, "invalid JSON at byte 20",
               NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":'F32'}}", 0), DLOR_E_FORMAT, "invalid JSON", NULL);
    EXPECT_ERR(mkz("{\"a\":1} {\"b\":2}", 0), DLOR_E_FORMAT, "after the top-level value", NULL);
    EXPECT_ERR(mk_n("{}\0\0\0\0\0\0", 8, NULL, 0), DLOR_E_FORMAT, "invalid JSON at byte 2", NULL);
    /* JSON syntax is checked before the entries: the bad dtype comes first
     * here, but the file is reported as malformed JSON */
    EXPECT_ERR(mkz("{\"a\":{\"dtype\":\"X\"},\"b\":[1,]}", 0), DLOR_E_FORMAT, "invalid JSON", NULL);
    /* case 7: not an object, or not starting with '{' */
    EXPECT_ERR(mkz("[]", 0), DLOR_E_FORMAT, "header is a JSON array, expected an object", NULL);
    EXPECT_ERR(mkz("  [1,2]", 0), DLOR_E_FORMAT, "header is a JSON array", NULL);
    EXPECT_ERR(mkz("5", 0), DLOR_E_FORMAT, "header is a JSON number", NULL);
    EXPECT_ERR(mkz("\"{}\"", 0), DLOR_E_FORMAT, "header is a JSON string", NULL);
    EXPECT_ERR(mkz("null", 0), DLOR_E_FORMAT, "header is a JSON null", NULL);
    EXPECT_ERR(mkz("\xef\xbb\xbf{}", 0), DLOR_E_FORMAT, "invalid JSON at byte 0", NULL);
    EXPECT_ERR(mkz("x{}", 0), DLOR_E_FORMAT, "invalid JSON at byte 0", NULL);
}

static void test_buffer_bounds(void)
{
    /* case 8: trailing bytes after the last tensor (polyglot) */
    EXPECT_ERR(mkz(ONE, 9), DLOR_E_FORMAT, "1 trailing bytes after the last tensor", NULL);
    {
        blob f = mkz(ONE, 8 + 22);
        memcpy(f.b + f.n - 22, "PK\x05\x06", 4);
        EXPECT_ERR(f, DLOR_E_FORMAT, "22 trailing bytes", NULL);
    }
    EXPECT_ERR(mkz("{}", 1), DLOR_E_FORMAT, "1 trailing bytes", NULL);
    /* case 9: data 2 bytes short */
    EXPECT_ERR(mkz(ONE, 6), DLOR_E_FORMAT, "tensors need 8 data bytes but the file holds 6", NULL);
    /* case 10: gap */
    EXPECT_ERR(mkz("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12),
               DLOR_E_FORMAT, "tensor 'b': data_offsets [8, 12] leave a gap of 4 bytes",
               "'a', which ends at 4");
    /* case 11: overlap */
    EXPECT_ERR(mkz("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}", 12),
               DLOR_E_FORMAT, "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]", NULL);
    /* case 11: 10k entries all on [0,16] (the reference's DoS sample) */
    {
        size_t n = 10000, k = 0, cap = n * 80;
        char *h = malloc(cap);
        h[k++] = '{';
        for (size_t i = 0; i < n; i++)
            k += (size_t)snprintf(h + k, cap - k,
                                  "%s\"t%zu\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]}",
                                  i ? "," : "", i);
        h[k++] = '}';
        h[k] = 0;
        EXPECT_ERR(mkz(h, 16), DLOR_E_FORMAT, "data_offsets [0, 16] overlap tensor 't0' [0, 16]",
                   "tensor 't1'");
        free(h);
    }
    /* case 12: END < BEGIN; first BEGIN != 0 */
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8),
               DLOR_E_FORMAT, "tensor 'w': data_offsets [8, 4] end before they begin", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8),
               DLOR_E_FORMAT, "tensor 'w': data_offsets [4, 8]: the first tensor must begin at 0",
               NULL);
    /* a zero-size tensor inside another one's span, or past the end */
    EXPECT_ERR(mkz("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                   "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}", 8),
               DLOR_E_FORMAT, "tensor 'z': data_offsets [4, 4] overlap tensor 'a' [0, 8]", NULL);
    EXPECT_ERR(mkz("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                   "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[12,12]}}", 8),
               DLOR_E_FORMAT, "tensor 'z'", "gap of 4 bytes");
    /* hostile sizes within the integer range never lead to a read or an
     * allocation: the tensors are checked against the bytes present */
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[67108864,67108864],"
                   "\"data_offsets\":[0,4503599627370496]}}", 0),
               DLOR_E_FORMAT, "tensors need 4503599627370496 data bytes but the file holds 0",
               NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[9007199254740991],"
                   "\"data_offsets\":[0,9007199254740991]}}", 3),
               DLOR_E_FORMAT, "need 9007199254740991 data bytes", NULL);
}

static void test_shapes(void)
{
    /* case 13: shape/size mismatch */
    EXPECT_ERR(mkz("{\"x\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4),
               DLOR_E_FORMAT, "tensor 'x': shape [2, 2] with dtype I32 needs 16 bytes, "
                              "data_offsets span 4", NULL);
    EXPECT_ERR(mkz("{\"fc1.weight\":{\"dtype\":\"F32\",\"shape\":[768,3072],"
                   "\"data_offsets\":[0,4096]}}", 4096),
               DLOR_E_FORMAT, "model.safetensors: tensor 'fc1.weight': shape [768, 3072] with "
                              "dtype F32 needs 9437184 bytes, data_offsets span 4096", NULL);
    EXPECT_ERR(mkz("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}}", 0),
               DLOR_E_FORMAT, "shape [] with dtype F32 needs 4 bytes, data_offsets span 0", NULL);
    EXPECT_ERR(mkz("{\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,4]}}", 4),
               DLOR_E_FORMAT, "needs 0 bytes, data_offsets span 4", NULL);
    /* case 14: shape product overflow */
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[2,18446744073709551614],"
                   "\"data_offsets\":[0,4]}}", 4),
               DLOR_E_FORMAT, "shape value 18446744073709551614 is not an integer in [0, 2^53-1]",
               "tensor 'w'");
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[2,9223372036854775807],"
                   "\"data_offsets\":[0,4]}}", 4),
               DLOR_E_FORMAT, "9223372036854775807 is not an integer", NULL);
    /* each factor is in range but the product wraps to 4 in 64 bits */
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[4194305,4194305,211106198978564],"
                   "\"data_offsets\":[0,4]}}", 4),
               DLOR_E_FORMAT, "tensor 'w': shape [4194305, 4194305, 211106198978564]: element "
                              "count overflows", NULL);
    /* the element count fits, the byte count (x4) wraps to 0 */
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],"
                   "\"data_offsets\":[0,0]}}", 0),
               DLOR_E_FORMAT, "with dtype F32: byte size overflows", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[2147483648,2147483648],"
                   "\"data_offsets\":[0,4]}}", 4),
               DLOR_E_FORMAT, "needs 4611686018427387904 bytes, data_offsets span 4", NULL);
    /* more than 8 dimensions */
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                   "\"data_offsets\":[0,1]}}", 1),
               DLOR_E_LIMIT, "tensor 'w': shape has more than 8 dimensions", NULL);
}

static void test_numbers(void)
{
    static const struct { const char *shape, *offsets, *n1; } cases[] = {
        /* case 15: negative, float, string, over 2^53 */
        {"[-1]", "[0,4]", "shape value -1 is not an integer"},
        {"[1.5]", "[0,4]", "shape value 1.5 is not an integer"},
        {"[4.0]", "[0,4]", "shape value 4.0 is not"},
        {"[4e0]", "[0,4]", "shape value 4e0 is not"},
        {"[-0]", "[0,4]", "shape value -0 is not"},
        {"[\"4\"]", "[0,4]", "shape item is a JSON string, expected a non-negative integer"},
        {"[true]", "[0,4]", "shape item is a JSON boolean"},
        {"[null]", "[0,4]", "shape item is a JSON null"},
        {"[[4]]", "[0,4]", "shape item is a JSON array"},
        {"[9007199254740992]", "[0,4]", "9007199254740992 is not an integer in [0, 2^53-1]"},
        {"[123456789012345678901234567890123456789012345678901234567890]", "[0,4]",
         "shape value 1234567890123456789012345678901234567890... is not"},
        {"4", "[0,4]", "shape is a JSON number, expected an array"},
        {"{}", "[0,4]", "shape is a JSON object"},
        {"[4]", "[-1,4]", "data_offsets value -1 is not"},
        {"[4]", "[0,4.5]", "data_offsets value 4.5 is not"},
        {"[4]", "[0,\"4\"]", "data_offsets item is a JSON string"},
        {"[4]", "[0,1e2]", "data_offsets value 1e2"},
        {"[4]", "[0,9007199254740992]", "data_offsets value 9007199254740992"},
        {"[4]", "[0,18446744073709551616]", "data_offsets value 18446744073709551616"},
        {"[4]", "[0]", "data_offsets has 1 items, expected 2"},
        {"[4]", "[0,4,8]", "data_offsets has 3 items, expected 2"},
        {"[4]", "[0,4,[1,2],\"x\"]", "data_offsets has 4 items"},
        {"[4]", "[]", "data_offsets has 0 items"},
        {"[4]", "\"0,4\"", "data_offsets is a JSON string, expected an array"},
        {"[4]", "null", "data_offsets is a JSON null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char h[512];
        snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"U8\",\"shape\":%s,\"data_offsets\":%s}}",
                 cases[i].shape, cases[i].offsets);
        EXPECT_ERR(mkz(h, 4), DLOR_E_FORMAT, "tensor 'w': ", cases[i].n1);
    }
    /* 2^53-1 itself is in range (it then fails on the missing bytes) */
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],"
                   "\"data_offsets\":[9007199254740991,9007199254740991]}}", 0),
               DLOR_E_FORMAT, "data_offsets [9007199254740991, 9007199254740991]: the first", NULL);
}

static void test_dtypes(void)
{
    static const char *const unsupported[] = {"F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3",
                                              "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "C64"};
    static const char *const unknown[] = {"F128", "f32", "bf16", "Bool", "float32", "", "F32 ",
                                          "I4", "U128"};
    char h[512], n1[64];
    /* case 16: known but unsupported dtypes, including F4 with an odd count */
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,2]}}",
                 unsupported[i]);
        snprintf(n1, sizeof n1, "tensor 'w': dtype %s is not supported", unsupported[i]);
        EXPECT_ERR(mkz(h, 2), DLOR_E_UNSUPPORTED, n1, NULL);
    }
    /* case 16: unknown dtype strings */
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"%s\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                 unknown[i]);
        snprintf(n1, sizeof n1, "tensor 'w': unknown dtype '%s'", unknown[i]);
        EXPECT_ERR(mkz(h, 4), DLOR_E_UNSUPPORTED, n1, NULL);
    }
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
               DLOR_E_FORMAT, "tensor 'w': dtype is a JSON number, expected a string", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":[\"F32\"],\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
               DLOR_E_FORMAT, "dtype is a JSON array", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"F\\u0000\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
               DLOR_E_UNSUPPORTED, "unknown dtype 'F?'", NULL);
}

static void test_entries(void)
{
    /* case 17: duplicate tensor key with a different dtype/shape (aliasing),
     * with distinct and with identical offsets */
    EXPECT_ERR(mkz("{\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                   "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
               DLOR_E_FORMAT, "tensor 'x': duplicate tensor name", NULL);
    EXPECT_ERR(mkz("{\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                   "\"y\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
                   "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8),
               DLOR_E_FORMAT, "tensor 'x': duplicate tensor name", NULL);
    /* the same name spelled with an escape is the same name */
    EXPECT_ERR(mkz("{\"ab\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                   "\"a\\u0062\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8),
               DLOR_E_FORMAT, "tensor 'ab': duplicate tensor name", NULL);
    /* entry structure */
    EXPECT_ERR(mkz("{\"w\":[1]}", 0), DLOR_E_FORMAT, "tensor 'w': entry is a JSON array, "
                                                     "expected an object", NULL);
    EXPECT_ERR(mkz("{\"w\":\"F32\"}", 0), DLOR_E_FORMAT, "entry is a JSON string", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":1}}", 1),
               DLOR_E_FORMAT, "tensor 'w': unknown key 'extra'", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"offsets\":[0,1]}}", 1),
               DLOR_E_FORMAT, "unknown key 'offsets'", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1), DLOR_E_FORMAT,
               "tensor 'w': missing key 'shape'", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1), DLOR_E_FORMAT,
               "missing key 'dtype'", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1), DLOR_E_FORMAT,
               "missing key 'data_offsets'", NULL);
    EXPECT_ERR(mkz("{\"w\":{}}", 0), DLOR_E_FORMAT, "missing key", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"dtype\":\"F32\",\"shape\":[1],"
                   "\"data_offsets\":[0,1]}}", 1), DLOR_E_FORMAT, "duplicate key 'dtype'", NULL);
    EXPECT_ERR(mkz("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"shape\":[1],"
                   "\"data_offsets\":[0,1]}}", 1), DLOR_E_FORMAT, "duplicate key 'shape'", NULL);
    /* names */
    EXPECT_ERR(mkz("{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1),
               DLOR_E_FORMAT, "empty tensor name", NULL);
    EXPECT_ERR(mkz("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1),
               DLOR_E_FORMAT, "tensor 'a?b': name contains a NUL byte", NULL);
    /* a control character in a name is shown as '?' so the message stays one line */
    EXPECT_ERR(mkz("{\"bad\\nname\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1),
               DLOR_E_FORMAT, "tensor 'bad?name': shape [2]", NULL);
    {
        char name[300], h[700];
        memset(name, 'n', 256);
        name[256] = 0;
        snprintf(h, sizeof h, "{\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                 name);
        EXPECT_ERR(mkz(h, 1), DLOR_E_LIMIT, "name of 256 bytes exceeds the 255-byte limit",
                   "nnnn...");
    }
}

static void test_metadata_errors(void)
{
    const char *t = "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
    static const struct { const char *meta, *n1; } cases[] = {
        /* case 19 */
        {"{\"k\":1}", "__metadata__ value for key 'k' is a JSON number, expected a string"},
        {"{\"a\":\"b\",\"k\":{\"x\":\"y\"}}", "value for key 'k' is a JSON object"},
        {"{\"k\":[\"a\"]}", "value for key 'k' is a JSON array"},
        {"{\"k\":null}", "value for key 'k' is a JSON null"},
        {"{\"k\":true}", "value for key 'k' is a JSON boolean"},
        {"[\"k\",\"v\"]", "__metadata__ is a JSON array, expected an object of strings"},
        {"\"k=v\"", "__metadata__ is a JSON string"},
        /* a tensor named __metadata__ is read as metadata and refused */
        {"{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}",
         "value for key 'shape' is a JSON array"},
        {"{\"k\":\"a\",\"j\":\"b\",\"k\":\"c\"}", "duplicate __metadata__ key 'k'"},
        {"{\"k\\u0000x\":\"v\"}", "contains a NUL byte"},
        {"{\"k\":\"v\\u0000\"}", "key or value for key 'k' contains a NUL byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char h[512];
        snprintf(h, sizeof h, "{\"__metadata__\":%s,%s}", cases[i].meta, t);
        EXPECT_ERR(mkz(h, 1), DLOR_E_FORMAT, cases[i].n1, NULL);
    }
    EXPECT_ERR(mkz("{\"__metadata__\":{},\"__metadata__\":{}}", 0), DLOR_E_FORMAT,
               "duplicate __metadata__", NULL);
    EXPECT_ERR(mkz("{\"__metadata__\":{\"a\":\"b\"},\"w\":{\"dtype\":\"U8\",\"shape\":[1],"
                   "\"data_offsets\":[0,1]},\"__metadata__\":{\"c\":\"d\"}}", 1),
               DLOR_E_FORMAT, "duplicate __metadata__", NULL);
    /* too many metadata entries */
    {
        size_t n = 65537, k = 0, cap = n * 24 + 64;
        char *h = malloc(cap);
        k += (size_t)snprintf(h, cap, "{\"__metadata__\":{");
        for (size_t i = 0; i < n; i++)
            k += (size_t)snprintf(h + k, cap - k, "%s\"k%zu\":\"v\"", i ? "," : "", i);
        snprintf(h + k, cap - k, "}}");
        EXPECT_ERR(mkz(h, 0), DLOR_E_LIMIT, "__metadata__ has more than 65536 entries", NULL);
        free(h);
    }
}

static void test_hostile_json(void)
{
    size_t n = 100000;
    char *h = malloc(12 * n + 256);
    /* case 20: 100k levels of '[' */
    memset(h, '[', n);
    h[n] = 0;
    EXPECT_ERR(mkz(h, 0), DLOR_E_LIMIT, "header: invalid JSON at byte 64: nesting deeper than 64",
               NULL);
    memset(h + n, ']', n);
    h[2 * n] = 0;
    EXPECT_ERR(mkz(h, 0), DLOR_E_LIMIT, "nesting deeper than 64", NULL);
    /* ... and of objects inside an entry */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += (size_t)sprintf(h + k, "{\"a\":");
    h[k] = 0;
    EXPECT_ERR(mkz(h, 0), DLOR_E_LIMIT, "nesting deeper than 64", NULL);
    /* a 1M-item shape stops at the 9th item */
    k = (size_t)sprintf(h, "{\"w\":{\"dtype\":\"U8\",\"shape\":[");
    for (size_t i = 0; i < n; i++) k += (size_t)sprintf(h + k, "%s1", i ? "," : "");
    sprintf(h + k, "],\"data_offsets\":[0,1]}}");
    EXPECT_ERR(mkz(h, 1), DLOR_E_LIMIT, "more than 8 dimensions", NULL);
    free(h);

    /* huge strings and escape runs inside the header limit: a 12 MB
     * metadata value of \u00e9 escapes decodes to 4 MB */
    size_t reps = 2000000;
    h = malloc(6 * reps + 256);
    k = (size_t)sprintf(h, "{\"__metadata__\":{\"big\":\"");
    for (size_t i = 0; i < reps; i++) {
        memcpy(h + k, "\\u00e9", 6);
        k += 6;
    }
    sprintf(h + k, "\"}}");
    {
        blob f = mkz(h, 0);
        dlor_tensor_list l;
        if (PARSE_OK(&f, &l))
            CHECK(l.meta_count == 1 && strlen(l.meta_vals[0]) == 2 * reps,
                  "big metadata value");
        dlor_tensor_list_free(&l);
        free(f.b);
    }
    /* a huge tensor name is refused at the name limit */
    k = (size_t)sprintf(h, "{\"");
    memset(h + k, 'x', 1000000);
    k += 1000000;
    sprintf(h + k, "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}");
    EXPECT_ERR(mkz(h, 1), DLOR_E_LIMIT, "name of 1000000 bytes exceeds the 255-byte limit", NULL);
    free(h);
}

static void test_tensor_count_limit(void)
{
    size_t n = DLOR_MAX_TENSORS + 1, k = 0, cap = n * 56 + 16;
    char *h = malloc(cap);
    h[k++] = '{';
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(h + k, cap - k,
                              "%s\"%zx\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                              i ? "," : "", i);
    h[k++] = '}';
    h[k] = 0;
    EXPECT_ERR(mkz(h, 0), DLOR_E_LIMIT, "more than 1048576 tensors", NULL);
    free(h);
}

/* Every truncation of a valid file, and many random corruptions of it, give
 * either a clean result or a clean error (ASan/UBSan watch the reads). */
static void test_mutations(void)
{
    const char *h = "{\"__metadata__\":{\"k\":\"v\"},"
                    "\"a\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                    "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[12,20]},"
                    "\"c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[20,22]}}";
    blob f = mkz(h, 22);
    dlt_rng rng = {12345};
    int truncs_ok = 1, clean = 1, accepted = 0;
    for (size_t n = 0; n < f.n; n++) {
        dlor_tensor_list l;
        dlor_error err = {0};
        unsigned char *copy = malloc(n ? n : 1);
        memcpy(copy, f.b, n);
        dlor_tensor_list_init(&l);
        if (dlor_safetensors_parse(copy, n, WHAT, &l, &err) == DLOR_OK || !list_empty(&l))
            truncs_ok = 0;
        dlor_tensor_list_free(&l);
        free(copy);
    }
    CHECK(truncs_ok, "every truncation is refused");
    for (int iter = 0; iter < 20000; iter++) {
        dlor_tensor_list l;
        dlor_error err = {0};
        unsigned char *copy = malloc(f.n);
        memcpy(copy, f.b, f.n);
        int flips = 1 + (int)(dlt_uniform(&rng) * 3);
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)(dlt_uniform(&rng) * (double)f.n);
            copy[at] = (unsigned char)(dlt_uniform(&rng) * 256);
        }
        dlor_tensor_list_init(&l);
        dlor_status s = dlor_safetensors_parse(copy, f.n, WHAT, &l, &err);
        if (s == DLOR_OK) {
            accepted++;
            for (size_t i = 0; i < l.count; i++)
                if (l.items[i].data < copy + 8 || l.items[i].data + l.items[i].nbytes > copy + f.n)
                    clean = 0;
        } else if (!list_empty(&l) || strncmp(err.msg, WHAT ": ", strlen(WHAT) + 2) != 0 ||
                   strchr(err.msg, '\n')) {
            clean = 0;
        }
        dlor_tensor_list_free(&l);
        free(copy);
    }
    CHECK(clean, "random corruptions handled cleanly");
    CHECK(accepted > 0 && accepted < 20000, "some corruptions (data bytes) are accepted: %d",
          accepted);
    free(f.b);
}

/* ---- reading files ---------------------------------------------------- */

static void test_read_file(void)
{
    char path[512];
    dlor_tensor_list l;
    dlor_error err = {0};
    const float v[2] = {0.5f, -7.0f};
    unsigned char d[8];
    put_f32(d, v[0]);
    put_f32(d + 4, v[1]);
    blob f = mk(ONE, d, 8);
    dlt_tmp_path(path, sizeof path, "st_ok.safetensors");
    CHECK(dlt_write_file(path, f.b, f.n) == 0, "write %s", path);
    free(f.b);
    dlor_tensor_list_init(&l);
    dlor_status s = dlor_read_safetensors(path, &l, &err);
    CHECK(s == DLOR_OK, "read_safetensors: %s", err.msg);
    if (s == DLOR_OK) {
        double x[2];
        CHECK(l.count == 1 && l.nmaps == 1 && l.nblocks == 0, "list owns the file's mapping");
        dlor_tensor_to_f64(&l.items[0], x, NULL);
        CHECK(x[0] == 0.5 && x[1] == -7.0, "values from file");
        /* released pages load again from the file when read */
        dlor_tensor_release(&l, &l.items[0]);
        x[0] = x[1] = 0;
        dlor_tensor_to_f64(&l.items[0], x, NULL);
        CHECK(x[0] == 0.5 && x[1] == -7.0, "values from file after release");
    }
    dlor_tensor_list_free(&l);

    /* a malformed file: the message names the path; nothing is kept */
    f = mkz(ONE, 9);
    dlt_tmp_path(path, sizeof path, "st_trailing.safetensors");
    CHECK(dlt_write_file(path, f.b, f.n) == 0, "write %s", path);
    free(f.b);
    dlor_tensor_list_init(&l);
    s = dlor_read_safetensors(path, &l, &err);
    CHECK(s == DLOR_E_FORMAT && strstr(err.msg, path) && strstr(err.msg, "1 trailing bytes"),
          "trailing via file: %d %s", s, err.msg);
    CHECK(list_empty(&l), "list empty after file failure");

    /* a missing file */
    dlt_tmp_path(path, sizeof path, "st_does_not_exist.safetensors");
    s = dlor_read_safetensors(path, &l, &err);
    CHECK(s == DLOR_E_IO && strstr(err.msg, path) != NULL, "missing file: %d %s", s, err.msg);
    CHECK(list_empty(&l), "list empty after missing file");
    dlor_tensor_list_free(&l);
}

int main(void)
{
    test_f32();
    test_f64_scalar();
    test_half();
    test_int_dtypes();
    test_order_and_keys();
    test_metadata();
    test_zero_size_and_whitespace();
    test_header_length();
    test_header_json();
    test_buffer_bounds();
    test_shapes();
    test_numbers();
    test_dtypes();
    test_entries();
    test_metadata_errors();
    test_hostile_json();
    test_tensor_count_limit();
    test_mutations();
    test_read_file();
    return dlt_finish();
}
