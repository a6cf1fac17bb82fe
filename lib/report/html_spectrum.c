/* html_spectrum.c - Figure 2c / 3c charts of spectral splits (see html_spectrum.h). */
#include "html_spectrum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BRANCH_SERIES 8

double dlor_spectral_split_residual(const dlor_spectral_split *s)
{
    double mx = 0, top = s->k ? s->sigma[0] : 0;
    for (int64_t j = 0; j < s->k; j++) {
        double d = fabs(s->identity[j] + s->lowrank[j] - s->sigma[j]);
        if (!(d <= mx)) mx = d;
    }
    return top > 0 ? mx / top : mx;
}

void dlor_html_split_plot(dlor_html *h, const char *title, const dlor_spectral_split *s, const char *caption)
{
    char cap[1024], rs[32];
    /* the total wide and light underneath, so the contributions stay visible on top of it */
    size_t k = s->k > 0 ? (size_t)s->k : 0;
    dlor_html_series sp[3] = {
        dlor_html_series_make("sigma_j (total)", NULL, s->sigma, k, DLOR_HTML_SOLID, 0, "#9ca3af", 5),
        dlor_html_series_make("identity contribution", NULL, s->identity, k, DLOR_HTML_SOLID, 0, "#ea580c", 2),
        dlor_html_series_make("low-rank contribution", NULL, s->lowrank, k, DLOR_HTML_DASHED, 0, "#7c3aed", 2)};
    dlor_html_plot p;
    dlor_html_format_num(dlor_spectral_split_residual(s), rs, sizeof rs);
    snprintf(cap, sizeof cap, "%s%s(largest deviation of identity + low-rank from sigma_j: %s of sigma_1).",
             caption ? caption : "", caption ? " " : "", rs);
    memset(&p, 0, sizeof p);
    p.title = title;
    p.x = (dlor_html_axis){"singular value index j", DLOR_HTML_LINEAR, 1, s->k > 1 ? (double)s->k : 2};
    p.y = (dlor_html_axis){"contribution to sigma_j", DLOR_HTML_LINEAR, NAN, NAN};
    p.series = sp;
    p.nseries = 3;
    p.width = DLOR_HTML_SPECTRUM_WIDTH;
    p.caption = cap;
    dlor_html_line_plot(h, &p);
}

void dlor_html_branch_chart(dlor_html *h, const char *title, const dlor_spectral_split *s, const char *caption)
{
    int64_t nb = s->branches, k = s->k;
    size_t ns = nb <= MAX_BRANCH_SERIES ? (size_t)nb : MAX_BRANCH_SERIES;
    double *v = malloc((ns ? ns : 1) * (size_t)(k > 0 ? k : 1) * sizeof *v);
    char(*nm)[48] = malloc((ns ? ns : 1) * sizeof *nm);
    const char **names = malloc((ns ? ns : 1) * sizeof *names);
    if (!v || !nm || !names || nb < 1 || k < 1) {
        if (nb < 1 || k < 1) dlor_html_para(h, "warn", "%s: no branch chart (empty split)", title ? title : "branches");
        else h->nomem = 1;
        free(v);
        free(nm);
        free(names);
        return;
    }
    for (size_t i = 0; i < ns; i++) {
        int rest = i + 1 == ns && (int64_t)ns < nb; /* the last series sums the remaining branches */
        if (rest) snprintf(nm[i], sizeof nm[i], "branches %zu-%lld", i + 1, (long long)nb);
        else snprintf(nm[i], sizeof nm[i], "branch %zu", i + 1);
        names[i] = nm[i];
        for (int64_t j = 0; j < k; j++) {
            double t = 0;
            for (int64_t l = (int64_t)i; l < (rest ? nb : (int64_t)i + 1); l++) t += fabs(s->branch[l * k + j]);
            v[i * (size_t)k + (size_t)j] = t;
        }
    }
    dlor_html_bars b;
    memset(&b, 0, sizeof b);
    b.title = title;
    b.x_label = "singular value index j";
    b.y = (dlor_html_axis){"|contribution to sigma_j|", DLOR_HTML_LINEAR, NAN, NAN};
    b.ncat = (size_t)k;
    b.nseries = ns;
    b.series_names = names;
    b.values = v;
    b.stacked = 1;
    b.threshold = NAN;
    b.width = DLOR_HTML_SPECTRUM_WIDTH;
    b.height = 380;
    b.caption = caption;
    dlor_html_bar_chart(h, &b);
    free(v);
    free(nm);
    free(names);
}
