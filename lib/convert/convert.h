/* convert.h - the conversion's library side that the command and the public
 * API share: storing factored layers, the graph's metadata, safetensors
 * emission, batched runs, and the names of the container's codes. */
#ifndef DLOR_CONVERT_H
#define DLOR_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_container.h"
#include "dlor_error.h"
#include "dlor_factor.h"
#include "dlor_runtime.h"

#ifndef DLOR_VERSION_STRING
#define DLOR_VERSION_STRING "0.0.0"
#endif

/* What a conversion tells as it goes, each as one line of text without the
 * newline, of one of these kinds; the library itself writes nothing to the
 * standard streams, the caller decides where lines go. */
enum {
    DLOR_LINE_INFO = 0,       /* when verbose, one line per layer done; a phase's closing line */
    DLOR_LINE_NOTE = 1,       /* a note (a tensor carried over, a --rank that did not fit) */
    DLOR_LINE_PLAN = 2,       /* the plan (a table: a dry run's result, or shown before long work) */
    DLOR_LINE_PROGRESS = 3    /* a progress line of a long phase, superseded by the next line (a terminal
                                 may overwrite it in place) */
};
/* The lines, and a question before each layer starts, whose nonzero answer
 * stops the conversion (DLOR_E_STOPPED). Any member may be NULL; so may the
 * hooks. line and poll may be called from worker threads, one call at a time. */
typedef struct dlor_convert_hooks {
    int verbose;
    void (*line)(void *ctx, int kind, const char *text);
    int (*poll)(void *ctx, size_t done, size_t total, const char *layer);
    void *ctx;
} dlor_convert_hooks;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void dlor_hooks_line(const dlor_convert_hooks *h, int kind, const char *fmt, ...);
/* DLOR_OK, or DLOR_E_STOPPED (err set, naming the layer) when poll asks to stop. */
dlor_status dlor_hooks_poll(const dlor_convert_hooks *h, size_t done, size_t total, const char *layer,
                            dlor_error *err);

/* Runs n samples through a model in batches (scratch allocated here), each batch
 * on a team of 'threads' workers (a dlor_pool) when threads > 1. */
dlor_status dlor_run_batches(const dlor_model *m, const float *x, uint64_t n, size_t batch, unsigned threads,
                             float *y, dlor_error *err);

/* The model on n samples x in double precision, in batches, one thread, into
 * y [n, outputs] (dlor run --dtype f64). */
dlor_status dlor_run_f64(const dlor_model *m, const double *x, uint64_t n, size_t batch, double *y, dlor_error *err);

/* dlor run's work on a file of inputs: any model through dlor_model_run (a
 * model of token ids, in batches of sequences, or of features), the output
 * named select (NULL: the first) written to out as .npy [N, F] or [N, S, F],
 * in float32 or (f64) double. */
dlor_status dlor_run_graph_file(const dlor_model *m, const char *in, const char *out, const char *select, size_t batch,
                                unsigned threads, int f64, dlor_error *err);
/* A model of features on n inputs already loaded, x in float32 or, with f64,
 * xd in double (the float64 pass, one thread), its outputs [n, out_dim]
 * written to out as .npy in the same precision. */
dlor_status dlor_run_features_file(const dlor_model *m, const float *x, const double *xd, uint64_t n, size_t batch,
                                   unsigned threads, int f64, const char *out, dlor_error *err);

/* Writes the factors (and carried tensors, and src's metadata; src may be NULL)
 * as safetensors; see emit.c for the names. */
dlor_status dlor_emit_safetensors(const char *path, const dlor_container *c, const dlor_tensor_list *src,
                                  dlor_error *err);

/* What a layer-form conversion writes (outputs.c): the .dlor file and, beside it,
 * the files for use elsewhere (NULL: not asked for). */
typedef struct dlor_convert_outputs {
    const char *dlor;        /* the .dlor file ("-": standard output) */
    int deflate;             /* one zlib stream after the preamble */
    const char *emit;        /* the factors as safetensors (dlor_emit_safetensors) */
    const char *emit_dense;  /* the dense weights rebuilt under the source's names (dlor_emit_dense) */
    const char *emit_onnx;   /* the ONNX source with its converted layers rewritten (dlor_onnx_rewrite) */
} dlor_convert_outputs;

/* Writes the outputs of c, converted from src (read from the file in). The emitted
 * files are written under temporary names and renamed into place only once the
 * .dlor file is written, so a run that fails leaves none of them behind; errors
 * name the file asked for. */
dlor_status dlor_convert_write_outputs(const char *in, const dlor_tensor_list *src, const dlor_container *c,
                                       const dlor_convert_outputs *o, dlor_error *err);

/* Convert's last step for a model: records where the graph came from and the
 * runtime's scratch need for a batch of one, or why there is no graph (why). */
dlor_status dlor_convert_graph_metadata(dlor_container *c, const char *source, const char *why,
                                        dlor_error *err);

/* Adds f's U^T and V^T (encoded in 'storage') and its layer record for tensor t. */
/* An add layer W = B + P Q^T (f: add, one factor) whose base B, 'base' of
 * base_nbytes bytes in base_dtype (owned by c from here on, freed by it on
 * failure too), is stored as '<name>.dlor.B' (DLOR_FORMAT.md 7.2, 1.7). */
dlor_status dlor_store_with_base(dlor_container *c, const dlor_tensor *t, const dlor_factored *f, dlor_dtype storage,
                                 unsigned char *base, uint64_t base_nbytes, dlor_dtype base_dtype, dlor_error *err);
dlor_status dlor_store_factored(dlor_container *c, const dlor_tensor *t, const dlor_factored *f, dlor_dtype storage,
                                uint64_t seed, dlor_error *err);

/* Adds the tensors and layers of part, a layer or group of layers converted on
 * its own, to c; the tensors point into part's bytes, which must outlive c's use. */
dlor_status dlor_store_part(dlor_container *c, const dlor_container *part, dlor_error *err);

/* Names for method / basis codes of the container ("mul", "schur", ...). */
const char *dlor_method_name(int method);
const char *dlor_basis_name(int basis);

#endif
