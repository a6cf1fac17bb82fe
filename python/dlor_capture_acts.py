"""Captures what every nn.Linear of a PyTorch model sees, for ``dlor convert --calib-acts``.

For models dlor cannot run itself (any architecture PyTorch runs), the layers'
calibration data comes from the model's own forward passes: a forward pre-hook on
each ``nn.Linear`` adds ``X^T X`` of the inputs it receives to a float64 Gram
matrix, so the memory stays ``in x in`` per layer however many samples run. The
result is a ``.npz`` with one key ``NAME.weight.gram`` per layer (``NAME`` the
module's name in ``model.named_modules()``, so the key is the weight's
``state_dict`` name plus ``.gram``, the name dlor gives the tensor), which
``dlor convert MODEL --calib-acts ACTS.npz --budget 0.5`` whitens each layer's fit
by, as ``--calib`` does with activations it computes itself.

From Python::

    import dlor_capture_acts as cap
    model.eval()
    grams = cap.capture(model, batches, "acts.npz")   # batches: an iterable

Each batch is passed as ``model(batch)`` (a tensor), ``model(*batch)`` (a tuple or
list) or ``model(**batch)`` (a dict); ``forward=lambda model, batch: ...`` runs
anything else. Token positions whose attention mask is 0 are left out, as dlor
leaves them out of ``--calib IDS.npz``: by default the mask is ``batch
["attention_mask"]`` when the batch is a dict holding one, or give
``token_mask=lambda batch: ...`` (a ``[N, S]`` tensor, or None). A layer input whose
leading dimensions are ``[N, S]`` then keeps the rows where the mask is nonzero;
inputs of other shapes are taken whole.

From the command line, with a function that builds the model (weights loaded)::

    python3 dlor_capture_acts.py mypkg.models:build INPUTS.npy|INPUTS.npz -o acts.npz [--batch 32]

An ``.npy`` holds model inputs (a batch is ``model(x[i:i+B])``); an ``.npz`` holds
named arrays passed as keyword arguments (``input_ids``, ``attention_mask``, ...),
batched along their first dimension. Needs torch and numpy.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Callable, Dict, Iterable, Optional

import numpy as np
import torch
import torch.nn as nn

__all__ = ["capture", "save"]


def _default_forward(model: nn.Module, batch: Any) -> Any:
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


def _default_mask(batch: Any) -> Optional[torch.Tensor]:
    if isinstance(batch, dict):
        return batch.get("attention_mask")
    return None


def capture(model: nn.Module, batches: Iterable[Any], path: Optional[str] = None, *,
            forward: Optional[Callable[[nn.Module, Any], Any]] = None,
            token_mask: Optional[Callable[[Any], Optional[torch.Tensor]]] = None) -> Dict[str, np.ndarray]:
    """Runs every batch through model (under torch.no_grad) and returns, per nn.Linear,
    ``{"NAME.weight.gram": X^T X}`` (float64 numpy, [in, in]) over the rows its input held;
    writes them to path (a .npz) when given. The hooks are removed afterwards, also on error.
    A module used more than once per pass (tied weights) adds every call's inputs."""
    forward = forward or _default_forward
    token_mask = token_mask or _default_mask
    grams: Dict[str, torch.Tensor] = {}
    state = {"mask": None}
    handles = []

    def hook_for(key: str, in_features: int):
        def hook(_module, args):
            x = args[0].detach()
            mask = state["mask"]
            rows = x.reshape(-1, in_features).to(torch.float64)
            if mask is not None and x.dim() >= 2 and tuple(x.shape[:-1]) == tuple(mask.shape):
                rows = rows[mask.reshape(-1) != 0]
            g = rows.T @ rows
            grams[key] = grams[key] + g if key in grams else g
        return hook

    try:
        for name, mod in model.named_modules():
            if isinstance(mod, nn.Linear):
                key = f"{name}.weight" if name else "weight"
                handles.append(mod.register_forward_pre_hook(hook_for(key, mod.in_features)))
        if not handles:
            raise ValueError("the model has no nn.Linear module to capture")
        with torch.no_grad():
            for batch in batches:
                m = token_mask(batch)
                state["mask"] = m.detach() if m is not None else None
                forward(model, batch)
    finally:
        for h in handles:
            h.remove()
    out = {f"{k}.gram": (0.5 * (g + g.T)).cpu().numpy() for k, g in grams.items()}
    if path is not None:
        save(out, path)
    return out


def save(grams: Dict[str, np.ndarray], path: str) -> None:
    """Writes the Gram matrices as an uncompressed .npz (np.savez)."""
    np.savez(path, **grams)


def _batches(path: str, size: int):
    if path.endswith(".npz"):
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        n = len(next(iter(arrays.values())))
        for i in range(0, n, size):
            yield {k: torch.from_numpy(np.ascontiguousarray(v[i:i + size])) for k, v in arrays.items()}
    else:
        x = np.load(path)
        for i in range(0, len(x), size):
            yield torch.from_numpy(np.ascontiguousarray(x[i:i + size]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Capture the Gram matrices of a PyTorch model's nn.Linear inputs "
                                             "for dlor convert --calib-acts.")
    ap.add_argument("factory", help="MODULE:FUNCTION returning the model with its weights loaded")
    ap.add_argument("inputs", help="model inputs: a .npy, or a .npz of keyword arrays (input_ids, ...)")
    ap.add_argument("-o", "--output", required=True, help="the .npz to write")
    ap.add_argument("--batch", type=int, default=32, help="samples per forward pass (default 32)")
    a = ap.parse_args(argv)
    if a.batch < 1:
        ap.error("--batch must be a positive integer")
    mod_name, _, fn_name = a.factory.partition(":")
    if not fn_name:
        ap.error("the factory is MODULE:FUNCTION")
    sys.path.insert(0, ".")
    model = getattr(importlib.import_module(mod_name), fn_name)()
    model.eval()
    grams = capture(model, _batches(a.inputs, a.batch), a.output)
    print(f"wrote {a.output}: {len(grams)} layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
