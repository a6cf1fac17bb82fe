/* run.c - convert's targets, plan gate and groups (convert_targets.h). */
#define _POSIX_C_SOURCE 200809L
#include "convert_targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert_roles.h"
#include "dlor_hf.h"
#include "dlor_readers.h"

/* An exact form (mul, add) asked for in q8 or q4 is allowed, but it is exact no
 * more: the rounding of its factors adds up through them (MiniLM's embeddings
 * at cosine 0.08 with --dtype q4). One line says so and what stores the layers
 * themselves in that dtype. */
static void warn_quantized_exact(const dlor_convert_request *rq, const dlor_tensor_list *src, const int *selected,
                                 const dlor_layer_spec *specs)
{
    size_t n = 0;
    int mul = 0, add = 0;
    dlor_dtype dt = DLOR_DT_F32;
    for (size_t i = 0; i < src->count; i++) {
        const dlor_layer_spec *s = &specs[i];
        if (!selected[i] || !dlor_dtype_is_quant(s->dtype)) continue;
        if (s->form != DLOR_FORM_MUL && s->form != DLOR_FORM_ADD) continue;
        if (!n) dt = s->dtype;
        n++;
        mul |= s->form == DLOR_FORM_MUL;
        add |= s->form == DLOR_FORM_ADD;
    }
    if (!n) return;
    const char *q = dlor_dtype_name(dt);
    dlor_hooks_line(rq->hooks, 1, "warning: %zu layer%s take%s an exact form (%s) stored in %s: quantized factors "
                    "are not exact, their rounding errors add up through the factors and can ruin the model; to "
                    "store the layers themselves in %s, give a target no smaller form meets (--tol 1e-9 --dtype %s) "
                    "or a bit budget (--budget-bits B)", n, n == 1 ? "" : "s", n == 1 ? "s" : "",
                    mul && add ? "mul, add" : mul ? "mul" : "add", q, q, q);
}

dlor_status dlor_convert_specs(const dlor_convert_request *rq, const dlor_tensor_list *src, const dlor_graph *g,
                               int *selected, size_t *nselected, dlor_layer_spec *specs, int *uniform,
                               dlor_error *err)
{
    dlor_spec_rules plan = {NULL, 0}, sets = {NULL, 0};
    dlor_status st = DLOR_OK;
    *uniform = 1;
    if (rq->plan_in) st = dlor_spec_read_plan(rq->plan_in, &plan, err);
    for (int i = 0; st == DLOR_OK && i < rq->nsets; i++) st = dlor_spec_parse_set(rq->sets[i], &sets, err);
    if (st == DLOR_OK && rq->plan_in) {
        /* the plan is the selection: every line names a layer of the model */
        for (size_t i = 0; i < src->count; i++) selected[i] = 0;
        for (size_t r = 0; st == DLOR_OK && r < plan.n; r++) {
            const dlor_spec_rule *ru = &plan.r[r];
            const dlor_tensor *t = dlor_tensor_list_find(src, ru->glob);
            const char *why = NULL;
            if (!t) why = "is not a tensor of the model";
            else if (t->ndim != 2 || !dlor_dtype_is_float(t->dtype) || t->nelem == 0) why = "is not a 2-D float tensor";
            else if (dlor_graph_is_table(g, t->name)) why = "is a table an embedding lookup of the graph reads";
            if (why) {
                st = dlor_fail(err, DLOR_E_USAGE, "%s:%d: '%s' %s (%s)", rq->plan_in, ru->line, ru->glob, why, rq->in);
                break;
            }
            selected[t - src->items] = 1;
        }
    }
    int *used = st == DLOR_OK ? calloc(sets.n ? sets.n : 1, sizeof *used) : NULL;
    if (st == DLOR_OK && !used) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    dlor_layer_spec base = rq->base;
    base.budget = dlor_form_is_compressed(base.form) && base.rank <= 0 && base.tol <= 0 && rq->have_budget;
    size_t n = 0;
    for (size_t i = 0; st == DLOR_OK && i < src->count; i++) {
        if (!selected[i]) continue;
        dlor_layer_spec *s = &specs[i];
        *s = base;
        dlor_spec_apply(&plan, src->items[i].name, s, NULL);
        dlor_spec_apply(&sets, src->items[i].name, s, used);
        /* a layer made exact by a rule drops the run's tol target */
        if (!dlor_form_is_compressed(s->form) && base.tol > 0 && s->tol == base.tol) s->tol = 0;
        s->budget = dlor_form_is_compressed(s->form) && s->rank <= 0 && s->tol <= 0 && rq->have_budget;
        st = dlor_spec_check(src->items[i].name, s, rq->have_budget, err);
        if (st != DLOR_OK) break;
        if (rq->bits && s->dtype != base.dtype) { /* the allocation would drop it without a word */
            st = dlor_fail(err, DLOR_E_USAGE, "layer '%s': a rule (--set or --plan) gives it dtype %s, but "
                           "--budget-bits chooses each layer's dtype; drop the rule's dtype, or use --budget F "
                           "with --dtype", src->items[i].name, dlor_dtype_name(s->dtype));
            break;
        }
        if (!dlor_spec_same(s, &base)) *uniform = 0;
        if (s->form == DLOR_FORM_DENSE) {
            selected[i] = 0;
            continue;
        }
        n++;
    }
    if (st == DLOR_OK && rq->plan_in) *uniform = 0;
    if (st == DLOR_OK) warn_quantized_exact(rq, src, selected, specs);
    /* a rule that names no layer is most likely a mistyped glob */
    for (size_t r = 0; st == DLOR_OK && r < sets.n; r++)
        if (!used[r])
            dlor_hooks_line(rq->hooks, 1, "note: --set '%s:...' matches no layer converted from %s", sets.r[r].glob,
                            rq->in);
    free(used);
    dlor_spec_rules_free(&plan);
    dlor_spec_rules_free(&sets);
    *nselected = n;
    return st;
}

/* The rows the calibration file holds: tokens of its input_ids (or its first
 * array of integers) [N, S], or samples of its features [N, ...]; when it does
 * not read, its bytes / 8 (it is checked when it is used). */
static uint64_t calib_rows_of(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return 0;
    uint64_t rows = (uint64_t)sb.st_size / 8;
    size_t len = strlen(path);
    int npz = len > 4 && strcmp(path + len - 4, ".npz") == 0;
    dlor_tensor_list l;
    dlor_tensor_list_init(&l);
    dlor_error err;
    if ((npz ? dlor_read_npz(path, &l, &err) : dlor_read_npy(path, &l, &err)) == DLOR_OK && l.count) {
        const dlor_tensor *t = dlor_tensor_list_find(&l, "input_ids");
        if (!t) t = &l.items[0];
        int ids = t->dtype == DLOR_DT_I32 || t->dtype == DLOR_DT_I64;
        if (t->ndim >= 1) rows = ids && t->ndim == 2 ? t->dims[0] * t->dims[1] : t->ndim == 1 ? 1 : t->dims[0];
    }
    dlor_tensor_list_free(&l);
    return rows;
}

int dlor_convert_plan_gate(const dlor_convert_request *rq, const dlor_tensor_list *src, const dlor_graph *g,
                           const int *selected, const dlor_layer_spec *specs, dlor_error *err)
{
    struct stat sb;
    char wbuf[4096];
    dlor_error werr;
    const char *wpath = dlor_hf_weights_path(rq->in, wbuf, sizeof wbuf, &werr); /* a folder: its weights file */
    uint64_t src_bytes = wpath && stat(wpath, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    uint64_t calib_rows = rq->calib ? calib_rows_of(rq->calib) : 0;
    dlor_plan_calib calib = dlor_plan_calib_of(calib_rows, rq->have_budget, rq->bits, rq->allocate_uniform);
    dlor_plan p;
    if (dlor_plan_make(&p, src, g, selected, specs, rq->jobs, rq->have_budget ? rq->budget : 0, &calib, src_bytes,
                       err) != DLOR_OK)
        return -1;
    dlor_plan_print_flags(&p, rq->hooks);
    if (rq->dry_run || rq->show_plan) dlor_plan_lines(&p, rq->in, rq->hooks);
    if (rq->plan_out && dlor_plan_write(rq->plan_out, &p, rq->in, err) != DLOR_OK) {
        dlor_plan_free(&p);
        return -1;
    }
    char msg[512];
    int refused = dlor_plan_check_resources(&p, rq->dry_run ? NULL : rq->out, msg, sizeof msg);
    dlor_plan_free(&p);
    if (rq->dry_run) {
        if (refused)
            dlor_hooks_line(rq->hooks, DLOR_LINE_PLAN, "note: without --force this conversion would be refused: %s",
                            msg);
        return 1;
    }
    if (refused && !rq->force) {
        dlor_fail(err, DLOR_E_USAGE, "%s", msg);
        return -1;
    }
    if (refused) dlor_hooks_line(rq->hooks, 1, "note: --force: %s", msg);
    return 0;
}

dlor_status dlor_convert_groups(const dlor_tensor_list *src, const int *selected, const dlor_layer_spec *specs,
                                dlor_convert_group_fn fn, void *ctx, dlor_container *c, dlor_container **parts,
                                size_t *nparts, dlor_error *err)
{
    size_t n = src->count;
    int *done = calloc(n ? n : 1, sizeof *done), *sub = calloc(n ? n : 1, sizeof *sub);
    dlor_container *ps = calloc(n ? n : 1, sizeof *ps);
    dlor_status st = done && sub && ps ? DLOR_OK : dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    size_t np = 0;
    for (size_t i = 0; st == DLOR_OK && i < n; i++) {
        if (!selected[i] || done[i]) continue;
        for (size_t j = 0; j < n; j++) {
            sub[j] = selected[j] && !done[j] && dlor_spec_same(&specs[j], &specs[i]);
            if (sub[j]) done[j] = 1;
        }
        dlor_container_init(&ps[np]);
        np++;
        st = fn(ctx, &specs[i], sub, &ps[np - 1], err);
    }
    for (size_t p = 0; st == DLOR_OK && p < np; p++) st = dlor_store_part(c, &ps[p], err);
    free(done);
    free(sub);
    *parts = ps;
    *nparts = ps ? np : 0;
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

dlor_status dlor_convert_targets_text(const dlor_tensor_list *src, const int *selected, const dlor_layer_spec *specs,
                                      char **text, dlor_error *err)
{
    size_t n = 0, len = 1;
    for (size_t i = 0; i < src->count; i++)
        if (selected[i]) n++;
    char **lines = calloc(n ? n : 1, sizeof *lines);
    dlor_status st = lines ? DLOR_OK : dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    for (size_t i = 0, k = 0; st == DLOR_OK && i < src->count; i++) {
        if (!selected[i]) continue;
        char buf[1024];
        dlor_spec_line(src->items[i].name, &specs[i], buf, sizeof buf);
        lines[k] = malloc(strlen(buf) + 1);
        if (!lines[k]) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        else strcpy(lines[k], buf);
        len += strlen(buf) + 1;
        k++;
    }
    char *out = NULL;
    if (st == DLOR_OK) {
        qsort(lines, n, sizeof *lines, cmp_str);
        out = malloc(len);
        if (!out) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    if (st == DLOR_OK) {
        out[0] = 0;
        for (size_t k = 0; k < n; k++) {
            if (k) strcat(out, "\n");
            strcat(out, lines[k]);
        }
        *text = out;
    }
    for (size_t k = 0; lines && k < n; k++) free(lines[k]);
    free(lines);
    return st;
}

int dlor_convert_target_of(const char *text, const char *name, dlor_layer_spec *s)
{
    size_t nl = strlen(name);
    for (const char *p = text; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > nl && memcmp(p, name, nl) == 0 && p[nl] == ' ') {
            char line[1024];
            snprintf(line, sizeof line, "%.*s", (int)len, p);
            memset(s, 0, sizeof *s);
            char *tok = strtok(line + nl, " ");
            for (; tok; tok = strtok(NULL, " ")) {
                if (strncmp(tok, "method=", 7) == 0) s->form = dlor_form_from_name(tok + 7);
                else if (strncmp(tok, "rank=", 5) == 0) s->rank = strtoll(tok + 5, NULL, 10);
                else if (strncmp(tok, "tol=", 4) == 0) s->tol = strtod(tok + 4, NULL);
                else if (strncmp(tok, "dtype=", 6) == 0) s->dtype = dlor_dtype_from_name(tok + 6);
            }
            return 1;
        }
        p = e ? e + 1 : p + len;
    }
    return 0;
}
