/* run_both.c - the two installed headers together: a .dlor file run by the
 * embedded runtime (<dlor_runtime.h>: the image in memory, caller's scratch)
 * and its dense source run through <dlor.h>'s dlor_runner, on the same
 * seeded inputs; prints the largest difference of their outputs.
 *
 * usage: run_both MODEL.dlor DENSE.safetensors ACTIVATION */
#include <dlor.h>
#include <dlor_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define N 32

int main(int argc, char **argv)
{
    if (argc != 4) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *image = NULL;
    if (len <= 0 || posix_memalign(&image, 64, (size_t)len) != 0 || fread(image, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        return 1;
    }
    fclose(f);
    dlor_model m;
    dlor_image_error ie;
    if (dlor_model_open(&m, image, (size_t)len, DLOR_IMAGE_CHECK_CRC, &ie) != 0) {
        fprintf(stderr, "run_both: %s\n", ie.msg);
        return 1;
    }
    uint64_t in = dlor_model_input_dim(&m), out = dlor_model_output_dim(&m);
    float *x = malloc(N * in * sizeof *x), *y = malloc(N * out * sizeof *y), *yd = malloc(N * out * sizeof *yd);
    size_t need = dlor_model_scratch_size(&m, N);
    void *scratch = NULL;
    if (!x || !y || !yd || need == 0 || posix_memalign(&scratch, 64, need) != 0) return 1;
    uint64_t s = 12345;
    for (uint64_t i = 0; i < N * in; i++) { /* uniform in [0, 16), the digits' pixel range */
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((s >> 40) % 1600) / 100.0f;
    }
    if (dlor_model_forward(&m, x, N, y, scratch, need, &ie) != 0) {
        fprintf(stderr, "run_both: %s\n", ie.msg);
        return 1;
    }
    dlor_error err;
    dlor_runner *r = NULL;
    if (dlor_runner_open(argv[2], argv[3], &r, &err) != DLOR_OK ||
        dlor_runner_forward(r, x, N, 8, 2, yd, &err) != DLOR_OK) {
        fprintf(stderr, "run_both: %s\n", err.msg);
        return 1;
    }
    double diff = 0, scale = 0;
    for (uint64_t i = 0; i < N * out; i++) {
        double d = (double)y[i] - (double)yd[i];
        if (d < 0) d = -d;
        if (d > diff) diff = d;
        if (yd[i] > scale) scale = yd[i];
        if (-yd[i] > scale) scale = -yd[i];
    }
    printf("outputs %llu\nmax_abs_diff %.9g\nmax_abs_output %.9g\n", (unsigned long long)(N * out), diff, scale);
    dlor_runner_free(r);
    free(scratch);
    free(x);
    free(y);
    free(yd);
    free(image);
    return 0;
}
