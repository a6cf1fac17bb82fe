/* fuzz_onnx_rewrite - property: convert --emit-onnx's rewrite never crashes or
 * reads outside its input. The input is read by the ONNX reader as convert reads
 * it; every 2-D float tensor it returns (at most 16) becomes a layer of a
 * container, in turn an add layer (one component, alpha 0.5) and a mul layer of
 * two factors, the way convert would name and shape it, with the reader's graph.
 * The rewrite of the input then either fails with a clean one-line error or
 * gives bytes that the ONNX reader parses, with the same initializers and the
 * factors in place of the layers' weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_container.h"
#include "dlor_onnx_rewrite.h"
#include "dlor_readers.h"
#include "fuzz_common.h"

static int add_factor(dlor_container *c, const char *name, uint64_t k, uint64_t dim)
{
    size_t n = (size_t)(k * dim);
    float *z = calloc(n ? n : 1, sizeof *z);
    dlor_error err;
    if (!z) return -1;
    for (size_t i = 0; i < n; i++) z[i] = (float)((i % 7) * 0.25 - 0.5);
    uint64_t dims[2] = {k, dim};
    if (dlor_tensor_list_own(&c->tensors, z, &err) != DLOR_OK) return -1;
    return dlor_tensor_list_add(&c->tensors, "fuzz", name, strlen(name), DLOR_DT_F32, 2, dims, (const unsigned char *)z, n * 4, &err) ==
                   DLOR_OK ? 0 : -1;
}

static void rewrite_with(const uint8_t *data, size_t size, const dlor_tensor_list *l, const dlor_graph *g,
                         int method)
/* method 1: mul layers, 2: add layers */
{
    dlor_container c;
    dlor_error err;
    dlor_container_init(&c);
    if (g && dlor_graph_copy(&c.graph, g, &err) != DLOR_OK) {
        dlor_container_free(&c);
        return;
    }
    size_t nl = 0;
    for (size_t i = 0; i < l->count && nl < 16; i++) {
        const dlor_tensor *t = &l->items[i];
        if (t->ndim != 2 || !dlor_dtype_is_float(t->dtype) || t->nelem == 0 || t->dims[0] > 4096 ||
            t->dims[1] > 4096)
            continue;
        uint64_t m = t->dims[0], n = t->dims[1], d = m > n ? m : n;
        uint64_t k = method == 1 ? (d > 1 ? 2 : 1) : 1;
        char un[DLOR_MAX_NAME + 16], vn[DLOR_MAX_NAME + 16];
        snprintf(un, sizeof un, "%s.dlor.U", t->name);
        snprintf(vn, sizeof vn, "%s.dlor.V", t->name);
        dlor_layer_desc ld;
        memset(&ld, 0, sizeof ld);
        ld.name = t->name;
        ld.method = method == 1 ? DLOR_IMAGE_MUL : DLOR_IMAGE_ADD;
        ld.basis = method == 1 ? DLOR_IMAGE_SCHUR : DLOR_IMAGE_SVD;
        ld.rows = m;
        ld.cols = n;
        ld.rank = 1;
        ld.factors = k;
        ld.alpha = 0.5;
        ld.u_name = un;
        ld.v_name = vn;
        ld.source_dtype = t->dtype;
        if (add_factor(&c, un, k, method == 1 ? d : m) || add_factor(&c, vn, k, method == 1 ? d : n) ||
            dlor_container_add_layer(&c, &ld, &err) != DLOR_OK)
            break;
        nl++;
    }
    unsigned char *out = NULL;
    size_t len = 0;
    dlor_status st = dlor_onnx_rewrite_buffer(data, size, "fuzz.onnx", &c, &out, &len, &err);
    if (st != DLOR_OK) {
        dlf_check_error(st, &err);
        DLF_REQUIRE(out == NULL, "a failed rewrite returned bytes");
    } else {
        dlor_tensor_list back;
        dlor_graph g2;
        char why[256];
        dlor_tensor_list_init(&back);
        dlor_graph_init(&g2);
        dlor_status s2 = dlor_onnx_parse(out, len, "rewritten.onnx", NULL, &back, &g2, why, sizeof why, &err);
        DLF_REQUIRE(s2 == DLOR_OK || s2 == DLOR_E_NOMEM || s2 == DLOR_E_LIMIT,
                    "the rewrite of a model the reader read does not read back: %s", err.msg);
        if (s2 == DLOR_OK)
            for (size_t i = 0; i < c.nlayers; i++) {
                char a[DLOR_MAX_NAME + 32];
                snprintf(a, sizeof a, "%s.dlor.A%s", c.layers[i].name, method == 1 ? "0" : "");
                DLF_REQUIRE(dlor_tensor_list_find(l, a) != NULL || dlor_tensor_list_find(&back, a) != NULL,
                            "no factor '%s' in the rewrite", a); /* (a name the source has is made unique) */
            }
        dlor_graph_free(&g2);
        dlor_tensor_list_free(&back);
    }
    free(out);
    dlor_container_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlor_tensor_list l;
    dlor_error err;
    dlor_graph g;
    char why[512];
    dlor_tensor_list_init(&l);
    dlor_graph_init(&g);
    if (dlor_onnx_parse(data, size, "fuzz.onnx", NULL, &l, &g, why, sizeof why, &err) == DLOR_OK) {
        rewrite_with(data, size, &l, &g, 2);
        rewrite_with(data, size, &l, &g, 1);
    }
    dlor_graph_free(&g);
    dlor_tensor_list_free(&l);
    return 0;
}
