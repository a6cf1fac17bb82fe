/* fuzz_dlor - property: the host's .dlor reader (zlib-compressed images
 * inflated with a bounded output, then the in-place validating parser with
 * tensor CRCs, then the container built from it) never crashes, hangs or
 * reads outside the input, and either yields a container whose every tensor,
 * layer and graph operation refers to data inside the image (but the U tensors
 * stored in panels, which the reader hands over as rows in copies of their own:
 * those must be the image's bytes reordered), or a clean error.
 *
 * Each input is read twice: as given (so checksum failures are exercised)
 * and with its checksums recomputed (dlf_fix_checksums), so that mutations
 * reach the checks behind the header CRC. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "dlor_container.h"

/* Tensor i of the container is tensor i of the image; 1 when it is the U of a
 * layer stored in panels and holds exactly the image's bytes in rows. */
static int unpaneled(const dlor_container *c, size_t i, const unsigned char *img, size_t len)
{
    dlor_image im;
    dlor_image_error ie;
    dlor_image_tensor it;
    const dlor_tensor *t = &c->tensors.items[i];
    const dlor_layer_desc *d = NULL;
    for (size_t l = 0; l < c->nlayers; l++)
        if (c->layers[l].u_layout == DLOR_IMAGE_U_PANELS && strcmp(c->layers[l].u_name, t->name) == 0)
            d = &c->layers[l];
    if (!d || dlor_image_open(&im, img, len, 0, &ie) != 0 || i >= im.ntensors) return 0;
    dlor_image_tensor_at(&im, (uint32_t)i, &it);
    unsigned char *p = malloc(t->nbytes);
    DLF_REQUIRE(p != NULL, "out of memory in the target");
    dlor_image_u_permute(t->data, p, t->dims[0], t->dims[1], d->rank, dlor_dtype_size(t->dtype), 1);
    int same = it.nbytes == t->nbytes && memcmp(p, it.data, t->nbytes) == 0;
    free(p);
    return same;
}

static void check_container(const dlor_container *c, const unsigned char *img, size_t len)
{
    dlor_error none;
    memset(&none, 0, sizeof none);
    dlf_check_result(DLOR_OK, &c->tensors, &none);
    for (size_t i = 0; i < c->tensors.count; i++) {
        const dlor_tensor *t = &c->tensors.items[i];
        DLF_REQUIRE(t->nbytes == 0 || (t->data >= img && t->nbytes <= len && t->data <= img + len - t->nbytes) ||
                        unpaneled(c, i, img, len),
                    "tensor '%s' outside the image", t->name);
    }
    for (size_t i = 0; i < c->nlayers; i++) {
        const dlor_layer_desc *d = &c->layers[i];
        const dlor_tensor *u = dlor_tensor_list_find(&c->tensors, d->u_name);
        const dlor_tensor *v = dlor_tensor_list_find(&c->tensors, d->v_name);
        DLF_REQUIRE(u && v && u != v && u->ndim == 2 && v->ndim == 2 && u->dims[0] == v->dims[0] &&
                        d->rank >= 1 && d->rank <= u->dims[0],
                    "layer '%s' is inconsistent", d->name);
    }
    for (size_t i = 0; i < c->graph.count; i++) {
        const dlor_graph_op *op = &c->graph.ops[i];
        if (op->kind != DLOR_OP_LINEAR) continue;
        DLF_REQUIRE(op->weight && (dlor_container_find_layer(c, op->weight) ||
                                   dlor_tensor_list_find(&c->tensors, op->weight)),
                    "graph op %zu names a missing weight", i);
        DLF_REQUIRE(!op->bias || dlor_tensor_list_find(&c->tensors, op->bias), "graph op %zu names a missing bias",
                    i);
    }
}

static void read_image(const unsigned char *data, size_t size, int fix)
{
    dlor_error err;
    unsigned char *img = NULL, *copy = NULL;
    size_t len = 0;
    if (fix) {
        copy = malloc(size ? size : 1);
        DLF_REQUIRE(copy != NULL, "out of memory in the target");
        if (size) memcpy(copy, data, size);
        dlf_fix_checksums(copy, size);
        data = copy;
    }
    dlor_status st = dlor_image_inflate(data, size, "fuzz.dlor", &img, &len, &err);
    free(copy);
    if (st != DLOR_OK) {
        dlf_check_error(st, &err);
        return;
    }
    if (fix) dlf_fix_checksums(img, len);
    dlor_container c;
    dlor_container_init(&c);
    st = dlor_container_parse(img, len, "fuzz.dlor", DLOR_IMAGE_CHECK_CRC, &c, &err);
    if (st == DLOR_OK) check_container(&c, img, len);
    else {
        dlf_check_error(st, &err);
        DLF_REQUIRE(c.tensors.count == 0 && c.nlayers == 0 && c.graph.count == 0, "failed parse left a container");
    }
    dlor_container_free(&c);
    free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_image(data, size, 0);
    read_image(data, size, 1);
    return 0;
}
