/* cmd_verify.c - dlor verify: prove a .dlor file reproduces its dense source
 * (the measurements: lib/check/verify_run.c; the page: lib/report/verify_html.c). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "dlor_fileio.h"
#include "dlor_hf.h"
#include "model_load.h"
#include "opts.h"
#include "verify_result.h"

static const dlor_optdef defs[] = {
    {"json", 0, "FILE", "also write the report as JSON to FILE ('-' for stdout)"},
    {"html", 0, "FILE", "also write a self-contained HTML report with charts to FILE ('-' for stdout;\n"
                        "                             for a network form: its structure and the end-to-end figures)"},
    {"tol", 0, "T", "largest relative Frobenius error accepted per layer (default by storage dtype:\n"
                    "                             f32 1e-4, f64 1e-10, f16 1e-2, bf16 5e-2); for a network-form\n"
                    "                             file, the largest end-to-end max abs output error accepted\n"
                    "                             (its exact components keep the defaults; no --tol: reported, and\n"
                    "                             only a non-finite error fails)"},
    {"inputs", 0, "X.npy", "end-to-end check on these model inputs [N, features] (a model of token ids:\n"
                           "                             a .npz of input_ids, attention_mask, token_type_ids)"},
    {"samples", 0, "N", "end-to-end check on N seeded random inputs (default 256 when a graph is known)"},
    {"labels", 0, "Y.npy", "integer class labels of --inputs: adds accuracy and argmax agreement"},
    {"seed", 0, "S", "seed of the random inputs (default 0)"},
    {"activation", 0, "NAME", "network form from nn.Sequential names: the dense model's activation\n"
                              "                             (default: the one the network's graph uses)"},
    {"min-cosine", 0, "C", "with --inputs: the least cosine between dense and DLoR outputs accepted, sample by\n"
                           "                             sample (default 0.99 where layers have no tolerance of their own)"},
    {"max-rel-error", 0, "E", "with --inputs: the largest end-to-end relative error accepted (default: none)"},
    {"quiet", 'q', NULL, "print only the verdict line"},
    {NULL, 0, NULL, NULL}};

static const char *usage_line = "IN OUT.dlor [--json FILE] [--html FILE] [--tol T]\n"
                                "                   [--inputs X.npy [--labels Y.npy] | --samples N [--seed S]] [-q]\n\n"
                                "Rebuilds every layer of OUT.dlor from its stored factors (in double precision)\n"
                                "and compares it with the dense weights in IN; checks that every other tensor\n"
                                "was carried over bit for bit. Exits 1 when a layer exceeds the tolerance.\n\n"
                                "A network form (convert --form network) replaces dense layers by sub-layers\n"
                                "that have no dense counterpart: verify reports its structure (construction,\n"
                                "h, c, components, parameters and bytes against the dense layers), compares\n"
                                "its exact components weight for weight, and runs the dense model (IN with\n"
                                "its graph, resolved as convert did) against the network end to end, in double\n"
                                "precision when the file stores f64 factors and in float32 otherwise. There\n"
                                "--tol T is the largest end-to-end max abs output error accepted.\n\n"
                                "With a graph, the dense and DLoR models also run end to end on --inputs (or on\n"
                                "--samples seeded normal inputs, 256 by default; a model of token ids: random\n"
                                "sequences of 16 ids), and a transformer also reports the cosine of its mean-\n"
                                "pooled hidden states (encoders) or its next-token agreement and KL divergence\n"
                                "(decoders). A report written to '-' is\n"
                                "all that goes to standard output; the text then goes to stderr.";

/* The tables size their name column to the longest name, up to this many
 * characters; a longer name keeps its end (the part that tells layers apart)
 * after "...". */
#define NAME_COL_MAX 64

static const char *name_cell(const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    if (n < len) return name;
    snprintf(buf, len, "...%s", name + n - (len - 4));
    return buf;
}

static void print_net_structure(const verify_network *n)
{
    char variant[160] = "";
    if (n->construction && strcmp(n->construction, "wide") == 0)
        snprintf(variant, sizeof variant, "%s beta", n->beta ? n->beta : "?");
    else
        snprintf(variant, sizeof variant, "%s basis, alpha %s",
                 n->basis && strcmp(n->basis, "schur") == 0 ? "Schur" : n->basis ? n->basis : "?",
                 n->alpha ? n->alpha : "?");
    printf("network form: %s construction (%s), r = %lld, c = %g, h = %.3g (%s), %s factors; dense model: %s\n",
           n->construction ? n->construction : "?", variant, (long long)n->rank, n->c, n->h,
           n->h_choice && strcmp(n->h_choice, "auto") == 0 ? "searched" : "given", n->storage, n->dense_graph);
    int nw = 11; /* "dense layer" */
    for (size_t i = 0; i < n->nlayers; i++) {
        int len = (int)strlen(n->layers[i].name);
        nw = len > nw ? (len < NAME_COL_MAX ? len : NAME_COL_MAX) : nw;
    }
    printf("%-*s %-13s %-22s %10s %5s %-21s %s\n", nw, "dense layer", "shape", "becomes", "components", "rank",
           "params dense>network", "bytes dense>network");
    for (size_t i = 0; i < n->nlayers; i++) {
        const verify_net_layer *L = &n->layers[i];
        char shape[48], becomes[64], params[48], bytes[48], name[NAME_COL_MAX + 1];
        snprintf(shape, sizeof shape, "[%llu, %llu]", (unsigned long long)L->rows, (unsigned long long)L->cols);
        if (L->act) snprintf(becomes, sizeof becomes, "%s (rho = %s)", L->form, L->act);
        else if (strcmp(L->form, "exact") == 0) snprintf(becomes, sizeof becomes, "exact (one component)");
        else snprintf(becomes, sizeof becomes, "%s", L->form);
        snprintf(params, sizeof params, "%llu>%llu", (unsigned long long)L->params_dense,
                 (unsigned long long)L->params_net);
        snprintf(bytes, sizeof bytes, "%llu>%llu", (unsigned long long)L->bytes_dense,
                 (unsigned long long)L->bytes_net);
        printf("%-*s %-13s %-22s %10llu %5llu %-21s %s\n", nw, name_cell(L->name, name, sizeof name), shape, becomes,
               (unsigned long long)L->components, (unsigned long long)L->rank, params, bytes);
    }
    printf("network total: %zu dense layers (%zu constructed, %zu exact, %zu left dense), %zu DLoR components; "
           "params %llu -> %llu (%.3fx), bytes %llu -> %llu (%.3fx)\n",
           n->nlayers, n->constructed, n->exact, n->kept_dense, n->components, (unsigned long long)n->params_dense,
           (unsigned long long)n->params_net, n->params_dense ? (double)n->params_net / (double)n->params_dense : 0.0,
           (unsigned long long)n->bytes_dense, (unsigned long long)n->bytes_net,
           n->bytes_dense ? (double)n->bytes_net / (double)n->bytes_dense : 0.0);
    if (n->skipped)
        printf("note: the %zu sub-layers of the constructed layers have no dense counterpart: no per-layer weight "
               "comparison for them (the end-to-end check measures them)%s\n", n->skipped,
               n->exact == 0 ? "" : n->exact == 1 ? "; the exact component is compared below"
                                                  : "; the exact components are compared below");
}

static void print_net_verdict(const verify_result *r)
{
    const verify_network *n = r->net;
    char tb[64], lb[160] = "";
    if (isnan(n->tol)) snprintf(tb, sizeof tb, "no tolerance given");
    else snprintf(tb, sizeof tb, "tol %.3g", n->tol);
    if (r->nlayers)
        snprintf(lb, sizeof lb, ", exact components: max relative Frobenius error %.3g (tol %.3g)", r->max_rel,
                 r->layers[0].tol);
    if (r->e2e_samples && !n->e2e_pass && !isnan(n->tol))
        printf("network form: end-to-end max abs error %.3g exceeds --tol %.3g%s: FAIL\n", r->e2e_max_abs, n->tol, lb);
    else
        printf("network form: end-to-end max abs error %.3g (%s)%s: %s\n", r->e2e_max_abs, tb, lb,
               r->pass ? "PASS" : "FAIL");
}

static void print_text(const char *in, const char *out, const verify_result *r)
{
    uint64_t pd = 0, pl = 0, bd = 0, bl = 0;
    printf("dlor verify: %s -> %s\n", in, out);
    if (r->net) print_net_structure(r->net);
    int nw = 5, sw = 13, pw = 17; /* the widths of the name, shape and params columns */
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        char shape[48], params[48];
        int n = (int)strlen(L->name);
        nw = n > nw ? (n < NAME_COL_MAX ? n : NAME_COL_MAX) : nw;
        n = snprintf(shape, sizeof shape, "[%llu, %llu]", (unsigned long long)L->rows, (unsigned long long)L->cols);
        sw = n > sw ? n : sw;
        n = snprintf(params, sizeof params, "%llu>%llu", (unsigned long long)L->params_dense,
                     (unsigned long long)L->params_dlor);
        pw = n > pw ? n : pw;
    }
    if (r->nlayers)
        printf("%-*s %-*s %-8s %-6s %5s %5s %-12s %-10s %-10s %-10s %-10s %-*s %s\n", nw, "layer", sw, "shape",
               "form", "basis", "rank", "L", "alpha/beta", "rel_fro", "max_abs", "svd@size", "data_err", pw,
               "params dense>dlor", "bytes dense>dlor");
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        char shape[48], params[48], bytes[48], name[NAME_COL_MAX + 1];
        snprintf(shape, sizeof shape, "[%llu, %llu]", (unsigned long long)L->rows, (unsigned long long)L->cols);
        snprintf(params, sizeof params, "%llu>%llu", (unsigned long long)L->params_dense,
                 (unsigned long long)L->params_dlor);
        snprintf(bytes, sizeof bytes, "%llu>%llu", (unsigned long long)L->bytes_dense,
                 (unsigned long long)L->bytes_dlor);
        char derr[32] = "-", svd[32] = "-";
        if (!isnan(L->data_rel_error)) snprintf(derr, sizeof derr, "%.3g", L->data_rel_error);
        if (!isnan(L->svd_rel_fro_error)) snprintf(svd, sizeof svd, "%.3g", L->svd_rel_fro_error);
        printf("%-*s %-*s %-8s %-6s %5llu %5llu %-12.6g %-10.3g %-10.3g %-10s %-10s %-*s %s%s\n", nw,
               name_cell(L->name, name, sizeof name), sw, shape, L->form, L->method ? dlor_basis_name(L->basis) : "-",
               (unsigned long long)L->rank, (unsigned long long)L->factors, L->alpha, L->rel_fro_error,
               L->max_abs_error, svd, derr, pw, params, bytes, L->pass ? "" : "  EXCEEDS TOL");
        pd += L->params_dense;
        pl += L->params_dlor;
        bd += L->bytes_dense;
        bl += L->bytes_dlor;
    }
    if (r->nlayers)
        printf("total: %zu layers, params %llu -> %llu (%.3fx), bytes %llu -> %llu (%.3fx)\n", r->nlayers,
               (unsigned long long)pd, (unsigned long long)pl, pd ? (double)pl / (double)pd : 0.0,
               (unsigned long long)bd, (unsigned long long)bl, bd ? (double)bl / (double)bd : 0.0);
    size_t won[3] = {0, 0, 0};
    for (size_t i = 0; i < r->nlayers; i++) {
        const char *w = dlor_alternatives_winner(&r->layers[i]);
        if (w) won[strcmp(w, "dlor") == 0 ? 0 : strcmp(w, "quantization") == 0 ? 1 : 2]++;
    }
    if (won[0] + won[1] + won[2])
        printf("alternatives at each compressed layer's bytes (weight error; --json lists them): DLoR least on %zu "
               "layer%s, quantization (q8, q4, f16, bf16, or a quantized base with a correction) on %zu, dense f32 "
               "on %zu\n", won[0], won[0] == 1 ? "" : "s", won[1], won[2]);
    for (size_t i = 0; i < r->nlayers; i++)
        if (!isnan(r->layers[i].data_rel_error)) {
            printf("data_err: ||(W - W_hat) X||_F / ||W X||_F on the inputs X each layer receives in the dense model "
                   "(end-to-end inputs below)\n");
            break;
        }
    for (size_t i = 0; i < r->nlayers; i++) {
        char note[400];
        if (dlor_verify_layer_note(r, &r->layers[i], note, sizeof note)[0])
            printf("note: layer '%s': %s\n", r->layers[i].name, note);
    }
    if (r->calib)
        printf("note: the layers were fitted to calibration data (%s): the fit minimises the error on those "
               "activations, so weight-space errors (and svd@size) do not measure it; the end-to-end error does\n",
               r->calib);
    for (size_t i = 0; i < r->nlayers && !r->calib; i++) {
        const dlor_layer_report *L = &r->layers[i];
        int compressed = L->method && strcmp(L->form, "mul") != 0 && strcmp(L->form, "add") != 0;
        if (compressed && L->svd_rel_fro_error <= L->rel_fro_error * (1 + 1e-6))
            printf("note: layer '%s': DLoR does not beat plain truncated SVD at this size (%.3g vs %.3g): "
                   "the best diagonal is ~0 for this layer\n", L->name, L->rel_fro_error, L->svd_rel_fro_error);
    }
    for (size_t i = 0; i < r->nlayers; i++) {
        const dlor_layer_report *L = &r->layers[i];
        if (L->method && L->rows != L->cols && L->form && strcmp(L->form, "mul") != 0 && strcmp(L->form, "add") != 0 &&
            strcmp(L->form, "svd") != 0) {
            printf("note: rectangular layers hold beta on their leading diagonal: W_hat = beta*I[m x n] + P Q^T, with "
                   "I[m x n] ones at (i, i) for i < min(m, n)\n");
            break;
        }
    }
    printf("carried tensors: %zu, identical to the source: %zu\n", r->carried, r->carried_same);
    if (r->e2e_samples) {
        if (r->net)
            printf("end to end on %llu %s inputs, the network in %s against the dense model in float64: max abs "
                   "output error %.3g, max relative error %.3g\n", (unsigned long long)r->e2e_samples, r->e2e_inputs,
                   r->net->f64 ? "float64 (f64 factors)" : "float32 (f32 factors)", r->e2e_max_abs, r->e2e_max_rel);
        else
            printf("end to end on %llu %s inputs: max abs output error %.3g, max relative error %.3g\n",
                   (unsigned long long)r->e2e_samples, r->e2e_inputs, r->e2e_max_abs, r->e2e_max_rel);
        if (!isnan(r->e2e_mean_cos) && r->e2e_tokens != 1)
            printf("cosine of dense and DLoR outputs per sample: mean %.6f, least %.6f\n", r->e2e_mean_cos,
                   r->e2e_min_cos);
        if (r->e2e_checked && !isnan(r->req_min_cos) && !(r->e2e_min_cos >= r->req_min_cos))
            printf("least cosine %.6f is BELOW --min-cosine %.6g\n", r->e2e_min_cos, r->req_min_cos);
        if (r->e2e_checked && !isnan(r->req_max_rel) && !(r->e2e_max_rel <= r->req_max_rel))
            printf("end-to-end relative error %.3g exceeds --max-rel-error %.3g\n", r->e2e_max_rel, r->req_max_rel);
        printf("non-finite outputs: dense %llu, DLoR %llu of %llu\n", (unsigned long long)r->e2e_nonfinite_dense,
               (unsigned long long)r->e2e_nonfinite_dlor, (unsigned long long)r->e2e_values);
        if (r->net && r->net->recorded_error) printf("convert measured: %s\n", r->net->recorded_error);
        char seqs[160];
        if (r->e2e_tokens && r->e2e_tokens_max == r->e2e_seq && r->e2e_tokens_mean == (double)r->e2e_seq)
            snprintf(seqs, sizeof seqs, "%llu sequences of %llu tokens, no padding", (unsigned long long)r->e2e_samples,
                     (unsigned long long)r->e2e_seq);
        else if (r->e2e_tokens)
            snprintf(seqs, sizeof seqs, "%llu sequences padded to %llu tokens, of %.1f real tokens on average, at most "
                     "%llu", (unsigned long long)r->e2e_samples, (unsigned long long)r->e2e_seq, r->e2e_tokens_mean,
                     (unsigned long long)r->e2e_tokens_max);
        if (r->e2e_tokens == 1)
            printf("mean-pooled hidden states (%s): cosine similarity mean %.9f, min %.9f\n", seqs, r->cosine_mean,
                   r->cosine_min);
        else if (r->e2e_tokens == 2)
            printf("next-token distributions at %llu positions (%s): top-1 agreement %.2f%%, mean KL divergence "
                   "%.3g nats\n", (unsigned long long)r->e2e_positions, seqs, 100 * r->top1_agreement, r->kl_mean);
        if (r->has_labels)
            printf("accuracy: dense %.2f%%, DLoR %.2f%%; argmax agreement %.2f%%\n", 100 * r->acc_dense,
                   100 * r->acc_dlor, 100 * r->argmax_agreement);
    }
    if (!r->sha_match)
        printf("note: %s is not the file %s was made from (SHA-256 differs from dlor.source_sha256)\n", in, out);
}

int dlor_cmd_verify(int argc, char **argv)
{
    dlor_opts o;
    int rc = dlor_opts_parse("verify", usage_line, defs, argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
    if (o.npos != 2) {
        fprintf(stderr, "dlor verify: expected IN and OUT.dlor (see 'dlor verify --help')\n");
        return 2;
    }
#define OPT(name) dlor_opt(&o, defs, name)
    const dlor_verify_words words = {.tol = OPT("tol"), .samples = OPT("samples"), .seed = OPT("seed"),
                                     .inputs = OPT("inputs"), .labels = OPT("labels"),
                                     .activation = OPT("activation"), .min_cosine = OPT("min-cosine"),
                                     .max_rel_error = OPT("max-rel-error")};
#undef OPT
    const char *json = dlor_opt(&o, defs, "json");
    dlor_verify_args va;
    dlor_error err;
    if (dlor_verify_args_check(&words, &va, &err) != DLOR_OK) return dlor_cmd_fail("verify", &err);
    char hf_file[4096]; /* a Hugging Face folder stands for its weight file */
    if (!(o.pos[0] = dlor_hf_weights_path(o.pos[0], hf_file, sizeof hf_file, &err)))
        return dlor_cmd_fail("verify", &err);
    const char *in = o.pos[0], *out = o.pos[1];
    const dlor_cmd_output outputs[] = {{"--json", json, DLOR_OUT_TEXT},
                                       {"--html", dlor_opt(&o, defs, "html"), DLOR_OUT_TEXT}};
    const char *inputs[] = {in, out, va.inputs, va.labels};
    if ((rc = dlor_cmd_check_outputs("verify", outputs, 2, inputs, 4)) != 0) return rc;
    va.in = in;
    va.out = out;
    dlor_verify_state vs;
    dlor_verify_state_init(&vs);
    dlor_status st = dlor_verify_files(&va, &vs, &err);
    const verify_result *rp = &vs.r;
    const char *target = vs.r.target;
    if (st == DLOR_OK) {
        if (!dlor_opt(&o, defs, "quiet")) print_text(in, out, rp);
        for (size_t i = 0; i < rp->nproblems; i++) printf("problem: %s\n", rp->problems[i]);
        /* the page is written to a temporary file first and renamed into place with the
         * JSON report: both appear, or neither */
        const char *html = dlor_opt(&o, defs, "html");
        dlor_atomic_file haf;
        memset(&haf, 0, sizeof haf);
        if (html) st = dlor_verify_html(html, in, out, rp, &vs.c, &vs.src, target, &haf, &err);
        if (st == DLOR_OK && json) { /* "-": standard output, staged whole */
            dlor_atomic_file af;
            st = dlor_atomic_open(&af, json, &err);
            if (st == DLOR_OK) {
                dlor_verify_write_json(af.fp, in, out, rp);
                if (ferror(af.fp)) af.failed = 1;
                st = dlor_atomic_commit(&af, &err);
            }
        }
        if (haf.fp && st == DLOR_OK) st = dlor_atomic_commit(&haf, &err);
        else if (haf.fp) dlor_atomic_abort(&haf);
        char tolbuf[96];
        if (va.tol >= 0) snprintf(tolbuf, sizeof tolbuf, "tol %.3g", va.tol);
        else if (rp->compressed) snprintf(tolbuf, sizeof tolbuf, "compressed, target %s", target ? target : "unknown");
        else snprintf(tolbuf, sizeof tolbuf, "tol %.3g", rp->nlayers ? rp->layers[0].tol : 0.0);
        if (rp->net) print_net_verdict(rp);
        else if (strcmp(rp->verdict, "unchecked") == 0)
            printf("max relative Frobenius error %.3g, max abs error %.3g over %zu layers (%s): UNCHECKED: nothing was "
                   "checked (the compressed layers have no tolerance of their own; give --inputs to hold the outputs "
                   "to --min-cosine / --max-rel-error)\n", rp->max_rel, rp->max_abs, rp->nlayers, tolbuf);
        else
            printf("max relative Frobenius error %.3g, max abs error %.3g over %zu layers (%s%s): %s\n", rp->max_rel,
                   rp->max_abs, rp->nlayers, tolbuf, rp->e2e_checked ? ", outputs checked end to end" : "",
                   rp->pass ? "PASS" : "FAIL");
    }
    int pass = rp->pass;
    dlor_verify_state_free(&vs);
    if (st != DLOR_OK) return dlor_cmd_fail("verify", &err);
    return pass ? 0 : 1;
}
