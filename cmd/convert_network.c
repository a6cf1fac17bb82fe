/* convert_network.c - dlor convert --form network: its options, the file and
 * the summary line (the pipeline: lib/convert/network_run.c). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "dlor_container.h"
#include "dlor_fileio.h"
#include "dlor_readers.h"
#include "dlor_runtime.h"
#include "model_load.h"
#include "network_run.h"
#include "network_cmd.h"

static int usage_fail(const char *msg, const char *val)
{
    fprintf(stderr, "dlor convert: ");
    fprintf(stderr, msg, val);
    fprintf(stderr, "\n");
    return 2;
}

static int parse_net(const dlor_opts *o, const dlor_optdef *defs, net_cfg *cfg)
{
    static const char *const not_here[] = {"method", "tol", "budget", "allocate", "factors", "emit", "shard", "jobs",
                                           "calib-acts"};
    const char *v;
    memset(cfg, 0, sizeof *cfg);
    dlor_net_opts_default(&cfg->no);
    for (size_t i = 0; i < sizeof not_here / sizeof not_here[0]; i++)
        if (dlor_opt_count(o, defs, not_here[i]))
            return usage_fail("--%s does not apply to --form network", not_here[i]);
    if (dlor_convert_u_layout(o, defs, &cfg->u_layout) != 0) return 2;
    if ((v = dlor_opt(o, defs, "construction"))) {
        if (strcmp(v, "deep") == 0) cfg->no.kind = DLOR_NET_DEEP;
        else if (strcmp(v, "wide") == 0) cfg->no.kind = DLOR_NET_WIDE;
        else return usage_fail("--construction must be deep or wide, not '%s'", v);
    }
    int deep = cfg->no.kind == DLOR_NET_DEEP;
    if ((v = dlor_opt(o, defs, "beta"))) {
        if (deep) return usage_fail("--beta %s applies to --construction wide only", v);
        if (strcmp(v, "paired") == 0) cfg->no.beta = DLOR_NET_BETA_PAIRED;
        else if (strcmp(v, "paper") == 0) cfg->no.beta = DLOR_NET_BETA_PAPER;
        else return usage_fail("--beta must be paired or paper, not '%s'", v);
    }
    if ((v = dlor_opt(o, defs, "basis"))) {
        if (!deep) return usage_fail("--basis %s applies to --construction deep only (wide splits W by its SVD)", v);
        if (strcmp(v, "schur") == 0) cfg->no.basis = DLOR_BASIS_SCHUR;
        else if (strcmp(v, "random") == 0) cfg->no.basis = DLOR_BASIS_RANDOM;
        else return usage_fail("--basis must be schur or random for the deep network form, not '%s'", v);
    }
    if ((v = dlor_opt(o, defs, "alpha"))) {
        if (!deep) return usage_fail("--alpha %s applies to --construction deep only (wide components have alpha 0)", v);
        if (strcmp(v, "auto") == 0) {
            cfg->no.alpha_auto = 1;
        } else if (dlor_parse_double(v, &cfg->no.alpha) != 0 || cfg->no.alpha == 0.0) {
            return usage_fail("--alpha must be a nonzero finite number or 'auto', not '%s'", v);
        }
    }
    if ((v = dlor_opt(o, defs, "rank")) && (dlor_parse_i64(v, &cfg->no.rank) != 0 || cfg->no.rank < 1))
        return usage_fail("--rank must be a positive integer, not '%s'", v);
    if ((v = dlor_opt(o, defs, "seed")) && dlor_parse_u64(v, &cfg->no.seed) != 0)
        return usage_fail("--seed must be a non-negative integer, not '%s'", v);
    if ((v = dlor_opt(o, defs, "c")) && (dlor_parse_double(v, &cfg->no.c) != 0))
        return usage_fail("--c must be a finite number, not '%s'", v);
    cfg->h_auto = 1;
    if ((v = dlor_opt(o, defs, "h")) && strcmp(v, "auto") != 0) {
        if (dlor_parse_double(v, &cfg->h) != 0 || !(cfg->h > 0))
            return usage_fail("--h must be a positive number or 'auto', not '%s'", v);
        cfg->h_auto = 0;
    }
    cfg->storage = DLOR_DT_F32;
    if ((v = dlor_opt(o, defs, "dtype"))) {
        cfg->storage = dlor_dtype_from_name(v);
        if (cfg->storage != DLOR_DT_F32 && cfg->storage != DLOR_DT_F64)
            return usage_fail("the network form stores f32 or f64 (--dtype), not '%s'", v);
    }
    return 0;
}

int dlor_convert_network(const dlor_opts *o, const dlor_optdef *defs)
{
    const char *form = dlor_opt(o, defs, "form");
    if (strcmp(form, "network") != 0) return usage_fail("--form must be layer (default) or network, not '%s'", form);
    net_cfg cfg;
    int rc = parse_net(o, defs, &cfg);
    if (rc) return rc;
    const char *in = o->pos[0], *out = dlor_opt(o, defs, "output"), *calib = dlor_opt(o, defs, "calib");
    const dlor_cmd_output outputs[] = {{"-o", out, DLOR_OUT_BINARY}};
    const char *in_files[] = {in, calib};
    if ((rc = dlor_cmd_check_outputs("convert", outputs, 1, in_files, 2)) != 0) return rc;
    int progress = isatty(2) || dlor_opt(o, defs, "verbose");
    dlor_error err;
    dlor_tensor_list src;
    dlor_graph g;
    dlor_converted conv;
    dlor_net_summary sum;
    char why[512] = "";
    const char *graph_source = NULL;
    int inc = dlor_opt_index(defs, "include"), exc = dlor_opt_index(defs, "exclude");
    dlor_cmd_lines lines;
    dlor_cmd_lines_init(&lines, 0);
    dlor_convert_hooks hooks = {progress, dlor_cmd_line, NULL, &lines};
    cfg.calib = calib;
    cfg.include = o->all[inc];
    cfg.ninclude = (size_t)o->count[inc];
    cfg.exclude = o->all[exc];
    cfg.nexclude = (size_t)o->count[exc];
    dlor_tensor_list_init(&src);
    dlor_graph_init(&g);
    memset(&conv, 0, sizeof conv);
    dlor_status st = dlor_read_model(in, &src, &g, why, sizeof why, &err);
    if (st == DLOR_OK)
        st = dlor_resolve_graph(in, &src, &g, dlor_opt(o, defs, "activation"), &graph_source, why, sizeof why, &err);
    if (st == DLOR_OK)
        st = dlor_convert_network_source(in, &src, &g, graph_source, why, &cfg, &hooks, &conv, &sum, &err);
    if (st == DLOR_OK)
        st = dlor_opt(o, defs, "compress") ? dlor_container_write_deflated(out, &conv.c, &err)
                                           : dlor_container_write(out, &conv.c, &err);
    if (st == DLOR_OK) {
        const char *variant = cfg.no.kind == DLOR_NET_WIDE
                                  ? (cfg.no.beta == DLOR_NET_BETA_PAIRED ? "wide, paired beta" : "wide, paper's beta")
                                  : (cfg.no.basis == DLOR_BASIS_RANDOM ? "deep, random basis" : "deep, Schur basis");
        printf("%s: network form (%s), r = %lld, c = %g, h = %.3g (%s): max abs error to the dense model on %s "
               "(%llu samples): %.3g with the f64 runtime, %.3g with the f32 runtime; %zu layers, %d constructed; "
               "%llu parameters (dense %llu)\n",
               out, variant, (long long)cfg.no.rank, cfg.no.c, sum.h,
               !sum.constructed ? "unused: every layer is exact" : cfg.h_auto ? "searched" : "given", sum.inputs,
               (unsigned long long)sum.nsamples, sum.err64, sum.err32, sum.nlayers, sum.constructed,
               (unsigned long long)sum.params, (unsigned long long)sum.params_dense);
    }
    dlor_converted_free(&conv);
    dlor_graph_free(&g);
    dlor_tensor_list_free(&src);
    if (st != DLOR_OK) return dlor_cmd_fail("convert", &err);
    return 0;
}
