/* convert_run.c - dlor convert's pipeline for the layer form: which tensors
 * become DLoR layers, the exact factorizations (in parallel, stored in source
 * order) or the compressed fits (compress_plan.c), the tensors carried over,
 * and the metadata that records what was done (a shard's part included). */
#define _POSIX_C_SOURCE 200809L
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calib_acts.h"
#include "convert_roles.h"
#include "convert_run.h"
#include "progress.h"
#include "dlor_fileio.h"
#include "dlor_readers.h"
#include "dlor_sha256.h"
#include "parallel.h"
#include "shard.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static dlor_status sha256_file(const char *path, char hex[65], dlor_error *err)
{
    FILE *f = fopen(path, "rb");
    unsigned char buf[1 << 16], d[32];
    dlor_sha256 s;
    size_t n;
    if (!f) return dlor_fail(err, DLOR_E_IO, "%s: cannot open", path);
    dlor_sha256_init(&s);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) dlor_sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return dlor_fail(err, DLOR_E_IO, "%s: read failed", path);
    dlor_sha256_final(&s, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return DLOR_OK;
}

/* One layer of the exact path: factored and encoded into its own container
 * (tasks run in parallel), then moved into the output in source order. */
typedef struct {
    const convert_cfg *cfg;
    const dlor_tensor_list *src;   /* the source: its pages of a layer are released once read */
    const dlor_tensor **t;
    dlor_container *part;   /* one per layer */
    double *secs;
    int *capped;            /* an explicit --rank was larger than the layer allows */
    size_t n;
    const dlor_convert_hooks *hooks;
    dlor_phase *prog;
} exact_job;

static dlor_status factor_task(void *ctx, size_t i, dlor_error *err)
{
    const exact_job *j = ctx;
    const dlor_tensor *t = j->t[i];
    dlor_status st = dlor_hooks_poll(j->hooks, i, j->n, t->name, err);
    if (st != DLOR_OK) return st;
    int64_t m = (int64_t)t->dims[0], n = (int64_t)t->dims[1];
    dlor_factor_opts fo = j->cfg->fo;
    int64_t k = fo.method == DLOR_METHOD_MUL ? (m > n ? m : n) : (m < n ? m : n);
    if (fo.rank > k) { /* one factor holds the whole layer: the rank, default or given, is capped there */
        j->capped[i] = j->cfg->rank_given;
        fo.rank = k;
    }
    double t0 = now_s();
    double *w = malloc((size_t)t->nelem * sizeof *w);
    if (!w) return dlor_fail(err, DLOR_E_NOMEM, "tensor '%s': out of memory", t->name);
    st = dlor_tensor_to_f64(t, w, err);
    dlor_tensor_release(j->src, t);
    dlor_factored f;
    memset(&f, 0, sizeof f);
    if (st == DLOR_OK) st = dlor_factor(t->name, w, m, n, &fo, &f, err);
    free(w);
    if (st == DLOR_OK) st = dlor_store_factored(&j->part[i], t, &f, fo.storage, fo.seed, err);
    dlor_factored_free(&f);
    j->secs[i] = now_s() - t0;
    dlor_progress_step(j->prog, (double)m * (double)n * (double)(m < n ? m : n));
    return st;
}

/* Appends name to the comma-separated list (len bytes) of a metadata value. */
static dlor_status list_append(char *list, size_t len, const char *name, const char *key, dlor_error *err)
{
    size_t used = strlen(list), nlen = strlen(name);
    if (used + nlen + 2 > len)
        return dlor_fail(err, DLOR_E_LIMIT, "too many layers to list in %s (%zu bytes at most)", key, len - 1);
    snprintf(list + used, len - used, "%s%s", used ? "," : "", name);
    return DLOR_OK;
}

/* Factors the selected tensors with 'jobs' threads and adds them to c in order;
 * the layers whose explicit --rank was capped are listed in 'capped'. The parts
 * own the factor bytes c points to: free them after c is written. */
static dlor_status factor_all(const convert_cfg *cfg, const dlor_tensor_list *src, const int *selected, int jobs,
                              dlor_container *c, dlor_container **parts_out, size_t *nparts,
                              const dlor_convert_hooks *hooks,
                              char *capped, size_t capped_len, dlor_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < src->count; i++) n += selected[i] != 0;
    exact_job j = {cfg, src, calloc(n ? n : 1, sizeof *j.t), calloc(n ? n : 1, sizeof *j.part),
                   calloc(n ? n : 1, sizeof *j.secs), calloc(n ? n : 1, sizeof *j.capped), n, hooks, NULL};
    *parts_out = j.part;
    *nparts = 0;
    if (!j.t || !j.part || !j.secs || !j.capped) {
        free(j.t);
        free(j.secs);
        free(j.capped);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    for (size_t i = 0, k = 0; i < src->count; i++)
        if (selected[i]) j.t[k++] = &src->items[i];
    for (size_t i = 0; i < n; i++) dlor_container_init(&j.part[i]);
    *nparts = n;
    dlor_phase prog;
    double work = 0;
    for (size_t i = 0; i < n; i++) {
        double a = (double)j.t[i]->dims[0], b = (double)j.t[i]->dims[1];
        work += a * b * (a < b ? a : b);
    }
    j.prog = &prog;
    dlor_progress_begin(&prog, cfg->phase_lines ? hooks : NULL, "exact factorizations", "layers", n, work);
    int blas = dlor_parallel_blas_begin(jobs);
    dlor_status st = dlor_parallel_for(n, jobs, factor_task, &j, err);
    dlor_parallel_blas_end(blas);
    dlor_progress_end(&prog);
    for (size_t i = 0; i < n && st == DLOR_OK; i++) {
        const dlor_container *p = &j.part[i];
        st = dlor_store_part(c, p, err);
        if (st == DLOR_OK && j.capped[i]) st = list_append(capped, capped_len, j.t[i]->name, "dlor.rank_capped", err);
        if (st == DLOR_OK && hooks && hooks->verbose && p->nlayers) {
            const dlor_layer_desc *d = &p->layers[0];
            char shape[64], note[96] = "";
            if (j.capped[i])
                snprintf(note, sizeof note, " (--rank %lld capped at the layer's size)", (long long)cfg->fo.rank);
            dlor_hooks_line(hooks, 0, "[%zu/%zu] %-32s %-14s %s r=%lld L=%lld alpha=%.6g %.2f s%s", i + 1, n, d->name,
                    dlor_shape_str(j.t[i]->dims, 2, shape, sizeof shape), d->method == DLOR_IMAGE_MUL ? "mul" : "add",
                    (long long)d->rank, (long long)d->factors, d->alpha, j.secs[i], note);
        }
    }
    free(j.t);
    free(j.secs);
    free(j.capped);
    return st;
}

/* A compressed form at an explicit --rank: refused (a usage error) only when no
 * selected layer (of the whole model, whichever shard this is) would be smaller
 * at that rank than dense; other layers are kept dense, with a note. */
static dlor_status check_rank_usable(const dlor_compress_cfg *cc, const dlor_tensor_list *src, const int *selected,
                                     dlor_error *err)
{
    int64_t best = -1;
    const dlor_tensor *at = NULL;
    for (size_t i = 0; i < src->count; i++) {
        if (!selected[i]) continue;
        const dlor_tensor *t = &src->items[i];
        int64_t k = dlor_compress_rank_cap((int64_t)t->dims[0], (int64_t)t->dims[1], cc->fit_beta);
        if (k >= cc->rank) return DLOR_OK;
        if (k > best) {
            best = k;
            at = t;
        }
    }
    if (!at) return DLOR_OK; /* nothing to convert */
    if (best < 1)
        return dlor_fail(err, DLOR_E_USAGE, "--rank %lld: no layer is large enough for any rank to store less than "
                                            "the dense layer", (long long)cc->rank);
    return dlor_fail(err, DLOR_E_USAGE, "--rank %lld is too large for every layer: at that rank no layer stores less "
                                        "than dense (the largest rank that does: %lld, for '%s')",
                     (long long)cc->rank, (long long)best, at->name);
}

static size_t list_count(const char *list)
{
    size_t n = *list != 0;
    for (const char *q = list; *q; q++) n += *q == ',';
    return n;
}

static dlor_status add_meta(dlor_container *c, const char *k, const char *v, dlor_error *err)
{
    return dlor_tensor_list_add_meta(&c->tensors, k, v, err);
}

static dlor_status write_metadata(const convert_cfg *cfg, const char *in, const dlor_tensor_list *src,
                                  dlor_container *c, dlor_error *err)
{
    const dlor_factor_opts *fo = &cfg->fo;
    char buf[64], hex[65];
    dlor_status st = sha256_file(in, hex, err);
    if (st == DLOR_OK) st = add_meta(c, "dlor.version", DLOR_VERSION_STRING, err);
    if (st == DLOR_OK) st = add_meta(c, "dlor.method", cfg->form, err);
    if (st == DLOR_OK && cfg->compress) {
        const dlor_compress_cfg *cc = &cfg->cc;
        if (cc->has_tol) snprintf(buf, sizeof buf, "tol %.9g", cc->tol);
        else if (cc->has_bits) snprintf(buf, sizeof buf, "budget-bits %.9g", cc->bits);
        else if (cc->has_budget)
            snprintf(buf, sizeof buf, "budget %.9g (%s)", cc->budget,
                     cc->allocate_uniform ? "uniform" : cc->allocate_sum ? "sum" : "max");
        else snprintf(buf, sizeof buf, "rank %lld", (long long)cc->rank);
        st = add_meta(c, "dlor.target", buf, err);
        if (st == DLOR_OK && (cc->calib || cc->calib_acts))
            st = add_meta(c, "dlor.calib", dlor_basename(cc->calib ? cc->calib : cc->calib_acts), err);
        snprintf(buf, sizeof buf, "%lld", (long long)(cc->factors > 0 ? cc->factors : 1));
        if (st == DLOR_OK) st = add_meta(c, "dlor.factors", buf, err);
        if (st == DLOR_OK && cc->qlr) st = add_meta(c, "dlor.correction_dtype", dlor_dtype_name(cc->corr_storage), err);
    }
    snprintf(buf, sizeof buf, "%lld", (long long)fo->rank);
    if (st == DLOR_OK) st = add_meta(c, "dlor.rank", buf, err);
    /* compressed forms: the basis their layers record (add layers: svd; the --factors
     * products: schur), not fo's, which they do not use */
    const char *basis = fo->basis == DLOR_BASIS_SCHUR ? "schur" : fo->basis == DLOR_BASIS_RANDOM ? "random" : "svd";
    if (cfg->compress) basis = cfg->cc.factors > 0 ? "schur" : "svd";
    if (st == DLOR_OK) st = add_meta(c, "dlor.basis", basis, err);
    if (fo->alpha_auto) snprintf(buf, sizeof buf, "auto");
    else snprintf(buf, sizeof buf, "%.17g", fo->alpha);
    if (st == DLOR_OK) st = add_meta(c, "dlor.alpha", buf, err);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)fo->seed);
    if (st == DLOR_OK) st = add_meta(c, "dlor.seed", buf, err);
    if (st == DLOR_OK)
        st = add_meta(c, "dlor.dtype", cfg->compress && cfg->cc.has_bits ? "mixed" : dlor_dtype_name(fo->storage), err);
    if (st == DLOR_OK) st = add_meta(c, "dlor.padding", "zero", err);
    if (st == DLOR_OK) st = add_meta(c, "dlor.source", dlor_basename(in), err);
    const char *format = NULL;
    if (st == DLOR_OK) st = dlor_sniff_format(in, &format, err);
    if (st == DLOR_OK) st = add_meta(c, "dlor.source_format", format, err);
    if (st == DLOR_OK) st = add_meta(c, "dlor.source_sha256", hex, err);
    for (size_t i = 0; i < src->meta_count && st == DLOR_OK; i++) {
        char key[300];
        if (strlen(src->meta_keys[i]) + 7 > 255) continue; /* cannot be carried under the prefix */
        snprintf(key, sizeof key, "source.%s", src->meta_keys[i]);
        st = add_meta(c, key, src->meta_vals[i], err);
    }
    return st;
}

/* A part of a sharded conversion: which shard, and the graph as text (its
 * weights are spread over the parts, so it cannot be a GRAPH section yet). */
static dlor_status shard_metadata(dlor_container *c, int64_t i, int64_t n, const char *source, const char *why,
                                  dlor_error *err)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%lld/%lld", (long long)i, (long long)n);
    dlor_status st = add_meta(c, "dlor.shard", buf, err);
    if (st != DLOR_OK) return st;
    if (!c->graph.count) return add_meta(c, "dlor.shard_graph_missing", why, err);
    char *text = NULL;
    st = dlor_graph_to_text(&c->graph, &text, err);
    if (st == DLOR_OK) st = add_meta(c, "dlor.shard_graph", text, err);
    if (st == DLOR_OK) st = add_meta(c, "dlor.shard_graph_source", source ? source : "unknown", err);
    free(text);
    dlor_graph_free(&c->graph);
    dlor_graph_init(&c->graph);
    return st;
}

/* Without progress lines, one note each for the layers an explicit --rank did not
 * fit as given (the progress lines name them one by one; dlor verify lists them). */
static void print_rank_notes(const convert_cfg *cfg, size_t nkept, size_t ncapped, const dlor_convert_hooks *hooks)
{
    if (!cfg->rank_given) return;
    if (ncapped)
        dlor_hooks_line(hooks, 1, "note: --rank %lld is larger than %zu layer%s allow%s: capped at each one's size "
                        "(listed in dlor.rank_capped; 'dlor verify' names them)", (long long)cfg->fo.rank, ncapped,
                ncapped == 1 ? "" : "s", ncapped == 1 ? "s" : "");
    if (cfg->compress && nkept)
        dlor_hooks_line(hooks, 1, "note: at --rank %lld, %zu layer%s would not be smaller than dense: kept dense "
                        "(listed in dlor.kept_dense; 'dlor verify' names them)", (long long)cfg->cc.rank, nkept,
                nkept == 1 ? "" : "s");
}

/* The options as the per-layer targets of convert_targets.h. */
static void convert_request(const convert_cfg *cfg, const char *in, dlor_convert_request *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->in = in;
    rq->out = cfg->out;
    rq->plan_in = cfg->plan_in;
    rq->plan_out = cfg->plan_out;
    rq->sets = cfg->sets;
    rq->nsets = cfg->nsets;
    rq->dry_run = cfg->dry_run;
    rq->force = cfg->force;
    rq->show_plan = cfg->show_plan;
    rq->base.form = dlor_form_from_name(cfg->form);
    rq->base.rank = cfg->rank_given ? cfg->fo.rank : 0;
    rq->base.tol = cfg->compress && cfg->cc.has_tol ? cfg->cc.tol : 0;
    rq->base.dtype = cfg->fo.storage;
    rq->have_budget = cfg->compress && (cfg->cc.has_budget || cfg->cc.has_bits);
    rq->budget = cfg->cc.has_bits ? cfg->cc.bits / 32 : cfg->cc.budget; /* a hint for the plan's estimates */
    rq->bits = cfg->compress && cfg->cc.has_bits;
    rq->allocate_uniform = cfg->cc.allocate_uniform;
    rq->jobs = cfg->jobs;
    rq->calib = cfg->compress ? cfg->cc.calib : NULL;
}

/* One group of layers with equal targets (dlor_convert_groups), converted as a
 * run with those options would convert them. */
typedef struct {
    const convert_cfg *cfg;
    const dlor_tensor_list *src;
    const dlor_graph *g;
    const dlor_convert_hooks *hooks;
    char *kept, *capped;        /* the run's lists (65536 bytes each) */
    dlor_container *fparts;     /* factor_all's parts, freed with the conversion */
    size_t nfparts;
} group_ctx;

static dlor_status convert_group(void *ctx, const dlor_layer_spec *s, const int *sel, dlor_container *part,
                                 dlor_error *err)
{
    group_ctx *x = ctx;
    convert_cfg cfg = *x->cfg;
    if (dlor_form_is_compressed(s->form)) {
        char kept[65536];
        cfg.compress = 1;
        cfg.cc.qlr = s->form == DLOR_FORM_QLR;
        cfg.cc.fit_beta = s->form != DLOR_FORM_SVD && s->form != DLOR_FORM_QLR;
        if (cfg.cc.qlr && !x->cfg->cc.qlr) cfg.cc.corr_storage = DLOR_DT_F16;
        if (cfg.cc.qlr && !dlor_dtype_is_quant(s->dtype))
            return dlor_fail(err, DLOR_E_USAGE, "method qlr needs dtype q8 or q4 for its base, not %s",
                             dlor_dtype_name(s->dtype));
        cfg.cc.rank = s->rank > 0 ? s->rank : 0;
        cfg.cc.has_tol = s->tol > 0;
        cfg.cc.tol = s->tol;
        cfg.cc.has_budget = s->budget && !x->cfg->cc.has_bits;
        cfg.cc.has_bits = s->budget && x->cfg->cc.has_bits;
        cfg.cc.storage = s->dtype;
        dlor_status st = dlor_compress_layers(&cfg.cc, x->src, x->g, sel, part, x->hooks, kept, sizeof kept, err);
        for (const char *q = kept; st == DLOR_OK && *q;) {
            size_t len = strcspn(q, ",");
            char nm[DLOR_MAX_NAME + 1];
            snprintf(nm, sizeof nm, "%.*s", (int)len, q);
            st = list_append(x->kept, 65536, nm, "dlor.kept_dense", err);
            q += len + (q[len] == ',');
        }
        return st;
    }
    cfg.compress = 0;
    cfg.fo.method = s->form == DLOR_FORM_ADD ? DLOR_METHOD_ADD : DLOR_METHOD_MUL;
    if (cfg.fo.method != x->cfg->fo.method)
        cfg.fo.basis = cfg.fo.method == DLOR_METHOD_MUL ? DLOR_BASIS_SCHUR : DLOR_BASIS_SVD;
    cfg.fo.rank = s->rank > 0 ? s->rank : DLOR_DEFAULT_RANK;
    cfg.rank_given = s->rank > 0;
    cfg.fo.storage = s->dtype;
    dlor_container *fp = NULL;
    size_t nfp = 0;
    dlor_status st = factor_all(&cfg, x->src, sel, cfg.jobs, part, &fp, &nfp, x->hooks, x->capped, 65536, err);
    dlor_container *grown = realloc(x->fparts, (x->nfparts + nfp + 1) * sizeof *grown);
    if (!grown) {
        for (size_t i = 0; i < nfp; i++) dlor_container_free(&fp[i]);
        free(fp);
        return st == DLOR_OK ? dlor_fail(err, DLOR_E_NOMEM, "out of memory") : st;
    }
    x->fparts = grown;
    for (size_t i = 0; i < nfp; i++) x->fparts[x->nfparts++] = fp[i];
    free(fp);
    return st;
}

/* Moves n parts (an array of them, freed here) into the conversion's parts. */
static dlor_status keep_parts(dlor_converted *out, dlor_container *p, size_t n, dlor_status st, dlor_error *err)
{
    dlor_container *grown = n ? realloc(out->parts, (out->nparts + n) * sizeof *grown) : out->parts;
    if (n && !grown) {
        for (size_t i = 0; i < n; i++) dlor_container_free(&p[i]);
        free(p);
        return st == DLOR_OK ? dlor_fail(err, DLOR_E_NOMEM, "out of memory") : st;
    }
    out->parts = grown;
    for (size_t i = 0; i < n; i++) out->parts[out->nparts++] = p[i];
    free(p);
    return st;
}

void dlor_converted_free(dlor_converted *x)
{
    if (!x) return;
    dlor_container_free(&x->c);
    for (size_t i = 0; i < x->nparts; i++) dlor_container_free(&x->parts[i]);
    free(x->parts);
    memset(x, 0, sizeof *x);
}

dlor_status dlor_convert_source(const char *in, const dlor_tensor_list *src, const dlor_graph *graph,
                                const char *graph_source, const char *why, const convert_cfg *cfg,
                                const dlor_convert_hooks *hooks, dlor_converted *out, dlor_error *err)
{
    dlor_container *c = &out->c;
    int progress = hooks && hooks->verbose;
    convert_cfg with_progress = *cfg;
    with_progress.cc.progress = cfg->phase_lines ? hooks : NULL;
    cfg = &with_progress;
    memset(out, 0, sizeof *out);
    dlor_container_init(c);
    dlor_status st = dlor_graph_copy(&c->graph, graph, err);
    if (st != DLOR_OK) return st;

    size_t nfactor = 0;
    int *selected = calloc(src->count ? src->count : 1, sizeof *selected);
    dlor_layer_spec *specs = calloc(src->count ? src->count : 1, sizeof *specs);
    if (!selected || !specs) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    if (st == DLOR_OK)
        nfactor = dlor_convert_select(src, &c->graph, cfg->include, (int)cfg->ninclude, cfg->exclude,
                                      (int)cfg->nexclude, in, selected, hooks);
    /* per-layer targets: the options, a plan file, --set rules */
    dlor_convert_request rq;
    int uniform = 1;
    if (st == DLOR_OK) {
        convert_request(cfg, in, &rq);
        rq.hooks = hooks;
        st = dlor_convert_specs(&rq, src, &c->graph, selected, &nfactor, specs, &uniform, err);
    }
    if (st == DLOR_OK && uniform && cfg->compress && cfg->cc.rank > 0) st = check_rank_usable(&cfg->cc, src, selected, err);
    /* With a shard, this process converts its share of the layers; part 0 also
     * carries the tensors no shard converts. */
    int64_t shard_i = cfg->shard_n ? cfg->shard_i : 0, shard_n = cfg->shard_n;
    if (st == DLOR_OK && shard_n) {
        int64_t *owner = malloc((src->count ? src->count : 1) * sizeof *owner);
        if (!owner) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
        else dlor_shard_assign(src, selected, !cfg->compress && cfg->fo.method == DLOR_METHOD_MUL, shard_n, owner);
        for (size_t i = 0; st == DLOR_OK && i < src->count; i++)
            if (selected[i] && owner[i] != shard_i) selected[i] = 2; /* another shard's */
        free(owner);
    }
    /* captured activations: read and checked against the converted layers once, for every group */
    dlor_calib_acts acts = {NULL, 0};
    if (st == DLOR_OK && cfg->compress && cfg->cc.calib_acts) {
        st = dlor_calib_acts_load(cfg->cc.calib_acts, src, selected, &acts, err);
        with_progress.cc.acts = &acts;
        size_t missing = 0;
        for (size_t i = 0; st == DLOR_OK && i < src->count; i++)
            missing += selected[i] == 1 && !dlor_calib_acts_find(&acts, src->items[i].name);
        if (missing)
            dlor_hooks_line(hooks, 1, "note: %zu converted layer%s ha%s no entry in %s: fitted to %s weights, not "
                            "to data", missing, missing == 1 ? "" : "s", missing == 1 ? "s" : "ve",
                            cfg->cc.calib_acts, missing == 1 ? "its" : "their");
    }
    /* the plan: printed, checked against the machine, or all a dry run does */
    if (st == DLOR_OK) {
        int gate = dlor_convert_plan_gate(&rq, src, &c->graph, selected, specs, err);
        if (gate == -1) st = err->code;
        else if (gate) {
            out->stopped = gate;
            dlor_calib_acts_free(&acts);
            free(selected);
            free(specs);
            return DLOR_OK;
        }
    }
    /* the targets of every layer, this shard's and the others' (the parts of a
     * run record the same) */
    char *targets = NULL;
    if (st == DLOR_OK && !uniform) st = dlor_convert_targets_text(src, selected, specs, &targets, err);
    /* every tensor not converted is carried over unchanged */
    for (size_t i = 0; st == DLOR_OK && i < src->count; i++) {
        const dlor_tensor *t = &src->items[i];
        if (selected[i] || shard_i > 0) continue;
        st = dlor_tensor_list_add(&c->tensors, in, t->name, strlen(t->name), t->dtype, t->ndim, t->dims,
                                  t->data, t->nbytes, err);
    }
    for (size_t i = 0; selected && i < src->count && shard_n; i++) /* other shards' layers: not here */
        if (selected[i] == 2) {
            selected[i] = 0;
            nfactor--;
        }
    /* the names of layers kept dense, and of layers whose --rank was capped, for
     * metadata values (65535 bytes at most) */
    char *kept_dense = calloc(65536, 1), *capped = calloc(65536, 1);
    if (st == DLOR_OK && (!kept_dense || !capped)) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    if (st == DLOR_OK && uniform && cfg->compress) {
        st = dlor_compress_layers(&cfg->cc, src, &c->graph, selected, c, hooks, kept_dense, 65536, err);
        if (st != DLOR_OK) dlor_error_prefix(err, in);
    }
    if (st == DLOR_OK && uniform && !cfg->compress) {
        st = factor_all(cfg, src, selected, cfg->jobs, c, &out->parts, &out->nparts, hooks, capped, 65536, err);
        if (st != DLOR_OK) dlor_error_prefix(err, in);
    }
    if (st == DLOR_OK && !uniform) {
        group_ctx gx = {cfg, src, &c->graph, hooks, kept_dense, capped, NULL, 0};
        dlor_container *gparts = NULL;
        size_t ngparts = 0;
        st = dlor_convert_groups(src, selected, specs, convert_group, &gx, c, &gparts, &ngparts, err);
        if (st != DLOR_OK) dlor_error_prefix(err, in);
        if (st == DLOR_OK) st = add_meta(c, "dlor.layer_targets", targets, err);
        /* the parts own what c points to: kept with the conversion */
        st = keep_parts(out, gparts, ngparts, st, err);
        st = keep_parts(out, gx.fparts, gx.nfparts, st, err);
    }
    free(targets);
    free(selected);
    free(specs);
    dlor_calib_acts_free(&acts);
    if (st == DLOR_OK) {
        out->nkept = list_count(kept_dense);
        out->ncapped = list_count(capped);
        if (!progress) print_rank_notes(cfg, out->nkept, out->ncapped, hooks);
    }
    /* merge rebuilds the lists in this order */
    if (st == DLOR_OK) st = dlor_sort_name_list(kept_dense, err);
    if (st == DLOR_OK) st = dlor_sort_name_list(capped, err);
    if (st == DLOR_OK && kept_dense[0]) st = add_meta(c, "dlor.kept_dense", kept_dense, err);
    if (st == DLOR_OK && capped[0]) st = add_meta(c, "dlor.rank_capped", capped, err);
    free(kept_dense);
    free(capped);
    if (st == DLOR_OK && cfg->ninclude > 0 && nfactor == 0 && !shard_n)
        dlor_hooks_line(hooks, 1, "note: no 2-D float tensor matched --include; nothing was factored");
    dlor_container_set_u_layout(c, cfg->u_layout);
    if (st == DLOR_OK) st = write_metadata(cfg, in, src, c, err);
    if (st == DLOR_OK && shard_n) st = shard_metadata(c, shard_i, shard_n, graph_source, why, err);
    else if (st == DLOR_OK) st = dlor_convert_graph_metadata(c, graph_source, why, err);
    out->nfactor = nfactor;
    return st;
}
