/* cmd_run.c - dlor run: evaluate a model (.dlor or dense source) on inputs. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "model_load.h"
#include "network_cmd.h"
#include "opts.h"
#include "run_args.h"

static const dlor_optdef defs[] = {
    {"input", 'i', "X.npy", "inputs, float, [N, features] or [N, d1, ..., dk] with d1 x ... x dk =\n"
                            "                             features, as an ONNX model declares them; for a model of\n"
                            "                             token ids a .npz of input_ids [N, S] (int32/int64) and optional\n"
                            "                             attention_mask and token_type_ids, or a .npy of ids (required)"},
    {"output", 'o', "Y.npy", "where to write the outputs, float32 [N, outputs] or [N, S, outputs] (required;\n"
                             "                             '-': standard output)"},
    {"select", 0, "NAME", "the graph output to write, for a model with several (default: the first)"},
    {"batch", 'b', "B", "samples per forward call (default 64)"},
    {"threads", 't', "T", "threads running each forward call together (default 1; f32 only)"},
    {"activation", 0, "NAME", "for dense sources without a graph: activation between nn.Sequential layers"},
    {"quant-acts", 0, NULL, "with q8/q4 weights: integer dot products of activations quantized to int8\n"
                            "                             per block of 32 (the runtime's DLOR_RT_QUANT_ACTS; f32 only)"},
    {"dtype", 0, "f32|f64", "precision of the forward pass and of Y.npy (default f32; f64 runs in double,\n"
                            "                             as the network form of 'convert --form network' needs)"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "MODEL -i X.npy|X.npz -o Y.npy [--batch B] [--threads T] [--select NAME] [--quant-acts]\n\n"
                                "MODEL is a .dlor file with a graph, or a dense source whose graph is known\n"
                                "(ONNX; safetensors/npz/pt with a 'dlor.graph' metadata entry or nn.Sequential\n"
                                "names plus --activation), so dense and DLoR models can be compared.";

int dlor_cmd_run(int argc, char **argv)
{
    dlor_opts o;
    int rc = dlor_opts_parse("run", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    const char *in = dlor_opt(&o, defs, "input"), *out = dlor_opt(&o, defs, "output");
    if (o.npos != 1 || !in || !out) {
        fprintf(stderr, "dlor run: expected MODEL, -i X.npy and -o Y.npy (see 'dlor run --help')\n");
        return 2;
    }
    const dlor_run_words words = {dlor_opt(&o, defs, "batch"), dlor_opt(&o, defs, "threads"),
                                  dlor_opt(&o, defs, "dtype"), dlor_opt(&o, defs, "activation"),
                                  dlor_opt(&o, defs, "quant-acts")};
    dlor_run_args a;
    dlor_error err;
    if (dlor_run_args_check(&words, &a, &err) != DLOR_OK) return dlor_cmd_fail("run", &err);
    const dlor_cmd_output outputs[] = {{"-o", out, DLOR_OUT_BINARY}};
    const char *inputs[] = {o.pos[0], in};
    if ((rc = dlor_cmd_check_outputs("run", outputs, 1, inputs, 2)) != 0) return rc;
    dlor_loaded l;
    dlor_status st = dlor_load_runnable_flags(o.pos[0], a.activation, a.flags, &l, &err);
    if (st != DLOR_OK) return dlor_cmd_fail("run", &err);
    dlor_network_run_note(o.pos[0], &l.model, a.f64);
    const char *select = dlor_opt(&o, defs, "select");
    if (dlor_model_input_at(&l.model, DLOR_INPUT_IDS, NULL, NULL) >= 0 || select) {
        st = dlor_run_graph_file(&l.model, in, out, select, a.batch, a.threads, a.f64, &err);
        dlor_loaded_free(&l);
        return st == DLOR_OK ? 0 : dlor_cmd_fail("run", &err);
    }
    float *x = NULL;
    double *xd = NULL;
    uint64_t n = 0;
    if (a.f64) st = dlor_load_inputs_f64(in, l.model.in_dim, &xd, &n, &err);
    else st = dlor_load_inputs(in, l.model.in_dim, &x, &n, &err);
    if (st == DLOR_OK) dlor_cmd_warn_nonfinite("run", in, x, xd, n, l.model.in_dim);
    if (st == DLOR_OK) st = dlor_run_features_file(&l.model, x, xd, n, a.batch, a.threads, a.f64, out, &err);
    free(x);
    free(xd);
    dlor_loaded_free(&l);
    if (st != DLOR_OK) return dlor_cmd_fail("run", &err);
    return 0;
}

void dlor_network_run_note(const char *path, const dlor_model *m, int f64)
{
    uint32_t n = 0, nd = 0;
    const char *form = dlor_image_meta_get(&m->img, "dlor.form", &n);
    const char *dt = dlor_image_meta_get(&m->img, "dlor.dtype", &nd);
    if (f64 || !form || n != 7 || memcmp(form, "network", 7) != 0 || !dt || nd != 3 || memcmp(dt, "f64", 3) != 0) return;
    fprintf(stderr, "dlor run: note: %s is a network form made for the float64 runtime (its h balances float64 "
                    "rounding); in float32 its error is far larger: run it with --dtype f64\n", path);
}
