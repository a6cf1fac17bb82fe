/* html_report.c - self-contained HTML pages with inline SVG charts (see html_report.h). */
#include "html_report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- text ------------------------------------------------------------------ */

static const char *const palette[] = {"#2563eb", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04",
                                      "#db2777", "#4b5563", "#65a30d", "#92400e", "#0d9488"};
#define NPALETTE (sizeof palette / sizeof palette[0])
#define COLOR_PASS "#16a34a"
#define COLOR_FAIL "#dc2626"
#define COLOR_INK "#1f2937"
#define COLOR_MUTED "#6b7280"
#define COLOR_GRID "#e5e7eb"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
    else return 0;
    unsigned cp = c & (0x3Fu >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    if (cp == 0xFFFE || cp == 0xFFFF) return 0; /* not characters in XML */
    return n;
}

void dlor_html_escape(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (p && *p) {
        unsigned c = *p;
        size_t n = utf8_len(p);
        if (c == '&') fputs("&amp;", f);
        else if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c == '"') fputs("&quot;", f);
        else if (c == '\'') fputs("&#39;", f);
        else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') fputs("&#65533;", f);
        else if (c == 0x7F) fputs("&#65533;", f);
        else if (n == 0) fputs("&#65533;", f);
        else fwrite(p, 1, n, f);
        p += n ? n : 1;
    }
}

/* Escapes s with a line-break opportunity (<wbr/>) after each '.', '_' and '/',
 * so long dotted names wrap at their parts instead of anywhere. */
static void escape_breakable(FILE *f, const char *s)
{
    char part[256];
    while (s && *s) {
        size_t n = strcspn(s, "._/");
        if (s[n]) n++;
        while (n > 0) {
            size_t k = n < sizeof part - 1 ? n : sizeof part - 1;
            /* never split a UTF-8 sequence between two chunks */
            while (k < n && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
            memcpy(part, s, k);
            part[k] = 0;
            dlor_html_escape(f, part);
            s += k;
            n -= k;
        }
        if (*s) fputs("<wbr/>", f);
    }
}

/* Number of characters (UTF-8 sequences) of s, for width estimates. */
static size_t text_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
}

/* Estimated width in pixels of text at font size fs (DejaVu Sans, the widest
 * of the usual sans-serif fonts, averages about 0.5 em per character in
 * mixed text; a little generous on purpose). */
static double text_width(const char *s, double fs)
{
    return (double)text_chars(s) * fs * 0.56;
}

/* Copies s into buf (n bytes) in at most max characters. A dotted name such as
 * "model.encoder.layers.25.self_attention.out_proj.weight" is shortened part by
 * part: the longest word (not a number, not the last part) is cut to its first
 * letter until the name fits ("model.e.l.25.s.o.weight"), so the numbers and
 * the last part that tell layers apart stay; what still does not fit loses its
 * middle to an ellipsis. */
static void shorten(const char *s, size_t max, char *buf, size_t n)
{
    char work[1024];
    size_t len;
    if (n == 0) return;
    snprintf(work, sizeof work, "%s", s);
    for (;;) {
        if (text_chars(work) <= max) {
            snprintf(buf, n, "%s", work);
            return;
        }
        /* the longest cuttable part: between dots, not numeric, not last */
        char *best = NULL;
        size_t best_len = 1;
        for (char *p = work; *p;) {
            char *e = strchr(p, '.');
            if (!e) break; /* the last part */
            size_t l = (size_t)(e - p);
            int digits = 1;
            for (char *q = p; q < e; q++)
                if (*q < '0' || *q > '9') digits = 0;
            if (!digits && l > best_len) {
                best = p;
                best_len = l;
            }
            p = e + 1;
        }
        if (!best) break;
        /* keep the first character (a whole UTF-8 sequence) */
        size_t keep = 1;
        while (keep < best_len && ((unsigned char)best[keep] & 0xC0) == 0x80) keep++;
        memmove(best + keep, best + best_len, strlen(best + best_len) + 1);
    }
    /* middle ellipsis: the first third and the last two thirds */
    len = strlen(work);
    size_t head_chars = (max - 1) / 3, tail_chars = max - 1 - head_chars, i = 0, j = len, c;
    for (c = 0; c < head_chars && i < len; c++) {
        i++;
        while (i < len && ((unsigned char)work[i] & 0xC0) == 0x80) i++;
    }
    for (c = 0; c < tail_chars && j > i; c++) {
        j--;
        while (j > i && ((unsigned char)work[j] & 0xC0) == 0x80) j--;
    }
    /* head, ellipsis, tail; never past n bytes (a name is at most 255 bytes anyway) */
    size_t o = 0;
    const char *ell = "\xE2\x80\xA6";
    for (size_t k = 0; k < i && o + 1 < n; k++) buf[o++] = work[k];
    for (size_t k = 0; ell[k] && o + 1 < n; k++) buf[o++] = ell[k];
    for (size_t k = j; k < len && o + 1 < n; k++) buf[o++] = work[k];
    buf[o] = 0;
}

static void vescape(dlor_html *h, const char *fmt, va_list ap)
{
    FILE *f = h->f;
    char stack[1024];
    va_list aq;
    va_copy(aq, ap);
    int len = vsnprintf(stack, sizeof stack, fmt, aq);
    va_end(aq);
    if (len < 0) return;
    if ((size_t)len < sizeof stack) {
        dlor_html_escape(f, stack);
        return;
    }
    char *big = malloc((size_t)len + 1);
    if (!big) {
        h->nomem = 1;
        return;
    }
    vsnprintf(big, (size_t)len + 1, fmt, ap);
    dlor_html_escape(f, big);
    free(big);
}

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

/* ---- numbers ---------------------------------------------------------------- */

/* Rewrites an exponent "e-07" / "e+03" in buf as "e-7" / "e3". */
static void compact_exponent(char *buf)
{
    char *e = strchr(buf, 'e');
    if (!e) return;
    char *p = e + 1, *w = e + 1;
    if (*p == '+') p++;
    else if (*p == '-') *w++ = *p++;
    while (*p == '0' && p[1]) p++;
    memmove(w, p, strlen(p) + 1);
}

void dlor_html_format_num(double v, char *buf, size_t n)
{
    if (isnan(v)) {
        snprintf(buf, n, "-");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "inf" : "-inf");
        return;
    }
    double a = fabs(v);
    if (a != 0 && (a < 1e-3 || a >= 1e6)) snprintf(buf, n, "%.3g", v);
    else snprintf(buf, n, a >= 1000 ? "%.0f" : "%.3g", v);
    compact_exponent(buf);
}

void dlor_html_format_tick(double v, double step, char *buf, size_t n)
{
    if (!isfinite(v)) {
        snprintf(buf, n, "?");
        return;
    }
    if (v == 0 || (step > 0 && fabs(v) < step * 1e-6)) {
        snprintf(buf, n, "0");
        return;
    }
    double a = fabs(v);
    if (step <= 0) {
        /* log axis: 1, 2 or 5 x 10^k */
        if (a >= 1e-3 && a < 1e5) snprintf(buf, n, "%.10g", v);
        else snprintf(buf, n, "%.0e", v);
    } else {
        if (step >= 1e3 && step == floor(step)) {
            /* 5k, 10k, 2M: the ticks are whole multiples of the unit */
            double unit = step >= 1e9 ? 1e9 : step >= 1e6 ? 1e6 : 1e3;
            snprintf(buf, n, "%.0f%s", v / unit, unit == 1e9 ? "G" : unit == 1e6 ? "M" : "k");
            return;
        }
        int sci = a >= 1e6 || step < 1e-4;
        if (sci) {
            int digits = (int)(floor(log10(a) + 1e-9) - floor(log10(step) + 1e-9));
            if (digits < 0) digits = 0;
            if (digits > 6) digits = 6;
            snprintf(buf, n, "%.*e", digits, v);
        } else {
            int dec = (int)-floor(log10(step) + 1e-9);
            if (dec < 0) dec = 0;
            if (dec > 9) dec = 9;
            snprintf(buf, n, "%.*f", dec, v);
        }
    }
    compact_exponent(buf);
}

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

/* ---- page structure ---------------------------------------------------------- */

static const char *const css =
    ":root{color-scheme:light}\n"
    "body{margin:0;background:#fff;color:#1f2937;font-family:\"DejaVu Sans\",\"Liberation Sans\",Arial,Helvetica,"
    "sans-serif;font-size:15px;line-height:1.45}\n"
    "main{max-width:1280px;margin:0 auto;padding:16px 24px 32px}\n"
    "h1{font-size:22px;margin:4px 0 10px;overflow-wrap:anywhere}\n"
    "h2{font-size:18px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid #e5e7eb}\n"
    "h3{font-size:16px;margin:20px 0 6px;overflow-wrap:anywhere}\n"
    "h4{font-size:15px;margin:14px 0 4px;overflow-wrap:anywhere}\n"
    "p{margin:6px 0;max-width:1100px}\n"
    "p.note{color:#4b5563;font-size:13px}\n"
    "p.warn{background:#fef3c7;border-left:4px solid #d97706;padding:6px 10px}\n"
    ".verdict{display:flex;align-items:center;gap:14px;margin:6px 0 12px;font-size:16px}\n"
    ".badge{font-weight:bold;font-size:20px;letter-spacing:1px;padding:3px 14px;border-radius:6px;color:#fff}\n"
    ".badge.pass{background:#16a34a}\n"
    ".badge.fail{background:#dc2626}\n"
    ".tablewrap{overflow-x:auto;max-width:100%}\n"
    "table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}\n"
    "caption{text-align:left;font-weight:bold;font-size:16px;padding:4px 0 6px}\n"
    "th,td{padding:4px 7px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}\n"
    "td{white-space:nowrap}\n"
    "td:first-child{white-space:normal;overflow-wrap:anywhere;min-width:8em;max-width:22em}\n"
    "table.kv td{white-space:normal;overflow-wrap:anywhere;max-width:44em}\n"
    ".row>.tablewrap{flex:1 1 540px;min-width:0}\n"
    ".row>.tablewrap>table.kv{width:100%}\n"
    "th{background:#f3f4f6;white-space:nowrap}\n"
    "td.r,th.r{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    /* column heads wrap, so that a wide table still fits its box at 1280 px */
    "thead th,thead th.r{white-space:normal;vertical-align:bottom}\n"
    "table.kv th{background:none;font-weight:normal;color:#4b5563}\n"
    "tr.fail td{background:#fee2e2}\n"
    "tr.muted td{color:#6b7280}\n"
    ".row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}\n"
    "figure.chart{margin:8px 0 14px;max-width:100%}\n"
    "figure.chart svg{display:block;max-width:100%;height:auto;border:1px solid #e5e7eb;border-radius:4px;"
    "background:#fff}\n"
    "figure.chart figcaption{font-size:13px;color:#4b5563;margin-top:4px}\n"
    "svg text{font-family:\"DejaVu Sans\",\"Liberation Sans\",Arial,Helvetica,sans-serif;fill:#1f2937}\n"
    "svg .title{font-size:14px;font-weight:bold}\n"
    "svg .axis-label{font-size:13px}\n"
    "svg .tick{font-size:12px;fill:#374151}\n"
    "svg .legend{font-size:12px}\n"
    "svg .value{font-size:10px;fill:#374151}\n"
    "svg .missing{font-size:10px;fill:#6b7280}\n"
    "details{margin:6px 0}\n"
    "details>summary{cursor:pointer;font-weight:bold;margin:8px 0}\n"
    "footer{margin-top:28px;font-size:12px;color:#6b7280}\n";

void dlor_html_begin(dlor_html *h, FILE *f, const char *title)
{
    memset(h, 0, sizeof *h);
    h->f = f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>",
          f);
    dlor_html_escape(f, title);
    fputs("</title>\n<style>\n", f);
    fputs(css, f);
    fputs("</style>\n</head>\n<body>\n<main>\n<h1>", f);
    dlor_html_escape(f, title);
    fputs("</h1>\n", f);
}

void dlor_html_end(dlor_html *h, const char *footer)
{
    if (h->in_row) dlor_html_row_end(h);
    if (footer) {
        fputs("<footer>", h->f);
        dlor_html_escape(h->f, footer);
        fputs("</footer>\n", h->f);
    }
    fputs("</main>\n</body>\n</html>\n", h->f);
}

void dlor_html_heading(dlor_html *h, int level, const char *fmt, ...)
{
    va_list ap;
    if (level < 2) level = 2;
    if (level > 4) level = 4;
    fprintf(h->f, "<h%d>", level);
    va_start(ap, fmt);
    vescape(h, fmt, ap);
    va_end(ap);
    fprintf(h->f, "</h%d>\n", level);
}

void dlor_html_para(dlor_html *h, const char *cls, const char *fmt, ...)
{
    va_list ap;
    if (cls) fprintf(h->f, "<p class=\"%s\">", strcmp(cls, "warn") == 0 ? "warn" : "note");
    else fputs("<p>", h->f);
    va_start(ap, fmt);
    vescape(h, fmt, ap);
    va_end(ap);
    fputs("</p>\n", h->f);
}

void dlor_html_verdict(dlor_html *h, int pass, const char *fmt, ...)
{
    va_list ap;
    fprintf(h->f, "<div class=\"verdict\"><span class=\"badge %s\">%s</span><span>", pass ? "pass" : "fail",
            pass ? "PASS" : "FAIL");
    va_start(ap, fmt);
    vescape(h, fmt, ap);
    va_end(ap);
    fputs("</span></div>\n", h->f);
}

void dlor_html_row_begin(dlor_html *h)
{
    if (h->in_row) return;
    fputs("<div class=\"row\">\n", h->f);
    h->in_row = 1;
}

void dlor_html_row_end(dlor_html *h)
{
    if (!h->in_row) return;
    fputs("</div>\n", h->f);
    h->in_row = 0;
}

void dlor_html_details_begin(dlor_html *h, int open, const char *fmt, ...)
{
    va_list ap;
    fputs(open ? "<details open=\"open\"><summary>" : "<details><summary>", h->f);
    va_start(ap, fmt);
    vescape(h, fmt, ap);
    va_end(ap);
    fputs("</summary>\n", h->f);
}

void dlor_html_details_end(dlor_html *h)
{
    if (h->in_row) dlor_html_row_end(h);
    fputs("</details>\n", h->f);
}

/* ---- tables -------------------------------------------------------------------- */

void dlor_html_kv_begin(dlor_html *h, const char *caption)
{
    fputs("<div class=\"tablewrap\"><table class=\"kv\">", h->f);
    if (caption) {
        fputs("<caption>", h->f);
        dlor_html_escape(h->f, caption);
        fputs("</caption>", h->f);
    }
    fputs("\n", h->f);
}

void dlor_html_kv(dlor_html *h, const char *key, const char *fmt, ...)
{
    va_list ap;
    fputs("<tr><th>", h->f);
    dlor_html_escape(h->f, key);
    fputs("</th><td>", h->f);
    va_start(ap, fmt);
    vescape(h, fmt, ap);
    va_end(ap);
    fputs("</td></tr>\n", h->f);
}

void dlor_html_kv_end(dlor_html *h)
{
    fputs("</table></div>\n", h->f);
}

void dlor_html_table_begin(dlor_html *h, const char *caption, size_t ncols, const char *const *headers,
                           const char *align)
{
    h->table_cols = ncols;
    memset(h->table_align, 'l', sizeof h->table_align);
    for (size_t i = 0; align && align[i] && i < sizeof h->table_align; i++) h->table_align[i] = align[i];
    fputs("<div class=\"tablewrap\"><table>", h->f);
    if (caption) {
        fputs("<caption>", h->f);
        dlor_html_escape(h->f, caption);
        fputs("</caption>", h->f);
    }
    fputs("\n<thead><tr>", h->f);
    for (size_t i = 0; i < ncols; i++) {
        fputs(i < sizeof h->table_align && h->table_align[i] == 'r' ? "<th class=\"r\">" : "<th>", h->f);
        dlor_html_escape(h->f, headers ? headers[i] : "");
        fputs("</th>", h->f);
    }
    fputs("</tr></thead>\n<tbody>\n", h->f);
}

void dlor_html_table_row(dlor_html *h, const char *const *cells, const char *cls)
{
    if (cls && (strcmp(cls, "fail") == 0 || strcmp(cls, "muted") == 0)) fprintf(h->f, "<tr class=\"%s\">", cls);
    else fputs("<tr>", h->f);
    for (size_t i = 0; i < h->table_cols; i++) {
        fputs(i < sizeof h->table_align && h->table_align[i] == 'r' ? "<td class=\"r\">" : "<td>", h->f);
        if (i == 0) escape_breakable(h->f, cells[i]);
        else dlor_html_escape(h->f, cells[i]);
        fputs("</td>", h->f);
    }
    fputs("</tr>\n", h->f);
}

void dlor_html_table_end(dlor_html *h)
{
    fputs("</tbody></table></div>\n", h->f);
}

/* ---- SVG output ---------------------------------------------------------------------- */

#define FS_TICK 12.0
#define FS_LEGEND 12.0
#define FS_CAT 11.0
#define MAX_TICKS 64
#define LAB 48

/* Writes SVG markup: fmt is copied with %v a coordinate (a double, written by
 * num(): finite, one decimal), %s a trusted string (colours, classes, constant
 * attributes), %t text to escape, %d an int, %z a size_t, %% a percent sign.
 * Every number in an attribute goes through %v, so no NaN or Inf can appear. */
static void svg(FILE *f, const char *fmt, ...)
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

typedef struct scale_ {
    double lo, hi;      /* data range */
    int log;
    double p0, p1;      /* pixel range (p0 at lo) */
} scale_;

static double map(const scale_ *s, double v)
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
static int drawable(double v, int log)
{
    return isfinite(v) && (!log || v > 0);
}

/* The axis range: explicit bounds where given, otherwise the data range [dlo, dhi]
 * (have: whether there was any) widened to nice ticks. */
static void axis_range(const dlor_html_axis *a, int log, int have, double dlo, double dhi, int include_zero,
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
    return text_width(label, FS_TICK) * (label[0] == '1' && label[1] == 'e' ? 0.9 : 1.0);
}

/* Ticks of a scale (about 'target' of them) and their labels. On a log axis of
 * decades, all labels take the 10^k form when any needs it, so one axis never
 * mixes "0.01" with 10^-4. */
static size_t axis_ticks(const scale_ *s, int target, double *t, char (*lab)[LAB])
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

static int y_target(const scale_ *ys)
{
    return (int)((ys->p0 - ys->p1) / 48) + 1;
}

/* Widest y tick label of a scale over a plot of height plot_h, in pixels. */
static double y_ticks_width(double lo, double hi, int log, double plot_h)
{
    scale_ s = {lo, hi, log, plot_h, 0};
    double t[MAX_TICKS], w = 0;
    char lab[MAX_TICKS][LAB];
    size_t nt = axis_ticks(&s, y_target(&s), t, lab);
    for (size_t i = 0; i < nt; i++)
        if (tick_width(lab[i]) > w) w = tick_width(lab[i]);
    return w;
}

/* The y axis from x0 (grid lines to x1): minor ticks, ticks, labels and the
 * rotated axis title at label_x. */
static void draw_y_axis(FILE *f, const scale_ *ys, double x0, double x1, const char *label, double label_x)
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
                    svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"#9ca3af\"/>", x0 - 3, map(ys, v), x0,
                        map(ys, v));
            }
    }
    for (size_t i = 0; i < nt; i++) {
        double y = map(ys, t[i]);
        svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"" COLOR_GRID "\"/>", x0, y, x1, y);
        svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"#6b7280\"/>", x0 - 6, y, x0, y);
        svg(f, "<text class=\"tick\" text-anchor=\"end\" x=\"%v\" y=\"%v\">", x0 - 9, y + 4);
        tick_text(f, lab[i]);
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
    if (label)
        svg(f,
            "<text class=\"axis-label rot\" text-anchor=\"middle\" transform=\"translate(%v %v) rotate(-90)\" x=\"0\" "
            "y=\"0\">%t</text>\n",
            label_x, (ys->p0 + ys->p1) / 2, label);
}

/* Ticks, grid lines and title of a numeric x axis. */
static void draw_x_axis(FILE *f, const scale_ *xs, double y0, double y1, const char *label, double label_y)
{
    double t[MAX_TICKS];
    char lab[MAX_TICKS][LAB];
    size_t nt = axis_ticks(xs, (int)((xs->p1 - xs->p0) / 80) + 1, t, lab);
    fputs("<g class=\"x-axis\">", f);
    for (size_t i = 0; i < nt; i++) {
        double x = map(xs, t[i]);
        svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"" COLOR_GRID "\"/>", x, y1, x, y0);
        svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"#6b7280\"/>", x, y0, x, y0 + 6);
        svg(f, "<text class=\"tick\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">", x, y0 + 20);
        tick_text(f, lab[i]);
        fputs("</text>", f);
    }
    fputs("</g>\n", f);
    if (label)
        svg(f, "<text class=\"axis-label\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%t</text>\n", (xs->p0 + xs->p1) / 2,
            label_y, label);
}

/* The left and bottom edges of the plot area. */
static void plot_frame(FILE *f, double x0, double y0, double x1, double y1)
{
    svg(f, "<path d=\"M%v %vV%vH%v\" fill=\"none\" stroke=\"#6b7280\"/>\n", x0, y1, y0, x1);
}

typedef struct legend_item {
    const char *name;
    const char *color;
    int kind;        /* 0 line (with dash and marker), 1 box, 2 threshold (dashed dark line) */
    int line, marker;
} legend_item;

static double legend_item_width(const legend_item *it)
{
    return 30 + text_width(it->name, FS_LEGEND) + 18;
}

/* Rows the legend needs in a width of w pixels. */
static int legend_rows(const legend_item *it, size_t n, double w)
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

static const char *dash_attr(int line)
{
    return line == DLOR_HTML_DASHED ? " stroke-dasharray=\"7 4\"" : line == DLOR_HTML_DOTTED ? " stroke-dasharray=\"2 3\"" : "";
}

static void marker(FILE *f, int kind, double x, double y, const char *color)
{
    if (kind == DLOR_HTML_MARK_CIRCLE) svg(f, "<circle cx=\"%v\" cy=\"%v\" r=\"3\" fill=\"%s\"/>", x, y, color);
    else if (kind == DLOR_HTML_MARK_SQUARE)
        svg(f, "<rect x=\"%v\" y=\"%v\" width=\"6\" height=\"6\" fill=\"%s\"/>", x - 3, y - 3, color);
}

/* The legend in rows of width w from (x0, y0), each row 18 pixels below the last. */
static void draw_legend(FILE *f, const legend_item *it, size_t n, double x0, double y0, double w)
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
            svg(f, "<rect x=\"%v\" y=\"%v\" width=\"16\" height=\"10\" fill=\"%s\"/>", x + 6, y - 9, it[i].color);
        } else {
            const char *col = it[i].kind == 2 ? COLOR_INK : it[i].color;
            if (it[i].line != DLOR_HTML_NOLINE || it[i].kind == 2)
                svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"%s\" stroke-width=\"2\"%s/>", x, y - 4,
                    x + 26, y - 4, col, dash_attr(it[i].kind == 2 ? DLOR_HTML_DASHED : it[i].line));
            marker(f, it[i].marker, x + 13, y - 4, col);
        }
        svg(f, "<text class=\"legend\" x=\"%v\" y=\"%v\">%t</text>", x + 30, y, it[i].name);
        x += iw;
    }
    fputs("</g>\n", f);
}

/* Opens <figure><svg> of w x hgt pixels with a title. */
static void svg_open(dlor_html *h, double w, double hgt, const char *title)
{
    FILE *f = h->f;
    svg(f, "<figure class=\"chart\" style=\"width:%dpx\">\n", (int)w);
    svg(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"",
        (int)w, (int)hgt, (int)w, (int)hgt);
    if (title) svg(f, " aria-label=\"%t\"", title);
    fputs(">\n", f);
    if (title) svg(f, "<text class=\"title\" x=\"12\" y=\"20\">%t</text>\n", title);
}

/* Closes the svg; the caption and the notes on what could not be drawn go under it. */
static void svg_close(dlor_html *h, const char *caption, const char *notes)
{
    int c = caption && *caption, n = notes && *notes;
    fputs("</svg>\n", h->f);
    if (c || n) svg(h->f, "<figcaption>%t%s%t</figcaption>\n", c ? caption : "", c && n ? " " : "", n ? notes : "");
    fputs("</figure>\n", h->f);
}

/* Appends formatted text to a notes buffer. */
static void note(char *buf, size_t n, const char *fmt, ...) DLOR_HTML_PRINTF(3, 4);
static void note(char *buf, size_t n, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    if (len + 1 >= n) return;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* ---- line plots ---------------------------------------------------------------------- */

static double series_x(const dlor_html_series *se, size_t i)
{
    return se->x ? se->x[i] : (double)(i + 1);
}

static int point_drawable(const dlor_html_series *se, size_t i, int xlog, int ylog)
{
    return drawable(series_x(se, i), xlog) && drawable(se->y[i], ylog);
}

/* One series: a path broken where points cannot be drawn, markers, and the notes. */
static void draw_series(FILE *f, const dlor_html_series *se, const char *col, const scale_ *xs, const scale_ *ys,
                        char *notes, size_t nnotes)
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
            svg(f, run ? "L%v %v" : "M%v %v", map(xs, series_x(se, i)), map(ys, se->y[i]));
            run = any = 1;
        }
        if (!any) fputs("M0 0", f);
        svg(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"%v\" stroke-linejoin=\"round\"%s><title>%t</title></path>",
            col, se->width > 0 && se->width < 20 ? se->width : 2.0, dash_attr(se->line), se->name ? se->name : "");
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
        double px = map(xs, x), py = map(ys, y);
        if (px < xs->p0 - 0.5 || px > xs->p1 + 0.5 || py > ys->p0 + 0.5 || py < ys->p1 - 0.5) outside++;
        /* a point with no drawable neighbour would be invisible as a line: give it a dot */
        int isolated = se->line == DLOR_HTML_NOLINE ||
                       (!(i > 0 && point_drawable(se, i - 1, xs->log, ys->log)) &&
                        !(i + 1 < se->n && point_drawable(se, i + 1, xs->log, ys->log)));
        if (se->marker != DLOR_HTML_MARK_NONE) marker(f, se->marker, px, py, col);
        else if (isolated) marker(f, DLOR_HTML_MARK_CIRCLE, px, py, col);
    }
    fputs("</g>\n", f);
    const char *nm = se->name ? se->name : "series";
    if (nonfinite)
        note(notes, nnotes, "%s: %zu value%s not finite (NaN or infinite), not drawn. ", nm, nonfinite,
             plural(nonfinite));
    if (nonpos)
        note(notes, nnotes, "%s: %zu value%s <= 0 cannot be shown on the log axis. ", nm, nonpos, plural(nonpos));
    if (outside) note(notes, nnotes, "%s: %zu value%s outside the axis range, cut off. ", nm, outside, plural(outside));
}

void dlor_html_line_plot(dlor_html *h, const dlor_html_plot *p)
{
    FILE *f = h->f;
    double W = p->width > 0 ? p->width : 620, H = p->height > 0 ? p->height : 380;
    int xlog = p->x.scale == DLOR_HTML_LOG, ylog = p->y.scale == DLOR_HTML_LOG;
    double xlo = HUGE_VAL, xhi = -HUGE_VAL, ylo = HUGE_VAL, yhi = -HUGE_VAL;
    int have = 0;
    char notes[2048] = "";
    legend_item items[32];
    size_t nitems = 0;

    /* ranges over the points that can be drawn; the legend */
    for (size_t s = 0; s < p->nseries; s++) {
        const dlor_html_series *se = &p->series[s];
        for (size_t i = 0; se->y && i < se->n; i++) {
            double x = series_x(se, i), y = se->y[i];
            if (!drawable(x, xlog) || !drawable(y, ylog)) continue;
            have = 1;
            if (x < xlo) xlo = x;
            if (x > xhi) xhi = x;
            if (y < ylo) ylo = y;
            if (y > yhi) yhi = y;
        }
        if (nitems < sizeof items / sizeof items[0] && se->name)
            items[nitems++] = (legend_item){se->name, se->color ? se->color : palette[s % NPALETTE], 0, se->line,
                                            se->marker};
    }
    scale_ xs, ys;
    axis_range(&p->x, xlog, have, xlo, xhi, 0, &xs.lo, &xs.hi);
    axis_range(&p->y, ylog, have, ylo, yhi, !ylog, &ys.lo, &ys.hi);
    xs.log = xlog;
    ys.log = ylog;

    /* layout: title, legend rows, plot area, x ticks and title */
    double bottom = 50, right = 18;
    int lrows = legend_rows(items, nitems, W - 24);
    double top = 30 + lrows * 18 + (lrows ? 8 : 0);
    double left = 30 + 10 + y_ticks_width(ys.lo, ys.hi, ylog, H - top - bottom);
    if (left < 58) left = 58;
    xs.p0 = left;
    xs.p1 = W - right;
    ys.p0 = H - bottom;
    ys.p1 = top;

    unsigned id = h->next_id++;
    svg_open(h, W, H, p->title);
    draw_legend(f, items, nitems, 12, 42, W - 24);
    svg(f, "<defs><clipPath id=\"dlor-clip-%d\"><rect x=\"%v\" y=\"%v\" width=\"%v\" height=\"%v\"/></clipPath></defs>\n",
        (int)id, xs.p0 - 4, ys.p1 - 4, xs.p1 - xs.p0 + 8, ys.p0 - ys.p1 + 8);
    draw_y_axis(f, &ys, xs.p0, xs.p1, p->y.label, 16);
    draw_x_axis(f, &xs, ys.p0, ys.p1, p->x.label, H - 10);
    plot_frame(f, xs.p0, ys.p0, xs.p1, ys.p1);
    svg(f, "<g clip-path=\"url(#dlor-clip-%d)\">\n", (int)id);
    for (size_t s = 0; s < p->nseries; s++)
        if (p->series[s].y)
            draw_series(f, &p->series[s], p->series[s].color ? p->series[s].color : palette[s % NPALETTE], &xs, &ys,
                        notes, sizeof notes);
    fputs("</g>\n", f);
    if (!have)
        svg(f, "<text class=\"missing\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">no data to draw</text>\n",
            (xs.p0 + xs.p1) / 2, (ys.p0 + ys.p1) / 2);
    svg_close(h, p->caption, notes);
}

/* ---- bar charts ------------------------------------------------------------------------ */

#define CAT_MAX_CHARS 24

static double bar_value(const dlor_html_bars *b, size_t s, size_t c)
{
    return b->values[s * b->ncat + c];
}

typedef struct bar_counts {
    size_t nan, zero, neg, inf, thr_out;
} bar_counts;

/* Legend of a bar chart over categories [c0, c1): series 0 by its thresholds. */
static size_t bar_legend(const dlor_html_bars *b, size_t c0, size_t c1, legend_item *items, size_t max,
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
            if (pass) items[n++] = (legend_item){lab[0], COLOR_PASS, 1, 0, 0};
            if (fail) items[n++] = (legend_item){lab[1], COLOR_FAIL, 1, 0, 0};
            if (none) items[n++] = (legend_item){lab[2], palette[0], 1, 0, 0};
        } else if (nm) {
            items[n++] = (legend_item){nm, palette[s % NPALETTE], 1, 0, 0};
        }
    }
    if (marks && n < max) items[n++] = (legend_item){tn, COLOR_INK, 2, 0, 0};
    return n;
}

/* One bar (or stacked segment) of value v from pixel ya to yb. */
static void bar_rect(FILE *f, const dlor_html_bars *b, size_t s, size_t c, double v, double x, double w, double ya,
                     double yb, const scale_ *ys, const char *cls, const char *col)
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
    svg(f, "<rect class=\"%s\" x=\"%v\" y=\"%v\" width=\"%v\" height=\"%v\" fill=\"%s\"><title>", cls, x, yt, w, hh,
        col);
    if (b->categories) svg(f, "%t", b->categories[c] ? b->categories[c] : "");
    else svg(f, "%z", c + 1);
    if (b->series_names) svg(f, ", %t", b->series_names[s]);
    svg(f, ": %s", vb);
    if (s == 0 && b->thresholds && isfinite(b->thresholds[c])) {
        dlor_html_format_num(b->thresholds[c], tb, sizeof tb);
        svg(f, " (%t %s)", b->threshold_name ? b->threshold_name : "threshold", tb);
    }
    fputs("</title></rect>", f);
    if (b->value_labels && !b->stacked && text_width(vb, 10) <= w + 2)
        svg(f, "<text class=\"value\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%t</text>", x + w / 2,
            (v >= 0 ? yt : yt + hh + 12) - 3, vb);
}

/* The bars of one category, grouped or stacked. */
static void bar_group(FILE *f, const dlor_html_bars *b, size_t c, double gx, double group, const scale_ *ys,
                      bar_counts *n)
{
    size_t ns = b->nseries ? b->nseries : 1;
    double bw = b->stacked ? group : group / (double)ns, acc = 0;
    double gap = ns > 1 && !b->stacked && bw > 1 ? 1 : 0;
    for (size_t s = 0; s < ns; s++) {
        double v = bar_value(b, s, c), bx = b->stacked ? gx : gx + bw * (double)s;
        const char *col = palette[s % NPALETTE], *cls = "bar";
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
                double ya = map(ys, acc);
                acc += v;
                bar_rect(f, b, s, c, v, bx, bw, ya, map(ys, acc), ys, cls, col);
            }
        } else if (!drawable(v, ys->log)) {
            /* say what cannot be drawn at the foot of the bar (a missing value of a
             * secondary series only in the note) */
            const char *what = isnan(v) ? "n/a" : v == 0 ? "0" : isinf(v) ? (v > 0 ? "inf" : "-inf") : "&lt;0";
            if (isnan(v)) n->nan++;
            else if (v == 0) n->zero++;
            else if (isinf(v)) n->inf++;
            else n->neg++;
            if (bw >= 10 && (s == 0 || !isnan(v)))
                svg(f, "<text class=\"missing\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%s</text>", bx + bw / 2,
                    ys->p0 - 4, what);
        } else {
            double base = ys->log ? ys->lo : ys->lo > 0 ? ys->lo : ys->hi < 0 ? ys->hi : 0;
            bar_rect(f, b, s, c, v, bx, bw - gap, map(ys, base), map(ys, ys->log && v < ys->lo ? ys->lo : v), ys, cls,
                     col);
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
            shorten(name, CAT_MAX_CHARS, lab, sizeof lab);
            if (rotate)
                svg(f,
                    "<text class=\"tick rot\" text-anchor=\"end\" transform=\"translate(%v %v) rotate(-35)\" x=\"0\" "
                    "y=\"0\">%t<title>%t</title></text>",
                    cx + 4, y0 + 14, lab, name);
            else
                svg(f, "<text class=\"tick\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%t<title>%t</title></text>", cx,
                    y0 + 18, lab, name);
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
            svg(f, "<line x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"#6b7280\"/>", cx, y0, cx, y0 + 5);
            svg(f, "<text class=\"tick\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%t</text>", cx, y0 + 19, lab);
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
    legend_item items[40];
    char lab3[3][160], lab[CAT_MAX_CHARS * 4 + 8];
    size_t nitems = bar_legend(b, c0, c1, items, sizeof items / sizeof items[0], lab3);
    bar_counts n = {0, 0, 0, 0, 0};

    /* layout; category labels horizontal when they fit their slot, otherwise rotated */
    double right = 18;
    int lrows = legend_rows(items, nitems, W - 24);
    double top = 30 + lrows * 18 + (lrows ? 8 : 0) + (b->value_labels ? 12 : 0);
    double left = 30 + 10 + y_ticks_width(ylo, yhi, ylog, H - top - 60);
    if (left < 58) left = 58;
    double slot = (W - right - left) / (double)(nc ? nc : 1), maxw = 0;
    for (size_t c = c0; c < c1 && b->categories; c++) {
        shorten(b->categories[c] ? b->categories[c] : "", CAT_MAX_CHARS, lab, sizeof lab);
        if (text_width(lab, FS_CAT) > maxw) maxw = text_width(lab, FS_CAT);
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
    scale_ ys = {ylo, yhi, ylog, H - bottom, top};
    double x0 = left, x1 = W - right;
    double group = slot * (ns > 1 && !b->stacked ? 0.84 : 0.7);

    svg_open(h, W, H, title);
    draw_legend(f, items, nitems, 12, 42, W - 24);
    draw_y_axis(f, &ys, x0, x1, b->y.label, 16);
    fputs("<g class=\"bars\">\n", f);
    for (size_t c = c0; c < c1; c++) {
        bar_group(f, b, c, x0 + slot * (double)(c - c0) + (slot - group) / 2, group, &ys, &n);
        fputs("\n", f);
    }
    fputs("</g>\n<g class=\"thresholds\">", f);
    for (size_t c = c0; c < c1 && b->thresholds; c++) {
        double t = b->thresholds[c], gx = x0 + slot * (double)(c - c0) + (slot - group) / 2;
        if (!isfinite(t)) continue;
        if (!drawable(t, ylog) || t < ys.lo || t > ys.hi) {
            n.thr_out++;
            continue;
        }
        svg(f,
            "<line class=\"thr\" x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"" COLOR_INK
            "\" stroke-width=\"2\" stroke-dasharray=\"7 4\"/>",
            gx - slot * 0.06, map(&ys, t), gx + group + slot * 0.06, map(&ys, t));
    }
    if (isfinite(b->threshold)) {
        if (drawable(b->threshold, ylog) && b->threshold >= ys.lo && b->threshold <= ys.hi)
            svg(f,
                "<line class=\"thr global\" x1=\"%v\" y1=\"%v\" x2=\"%v\" y2=\"%v\" stroke=\"" COLOR_INK
                "\" stroke-width=\"1.5\" stroke-dasharray=\"7 4\"/>",
                x0, map(&ys, b->threshold), x1, map(&ys, b->threshold));
        else
            n.thr_out++;
    }
    fputs("</g>\n", f);
    category_labels(f, b, c0, c1, x0, x1, slot, ys.p0, rotate);
    plot_frame(f, x0, ys.p0, x1, ys.p1);
    if (b->x_label)
        svg(f, "<text class=\"axis-label\" text-anchor=\"middle\" x=\"%v\" y=\"%v\">%t</text>\n", (x0 + x1) / 2, H - 10,
            b->x_label);
    if (n.zero)
        note(notes, nnotes, "%zu value%s of exactly 0, written as 0 (no place on a log axis). ", n.zero,
             plural(n.zero));
    if (n.neg)
        note(notes, nnotes, "%zu negative value%s %s. ", n.neg, plural(n.neg),
             b->stacked ? "left out of the stack" : "written as <0 (no place on a log axis)");
    if (n.inf) note(notes, nnotes, "%zu infinite value%s, not drawn. ", n.inf, plural(n.inf));
    if (n.nan) note(notes, nnotes, "%zu value%s not available (n/a). ", n.nan, plural(n.nan));
    if (n.thr_out)
        note(notes, nnotes, "%zu %s mark%s outside the axis range, not drawn. ", n.thr_out,
             b->threshold_name ? b->threshold_name : "threshold", plural(n.thr_out));
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
            if (!drawable(v, ylog)) continue;
            have = 1;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        if (b->stacked && acc > 0) {
            have = 1;
            if (acc > hi) hi = acc;
            if (0 < lo) lo = 0;
        }
        if (b->thresholds && drawable(b->thresholds[c], ylog)) {
            have = 1;
            if (b->thresholds[c] < lo) lo = b->thresholds[c];
            if (b->thresholds[c] > hi) hi = b->thresholds[c];
        }
    }
    if (drawable(b->threshold, ylog)) {
        have = 1;
        if (b->threshold < lo) lo = b->threshold;
        if (b->threshold > hi) hi = b->threshold;
    }
    double ylo, yhi;
    axis_range(&b->y, ylog, have, lo, hi, !ylog, &ylo, &yhi);

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
        svg_close(h, k + 1 == nchunks ? b->caption : NULL, notes);
    }
}
