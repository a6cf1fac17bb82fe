/* report_csv.c - 'dlor reproduce --out': the report as text and JSON and every figure's
 * data as CSV, one writer per file (reproduce.h). */
#include <stdio.h>

#include "reproduce.h"

static void csv_curves(FILE *f, const dlor_repro_report *r)
{
    fprintf(f, "label,construction,basis,alpha,beta,seed,h,err_f64,err_f32\n");
    for (size_t i = 0; i < r->ncurves; i++) {
        const dlor_repro_curve *cv = &r->curves[i];
        for (size_t j = 0; j < cv->npoints; j++)
            fprintf(f, "\"%s\",%s,%s,%s,%s,%llu,%.17g,%.17g,%.17g\n", cv->label, cv->construction, cv->basis, cv->alpha,
                    cv->beta ? cv->beta : "", (unsigned long long)cv->seed, cv->points[j].h, cv->points[j].err_f64,
                    cv->points[j].err_f32);
    }
}

static void csv_approx(FILE *f, const dlor_repro_report *r)
{
    fprintf(f, "construction,series,h,x,target,dense,y\n");
    for (size_t i = 0; i < r->napprox; i++) {
        const dlor_repro_approx *a = &r->approx[i];
        for (size_t k = 0; k < a->nseries; k++)
            for (size_t j = 0; j < a->n; j++)
                fprintf(f, "%s,\"%s\",%.17g,%.17g,%.17g,%.17g,%.17g\n", a->construction, a->series[k].label,
                        a->series[k].h, a->x[j], a->target[j], a->dense[j], a->series[k].y[j]);
    }
}

static void csv_table1(FILE *f, const dlor_repro_report *r)
{
    fprintf(f, "k,rank,dense_width,dense,deep,wide,wide_formula,paper_dense,paper_deep,paper_wide\n");
    for (size_t i = 0; i < r->ntable1; i++) {
        const dlor_repro_table1_row *t = &r->table1[i];
        fprintf(f, "%lld,%lld,%lld,%llu,%llu,%llu,%llu,%llu,%llu,%llu\n", (long long)t->k, (long long)t->rank,
                (long long)t->dense_width, (unsigned long long)t->dense, (unsigned long long)t->deep,
                (unsigned long long)t->wide, (unsigned long long)t->wide_formula, (unsigned long long)t->paper_dense,
                (unsigned long long)t->paper_deep, (unsigned long long)t->paper_wide);
    }
}

static void csv_spectral(FILE *f, const dlor_repro_report *r)
{
    const dlor_repro_spectral *sp = &r->spectral;
    fprintf(f, "i,sigma,lowrank,identity\n");
    for (int64_t i = 0; sp->sigma && i < sp->n; i++)
        fprintf(f, "%lld,%.17g,%.17g,%.17g\n", (long long)i, sp->sigma[i], sp->lowrank[i], sp->identity[i]);
}

const dlor_repro_file dlor_repro_out_files[DLOR_REPRO_NOUT_FILES] = {
    {"report.txt", dlor_repro_print}, {"report.json", dlor_repro_json}, {"curves.csv", csv_curves},
    {"approx.csv", csv_approx},       {"table1.csv", csv_table1},       {"spectral.csv", csv_spectral}};
