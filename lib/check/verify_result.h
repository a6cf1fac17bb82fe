/* verify_result.h - what 'dlor verify' measured, shared by its text, JSON and HTML reports. */
#ifndef DLOR_VERIFY_RESULT_H
#define DLOR_VERIFY_RESULT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dlor_container.h"
#include "dlor_error.h"
#include "dlor_fileio.h"
#include "dlor_graph.h"
#include "dlor_runtime.h"
#include "dlor_tensor.h"
#include "dlor_verify.h"

/* A network-form file (dlor.form = network): what became of each dense layer of
 * the model the file replaces. */
typedef struct verify_net_layer {
    const char *name;                /* the dense weight */
    uint64_t rows, cols;
    const char *form;                /* "exact" (one component under the weight's name),
                                        "deep", "wide" (constructed) or "dense" (left alone) */
    uint64_t components;             /* DLoR components: sub-layers (deep), branches (wide), 1 (exact) */
    uint64_t rank;                   /* the largest component's rank */
    const char *act;                 /* rho between the sub-layers of a constructed layer */
    uint64_t params_dense, params_net; /* weight + bias (+ branch weights) vs what the network graph uses */
    uint64_t bytes_dense, bytes_net;
} verify_net_layer;

typedef struct verify_network {
    const char *construction, *basis, *beta, *alpha, *h_choice, *recorded_error; /* metadata (may be NULL) */
    const char *storage;             /* "f64" or "f32": the factors' dtype */
    double h, c;
    int64_t rank;
    char dense_graph[96];            /* how verify rebuilt the dense model's graph */
    verify_net_layer *layers;        /* one per LINEAR op of the dense graph */
    size_t nlayers;
    size_t constructed, exact, kept_dense, components, skipped;   /* skipped: sub-layer records */
    uint64_t params_dense, params_net, bytes_dense, bytes_net;
    int f64;                         /* end to end in double (f64 factors) */
    double tol;                      /* --tol on the end-to-end max abs error; NAN: none given */
    int e2e_pass;
} verify_network;

typedef struct verify_result {
    dlor_layer_report *layers;
    size_t nlayers;
    size_t carried, carried_same;
    char **problems;             /* one line each: missing / differing tensors */
    size_t nproblems;
    int sha_match;
    double max_rel, max_abs;
    int pass;
    /* end to end (dense vs DLoR model outputs); e2e_samples == 0: not run */
    uint64_t e2e_samples;
    const char *e2e_inputs;          /* file name or "random" */
    double e2e_max_abs, e2e_max_rel;
    uint64_t e2e_values;             /* outputs compared: samples x output features */
    uint64_t e2e_nonfinite_dense, e2e_nonfinite_dlor; /* of those, NaN or infinite */
    int has_labels;
    const char *calib;               /* dlor.calib: layers were fitted to calibration data */
    int compressed;                  /* some layer is a compressed (approximate) form */
    double argmax_agreement, acc_dense, acc_dlor;
    /* a model of token ids: 1 an encoder (hidden states: cosine of the mean-pooled
     * states per sequence), 2 a decoder (logits: next-token agreement and KL) */
    int e2e_tokens;
    uint64_t e2e_seq, e2e_positions;
    /* real (unmasked) tokens per sequence of a token model: their mean and most;
     * e2e_seq is the padded length */
    double e2e_tokens_mean;
    uint64_t e2e_tokens_max;
    double cosine_mean, cosine_min, top1_agreement, kl_mean;
    verify_network *net;             /* a network-form file; NULL otherwise */
    /* what the converter recorded about an explicit --rank (for the per-layer notes) */
    const char *rank_capped;         /* dlor.rank_capped: layers whose --rank was capped at their size */
    const char *rank_asked;          /* dlor.rank */
    const char *target;              /* dlor.target of a compressed form ("rank R", "tol T", ...) */
    int fit_beta;                    /* compressed with beta (not plain svd) */
    const char *layer_targets;       /* dlor.layer_targets: per-layer targets of a --set / --plan run */
    /* the verdict: some compressed layer has no tolerance of its own (a budget, rank or
     * calibrated target), and what end-to-end check stood in for it */
    int unchecked_layers;
    int e2e_checked;                 /* --inputs held to the tolerances below */
    double e2e_min_cos, e2e_mean_cos; /* cosine of dense and DLoR outputs per sample */
    double req_min_cos, req_max_rel; /* the tolerances applied (NAN: none) */
    const char *verdict;             /* "pass", "fail" or "unchecked" */
} verify_result;

/* What 'dlor verify IN OUT' checks (verify_run.c). */
typedef struct dlor_verify_args {
    const char *in, *out;        /* the dense source and the .dlor file */
    const char *activation;      /* network form from nn.Sequential names: the dense model's activation (or NULL) */
    const char *inputs;          /* end-to-end inputs (.npy; token ids: .npz), or NULL: nsamples seeded inputs */
    const char *labels;          /* integer labels of inputs (.npy), or NULL */
    double tol;                  /* per-layer tolerance (network form: end to end); < 0: the defaults */
    uint64_t nsamples, seed;     /* random end-to-end inputs */
    int samples_given;           /* nsamples was asked for (a file without a graph refuses it) */
    int has_min_cos, has_max_rel; /* with inputs: the outputs held to min_cos and max_rel */
    double min_cos, max_rel;
} dlor_verify_args;

/* verify's options as given on the command line, NULL when not given. */
typedef struct dlor_verify_words {
    const char *tol, *samples, *seed, *inputs, *labels, *activation, *min_cosine, *max_rel_error;
} dlor_verify_words;

/* Checks verify's options together, in a fixed order (the first problem is the
 * one told), and fills every member of a but in and out. On failure
 * DLOR_E_USAGE with one line naming the options and the value refused; the
 * command prints it after "dlor verify: " and exits 2. */
dlor_status dlor_verify_args_check(const dlor_verify_words *w, dlor_verify_args *a, dlor_error *err);

/* The files verify read and what it measured (r borrows names from c and src). */
typedef struct dlor_verify_state {
    dlor_tensor_list src;
    dlor_graph g;                /* the source's own graph (ONNX), for a network form's dense model */
    dlor_container c;
    verify_result r;
} dlor_verify_state;

void dlor_verify_state_init(dlor_verify_state *vs);
void dlor_verify_state_free(dlor_verify_state *vs);

/* Reads a->in (a Hugging Face folder: its weight file) and a->out into vs and
 * measures: every stored layer rebuilt in double against its dense weights,
 * layers kept dense, carried tensors bit for bit, the recorded source
 * checksum, and with a graph the dense and DLoR models end to end (per-layer
 * data-space errors on the dense activations; a model of token ids: see
 * dlor_verify_tokens_end_to_end).
 * Mismatches that are findings (a missing tensor, a layer over its tolerance)
 * go into vs->r (pass = 0, problems); errors that stop the check are returned.
 * vs must be freed with dlor_verify_state_free either way. */
dlor_status dlor_verify_files(const dlor_verify_args *a, dlor_verify_state *vs, dlor_error *err);

/* The verify report as JSON (the format of dlor verify --json). */
void dlor_verify_write_json(FILE *f, const char *in, const char *out, const verify_result *r);

/* What a reader should know about layer L beyond its figures (its --rank was capped
 * at the layer's size, or a --rank target kept it dense, and why), in buf; "" when
 * nothing. Returns buf. */
const char *dlor_verify_layer_note(const verify_result *r, const dlor_layer_report *L, char *buf, size_t len);

/* Writes the verify report as one self-contained HTML page (inline SVG charts:
 * per-layer errors against their tolerances, sizes, singular-value spectra split
 * into identity / low-rank / per-branch parts). c and src are the .dlor file and
 * the dense source the results came from (the spectra are computed from them);
 * target is the converter's dlor.target (or NULL).
 * The page goes to the temporary file of path (dlor_atomic_open), left open in
 * *af for the caller to dlor_atomic_commit (or _abort) together with its other
 * outputs ("-": standard output, staged the same way). On failure nothing is
 * left behind. */
dlor_status dlor_verify_html(const char *path, const char *in, const char *out, const verify_result *r,
                             const dlor_container *c, const dlor_tensor_list *src, const char *target,
                             dlor_atomic_file *af, dlor_error *err);

/* ---- network-form files (verify_network.c) ---------------------------------------- */

/* Does the file record dlor.form = network? */
int dlor_verify_is_network(const dlor_container *c);

/* Rebuilds the dense model's graph into g (empty on entry) as convert resolved it
 * (the source's ONNX graph or dlor.graph metadata, or nn.Sequential names with
 * 'activation', by default the activation the network's graph uses), and fills
 * r->net: what became of each dense layer, with parameter and byte counts. Layers
 * of the dense model the network lacks, and network weights that stand for no dense
 * layer, are added to r->problems. */
dlor_status dlor_verify_net_prepare(const char *in, const char *out, const char *activation,
                                    const dlor_tensor_list *src, const dlor_container *c, dlor_graph *g,
                                    verify_result *r, dlor_error *err);
void dlor_verify_net_free(verify_network *n);

/* A layer record '<W>.deep.<l>' / '<W>.wide.<j>' of a constructed dense layer W (no
 * dense counterpart); a tensor the construction made ('<W>.deep.*', '<W>.wide.*'); a
 * dense weight the network replaced. */
int dlor_verify_net_sublayer(const verify_network *n, const char *name);
int dlor_verify_net_made(const verify_network *n, const char *name);
int dlor_verify_net_replaced(const verify_network *n, const char *name);

/* The dense graph g over src in double precision against the network OUT, run by the
 * runtime in double (f64 factors) or float32, on the inputs of xin (NULL: nsamples
 * seeded normal inputs). Sets the end-to-end figures of r and r->net->e2e_pass (the
 * max abs error within r->net->tol, or finite when no tolerance is given). */
dlor_status dlor_verify_net_end_to_end(const char *in, const char *out, const dlor_graph *g,
                                       const dlor_tensor_list *src, const char *xin, uint64_t nsamples, uint64_t seed,
                                       const char *labels, verify_result *r, dlor_error *err);

/* count seeded standard normal inputs (splitmix64, Box-Muller), rounded to float32. */
void dlor_verify_random_inputs(uint64_t seed, float *x, uint64_t count);
/* End-to-end figures of r from dense outputs yd and DLoR outputs yl (n x fout): the
 * largest errors (NaN when either output is NaN) and the count of non-finite outputs, and
 * accuracy / argmax agreement against the integer labels of a .npy (may be NULL). */
dlor_status dlor_verify_compare_outputs(const double *yd, const double *yl, uint64_t n, uint64_t fout,
                                        const char *labels, verify_result *r, dlor_error *err);

/* The end-to-end check of a model of token ids: dense and DLoR models on the
 * sequences of xin (a .npz of input_ids, attention_mask, token_type_ids; NULL:
 * nsamples seeded random sequences of 16 ids, or the position table's length
 * when shorter), compared on their first output (max abs and relative error),
 * with the cosine of mean-pooled hidden states for an encoder and next-token
 * agreement and KL divergence for a decoder (whose output has a value per row
 * of its token table). */
dlor_status dlor_verify_tokens_end_to_end(const dlor_model *dense, const dlor_model *dl, const char *xin,
                                          uint64_t nsamples, uint64_t seed, verify_result *r, dlor_error *err);

#endif
