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

#ifdef DLOR_RUNTIME_BLAS
#include <cblas.h>
#endif

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static float load_f32(const unsigned char *p)
{
    uint32_t b = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* n elements of a float tensor starting at element 'first', as float32. When
 * the data is f32 and 4-byte aligned it is used in place; otherwise it is
 * converted into buf (which holds at least n floats). */
static const float *as_f32(const dlor_image_tensor *t, uint64_t first, uint64_t n, float *buf)
{
    const unsigned char *p = t->data + first * dlor_image_dtype_size(t->dtype);
    if (t->dtype == 1 && ((uintptr_t)p & 3u) == 0) return (const float *)(const void *)p;
    for (uint64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case 1: buf[i] = load_f32(p + 4 * i); break;
        case 2: buf[i] = dlor__half_to_float((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8))); break;
        case 3: {
            uint32_t b = ((uint32_t)p[2 * i] << 16) | ((uint32_t)p[2 * i + 1] << 24);
            memcpy(&buf[i], &b, 4);
            break;
        }
        default: {
            uint64_t b = 0;
            double d;
            for (int k = 7; k >= 0; k--) b = (b << 8) | p[8 * i + (unsigned)k];
            memcpy(&d, &b, 8);
            buf[i] = (float)d;
        }
        }
    }
    return buf;
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
    for (uint32_t i = 0; i < r.img.nops; i++) {
        dlor_image_op op;
        dlor_image_op_at(&r.img, i, &op);
        if (op.kind != DLOR_IMAGE_OP_LINEAR) continue;
        r.width = max_u64(r.width, max_u64(op.in, op.out));
        if (op.bias != DLOR_IMAGE_NO_TENSOR) r.widen = max_u64(r.widen, op.out);
        if (op.is_layer) {
            dlor_image_layer L;
            dlor_image_layer_at(&r.img, op.weight, &L);
            r.width = max_u64(r.width, max_u64(L.dim_u, L.dim_v));
            r.zmax = max_u64(r.zmax, L.rank);
            r.widen = max_u64(r.widen, L.rank * (L.dim_u + L.dim_v));
        } else {
            r.widen = max_u64(r.widen, op.in);
        }
    }
    r.widen = max_u64(r.widen, r.gwidth); /* a MERGE bias is widened there too */
    *m = r;
    return 0;
}

uint64_t dlor_model_input_dim(const dlor_model *m) { return m->in_dim; }
uint64_t dlor_model_output_dim(const dlor_model *m) { return m->out_dim; }

/* Scratch layout in elements of 'esize' bytes (each part rounded up to 16
 * elements, a multiple of 64 bytes): two activation buffers of batch*width,
 * the factor products batch*zmax, the widening buffer, and with BRANCH groups
 * the group's saved input and its sum (batch*width each; none otherwise). */
#define DLOR_RT_PARTS 6
static int layout(const dlor_model *m, size_t batch, size_t esize, size_t part[DLOR_RT_PARTS], size_t *total)
{
    uint64_t n[DLOR_RT_PARTS];
    if (batch == 0 || m->width > (uint64_t)SIZE_MAX / esize / batch) return -1;
    n[0] = n[1] = (uint64_t)batch * m->width;
    if (m->zmax > (uint64_t)SIZE_MAX / esize / batch) return -1;
    n[2] = (uint64_t)batch * m->zmax;
    n[3] = m->widen;
    n[4] = n[5] = m->gwidth ? (uint64_t)batch * m->width : 0;
    uint64_t sum = 0;
    for (int i = 0; i < DLOR_RT_PARTS; i++) {
        uint64_t a = (n[i] + 15) / 16 * 16;
        if (a > ((uint64_t)SIZE_MAX / esize - sum)) return -1;
        part[i] = (size_t)a;
        sum += a;
    }
    *total = (size_t)sum * esize;
    return 0;
}

size_t dlor_model_scratch_size(const dlor_model *m, size_t batch)
{
    size_t part[DLOR_RT_PARTS], total;
    return layout(m, batch, sizeof(float), part, &total) == 0 ? total : 0;
}

static void act_apply(float *x, size_t batch, uint64_t stride, uint64_t n, int act, float param)
{
    for (size_t b = 0; b < batch; b++) {
        float *v = x + b * stride;
        for (uint64_t i = 0; i < n; i++) {
            float t = v[i];
            switch (act) {
            case 1: v[i] = t > 0.0f ? t : 0.0f; break;
            case 2: v[i] = t >= 0.0f ? t : param * t; break;
            case 3: v[i] = 1.0f / (1.0f + expf(-t)); break;
            case 4: v[i] = tanhf(t); break;
            case 5: v[i] = (t > 0.0f ? t : 0.0f) + log1pf(expf(-fabsf(t))); break; /* no overflow */
            case 6: v[i] = 0.5f * t * (1.0f + erff(t * 0.70710678118654752f)); break;
            case 7: v[i] = 0.5f * t * (1.0f + tanhf(0.79788456080286536f * (t + 0.044715f * t * t * t))); break;
            case 8: v[i] = t / (1.0f + expf(-t)); break;
            default: break;
            }
        }
    }
}

static void softmax_apply(float *x, size_t batch, uint64_t stride, uint64_t n)
{
    for (size_t b = 0; b < batch; b++) {
        float *v = x + b * stride, mx = v[0], s = 0.0f;
        for (uint64_t i = 1; i < n; i++) mx = v[i] > mx ? v[i] : mx;
        for (uint64_t i = 0; i < n; i++) {
            v[i] = expf(v[i] - mx);
            s += v[i];
        }
        for (uint64_t i = 0; i < n; i++) v[i] /= s;
    }
}

/* The two kernels everything reduces to. dot keeps 16 independent partial sums
 * (summed pairwise at the end): no loop-carried dependency on one register, and
 * the compiler maps the lanes onto SIMD registers without reassociating anything,
 * so every build (scalar, SSE, AVX) gives the same bits. On x86-64 Linux with
 * GCC or clang each kernel is also compiled for Haswell-class processors (AVX2)
 * and chosen at load time; the build turns off FMA contraction (-ffp-contract=off)
 * to keep those bits identical too. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF /* GCC leaves it off in ISO C modes and warns about the pragma */
#endif
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(DLOR_RUNTIME_NO_CLONES)
#define DLOR_RT_KERNEL __attribute__((target_clones("arch=haswell", "default")))
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

DLOR_RT_KERNEL static void axpy(float a, const float *x, float *y, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* Dense y = W x for every sample; W is [out, in]. */
static void dense_layer(const dlor_image_tensor *w, const float *in, float *out, size_t batch,
                        uint64_t stride, float *widen)
{
    uint64_t nin = w->dims[1], nout = w->dims[0];
#ifdef DLOR_RUNTIME_BLAS
    if (w->dtype == 1 && ((uintptr_t)w->data & 3u) == 0 && batch > 1) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)nout, (int)nin, 1.0f, in,
                    (int)stride, (const float *)(const void *)w->data, (int)nin, 0.0f, out, (int)stride);
        return;
    }
#endif
    for (uint64_t o = 0; o < nout; o++) {
        const float *row = as_f32(w, o * nin, nin, widen);
        for (size_t b = 0; b < batch; b++) out[b * stride + o] = dot(row, in + b * stride, nin);
    }
}

/* One DLoR factor block (rows [j0, j0+r) of the U^T and V^T tensors) applied
 * to every sample: z = V_l^T x (length r), then acc = acc + U_l z. */
static void factor_apply(const dlor_image_tensor *ut, const dlor_image_tensor *vt, uint64_t j0, uint64_t r,
                         const float *x, float *acc, size_t batch, uint64_t stride, float *z, float *widen)
{
    uint64_t du = ut->dims[1], dv = vt->dims[1];
    const float *V = as_f32(vt, j0 * dv, r * dv, widen);
    const float *U = as_f32(ut, j0 * du, r * du, widen + r * dv);
#ifdef DLOR_RUNTIME_BLAS
    if (batch > 1) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)r, (int)dv, 1.0f, x, (int)stride, V,
                    (int)dv, 0.0f, z, (int)r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)batch, (int)du, (int)r, 1.0f, z, (int)r, U,
                    (int)du, 1.0f, acc, (int)stride);
        return;
    }
#endif
    for (size_t b = 0; b < batch; b++) {
        const float *xb = x + b * stride;
        float *zb = z + b * r, *ab = acc + b * stride;
        for (uint64_t j = 0; j < r; j++) zb[j] = dot(V + j * dv, xb, dv);
        for (uint64_t j = 0; j < r; j++) axpy(zb[j], U + j * du, ab, du);
    }
}

/* A DLoR layer: in (n features per sample) -> out (m features per sample). */
static void dlor_layer(const dlor_model *m, const dlor_image_layer *L, const float *in, float *out, size_t batch,
                       uint64_t stride, float *z, float *widen)
{
    dlor_image_tensor ut, vt;
    dlor_image_tensor_at(&m->img, L->u_tensor, &ut);
    dlor_image_tensor_at(&m->img, L->v_tensor, &vt);
    float a = (float)L->alpha;
    if (L->method == DLOR_IMAGE_MUL) {
        /* x~ = [x; 0] in D features, then x~ <- a x~ + U_l (V_l^T x~) for each factor
         * (the padding of Remark 2 is undone by reading the first m features). */
        uint64_t D = L->dim_u;
        for (size_t b = 0; b < batch; b++) {
            memcpy(out + b * stride, in + b * stride, L->cols * sizeof(float));
            memset(out + b * stride + L->cols, 0, (D - L->cols) * sizeof(float));
        }
        for (uint64_t l = 0; l < L->factors; l++) {
            uint64_t j0 = l * L->rank, r = L->k - j0 < L->rank ? L->k - j0 : L->rank;
            const float *V = as_f32(&vt, j0 * D, r * D, widen);
            const float *U = as_f32(&ut, j0 * D, r * D, widen + r * D);
#ifdef DLOR_RUNTIME_BLAS
            if (batch > 1) { /* Z = X V_l (batch x r), X <- a X + Z U_l^T */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)r, (int)D, 1.0f, out,
                            (int)stride, V, (int)D, 0.0f, z, (int)r);
                for (size_t b = 0; b < batch; b++)
                    for (uint64_t i = 0; i < D; i++) out[b * stride + i] *= a;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)batch, (int)D, (int)r, 1.0f, z, (int)r, U,
                            (int)D, 1.0f, out, (int)stride);
                continue;
            }
#endif
            for (size_t b = 0; b < batch; b++) {
                float *xb = out + b * stride, *zb = z + b * r;
                for (uint64_t j = 0; j < r; j++) zb[j] = dot(V + j * D, xb, D);
                for (uint64_t i = 0; i < D; i++) xb[i] *= a;
                for (uint64_t j = 0; j < r; j++) axpy(zb[j], U + j * D, xb, D);
            }
        }
        return;
    }
    /* add: y = L a I_{m x n} x + sum_l U_l (V_l^T x) */
    uint64_t kdiag = L->rows < L->cols ? L->rows : L->cols;
    float la = (float)((double)L->factors * L->alpha);
    for (size_t b = 0; b < batch; b++) {
        float *ob = out + b * stride;
        const float *ib = in + b * stride;
        for (uint64_t i = 0; i < L->rows; i++) ob[i] = i < kdiag ? la * ib[i] : 0.0f;
    }
    for (uint64_t l = 0; l < L->factors; l++) {
        uint64_t j0 = l * L->rank, r = L->k - j0 < L->rank ? L->k - j0 : L->rank;
        factor_apply(&ut, &vt, j0, r, in, out, batch, stride, z, widen);
    }
}

int dlor_model_forward(const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                       size_t scratch_size, dlor_image_error *err)
{
    size_t part[DLOR_RT_PARTS], total;
    if (!x || !y || (batch && !scratch)) return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "null input, output or scratch");
    if (batch == 0) return 0;
    if (layout(m, batch, sizeof(float), part, &total) != 0)
        return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "batch of %zu is too large for this model", batch);
    if (scratch_size < total)
        return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "scratch of %zu bytes is too small: batch %zu needs %zu",
                       scratch_size, batch, total);
    if (((uintptr_t)scratch & 3u) != 0) return dlor__image_fail(err, DLOR_RT_E_SCRATCH, "scratch is not 4-byte aligned");
    float *buf[2], *z, *widen, *saved, *acc;
    buf[0] = (float *)scratch;
    buf[1] = buf[0] + part[0];
    z = buf[1] + part[1];
    widen = z + part[2];
    saved = widen + part[3];
    acc = saved + part[4];
    uint64_t W = m->width, cur_n = m->in_dim, gin = 0;
    int cur = 0, in_group = 0;
    float gscale = 0.0f;
    for (size_t b = 0; b < batch; b++) memcpy(buf[0] + b * W, x + b * m->in_dim, m->in_dim * sizeof(float));
    for (uint32_t i = 0; i < m->img.nops; i++) {
        dlor_image_op op;
        dlor_image_op_at(&m->img, i, &op);
        if (op.kind == DLOR_IMAGE_OP_BRANCH || op.kind == DLOR_IMAGE_OP_MERGE) {
            if (in_group) /* the branch that ends here adds its weighted output */
                for (size_t b = 0; b < batch; b++) axpy(gscale, buf[cur] + b * W, acc + b * W, cur_n);
            if (op.kind == DLOR_IMAGE_OP_BRANCH) {
                if (!in_group) {
                    memcpy(saved, buf[cur], batch * W * sizeof(float));
                    memset(acc, 0, batch * W * sizeof(float));
                    gin = cur_n;
                    in_group = 1;
                } else {
                    memcpy(buf[cur], saved, batch * W * sizeof(float));
                }
                cur_n = gin;
                gscale = (float)op.param;
                continue;
            }
            memcpy(buf[cur], acc, batch * W * sizeof(float));
            if (op.bias != DLOR_IMAGE_NO_TENSOR) {
                dlor_image_tensor bt;
                dlor_image_tensor_at(&m->img, op.bias, &bt);
                const float *bias = as_f32(&bt, 0, cur_n, widen);
                for (size_t b = 0; b < batch; b++) axpy(1.0f, bias, buf[cur] + b * W, cur_n);
            }
            in_group = 0;
            continue;
        }
        if (op.kind == DLOR_IMAGE_OP_ACT) {
            act_apply(buf[cur], batch, W, cur_n, op.act, (float)op.param);
            continue;
        }
        if (op.kind == DLOR_IMAGE_OP_SOFTMAX) {
            softmax_apply(buf[cur], batch, W, cur_n);
            continue;
        }
        float *in = buf[cur], *out = buf[1 - cur];
        if (op.is_layer) {
            dlor_image_layer L;
            dlor_image_layer_at(&m->img, op.weight, &L);
            dlor_layer(m, &L, in, out, batch, W, z, widen);
        } else {
            dlor_image_tensor w;
            dlor_image_tensor_at(&m->img, op.weight, &w);
            dense_layer(&w, in, out, batch, W, widen);
        }
        if (op.bias != DLOR_IMAGE_NO_TENSOR) {
            dlor_image_tensor bt;
            dlor_image_tensor_at(&m->img, op.bias, &bt);
            const float *bias = as_f32(&bt, 0, op.out, widen);
            for (size_t b = 0; b < batch; b++) axpy(1.0f, bias, out + b * W, op.out);
        }
        cur = 1 - cur;
        cur_n = op.out;
    }
    for (size_t b = 0; b < batch; b++) memcpy(y + b * m->out_dim, buf[cur] + b * W, m->out_dim * sizeof(float));
    return 0;
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
            case 1: v[i] = t > 0.0 ? t : 0.0; break;
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
            uint64_t j0 = l * L->rank, r = L->k - j0 < L->rank ? L->k - j0 : L->rank;
            const double *V = as_f64(&vt, j0 * D, r * D, widen);
            const double *U = as_f64(&ut, j0 * D, r * D, widen + r * D);
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
        uint64_t j0 = l * L->rank, r = L->k - j0 < L->rank ? L->k - j0 : L->rank;
        const double *V = as_f64(&vt, j0 * dv, r * dv, widen);
        const double *U = as_f64(&ut, j0 * du, r * du, widen + r * dv);
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
    return layout(m, batch, sizeof(double), part, &total) == 0 ? total : 0;
}

int dlor_model_forward_f64(const dlor_model *m, const double *x, size_t batch, double *y, void *scratch,
                           size_t scratch_size, dlor_image_error *err)
{
    size_t part[DLOR_RT_PARTS], total;
    if (!x || !y || (batch && !scratch)) return dlor__image_fail(err, DLOR_IMAGE_E_ARG, "null input, output or scratch");
    if (batch == 0) return 0;
    if (layout(m, batch, sizeof(double), part, &total) != 0)
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
