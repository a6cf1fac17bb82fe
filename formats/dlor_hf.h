/* dlor_hf.h - Hugging Face model folders: config.json and the graph it implies.
 *
 * A Hugging Face folder holds config.json next to model.safetensors (or
 * pytorch_model.bin). For the model types whose computation dlor knows,
 * config.json plus the tensors' names and shapes give the whole graph:
 *
 *   bert   BERT-family encoders (BertModel, and sentence-transformers exports
 *          whose tensor names lack the 'bert.' prefix): inputs input_ids,
 *          attention_mask, token_type_ids; outputs last_hidden_state [N, S, H]
 *          and sentence_embedding [N, H] (the mean over the mask, L2-normalised).
 *   llama  LLaMA-family decoders: q/k/v/o projections, SiLU-gated MLP, RMSNorm,
 *          RoPE (rope_theta), grouped-query attention, a separate or tied head;
 *          inputs input_ids, attention_mask; output logits [N, S, V].
 *
 * The graph names the tensors by their Hugging Face names; every tensor it
 * reads is checked against config.json (present, float, the shape the fields
 * imply), so a config that disagrees with the weights is an error naming the
 * field. Other model types, and features dlor does not run (rope_scaling, a
 * hidden_act outside the supported ones), give no graph and a reason.
 */
#ifndef DLOR_HF_H
#define DLOR_HF_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"
#include "dlor_graph.h"
#include "dlor_tensor.h"

#define DLOR_HF_CONFIG_MAX_BYTES (16u << 20)  /* config.json files are a few KB */

/* The fields of config.json dlor reads; integers are -1 and doubles NaN when
 * absent (or null), strings empty. */
typedef struct dlor_hf_config {
    char model_type[64];
    char hidden_act[64];
    char position_embedding_type[64];
    int64_t hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size,
        vocab_size, max_position_embeddings, type_vocab_size, head_dim;
    double layer_norm_eps, rms_norm_eps, rope_theta;
    int tie_word_embeddings;  /* -1 absent, 0, 1 */
    int rope_scaling;         /* 1 when rope_scaling is present and not null */
} dlor_hf_config;

/* Parses config.json text (len bytes). 'what' names the file in messages:
 * "WHAT: invalid JSON at byte N: ...", "WHAT: hidden_size must be a positive
 * integer, not \"64\"". Unknown fields are skipped; a known field given twice
 * is an error. */
dlor_status dlor_hf_config_parse(const unsigned char *text, size_t len, const char *what, dlor_hf_config *c,
                                 dlor_error *err);

/* Builds the graph of config c over tensors t (g empty on entry). 'cfg' and
 * 'weights' name config.json and the weight file in messages. Errors
 * (DLOR_E_FORMAT) when c disagrees with t: a missing tensor, a shape other
 * than the fields imply, a field missing or out of range, heads that do not
 * divide the hidden size. Returns DLOR_OK with g left empty and a reason in
 * 'why' for a model type or feature dlor does not build a graph for. */
dlor_status dlor_hf_graph(const dlor_hf_config *c, const dlor_tensor_list *t, const char *cfg, const char *weights,
                          dlor_graph *g, char *why, size_t why_len, dlor_error *err);

/* The weight file of a Hugging Face folder: "DIR/model.safetensors", else
 * "DIR/pytorch_model.bin", written to buf. Returns buf when path is a folder
 * holding one of them, NULL when it is a folder holding neither (a message
 * saying so in err), and path itself when path is no folder. */
const char *dlor_hf_weights_path(const char *path, char *buf, size_t buf_len, dlor_error *err);

/* Recognises a Hugging Face model around weight file 'path' whose tensors were
 * read into t: when config.json lies beside it and t carries no "dlor.graph"
 * metadata (which takes precedence), reads config.json and builds the graph
 * into g. Without config.json it does nothing. Fails as dlor_hf_graph does,
 * or when config.json cannot be read or parsed; an unknown model type leaves
 * g empty and says so in 'why'. *found is 1 when config.json was used. */
dlor_status dlor_hf_recognise(const char *path, const dlor_tensor_list *t, dlor_graph *g, int *found, char *why,
                              size_t why_len, dlor_error *err);

#endif
