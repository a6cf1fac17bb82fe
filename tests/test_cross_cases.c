/* test_cross_cases - formats.md section 7, cases 51-65, each with its
 * expected error:
 *   51-61  GGUF files, well formed and malformed as each case says: dlor does
 *          not read GGUF, so every one is refused at its magic with
 *          DLOR_E_UNSUPPORTED, before any of its fields is read;
 *   62     a zero-byte file under every name a format is guessed from;
 *   63     files of 4 GiB and more (sparse): a .dlor through the mapped path
 *          of 'dlor run' and 'dlor info', and a safetensors file 'dlor convert'
 *          maps, are refused from their first bytes; a .dlor file that has to be
 *          read whole, and a mapping the address space cannot hold, fail
 *          cleanly when memory is short (the child runs under a 1 GiB
 *          address-space limit; skipped in sanitizer builds, whose shadow
 *          memory needs more);
 *   64     a file that shrinks between its size being taken and its bytes
 *          being read (simulated: read() is wrapped to hit end of file early):
 *          "file shrank while reading", for every reader that reads (a
 *          safetensors file is mapped, as a .dlor file run is);
 *   65     polyglots: each format's magic in front of another format's file,
 *          and each format's file with another's magic (or whole file) after
 *          it: all refused.
 * The test binary is linked with -Wl,--wrap=read (case 64). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "dlor_container.h"
#include "dlor_readers.h"
#include "testrun.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define DLT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DLT_SANITIZED 1
#endif
#endif

/* ---- read() that can end early (case 64) ----------------------------------- */

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);
static long g_read_budget = -1; /* bytes read() still returns; -1: no limit */

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    if (g_read_budget < 0) return __real_read(fd, buf, n);
    if (g_read_budget == 0) return 0; /* end of file: the file got shorter */
    if (n > (size_t)g_read_budget) n = (size_t)g_read_budget;
    ssize_t r = __real_read(fd, buf, n);
    if (r > 0) g_read_budget -= r;
    return r;
}

/* ---- buffers and files ---------------------------------------------------------- */

typedef dlt_buf buf;

static void u32(buf *o, uint32_t v)
{
    unsigned char b[4];
    dlor_store_u32(b, v);
    dlt_put(o, b, 4);
}
static void u64(buf *o, uint64_t v)
{
    unsigned char b[8];
    dlor_store_u64(b, v);
    dlt_put(o, b, 8);
}
static void gstr(buf *o, const char *s) { u64(o, strlen(s)), dlt_put(o, s, strlen(s)); }

static char g_dir[512];

static const char *at(const char *name, char *p, size_t n)
{
    snprintf(p, n, "%s/%.150s", g_dir, name);
    return p;
}

/* Reads path with dlor_read_weights; returns the status, message in err. */
static dlor_status read_file(const char *path, dlor_error *err)
{
    dlor_tensor_list l;
    dlor_tensor_list_init(&l);
    err->msg[0] = 0;
    dlor_status st = dlor_read_weights(path, &l, err);
    CHECK(st != DLOR_OK || l.count > 0, "%s: read with no tensors", path);
    dlor_tensor_list_free(&l);
    return st;
}

/* ---- 51-61: GGUF ----------------------------------------------------------------- */

typedef struct {
    uint32_t version;
    uint64_t ntensors, nkv;
    int kv_kind;          /* 0: a string KV; 1: empty key; 2: duplicate keys; 3: huge string length;
                             4: array of 2^62 items; 5: array of arrays; 6: KV type 13; 7: alignment 0;
                             8: alignment string; 9: chat template */
    int tensor_kind;      /* 0: one f32 tensor; 1: 64-byte name; 2: duplicate names; 3: n_dims 5;
                             4: ne negative; 5: ne product overflow; 6: zero dimension; 7: type 4 (removed);
                             8: Q4_0 with ne0 % 32 != 0; 9: offset unaligned; 10: data beyond EOF;
                             11: trailing zip */
} gguf_case;

static void gguf_build(buf *o, const char *magic, const gguf_case *c)
{
    dlt_put(o, magic, 4);
    u32(o, c->version);
    u64(o, c->ntensors);
    u64(o, c->nkv);
    switch (c->kv_kind) {
    case 1: gstr(o, ""), u32(o, 8), gstr(o, "v"); break;
    case 2: gstr(o, "k"), u32(o, 8), gstr(o, "a"), gstr(o, "k"), u32(o, 8), gstr(o, "b"); break;
    case 3: gstr(o, "general.name"), u32(o, 8), u64(o, UINT64_MAX); break;
    case 4: gstr(o, "a"), u32(o, 9), u32(o, 4), u64(o, 1ull << 62); break;
    case 5: gstr(o, "a"), u32(o, 9), u32(o, 9), u64(o, 1), u32(o, 4), u64(o, 1), u32(o, 7); break;
    case 6: gstr(o, "a"), u32(o, 13), u32(o, 0xffffffffu); break;
    case 7: gstr(o, "general.alignment"), u32(o, 4), u32(o, 0); break;
    case 8: gstr(o, "general.alignment"), u32(o, 8), gstr(o, "32"); break;
    case 9: gstr(o, "tokenizer.chat_template"), u32(o, 8), gstr(o, "{{ ''.__class__.__mro__[1].__subclasses__() }}"); break;
    default: gstr(o, "general.architecture"), u32(o, 8), gstr(o, "llama"); break;
    }
    char name[80] = "w";
    uint32_t ndims = 2, type = 0;
    uint64_t ne[5] = {32, 2, 1, 1, 1}, offset = 0;
    switch (c->tensor_kind) {
    case 1: memset(name, 'n', 64), name[64] = 0; break;
    case 3: ndims = 5; break;
    case 4: ne[0] = (uint64_t)-3; break;
    case 5: ne[0] = ne[1] = 1ull << 32, ne[2] = 1ull << 32, ndims = 4; break;
    case 6: ne[1] = 0; break;
    case 7: type = 4; break;
    case 8: type = 2, ne[0] = 33; break;
    case 9: offset = 3; break;
    case 10: offset = 1ull << 40; break;
    default: break;
    }
    for (int t = 0; t < (c->tensor_kind == 2 ? 2 : 1); t++) {
        gstr(o, name);
        u32(o, ndims);
        for (uint32_t d = 0; d < ndims; d++) u64(o, ne[d]);
        u32(o, type);
        u64(o, offset);
    }
    while (o->n % 32) dlt_put(o, "\0", 1);
    static const float data[64];
    dlt_put(o, data, sizeof data);
    if (c->tensor_kind == 11) dlt_put(o, "PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22);
}

static void test_gguf(void)
{
    static const struct {
        const char *what;
        const char *magic;
        gguf_case c;
    } cases[] = {
        {"51 well-formed GGUF v3", "GGUF", {3, 1, 1, 0, 0}},
        {"51 version 0", "GGUF", {0, 1, 1, 0, 0}},
        {"51 version 1", "GGUF", {1, 1, 1, 0, 0}},
        {"51 version 4", "GGUF", {4, 1, 1, 0, 0}},
        {"51 version 0x03000000", "GGUF", {0x03000000u, 1, 1, 0, 0}},
        {"52 tensor_count 2^63", "GGUF", {3, 1ull << 63, 1, 0, 0}},
        {"52 kv_count 2^64-1", "GGUF", {3, 1, UINT64_MAX, 0, 0}},
        {"53 string length 2^64-1", "GGUF", {3, 1, 1, 3, 0}},
        {"54 array of 2^62 items", "GGUF", {3, 1, 1, 4, 0}},
        {"54 array of arrays", "GGUF", {3, 1, 1, 5, 0}},
        {"54 KV type 13 / 0xFFFFFFFF", "GGUF", {3, 1, 1, 6, 0}},
        {"55 empty key", "GGUF", {3, 1, 1, 1, 0}},
        {"55 duplicate key", "GGUF", {3, 1, 2, 2, 0}},
        {"56 alignment 0", "GGUF", {3, 1, 1, 7, 0}},
        {"56 alignment a string", "GGUF", {3, 1, 1, 8, 0}},
        {"57 64-byte tensor name", "GGUF", {3, 1, 1, 0, 1}},
        {"57 duplicate tensor names", "GGUF", {3, 2, 1, 0, 2}},
        {"58 n_dims 5", "GGUF", {3, 1, 1, 0, 3}},
        {"58 negative ne", "GGUF", {3, 1, 1, 0, 4}},
        {"58 ne product overflow", "GGUF", {3, 1, 1, 0, 5}},
        {"58 zero dimension", "GGUF", {3, 1, 1, 0, 6}},
        {"59 type 4 (removed)", "GGUF", {3, 1, 1, 0, 7}},
        {"59 Q4_0 with ne0 % 32 != 0", "GGUF", {3, 1, 1, 0, 8}},
        {"60 unaligned offset", "GGUF", {3, 1, 1, 0, 9}},
        {"60 data beyond EOF", "GGUF", {3, 1, 1, 0, 10}},
        {"60 trailing zip (polyglot)", "GGUF", {3, 1, 1, 0, 11}},
        {"61 chat template with template code", "GGUF", {3, 1, 1, 9, 0}},
    };
    char path[700];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf o = {0};
        gguf_build(&o, cases[i].magic, &cases[i].c);
        at("model.gguf", path, sizeof path);
        CHECK(dlt_write_file(path, o.b, o.n) == 0, "write");
        dlor_error err;
        dlor_status st = read_file(path, &err);
        CHECK(st == DLOR_E_UNSUPPORTED && strstr(err.msg, path) && strstr(err.msg, "dlor does not read GGUF"),
              "%s: status %d: %s", cases[i].what, (int)st, err.msg);
        free(o.b);
    }
    /* 51 bad magic: not GGUF at all, so not refused as GGUF: a clean error all the same */
    buf o = {0};
    gguf_build(&o, "GGUX", &cases[0].c);
    CHECK(dlt_write_file(path, o.b, o.n) == 0, "write");
    dlor_error err;
    dlor_status st = read_file(path, &err);
    CHECK(st != DLOR_OK && strstr(err.msg, path) && !strstr(err.msg, "GGUF"), "51 bad magic: %d %s", (int)st, err.msg);
    free(o.b);
    /* the command says the same and exits 1 */
    memset(&o, 0, sizeof o);
    gguf_build(&o, "GGUF", &cases[0].c);
    dlt_write_file(path, o.b, o.n);
    free(o.b);
    char out[700], msg[2048];
    const char *args[] = {"convert", path, "-o", at("gguf.dlor", out, sizeof out), NULL};
    int rc = dlt_run(args, 0, 0, msg, sizeof msg);
    CHECK(rc == 1 && strstr(msg, "dlor convert: ") && strstr(msg, "dlor does not read GGUF"), "convert GGUF: %d %s", rc,
          msg);
    const char *info[] = {"info", path, NULL};
    rc = dlt_run(info, 0, 0, msg, sizeof msg);
    CHECK(rc == 1 && strstr(msg, "dlor does not read GGUF"), "info GGUF: %d %s", rc, msg);
}

/* ---- 62: zero-byte files ------------------------------------------------------------ */

static void test_empty(void)
{
    static const char *const names[] = {"empty.safetensors", "empty.npy", "empty.npz", "empty.onnx",
                                        "empty.pt", "empty.dlor", "empty"};
    char path[700], msg[2048];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        at(names[i], path, sizeof path);
        CHECK(dlt_write_file(path, "", 0) == 0, "write");
        dlor_error err;
        dlor_status st = read_file(path, &err);
        CHECK(st == DLOR_E_FORMAT && strstr(err.msg, path), "62 %s: %d %s", names[i], (int)st, err.msg);
        const char *args[] = {"info", path, NULL};
        int rc = dlt_run(args, 0, 0, msg, sizeof msg);
        CHECK(rc == 1 && strncmp(msg, "dlor info: ", 11) == 0 && strstr(msg, path), "62 dlor info %s: %d %s", names[i],
              rc, msg);
    }
    at("empty.dlor", path, sizeof path);
    dlor_container c;
    dlor_error err;
    dlor_container_init(&c);
    dlor_status st = dlor_container_read(path, &c, &err);
    CHECK(st == DLOR_E_FORMAT && strstr(err.msg, "shorter than the 64-byte preamble"), "62 empty .dlor: %s", err.msg);
    char out[700], x[1024];
    const char *args[] = {"run", path, "-i", dlt_source_path(x, sizeof x, "samples/sawtooth/x_test.npy"), "-o",
                          at("y.npy", out, sizeof out), NULL};
    int rc = dlt_run(args, 0, 0, msg, sizeof msg);
    CHECK(rc == 1 && strstr(msg, "dlor run: ") && strstr(msg, path), "62 dlor run on an empty .dlor: %d %s", rc, msg);
}

/* ---- 63: 4 GiB and more ------------------------------------------------------------------ */

static void test_huge(void)
{
    char path[700], out[700], x[1024], msg[2048];
    const uint64_t size = (4ull << 30) + 1;
    /* a .dlor preamble claiming the whole 4 GiB + 1 byte, then nothing */
    unsigned char pre[64] = {0};
    memcpy(pre, DLOR_IMAGE_MAGIC, 8);
    dlor_store_u16(pre + 8, 1);
    dlor_store_u16(pre + 10, 2);
    dlor_store_u32(pre + 12, DLOR_IMAGE_ENDIAN_TAG);
    dlor_store_u64(pre + 16, 4096);
    dlor_store_u64(pre + 24, 4096);
    dlor_store_u64(pre + 32, size - 4096);
    dlor_store_u64(pre + 40, size);
    dlor_store_u32(pre + 52, 4);
    at("huge.dlor", path, sizeof path);
    if (dlt_sparse_file(path, pre, sizeof pre, size) != 0) {
        printf("note: no sparse 4 GiB files here; case 63 is not tested\n");
        unlink(path);
        return;
    }
    /* mapped: refused from the header (checksum), nothing else is touched */
    const char *run[] = {"run", path, "-i", dlt_source_path(x, sizeof x, "samples/sawtooth/x_test.npy"), "-o",
                         at("y.npy", out, sizeof out), NULL};
    int rc = dlt_run(run, 0, 0, msg, sizeof msg);
    CHECK(rc == 1 && strstr(msg, "dlor run: ") && strstr(msg, "header checksum mismatch"), "63 run 4 GiB .dlor: %d %s",
          rc, msg);
    /* a mapped safetensors file: refused from its header, its zero bytes untouched */
    char hs[1024], hout[700];
    at("huge.safetensors", hs, sizeof hs);
    unsigned char sth[16] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(dlt_sparse_file(hs, sth, 10, size) == 0, "sparse safetensors");
    const char *mconv[] = {"convert", hs, "-o", at("huge-out.dlor", hout, sizeof hout), NULL};
    rc = dlt_run(mconv, 0, 0, msg, sizeof msg);
    CHECK(rc == 1 && strstr(msg, "dlor convert: ") && strstr(msg, "trailing bytes after the last tensor"),
          "63 convert 4 GiB safetensors, mapped: %d %s", rc, msg);
    CHECK(!dlt_file_exists(hout), "63: no output");
    unlink(hs);
#ifndef DLT_SANITIZED
    /* read whole: with 1 GiB of address space the read cannot happen; a clean error */
    const char *info[] = {"info", path, NULL};
    rc = dlt_run(info, 0, 1ull << 30, msg, sizeof msg);
    CHECK(rc == 1 && strstr(msg, "dlor info: ") && strstr(msg, "out of memory"), "63 info 4 GiB .dlor: %d %s", rc, msg);
    at("huge.safetensors", path, sizeof path);
    unsigned char st[16] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    CHECK(dlt_sparse_file(path, st, 10, size) == 0, "sparse safetensors");
    const char *conv[] = {"convert", path, "-o", at("huge-out.dlor", out, sizeof out), NULL};
    rc = dlt_run(conv, 0, 1ull << 30, msg, sizeof msg);
    CHECK(rc == 1 && strstr(msg, "dlor convert: ") && strstr(msg, path) && strstr(msg, "cannot map"),
          "63 convert 4 GiB safetensors, 1 GiB of address space: %d %s", rc, msg);
    CHECK(!dlt_file_exists(out), "63: no output");
    unlink(path);
#else
    printf("note: sanitizer build: the 4 GiB whole-file reads under an address-space limit are skipped\n");
#endif
    at("huge.dlor", path, sizeof path);
    unlink(path);
}

/* ---- 64: a file that shrinks while it is read -------------------------------------------- */

static void test_shrinking(void)
{
    static const char *const samples[] = {"samples/sawtooth/sawtooth.npz",
                                          "samples/sawtooth/sawtooth.onnx", "samples/sawtooth/sawtooth.pt",
                                          "samples/sawtooth/x_test.npy"};
    char path[1024];
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        dlt_source_path(path, sizeof path, samples[i]);
        dlor_error err;
        g_read_budget = 100; /* the file "ends" after 100 bytes */
        dlor_status st = read_file(path, &err);
        g_read_budget = -1;
        CHECK(st == DLOR_E_IO && strstr(err.msg, "file shrank while reading"), "64 %s: %d %s", samples[i], (int)st,
              err.msg);
        CHECK(read_file(path, &err) == DLOR_OK, "64 %s reads when it does not shrink: %s", samples[i], err.msg);
    }
    /* the .dlor host reader */
    char src[1024], out[700], msg[2048];
    const char *mk[] = {"convert", dlt_source_path(src, sizeof src, "samples/sawtooth/sawtooth.safetensors"), "-o",
                        at("shrink.dlor", out, sizeof out), NULL};
    CHECK(dlt_run(mk, 0, 0, msg, sizeof msg) == 0, "convert: %s", msg);
    dlor_container c;
    dlor_error err;
    dlor_container_init(&c);
    g_read_budget = 1000;
    dlor_status st = dlor_container_read(out, &c, &err);
    g_read_budget = -1;
    CHECK(st == DLOR_E_IO && strstr(err.msg, "file shrank while reading"), "64 .dlor: %d %s", (int)st, err.msg);
    dlor_container_free(&c);
}

/* ---- 65: polyglots ------------------------------------------------------------------------- */

/* Both files read to the same tensors (names, dtypes, shapes, bytes). */
static int same_tensors(const char *a, const char *b)
{
    dlor_tensor_list x, y;
    dlor_error err;
    dlor_tensor_list_init(&x);
    dlor_tensor_list_init(&y);
    int same = dlor_read_weights(a, &x, &err) == DLOR_OK && dlor_read_weights(b, &y, &err) == DLOR_OK &&
               x.count == y.count;
    for (size_t i = 0; same && i < x.count; i++) {
        const dlor_tensor *s = &x.items[i], *t = &y.items[i];
        same = strcmp(s->name, t->name) == 0 && s->dtype == t->dtype && s->nbytes == t->nbytes &&
               memcmp(s->dims, t->dims, sizeof s->dims) == 0 && memcmp(s->data, t->data, s->nbytes) == 0;
    }
    dlor_tensor_list_free(&x);
    dlor_tensor_list_free(&y);
    return same;
}

static void test_polyglots(void)
{
    static const struct {
        const char *name;
        const char *path;
    } files[] = {{"safetensors", "samples/sawtooth/sawtooth.safetensors"}, {"npz", "samples/sawtooth/sawtooth.npz"},
                 {"onnx", "samples/sawtooth/sawtooth.onnx"},               {"pt", "samples/sawtooth/sawtooth.pt"},
                 {"npy", "samples/sawtooth/x_test.npy"},                   {"dlor", NULL}};
    static const struct {
        const char *name;
        const char *bytes;
        size_t n;
    } magics[] = {{"npy", "\x93NUMPY\x01\x00", 8},
                  {"zip", "PK\x03\x04", 4},
                  {"zip end", "PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22},
                  {"dlor", "\x89" "DLOR\r\n\x1a", 8},
                  {"GGUF", "GGUF\x03\0\0\0", 8},
                  {"pickle", "\x80\x02\x8a\x0a", 4},
                  {"safetensors", "\x02\0\0\0\0\0\0\0{}", 10},
                  {"onnx", "\x08\x08", 2}};
    char src[1024], dl[700], msg[2048], path[700];
    const char *mk[] = {"convert", dlt_source_path(src, sizeof src, "samples/sawtooth/sawtooth.safetensors"), "-o",
                        at("poly-src.dlor", dl, sizeof dl), NULL};
    CHECK(dlt_run(mk, 0, 0, msg, sizeof msg) == 0, "convert: %s", msg);
    size_t nf = sizeof files / sizeof files[0], nm = sizeof magics / sizeof magics[0];
    unsigned char *data[6];
    size_t len[6];
    char data_path[6][1024];
    for (size_t i = 0; i < nf; i++) {
        snprintf(data_path[i], sizeof data_path[i], "%s", dl);
        if (files[i].path) dlt_source_path(data_path[i], sizeof data_path[i], files[i].path);
        data[i] = dlt_read_file(data_path[i], &len[i]);
        CHECK(data[i] != NULL, "read %s", files[i].name);
        if (!data[i]) return;
    }
    int tried = 0, refused = 0, accepted_fields = 0;
    for (size_t i = 0; i < nf; i++) {
        /* another format's magic in front; the same magic (or another whole file) after */
        for (size_t k = 0; k < nm + nf; k++) {
            for (int after = 0; after <= 1; after++) {
                const unsigned char *extra = k < nm ? (const unsigned char *)magics[k].bytes : data[k - nm];
                size_t en = k < nm ? magics[k].n : len[k - nm];
                const char *ename = k < nm ? magics[k].name : files[k - nm].name;
                if (!after && k >= nm) continue;      /* whole files in front: the 'after' runs of the other file */
                if (k >= nm && k - nm == i) continue; /* a file twice is not a polyglot */
                buf o = {0};
                if (!after) dlt_put(&o, extra, en);
                dlt_put(&o, data[i], len[i]);
                if (after) dlt_put(&o, extra, en);
                snprintf(msg, sizeof msg, "poly.%s", files[i].name);
                at(msg, path, sizeof path);
                dlt_write_file(path, o.b, o.n);
                free(o.b);
                dlor_error err;
                dlor_status st;
                if (strcmp(files[i].name, "dlor") == 0) {
                    dlor_container c;
                    dlor_container_init(&c);
                    st = dlor_container_read(path, &c, &err);
                    dlor_container_free(&c);
                } else {
                    st = read_file(path, &err);
                }
                tried++;
                refused += st != DLOR_OK;
                /* protobuf has no magic and no end: bytes that parse as fields are ONNX fields
                 * (ir_version again, or an unknown field 32 that is skipped), and must change nothing */
                if (strcmp(files[i].name, "onnx") == 0 && k < nm &&
                    (strcmp(ename, "onnx") == 0 || (after && strcmp(ename, "pickle") == 0))) {
                    CHECK(st == DLOR_OK && same_tensors(path, data_path[i]), "65 onnx %s %s: %s",
                          after ? "followed by" : "behind", ename, err.msg);
                    accepted_fields++;
                    continue;
                }
                CHECK(st != DLOR_OK && strstr(err.msg, path), "65 %s %s %s: accepted (%s)", files[i].name,
                      after ? "followed by" : "behind", ename, err.msg);
            }
        }
    }
    printf("65: %d of %d polyglots refused; %d ONNX files with protobuf-valid bytes added read as before\n",
           refused, tried, accepted_fields);
    CHECK(refused + accepted_fields == tried, "65: every polyglot is accounted for");
    for (size_t i = 0; i < nf; i++) free(data[i]);
}

int main(void)
{
    dlt_tmp_path(g_dir, sizeof g_dir, "cross_cases");
    mkdir(g_dir, 0755);
    test_gguf();
    test_empty();
    test_huge();
    test_shrinking();
    test_polyglots();
    return dlt_finish();
}
