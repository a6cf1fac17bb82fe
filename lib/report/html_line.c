/* html_line.c - line plots: several series on linear or log axes, with markers
 * and a legend; points that cannot be drawn break the line and are counted in a
 * note (html_report.h). */
#include "html_internal.h"

#include <math.h>
#include <string.h>

dlor_html_series dlor_html_series_make(const char *name, const double *x, const double *y, size_t n, int line,
                                       int marker, const char *color, double width)
{
    dlor_html_series s;
    memset(&s, 0, sizeof s);
    s.name = name;
    s.x = x;
    s.y = y;
    s.n = n;
    s.line = line;
    s.marker = marker;
    s.color = color;
    s.width = width;
    return s;
}

static double series_x(const dlor_html_series *se, size_t i)
{
    return se->x ? se->x[i] : (double)(i + 1);
}

static int point_drawable(const dlor_html_series *se, size_t i, int xlog, int ylog)
{
    return dlor__drawable(series_x(se, i), xlog) && dlor__drawable(se->y[i], ylog);
}

/* One series: a path broken where points cannot be drawn, markers, and the notes. */
static void draw_series(FILE *f, const dlor_html_series *se, const char *col, const dlor__scale *xs,
                        const dlor__scale *ys, char *notes, size_t nnotes)
{
    size_t nonfinite = 0, nonpos = 0, outside = 0;
    fputs("<g class=\"series\">", f);
    if (se->line != DLOR_HTML_NOLINE) {
        int run = 0, any = 0;
        fputs("<path d=\"", f);
        for (size_t i = 0; i < se->n; i++) {
            if (!point_drawable(se, i, xs->log, ys->log)) {
                run = 0;
                continue;
            }
            dlor__svg(f, run ? "L%v %v" : "M%v %v", dlor__map(xs, series_x(se, i)), dlor__map(ys, se->y[i]));
            run = any = 1;
        }
        if (!any) fputs("M0 0", f);
        dlor__svg(f,
                  "\" fill=\"none\" stroke=\"%s\" stroke-width=\"%v\" stroke-linejoin=\"round\"%s>"
                  "<title>%t</title></path>",
                  col, se->width > 0 && se->width < 20 ? se->width : 2.0, dlor__dash_attr(se->line),
                  se->name ? se->name : "");
    }
    for (size_t i = 0; i < se->n; i++) {
        double x = series_x(se, i), y = se->y[i];
        if (!isfinite(x) || !isfinite(y)) {
            nonfinite++;
            continue;
        }
        if ((xs->log && x <= 0) || (ys->log && y <= 0)) {
            nonpos++;
            continue;
        }
        double px = dlor__map(xs, x), py = dlor__map(ys, y);
        if (px < xs->p0 - 0.5 || px > xs->p1 + 0.5 || py > ys->p0 + 0.5 || py < ys->p1 - 0.5) outside++;
        /* a point with no drawable neighbour would be invisible as a line: give it a dot */
        int isolated = se->line == DLOR_HTML_NOLINE ||
                       (!(i > 0 && point_drawable(se, i - 1, xs->log, ys->log)) &&
                        !(i + 1 < se->n && point_drawable(se, i + 1, xs->log, ys->log)));
        if (se->marker != DLOR_HTML_MARK_NONE) dlor__marker(f, se->marker, px, py, col);
        else if (isolated) dlor__marker(f, DLOR_HTML_MARK_CIRCLE, px, py, col);
    }
    fputs("</g>\n", f);
    const char *nm = se->name ? se->name : "series";
    if (nonfinite)
        dlor__note(notes, nnotes, "%s: %zu value%s not finite (NaN or infinite), not drawn. ", nm, nonfinite,
             dlor__plural(nonfinite));
    if (nonpos)
        dlor__note(notes, nnotes, "%s: %zu value%s <= 0 cannot be shown on the log axis. ", nm, nonpos,
                   dlor__plural(nonpos));
    if (outside)
        dlor__note(notes, nnotes, "%s: %zu value%s outside the axis range, cut off. ", nm, outside,
                   dlor__plural(outside));
}

void dlor_html_line_plot(dlor_html *h, const dlor_html_plot *p)
{
    FILE *f = h->f;
    double W = p->width > 0 ? p->width : 620, H = p->height > 0 ? p->height : 380;
    int xlog = p->x.scale == DLOR_HTML_LOG, ylog = p->y.scale == DLOR_HTML_LOG;
    double xlo = HUGE_VAL, xhi = -HUGE_VAL, ylo = HUGE_VAL, yhi = -HUGE_VAL;
    int have = 0;
    char notes[2048] = "";
    dlor__legend_item items[32];
    size_t nitems = 0;

    /* ranges over the points that can be drawn; the legend */
    for (size_t s = 0; s < p->nseries; s++) {
        const dlor_html_series *se = &p->series[s];
        for (size_t i = 0; se->y && i < se->n; i++) {
            double x = series_x(se, i), y = se->y[i];
            if (!dlor__drawable(x, xlog) || !dlor__drawable(y, ylog)) continue;
            have = 1;
            if (x < xlo) xlo = x;
            if (x > xhi) xhi = x;
            if (y < ylo) ylo = y;
            if (y > yhi) yhi = y;
        }
        if (nitems < sizeof items / sizeof items[0] && se->name)
            items[nitems++] = (dlor__legend_item){se->name, se->color ? se->color : dlor__palette[s % DLOR__NPALETTE],
                                                  0, se->line, se->marker};
    }
    dlor__scale xs, ys;
    dlor__axis_range(&p->x, xlog, have, xlo, xhi, 0, &xs.lo, &xs.hi);
    dlor__axis_range(&p->y, ylog, have, ylo, yhi, !ylog, &ys.lo, &ys.hi);
    xs.log = xlog;
    ys.log = ylog;

    /* layout: title, legend rows, plot area, x ticks and title */
    double bottom = 50, right = 18;
    int lrows = dlor__legend_rows(items, nitems, W - 24);
    double top = 30 + lrows * 18 + (lrows ? 8 : 0);
    double left = 30 + 10 + dlor__y_ticks_width(ys.lo, ys.hi, ylog, H - top - bottom);
    if (left < 58) left = 58;
    xs.p0 = left;
    xs.p1 = W - right;
    ys.p0 = H - bottom;
    ys.p1 = top;

    unsigned id = h->next_id++;
    dlor__svg_open(h, W, H, p->title);
    dlor__draw_legend(f, items, nitems, 12, 42, W - 24);
    dlor__svg(f,
              "<defs><clipPath id=\"dlor-clip-%d\">"
              "<rect x=\"%v\" y=\"%v\" width=\"%v\" height=\"%v\"/></clipPath></defs>\n",
              (int)id, xs.p0 - 4, ys.p1 - 4, xs.p1 - xs.p0 + 8, ys.p0 - ys.p1 + 8);
    dlor__draw_y_axis(f, &ys, xs.p0, xs.p1, p->y.label, 16);
    dlor__draw_x_axis(f, &xs, ys.p0, ys.p1, p->x.label, H - 10);
    dlor__plot_frame(f, xs.p0, ys.p0, xs.p1, ys.p1);
    dlor__svg(f, "<g clip-path=\"url(#dlor-clip-%d)\">\n", (int)id);
    for (size_t s = 0; s < p->nseries; s++)
        if (p->series[s].y)
            draw_series(f, &p->series[s], p->series[s].color ? p->series[s].color : dlor__palette[s % DLOR__NPALETTE],
                        &xs, &ys, notes, sizeof notes);
    fputs("</g>\n", f);
    if (!have)
        dlor__svg(f, "<text class=\"missing\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">no data to draw</text>\n",
            (xs.p0 + xs.p1) / 2, (ys.p0 + ys.p1) / 2);
    dlor__svg_close(h, p->caption, notes);
}
