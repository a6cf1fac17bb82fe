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
#include "convert_run.h"
#include "model_load.h"
#include "network_cmd.h"
#include "parallel.h"
#include "shard.h"
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
    {"jobs", 'j', "J", "convert up to J layers at once (default 1; 0: one per processor); the output\n"
                       "                             does not depend on J when BLAS runs one thread (OPENBLAS_NUM_THREADS=1)"},
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

int dlor_convert_u_layout(const dlor_opts *o, const dlor_optdef *d, int *layout)
{
    const char *v = dlor_opt(o, d, "layout");
    *layout = DLOR_IMAGE_U_PANELS;
    if (!v || strcmp(v, "panels") == 0) return 0;
    if (strcmp(v, "rows") == 0) {
        *layout = DLOR_IMAGE_U_ROWS;
        return 0;
    }
    fprintf(stderr, "dlor convert: --layout must be panels or rows, not '%s'\n", v);
    return -1;
}

static int parse_config(const dlor_opts *o, convert_cfg *cfg)
{
    const char *method = dlor_opt(o, defs, "method"), *basis = dlor_opt(o, defs, "basis");
    const char *rank = dlor_opt(o, defs, "rank"), *alpha = dlor_opt(o, defs, "alpha");
    const char *seed = dlor_opt(o, defs, "seed"), *dtype = dlor_opt(o, defs, "dtype");
    dlor_factor_opts *fo = &cfg->fo;
    memset(cfg, 0, sizeof *cfg);
    const char *tols = dlor_opt(o, defs, "tol"), *budgets = dlor_opt(o, defs, "budget");
    const char *bitss = dlor_opt(o, defs, "budget-bits");
    const char *factors = dlor_opt(o, defs, "factors"), *calib = dlor_opt(o, defs, "calib");
    const char *acts = dlor_opt(o, defs, "calib-acts");
    fo->method = DLOR_METHOD_MUL;
    cfg->form = method ? method : (tols || budgets || bitss || factors || calib || acts) ? "auto" : "mul";
    if (strcmp(cfg->form, "add") == 0) fo->method = DLOR_METHOD_ADD;
    else if (strcmp(cfg->form, "lowrank") == 0 || strcmp(cfg->form, "svd") == 0 || strcmp(cfg->form, "auto") == 0)
        cfg->compress = 1;
    else if (strcmp(cfg->form, "qlr") == 0)
        cfg->compress = cfg->cc.qlr = 1;
    else if (strcmp(cfg->form, "mul") != 0) {
        fprintf(stderr, "dlor convert: --method must be mul, add, lowrank, svd, auto or qlr, not '%s'\n", method);
        return 2;
    }
    if (dlor_opt(o, defs, "allocate") && !budgets) {
        fprintf(stderr, "dlor convert: --allocate takes max, sum or uniform and goes with --budget\n");
        return 2;
    }
    if (calib && acts) {
        fprintf(stderr, "dlor convert: --calib and --calib-acts do not go together: give the layers' inputs one way\n");
        return 2;
    }
    if (!cfg->compress && (tols || budgets || factors || calib || acts)) {
        fprintf(stderr, "dlor convert: --tol, --budget, --factors, --calib and --calib-acts choose compressed forms; use --method "
                        "auto, lowrank or svd (mul and add are exact)\n");
        return 2;
    }
    if (cfg->compress) {
        dlor_compress_cfg *cc = &cfg->cc;
        int targets = (rank != NULL) + (tols != NULL) + (budgets != NULL) + (bitss != NULL);
        if (bitss && (strcmp(cfg->form, "auto") != 0 || factors || dtype)) {
            fprintf(stderr, "dlor convert: --budget-bits goes with --method auto and chooses each layer's dtypes "
                            "(not --dtype or --factors)\n");
            return 2;
        }
        if (bitss && (dlor_parse_double(bitss, &cc->bits) != 0 || !(cc->bits > 0) || cc->bits > 32)) {
            fprintf(stderr, "dlor convert: --budget-bits must be a number of bits per weight in (0, 32], not '%s'\n",
                    bitss);
            return 2;
        }
        cc->has_bits = bitss != NULL;
        cc->fit_beta = strcmp(cfg->form, "svd") != 0 && !cc->qlr;
        if (cc->qlr && (budgets || factors)) {
            fprintf(stderr, "dlor convert: --method qlr takes --rank R or --tol T (not --budget or --factors)\n");
            return 2;
        }
        cc->calib = calib;
        cc->calib_acts = acts;
        if (targets != 1) {
            fprintf(stderr, "dlor convert: a compressed form needs exactly one target: --rank R, --tol T, --budget F or "
                            "--budget-bits B\n");
            return 2;
        }
        if (tols && (dlor_parse_double(tols, &cc->tol) != 0 || cc->tol <= 0)) {
            fprintf(stderr, "dlor convert: --tol must be a positive number, not '%s'\n", tols);
            return 2;
        }
        cc->has_tol = tols != NULL;
        if (budgets && (dlor_parse_double(budgets, &cc->budget) != 0 || cc->budget <= 0 || cc->budget > 1)) {
            fprintf(stderr, "dlor convert: --budget must be a fraction in (0, 1], not '%s'\n", budgets);
            return 2;
        }
        cc->has_budget = budgets != NULL;
        const char *alloc = dlor_opt(o, defs, "allocate");
        if (alloc && (!budgets || (strcmp(alloc, "max") != 0 && strcmp(alloc, "sum") != 0 &&
                                   strcmp(alloc, "uniform") != 0))) {
            fprintf(stderr, "dlor convert: --allocate takes max, sum or uniform and goes with --budget\n");
            return 2;
        }
        cc->allocate_sum = !alloc || strcmp(alloc, "sum") == 0;
        cc->allocate_uniform = alloc && strcmp(alloc, "uniform") == 0;
        if (factors && (dlor_parse_i64(factors, &cc->factors) != 0 || cc->factors < 1 || cc->factors > 4096)) {
            fprintf(stderr, "dlor convert: --factors must be an integer from 1 to 4096, not '%s'\n", factors);
            return 2;
        }
        if (basis || alpha) {
            fprintf(stderr, "dlor convert: --basis and --alpha apply to the exact forms (mul, add) only\n");
            return 2;
        }
    }
    fo->basis = fo->method == DLOR_METHOD_MUL ? DLOR_BASIS_SCHUR : DLOR_BASIS_SVD;
    if (basis && !cfg->compress) {
        if (strcmp(basis, "schur") == 0) fo->basis = DLOR_BASIS_SCHUR;
        else if (strcmp(basis, "random") == 0) fo->basis = DLOR_BASIS_RANDOM;
        else if (strcmp(basis, "svd") == 0) fo->basis = DLOR_BASIS_SVD;
        else {
            fprintf(stderr, "dlor convert: --basis must be schur, random or svd, not '%s'\n", basis);
            return 2;
        }
        if ((fo->method == DLOR_METHOD_MUL) != (fo->basis != DLOR_BASIS_SVD)) {
            fprintf(stderr, "dlor convert: --basis %s does not apply to --method %s (mul: schur|random; add: svd)\n",
                    basis, fo->method == DLOR_METHOD_MUL ? "mul" : "add");
            return 2;
        }
    }
    fo->rank = DLOR_DEFAULT_RANK;
    if (rank) {
        if (dlor_parse_i64(rank, &fo->rank) != 0 || fo->rank < 1) {
            fprintf(stderr, "dlor convert: --rank must be a positive integer, not '%s'\n", rank);
            return 2;
        }
        cfg->rank_given = 1;
        cfg->cc.rank = fo->rank;
    }
    fo->alpha_auto = 1;
    if (alpha && strcmp(alpha, "auto") != 0) {
        if (dlor_parse_double(alpha, &fo->alpha) != 0) {
            fprintf(stderr, "dlor convert: --alpha must be a finite number or 'auto', not '%s'\n", alpha);
            return 2;
        }
        if (fo->method == DLOR_METHOD_MUL && fo->alpha == 0.0) {
            fprintf(stderr, "dlor convert: --alpha 0 is not allowed with --method mul (the factors must be invertible)\n");
            return 2;
        }
        fo->alpha_auto = 0;
    }
    if (seed && dlor_parse_u64(seed, &fo->seed) != 0) {
        fprintf(stderr, "dlor convert: --seed must be a non-negative integer, not '%s'\n", seed);
        return 2;
    }
    fo->storage = DLOR_DT_F32;
    if (dtype) {
        fo->storage = dlor_dtype_from_name(dtype);
        if (!dlor_dtype_is_weight(fo->storage)) {
            fprintf(stderr, "dlor convert: --dtype must be f32, f64, f16, bf16, q8 or q4, not '%s'\n", dtype);
            return 2;
        }
    }
    cfg->cc.storage = fo->storage;
    const char *cdtype = dlor_opt(o, defs, "correction-dtype");
    cfg->cc.corr_storage = DLOR_DT_F16;
    if (cdtype && !cfg->cc.qlr) {
        fprintf(stderr, "dlor convert: --correction-dtype goes with --method qlr\n");
        return 2;
    }
    if (cfg->cc.qlr) {
        if (!dtype) fo->storage = cfg->cc.storage = DLOR_DT_Q4;
        if (!dlor_dtype_is_quant(fo->storage)) {
            fprintf(stderr, "dlor convert: --method qlr quantizes its base: --dtype must be q4 or q8, not '%s'\n", dtype);
            return 2;
        }
        if (cdtype) {
            cfg->cc.corr_storage = dlor_dtype_from_name(cdtype);
            if (!dlor_dtype_is_weight(cfg->cc.corr_storage) || cfg->cc.corr_storage == DLOR_DT_Q4 ||
                cfg->cc.corr_storage == DLOR_DT_F64) {
                fprintf(stderr, "dlor convert: --correction-dtype must be f16, f32, bf16 or q8, not '%s'\n", cdtype);
                return 2;
            }
        }
    }
    const char *jobs = dlor_opt(o, defs, "jobs");
    uint64_t nj = 1;
    if (jobs && (dlor_parse_u64(jobs, &nj) != 0 || nj > 1024)) {
        fprintf(stderr, "dlor convert: --jobs must be an integer from 0 to 1024, not '%s'\n", jobs);
        return 2;
    }
    cfg->jobs = nj == 0 ? dlor_cpu_count() : (int)nj;
    cfg->cc.jobs = cfg->jobs;
    const char *shard = dlor_opt(o, defs, "shard");
    int64_t si, sn;
    if (shard && dlor_shard_parse(shard, &si, &sn) != 0) {
        fprintf(stderr, "dlor convert: --shard takes I/N with 0 <= I < N <= 65536, not '%s'\n", shard);
        return 2;
    }
    if (shard) {
        cfg->shard_i = si;
        cfg->shard_n = sn;
    }
    if (shard && (budgets || bitss || dlor_opt(o, defs, "emit") || dlor_opt(o, defs, "emit-dense") ||
                  dlor_opt(o, defs, "emit-onnx"))) {
        fprintf(stderr, "dlor convert: --shard does not go with %s\n",
                budgets || bitss ? "--budget or --budget-bits (the budget is shared by all layers: convert in one process, or use --tol "
                          "or --rank)"
                        : "--emit, --emit-dense or --emit-onnx (emit from the merged file's conversion in one "
                          "process)");
        return 2;
    }
    return 0;
}

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
    dlor_error hf_err;
    if (!(o.pos[0] = dlor_hf_weights_path(o.pos[0], hf_file, sizeof hf_file, &hf_err)))
        return dlor_cmd_fail("convert", &hf_err);
    if (dlor_opt(&o, defs, "form") && strcmp(dlor_opt(&o, defs, "form"), "layer") != 0) {
        static const char *const layer_only[] = {"method", "tol", "budget", "allocate", "factors", "emit",
                                                 "emit-dense", "emit-onnx", "shard", "include", "exclude",
                                                 "dry-run", "force", "set", "plan", "plan-out"};
        for (size_t i = 0; i < sizeof layer_only / sizeof layer_only[0]; i++)
            if (dlor_opt(&o, defs, layer_only[i])) {
                fprintf(stderr, "dlor convert: --%s does not go with --form network (it converts every layer of the "
                                "model's graph exactly)\n", layer_only[i]);
                return 2;
            }
        return dlor_convert_network(&o, defs);
    }
    if (dlor_opt(&o, defs, "construction") || dlor_opt(&o, defs, "h") || dlor_opt(&o, defs, "c") ||
        dlor_opt(&o, defs, "beta")) {
        fprintf(stderr, "dlor convert: --construction, --h, --c and --beta go with --form network\n");
        return 2;
    }
    if ((rc = parse_config(&o, &cfg)) != 0) return rc;
    int u_layout;
    if (dlor_convert_u_layout(&o, defs, &u_layout) != 0) return 2;
    const char *in = o.pos[0], *out = dlor_opt(&o, defs, "output");
    const dlor_convert_outputs outs = {out, dlor_opt(&o, defs, "compress") != NULL, dlor_opt(&o, defs, "emit"),
                                       dlor_opt(&o, defs, "emit-dense"), dlor_opt(&o, defs, "emit-onnx")};
    const dlor_cmd_output outputs[] = {{"-o", out, DLOR_OUT_BINARY},
                                       {"--emit", outs.emit, DLOR_OUT_FILE},
                                       {"--emit-dense", outs.emit_dense, DLOR_OUT_FILE},
                                       {"--emit-onnx", outs.emit_onnx, DLOR_OUT_FILE},
                                       {"--plan-out", dlor_opt(&o, defs, "plan-out"), DLOR_OUT_TEXT}};
    const char *inputs[] = {in, dlor_opt(&o, defs, "calib"), dlor_opt(&o, defs, "plan"), dlor_opt(&o, defs, "calib-acts")};
    if ((rc = dlor_cmd_check_outputs("convert", outputs, 5, inputs, 4)) != 0) return rc;
    dlor_error err;
    if (outs.emit_onnx && dlor_onnx_rewrite_check_source(in, &err) != DLOR_OK) return dlor_cmd_fail("convert", &err);
    int progress = isatty(2) || dlor_opt(&o, defs, "verbose");
    int inc = dlor_opt_index(defs, "include"), exc = dlor_opt_index(defs, "exclude");
    cfg.include = o.all[inc];
    cfg.ninclude = (size_t)o.count[inc];
    cfg.exclude = o.all[exc];
    cfg.nexclude = (size_t)o.count[exc];
    cfg.activation = dlor_opt(&o, defs, "activation");
    cfg.u_layout = u_layout;
    int si = dlor_opt_index(defs, "set");
    cfg.out = out;
    cfg.plan_in = dlor_opt(&o, defs, "plan");
    cfg.plan_out = dlor_opt(&o, defs, "plan-out");
    cfg.sets = o.all[si];
    cfg.nsets = o.count[si];
    cfg.dry_run = dlor_opt(&o, defs, "dry-run") != NULL;
    cfg.force = dlor_opt(&o, defs, "force") != NULL;
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
