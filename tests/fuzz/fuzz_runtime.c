/* fuzz_runtime - property: the runtime's in-place loader trusts no field.
 * dlor_model_open on any image (checksums recomputed, so that mutations get
 * past the header CRC) either fails with a clean one-line error or gives a model whose
 * every tensor, layer and graph operation lies inside the image; running that
 * model on batches of 1 and 3 samples reads nothing outside the image or the
 * exactly-sized scratch, writes nothing outside the output, refuses a scratch
 * one byte short, and gives the same bits whether the image is 16-byte
 * aligned (f32 factors used in place) or not (factors converted). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "dlor_runtime.h"

#define MAX_SCRATCH ((size_t)1 << 24)

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
    for (uint32_t i = 0; i < im->nops; i++) {
        dlor_image_op op;
        DLF_REQUIRE(dlor_image_op_at(im, i, &op) == 0, "op %u", i);
        if (op.kind != DLOR_IMAGE_OP_LINEAR) continue;
        DLF_REQUIRE(op.is_layer ? op.weight < im->nlayers : op.weight < im->ntensors, "op %u weight", i);
        DLF_REQUIRE(op.bias == DLOR_IMAGE_NO_TENSOR || op.bias < im->ntensors, "op %u bias", i);
        DLF_REQUIRE(op.in >= 1 && op.out >= 1 && op.in <= m->width && op.out <= m->width, "op %u sizes", i);
    }
}

/* Runs a batch; returns the outputs (malloc'd) or NULL when the model is too
 * large to run here. */
static float *run(const dlor_model *m, size_t batch)
{
    dlor_image_error ie;
    size_t need = dlor_model_scratch_size(m, batch);
    uint64_t in = dlor_model_input_dim(m), out = dlor_model_output_dim(m);
    if (need == 0 || need > MAX_SCRATCH || in > MAX_SCRATCH / 4 / batch || out > MAX_SCRATCH / 4 / batch)
        return NULL;
    float *x = malloc(batch * (size_t)in * sizeof *x), *y = malloc(batch * (size_t)out * sizeof *y);
    unsigned char *scratch = malloc(need);
    DLF_REQUIRE(x && y && scratch, "out of memory in the target");
    for (size_t i = 0; i < batch * (size_t)in; i++) x[i] = (float)((int)(i % 7) - 3) * 0.375f;
    int rc = dlor_model_forward(m, x, batch, y, scratch, need - 1, &ie);
    DLF_REQUIRE(rc == DLOR_RT_E_SCRATCH, "a scratch one byte short was accepted (rc %d)", rc);
    rc = dlor_model_forward(m, x, batch, y, scratch, need, &ie);
    DLF_REQUIRE(rc == 0, "forward failed on an opened model: %s", ie.msg);
    free(x);
    free(scratch);
    return y;
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
    int rc = dlor_model_open(&m, img, size, DLOR_IMAGE_CHECK_CRC, &ie);
    if (rc != 0) {
        DLF_REQUIRE(rc >= DLOR_IMAGE_E_FORMAT && rc <= DLOR_RT_E_NOGRAPH && ie.msg[0] != 0 &&
                        memchr(ie.msg, 0, sizeof ie.msg) != NULL,
                    "open failed without a clean error (%d)", rc);
        DLF_REQUIRE(strchr(ie.msg, '\n') == NULL, "error message is not one line: %s", ie.msg);
    } else {
        check_views(&m, img, size);
        DLF_REQUIRE(dlor_model_open(&mu, odd + 1, size, 0, &ie) == 0, "the same image at an odd address fails: %s",
                    ie.msg);
        for (size_t batch = 1; batch <= 3; batch += 2) {
            float *a = run(&m, batch), *b = run(&mu, batch);
            if (a && b)
                DLF_REQUIRE(memcmp(a, b, batch * (size_t)dlor_model_output_dim(&m) * sizeof *a) == 0,
                            "aligned and unaligned images give different outputs");
            free(a);
            free(b);
        }
    }
    free(img);
    free(odd);
    return 0;
}
