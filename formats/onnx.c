/* onnx.c - reader for ONNX models (ModelProto; formats.md §3).
 *
 * The file is decoded in one pass over the protobuf wire format (protobuf.c):
 * opset imports, the graph's nodes (with their attributes), initializers
 * (decoded to tensors at once), inputs and outputs. Attribute subgraphs are
 * walked only to check their wire format and nesting depth.
 *
 * Then the graph's structure is checked (IR.md): unique initializer names,
 * every node input defined earlier (topological order, no cycles), every
 * value defined once (SSA). Violations are errors.
 *
 * Finally the graph is recovered when it is a chain dlor can run. The chain
 * is followed from the single data input through the consumers of each
 * value: Gemm, MatMul (+ Add), the activations, Softmax, no-op Flatten /
 * Identity / Reshape, and the SiLU and exported-GELU patterns (constants
 * within 1e-3 relative). Weights and biases must be initializers; Constant
 * nodes serve only as Reshape shapes and pattern constants. Nodes must be
 * in the default domain ("" or "ai.onnx"), whose opset must be 1 to 24.
 * When the graph input's shape is declared, its rank and feature count are
 * checked against the layers; otherwise the input is taken to be
 * [batch, features]. When recovery fails the graph stays empty and 'why'
 * says which node stopped it; the tensors are returned as in the file.
 *
 * Normalisation and tensor names: when the graph is recovered, weights the
 * runtime cannot use as stored are replaced by a normalised copy: MatMul
 * weights and Gemm weights with transB = 0 are transposed to [out, in];
 * Gemm's alpha and beta are multiplied into W and C; a [1, N] bias becomes
 * [N] and a one-element bias is broadcast to [N]. The copy keeps the
 * initializer's name and takes its place in the list when every use of the
 * initializer goes through that same copy. Otherwise (tied weights used two
 * ways, a weight also used elsewhere, an initializer that is a graph input
 * or output) the original stays and the copy is added after the
 * initializers as "<name>.dlor<k>" with the smallest k >= 1 that is not
 * already a tensor name. A transposed copy keeps the dtype; a scaled or
 * broadcast copy is F64 for an F64 source and F32 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlor_fileio.h"
#include "dlor_protobuf.h"
#include "dlor_readers.h"

/* Newest default-domain opset whose operator definitions dlor was checked
 * against (onnx 1.19). */
#define OX_MAX_OPSET 24
/* Not limits of the format: they bound the memory a hostile file can claim
 * with tiny records (an empty node is 2 bytes). */
#define OX_MAX_NODES (1u << 21)
#define OX_MAX_REFS (1u << 23)
#define OX_MAX_ATTRS (1u << 22)
#define OX_MAX_IO (1u << 16)
#define OX_MAX_LOCATION 4096

/* ONNX TensorProto.DataType codes. */
enum {
    OT_UNDEFINED = 0, OT_FLOAT = 1, OT_UINT8 = 2, OT_INT8 = 3, OT_UINT16 = 4, OT_INT16 = 5,
    OT_INT32 = 6, OT_INT64 = 7, OT_STRING = 8, OT_BOOL = 9, OT_FLOAT16 = 10, OT_DOUBLE = 11,
    OT_UINT32 = 12, OT_UINT64 = 13, OT_BFLOAT16 = 16
};

static const char *const onnx_type_names[] = {
    "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
    "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
    "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4",
    "FLOAT4E2M1", "FLOAT8E8M0", "UINT2", "INT2"};

/* AttributeProto.AttributeType codes used here. */
enum { AT_FLOAT = 1, AT_INT = 2, AT_STRING = 3, AT_TENSOR = 4, AT_FLOATS = 6, AT_INTS = 7 };
static const char *const attr_type_names[] = {
    "UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH", "FLOATS", "INTS", "STRINGS",
    "TENSORS", "GRAPHS", "SPARSE_TENSOR", "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};

/* TensorProto fields holding values, in the order of the 'typed' slots. */
enum { TF_FLOAT, TF_INT32, TF_STRING, TF_INT64, TF_DOUBLE, TF_UINT64, TF_COUNT };
static const uint32_t tf_field[TF_COUNT] = {4, 5, 6, 7, 10, 11};
static const int tf_wt[TF_COUNT] = {DLOR_PB_I32, DLOR_PB_VARINT, DLOR_PB_LEN, DLOR_PB_VARINT,
                                    DLOR_PB_I64, DLOR_PB_VARINT};
static const char *const tf_name[TF_COUNT] = {"float_data", "int32_data", "string_data",
                                              "int64_data", "double_data", "uint64_data"};

typedef struct { const unsigned char *p; size_t n; } ox_str;

typedef struct ox_vec { void *p; size_t n, cap; } ox_vec;

typedef struct ox_tensor {
    ox_str name;
    dlor_dtype dt;
    int ndim;
    uint64_t dims[DLOR_MAX_NDIM];
    uint64_t nelem;
    const unsigned char *data;
    size_t nbytes;
} ox_tensor;

typedef struct ox_attr {
    ox_str name, s;
    int64_t type, i;
    float f;
    int has_f, has_i, has_s, has_t, has_floats, has_ints, has_other, has_ref;
    dlor_pb msg;  /* the AttributeProto itself */
    dlor_pb t;    /* its TensorProto (has_t) */
} ox_attr;

typedef struct ox_node {
    ox_str name, op, domain;
    size_t in0, nin, out0, nout, attr0, nattr;
    long cidx;    /* Constant: index into consts, or -1 */
    int visited;
} ox_node;

typedef struct ox_input { ox_str name; int rank; uint64_t feat; } ox_input;

typedef struct ox_value {
    ox_str name;
    long init, input, node;    /* definitions, -1 when not */
    uint32_t nuse, use0, filled;
    int is_output;
} ox_value;

/* A normalised copy of an initializer (see the top comment). */
enum { D_TRANSPOSE = 1, D_SCALE = 2, D_RESHAPE = 4, D_BCAST = 8 };
typedef struct ox_der {
    long src;
    int kind;
    double scale;
    uint64_t n;
    dlor_dtype dt;
    int ndim;
    uint64_t dims[DLOR_MAX_NDIM];
    const unsigned char *data;
    size_t nbytes;
    void *block;
    char *name;
    uint32_t uses;
    int replaces;
    size_t item;
    long next;    /* previous copy of the same initializer, or -1 */
} ox_der;

/* Tensor references in recovered ops: >= 0 initializer, <= -2 derived
 * (-2 - index), -1 none. */
#define REF_NONE (-1L)
#define REF_DER(i) (-2L - (long)(i))
typedef struct ox_op { dlor_op_kind kind; long w, b; dlor_act act; double param; } ox_op;

typedef struct ox_walk { long cur; int rank; uint64_t feat; } ox_walk;

typedef struct ox_ctx {
    const char *what, *model_dir;
    dlor_error *err;
    dlor_tensor_list *out;
    char *why;
    size_t why_len;
    int64_t opset;
    int opset_seen, opset_conflict, ngraphs;
    ox_vec inits, consts, nodes, ins, outs, attrs, ginputs, goutputs;
    long *in_vals, *out_vals;
    ox_vec vals;
    uint32_t *hash;
    size_t hash_cap;
    uint32_t *uses;
    ox_vec ders, ops;
    long *der_head;        /* per initializer: its latest copy, or -1 */
    uint32_t *der_count;   /* per initializer: number of copies */
    uint32_t *dhash;       /* names of the copies added under a suffix */
    size_t dhash_cap;
    char show[8][96];
    unsigned showi;
} ox_ctx;

#define INIT(c, i) (((ox_tensor *)(c)->inits.p)[i])
#define CONSTT(c, i) (((ox_tensor *)(c)->consts.p)[i])
#define NODE(c, i) (((ox_node *)(c)->nodes.p)[i])
#define INS(c, i) (((ox_str *)(c)->ins.p)[i])
#define OUTS(c, i) (((ox_str *)(c)->outs.p)[i])
#define ATTR(c, i) (((ox_attr *)(c)->attrs.p)[i])
#define GIN(c, i) (((ox_input *)(c)->ginputs.p)[i])
#define GOUT(c, i) (((ox_str *)(c)->goutputs.p)[i])
#define VAL(c, i) (((ox_value *)(c)->vals.p)[i])
#define DER(c, i) (((ox_der *)(c)->ders.p)[i])
#define OP(c, i) (((ox_op *)(c)->ops.p)[i])

/* ---- small helpers -------------------------------------------------------- */

static void *vec_push(ox_vec *v, size_t es)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? 2 * v->cap : 16;
        if (nc > SIZE_MAX / es) return NULL;
        void *p = realloc(v->p, nc * es);
        if (!p) return NULL;
        v->p = p;
        v->cap = nc;
    }
    void *slot = (char *)v->p + v->n++ * es;
    memset(slot, 0, es);
    return slot;
}

static int str_is(ox_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int str_eq(ox_str a, ox_str b) { return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0); }

/* A name made printable for a message: control bytes become '?', long names
 * are cut at a UTF-8 boundary and marked "...". Eight rotating buffers: a
 * message may use up to eight S/NL/def_kind results (NL takes two, def_kind three). */
static const char *S(ox_ctx *c, ox_str s)
{
    char *buf = c->show[c->showi++ % 8];
    size_t max = sizeof c->show[0] - 4, k = s.n < max ? s.n : max, i;
    if (k < s.n)
        while (k > 0 && (s.p[k] & 0xc0) == 0x80) k--;
    for (i = 0; i < k; i++) buf[i] = (s.p[i] < 0x20 || s.p[i] == 0x7f) ? '?' : (char)s.p[i];
    if (k < s.n) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = 0;
    return buf;
}

/* "'name'" for a named node, "#k" otherwise. */
static const char *NL(ox_ctx *c, size_t k)
{
    const ox_node *n = &NODE(c, k);
    if (n->name.n == 0) {
        char *buf = c->show[c->showi++ % 8];
        snprintf(buf, sizeof c->show[0], "#%zu", k);
        return buf;
    }
    const char *nm = S(c, n->name);
    char *buf = c->show[c->showi++ % 8];
    snprintf(buf, sizeof c->show[0], "'%s'", nm);
    return buf;
}

static const char *type_name(int64_t t)
{
    if (t >= 0 && t < (int64_t)(sizeof onnx_type_names / sizeof onnx_type_names[0]))
        return onnx_type_names[t];
    return "unknown";
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static dlor_status ox_fail(ox_ctx *c, dlor_status code, const char *fmt, ...)
{
    char msg[DLOR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dlor_fail(c->err, code, "%s: %s", c->what, msg);
}

/* Adds "<what>: <label>: " in front of a protobuf-level message. */
static dlor_status pb_err(ox_ctx *c, dlor_status s, const char *label)
{
    if (label) dlor_error_prefix(c->err, label);
    dlor_error_prefix(c->err, c->what);
    return s;
}

static dlor_status nomem(ox_ctx *c) { return ox_fail(c, DLOR_E_NOMEM, "out of memory"); }

static dlor_status want_wt(ox_ctx *c, const dlor_pb_field *f, int wt, const char *label,
                           const char *field)
{
    if (f->wt == wt) return DLOR_OK;
    return ox_fail(c, DLOR_E_FORMAT, "%s: field %s (%u) at byte %zu has wire type %s, expected %s",
                   label, field, f->num, f->offset, dlor_pb_wt_name(f->wt), dlor_pb_wt_name(wt));
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int why(ox_ctx *c, const char *fmt, ...)
{
    if (c->why && c->why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->why_len, fmt, ap);
        va_end(ap);
    }
    return 1;
}

static dlor_dtype dtype_of(int64_t t)
{
    switch (t) {
    case OT_FLOAT: return DLOR_DT_F32;
    case OT_UINT8: return DLOR_DT_U8;
    case OT_INT8: return DLOR_DT_I8;
    case OT_UINT16: return DLOR_DT_U16;
    case OT_INT16: return DLOR_DT_I16;
    case OT_INT32: return DLOR_DT_I32;
    case OT_INT64: return DLOR_DT_I64;
    case OT_BOOL: return DLOR_DT_BOOL;
    case OT_FLOAT16: return DLOR_DT_F16;
    case OT_DOUBLE: return DLOR_DT_F64;
    case OT_UINT32: return DLOR_DT_U32;
    case OT_UINT64: return DLOR_DT_U64;
    case OT_BFLOAT16: return DLOR_DT_BF16;
    default: return DLOR_DT_INVALID;
    }
}

/* The typed field that holds values of ONNX type t. */
static int typed_field_for(int64_t t)
{
    switch (t) {
    case OT_FLOAT: return TF_FLOAT;
    case OT_DOUBLE: return TF_DOUBLE;
    case OT_INT64: return TF_INT64;
    case OT_UINT32: case OT_UINT64: return TF_UINT64;
    default: return TF_INT32;
    }
}

/* ---- external data -------------------------------------------------------- */

typedef struct ox_ext {
    ox_str loc, off, len;
    int has_loc, has_off, has_len, has_sum;
} ox_ext;

/* Parses a decimal string of digits only into *v. */
static int parse_dec(ox_str s, uint64_t *v)
{
    uint64_t x = 0;
    if (s.n == 0 || s.n > 20) return -1;
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned)s.p[i] - '0';
        if (d > 9) return -1;
        if (x > (UINT64_MAX - d) / 10) return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

static dlor_status read_all(ox_ctx *c, int fd, unsigned char *p, size_t n, uint64_t off,
                            const char *label, const char *loc)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return ox_fail(c, DLOR_E_IO, "%s: external file '%s': %s", label, loc,
                           r == 0 ? "file shrank while reading" : strerror(errno));
        got += (size_t)r;
    }
    return DLOR_OK;
}

/* Opens location (already checked to be a relative path without "..")
 * below model_dir without following any symbolic link. */
static dlor_status open_beneath(ox_ctx *c, const char *loc, const char *label, int *out_fd)
{
    int dfd = open(c->model_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ox_fail(c, DLOR_E_IO, "%s: cannot open the model's folder '%s': %s", label,
                       c->model_dir, strerror(errno));
    const char *p = loc;
    for (;;) {
        const char *slash = strchr(p, '/');
        char comp[OX_MAX_LOCATION + 1];
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        memcpy(comp, p, n);
        comp[n] = 0;
        struct stat st;
        if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            int e = errno;
            close(dfd);
            return ox_fail(c, DLOR_E_IO, "%s: external file '%s': %s", label, loc, strerror(e));
        }
        if (S_ISLNK(st.st_mode)) {
            close(dfd);
            return ox_fail(c, DLOR_E_FORMAT,
                           "%s: external file '%s': '%s' is a symbolic link (refused)", label, loc,
                           comp);
        }
        if (slash) {
            int nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int e = errno;
            close(dfd);
            if (nfd < 0)
                return ox_fail(c, DLOR_E_IO, "%s: external file '%s': folder '%s': %s", label, loc,
                               comp, strerror(e));
            dfd = nfd;
            p = slash + 1;
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            close(dfd);
            return ox_fail(c, DLOR_E_FORMAT, "%s: external file '%s' is not a regular file", label,
                           loc);
        }
        int fd = openat(dfd, comp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        int e = errno;
        close(dfd);
        if (fd < 0)
            return ox_fail(c, DLOR_E_IO, "%s: external file '%s': %s", label, loc, strerror(e));
        struct stat st2;
        /* the file must still be the one checked above (no swap in between) */
        if (fstat(fd, &st2) != 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino ||
            !S_ISREG(st2.st_mode)) {
            close(fd);
            return ox_fail(c, DLOR_E_IO, "%s: external file '%s' changed while being opened", label,
                           loc);
        }
        /* a hard link can make a file outside the folder appear inside it */
        if (st2.st_nlink > 1) {
            close(fd);
            return ox_fail(c, DLOR_E_FORMAT,
                           "%s: external file '%s' has %lu hard links (refused: it may be a file "
                           "from outside the model's folder)", label, loc,
                           (unsigned long)st2.st_nlink);
        }
        *out_fd = fd;
        return DLOR_OK;
    }
}

static dlor_status check_location(ox_ctx *c, ox_str s, const char *label, char *loc)
{
    const char *shown = S(c, s);
    if (s.n == 0) return ox_fail(c, DLOR_E_FORMAT, "%s: external data location is empty", label);
    if (s.n > OX_MAX_LOCATION)
        return ox_fail(c, DLOR_E_LIMIT, "%s: external data location of %zu bytes is too long", label,
                       s.n);
    if (memchr(s.p, 0, s.n))
        return ox_fail(c, DLOR_E_FORMAT, "%s: external data location '%s' contains a NUL byte",
                       label, shown);
    if (s.p[0] == '/')
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data location '%s' is an absolute path (refused)", label,
                       shown);
    if (memchr(s.p, '\\', s.n) ||
        (s.n >= 2 && s.p[1] == ':' && ((s.p[0] | 0x20) >= 'a' && (s.p[0] | 0x20) <= 'z')))
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data location '%s' is a Windows path (refused)", label, shown);
    memcpy(loc, s.p, s.n);
    loc[s.n] = 0;
    for (const char *p = loc;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.'))
            return ox_fail(c, DLOR_E_FORMAT,
                           "%s: external data location '%s' has an empty or '.' component", label,
                           shown);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return ox_fail(c, DLOR_E_FORMAT,
                           "%s: external data location '%s' contains '..' (refused: it must stay "
                           "inside the model's folder)", label, shown);
        if (!slash) break;
        p = slash + 1;
    }
    return DLOR_OK;
}

static dlor_status read_external(ox_ctx *c, const ox_ext *x, const char *label, ox_tensor *t)
{
    char loc[OX_MAX_LOCATION + 1];
    uint64_t off = 0, len = 0;
    dlor_status s;
    if (!c->model_dir)
        return ox_fail(c, DLOR_E_UNSUPPORTED,
                       "%s: data is in an external file, which is read only when the model is "
                       "read from its folder", label);
    if (!x->has_loc) return ox_fail(c, DLOR_E_FORMAT, "%s: external data has no location", label);
    if ((s = check_location(c, x->loc, label, loc))) return s;
    if (x->has_off && parse_dec(x->off, &off))
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data offset '%s' is not a non-negative decimal integer", label,
                       S(c, x->off));
    if (x->has_len && parse_dec(x->len, &len))
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data length '%s' is not a non-negative decimal integer", label,
                       S(c, x->len));
    int fd = -1;
    if ((s = open_beneath(c, loc, label, &fd))) return s;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return ox_fail(c, DLOR_E_IO, "%s: external file '%s': %s", label, loc, strerror(errno));
    }
    uint64_t size = (uint64_t)st.st_size;
    if (off > size) {
        close(fd);
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data offset %llu is beyond the end of '%s' (%llu bytes)",
                       label, (unsigned long long)off, loc, (unsigned long long)size);
    }
    if (!x->has_len) len = size - off;
    if (len > size - off) {
        close(fd);
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data [offset %llu, length %llu] runs past the end of '%s' "
                       "(%llu bytes)", label, (unsigned long long)off, (unsigned long long)len, loc,
                       (unsigned long long)size);
    }
    if (len != t->nbytes) {
        close(fd);
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: external data length %llu, but the dims need %zu bytes", label,
                       (unsigned long long)len, t->nbytes);
    }
    unsigned char *p = malloc(t->nbytes ? t->nbytes : 1);
    if (!p) {
        close(fd);
        return nomem(c);
    }
    if ((s = dlor_tensor_list_own(c->out, p, c->err))) {
        close(fd);
        return nomem(c);
    }
    s = read_all(c, fd, p, t->nbytes, off, label, loc);
    close(fd);
    t->data = p;
    return s;
}

static dlor_status parse_ext_entry(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f,
                                   const char *label, ox_ext *x)
{
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    ox_str key = {NULL, 0}, val = {NULL, 0};
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return pb_err(c, s, label);
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return pb_err(c, s, label);
        if (!g.num) break;
        if (g.num == 1 || g.num == 2) {
            if ((s = want_wt(c, &g, DLOR_PB_LEN, label, g.num == 1 ? "key" : "value"))) return s;
            ox_str v = {g.data, g.len};
            if (g.num == 1) key = v;
            else val = v;
        }
    }
    int *have = NULL;
    ox_str *dst = NULL;
    if (str_is(key, "location")) have = &x->has_loc, dst = &x->loc;
    else if (str_is(key, "offset")) have = &x->has_off, dst = &x->off;
    else if (str_is(key, "length")) have = &x->has_len, dst = &x->len;
    else if (str_is(key, "checksum")) have = &x->has_sum; /* SHA-1; not verified */
    else
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: unknown external data key '%s' (expected location, offset, length, "
                       "checksum)", label, S(c, key));
    if (*have)
        return ox_fail(c, DLOR_E_FORMAT, "%s: external data key '%s' appears twice", label,
                       S(c, key));
    *have = 1;
    if (dst) *dst = val;
    return DLOR_OK;
}

/* ---- tensors -------------------------------------------------------------- */

/* Stores one value v of a typed field into element i of t (allocated). */
static dlor_status put_typed(ox_ctx *c, const char *label, ox_tensor *t, int64_t otype, int tf,
                             uint64_t i, uint64_t v)
{
    unsigned char *p = (unsigned char *)t->data + i * dlor_dtype_size(t->dt);
    int64_t x, lo = 0, hi = 0;
    switch (tf) {
    case TF_FLOAT: dlor_store_u32(p, (uint32_t)v); return DLOR_OK;
    case TF_DOUBLE: case TF_INT64: dlor_store_u64(p, v); return DLOR_OK;
    case TF_UINT64:
        if (t->dt == DLOR_DT_U32 && v > 0xffffffffu)
            return ox_fail(c, DLOR_E_FORMAT, "%s: uint64_data value %llu at index %llu is out of "
                           "range for UINT32", label, (unsigned long long)v, (unsigned long long)i);
        if (t->dt == DLOR_DT_U32) dlor_store_u32(p, (uint32_t)v);
        else dlor_store_u64(p, v);
        return DLOR_OK;
    default: break;
    }
    /* int32_data: an int32 sign-extended to 64 bits on the wire */
    if (v <= 0x7fffffffu) x = (int64_t)v;
    else if (v >= 0xffffffff80000000ull) x = -(int64_t)(~v) - 1;
    else
        return ox_fail(c, DLOR_E_FORMAT, "%s: int32_data value %llu at index %llu is not an int32",
                       label, (unsigned long long)v, (unsigned long long)i);
    switch (t->dt) {
    case DLOR_DT_I32: dlor_store_u32(p, (uint32_t)x); return DLOR_OK;
    case DLOR_DT_I16: lo = -32768, hi = 32767; break;
    case DLOR_DT_I8: lo = -128, hi = 127; break;
    case DLOR_DT_U8: hi = 255; break;
    case DLOR_DT_BOOL: hi = 1; break;
    default: hi = 0xffff; break; /* U16, F16, BF16 (bit patterns) */
    }
    if (x < lo || x > hi)
        return ox_fail(c, DLOR_E_FORMAT,
                       "%s: int32_data value %lld at index %llu is out of range for %s (%lld to "
                       "%lld)", label, (long long)x, (unsigned long long)i, type_name(otype),
                       (long long)lo, (long long)hi);
    if (dlor_dtype_size(t->dt) == 1) p[0] = (unsigned char)x;
    else dlor_store_u16(p, (uint16_t)x);
    return DLOR_OK;
}

/* Decodes the TensorProto in msg. kind names it in messages ("initializer",
 * "node 'c': attribute 'value'"). Data of raw_data points into the buffer;
 * typed and external data go to blocks owned by c->out. */
static dlor_status decode_tensor(ox_ctx *c, const dlor_pb *msg, const char *kind, int index,
                                 int allow_external, ox_tensor *t)
{
    char label[256];
    dlor_pb r = *msg;
    dlor_pb_field f;
    dlor_status s;
    ox_str raw = {NULL, 0};
    ox_ext x;
    int64_t otype = 0;
    uint64_t location = 0, typed_count[TF_COUNT] = {0};
    int has_raw = 0, has_segment = 0, has_typed[TF_COUNT] = {0}, dims_over = 0;
    memset(t, 0, sizeof *t);
    memset(&x, 0, sizeof x);

    /* the name first, so that every later message can show it */
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) {
            if (index >= 0) snprintf(label, sizeof label, "%s #%d", kind, index);
            else snprintf(label, sizeof label, "%s", kind);
            return pb_err(c, s, label);
        }
        if (!f.num) break;
        if (f.num == 8 && f.wt == DLOR_PB_LEN) t->name = (ox_str){f.data, f.len};
    }
    if (t->name.n) snprintf(label, sizeof label, "%s '%s'", kind, S(c, t->name));
    else if (index >= 0) snprintf(label, sizeof label, "%s #%d", kind, index);
    else snprintf(label, sizeof label, "%s", kind);

    r = *msg;
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) return pb_err(c, s, label);
        if (!f.num) break;
        switch (f.num) {
        case 1: { /* dims (int64, usually unpacked) */
            uint64_t n, v;
            dlor_pb_iter it;
            if ((s = dlor_pb_count(&r, &f, DLOR_PB_VARINT, &n, c->err))) return pb_err(c, s, label);
            dlor_pb_iter_init(&it, &f, DLOR_PB_VARINT);
            while (dlor_pb_iter_next(&it, &v)) {
                if (v >> 63)
                    return ox_fail(c, DLOR_E_FORMAT, "%s: negative dimension %lld", label,
                                   (long long)(-(int64_t)(~v) - 1));
                if (t->ndim == DLOR_MAX_NDIM) dims_over = 1;
                else t->dims[t->ndim++] = v;
            }
            break;
        }
        case 2:
            if ((s = want_wt(c, &f, DLOR_PB_VARINT, label, "data_type"))) return s;
            otype = (int64_t)f.u;
            break;
        case 3: has_segment = 1; break;
        case 8:
            if ((s = want_wt(c, &f, DLOR_PB_LEN, label, "name"))) return s;
            break;
        case 9:
            if ((s = want_wt(c, &f, DLOR_PB_LEN, label, "raw_data"))) return s;
            raw = (ox_str){f.data, f.len};
            has_raw = 1;
            break;
        case 13:
            if ((s = want_wt(c, &f, DLOR_PB_LEN, label, "external_data"))) return s;
            if ((s = parse_ext_entry(c, &r, &f, label, &x))) return s;
            break;
        case 14:
            if ((s = want_wt(c, &f, DLOR_PB_VARINT, label, "data_location"))) return s;
            location = f.u;
            break;
        default:
            for (int k = 0; k < TF_COUNT; k++) {
                uint64_t n;
                if (f.num != tf_field[k]) continue;
                if (k == TF_STRING) n = 1;
                else if ((s = dlor_pb_count(&r, &f, tf_wt[k], &n, c->err))) return pb_err(c, s, label);
                has_typed[k] = 1;
                typed_count[k] += n; /* no overflow: bounded by the buffer length */
            }
            break;
        }
    }
    if (dims_over)
        return ox_fail(c, DLOR_E_LIMIT, "%s: more than %d dimensions", label, DLOR_MAX_NDIM);
    if (has_segment) return ox_fail(c, DLOR_E_UNSUPPORTED, "%s: segmented tensors are not supported", label);
    t->dt = dtype_of(otype);
    if (t->dt == DLOR_DT_INVALID) {
        if (otype == OT_UNDEFINED)
            return ox_fail(c, DLOR_E_UNSUPPORTED, "%s: data_type 0 (UNDEFINED) is not supported",
                           label);
        return ox_fail(c, DLOR_E_UNSUPPORTED, "%s: data_type %lld (%s) is not supported", label,
                       (long long)otype, type_name(otype));
    }
    char shape[200];
    uint64_t nbytes;
    dlor_shape_str(t->dims, t->ndim, shape, sizeof shape);
    if (dlor_shape_nelem(t->dims, t->ndim, &t->nelem) ||
        dlor_shape_nbytes(t->dims, t->ndim, t->dt, &nbytes) || nbytes > SIZE_MAX)
        return ox_fail(c, DLOR_E_FORMAT, "%s: dims %s: size overflows", label, shape);
    t->nbytes = (size_t)nbytes;

    int ntyped = 0, which = -1;
    for (int k = 0; k < TF_COUNT; k++)
        if (has_typed[k]) ntyped++, which = k;
    if (location > 1)
        return ox_fail(c, DLOR_E_FORMAT, "%s: data_location %llu is invalid (0 or 1)", label,
                       (unsigned long long)location);
    if (location == 1) {
        if (has_raw || ntyped)
            return ox_fail(c, DLOR_E_FORMAT, "%s: external data and %s are both set", label,
                           has_raw ? "raw_data" : tf_name[which]);
        if (!allow_external)
            return ox_fail(c, DLOR_E_UNSUPPORTED, "%s: external data is not supported here", label);
        return read_external(c, &x, label, t);
    }
    if (x.has_loc || x.has_off || x.has_len || x.has_sum)
        return ox_fail(c, DLOR_E_FORMAT, "%s: external_data is set but data_location is not EXTERNAL",
                       label);
    if (has_raw && ntyped)
        return ox_fail(c, DLOR_E_FORMAT, "%s: both raw_data and %s are set", label, tf_name[which]);
    if (ntyped > 1)
        return ox_fail(c, DLOR_E_FORMAT, "%s: values are spread over several typed fields", label);
    if (has_raw) {
        if (raw.n != t->nbytes)
            return ox_fail(c, DLOR_E_FORMAT,
                           "%s: raw_data holds %zu bytes, dims %s of %s need %zu", label, raw.n,
                           shape, type_name(otype), t->nbytes);
        t->data = raw.p;
        return DLOR_OK;
    }
    if (!ntyped) {
        if (t->nelem == 0) {
            t->data = msg->base; /* any valid pointer: there are no bytes */
            return DLOR_OK;
        }
        return ox_fail(c, DLOR_E_FORMAT, "%s: dims %s but no data", label, shape);
    }
    if (which != typed_field_for(otype))
        return ox_fail(c, DLOR_E_FORMAT, "%s: %s holds the values of a %s tensor (expected %s)",
                       label, tf_name[which], type_name(otype), tf_name[typed_field_for(otype)]);
    if (typed_count[which] != t->nelem)
        return ox_fail(c, DLOR_E_FORMAT, "%s: %s holds %llu values, dims %s need %llu", label,
                       tf_name[which], (unsigned long long)typed_count[which], shape,
                       (unsigned long long)t->nelem);
    /* nbytes <= 8 * count <= 8 * buffer length: the allocation is bounded */
    unsigned char *p = malloc(t->nbytes ? t->nbytes : 1);
    if (!p) return nomem(c);
    if (dlor_tensor_list_own(c->out, p, c->err)) return nomem(c);
    t->data = p;
    uint64_t i = 0;
    r = *msg;
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) return pb_err(c, s, label);
        if (!f.num) break;
        if (f.num != tf_field[which]) continue;
        dlor_pb_iter it;
        uint64_t v;
        dlor_pb_iter_init(&it, &f, tf_wt[which]);
        while (i < t->nelem && dlor_pb_iter_next(&it, &v))
            if ((s = put_typed(c, label, t, otype, which, i++, v))) return s;
    }
    return DLOR_OK;
}

/* ---- graph structure ------------------------------------------------------- */

static dlor_status read_string_field(ox_ctx *c, const dlor_pb_field *f, const char *label,
                                     const char *field, ox_str *dst)
{
    dlor_status s = want_wt(c, f, DLOR_PB_LEN, label, field);
    if (!s) *dst = (ox_str){f->data, f->len};
    return s;
}

/* Walks an attribute's subgraph: only its wire format and nesting depth. */
static dlor_status walk_graph(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f, const char *label);

static dlor_status walk_msg(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f, const char *label,
                            uint32_t field_a, uint32_t field_b, int level)
{
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return pb_err(c, s, label);
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return pb_err(c, s, label);
        if (!g.num) return DLOR_OK;
        if (g.num != field_a && g.num != field_b) continue;
        if (level == 0) s = walk_msg(c, &sub, &g, label, 6, 11, 1); /* node -> attribute */
        else s = walk_graph(c, &sub, &g, label);                    /* attribute -> g, graphs */
        if (s) return s;
    }
}

static dlor_status walk_graph(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f, const char *label)
{
    /* graph -> node (1); the recursion is bounded by the cursor's depth */
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return pb_err(c, s, label);
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return pb_err(c, s, label);
        if (!g.num) return DLOR_OK;
        if (g.num == 1 && (s = walk_msg(c, &sub, &g, label, 5, 0, 0))) return s;
    }
}

static dlor_status parse_attr(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f, const char *label)
{
    ox_attr *a;
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    uint64_t n;
    if (c->attrs.n >= OX_MAX_ATTRS)
        return ox_fail(c, DLOR_E_LIMIT, "%s: more than %u attributes in the graph", label, OX_MAX_ATTRS);
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return pb_err(c, s, label);
    if (!(a = vec_push(&c->attrs, sizeof *a))) return nomem(c);
    a->msg = sub;
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return pb_err(c, s, label);
        if (!g.num) break;
        switch (g.num) {
        case 1: s = read_string_field(c, &g, label, "attribute name", &a->name); break;
        case 2:
            if (!(s = want_wt(c, &g, DLOR_PB_I32, label, "attribute f"))) {
                uint32_t b = (uint32_t)g.u;
                memcpy(&a->f, &b, 4);
                a->has_f = 1;
            }
            break;
        case 3:
            if (!(s = want_wt(c, &g, DLOR_PB_VARINT, label, "attribute i"))) a->i = (int64_t)g.u, a->has_i = 1;
            break;
        case 4:
            if (!(s = read_string_field(c, &g, label, "attribute s", &a->s))) a->has_s = 1;
            break;
        case 5:
            if (a->has_t)
                return ox_fail(c, DLOR_E_FORMAT, "%s: attribute '%s' sets its tensor twice", label,
                               S(c, a->name));
            if ((s = dlor_pb_enter(&sub, &g, &a->t, c->err))) return pb_err(c, s, label);
            a->has_t = 1;
            break;
        case 6: case 11: s = walk_graph(c, &sub, &g, label); a->has_other = 1; break;
        case 7:
            if (!(s = dlor_pb_count(&sub, &g, DLOR_PB_I32, &n, c->err))) a->has_floats = 1;
            else pb_err(c, s, label);
            break;
        case 8:
            if (!(s = dlor_pb_count(&sub, &g, DLOR_PB_VARINT, &n, c->err))) a->has_ints = 1;
            else pb_err(c, s, label);
            break;
        case 9: case 10: case 14: case 15: case 22: case 23: a->has_other = 1; break;
        case 20:
            if (!(s = want_wt(c, &g, DLOR_PB_VARINT, label, "attribute type"))) a->type = (int64_t)g.u;
            break;
        case 21: a->has_ref = 1; break;
        default: break;
        }
        if (s) return s;
    }
    /* very old files leave 'type' out: infer it from the field that is set */
    if (a->type == 0) {
        if (a->has_f) a->type = AT_FLOAT;
        else if (a->has_i) a->type = AT_INT;
        else if (a->has_s) a->type = AT_STRING;
        else if (a->has_t) a->type = AT_TENSOR;
        else if (a->has_floats) a->type = AT_FLOATS;
        else if (a->has_ints) a->type = AT_INTS;
    }
    return DLOR_OK;
}

/* Collects the elements of every occurrence of 'field' in msg. */
static dlor_status collect_repeated(ox_ctx *c, const dlor_pb *msg, uint32_t field, int wt,
                                    const char *label, uint64_t **vals, uint64_t *count)
{
    dlor_pb r = *msg;
    dlor_pb_field f;
    dlor_status s;
    uint64_t total = 0, n, i = 0, v;
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) return pb_err(c, s, label);
        if (!f.num) break;
        if (f.num != field) continue;
        if ((s = dlor_pb_count(&r, &f, wt, &n, c->err))) return pb_err(c, s, label);
        total += n;
    }
    uint64_t *p = malloc(total ? total * sizeof *p : 1);
    if (!p) return nomem(c);
    r = *msg;
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) {
            free(p);
            return pb_err(c, s, label);
        }
        if (!f.num) break;
        if (f.num != field) continue;
        dlor_pb_iter it;
        dlor_pb_iter_init(&it, &f, wt);
        while (i < total && dlor_pb_iter_next(&it, &v)) p[i++] = v;
    }
    *vals = p;
    *count = total;
    return DLOR_OK;
}

/* Turns a Constant node's value into a tensor in c->consts (cidx), or
 * leaves cidx = -1 when it holds something dlor does not read. */
static dlor_status make_constant(ox_ctx *c, size_t k)
{
    ox_node *n = &NODE(c, k);
    const ox_attr *val = NULL;
    char label[200];
    int nval = 0;
    n->cidx = -1;
    for (size_t j = 0; j < n->nattr; j++) {
        const ox_attr *a = &ATTR(c, n->attr0 + j);
        if (a->name.n >= 5 && memcmp(a->name.p, "value", 5) == 0) val = a, nval++;
    }
    if (nval != 1 || n->nout != 1 || val->has_ref) return DLOR_OK;
    snprintf(label, sizeof label, "node %s: attribute '%s'", NL(c, k), S(c, val->name));
    ox_tensor t;
    memset(&t, 0, sizeof t);
    if (str_is(val->name, "value") && val->has_t) {
        dlor_status s = decode_tensor(c, &val->t, label, -1, 0, &t);
        if (s == DLOR_E_UNSUPPORTED) return DLOR_OK;
        if (s) return s;
    } else if ((str_is(val->name, "value_float") && val->has_f) ||
               (str_is(val->name, "value_int") && val->has_i)) {
        unsigned char *p = malloc(8);
        if (!p || dlor_tensor_list_own(c->out, p, c->err)) return nomem(c);
        if (val->has_f) {
            uint32_t b;
            memcpy(&b, &val->f, 4);
            dlor_store_u32(p, b);
            t.dt = DLOR_DT_F32, t.nbytes = 4;
        } else {
            dlor_store_u64(p, (uint64_t)val->i);
            t.dt = DLOR_DT_I64, t.nbytes = 8;
        }
        t.nelem = 1;
        t.data = p;
    } else if (str_is(val->name, "value_floats") || str_is(val->name, "value_ints")) {
        int fl = str_is(val->name, "value_floats");
        uint64_t *v = NULL, cnt = 0;
        dlor_status s = collect_repeated(c, &val->msg, fl ? 7 : 8, fl ? DLOR_PB_I32 : DLOR_PB_VARINT,
                                         label, &v, &cnt);
        if (s) return s;
        unsigned char *p = malloc(cnt ? cnt * 8 : 1);
        if (!p || dlor_tensor_list_own(c->out, p, c->err)) {
            free(v);
            return nomem(c);
        }
        for (uint64_t i = 0; i < cnt; i++) {
            if (fl) dlor_store_u32(p + 4 * i, (uint32_t)v[i]);
            else dlor_store_u64(p + 8 * i, v[i]);
        }
        free(v);
        t.dt = fl ? DLOR_DT_F32 : DLOR_DT_I64;
        t.ndim = 1;
        t.dims[0] = cnt;
        t.nelem = cnt;
        t.nbytes = (size_t)cnt * (fl ? 4 : 8);
        t.data = p;
    } else {
        return DLOR_OK;
    }
    ox_tensor *slot = vec_push(&c->consts, sizeof *slot);
    if (!slot) return nomem(c);
    *slot = t;
    n->cidx = (long)(c->consts.n - 1);
    return DLOR_OK;
}

static dlor_status parse_node(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f)
{
    char label[64];
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    ox_node nd;
    size_t k = c->nodes.n;
    snprintf(label, sizeof label, "node #%zu", k);
    if (k >= OX_MAX_NODES)
        return ox_fail(c, DLOR_E_LIMIT, "graph has more than %u nodes", OX_MAX_NODES);
    memset(&nd, 0, sizeof nd);
    nd.in0 = c->ins.n;
    nd.out0 = c->outs.n;
    nd.attr0 = c->attrs.n;
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return pb_err(c, s, label);
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return pb_err(c, s, label);
        if (!g.num) break;
        switch (g.num) {
        case 1: case 2: {
            ox_vec *v = g.num == 1 ? &c->ins : &c->outs;
            ox_str *slot;
            if ((s = want_wt(c, &g, DLOR_PB_LEN, label, g.num == 1 ? "input" : "output"))) return s;
            if (c->ins.n + c->outs.n >= OX_MAX_REFS)
                return ox_fail(c, DLOR_E_LIMIT, "graph has more than %u node inputs and outputs",
                               OX_MAX_REFS);
            if (!(slot = vec_push(v, sizeof *slot))) return nomem(c);
            *slot = (ox_str){g.data, g.len};
            break;
        }
        case 3: s = read_string_field(c, &g, label, "name", &nd.name); break;
        case 4: s = read_string_field(c, &g, label, "op_type", &nd.op); break;
        case 7: s = read_string_field(c, &g, label, "domain", &nd.domain); break;
        case 5: s = parse_attr(c, &sub, &g, label); break;
        default: break;
        }
        if (s) return s;
    }
    nd.nin = c->ins.n - nd.in0;
    nd.nout = c->outs.n - nd.out0;
    nd.nattr = c->attrs.n - nd.attr0;
    nd.cidx = -1;
    ox_node *slot = vec_push(&c->nodes, sizeof *slot);
    if (!slot) return nomem(c);
    *slot = nd;
    if (str_is(nd.op, "Constant") && (nd.domain.n == 0 || str_is(nd.domain, "ai.onnx")))
        return make_constant(c, k);
    return DLOR_OK;
}

/* ValueInfoProto: the name and, for a tensor with a shape, its rank and the
 * product of all dims but the first (0 when unknown). */
static dlor_status parse_value_info(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f,
                                    const char *label, ox_input *vi)
{
    dlor_pb m[5];
    dlor_pb_field g;
    dlor_status s;
    int rank = 0, known = 1, have_shape = 0;
    uint64_t feat = 1;
    vi->name = (ox_str){NULL, 0}; /* a ValueInfoProto without field 1 has no name */
    vi->rank = -1;
    vi->feat = 0;
    if ((s = dlor_pb_enter(r, f, &m[0], c->err))) return pb_err(c, s, label);
    for (;;) {
        if ((s = dlor_pb_next(&m[0], &g, c->err))) return pb_err(c, s, label);
        if (!g.num) break;
        if (g.num == 1 && (s = read_string_field(c, &g, label, "name", &vi->name))) return s;
        if (g.num != 2 || g.wt != DLOR_PB_LEN) continue;
        /* TypeProto -> tensor_type (1) -> shape (2) -> dim (1) -> dim_value (1) */
        if ((s = dlor_pb_enter(&m[0], &g, &m[1], c->err))) return pb_err(c, s, label);
        for (;;) {
            if ((s = dlor_pb_next(&m[1], &g, c->err))) return pb_err(c, s, label);
            if (!g.num) break;
            if (g.num != 1 || g.wt != DLOR_PB_LEN) continue;
            if ((s = dlor_pb_enter(&m[1], &g, &m[2], c->err))) return pb_err(c, s, label);
            for (;;) {
                if ((s = dlor_pb_next(&m[2], &g, c->err))) return pb_err(c, s, label);
                if (!g.num) break;
                if (g.num != 2 || g.wt != DLOR_PB_LEN) continue;
                have_shape = 1;
                if ((s = dlor_pb_enter(&m[2], &g, &m[3], c->err))) return pb_err(c, s, label);
                for (;;) {
                    if ((s = dlor_pb_next(&m[3], &g, c->err))) return pb_err(c, s, label);
                    if (!g.num) break;
                    if (g.num != 1 || g.wt != DLOR_PB_LEN) continue;
                    uint64_t dv = 0;
                    int has_v = 0;
                    if ((s = dlor_pb_enter(&m[3], &g, &m[4], c->err))) return pb_err(c, s, label);
                    for (;;) {
                        if ((s = dlor_pb_next(&m[4], &g, c->err))) return pb_err(c, s, label);
                        if (!g.num) break;
                        if (g.num == 1 && g.wt == DLOR_PB_VARINT) dv = g.u, has_v = 1;
                    }
                    if (rank > 0) {
                        if (!has_v || dv == 0 || (dv >> 63) || feat > UINT64_MAX / dv) known = 0;
                        else feat *= dv;
                    }
                    if (rank < 64) rank++;
                }
            }
        }
    }
    if (have_shape) {
        vi->rank = rank;
        vi->feat = known && rank >= 2 ? feat : 0;
    }
    return DLOR_OK;
}

static dlor_status parse_graph(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f)
{
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    char label[64];
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return pb_err(c, s, "graph");
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return pb_err(c, s, "graph");
        if (!g.num) break;
        switch (g.num) {
        case 1:
            if ((s = want_wt(c, &g, DLOR_PB_LEN, "graph", "node"))) return s;
            s = parse_node(c, &sub, &g);
            break;
        case 5: {
            dlor_pb tm;
            ox_tensor *t;
            snprintf(label, sizeof label, "initializer #%zu", c->inits.n);
            if (c->inits.n >= DLOR_MAX_TENSORS)
                return ox_fail(c, DLOR_E_LIMIT, "more than %u initializers", DLOR_MAX_TENSORS);
            if ((s = dlor_pb_enter(&sub, &g, &tm, c->err))) return pb_err(c, s, label);
            if (!(t = vec_push(&c->inits, sizeof *t))) return nomem(c);
            if ((s = decode_tensor(c, &tm, "initializer", (int)(c->inits.n - 1), 1, t))) return s;
            if (t->name.n == 0)
                return ox_fail(c, DLOR_E_FORMAT, "initializer #%zu has no name", c->inits.n - 1);
            break;
        }
        case 11: case 12: {
            ox_vec *v = g.num == 11 ? &c->ginputs : &c->goutputs;
            const char *kind = g.num == 11 ? "graph input" : "graph output";
            snprintf(label, sizeof label, "%s #%zu", kind, v->n);
            if (v->n >= OX_MAX_IO)
                return ox_fail(c, DLOR_E_LIMIT, "more than %u %ss", OX_MAX_IO, kind);
            if ((s = want_wt(c, &g, DLOR_PB_LEN, "graph", kind))) return s;
            ox_input vi;
            if ((s = parse_value_info(c, &sub, &g, label, &vi))) return s;
            if (vi.name.n == 0) return ox_fail(c, DLOR_E_FORMAT, "%s has no name", label);
            if (g.num == 11) {
                ox_input *slot = vec_push(v, sizeof *slot);
                if (!slot) return nomem(c);
                *slot = vi;
            } else {
                ox_str *slot = vec_push(v, sizeof *slot);
                if (!slot) return nomem(c);
                *slot = vi.name;
            }
            break;
        }
        case 15:
            return ox_fail(c, DLOR_E_UNSUPPORTED, "graph: sparse initializers are not supported");
        default: break;
        }
        if (s) return s;
    }
    return DLOR_OK;
}

static dlor_status parse_opset(ox_ctx *c, const dlor_pb *r, const dlor_pb_field *f)
{
    dlor_pb sub;
    dlor_pb_field g;
    dlor_status s;
    ox_str dom = {NULL, 0};
    int64_t ver = 0;
    if ((s = dlor_pb_enter(r, f, &sub, c->err))) return pb_err(c, s, "opset_import");
    for (;;) {
        if ((s = dlor_pb_next(&sub, &g, c->err))) return pb_err(c, s, "opset_import");
        if (!g.num) break;
        if (g.num == 1 && (s = read_string_field(c, &g, "opset_import", "domain", &dom))) return s;
        if (g.num == 2) {
            if ((s = want_wt(c, &g, DLOR_PB_VARINT, "opset_import", "version"))) return s;
            ver = (int64_t)g.u;
        }
    }
    if (dom.n == 0 || str_is(dom, "ai.onnx")) {
        if (c->opset_seen && c->opset != ver) c->opset_conflict = 1;
        c->opset_seen = 1;
        c->opset = ver;
    }
    return DLOR_OK;
}

static dlor_status parse_model(ox_ctx *c, const unsigned char *buf, size_t len)
{
    dlor_pb r;
    dlor_pb_field f;
    dlor_status s;
    if (len == 0) return ox_fail(c, DLOR_E_FORMAT, "file is empty (not an ONNX model)");
    dlor_pb_init(&r, buf, len, DLOR_ONNX_MAX_DEPTH);
    for (;;) {
        if ((s = dlor_pb_next(&r, &f, c->err))) return pb_err(c, s, "model");
        if (!f.num) break;
        switch (f.num) {
        case 1: s = want_wt(c, &f, DLOR_PB_VARINT, "model", "ir_version"); break;
        case 7:
            /* a message field given twice is merged: the graph's lists add up */
            if (!(s = want_wt(c, &f, DLOR_PB_LEN, "model", "graph"))) s = parse_graph(c, &r, &f);
            c->ngraphs++;
            break;
        case 8:
            if (!(s = want_wt(c, &f, DLOR_PB_LEN, "model", "opset_import"))) s = parse_opset(c, &r, &f);
            break;
        default: break;
        }
        if (s) return s;
    }
    if (!c->ngraphs) return ox_fail(c, DLOR_E_FORMAT, "model has no graph (not an ONNX model?)");
    return DLOR_OK;
}

/* ---- values: names, definitions, uses ------------------------------------- */

static uint32_t hash_str(ox_str s)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.n; i++) h = (h ^ s.p[i]) * 16777619u;
    return h;
}

static long lookup(const ox_ctx *c, ox_str s)
{
    size_t m = c->hash_cap - 1, i = hash_str(s) & m;
    for (; c->hash[i]; i = (i + 1) & m)
        if (str_eq(VAL(c, c->hash[i] - 1).name, s)) return (long)c->hash[i] - 1;
    return -1;
}

static long insert(ox_ctx *c, ox_str s)
{
    size_t m = c->hash_cap - 1, i = hash_str(s) & m;
    while (c->hash[i]) i = (i + 1) & m;
    ox_value *v = vec_push(&c->vals, sizeof *v); /* capacity reserved: never fails */
    v->name = s;
    v->init = v->input = v->node = -1;
    c->hash[i] = (uint32_t)c->vals.n;
    return (long)c->vals.n - 1;
}

static const char *def_kind(ox_ctx *c, const ox_value *v)
{
    char *buf = c->show[c->showi++ % 8];
    if (v->node >= 0) snprintf(buf, sizeof c->show[0], "node %s", NL(c, (size_t)v->node));
    else if (v->init >= 0) snprintf(buf, sizeof c->show[0], "an initializer");
    else snprintf(buf, sizeof c->show[0], "a graph input");
    return buf;
}

static dlor_status build_values(ox_ctx *c)
{
    size_t nmax = c->inits.n + c->ginputs.n + c->outs.n, cap = 16;
    while (cap < 2 * nmax + 1) cap *= 2;
    c->hash_cap = cap;
    c->hash = calloc(cap, sizeof *c->hash);
    c->vals.p = malloc((nmax ? nmax : 1) * sizeof(ox_value));
    c->in_vals = malloc((c->ins.n ? c->ins.n : 1) * sizeof *c->in_vals);
    c->out_vals = malloc((c->outs.n ? c->outs.n : 1) * sizeof *c->out_vals);
    if (!c->hash || !c->vals.p || !c->in_vals || !c->out_vals) return nomem(c);
    c->vals.cap = nmax ? nmax : 1;
    for (size_t i = 0; i < c->inits.n; i++) {
        ox_str nm = INIT(c, i).name;
        if (lookup(c, nm) >= 0)
            return ox_fail(c, DLOR_E_FORMAT, "initializer '%s' appears twice", S(c, nm));
        VAL(c, insert(c, nm)).init = (long)i;
    }
    for (size_t i = 0; i < c->ginputs.n; i++) {
        ox_str nm = GIN(c, i).name;
        long v = lookup(c, nm);
        if (v >= 0 && VAL(c, v).input >= 0)
            return ox_fail(c, DLOR_E_FORMAT, "graph input '%s' is listed twice", S(c, nm));
        if (v < 0) v = insert(c, nm);
        VAL(c, v).input = (long)i;
    }
    size_t total_uses = 0;
    for (size_t k = 0; k < c->nodes.n; k++) {
        const ox_node *n = &NODE(c, k);
        for (size_t j = 0; j < n->nin; j++) {
            ox_str nm = INS(c, n->in0 + j);
            long v = -1;
            if (nm.n) {
                v = lookup(c, nm);
                if (v < 0)
                    return ox_fail(c, DLOR_E_FORMAT,
                                   "node %s (%s) uses '%s', which is not defined before it (an "
                                   "undefined name, or nodes out of topological order)",
                                   NL(c, k), S(c, n->op), S(c, nm));
                VAL(c, v).nuse++;
                total_uses++;
            }
            c->in_vals[n->in0 + j] = v;
        }
        for (size_t j = 0; j < n->nout; j++) {
            ox_str nm = OUTS(c, n->out0 + j);
            long v = -1;
            if (nm.n) {
                v = lookup(c, nm);
                if (v >= 0)
                    return ox_fail(c, DLOR_E_FORMAT,
                                   "node %s (%s) redefines '%s', already defined by %s (each "
                                   "value must be assigned once)", NL(c, k), S(c, n->op), S(c, nm),
                                   def_kind(c, &VAL(c, v)));
                v = insert(c, nm);
                VAL(c, v).node = (long)k;
            }
            c->out_vals[n->out0 + j] = v;
        }
    }
    for (size_t i = 0; i < c->goutputs.n; i++) {
        long v = lookup(c, GOUT(c, i));
        if (v < 0)
            return ox_fail(c, DLOR_E_FORMAT, "graph output '%s' is not defined by any node, input or "
                           "initializer", S(c, GOUT(c, i)));
        VAL(c, v).is_output++;
    }
    c->uses = malloc((total_uses ? total_uses : 1) * sizeof *c->uses);
    if (!c->uses) return nomem(c);
    uint32_t pos = 0;
    for (size_t v = 0; v < c->vals.n; v++) {
        VAL(c, v).use0 = pos;
        pos += VAL(c, v).nuse;
    }
    for (size_t k = 0; k < c->nodes.n; k++) {
        const ox_node *n = &NODE(c, k);
        for (size_t j = 0; j < n->nin; j++) {
            long v = c->in_vals[n->in0 + j];
            if (v >= 0) {
                ox_value *x = &VAL(c, v);
                c->uses[x->use0 + x->filled++] = (uint32_t)k;
            }
        }
    }
    return DLOR_OK;
}

/* ---- graph recovery --------------------------------------------------------- */

static int is_default_domain(ox_str d) { return d.n == 0 || str_is(d, "ai.onnx"); }

static const ox_attr *find_attr(ox_ctx *c, size_t k, const char *name)
{
    const ox_node *n = &NODE(c, k);
    for (size_t j = 0; j < n->nattr; j++)
        if (str_is(ATTR(c, n->attr0 + j).name, name)) return &ATTR(c, n->attr0 + j);
    return NULL;
}

/* 1 (why set) unless every attribute of node k is in the NULL-terminated
 * list allowed, given once, and not a reference to a function attribute. */
static int check_attrs(ox_ctx *c, size_t k, const char *const *allowed)
{
    const ox_node *n = &NODE(c, k);
    for (size_t j = 0; j < n->nattr; j++) {
        const ox_attr *a = &ATTR(c, n->attr0 + j);
        int ok = 0;
        for (const char *const *p = allowed; p && *p; p++)
            if (str_is(a->name, *p)) ok = 1;
        if (!ok)
            return why(c, "node %s: %s attribute '%s' is not supported", NL(c, k), S(c, n->op),
                       S(c, a->name));
        if (a->has_ref)
            return why(c, "node %s: attribute '%s' refers to a function attribute", NL(c, k),
                       S(c, a->name));
        for (size_t i = 0; i < j; i++)
            if (str_eq(ATTR(c, n->attr0 + i).name, a->name))
                return why(c, "node %s: attribute '%s' is given twice", NL(c, k), S(c, a->name));
    }
    return 0;
}

static int attr_type_ok(ox_ctx *c, size_t k, const ox_attr *a, int want)
{
    if (a->type == want) return 0;
    return why(c, "node %s: attribute '%s' has type %s, expected %s", NL(c, k), S(c, a->name),
               a->type >= 0 && a->type < 15 ? attr_type_names[a->type] : "unknown",
               attr_type_names[want]);
}

static int get_float(ox_ctx *c, size_t k, const char *name, double dflt, double *v)
{
    const ox_attr *a = find_attr(c, k, name);
    *v = dflt;
    if (!a) return 0;
    if (attr_type_ok(c, k, a, AT_FLOAT)) return 1;
    *v = a->f;
    if (!isfinite(*v)) return why(c, "node %s: attribute '%s' is not finite", NL(c, k), name);
    return 0;
}

static int get_int(ox_ctx *c, size_t k, const char *name, int64_t dflt, int64_t *v)
{
    const ox_attr *a = find_attr(c, k, name);
    *v = dflt;
    if (!a) return 0;
    if (attr_type_ok(c, k, a, AT_INT)) return 1;
    *v = a->i;
    return 0;
}

static const ox_tensor *init_of(ox_ctx *c, long v)
{
    return v >= 0 && VAL(c, v).init >= 0 ? &INIT(c, VAL(c, v).init) : NULL;
}

/* An initializer or the tensor of a Constant node. */
static const ox_tensor *const_of(ox_ctx *c, long v)
{
    if (v < 0) return NULL;
    if (VAL(c, v).init >= 0) return &INIT(c, VAL(c, v).init);
    if (VAL(c, v).node >= 0) {
        const ox_node *n = &NODE(c, VAL(c, v).node);
        if (n->cidx >= 0) return &CONSTT(c, n->cidx);
    }
    return NULL;
}

static double elem_f64(const ox_tensor *t, uint64_t i)
{
    const unsigned char *p = t->data + i * dlor_dtype_size(t->dt);
    switch (t->dt) {
    case DLOR_DT_F64: {
        uint64_t b = dlor_load_u64(p);
        double d;
        memcpy(&d, &b, 8);
        return d;
    }
    case DLOR_DT_F32: {
        uint32_t b = dlor_load_u32(p);
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    case DLOR_DT_F16: return dlor_f16_to_f32(dlor_load_u16(p));
    case DLOR_DT_BF16: return dlor_bf16_to_f32(dlor_load_u16(p));
    default: return 0;
    }
}

/* 1 when v is a one-element float constant within 1e-3 (relative) of want. */
static int const_near(ox_ctx *c, long v, double want)
{
    const ox_tensor *t = const_of(c, v);
    if (!t || t->nelem != 1 || t->ndim > 1 || !dlor_dtype_is_float(t->dt)) return 0;
    return fabs(elem_f64(t, 0) - want) <= 1e-3 * fabs(want);
}

/* The single node consuming v, when v has exactly one use and is not a graph
 * output; -1 otherwise. */
static long sole_use(ox_ctx *c, long v)
{
    if (v < 0 || VAL(c, v).nuse != 1 || VAL(c, v).is_output) return -1;
    return (long)c->uses[VAL(c, v).use0];
}

static long in_v(ox_ctx *c, size_t k, size_t j)
{
    return j < NODE(c, k).nin ? c->in_vals[NODE(c, k).in0 + j] : -1;
}

/* The value of node k's first output; 1 (why set) when it has none or
 * when any other output is used. */
static int main_out(ox_ctx *c, size_t k, long *out)
{
    const ox_node *n = &NODE(c, k);
    if (n->nout == 0 || c->out_vals[n->out0] < 0)
        return why(c, "node %s (%s) has no output", NL(c, k), S(c, n->op));
    for (size_t j = 1; j < n->nout; j++) {
        long v = c->out_vals[n->out0 + j];
        if (v >= 0 && (VAL(c, v).nuse || VAL(c, v).is_output))
            return why(c, "node %s (%s): its output '%s' is used; dlor runs single-output ops",
                       NL(c, k), S(c, n->op), S(c, VAL(c, v).name));
    }
    *out = c->out_vals[n->out0];
    return 0;
}

/* A plain op node: default domain, no attributes, nin inputs, one output. */
static int plain(ox_ctx *c, long k, const char *op, size_t nin)
{
    if (k < 0) return 0;
    const ox_node *n = &NODE(c, k);
    if (!str_is(n->op, op) || !is_default_domain(n->domain) || n->nin != nin || n->nattr) return 0;
    if (n->nout < 1 || c->out_vals[n->out0] < 0) return 0;
    for (size_t j = 1; j < n->nout; j++) {
        long v = c->out_vals[n->out0 + j];
        if (v >= 0 && (VAL(c, v).nuse || VAL(c, v).is_output)) return 0;
    }
    return 1;
}

static long out_of(ox_ctx *c, size_t k) { return c->out_vals[NODE(c, k).out0]; }

static dlor_status push_op(ox_ctx *c, dlor_op_kind kind, long w, long b, dlor_act act, double param)
{
    if (c->ops.n >= DLOR_GRAPH_MAX_OPS)
        return ox_fail(c, DLOR_E_LIMIT, "model graph has more than %d operations", DLOR_GRAPH_MAX_OPS);
    ox_op *o = vec_push(&c->ops, sizeof *o);
    if (!o) return nomem(c);
    o->kind = kind;
    o->w = w;
    o->b = b;
    o->act = act;
    o->param = param;
    return DLOR_OK;
}

/* A normalised copy of initializer src (see the top comment), shared by
 * every use that asks for the same thing. Returns its reference in *ref. */
static dlor_status derive(ox_ctx *c, long src, int kind, double scale, uint64_t n, long *ref)
{
    const ox_tensor *t = &INIT(c, src);
    if (!c->der_head) {
        c->der_head = malloc(c->inits.n * sizeof *c->der_head);
        c->der_count = calloc(c->inits.n, sizeof *c->der_count);
        if (!c->der_head || !c->der_count) return nomem(c);
        for (size_t i = 0; i < c->inits.n; i++) c->der_head[i] = -1;
    }
    for (long i = c->der_head[src]; i >= 0; i = DER(c, i).next) {
        ox_der *d = &DER(c, i);
        if (d->kind == kind && d->scale == scale && d->n == n) {
            d->uses++;
            *ref = REF_DER(i);
            return DLOR_OK;
        }
    }
    ox_der d;
    memset(&d, 0, sizeof d);
    d.src = src;
    d.kind = kind;
    d.scale = scale;
    d.n = n;
    d.uses = 1;
    d.next = c->der_head[src];
    d.dt = (kind & (D_SCALE | D_BCAST)) ? (t->dt == DLOR_DT_F64 ? DLOR_DT_F64 : DLOR_DT_F32) : t->dt;
    size_t es = dlor_dtype_size(d.dt), ses = dlor_dtype_size(t->dt);
    uint64_t ne = (kind & D_BCAST) ? n : t->nelem;
    if (kind & D_TRANSPOSE) {
        d.ndim = 2;
        d.dims[0] = t->dims[1];
        d.dims[1] = t->dims[0];
    } else if (kind & (D_BCAST | D_RESHAPE)) {
        d.ndim = 1;
        d.dims[0] = ne;
    } else {
        d.ndim = t->ndim;
        memcpy(d.dims, t->dims, sizeof d.dims);
    }
    d.nbytes = (size_t)ne * es; /* ne <= elements already in memory, or a weight's row count */
    if (kind == D_RESHAPE) {
        d.data = t->data; /* same bytes, new shape */
    } else {
        unsigned char *p = malloc(d.nbytes ? d.nbytes : 1);
        if (!p) return nomem(c);
        d.block = p;
        d.data = p;
        int copy = d.dt == t->dt && !(kind & (D_SCALE | D_BCAST));
        uint64_t rows = d.dims[0], cols = d.ndim == 2 ? d.dims[1] : 1;
        for (uint64_t di = 0; di < ne; di++) {
            uint64_t si = (kind & D_BCAST) ? 0 : di;
            if (kind & D_TRANSPOSE) si = (di % cols) * rows + di / cols;
            if (copy) {
                memcpy(p + di * es, t->data + si * ses, es);
            } else {
                double x = elem_f64(t, si) * scale;
                dlor_encode_f64(&x, 1, d.dt, p + di * es);
            }
        }
    }
    ox_der *slot = vec_push(&c->ders, sizeof *slot);
    if (!slot) {
        free(d.block);
        return nomem(c);
    }
    *slot = d;
    c->der_head[src] = (long)(c->ders.n - 1);
    c->der_count[src]++;
    *ref = REF_DER(c->ders.n - 1);
    return DLOR_OK;
}

/* The bias reference for an initializer b added to a layer of n outputs,
 * scaled by beta. Returns 1 (with the reason in why) when b's shape does not
 * broadcast as a per-output bias. */
static int bias_ref(ox_ctx *c, size_t k, long bv, uint64_t n, double beta, long *ref, dlor_status *st)
{
    const ox_tensor *b = init_of(c, bv);
    char shape[200];
    *st = DLOR_OK;
    if (!b)
        return why(c, "node %s (%s): bias '%s' is not an initializer", NL(c, k),
                   S(c, NODE(c, k).op), S(c, VAL(c, bv).name));
    if (!dlor_dtype_is_float(b->dt))
        return why(c, "node %s (%s): bias '%s' is %s, not a float tensor", NL(c, k),
                   S(c, NODE(c, k).op), S(c, b->name), dlor_dtype_name(b->dt));
    long src = VAL(c, bv).init;
    if (b->ndim == 1 && b->dims[0] == n) {
        if (beta == 1.0) *ref = src;
        else *st = derive(c, src, D_SCALE, beta, 0, ref);
        return 0;
    }
    if (b->ndim == 2 && b->dims[0] == 1 && b->dims[1] == n) {
        *st = derive(c, src, D_RESHAPE | (beta == 1.0 ? 0 : D_SCALE), beta, 0, ref);
        return 0;
    }
    if (b->nelem == 1 && b->ndim <= 2) {
        *st = derive(c, src, D_BCAST, beta, n, ref);
        return 0;
    }
    return why(c, "node %s (%s): bias '%s' of shape %s does not broadcast to [batch, %llu]",
               NL(c, k), S(c, NODE(c, k).op), S(c, b->name),
               dlor_shape_str(b->dims, b->ndim, shape, sizeof shape), (unsigned long long)n);
}

/* Checks the weight initializer in value wv for a layer of node k: a 2-D
 * float tensor whose input side (dims[in_axis]) matches the chain. */
static int weight_ok(ox_ctx *c, size_t k, ox_walk *w, long wv, int in_axis, const ox_tensor **out)
{
    const ox_node *n = &NODE(c, k);
    const ox_tensor *t = init_of(c, wv);
    char shape[200];
    if (wv < 0) return why(c, "node %s (%s) has no weight input", NL(c, k), S(c, n->op));
    if (!t)
        return why(c, "node %s (%s): weight '%s' is not an initializer", NL(c, k), S(c, n->op),
                   S(c, VAL(c, wv).name));
    if (t->ndim != 2 || !dlor_dtype_is_float(t->dt) || t->nelem == 0)
        return why(c, "node %s (%s): weight '%s' (%s %s) is not a non-empty 2-D float tensor",
                   NL(c, k), S(c, n->op), S(c, t->name), dlor_dtype_name(t->dt),
                   dlor_shape_str(t->dims, t->ndim, shape, sizeof shape));
    if (w->rank >= 0 && w->rank != 2)
        return why(c, "node %s (%s): its input has rank %d; dlor runs layers on [batch, features]",
                   NL(c, k), S(c, n->op), w->rank);
    if (w->feat && t->dims[in_axis] != w->feat)
        return why(c, "node %s (%s): weight '%s' %s takes %llu inputs but the previous layer "
                   "gives %llu", NL(c, k), S(c, n->op), S(c, t->name),
                   dlor_shape_str(t->dims, t->ndim, shape, sizeof shape),
                   (unsigned long long)t->dims[in_axis], (unsigned long long)w->feat);
    *out = t;
    return 0;
}

static int op_gemm(ox_ctx *c, size_t k, ox_walk *w, dlor_status *st)
{
    static const char *const allowed[] = {"alpha", "beta", "transA", "transB", NULL};
    const ox_node *n = &NODE(c, k);
    const ox_tensor *t;
    double alpha, beta;
    int64_t ta, tb;
    long wref, bref = REF_NONE, out;
    if (n->nin < 2 || n->nin > 3)
        return why(c, "node %s: Gemm has %zu inputs (expected 2 or 3)", NL(c, k), n->nin);
    if (in_v(c, k, 0) != w->cur)
        return why(c, "node %s: Gemm takes the chain's value as B or C, not as A", NL(c, k));
    if (check_attrs(c, k, allowed) || get_float(c, k, "alpha", 1.0, &alpha) ||
        get_float(c, k, "beta", 1.0, &beta) || get_int(c, k, "transA", 0, &ta) ||
        get_int(c, k, "transB", 0, &tb))
        return 1;
    if (ta != 0) return why(c, "node %s: Gemm transA = %lld is not supported", NL(c, k), (long long)ta);
    if (tb != 0 && tb != 1)
        return why(c, "node %s: Gemm transB = %lld (expected 0 or 1)", NL(c, k), (long long)tb);
    if (weight_ok(c, k, w, in_v(c, k, 1), tb ? 1 : 0, &t)) return 1;
    uint64_t nout = t->dims[tb ? 0 : 1];
    long src = VAL(c, in_v(c, k, 1)).init;
    if (tb == 1 && alpha == 1.0) wref = src;
    else if ((*st = derive(c, src, (tb ? 0 : D_TRANSPOSE) | (alpha != 1.0 ? D_SCALE : 0), alpha, 0, &wref)))
        return -1;
    if (n->nin == 3 && in_v(c, k, 2) >= 0) {
        if (in_v(c, k, 2) == w->cur) return why(c, "node %s: Gemm adds the chain's value as C", NL(c, k));
        if (bias_ref(c, k, in_v(c, k, 2), nout, beta, &bref, st)) return 1;
        if (*st) return -1;
    }
    if (main_out(c, k, &out)) return 1;
    if ((*st = push_op(c, DLOR_OP_LINEAR, wref, bref, DLOR_ACT_IDENTITY, 0))) return -1;
    NODE(c, k).visited = 1;
    w->cur = out;
    w->rank = 2;
    w->feat = nout;
    return 0;
}

static int op_matmul(ox_ctx *c, size_t k, ox_walk *w, dlor_status *st)
{
    const ox_node *n = &NODE(c, k);
    const ox_tensor *t;
    long wref, bref = REF_NONE, out;
    if (n->nin != 2) return why(c, "node %s: MatMul has %zu inputs", NL(c, k), n->nin);
    if (in_v(c, k, 0) != w->cur)
        return why(c, "node %s: MatMul multiplies the chain's value from the right (W @ x); dlor "
                   "runs x @ W", NL(c, k));
    if (check_attrs(c, k, NULL) || weight_ok(c, k, w, in_v(c, k, 1), 0, &t) || main_out(c, k, &out))
        return 1;
    uint64_t nout = t->dims[1];
    if ((*st = derive(c, VAL(c, in_v(c, k, 1)).init, D_TRANSPOSE, 1.0, 0, &wref))) return -1;
    NODE(c, k).visited = 1;
    /* MatMul then Add(initializer) is a linear layer with a bias */
    long a = sole_use(c, out);
    if (plain(c, a, "Add", 2)) {
        long other = in_v(c, (size_t)a, 0) == out ? in_v(c, (size_t)a, 1) : in_v(c, (size_t)a, 0);
        const ox_tensor *b = init_of(c, other);
        if (other != out && b && dlor_dtype_is_float(b->dt) && b->ndim <= 2 &&
            (b->nelem == 1 || b->dims[b->ndim - 1] == nout) && (b->ndim < 2 || b->dims[0] == 1)) {
            if (bias_ref(c, (size_t)a, other, nout, 1.0, &bref, st)) return 1;
            if (*st) return -1;
            NODE(c, a).visited = 1;
            out = out_of(c, (size_t)a);
        }
    }
    if ((*st = push_op(c, DLOR_OP_LINEAR, wref, bref, DLOR_ACT_IDENTITY, 0))) return -1;
    w->cur = out;
    w->rank = 2;
    w->feat = nout;
    return 0;
}

static int op_reshape(ox_ctx *c, size_t k, ox_walk *w)
{
    static const char *const allowed[] = {"allowzero", NULL};
    const ox_node *n = &NODE(c, k);
    int64_t allowzero;
    if (n->nin != 2 || in_v(c, k, 0) != w->cur)
        return why(c, "node %s: Reshape must take the chain's value and a shape", NL(c, k));
    if (check_attrs(c, k, allowed) || get_int(c, k, "allowzero", 0, &allowzero)) return 1;
    const ox_tensor *s = const_of(c, in_v(c, k, 1));
    if (!s || s->dt != DLOR_DT_I64 || s->ndim != 1 || s->nelem != 2)
        return why(c, "node %s: Reshape's shape must be a constant INT64 vector of 2 values "
                   "[batch, features]", NL(c, k));
    int64_t a = (int64_t)dlor_load_u64(s->data), b = (int64_t)dlor_load_u64(s->data + 8);
    if (w->rank >= 0 && w->rank != 2 && !(b == -1 && a >= 0 && !allowzero))
        return why(c, "node %s: Reshape [%lld, %lld] of a rank-%d value is not a no-op", NL(c, k),
                   (long long)a, (long long)b, w->rank);
    if (a < -1 || (a == 0 && allowzero) || b < -1 || b == 0 || (a == -1 && b == -1))
        return why(c, "node %s: Reshape to [%lld, %lld] is not a no-op on [batch, features]",
                   NL(c, k), (long long)a, (long long)b);
    if (b > 0 && w->feat && (uint64_t)b != w->feat)
        return why(c, "node %s: Reshape to [%lld, %lld] changes the %llu features", NL(c, k),
                   (long long)a, (long long)b, (unsigned long long)w->feat);
    if (b > 0) w->feat = (uint64_t)b;
    w->rank = 2;
    return 0;
}

static int op_single(ox_ctx *c, size_t k, ox_walk *w, dlor_status *st)
{
    static const char *const none[] = {NULL};
    static const char *const leaky[] = {"alpha", NULL};
    static const char *const gelu[] = {"approximate", NULL};
    static const char *const axis[] = {"axis", NULL};
    static const struct { const char *op; dlor_act act; } simple[] = {
        {"Relu", DLOR_ACT_RELU}, {"Sigmoid", DLOR_ACT_SIGMOID}, {"Tanh", DLOR_ACT_TANH},
        {"Softplus", DLOR_ACT_SOFTPLUS}};
    const ox_node *n = &NODE(c, k);
    long out;
    int kind = -1; /* act code, or 100 softmax, 101 no-op */
    double param = 0;
    if (str_is(n->op, "Gemm")) return op_gemm(c, k, w, st);
    if (str_is(n->op, "MatMul")) return op_matmul(c, k, w, st);
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (str_is(n->op, simple[i].op)) {
            if (check_attrs(c, k, none)) return 1;
            kind = (int)simple[i].act;
        }
    if (str_is(n->op, "LeakyRelu")) {
        if (check_attrs(c, k, leaky) || get_float(c, k, "alpha", (double)0.01f, &param)) return 1;
        kind = DLOR_ACT_LEAKY_RELU;
    } else if (str_is(n->op, "Gelu")) {
        const ox_attr *a = find_attr(c, k, "approximate");
        if (c->opset < 20)
            return why(c, "node %s: Gelu needs opset 20 but the model imports opset %lld", NL(c, k),
                       (long long)c->opset);
        if (check_attrs(c, k, gelu) || (a && attr_type_ok(c, k, a, AT_STRING))) return 1;
        if (!a || str_is(a->s, "none")) kind = DLOR_ACT_GELU_ERF;
        else if (str_is(a->s, "tanh")) kind = DLOR_ACT_GELU_TANH;
        else return why(c, "node %s: Gelu approximate = '%s' (expected none or tanh)", NL(c, k), S(c, a->s));
    } else if (str_is(n->op, "Softmax")) {
        int64_t ax;
        if (check_attrs(c, k, axis) || get_int(c, k, "axis", c->opset >= 13 ? -1 : 1, &ax)) return 1;
        if ((ax != -1 && ax != 1) || (w->rank >= 0 && w->rank != 2))
            return why(c, "node %s: Softmax over axis %lld of a rank-%d value is not over the "
                       "features of each sample", NL(c, k), (long long)ax, w->rank < 0 ? 2 : w->rank);
        kind = 100;
    } else if (str_is(n->op, "Flatten")) {
        int64_t ax;
        if (check_attrs(c, k, axis) || get_int(c, k, "axis", 1, &ax)) return 1;
        if (w->rank >= 0 && ax < 0) ax += w->rank;
        if (ax != 1 || w->rank == 1 || w->rank == 0)
            return why(c, "node %s: Flatten with axis %lld does not keep the batch axis", NL(c, k),
                       (long long)ax);
        w->rank = 2;
        kind = 101;
    } else if (str_is(n->op, "Identity")) {
        if (check_attrs(c, k, none)) return 1;
        kind = 101;
    } else if (str_is(n->op, "Reshape")) {
        if (op_reshape(c, k, w)) return 1;
        kind = 101;
    } else if (str_is(n->op, "Add")) {
        return why(c, "node %s: Add is supported only right after MatMul, adding an initializer "
                   "bias of one value per output", NL(c, k));
    } else if (kind < 0) {
        return why(c, "node %s: operator %s is not supported", NL(c, k), S(c, n->op));
    }
    if (!str_is(n->op, "Reshape") && (n->nin != 1 || in_v(c, k, 0) != w->cur))
        return why(c, "node %s: %s must have the chain's value as its only input", NL(c, k),
                   S(c, n->op));
    if (main_out(c, k, &out)) return 1;
    if (kind == 100) *st = push_op(c, DLOR_OP_SOFTMAX, REF_NONE, REF_NONE, DLOR_ACT_IDENTITY, 0);
    else if (kind != 101) *st = push_op(c, DLOR_OP_ACT, REF_NONE, REF_NONE, (dlor_act)kind, param);
    if (*st) return -1;
    NODE(c, k).visited = 1;
    w->cur = out;
    return 0;
}

/* x -> Sigmoid -> Mul(x, .): SiLU. */
static int try_silu(ox_ctx *c, ox_walk *w, size_t s, size_t m, dlor_status *st)
{
    if (!plain(c, (long)s, "Sigmoid", 1) || !plain(c, (long)m, "Mul", 2) || in_v(c, s, 0) != w->cur)
        return 1;
    long so = out_of(c, s);
    if (sole_use(c, so) != (long)m) return 1;
    if (!((in_v(c, m, 0) == w->cur && in_v(c, m, 1) == so) ||
          (in_v(c, m, 1) == w->cur && in_v(c, m, 0) == so)))
        return 1;
    if ((*st = push_op(c, DLOR_OP_ACT, REF_NONE, REF_NONE, DLOR_ACT_SILU, 0))) return -1;
    NODE(c, s).visited = NODE(c, m).visited = 1;
    w->cur = out_of(c, m);
    return 0;
}

/* The other input of binary node k (one of whose inputs is v), or -2. */
static long other_in(ox_ctx *c, size_t k, long v)
{
    if (in_v(c, k, 0) == v) return in_v(c, k, 1);
    if (in_v(c, k, 1) == v) return in_v(c, k, 0);
    return -2;
}

/* Div(x, sqrt 2) -> Erf -> Add(., 1) -> Mul(x, .) -> Mul(., 0.5), or with
 * the half first: Mul(x, 0.5) -> Mul(., Add(...)). Operands in any order. */
static int try_gelu(ox_ctx *c, ox_walk *w, size_t d, size_t m, dlor_status *st)
{
    long x = w->cur;
    if (!plain(c, (long)d, "Div", 2) || !plain(c, (long)m, "Mul", 2) || in_v(c, d, 0) != x ||
        !const_near(c, in_v(c, d, 1), 1.4142135623730951))
        return 1;
    long e = sole_use(c, out_of(c, d));
    if (!plain(c, e, "Erf", 1)) return 1;
    long a = sole_use(c, out_of(c, (size_t)e));
    if (!plain(c, a, "Add", 2) || !const_near(c, other_in(c, (size_t)a, out_of(c, (size_t)e)), 1.0))
        return 1;
    long ao = out_of(c, (size_t)a), mo = out_of(c, m), last;
    long m2 = sole_use(c, ao), h;
    if (m2 == (long)m && other_in(c, m, ao) == x) {
        h = sole_use(c, mo);
        if (!plain(c, h, "Mul", 2) || !const_near(c, other_in(c, (size_t)h, mo), 0.5)) return 1;
    } else if (const_near(c, other_in(c, m, x), 0.5) && plain(c, m2, "Mul", 2) &&
               sole_use(c, mo) == m2 && other_in(c, (size_t)m2, mo) == ao) {
        h = m2;
    } else {
        return 1;
    }
    last = h;
    if ((*st = push_op(c, DLOR_OP_ACT, REF_NONE, REF_NONE, DLOR_ACT_GELU_ERF, 0))) return -1;
    NODE(c, d).visited = NODE(c, e).visited = NODE(c, a).visited = 1;
    NODE(c, m).visited = NODE(c, last).visited = 1;
    w->cur = out_of(c, (size_t)last);
    return 0;
}

/* 0: the graph is a chain (ops filled); 1: it is not (why set); -1: error. */
static int recover(ox_ctx *c, dlor_status *st)
{
    *st = DLOR_OK;
    for (size_t k = 0; k < c->nodes.n; k++) {
        const ox_node *n = &NODE(c, k);
        if (!is_default_domain(n->domain))
            return why(c, "node %s: operator %s of domain '%s' is not supported (dlor runs the "
                       "default ONNX domain)", NL(c, k), S(c, n->op), S(c, n->domain));
    }
    if (!c->opset_seen)
        return why(c, "the model imports no opset of the default ONNX domain");
    if (c->opset_conflict)
        return why(c, "the model imports two different opsets of the default ONNX domain");
    if (c->opset < 1 || c->opset > OX_MAX_OPSET)
        return why(c, "the model imports opset %lld of the default domain; dlor knows opsets 1 "
                   "to %d", (long long)c->opset, OX_MAX_OPSET);
    long in = -1;
    size_t ndata = 0;
    for (size_t i = 0; i < c->ginputs.n; i++) {
        long v = lookup(c, GIN(c, i).name);
        if (VAL(c, v).init < 0) ndata++, in = (long)i;
    }
    if (ndata != 1)
        return why(c, "the model has %zu inputs besides its initializers; dlor runs single-input "
                   "chains", ndata);
    if (c->goutputs.n != 1)
        return why(c, "the model has %zu outputs; dlor runs single-output chains", c->goutputs.n);
    ox_walk w = {lookup(c, GIN(c, in).name), GIN(c, in).rank, GIN(c, in).feat};
    long outv = lookup(c, GOUT(c, 0));
    for (size_t steps = 0;; steps++) {
        const ox_value *v = &VAL(c, w.cur);
        int rc;
        if (steps > c->nodes.n) return why(c, "the graph loops");
        if (v->nuse == 0) {
            if (w.cur == outv) break;
            return why(c, "value '%s' is neither used by a node nor the graph output",
                       S(c, v->name));
        }
        if (v->is_output)
            return why(c, "value '%s' is the graph output and also feeds a node", S(c, v->name));
        if (v->nuse == 1) {
            rc = op_single(c, c->uses[v->use0], &w, st);
        } else if (v->nuse == 2) {
            size_t a = c->uses[v->use0], b = c->uses[v->use0 + 1];
            rc = 1;
            if (a != b) {
                rc = try_silu(c, &w, a, b, st);
                if (rc > 0) rc = try_silu(c, &w, b, a, st);
                if (rc > 0) rc = try_gelu(c, &w, a, b, st);
                if (rc > 0) rc = try_gelu(c, &w, b, a, st);
            }
            if (rc > 0)
                return why(c, "value '%s' feeds two nodes (%s %s and %s %s) that are not the GELU "
                           "or SiLU pattern; dlor runs straight chains", S(c, v->name), NL(c, a),
                           S(c, NODE(c, a).op), NL(c, b), S(c, NODE(c, b).op));
        } else {
            return why(c, "value '%s' feeds %u node inputs; dlor runs straight chains",
                       S(c, v->name), v->nuse);
        }
        if (rc) return rc;
    }
    for (size_t k = 0; k < c->nodes.n; k++) {
        const ox_node *n = &NODE(c, k);
        if (!n->visited && !(str_is(n->op, "Constant") && n->nin == 0))
            return why(c, "node %s (%s) is not on the chain from the model's input to its output",
                       NL(c, k), S(c, n->op));
    }
    int linear = 0;
    for (size_t i = 0; i < c->ops.n; i++) linear |= OP(c, i).kind == DLOR_OP_LINEAR;
    if (!linear) return why(c, "the graph has no Gemm or MatMul layer");
    return 0;
}

/* ---- output ----------------------------------------------------------------- */

/* 1 when name is the name of an initializer or of a copy already named
 * with a suffix (those are in c->dhash). */
static int name_taken(ox_ctx *c, const char *name)
{
    ox_str s = {(const unsigned char *)name, strlen(name)};
    long v = lookup(c, s);
    if (v >= 0 && VAL(c, v).init >= 0) return 1;
    size_t m = c->dhash_cap - 1;
    for (size_t i = hash_str(s) & m; c->dhash[i]; i = (i + 1) & m)
        if (strcmp(DER(c, c->dhash[i] - 1).name, name) == 0) return 1;
    return 0;
}

/* Names the copies and decides which replace their initializer. */
static dlor_status name_ders(ox_ctx *c)
{
    size_t cap = 16;
    while (cap < 2 * c->ders.n + 1) cap *= 2;
    c->dhash_cap = cap;
    c->dhash = calloc(cap, sizeof *c->dhash);
    if (!c->dhash) return nomem(c);
    for (size_t i = 0; i < c->ders.n; i++) {
        ox_der *d = &DER(c, i);
        const ox_tensor *t = &INIT(c, d->src);
        long v = lookup(c, t->name);
        d->replaces = c->der_count[d->src] == 1 && d->uses == VAL(c, v).nuse &&
                      !VAL(c, v).is_output && VAL(c, v).input < 0;
        d->name = malloc(DLOR_MAX_NAME + 1);
        if (!d->name) return nomem(c);
        if (d->replaces) {
            memcpy(d->name, t->name.p, t->name.n);
            d->name[t->name.n] = 0;
            continue;
        }
        for (unsigned k = 1;; k++) {
            char suffix[24];
            int sl = snprintf(suffix, sizeof suffix, ".dlor%u", k);
            size_t base = t->name.n;
            if (base > DLOR_MAX_NAME - (size_t)sl) {
                base = DLOR_MAX_NAME - (size_t)sl;
                while (base > 0 && (t->name.p[base] & 0xc0) == 0x80) base--;
            }
            memcpy(d->name, t->name.p, base);
            memcpy(d->name + base, suffix, (size_t)sl + 1);
            if (!name_taken(c, d->name)) break;
        }
        ox_str ns = {(const unsigned char *)d->name, strlen(d->name)};
        size_t j = hash_str(ns) & (cap - 1);
        while (c->dhash[j]) j = (j + 1) & (cap - 1);
        c->dhash[j] = (uint32_t)(i + 1);
    }
    return DLOR_OK;
}

static const char *ref_name(ox_ctx *c, long ref, const size_t *init_item)
{
    if (ref == REF_NONE) return NULL;
    if (ref >= 0) return c->out->items[init_item[ref]].name;
    return c->out->items[DER(c, -2 - ref).item].name;
}

/* Adds the tensors (normalised when 'graphed') to c->out, then the ops to
 * graph. */
static dlor_status emit(ox_ctx *c, int graphed, dlor_graph *graph)
{
    dlor_status s;
    long *rep = NULL;
    size_t *init_item = NULL;
    if (c->inits.n) {
        rep = malloc(c->inits.n * sizeof *rep);
        init_item = malloc(c->inits.n * sizeof *init_item);
        if (!rep || !init_item) {
            free(rep);
            free(init_item);
            return nomem(c);
        }
        for (size_t i = 0; i < c->inits.n; i++) rep[i] = -1;
    }
    if (graphed) {
        if ((s = name_ders(c))) goto done;
        for (size_t i = 0; i < c->ders.n; i++) {
            ox_der *d = &DER(c, i);
            if (d->replaces) rep[d->src] = (long)i;
            if (d->block) {
                void *b = d->block;
                d->block = NULL;
                if ((s = dlor_tensor_list_own(c->out, b, c->err))) {
                    s = nomem(c);
                    goto done;
                }
            }
        }
    }
    for (size_t i = 0; i < c->inits.n; i++) {
        const ox_tensor *t = &INIT(c, i);
        init_item[i] = c->out->count;
        if (rep[i] >= 0) {
            ox_der *d = &DER(c, rep[i]);
            d->item = c->out->count;
            s = dlor_tensor_list_add(c->out, c->what, (const char *)t->name.p, t->name.n, d->dt,
                                     d->ndim, d->dims, d->data, d->nbytes, c->err);
        } else {
            s = dlor_tensor_list_add(c->out, c->what, (const char *)t->name.p, t->name.n, t->dt,
                                     t->ndim, t->dims, t->data, t->nbytes, c->err);
        }
        if (s) goto done;
    }
    for (size_t i = 0; graphed && i < c->ders.n; i++) {
        ox_der *d = &DER(c, i);
        if (d->replaces) continue;
        d->item = c->out->count;
        if ((s = dlor_tensor_list_add(c->out, c->what, d->name, strlen(d->name), d->dt, d->ndim,
                                      d->dims, d->data, d->nbytes, c->err)))
            goto done;
    }
    if ((s = dlor_tensor_list_check_unique(c->out, c->what, c->err))) goto done;
    for (size_t i = 0; graphed && i < c->ops.n; i++) {
        const ox_op *o = &OP(c, i);
        if (o->kind == DLOR_OP_LINEAR)
            s = dlor_graph_add_linear(graph, ref_name(c, o->w, init_item), ref_name(c, o->b, init_item),
                                      c->err);
        else if (o->kind == DLOR_OP_ACT) s = dlor_graph_add_act(graph, o->act, o->param, c->err);
        else s = dlor_graph_add_softmax(graph, c->err);
        if (s) {
            dlor_error_prefix(c->err, c->what);
            goto done;
        }
    }
    if (graphed) {
        dlor_error e;
        dlor_status cs = dlor_graph_check(graph, c->out, c->what, NULL, NULL, &e);
        if (cs == DLOR_E_NOMEM) { /* an error, not a reason to go without a graph */
            s = dlor_fail(c->err, cs, "%s", e.msg);
            goto done;
        }
        if (cs != DLOR_OK) {
            /* should not happen: the walk checked the shapes already */
            size_t wl = strlen(c->what);
            const char *m = strncmp(e.msg, c->what, wl) == 0 && e.msg[wl] == ':' ? e.msg + wl + 2 : e.msg;
            why(c, "%s", m);
            dlor_graph_free(graph);
        }
    }
    s = DLOR_OK;
done:
    free(rep);
    free(init_item);
    return s;
}

static void ctx_free(ox_ctx *c)
{
    for (size_t i = 0; i < c->ders.n; i++) {
        free(DER(c, i).block);
        free(DER(c, i).name);
    }
    free(c->inits.p);
    free(c->consts.p);
    free(c->nodes.p);
    free(c->ins.p);
    free(c->outs.p);
    free(c->attrs.p);
    free(c->ginputs.p);
    free(c->goutputs.p);
    free(c->in_vals);
    free(c->out_vals);
    free(c->vals.p);
    free(c->hash);
    free(c->uses);
    free(c->ders.p);
    free(c->ops.p);
    free(c->der_head);
    free(c->der_count);
    free(c->dhash);
}

dlor_status dlor_onnx_parse(const unsigned char *buf, size_t len, const char *what,
                            const char *model_dir, dlor_tensor_list *out, dlor_graph *graph,
                            char *why_buf, size_t why_len, dlor_error *err)
{
    ox_ctx c;
    dlor_status s;
    int rc = 1;
    memset(&c, 0, sizeof c);
    c.what = what;
    c.model_dir = model_dir;
    c.err = err;
    c.out = out;
    c.why = why_buf;
    c.why_len = why_len;
    if (why_buf && why_len) why_buf[0] = 0;
    if (graph) dlor_graph_free(graph);
    if (!(s = parse_model(&c, buf, len)) && !(s = build_values(&c))) {
        if (graph) {
            rc = recover(&c, &s);
        } else {
            why(&c, "no graph was asked for");
        }
        if (!s) s = emit(&c, rc == 0, graph);
    }
    ctx_free(&c);
    if (s) {
        dlor_tensor_list_free(out);
        if (graph) dlor_graph_free(graph);
        if (why_buf && why_len) why_buf[0] = 0;
    }
    return s;
}

dlor_status dlor_read_onnx(const char *path, dlor_tensor_list *out, dlor_graph *graph, char *why_buf,
                           size_t why_len, dlor_error *err)
{
    unsigned char *buf;
    size_t len;
    dlor_status s;
    if (why_buf && why_len) why_buf[0] = 0;
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 1;
    char *dir = malloc(dl + 2);
    if (!dir) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
    if (!slash) strcpy(dir, ".");
    else if (dl == 0) strcpy(dir, "/");
    else {
        memcpy(dir, path, dl);
        dir[dl] = 0;
    }
    if ((s = dlor_file_read(path, DLOR_MAX_INPUT_BYTES, &buf, &len, err))) {
        free(dir);
        return s;
    }
    /* the list owns the bytes from here on, so freeing it on failure frees them */
    if ((s = dlor_tensor_list_own(out, buf, err))) {
        dlor_error_prefix(err, path);
        free(dir);
        return s;
    }
    s = dlor_onnx_parse(buf, len, path, dir, out, graph, why_buf, why_len, err);
    free(dir);
    return s;
}
