/* network.h - the network form of DLoR layers (Theorems 5 and 6 of the paper),
 * its evaluation and the search for the scaling h (the paper's Appendix H models and
 * experiments are in paper/).
 *
 * Every dense layer y = rho(W x + b) of a model graph becomes layers whose every
 * weight is ONE DLoR component alpha*I + U V^T (a .dlor layer with one factor),
 * with the activation rho between them:
 *
 *   deep (Appendix E.1): W~ = M_L ... M_1 (Theorem 4, W~ = W zero-padded to
 *       D = max(m, n)); sub-layer l has weight s_l M_l and activation rho after
 *       it (except after the last):
 *           l = 1:        s = h,               bias  c 1
 *           1 < l < L:    s = 1 / rho'(c),     bias  c 1 - rho(c)/rho'(c) M_l 1
 *           l = L:        s = 1 / (h rho'(c)), bias  b - rho(c)/(h rho'(c)) M_L 1
 *       s_l is folded into the stored alpha and U. Stored as mul layers with one
 *       factor: D x n, then D x D, then m x D (Remark 2's padding).
 *   wide (Theorem 3 / E.2): W = sum_l M_l (SVD, alpha 0); a BRANCH group with
 *       one branch per component, branch l = linear((h / beta_l) M_l, bias c 1),
 *       rho, weighted by beta_l / (h rho'(c)); MERGE adds b. beta is the paper's
 *       (1, ..., 1, -(L-1)) or "paired": every component twice, as M_l / 2 with
 *       beta = +1 and -1 (a central difference, which cancels the O(h) term).
 *
 * A layer whose rank bound min(m, n) is <= r (e.g. the 1-wide input and output
 * layers of the sawtooth MLP) already is one DLoR component (alpha = 0,
 * U V^T = W with U = W, V = I or U = I, V = W^T): it is stored exactly and the
 * construction leaves it alone.
 *
 * The error against the dense model behaves like C1 h + C2 u / h (Taylor
 * remainder against rounding amplified by 1/h), so h has an optimum that
 * depends on the precision the model runs in: dlor_net_search_h finds it.
 */
#ifndef DLOR_NETWORK_H
#define DLOR_NETWORK_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_container.h"
#include "dlor_factor.h"
#include "dlor_graph.h"
#include "dlor_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dlor_net_kind { DLOR_NET_DEEP = 1, DLOR_NET_WIDE = 2 } dlor_net_kind;
typedef enum dlor_net_beta { DLOR_NET_BETA_PAPER = 1, DLOR_NET_BETA_PAIRED = 2 } dlor_net_beta;

typedef struct dlor_net_opts {
    dlor_net_kind kind;
    dlor_net_beta beta;       /* wide */
    dlor_basis basis;         /* deep: DLOR_BASIS_SCHUR or DLOR_BASIS_RANDOM */
    int64_t rank;             /* r >= 1 */
    int alpha_auto;           /* deep: alpha = ||W||_2^(1/L) as dlor_factor chooses it */
    double alpha;             /* deep, when !alpha_auto (nonzero) */
    uint64_t seed;            /* random basis */
    double c;                 /* expansion point: rho'(c) must not vanish */
} dlor_net_opts;

/* Defaults: deep, paired beta, Schur basis, r = 16, alpha = 1, seed 0, c = 0.5. */
void dlor_net_opts_default(dlor_net_opts *o);

/* What one LINEAR op of the dense graph becomes. */
typedef struct dlor_net_layer {
    size_t op;                /* index of the LINEAR op in the dense graph */
    const char *weight, *bias;/* names in the source graph (bias may be NULL) */
    int64_t m, n;
    int converted;            /* 0: not selected, kept as the dense tensor */
    int exact;                /* min(m, n) <= r: one exact component, no h */
    dlor_act act;             /* rho used between the sub-layers */
    double act_param;
    double rho_c, drho_c;     /* rho(c), rho'(c) */
    dlor_factored f;          /* deep: mul factors of W~; wide: add factors of W */
    double *w;                /* the dense weight (m x n, row-major) */
    double *b;                /* the bias (m) or NULL */
} dlor_net_layer;

typedef struct dlor_net_plan {
    dlor_net_opts opts;
    const dlor_graph *graph;          /* borrowed: the dense graph */
    const dlor_tensor_list *src;      /* borrowed: its tensors */
    dlor_net_layer *layers;           /* one per LINEAR op, in graph order */
    size_t nlayers;
} dlor_net_plan;

/* rho(c) and rho'(c) of an activation. Returns DLOR_E_USAGE (c is the user's
 * choice), with a message that names the activation and says what to pick, when
 * rho'(c) vanishes or does not exist (relu/leaky_relu at c = 0, relu for c < 0, ...);
 * DLOR_E_ARG when c is not finite. */
dlor_status dlor_net_rho(dlor_act act, double param, double c, double *rho_c, double *drho_c, dlor_error *err);

/* Factors every selected LINEAR weight (selected: per tensor of src, NULL: all
 * 2-D float weights of the graph) once; independent of h. 'what' names the
 * source in messages. */
dlor_status dlor_net_plan_make(const dlor_graph *g, const dlor_tensor_list *src, const dlor_net_opts *o,
                               const int *selected, const char *what, dlor_net_plan *p, dlor_error *err);
void dlor_net_plan_free(dlor_net_plan *p);

/* Adds the network form at scaling h to c: the sub-layers (factor tensors and new
 * biases in 'storage'), and c->graph (which must be empty). Tensors the graph
 * still needs from the source (dense weights left alone, original biases) are
 * added from p->src unless c already holds a tensor of that name. */
dlor_status dlor_net_build(const dlor_net_plan *p, double h, dlor_dtype storage, dlor_container *c,
                           dlor_error *err);

/* Sample inputs and the dense model's float64 outputs on them. */
typedef struct dlor_net_ref {
    double *x;                /* n x in_dim */
    double *y;                /* n x out_dim: the dense graph in double */
    uint64_t n, in_dim, out_dim;
} dlor_net_ref;

/* x: n x in_dim inputs (copied). */
dlor_status dlor_net_ref_make(const dlor_graph *g, const dlor_tensor_list *src, const double *x, uint64_t n,
                              dlor_net_ref *r, dlor_error *err);
/* n seeded standard normal inputs (the inputs 'dlor verify --samples' uses). */
dlor_status dlor_net_ref_random(const dlor_graph *g, const dlor_tensor_list *src, uint64_t n, uint64_t seed,
                                dlor_net_ref *r, dlor_error *err);
void dlor_net_ref_free(dlor_net_ref *r);

/* Runs a model image (opened by the runtime) on the reference inputs, in float64
 * (f64 != 0: dlor_model_forward_f64) or float32 (dlor_model_forward), and returns
 * the largest absolute output difference to the dense model. y_out (n x out_dim,
 * may be NULL) receives the outputs. A non-finite output gives +inf. */
dlor_status dlor_net_image_error(const unsigned char *image, size_t len, const dlor_net_ref *r, int f64,
                                 double *max_abs, double *y_out, dlor_error *err);

/* Builds the network form at h in 'storage', serializes it and measures it as
 * dlor_net_image_error does. */
dlor_status dlor_net_error(const dlor_net_plan *p, double h, dlor_dtype storage, int f64, const dlor_net_ref *r,
                           double *max_abs, double *y_out, dlor_error *err);

/* The search for h: the end-to-end max abs error on the reference inputs as a
 * function of log10 h, scanned over [lo, hi] in steps of 'step' decades, then
 * refined by golden-section search around the best grid point. Every point
 * evaluated is returned (sorted by h, largest first). */
typedef struct dlor_net_search {
    double h, err;            /* the best point */
    size_t npoints;
    double *hs, *errs;
} dlor_net_search;

dlor_status dlor_net_search_h(const dlor_net_plan *p, dlor_dtype storage, int f64, const dlor_net_ref *r,
                              double lo_log10, double hi_log10, double step, dlor_net_search *s,
                              dlor_error *err);
void dlor_net_search_free(dlor_net_search *s);

/* Parameters the graph of c uses: the elements of every tensor it references
 * (dense weights, biases, factors; each counted once), one weight per BRANCH
 * op, and the alphas of its DLoR layers: one per layer with a nonzero alpha, or
 * with tied_alpha one in all (a model that trains a single shared alpha). */
uint64_t dlor_net_param_count(const dlor_container *c, int tied_alpha);

#ifdef __cplusplus
}
#endif
#endif
