#!/usr/bin/env python3
"""Compress the digits classifier to a quarter of its parameters with dlor, then win back
accuracy by fine-tuning the compressed model for one epoch in PyTorch.

Run with Debian's python (torch and numpy from apt), from a built tree:
    /usr/bin/python3 samples/digits/finetune.py [--out DIR] [--budget F] [--epochs E]
It uses the dlor Python package of this tree (python/) and the dlor command ($DLOR_BIN,
else build/dlor, else dlor on PATH). Steps:
  1. dlor.convert digits.safetensors at --budget 0.25 (the layers become beta*I + P Q^T);
  2. the dense PyTorch model (digits.pt) gets the compressed layers through
     dlor.torch.apply: its nn.Linear modules become DLoRLinear modules with trainable factors;
  3. one epoch of Adam (lr 2e-4) on x_train / y_train (cross-entropy, minibatch 64, seeded,
     one thread);
  4. test accuracy of the dense, compressed and fine-tuned models, and the share of the
     accuracy the compression lost that fine-tuning recovered.
The last line is machine-readable: 'RESULT dense D compressed C finetuned F recovered R'.
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "python"))
import dlor  # noqa: E402
import dlor.torch  # noqa: E402

if "DLOR_BIN" not in os.environ and (ROOT / "build" / "dlor").exists():
    os.environ["DLOR_BIN"] = str(ROOT / "build" / "dlor")


def build_model():
    """The architecture of train.py."""
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).double().mean().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="folder for the compressed .dlor (default: a temporary folder)")
    ap.add_argument("--budget", type=float, default=0.25)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0, help="seed of the minibatch order")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    x_tr, y_tr = torch.from_numpy(np.load(HERE / "x_train.npy")), torch.from_numpy(np.load(HERE / "y_train.npy"))
    x_te, y_te = torch.from_numpy(np.load(HERE / "x_test.npy")), torch.from_numpy(np.load(HERE / "y_test.npy"))

    dense = build_model()
    dense.load_state_dict(torch.load(HERE / "digits.pt"))
    acc_dense = accuracy(dense, x_te, y_te)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(a.out or tmp) / f"digits-budget{a.budget:g}.dlor"
        out.parent.mkdir(parents=True, exist_ok=True)
        m = dlor.convert(HERE / "digits.safetensors", out, budget=a.budget, activation="relu")
        report = dlor.verify(HERE / "digits.safetensors", out, inputs=x_te.numpy(), labels=y_te.numpy())
        y_dlor = dlor.run(m, x_te.numpy())  # dlor's own runtime, for comparison
    params_dense = sum(p.numel() for p in dense.parameters())
    print(f"compressed at --budget {a.budget:g}: {report.params_dlor_total} of {report.params_dense_total} "
          "layer parameters")
    for L in report.layers:
        print(f"  {L.name:9s} {L.form:8s} rank {L.rank:3d}  relative error {L.rel_fro_error:.3f}")

    model = build_model()
    model.load_state_dict(dense.state_dict())
    applied = dlor.torch.apply(model, m)
    print(f"dlor.torch.apply: replaced modules {applied.replaced}, loaded {applied.loaded}")
    params = sum(p.numel() for p in model.parameters())
    acc_comp = accuracy(model, x_te, y_te)
    with torch.no_grad():
        y_torch = model(x_te).numpy()
    print(f"PyTorch against dlor run on the test inputs: max relative difference "
          f"{np.abs(y_torch - y_dlor).max() / np.abs(y_dlor).max():.2e}")
    print(f"dlor verify: accuracy dense {report.end_to_end.accuracy_dense:.4f}, "
          f"compressed {report.end_to_end.accuracy_dlor:.4f}")

    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    n = len(x_tr)
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(x_tr[idx]), y_tr[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}: train loss {total / n:.4f}")
    acc_ft = accuracy(model, x_te, y_te)

    lost = acc_dense - acc_comp
    recovered = (acc_ft - acc_comp) / lost if lost > 0 else float("nan")
    print(f"parameters: dense {params_dense}, compressed {params}")
    print(f"test accuracy: dense {acc_dense:.4f}, compressed {acc_comp:.4f}, fine-tuned {acc_ft:.4f} "
          f"({round(acc_ft * len(y_te))}/{len(y_te)})")
    print(f"RESULT dense {acc_dense:.6f} compressed {acc_comp:.6f} finetuned {acc_ft:.6f} recovered {recovered:.4f}")


if __name__ == "__main__":
    main()
