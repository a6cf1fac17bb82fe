/* fuzz_runtime - property: the runtime's in-place loader trusts no field.
 * dlor_model_open_plan on any image (checksums recomputed, so that mutations
 * get past the header CRC) either fails with a clean one-line error or gives a
 * model whose every tensor, layer and graph node lies inside the image;
 * running that model (a model of features on batches of 1 and 3 samples, a
 * model of token ids on batches of 1 and 3 sequences of ids inside its
 * tables, with a mask and type ids) reads nothing outside the image or the
 * exactly-sized scratch, writes nothing outside the outputs, refuses a
 * scratch one byte short, and gives the same bits whether the image is
 * 16-byte aligned (f32 data used in place) or not (converted). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "dlor_runtime.h"

#define MAX_SCRATCH ((size_t)1 << 24)
#define MAX_OUT ((size_t)1 << 22)

static void check_views(const dlor_model *m, const unsigned char *img, size_t len)
{
    const dlor_image *im = &m->img;
    for (uint32_t i = 0; i < im->ntensors; i++) {
        dlor_image_tensor t;
        DLF_REQUIRE(dlor_image_tensor_at(im, i, &t) == 0, "tensor %u", i);
        DLF_REQUIRE(t.offset <= len && t.nbytes <= len - t.offset && t.data == img + t.offset,
                    "tensor %u outside the image", i);
        DLF_REQUIRE((const unsigned char *)t.name >= img && t.name_len <= len &&
                        (const unsigned char *)t.name <= img + len - t.name_len,
                    "tensor %u name outside the image", i);
    }
    for (uint32_t i = 0; i < im->nlayers; i++) {
        dlor_image_layer l;
        DLF_REQUIRE(dlor_image_layer_at(im, i, &l) == 0, "layer %u", i);
        DLF_REQUIRE(l.u_tensor < im->ntensors && l.v_tensor < im->ntensors, "layer %u tensors", i);
        DLF_REQUIRE(l.rank >= 1 && l.rank <= l.k && l.k <= l.kmax && l.factors == (l.k + l.rank - 1) / l.rank,
                    "layer %u shape", i);
    }
    dlor_image_walk w;
    dlor_image_node n;
    uint32_t count = 0;
    dlor_image_walk_init(&w);
    while (dlor_image_walk_next(im, &w, &n)) {
        DLF_REQUIRE(count < im->nnodes, "the walk gives more than %u nodes", im->nnodes);
        for (int k = 0; k < 4; k++)
            DLF_REQUIRE(n.in[k] == DLOR_IMAGE_NONE || n.in[k] < count, "node %u reads value %u", count, n.in[k]);
        if (n.weight != DLOR_IMAGE_NO_TENSOR)
            DLF_REQUIRE(n.is_layer ? n.weight < im->nlayers : n.weight < im->ntensors, "node %u weight", count);
        DLF_REQUIRE(n.bias == DLOR_IMAGE_NO_TENSOR || n.bias < im->ntensors, "node %u bias", count);
        if (n.name && im->ndag) /* (a chain's input and output are named by the reader) */
            DLF_REQUIRE((const unsigned char *)n.name >= img && n.name_len <= len &&
                            (const unsigned char *)n.name <= img + len - n.name_len,
                        "node %u name outside the image", count);
        count++;
    }
    DLF_REQUIRE(count == im->nnodes && count == m->nvalues, "the walk gives %u nodes, not %u", count, im->nnodes);
}

/* Runs a batch; returns output 0 (malloc'd, its element count in *nout) or
 * NULL when the model is too large to run here. */
static float *run(const dlor_model *m, size_t batch, size_t *nout)
{
    dlor_image_error ie;
    dlor_run r;
    int ids_model = dlor_model_input_at(m, 2, NULL, NULL) >= 0;
    size_t seq = ids_model ? 3 : 1;
    if (m->max_seq && seq > m->max_seq) seq = (size_t)m->max_seq;
    size_t need = dlor_model_scratch_bytes(m, batch, seq, 1, DLOR_RT_F32);
    uint64_t in = dlor_model_input_dim(m), f = 0;
    int per_token = 0;
    dlor_model_output_at(m, 0, NULL, NULL, &per_token, &f);
    uint64_t rows = per_token ? batch * seq : batch;
    if (need == 0 || need > MAX_SCRATCH || in > MAX_OUT / batch || f > MAX_OUT / rows) return NULL;
    float *x = malloc((batch * (size_t)in + 1) * sizeof *x), *y = malloc((size_t)(rows * f + 1) * sizeof *y);
    int64_t ids[9], mask[9], type[9];
    unsigned char *scratch = malloc(need);
    DLF_REQUIRE(x && y && scratch, "out of memory in the target");
    for (size_t i = 0; i < batch * (size_t)in; i++) x[i] = (float)((int)(i % 7) - 3) * 0.375f;
    for (size_t i = 0; i < batch * seq; i++) {
        ids[i] = m->vocab[2] ? (int64_t)(i * 5 % m->vocab[2]) : (int64_t)i;
        type[i] = m->vocab[4] ? (int64_t)(i % m->vocab[4]) : 0;
        mask[i] = i % seq != 1;
    }
    void *ys[1] = {y};
    memset(&r, 0, sizeof r);
    r.batch = batch;
    r.seq = seq;
    r.x = ids_model ? NULL : x;
    r.ids = ids_model ? ids : NULL;
    r.mask = ids_model ? mask : NULL;
    r.type_ids = ids_model ? type : NULL;
    r.ids_dtype = DLOR_RT_I64;
    r.y = ys;
    r.ny = 1;
    int rc = dlor_model_run(m, &r, DLOR_RT_F32, scratch, need - 1, NULL, &ie);
    DLF_REQUIRE(rc == DLOR_RT_E_SCRATCH, "a scratch one byte short was accepted (rc %d)", rc);
    rc = dlor_model_run(m, &r, DLOR_RT_F32, scratch, need, NULL, &ie);
    DLF_REQUIRE(rc == 0, "a pass failed on an opened model: %s", ie.msg);
    free(x);
    free(scratch);
    *nout = (size_t)(rows * f);
    return y;
}

/* The same outputs: equal bits, or NaN on both sides (a NaN's sign and payload
 * follow the order of the operations, which differs between the batch tiles of
 * an image used in place and the row kernels of a widened one). */
static int same_outputs(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof *a) != 0 && !(isnan(a[i]) && isnan(b[i]))) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlor_model m, mu;
    dlor_image_error ie;
    unsigned char *img = malloc(size ? size : 1), *odd = malloc(size + 1);
    DLF_REQUIRE(img && odd, "out of memory in the target");
    if (size) memcpy(img, data, size);
    dlf_fix_checksums(img, size);
    memcpy(odd + 1, img, size);
    size_t plan_size = dlor_model_plan_size(img, size);
    uint64_t *plan = malloc(plan_size + 8), *plan2 = malloc(plan_size + 8);
    DLF_REQUIRE(plan && plan2, "out of memory in the target");
    int rc = dlor_model_open_plan(&m, img, size, DLOR_IMAGE_CHECK_CRC, plan, plan_size, &ie);
    if (rc != 0) {
        DLF_REQUIRE(rc >= DLOR_IMAGE_E_FORMAT && rc <= DLOR_RT_E_PLAN && ie.msg[0] != 0 &&
                        memchr(ie.msg, 0, sizeof ie.msg) != NULL,
                    "open failed without a clean error (%d)", rc);
        DLF_REQUIRE(strchr(ie.msg, '\n') == NULL, "error message is not one line: %s", ie.msg);
    } else {
        check_views(&m, img, size);
        DLF_REQUIRE(dlor_model_open_plan(&mu, odd + 1, size, 0, plan2, plan_size, &ie) == 0,
                    "the same image at an odd address fails: %s", ie.msg);
        for (size_t batch = 1; batch <= 3; batch += 2) {
            size_t na = 0, nb = 0;
            float *a = run(&m, batch, &na), *b = run(&mu, batch, &nb);
            if (a && b)
                DLF_REQUIRE(na == nb && same_outputs(a, b, na), "aligned and unaligned images give different outputs");
            free(a);
            free(b);
        }
    }
    free(plan);
    free(plan2);
    free(img);
    free(odd);
    return 0;
}
