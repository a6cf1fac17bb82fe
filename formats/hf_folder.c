/* hf_folder.c - finding a Hugging Face folder's files and recognising its model
 * (see dlor_hf.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dlor_fileio.h"
#include "dlor_hf.h"

static int is_dir(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0 && S_ISDIR(s.st_mode);
}

static int is_file(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

const char *dlor_hf_weights_path(const char *path, char *buf, size_t buf_len, dlor_error *err)
{
    static const char *const names[] = {"model.safetensors", "pytorch_model.bin"};
    if (!is_dir(path)) return path;
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* "dir/" names dir */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (snprintf(buf, buf_len, "%.*s/%s", (int)n, path, names[i]) >= (int)buf_len) {
            dlor_fail(err, DLOR_E_ARG, "%s: path too long", path);
            return NULL;
        }
        if (is_file(buf)) return buf;
    }
    char index[4096];
    snprintf(index, sizeof index, "%.*s/model.safetensors.index.json", (int)n, path);
    if (is_file(index))
        dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: a folder with a sharded checkpoint (model.safetensors.index.json); "
                                           "dlor reads one model.safetensors", path);
    else
        dlor_fail(err, DLOR_E_FORMAT, "%s: a folder without model.safetensors or pytorch_model.bin (give a model "
                                      "file or a Hugging Face model folder)", path);
    return NULL;
}

dlor_status dlor_hf_recognise(const char *path, const dlor_tensor_list *t, dlor_graph *g, int *found, char *why,
                              size_t why_len, dlor_error *err)
{
    *found = 0;
    for (size_t i = 0; i < t->meta_count; i++)
        if (strcmp(t->meta_keys[i], "dlor.graph") == 0) return DLOR_OK; /* a graph given by hand wins */
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    char cfg[4096];
    if (dir_len + sizeof "config.json" > sizeof cfg) return DLOR_OK;
    snprintf(cfg, sizeof cfg, "%.*sconfig.json", (int)dir_len, path);
    struct stat s;
    if (stat(cfg, &s) != 0 && errno == ENOENT) return DLOR_OK;
    unsigned char *text;
    size_t len;
    dlor_status st = dlor_file_read(cfg, DLOR_HF_CONFIG_MAX_BYTES, &text, &len, err);
    if (st != DLOR_OK) return st;
    dlor_hf_config c;
    st = dlor_hf_config_parse(text, len, cfg, &c, err);
    free(text);
    if (st == DLOR_OK) st = dlor_hf_graph(&c, t, cfg, path, g, why, why_len, err);
    if (st == DLOR_OK) *found = 1;
    return st;
}
