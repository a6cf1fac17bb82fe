/* cmd_common.c - what every subcommand shares: its failure line and the
 * checks of its outputs before any work. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "dlor_fileio.h"

int dlor_cmd_fail(const char *cmd, const dlor_error *err)
{
    fprintf(stderr, "dlor %s: %s\n", cmd, err->msg);
    return err->code == DLOR_E_USAGE ? 2 : 1;
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
