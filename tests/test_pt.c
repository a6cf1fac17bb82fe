/* test_pt - the PyTorch state-dict reader and the restricted unpickler under
 * it: the real torch 1.13 samples against their .safetensors twins, fixtures
 * written by torch (tests/data/pt, see make_pt_samples.py) against their
 * .npz expectations, and archives and pickle streams built here byte by
 * byte for the malformed inputs of formats.md section 7, cases 43-50. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "dlor_pickle.h"
#include "dlor_readers.h"
#include "testutil.h"
#include "testzip.h"

/* ---- byte buffer ------------------------------------------------------- */

typedef dlt_buf buf;

static void w32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* ---- pickle writer ----------------------------------------------------- */

static void pk_str(buf *o, const char *s)
{
    size_t n = strlen(s);
    dlt_put1(o, 'X');
    dlt_putle(o, n, 4);
    dlt_put(o, s, n);
}
static void pk_strn(buf *o, const void *s, size_t n)
{
    dlt_put1(o, 'X');
    dlt_putle(o, n, 4);
    dlt_put(o, s, n);
}

/* The shortest encoding CPython's pickler would choose. */
static void pk_int(buf *o, int64_t x)
{
    if (x >= 0 && x < 256) {
        dlt_put1(o, 'K');
        dlt_put1(o, (unsigned)x);
    } else if (x >= 0 && x < 65536) {
        dlt_put1(o, 'M');
        dlt_putle(o, (uint64_t)x, 2);
    } else if (x >= INT32_MIN && x <= INT32_MAX) {
        dlt_put1(o, 'J');
        dlt_putle(o, (uint64_t)x, 4);
    } else {
        dlt_put1(o, 0x8a);
        dlt_put1(o, 8);
        dlt_putle(o, (uint64_t)x, 8);
    }
}
static void pk_global(buf *o, const char *mod, const char *name)
{
    dlt_put1(o, 'c');
    dlt_put(o, mod, strlen(mod));
    dlt_put1(o, '\n');
    dlt_put(o, name, strlen(name));
    dlt_put1(o, '\n');
}
static void pk_ordered_dict(buf *o)
{
    pk_global(o, "collections", "OrderedDict");
    dlt_put1(o, ')');
    dlt_put1(o, 'R');
}
static void pk_ints(buf *o, int n, const int64_t *v)
{
    dlt_put1(o, '(');
    for (int i = 0; i < n; i++) pk_int(o, v[i]);
    dlt_put1(o, 't');
}
static void pk_persid(buf *o, const char *stype, const char *key, int64_t numel)
{
    dlt_put1(o, '(');
    pk_str(o, "storage");
    pk_global(o, "torch", stype);
    pk_str(o, key);
    pk_str(o, "cpu");
    pk_int(o, numel);
    dlt_put1(o, 't');
    dlt_put1(o, 'Q');
}

/* _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). */
static void pk_tensor(buf *o, const char *stype, const char *key, int64_t numel, int64_t offset,
                      int ndim, const int64_t *size, const int64_t *stride)
{
    pk_global(o, "torch._utils", "_rebuild_tensor_v2");
    dlt_put1(o, '(');
    pk_persid(o, stype, key, numel);
    pk_int(o, offset);
    pk_ints(o, ndim, size);
    pk_ints(o, ndim, stride);
    dlt_put1(o, 0x89);
    pk_ordered_dict(o);
    dlt_put1(o, 't');
    dlt_put1(o, 'R');
}

/* A state dict as torch writes it: OrderedDict, items, BUILD with _metadata. */
static void sd_begin(buf *o)
{
    dlt_put1(o, 0x80);
    dlt_put1(o, 2);
    pk_ordered_dict(o);
    dlt_put1(o, '(');
}
static void sd_end(buf *o)
{
    dlt_put1(o, 'u');
    dlt_put1(o, '}');
    pk_str(o, "_metadata");
    pk_ordered_dict(o);
    pk_str(o, "");
    dlt_put1(o, '}');
    pk_str(o, "version");
    pk_int(o, 1);
    dlt_put1(o, 's');
    dlt_put1(o, 's');
    dlt_put1(o, 's');
    dlt_put1(o, 'b');
    dlt_put1(o, '.');
}

/* ---- pickles as data ---------------------------------------------------- */

/* One item of a pickle written as a list: an opcode, raw bytes, or one of the
 * pieces the writer above makes. A list ends at the first {0}. */
enum { PK_END, PK_OP, PK_RAW, PK_STR, PK_INT, PK_INTS, PK_GLOBAL, PK_PERSID, PK_ODICT, PK_TENSOR8 };
typedef struct {
    int kind;
    const char *a, *b;
    int64_t i;
    size_t n;
    const int64_t *v;
} pk_item;

#define OP(c) {PK_OP, NULL, NULL, (c), 0, NULL}
#define RAW(s) {PK_RAW, (s), NULL, 0, sizeof(s) - 1, NULL}
#define STR(s) {PK_STR, (s), NULL, 0, 0, NULL}
#define STRN(s) {PK_STR, (s), NULL, 0, sizeof(s) - 1, NULL}
#define INT(x) {PK_INT, NULL, NULL, (x), 0, NULL}
#define INTS(...) \
    {PK_INTS, NULL, NULL, 0, sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (const int64_t[]){__VA_ARGS__}}
#define GLOBAL(m, n) {PK_GLOBAL, (m), (n), 0, 0, NULL}
#define PERSID(type, key, numel) {PK_PERSID, (type), (key), (numel), 0, NULL}
#define ODICT {PK_ODICT, NULL, NULL, 0, 0, NULL}
/* a FloatStorage '0' of 8 elements viewed as [8] */
#define TENSOR8 {PK_TENSOR8, NULL, NULL, 0, 0, NULL}
/* _rebuild_tensor_v2( with its storage (the arguments and ')' 'R' follow) */
#define REBUILD GLOBAL("torch._utils", "_rebuild_tensor_v2"), OP('('), PERSID("FloatStorage", "0", 8)
/* ... the tail of a well-formed call: not requires_grad, no hooks, 't' 'R' */
#define REBUILD_END OP(0x89), ODICT, OP('t'), OP('R')

static void pk_items(buf *o, const pk_item *it)
{
    static const int64_t eight[1] = {8}, one[1] = {1};
    for (; it->kind != PK_END; it++) switch (it->kind) {
        case PK_OP: dlt_put1(o, (unsigned)it->i); break;
        case PK_RAW: dlt_put(o, it->a, it->n); break;
        case PK_STR: pk_strn(o, it->a, it->n ? it->n : strlen(it->a)); break;
        case PK_INT: pk_int(o, it->i); break;
        case PK_INTS: pk_ints(o, (int)it->n, it->v); break;
        case PK_GLOBAL: pk_global(o, it->a, it->b); break;
        case PK_PERSID: pk_persid(o, it->a, it->b, it->i); break;
        case PK_ODICT: pk_ordered_dict(o); break;
        case PK_TENSOR8: pk_tensor(o, "FloatStorage", "0", 8, 0, 1, eight, one); break;
        }
}

/* How a case's items are wrapped: as the value of "w" in a state dict, as the
 * items of a state dict, or not at all (the whole pickle). */
enum { IN_VALUE, IN_DICT, BARE };

typedef struct {
    const char *label;
    int wrap;
    pk_item body[24];
    dlor_status code;
    const char *frag;
} pk_case;

/* ---- zip writer -------------------------------------------------------- */

typedef struct {
    const char *name;
    const void *data;
    size_t n;
    int deflate;
    int align;      /* pad the data to 64 with a torch-style 'FB' extra */
} member;

/* desc: 0 no data descriptors; 1 streamed records with a signed descriptor
 * (as torch writes them), 2 unsigned, 3 signed with a wrong CRC. */
static void zip_build_desc(buf *o, const member *m, int count, int desc)
{
    uint64_t off[32];
    uint32_t crc[32];
    size_t csz[32];
    for (int i = 0; i < count; i++) {
        size_t nl = strlen(m[i].name), cn = m[i].n, xl = 0;
        unsigned char *comp = NULL;
        const void *payload = m[i].data;
        if (m[i].deflate) payload = comp = deflate_raw(m[i].data, m[i].n, &cn);
        if (m[i].align) xl = 4 + (64 - (o->n + 30 + nl + 4) % 64) % 64;
        off[i] = o->n;
        crc[i] = crc_of(m[i].data, m[i].n);
        csz[i] = cn;
        int d = desc;
        dlt_putle(o, 0x04034b50u, 4);
        dlt_putle(o, 20, 2);
        dlt_putle(o, d ? 8 : 0, 2);
        dlt_putle(o, m[i].deflate ? 8 : 0, 2);
        dlt_putle(o, 0, 2);
        dlt_putle(o, 0x0021, 2);
        dlt_putle(o, d ? 0 : crc[i], 4); /* a streamed member leaves these at 0 */
        dlt_putle(o, d ? 0 : cn, 4);
        dlt_putle(o, d ? 0 : m[i].n, 4);
        dlt_putle(o, nl, 2);
        dlt_putle(o, xl, 2);
        dlt_put(o, m[i].name, nl);
        if (xl) {
            dlt_putle(o, 0x4246, 2); /* 'F','B' */
            dlt_putle(o, xl - 4, 2);
            for (size_t k = 4; k < xl; k++) dlt_put1(o, 'Z');
        }
        dlt_put(o, payload, cn);
        if (d == 1 || d == 3) dlt_putle(o, 0x08074b50u, 4);
        if (d) {
            dlt_putle(o, d == 3 ? crc[i] ^ 1 : crc[i], 4);
            dlt_putle(o, cn, 4);
            dlt_putle(o, m[i].n, 4);
        }
        free(comp);
    }
    uint64_t cd = o->n;
    for (int i = 0; i < count; i++) {
        size_t nl = strlen(m[i].name);
        dlt_putle(o, 0x02014b50u, 4);
        dlt_putle(o, 0x031e, 2);
        dlt_putle(o, 20, 2);
        dlt_putle(o, desc ? 8 : 0, 2);
        dlt_putle(o, m[i].deflate ? 8 : 0, 2);
        dlt_putle(o, 0, 2);
        dlt_putle(o, 0x0021, 2);
        dlt_putle(o, crc[i], 4);
        dlt_putle(o, csz[i], 4);
        dlt_putle(o, m[i].n, 4);
        dlt_putle(o, nl, 2);
        dlt_putle(o, 0, 2);
        dlt_putle(o, 0, 2);
        dlt_putle(o, 0, 2);
        dlt_putle(o, 0, 2);
        dlt_putle(o, 0, 4);
        dlt_putle(o, off[i], 4);
        dlt_put(o, m[i].name, nl);
    }
    uint64_t cds = o->n - cd;
    dlt_putle(o, 0x06054b50u, 4);
    dlt_putle(o, 0, 4);
    dlt_putle(o, (uint64_t)count, 2);
    dlt_putle(o, (uint64_t)count, 2);
    dlt_putle(o, cds, 4);
    dlt_putle(o, cd, 4);
    dlt_putle(o, 0, 2);
}

static void zip_build(buf *o, const member *m, int count) { zip_build_desc(o, m, count, 0); }

/* An archive "<prefix>/data.pkl" + storages "<prefix>/data/<key>". */
typedef struct {
    const char *key;
    const void *data;
    size_t n;
} storage;

static void archive(buf *o, const char *prefix, const buf *pkl, const storage *s, int ns,
                    int deflate, int align)
{
    member m[16];
    char names[16][64];
    int k = 0;
    snprintf(names[k], sizeof names[k], "%s/data.pkl", prefix);
    m[k] = (member){names[k], pkl->b, pkl->n, deflate, align};
    k++;
    for (int i = 0; i < ns; i++, k++) {
        snprintf(names[k], sizeof names[k], "%s/data/%s", prefix, s[i].key);
        m[k] = (member){names[k], s[i].data, s[i].n, deflate, align};
    }
    snprintf(names[k], sizeof names[k], "%s/version", prefix);
    m[k] = (member){names[k], "3\n", 2, 0, align};
    k++;
    zip_build(o, m, k);
}

/* ---- expectations ------------------------------------------------------ */

static int list_is_empty(const dlor_tensor_list *l)
{
    return l->count == 0 && l->items == NULL && l->nblocks == 0 && l->meta_count == 0;
}

/* Parses an archive that must fail with code and a message holding frag. */
static void expect_fail(const char *label, const buf *a, dlor_status code, const char *frag)
{
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    memset(&err, 0, sizeof err);
    dlor_status st = dlor_pt_parse(a->b, a->n, "t.pt", &l, &err);
    CHECK(st == code, "%s: status %s, want %s (%s)", label, dlor_status_str(st),
          dlor_status_str(code), err.msg);
    CHECK(st == DLOR_OK || strstr(err.msg, frag) != NULL, "%s: message '%s' lacks '%s'", label,
          err.msg, frag);
    CHECK(st == DLOR_OK || strncmp(err.msg, "t.pt: ", 6) == 0,
          "%s: message '%s' does not name the file", label, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "%s: message is not one line", label);
    CHECK(st == DLOR_OK || list_is_empty(&l), "%s: list not left empty", label);
    dlor_tensor_list_free(&l);
}

/* Wraps a pickle into a one-storage archive and expects failure. */
static void expect_pkl_fail(const char *label, buf *pkl, dlor_status code, const char *frag)
{
    float data[8] = {0};
    storage s = {"0", data, sizeof data};
    buf a = {0};
    archive(&a, "t", pkl, &s, 1, 0, 1);
    expect_fail(label, &a, code, frag);
    dlt_buf_free(&a);
    dlt_buf_free(pkl);
}

static dlor_status parse(const buf *a, dlor_tensor_list *l, dlor_error *err)
{
    dlor_tensor_list_init(l);
    memset(err, 0, sizeof *err);
    return dlor_pt_parse(a->b, a->n, "t.pt", l, err);
}

static int points_into(const void *p, const buf *a)
{
    const unsigned char *q = p;
    return q >= a->b && q < a->b + a->n;
}

/* Puts pkl into an archive '<prefix>/...' over the one storage s and parses it into l
 * (the caller frees l); a failure is a failed check named 'what'. */
static int crafted_ok(const char *what, const buf *pkl, const char *prefix, const storage *s, int align, buf *a,
                      dlor_tensor_list *l)
{
    dlor_error err;
    a->n = 0;
    archive(a, prefix, pkl, s, 1, 0, align);
    dlor_status st = parse(a, l, &err);
    CHECK(st == DLOR_OK, "%s: %s", what, err.msg);
    return st == DLOR_OK;
}

/* ---- the real samples: .pt against .safetensors, byte for byte -------- */

static const char *sample_path(char *b, size_t n, const char *rel)
{
    char r[256];
    snprintf(r, sizeof r, "../../samples/%s", rel);
    return dlt_data_path(b, n, r);
}

static void same_tensors(const char *label, const dlor_tensor_list *got,
                         const dlor_tensor_list *want, int bf16_as_u16)
{
    CHECK(got->count == want->count, "%s: %zu tensors, want %zu", label, got->count, want->count);
    for (size_t i = 0; i < want->count; i++) {
        const dlor_tensor *w = &want->items[i], *g = dlor_tensor_list_find(got, w->name);
        if (!g) {
            CHECK(0, "%s: tensor '%s' missing", label, w->name);
            continue;
        }
        dlor_dtype wd = w->dtype;
        if (bf16_as_u16 && g->dtype == DLOR_DT_BF16 && wd == DLOR_DT_U16) wd = DLOR_DT_BF16;
        CHECK(g->dtype == wd, "%s/%s: dtype %s, want %s", label, w->name, dlor_dtype_name(g->dtype),
              dlor_dtype_name(wd));
        CHECK(g->ndim == w->ndim &&
                  memcmp(g->dims, w->dims, sizeof(uint64_t) * (size_t)w->ndim) == 0,
              "%s/%s: shape differs", label, w->name);
        CHECK(g->nbytes == w->nbytes &&
                  (w->nbytes == 0 || memcmp(g->data, w->data, w->nbytes) == 0),
              "%s/%s: bytes differ", label, w->name);
    }
}

static void test_real_samples(void)
{
    static const char *const names[] = {"sawtooth/sawtooth", "digits/digits"};
    for (int i = 0; i < 2; i++) {
        char pt[1024], st[1024], rel[128];
        snprintf(rel, sizeof rel, "%s.pt", names[i]);
        sample_path(pt, sizeof pt, rel);
        snprintf(rel, sizeof rel, "%s.safetensors", names[i]);
        sample_path(st, sizeof st, rel);
        dlor_tensor_list a, b, c;
        dlor_error err;
        dlor_tensor_list_init(&a);
        dlor_tensor_list_init(&b);
        dlor_tensor_list_init(&c);
        dlor_status s1 = dlor_read_pt(pt, &a, &err);
        CHECK(s1 == DLOR_OK, "%s: %s", names[i], err.msg);
        CHECK(dlor_read_safetensors(st, &b, &err) == DLOR_OK, "%s: %s", names[i], err.msg);
        if (s1 == DLOR_OK) {
            same_tensors(names[i], &a, &b, 0);
            /* state-dict order, as torch wrote it */
            CHECK(strcmp(a.items[0].name, "0.weight") == 0 &&
                      strcmp(a.items[1].name, "0.bias") == 0,
                  "%s: order %s, %s", names[i], a.items[0].name, a.items[1].name);
        }
        CHECK(strcmp(dlor_weights_format(pt), "pt") == 0, "%s: sniffed as %s", names[i],
              dlor_weights_format(pt));
        s1 = dlor_read_weights(pt, &c, &err);
        CHECK(s1 == DLOR_OK, "%s via dlor_read_weights: %s", names[i], err.msg);
        if (s1 == DLOR_OK) same_tensors(names[i], &c, &b, 0);
        dlor_tensor_list_free(&a);
        dlor_tensor_list_free(&b);
        dlor_tensor_list_free(&c);
    }
}

/* ---- torch-written fixtures against their .npz ------------------------- */

static void read_file(const char *path, buf *o)
{
    FILE *f = fopen(path, "rb");
    unsigned char tmp[4096];
    size_t k;
    o->n = 0;
    if (!f) return;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) dlt_put(o, tmp, k);
    fclose(f);
}

static void test_torch_fixtures(void)
{
    static const char *const names[] = {"dtypes", "views", "checkpoint", "parameter",
                                        "byteorder_little"};
    for (int i = 0; i < 5; i++) {
        char pt[1024], npz[1024], rel[128];
        snprintf(rel, sizeof rel, "pt/%s.pt", names[i]);
        dlt_data_path(pt, sizeof pt, rel);
        snprintf(rel, sizeof rel, "pt/%s.npz", names[i]);
        dlt_data_path(npz, sizeof npz, rel);
        dlor_tensor_list a, b;
        dlor_error err;
        dlor_tensor_list_init(&a);
        dlor_tensor_list_init(&b);
        dlor_status s = dlor_read_pt(pt, &a, &err);
        CHECK(s == DLOR_OK, "%s: %s", names[i], err.msg);
        CHECK(dlor_read_npz(npz, &b, &err) == DLOR_OK, "%s: %s", names[i], err.msg);
        if (s == DLOR_OK) {
            same_tensors(names[i], &a, &b, 1);
            for (size_t k = 0; k < a.count && k < b.count; k++)
                CHECK(strcmp(a.items[k].name, b.items[k].name) == 0,
                      "%s: tensor %zu is '%s', want '%s'", names[i], k, a.items[k].name,
                      b.items[k].name);
        }
        dlor_tensor_list_free(&a);
        dlor_tensor_list_free(&b);
    }

    /* zero copy and shared storage, in memory */
    char path[1024];
    buf f = {0};
    read_file(dlt_data_path(path, sizeof path, "pt/views.pt"), &f);
    dlor_tensor_list l;
    dlor_error err;
    if (parse(&f, &l, &err) == DLOR_OK) {
        const dlor_tensor *base = dlor_tensor_list_find(&l, "base"),
                          *rows = dlor_tensor_list_find(&l, "rows"),
                          *tr = dlor_tensor_list_find(&l, "transposed"),
                          *enc = dlor_tensor_list_find(&l, "enc.weight"),
                          *dec = dlor_tensor_list_find(&l, "dec.weight");
        CHECK(base && rows && tr && enc && dec, "views: tensors missing");
        if (base && rows && tr && enc && dec) {
            CHECK(points_into(base->data, &f), "views: contiguous 'base' was copied");
            CHECK(rows->data == base->data + 6 * 4,
                  "views: 'rows' (offset 6) is not a view of 'base'");
            CHECK(!points_into(tr->data, &f), "views: transposed view not copied");
            CHECK(enc->data == dec->data, "views: tied weights do not share bytes");
        }
    } else {
        CHECK(0, "views.pt in memory: %s", err.msg);
    }
    dlor_tensor_list_free(&l);
    dlt_buf_free(&f);

    static const struct {
        const char *file;
        dlor_status code;
        const char *frag;
    } refused[] = {
        {"pt/byteorder_big.pt", DLOR_E_UNSUPPORTED, "big-endian archives are not supported"},
        {"pt/script.pt", DLOR_E_UNSUPPORTED, "TorchScript"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        dlor_tensor_list_init(&l);
        dlor_status s = dlor_read_pt(dlt_data_path(path, sizeof path, refused[i].file), &l, &err);
        CHECK(s == refused[i].code && strstr(err.msg, refused[i].frag),
              "%s: %s (%s)", refused[i].file, dlor_status_str(s), err.msg);
        CHECK(list_is_empty(&l), "%s: list not empty", refused[i].file);
        dlor_tensor_list_free(&l);
    }
}

/* ---- crafted archives that must load ------------------------------------ */

static const int64_t one_dim[1] = {4}, unit[1] = {1};

static void test_crafted_ok(void)
{
    static const struct {
        const char *stype;
        dlor_dtype dt;
        size_t es;
    } types[] = {
        {"FloatStorage", DLOR_DT_F32, 4}, {"DoubleStorage", DLOR_DT_F64, 8},
        {"HalfStorage", DLOR_DT_F16, 2},  {"BFloat16Storage", DLOR_DT_BF16, 2},
        {"LongStorage", DLOR_DT_I64, 8},  {"IntStorage", DLOR_DT_I32, 4},
        {"ShortStorage", DLOR_DT_I16, 2}, {"CharStorage", DLOR_DT_I8, 1},
        {"ByteStorage", DLOR_DT_U8, 1},   {"BoolStorage", DLOR_DT_BOOL, 1},
    };
    unsigned char raw[10][32];
    storage st[10];
    char keys[10][4];
    buf p = {0}, a = {0};
    sd_begin(&p);
    for (int i = 0; i < 10; i++) {
        for (int k = 0; k < 32; k++) raw[i][k] = (unsigned char)(i * 32 + k);
        snprintf(keys[i], sizeof keys[i], "%d", i);
        st[i] = (storage){keys[i], raw[i], 4 * types[i].es};
        pk_str(&p, types[i].stype);
        pk_tensor(&p, types[i].stype, keys[i], 4, 0, 1, one_dim, unit);
    }
    sd_end(&p);
    for (int deflate = 0; deflate < 2; deflate++)
        for (int align = 0; align < 2; align++) {
            dlor_tensor_list l;
            dlor_error err;
            a.n = 0;
            archive(&a, "some folder", &p, st, 10, deflate, align);
            dlor_status s = parse(&a, &l, &err);
            CHECK(s == DLOR_OK, "dtypes deflate=%d align=%d: %s", deflate, align, err.msg);
            CHECK(l.count == 10, "dtypes: %zu tensors", l.count);
            for (size_t i = 0; s == DLOR_OK && i < l.count; i++) {
                const dlor_tensor *t = &l.items[i];
                CHECK(strcmp(t->name, types[i].stype) == 0 && t->dtype == types[i].dt &&
                          t->ndim == 1 && t->dims[0] == 4 && t->nbytes == 4 * types[i].es &&
                          memcmp(t->data, raw[i], t->nbytes) == 0,
                      "dtypes: tensor %zu (%s) wrong", i, t->name);
                /* 50: stored records are used in place, deflated ones inflated */
                CHECK(points_into(t->data, &a) == !deflate, "dtypes: %s data %s the archive",
                      t->name, deflate ? "inside" : "outside");
            }
            dlor_tensor_list_free(&l);
        }
    dlt_buf_free(&p);
    dlt_buf_free(&a);

    /* views: transposed, broadcast, scalar, empty, offset; tied storage and tensor */
    float s6[6] = {0, 1, 2, 3, 4, 5};
    storage one = {"k", s6, sizeof s6};
    sd_begin(&p);
    int64_t sz[3], sd[3];
    pk_str(&p, "t");
    sz[0] = 3, sz[1] = 2, sd[0] = 1, sd[1] = 3; /* the transpose of a 2x3 */
    pk_tensor(&p, "FloatStorage", "k", 6, 0, 2, sz, sd);
    dlt_put1(&p, 'q'), dlt_put1(&p, 9);                 /* memoise the tensor */
    pk_str(&p, "bc");
    sz[0] = 2, sz[1] = 3, sd[0] = 0, sd[1] = 1; /* row 0 broadcast */
    pk_tensor(&p, "FloatStorage", "k", 6, 3, 2, sz, sd);
    pk_str(&p, "scalar");
    pk_tensor(&p, "FloatStorage", "k", 6, 5, 0, sz, sd);
    pk_str(&p, "empty");
    sz[0] = 0, sz[1] = 7, sd[0] = 7, sd[1] = 1;
    pk_tensor(&p, "FloatStorage", "k", 6, 6, 2, sz, sd);
    pk_str(&p, "tail");
    sz[0] = 2, sd[0] = 1;
    pk_tensor(&p, "FloatStorage", "k", 6, 4, 1, sz, sd);
    pk_str(&p, "t_again");
    dlt_put1(&p, 'h'), dlt_put1(&p, 9);
    pk_str(&p, "size1");                        /* size-1 dims take any stride */
    sz[0] = 1, sz[1] = 3, sz[2] = 1, sd[0] = 99, sd[1] = 1, sd[2] = 12345;
    pk_tensor(&p, "FloatStorage", "k", 6, 0, 3, sz, sd);
    sd_end(&p);
    dlor_tensor_list l;
    dlor_error err;
    if (crafted_ok("views", &p, "archive", &one, 1, &a, &l)) {
        static const float t_want[6] = {0, 3, 1, 4, 2, 5}, bc_want[6] = {3, 4, 5, 3, 4, 5};
        const dlor_tensor *t = dlor_tensor_list_find(&l, "t"),
                          *bc = dlor_tensor_list_find(&l, "bc"),
                          *sc = dlor_tensor_list_find(&l, "scalar"),
                          *em = dlor_tensor_list_find(&l, "empty"),
                          *tl = dlor_tensor_list_find(&l, "tail"),
                          *t2 = dlor_tensor_list_find(&l, "t_again"),
                          *s1 = dlor_tensor_list_find(&l, "size1");
        CHECK(l.count == 7 && t && bc && sc && em && tl && t2 && s1, "views: %zu tensors", l.count);
        if (l.count == 7 && t && bc && sc && em && tl && t2 && s1) {
            CHECK(t->ndim == 2 && t->dims[0] == 3 && t->dims[1] == 2 &&
                      memcmp(t->data, t_want, 24) == 0,
                  "views: transpose wrong");
            CHECK(!points_into(t->data, &a), "views: transpose not copied");
            CHECK(t2->data == t->data, "views: one tensor under two names copied twice");
            CHECK(memcmp(bc->data, bc_want, 24) == 0, "views: broadcast wrong");
            CHECK(sc->ndim == 0 && sc->nelem == 1 && sc->nbytes == 4 &&
                      memcmp(sc->data, s6 + 5, 4) == 0,
                  "views: scalar wrong");
            CHECK(em->ndim == 2 && em->nelem == 0 && em->nbytes == 0, "views: empty wrong");
            CHECK(points_into(tl->data, &a) && memcmp(tl->data, s6 + 4, 8) == 0,
                  "views: offset slice wrong");
            CHECK(points_into(s1->data, &a) && s1->ndim == 3 && s1->nelem == 3,
                  "views: size-1 dims copied");
        }
    }
    dlor_tensor_list_free(&l);
    dlt_buf_free(&p);
    dlt_buf_free(&a);

    /* tied weights through two persistent ids naming one storage */
    sd_begin(&p);
    pk_str(&p, "enc.weight");
    pk_tensor(&p, "FloatStorage", "k", 6, 0, 1, (int64_t[]){6}, unit);
    pk_str(&p, "dec.weight");
    pk_tensor(&p, "FloatStorage", "k", 6, 0, 1, (int64_t[]){6}, unit);
    sd_end(&p);
    if (crafted_ok("tied", &p, "archive", &one, 0, &a, &l))
        CHECK(l.count == 2 && l.items[0].data == l.items[1].data && points_into(l.items[0].data, &a),
              "tied: not sharing the record");
    dlor_tensor_list_free(&l);
    dlt_buf_free(&p);
    dlt_buf_free(&a);

    /* nested dicts (a checkpoint): flattened with '.', int keys in decimal,
     * values without tensors ignored, _rebuild_parameter unwrapped, the
     * optional metadata argument, NEWOBJ OrderedDict */
    dlt_put1(&p, 0x80), dlt_put1(&p, 2);
    dlt_put1(&p, '}');
    dlt_put1(&p, '(');
    pk_str(&p, "model");
    pk_global(&p, "collections", "OrderedDict"), dlt_put1(&p, ')'), dlt_put1(&p, 0x81);
    pk_str(&p, "fc.weight");
    pk_global(&p, "torch._utils", "_rebuild_parameter");
    pk_tensor(&p, "FloatStorage", "k", 6, 0, 2, (int64_t[]){2, 3}, (int64_t[]){3, 1});
    dlt_put1(&p, 0x88);
    pk_ordered_dict(&p);
    dlt_put1(&p, 0x87);
    dlt_put1(&p, 'R');
    dlt_put1(&p, 's');
    pk_str(&p, "epoch");
    pk_int(&p, 3);
    pk_str(&p, "loss");
    dlt_put1(&p, 'G'), dlt_put(&p, "\x3f\xd0\0\0\0\0\0\0", 8);
    pk_str(&p, "param_groups");
    dlt_put1(&p, ']'), dlt_put1(&p, '('), dlt_put1(&p, '}'), pk_str(&p, "params"), dlt_put1(&p, ']'), pk_int(&p, 0),
        dlt_put1(&p, 'a'), dlt_put1(&p, 's'), dlt_put1(&p, 'N'), dlt_put1(&p, 'e');
    pk_str(&p, "state");
    dlt_put1(&p, '}');
    pk_int(&p, 7);
    dlt_put1(&p, '}');
    pk_str(&p, "exp_avg");
    pk_global(&p, "torch._utils", "_rebuild_tensor_v2");
    dlt_put1(&p, '(');
    pk_persid(&p, "FloatStorage", "k", 6);
    pk_int(&p, 1);
    pk_ints(&p, 1, (int64_t[]){2});
    pk_ints(&p, 1, unit);
    dlt_put1(&p, 0x89);
    pk_ordered_dict(&p);
    dlt_put1(&p, 'N');                             /* metadata = None */
    dlt_put1(&p, 't');
    dlt_put1(&p, 'R');
    dlt_put1(&p, 's');
    dlt_put1(&p, 's');
    pk_str(&p, "empty"), dlt_put1(&p, '}');
    pk_str(&p, "name"), pk_str(&p, "tiny");
    pk_str(&p, "flags"), dlt_put1(&p, 0x88), dlt_put1(&p, 0x89), dlt_put1(&p, 'N'), dlt_put1(&p, 0x87);
    dlt_put1(&p, 'u');
    dlt_put1(&p, '.');
    if (crafted_ok("nested", &p, "ck", &one, 1, &a, &l)) {
        CHECK(l.count == 2 && strcmp(l.items[0].name, "model.fc.weight") == 0 &&
                  strcmp(l.items[1].name, "state.7.exp_avg") == 0,
              "nested: %zu tensors, first '%s'", l.count, l.count ? l.items[0].name : "");
        CHECK(l.count == 2 && l.items[1].dims[0] == 2 && memcmp(l.items[1].data, s6 + 1, 8) == 0,
              "nested: exp_avg wrong");
    }
    dlor_tensor_list_free(&l);
    dlt_buf_free(&p);
    dlt_buf_free(&a);

    /* protocol 4: FRAME, SHORT_BINUNICODE, BINUNICODE8, MEMOIZE */
    dlt_put1(&p, 0x80), dlt_put1(&p, 4);
    dlt_put1(&p, 0x95), dlt_putle(&p, 0, 8); /* length patched below */
    size_t frame_start = p.n;
    dlt_put1(&p, '}'), dlt_put1(&p, 0x94);
    dlt_put1(&p, 0x8c), dlt_put1(&p, 1), dlt_put(&p, "w", 1), dlt_put1(&p, 0x94);
    pk_global(&p, "torch._utils", "_rebuild_tensor_v2"), dlt_put1(&p, 0x94);
    dlt_put1(&p, '(');
    dlt_put1(&p, '(');
    dlt_put1(&p, 0x8d), dlt_putle(&p, 7, 8), dlt_put(&p, "storage", 7);
    pk_global(&p, "torch", "FloatStorage");
    dlt_put1(&p, 0x8c), dlt_put1(&p, 1), dlt_put(&p, "k", 1);
    dlt_put1(&p, 0x8c), dlt_put1(&p, 3), dlt_put(&p, "cpu", 3);
    pk_int(&p, 6);
    dlt_put1(&p, 't'), dlt_put1(&p, 'Q');
    pk_int(&p, 0), pk_int(&p, 6), dlt_put1(&p, 0x85), pk_int(&p, 1), dlt_put1(&p, 0x85), dlt_put1(&p, 0x89);
    pk_ordered_dict(&p);
    dlt_put1(&p, 't'), dlt_put1(&p, 'R'), dlt_put1(&p, 0x94);
    dlt_put1(&p, 's');
    dlt_put1(&p, 0x8c), dlt_put1(&p, 1), dlt_put(&p, "v", 1);
    dlt_put1(&p, 'h'), dlt_put1(&p, 3);
    dlt_put1(&p, 's');
    dlt_put1(&p, '.');
    for (int i = 0; i < 8; i++)
        p.b[frame_start - 8 + (size_t)i] = (unsigned char)((p.n - frame_start) >> (8 * i));
    if (crafted_ok("protocol 4", &p, "p4", &one, 1, &a, &l))
        CHECK(l.count == 2 && strcmp(l.items[0].name, "w") == 0 && strcmp(l.items[1].name, "v") == 0 &&
                  l.items[0].data == l.items[1].data,
              "protocol 4: %zu tensors", l.count);
    dlor_tensor_list_free(&l);
    dlt_buf_free(&p);
    dlt_buf_free(&a);

    /* the folder comes from the first member, whatever it is called; a
     * byteorder of "little" is fine */
    sd_begin(&p);
    pk_str(&p, "x");
    pk_tensor(&p, "FloatStorage", "k", 6, 0, 1, (int64_t[]){6}, unit);
    sd_end(&p);
    member m[4] = {{"weird name/byteorder", "little", 6, 0, 0},
                   {"weird name/data/k", s6, sizeof s6, 1, 0},
                   {"weird name/data.pkl", p.b, p.n, 0, 1},
                   {"weird name/.data/serialization_id", "1234", 4, 0, 0}};
    zip_build(&a, m, 4);
    if (parse(&a, &l, &err) == DLOR_OK)
        CHECK(l.count == 1 && memcmp(l.items[0].data, s6, 24) == 0, "folder: wrong tensor");
    else
        CHECK(0, "folder: %s", err.msg);
    dlor_tensor_list_free(&l);

    /* dlor_read_pt and the dispatcher on a file */
    char path[1024];
    dlt_tmp_path(path, sizeof path, "crafted.pt");
    CHECK(dlt_write_file(path, a.b, a.n) == 0, "cannot write %s", path);
    CHECK(strcmp(dlor_weights_format(path), "pt") == 0, "crafted.pt sniffed as %s",
          dlor_weights_format(path));
    dlor_tensor_list_init(&l);
    CHECK(dlor_read_weights(path, &l, &err) == DLOR_OK && l.count == 1, "crafted.pt: %s", err.msg);
    dlor_tensor_list_free(&l);
    dlor_tensor_list_init(&l);
    dlor_status s = dlor_read_pt(dlt_tmp_path(path, sizeof path, "no-such-file.pt"), &l, &err);
    CHECK(s == DLOR_E_IO && list_is_empty(&l), "missing file: %s", dlor_status_str(s));
    dlor_tensor_list_free(&l);
    dlt_buf_free(&p);
    dlt_buf_free(&a);
}

/* ---- 43-45, 50: the archive --------------------------------------------- */

static void simple_pickle(buf *p, const char *stype, const char *key, int64_t numel)
{
    sd_begin(p);
    pk_str(p, "w");
    pk_tensor(p, stype, key, numel, 0, 1, (int64_t[]){numel > 0 && numel < 100 ? numel : 1}, unit);
    sd_end(p);
}

static void test_archive_cases(void)
{
    float d4[4] = {1, 2, 3, 4};
    buf p = {0}, a = {0};
    simple_pickle(&p, "FloatStorage", "0", 4);

    /* 43: the folder; members hold the pickle (P), the storage (D) or text */
    static const char P[] = "", D[] = "";
    static const struct {
        const char *label;
        member m[3];
        dlor_status code;
        const char *frag;
    } layouts[] = {
        {"43 no folder", {{"data.pkl", P, 0, 0, 0}, {"data/0", D, 0, 0, 0}}, DLOR_E_FORMAT,
         "first member 'data.pkl' is not inside a folder"},
        {"43 mixed folders", {{"a/data.pkl", P, 0, 0, 0}, {"b/data/0", D, 0, 0, 0}}, DLOR_E_FORMAT,
         "member 'b/data/0' is outside the archive folder 'a'"},
        {"43 no data.pkl", {{"a/version", "3\n", 2, 0, 0}, {"a/data/0", D, 0, 0, 0}}, DLOR_E_FORMAT,
         "no 'a/data.pkl' record"},
        {"43 a folder entry of its own is fine",
         {{"a/", "", 0, 0, 0}, {"a/data.pkl", P, 0, 0, 0}, {"a/data/0", D, 0, 0, 0}}, DLOR_OK, ""},
        {"43 data.pkl one level too deep", {{"a/b/data.pkl", P, 0, 0, 0}, {"a/data/0", D, 0, 0, 0}}, DLOR_E_FORMAT,
         "no 'a/data.pkl' record"},
        {"43 empty archive", {{NULL, NULL, 0, 0, 0}}, DLOR_E_FORMAT, "archive is empty"},
    };
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        member m[3];
        int n = 0;
        for (; n < 3 && layouts[i].m[n].name; n++) {
            m[n] = layouts[i].m[n];
            if (m[n].data == P) m[n].data = p.b, m[n].n = p.n;
            if (m[n].data == D) m[n].data = d4, m[n].n = sizeof d4;
        }
        a.n = 0;
        zip_build(&a, m, n);
        expect_fail(layouts[i].label, &a, layouts[i].code, layouts[i].frag);
    }
    expect_fail("not a zip", &p, DLOR_E_FORMAT, "end-of-central-directory");

    /* 44: byteorder */
    static const struct {
        const char *val;
        dlor_status code;
        const char *frag;
    } bo[] = {
        {"big", DLOR_E_UNSUPPORTED, "big-endian archives are not supported"},
        {"middle", DLOR_E_FORMAT, "byteorder record is 'middle', not 'little' or 'big'"},
        {"little\n", DLOR_E_FORMAT, "byteorder record is 'little\\x0a'"},
        {"", DLOR_E_FORMAT, "byteorder record is ''"},
        {"little", DLOR_OK, ""},
    };
    for (size_t i = 0; i < sizeof bo / sizeof bo[0]; i++) {
        member m[3] = {{"a/data.pkl", p.b, p.n, 0, 0},
                       {"a/byteorder", bo[i].val, strlen(bo[i].val), 0, 0},
                       {"a/data/0", d4, 16, 0, 0}};
        a.n = 0;
        zip_build(&a, m, 3);
        char label[64];
        snprintf(label, sizeof label, "44 byteorder '%s'", bo[i].val);
        expect_fail(label, &a, bo[i].code, bo[i].frag);
    }
    char big[100];
    memset(big, 'l', sizeof big);
    member m3[3] = {{"a/data.pkl", p.b, p.n, 0, 0}, {"a/byteorder", big, sizeof big, 1, 0},
                    {"a/data/0", d4, 16, 0, 0}};
    a.n = 0;
    zip_build(&a, m3, 3);
    expect_fail("44 byteorder of 100 bytes", &a, DLOR_E_LIMIT, "over the 64-byte limit");

    /* 45: record sizes and keys */
    storage s = {"0", d4, 12};
    a.n = 0;
    archive(&a, "a", &p, &s, 1, 0, 1);
    expect_fail(
        "45 data/0 short", &a, DLOR_E_FORMAT,
        "tensor 'w': record 'a/data/0' holds 12 bytes, but its storage of 4 f32 elements needs 16");
    float d5[5] = {0};
    s = (storage){"0", d5, 20};
    a.n = 0;
    archive(&a, "a", &p, &s, 1, 1, 1);
    expect_fail("45 data/0 long (deflated)", &a, DLOR_E_FORMAT, "holds 20 bytes");
    s = (storage){"1", d4, 16};
    a.n = 0;
    archive(&a, "a", &p, &s, 1, 0, 1);
    expect_fail("45 missing record", &a, DLOR_E_FORMAT, "storage '0' has no record 'a/data/0'");
    dlt_buf_free(&p);
    simple_pickle(&p, "FloatStorage", "../data.pkl", 4);
    s = (storage){"0", d4, 16};
    a.n = 0;
    archive(&a, "a", &p, &s, 1, 0, 1);
    expect_fail("45 key escaping data/", &a, DLOR_E_FORMAT, "has no record 'a/data/../data.pkl'");
    dlt_buf_free(&p);
    simple_pickle(&p, "DoubleStorage", "0", (int64_t)1 << 62);
    a.n = 0;
    archive(&a, "a", &p, &s, 1, 0, 1);
    expect_fail("45 numel overflow", &a, DLOR_E_FORMAT, "overflows");
    dlt_buf_free(&p);
    /* one key declared with two types */
    sd_begin(&p);
    pk_str(&p, "a");
    pk_tensor(&p, "FloatStorage", "0", 4, 0, 1, one_dim, unit);
    pk_str(&p, "b");
    pk_tensor(&p, "IntStorage", "0", 4, 0, 1, one_dim, unit);
    sd_end(&p);
    a.n = 0;
    archive(&a, "a", &p, &s, 1, 0, 1);
    expect_fail("45 storage retyped", &a, DLOR_E_FORMAT,
                "storage '0' is declared as 4 i32 elements and elsewhere as 4 f32 elements");
    dlt_buf_free(&p);

    /* records streamed as torch's writer does: flag 3, zeros in the local
     * header, a data descriptor after the data */
    simple_pickle(&p, "FloatStorage", "0", 4);
    for (int d = 1; d <= 3; d++) {
        member sm[3] = {{"a/data.pkl", p.b, p.n, 0, 1},
                        {"a/data/0", d4, 16, d == 2, 1},
                        {"a/version", "3\n", 2, 0, 1}};
        a.n = 0;
        zip_build_desc(&a, sm, 3, d);
        char label[64];
        snprintf(label, sizeof label, "streamed records, descriptor kind %d", d);
        expect_fail(label, &a, d == 3 ? DLOR_E_FORMAT : DLOR_OK,
                    "member 'a/data.pkl': data descriptor (CRC-32 0x");
    }
    {
        member sm[2] = {{"a/data.pkl", p.b, p.n, 0, 1}, {"a/data/0", d4, 16, 0, 1}};
        a.n = 0;
        zip_build_desc(&a, sm, 2, 1);
        /* cut the last descriptor off: the central directory now follows the data */
        size_t cd = a.n - 22 - (46 + 10) - (46 + 8), desc = 16;
        memmove(a.b + cd - desc, a.b + cd, a.n - cd);
        a.n -= desc;
        w32le(a.b + a.n - 6, (uint32_t)(cd - desc));
        expect_fail("streamed record without its descriptor", &a, DLOR_E_FORMAT,
                    "member 'a/data/0': data descriptor is truncated");
    }
    dlt_buf_free(&p);

    /* a TorchScript archive */
    simple_pickle(&p, "FloatStorage", "0", 4);
    member ts[3] = {{"m/data.pkl", p.b, p.n, 0, 0}, {"m/constants.pkl", "\x80\x02).", 4, 0, 0},
                    {"m/data/0", d4, 16, 0, 0}};
    a.n = 0;
    zip_build(&a, ts, 3);
    expect_fail("TorchScript", &a, DLOR_E_UNSUPPORTED, "TorchScript archive");
    /* the zip walker's checks still apply: a CRC mismatch */
    a.n = 0;
    archive(&a, "a", &p, &s, 1, 0, 0);
    for (size_t i = a.n; i-- > 4;)
        if (memcmp(a.b + i, "\x00\x00\x80\x3f", 4) == 0) { /* the 1.0f of data/0 */
            a.b[i + 3] ^= 1;
            break;
        }
    expect_fail("CRC mismatch", &a, DLOR_E_FORMAT, "CRC-32");
    dlt_buf_free(&p);
    dlt_buf_free(&a);
}

/* ---- 46-49: the pickle --------------------------------------------------- */

/* Builds each case's pickle, wraps it into a one-storage archive and expects the
 * case's failure. */
static void expect_cases(const pk_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf p = {0};
        if (c[i].wrap != BARE) sd_begin(&p);
        if (c[i].wrap == IN_VALUE) pk_str(&p, "w");
        pk_items(&p, c[i].body);
        if (c[i].wrap != BARE) sd_end(&p);
        expect_pkl_fail(c[i].label, &p, c[i].code, c[i].frag);
    }
}

static void test_globals_and_opcodes(void)
{
    char marker[1024], cmd[1200];
    dlt_tmp_path(marker, sizeof marker, "pt_pwned");
    remove(marker);
    snprintf(cmd, sizeof cmd, "touch %s", marker);
    const pk_case cases[] = {
        /* 46: os.system / builtins.eval through REDUCE, never called */
        {"46 os system", IN_VALUE, {GLOBAL("os", "system"), STR(cmd), OP(0x85), OP('R')}, DLOR_E_UNSUPPORTED,
         "pickle global 'os system' at offset 36 is not allowed (state dicts only use OrderedDict, "
         "_rebuild_tensor_v2 and storage types)"},
        {"46 builtins eval", IN_VALUE,
         {GLOBAL("builtins", "eval"), STR("__import__('os').system('true')"), OP(0x85), OP('R')},
         DLOR_E_UNSUPPORTED, "pickle global 'builtins eval'"},
        {"46 posix system", IN_VALUE, {GLOBAL("posix", "system")}, DLOR_E_UNSUPPORTED, "'posix system'"},
        {"46 torch load", IN_VALUE, {GLOBAL("torch", "load")}, DLOR_E_UNSUPPORTED, "'torch load' at offset"},
        {"46 global with an extra line", IN_VALUE, {GLOBAL("torch._utils", "_rebuild_tensor_v2\nx")},
         DLOR_E_FORMAT, "unknown pickle opcode 0x78 at offset 69"},
        {"46 global with control bytes", IN_VALUE, {GLOBAL("torch\x01", "FloatStorage")}, DLOR_E_UNSUPPORTED,
         "'torch\\x01 FloatStorage'"},
        /* 46: opcodes a state dict never uses, each named */
        {"46 opcode STACK_GLOBAL (0x93)", IN_VALUE, {RAW("\x8c\x02os\x8c\x06system\x93")}, DLOR_E_UNSUPPORTED,
         "STACK_GLOBAL (0x93)"},
        {"46 opcode INST (0x69)", IN_VALUE, {RAW("(ios\nsystem\n")}, DLOR_E_UNSUPPORTED, "INST (0x69)"},
        {"46 opcode OBJ (0x6f)", IN_VALUE, {RAW("(o")}, DLOR_E_UNSUPPORTED, "OBJ (0x6f)"},
        {"46 opcode EXT1 (0x82)", IN_VALUE, {RAW("\x82\x01")}, DLOR_E_UNSUPPORTED, "EXT1 (0x82)"},
        {"46 opcode EXT2 (0x83)", IN_VALUE, {RAW("\x83\x01\x00")}, DLOR_E_UNSUPPORTED, "EXT2 (0x83)"},
        {"46 opcode EXT4 (0x84)", IN_VALUE, {RAW("\x84\x01\x00\x00\x00")}, DLOR_E_UNSUPPORTED, "EXT4 (0x84)"},
        {"46 opcode PERSID (0x50)", IN_VALUE, {RAW("P0\n")}, DLOR_E_UNSUPPORTED, "PERSID (0x50)"},
        {"46 opcode POP (0x30)", IN_VALUE, {RAW("N0")}, DLOR_E_UNSUPPORTED, "POP (0x30)"},
        {"46 opcode DUP (0x32)", IN_VALUE, {RAW("N2")}, DLOR_E_UNSUPPORTED, "DUP (0x32)"},
        {"46 opcode POP_MARK (0x31)", IN_VALUE, {RAW("(1")}, DLOR_E_UNSUPPORTED, "POP_MARK (0x31)"},
        {"46 opcode STRING (0x53)", IN_VALUE, {RAW("S'x'\n")}, DLOR_E_UNSUPPORTED, "STRING (0x53)"},
        {"46 opcode SHORT_BINSTRING (0x55)", IN_VALUE, {RAW("U\x01x")}, DLOR_E_UNSUPPORTED,
         "SHORT_BINSTRING (0x55)"},
        {"46 opcode SHORT_BINBYTES (0x43)", IN_VALUE, {RAW("C\x01x")}, DLOR_E_UNSUPPORTED, "SHORT_BINBYTES (0x43)"},
        {"46 opcode INT (0x49)", IN_VALUE, {RAW("I1\n")}, DLOR_E_UNSUPPORTED, "INT (0x49)"},
        {"46 opcode EMPTY_SET (0x8f)", IN_VALUE, {RAW("\x8f")}, DLOR_E_UNSUPPORTED, "EMPTY_SET (0x8f)"},
        {"46 opcode NEWOBJ_EX (0x92)", IN_VALUE, {RAW("\x92")}, DLOR_E_UNSUPPORTED, "NEWOBJ_EX (0x92)"},
        {"46 opcode NEXT_BUFFER (0x97)", IN_VALUE, {RAW("\x97")}, DLOR_E_UNSUPPORTED, "NEXT_BUFFER (0x97)"},
        {"46 opcode GET (0x67)", IN_VALUE, {RAW("g0\n")}, DLOR_E_UNSUPPORTED, "GET (0x67)"},
        {"46 opcode DICT (0x64)", IN_VALUE, {RAW("d")}, DLOR_E_UNSUPPORTED, "DICT (0x64)"},
        {"unknown opcode", IN_VALUE, {OP(0xff)}, DLOR_E_FORMAT, "unknown pickle opcode 0xff at offset 36"},
        /* calls the allow-list does not cover */
        {"REDUCE on a storage class", IN_VALUE, {GLOBAL("torch", "FloatStorage"), OP(')'), OP('R')},
         DLOR_E_UNSUPPORTED, "calling a torch storage class"},
        {"REDUCE on a str", IN_VALUE, {STR("f"), OP(')'), OP('R')}, DLOR_E_UNSUPPORTED,
         "(REDUCE): calling a str is not allowed"},
        {"OrderedDict with arguments", IN_VALUE,
         {GLOBAL("collections", "OrderedDict"), STR("x"), OP(0x85), OP('R')}, DLOR_E_UNSUPPORTED,
         "only OrderedDict() is allowed"},
        {"REDUCE with a str for arguments", IN_VALUE, {GLOBAL("collections", "OrderedDict"), STR("x"), OP('R')},
         DLOR_E_FORMAT, "arguments of collections.OrderedDict are a str, not a tuple"},
        {"NEWOBJ on _rebuild_tensor_v2", IN_VALUE, {GLOBAL("torch._utils", "_rebuild_tensor_v2"), OP(')'), OP(0x81)},
         DLOR_E_UNSUPPORTED, "NEWOBJ on torch._utils._rebuild_tensor_v2"},
        {"_rebuild_parameter arguments", IN_VALUE,
         {GLOBAL("torch._utils", "_rebuild_parameter"), INT(1), OP(0x88), OP(0x86), OP('R')}, DLOR_E_FORMAT,
         "_rebuild_parameter takes (tensor, bool, dict)"},
        {"BUILD on a list", IN_VALUE, {OP(']'), OP('}'), OP('b')}, DLOR_E_UNSUPPORTED, "BUILD on a list"},
        /* 47: persistent ids: _rebuild_tensor_v2(pid, 0, (4,), (1,), False, OrderedDict()) */
#define PID_CALL(...) GLOBAL("torch._utils", "_rebuild_tensor_v2"), OP('('), __VA_ARGS__, INT(0), INTS(4), INTS(1), \
                      REBUILD_END
        {"47 pid not a tuple", IN_VALUE, {PID_CALL(STR("storage"), OP('Q'))}, DLOR_E_FORMAT,
         "(BINPERSID): persistent id is a str, not a tuple"},
        {"47 pid[0] not 'storage'", IN_VALUE,
         {PID_CALL(OP('('), STR("module"), GLOBAL("torch", "FloatStorage"), STR("0"), STR("cpu"), INT(4), OP('t'),
                   OP('Q'))},
         DLOR_E_FORMAT, "persistent id starts with 'module', not 'storage'"},
        {"47 pid[0] an int", IN_VALUE,
         {PID_CALL(OP('('), INT(0), GLOBAL("torch", "FloatStorage"), STR("0"), STR("cpu"), INT(4), OP('t'),
                   OP('Q'))},
         DLOR_E_FORMAT, "persistent id starts with an int, not 'storage'"},
        {"47 pid of 4 items", IN_VALUE,
         {PID_CALL(OP('('), STR("storage"), GLOBAL("torch", "FloatStorage"), STR("0"), STR("cpu"), OP('t'),
                   OP('Q'))},
         DLOR_E_FORMAT, "persistent id has 4 items, not 5"},
        {"47 unknown storage type", IN_VALUE,
         {PID_CALL(OP('('), STR("storage"), GLOBAL("torch", "ComplexFloatStorage"), STR("0"), STR("cpu"), INT(4),
                   OP('t'), OP('Q'))},
         DLOR_E_UNSUPPORTED, "pickle global 'torch ComplexFloatStorage' at offset"},
        {"47 type slot holds OrderedDict", IN_VALUE,
         {PID_CALL(OP('('), STR("storage"), GLOBAL("collections", "OrderedDict"), STR("0"), STR("cpu"), INT(4),
                   OP('t'), OP('Q'))},
         DLOR_E_FORMAT, "item 1 is collections.OrderedDict, not a storage type"},
        {"47 int key", IN_VALUE,
         {PID_CALL(OP('('), STR("storage"), GLOBAL("torch", "FloatStorage"), INT(0), STR("cpu"), INT(4), OP('t'),
                   OP('Q'))},
         DLOR_E_FORMAT, "key and location must be str, got an int and a str"},
        {"47 negative numel", IN_VALUE,
         {PID_CALL(OP('('), STR("storage"), GLOBAL("torch", "FloatStorage"), STR("0"), STR("cpu"), INT(-4),
                   OP('t'), OP('Q'))},
         DLOR_E_FORMAT, "persistent id numel -4 is negative"},
        {"47 float numel", IN_VALUE,
         {PID_CALL(OP('('), STR("storage"), GLOBAL("torch", "FloatStorage"), STR("0"), STR("cpu"),
                   RAW("G\x40\x10\0\0\0\0\0\0"), OP('t'), OP('Q'))},
         DLOR_E_FORMAT, "persistent id numel is a float, not an int"},
        {"47 storage where a tensor goes", IN_VALUE, {PERSID("FloatStorage", "0", 4)}, DLOR_E_UNSUPPORTED,
         "'w' is a storage holding tensor data"},
        {"47 a tensor over a str", IN_VALUE, {PID_CALL(STR("storage"))}, DLOR_E_FORMAT,
         "argument 0 (storage) is a str, not a storage"},
#undef PID_CALL
    };
    expect_cases(cases, sizeof cases / sizeof cases[0]);
    CHECK(!dlt_file_exists(marker), "46: the payload ran");
}

/* A state dict {"w": _rebuild_tensor_v2(...)} with the given view. */
static void view_pickle(buf *p, int64_t numel, int64_t offset, int ndim, const int64_t *size,
                        const int64_t *stride)
{
    sd_begin(p);
    pk_str(p, "w");
    pk_tensor(p, "FloatStorage", "0", numel, offset, ndim, size, stride);
    sd_end(p);
}

static void test_views(void)
{
    const int64_t big = (int64_t)1 << 62, max = INT64_MAX;
    /* 48: views of a storage of 8 floats */
    static const struct {
        const char *label;
        int64_t offset;
        int ndim;
        int64_t size[9], stride[9];
        dlor_status code;
        const char *frag;
    } views[] = {
        {"48 negative stride", 7, 1, {4}, {-1}, DLOR_E_FORMAT, "tensor 'w': negative stride -1 in dimension 0"},
        {"48 negative size", 0, 2, {2, -3}, {1, 1}, DLOR_E_FORMAT, "negative size -3 in dimension 1"},
        {"48 negative offset", -3, 1, {2}, {1}, DLOR_E_FORMAT, "storage offset -3 is negative"},
        {"48 size beyond storage", 0, 1, {9}, {1}, DLOR_E_FORMAT,
         "view [9] at offset 0 reaches element 8 of a storage of 8 elements"},
        {"48 offset beyond storage", 7, 2, {2, 1}, {1, 1}, DLOR_E_FORMAT, "reaches element 8"},
        {"48 strided view beyond storage", 0, 2, {2, 2}, {4, 4}, DLOR_E_FORMAT, "reaches element 8"},
        {"48 extent overflow (size x stride)", 0, 1, {5}, {big}, DLOR_E_FORMAT,
         "overflows (stride 4611686018427387904 in dimension 0)"},
        {"48 extent overflow (offset + extent)", max, 1, {3}, {big + 1}, DLOR_E_FORMAT, "overflows"},
        {"48 huge offset", max, 1, {1}, {1}, DLOR_E_FORMAT,
         "at offset 9223372036854775807 reaches element 9223372036854775807"},
        {"48 empty view past the end", 9, 1, {0}, {1}, DLOR_E_FORMAT, "offset 9 is beyond its storage of 8 elements"},
        {"48 shape product overflow", 0, 3, {(int64_t)1 << 32, (int64_t)1 << 32, 2}, {0, 0, 0}, DLOR_E_FORMAT,
         "shape [4294967296, 4294967296, 2] overflows"},
        {"48 broadcast over the copy limit", 0, 1, {(int64_t)1 << 40}, {0}, DLOR_E_LIMIT, "copy limit"},
        {"48 nine dimensions", 0, 9, {1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1}, DLOR_E_LIMIT,
         "tensor 'w' has 9 dimensions (limit 8)"},
    };
    float d[8] = {0};
    storage s = {"0", d, sizeof d};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        buf p = {0}, a = {0};
        view_pickle(&p, 8, views[i].offset, views[i].ndim, views[i].size, views[i].stride);
        archive(&a, "a", &p, &s, 1, 0, 1);
        expect_fail(views[i].label, &a, views[i].code, views[i].frag);
        dlt_buf_free(&p);
        dlt_buf_free(&a);
    }
    /* malformed _rebuild_tensor_v2 arguments */
    const pk_case cases[] = {
        {"48 size/stride mismatch", IN_VALUE, {REBUILD, INT(0), INTS(2, 2), INTS(1), REBUILD_END}, DLOR_E_FORMAT,
         "size has 2 items but stride has 1"},
        {"48 float size", IN_VALUE, {REBUILD, INT(0), RAW("(G\x40\0\0\0\0\0\0\0t"), INTS(1), REBUILD_END},
         DLOR_E_FORMAT, "_rebuild_tensor_v2 size item 0 is a float, not an int"},
        {"48 requires_grad an int", IN_VALUE, {REBUILD, INT(0), INTS(2), INTS(1), INT(0), ODICT, OP('t'), OP('R')},
         DLOR_E_FORMAT, "argument 4 (requires_grad) is an int, not a bool"},
        {"48 three arguments", IN_VALUE, {REBUILD, INT(0), INTS(2), OP('t'), OP('R')}, DLOR_E_FORMAT,
         "_rebuild_tensor_v2 takes 6 or 7 arguments, got 3"},
        {"48 metadata an int", IN_VALUE, {REBUILD, INT(0), INTS(2), INTS(1), OP(0x89), ODICT, INT(5), OP('t'), OP('R')},
         DLOR_E_FORMAT, "argument 6 (metadata) is an int, not a dict"},
    };
    expect_cases(cases, sizeof cases / sizeof cases[0]);
}

/* Runs a bare pickle through the VM. */
static void pkl_fail(const char *label, const buf *p, dlor_status code, const char *frag)
{
    dlor_pkl k;
    dlor_error err;
    memset(&err, 0, sizeof err);
    dlor_status st = dlor_pkl_load(&k, p->b, p->n, "m.pt", &err);
    CHECK(st == code, "%s: %s, want %s (%s)", label, dlor_status_str(st), dlor_status_str(code),
          err.msg);
    CHECK(st == DLOR_OK || (strstr(err.msg, frag) && strncmp(err.msg, "m.pt: ", 6) == 0),
          "%s: message '%s' lacks '%s'", label, err.msg, frag);
    CHECK(st == DLOR_OK ||
              (k.objs == NULL && k.nobjs == 0 && k.tensors == NULL && k.storages == NULL),
          "%s: not left empty", label);
    dlor_pkl_free(&k);
}

/* A pickle of count bytes: head, then 'fill' repeated n times, then tail. */
static void repeated(buf *p, const char *head, unsigned fill, size_t n, const char *tail)
{
    p->n = 0;
    dlt_put(p, head, strlen(head));
    for (size_t i = 0; i < n; i++) dlt_put1(p, fill);
    dlt_put(p, tail, strlen(tail));
}

static void test_vm_cases(void)
{
    /* 49 and the VM's other refusals, each a whole pickle */
#define BYTES(s) (s), sizeof(s) - 1
    static const struct {
        const char *label;
        const char *bytes;
        size_t n;
        dlor_status code;
        const char *frag;
    } vm[] = {
        {"49 BINGET unset", BYTES("\x80\x02h\x07."), DLOR_E_FORMAT,
         "pickle offset 2 (BINGET): memo index 7 was never set"},
        {"49 LONG_BINPUT 2^32-1", BYTES("\x80\x02Nr\xff\xff\xff\xff."), DLOR_E_LIMIT,
         "memo index 4294967295 is over the limit 1048576"},
        {"49 LONG_BINGET 2^32-1", BYTES("\x80\x02j\xff\xff\xff\xff."), DLOR_E_FORMAT,
         "memo index 4294967295 was never set"},
        {"49 BINPUT on an empty stack", BYTES("\x80\x02q\x00."), DLOR_E_FORMAT, "(BINPUT): stack underflow"},
        {"49 REDUCE on an empty stack", BYTES("\x80\x02R."), DLOR_E_FORMAT, "(REDUCE): stack underflow"},
        {"49 TUPLE2 of one item", BYTES("\x80\x02N\x86."), DLOR_E_FORMAT, "(TUPLE2): stack underflow"},
        {"49 SETITEM of one item", BYTES("\x80\x02}Ns."), DLOR_E_FORMAT, "(SETITEM): stack underflow"},
        {"49 TUPLE1 reaching below a MARK", BYTES("\x80\x02N(\x85."), DLOR_E_FORMAT, "(TUPLE1): stack underflow"},
        {"49 SETITEM reaching below a MARK", BYTES("\x80\x02}(NNsu."), DLOR_E_FORMAT, "stack underflow"},
        {"49 MARK never closed", BYTES("\x80\x02(N."), DLOR_E_FORMAT, "(STOP): 1 MARKs were never closed"},
        {"49 TUPLE without MARK", BYTES("\x80\x02Nt."), DLOR_E_FORMAT, "(TUPLE): no MARK to close"},
        {"49 missing STOP", BYTES("\x80\x02}"), DLOR_E_FORMAT, "pickle ends without STOP after 3 bytes"},
        {"49 empty pickle", BYTES(""), DLOR_E_FORMAT, "ends without STOP after 0 bytes"},
        {"49 BINUNICODE 0xFFFFFFFF", BYTES("\x80\x02X\xff\xff\xff\xff" "abc."), DLOR_E_FORMAT,
         "(BINUNICODE): needs 4294967295 bytes of argument, 4 left"},
        {"49 BINUNICODE8 2^64-1", BYTES("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff."), DLOR_E_FORMAT,
         "string of 18446744073709551615 bytes, 1 left"},
        {"49 LONG1 truncated", BYTES("\x80\x02\x8a\x04\x01\x02."), DLOR_E_FORMAT,
         "(LONG1): needs 4 bytes of argument, 3 left"},
        {"STOP with two items", BYTES("\x80\x02NN."), DLOR_E_FORMAT, "stack holds 2 items, not 1"},
        {"bytes after STOP", BYTES("\x80\x02N.N"), DLOR_E_FORMAT, "1 bytes follow STOP"},
        {"protocol 6", BYTES("\x80\x06N."), DLOR_E_UNSUPPORTED, "pickle protocol 6 (dlor reads 2 to 5)"},
        {"FRAME beyond the end", BYTES("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00N."), DLOR_E_FORMAT,
         "frame of 16 bytes, 2 left"},
        {"GLOBAL cut short", BYTES("\x80\x02\x63torch"), DLOR_E_FORMAT,
         "(GLOBAL): global name is not two newline-terminated lines"},
        {"SETITEMS odd", BYTES("\x80\x02}(Nu."), DLOR_E_FORMAT, "(SETITEMS): odd number of items (1)"},
        {"SETITEM on a list", BYTES("\x80\x02]NNs."), DLOR_E_FORMAT, "setting items on a list, not a dict"},
        {"APPEND on a dict", BYTES("\x80\x02}Na."), DLOR_E_FORMAT, "appending to a dict, not a list"},
        {"list as a key", BYTES("\x80\x02}]Ns."), DLOR_E_FORMAT, "a list cannot be a dict key"},
        {"APPENDS with nothing below", BYTES("\x80\x02(e."), DLOR_E_FORMAT, "(APPENDS): stack underflow"},
        {"memo at the limit", BYTES("\x80\x02Nr\x00\x00\x10\x00r\x01\x00\x10\x00."), DLOR_E_LIMIT,
         "memo index 1048577"},
        {"memo index 2^20 works", BYTES("\x80\x02Nr\x00\x00\x10\x00j\x00\x00\x10\x00\x86."), DLOR_OK, ""},
    };
#undef BYTES
    buf p = {0};
    for (size_t i = 0; i < sizeof vm / sizeof vm[0]; i++) {
        p.n = 0;
        dlt_put(&p, vm[i].bytes, vm[i].n);
        pkl_fail(vm[i].label, &p, vm[i].code, vm[i].frag);
    }
    /* limits: an integer, a global name, the stack depth, the MARK depth */
    repeated(&p, "\x80\x02\x8a\xff", 0x7f, 255, ".");
    pkl_fail("49 LONG1 of 255 bytes", &p, DLOR_E_LIMIT, "integer of 255 bytes is beyond the 8-byte (int64) limit");
    repeated(&p, "\x80\x02\x63", 'a', 300, "\n\n.");
    pkl_fail("GLOBAL too long", &p, DLOR_E_LIMIT, "within 256 bytes");
    repeated(&p, "\x80\x02", 'N', (size_t)DLOR_PKL_MAX_STACK + 1, ".");
    pkl_fail("stack depth", &p, DLOR_E_LIMIT, "stack deeper than 1048576 items");
    repeated(&p, "\x80\x02", '(', (size_t)DLOR_PKL_MAX_MARKS + 1, ".");
    pkl_fail("MARK depth", &p, DLOR_E_LIMIT, "more than 4096 nested MARKs");

    /* values come out right */
    p.n = 0;
    dlt_put(&p,
        "\x80\x02(J\xfe\xff\xff\xff\x8a\x02\x00\x80\x8a\x00\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f"
        "M\xff\xffG\xc0\x04\x00\x00\x00\x00\x00\x00t.",
        38);
    dlor_pkl k;
    dlor_error err;
    dlor_status st = dlor_pkl_load(&k, p.b, p.n, "m.pt", &err);
    CHECK(st == DLOR_OK, "ints: %s", err.msg);
    if (st == DLOR_OK) {
        const dlor_pkl_obj *t = &k.objs[k.root];
        CHECK(t->kind == DLOR_PKL_TUPLE && t->len == 6, "ints: root");
        if (t->kind == DLOR_PKL_TUPLE && t->len == 6) {
            CHECK(k.objs[t->u.items[0]].u.i == -2, "BININT -2: %lld",
                  (long long)k.objs[t->u.items[0]].u.i);
            CHECK(k.objs[t->u.items[1]].u.i == -32768, "LONG1 -32768: %lld",
                  (long long)k.objs[t->u.items[1]].u.i);
            CHECK(k.objs[t->u.items[2]].u.i == 0, "LONG1 of 0 bytes");
            CHECK(k.objs[t->u.items[3]].u.i == INT64_MAX, "LONG1 INT64_MAX");
            CHECK(k.objs[t->u.items[4]].u.i == 65535, "BININT2");
            CHECK(k.objs[t->u.items[5]].kind == DLOR_PKL_FLOAT && k.objs[t->u.items[5]].u.f == -2.5,
                  "BINFLOAT big-endian: %g", k.objs[t->u.items[5]].u.f);
        }
    }
    dlor_pkl_free(&k);
    dlor_pkl_free(&k); /* harmless twice */
    dlt_buf_free(&p);
}

/* Names, nesting and the walk's limits. */
static void test_names(void)
{
    float d8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    storage s = {"0", d8, sizeof d8}; /* as expect_pkl_fail's */
    buf p = {0}, a = {0};
    static const int64_t eight[1] = {8};
    char k200[201], k255[256];
    memset(k200, 'k', 200);
    k200[200] = 0;
    memset(k255, 'k', 255);
    k255[255] = 0;
    const pk_case cases[] = {
        /* a tensor inside a list, a tuple, under a float key */
        {"tensor in a list", IN_DICT, {STR("layers"), OP(']'), TENSOR8, OP('a')}, DLOR_E_UNSUPPORTED,
         "'layers' is a list holding tensor data (dlor reads dicts of tensors, nested dicts included)"},
        {"tensor in a tuple", IN_DICT, {STR("pair"), INT(1), OP('}'), STR("x"), TENSOR8, OP('s'), OP(0x86)},
         DLOR_E_UNSUPPORTED, "'pair' is a tuple holding tensor data"},
        {"tensor under a float key", IN_DICT, {RAW("G\x3f\xf0\0\0\0\0\0\0"), TENSOR8}, DLOR_E_UNSUPPORTED,
         "tensors under a float key in the top-level dict"},
        {"empty key", IN_DICT, {STR(""), TENSOR8}, DLOR_E_FORMAT, "empty tensor name"},
        {"key with NUL", IN_DICT, {STRN("a\0b"), TENSOR8}, DLOR_E_FORMAT, "NUL"},
        {"key not UTF-8", IN_DICT, {STRN("a\xff"), TENSOR8}, DLOR_E_FORMAT,
         "key of a tensor in the top-level dict is not valid UTF-8 (byte 1)"},
        {"duplicate key", IN_DICT, {STR("w"), TENSOR8, STR("w"), TENSOR8}, DLOR_E_FORMAT, "duplicate tensor name 'w'"},
        {"flattened name collides", IN_DICT, {STR("a.b"), TENSOR8, STR("a"), OP('}'), STR("b"), TENSOR8, OP('s')},
         DLOR_E_FORMAT, "duplicate tensor name 'a.b'"},
        /* names over 255 bytes, built from nested keys */
        {"name too long", IN_DICT, {STR(k200), OP('}'), STR(k200), TENSOR8, OP('s')}, DLOR_E_LIMIT,
         "is longer than 255 bytes"},
        {"name of exactly 255 bytes", IN_DICT, {STR(k200 + 145), OP('}'), STR(k200 + 1), TENSOR8, OP('s')}, DLOR_OK,
         ""}, /* 55 + '.' + 199 = 255 */
        {"a 255-byte prefix and one more key", IN_DICT, {STR(k255), OP('}'), STR("x"), TENSOR8, OP('s')},
         DLOR_E_LIMIT, "is longer than 255 bytes"},
        {"a 255-byte key", IN_DICT, {STR(k255), TENSOR8}, DLOR_OK, ""},
        /* top level not a dict */
        {"top-level tensor", BARE, {RAW("\x80\x02"), TENSOR8, OP('.')}, DLOR_E_UNSUPPORTED,
         "the pickled object is a tensor, not a dict of tensors"},
        {"top-level list", BARE, {RAW("\x80\x02].")}, DLOR_E_UNSUPPORTED, "the pickled object is a list"},
        /* a dict that contains itself is refused, with or without a tensor in it */
        {"self-containing dict", BARE,
         {RAW("\x80\x02"), ODICT, RAW("(uq\x01"), STR("self"), RAW("h\x01s"), STR("w"), TENSOR8, RAW("s.")},
         DLOR_E_LIMIT, "nested more than 32 deep under 'self' (or a container that contains itself)"},
        {"self-containing dict without tensors", BARE,
         {RAW("\x80\x02}q\x01"), STR("empty"), RAW("}q\x02"), STR("me"), RAW("h\x02ss"), STR("w"), TENSOR8,
          RAW("s.")},
         DLOR_E_LIMIT, "nested more than 32 deep under 'empty'"},
    };
    expect_cases(cases, sizeof cases / sizeof cases[0]);

#define TENSOR() pk_tensor(&p, "FloatStorage", "0", 8, 0, 1, eight, unit)
    /* d_i = {"a": d_(i-1), "b": d_(i-1)}: 2^30 paths from under a kilobyte */
    dlt_put1(&p, 0x80), dlt_put1(&p, 2), dlt_put1(&p, '}');
    pk_str(&p, "d0"), dlt_put1(&p, '}'), pk_str(&p, "n"), pk_int(&p, 1), dlt_put1(&p, 's'), dlt_put1(&p, 'q'),
        dlt_put1(&p, 0), dlt_put1(&p, 's');
    for (int i = 1; i <= 30; i++) {
        char key[8];
        snprintf(key, sizeof key, "d%d", i);
        pk_str(&p, key);
        dlt_put1(&p, '}'), dlt_put1(&p, '(');
        pk_str(&p, "a"), dlt_put1(&p, 'h'), dlt_put1(&p, (unsigned)(i - 1));
        pk_str(&p, "b"), dlt_put1(&p, 'h'), dlt_put1(&p, (unsigned)(i - 1));
        dlt_put1(&p, 'u'), dlt_put1(&p, 'q'), dlt_put1(&p, (unsigned)i);
        dlt_put1(&p, 's');
    }
    pk_str(&p, "w"), TENSOR(), dlt_put1(&p, 's');
    dlt_put1(&p, '.');
    archive(&a, "a", &p, &s, 1, 0, 1);
    expect_fail("exponential shared dicts", &a, DLOR_E_LIMIT,
                "walking the pickled objects took more than");
    dlt_buf_free(&a);
    dlt_buf_free(&p);
    /* the same with a tensor in d_0: 2^30 names, stopped at the tensor limit */
    dlt_put1(&p, 0x80), dlt_put1(&p, 2), dlt_put1(&p, '}');
    pk_str(&p, "d0"), dlt_put1(&p, '}'), pk_str(&p, "w"), TENSOR(), dlt_put1(&p, 's'), dlt_put1(&p, 'q'),
        dlt_put1(&p, 0), dlt_put1(&p, 's');
    for (int i = 1; i <= 30; i++) {
        char key[8];
        snprintf(key, sizeof key, "d%d", i);
        pk_str(&p, key);
        dlt_put1(&p, '}'), dlt_put1(&p, '(');
        pk_str(&p, "a"), dlt_put1(&p, 'h'), dlt_put1(&p, (unsigned)(i - 1));
        pk_str(&p, "b"), dlt_put1(&p, 'h'), dlt_put1(&p, (unsigned)(i - 1));
        dlt_put1(&p, 'u'), dlt_put1(&p, 'q'), dlt_put1(&p, (unsigned)i);
        dlt_put1(&p, 's');
    }
    dlt_put1(&p, '.');
    archive(&a, "a", &p, &s, 1, 0, 1);
    expect_fail("exponential shared dicts with a tensor", &a, DLOR_E_LIMIT,
                "more than 1048576 tensors");
    dlt_buf_free(&a);
    dlt_buf_free(&p);
#undef TENSOR
}

/* Every truncation and many single-byte changes of a valid archive's pickle
 * must load or fail cleanly (ASan/UBSan watch the rest). */
static void test_mutations(void)
{
    float d6[6] = {1, 2, 3, 4, 5, 6};
    storage s = {"0", d6, sizeof d6};
    buf p = {0}, a = {0};
    sd_begin(&p);
    pk_str(&p, "t");
    pk_tensor(&p, "FloatStorage", "0", 6, 0, 2, (int64_t[]){3, 2}, (int64_t[]){1, 3});
    dlt_put1(&p, 'q'), dlt_put1(&p, 3);
    pk_str(&p, "u");
    dlt_put1(&p, 'h'), dlt_put1(&p, 3);
    pk_str(&p, "n");
    dlt_put1(&p, '}'), pk_str(&p, "v"),
        pk_tensor(&p, "FloatStorage", "0", 6, 2, 1, (int64_t[]){4}, unit), dlt_put1(&p, 's');
    sd_end(&p);
    dlor_tensor_list l;
    dlor_error err;
    archive(&a, "a", &p, &s, 1, 0, 1);
    CHECK(parse(&a, &l, &err) == DLOR_OK && l.count == 3, "mutation base: %s", err.msg);
    dlor_tensor_list_free(&l);
    size_t ok_trunc = 0, changed_ok = 0, runs = 0;
    for (size_t n = 0; n < p.n; n++) {
        dlor_pkl k;
        if (dlor_pkl_load(&k, p.b, n, "m.pt", &err) == DLOR_OK) ok_trunc++;
        dlor_pkl_free(&k);
    }
    CHECK(ok_trunc == 0, "%zu truncated pickles loaded", ok_trunc);
    static const unsigned char vals[] = {0x00, 0x01, 0x02, 0x05, 0x07, 0x7f, 0x80, 0xff,
                                         '(',  ')',  '.',  'R',  'h',  'q',  's',  't',
                                         'u',  'K',  'X',  'Q',  'b',  0x85};
    for (size_t i = 0; i < p.n; i++)
        for (size_t v = 0; v < sizeof vals; v++) {
            buf q = {0}, qa = {0};
            dlt_put(&q, p.b, p.n);
            if (q.b[i] == vals[v]) {
                dlt_buf_free(&q);
                continue;
            }
            q.b[i] = vals[v];
            archive(&qa, "a", &q, &s, 1, 0, 0);
            dlor_status st = parse(&qa, &l, &err);
            runs++;
            if (st == DLOR_OK) changed_ok++;
            else
                CHECK(err.msg[0] && list_is_empty(&l), "mutation %zu=%02x: no message or list kept",
                      i, vals[v]);
            dlor_tensor_list_free(&l);
            dlt_buf_free(&q);
            dlt_buf_free(&qa);
        }
    CHECK(runs > 1000, "only %zu mutations ran", runs);
    printf("mutations: %zu runs, %zu still loaded\n", runs, changed_ok);
    dlt_buf_free(&p);
    dlt_buf_free(&a);
}

int main(void)
{
    test_real_samples();
    test_torch_fixtures();
    test_crafted_ok();
    test_archive_cases();
    test_globals_and_opcodes();
    test_views();
    test_vm_cases();
    test_names();
    test_mutations();
    return dlt_finish();
}
