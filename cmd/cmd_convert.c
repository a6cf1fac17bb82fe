/* cmd_convert.c - dlor convert: factor every selected 2-D tensor exactly. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "dlor_container.h"
#include "dlor_fileio.h"
#include "dlor_hf.h"
#include "dlor_onnx_rewrite.h"
#include "dlor_readers.h"
#include "convert_args.h"
#include "convert_run.h"
#include "model_load.h"
#include "network_cmd.h"
#include "opts.h"
#include "progress.h"


static const dlor_optdef defs[] = {
    {"output", 'o', "OUT.dlor", "output file (required but with --dry-run; written atomically; '-': standard output)"},
    {"method", 0, "FORM", "exact: mul (product of DLoR factors, Theorem 4; default) or add (sum, Theorem 3);\n"
                          "                             compressed: lowrank (best beta*I + P Q^T), svd (truncated SVD),\n"
                          "                             auto (lowrank, or dense when nothing smaller meets the target),\n"
                          "                             qlr (a --dtype q4|q8 base plus a rank-R correction of its error)"},
    {"rank", 'r', "R", "rank of each factor's low-rank part (exact: default 256, capped at each layer's\n"
                       "                             size; compressed: the rank of P Q^T, layers it would not make\n"
                       "                             smaller stay dense)"},
    {"tol", 0, "T", "compressed: per layer, the smallest form with relative Frobenius error <= T"},
    {"budget", 0, "F", "compressed: store F x the dense parameters, spread across layers (see --allocate)"},
    {"budget-bits", 0, "B", "compressed (--method auto): an average of B bits per weight over the converted\n"
                            "                             layers, each layer in the form of least error the allocation gives it:\n"
                            "                             dense in f32, f16, bf16, q8 or q4, beta*I + P Q^T in f16 or q8, or a\n"
                            "                             q4 or q8 base with an f16 correction (least sum of squared errors; data\n"
                            "                             errors with --calib)"},
    {"allocate", 0, "sum|max|uniform", "with --budget: minimise the sum of squared layer errors (sum, default:\n"
                                       "                             cheap layers such as a classifier head get the ranks they need), the\n"
                                       "                             largest layer error (max), or give every layer the same fraction F\n"
                                       "                             of its own dense size (uniform: no allocation)"},
    {"factors", 0, "M", "compressed: store each beta*I + P Q^T exactly as a product of M DLoR factors"},
    {"calib", 0, "X.npy", "compressed: fit each layer to its inputs on these model inputs (needs a graph)"},
    {"calib-acts", 0, "ACTS.npz", "compressed: fit each layer to its inputs as captured elsewhere: keys are weight\n"
                                  "                             names, arrays the layer's inputs [..., in] (key NAME) or their Gram\n"
                                  "                             matrix X^T X [in, in] (key NAME.gram); no graph needed"},
    {"basis", 0, "schur|random|svd", "mul: schur (default, stable) or random (paper's Z); add: svd"},
    {"alpha", 0, "A|auto", "diagonal coefficient; auto (default) picks it from the spectrum for mul, 0 for add"},
    {"seed", 0, "S", "seed of the random basis (default 0)"},
    {"dtype", 0, "f32|f64|f16|bf16|q8|q4", "storage dtype of the factors (default f32; q8, q4: blocks of 32 with f16 scales);\n"
                                           "                             qlr: of the quantized base (q4 or q8, default q4)"},
    {"correction-dtype", 0, "f16|f32|bf16|q8", "qlr: storage dtype of the low-rank correction (default f16)"},
    {"layout", 0, "panels|rows", "how U^T is stored: panels (default; blocks of 16 columns, read in long runs by\n"
                                 "                             the runtime's threads) or rows (the layout of .dlor 1.3 and older readers;\n"
                                 "                             a runtime built with BLAS runs batches through sgemm on it)"},
    {"include", 0, "GLOB", "factor the 2-D tensors whose name matches, whatever their role (repeatable)"},
    {"exclude", 0, "GLOB", "never factor tensors whose name matches (repeatable)"},
    {"jobs", 'j', "J", "convert up to J layers at once (default 1; 0: one per processor), one BLAS thread\n"
                       "                             each, so the output does not depend on J (unless OPENBLAS_NUM_THREADS is set)"},
    {"shard", 0, "I/N", "convert only part I (0-based) of N of the layers into a part file; join the\n"
                        "                             N parts with 'dlor merge' (per-layer targets only, not --budget)"},
    {"compress", 0, NULL, "store the file as one zlib stream after its preamble (hosts inflate it; the runtime needs\n"
                          "                             it inflated, which 'dlor export-c' does)"},
    {"emit", 0, "FILE.safetensors", "also write the factors as safetensors (NAME.dlor.U [dim, K], NAME.dlor.V,\n"
                                    "                             NAME.dlor.alpha or .beta; see the README)"},
    {"emit-dense", 0, "FILE.safetensors", "also write the dense weights rebuilt from the factors under the source's\n"
                                          "                             names, shapes, dtypes and metadata (a drop-in file)"},
    {"emit-onnx", 0, "FILE.onnx", "ONNX source: also write it with each converted layer's MatMul/Gemm replaced\n"
                                  "                             by its DLoR computation (every other node kept)"},
    {"activation", 0, "NAME", "record the graph of nn.Sequential-named layers with this activation between them"},
    {"verbose", 'v', NULL, "print progress lines even when stderr is not a terminal"},
    {"dry-run", 0, NULL, "print the plan (per layer: form, output bytes, memory, time; totals) and write nothing"},
    {"force", 0, NULL, "convert even when the plan's peak memory or output exceeds what the machine has"},
    {"set", 0, "GLOB:KEY=V,...", "per-layer targets for the layers matching GLOB (keys: method, rank, tol, dtype;\n"
                                 "                             repeatable, later ones win)"},
    {"plan", 0, "FILE", "convert the layers a plan file lists, each with its own targets"},
    {"plan-out", 0, "FILE", "write the plan as a plan file (with --dry-run: edit it, then --plan FILE)"},
    {"form", 0, "layer|network", "network: replace each dense layer by DLoR layers with the activation between\n"
                                 "                             them (Theorems 5, 6; runnable; rank, basis, alpha, dtype, calib apply)"},
    {"construction", 0, "deep|wide", "network form: deep (Appendix E.1, default) or wide (Theorem 3 branches)"},
    {"h", 0, "H|auto", "network form: the scaling h (default auto: the h of least end-to-end error on the\n"
                       "                             --calib inputs, else 256 seeded normal samples, in the --dtype runtime)"},
    {"c", 0, "C", "network form: expansion point with rho'(c) != 0 (default 0.5; relu needs c > 0)"},
    {"beta", 0, "paired|paper", "wide: +1/-1 per component (paired, default) or the paper's (1, ..., 1, -(L-1))"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "IN -o OUT.dlor [options]\n\n"
                                "IN is a safetensors, .npy, .npz, ONNX or PyTorch (.pt) file of dense weights.\n"
                                "The weights of matrix multiplications (a graph's linear weights; without one,\n"
                                "2-D float tensors not named like embeddings or norms) are factored exactly;\n"
                                "other tensors are carried over unchanged ('dlor info' shows each one's role).\n"
                                "The model's graph is recorded when it is known (ONNX, a 'dlor.graph' metadata\n"
                                "entry, or nn.Sequential names with --activation).";

int dlor_cmd_convert(int argc, char **argv)
{
    dlor_opts o;
    convert_cfg cfg;
    int rc = dlor_opts_parse("convert", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    if (o.npos != 1 || (!dlor_opt(&o, defs, "output") && !dlor_opt(&o, defs, "dry-run"))) {
        fprintf(stderr, "dlor convert: expected one input file and -o OUT.dlor (see 'dlor convert --help')\n");
        return 2;
    }
    if ((rc = dlor_check_activation_opt("convert", dlor_opt(&o, defs, "activation"))) != 0) return rc;
    char hf_file[4096]; /* a Hugging Face folder stands for its weight file */
    dlor_error err;
    if (!(o.pos[0] = dlor_hf_weights_path(o.pos[0], hf_file, sizeof hf_file, &err)))
        return dlor_cmd_fail("convert", &err);
    int inc = dlor_opt_index(defs, "include"), exc = dlor_opt_index(defs, "exclude"), si = dlor_opt_index(defs, "set");
#define OPT(name) dlor_opt(&o, defs, name)
    const dlor_convert_args args = {
        .form = OPT("form"), .method = OPT("method"), .rank = OPT("rank"), .tol = OPT("tol"), .budget = OPT("budget"),
        .budget_bits = OPT("budget-bits"), .allocate = OPT("allocate"), .factors = OPT("factors"),
        .calib = OPT("calib"), .calib_acts = OPT("calib-acts"), .basis = OPT("basis"), .alpha = OPT("alpha"),
        .seed = OPT("seed"), .dtype = OPT("dtype"), .correction_dtype = OPT("correction-dtype"), .jobs = OPT("jobs"),
        .shard = OPT("shard"), .layout = OPT("layout"), .activation = OPT("activation"),
        .construction = OPT("construction"), .h = OPT("h"), .c = OPT("c"), .beta = OPT("beta"),
        .out = OPT("output"), .emit = OPT("emit"), .emit_dense = OPT("emit-dense"), .emit_onnx = OPT("emit-onnx"),
        .plan = OPT("plan"), .plan_out = OPT("plan-out"), .dry_run = OPT("dry-run"), .force = OPT("force"),
        .include = o.all[inc], .ninclude = (size_t)o.count[inc], .exclude = o.all[exc],
        .nexclude = (size_t)o.count[exc], .sets = o.all[si], .nsets = o.count[si]};
#undef OPT
    int network;
    net_cfg ncfg;
    if (dlor_convert_args_check(&args, &network, &cfg, &ncfg, &err) != DLOR_OK) return dlor_cmd_fail("convert", &err);
    if (network) return dlor_convert_network(&o, defs, &ncfg);
    const char *in = o.pos[0], *out = args.out;
    const dlor_convert_outputs outs = {out, dlor_opt(&o, defs, "compress") != NULL, args.emit, args.emit_dense,
                                       args.emit_onnx};
    const dlor_cmd_output outputs[] = {{"-o", out, DLOR_OUT_BINARY},
                                       {"--emit", outs.emit, DLOR_OUT_FILE},
                                       {"--emit-dense", outs.emit_dense, DLOR_OUT_FILE},
                                       {"--emit-onnx", outs.emit_onnx, DLOR_OUT_FILE},
                                       {"--plan-out", args.plan_out, DLOR_OUT_TEXT}};
    const char *inputs[] = {in, args.calib, args.plan, args.calib_acts};
    if ((rc = dlor_cmd_check_outputs("convert", outputs, 5, inputs, 4)) != 0) return rc;
    if (outs.emit_onnx && dlor_onnx_rewrite_check_source(in, &err) != DLOR_OK) return dlor_cmd_fail("convert", &err);
    int progress = isatty(2) || dlor_opt(&o, defs, "verbose");
    cfg.show_plan = isatty(2);
    cfg.phase_lines = progress;
    dlor_cmd_lines lines;
    dlor_cmd_lines_init(&lines, cfg.dry_run);
    dlor_convert_hooks hooks = {progress, dlor_cmd_line, NULL, &lines};

    dlor_tensor_list src;
    dlor_graph graph;
    dlor_converted conv;
    char why[512] = "";
    const char *graph_source = NULL;
    dlor_tensor_list_init(&src);
    dlor_graph_init(&graph);
    memset(&conv, 0, sizeof conv);
    dlor_status st = dlor_read_model(in, &src, &graph, why, sizeof why, &err);
    if (st == DLOR_OK)
        st = dlor_resolve_graph(in, &src, &graph, cfg.activation, &graph_source, why, sizeof why, &err);
    if (st == DLOR_OK && graph.count) st = dlor_graph_check(&graph, &src, in, NULL, NULL, &err);
    if (st != DLOR_OK) {
        dlor_graph_free(&graph);
        dlor_tensor_list_free(&src);
        return dlor_cmd_fail("convert", &err);
    }
    st = dlor_convert_source(in, &src, &graph, graph_source, why, &cfg, &hooks, &conv, &err);
    dlor_graph_free(&graph);
    dlor_container *c = &conv.c;
    if (st == DLOR_OK && conv.stopped) { /* a dry run: the plan printed, nothing to write */
        dlor_converted_free(&conv);
        dlor_tensor_list_free(&src);
        return 0;
    }
    dlor_phase wprog;
    dlor_progress_begin(&wprog, progress ? &hooks : NULL, "writing", "files", 1, 0);
    if (st == DLOR_OK) st = dlor_convert_write_outputs(in, &src, c, &outs, &err);
    dlor_progress_step(&wprog, 0);
    dlor_progress_end(&wprog);
    size_t ntensors = c->tensors.count, nfactor = conv.nfactor, nkept = conv.nkept, ncapped = conv.ncapped;
    int graphless = !c->graph.count && !cfg.shard_n;
    dlor_converted_free(&conv);
    dlor_tensor_list_free(&src);
    if (st != DLOR_OK) return dlor_cmd_fail("convert", &err);
    if (graphless)
        fprintf(stderr, "dlor convert: note: %s: no graph recorded (%s): %s holds the converted tensors only, so "
                        "'dlor run', 'dlor verify --inputs' and calibration (--calib) will not work on it\n", in,
                why[0] ? why : "the source has none", strcmp(out, "-") ? out : "the output");
    if (progress) {
        char capnote[64] = "", keptnote[64] = "";
        if (ncapped) snprintf(capnote, sizeof capnote, " (%zu with --rank capped)", ncapped);
        if (cfg.compress) snprintf(keptnote, sizeof keptnote, ", %zu kept dense", nkept);
        fprintf(stderr, "wrote %s: %zu layer%s factored%s%s, %zu tensors stored\n",
                strcmp(out, "-") ? out : "standard output", nfactor - nkept,
                nfactor - nkept == 1 ? "" : "s", capnote, keptnote, ntensors);
    }
    return 0;
}
