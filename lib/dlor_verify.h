/* dlor_verify.h - rebuilding layers from a .dlor container and measuring how
 * faithfully they reproduce the dense weights they came from. */
#ifndef DLOR_VERIFY_H
#define DLOR_VERIFY_H

#include <stdint.h>

#include "dlor_container.h"
#include "dlor_factor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Widens a container layer's stored factors to double (f->ut, f->vt owned). */
dlor_status dlor_layer_load(const dlor_container *c, const dlor_layer_desc *d, dlor_factored *f,
                            dlor_error *err);

/* Another form of a layer at no more than the stored form's bytes (verify's alternatives). */
typedef struct dlor_alternative {
    const char *form;            /* "svd" (truncated SVD), "dense", "qlr" (a quantized base + an f16 correction) */
    dlor_dtype dtype;            /* of the factors, of the dense layer, of the qlr base */
    uint64_t bytes;              /* what it stores */
    double rel_fro_error;        /* ||W - W_alt||_F / ||W||_F (for factors: the float fit's) */
} dlor_alternative;
#define DLOR_MAX_ALTERNATIVES 9

typedef struct dlor_layer_report {
    const char *name;            /* borrowed from the container */
    uint64_t rows, cols;
    int method, basis;
    uint64_t rank, factors;
    double alpha;
    dlor_dtype dense_dtype, factor_dtype;
    double rel_fro_error;        /* ||W - W_hat||_F / ||W||_F (absolute when W = 0) */
    double max_abs_error;        /* max |W - W_hat| */
    uint64_t params_dense;       /* rows * cols */
    uint64_t params_dlor;        /* K * (dim_u + dim_v) + 1 (alpha is shared by all factors) */
    uint64_t bytes_dense;        /* params_dense * size of the dense dtype */
    uint64_t bytes_dlor;         /* bytes of the U and V tensors + 8 for alpha */
    double tol;                  /* tolerance it was checked against */
    int pass;                    /* rel_fro_error <= tol */
    const char *form;            /* "mul", "add" (exact), "lowrank" (beta*I + P Q^T), "svd" (beta = 0),
                                    "mul-compressed" (a product with fewer columns than exact), "dense" */
    double svd_rel_fro_error;    /* truncated SVD of W storing at most params_dlor numbers */
    double data_rel_error;       /* ||(W - W_hat) X||_F / ||W X||_F on the layer's inputs X (NaN: not measured) */
    /* compressed forms: the other forms that fit in bytes_dlor, each at the most it can store there:
     * truncated SVD in f16 and q8, the layer dense in f32, f16, bf16, q8, q4, and q4 and q8 bases
     * with an f16 correction */
    dlor_alternative alts[DLOR_MAX_ALTERNATIVES];
    int nalts;
} dlor_layer_report;

/* Relative Frobenius error of the best rank-k approximation of the m x n
 * matrix w with k = the largest rank storing at most 'params' numbers
 * (k (m + n) <= params), from its singular values (LAPACK dgesdd). */
dlor_status dlor_svd_error_at_params(const double *w, int64_t m, int64_t n, uint64_t params, double *rel,
                                     dlor_error *err);

/* Which family has the least weight error at a compressed layer's bytes, its stored form
 * included: "dlor" (DLoR and truncated SVD forms), "quantization" (q8, q4, bf16, f16 dense,
 * and quantized bases with a correction), "dense" (f32); NULL when the layer has no
 * alternatives (exact forms, layers kept dense). */
const char *dlor_alternatives_winner(const dlor_layer_report *r);

/* Default tolerance for a factor storage dtype (f32 1e-4, f64 1e-10, f16
 * 1e-2, bf16 5e-2). */
double dlor_default_tol(dlor_dtype factor_dtype);

/* What a stored layer is, from its factors' shapes: "mul" or "add" (exact: as
 * many factor columns as the layer needs), "mul-compressed" (a product with
 * fewer columns), "lowrank" (beta*I + P Q^T), "svd" (beta = 0); "?" when its
 * U tensor is missing. verify and info name layers by it. */
const char *dlor_layer_form(const dlor_container *c, const dlor_layer_desc *d);

/* Rebuilds layer d in double and compares it with the dense tensor w.
 * tol < 0 selects dlor_default_tol. */
dlor_status dlor_verify_layer(const dlor_tensor *w, const dlor_container *c,
                              const dlor_layer_desc *d, double tol, dlor_layer_report *r,
                              dlor_error *err);

/* The data-space error of an m x k layer: ||X (W - W_hat)^T||_F / ||X W^T||_F over
 * the n x k inputs x it receives (row-major), the quantity a calibrated fit
 * minimises (the absolute error when X W^T = 0). name is for messages. */
dlor_status dlor_data_rel_error(const char *name, const double *w, const double *w_hat, uint64_t m, uint64_t k,
                                const double *x, uint64_t n, double *rel, dlor_error *err);

/* Relative Frobenius and max-abs error of b against a (n values). */
void dlor_compare(const double *a, const double *b, uint64_t n, double *rel_fro, double *max_abs);

#ifdef __cplusplus
}
#endif
/* Encoders: the cosine similarity, per sample, of the mean over the tokens whose
 * mask is 1 (all tokens when mask is NULL) of hidden states a (dense) and b
 * (DLoR), [n, s, f] each; the mean and the smallest over the n samples (NaN
 * when a value is NaN). Two zero vectors count as 1, one zero vector as 0. */
void dlor_pooled_cosine(const double *a, const double *b, const int64_t *mask, uint64_t n, uint64_t s, uint64_t f,
                        double *mean, double *min);
/* Decoders: over every position whose mask is 1 (all when NULL) of logits a
 * (dense) and b (DLoR), [n, s, v] each: the fraction where the two argmaxes (the
 * first largest) agree, and the mean KL divergence KL(softmax(a) || softmax(b))
 * in nats; *positions counts the positions. */
void dlor_next_token_agreement(const double *a, const double *b, const int64_t *mask, uint64_t n, uint64_t s,
                               uint64_t v, double *top1, double *kl_mean, uint64_t *positions);

#endif
