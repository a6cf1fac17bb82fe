/* test_npz - the .npz reader and the zip walker under it: archives laid out
 * the way numpy's zipfile writes them (stored and deflated, zip64 extras,
 * zip64 end records) and the malformed inputs of formats.md section 7,
 * cases 30-33. Archives are written byte by byte by the small zip writer
 * below; deflate and CRC-32 come from zlib. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "dlor_readers.h"
#include "testutil.h"
#include "testzip.h"

/* ---- byte buffer ------------------------------------------------------- */

typedef dlt_buf bytes;

static void w16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)((v >> 8) & 0xff);
}
static void w32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void w64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void p16(bytes *o, unsigned v) { unsigned char t[2]; w16(t, v); dlt_put(o, t, 2); }
static void p32(bytes *o, uint32_t v) { unsigned char t[4]; w32(t, v); dlt_put(o, t, 4); }
static void p64(bytes *o, uint64_t v) { unsigned char t[8]; w64(t, v); dlt_put(o, t, 8); }

/* ---- .npy builder ------------------------------------------------------ */

static void npy(bytes *o, const char *descr, int fortran, const char *shape, const void *data,
                size_t dlen)
{
    char dict[256];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }",
                      descr, fortran ? "True" : "False", shape);
    size_t pad = (64 - (10 + (size_t)dl + 1) % 64) % 64, hlen = (size_t)dl + pad + 1;
    dlt_put(o, "\x93NUMPY\x01\x00", 8);
    p16(o, (unsigned)hlen);
    dlt_put(o, dict, (size_t)dl);
    for (size_t i = 0; i < pad; i++) dlt_put(o, " ", 1);
    dlt_put(o, "\n", 1);
    dlt_put(o, data, dlen);
}

/* ---- zip writer -------------------------------------------------------- */

typedef struct {
    char name[128];
    size_t name_len;
    unsigned flags, method;
    uint32_t crc;
    uint64_t csize, usize, offset;
    int cd_zip64;             /* write both sizes as 0xFFFFFFFF plus a zip64 extra */
    int cd_extra_set;         /* write cd_extra verbatim instead */
    unsigned char cd_extra[64];
    size_t cd_extra_len;
    int skip;                 /* leave out of the central directory */
} zent;

typedef struct {
    bytes o;
    zent e[16];
    int n;
} zw;

static void zw_local(zw *z, const char *name, size_t name_len, unsigned flags, unsigned method,
                     uint32_t crc, uint32_t csize32, uint32_t usize32, const void *extra,
                     size_t elen, const void *payload, size_t plen)
{
    p32(&z->o, 0x04034b50u);
    p16(&z->o, 45);
    p16(&z->o, flags);
    p16(&z->o, method);
    p16(&z->o, 0);      /* time */
    p16(&z->o, 0x0021); /* date 1980-01-01 */
    p32(&z->o, crc);
    p32(&z->o, csize32);
    p32(&z->o, usize32);
    p16(&z->o, (unsigned)name_len);
    p16(&z->o, (unsigned)elen);
    dlt_put(&z->o, name, name_len);
    dlt_put(&z->o, extra, elen);
    dlt_put(&z->o, payload, plen);
}

static zent *zw_entry(zw *z, const char *name, size_t name_len)
{
    zent *e = &z->e[z->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, name_len);
    e->name_len = name_len;
    e->offset = z->o.n;
    return e;
}

/* Adds a member like numpy's zipfile with force_zip64: local sizes 0xFFFFFFFF
 * and a 16-byte zip64 extra (local_zip64 = 0 writes plain 32-bit sizes). */
static zent *zw_add_n(zw *z, const char *name, size_t name_len, const void *content, size_t n,
                      unsigned method, int local_zip64)
{
    size_t cn = n;
    unsigned char *comp = NULL;
    const void *payload = content;
    if (method == 8) {
        comp = deflate_raw(content, n, &cn);
        payload = comp;
    }
    zent *e = zw_entry(z, name, name_len);
    e->method = method;
    e->crc = crc_of(content, n);
    e->csize = cn;
    e->usize = n;
    if (local_zip64) {
        unsigned char x[20];
        w16(x, 1);
        w16(x + 2, 16);
        w64(x + 4, n);
        w64(x + 12, cn);
        zw_local(z, name, name_len, 0, method, e->crc, 0xffffffffu, 0xffffffffu, x, 20, payload, cn);
    } else {
        zw_local(z, name, name_len, 0, method, e->crc, (uint32_t)cn, (uint32_t)n, NULL, 0, payload,
                 cn);
    }
    free(comp);
    return e;
}

static zent *zw_add(zw *z, const char *name, const void *content, size_t n, unsigned method)
{
    return zw_add_n(z, name, strlen(name), content, n, method, 1);
}

static void zw_central(zw *z, const zent *e)
{
    unsigned char x[32];
    size_t xl = 0;
    uint32_t cs = (uint32_t)e->csize, us = (uint32_t)e->usize, off = (uint32_t)e->offset;
    int big_sizes = e->cd_zip64 || e->usize >= 0xffffffffu || e->csize >= 0xffffffffu;
    if (big_sizes || e->offset >= 0xffffffffu) {
        xl = 4;
        if (big_sizes) {
            w64(x + xl, e->usize);
            w64(x + xl + 8, e->csize);
            xl += 16;
            cs = us = 0xffffffffu;
        }
        if (e->offset >= 0xffffffffu) {
            w64(x + xl, e->offset);
            xl += 8;
            off = 0xffffffffu;
        }
        w16(x, 1);
        w16(x + 2, (unsigned)(xl - 4));
    }
    const unsigned char *ex = e->cd_extra_set ? e->cd_extra : x;
    if (e->cd_extra_set) xl = e->cd_extra_len;
    p32(&z->o, 0x02014b50u);
    p16(&z->o, 0x032d);
    p16(&z->o, 45);
    p16(&z->o, e->flags);
    p16(&z->o, e->method);
    p16(&z->o, 0);
    p16(&z->o, 0x0021);
    p32(&z->o, e->crc);
    p32(&z->o, cs);
    p32(&z->o, us);
    p16(&z->o, (unsigned)e->name_len);
    p16(&z->o, (unsigned)xl);
    p16(&z->o, 0); /* comment */
    p16(&z->o, 0); /* disk */
    p16(&z->o, 0);
    p32(&z->o, 0600u << 16);
    p32(&z->o, off);
    dlt_put(&z->o, e->name, e->name_len);
    dlt_put(&z->o, ex, xl);
}

/* Writes the central directory and end records; returns the archive. With
 * zip64_end the EOCD fields are saturated and a zip64 record + locator added. */
static unsigned char *zw_finish(zw *z, int zip64_end, const void *comment, size_t clen, size_t *len)
{
    uint64_t cd_off = z->o.n;
    unsigned cnt = 0;
    for (int i = 0; i < z->n; i++)
        if (!z->e[i].skip) {
            zw_central(z, &z->e[i]);
            cnt++;
        }
    uint64_t cd_size = z->o.n - cd_off;
    if (zip64_end) {
        uint64_t rec = z->o.n;
        p32(&z->o, 0x06064b50u);
        p64(&z->o, 44);
        p16(&z->o, 0x032d);
        p16(&z->o, 45);
        p32(&z->o, 0);
        p32(&z->o, 0);
        p64(&z->o, cnt);
        p64(&z->o, cnt);
        p64(&z->o, cd_size);
        p64(&z->o, cd_off);
        p32(&z->o, 0x07064b50u);
        p32(&z->o, 0);
        p64(&z->o, rec);
        p32(&z->o, 1);
    }
    p32(&z->o, 0x06054b50u);
    p16(&z->o, 0);
    p16(&z->o, 0);
    p16(&z->o, zip64_end ? 0xffff : cnt);
    p16(&z->o, zip64_end ? 0xffff : cnt);
    p32(&z->o, zip64_end ? 0xffffffffu : (uint32_t)cd_size);
    p32(&z->o, zip64_end ? 0xffffffffu : (uint32_t)cd_off);
    p16(&z->o, (unsigned)clen);
    dlt_put(&z->o, comment, clen);
    *len = z->o.n;
    unsigned char *b = z->o.b;
    memset(z, 0, sizeof *z);
    return b;
}

/* ---- checking helpers -------------------------------------------------- */

static int list_empty(const dlor_tensor_list *l)
{
    return l->count == 0 && l->nblocks == 0 && l->items == NULL && l->blocks == NULL;
}

static void expect_fail(const char *label, unsigned char *buf, size_t len, dlor_status want,
                        const char *frag)
{
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    err.msg[0] = 0;
    dlor_status st = dlor_npz_parse(buf, len, "w.npz", &l, &err);
    if (getenv("DLOR_TEST_VERBOSE")) fprintf(stderr, "%-30s -> %s\n", label, err.msg);
    CHECK(st == want, "%s: status %d (%s), want %d", label, (int)st, err.msg, (int)want);
    if (st != DLOR_OK) {
        CHECK(strstr(err.msg, frag) != NULL, "%s: message '%s' lacks '%s'", label, err.msg, frag);
        CHECK(strncmp(err.msg, "w.npz: ", 7) == 0, "%s: message '%s' does not name the file",
              label, err.msg);
    }
    CHECK(st == DLOR_OK || list_empty(&l), "%s: list not empty after failure", label);
    dlor_tensor_list_free(&l);
    free(buf);
}

/* Finishes the archive in z and expects it to fail. */
static void expect_zw(const char *label, zw *z, dlor_status want, const char *frag)
{
    size_t len;
    unsigned char *buf = zw_finish(z, 0, NULL, 0, &len);
    expect_fail(label, buf, len, want, frag);
}

static void f32s(bytes *o, const char *shape, const float *v, size_t n)
{
    npy(o, "<f4", 0, shape, v, n * sizeof *v);
}

static const float F6[6] = {1.5f, -2.0f, 0.25f, 3.0f, -0.0f, 1e30f};

/* ---- valid archives ---------------------------------------------------- */

/* numpy's savez / savez_compressed layout with three members. */
static void test_numpy_layout(unsigned method)
{
    bytes a = {0}, b = {0}, c = {0};
    f32s(&a, "(2, 3)", F6, 6);
    /* >f8 Fortran (2, 2): C-order values 1, 2, 3, 4 stored column-major, big-endian */
    const double fv[4] = {1, 3, 2, 4};
    unsigned char be[32];
    for (int i = 0; i < 4; i++) {
        uint64_t bits;
        memcpy(&bits, &fv[i], 8);
        for (int k = 0; k < 8; k++) be[8 * i + k] = (unsigned char)(bits >> (56 - 8 * k));
    }
    npy(&b, ">f8", 1, "(2, 2)", be, 32);
    int64_t sc = -1234567890123ll;
    npy(&c, "<i8", 0, "()", &sc, 8);

    zw z = {0};
    zw_add(&z, "fc1.weight.npy", a.b, a.n, method);
    zw_add(&z, "arr_0.npy", b.b, b.n, method);
    zw_add(&z, "layer/scalar.npy", c.b, c.n, method);
    size_t len;
    unsigned char *buf = zw_finish(&z, 0, NULL, 0, &len);

    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    dlor_status st = dlor_npz_parse(buf, len, "w.npz", &l, &err);
    CHECK(st == DLOR_OK, "method %u: %s", method, err.msg);
    CHECK(l.count == 3, "method %u: %zu tensors", method, l.count);
    if (l.count == 3) {
        const dlor_tensor *t = &l.items[0];
        CHECK(strcmp(t->name, "fc1.weight") == 0 && t->dtype == DLOR_DT_F32 && t->ndim == 2 &&
                  t->dims[0] == 2 && t->dims[1] == 3,
              "member 0: %s", t->name);
        CHECK(memcmp(t->data, F6, 24) == 0, "member 0 data");
        /* stored members are used in place: data lies inside buf */
        if (method == 0)
            CHECK(t->data > buf && t->data + 24 <= buf + len, "stored data not in buf");
        else
            CHECK(!(t->data >= buf && t->data < buf + len), "inflated data points into buf");
        t = &l.items[1];
        CHECK(strcmp(t->name, "arr_0") == 0 && t->dtype == DLOR_DT_F64 && t->nelem == 4,
              "member 1: %s", t->name);
        double d[4];
        memcpy(d, t->data, 32);
        CHECK(d[0] == 1 && d[1] == 2 && d[2] == 3 && d[3] == 4, "member 1 values %g %g %g %g",
              d[0], d[1], d[2], d[3]);
        t = &l.items[2];
        int64_t v;
        memcpy(&v, t->data, 8);
        CHECK(strcmp(t->name, "layer/scalar") == 0 && t->ndim == 0 && v == sc, "member 2: %s",
              t->name);
    }
    dlor_tensor_list_free(&l);
    free(buf);
    free(a.b);
    free(b.b);
    free(c.b);
}

/* A deflated member over 1 MB (several deflate blocks), plus zip64 variants. */
static void test_large_and_zip64(void)
{
    size_t n = 300000;
    float *v = malloc(n * sizeof *v);
    dlt_rng r = {42};
    for (size_t i = 0; i < n; i++) v[i] = (float)dlt_normal(&r);
    bytes a = {0};
    f32s(&a, "(300000,)", v, n);

    for (int variant = 0; variant < 3; variant++) {
        zw z = {0};
        zent *e = zw_add(&z, "big.npy", a.b, a.n, 8);
        if (variant == 1) e->cd_zip64 = 1; /* zip64 extra in the CD too */
        size_t len;
        unsigned char *buf = zw_finish(&z, variant == 2, "a comment", 9, &len);
        dlor_tensor_list l;
        dlor_error err;
        dlor_tensor_list_init(&l);
        dlor_status st = dlor_npz_parse(buf, len, "w.npz", &l, &err);
        CHECK(st == DLOR_OK, "variant %d: %s", variant, err.msg);
        CHECK(l.count == 1 && l.items[0].nelem == n && memcmp(l.items[0].data, v, n * 4) == 0,
              "variant %d: big member", variant);
        dlor_tensor_list_free(&l);
        free(buf);
    }
    free(a.b);
    free(v);
}

static void test_empty_and_file(void)
{
    zw z = {0};
    size_t len;
    unsigned char *buf = zw_finish(&z, 0, NULL, 0, &len);
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    CHECK(len == 22, "empty archive is %zu bytes", len);
    CHECK(dlor_npz_parse(buf, len, "e.npz", &l, &err) == DLOR_OK && l.count == 0, "empty: %s",
          err.msg);
    dlor_tensor_list_free(&l);
    free(buf);

    bytes a = {0};
    f32s(&a, "(6,)", F6, 6);
    zw_add(&z, "w.npy", a.b, a.n, 8);
    buf = zw_finish(&z, 0, NULL, 0, &len);
    char path[512];
    dlt_tmp_path(path, sizeof path, "npz_file.npz");
    CHECK(dlt_write_file(path, buf, len) == 0, "write %s", path);
    CHECK(dlor_read_npz(path, &l, &err) == DLOR_OK, "read_npz: %s", err.msg);
    CHECK(l.count == 1 && strcmp(l.items[0].name, "w") == 0 && memcmp(l.items[0].data, F6, 24) == 0,
          "read_npz data");
    dlor_tensor_list_free(&l);

    dlt_tmp_path(path, sizeof path, "npz_trunc.npz");
    CHECK(dlt_write_file(path, buf, len - 1) == 0, "write %s", path);
    CHECK(dlor_read_npz(path, &l, &err) == DLOR_E_FORMAT, "truncated npz: %s", err.msg);
    CHECK(strstr(err.msg, path) && strstr(err.msg, "end-of-central-directory"), "msg: %s", err.msg);
    CHECK(list_empty(&l), "list not empty");
    free(buf);
    free(a.b);
}

/* Members that are not .npy, or bad .npy, are named in the message. */
static void test_members(void)
{
    bytes a = {0};
    f32s(&a, "(6,)", F6, 6);
    zw z = {0};
    zw_add(&z, "w.npy", a.b, a.n, 0);
    zw_add(&z, "readme.txt", "hello", 5, 0);
    expect_zw("not .npy", &z, DLOR_E_FORMAT,
                "member 'readme.txt' is not a .npy file");
    zw_add(&z, ".npy", a.b, a.n, 0);
    expect_zw("bare .npy", &z, DLOR_E_FORMAT,
                "member '.npy' is not a .npy file");
    zw_add(&z, "w.npy", a.b, a.n, 0);
    zw_add(&z, "bad.npy", a.b, a.n - 1, 8);
    expect_zw("short npy member", &z, DLOR_E_FORMAT,
                "w.npz: member 'bad.npy': shape [6] of f32 needs 24 data bytes, file has only 23");
    bytes o = {0};
    npy(&o, "|O", 0, "(1,)", "\x80\x04N.", 4);
    zw_add(&z, "obj.npy", o.b, o.n, 8);
    expect_zw("pickle member", &z, DLOR_E_UNSUPPORTED,
                "member 'obj.npy': dtype descr '|O'");
    zw_add(&z, "w\xff.npy", a.b, a.n, 0);
    zw_add(&z, "w\xff.npy", a.b, a.n, 8);
    expect_zw("non-printable name", &z, DLOR_E_FORMAT,
                "w.npz: duplicate member name 'w\\xff.npy'");
    free(a.b);
    free(o.b);
}

/* ---- 30: deflate bombs ------------------------------------------------- */

static double seconds(clock_t t0) { return (double)(clock() - t0) / CLOCKS_PER_SEC; }

/* CRC-32 of n zero bytes in O(log n), built by doubling with crc32_combine. */
static uint32_t crc_zeros(uint64_t n)
{
    uLong acc = crc32(0L, Z_NULL, 0), blk;
    unsigned char z = 0;
    uint64_t len = 1;
    blk = crc32(crc32(0L, Z_NULL, 0), &z, 1);
    while (n) {
        if (n & 1) acc = crc32_combine(acc, blk, (z_off_t)len);
        blk = crc32_combine(blk, blk, (z_off_t)len);
        len *= 2;
        n >>= 1;
    }
    return (uint32_t)acc;
}

static void test_case30(void)
{
    /* safetensors' numpy_dos_create in shape: a member whose .npy header
     * declares 10^10 float32 (40 GB), force_zip64, and a small stream of
     * zeros whose sizes claim the full 40 GB. */
    const uint64_t nelem = 10000000000ull, usize = 128 + 4 * nelem;
    bytes h = {0};
    npy(&h, "<f4", 0, "(10000000000,)", NULL, 0);
    CHECK(h.n == 128, "npy header is %zu bytes", h.n);
    size_t zn = 1 << 20;
    unsigned char *content = calloc(h.n + zn, 1);
    memcpy(content, h.b, h.n);
    size_t cn;
    unsigned char *comp = deflate_raw(content, h.n + zn, &cn);
    uint32_t crc = (uint32_t)crc32_combine(crc_of(h.b, h.n), crc_zeros(4 * nelem), (z_off_t)(4 * nelem));

    zw z = {0};
    unsigned char x[20];
    w16(x, 1);
    w16(x + 2, 16);
    w64(x + 4, usize);
    w64(x + 12, cn);
    zent *e = zw_entry(&z, "a.npy", 5);
    e->method = 8;
    e->crc = crc;
    e->csize = cn;
    e->usize = usize; /* >= 4 GiB: the CD gets a zip64 extra with both sizes */
    zw_local(&z, "a.npy", 5, 0, 8, crc, 0xffffffffu, 0xffffffffu, x, 20, comp, cn);
    size_t len;
    unsigned char *buf = zw_finish(&z, 0, NULL, 0, &len);
    clock_t t0 = clock();
    expect_fail("30 40 GB bomb", buf, len, DLOR_E_FORMAT, "declares 40000000128 uncompressed bytes");
    CHECK(seconds(t0) < 2.0, "40 GB bomb took %.2f s", seconds(t0));

    free(comp);
    free(content);

    /* a declared size deflate could reach (1000:1) from a stream that yields
     * far less: the buffer grows only with real output, and the member fails */
    size_t rn = 65536;
    content = malloc(h.n + rn);
    memcpy(content, h.b, h.n);
    dlt_rng r = {7};
    for (size_t i = 0; i < rn; i++) content[h.n + i] = (unsigned char)(dlt_uniform(&r) * 256);
    comp = deflate_raw(content, h.n + rn, &cn);
    uint64_t claim = (uint64_t)cn * 1000;
    e = zw_entry(&z, "a.npy", 5);
    e->method = 8;
    e->crc = crc_of(content, h.n + rn);
    e->csize = cn;
    e->usize = claim;
    w64(x + 4, claim);
    w64(x + 12, cn);
    zw_local(&z, "a.npy", 5, 0, 8, e->crc, 0xffffffffu, 0xffffffffu, x, 20, comp, cn);
    buf = zw_finish(&z, 0, NULL, 0, &len);
    char frag[128];
    snprintf(frag, sizeof frag, "inflates to %zu bytes, central directory says %llu", h.n + rn,
             (unsigned long long)claim);
    t0 = clock();
    expect_fail("30 short of claim", buf, len, DLOR_E_FORMAT, frag);
    CHECK(seconds(t0) < 2.0, "took %.2f s", seconds(t0));
    free(comp);
    free(content);

    /* declared small, inflates to 16 MB: stops right after the declared size */
    size_t big = (size_t)16 << 20;
    content = calloc(big, 1);
    memcpy(content, h.b, h.n);
    comp = deflate_raw(content, big, &cn);
    e = zw_entry(&z, "b.npy", 5);
    e->method = 8;
    e->crc = crc_of(content, big);
    e->csize = cn;
    e->usize = 4128;
    zw_local(&z, "b.npy", 5, 0, 8, e->crc, (uint32_t)cn, 4128, NULL, 0, comp, cn);
    buf = zw_finish(&z, 0, NULL, 0, &len);
    t0 = clock();
    expect_fail("30 over declared size", buf, len, DLOR_E_FORMAT,
                "member 'b.npy' inflates to more than its declared 4128 bytes");
    CHECK(seconds(t0) < 2.0, "took %.2f s", seconds(t0));
    free(comp);
    free(content);

    /* a declared size over the global input limit is refused before inflating */
    comp = deflate_raw("x", 1, &cn);
    e = zw_entry(&z, "c.npy", 5);
    e->method = 8;
    e->crc = 0;
    e->csize = cn;
    e->usize = (uint64_t)DLOR_MAX_INPUT_BYTES + 1;
    w64(x + 4, e->usize);
    w64(x + 12, cn);
    zw_local(&z, "c.npy", 5, 0, 8, 0, 0xffffffffu, 0xffffffffu, x, 20, comp, cn);
    buf = zw_finish(&z, 0, NULL, 0, &len);
    expect_fail("30 over global cap", buf, len, DLOR_E_LIMIT, "over the 1099511627776-byte limit");
    free(comp);
    free(h.b);
}

/* ---- 31: size mismatches and zip64 extra fields ------------------------ */

static void test_case31(void)
{
    bytes a = {0};
    f32s(&a, "(6,)", F6, 6);
    zw z = {0};
    zent *e;

    e = zw_add(&z, "a.npy", a.b, a.n, 0);
    e->csize = e->usize = a.n - 4;
    expect_zw("31 CD size != LFH size (stored)", &z,
                DLOR_E_FORMAT, "local header sizes (152 compressed, 152 uncompressed) differ "
                               "from the central directory's (148, 148)");
    e = zw_add(&z, "a.npy", a.b, a.n, 8);
    e->usize += 1;
    expect_zw("31 CD usize != LFH (deflate)", &z, DLOR_E_FORMAT,
                "local header sizes");
    e = zw_add_n(&z, "a.npy", 5, a.b, a.n, 8, 0);
    e->csize += 1;
    expect_zw("31 CD csize != LFH (plain)", &z, DLOR_E_FORMAT,
                "local header sizes");
    e = zw_add(&z, "a.npy", a.b, a.n, 0);
    e->csize = a.n + 1;
    expect_zw("31 stored sizes differ", &z, DLOR_E_FORMAT,
                "stored but its sizes differ");

    /* CD zip64 extra missing a field: both sizes saturated, extra holds one */
    e = zw_add(&z, "a.npy", a.b, a.n, 0);
    e->cd_zip64 = 1;
    e->cd_extra_set = 1;
    w16(e->cd_extra, 1);
    w16(e->cd_extra + 2, 8);
    w64(e->cd_extra + 4, a.n);
    e->cd_extra_len = 12;
    expect_zw("31 zip64 extra lacks field", &z, DLOR_E_FORMAT,
                "central directory zip64 extra field of 8 bytes lacks the compressed size");
    /* zip64 extra whose length overruns the extra area */
    e = zw_add(&z, "a.npy", a.b, a.n, 0);
    e->cd_zip64 = 1;
    e->cd_extra_set = 1;
    w16(e->cd_extra, 1);
    w16(e->cd_extra + 2, 24);
    w64(e->cd_extra + 4, a.n);
    w64(e->cd_extra + 12, a.n);
    e->cd_extra_len = 20;
    expect_zw("31 zip64 extra overruns", &z, DLOR_E_FORMAT,
                "extra field 0x0001 claims 24 bytes but only 16 remain");
    /* central directory extra fields: truncated (alone and after a UT block), two zip64
     * blocks, sizes saturated to 0xFFFFFFFF without one */
    static const struct {
        const char *label;
        int zip64;
        const char *extra;
        size_t len;
        const char *frag;
    } extras[] = {
        {"31 truncated CD extra", 0, "\x01\x00\x10", 3, "central directory extra field is truncated (3 stray bytes)"},
        {"31 truncated after UT block", 0, "\x55\x54\x05\x00\x01\x00\x00\x00\x00\x01\x00", 11,
         "extra field is truncated (2 stray bytes)"},
        {"31 two zip64 extras", 0, "\x01\x00\x00\x00\x01\x00\x00\x00", 8, "two zip64 extra fields"},
        {"31 saturated CD, no extra", 1, "", 0,
         "uncompressed size is saturated (0xFFFFFFFF) but there is no zip64 extra field"},
    };
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
        e = zw_add(&z, "a.npy", a.b, a.n, 0);
        e->cd_zip64 = extras[i].zip64;
        e->cd_extra_set = 1;
        memcpy(e->cd_extra, extras[i].extra, extras[i].len);
        e->cd_extra_len = extras[i].len;
        expect_zw(extras[i].label, &z, DLOR_E_FORMAT, extras[i].frag);
    }
    /* saturated local header offset in the CD without an extra */
    e = zw_add(&z, "a.npy", a.b, a.n, 0);
    e->offset = 0xffffffffull;
    e->cd_extra_set = 1;
    e->cd_extra_len = 0;
    expect_zw("31 saturated offset, no extra", &z,
                DLOR_E_FORMAT, "local header offset is saturated");
    /* zip64 offset beyond the file */
    e = zw_add(&z, "a.npy", a.b, a.n, 0);
    e->offset = 0x100000000ull;
    expect_zw("31 zip64 offset outside file", &z,
                DLOR_E_FORMAT, "local header offset 4294967296 is outside the file");

    /* local header: saturated sizes without zip64 extra, or an 8-byte one */
    e = zw_entry(&z, "a.npy", 5);
    e->crc = crc_of(a.b, a.n);
    e->csize = e->usize = a.n;
    zw_local(&z, "a.npy", 5, 0, 0, e->crc, 0xffffffffu, 0xffffffffu, NULL, 0, a.b, a.n);
    expect_zw("31 saturated LFH, no extra", &z, DLOR_E_FORMAT,
                "local header sizes are saturated (0xFFFFFFFF) but there is no zip64 extra");
    unsigned char x[12];
    w16(x, 1);
    w16(x + 2, 8);
    w64(x + 4, a.n);
    e = zw_entry(&z, "a.npy", 5);
    e->crc = crc_of(a.b, a.n);
    e->csize = e->usize = a.n;
    zw_local(&z, "a.npy", 5, 0, 0, e->crc, 0xffffffffu, 0xffffffffu, x, 12, a.b, a.n);
    expect_zw("31 LFH zip64 extra 8 bytes", &z, DLOR_E_FORMAT,
                "local zip64 extra field has 8 bytes; it must hold both sizes (16)");
    e = zw_entry(&z, "a.npy", 5);
    e->crc = crc_of(a.b, a.n);
    e->csize = e->usize = a.n;
    zw_local(&z, "a.npy", 5, 0, 0, e->crc, (uint32_t)a.n, (uint32_t)a.n, "\x01\x00", 2, a.b, a.n);
    expect_zw("31 LFH truncated extra", &z, DLOR_E_FORMAT,
                "local header extra field is truncated (2 stray bytes)");

    /* data running into the central directory */
    e = zw_entry(&z, "a.npy", 5);
    e->crc = crc_of(a.b, a.n);
    e->csize = e->usize = a.n + 100;
    zw_local(&z, "a.npy", 5, 0, 0, e->crc, (uint32_t)(a.n + 100), (uint32_t)(a.n + 100), NULL, 0,
             a.b, a.n);
    expect_zw("31 data past CD start", &z, DLOR_E_FORMAT,
                "run past the start of the central directory");
    /* local name, flags, method disagreeing with the CD */
    e = zw_add(&z, "a.npy", a.b, a.n, 0);
    e->name[0] = 'b';
    expect_zw("31 local name differs", &z, DLOR_E_FORMAT,
                "member 'b.npy': local header names it 'a.npy'");
    e = zw_add(&z, "a.npy", a.b, a.n, 0);
    e->flags = 0x0800;
    expect_zw("31 local flags differ", &z, DLOR_E_FORMAT,
                "local header flags 0x0000 differ from the central directory's 0x0800");
    e = zw_add(&z, "a.npy", a.b, a.n, 8);
    e->method = 0;
    e->usize = e->csize;
    expect_zw("31 local method differs", &z, DLOR_E_FORMAT,
                "local header method 8 differs");
    e = zw_add(&z, "a.npy", a.b, a.n, 0);
    e->offset += 1;
    expect_zw("31 no local header", &z, DLOR_E_FORMAT,
                "no local header at offset 1");
    free(a.b);
}

/* ---- 32: overlap, duplicates, unsafe names ----------------------------- */

static void test_case32(void)
{
    bytes a = {0};
    f32s(&a, "(6,)", F6, 6);
    size_t len;

    /* Fifield: member A's stored data is member B's whole local record, so
     * B's bytes are counted twice. */
    zw inner = {0};
    zw_add_n(&inner, "b.npy", 5, a.b, a.n, 0, 0);
    uint32_t bcrc = inner.e[0].crc;
    zw z = {0};
    zw_add_n(&z, "a.npy", 5, inner.o.b, inner.o.n, 0, 0);
    zent *e = zw_entry(&z, "b.npy", 5);
    e->offset = 30 + 5;
    e->crc = bcrc;
    e->csize = e->usize = a.n;
    expect_zw("32 overlapping entries", &z, DLOR_E_FORMAT,
                "members 'a.npy' and 'b.npy' overlap");
    free(inner.o.b);

    /* two CD entries for one local header with the same name */
    zw_add(&z, "a.npy", a.b, a.n, 0);
    z.e[1] = z.e[0];
    z.n = 2;
    expect_zw("32 duplicate (shared header)", &z,
                DLOR_E_FORMAT, "duplicate member name 'a.npy'");
    zw_add(&z, "a.npy", a.b, a.n, 0);
    zw_add(&z, "b.npy", a.b, a.n, 8);
    zw_add(&z, "a.npy", a.b, a.n, 8);
    expect_zw("32 duplicate names", &z, DLOR_E_FORMAT,
                "duplicate member name 'a.npy'");

    static const struct { const char *name, *frag; } bad[] = {
        {"../x.npy", "'../x.npy' has a '..' component"},
        {"a/../../x.npy", "has a '..' component"},
        {"a/..", "has a '..' component"},
        {"/abs.npy", "'/abs.npy' is an absolute path"},
        {"/etc/passwd", "is an absolute path"},
        {"C:x.npy", "is an absolute path"},
        {"a\\b.npy", "contains a backslash"},
        {"..\\x.npy", "contains a backslash"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zw_add(&z, bad[i].name, a.b, a.n, 0);
        expect_zw(bad[i].name, &z, DLOR_E_FORMAT, bad[i].frag);
    }
    zw_add_n(&z, "a\0b.npy", 7, a.b, a.n, 0, 1);
    expect_zw("32 NUL in name", &z, DLOR_E_FORMAT,
                "contains a NUL byte");
    zw_add_n(&z, "", 0, a.b, a.n, 0, 1);
    expect_zw("32 empty name", &z, DLOR_E_FORMAT,
                "member with an empty name");
    /* names that merely contain dots are fine */
    zw_add(&z, "..a.npy", a.b, a.n, 0);
    zw_add(&z, "x/...npy", a.b, a.n, 0);
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    unsigned char *buf = zw_finish(&z, 0, NULL, 0, &len);
    CHECK(dlor_npz_parse(buf, len, "w.npz", &l, &err) == DLOR_OK, "dotted names: %s", err.msg);
    CHECK(l.count == 2 && strcmp(l.items[0].name, "..a") == 0 && strcmp(l.items[1].name, "x/..") == 0,
          "dotted names");
    dlor_tensor_list_free(&l);
    free(buf);
    free(a.b);
}

/* ---- 33: encryption, methods, descriptors, CRC, end records ------------ */

static void test_case33(void)
{
    bytes a = {0};
    f32s(&a, "(6,)", F6, 6);
    size_t len;
    zw z = {0};
    zent *e;
    uint32_t crc = crc_of(a.b, a.n);

    e = zw_entry(&z, "a.npy", 5);
    e->flags = 1;
    e->crc = crc;
    e->csize = e->usize = a.n;
    zw_local(&z, "a.npy", 5, 1, 0, crc, (uint32_t)a.n, (uint32_t)a.n, NULL, 0, a.b, a.n);
    expect_zw("33 encrypted", &z, DLOR_E_UNSUPPORTED,
                "member 'a.npy' is encrypted");
    static const struct { unsigned m; const char *frag; } meths[] = {
        {12, "compression method 12 (bzip2)"}, {14, "compression method 14 (LZMA)"},
        {99, "compression method 99 (AES encryption)"}, {9, "compression method 9 (deflate64)"},
        {93, "compression method 93 (zstd)"}};
    for (size_t i = 0; i < sizeof meths / sizeof meths[0]; i++) {
        e = zw_entry(&z, "a.npy", 5);
        e->method = meths[i].m;
        e->crc = crc;
        e->csize = e->usize = a.n;
        zw_local(&z, "a.npy", 5, 0, meths[i].m, crc, (uint32_t)a.n, (uint32_t)a.n, NULL, 0, a.b, a.n);
        expect_zw(meths[i].frag, &z, DLOR_E_UNSUPPORTED,
                    meths[i].frag);
    }

    /* streamed member: flag 3, zeros in the local header, then a descriptor
     * without its optional signature: accepted when it agrees with the
     * central directory (torch.save writes such archives) */
    e = zw_entry(&z, "a.npy", 5);
    e->flags = 8;
    e->crc = crc;
    e->csize = e->usize = a.n;
    zw_local(&z, "a.npy", 5, 8, 0, 0, 0, 0, NULL, 0, a.b, a.n);
    p32(&z.o, crc);
    p32(&z.o, (uint32_t)a.n);
    p32(&z.o, (uint32_t)a.n);
    expect_zw("33 data descriptor", &z, DLOR_OK, "");
    /* ... with its signature, but a CRC that disagrees */
    e = zw_entry(&z, "a.npy", 5);
    e->flags = 8;
    e->crc = crc;
    e->csize = e->usize = a.n;
    zw_local(&z, "a.npy", 5, 8, 0, 0, 0, 0, NULL, 0, a.b, a.n);
    p32(&z.o, 0x08074b50u);
    p32(&z.o, crc ^ 1u);
    p32(&z.o, (uint32_t)a.n);
    p32(&z.o, (uint32_t)a.n);
    expect_zw("33 data descriptor CRC", &z, DLOR_E_FORMAT, "data descriptor");
    /* ... cut short before the central directory */
    e = zw_entry(&z, "a.npy", 5);
    e->flags = 8;
    e->crc = crc;
    e->csize = e->usize = a.n;
    zw_local(&z, "a.npy", 5, 8, 0, 0, 0, 0, NULL, 0, a.b, a.n);
    p32(&z.o, crc);
    expect_zw("33 data descriptor truncated", &z, DLOR_E_FORMAT, "data descriptor is truncated");

    /* CRC mismatch, stored and deflated */
    char frag[160];
    e = zw_entry(&z, "a.npy", 5);
    e->crc = crc ^ 0x00010000u;
    e->csize = e->usize = a.n;
    zw_local(&z, "a.npy", 5, 0, 0, e->crc, (uint32_t)a.n, (uint32_t)a.n, NULL, 0, a.b, a.n);
    snprintf(frag, sizeof frag, "w.npz: member 'a.npy': CRC-32 is 0x%08x, central directory says 0x%08x",
             (unsigned)crc, (unsigned)(crc ^ 0x00010000u));
    expect_zw("33 CRC mismatch stored", &z, DLOR_E_FORMAT, frag);
    e = zw_add(&z, "a.npy", a.b, a.n, 8);
    size_t mid = 30 + 5 + 20 + (size_t)e->csize / 2;
    unsigned char *buf = zw_finish(&z, 0, NULL, 0, &len);
    buf[mid] ^= 0x10; /* flip a bit in the middle of the deflate stream */
    {
        dlor_tensor_list l;
        dlor_error err;
        dlor_tensor_list_init(&l);
        dlor_status st = dlor_npz_parse(buf, len, "w.npz", &l, &err);
        CHECK(st == DLOR_E_FORMAT && strstr(err.msg, "w.npz: member 'a.npy'"),
              "33 corrupted deflate: %s", err.msg);
        CHECK(list_empty(&l), "list not empty");
        free(buf);
    }
    e = zw_add(&z, "a.npy", a.b, a.n, 0);
    e->crc ^= 1;
    expect_zw("33 local CRC differs", &z, DLOR_E_FORMAT,
                "local header CRC-32");

    /* deflate stream damage: garbage, truncated, trailing bytes */
    e = zw_entry(&z, "a.npy", 5);
    e->method = 8;
    e->crc = crc;
    e->csize = 4;
    e->usize = a.n;
    zw_local(&z, "a.npy", 5, 0, 8, crc, 4, (uint32_t)a.n, NULL, 0, "\xff\xff\xff\xff", 4);
    expect_zw("33 invalid deflate", &z, DLOR_E_FORMAT,
                "corrupt deflate data");
    size_t cn;
    unsigned char *comp = deflate_raw(a.b, a.n, &cn);
    e = zw_entry(&z, "a.npy", 5);
    e->method = 8;
    e->crc = crc;
    e->csize = cn - 3;
    e->usize = a.n;
    zw_local(&z, "a.npy", 5, 0, 8, crc, (uint32_t)(cn - 3), (uint32_t)a.n, NULL, 0, comp, cn - 3);
    expect_zw("33 truncated deflate", &z, DLOR_E_FORMAT,
                "deflate stream is truncated");
    unsigned char *padded = calloc(cn + 5, 1);
    memcpy(padded, comp, cn);
    e = zw_entry(&z, "a.npy", 5);
    e->method = 8;
    e->crc = crc;
    e->csize = cn + 5;
    e->usize = a.n;
    zw_local(&z, "a.npy", 5, 0, 8, crc, (uint32_t)(cn + 5), (uint32_t)a.n, NULL, 0, padded, cn + 5);
    expect_zw("33 bytes after deflate end", &z, DLOR_E_FORMAT,
                "5 bytes of compressed data follow the end of the deflate stream");
    free(padded);
    free(comp);

    /* a comment holding a stray "PK\5\6" (its length field does not reach
     * the end of the file) is harmless */
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    const char stray[] = "note PK\x05\x06 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    zw_add(&z, "a.npy", a.b, a.n, 0);
    buf = zw_finish(&z, 0, stray, sizeof stray - 1, &len);
    CHECK(dlor_npz_parse(buf, len, "w.npz", &l, &err) == DLOR_OK && l.count == 1,
          "33 stray signature in comment: %s", err.msg);
    dlor_tensor_list_free(&l);
    free(buf);

    /* a comment ending in a complete, self-consistent fake end record that
     * points at a fake central directory inside the comment */
    zw fake = {0};
    zw_add(&fake, "evil.npy", a.b, a.n, 0);
    size_t flen;
    unsigned char *fb = zw_finish(&fake, 0, NULL, 0, &flen);
    zw_add(&z, "a.npy", a.b, a.n, 0);
    buf = zw_finish(&z, 0, fb, flen, &len);
    expect_fail("33 fake EOCD in comment", buf, len, DLOR_E_FORMAT,
                "two zip end-of-central-directory records");
    free(fb);

    /* zip64 end record: valid, locator outside the file, disagreeing fields */
    zw_add(&z, "a.npy", a.b, a.n, 0);
    buf = zw_finish(&z, 1, NULL, 0, &len);
    CHECK(dlor_npz_parse(buf, len, "w.npz", &l, &err) == DLOR_OK && l.count == 1,
          "zip64 end record: %s", err.msg);
    dlor_tensor_list_free(&l);
    unsigned char *b2 = malloc(len);
    memcpy(b2, buf, len);
    w64(b2 + len - 22 - 20 + 8, (uint64_t)len + 1000);
    expect_fail("33 locator outside file", b2, len, DLOR_E_FORMAT,
                "zip64 end-of-central-directory locator points outside the file (offset");
    b2 = malloc(len);
    memcpy(b2, buf, len);
    w64(b2 + len - 22 - 20 + 8, UINT64_MAX);
    expect_fail("33 locator at 2^64-1", b2, len, DLOR_E_FORMAT, "points outside the file");
    b2 = malloc(len);
    memcpy(b2, buf, len);
    w64(b2 + len - 22 - 20 + 8, 0);
    expect_fail("33 locator at wrong record", b2, len, DLOR_E_FORMAT,
                "no zip64 end-of-central-directory record at offset 0");
    b2 = malloc(len);
    memcpy(b2, buf, len);
    w16(b2 + len - 22 + 10, 2); /* EOCD says 2 entries, zip64 record says 1 */
    w16(b2 + len - 22 + 8, 2);
    expect_fail("33 zip64 disagrees", b2, len, DLOR_E_FORMAT, "disagree");
    b2 = malloc(len);
    memcpy(b2, buf, len);
    w64(b2 + len - 22 - 20 - 56 + 32, 5); /* zip64 count beyond what the CD holds */
    w64(b2 + len - 22 - 20 - 56 + 24, 5);
    expect_fail("33 zip64 count", b2, len, DLOR_E_FORMAT, "claims 5 entries");
    b2 = malloc(len);
    memcpy(b2, buf, len);
    memset(b2 + len - 22 - 20, 0, 4); /* no locator, but saturated EOCD fields */
    expect_fail("33 saturated EOCD, no locator", b2, len, DLOR_E_FORMAT, "no zip64 locator");
    free(buf);

    /* plain EOCD problems */
    zw_add(&z, "a.npy", a.b, a.n, 0);
    buf = zw_finish(&z, 0, NULL, 0, &len);
    b2 = malloc(len);
    memcpy(b2, buf, len);
    w16(b2 + len - 22 + 4, 1);
    expect_fail("33 multi-disk", b2, len, DLOR_E_UNSUPPORTED, "multi-disk");
    b2 = malloc(len);
    memcpy(b2, buf, len);
    w32(b2 + len - 22 + 16, 7);
    expect_fail("33 CD offset wrong", b2, len, DLOR_E_FORMAT, "does not end where the end record");
    b2 = malloc(len);
    memcpy(b2, buf, len);
    w16(b2 + len - 22 + 8, 0);
    w16(b2 + len - 22 + 10, 0);
    expect_fail("33 CD has extra bytes", b2, len, DLOR_E_FORMAT, "bytes after its last entry");
    b2 = malloc(len);
    memcpy(b2, buf, len);
    w16(b2 + len - 22 + 20, 1);
    expect_fail("33 comment length past end", b2, len, DLOR_E_FORMAT,
                "no zip end-of-central-directory record");
    b2 = malloc(len + 3);
    memcpy(b2, buf, len);
    memcpy(b2 + len, "xyz", 3);
    expect_fail("33 trailing garbage", b2, len + 3, DLOR_E_FORMAT,
                "no zip end-of-central-directory record");
    expect_fail("33 tiny file", buf, 10, DLOR_E_FORMAT, "too short for a zip archive");
    free(a.b);
}

/* Every truncation and single-byte flips at every offset of a valid archive
 * (stored + deflated members, zip64 end record) parse or fail cleanly; each
 * copy is an exact-size allocation so ASan catches over-reads. */
static void test_mutations(void)
{
    bytes a = {0}, c = {0};
    f32s(&a, "(6,)", F6, 6);
    npy(&c, ">f8", 1, "(1, 2)", "\x3f\xf0\0\0\0\0\0\0\x40\0\0\0\0\0\0\0", 16);
    zw z = {0};
    zw_add(&z, "s.npy", a.b, a.n, 0);
    zw_add(&z, "d.npy", c.b, c.n, 8);
    size_t len;
    unsigned char *base = zw_finish(&z, 1, "cc", 2, &len);
    static const unsigned char flips[] = {0x01, 0x10, 0x80, 0xff};
    int clean = 1, oks = 0, total = 0;
    for (size_t cut = 0; cut <= len + 4 * sizeof flips * len; cut++) {
        size_t n = cut <= len ? cut : len;
        unsigned char *b = malloc(n ? n : 1);
        memcpy(b, base, n);
        if (cut > len) {
            size_t m = cut - len - 1, pos = (m / sizeof flips) % len;
            b[pos] ^= flips[m % sizeof flips];
        }
        dlor_tensor_list l;
        dlor_error err;
        dlor_tensor_list_init(&l);
        err.msg[0] = 0;
        dlor_status st = dlor_npz_parse(b, n, "m.npz", &l, &err);
        total++;
        if (st == DLOR_OK) {
            oks++;
            clean &= l.count == 2;
        } else {
            clean &= list_empty(&l) && strncmp(err.msg, "m.npz: ", 7) == 0;
        }
        dlor_tensor_list_free(&l);
        free(b);
    }
    CHECK(clean, "a mutated archive failed without a clean error");
    CHECK(oks > 0 && oks < total / 2, "%d of %d mutations parsed", oks, total);
    free(base);
    free(a.b);
    free(c.b);
}

int main(void)
{
    const uint16_t one = 1;
    unsigned char b0;
    memcpy(&b0, &one, 1);
    CHECK(b0 == 1, "these tests assume a little-endian host");

    test_numpy_layout(0);
    test_numpy_layout(8);
    test_large_and_zip64();
    test_empty_and_file();
    test_members();
    test_case30();
    test_case31();
    test_case32();
    test_case33();
    test_mutations();
    return dlt_finish();
}
