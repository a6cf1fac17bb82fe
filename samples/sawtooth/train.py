#!/usr/bin/env python3
"""Train the sawtooth sample network (arXiv 2605.05659, Appendix H.1/H.2).

Run with Debian's python (torch + numpy from apt):
    /usr/bin/python3 samples/sawtooth/train.py
Writes all outputs next to this script. Deterministic: fixed seeds, 1 thread.
"""
import copy
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
EPOCHS = 30000
LR = 0.005


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
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.5, patience=200, min_lr=1e-5)
    loss_fn = nn.MSELoss()

    # Adam at this lr shows occasional loss spikes, so keep the parameters with the
    # lowest *training* loss seen (test data is never used for selection).
    best_loss, best_epoch, best_state = float("inf"), 0, None
    t0 = time.time()
    for epoch in range(1, EPOCHS + 1):
        model.train()
        opt.zero_grad()
        loss = loss_fn(model(Xtr), Ytr)
        if loss.item() < best_loss:  # loss of the parameters *before* this step
            best_loss, best_epoch = loss.item(), epoch - 1
            best_state = copy.deepcopy(model.state_dict())
        loss.backward()
        opt.step()
        sched.step(loss.item())
        if epoch % 5000 == 0 or epoch == 1:
            with torch.no_grad():
                te = loss_fn(model(Xte), Yte).item()
            print(f"epoch {epoch:6d}  train_mse {loss.item():.3e}  test_mse {te:.3e}  "
                  f"lr {opt.param_groups[0]['lr']:.2e}  ({time.time() - t0:.0f}s)", flush=True)

    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        p_tr = model(Xtr)
        p_te = model(Xte)
    train_mse = loss_fn(p_tr, Ytr).item()
    test_mse = loss_fn(p_te, Yte).item()
    train_max = (p_tr - Ytr).abs().max().item()
    test_max = (p_te - Yte).abs().max().item()
    print(f"torch {torch.__version__}  epochs {EPOCHS}  time {time.time() - t0:.1f}s  "
          f"kept params after {best_epoch} updates (lowest train loss)")
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


if __name__ == "__main__":
    main()
