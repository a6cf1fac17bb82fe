/* cmd_convert.c - dlor convert: factor every selected 2-D tensor exactly. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "dlor_container.h"
#include "dlor_factor.h"
#include "dlor_fileio.h"
#include "dlor_host.h"
#include "dlor_readers.h"
#include "dlor_sha256.h"
#include "compress_plan.h"
#include "convert_roles.h"
#include "convert_run.h"
#include "progress.h"
#include "model_load.h"
#include "network_cmd.h"
#include "parallel.h"
#include "shard.h"
#include "opts.h"

/* The exact forms store 2 N^2 numbers whatever the rank; a larger rank means
 * fewer, longer factors, i.e. fewer sequential steps for the runtime (each a
 * sync in a team) and longer runs of memory. Measured with dlor bench (each
 * model timed in its steady state, medians of 3 runs, ratio to dense OpenBLAS
 * in the same run): at N = 1024, batch 1, two threads, rank 64 2.79 x, 128
 * 2.21 x, 256 2.42 x (a second set: 128 2.57-3.22 x, 256 2.46-2.95 x, 256
 * ahead in 3 of 4 pairs); one thread 2.22 / 2.38 / 2.34 x (within the noise);
 * at N = 2048 rank 256 1.80 / 1.96 x against rank 64's 1.88 / 2.18 x (one /
 * two threads). Batches of 64 ran 2.2-2.35 x at every rank once the panel
 * update went through 64 rows at a time (before, rank 256 was 20% slower: a
 * factor's runs no longer stayed in L1 across the batch). Hence 256. */
#define DEFAULT_RANK 256

static const dlor_optdef defs[] = {
    {"output", 'o', "OUT.dlor", "output file (required but with --dry-run; written atomically; '-': standard output)"},
    {"method", 0, "FORM", "exact: mul (product of DLoR factors, Theorem 4; default) or add (sum, Theorem 3);\n"
                          "                             compressed: lowrank (best beta*I + P Q^T), svd (truncated SVD),\n"
                          "                             auto (lowrank, or dense when nothing smaller meets the target)"},
    {"rank", 'r', "R", "rank of each factor's low-rank part (exact: default 256, capped at each layer's\n"
                       "                             size; compressed: the rank of P Q^T, layers it would not make\n"
                       "                             smaller stay dense)"},
    {"tol", 0, "T", "compressed: per layer, the smallest form with relative Frobenius error <= T"},
    {"budget", 0, "F", "compressed: store F x the dense parameters, spread across layers (see --allocate)"},
    {"allocate", 0, "sum|max", "with --budget: minimise the sum of squared layer errors (sum, default: cheap\n"
                               "                             layers such as a classifier head get the ranks they need) or the\n"
                               "                             largest layer error (max)"},
    {"factors", 0, "M", "compressed: store each beta*I + P Q^T exactly as a product of M DLoR factors"},
    {"calib", 0, "X.npy", "compressed: fit each layer to its inputs on these model inputs (needs a graph)"},
    {"basis", 0, "schur|random|svd", "mul: schur (default, stable) or random (paper's Z); add: svd"},
    {"alpha", 0, "A|auto", "diagonal coefficient; auto (default) picks it from the spectrum for mul, 0 for add"},
    {"seed", 0, "S", "seed of the random basis (default 0)"},
    {"dtype", 0, "f32|f64|f16|bf16", "storage dtype of the factors (default f32)"},
    {"layout", 0, "panels|rows", "how U^T is stored: panels (default; blocks of 16 columns, read in long runs by\n"
                                 "                             the runtime's threads) or rows (the layout of .dlor 1.3 and older readers;\n"
                                 "                             a runtime built with BLAS runs batches through sgemm on it)"},
    {"include", 0, "GLOB", "factor the 2-D tensors whose name matches, whatever their role (repeatable)"},
    {"exclude", 0, "GLOB", "never factor tensors whose name matches (repeatable)"},
    {"jobs", 'j', "J", "convert up to J layers at once (default 1; 0: one per processor); the output\n"
                       "                             does not depend on J"},
    {"shard", 0, "I/N", "convert only part I (0-based) of N of the layers into a part file; join the\n"
                        "                             N parts with 'dlor merge' (per-layer targets only, not --budget)"},
    {"compress", 0, NULL, "store the file as one zlib stream after its preamble (hosts inflate it; the runtime needs\n"
                          "                             it inflated, which 'dlor export-c' does)"},
    {"emit", 0, "FILE.safetensors", "also write the factors as safetensors (NAME.dlor.U [dim, K], NAME.dlor.V,\n"
                                    "                             NAME.dlor.alpha or .beta; see the README)"},
    {"activation", 0, "NAME", "record the graph of nn.Sequential-named layers with this activation between them"},
    {"verbose", 'v', NULL, "print progress lines even when stderr is not a terminal"},
    {"dry-run", 0, NULL, "print the plan (per layer: form, output bytes, memory, time; totals) and write nothing"},
    {"force", 0, NULL, "convert even when the plan's peak memory or output exceeds what the machine has"},
    {"set", 0, "GLOB:KEY=V,...", "per-layer targets for the layers matching GLOB (keys: method, rank, tol, dtype;\n"
                                 "                             repeatable, later ones win)"},
    {"plan", 0, "FILE", "convert the layers a plan file lists, each with its own targets"},
    {"plan-out", 0, "FILE", "write the plan as a plan file (with --dry-run: edit it, then --plan FILE)"},
    {"form", 0, "layer|network", "network: replace each dense layer by DLoR layers with the activation between\n"
                                 "                             them (Theorems 5, 6; runnable; rank, basis, alpha, dtype, calib apply)"},
    {"construction", 0, "deep|wide", "network form: deep (Appendix E.1, default) or wide (Theorem 3 branches)"},
    {"h", 0, "H|auto", "network form: the scaling h (default auto: the h of least end-to-end error on the\n"
                       "                             --calib inputs, else 256 seeded normal samples, in the --dtype runtime)"},
    {"c", 0, "C", "network form: expansion point with rho'(c) != 0 (default 0.5; relu needs c > 0)"},
    {"beta", 0, "paired|paper", "wide: +1/-1 per component (paired, default) or the paper's (1, ..., 1, -(L-1))"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "IN -o OUT.dlor [options]\n\n"
                                "IN is a safetensors, .npy, .npz, ONNX or PyTorch (.pt) file of dense weights.\n"
                                "The weights of matrix multiplications (a graph's linear weights; without one,\n"
                                "2-D float tensors not named like embeddings or norms) are factored exactly;\n"
                                "other tensors are carried over unchanged ('dlor info' shows each one's role).\n"
                                "The model's graph is recorded when it is known (ONNX, a 'dlor.graph' metadata\n"
                                "entry, or nn.Sequential names with --activation).";

typedef struct {
    dlor_factor_opts fo;
    int rank_given;
    const dlor_opts *o;
    int compress;            /* a compressed form was asked for */
    const char *form;        /* the --method word */
    int jobs;                /* layers converted at once */
    dlor_compress_cfg cc;
} convert_cfg;

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

/* Adds a tensor of k x dim doubles encoded in the storage dtype. */
static dlor_status add_factor_tensor(dlor_container *c, const char *name, const double *x, int64_t k,
                                     int64_t dim, dlor_dtype dt, dlor_error *err)
{
    uint64_t dims[2] = {(uint64_t)k, (uint64_t)dim};
    size_t n = (size_t)k * (size_t)dim, nbytes = n * dlor_dtype_size(dt);
    unsigned char *buf = malloc(nbytes ? nbytes : 1);
    if (!buf) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for tensor '%s'", name);
    dlor_encode_f64(x, n, dt, buf);
    dlor_status st = dlor_tensor_list_own(&c->tensors, buf, err);
    if (st != DLOR_OK) return st;
    return dlor_tensor_list_add(&c->tensors, "output", name, strlen(name), dt, 2, dims, buf, nbytes, err);
}

int dlor_convert_u_layout(const dlor_opts *o, const dlor_optdef *d, int *layout)
{
    const char *v = dlor_opt(o, d, "layout");
    *layout = DLOR_IMAGE_U_PANELS;
    if (!v || strcmp(v, "panels") == 0) return 0;
    if (strcmp(v, "rows") == 0) {
        *layout = DLOR_IMAGE_U_ROWS;
        return 0;
    }
    fprintf(stderr, "dlor convert: --layout must be panels or rows, not '%s'\n", v);
    return -1;
}

dlor_status dlor_store_factored(dlor_container *c, const dlor_tensor *t, const dlor_factored *f, dlor_dtype storage,
                                uint64_t seed, dlor_error *err)
{
    char uname[300], vname[300];
    if (strlen(t->name) + 7 > DLOR_MAX_NAME)
        return dlor_fail(err, DLOR_E_LIMIT, "tensor '%s': name too long to add the '.dlor.U' suffix", t->name);
    snprintf(uname, sizeof uname, "%s.dlor.U", t->name);
    snprintf(vname, sizeof vname, "%s.dlor.V", t->name);
    dlor_status st = add_factor_tensor(c, uname, f->ut, f->k, f->dim_u, storage, err);
    if (st == DLOR_OK) st = add_factor_tensor(c, vname, f->vt, f->k, f->dim_v, storage, err);
    if (st != DLOR_OK) return st;
    dlor_layer_desc d;
    memset(&d, 0, sizeof d);
    d.name = t->name;
    d.method = f->method == DLOR_METHOD_MUL ? DLOR_IMAGE_MUL : DLOR_IMAGE_ADD;
    d.basis = f->basis == DLOR_BASIS_RANDOM ? DLOR_IMAGE_RANDOM
            : f->method == DLOR_METHOD_MUL ? DLOR_IMAGE_SCHUR : DLOR_IMAGE_SVD;
    d.rows = (uint64_t)f->m;
    d.cols = (uint64_t)f->n;
    d.rank = (uint64_t)f->rank;
    d.factors = (uint64_t)f->factors;
    d.alpha = f->alpha;
    d.u_name = uname;
    d.v_name = vname;
    d.source_dtype = t->dtype;
    d.seed = d.basis == DLOR_IMAGE_RANDOM ? seed : 0;
    return dlor_container_add_layer(c, &d, err);
}

/* One layer of the exact path: factored and encoded into its own container
 * (tasks run in parallel), then moved into the output in source order. */
typedef struct {
    const convert_cfg *cfg;
    const dlor_tensor **t;
    dlor_container *part;   /* one per layer */
    double *secs;
    int *capped;            /* an explicit --rank was larger than the layer allows */
    dlor_progress *prog;
} exact_job;

static dlor_status factor_task(void *ctx, size_t i, dlor_error *err)
{
    const exact_job *j = ctx;
    const dlor_tensor *t = j->t[i];
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
    dlor_status st = dlor_tensor_to_f64(t, w, err);
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
                              dlor_container *c, dlor_container **parts_out, size_t *nparts, int progress,
                              char *capped, size_t capped_len, dlor_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < src->count; i++) n += selected[i] != 0;
    exact_job j = {cfg, calloc(n ? n : 1, sizeof *j.t), calloc(n ? n : 1, sizeof *j.part),
                   calloc(n ? n : 1, sizeof *j.secs), calloc(n ? n : 1, sizeof *j.capped), NULL};
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
    dlor_progress prog;
    double work = 0;
    for (size_t i = 0; i < n; i++) work += (double)j.t[i]->dims[0] * (double)j.t[i]->dims[1] *
                                           (double)(j.t[i]->dims[0] < j.t[i]->dims[1] ? j.t[i]->dims[0] : j.t[i]->dims[1]);
    j.prog = &prog;
    dlor_progress_begin(&prog, progress, "exact factorizations", "layers", n, work);
    int blas = dlor_parallel_blas_begin(jobs);
    dlor_status st = dlor_parallel_for(n, jobs, factor_task, &j, err);
    dlor_parallel_blas_end(blas);
    dlor_progress_end(&prog);
    for (size_t i = 0; i < n && st == DLOR_OK; i++) {
        const dlor_container *p = &j.part[i];
        for (size_t q = 0; q < p->tensors.count && st == DLOR_OK; q++) {
            const dlor_tensor *x = &p->tensors.items[q];
            st = dlor_tensor_list_add(&c->tensors, "output", x->name, strlen(x->name), x->dtype, x->ndim, x->dims,
                                      x->data, x->nbytes, err);
        }
        for (size_t q = 0; q < p->nlayers && st == DLOR_OK; q++) st = dlor_container_add_layer(c, &p->layers[q], err);
        if (st == DLOR_OK && j.capped[i]) st = list_append(capped, capped_len, j.t[i]->name, "dlor.rank_capped", err);
        if (st == DLOR_OK && progress && p->nlayers) {
            const dlor_layer_desc *d = &p->layers[0];
            char shape[64], note[96] = "";
            if (j.capped[i])
                snprintf(note, sizeof note, " (--rank %lld capped at the layer's size)", (long long)cfg->fo.rank);
            fprintf(stderr, "[%zu/%zu] %-32s %-14s %s r=%lld L=%lld alpha=%.6g %.2f s%s\n", i + 1, n, d->name,
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
        else if (cc->has_budget)
            snprintf(buf, sizeof buf, "budget %.9g (%s)", cc->budget, cc->allocate_sum ? "sum" : "max");
        else snprintf(buf, sizeof buf, "rank %lld", (long long)cc->rank);
        st = add_meta(c, "dlor.target", buf, err);
        if (st == DLOR_OK && cc->calib) st = add_meta(c, "dlor.calib", dlor_basename(cc->calib), err);
        snprintf(buf, sizeof buf, "%lld", (long long)(cc->factors > 0 ? cc->factors : 1));
        if (st == DLOR_OK) st = add_meta(c, "dlor.factors", buf, err);
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
    if (st == DLOR_OK) st = add_meta(c, "dlor.dtype", dlor_dtype_name(fo->storage), err);
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

/* Records where the graph came from and the runtime's scratch need for a
 * batch of one (measured by opening the serialized model), or why there is
 * no graph. */
dlor_status dlor_convert_graph_metadata(dlor_container *c, const char *source, const char *why, dlor_error *err)
{
    if (!c->graph.count)
        return add_meta(c, "dlor.graph_missing", why[0] ? why : "the source has no graph", err);
    unsigned char *img;
    size_t len;
    dlor_model m;
    dlor_image_error ie;
    char num[32];
    dlor_status st = add_meta(c, "dlor.graph_source", source ? source : "unknown", err);
    if (st == DLOR_OK) st = dlor_container_to_memory(c, &img, &len, err);
    if (st != DLOR_OK) return st;
    void *plan;
    if (dlor_model_open_alloc(&m, img, len, 0, &plan, &ie) != 0) {
        free(img);
        return dlor_fail(err, DLOR_E_FORMAT, "the recorded graph does not open: %s", ie.msg);
    }
    snprintf(num, sizeof num, "%zu", dlor_model_scratch_size(&m, 1));
    free(plan);
    free(img);
    return add_meta(c, "dlor.scratch_bytes_batch1", num, err);
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
static void print_rank_notes(const convert_cfg *cfg, size_t nkept, size_t ncapped)
{
    if (!cfg->rank_given) return;
    if (ncapped)
        fprintf(stderr, "dlor convert: note: --rank %lld is larger than %zu layer%s allow%s: capped at each one's size "
                        "(listed in dlor.rank_capped; 'dlor verify' names them)\n", (long long)cfg->fo.rank, ncapped,
                ncapped == 1 ? "" : "s", ncapped == 1 ? "s" : "");
    if (cfg->compress && nkept)
        fprintf(stderr, "dlor convert: note: at --rank %lld, %zu layer%s would not be smaller than dense: kept dense "
                        "(listed in dlor.kept_dense; 'dlor verify' names them)\n", (long long)cfg->cc.rank, nkept,
                nkept == 1 ? "" : "s");
}

static int parse_config(const dlor_opts *o, convert_cfg *cfg)
{
    const char *method = dlor_opt(o, defs, "method"), *basis = dlor_opt(o, defs, "basis");
    const char *rank = dlor_opt(o, defs, "rank"), *alpha = dlor_opt(o, defs, "alpha");
    const char *seed = dlor_opt(o, defs, "seed"), *dtype = dlor_opt(o, defs, "dtype");
    dlor_factor_opts *fo = &cfg->fo;
    memset(cfg, 0, sizeof *cfg);
    cfg->o = o;
    const char *tols = dlor_opt(o, defs, "tol"), *budgets = dlor_opt(o, defs, "budget");
    const char *factors = dlor_opt(o, defs, "factors"), *calib = dlor_opt(o, defs, "calib");
    fo->method = DLOR_METHOD_MUL;
    cfg->form = method ? method : (tols || budgets || factors || calib) ? "auto" : "mul";
    if (strcmp(cfg->form, "add") == 0) fo->method = DLOR_METHOD_ADD;
    else if (strcmp(cfg->form, "lowrank") == 0 || strcmp(cfg->form, "svd") == 0 || strcmp(cfg->form, "auto") == 0)
        cfg->compress = 1;
    else if (strcmp(cfg->form, "mul") != 0) {
        fprintf(stderr, "dlor convert: --method must be mul, add, lowrank, svd or auto, not '%s'\n", method);
        return 2;
    }
    if (!cfg->compress && (tols || budgets || factors || calib)) {
        fprintf(stderr, "dlor convert: --tol, --budget, --factors and --calib choose compressed forms; use --method "
                        "auto, lowrank or svd (mul and add are exact)\n");
        return 2;
    }
    if (cfg->compress) {
        dlor_compress_cfg *cc = &cfg->cc;
        int targets = (rank != NULL) + (tols != NULL) + (budgets != NULL);
        cc->fit_beta = strcmp(cfg->form, "svd") != 0;
        cc->calib = calib;
        if (targets != 1) {
            fprintf(stderr, "dlor convert: a compressed form needs exactly one target: --rank R, --tol T or --budget F\n");
            return 2;
        }
        if (tols && (dlor_parse_double(tols, &cc->tol) != 0 || cc->tol <= 0)) {
            fprintf(stderr, "dlor convert: --tol must be a positive number, not '%s'\n", tols);
            return 2;
        }
        cc->has_tol = tols != NULL;
        if (budgets && (dlor_parse_double(budgets, &cc->budget) != 0 || cc->budget <= 0 || cc->budget > 1)) {
            fprintf(stderr, "dlor convert: --budget must be a fraction in (0, 1], not '%s'\n", budgets);
            return 2;
        }
        cc->has_budget = budgets != NULL;
        const char *alloc = dlor_opt(o, defs, "allocate");
        if (alloc && (!budgets || (strcmp(alloc, "max") != 0 && strcmp(alloc, "sum") != 0))) {
            fprintf(stderr, "dlor convert: --allocate takes max or sum and goes with --budget\n");
            return 2;
        }
        cc->allocate_sum = !alloc || strcmp(alloc, "sum") == 0;
        if (factors && (dlor_parse_i64(factors, &cc->factors) != 0 || cc->factors < 1 || cc->factors > 4096)) {
            fprintf(stderr, "dlor convert: --factors must be an integer from 1 to 4096, not '%s'\n", factors);
            return 2;
        }
        if (basis || alpha) {
            fprintf(stderr, "dlor convert: --basis and --alpha apply to the exact forms (mul, add) only\n");
            return 2;
        }
    }
    fo->basis = fo->method == DLOR_METHOD_MUL ? DLOR_BASIS_SCHUR : DLOR_BASIS_SVD;
    if (basis && !cfg->compress) {
        if (strcmp(basis, "schur") == 0) fo->basis = DLOR_BASIS_SCHUR;
        else if (strcmp(basis, "random") == 0) fo->basis = DLOR_BASIS_RANDOM;
        else if (strcmp(basis, "svd") == 0) fo->basis = DLOR_BASIS_SVD;
        else {
            fprintf(stderr, "dlor convert: --basis must be schur, random or svd, not '%s'\n", basis);
            return 2;
        }
        if ((fo->method == DLOR_METHOD_MUL) != (fo->basis != DLOR_BASIS_SVD)) {
            fprintf(stderr, "dlor convert: --basis %s does not apply to --method %s (mul: schur|random; add: svd)\n",
                    basis, fo->method == DLOR_METHOD_MUL ? "mul" : "add");
            return 2;
        }
    }
    fo->rank = DEFAULT_RANK;
    if (rank) {
        if (dlor_parse_i64(rank, &fo->rank) != 0 || fo->rank < 1) {
            fprintf(stderr, "dlor convert: --rank must be a positive integer, not '%s'\n", rank);
            return 2;
        }
        cfg->rank_given = 1;
        cfg->cc.rank = fo->rank;
    }
    fo->alpha_auto = 1;
    if (alpha && strcmp(alpha, "auto") != 0) {
        if (dlor_parse_double(alpha, &fo->alpha) != 0) {
            fprintf(stderr, "dlor convert: --alpha must be a finite number or 'auto', not '%s'\n", alpha);
            return 2;
        }
        if (fo->method == DLOR_METHOD_MUL && fo->alpha == 0.0) {
            fprintf(stderr, "dlor convert: --alpha 0 is not allowed with --method mul (the factors must be invertible)\n");
            return 2;
        }
        fo->alpha_auto = 0;
    }
    if (seed && dlor_parse_u64(seed, &fo->seed) != 0) {
        fprintf(stderr, "dlor convert: --seed must be a non-negative integer, not '%s'\n", seed);
        return 2;
    }
    fo->storage = DLOR_DT_F32;
    if (dtype) {
        fo->storage = dlor_dtype_from_name(dtype);
        if (!dlor_dtype_is_float(fo->storage)) {
            fprintf(stderr, "dlor convert: --dtype must be f32, f64, f16 or bf16, not '%s'\n", dtype);
            return 2;
        }
    }
    cfg->cc.storage = fo->storage;
    const char *jobs = dlor_opt(o, defs, "jobs");
    uint64_t nj = 1;
    if (jobs && (dlor_parse_u64(jobs, &nj) != 0 || nj > 1024)) {
        fprintf(stderr, "dlor convert: --jobs must be an integer from 0 to 1024, not '%s'\n", jobs);
        return 2;
    }
    cfg->jobs = nj == 0 ? dlor_cpu_count() : (int)nj;
    cfg->cc.jobs = cfg->jobs;
    const char *shard = dlor_opt(o, defs, "shard");
    int64_t si, sn;
    if (shard && dlor_shard_parse(shard, &si, &sn) != 0) {
        fprintf(stderr, "dlor convert: --shard takes I/N with 0 <= I < N <= 65536, not '%s'\n", shard);
        return 2;
    }
    if (shard && (budgets || dlor_opt(o, defs, "emit"))) {
        fprintf(stderr, "dlor convert: --shard does not go with %s\n",
                budgets ? "--budget (the budget is shared by all layers: convert in one process, or use --tol "
                          "or --rank)"
                        : "--emit (emit from the merged file's conversion in one process)");
        return 2;
    }
    return 0;
}

/* The options as the per-layer targets of lib/convert (convert_run.h). */
static void convert_request(const dlor_opts *o, const convert_cfg *cfg, const char *in, const char *out,
                            int show_plan, dlor_convert_request *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->in = in;
    rq->out = out;
    rq->plan_in = dlor_opt(o, defs, "plan");
    rq->plan_out = dlor_opt(o, defs, "plan-out");
    int si = dlor_opt_index(defs, "set");
    rq->sets = o->all[si];
    rq->nsets = o->count[si];
    rq->dry_run = dlor_opt(o, defs, "dry-run") != NULL;
    rq->force = dlor_opt(o, defs, "force") != NULL;
    rq->show_plan = show_plan;
    rq->base.form = dlor_form_from_name(cfg->form);
    rq->base.rank = cfg->rank_given ? cfg->fo.rank : 0;
    rq->base.tol = cfg->compress && cfg->cc.has_tol ? cfg->cc.tol : 0;
    rq->base.dtype = cfg->fo.storage;
    rq->have_budget = cfg->compress && cfg->cc.has_budget;
    rq->budget = cfg->cc.budget;
    rq->jobs = cfg->jobs;
    rq->calib = cfg->compress ? cfg->cc.calib : NULL;
}

/* One group of layers with equal targets (dlor_convert_groups), converted as a
 * run with those options would convert them. */
typedef struct {
    const convert_cfg *cfg;
    const dlor_tensor_list *src;
    const dlor_graph *g;
    int progress;
    char *kept, *capped;        /* the run's lists (65536 bytes each) */
    dlor_container *fparts;     /* factor_all's parts, freed after the file is written */
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
        cfg.cc.fit_beta = s->form != DLOR_FORM_SVD;
        cfg.cc.rank = s->rank > 0 ? s->rank : 0;
        cfg.cc.has_tol = s->tol > 0;
        cfg.cc.tol = s->tol;
        cfg.cc.has_budget = s->budget;
        cfg.cc.storage = s->dtype;
        dlor_status st = dlor_compress_layers(&cfg.cc, x->src, x->g, sel, part, x->progress, kept, sizeof kept, err);
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
    cfg.fo.rank = s->rank > 0 ? s->rank : DEFAULT_RANK;
    cfg.rank_given = s->rank > 0;
    cfg.fo.storage = s->dtype;
    dlor_container *fp = NULL;
    size_t nfp = 0;
    dlor_status st = factor_all(&cfg, x->src, sel, cfg.jobs, part, &fp, &nfp, x->progress, x->capped, 65536, err);
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

int dlor_cmd_convert(int argc, char **argv)
{
    dlor_opts o;
    convert_cfg cfg;
    int rc = dlor_opts_parse("convert", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    if (o.npos != 1 || (!dlor_opt(&o, defs, "output") && !dlor_opt(&o, defs, "dry-run"))) {
        fprintf(stderr, "dlor convert: expected one input file and -o OUT.dlor (see 'dlor convert --help')\n");
        return 2;
    }
    if ((rc = dlor_check_activation_opt("convert", dlor_opt(&o, defs, "activation"))) != 0) return rc;
    if (dlor_opt(&o, defs, "form") && strcmp(dlor_opt(&o, defs, "form"), "layer") != 0) {
        static const char *const layer_only[] = {"method", "tol", "budget", "allocate", "factors", "emit",
                                                 "shard", "include", "exclude"};
        for (size_t i = 0; i < sizeof layer_only / sizeof layer_only[0]; i++)
            if (dlor_opt(&o, defs, layer_only[i])) {
                fprintf(stderr, "dlor convert: --%s does not go with --form network (it converts every layer of the "
                                "model's graph exactly)\n", layer_only[i]);
                return 2;
            }
        return dlor_convert_network(&o, defs);
    }
    if (dlor_opt(&o, defs, "construction") || dlor_opt(&o, defs, "h") || dlor_opt(&o, defs, "c") ||
        dlor_opt(&o, defs, "beta")) {
        fprintf(stderr, "dlor convert: --construction, --h, --c and --beta go with --form network\n");
        return 2;
    }
    if ((rc = parse_config(&o, &cfg)) != 0) return rc;
    int u_layout;
    if (dlor_convert_u_layout(&o, defs, &u_layout) != 0) return 2;
    const char *in = o.pos[0], *out = dlor_opt(&o, defs, "output");
    const dlor_cmd_output outputs[] = {{"-o", out, DLOR_OUT_BINARY},
                                       {"--emit", dlor_opt(&o, defs, "emit"), DLOR_OUT_FILE},
                                       {"--plan-out", dlor_opt(&o, defs, "plan-out"), DLOR_OUT_TEXT}};
    const char *inputs[] = {in, dlor_opt(&o, defs, "calib"), dlor_opt(&o, defs, "plan")};
    if ((rc = dlor_cmd_check_outputs("convert", outputs, 3, inputs, 3)) != 0) return rc;
    int progress = isatty(2) || dlor_opt(&o, defs, "verbose");
    cfg.cc.show_progress = progress;
    int inc = dlor_opt_index(defs, "include"), exc = dlor_opt_index(defs, "exclude");

    dlor_error err;
    dlor_tensor_list src;
    dlor_container c;
    char why[512] = "";
    const char *graph_source = NULL;
    dlor_tensor_list_init(&src);
    dlor_container_init(&c);
    dlor_status st = dlor_read_model(in, &src, &c.graph, why, sizeof why, &err);
    if (st == DLOR_OK)
        st = dlor_resolve_graph(in, &src, &c.graph, dlor_opt(&o, defs, "activation"), &graph_source, why,
                                sizeof why, &err);
    if (st == DLOR_OK && c.graph.count) st = dlor_graph_check(&c.graph, &src, in, NULL, NULL, &err);
    if (st != DLOR_OK) {
        dlor_container_free(&c);
        dlor_tensor_list_free(&src);
        return dlor_cmd_fail("convert", &err);
    }
    if (!c.graph.count && dlor_opt(&o, defs, "activation"))
        fprintf(stderr, "dlor convert: note: %s: no graph recorded: %s\n", in, why);

    size_t nfactor = 0;
    int *selected = calloc(src.count ? src.count : 1, sizeof *selected);
    if (!selected) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
    if (st == DLOR_OK)
        nfactor = dlor_convert_select(&src, &c.graph, o.all[inc], o.count[inc], o.all[exc], o.count[exc], in, selected);
    /* per-layer targets: the options, a --plan file, --set rules */
    dlor_convert_request rq;
    int uniform = 1;
    dlor_layer_spec *specs = calloc(src.count ? src.count : 1, sizeof *specs);
    if (st == DLOR_OK && !specs) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
    if (st == DLOR_OK) {
        convert_request(&o, &cfg, in, out, isatty(2), &rq);
        st = dlor_convert_specs(&rq, &src, &c.graph, selected, &nfactor, specs, &uniform, &err);
    }
    if (st == DLOR_OK && uniform && cfg.compress && cfg.cc.rank > 0) st = check_rank_usable(&cfg.cc, &src, selected, &err);
    /* With --shard, this process converts its share of the layers; part 0 also
     * carries the tensors no shard converts. */
    int64_t shard_i = 0, shard_n = 0;
    if (st == DLOR_OK && dlor_opt(&o, defs, "shard")) {
        dlor_shard_parse(dlor_opt(&o, defs, "shard"), &shard_i, &shard_n); /* checked in parse_config */
        int64_t *owner = malloc((src.count ? src.count : 1) * sizeof *owner);
        if (!owner) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
        else dlor_shard_assign(&src, selected, !cfg.compress && cfg.fo.method == DLOR_METHOD_MUL, shard_n, owner);
        for (size_t i = 0; st == DLOR_OK && i < src.count; i++)
            if (selected[i] && owner[i] != shard_i) selected[i] = 2; /* another shard's */
        free(owner);
    }
    /* the plan: printed, checked against the machine, or all a --dry-run does */
    if (st == DLOR_OK) {
        int gate = dlor_convert_plan_gate(&rq, &src, &c.graph, selected, specs, &err);
        if (gate == -1) st = err.code;
        else if (gate) {
            free(selected);
            free(specs);
            dlor_container_free(&c);
            dlor_tensor_list_free(&src);
            return gate == 1 ? 0 : 2;
        }
    }
    /* the targets of every layer, this shard's and the others' (the parts of a
     * run record the same) */
    char *targets = NULL;
    if (st == DLOR_OK && !uniform) st = dlor_convert_targets_text(&src, selected, specs, &targets, &err);
    /* every tensor not converted is carried over unchanged */
    for (size_t i = 0; i < src.count && st == DLOR_OK; i++) {
        const dlor_tensor *t = &src.items[i];
        if (selected[i] || shard_i > 0) continue;
        st = dlor_tensor_list_add(&c.tensors, in, t->name, strlen(t->name), t->dtype, t->ndim, t->dims,
                                  t->data, t->nbytes, &err);
    }
    for (size_t i = 0; i < src.count && shard_n; i++) /* other shards' layers: not here */
        if (selected[i] == 2) {
            selected[i] = 0;
            nfactor--;
        }
    /* the names of layers kept dense, and of layers whose --rank was capped, for
     * metadata values (65535 bytes at most) */
    char *kept_dense = calloc(65536, 1), *capped = calloc(65536, 1);
    if (st == DLOR_OK && (!kept_dense || !capped)) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
    if (st == DLOR_OK && uniform && cfg.compress) {
        st = dlor_compress_layers(&cfg.cc, &src, &c.graph, selected, &c, progress, kept_dense, 65536, &err);
        if (st != DLOR_OK) dlor_error_prefix(&err, in);
    }
    dlor_container *parts = NULL, *gparts = NULL;
    size_t nparts = 0, ngparts = 0;
    group_ctx gx = {&cfg, &src, &c.graph, progress, kept_dense, capped, NULL, 0};
    if (st == DLOR_OK && !uniform) {
        st = dlor_convert_groups(&src, selected, specs, convert_group, &gx, &c, &gparts, &ngparts, &err);
        if (st != DLOR_OK) dlor_error_prefix(&err, in);
        if (st == DLOR_OK) st = add_meta(&c, "dlor.layer_targets", targets, &err);
    }
    free(specs);
    free(targets);
    if (st == DLOR_OK && uniform && !cfg.compress) {
        st = factor_all(&cfg, &src, selected, cfg.jobs, &c, &parts, &nparts, progress, capped, 65536, &err);
        if (st != DLOR_OK) dlor_error_prefix(&err, in);
    }
    free(selected);
    size_t nkept = 0, ncapped = 0;
    if (st == DLOR_OK) {
        nkept = list_count(kept_dense);
        ncapped = list_count(capped);
        if (!progress) print_rank_notes(&cfg, nkept, ncapped);
    }
    /* merge rebuilds the lists in this order */
    if (st == DLOR_OK) st = dlor_sort_name_list(kept_dense, &err);
    if (st == DLOR_OK) st = dlor_sort_name_list(capped, &err);
    if (st == DLOR_OK && kept_dense[0]) st = add_meta(&c, "dlor.kept_dense", kept_dense, &err);
    if (st == DLOR_OK && capped[0]) st = add_meta(&c, "dlor.rank_capped", capped, &err);
    free(kept_dense);
    free(capped);
    if (st == DLOR_OK && o.count[inc] > 0 && nfactor == 0 && !shard_n)
        fprintf(stderr, "dlor convert: note: no 2-D float tensor matched --include; nothing was factored\n");
    dlor_container_set_u_layout(&c, u_layout);
    if (st == DLOR_OK) st = write_metadata(&cfg, in, &src, &c, &err);
    if (st == DLOR_OK && shard_n) st = shard_metadata(&c, shard_i, shard_n, graph_source, why, &err);
    else if (st == DLOR_OK) st = dlor_convert_graph_metadata(&c, graph_source, why, &err);
    /* --emit is written under a temporary name and renamed into place only once
     * OUT is written, so a run that fails leaves neither file behind */
    const char *emit = dlor_opt(&o, defs, "emit");
    char *emit_tmp = NULL;
    if (st == DLOR_OK && emit) {
        size_t n = strlen(emit) + 32;
        if (!(emit_tmp = malloc(n))) st = dlor_fail(&err, DLOR_E_NOMEM, "%s: out of memory", emit);
        else snprintf(emit_tmp, n, "%s.pending.%ld", emit, (long)getpid());
        if (st == DLOR_OK) st = dlor_emit_safetensors(emit_tmp, &c, &err);
        size_t tl = emit_tmp ? strlen(emit_tmp) : 0;
        if (st != DLOR_OK && tl && strncmp(err.msg, emit_tmp, tl) == 0) { /* name the file the user asked for */
            char rest[DLOR_ERROR_MSG_MAX];
            snprintf(rest, sizeof rest, "%s", err.msg + tl);
            dlor_fail(&err, st, "%s%s", emit, rest);
        }
    }
    dlor_progress wprog;
    dlor_progress_begin(&wprog, progress, "writing", "files", 1, 0);
    if (st == DLOR_OK)
        st = dlor_opt(&o, defs, "compress") ? dlor_container_write_deflated(out, &c, &err)
                                            : dlor_container_write(out, &c, &err);
    dlor_progress_step(&wprog, 0);
    dlor_progress_end(&wprog);
    if (emit_tmp) {
        if (st == DLOR_OK && rename(emit_tmp, emit) != 0)
            st = dlor_fail(&err, DLOR_E_IO, "%s: cannot rename output into place: %s", emit, strerror(errno));
        if (st != DLOR_OK) unlink(emit_tmp);
        free(emit_tmp);
    }
    size_t ntensors = c.tensors.count;
    dlor_container_free(&c);
    for (size_t i = 0; i < nparts; i++) dlor_container_free(&parts[i]);
    free(parts);
    for (size_t i = 0; i < ngparts; i++) dlor_container_free(&gparts[i]);
    free(gparts);
    for (size_t i = 0; i < gx.nfparts; i++) dlor_container_free(&gx.fparts[i]);
    free(gx.fparts);
    dlor_tensor_list_free(&src);
    if (st != DLOR_OK) return dlor_cmd_fail("convert", &err);
    if (progress) {
        char capnote[64] = "", keptnote[64] = "";
        if (ncapped) snprintf(capnote, sizeof capnote, " (%zu with --rank capped)", ncapped);
        if (cfg.compress) snprintf(keptnote, sizeof keptnote, ", %zu kept dense", nkept);
        fprintf(stderr, "wrote %s: %zu layer%s factored%s%s, %zu tensors stored\n",
                strcmp(out, "-") ? out : "standard output", nfactor - nkept,
                nfactor - nkept == 1 ? "" : "s", capnote, keptnote, ntensors);
    }
    return 0;
}
