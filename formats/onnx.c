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
 * Identity / Reshape, LayerNormalization over the last axis, and the SiLU,
 * exported-GELU and decomposed-LayerNorm patterns (constants within 1e-3
 * relative). A value that also feeds an Add of two computed values starts a
 * residual branch: the walk follows the branch and, at that Add, adds the
 * value back. With a LayerNorm or a residual Add the graph is handed back as
 * a graph of values (DLOR_FORMAT.md 7.7), otherwise as a chain. Weights and biases must be initializers; Constant
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
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_fileio.h"
#include "onnx_internal.h"

static const char *const onnx_type_names[] = {
    "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
    "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
    "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4",
    "FLOAT4E2M1", "FLOAT8E8M0", "UINT2", "INT2"};

void *ox_vec_push(ox_vec *v, size_t es)
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

int ox_str_is(ox_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

int ox_str_eq(ox_str a, ox_str b) { return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0); }

/* A name made printable for a message: control bytes become '?', long names
 * are cut at a UTF-8 boundary and marked "...". Eight rotating buffers: a
 * message may use up to eight S/NL/def_kind results (NL takes two, def_kind three). */
const char *ox_s(ox_ctx *c, ox_str s)
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
const char *ox_nl(ox_ctx *c, size_t k)
{
    const ox_node *n = &NODE(c, k);
    if (n->name.n == 0) {
        char *buf = c->show[c->showi++ % 8];
        snprintf(buf, sizeof c->show[0], "#%zu", k);
        return buf;
    }
    const char *nm = ox_s(c, n->name);
    char *buf = c->show[c->showi++ % 8];
    snprintf(buf, sizeof c->show[0], "'%s'", nm);
    return buf;
}

const char *ox_type_name(int64_t t)
{
    if (t >= 0 && t < (int64_t)(sizeof onnx_type_names / sizeof onnx_type_names[0]))
        return onnx_type_names[t];
    return "unknown";
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
dlor_status ox_fail(ox_ctx *c, dlor_status code, const char *fmt, ...)
{
    char msg[DLOR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dlor_fail(c->err, code, "%s: %s", c->what, msg);
}

/* Adds "<what>: <label>: " in front of a protobuf-level message. */
dlor_status ox_pb_err(ox_ctx *c, dlor_status s, const char *label)
{
    if (label) dlor_error_prefix(c->err, label);
    dlor_error_prefix(c->err, c->what);
    return s;
}

dlor_status ox_nomem(ox_ctx *c) { return ox_fail(c, DLOR_E_NOMEM, "out of memory"); }

dlor_status ox_want_wt(ox_ctx *c, const dlor_pb_field *f, int wt, const char *label,
                           const char *field)
{
    if (f->wt == wt) return DLOR_OK;
    return ox_fail(c, DLOR_E_FORMAT, "%s: field %s (%u) at byte %zu has wire type %s, expected %s",
                   label, field, f->num, f->offset, dlor_pb_wt_name(f->wt), dlor_pb_wt_name(wt));
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int ox_why(ox_ctx *c, const char *fmt, ...)
{
    if (c->why && c->why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->why_len, fmt, ap);
        va_end(ap);
    }
    return 1;
}

dlor_dtype ox_dtype_of(int64_t t)
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
int ox_typed_field_for(int64_t t)
{
    switch (t) {
    case OT_FLOAT: return TF_FLOAT;
    case OT_DOUBLE: return TF_DOUBLE;
    case OT_INT64: return TF_INT64;
    case OT_UINT32: case OT_UINT64: return TF_UINT64;
    default: return TF_INT32;
    }
}


/* ---- values: names, definitions, uses ------------------------------------- */

uint32_t ox_hash_str(ox_str s)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < s.n; i++) h = (h ^ s.p[i]) * 16777619u;
    return h;
}

long ox_lookup(const ox_ctx *c, ox_str s)
{
    size_t m = c->hash_cap - 1, i = ox_hash_str(s) & m;
    for (; c->hash[i]; i = (i + 1) & m)
        if (ox_str_eq(VAL(c, c->hash[i] - 1).name, s)) return (long)c->hash[i] - 1;
    return -1;
}

static long insert(ox_ctx *c, ox_str s)
{
    size_t m = c->hash_cap - 1, i = ox_hash_str(s) & m;
    while (c->hash[i]) i = (i + 1) & m;
    ox_value *v = ox_vec_push(&c->vals, sizeof *v); /* capacity reserved: never fails */
    v->name = s;
    v->init = v->input = v->node = -1;
    c->hash[i] = (uint32_t)c->vals.n;
    return (long)c->vals.n - 1;
}

static const char *def_kind(ox_ctx *c, const ox_value *v)
{
    char *buf = c->show[c->showi++ % 8];
    if (v->node >= 0) snprintf(buf, sizeof c->show[0], "node %s", ox_nl(c, (size_t)v->node));
    else if (v->init >= 0) snprintf(buf, sizeof c->show[0], "an initializer");
    else snprintf(buf, sizeof c->show[0], "a graph input");
    return buf;
}

dlor_status ox_build_values(ox_ctx *c)
{
    size_t nmax = c->inits.n + c->ginputs.n + c->outs.n, cap = 16;
    while (cap < 2 * nmax + 1) cap *= 2;
    c->hash_cap = cap;
    c->hash = calloc(cap, sizeof *c->hash);
    c->vals.p = malloc((nmax ? nmax : 1) * sizeof(ox_value));
    c->in_vals = malloc((c->ins.n ? c->ins.n : 1) * sizeof *c->in_vals);
    c->out_vals = malloc((c->outs.n ? c->outs.n : 1) * sizeof *c->out_vals);
    if (!c->hash || !c->vals.p || !c->in_vals || !c->out_vals) return ox_nomem(c);
    c->vals.cap = nmax ? nmax : 1;
    for (size_t i = 0; i < c->inits.n; i++) {
        ox_str nm = INIT(c, i).name;
        if (ox_lookup(c, nm) >= 0)
            return ox_fail(c, DLOR_E_FORMAT, "initializer '%s' appears twice", ox_s(c, nm));
        VAL(c, insert(c, nm)).init = (long)i;
    }
    for (size_t i = 0; i < c->ginputs.n; i++) {
        ox_str nm = GIN(c, i).name;
        long v = ox_lookup(c, nm);
        if (v >= 0 && VAL(c, v).input >= 0)
            return ox_fail(c, DLOR_E_FORMAT, "graph input '%s' is listed twice", ox_s(c, nm));
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
                v = ox_lookup(c, nm);
                if (v < 0)
                    return ox_fail(c, DLOR_E_FORMAT,
                                   "node %s (%s) uses '%s', which is not defined before it (an "
                                   "undefined name, or nodes out of topological order)",
                                   ox_nl(c, k), ox_s(c, n->op), ox_s(c, nm));
                VAL(c, v).nuse++;
                total_uses++;
            }
            c->in_vals[n->in0 + j] = v;
        }
        for (size_t j = 0; j < n->nout; j++) {
            ox_str nm = OUTS(c, n->out0 + j);
            long v = -1;
            if (nm.n) {
                v = ox_lookup(c, nm);
                if (v >= 0)
                    return ox_fail(c, DLOR_E_FORMAT,
                                   "node %s (%s) redefines '%s', already defined by %s (each "
                                   "value must be assigned once)", ox_nl(c, k), ox_s(c, n->op), ox_s(c, nm),
                                   def_kind(c, &VAL(c, v)));
                v = insert(c, nm);
                VAL(c, v).node = (long)k;
            }
            c->out_vals[n->out0 + j] = v;
        }
    }
    for (size_t i = 0; i < c->goutputs.n; i++) {
        long v = ox_lookup(c, GOUT(c, i));
        if (v < 0)
            return ox_fail(c, DLOR_E_FORMAT, "graph output '%s' is not defined by any node, input or "
                           "initializer", ox_s(c, GOUT(c, i)));
        VAL(c, v).is_output++;
    }
    c->uses = malloc((total_uses ? total_uses : 1) * sizeof *c->uses);
    if (!c->uses) return ox_nomem(c);
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
    free(c->pending.p);
    free(c->dagv);
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
    if (!(s = ox_parse_model(&c, buf, len)) && !(s = ox_build_values(&c))) {
        if (graph) {
            rc = ox_recover(&c, &s);
        } else {
            ox_why(&c, "no graph was asked for");
        }
        if (!s) s = ox_emit(&c, rc == 0, graph);
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

