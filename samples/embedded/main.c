/* dlor_embedded_demo - runs a .dlor model compiled into the program as a
 * const array (made by 'dlor export-c'), the way a microcontroller would: no
 * file system for the model, no allocator, a static scratch buffer sized by
 * the generated header. Only the runtime sources are linked.
 *
 * It reads samples as raw little-endian float32 from stdin (MODEL_INPUT_DIM
 * values each) and prints each sample's outputs on one line with 9
 * significant digits, which identifies a float32 exactly. */
#include <stdio.h>

#include "dlor_runtime.h"
#include "model.h"

static unsigned char scratch[DLOR_MODEL_SCRATCH_BYTES] DLOR_MODEL_ALIGN;

int main(void)
{
    dlor_model m;
    dlor_image_error err;
    float x[DLOR_MODEL_INPUT_DIM], y[DLOR_MODEL_OUTPUT_DIM];
    if (dlor_model_open(&m, dlor_model_image, DLOR_MODEL_SIZE, DLOR_IMAGE_CHECK_CRC, &err) != 0) {
        fprintf(stderr, "dlor_embedded_demo: %s\n", err.msg);
        return 1;
    }
    while (fread(x, sizeof x[0], DLOR_MODEL_INPUT_DIM, stdin) == DLOR_MODEL_INPUT_DIM) {
        if (dlor_model_forward(&m, x, 1, y, scratch, sizeof scratch, &err) != 0) {
            fprintf(stderr, "dlor_embedded_demo: %s\n", err.msg);
            return 1;
        }
        for (unsigned i = 0; i < DLOR_MODEL_OUTPUT_DIM; i++) printf("%s%.9g", i ? " " : "", (double)y[i]);
        printf("\n");
    }
    return 0;
}
