/* run_image - runs a .dlor file through the runtime API alone (no dlor
 * host library), in float32, raw little-endian data on stdin and stdout:
 *     run_image MODEL.dlor BATCH < x.f32 > y.f32
 * for a model of features (BATCH samples a pass), and
 *     run_image MODEL.dlor N S OUTPUT < ids.i64 > y.f32
 * for a model of token ids: stdin holds N sequences of S token ids, then their
 * attention mask and their token type ids when the graph takes them (each
 * [N, S] int64), stdout gets the output named OUTPUT. Built against the
 * portable and the BLAS runtime so the tests can compare the two paths, and
 * with the one-file runtime alone (test_one_file_runtime.py). The option
 * --quant-acts (first) opens the model with DLOR_RT_QUANT_ACTS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_runtime.h"
#include "read_all.h"

/* run_image_crc.c builds this with the checksums checked at open */
#ifndef RUN_IMAGE_OPEN_FLAGS
#define RUN_IMAGE_OPEN_FLAGS 0
#endif

static int run_tokens(const dlor_model *m, size_t n, size_t s, const char *want)
{
    void *ys[DLOR_IMAGE_MAX_OUTPUTS] = {0};
    dlor_run r;
    dlor_image_error e;
    size_t len, cells = n * s, rows = 0;
    uint32_t ny = 0;
    unsigned char *in = read_all(stdin, &len), *p = in;
    const void **slot[3];
    memset(&r, 0, sizeof r);
    slot[0] = &r.ids;
    slot[1] = &r.mask;
    slot[2] = &r.type_ids;
    for (int mode = 2; mode <= 4; mode++)
        if (dlor_model_input_at(m, mode, NULL, NULL) >= 0) {
            if (!in || (size_t)(p - in) + cells * 8 > len) {
                fprintf(stderr, "run_image: stdin holds too few token ids\n");
                return 1;
            }
            *slot[mode - 2] = p;
            p += cells * 8;
        }
    for (uint32_t i = 0; i < dlor_model_output_count(m); i++) {
        const char *name;
        uint32_t name_len;
        int per_token;
        uint64_t f;
        dlor_model_output_at(m, i, &name, &name_len, &per_token, &f);
        ys[i] = malloc((size_t)f * n * (per_token ? s : 1) * sizeof(float));
        if (!ys[i]) return 1;
        if (strlen(want) == name_len && memcmp(want, name, name_len) == 0) {
            ny = i + 1;
            rows = (size_t)f * n * (per_token ? s : 1);
            break;
        }
    }
    if (ny == 0) {
        fprintf(stderr, "run_image: the graph has no output '%s'\n", want);
        return 1;
    }
    size_t need = dlor_model_scratch_bytes(m, n, s, 1, DLOR_RT_F32);
    void *scratch = malloc(need ? need : 1);
    r.batch = n;
    r.seq = s;
    r.ids_dtype = DLOR_RT_I64;
    r.y = ys;
    r.ny = ny;
    if (!scratch || dlor_model_run(m, &r, DLOR_RT_F32, scratch, need, NULL, &e) != 0) {
        fprintf(stderr, "%s\n", scratch ? e.msg : "out of memory");
        return 1;
    }
    fwrite(ys[ny - 1], sizeof(float), rows, stdout);
    for (uint32_t i = 0; i < ny; i++) free(ys[i]);
    free(scratch);
    free(in);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned flags = 0;
    if (argc > 1 && strcmp(argv[1], "--quant-acts") == 0) {
        flags = DLOR_RT_QUANT_ACTS;
        argv++;
        argc--;
    }
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: run_image [--quant-acts] MODEL.dlor BATCH < x.f32 > y.f32\n"
                        "       run_image MODEL.dlor N S OUTPUT < ids.i64 > y.f32\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *img = malloc((size_t)len);
    if (!img || fread(img, 1, (size_t)len, f) != (size_t)len) {
        free(img);
        fclose(f);
        return 1;
    }
    fclose(f);
    dlor_model m;
    dlor_image_error e;
    size_t plan_size = dlor_model_plan_size(img, (size_t)len);
    void *plan = malloc(plan_size ? plan_size : 1);
    if (!plan || dlor_model_open_plan(&m, img, (size_t)len, RUN_IMAGE_OPEN_FLAGS | flags, plan, plan_size, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        free(plan);
        free(img);
        return 1;
    }
    if (argc == 5) {
        int rc = run_tokens(&m, (size_t)atoi(argv[2]), (size_t)atoi(argv[3]), argv[4]);
        free(plan);
        free(img);
        return rc;
    }
    size_t batch = (size_t)atoi(argv[2]), need = dlor_model_scratch_size(&m, batch);
    float *x = malloc(batch * m.in_dim * sizeof *x), *y = malloc(batch * m.out_dim * sizeof *y);
    void *scratch = malloc(need);
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(x, sizeof *x * m.in_dim, batch, stdin)) > 0) {
        if (dlor_model_forward(&m, x, got, y, scratch, need, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            rc = 1;
        } else {
            fwrite(y, sizeof *y * m.out_dim, got, stdout);
        }
    }
    free(x);
    free(y);
    free(scratch);
    free(plan);
    free(img);
    return rc;
}
