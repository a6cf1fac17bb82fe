/* dump_common.h - JSON-lines printing shared by the test dump tools: a
 * tensor as {"name","dtype","shape","values"} with floats to 17 significant
 * digits (exact for f64) and integers exactly. */
#ifndef DLOR_DUMP_COMMON_H
#define DLOR_DUMP_COMMON_H

#include "dlor_tensor.h"

/* Prints s as a JSON string (bytes >= 0x80 pass through: names are UTF-8). */
void dump_print_str(const char *s);
/* Prints one tensor as a JSON object on its own line. */
void dump_print_tensor(const dlor_tensor *t);

#endif
