/* mcu_min - the least a device program needs to run a model: open the image
 * (checksums on), run one inference on the first input of inputs.h, and exit
 * with the index of the largest output as its status (a message and status 255
 * on an error). bench/footprint.sh links it to measure the runtime's share of a
 * firmware image, with and without the runtime's messages (DLOR_RT_NO_MESSAGES). */
#include "dlor_runtime.h"
#include "inputs.h"
#include "model.h"
#include "semihost.h"

static unsigned char scratch[DLOR_MODEL_SCRATCH_BYTES] DLOR_MODEL_ALIGN;

int main(void)
{
    dlor_model m;
    dlor_image_error err;
    float y[DLOR_MODEL_OUTPUT_DIM];
    if (dlor_model_open(&m, dlor_model_image, DLOR_MODEL_SIZE, DLOR_IMAGE_CHECK_CRC, &err) != 0 ||
        dlor_model_forward(&m, dlor_inputs[0], 1, y, scratch, sizeof scratch, &err) != 0) {
        semihost_write(err.msg);
        semihost_write("\n");
        return 255;
    }
    unsigned best = 0;
    for (unsigned j = 1; j < DLOR_MODEL_OUTPUT_DIM; j++)
        if (y[j] > y[best]) best = j;
    return (int)best;
}
