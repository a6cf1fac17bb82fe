/* dlor_safetensors.h - writing safetensors files. */
#ifndef DLOR_SAFETENSORS_H
#define DLOR_SAFETENSORS_H

#include "dlor_tensor.h"

/* Writes every tensor of l (and l's string metadata as __metadata__) to path,
 * atomically. Tensors are laid out in name order; the header is padded with
 * spaces so the data starts 8-byte aligned. Names and metadata are escaped as
 * JSON strings. */
dlor_status dlor_safetensors_write(const char *path, const dlor_tensor_list *l, dlor_error *err);

#endif
