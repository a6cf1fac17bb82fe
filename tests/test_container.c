/* test_container.c - the .dlor container: checksums, bit-exact round trip,
 * detection of every single-byte flip and every truncation, the reader's
 * individual checks, and the writer's atomicity. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>

#include "dlor_container.h"
#include "dlor_crc32.h"
#include "dlor_fileio.h"
#include "dlor_sha256.h"
#include "testutil.h"

static void test_crc32(void)
{
    CHECK(dlor_crc32(0, "123456789", 9) == 0xCBF43926u, "check value %08x", dlor_crc32(0, "123456789", 9));
    dlt_rng r = {7};
    unsigned char buf[3000];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(dlt_uniform(&r) * 256);
    for (size_t n = 0; n < sizeof buf; n += 97) {
        uint32_t a = dlor_crc32(0, buf, n);
        uint32_t b = (uint32_t)crc32(0L, buf, (uInt)n); /* zlib as the reference */
        CHECK(a == b, "length %zu: %08x vs zlib %08x", n, a, b);
        /* incremental == one shot */
        CHECK(dlor_crc32(dlor_crc32(0, buf, n / 3), buf + n / 3, n - n / 3) == a, "incremental %zu", n);
    }
}

static void test_sha256(void)
{
    /* FIPS 180-4 example vectors */
    char hex[65];
    dlor_sha256_hex("abc", 3, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "abc: %s", hex);
    dlor_sha256_hex("", 0, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "empty: %s", hex);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    dlor_sha256_hex(m, strlen(m), hex);
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0, "448: %s", hex);
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    dlor_sha256 s;
    unsigned char d[32];
    dlor_sha256_init(&s);
    for (int i = 0; i < 1000000; i += 999) dlor_sha256_update(&s, a + i, i + 999 <= 1000000 ? 999 : 1000000 - i);
    dlor_sha256_final(&s, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0, "1M a: %s", hex);
    free(a);
}

/* A small container: carried tensors of several dtypes and ranks, one mul
 * layer (3x5 padded to 5) and one add layer (4x2). */
static unsigned char g_blocks[8][4096];

static void add_t(dlor_container *c, int blk, const char *name, dlor_dtype dt, int ndim, uint64_t d0,
                  uint64_t d1)
{
    uint64_t dims[2] = {d0, d1}, n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    size_t nb = (size_t)n * dlor_dtype_size(dt);
    for (size_t i = 0; i < nb; i++) g_blocks[blk][i] = (unsigned char)(i * 31 + blk * 7 + 1);
    if (dlor_dtype_is_float(dt)) { /* keep float payloads finite */
        double *x = malloc(n * sizeof *x + 1);
        for (uint64_t i = 0; i < n; i++) x[i] = 0.25 * (double)i - 1.0 + blk;
        dlor_encode_f64(x, n, dt, g_blocks[blk]);
        free(x);
    }
    dlor_error e;
    dlor_status st = dlor_tensor_list_add(&c->tensors, "test", name, strlen(name), dt, ndim, dims,
                                          g_blocks[blk], nb, &e);
    CHECK(st == DLOR_OK, "add %s: %s", name, e.msg);
}

static void build_sample(dlor_container *c)
{
    dlor_error e;
    dlor_container_init(c);
    add_t(c, 0, "b.bias", DLOR_DT_F16, 1, 3, 0);
    add_t(c, 1, "step", DLOR_DT_I64, 0, 0, 0);
    add_t(c, 2, "empty", DLOR_DT_F32, 2, 0, 3);
    add_t(c, 3, "a.weight.dlor.U", DLOR_DT_F32, 2, 5, 5);
    add_t(c, 4, "a.weight.dlor.V", DLOR_DT_F32, 2, 5, 5);
    add_t(c, 5, "c.weight.dlor.U", DLOR_DT_BF16, 2, 2, 4);
    add_t(c, 6, "c.weight.dlor.V", DLOR_DT_BF16, 2, 2, 2);
    add_t(c, 7, "norm", DLOR_DT_F64, 1, 7, 0);
    dlor_layer_desc a = {"a.weight", DLOR_IMAGE_MUL, DLOR_IMAGE_SCHUR, 3, 5, 2, 3, 1.25,
                         "a.weight.dlor.U", "a.weight.dlor.V", DLOR_DT_F32, 0, DLOR_IMAGE_U_PANELS, NULL};
    dlor_layer_desc b = {"c.weight", DLOR_IMAGE_ADD, DLOR_IMAGE_SVD, 4, 2, 1, 2, 0.0,
                         "c.weight.dlor.U", "c.weight.dlor.V", DLOR_DT_F16, 0, DLOR_IMAGE_U_ROWS, NULL};
    CHECK(dlor_container_add_layer(c, &a, &e) == DLOR_OK, "layer a");
    CHECK(dlor_container_add_layer(c, &b, &e) == DLOR_OK, "layer c");
    dlor_tensor_list_add_meta(&c->tensors, "dlor.version", "test", &e);
    dlor_tensor_list_add_meta(&c->tensors, "source.\xc3\xa9t\xc3\xa9", "caf\xc3\xa9", &e);
    dlor_tensor_list_add_meta(&c->tensors, "dlor.empty", "", &e);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    unsigned char *b = NULL;
    dlor_error e;
    if (dlor_file_read(path, 1 << 30, &b, len, &e) != DLOR_OK) return NULL;
    return b;
}

static void recrc(unsigned char *b, size_t n)
{
    uint64_t hl = dlor_load_u64(b + 16);
    if (hl > n) return; /* the mutation itself made the header length impossible */
    dlor_store_u32(b + 56, 0);
    dlor_store_u32(b + 56, dlor_crc32(0, b, (size_t)hl));
}

static int open_code(const unsigned char *b, size_t n, char *msg, size_t msgn)
{
    dlor_image img;
    dlor_image_error ie;
    int rc = dlor_image_open(&img, b, n, DLOR_IMAGE_CHECK_CRC, &ie);
    if (msg) snprintf(msg, msgn, "%s", rc ? ie.msg : "");
    return rc;
}

static void test_round_trip(const char *p1, const char *p2)
{
    dlor_container c, r;
    dlor_error e;
    build_sample(&c);
    CHECK(dlor_container_write(p1, &c, &e) == DLOR_OK, "write: %s", e.msg);
    dlor_container_init(&r);
    CHECK(dlor_container_read(p1, &r, &e) == DLOR_OK, "read: %s", e.msg);
    CHECK(r.tensors.count == c.tensors.count && r.nlayers == 2 && r.tensors.meta_count == 3, "counts");
    for (size_t i = 0; i < c.tensors.count; i++) {
        const dlor_tensor *a = &c.tensors.items[i], *b = dlor_tensor_list_find(&r.tensors, a->name);
        CHECK(b && b->dtype == a->dtype && b->ndim == a->ndim && b->nbytes == a->nbytes &&
                  memcmp(a->data, b->data, a->nbytes) == 0,
              "tensor %s round trip", a->name);
        /* in the file's buffer, 64-byte aligned (but the U tensor stored in panels,
         * which the reader turns back into rows in a copy of its own) */
        const unsigned char *base = dlor_tensor_list_find(&r.tensors, "b.bias")->data;
        if (b && b->nbytes && strcmp(a->name, "a.weight.dlor.U") != 0)
            CHECK(((uintptr_t)(b->data - base)) % 64 == 0, "alignment %s", a->name);
    }
    const dlor_layer_desc *la = dlor_container_find_layer(&r, "a.weight");
    const dlor_layer_desc *lc = dlor_container_find_layer(&r, "c.weight");
    CHECK(la && la->rows == 3 && la->cols == 5 && la->rank == 2 && la->factors == 3 && la->alpha == 1.25 &&
              strcmp(la->u_name, "a.weight.dlor.U") == 0 && la->source_dtype == DLOR_DT_F32 &&
              la->u_layout == DLOR_IMAGE_U_PANELS,
          "layer a fields");
    CHECK(lc && lc->u_layout == DLOR_IMAGE_U_ROWS, "layer c layout");
    CHECK(dlor_container_write(p2, &r, &e) == DLOR_OK, "rewrite: %s", e.msg);
    size_t n1, n2;
    unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0, "bit-exact round trip (%zu vs %zu bytes)", n1, n2);
    free(b2);
    dlor_container_free(&r);
    dlor_container_free(&c);

    /* Every single-byte change and every truncation is detected. */
    size_t flips_missed = 0, trunc_missed = 0;
    for (size_t i = 0; i < n1; i++) {
        for (int mask = 1; mask <= 0x80; mask <<= 7) {
            b1[i] ^= (unsigned char)mask;
            if (open_code(b1, n1, NULL, 0) == 0) flips_missed++;
            b1[i] ^= (unsigned char)mask;
        }
    }
    CHECK(flips_missed == 0, "%zu of %zu single-byte flips went undetected", flips_missed, 2 * n1);
    for (size_t n = 0; n < n1; n++)
        if (open_code(b1, n, NULL, 0) == 0) trunc_missed++;
    CHECK(trunc_missed == 0, "%zu truncations went undetected", trunc_missed);
    CHECK(open_code(b1, n1, NULL, 0) == 0, "pristine copy opens");
    free(b1);
}

/* Each mutation keeps the header checksum valid so that the specific check is reached. */
typedef struct {
    const char *what;
    void (*mutate)(unsigned char *b);
    int code;
    const char *msg_part;
} mutation;

static uint64_t sec_off(const unsigned char *b, int kind)
{
    uint32_t n = dlor_load_u32(b + 52);
    for (uint32_t s = 0; s < n; s++)
        if (dlor_load_u32(b + 64 + 32 * s) == (uint32_t)kind) return dlor_load_u64(b + 64 + 32 * s + 8);
    return 0;
}
static unsigned char *trec(unsigned char *b, int i) { return b + sec_off(b, 3) + 128 * i; }
static unsigned char *lrec(unsigned char *b, int i) { return b + sec_off(b, 4) + 128 * i; }

static void m_major(unsigned char *b) { dlor_store_u16(b + 8, 2); }
static void m_endian(unsigned char *b) { dlor_store_u32(b + 12, 0x04030201); }
static void m_flags(unsigned char *b) { dlor_store_u32(b + 48, 2); } /* bit 0 is DEFLATE */
static void m_reserved(unsigned char *b) { b[60] = 1; }
static void m_unknown_kind(unsigned char *b) { dlor_store_u32(b + 64 + 32 * 3, 77); }
static void m_dup_kind(unsigned char *b) { dlor_store_u32(b + 64 + 32 * 3, 3); }
static void m_name_order(unsigned char *b)
{
    unsigned char t[8];
    memcpy(t, trec(b, 0), 8);
    memcpy(trec(b, 0), trec(b, 1), 8);
    memcpy(trec(b, 1), t, 8);
}
static void m_dtype(unsigned char *b) { dlor_store_u16(trec(b, 0) + 8, 99); }
static void m_ndim(unsigned char *b) { trec(b, 0)[10] = 9; }
static void m_dim(unsigned char *b) { dlor_store_u64(trec(b, 0) + 16, dlor_load_u64(trec(b, 0) + 16) + 1); }
static void m_dim_overflow(unsigned char *b)
{
    dlor_store_u64(trec(b, 0) + 16, 1ull << 62);
    dlor_store_u64(trec(b, 0) + 24, 1ull << 62);
    trec(b, 0)[10] = 2;
}
static void m_offset(unsigned char *b) { dlor_store_u64(trec(b, 1) + 80, dlor_load_u64(trec(b, 1) + 80) + 64); }
static void m_name_ref(unsigned char *b) { dlor_store_u32(trec(b, 0), 0xfffffff0u); }
static void m_rank0(unsigned char *b) { dlor_store_u64(lrec(b, 0) + 32, 0); }
static void m_factors(unsigned char *b) { dlor_store_u64(lrec(b, 0) + 40, 7); }
static void m_alpha_nan(unsigned char *b) { dlor_store_u64(lrec(b, 0) + 48, 0x7ff8000000000000ull); }
static void m_alpha_zero_mul(unsigned char *b) { dlor_store_u64(lrec(b, 0) + 48, 0); }
static void m_same_uv(unsigned char *b) { dlor_store_u32(lrec(b, 0) + 60, dlor_load_u32(lrec(b, 0) + 56)); }
static void m_uv_range(unsigned char *b) { dlor_store_u32(lrec(b, 0) + 56, 1000); }
static void m_rows(unsigned char *b) { dlor_store_u64(lrec(b, 0) + 24, 6); }
static void m_basis(unsigned char *b) { dlor_store_u16(lrec(b, 0) + 10, 3); }
static void m_seed(unsigned char *b) { dlor_store_u64(lrec(b, 0) + 72, 5); }
static void m_layout(unsigned char *b) { dlor_store_u16(lrec(b, 0) + 12, 2); }
static void m_layer_reserved(unsigned char *b) { lrec(b, 0)[14] = 2; /* bit 0 is the base flag (1.7); bit 1 is reserved */ }
static void m_header_len(unsigned char *b) { dlor_store_u64(b + 16, 1ull << 40); }
static void m_section_order(unsigned char *b) /* METADATA and TENSORS entries trade places */
{
    unsigned char t[32];
    memcpy(t, b + 64 + 32, 32);
    memcpy(b + 64 + 32, b + 64 + 64, 32);
    memcpy(b + 64 + 64, t, 32);
}
static void m_source_dtype(unsigned char *b) { dlor_store_u16(lrec(b, 0) + 64, DLOR_DT_U8); }

static void test_mutations(const char *path)
{
    static const mutation ms[] = {
        {"major version 2", m_major, DLOR_IMAGE_E_UNSUPPORTED, "version 2"},
        {"endian tag", m_endian, DLOR_IMAGE_E_FORMAT, "endianness"},
        {"required flag", m_flags, DLOR_IMAGE_E_UNSUPPORTED, "feature flags"},
        {"reserved preamble", m_reserved, DLOR_IMAGE_E_FORMAT, "reserved"},
        {"unknown required section", m_unknown_kind, DLOR_IMAGE_E_UNSUPPORTED, "kind 77"},
        {"duplicate section", m_dup_kind, DLOR_IMAGE_E_FORMAT, "twice"},
        {"tensor names out of order", m_name_order, DLOR_IMAGE_E_FORMAT, "out of order"},
        {"unknown dtype", m_dtype, DLOR_IMAGE_E_UNSUPPORTED, "dtype code 99"},
        {"ndim 9", m_ndim, DLOR_IMAGE_E_FORMAT, "9 dimensions"},
        {"dims disagree with nbytes", m_dim, DLOR_IMAGE_E_FORMAT, "shape needs"},
        {"dims overflow", m_dim_overflow, DLOR_IMAGE_E_FORMAT, "overflow"},
        {"tensor offset moved", m_offset, DLOR_IMAGE_E_FORMAT, "expected"},
        {"name outside the pool", m_name_ref, DLOR_IMAGE_E_FORMAT, "bad name reference"},
        {"rank 0", m_rank0, DLOR_IMAGE_E_FORMAT, "rank 0"},
        {"unknown U layout", m_layout, DLOR_IMAGE_E_FORMAT, "unknown U layout 2"},
        {"layer reserved byte", m_layer_reserved, DLOR_IMAGE_E_FORMAT, "reserved"},
        {"factor count", m_factors, DLOR_IMAGE_E_FORMAT, "factors"},
        {"alpha NaN", m_alpha_nan, DLOR_IMAGE_E_FORMAT, "alpha"},
        {"alpha 0 for mul", m_alpha_zero_mul, DLOR_IMAGE_E_FORMAT, "alpha"},
        {"U == V", m_same_uv, DLOR_IMAGE_E_FORMAT, "indices"},
        {"U index out of range", m_uv_range, DLOR_IMAGE_E_FORMAT, "indices"},
        {"shape vs factors", m_rows, DLOR_IMAGE_E_FORMAT, "factor shapes"},
        {"basis svd for mul", m_basis, DLOR_IMAGE_E_FORMAT, "basis"},
        {"seed for schur", m_seed, DLOR_IMAGE_E_FORMAT, "seed"},
        {"header_len huge", m_header_len, DLOR_IMAGE_E_LIMIT, "64 MiB"},
        {"sections out of order", m_section_order, DLOR_IMAGE_E_FORMAT, "increasing order"},
        {"source dtype u8", m_source_dtype, DLOR_IMAGE_E_FORMAT, "source dtype 9"},
    };
    size_t n;
    unsigned char *orig = slurp(path, &n);
    if (!orig) {
        CHECK(0, "cannot read %s", path);
        return;
    }
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        char msg[300];
        memcpy(b, orig, n);
        ms[i].mutate(b);
        recrc(b, n);
        int rc = open_code(b, n, msg, sizeof msg);
        CHECK(rc == ms[i].code && strstr(msg, ms[i].msg_part), "%s: code %d (want %d), message '%s'",
              ms[i].what, rc, ms[i].code, msg);
    }
    /* Without re-checksumming, a header change is a checksum error. */
    memcpy(b, orig, n);
    m_rank0(b);
    char msg[300];
    CHECK(open_code(b, n, msg, sizeof msg) == DLOR_IMAGE_E_FORMAT && strstr(msg, "checksum"), "crc: %s", msg);
    /* A data byte change is a CRC error naming the tensor. */
    memcpy(b, orig, n);
    b[n - 1] ^= 0x10;
    CHECK(open_code(b, n, msg, sizeof msg) == DLOR_IMAGE_E_FORMAT && strstr(msg, "CRC-32") && strstr(msg, "'step'"),
          "data crc: %s", msg);
    /* Trailing bytes (a polyglot) are rejected. */
    unsigned char *longer = malloc(n + 64);
    memcpy(longer, orig, n);
    memset(longer + n, 0, 64);
    CHECK(open_code(longer, n + 64, msg, sizeof msg) != 0 && strstr(msg, "truncated or extended"), "trailing: %s", msg);
    free(longer);
    /* Lookups on a valid image. */
    dlor_image img;
    dlor_image_error ie;
    CHECK(dlor_image_open(&img, orig, n, 0, &ie) == 0, "open without CRC");
    CHECK(dlor_image_find_tensor(&img, "norm", 4) >= 0 && dlor_image_find_tensor(&img, "nor", 3) < 0, "find tensor");
    CHECK(dlor_image_find_layer(&img, "c.weight", 8) == 1, "find layer");
    uint32_t vl;
    const char *v = dlor_image_meta_get(&img, "dlor.version", &vl);
    CHECK(v && vl == 4 && memcmp(v, "test", 4) == 0, "meta get");
    free(b);
    free(orig);
}

static int count_tmp_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void test_writer_safety(const char *good)
{
    dlor_container c;
    dlor_error e;
    build_sample(&c);
    /* Missing folder: clean I/O error naming the path. */
    CHECK(dlor_container_write("/nonexistent-dir/x.dlor", &c, &e) == DLOR_E_IO && strstr(e.msg, "/nonexistent-dir/x.dlor"),
          "missing dir: %s", e.msg);
    /* An invalid layer is refused before anything is written; the old file stays. */
    size_t n0, n1;
    unsigned char *before = slurp(good, &n0);
    free(c.layers[0].v_name);
    c.layers[0].v_name = malloc(8);
    strcpy(c.layers[0].v_name, "nothing");
    CHECK(dlor_container_write(good, &c, &e) == DLOR_E_ARG && strstr(e.msg, "a.weight"), "bad layer: %s", e.msg);
    unsigned char *after = slurp(good, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0, "existing file untouched");
    free(after);
    dlor_container_free(&c);

    /* A write that runs out of room (file-size limit) fails cleanly: no temp
     * file left, the existing output unchanged. */
    dlor_container big;
    dlor_container_init(&big);
    size_t nb = 1 << 20;
    unsigned char *blob = calloc(1, nb);
    uint64_t dims[1] = {nb};
    dlor_tensor_list_add(&big.tensors, "t", "blob", 4, DLOR_DT_U8, 1, dims, blob, nb, &e);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64 * 1024;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    dlor_status st = dlor_container_write(good, &big, &e);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(st == DLOR_E_IO, "size limit: status %d (%s)", st, e.msg);
    after = slurp(good, &n1);
    CHECK(after && n0 == n1 && memcmp(before, after, n0) == 0, "existing file untouched after a failed write");
    char dir[512];
    dlt_tmp_path(dir, sizeof dir, "");
    CHECK(count_tmp_files(dir, "rt1.dlor") == 0, "no temporary file left behind");
    free(after);
    free(before);
    free(blob);
    dlor_container_free(&big);
}

/* --compress: the data section as one zlib stream. */
static void test_deflated(const char *path)
{
    dlor_container c;
    dlor_error e;
    dlor_image img;
    dlor_image_error ie;
    build_sample(&c);
    unsigned char *plain, *infl;
    size_t plain_len, zlen, infl_len;
    CHECK(dlor_container_to_memory(&c, &plain, &plain_len, &e) == DLOR_OK, "serialize");
    CHECK(dlor_container_write_deflated(path, &c, &e) == DLOR_OK, "write deflated: %s", e.msg);
    unsigned char *z = slurp(path, &zlen);
    CHECK(z && (dlor_load_u32(z + 48) & DLOR_IMAGE_FLAG_DEFLATE), "flag set");
    CHECK(z && dlor_load_u32(z + 60) == dlor_crc32(0, z + DLOR_IMAGE_PREAMBLE, zlen - DLOR_IMAGE_PREAMBLE),
          "compressed-data CRC recorded");
    /* the embedded runtime's parser refuses it, saying why */
    int rc = dlor_image_open(&img, z, zlen, DLOR_IMAGE_CHECK_CRC, &ie);
    CHECK(rc == DLOR_IMAGE_E_UNSUPPORTED && strstr(ie.msg, "zlib-compressed"), "runtime refuses: %d %s", rc, ie.msg);
    /* hosts inflate it back to exactly the uncompressed image */
    CHECK(dlor_image_inflate(z, zlen, "z", &infl, &infl_len, &e) == DLOR_OK, "inflate: %s", e.msg);
    CHECK(infl_len == plain_len && memcmp(infl, plain, plain_len) == 0, "inflated image equals the plain one");
    free(infl);
    dlor_container r;
    dlor_container_init(&r);
    CHECK(dlor_container_read(path, &r, &e) == DLOR_OK && r.tensors.count == c.tensors.count, "read: %s", e.msg);
    dlor_container_free(&r);
    /* every single-byte flip and every truncation is caught (header checksum,
     * zlib's own checks, or a tensor CRC) */
    size_t missed = 0, tmissed = 0;
    for (size_t i = 0; i < zlen; i++) {
        z[i] ^= 0x40;
        if (dlor_image_inflate(z, zlen, "z", &infl, &infl_len, &e) == DLOR_OK) {
            if (dlor_image_open(&img, infl, infl_len, DLOR_IMAGE_CHECK_CRC, &ie) == 0) missed++;
            free(infl);
        }
        z[i] ^= 0x40;
    }
    for (size_t n = 0; n < zlen; n++) {
        if (dlor_image_inflate(z, n, "z", &infl, &infl_len, &e) == DLOR_OK) {
            if (dlor_image_open(&img, infl, infl_len, DLOR_IMAGE_CHECK_CRC, &ie) == 0) tmissed++;
            free(infl);
        }
    }
    CHECK(missed == 0 && tmissed == 0, "%zu flips and %zu truncations of a compressed file undetected", missed, tmissed);
    /* a stream that inflates to more than the preamble says is refused */
    size_t big = plain_len - DLOR_IMAGE_PREAMBLE + 4096;
    unsigned char *zeros = calloc(1, big), *bomb = malloc(DLOR_IMAGE_PREAMBLE + compressBound(big));
    uLongf blen = compressBound(big);
    compress2(bomb + DLOR_IMAGE_PREAMBLE, &blen, zeros, big, 9);
    memcpy(bomb, z, DLOR_IMAGE_PREAMBLE);
    dlor_store_u32(bomb + 60, dlor_crc32(0, bomb + DLOR_IMAGE_PREAMBLE, blen));
    CHECK(dlor_image_inflate(bomb, DLOR_IMAGE_PREAMBLE + blen, "bomb", &infl, &infl_len, &e) == DLOR_E_FORMAT &&
              strstr(e.msg, "does not inflate"), "oversized stream: %s", e.msg);
    /* a preamble claiming more than deflate could ever produce from these bytes */
    dlor_store_u64(bomb + 40, 1ull << 39);
    CHECK(dlor_image_inflate(bomb, DLOR_IMAGE_PREAMBLE + blen, "bomb", &infl, &infl_len, &e) == DLOR_E_FORMAT &&
              strstr(e.msg, "impossible"), "impossible size: %s", e.msg);
    free(zeros);
    free(bomb);
    free(z);
    free(plain);
    dlor_container_free(&c);
}

/* A U tensor stored in panels (DLOR_FORMAT.md 7.6): the file holds each
 * factor's rows column block by column block, checked here against the spec's
 * formula written out again; the reader gives the rows back, a rewrite gives
 * the same bytes, and a tensor shared with another use is refused. */
static void test_panels(const char *p1, const char *p2)
{
    enum { D = 37, K = 37, R = 5 }; /* mul, 8 factors, the last of 2 rows; blocks of 16, 16, 5 */
    static float u[K * D], v[K * D];
    dlor_container c, r;
    dlor_error e;
    dlor_container_init(&c);
    for (int i = 0; i < K * D; i++) {
        u[i] = (float)i;
        v[i] = 0.5f * (float)i;
    }
    uint64_t dims[2] = {K, D};
    CHECK(dlor_tensor_list_add(&c.tensors, "t", "w.dlor.U", 8, DLOR_DT_F32, 2, dims, (const unsigned char *)u,
                               sizeof u, &e) == DLOR_OK &&
              dlor_tensor_list_add(&c.tensors, "t", "w.dlor.V", 8, DLOR_DT_F32, 2, dims, (const unsigned char *)v,
                                   sizeof v, &e) == DLOR_OK,
          "add tensors");
    dlor_layer_desc d = {"w", DLOR_IMAGE_MUL, DLOR_IMAGE_SCHUR, D, D, R, (K + R - 1) / R, 1.0,
                         "w.dlor.U", "w.dlor.V", DLOR_DT_F32, 0, DLOR_IMAGE_U_PANELS, NULL};
    CHECK(dlor_container_add_layer(&c, &d, &e) == DLOR_OK, "layer");
    CHECK(dlor_container_write(p1, &c, &e) == DLOR_OK, "write: %s", e.msg);
    size_t n1, n2;
    unsigned char *b1 = slurp(p1, &n1);
    dlor_image img;
    dlor_image_error ie;
    dlor_image_tensor t;
    dlor_image_layer l;
    CHECK(b1 && dlor_image_open(&img, b1, n1, DLOR_IMAGE_CHECK_CRC, &ie) == 0, "open: %s", ie.msg);
    dlor_image_layer_at(&img, 0, &l);
    dlor_image_tensor_at(&img, l.u_tensor, &t);
    CHECK(l.u_layout == DLOR_IMAGE_U_PANELS, "layout field");
    size_t wrong = 0;
    for (int row = 0; row < K; row++)
        for (int col = 0; col < D; col++) {
            int g0 = row / R * R, h = K - g0 < R ? K - g0 : R, j = row - g0;
            int c0 = col / 16 * 16, w = D - c0 < 16 ? D - c0 : 16;
            size_t at = (size_t)g0 * D + (size_t)c0 * h + (size_t)j * w + (size_t)(col - c0);
            float f;
            memcpy(&f, t.data + 4 * at, 4);
            wrong += f != u[row * D + col];
        }
    CHECK(wrong == 0, "%zu elements of the U tensor are not where 7.6 puts them", wrong);
    dlor_container_init(&r);
    CHECK(dlor_container_read(p1, &r, &e) == DLOR_OK, "read: %s", e.msg);
    const dlor_tensor *ru = dlor_tensor_list_find(&r.tensors, "w.dlor.U");
    CHECK(ru && memcmp(ru->data, u, sizeof u) == 0 && r.layers[0].u_layout == DLOR_IMAGE_U_PANELS,
          "read back as rows");
    CHECK(dlor_container_write(p2, &r, &e) == DLOR_OK, "rewrite: %s", e.msg);
    unsigned char *b2 = slurp(p2, &n2);
    CHECK(b2 && n1 == n2 && memcmp(b1, b2, n1) == 0, "rewrite gives the same bytes");
    free(b2);
    /* the same layer stored in rows: the file differs in the U tensor and the field only */
    dlor_container_set_u_layout(&c, DLOR_IMAGE_U_ROWS);
    CHECK(dlor_container_write(p2, &c, &e) == DLOR_OK, "write rows: %s", e.msg);
    b2 = slurp(p2, &n2);
    CHECK(b2 && n2 == n1 && memcmp(b2 + t.offset, u, sizeof u) == 0, "rows layout stores plain rows");
    free(b2);
    free(b1);
    dlor_container_free(&r);
    /* a U tensor in panels that is also another layer's V: refused, nothing written */
    dlor_layer_desc d2 = {"x", DLOR_IMAGE_MUL, DLOR_IMAGE_SCHUR, D, D, R, (K + R - 1) / R, 1.0,
                          "w.dlor.V", "w.dlor.U", DLOR_DT_F32, 0, DLOR_IMAGE_U_ROWS, NULL};
    dlor_container_set_u_layout(&c, DLOR_IMAGE_U_PANELS);
    CHECK(dlor_container_add_layer(&c, &d2, &e) == DLOR_OK, "layer x");
    c.layers[1].u_layout = DLOR_IMAGE_U_ROWS;
    remove(p2);
    CHECK(dlor_container_write(p2, &c, &e) != DLOR_OK && strstr(e.msg, "used elsewhere") &&
              fopen(p2, "rb") == NULL,
          "shared panel tensor refused: %s", e.msg);
    dlor_container_free(&c);
}

/* A graph operation names its weight: a layer record (flag bit 0) or a tensor.
 * The container keeps names, and every name lookup (the writer, verify, info)
 * resolves a layer first, so an image whose LINEAR op points at a tensor that
 * shares its name with a layer cannot be read back faithfully: the reader
 * refuses it (DLOR_FORMAT.md 7.4). Made by writing a tensor "a.weighs" and
 * renaming it in the string pool to the mul layer's name "a.weight". */
static void test_tensor_shadowed_by_layer(void)
{
    dlor_container c;
    dlor_error e;
    unsigned char *img = NULL;
    size_t n = 0;
    char msg[300];
    build_sample(&c);
    add_t(&c, 0, "a.weighs", DLOR_DT_F32, 2, 2, 5); /* the layer is 3 x 5: a different out */
    CHECK(dlor_graph_add_linear(&c.graph, "a.weighs", NULL, &e) == DLOR_OK, "op: %s", e.msg);
    CHECK(dlor_container_to_memory(&c, &img, &n, &e) == DLOR_OK, "write: %s", e.msg);
    CHECK(open_code(img, n, msg, sizeof msg) == 0, "as written, the image reads: %s", msg);
    unsigned char *at = NULL;
    for (size_t i = 0; i + 8 <= n && !at; i++)
        if (memcmp(img + i, "a.weighs", 8) == 0) at = img + i;
    CHECK(at != NULL, "tensor name in the string pool");
    if (at) {
        at[7] = 't';
        recrc(img, n);
        int rc = open_code(img, n, msg, sizeof msg);
        CHECK(rc == DLOR_IMAGE_E_FORMAT && strstr(msg, "graph op 0") && strstr(msg, "'a.weight'") &&
                  strstr(msg, "layer"),
              "tensor weight named like a layer: code %d, '%s'", rc, msg);
        /* the same image with the op on the layer itself reads */
        unsigned char *g = img + sec_off(img, 0x8001);
        dlor_store_u32(g + 8, 0);
        dlor_store_u32(g + 16, 1);
        recrc(img, n);
        CHECK(open_code(img, n, msg, sizeof msg) == 0, "the op on the layer reads: %s", msg);
    }
    free(img);
    dlor_container_free(&c);
}

/* Rules of DLOR_FORMAT.md section 9 the writer must keep too: it refuses a bool
 * byte other than 0 or 1, a layer whose source dtype is not a float dtype and a
 * U tensor in panels not named after its layer; the reader refuses a bool byte
 * of 2 (the data CRC recomputed, so the value check is what fails). */
static void test_spec_rules(const char *path)
{
    dlor_container c;
    dlor_error e;
    unsigned char *img = NULL;
    size_t n = 0;
    char msg[300];
    static const unsigned char flags[3] = {1, 0, 2};
    uint64_t dims[1] = {3};
    build_sample(&c);
    CHECK(dlor_tensor_list_add(&c.tensors, "t", "flags", 5, DLOR_DT_BOOL, 1, dims, flags, 3, &e) == DLOR_OK, "add");
    remove(path);
    CHECK(dlor_container_write(path, &c, &e) != DLOR_OK && strstr(e.msg, "'flags'") &&
              strstr(e.msg, "bool element 2 is 2") && fopen(path, "rb") == NULL,
          "bool byte 2 refused by the writer: %s", e.msg);
    dlor_container_free(&c);
    build_sample(&c);
    static const unsigned char ok[3] = {1, 0, 1};
    CHECK(dlor_tensor_list_add(&c.tensors, "t", "flags", 5, DLOR_DT_BOOL, 1, dims, ok, 3, &e) == DLOR_OK, "add");
    CHECK(dlor_container_to_memory(&c, &img, &n, &e) == DLOR_OK, "bool 0/1 written: %s", e.msg);
    CHECK(open_code(img, n, msg, sizeof msg) == 0, "bool 0/1 read: %s", msg);
    dlor_image view;
    dlor_image_error ie;
    long fi = -1;
    if (dlor_image_open(&view, img, n, 0, &ie) == 0) fi = dlor_image_find_tensor(&view, "flags", 5);
    CHECK(fi >= 0, "flags found");
    if (fi >= 0) {
        dlor_image_tensor t;
        dlor_image_tensor_at(&view, (uint32_t)fi, &t);
        img[t.offset + 1] = 2;
        dlor_store_u32(trec(img, (int)fi) + 96, dlor_crc32(0, img + t.offset, 3));
        recrc(img, n);
        int rc = open_code(img, n, msg, sizeof msg);
        CHECK(rc == DLOR_IMAGE_E_FORMAT && strstr(msg, "'flags'") && strstr(msg, "bool element 1 is 2"),
              "bool byte 2 refused by the reader: code %d, '%s'", rc, msg);
    }
    free(img);
    dlor_container_free(&c);
    build_sample(&c);
    c.layers[0].source_dtype = DLOR_DT_I8;
    CHECK(dlor_container_to_memory(&c, &img, &n, &e) != DLOR_OK && strstr(e.msg, "source dtype i8"),
          "a layer from an i8 tensor refused by the writer: %s", e.msg);
    dlor_container_free(&c);
    build_sample(&c);
    add_t(&c, 3, "x.u", DLOR_DT_F32, 2, 5, 5); /* layer 'a.weight' (panels) takes it as its U */
    free(c.layers[0].u_name);
    c.layers[0].u_name = malloc(4);
    snprintf(c.layers[0].u_name, 4, "%s", "x.u");
    CHECK(dlor_container_to_memory(&c, &img, &n, &e) != DLOR_OK && strstr(e.msg, "must be named 'a.weight.dlor.U'"),
          "a U tensor in panels under another name refused by the writer: %s", e.msg);
    dlor_container_free(&c);
}

int main(void)
{
    char p1[512], p2[512];
    dlt_tmp_path(p1, sizeof p1, "rt1.dlor");
    dlt_tmp_path(p2, sizeof p2, "rt2.dlor");
    test_crc32();
    test_sha256();
    test_round_trip(p1, p2);
    test_mutations(p1);
    test_writer_safety(p1);
    test_deflated(p2);
    test_panels(p1, p2);
    test_tensor_shadowed_by_layer();
    test_spec_rules(p2);
    return dlt_finish();
}
