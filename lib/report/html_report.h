/* html_report.h - self-contained HTML pages with inline SVG charts.
 *
 * A page is written straight to a FILE* as it is built: no JavaScript, no
 * external resources (fonts, styles, images are all inline or system ones),
 * so the file can be mailed, archived or opened offline. The markup is also
 * well-formed XML (every element closed, attributes quoted, only numeric
 * character references), so tests can parse it with any XML parser.
 *
 *     dlor_html h;
 *     dlor_html_begin(&h, fp, "dlor verify: a.safetensors -> a.dlor");
 *     dlor_html_heading(&h, 2, "Per-layer error");
 *     dlor_html_bar_chart(&h, &bars);
 *     dlor_html_line_plot(&h, &plot);
 *     dlor_html_end(&h, "dlor 0.1.0");
 *     if (h.nomem) ... the page is incomplete: report an error, drop the file
 *
 * An error-versus-h sweep on log-log axes, with markers:
 *
 *     dlor_html_series s[2] = {
 *         {"deep", hs, err_deep, n, DLOR_HTML_SOLID, DLOR_HTML_MARK_CIRCLE, NULL, 0},
 *         {"wide", hs, err_wide, n, DLOR_HTML_DASHED, DLOR_HTML_MARK_SQUARE, NULL, 0}};
 *     dlor_html_plot p = {"Error versus h", {"h", DLOR_HTML_LOG, NAN, NAN},
 *                         {"max error", DLOR_HTML_LOG, NAN, NAN}, s, 2, 0, 0, NULL};
 *     dlor_html_line_plot(&h, &p);
 *
 * Spectra split into identity / low-rank / per-branch parts: html_spectrum.h.
 *
 * Text arguments are escaped (and invalid UTF-8 replaced), so layer names and
 * file names from untrusted files are safe to pass. Charts never print a
 * non-finite coordinate: values that cannot be drawn (NaN, +-Inf, and values
 * <= 0 on a log axis) are skipped, a line is broken there, and a note under
 * the chart says how many were left out and why.
 *
 * The files: html_page.c (the page, its stylesheet, tables), html_line.c and
 * html_bars.c (the charts), html_axes.c (ticks, scales, axes), html_svg.c (the
 * SVG writer, legends, the figure around a chart), html_text.c (escaping, text
 * widths, numbers); html_internal.h is what they share.
 */
#ifndef DLOR_HTML_REPORT_H
#define DLOR_HTML_REPORT_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DLOR_HTML_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DLOR_HTML_PRINTF(a, b)
#endif

typedef struct dlor_html {
    FILE *f;
    unsigned next_id;   /* unique ids inside the page (clip paths) */
    int in_row;         /* inside dlor_html_row_begin / _end */
    size_t table_cols;  /* the open table's columns and their alignment */
    char table_align[64];
    int nomem;          /* an allocation failed: the page is incomplete, and the
                           caller should report an error instead of keeping it */
} dlor_html;

/* ---- page structure ------------------------------------------------------ */

/* Writes the document head (title, inline stylesheet) and an <h1> title. */
void dlor_html_begin(dlor_html *h, FILE *f, const char *title);
/* Closes the page; footer (may be NULL) is a small line at the bottom. */
void dlor_html_end(dlor_html *h, const char *footer);

/* <h2>..<h4> (level clamped to 2..4); text is printf-formatted, then escaped. */
void dlor_html_heading(dlor_html *h, int level, const char *fmt, ...) DLOR_HTML_PRINTF(3, 4);
/* A paragraph. cls: NULL, "note" (muted, small) or "warn" (highlighted). */
void dlor_html_para(dlor_html *h, const char *cls, const char *fmt, ...) DLOR_HTML_PRINTF(3, 4);
/* A large badge followed by a line of text: pass 1 PASS, 0 FAIL, 2 UNCHECKED (nothing held
 * the result to a tolerance). */
void dlor_html_verdict(dlor_html *h, int pass, const char *fmt, ...) DLOR_HTML_PRINTF(3, 4);

/* Charts placed between row_begin and row_end sit side by side (wrapping on
 * narrow screens); outside a row each chart takes its own line. */
void dlor_html_row_begin(dlor_html *h);
void dlor_html_row_end(dlor_html *h);
/* A collapsible section (<details>), open or closed at first. */
void dlor_html_details_begin(dlor_html *h, int open, const char *fmt, ...) DLOR_HTML_PRINTF(3, 4);
void dlor_html_details_end(dlor_html *h);

/* ---- tables ---------------------------------------------------------------- */

/* A two-column key / value table. */
void dlor_html_kv_begin(dlor_html *h, const char *caption);
void dlor_html_kv(dlor_html *h, const char *key, const char *fmt, ...) DLOR_HTML_PRINTF(3, 4);
void dlor_html_kv_end(dlor_html *h);

/* A table of ncols columns. align: one letter per column, 'l' or 'r' (NULL:
 * all left). A row's class (NULL, "fail", "muted") colours the whole row.
 * The first column holds names: it wraps after '.', '_' and '/'. */
void dlor_html_table_begin(dlor_html *h, const char *caption, size_t ncols, const char *const *headers,
                           const char *align);
void dlor_html_table_row(dlor_html *h, const char *const *cells, const char *cls);
void dlor_html_table_end(dlor_html *h);

/* ---- charts ---------------------------------------------------------------- */

typedef enum dlor_html_scale {
    DLOR_HTML_LINEAR = 0,
    DLOR_HTML_LOG = 1      /* base 10, ticks on decades (1, 2, 5 inside a short range) */
} dlor_html_scale;

typedef struct dlor_html_axis {
    const char *label;     /* axis title, e.g. "relative Frobenius error" */
    dlor_html_scale scale;
    double min, max;       /* NaN (or non-finite): from the data, widened to nice ticks */
} dlor_html_axis;

/* Line styles and markers of a plotted series. */
enum { DLOR_HTML_SOLID = 0, DLOR_HTML_DASHED = 1, DLOR_HTML_DOTTED = 2, DLOR_HTML_NOLINE = 3 };
enum { DLOR_HTML_MARK_NONE = 0, DLOR_HTML_MARK_CIRCLE = 1, DLOR_HTML_MARK_SQUARE = 2 };

typedef struct dlor_html_series {
    const char *name;      /* legend text */
    const double *x;       /* NULL: 1, 2, ..., n */
    const double *y;
    size_t n;
    int line;              /* DLOR_HTML_SOLID, _DASHED, _DOTTED or _NOLINE */
    int marker;            /* DLOR_HTML_MARK_* */
    const char *color;     /* "#rrggbb"; NULL: the palette colour of the series' position */
    double width;          /* line width in pixels; 0: 2 (a wide light line under a dashed one
                              keeps two equal series both visible) */
} dlor_html_series;

/* A series with the given fields (n points; x NULL: 1, 2, ..., n). */
dlor_html_series dlor_html_series_make(const char *name, const double *x, const double *y, size_t n, int line,
                                       int marker, const char *color, double width);

typedef struct dlor_html_plot {
    const char *title;
    dlor_html_axis x, y;
    const dlor_html_series *series;
    size_t nseries;
    int width, height;     /* SVG size in CSS pixels; 0: 620 x 380 */
    const char *caption;   /* optional text under the chart */
} dlor_html_plot;

/* A line plot of several series with a legend, linear or log on each axis.
 * Typical uses: an error-versus-h sweep (x and y log), sorted singular
 * values (x linear "index", y log), per-direction contributions (both linear). */
void dlor_html_line_plot(dlor_html *h, const dlor_html_plot *p);

typedef struct dlor_html_bars {
    const char *title;
    const char *x_label;
    dlor_html_axis y;
    size_t ncat;                    /* categories along x */
    const char *const *categories;  /* ncat labels, all shown (long ones rotated and shortened,
                                       the full text as a tooltip; the chart wraps into several
                                       charts of per_chart categories); NULL: indices 1..ncat,
                                       labelled at even steps, never wrapped */
    size_t nseries;
    const char *const *series_names; /* legend (NULL: no legend for one series) */
    const double *values;            /* nseries x ncat, row-major */
    int stacked;                     /* stack the series (needs values >= 0; the axis is made
                                        linear) instead of placing them side by side */
    const double *thresholds;        /* per category, for series 0 (NaN: none); NULL: none.
                                        Bars of series 0 above their threshold are drawn red,
                                        at or below green, without one neutral. */
    double threshold;                /* one line across the whole chart (NaN: none) */
    const char *threshold_name;      /* legend text of the threshold marks ("tolerance") */
    int value_labels;                /* print each bar's value above it when there is room */
    size_t per_chart;                /* categories per chart (0: as many as fit legibly) */
    int width, height;               /* 0: 1232 x 400 (the page's width at 1280 px) */
    const char *caption;
} dlor_html_bars;

/* A bar chart: one bar per category and series (grouped) or stacked series. */
void dlor_html_bar_chart(dlor_html *h, const dlor_html_bars *b);

/* ---- helpers (exposed for tests) -------------------------------------------- */

/* Writes s HTML-escaped (& < > " ' as references, control characters and
 * invalid UTF-8 as U+FFFD). NULL writes nothing. */
void dlor_html_escape(FILE *f, const char *s);

/* Tick positions for an axis spanning [lo, hi] (lo < hi, both > 0 for log):
 * multiples of 1, 2 or 5 x 10^k (linear, about 'target' of them) or decades
 * (log; 1-2-5 inside a range shorter than two decades, every 2nd/5th/...
 * decade in a very long one). Returns the count (at most max). */
size_t dlor_html_ticks(double lo, double hi, dlor_html_scale scale, int target, double *ticks, size_t max);

/* A compact tick label with as many decimals as the tick spacing needs:
 * "0", "0.25", "20k" (spacing of 1000 or more: k, M, G), "1e-6" (never
 * "1e-06"; a chart draws it as 10 with a raised -6). step is the spacing of
 * a linear axis, 0 for a log axis. */
void dlor_html_format_tick(double v, double step, char *buf, size_t n);

/* Compact number for tables and labels: 3 significant digits ("0.0123",
 * "1.23e-07", "1.2e+03" as "1200"), "-" for NaN, "inf" spelled out. */
void dlor_html_format_num(double v, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
