/* test_api_outputs.c - the public API (dlor.h) on what the dlor command also
 * does: q8 and q4 factors (DLOR_STORE_Q8, DLOR_STORE_Q4), a q4 base with an f16
 * correction (DLOR_CONVERT_QLR: layers of form "qlr", each with a '.dlor.B' tensor
 * in q4, and a largest layer error below that of the exact form in q4 factors), the dense weights
 * rebuilt (dlor_write_dense_safetensors, held against the source's own
 * weights), the ONNX rewrite (dlor_write_onnx, byte for byte the file of
 * 'dlor convert --emit-onnx'), a Hugging Face folder opened by its path, and
 * per-layer targets (sets) with verify's end-to-end tolerance (min_cosine),
 * and options refused by the rules the command's options follow.
 *
 * Environment: DLOR_SOURCE_DIR (the checkout), DLOR_BIN (the dlor command). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor.h"
#include "testutil.h"

static char samples[2048];

static const char *sample(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", samples, name);
    return buf;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *b = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) {
            unsigned char *nb = realloc(b, cap = cap ? 2 * cap : 1 << 16);
            if (!nb) break;
            b = nb;
        }
        got = fread(b + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return b;
}

/* Relative Frobenius distance of tensor i of a and the tensor of b with its name
 * (-1 when b lacks it or its shape differs). */
static double tensor_distance(const dlor_file *a, size_t i, const dlor_file *b)
{
    dlor_tensor_info ta, tb;
    dlor_error err;
    if (dlor_file_tensor(a, i, &ta, &err) != DLOR_OK) return -1;
    for (size_t j = 0; j < dlor_file_tensor_count(b); j++) {
        if (dlor_file_tensor(b, j, &tb, &err) != DLOR_OK || strcmp(ta.name, tb.name) != 0) continue;
        if (ta.ndim != tb.ndim || strcmp(ta.dtype, tb.dtype) != 0) return -1;
        size_t n = 1;
        for (int d = 0; d < ta.ndim; d++) {
            if (ta.dims[d] != tb.dims[d]) return -1;
            n *= (size_t)ta.dims[d];
        }
        double *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y), num = 0, den = 0;
        if (!x || !y || dlor_file_tensor_f64(a, i, x, n, &err) != DLOR_OK ||
            dlor_file_tensor_f64(b, j, y, n, &err) != DLOR_OK) {
            free(x);
            free(y);
            return -1;
        }
        for (size_t k = 0; k < n; k++) {
            num += (x[k] - y[k]) * (x[k] - y[k]);
            den += x[k] * x[k];
        }
        free(x);
        free(y);
        return den > 0 ? sqrt(num / den) : sqrt(num);
    }
    return -1;
}

/* One conversion through the API: samples/NAME opened (with activation),
 * converted with o (NULL: the defaults), written to the scratch file out_name,
 * verified against its source when verify is set, and opened again. Free what
 * it holds with api_run_free whatever it returns. */
typedef struct api_run {
    char in[4096], out[4096];
    dlor_file *src, *dl;
    dlor_conversion *conv;
    dlor_report *rep;
} api_run;

static dlor_status api_run_convert(api_run *r, const char *name, const char *activation,
                                   const dlor_convert_options *o, const char *out_name, int verify, dlor_error *err)
{
    memset(r, 0, sizeof *r);
    sample(r->in, sizeof r->in, name);
    dlt_tmp_path(r->out, sizeof r->out, out_name);
    dlor_status st = dlor_open(r->in, activation, &r->src, err);
    if (st == DLOR_OK) st = dlor_convert(r->src, o, &r->conv, err);
    if (st == DLOR_OK) st = dlor_write(r->conv, r->out, 0, err);
    if (st == DLOR_OK && verify) st = dlor_verify(r->in, r->out, NULL, &r->rep, err);
    if (st == DLOR_OK) st = dlor_open(r->out, NULL, &r->dl, err);
    return st;
}

static void api_run_free(api_run *r)
{
    dlor_close(r->dl);
    dlor_report_free(r->rep);
    dlor_conversion_free(r->conv);
    dlor_close(r->src);
}

/* Converts sawtooth.safetensors (exact mul form) with the given storage, writes
 * and verifies it: every factor tensor stored in 'dtype', the largest layer error
 * in (lo, hi]. Returns that error (NaN when the steps failed). */
static double quantized(int storage, const char *dtype, double lo, double hi)
{
    double e = NAN;
    api_run r;
    dlor_error err;
    dlor_convert_options o;
    dlor_convert_options_init(&o);
    o.storage = storage;
    dlor_status st =
        api_run_convert(&r, "sawtooth/sawtooth.safetensors", "softplus", &o, "api_outputs_q.dlor", 1, &err);
    CHECK(st == DLOR_OK, "%s: %s", dtype, st == DLOR_OK ? "" : err.msg);
    if (st == DLOR_OK) {
        size_t factors = 0, other = 0;
        for (size_t i = 0; i < dlor_file_tensor_count(r.dl); i++) {
            dlor_tensor_info t;
            if (dlor_file_tensor(r.dl, i, &t, &err) != DLOR_OK) continue;
            int factor = strstr(t.name, ".dlor.U") || strstr(t.name, ".dlor.V");
            factors += factor && strcmp(t.dtype, dtype) == 0;
            other += factor && strcmp(t.dtype, dtype) != 0;
        }
        CHECK(factors == 2 * dlor_conversion_layers(r.conv) && factors > 0 && other == 0,
              "%s: %zu factor tensors in %s, %zu in another dtype, %zu layers", dtype, factors, dtype, other,
              dlor_conversion_layers(r.conv));
        e = dlor_report_max_rel_error(r.rep);
        CHECK(e > lo && e <= hi, "%s: max relative error %g, expected in (%g, %g]", dtype, e, lo, hi);
    }
    api_run_free(&r);
    return e;
}

/* DLOR_CONVERT_QLR at rank 2 on the sawtooth model: every converted layer of form
 * "qlr" with its q4 base, the largest layer error below q4_err (the exact form's with q4
 * factors, which store more bytes), and the usage errors (a float base, a budget). */
static void qlr(double q4_err)
{
    api_run r;
    dlor_error err;
    dlor_convert_options o;
    dlor_convert_options_init(&o);
    o.method = DLOR_CONVERT_QLR;
    o.storage = DLOR_STORE_Q4;
    o.rank = 2;
    dlor_status st = api_run_convert(&r, "sawtooth/sawtooth.safetensors", "softplus", &o, "api_outputs_qlr.dlor", 1,
                                     &err);
    CHECK(st == DLOR_OK, "qlr: %s", st == DLOR_OK ? "" : err.msg);
    if (st == DLOR_OK) {
        size_t nq = 0, bases = 0;
        for (size_t i = 0; i < dlor_file_layer_count(r.dl); i++) {
            dlor_layer_info L;
            if (dlor_file_layer(r.dl, i, &L, &err) == DLOR_OK) nq += strcmp(L.form, "qlr") == 0;
        }
        for (size_t i = 0; i < dlor_file_tensor_count(r.dl); i++) {
            dlor_tensor_info t;
            if (dlor_file_tensor(r.dl, i, &t, &err) == DLOR_OK)
                bases += strstr(t.name, ".dlor.B") && !strcmp(t.dtype, "q4");
        }
        CHECK(nq > 0 && nq == dlor_file_layer_count(r.dl) && bases == nq,
              "qlr: %zu qlr layers, %zu q4 bases, %zu layers", nq, bases, dlor_file_layer_count(r.dl));
        double e = dlor_report_max_rel_error(r.rep);
        CHECK(e > 0 && e < q4_err, "qlr: max relative error %g, plain q4 factors %g", e, q4_err);
    }
    /* the usage errors, on the same source */
    dlor_conversion *conv = NULL;
    o.storage = DLOR_STORE_F16;
    st = r.src ? dlor_convert(r.src, &o, &conv, &err) : DLOR_E_IO;
    CHECK(st == DLOR_E_ARG && strstr(err.msg, "Q8 or Q4"), "qlr with an f16 base: %d %s", (int)st, err.msg);
    dlor_conversion_free(conv);
    conv = NULL;
    o.storage = DLOR_STORE_Q4;
    o.rank = 0;
    o.budget = 0.5;
    st = r.src ? dlor_convert(r.src, &o, &conv, &err) : DLOR_E_IO;
    CHECK(st == DLOR_E_ARG && strstr(err.msg, "rank or a tol"), "qlr with a budget: %d %s", (int)st, err.msg);
    dlor_conversion_free(conv);
    api_run_free(&r);
}

/* The dense weights rebuilt from an exact f32 conversion: the source's tensors,
 * names, shapes and dtypes, each within 1e-5 relative Frobenius error. */
static void dense_rebuild(void)
{
    char in[4096], out[4096];
    dlor_error err;
    dlor_file *src = NULL, *back = NULL;
    dlor_conversion *conv = NULL;
    sample(in, sizeof in, "digits/digits.safetensors");
    dlt_tmp_path(out, sizeof out, "api_outputs_dense.safetensors");
    remove(out);
    dlor_status st = dlor_open(in, "relu", &src, &err);
    if (st == DLOR_OK) st = dlor_convert(src, NULL, &conv, &err);
    if (st == DLOR_OK) st = dlor_write_dense_safetensors(conv, out, &err);
    if (st == DLOR_OK) st = dlor_open(out, NULL, &back, &err);
    CHECK(st == DLOR_OK, "dense rebuild: %s", st == DLOR_OK ? "" : err.msg);
    if (st == DLOR_OK) {
        CHECK(dlor_file_tensor_count(back) == dlor_file_tensor_count(src), "dense rebuild: %zu tensors, source %zu",
              dlor_file_tensor_count(back), dlor_file_tensor_count(src));
        double worst = 0;
        for (size_t i = 0; i < dlor_file_tensor_count(src); i++) {
            double d = tensor_distance(src, i, back);
            if (d < 0 || d > worst) worst = d < 0 ? INFINITY : d;
        }
        CHECK(worst <= 1e-5, "dense rebuild: largest relative error %g (1e-5 accepted)", worst);
        CHECK(dlor_conversion_layers(conv) > 0, "dense rebuild: no layer converted");
    }
    dlor_close(back);
    dlor_conversion_free(conv);
    dlor_close(src);
}

/* dlor_write_onnx writes what 'dlor convert --emit-onnx' writes for the same
 * conversion, and refuses a source of another format without writing. */
static void onnx_rewrite(const char *dlor_bin)
{
    char in[4096], api[4096], cli[4096], cli_dlor[4096], cmd[20000], other[4096];
    dlor_error err;
    dlor_file *src = NULL, *st_src = NULL;
    dlor_conversion *conv = NULL, *st_conv = NULL;
    sample(in, sizeof in, "sawtooth/sawtooth.onnx");
    dlt_tmp_path(api, sizeof api, "api_outputs_api.onnx");
    dlt_tmp_path(cli, sizeof cli, "api_outputs_cli.onnx");
    dlt_tmp_path(cli_dlor, sizeof cli_dlor, "api_outputs_cli.dlor");
    remove(api);
    remove(cli);
    dlor_status st = dlor_open(in, NULL, &src, &err);
    if (st == DLOR_OK) st = dlor_convert(src, NULL, &conv, &err);
    if (st == DLOR_OK) st = dlor_write_onnx(conv, api, &err);
    CHECK(st == DLOR_OK, "onnx rewrite: %s", st == DLOR_OK ? "" : err.msg);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' -o '%s' --emit-onnx '%s'", dlor_bin, in, cli_dlor, cli);
    CHECK(system(cmd) == 0, "onnx rewrite: %s failed", cmd);
    size_t na = 0, nc = 0;
    unsigned char *a = slurp(api, &na), *c = slurp(cli, &nc);
    CHECK(a && c && na > 0 && na == nc && memcmp(a, c, na) == 0,
          "onnx rewrite: the API's file (%zu bytes) is not the command's (%zu bytes)", na, nc);
    free(a);
    free(c);

    sample(other, sizeof other, "sawtooth/sawtooth.safetensors");
    dlt_tmp_path(api, sizeof api, "api_outputs_refused.onnx");
    remove(api);
    st = dlor_open(other, "softplus", &st_src, &err);
    if (st == DLOR_OK) st = dlor_convert(st_src, NULL, &st_conv, &err);
    CHECK(st == DLOR_OK, "onnx rewrite: safetensors source: %s", st == DLOR_OK ? "" : err.msg);
    if (st == DLOR_OK) {
        st = dlor_write_onnx(st_conv, api, &err);
        CHECK(st == DLOR_E_USAGE && strstr(err.msg, "sawtooth.safetensors") && !dlt_file_exists(api),
              "onnx rewrite of a safetensors source: status %d, '%s'", (int)st, err.msg);
    }
    dlor_conversion_free(st_conv);
    dlor_close(st_src);
    dlor_conversion_free(conv);
    dlor_close(src);
}

/* A Hugging Face folder: its model.safetensors, with the graph config.json gives. */
static void hf_folder(void)
{
    char in[4096];
    dlor_error err;
    dlor_file *f = NULL;
    sample(in, sizeof in, "llama-tiny");
    dlor_status st = dlor_open(in, NULL, &f, &err);
    CHECK(st == DLOR_OK, "hf folder: %s", st == DLOR_OK ? "" : err.msg);
    if (st == DLOR_OK) {
        CHECK(strcmp(dlor_file_format(f), "safetensors") == 0, "hf folder: format %s", dlor_file_format(f));
        CHECK(dlor_file_graph_ops(f) > 0 && strcmp(dlor_file_graph_source(f), "config.json") == 0,
              "hf folder: %zu graph ops from '%s'", dlor_file_graph_ops(f), dlor_file_graph_source(f));
    }
    dlor_close(f);
    sample(in, sizeof in, "sawtooth");
    st = dlor_open(in, NULL, &f, &err);
    CHECK(st != DLOR_OK && strstr(err.msg, "model.safetensors"), "a folder without weights: status %d, '%s'",
          (int)st, st == DLOR_OK ? "" : err.msg);
    if (st == DLOR_OK) dlor_close(f);
}

/* Per-layer targets through the API (a --set rule: 2.weight as a rank-2 lowrank
 * fit, the other layers exact mul), and verify's end-to-end tolerance on the
 * digits test inputs: the exact layers pass, the lowrank one is what moves the
 * outputs, so a least cosine of 1 (a perfect match) fails and -1 passes. */
static void layer_targets(void)
{
    char x[4096];
    api_run r;
    dlor_error err;
    dlor_report *strict = NULL, *loose = NULL;
    const char *sets[] = {"2.weight:method=lowrank,rank=2"};
    dlor_convert_options o;
    dlor_convert_options_init(&o);
    o.sets = sets;
    o.nsets = 1;
    sample(x, sizeof x, "digits/x_test.npy");
    dlor_status st = api_run_convert(&r, "digits/digits.safetensors", "relu", &o, "api_outputs_sets.dlor", 0, &err);
    CHECK(st == DLOR_OK, "sets: %s", st == DLOR_OK ? "" : err.msg);
    size_t lowrank = 0, exact = 0;
    for (size_t i = 0; st == DLOR_OK && i < dlor_file_layer_count(r.dl); i++) {
        dlor_layer_info L;
        if (dlor_file_layer(r.dl, i, &L, &err) != DLOR_OK) continue;
        if (strcmp(L.name, "2.weight") == 0) lowrank += strcmp(L.form, "lowrank") == 0 && L.rank == 2;
        else exact += strcmp(L.form, "mul") == 0;
    }
    CHECK(st != DLOR_OK || (lowrank == 1 && exact == 2), "sets: 2.weight lowrank r=2: %zu, exact mul others: %zu",
          lowrank, exact);
    dlor_verify_options vo;
    dlor_verify_options_init(&vo);
    vo.inputs = x;
    vo.min_cosine = 1.0;
    if (st == DLOR_OK) st = dlor_verify(r.in, r.out, &vo, &strict, &err);
    vo.min_cosine = -1.0;
    if (st == DLOR_OK) st = dlor_verify(r.in, r.out, &vo, &loose, &err);
    CHECK(st == DLOR_OK, "sets, verify: %s", st == DLOR_OK ? "" : err.msg);
    if (st == DLOR_OK)
        CHECK(!dlor_report_pass(strict) && dlor_report_pass(loose),
              "min_cosine 1 fails (%d), -1 passes (%d) on a rank-2 layer", dlor_report_pass(strict),
              dlor_report_pass(loose));
    dlor_report_free(strict);
    dlor_report_free(loose);
    api_run_free(&r);
}

/* calib_acts and allocate_uniform reach the pipeline: a .npz whose keys are not all
 * converted layers (digits.npz: its biases) fails naming the file and the key, and
 * nothing is converted; calib with calib_acts, allocate_uniform without a budget are
 * refused; a budget of 0.5 with allocate_uniform gives each layer the largest rank k
 * with k (m + n) + 1 <= 0.5 m n. */
static void calib_options(void)
{
    char in[4096], acts[4096], x[4096];
    dlor_error err;
    dlor_file *src = NULL;
    dlor_conversion *conv = NULL;
    dlor_convert_options o;
    sample(in, sizeof in, "digits/digits.safetensors");
    sample(acts, sizeof acts, "digits/digits.npz");
    sample(x, sizeof x, "digits/x_train.npy");
    dlor_status st = dlor_open(in, "relu", &src, &err);
    CHECK(st == DLOR_OK, "calib options: open: %s", st == DLOR_OK ? "" : err.msg);
    if (st != DLOR_OK) return;
    dlor_convert_options_init(&o);
    o.budget = 0.5;
    o.calib_acts = acts;
    st = dlor_convert(src, &o, &conv, &err);
    CHECK(st == DLOR_E_FORMAT && conv == NULL && strstr(err.msg, "digits.npz") && strstr(err.msg, "'0.bias'") &&
              strstr(err.msg, "matches no converted layer"),
          "calib_acts with a bias key: %d %s", (int)st, err.msg);
    o.calib = x;
    st = dlor_convert(src, &o, &conv, &err);
    CHECK(st == DLOR_E_ARG && conv == NULL && strstr(err.msg, "calib_acts"), "calib with calib_acts: %d %s", (int)st,
          err.msg);
    dlor_convert_options_init(&o);
    o.rank = 4;
    o.method = DLOR_CONVERT_AUTO;
    o.allocate_uniform = 1;
    st = dlor_convert(src, &o, &conv, &err);
    CHECK(st == DLOR_E_ARG && conv == NULL, "allocate_uniform without a budget: %d %s", (int)st, err.msg);
    dlor_convert_options_init(&o);
    o.budget = 0.5;
    o.allocate_uniform = 1;
    st = dlor_convert(src, &o, &conv, &err);
    CHECK(st == DLOR_OK, "allocate_uniform: %s", st == DLOR_OK ? "" : err.msg);
    char out[4096];
    dlt_tmp_path(out, sizeof out, "api_outputs_uniform.dlor");
    dlor_file *dl = NULL;
    if (st == DLOR_OK) st = dlor_write(conv, out, 0, &err);
    if (st == DLOR_OK) st = dlor_open(out, NULL, &dl, &err);
    size_t good = 0;
    for (size_t i = 0; st == DLOR_OK && i < dlor_file_layer_count(dl); i++) {
        dlor_layer_info L;
        if (dlor_file_layer(dl, i, &L, &err) != DLOR_OK) continue;
        uint64_t k = (uint64_t)((0.5 * (double)L.rows * (double)L.cols - 1) / (double)(L.rows + L.cols));
        good += L.rank == k;
    }
    CHECK(st == DLOR_OK && good == 3, "allocate_uniform: %zu of 3 layers at the uniform rank", good);
    dlor_close(dl);
    dlor_conversion_free(conv);
    dlor_close(src);
}

/* Options the command's rules refuse (lib/convert/convert_args.c decides for both):
 * DLOR_E_ARG, no conversion, and the line naming the API's fields; and the ones
 * the API keeps for itself (allocate_max without a budget is ignored by a compressed form). */
static void refused_options(void)
{
    char in[4096];
    dlor_error err;
    dlor_file *src = NULL;
    dlor_status st = dlor_open(sample(in, sizeof in, "digits/digits.safetensors"), "relu", &src, &err);
    CHECK(st == DLOR_OK, "refused options: open: %s", st == DLOR_OK ? "" : err.msg);
    if (st != DLOR_OK) return;
    static const struct {
        int form, method;
        int64_t rank;
        double tol, budget, h;
        int storage, jobs, allocate_max;
        const char *msg; /* NULL: accepted */
    } cases[] = {
        {0, DLOR_CONVERT_DEFAULT, 0, -1, 0, 0, DLOR_STORE_F32, 1, 0, "dlor_convert: tol must be a positive number, not -1"},
        {0, DLOR_CONVERT_DEFAULT, 0, 0, 2, 0, DLOR_STORE_F32, 1, 0, "dlor_convert: budget must be a fraction in (0, 1], not 2"},
        {0, DLOR_CONVERT_MUL, 0, 0.1, 0, 0, DLOR_STORE_F32, 1, 0,
         "dlor_convert: tol, budget, factors, calib and calib_acts choose compressed forms (method auto, lowrank or "
         "svd); mul and add are exact"},
        {0, DLOR_CONVERT_LOWRANK, 4, 0.1, 0, 0, DLOR_STORE_F32, 1, 0,
         "dlor_convert: a compressed form needs exactly one target: rank, tol or budget"},
        {0, 9, 0, 0, 0, 0, DLOR_STORE_F32, 1, 0, "dlor_convert: method 9 is no dlor_convert_method"},
        {0, DLOR_CONVERT_DEFAULT, 0, 0, 0, 0, 9, 1, 0, "dlor_convert: storage 9 is no dlor_storage"},
        {0, DLOR_CONVERT_DEFAULT, 0, 0, 0, 0, DLOR_STORE_F32, 2000, 0, "dlor_convert: jobs must be from 0 to 1024, not 2000"},
        {0, DLOR_CONVERT_MUL, 0, 0, 0, 0, DLOR_STORE_F32, 1, 1, "dlor_convert: allocate_max and allocate_uniform go with a budget"},
        {0, DLOR_CONVERT_DEFAULT, 4, 0, 0, 0, DLOR_STORE_F32, 1, 0, NULL},
        {0, DLOR_CONVERT_LOWRANK, 4, 0, 0, 0, DLOR_STORE_F32, 1, 1, NULL},
        {1, DLOR_CONVERT_ADD, 0, 0, 0, 0, DLOR_STORE_F32, 1, 0,
         "dlor_convert: the network form converts every layer of the graph exactly: method, tol, budget, allocate_max, "
         "allocate_uniform, calib_acts, factors and jobs do not apply"},
        {1, DLOR_CONVERT_DEFAULT, 0, 0, 0, -1, DLOR_STORE_F32, 1, 0,
         "dlor_convert: h must be a positive number (0: searched), not -1"},
        {1, DLOR_CONVERT_DEFAULT, 0, 0, 0, 0, DLOR_STORE_F16, 1, 0,
         "dlor_convert: the network form stores f32 or f64 (storage), not f16"},
        {1, DLOR_CONVERT_DEFAULT, 2, 0, 0, 0, DLOR_STORE_F64, 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dlor_convert_options o;
        dlor_conversion *conv = NULL;
        dlor_convert_options_init(&o);
        o.form = cases[i].form;
        o.method = cases[i].method;
        o.rank = cases[i].rank;
        o.tol = cases[i].tol;
        o.budget = cases[i].budget;
        o.h = cases[i].h;
        o.storage = cases[i].storage;
        o.jobs = cases[i].jobs;
        o.allocate_max = cases[i].allocate_max;
        st = dlor_convert(src, &o, &conv, &err);
        if (cases[i].msg)
            CHECK(st == DLOR_E_ARG && conv == NULL && strcmp(err.msg, cases[i].msg) == 0, "case %zu: %d '%s' (want '%s')",
                  i, (int)st, st == DLOR_OK ? "" : err.msg, cases[i].msg);
        else
            CHECK(st == DLOR_OK && conv != NULL, "case %zu accepted: %s", i, st == DLOR_OK ? "" : err.msg);
        dlor_conversion_free(conv);
    }
    dlor_close(src);
}

int main(void)
{
    const char *root = getenv("DLOR_SOURCE_DIR"), *bin = getenv("DLOR_BIN");
    if (!root || !bin) {
        fprintf(stderr, "test_api_outputs: set DLOR_SOURCE_DIR and DLOR_BIN\n");
        return 2;
    }
    snprintf(samples, sizeof samples, "%s/samples", root);
    /* each storage's largest layer error above the one before (at first f32's rounding,
     * 1e-4, verify's f32 tolerance: the factors were quantized) and at most hi: q8
     * within verify's q8 tolerance (5e-2), q4 coarser than q8; then qlr below q4 */
    static const struct {
        int storage;
        const char *dtype;
        double hi;
    } quant[] = {{DLOR_STORE_Q8, "q8", 5e-2}, {DLOR_STORE_Q4, "q4", 1.0}};
    double e = 1e-4;
    for (size_t i = 0; i < sizeof quant / sizeof quant[0]; i++)
        e = quantized(quant[i].storage, quant[i].dtype, e, quant[i].hi);
    qlr(e);
    dense_rebuild();
    onnx_rewrite(bin);
    hf_folder();
    layer_targets();
    calib_options();
    refused_options();
    return dlt_finish();
}
