/* readers.c - picks the reader for a file from its first bytes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dlor_fileio.h"
#include "dlor_hf.h"
#include "dlor_readers.h"
#include "dlor_zip.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A zip holding "<prefix>/data.pkl" (or "data.pkl") is a torch.save archive.
 * Returns 1 if it is one, 0 if not (or if the file is unreadable: the reader
 * then says why), -1 when memory ran out (err set). */
static int zip_is_torch(const char *path, dlor_error *err)
{
    unsigned char *buf;
    size_t len;
    dlor_zip z;
    dlor_error e;
    int torch = 0;
    dlor_status st = dlor_file_read(path, DLOR_MAX_INPUT_BYTES, &buf, &len, &e);
    if (st != DLOR_OK) {
        if (st != DLOR_E_NOMEM) return 0;
        if (err) *err = e;
        return -1;
    }
    st = dlor_zip_open(&z, buf, len, path, &e);
    if (st == DLOR_OK) {
        for (size_t i = 0; i < z.count && !torch; i++) {
            const dlor_zip_entry *ze = &z.entries[i];
            static const char tail[] = "data.pkl";
            size_t k = sizeof tail - 1;
            if (ze->name_len >= k && memcmp(ze->name + ze->name_len - k, tail, k) == 0 &&
                (ze->name_len == k || ze->name[ze->name_len - k - 1] == '/'))
                torch = 1;
        }
        dlor_zip_close(&z);
    } else if (st == DLOR_E_NOMEM) {
        if (err) *err = e;
        torch = -1;
    }
    free(buf);
    return torch;
}

/* A safetensors file starts with its header length, which fits in the file,
 * and a JSON object after it (JSON whitespace allowed before the '{'). */
static int looks_safetensors(const unsigned char *head, size_t n, long long size)
{
    if (n < 9 || dlor_load_u64(head) > (unsigned long long)(size - 8)) return 0;
    for (size_t i = 8; i < n; i++) {
        if (head[i] == '{') return 1;
        if (head[i] != ' ' && head[i] != '\t' && head[i] != '\n' && head[i] != '\r') return 0;
    }
    return 1; /* whitespace as far as read */
}

dlor_status dlor_sniff_format(const char *path, const char **format, dlor_error *err)
{
    static const struct {
        const char *ext, *format;
    } by_ext[] = {{".safetensors", "safetensors"}, {".npy", "npy"}, {".npz", "npz"},
                  {".onnx", "onnx"},               {".pt", "pt"},   {".pth", "pt"}}; /* .dlor: by its magic alone */
    unsigned char head[64] = {0};
    char hf[4096];
    dlor_error e;
    const char *file = dlor_hf_weights_path(path, hf, sizeof hf, &e);
    if (file) path = file; /* a Hugging Face folder: its weight file */
    FILE *f = fopen(path, "rb");
    struct stat st;
    const char *ext_format = NULL;
    for (size_t i = 0; i < sizeof by_ext / sizeof by_ext[0]; i++)
        if (ends_with(path, by_ext[i].ext)) ext_format = by_ext[i].format;
    /* a file that cannot be read goes to its reader, which says why */
    *format = ext_format ? ext_format : "safetensors";
    if (!f) return DLOR_OK;
    int regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    long long size = regular ? (long long)st.st_size : 0;
    size_t n = regular ? fread(head, 1, sizeof head, f) : 0;
    fclose(f);
    if (!regular) return DLOR_OK;
    if (n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) *format = "npy";
    else if (n >= 4 && (memcmp(head, "PK\x03\x04", 4) == 0 || memcmp(head, "PK\x05\x06", 4) == 0)) {
        int torch = ends_with(path, ".npz") ? 0 : zip_is_torch(path, err);
        if (torch < 0) return DLOR_E_NOMEM;
        *format = torch ? "pt" : "npz";
    } else if (n >= 5 && memcmp(head, "\x89" "DLOR", 5) == 0) *format = "dlor";
    /* GGUF (llama.cpp) is refused at its magic, before any of its fields is read */
    else if (n >= 4 && memcmp(head, "GGUF", 4) == 0) *format = "gguf";
    /* torch.save before 1.6: a bare pickle stream starting with PROTO 2, LONG1 (magic number) */
    else if (n >= 4 && head[0] == 0x80 && head[1] == 0x02 && head[2] == 0x8a && head[3] == 0x0a) *format = "legacy-pt";
    else if (ends_with(path, ".onnx")) *format = "onnx";
    else if (looks_safetensors(head, n, size)) *format = "safetensors";
    /* an ONNX ModelProto starts with field 1 (ir_version) as a varint: 0x08 */
    else if (n >= 2 && head[0] == 0x08) *format = "onnx";
    /* by its name, its reader says what is wrong with it; else it is no model file */
    else if (!ext_format) *format = "unknown";
    return DLOR_OK;
}

const char *dlor_weights_format(const char *path)
{
    const char *fmt;
    return dlor_sniff_format(path, &fmt, NULL) == DLOR_OK ? fmt : "npz"; /* a zip it could not look into */
}

/* Reads a model file (or a Hugging Face folder's weight file); with 'recognise',
 * a config.json beside a safetensors or torch file gives its graph. */
static dlor_status read_model(const char *path, dlor_tensor_list *out, dlor_graph *graph, int recognise, char *why,
                              size_t why_len, dlor_error *err)
{
    const char *fmt;
    char hf[4096];
    dlor_error e;
    const char *file = dlor_hf_weights_path(path, hf, sizeof hf, &e);
    if (!file) {
        if (err) *err = e;
        return e.code;
    }
    path = file;
    dlor_status st = dlor_sniff_format(path, &fmt, err);
    if (st != DLOR_OK) return st;
    if (why && why_len) why[0] = 0;
    if (strcmp(fmt, "onnx") == 0) return dlor_read_onnx(path, out, graph, why, why_len, err);
    if (why && why_len)
        snprintf(why, why_len, "%s files store tensors only; give the layers' activation with --activation", fmt);
    if (strcmp(fmt, "npy") == 0) return dlor_read_npy(path, out, err);
    if (strcmp(fmt, "npz") == 0) return dlor_read_npz(path, out, err);
    if (strcmp(fmt, "dlor") == 0)
        return dlor_fail(err, DLOR_E_UNSUPPORTED,
                         "%s: this is a .dlor file, not dense weights (use 'dlor info' on it)", path);
    if (strcmp(fmt, "gguf") == 0)
        return dlor_fail(err, DLOR_E_UNSUPPORTED,
                         "%s: a GGUF file; dlor does not read GGUF (export the model as safetensors)", path);
    if (strcmp(fmt, "unknown") == 0)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "%s: not a model file (formats read: safetensors, NumPy .npy and .npz, ONNX, PyTorch .pt, "
                         ".dlor)", path);
    if (strcmp(fmt, "legacy-pt") == 0)
        return dlor_fail(err, DLOR_E_UNSUPPORTED,
                         "%s: a torch.save file in the pre-1.6 (non-zip) format is not supported; load it and "
                         "save it again with torch >= 1.6, or export safetensors", path);
    /* safetensors also reports open errors */
    st = strcmp(fmt, "pt") == 0 ? dlor_read_pt(path, out, err) : dlor_read_safetensors(path, out, err);
    if (st != DLOR_OK || !recognise) return st;
    /* a Hugging Face model: config.json beside the weights gives the graph */
    char reason[512] = "";
    int found = 0;
    st = dlor_hf_recognise(path, out, graph, &found, reason, sizeof reason, err);
    if (st != DLOR_OK) {
        dlor_tensor_list_free(out);
        dlor_tensor_list_init(out);
    } else if (found && why && why_len) {
        snprintf(why, why_len, "%s", reason);
    }
    return st;
}

dlor_status dlor_read_model(const char *path, dlor_tensor_list *out, dlor_graph *graph, char *why,
                            size_t why_len, dlor_error *err)
{
    return read_model(path, out, graph, 1, why, why_len, err);
}

dlor_status dlor_read_weights(const char *path, dlor_tensor_list *out, dlor_error *err)
{
    dlor_graph g;
    dlor_graph_init(&g);
    dlor_status st = read_model(path, out, &g, 0, NULL, 0, err);
    dlor_graph_free(&g);
    return st;
}
