/* test_mathf - the runtime's own float32 functions (lib/runtime/dlor_mathf.h)
 * against double-precision libm: the largest error in ulps over a sweep of
 * float bit patterns (every STRIDE-th one, default 509; 1 sweeps every float,
 * which is how the header's bounds were measured), the PyTorch behaviour at
 * NaN, infinities and the limits; and the runtime's integer conversions from
 * f64 and f16 (formats/dlor_image.c) against the compiler's cast and an exact
 * formula.
 *     test_mathf [STRIDE]   prints the largest error of each function */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_image_internal.h"
#include "dlor_mathf.h"
#include "testutil.h"

/* |got - ref| in units of the last place of ref rounded to float (2^-149 at
 * least); 0 when both are the same NaN class or the same infinity. */
static double ulp_err(float got, double ref)
{
    if (isnan(ref) || isnan(got)) return isnan(ref) && isnan(got) ? 0.0 : INFINITY;
    if (isinf(ref) || fabs(ref) > FLT_MAX) return (double)got == ref || (isinf(got) && (got > 0) == (ref > 0)) ? 0.0 : INFINITY;
    int e;
    frexp(ref, &e);
    double ulp = ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
    return fabs((double)got - ref) / ulp;
}

static double ref_exp(double x) { return exp(x); }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_silu(double x) { return x / (1.0 + exp(-x)); }
static double ref_softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double ref_gelu(double x) { return 0.5 * x * erfc(-x * 0.70710678118654752); }
/* 1 + tanh y = 2 / (1 + e^-2y), which does not cancel for y < 0 */
static double ref_gelu_tanh(double x)
{
    double y = 0.79788456080286536 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * y));
}

typedef struct {
    const char *name;
    float (*f)(float);
    double (*ref)(double);
    double lo, hi;  /* the swept domain */
    double bound;   /* ulps */
    double abs_below, abs_scale; /* below x = abs_below: |error| <= abs_scale * |x| instead */
} fn;

static float f_exp(float x) { return dlor__expf(x); }
static float f_tanh(float x) { return dlor__tanhf(x); }
static float f_erf(float x) { return dlor__erff(x); }
static float f_log1p(float x) { return dlor__log1pf(x); }
static float f_sigmoid(float x) { return dlor__sigmoidf(x); }
static float f_silu(float x) { return dlor__siluf(x); }
static float f_softplus(float x) { return dlor__softplusf(x); }
static float f_gelu(float x) { return dlor__geluf(x); }
static float f_gelu_tanh(float x) { return dlor__gelu_tanhf(x); }

static float fl(uint32_t b) { return dlor__bitsf(b); }

/* Sweeps the bit patterns of both signs; returns the largest error in ulps (and
 * the largest absolute error relative to |x| where that measure applies). */
static double sweep(const fn *t, uint32_t stride, double *abs_rel, float *worst)
{
    double mx = 0.0;
    *abs_rel = 0.0;
    for (int neg = 0; neg < 2; neg++)
        for (uint64_t b = 0; b < 0x7f800000u; b += stride) {
            float x = fl((uint32_t)b | (neg ? 0x80000000u : 0));
            if (x < t->lo || x > t->hi) continue;
            float got = t->f(x);
            double ref = t->ref((double)x);
            if (x < t->abs_below) {
                double e = fabs((double)got - ref) / fabs((double)x);
                if (e > *abs_rel) *abs_rel = e;
                continue;
            }
            double e = ulp_err(got, ref);
            if (e > mx) {
                mx = e;
                *worst = x;
            }
        }
    return mx;
}

static int same_bits(float a, float b) { return dlor__fbits(a) == dlor__fbits(b); }

static void special_values(void)
{
    const float inf = fl(0x7f800000u), nan = fl(0x7fc00000u);
    float (*all[])(float) = {f_exp, f_tanh, f_erf, f_log1p, f_sigmoid, f_silu, f_softplus, f_gelu, f_gelu_tanh};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK(isnan(all[i](nan)) && isnan(all[i](-nan)), "function %zu: NaN in gives NaN", i);
    }
    /* PyTorch 1.13: torch.exp, tanh, erf, log1p, sigmoid, silu, softplus, gelu
     * (both forms) at +-inf */
    CHECK(dlor__expf(inf) == inf && dlor__expf(-inf) == 0.0f, "exp(+-inf)");
    CHECK(dlor__tanhf(inf) == 1.0f && dlor__tanhf(-inf) == -1.0f, "tanh(+-inf)");
    CHECK(dlor__erff(inf) == 1.0f && dlor__erff(-inf) == -1.0f, "erf(+-inf)");
    CHECK(dlor__log1pf(inf) == inf && dlor__log1pf(-1.0f) == -inf && isnan(dlor__log1pf(-1.5f)) &&
              isnan(dlor__log1pf(-inf)),
          "log1p(inf), log1p(-1), log1p(< -1)");
    CHECK(dlor__sigmoidf(inf) == 1.0f && dlor__sigmoidf(-inf) == 0.0f, "sigmoid(+-inf)");
    CHECK(dlor__siluf(inf) == inf && isnan(dlor__siluf(-inf)), "silu(inf) = inf, silu(-inf) = NaN");
    CHECK(dlor__softplusf(inf) == inf && dlor__softplusf(-inf) == 0.0f, "softplus(+-inf)");
    CHECK(dlor__geluf(inf) == inf && isnan(dlor__geluf(-inf)), "gelu(inf) = inf, gelu(-inf) = NaN");
    CHECK(dlor__gelu_tanhf(inf) == inf && isnan(dlor__gelu_tanhf(-inf)), "gelu_tanh(+-inf)");
    /* the edges of exp's range, and the signs of zero that odd functions keep */
    CHECK(dlor__expf(88.7228317f) < inf && dlor__expf(88.7228394f) == inf, "exp overflows above ln(FLT_MAX) only");
    CHECK(dlor__expf(-103.972076f) == fl(1) && dlor__expf(-103.972084f) == 0.0f, "exp reaches 2^-149, then 0");
    CHECK(dlor__expf(-0.0f) == 1.0f && dlor__expf(0.0f) == 1.0f, "exp(+-0) = 1");
    CHECK(same_bits(dlor__tanhf(-0.0f), -0.0f) && same_bits(dlor__erff(-0.0f), -0.0f) &&
              same_bits(dlor__log1pf(-0.0f), -0.0f),
          "tanh, erf, log1p keep -0");
    CHECK(dlor__sigmoidf(0.0f) == 0.5f && dlor__softplusf(0.0f) == 0.693147182f, "sigmoid(0), softplus(0)");
    CHECK(dlor__softplusf(100.0f) == 100.0f && dlor__sigmoidf(-100.0f) > 0.0f, "softplus(100), sigmoid(-100)");
    CHECK(dlor__erff(FLT_MAX) == 1.0f && dlor__tanhf(-FLT_MAX) == -1.0f, "saturation at FLT_MAX");
}

static void conversions(void)
{
    /* every f16 against sign * 2^(e - 15) * (1 + f/1024), or f 2^-24 */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int e = (h >> 10) & 0x1f, f = h & 0x3ff;
        double v = e == 0 ? ldexp(f, -24) : e == 31 ? (f ? NAN : INFINITY) : ldexp(1024 + f, e - 25);
        if (h & 0x8000) v = -v;
        float got = dlor__half_to_float((uint16_t)h);
        if (isnan(v) ? !isnan(got) || (dlor__fbits(got) >> 31) != (h >> 15) : !same_bits(got, (float)v)) bad++;
    }
    CHECK(bad == 0, "%d f16 values converted wrongly", bad);
    /* f64 -> f32 against the cast: edge cases, then random bit patterns and
     * random values near float boundaries (ties included) */
    static const uint64_t edges[] = {
        0, 0x8000000000000000ull, 0x7ff0000000000000ull, 0xfff0000000000000ull, 1, 0x000fffffffffffffull,
        0x47efffffe0000000ull /* FLT_MAX + half ulp: ties to inf */, 0x47efffffdfffffffull, 0x47efffffe0000001ull,
        0x3810000000000000ull /* 2^-126 */, 0x36a0000000000000ull /* 2^-149 */, 0x3690000000000000ull /* 2^-150 */,
        0x3690000000000001ull, 0x368fffffffffffffull, 0x380fffffffffffffull, 0x3ff0000010000000ull,
        0x3ff0000030000000ull, 0x3ff0000010000001ull, 0x3fefffffffffffffull};
    bad = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        double d;
        memcpy(&d, &edges[i], 8);
        if (!same_bits(dlor__double_to_float(d), (float)d)) bad++;
    }
    CHECK(bad == 0, "%d edge doubles converted unlike the cast", bad);
    dlt_rng rng = {1};
    int nan_bad = 0;
    bad = 0;
    for (int i = 0; i < 2000000; i++) {
        uint64_t s = dlt_u64(&rng), b = s;
        if (i & 1) /* exponent in the float range or just below it, low bits near a tie */
            b = (b & 0x800fffffe0000000ull) | ((uint64_t)(0x368 + (s >> 40) % 0x120) << 52) |
                ((s >> 20) & 1 ? 0x10000000ull : 0) | ((s >> 21) & 3);
        double d;
        memcpy(&d, &b, 8);
        float got = dlor__double_to_float(d), want = (float)d;
        if (isnan(d)) nan_bad += !isnan(got);
        else if (!same_bits(got, want)) bad++;
    }
    CHECK(bad == 0 && nan_bad == 0, "%d random doubles converted unlike the cast (%d NaNs lost)", bad, nan_bad);
}

/* The functions of the transformer steps: the square root of the norms,
 * correctly rounded (the bits of (float)sqrt(double), which rounds once);
 * sin and cos of the rotary angles, absolutely within 1.2e-7 for |x| < 6400;
 * theta^-e of the rotary frequencies within 2.5 ulp. */
static void transformer_steps(uint32_t stride)
{
    uint32_t bad = 0, n = 0;
    float first = 0.0f;
    for (uint64_t b = 0; b <= 0xffffffffu; b += stride) {
        float x = fl((uint32_t)b), got = dlor__sqrtf(x);
        double ref = sqrt((double)x);
        if (isnan(ref) ? !isnan(got) : !same_bits(got, (float)ref)) {
            if (bad++ == 0) first = x;
        }
        n++;
    }
    const float edge[] = {0.0f, -0.0f, 0x1p-149f, 0x1.fffffcp-127f, 0x1p-126f, 1.0f, 2.0f, 3.0f, 0x1.fffffep127f, INFINITY};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        float got = dlor__sqrtf(edge[i]);
        if (!same_bits(got, (float)sqrt((double)edge[i]))) {
            if (bad++ == 0) first = edge[i];
        }
    }
    CHECK(bad == 0, "sqrt: %u of %u floats not correctly rounded (first %.9g)", bad, n, (double)first);
    CHECK(isnan(dlor__sqrtf(-1.0f)) && isnan(dlor__sqrtf(-INFINITY)) && isnan(dlor__sqrtf(fl(0x7fc00000u))),
          "sqrt of a negative number or NaN is not NaN");

    double worst = 0.0;
    float at = 0.0f;
    for (uint32_t b = 0; b < 0x45c80000u; b += stride / 8 + 1) { /* 0 <= x < 6400, both signs */
        for (int sign = 0; sign < 2; sign++) {
            float x = sign ? -fl(b) : fl(b), s, c;
            dlor__sincosf(x, &s, &c);
            double e = fmax(fabs((double)s - sin((double)x)), fabs((double)c - cos((double)x)));
            if (e > worst) worst = e, at = x;
        }
    }
    for (int pos = 0; pos < 4096; pos++) { /* the angles of a rotary embedding, theta 10000, d 128 */
        for (int i = 0; i < 64; i++) {
            float x = (float)pos * (float)pow(10000.0, -2.0 * i / 128.0), s, c;
            dlor__sincosf(x, &s, &c);
            double e = fmax(fabs((double)s - sin((double)x)), fabs((double)c - cos((double)x)));
            if (e > worst) worst = e, at = x;
        }
    }
    printf("sincos     max absolute error %.3g (at %.9g), |x| < 6400\n", worst, (double)at);
    CHECK(worst <= 1.2e-7, "sincos: absolute error %.3g (at %.9g) exceeds 1.2e-7", worst, (double)at);
    float s, c;
    dlor__sincosf(INFINITY, &s, &c);
    CHECK(isnan(s) && isnan(c), "sincos(inf) is not NaN");
    dlor__sincosf(0.0f, &s, &c);
    CHECK(s == 0.0f && c == 1.0f, "sincos(0) is not (0, 1)");

    const float thetas[] = {1.0f, 2.0f, 100.0f, 10000.0f, 500000.0f, 1e6f, 1e9f, 1e30f};
    worst = 0.0;
    for (size_t t = 0; t < sizeof thetas / sizeof thetas[0]; t++) {
        for (int d = 2; d <= 512; d += 2) {
            for (int i = 0; i < d / 2; i++) {
                float e = (float)(2 * i) / (float)d;
                double u = ulp_err(dlor__powmf(thetas[t], e), pow((double)thetas[t], -(double)e));
                if (u > worst) worst = u, at = thetas[t];
            }
        }
    }
    printf("powm       max %.3f ulp (at theta %.9g), exponents 2i/d, d <= 512\n", worst, (double)at);
    CHECK(worst <= 2.5, "theta^-e: %.3f ulp exceeds 2.5", worst);
}

/* dlor__erff_sel, dlor__geluf_sel and dlor__expf_sel (the runtime's vector
 * GELU and softmax) give the bits of dlor__erff, dlor__geluf and dlor__expf:
 * every STRIDE-th float of both signs, the ends of their intervals and their
 * neighbours, the special values. */
static int sel_differs(float x)
{
    return !same_bits(dlor__erff_sel(x), dlor__erff(x)) || !same_bits(dlor__geluf_sel(x), dlor__geluf(x)) ||
           !same_bits(dlor__expf_sel(x), dlor__expf(x));
}

static void selected_branches(uint32_t stride)
{
    uint64_t bad = 0, n = 0;
    float first = 0.0f;
    const float edges[] = {0.84375f, 1.5f, 2.25f, 3.0f, 3.93f, 0x1p-12f, 1.0f, 0.0f, 88.7228317f, 103.972084f, 89.0f,
                           104.0f, 87.3365479f, 88.0296249f};
    for (int neg = 0; neg < 2; neg++) {
        uint32_t sign = neg ? 0x80000000u : 0;
        for (uint64_t b = 0; b <= 0x7fffffffu; b += stride) {
            float x = fl((uint32_t)b | sign);
            n++;
            if (sel_differs(x)) {
                if (!bad) first = x;
                bad++;
            }
        }
        for (size_t e = 0; e < sizeof edges / sizeof edges[0]; e++)
            for (int d = -2; d <= 2; d++) {
                uint32_t eb = dlor__fbits(edges[e]);
                if (d < 0 && eb < (uint32_t)-d) continue;
                float x = fl((eb + (uint32_t)d) | sign), g = x * 1.41421356f;
                n += 2;
                if (sel_differs(x) || sel_differs(g)) {
                    if (!bad) first = x;
                    bad++;
                }
            }
    }
    const float sp[] = {fl(0x7f800000u), fl(0xff800000u), fl(0x7fc00000u), fl(0xffc00000u), fl(0x7f800001u), FLT_MAX,
                        -FLT_MAX, FLT_MIN, -0.0f};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
        n++;
        if (sel_differs(sp[i])) {
            if (!bad) first = sp[i];
            bad++;
        }
    }
    printf("erf_sel, gelu_sel, exp_sel: %llu of %llu inputs differ from erf, gelu, exp\n", (unsigned long long)bad,
           (unsigned long long)n);
    CHECK(bad == 0, "dlor__erff_sel, dlor__geluf_sel or dlor__expf_sel differs from the branching form at %.9g", (double)first);
}

int main(int argc, char **argv)
{
    uint32_t stride = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 509;
    if (stride == 0) stride = 1;
    const fn fns[] = {
        {"exp", f_exp, ref_exp, -104.0, 89.0, 1, -INFINITY, 0},
        {"tanh", f_tanh, tanh, -10.0, 10.0, 1.5, -INFINITY, 0},
        {"erf", f_erf, erf, -4.5, 4.5, 1, -INFINITY, 0},
        {"log1p", f_log1p, log1p, -1.0, FLT_MAX, 1, -INFINITY, 0},
        {"sigmoid", f_sigmoid, ref_sigmoid, -110.0, 110.0, 2.5, -INFINITY, 0},
        {"silu", f_silu, ref_silu, -110.0, 1e6, 3.5, -87.0, 0x1p-148},
        {"softplus", f_softplus, ref_softplus, -110.0, 1e6, 2, -INFINITY, 0},
        {"gelu", f_gelu, ref_gelu, -20.0, 1e6, 3, -1.0, 0x1p-23},
        {"gelu_tanh", f_gelu_tanh, ref_gelu_tanh, -20.0, 1e6, 4.5, -1.0, 0x1p-23},
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        double abs_rel;
        float worst = 0.0f;
        double e = sweep(&fns[i], stride, &abs_rel, &worst);
        printf("%-10s max %.3f ulp (at %.9g)", fns[i].name, e, (double)worst);
        if (fns[i].abs_below > -INFINITY) printf(", below x = %g: |error| <= %.3g |x|", fns[i].abs_below, abs_rel);
        printf("\n");
        CHECK(e <= fns[i].bound, "%s: %.3f ulp exceeds the stated %g", fns[i].name, e, fns[i].bound);
        CHECK(abs_rel <= fns[i].abs_scale, "%s: absolute error %.3g |x| exceeds %.3g |x|", fns[i].name, abs_rel,
              fns[i].abs_scale);
    }
    special_values();
    selected_branches(stride);
    conversions();
    transformer_steps(stride);
    return dlt_finish();
}
