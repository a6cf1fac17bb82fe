/* test_reproduce_html - the page of 'dlor reproduce --html' (paper/report_html.c) built
 * from a hand-made report with everything the real sample does not produce: a failed
 * construction, NaN / Inf / 0 errors on the log axes, a Table 1 count that differs from
 * the paper's, a missed target, markup and invalid UTF-8 in the text. The page must mark
 * the mismatch and the missed target, escape the text and keep every coordinate finite.
 * With an argument, also writes the page there (test_html.py opens it in a browser). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reproduce.h"
#include "testutil.h"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Every number in a coordinate attribute of the page is finite. */
static int coords_finite(const char *page)
{
    static const char *const attrs[] = {" x=\"", " y=\"", " x1=\"", " x2=\"", " y1=\"", " y2=\"", " cx=\"", " cy=\"",
                                        " width=\"", " height=\"", " d=\""};
    for (size_t a = 0; a < sizeof attrs / sizeof attrs[0]; a++)
        for (const char *p = page; (p = strstr(p, attrs[a])); p++) {
            const char *v = p + strlen(attrs[a]), *e = strchr(v, '"');
            if (!e) return 0;
            for (const char *q = v; q < e; q++)
                if (!strchr("0123456789.-MLHVZ ", *q)) {
                    fprintf(stderr, "  attribute%.*s\n", (int)(e - p + 1), p);
                    return 0;
                }
        }
    return 1;
}

int main(int argc, char **argv)
{
    enum { NP = 13, NX = 9, NS = 4 };
    dlor_repro_point pts[2][NP];
    for (int i = 0; i < NP; i++) {
        double h = pow(10.0, -i);
        pts[0][i] = (dlor_repro_point){h, 1e-3 * h + 1e-16 / h, 1e-3 * h + 6e-8 / h};
        pts[1][i] = (dlor_repro_point){h, 1e-2 * h * h + 1e-16 / h, 1e-2 * h * h + 6e-8 / h};
    }
    pts[0][3].err_f64 = NAN;      /* not drawn, and said so */
    pts[0][4].err_f32 = INFINITY;
    pts[1][5].err_f64 = 0;        /* <= 0 on a log axis */

    dlor_repro_curve cv[3];
    memset(cv, 0, sizeof cv);
    const char *con[3] = {"deep", "deep", "wide"}, *basis[3] = {"schur", "random", "svd"};
    const char *alpha[3] = {"1", "0.8", "0"};
    for (int k = 0; k < 3; k++) {
        cv[k].construction = con[k];
        cv[k].basis = basis[k];
        snprintf(cv[k].alpha, sizeof cv[k].alpha, "%s", alpha[k]);
        cv[k].rank = 6;
        cv[k].c = 0.5;
        cv[k].paper_h_min = k == 2 ? 1e-6 : 1e-8;
        cv[k].paper_h_max = k == 2 ? 1e-1 : 1e-2;
        cv[k].grid_min_f64 = cv[k].grid_min_f32 = cv[k].auto_f64 = cv[k].auto_f32 = (dlor_repro_best){NAN, NAN};
    }
    snprintf(cv[0].label, sizeof cv[0].label, "deep, Schur basis, alpha = 1 <b>bold</b>");
    cv[0].npoints = NP;
    cv[0].points = pts[0];
    cv[0].auto_f64 = (dlor_repro_best){1e-6, 2e-9};
    cv[0].auto_f32 = (dlor_repro_best){1e-2, 1.6e-5};
    snprintf(cv[0].note, sizeof cv[0].note, "f64: falls; \xff invalid byte");
    snprintf(cv[1].label, sizeof cv[1].label, "deep, random basis (seed 0), alpha = 0.8");
    cv[1].failed = 1;
    snprintf(cv[1].note, sizeof cv[1].note, "construction failed: W is singular");
    snprintf(cv[2].label, sizeof cv[2].label, "wide, paired beta (+1/-1)");
    cv[2].beta = "paired";
    cv[2].npoints = NP;
    cv[2].points = pts[1];
    cv[2].auto_f64 = (dlor_repro_best){1e-5, 1e-11};

    double x[NX], tgt[NX], dense[NX], ys[NS][NX];
    for (int i = 0; i < NX; i++) {
        x[i] = -2 + 0.5 * i;
        tgt[i] = fabs(fmod(3.7 * x[i] + 100, 2.0) - 1);
        dense[i] = tgt[i] + 0.01;
        for (int k = 0; k < NS; k++) ys[k][i] = dense[i] + pow(10.0, -1 - k) * sin(x[i]);
    }
    ys[0][2] = NAN;
    ys[1][3] = 40;                /* far outside the sawtooth's range: cut off */
    dlor_repro_series se[NS];
    memset(se, 0, sizeof se);
    for (int k = 0; k < NS; k++) {
        snprintf(se[k].label, sizeof se[k].label, "h = 1e-%d", k + 1);
        se[k].h = pow(10.0, -1 - k);
        se[k].y = ys[k];
        se[k].max_abs_to_dense = pow(10.0, -1 - k);
        se[k].max_abs_to_target = 0.1;
    }
    dlor_repro_approx ap;
    memset(&ap, 0, sizeof ap);
    ap.construction = "deep";
    snprintf(ap.variant, sizeof ap.variant, "Schur basis, alpha = 1");
    ap.n = NX;
    ap.x = x;
    ap.target = tgt;
    ap.dense = dense;
    ap.nseries = NS;
    ap.series = se;

    double sigma[3] = {3, 1.5, 1}, lowrank[3] = {2, 0.5, 0}, ident[3] = {1, 1, 1};
    char *notes[2] = {"Layers: <script>alert(1)</script> & friends", "Second note."};
    dlor_repro_report r;
    memset(&r, 0, sizeof r);
    r.sample_dir = "samples/<sawtooth>";
    r.test_samples = 200;
    r.dense_test_mse = 1e-3;
    r.ncurves = 3;
    r.curves = cv;
    r.napprox = 1;
    r.approx = &ap;
    r.ntable1 = 2;
    r.table1[0] = (dlor_repro_table1_row){1, 16, 22, 573, 578, 594, 578, 573, 578, 594};
    r.table1[1] = (dlor_repro_table1_row){2, 8, 23, 622, 595, 611, 595, 622, 594, 611}; /* deep differs */
    r.spectral = (dlor_repro_spectral){"deep.1", 3, 1, 4, 100, 1.0, 0.1, 0.1, 0.1, sigma, lowrank, ident, NULL, NULL};
    r.ntargets = 2;
    r.targets[0] = (dlor_repro_target){"deep f64", 1e-7, 1e-6, 1e-8, 1};
    r.targets[1] = (dlor_repro_target){"wide f32", 1e-3, 5e-4, 2e-3, 0};
    r.nnotes = 2;
    r.notes = notes;

    char tmp[4096];
    const char *path = argc > 1 ? argv[1] : dlt_tmp_path(tmp, sizeof tmp, "test_reproduce_html.html");
    FILE *f = fopen(path, "w+b");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return dlt_finish();
    int nomem = dlor_repro_html(f, &r);
    long len = ftell(f);
    char *page = malloc((size_t)len + 1);
    rewind(f);
    size_t got = page ? fread(page, 1, (size_t)len, f) : 0;
    fclose(f);
    CHECK(!nomem && page && got == (size_t)len, "page written (%ld bytes)", len);
    if (!page || got != (size_t)len) return dlt_finish();
    page[len] = 0;

    CHECK(strncmp(page, "<!DOCTYPE html>\n", 16) == 0 && strstr(page, "</html>") != NULL, "a whole page");
    CHECK(strstr(page, "<script") == NULL && strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends"),
          "notes escaped");
    CHECK(strstr(page, "<b>") == NULL && strstr(page, "&lt;b&gt;bold&lt;/b&gt;"), "curve labels escaped");
    CHECK(strstr(page, "\xff") == NULL && strstr(page, "&#65533; invalid byte"), "invalid UTF-8 replaced");
    CHECK(strstr(page, "samples/&lt;sawtooth&gt;") != NULL, "the sample folder escaped");
    CHECK(coords_finite(page), "every coordinate finite");
    CHECK(strstr(page, "class=\"badge fail\"") != NULL && strstr(page, "1 of 2 targets met"), "the verdict: a missed target");
    CHECK(count(page, "<tr class=\"fail\">") == 2, "two rows marked: the Table 1 mismatch and the missed target (%zu)",
          count(page, "<tr class=\"fail\">"));
    CHECK(strstr(page, ">595 \xE2\x89\xA0<") != NULL && strstr(page, ">differs: deep<") != NULL,
          "the differing count is marked");
    CHECK(strstr(page, "1 of 6 counts differ") != NULL, "the mismatch is counted");
    CHECK(strstr(page, "construction failed") != NULL && strstr(page, "1 of the constructions failed"),
          "the failed construction is listed and its chart says so");
    CHECK(strstr(page, "alpha 1, f64: 1 value not finite") != NULL && strstr(page, "alpha 1, f32: 1 value not finite"),
          "NaN and Inf errors are left out and said so");
    CHECK(strstr(page, "paired beta, f64: 1 value &lt;= 0 cannot be shown on the log axis") != NULL,
          "a zero error on the log axis is said");
    CHECK(strstr(page, "network, h = 1e-2: 1 value outside the axis range, cut off") != NULL,
          "a value outside the sawtooth's range is cut off and said");
    CHECK(count(page, "<svg ") == 3 + 2 + 1, "3 error curves, 2 approximation charts, 1 split (%zu)", count(page, "<svg "));
    CHECK(strstr(page, "largest deviation of identity + low-rank from sigma_j: 0 of sigma_1") != NULL,
          "the split adds up (sigma = identity + low-rank in this report)");
    free(page);
    return dlt_finish();
}
