/* model_load.h - getting a runnable model for the commands: a .dlor image, or
 * a dense source whose graph is known, packed into an in-memory image so
 * dense and DLoR models run through the same runtime code. */
#ifndef DLOR_MODEL_LOAD_H
#define DLOR_MODEL_LOAD_H

#include "dlor_container.h"
#include "dlor_fileio.h"
#include "dlor_runtime.h"

typedef struct dlor_loaded {
    unsigned char *image;  /* 64-byte aligned, owned (NULL when mapped) */
    size_t len;
    dlor_mapped_file map;  /* an uncompressed .dlor file runs from its mapping */
    dlor_model model;
    void *plan;            /* the model's plan when it needs a buffer (dlor_host.h), owned */
    int is_dlor;           /* the file was a .dlor */
} dlor_loaded;

/* Resolves the graph of a dense source: the reader's own (ONNX), else the
 * "dlor.graph" metadata, else nn.Sequential names with 'activation' (may be
 * NULL). On success g holds the graph and *source names where it came from;
 * when none can be had g stays empty and 'why' says why. */
dlor_status dlor_resolve_graph(const char *path, const dlor_tensor_list *t, dlor_graph *g,
                               const char *activation, const char **source, char *why, size_t why_len,
                               dlor_error *err);

/* The message for an --activation value that names no activation (printf format, one %s). */
#define DLOR_ACTIVATION_OPT_MSG                                                                              \
    "--activation must be relu, leaky_relu, sigmoid, tanh, softplus, gelu, gelu_tanh, silu or identity, "    \
    "not '%s'"

/* Opens a .dlor file or a dense source (with its graph) for running. */
dlor_status dlor_load_runnable(const char *path, const char *activation, dlor_loaded *out, dlor_error *err);
void dlor_loaded_free(dlor_loaded *l);

/* The inputs of a model of token ids (int64, malloc'd; mask and type_ids NULL
 * when not given): n sequences of seq tokens. */
typedef struct dlor_tokens {
    int64_t *ids, *mask, *type_ids;
    uint64_t n, seq;
} dlor_tokens;

/* Reads token ids for m: a .npz holding input_ids (int32 or int64 [N, S]) and
 * optionally attention_mask and token_type_ids of the same shape (each looked
 * up by the name of the model's input, then by those names), or a .npy of ids.
 * Every id is checked against the tables it indexes, the length against the
 * position table, the mask for 0 and 1: one line naming the file and field. */
dlor_status dlor_load_tokens(const char *path, const dlor_model *m, dlor_tokens *tok, dlor_error *err);
void dlor_tokens_free(dlor_tokens *tok);

/* Reads a .npy of float samples: [N, features], [features] (one sample), or
 * [N, d1, ..., dk] with d1 ... dk = features (samples in a model's declared
 * input shape, flattened in C order). Returns float32 data (malloc'd) and N.
 * Checks the feature count against 'features'. */
dlor_status dlor_load_inputs(const char *path, uint64_t features, float **x, uint64_t *n, dlor_error *err);
/* The same, in double precision (no rounding to float32). */
dlor_status dlor_load_inputs_f64(const char *path, uint64_t features, double **x, uint64_t *n, dlor_error *err);
/* The NaN and infinite values among n x features inputs (float32 xf or
 * double xd, the other NULL): how many, in how many samples, and where the
 * first is. Returns the count of values. */
typedef struct dlor_nonfinite {
    uint64_t values, samples, first_sample, first_feature;
} dlor_nonfinite;
size_t dlor_count_nonfinite(const float *xf, const double *xd, uint64_t n, uint64_t features, dlor_nonfinite *out);

#endif
