/* html_page.c - the page around the charts: document head with the inline
 * stylesheet, headings, paragraphs, the verdict badge, rows, collapsible sections
 * and tables (html_report.h). */
#include "html_report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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
    ".badge.unchecked{background:#b45309}\n"
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
    fprintf(h->f, "<div class=\"verdict\"><span class=\"badge %s\">%s</span><span>",
            pass == 2 ? "unchecked" : pass ? "pass" : "fail", pass == 2 ? "UNCHECKED" : pass ? "PASS" : "FAIL");
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
