/* dlor_image_internal.h - helpers the dependency-free parts share (the image
 * parser, the runtime, and the host's tensor conversions). Not public API. */
#ifndef DLOR_IMAGE_INTERNAL_H
#define DLOR_IMAGE_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "dlor_image.h"
#include "dlor_rt_features.h"

/* Kinds of graph nodes, value types, input and pool modes: the codes of
 * dlor_graph.h, which the dependency-free parts do not include. One definition
 * for the graph check and the runtime, which also share a translation unit in
 * the one-file runtime (scripts/amalgamate_runtime.py). */
enum {
    K_LINEAR = 1, K_ACT = 2, K_SOFTMAX = 3, K_BRANCH = 4, K_MERGE = 5, K_INPUT = 6, K_OUTPUT = 7, K_EMBED = 8,
    K_POS_EMBED = 9, K_ADD = 10, K_MUL = 11, K_SCALE = 12, K_LAYERNORM = 13, K_RMSNORM = 14, K_ATTENTION = 15,
    K_POOL = 16, K_L2NORM = 17, K_MAX = 17
};
enum { V_ROWS = 1, V_TOKENS = 2, V_IDS = 3, V_MASK = 4 };
enum { M_FEATURES = 1, M_IDS = 2, M_MASK = 3, M_TYPE_IDS = 4 };
enum { P_MEAN = 1, P_CLS = 2 };

/* The macro that leaves float dtype dt out of this build (dlor_rt_features.h),
 * or NULL when it is kept (every other dtype is). */
static inline const char *dlor__rt_dtype_left_out(int dt)
{
#ifdef DLOR_RT_NO_F16
    if (dt == 2) return "DLOR_RT_NO_F16";
#endif
#ifdef DLOR_RT_NO_BF16
    if (dt == 3) return "DLOR_RT_NO_BF16";
#endif
#ifdef DLOR_RT_NO_F64
    if (dt == 4) return "DLOR_RT_NO_F64";
#endif
#ifdef DLOR_RT_NO_QUANT
    if (dt == 14 || dt == 15) return "DLOR_RT_NO_QUANT";
#endif
    (void)dt;
    return NULL;
}

/* The same for a graph node of a kind (and input mode or activation code). */
static inline const char *dlor__rt_node_left_out(int kind, int code)
{
#ifdef DLOR_RT_NO_TOKENS
    if (kind == K_EMBED || kind == K_POS_EMBED || kind == K_POOL || (kind == K_INPUT && code != M_FEATURES))
        return "DLOR_RT_NO_TOKENS";
#endif
#ifdef DLOR_RT_NO_ATTENTION
    if (kind == K_ATTENTION) return "DLOR_RT_NO_ATTENTION";
#endif
#ifdef DLOR_RT_NO_NORMS
    if (kind == K_LAYERNORM || kind == K_RMSNORM || kind == K_L2NORM) return "DLOR_RT_NO_NORMS";
#endif
#ifdef DLOR_RT_ACTS
    if (kind == K_ACT && code >= 0 && code <= DLOR_IMAGE_MAX_ACT && !DLOR_RT_HAS_ACT(code)) return "DLOR_RT_ACTS";
#endif
    (void)kind, (void)code;
    return NULL;
}

#ifndef DLOR_RT_NO_MESSAGES
/* Formats one line into err (if non-NULL) without allocating or calling the C
 * library's printf (the conversions it knows are listed in dlor_image.c);
 * returns code. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int dlor__image_fail(dlor_image_error *err, int code, const char *fmt, ...);
#else
/* Built with DLOR_RT_NO_MESSAGES (for the smallest firmware): no format string
 * is compiled in, err gets the code and a fixed text with its number. The
 * arguments are still named in an unevaluated sizeof, so that a variable kept
 * only for a message is not an unused one. */
int dlor__image_error(dlor_image_error *err, int code);
int dlor__image_args(int unused, ...);
#define dlor__image_fail(err, code, ...) \
    (dlor__image_error((err), (code)) + 0 * (int)sizeof dlor__image_args(0, __VA_ARGS__))
#endif

/* IEEE binary16 to float, exactly (NaN stays NaN), in integer operations. */
#if !defined(DLOR_RT_NO_F16) || !defined(DLOR_RT_NO_QUANT)
float dlor__half_to_float(uint16_t h);
#endif

/* A double to the nearest float, ties to even, as a cast gives (NaN stays a
 * quiet NaN, overflow is infinity), in integer operations: a Cortex-M4F has no
 * double-precision hardware, and this links no software emulation of it. */
float dlor__double_to_float(double d);

/* Little-endian loads. */
static inline uint16_t dlor__ld16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t dlor__ld32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t dlor__ld64(const unsigned char *p)
{
    return (uint64_t)dlor__ld32(p) | ((uint64_t)dlor__ld32(p + 4) << 32);
}
static inline double dlor__ldf64(const unsigned char *p)
{
    uint64_t b = dlor__ld64(p);
    double d;
    memcpy(&d, &b, 8);
    return d;
}
static inline int dlor__is_float_dtype(int dt) { return dt >= 1 && dt <= 4; }
static inline int dlor__is_quant_dtype(int dt) { return dt == 14 || dt == 15; }
/* What a weight matrix may be stored as: a float or a block-quantized dtype. */
static inline int dlor__is_weight_dtype(int dt) { return dlor__is_float_dtype(dt) || dlor__is_quant_dtype(dt); }

/* Tests of a double on its bits, so that validating an image and the float32
 * pass link no double-precision arithmetic (a Cortex-M4F's FPU has none).
 * nonzero is d != 0.0 (true for NaN, false for -0); positive is d > 0 for a
 * finite d. */
static inline uint64_t dlor__dbits(double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}
static inline int dlor__finite_d(double d) { return ((dlor__dbits(d) >> 52) & 0x7ff) != 0x7ff; }
static inline int dlor__nonzero_d(double d) { return (dlor__dbits(d) << 1) != 0; }
static inline int dlor__positive_d(double d) { return !(dlor__dbits(d) >> 63) && dlor__nonzero_d(d); }

int dlor__all_zero(const unsigned char *p, uint64_t n);
/* A string of the pool: inside it, length in [min, max], valid UTF-8 without
 * NUL; NULL otherwise. */
#ifndef DLOR_RT_NO_DAG
const unsigned char *dlor__image_str(const dlor_image *img, uint32_t off, uint32_t len, uint32_t min, uint32_t max);
#endif
/* A possibly hostile name for a message: at most 64 bytes, printable ASCII. */
const char *dlor__image_show(const unsigned char *s, uint32_t n, char out[72]);
/* The layer whose U tensor, stored in panels, is tensor t (DLOR_FORMAT.md 7.6:
 * used by that layer alone), or -1. */
long dlor__panel_owner(const dlor_image *img, uint32_t t);
/* Checks the graph section (chain or DAG: DLOR_FORMAT.md section 9, rules 9 and 10) and sets the
 * image's graph fields (dlor_image_graph.c). */
int dlor__image_check_graph(dlor_image *img, dlor_image_error *err);

#endif
