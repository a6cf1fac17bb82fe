/* opts.c - command-line parsing shared by the dlor subcommands. */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int dlor_opt_index(const dlor_optdef *defs, const char *name)
{
    for (int i = 0; defs[i].name; i++)
        if (strcmp(defs[i].name, name) == 0) return i;
    return -1;
}

const char *dlor_opt(const dlor_opts *o, const dlor_optdef *defs, const char *name)
{
    int i = dlor_opt_index(defs, name);
    return i >= 0 ? o->val[i] : NULL;
}

int dlor_opt_count(const dlor_opts *o, const dlor_optdef *defs, const char *name)
{
    int i = dlor_opt_index(defs, name);
    return i >= 0 ? o->count[i] : 0;
}

void dlor_opts_usage(FILE *f, const char *cmd, const char *usage, const dlor_optdef *defs)
{
    fprintf(f, "usage: dlor %s %s\n\n", cmd, usage);
    for (int i = 0; defs[i].name; i++) {
        char left[64];
        if (defs[i].short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", defs[i].short_name, defs[i].name,
                     defs[i].arg ? " " : "", defs[i].arg ? defs[i].arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", defs[i].name, defs[i].arg ? " " : "",
                     defs[i].arg ? defs[i].arg : "");
        fprintf(f, "  %-26s %s\n", left, defs[i].help);
    }
    fprintf(f, "  %-26s %s\n", "-h, --help", "show this help");
}

int dlor_opts_parse(const char *cmd, const char *usage, const dlor_optdef *defs, int argc,
                    char **argv, dlor_opts *o)
{
    memset(o, 0, sizeof *o);
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) {
            if (o->npos >= DLOR_MAX_POS) {
                fprintf(stderr, "dlor %s: too many arguments (at '%s')\n", cmd, a);
                return 2;
            }
            o->pos[o->npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            dlor_opts_usage(stdout, cmd, usage, defs);
            return 1;
        }
        int idx = -1;
        const char *val = NULL;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t n = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            for (int k = 0; defs[k].name; k++)
                if (strlen(defs[k].name) == n && strncmp(defs[k].name, a + 2, n) == 0) idx = k;
            if (eq) val = eq + 1;
        } else if (a[2] == 0) {
            for (int k = 0; defs[k].name; k++)
                if (defs[k].short_name == a[1]) idx = k;
        }
        if (idx < 0) {
            fprintf(stderr, "dlor %s: unknown option '%s' (see 'dlor %s --help')\n", cmd, a, cmd);
            return 2;
        }
        if (defs[idx].arg) {
            if (!val) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "dlor %s: option '--%s' needs a value (%s)\n", cmd,
                            defs[idx].name, defs[idx].arg);
                    return 2;
                }
                val = argv[++i];
            }
        } else if (val) {
            fprintf(stderr, "dlor %s: option '--%s' takes no value\n", cmd, defs[idx].name);
            return 2;
        } else {
            val = "1";
        }
        if (o->count[idx] >= DLOR_MAX_REPEAT) {
            fprintf(stderr, "dlor %s: option '--%s' given too often\n", cmd, defs[idx].name);
            return 2;
        }
        o->all[idx][o->count[idx]++] = val;
        o->val[idx] = val;
    }
    return 0;
}
