/* convert_network.c - dlor convert --form network: the file and the summary
 * line (its options are checked in lib/convert/convert_args.c, the pipeline is
 * lib/convert/network_run.c). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
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

int dlor_convert_network(const dlor_opts *o, const dlor_optdef *defs, const net_cfg *cfg)
{
    int rc;
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
    dlor_cmd_lines lines;
    dlor_cmd_lines_init(&lines, 0);
    dlor_convert_hooks hooks = {progress, dlor_cmd_line, NULL, &lines};
    dlor_tensor_list_init(&src);
    dlor_graph_init(&g);
    memset(&conv, 0, sizeof conv);
    dlor_status st = dlor_read_model(in, &src, &g, why, sizeof why, &err);
    if (st == DLOR_OK)
        st = dlor_resolve_graph(in, &src, &g, dlor_opt(o, defs, "activation"), &graph_source, why, sizeof why, &err);
    if (st == DLOR_OK)
        st = dlor_convert_network_source(in, &src, &g, graph_source, why, cfg, &hooks, &conv, &sum, &err);
    if (st == DLOR_OK)
        st = dlor_opt(o, defs, "compress") ? dlor_container_write_deflated(out, &conv.c, &err)
                                           : dlor_container_write(out, &conv.c, &err);
    if (st == DLOR_OK) {
        const char *variant = cfg->no.kind == DLOR_NET_WIDE
                                  ? (cfg->no.beta == DLOR_NET_BETA_PAIRED ? "wide, paired beta" : "wide, paper's beta")
                                  : (cfg->no.basis == DLOR_BASIS_RANDOM ? "deep, random basis" : "deep, Schur basis");
        printf("%s: network form (%s), r = %lld, c = %g, h = %.3g (%s): max abs error to the dense model on %s "
               "(%llu samples): %.3g with the f64 runtime, %.3g with the f32 runtime; %zu layers, %d constructed; "
               "%llu parameters (dense %llu)\n",
               out, variant, (long long)cfg->no.rank, cfg->no.c, sum.h,
               !sum.constructed ? "unused: every layer is exact" : cfg->h_auto ? "searched" : "given", sum.inputs,
               (unsigned long long)sum.nsamples, sum.err64, sum.err32, sum.nlayers, sum.constructed,
               (unsigned long long)sum.params, (unsigned long long)sum.params_dense);
    }
    dlor_converted_free(&conv);
    dlor_graph_free(&g);
    dlor_tensor_list_free(&src);
    if (st != DLOR_OK) return dlor_cmd_fail("convert", &err);
    return 0;
}
