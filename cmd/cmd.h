/* cmd.h - the dlor subcommands. Each returns the process exit status:
 * 0 success, 1 failure (bad input, failed check), 2 usage error. */
#ifndef DLOR_CMD_H
#define DLOR_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"

#ifndef DLOR_VERSION_STRING
#define DLOR_VERSION_STRING "0.0.0"
#endif

int dlor_cmd_convert(int argc, char **argv);
int dlor_cmd_verify(int argc, char **argv);
int dlor_cmd_info(int argc, char **argv);
int dlor_cmd_run(int argc, char **argv);
int dlor_cmd_export_c(int argc, char **argv);
int dlor_cmd_reproduce(int argc, char **argv);
int dlor_cmd_merge(int argc, char **argv);
int dlor_cmd_bench(int argc, char **argv);

struct dlor_model;
/* Runs n samples through a model in batches (scratch allocated here), each batch
 * on a team of 'threads' workers (a dlor_pool) when threads > 1. */
dlor_status dlor_run_batches(const struct dlor_model *m, const float *x, uint64_t n, size_t batch, unsigned threads,
                             float *y, dlor_error *err);

struct dlor_container;
/* Writes the factors (and carried tensors) as safetensors; see emit.c for the names. */
dlor_status dlor_emit_safetensors(const char *path, const struct dlor_container *c, dlor_error *err);

struct dlor_container;
/* Convert's last step for a model: records where the graph came from and the
 * runtime's scratch need for a batch of one, or why there is no graph (why). */
dlor_status dlor_convert_graph_metadata(struct dlor_container *c, const char *source, const char *why,
                                        dlor_error *err);

/* Prints "dlor CMD: message" to stderr and returns the exit status: 2 for
 * DLOR_E_USAGE (the options do not fit the input), 1 otherwise. */
int dlor_cmd_fail(const char *cmd, const dlor_error *err);

/* Checks, before the work, that each output in paths[0 .. n) (NULL and "-"
 * skipped) could be written (dlor_output_check); on the first that cannot,
 * prints "dlor CMD: message" and returns 1, else 0. */
int dlor_cmd_check_outputs(const char *cmd, const char *const *paths, size_t n);

/* Names for method / basis codes of the container ("mul", "schur", ...). */
const char *dlor_method_name(int method);
const char *dlor_basis_name(int basis);

#endif
