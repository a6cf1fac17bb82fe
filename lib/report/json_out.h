/* json_out.h - a minimal streaming JSON writer for reports. */
#ifndef DLOR_JSON_OUT_H
#define DLOR_JSON_OUT_H

#include <stdint.h>
#include <stdio.h>

typedef struct dlor_jw {
    FILE *f;
    int depth;
    int first[32];   /* no comma needed before the next item at this depth */
    int after_key;
} dlor_jw;

void dlor_jw_init(dlor_jw *w, FILE *f);
void dlor_jw_begin_obj(dlor_jw *w);
void dlor_jw_end_obj(dlor_jw *w);
void dlor_jw_begin_arr(dlor_jw *w);
void dlor_jw_end_arr(dlor_jw *w);
void dlor_jw_key(dlor_jw *w, const char *k);
void dlor_jw_str(dlor_jw *w, const char *s);
void dlor_jw_u64(dlor_jw *w, uint64_t v);
void dlor_jw_num(dlor_jw *w, double v);   /* non-finite values become null */
void dlor_jw_bool(dlor_jw *w, int v);

#endif
