/* fuzz_common.h - what every dlor fuzz target checks after a reader returns.
 *
 * Each target in this folder exports LLVMFuzzerTestOneInput and holds one
 * property; the checks below turn a broken contract into an abort(), which
 * libFuzzer and the replay driver (replay_main.c) report like a crash:
 *
 *   - a reader either succeeds with a list whose every field is consistent
 *     (names 1..255 bytes without NUL, ndim <= 8, nelem and nbytes match the
 *     shape) and whose every data byte can be read (AddressSanitizer catches
 *     a pointer past the input), or fails with a known status, a non-empty
 *     one-line message and an empty list;
 *   - whatever a reader returns can be carried into a .dlor image, and the
 *     image reads back with the same tensors (dlor never writes a file it
 *     cannot read).
 */
#ifndef DLOR_FUZZ_COMMON_H
#define DLOR_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"
#include "dlor_graph.h"
#include "dlor_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message naming the broken property. */
void dlf_die(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;
#define DLF_REQUIRE(cond, ...)                                                  \
    do {                                                                        \
        if (!(cond)) dlf_die(__VA_ARGS__);                                      \
    } while (0)

/* Checks a reader's result as described above. */
void dlf_check_result(dlor_status st, const dlor_tensor_list *l, const dlor_error *err);

/* Checks an error record: a known failing status and a one-line message. */
void dlf_check_error(dlor_status st, const dlor_error *err);

/* Carries every tensor and metadata entry of l (metadata under "source.",
 * as dlor convert does) and the graph g (may be NULL) into a container,
 * serializes it and reads it back: a serializer refusal must be a clean
 * error, and anything serialized must parse to the same tensors. */
void dlf_check_carry(const dlor_tensor_list *l, const dlor_graph *g);

/* Resolves a graph the way the commands do from a reader's result: the
 * reader's own graph, else "dlor.graph" metadata, else nn.Sequential names
 * (relu), and checks it against the tensors. Fills g (initialised by the
 * caller). Never fails: problems must be clean errors. */
void dlf_resolve_graph(const dlor_tensor_list *l, dlor_graph *g);

/* Recomputes every checksum of a .dlor image in place (tensor CRCs that the
 * section directory lets us find, then the header CRC), so that mutated
 * images reach the checks behind the checksums. Best effort: anything out of
 * bounds is left alone. */
void dlf_fix_checksums(unsigned char *b, size_t len);

/* The whole property of a weight-file reader: parse(data, size, name, ...) is
 * checked with dlf_check_result; what it returns has its graph resolved as the
 * commands resolve it and is carried into a .dlor (dlf_check_carry). */
typedef dlor_status (*dlf_reader)(const unsigned char *data, size_t size, const char *name, dlor_tensor_list *l,
                                  dlor_error *err);
void dlf_check_reader(dlf_reader parse, const uint8_t *data, size_t size, const char *name);

#ifdef __cplusplus
}
#endif
#endif
