#!/usr/bin/env python3
"""Check the committed sample models (no torch needed).

Run with the pip python3 (numpy + safetensors):
    python3 samples/check_samples.py
For each sample: loads the .safetensors with safetensors.numpy.load_file, checks tensor
names/shapes/dtypes, checks the .npz and the torch .pt zip hold the same bytes, checks the
data files, and runs a numpy forward pass on x_test that must reproduce torch's saved
outputs (y_pred_test.npy / logits_test.npy). Exits non-zero if any check fails.
Last line: "N passed, N failed".
"""
import sys
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

HERE = Path(__file__).resolve().parent
ATOL = 1e-5
RTOL = 1e-5

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}" + (f"  ({detail})" if detail else ""))
    else:
        failed += 1
        print(f"FAIL {name}" + (f"  ({detail})" if detail else ""))


def softplus(z):
    return np.logaddexp(0.0, z)


def relu(z):
    return np.maximum(z, 0.0)


def forward(w, x, n_linear, act):
    """nn.Sequential of Linear (even indices) and act; weight [out, in]. float64 math."""
    h = x.astype(np.float64)
    for i in range(n_linear):
        W = w[f"{2 * i}.weight"].astype(np.float64)
        b = w[f"{2 * i}.bias"].astype(np.float64)
        h = h @ W.T + b
        if i < n_linear - 1:
            h = act(h)
    return h


def check_sample(sample, shapes, act, data_spec, ref_file):
    d = HERE / sample
    try:
        w = load_file(str(d / f"{sample}.safetensors"))
    except Exception as e:  # noqa: BLE001
        check(f"{sample}: load safetensors", False, repr(e))
        return
    check(f"{sample}: tensor names", sorted(w) == sorted(shapes), f"{sorted(w)}")
    for k, shp in shapes.items():
        if k in w:
            check(f"{sample}: {k} shape/dtype",
                  w[k].shape == shp and w[k].dtype == np.float32 and np.all(np.isfinite(w[k])),
                  f"{w[k].shape} {w[k].dtype}")

    # .npz holds identical arrays
    with np.load(d / f"{sample}.npz") as z:
        same = sorted(z.files) == sorted(w) and all(
            z[k].dtype == w[k].dtype and np.array_equal(z[k], w[k]) for k in w)
    check(f"{sample}: npz == safetensors", same)

    # .pt is a torch zip checkpoint whose raw storages are exactly the tensors' bytes
    try:
        with zipfile.ZipFile(d / f"{sample}.pt") as zf:
            names = zf.namelist()
            blobs = sorted(zf.read(n) for n in names if "/data/" in n)
            has_pkl = any(n.endswith("/data.pkl") for n in names)
        want = sorted(np.ascontiguousarray(v).astype("<f4").tobytes() for v in w.values())
        check(f"{sample}: .pt storages == safetensors", has_pkl and blobs == want,
              f"{len(blobs)} storages")
    except Exception as e:  # noqa: BLE001
        check(f"{sample}: .pt readable as zip", False, repr(e))

    data = {}
    for fname, (shp, dt) in data_spec.items():
        a = np.load(d / fname)
        data[fname] = a
        check(f"{sample}: {fname} shape/dtype", a.shape == shp and a.dtype == np.dtype(dt),
              f"{a.shape} {a.dtype}")

    ref = data[ref_file]
    out = forward(w, data["x_test.npy"], len(shapes) // 2, act)
    err = float(np.max(np.abs(out - ref)))
    check(f"{sample}: numpy forward == torch {ref_file}",
          out.shape == ref.shape and np.allclose(out, ref, atol=ATOL, rtol=RTOL),
          f"max abs diff {err:.3e}")
    return out, data


def main():
    # --- sawtooth: 1-16-16-16-16-1, Softplus -------------------------------------------
    shapes = {"0.weight": (16, 1), "0.bias": (16,)}
    for i in (2, 4, 6):
        shapes[f"{i}.weight"] = (16, 16)
        shapes[f"{i}.bias"] = (16,)
    shapes["8.weight"] = (1, 16)
    shapes["8.bias"] = (1,)
    spec = {f: ((200, 1), "float32") for f in
            ("x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy", "y_pred_test.npy")}
    r = check_sample("sawtooth", shapes, softplus, spec, "y_pred_test.npy")
    if r:
        out, data = r
        x = np.concatenate([data["x_train.npy"], data["x_test.npy"]]).astype(np.float64)
        y = np.concatenate([data["y_train.npy"], data["y_test.npy"]]).astype(np.float64)
        target = np.abs(np.mod(3.7 * x, 2.0) - 1.0)
        check("sawtooth: data is f(x)=|(3.7x mod 2)-1| on [-2,2]",
              np.allclose(y, target, atol=1e-6) and x.min() >= -2 and x.max() <= 2)
        mse = float(np.mean((out - data["y_test.npy"]) ** 2))
        check("sawtooth: test MSE < 1e-3", mse < 1e-3, f"test MSE {mse:.3e}")

    # --- digits: 64-128-128-10, ReLU -----------------------------------------------------
    shapes = {"0.weight": (128, 64), "0.bias": (128,), "2.weight": (128, 128),
              "2.bias": (128,), "4.weight": (10, 128), "4.bias": (10,)}
    spec = {"x_train.npy": ((1257, 64), "float32"), "y_train.npy": ((1257,), "int64"),
            "x_test.npy": ((540, 64), "float32"), "y_test.npy": ((540,), "int64"),
            "logits_test.npy": ((540, 10), "float32")}
    r = check_sample("digits", shapes, relu, spec, "logits_test.npy")
    if r:
        out, data = r
        agree = bool(np.array_equal(out.argmax(1), data["logits_test.npy"].argmax(1)))
        check("digits: numpy argmax == torch argmax", agree)
        acc = float(np.mean(out.argmax(1) == data["y_test.npy"]))
        check("digits: test accuracy >= 0.96", acc >= 0.96, f"accuracy {acc:.4f}")
        xs = np.concatenate([data["x_train.npy"], data["x_test.npy"]])
        check("digits: inputs in [0,1]", xs.min() >= 0 and xs.max() <= 1)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
