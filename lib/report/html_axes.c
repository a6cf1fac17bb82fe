/* html_axes.c - scales and axes: nice tick positions on linear and log axes, the
 * range an axis takes from its data, and the y and x axes drawn with grid lines
 * (html_internal.h). */
#include "html_internal.h"

#include <math.h>
#include <string.h>

static double nice_step(double raw)
{
    if (!(raw > 0) || !isfinite(raw)) return 1;
    double e = floor(log10(raw)), p = pow(10, e), f = raw / p;
    return (f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10) * p;
}

/* Step between labelled decades on a log axis spanning nd decades. */
static int decade_step(double nd, int target)
{
    int k = 1;
    if (target < 2) target = 2;
    while (nd / k > target + 1) k = k == 1 ? 2 : k == 2 ? 5 : k * 2;
    return k;
}

size_t dlor_html_ticks(double lo, double hi, dlor_html_scale scale, int target, double *ticks, size_t max)
{
    size_t n = 0;
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi) || max == 0) return 0;
    if (target < 2) target = 2;
    if (scale == DLOR_HTML_LOG) {
        if (!(lo > 0)) return 0;
        double l0 = log10(lo), l1 = log10(hi);
        if (l1 - l0 < 2 - 1e-9) {
            static const double mant[] = {1, 2, 5};
            for (int e = (int)floor(l0) - 1; e <= (int)ceil(l1) && n < max; e++)
                for (int i = 0; i < 3 && n < max; i++) {
                    double v = mant[i] * pow(10, e);
                    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks[n++] = v;
                }
            return n;
        }
        int e0 = (int)ceil(l0 - 1e-9), e1 = (int)floor(l1 + 1e-9);
        int k = decade_step(e1 - e0, target);
        for (int e = e0; e <= e1 && n < max; e++)
            if (((e % k) + k) % k == 0) ticks[n++] = pow(10, e);
        return n;
    }
    double step = nice_step((hi - lo) / target);
    double t0 = ceil(lo / step - 1e-9);
    for (double i = t0; n < max; i++) {
        double v = i * step;
        if (v > hi + step * 1e-9) break;
        if (fabs(v) < step * 1e-9) v = 0;
        ticks[n++] = v;
    }
    return n;
}

double dlor__map(const dlor__scale *s, double v)
{
    double t;
    if (s->log) t = (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo));
    else t = (v - s->lo) / (s->hi - s->lo);
    double p = s->p0 + t * (s->p1 - s->p0);
    if (!(p == p)) p = s->p0;
    if (p > 1e5) p = 1e5;
    if (p < -1e5) p = -1e5;
    return p;
}

/* Can v be placed on an axis of this scale? */
int dlor__drawable(double v, int log)
{
    return isfinite(v) && (!log || v > 0);
}

/* The axis range: explicit bounds where given, otherwise the data range [dlo, dhi]
 * (have: whether there was any) widened to nice ticks. */
void dlor__axis_range(const dlor_html_axis *a, int log, int have, double dlo, double dhi, int include_zero,
                       double *lo, double *hi)
{
    int fixlo = isfinite(a->min) && (!log || a->min > 0), fixhi = isfinite(a->max) && (!log || a->max > 0);
    if (fixlo) dlo = a->min;
    if (fixhi) dhi = a->max;
    if (!have && !fixlo && !fixhi) {
        dlo = log ? 1 : 0;
        dhi = log ? 10 : 1;
    } else if (!have) {
        if (!fixlo) dlo = log ? dhi / 10 : dhi - 1;
        if (!fixhi) dhi = log ? dlo * 10 : dlo + 1;
    }
    if (log) {
        if (dlo < 1e-300) dlo = 1e-300;
        if (dhi > 1e300) dhi = 1e300;
        if (!(dlo < dhi)) {
            if (fixhi) dlo = dhi / 10;
            else dhi = dlo * 10;
        }
        /* whole decades, strictly around the data: a bar at the smallest value keeps
         * some height, a line at the largest stays off the frame */
        *lo = fixlo ? dlo : pow(10, floor(log10(dlo) - 1e-9));
        *hi = fixhi ? dhi : pow(10, ceil(log10(dhi) + 1e-9));
        if (!(*lo < *hi)) *hi = *lo * 10;
        return;
    }
    if (include_zero && !fixlo && dlo > 0) dlo = 0;
    if (include_zero && !fixhi && dhi < 0) dhi = 0;
    if (dlo < -1e300) dlo = -1e300;
    if (dhi > 1e300) dhi = 1e300;
    if (!(dlo < dhi)) {
        double d = dlo != 0 ? fabs(dlo) * 0.5 : 1;
        if (!fixlo) dlo -= d;
        if (!fixhi) dhi += d;
        if (!(dlo < dhi)) dhi = dlo + 1;
    }
    double step = nice_step((dhi - dlo) / 5);
    *lo = fixlo ? dlo : floor(dlo / step + 1e-9) * step;
    *hi = fixhi ? dhi : ceil(dhi / step - 1e-9) * step;
    if (!(*lo < *hi)) *hi = *lo + step;
}

/* Writes a tick label; "1e-7" becomes 10 with a raised exponent. */
static void tick_text(FILE *f, const char *label)
{
    if (label[0] == '1' && label[1] == 'e') {
        fputs("10<tspan dy=\"-0.45em\" font-size=\"0.78em\">", f);
        if (label[2] == '-') fputs("&#8722;", f);
        dlor_html_escape(f, label[2] == '-' ? label + 3 : label + 2);
        fputs("</tspan>", f);
    } else {
        dlor_html_escape(f, label);
    }
}

/* Width of a tick label, allowing for the raised exponent form. */
static double tick_width(const char *label)
{
    return dlor__text_width(label, FS_TICK) * (label[0] == '1' && label[1] == 'e' ? 0.9 : 1.0);
}

/* Ticks of a scale (about 'target' of them) and their labels. On a log axis of
 * decades, all labels take the 10^k form when any needs it, so one axis never
 * mixes "0.01" with 10^-4. */
static size_t axis_ticks(const dlor__scale *s, int target, double *t, char (*lab)[LAB])
{
    size_t nt = dlor_html_ticks(s->lo, s->hi, s->log ? DLOR_HTML_LOG : DLOR_HTML_LINEAR, target, t, MAX_TICKS);
    double step = nt > 1 && !s->log ? t[1] - t[0] : 0;
    int decades = s->log, sci = 0;
    for (size_t i = 0; i < nt; i++) {
        dlor_html_format_tick(t[i], step, lab[i], LAB);
        if (s->log) {
            double e = log10(t[i]);
            if (fabs(e - floor(e + 0.5)) > 1e-9) decades = 0;
            if (strchr(lab[i], 'e')) sci = 1;
        }
    }
    for (size_t i = 0; decades && sci && i < nt; i++) snprintf(lab[i], LAB, "1e%d", (int)floor(log10(t[i]) + 0.5));
    return nt;
}

static int y_target(const dlor__scale *ys)
{
    return (int)((ys->p0 - ys->p1) / 48) + 1;
}

/* Widest y tick label of a scale over a plot of height plot_h, in pixels. */
double dlor__y_ticks_width(double lo, double hi, int log, double plot_h)
{
    dlor__scale s = {lo, hi, log, plot_h, 0};
    double t[MAX_TICKS], w = 0;
    char lab[MAX_TICKS][LAB];
    size_t nt = axis_ticks(&s, y_target(&s), t, lab);
    for (size_t i = 0; i < nt; i++)
        if (tick_width(lab[i]) > w) w = tick_width(lab[i]);
    return w;
}

/* The y axis from x0 (grid lines to x1): minor ticks, ticks, labels and the
 * rotated axis title at label_x. */
void dlor__draw_y_axis(FILE *f, const dlor__scale *ys, double x0, double x1, const char *label, double label_x)
{
    double t[MAX_TICKS];
    char lab[MAX_TICKS][LAB];
    size_t nt = axis_ticks(ys, y_target(ys), t, lab);
    double span = log10(ys->hi / ys->lo);
    fputs("<g class=\"y-axis\">", f);
    if (ys->log && span <= 6.5 && span >= 2 - 1e-9) {
        /* minor ticks at 2..9 on log axes spanning a few decades */
        for (int e = (int)floor(log10(ys->lo)); e <= (int)ceil(log10(ys->hi)); e++)
            for (int m = 2; m <= 9; m++) {
                double v = m * pow(10, e);
                if (v >= ys->lo && v <= ys->hi)
                    dlor__svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"#9ca3af\"/>", x0 - 3,
                              dlor__map(ys, v), x0, dlor__map(ys, v));
            }
    }
    for (size_t i = 0; i < nt; i++) {
        double y = dlor__map(ys, t[i]);
        dlor__svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"" COLOR_GRID "\"/>", x0, y, x1, y);
        dlor__svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"#6b7280\"/>", x0 - 6, y, x0, y);
        dlor__svg(f, "<text class=\"tick\" text-anchor=\"end\" x=\"%v\" y=\"%v\">", x0 - 9, y + 4);
        tick_text(f, lab[i]);
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
    if (label)
        dlor__svg(f,
            "<text class=\"axis-label rot\" text-anchor=\"middle\" transform=\"translate(%v %v) rotate(-90)\" x=\"0\" "
            "y=\"0\">%t</text>\n",
            label_x, (ys->p0 + ys->p1) / 2, label);
}

/* Ticks, grid lines and title of a numeric x axis. */
void dlor__draw_x_axis(FILE *f, const dlor__scale *xs, double y0, double y1, const char *label, double label_y)
{
    double t[MAX_TICKS];
    char lab[MAX_TICKS][LAB];
    size_t nt = axis_ticks(xs, (int)((xs->p1 - xs->p0) / 80) + 1, t, lab);
    fputs("<g class=\"x-axis\">", f);
    for (size_t i = 0; i < nt; i++) {
        double x = dlor__map(xs, t[i]);
        dlor__svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"" COLOR_GRID "\"/>", x, y1, x, y0);
        dlor__svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"#6b7280\"/>", x, y0, x, y0 + 6);
        dlor__svg(f, "<text class=\"tick\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">", x, y0 + 20);
        tick_text(f, lab[i]);
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
    if (label)
        dlor__svg(f, "<text class=\"axis-label\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%t</text>\n",
                  (xs->p0 + xs->p1) / 2, label_y, label);
}

/* The left and bottom edges of the plot area. */
void dlor__plot_frame(FILE *f, double x0, double y0, double x1, double y1)
{
    dlor__svg(f, "<path d=\"M%v %vV%vH%v\" fill=\"none\" stroke=\"#6b7280\"/>\n", x0, y1, y0, x1);
}
