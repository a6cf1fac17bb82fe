/* run_image - runs a .dlor file through the runtime API alone (no dlor
 * host library): run_image MODEL.dlor BATCH < inputs.f32 > outputs.f32, raw
 * little-endian float32. Built against the portable and the BLAS runtime so
 * the tests can compare the two paths. */
#include <stdio.h>
#include <stdlib.h>

#include "dlor_runtime.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: run_image MODEL.dlor BATCH < x.f32 > y.f32\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *img = malloc((size_t)len);
    if (!img || fread(img, 1, (size_t)len, f) != (size_t)len) return 1;
    fclose(f);
    dlor_model m;
    dlor_image_error e;
    size_t plan_size = dlor_model_plan_size(img, (size_t)len);
    void *plan = malloc(plan_size ? plan_size : 1);
    if (!plan || dlor_model_open_plan(&m, img, (size_t)len, 0, plan, plan_size, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    size_t batch = (size_t)atoi(argv[2]), need = dlor_model_scratch_size(&m, batch);
    float *x = malloc(batch * m.in_dim * sizeof *x), *y = malloc(batch * m.out_dim * sizeof *y);
    void *scratch = malloc(need);
    size_t got;
    while ((got = fread(x, sizeof *x * m.in_dim, batch, stdin)) > 0) {
        if (dlor_model_forward(&m, x, got, y, scratch, need, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        fwrite(y, sizeof *y * m.out_dim, got, stdout);
    }
    free(x);
    free(y);
    free(scratch);
    free(plan);
    free(img);
    return 0;
}
