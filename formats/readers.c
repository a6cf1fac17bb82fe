/* readers.c - picks the reader for a weight file from its first bytes. */
#include <stdio.h>
#include <string.h>

#include "dlor_readers.h"

const char *dlor_weights_format(const char *path)
{
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return "safetensors";
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) return "npy";
    if (n >= 4 && (memcmp(head, "PK\x03\x04", 4) == 0 || memcmp(head, "PK\x05\x06", 4) == 0))
        return "npz";
    if (n >= 5 && memcmp(head, "\x89" "DLOR", 5) == 0) return "dlor";
    return "safetensors";
}

dlor_status dlor_read_weights(const char *path, dlor_tensor_list *out, dlor_error *err)
{
    const char *fmt = dlor_weights_format(path);
    if (strcmp(fmt, "npy") == 0) return dlor_read_npy(path, out, err);
    if (strcmp(fmt, "npz") == 0) return dlor_read_npz(path, out, err);
    if (strcmp(fmt, "dlor") == 0)
        return dlor_fail(err, DLOR_E_UNSUPPORTED,
                         "%s: this is a .dlor file, not dense weights (use 'dlor info' on it)", path);
    return dlor_read_safetensors(path, out, err); /* also reports open errors */
}
