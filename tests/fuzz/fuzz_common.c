/* fuzz_common.c - the checks shared by the dlor fuzz targets (see fuzz_common.h). */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_container.h"
#include "dlor_crc32.h"
#include "dlor_runtime.h"

void dlf_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz property violated: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

void dlf_check_error(dlor_status st, const dlor_error *err)
{
    DLF_REQUIRE(st >= DLOR_E_IO && st <= DLOR_E_NUMERIC, "unknown status %d", (int)st);
    DLF_REQUIRE(err->code == st, "error record says %d, function returned %d", (int)err->code, (int)st);
    size_t n = strnlen(err->msg, sizeof err->msg);
    DLF_REQUIRE(n > 0 && n < sizeof err->msg, "empty or unterminated error message");
    DLF_REQUIRE(memchr(err->msg, '\n', n) == NULL, "error message is not one line: %s", err->msg);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void dlf_check_result(dlor_status st, const dlor_tensor_list *l, const dlor_error *err)
{
    if (st != DLOR_OK) {
        dlf_check_error(st, err);
        DLF_REQUIRE(l->count == 0 && l->meta_count == 0 && l->nblocks == 0,
                    "failed reader left %zu tensors, %zu metadata entries, %zu blocks (%s)", l->count,
                    l->meta_count, l->nblocks, err->msg);
        return;
    }
    volatile unsigned sink = 0;
    for (size_t i = 0; i < l->count; i++) {
        const dlor_tensor *t = &l->items[i];
        DLF_REQUIRE(t->name != NULL, "tensor %zu has no name", i);
        size_t nl = strlen(t->name);
        DLF_REQUIRE(nl >= 1 && nl <= DLOR_MAX_NAME, "tensor %zu: name of %zu bytes", i, nl);
        size_t es = dlor_dtype_size(t->dtype);
        DLF_REQUIRE(es != 0 || dlor_dtype_is_quant(t->dtype), "tensor '%s': invalid dtype %d", t->name, (int)t->dtype);
        DLF_REQUIRE(t->ndim >= 0 && t->ndim <= DLOR_MAX_NDIM, "tensor '%s': ndim %d", t->name, t->ndim);
        uint64_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            DLF_REQUIRE(t->dims[d] == 0 || n <= UINT64_MAX / t->dims[d], "tensor '%s': shape overflows", t->name);
            n *= t->dims[d];
        }
        DLF_REQUIRE(n == t->nelem, "tensor '%s': nelem %llu, shape gives %llu", t->name,
                    (unsigned long long)t->nelem, (unsigned long long)n);
        uint64_t want = 0; /* element size times count, or the blocks of a quantized tensor */
        DLF_REQUIRE(dlor_shape_nbytes(t->dims, t->ndim, t->dtype, &want) == 0 && want == t->nbytes,
                    "tensor '%s': nbytes %zu for %llu elements", t->name, t->nbytes, (unsigned long long)n);
        DLF_REQUIRE(t->nbytes == 0 || t->data != NULL, "tensor '%s': no data", t->name);
        /* every byte must be readable: AddressSanitizer reports a view past the input */
        for (size_t k = 0; k < t->nbytes; k++) sink += t->data[k];
    }
    for (size_t i = 0; i < l->meta_count; i++) {
        DLF_REQUIRE(l->meta_keys[i] && l->meta_vals[i], "metadata %zu is NULL", i);
        sink += (unsigned)strlen(l->meta_keys[i]) + (unsigned)strlen(l->meta_vals[i]);
    }
    if (l->count > 1) {
        char **names = malloc(l->count * sizeof *names);
        DLF_REQUIRE(names != NULL, "out of memory in the check");
        for (size_t i = 0; i < l->count; i++) names[i] = l->items[i].name;
        qsort(names, l->count, sizeof *names, cmp_str_ptr);
        for (size_t i = 1; i < l->count; i++)
            DLF_REQUIRE(strcmp(names[i - 1], names[i]) != 0, "duplicate tensor name '%s'", names[i]);
        free(names);
    }
    (void)sink;
}

void dlf_resolve_graph(const dlor_tensor_list *l, dlor_graph *g)
{
    dlor_error err;
    dlor_status st = DLOR_OK;
    char why[256] = "";
    if (!g->count) {
        size_t i;
        for (i = 0; i < l->meta_count; i++)
            if (strcmp(l->meta_keys[i], "dlor.graph") == 0) break;
        if (i < l->meta_count) st = dlor_graph_parse(l->meta_vals[i], g, &err);
        else st = dlor_graph_from_names(l, DLOR_ACT_RELU, 0.0, g, why, sizeof why, &err);
    }
    if (st == DLOR_OK && g->count) st = dlor_graph_check(g, l, "fuzz", NULL, NULL, &err);
    if (st != DLOR_OK) {
        dlf_check_error(st, &err);
        dlor_graph_free(g);
        dlor_graph_init(g);
    }
}

/* Copies a DAG, or a chain of LINEAR, ACT and SOFTMAX operations; a chain
 * with other kinds is left out (out stays empty). */
static dlor_status copy_graph(const dlor_graph *g, dlor_graph *out, dlor_error *err)
{
    dlor_status st = DLOR_OK;
    if (g && dlor_graph_is_dag(g)) return dlor_graph_copy(out, g, err);
    for (size_t i = 0; g && i < g->count; i++)
        if (g->ops[i].kind != DLOR_OP_LINEAR && g->ops[i].kind != DLOR_OP_ACT && g->ops[i].kind != DLOR_OP_SOFTMAX)
            return DLOR_OK;
    for (size_t i = 0; g && i < g->count && st == DLOR_OK; i++) {
        const dlor_graph_op *op = &g->ops[i];
        if (op->kind == DLOR_OP_LINEAR) st = dlor_graph_add_linear(out, op->weight, op->bias, err);
        else if (op->kind == DLOR_OP_ACT) st = dlor_graph_add_act(out, op->act, op->param, err);
        else st = dlor_graph_add_softmax(out, err);
    }
    return st;
}

/* One sample of ones (or one token of id 0) through a model the graph check
 * accepted. */
static void run_once(const unsigned char *img, size_t len)
{
    dlor_model m;
    dlor_image_error ie;
    size_t plan_size = dlor_model_plan_size(img, len);
    void *plan = malloc(plan_size + 8);
    DLF_REQUIRE(plan, "out of memory in the check");
    int rc = dlor_model_open_plan(&m, img, len, DLOR_IMAGE_CHECK_CRC, plan, plan_size, &ie);
    /* a valid graph may keep more values alive than this runtime plans for */
    DLF_REQUIRE(rc == 0 || (rc == DLOR_RT_E_PLAN && strstr(ie.msg, "alive at once")),
                "a graph that passed dlor_graph_check does not open in the runtime: %s", ie.msg);
    size_t need = rc == 0 ? dlor_model_scratch_bytes(&m, 1, 1, 1, DLOR_RT_F32) : 0;
    uint64_t in = rc == 0 ? dlor_model_input_dim(&m) : 0, out = rc == 0 ? dlor_model_output_dim(&m) : 0;
    if (need == 0 || need > ((size_t)1 << 22) || in > (1u << 20) || out > (1u << 20)) {
        free(plan);
        return;
    }
    float *x = malloc((size_t)(in + 1) * sizeof *x), *y = malloc((size_t)(out + 1) * sizeof *y);
    void *scratch = malloc(need), *ys[1] = {y};
    int64_t zero = 0;
    DLF_REQUIRE(x && y && scratch, "out of memory in the check");
    for (uint64_t i = 0; i < in; i++) x[i] = 1.0f;
    dlor_run r;
    memset(&r, 0, sizeof r);
    r.batch = r.seq = 1;
    r.x = in ? x : NULL;
    r.ids = in ? NULL : &zero;
    r.ids_dtype = DLOR_RT_I64;
    r.y = ys;
    r.ny = 1;
    rc = dlor_model_run(&m, &r, DLOR_RT_F32, scratch, need, NULL, &ie);
    DLF_REQUIRE(rc == 0, "forward failed on a valid model: %s", ie.msg);
    free(x);
    free(y);
    free(scratch);
    free(plan);
}

void dlf_check_carry(const dlor_tensor_list *l, const dlor_graph *g)
{
    dlor_container c, r;
    dlor_error err;
    dlor_status st = DLOR_OK;
    dlor_container_init(&c);
    for (size_t i = 0; i < l->count && st == DLOR_OK; i++) {
        const dlor_tensor *t = &l->items[i];
        st = dlor_tensor_list_add(&c.tensors, "carry", t->name, strlen(t->name), t->dtype, t->ndim, t->dims,
                                  t->data, t->nbytes, &err);
    }
    for (size_t i = 0; i < l->meta_count && st == DLOR_OK; i++) {
        char key[300];
        if (strlen(l->meta_keys[i]) + 7 > DLOR_MAX_NAME) continue;
        snprintf(key, sizeof key, "source.%s", l->meta_keys[i]);
        st = dlor_tensor_list_add_meta(&c.tensors, key, l->meta_vals[i], &err);
    }
    if (st == DLOR_OK) st = copy_graph(g, &c.graph, &err);
    DLF_REQUIRE(st == DLOR_OK, "a reader's tensors cannot be carried: %s", err.msg);
    unsigned char *img = NULL;
    size_t len = 0;
    st = dlor_container_to_memory(&c, &img, &len, &err);
    if (st != DLOR_OK) {
        dlf_check_error(st, &err);
        dlor_container_free(&c);
        return;
    }
    dlor_container_init(&r);
    st = dlor_container_parse(img, len, "carry", DLOR_IMAGE_CHECK_CRC, &r, &err);
    DLF_REQUIRE(st == DLOR_OK, "dlor wrote a .dlor image it cannot read back: %s", err.msg);
    DLF_REQUIRE(r.tensors.count == c.tensors.count && r.tensors.meta_count == c.tensors.meta_count &&
                    r.graph.count == c.graph.count,
                "carried image reads back with other counts");
    for (size_t i = 0; i < c.tensors.count; i++) {
        const dlor_tensor *a = &c.tensors.items[i], *b = dlor_tensor_list_find(&r.tensors, a->name);
        DLF_REQUIRE(b && b->dtype == a->dtype && b->ndim == a->ndim && b->nbytes == a->nbytes &&
                        memcmp(b->dims, a->dims, sizeof a->dims) == 0 &&
                        (a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0),
                    "tensor '%s' changed in the carried image", a->name);
    }
    if (c.graph.count) run_once(img, len);
    dlor_container_free(&r);
    dlor_container_free(&c);
    free(img);
}

static uint32_t ld32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t ld64(const unsigned char *p) { return (uint64_t)ld32(p) | ((uint64_t)ld32(p + 4) << 32); }
static void st32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

void dlf_fix_checksums(unsigned char *b, size_t len)
{
    if (len < DLOR_IMAGE_PREAMBLE || memcmp(b, DLOR_IMAGE_MAGIC, 8) != 0) return;
    if (ld32(b + 48) & DLOR_IMAGE_FLAG_DEFLATE) {
        /* compressed: only the stream's CRC can be fixed before inflating */
        st32(b + 60, dlor_crc32(0, b + DLOR_IMAGE_PREAMBLE, len - DLOR_IMAGE_PREAMBLE));
        return;
    }
    uint64_t hl = ld64(b + 16), nsec = ld32(b + 52);
    if (hl < DLOR_IMAGE_PREAMBLE || hl > len) return;
    if (nsec <= DLOR_IMAGE_MAX_SECTIONS && DLOR_IMAGE_PREAMBLE + nsec * DLOR_IMAGE_DIR_ENTRY <= hl) {
        for (uint64_t s = 0; s < nsec; s++) {
            const unsigned char *e = b + DLOR_IMAGE_PREAMBLE + s * DLOR_IMAGE_DIR_ENTRY;
            uint64_t off = ld64(e + 8), count = ld64(e + 24);
            if (ld32(e) != DLOR_SECTION_TENSORS || off > hl || count > (hl - off) / DLOR_IMAGE_TENSOR_REC) continue;
            for (uint64_t i = 0; i < count; i++) {
                unsigned char *r = b + off + i * DLOR_IMAGE_TENSOR_REC;
                uint64_t to = ld64(r + 80), nb = ld64(r + 88);
                if (to <= len && nb <= len - to) st32(r + 96, dlor_crc32(0, b + to, (size_t)nb));
            }
        }
    }
    st32(b + 56, 0);
    st32(b + 56, dlor_crc32(0, b, (size_t)hl));
}

void dlf_check_reader(dlf_reader parse, const uint8_t *data, size_t size, const char *name)
{
    dlor_tensor_list l;
    dlor_error err;
    dlor_graph g;
    dlor_tensor_list_init(&l);
    dlor_graph_init(&g);
    dlor_status st = parse(data, size, name, &l, &err);
    dlf_check_result(st, &l, &err);
    if (st == DLOR_OK) {
        dlf_resolve_graph(&l, &g);
        dlf_check_carry(&l, &g);
    }
    dlor_graph_free(&g);
    dlor_tensor_list_free(&l);
}
