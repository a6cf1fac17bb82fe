/* html_text.c - text in the pages: escaping (invalid UTF-8 replaced), width
 * estimates, shortened names, compact numbers and tick labels (html_report.h). */
#include "html_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
double dlor__text_width(const char *s, double fs)
{
    return (double)text_chars(s) * fs * 0.56;
}

/* Copies s into buf (n bytes) in at most max characters. A dotted name such as
 * "model.encoder.layers.25.self_attention.out_proj.weight" is shortened part by
 * part: the longest word (not a number, not the last part) is cut to its first
 * letter until the name fits ("model.e.l.25.s.o.weight"), so the numbers and
 * the last part that tell layers apart stay; what still does not fit loses its
 * middle to an ellipsis. */
void dlor__shorten(const char *s, size_t max, char *buf, size_t n)
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
