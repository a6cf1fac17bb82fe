/* numparse.h - strict number parsing (option values, metadata). */
#ifndef DLOR_NUMPARSE_H
#define DLOR_NUMPARSE_H

#include <stdint.h>

/* The whole string must be a number. 0 on success, -1 otherwise (v untouched). */
int dlor_parse_i64(const char *s, int64_t *v);
int dlor_parse_u64(const char *s, uint64_t *v);
int dlor_parse_double(const char *s, double *v);

#endif
