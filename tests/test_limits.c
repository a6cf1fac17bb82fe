/* test_limits - an input one past each documented limit is refused with a
 * message naming the limit (the table is in FUZZING.md); where it is cheap,
 * the input exactly at the limit is shown to get past that check.
 *
 * Limits already tested one past elsewhere are not repeated here: the
 * safetensors header (100,000,000 bytes), __metadata__ entries, tensor names,
 * tensor counts and dimensions (test_safetensors), JSON nesting (test_json),
 * the .npy header (test_npy), ONNX nesting (test_onnx), pickle stack, MARKs,
 * memo, GLOBAL and LONG1 sizes, dict nesting and visits, copy budget
 * (test_pt), decompressed npz size (test_npz), .dlor dimensions (test_container). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlor_container.h"
#include "dlor_crc32.h"
#include "dlor_fileio.h"
#include "dlor_pickle.h"
#include "dlor_protobuf.h"
#include "dlor_readers.h"
#include "dlor_zip.h"
#include "testutil.h"

#define EXPECT(what, st, err, want_st, phrase)                                                         \
    CHECK((st) == (want_st) && strstr((err).msg, (phrase)) != NULL, "%s: status %d (want %d), '%s' lacks '%s'", \
          what, (int)(st), (int)(want_st), (st) ? (err).msg : "", phrase)

/* ---- a growing byte buffer ----------------------------------------------- */

typedef dlt_buf buf;

static void put_rep(buf *o, const void *p, size_t n, size_t times)
{
    for (size_t i = 0; i < times; i++) dlt_put(o, p, n);
}

/* ---- input files -------------------------------------------------------------- */

/* 1 TiB + 1 byte, sparse: refused from its size, before anything is allocated. */
static void test_file_size(void)
{
    char path[512];
    dlt_tmp_path(path, sizeof path, "limit-1tib.safetensors");
    if (dlt_sparse_file(path, NULL, 0, (uint64_t)DLOR_MAX_INPUT_BYTES + 1) != 0) {
        printf("note: this file system has no sparse 1 TiB files; the input size limit is not tested here\n");
        unlink(path);
        return;
    }
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    dlor_status st = dlor_read_weights(path, &l, &err);
    EXPECT("read 1 TiB + 1", st, err, DLOR_E_LIMIT, "1099511627777 bytes exceeds the 1099511627776-byte limit");
    dlor_container c;
    dlor_container_init(&c);
    st = dlor_container_read(path, &c, &err);
    EXPECT(".dlor read 1 TiB + 1", st, err, DLOR_E_LIMIT, "exceeds the 1099511627776-byte limit");
    dlor_mapped_file m;
    st = dlor_file_map(path, DLOR_MAX_INPUT_BYTES, &m, &err);
    EXPECT("map 1 TiB + 1", st, err, DLOR_E_LIMIT, "exceeds the 1099511627776-byte limit");
    unlink(path);
}

/* ---- .dlor images built by hand ------------------------------------------------- */

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

typedef struct {
    const unsigned char *pool;
    size_t pool_len;
    const uint32_t *meta;  /* 4 words per record: key off, key len, value off, value len */
    size_t nmeta;
    size_t nops;           /* zeroed GRAPH records (0: no GRAPH section) */
} image_spec;

/* A canonical image with no tensors or layers: preamble, directory,
 * STRINGS, METADATA, TENSORS, LAYERS (and GRAPH), checksummed. */
static unsigned char *make_image(const image_spec *s, size_t *len)
{
    unsigned nsec = s->nops ? 5 : 4;
    uint64_t off[5], size[5], count[5], esize[5] = {0, 16, 128, 128, 32};
    uint32_t kind[5] = {1, 2, 3, 4, 0x8001};
    size[0] = count[0] = s->pool_len;
    count[1] = s->nmeta, count[2] = count[3] = 0, count[4] = s->nops;
    uint64_t pos = align_up(64 + 32 * nsec, 8);
    for (unsigned k = 0; k < nsec; k++) {
        if (k) size[k] = count[k] * esize[k];
        off[k] = pos;
        pos = off[k] + size[k];
        if (k + 1 < nsec) pos = align_up(pos, 8);
    }
    uint64_t header_len = pos, data_offset = align_up(pos, 64);
    unsigned char *b = calloc(1, (size_t)data_offset);
    if (!b) abort();
    memcpy(b, DLOR_IMAGE_MAGIC, 8);
    dlor_store_u16(b + 8, 1);
    dlor_store_u16(b + 10, 2);
    dlor_store_u32(b + 12, DLOR_IMAGE_ENDIAN_TAG);
    dlor_store_u64(b + 16, header_len);
    dlor_store_u64(b + 24, data_offset);
    dlor_store_u64(b + 32, 0);
    dlor_store_u64(b + 40, data_offset);
    dlor_store_u32(b + 52, nsec);
    for (unsigned k = 0; k < nsec; k++) {
        unsigned char *e = b + 64 + 32 * k;
        dlor_store_u32(e, kind[k]);
        dlor_store_u32(e + 4, (uint32_t)esize[k]);
        dlor_store_u64(e + 8, off[k]);
        dlor_store_u64(e + 16, size[k]);
        dlor_store_u64(e + 24, count[k]);
    }
    if (s->pool_len) memcpy(b + off[0], s->pool, s->pool_len);
    for (size_t i = 0; s->meta && i < s->nmeta; i++)
        for (int q = 0; q < 4; q++) dlor_store_u32(b + off[1] + 16 * i + 4 * q, s->meta[4 * i + q]);
    dlor_store_u32(b + 56, dlor_crc32(0, b, (size_t)header_len));
    *len = (size_t)data_offset;
    return b;
}

static int open_image(const unsigned char *b, size_t n, char *msg, size_t msgn)
{
    dlor_image img;
    dlor_image_error ie;
    int rc = dlor_image_open(&img, b, n, DLOR_IMAGE_CHECK_CRC, &ie);
    snprintf(msg, msgn, "%s", rc ? ie.msg : "");
    return rc;
}

#define EXPECT_IMG(what, rc, msg, want_rc, phrase)                                                      \
    CHECK((rc) == (want_rc) && strstr(msg, phrase) != NULL, "%s: code %d (want %d), '%s' lacks '%s'", what, rc, \
          want_rc, msg, phrase)

static void test_image_limits(void)
{
    char msg[300];
    size_t n;
    image_spec s;
    memset(&s, 0, sizeof s);
    unsigned char *b = make_image(&s, &n);
    CHECK(open_image(b, n, msg, sizeof msg) == 0, "the empty image opens: %s", msg);

    /* header_len: 64 MiB is a length the file must then hold; one byte more is the limit */
    unsigned char pre[64];
    memcpy(pre, b, 64);
    dlor_store_u64(pre + 40, 64); /* file_len: the 64 bytes given, checked first */
    dlor_store_u64(pre + 16, DLOR_IMAGE_MAX_HEADER + 1);
    EXPECT_IMG("header 64 MiB + 1", open_image(pre, 64, msg, sizeof msg), msg, DLOR_IMAGE_E_LIMIT,
               "header of 67108865 bytes exceeds the 64 MiB limit");
    dlor_store_u64(pre + 16, DLOR_IMAGE_MAX_HEADER);
    EXPECT_IMG("header 64 MiB", open_image(pre, 64, msg, sizeof msg), msg, DLOR_IMAGE_E_FORMAT, "inconsistent");
    /* sections: 64 at most */
    memcpy(pre, b, 64);
    dlor_store_u64(pre + 40, 64);
    dlor_store_u32(pre + 52, DLOR_IMAGE_MAX_SECTIONS + 1);
    EXPECT_IMG("65 sections", open_image(pre, 64, msg, sizeof msg), msg, DLOR_IMAGE_E_FORMAT,
               "65 sections (must be 1 to 64)");
    free(b);

    /* metadata records: 65536, checked before any record is read */
    s.nmeta = DLOR_IMAGE_MAX_META + 1;
    b = make_image(&s, &n);
    EXPECT_IMG("65537 metadata records", open_image(b, n, msg, sizeof msg), msg, DLOR_IMAGE_E_LIMIT,
               "65537 metadata records exceed the limit of 65536");
    free(b);
    s.nmeta = DLOR_IMAGE_MAX_META;
    b = make_image(&s, &n);
    EXPECT_IMG("65536 metadata records", open_image(b, n, msg, sizeof msg), msg, DLOR_IMAGE_E_FORMAT,
               "metadata record 0: bad key reference");
    free(b);
    s.nmeta = 0;

    /* graph operations: 65536 */
    s.nops = DLOR_IMAGE_MAX_OPS + 1;
    b = make_image(&s, &n);
    EXPECT_IMG("65537 graph operations", open_image(b, n, msg, sizeof msg), msg, DLOR_IMAGE_E_LIMIT,
               "graph of 65537 operations exceeds the limit of 65536");
    free(b);
    s.nops = DLOR_IMAGE_MAX_OPS;
    b = make_image(&s, &n);
    EXPECT_IMG("65536 graph operations", open_image(b, n, msg, sizeof msg), msg, DLOR_IMAGE_E_FORMAT, "graph op 0");
    free(b);
    s.nops = 0;

    /* key length 255, value length 65535, metadata text 1 MiB */
    size_t pool_len = 16 * 3 + 15 * 65535 + 65503 + 256 + 65536;
    unsigned char *pool = malloc(pool_len);
    uint32_t meta[4 * 16];
    size_t at = 0;
    for (int i = 0; i < 16; i++) {
        uint32_t vl = i < 15 ? 65535u : 65503u; /* 16 * 3 + 15 * 65535 + 65503 = 1 MiB exactly */
        snprintf((char *)pool + at, 4, "k%02d", i);
        meta[4 * i] = (uint32_t)at, meta[4 * i + 1] = 3;
        at += 3;
        memset(pool + at, 'v', vl);
        meta[4 * i + 2] = (uint32_t)at, meta[4 * i + 3] = vl;
        at += vl;
    }
    size_t long_key = at, long_val = at + 256;
    memset(pool + long_key, 'k', 256);
    memset(pool + long_val, 'v', 65536);
    s.pool = pool;
    s.pool_len = pool_len;
    s.meta = meta;
    s.nmeta = 16;
    b = make_image(&s, &n);
    CHECK(open_image(b, n, msg, sizeof msg) == 0, "metadata text of exactly 1 MiB opens: %s", msg);
    free(b);
    meta[4 * 15 + 3] = 65504; /* one byte more */
    b = make_image(&s, &n);
    EXPECT_IMG("metadata text 1 MiB + 1", open_image(b, n, msg, sizeof msg), msg, DLOR_IMAGE_E_LIMIT,
               "metadata text of 1048577 bytes exceeds the 1 MiB limit");
    free(b);
    uint32_t one[4] = {(uint32_t)long_key, 255, (uint32_t)long_val, 65535};
    s.meta = one;
    s.nmeta = 1;
    b = make_image(&s, &n);
    CHECK(open_image(b, n, msg, sizeof msg) == 0, "a 255-byte key and a 65535-byte value open: %s", msg);
    free(b);
    one[1] = 256;
    b = make_image(&s, &n);
    EXPECT_IMG("256-byte key", open_image(b, n, msg, sizeof msg), msg, DLOR_IMAGE_E_FORMAT,
               "metadata record 0: bad key reference");
    free(b);
    one[1] = 255, one[3] = 65536;
    b = make_image(&s, &n);
    EXPECT_IMG("65536-byte value", open_image(b, n, msg, sizeof msg), msg, DLOR_IMAGE_E_FORMAT, "bad value reference");
    free(b);
    free(pool);
}

/* The writer refuses what no reader would accept. */
static void test_writer_limits(void)
{
    dlor_container c;
    dlor_error err;
    unsigned char *img;
    size_t len;
    char key[300], *val = malloc(65537);
    dlor_container_init(&c);
    memset(key, 'k', 256);
    key[256] = 0;
    memset(val, 'v', 65536);
    val[65536] = 0;
    /* a 256-byte key, a 65536-byte value */
    dlor_tensor_list_add_meta(&c.tensors, key, "x", &err);
    dlor_status st = dlor_container_to_memory(&c, &img, &len, &err);
    EXPECT("writer: 256-byte key", st, err, DLOR_E_LIMIT, "key or value too long");
    dlor_container_free(&c);
    dlor_container_init(&c);
    dlor_tensor_list_add_meta(&c.tensors, "k", val, &err);
    st = dlor_container_to_memory(&c, &img, &len, &err);
    EXPECT("writer: 65536-byte value", st, err, DLOR_E_LIMIT, "key or value too long");
    dlor_container_free(&c);
    /* metadata text: 1 MiB exactly is written; one more byte is refused */
    dlor_container_init(&c);
    for (int i = 0; i < 16; i++) {
        size_t vl = i < 15 ? 65535 : 65503;
        snprintf(key, sizeof key, "k%02d", i);
        val[vl] = 0;
        dlor_tensor_list_add_meta(&c.tensors, key, val, &err);
        val[vl] = 'v';
    }
    st = dlor_container_to_memory(&c, &img, &len, &err);
    CHECK(st == DLOR_OK, "writer: 1 MiB of metadata text: %s", err.msg);
    if (st == DLOR_OK) {
        dlor_container r;
        dlor_container_init(&r);
        CHECK(dlor_container_parse(img, len, "w", DLOR_IMAGE_CHECK_CRC, &r, &err) == DLOR_OK, "reads back: %s",
              err.msg);
        dlor_container_free(&r);
        free(img);
    }
    dlor_tensor_list_add_meta(&c.tensors, "z", "", &err); /* key adds 1 byte */
    st = dlor_container_to_memory(&c, &img, &len, &err);
    EXPECT("writer: metadata text 1 MiB + 1", st, err, DLOR_E_LIMIT, "metadata text exceeds 1 MiB");
    dlor_container_free(&c);
    /* metadata records: 65536 */
    dlor_container_init(&c);
    for (unsigned i = 0; i <= DLOR_IMAGE_MAX_META; i++) {
        snprintf(key, sizeof key, "m%06u", i);
        dlor_tensor_list_add_meta(&c.tensors, key, "", &err);
    }
    st = dlor_container_to_memory(&c, &img, &len, &err);
    EXPECT("writer: 65537 metadata records", st, err, DLOR_E_LIMIT, "too many tensors, layers or metadata records");
    dlor_container_free(&c);
    /* a 256-byte layer name */
    dlor_container_init(&c);
    memset(key, 'L', 256);
    key[256] = 0;
    dlor_layer_desc d = {key, DLOR_IMAGE_MUL, DLOR_IMAGE_SCHUR, 1, 1, 1, 1, 1.0, "u", "v", DLOR_DT_F32, 0, DLOR_IMAGE_U_ROWS, NULL};
    dlor_container_add_layer(&c, &d, &err);
    st = dlor_container_to_memory(&c, &img, &len, &err);
    EXPECT("writer: 256-byte layer name", st, err, DLOR_E_LIMIT, "must be 1 to 255 bytes");
    dlor_container_free(&c);
    /* graph operations: 65536 */
    dlor_graph g;
    dlor_graph_init(&g);
    st = DLOR_OK;
    for (unsigned i = 0; i < DLOR_GRAPH_MAX_OPS && st == DLOR_OK; i++) st = dlor_graph_add_act(&g, DLOR_ACT_RELU, 0, &err);
    CHECK(st == DLOR_OK && g.count == DLOR_GRAPH_MAX_OPS, "65536 graph operations: %s", err.msg);
    st = dlor_graph_add_softmax(&g, &err);
    EXPECT("graph: 65537th operation", st, err, DLOR_E_LIMIT, "more than 65536 operations");
    dlor_graph_free(&g);
    buf t = {0};
    put_rep(&t, "relu;", 5, DLOR_GRAPH_MAX_OPS + 1);
    dlt_put1(&t, 0);
    dlor_graph_init(&g);
    st = dlor_graph_parse((const char *)t.b, &g, &err);
    EXPECT("graph text: 65537 operations", st, err, DLOR_E_LIMIT, "more than 65536 operations");
    dlor_graph_free(&g);
    dlt_buf_free(&t);
    free(val);
}

/* A compressed image may claim at most 1032 bytes out per byte of stream. */
static void test_deflate_ratio(void)
{
    dlor_container c;
    dlor_error err;
    char path[512];
    dlt_tmp_path(path, sizeof path, "limit-ratio.dlor");
    dlor_container_init(&c);
    dlor_tensor_list_add_meta(&c.tensors, "k", "v", &err);
    CHECK(dlor_container_write_deflated(path, &c, &err) == DLOR_OK, "write deflated: %s", err.msg);
    dlor_container_free(&c);
    size_t n = 0;
    unsigned char *z = NULL, *out = NULL, *img = NULL;
    dlor_status st = dlor_file_read(path, 1 << 20, &z, &n, &err);
    CHECK(st == DLOR_OK && n > 64, "read back");
    if (st != DLOR_OK) return;
    uint64_t body = n - 64, most = 64 + body * 1032 + 64;
    size_t out_len;
    dlor_store_u64(z + 40, most + 1);
    st = dlor_image_inflate(z, n, "ratio", &out, &out_len, &err);
    EXPECT("stream claiming 1032:1 + 1", st, err, DLOR_E_FORMAT, "impossible");
    dlor_store_u64(z + 40, most);
    st = dlor_image_inflate(z, n, "ratio", &img, &out_len, &err);
    EXPECT("stream claiming 1032:1", st, err, DLOR_E_FORMAT, "does not inflate to");
    free(z);
    unlink(path);
}

/* ---- zip ------------------------------------------------------------------------- */

static void le16(buf *o, unsigned v) { dlt_put1(o, v & 0xff), dlt_put1(o, (v >> 8) & 0xff); }
static void le32(buf *o, uint32_t v)
{
    for (int i = 0; i < 4; i++) dlt_put1(o, (v >> (8 * i)) & 0xff);
}
static void le64(buf *o, uint64_t v)
{
    for (int i = 0; i < 8; i++) dlt_put1(o, (unsigned)(v >> (8 * i)) & 0xff);
}

/* A zip64 end of central directory claiming 'count' entries in a central
 * directory of count * 46 zero bytes (the smallest it could be). */
static void test_zip_entries(void)
{
    for (int past = 0; past <= 1; past++) {
        uint64_t count = (uint64_t)DLOR_ZIP_MAX_ENTRIES + (uint64_t)past, cd = count * 46;
        buf o = {0};
        unsigned char *zeros = calloc(1, (size_t)cd);
        dlt_put(&o, zeros, (size_t)cd);
        free(zeros);
        le32(&o, 0x06064b50u), le64(&o, 44), le16(&o, 45), le16(&o, 45), le32(&o, 0), le32(&o, 0);
        le64(&o, count), le64(&o, count), le64(&o, cd), le64(&o, 0);
        le32(&o, 0x07064b50u), le32(&o, 0), le64(&o, cd), le32(&o, 1);
        le32(&o, 0x06054b50u), le16(&o, 0), le16(&o, 0), le16(&o, 0xffff), le16(&o, 0xffff);
        le32(&o, 0xffffffffu), le32(&o, 0xffffffffu), le16(&o, 0);
        dlor_zip z;
        dlor_error err;
        dlor_status st = dlor_zip_open(&z, o.b, o.n, "entries.npz", &err);
        if (past) EXPECT("zip of 2^20 + 1 entries", st, err, DLOR_E_LIMIT, "1048577 zip entries exceed the limit of 1048576");
        else EXPECT("zip of 2^20 entries", st, err, DLOR_E_FORMAT, "entry 0");
        dlor_zip_close(&z);
        dlt_buf_free(&o);
    }
}

/* One stored member "a.npy" of the given bytes, or a deflated one of the
 * given compressed bytes declaring usize. */
static void zip_one(buf *o, const void *data, size_t n, int deflated, uint32_t usize, uint32_t crc)
{
    le32(o, 0x04034b50u), le16(o, 20), le16(o, 0), le16(o, deflated ? 8 : 0), le16(o, 0), le16(o, 0);
    le32(o, crc), le32(o, (uint32_t)n), le32(o, usize), le16(o, 5), le16(o, 0);
    dlt_put(o, "a.npy", 5);
    dlt_put(o, data, n);
    size_t cd = o->n;
    le32(o, 0x02014b50u), le16(o, 20), le16(o, 20), le16(o, 0), le16(o, deflated ? 8 : 0), le16(o, 0), le16(o, 0);
    le32(o, crc), le32(o, (uint32_t)n), le32(o, usize), le16(o, 5), le16(o, 0), le16(o, 0), le16(o, 0), le16(o, 0);
    le32(o, 0), le32(o, 0);
    dlt_put(o, "a.npy", 5);
    size_t cd_size = o->n - cd;
    le32(o, 0x06054b50u), le16(o, 0), le16(o, 0), le16(o, 1), le16(o, 1), le32(o, (uint32_t)cd_size),
        le32(o, (uint32_t)cd), le16(o, 0);
}

static void test_zip_sizes(void)
{
    dlor_zip z;
    dlor_error err;
    const unsigned char *data;
    size_t size;
    unsigned char *block = NULL;
    /* extraction stops at max_out: one byte short is refused before anything is allocated */
    buf o = {0};
    zip_one(&o, "0123456789", 10, 0, 10, dlor_crc32(0, "0123456789", 10));
    dlor_status st = dlor_zip_open(&z, o.b, o.n, "sizes.npz", &err);
    CHECK(st == DLOR_OK, "stored zip opens: %s", err.msg);
    if (st == DLOR_OK) {
        st = dlor_zip_extract(&z, 0, "sizes.npz", 9, &data, &size, &block, &err);
        EXPECT("extract with a 9-byte cap", st, err, DLOR_E_LIMIT, "a.npy");
        st = dlor_zip_extract(&z, 0, "sizes.npz", 10, &data, &size, &block, &err);
        CHECK(st == DLOR_OK && size == 10 && memcmp(data, "0123456789", 10) == 0, "extract with a 10-byte cap");
        dlor_zip_close(&z);
    }
    dlt_buf_free(&o);
    /* deflate ratio: 1032 bytes per compressed byte (+1031) pass the check, one more does not */
    static const unsigned char stream[4] = {0x03, 0x00, 0x00, 0x00}; /* not inflated: the check comes first */
    for (int past = 0; past <= 1; past++) {
        uint32_t usize = 1032u * 4u + 1031u + (uint32_t)past;
        zip_one(&o, stream, 4, 1, usize, 0);
        st = dlor_zip_open(&z, o.b, o.n, "ratio.npz", &err);
        CHECK(st == DLOR_OK, "deflated zip opens: %s", err.msg);
        if (st == DLOR_OK) {
            block = NULL;
            st = dlor_zip_extract(&z, 0, "ratio.npz", DLOR_MAX_INPUT_BYTES, &data, &size, &block, &err);
            if (past) EXPECT("deflate 1032:1 + 1", st, err, DLOR_E_FORMAT, "beyond deflate's 1032:1 limit");
            else CHECK(st != DLOR_OK && !strstr(err.msg, "1032:1"), "deflate 1032:1 passes the ratio check: %s",
                       err.msg);
            free(block);
            dlor_zip_close(&z);
        }
        dlt_buf_free(&o);
    }
}

/* ---- protobuf / ONNX ----------------------------------------------------------- */

static void varint(buf *o, uint64_t v)
{
    while (v >= 0x80) dlt_put1(o, (unsigned)(v & 0x7f) | 0x80), v >>= 7;
    dlt_put1(o, (unsigned)v);
}
static void f_len(buf *o, uint32_t field, const void *p, size_t n)
{
    varint(o, ((uint64_t)field << 3) | 2);
    varint(o, n);
    dlt_put(o, p, n);
}

static void test_protobuf_field(void)
{
    for (int past = 0; past <= 1; past++) {
        buf o = {0};
        varint(&o, ((uint64_t)(DLOR_PB_MAX_FIELD + (uint64_t)past) << 3) | 0);
        varint(&o, 1);
        dlor_pb r;
        dlor_pb_field f;
        dlor_error err;
        dlor_pb_init(&r, o.b, o.n, 4);
        dlor_status st = dlor_pb_next(&r, &f, &err);
        if (past) EXPECT("field number 2^29", st, err, DLOR_E_FORMAT, "field");
        else CHECK(st == DLOR_OK && f.num == DLOR_PB_MAX_FIELD, "field number 2^29 - 1: %s", err.msg);
        dlt_buf_free(&o);
    }
}

/* A ModelProto whose graph holds 'body'. */
static void onnx_expect(const char *what, const buf *graph, const char *phrase)
{
    buf m = {0};
    varint(&m, 1 << 3), varint(&m, 8);
    f_len(&m, 7, graph->b, graph->n);
    dlor_tensor_list l;
    dlor_graph g;
    dlor_error err;
    char why[256];
    dlor_tensor_list_init(&l);
    dlor_graph_init(&g);
    dlor_status st = dlor_onnx_parse(m.b, m.n, "limits.onnx", NULL, &l, &g, why, sizeof why, &err);
    EXPECT(what, st, err, DLOR_E_LIMIT, phrase);
    dlor_tensor_list_free(&l);
    dlor_graph_free(&g);
    dlt_buf_free(&m);
}

static void test_onnx_limits(void)
{
    buf g = {0}, node = {0};
    /* graph inputs: 65536 */
    static const unsigned char input[] = {0x5a, 0x03, 0x0a, 0x01, 'x'};
    put_rep(&g, input, sizeof input, (1u << 16) + 1);
    onnx_expect("65537 graph inputs", &g, "more than 65536 graph inputs");
    g.n = 0;
    /* nodes: 2^21 */
    static const unsigned char empty_node[] = {0x0a, 0x00};
    put_rep(&g, empty_node, 2, (1u << 21) + 1);
    onnx_expect("2^21 + 1 nodes", &g, "graph has more than 2097152 nodes");
    g.n = 0;
    /* attributes: 2^22 in the graph */
    static const unsigned char empty_attr[] = {0x2a, 0x00};
    put_rep(&node, empty_attr, 2, (1u << 22) + 1);
    f_len(&g, 1, node.b, node.n);
    onnx_expect("2^22 + 1 attributes", &g, "more than 4194304 attributes in the graph");
    g.n = node.n = 0;
    /* node inputs and outputs: 2^23 */
    static const unsigned char empty_input[] = {0x0a, 0x00};
    put_rep(&node, empty_input, 2, (1u << 23) + 1);
    f_len(&g, 1, node.b, node.n);
    onnx_expect("2^23 + 1 node inputs", &g, "more than 8388608 node inputs and outputs");
    g.n = 0;
    /* initializers: 2^20 (the tensor limit), each a float scalar "w" */
    static const unsigned char init[] = {0x2a, 0x0b, 0x10, 0x01, 0x42, 0x01, 'w', 0x4a, 0x04, 0, 0, 0, 0};
    put_rep(&g, init, sizeof init, DLOR_MAX_TENSORS + 1);
    onnx_expect("2^20 + 1 initializers", &g, "more than 1048576 initializers");
    dlt_buf_free(&g);
    dlt_buf_free(&node);
}

/* An external-data location of 4096 bytes is looked at; 4097 is refused. */
static void test_onnx_location(void)
{
    char dir[512], path[600];
    dlt_tmp_path(dir, sizeof dir, "limit-onnx");
    snprintf(path, sizeof path, "%s.onnx", dir);
    for (int past = 0; past <= 1; past++) {
        buf loc = {0}, entry = {0}, t = {0}, g = {0}, m = {0};
        char *name = malloc(4097 + 1);
        memset(name, 'a', 4096 + (size_t)past);
        name[4096 + past] = 0;
        f_len(&entry, 1, "location", 8);
        f_len(&entry, 2, name, strlen(name));
        varint(&t, 1 << 3), varint(&t, 1);        /* dims: [1] */
        varint(&t, 2 << 3), varint(&t, 1);        /* FLOAT */
        f_len(&t, 8, "w", 1);                     /* name */
        f_len(&t, 13, entry.b, entry.n);          /* external_data */
        varint(&t, 14 << 3), varint(&t, 1);       /* data_location: EXTERNAL */
        f_len(&g, 5, t.b, t.n);
        varint(&m, 1 << 3), varint(&m, 8);
        f_len(&m, 7, g.b, g.n);
        CHECK(dlt_write_file(path, m.b, m.n) == 0, "write %s", path);
        dlor_tensor_list l;
        dlor_graph gr;
        dlor_error err;
        char why[256];
        dlor_tensor_list_init(&l);
        dlor_graph_init(&gr);
        dlor_status st = dlor_read_onnx(path, &l, &gr, why, sizeof why, &err);
        if (past) EXPECT("4097-byte location", st, err, DLOR_E_LIMIT, "external data location of 4097 bytes is too long");
        else CHECK(st != DLOR_OK && !strstr(err.msg, "too long"), "4096-byte location passes the length check: %s",
                   err.msg);
        dlor_tensor_list_free(&l);
        dlor_graph_free(&gr);
        free(name);
        dlt_buf_free(&loc), dlt_buf_free(&entry), dlt_buf_free(&t), dlt_buf_free(&g), dlt_buf_free(&m);
    }
    unlink(path);
}

/* ---- pickle ----------------------------------------------------------------------- */

static void pkl_expect(const char *what, const buf *p, dlor_status want, const char *phrase)
{
    dlor_pkl k;
    dlor_error err;
    dlor_status st = dlor_pkl_load(&k, p->b, p->n, "limits.pkl", &err);
    EXPECT(what, st, err, want, phrase);
    dlor_pkl_free(&k);
}

static void test_pickle_limits(void)
{
    buf p = {0};
    /* objects: 2^23, made in rounds of MARK, 2^20 - 1 Nones, APPENDS */
    dlt_put(&p, "\x80\x02]", 3);
    unsigned long made = 1, want = DLOR_PKL_MAX_OBJECTS + 1ul;
    while (made < want) {
        unsigned long k = want - made < (1ul << 20) - 2 ? want - made : (1ul << 20) - 2;
        dlt_put1(&p, '(');
        for (unsigned long i = 0; i < k; i++) dlt_put1(&p, 'N');
        dlt_put1(&p, 'e');
        made += k;
    }
    dlt_put1(&p, '.');
    pkl_expect("2^23 + 1 objects", &p, DLOR_E_LIMIT, "more than 8388608 objects");
    p.n = 0;
    /* LONG1: 8 bytes at most */
    dlt_put(&p, "\x80\x02\x8a\x09", 4);
    dlt_put(&p, "\x01\x02\x03\x04\x05\x06\x07\x08\x00", 9);
    dlt_put1(&p, '.');
    pkl_expect("LONG1 of 9 bytes", &p, DLOR_E_LIMIT, "integer of 9 bytes is beyond the 8-byte (int64) limit");
    p.n = 0;
    dlt_put(&p, "\x80\x02\x8a\x08", 4);
    dlt_put(&p, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    dlt_put1(&p, '.');
    dlor_pkl k;
    dlor_error err;
    CHECK(dlor_pkl_load(&k, p.b, p.n, "limits.pkl", &err) == DLOR_OK, "LONG1 of 8 bytes: %s", err.msg);
    dlor_pkl_free(&k);
    /* GLOBAL: "module\nname\n" within 256 bytes (refused here as not allow-listed, not as too long) */
    for (int past = 0; past <= 1; past++) {
        p.n = 0;
        dlt_put(&p, "\x80\x02" "c", 3);
        for (int i = 0; i < 250 + past; i++) dlt_put1(&p, 'm');
        dlt_put(&p, "\nname\n.", 7); /* 250 + 1 + 4 + 1 = 256 bytes */
        if (past) pkl_expect("GLOBAL of 257 bytes", &p, DLOR_E_LIMIT, "within 256 bytes");
        else pkl_expect("GLOBAL of 256 bytes", &p, DLOR_E_UNSUPPORTED, "mmmm");
    }
    dlt_buf_free(&p);
}

int main(void)
{
    test_file_size();
    test_image_limits();
    test_writer_limits();
    test_deflate_ratio();
    test_zip_entries();
    test_zip_sizes();
    test_protobuf_field();
    test_onnx_limits();
    test_onnx_location();
    test_pickle_limits();
    return dlt_finish();
}
