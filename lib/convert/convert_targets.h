/* convert_targets.h - the steps of 'dlor convert' between reading the model and
 * factoring it: per-layer targets (options, --plan, --set), the plan with its
 * estimates and the checks against the machine (--dry-run, --force), and the
 * conversion of layers in groups of equal targets. */
#ifndef DLOR_CONVERT_TARGETS_H
#define DLOR_CONVERT_TARGETS_H

#include <stddef.h>
#include <stdint.h>

#include "convert.h"
#include "convert_plan.h"
#include "convert_spec.h"
#include "dlor_container.h"
#include "dlor_graph.h"

typedef struct dlor_convert_request {
    const char *in, *out;           /* out may be NULL with dry_run */
    const char *plan_in, *plan_out; /* --plan, --plan-out (NULL: not given) */
    const char *const *sets;        /* --set values, in order */
    int nsets;
    int dry_run, force;
    int show_plan;                  /* tell the plan before the work */
    dlor_layer_spec base;           /* every layer's spec from the options */
    int have_budget;
    double budget;
    int jobs;
    const char *calib;              /* NULL: none */
    int bits, allocate_uniform;     /* --budget-bits, --allocate uniform */
    const dlor_convert_hooks *hooks; /* where notes and refusals go (NULL: nowhere) */
} dlor_convert_request;

/* Per-tensor specs (specs has src->count entries): base for every selected
 * tensor; with --plan exactly the plan's layers are selected (a name the
 * model lacks, or a tensor that cannot be factored, is a usage error naming
 * the line); then --set rules, in order. Layers whose method is 'dense' are
 * unselected. *uniform is set when every selected layer has the base spec
 * (no rule changed anything), *nselected to the selected count. */
dlor_status dlor_convert_specs(const dlor_convert_request *rq, const dlor_tensor_list *src, const dlor_graph *g,
                               int *selected, size_t *nselected, dlor_layer_spec *specs, int *uniform,
                               dlor_error *err);

/* Makes the plan (selected[i]: 1 here, 2 another shard's), tells the hooks
 * the layers that grow (notes, always) and, with dry_run or show_plan, the
 * plan (DLOR_LINE_PLAN lines), writes --plan-out, and checks the machine. Returns 0 to go on,
 * 1 when a dry run is done (nothing more to do), or -1 with err set (a
 * refusal: DLOR_E_USAGE, saying what the machine lacks). */
int dlor_convert_plan_gate(const dlor_convert_request *rq, const dlor_tensor_list *src, const dlor_graph *g,
                           const int *selected, const dlor_layer_spec *specs, dlor_error *err);

/* Converts one group of layers of equal spec (those with selected[i] != 0)
 * into 'part'; kept and capped are the run's comma-separated lists of layers
 * kept dense and with a capped rank (65536 bytes each) to append to. */
typedef dlor_status (*dlor_convert_group_fn)(void *ctx, const dlor_layer_spec *spec, const int *selected,
                                             dlor_container *part, dlor_error *err);

/* Runs fn once per group of equal specs (in the order their first layers
 * come in src) and moves every tensor and layer of the groups' parts into c.
 * The parts own what c then points to: free them (dlor_container_free, then
 * free(*parts)) after c is written. */
dlor_status dlor_convert_groups(const dlor_tensor_list *src, const int *selected, const dlor_layer_spec *specs,
                                dlor_convert_group_fn fn, void *ctx, dlor_container *c, dlor_container **parts,
                                size_t *nparts, dlor_error *err);

/* The layers' targets as metadata text (one plan line per converted layer,
 * in name order, '\n' between), for dlor.layer_targets; malloc'd. */
dlor_status dlor_convert_targets_text(const dlor_tensor_list *src, const int *selected, const dlor_layer_spec *specs,
                                      char **text, dlor_error *err);

/* From a dlor.layer_targets text: the target of layer 'name' as a spec
 * (returns 1), or 0 when the text does not list it. */
int dlor_convert_target_of(const char *text, const char *name, dlor_layer_spec *s);

#endif
