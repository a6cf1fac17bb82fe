/* report_text.c - 'dlor reproduce's report as text tables: the curves' optima, the error
 * against h in both precisions, the approximations, Table 1, the spectral split, the
 * targets and the notes (reproduce.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reproduce.h"

static const dlor_repro_curve *find_curve(const dlor_repro_report *r, const char *construction, const char *basis,
                                          const char *alpha, const char *beta)
{
    for (size_t i = 0; i < r->ncurves; i++) {
        const dlor_repro_curve *cv = &r->curves[i];
        if (strcmp(cv->construction, construction) || strcmp(cv->basis, basis) || strcmp(cv->alpha, alpha)) continue;
        if (beta && (!cv->beta || strcmp(cv->beta, beta))) continue;
        if (cv->seed == 0) return cv;
    }
    return NULL;
}

static void print_err(FILE *f, double e)
{
    if (isnan(e)) fprintf(f, " %9s", "-");
    else fprintf(f, " %9.2e", e);
}

void dlor_repro_print(FILE *f, const dlor_repro_report *r)
{
    fprintf(f, "dlor reproduce: %s (sawtooth MLP 1-16-16-16-16-1, softplus; %llu test points; dense test MSE %.3g)\n\n",
            r->sample_dir, (unsigned long long)r->test_samples, r->dense_test_mse);
    fprintf(f, "Figures 2a / 3a: max abs error of the network form to the dense MLP on x_test (r = %lld, c = %g)\n",
            r->ncurves ? (long long)r->curves[0].rank : 0LL, r->ncurves ? r->curves[0].c : 0.0);
    fprintf(f, "  %-52s %10s %9s %10s %9s\n", "curve", "auto h f64", "error", "auto h f32", "error");
    for (size_t i = 0; i < r->ncurves; i++) {
        const dlor_repro_curve *cv = &r->curves[i];
        if (cv->failed) {
            fprintf(f, "  %-52s %s\n", cv->label, cv->note);
            continue;
        }
        fprintf(f, "  %-52s %10.2e", cv->label, cv->auto_f64.h);
        print_err(f, cv->auto_f64.err);
        fprintf(f, " %10.2e", cv->auto_f32.h);
        print_err(f, cv->auto_f32.err);
        fprintf(f, "\n");
    }
    static const struct {
        const char *head, *construction, *basis, *alpha, *beta;
    } cols[] = {{"deep S .8", "deep", "schur", "0.8", NULL},  {"deep S auto", "deep", "schur", "auto", NULL},
                {"deep S 1", "deep", "schur", "1", NULL},     {"deep R .8", "deep", "random", "0.8", NULL},
                {"deep R auto", "deep", "random", "auto", NULL}, {"wide paper", "wide", "svd", "0", "paper"},
                {"wide paired", "wide", "svd", "0", "paired"}};
    const size_t nc = sizeof cols / sizeof cols[0];
    for (int prec = 0; prec < 2; prec++) {
        fprintf(f, "\n  error vs h, %s (S: Schur basis, R: random basis seed 0; .8 / auto / 1: alpha)\n",
                prec ? "float32 factors and runtime" : "float64 factors and runtime");
        fprintf(f, "  %8s", "h");
        for (size_t c = 0; c < nc; c++) fprintf(f, " %11s", cols[c].head);
        fprintf(f, "\n");
        const dlor_repro_curve *cv0 = r->ncurves ? &r->curves[0] : NULL;
        for (size_t i = 0; cv0 && i < cv0->npoints; i++) {
            double h = cv0->points[i].h, lg = log10(h);
            if (fabs(lg - floor(lg + 0.5)) > 1e-9) continue; /* whole decades only */
            fprintf(f, "  %8.0e", h);
            for (size_t c = 0; c < nc; c++) {
                const dlor_repro_curve *cv = find_curve(r, cols[c].construction, cols[c].basis, cols[c].alpha, cols[c].beta);
                double e = NAN;
                for (size_t j = 0; cv && !cv->failed && j < cv->npoints; j++)
                    if (cv->points[j].h == h) e = prec ? cv->points[j].err_f32 : cv->points[j].err_f64;
                if (isnan(e)) fprintf(f, " %11s", "-");
                else fprintf(f, " %11.2e", e);
            }
            fprintf(f, "\n");
        }
    }
    fprintf(f, "\n  what each curve shows against the paper (paper's h range: deep 1e-2 .. 1e-8, wide 1e-1 .. 1e-6):\n");
    for (size_t i = 0; i < r->ncurves; i++) fprintf(f, "  - %s: %s\n", r->curves[i].label, r->curves[i].note);

    fprintf(f, "\nFigures 2b / 3b: the sawtooth approximated by the network form (x in [-2, 2], float64)\n");
    for (size_t i = 0; i < r->napprox; i++) {
        const dlor_repro_approx *a = &r->approx[i];
        for (size_t k = 0; k < a->nseries; k++)
            fprintf(f, "  %-4s (%-22s) %-18s max abs to the dense MLP %9.2e, to the sawtooth %9.2e\n", a->construction,
                    a->variant, a->series[k].label, a->series[k].max_abs_to_dense, a->series[k].max_abs_to_target);
    }
    if (r->napprox) {
        double dm = 0;
        const dlor_repro_approx *a = &r->approx[0];
        for (size_t i = 0; i < a->n; i++) dm = fabs(a->dense[i] - a->target[i]) > dm ? fabs(a->dense[i] - a->target[i]) : dm;
        fprintf(f, "  (the dense MLP itself is %.2e from the sawtooth at worst on this grid)\n", dm);
    }

    fprintf(f, "\nTable 1: parameter counts of the Appendix H.2 architectures (computed | paper)\n");
    fprintf(f, "  %3s %3s %12s %13s %13s %13s %16s\n", "k", "r_k", "dense width", "dense", "deep", "wide",
            "wide (formula)");
    for (size_t i = 0; i < r->ntable1; i++) {
        const dlor_repro_table1_row *t = &r->table1[i];
        fprintf(f, "  %3lld %3lld %12lld %6llu|%-6llu %6llu|%-6llu %6llu|%-6llu %16llu\n", (long long)t->k,
                (long long)t->rank, (long long)t->dense_width, (unsigned long long)t->dense,
                (unsigned long long)t->paper_dense, (unsigned long long)t->deep, (unsigned long long)t->paper_deep,
                (unsigned long long)t->wide, (unsigned long long)t->paper_wide, (unsigned long long)t->wide_formula);
    }

    const dlor_repro_spectral *sp = &r->spectral;
    fprintf(f, "\nExperiment 3: spectral split of the trained layer %s = alpha I + U V^T (n = %lld, r = %lld, alpha = %.4g;\n"
               "  trained %lld epochs: train MSE %.3g, test MSE %.3g, through the .dlor runtime %.3g)\n",
            sp->layer, (long long)sp->n, (long long)sp->rank, sp->alpha, (long long)sp->epochs, sp->train_mse,
            sp->test_mse, sp->test_mse_runtime);
    fprintf(f, "  %3s %12s %12s %12s\n", "i", "sigma_i", "low-rank", "identity");
    for (int64_t i = 0; sp->sigma && i < sp->n; i++)
        fprintf(f, "  %3lld %12.5f %12.5f %12.5f\n", (long long)i, sp->sigma[i], sp->lowrank[i], sp->identity[i]);

    fprintf(f, "\nTargets\n");
    for (size_t i = 0; i < r->ntargets; i++) {
        const dlor_repro_target *t = &r->targets[i];
        fprintf(f, "  %-52s %10.3g <= %-8.3g", t->name, t->value, t->limit);
        if (!isnan(t->h)) fprintf(f, " (h = %.3g)", t->h);
        fprintf(f, " %s\n", t->pass ? "PASS" : "FAIL");
    }
    fprintf(f, "\nWhere this differs from the paper, and why\n");
    for (size_t i = 0; i < r->nnotes; i++) fprintf(f, "  - %s\n", r->notes[i]);
}
