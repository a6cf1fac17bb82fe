/* compress_plan.h - convert's compressed forms (see compress_plan.c). */
#ifndef DLOR_COMPRESS_PLAN_H
#define DLOR_COMPRESS_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_container.h"
#include "convert.h"
#include "dlor_factor.h"

typedef struct dlor_compress_cfg {
    int fit_beta;            /* 1: best beta*I + P Q^T; 0: plain truncated SVD */
    int64_t rank;            /* > 0: this rank for every layer */
    int has_tol;
    double tol;              /* per-layer relative error (data space with --calib) */
    int has_budget;
    double budget;           /* stored numbers / dense numbers over the compressed layers */
    int has_bits;
    double bits;             /* --budget-bits: average bits per weight over the converted layers, each
                              * layer in the form (dense in any dtype, beta I + P Q^T in f16 or q8, a q4
                              * or q8 base with an f16 correction) the allocation picks */
    int allocate_sum;        /* budget: minimise the sum of squared errors, not the largest */
    int allocate_uniform;    /* budget: every layer at the same fraction of its own dense size */
    int64_t factors;         /* > 0: store as an exact product of this many DLoR factors */
    const char *calib;       /* model inputs (.npy) for data-aware fits, or NULL */
    const char *calib_acts;  /* captured activations or Gram matrices (.npz, calib_acts.h), or NULL */
    const struct dlor_calib_acts *acts; /* calib_acts as read (borrowed), set by the pipeline */
    dlor_dtype storage;      /* of the factors; with qlr, of the quantized base */
    int qlr;                 /* 1: W ~= Q(W) + P Q^T, a quantized base (storage) with a low-rank
                              * correction of its error (corr_storage), fitted by truncated SVD
                              * of W - Q(W) (whitened with --calib) */
    dlor_dtype corr_storage; /* qlr: the correction's dtype */
    int jobs;                /* layers fitted at once (threads) */
    const struct dlor_convert_hooks *progress; /* lines of the long phases go there (progress.h; NULL: none) */
} dlor_compress_cfg;

/* Compresses every tensor with selected[i] != 0 (2-D float) into c. Layers for
 * which no form cheaper than dense meets the target (with --rank: which that rank
 * would not make smaller) are carried dense; their names are listed, comma-separated,
 * in kept_dense. Progress lines and stop requests go through hooks (may be NULL). */
dlor_status dlor_compress_layers(const dlor_compress_cfg *cc, const dlor_tensor_list *src, const dlor_graph *g,
                                 const int *selected, dlor_container *c, const dlor_convert_hooks *hooks, char *kept_dense,
                                 size_t kept_len, dlor_error *err);

/* The largest rank k whose beta*I + P Q^T (fit_beta) or P Q^T stores fewer numbers
 * than the dense m x n layer, k (m + n) (+ 1) < m n, and at most min(m, n); 0 when
 * none does. A --rank above it keeps the layer dense. */
int64_t dlor_compress_rank_cap(int64_t m, int64_t n, int fit_beta);

/* Why --rank 'rank' keeps an m x n layer dense, for notes: "--rank R exceeds the
 * layer's largest rank, K" or "--rank R would store N numbers, the dense layer M". */
void dlor_compress_rank_note(int64_t rank, int64_t m, int64_t n, int fit_beta, char *buf, size_t len);

#endif
