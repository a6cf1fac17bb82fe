/* cost_report.h - the static cost of one inference of a .dlor model, as dlor
 * export-c and dlor info print it: flash bytes of the image, scratch RAM for a
 * batch of one, multiply-accumulates per graph operation and in total (computed
 * by the runtime: dlor_model_op_cost in dlor_runtime.h). */
#ifndef DLOR_COST_REPORT_H
#define DLOR_COST_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "dlor_runtime.h"
#include "json_out.h"

/* Text lines, each starting with prefix (" * " inside a C comment, "" on a terminal). */
void dlor_cost_print(FILE *f, const char *prefix, const dlor_model *m, size_t image_bytes);

/* The same as the value of a JSON key: {"flash_bytes", "scratch_bytes", "macs", "ops": [...]}. */
void dlor_cost_json(dlor_jw *w, const dlor_model *m, size_t image_bytes);

#endif
