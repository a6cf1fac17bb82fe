/* html_bars.c - bar charts: grouped or stacked series over named or numbered
 * categories, per-category thresholds coloured pass / fail, long category lists
 * wrapped into several charts (html_report.h). */
#include "html_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CAT_MAX_CHARS 24

static double bar_value(const dlor_html_bars *b, size_t s, size_t c)
{
    return b->values[s * b->ncat + c];
}

typedef struct bar_counts {
    size_t nan, zero, neg, inf, thr_out;
} bar_counts;

/* Legend of a bar chart over categories [c0, c1): series 0 by its thresholds. */
static size_t bar_legend(const dlor_html_bars *b, size_t c0, size_t c1, dlor__legend_item *items, size_t max,
                         char (*lab)[160])
{
    size_t ns = b->nseries ? b->nseries : 1, n = 0;
    int thr = b->thresholds != NULL, pass = 0, fail = 0, none = 0, marks = isfinite(b->threshold);
    const char *tn = b->threshold_name ? b->threshold_name : "threshold";
    for (size_t c = c0; c < c1 && thr; c++) {
        double t = b->thresholds[c], v = bar_value(b, 0, c);
        if (!isfinite(t)) none = 1;
        else if (v <= t) pass = marks = 1;
        else fail = marks = 1;
    }
    for (size_t s = 0; s < ns && n + 4 < max; s++) {
        const char *nm = b->series_names ? b->series_names[s] : NULL;
        if (s == 0 && thr) {
            const char *base = nm && ns > 1 ? nm : "";
            const char *sep = *base ? ": " : "";
            snprintf(lab[0], 160, "%s%swithin %s", base, sep, tn);
            snprintf(lab[1], 160, "%s%sexceeds %s", base, sep, tn);
            snprintf(lab[2], 160, "%s%sno %s", base, sep, tn);
            if (pass) items[n++] = (dlor__legend_item){lab[0], COLOR_PASS, 1, 0, 0};
            if (fail) items[n++] = (dlor__legend_item){lab[1], COLOR_FAIL, 1, 0, 0};
            if (none) items[n++] = (dlor__legend_item){lab[2], dlor__palette[0], 1, 0, 0};
        } else if (nm) {
            items[n++] = (dlor__legend_item){nm, dlor__palette[s % DLOR__NPALETTE], 1, 0, 0};
        }
    }
    if (marks && n < max) items[n++] = (dlor__legend_item){tn, COLOR_INK, 2, 0, 0};
    return n;
}

/* One bar (or stacked segment) of value v from pixel ya to yb. */
static void bar_rect(FILE *f, const dlor_html_bars *b, size_t s, size_t c, double v, double x, double w, double ya,
                     double yb, const dlor__scale *ys, const char *cls, const char *col)
{
    double yt = ya < yb ? ya : yb, hh = fabs(ya - yb);
    char vb[LAB], tb[LAB];
    if (yt < ys->p1) {
        hh -= ys->p1 - yt;
        yt = ys->p1;
    }
    if (yt + hh > ys->p0) hh = ys->p0 - yt;
    if (hh < 0) hh = 0;
    dlor_html_format_num(v, vb, sizeof vb);
    dlor__svg(f, "<rect class=\"%s\" x=\"%v\" y=\"%v\" width=\"%v\" height=\"%v\" fill=\"%s\"><title>", cls, x, yt, w,
              hh, col);
    if (b->categories) dlor__svg(f, "%t", b->categories[c] ? b->categories[c] : "");
    else dlor__svg(f, "%z", c + 1);
    if (b->series_names) dlor__svg(f, ", %t", b->series_names[s]);
    dlor__svg(f, ": %s", vb);
    if (s == 0 && b->thresholds && isfinite(b->thresholds[c])) {
        dlor_html_format_num(b->thresholds[c], tb, sizeof tb);
        dlor__svg(f, " (%t %s)", b->threshold_name ? b->threshold_name : "threshold", tb);
    }
    fputs("</title></rect>", f);
    if (b->value_labels && !b->stacked && dlor__text_width(vb, 10) <= w + 2)
        dlor__svg(f, "<text class=\"value\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%t</text>", x + w / 2,
            (v >= 0 ? yt : yt + hh + 12) - 3, vb);
}

/* The bars of one category, grouped or stacked. */
static void bar_group(FILE *f, const dlor_html_bars *b, size_t c, double gx, double group, const dlor__scale *ys,
                      bar_counts *n)
{
    size_t ns = b->nseries ? b->nseries : 1;
    double bw = b->stacked ? group : group / (double)ns, acc = 0;
    double gap = ns > 1 && !b->stacked && bw > 1 ? 1 : 0;
    for (size_t s = 0; s < ns; s++) {
        double v = bar_value(b, s, c), bx = b->stacked ? gx : gx + bw * (double)s;
        const char *col = dlor__palette[s % DLOR__NPALETTE], *cls = "bar";
        if (s == 0 && b->thresholds) {
            double t = b->thresholds[c];
            if (!isfinite(t)) cls = "bar no-thr";
            else if (v <= t) col = COLOR_PASS, cls = "bar pass";
            else col = COLOR_FAIL, cls = "bar fail";
        }
        if (b->stacked) {
            if (!(isfinite(v) && v >= 0)) {
                if (isnan(v)) n->nan++;
                else if (isinf(v)) n->inf++;
                else n->neg++;
            } else if (v > 0) {
                double ya = dlor__map(ys, acc);
                acc += v;
                bar_rect(f, b, s, c, v, bx, bw, ya, dlor__map(ys, acc), ys, cls, col);
            }
        } else if (!dlor__drawable(v, ys->log)) {
            /* say what cannot be drawn at the foot of the bar (a missing value of a
             * secondary series only in the note) */
            const char *what = isnan(v) ? "n/a" : v == 0 ? "0" : isinf(v) ? (v > 0 ? "inf" : "-inf") : "&lt;0";
            if (isnan(v)) n->nan++;
            else if (v == 0) n->zero++;
            else if (isinf(v)) n->inf++;
            else n->neg++;
            if (bw >= 10 && (s == 0 || !isnan(v)))
                dlor__svg(f, "<text class=\"missing\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%s</text>", bx + bw / 2,
                    ys->p0 - 4, what);
        } else {
            double base = ys->log ? ys->lo : ys->lo > 0 ? ys->lo : ys->hi < 0 ? ys->hi : 0;
            bar_rect(f, b, s, c, v, bx, bw - gap, dlor__map(ys, base),
                     dlor__map(ys, ys->log && v < ys->lo ? ys->lo : v), ys, cls, col);
        }
    }
}

/* Labels of the categories [c0, c1) under the plot: names (horizontal or rotated
 * and shortened, the full name as a tooltip) or indices at even steps. */
static void category_labels(FILE *f, const dlor_html_bars *b, size_t c0, size_t c1, double x0, double x1, double slot,
                            double y0, int rotate)
{
    char lab[CAT_MAX_CHARS * 4 + 8];
    fputs("<g class=\"categories\">", f);
    if (b->categories) {
        for (size_t c = c0; c < c1; c++) {
            double cx = x0 + slot * ((double)(c - c0) + 0.5);
            const char *name = b->categories[c] ? b->categories[c] : "";
            dlor__shorten(name, CAT_MAX_CHARS, lab, sizeof lab);
            if (rotate)
                dlor__svg(f,
                    "<text class=\"tick rot\" text-anchor=\"end\" transform=\"translate(%v %v) rotate(-35)\" x=\"0\" "
                    "y=\"0\">%t<title>%t</title></text>",
                    cx + 4, y0 + 14, lab, name);
            else
                dlor__svg(f, "<text class=\"tick\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%t<title>%t</title></text>",
                          cx, y0 + 18, lab, name);
        }
    } else {
        size_t nc = c1 - c0;
        double t[MAX_TICKS];
        size_t nt = dlor_html_ticks(1, (double)(nc > 1 ? nc : 2), DLOR_HTML_LINEAR, (int)((x1 - x0) / 60) + 1, t,
                                    MAX_TICKS);
        double step = nt > 1 && t[1] - t[0] >= 1 ? t[1] - t[0] : 1;
        for (size_t i = 0; i < nt; i++) {
            if (t[i] < 1 || t[i] > (double)nc || t[i] != floor(t[i])) continue;
            double cx = x0 + slot * (t[i] - 0.5);
            dlor_html_format_tick(t[i], step, lab, sizeof lab);
            dlor__svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"#6b7280\"/>", cx, y0, cx, y0 + 5);
            dlor__svg(f, "<text class=\"tick\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%t</text>", cx, y0 + 19, lab);
        }
    }
    fputs("</g>\n", f);
}

/* Draws categories [c0, c1) of b as one chart with the shared y range [ylo, yhi]. */
static void bar_chunk(dlor_html *h, const dlor_html_bars *b, size_t c0, size_t c1, double ylo, double yhi, int ylog,
                      const char *title, char *notes, size_t nnotes)
{
    FILE *f = h->f;
    size_t nc = c1 - c0, ns = b->nseries ? b->nseries : 1;
    double W = b->width > 0 ? b->width : 1232, H = b->height > 0 ? b->height : 400;
    dlor__legend_item items[40];
    char lab3[3][160], lab[CAT_MAX_CHARS * 4 + 8];
    size_t nitems = bar_legend(b, c0, c1, items, sizeof items / sizeof items[0], lab3);
    bar_counts n = {0, 0, 0, 0, 0};

    /* layout; category labels horizontal when they fit their slot, otherwise rotated */
    double right = 18;
    int lrows = dlor__legend_rows(items, nitems, W - 24);
    double top = 30 + lrows * 18 + (lrows ? 8 : 0) + (b->value_labels ? 12 : 0);
    double left = 30 + 10 + dlor__y_ticks_width(ylo, yhi, ylog, H - top - 60);
    if (left < 58) left = 58;
    double slot = (W - right - left) / (double)(nc ? nc : 1), maxw = 0;
    for (size_t c = c0; c < c1 && b->categories; c++) {
        dlor__shorten(b->categories[c] ? b->categories[c] : "", CAT_MAX_CHARS, lab, sizeof lab);
        if (dlor__text_width(lab, FS_CAT) > maxw) maxw = dlor__text_width(lab, FS_CAT);
    }
    int rotate = b->categories && maxw > slot - 6;
    const double ang = 35 * 3.14159265358979 / 180;
    double bottom = 48;
    if (rotate) {
        bottom = 30 + maxw * sin(ang) + FS_CAT + 12;
        double need = maxw * cos(ang) - slot / 2 + 8; /* the first label reaches left of its bar */
        if (need > left) {
            left = need;
            slot = (W - right - left) / (double)(nc ? nc : 1);
        }
    }
    dlor__scale ys = {ylo, yhi, ylog, H - bottom, top};
    double x0 = left, x1 = W - right;
    double group = slot * (ns > 1 && !b->stacked ? 0.84 : 0.7);

    dlor__svg_open(h, W, H, title);
    dlor__draw_legend(f, items, nitems, 12, 42, W - 24);
    dlor__draw_y_axis(f, &ys, x0, x1, b->y.label, 16);
    fputs("<g class=\"bars\">\n", f);
    for (size_t c = c0; c < c1; c++) {
        bar_group(f, b, c, x0 + slot * (double)(c - c0) + (slot - group) / 2, group, &ys, &n);
        fputs("\n", f);
    }
    fputs("</g>\n<g class=\"thresholds\">", f);
    for (size_t c = c0; c < c1 && b->thresholds; c++) {
        double t = b->thresholds[c], gx = x0 + slot * (double)(c - c0) + (slot - group) / 2;
        if (!isfinite(t)) continue;
        if (!dlor__drawable(t, ylog) || t < ys.lo || t > ys.hi) {
            n.thr_out++;
            continue;
        }
        dlor__svg(f,
            "<line class=\"thr\" x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"" COLOR_INK
            "\" stroke-width=\"2\" stroke-dasharray=\"7 4\"/>",
            gx - slot * 0.06, dlor__map(&ys, t), gx + group + slot * 0.06, dlor__map(&ys, t));
    }
    if (isfinite(b->threshold)) {
        if (dlor__drawable(b->threshold, ylog) && b->threshold >= ys.lo && b->threshold <= ys.hi)
            dlor__svg(f,
                "<line class=\"thr global\" x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"" COLOR_INK
                "\" stroke-width=\"1.5\" stroke-dasharray=\"7 4\"/>",
                x0, dlor__map(&ys, b->threshold), x1, dlor__map(&ys, b->threshold));
        else
            n.thr_out++;
    }
    fputs("</g>\n", f);
    category_labels(f, b, c0, c1, x0, x1, slot, ys.p0, rotate);
    dlor__plot_frame(f, x0, ys.p0, x1, ys.p1);
    if (b->x_label)
        dlor__svg(f, "<text class=\"axis-label\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%t</text>\n", (x0 + x1) / 2,
                  H - 10, b->x_label);
    if (n.zero)
        dlor__note(notes, nnotes, "%zu value%s of exactly 0, written as 0 (no place on a log axis). ", n.zero,
             dlor__plural(n.zero));
    if (n.neg)
        dlor__note(notes, nnotes, "%zu negative value%s %s. ", n.neg, dlor__plural(n.neg),
             b->stacked ? "left out of the stack" : "written as <0 (no place on a log axis)");
    if (n.inf) dlor__note(notes, nnotes, "%zu infinite value%s, not drawn. ", n.inf, dlor__plural(n.inf));
    if (n.nan) dlor__note(notes, nnotes, "%zu value%s not available (n/a). ", n.nan, dlor__plural(n.nan));
    if (n.thr_out)
        dlor__note(notes, nnotes, "%zu %s mark%s outside the axis range, not drawn. ", n.thr_out,
             b->threshold_name ? b->threshold_name : "threshold", dlor__plural(n.thr_out));
}

void dlor_html_bar_chart(dlor_html *h, const dlor_html_bars *b)
{
    size_t ns = b->nseries ? b->nseries : 1;
    int ylog = b->y.scale == DLOR_HTML_LOG && !b->stacked;
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    int have = 0;
    if (!b->values || b->ncat == 0) {
        dlor_html_para(h, "note", "%s: nothing to draw.", b->title ? b->title : "chart");
        return;
    }
    for (size_t c = 0; c < b->ncat; c++) {
        double acc = 0;
        for (size_t s = 0; s < ns; s++) {
            double v = bar_value(b, s, c);
            if (b->stacked) {
                if (isfinite(v) && v > 0) acc += v;
                continue;
            }
            if (!dlor__drawable(v, ylog)) continue;
            have = 1;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        if (b->stacked && acc > 0) {
            have = 1;
            if (acc > hi) hi = acc;
            if (0 < lo) lo = 0;
        }
        if (b->thresholds && dlor__drawable(b->thresholds[c], ylog)) {
            have = 1;
            if (b->thresholds[c] < lo) lo = b->thresholds[c];
            if (b->thresholds[c] > hi) hi = b->thresholds[c];
        }
    }
    if (dlor__drawable(b->threshold, ylog)) {
        have = 1;
        if (b->threshold < lo) lo = b->threshold;
        if (b->threshold > hi) hi = b->threshold;
    }
    double ylo, yhi;
    dlor__axis_range(&b->y, ylog, have, lo, hi, !ylog, &ylo, &yhi);

    /* how many named categories fit legibly in one chart */
    double W = b->width > 0 ? b->width : 1232;
    size_t fit = (size_t)((W - 120) / (ns * 14.0 + 8));
    if (fit < 4) fit = 4;
    size_t per = b->categories ? (b->per_chart && b->per_chart < fit ? b->per_chart : fit) : b->ncat;
    if (b->categories && !b->per_chart && per > 40) per = 40;
    size_t nchunks = (b->ncat + per - 1) / per;
    /* spread the categories evenly over the charts */
    per = (b->ncat + nchunks - 1) / nchunks;
    char notes[1024] = "";
    for (size_t k = 0; k < nchunks; k++) {
        size_t c0 = k * per, c1 = c0 + per < b->ncat ? c0 + per : b->ncat;
        char title[512];
        if (nchunks > 1)
            snprintf(title, sizeof title, "%s (%zu-%zu of %zu)", b->title ? b->title : "", c0 + 1, c1, b->ncat);
        else
            snprintf(title, sizeof title, "%s", b->title ? b->title : "");
        notes[0] = 0;
        bar_chunk(h, b, c0, c1, ylo, yhi, ylog, title, notes, sizeof notes);
        dlor__svg_close(h, k + 1 == nchunks ? b->caption : NULL, notes);
    }
}
