/* test_npy - the .npy reader: valid files of every accepted descr and
 * version, Fortran order, big-endian data, scalars and zero-size arrays, and
 * the malformed inputs of formats.md section 7, cases 21-29. Every file is
 * built byte by byte here; expected values never come from the reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_readers.h"
#include "testutil.h"

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)((v >> 8) & 0xff);
}
static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* A .npy with an explicit header length field and raw header bytes. */
static unsigned char *npy_raw(int major, int minor, uint32_t hlen_field, const void *hdr,
                              size_t hdr_n, const void *data, size_t dlen, size_t *len)
{
    size_t prefix = major == 1 ? 10 : 12;
    unsigned char *b = malloc(prefix + hdr_n + dlen + 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = (unsigned char)minor;
    if (major == 1) put16(b + 8, hlen_field);
    else put32(b + 8, hlen_field);
    if (hdr_n) memcpy(b + prefix, hdr, hdr_n);
    if (dlen) memcpy(b + prefix + hdr_n, data, dlen);
    *len = prefix + hdr_n + dlen;
    return b;
}

/* A .npy the way numpy writes it: dict, space padding, '\n', total % align == 0. */
static unsigned char *npy_build(int major, const char *dict, size_t align, const void *data,
                                size_t dlen, size_t *len)
{
    size_t prefix = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t pad = (align - (prefix + dl + 1) % align) % align, hlen = dl + pad + 1;
    char *h = malloc(hlen);
    memcpy(h, dict, dl);
    memset(h + dl, ' ', pad);
    h[hlen - 1] = '\n';
    unsigned char *b = npy_raw(major, 0, (uint32_t)hlen, h, hlen, data, dlen, len);
    free(h);
    return b;
}

static unsigned char *npy64(const char *dict, const void *data, size_t dlen, size_t *len)
{
    return npy_build(1, dict, 64, data, dlen, len);
}

static int list_empty(const dlor_tensor_list *l)
{
    return l->count == 0 && l->nblocks == 0 && l->items == NULL && l->blocks == NULL;
}

/* Parses buf (taking ownership) and checks the status and a message fragment. */
static void expect_fail(const char *label, unsigned char *buf, size_t len, dlor_status want,
                        const char *frag)
{
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    err.msg[0] = 0;
    dlor_status st = dlor_npy_parse(buf, len, "t.npy", "t", &l, &err);
    if (getenv("DLOR_TEST_VERBOSE")) fprintf(stderr, "%-28s -> %s\n", label, err.msg);
    CHECK(st == want, "%s: status %d (%s), want %d", label, (int)st, err.msg, (int)want);
    if (st != DLOR_OK) {
        CHECK(strstr(err.msg, frag) != NULL, "%s: message '%s' lacks '%s'", label, err.msg, frag);
        CHECK(strncmp(err.msg, "t.npy: ", 7) == 0, "%s: message '%s' does not name the file",
              label, err.msg);
        CHECK(strchr(err.msg, '\n') == NULL, "%s: message has a newline", label);
    }
    CHECK(st == DLOR_OK || list_empty(&l), "%s: list not empty after failure", label);
    dlor_tensor_list_free(&l);
    free(buf);
}

static void expect_dict_fail(const char *label, const char *dict, size_t dlen, dlor_status want,
                             const char *frag)
{
    static unsigned char zeros[64];
    size_t len;
    unsigned char *b = npy64(dict, zeros, dlen, &len);
    expect_fail(label, b, len, want, frag);
}

/* ---- valid files ------------------------------------------------------- */

static const struct {
    const char *descr;
    dlor_dtype dt;
    size_t es;
    int big;
} descrs[] = {
    {"<f2", DLOR_DT_F16, 2, 0}, {">f2", DLOR_DT_F16, 2, 1}, {"<f4", DLOR_DT_F32, 4, 0},
    {">f4", DLOR_DT_F32, 4, 1}, {"<f8", DLOR_DT_F64, 8, 0}, {">f8", DLOR_DT_F64, 8, 1},
    {"|i1", DLOR_DT_I8, 1, 0},  {"|u1", DLOR_DT_U8, 1, 0},  {"|b1", DLOR_DT_BOOL, 1, 0},
    {"<i2", DLOR_DT_I16, 2, 0}, {">i2", DLOR_DT_I16, 2, 1}, {"<i4", DLOR_DT_I32, 4, 0},
    {">i4", DLOR_DT_I32, 4, 1}, {"<i8", DLOR_DT_I64, 8, 0}, {">i8", DLOR_DT_I64, 8, 1},
    {"<u2", DLOR_DT_U16, 2, 0}, {">u2", DLOR_DT_U16, 2, 1}, {"<u4", DLOR_DT_U32, 4, 0},
    {">u4", DLOR_DT_U32, 4, 1}, {"<u8", DLOR_DT_U64, 8, 0}, {">u8", DLOR_DT_U64, 8, 1},
};

/* Every accepted descr, 3 elements: element i has LE bytes i*16+b+1 (b = 0..es-1);
 * big-endian files hold them reversed and must come out in that LE order. */
static void test_every_descr(void)
{
    for (size_t d = 0; d < sizeof descrs / sizeof descrs[0]; d++) {
        unsigned char data[24], want[24];
        size_t es = descrs[d].es, len;
        for (size_t i = 0; i < 3; i++)
            for (size_t b = 0; b < es; b++) {
                want[i * es + b] = (unsigned char)(i * 16 + b + 1);
                data[i * es + (descrs[d].big ? es - 1 - b : b)] = want[i * es + b];
            }
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (3,), }",
                 descrs[d].descr);
        unsigned char *buf = npy64(dict, data, 3 * es, &len);
        CHECK(len == 128 + 3 * es, "%s: file length %zu", descrs[d].descr, len);
        dlor_tensor_list l;
        dlor_error err;
        dlor_tensor_list_init(&l);
        dlor_status st = dlor_npy_parse(buf, len, "d.npy", "w", &l, &err);
        CHECK(st == DLOR_OK, "%s: %s", descrs[d].descr, err.msg);
        if (st == DLOR_OK && l.count == 1) {
            const dlor_tensor *t = &l.items[0];
            CHECK(t->dtype == descrs[d].dt, "%s: dtype %d", descrs[d].descr, (int)t->dtype);
            CHECK(strcmp(t->name, "w") == 0, "%s: name %s", descrs[d].descr, t->name);
            CHECK(t->ndim == 1 && t->dims[0] == 3 && t->nelem == 3 && t->nbytes == 3 * es,
                  "%s: shape", descrs[d].descr);
            CHECK(memcmp(t->data, want, 3 * es) == 0, "%s: data bytes", descrs[d].descr);
            /* little-endian (or one-byte) data is used in place */
            if (!descrs[d].big)
                CHECK(t->data == buf + 128, "%s: data was copied", descrs[d].descr);
            else
                CHECK(t->data != buf + 128 && l.nblocks == 1, "%s: no owned block", descrs[d].descr);
        }
        CHECK(l.count == 1, "%s: %zu tensors", descrs[d].descr, l.count);
        dlor_tensor_list_free(&l);
        free(buf);
    }
}

/* Big-endian values decode to the right numbers (not just reversed bytes). */
static void test_big_endian_values(void)
{
    /* 1.5 = 0x3FF8000000000000, -2.0 = 0xC000000000000000 */
    const unsigned char be8[16] = {0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0};
    /* 0.25f = 0x3E800000; 1.0f16 = 0x3C00; i4 -2 = 0xFFFFFFFE; u2 0x1234 */
    const unsigned char be4[4] = {0x3e, 0x80, 0, 0}, be2[2] = {0x3c, 0x00};
    const unsigned char bei4[4] = {0xff, 0xff, 0xff, 0xfe}, beu2[2] = {0x12, 0x34};
    size_t len;
    dlor_tensor_list l;
    dlor_error err;
    double dv[2];
    unsigned char *b;

    dlor_tensor_list_init(&l);
    b = npy64("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", be8, 16, &len);
    CHECK(dlor_npy_parse(b, len, "be.npy", "x", &l, &err) == DLOR_OK, "%s", err.msg);
    if (l.count == 1) {
        memcpy(dv, l.items[0].data, 16); /* host is little-endian (checked in main) */
        CHECK(dv[0] == 1.5 && dv[1] == -2.0, ">f8 values %g %g", dv[0], dv[1]);
    }
    dlor_tensor_list_free(&l);
    free(b);

    b = npy64("{'descr': '>f4', 'fortran_order': False, 'shape': (), }", be4, 4, &len);
    CHECK(dlor_npy_parse(b, len, "be.npy", "x", &l, &err) == DLOR_OK, "%s", err.msg);
    if (l.count == 1) {
        float f;
        memcpy(&f, l.items[0].data, 4);
        CHECK(f == 0.25f && l.items[0].ndim == 0 && l.items[0].nelem == 1, ">f4 scalar %g", f);
    }
    dlor_tensor_list_free(&l);
    free(b);

    b = npy64("{'descr': '>f2', 'fortran_order': False, 'shape': (1,), }", be2, 2, &len);
    CHECK(dlor_npy_parse(b, len, "be.npy", "x", &l, &err) == DLOR_OK, "%s", err.msg);
    if (l.count == 1)
        CHECK(l.items[0].data[0] == 0x00 && l.items[0].data[1] == 0x3c, ">f2 bytes");
    dlor_tensor_list_free(&l);
    free(b);

    b = npy64("{'descr': '>i4', 'fortran_order': False, 'shape': (1,), }", bei4, 4, &len);
    CHECK(dlor_npy_parse(b, len, "be.npy", "x", &l, &err) == DLOR_OK, "%s", err.msg);
    if (l.count == 1) {
        int32_t v;
        memcpy(&v, l.items[0].data, 4);
        CHECK(v == -2, ">i4 value %d", (int)v);
    }
    dlor_tensor_list_free(&l);
    free(b);

    b = npy64("{'descr': '>u2', 'fortran_order': False, 'shape': (1,), }", beu2, 2, &len);
    CHECK(dlor_npy_parse(b, len, "be.npy", "x", &l, &err) == DLOR_OK, "%s", err.msg);
    if (l.count == 1) {
        uint16_t v;
        memcpy(&v, l.items[0].data, 2);
        CHECK(v == 0x1234, ">u2 value %x", (unsigned)v);
    }
    dlor_tensor_list_free(&l);
    free(b);
}

/* Fortran-order data comes out in C order. Values encode their C index:
 * rank 2 (2,3): 10*i+j; rank 3 (2,3,4): 100*i+10*j+k; rank 4 (2,1,3,2). */
static void test_fortran(void)
{
    size_t len;
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);

    {   /* rank 2, <f4 */
        float src[6];
        size_t n = 0;
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 2; i++) src[n++] = (float)(10 * i + j);
        unsigned char *b = npy64("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                 src, sizeof src, &len);
        CHECK(dlor_npy_parse(b, len, "f.npy", "f", &l, &err) == DLOR_OK, "%s", err.msg);
        if (l.count == 1) {
            const dlor_tensor *t = &l.items[0];
            CHECK(t->ndim == 2 && t->dims[0] == 2 && t->dims[1] == 3, "rank-2 shape");
            for (int k = 0; k < 6; k++) {
                float v;
                memcpy(&v, t->data + 4 * k, 4);
                CHECK(v == (float)(10 * (k / 3) + k % 3), "rank-2 element %d = %g", k, v);
            }
        }
        dlor_tensor_list_free(&l);
        free(b);
    }
    {   /* rank 3, <i4 */
        int32_t src[24];
        size_t n = 0;
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 3; j++)
                for (int i = 0; i < 2; i++) src[n++] = 100 * i + 10 * j + k;
        unsigned char *b = npy64("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 4), }",
                                 src, sizeof src, &len);
        CHECK(dlor_npy_parse(b, len, "f.npy", "f", &l, &err) == DLOR_OK, "%s", err.msg);
        if (l.count == 1) {
            const dlor_tensor *t = &l.items[0];
            int bad = 0;
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 3; j++)
                    for (int k = 0; k < 4; k++) {
                        int32_t v;
                        memcpy(&v, t->data + 4 * (size_t)((i * 3 + j) * 4 + k), 4);
                        bad += v != 100 * i + 10 * j + k;
                    }
            CHECK(bad == 0, "rank-3 transpose: %d wrong elements", bad);
        }
        dlor_tensor_list_free(&l);
        free(b);
    }
    {   /* rank 4, big-endian >i2: swap and transpose in one pass */
        unsigned char src[24];
        size_t n = 0;
        for (int d = 0; d < 2; d++)
            for (int c = 0; c < 3; c++)
                for (int bb = 0; bb < 1; bb++)
                    for (int a = 0; a < 2; a++) {
                        unsigned v = (unsigned)(0x100 * a + 0x10 * c + d + 0x1000);
                        src[n++] = (unsigned char)(v >> 8);
                        src[n++] = (unsigned char)(v & 0xff);
                    }
        unsigned char *b = npy64("{'descr': '>i2', 'fortran_order': True, 'shape': (2, 1, 3, 2), }",
                                 src, sizeof src, &len);
        CHECK(dlor_npy_parse(b, len, "f.npy", "f", &l, &err) == DLOR_OK, "%s", err.msg);
        if (l.count == 1) {
            const dlor_tensor *t = &l.items[0];
            int bad = 0;
            for (int a = 0; a < 2; a++)
                for (int c = 0; c < 3; c++)
                    for (int d = 0; d < 2; d++) {
                        const unsigned char *p = t->data + 2 * (size_t)((a * 3 + c) * 2 + d);
                        unsigned v = (unsigned)(p[0] | (p[1] << 8));
                        bad += v != (unsigned)(0x100 * a + 0x10 * c + d + 0x1000);
                    }
            CHECK(bad == 0, "rank-4 BE transpose: %d wrong elements", bad);
        }
        dlor_tensor_list_free(&l);
        free(b);
    }
    {   /* rank 1 and rank 0 Fortran: identical to C order, used in place */
        float v[3] = {1, 2, 3};
        unsigned char *b = npy64("{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", v,
                                 12, &len);
        CHECK(dlor_npy_parse(b, len, "f.npy", "f", &l, &err) == DLOR_OK, "%s", err.msg);
        CHECK(l.count == 1 && l.items[0].data == b + 128 && memcmp(b + 128, v, 12) == 0,
              "rank-1 fortran in place");
        dlor_tensor_list_free(&l);
        free(b);
        b = npy64("{'descr': '<f4', 'fortran_order': True, 'shape': (), }", v, 4, &len);
        CHECK(dlor_npy_parse(b, len, "f.npy", "f", &l, &err) == DLOR_OK, "%s", err.msg);
        CHECK(l.count == 1 && l.items[0].ndim == 0, "rank-0 fortran");
        dlor_tensor_list_free(&l);
        free(b);
    }
}

static void test_scalar_and_empty(void)
{
    size_t len;
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    double x = -0.125;
    unsigned char *b = npy64("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", &x, 8, &len);
    CHECK(dlor_npy_parse(b, len, "s.npy", "s", &l, &err) == DLOR_OK, "%s", err.msg);
    if (l.count == 1) {
        double y;
        memcpy(&y, l.items[0].data, 8);
        CHECK(l.items[0].ndim == 0 && l.items[0].nelem == 1 && l.items[0].nbytes == 8 && y == x,
              "scalar");
    }
    dlor_tensor_list_free(&l);
    free(b);

    static const char *empties[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0), }",
        "{'descr': '>f8', 'fortran_order': True, 'shape': (0, 5), }",
        "{'descr': '|b1', 'fortran_order': True, 'shape': (2, 0, 4), }",
    };
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        b = npy64(empties[i], NULL, 0, &len);
        CHECK(dlor_npy_parse(b, len, "e.npy", "e", &l, &err) == DLOR_OK, "%s: %s", empties[i],
              err.msg);
        CHECK(l.count == 1 && l.items[0].nelem == 0 && l.items[0].nbytes == 0, "zero-size %s",
              empties[i]);
        dlor_tensor_list_free(&l);
        free(b);
    }
}

/* Versions 1.0/2.0/3.0, 16-byte alignment, quoting and key-order variants. */
static void test_header_variants(void)
{
    static const struct { int major; size_t align; const char *dict; } ok[] = {
        {1, 64, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"},
        {2, 64, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"},
        {3, 64, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"},
        {1, 16, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"},
        {2, 16, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"},
        {1, 64, "{\"shape\": (2,), \"descr\": \"<f4\", \"fortran_order\": False}"},
        {1, 64, "{'fortran_order':False,'shape':(2,),'descr':'<f4',}"},
        {1, 64, "  {  'descr' :\t'<f4' , 'fortran_order' : False , 'shape' : ( 2 , ) , }"},
        {1, 64, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }"},
        {2, 64, "{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }"},
        {3, 64, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2,), }"},
    };
    float v[2] = {3.0f, -4.0f};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t len;
        unsigned char *b = npy_build(ok[i].major, ok[i].dict, ok[i].align, v, 8, &len);
        dlor_tensor_list l;
        dlor_error err;
        dlor_tensor_list_init(&l);
        dlor_status st = dlor_npy_parse(b, len, "v.npy", "v", &l, &err);
        CHECK(st == DLOR_OK, "variant %zu (%s): %s", i, ok[i].dict, err.msg);
        CHECK(l.count == 1 && l.items[0].nelem == 2 && memcmp(l.items[0].data, v, 8) == 0,
              "variant %zu data", i);
        CHECK(l.count == 1 && l.items[0].data == b + len - 8, "variant %zu data offset", i);
        dlor_tensor_list_free(&l);
        free(b);
    }
    /* a v2 header just under the 10000-byte cap: 12 + 9988 = 10000 */
    char *big = malloc(9988);
    const char *d = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    memset(big, ' ', 9988);
    memcpy(big, d, strlen(d));
    big[9987] = '\n';
    size_t len;
    unsigned char *b = npy_raw(2, 0, 9988, big, 9988, v, 8, &len);
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    CHECK(dlor_npy_parse(b, len, "v.npy", "v", &l, &err) == DLOR_OK, "9988-byte header: %s",
          err.msg);
    dlor_tensor_list_free(&l);
    free(b);
    free(big);
}

/* dlor_read_npy names the tensor after the file. */
static void test_read_file(void)
{
    char path[512];
    float v[2] = {1.0f, 2.0f};
    size_t len;
    unsigned char *b = npy64("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", v, 8, &len);
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);

    dlt_tmp_path(path, sizeof path, "npy_fc1.weight.npy");
    CHECK(dlt_write_file(path, b, len) == 0, "write %s", path);
    CHECK(dlor_read_npy(path, &l, &err) == DLOR_OK, "%s", err.msg);
    CHECK(l.count == 1 && strcmp(l.items[0].name, "npy_fc1.weight") == 0, "file tensor name '%s'",
          l.count ? l.items[0].name : "");
    CHECK(l.count == 1 && memcmp(l.items[0].data, v, 8) == 0, "file data");
    dlor_tensor_list_free(&l);

    dlt_tmp_path(path, sizeof path, "npy_noext");
    CHECK(dlt_write_file(path, b, len) == 0, "write %s", path);
    CHECK(dlor_read_npy(path, &l, &err) == DLOR_OK, "%s", err.msg);
    CHECK(l.count == 1 && strcmp(l.items[0].name, "npy_noext") == 0, "no-extension name");
    dlor_tensor_list_free(&l);

    /* truncated on disk: the message names the path and the list stays empty */
    dlt_tmp_path(path, sizeof path, "npy_short.npy");
    CHECK(dlt_write_file(path, b, len - 1) == 0, "write %s", path);
    CHECK(dlor_read_npy(path, &l, &err) == DLOR_E_FORMAT, "short file");
    CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, "only 7") != NULL, "msg: %s", err.msg);
    CHECK(list_empty(&l), "list not empty");

    dlt_tmp_path(path, sizeof path, "npy_missing.npy");
    remove(path);
    CHECK(dlor_read_npy(path, &l, &err) == DLOR_E_IO, "missing file");
    CHECK(list_empty(&l), "list not empty");
    free(b);
}

/* ---- malformed inputs (formats.md section 7) ---------------------------- */

static const char *GOOD = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";

/* 21: magic and version */
static void test_case21(void)
{
    float v[2] = {0};
    size_t len;
    unsigned char *b = npy64(GOOD, v, 8, &len);
    b[5] = 'Z';
    expect_fail("21 bad magic", b, len, DLOR_E_FORMAT, "bad magic");

    b = malloc(8);
    memcpy(b, "PK\x03\x04\0\0\0\0", 8);
    expect_fail("21 zip magic", b, 8, DLOR_E_FORMAT, "not a .npy file");

    b = npy64(GOOD, v, 8, &len);
    b[6] = 4;
    expect_fail("21 version 4.0", b, len, DLOR_E_UNSUPPORTED, "version 4.0");
    b = npy64(GOOD, v, 8, &len);
    b[7] = 1;
    expect_fail("21 version 1.1", b, len, DLOR_E_UNSUPPORTED, "version 1.1");
    b = npy64(GOOD, v, 8, &len);
    b[6] = 0;
    expect_fail("21 version 0.0", b, len, DLOR_E_UNSUPPORTED, "version 0.0");

    b = npy64(GOOD, v, 8, &len);
    expect_fail("21 5 bytes", b, 5, DLOR_E_FORMAT, "bad magic");
    b = npy64(GOOD, v, 8, &len);
    expect_fail("21 7 bytes", b, 7, DLOR_E_FORMAT, "preamble");
    b = npy_build(2, GOOD, 64, v, 8, &len);
    expect_fail("21 v2 11 bytes", b, 11, DLOR_E_FORMAT, "preamble");
    b = malloc(1);
    expect_fail("21 empty", b, 0, DLOR_E_FORMAT, "bad magic");
}

/* 22: HEADER_LEN beyond EOF, HEADER_LEN = 0 */
static void test_case22(void)
{
    size_t len;
    const char *h = "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }";
    unsigned char *b = npy_raw(1, 0, 118, h, strlen(h), NULL, 0, &len);
    expect_fail("22 header past EOF", b, len, DLOR_E_FORMAT, "length 118 runs past the end");
    b = npy_raw(2, 0, 5000, h, strlen(h), NULL, 0, &len);
    expect_fail("22 v2 header past EOF", b, len, DLOR_E_FORMAT, "length 5000 runs past the end");
    b = npy_raw(1, 0, 0, "\n", 1, NULL, 0, &len);
    expect_fail("22 header length 0", b, len, DLOR_E_FORMAT, "header length is 0");
    b = npy_raw(3, 0, 0, NULL, 0, NULL, 0, &len);
    expect_fail("22 v3 header length 0", b, len, DLOR_E_FORMAT, "header length is 0");
}

/* 23: header over 10000 bytes */
static void test_case23(void)
{
    size_t len;
    char *big = malloc(10038);
    memset(big, ' ', 10038);
    memcpy(big, GOOD, strlen(GOOD));
    big[10037] = '\n';
    float v[2] = {0};
    /* a real, well-formed header of 10038 bytes (10 + 10038 = 10048 = 16 * 628) */
    unsigned char *b = npy_raw(1, 0, 10038, big, 10038, v, 8, &len);
    expect_fail("23 10038-byte header", b, len, DLOR_E_LIMIT, "10000-byte limit");
    b = npy_raw(2, 0, 10004, big, 10004, v, 8, &len);
    expect_fail("23 v2 10004-byte header", b, len, DLOR_E_LIMIT, "length 10004");
    b = npy_raw(2, 0, 0xffffffffu, GOOD, strlen(GOOD), NULL, 0, &len);
    expect_fail("23 v2 4 GiB header", b, len, DLOR_E_LIMIT, "4294967295");
    free(big);
}

/* 24: not a dict, extra / missing / duplicate keys */
static void test_case24(void)
{
    expect_dict_fail("24 list", "['descr', '<f4']", 0, DLOR_E_FORMAT, "not a dict");
    expect_dict_fail("24 number", "42", 0, DLOR_E_FORMAT, "not a dict");
    expect_dict_fail("24 string", "'descr'", 0, DLOR_E_FORMAT, "not a dict");
    expect_dict_fail("24 set", "{'descr', 'shape'}", 0, DLOR_E_FORMAT, "expected ':'");
    expect_dict_fail("24 extra key",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", 8,
                     DLOR_E_FORMAT, "unexpected key 'extra'");
    expect_dict_fail("24 missing shape", "{'descr': '<f4', 'fortran_order': False, }", 4,
                     DLOR_E_FORMAT, "missing key 'shape'");
    expect_dict_fail("24 missing fortran_order", "{'descr': '<f4', 'shape': (2,), }", 8,
                     DLOR_E_FORMAT, "missing key 'fortran_order'");
    expect_dict_fail("24 empty dict", "{}", 0, DLOR_E_FORMAT, "missing key 'descr'");
    expect_dict_fail("24 duplicate shape",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (1,), }", 8,
                     DLOR_E_FORMAT, "duplicate key 'shape'");
    expect_dict_fail("24 duplicate descr",
                     "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 8,
                     DLOR_E_FORMAT, "duplicate key 'descr'");
    expect_dict_fail("24 bare key", "{descr: '<f4', 'fortran_order': False, 'shape': (2,), }", 8,
                     DLOR_E_FORMAT, "expected a string literal");
    expect_dict_fail("24 key prefix", "{b'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                     8, DLOR_E_FORMAT, "expected a string literal");
    expect_dict_fail("24 missing comma",
                     "{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }", 8, DLOR_E_FORMAT,
                     "expected ',' or '}'");
    expect_dict_fail("24 double comma",
                     "{'descr': '<f4',, 'fortran_order': False, 'shape': (2,), }", 8, DLOR_E_FORMAT,
                     "expected a string literal");
    expect_dict_fail("24 text after dict",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 8,
                     DLOR_E_FORMAT, "only space padding");
    expect_dict_fail("24 unclosed dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ",
                     8, DLOR_E_FORMAT, "expected '}'");
    expect_dict_fail("24 escape in string",
                     "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,), }", 8,
                     DLOR_E_FORMAT, "escape");
    expect_dict_fail("24 quote mismatch", "{'descr': '<f4, 'fortran_order': False", 8,
                     DLOR_E_FORMAT, "expected ',' or '}'");
    expect_dict_fail("24 unterminated string", "{'descr': '<f4", 8, DLOR_E_FORMAT,
                     "unterminated string");

    /* header not ending in '\n', misaligned header, bad UTF-8 in a v3 header */
    size_t len;
    float v[2] = {0};
    char h[64];
    memset(h, ' ', 54);
    memcpy(h, GOOD, strlen(GOOD));
    unsigned char *b = npy_raw(1, 0, 54, h, 54, v, 8, &len);
    expect_fail("24 no newline", b, len, DLOR_E_FORMAT, "newline");
    b = npy_build(1, GOOD, 8, v, 8, &len);
    CHECK((len - 8) % 16 != 0, "misaligned fixture");
    expect_fail("24 misaligned", b, len, DLOR_E_FORMAT, "not a multiple of 16");
    b = npy_build(3, "{'descr': '<f4\xff', 'fortran_order': False, 'shape': (2,), }", 64, v, 8, &len);
    expect_fail("24 v3 bad UTF-8", b, len, DLOR_E_FORMAT, "not valid UTF-8");
    b = npy_build(3, "{'descr': '<f4\xed\xa0\x80', 'fortran_order': False, 'shape': (2,), }", 64, v,
                  8, &len);
    expect_fail("24 v3 surrogate", b, len, DLOR_E_FORMAT, "not valid UTF-8");
    b = npy_build(3, "{'descr': '<f4\xc3\xa9', 'fortran_order': False, 'shape': (2,), }", 64, v, 8,
                  &len);
    expect_fail("24 v3 UTF-8 descr", b, len, DLOR_E_UNSUPPORTED, "'<f4\\xc3\\xa9'");
    b = npy_build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", 64, v, 8, &len);
    expect_fail("24 newline inside padding", b, len, DLOR_E_FORMAT, "only space padding");
}

/* 25: bad shapes */
static void test_case25(void)
{
    expect_dict_fail("25 negative", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
                     0, DLOR_E_FORMAT, "negative dimension -1");
    expect_dict_fail("25 negative second",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 0,
                     DLOR_E_FORMAT, "negative dimension -3");
    expect_dict_fail("25 2**63 * 2 wraps",
                     "{'descr': '|u1', 'fortran_order': False, 'shape': (9223372036854775808, 2), }",
                     0, DLOR_E_FORMAT, "overflows");
    expect_dict_fail("25 2**63 expression",
                     "{'descr': '|u1', 'fortran_order': False, 'shape': (2**63, 2), }", 0,
                     DLOR_E_FORMAT, "'2**63' is not an integer");
    expect_dict_fail("25 product wraps to 4",
                     "{'descr': '|u1', 'fortran_order': False, "
                     "'shape': (4194305, 4194305, 211106198978564), }",
                     4, DLOR_E_FORMAT, "overflows");
    expect_dict_fail("25 f8 bytes overflow",
                     "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }",
                     0, DLOR_E_FORMAT, "overflows");
    expect_dict_fail("25 huge literal",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551616,), }",
                     0, DLOR_E_FORMAT, "does not fit in 64 bits");
    expect_dict_fail("25 float", "{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,), }", 12,
                     DLOR_E_FORMAT, "'3.0' is not an integer");
    expect_dict_fail("25 exponent", "{'descr': '<f4', 'fortran_order': False, 'shape': (3e0,), }",
                     12, DLOR_E_FORMAT, "'3e0' is not an integer");
    expect_dict_fail("25 list", "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", 24,
                     DLOR_E_FORMAT, "tuple, got a list");
    expect_dict_fail("25 bare int", "{'descr': '<f4', 'fortran_order': False, 'shape': 6, }", 24,
                     DLOR_E_FORMAT, "shape tuple");
    expect_dict_fail("25 parenthesised int",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12, DLOR_E_FORMAT,
                     "not a tuple");
    expect_dict_fail("25 string dim", "{'descr': '<f4', 'fortran_order': False, 'shape': ('3',), }",
                     12, DLOR_E_FORMAT, "is not an integer");
    expect_dict_fail("25 leading zero", "{'descr': '<f4', 'fortran_order': False, 'shape': (03,), }",
                     12, DLOR_E_FORMAT, "leading zero");
    expect_dict_fail("25 underscore", "{'descr': '|u1', 'fortran_order': False, 'shape': (1_0,), }",
                     10, DLOR_E_FORMAT, "'1_0' is not an integer");
    expect_dict_fail("25 blank header", "", 0, DLOR_E_FORMAT, "not a dict");
    {
        size_t len;
        float v[2] = {0};
        unsigned char *b = npy_build(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }",
                                     64, v, 8, &len);
        expect_fail("25 L suffix in v3", b, len, DLOR_E_FORMAT, "'2L' is not an integer");
    }
    expect_dict_fail("25 nine dims",
                     "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }",
                     1, DLOR_E_LIMIT, "more than 8 dimensions");
    expect_dict_fail("25 unclosed tuple", "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1",
                     1, DLOR_E_FORMAT, "',' or ')'");
}

/* 26: fortran_order must be a bool */
static void test_case26(void)
{
    expect_dict_fail("26 fortran 1", "{'descr': '<f4', 'fortran_order': 1, 'shape': (2,), }", 8,
                     DLOR_E_FORMAT, "True or False, got '1'");
    expect_dict_fail("26 fortran 0", "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", 8,
                     DLOR_E_FORMAT, "True or False, got '0'");
    expect_dict_fail("26 fortran string",
                     "{'descr': '<f4', 'fortran_order': 'False', 'shape': (2,), }", 8,
                     DLOR_E_FORMAT, "True or False");
    expect_dict_fail("26 fortran lowercase",
                     "{'descr': '<f4', 'fortran_order': false, 'shape': (2,), }", 8, DLOR_E_FORMAT,
                     "got 'false'");
    expect_dict_fail("26 fortran Truex", "{'descr': '<f4', 'fortran_order': Truex, 'shape': (2,), }",
                     8, DLOR_E_FORMAT, "got 'Truex'");
}

/* 27: unsupported descrs are named in the message */
static void test_case27(void)
{
    static const struct { const char *dict, *frag; } bad[] = {
        {"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "'|O'"},
        {"{'descr': '<U10', 'fortran_order': False, 'shape': (1,), }", "'<U10'"},
        {"{'descr': '<V2', 'fortran_order': False, 'shape': (1,), }", "'<V2'"},
        {"{'descr': '|V2', 'fortran_order': False, 'shape': (1,), }", "'|V2'"},
        {"{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }", "'<f16'"},
        {"{'descr': '=f4', 'fortran_order': False, 'shape': (1,), }", "'=f4'"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "'<c8'"},
        {"{'descr': '|S4', 'fortran_order': False, 'shape': (1,), }", "'|S4'"},
        {"{'descr': '<M8[s]', 'fortran_order': False, 'shape': (1,), }", "'<M8[s]'"},
        {"{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", "'|f4'"},
        {"{'descr': 'f4', 'fortran_order': False, 'shape': (1,), }", "'f4'"},
        {"{'descr': '', 'fortran_order': False, 'shape': (1,), }", "''"},
        {"{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }",
         "[('a', '<f4'), ('b', '<i4')]"},
        {"{'descr': ('<f4', (2,)), 'fortran_order': False, 'shape': (1,), }", "('<f4', (2,))"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_dict_fail(bad[i].frag, bad[i].dict, 16, DLOR_E_UNSUPPORTED, bad[i].frag);
    expect_dict_fail("27 unbalanced structured",
                     "{'descr': [('a', '<f4'), ", 16,
                     DLOR_E_FORMAT, "unbalanced");
}

/* 28: data shorter than declared, trailing garbage */
static void test_case28(void)
{
    unsigned char d[24] = {0};
    expect_dict_fail("28 short", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 11,
                     DLOR_E_FORMAT, "needs 12 data bytes, file has only 11");
    expect_dict_fail("28 no data", "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", 0,
                     DLOR_E_FORMAT, "needs 32 data bytes, file has only 0");
    expect_dict_fail("28 trailing", "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 13,
                     DLOR_E_FORMAT, "1 trailing bytes after the data");
    expect_dict_fail("28 trailing after empty",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", 4, DLOR_E_FORMAT,
                     "4 trailing bytes");
    /* a zip appended after the data (polyglot) */
    size_t len;
    memcpy(d + 12, "PK\x05\x06", 4);
    unsigned char *b = npy64("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", d, 24, &len);
    expect_fail("28 appended zip", b, len, DLOR_E_FORMAT, "12 trailing bytes");
}

/* 29: Python expressions are syntax errors, never evaluated */
static void test_case29(void)
{
    expect_dict_fail("29 __import__",
                     "{'descr': __import__('os').system('touch /tmp/dlor_pwned'), "
                     "'fortran_order': False, 'shape': (2,), }",
                     8, DLOR_E_FORMAT, "descr must be a string literal, got '__import__");
    expect_dict_fail("29 1+1", "{'descr': '<f4', 'fortran_order': False, 'shape': (1+1,), }", 8,
                     DLOR_E_FORMAT, "'1+1' is not an integer");
    expect_dict_fail("29 f()", "{'a': f()}", 0, DLOR_E_FORMAT, "unexpected key 'a'");
    expect_dict_fail("29 call in shape",
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (len('ab'),), }", 8,
                     DLOR_E_FORMAT, "is not an integer");
    expect_dict_fail("29 eval fortran",
                     "{'descr': '<f4', 'fortran_order': eval('True'), 'shape': (2,), }", 8,
                     DLOR_E_FORMAT, "True or False, got 'eval(");
    expect_dict_fail("29 lambda", "{'descr': '<f4', 'fortran_order': False, 'shape': lambda: 1, }",
                     8, DLOR_E_FORMAT, "shape tuple");
    expect_dict_fail("29 string concat",
                     "{'descr': '<' 'f4', 'fortran_order': False, 'shape': (2,), }", 8,
                     DLOR_E_FORMAT, "expected ',' or '}'");
    expect_dict_fail("29 dict comprehension", "{k: 1 for k in 'ab'}", 0, DLOR_E_FORMAT,
                     "expected a string literal");
    CHECK(!dlt_file_exists("/tmp/dlor_pwned"), "header expression was evaluated");
}

/* Every truncation and many single-byte substitutions of a valid file parse
 * or fail cleanly (ASan/UBSan catch any out-of-bounds access); each copy is
 * an exact-size allocation so over-reads are caught. */
static void test_mutations(void)
{
    unsigned char d[48];
    for (int i = 0; i < 48; i++) d[i] = (unsigned char)(i * 37 + 1);
    size_t len;
    unsigned char *base =
        npy64("{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }", d, 48, &len);
    static const unsigned char subst[] = {0x00, ' ', '\n', '(', ')', ',', '\'', '"', '9', '-',
                                          '{', '}', 'L', 0xff, 0x80};
    int clean = 1, oks = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        unsigned char *b = malloc(cut ? cut : 1);
        memcpy(b, base, cut);
        dlor_tensor_list l;
        dlor_error err;
        dlor_tensor_list_init(&l);
        err.msg[0] = 0;
        dlor_status st = dlor_npy_parse(b, cut, "m.npy", "m", &l, &err);
        if (st == DLOR_OK) oks++;
        else clean &= list_empty(&l) && strncmp(err.msg, "m.npy: ", 7) == 0;
        dlor_tensor_list_free(&l);
        free(b);
    }
    CHECK(oks == 1, "%d truncations parsed (only the full file should)", oks);
    for (size_t i = 0; i < len; i++)
        for (size_t k = 0; k < sizeof subst; k++) {
            unsigned char *b = malloc(len);
            memcpy(b, base, len);
            b[i] = subst[k];
            dlor_tensor_list l;
            dlor_error err;
            dlor_tensor_list_init(&l);
            err.msg[0] = 0;
            dlor_status st = dlor_npy_parse(b, len, "m.npy", "m", &l, &err);
            if (st != DLOR_OK) clean &= list_empty(&l) && strncmp(err.msg, "m.npy: ", 7) == 0;
            else clean &= l.count == 1 && l.items[0].nbytes <= 48;
            dlor_tensor_list_free(&l);
            free(b);
        }
    CHECK(clean, "a mutated file failed without a clean error");
    free(base);
}

int main(void)
{
    const uint16_t one = 1;
    unsigned char b0;
    memcpy(&b0, &one, 1);
    CHECK(b0 == 1, "these tests assume a little-endian host");

    test_every_descr();
    test_big_endian_values();
    test_fortran();
    test_scalar_and_empty();
    test_header_variants();
    test_read_file();
    test_case21();
    test_case22();
    test_case23();
    test_case24();
    test_case25();
    test_case26();
    test_case27();
    test_case28();
    test_case29();
    test_mutations();
    return dlt_finish();
}
