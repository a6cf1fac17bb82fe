/* main.c - the dlor command: dispatches to subcommands. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "cmd.h"
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
