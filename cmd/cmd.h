/* cmd.h - the dlor subcommands. Each returns the process exit status:
 * 0 success, 1 failure (bad input, failed check), 2 usage error. */
#ifndef DLOR_CMD_H
#define DLOR_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "convert.h"
#include "dlor_error.h"

int dlor_cmd_convert(int argc, char **argv);
int dlor_cmd_verify(int argc, char **argv);
int dlor_cmd_info(int argc, char **argv);
int dlor_cmd_run(int argc, char **argv);
int dlor_cmd_export_c(int argc, char **argv);
int dlor_cmd_reproduce(int argc, char **argv);
int dlor_cmd_merge(int argc, char **argv);
int dlor_cmd_bench(int argc, char **argv);

/* Prints "dlor CMD: message" to stderr and returns the exit status: 2 for
 * DLOR_E_USAGE (the options do not fit the input), 1 otherwise. */
int dlor_cmd_fail(const char *cmd, const dlor_error *err);

/* Where a conversion's lines (dlor_convert_hooks: ctx a dlor_cmd_lines, line
 * dlor_cmd_line) go: notes ("dlor convert: note: ...") and progress on
 * stderr, a progress line rewritten in place when stderr is a terminal; the
 * plan on stdout for a dry run (its result), else on stderr. */
typedef struct dlor_cmd_lines {
    int tty;             /* stderr is a terminal */
    int plan_to_stdout;
    int pending;         /* a progress line is on the terminal, to be overwritten */
} dlor_cmd_lines;
void dlor_cmd_lines_init(dlor_cmd_lines *l, int plan_to_stdout);
void dlor_cmd_line(void *ctx, int kind, const char *text);

/* Checks an --activation value (NULL: not given) before any file is read: 0 when
 * it names an activation, else prints "dlor CMD: ..." and returns 2. */
int dlor_check_activation_opt(const char *cmd, const char *activation);

/* Warns on stderr ("dlor CMD: warning: ...") when the n x features inputs read
 * from path (float32 xf or double xd, the other NULL) hold NaN or infinite
 * values: the runtime carries them through (as PyTorch does), so those
 * samples' outputs will not be finite. Quiet when every value is finite. */
void dlor_cmd_warn_nonfinite(const char *cmd, const char *path, const float *xf, const double *xd, uint64_t n,
                             uint64_t features);

/* An output a command writes: the option that names it (for messages), its
 * path (NULL: not asked for; "-": standard output) and what may go to
 * standard output. */
typedef enum dlor_out_kind {
    DLOR_OUT_TEXT,       /* text (a report, a C header): "-" is standard output */
    DLOR_OUT_BINARY,     /* a binary stream (.npy, .dlor): "-" too, but not onto a terminal */
    DLOR_OUT_FILE        /* only a file or folder: "-" is refused */
} dlor_out_kind;
typedef struct dlor_cmd_output {
    const char *opt;
    const char *path;
    dlor_out_kind kind;
} dlor_cmd_output;

/* Checks, before the work, the outputs out[0 .. nout) of a command whose
 * input files are in[0 .. nin) (NULL entries skipped):
 *   - usage errors (exit status 2): "-" for a DLOR_OUT_FILE output, more than
 *     one output on standard output, a binary output to a terminal, and an
 *     output that is an input or another output (dlor_same_file: links and
 *     differently spelled paths included), which would clobber it;
 *   - then that every output other than "-" could be written now
 *     (dlor_output_check; exit status 1 when not).
 * Prints one "dlor CMD: message" line and returns the exit status, or returns
 * 0. When an output is "-", standard output is then reserved for it
 * (dlor_stdout_claim): everything else the command prints goes to stderr. */
int dlor_cmd_check_outputs(const char *cmd, const dlor_cmd_output *out, size_t nout, const char *const *in,
                           size_t nin);

#endif
