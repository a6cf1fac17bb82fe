/* readers.c - picks the reader for a file from its first bytes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dlor_fileio.h"
#include "dlor_readers.h"
#include "dlor_zip.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A zip holding "<prefix>/data.pkl" (or "data.pkl") is a torch.save archive. */
static int zip_is_torch(const char *path)
{
    unsigned char *buf;
    size_t len;
    dlor_zip z;
    int torch = 0;
    if (dlor_file_read(path, DLOR_MAX_INPUT_BYTES, &buf, &len, NULL) != DLOR_OK) return 0;
    if (dlor_zip_open(&z, buf, len, path, NULL) == DLOR_OK) {
        for (size_t i = 0; i < z.count && !torch; i++) {
            const dlor_zip_entry *e = &z.entries[i];
            static const char tail[] = "data.pkl";
            size_t k = sizeof tail - 1;
            if (e->name_len >= k && memcmp(e->name + e->name_len - k, tail, k) == 0 &&
                (e->name_len == k || e->name[e->name_len - k - 1] == '/'))
                torch = 1;
        }
        dlor_zip_close(&z);
    }
    free(buf);
    return torch;
}

const char *dlor_weights_format(const char *path)
{
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) return "safetensors";
    size_t n = fread(head, 1, sizeof head, f);
    long long size = fstat(fileno(f), &st) == 0 ? (long long)st.st_size : 0;
    fclose(f);
    if (n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) return "npy";
    if (n >= 4 && (memcmp(head, "PK\x03\x04", 4) == 0 || memcmp(head, "PK\x05\x06", 4) == 0))
        return ends_with(path, ".npz") || !zip_is_torch(path) ? "npz" : "pt";
    if (n >= 5 && memcmp(head, "\x89" "DLOR", 5) == 0) return "dlor";
    /* torch.save before 1.6: a bare pickle stream starting with PROTO 2, LONG1 (magic number) */
    if (n >= 4 && head[0] == 0x80 && head[1] == 0x02 && head[2] == 0x8a && head[3] == 0x0a) return "legacy-pt";
    if (ends_with(path, ".onnx")) return "onnx";
    /* A safetensors file starts with its header length, which fits in the file;
     * an ONNX ModelProto starts with field 1 (ir_version) as a varint: 0x08. */
    if (n == 8 && head[0] == 0x08 && dlor_load_u64(head) > (unsigned long long)size) return "onnx";
    return "safetensors";
}

dlor_status dlor_read_model(const char *path, dlor_tensor_list *out, dlor_graph *graph, char *why,
                            size_t why_len, dlor_error *err)
{
    const char *fmt = dlor_weights_format(path);
    if (why && why_len) why[0] = 0;
    if (strcmp(fmt, "onnx") == 0) return dlor_read_onnx(path, out, graph, why, why_len, err);
    if (why && why_len)
        snprintf(why, why_len, "%s files store tensors only; give the layers' activation with --activation", fmt);
    if (strcmp(fmt, "npy") == 0) return dlor_read_npy(path, out, err);
    if (strcmp(fmt, "npz") == 0) return dlor_read_npz(path, out, err);
    if (strcmp(fmt, "pt") == 0) return dlor_read_pt(path, out, err);
    if (strcmp(fmt, "dlor") == 0)
        return dlor_fail(err, DLOR_E_UNSUPPORTED,
                         "%s: this is a .dlor file, not dense weights (use 'dlor info' on it)", path);
    if (strcmp(fmt, "legacy-pt") == 0)
        return dlor_fail(err, DLOR_E_UNSUPPORTED,
                         "%s: a torch.save file in the pre-1.6 (non-zip) format is not supported; load it and "
                         "save it again with torch >= 1.6, or export safetensors", path);
    return dlor_read_safetensors(path, out, err); /* also reports open errors */
}

dlor_status dlor_read_weights(const char *path, dlor_tensor_list *out, dlor_error *err)
{
    dlor_graph g;
    dlor_graph_init(&g);
    dlor_status st = dlor_read_model(path, out, &g, NULL, 0, err);
    dlor_graph_free(&g);
    return st;
}
