/* cmd_common.c - what every subcommand shares: its failure line and the
 * checks of its outputs before any work. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "dlor_act.h"
#include "dlor_fileio.h"
#include "model_load.h"

int dlor_cmd_fail(const char *cmd, const dlor_error *err)
{
    fprintf(stderr, "dlor %s: %s\n", cmd, err->msg);
    return err->code == DLOR_E_USAGE ? 2 : 1;
}

void dlor_cmd_lines_init(dlor_cmd_lines *l, int plan_to_stdout)
{
    l->tty = isatty(STDERR_FILENO);
    l->plan_to_stdout = plan_to_stdout;
    l->pending = 0;
}

void dlor_cmd_line(void *ctx, int kind, const char *text)
{
    dlor_cmd_lines *l = ctx;
    if (kind == DLOR_LINE_PLAN && l->plan_to_stdout) {
        printf("%s\n", text);
        return;
    }
    if (kind == DLOR_LINE_PROGRESS && l->tty) {
        fprintf(stderr, "\r%s\033[K", text);
        fflush(stderr);
        l->pending = 1;
        return;
    }
    fprintf(stderr, "%s%s%s%s\n", l->pending ? "\r" : "", kind == DLOR_LINE_NOTE ? "dlor convert: " : "", text,
            l->pending ? "\033[K" : "");
    l->pending = 0;
}

int dlor_check_activation_opt(const char *cmd, const char *activation)
{
    if (!activation || dlor_act_from_name(activation) >= 0) return 0;
    fprintf(stderr, "dlor %s: " DLOR_ACTIVATION_OPT_MSG "\n", cmd, activation);
    return 2;
}

void dlor_cmd_warn_nonfinite(const char *cmd, const char *path, const float *xf, const double *xd, uint64_t n,
                             uint64_t features)
{
    dlor_nonfinite nf;
    if (!dlor_count_nonfinite(xf, xd, n, features, &nf)) return;
    fprintf(stderr, "dlor %s: warning: %s: %llu input value%s NaN or infinite%s, in %llu of %llu samples (first: "
                    "sample %llu, feature %llu); the model carries them through, so those samples' outputs will not "
                    "be finite\n", cmd, path, (unsigned long long)nf.values, nf.values == 1 ? " is" : "s are",
            xf ? " as float32" : "", (unsigned long long)nf.samples, (unsigned long long)n,
            (unsigned long long)nf.first_sample, (unsigned long long)nf.first_feature);
}

int dlor_cmd_check_outputs(const char *cmd, const dlor_cmd_output *out, size_t nout, const char *const *in,
                           size_t nin)
{
    dlor_error err;
    int to_stdout = 0;
    for (size_t i = 0; i < nout; i++) {
        const char *p = out[i].path;
        if (!p) continue;
        if (strcmp(p, "-") == 0) {
            if (out[i].kind == DLOR_OUT_FILE) {
                fprintf(stderr, "dlor %s: %s cannot be standard output ('-'): give a path\n", cmd, out[i].opt);
                return 2;
            }
            for (size_t j = 0; j < i; j++)
                if (out[j].path && strcmp(out[j].path, "-") == 0) {
                    fprintf(stderr, "dlor %s: %s - and %s - cannot both go to standard output\n", cmd, out[j].opt,
                            out[i].opt);
                    return 2;
                }
            if (out[i].kind == DLOR_OUT_BINARY && isatty(STDOUT_FILENO)) {
                fprintf(stderr, "dlor %s: %s -: standard output is a terminal; redirect it to a file or a pipe\n",
                        cmd, out[i].opt);
                return 2;
            }
            to_stdout = 1;
            continue;
        }
        for (size_t k = 0; k < nin; k++)
            if (in[k] && strcmp(in[k], "-") != 0 && dlor_same_file(p, in[k])) {
                if (strcmp(p, in[k]) == 0)
                    fprintf(stderr, "dlor %s: %s %s would overwrite the input %s\n", cmd, out[i].opt, p, in[k]);
                else
                    fprintf(stderr, "dlor %s: %s %s would overwrite the input %s (the same file)\n", cmd,
                            out[i].opt, p, in[k]);
                return 2;
            }
        for (size_t j = 0; j < i; j++)
            if (out[j].path && strcmp(out[j].path, "-") != 0 && dlor_same_file(p, out[j].path)) {
                fprintf(stderr, "dlor %s: %s %s and %s %s are the same file: one output would overwrite the "
                                "other\n", cmd, out[j].opt, out[j].path, out[i].opt, p);
                return 2;
            }
    }
    for (size_t i = 0; i < nout; i++)
        if (out[i].path && strcmp(out[i].path, "-") != 0 && dlor_output_check(out[i].path, &err) != DLOR_OK)
            return dlor_cmd_fail(cmd, &err);
    if (to_stdout && !dlor_stdout_claim()) {
        fprintf(stderr, "dlor %s: cannot set standard output aside for the output (out of file descriptors or "
                        "memory)\n", cmd);
        return 1;
    }
    return 0;
}
