/* outputs.c - the files a layer-form conversion writes: the .dlor file and the
 * ones emitted beside it (factors, rebuilt dense weights, the rewritten ONNX
 * model), all of them or none. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert.h"
#include "dlor_emit.h"
#include "dlor_onnx_rewrite.h"

dlor_status dlor_convert_write_outputs(const char *in, const dlor_tensor_list *src, const dlor_container *c,
                                       const dlor_convert_outputs *o, dlor_error *err)
{
    const char *emits[] = {o->emit, o->emit_dense, o->emit_onnx};
    enum { NEMIT = sizeof emits / sizeof emits[0] };
    char *tmp[NEMIT] = {NULL};
    dlor_status st = DLOR_OK;
    for (int k = 0; k < NEMIT && st == DLOR_OK; k++) {
        if (!emits[k]) continue;
        size_t n = strlen(emits[k]) + 32;
        if (!(tmp[k] = malloc(n))) st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", emits[k]);
        else snprintf(tmp[k], n, "%s.pending.%ld", emits[k], (long)getpid());
        if (st == DLOR_OK)
            st = k == 0   ? dlor_emit_safetensors(tmp[k], c, src, err)
                 : k == 1 ? dlor_emit_dense(tmp[k], src, c, err)
                          : dlor_onnx_rewrite(tmp[k], in, c, err);
        size_t tl = tmp[k] ? strlen(tmp[k]) : 0;
        if (st != DLOR_OK && tl && err && strncmp(err->msg, tmp[k], tl) == 0) { /* name the file asked for */
            char rest[DLOR_ERROR_MSG_MAX];
            snprintf(rest, sizeof rest, "%s", err->msg + tl);
            dlor_fail(err, st, "%s%s", emits[k], rest);
        }
    }
    if (st == DLOR_OK)
        st = o->deflate ? dlor_container_write_deflated(o->dlor, c, err) : dlor_container_write(o->dlor, c, err);
    for (int k = 0; k < NEMIT; k++) {
        if (!tmp[k]) continue;
        if (st == DLOR_OK && rename(tmp[k], emits[k]) != 0)
            st = dlor_fail(err, DLOR_E_IO, "%s: cannot rename output into place: %s", emits[k], strerror(errno));
        if (st != DLOR_OK) unlink(tmp[k]);
        free(tmp[k]);
    }
    return st;
}
