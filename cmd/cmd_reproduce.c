/* cmd_reproduce.c - dlor reproduce: the paper's sawtooth experiments (Appendix H.1 and
 * H.2, Figures 2 and 3, Table 1, Experiment 3) recomputed with dlor's own code from the
 * sawtooth sample (paper/reproduce.h), printed as tables and written as JSON, HTML and
 * CSV (paper/report_files.c). This file holds the options and the outputs. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "opts.h"
#include "reproduce.h"

static const dlor_optdef defs[] = {
    {"sample", 0, "DIR", "the sawtooth sample (default samples/sawtooth): sawtooth.safetensors, x_/y_train.npy,\n"
                         "                             x_/y_test.npy"},
    {"json", 0, "FILE", "write the report as JSON ('-': standard output)"},
    {"html", 0, "FILE", "write the report as one self-contained HTML page ('-': standard output): the\n"
                        "                             error-versus-h curves on log-log axes (f64 and f32), the\n"
                        "                             sawtooth approximations, Table 1 with mismatches marked, the\n"
                        "                             spectral split, the targets and the notes; inline SVG, no\n"
                        "                             scripts, no network requests"},
    {"out", 0, "DIR", "write report.txt, report.json and CSV files of every figure into DIR"},
    {"step", 0, "D", "grid step of the error curves in decades of h (default 0.25)"},
    {"seeds", 0, "S", "seeds of the paper's random basis, 0 .. S-1 (default 5)"},
    {"epochs", 0, "E", "training epochs of the deep model for Experiment 3 (default 5000)"},
    {"quiet", 'q', NULL, "print only the targets line"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "[--sample DIR] [--json FILE] [--html FILE] [--out DIR] [--step D] [--seeds S]\n"
                                "                       [--epochs E]\n\n"
                                "Recomputes the paper's sawtooth experiments with dlor's own code: the error of\n"
                                "the network form against h (Figures 2a, 3a), the approximation of the sawtooth\n"
                                "(2b, 3b), Table 1's parameter counts and Experiment 3's spectral split, and says\n"
                                "where the numbers differ from the paper's. Exit status 1 when a target is missed.\n"
                                "Files are written whole or not at all (a temporary file renamed into place).";

int dlor_cmd_reproduce(int argc, char **argv)
{
    dlor_opts o;
    int rc = dlor_opts_parse("reproduce", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    if (o.npos != 0) {
        fprintf(stderr, "dlor reproduce: unexpected argument '%s' (see 'dlor reproduce --help')\n", o.pos[0]);
        return 2;
    }
    dlor_repro_cfg cfg;
    dlor_repro_cfg_default(&cfg);
    const char *v;
    if ((v = dlor_opt(&o, defs, "sample"))) cfg.sample_dir = v;
    if ((v = dlor_opt(&o, defs, "step")) &&
        (dlor_parse_double(v, &cfg.step) != 0 || cfg.step < 0.05 || cfg.step > 2)) {
        fprintf(stderr, "dlor reproduce: --step must be a number of decades from 0.05 to 2, not '%s'\n", v);
        return 2;
    }
    if ((v = dlor_opt(&o, defs, "seeds")) && (dlor_parse_i64(v, &cfg.seeds) != 0 || cfg.seeds < 1 || cfg.seeds > 100)) {
        fprintf(stderr, "dlor reproduce: --seeds must be an integer from 1 to 100, not '%s'\n", v);
        return 2;
    }
    if ((v = dlor_opt(&o, defs, "epochs")) &&
        (dlor_parse_i64(v, &cfg.epochs) != 0 || cfg.epochs < 1 || cfg.epochs > 10000000)) {
        fprintf(stderr, "dlor reproduce: --epochs must be an integer from 1 to 10000000, not '%s'\n", v);
        return 2;
    }
    const char *json = dlor_opt(&o, defs, "json"), *out = dlor_opt(&o, defs, "out"), *html = dlor_opt(&o, defs, "html");
    int json_stdout = json && strcmp(json, "-") == 0, html_stdout = html && strcmp(html, "-") == 0;
    /* --out: the files it will hold when the folder exists (so that none is an input or
     * another output), else the folder's own name (a file can be made beside it) */
    char out_paths[DLOR_REPRO_NOUT_FILES][4096], in_paths[DLOR_REPRO_NSAMPLE_FILES][4096];
    dlor_cmd_output outputs[2 + DLOR_REPRO_NOUT_FILES] = {
        {"--json", json, DLOR_OUT_TEXT}, {"--html", html, DLOR_OUT_TEXT}, {"--out", out, DLOR_OUT_FILE}};
    size_t nout = 3;
    struct stat sb;
    if (out && strcmp(out, "-") != 0 && stat(out, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "dlor reproduce: %s: --out exists and is not a folder\n", out);
            return 1;
        }
        nout = 2;
        for (size_t i = 0; i < DLOR_REPRO_NOUT_FILES; i++)
            if ((size_t)snprintf(out_paths[i], sizeof out_paths[i], "%s/%s", out, dlor_repro_out_files[i].name) <
                sizeof out_paths[i])
                outputs[nout++] = (dlor_cmd_output){"--out", out_paths[i], DLOR_OUT_FILE};
    }
    const char *inputs[DLOR_REPRO_NSAMPLE_FILES] = {NULL};
    for (size_t i = 0; i < DLOR_REPRO_NSAMPLE_FILES; i++)
        if ((size_t)snprintf(in_paths[i], sizeof in_paths[i], "%s/%s", cfg.sample_dir, dlor_repro_sample_files[i]) <
            sizeof in_paths[i])
            inputs[i] = in_paths[i];
    if ((rc = dlor_cmd_check_outputs("reproduce", outputs, nout, inputs, DLOR_REPRO_NSAMPLE_FILES)) != 0) return rc;
    dlor_repro_report r;
    dlor_error err;
    dlor_status st = dlor_repro_compute(&cfg, &r, &err);
    if (st != DLOR_OK) return dlor_cmd_fail("reproduce", &err);
    /* the files first: a failure leaves no page, and nothing on stdout claims success;
     * with a report on standard output, the text goes to stderr (dlor_stdout_claim) */
    if (json && !json_stdout) st = dlor_repro_write(json, dlor_repro_json, &r, &err);
    if (st == DLOR_OK && html && !html_stdout) st = dlor_repro_write_html(html, &r, &err);
    if (st == DLOR_OK && out) st = dlor_repro_write_out(out, &r, &err);
    if (st == DLOR_OK && json_stdout) st = dlor_repro_write("-", dlor_repro_json, &r, &err);
    else if (st == DLOR_OK && html_stdout) st = dlor_repro_write_html("-", &r, &err);
    if (st == DLOR_OK && !dlor_opt(&o, defs, "quiet")) dlor_repro_print(stdout, &r);
    int pass = 1;
    for (size_t i = 0; i < r.ntargets; i++) pass &= r.targets[i].pass;
    if (st == DLOR_OK) printf("targets: %s\n", pass ? "all met" : "MISSED (see the Targets table)");
    dlor_repro_free(&r);
    if (st != DLOR_OK) return dlor_cmd_fail("reproduce", &err);
    return pass ? 0 : 1;
}
