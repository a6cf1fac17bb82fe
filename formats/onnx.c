/* placeholder: implementation in progress */
#include "dlor_readers.h"
dlor_status dlor_read_onnx(const char *path, dlor_tensor_list *out, dlor_graph *graph, char *why,
                           size_t why_len, dlor_error *err)
{
    (void)out; (void)graph; (void)why; (void)why_len;
    return dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: ONNX reading is not built yet", path);
}
