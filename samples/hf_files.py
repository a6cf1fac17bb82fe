"""Writing a trained PyTorch transformer the way a Hugging Face folder holds it.

Shared by bert-tiny/train.py and llama-tiny/train.py (Debian's /usr/bin/python3: torch and
numpy, no pip packages): config.json, model.safetensors (via st_write.py, metadata
{"format": "pt"} as `save_pretrained` writes it), model.onnx, and the tokenized input sets.
"""
import json

import numpy as np

from st_write import save_safetensors


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def save_model(path, module):
    """Every parameter of `module` under its state_dict name, float32."""
    tensors = {k: v.detach().cpu().numpy().astype(np.float32)
               for k, v in module.state_dict().items()}
    save_safetensors(path, tensors, metadata={"format": "pt"})
    return tensors


def pad_batch(rows, length, pad_id):
    """rows: list of (ids, type_ids). Right padding to `length`, as a Hugging Face tokenizer
    with padding="max_length" gives: input_ids, attention_mask and token_type_ids, int64."""
    n = len(rows)
    ids = np.full((n, length), pad_id, dtype=np.int64)
    mask = np.zeros((n, length), dtype=np.int64)
    types = np.zeros((n, length), dtype=np.int64)
    for i, (r, t) in enumerate(rows):
        if len(r) > length:
            raise ValueError(f"row {i} has {len(r)} tokens, more than {length}")
        ids[i, :len(r)] = r
        mask[i, :len(r)] = 1
        types[i, :len(r)] = t
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def export_onnx(module, path, inputs, input_names, output_name):
    """torch.onnx.export, opset 17, N and S dynamic on every input, the output [N, S, *]."""
    import torch
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    axes[output_name] = {0: "batch", 1: "sequence"}
    torch.onnx.export(module, tuple(torch.from_numpy(x) for x in inputs), str(path),
                      input_names=list(input_names), output_names=[output_name],
                      dynamic_axes=axes, opset_version=17, do_constant_folding=True)
