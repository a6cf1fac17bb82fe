/* placeholder: implementation in progress */
#include "dlor_readers.h"
dlor_status dlor_read_pt(const char *path, dlor_tensor_list *out, dlor_error *err)
{
    (void)out;
    return dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: PyTorch reading is not built yet", path);
}
