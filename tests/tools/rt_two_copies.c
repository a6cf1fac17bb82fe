/* rt_two_copies - two private copies of the one-file runtime in one program
 * (rt_copy.c compiled as copy_a and copy_b):
 *     rt_two_copies MODEL.dlor IN_DIM OUT_DIM < x.f32 > y.f32
 * runs every sample of stdin through both copies, prints copy_a's outputs and
 * fails when copy_b's bits differ. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_all.h"

int copy_a_forward(const void *image, size_t len, const float *x, size_t batch, float *y, void *work,
                   size_t work_size);
int copy_b_forward(const void *image, size_t len, const float *x, size_t batch, float *y, void *work,
                   size_t work_size);

int main(int argc, char **argv)
{
    enum { WORK = 1 << 20 };
    if (argc != 4) {
        fprintf(stderr, "usage: rt_two_copies MODEL.dlor IN_DIM OUT_DIM < x.f32 > y.f32\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    size_t len, xlen, in = (size_t)atoi(argv[2]), out = (size_t)atoi(argv[3]);
    unsigned char *img = f ? read_all(f, &len) : NULL, *x = read_all(stdin, &xlen);
    if (f) fclose(f);
    size_t batch = in ? xlen / (in * sizeof(float)) : 0;
    float *ya = malloc(batch * out * sizeof(float) + 1), *yb = malloc(batch * out * sizeof(float) + 1);
    double *work = malloc(WORK); /* malloc's alignment, enough for either precision */
    if (!img || !x || !ya || !yb || !work || batch == 0) {
        fprintf(stderr, "rt_two_copies: cannot read %s or stdin\n", argv[1]);
        return 1;
    }
    if (copy_a_forward(img, len, (const float *)(const void *)x, batch, ya, work, WORK) != 0 ||
        copy_b_forward(img, len, (const float *)(const void *)x, batch, yb, work, WORK) != 0)
        return 1;
    if (memcmp(ya, yb, batch * out * sizeof(float)) != 0) {
        fprintf(stderr, "rt_two_copies: the copies' outputs differ\n");
        return 1;
    }
    fwrite(ya, sizeof(float), batch * out, stdout);
    free(work);
    free(yb);
    free(ya);
    free(x);
    free(img);
    return 0;
}
