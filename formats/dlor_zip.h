/* dlor_zip.h - internal: a read-only zip walker over a buffer in memory, and
 * the pieces the .npz reader shares with the .npy reader. Not a public header.
 *
 * dlor_zip_open validates the whole archive before returning: the end record
 * (zip64 aware), every central directory entry, the local header of every
 * member (it must agree with the central directory), that member data lies in
 * the file before the central directory, that no two members overlap, that no
 * name repeats, and that names are relative paths without "..", backslashes
 * or NUL. Encryption, data descriptors, multi-disk archives and methods other
 * than 0 (stored) and 8 (deflate) are refused. Entries keep pointers into the
 * buffer, which must outlive the dlor_zip.
 */
#ifndef DLOR_ZIP_H
#define DLOR_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_tensor.h"

typedef struct dlor_zip_entry {
    const unsigned char *name; /* into the buffer; not NUL-terminated */
    size_t name_len;
    uint16_t flags, method;
    uint32_t crc;
    uint64_t csize, usize;     /* compressed / uncompressed bytes (zip64 resolved) */
    uint64_t header_offset;    /* local file header */
    uint64_t data_offset;      /* first byte of the member data */
    uint64_t data_end;         /* end of the data and of its data descriptor, if any */
} dlor_zip_entry;

typedef struct dlor_zip {
    const unsigned char *buf;
    size_t len;
    dlor_zip_entry *entries;   /* in central directory order */
    size_t count;
} dlor_zip;

/* Largest number of members an archive may have. */
#define DLOR_ZIP_MAX_ENTRIES (1u << 20)

/* Parses and validates the archive. On failure z is left empty (close is
 * still harmless). 'what' names the file in messages. */
dlor_status dlor_zip_open(dlor_zip *z, const unsigned char *buf, size_t len, const char *what,
                          dlor_error *err);
void dlor_zip_close(dlor_zip *z);

/* Returns the bytes of entry i and checks their CRC-32. A stored member
 * points into the buffer (*block = NULL); a deflated one is inflated into a
 * malloc'd *block that the caller frees. Output never exceeds the declared
 * uncompressed size; an entry declaring more than max_out bytes is refused
 * with DLOR_E_LIMIT before anything is allocated. */
dlor_status dlor_zip_extract(const dlor_zip *z, size_t i, const char *what, uint64_t max_out,
                             const unsigned char **data, size_t *size, unsigned char **block,
                             dlor_error *err);

/* Writes s[0..n) into out for use in a message: printable ASCII as is,
 * anything else as \xNN, cut with "..." when it does not fit. Returns out. */
const char *dlor_zip_quote(const unsigned char *s, size_t n, char *out, size_t outsz);

/* The .npy parser, appending to a list that may already hold tensors (the
 * .npz reader calls it once per member). On failure the list may hold extra
 * owned blocks but no new tensor; the caller frees the list. */
dlor_status dlor_npy_append(const unsigned char *buf, size_t len, const char *what,
                            const char *name, size_t name_len, dlor_tensor_list *out,
                            dlor_error *err);

#endif
