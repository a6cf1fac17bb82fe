/* opts.h - command-line parsing shared by the dlor subcommands. */
#ifndef DLOR_OPTS_H
#define DLOR_OPTS_H

#include <stdint.h>
#include <stdio.h>

#include "numparse.h"

#define DLOR_MAX_OPTS 48
#define DLOR_MAX_POS 4096 /* dlor merge takes one part per shard */
#define DLOR_MAX_REPEAT 32

typedef struct dlor_optdef {
    const char *name;       /* long name without dashes, e.g. "rank" */
    char short_name;        /* e.g. 'o', or 0 */
    const char *arg;        /* placeholder for the value (NULL: a switch) */
    const char *help;
} dlor_optdef;

typedef struct dlor_opts {
    const char *val[DLOR_MAX_OPTS];              /* last value given */
    const char *all[DLOR_MAX_OPTS][DLOR_MAX_REPEAT]; /* every value of a repeated option */
    int count[DLOR_MAX_OPTS];
    const char *pos[DLOR_MAX_POS];
    int npos;
} dlor_opts;

/* Parses argv (argv[0] is the subcommand). Accepts --name value, --name=value
 * and -x value. Returns 0, or prints "dlor CMD: ..." to stderr and returns 2
 * for unknown options, missing values or too many arguments. "--help" is
 * reported as 1 after printing usage. */
int dlor_opts_parse(const char *cmd, const char *usage, const dlor_optdef *defs, int argc,
                    char **argv, dlor_opts *o);
void dlor_opts_usage(FILE *f, const char *cmd, const char *usage, const dlor_optdef *defs);

/* Index of an option by name (defs must contain it). */
int dlor_opt_index(const dlor_optdef *defs, const char *name);
const char *dlor_opt(const dlor_opts *o, const dlor_optdef *defs, const char *name);
int dlor_opt_count(const dlor_opts *o, const dlor_optdef *defs, const char *name);

#endif
