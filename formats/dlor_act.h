/* dlor_act.h - the activation functions: their stable codes and their values,
 * in float32 and in double precision.
 *
 * The one definition shared by the runtime (both precisions), the host tools
 * and the graph readers. Header-only and C99 (the float32 ones are
 * dlor_mathf.h's portable functions, the double ones libm's), so the
 * stand-alone runtime keeps to its own sources. The codes are stored in .dlor
 * graphs (DLOR_FORMAT.md 7.4) and never reused.
 *
 * The runtime calls these with a constant code inside one loop per activation,
 * so the switch folds away and simple ones (relu) vectorise; every expression
 * is written once per precision, and its operations decide the bits of every
 * result, so change them here only on purpose. Non-finite values come out as
 * in PyTorch and ONNX Runtime: relu is 'x < 0 ? 0 : x', so NaN (unordered: the
 * comparison is false) stays NaN and -0 stays -0; the others give NaN for NaN
 * and those libraries' values at +-inf (dlor_mathf.h). */
#ifndef DLOR_ACT_H
#define DLOR_ACT_H

#include <math.h>

#include "dlor_mathf.h"

typedef enum dlor_act {
    DLOR_ACT_IDENTITY = 0,
    DLOR_ACT_RELU = 1,
    DLOR_ACT_LEAKY_RELU = 2,   /* param = negative slope */
    DLOR_ACT_SIGMOID = 3,
    DLOR_ACT_TANH = 4,
    DLOR_ACT_SOFTPLUS = 5,     /* log(1 + exp(x)) */
    DLOR_ACT_GELU_ERF = 6,     /* x/2 (1 + erf(x / sqrt 2)) */
    DLOR_ACT_GELU_TANH = 7,    /* x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    DLOR_ACT_SILU = 8          /* x sigmoid(x) */
} dlor_act;

#define DLOR_ACT_MAX 8         /* the largest code */

static inline float dlor_act_f32(int act, float x, float p)
{
    switch (act) {
    case DLOR_ACT_RELU: return x < 0.0f ? 0.0f : x;
    case DLOR_ACT_LEAKY_RELU: return x >= 0.0f ? x : p * x;
    case DLOR_ACT_SIGMOID: return dlor__sigmoidf(x);
    case DLOR_ACT_TANH: return dlor__tanhf(x);
    case DLOR_ACT_SOFTPLUS: return dlor__softplusf(x);
    case DLOR_ACT_GELU_ERF: return dlor__geluf(x);
    case DLOR_ACT_GELU_TANH: return dlor__gelu_tanhf(x);
    case DLOR_ACT_SILU: return dlor__siluf(x);
    default: return x;
    }
}

static inline double dlor_act_f64(int act, double x, double p)
{
    switch (act) {
    case DLOR_ACT_RELU: return x < 0.0 ? 0.0 : x;
    case DLOR_ACT_LEAKY_RELU: return x >= 0.0 ? x : p * x;
    case DLOR_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case DLOR_ACT_TANH: return tanh(x);
    case DLOR_ACT_SOFTPLUS: return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x)));
    case DLOR_ACT_GELU_ERF: return 0.5 * x * (1.0 + erf(x * 0.70710678118654752));
    case DLOR_ACT_GELU_TANH: return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
    case DLOR_ACT_SILU: return x / (1.0 + exp(-x));
    default: return x;
    }
}

#endif
