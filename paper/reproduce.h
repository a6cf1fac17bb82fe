/* reproduce.h - dlor reproduce: the paper's sawtooth experiments (Appendix H; Figures 2
 * and 3, Table 1, Experiment 3) computed with dlor's own code, kept as plain data that a
 * report renderer can draw: the text tables, the JSON, the CSV files and the HTML page
 * are views of this struct. The paper's module (paper/, library dlor_paper) is linked
 * by the command alone; the core library knows nothing of it.
 *
 * The files: report.c (the experiments run in order, targets, notes), experiments.c
 * (the h sweeps, Figures 2a/b, 3a/b), experiments_h2.c (Table 1, Experiment 3),
 * report_text.c, report_json.c, report_csv.c, report_html.c (the views); the H.2 models
 * themselves are in sawtooth.h.
 *
 *   curves    Figures 2a / 3a: max abs error of the network form to the dense MLP as a
 *             function of h, per construction / basis / alpha / beta (/ seed), with the
 *             float64 runtime on float64 factors and the float32 runtime on float32
 *             factors; the h 'convert --form network --h auto' picks for each precision.
 *   approx    Figures 2b / 3b: the sawtooth, the dense MLP and the network form at a few
 *             h on a grid of x.
 *   table1    Table 1: parameter counts of Appendix H.2's architectures (built as
 *             runnable graphs and counted) beside the paper's figures.
 *   spectral  Experiment 3: singular values of a trained deep DLoR layer alpha I + U V^T
 *             split into the identity's and the low-rank part's contributions.
 *   targets   the accuracy figures the tool is held to, measured.
 *   notes     where our numbers differ from the paper's claims, and why.
 */
#ifndef DLOR_REPRODUCE_H
#define DLOR_REPRODUCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dlor_error.h"

typedef struct dlor_repro_point {
    double h;
    double err_f64;               /* f64 factors, dlor_model_forward_f64 */
    double err_f32;               /* f32 factors, dlor_model_forward (float32) */
} dlor_repro_point;

typedef struct dlor_repro_best {
    double h, err;                /* NAN when not computed */
} dlor_repro_best;

typedef struct dlor_repro_curve {
    char label[96];               /* e.g. "deep, Schur basis, alpha = 0.8" */
    const char *construction;     /* "deep" or "wide" */
    const char *basis;            /* "schur", "random" (deep) or "svd" (wide) */
    char alpha[32];               /* deep: "0.8", "auto", "1"; wide: "0" */
    const char *beta;             /* wide: "paper" or "paired"; deep: NULL */
    uint64_t seed;                /* random basis */
    int64_t rank;
    double c;
    double paper_h_min, paper_h_max; /* the range of h the paper plots */
    size_t npoints;
    dlor_repro_point *points;     /* the grid, largest h first */
    dlor_repro_best grid_min_f64, grid_min_f32;
    dlor_repro_best auto_f64, auto_f32; /* the searched optimum per precision */
    int failed;                   /* the construction failed; note says why */
    char note[640];
} dlor_repro_curve;

typedef struct dlor_repro_series {
    char label[64];
    double h;
    double *y;                    /* one value per x */
    double max_abs_to_dense, max_abs_to_target;
} dlor_repro_series;

typedef struct dlor_repro_approx {
    const char *construction;     /* "deep" or "wide" */
    char variant[64];
    size_t n;
    double *x, *target, *dense;   /* the sawtooth and the dense MLP on the grid */
    size_t nseries;
    dlor_repro_series *series;
} dlor_repro_approx;

typedef struct dlor_repro_table1_row {
    int64_t k, rank, dense_width;
    uint64_t dense, deep, wide;   /* computed; wide with the outer bias Table 1 counts */
    uint64_t wide_formula;        /* wide as H.2's formula reads (no outer bias) */
    uint64_t paper_dense, paper_deep, paper_wide;
} dlor_repro_table1_row;

typedef struct dlor_repro_spectral {
    const char *layer;            /* the trained layer, e.g. "deep.1" (the second) */
    int64_t n, rank, k, epochs;
    double alpha;
    double train_mse, test_mse;   /* the trainer's own forward pass */
    double test_mse_runtime;      /* the same model through the .dlor runtime (f64) */
    double *sigma, *lowrank, *identity; /* n each, largest sigma first */
    double *U, *V;                /* n x rank, row-major */
} dlor_repro_spectral;

typedef struct dlor_repro_target {
    const char *name;
    double value, limit;
    double h;                     /* where it was measured (NAN: not an h figure) */
    int pass;
} dlor_repro_target;

#define DLOR_REPRO_MAX_TARGETS 8

typedef struct dlor_repro_report {
    const char *sample_dir;
    uint64_t test_samples;
    double dense_test_mse;        /* the sample MLP against the sawtooth on x_test */
    size_t ncurves;
    dlor_repro_curve *curves;
    size_t napprox;
    dlor_repro_approx *approx;
    size_t ntable1;
    dlor_repro_table1_row table1[5];
    dlor_repro_spectral spectral;
    size_t ntargets;
    dlor_repro_target targets[DLOR_REPRO_MAX_TARGETS];
    size_t nnotes;
    char **notes;
} dlor_repro_report;

typedef struct dlor_repro_cfg {
    const char *sample_dir;       /* holds sawtooth.safetensors, x_test.npy, ... */
    int64_t rank;                 /* 6, as H.1 */
    double c;                     /* 0.5, as H.1 */
    double step;                  /* grid step in decades of h (0.25) */
    int64_t seeds;                /* random-basis seeds 0 .. seeds-1 (5) */
    int64_t epochs;               /* training epochs for the spectral split (5000) */
} dlor_repro_cfg;

/* The files the sample folder must hold: the model, then x_train, y_train, x_test,
 * y_test. */
#define DLOR_REPRO_NSAMPLE_FILES 5
extern const char *const dlor_repro_sample_files[DLOR_REPRO_NSAMPLE_FILES];

void dlor_repro_cfg_default(dlor_repro_cfg *cfg);
/* Runs every experiment on cfg->sample_dir; on failure r is left empty (freed). */
dlor_status dlor_repro_compute(const dlor_repro_cfg *cfg, dlor_repro_report *r, dlor_error *err);
void dlor_repro_free(dlor_repro_report *r);

/* ---- views ---------------------------------------------------------------------------- */

/* The text tables and the JSON document. */
void dlor_repro_print(FILE *f, const dlor_repro_report *r);
void dlor_repro_json(FILE *f, const dlor_repro_report *r);
/* The report as one self-contained HTML page (html_report.h); returns nonzero when
 * the page is incomplete for lack of memory (the caller drops it). */
int dlor_repro_html(FILE *f, const dlor_repro_report *r);

/* The files 'reproduce --out DIR' writes: report.txt, report.json and one CSV file per
 * figure, each with the function that writes it. */
typedef void (*dlor_repro_writer)(FILE *f, const dlor_repro_report *r);
typedef struct dlor_repro_file {
    const char *name;
    dlor_repro_writer write;
} dlor_repro_file;
#define DLOR_REPRO_NOUT_FILES 6
extern const dlor_repro_file dlor_repro_out_files[DLOR_REPRO_NOUT_FILES];

/* The report written to path by fn, or as the HTML page (dlor_repro_html), whole
 * or not at all ("-": standard output, staged whole). */
dlor_status dlor_repro_write(const char *path, dlor_repro_writer fn, const dlor_repro_report *r, dlor_error *err);
dlor_status dlor_repro_write_html(const char *path, const dlor_repro_report *r, dlor_error *err);
/* The files of dlor_repro_out_files into the folder dir (made when missing). */
dlor_status dlor_repro_write_out(const char *dir, const dlor_repro_report *r, dlor_error *err);

#endif
