#!/usr/bin/env python3
"""Train the digits sample classifier (scikit-learn's bundled 8x8 digits, no download).

Run with Debian's python (torch + sklearn + numpy from apt):
    /usr/bin/python3 samples/digits/train.py
Writes all outputs next to this script, including two ONNX exports (torch's own exporter; it
does not need the `onnx` Python package): digits.onnx (logits) and digits_softmax.onnx (the same
model followed by Softmax over the class axis). Deterministic: fixed seeds, 1 thread.
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from st_write import save_safetensors  # noqa: E402

SEED = 0
EPOCHS = 60
BATCH = 64
LR = 1e-3
ONNX_OPSET = 13


def make_data():
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)          # [1797, 64], pixels 0..16 -> [0, 1]
    y = d.target.astype(np.int64)                   # [1797], labels 0..9
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.3, stratify=y, random_state=SEED)
    return (np.ascontiguousarray(x_tr), np.ascontiguousarray(y_tr),
            np.ascontiguousarray(x_te), np.ascontiguousarray(y_te))


def build_model():
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(),
        nn.Linear(128, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.use_deterministic_algorithms(True)

    x_tr, y_tr, x_te, y_te = make_data()
    Xtr, Ytr = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    Xte, Yte = torch.from_numpy(x_te), torch.from_numpy(y_te)

    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(SEED)  # minibatch shuffling

    def evaluate(X, Y):
        model.eval()
        with torch.no_grad():
            logits = model(X)
        return loss_fn(logits, Y).item(), (logits.argmax(1) == Y).float().mean().item(), logits

    t0 = time.time()
    n = Xtr.shape[0]
    for epoch in range(1, EPOCHS + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(Xtr[idx]), Ytr[idx])
            loss.backward()
            opt.step()
        if epoch % 10 == 0 or epoch == 1:
            trl, tra, _ = evaluate(Xtr, Ytr)
            tel, tea, _ = evaluate(Xte, Yte)
            print(f"epoch {epoch:4d}  train_loss {trl:.4f} acc {tra:.4f}  "
                  f"test_loss {tel:.4f} acc {tea:.4f}  ({time.time() - t0:.1f}s)", flush=True)

    trl, tra, _ = evaluate(Xtr, Ytr)
    tel, tea, logits_te = evaluate(Xte, Yte)
    n_wrong = int((logits_te.argmax(1) != Yte).sum())
    print(f"torch {torch.__version__}  epochs {EPOCHS}  batch {BATCH}  time {time.time() - t0:.1f}s")
    print(f"FINAL train_loss {trl:.6f}  train_acc {tra:.6f}  test_loss {tel:.6f}  "
          f"test_acc {tea:.6f} ({len(y_te) - n_wrong}/{len(y_te)})")

    sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    arrays = {k: v.numpy().copy() for k, v in sd.items()}
    # The plain model.state_dict() (an OrderedDict carrying `_metadata`), as real checkpoints are;
    # zip format (default since torch 1.6). Parameters are already float32 and contiguous.
    torch.save(model.state_dict(), HERE / "digits.pt")
    np.savez(HERE / "digits.npz", **arrays)
    save_safetensors(HERE / "digits.safetensors", arrays, metadata={
        "format": "pt", "arch": "mlp 64-128-128-10 relu", "source": "samples/digits/train.py"})
    np.save(HERE / "x_train.npy", x_tr)
    np.save(HERE / "y_train.npy", y_tr)
    np.save(HERE / "x_test.npy", x_te)
    np.save(HERE / "y_test.npy", y_te)
    np.save(HERE / "logits_test.npy", logits_te.numpy().astype(np.float32))

    # ONNX: input "x" [batch, 64] -> output "y" [batch, 10], dynamic batch axis.
    # digits.onnx: Gemm, Relu, Gemm, Relu, Gemm (raw logits).
    # digits_softmax.onnx: the same modules followed by nn.Softmax(dim=1) -> graph ends in
    # Softmax (axis 1). Built as Sequential(*model, Softmax) so the initializer names stay
    # 0.weight ... 4.bias, as in the other weight files.
    model.eval()
    export = dict(input_names=["x"], output_names=["y"],
                  dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                  opset_version=ONNX_OPSET, do_constant_folding=True)
    torch.onnx.export(model, Xte[:1], str(HERE / "digits.onnx"), **export)
    torch.onnx.export(nn.Sequential(*model, nn.Softmax(dim=1)).eval(), Xte[:1],
                      str(HERE / "digits_softmax.onnx"), **export)


if __name__ == "__main__":
    main()
