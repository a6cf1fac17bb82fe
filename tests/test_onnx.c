/* test_onnx - the protobuf decoder and the ONNX reader on models built byte by
 * byte in memory: every malformed case 34-42 of formats.md §7 (each a clean
 * error with the right status and a key phrase, or an empty graph with a
 * 'why' naming the node), every initializer encoding, external data, and
 * graph recovery (Gemm, MatMul + Add, activations, patterns, no-op
 * reshapes, tensor normalisation and naming). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlor_protobuf.h"
#include "dlor_readers.h"
#include "testutil.h"

#define WHAT "model.onnx"

/* ---- a tiny protobuf writer -------------------------------------------- */

typedef dlt_buf buf;

static void varint(buf *w, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        t[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) t[n] |= 0x80;
        n++;
    } while (v);
    dlt_put(w, t, n);
}

static void tag(buf *w, uint32_t field, int wt) { varint(w, ((uint64_t)field << 3) | (unsigned)wt); }
static void f_varint(buf *w, uint32_t field, uint64_t v) { tag(w, field, 0); varint(w, v); }
static void f_bytes(buf *w, uint32_t field, const void *p, size_t n)
{
    tag(w, field, 2);
    varint(w, n);
    dlt_put(w, p, n);
}
static void f_str(buf *w, uint32_t field, const char *s) { f_bytes(w, field, s, strlen(s)); }
static void f_msg(buf *w, uint32_t field, buf *sub)
{
    f_bytes(w, field, sub->b, sub->n);
    free(sub->b);
    memset(sub, 0, sizeof *sub);
}
static void f_f32(buf *w, uint32_t field, float f)
{
    uint32_t b;
    unsigned char t[4];
    memcpy(&b, &f, 4);
    dlor_store_u32(t, b);
    tag(w, field, 5);
    dlt_put(w, t, 4);
}

/* ---- ONNX builders -------------------------------------------------------- */

enum { FLOAT = 1, UINT8 = 2, INT8 = 3, UINT16 = 4, INT16 = 5, INT32 = 6, INT64 = 7, STRING = 8,
       BOOL = 9, FLOAT16 = 10, DOUBLE = 11, UINT32 = 12, UINT64 = 13, BFLOAT16 = 16 };

static void dims_of(buf *t, int ndim, const int64_t *dims)
{
    for (int i = 0; i < ndim; i++) f_varint(t, 1, (uint64_t)dims[i]);
}

static buf tensor_raw(const char *name, int dtype, int ndim, const int64_t *dims, const void *raw,
                      size_t n)
{
    buf t = {0};
    dims_of(&t, ndim, dims);
    f_varint(&t, 2, (uint64_t)dtype);
    if (name) f_str(&t, 8, name);
    f_bytes(&t, 9, raw, n);
    return t;
}

static void le_f32(unsigned char *p, float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    dlor_store_u32(p, b);
}

/* An F32 tensor in raw_data. */
static buf tf32(const char *name, int ndim, const int64_t *dims, const float *v)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    unsigned char *raw = malloc(4 * n + 1);
    for (size_t i = 0; i < n; i++) le_f32(raw + 4 * i, v[i]);
    buf t = tensor_raw(name, FLOAT, ndim, dims, raw, 4 * n);
    free(raw);
    return t;
}

/* An INT64 tensor in raw_data. */
static buf ti64(const char *name, int ndim, const int64_t *dims, const int64_t *v)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
    unsigned char *raw = malloc(8 * n + 1);
    for (size_t i = 0; i < n; i++) dlor_store_u64(raw + 8 * i, (uint64_t)v[i]);
    buf t = tensor_raw(name, INT64, ndim, dims, raw, 8 * n);
    free(raw);
    return t;
}

/* Splits "a,b,,c" into repeated string field 'field' (empty items kept). */
static void names(buf *w, uint32_t field, const char *list)
{
    if (!list) return;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        f_bytes(w, field, p, n);
        if (!comma) break;
        p = comma + 1;
    }
}

/* A node; attributes (already encoded AttributeProtos) follow, NULL-ended. */
static buf node(const char *name, const char *op, const char *ins, const char *outs, ...)
{
    buf n = {0};
    va_list ap;
    names(&n, 1, ins);
    names(&n, 2, outs);
    if (name) f_str(&n, 3, name);
    f_str(&n, 4, op);
    va_start(ap, outs);
    for (buf *a; (a = va_arg(ap, buf *)) != NULL;) f_msg(&n, 5, a);
    va_end(ap);
    return n;
}

static buf attr_f(const char *name, float f)
{
    buf a = {0};
    f_str(&a, 1, name);
    f_f32(&a, 2, f);
    f_varint(&a, 20, 1);
    return a;
}

static buf attr_i(const char *name, int64_t i)
{
    buf a = {0};
    f_str(&a, 1, name);
    f_varint(&a, 3, (uint64_t)i);
    f_varint(&a, 20, 2);
    return a;
}

static buf attr_s(const char *name, const char *s)
{
    buf a = {0};
    f_str(&a, 1, name);
    f_str(&a, 4, s);
    f_varint(&a, 20, 3);
    return a;
}

static buf attr_t(const char *name, buf *t)
{
    buf a = {0};
    f_str(&a, 1, name);
    f_msg(&a, 5, t);
    f_varint(&a, 20, 4);
    return a;
}

/* A ValueInfoProto; dims < 0 are symbolic ("N"); ndim < 0: no type. */
static buf vinfo(const char *name, int ndim, const int64_t *dims)
{
    buf v = {0}, ty = {0}, tt = {0}, sh = {0};
    f_str(&v, 1, name);
    if (ndim < 0) return v;
    for (int i = 0; i < ndim; i++) {
        buf d = {0};
        if (dims[i] < 0) f_str(&d, 2, "N");
        else f_varint(&d, 1, (uint64_t)dims[i]);
        f_msg(&sh, 1, &d);
    }
    f_varint(&tt, 1, 1);
    f_msg(&tt, 2, &sh);
    f_msg(&ty, 1, &tt);
    f_msg(&v, 2, &ty);
    return v;
}

static buf model(buf *graph, int64_t opset)
{
    buf m = {0}, o = {0};
    f_varint(&m, 1, 8);
    f_str(&m, 2, "test");
    if (opset >= 0) {
        f_str(&o, 1, "");
        f_varint(&o, 2, (uint64_t)opset);
        f_msg(&m, 8, &o);
    }
    f_msg(&m, 7, graph);
    return m;
}

/* Graph with input "x" [N, in_dim] (in_dim 0: no shape) and output "y". */
static buf graph_io(int64_t in_dim, const char *out)
{
    buf g = {0}, vi, vo;
    int64_t d[2] = {-1, in_dim};
    f_str(&g, 2, "g");
    vi = vinfo("x", in_dim ? 2 : -1, d);
    vo = vinfo(out ? out : "y", -1, NULL);
    f_msg(&g, 11, &vi);
    f_msg(&g, 12, &vo);
    return g;
}

static void add_node(buf *g, buf n) { f_msg(g, 1, &n); }
static void add_init(buf *g, buf t) { f_msg(g, 5, &t); }

/* ---- checking --------------------------------------------------------------- */

static int list_empty(const dlor_tensor_list *l)
{
    return l->count == 0 && l->nblocks == 0 && l->items == NULL && l->blocks == NULL;
}

typedef struct {
    dlor_tensor_list l;
    dlor_graph g;
    char why[512];
    dlor_error err;
    dlor_status s;
    buf m;
} parsed;

static void do_parse(parsed *p, buf m, const char *dir)
{
    memset(p, 0, sizeof *p);
    p->m = m;
    dlor_tensor_list_init(&p->l);
    dlor_graph_init(&p->g);
    strcpy(p->why, "stale");
    p->s = dlor_onnx_parse(m.b, m.n, WHAT, dir, &p->l, &p->g, p->why, sizeof p->why, &p->err);
}

static void done(parsed *p)
{
    dlor_tensor_list_free(&p->l);
    dlor_graph_free(&p->g);
    free(p->m.b);
}

/* Expects failure with 'code' and a one-line message naming the file and
 * holding n1 and n2 (either may be NULL); frees m. */
static void expect_err_at(int line, buf m, const char *dir, dlor_status code, const char *n1,
                          const char *n2)
{
    parsed p;
    do_parse(&p, m, dir);
    CHECK(p.s == code, "line %d: status %d, want %d (%s)", line, p.s, code, p.s ? p.err.msg : "");
    if (p.s) {
        CHECK(p.err.code == code, "line %d: err.code %d", line, p.err.code);
        CHECK(strncmp(p.err.msg, WHAT ": ", strlen(WHAT) + 2) == 0, "line %d: '%s' lacks the file",
              line, p.err.msg);
        if (n1) CHECK(strstr(p.err.msg, n1) != NULL, "line %d: '%s' lacks '%s'", line, p.err.msg, n1);
        if (n2) CHECK(strstr(p.err.msg, n2) != NULL, "line %d: '%s' lacks '%s'", line, p.err.msg, n2);
        CHECK(strchr(p.err.msg, '\n') == NULL, "line %d: message has a newline", line);
    }
    CHECK(list_empty(&p.l), "line %d: list not empty after failure", line);
    CHECK(p.g.count == 0 && p.g.ops == NULL, "line %d: graph not empty after failure", line);
    CHECK(p.why[0] == 0, "line %d: why not cleared", line);
    done(&p);
}
#define EXPECT_ERR(m, code, n1, n2) expect_err_at(__LINE__, m, NULL, code, n1, n2)
#define EXPECT_ERR_DIR(m, dir, code, n1, n2) expect_err_at(__LINE__, m, dir, code, n1, n2)

/* Expects success with an empty graph and a why holding n1 and n2. */
static void expect_why_at(int line, buf m, const char *n1, const char *n2)
{
    parsed p;
    do_parse(&p, m, NULL);
    CHECK(p.s == DLOR_OK, "line %d: status %d (%s)", line, p.s, p.err.msg);
    CHECK(p.g.count == 0, "line %d: graph has %zu ops, want none", line, p.g.count);
    if (n1) CHECK(strstr(p.why, n1) != NULL, "line %d: why '%s' lacks '%s'", line, p.why, n1);
    if (n2) CHECK(strstr(p.why, n2) != NULL, "line %d: why '%s' lacks '%s'", line, p.why, n2);
    CHECK(strchr(p.why, '\n') == NULL && p.why[0], "line %d: why '%s' empty or multi-line", line, p.why);
    done(&p);
}
#define EXPECT_WHY(m, n1, n2) expect_why_at(__LINE__, m, n1, n2)

static int parse_ok_at(int line, parsed *p, buf m, const char *dir)
{
    do_parse(p, m, dir);
    CHECK(p->s == DLOR_OK, "line %d: status %d (%s)", line, p->s, p->err.msg);
    return p->s == DLOR_OK;
}
#define PARSE_OK(p, m) parse_ok_at(__LINE__, p, m, NULL)

/* Expects the graph to be recovered: ops described by 'want', e.g.
 * "L:W:b A:relu L:W2:- S" (L linear weight:bias, A act, S softmax). */
static void expect_ops_at(int line, const parsed *p, const char *want)
{
    char got[1024] = "";
    size_t n = 0;
    for (size_t i = 0; i < p->g.count; i++) {
        const dlor_graph_op *op = &p->g.ops[i];
        if (op->kind == DLOR_OP_LINEAR)
            n += (size_t)snprintf(got + n, sizeof got - n, "%sL:%s:%s", i ? " " : "", op->weight,
                                  op->bias ? op->bias : "-");
        else if (op->kind == DLOR_OP_ACT)
            n += (size_t)snprintf(got + n, sizeof got - n, "%sA:%s", i ? " " : "", dlor_act_name(op->act));
        else
            n += (size_t)snprintf(got + n, sizeof got - n, "%sS", i ? " " : "");
    }
    CHECK(strcmp(got, want) == 0, "line %d: ops '%s', want '%s' (why: %s)", line, got, want, p->why);
    if (strcmp(got, want) == 0) CHECK(p->why[0] == 0, "line %d: why '%s' on success", line, p->why);
}
#define EXPECT_OPS(p, want) expect_ops_at(__LINE__, p, want)

static const dlor_tensor *find(const parsed *p, const char *name)
{
    return dlor_tensor_list_find(&p->l, name);
}

/* Checks tensor name's dtype, shape and (float) values. */
static void expect_tensor_at(int line, const parsed *p, const char *name, dlor_dtype dt, int ndim,
                             const uint64_t *dims, const double *vals)
{
    const dlor_tensor *t = find(p, name);
    CHECK(t != NULL, "line %d: no tensor '%s'", line, name);
    if (!t) return;
    CHECK(t->dtype == dt, "line %d: '%s' dtype %s", line, name, dlor_dtype_name(t->dtype));
    CHECK(t->ndim == ndim, "line %d: '%s' ndim %d, want %d", line, name, t->ndim, ndim);
    for (int i = 0; i < ndim && i < t->ndim; i++)
        CHECK(t->dims[i] == dims[i], "line %d: '%s' dim %d = %llu", line, name, i,
              (unsigned long long)t->dims[i]);
    if (!vals || !dlor_dtype_is_float(t->dtype) || t->ndim != ndim) return;
    double *x = malloc((size_t)t->nelem * sizeof *x + 8);
    dlor_tensor_to_f64(t, x, NULL);
    for (uint64_t i = 0; i < t->nelem; i++)
        CHECK(x[i] == vals[i], "line %d: '%s'[%llu] = %.9g, want %.9g", line, name,
              (unsigned long long)i, x[i], vals[i]);
    free(x);
}
#define EXPECT_TENSOR(p, name, dt, ndim, dims, vals) expect_tensor_at(__LINE__, p, name, dt, ndim, dims, vals)

/* ---- common pieces ---------------------------------------------------------- */

static const float W1[6] = {1, 2, 3, 4, 5, 6};       /* [3, 2] */
static const float B1[3] = {0.5f, -0.5f, 0.25f};
static const float W2[6] = {-1, 0.5f, 2, 1, -2, 3}; /* [2, 3] */
static const float B2[2] = {0.125f, -1};

static void add_w1(buf *g, const char *wname, const char *bname)
{
    int64_t d[2] = {3, 2}, db[1] = {3};
    add_init(g, tf32(wname, 2, d, W1));
    if (bname) add_init(g, tf32(bname, 1, db, B1));
}

static void add_w2(buf *g, const char *wname, const char *bname)
{
    int64_t d[2] = {2, 3}, db[1] = {2};
    add_init(g, tf32(wname, 2, d, W2));
    if (bname) add_init(g, tf32(bname, 1, db, B2));
}

/* ---- graphs written as text ------------------------------------------------------
 * A graph as items separated by ';', each a few words:
 *   in N [out NAME]      the input x [batch, N] (N = 0: no shape; "1,2": [batch, 1, 2])
 *                        and the output y (or NAME); the first item
 *   w1 W [B]             initializers W = W1 [3, 2] (and B = B1 [3]); w2 likewise with
 *                        W2 [2, 3] and B2 [2]
 *   f32 NAME SRC D,..    a float initializer of the given shape from SRC: W1, B1, W2, B2,
 *                        SQ (1 .. 9) or Z (zeros)
 *   scalar NAME V        a float initializer of rank 0
 *   i64 NAME V,.. [D,..] an INT64 initializer (a vector, or of the given shape)
 *   input NAME           one more graph input, untyped (output NAME: one more output)
 *   OP NAME INS > OUTS [K=V ..] [@DOMAIN]
 *                        a node (NAME "-": none; INS "-": none; lists comma-separated,
 *                        empty items kept); V an integer, a float (with a '.'), 'text',
 *                        #f:V (a float scalar tensor) or #i:V,.. (an INT64 vector)
 */
static const float SQ[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, ZEROS[16] = {0};

/* Up to max comma-separated integers of s into v; returns the count. */
static int ints_of(const char *s, int64_t *v, int max)
{
    int n = 0;
    while (n < max && *s) {
        char *e;
        v[n++] = strtoll(s, &e, 10);
        if (*e != ',') break;
        s = e + 1;
    }
    return n;
}

static buf gattr(const char *kv)
{
    char key[64];
    const char *eq = strchr(kv, '=');
    size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
    snprintf(key, sizeof key, "%.*s", (int)kl, kv);
    const char *v = eq ? eq + 1 : "";
    if (v[0] == '\'') {
        char s[128];
        snprintf(s, sizeof s, "%.*s", (int)(strlen(v) > 2 ? strlen(v) - 2 : 0), v + 1);
        return attr_s(key, s);
    }
    if (v[0] == '#') {
        int64_t d0[1] = {0}, iv[8];
        buf t;
        if (v[1] == 'f') {
            float f = strtof(v + 3, NULL);
            t = tf32(NULL, 0, d0, &f);
        } else {
            int64_t n = ints_of(v + 3, iv, 8);
            t = ti64(NULL, 1, &n, iv);
        }
        return attr_t(key, &t);
    }
    if (strchr(v, '.')) return attr_f(key, strtof(v, NULL));
    return attr_i(key, strtoll(v, NULL, 10));
}

static buf gspec(const char *spec)
{
    char text[2048], *save = NULL;
    buf g = {0};
    snprintf(text, sizeof text, "%s", spec);
    for (char *item = strtok_r(text, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        char *w[16], *s2 = NULL;
        int n = 0;
        for (char *t = strtok_r(item, " ", &s2); t && n < 16; t = strtok_r(NULL, " ", &s2)) w[n++] = t;
        if (n == 0) continue;
        int64_t d[8];
        if (strcmp(w[0], "in") == 0) {
            int64_t dims[4] = {-1};
            int nd = 1 + ints_of(w[1], dims + 1, 3);
            buf vi, vo;
            f_str(&g, 2, "g");
            vi = vinfo("x", nd == 2 && dims[1] == 0 ? -1 : nd, dims);
            vo = vinfo(n > 3 ? w[3] : "y", -1, NULL);
            f_msg(&g, 11, &vi);
            f_msg(&g, 12, &vo);
        } else if (strcmp(w[0], "w1") == 0) {
            add_w1(&g, w[1], n > 2 ? w[2] : NULL);
        } else if (strcmp(w[0], "w2") == 0) {
            add_w2(&g, w[1], n > 2 ? w[2] : NULL);
        } else if (strcmp(w[0], "f32") == 0) {
            const float *src = strcmp(w[2], "W1") == 0 ? W1 : strcmp(w[2], "B1") == 0 ? B1
                             : strcmp(w[2], "W2") == 0 ? W2 : strcmp(w[2], "B2") == 0 ? B2
                             : strcmp(w[2], "SQ") == 0 ? SQ : ZEROS;
            add_init(&g, tf32(w[1], ints_of(w[3], d, 8), d, src));
        } else if (strcmp(w[0], "scalar") == 0) {
            float f = strtof(w[2], NULL);
            add_init(&g, tf32(w[1], 0, d, &f));
        } else if (strcmp(w[0], "i64") == 0) {
            int64_t v[8], nv = ints_of(w[2], v, 8);
            if (n > 3) add_init(&g, ti64(w[1], ints_of(w[3], d, 8), d, v));
            else add_init(&g, ti64(w[1], 1, &nv, v));
        } else if (strcmp(w[0], "input") == 0 || strcmp(w[0], "output") == 0) {
            buf vi = vinfo(w[1], -1, NULL);
            f_msg(&g, w[0][0] == 'i' ? 11 : 12, &vi);
        } else { /* OP NAME INS > OUTS attrs */
            buf nd = {0};
            names(&nd, 1, strcmp(w[2], "-") == 0 ? NULL : w[2]);
            names(&nd, 2, w[4]);
            if (strcmp(w[1], "-") != 0) f_str(&nd, 3, w[1]);
            f_str(&nd, 4, w[0]);
            for (int i = 5; i < n; i++) {
                if (w[i][0] == '@') {
                    f_str(&nd, 7, w[i] + 1);
                    continue;
                }
                buf a = gattr(w[i]);
                f_msg(&nd, 5, &a);
            }
            add_node(&g, nd);
        }
    }
    return g;
}

/* A graph case: the spec, its opset, and what parsing gives: the ops (OPS, a = the
 * ops as expect_ops_at writes them), no graph and why (WHY, a and b in the why), or
 * a failure (ERR, code, a and b in the message). */
enum { OPS, WHY, ERR };
typedef struct {
    int line;
    const char *spec;
    int64_t opset;
    int expect;
    const char *a, *b;
    dlor_status code;
} gcase;
#define GCASE(...) {__LINE__, __VA_ARGS__}

static void expect_graphs(const gcase *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf g = gspec(c[i].spec), m = model(&g, c[i].opset);
        if (c[i].expect == ERR) {
            expect_err_at(c[i].line, m, NULL, c[i].code, c[i].a, c[i].b);
        } else if (c[i].expect == WHY) {
            expect_why_at(c[i].line, m, c[i].a, c[i].b);
        } else {
            parsed p;
            if (parse_ok_at(c[i].line, &p, m, NULL)) expect_ops_at(c[i].line, &p, c[i].a);
            done(&p);
        }
    }
}

/* A valid graph: Gemm(W1 [3,2], transB=1) -> Relu -> Gemm(W2, transB=1). */
#define MLP_SPEC \
    "in 2; w1 W1 b1; w2 W2 b2; Gemm fc1 x,W1,b1 > h transB=1; Relu act h > r; Gemm fc2 r,W2,b2 > y transB=1"
static buf mlp_graph(void)
{
    return gspec(MLP_SPEC);
}

static buf mlp(void)
{
    buf g = mlp_graph();
    return model(&g, 17);
}

/* ---- protobuf cursor ---------------------------------------------------------- */

static void test_pb_varint(void)
{
    static const struct { unsigned char b[12]; size_t n; int rc; uint64_t v; } cases[] = {
        {{0x00}, 1, 0, 0},
        {{0x96, 0x01}, 2, 0, 150},
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10, 0, UINT64_MAX},
        {{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 10, 0, 1ull << 63},
        {{0x80}, 1, -1, 0},
        {{0xff, 0xff}, 2, -1, 0},
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 10, -3, 0},
        {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 11, -2, 0},
        {{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 11, -2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const unsigned char *p = cases[i].b;
        uint64_t v = 12345;
        int rc = dlor_pb_varint(&p, cases[i].b + cases[i].n, &v);
        CHECK(rc == cases[i].rc, "varint case %zu: rc %d, want %d", i, rc, cases[i].rc);
        if (rc == 0) {
            CHECK(v == cases[i].v, "varint case %zu: %llu", i, (unsigned long long)v);
            CHECK(p == cases[i].b + cases[i].n, "varint case %zu: not all bytes consumed", i);
        } else {
            CHECK(p == cases[i].b, "varint case %zu: cursor moved on error", i);
        }
    }
}

/* Reads all fields of b; returns the status of the first failure. */
static dlor_status pb_scan(const unsigned char *b, size_t n, dlor_error *err, size_t *count)
{
    dlor_pb r;
    dlor_pb_field f;
    dlor_status s;
    *count = 0;
    dlor_pb_init(&r, b, n, 4);
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, err))) return s;
        if (!f.num) return DLOR_OK;
        ++*count;
    }
}

static void test_pb_fields(void)
{
    dlor_error err;
    size_t cnt;
    /* every wire type once: varint, I64, LEN, I32 */
    static const unsigned char ok[] = {0x08, 0x96, 0x01, 0x11, 1, 2, 3, 4, 5, 6, 7, 8,
                                       0x1a, 0x02, 'h', 'i', 0x25, 1, 2, 3, 4};
    CHECK(pb_scan(ok, sizeof ok, &err, &cnt) == DLOR_OK && cnt == 4, "valid fields: %zu", cnt);
    static const struct { unsigned char b[8]; size_t n; const char *phrase; } bad[] = {
        {{0x00, 0x00}, 2, "field number 0"},
        {{0x0b}, 1, "group wire type 3"},
        {{0x0c}, 1, "group wire type 4"},
        {{0x0e}, 1, "invalid wire type 6"},
        {{0x0f}, 1, "invalid wire type 7"},
        {{0x80, 0x80, 0x80, 0x80, 0x10}, 5, "exceeds 2^29-1"},
        {{0x08}, 1, "truncated varint (value)"},
        {{0x80}, 1, "truncated varint (tag)"},
        {{0x11, 1, 2, 3}, 4, "8-byte value truncated"},
        {{0x25, 1, 2}, 3, "4-byte value truncated"},
        {{0x1a, 0x05, 'a'}, 3, "length 5 exceeds the 1 bytes left"},
        {{0x1a, 0x80}, 2, "truncated varint (length)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dlor_status s = pb_scan(bad[i].b, bad[i].n, &err, &cnt);
        CHECK(s == DLOR_E_FORMAT, "bad field case %zu: status %d", i, s);
        if (s) CHECK(strstr(err.msg, bad[i].phrase) != NULL, "bad case %zu: '%s' lacks '%s'", i, err.msg,
                     bad[i].phrase);
    }
    /* the largest field number is fine */
    static const unsigned char maxf[] = {0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00};
    CHECK(pb_scan(maxf, sizeof maxf, &err, &cnt) == DLOR_OK && cnt == 1, "field 2^29-1: %s", err.msg);
}

static void test_pb_nesting_and_packed(void)
{
    dlor_error err;
    dlor_pb r, sub, sub2;
    dlor_pb_field f;
    /* a LEN inside a LEN: the inner length may not reach past the outer */
    static const unsigned char nest[] = {0x0a, 0x02, 0x0a, 0x03, 'a', 'b', 'c'};
    dlor_pb_init(&r, nest, sizeof nest, 8);
    CHECK(dlor_pb_next(&r, &f, &err) == DLOR_OK && f.num == 1 && f.len == 2, "outer");
    CHECK(dlor_pb_enter(&r, &f, &sub, &err) == DLOR_OK && sub.depth == 1, "enter");
    CHECK(dlor_pb_next(&sub, &f, &err) == DLOR_E_FORMAT && strstr(err.msg, "exceeds the 0 bytes left"),
          "inner LEN past its parent: %s", err.msg);
    CHECK(dlor_pb_next(&r, &f, &err) == DLOR_E_FORMAT, "trailing bytes of the outer buffer: 'abc' "
          "parses as field 12 wt 1 -> truncated");
    /* depth limit */
    static const unsigned char deep[] = {0x0a, 0x02, 0x0a, 0x00};
    dlor_pb_init(&r, deep, sizeof deep, 1);
    dlor_pb_next(&r, &f, &err);
    CHECK(dlor_pb_enter(&r, &f, &sub, &err) == DLOR_OK, "depth 1 allowed");
    dlor_pb_next(&sub, &f, &err);
    CHECK(dlor_pb_enter(&sub, &f, &sub2, &err) == DLOR_E_LIMIT && strstr(err.msg, "deeper than 1"),
          "depth 2 refused: %s", err.msg);
    /* entering a non-LEN field */
    static const unsigned char v[] = {0x08, 0x01};
    dlor_pb_init(&r, v, sizeof v, 4);
    dlor_pb_next(&r, &f, &err);
    CHECK(dlor_pb_enter(&r, &f, &sub, &err) == DLOR_E_FORMAT, "enter a varint");
    /* packed varints, fixed32, and their errors */
    static const unsigned char pk[] = {0x0a, 0x04, 0x01, 0x96, 0x01, 0x7f};
    uint64_t n, x, got[3];
    dlor_pb_init(&r, pk, sizeof pk, 4);
    dlor_pb_next(&r, &f, &err);
    CHECK(dlor_pb_count(&r, &f, DLOR_PB_VARINT, &n, &err) == DLOR_OK && n == 3, "packed count %llu",
          (unsigned long long)n);
    dlor_pb_iter it;
    size_t k = 0;
    dlor_pb_iter_init(&it, &f, DLOR_PB_VARINT);
    while (k < 3 && dlor_pb_iter_next(&it, &x)) got[k++] = x;
    CHECK(k == 3 && got[0] == 1 && got[1] == 150 && got[2] == 127, "packed values");
    CHECK(dlor_pb_count(&r, &f, DLOR_PB_I32, &n, &err) == DLOR_OK && n == 1, "4 bytes: one fixed32");
    CHECK(dlor_pb_count(&r, &f, DLOR_PB_I64, &n, &err) == DLOR_E_FORMAT &&
          strstr(err.msg, "not a multiple of 8"), "4 bytes of fixed64: %s", err.msg);
    static const unsigned char pkbad[] = {0x0a, 0x02, 0x01, 0x80};
    dlor_pb_init(&r, pkbad, sizeof pkbad, 4);
    dlor_pb_next(&r, &f, &err);
    CHECK(dlor_pb_count(&r, &f, DLOR_PB_VARINT, &n, &err) == DLOR_E_FORMAT &&
          strstr(err.msg, "truncated varint (packed element)"), "truncated packed: %s", err.msg);
    static const unsigned char wrongwt[] = {0x0d, 1, 2, 3, 4};
    dlor_pb_init(&r, wrongwt, sizeof wrongwt, 4);
    dlor_pb_next(&r, &f, &err);
    CHECK(dlor_pb_count(&r, &f, DLOR_PB_VARINT, &n, &err) == DLOR_E_FORMAT, "I32 for a varint field");
    CHECK(dlor_pb_count(&r, &f, DLOR_PB_I32, &n, &err) == DLOR_OK && n == 1, "one unpacked I32");
}

/* ---- case 34: varints, tags and wire types in a model ----------------------- */

static buf raw_bytes(const void *p, size_t n)
{
    buf b = {0};
    dlt_put(&b, p, n);
    return b;
}

static void test_case34(void)
{
    EXPECT_ERR(raw_bytes("\x08\x80", 2), DLOR_E_FORMAT, "model: truncated varint", "byte 1");
    EXPECT_ERR(raw_bytes("\x80", 1), DLOR_E_FORMAT, "truncated varint (tag) at byte 0", NULL);
    EXPECT_ERR(raw_bytes("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12), DLOR_E_FORMAT,
               "longer than 10 bytes", NULL);
    EXPECT_ERR(raw_bytes("\x00\x01", 2), DLOR_E_FORMAT, "field number 0", NULL);
    EXPECT_ERR(raw_bytes("\x0b", 1), DLOR_E_FORMAT, "group wire type 3", NULL);
    EXPECT_ERR(raw_bytes("\x0c", 1), DLOR_E_FORMAT, "group wire type 4", NULL);
    EXPECT_ERR(raw_bytes("\x0e\x00", 2), DLOR_E_FORMAT, "invalid wire type 6", NULL);
    EXPECT_ERR(raw_bytes("\x0f\x00", 2), DLOR_E_FORMAT, "invalid wire type 7", NULL);

    /* inside an initializer, after a valid prefix: the message names it */
    buf g = graph_io(2, NULL), t = {0};
    f_varint(&t, 1, 2);
    f_varint(&t, 2, FLOAT);
    dlt_put(&t, "\x3b", 1); /* field 7, wire type 3 */
    add_init(&g, t);
    EXPECT_ERR(model(&g, 17), DLOR_E_FORMAT, "initializer #0: field 7", "group wire type 3");

    /* a known field with the wrong wire type */
    g = graph_io(2, NULL);
    t = (buf){0};
    f_str(&t, 8, "W");
    f_str(&t, 2, "x"); /* data_type as LEN */
    add_init(&g, t);
    EXPECT_ERR(model(&g, 17), DLOR_E_FORMAT, "initializer 'W': field data_type (2)",
               "wire type LEN, expected VARINT");

    /* empty file, file without a graph */
    EXPECT_ERR(raw_bytes("", 0), DLOR_E_FORMAT, "empty", NULL);
    EXPECT_ERR(raw_bytes("\x08\x07", 2), DLOR_E_FORMAT, "no graph", NULL);
}

/* ---- case 35: lengths past the parent, deep nesting ------------------------- */

/* A model whose graph holds a node with a subgraph attribute nested 'levels'
 * times (node -> attribute g -> graph -> node ...). */
static buf nested_model(int levels)
{
    buf inner = {0};
    f_str(&inner, 2, "leaf");
    for (int i = 0; i < levels; i++) {
        buf a = {0}, n = {0}, g = {0};
        f_str(&a, 1, "body");
        f_msg(&a, 6, &inner);
        f_varint(&a, 20, 5);
        f_str(&n, 4, "Loop");
        f_msg(&n, 5, &a);
        f_msg(&g, 1, &n);
        inner = g;
    }
    buf m = {0}, o = {0};
    f_str(&o, 1, "");
    f_varint(&o, 2, 17);
    f_msg(&m, 8, &o);
    f_msg(&m, 7, &inner);
    return m;
}

static void test_case35(void)
{
    /* the initializer's LEN fits the file but not the graph that holds it */
    buf g = {0}, m = {0};
    f_str(&g, 2, "g");
    tag(&g, 5, 2);
    varint(&g, 40); /* 40 bytes claimed, none in the graph */
    f_varint(&m, 1, 8);
    f_msg(&m, 7, &g);
    f_str(&m, 2, "padding that is long enough to hold forty bytes....");
    EXPECT_ERR(m, DLOR_E_FORMAT, "graph: field 5", "exceeds the 0 bytes left in its message");

    /* LEN beyond the end of the file */
    EXPECT_ERR(raw_bytes("\x3a\x10\x12\x01g", 5), DLOR_E_FORMAT, "model: field 7",
               "length 16 exceeds the 3 bytes left");

    /* nesting: model 0, graph 1, then node/attribute/graph add 3 levels each;
     * 21 levels end in a graph at depth 64, 22 go past DLOR_ONNX_MAX_DEPTH */
    parsed p;
    do_parse(&p, nested_model(21), NULL);
    CHECK(p.s == DLOR_OK, "21 nested subgraphs: %s", p.err.msg);
    CHECK(p.g.count == 0 && strstr(p.why, "0 inputs"), "why: %s", p.why);
    done(&p);
    EXPECT_ERR(nested_model(22), DLOR_E_LIMIT, "nested deeper than 64 levels", NULL);
    EXPECT_ERR(nested_model(10000), DLOR_E_LIMIT, "nested deeper than 64 levels", NULL);

    /* 10,000 levels inside an unknown field are skipped, never descended */
    buf deep = {0};
    for (int i = 0; i < 10000; i++) {
        buf w = {0};
        f_msg(&w, 1, &deep);
        deep = w;
    }
    m = mlp();
    f_msg(&m, 99, &deep);
    if (PARSE_OK(&p, m)) EXPECT_OPS(&p, "L:W1:b1 A:relu L:W2:b2");
    done(&p);
}

/* ---- cases 36-39: initializer encodings ------------------------------------- */

/* A model whose only initializer is t (the graph need not run). */
static buf init_model(buf t)
{
    buf g = graph_io(2, "x");
    add_init(&g, t);
    return model(&g, 17);
}

static void test_case36(void)
{
    buf t = {0};
    f_varint(&t, 1, (uint64_t)-1); /* 10-byte sign-extended -1 */
    f_varint(&t, 2, FLOAT);
    f_str(&t, 8, "neg");
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "initializer 'neg': negative dimension -1", NULL);

    int64_t big[2] = {1ll << 32, 1ll << 32};
    t = tensor_raw("big", FLOAT, 2, big, "", 0);
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "initializer 'big': dims [4294967296, 4294967296]",
               "overflows");
    int64_t big3[3] = {4194305, 4194305, 211106198978564ll};
    t = tensor_raw("wrap", UINT8, 3, big3, "abcd", 4);
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "initializer 'wrap'", "overflows");

    int64_t d[2] = {2, 3};
    unsigned char raw[28] = {0};
    EXPECT_ERR(init_model(tensor_raw("W", FLOAT, 2, d, raw, 28)), DLOR_E_FORMAT,
               "initializer 'W': raw_data holds 28 bytes", "[2, 3] of FLOAT need 24");
    EXPECT_ERR(init_model(tensor_raw("W", FLOAT, 2, d, raw, 20)), DLOR_E_FORMAT,
               "raw_data holds 20 bytes", NULL);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    EXPECT_ERR(init_model(tensor_raw("W9", FLOAT, 9, nine, raw, 4)), DLOR_E_LIMIT,
               "more than 8 dimensions", NULL);
    /* packed dims are accepted too */
    t = (buf){0};
    f_bytes(&t, 1, "\x02\x03", 2);
    f_varint(&t, 2, UINT8);
    f_str(&t, 8, "pk");
    f_bytes(&t, 9, "abcdef", 6);
    parsed p;
    uint64_t d23[2] = {2, 3};
    if (PARSE_OK(&p, init_model(t))) EXPECT_TENSOR(&p, "pk", DLOR_DT_U8, 2, d23, NULL);
    done(&p);
    /* no data for a non-empty tensor; empty tensors need none */
    t = (buf){0};
    f_varint(&t, 1, 3);
    f_varint(&t, 2, FLOAT);
    f_str(&t, 8, "nodata");
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "initializer 'nodata': dims [3] but no data", NULL);
    t = (buf){0};
    f_varint(&t, 1, 0);
    f_varint(&t, 2, FLOAT);
    f_str(&t, 8, "empty");
    uint64_t d0[1] = {0};
    if (PARSE_OK(&p, init_model(t))) {
        EXPECT_TENSOR(&p, "empty", DLOR_DT_F32, 1, d0, NULL);
        CHECK(find(&p, "empty") && find(&p, "empty")->data != NULL, "empty tensor data pointer");
    }
    done(&p);
    /* an initializer without a name */
    t = (buf){0};
    f_varint(&t, 2, FLOAT);
    f_bytes(&t, 9, "abcd", 4);
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "initializer #0 has no name", NULL);
}

static void test_case37(void)
{
    int64_t d[1] = {1};
    buf t = tensor_raw("both", FLOAT, 1, d, "abcd", 4);
    f_f32(&t, 4, 1.0f);
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "initializer 'both': both raw_data and float_data", NULL);
    EXPECT_ERR(init_model(tensor_raw("u", 0, 1, d, "abcd", 4)), DLOR_E_UNSUPPORTED,
               "initializer 'u': data_type 0 (UNDEFINED)", NULL);
    EXPECT_ERR(init_model(tensor_raw("s", STRING, 1, d, "abcd", 4)), DLOR_E_UNSUPPORTED,
               "data_type 8 (STRING) is not supported", NULL);
    EXPECT_ERR(init_model(tensor_raw("n", 999, 1, d, "abcd", 4)), DLOR_E_UNSUPPORTED,
               "data_type 999", NULL);
    EXPECT_ERR(init_model(tensor_raw("c", 14, 1, d, "abcdabcd", 8)), DLOR_E_UNSUPPORTED,
               "COMPLEX64", NULL);
    t = tensor_raw("seg", FLOAT, 1, d, "abcd", 4);
    buf seg = {0};
    f_varint(&seg, 1, 0);
    f_varint(&seg, 2, 1);
    f_msg(&t, 3, &seg);
    EXPECT_ERR(init_model(t), DLOR_E_UNSUPPORTED, "initializer 'seg': segmented", NULL);
    /* typed field of the wrong kind, values in two typed fields */
    t = (buf){0};
    f_varint(&t, 1, 1);
    f_varint(&t, 2, INT64);
    f_str(&t, 8, "wrong");
    f_f32(&t, 4, 1.0f);
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "float_data holds the values of a INT64 tensor",
               "expected int64_data");
    t = (buf){0};
    f_varint(&t, 1, 2);
    f_varint(&t, 2, FLOAT);
    f_str(&t, 8, "two");
    f_f32(&t, 4, 1.0f);
    f_varint(&t, 7, 1);
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "several typed fields", NULL);
}

static void test_case38(void)
{
    /* float_data: unpacked 1, packed [2, 3], unpacked 4 -> [1, 2, 3, 4] */
    buf t = {0};
    unsigned char pk[8];
    le_f32(pk, 2.0f);
    le_f32(pk + 4, 3.0f);
    f_varint(&t, 1, 4);
    f_varint(&t, 2, FLOAT);
    f_f32(&t, 4, 1.0f);
    f_bytes(&t, 4, pk, 8);
    f_str(&t, 8, "mixed");
    f_f32(&t, 4, 4.0f);
    parsed p;
    uint64_t d4[1] = {4};
    const double v[4] = {1, 2, 3, 4};
    if (PARSE_OK(&p, init_model(t))) EXPECT_TENSOR(&p, "mixed", DLOR_DT_F32, 1, d4, v);
    done(&p);
    /* the count must match the dims */
    t = (buf){0};
    f_varint(&t, 1, 3);
    f_varint(&t, 2, FLOAT);
    f_bytes(&t, 4, pk, 8);
    f_str(&t, 8, "short");
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "float_data holds 2 values, dims [3] need 3", NULL);
    t = (buf){0};
    f_varint(&t, 1, 1);
    f_varint(&t, 2, FLOAT);
    f_bytes(&t, 4, pk, 7);
    f_str(&t, 8, "odd");
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "initializer 'odd'", "not a multiple of 4");
}

/* A tensor named name of type dtype holding vals in int32_data (one varint
 * each, as int32 sign-extended), packed when packed is set. */
static buf t_int32(const char *name, int dtype, const int64_t *vals, int n, int packed)
{
    buf t = {0}, pk = {0};
    f_varint(&t, 1, (uint64_t)n);
    f_varint(&t, 2, (uint64_t)dtype);
    f_str(&t, 8, name);
    for (int i = 0; i < n; i++) {
        if (packed) varint(&pk, (uint64_t)vals[i]);
        else f_varint(&t, 5, (uint64_t)vals[i]);
    }
    if (packed) f_msg(&t, 5, &pk);
    return t;
}

static void test_case39(void)
{
    parsed p;
    uint64_t d2[1] = {2}, d3[1] = {3};
    int64_t h[2] = {0x3c00, 0xc000}; /* 1.0, -2.0 */
    const double hv[2] = {1.0, -2.0};
    if (PARSE_OK(&p, init_model(t_int32("h", FLOAT16, h, 2, 0)))) EXPECT_TENSOR(&p, "h", DLOR_DT_F16, 1, d2, hv);
    done(&p);
    if (PARSE_OK(&p, init_model(t_int32("h", FLOAT16, h, 2, 1)))) EXPECT_TENSOR(&p, "h", DLOR_DT_F16, 1, d2, hv);
    done(&p);
    int64_t bf[2] = {0x3f80, 0xc000};
    if (PARSE_OK(&p, init_model(t_int32("bf", BFLOAT16, bf, 2, 0)))) EXPECT_TENSOR(&p, "bf", DLOR_DT_BF16, 1, d2, hv);
    done(&p);
    int64_t over[2] = {0x3c00, 0x10000};
    EXPECT_ERR(init_model(t_int32("h", FLOAT16, over, 2, 0)), DLOR_E_FORMAT,
               "initializer 'h': int32_data value 65536 at index 1 is out of range for FLOAT16", NULL);
    int64_t neg[1] = {-1};
    EXPECT_ERR(init_model(t_int32("h", FLOAT16, neg, 1, 0)), DLOR_E_FORMAT, "value -1", "FLOAT16");
    EXPECT_ERR(init_model(t_int32("bf", BFLOAT16, over, 2, 1)), DLOR_E_FORMAT, "out of range for BFLOAT16", NULL);

    /* small integer types and bool, with their ranges */
    int64_t i8[3] = {-128, 127, -1};
    if (PARSE_OK(&p, init_model(t_int32("i8", INT8, i8, 3, 0)))) {
        const dlor_tensor *t = find(&p, "i8");
        CHECK(t && t->dtype == DLOR_DT_I8 && (int8_t)t->data[0] == -128 && (int8_t)t->data[1] == 127 &&
              (int8_t)t->data[2] == -1, "int8 values");
    }
    done(&p);
    int64_t i8bad[1] = {128};
    EXPECT_ERR(init_model(t_int32("i8", INT8, i8bad, 1, 0)), DLOR_E_FORMAT, "out of range for INT8", "-128 to 127");
    int64_t u8bad[1] = {-1};
    EXPECT_ERR(init_model(t_int32("u8", UINT8, u8bad, 1, 0)), DLOR_E_FORMAT, "out of range for UINT8", NULL);
    int64_t b[3] = {1, 0, 1}, bbad[1] = {2};
    if (PARSE_OK(&p, init_model(t_int32("b", BOOL, b, 3, 1)))) {
        const dlor_tensor *t = find(&p, "b");
        CHECK(t && t->dtype == DLOR_DT_BOOL && t->data[0] == 1 && t->data[1] == 0 && t->data[2] == 1, "bool");
    }
    done(&p);
    EXPECT_ERR(init_model(t_int32("b", BOOL, bbad, 1, 0)), DLOR_E_FORMAT, "out of range for BOOL", NULL);
    int64_t i16[3] = {-32768, 32767, 5}, u16[3] = {0, 65535, 7};
    if (PARSE_OK(&p, init_model(t_int32("i16", INT16, i16, 3, 0)))) {
        const dlor_tensor *t = find(&p, "i16");
        CHECK(t && (int16_t)dlor_load_u16(t->data) == -32768 && dlor_load_u16(t->data + 2) == 32767, "int16");
    }
    done(&p);
    if (PARSE_OK(&p, init_model(t_int32("u16", UINT16, u16, 3, 0)))) {
        const dlor_tensor *t = find(&p, "u16");
        CHECK(t && t->dtype == DLOR_DT_U16 && dlor_load_u16(t->data + 2) == 65535, "uint16");
    }
    done(&p);
    int64_t i32[3] = {INT32_MIN, INT32_MAX, -7};
    if (PARSE_OK(&p, init_model(t_int32("i32", INT32, i32, 3, 1)))) {
        const dlor_tensor *t = find(&p, "i32");
        CHECK(t && (int32_t)dlor_load_u32(t->data) == INT32_MIN && (int32_t)dlor_load_u32(t->data + 8) == -7, "int32");
    }
    done(&p);
    int64_t notint32[1] = {0x80000000ll}; /* a positive varint above INT32_MAX */
    EXPECT_ERR(init_model(t_int32("i32", INT32, notint32, 1, 0)), DLOR_E_FORMAT, "2147483648", "not an int32");

    /* int64_data, uint64_data (UINT32 range-checked), double_data */
    buf t = {0};
    f_varint(&t, 1, 3);
    f_varint(&t, 2, INT64);
    f_str(&t, 8, "i64");
    f_varint(&t, 7, (uint64_t)INT64_MIN);
    f_varint(&t, 7, (uint64_t)-1);
    f_varint(&t, 7, 42);
    if (PARSE_OK(&p, init_model(t))) {
        const dlor_tensor *x = find(&p, "i64");
        CHECK(x && x->dtype == DLOR_DT_I64 && (int64_t)dlor_load_u64(x->data) == INT64_MIN &&
              (int64_t)dlor_load_u64(x->data + 8) == -1 && dlor_load_u64(x->data + 16) == 42, "int64");
    }
    done(&p);
    t = (buf){0};
    f_varint(&t, 1, 2);
    f_varint(&t, 2, UINT64);
    f_str(&t, 8, "u64");
    f_varint(&t, 11, UINT64_MAX);
    f_varint(&t, 11, 3);
    if (PARSE_OK(&p, init_model(t))) {
        const dlor_tensor *x = find(&p, "u64");
        CHECK(x && x->dtype == DLOR_DT_U64 && dlor_load_u64(x->data) == UINT64_MAX, "uint64");
    }
    done(&p);
    t = (buf){0};
    f_varint(&t, 1, 1);
    f_varint(&t, 2, UINT32);
    f_str(&t, 8, "u32");
    f_varint(&t, 11, 1ull << 32);
    EXPECT_ERR(init_model(t), DLOR_E_FORMAT, "uint64_data value 4294967296", "UINT32");
    t = (buf){0};
    unsigned char dd[24];
    const double dv[3] = {1.0 / 3.0, -1e300, 5e-324};
    for (int i = 0; i < 3; i++) {
        uint64_t bits;
        memcpy(&bits, &dv[i], 8);
        dlor_store_u64(dd + 8 * i, bits);
    }
    f_varint(&t, 1, 3);
    f_varint(&t, 2, DOUBLE);
    f_str(&t, 8, "f64");
    f_bytes(&t, 10, dd, 16);          /* packed: two values */
    tag(&t, 10, 1);                   /* unpacked: the third */
    dlt_put(&t, dd + 16, 8);
    if (PARSE_OK(&p, init_model(t))) EXPECT_TENSOR(&p, "f64", DLOR_DT_F64, 1, d3, dv);
    done(&p);

    /* raw_data for every dtype: data points into the buffer, no copy */
    static const struct { int ot; dlor_dtype dt; size_t es; } all[] = {
        {FLOAT, DLOR_DT_F32, 4}, {UINT8, DLOR_DT_U8, 1}, {INT8, DLOR_DT_I8, 1},
        {UINT16, DLOR_DT_U16, 2}, {INT16, DLOR_DT_I16, 2}, {INT32, DLOR_DT_I32, 4},
        {INT64, DLOR_DT_I64, 8}, {BOOL, DLOR_DT_BOOL, 1}, {FLOAT16, DLOR_DT_F16, 2},
        {DOUBLE, DLOR_DT_F64, 8}, {UINT32, DLOR_DT_U32, 4}, {UINT64, DLOR_DT_U64, 8},
        {BFLOAT16, DLOR_DT_BF16, 2}};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        unsigned char raw[24];
        int64_t dims[1] = {3};
        for (int j = 0; j < 24; j++) raw[j] = (unsigned char)(j * 7 + 1);
        if (all[i].ot == BOOL) raw[0] = raw[1] = raw[2] = 1;
        if (PARSE_OK(&p, init_model(tensor_raw("r", all[i].ot, 1, dims, raw, 3 * all[i].es)))) {
            const dlor_tensor *x = find(&p, "r");
            CHECK(x && x->dtype == all[i].dt && x->nbytes == 3 * all[i].es &&
                  memcmp(x->data, raw, x->nbytes) == 0, "raw dtype %d", all[i].ot);
            CHECK(x && x->data > p.m.b && x->data < p.m.b + p.m.n, "raw dtype %d: data not in buf", all[i].ot);
        }
        done(&p);
    }
}

/* ---- case 40: external data ----------------------------------------------------- */

/* An initializer "E" [2] FLOAT with external data entries given as
 * key, value pairs (NULL-ended); location set unless loc_flag is 0. */
static buf ext_model(int location_flag, ...)
{
    buf t = {0};
    va_list ap;
    f_varint(&t, 1, 2);
    f_varint(&t, 2, FLOAT);
    f_str(&t, 8, "E");
    va_start(ap, location_flag);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        buf e = {0};
        f_str(&e, 1, k);
        f_str(&e, 2, v);
        f_msg(&t, 13, &e);
    }
    va_end(ap);
    if (location_flag >= 0) f_varint(&t, 14, (uint64_t)location_flag);
    return init_model(t);
}

static void test_case40(void)
{
    char dir[512], sub[600], path[700], path2[700];
    unsigned char data[16];
    parsed p;
    uint64_t d2[1] = {2};
    dlt_tmp_path(dir, sizeof dir, "onnx_ext");
    mkdir(dir, 0755);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0755);
    le_f32(data, 9.0f);      /* 8 junk-free bytes at 0: [9, -1.5] */
    le_f32(data + 4, -1.5f);
    le_f32(data + 8, 0.25f); /* [0.25, 4] at offset 8 */
    le_f32(data + 12, 4.0f);
    snprintf(path, sizeof path, "%s/w.bin", dir);
    unlink(path);
    CHECK(dlt_write_file(path, data, 16) == 0, "write %s", path);
    snprintf(path, sizeof path, "%s/sub/w2.bin", dir);
    unlink(path);
    CHECK(dlt_write_file(path, data, 8) == 0, "write %s", path);

    const double v0[2] = {9.0, -1.5}, v8[2] = {0.25, 4.0};
    do_parse(&p, ext_model(1, "location", "w.bin", "offset", "8", "length", "8", "checksum", "x", NULL), dir);
    CHECK(p.s == DLOR_OK, "external at offset 8: %s", p.err.msg);
    if (!p.s) EXPECT_TENSOR(&p, "E", DLOR_DT_F32, 1, d2, v8);
    done(&p);
    do_parse(&p, ext_model(1, "location", "sub/w2.bin", NULL), dir);
    CHECK(p.s == DLOR_OK, "external in a subfolder, whole file: %s", p.err.msg);
    if (!p.s) EXPECT_TENSOR(&p, "E", DLOR_DT_F32, 1, d2, v0);
    done(&p);

    /* the model file read from its folder finds its data there */
    buf m = ext_model(1, "length", "8", "location", "w.bin", NULL);
    snprintf(path, sizeof path, "%s/m.onnx", dir);
    CHECK(dlt_write_file(path, m.b, m.n) == 0, "write model");
    free(m.b);
    dlor_tensor_list l;
    dlor_graph g;
    dlor_error err;
    char whyb[256];
    dlor_tensor_list_init(&l);
    dlor_graph_init(&g);
    CHECK(dlor_read_onnx(path, &l, &g, whyb, sizeof whyb, &err) == DLOR_OK, "read_onnx: %s", err.msg);
    const dlor_tensor *e = dlor_tensor_list_find(&l, "E");
    CHECK(e && e->nbytes == 8 && dlor_load_u32(e->data) == 0x41100000u, "read_onnx external value");
    dlor_tensor_list_free(&l);
    dlor_graph_free(&g);

    /* the in-memory parser without a folder refuses external data */
    EXPECT_ERR(ext_model(1, "location", "w.bin", NULL), DLOR_E_UNSUPPORTED,
               "initializer 'E': data is in an external file", NULL);

    /* locations that leave the folder or are not plain relative paths */
    EXPECT_ERR_DIR(ext_model(1, "location", "../../etc/passwd", NULL), dir, DLOR_E_FORMAT, "'..'", "passwd");
    EXPECT_ERR_DIR(ext_model(1, "location", "a/../../b", NULL), dir, DLOR_E_FORMAT, "contains '..'", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "sub/../w.bin", NULL), dir, DLOR_E_FORMAT, "contains '..'", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "/etc/passwd", NULL), dir, DLOR_E_FORMAT, "absolute path", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "C:\\x", NULL), dir, DLOR_E_FORMAT, "Windows path", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "C:x", NULL), dir, DLOR_E_FORMAT, "Windows path", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "sub\\w2.bin", NULL), dir, DLOR_E_FORMAT, "Windows path", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "", NULL), dir, DLOR_E_FORMAT, "location is empty", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "sub//w2.bin", NULL), dir, DLOR_E_FORMAT, "empty or '.' component", NULL);
    EXPECT_ERR_DIR(ext_model(1, "offset", "0", NULL), dir, DLOR_E_FORMAT, "has no location", NULL);
    {
        buf t = {0}, en = {0};
        f_varint(&t, 1, 2);
        f_varint(&t, 2, FLOAT);
        f_str(&t, 8, "E");
        f_str(&en, 1, "location");
        f_bytes(&en, 2, "w.bin\0.txt", 10);
        f_msg(&t, 13, &en);
        f_varint(&t, 14, 1);
        EXPECT_ERR_DIR(init_model(t), dir, DLOR_E_FORMAT, "NUL byte", NULL);
    }
    EXPECT_ERR_DIR(ext_model(1, "location", "missing.bin", NULL), dir, DLOR_E_IO, "missing.bin", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "sub", NULL), dir, DLOR_E_FORMAT, "not a regular file", NULL);

    /* a symbolic link (to a file inside the folder, even), a linked folder,
     * a hard link */
    snprintf(path, sizeof path, "%s/link.bin", dir);
    unlink(path);
    CHECK(symlink("w.bin", path) == 0, "symlink");
    EXPECT_ERR_DIR(ext_model(1, "location", "link.bin", NULL), dir, DLOR_E_FORMAT, "symbolic link", NULL);
    snprintf(path, sizeof path, "%s/linkdir", dir);
    unlink(path);
    CHECK(symlink("sub", path) == 0, "symlink dir");
    EXPECT_ERR_DIR(ext_model(1, "location", "linkdir/w2.bin", NULL), dir, DLOR_E_FORMAT,
                   "'linkdir' is a symbolic link", NULL);
    snprintf(path, sizeof path, "%s/w.bin", dir);
    snprintf(path2, sizeof path2, "%s/hard.bin", dir);
    unlink(path2);
    CHECK(link(path, path2) == 0, "hard link");
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", NULL), dir, DLOR_E_FORMAT, "2 hard links", NULL);
    unlink(path2);

    /* offset and length */
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "offset", "-1", NULL), dir, DLOR_E_FORMAT,
                   "offset '-1' is not a non-negative decimal integer", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "offset", "8x", NULL), dir, DLOR_E_FORMAT, "offset '8x'", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "offset", "", NULL), dir, DLOR_E_FORMAT, "offset ''", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "length", "+8", NULL), dir, DLOR_E_FORMAT, "length '+8'", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "length", "99999999999999999999999", NULL), dir,
                   DLOR_E_FORMAT, "length '9999", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "offset", "17", NULL), dir, DLOR_E_FORMAT,
                   "offset 17 is beyond the end of 'w.bin' (16 bytes)", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "offset", "12", "length", "8", NULL), dir, DLOR_E_FORMAT,
                   "runs past the end", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "offset", "18446744073709551615", "length", "8", NULL),
                   dir, DLOR_E_FORMAT, "beyond the end", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "length", "4", NULL), dir, DLOR_E_FORMAT,
                   "length 4, but the dims need 8 bytes", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", NULL), dir, DLOR_E_FORMAT, "length 16", NULL);
    /* keys */
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "basepath", "/", NULL), dir, DLOR_E_FORMAT,
                   "unknown external data key 'basepath'", NULL);
    EXPECT_ERR_DIR(ext_model(1, "location", "w.bin", "location", "w.bin", NULL), dir, DLOR_E_FORMAT,
                   "key 'location' appears twice", NULL);
    /* data_location inconsistent with the fields */
    EXPECT_ERR_DIR(ext_model(0, "location", "w.bin", NULL), dir, DLOR_E_FORMAT,
                   "data_location is not EXTERNAL", NULL);
    EXPECT_ERR_DIR(ext_model(2, "location", "w.bin", NULL), dir, DLOR_E_FORMAT, "data_location 2", NULL);
    {
        buf t = {0}, en = {0};
        f_varint(&t, 1, 2);
        f_varint(&t, 2, FLOAT);
        f_str(&t, 8, "E");
        f_bytes(&t, 9, data, 8);
        f_str(&en, 1, "location");
        f_str(&en, 2, "w.bin");
        f_msg(&t, 13, &en);
        f_varint(&t, 14, 1);
        EXPECT_ERR_DIR(init_model(t), dir, DLOR_E_FORMAT, "external data and raw_data are both set", NULL);
    }
}

/* ---- case 41: graph structure --------------------------------------------------- */

static void test_case41(void)
{
    static const gcase cases[] = {
        GCASE("in 2; w1 W; w1 W", 17, ERR, "initializer 'W' appears twice", NULL, DLOR_E_FORMAT),
        /* a node output redefining an initializer, an input, another output */
        GCASE("in 2; w1 W1 b1; Gemm fc x,W1,b1 > h transB=1; Relu bad h > W1; Relu r h > y", 17, ERR,
              "node 'bad' (Relu) redefines", "assigned once", DLOR_E_FORMAT),
        GCASE("in 2; w1 W1 b1; Gemm fc x,W1,b1 > h transB=1; Relu bad h > x; Relu r h > y", 17, ERR,
              "node 'bad' (Relu) redefines", "assigned once", DLOR_E_FORMAT),
        GCASE("in 2; w1 W1 b1; Gemm fc x,W1,b1 > h transB=1; Relu bad h > h; Relu r h > y", 17, ERR,
              "node 'bad' (Relu) redefines", "assigned once", DLOR_E_FORMAT),
        /* out of topological order, a cycle, a self-loop, an undefined name */
        GCASE("in 2; Relu second a > y; Relu first x > a", 17, ERR, "node 'second' (Relu) uses 'a'",
              "topological order", DLOR_E_FORMAT),
        GCASE("in 2; Add p x,q > p; Add q x,p > q", 17, ERR, "node 'p' (Add) uses 'q'", "not defined before it",
              DLOR_E_FORMAT),
        GCASE("in 2; Relu - y > y", 17, ERR, "node #0 (Relu) uses 'y'", NULL, DLOR_E_FORMAT),
        GCASE("in 2; Relu n nowhere > y", 17, ERR, "uses 'nowhere'", NULL, DLOR_E_FORMAT),
        GCASE("in 2 out out; Relu n x > y", 17, ERR, "graph output 'out' is not defined", NULL, DLOR_E_FORMAT),
        GCASE("in 2; input x", 17, ERR, "graph input 'x' is listed twice", NULL, DLOR_E_FORMAT),
        /* an empty node output name is an omitted optional output, not a clash */
        GCASE("in 2; w1 W1; Gemm fc x,W1, > y, transB=1", 17, OPS, "L:W1:-", NULL, DLOR_OK),
    };
    expect_graphs(cases, sizeof cases / sizeof cases[0]);
    /* sparse initializers */
    buf g = gspec("in 2"), sp = {0};
    f_str(&sp, 1, "whatever");
    f_msg(&g, 15, &sp);
    EXPECT_ERR(model(&g, 17), DLOR_E_UNSUPPORTED, "sparse initializers", NULL);
}

/* ---- case 42: graphs that are well formed but not runnable ---------------------- */

static void test_case42(void)
{
    static const gcase cases[] = {
        /* K of the first layer against the input's declared shape, K between two layers */
        GCASE("in 4; w1 W1; Gemm fc x,W1 > y transB=1", 17, WHY, "node 'fc' (Gemm): weight 'W1' [3, 2] takes 2 inputs",
              "previous layer gives 4", DLOR_OK),
        GCASE("in 0; w1 W1; w1 W2; Gemm fc1 x,W1 > h transB=1; Gemm fc2 h,W2 > y transB=1", 17, WHY,
              "node 'fc2' (Gemm)", "takes 2 inputs but the previous layer gives 3", DLOR_OK),
        /* transB = 2, transA = 1, alpha as an INT */
        GCASE("in 2; w1 W1; Gemm fc x,W1 > y transB=2", 17, WHY, "node 'fc': Gemm transB = 2 (expected 0 or 1)", NULL,
              DLOR_OK),
        GCASE("in 2; w1 W1; Gemm fc x,W1 > y transA=1", 17, WHY, "transA = 1 is not supported", NULL, DLOR_OK),
        GCASE("in 2; w1 W1; Gemm fc x,W1 > y alpha=2", 17, WHY,
              "node 'fc': attribute 'alpha' has type INT, expected FLOAT", NULL, DLOR_OK),
        /* an operator domain other than the default */
        GCASE("in 2; w1 W1; FusedGemm fused x,W1 > y @com.microsoft", 17, WHY,
              "node 'fused': operator FusedGemm of domain 'com.microsoft'", NULL, DLOR_OK),
        /* opset imports */
        GCASE(MLP_SPEC, 99, WHY, "opset 99", "1 to 24", DLOR_OK),
        GCASE(MLP_SPEC, 0, WHY, "opset 0", NULL, DLOR_OK),
        GCASE(MLP_SPEC, -1, WHY, "imports no opset of the default ONNX domain", NULL, DLOR_OK),
    };
    expect_graphs(cases, sizeof cases / sizeof cases[0]);
    buf mg = mlp_graph();
    buf m = model(&mg, 17), o = {0};
    f_str(&o, 1, "ai.onnx");
    f_varint(&o, 2, 13);
    f_msg(&m, 8, &o);
    EXPECT_WHY(m, "two different opsets", NULL);
    /* another domain imported but unused is fine; "ai.onnx" is the default */
    parsed p;
    mg = mlp_graph();
    m = model(&mg, 17);
    o = (buf){0};
    f_str(&o, 1, "ai.onnx.ml");
    f_varint(&o, 2, 3);
    f_msg(&m, 8, &o);
    if (PARSE_OK(&p, m)) EXPECT_OPS(&p, "L:W1:b1 A:relu L:W2:b2");
    done(&p);
    /* tensors are still returned when the graph is not runnable */
    buf g = gspec("in 2; w1 W1 b1; Conv Conv_3 x,W1,b1 > y");
    if (PARSE_OK(&p, model(&g, 17))) {
        CHECK(p.g.count == 0 && strcmp(p.why, "node 'Conv_3': operator Conv is not supported") == 0,
              "why: '%s'", p.why);
        CHECK(p.l.count == 2 && find(&p, "W1") && find(&p, "b1"), "tensors kept: %zu", p.l.count);
        uint64_t d[2] = {3, 2};
        double v[6];
        for (int i = 0; i < 6; i++) v[i] = W1[i];
        EXPECT_TENSOR(&p, "W1", DLOR_DT_F32, 2, d, v);
    }
    done(&p);
}

/* ---- graph recovery -------------------------------------------------------------- */

static void test_mlp(void)
{
    parsed p;
    if (PARSE_OK(&p, mlp())) {
        EXPECT_OPS(&p, "L:W1:b1 A:relu L:W2:b2");
        CHECK(p.l.count == 4, "4 tensors, got %zu", p.l.count);
        const dlor_tensor *w = find(&p, "W1");
        CHECK(w && w->data > p.m.b && w->data < p.m.b + p.m.n, "W1 points into the buffer");
        uint64_t in = 0, out = 0;
        dlor_error err;
        CHECK(dlor_graph_check(&p.g, &p.l, WHAT, &in, &out, &err) == DLOR_OK && in == 2 && out == 2,
              "graph_check: %s", err.msg);
    }
    done(&p);
    /* no graph asked for: tensors only */
    dlor_tensor_list l;
    dlor_error err;
    char why[128];
    buf m = mlp();
    dlor_tensor_list_init(&l);
    CHECK(dlor_onnx_parse(m.b, m.n, WHAT, NULL, &l, NULL, why, sizeof why, &err) == DLOR_OK && l.count == 4,
          "graph NULL");
    dlor_tensor_list_free(&l);
    /* why may be NULL */
    dlor_graph g;
    dlor_graph_init(&g);
    dlor_tensor_list_init(&l);
    CHECK(dlor_onnx_parse(m.b, m.n, WHAT, NULL, &l, &g, NULL, 0, &err) == DLOR_OK && g.count == 3, "why NULL");
    dlor_graph_free(&g);
    dlor_tensor_list_free(&l);
    free(m.b);
    /* two graph fields are merged (protobuf semantics) */
    buf g1 = mlp_graph(), g2 = {0};
    f_str(&g2, 2, "second");
    m = model(&g1, 17);
    f_msg(&m, 7, &g2);
    if (PARSE_OK(&p, m)) EXPECT_OPS(&p, "L:W1:b1 A:relu L:W2:b2");
    done(&p);
}

static void test_gemm_normalise(void)
{
    /* Gemm with B [K, N] (transB = 0), alpha 2, beta 0.5: W becomes 2 B^T
     * and the bias 0.5 C, under the initializers' names */
    parsed p;
    buf g = graph_io(2, NULL);
    buf al = attr_f("alpha", 2.0f), be = attr_f("beta", 0.5f);
    int64_t db[2] = {2, 3}, dc[1] = {3}; /* B [K = 2, N = 3] */
    add_init(&g, tf32("B", 2, db, W2));
    add_init(&g, tf32("C", 1, dc, B1));
    add_node(&g, node("gemm", "Gemm", "x,B,C", "y", &al, &be, NULL));
    if (PARSE_OK(&p, model(&g, 17))) {
        EXPECT_OPS(&p, "L:B:C");
        uint64_t dw[2] = {3, 2}, dcv[1] = {3};
        double w[6], c[3];
        for (int n = 0; n < 3; n++)
            for (int k = 0; k < 2; k++) w[n * 2 + k] = (double)(float)(2.0 * W2[k * 3 + n]);
        for (int i = 0; i < 3; i++) c[i] = (double)(float)(0.5 * B1[i]);
        EXPECT_TENSOR(&p, "B", DLOR_DT_F32, 2, dw, w);
        EXPECT_TENSOR(&p, "C", DLOR_DT_F32, 1, dcv, c);
        CHECK(p.l.count == 2, "replaced in place: %zu tensors", p.l.count);
    }
    done(&p);

    /* transB = 0, alpha 1: transposed, dtype kept (f16 stays f16) */
    g = graph_io(2, NULL);
    unsigned char raw[12];
    for (int i = 0; i < 6; i++) dlor_store_u16(raw + 2 * i, dlor_f32_to_f16(W2[i]));
    add_init(&g, tensor_raw("H", FLOAT16, 2, db, raw, 12));
    add_node(&g, node("gemm", "Gemm", "x,H", "y", NULL));
    if (PARSE_OK(&p, model(&g, 17))) {
        EXPECT_OPS(&p, "L:H:-");
        uint64_t dw[2] = {3, 2};
        double w[6];
        for (int n = 0; n < 3; n++)
            for (int k = 0; k < 2; k++) w[n * 2 + k] = W2[k * 3 + n];
        EXPECT_TENSOR(&p, "H", DLOR_DT_F16, 2, dw, w);
    }
    done(&p);

    /* C broadcast: one element (scaled by beta), [1, N] (reshaped, same bytes) */
    static const float one[1] = {3.0f};
    int64_t d1[1] = {1}, d1n[2] = {1, 3};
    buf tb = attr_i("transB", 1);
    be = attr_f("beta", -1.0f);
    g = graph_io(2, NULL);
    add_w1(&g, "W1", NULL);
    add_init(&g, tf32("c1", 1, d1, one));
    add_node(&g, node("gemm", "Gemm", "x,W1,c1", "y", &tb, &be, NULL));
    if (PARSE_OK(&p, model(&g, 17))) {
        EXPECT_OPS(&p, "L:W1:c1");
        uint64_t d3[1] = {3};
        const double c[3] = {-3, -3, -3};
        EXPECT_TENSOR(&p, "c1", DLOR_DT_F32, 1, d3, c);
    }
    done(&p);
    tb = attr_i("transB", 1);
    g = graph_io(2, NULL);
    add_w1(&g, "W1", NULL);
    add_init(&g, tf32("c13", 2, d1n, B1));
    add_node(&g, node("gemm", "Gemm", "x,W1,c13", "y", &tb, NULL));
    if (PARSE_OK(&p, model(&g, 17))) {
        EXPECT_OPS(&p, "L:W1:c13");
        uint64_t d3[1] = {3};
        const double c[3] = {B1[0], B1[1], B1[2]};
        EXPECT_TENSOR(&p, "c13", DLOR_DT_F32, 1, d3, c);
        const dlor_tensor *t = find(&p, "c13");
        CHECK(t && t->data > p.m.b && t->data < p.m.b + p.m.n, "[1, N] bias keeps its bytes");
    }
    done(&p);
    /* C of shape [2, 3] depends on the batch: not a bias */
    int64_t d23[2] = {2, 3};
    float c6[6] = {0};
    tb = attr_i("transB", 1);
    g = graph_io(2, NULL);
    add_w1(&g, "W1", NULL);
    add_init(&g, tf32("cM", 2, d23, c6));
    add_node(&g, node("gemm", "Gemm", "x,W1,cM", "y", &tb, NULL));
    EXPECT_WHY(model(&g, 17), "bias 'cM' of shape [2, 3] does not broadcast to [batch, 3]", NULL);
}

static void test_matmul(void)
{
    parsed p;
    /* x @ W [2, 3] + b, with Add's operands both ways round */
    for (int order = 0; order < 2; order++) {
        buf g = graph_io(2, NULL);
        int64_t dw[2] = {2, 3}, db[1] = {3};
        add_init(&g, tf32("W", 2, dw, W2));
        add_init(&g, tf32("b", 1, db, B1));
        add_node(&g, node("mm", "MatMul", "x,W", "m", NULL));
        add_node(&g, node("add", "Add", order ? "b,m" : "m,b", "y", NULL));
        if (PARSE_OK(&p, model(&g, 17))) {
            EXPECT_OPS(&p, "L:W:b");
            uint64_t dt[2] = {3, 2};
            double w[6];
            for (int n = 0; n < 3; n++)
                for (int k = 0; k < 2; k++) w[n * 2 + k] = W2[k * 3 + n];
            EXPECT_TENSOR(&p, "W", DLOR_DT_F32, 2, dt, w);
            CHECK(p.l.count == 2, "W replaced in place");
        }
        done(&p);
    }
    /* MatMul alone; MatMul then Add of a non-initializer; W @ x; Add alone */
    static const gcase cases[] = {
        GCASE("in 2; f32 W W2 2,3; MatMul mm x,W > m; Relu r m > y", 17, OPS, "L:W:- A:relu", NULL, DLOR_OK),
        GCASE("in 2; f32 W W2 2,3; MatMul mm x,W > m; Add add m,m > y", 17, WHY, "value 'm' feeds two nodes", NULL,
              DLOR_OK),
        GCASE("in 2; f32 W W2 2,3; MatMul mm W,x > y", 17, WHY,
              "node 'mm': MatMul multiplies the chain's value from the right", NULL, DLOR_OK),
        GCASE("in 2; Add add x,x > y", 17, WHY, "value 'x' feeds two nodes", NULL, DLOR_OK),
        GCASE("in 3; f32 b B1 3; Add add x,b > y", 17, WHY, "node 'add': Add is supported right after MatMul",
              NULL, DLOR_OK),
        /* a weight that is also the graph output stays as it is */
        GCASE("in 3; output T; f32 T SQ 3,3; MatMul mm1 x,T > y", 17, WHY, "2 outputs", NULL, DLOR_OK),
    };
    expect_graphs(cases, sizeof cases / sizeof cases[0]);

    /* tied weights: one initializer used by two MatMuls the same way is
     * replaced; used two ways, it stays and the copy gets a suffix */
    buf g = gspec("in 3; f32 T SQ 3,3; MatMul mm1 x,T > h; MatMul mm2 h,T > y");
    if (PARSE_OK(&p, model(&g, 17))) {
        EXPECT_OPS(&p, "L:T:- L:T:-");
        uint64_t d[2] = {3, 3};
        const double tt[9] = {1, 4, 7, 2, 5, 8, 3, 6, 9};
        EXPECT_TENSOR(&p, "T", DLOR_DT_F32, 2, d, tt);
        CHECK(p.l.count == 1, "one tensor");
    }
    done(&p);
    /* the first suffix is taken */
    g = gspec("in 3; f32 T SQ 3,3; f32 T.dlor1 B1 3; MatMul mm1 x,T > h; Gemm g2 h,T,T.dlor1 > y transB=1");
    if (PARSE_OK(&p, model(&g, 17))) {
        EXPECT_OPS(&p, "L:T.dlor2:- L:T:T.dlor1");
        uint64_t d[2] = {3, 3};
        const double orig[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, tt[9] = {1, 4, 7, 2, 5, 8, 3, 6, 9};
        EXPECT_TENSOR(&p, "T", DLOR_DT_F32, 2, d, orig);
        EXPECT_TENSOR(&p, "T.dlor2", DLOR_DT_F32, 2, d, tt);
        CHECK(p.l.count == 3 && strcmp(p.l.items[2].name, "T.dlor2") == 0, "copy added last");
    }
    done(&p);
}

static void test_activations(void)
{
#define FC "in 2; w1 W; Gemm fc x,W > h transB=1; "
#define FCB "in 2; w1 W b; Gemm fc x,W,b > h transB=1; "
    static const gcase cases[] = {
        GCASE(FCB "Relu a h > y", 17, OPS, "L:W:b A:relu", NULL, DLOR_OK),
        GCASE(FCB "Sigmoid a h > y", 17, OPS, "L:W:b A:sigmoid", NULL, DLOR_OK),
        GCASE(FCB "Tanh a h > y", 17, OPS, "L:W:b A:tanh", NULL, DLOR_OK),
        GCASE(FCB "Softplus a h > y", 17, OPS, "L:W:b A:softplus", NULL, DLOR_OK),
        /* Gelu (opset 20): none, tanh, bad value, too old an opset */
        GCASE(FC "Gelu ge h > y", 20, OPS, "L:W:- A:gelu", NULL, DLOR_OK),
        GCASE(FC "Gelu ge h > y approximate='none'", 20, OPS, "L:W:- A:gelu", NULL, DLOR_OK),
        GCASE(FC "Gelu ge h > y approximate='tanh'", 20, OPS, "L:W:- A:gelu_tanh", NULL, DLOR_OK),
        GCASE(FC "Gelu ge h > y approximate='fast'", 20, WHY, "approximate = 'fast'", NULL, DLOR_OK),
        GCASE(FC "Gelu ge h > y", 17, WHY, "node 'ge': Gelu needs opset 20", NULL, DLOR_OK),
        /* an attribute an op does not have */
        GCASE(FC "Relu r h > y consumed_inputs=0", 17, WHY,
              "node 'r': Relu attribute 'consumed_inputs' is not supported", NULL, DLOR_OK),
        /* Softmax: default and explicit axes; axis 0 refused */
        GCASE(FCB "Softmax sm h > y", 13, OPS, "L:W:b S", NULL, DLOR_OK),
        GCASE(FCB "Softmax sm h > y axis=-1", 13, OPS, "L:W:b S", NULL, DLOR_OK),
        GCASE(FCB "Softmax sm h > y axis=1", 13, OPS, "L:W:b S", NULL, DLOR_OK),
        GCASE(FCB "Softmax sm h > y axis=0", 13, WHY, "node 'sm': Softmax over axis 0", NULL, DLOR_OK),
    };
    expect_graphs(cases, sizeof cases / sizeof cases[0]);
    /* LeakyRelu: default slope and a given one */
    parsed p;
    for (int given = 0; given < 2; given++) {
        buf g = gspec(given ? FC "LeakyRelu l h > y alpha=0.2" : FC "LeakyRelu l h > y");
        if (PARSE_OK(&p, model(&g, 17))) {
            EXPECT_OPS(&p, "L:W:- A:leaky_relu");
            CHECK(p.g.count == 2 && p.g.ops[1].param == (given ? (double)0.2f : (double)0.01f),
                  "leaky slope %.9g", p.g.count == 2 ? p.g.ops[1].param : -1);
        }
        done(&p);
    }
}

/* x -> [pattern] -> y with the first layer before it */
static void test_patterns(void)
{
#define GELU_INITS "scalar sqrt2 1.4142135; scalar one 1.0; scalar half 0.5; "
#define GELU_CONSTANTS                                                                               \
    "Constant k1 - > sqrt2 value=#f:1.4142135; Constant k2 - > one value=#f:1.0; Constant k3 - > half " \
    "value=#f:0.5; "
#define GELU "Div div h,sqrt2 > d; Erf erf d > e; Add add e,one > a; Mul mul h,a > m; Mul mul2 m,half > y"
#define GELU_SWAPPED "Div div h,sqrt2 > d; Erf erf d > e; Add add one,e > a; Mul mul a,h > m; Mul mul2 half,m > y"
    static const gcase cases[] = {
        /* SiLU: Sigmoid(h) and Mul, operands both ways */
        GCASE(FC "Sigmoid s h > s; Mul m h,s > y", 17, OPS, "L:W:- A:silu", NULL, DLOR_OK),
        GCASE(FC "Sigmoid s h > s; Mul m s,h > y", 17, OPS, "L:W:- A:silu", NULL, DLOR_OK),
        /* the exported GELU: Div(h, sqrt2) -> Erf -> Add 1 -> Mul h -> Mul 0.5, constants
         * from Constant nodes or initializers, operands in any order */
        GCASE(FC GELU_INITS GELU, 17, OPS, "L:W:- A:gelu", NULL, DLOR_OK),
        GCASE(FC GELU_CONSTANTS GELU, 17, OPS, "L:W:- A:gelu", NULL, DLOR_OK),
        GCASE(FC GELU_INITS GELU_SWAPPED, 17, OPS, "L:W:- A:gelu", NULL, DLOR_OK),
        GCASE(FC GELU_CONSTANTS GELU_SWAPPED, 17, OPS, "L:W:- A:gelu", NULL, DLOR_OK),
        /* the half first: Mul(h, 0.5) then Mul(., 1 + erf) */
        GCASE(FC "Constant k1 - > sqrt2 value_float=1.41421356; Constant k2 - > one value_float=1.0; "
                 "Constant k3 - > half value_float=0.5; Mul hm h,half > hh; Div div h,sqrt2 > d; Erf erf d > e; "
                 "Add add e,one > a; Mul mul hh,a > y",
              17, OPS, "L:W:- A:gelu", NULL, DLOR_OK),
        /* a wrong constant (Div by 2) is not GELU */
        GCASE("in 2; w1 W; scalar two 2.0; scalar one 1.0; scalar half 0.5; Gemm fc x,W > h transB=1; "
              "Div div h,two > d; Erf erf d > e; Add add e,one > a; Mul mul h,a > m; Mul mul2 m,half > y",
              17, WHY, "value 'h' feeds two nodes ('div' Div and 'mul' Mul)", "not the GELU, SiLU or LayerNorm pattern", DLOR_OK),
        /* three consumers */
        GCASE("in 2; Relu a x > a; Relu b x > b; Sum c x,a,b > y", 17, WHY, "value 'x' feeds 3 node inputs", NULL,
              DLOR_OK),
    };
    expect_graphs(cases, sizeof cases / sizeof cases[0]);
#undef GELU_INITS
#undef GELU_CONSTANTS
#undef GELU
#undef GELU_SWAPPED
}

static void test_noops(void)
{
    static const gcase cases[] = {
        /* Flatten, Identity, Reshape with a Constant shape [-1, F] and an initializer shape [0, F] */
        GCASE("in 2; w1 W1 b1; w2 W2 b2; i64 shape_i 0,3; Flatten fl x > f; Gemm fc1 f,W1,b1 > h transB=1; "
              "Constant k - > sc value=#i:-1,3; Reshape rs h,sc > h2; Identity id h2 > h3; "
              "Reshape rs2 h3,shape_i > h4; Gemm fc2 h4,W2,b2 > y transB=1",
              17, OPS, "L:W1:b1 L:W2:b2", NULL, DLOR_OK),
        /* Flatten of a [N, 1, 2] input keeps the 2 features; axis 2 does not */
        GCASE("in 1,2; w1 W1; Flatten fl x > f axis=1; Gemm fc1 f,W1 > y transB=1", 17, OPS, "L:W1:-", NULL,
              DLOR_OK),
        GCASE("in 1,2; w1 W1; Flatten fl x > f axis=2; Gemm fc1 f,W1 > y transB=1", 17, WHY,
              "node 'fl': Flatten with axis 2", NULL, DLOR_OK),
        /* a rank-3 input needs the Flatten */
        GCASE("in 1,2; w1 W1; Gemm fc1 x,W1 > y transB=1", 17, WHY, "its input has rank 3", NULL, DLOR_OK),
        /* Reshape changing the features, to 3-D, with a non-constant shape */
        GCASE("in 2; w1 W1; i64 shape -1,6; Gemm fc1 x,W1 > h transB=1; Reshape rs h,shape > y", 17, WHY,
              "node 'rs': Reshape to [-1, 6] changes the 3 features", NULL, DLOR_OK),
        GCASE("in 2; i64 shape -1,1,2; Reshape rs x,shape > y", 17, WHY,
              "shape must be a constant INT64 vector of 2 values", NULL, DLOR_OK),
        GCASE("in 2; Shape sh x > s; Reshape rs x,s > y", 17, WHY, "value 'x' feeds two nodes", NULL, DLOR_OK),
        /* a node off the chain, an unused value, several inputs, no layer */
        GCASE("in 2; w1 W1; Gemm fc1 x,W1 > y transB=1; Relu stray W1 > z", 17, WHY,
              "node 'stray' (Relu) is not on the chain", NULL, DLOR_OK),
        GCASE("in 2; Relu r x > r; Tanh t x2 > y", 17, ERR, "uses 'x2'", NULL, DLOR_E_FORMAT),
        GCASE("in 2; input x2; Relu r x > y", 17, WHY, "the model has 2 inputs", NULL, DLOR_OK),
        GCASE("in 2; Relu r x > y", 17, WHY, "no Gemm or MatMul layer", NULL, DLOR_OK),
        GCASE("in 2; w1 W1; Gemm fc1 x,W1 > h transB=1; Relu r x > y", 17, WHY, "value 'x' feeds two nodes", NULL,
              DLOR_OK),
        GCASE("in 2; w1 W1; Gemm fc1 x,W1 > h transB=1; Relu r x > unused; Relu r2 h > y; Relu r3 unused > y2", 17,
              WHY, "value 'x' feeds two nodes", NULL, DLOR_OK),
        /* an initializer that is also a graph input is not a data input */
        GCASE("in 2; input W1; w1 W1; Gemm fc1 x,W1 > y transB=1", 17, OPS, "L:W1:-", NULL, DLOR_OK),
        /* a weight that is not an initializer, or not float */
        GCASE("in 2; Relu r x > r; Gemm fc1 r,r > y transB=1", 17, WHY, "value 'r' feeds two nodes", NULL, DLOR_OK),
        GCASE("in 2; i64 Wi 1,2,3,4,5,6 3,2; Gemm fc1 x,Wi > y transB=1", 17, WHY,
              "weight 'Wi' (i64 [3, 2]) is not a non-empty 2-D float tensor", NULL, DLOR_OK),
    };
    expect_graphs(cases, sizeof cases / sizeof cases[0]);
}
#undef FC
#undef FCB

int main(void)
{
    test_pb_varint();
    test_pb_fields();
    test_pb_nesting_and_packed();
    test_case34();
    test_case35();
    test_case36();
    test_case37();
    test_case38();
    test_case39();
    test_case40();
    test_case41();
    test_case42();
    test_mlp();
    test_gemm_normalise();
    test_matmul();
    test_activations();
    test_patterns();
    test_noops();
    return dlt_finish();
}
