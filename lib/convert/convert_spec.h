/* convert_spec.h - per-layer targets of one conversion: the command's options
 * for every layer, overridden by a plan file (--plan) and by --set rules.
 *
 * A rule, 'GLOB:key=value[,key=value...]' (--set, repeatable, later rules
 * win), sets keys of every converted layer whose name matches GLOB (fnmatch).
 * A plan file holds one layer per line, 'NAME key=value ...'; '#' starts a
 * comment, blank lines are skipped. Keys: method (mul, add, lowrank, svd,
 * auto, dense: carried over unchanged), rank, tol, dtype (f32, f64, f16,
 * bf16, q8, q4: as --dtype). rank and tol are targets: setting one clears the other. A
 * compressed method without rank or tol takes the run's --budget. */
#ifndef DLOR_CONVERT_SPEC_H
#define DLOR_CONVERT_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"
#include "dlor_tensor.h"

typedef enum dlor_form_kind {
    DLOR_FORM_MUL = 1,
    DLOR_FORM_ADD = 2,
    DLOR_FORM_LOWRANK = 3,
    DLOR_FORM_SVD = 4,
    DLOR_FORM_AUTO = 5,
    DLOR_FORM_DENSE = 6,    /* not converted: carried over */
    DLOR_FORM_QLR = 7       /* a quantized base (dtype) plus a low-rank correction */
} dlor_form_kind;

#define DLOR_SPEC_METHOD 1u
#define DLOR_SPEC_RANK 2u
#define DLOR_SPEC_TOL 4u
#define DLOR_SPEC_DTYPE 8u

typedef struct dlor_layer_spec {
    dlor_form_kind form;
    int64_t rank;           /* > 0: the rank asked for (exact forms: per factor; compressed: of P Q^T) */
    double tol;             /* > 0: compressed, per-layer error target */
    int budget;             /* compressed without rank or tol: takes part in --budget */
    dlor_dtype dtype;       /* storage */
} dlor_layer_spec;

typedef struct dlor_spec_rule {
    char *glob;             /* --set: a glob; plan file: the layer's exact name */
    unsigned keys;          /* DLOR_SPEC_* bits set by the rule */
    dlor_layer_spec v;
    int line;               /* plan file line (1-based); 0 for --set */
} dlor_spec_rule;

typedef struct dlor_spec_rules {
    dlor_spec_rule *r;
    size_t n;
} dlor_spec_rules;

void dlor_spec_rules_free(dlor_spec_rules *rs);

/* "mul", ..., "dense" -> form; 0 when unknown. */
dlor_form_kind dlor_form_from_name(const char *s);
const char *dlor_form_name(dlor_form_kind f);
int dlor_form_is_compressed(dlor_form_kind f);

/* Appends the rule of one --set value. DLOR_E_USAGE naming the value when it
 * is malformed or names an unknown key. */
dlor_status dlor_spec_parse_set(const char *arg, dlor_spec_rules *rs, dlor_error *err);

/* Appends the lines of a plan file (one rule per layer, exact names).
 * DLOR_E_USAGE "FILE:LINE: ..." for an unknown key, a bad value, a line
 * without a name or a layer listed twice; DLOR_E_IO when unreadable. */
dlor_status dlor_spec_read_plan(const char *path, dlor_spec_rules *rs, dlor_error *err);
/* The same from the len bytes of text (path names it in messages). */
dlor_status dlor_spec_parse_plan(const char *text, size_t len, const char *path, dlor_spec_rules *rs,
                                 dlor_error *err);

/* Applies rules to s (a layer's spec from the options) for the layer 'name',
 * in order; matched (may be NULL, else rs->n flags) marks the rules that named it. */
void dlor_spec_apply(const dlor_spec_rules *rs, const char *name, dlor_layer_spec *s, int *matched);

/* Checks a resolved spec; DLOR_E_USAGE naming the layer when its keys do not
 * go together (tol on an exact form, a compressed form with no target and no
 * budget). */
dlor_status dlor_spec_check(const char *name, const dlor_layer_spec *s, int have_budget, dlor_error *err);

/* One plan line for a layer ("NAME method=... [rank=R] [tol=T] dtype=D"),
 * into buf; returns buf. */
const char *dlor_spec_line(const char *name, const dlor_layer_spec *s, char *buf, size_t len);

/* Do a and b convert alike (same form, targets and dtype)? */
int dlor_spec_same(const dlor_layer_spec *a, const dlor_layer_spec *b);

#endif
