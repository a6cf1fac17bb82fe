/* test_alloc_fail - every allocation dlor's own code makes while loading,
 * converting, verifying, running and exporting a sample fails once, and each
 * such run ends cleanly.
 *
 * The program is linked with -Wl,--wrap for malloc, calloc, realloc, free,
 * strdup and posix_memalign, so every call from the static dlor libraries (and
 * from this file) goes through the wrappers below; allocations made inside
 * shared libraries (OpenBLAS, LAPACKE, zlib, libc's stdio) are not seen. For
 * each command the walk first runs it undisturbed and counts its allocations
 * (A), then for n = 1 .. A runs it again with the n-th allocation failing and
 * checks that the run
 *   - returns exit status 1 with a "dlor CMD: ..." line on stderr that says
 *     "out of memory" or "cannot allocate",
 *   - holds no allocation when it returns (every pointer the wrappers handed
 *     out during the run was freed: no leak on any failure path),
 *   - leaves no output file and no temporary file behind.
 * Run n = A + 1 must then need no more than A allocations and succeed, which
 * shows the walk covered every allocation point of that run. The sanitizer
 * build runs the same walk under AddressSanitizer (use after free, double
 * free, leaks at exit).
 *
 * The steps drive libdlor's public API (<dlor.h>: open, convert in the
 * exact, compressed and network forms, write, write safetensors, verify with
 * its JSON report, run, describe; see api_main below), and the commands
 * in-process through the command library (dlor_cmd_*), whose failures the
 * same checks hold: an API step reports "dlor api: message".
 *
 * Usage: test_alloc_fail [STEP...] (default: every step). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "dlor.h"
#include "testutil.h"

/* ---- the failing allocator ------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
int __real_posix_memalign(void **p, size_t align, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
int __wrap_posix_memalign(void **p, size_t align, size_t n);

static struct {
    int active;             /* count and track (only while a command runs) */
    unsigned long count;    /* allocations so far in this run */
    unsigned long fail_at;  /* the allocation to fail (1-based); 0: none */
    int injected;           /* the failure happened */
} g;

/* Pointers handed out during the run: an open-addressing set, no allocation. */
#define LIVE_BITS 20
#define LIVE_CAP (1ul << LIVE_BITS)
#define TOMB ((void *)1)
static void *live[LIVE_CAP];
static unsigned long live_used, live_count; /* slots ever filled, pointers held */
static int live_overflow;

static unsigned long slot_of(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull;
    return (unsigned long)(h >> (64 - LIVE_BITS));
}

static void live_reset(void)
{
    memset(live, 0, sizeof live);
    live_used = live_count = 0;
    live_overflow = 0;
}

static void live_add(void *p)
{
    if (live_used >= LIVE_CAP / 4 * 3) {
        live_overflow = 1;
        return;
    }
    unsigned long i = slot_of(p);
    while (live[i] && live[i] != TOMB) i = (i + 1) & (LIVE_CAP - 1);
    if (!live[i]) live_used++;
    live[i] = p;
    live_count++;
}

static void live_del(void *p)
{
    unsigned long i = slot_of(p);
    for (; live[i]; i = (i + 1) & (LIVE_CAP - 1))
        if (live[i] == p) {
            live[i] = TOMB;
            live_count--;
            return;
        }
}

static int fail_now(void)
{
    if (!g.active) return 0;
    if (++g.count == g.fail_at) {
        g.injected = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    if (fail_now()) return NULL;
    void *p = __real_malloc(n);
    if (p && g.active) live_add(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (fail_now()) return NULL;
    void *p = __real_calloc(n, size);
    if (p && g.active) live_add(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (fail_now()) return NULL;
    void *q = __real_realloc(p, n);
    if (g.active && (q || n == 0)) {
        if (p) live_del(p);
        if (q) live_add(q);
    }
    return q;
}

void __wrap_free(void *p)
{
    if (p && g.active) live_del(p);
    __real_free(p);
}

char *__wrap_strdup(const char *s)
{
    if (fail_now()) return NULL;
    char *p = __real_strdup(s);
    if (p && g.active) live_add(p);
    return p;
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    if (fail_now()) return ENOMEM;
    int rc = __real_posix_memalign(p, align, n);
    if (rc == 0 && g.active) live_add(*p);
    return rc;
}

/* ---- running a command in-process ---------------------------------------- */

static char g_dir[512];        /* private scratch folder */
static char g_err[8192];       /* stderr of the last run */

static const char *in_dir(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

static const char *sample(const char *rel, char *buf, size_t n)
{
    const char *src = getenv("DLOR_SOURCE_DIR");
    snprintf(buf, n, "%s/samples/%s", src && *src ? src : ".", rel);
    return buf;
}

/* ---- the steps: the public API, and the commands ------------------------------ */

static int api_fail(const dlor_error *err)
{
    fprintf(stderr, "dlor api: %s\n", err->msg);
    return 1;
}

/* api convert IN ACTIVATION OUT [exact|budget|network] [EMIT.safetensors]
 * api verify IN OUT.dlor JSON
 * api run MODEL ACTIVATION
 * api info PATH */
static int api_main(int argc, char **argv)
{
    dlor_error err;
    if (argc >= 5 && strcmp(argv[1], "convert") == 0) {
        dlor_file *src = NULL;
        dlor_conversion *conv = NULL;
        dlor_convert_options o;
        dlor_convert_options_init(&o);
        const char *form = argc > 5 ? argv[5] : "exact";
        if (strcmp(form, "budget") == 0) o.budget = 0.5;
        if (strcmp(form, "network") == 0) o.form = DLOR_FORM_NETWORK;
        dlor_status st = dlor_open(argv[2], argv[3], &src, &err);
        if (st == DLOR_OK) st = dlor_convert(src, &o, &conv, &err);
        if (st == DLOR_OK && argc > 6) st = dlor_write_safetensors(conv, argv[6], &err);
        if (st == DLOR_OK) st = dlor_write(conv, argv[4], DLOR_WRITE_DEFLATE, &err);
        if (st != DLOR_OK && argc > 6) remove(argv[6]); /* the caller's to clean: safetensors first */
        dlor_conversion_free(conv);
        dlor_close(src);
        return st == DLOR_OK ? 0 : api_fail(&err);
    }
    if (argc == 5 && strcmp(argv[1], "verify") == 0) {
        dlor_report *r = NULL;
        dlor_verify_options vo;
        dlor_verify_options_init(&vo);
        vo.samples = 16;
        dlor_status st = dlor_verify(argv[2], argv[3], &vo, &r, &err);
        FILE *f = st == DLOR_OK ? fopen(argv[4], "w") : NULL;
        if (st == DLOR_OK && !f) st = DLOR_E_IO;
        if (f) {
            st = dlor_report_write_json(r, f, &err);
            if (fclose(f) != 0 && st == DLOR_OK) st = DLOR_E_IO;
            if (st != DLOR_OK) remove(argv[4]);
        }
        int pass = dlor_report_pass(r);
        dlor_report_free(r);
        if (st == DLOR_OK && !pass) {
            fprintf(stderr, "dlor api: %s did not pass\n", argv[3]);
            return 2;
        }
        return st == DLOR_OK ? 0 : api_fail(&err);
    }
    if (argc == 4 && strcmp(argv[1], "run") == 0) {
        dlor_runner *r = NULL;
        dlor_status st = dlor_runner_open(argv[2], argv[3], &r, &err);
        uint64_t in = dlor_runner_input_dim(r), out = dlor_runner_output_dim(r);
        float *x = st == DLOR_OK ? calloc(40 * in, sizeof *x) : NULL, *y = st == DLOR_OK ? calloc(40 * out, sizeof *y) : NULL;
        if (st == DLOR_OK && (!x || !y)) st = (err.code = DLOR_E_NOMEM, snprintf(err.msg, sizeof err.msg, "out of memory"), DLOR_E_NOMEM);
        if (st == DLOR_OK) st = dlor_runner_forward(r, x, 40, 16, 2, y, &err);
        free(x);
        free(y);
        dlor_runner_free(r);
        return st == DLOR_OK ? 0 : api_fail(&err);
    }
    if (argc == 3 && strcmp(argv[1], "info") == 0) {
        dlor_file *f = NULL;
        dlor_status st = dlor_open(argv[2], NULL, &f, &err);
        dlor_tensor_info ti;
        dlor_layer_info li;
        for (size_t i = 0; st == DLOR_OK && i < dlor_file_tensor_count(f); i++) st = dlor_file_tensor(f, i, &ti, &err);
        for (size_t i = 0; st == DLOR_OK && i < dlor_file_layer_count(f); i++) st = dlor_file_layer(f, i, &li, &err);
        dlor_close(f);
        return st == DLOR_OK ? 0 : api_fail(&err);
    }
    fprintf(stderr, "dlor api: bad step\n");
    return 2;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
} commands[] = {
    {"api", api_main},
    {"convert", dlor_cmd_convert},
    {"verify", dlor_cmd_verify},
    {"info", dlor_cmd_info},
    {"run", dlor_cmd_run},
    {"export-c", dlor_cmd_export_c},
};

static int dispatch(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    return 2;
}

/* Runs "dlor ARGS" with stdout discarded and stderr captured in g_err,
 * failing allocation fail_at (0: none). Returns the exit status. */
static int run_cmd(int argc, char **argv, unsigned long fail_at)
{
    char path[600];
    in_dir("stderr.txt", path, sizeof path);
    fflush(stdout);
    fflush(stderr);
    int save_out = dup(1), save_err = dup(2);
    int fe = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), fo = open("/dev/null", O_WRONLY);
    if (save_out < 0 || save_err < 0 || fe < 0 || fo < 0) {
        fprintf(stderr, "cannot redirect output\n");
        exit(1);
    }
    dup2(fo, 1);
    dup2(fe, 2);
    live_reset();
    memset(&g, 0, sizeof g);
    g.fail_at = fail_at;
    g.active = 1;
    int rc = dispatch(argc, argv);
    g.active = 0;
    fflush(stdout);
    fflush(stderr);
    dup2(save_out, 1);
    dup2(save_err, 2);
    close(save_out);
    close(save_err);
    close(fe);
    close(fo);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(g_err, 1, sizeof g_err - 1, f) : 0;
    if (f) fclose(f);
    g_err[n] = 0;
    return rc;
}

/* The files later steps read; they stay in the scratch folder. */
static const char *const g_keep[] = {"out.dlor", "cmp.dlor", NULL};

/* Counts the files in the scratch folder besides stderr.txt and the kept
 * files that this step does not write; names the first in 'first'. */
static int stray_files(const char *const *outputs, char *first, size_t n)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    int count = 0;
    first[0] = 0;
    if (!d) return -1;
    while ((e = readdir(d))) {
        int kept = e->d_name[0] == '.' || strcmp(e->d_name, "stderr.txt") == 0;
        for (size_t i = 0; g_keep[i] && !kept; i++) kept = strcmp(e->d_name, g_keep[i]) == 0;
        for (size_t i = 0; outputs[i] && kept; i++) kept = strcmp(e->d_name, outputs[i]) != 0;
        if (kept) continue;
        if (!count++) snprintf(first, n, "%s", e->d_name);
    }
    closedir(d);
    return count;
}

typedef struct {
    const char *name;              /* step name */
    const char *cmd;               /* the dlor command */
    const char *args[16];          /* its arguments; "@x" is g_dir/x, "%x" is samples/x */
    const char *outputs[4];        /* files the command writes (in g_dir) */
} step;

static void free_argv(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
}

static char **make_argv(const step *s, int *argc)
{
    int n = 2;
    while (s->args[n - 2]) n++;
    char **argv = calloc((size_t)n + 1, sizeof *argv);
    char buf[1200];
    argv[0] = strdup("dlor");
    argv[1] = strdup(s->cmd);
    for (int i = 2; i < n; i++) {
        const char *a = s->args[i - 2];
        if (a[0] == '@') a = in_dir(a + 1, buf, sizeof buf);
        else if (a[0] == '%') a = sample(a + 1, buf, sizeof buf);
        argv[i] = strdup(a);
    }
    *argc = n;
    return argv;
}

static void remove_outputs(const step *s)
{
    char p[1024];
    for (int i = 0; s->outputs[i]; i++) unlink(in_dir(s->outputs[i], p, sizeof p));
}

static void walk(const step *s)
{
    int argc;
    char **argv = make_argv(s, &argc);
    char stray[256], cmd[64];
    snprintf(cmd, sizeof cmd, "dlor %s:", s->cmd);
    remove_outputs(s);
    int rc = run_cmd(argc, argv, 0);
    unsigned long total = g.count;
    CHECK(rc == 0, "%s: the undisturbed run fails (%d): %s", s->name, rc, g_err);
    CHECK(live_count == 0 && !live_overflow, "%s: the undisturbed run leaks %lu allocations", s->name, live_count);
    remove_outputs(s);
    unsigned long n, bad = 0;
    for (n = 1;; n++) {
        rc = run_cmd(argc, argv, n);
        if (!g.injected) break;
        int ok = rc == 1 && strncmp(g_err, cmd, strlen(cmd)) == 0 && (strstr(g_err, "out of memory") || strstr(g_err, "cannot allocate")) &&
                 live_count == 0 && !live_overflow && stray_files(s->outputs, stray, sizeof stray) == 0;
        if (!ok && bad++ < 12) {
            stray_files(s->outputs, stray, sizeof stray);
            CHECK(0, "%s: allocation %lu of %lu failing: exit %d, %lu allocations still held, stray file '%s', "
                     "stderr: %.300s", s->name, n, total, rc, live_count, stray, g_err);
        }
        remove_outputs(s);
    }
    CHECK(bad == 0, "%s: %lu of %lu failing runs were not clean", s->name, bad, total);
    CHECK(rc == 0 && n == total + 1, "%s: run %lu needed no failure but %s (%d): %s", s->name, n,
          n == total + 1 ? "failed" : "the allocation count changed", rc, g_err);
    remove_outputs(s);
    printf("%-16s %5lu allocation points, each failed once: %s\n", s->name, total,
           bad ? "NOT CLEAN" : "clean");
    free_argv(argc, argv);
}

/* Runs a step undisturbed to make a file later steps read. */
static void prepare(const step *s)
{
    int argc;
    char **argv = make_argv(s, &argc);
    int rc = run_cmd(argc, argv, 0);
    CHECK(rc == 0, "preparing with %s: %s", s->name, g_err);
    free_argv(argc, argv);
}

static const step steps[] = {
    /* the library's API */
    {"api-convert", "api", {"convert", "%digits/digits.safetensors", "relu", "@api.dlor", "exact", "@api.safetensors"},
     {"api.dlor", "api.safetensors"}},
    {"api-budget", "api", {"convert", "%digits/digits.safetensors", "relu", "@apib.dlor", "budget"}, {"apib.dlor"}},
    {"api-network", "api", {"convert", "%sawtooth/sawtooth.safetensors", "softplus", "@apin.dlor", "network"},
     {"apin.dlor"}},
    {"api-verify", "api", {"verify", "%digits/digits.safetensors", "@out.dlor", "@api.json"}, {"api.json"}},
    {"api-run", "api", {"run", "@out.dlor", "relu"}, {NULL}},
    {"api-info", "api", {"info", "@cmp.dlor"}, {NULL}},
    /* loading and converting: every reader on the samples, both writers */
    {"convert-st", "convert", {"%digits/digits.safetensors", "-o", "@out.dlor", "--activation", "relu"},
     {"out.dlor"}},
    {"convert-budget", "convert",
     {"%digits/digits.safetensors", "-o", "@cmp.dlor", "--budget", "0.5", "--activation", "relu", "--compress"},
     {"cmp.dlor"}},
    {"convert-emit", "convert",
     {"%sawtooth/sawtooth.safetensors", "-o", "@emit.dlor", "--method", "add", "--emit", "@emit.safetensors"},
     {"emit.dlor", "emit.safetensors"}},
    {"convert-npz", "convert", {"%sawtooth/sawtooth.npz", "-o", "@npz.dlor", "--activation", "softplus"},
     {"npz.dlor"}},
    {"convert-onnx", "convert", {"%sawtooth/sawtooth.onnx", "-o", "@onnx.dlor", "--dtype", "f16"},
     {"onnx.dlor"}},
    {"convert-pt", "convert", {"%sawtooth/sawtooth.pt", "-o", "@pt.dlor", "--activation", "softplus"},
     {"pt.dlor"}},
    /* an ONNX graph of values (LayerNorm, residual Add) */
    {"convert-onnx-norms", "convert", {"%../tests/data/onnx_norms/prenorm_opset13.onnx", "-o", "@norms.dlor"},
     {"norms.dlor"}},
    /* verifying (per layer and end to end, with a JSON report) */
    {"verify", "verify",
     {"%digits/digits.safetensors", "@out.dlor", "--inputs", "%digits/x_test.npy", "--labels", "%digits/y_test.npy",
      "--json", "@report.json"},
     {"report.json"}},
    {"verify-budget", "verify", {"%digits/digits.safetensors", "@cmp.dlor", "--samples", "16"}, {NULL}},
    /* loading for use */
    {"info", "info", {"@out.dlor", "--json"}, {NULL}},
    {"info-compressed", "info", {"@cmp.dlor"}, {NULL}},
    {"run", "run", {"@cmp.dlor", "-i", "%digits/x_test.npy", "-o", "@y.npy"}, {"y.npy"}},
    {"run-dense", "run", {"%sawtooth/sawtooth.onnx", "-i", "%sawtooth/x_test.npy", "-o", "@yd.npy"},
     {"yd.npy"}},
    {"export-c", "export-c", {"@out.dlor", "-o", "@model.h"}, {"model.h"}},
    /* a Hugging Face folder: its graph from config.json */
    {"run-hf", "run", {"%llama-tiny", "-i", "%llama-tiny/test.npz", "-o", "@logits.npy"}, {"logits.npy"}},
};

#define NAPI 6 /* the API steps come first */

int main(int argc, char **argv)
{
    dlt_tmp_path(g_dir, sizeof g_dir, "alloc_fail");
    mkdir(g_dir, 0755);
    /* start from an empty folder */
    DIR *d = opendir(g_dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') unlink(in_dir(e->d_name, p, sizeof p));
    if (d) closedir(d);

    /* the files the later steps read */
    prepare(&steps[NAPI]);
    prepare(&steps[NAPI + 1]);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int want = argc < 2;
        for (int k = 1; k < argc; k++) want |= strcmp(argv[k], steps[i].name) == 0;
        if (!want) continue;
        walk(&steps[i]);
        if (i == NAPI || i == NAPI + 1) prepare(&steps[i]); /* the walk removed its output */
    }
    return dlt_finish();
}
