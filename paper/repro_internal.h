/* repro_internal.h - what the files of 'dlor reproduce' share (reproduce.h is what the
 * command sees): the sawtooth sample loaded once, and one function per experiment, each
 * filling its part of the report. */
#ifndef DLOR_REPRO_INTERNAL_H
#define DLOR_REPRO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_graph.h"
#include "dlor_tensor.h"
#include "network.h"
#include "reproduce.h"

typedef struct dlor__repro_sample {
    dlor_tensor_list src;
    dlor_graph g;
    double *xtr, *ytr, *xte, *yte;
    uint64_t ntr, nte;
    dlor_net_ref ref;             /* x_test and the dense MLP's outputs on it */
    const dlor_repro_cfg *cfg;
} dlor__repro_sample;

/* The files of cfg->sample_dir (dlor_repro_sample_files): the model, its graph from its
 * nn.Sequential names with softplus, the train and test splits, and the dense MLP's
 * outputs on x_test. dlor__repro_sample_free releases it after a load, failed or not. */
dlor_status dlor__repro_sample_load(const dlor_repro_cfg *cfg, dlor__repro_sample *s, dlor_error *err);
void dlor__repro_sample_free(dlor__repro_sample *s);

/* Figures 2a / 3a (experiments.c): r->curves. idx gets the indices of the deep Schur
 * curve with alpha 1, the wide curve with the paper's beta and the paired one. */
dlor_status dlor__repro_curves(const dlor__repro_sample *s, dlor_repro_report *r, size_t idx[3], dlor_error *err);
/* Figures 2b / 3b (experiments.c): r->approx, deep and wide at h = 1e-1, 1e-2, 1e-3 and
 * at auto_h[0] (deep), auto_h[1] (wide). */
dlor_status dlor__repro_approx(const dlor__repro_sample *s, dlor_repro_report *r, const double auto_h[2],
                               dlor_error *err);
/* Table 1 (experiments_h2.c): r->table1. */
dlor_status dlor__repro_table1(dlor_repro_report *r, dlor_error *err);
/* Experiment 3 (experiments_h2.c): the deep H.2 model trained on the sample, its second
 * layer split. */
dlor_status dlor__repro_spectral(const dlor__repro_sample *s, dlor_repro_spectral *sp, dlor_error *err);

#endif
