/* html_internal.h - what the files of the chart library share (html_report.h is
 * what its users see): the palette, text measures, the SVG writer, scales and
 * axes, legends and the figure around a chart. Names carry the dlor__ prefix of
 * internals; none of this is for use outside lib/report. */
#ifndef DLOR_HTML_INTERNAL_H
#define DLOR_HTML_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "html_report.h"

/* ---- colours and sizes ----------------------------------------------------- */

#define DLOR__NPALETTE 10
/* Colours of series by position (html_svg.c). */
extern const char *const dlor__palette[DLOR__NPALETTE];
#define COLOR_PASS "#16a34a"
#define COLOR_FAIL "#dc2626"
#define COLOR_INK "#1f2937"
#define COLOR_MUTED "#6b7280"
#define COLOR_GRID "#e5e7eb"

#define FS_TICK 12.0    /* font sizes (px) of tick labels, legends and categories */
#define FS_LEGEND 12.0
#define FS_CAT 11.0
#define MAX_TICKS 64    /* ticks on one axis at most */
#define LAB 48          /* bytes of a tick or value label */

/* ---- text (html_text.c) ------------------------------------------------------ */

/* Estimated width in pixels of s at font size fs. */
double dlor__text_width(const char *s, double fs);
/* s in at most max characters into buf (n bytes): a dotted name loses the letters
 * of its longest words first, then its middle to an ellipsis. */
void dlor__shorten(const char *s, size_t max, char *buf, size_t n);

/* ---- SVG primitives (html_svg.c) ----------------------------------------------- */

/* Writes markup: %v a coordinate (double, always finite, one decimal), %s a
 * trusted string, %t text to escape, %d an int, %z a size_t. */
void dlor__svg(FILE *f, const char *fmt, ...);

typedef struct dlor__legend_item {
    const char *name;
    const char *color;
    int kind;        /* 0 line (with dash and marker), 1 box, 2 threshold (dashed dark line) */
    int line, marker;
} dlor__legend_item;

/* Rows a legend needs in a width of w pixels, and the legend drawn from (x0, y0). */
int dlor__legend_rows(const dlor__legend_item *it, size_t n, double w);
void dlor__draw_legend(FILE *f, const dlor__legend_item *it, size_t n, double x0, double y0, double w);
/* The stroke-dasharray attribute of a DLOR_HTML_* line style ("" for solid). */
const char *dlor__dash_attr(int line);
/* A DLOR_HTML_MARK_* marker centred at (x, y). */
void dlor__marker(FILE *f, int kind, double x, double y, const char *color);
/* <figure><svg> of w x hgt pixels with a title, and its end with the caption and
 * the notes on what could not be drawn under it. */
void dlor__svg_open(dlor_html *h, double w, double hgt, const char *title);
void dlor__svg_close(dlor_html *h, const char *caption, const char *notes);
/* Appends formatted text to a notes buffer of n bytes. */
void dlor__note(char *buf, size_t n, const char *fmt, ...) DLOR_HTML_PRINTF(3, 4);
/* "" for 1, "s" otherwise. */
const char *dlor__plural(size_t n);

/* ---- scales and axes (html_axes.c) ----------------------------------------------- */

typedef struct dlor__scale {
    double lo, hi;      /* data range */
    int log;
    double p0, p1;      /* pixel range (p0 at lo) */
} dlor__scale;

/* The pixel of v (clamped to +-1e5, p0 for what cannot be placed). */
double dlor__map(const dlor__scale *s, double v);
/* Can v be placed on an axis of this scale? */
int dlor__drawable(double v, int log);
/* The axis range: a's explicit bounds where given, otherwise the data range
 * [dlo, dhi] (have: whether there was any) widened to nice ticks. */
void dlor__axis_range(const dlor_html_axis *a, int log, int have, double dlo, double dhi, int include_zero,
                      double *lo, double *hi);
/* Widest y tick label of a scale over a plot of height plot_h, in pixels. */
double dlor__y_ticks_width(double lo, double hi, int log, double plot_h);
/* The y axis at x0 with grid lines to x1 and its title at label_x; the x axis at
 * y0 with grid lines to y1 and its title at label_y; the plot's left and bottom edges. */
void dlor__draw_y_axis(FILE *f, const dlor__scale *ys, double x0, double x1, const char *label, double label_x);
void dlor__draw_x_axis(FILE *f, const dlor__scale *xs, double y0, double y1, const char *label, double label_y);
void dlor__plot_frame(FILE *f, double x0, double y0, double x1, double y1);

#endif
