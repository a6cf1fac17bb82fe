/* dlor_mathf.h - the runtime's float32 elementary functions, in portable C
 * (header only, so the stand-alone runtime keeps to its three sources; not
 * public API).
 *
 * Why not <math.h>: libm's float functions differ between C libraries (glibc on
 * a host, newlib on a microcontroller) in their last bits, and some of them work
 * in double, which a Cortex-M4F's single-precision FPU runs in software. These
 * use only float +, -, *, / and integer operations, each rounded once, so every
 * IEEE-754 platform gives the same bits (with FMA contraction off, as the
 * runtime is built).
 *
 * Largest error over every float of the domain, measured against
 * double-precision libm (tests/test_mathf.c sweeps them and checks these bounds):
 *     dlor__expf      1 ulp (0.98)     dlor__tanhf     1.5 ulp (1.46)
 *     dlor__erff      1 ulp (0.95)     dlor__log1pf    1 ulp (0.87)
 *     dlor__sigmoidf  2.5 ulp (2.40)   dlor__softplusf 2 ulp (1.71)
 *     dlor__siluf     3.5 ulp (3.19); below x = -87, where the result is
 *                     subnormal, 2^-148 |x| absolute
 *     dlor__geluf     3 ulp (2.82) for x >= -1; below, 2^-23 |x| absolute
 *     dlor__gelu_tanhf 4.5 ulp (4.02) for x >= -1; below, 2^-23 |x| absolute
 * (the GELUs keep PyTorch's formula 0.5 x (1 + erf(x / sqrt 2)), which cancels
 * for negative x). For the transformer steps:
 *     dlor__sqrtf     correctly rounded (every float checked)
 *     dlor__sincosf   1.08e-7 absolute for |x| < 6400 (every float checked)
 *     dlor__powmf     2.5 ulp (2.10) for theta^-e, theta >= 1, e = 2i/d, d <= 512
 * NaN, infinities and their limits behave as in PyTorch: NaN in, NaN out;
 * exp(-inf) = 0, tanh(+-inf) = erf(+-inf) = +-1, log1p(-1) = -inf and NaN below,
 * sigmoid(-inf) = 0, softplus(-inf) = 0, gelu(-inf) = silu(-inf) = NaN
 * (-inf * 0), and +inf maps to +inf where the function is unbounded. */
#ifndef DLOR_MATHF_H
#define DLOR_MATHF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t dlor__fbits(float x)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    return b;
}

static inline float dlor__bitsf(uint32_t b)
{
    float x;
    memcpy(&x, &b, 4);
    return x;
}

/* 2^e as a float, for e in [-126, 127] */
static inline float dlor__pow2f(int e) { return dlor__bitsf((uint32_t)(e + 127) << 23); }

/* x * 2^k for x in [0.5, 2], k in [-151, 128], rounded once at most. */
static inline float dlor__ldexpf(float x, int k)
{
    if (k > 127) return x * dlor__pow2f(127) * dlor__pow2f(k - 127);
    if (k < -126) return x * dlor__pow2f(k + 64) * dlor__pow2f(-64); /* exact, then the one rounding */
    return x * dlor__pow2f(k);
}

/* ln 2 = LN2_HI + LN2_LO, LN2_HI with 16 significant bits, so k * LN2_HI is
 * exact for |k| < 256. */
#define DLOR__LN2_HI 6.93145751953125e-01f
#define DLOR__LN2_LO 1.428606765330187e-06f

static inline float dlor__expf(float x)
{
    if (x != x) return x + x;
    if (x > 88.7228317f) return dlor__bitsf(0x7f800000u); /* above ln(FLT_MAX) */
    if (x < -103.972084f) return 0.0f;                    /* below ln(2^-150) */
    /* x = k ln2 + r, |r| <= ln2 / 2; exp(r) = 1 + r + r^2 q(r), q fitted
     * (least squares on Chebyshev nodes, relative error 4e-9) */
    float t = x * 1.44269502f;
    int k = (int)(t < 0.0f ? t - 0.5f : t + 0.5f);
    float kf = (float)k;
    float r = (x - kf * DLOR__LN2_HI) - kf * DLOR__LN2_LO;
    float q = 4.99999881e-01f +
              r * (1.66665122e-01f + r * (4.16696444e-02f + r * (8.36962834e-03f + r * 1.37488230e-03f)));
    float p = 1.0f + (r + r * r * q);
    return dlor__ldexpf(p, k);
}

static inline float dlor__tanhf(float x)
{
    float a = dlor__bitsf(dlor__fbits(x) & 0x7fffffffu);
    if (a != a) return x + x;
    if (a < 0x1p-12f) return x; /* tanh x = x (1 - x^2/3 ...): within half an ulp */
    float y;
    if (a < 0.55f) {
        /* x + x^3 P(x^2), P fitted (relative error 4e-9) */
        float z = x * x;
        return x + x * z * (-3.33333194e-01f +
                            z * (1.33326173e-01f + z * (-5.38551547e-02f + z * (2.10821833e-02f + z * -6.28782343e-03f))));
    }
    if (a > 9.1f) {
        y = 1.0f; /* 1 - 2 e^-2a rounds to 1 */
    } else {
        float e = dlor__expf(2.0f * a);
        y = 1.0f - 2.0f / (e + 1.0f);
    }
    return x < 0.0f ? -y : y;
}

/* erf's polynomials, written once for dlor__erff, dlor__erff_sel and the
 * runtime's 16-lane GELU (runtime_body.h): the same constants in the same
 * order of operations, so the same bits. */
/* x + x P(x^2) on |x| < 0.84375, P fitted (relative error 3e-9); z = x * x */
#define DLOR__ERF_SMALL(x, z)                                                                                         \
    ((x) + (x) * (1.28379166e-01f +                                                                                    \
                  (z) * (-3.76126379e-01f +                                                                            \
                         (z) * (1.12837560e-01f +                                                                      \
                                (z) * (-2.68629752e-02f +                                                              \
                                       (z) * (5.21060824e-03f + (z) * (-8.26059666e-04f + (z) * 8.91318923e-05f)))))))
/* erfc on [0.84375, 3.93) as four polynomials of degree 8 in t = |x| - center,
 * on [0.84375, 1.5), [1.5, 2.25), [2.25, 3) and [3, 3.93), fitted (absolute error
 * 4e-9). R(c0, c1, c2, c3) takes the four ranges' values of a constant: the
 * centers, then the coefficients of t^8, t^7, ..., t^0 (Horner's order), the
 * first row by TOP and the others by NEXT. */
#define DLOR__ERFC_CENTERS(R) R(1.171875f, 1.875f, 2.625f, 3.465f)
#define DLOR__ERFC_POLY(TOP, NEXT)                                                                                    \
    TOP(5.79698198e-03f, -1.29629078e-03f, -6.00891399e-05f, 4.18075470e-05f)                                          \
    NEXT(-7.35884160e-03f, 4.80901543e-03f, -6.31933508e-04f, -7.67676029e-05f)                                        \
    NEXT(-1.82902720e-02f, -4.12158016e-03f, 2.24994170e-03f, 9.27754008e-05f)                                         \
    NEXT(5.65476269e-02f, -1.14498297e-02f, -4.22306359e-03f, -9.86809901e-05f)                                        \
    NEXT(-1.41462116e-02f, 4.22607027e-02f, 5.41413808e-03f, 8.36427935e-05f)                                          \
    NEXT(-1.66383490e-01f, -6.74415976e-02f, -4.89022350e-03f, -5.29324789e-05f)                                       \
    NEXT(3.34906548e-01f, 6.28984123e-02f, 3.01317498e-03f, 2.38728280e-05f)                                           \
    NEXT(-2.85786927e-01f, -3.35458219e-02f, -1.14787731e-03f, -6.88866794e-06f)                                       \
    NEXT(9.74625722e-02f, 8.00994225e-03f, 2.05375734e-04f, 9.57151883e-07f)
#define DLOR__ERFC_ROW(c0, c1, c2, c3) {c0, c1, c2, c3},

static inline float dlor__erff(float x)
{
    static const float center[1][4] = {DLOR__ERFC_CENTERS(DLOR__ERFC_ROW)};
    static const float poly[9][4] = {DLOR__ERFC_POLY(DLOR__ERFC_ROW, DLOR__ERFC_ROW)};
    float a = dlor__bitsf(dlor__fbits(x) & 0x7fffffffu), y;
    if (a != a) return x + x;
    if (a < 0.84375f) {
        float z = x * x;
        return DLOR__ERF_SMALL(x, z);
    }
    if (a < 3.93f) {
        int i = a < 1.5f ? 0 : a < 2.25f ? 1 : a < 3.0f ? 2 : 3;
        float t = a - center[0][i], q = poly[0][i];
        for (int j = 1; j < 9; j++) q = poly[j][i] + t * q;
        y = 1.0f - q;
    } else {
        y = 1.0f; /* erfc(3.93) < 2^-25 */
    }
    return x < 0.0f ? -y : y;
}

static inline float dlor__log1pf(float x)
{
    if (x != x) return x + x;
    if (x <= -1.0f) return x == -1.0f ? dlor__bitsf(0xff800000u) : dlor__bitsf(0x7fc00000u);
    if (x == dlor__bitsf(0x7f800000u)) return x;
    if (dlor__bitsf(dlor__fbits(x) & 0x7fffffffu) < 0x1p-24f) return x; /* log1p x = x - x^2/2 ... */
    /* u = 1 + x rounded, c its rounding error (exact: Sterbenz), log1p x =
     * log u + c / u. log u = k ln2 + log(1 + f), 1 + f in [sqrt(2)/2, sqrt(2)),
     * and with s = f / (2 + f): log(1 + f) = 2 atanh s = f - f^2/2 + s (f^2/2 + R(s^2)),
     * R fitted (the 2 s^3/3 + 2 s^5/5 + ... of the series, relative error 1e-9). */
    float u = 1.0f + x, c = 0.0f;
    uint32_t iu = dlor__fbits(u);
    int k = (int)(iu >> 23) - 127;
    uint32_t m = (iu & 0x7fffffu) | 0x3f800000u;
    if (m > 0x3fb504f3u) { /* mantissa above sqrt(2): halve it */
        m -= 0x00800000u;
        k++;
    }
    float f = dlor__bitsf(m) - 1.0f, kf = (float)k;
    if (k < 25) /* else 1 is below half an ulp of x */
        c = (x >= 1.0f ? 1.0f - (u - x) : x - (u - 1.0f)) / u;
    float hfsq = 0.5f * f * f, s = f / (2.0f + f), z = s * s;
    float R = z * (6.66667759e-01f + z * (3.99771780e-01f + z * 2.98856765e-01f));
    return kf * DLOR__LN2_HI + (f - (hfsq - (s * (hfsq + R) + (kf * DLOR__LN2_LO + c))));
}

/* 1 / (1 + e^-x), as e^x / (1 + e^x) for x < 0, so that it stays accurate
 * where it is tiny (PyTorch's formula gives 0 below x = -88.7) */
static inline float dlor__sigmoidf(float x)
{
    if (x < 0.0f) {
        float e = dlor__expf(x);
        return e / (1.0f + e);
    }
    return 1.0f / (1.0f + dlor__expf(-x));
}

static inline float dlor__siluf(float x) { return x < 0.0f ? x * dlor__sigmoidf(x) : x / (1.0f + dlor__expf(-x)); }

/* a if c, else b, in integer operations on the bits: both are computed
 * whatever c is, so a compiler that keeps floating-point operations from
 * running speculatively (GCC's default -ftrapping-math) still makes a loop of
 * these branch-free. */
static inline float dlor__self(int c, float a, float b)
{
    uint32_t m = 0u - (uint32_t)(c != 0);
    return dlor__bitsf((dlor__fbits(a) & m) | (dlor__fbits(b) & ~m));
}

/* dlor__expf with its branches computed and selected (dlor__erff_sel below
 * says why): the same bits. k comes from x clamped to [-104, 89] (0 for NaN),
 * which leaves every input that reaches the polynomial as it was and keeps
 * the conversion to int defined. */
static inline float dlor__expf_sel(float x)
{
    float xc = dlor__self(x > 89.0f, 89.0f, dlor__self(x < -104.0f, -104.0f, x));
    xc = dlor__self(x != x, 0.0f, xc);
    float t = xc * 1.44269502f;
    int k = (int)dlor__self(t < 0.0f, t - 0.5f, t + 0.5f);
    float kf = (float)k;
    float r = (xc - kf * DLOR__LN2_HI) - kf * DLOR__LN2_LO;
    float q = 4.99999881e-01f +
              r * (1.66665122e-01f + r * (4.16696444e-02f + r * (8.36962834e-03f + r * 1.37488230e-03f)));
    float p = 1.0f + (r + r * r * q);
    /* dlor__ldexpf's three cases, 2^e as bits with e + 127 taken modulo 2^32 */
    float hi = p * dlor__bitsf(254u << 23) * dlor__bitsf((uint32_t)k << 23);
    float lo = p * dlor__bitsf((uint32_t)(k + 64 + 127) << 23) * dlor__bitsf(63u << 23);
    float mid = p * dlor__bitsf((uint32_t)(k + 127) << 23);
    float e = dlor__self(k > 127, hi, dlor__self(k < -126, lo, mid));
    e = dlor__self(x < -103.972084f, 0.0f, e);
    e = dlor__self(x > 88.7228317f, dlor__bitsf(0x7f800000u), e);
    return dlor__self(x != x, x + x, e);
}

/* c0 if i0, else c1 if i1, else c2 if i2, else c3 */
static inline float dlor__sel4(int i0, int i1, int i2, float c0, float c1, float c2, float c3)
{
    return dlor__self(i0, c0, dlor__self(i1, c1, dlor__self(i2, c2, c3)));
}

/* dlor__erff with every branch evaluated and the result selected: the same
 * operations on each input, so the same bits (tests/test_mathf.c compares them
 * over the sweep), but a loop of these has no branches and vectorises. For
 * hosts with vector units; a processor without them runs dlor__erff's branches
 * faster. */
static inline float dlor__erff_sel(float x)
{
    float a = dlor__bitsf(dlor__fbits(x) & 0x7fffffffu);
    float z = x * x;
    float small = DLOR__ERF_SMALL(x, z);
    int i0 = a < 1.5f, i1 = a < 2.25f, i2 = a < 3.0f;
#define DLOR__ERF_C(c0, c1, c2, c3) dlor__sel4(i0, i1, i2, c0, c1, c2, c3)
#define DLOR__ERF_TOP(c0, c1, c2, c3) float q = DLOR__ERF_C(c0, c1, c2, c3);
#define DLOR__ERF_NEXT(c0, c1, c2, c3) q = DLOR__ERF_C(c0, c1, c2, c3) + t * q;
    float t = a - DLOR__ERFC_CENTERS(DLOR__ERF_C);
    DLOR__ERFC_POLY(DLOR__ERF_TOP, DLOR__ERF_NEXT)
#undef DLOR__ERF_NEXT
#undef DLOR__ERF_TOP
#undef DLOR__ERF_C
    float y = dlor__self(a < 3.93f, 1.0f - q, 1.0f);
    float big = dlor__self(x < 0.0f, -y, y);
    float r = dlor__self(a < 0.84375f, small, big);
    return dlor__self(a != a, x + x, r);
}

static inline float dlor__geluf_sel(float x)
{
    return 0.5f * x * (1.0f + dlor__erff_sel(x * 0.70710678118654752f));
}

/* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|) */
static inline float dlor__softplusf(float x)
{
    float a = dlor__bitsf(dlor__fbits(x) & 0x7fffffffu);
    return (x > 0.0f ? x : 0.0f) + dlor__log1pf(dlor__expf(-a));
}

static inline float dlor__geluf(float x) { return 0.5f * x * (1.0f + dlor__erff(x * 0.70710678118654752f)); }

static inline float dlor__gelu_tanhf(float x)
{
    return 0.5f * x * (1.0f + dlor__tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

/* ---- for the transformer steps: norms and rotary position embedding ---- */

/* The square root, correctly rounded (the IEEE operation: the bits of a
 * hardware sqrt), in integer operations: the mantissa's integer square root
 * with its remainder for the rounding. sqrt(-0) = -0, NaN below zero. */
static inline float dlor__sqrtf(float x)
{
    uint32_t b = dlor__fbits(x);
    if ((b << 1) == 0 || (b >> 23) == 0xffu) return x; /* +-0, +inf, NaN */
    if (b >> 31) return dlor__bitsf(0x7fc00000u);
    int e = (int)(b >> 23);
    uint32_t m = b & 0x7fffffu;
    if (e == 0) { /* subnormal: normalise */
        while (!(m & 0x800000u)) {
            m <<= 1;
            e--;
        }
        e++;
    } else {
        m |= 0x800000u;
    }
    int ex = e - 127; /* x = (m / 2^23) 2^ex */
    if (ex & 1) {
        m <<= 1;
        ex--;
    }
    uint64_t rem = (uint64_t)m << 25, r = 0, bit = (uint64_t)1 << 50;
    while (bit > rem) bit >>= 2;
    while (bit) {
        if (rem >= r + bit) {
            rem -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    /* r = floor(sqrt(m / 2^23) 2^24), in [2^24, 2^25): 24 bits and the rounding bit */
    uint32_t q = (uint32_t)r, out = ((uint32_t)(ex / 2 + 127) << 23) + ((q >> 1) - 0x800000u);
    if ((q & 1u) && (rem != 0 || (q & 2u))) out++; /* nearest, ties to even (a carry is the next binade) */
    return dlor__bitsf(out);
}

/* sin x and cos x, within 1.2e-7 for |x| < 6400 (x - k pi/2 by Cody and Waite:
 * pi/2 in three parts, the first two of 12 bits, so k times them is exact for
 * k < 4096; Taylor polynomials on |r| <= pi/4); beyond, the reduction loses
 * accuracy in proportion to |x|; NaN for NaN, infinities and |x| >= 2^30. */
static inline void dlor__sincosf(float x, float *s, float *c)
{
    uint32_t ax = dlor__fbits(x) & 0x7fffffffu;
    if (ax >= 0x4e800000u) { /* NaN, inf, 2^30 and above */
        *s = *c = dlor__bitsf(0x7fc00000u);
        return;
    }
    float t = x * 6.36619772e-01f;
    int k = (int)(t < 0.0f ? t - 0.5f : t + 0.5f);
    float kf = (float)k;
    float r = ((x - kf * 1.57080078125f) - kf * -4.453584551811218e-06f) - kf * -8.705515752716053e-10f;
    float r2 = r * r;
    float sn = r + r * r2 * (-1.66666672e-01f + r2 * (8.33333377e-03f + r2 * (-1.98412701e-04f + r2 * 2.75573188e-06f)));
    float cs = 1.0f - 0.5f * r2 +
               r2 * r2 * (4.16666679e-02f + r2 * (-1.38888892e-03f + r2 * (2.48015876e-05f + r2 * -2.75573188e-07f)));
    switch (k & 3) {
    case 0: *s = sn; *c = cs; break;
    case 1: *s = cs; *c = -sn; break;
    case 2: *s = -sn; *c = -cs; break;
    default: *s = -cs; *c = sn; break;
    }
}

/* theta^-e for a finite theta >= 1 and 0 <= e <= 1 (rotary embedding's
 * frequencies, e = 2i/d), within 2.5 ulp where the result is a normal float
 * (tests/test_mathf.c): ln theta = k ln2 + log1p(m - 1) kept as a float h of 12
 * significant bits plus a small float l, e split likewise into e_hi + e_lo, so
 * that e_hi h is exact, and exp(-e ln theta) = exp(-e_hi h) exp(c) with
 * c = -(e_hi l + e_lo (h + l)), |c| < 0.02, exp(c) by its cubic. (exp(-e *
 * logf(theta)) in floats would be off by about e ln(theta) ulp: 9 ulp at theta =
 * 10000, an angle 5e-4 off at position 1000.) */
static inline float dlor__powmf(float theta, float e)
{
    uint32_t b = dlor__fbits(theta);
    float kf = (float)((int)(b >> 23) - 127);
    float m1 = dlor__bitsf((b & 0x7fffffu) | 0x3f800000u) - 1.0f; /* m - 1, exact */
    float hi = kf * DLOR__LN2_HI, lo = kf * DLOR__LN2_LO + dlor__log1pf(m1);
    float s = hi + lo, err = lo - (s - hi);                      /* hi + lo = s + err (|hi| >= |lo| or hi = 0) */
    float h12 = dlor__bitsf(dlor__fbits(s) & 0xfffff000u);      /* s to 12 significant bits */
    float l = (s - h12) + err;
    float e_hi = dlor__bitsf(dlor__fbits(e) & 0xfffff000u), e_lo = e - e_hi;
    float c = -(e_hi * l + e_lo * (h12 + l));
    return dlor__expf(-(e_hi * h12)) * (1.0f + c * (1.0f + c * (0.5f + c * 0.166666672f)));
}

#endif
