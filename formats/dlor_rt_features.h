/* dlor_rt_features.h - what a build of the runtime leaves out, for firmware
 * that runs one kind of model and counts its flash. Not public API.
 *
 * By default the runtime runs every .dlor graph; a program that runs, say, a
 * small MLP can compile it with some of these macros defined (for every one of
 * the runtime's sources), much as a TensorFlow Lite Micro program registers
 * only the operators its model uses:
 *
 *     DLOR_RT_NO_DAG        graphs stored in the DAG section (DLOR_FORMAT.md
 *                           7.7: residual connections, several outputs, norms,
 *                           transformers); chains (7.4: linear and DLoR layers,
 *                           activations, softmax, branch groups) stay. Implies
 *                           DLOR_RT_NO_TOKENS and DLOR_RT_NO_NORMS: those nodes
 *                           exist only in DAGs
 *     DLOR_RT_NO_F64        the double-precision pass (dlor_model_forward_f64,
 *                           dlor_model_run with DLOR_RT_F64) and tensors stored
 *                           as f64
 *     DLOR_RT_NO_F16        tensors stored as f16
 *     DLOR_RT_NO_BF16       tensors stored as bf16
 *     DLOR_RT_NO_QUANT      block-quantized tensors (q8, q4) and their kernels,
 *                           and layers with a quantized base (1.7)
 *     DLOR_RT_NO_TOKENS     models of token ids: the ids, mask and token type
 *                           inputs, embeddings, position embeddings, pooling,
 *                           and with them attention
 *     DLOR_RT_NO_ATTENTION  attention
 *     DLOR_RT_NO_NORMS      LayerNorm, RMSNorm, L2 normalisation
 *     DLOR_RT_ACTS=MASK     the activations kept, bit (1 << code) for each code
 *                           of dlor_act.h (relu is 1, so 0x2 keeps relu alone);
 *                           all of them by default
 *     DLOR_RT_MLP_ONLY      DLOR_RT_NO_DAG, DLOR_RT_NO_F64, DLOR_RT_NO_BF16 and
 *                           DLOR_RT_NO_QUANT: chains of layers stored in
 *                           float32 or f16
 *     DLOR_RT_SMALL_CRC     not a feature: CRC-32 (DLOR_IMAGE_CHECK_CRC) from a
 *                           64-byte table, half a byte a step, instead of a
 *                           1 KB one (a slower check of the image at open)
 *
 * The image reader refuses a model that needs something left out with
 * DLOR_IMAGE_E_UNSUPPORTED ("... is left out of this build of the runtime"),
 * so dlor_model_open refuses it before any work; a left-out pass is refused
 * the same way when it is asked for. */
#ifndef DLOR_RT_FEATURES_H
#define DLOR_RT_FEATURES_H

#ifdef DLOR_RT_MLP_ONLY
#ifndef DLOR_RT_NO_DAG
#define DLOR_RT_NO_DAG
#endif
#ifndef DLOR_RT_NO_F64
#define DLOR_RT_NO_F64
#endif
#ifndef DLOR_RT_NO_BF16
#define DLOR_RT_NO_BF16
#endif
#ifndef DLOR_RT_NO_QUANT
#define DLOR_RT_NO_QUANT
#endif
#endif

#ifdef DLOR_RT_NO_DAG
#ifndef DLOR_RT_NO_TOKENS
#define DLOR_RT_NO_TOKENS
#endif
#ifndef DLOR_RT_NO_NORMS
#define DLOR_RT_NO_NORMS
#endif
#endif

/* attention reads token values, which only token inputs make */
#if defined(DLOR_RT_NO_TOKENS) && !defined(DLOR_RT_NO_ATTENTION)
#define DLOR_RT_NO_ATTENTION
#endif

/* whether activation code a (0 .. DLOR_IMAGE_MAX_ACT; a constant in the
 * runtime's loops) is kept; identity always is */
#ifdef DLOR_RT_ACTS
#define DLOR_RT_HAS_ACT(a) ((a) == 0 || (((unsigned)(DLOR_RT_ACTS) >> (a)) & 1u) != 0)
#else
#define DLOR_RT_HAS_ACT(a) 1
#endif

#endif
