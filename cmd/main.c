/* main.c - the dlor command: dispatches to subcommands. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "dlor_fileio.h"
#include "dlor_image.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"convert", dlor_cmd_convert, "factor the dense layers of a weight file into a .dlor file"},
    {"verify", dlor_cmd_verify, "rebuild every layer of a .dlor file and compare with the dense weights"},
    {"info", dlor_cmd_info, "list the tensors (and DLoR layers) of any supported file"},
    {"run", dlor_cmd_run, "evaluate a model (.dlor, or a dense source with a known graph) on inputs"},
    {"export-c", dlor_cmd_export_c, "write a .dlor image as a C header (const array) for embedded builds"},
    {"reproduce", dlor_cmd_reproduce, "recompute the paper's sawtooth experiments (Figures 2, 3, Table 1) with dlor"},
    {"bench", dlor_cmd_bench, "time a .dlor model against the dense model it came from (OpenBLAS)"},
    {"merge", dlor_cmd_merge, "join the parts of a conversion split with convert --shard I/N"},
};

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

static void usage(FILE *f)
{
    fprintf(f, "usage: dlor COMMAND [ARGS]\n\n"
               "Diagonal-plus-Low-Rank conversion of dense neural-network layers.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'dlor COMMAND --help' describes a command; 'dlor --version' (-V) prints the version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "version") == 0) {
        printf("dlor %s (container format %d.%d)\n", DLOR_VERSION_STRING, DLOR_IMAGE_MAJOR,
               DLOR_IMAGE_MINOR);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "dlor: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
