/* cmd_verify.c - dlor verify: prove a .dlor file reproduces its dense source. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "dlor_fileio.h"
#include "dlor_readers.h"
#include "dlor_sha256.h"
#include "dlor_verify.h"
#include "json_out.h"
#include "opts.h"

static const dlor_optdef defs[] = {
    {"json", 0, "FILE", "also write the report as JSON to FILE ('-' for stdout)"},
    {"tol", 0, "T", "largest relative Frobenius error accepted per layer (default by storage dtype:\n"
                    "                             f32 1e-4, f64 1e-10, f16 1e-2, bf16 5e-2)"},
    {"quiet", 'q', NULL, "print only the verdict line"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "IN OUT.dlor [--json FILE] [--tol T]\n\n"
                                "Rebuilds every layer of OUT.dlor from its stored factors (in double precision)\n"
                                "and compares it with the dense weights in IN; checks that every other tensor\n"
                                "was carried over bit for bit. Exits 1 when a layer exceeds the tolerance.";

typedef struct {
    dlor_layer_report *layers;
    size_t nlayers;
    size_t carried, carried_same;
    char **problems;             /* one line each: missing / differing tensors */
    size_t nproblems;
    int sha_match;
    double max_rel, max_abs;
    int pass;
} verify_result;

static void add_problem(verify_result *r, const char *fmt, const char *a, const char *b)
{
    char line[600];
    snprintf(line, sizeof line, fmt, a, b);
    char **p = realloc(r->problems, (r->nproblems + 1) * sizeof *p);
    if (!p) return;
    r->problems = p;
    r->problems[r->nproblems] = malloc(strlen(line) + 1);
    if (r->problems[r->nproblems]) strcpy(r->problems[r->nproblems++], line);
}

static int same_tensor(const dlor_tensor *a, const dlor_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return memcmp(a->data, b->data, a->nbytes) == 0;
}

static int is_factor_tensor(const dlor_container *c, const char *name)
{
    for (size_t i = 0; i < c->nlayers; i++)
        if (strcmp(c->layers[i].u_name, name) == 0 || strcmp(c->layers[i].v_name, name) == 0) return 1;
    return 0;
}

static void write_json(FILE *f, const char *in, const char *out, const verify_result *r)
{
    dlor_jw w;
    uint64_t pd = 0, pl = 0, bd = 0, bl = 0;
    dlor_jw_init(&w, f);
    dlor_jw_begin_obj(&w);
    dlor_jw_key(&w, "dlor_version");
    dlor_jw_str(&w, DLOR_VERSION_STRING);
    dlor_jw_key(&w, "source");
    dlor_jw_str(&w, in);
    dlor_jw_key(&w, "dlor_file");
    dlor_jw_str(&w, out);
    dlor_jw_key(&w, "source_sha256_match");
    dlor_jw_bool(&w, r->sha_match);
    dlor_jw_key(&w, "layers");
    dlor_jw_begin_arr(&w);
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        dlor_jw_begin_obj(&w);
        dlor_jw_key(&w, "name");
        dlor_jw_str(&w, L->name);
        dlor_jw_key(&w, "shape");
        dlor_jw_begin_arr(&w);
        dlor_jw_u64(&w, L->rows);
        dlor_jw_u64(&w, L->cols);
        dlor_jw_end_arr(&w);
        dlor_jw_key(&w, "method");
        dlor_jw_str(&w, dlor_method_name(L->method));
        dlor_jw_key(&w, "basis");
        dlor_jw_str(&w, dlor_basis_name(L->basis));
        dlor_jw_key(&w, "rank");
        dlor_jw_u64(&w, L->rank);
        dlor_jw_key(&w, "factors");
        dlor_jw_u64(&w, L->factors);
        dlor_jw_key(&w, "alpha");
        dlor_jw_num(&w, L->alpha);
        dlor_jw_key(&w, "dtype");
        dlor_jw_str(&w, dlor_dtype_name(L->factor_dtype));
        dlor_jw_key(&w, "rel_fro_error");
        dlor_jw_num(&w, L->rel_fro_error);
        dlor_jw_key(&w, "max_abs_error");
        dlor_jw_num(&w, L->max_abs_error);
        dlor_jw_key(&w, "tol");
        dlor_jw_num(&w, L->tol);
        dlor_jw_key(&w, "pass");
        dlor_jw_bool(&w, L->pass);
        dlor_jw_key(&w, "params_dense");
        dlor_jw_u64(&w, L->params_dense);
        dlor_jw_key(&w, "params_dlor");
        dlor_jw_u64(&w, L->params_dlor);
        dlor_jw_key(&w, "bytes_dense");
        dlor_jw_u64(&w, L->bytes_dense);
        dlor_jw_key(&w, "bytes_dlor");
        dlor_jw_u64(&w, L->bytes_dlor);
        dlor_jw_end_obj(&w);
        pd += L->params_dense;
        pl += L->params_dlor;
        bd += L->bytes_dense;
        bl += L->bytes_dlor;
    }
    dlor_jw_end_arr(&w);
    dlor_jw_key(&w, "max_rel_fro_error");
    dlor_jw_num(&w, r->max_rel);
    dlor_jw_key(&w, "max_abs_error");
    dlor_jw_num(&w, r->max_abs);
    dlor_jw_key(&w, "params_dense_total");
    dlor_jw_u64(&w, pd);
    dlor_jw_key(&w, "params_dlor_total");
    dlor_jw_u64(&w, pl);
    dlor_jw_key(&w, "bytes_dense_total");
    dlor_jw_u64(&w, bd);
    dlor_jw_key(&w, "bytes_dlor_total");
    dlor_jw_u64(&w, bl);
    dlor_jw_key(&w, "carried_tensors");
    dlor_jw_u64(&w, r->carried);
    dlor_jw_key(&w, "carried_identical");
    dlor_jw_u64(&w, r->carried_same);
    dlor_jw_key(&w, "problems");
    dlor_jw_begin_arr(&w);
    for (size_t i = 0; i < r->nproblems; i++) dlor_jw_str(&w, r->problems[i]);
    dlor_jw_end_arr(&w);
    dlor_jw_key(&w, "pass");
    dlor_jw_bool(&w, r->pass);
    dlor_jw_end_obj(&w);
}

static void print_text(const char *in, const char *out, const verify_result *r)
{
    uint64_t pd = 0, pl = 0, bd = 0, bl = 0;
    printf("dlor verify: %s -> %s\n", in, out);
    if (r->nlayers)
        printf("%-28s %-13s %-4s %-6s %5s %5s %-11s %-10s %-10s %-17s %s\n", "layer", "shape", "form",
               "basis", "rank", "L", "alpha", "rel_fro", "max_abs", "params dense>dlor", "bytes dense>dlor");
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        char shape[48], params[48], bytes[48];
        snprintf(shape, sizeof shape, "[%llu, %llu]", (unsigned long long)L->rows, (unsigned long long)L->cols);
        snprintf(params, sizeof params, "%llu>%llu", (unsigned long long)L->params_dense,
                 (unsigned long long)L->params_dlor);
        snprintf(bytes, sizeof bytes, "%llu>%llu", (unsigned long long)L->bytes_dense,
                 (unsigned long long)L->bytes_dlor);
        printf("%-28s %-13s %-4s %-6s %5llu %5llu %-11.6g %-10.3g %-10.3g %-17s %s%s\n", L->name, shape,
               dlor_method_name(L->method), dlor_basis_name(L->basis), (unsigned long long)L->rank,
               (unsigned long long)L->factors, L->alpha, L->rel_fro_error, L->max_abs_error, params, bytes,
               L->pass ? "" : "  EXCEEDS TOL");
        pd += L->params_dense;
        pl += L->params_dlor;
        bd += L->bytes_dense;
        bl += L->bytes_dlor;
    }
    if (r->nlayers)
        printf("total: %zu layers, params %llu -> %llu (%.3fx), bytes %llu -> %llu (%.3fx)\n", r->nlayers,
               (unsigned long long)pd, (unsigned long long)pl, pd ? (double)pl / (double)pd : 0.0,
               (unsigned long long)bd, (unsigned long long)bl, bd ? (double)bl / (double)bd : 0.0);
    printf("carried tensors: %zu, identical to the source: %zu\n", r->carried, r->carried_same);
    if (!r->sha_match)
        printf("note: %s is not the file %s was made from (SHA-256 differs from dlor.source_sha256)\n", in, out);
}

int dlor_cmd_verify(int argc, char **argv)
{
    dlor_opts o;
    int rc = dlor_opts_parse("verify", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    if (o.npos != 2) {
        fprintf(stderr, "dlor verify: expected IN and OUT.dlor (see 'dlor verify --help')\n");
        return 2;
    }
    double tol = -1;
    const char *tols = dlor_opt(&o, defs, "tol"), *json = dlor_opt(&o, defs, "json");
    if (tols && (dlor_parse_double(tols, &tol) != 0 || tol < 0)) {
        fprintf(stderr, "dlor verify: --tol must be a non-negative number, not '%s'\n", tols);
        return 2;
    }
    const char *in = o.pos[0], *out = o.pos[1];
    dlor_error err;
    dlor_tensor_list src;
    dlor_container c;
    verify_result r;
    memset(&r, 0, sizeof r);
    dlor_tensor_list_init(&src);
    dlor_container_init(&c);
    dlor_status st = dlor_read_weights(in, &src, &err);
    if (st == DLOR_OK) st = dlor_container_read(out, &c, &err);
    if (st == DLOR_OK && c.nlayers) {
        r.layers = calloc(c.nlayers, sizeof *r.layers);
        if (!r.layers) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
    }
    if (st != DLOR_OK) {
        dlor_container_free(&c);
        dlor_tensor_list_free(&src);
        return dlor_cmd_fail("verify", &err);
    }
    {
        unsigned char *buf;
        size_t len;
        r.sha_match = 0;
        const char *recorded = NULL;
        for (size_t i = 0; i < c.tensors.meta_count; i++)
            if (strcmp(c.tensors.meta_keys[i], "dlor.source_sha256") == 0) recorded = c.tensors.meta_vals[i];
        if (recorded && dlor_file_read(in, DLOR_MAX_INPUT_BYTES, &buf, &len, &err) == DLOR_OK) {
            char hex[65];
            dlor_sha256_hex(buf, len, hex);
            r.sha_match = strcmp(hex, recorded) == 0;
            free(buf);
        }
    }
    r.pass = 1;
    for (size_t i = 0; i < c.nlayers && st == DLOR_OK; i++) {
        const dlor_layer_desc *d = &c.layers[i];
        const dlor_tensor *w = dlor_tensor_list_find(&src, d->name);
        if (!w) {
            add_problem(&r, "layer '%s' has no dense tensor of that name in %s", d->name, in);
            r.pass = 0;
            continue;
        }
        st = dlor_verify_layer(w, &c, d, tol, &r.layers[r.nlayers], &err);
        if (st != DLOR_OK) {
            dlor_error_prefix(&err, out);
            break;
        }
        double e = r.layers[r.nlayers].rel_fro_error;
        if (!(e <= r.max_rel)) r.max_rel = e; /* a NaN error must show, not hide */
        if (!(r.layers[r.nlayers].max_abs_error <= r.max_abs)) r.max_abs = r.layers[r.nlayers].max_abs_error;
        if (!r.layers[r.nlayers].pass) r.pass = 0;
        r.nlayers++;
    }
    for (size_t i = 0; i < c.tensors.count && st == DLOR_OK; i++) {
        const dlor_tensor *t = &c.tensors.items[i];
        if (is_factor_tensor(&c, t->name)) continue;
        r.carried++;
        const dlor_tensor *s = dlor_tensor_list_find(&src, t->name);
        if (!s) {
            add_problem(&r, "tensor '%s' is not in %s", t->name, in);
            r.pass = 0;
        } else if (!same_tensor(s, t)) {
            add_problem(&r, "tensor '%s' differs from the one in %s", t->name, in);
            r.pass = 0;
        } else {
            r.carried_same++;
        }
    }
    for (size_t i = 0; i < src.count && st == DLOR_OK; i++) {
        const char *nm = src.items[i].name;
        if (!dlor_tensor_list_find(&c.tensors, nm) && !dlor_container_find_layer(&c, nm)) {
            add_problem(&r, "tensor '%s' of the source is missing from %s", nm, out);
            r.pass = 0;
        }
    }
    if (st == DLOR_OK) {
        if (!dlor_opt(&o, defs, "quiet")) print_text(in, out, &r);
        for (size_t i = 0; i < r.nproblems; i++) printf("problem: %s\n", r.problems[i]);
        if (json && strcmp(json, "-") == 0) {
            write_json(stdout, in, out, &r);
        } else if (json) {
            dlor_atomic_file af;
            st = dlor_atomic_open(&af, json, &err);
            if (st == DLOR_OK) {
                write_json(af.fp, in, out, &r);
                if (ferror(af.fp)) af.failed = 1;
                st = dlor_atomic_commit(&af, &err);
            }
        }
        double shown_tol = tol >= 0 ? tol : (r.nlayers ? r.layers[0].tol : 0);
        printf("max relative Frobenius error %.3g, max abs error %.3g over %zu layers (tol %.3g): %s\n",
               r.max_rel, r.max_abs, r.nlayers, shown_tol, r.pass ? "PASS" : "FAIL");
    }
    for (size_t i = 0; i < r.nproblems; i++) free(r.problems[i]);
    free(r.problems);
    free(r.layers);
    dlor_container_free(&c);
    dlor_tensor_list_free(&src);
    if (st != DLOR_OK) return dlor_cmd_fail("verify", &err);
    return r.pass ? 0 : 1;
}
