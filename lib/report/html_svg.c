/* html_svg.c - SVG primitives of the charts: the markup writer that keeps every
 * coordinate finite, the palette, markers, legends, the figure around a chart and the
 * notes under it (html_internal.h). */
#include "html_internal.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

const char *const dlor__palette[DLOR__NPALETTE] = {"#2563eb", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04",
                                                   "#db2777", "#4b5563", "#65a30d", "#92400e", "#0d9488"};

/* Prints a coordinate: always a finite number with one decimal. */
static void num(FILE *f, double v)
{
    if (!(v == v)) v = 0;
    if (v > 1e6) v = 1e6;
    if (v < -1e6) v = -1e6;
    double r = floor(v * 10 + 0.5) / 10;
    if (r == 0) r = 0; /* no "-0.0" */
    fprintf(f, "%.1f", r);
}

/* Writes SVG markup: fmt is copied with %v a coordinate (a double, written by
 * num(): finite, one decimal), %s a trusted string (colours, classes, constant
 * attributes), %t text to escape, %d an int, %z a size_t, %% a percent sign.
 * Every number in an attribute goes through %v, so no NaN or Inf can appear. */
void dlor__svg(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%' || !p[1]) {
            fputc(*p, f);
            continue;
        }
        switch (*++p) {
        case 'v': num(f, va_arg(ap, double)); break;
        case 's': fputs(va_arg(ap, const char *), f); break;
        case 't': dlor_html_escape(f, va_arg(ap, const char *)); break;
        case 'd': fprintf(f, "%d", va_arg(ap, int)); break;
        case 'z': fprintf(f, "%zu", va_arg(ap, size_t)); break;
        default: fputc(*p, f); break;
        }
    }
    va_end(ap);
}

static double legend_item_width(const dlor__legend_item *it)
{
    return 30 + dlor__text_width(it->name, FS_LEGEND) + 18;
}

/* Rows the legend needs in a width of w pixels. */
int dlor__legend_rows(const dlor__legend_item *it, size_t n, double w)
{
    int rows = n ? 1 : 0;
    double x = 0;
    for (size_t i = 0; i < n; i++) {
        double iw = legend_item_width(&it[i]);
        if (x > 0 && x + iw > w) {
            rows++;
            x = 0;
        }
        x += iw;
    }
    return rows;
}

const char *dlor__dash_attr(int line)
{
    if (line == DLOR_HTML_DASHED) return " stroke-dasharray=\"7 4\"";
    return line == DLOR_HTML_DOTTED ? " stroke-dasharray=\"2 3\"" : "";
}

void dlor__marker(FILE *f, int kind, double x, double y, const char *color)
{
    if (kind == DLOR_HTML_MARK_CIRCLE) dlor__svg(f, "<circle cx=\"%v\" cy=\"%v\" r=\"3\" fill=\"%s\"/>", x, y, color);
    else if (kind == DLOR_HTML_MARK_SQUARE)
        dlor__svg(f, "<rect x=\"%v\" y=\"%v\" width=\"6\" height=\"6\" fill=\"%s\"/>", x - 3, y - 3, color);
}

/* The legend in rows of width w from (x0, y0), each row 18 pixels below the last. */
void dlor__draw_legend(FILE *f, const dlor__legend_item *it, size_t n, double x0, double y0, double w)
{
    double x = x0, y = y0;
    if (!n) return;
    fputs("<g class=\"legend-box\">", f);
    for (size_t i = 0; i < n; i++) {
        double iw = legend_item_width(&it[i]);
        if (x > x0 && x + iw > x0 + w) {
            x = x0;
            y += 18;
        }
        if (it[i].kind == 1) {
            dlor__svg(f, "<rect x=\"%v\" y=\"%v\" width=\"16\" height=\"10\" fill=\"%s\"/>", x + 6, y - 9, it[i].color);
        } else {
            const char *col = it[i].kind == 2 ? COLOR_INK : it[i].color;
            if (it[i].line != DLOR_HTML_NOLINE || it[i].kind == 2)
                dlor__svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"%s\" stroke-width=\"2\"%s/>", x,
                          y - 4, x + 26, y - 4, col, dlor__dash_attr(it[i].kind == 2 ? DLOR_HTML_DASHED : it[i].line));
            dlor__marker(f, it[i].marker, x + 13, y - 4, col);
        }
        dlor__svg(f, "<text class=\"legend\" x=\"%v\" y=\"%v\">%t</text>", x + 30, y, it[i].name);
        x += iw;
    }
    fputs("</g>\n", f);
}

/* Opens <figure><svg> of w x hgt pixels with a title. */
void dlor__svg_open(dlor_html *h, double w, double hgt, const char *title)
{
    FILE *f = h->f;
    dlor__svg(f, "<figure class=\"chart\" style=\"width:%dpx\">\n", (int)w);
    dlor__svg(f,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"",
              (int)w, (int)hgt, (int)w, (int)hgt);
    if (title) dlor__svg(f, " aria-label=\"%t\"", title);
    fputs(">\n", f);
    if (title) dlor__svg(f, "<text class=\"title\" x=\"12\" y=\"20\">%t</text>\n", title);
}

/* Closes the svg; the caption and the notes on what could not be drawn go under it. */
void dlor__svg_close(dlor_html *h, const char *caption, const char *notes)
{
    int c = caption && *caption, n = notes && *notes;
    fputs("</svg>\n", h->f);
    if (c || n)
        dlor__svg(h->f, "<figcaption>%t%s%t</figcaption>\n", c ? caption : "", c && n ? " " : "", n ? notes : "");
    fputs("</figure>\n", h->f);
}

void dlor__note(char *buf, size_t n, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    if (len + 1 >= n) return;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

const char *dlor__plural(size_t n)
{
    return n == 1 ? "" : "s";
}
