#!/usr/bin/env python3
"""Train the sawtooth sample network (arXiv 2605.05659, Appendix H.1).

Follows the paper's Appendix H.1 setup: MLP 1-16-16-16-16-1 with softplus after every hidden
layer, MSE loss, Adam lr 0.01, 2000 full-batch epochs, 400 points in [-2, 2] split evenly into
train/test. The final weights (after the 2000th update) are kept; no scheduler, no snapshotting.

Run with Debian's python (torch + numpy from apt):
    /usr/bin/python3 samples/sawtooth/train.py
Writes all outputs next to this script, including the ONNX export sawtooth.onnx (torch's own
exporter; it does not need the `onnx` Python package). Deterministic: fixed seeds, 1 thread.
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from st_write import save_safetensors  # noqa: E402

SEED = 0
LAMBDA = 3.7
N_POINTS = 400
EPOCHS = 2000
LR = 0.01
ONNX_OPSET = 13


def sawtooth(x):
    # f(x) = |((lambda * x) mod 2) - 1|, mod with Python/numpy floor semantics (result in [0, 2))
    return np.abs(np.mod(LAMBDA * x, 2.0) - 1.0)


def make_data():
    # 400 points uniformly spaced on [-2, 2] (np.linspace, endpoints included),
    # split evenly by a seeded random permutation: first 200 -> train, last 200 -> test.
    # Each split is then sorted by x.
    x = np.linspace(-2.0, 2.0, N_POINTS, dtype=np.float64)
    perm = np.random.default_rng(SEED).permutation(N_POINTS)
    tr, te = np.sort(perm[: N_POINTS // 2]), np.sort(perm[N_POINTS // 2:])
    y = sawtooth(x)
    f = lambda a: a.reshape(-1, 1).astype(np.float32)
    return f(x[tr]), f(y[tr]), f(x[te]), f(y[te])


def build_model():
    return nn.Sequential(
        nn.Linear(1, 16), nn.Softplus(),
        nn.Linear(16, 16), nn.Softplus(),
        nn.Linear(16, 16), nn.Softplus(),
        nn.Linear(16, 16), nn.Softplus(),
        nn.Linear(16, 1),
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
    loss_fn = nn.MSELoss()

    # Plain full-batch Adam, constant lr, fixed number of epochs; the final weights are kept.
    t0 = time.time()
    for epoch in range(1, EPOCHS + 1):
        model.train()
        opt.zero_grad()
        loss = loss_fn(model(Xtr), Ytr)
        loss.backward()
        opt.step()
        if epoch % 250 == 0 or epoch == 1:
            # `loss` is the training loss of the parameters *before* this update
            with torch.no_grad():
                te = loss_fn(model(Xte), Yte).item()
            print(f"epoch {epoch:5d}  train_mse {loss.item():.3e}  test_mse {te:.3e}  "
                  f"({time.time() - t0:.1f}s)", flush=True)

    model.eval()
    with torch.no_grad():
        p_tr = model(Xtr)
        p_te = model(Xte)
    train_mse = loss_fn(p_tr, Ytr).item()
    test_mse = loss_fn(p_te, Yte).item()
    train_max = (p_tr - Ytr).abs().max().item()
    test_max = (p_te - Yte).abs().max().item()
    print(f"torch {torch.__version__}  epochs {EPOCHS}  lr {LR}  time {time.time() - t0:.1f}s  "
          f"(final weights, after {EPOCHS} updates)")
    print(f"FINAL train_mse {train_mse:.6e}  test_mse {test_mse:.6e}  "
          f"train_max_abs_err {train_max:.6e}  test_max_abs_err {test_max:.6e}")

    sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    arrays = {k: v.numpy().copy() for k, v in sd.items()}
    # The plain model.state_dict() (an OrderedDict carrying `_metadata`), as real checkpoints are;
    # zip format (default since torch 1.6). Parameters are already float32 and contiguous.
    torch.save(model.state_dict(), HERE / "sawtooth.pt")
    np.savez(HERE / "sawtooth.npz", **arrays)
    save_safetensors(HERE / "sawtooth.safetensors", arrays, metadata={
        "format": "pt", "arch": "mlp 1-16-16-16-16-1 softplus", "source": "samples/sawtooth/train.py"})
    np.save(HERE / "x_train.npy", x_tr)
    np.save(HERE / "y_train.npy", y_tr)
    np.save(HERE / "x_test.npy", x_te)
    np.save(HERE / "y_test.npy", y_te)
    np.save(HERE / "y_pred_test.npy", p_te.numpy().astype(np.float32))

    # ONNX: input "x" [batch, 1] -> output "y" [batch, 1], dynamic batch axis.
    # Graph: Gemm, Softplus, Gemm, Softplus, Gemm, Softplus, Gemm, Softplus, Gemm.
    torch.onnx.export(
        model, Xte[:1], str(HERE / "sawtooth.onnx"),
        input_names=["x"], output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        opset_version=ONNX_OPSET, do_constant_folding=True)


if __name__ == "__main__":
    main()
