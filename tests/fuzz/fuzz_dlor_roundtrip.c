/* fuzz_dlor_roundtrip - property: the .dlor round trip is bit-exact.
 *
 *  1. An input that reads as a .dlor image (checksums recomputed first, so
 *     mutations get that far) is written again; that image reads back to the
 *     same container (tensor bytes, metadata, layer fields, graph), and writing
 *     it once more gives the same bytes. (A reader accepts any layout of the
 *     string pool, the writer makes one, so the first write may differ from
 *     the input; from then on the bytes are fixed.)
 *  2. The input also drives a builder that assembles a container (tensors of
 *     every dtype and rank up to 8, metadata, mul and add layers with their
 *     factor tensors, graph operations), sometimes breaking a rule on purpose.
 *     When the writer accepts it, the reader must accept the image and give
 *     back exactly what was written (names, dtypes, shapes, data, metadata,
 *     layer fields, graph), and writing that again gives the same bytes. The
 *     writer leaves the graph's shapes to its callers (dlor convert checks
 *     them first), so an image refused only for its graph must read once the
 *     graph is dropped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "dlor_container.h"

/* ---- a container built from the input (part 2) ------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n;
} src;

static unsigned take(src *s)
{
    if (!s->n) return 0;
    s->n--;
    return *s->p++;
}

static uint64_t take64(src *s)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)take(s) << (8 * i);
    return v;
}

/* A name from a small alphabet (so names collide and sort interestingly),
 * sometimes with a 2-byte UTF-8 letter, rarely with a byte that is not UTF-8. */
static void make_name(src *s, char *out, size_t max)
{
    static const char alpha[] = "ab.0_Z";
    unsigned n = 1 + take(s) % 10;
    size_t k = 0;
    for (unsigned i = 0; i < n && k + 3 < max; i++) {
        unsigned c = take(s);
        if (c == 250) out[k++] = (char)0xff;
        else if (c >= 240) {
            out[k++] = (char)0xc3;
            out[k++] = (char)0xa9;
        } else out[k++] = alpha[c % (sizeof alpha - 1)];
    }
    out[k] = 0;
}

static unsigned char *fill(dlor_container *c, src *s, size_t nbytes)
{
    unsigned char *b = malloc(nbytes ? nbytes : 1);
    dlor_error err;
    DLF_REQUIRE(b != NULL, "out of memory in the target");
    for (size_t i = 0; i < nbytes; i++) b[i] = (unsigned char)take(s);
    DLF_REQUIRE(dlor_tensor_list_own(&c->tensors, b, &err) == DLOR_OK, "own: %s", err.msg);
    return b;
}

static void add_tensor(dlor_container *c, src *s, const char *name, dlor_dtype dt, int ndim, const uint64_t *dims)
{
    uint64_t nbytes;
    dlor_error err;
    DLF_REQUIRE(dlor_shape_nbytes(dims, ndim, dt, &nbytes) == 0 && nbytes < (1u << 20), "builder shape");
    unsigned char *b = fill(c, s, (size_t)nbytes);
    /* a bool is 0 or 1; a byte of 255 stays 2, which the writer must refuse */
    for (size_t i = 0; dt == DLOR_DT_BOOL && i < nbytes; i++) b[i] = b[i] == 255 ? 2 : b[i] & 1;
    /* quantized (DLOR_FORMAT.md 6.1): made valid unless the next byte is odd, so that the writer both
     * writes such tensors and refuses bad scales and nonzero padding */
    if (dlor_dtype_is_quant(dt) && nbytes && !(take(s) & 1)) {
        uint64_t rows = dims[0], cols = dims[1], nb = (cols + 31) / 32, vb = dt == DLOR_DT_Q8 ? 32 : 16;
        unsigned char *sc = b + rows * nb * vb;
        for (uint64_t i = 0; i < rows * nb; i++) {
            sc[2 * i + 1] &= 0x7f;                                           /* not negative */
            if ((sc[2 * i + 1] & 0x7c) == 0x7c) sc[2 * i + 1] &= (unsigned char)~0x04; /* finite */
        }
        for (uint64_t r = 0; r < rows; r++)
            for (uint64_t j = cols % 32 ? cols % 32 : 32; j < 32; j++) {
                unsigned char *blk = b + (r * nb + nb - 1) * vb;
                if (vb == 32) blk[j] = 0;
                else if (j < 16) blk[j] &= 0xf0;
                else blk[j - 16] &= 0x0f;
            }
    }
    DLF_REQUIRE(dlor_tensor_list_add(&c->tensors, "build", name, strlen(name), dt, ndim, dims, b, (size_t)nbytes,
                                     &err) == DLOR_OK,
                "builder add '%s': %s", name, err.msg);
}

static const dlor_dtype float_types[4] = {DLOR_DT_F32, DLOR_DT_F64, DLOR_DT_F16, DLOR_DT_BF16};

static void add_layer(dlor_container *c, src *s)
{
    char name[64], un[80], vn[80];
    dlor_layer_desc d;
    dlor_error err;
    memset(&d, 0, sizeof d);
    make_name(s, name, 40);
    unsigned mode = take(s);
    d.method = mode & 1 ? DLOR_IMAGE_ADD : DLOR_IMAGE_MUL;
    d.basis = d.method == DLOR_IMAGE_ADD ? DLOR_IMAGE_SVD : (mode & 2 ? DLOR_IMAGE_RANDOM : DLOR_IMAGE_SCHUR);
    d.rows = 1 + take(s) % 5;
    d.cols = 1 + take(s) % 5;
    uint64_t kmax = d.method == DLOR_IMAGE_MUL ? (d.rows > d.cols ? d.rows : d.cols)
                                               : (d.rows < d.cols ? d.rows : d.cols);
    uint64_t k = 1 + take(s) % kmax;
    d.rank = 1 + take(s) % k;
    d.factors = (k + d.rank - 1) / d.rank;
    d.alpha = 0.25 * (double)(1 + take(s) % 9) * (mode & 4 ? -1 : 1);
    d.seed = d.basis == DLOR_IMAGE_RANDOM ? take64(s) : 0;
    d.source_dtype = float_types[take(s) % 4];
    dlor_dtype dt = float_types[take(s) % 4];
    if (mode & 0x80) { /* break one rule; the writer must refuse */
        switch (take(s) % 7) {
        case 0: d.factors++; break;
        case 1: d.rank = k + 1; break;
        case 2: d.alpha = d.method == DLOR_IMAGE_MUL ? 0.0 : HUGE_VAL; break;
        case 3: d.basis = DLOR_IMAGE_SVD + 1; break;
        case 4: d.seed = d.basis == DLOR_IMAGE_RANDOM ? d.seed : 7; break;
        case 5: d.source_dtype = DLOR_DT_U8; break; /* layers come from float weights */
        default: d.source_dtype = DLOR_DT_INVALID; break;
        }
    }
    snprintf(un, sizeof un, "%s.dlor.U", name);
    snprintf(vn, sizeof vn, "%s.dlor.V", name);
    uint64_t du = d.method == DLOR_IMAGE_MUL ? kmax : d.rows, dv = d.method == DLOR_IMAGE_MUL ? kmax : d.cols;
    uint64_t ud[2] = {k, du}, vd[2] = {k, dv};
    add_tensor(c, s, un, dt, 2, ud);
    add_tensor(c, s, vn, dt, 2, vd);
    d.name = name;
    d.u_name = un;
    d.v_name = vn;
    DLF_REQUIRE(dlor_container_add_layer(c, &d, &err) == DLOR_OK, "builder layer: %s", err.msg);
}

static void build(dlor_container *c, src *s)
{
    dlor_error err;
    char name[64], val[80];
    unsigned nt = take(s) % 7, nl = take(s) % 3, nm = take(s) % 4, nops = take(s) % 5;
    for (unsigned i = 0; i < nt; i++) {
        uint64_t dims[DLOR_MAX_NDIM] = {0};
        make_name(s, name, sizeof name);
        dlor_dtype dt = (dlor_dtype)(1 + take(s) % 15);
        unsigned r = take(s);
        int ndim = r >= 250 ? (int)(r - 247) : (int)(r % 3); /* up to 8 */
        if (dlor_dtype_is_quant(dt)) ndim = 2;
        for (int d = 0; d < ndim; d++) dims[d] = take(s) % (ndim > 3 ? 3 : 6);
        add_tensor(c, s, name, dt, ndim, dims);
    }
    for (unsigned i = 0; i < nl; i++) add_layer(c, s);
    for (unsigned i = 0; i < nm; i++) {
        make_name(s, name, sizeof name);
        unsigned vl = take(s) % 20;
        for (unsigned k = 0; k < vl; k++) {
            unsigned ch = take(s);
            val[k] = ch == 0 || ch == 250 ? '?' : (char)(ch == 251 ? 0xff : (ch & 0x7f) ? (ch & 0x7f) : 'v');
        }
        val[vl] = 0;
        if (take(s) == 255) name[0] = 0; /* an empty key: refused */
        DLF_REQUIRE(dlor_tensor_list_add_meta(&c->tensors, name, val, &err) == DLOR_OK, "builder meta");
    }
    for (unsigned i = 0; i < nops; i++) {
        unsigned kind = take(s) % 3;
        dlor_status st;
        if (kind == 0 && (c->tensors.count || c->nlayers)) {
            unsigned w = take(s) % (unsigned)(c->tensors.count + c->nlayers);
            const char *wn = w < c->nlayers ? c->layers[w].name : c->tensors.items[w - c->nlayers].name;
            const char *bn = NULL;
            if (c->tensors.count && take(s) & 1) bn = c->tensors.items[take(s) % c->tensors.count].name;
            st = dlor_graph_add_linear(&c->graph, wn, bn, &err);
        } else if (kind == 1) {
            unsigned a = take(s) % 9;
            st = dlor_graph_add_act(&c->graph, (dlor_act)a, a == DLOR_ACT_LEAKY_RELU ? 0.01 * take(s) : 0.0, &err);
        } else {
            st = dlor_graph_add_softmax(&c->graph, &err);
        }
        DLF_REQUIRE(st == DLOR_OK, "builder op: %s", err.msg);
    }
}

/* ---- comparing containers ----------------------------------------------- */

static const char *meta_get(const dlor_tensor_list *l, const char *k)
{
    for (size_t i = 0; i < l->meta_count; i++)
        if (strcmp(l->meta_keys[i], k) == 0) return l->meta_vals[i];
    return NULL;
}

static int same_name(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static void compare(const dlor_container *a, const dlor_container *b)
{
    DLF_REQUIRE(a->tensors.count == b->tensors.count && a->nlayers == b->nlayers &&
                    a->tensors.meta_count == b->tensors.meta_count && a->graph.count == b->graph.count,
                "counts differ after the round trip");
    for (size_t i = 0; i < a->tensors.count; i++) {
        const dlor_tensor *x = &a->tensors.items[i], *y = dlor_tensor_list_find(&b->tensors, x->name);
        DLF_REQUIRE(y && y->dtype == x->dtype && y->ndim == x->ndim && memcmp(y->dims, x->dims, sizeof x->dims) == 0 &&
                        y->nbytes == x->nbytes && (x->nbytes == 0 || memcmp(x->data, y->data, x->nbytes) == 0),
                    "tensor '%s' differs after the round trip", x->name);
    }
    for (size_t i = 0; i < a->tensors.meta_count; i++) {
        const char *v = meta_get(&b->tensors, a->tensors.meta_keys[i]);
        DLF_REQUIRE(v && strcmp(v, a->tensors.meta_vals[i]) == 0, "metadata '%s' differs", a->tensors.meta_keys[i]);
    }
    for (size_t i = 0; i < a->nlayers; i++) {
        const dlor_layer_desc *x = &a->layers[i], *y = dlor_container_find_layer(b, x->name);
        DLF_REQUIRE(y && y->method == x->method && y->basis == x->basis && y->rows == x->rows &&
                        y->cols == x->cols && y->rank == x->rank && y->factors == x->factors &&
                        memcmp(&y->alpha, &x->alpha, sizeof x->alpha) == 0 && y->seed == x->seed &&
                        y->source_dtype == x->source_dtype && strcmp(y->u_name, x->u_name) == 0 &&
                        strcmp(y->v_name, x->v_name) == 0,
                    "layer '%s' differs after the round trip", x->name);
    }
    for (size_t i = 0; i < a->graph.count; i++) {
        const dlor_graph_op *x = &a->graph.ops[i], *y = &b->graph.ops[i];
        DLF_REQUIRE(x->kind == y->kind && same_name(x->weight, y->weight) && same_name(x->bias, y->bias) &&
                        (x->kind != DLOR_OP_ACT || x->act == y->act) &&
                        memcmp(&x->param, &y->param, sizeof x->param) == 0,
                    "graph op %zu differs after the round trip", i);
    }
}

/* ---- part 1: read, write, read, compare ------------------------------------ */

static void image_round_trip(const uint8_t *data, size_t size)
{
    dlor_error err;
    unsigned char *copy = malloc(size ? size : 1), *img = NULL, *w1 = NULL, *w2 = NULL;
    size_t len = 0, n1 = 0, n2 = 0;
    DLF_REQUIRE(copy != NULL, "out of memory in the target");
    if (size) memcpy(copy, data, size);
    dlf_fix_checksums(copy, size);
    dlor_status st = dlor_image_inflate(copy, size, "fuzz.dlor", &img, &len, &err);
    free(copy);
    if (st != DLOR_OK) return;
    dlf_fix_checksums(img, len);
    dlor_container c, r;
    dlor_container_init(&c);
    dlor_container_init(&r);
    if (dlor_container_parse(img, len, "fuzz.dlor", DLOR_IMAGE_CHECK_CRC, &c, &err) == DLOR_OK) {
        st = dlor_container_to_memory(&c, &w1, &n1, &err);
        DLF_REQUIRE(st == DLOR_OK, "a valid image cannot be written again: %s", err.msg);
        st = dlor_container_parse(w1, n1, "rewritten", DLOR_IMAGE_CHECK_CRC, &r, &err);
        DLF_REQUIRE(st == DLOR_OK, "a rewritten valid image does not read: %s", err.msg);
        compare(&c, &r);
        st = dlor_container_to_memory(&r, &w2, &n2, &err);
        DLF_REQUIRE(st == DLOR_OK && n2 == n1 && memcmp(w1, w2, n1) == 0, "writing the same container twice differs");
        free(w1);
        free(w2);
    }
    dlor_container_free(&r);
    dlor_container_free(&c);
    free(img);
}

/* ---- part 2: build, write, read, compare -------------------------------- */

static void build_round_trip(const uint8_t *data, size_t size)
{
    src s = {data, size};
    dlor_container c, r;
    dlor_error err;
    unsigned char *img = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    dlor_container_init(&c);
    build(&c, &s);
    dlor_status st = dlor_container_to_memory(&c, &img, &len, &err);
    if (st != DLOR_OK) {
        dlf_check_error(st, &err);
        dlor_container_free(&c);
        return;
    }
    dlor_container_init(&r);
    st = dlor_container_parse(img, len, "built", DLOR_IMAGE_CHECK_CRC, &r, &err);
    if (st != DLOR_OK && c.graph.count) {
        /* the graph's shapes are the caller's business: without it, the image must read */
        char why[DLOR_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err.msg);
        DLF_REQUIRE(strstr(why, "graph") != NULL, "image refused for something other than its graph: %s", why);
        dlor_graph_free(&c.graph);
        dlor_graph_init(&c.graph);
        free(img);
        img = NULL;
        st = dlor_container_to_memory(&c, &img, &len, &err);
        DLF_REQUIRE(st == DLOR_OK, "the writer refuses the container without its graph: %s", err.msg);
        st = dlor_container_parse(img, len, "built", DLOR_IMAGE_CHECK_CRC, &r, &err);
    }
    DLF_REQUIRE(st == DLOR_OK, "the writer wrote an image the reader refuses: %s", err.msg);
    compare(&c, &r);
    st = dlor_container_to_memory(&r, &again, &len2, &err);
    DLF_REQUIRE(st == DLOR_OK && len2 == len && memcmp(again, img, len) == 0, "second write differs from the first");
    free(again);
    free(img);
    dlor_container_free(&r);
    dlor_container_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    image_round_trip(data, size);
    build_round_trip(data, size);
    return 0;
}
