/* plan.c - estimates of a conversion before it runs (convert_plan.h).
 *
 * The rates below were measured on the machine of BENCHMARKS.md (2 cores,
 * OpenBLAS, idle) by converting layers of Gaussian entries and timing them
 * (bench/plan_rates.py), and /usr/bin/time -v for peak RSS; bench/plan_check.py
 * reruns the comparison on a mid-size model and prints estimate / measured. */
#define _POSIX_C_SOURCE 200809L
#include "convert_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "dlor_fileio.h"
#include "dlor_graph.h"
#include "sensitivity.h"

/* Seconds per unit of work on the reference machine, idle (plan_speed.c scales
 * them to the machine a plan runs on). bench/plan_rates.py converts four seeded
 * Gaussian layers of each of 7 shapes (384^2 to 1024^2, 2048 x 512, 512 x 2048,
 * 1536 x 384, 1024 x 256) in each form, one job and one BLAS thread, and prints
 * the measured time over the plan's; with these rates and the process and output
 * terms below that ratio is 0.56-1.28 over its 41 rows, median 0.95:
 *  mul: the Schur form of the K x K block, K = min(m, n), and the factors of the
 *       padded D x D layer, D = max(m, n) (RATE_MUL_K3 K^3 + RATE_MUL_D2K D^2 K):
 *       1024 x 1024 0.80 s, 2048 x 512 0.70 s, 1024 x 256 0.13 s a layer;
 *  add: one SVD of m x n (m n K): 1024 x 1024 0.38 s, 2048 x 512 0.23 s;
 *  compressed at a rank k: about 2.2 SVDs (the beta search's two starts), each
 *       LAPACK's full one (RATE_ADD m n K) or, where svd_top.c takes the block
 *       Krylov method (K >= 200 and at least 5 blocks of b = k + max(10, k/10)
 *       columns within 0.6 K, at most 10), RATE_KRYLOV m n b blocks: 1024 x 1024
 *       at rank 64 0.18 s (Krylov), at rank 200 0.80 s (full), 2048 x 512 at
 *       rank 64 0.39 s;
 *  compressed at a tol or budget: the error curves (RATE_CURVES m n K: 1024 x
 *       1024 0.39 s) and a fit at the rank the target comes to (RATE_LOWRANK m n
 *       min(K, 2 k + 64): 1024 x 1024 at rank 256 0.41 s). */
#define RATE_MUL_K3 0.7e-9
#define RATE_MUL_D2K 0.3e-9
#define RATE_ADD 0.4e-9
#define RATE_LOWRANK 0.6e-9         /* a fit after the error curves: m n min(K, 2 k + 64) */
#define RATE_KRYLOV 0.14e-9
#define RANK_FIT_SVDS 2.2
#define RATE_CURVES 0.4e-9
/* The calibration pass, per row and weight of the model (the dense pass in double,
 * the Gram matrices), idle: 3.7e-10 on a chain of eight 512 x 512 layers with 16384
 * rows (12.6 s), 1.7e-10 on all-MiniLM-L6-v2 with 128 x 40 tokens (9 s). */
#define RATE_CALIB_ROW 0.3e-9
/* The sensitivity passes of a calibrated allocation (sensitivity.h): float32 passes of
 * at most DLOR_SENS_ROWS rows through the dense graph on --jobs workers, each after
 * building the graph's image. A pass costs, per row, RATE_SENS_ROW per weight of the
 * linear layers and RATE_SENS_VALUE per float value the pass writes (values_per_row:
 * the norms, activations, attention and copies around the layers, which dominate a
 * small model). Both from two models, idle: all-MiniLM-L6-v2 (10.6 M weights, 44544
 * values a row, 4080 rows): 1.14 s a pass ('dlor convert --budget 0.5 --calib --jobs 2
 * --verbose': its first "sensitivity: 36 layers done in" line, 37 passes and 36 probe
 * fits, less the time the same fits take in the lines after it); llama-tiny (111488
 * weights, 3022 values a row): 1.03e-5 s a row and pass (the sensitivity's time with
 * 32, 64 and 128 calibration sequences, 20 passes). The probes' fits are rank_fit_secs
 * at the budget's rank. */
#define RATE_SENS_ROW 1.42e-11      /* per row and weight of the model, per pass */
#define RATE_SENS_VALUE 2.9e-9      /* per row and value of the graph, per pass */
/* The process itself: starting and reading the source (a conversion of bert-tiny or
 * llama-tiny with no work to speak of takes 0.03-0.07 s), and per byte of the output
 * (encoded, checksummed, with a graph built in memory once and opened, then written):
 * all-MiniLM-L6-v2 --jobs 2 took 1.2 s more than its layers' factorizations for the
 * 112 MB of --method add, 2.3 s for the 303 MB of --method mul, idle. */
#define BASE_SECS 0.03
#define RATE_OUT_BYTE 6e-9
/* plans shorter than this at the reference rates are not worth the probe's 50 ms */
#define PROBE_FROM_SECS 1.0
/* Memory: the process with its libraries before any tensor, 9.3 MB measured
 * (peak RSS of converting the 70 KB digits sample); LAPACK's workspace of a
 * factorization about WORK_D2 doubles per element of the padded D x D layer
 * (peak RSS of the three layers above: mul 80 MB, add 73 MB, rank 64 65 MB). */
#define BASE_BYTES (10u << 20)
#define WORK_D2 6.0

static uint64_t u64min(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t u64max(uint64_t a, uint64_t b) { return a > b ? a : b; }

#define TENSOR_OVERHEAD 128 /* table entry and alignment, per stored tensor */

/* The largest rank whose beta I + P Q^T stores fewer numbers than dense. */
static int64_t rank_cap(int64_t m, int64_t n, int fit_beta)
{
    int64_t kmin = m < n ? m : n, k = (m * n - 1 - (fit_beta != 0)) / (m + n);
    return k < kmin ? k : kmin;
}

/* Seconds of a fit at rank k from no start (a --rank target). */
static double rank_fit_secs(double m, double n, double k)
{
    double K = m < n ? m : n, o = k / 10 < 10 ? 10 : (double)(long)(k / 10), b = k + o;
    double blocks = b <= K ? (double)(long)(0.6 * K / b) : 0;
    if (blocks > 10) blocks = 10;
    double one = K >= 200 && blocks >= 5 ? RATE_KRYLOV * m * n * b * blocks : RATE_ADD * m * n * K;
    return RANK_FIT_SVDS * one;
}

/* Float values a forward pass writes per row (token or sample): every value's
 * features (a DAG: its inferred shapes; a chain: each op as wide as the linear
 * op before it). */
static double values_per_row(const dlor_graph *g, const dlor_tensor_list *src)
{
    double v = 0;
    if (!g || !g->count) return 0;
    if (dlor_graph_is_dag(g)) {
        dlor_graph_value *vals = calloc(g->count, sizeof *vals);
        dlor_error e;
        if (vals && dlor_graph_shapes(g, src, "the plan", vals, &e) == DLOR_OK)
            for (size_t i = 0; i < g->count; i++)
                if (g->ops[i].kind != DLOR_OP_OUTPUT) v += (double)vals[i].features;
        free(vals);
        return v;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < g->count; i++) {
        const dlor_tensor *t = g->ops[i].kind == DLOR_OP_LINEAR ? dlor_tensor_list_find(src, g->ops[i].weight) : NULL;
        if (t && t->ndim == 2) w = t->dims[0];
        v += (double)w;
    }
    return v;
}

dlor_plan_calib dlor_plan_calib_of(uint64_t rows, int budget, int bits, int uniform)
{
    dlor_plan_calib c = {rows, 0, 0, 0};
    if (!rows || !budget) return c;
    if (bits) { /* two sweeps: the fits' probes, and the q4 errors */
        c.sweeps = 2;
        c.fits = 1;
    } else if (!uniform) { /* a sweep of the fits' probes; the allocated and uniform ranks, each at once */
        c.sweeps = 1;
        c.joint = 2;
        c.fits = 3;
    }
    return c;
}

static void estimate(dlor_plan_item *it, double budget_hint)
{
    const dlor_tensor *t = it->t;
    const dlor_layer_spec *s = &it->spec;
    uint64_t m = t->dims[0], n = t->dims[1], K = m < n ? m : n, D = m > n ? m : n;
    double dm = (double)m, dn = (double)n, dK = (double)K, dD = (double)D;
    uint64_t es = dlor_dtype_size(s->dtype), dense_at = m * n * u64min(es, dlor_dtype_size(t->dtype));
    uint64_t w64 = m * n * 8; /* the layer in double */
    switch (s->form) {
    case DLOR_FORM_MUL:
        it->out_bytes = 2 * D * D * es + 2 * TENSOR_OVERHEAD;
        it->secs = RATE_MUL_K3 * dK * dK * dK + RATE_MUL_D2K * dD * dD * dK;
        it->work_bytes = w64 + (uint64_t)(WORK_D2 * 8.0 * dD * dD);
        it->held_bytes = it->out_bytes;
        it->growth = (double)(2 * D * D) / (dm * dn);
        break;
    case DLOR_FORM_ADD:
        it->out_bytes = (m + n) * K * es + 2 * TENSOR_OVERHEAD;
        it->secs = RATE_ADD * dm * dn * dK;
        it->work_bytes = w64 * 3 + (m + n) * K * 8;
        it->held_bytes = it->out_bytes;
        it->growth = (double)((m + n) * K) / (dm * dn);
        break;
    case DLOR_FORM_LOWRANK:
    case DLOR_FORM_SVD:
    case DLOR_FORM_AUTO:
    case DLOR_FORM_QLR: {
        int64_t cap = rank_cap((int64_t)m, (int64_t)n, s->form != DLOR_FORM_SVD && s->form != DLOR_FORM_QLR);
        if (s->rank > 0) {
            uint64_t k = (uint64_t)s->rank;
            it->secs = s->rank <= cap ? rank_fit_secs(dm, dn, (double)k) : 0;
            it->out_bytes = s->rank <= cap ? k * (m + n) * es + 2 * TENSOR_OVERHEAD : dense_at + TENSOR_OVERHEAD;
        } else {
            /* the rank the target comes to: about the budget's share, or half the
             * largest rank cheaper than dense for a tol */
            double k = s->tol > 0 ? 0.5 * (double)cap : budget_hint * dm * dn / (dm + dn);
            double kk = dK < 2.0 * k + 64 ? dK : 2.0 * k + 64;
            it->secs = RATE_CURVES * dm * dn * dK + RATE_LOWRANK * dm * dn * kk;
            if (s->tol > 0) {
                it->out_bytes = dense_at + TENSOR_OVERHEAD; /* at most: kept dense */
                it->out_bound = 1;
            } else {
                it->out_bytes = (uint64_t)(budget_hint * (double)(m * n)) * es + 2 * TENSOR_OVERHEAD;
            }
        }
        /* the layer in double only while its curve or fit task runs, with the
         * SVD's copies; afterwards only its encoded bytes (and, with --calib, its
         * n x n whitening factor, added by dlor_plan_make) */
        it->held_bytes = it->out_bytes;
        it->work_bytes = w64 * 2 + (m + n) * K * 8;
        if (s->form == DLOR_FORM_QLR) it->work_bytes += 2 * w64; /* the residual, and its norms */
        break;
    }
    default:
        break;
    }
}

dlor_status dlor_plan_make(dlor_plan *p, const dlor_tensor_list *src, const struct dlor_graph *g, const int *selected,
                           const dlor_layer_spec *specs, int jobs, double budget, const dlor_plan_calib *calib,
                           uint64_t src_file_bytes, dlor_error *err)
{
    uint64_t calib_rows = calib ? calib->rows : 0;
    memset(p, 0, sizeof *p);
    p->items = calloc(src->count ? src->count : 1, sizeof *p->items);
    if (!p->items) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for the plan");
    p->n = src->count;
    p->jobs = jobs < 1 ? 1 : jobs;
    p->src_bytes = src_file_bytes;
    uint64_t held = 0, work_max = 0, weights = 0, carried = 0;
    /* a mapped source (safetensors) is resident only where it is being read: a
     * layer while a task converts it, the carried tensors while they are written;
     * other sources are read into memory whole */
    int mapped = src->nmaps > 0;
    int compressed_any = 0;
    double secs = 0, longest = 0, probe_fits = 0;
    size_t ncompressed = 0;
    uint64_t biggest = 0, graph_bytes = 0, whiten = 0;
    for (size_t i = 0; i < src->count; i++) {
        dlor_plan_item *it = &p->items[i];
        it->t = &src->items[i];
        it->role = dlor_tensor_role_of(it->t, g);
        it->convert = selected[i] == 1 && specs[i].form != DLOR_FORM_DENSE;
        it->other_shard = selected[i] == 2;
        if (selected[i]) it->spec = specs[i];
        if (it->t->ndim == 2 && it->role == DLOR_ROLE_LINEAR) weights += it->t->nelem;
        if (it->role != DLOR_ROLE_OTHER) graph_bytes += it->t->nbytes;
        if (!it->convert) {
            if (!it->other_shard) it->out_bytes = it->t->nbytes + TENSOR_OVERHEAD;
            if (!it->other_shard) carried += it->t->nbytes;
            p->out_bytes += it->out_bytes;
            continue;
        }
        estimate(it, budget > 0 ? budget : 0.5);
        p->nconvert++;
        p->dense_bytes += it->t->nbytes;
        p->out_bytes += it->out_bytes;
        if (calib_rows && dlor_form_is_compressed(it->spec.form)) {
            it->held_bytes += it->t->dims[1] * it->t->dims[1] * 8; /* the whitening factor */
            whiten += it->t->dims[1] * it->t->dims[1] * 8;
        }
        if (dlor_form_is_compressed(it->spec.form)) {
            /* a sensitivity probe: the fit at about the budget's rank */
            double dm = (double)it->t->dims[0], dn = (double)it->t->dims[1];
            double k = (budget > 0 ? budget : 0.5) * dm * dn / (dm + dn);
            probe_fits += rank_fit_secs(dm, dn, k < 1 ? 1 : k);
            ncompressed++;
            biggest = u64max(biggest, it->t->nelem);
        }
        held += it->held_bytes;
        /* a layer kept dense is written from the source's bytes */
        if (dlor_form_is_compressed(it->spec.form) && it->out_bytes >= it->t->nbytes) carried += it->t->nbytes;
        work_max = u64max(work_max, it->work_bytes + (mapped ? it->t->nbytes : 0));
        secs += it->secs;
        if (it->secs > longest) longest = it->secs;
        if (dlor_form_is_compressed(it->spec.form)) compressed_any = 1;
        if ((it->spec.form == DLOR_FORM_MUL || it->spec.form == DLOR_FORM_ADD) && it->growth > DLOR_PLAN_GROWTH_FLAG)
            p->nflagged++;
    }
    if (calib_rows && compressed_any) secs += RATE_CALIB_ROW * (double)calib_rows * (double)weights;
    /* jobs layers at once: the work spreads, the longest layer still takes its time */
    p->secs = BASE_SECS + RATE_OUT_BYTE * (double)p->out_bytes + (secs / p->jobs > longest ? secs / p->jobs : longest);
    /* the sensitivity passes and their probes' fits, one after another */
    uint64_t sens_peak = 0;
    if (calib && calib->rows && ncompressed && (calib->sweeps || calib->joint)) {
        double rows = (double)u64min(calib->rows, DLOR_SENS_ROWS);
        double passes = (double)calib->sweeps * (double)(ncompressed + 1) + 2.0 * (double)calib->joint;
        double per_row = (double)weights * RATE_SENS_ROW + values_per_row(g, src) * RATE_SENS_VALUE;
        p->sens_secs = passes * rows * per_row + (double)calib->fits * probe_fits;
        p->secs += p->sens_secs;
        /* meanwhile: the graph's image (a copy of its tensors, the source's pages
         * read), the whitening factors (and in a sweep the Gram matrices, as large),
         * the outputs of the dense and the probed
         * passes in double (about the widest layer's outputs per row), the probed
         * layer in double twice, and with joint runs every probe in float32 */
        uint64_t widest = 0;
        for (size_t i = 0; g && i < g->count && !widest; i++) { /* the last linear layer's outputs */
            const dlor_graph_op *op = &g->ops[g->count - 1 - i];
            const dlor_tensor *t = op->kind == DLOR_OP_LINEAR ? dlor_tensor_list_find(src, op->weight) : NULL;
            if (t && t->ndim == 2) widest = t->dims[0];
        }
        for (size_t i = 0; i < p->n && !g; i++) /* no graph: the widest outputs */
            if (p->items[i].convert && p->items[i].t->ndim == 2) widest = u64max(widest, p->items[i].t->dims[0]);
        sens_peak = BASE_BYTES + src_file_bytes + graph_bytes + whiten * (calib->sweeps ? 2 : 1) +
                    2 * (uint64_t)rows * widest * 8 +
                    2 * biggest * 8 + (calib->joint ? weights * 4 : 0);
    }
    /* The peak (README, "The plan"): what stays held (the converted layers' bytes
     * as stored) plus the larger of the work of 'jobs' layers at once (each in
     * double with its SVD's copies, and its source bytes while they are read)
     * and the writer's (it copies every U factor into panels before it writes:
     * about half the factors' bytes; a mapped source's carried tensors become
     * resident as they are written). */
    uint64_t factors = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->items[i].convert) factors += p->items[i].out_bytes;
    uint64_t writing = factors / 2 + (mapped ? carried : 0);
    /* with a graph, the whole output is built in memory once to check that it opens
     * (the scratch size it records) */
    if (g && g->count) writing += p->out_bytes;
    p->peak_bytes = BASE_BYTES + (mapped ? 0 : src_file_bytes) + held + u64max(work_max * (uint64_t)p->jobs, writing);
    p->peak_bytes = u64max(p->peak_bytes, sens_peak);
    /* the rates are the reference machine's, idle: scaled to this one as it runs now */
    p->speed = p->secs >= PROBE_FROM_SECS ? dlor_plan_speed() : 1.0;
    for (size_t i = 0; i < p->n; i++) p->items[i].secs *= p->speed;
    p->secs *= p->speed;
    p->sens_secs *= p->speed;
    return DLOR_OK;
}

void dlor_plan_free(dlor_plan *p)
{
    free(p->items);
    memset(p, 0, sizeof *p);
}

const char *dlor_bytes_str(uint64_t b, char *buf, size_t len)
{
    if (b < 10000) snprintf(buf, len, "%llu B", (unsigned long long)b);
    else if (b < 10000000) snprintf(buf, len, "%.1f KB", (double)b / 1e3);
    else if (b < 10000000000ull) snprintf(buf, len, "%.1f MB", (double)b / 1e6);
    else snprintf(buf, len, "%.2f GB", (double)b / 1e9);
    return buf;
}

static const char *secs_str(double s, char *buf, size_t len)
{
    if (s < 60) snprintf(buf, len, "%.2g s", s < 0.01 ? 0.01 : s);
    else if (s < 3600) snprintf(buf, len, "%.1f min", s / 60);
    else snprintf(buf, len, "%.1f h", s / 3600);
    return buf;
}

void dlor_plan_lines(const dlor_plan *p, const char *in, const dlor_convert_hooks *h)
{
    char a[32], b[32], c[32], shape[64];
    int w = 6;
    for (size_t i = 0; i < p->n; i++)
        if ((int)strlen(p->items[i].t->name) > w) w = (int)strlen(p->items[i].t->name);
    dlor_hooks_line(h, DLOR_LINE_PLAN, "plan for %s: %zu of %zu tensors converted", in, p->nconvert, p->n);
    dlor_hooks_line(h, DLOR_LINE_PLAN, "%-*s %-14s %-9s %-22s %11s %11s %9s", w, "tensor", "shape", "role", "form",
                    "out bytes", "memory", "time");
    for (size_t i = 0; i < p->n; i++) {
        const dlor_plan_item *it = &p->items[i];
        char form[64];
        dlor_shape_str(it->t->dims, it->t->ndim, shape, sizeof shape);
        if (!it->convert) {
            dlor_hooks_line(h, DLOR_LINE_PLAN, "%-*s %-14s %-9s %-22s %11s", w, it->t->name, shape,
                            dlor_role_name(it->role), it->other_shard ? "another shard" : "carried",
                            it->other_shard ? "-" : dlor_bytes_str(it->out_bytes, a, sizeof a));
            continue;
        }
        const dlor_layer_spec *s = &it->spec;
        int n = snprintf(form, sizeof form, "%s", dlor_form_name(s->form));
        if (s->rank > 0) n += snprintf(form + n, sizeof form - (size_t)n, " r=%lld", (long long)s->rank);
        else if (s->tol > 0) n += snprintf(form + n, sizeof form - (size_t)n, " tol=%.3g", s->tol);
        else if (dlor_form_is_compressed(s->form)) n += snprintf(form + n, sizeof form - (size_t)n, " budget");
        snprintf(form + n, sizeof form - (size_t)n, " %s", dlor_dtype_name(s->dtype));
        dlor_hooks_line(h, DLOR_LINE_PLAN, "%-*s %-14s %-9s %-22s %s%10s %11s %9s%s", w, it->t->name, shape,
                        dlor_role_name(it->role), form, it->out_bound ? "<" : " ",
                        dlor_bytes_str(it->out_bytes, a, sizeof a), dlor_bytes_str(it->work_bytes, b, sizeof b),
                        secs_str(it->secs, c, sizeof c),
                        (s->form == DLOR_FORM_MUL || s->form == DLOR_FORM_ADD) && it->growth > DLOR_PLAN_GROWTH_FLAG
                            ? "  GROWS" : "");
    }
    char d[32], e[64] = "", f[32], g[48] = "";
    if (p->speed != 1.0) snprintf(g, sizeof g, ", rates x%.2f on this machine now", p->speed);
    if (p->sens_secs > 0) snprintf(e, sizeof e, "; the sensitivity passes %s", secs_str(p->sens_secs, f, sizeof f));
    dlor_hooks_line(h, DLOR_LINE_PLAN,
                    "total: %zu layers, output %s (their dense bytes %s), peak memory %s, time %s (%d job%s%s%s)",
                    p->nconvert, dlor_bytes_str(p->out_bytes, a, sizeof a),
                    dlor_bytes_str(p->dense_bytes, b, sizeof b), dlor_bytes_str(p->peak_bytes, c, sizeof c),
                    secs_str(p->secs, d, sizeof d), p->jobs, p->jobs == 1 ? "" : "s", g, e);
}

size_t dlor_plan_print_flags(const dlor_plan *p, const dlor_convert_hooks *h)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        const dlor_plan_item *it = &p->items[i];
        if (!it->convert || (it->spec.form != DLOR_FORM_MUL && it->spec.form != DLOR_FORM_ADD) ||
            !(it->growth > DLOR_PLAN_GROWTH_FLAG))
            continue;
        uint64_t m = it->t->dims[0], k = it->t->dims[1], mn = m < k ? m : k;
        dlor_hooks_line(h, 1, "note: layer '%s' [%llu, %llu]: its exact %s form stores %.1fx its dense size (zero "
                        "padding to %llu x %llu); --method add stores %.2fx, a compressed form less",
                it->t->name, (unsigned long long)m, (unsigned long long)k, dlor_form_name(it->spec.form), it->growth,
                (unsigned long long)(m > k ? m : k), (unsigned long long)(m > k ? m : k),
                (double)((m + k) * mn) / (double)(m * k));
        n++;
    }
    return n;
}

static uint64_t env_bytes(const char *name, int *set)
{
    const char *v = getenv(name);
    *set = 0;
    if (!v || !*v) return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno) return 0;
    *set = 1;
    return (uint64_t)x;
}

uint64_t dlor_mem_available(void)
{
    int set;
    uint64_t v = env_bytes("DLOR_TEST_MEM_AVAILABLE", &set);
    if (set) return v;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

uint64_t dlor_disk_free(const char *path)
{
    int set;
    uint64_t v = env_bytes("DLOR_TEST_DISK_FREE", &set);
    if (set) return v;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    struct statvfs s;
    if (statvfs(dir, &s) != 0) return UINT64_MAX;
    return (uint64_t)s.f_bavail * (uint64_t)s.f_frsize;
}

int dlor_plan_check_resources(const dlor_plan *p, const char *out, char *msg, size_t len)
{
    char a[32], b[32];
    uint64_t mem = dlor_mem_available();
    if (mem && p->peak_bytes > mem) {
        snprintf(msg, len, "the conversion needs about %s of memory at its peak and %s is available (MemAvailable); "
                           "--dry-run shows the plan, --force converts anyway",
                 dlor_bytes_str(p->peak_bytes, a, sizeof a), dlor_bytes_str(mem, b, sizeof b));
        return 1;
    }
    if (out && strcmp(out, "-") != 0) {
        uint64_t disk = dlor_disk_free(out);
        if (p->out_bytes > disk) {
            snprintf(msg, len, "%s: the output needs about %s and its file system has %s free; --dry-run shows the "
                               "plan, --force converts anyway",
                     out, dlor_bytes_str(p->out_bytes, a, sizeof a), dlor_bytes_str(disk, b, sizeof b));
            return 1;
        }
    }
    return 0;
}

dlor_status dlor_plan_write(const char *path, const dlor_plan *p, const char *in, dlor_error *err)
{
    dlor_atomic_file af;
    dlor_status st = dlor_atomic_open(&af, path, err);
    if (st != DLOR_OK) return st;
    char line[1024], a[32], shape[64];
    fprintf(af.fp, "# dlor plan of %s: one layer per line, NAME method=... [rank=R | tol=T] dtype=...\n", in);
    fprintf(af.fp, "# read back with 'dlor convert %s --plan FILE' (layers not listed are carried over)\n", in);
    for (size_t i = 0; i < p->n; i++) {
        const dlor_plan_item *it = &p->items[i];
        if (!it->convert && !it->other_shard) continue;
        fprintf(af.fp, "%s  # %s %s, about %s\n", dlor_spec_line(it->t->name, &it->spec, line, sizeof line),
                dlor_shape_str(it->t->dims, it->t->ndim, shape, sizeof shape), dlor_role_name(it->role),
                dlor_bytes_str(it->out_bytes, a, sizeof a));
    }
    if (ferror(af.fp)) af.failed = 1;
    return dlor_atomic_commit(&af, err);
}
