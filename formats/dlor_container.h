/* dlor_container.h - reading and writing .dlor files on a host.
 *
 * The byte layout is specified in DLOR_FORMAT.md; validation is done by the
 * shared in-place parser (dlor_image.h). This layer adds what a host needs:
 * building a container in memory, writing it atomically (temporary file +
 * rename), and reading a file into the neutral tensor list.
 */
#ifndef DLOR_CONTAINER_H
#define DLOR_CONTAINER_H

#include <stdint.h>

#include "dlor_error.h"
#include "dlor_graph.h"
#include "dlor_image.h"
#include "dlor_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dlor_layer_desc {
    char *name;                 /* original weight's name */
    int method;                 /* DLOR_IMAGE_MUL / DLOR_IMAGE_ADD */
    int basis;                  /* DLOR_IMAGE_SCHUR / _RANDOM / _SVD */
    uint64_t rows, cols, rank, factors;
    double alpha;
    char *u_name, *v_name;      /* names of the U^T and V^T tensors */
    dlor_dtype source_dtype;
    uint64_t seed;
    int u_layout;               /* how the file stores the U tensor: DLOR_IMAGE_U_ROWS (0) or
                                   DLOR_IMAGE_U_PANELS (DLOR_FORMAT.md 7.6). In memory the U
                                   tensor always holds plain rows of U^T: the writer reorders
                                   it into panels and the reader back. */
    char *base_name;            /* add layers only (DLOR_FORMAT.md 7.2, 1.7): the [rows, cols] base
                                   tensor B of W = B + (the layer's matrix), or NULL for none */
} dlor_layer_desc;

typedef struct dlor_container {
    dlor_tensor_list tensors;   /* all tensors; string metadata in tensors.meta_* */
    dlor_layer_desc *layers;
    size_t nlayers, layers_cap;
    dlor_graph graph;           /* empty: tensors only. A LINEAR op's weight names a
                                   layer (DLoR) or a carried 2-D tensor (dense). */
} dlor_container;

void dlor_container_init(dlor_container *c);
void dlor_container_free(dlor_container *c);

/* Copies d (and its strings) into c. */
dlor_status dlor_container_add_layer(dlor_container *c, const dlor_layer_desc *d, dlor_error *err);

/* Returns the layer with this name or NULL. */
const dlor_layer_desc *dlor_container_find_layer(const dlor_container *c, const char *name);

/* Sets every layer's u_layout. */
void dlor_container_set_u_layout(dlor_container *c, int u_layout);

/* Writes c to path atomically. Checks names, limits, duplicate names and
 * that every layer's factor tensors exist with the shapes DLOR_FORMAT.md
 * section 7 requires (and that a U tensor stored in panels belongs to its
 * layer alone). On failure no file is left and an existing file at
 * path is untouched. */
dlor_status dlor_container_write(const char *path, const dlor_container *c, dlor_error *err);

/* As dlor_container_write, with everything after the 64-byte preamble stored
 * as one zlib stream (flags_required bit 0, DLOR_FORMAT.md 3.1). Hosts inflate
 * it when loading; the embedded runtime refuses such an image. */
dlor_status dlor_container_write_deflated(const char *path, const dlor_container *c, dlor_error *err);

/* Returns a 64-byte aligned malloc'd copy of an image in memory, inflated when
 * it is compressed (a plain copy otherwise; validate it with dlor_image_open).
 * Inflation produces exactly the size the preamble gives, which is checked
 * against what the compressed bytes can possibly hold. */
dlor_status dlor_image_inflate(const unsigned char *buf, size_t len, const char *what, unsigned char **out,
                               size_t *out_len, dlor_error *err);
/* Reads a .dlor file and returns it as dlor_image_inflate does. */
dlor_status dlor_image_load_file(const char *path, unsigned char **out, size_t *out_len, dlor_error *err);

/* Serializes c into a malloc'd, 64-byte aligned buffer (free with free()). */
dlor_status dlor_container_to_memory(const dlor_container *c, unsigned char **buf, size_t *len,
                                     dlor_error *err);

/* Parses an in-memory image into c (tensor data points into buf, which must
 * outlive c). flags: DLOR_IMAGE_CHECK_CRC. c must be initialised; it is left
 * empty on failure. */
dlor_status dlor_container_parse(const unsigned char *buf, size_t len, const char *what,
                                 unsigned flags, dlor_container *c, dlor_error *err);

/* Reads and fully validates a .dlor file (CRCs included); c owns the bytes. */
dlor_status dlor_container_read(const char *path, dlor_container *c, dlor_error *err);

#ifdef __cplusplus
}
#endif
#endif
