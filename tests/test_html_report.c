/* test_html_report - the HTML/SVG renderer (lib/report/): number and tick
 * formatting, tick placement, and whole pages built from hostile values (NaN,
 * +-Inf, 0 and negatives on log axes, huge ranges, markup and invalid UTF-8 in
 * names) that must stay well-formed with finite coordinates everywhere.
 * With an argument, also writes the sample page there (test_html.py opens it
 * in a browser). */
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "html_report.h"
#include "testutil.h"

static int streq_num(double v, double step, const char *want)
{
    char buf[64];
    if (step >= 0) dlor_html_format_tick(v, step, buf, sizeof buf);
    else dlor_html_format_num(v, buf, sizeof buf);
    if (strcmp(buf, want) != 0) {
        fprintf(stderr, "  format %.17g (step %g): got '%s', want '%s'\n", v, step, buf, want);
        return 0;
    }
    return 1;
}

static void test_format(void)
{
    CHECK(streq_num(0.434, -1, "0.434"), "num 0.434");
    CHECK(streq_num(1.23e-7, -1, "1.23e-7"), "num 1.23e-7");
    CHECK(streq_num(1.5e6, -1, "1.5e6"), "num 1.5e6");
    CHECK(streq_num(1500, -1, "1500"), "num 1500");
    CHECK(streq_num(0, -1, "0"), "num 0");
    CHECK(streq_num(NAN, -1, "-"), "num NaN");
    CHECK(streq_num(INFINITY, -1, "inf"), "num inf");
    CHECK(streq_num(-INFINITY, -1, "-inf"), "num -inf");
    CHECK(streq_num(0.25, 0.05, "0.25"), "tick 0.25");
    CHECK(streq_num(0.2, 0.2, "0.2"), "tick 0.2");
    CHECK(streq_num(1, 0.5, "1.0"), "tick 1.0 at step 0.5");
    CHECK(streq_num(3e-17, 0.5, "0"), "tick rounding noise is 0");
    CHECK(streq_num(-0.5, 0.5, "-0.5"), "tick -0.5");
    CHECK(streq_num(20000, 10000, "20k"), "tick 20k");
    CHECK(streq_num(3e6, 1e6, "3M"), "tick 3M");
    CHECK(streq_num(150, 50, "150"), "tick 150");
    CHECK(streq_num(1e-6, 0, "1e-6"), "log tick 1e-6");
    CHECK(streq_num(2e-6, 0, "2e-6"), "log tick 2e-6");
    CHECK(streq_num(0.01, 0, "0.01"), "log tick 0.01");
    CHECK(streq_num(1000, 0, "1000"), "log tick 1000");
    CHECK(streq_num(1e12, 0, "1e12"), "log tick 1e12");
    CHECK(streq_num(2.5e-5, 5e-6, "2.5e-5"), "tick 2.5e-5 at step 5e-6");
}

static void test_ticks(void)
{
    double t[64];
    size_t n = dlor_html_ticks(0, 1, DLOR_HTML_LINEAR, 5, t, 64);
    CHECK(n == 6 && t[0] == 0 && fabs(t[5] - 1) < 1e-12, "linear 0..1: %zu ticks", n);
    n = dlor_html_ticks(-3, 7, DLOR_HTML_LINEAR, 5, t, 64);
    int zero = 0;
    for (size_t i = 0; i < n; i++) zero |= t[i] == 0;
    CHECK(n >= 4 && n <= 12 && zero, "linear -3..7 has 0 among %zu ticks", n);
    for (size_t i = 1; i < n; i++) CHECK(t[i] > t[i - 1], "ticks increase");
    n = dlor_html_ticks(1e-7, 1e-2, DLOR_HTML_LOG, 8, t, 64);
    CHECK(n == 6, "log 1e-7..1e-2: %zu decades", n);
    for (size_t i = 0; i < n; i++) CHECK(fabs(log10(t[i]) - round(log10(t[i]))) < 1e-12, "decade tick %g", t[i]);
    n = dlor_html_ticks(1e-30, 1e10, DLOR_HTML_LOG, 6, t, 64);
    CHECK(n >= 3 && n <= 9, "40 decades: %zu ticks, not one per decade", n);
    n = dlor_html_ticks(2, 8, DLOR_HTML_LOG, 6, t, 64);
    CHECK(n == 2 && t[0] == 2 && t[1] == 5, "log 2..8: 2 and 5 (%zu ticks)", n);
    CHECK(dlor_html_ticks(1, 1, DLOR_HTML_LINEAR, 5, t, 64) == 0, "empty range: no ticks");
    CHECK(dlor_html_ticks(NAN, 1, DLOR_HTML_LINEAR, 5, t, 64) == 0, "NaN range: no ticks");
    CHECK(dlor_html_ticks(-1, 1, DLOR_HTML_LOG, 5, t, 64) == 0, "log range through 0: no ticks");
    CHECK(dlor_html_ticks(0, 1e6, DLOR_HTML_LINEAR, 5, t, 3) == 3, "at most max ticks");
}

/* Builds the sample page: every chart type with values that cannot be drawn. */
static void sample_page(FILE *f)
{
    dlor_html h;
    const double nan = NAN, inf = INFINITY;
    dlor_html_begin(&h, f, "Renderer test <script>alert(1)</script> & \"quotes\" \xff\x01 \xE2\x86\x92 ok");
    dlor_html_verdict(&h, 1, "PASS line with <b>markup</b> & an ampersand");
    dlor_html_row_begin(&h);
    dlor_html_kv_begin(&h, "Key <values>");
    dlor_html_kv(&h, "name & <tag>", "%d apples, %s", 3, "</td></tr></table>");
    dlor_html_kv_end(&h);
    dlor_html_kv_begin(&h, "Second");
    dlor_html_kv(&h, "x", "%.3g", 1.5);
    dlor_html_kv_end(&h);
    dlor_html_row_end(&h);

    /* an error-versus-h sweep: log-log, two series with markers, holes in the data */
    double hs[8] = {1, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125};
    double e1[8] = {0.9, 0.31, nan, 0.024, 0.0061, 0, 0.00039, 0.0001};
    double e2[8] = {0.5, inf, 0.12, 0.061, -1, 0.015, 0.0076, 0.0039};
    dlor_html_series sw[3] = {
        {"deep, r = 4", hs, e1, 8, DLOR_HTML_SOLID, DLOR_HTML_MARK_CIRCLE, NULL, 0},
        {"wide, r = 4", hs, e2, 8, DLOR_HTML_DASHED, DLOR_HTML_MARK_SQUARE, NULL, 0},
        {"all missing", hs, (double[8]){nan, nan, nan, nan, nan, nan, nan, nan}, 8, DLOR_HTML_SOLID, 0, NULL, 0}};
    dlor_html_plot p;
    memset(&p, 0, sizeof p);
    p.title = "Approximation error versus h";
    p.x = (dlor_html_axis){"h", DLOR_HTML_LOG, nan, nan};
    p.y = (dlor_html_axis){"sup error (log)", DLOR_HTML_LOG, nan, nan};
    p.series = sw;
    p.nseries = 3;
    p.caption = "A sweep with NaN, 0, -1 and Inf values.";
    dlor_html_row_begin(&h);
    dlor_html_line_plot(&h, &p);

    /* extreme ranges and points outside fixed axes */
    double big[6] = {1e-300, 1e300, 5e-320, 1, DBL_MAX, 3};
    dlor_html_series sb[2] = {{"huge range", NULL, big, 6, DLOR_HTML_SOLID, 0, NULL, 0},
                              {"empty", NULL, NULL, 0, DLOR_HTML_SOLID, 0, NULL, 0}};
    memset(&p, 0, sizeof p);
    p.title = "Huge range on a fixed axis";
    p.x = (dlor_html_axis){"index", DLOR_HTML_LINEAR, 2, 5};
    p.y = (dlor_html_axis){"value", DLOR_HTML_LOG, 1e-3, 1e3};
    p.series = sb;
    p.nseries = 2;
    dlor_html_line_plot(&h, &p);
    dlor_html_row_end(&h);

    /* nothing drawable at all */
    memset(&p, 0, sizeof p);
    p.title = "No data";
    p.x = (dlor_html_axis){"x", DLOR_HTML_LOG, nan, nan};
    p.y = (dlor_html_axis){"y", DLOR_HTML_LOG, nan, nan};
    p.series = &sw[2];
    p.nseries = 1;
    dlor_html_line_plot(&h, &p);

    /* per-layer bars on a log axis, with per-bar thresholds, some missing */
    const char *cats[6] = {"0.weight", "model.encoder.layers.25.self_attention.output_projection.weight",
                           "<b>bold</b>", "zero", "nan", "\xff\xfe bad utf8"};
    double vals[12] = {1e-7, 0.3, 2e-5, 0, nan, inf, 1e-7, nan, 0.5, -2, 1e-9, 3e-6};
    double thr[6] = {1e-4, 0.25, nan, 1e-4, 1e-4, 0};
    const char *sn[2] = {"rel. error", "other"};
    dlor_html_bars b;
    memset(&b, 0, sizeof b);
    b.title = "Per-layer error";
    b.x_label = "layer";
    b.y = (dlor_html_axis){"relative error (log)", DLOR_HTML_LOG, nan, nan};
    b.ncat = 6;
    b.categories = cats;
    b.nseries = 2;
    b.series_names = sn;
    b.values = vals;
    b.thresholds = thr;
    b.threshold = 1e-2;
    b.threshold_name = "tolerance";
    b.value_labels = 1;
    dlor_html_bar_chart(&h, &b);

    /* many named categories: wraps into several charts */
    static char names[100][32];
    const char *many[100];
    double mv[100], mt[100];
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof names[i], "cat-%d", i);
        many[i] = names[i];
        mv[i] = i % 7 == 0 ? 0 : (double)(i + 1) * 1e-3;
        mt[i] = 0.05;
    }
    memset(&b, 0, sizeof b);
    b.title = "Many layers";
    b.x_label = "layer";
    b.y = (dlor_html_axis){"error", DLOR_HTML_LINEAR, nan, nan};
    b.ncat = 100;
    b.categories = many;
    b.nseries = 1;
    b.values = mv;
    b.thresholds = mt;
    b.threshold = nan;
    b.threshold_name = "tolerance";
    dlor_html_bar_chart(&h, &b);

    /* stacked contributions over an index axis, with negative and NaN values */
    double st[3 * 40];
    const char *br[3] = {"branch 1", "branch 2", "branches 3-9"};
    for (int i = 0; i < 40; i++) {
        st[i] = i < 14 ? 5.0 / (i + 1) : 0;
        st[40 + i] = i >= 10 && i < 30 ? 0.3 : 0;
        st[80 + i] = i == 5 ? -1 : i == 6 ? nan : 0.05;
    }
    memset(&b, 0, sizeof b);
    b.title = "Per-branch contributions";
    b.x_label = "singular value index j";
    b.y = (dlor_html_axis){"|contribution|", DLOR_HTML_LOG, nan, nan}; /* stacked: drawn linear */
    b.ncat = 40;
    b.nseries = 3;
    b.series_names = br;
    b.values = st;
    b.stacked = 1;
    b.threshold = nan;
    b.width = 608;
    dlor_html_bar_chart(&h, &b);

    dlor_html_heading(&h, 2, "Table & <friends>");
    const char *head[3] = {"name", "value", "note"};
    dlor_html_table_begin(&h, NULL, 3, head, "lrl");
    const char *row1[3] = {"a.very_long/dotted.name_with_parts", "1.5", "<i>x</i>"};
    dlor_html_table_row(&h, row1, "fail");
    dlor_html_table_end(&h);
    dlor_html_details_begin(&h, 0, "closed <details>");
    dlor_html_para(&h, "warn", "inside %s", "details");
    dlor_html_details_end(&h);
    dlor_html_end(&h, "footer & <end>");
}

/* Reads all of f. */
static char *slurp(FILE *f, size_t *len)
{
    long n;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) return NULL;
    char *buf = malloc((size_t)n + 1);
    if (!buf) return NULL;
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = 0;
    return buf;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Checks tags nest and close, attribute values are quoted, and every numeric
 * attribute is a plain finite number list. Returns the number of problems. */
static int check_markup(const char *s)
{
    static const char *const numeric[] = {"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height",
                                          "d", "viewBox", "transform", "dy", NULL};
    char stack[64][32];
    int depth = 0, bad = 0;
    const char *p = s;
    while ((p = strchr(p, '<')) != NULL) {
        if (strncmp(p, "<!DOCTYPE", 9) == 0) {
            p = strchr(p, '>');
            if (!p) return bad + 1;
            continue;
        }
        const char *e = strchr(p, '>');
        if (!e) return bad + 1;
        int closing = p[1] == '/', selfclose = e[-1] == '/';
        const char *n0 = p + 1 + closing, *n1 = n0;
        while (isalnum((unsigned char)*n1) || *n1 == '-') n1++;
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(n1 - n0), n0);
        if (!name[0]) {
            fprintf(stderr, "  unescaped '<' near: %.40s\n", p);
            bad++;
        }
        /* attributes: name="value" */
        for (const char *a = n1; a < e;) {
            while (a < e && isspace((unsigned char)*a)) a++;
            if (a >= e || *a == '/') break;
            const char *an = a;
            while (a < e && *a != '=' && !isspace((unsigned char)*a) && *a != '/') a++;
            char attr[32];
            snprintf(attr, sizeof attr, "%.*s", (int)(a - an), an);
            if (*a != '=' || a[1] != '"') {
                fprintf(stderr, "  unquoted attribute '%s' in <%s>\n", attr, name);
                bad++;
                break;
            }
            const char *v0 = a + 2, *v1 = strchr(v0, '"');
            if (!v1 || v1 > e) {
                bad++;
                break;
            }
            for (int i = 0; numeric[i]; i++) {
                if (strcmp(attr, numeric[i]) != 0) continue;
                if (strcmp(name, "svg") == 0 && strcmp(attr, "width") != 0 && strcmp(attr, "viewBox") != 0 &&
                    strcmp(attr, "height") != 0)
                    continue;
                for (const char *q = v0; q < v1; q++) {
                    int ok = isdigit((unsigned char)*q) || strchr(".- ,MLHVZ()", *q) ||
                             (strcmp(attr, "transform") == 0 && strchr("translaterotem", *q)) ||
                             (strcmp(attr, "dy") == 0 && strchr("em", *q));
                    if (!ok) {
                        fprintf(stderr, "  <%s %s=\"%.*s\">: not a finite number list\n", name, attr,
                                (int)(v1 - v0 < 60 ? v1 - v0 : 60), v0);
                        bad++;
                        break;
                    }
                }
            }
            a = v1 + 1;
        }
        int is_void = strcmp(name, "meta") == 0 || strcmp(name, "wbr") == 0;
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0) {
                fprintf(stderr, "  </%s> closes <%s>\n", name, depth ? stack[depth - 1] : "(nothing)");
                bad++;
            } else {
                depth--;
            }
        } else if (!selfclose && !is_void && name[0]) {
            if (depth < 64) snprintf(stack[depth++], sizeof stack[0], "%s", name);
            if (strcmp(name, "style") == 0 || strcmp(name, "title") == 0) {
                /* raw text up to the end tag: no '<' inside */
                char endtag[40];
                snprintf(endtag, sizeof endtag, "</%s>", name);
                const char *end = strstr(e, endtag);
                if (!end) return bad + 1;
                for (const char *q = e + 1; q < end; q++)
                    if (*q == '<') {
                        fprintf(stderr, "  '<' inside <%s>\n", name);
                        bad++;
                        break;
                    }
            }
        } else if (is_void && !selfclose) {
            fprintf(stderr, "  <%s> not self-closed\n", name);
            bad++;
        }
        p = e + 1;
    }
    if (depth != 0) {
        fprintf(stderr, "  %d element(s) left open, innermost <%s>\n", depth, stack[depth - 1]);
        bad++;
    }
    return bad;
}

static void test_page(const char *out_path)
{
    FILE *f = tmpfile();
    CHECK(f != NULL, "tmpfile");
    if (!f) return;
    sample_page(f);
    size_t len = 0;
    char *s = slurp(f, &len);
    fclose(f);
    CHECK(s && len > 1000, "page written (%zu bytes)", len);
    if (!s) return;
    CHECK(check_markup(s) == 0, "markup well-formed with finite coordinates");
    /* escaped text, never markup */
    CHECK(strstr(s, "<script") == NULL && strstr(s, "<b>") == NULL && strstr(s, "<i>") == NULL,
          "no markup from text arguments");
    CHECK(strstr(s, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;") != NULL, "title escaped");
    CHECK(strstr(s, "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;") != NULL, "value escaped");
    CHECK(strchr(s, '\xff') == NULL && strchr(s, '\x01') == NULL && strstr(s, "&#65533;") != NULL,
          "invalid UTF-8 and control characters replaced");
    CHECK(strstr(s, "\xE2\x86\x92 ok") != NULL, "valid UTF-8 kept");
    /* nothing outside the page */
    CHECK(count(s, "http") == count(s, "xmlns=\"http://www.w3.org/2000/svg\""), "no links except the SVG namespace");
    CHECK(strstr(s, "src=") == NULL && strstr(s, "<link") == NULL && strstr(s, "@import") == NULL,
          "no external resources");
    /* what could not be drawn is said, not hidden */
    CHECK(strstr(s, "deep, r = 4: 1 value not finite") != NULL, "NaN noted");
    CHECK(strstr(s, "deep, r = 4: 1 value &lt;= 0 cannot be shown on the log axis") != NULL, "0 on log axis noted");
    CHECK(strstr(s, "wide, r = 4: 1 value not finite") != NULL && strstr(s, "wide, r = 4: 1 value &lt;= 0") != NULL,
          "Inf and -1 noted");
    CHECK(strstr(s, "all missing: 8 values not finite") != NULL, "all-NaN series noted");
    CHECK(strstr(s, "no data to draw") != NULL, "empty chart says so");
    CHECK(strstr(s, "huge range: ") != NULL && strstr(s, "outside the axis range") != NULL,
          "points outside a fixed axis noted");
    CHECK(strstr(s, "value of exactly 0, written as 0") != NULL || strstr(s, "values of exactly 0") != NULL,
          "zero bars noted");
    CHECK(strstr(s, "not available (n/a)") != NULL && strstr(s, "infinite value") != NULL &&
          strstr(s, "negative value") != NULL, "NaN, Inf and negative bars noted");
    CHECK(strstr(s, "tolerance mark outside the axis range") != NULL, "a threshold of 0 on a log axis noted");
    /* charts: 3 line plots, 1 + wrapped + 1 bar charts */
    int svgs = count(s, "<svg ");
    CHECK(svgs >= 3 + 1 + 3 + 1, "%d charts (100 categories wrap into several)", svgs);
    CHECK(strstr(s, "<title>cat-99</title>") != NULL && strstr(s, "<title>cat-0</title>") != NULL,
          "every category labelled");
    CHECK(strstr(s, ">model.e.l.25.s.o.weight<title>") != NULL, "long dotted names shortened by parts");
    CHECK(strstr(s, "a.<wbr/>very_<wbr/>long/<wbr/>dotted.<wbr/>name_<wbr/>with_<wbr/>parts") != NULL,
          "table names wrap at their parts");
    CHECK(count(s, "class=\"bar pass\"") >= 1 && count(s, "class=\"bar fail\"") >= 1 &&
          count(s, "class=\"bar no-thr\"") >= 1, "bars coloured by their threshold");
    CHECK(count(s, "class=\"thr\"") >= 100, "one threshold mark per category with a threshold");
    /* the raised exponent of 10^k tick labels */
    CHECK(strstr(s, "10<tspan dy=\"-0.45em\" font-size=\"0.78em\">&#8722;") != NULL, "10^-k tick labels");
    if (out_path) {
        FILE *o = fopen(out_path, "wb");
        CHECK(o && fwrite(s, 1, len, o) == len && fclose(o) == 0, "wrote %s", out_path);
    }
    free(s);
}

int main(int argc, char **argv)
{
    test_format();
    test_ticks();
    test_page(argc > 1 ? argv[1] : NULL);
    return dlt_finish();
}
