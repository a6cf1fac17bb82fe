/* json_out.c - a minimal streaming JSON writer for reports. */
#include "json_out.h"

#include <inttypes.h>
#include <math.h>

void dlor_jw_init(dlor_jw *w, FILE *f)
{
    w->f = f;
    w->depth = 0;
    w->first[0] = 1;
    w->after_key = 0;
}

static void item(dlor_jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (!w->first[w->depth]) fputc(',', w->f);
    if (w->depth > 0) fprintf(w->f, "\n%*s", 2 * w->depth, "");
    w->first[w->depth] = 0;
}

static void open_(dlor_jw *w, char c)
{
    item(w);
    fputc(c, w->f);
    if (w->depth < 31) w->depth++;
    w->first[w->depth] = 1;
}

static void close_(dlor_jw *w, char c)
{
    int empty = w->first[w->depth];
    if (w->depth > 0) w->depth--;
    if (!empty) fprintf(w->f, "\n%*s", 2 * w->depth, "");
    fputc(c, w->f);
    if (w->depth == 0) fputc('\n', w->f);
}

void dlor_jw_begin_obj(dlor_jw *w) { open_(w, '{'); }
void dlor_jw_end_obj(dlor_jw *w) { close_(w, '}'); }
void dlor_jw_begin_arr(dlor_jw *w) { open_(w, '['); }
void dlor_jw_end_arr(dlor_jw *w) { close_(w, ']'); }

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void dlor_jw_key(dlor_jw *w, const char *k)
{
    item(w);
    put_str(w->f, k);
    fputs(": ", w->f);
    w->after_key = 1;
}

void dlor_jw_str(dlor_jw *w, const char *s)
{
    item(w);
    put_str(w->f, s);
}

void dlor_jw_u64(dlor_jw *w, uint64_t v)
{
    item(w);
    fprintf(w->f, "%" PRIu64, v);
}

void dlor_jw_num(dlor_jw *w, double v)
{
    item(w);
    if (isfinite(v)) fprintf(w->f, "%.17g", v);
    else fputs("null", w->f);
}

void dlor_jw_bool(dlor_jw *w, int v)
{
    item(w);
    fputs(v ? "true" : "false", w->f);
}
