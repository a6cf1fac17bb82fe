/* container.c - building, writing and reading .dlor files on a host. */
#define _POSIX_C_SOURCE 200809L
#include "dlor_container.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "dlor_crc32.h"
#include "dlor_fileio.h"
#include "dlor_json.h"
#include "dlor_readers.h"
#include "dlor_zip.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

void dlor_container_init(dlor_container *c)
{
    memset(c, 0, sizeof *c);
    dlor_tensor_list_init(&c->tensors);
    dlor_graph_init(&c->graph);
}

static void layer_free(dlor_layer_desc *d)
{
    free(d->name);
    free(d->u_name);
    free(d->v_name);
    free(d->base_name);
}

void dlor_container_free(dlor_container *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nlayers; i++) layer_free(&c->layers[i]);
    free(c->layers);
    dlor_tensor_list_free(&c->tensors);
    dlor_graph_free(&c->graph);
    memset(c, 0, sizeof *c);
}

dlor_status dlor_container_add_layer(dlor_container *c, const dlor_layer_desc *d, dlor_error *err)
{
    if (c->nlayers == c->layers_cap) {
        size_t nc = c->layers_cap ? c->layers_cap * 2 : 8;
        dlor_layer_desc *p = realloc(c->layers, nc * sizeof *p);
        if (!p) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        c->layers = p;
        c->layers_cap = nc;
    }
    dlor_layer_desc n = *d;
    n.name = dup_str(d->name);
    n.u_name = dup_str(d->u_name);
    n.v_name = dup_str(d->v_name);
    n.base_name = d->base_name ? dup_str(d->base_name) : NULL;
    if (!n.name || !n.u_name || !n.v_name || (d->base_name && !n.base_name)) {
        layer_free(&n);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    c->layers[c->nlayers++] = n;
    return DLOR_OK;
}

void dlor_container_set_u_layout(dlor_container *c, int u_layout)
{
    for (size_t i = 0; i < c->nlayers; i++) {
        const dlor_tensor *u = dlor_tensor_list_find(&c->tensors, c->layers[i].u_name);
        /* quantized rows are blocks of the row itself: no panels (DLOR_FORMAT.md 6.1) */
        c->layers[i].u_layout = u && dlor_dtype_is_quant(u->dtype) ? DLOR_IMAGE_U_ROWS : u_layout;
    }
}

const dlor_layer_desc *dlor_container_find_layer(const dlor_container *c, const char *name)
{
    for (size_t i = 0; i < c->nlayers; i++)
        if (strcmp(c->layers[i].name, name) == 0) return &c->layers[i];
    return NULL;
}

/* ---- writing ------------------------------------------------------------ */

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Returns the indices 0..n-1 ordered by keys[i]; strcmp compares as unsigned
 * char, which is the format's bytewise order. */
typedef struct {
    const char *key;
    size_t idx;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    return strcmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}

static size_t *sorted_order(const char *const *keys, size_t n)
{
    keyed *tmp = malloc((n ? n : 1) * sizeof *tmp);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!tmp || !idx) {
        free(tmp);
        free(idx);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        tmp[i].key = keys[i];
        tmp[i].idx = i;
    }
    qsort(tmp, n, sizeof *tmp, cmp_keyed);
    for (size_t i = 0; i < n; i++) idx[i] = tmp[i].idx;
    free(tmp);
    return idx;
}

typedef struct {
    unsigned char *p;
    size_t len, cap;
} bytes;

static int pool_add(bytes *b, const char *s, uint32_t *off, uint32_t *len)
{
    size_t n = strlen(s);
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n) nc *= 2;
        unsigned char *q = realloc(b->p, nc);
        if (!q) return -1;
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    *off = (uint32_t)b->len;
    *len = (uint32_t)n;
    b->len += n;
    return 0;
}

static long find_sorted(const char *const *keys, const size_t *order, size_t n, const char *name)
{
    long lo = 0, hi = (long)n - 1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        int c = strcmp(keys[order[mid]], name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

typedef struct {
    size_t *t_order, *l_order, *m_order;
    const char **t_names, **l_names;
    bytes pool;
    unsigned char *header;
    unsigned char **panels;     /* by sorted tensor index: the U tensor's bytes in panels, or NULL */
    size_t npanels;
    dlor_graph_value *vals;     /* a DAG's value shapes */
} writer_state;

static void writer_free(writer_state *w)
{
    free(w->t_order);
    free(w->l_order);
    free(w->m_order);
    free(w->t_names);
    free(w->l_names);
    free(w->pool.p);
    free(w->header);
    for (size_t i = 0; w->panels && i < w->npanels; i++) free(w->panels[i]);
    free(w->panels);
    free(w->vals);
}

static dlor_status check_layer(const char *path, const dlor_layer_desc *d, const dlor_tensor *u,
                               const dlor_tensor *v, const dlor_tensor *b, dlor_error *err)
{
    if (d->base_name && (d->method != DLOR_IMAGE_ADD || !b || b == u || b == v || b->ndim != 2 ||
                         !dlor_dtype_is_weight(b->dtype) || b->dims[0] != d->rows || b->dims[1] != d->cols))
        return dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': base tensor '%s' missing, of the wrong dtype or shape, "
                         "or on a mul layer", path, d->name, d->base_name);
    uint64_t kmax, du, dv;
    if (d->method == DLOR_IMAGE_MUL) {
        kmax = du = dv = d->rows > d->cols ? d->rows : d->cols;
    } else {
        kmax = d->rows < d->cols ? d->rows : d->cols;
        du = d->rows;
        dv = d->cols;
    }
    if (!((d->method == DLOR_IMAGE_MUL && (d->basis == DLOR_IMAGE_SCHUR || d->basis == DLOR_IMAGE_RANDOM)) ||
          (d->method == DLOR_IMAGE_ADD && d->basis == DLOR_IMAGE_SVD)))
        return dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': invalid method/basis", path, d->name);
    if (!u || !v || u == v)
        return dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': factor tensors '%s' / '%s' missing", path,
                         d->name, d->u_name, d->v_name);
    uint64_t k = u->ndim == 2 ? u->dims[0] : 0;
    if (d->rows == 0 || d->cols == 0 || k == 0 || k > kmax || d->rank == 0 || d->rank > k ||
        d->factors != (k + d->rank - 1) / d->rank)
        return dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': inconsistent shape/rank/factors", path, d->name);
    if (!isfinite(d->alpha) || (d->method == DLOR_IMAGE_MUL && d->alpha == 0.0))
        return dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': invalid alpha %g", path, d->name, d->alpha);
    if (d->basis != DLOR_IMAGE_RANDOM && d->seed != 0)
        return dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': seed given for a non-random basis", path, d->name);
    if (!dlor_dtype_is_weight(u->dtype) || u->dtype != v->dtype || u->ndim != 2 || v->ndim != 2 ||
        u->dims[1] != du || v->dims[0] != k || v->dims[1] != dv)
        return dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': factor tensors have the wrong dtype or shape",
                         path, d->name);
    if (!dlor_dtype_is_float(d->source_dtype))
        return dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': source dtype %s is not a float dtype", path, d->name,
                         dlor_dtype_name(d->source_dtype));
    if (d->u_layout != DLOR_IMAGE_U_ROWS && d->u_layout != DLOR_IMAGE_U_PANELS)
        return dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': unknown U layout %d", path, d->name, d->u_layout);
    if (dlor_dtype_is_quant(u->dtype) && d->u_layout == DLOR_IMAGE_U_PANELS)
        return dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': a quantized U tensor is stored in rows, not panels", path,
                         d->name);
    return DLOR_OK;
}

/* How many times each tensor (by sorted index) is referenced by a layer or the
 * graph; NULL when out of memory. */
static unsigned *count_uses(const dlor_container *c, const writer_state *w, size_t nt)
{
    unsigned *uses = calloc(nt ? nt : 1, sizeof *uses);
    if (!uses) return NULL;
    for (size_t i = 0; i < c->nlayers; i++) {
        long ui = find_sorted(w->t_names, w->t_order, nt, c->layers[i].u_name);
        long vi = find_sorted(w->t_names, w->t_order, nt, c->layers[i].v_name);
        long bi = c->layers[i].base_name ? find_sorted(w->t_names, w->t_order, nt, c->layers[i].base_name) : -1;
        if (ui >= 0) uses[ui]++;
        if (vi >= 0) uses[vi]++;
        if (bi >= 0) uses[bi]++;
    }
    for (size_t i = 0; i < c->graph.count; i++) {
        const dlor_graph_op *op = &c->graph.ops[i];
        long wi = op->weight ? find_sorted(w->t_names, w->t_order, nt, op->weight) : -1;
        long bi = op->bias ? find_sorted(w->t_names, w->t_order, nt, op->bias) : -1;
        if (wi >= 0) uses[wi]++;
        if (bi >= 0) uses[bi]++;
    }
    return uses;
}

/* Checks every layer and reorders the U tensors of panel layers (w->panels). */
static dlor_status prepare_layers(const char *path, const dlor_container *c, writer_state *w, dlor_error *err)
{
    const dlor_tensor_list *tl = &c->tensors;
    size_t nt = tl->count;
    w->panels = calloc(nt ? nt : 1, sizeof *w->panels);
    if (!w->panels) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
    w->npanels = nt;
    unsigned *uses = count_uses(c, w, nt);
    if (!uses) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
    dlor_status st = DLOR_OK;
    for (size_t i = 0; i < c->nlayers && st == DLOR_OK; i++) {
        const dlor_layer_desc *d = &c->layers[i];
        long ui = find_sorted(w->t_names, w->t_order, nt, d->u_name);
        long vi = find_sorted(w->t_names, w->t_order, nt, d->v_name);
        long bi = d->base_name ? find_sorted(w->t_names, w->t_order, nt, d->base_name) : -1;
        const dlor_tensor *u = ui >= 0 ? &tl->items[w->t_order[ui]] : NULL;
        st = check_layer(path, d, u, vi >= 0 ? &tl->items[w->t_order[vi]] : NULL,
                         bi >= 0 ? &tl->items[w->t_order[bi]] : NULL, err);
        if (st != DLOR_OK || d->u_layout != DLOR_IMAGE_U_PANELS) continue;
        size_t nl = strlen(d->name);
        if (strlen(d->u_name) != nl + 7 || strncmp(d->u_name, d->name, nl) != 0 || strcmp(d->u_name + nl, ".dlor.U") != 0) {
            st = dlor_fail(err, DLOR_E_ARG, "%s: layer '%s': a U tensor stored in panels must be named '%s.dlor.U', not "
                           "'%s' (DLOR_FORMAT.md 7.6)", path, d->name, d->name, d->u_name);
        } else if (uses[ui] != 1) {
            st = dlor_fail(err, DLOR_E_ARG,
                           "%s: layer '%s': U tensor '%s' is used elsewhere too, so it cannot be stored in panels",
                           path, d->name, d->u_name);
        } else if (!(w->panels[ui] = malloc(u->nbytes ? u->nbytes : 1))) {
            st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
        } else {
            dlor_image_u_permute(u->data, w->panels[ui], u->dims[0], u->dims[1], d->rank, dlor_dtype_size(u->dtype),
                                 1);
        }
    }
    free(uses);
    return st;
}

/* Where serialized bytes go: an atomic file or a growing aligned buffer. */
typedef struct sink {
    dlor_atomic_file *af;
    unsigned char *mem;
    size_t len, cap;
} sink;

static dlor_status sink_write(sink *k, const void *data, size_t n, const char *path, dlor_error *err)
{
    if (k->af) return dlor_atomic_write(k->af, data, n, err);
    if (k->len + n > k->cap) {
        size_t nc = k->cap ? k->cap : 4096;
        while (nc < k->len + n) nc *= 2;
        void *p = NULL;
        /* 64-byte aligned so tensors can be used in place */
        if (posix_memalign(&p, DLOR_IMAGE_ALIGN, nc) != 0)
            return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
        if (k->len) memcpy(p, k->mem, k->len);
        free(k->mem);
        k->mem = p;
        k->cap = nc;
    }
    if (n) memcpy(k->mem + k->len, data, n); /* an empty tensor may have no data pointer */
    k->len += n;
    return DLOR_OK;
}

/* Every string of the format is UTF-8 (DLOR_FORMAT.md section 1). Text that
 * is not (a zip member name, an ONNX string, ...) is refused here rather than
 * written into a file that no reader accepts. */
static dlor_status check_utf8(const char *path, const char *what, const char *s, dlor_error *err)
{
    char q[200];
    size_t n = strlen(s);
    if (dlor_json_utf8_valid((const unsigned char *)s, n, NULL)) return DLOR_OK;
    return dlor_fail(err, DLOR_E_ARG, "%s: %s '%s' is not valid UTF-8", path, what,
                     dlor_zip_quote((const unsigned char *)s, n, q, sizeof q));
}

static long layer_index(const writer_state *w, size_t nl, const char *name)
{
    return find_sorted(w->l_names, w->l_order, nl, name);
}

/* The layer fn of dlor_graph_shapes_layers: the container's layers. */
static int container_layer(void *ctx, const char *name, uint64_t *rows, uint64_t *cols)
{
    const dlor_layer_desc *d = dlor_container_find_layer((const dlor_container *)ctx, name);
    if (!d) return 0;
    *rows = d->rows;
    *cols = d->cols;
    return 1;
}

static void store_f64(unsigned char *p, double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    dlor_store_u64(p, b);
}

/* The records of a DAG (DLOR_FORMAT.md 7.7), w->vals holding its shapes. */
static dlor_status write_dag(const char *path, const dlor_container *c, const writer_state *w, const uint32_t *gref,
                             unsigned char *recs, dlor_error *err)
{
    size_t nt = c->tensors.count, nl = c->nlayers;
    for (size_t i = 0; i < c->graph.count; i++) {
        const dlor_graph_op *op = &c->graph.ops[i];
        unsigned char *r = recs + i * DLOR_IMAGE_DAG_REC;
        uint32_t widx = DLOR_IMAGE_NO_TENSOR, bidx = DLOR_IMAGE_NO_TENSOR, flags = 0;
        if (op->weight) {
            long li = op->kind == DLOR_OP_LINEAR ? layer_index(w, nl, op->weight) : -1;
            long ti = li < 0 ? find_sorted(w->t_names, w->t_order, nt, op->weight) : -1;
            if (li < 0 && ti < 0) /* dlor_graph_shapes_layers found it: unreachable */
                return dlor_fail(err, DLOR_E_ARG, "%s: graph op %zu refers to a missing tensor '%s'", path, i,
                                 op->weight);
            widx = (uint32_t)(li >= 0 ? li : ti);
            if (li >= 0) flags |= DLOR_IMAGE_OP_LAYER;
        }
        if (op->bias) {
            long bi = find_sorted(w->t_names, w->t_order, nt, op->bias);
            if (bi < 0) return dlor_fail(err, DLOR_E_ARG, "%s: graph op %zu refers to a missing tensor '%s'", path, i, op->bias);
            bidx = (uint32_t)bi;
        }
        if (op->kind == DLOR_OP_ATTENTION && op->causal) flags |= DLOR_IMAGE_OP_CAUSAL;
        dlor_store_u16(r, (uint16_t)op->kind);
        dlor_store_u16(r + 2, (uint16_t)(op->kind == DLOR_OP_ACT ? (int)op->act : op->mode));
        dlor_store_u32(r + 4, flags);
        for (int k = 0; k < DLOR_GRAPH_MAX_IN; k++) dlor_store_u32(r + 8 + 4 * k, op->in[k]);
        dlor_store_u32(r + 24, widx);
        dlor_store_u32(r + 28, bidx);
        if (op->name) {
            dlor_store_u32(r + 32, gref[2 * i]);
            dlor_store_u32(r + 36, gref[2 * i + 1]);
        }
        dlor_store_u32(r + 40, op->heads);
        dlor_store_u32(r + 44, op->kv_heads);
        dlor_store_u64(r + 48, w->vals[i].features);
        r[56] = (unsigned char)w->vals[i].type;
        store_f64(r + 64, op->param);
        store_f64(r + 72, op->rope_theta);
    }
    return DLOR_OK;
}

static dlor_status serialize(const char *path, const dlor_container *c, sink *out, dlor_error *err)
{
    const dlor_tensor_list *tl = &c->tensors;
    writer_state w;
    dlor_status st = DLOR_OK;
    memset(&w, 0, sizeof w);
    size_t nt = tl->count, nl = c->nlayers, nm = tl->meta_count;
    if (nt > DLOR_IMAGE_MAX_TENSORS || nl > DLOR_IMAGE_MAX_LAYERS || nm > DLOR_IMAGE_MAX_META)
        return dlor_fail(err, DLOR_E_LIMIT, "%s: too many tensors, layers or metadata records", path);

    w.t_names = malloc((nt ? nt : 1) * sizeof *w.t_names);
    w.l_names = malloc((nl ? nl : 1) * sizeof *w.l_names);
    if (!w.t_names || !w.l_names) goto nomem;
    for (size_t i = 0; i < nt; i++) w.t_names[i] = tl->items[i].name;
    for (size_t i = 0; i < nl; i++) w.l_names[i] = c->layers[i].name;
    w.t_order = sorted_order(w.t_names, nt);
    w.l_order = sorted_order(w.l_names, nl);
    w.m_order = sorted_order((const char *const *)tl->meta_keys, nm);
    if (!w.t_order || !w.l_order || !w.m_order) goto nomem;

    /* Names: unique, 1..255 bytes, valid UTF-8 (NUL-free by construction). */
    for (size_t i = 0; i < nt; i++) {
        const char *a = w.t_names[w.t_order[i]];
        size_t n = strlen(a);
        if (n == 0 || n > DLOR_IMAGE_MAX_NAME) {
            st = dlor_fail(err, DLOR_E_LIMIT, "%s: tensor name '%.64s' must be 1 to 255 bytes", path, a);
            goto out;
        }
        if ((st = check_utf8(path, "tensor name", a, err)) != DLOR_OK) goto out;
        if (i && strcmp(w.t_names[w.t_order[i - 1]], a) == 0) {
            st = dlor_fail(err, DLOR_E_ARG, "%s: duplicate tensor name '%s'", path, a);
            goto out;
        }
    }
    for (size_t i = 0; i < nl; i++) {
        const char *a = w.l_names[w.l_order[i]];
        size_t n = strlen(a);
        if (n == 0 || n > DLOR_IMAGE_MAX_NAME) {
            st = dlor_fail(err, DLOR_E_LIMIT, "%s: layer name '%.64s' must be 1 to 255 bytes", path, a);
            goto out;
        }
        if ((st = check_utf8(path, "layer name", a, err)) != DLOR_OK) goto out;
        if (i && strcmp(w.l_names[w.l_order[i - 1]], a) == 0) {
            st = dlor_fail(err, DLOR_E_ARG, "%s: duplicate layer name '%s'", path, a);
            goto out;
        }
    }
    /* A bool is one byte, 0 or 1 (DLOR_FORMAT.md section 6): a source's other byte
     * values are refused rather than carried into a file no reader accepts. */
    for (size_t i = 0; i < nt; i++) {
        const dlor_tensor *t = &tl->items[i];
        for (size_t k = 0; t->dtype == DLOR_DT_BOOL && k < t->nbytes; k++)
            if (t->data[k] > 1) {
                st = dlor_fail(err, DLOR_E_FORMAT, "%s: tensor '%s': bool element %zu is %u, not 0 or 1", path, t->name,
                               k, (unsigned)t->data[k]);
                goto out;
            }
        /* the same for quantized tensors' scales and padding (section 6.1) */
        dlor_image_error qe;
        if (dlor_dtype_is_quant(t->dtype) && t->nelem &&
            dlor_image_check_qdata(t->data, (int)t->dtype, t->dims[0], t->dims[1], t->name, &qe) != 0) {
            st = dlor_fail(err, DLOR_E_FORMAT, "%s: %s", path, qe.msg);
            goto out;
        }
    }
    uint64_t meta_text = 0;
    for (size_t i = 0; i < nm; i++) {
        const char *k = tl->meta_keys[w.m_order[i]], *v = tl->meta_vals[w.m_order[i]];
        size_t kl = strlen(k), vl = strlen(v);
        if (kl == 0 || kl > DLOR_IMAGE_MAX_NAME || vl > DLOR_IMAGE_MAX_VALUE) {
            st = dlor_fail(err, DLOR_E_LIMIT, "%s: metadata '%.64s': key or value too long", path, k);
            goto out;
        }
        if ((st = check_utf8(path, "metadata key", k, err)) != DLOR_OK ||
            (st = check_utf8(path, "metadata value", v, err)) != DLOR_OK)
            goto out;
        if (i && strcmp(tl->meta_keys[w.m_order[i - 1]], k) == 0) {
            st = dlor_fail(err, DLOR_E_ARG, "%s: duplicate metadata key '%s'", path, k);
            goto out;
        }
        meta_text += kl + vl;
    }
    if (meta_text > DLOR_IMAGE_MAX_META_TEXT) {
        st = dlor_fail(err, DLOR_E_LIMIT, "%s: metadata text exceeds 1 MiB", path);
        goto out;
    }

    /* Layout. */
    const int dag = dlor_graph_is_dag(&c->graph);
    const uint32_t nsec = c->graph.count ? 5 : 4;
    const size_t ng = dag ? c->graph.count : 0;
    if (c->graph.count > DLOR_IMAGE_MAX_OPS) {
        st = dlor_fail(err, DLOR_E_LIMIT, "%s: graph of %zu operations exceeds the limit", path, c->graph.count);
        goto out;
    }
    if (dag) { /* the shapes every record declares, checked as a reader will */
        w.vals = malloc(ng * sizeof *w.vals);
        if (!w.vals) goto nomem;
        if ((st = dlor_graph_shapes_layers(&c->graph, tl, container_layer, (void *)c, path, w.vals, err)) != DLOR_OK)
            goto out;
    }
    uint64_t pos = align_up(DLOR_IMAGE_PREAMBLE + nsec * DLOR_IMAGE_DIR_ENTRY, 8);
    /* String pool first: metadata keys/values, tensor names, layer names, the
     * names of a DAG's inputs and outputs. */
    uint32_t *refs = calloc(2 * nm + nt + nl + ng + 1, 2 * sizeof(uint32_t));
    if (!refs) goto nomem;
    uint32_t *mref = refs, *tref = refs + 4 * nm, *lref = tref + 2 * nt, *gref = lref + 2 * nl;
    for (size_t i = 0; i < nm && st == DLOR_OK; i++)
        if (pool_add(&w.pool, tl->meta_keys[w.m_order[i]], &mref[4 * i], &mref[4 * i + 1]) ||
            pool_add(&w.pool, tl->meta_vals[w.m_order[i]], &mref[4 * i + 2], &mref[4 * i + 3]))
            st = DLOR_E_NOMEM;
    for (size_t i = 0; i < nt && st == DLOR_OK; i++)
        if (pool_add(&w.pool, w.t_names[w.t_order[i]], &tref[2 * i], &tref[2 * i + 1])) st = DLOR_E_NOMEM;
    for (size_t i = 0; i < nl && st == DLOR_OK; i++)
        if (pool_add(&w.pool, w.l_names[w.l_order[i]], &lref[2 * i], &lref[2 * i + 1])) st = DLOR_E_NOMEM;
    for (size_t i = 0; i < ng && st == DLOR_OK; i++) {
        const char *name = c->graph.ops[i].name;
        if (name && (st = check_utf8(path, "graph input or output name", name, err)) != DLOR_OK) break;
        if (name && pool_add(&w.pool, name, &gref[2 * i], &gref[2 * i + 1])) st = DLOR_E_NOMEM;
    }
    if (st != DLOR_OK && st != DLOR_E_NOMEM) {
        free(refs);
        goto out;
    }
    if (st != DLOR_OK) {
        free(refs);
        goto nomem;
    }
    uint64_t sec_off[5], sec_size[5], sec_count[5];
    const uint64_t sec_esize[5] = {0, DLOR_IMAGE_META_REC, DLOR_IMAGE_TENSOR_REC, DLOR_IMAGE_LAYER_REC,
                                   dag ? DLOR_IMAGE_DAG_REC : DLOR_IMAGE_GRAPH_REC};
    const uint32_t sec_kind[5] = {DLOR_SECTION_STRINGS, DLOR_SECTION_METADATA, DLOR_SECTION_TENSORS,
                                  DLOR_SECTION_LAYERS, dag ? DLOR_SECTION_DAG : DLOR_SECTION_GRAPH};
    sec_size[0] = w.pool.len;
    sec_count[0] = w.pool.len;
    sec_count[1] = nm;
    sec_count[2] = nt;
    sec_count[3] = nl;
    sec_count[4] = c->graph.count;
    for (uint32_t s = 1; s < nsec; s++) sec_size[s] = sec_count[s] * sec_esize[s];
    for (uint32_t s = 0; s < nsec; s++) {
        sec_off[s] = pos;
        pos = sec_off[s] + sec_size[s];
        if (s + 1 < nsec) pos = align_up(pos, 8);
    }
    uint64_t header_len = pos;
    if (header_len > DLOR_IMAGE_MAX_HEADER) {
        free(refs);
        st = dlor_fail(err, DLOR_E_LIMIT, "%s: header of %llu bytes exceeds 64 MiB", path,
                       (unsigned long long)header_len);
        goto out;
    }
    uint64_t data_offset = align_up(header_len, DLOR_IMAGE_ALIGN);
    w.header = calloc(1, (size_t)data_offset);
    if (!w.header) {
        free(refs);
        goto nomem;
    }
    unsigned char *h = w.header;
    memcpy(h, DLOR_IMAGE_MAGIC, 8);
    dlor_store_u16(h + 8, DLOR_IMAGE_MAJOR);
    dlor_store_u16(h + 10, DLOR_IMAGE_MINOR);
    dlor_store_u32(h + 12, DLOR_IMAGE_ENDIAN_TAG);
    dlor_store_u64(h + 16, header_len);
    dlor_store_u64(h + 24, data_offset);
    dlor_store_u32(h + 52, nsec);
    for (uint32_t s = 0; s < nsec; s++) {
        unsigned char *e = h + DLOR_IMAGE_PREAMBLE + s * DLOR_IMAGE_DIR_ENTRY;
        dlor_store_u32(e, sec_kind[s]);
        dlor_store_u32(e + 4, (uint32_t)sec_esize[s]);
        dlor_store_u64(e + 8, sec_off[s]);
        dlor_store_u64(e + 16, sec_size[s]);
        dlor_store_u64(e + 24, sec_count[s]);
    }
    if (w.pool.len) memcpy(h + sec_off[0], w.pool.p, w.pool.len); /* no pool at all when empty */
    for (size_t i = 0; i < nm; i++) {
        unsigned char *r = h + sec_off[1] + i * DLOR_IMAGE_META_REC;
        for (int q = 0; q < 4; q++) dlor_store_u32(r + 4 * q, mref[4 * i + q]);
    }
    if ((st = prepare_layers(path, c, &w, err)) != DLOR_OK) {
        free(refs);
        goto out;
    }
    uint64_t dpos = data_offset;
    for (size_t i = 0; i < nt; i++) {
        const dlor_tensor *t = &tl->items[w.t_order[i]];
        const unsigned char *data = w.panels[i] ? w.panels[i] : t->data;
        unsigned char *r = h + sec_off[2] + i * DLOR_IMAGE_TENSOR_REC;
        if (i) dpos = align_up(dpos, DLOR_IMAGE_ALIGN);
        dlor_store_u32(r, tref[2 * i]);
        dlor_store_u32(r + 4, tref[2 * i + 1]);
        dlor_store_u16(r + 8, (uint16_t)t->dtype);
        r[10] = (unsigned char)t->ndim;
        for (int d = 0; d < t->ndim; d++) dlor_store_u64(r + 16 + 8 * d, t->dims[d]);
        dlor_store_u64(r + 80, dpos);
        dlor_store_u64(r + 88, t->nbytes);
        dlor_store_u32(r + 96, dlor_crc32(0, data, t->nbytes));
        dpos += t->nbytes;
    }
    for (size_t i = 0; i < nl && st == DLOR_OK; i++) {
        const dlor_layer_desc *d = &c->layers[w.l_order[i]];
        long ui = find_sorted(w.t_names, w.t_order, nt, d->u_name);
        long vi = find_sorted(w.t_names, w.t_order, nt, d->v_name); /* both exist: prepare_layers */
        unsigned char *r = h + sec_off[3] + i * DLOR_IMAGE_LAYER_REC;
        uint64_t abits;
        memcpy(&abits, &d->alpha, 8);
        dlor_store_u32(r, lref[2 * i]);
        dlor_store_u32(r + 4, lref[2 * i + 1]);
        dlor_store_u16(r + 8, (uint16_t)d->method);
        dlor_store_u16(r + 10, (uint16_t)d->basis);
        dlor_store_u16(r + 12, (uint16_t)d->u_layout);
        dlor_store_u64(r + 16, d->rows);
        dlor_store_u64(r + 24, d->cols);
        dlor_store_u64(r + 32, d->rank);
        dlor_store_u64(r + 40, d->factors);
        dlor_store_u64(r + 48, abits);
        dlor_store_u32(r + 56, (uint32_t)ui);
        dlor_store_u32(r + 60, (uint32_t)vi);
        dlor_store_u16(r + 64, (uint16_t)d->source_dtype);
        dlor_store_u64(r + 72, d->seed);
        if (d->base_name) { /* exists: prepare_layers */
            dlor_store_u16(r + 14, DLOR_IMAGE_LAYER_BASE);
            dlor_store_u32(r + 80, (uint32_t)find_sorted(w.t_names, w.t_order, nt, d->base_name));
        }
    }
    if (dag) st = write_dag(path, c, &w, gref, h + sec_off[4], err);
    free(refs);
    for (size_t i = 0; !dag && i < c->graph.count && st == DLOR_OK; i++) {
        const dlor_graph_op *op = &c->graph.ops[i];
        unsigned char *r = h + sec_off[4] + i * DLOR_IMAGE_GRAPH_REC;
        dlor_store_u16(r, (uint16_t)op->kind);
        if (op->kind == DLOR_OP_ACT) {
            uint64_t pbits;
            memcpy(&pbits, &op->param, 8);
            dlor_store_u16(r + 2, (uint16_t)op->act);
            dlor_store_u64(r + 24, pbits);
        } else if (op->kind == DLOR_OP_LINEAR) {
            long li = op->weight ? layer_index(&w, nl, op->weight) : -1;
            long ti = op->weight ? find_sorted(w.t_names, w.t_order, nt, op->weight) : -1;
            long bi = op->bias ? find_sorted(w.t_names, w.t_order, nt, op->bias) : -1;
            if ((li < 0 && ti < 0) || (op->bias && bi < 0)) {
                st = dlor_fail(err, DLOR_E_ARG, "%s: graph op %zu refers to a missing tensor '%s'", path, i,
                               li < 0 && ti < 0 ? (op->weight ? op->weight : "(none)") : op->bias);
                break;
            }
            dlor_store_u32(r + 8, (uint32_t)(li >= 0 ? li : ti));
            dlor_store_u32(r + 12, op->bias ? (uint32_t)bi : DLOR_IMAGE_NO_TENSOR);
            dlor_store_u32(r + 16, li >= 0 ? DLOR_IMAGE_OP_LAYER : 0);
        } else if (op->kind == DLOR_OP_BRANCH) {
            uint64_t pbits;
            memcpy(&pbits, &op->param, 8);
            dlor_store_u64(r + 24, pbits);
        } else if (op->kind == DLOR_OP_MERGE) {
            long bi = op->bias ? find_sorted(w.t_names, w.t_order, nt, op->bias) : -1;
            if (op->bias && bi < 0) {
                st = dlor_fail(err, DLOR_E_ARG, "%s: graph op %zu refers to a missing tensor '%s'", path, i, op->bias);
                break;
            }
            dlor_store_u32(r + 12, op->bias ? (uint32_t)bi : DLOR_IMAGE_NO_TENSOR);
        }
    }
    if (st != DLOR_OK) goto out;
    dlor_store_u64(h + 32, dpos - data_offset);
    dlor_store_u64(h + 40, dpos);
    dlor_store_u32(h + 56, dlor_crc32(0, h, (size_t)header_len));

    /* Emit: header and padding, then each tensor and its padding. */
    static const unsigned char zeros[DLOR_IMAGE_ALIGN];
    st = sink_write(out, h, (size_t)data_offset, path, err);
    dpos = data_offset;
    for (size_t i = 0; i < nt && st == DLOR_OK; i++) {
        const dlor_tensor *t = &tl->items[w.t_order[i]];
        uint64_t at = i ? align_up(dpos, DLOR_IMAGE_ALIGN) : dpos;
        if (at > dpos) st = sink_write(out, zeros, (size_t)(at - dpos), path, err);
        if (st == DLOR_OK) st = sink_write(out, w.panels[i] ? w.panels[i] : t->data, t->nbytes, path, err);
        dpos = at + t->nbytes;
    }
    goto out;
nomem:
    st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
out:
    writer_free(&w);
    return st;
}

dlor_status dlor_container_write(const char *path, const dlor_container *c, dlor_error *err)
{
    dlor_atomic_file af;
    sink k = {&af, NULL, 0, 0};
    dlor_status st = dlor_atomic_open(&af, path, err);
    if (st != DLOR_OK) return st;
    st = serialize(path, c, &k, err);
    if (st == DLOR_OK) return dlor_atomic_commit(&af, err);
    dlor_atomic_abort(&af);
    return st;
}

/* DLOR_FORMAT.md 3.1: a compressed file is the 64-byte preamble of the
 * uncompressed image with DEFLATE set and the CRC-32 of the compressed bytes
 * at offset 60, followed by one zlib stream of the image's remaining bytes. The
 * header checksum stays the uncompressed image's. */
#define DLOR_DEFLATE_MAX_RATIO 1032u /* deflate cannot expand beyond ~1032:1 */

dlor_status dlor_container_write_deflated(const char *path, const dlor_container *c, dlor_error *err)
{
    unsigned char *img, *z = NULL;
    size_t len;
    dlor_status st = dlor_container_to_memory(c, &img, &len, err);
    if (st != DLOR_OK) return st;
    size_t body = len - DLOR_IMAGE_PREAMBLE;
    uLongf zlen = compressBound((uLong)body);
    if ((size_t)(uLong)body != body || !(z = malloc(zlen ? zlen : 1))) {
        free(img);
        return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory compressing %zu bytes", path, body);
    }
    if (compress2(z, &zlen, img + DLOR_IMAGE_PREAMBLE, (uLong)body, 9) != Z_OK) {
        free(img);
        free(z);
        return dlor_fail(err, DLOR_E_NOMEM, "%s: zlib compression failed", path);
    }
    dlor_store_u32(img + 48, DLOR_IMAGE_FLAG_DEFLATE);
    dlor_store_u32(img + 60, dlor_crc32(0, z, zlen));
    dlor_atomic_file af;
    st = dlor_atomic_open(&af, path, err);
    if (st == DLOR_OK) st = dlor_atomic_write(&af, img, DLOR_IMAGE_PREAMBLE, err);
    if (st == DLOR_OK) st = dlor_atomic_write(&af, z, zlen, err);
    if (st == DLOR_OK) st = dlor_atomic_commit(&af, err);
    else dlor_atomic_abort(&af);
    free(img);
    free(z);
    return st;
}

dlor_status dlor_image_inflate(const unsigned char *buf, size_t len, const char *what, unsigned char **out,
                               size_t *out_len, dlor_error *err)
{
    void *p = NULL;
    int deflated = len >= DLOR_IMAGE_PREAMBLE && memcmp(buf, DLOR_IMAGE_MAGIC, 8) == 0 &&
                   (dlor_load_u32(buf + 48) & DLOR_IMAGE_FLAG_DEFLATE);
    /* the uncompressed size comes from the preamble, capped by what deflate can produce */
    uint64_t total = deflated ? dlor_load_u64(buf + 40) : len;
    if (deflated) {
        uint64_t body = len - DLOR_IMAGE_PREAMBLE;
        if (total < DLOR_IMAGE_PREAMBLE || total > DLOR_MAX_INPUT_BYTES ||
            total - DLOR_IMAGE_PREAMBLE > body * DLOR_DEFLATE_MAX_RATIO + 64)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: compressed image claims %llu bytes, impossible for %llu "
                                                 "compressed bytes", what, (unsigned long long)total,
                             (unsigned long long)body);
        if (dlor_crc32(0, buf + DLOR_IMAGE_PREAMBLE, (size_t)body) != dlor_load_u32(buf + 60))
            return dlor_fail(err, DLOR_E_FORMAT, "%s: compressed data checksum mismatch (data corrupt)", what);
    }
    /* 64-byte aligned so the runtime can use f32 tensors in place */
    if (posix_memalign(&p, DLOR_IMAGE_ALIGN, total ? (size_t)total : 1) != 0)
        return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory for a %llu-byte image", what,
                         (unsigned long long)total);
    unsigned char *o = p;
    if (!deflated) {
        memcpy(o, buf, len);
        *out = o;
        *out_len = len;
        return DLOR_OK;
    }
    size_t want = (size_t)total - DLOR_IMAGE_PREAMBLE;
    memcpy(o, buf, DLOR_IMAGE_PREAMBLE);
    /* Inflate exactly the size the preamble gives, never more. */
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK) {
        free(o);
        return dlor_fail(err, DLOR_E_NOMEM, "%s: zlib initialisation failed", what);
    }
    const unsigned char *src = buf + DLOR_IMAGE_PREAMBLE;
    size_t src_left = len - DLOR_IMAGE_PREAMBLE, dst_left = want;
    unsigned char *dst = o + DLOR_IMAGE_PREAMBLE;
    int zr;
    for (;;) {
        /* zlib counts in uInt: feed and drain at most 1 GiB at a time */
        if (zs.avail_in == 0 && src_left) {
            zs.next_in = (Bytef *)(uintptr_t)src;
            zs.avail_in = src_left > (1u << 30) ? (1u << 30) : (uInt)src_left;
            src += zs.avail_in;
            src_left -= zs.avail_in;
        }
        if (zs.avail_out == 0 && dst_left) {
            zs.next_out = dst;
            zs.avail_out = dst_left > (1u << 30) ? (1u << 30) : (uInt)dst_left;
            dst += zs.avail_out;
            dst_left -= zs.avail_out;
        }
        zr = inflate(&zs, Z_NO_FLUSH);
        if (zr != Z_OK) break; /* Z_STREAM_END, or an error; Z_BUF_ERROR: no room or no input left */
    }
    size_t produced = want - dst_left - zs.avail_out, unused = src_left + zs.avail_in;
    inflateEnd(&zs);
    if (zr != Z_STREAM_END || produced != want || unused != 0) {
        free(o);
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: compressed image is corrupt or does not inflate to the %zu bytes its preamble gives",
                         what, want);
    }
    /* the uncompressed image: no DEFLATE flag, offset 60 zero; its header checksum then holds */
    dlor_store_u32(o + 48, dlor_load_u32(o + 48) & ~DLOR_IMAGE_FLAG_DEFLATE); /* other bits: still checked */
    dlor_store_u32(o + 60, 0);
    *out = o;
    *out_len = want + DLOR_IMAGE_PREAMBLE;
    return DLOR_OK;
}

dlor_status dlor_image_load_file(const char *path, unsigned char **out, size_t *out_len, dlor_error *err)
{
    unsigned char *buf;
    size_t len;
    dlor_status st = dlor_file_read(path, DLOR_MAX_INPUT_BYTES, &buf, &len, err);
    if (st != DLOR_OK) return st;
    st = dlor_image_inflate(buf, len, path, out, out_len, err);
    free(buf);
    return st;
}

dlor_status dlor_container_to_memory(const dlor_container *c, unsigned char **buf, size_t *len,
                                     dlor_error *err)
{
    sink k = {NULL, NULL, 0, 0};
    dlor_status st = serialize("(memory)", c, &k, err);
    if (st != DLOR_OK) {
        free(k.mem);
        return st;
    }
    *buf = k.mem;
    *len = k.len;
    return DLOR_OK;
}

/* ---- reading ------------------------------------------------------------ */

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* The U tensors stored in panels, turned back into plain rows (owned copies):
 * in memory a container always holds rows (see dlor_layer_desc.u_layout). A
 * panel tensor that another layer or operation also uses has no such form. */
static dlor_status unpanel(const dlor_image *img, dlor_container *c, const char *what, dlor_error *err)
{
    unsigned *uses = calloc(img->ntensors ? img->ntensors : 1, sizeof *uses);
    dlor_status st = DLOR_OK;
    if (!uses) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
    for (uint32_t i = 0; i < img->nlayers; i++) {
        dlor_image_layer l;
        dlor_image_layer_at(img, i, &l);
        uses[l.u_tensor]++;
        uses[l.v_tensor]++;
        if (l.has_base) uses[l.base_tensor]++;
    }
    for (uint32_t i = 0; i < img->nops; i++) {
        dlor_image_op op;
        dlor_image_op_at(img, i, &op);
        if (op.kind == DLOR_IMAGE_OP_LINEAR && !op.is_layer) uses[op.weight]++;
        if ((op.kind == DLOR_IMAGE_OP_LINEAR || op.kind == DLOR_IMAGE_OP_MERGE) && op.bias != DLOR_IMAGE_NO_TENSOR)
            uses[op.bias]++;
    }
    for (uint32_t i = 0; i < img->nlayers && st == DLOR_OK; i++) {
        dlor_image_layer l;
        dlor_image_layer_at(img, i, &l);
        if (l.u_layout != DLOR_IMAGE_U_PANELS) continue;
        dlor_tensor *t = &c->tensors.items[l.u_tensor];
        unsigned char *rows;
        if (uses[l.u_tensor] != 1) {
            st = dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: layer '%.*s': its U tensor '%s' is stored in panels and used "
                           "elsewhere too", what, (int)l.name_len, l.name, t->name);
        } else if (!(rows = malloc(t->nbytes ? t->nbytes : 1))) {
            st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
        } else {
            dlor_image_u_permute(t->data, rows, t->dims[0], t->dims[1], l.rank, dlor_dtype_size(t->dtype), 0);
            t->data = rows;
            st = dlor_tensor_list_own(&c->tensors, rows, err);
        }
    }
    free(uses);
    return st;
}

dlor_status dlor_container_parse(const unsigned char *buf, size_t len, const char *what,
                                 unsigned flags, dlor_container *out, dlor_error *err)
{
    dlor_image img;
    dlor_image_error ie;
    dlor_container c;
    dlor_status st = DLOR_OK;
    if (dlor_image_open(&img, buf, len, flags, &ie) != 0)
        return dlor_fail(err, (dlor_status)ie.code, "%s: %s", what, ie.msg);
    dlor_container_init(&c);
    for (uint32_t i = 0; i < img.ntensors && st == DLOR_OK; i++) {
        dlor_image_tensor t;
        dlor_image_tensor_at(&img, i, &t);
        st = dlor_tensor_list_add(&c.tensors, what, t.name, t.name_len, (dlor_dtype)t.dtype, t.ndim,
                                  t.dims, t.data, (size_t)t.nbytes, err);
    }
    for (uint32_t i = 0; i < img.nmeta && st == DLOR_OK; i++) {
        const char *k, *v;
        uint32_t kl, vl;
        dlor_image_meta_at(&img, i, &k, &kl, &v, &vl);
        char *ks = dup_n(k, kl), *vs = dup_n(v, vl);
        if (!ks || !vs) st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
        else st = dlor_tensor_list_add_meta(&c.tensors, ks, vs, err);
        free(ks);
        free(vs);
    }
    for (uint32_t i = 0; i < img.nlayers && st == DLOR_OK; i++) {
        dlor_image_layer l;
        dlor_layer_desc d;
        dlor_image_layer_at(&img, i, &l);
        memset(&d, 0, sizeof d);
        d.method = l.method;
        d.basis = l.basis;
        d.rows = l.rows;
        d.cols = l.cols;
        d.rank = l.rank;
        d.factors = l.factors;
        d.alpha = l.alpha;
        d.source_dtype = (dlor_dtype)l.source_dtype;
        d.seed = l.seed;
        d.u_layout = l.u_layout;
        d.name = dup_n(l.name, l.name_len);
        d.u_name = c.tensors.items[l.u_tensor].name;
        d.v_name = c.tensors.items[l.v_tensor].name;
        d.base_name = l.has_base ? c.tensors.items[l.base_tensor].name : NULL;
        if (!d.name) st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
        else st = dlor_container_add_layer(&c, &d, err);
        free(d.name);
    }
    for (uint32_t i = 0; i < img.nops && st == DLOR_OK; i++) {
        dlor_image_op op;
        dlor_image_op_at(&img, i, &op);
        if (op.kind == DLOR_IMAGE_OP_ACT) {
            st = dlor_graph_add_act(&c.graph, (dlor_act)op.act, op.param, err);
        } else if (op.kind == DLOR_IMAGE_OP_SOFTMAX) {
            st = dlor_graph_add_softmax(&c.graph, err);
        } else if (op.kind == DLOR_IMAGE_OP_BRANCH) {
            st = dlor_graph_add_branch(&c.graph, op.param, err);
        } else if (op.kind == DLOR_IMAGE_OP_MERGE) {
            st = dlor_graph_add_merge(&c.graph, op.bias == DLOR_IMAGE_NO_TENSOR ? NULL : c.tensors.items[op.bias].name,
                                      err);
        } else {
            const char *wname = op.is_layer ? c.layers[op.weight].name : c.tensors.items[op.weight].name;
            const char *bname = op.bias == DLOR_IMAGE_NO_TENSOR ? NULL : c.tensors.items[op.bias].name;
            st = dlor_graph_add_linear(&c.graph, wname, bname, err);
        }
    }
    for (uint32_t i = 0; i < img.ndag && st == DLOR_OK; i++) { /* a DAG: its records as they are */
        dlor_image_node n;
        dlor_graph_op op;
        char *name = NULL;
        dlor_image_node_at(&img, i, &n);
        memset(&op, 0, sizeof op);
        op.kind = (dlor_op_kind)n.kind;
        for (int k = 0; k < 4; k++) op.in[k] = n.in[k];
        if (n.weight != DLOR_IMAGE_NO_TENSOR)
            op.weight = n.is_layer ? c.layers[n.weight].name : c.tensors.items[n.weight].name;
        if (n.bias != DLOR_IMAGE_NO_TENSOR) op.bias = c.tensors.items[n.bias].name;
        if (n.kind == DLOR_OP_ACT) op.act = (dlor_act)n.code;
        else op.mode = n.code;
        if (n.name && !(name = dup_n(n.name, n.name_len))) {
            st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", what);
            break;
        }
        op.name = name;
        op.features = n.kind == DLOR_OP_INPUT ? n.features : 0;
        op.param = n.p0;
        op.rope_theta = n.p1;
        op.heads = n.heads;
        op.kv_heads = n.kv_heads;
        op.causal = n.causal;
        st = dlor_graph_push(&c.graph, &op, NULL, err);
        free(name);
    }
    if (st == DLOR_OK) st = unpanel(&img, &c, what, err);
    if (st != DLOR_OK) {
        dlor_container_free(&c);
        return st;
    }
    *out = c;
    return DLOR_OK;
}

dlor_status dlor_container_read(const char *path, dlor_container *out, dlor_error *err)
{
    unsigned char *buf;
    size_t len;
    dlor_status st = dlor_image_load_file(path, &buf, &len, err);
    if (st != DLOR_OK) return st;
    dlor_container c;
    st = dlor_container_parse(buf, len, path, DLOR_IMAGE_CHECK_CRC, &c, err);
    if (st != DLOR_OK) {
        free(buf);
        return st;
    }
    if ((st = dlor_tensor_list_own(&c.tensors, buf, err)) != DLOR_OK) {
        dlor_container_free(&c);
        return st;
    }
    *out = c;
    return DLOR_OK;
}
