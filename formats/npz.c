/* npz.c - NumPy .npz reader: a zip of .npy members, stored or deflated. */
#include <stdio.h>
#include <string.h>

#include "dlor_fileio.h"
#include "dlor_readers.h"
#include "dlor_zip.h"

/* Appends every member of the archive in buf to out; on failure the caller
 * frees out. */
static dlor_status npz_append(const unsigned char *buf, size_t len, const char *what,
                              dlor_tensor_list *out, dlor_error *err)
{
    dlor_zip z;
    dlor_status st = dlor_zip_open(&z, buf, len, what, err);
    if (st != DLOR_OK) return st;
    uint64_t inflated = 0;
    for (size_t i = 0; i < z.count && st == DLOR_OK; i++) {
        const dlor_zip_entry *e = &z.entries[i];
        char nm[200], mwhat[DLOR_ERROR_MSG_MAX];
        dlor_zip_quote(e->name, e->name_len, nm, sizeof nm);
        if (e->name_len <= 4 || memcmp(e->name + e->name_len - 4, ".npy", 4) != 0) {
            st = dlor_fail(err, DLOR_E_FORMAT,
                           "%s: member '%s' is not a .npy file (every .npz member must end in .npy)",
                           what, nm);
            break;
        }
        const unsigned char *data;
        size_t size;
        unsigned char *block;
        /* inflated output across all members stays under the input limit */
        st = dlor_zip_extract(&z, i, what, DLOR_MAX_INPUT_BYTES - inflated, &data, &size, &block, err);
        if (st != DLOR_OK) break;
        if (block) {
            inflated += size;
            if ((st = dlor_tensor_list_own(out, block, err)) != DLOR_OK) break;
        }
        snprintf(mwhat, sizeof mwhat, "%s: member '%s'", what, nm);
        st = dlor_npy_append(data, size, mwhat, (const char *)e->name, e->name_len - 4, out, err);
    }
    if (st == DLOR_OK) st = dlor_tensor_list_check_unique(out, what, err);
    dlor_zip_close(&z);
    return st;
}

dlor_status dlor_npz_parse(const unsigned char *buf, size_t len, const char *what,
                           dlor_tensor_list *out, dlor_error *err)
{
    if (!buf || !what || !out) return dlor_fail(err, DLOR_E_ARG, "dlor_npz_parse: NULL argument");
    dlor_status st = npz_append(buf, len, what, out, err);
    if (st != DLOR_OK) dlor_tensor_list_free(out);
    return st;
}

dlor_status dlor_read_npz(const char *path, dlor_tensor_list *out, dlor_error *err)
{
    unsigned char *buf;
    size_t len;
    dlor_status st = dlor_file_read(path, DLOR_MAX_INPUT_BYTES, &buf, &len, err);
    if (st != DLOR_OK) return st;
    if ((st = dlor_tensor_list_own(out, buf, err)) == DLOR_OK)
        st = npz_append(buf, len, path, out, err);
    if (st != DLOR_OK) dlor_tensor_list_free(out);
    return st;
}
