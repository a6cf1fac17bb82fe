/* test_paper - the paper's own models (paper/sawtooth.h): Table 1's architectures counted
 * against closed forms, Experiment 3's spectral split against a closed form and its
 * identity sigma = low-rank + identity, the sawtooth's values, and the trainer (the loss
 * falls; the trained model through the .dlor runtime gives the trainer's outputs). */
#include <math.h>
#include <stdlib.h>

#include "dlor_container.h"
#include "dlor_runtime.h"
#include "sawtooth.h"
#include "testutil.h"

static dlt_rng rng = {7};

/* ---- Appendix H.2 counts, the spectral split, the trainer --------------------------------- */

static void test_h2(void)
{
    dlor_error e;
    for (int64_t k = 1; k <= 16; k *= 2) {
        int64_t r = (16 + k - 1) / k;
        uint64_t deep, wide, widef, dense;
        dlor_h2_arch ad = {DLOR_H2_DEEP, 16, k, r, 0}, aw = {DLOR_H2_WIDE, 16, k, r, 1}, af = {DLOR_H2_WIDE, 16, k, r, 0};
        dlor_h2_arch an = {DLOR_H2_DENSE, 20 + k, 0, 0, 0};
        CHECK(dlor_h2_params(&ad, &deep, &e) == DLOR_OK, "%s", e.msg);
        CHECK(dlor_h2_params(&aw, &wide, &e) == DLOR_OK, "%s", e.msg);
        CHECK(dlor_h2_params(&af, &widef, &e) == DLOR_OK, "%s", e.msg);
        CHECK(dlor_h2_params(&an, &dense, &e) == DLOR_OK, "%s", e.msg);
        /* closed forms: in 32, out 17; deep 1 alpha + k (U, V, b); wide k (U, V, b, alpha_l) (+ 16) */
        CHECK(deep == (uint64_t)(49 + 1 + k * (32 * r + 16)), "deep k=%lld: %llu", (long long)k, (unsigned long long)deep);
        CHECK(wide == (uint64_t)(49 + 16 + k * (32 * r + 17)), "wide k=%lld: %llu", (long long)k, (unsigned long long)wide);
        CHECK(widef + 16 == wide, "wide without the outer bias: %llu", (unsigned long long)widef);
        int64_t w = 20 + k;
        CHECK(dense == (uint64_t)(w * w + 4 * w + 1), "dense width %lld: %llu", (long long)w, (unsigned long long)dense);
    }
    /* spectral split, closed form: W = diag(alpha + s, alpha, ...) */
    double U[5 * 1] = {1.5, 0, 0, 0, 0}, V[5] = {0.8, 0, 0, 0, 0}, sg[5], lr[5], id[5];
    CHECK(dlor_spectral_split(5, 1, 0.9, U, V, sg, lr, id, &e) == DLOR_OK, "%s", e.msg);
    CHECK(fabs(sg[0] - 2.1) < 1e-12 && fabs(lr[0] - 1.2) < 1e-12 && fabs(id[0] - 0.9) < 1e-12, "top: %g %g %g", sg[0],
          lr[0], id[0]);
    for (int i = 1; i < 5; i++)
        CHECK(fabs(sg[i] - 0.9) < 1e-12 && fabs(lr[i]) < 1e-12 && fabs(id[i] - 0.9) < 1e-12, "rest %d: %g %g %g", i,
              sg[i], lr[i], id[i]);
    double *Ur = dlt_normals(&rng, 24, 0.5), *Vr = dlt_normals(&rng, 24, 0.5), s2[8], l2[8], i2[8], worst = 0;
    CHECK(dlor_spectral_split(8, 3, -0.4, Ur, Vr, s2, l2, i2, &e) == DLOR_OK, "%s", e.msg);
    for (int i = 0; i < 8; i++) worst = fmax(worst, fabs(s2[i] - l2[i] - i2[i]));
    CHECK(worst < 1e-12, "sigma = low-rank + identity contributions: %.3g", worst);
    free(Ur);
    free(Vr);
    /* the trainer: the loss falls, and its forward pass is the runtime's */
    double x[40], y[40];
    for (int i = 0; i < 40; i++) {
        x[i] = -2.0 + 4.0 * i / 39.0;
        y[i] = dlor_sawtooth(x[i]);
    }
    CHECK(fabs(dlor_sawtooth(0.25) - fabs(0.925 - 1.0)) < 1e-12 && fabs(dlor_sawtooth(-0.5) - fabs(0.15 - 1)) < 1e-12,
          "sawtooth values");
    dlor_h2_deep m;
    dlor_h2_train_opts to;
    dlor_h2_train_opts_default(&to);
    to.epochs = 300;
    CHECK(dlor_h2_deep_init(16, 3, 4, 1, &m, &e) == DLOR_OK, "%s", e.msg);
    double mse0 = 0, mse1 = NAN;
    for (int i = 0; i < 40; i++) mse0 += (dlor_h2_deep_predict(&m, x[i]) - y[i]) * (dlor_h2_deep_predict(&m, x[i]) - y[i]) / 40;
    CHECK(dlor_h2_train_deep(&m, x, y, 40, &to, &mse1, &e) == DLOR_OK, "%s", e.msg);
    CHECK(mse1 < 0.8 * mse0, "training lowers the loss: %.3g -> %.3g", mse0, mse1);
    dlor_container c;
    dlor_container_init(&c);
    CHECK(dlor_h2_deep_container(&m, DLOR_DT_F64, &c, &e) == DLOR_OK, "%s", e.msg);
    unsigned char *img = NULL;
    size_t len;
    dlor_model md;
    dlor_image_error ie;
    CHECK(dlor_container_to_memory(&c, &img, &len, &e) == DLOR_OK, "%s", e.msg);
    CHECK(dlor_model_open(&md, img, len, 0, &ie) == 0, "%s", ie.msg);
    size_t need = dlor_model_scratch_size_f64(&md, 40);
    void *sc = malloc(need);
    double yr[40], dmax = 0;
    CHECK(dlor_model_forward_f64(&md, x, 40, yr, sc, need, &ie) == 0, "%s", ie.msg);
    for (int i = 0; i < 40; i++) dmax = fmax(dmax, fabs(yr[i] - dlor_h2_deep_predict(&m, x[i])));
    CHECK(dmax < 1e-12, "trained model through the runtime vs the trainer: %.3g", dmax);
    free(sc);
    free(img);
    dlor_container_free(&c);
    dlor_h2_deep_free(&m);
}

int main(void)
{
    test_h2();
    return dlt_finish();
}
