/* dlor_image_graph.c - the graph of a .dlor image: checking the chain GRAPH
 * section (DLOR_FORMAT.md 7.4) or the DAG section (7.7), and walking either as
 * a DAG (7.8), so that one walk serves both. C99 + libc, no allocation. */
#include <string.h>

#include "dlor_image.h"
#include "dlor_image_internal.h"

#define ld16 dlor__ld16
#define ld32 dlor__ld32
#define ld64 dlor__ld64
/* doubles tested on their bits: validating an image links no double arithmetic */
#define finite_d dlor__finite_d
#define nonzero_d dlor__nonzero_d
#define positive_d dlor__positive_d
#define negative_d(d) ((dlor__dbits(d) >> 63) && nonzero_d(d)) /* d < 0 for a finite d */

/* ---- chains (7.4) ------------------------------------------------------------ */

static int check_chain(dlor_image *img, dlor_image_error *err)
{
    uint64_t cur = 0;
    int have = 0;
    /* an open BRANCH group (DLOR_FORMAT.md 7.4): input width (0 until a LINEAR has
     * run), the width of its branches' outputs, whether the branch has a LINEAR */
    int in_group = 0, gout_set = 0, branch_linear = 0;
    uint64_t gin = 0, gout = 0;
    for (uint32_t i = 0; i < img->nops; i++) {
        const unsigned char *r = img->graph + (uint64_t)i * DLOR_IMAGE_GRAPH_REC;
        dlor_image_op op;
        dlor_image_op_at(img, i, &op);
        if (!dlor__all_zero(r + 4, 4) || !dlor__all_zero(r + 20, 4) || (ld32(r + 16) & ~DLOR_IMAGE_OP_LAYER))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: reserved bytes are not zero", (unsigned)i);
        if (op.kind == DLOR_IMAGE_OP_BRANCH || op.kind == DLOR_IMAGE_OP_MERGE) {
            if (op.kind == DLOR_IMAGE_OP_BRANCH &&
                (op.act != 0 || !finite_d(op.param) || op.is_layer || ld32(r + 8) != 0 || ld32(r + 12) != 0))
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: branch with operands or a bad weight",
                            (unsigned)i);
            if (op.kind == DLOR_IMAGE_OP_MERGE && (op.act != 0 || nonzero_d(op.param) || op.is_layer || ld32(r + 8) != 0))
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: merge with operands", (unsigned)i);
            if (op.kind == DLOR_IMAGE_OP_MERGE && !in_group)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: merge without a branch", (unsigned)i);
            if (in_group) {
                if (!branch_linear)
                    return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: the branch before it has no linear operation",
                                (unsigned)i);
                if (gout_set && cur != gout)
                    return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: a branch gives %llu features, the first one %llu",
                                (unsigned)i, (unsigned long long)cur, (unsigned long long)gout);
                gout = cur;
                gout_set = 1;
            }
            if (op.kind == DLOR_IMAGE_OP_BRANCH) {
                if (!in_group) gin = cur;
                in_group = 1;
                branch_linear = 0;
                cur = gin;
                have = have || gin != 0;
                continue;
            }
            if (op.bias != DLOR_IMAGE_NO_TENSOR) {
                dlor_image_tensor t;
                if (op.bias >= img->ntensors)
                    return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: bias index %u out of range",
                                (unsigned)i, (unsigned)op.bias);
                dlor_image_tensor_at(img, op.bias, &t);
                if (t.ndim != 1 || t.dims[0] != gout || !dlor__is_float_dtype(t.dtype))
                    return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: bias '%.*s' is not a float vector of length %llu",
                                (unsigned)i, (int)(t.name_len < 64 ? t.name_len : 64), t.name, (unsigned long long)gout);
            }
            in_group = gout_set = 0;
            cur = gout;
            continue;
        }
        if (op.kind == DLOR_IMAGE_OP_ACT && dlor__rt_node_left_out(K_ACT, op.act))
            return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED,
                                    "graph op %u: activation %d is left out of this build of the runtime (%s)",
                                    (unsigned)i, op.act, dlor__rt_node_left_out(K_ACT, op.act));
        if (op.kind == DLOR_IMAGE_OP_ACT) {
            if (op.act < 0 || op.act > DLOR_IMAGE_MAX_ACT || !finite_d(op.param) || (op.act != 2 && nonzero_d(op.param)))
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: bad activation %d (param %g)", (unsigned)i, op.act,
                            op.param);
            if (op.is_layer || ld32(r + 8) != 0 || ld32(r + 12) != 0)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: activation with operands", (unsigned)i);
            continue;
        }
        if (op.kind == DLOR_IMAGE_OP_SOFTMAX) {
            if (op.act != 0 || nonzero_d(op.param) || op.is_layer || ld32(r + 8) != 0 || ld32(r + 12) != 0)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: softmax with operands", (unsigned)i);
            continue;
        }
        if (op.kind != DLOR_IMAGE_OP_LINEAR)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: unknown kind %d (this reader knows format 1.%d)", (unsigned)i,
                        op.kind, DLOR_IMAGE_MINOR);
        if (op.act != 0 || nonzero_d(op.param))
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: linear with an activation field", (unsigned)i);
        if (op.is_layer) {
            if (op.weight >= img->nlayers)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: layer index %u out of range",
                            (unsigned)i, (unsigned)op.weight);
            dlor_image_layer L;
            dlor_image_layer_at(img, op.weight, &L);
            op.in = L.cols;
            op.out = L.rows;
        } else {
            if (op.weight >= img->ntensors)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: tensor index %u out of range",
                            (unsigned)i, (unsigned)op.weight);
            dlor_image_tensor t;
            dlor_image_tensor_at(img, op.weight, &t);
            if (t.ndim != 2 || !dlor__is_weight_dtype(t.dtype) || t.nelem == 0)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: weight '%.*s' is not a 2-D float tensor", (unsigned)i,
                            (int)(t.name_len < 64 ? t.name_len : 64), t.name);
            if (dlor__panel_owner(img, op.weight) >= 0)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                            "graph op %u: weight '%.*s' is a layer's U stored in panels, which only that layer may use",
                            (unsigned)i, (int)(t.name_len < 64 ? t.name_len : 64), t.name);
            /* names resolve to a layer first (the container, the writer, every tool) */
            if (dlor_image_find_layer(img, t.name, t.name_len) >= 0)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                            "graph op %u: weight tensor '%.*s' has the name of a layer, so the name is ambiguous", (unsigned)i,
                            (int)(t.name_len < 64 ? t.name_len : 64), t.name);
            op.in = t.dims[1];
            op.out = t.dims[0];
        }
        if (op.bias != DLOR_IMAGE_NO_TENSOR) {
            dlor_image_tensor t;
            if (op.bias >= img->ntensors)
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: bias index %u out of range",
                            (unsigned)i, (unsigned)op.bias);
            dlor_image_tensor_at(img, op.bias, &t);
            if (t.ndim != 1 || t.dims[0] != op.out || !dlor__is_float_dtype(t.dtype))
                return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u: bias '%.*s' is not a float vector of length %llu",
                            (unsigned)i, (int)(t.name_len < 64 ? t.name_len : 64), t.name, (unsigned long long)op.out);
        }
        if (have && op.in != cur)
            return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph op %u takes %llu features but receives %llu", (unsigned)i,
                        (unsigned long long)op.in, (unsigned long long)cur);
        if (!have) img->in_dim = op.in;
        if (in_group && !branch_linear && gin == 0) gin = op.in; /* a group opening the graph */
        branch_linear = 1;
        have = 1;
        cur = op.out;
    }
    if (in_group) return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph ends inside a branch group (no merge)");
    if (img->nops && !have) return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph has no linear operation");
    img->out_dim = cur;
    return DLOR_IMAGE_OK;
}

int dlor_image_op_at(const dlor_image *img, uint32_t i, dlor_image_op *op)
{
    if (i >= img->nops) return -1;
    const unsigned char *r = img->graph + (uint64_t)i * DLOR_IMAGE_GRAPH_REC;
    uint64_t bits = ld64(r + 24);
    memset(op, 0, sizeof *op);
    op->kind = ld16(r);
    op->act = ld16(r + 2);
    op->weight = ld32(r + 8);
    op->bias = ld32(r + 12);
    op->is_layer = (ld32(r + 16) & DLOR_IMAGE_OP_LAYER) != 0;
    memcpy(&op->param, &bits, 8);
    if (op->kind == DLOR_IMAGE_OP_LINEAR) {
        if (op->is_layer && op->weight < img->nlayers) {
            dlor_image_layer L;
            dlor_image_layer_at(img, op->weight, &L);
            op->in = L.cols;
            op->out = L.rows;
        } else if (!op->is_layer && op->weight < img->ntensors) {
            dlor_image_tensor t;
            dlor_image_tensor_at(img, op->weight, &t);
            op->in = t.dims[1];
            op->out = t.dims[0];
        }
    }
    return 0;
}

/* ---- DAGs (7.7) ---------------------------------------------------------------- */

/* Record i of the DAG section as a node; the types of the values it reads are
 * those records declare (0 for slots that refer to no earlier record). */
static void dag_node(const dlor_image *img, uint32_t i, dlor_image_node *n)
{
    const unsigned char *r = img->dag + (uint64_t)i * DLOR_IMAGE_DAG_REC;
    uint32_t flags = ld32(r + 4);
    memset(n, 0, sizeof *n);
    n->kind = ld16(r);
    n->code = ld16(r + 2);
    n->is_layer = (flags & DLOR_IMAGE_OP_LAYER) != 0;
    n->causal = (flags & DLOR_IMAGE_OP_CAUSAL) != 0;
    for (int k = 0; k < 4; k++) {
        n->in[k] = ld32(r + 8 + 4 * k);
        if (n->in[k] < i) {
            const unsigned char *q = img->dag + (uint64_t)n->in[k] * DLOR_IMAGE_DAG_REC;
            n->in_type[k] = q[56];
            n->in_features[k] = ld64(q + 48);
        }
    }
    n->weight = ld32(r + 24);
    n->bias = ld32(r + 28);
    if (n->kind == K_INPUT || n->kind == K_OUTPUT) {
        n->name = (const char *)img->strings + ld32(r + 32);
        n->name_len = ld32(r + 36);
    }
    n->heads = ld32(r + 40);
    n->kv_heads = ld32(r + 44);
    n->features = ld64(r + 48);
    n->type = r[56];
    n->p0 = dlor__ldf64(r + 64);
    n->p1 = dlor__ldf64(r + 72);
}

#ifndef DLOR_RT_NO_DAG
static int is_float_value(int t) { return t == V_ROWS || t == V_TOKENS; }

/* A float tensor index with ndim dimensions, dims[0] == first (unless 0), for
 * 2-D dims[1] == second (unless 0); 0 when it is, else the failure. */
static int dag_tensor(const dlor_image *img, uint32_t i, const char *role, uint32_t idx, int ndim, uint64_t first,
                      uint64_t second, dlor_image_tensor *t, dlor_image_error *err)
{
    if (idx >= img->ntensors)
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, "graph node %u: %s tensor index %u out of range", (unsigned)i,
                                role, (unsigned)idx);
    dlor_image_tensor_at(img, idx, t);
    if (dlor__panel_owner(img, idx) >= 0)
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                                "graph node %u: %s '%.*s' is a layer's U stored in panels, which only that layer may use",
                                (unsigned)i, role, (int)(t->name_len < 64 ? t->name_len : 64), t->name);
    /* a LINEAR weight may be block-quantized; vectors and tables are floats */
    int dt_ok = dlor__is_float_dtype(t->dtype) || (ndim == 2 && role[0] == 'w' && dlor__is_quant_dtype(t->dtype));
    if (t->ndim != ndim || !dt_ok || t->nelem == 0 || (first && t->dims[0] != first) ||
        (ndim == 2 && second && t->dims[1] != second))
        return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT,
                                "graph node %u: %s '%.*s' is not a non-empty float %d-D tensor of %llu x %llu",
                                (unsigned)i, role,
                                (int)(t->name_len < 64 ? t->name_len : 64), t->name, ndim, (unsigned long long)first,
                                (unsigned long long)second);
    return 0;
}

#define FAIL(...) return dlor__image_fail(err, DLOR_IMAGE_E_FORMAT, __VA_ARGS__)
/* err may be NULL (the caller wants only a yes or no), so a failed check passes on its
 * return code, never err->code */
#define TRY(call)                  \
    do {                           \
        int rc_ = (call);          \
        if (rc_) return rc_;       \
    } while (0)

static int check_dag(dlor_image *img, dlor_image_error *err)
{
    uint32_t ninputs = 0;
    char shown[72];
    for (uint32_t i = 0; i < img->ndag; i++) {
        const unsigned char *r = img->dag + (uint64_t)i * DLOR_IMAGE_DAG_REC;
        dlor_image_node n;
        dag_node(img, i, &n);
        uint32_t flags = ld32(r + 4);
        int type = V_ROWS;
        uint64_t f = 0;
        if (n.kind < 1 || n.kind > K_MAX || n.kind == K_BRANCH || n.kind == K_MERGE)
            FAIL("graph node %u: unknown kind %d (this reader knows format 1.%d)", (unsigned)i, n.kind, DLOR_IMAGE_MINOR);
        if (!dlor__all_zero(r + 57, 7) || !dlor__all_zero(r + 80, 16))
            FAIL("graph node %u: reserved bytes are not zero", (unsigned)i);
        const char *left = dlor__rt_node_left_out(n.kind, n.code);
        if (left)
            return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED,
                                    "graph node %u (kind %d, code %d) is left out of this build of the runtime (%s)",
                                    (unsigned)i, n.kind, n.code, left);
        if (n.kind == K_INPUT ? i != ninputs : ninputs == 0)
            FAIL("graph node %u: the inputs come first, before every other node", (unsigned)i);
        /* which slots, fields and flags each kind uses; the rest is zero (or none) */
        unsigned need = 1, may = 0;
        if (n.kind == K_INPUT) need = 0;
        if (n.kind == K_ADD || n.kind == K_MUL) need = 3;
        if (n.kind == K_ATTENTION) need = 7, may = 8;
        if (n.kind == K_POOL) may = 2;
        int w = n.kind == K_LINEAR || n.kind == K_EMBED || n.kind == K_POS_EMBED || n.kind == K_LAYERNORM ||
                n.kind == K_RMSNORM;
        int b = n.kind == K_LINEAR || n.kind == K_SCALE || n.kind == K_LAYERNORM;
        int p0 = n.kind == K_ACT || n.kind == K_SCALE || n.kind == K_LAYERNORM || n.kind == K_RMSNORM ||
                 n.kind == K_L2NORM || n.kind == K_ATTENTION;
        int code = n.kind == K_ACT || n.kind == K_INPUT || n.kind == K_POOL;
        int named = n.kind == K_INPUT || n.kind == K_OUTPUT;
        uint32_t allowed = n.kind == K_LINEAR ? DLOR_IMAGE_OP_LAYER : n.kind == K_ATTENTION ? DLOR_IMAGE_OP_CAUSAL : 0;
        if ((flags & ~allowed) || (!w && n.weight != DLOR_IMAGE_NO_TENSOR) || (!b && n.bias != DLOR_IMAGE_NO_TENSOR) ||
            (!p0 && dlor__ld64(r + 64) != 0) || (n.kind != K_ATTENTION && dlor__ld64(r + 72) != 0) ||
            (!code && n.code != 0) || (!named && (ld32(r + 32) || ld32(r + 36))) ||
            (n.kind != K_ATTENTION && (n.heads || n.kv_heads)))
            FAIL("graph node %u (kind %d): a field its kind does not use is set", (unsigned)i, n.kind);
        if ((p0 && !finite_d(n.p0)) || !finite_d(n.p1)) FAIL("graph node %u: parameter is not finite", (unsigned)i);
        for (int k = 0; k < 4; k++) {
            if (n.in[k] == DLOR_IMAGE_NONE) {
                if (need & (1u << k)) FAIL("graph node %u: input %d is missing", (unsigned)i, k);
                continue;
            }
            if (!((need | may) & (1u << k)))
                FAIL("graph node %u: reads a value in slot %d, which it has not", (unsigned)i, k);
            if (n.in[k] >= i)
                FAIL("graph node %u reads value %u, which is not made before it", (unsigned)i, (unsigned)n.in[k]);
            if (ld16(img->dag + (uint64_t)n.in[k] * DLOR_IMAGE_DAG_REC) == K_OUTPUT)
                FAIL("graph node %u reads value %u, an output", (unsigned)i, (unsigned)n.in[k]);
        }
        int xt = n.in_type[0];
        uint64_t xf = n.in_features[0];
        dlor_image_tensor t;
        const unsigned char *nm = NULL;
        if (named && !(nm = dlor__image_str(img, ld32(r + 32), n.name_len, 1, DLOR_IMAGE_MAX_NAME)))
            FAIL("graph node %u: bad name reference", (unsigned)i);
        switch (n.kind) {
        case K_INPUT:
            if (n.code < M_FEATURES || n.code > M_TYPE_IDS) FAIL("graph node %u: unknown input mode %d", (unsigned)i, n.code);
            if (img->input_of[n.code] != DLOR_IMAGE_NONE)
                FAIL("graph node %u: two inputs of mode %d", (unsigned)i, n.code);
            for (uint32_t j = 0; j < i; j++) {
                dlor_image_node o;
                dag_node(img, j, &o);
                if (o.name_len == n.name_len && memcmp(o.name, n.name, n.name_len) == 0)
                    FAIL("graph node %u: two inputs are named '%s'", (unsigned)i, dlor__image_show(nm, n.name_len, shown));
            }
            img->input_of[n.code] = i;
            type = n.code == M_FEATURES ? V_ROWS : n.code == M_MASK ? V_MASK : V_IDS;
            f = n.features;
            if ((n.code == M_FEATURES) != (f != 0))
                FAIL("graph node %u: input '%s': a features input has a feature count, others none", (unsigned)i,
                     dlor__image_show(nm, n.name_len, shown));
            ninputs++;
            break;
        case K_OUTPUT:
            if (!is_float_value(xt)) FAIL("graph node %u: output of an integer value", (unsigned)i);
            if (img->noutputs == DLOR_IMAGE_MAX_OUTPUTS)
                FAIL("graph node %u: more than %u outputs", (unsigned)i, DLOR_IMAGE_MAX_OUTPUTS);
            for (uint32_t j = ninputs; j < i; j++) {
                dlor_image_node o;
                dag_node(img, j, &o);
                if (o.kind == K_OUTPUT && o.name_len == n.name_len && memcmp(o.name, n.name, n.name_len) == 0)
                    FAIL("graph node %u: two outputs are named '%s'", (unsigned)i, dlor__image_show(nm, n.name_len, shown));
            }
            if (img->noutputs++ == 0) img->out_dim = xf;
            type = xt;
            f = xf;
            break;
        case K_LINEAR:
            if (!is_float_value(xt)) FAIL("graph node %u: linear of an integer value", (unsigned)i);
            if (n.is_layer) {
                if (n.weight >= img->nlayers)
                    FAIL("graph node %u: layer index %u out of range", (unsigned)i, (unsigned)n.weight);
                dlor_image_layer L;
                dlor_image_layer_at(img, n.weight, &L);
                if (L.cols != xf)
                    FAIL("graph node %u: layer '%.*s' takes %llu features but receives %llu", (unsigned)i,
                         (int)(L.name_len < 64 ? L.name_len : 64), L.name, (unsigned long long)L.cols,
                         (unsigned long long)xf);
                f = L.rows;
            } else {
                TRY(dag_tensor(img, i, "weight", n.weight, 2, 0, xf, &t, err));
                if (dlor_image_find_layer(img, t.name, t.name_len) >= 0)
                    FAIL("graph node %u: weight tensor '%.*s' has the name of a layer, so the name is ambiguous", (unsigned)i,
                         (int)(t.name_len < 64 ? t.name_len : 64), t.name);
                f = t.dims[0];
            }
            if (n.bias != DLOR_IMAGE_NO_TENSOR) TRY(dag_tensor(img, i, "bias", n.bias, 1, f, 0, &t, err));
            type = xt;
            break;
        case K_ACT:
        case K_SOFTMAX:
        case K_SCALE:
        case K_LAYERNORM:
        case K_RMSNORM:
        case K_L2NORM:
            if (!is_float_value(xt)) FAIL("graph node %u: kind %d of an integer value", (unsigned)i, n.kind);
            if (n.kind == K_ACT && (n.code > DLOR_IMAGE_MAX_ACT || (n.code != 2 && nonzero_d(n.p0))))
                FAIL("graph node %u: bad activation %d (param %g)", (unsigned)i, n.code, n.p0);
            if ((n.kind == K_LAYERNORM || n.kind == K_RMSNORM || n.kind == K_L2NORM) && !positive_d(n.p0))
                FAIL("graph node %u: eps %g is not > 0", (unsigned)i, n.p0);
            if (w && n.weight != DLOR_IMAGE_NO_TENSOR) TRY(dag_tensor(img, i, "weight", n.weight, 1, xf, 0, &t, err));
            if (b && n.bias != DLOR_IMAGE_NO_TENSOR) TRY(dag_tensor(img, i, "bias", n.bias, 1, xf, 0, &t, err));
            type = xt;
            f = xf;
            break;
#ifndef DLOR_RT_NO_TOKENS
        case K_EMBED:
        case K_POS_EMBED:
            if (xt != V_IDS && (n.kind == K_EMBED || xt != V_MASK))
                FAIL("graph node %u: %s reads no ids", (unsigned)i, n.kind == K_EMBED ? "embedding" : "position embedding");
            TRY(dag_tensor(img, i, "table", n.weight, 2, 0, 0, &t, err));
            type = V_TOKENS;
            f = t.dims[1];
            break;
#endif
        case K_ADD:
        case K_MUL:
            if (!is_float_value(xt) || xt != n.in_type[1] || xf != n.in_features[1])
                FAIL("graph node %u: adds or multiplies values of different shapes", (unsigned)i);
            type = xt;
            f = xf;
            break;
#ifndef DLOR_RT_NO_ATTENTION
        case K_ATTENTION: {
            uint64_t d, dv;
            if (xt != V_TOKENS || n.in_type[1] != V_TOKENS || n.in_type[2] != V_TOKENS)
                FAIL("graph node %u: attention of values that are not [N, S, F]", (unsigned)i);
            if (n.heads == 0 || n.kv_heads == 0 || n.heads % n.kv_heads || xf % n.heads ||
                n.in_features[2] % n.kv_heads)
                FAIL("graph node %u: %u heads and %u kv heads do not divide q (%llu) or v (%llu)", (unsigned)i,
                     (unsigned)n.heads, (unsigned)n.kv_heads, (unsigned long long)xf, (unsigned long long)n.in_features[2]);
            d = xf / n.heads;
            dv = n.in_features[2] / n.kv_heads;
            if (n.in_features[1] != d * n.kv_heads)
                FAIL("graph node %u: k has %llu features, not %u kv heads of %llu", (unsigned)i,
                     (unsigned long long)n.in_features[1], (unsigned)n.kv_heads, (unsigned long long)d);
            if (n.in[3] != DLOR_IMAGE_NONE && (n.in_type[3] != V_MASK || n.in[3] != img->input_of[M_MASK]))
                FAIL("graph node %u: the mask is not the mask input", (unsigned)i);
            if (negative_d(n.p0) || negative_d(n.p1) || (positive_d(n.p1) && d % 2))
                FAIL("graph node %u: bad scale %g or rotary theta %g (head size %llu)", (unsigned)i, n.p0, n.p1,
                     (unsigned long long)d);
            type = V_TOKENS;
            f = (uint64_t)n.heads * dv;
            break;
        }
#endif
#ifndef DLOR_RT_NO_TOKENS
        case K_POOL:
            if (xt != V_TOKENS) FAIL("graph node %u: pooling of a value that is not [N, S, F]", (unsigned)i);
            if (n.in[1] != DLOR_IMAGE_NONE && (n.in_type[1] != V_MASK || n.in[1] != img->input_of[M_MASK]))
                FAIL("graph node %u: the mask is not the mask input", (unsigned)i);
            if (n.code != P_MEAN && n.code != P_CLS) FAIL("graph node %u: unknown pooling mode %d", (unsigned)i, n.code);
            type = V_ROWS;
            f = xf;
            break;
#endif
        default:
            break;
        }
        if (n.type != type || n.features != f)
            FAIL("graph node %u: declares a value of type %d with %llu features, but makes type %d with %llu", (unsigned)i,
                 n.type, (unsigned long long)n.features, type, (unsigned long long)f);
    }
    if (img->input_of[M_FEATURES] != DLOR_IMAGE_NONE && img->input_of[M_IDS] != DLOR_IMAGE_NONE)
        FAIL("graph takes both features and token ids");
    if ((img->input_of[M_MASK] != DLOR_IMAGE_NONE || img->input_of[M_TYPE_IDS] != DLOR_IMAGE_NONE) &&
        img->input_of[M_IDS] == DLOR_IMAGE_NONE)
        FAIL("graph takes a mask or token type ids but no token ids");
    if (img->ndag && img->noutputs == 0) FAIL("graph has no output");
    if (img->input_of[M_FEATURES] != DLOR_IMAGE_NONE) {
        dlor_image_node n;
        dag_node(img, img->input_of[M_FEATURES], &n);
        img->in_dim = n.features;
    }
    img->nnodes = img->ndag;
    return DLOR_IMAGE_OK;
}

#endif

int dlor__image_check_graph(dlor_image *img, dlor_image_error *err)
{
    for (int m = 0; m < 5; m++) img->input_of[m] = DLOR_IMAGE_NONE;
    img->noutputs = 0;
    img->nnodes = 0;
    img->in_dim = img->out_dim = 0;
#ifdef DLOR_RT_NO_DAG
    if (img->ndag)
        return dlor__image_fail(err, DLOR_IMAGE_E_UNSUPPORTED, "the graph is a DAG (DLOR_FORMAT.md 7.7), which is left "
                                                               "out of this build of the runtime (DLOR_RT_NO_DAG)");
#else
    if (img->ndag) return check_dag(img, err);
#endif
    int rc = check_chain(img, err);
    if (rc != 0 || img->nops == 0) return rc;
    /* the chain read as a DAG: its input, its nodes, its output */
    dlor_image_walk w;
    dlor_image_node n;
    dlor_image_walk_init(&w);
    while (dlor_image_walk_next(img, &w, &n)) img->nnodes++;
    img->input_of[M_FEATURES] = 0;
    img->noutputs = 1;
    return DLOR_IMAGE_OK;
}

int dlor_image_node_at(const dlor_image *img, uint32_t i, dlor_image_node *n)
{
    if (i >= img->ndag) return -1;
    dag_node(img, i, n);
    return 0;
}

/* ---- the walk (7.8) ------------------------------------------------------------- */

void dlor_image_walk_init(dlor_image_walk *w)
{
    memset(w, 0, sizeof *w);
    w->acc = DLOR_IMAGE_NONE;
}

/* A node of a converted chain reading x (features xf). */
static void chain_node(dlor_image_walk *w, dlor_image_node *n, int kind, uint32_t x, uint64_t xf)
{
    memset(n, 0, sizeof *n);
    n->kind = kind;
    for (int k = 0; k < 4; k++) n->in[k] = DLOR_IMAGE_NONE;
    n->in[0] = x;
    n->in_type[0] = V_ROWS;
    n->in_features[0] = xf;
    n->weight = n->bias = DLOR_IMAGE_NO_TENSOR;
    n->type = V_ROWS;
    n->features = xf;
    (void)w;
}

/* Gives the node w->node and advances. */
static int emit(dlor_image_walk *w, dlor_image_node *n, uint32_t *value)
{
    if (value) *value = w->node;
    w->node++;
    (void)n;
    return 1;
}

int dlor_image_walk_next(const dlor_image *img, dlor_image_walk *w, dlor_image_node *n)
{
#ifdef DLOR_RT_NO_DAG
    if (img->ndag) return 0; /* not opened by this build (dlor__image_check_graph) */
#else
    if (img->ndag) {
        if (w->node >= img->ndag) return 0;
        dag_node(img, w->node, n);
        return emit(w, n, NULL);
    }
#endif
    if (img->nops == 0 || w->done) return 0;
    if (w->node == 0) { /* the chain's input */
        chain_node(w, n, K_INPUT, DLOR_IMAGE_NONE, 0);
        n->in_type[0] = 0;
        n->in_features[0] = 0;
        n->code = M_FEATURES;
        n->name = "input";
        n->name_len = 5;
        n->features = w->cur_f = img->in_dim;
        return emit(w, n, &w->cur);
    }
    while (w->op < img->nops) {
        dlor_image_op op;
        dlor_image_op_at(img, w->op, &op);
        if (op.kind == DLOR_IMAGE_OP_LINEAR || op.kind == DLOR_IMAGE_OP_ACT || op.kind == DLOR_IMAGE_OP_SOFTMAX) {
            chain_node(w, n, op.kind, w->cur, w->cur_f);
            if (op.kind == DLOR_IMAGE_OP_LINEAR) {
                n->is_layer = op.is_layer;
                n->weight = op.weight;
                n->bias = op.bias;
                n->features = op.out;
            } else if (op.kind == DLOR_IMAGE_OP_ACT) {
                n->code = op.act;
                n->p0 = op.param;
            }
            w->op++;
            w->cur_f = n->features;
            return emit(w, n, &w->cur);
        }
        /* BRANCH and MERGE: the group's input is kept; each branch that ends is
         * scaled by its weight and added to the group's sum */
        if (!w->in_group) { /* the first BRANCH of a group */
            w->gin = w->cur;
            w->gin_f = w->cur_f;
            w->acc = DLOR_IMAGE_NONE;
            w->scale = op.param;
            w->in_group = 1;
            w->op++;
            continue;
        }
        if (w->stage == 0) { /* the branch that ends, times its weight */
            chain_node(w, n, K_SCALE, w->cur, w->cur_f);
            n->p0 = w->scale;
            w->stage = 1;
            return emit(w, n, &w->part);
        }
        if (w->stage == 1) { /* ... added to the sum */
            w->stage = 2;
            if (w->acc == DLOR_IMAGE_NONE) {
                w->acc = w->part;
                continue;
            }
            chain_node(w, n, K_ADD, w->acc, w->cur_f);
            n->in[1] = w->part;
            n->in_type[1] = V_ROWS;
            n->in_features[1] = w->cur_f;
            return emit(w, n, &w->acc);
        }
        w->stage = 0;
        w->op++;
        if (op.kind == DLOR_IMAGE_OP_BRANCH) { /* the next branch starts from the group's input */
            w->cur = w->gin;
            w->scale = op.param;
            w->cur_f = w->gin_f;
            continue;
        }
        w->in_group = 0; /* MERGE: the sum, plus the bias */
        if (op.bias == DLOR_IMAGE_NO_TENSOR) {
            w->cur = w->acc;
            continue;
        }
        chain_node(w, n, K_SCALE, w->acc, w->cur_f);
        n->p0 = 1.0;
        n->bias = op.bias;
        return emit(w, n, &w->cur);
    }
    /* the chain's output */
    chain_node(w, n, K_OUTPUT, w->cur, w->cur_f);
    n->name = "output";
    n->name_len = 6;
    w->done = 1;
    return emit(w, n, NULL);
}
