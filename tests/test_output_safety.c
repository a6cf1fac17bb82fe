/* test_output_safety - every command that writes a file, run against a
 * file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored so writes fail with
 * EFBIG the way they fail with ENOSPC on a full disk), fails cleanly: exit
 * status 1, one "dlor CMD: PATH: ..." line, every existing output file left
 * byte for byte as it was, and no temporary file left in the folder. Each
 * command is tried at several limits, so the write fails at different points
 * (first byte, inside the header, inside the data), and once without a limit,
 * which must succeed (so the limit is what made the others fail). And every
 * command refuses an output it cannot create (a missing folder, a folder)
 * before it reads any input, and an output that is one of its inputs or
 * another of its outputs (a usage error, exit status 2). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testrun.h"
#include "testutil.h"

static char g_dir[512];

static const char *at(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

/* The outputs that exist before each run, with their contents. */
static const char *const outputs[] = {"out.dlor", "emit.safetensors", "y.npy", "model.h", "report.json",
                                      "report.html", NULL};

static void write_existing(void)
{
    char p[1024], text[128];
    for (int i = 0; outputs[i]; i++) {
        snprintf(text, sizeof text, "an existing %s that a failed run must leave alone\n", outputs[i]);
        CHECK(dlt_write_file(at(outputs[i], p, sizeof p), text, strlen(text)) == 0, "write %s", outputs[i]);
    }
}

static int existing_intact(char *which, size_t n)
{
    char p[1024], text[128];
    for (int i = 0; outputs[i]; i++) {
        size_t len = 0;
        unsigned char *b = dlt_read_file(at(outputs[i], p, sizeof p), &len);
        snprintf(text, sizeof text, "an existing %s that a failed run must leave alone\n", outputs[i]);
        int same = b && len == strlen(text) && memcmp(b, text, len) == 0;
        free(b);
        if (!same) {
            snprintf(which, n, "%s", outputs[i]);
            return 0;
        }
    }
    return 1;
}

/* Files in the folder other than the outputs, model.dlor and the inputs (and
 * the folder "sub" of the clobber checks). */
static int strays(char *first, size_t n)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    int count = 0;
    first[0] = 0;
    if (!d) return -1;
    while ((e = readdir(d))) {
        int known = e->d_name[0] == '.' || strcmp(e->d_name, "model.dlor") == 0 || strcmp(e->d_name, "sub") == 0;
        for (int i = 0; outputs[i] && !known; i++) known = strcmp(e->d_name, outputs[i]) == 0;
        if (known) continue;
        if (!count++) snprintf(first, n, "%s", e->d_name);
    }
    closedir(d);
    return count;
}

typedef struct {
    const char *what;
    const char *cmd;
    const char *args[12];   /* "@x" is a file in the test folder, "%x" one in the source tree */
    unsigned long long limits[8];   /* 0 first (no limit), then the limits, 0-terminated */
} job;

/* argv for dlt_run: cmd, then args with "@x" a file in the test folder, "%x"
 * one in the source tree and "OUT" replaced by out (paths holds the strings). */
static void make_argv(const char *cmd, const char *const *args, const char *out, char paths[12][1024],
                      const char *argv[16])
{
    int n = 0;
    argv[n++] = cmd;
    for (int i = 0; args[i]; i++) {
        const char *a = args[i];
        if (out && strcmp(a, "OUT") == 0) a = out;
        else if (a[0] == '@') a = at(a + 1, paths[i], sizeof paths[i]);
        else if (a[0] == '%') a = dlt_source_path(paths[i], sizeof paths[i], a + 1);
        argv[n++] = a;
    }
    argv[n] = NULL;
}

static void run_job(const job *j)
{
    char paths[12][1024], err[4096], which[256], stray[256], prefix[64];
    const char *argv[16];
    make_argv(j->cmd, j->args, NULL, paths, argv);
    snprintf(prefix, sizeof prefix, "dlor %s: ", j->cmd);
    for (int k = 0; k < 8 && (j->limits[k] || k == 0); k++) {
        unsigned long long lim = j->limits[k];
        write_existing();
        int rc = dlt_run(argv, lim ? lim : 0, 0, err, sizeof err);
        if (lim == 0) {
            /* no limit: the run works (and replaces the outputs it writes) */
            CHECK(rc == 0, "%s without a limit: exit %d: %s", j->what, rc, err);
            CHECK(strays(stray, sizeof stray) == 0, "%s without a limit left '%s'", j->what, stray);
            continue;
        }
        CHECK(rc == 1, "%s at a %llu-byte limit: exit %d: %s", j->what, lim, rc, err);
        /* convert's plan notes (layers whose exact form grows past 4x) come first */
        const char *e = err;
        while (strncmp(e, "dlor convert: note: ", 20) == 0 && strchr(e, '\n')) e = strchr(e, '\n') + 1;
        const char *nl = strchr(e, '\n');
        CHECK(strncmp(e, prefix, strlen(prefix)) == 0 && strstr(e, g_dir) && nl && nl[1] == 0,
              "%s at a %llu-byte limit: not one 'dlor %s: PATH: ...' line: %s", j->what, lim, j->cmd, err);
        CHECK(existing_intact(which, sizeof which), "%s at a %llu-byte limit changed the existing %s", j->what, lim,
              which);
        CHECK(strays(stray, sizeof stray) == 0, "%s at a %llu-byte limit left '%s' behind", j->what, lim, stray);
        printf("%-28s limit %7llu bytes: exit %d, existing outputs intact: %s", j->what, lim, rc, err);
    }
}

/* An output that cannot be written is refused before any input is read (so
 * before any long work): with a missing input as well, the one-line message
 * names the output ("OUT" in args). */
static void run_early(const char *cmd, const char *const *args, const char *bad)
{
    char paths[12][1024], err[4096], prefix[1200];
    const char *argv[16];
    make_argv(cmd, args, bad, paths, argv);
    snprintf(prefix, sizeof prefix, "dlor %s: %s: cannot create output", cmd, bad);
    int rc = dlt_run(argv, 0, 0, err, sizeof err);
    const char *nl = strchr(err, '\n');
    CHECK(rc == 1 && strncmp(err, prefix, strlen(prefix)) == 0 && nl && nl[1] == 0,
          "dlor %s with output %s and a missing input: exit %d: %s", cmd, bad, rc, err);
}

/* An output that is an input or another output, spelled differently ("@x" and
 * "@sub/../x", nothing existing yet): refused as a usage error before anything
 * is read or written. */
static void run_clobber(const char *cmd, const char *const *args)
{
    char paths[12][1024], err[4096], stray[256];
    const char *argv[16];
    make_argv(cmd, args, NULL, paths, argv);
    int rc = dlt_run(argv, 0, 0, err, sizeof err);
    const char *nl = strchr(err, '\n');
    CHECK(rc == 2 && (strstr(err, "would overwrite") || strstr(err, "same file")) && nl && nl[1] == 0,
          "dlor %s with an output onto an input or output: exit %d: %s", cmd, rc, err);
    CHECK(strays(stray, sizeof stray) == 0, "dlor %s: a refused clobber left '%s'", cmd, stray);
}

int main(void)
{
    char p[1024], err[4096];
    dlt_tmp_path(g_dir, sizeof g_dir, "output_safety");
    mkdir(g_dir, 0755);
    DIR *d = opendir(g_dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') unlink(at(e->d_name, p, sizeof p));
    if (d) closedir(d);

    /* the model the run, export and verify jobs read */
    char src[1024];
    const char *mk[] = {"convert", dlt_source_path(src, sizeof src, "samples/digits/digits.safetensors"), "-o",
                        at("model.dlor", p, sizeof p), "--activation", "relu", NULL};
    int rc = dlt_run(mk, 0, 0, err, sizeof err);
    CHECK(rc == 0, "making model.dlor: %s", err);

    static const job jobs[] = {
        {"convert", "convert", {"%samples/digits/digits.safetensors", "-o", "@out.dlor", "--activation", "relu"},
         {0, 1, 64, 4096, 65536, 200000}},
        /* about 100 KB: every layer is one factor, whose V = I deflates to almost nothing */
        {"convert --compress", "convert",
         {"%samples/digits/digits.safetensors", "-o", "@out.dlor", "--activation", "relu", "--compress"},
         {0, 1, 64, 4096, 65536}},
        /* emit is written first (about 11 KB), the .dlor after it (about 15 KB):
         * the larger limits let the first succeed and stop the second (with the
         * graph, so the 16 x 1 and 1 x 16 layers are linear, not vectors) */
        {"convert --emit", "convert",
         {"%samples/sawtooth/sawtooth.safetensors", "-o", "@out.dlor", "--activation", "softplus", "--emit",
          "@emit.safetensors"},
         {0, 1, 4096, 12000, 14000}},
        {"run", "run", {"@model.dlor", "-i", "%samples/digits/x_test.npy", "-o", "@y.npy"}, {0, 1, 128, 8192}},
        {"export-c", "export-c", {"@model.dlor", "-o", "@model.h"}, {0, 1, 4096, 100000}},
        {"verify --json", "verify",
         {"%samples/digits/digits.safetensors", "@model.dlor", "--samples", "8", "--json", "@report.json"},
         {0, 1, 100}},
        {"verify --html", "verify",
         {"%samples/digits/digits.safetensors", "@model.dlor", "--samples", "8", "--html", "@report.html"},
         {0, 1, 4096}},
    };
    for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) run_job(&jobs[i]);

    static const char *const early[][12] = {
        {"convert", "@missing.safetensors", "-o", "OUT", NULL},
        {"convert", "@missing.safetensors", "-o", "@out.dlor", "--emit", "OUT", NULL},
        {"convert", "@missing.safetensors", "-o", "OUT", "--form", "network", "--activation", "relu", NULL},
        {"run", "@missing.dlor", "-i", "@missing.npy", "-o", "OUT", NULL},
        {"verify", "@missing.safetensors", "@missing.dlor", "--json", "OUT", NULL},
        {"verify", "@missing.safetensors", "@missing.dlor", "--html", "OUT", NULL},
        {"bench", "@missing.dlor", "--dense", "@missing.safetensors", "--json", "OUT", NULL},
        {"merge", "@missing-0.dlor", "@missing-1.dlor", "-o", "OUT", NULL},
        {"reproduce", "--sample", "@missing", "--json", "OUT", NULL},
    };
    char nodir[1024];
    at("no-such-folder/out", nodir, sizeof nodir);
    for (size_t i = 0; i < sizeof early / sizeof early[0]; i++) {
        run_early(early[i][0], early[i] + 1, nodir);
        run_early(early[i][0], early[i] + 1, g_dir); /* an existing folder */
    }
    /* reproduce --out DIR: a folder that cannot be made */
    static const char *const out_dir[] = {"--sample", "@missing", "--out", "OUT", NULL};
    run_early("reproduce", out_dir, nodir);
    static const char *const clobber[][12] = {
        {"convert", "@in.safetensors", "-o", "@sub/../in.safetensors", NULL},
        {"convert", "@in.safetensors", "-o", "@o.dlor", "--emit", "@sub/../o.dlor", NULL},
        {"convert", "@in.safetensors", "-o", "@o.dlor", "--calib", "@o.dlor", "--tol", "0.1", NULL},
        {"convert", "@in.safetensors", "-o", "@in.safetensors", "--form", "network", "--activation", "relu", NULL},
        {"run", "@m.dlor", "-i", "@x.npy", "-o", "@sub/../x.npy", NULL},
        {"export-c", "@m.dlor", "-o", "@m.dlor", NULL},
        {"verify", "@in.safetensors", "@m.dlor", "--json", "@m.dlor", NULL},
        {"verify", "@in.safetensors", "@m.dlor", "--json", "@r.json", "--html", "@sub/../r.json", NULL},
        {"bench", "@m.dlor", "--dense", "@in.safetensors", "--json", "@in.safetensors", NULL},
        {"merge", "@p0.dlor", "@p1.dlor", "-o", "@sub/../p1.dlor", NULL},
        {"reproduce", "--sample", "@sub/..", "--json", "@x_test.npy", NULL},
    };
    at("sub", p, sizeof p);
    mkdir(p, 0755);
    for (size_t i = 0; i < sizeof clobber / sizeof clobber[0]; i++) run_clobber(clobber[i][0], clobber[i] + 1);
    rmdir(p);
    char stray[256];
    CHECK(strays(stray, sizeof stray) == 0, "a refused output left '%s' behind", stray);
    return dlt_finish();
}
