/* dlor_readers.h - readers for dense weight files.
 *
 * Each reader turns one file into a dlor_tensor_list (see dlor_tensor.h) and
 * knows nothing about what happens to the tensors afterwards. Every count,
 * length, offset and dimension in a file is treated as hostile: arithmetic is
 * overflow-checked and checked against the bytes actually present before
 * anything is allocated.
 *
 * Contract shared by all readers:
 *   - 'out' must be initialised (dlor_tensor_list_init). On success it holds
 *     the tensors (LE, C order); on failure it is left empty and err names
 *     the file, the tensor when there is one, and what is wrong.
 *   - The *_parse variants read from memory. Tensor data may point into buf,
 *     so buf must outlive 'out'. 'what' is the name used in messages.
 *   - The dlor_read_* variants read the file and make 'out' own the bytes.
 */
#ifndef DLOR_READERS_H
#define DLOR_READERS_H

#include <stddef.h>

#include "dlor_graph.h"
#include "dlor_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest input file any reader accepts. */
#define DLOR_MAX_INPUT_BYTES ((size_t)1 << 40)

/* safetensors: F32 F64 F16 BF16 (and integer/bool dtypes, carried as bytes).
 * Header JSON at most 100,000,000 bytes. __metadata__ goes to the list's
 * string metadata. */
#define DLOR_SAFETENSORS_MAX_HEADER 100000000ull
dlor_status dlor_safetensors_parse(const unsigned char *buf, size_t len, const char *what,
                                   dlor_tensor_list *out, dlor_error *err);
dlor_status dlor_read_safetensors(const char *path, dlor_tensor_list *out, dlor_error *err);

/* NumPy .npy (format 1.0, 2.0, 3.0). 'name' is the tensor's name. */
#define DLOR_NPY_MAX_HEADER 10000u
dlor_status dlor_npy_parse(const unsigned char *buf, size_t len, const char *what,
                           const char *name, dlor_tensor_list *out, dlor_error *err);
/* The tensor is named after the file's basename without ".npy". */
dlor_status dlor_read_npy(const char *path, dlor_tensor_list *out, dlor_error *err);

/* NumPy .npz (zip of .npy members, stored or deflated, zip64 aware).
 * Members are named without the ".npy" suffix. */
dlor_status dlor_npz_parse(const unsigned char *buf, size_t len, const char *what,
                           dlor_tensor_list *out, dlor_error *err);
dlor_status dlor_read_npz(const char *path, dlor_tensor_list *out, dlor_error *err);

/* ONNX (ModelProto, protobuf wire format). Initializers become tensors (F32,
 * F64, F16, BF16 and integer types; raw_data or the typed repeated fields).
 * The graph is recovered when it is a chain dlor can run (Gemm, MatMul + Add,
 * the activation ops, no-op Flatten/Identity/Reshape, the exported GELU
 * pattern; see dlor_graph.h), possibly with LayerNorms (one node or the
 * decomposed form) and residual Adds, which make it a graph of values;
 * otherwise 'graph' stays empty and 'why' says
 * why, and the tensors are still returned. External data is read only from
 * files inside the model's folder. model_dir may be NULL for the in-memory
 * parser, which then refuses external data. */
#define DLOR_ONNX_MAX_DEPTH 64
dlor_status dlor_onnx_parse(const unsigned char *buf, size_t len, const char *what,
                            const char *model_dir, dlor_tensor_list *out, dlor_graph *graph,
                            char *why, size_t why_len, dlor_error *err);
dlor_status dlor_read_onnx(const char *path, dlor_tensor_list *out, dlor_graph *graph, char *why,
                           size_t why_len, dlor_error *err);

/* PyTorch state dict saved by torch.save (zip format, torch >= 1.6), read by
 * a restricted unpickler that never executes anything. Tensor names are the
 * state-dict keys. */
dlor_status dlor_pt_parse(const unsigned char *buf, size_t len, const char *what,
                          dlor_tensor_list *out, dlor_error *err);
dlor_status dlor_read_pt(const char *path, dlor_tensor_list *out, dlor_error *err);

/* Name of the format dlor_read_model would use for this file (for a Hugging
 * Face folder, its weight file's), from its first bytes, else from its name:
 * "npy", "npz", "pt", "onnx", "dlor" or
 * "safetensors" (also for files that cannot be read, whose reader then says
 * why); "gguf", "legacy-pt" and "unknown" (no model file dlor reads) for
 * files it refuses. */
const char *dlor_weights_format(const char *path);
/* The same, failing with DLOR_E_NOMEM when memory runs out while a zip is
 * looked into (dlor_weights_format then guesses "npz"). */
dlor_status dlor_sniff_format(const char *path, const char **format, dlor_error *err);

/* Sniffs the file and dispatches to the right reader. 'graph' (initialised by
 * the caller) receives the model graph when the format carries one (ONNX), or
 * when a config.json beside a safetensors or torch file describes a model
 * dlor knows (dlor_hf.h: Hugging Face bert and llama); otherwise it stays
 * empty and 'why' (may be NULL) says why. A config.json that disagrees with
 * the tensors is an error. 'path' may be a Hugging Face folder, which stands
 * for its model.safetensors (or pytorch_model.bin). A .dlor file is refused
 * with a message saying so. */
dlor_status dlor_read_model(const char *path, dlor_tensor_list *out, dlor_graph *graph, char *why,
                            size_t why_len, dlor_error *err);
/* dlor_read_model without the graph (config.json is not read). */
dlor_status dlor_read_weights(const char *path, dlor_tensor_list *out, dlor_error *err);

#ifdef __cplusplus
}
#endif
#endif
