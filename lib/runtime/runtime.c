/* runtime.c - the forward pass of a .dlor graph, float32, caller-provided scratch.
 *
 * Activations live in two ping-pong buffers of batch x width floats (one
 * sample per row, row stride 'width'). A mul layer works in place on its D
 * padded features: for each factor l, z = V_l^T x, then x = alpha x + U_l z,
 * applied to every sample of the batch before moving to the next factor so
 * the factor stays in cache. A BRANCH group (format 1.3) keeps its input and
 * the weighted sum of its branches in two more buffers of batch x width. The
 * double-precision forward pass at the end mirrors this one. */
#include "dlor_runtime.h"

#include <math.h>
#include <string.h>

#include "dlor_image_internal.h"
#include "dlor_mathf.h"

#ifdef DLOR_RUNTIME_BLAS
#include <cblas.h>
#endif

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* A count as a float, from 32-bit halves: a 64-bit conversion is a libgcc
 * routine in software even where the FPU converts 32-bit integers. */
static float u64_to_f32(uint64_t v)
{
    return (float)(uint32_t)(v >> 32) * 4294967296.0f + (float)(uint32_t)v;
}

static float load_f32(const unsigned char *p)
{
    uint32_t b = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* An f16 as float: normal numbers here, with a shift and an add of the
 * exponent bias difference (112 << 23); the rest by dlor__half_to_float. */
static float f16_f32(const unsigned char *p)
{
    uint32_t h = (uint32_t)p[0] | ((uint32_t)p[1] << 8), e = h & 0x7c00u, b;
    if (e == 0 || e == 0x7c00u) return dlor__half_to_float((uint16_t)h);
    b = ((h & 0x8000u) << 16) | (((h & 0x7fffu) << 13) + 0x38000000u);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* n elements of a float tensor starting at element 'first', converted to
 * float32 into buf (one loop per dtype: a switch per element cost a Cortex-M4F
 * half of an f16 model's instructions). */
static void convert_f32(const dlor_image_tensor *t, uint64_t first, uint64_t n, float *buf)
{
    const unsigned char *p = t->data + first * dlor_image_dtype_size(t->dtype);
    uint64_t i;
    switch (t->dtype) {
    case 1:
        for (i = 0; i < n; i++) buf[i] = load_f32(p + 4 * i);
        break;
    case 2:
        for (i = 0; i < n; i++) buf[i] = f16_f32(p + 2 * i);
        break;
    case 3:
        for (i = 0; i < n; i++) {
            uint32_t b = ((uint32_t)p[2 * i] << 16) | ((uint32_t)p[2 * i + 1] << 24);
            memcpy(&buf[i], &b, 4);
        }
        break;
    default:
        for (i = 0; i < n; i++) {
            uint64_t b = 0;
            double d;
            for (int k = 7; k >= 0; k--) b = (b << 8) | p[8 * i + (unsigned)k];
            memcpy(&d, &b, 8);
            buf[i] = dlor__double_to_float(d);
        }
    }
}

static int in_place_f32(const dlor_image_tensor *t, uint64_t first)
{
    return t->dtype == 1 && ((uintptr_t)(t->data + 4 * first) & 3u) == 0;
}

/* The same, used in place when the data is f32 and 4-byte aligned. */
static const float *as_f32(const dlor_image_tensor *t, uint64_t first, uint64_t n, float *buf)
{
    if (in_place_f32(t, first)) return (const float *)(const void *)(t->data + 4 * first);
    convert_f32(t, first, n, buf);
    return buf;
}

/* Rows [r0, r0 + nr) and columns [c0, c0 + nc) of a 2-D float tensor as float32
 * with row stride *ld: in place when possible, else converted into buf (nr * nc
 * floats). */
static const float *rows_f32(const dlor_image_tensor *t, uint64_t r0, uint64_t nr, uint64_t c0, uint64_t nc,
                             float *buf, uint64_t *ld)
{
    uint64_t cols = t->dims[1];
    if (in_place_f32(t, r0 * cols + c0)) {
        *ld = cols;
        return (const float *)(const void *)(t->data + 4 * (r0 * cols + c0));
    }
    for (uint64_t q = 0; q < nr; q++) convert_f32(t, (r0 + q) * cols + c0, nc, buf + q * nc);
    *ld = nc;
    return buf;
}

/* Rows of V^T or of U per sgemm call when a BLAS build runs a batch through a
 * DLoR layer; 0 keeps the layer on the portable kernels. mul layers stay there:
 * their per-factor sgemm calls (batch x r x D, then batch x D x r) took 20-45%
 * longer at batch 64, rank 64-256, on the machine of BENCHMARKS.md. */
static uint64_t gemm_rows(const dlor_image_layer *L) { return L->method == DLOR_IMAGE_MUL ? 0 : max_u64(L->rank, 4); }

/* The same for the updates y += U z, which sgemm can take only from U stored in
 * rows: copying panels into rows before each call made a batch of 64 through a
 * p = 0.1 model 1.4 times and through an add model 1.7 times slower than the
 * kernels (N = 1024, one thread, machine of BENCHMARKS.md), so with panels the
 * updates stay on the kernels and only the products go through sgemm. */
static uint64_t gemm_rows_u(const dlor_image_layer *L)
{
    return L->u_layout == DLOR_IMAGE_U_PANELS ? 0 : gemm_rows(L);
}

/* Whether the float32 pass converts tensor i into the widening buffer (see
 * in_place_f32: float32 data is used where it lies when the image is 4-byte
 * aligned; every tensor is 64-byte aligned relative to the image). */
static int widens(const dlor_image *img, uint32_t i)
{
    dlor_image_tensor t;
    dlor_image_tensor_at(img, i, &t);
    return t.dtype != 1 || ((uintptr_t)img->base & 3u) != 0;
}

int dlor_model_open(dlor_model *m, const void *image, size_t len, unsigned flags, dlor_image_error *err)
{
    dlor_model r;
    memset(&r, 0, sizeof r);
    int rc = dlor_image_open(&r.img, image, len, flags, err);
    if (rc != 0) return rc;
    if (r.img.nops == 0) {
        uint32_t n = 0;
        const char *why = dlor_image_meta_get(&r.img, "dlor.graph_missing", &n);
        if (why)
            return dlor__image_fail(err, DLOR_RT_E_NOGRAPH, "the model has no graph to run: %.*s",
                           (int)(n > 180 ? 180 : n), why);
        return dlor__image_fail(err, DLOR_RT_E_NOGRAPH, "the model has no graph to run (it was converted from tensors only)");
    }
    r.in_dim = r.img.in_dim;
    r.out_dim = r.img.out_dim;
    r.width = r.in_dim;
    r.gwidth = r.img.group_width;
    /* The widening buffer per worker, in elements: a bias (op.out; a MERGE bias,
     * gwidth), four weight rows of a dense layer, and for a DLoR layer four rows
     * of V^T or of U, or four of U's panel blocks (16 x rank each) in float32;
     * with BLAS at batch > 1 a chunk of gemm_rows rows of V^T or of U (widen_batch);
     * in double, a whole factor's U and V (widen_f64). The float32 pass converts
     * only what is not float32 in place, so a model whose tensors all are (the
     * image 4-byte aligned) needs none: 32 KB less scratch for an exact mul
     * layer of 128 features, on a device where RAM is the scarce part. */
    uint64_t common = 0, common_f64 = r.gwidth;
    for (uint32_t i = 0; i < r.img.nops; i++) {
        dlor_image_op op;
        dlor_image_op_at(&r.img, i, &op);
        if (op.kind == DLOR_IMAGE_OP_MERGE && op.bias != DLOR_IMAGE_NO_TENSOR && widens(&r.img, op.bias))
            common = max_u64(common, r.gwidth);
        if (op.kind != DLOR_IMAGE_OP_LINEAR) continue;
        r.width = max_u64(r.width, max_u64(op.in, op.out));
        if (op.bias != DLOR_IMAGE_NO_TENSOR) {
            common_f64 = max_u64(common_f64, op.out);
            if (widens(&r.img, op.bias)) common = max_u64(common, op.out);
        }
        if (op.is_layer) {
            dlor_image_layer L;
            dlor_image_layer_at(&r.img, op.weight, &L);
            uint64_t rk = max_u64(L.rank, 4), du_dv = max_u64(L.dim_u, L.dim_v);
            r.width = max_u64(r.width, du_dv);
            r.zmax = max_u64(r.zmax, L.k); /* an add layer's products for all its factors at once */
            if (widens(&r.img, L.u_tensor)) { /* U and V have one dtype */
                r.widen = max_u64(r.widen, max_u64(4 * du_dv, 4 * DLOR_IMAGE_PANEL * rk));
#ifdef DLOR_RUNTIME_BLAS
                r.widen_batch = max_u64(r.widen_batch, gemm_rows(&L) * du_dv);
#endif
            }
            r.widen_f64 = max_u64(r.widen_f64, rk * (L.dim_u + L.dim_v));
        } else {
            common_f64 = max_u64(common_f64, 4 * op.in); /* four weight rows at a time */
            if (widens(&r.img, op.weight)) common = max_u64(common, 4 * op.in);
        }
    }
    r.widen = max_u64(r.widen, common);
    r.widen_f64 = max_u64(r.widen_f64, common_f64);
    *m = r;
    return 0;
}

uint64_t dlor_model_input_dim(const dlor_model *m) { return m->in_dim; }
uint64_t dlor_model_output_dim(const dlor_model *m) { return m->out_dim; }

/* A BRANCH that closes a branch, or a MERGE, adds that branch's output times its
 * weight: as many multiply-accumulates as the branch gives features, the output
 * of its last LINEAR (every branch has one). The first BRANCH of a group opens
 * it and adds nothing. */
static uint64_t branch_macs(const dlor_model *m, uint32_t i)
{
    uint64_t out = 0;
    for (uint32_t j = i; j-- > 0;) {
        dlor_image_op op;
        dlor_image_op_at(&m->img, j, &op);
        if (op.kind == DLOR_IMAGE_OP_LINEAR && out == 0) out = op.out;
        if (op.kind == DLOR_IMAGE_OP_BRANCH) return out;
        if (op.kind == DLOR_IMAGE_OP_MERGE) return 0;
    }
    return 0;
}

int dlor_model_op_cost(const dlor_model *m, uint32_t i, uint64_t *macs, uint64_t *bytes)
{
    dlor_image_op op;
    dlor_image_tensor t;
    if (dlor_image_op_at(&m->img, i, &op) != 0) return -1;
    *macs = *bytes = 0;
    if ((op.kind == DLOR_IMAGE_OP_LINEAR || op.kind == DLOR_IMAGE_OP_MERGE) && op.bias != DLOR_IMAGE_NO_TENSOR &&
        dlor_image_tensor_at(&m->img, op.bias, &t) == 0)
        *bytes += t.nbytes;
    if (op.kind == DLOR_IMAGE_OP_BRANCH || op.kind == DLOR_IMAGE_OP_MERGE) {
        *macs = branch_macs(m, i);
    } else if (op.kind == DLOR_IMAGE_OP_LINEAR && op.is_layer) {
        dlor_image_layer L;
        dlor_image_tensor u, v;
        dlor_image_layer_at(&m->img, op.weight, &L);
        dlor_image_tensor_at(&m->img, L.u_tensor, &u);
        dlor_image_tensor_at(&m->img, L.v_tensor, &v);
        *bytes += u.nbytes + v.nbytes;
        /* the products V^T x and the updates U z, one per stored element, and the
         * diagonal: alpha x once per mul factor, L alpha x once for add */
        *macs = L.k * (L.dim_u + L.dim_v) +
                (L.method == DLOR_IMAGE_MUL ? L.factors * L.dim_u : (L.rows < L.cols ? L.rows : L.cols));
    } else if (op.kind == DLOR_IMAGE_OP_LINEAR) {
        dlor_image_tensor_at(&m->img, op.weight, &t);
        *bytes += t.nbytes;
        *macs = op.in * op.out;
    }
    return 0;
}

uint64_t dlor_model_macs(const dlor_model *m)
{
    uint64_t total = 0, macs, bytes;
    for (uint32_t i = 0; i < m->img.nops; i++)
        if (dlor_model_op_cost(m, i, &macs, &bytes) == 0) total += macs;
    return total;
}

/* Scratch layout in elements of 'esize' bytes (each part rounded up to 16
 * elements, a multiple of 64 bytes): two activation buffers of batch*width,
 * the factor products batch*zmax, a widening buffer for each worker of a team,
 * and with BRANCH groups the group's saved input and its sum (batch*width
 * each; none otherwise). */
#define DLOR_RT_PARTS 6
static uint64_t round16(uint64_t n) { return (n + 15) / 16 * 16; }

static int layout(const dlor_model *m, size_t batch, unsigned workers, size_t esize, size_t part[DLOR_RT_PARTS],
                  size_t *total)
{
    uint64_t n[DLOR_RT_PARTS];
    uint64_t widen = esize == sizeof(double) ? m->widen_f64 : batch > 1 ? max_u64(m->widen, m->widen_batch) : m->widen;
    if (batch == 0 || workers == 0 || m->width > (uint64_t)SIZE_MAX / esize / batch) return -1;
    n[0] = n[1] = (uint64_t)batch * m->width;
    if (m->zmax > (uint64_t)SIZE_MAX / esize / batch) return -1;
    n[2] = (uint64_t)batch * m->zmax;
    if (round16(widen) > (uint64_t)SIZE_MAX / esize / workers) return -1;
    n[3] = round16(widen) * workers;
    n[4] = n[5] = m->gwidth ? (uint64_t)batch * m->width : 0;
    uint64_t sum = 0;
    for (int i = 0; i < DLOR_RT_PARTS; i++) {
        uint64_t a = round16(n[i]);
        if (a > ((uint64_t)SIZE_MAX / esize - sum)) return -1;
        part[i] = (size_t)a;
        sum += a;
    }
    *total = (size_t)sum * esize;
    return 0;
}

size_t dlor_model_scratch_size_team(const dlor_model *m, size_t batch, unsigned workers)
{
    size_t part[DLOR_RT_PARTS], total;
    return layout(m, batch, workers, sizeof(float), part, &total) == 0 ? total : 0;
}

size_t dlor_model_scratch_size(const dlor_model *m, size_t batch) { return dlor_model_scratch_size_team(m, batch, 1); }

/* Each activation has its own loop (a switch per element kept the compiler from
 * vectorising relu: a pass of a small compressed model spent ~10% of its time
 * there). Non-finite values come out as in PyTorch and ONNX Runtime: relu is
 * 'x < 0 ? 0 : x', so NaN (unordered: the comparison is false) stays NaN and
 * -0 stays -0, for the same compare and mask per 4 or 8 floats that
 * 'x > 0 ? x : 0' (which turned NaN into 0) took; the other formulas give NaN
 * for NaN and those libraries' values at +-inf (sigmoid(-inf) = 0,
 * gelu(-inf) = silu(-inf) = NaN), and softmax over a sample holding NaN or +inf
 * is NaN throughout (inf - inf), as there. The transcendental functions are
 * dlor_mathf.h's, not libm's, so that a microcontroller's C library gives the
 * host's bits, and no double arithmetic. */
static void act_apply(float *x, size_t batch, uint64_t stride, uint64_t n, int act, float param)
{
    for (size_t b = 0; b < batch; b++) {
        float *v = x + b * stride;
        uint64_t i;
        switch (act) {
        case 1:
            for (i = 0; i < n; i++) v[i] = v[i] < 0.0f ? 0.0f : v[i];
            break;
        case 2:
            for (i = 0; i < n; i++) v[i] = v[i] >= 0.0f ? v[i] : param * v[i];
            break;
        case 3:
            for (i = 0; i < n; i++) v[i] = dlor__sigmoidf(v[i]);
            break;
        case 4:
            for (i = 0; i < n; i++) v[i] = dlor__tanhf(v[i]);
            break;
        case 5:
            for (i = 0; i < n; i++) v[i] = dlor__softplusf(v[i]);
            break;
        case 6:
            for (i = 0; i < n; i++) v[i] = dlor__geluf(v[i]);
            break;
        case 7:
            for (i = 0; i < n; i++) v[i] = dlor__gelu_tanhf(v[i]);
            break;
        case 8:
            for (i = 0; i < n; i++) v[i] = dlor__siluf(v[i]);
            break;
        default: break;
        }
    }
}

static void softmax_apply(float *x, size_t batch, uint64_t stride, uint64_t n)
{
    for (size_t b = 0; b < batch; b++) {
        float *v = x + b * stride, mx = v[0], s = 0.0f;
        for (uint64_t i = 1; i < n; i++) mx = v[i] > mx ? v[i] : mx;
        for (uint64_t i = 0; i < n; i++) {
            v[i] = dlor__expf(v[i] - mx);
            s += v[i];
        }
        for (uint64_t i = 0; i < n; i++) v[i] /= s;
    }
}

/* The kernels everything reduces to. dot keeps 16 independent partial sums
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
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* GCC leaves it off in ISO C modes and warns about the pragma */
#endif
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(DLOR_RUNTIME_NO_CLONES)
#define DLOR_RT_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define DLOR_RT_KERNEL
#endif

DLOR_RT_KERNEL static float dot(const float *a, const float *b, uint64_t n)
{
    float s[16] = {0};
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) s[l] += a[i + l] * b[i + l];
    float t = 0.0f;
    for (; i < n; i++) t += a[i] * b[i];
    for (int w = 8; w >= 1; w /= 2)
        for (int l = 0; l < w; l++) s[l] += s[l + w];
    return s[0] + t;
}

/* out[q] = dot(a + q lda, x, n) for q = 0..3. */
DLOR_RT_KERNEL static void dot4(const float *a, uint64_t lda, const float *x, uint64_t n, float *out)
{
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
    float s0[16] = {0}, s1[16] = {0}, s2[16] = {0}, s3[16] = {0};
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) {
            float xv = x[i + l];
            s0[l] += a0[i + l] * xv;
            s1[l] += a1[i + l] * xv;
            s2[l] += a2[i + l] * xv;
            s3[l] += a3[i + l] * xv;
        }
    float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
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

DLOR_RT_KERNEL static void axpy(float a, const float *x, float *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* y = s y + z[0] u0 + z[1] u1 + z[2] u2 + z[3] u3, added left to right. s = 1
 * leaves y's term exact. */
DLOR_RT_KERNEL static void axpy4(float s, const float *z, const float *u0, const float *u1, const float *u2,
                                 const float *u3, float *restrict y, uint64_t n)
{
    float z0 = z[0], z1 = z[1], z2 = z[2], z3 = z[3];
    for (uint64_t i = 0; i < n; i++) y[i] = (((s * y[i] + z0 * u0[i]) + z1 * u1[i]) + z2 * u2[i]) + z3 * u3[i];
}

/* The update for a factor in panels (DLOR_FORMAT.md 7.6): y_k[0, 16) = s y_k +
 * sum_j z[j] p_k[16 j, 16 j + 16), j = 0 .. r - 1 in order, for four blocks of
 * 16 columns k, each block a run of r x 16 floats: four runs of memory read
 * side by side, each front to back (taking a run's rows in update's band order
 * instead, which would give the bits of the row layout, made the pass 2-3 times
 * slower on the machine of BENCHMARKS.md: the prefetcher follows a run only
 * while it is read in order). So the two layouts round differently (both
 * within the runtime's error bound; test_runtime checks them against each other). */
DLOR_RT_KERNEL static void panel4(float s, const float *z, uint64_t r, const float *p0, const float *p1,
                                  const float *p2, const float *p3, float *y0, float *y1, float *y2, float *y3)
{
    float a0[16], a1[16], a2[16], a3[16];
    for (int i = 0; i < 16; i++) {
        a0[i] = s * y0[i];
        a1[i] = s * y1[i];
        a2[i] = s * y2[i];
        a3[i] = s * y3[i];
    }
    for (uint64_t j = 0; j < r; j++) {
        float zj = z[j];
        const float *q0 = p0 + 16 * j, *q1 = p1 + 16 * j, *q2 = p2 + 16 * j, *q3 = p3 + 16 * j;
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

/* The same for one block of w <= 16 columns (a run of r x w floats). */
DLOR_RT_KERNEL static void panel1(float s, const float *z, uint64_t r, const float *p, uint64_t w, float *y)
{
    float a[16];
    for (uint64_t i = 0; i < w; i++) a[i] = s * y[i];
    for (uint64_t j = 0; j < r; j++) {
        float zj = z[j];
        for (uint64_t i = 0; i < w; i++) a[i] += zj * p[w * j + i];
    }
    for (uint64_t i = 0; i < w; i++) y[i] = a[i];
}

/* out[b * ostride + q] = row r0 + q of t (features [c0, c0 + n)) . sample b of x,
 * for q < nr. The rows go through dot4 as four bands of consecutive rows read
 * side by side (rows q, q + nr/4, q + nr/2, q + 3nr/4): in place, four long runs
 * of memory for the hardware prefetcher instead of four rows of a few KB each
 * starting over (20-30% faster at N = 1024-2048 on the machine of
 * BENCHMARKS.md); the rows left over go through dot. Each row's dot product is
 * dot's, so the bits do not depend on the banding. */
static void band_dots(const dlor_image_tensor *t, uint64_t r0, uint64_t nr, uint64_t c0, const float *x,
                      uint64_t xstride, uint64_t n, size_t batch, float *out, uint64_t ostride, float *widen)
{
    uint64_t band = nr / 4, cols = t->dims[1], ld;
    int direct = in_place_f32(t, 0); /* rows used where they lie (no call per row) */
    for (uint64_t q = 0; q < band; q++) {
        const float *a = widen;
        uint64_t lda = n;
        if (direct) {
            a = (const float *)(const void *)t->data + (r0 + q) * cols + c0;
            lda = band * cols;
        } else {
            for (uint64_t k = 0; k < 4; k++) rows_f32(t, r0 + q + k * band, 1, c0, n, widen + k * n, &ld);
        }
        for (size_t b = 0; b < batch; b++) {
            float r4[4], *ob = out + b * ostride + q;
            dot4(a, lda, x + b * xstride, n, r4);
            for (uint64_t k = 0; k < 4; k++) ob[k * band] = r4[k];
        }
    }
    for (uint64_t q = 4 * band; q < nr; q++) {
        const float *a = rows_f32(t, r0 + q, 1, c0, n, widen, &ld);
        for (size_t b = 0; b < batch; b++) out[b * ostride + q] = dot(a, x + b * xstride, n);
    }
}

/* ---- teams -----------------------------------------------------------------
 * Every step of the forward pass is split among the workers of a team by
 * output rows (features, or the rows of V^T for the factor products), and the
 * workers meet at team->sync between steps that read what others wrote. Each
 * output element is computed by exactly one worker with the same operations in
 * the same order as alone, so a team's result has the bits of a single call. */
static const dlor_team solo = {0, 1, NULL, NULL};

static void team_sync(const dlor_team *t)
{
    if (t->size > 1) t->sync(t->ctx);
}

/* This worker's share [lo, hi) of n items, in chunks that are multiples of grain
 * (16 floats: whole 64-byte lines of the output when rows are aligned). */
static void share(const dlor_team *t, uint64_t n, uint64_t grain, uint64_t *lo, uint64_t *hi)
{
    uint64_t c = (n + t->size - 1) / t->size;
    c = (c + grain - 1) / grain * grain;
    uint64_t a = c * t->id;
    *lo = a < n ? a : n;
    *hi = c < n - *lo ? *lo + c : n;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Dense y = W x for every sample, the worker's rows [o0, o1) of W = [out, in]. */
static void dense_layer(const dlor_image_tensor *w, const float *in, float *out, size_t batch, uint64_t stride,
                        uint64_t o0, uint64_t o1, float *widen)
{
    uint64_t nin = w->dims[1];
#ifdef DLOR_RUNTIME_BLAS
    if (batch > 1 && in_place_f32(w, o0 * nin)) {
        if (o1 > o0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)(o1 - o0), (int)nin, 1.0f, in,
                        (int)stride, (const float *)(const void *)(w->data + 4 * o0 * nin), (int)nin, 0.0f, out + o0,
                        (int)stride);
        return;
    }
#endif
    band_dots(w, o0, o1 - o0, 0, in, stride, nin, batch, out + o0, stride, widen);
}

/* z[b * zs + q] = V^T row q . sample b, for the worker's rows [q0, q1) (V^T rows
 * taken from row j0 of the tensor). In a BLAS build a batch goes through sgemm
 * 'chunk' rows at a time; chunk 0 keeps it on the kernels above. */
static void products(const dlor_image_tensor *vt, uint64_t j0, uint64_t q0, uint64_t q1, const float *x,
                     uint64_t stride, size_t batch, float *z, uint64_t zs, uint64_t chunk, float *widen)
{
    uint64_t dv = vt->dims[1];
#ifdef DLOR_RUNTIME_BLAS
    if (batch > 1 && chunk) {
        for (uint64_t q = q0; q < q1; q += chunk) {
            uint64_t nr = min_u64(chunk, q1 - q), ld;
            const float *V = rows_f32(vt, j0 + q, nr, 0, dv, widen, &ld);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)nr, (int)dv, 1.0f, x, (int)stride, V,
                        (int)ld, 0.0f, z + q, (int)zs);
        }
        return;
    }
#else
    (void)chunk;
#endif
    band_dots(vt, j0 + q0, q1 - q0, 0, x, stride, dv, batch, z + q0, zs, widen);
}

/* Rows of a factor's panels the update takes at a time (see update). */
#define PANEL_ROWS 64

/* Columns [i0, i1) of y = s y + U z for every sample, for the factor whose r
 * rows start at row j0 of the U tensor (stored in panels when 'panels'; then
 * i0 is a multiple of 16, as share(.., 16) gives), z[b * zs + q]. s scales y
 * before the first row is added. chunk: as for products (gemm_rows_u: never
 * for U in panels). */
static void update(const dlor_image_tensor *ut, int panels, uint64_t j0, uint64_t r, float s, const float *z,
                   uint64_t zs, float *y, uint64_t stride, size_t batch, uint64_t i0, uint64_t i1, uint64_t chunk,
                   float *widen)
{
    uint64_t ld, nc = i1 - i0;
    if (nc == 0) return;
#ifdef DLOR_RUNTIME_BLAS
    if (batch > 1 && chunk) {
        if (s != 1.0f)
            for (size_t b = 0; b < batch; b++)
                for (uint64_t i = i0; i < i1; i++) y[b * stride + i] *= s;
        for (uint64_t q = 0; q < r; q += chunk) {
            uint64_t nr = min_u64(chunk, r - q);
            const float *U = rows_f32(ut, j0 + q, nr, i0, nc, widen, &ld);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)batch, (int)nc, (int)nr, 1.0f, z + q, (int)zs,
                        U, (int)ld, 1.0f, y + i0, (int)stride);
        }
        return;
    }
#else
    (void)chunk;
#endif
    if (panels) {
        /* blocks [b0, b1) of 16 columns; the full ones four at a time, from four
         * places a quarter of the worker's share apart */
        uint64_t dim = ut->dims[1], b0 = i0 / DLOR_IMAGE_PANEL, b1 = (i1 + DLOR_IMAGE_PANEL - 1) / DLOR_IMAGE_PANEL;
        uint64_t full = b1 - b0 - (i1 % DLOR_IMAGE_PANEL != 0), Q = full / 4, run = r * DLOR_IMAGE_PANEL;
        int direct = in_place_f32(ut, 0);
        for (uint64_t q = 0; q < Q; q++) {
            const float *p[4];
            for (uint64_t k = 0; k < 4; k++) {
                uint64_t first = dlor_image_panel_index(j0, r, dim, 0, (b0 + q + k * Q) * DLOR_IMAGE_PANEL);
                p[k] = direct ? (const float *)(const void *)ut->data + first : as_f32(ut, first, run, widen + k * run);
            }
            /* rows [j, j + PANEL_ROWS) of the four runs for every sample, then the
             * next rows: the 16 KB stay in L1 while a batch goes through them
             * (the whole runs, 64 KB at rank 256, did not: a batch of 64 ran 20%
             * slower than at rank 64). Same bits: panel4 with s = 1 starts from y
             * exactly, and y holds the sum so far. */
            for (uint64_t j = 0; j < r; j += PANEL_ROWS) {
                uint64_t nj = min_u64(PANEL_ROWS, r - j), o16 = DLOR_IMAGE_PANEL * j;
                for (size_t b = 0; b < batch; b++) {
                    float *yb = y + b * stride + (b0 + q) * DLOR_IMAGE_PANEL, *o = yb + Q * DLOR_IMAGE_PANEL;
                    panel4(j == 0 ? s : 1.0f, z + b * zs + j, nj, p[0] + o16, p[1] + o16, p[2] + o16, p[3] + o16, yb,
                           o, o + Q * DLOR_IMAGE_PANEL, o + 2 * Q * DLOR_IMAGE_PANEL);
                }
            }
        }
        for (uint64_t blk = b0 + 4 * Q; blk < b1; blk++) {
            uint64_t c = blk * DLOR_IMAGE_PANEL, w = min_u64(DLOR_IMAGE_PANEL, dim - c);
            uint64_t first = dlor_image_panel_index(j0, r, dim, 0, c);
            const float *p = as_f32(ut, first, r * w, widen);
            for (size_t b = 0; b < batch; b++) panel1(s, z + b * zs, r, p, w, y + b * stride + c);
        }
        return;
    }
    /* rows t, t + band, t + 2 band, t + 3 band together (four long runs of memory
     * when the factor is used in place, as in band_dots), t = 0 .. band - 1, then
     * the remainder rows in order; every worker and every dtype in this order */
    uint64_t band = r / 4;
    for (uint64_t t = 0; t < band; t++) {
        const float *u[4];
        for (uint64_t k = 0; k < 4; k++) u[k] = rows_f32(ut, j0 + t + k * band, 1, i0, nc, widen + k * nc, &ld);
        for (size_t b = 0; b < batch; b++) {
            const float *zb = z + b * zs + t;
            float z4[4] = {zb[0], zb[band], zb[2 * band], zb[3 * band]};
            axpy4(t == 0 ? s : 1.0f, z4, u[0], u[1], u[2], u[3], y + b * stride + i0, nc);
        }
    }
    for (uint64_t q = 4 * band; q < r; q++) {
        const float *u = rows_f32(ut, j0 + q, 1, i0, nc, widen, &ld);
        for (size_t b = 0; b < batch; b++) {
            float *yb = y + b * stride + i0;
            if (q == 0 && s != 1.0f) /* y scaled (rounded) first, as axpy4 does in its first term */
                for (uint64_t i = 0; i < nc; i++) yb[i] *= s;
            axpy(z[b * zs + q], u, yb, nc);
        }
    }
}

/* A DLoR layer: in (cols features per sample) -> out (rows features). Ends with
 * the worker's rows of the output written: share(rows, 16) for add layers; a mul
 * layer ends with a sync (its last step is split over D, not rows). */
static void dlor_layer(const dlor_model *m, const dlor_image_layer *L, const float *in, float *out, size_t batch,
                       uint64_t stride, float *z, float *widen, const dlor_team *t)
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
        float a = dlor__double_to_float(L->alpha);
        share(t, D, 16, &i0, &i1);
        uint64_t c = i1 < L->cols ? i1 : (i0 < L->cols ? L->cols : i0); /* [i0, c) copied, [c, i1) zero */
        for (size_t b = 0; b < batch; b++) {
            memcpy(out + b * stride + i0, in + b * stride + i0, (c - i0) * sizeof(float));
            memset(out + b * stride + c, 0, (i1 - c) * sizeof(float));
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
            products(&vt, j0, q0, q1, out, stride, batch, z, r, chunk, widen);
            team_sync(t);
            update(&ut, panels, j0, r, a, z, r, out, stride, batch, i0, i1, uchunk, widen);
            team_sync(t);
        }
        return;
    }
    /* add: y = L a I_{m x n} x + sum_l U_l (V_l^T x), all factors' products at
     * once, then each factor's update */
    uint64_t kdiag = L->rows < L->cols ? L->rows : L->cols, k = L->k;
    float la = u64_to_f32(L->factors) * dlor__double_to_float(L->alpha);
    share(t, k, 1, &q0, &q1);
    products(&vt, 0, q0, q1, in, stride, batch, z, k, chunk, widen);
    team_sync(t);
    share(t, L->rows, 16, &i0, &i1);
    uint64_t c = i1 < kdiag ? i1 : (i0 < kdiag ? kdiag : i0); /* [i0, c) on the diagonal, [c, i1) zero */
    for (size_t b = 0; b < batch; b++) {
        float *ob = out + b * stride;
        const float *ib = in + b * stride;
        for (uint64_t i = i0; i < c; i++) ob[i] = la * ib[i];
        memset(ob + c, 0, (i1 - c) * sizeof(float));
    }
    for (uint64_t l = 0; l < L->factors; l++) {
        uint64_t j0 = l * L->rank;
        update(&ut, panels, j0, min_u64(L->rank, k - j0), 1.0f, z + j0, k, out, stride, batch, i0, i1, uchunk, widen);
    }
}

/* Features [f0, f1) of every sample: y += a x. */
static void axpy_rows(float a, const float *x, float *y, size_t batch, uint64_t stride, uint64_t f0, uint64_t f1)
{
    for (size_t b = 0; b < batch; b++) axpy(a, x + b * stride + f0, y + b * stride + f0, f1 - f0);
}

static void copy_rows(float *dst, const float *src, size_t batch, uint64_t stride, uint64_t f0, uint64_t f1)
{
    for (size_t b = 0; b < batch; b++) memcpy(dst + b * stride + f0, src + b * stride + f0, (f1 - f0) * sizeof(float));
}

int dlor_model_forward_team(const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                            size_t scratch_size, const dlor_team *t, dlor_image_error *err)
{
    size_t part[DLOR_RT_PARTS], total;
    if (!x || !y || (batch && !scratch) || !t) return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "null input, output or scratch");
    if (t->size == 0 || t->id >= t->size || (t->size > 1 && !t->sync))
        return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "worker %u of a team of %u (with%s a sync function)", t->id,
                                t->size, t->sync ? "" : "out");
    if (batch == 0) return 0;
    if (layout(m, batch, t->size, sizeof(float), part, &total) != 0)
        return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "batch of %zu is too large for this model", batch);
    if (scratch_size < total)
        return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "scratch of %zu bytes is too small: batch %zu needs %zu",
                                scratch_size, batch, total);
    if (((uintptr_t)scratch & 3u) != 0) return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "scratch is not 4-byte aligned");
    float *buf[2], *z, *widen, *saved, *acc;
    buf[0] = (float *)scratch;
    buf[1] = buf[0] + part[0];
    z = buf[1] + part[1];
    widen = z + part[2] + (size_t)t->id * (part[3] / t->size);
    saved = z + part[2] + part[3];
    acc = saved + part[4];
    uint64_t W = m->width, cur_n = m->in_dim, gin = 0, f0, f1;
    /* 'owned': the current activations were written by the workers' share(owned, 16)
     * of their features and no sync has followed; 0 after a sync; UINT64_MAX when
     * written in another split (softmax, by samples). An elementwise step over the same
     * features needs no sync. */
    uint64_t owned;
    int cur = 0, in_group = 0;
    float gscale = 0.0f;
    share(t, m->in_dim, 16, &f0, &f1);
    for (size_t b = 0; b < batch; b++)
        memcpy(buf[0] + b * W + f0, x + b * m->in_dim + f0, (f1 - f0) * sizeof(float));
    owned = m->in_dim;
    for (uint32_t i = 0; i < m->img.nops; i++) {
        dlor_image_op op;
        dlor_image_op_at(&m->img, i, &op);
        if (op.kind == DLOR_IMAGE_OP_BRANCH || op.kind == DLOR_IMAGE_OP_MERGE) {
            team_sync(t);
            share(t, W, 16, &f0, &f1);
            if (in_group) /* the branch that ends here adds its weighted output */
                axpy_rows(gscale, buf[cur], acc, batch, W, f0, f1 < cur_n ? f1 : (f0 < cur_n ? cur_n : f0));
            if (op.kind == DLOR_IMAGE_OP_BRANCH) {
                if (!in_group) {
                    copy_rows(saved, buf[cur], batch, W, f0, f1);
                    for (size_t b = 0; b < batch; b++) memset(acc + b * W + f0, 0, (f1 - f0) * sizeof(float));
                    gin = cur_n;
                    in_group = 1;
                } else {
                    copy_rows(buf[cur], saved, batch, W, f0, f1);
                }
                cur_n = gin;
                gscale = dlor__double_to_float(op.param);
            } else {
                copy_rows(buf[cur], acc, batch, W, f0, f1);
                if (op.bias != DLOR_IMAGE_NO_TENSOR && f0 < cur_n) {
                    dlor_image_tensor bt;
                    dlor_image_tensor_at(&m->img, op.bias, &bt);
                    uint64_t e = f1 < cur_n ? f1 : cur_n;
                    const float *bias = as_f32(&bt, f0, e - f0, widen);
                    for (size_t b = 0; b < batch; b++) axpy(1.0f, bias, buf[cur] + b * W + f0, e - f0);
                }
                in_group = 0;
            }
            team_sync(t);
            owned = 0;
            continue;
        }
        if (op.kind == DLOR_IMAGE_OP_ACT || op.kind == DLOR_IMAGE_OP_SOFTMAX) {
            uint64_t n0, n1;
            int soft = op.kind == DLOR_IMAGE_OP_SOFTMAX;
            if (owned != 0 && (soft || owned != cur_n)) team_sync(t);
            if (soft) { /* whole samples */
                share(t, batch, 1, &n0, &n1);
                softmax_apply(buf[cur] + n0 * W, (size_t)(n1 - n0), W, cur_n);
                owned = UINT64_MAX;
            } else {
                share(t, cur_n, 16, &n0, &n1);
                for (size_t b = 0; b < batch; b++)
                    act_apply(buf[cur] + b * W + n0, 1, W, n1 - n0, op.act, dlor__double_to_float(op.param));
                owned = cur_n;
            }
            continue;
        }
        if (owned != 0) team_sync(t);
        float *in = buf[cur], *out = buf[1 - cur];
        share(t, op.out, 16, &f0, &f1);
        if (op.is_layer) {
            dlor_image_layer L;
            dlor_image_layer_at(&m->img, op.weight, &L);
            dlor_layer(m, &L, in, out, batch, W, z, widen, t);
        } else {
            dlor_image_tensor w;
            dlor_image_tensor_at(&m->img, op.weight, &w);
            dense_layer(&w, in, out, batch, W, f0, f1, widen);
        }
        if (op.bias != DLOR_IMAGE_NO_TENSOR && f1 > f0) {
            dlor_image_tensor bt;
            dlor_image_tensor_at(&m->img, op.bias, &bt);
            const float *bias = as_f32(&bt, f0, f1 - f0, widen);
            for (size_t b = 0; b < batch; b++) axpy(1.0f, bias, out + b * W + f0, f1 - f0);
        }
        owned = op.out;
        cur = 1 - cur;
        cur_n = op.out;
    }
    if (owned != 0 && owned != m->out_dim) team_sync(t);
    share(t, m->out_dim, 16, &f0, &f1);
    for (size_t b = 0; b < batch; b++)
        memcpy(y + b * m->out_dim + f0, buf[cur] + b * W + f0, (f1 - f0) * sizeof(float));
    return 0;
}

int dlor_model_forward(const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                       size_t scratch_size, dlor_image_error *err)
{
    return dlor_model_forward_team(m, x, batch, y, scratch, scratch_size, &solo, err);
}

/* ---- double precision ------------------------------------------------------
 * The same graph walk with double activations and arithmetic. Factors of any
 * float dtype are widened to double one factor (or one weight row) at a time;
 * f64 data that is 8-byte aligned is used in place. */

static double load_f64(const unsigned char *p)
{
    uint64_t b = 0;
    double d;
    for (int k = 7; k >= 0; k--) b = (b << 8) | p[(unsigned)k];
    memcpy(&d, &b, 8);
    return d;
}

static const double *as_f64(const dlor_image_tensor *t, uint64_t first, uint64_t n, double *buf)
{
    const unsigned char *p = t->data + first * dlor_image_dtype_size(t->dtype);
    if (t->dtype == 4 && ((uintptr_t)p & 7u) == 0) return (const double *)(const void *)p;
    for (uint64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case 1: buf[i] = (double)load_f32(p + 4 * i); break;
        case 2: buf[i] = (double)dlor__half_to_float((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8))); break;
        case 3: {
            uint32_t b = ((uint32_t)p[2 * i] << 16) | ((uint32_t)p[2 * i + 1] << 24);
            float f;
            memcpy(&f, &b, 4);
            buf[i] = (double)f;
            break;
        }
        default: buf[i] = load_f64(p + 8 * i);
        }
    }
    return buf;
}

/* The r rows of U^T from row j0 (one factor) as double, row after row, whatever
 * the layout: in place when they can be, else into buf (r x columns). */
static const double *u_rows_f64(const dlor_image_layer *L, const dlor_image_tensor *ut, uint64_t j0, uint64_t r,
                                double *buf)
{
    uint64_t dim = ut->dims[1];
    if (L->u_layout != DLOR_IMAGE_U_PANELS) return as_f64(ut, j0 * dim, r * dim, buf);
    for (uint64_t j = 0; j < r; j++)
        for (uint64_t c = 0; c < dim; c += DLOR_IMAGE_PANEL) {
            uint64_t w = min_u64(DLOR_IMAGE_PANEL, dim - c);
            const double *p = as_f64(ut, dlor_image_panel_index(j0, r, dim, j, c), w, buf + j * dim + c);
            if (p != buf + j * dim + c) memcpy(buf + j * dim + c, p, w * sizeof *p);
        }
    return buf;
}

static double dot_d(const double *a, const double *b, uint64_t n)
{
    double s = 0.0;
    for (uint64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_d(double a, const double *x, double *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void act_apply_d(double *x, size_t batch, uint64_t stride, uint64_t n, int act, double param)
{
    for (size_t b = 0; b < batch; b++) {
        double *v = x + b * stride;
        for (uint64_t i = 0; i < n; i++) {
            double t = v[i];
            switch (act) {
            case 1: v[i] = t < 0.0 ? 0.0 : t; break; /* NaN stays NaN (see act_apply) */
            case 2: v[i] = t >= 0.0 ? t : param * t; break;
            case 3: v[i] = 1.0 / (1.0 + exp(-t)); break;
            case 4: v[i] = tanh(t); break;
            case 5: v[i] = (t > 0.0 ? t : 0.0) + log1p(exp(-fabs(t))); break;
            case 6: v[i] = 0.5 * t * (1.0 + erf(t * 0.70710678118654752)); break;
            case 7: v[i] = 0.5 * t * (1.0 + tanh(0.79788456080286536 * (t + 0.044715 * t * t * t))); break;
            case 8: v[i] = t / (1.0 + exp(-t)); break;
            default: break;
            }
        }
    }
}

static void softmax_apply_d(double *x, size_t batch, uint64_t stride, uint64_t n)
{
    for (size_t b = 0; b < batch; b++) {
        double *v = x + b * stride, mx = v[0], s = 0.0;
        for (uint64_t i = 1; i < n; i++) mx = v[i] > mx ? v[i] : mx;
        for (uint64_t i = 0; i < n; i++) {
            v[i] = exp(v[i] - mx);
            s += v[i];
        }
        for (uint64_t i = 0; i < n; i++) v[i] /= s;
    }
}

static void dense_layer_d(const dlor_image_tensor *w, const double *in, double *out, size_t batch, uint64_t stride,
                          double *widen)
{
    uint64_t nin = w->dims[1], nout = w->dims[0];
    for (uint64_t o = 0; o < nout; o++) {
        const double *row = as_f64(w, o * nin, nin, widen);
        for (size_t b = 0; b < batch; b++) out[b * stride + o] = dot_d(row, in + b * stride, nin);
    }
}

static void dlor_layer_d(const dlor_model *m, const dlor_image_layer *L, const double *in, double *out, size_t batch,
                         uint64_t stride, double *z, double *widen)
{
    dlor_image_tensor ut, vt;
    dlor_image_tensor_at(&m->img, L->u_tensor, &ut);
    dlor_image_tensor_at(&m->img, L->v_tensor, &vt);
    double a = L->alpha;
    if (L->method == DLOR_IMAGE_MUL) {
        uint64_t D = L->dim_u;
        for (size_t b = 0; b < batch; b++) {
            memcpy(out + b * stride, in + b * stride, L->cols * sizeof(double));
            memset(out + b * stride + L->cols, 0, (D - L->cols) * sizeof(double));
        }
        for (uint64_t l = 0; l < L->factors; l++) {
            uint64_t j0 = l * L->rank, r = min_u64(L->rank, L->k - j0);
            const double *V = as_f64(&vt, j0 * D, r * D, widen);
            const double *U = u_rows_f64(L, &ut, j0, r, widen + r * D);
            for (size_t b = 0; b < batch; b++) {
                double *xb = out + b * stride, *zb = z + b * r;
                for (uint64_t j = 0; j < r; j++) zb[j] = dot_d(V + j * D, xb, D);
                for (uint64_t i = 0; i < D; i++) xb[i] *= a;
                for (uint64_t j = 0; j < r; j++) axpy_d(zb[j], U + j * D, xb, D);
            }
        }
        return;
    }
    uint64_t kdiag = L->rows < L->cols ? L->rows : L->cols, du = ut.dims[1], dv = vt.dims[1];
    double la = (double)L->factors * L->alpha;
    for (size_t b = 0; b < batch; b++) {
        double *ob = out + b * stride;
        const double *ib = in + b * stride;
        for (uint64_t i = 0; i < L->rows; i++) ob[i] = i < kdiag ? la * ib[i] : 0.0;
    }
    for (uint64_t l = 0; l < L->factors; l++) {
        uint64_t j0 = l * L->rank, r = min_u64(L->rank, L->k - j0);
        const double *V = as_f64(&vt, j0 * dv, r * dv, widen);
        const double *U = u_rows_f64(L, &ut, j0, r, widen + r * dv);
        for (size_t b = 0; b < batch; b++) {
            const double *xb = in + b * stride;
            double *zb = z + b * r, *ab = out + b * stride;
            for (uint64_t j = 0; j < r; j++) zb[j] = dot_d(V + j * dv, xb, dv);
            for (uint64_t j = 0; j < r; j++) axpy_d(zb[j], U + j * du, ab, du);
        }
    }
}

size_t dlor_model_scratch_size_f64(const dlor_model *m, size_t batch)
{
    size_t part[DLOR_RT_PARTS], total;
    return layout(m, batch, 1, sizeof(double), part, &total) == 0 ? total : 0;
}

int dlor_model_forward_f64(const dlor_model *m, const double *x, size_t batch, double *y, void *scratch,
                           size_t scratch_size, dlor_image_error *err)
{
    size_t part[DLOR_RT_PARTS], total;
    if (!x || !y || (batch && !scratch)) return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "null input, output or scratch");
    if (batch == 0) return 0;
    if (layout(m, batch, 1, sizeof(double), part, &total) != 0)
        return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "batch of %zu is too large for this model", batch);
    if (scratch_size < total)
        return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "scratch of %zu bytes is too small: batch %zu needs %zu",
                                scratch_size, batch, total);
    if (((uintptr_t)scratch & 7u) != 0) return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "scratch is not 8-byte aligned");
    double *buf[2], *z, *widen, *saved, *acc;
    buf[0] = (double *)scratch;
    buf[1] = buf[0] + part[0];
    z = buf[1] + part[1];
    widen = z + part[2];
    saved = widen + part[3];
    acc = saved + part[4];
    uint64_t W = m->width, cur_n = m->in_dim, gin = 0;
    int cur = 0, in_group = 0;
    double gscale = 0.0;
    for (size_t b = 0; b < batch; b++) memcpy(buf[0] + b * W, x + b * m->in_dim, m->in_dim * sizeof(double));
    for (uint32_t i = 0; i < m->img.nops; i++) {
        dlor_image_op op;
        dlor_image_op_at(&m->img, i, &op);
        if (op.kind == DLOR_IMAGE_OP_BRANCH || op.kind == DLOR_IMAGE_OP_MERGE) {
            if (in_group)
                for (size_t b = 0; b < batch; b++) axpy_d(gscale, buf[cur] + b * W, acc + b * W, cur_n);
            if (op.kind == DLOR_IMAGE_OP_BRANCH) {
                if (!in_group) {
                    memcpy(saved, buf[cur], batch * W * sizeof(double));
                    memset(acc, 0, batch * W * sizeof(double));
                    gin = cur_n;
                    in_group = 1;
                } else {
                    memcpy(buf[cur], saved, batch * W * sizeof(double));
                }
                cur_n = gin;
                gscale = op.param;
                continue;
            }
            memcpy(buf[cur], acc, batch * W * sizeof(double));
            if (op.bias != DLOR_IMAGE_NO_TENSOR) {
                dlor_image_tensor bt;
                dlor_image_tensor_at(&m->img, op.bias, &bt);
                const double *bias = as_f64(&bt, 0, cur_n, widen);
                for (size_t b = 0; b < batch; b++) axpy_d(1.0, bias, buf[cur] + b * W, cur_n);
            }
            in_group = 0;
            continue;
        }
        if (op.kind == DLOR_IMAGE_OP_ACT) {
            act_apply_d(buf[cur], batch, W, cur_n, op.act, op.param);
            continue;
        }
        if (op.kind == DLOR_IMAGE_OP_SOFTMAX) {
            softmax_apply_d(buf[cur], batch, W, cur_n);
            continue;
        }
        double *in = buf[cur], *out = buf[1 - cur];
        if (op.is_layer) {
            dlor_image_layer L;
            dlor_image_layer_at(&m->img, op.weight, &L);
            dlor_layer_d(m, &L, in, out, batch, W, z, widen);
        } else {
            dlor_image_tensor w;
            dlor_image_tensor_at(&m->img, op.weight, &w);
            dense_layer_d(&w, in, out, batch, W, widen);
        }
        if (op.bias != DLOR_IMAGE_NO_TENSOR) {
            dlor_image_tensor bt;
            dlor_image_tensor_at(&m->img, op.bias, &bt);
            const double *bias = as_f64(&bt, 0, op.out, widen);
            for (size_t b = 0; b < batch; b++) axpy_d(1.0, bias, out + b * W, op.out);
        }
        cur = 1 - cur;
        cur_n = op.out;
    }
    for (size_t b = 0; b < batch; b++) memcpy(y + b * m->out_dim, buf[cur] + b * W, m->out_dim * sizeof(double));
    return 0;
}
