/* runtime_body.h - the forward pass and its kernels, written once for both
 * precisions. runtime.c includes this file twice, after defining
 *     RT_T     the element type (float, double)
 *     RT_(f)   the name of f for that type (f_f32, f_f64)
 *     RT_F32   1 for float (the BLAS path exists only there)
 *     RT_DTYPE the .dlor dtype code of RT_T (data of that dtype is used in place)
 *     RT_EXP, RT_SQRT, RT_ACT  its math; RT_POWM(theta, e) = theta^-e and
 *     RT_SINCOS(a, &s, &c) for rotary embedding
 *     RT_D2T(d), RT_U2T(n)  a double, a uint64_t as T
 * For float these are dlor_mathf.h's functions and conversions in integer
 * operations (no libm, no double arithmetic: the float32 pass runs alike on a
 * Cortex-M4F), for double libm's.
 * Every expression here decides the bits of the float32 pass (the file's
 * outputs since format 1.1): change one only on purpose, and run
 * test_runtime_paths and test_old_files. */

#define T RT_T

/* ---- the tensors' data in the pass's precision ------------------------------------ */

/* n elements of a float tensor starting at element 'first', converted into buf
 * (one loop per dtype: a switch per element cost a Cortex-M4F half of an f16
 * model's instructions). */
#ifndef DLOR_RT_NO_QUANT
static void RT_(dequant)(const dlor_image_tensor *t, uint64_t first, uint64_t n, T *buf);
#endif

/* The dtypes a build leaves out (dlor_rt_features.h) never get here: the image
 * reader refuses them. */
static void RT_(convert)(const dlor_image_tensor *t, uint64_t first, uint64_t n, T *buf)
{
#ifndef DLOR_RT_NO_QUANT
    if (dlor__is_quant_dtype(t->dtype)) {
        RT_(dequant)(t, first, n, buf);
        return;
    }
#endif
    const unsigned char *p = t->data + first * dlor_image_dtype_size(t->dtype);
    uint64_t i;
    switch (t->dtype) {
    case 1:
        for (i = 0; i < n; i++) {
            uint32_t b = dlor__ld32(p + 4 * i);
            float f;
            memcpy(&f, &b, 4);
            buf[i] = f;
        }
        break;
#ifndef DLOR_RT_NO_F16
    case 2:
        for (i = 0; i < n; i++) buf[i] = f16_f32(p + 2 * i);
        break;
#endif
#ifndef DLOR_RT_NO_BF16
    case 3:
        for (i = 0; i < n; i++) {
            uint32_t b = ((uint32_t)p[2 * i] << 16) | ((uint32_t)p[2 * i + 1] << 24);
            float f;
            memcpy(&f, &b, 4);
            buf[i] = f;
        }
        break;
#endif
#ifndef DLOR_RT_NO_F64
    case 4:
        for (i = 0; i < n; i++) buf[i] = RT_D2T(dlor__ldf64(p + 8 * i));
        break;
#endif
    default:
        break;
    }
}

static int RT_(in_place)(const dlor_image_tensor *t, uint64_t first)
{
    return t->dtype == RT_DTYPE && ((uintptr_t)(t->data + sizeof(T) * first) & (sizeof(T) - 1)) == 0;
}

/* The same, used in place when the data is of the pass's dtype and aligned. */
static const T *RT_(as)(const dlor_image_tensor *t, uint64_t first, uint64_t n, T *buf)
{
    if (RT_(in_place)(t, first)) return (const T *)(const void *)(t->data + sizeof(T) * first);
    RT_(convert)(t, first, n, buf);
    return buf;
}

/* Rows [r0, r0 + nr) and columns [c0, c0 + nc) of a 2-D float tensor with row
 * stride *ld: in place when possible, else converted into buf (nr * nc). */
static const T *RT_(rows)(const dlor_image_tensor *t, uint64_t r0, uint64_t nr, uint64_t c0, uint64_t nc, T *buf,
                          uint64_t *ld)
{
    uint64_t cols = t->dims[1];
    if (RT_(in_place)(t, r0 * cols + c0)) {
        *ld = cols;
        return (const T *)(const void *)(t->data + sizeof(T) * (r0 * cols + c0));
    }
    for (uint64_t q = 0; q < nr; q++) RT_(convert)(t, (r0 + q) * cols + c0, nc, buf + q * nc);
    *ld = nc;
    return buf;
}

/* ---- kernels ------------------------------------------------------------------
 * The kernels everything reduces to. dot keeps 16 independent partial sums
 * (summed pairwise at the end): no loop-carried dependency on one register, and
 * the compiler maps the lanes onto SIMD registers without reassociating anything,
 * so every build (scalar, SSE, AVX) gives the same bits. dot4 computes four such
 * dot products against one vector in one pass (four rows share each load of x,
 * and eight accumulator registers hide the latency of the additions), each with
 * dot's lanes and order: the same bits as four calls of dot. axpy4 adds four
 * scaled rows to y in one pass over y, in the order four calls of axpy would:
 * again the same bits, with a quarter of the loads and stores of y. On x86-64
 * Linux with GCC or clang each kernel is also compiled for AVX2 and chosen at
 * load time by that feature (a version for "arch=haswell" would be chosen by
 * processor model, and never on AMD processors); the build turns off FMA
 * contraction (-ffp-contract=off) to keep those bits identical too
 * (test_runtime_paths compares with a build without the AVX2 versions).
 * That costs a little: a build with contraction and an "arch=x86-64-v3" clone
 * (AVX2 + FMA, one instruction per 8 products instead of two) ran batch-1
 * passes 3-6% closer to a plain read of the same file (exact mul, N = 1024,
 * one thread: 1.10 x the read instead of 1.16 x; medians of 8 alternated dlor
 * bench runs), but its bits would depend on the processor. */

DLOR_RT_KERNEL static T RT_(dot)(const T *a, const T *b, uint64_t n)
{
    T s[16] = {0};
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) s[l] += a[i + l] * b[i + l];
    T t = 0;
    for (; i < n; i++) t += a[i] * b[i];
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) s[l] += s[l + w];
    return s[0] + t;
}

/* out[q] = dot(a + q lda, x, n) for q = 0..3. */
DLOR_RT_KERNEL static void RT_(dot4)(const T *a, uint64_t lda, const T *x, uint64_t n, T *out)
{
    const T *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
    T s0[16] = {0}, s1[16] = {0}, s2[16] = {0}, s3[16] = {0};
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            T xv = x[i + l];
            s0[l] += a0[i + l] * xv;
            s1[l] += a1[i + l] * xv;
            s2[l] += a2[i + l] * xv;
            s3[l] += a3[i + l] * xv;
        }
    T t0 = 0, t1 = 0, t2 = 0, t3 = 0;
    for (; i < n; i++) {
        t0 += a0[i] * x[i];
        t1 += a1[i] * x[i];
        t2 += a2[i] * x[i];
        t3 += a3[i] * x[i];
    }
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) {
            s0[l] += s0[l + w];
            s1[l] += s1[l + w];
            s2[l] += s2[l + w];
            s3[l] += s3[l + w];
        }
    out[0] = s0[0] + t0;
    out[1] = s1[0] + t1;
    out[2] = s2[0] + t2;
    out[3] = s3[0] + t3;
}

#ifdef RT_VECTOR_HOST
/* dot's closing sum of its 16 lanes, written out (s[l] += s[l + w] for w = 8, 4,
 * 2, 1): straight code, where the loops were left as loops in the tiles. */
static inline T RT_(fold16)(const T *s)
{
    T a0 = s[0] + s[8], a1 = s[1] + s[9], a2 = s[2] + s[10], a3 = s[3] + s[11];
    T a4 = s[4] + s[12], a5 = s[5] + s[13], a6 = s[6] + s[14], a7 = s[7] + s[15];
    T b0 = a0 + a4, b1 = a1 + a5, b2 = a2 + a6, b3 = a3 + a7;
    T c0 = b0 + b2, c1 = b1 + b3;
    return c0 + c1;
}

/* The kernel of a batch against rows in place: out[b * ldo + q] = dot(w + q ldw,
 * x + b ldx, n) for MB samples b and NB rows q at once, every product with
 * dot's lanes and order (the same bits as MB x NB calls of dot). Each load of a
 * row serves MB samples and each load of a sample NB rows, so the additions, not
 * the loads, set the pace. */
#define RT_TILE_BODY(MB, NB)                                                         \
    T s[MB][NB][16], t[MB][NB];                                                      \
    for (int b = 0; b < MB; b++)                                                     \
        for (int q = 0; q < NB; q++) {                                               \
            t[b][q] = 0;                                                             \
            for (int l = 0; l < 16; l++) s[b][q][l] = 0;                             \
        }                                                                            \
    uint64_t i = 0;                                                                  \
    for (; i + 16 <= n; i += 16)                                                     \
        for (int l = 0; l < 16; l++)                                                 \
            for (int b = 0; b < MB; b++)                                             \
                for (int q = 0; q < NB; q++) s[b][q][l] += w[q * ldw + i + l] * x[b * ldx + i + l]; \
    for (; i < n; i++)                                                               \
        for (int b = 0; b < MB; b++)                                                 \
            for (int q = 0; q < NB; q++) t[b][q] += w[q * ldw + i] * x[b * ldx + i]; \
    for (int b = 0; b < MB; b++)                                                     \
        for (int q = 0; q < NB; q++) out[b * ldo + q] = RT_(fold16)(s[b][q]) + t[b][q];

DLOR_RT_KERNEL static void RT_(tile)(const T *w, uint64_t ldw, const T *x, uint64_t ldx, uint64_t n, T *out,
                                     uint64_t ldo)
{
    RT_TILE_BODY(RT_TILE_MB, RT_TILE_NB)
}

#if RT_F32 && defined(RT_WIDE_TILE)
/* 4 x 4 for processors with 32 vector registers of 16 floats: one register of
 * dot's 16 lanes per product, and the closing sums of the 16 products done
 * side by side (each step adds lane l + w to lane l for two products at once:
 * the same additions as fold16, so the same bits). GNU C vectors. */
typedef float dlor__v16 __attribute__((vector_size(64)));
typedef float dlor__v16u __attribute__((vector_size(64), aligned(4)));
typedef int dlor__i16 __attribute__((vector_size(64)));

RT_WIDE_TILE static void RT_(tile_wide)(const T *w, uint64_t ldw, const T *x, uint64_t ldx, uint64_t n, T *out,
                                        uint64_t ldo)
{
    /* the 16 products as named variables: GCC keeps an array of them in memory */
    dlor__v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0}, s8 = {0}, s9 = {0},
              s10 = {0}, s11 = {0}, s12 = {0}, s13 = {0}, s14 = {0}, s15 = {0}, v[8];
    const T *w0 = w, *w1 = w + ldw, *w2 = w + 2 * ldw, *w3 = w + 3 * ldw;
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        dlor__v16 a0 = *(const dlor__v16u *)(const void *)(w0 + i), a1 = *(const dlor__v16u *)(const void *)(w1 + i),
                  a2 = *(const dlor__v16u *)(const void *)(w2 + i), a3 = *(const dlor__v16u *)(const void *)(w3 + i);
        dlor__v16 xb = *(const dlor__v16u *)(const void *)(x + i);
        s0 += a0 * xb, s1 += a1 * xb, s2 += a2 * xb, s3 += a3 * xb;
        xb = *(const dlor__v16u *)(const void *)(x + ldx + i);
        s4 += a0 * xb, s5 += a1 * xb, s6 += a2 * xb, s7 += a3 * xb;
        xb = *(const dlor__v16u *)(const void *)(x + 2 * ldx + i);
        s8 += a0 * xb, s9 += a1 * xb, s10 += a2 * xb, s11 += a3 * xb;
        xb = *(const dlor__v16u *)(const void *)(x + 3 * ldx + i);
        s12 += a0 * xb, s13 += a1 * xb, s14 += a2 * xb, s15 += a3 * xb;
    }
    /* lanes l and l + 8 of products 2j and 2j + 1, then l and l + 4 of 4 products ... */
    const dlor__i16 lo1 = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
                    hi1 = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31},
                    lo2 = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27},
                    hi2 = {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31},
                    lo3 = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29},
                    hi3 = {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31},
                    lo4 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30},
                    hi4 = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
#define RT_FOLD1(j, a, b) v[j] = __builtin_shuffle(a, b, lo1) + __builtin_shuffle(a, b, hi1)
    RT_FOLD1(0, s0, s1);
    RT_FOLD1(1, s2, s3);
    RT_FOLD1(2, s4, s5);
    RT_FOLD1(3, s6, s7);
    RT_FOLD1(4, s8, s9);
    RT_FOLD1(5, s10, s11);
    RT_FOLD1(6, s12, s13);
    RT_FOLD1(7, s14, s15);
#undef RT_FOLD1
    for (int j = 0; j < 4; j++)
        v[j] = __builtin_shuffle(v[2 * j], v[2 * j + 1], lo2) + __builtin_shuffle(v[2 * j], v[2 * j + 1], hi2);
    for (int j = 0; j < 2; j++)
        v[j] = __builtin_shuffle(v[2 * j], v[2 * j + 1], lo3) + __builtin_shuffle(v[2 * j], v[2 * j + 1], hi3);
    v[0] = __builtin_shuffle(v[0], v[1], lo4) + __builtin_shuffle(v[0], v[1], hi4);
    /* the columns past the last 16 (dot's scalar tail t, added last; zero when
     * there are none: v + 0 as dot computes it, which makes -0 +0), after the
     * closing sums so that the 16 products stay in registers throughout */
    dlor__v16 tv = {0};
    if (i < n) {
        T t[16] = {0};
        for (; i < n; i++)
            for (int b = 0; b < 4; b++)
                for (int q = 0; q < 4; q++) t[4 * b + q] += w[q * ldw + i] * x[b * ldx + i];
        memcpy(&tv, t, sizeof t);
    }
    v[0] += tv;
    for (int b = 0; b < 4; b++) memcpy(out + b * ldo, (const T *)(const void *)&v[0] + 4 * b, 4 * sizeof(T));
}
#endif

/* out[b * ostride + q] = dot(w + q ldw, x + b xstride, n) for q < nr, b < batch,
 * tile by tile: a block of rows (a few KB, kept in the first-level cache) against
 * every sample, the samples and rows left over through dot. */
static void RT_(gemm)(const T *w, uint64_t ldw, uint64_t nr, const T *x, uint64_t xstride, uint64_t n, size_t batch,
                      T *out, uint64_t ostride)
{
    uint64_t mb = RT_TILE_MB, nb = RT_TILE_NB;
#if RT_F32 && defined(RT_WIDE_TILE)
    int wide = RT_WIDE_TILE_OK();
    if (wide) mb = nb = 4;
#endif
    uint64_t q = 0;
    for (; q + nb <= nr; q += nb) {
        size_t b = 0;
        for (; b + mb <= batch; b += mb) {
#if RT_F32 && defined(RT_WIDE_TILE)
            if (wide) {
                if (q + 2 * nb <= nr) /* the next rows' first lines, RT_PREFETCH a tile */
                    for (uint64_t k = RT_PREFETCH * (b / mb); k < RT_PREFETCH * (b / mb + 1); k++)
                        if ((k / nb) * 16 < n) __builtin_prefetch(w + (q + nb + k % nb) * ldw + (k / nb) * 16);
                RT_(tile_wide)(w + q * ldw, ldw, x + b * xstride, xstride, n, out + b * ostride + q, ostride);
                continue;
            }
#endif
            RT_(tile)(w + q * ldw, ldw, x + b * xstride, xstride, n, out + b * ostride + q, ostride);
        }
        for (; b < batch; b++)
            for (uint64_t k = q; k < q + nb; k++) out[b * ostride + k] = RT_(dot)(w + k * ldw, x + b * xstride, n);
    }
    for (; q < nr; q++)
        for (size_t b = 0; b < batch; b++) out[b * ostride + q] = RT_(dot)(w + q * ldw, x + b * xstride, n);
}
#endif

#ifndef DLOR_RT_NO_NORMS
/* sum_i (x_i - c)^2 in dot's lanes and order. */
DLOR_RT_KERNEL static T RT_(sumsq)(const T *x, T c, uint64_t n)
{
    T s[16] = {0};
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            T d = x[i + l] - c;
            s[l] += d * d;
        }
    T t = 0;
    for (; i < n; i++) t += (x[i] - c) * (x[i] - c);
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) s[l] += s[l + w];
    return s[0] + t;
}

/* sum_i x_i in dot's lanes and order. */
DLOR_RT_KERNEL static T RT_(sum)(const T *x, uint64_t n)
{
    T s[16] = {0};
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) s[l] += x[i + l];
    T t = 0;
    for (; i < n; i++) t += x[i];
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) s[l] += s[l + w];
    return s[0] + t;
}

#endif

DLOR_RT_KERNEL static void RT_(axpy)(T a, const T *x, T *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* y = s y + z[0] u0 + z[1] u1 + z[2] u2 + z[3] u3, added left to right. s = 1
 * leaves y's term exact. */
DLOR_RT_KERNEL static void RT_(axpy4)(T s, const T *z, const T *u0, const T *u1, const T *u2, const T *u3,
                                      T *restrict y, uint64_t n)
{
    T z0 = z[0], z1 = z[1], z2 = z[2], z3 = z[3];
    for (uint64_t i = 0; i < n; i++) y[i] = (((s * y[i] + z0 * u0[i]) + z1 * u1[i]) + z2 * u2[i]) + z3 * u3[i];
}

/* The update for a factor in panels (DLOR_FORMAT.md 7.6): y_k[0, 16) = s y_k +
 * sum_j z[j] p_k[16 j, 16 j + 16), j = 0 .. r - 1 in order, for four blocks of
 * 16 columns k, each block a run of r x 16 elements: four runs of memory read
 * side by side, each front to back (taking a run's rows in update's band order
 * instead, which would give the bits of the row layout, made the pass 2-3 times
 * slower on the machine of BENCHMARKS.md: the prefetcher follows a run only
 * while it is read in order). So the two layouts round differently (both
 * within the runtime's error bound; test_runtime checks them against each other). */
DLOR_RT_KERNEL static void RT_(panel4)(T s, const T *z, uint64_t r, const T *p0, const T *p1, const T *p2,
                                       const T *p3, T *y0, T *y1, T *y2, T *y3)
{
    T a0[16], a1[16], a2[16], a3[16];
    for (int i = 0; i < 16; i++) {
        a0[i] = s * y0[i];
        a1[i] = s * y1[i];
        a2[i] = s * y2[i];
        a3[i] = s * y3[i];
    }
    for (uint64_t j = 0; j < r; j++) {
        T zj = z[j];
        const T *q0 = p0 + 16 * j, *q1 = p1 + 16 * j, *q2 = p2 + 16 * j, *q3 = p3 + 16 * j;
        for (int i = 0; i < 16; i++) {
            a0[i] += zj * q0[i];
            a1[i] += zj * q1[i];
            a2[i] += zj * q2[i];
            a3[i] += zj * q3[i];
        }
    }
    for (int i = 0; i < 16; i++) {
        y0[i] = a0[i];
        y1[i] = a1[i];
        y2[i] = a2[i];
        y3[i] = a3[i];
    }
}

/* The same for one block of w <= 16 columns (a run of r x w elements). */
DLOR_RT_KERNEL static void RT_(panel1)(T s, const T *z, uint64_t r, const T *p, uint64_t w, T *y)
{
    T a[16];
    for (uint64_t i = 0; i < w; i++) a[i] = s * y[i];
    for (uint64_t j = 0; j < r; j++) {
        T zj = z[j];
        for (uint64_t i = 0; i < w; i++) a[i] += zj * p[w * j + i];
    }
    for (uint64_t i = 0; i < w; i++) y[i] = a[i];
}

#ifndef DLOR_RT_NO_QUANT
/* ---- block-quantized weights (DLOR_FORMAT.md 6.1) ----------------------------------
 * A row of a q8 or q4 tensor is nb blocks of 32 values (vb bytes each: 32 int8,
 * or 16 bytes whose low nibbles are the block's columns 0-15 and high nibbles
 * columns 16-31, 4-bit two's complement), and its nb f16 scales lie in the
 * tensor's scale part. The kernels keep the weights in their integers and the
 * activations in T: per block, lane l (< 16) takes the products of columns l
 * and l + 16 (the two nibbles of byte l in q4) added in T, and adds the block's
 * scale times that to its own accumulator; the 16 accumulators are summed
 * pairwise at the end, as in dot. Fixed lanes and no reassociation: the AVX2
 * and plain builds give the same bits.
 * What GCC 12 makes of them on x86-64 (-O2 and -O3 alike, -S; see RT_NO_UNROLL
 * in runtime.c): qdot8's AVX2 clone takes a block per iteration in registers:
 * one 32-byte load of the values, vpmovsxbw + vextracti128 + four vpmovsxwd
 * (int8 to int32, 8 lanes each), four vcvtdq2ps, four vmulps by x (memory
 * operands), two vaddps of the column pairs, two vmulps by the broadcast scale
 * and two vaddps into the two accumulator registers: 23 instructions per 32
 * weights; its plain clone does the same with SSE2, the sign extension through
 * punpck/pcmpgtw. The double pass widens with vcvtdq2pd, 4 lanes a register.
 * qdot4 adds vpand 15 / vpsrlw 4, vpxor 8 and vpaddb -8 for the nibbles and
 * runs its float part in 128-bit halves (12 vmulps, 8 vaddps per two blocks).
 * qscales is 8-wide integer work with one vpblendvb for the subnormals; qaxpy
 * vectorises its whole blocks (vpmovsxwd, vcvtdq2ps, vmulps, vaddps). On the
 * machine of BENCHMARKS.md a batch-1 q8 pass spends ~70% of its time in
 * qdot8 (perf), on the accumulator additions: it is bound by these
 * instructions, not by memory (a plain read of the q8 file takes ~0.3 x the
 * pass), which bench/bench_quant.py reports. For q4 GCC made 128-bit code of
 * the whole block (the byte lanes set its vector width): 90% of a batch-1 q4
 * pass in qdot4, 2.5 x the q8 pass. Where RT_VEC is set (runtime.c) both
 * kernels are written in 8-lane vector types instead: lanes 0-7 are one
 * vector, 8-15 another, each block's 8 bytes widened to int32 lanes
 * (vpmovsxbd / vpmovzxbd), the nibbles split with integer operations on those
 * lanes, then the same products, sum, scale and accumulation per lane as the
 * loops: 20 AVX2 instructions a q8 block, 29 a q4 block, all 256-bit. */
#ifdef RT_VEC
typedef T RT_(v8) __attribute__((vector_size(8 * sizeof(T))));
#endif

/* acc[l] += s[b] (q[32 b + l] x[32 b + l] + q[32 b + 16 + l] x[32 b + 16 + l])
 * over the nb whole blocks of q8 values v against x (32 nb features): each
 * block's values converted to T first, then the lanes' products. */
DLOR_RT_KERNEL static void RT_(qdot8)(const unsigned char *v, const T *s, const T *x, uint64_t nb, T *restrict acc)
{
#ifdef RT_VEC
    RT_(v8) a0, a1;
    memcpy(&a0, acc, sizeof a0);
    memcpy(&a1, acc + 8, sizeof a1);
    for (uint64_t b = 0; b < nb; b++) {
        const signed char *q = (const signed char *)(const void *)(v + 32 * b);
        const T *xb = x + 32 * b;
        T sc = s[b];
        RT_(v8) sb = {sc, sc, sc, sc, sc, sc, sc, sc}, f[4], x0, x1, x2, x3;
        for (int k = 0; k < 4; k++) {
            rt_v8i w; /* a loop, not __builtin_convertvector: GCC 12 converts bytes lane by lane */
            for (int l = 0; l < 8; l++) w[l] = q[8 * k + l];
            f[k] = __builtin_convertvector(w, RT_(v8));
        }
        memcpy(&x0, xb, sizeof x0); /* one by one: an array of them went through the stack */
        memcpy(&x1, xb + 8, sizeof x1);
        memcpy(&x2, xb + 16, sizeof x2);
        memcpy(&x3, xb + 24, sizeof x3);
        a0 += sb * (f[0] * x0 + f[2] * x2);
        a1 += sb * (f[1] * x1 + f[3] * x3);
    }
    memcpy(acc, &a0, sizeof a0);
    memcpy(acc + 8, &a1, sizeof a1);
#else
    T a[16];
    memcpy(a, acc, sizeof a);
    for (uint64_t b = 0; b < nb; b++) {
        const signed char *q = (const signed char *)(const void *)(v + 32 * b);
        const T *xb = x + 32 * b;
        T sb = s[b], qf[32];
        RT_NO_UNROLL for (int l = 0; l < 32; l++) qf[l] = (T)q[l];
        RT_NO_UNROLL for (int l = 0; l < 16; l++) a[l] += sb * (qf[l] * xb[l] + qf[l + 16] * xb[l + 16]);
    }
    memcpy(acc, a, sizeof a);
#endif
}

/* The same for q4 blocks (16 bytes: column l in the low nibble of byte l,
 * column l + 16 in its high nibble), each block's nibbles first widened to
 * bytes (kept in registers; as floats in two arrays, GCC stored them to the
 * stack in halves and reloaded them whole, which stalled: 2 x slower). */
DLOR_RT_KERNEL static void RT_(qdot4)(const unsigned char *v, const T *s, const T *x, uint64_t nb, T *restrict acc)
{
#ifdef RT_VEC
    RT_(v8) a0, a1;
    memcpy(&a0, acc, sizeof a0);
    memcpy(&a1, acc + 8, sizeof a1);
    for (uint64_t b = 0; b < nb; b++) {
        const unsigned char *q = v + 16 * b;
        const T *xb = x + 32 * b;
        rt_v8i u0, u1;
        for (int l = 0; l < 8; l++) {
            u0[l] = q[l];
            u1[l] = q[8 + l];
        }
        rt_v8i lo0 = ((u0 & 15) ^ 8) - 8, hi0 = ((u0 >> 4) ^ 8) - 8;
        rt_v8i lo1 = ((u1 & 15) ^ 8) - 8, hi1 = ((u1 >> 4) ^ 8) - 8;
        T sc = s[b];
        RT_(v8) sb = {sc, sc, sc, sc, sc, sc, sc, sc}, x0, x1, x2, x3;
        memcpy(&x0, xb, sizeof x0);
        memcpy(&x1, xb + 8, sizeof x1);
        memcpy(&x2, xb + 16, sizeof x2);
        memcpy(&x3, xb + 24, sizeof x3);
        a0 += sb * (__builtin_convertvector(lo0, RT_(v8)) * x0 + __builtin_convertvector(hi0, RT_(v8)) * x2);
        a1 += sb * (__builtin_convertvector(lo1, RT_(v8)) * x1 + __builtin_convertvector(hi1, RT_(v8)) * x3);
    }
    memcpy(acc, &a0, sizeof a0);
    memcpy(acc + 8, &a1, sizeof a1);
#else
    T a[16];
    memcpy(a, acc, sizeof a);
    for (uint64_t b = 0; b < nb; b++) {
        const unsigned char *q = v + 16 * b;
        const T *xb = x + 32 * b;
        T sb = s[b];
        signed char t8[32];
        RT_NO_UNROLL for (int l = 0; l < 16; l++) {
            t8[l] = (signed char)((int)((q[l] & 15u) ^ 8u) - 8);
            t8[l + 16] = (signed char)((int)(((unsigned)q[l] >> 4) ^ 8u) - 8);
        }
        RT_NO_UNROLL for (int l = 0; l < 16; l++) a[l] += sb * ((T)t8[l] * xb[l] + (T)t8[l + 16] * xb[l + 16]);
    }
    memcpy(acc, a, sizeof a);
#endif
}

/* n scales (f16, finite and not negative: the image reader checked them) as
 * T, without branches so that the vectoriser takes the loop (f16_f32 per
 * block, with its branches, cost a q8 row about a quarter of its time). The
 * exponent rebased and the fraction moved up gives a normal number; for a
 * subnormal (exponent 0) that reads 2^-15 (1 + m/1024), and (that - 2^-15) 2
 * = m 2^-24 is its value (both steps exact). The bits of f16_f32. */
DLOR_RT_KERNEL static void RT_(qscales)(const unsigned char *sc, uint64_t n, T *restrict s)
{
    for (uint64_t b = 0; b < n; b++) {
        uint32_t h = (uint32_t)sc[2 * b] | ((uint32_t)sc[2 * b + 1] << 8), nb = (h << 13) + 0x38000000u, sb;
        uint32_t sub = 0u - (uint32_t)((h & 0x7c00u) == 0);
        float fn, fs;
        memcpy(&fn, &nb, 4);
        fs = (fn - 3.0517578125e-5f) * 2.0f;
        memcpy(&sb, &fs, 4);
        nb = (nb & ~sub) | (sb & sub);
        memcpy(&fn, &nb, 4);
        s[b] = (T)fn;
    }
}

/* Value of column j (< 32) of a block. */
static int RT_(qval)(const unsigned char *blk, unsigned vb, uint64_t j)
{
    if (vb == 32) return (int)blk[j] - (blk[j] >= 128 ? 256 : 0);
    unsigned nib = j < 16 ? blk[j] & 15u : (unsigned)blk[j - 16] >> 4;
    return (int)(nib ^ 8u) - 8;
}

/* The 16 lanes of a quantized kernel's accumulator summed pairwise (lane l
 * with l + 8, then l + 4, l + 2, l + 1), as dot sums its own: written out,
 * since as the loops of dot GCC kept the halves on the stack between steps
 * (stores reloaded at once: a sixth of a batch-1 q8 pass with int8
 * activations). */
static T RT_(qsum16)(const T *a)
{
    T b[8], c[4];
    RT_NO_UNROLL for (int l = 0; l < 8; l++) b[l] = a[l] + a[l + 8];
    for (int l = 0; l < 4; l++) c[l] = b[l] + b[l + 4];
    T d0 = c[0] + c[2], d1 = c[1] + c[3];
    return d0 + d1;
}

/* Row 'row' of a quantized tensor . x (cols features): the whole blocks
 * through the kernels, RT_QCHUNK blocks' scales converted at a time, then the
 * last block's used columns in order; the lanes summed pairwise as in dot. */
static T RT_(qdot)(const dlor_image_tensor *t, uint64_t row, const T *x)
{
    uint64_t cols = t->dims[1], nb = (cols + 31) / 32, full = cols / 32;
    unsigned vb = dlor_image_qblock_bytes(t->dtype);
    const unsigned char *v = t->data + row * nb * vb, *sc = t->data + t->dims[0] * nb * vb + row * nb * 2;
    T acc[16] = {0}, s[RT_QCHUNK];
    for (uint64_t b0 = 0; b0 < full; b0 += RT_QCHUNK) {
        uint64_t n = min_u64(RT_QCHUNK, full - b0);
        RT_(qscales)(sc + 2 * b0, n, s);
        if (vb == 32) RT_(qdot8)(v + 32 * b0, s, x + 32 * b0, n, acc);
        else RT_(qdot4)(v + 16 * b0, s, x + 32 * b0, n, acc);
    }
    T sum = RT_(qsum16)(acc);
    if (full < nb) {
        T tail = 0;
        for (uint64_t j = 0; j < cols - 32 * full; j++)
            tail += (T)RT_(qval)(v + full * vb, vb, j) * x[32 * full + j];
        sum += (T)f16_f32(sc + 2 * full) * tail;
    }
    return sum;
}

#if RT_F32
/* ---- integer dot products (DLOR_RT_QUANT_ACTS, dlor_runtime.h) ----------------------
 * The activations of a call, 'batch' rows of n features, quantized once: per
 * row nb = ceil(n / 32) blocks, in qa: the float scales [batch][nb], then the
 * block sums of the values [batch][nb] (int32), the values [batch][nb][32]
 * as int16 and the same as int8, zero past n (the weights' padding is zero
 * too, so whole blocks give the row's exact dot product). The scale is
 * max|x| / 127 + (the sum of x_i 0): NaN when the block holds an inf or a NaN
 * (its values then 0), else max|x| / 127 exactly. x / scale is rounded to
 * nearest even by adding and subtracting 1.5 x 2^23 (no libm; exact for
 * |x / scale| < 2^22). rt_qacts (runtime.c) points into qa. */
static rt_qacts RT_(quant_acts)(const float *x, uint64_t stride, size_t batch, uint64_t n, unsigned char *qa)
{
    rt_qacts q;
    q.nb = (n + 31) / 32;
    q.s = (float *)(void *)qa;
    q.sum = (int32_t *)(void *)(qa + 4 * batch * q.nb);
    q.v = (int16_t *)(void *)(qa + 8 * batch * q.nb);
    q.v8 = (signed char *)(void *)(qa + 72 * batch * q.nb);
    for (size_t r = 0; r < batch; r++)
        for (uint64_t b = 0; b < q.nb; b++) {
            const float *xb = x + r * stride + 32 * b;
            uint64_t k = b == q.nb - 1 ? n - 32 * b : 32;
            int16_t *v = q.v + (r * q.nb + b) * 32;
            float m = 0.0f, z = 0.0f;
            for (uint64_t j = 0; j < k; j++) {
                float a = xb[j] < 0.0f ? -xb[j] : xb[j];
                m = a > m ? a : m;
                z += xb[j] * 0.0f;
            }
            float sc = m / 127.0f + z;
            if (sc > 0.0f && sc <= 3.4028234663852886e38f) {
                for (uint64_t j = 0; j < k; j++) {
                    float t = xb[j] / sc;
                    t = (t + 12582912.0f) - 12582912.0f;
                    t = t > 127.0f ? 127.0f : t < -127.0f ? -127.0f : t;
                    v[j] = (int16_t)(int)t;
                }
            } else {
                for (uint64_t j = 0; j < k; j++) v[j] = 0;
            }
            for (uint64_t j = k; j < 32; j++) v[j] = 0;
            int32_t sum = 0;
            for (int j = 0; j < 32; j++) {
                q.v8[(r * q.nb + b) * 32 + j] = (signed char)v[j];
                sum += v[j];
            }
            q.sum[r * q.nb + b] = sum;
            q.s[r * q.nb + b] = sc;
        }
    return q;
}

/* The integer dot product of one whole block: d = the sum of w x over its 32
 * columns, for q8 (qi8) and q4 (qi4) weights. Every product and every partial
 * sum is exact (|w x| <= 128 x 127, 32 of them), so any order gives the same
 * d, and so do the vector forms below. */
static int32_t RT_(qi8)(const unsigned char *v, const int16_t *x)
{
    const signed char *w = (const signed char *)(const void *)v;
    int32_t s = 0;
    RT_NO_UNROLL for (int l = 0; l < 32; l++) s += (int32_t)w[l] * x[l];
    return s;
}

static int32_t RT_(qi4)(const unsigned char *q, const int16_t *x)
{
    int32_t s = 0;
    RT_NO_UNROLL for (int l = 0; l < 16; l++) s += ((int32_t)((q[l] & 15u) ^ 8u) - 8) * x[l];
    RT_NO_UNROLL for (int l = 0; l < 16; l++) s += ((int32_t)((q[l] >> 4) ^ 8u) - 8) * x[l + 16];
    return s;
}

#ifdef RT_VEC
/* The d of eight consecutive blocks as one vector (RT_VEC: runtime.c). q8:
 * per block the int8 values sign-extended to 16-bit lanes, columns l and
 * l + 16 multiplied and added in int16 (at most 32512), the pairs of lanes
 * added in int32, and the eight blocks' eight lanes reduced together
 * (unpack-and-add shuffles within 128-bit halves, then the halves). GCC 12's
 * AVX2 code: 99 instructions per eight blocks, no stack (vpmovsxbw and vpmullw
 * from memory, vpslld/vpsrad for the pairs, vpunpck[lh]dq/qdq, vperm2i128). */
static inline void RT_(qi8x8)(const unsigned char *v, const int16_t *x, rt_v8i *d)
{
    rt_v8i p[8];
    RT_UNROLL8 for (int k = 0; k < 8; k++) {
        const signed char *q = (const signed char *)(const void *)(v + 32 * k);
        rt_v16h w0, w1, x0, x1;
        for (int l = 0; l < 16; l++) { /* a loop: __builtin_convertvector made five instructions of it */
            w0[l] = q[l];
            w1[l] = q[16 + l];
        }
        memcpy(&x0, x + 32 * k, 32);
        memcpy(&x1, x + 32 * k + 16, 32);
        rt_v16h s16 = w0 * x0 + w1 * x1;
        rt_v8i s32;
        memcpy(&s32, &s16, 32);
        p[k] = ((s32 << 16) >> 16) + (s32 >> 16); /* lanes 2i and 2i + 1, sign-extended */
    }
    /* lanes of blocks 0-3 and 4-7, then all eight in block order */
    rt_v8i a0 = RT_FOLD32(p[0], p[1]), a1 = RT_FOLD32(p[2], p[3]), a2 = RT_FOLD32(p[4], p[5]),
           a3 = RT_FOLD32(p[6], p[7]);
    rt_v8i b0 = RT_FOLD64(a0, a1), b1 = RT_FOLD64(a2, a3);
    *d = RT_HALVES(b0, b1);
}

/* q4: here the whole block's sum fits int16 (|v x| <= 8 x 127, 32 of them: at
 * most 32512): the nibbles widened to 16-bit lanes and sign-extended by
 * shifts, multiplied and added in int16, and the eight blocks' 16 lanes
 * reduced together in int16 the same way (vpmovzxbw, vpsllw/vpsraw,
 * vpunpck[lh]wd/dq/qdq: 97 instructions). */
static inline void RT_(qi4x8)(const unsigned char *v, const int16_t *x, rt_v8i *d)
{
    rt_v16h p[8];
    RT_UNROLL8 for (int k = 0; k < 8; k++) {
        const unsigned char *q = v + 16 * k;
        rt_v16h u, x0, x1;
        for (int l = 0; l < 16; l++) u[l] = q[l];
        memcpy(&x0, x + 32 * k, 32);
        memcpy(&x1, x + 32 * k + 16, 32);
        rt_v16h lo = (u << 12) >> 12, hi = (u << 8) >> 12; /* the nibbles, sign-extended */
        p[k] = lo * x0 + hi * x1;
    }
    rt_v16h a0 = RT_FOLD16(p[0], p[1]), a1 = RT_FOLD16(p[2], p[3]), a2 = RT_FOLD16(p[4], p[5]),
            a3 = RT_FOLD16(p[6], p[7]);
    rt_v16h b0 = RT_FOLD16_32(a0, a1), b1 = RT_FOLD16_32(a2, a3), c = RT_FOLD16_64(b0, b1);
    rt_v8h lo8 = __builtin_shufflevector(c, c, 0, 1, 2, 3, 4, 5, 6, 7);
    rt_v8h hi8 = __builtin_shufflevector(c, c, 8, 9, 10, 11, 12, 13, 14, 15);
    *d = __builtin_convertvector(lo8 + hi8, rt_v8i);
}

/* Eight f16 scales as float: qscales' steps on eight lanes (the same bits). */
static inline void RT_(qs8)(const unsigned char *sc, rt_v8f *s)
{
    rt_v8i h;
    for (int l = 0; l < 8; l++) h[l] = (int32_t)((uint32_t)sc[2 * l] | ((uint32_t)sc[2 * l + 1] << 8));
    rt_v8i sub = (h & 0x7c00) == 0, nb = (h << 13) + 0x38000000, sb;
    rt_v8f fn, fs;
    memcpy(&fn, &nb, 32);
    fs = (fn - 3.0517578125e-5f) * 2.0f;
    memcpy(&sb, &fs, 32);
    nb = (nb & ~sub) | (sb & sub);
    memcpy(s, &nb, 32);
}
#endif

/* A row of nb whole blocks (vb bytes each, f16 scales sc) . quantized
 * activations (values x, float scales xs): acc[b mod 16] += (ws[b] xs[b]) d[b]
 * in block order, the lanes summed pairwise (qsum16). With RT_VEC sixteen
 * blocks at a time in registers (their scales, the two groups' d, the
 * products, lanes 0-7 and 8-15 of acc), the rest block by block in the same
 * lanes: one kernel for q8 and q4, the blocks' d (qi8x8 or qi4x8) the
 * difference. */
#ifdef RT_VEC
#define RT_QI_GROUPS(GROUP, vb)                                                                                     \
    rt_v8f a0 = {0}, a1 = {0}, xs0, xs1, s0, s1;                                                                    \
    rt_v8i d0, d1;                                                                                                  \
    for (; b + 16 <= nb; b += 16) {                                                                                 \
        memcpy(&xs0, xs + b, 32);                                                                                   \
        memcpy(&xs1, xs + b + 8, 32);                                                                               \
        RT_(qs8)(sc + 2 * b, &s0);                                                                                  \
        RT_(qs8)(sc + 2 * b + 16, &s1);                                                                             \
        GROUP(v + (vb) * b, x + 32 * b, &d0);                                                                       \
        GROUP(v + (vb) * (b + 8), x + 32 * (b + 8), &d1);                                                           \
        a0 += (s0 * xs0) * __builtin_convertvector(d0, rt_v8f);                                                     \
        a1 += (s1 * xs1) * __builtin_convertvector(d1, rt_v8f);                                                     \
    }                                                                                                               \
    memcpy(acc, &a0, 32);                                                                                           \
    memcpy(acc + 8, &a1, 32);
#else
#define RT_QI_GROUPS(GROUP, vb)
#endif
#define RT_QIROW(GROUP, ONE, vb)                                                                                    \
    {                                                                                                               \
        float acc[16] = {0};                                                                                        \
        uint64_t b = 0;                                                                                             \
        RT_QI_GROUPS(GROUP, vb)                                                                                     \
        for (; b < nb; b++) acc[b % 16] += (f16_f32(sc + 2 * b) * xs[b]) * (float)ONE(v + (vb) * b, x + 32 * b); \
        return RT_(qsum16)(acc);                                                                                    \
    }
DLOR_RT_KERNEL static float RT_(qirow8)(const unsigned char *v, const unsigned char *sc, const int16_t *x,
                                        const float *xs, uint64_t nb) RT_QIROW(RT_(qi8x8), RT_(qi8), 32)
DLOR_RT_KERNEL static float RT_(qirow4)(const unsigned char *v, const unsigned char *sc, const int16_t *x,
                                        const float *xs, uint64_t nb) RT_QIROW(RT_(qi4x8), RT_(qi4), 16)
#undef RT_QIROW
#undef RT_QI_GROUPS

#ifdef RT_VNNI
/* Sixteen f16 scales as float: qscales' steps on sixteen lanes (the same bits). */
RT_VNNI static inline void RT_(qs16)(const unsigned char *sc, rt_v16f *s)
{
    rt_v16u16 u;
    memcpy(&u, sc, 32); /* little-endian host (x86-64) */
    rt_v16i h = __builtin_convertvector(u, rt_v16i);
    rt_v16i sub = (h & 0x7c00) == 0, nb = (h << 13) + 0x38000000, sb;
    rt_v16f fn, fs;
    memcpy(&fn, &nb, 64);
    fs = (fn - 3.0517578125e-5f) * 2.0f;
    memcpy(&sb, &fs, 64);
    nb = (nb & ~sub) | (sb & sub);
    memcpy(s, &nb, 64);
}
#endif

#ifdef RT_VNNI
/* qirow8 and qirow4 for processors with AVX-512 VNNI (RT_VNNI, runtime.c), whose vpdpbusd
 * adds four products of unsigned and signed bytes into each int32 lane: GCC 12
 * makes it of a plain loop over a block's products of unsigned by signed bytes
 * (its usdot_prod pattern), so the weights are made unsigned by flipping their
 * sign bits (w + 128) and the block sums of the int8 activations take the 128
 * back: d = sum (w + 128) x - 128 sum x, exact. Per block: one vpxor of the
 * values from memory, one vpdpbusd with the activations from memory and the
 * sum of its eight lanes (vextracti128, vpsrldq, vpaddd); the sixteen sums of
 * a group go into one 16-lane vector by a tree of vpunpck and vinserti (the
 * initializer of d: as an array copied into vectors GCC stored them and
 * reloaded them in halves, a stalled store forwarding), and the scales,
 * products and accumulation run on that whole 16-lane vector (one register
 * for qirow8's lanes 0-15), the closing pairwise sum on its lanes
 * (qsum16v): the same lanes and additions as qirow8, the same bits. The lane
 * sum, which GCC's pattern always makes per block (no portable C gives
 * vpdpbusd's lanes back as a vector), bounds it: on the machine of
 * BENCHMARKS.md (AVX-512 VNNI) a 2048 x 2048 q8 matrix takes ~1.95 x the time
 * of its bytes through vpdpbusd with one lane sum per sixteen blocks, which
 * runs at the speed of the float32 pass's reads (the last-level cache's
 * bandwidth). q4 rows (vb = 16) take the same path: two blocks' 32 bytes
 * flipped (^ 0x88: each nibble v + 8, 0 to 15, unsigned), their low nibbles
 * (vpand) and high nibbles (vpsrlw, vpand) put side by side per block
 * (vperm2i128: columns 0-15, then 16-31, the activations' order), the same
 * vpdpbusd and lane sum per block, and d = sum (v + 8) x - 8 sum x. */
RT_VNNI static inline float RT_(qsum16v)(rt_v16f a)
{
    rt_v8f b = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7) +
               __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
    rt_v4f c = __builtin_shufflevector(b, b, 0, 1, 2, 3) + __builtin_shufflevector(b, b, 4, 5, 6, 7);
    float d0 = c[0] + c[2], d1 = c[1] + c[3];
    return d0 + d1;
}

RT_VNNI static inline float RT_(qirow_vnni)(const unsigned char *v, const unsigned char *sc, const rt_qacts *q,
                                            size_t r, unsigned vb)
{
    uint64_t nb = q->nb, b = 0;
    const signed char *x8 = q->v8 + r * nb * 32;
    const int32_t *xsum = q->sum + r * nb;
    const float *xs = q->s + r * nb;
    rt_v16f a = {0}, xs16, s16;
    for (; b + 16 <= nb; b += 16) {
        int32_t e[16];
        if (vb == 32) {
            _Pragma("GCC unroll 16") for (int k = 0; k < 16; k++) {
                const unsigned char *w = v + 32 * (b + k);
                const signed char *xb = x8 + 32 * (b + k);
                int32_t s = 0;
                for (int l = 0; l < 32; l++) s += (int32_t)(unsigned char)(w[l] ^ 0x80u) * xb[l];
                e[k] = s;
            }
        } else {
            _Pragma("GCC unroll 8") for (int k = 0; k < 16; k += 2) {
                rt_v32u8 u, lo, hi, t0, t1;
                memcpy(&u, v + 16 * (b + k), 32);
                u ^= 0x88;
                lo = u & 15;
                hi = u >> 4;
                t0 = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 32, 33, 34, 35,
                                             36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47);
                t1 = __builtin_shufflevector(lo, hi, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 48,
                                             49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63);
                unsigned char b0[32], b1[32];
                memcpy(b0, &t0, 32);
                memcpy(b1, &t1, 32);
                const signed char *xb = x8 + 32 * (b + k);
                int32_t s0 = 0, s1 = 0;
                for (int l = 0; l < 32; l++) s0 += (int32_t)b0[l] * xb[l];
                for (int l = 0; l < 32; l++) s1 += (int32_t)b1[l] * xb[32 + l];
                e[k] = s0;
                e[k + 1] = s1;
            }
        }
        rt_v16i c, d = {e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[9], e[10], e[11], e[12], e[13], e[14], e[15]};
        memcpy(&c, xsum + b, 64);
        d -= vb == 32 ? c << 7 : c << 3;
        memcpy(&xs16, xs + b, 64);
        RT_(qs16)(sc + 2 * b, &s16);
        a += (s16 * xs16) * __builtin_convertvector(d, rt_v16f);
    }
    if (b == nb) return RT_(qsum16v)(a);
    float acc[16];
    memcpy(acc, &a, 64);
    for (; b < nb; b++)
        acc[b % 16] += (f16_f32(sc + 2 * b) * xs[b]) *
                       (float)(vb == 32 ? RT_(qi8)(v + 32 * b, q->v + (r * nb + b) * 32)
                                        : RT_(qi4)(v + 16 * b, q->v + (r * nb + b) * 32));
    return RT_(qsum16)(acc);
}

/* Rows [r0, r0 + nr) of a q8 tensor . every sample of the quantized
 * activations: out[b ostride + i] for row r0 + i, sample b. */
#define RT_QIROWS_VNNI(vb)                                                                                          \
    {                                                                                                               \
        uint64_t nb = q->nb;                                                                                        \
        const unsigned char *sc0 = t->data + t->dims[0] * nb * (vb);                                                \
        for (uint64_t i = 0; i < nr; i++) {                                                                         \
            const unsigned char *v = t->data + (r0 + i) * nb * (vb), *sc = sc0 + (r0 + i) * nb * 2;                 \
            for (size_t b = 0; b < batch; b++) out[b * ostride + i] = RT_(qirow_vnni)(v, sc, q, b, vb);             \
        }                                                                                                           \
    }
RT_VNNI static void RT_(qirows8_vnni)(const dlor_image_tensor *t, uint64_t r0, uint64_t nr, const rt_qacts *q,
                                      size_t batch, float *out, uint64_t ostride) RT_QIROWS_VNNI(32)
RT_VNNI static void RT_(qirows4_vnni)(const dlor_image_tensor *t, uint64_t r0, uint64_t nr, const rt_qacts *q,
                                      size_t batch, float *out, uint64_t ostride) RT_QIROWS_VNNI(16)
#undef RT_QIROWS_VNNI
#endif

/* Row 'row' of a quantized tensor . sample r of the quantized activations. */
static float RT_(qidot)(const dlor_image_tensor *t, uint64_t row, const rt_qacts *q, size_t r)
{
    uint64_t nb = q->nb;
    unsigned vb = dlor_image_qblock_bytes(t->dtype);
    const unsigned char *v = t->data + row * nb * vb, *sc = t->data + t->dims[0] * nb * vb + row * nb * 2;
    if (vb == 32) return RT_(qirow8)(v, sc, q->v + r * nb * 32, q->s + r * nb, nb);
    return RT_(qirow4)(v, sc, q->v + r * nb * 32, q->s + r * nb, nb);
}
#endif

/* y[i0, i1) += a * row 'row' of a quantized tensor (its columns [i0, i1)):
 * per block, a times the scale, then that times each value. */
DLOR_RT_KERNEL static void RT_(qaxpy)(T a, const dlor_image_tensor *t, uint64_t row, uint64_t i0, uint64_t i1,
                                      T *restrict y)
{
    uint64_t cols = t->dims[1], nb = (cols + 31) / 32;
    unsigned vb = dlor_image_qblock_bytes(t->dtype);
    const unsigned char *v = t->data + row * nb * vb, *sc = t->data + t->dims[0] * nb * vb + row * nb * 2;
    for (uint64_t b = i0 / 32; b * 32 < i1; b++) {
        const unsigned char *q = v + b * vb;
        T c = a * (T)f16_f32(sc + 2 * b);
        uint64_t lo = b * 32 > i0 ? b * 32 : i0, hi = b * 32 + 32 < i1 ? b * 32 + 32 : i1;
        T *yb = y + 32 * b;
        if (lo == 32 * b && hi == 32 * b + 32 && vb == 32) {
            const signed char *s8 = (const signed char *)(const void *)q;
            for (int l = 0; l < 32; l++) yb[l] += c * (T)s8[l];
        } else if (lo == 32 * b && hi == 32 * b + 32) {
            for (int l = 0; l < 16; l++) {
                yb[l] += c * (T)((int)((q[l] & 15u) ^ 8u) - 8);
                yb[l + 16] += c * (T)((int)(((unsigned)q[l] >> 4) ^ 8u) - 8);
            }
        } else {
            for (uint64_t i = lo; i < hi; i++) y[i] += c * (T)RT_(qval)(q, vb, i - 32 * b);
        }
    }
}

/* n elements of a quantized tensor from element 'first', as T. */
static void RT_(dequant)(const dlor_image_tensor *t, uint64_t first, uint64_t n, T *buf)
{
    uint64_t cols = t->dims[1], nb = (cols + 31) / 32;
    unsigned vb = dlor_image_qblock_bytes(t->dtype);
    const unsigned char *sc = t->data + t->dims[0] * nb * vb;
    for (uint64_t e = first; e < first + n; e++) {
        uint64_t r = e / cols, c = e % cols, b = r * nb + c / 32;
        buf[e - first] = (T)f16_f32(sc + 2 * b) * (T)RT_(qval)(t->data + b * vb, vb, c % 32);
    }
}

#endif

/* out[b * ostride + q] = row r0 + q of t (features [c0, c0 + n)) . sample b of x,
 * for q < nr. The rows go through dot4 as four bands of consecutive rows read
 * side by side (rows q, q + nr/4, q + nr/2, q + 3nr/4): in place, four long runs
 * of memory for the hardware prefetcher instead of four rows of a few KB each
 * starting over (20-30% faster at N = 1024-2048 on the machine of
 * BENCHMARKS.md); the rows left over go through dot. Each row's dot product is
 * dot's, so the bits do not depend on the banding. */
static void RT_(band_dots)(const dlor_image_tensor *t, uint64_t r0, uint64_t nr, uint64_t c0, const T *x,
                           uint64_t xstride, uint64_t n, size_t batch, T *out, uint64_t ostride, T *widen,
                           unsigned char *qa)
{
    uint64_t band = nr / 4, cols = t->dims[1], ld;
    int direct = RT_(in_place)(t, 0); /* rows used where they lie (no call per row) */
#ifdef RT_VECTOR_HOST
    if (direct && batch >= RT_TILE_MB) { /* a batch: tile by tile, each product still dot's */
        RT_(gemm)((const T *)(const void *)t->data + r0 * cols + c0, cols, nr, x, xstride, n, batch, out, ostride);
        return;
    }
#endif
#ifdef DLOR_RT_NO_QUANT
    (void)qa;
#else
#if RT_F32
    if (qa && dlor__is_quant_dtype(t->dtype)) { /* integer dot products (whole rows) */
        if (nr == 0) return;
        rt_qacts q = RT_(quant_acts)(x, xstride, batch, cols, qa);
#ifdef RT_VNNI
        if (RT_VNNI_OK()) {
            if (dlor_image_qblock_bytes(t->dtype) == 32) RT_(qirows8_vnni)(t, r0, nr, &q, batch, out, ostride);
            else RT_(qirows4_vnni)(t, r0, nr, &q, batch, out, ostride);
            return;
        }
#endif
        for (uint64_t i = 0; i < nr; i++)
            for (size_t b = 0; b < batch; b++) out[b * ostride + i] = RT_(qidot)(t, r0 + i, &q, b);
        return;
    }
#else
    (void)qa;
#endif
    if (dlor__is_quant_dtype(t->dtype)) { /* whole rows (c0 = 0, n = cols), in their integers */
        for (uint64_t q = 0; q < nr; q++)
            for (size_t b = 0; b < batch; b++) out[b * ostride + q] = RT_(qdot)(t, r0 + q, x + b * xstride);
        return;
    }
#endif
    for (uint64_t q = 0; q < band; q++) {
        const T *a = widen;
        uint64_t lda = n;
        if (direct) {
            a = (const T *)(const void *)t->data + (r0 + q) * cols + c0;
            lda = band * cols;
        } else {
            for (uint64_t k = 0; k < 4; k++) RT_(rows)(t, r0 + q + k * band, 1, c0, n, widen + k * n, &ld);
        }
        for (size_t b = 0; b < batch; b++) {
            T r4[4], *ob = out + b * ostride + q;
            RT_(dot4)(a, lda, x + b * xstride, n, r4);
            for (uint64_t k = 0; k < 4; k++) ob[k * band] = r4[k];
        }
    }
    for (uint64_t q = 4 * band; q < nr; q++) {
        const T *a = RT_(rows)(t, r0 + q, 1, c0, n, widen, &ld);
        for (size_t b = 0; b < batch; b++) out[b * ostride + q] = RT_(dot)(a, x + b * xstride, n);
    }
}

/* Dense y = W x for every sample, the worker's rows [o0, o1) of W = [out, in]. */
static void RT_(dense_layer)(const dlor_image_tensor *w, const T *in, T *out, size_t batch, uint64_t stride,
                             uint64_t o0, uint64_t o1, T *widen, unsigned char *qa)
{
    uint64_t nin = w->dims[1];
#if RT_F32 && defined(DLOR_RUNTIME_BLAS)
    if (batch > 1 && RT_(in_place)(w, o0 * nin)) {
        if (o1 > o0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)(o1 - o0), (int)nin, 1.0f, in,
                        (int)stride, (const float *)(const void *)(w->data + 4 * o0 * nin), (int)nin, 0.0f, out + o0,
                        (int)stride);
        return;
    }
#endif
    RT_(band_dots)(w, o0, o1 - o0, 0, in, stride, nin, batch, out + o0, stride, widen, qa);
}

/* z[b * zs + q] = V^T row q . sample b, for the worker's rows [q0, q1) (V^T rows
 * taken from row j0 of the tensor). In a BLAS build a batch goes through sgemm
 * 'chunk' rows at a time; chunk 0 keeps it on the kernels above. */
static void RT_(products)(const dlor_image_tensor *vt, uint64_t j0, uint64_t q0, uint64_t q1, const T *x,
                          uint64_t stride, size_t batch, T *z, uint64_t zs, uint64_t chunk, T *widen,
                          unsigned char *qa)
{
    uint64_t dv = vt->dims[1];
#if RT_F32 && defined(DLOR_RUNTIME_BLAS)
    if (batch > 1 && chunk && !(qa && dlor__is_quant_dtype(vt->dtype))) {
        for (uint64_t q = q0; q < q1; q += chunk) {
            uint64_t nr = min_u64(chunk, q1 - q), ld;
            const float *V = RT_(rows)(vt, j0 + q, nr, 0, dv, widen, &ld);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)nr, (int)dv, 1.0f, x, (int)stride, V,
                        (int)ld, 0.0f, z + q, (int)zs);
        }
        return;
    }
#else
    (void)chunk;
#endif
    RT_(band_dots)(vt, j0 + q0, q1 - q0, 0, x, stride, dv, batch, z + q0, zs, widen, qa);
}

/* Columns [i0, i1) of y = s y + U z for every sample, for the factor whose r
 * rows start at row j0 of the U tensor (stored in panels when 'panels'; then
 * i0 is a multiple of 16, as share(.., 16) gives), z[b * zs + q]. s scales y
 * before the first row is added. chunk: as for products (gemm_rows_u: never
 * for U in panels). */
static void RT_(update)(const dlor_image_tensor *ut, int panels, uint64_t j0, uint64_t r, T s, const T *z,
                        uint64_t zs, T *y, uint64_t stride, size_t batch, uint64_t i0, uint64_t i1, uint64_t chunk,
                        T *widen)
{
    uint64_t ld, nc = i1 - i0;
    if (nc == 0) return;
#if RT_F32 && defined(DLOR_RUNTIME_BLAS)
    if (batch > 1 && chunk) {
        if (s != 1.0f)
            for (size_t b = 0; b < batch; b++)
                for (uint64_t i = i0; i < i1; i++) y[b * stride + i] *= s;
        for (uint64_t q = 0; q < r; q += chunk) {
            uint64_t nr = min_u64(chunk, r - q);
            const float *U = RT_(rows)(ut, j0 + q, nr, i0, nc, widen, &ld);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)batch, (int)nc, (int)nr, 1.0f, z + q, (int)zs,
                        U, (int)ld, 1.0f, y + i0, (int)stride);
        }
        return;
    }
#else
    (void)chunk;
#endif
#ifndef DLOR_RT_NO_QUANT
    if (dlor__is_quant_dtype(ut->dtype)) { /* rows of U^T in their integers, y scaled first */
        if (s != (T)1)
            for (size_t b = 0; b < batch; b++)
                for (uint64_t i = i0; i < i1; i++) y[b * stride + i] *= s;
        for (uint64_t q = 0; q < r; q++)
            for (size_t b = 0; b < batch; b++) RT_(qaxpy)(z[b * zs + q], ut, j0 + q, i0, i1, y + b * stride);
        return;
    }
#endif
    if (panels) {
        /* blocks [b0, b1) of 16 columns; the full ones four at a time, from four
         * places a quarter of the worker's share apart */
        uint64_t dim = ut->dims[1], b0 = i0 / DLOR_IMAGE_PANEL, b1 = (i1 + DLOR_IMAGE_PANEL - 1) / DLOR_IMAGE_PANEL;
        uint64_t full = b1 - b0 - (i1 % DLOR_IMAGE_PANEL != 0), Q = full / 4, run = r * DLOR_IMAGE_PANEL;
        int direct = RT_(in_place)(ut, 0);
        for (uint64_t q = 0; q < Q; q++) {
            const T *p[4];
            for (uint64_t k = 0; k < 4; k++) {
                uint64_t first = dlor_image_panel_index(j0, r, dim, 0, (b0 + q + k * Q) * DLOR_IMAGE_PANEL);
                p[k] = direct ? (const T *)(const void *)ut->data + first : RT_(as)(ut, first, run, widen + k * run);
            }
            /* rows [j, j + PANEL_ROWS) of the four runs for every sample, then the
             * next rows: the 16 KB stay in L1 while a batch goes through them
             * (the whole runs, 64 KB at rank 256, did not: a batch of 64 ran 20%
             * slower than at rank 64). Same bits: panel4 with s = 1 starts from y
             * exactly, and y holds the sum so far. */
            for (uint64_t j = 0; j < r; j += PANEL_ROWS) {
                uint64_t nj = min_u64(PANEL_ROWS, r - j), o16 = DLOR_IMAGE_PANEL * j;
                for (size_t b = 0; b < batch; b++) {
                    T *yb = y + b * stride + (b0 + q) * DLOR_IMAGE_PANEL, *o = yb + Q * DLOR_IMAGE_PANEL;
                    RT_(panel4)(j == 0 ? s : (T)1, z + b * zs + j, nj, p[0] + o16, p[1] + o16, p[2] + o16, p[3] + o16,
                                yb, o, o + Q * DLOR_IMAGE_PANEL, o + 2 * Q * DLOR_IMAGE_PANEL);
                }
            }
        }
        for (uint64_t blk = b0 + 4 * Q; blk < b1; blk++) {
            uint64_t c = blk * DLOR_IMAGE_PANEL, w = min_u64(DLOR_IMAGE_PANEL, dim - c);
            uint64_t first = dlor_image_panel_index(j0, r, dim, 0, c);
            const T *p = RT_(as)(ut, first, r * w, widen);
            for (size_t b = 0; b < batch; b++) RT_(panel1)(s, z + b * zs, r, p, w, y + b * stride + c);
        }
        return;
    }
    /* rows t, t + band, t + 2 band, t + 3 band together (four long runs of memory
     * when the factor is used in place, as in band_dots), t = 0 .. band - 1, then
     * the remainder rows in order; every worker and every dtype in this order */
    uint64_t band = r / 4;
    for (uint64_t t = 0; t < band; t++) {
        const T *u[4];
        for (uint64_t k = 0; k < 4; k++) u[k] = RT_(rows)(ut, j0 + t + k * band, 1, i0, nc, widen + k * nc, &ld);
        for (size_t b = 0; b < batch; b++) {
            const T *zb = z + b * zs + t;
            T z4[4] = {zb[0], zb[band], zb[2 * band], zb[3 * band]};
            RT_(axpy4)(t == 0 ? s : (T)1, z4, u[0], u[1], u[2], u[3], y + b * stride + i0, nc);
        }
    }
    for (uint64_t q = 4 * band; q < r; q++) {
        const T *u = RT_(rows)(ut, j0 + q, 1, i0, nc, widen, &ld);
        for (size_t b = 0; b < batch; b++) {
            T *yb = y + b * stride + i0;
            if (q == 0 && s != (T)1) /* y scaled (rounded) first, as axpy4 does in its first term */
                for (uint64_t i = 0; i < nc; i++) yb[i] *= s;
            RT_(axpy)(z[b * zs + q], u, yb, nc);
        }
    }
}

/* A DLoR layer: in (cols features per sample) -> out (rows features). Ends with
 * the worker's rows of the output written: share(rows, 16) for add layers; a mul
 * layer ends with a sync (its last step is split over D, not rows). */
static void RT_(dlor_layer)(const dlor_model *m, const dlor_image_layer *L, const T *in, T *out, size_t batch,
                            uint64_t stride, T *z, T *widen, unsigned char *qa, const dlor_team *t)
{
    dlor_image_tensor ut, vt;
    dlor_image_tensor_at(&m->img, L->u_tensor, &ut);
    dlor_image_tensor_at(&m->img, L->v_tensor, &vt);
    uint64_t q0, q1, i0, i1, chunk = gemm_rows(L), uchunk = gemm_rows_u(L);
    int panels = L->u_layout == DLOR_IMAGE_U_PANELS;
    if (L->method == DLOR_IMAGE_MUL) {
        /* x~ = [x; 0] in D features, then x~ <- a x~ + U_l (V_l^T x~) for each factor
         * (the padding of Remark 2 is undone by reading the first rows features). */
        uint64_t D = L->dim_u;
        T a = RT_D2T(L->alpha);
        share(t, D, 16, &i0, &i1);
        uint64_t c = i1 < L->cols ? i1 : (i0 < L->cols ? L->cols : i0); /* [i0, c) copied, [c, i1) zero */
        for (size_t b = 0; b < batch; b++) {
            memcpy(out + b * stride + i0, in + b * stride + i0, (c - i0) * sizeof(T));
            memset(out + b * stride + c, 0, (i1 - c) * sizeof(T));
        }
        team_sync(t);
        /* Each factor is two steps with a sync after each. At N = 1024, batch 1,
         * two workers (BENCHMARKS.md), this cost ~40% over the add form of the
         * same bytes (2 steps per layer instead of 2 per factor) at rank 64,
         * and ~9% at rank 256: each step's runs are short (4 x 32 KB per worker
         * at rank 64), the pass switches between V and U, and the workers'
         * jitter meets at every sync. Tried
         * without gain: software prefetch in the kernels at 4-32 lines ahead,
         * prefetching the next step's part during this one (~20% slower),
         * blocks side by side instead of a quarter share apart (22% slower), a
         * barrier of per-worker flags, prefetching the first lines of the next
         * step's four runs before each sync (no change), and one sync per
         * factor: products split by columns into fixed chunks of 256 or 512
         * features (partial sums added in chunk order, so any team gives the
         * same bits) from V stored in column chunks, so that each worker reads
         * and writes only its own features (no change in a pass from a warm
         * cache; reading V's row-major halves instead was 50% slower even on
         * one thread). A larger rank (fewer steps) helps; see DEFAULT_RANK in
         * cmd_convert.c. Also without gain (rank 256, N = 1024, batch 1, medians
         * of 5-6 alternated dlor bench runs, +-5% run to run): the last quarter
         * of each step handed out grain by grain to whichever worker is free
         * (the waits of 4-16 us at the barriers mostly went, the pass time
         * stayed; dropping the barriers altogether, for timing only, did not
         * make the pass faster either), eight runs
         * per worker (two groups of four read in turn: 30-45% slower), bands
         * cut so the four runs are not a power of two apart (no change), two
         * products summed before each accumulator addition (no change), x
         * copied to another alignment (no change). What the gap to the plain
         * read is made of: the same steps reading the same addresses without
         * arithmetic (integer sums) ran 1.03-1.06 x the read on one thread and
         * 1.18 x on two; with the kernels 1.13-1.19 x and 1.23-1.3 x. The V^T
         * steps alone, or the U steps alone, ran 1.14 x a read of half the file
         * (12.6 MB) on one thread, so the kernels cost ~14% over a read at any
         * working set; what decides the ratio to dense more is the working set:
         * in the same runs the half read took 0.7 x the dense pass (12.6 MB
         * too), the whole file's read 2.1 x, i.e. per byte the 25 MB that the
         * shared L3 of that machine did not hold read 1.5 times slower.
         * A read-only model of these steps (two workers pinned one per core,
         * sums of four runs per step, a barrier after each step, N = 1024,
         * rank 256, 12 factors) took 1.05-1.23 x a plain read of the same
         * bytes with the factors stored as now, 1.02-1.08 x with each worker's
         * halves of every factor stored one after the other: a layout made for
         * one team size could save a few percent at two threads, not kept
         * (a file would then favour one team size). */
        for (uint64_t l = 0; l < L->factors; l++) {
            uint64_t j0 = l * L->rank, r = min_u64(L->rank, L->k - j0);
            share(t, r, 1, &q0, &q1); /* row by row: even shares, 2-7% faster than fours */
            RT_(products)(&vt, j0, q0, q1, out, stride, batch, z, r, chunk, widen, qa);
            team_sync(t);
            RT_(update)(&ut, panels, j0, r, a, z, r, out, stride, batch, i0, i1, uchunk, widen);
            team_sync(t);
        }
        return;
    }
    /* add: y = L a I_{m x n} x + sum_l U_l (V_l^T x), all factors' products at
     * once, then each factor's update */
    uint64_t kdiag = L->rows < L->cols ? L->rows : L->cols, k = L->k;
    T la = RT_U2T(L->factors) * RT_D2T(L->alpha);
    share(t, k, 1, &q0, &q1);
    RT_(products)(&vt, 0, q0, q1, in, stride, batch, z, k, chunk, widen, qa);
    team_sync(t);
    share(t, L->rows, 16, &i0, &i1);
    uint64_t c = i1 < kdiag ? i1 : (i0 < kdiag ? kdiag : i0); /* [i0, c) on the diagonal, [c, i1) zero */
#ifndef DLOR_RT_NO_QUANT
    if (L->has_base) { /* 1.7: y = B x, then the diagonal added to it (bases are q8 or q4: a build
                        * with DLOR_RT_NO_QUANT refuses them at open) */
        dlor_image_tensor bt;
        dlor_image_tensor_at(&m->img, L->base_tensor, &bt);
        RT_(dense_layer)(&bt, in, out, batch, stride, i0, i1, widen, qa);
        for (size_t b = 0; b < batch; b++) {
            T *ob = out + b * stride;
            const T *ib = in + b * stride;
            for (uint64_t i = i0; i < c; i++) ob[i] += la * ib[i];
        }
    } else
#endif
    {
        for (size_t b = 0; b < batch; b++) {
            T *ob = out + b * stride;
            const T *ib = in + b * stride;
            for (uint64_t i = i0; i < c; i++) ob[i] = la * ib[i];
            memset(ob + c, 0, (i1 - c) * sizeof(T));
        }
    }
    for (uint64_t l = 0; l < L->factors; l++) {
        uint64_t j0 = l * L->rank;
        RT_(update)(&ut, panels, j0, min_u64(L->rank, k - j0), (T)1, z + j0, k, out, stride, batch, i0, i1, uchunk,
                    widen);
    }
}

/* ---- elementwise and row steps --------------------------------------------------- */

/* Columns [f0, f1) of y = act(x) for 'rows' rows. Each activation has its own
 * loop (a switch per element kept the compiler from vectorising relu: a pass
 * of a small compressed model spent ~10% of its time there). */
#if RT_F32 && defined(RT_VECTOR_HOST)
/* GELU (erf) of n floats by dlor__geluf_sel: dlor__geluf's bits, vectorised. */
DLOR_RT_KERNEL static void RT_(gelu_run)(const T *u, T *v, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) v[i] = dlor__geluf_sel(u[i]);
}

#ifndef DLOR_RT_NO_ATTENTION
/* p[t] = exp(p[t] - m) by dlor__expf_sel: dlor__expf's bits, vectorised. */
DLOR_RT_KERNEL static void RT_(exp_run)(T *p, T m, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) p[i] = dlor__expf_sel(p[i] - m);
}
#endif
#ifdef RT_WIDE_TILE
/* The same two with 16 lanes (processors of tile_wide): each element's
 * operations are its own, so the width does not change the bits. */
/* GELU: dlor__geluf_sel written out on 16 lanes, its operations in its order;
 * the coefficients of erf's four ranges are picked by a permute of lanes (the
 * range's index, 0-3) where dlor__sel4 takes three selects: the same values. */
#define RT_VSEL(c, a, b) ((dlor__v16)(((dlor__i16)(a) & (c)) | ((dlor__i16)(b) & ~(c))))
#define RT_C4(c0, c1, c2, c3) __builtin_shuffle((dlor__v16){c0, c1, c2, c3}, idx)
#define RT_ERF_TOP(c0, c1, c2, c3) dlor__v16 q = RT_C4(c0, c1, c2, c3);
#define RT_ERF_NEXT(c0, c1, c2, c3) q = RT_C4(c0, c1, c2, c3) + t * q;
RT_WIDE_TILE static void RT_(gelu_run_wide)(const T *u, T *v, uint64_t n)
{
    const dlor__v16 one = (dlor__v16){0} + 1.0f;
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        dlor__v16 x0 = *(const dlor__v16u *)(const void *)(u + i), x = x0 * 0.70710678118654752f;
        dlor__v16 a = (dlor__v16)((dlor__i16)x & 0x7fffffff), z = x * x;
        dlor__v16 small = DLOR__ERF_SMALL(x, z);
        dlor__i16 idx = 3 + (a < 1.5f) + (a < 2.25f) + (a < 3.0f); /* comparisons give -1 */
        dlor__v16 t = a - DLOR__ERFC_CENTERS(RT_C4);
        DLOR__ERFC_POLY(RT_ERF_TOP, RT_ERF_NEXT)
        dlor__v16 y = RT_VSEL(a < 3.93f, 1.0f - q, one);
        dlor__v16 big = RT_VSEL(x < 0.0f, -y, y);
        dlor__v16 r = RT_VSEL(a < 0.84375f, small, big);
        dlor__v16 e = RT_VSEL(a != a, x + x, r);
        *(dlor__v16u *)(void *)(v + i) = 0.5f * x0 * (1.0f + e);
    }
    for (; i < n; i++) v[i] = dlor__geluf_sel(u[i]);
}
#undef RT_ERF_NEXT
#undef RT_ERF_TOP
#undef RT_C4
#undef RT_VSEL
#ifndef DLOR_RT_NO_ATTENTION
RT_WIDE_TILE static void RT_(exp_run_wide)(T *p, T m, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) p[i] = dlor__expf_sel(p[i] - m);
}
#endif
#endif
#endif

/* v = u + u2 (add) or u * u2, elementwise (in place: v may be u or u2). */
DLOR_RT_KERNEL static void RT_(add_mul)(int add, const T *u, const T *u2, T *v, uint64_t n)
{
    if (add)
        for (uint64_t f = 0; f < n; f++) v[f] = u[f] + u2[f];
    else
        for (uint64_t f = 0; f < n; f++) v[f] = u[f] * u2[f];
}

static void RT_(act_rows)(const T *x, T *y, size_t rows, uint64_t stride, uint64_t f0, uint64_t f1, int act, T p)
{
    for (size_t b = 0; b < rows; b++) {
        const T *u = x + b * stride;
        T *v = y + b * stride;
        uint64_t i;
#define RT_ACT_LOOP(code) \
    if (DLOR_RT_HAS_ACT(code))  \
        for (i = f0; i < f1; i++) v[i] = RT_ACT(code, u[i], p)
        switch (act) {
        case DLOR_ACT_RELU: RT_ACT_LOOP(DLOR_ACT_RELU); break;
        case DLOR_ACT_LEAKY_RELU: RT_ACT_LOOP(DLOR_ACT_LEAKY_RELU); break;
        case DLOR_ACT_SIGMOID: RT_ACT_LOOP(DLOR_ACT_SIGMOID); break;
        case DLOR_ACT_TANH: RT_ACT_LOOP(DLOR_ACT_TANH); break;
        case DLOR_ACT_SOFTPLUS: RT_ACT_LOOP(DLOR_ACT_SOFTPLUS); break;
        case DLOR_ACT_GELU_ERF:
#if RT_F32 && defined(RT_VECTOR_HOST)
#ifdef RT_WIDE_TILE
            if (RT_WIDE_TILE_OK()) {
                RT_(gelu_run_wide)(u + f0, v + f0, f1 - f0);
                break;
            }
#endif
            RT_(gelu_run)(u + f0, v + f0, f1 - f0);
#else
            RT_ACT_LOOP(DLOR_ACT_GELU_ERF);
#endif
            break;
        case DLOR_ACT_GELU_TANH: RT_ACT_LOOP(DLOR_ACT_GELU_TANH); break;
        case DLOR_ACT_SILU: RT_ACT_LOOP(DLOR_ACT_SILU); break;
        default:
            if (v != u) memmove(v + f0, u + f0, (f1 - f0) * sizeof(T));
            break;
        }
#undef RT_ACT_LOOP
    }
}

/* y = softmax(x) over the n features of each row (in place when y == x). */
static void RT_(softmax_row)(const T *x, T *v, uint64_t n)
{
    T mx = x[0], s = 0;
    for (uint64_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (uint64_t i = 0; i < n; i++) {
        v[i] = RT_EXP(x[i] - mx);
        s += v[i];
    }
    for (uint64_t i = 0; i < n; i++) v[i] /= s;
}

#ifndef DLOR_RT_NO_NORMS
/* y = (x - mean) inv, times w and plus b when given, one loop per case (a
 * test per element kept the loop scalar). */
DLOR_RT_KERNEL static void RT_(norm_apply)(const T *x, T *y, uint64_t n, T mean, T inv, const T *w, const T *b)
{
    uint64_t i;
    if (w && b)
        for (i = 0; i < n; i++) y[i] = (x[i] - mean) * inv * w[i] + b[i];
    else if (w)
        for (i = 0; i < n; i++) y[i] = (x[i] - mean) * inv * w[i];
    else if (b)
        for (i = 0; i < n; i++) y[i] = (x[i] - mean) * inv + b[i];
    else
        for (i = 0; i < n; i++) y[i] = (x[i] - mean) * inv;
}

/* LayerNorm (mode 0), RMSNorm (1) or L2 normalisation (2) of one row of n, with
 * optional scale w and bias b. */
static void RT_(norm_row)(int mode, const T *x, T *y, uint64_t n, T eps, const T *w, const T *b)
{
    T mean = 0, inv;
    if (mode == 0) {
        mean = RT_(sum)(x, n) / RT_U2T(n);
        inv = (T)1 / RT_SQRT(RT_(sumsq)(x, mean, n) / RT_U2T(n) + eps);
    } else if (mode == 1) {
        inv = (T)1 / RT_SQRT(RT_(sumsq)(x, 0, n) / RT_U2T(n) + eps);
    } else {
        T nrm = RT_SQRT(RT_(sumsq)(x, 0, n));
        inv = (T)1 / (nrm > eps ? nrm : eps);
    }
    RT_(norm_apply)(x, y, n, mean, inv, w, b);
}

#endif

#ifndef DLOR_RT_NO_ATTENTION
/* ---- attention ------------------------------------------------------------------ */

#ifdef RT_VECTOR_HOST
/* Features [f, dv) of mix (the ones past its blocks of 16), one by one. */
static void RT_(mix_rest)(const T *p, size_t S, const T *v, uint64_t W, uint64_t f, uint64_t dv, const void *mask,
                          int mask_dtype, size_t seq0, T *y, uint64_t ldy)
{
    for (; f < dv; f++)
        for (int s = 0; s < RT_QB; s++) {
            T a = 0;
            for (size_t t = 0; t < S; t++)
                if (!mask || id_at(mask, mask_dtype, seq0 + t) != 0) a += p[s * S + t] * v[t * W + f];
            y[s * ldy + f] = a;
        }
}

/* y_s = sum over the keys t that are seen of p[s S + t] v_t, for the RT_QB
 * queries s of a block at once (each load of v_t serves them all), every
 * element added in t's order as axpy would: the same bits as a call of axpy
 * per query and key. */
DLOR_RT_KERNEL static void RT_(mix)(const T *p, size_t S, const T *v, uint64_t W, uint64_t dv, const void *mask,
                                    int mask_dtype, size_t seq0, T *y, uint64_t ldy)
{
    uint64_t f = 0;
#if RT_QB != 4
#error "mix takes four queries"
#endif
    for (; f + 16 <= dv; f += 16) {
        T a0[16] = {0}, a1[16] = {0}, a2[16] = {0}, a3[16] = {0};
        for (size_t t = 0; t < S; t++) {
            if (mask && id_at(mask, mask_dtype, seq0 + t) == 0) continue;
            const T *vt = v + t * W + f;
            T c0 = p[t], c1 = p[S + t], c2 = p[2 * S + t], c3 = p[3 * S + t];
            for (int l = 0; l < 16; l++) {
                T x = vt[l];
                a0[l] += c0 * x;
                a1[l] += c1 * x;
                a2[l] += c2 * x;
                a3[l] += c3 * x;
            }
        }
        memcpy(y + f, a0, sizeof a0);
        memcpy(y + ldy + f, a1, sizeof a1);
        memcpy(y + 2 * ldy + f, a2, sizeof a2);
        memcpy(y + 3 * ldy + f, a3, sizeof a3);
    }
    RT_(mix_rest)(p, S, v, W, f, dv, mask, mask_dtype, seq0, y, ldy);
}

#if RT_F32 && defined(RT_WIDE_TILE)
/* mix for processors with 32 vector registers of 16 floats (see tile_wide):
 * the four queries' 16 lanes in one register each (the arrays of mix stay on
 * the stack in its AVX2 version, a load and a store per addition). */
RT_WIDE_TILE static void RT_(mix_wide)(const T *p, size_t S, const T *v, uint64_t W, uint64_t dv, const void *mask,
                                       int mask_dtype, size_t seq0, T *y, uint64_t ldy)
{
    uint64_t f = 0;
    for (; f + 16 <= dv; f += 16) {
        dlor__v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (size_t t = 0; t < S; t++) {
            if (mask && id_at(mask, mask_dtype, seq0 + t) == 0) continue;
            dlor__v16 x = *(const dlor__v16u *)(const void *)(v + t * W + f);
            a0 += p[t] * x;
            a1 += p[S + t] * x;
            a2 += p[2 * S + t] * x;
            a3 += p[3 * S + t] * x;
        }
        *(dlor__v16u *)(void *)(y + f) = a0;
        *(dlor__v16u *)(void *)(y + ldy + f) = a1;
        *(dlor__v16u *)(void *)(y + 2 * ldy + f) = a2;
        *(dlor__v16u *)(void *)(y + 3 * ldy + f) = a3;
    }
    RT_(mix_rest)(p, S, v, W, f, dv, mask, mask_dtype, seq0, y, ldy);
}
#endif

/* Queries q_0 .. q_{RT_QB-1} (rows W apart) of a head without rotary embedding
 * or causal mask: their scores against every key through gemm (each one dot's,
 * as the query-by-query loop of attend computes it), the softmax of each row
 * over the keys seen, then mix. p: RT_QB x S scratch. */
static void RT_(attend_block)(const T *q, const T *k, const T *v, T *out, uint64_t W, size_t S, uint64_t d,
                              uint64_t dv, const void *mask, int mask_dtype, size_t seq0, T scale, T *p)
{
    RT_(gemm)(k, W, S, q, W, d, RT_QB, p, S);
    /* the softmax of each row, its steps taken for the RT_QB rows side by side
     * (each row's maximum and sum a chain of their own: four chains to overlap,
     * and one look at the mask per key) */
    T mx[RT_QB] = {0}, sum[RT_QB] = {0};
    int any = 0;
    for (size_t t = 0; t < S; t++) {
        if (mask && id_at(mask, mask_dtype, seq0 + t) == 0) {
            for (int s = 0; s < RT_QB; s++) p[s * S + t] = 0;
            continue;
        }
        for (int s = 0; s < RT_QB; s++) {
            T c = scale * p[s * S + t];
            p[s * S + t] = c;
            if (!any || c > mx[s]) mx[s] = c;
        }
        any = 1;
    }
    if (!any) { /* no key to see: zero */
        for (int r = 0; r < RT_QB; r++) memset(out + r * W, 0, dv * sizeof(T));
        return;
    }
    for (int s = 0; s < RT_QB; s++) {
        T *ps = p + s * S;
#if RT_F32 && defined(RT_VECTOR_HOST) /* every key's, then the ones not seen put back to 0 */
#ifdef RT_WIDE_TILE
        if (RT_WIDE_TILE_OK()) RT_(exp_run_wide)(ps, mx[s], S);
        else
#endif
            RT_(exp_run)(ps, mx[s], S);
#else
        for (size_t t = 0; t < S; t++)
            if (!mask || id_at(mask, mask_dtype, seq0 + t) != 0) ps[t] = RT_EXP(ps[t] - mx[s]);
#endif
    }
    for (size_t t = 0; t < S; t++) {
        if (mask && id_at(mask, mask_dtype, seq0 + t) == 0) {
            for (int s = 0; s < RT_QB; s++) p[s * S + t] = 0;
            continue;
        }
        for (int s = 0; s < RT_QB; s++) sum[s] += p[s * S + t];
    }
    for (int s = 0; s < RT_QB; s++)
        for (size_t t = 0; t < S; t++) p[s * S + t] = p[s * S + t] / sum[s];
#if RT_F32 && defined(RT_WIDE_TILE)
    if (RT_WIDE_TILE_OK()) {
        RT_(mix_wide)(p, S, v, W, dv, mask, mask_dtype, seq0, out, W);
        return;
    }
#endif
    RT_(mix)(p, S, v, W, dv, mask, mask_dtype, seq0, out, W);
}
#endif

/* One head h of one sequence: out[s] = sum_t p_st v_t over the keys t that
 * query s may see (mask, causal), p_s = softmax(scale q_s . k_t), q and k
 * rotated (rotary embedding) when theta > 0. tmp: this worker's attention
 * scratch (see layout() in runtime.c), cs already holding the cosines and
 * sines of every position. */
static void RT_(attend)(const dlor_image_node *n, const T *q, const T *k, const T *v, T *out, uint64_t W, size_t S,
                        uint64_t h, const void *mask, int mask_dtype, size_t seq0, T scale, T *tmp, const T *cs)
{
    uint64_t heads = n->heads, d = n->in_features[0] / heads, dv = n->in_features[2] / n->kv_heads;
    uint64_t g = h / (heads / n->kv_heads), half = d / 2;
    int rope = dlor__nonzero_d(n->p1);
    T *sc = tmp, *kr = tmp + att_scores(S), *qr = kr + S * d;
    const T *qh = q + h * d, *kh = k + g * d, *vh = v + g * dv;
    size_t s0 = 0;
#ifdef RT_VECTOR_HOST
    if (!rope && !n->causal) /* RT_QB queries at a time, then the rest one by one */
        for (; s0 + RT_QB <= S; s0 += RT_QB)
            RT_(attend_block)(qh + s0 * W, kh, vh, out + s0 * W + h * dv, W, S, d, dv, mask, mask_dtype, seq0, scale,
                              sc);
#endif
    if (rope) /* the keys of this head's group, rotated by their positions */
        for (size_t t = 0; t < S; t++) {
            const T *x = kh + t * W, *c = cs + t * d, *s = c + half;
            T *o = kr + t * d;
            for (uint64_t i = 0; i < half; i++) {
                o[i] = x[i] * c[i] - x[i + half] * s[i];
                o[i + half] = x[i + half] * c[i] + x[i] * s[i];
            }
        }
    for (size_t s = s0; s < S; s++) {
        const T *qs = qh + s * W;
        T *os = out + s * W + h * dv;
        if (rope) {
            const T *c = cs + s * d, *sn = c + half;
            for (uint64_t i = 0; i < half; i++) {
                qr[i] = qs[i] * c[i] - qs[i + half] * sn[i];
                qr[i + half] = qs[i + half] * c[i] + qs[i] * sn[i];
            }
            qs = qr;
        }
        size_t tend = n->causal ? s + 1 : S;
        T mx = 0;
        int any = 0;
        for (size_t t = 0; t < tend; t++) {
            if (mask && id_at(mask, mask_dtype, seq0 + t) == 0) continue;
            sc[t] = scale * RT_(dot)(qs, rope ? kr + t * d : kh + t * W, d);
            if (!any || sc[t] > mx) mx = sc[t];
            any = 1;
        }
        memset(os, 0, dv * sizeof(T));
        if (!any) continue; /* no key to see: zero */
        T sum = 0;
        for (size_t t = 0; t < tend; t++) {
            if (mask && id_at(mask, mask_dtype, seq0 + t) == 0) continue;
            sc[t] = RT_EXP(sc[t] - mx);
            sum += sc[t];
        }
        for (size_t t = 0; t < tend; t++) {
            if (mask && id_at(mask, mask_dtype, seq0 + t) == 0) continue;
            RT_(axpy)(sc[t] / sum, vh + t * W, os, dv);
        }
    }
}

#endif

/* ---- the pass --------------------------------------------------------------------- */

/* Where value i starts (row 0) in the values' part of the scratch. */
#define VAL(i) (vals + P[i])

static int RT_(pass)(const dlor_model *m, const dlor_run *r, void *scratch, const size_t part[DLOR_RT_PARTS],
                     const dlor_team *t, dlor_image_error *err)
{
    const dlor_image *img = &m->img;
    const uint64_t *P = plan_of(m), W = m->width;
    T *vals = (T *)scratch, *z = vals + part[0];
    T *widen = z + part[1] + (size_t)t->id * (part[2] / t->size);
#ifndef DLOR_RT_NO_ATTENTION
    T *att = z + part[1] + part[2] + (size_t)t->id * (part[3] / t->size);
#endif
    /* the quantized activations' part (DLOR_RT_QUANT_ACTS: float32 only) */
    unsigned char *qa = RT_F32 && part[4] ? (unsigned char *)(void *)(z + part[1] + part[2] + part[3] +
                                                                      (size_t)t->id * (part[4] / t->size))
                                          : NULL;
    const size_t N = r->batch, S = r->seq, R = N * S;
#ifndef DLOR_RT_NO_TOKENS
    const void *src[5] = {NULL, NULL, r->ids, r->mask, r->type_ids};
#endif
    /* Syncs: 'since' steps have run since the last one, all writing in the split
     * share(split, 16) of features (split UINT64_MAX: some other split). An
     * elementwise step in that same split that writes over the value the step
     * before made needs none: each worker reads only columns it wrote itself, and
     * writes a place nobody reads yet (a linear step reads every column of its
     * input, so writing over an older value would race with it). Any other step
     * after any work waits for every worker: a place it writes may still be read. */
    uint64_t since = 0, split = 0, f0, f1;
    uint32_t nout = 0;
    dlor_image_walk wk;
    dlor_image_node n;
    dlor_image_walk_init(&wk);
    for (uint32_t i = 0; dlor_image_walk_next(img, &wk, &n); i++) {
        size_t rows = n.type == V_TOKENS ? R : N;
        T *y = vals + P[i];
        const T *x = n.in[0] != DLOR_IMAGE_NONE && (n.in_type[0] == V_ROWS || n.in_type[0] == V_TOKENS) ? VAL(n.in[0])
                                                                                                        : NULL;
        /* over the value the step before made (nothing has read it yet) */
        int in_place = 0;
        for (int k = 0; k < 4; k++)
            if (i > 0 && n.in[k] == i - 1 && (n.in_type[k] == V_ROWS || n.in_type[k] == V_TOKENS) && P[i - 1] == P[i])
                in_place = 1;
        switch (n.kind) {
        case K_INPUT:
            if (n.code != M_FEATURES) continue; /* ids are read where they are */
            if (since) team_sync(t);
            share(t, n.features, 16, &f0, &f1);
            for (size_t b = 0; b < N; b++)
                memcpy(y + b * W + f0, (const T *)r->x + b * n.features + f0, (f1 - f0) * sizeof(T));
            since = 1;
            split = n.features;
            break;
        case K_OUTPUT: {
            size_t orows = n.in_type[0] == V_TOKENS ? R : N;
            if (nout == r->ny || !r->y[nout]) { /* an output not asked for */
                nout++;
                continue;
            }
            T *o = (T *)r->y[nout++];
            if (since && split != n.features) {
                team_sync(t);
                since = 0;
            }
            share(t, n.features, 16, &f0, &f1);
            for (size_t b = 0; b < orows; b++)
                memcpy(o + b * n.features + f0, x + b * W + f0, (f1 - f0) * sizeof(T));
            if (!since) split = n.features;
            since++;
            break;
        }
        case K_LINEAR: {
            if (since) team_sync(t);
            if (r->observe && r->observe(r->observe_ctx, m, &n, x, rows, W) != 0)
                return dlor__image_fail(err, DLOR_RT_E_STOPPED, "the pass was stopped at node %u", (unsigned)i);
            share(t, n.features, 16, &f0, &f1);
            since = 1;
            split = n.features;
            if (n.is_layer) {
                dlor_image_layer L;
                dlor_image_layer_at(img, n.weight, &L);
                RT_(dlor_layer)(m, &L, x, y, rows, W, z, widen, qa, t);
                /* it ends with a sync; the bias is added after it */
                if (L.method == DLOR_IMAGE_MUL && n.bias == DLOR_IMAGE_NO_TENSOR) since = 0;
            } else {
                dlor_image_tensor w;
                dlor_image_tensor_at(img, n.weight, &w);
                RT_(dense_layer)(&w, x, y, rows, W, f0, f1, widen, qa);
            }
            if (n.bias != DLOR_IMAGE_NO_TENSOR && f1 > f0) {
                dlor_image_tensor bt;
                dlor_image_tensor_at(img, n.bias, &bt);
                const T *bias = RT_(as)(&bt, f0, f1 - f0, widen);
                for (size_t b = 0; b < rows; b++) RT_(axpy)((T)1, bias, y + b * W + f0, f1 - f0);
            }
            break;
        }
        case K_ACT:
        case K_SCALE:
        case K_ADD:
        case K_MUL: {
            if (since && !(in_place && split == n.features)) {
                team_sync(t);
                since = 0;
            }
            share(t, n.features, 16, &f0, &f1);
            if (n.kind == K_ACT) {
                RT_(act_rows)(x, y, rows, W, f0, f1, n.code, RT_D2T(n.p0));
            } else if (n.kind == K_SCALE) {
                T s = RT_D2T(n.p0);
                const T *bias = NULL;
                if (n.bias != DLOR_IMAGE_NO_TENSOR && f1 > f0) {
                    dlor_image_tensor bt;
                    dlor_image_tensor_at(img, n.bias, &bt);
                    bias = RT_(as)(&bt, f0, f1 - f0, widen);
                }
                for (size_t b = 0; b < rows; b++) {
                    const T *u = x + b * W + f0;
                    T *v = y + b * W + f0;
                    if (bias)
                        for (uint64_t f = 0; f < f1 - f0; f++) v[f] = s * u[f] + bias[f];
                    else
                        for (uint64_t f = 0; f < f1 - f0; f++) v[f] = s * u[f];
                }
            } else {
                const T *x2 = VAL(n.in[1]);
                for (size_t b = 0; b < rows; b++) {
                    const T *u = x + b * W, *u2 = x2 + b * W;
                    T *v = y + b * W;
                    RT_(add_mul)(n.kind == K_ADD, u + f0, u2 + f0, v + f0, f1 - f0);
                }
            }
            if (!since) split = n.features;
            since++;
            break;
        }
        case K_SOFTMAX:
#ifndef DLOR_RT_NO_NORMS
        case K_LAYERNORM:
        case K_RMSNORM:
        case K_L2NORM:
#endif
        { /* whole rows */
            if (since) team_sync(t);
            share(t, rows, 1, &f0, &f1);
#ifdef DLOR_RT_NO_NORMS
            for (uint64_t q = f0; q < f1; q++) RT_(softmax_row)(x + q * W, y + q * W, n.features);
#else
            const T *w = NULL, *b = NULL;
            if (n.weight != DLOR_IMAGE_NO_TENSOR && f1 > f0) {
                dlor_image_tensor wt;
                dlor_image_tensor_at(img, n.weight, &wt);
                w = RT_(as)(&wt, 0, n.features, widen);
            }
            if (n.bias != DLOR_IMAGE_NO_TENSOR && f1 > f0) {
                dlor_image_tensor bt;
                dlor_image_tensor_at(img, n.bias, &bt);
                b = RT_(as)(&bt, 0, n.features, widen + n.features);
            }
            for (uint64_t q = f0; q < f1; q++) {
                if (n.kind == K_SOFTMAX) RT_(softmax_row)(x + q * W, y + q * W, n.features);
                else RT_(norm_row)(n.kind == K_LAYERNORM ? 0 : n.kind == K_RMSNORM ? 1 : 2, x + q * W, y + q * W,
                                   n.features, RT_D2T(n.p0), w, b);
            }
#endif
            since = 1;
            split = UINT64_MAX;
            break;
        }
#ifndef DLOR_RT_NO_TOKENS
        case K_EMBED:
        case K_POS_EMBED: {
            dlor_image_tensor tt;
            int mode = n.in[0] == img->input_of[M_IDS] ? M_IDS : n.in[0] == img->input_of[M_MASK] ? M_MASK : M_TYPE_IDS;
            if (since) team_sync(t);
            dlor_image_tensor_at(img, n.weight, &tt);
            share(t, n.features, 16, &f0, &f1);
            for (size_t q = 0; q < R && f1 > f0; q++) {
                uint64_t row = n.kind == K_POS_EMBED ? q % S : src[mode] ? (uint64_t)id_at(src[mode], r->ids_dtype, q) : 0;
                const T *e = RT_(as)(&tt, row * n.features + f0, f1 - f0, widen);
                memcpy(y + q * W + f0, e, (f1 - f0) * sizeof(T));
            }
            since = 1;
            split = n.features;
            break;
        }
        case K_POOL: {
            const void *mask = n.in[1] != DLOR_IMAGE_NONE ? r->mask : NULL;
            if (since) team_sync(t);
            share(t, n.features, 16, &f0, &f1);
            for (size_t b = 0; b < N && f1 > f0; b++) {
                T *v = y + b * W;
                const T *u = x + b * S * W;
                if (n.code == P_CLS) {
                    memcpy(v + f0, u + f0, (f1 - f0) * sizeof(T));
                    continue;
                }
                uint64_t count = 0;
                memset(v + f0, 0, (f1 - f0) * sizeof(T));
                for (size_t s = 0; s < S; s++) {
                    if (mask && id_at(mask, r->ids_dtype, b * S + s) == 0) continue;
                    for (uint64_t f = f0; f < f1; f++) v[f] += u[s * W + f];
                    count++;
                }
                if (count)
                    for (uint64_t f = f0; f < f1; f++) v[f] /= RT_U2T(count);
            }
            since = 1;
            split = n.features;
            break;
        }
#endif
#ifndef DLOR_RT_NO_ATTENTION
        case K_ATTENTION: {
            uint64_t u0, u1, d = n.in_features[0] / n.heads, half = d / 2;
            const void *mask = n.in[3] != DLOR_IMAGE_NONE ? r->mask : NULL;
            T scale = dlor__nonzero_d(n.p0) ? RT_D2T(n.p0) : (T)1 / RT_SQRT(RT_U2T(d));
            int rope = dlor__nonzero_d(n.p1);
            T *cs = rope ? att + att_scores(S) + S * d + d : NULL; /* after the scores, keys and query */
            if (since) team_sync(t);
            share(t, (uint64_t)N * n.heads, 1, &u0, &u1);
            if (rope && u1 > u0) /* cos and sin of position s times theta^(-2i/d) */
                for (uint64_t j = 0; j < half; j++) {
                    T inv = RT_POWM(RT_D2T(n.p1), RT_U2T(2 * j) / RT_U2T(d));
                    for (size_t s = 0; s < S; s++) RT_SINCOS(RT_U2T(s) * inv, &cs[s * d + half + j], &cs[s * d + j]);
                }
            for (uint64_t u = u0; u < u1; u++) {
                size_t b = (size_t)(u / n.heads);
                RT_(attend)(&n, VAL(n.in[0]) + b * S * W, VAL(n.in[1]) + b * S * W, VAL(n.in[2]) + b * S * W,
                            y + b * S * W, W, S, u % n.heads, mask, r->ids_dtype, b * S, scale, att, cs);
            }
            since = 1;
            split = UINT64_MAX;
            break;
        }
#endif
        default:
            break;
        }
    }
    return 0;
}

#undef VAL
#undef T
