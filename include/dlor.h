/* dlor.h - libdlor: Diagonal-plus-Low-Rank (DLoR) forms of dense neural-network
 * layers, from C. What the dlor command does, as a library: open a weight file
 * of any supported format, convert its dense layers, write the .dlor file,
 * verify it against its source, run it, describe it, and join the parts of a
 * split conversion.
 *
 *     #include <dlor.h>
 *
 *     dlor_error err;
 *     dlor_file *src = NULL;
 *     dlor_conversion *conv = NULL;
 *     dlor_report *rep = NULL;
 *     dlor_convert_options opt;
 *     dlor_convert_options_init(&opt);          // exact mul form, rank 256, f32 factors
 *     opt.method = DLOR_CONVERT_LOWRANK;        // or a compressed form:
 *     opt.tol = 1e-2;                           //   each layer within 1e-2 relative error
 *     if (dlor_open("model.safetensors", NULL, &src, &err) != DLOR_OK ||
 *         dlor_convert(src, &opt, &conv, &err) != DLOR_OK ||
 *         dlor_write(conv, "model.dlor", 0, &err) != DLOR_OK ||
 *         dlor_verify("model.safetensors", "model.dlor", NULL, &rep, &err) != DLOR_OK)
 *         fprintf(stderr, "%s (%s)\n", err.msg, dlor_strerror(err.code));
 *     else
 *         printf("max relative error %g: %s\n", dlor_report_max_rel_error(rep),
 *                dlor_report_pass(rep) ? "PASS" : "FAIL");
 *     dlor_report_free(rep);
 *     dlor_conversion_free(conv);
 *     dlor_close(src);
 *
 * Build with `pkg-config --cflags --libs dlor`, or in CMake with
 * find_package(dlor) and target_link_libraries(app PRIVATE dlor::dlor).
 *
 * Conventions. Every fallible function returns a dlor_status (DLOR_OK is 0)
 * and, on failure, fills the caller's dlor_error (which may be NULL) with one
 * line naming the file, the tensor and what is wrong; out-parameters are left
 * untouched on failure. Handles are opaque: each _open / _convert / _verify
 * has a _free or _close, and freeing NULL does nothing. Strings a handle
 * returns live as long as the handle. Handles are not shared between threads
 * while one of them changes it; distinct handles are independent. The status
 * codes are those of the embedded runtime (dlor_runtime.h) as well, so a
 * runtime error code converts to a dlor_status as it is.
 */
#ifndef DLOR_H
#define DLOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLOR_VERSION_MAJOR 0
#define DLOR_VERSION_MINOR 1
#define DLOR_VERSION_PATCH 0

/* DLOR_API marks what the shared library exports; DLOR_NODISCARD makes the
 * compiler warn when a status is dropped. */
#if defined(__GNUC__) || defined(__clang__)
#define DLOR_API __attribute__((visibility("default")))
#define DLOR_NODISCARD __attribute__((warn_unused_result))
#else
#define DLOR_API
#define DLOR_NODISCARD
#endif

/* ---- status and errors ---------------------------------------------------------- */

typedef enum dlor_status {
    DLOR_OK = 0,
    DLOR_E_IO = 1,          /* open/read/write/rename failed */
    DLOR_E_FORMAT = 2,      /* malformed, corrupt or inconsistent input */
    DLOR_E_UNSUPPORTED = 3, /* well-formed but outside what dlor handles */
    DLOR_E_NOMEM = 4,       /* allocation failed */
    DLOR_E_LIMIT = 5,       /* exceeds a documented size limit */
    DLOR_E_ARG = 6,         /* invalid argument or option */
    DLOR_E_NUMERIC = 7,     /* numerical failure (non-finite values, LAPACK error) */
    DLOR_E_NOGRAPH = 8,     /* the file has tensors but no runnable graph (runtime) */
    DLOR_E_SCRATCH = 9,     /* scratch buffer too small or misaligned (runtime) */
    DLOR_E_PLAN = 10,       /* the graph needs a plan buffer (runtime) */
    DLOR_E_INPUT = 11,      /* bad model inputs: ids outside a table, a sequence too long (runtime) */
    DLOR_E_STOPPED = 12,    /* a callback asked to stop (cancelled) */
    DLOR_E_USAGE = 13       /* a combination of options that the input cannot take (the dlor command
                               exits 2 for it, as for any usage error) */
} dlor_status;

#define DLOR_ERROR_MSG_MAX 1024

/* The caller's error record: the code and one line of text. */
typedef struct dlor_error {
    dlor_status code;
    char msg[DLOR_ERROR_MSG_MAX];
} dlor_error;

/* A short description of a status ("malformed input", ...); never NULL. */
DLOR_API const char *dlor_strerror(dlor_status s);
/* "MAJOR.MINOR.PATCH" of the library (compare with DLOR_VERSION_*). */
DLOR_API const char *dlor_version(void);

/* ---- opening files ---------------------------------------------------------------- */

/* A weight file (safetensors, .npy, .npz, ONNX, PyTorch .pt; a Hugging Face
 * model folder stands for its model.safetensors or pytorch_model.bin) or a
 * .dlor file, read whole: its tensors, its graph (when one is known) and its
 * metadata. */
typedef struct dlor_file dlor_file;

/* Opens path. activation (NULL: none) names the activation between layers of
 * nn.Sequential-named weights ("relu", "gelu", ...), which gives a file
 * without a graph of its own one; a .dlor file records its own. */
DLOR_API DLOR_NODISCARD dlor_status dlor_open(const char *path, const char *activation, dlor_file **out,
                                              dlor_error *err);
DLOR_API void dlor_close(dlor_file *f);

/* "safetensors", "npy", "npz", "onnx", "pt" or "dlor". */
DLOR_API const char *dlor_file_format(const dlor_file *f);

typedef struct dlor_tensor_info {
    const char *name;
    const char *dtype;       /* "f32", "f16", "bf16", "f64", "i32", "i64", ... */
    int ndim;
    uint64_t dims[8];
    uint64_t nbytes;
} dlor_tensor_info;

/* The tensors in file order (for a .dlor file: the stored ones, factors included). */
DLOR_API size_t dlor_file_tensor_count(const dlor_file *f);
DLOR_API DLOR_NODISCARD dlor_status dlor_file_tensor(const dlor_file *f, size_t i, dlor_tensor_info *info,
                                                     dlor_error *err);
/* Copies tensor i into out as float64 (n values, n = the product of its dims). */
DLOR_API DLOR_NODISCARD dlor_status dlor_file_tensor_f64(const dlor_file *f, size_t i, double *out, size_t n,
                                                         dlor_error *err);

/* String metadata (safetensors __metadata__, ONNX metadata_props, .dlor metadata). */
DLOR_API size_t dlor_file_meta_count(const dlor_file *f);
DLOR_API DLOR_NODISCARD dlor_status dlor_file_meta(const dlor_file *f, size_t i, const char **key, const char **value,
                                                   dlor_error *err);
/* The value of key, or NULL. */
DLOR_API const char *dlor_file_meta_get(const dlor_file *f, const char *key);

/* Operations of the model's graph (0: none is known), and where the graph came
 * from ("onnx", "config.json", "metadata", "activation", "dlor") or, without one, why not. */
DLOR_API size_t dlor_file_graph_ops(const dlor_file *f);
DLOR_API const char *dlor_file_graph_source(const dlor_file *f);

/* The DLoR layers of a .dlor file (0 for other formats). */
typedef struct dlor_layer_info {
    const char *name;        /* the dense weight it replaces */
    uint64_t rows, cols;
    const char *method;      /* "mul" or "add" */
    const char *form;        /* "mul", "add" (exact), "lowrank", "svd", "mul-compressed", "qlr" (a quantized
                                base plus a low-rank correction) */
    uint64_t rank, factors;
    double alpha;
} dlor_layer_info;
DLOR_API size_t dlor_file_layer_count(const dlor_file *f);
DLOR_API DLOR_NODISCARD dlor_status dlor_file_layer(const dlor_file *f, size_t i, dlor_layer_info *info,
                                                    dlor_error *err);

/* ---- converting ------------------------------------------------------------------- */

typedef enum dlor_convert_method {
    DLOR_CONVERT_DEFAULT = 0, /* mul, or auto when tol, budget, factors, calib or calib_acts is set */
    DLOR_CONVERT_MUL,         /* exact: a product of DLoR factors (Theorem 4) */
    DLOR_CONVERT_ADD,         /* exact: a sum (Theorem 3) */
    DLOR_CONVERT_LOWRANK,     /* compressed: the best beta*I + P Q^T */
    DLOR_CONVERT_SVD,         /* compressed: a truncated SVD (beta = 0) */
    DLOR_CONVERT_AUTO,        /* compressed: lowrank, or dense when nothing smaller meets the target */
    DLOR_CONVERT_QLR          /* compressed: a q8 or q4 base (storage) plus a rank-k correction of its
                                 error (correction_storage), fitted by truncated SVD (whitened with calib);
                                 target rank or tol */
} dlor_convert_method;

typedef enum dlor_convert_form {
    DLOR_FORM_LAYERS = 0,     /* each selected layer replaced by its DLoR form */
    DLOR_FORM_NETWORK = 1     /* each dense layer of the graph replaced by DLoR layers with the activation
                                 between them (Theorems 5, 6); needs a graph */
} dlor_convert_form;

typedef enum dlor_storage {
    DLOR_STORE_F32 = 0, DLOR_STORE_F64, DLOR_STORE_F16, DLOR_STORE_BF16,
    DLOR_STORE_Q8,            /* int8 in blocks of 32 values of a row, each block with an f16 scale */
    DLOR_STORE_Q4             /* int4 in the same blocks (the layer form only) */
} dlor_storage;

/* What dlor_convert reports as it goes: before a layer starts, layer names
 * it (text NULL; done of total layers were handed out before it); after
 * work is done, text is a line describing it (the line dlor convert -v
 * prints; layer NULL). */
typedef struct dlor_progress {
    size_t done, total;
    const char *layer;
    const char *text;
} dlor_progress;
/* Return 0 to go on, anything else to cancel (asked before a layer only):
 * no further layer starts and dlor_convert returns DLOR_E_STOPPED. With
 * jobs > 1 it is called from the worker threads, one call at a time. */
typedef int (*dlor_progress_fn)(void *ctx, const dlor_progress *p);

typedef struct dlor_convert_options {
    int method;               /* dlor_convert_method */
    int form;                 /* dlor_convert_form */
    int64_t rank;             /* exact: each factor's rank (0: 256, capped at the layer's size);
                                 compressed: the rank of P Q^T (a target) */
    double tol;               /* compressed target: per layer relative error <= tol (0: none) */
    double budget;            /* compressed target: store budget x the dense numbers (0: none) */
    int allocate_max;         /* with budget: minimise the largest layer error, not the sum of squares */
    int64_t factors;          /* compressed: store each layer as an exact product of this many factors (0) */
    const char *calib;        /* compressed: model inputs (.npy) to fit each layer on its inputs (NULL) */
    int storage;              /* dlor_storage of the factors (DLOR_STORE_F32) */
    const char *const *include; /* globs: convert only 2-D tensors whose name matches one (NULL: all) */
    size_t ninclude;
    const char *const *exclude; /* globs: never convert these */
    size_t nexclude;
    int jobs;                 /* layers converted at once (1; 0: one per processor), each with one BLAS thread
                                 unless OPENBLAS_NUM_THREADS (or GOTO_ or OMP_NUM_THREADS) is set, whose count the
                                 jobs then share; with one BLAS thread the output does not depend on jobs */
    uint64_t seed;            /* seed of a random basis */
    /* the network form: rank (0: 16), storage (f32 or f64), calib (the inputs h is searched on; NULL:
       256 seeded normal samples), include and exclude apply too */
    int wide;                 /* 0: the deep construction (Appendix E.1), 1: wide (Theorem 3's branches) */
    double h;                 /* the scaling h; 0: the h of least end-to-end error */
    double c;                 /* expansion point with rho'(c) != 0 (NaN: 0.5; relu needs c > 0) */
    dlor_progress_fn progress; /* NULL, or called as above */
    void *progress_ctx;
    /* per-layer targets (the layer form): rules "GLOB:KEY=V,..." (keys method, rank, tol, dtype; later
       rules win), and a plan file listing the layers to convert with their targets (NULL: none) */
    const char *const *sets;
    size_t nsets;
    const char *plan;
    int force;                /* convert even when the plan's peak memory or output exceeds what the machine
                                 has (else dlor_convert fails with DLOR_E_USAGE saying what is lacking) */
    int correction_storage;   /* DLOR_CONVERT_QLR: dlor_storage of the correction (DLOR_STORE_F16; F32,
                                 BF16 or Q8); storage is the base's, Q8 or Q4 */
    /* compressed: the layers' inputs captured elsewhere (a .npz; keys are weight names, arrays the inputs
       [..., in] (key NAME) or their Gram matrix [in, in] (key NAME.gram); no graph needed; not with calib) */
    const char *calib_acts;
    int allocate_uniform;     /* with budget: every layer at the fraction budget of its own dense size */
} dlor_convert_options;

/* A converted model, ready to write. */
typedef struct dlor_conversion dlor_conversion;

/* The defaults: the exact mul form, rank 256, f32 factors, every 2-D float
 * tensor, one job. */
DLOR_API void dlor_convert_options_init(dlor_convert_options *o);

/* Converts the selected 2-D float tensors of src (other tensors are carried
 * over unchanged) and records the graph when src has one. src must stay open
 * until the conversion is freed (the carried tensors point into it). */
DLOR_API DLOR_NODISCARD dlor_status dlor_convert(const dlor_file *src, const dlor_convert_options *o,
                                                 dlor_conversion **out, dlor_error *err);
DLOR_API void dlor_conversion_free(dlor_conversion *c);
/* Layers converted, and layers kept dense because nothing smaller met the target. */
DLOR_API size_t dlor_conversion_layers(const dlor_conversion *c);
DLOR_API size_t dlor_conversion_kept_dense(const dlor_conversion *c);

#define DLOR_WRITE_DEFLATE 1u   /* one zlib stream after the preamble (hosts inflate it) */
/* Writes the .dlor file atomically (a temporary file renamed into place; "-": standard output). */
DLOR_API DLOR_NODISCARD dlor_status dlor_write(const dlor_conversion *c, const char *path, unsigned flags,
                                               dlor_error *err);
/* Writes the factors (and carried tensors, and the source's metadata) as safetensors,
 * for PyTorch (see the README); float storage only (not q8 or q4). */
DLOR_API DLOR_NODISCARD dlor_status dlor_write_safetensors(const dlor_conversion *c, const char *path,
                                                           dlor_error *err);
/* Writes the dense weights rebuilt from the factors as safetensors, under the
 * source's names, shapes, dtypes and metadata and in its order: a file that
 * replaces the source wherever it is loaded. */
DLOR_API DLOR_NODISCARD dlor_status dlor_write_dense_safetensors(const dlor_conversion *c, const char *path,
                                                                 dlor_error *err);
/* An ONNX source only: writes the source model with each converted layer's
 * MatMul or Gemm replaced by its DLoR computation, every other node kept
 * (DLOR_E_USAGE for a source of another format). */
DLOR_API DLOR_NODISCARD dlor_status dlor_write_onnx(const dlor_conversion *c, const char *path, dlor_error *err);

/* Joins the parts of a conversion split with dlor convert --shard I/N (all of
 * them, any order) into the file one conversion would have written. */
DLOR_API DLOR_NODISCARD dlor_status dlor_merge(const char *const *parts, size_t nparts, const char *path,
                                               unsigned flags, dlor_error *err);

/* ---- verifying -------------------------------------------------------------------- */

typedef struct dlor_verify_options {
    double tol;               /* per-layer relative error accepted (network form: end to end); < 0: defaults */
    const char *inputs;       /* end-to-end inputs (.npy; a model of token ids: a .npz of input_ids,
                                 attention_mask, token_type_ids), or NULL */
    const char *labels;       /* their integer labels (.npy), or NULL */
    uint64_t samples;         /* seeded random end-to-end inputs when inputs is NULL (0: 256) */
    uint64_t seed;
    const char *activation;   /* a network form from nn.Sequential names: the dense model's activation */
    double min_cosine;        /* with inputs: the least per-sample cosine of dense and DLoR outputs accepted
                                 (NaN: 0.99 where compressed layers have no tolerance of their own, else none) */
    double max_rel_error;     /* with inputs: the largest end-to-end relative error accepted (NaN: none) */
} dlor_verify_options;

/* What dlor_verify measured. */
typedef struct dlor_report dlor_report;

typedef struct dlor_layer_check {
    const char *name;
    const char *form;         /* "mul", "add", "lowrank", "svd", "mul-compressed", "dense" */
    uint64_t rows, cols, rank;
    double rel_error;         /* ||W - W_hat||_F / ||W||_F */
    double max_abs_error;
    double tol;               /* NaN: held to no tolerance (a compressed layer's target was not a tol) */
    int pass;
    uint64_t params_dense, params_dlor;
} dlor_layer_check;

DLOR_API void dlor_verify_options_init(dlor_verify_options *o);
/* Rebuilds every layer of dlor_path from its factors (in double) and compares it
 * with the dense weights of dense_path; checks the carried tensors bit for bit;
 * with a graph, runs both models end to end. opts NULL: the defaults. A layer
 * over its tolerance is a finding (dlor_report_pass is 0), not an error. */
DLOR_API DLOR_NODISCARD dlor_status dlor_verify(const char *dense_path, const char *dlor_path,
                                                const dlor_verify_options *opts, dlor_report **out, dlor_error *err);
DLOR_API void dlor_report_free(dlor_report *r);
DLOR_API int dlor_report_pass(const dlor_report *r);
DLOR_API double dlor_report_max_rel_error(const dlor_report *r);
DLOR_API double dlor_report_max_abs_error(const dlor_report *r);
/* End to end: samples compared (0: not run) and the largest output errors. */
DLOR_API uint64_t dlor_report_samples(const dlor_report *r);
DLOR_API double dlor_report_e2e_max_abs_error(const dlor_report *r);
DLOR_API size_t dlor_report_layer_count(const dlor_report *r);
DLOR_API DLOR_NODISCARD dlor_status dlor_report_layer(const dlor_report *r, size_t i, dlor_layer_check *out,
                                                      dlor_error *err);
/* Problems found (a missing or differing tensor), one line each. */
DLOR_API size_t dlor_report_problem_count(const dlor_report *r);
DLOR_API const char *dlor_report_problem(const dlor_report *r, size_t i);
/* The report as JSON (the format of dlor verify --json). */
DLOR_API DLOR_NODISCARD dlor_status dlor_report_write_json(const dlor_report *r, FILE *out, dlor_error *err);

/* ---- running ---------------------------------------------------------------------- */

/* A runnable model: a .dlor file, or a dense source whose graph is known
 * (activation as for dlor_open), run by the runtime in float32. */
typedef struct dlor_runner dlor_runner;

DLOR_API DLOR_NODISCARD dlor_status dlor_runner_open(const char *path, const char *activation, dlor_runner **out,
                                                     dlor_error *err);
DLOR_API void dlor_runner_free(dlor_runner *r);
/* Features of a sample and of the first output (0 inputs: the model takes token ids). */
DLOR_API uint64_t dlor_runner_input_dim(const dlor_runner *r);
DLOR_API uint64_t dlor_runner_output_dim(const dlor_runner *r);
/* y[n x output_dim] = model(x[n x input_dim]), in batches of 'batch' on 'threads' threads. */
DLOR_API DLOR_NODISCARD dlor_status dlor_runner_forward(const dlor_runner *r, const float *x, uint64_t n,
                                                        size_t batch, unsigned threads, float *y, dlor_error *err);

#ifdef __cplusplus
}
#endif
#endif
