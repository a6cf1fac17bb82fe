#!/usr/bin/env python3
"""Check the committed sample models (no torch needed).

Run with the pip python3 (numpy + safetensors + onnx + onnxruntime):
    python3 samples/check_samples.py
For each sample: loads the .safetensors with safetensors.numpy.load_file, checks tensor
names/shapes/dtypes, checks the .npz holds exactly the same arrays (names, dtypes, shapes,
values) and the torch .pt zip the same bytes, checks the data files, and runs a numpy forward
pass on x_test that must reproduce torch's saved outputs (y_pred_test.npy / logits_test.npy).
For each ONNX export (sawtooth.onnx, digits.onnx, digits_softmax.onnx): onnx.checker, opset,
the exact op-type sequence, input "x" / output "y" (float32, dynamic batch axis), initializers
equal to the safetensors tensors bit for bit, and onnxruntime's output on x_test against
torch's saved outputs (the softmax export against a float64 softmax of logits_test.npy).
Exits non-zero if any check fails. Last line: "N passed, N failed".
"""
import sys
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

try:
    import onnx
    from onnx import numpy_helper
    import onnxruntime as ort
    ONNX_IMPORT_ERROR = None
except Exception as e:  # noqa: BLE001
    ONNX_IMPORT_ERROR = e

HERE = Path(__file__).resolve().parent
ATOL = 1e-5
RTOL = 1e-5
ONNX_OPSET = 13  # opset the training scripts export with (torch 1.13's torch.onnx.export)

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


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


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

    # .npz holds exactly the same arrays: names, dtypes, shapes and bytes
    with np.load(d / f"{sample}.npz") as z:
        zs = {k: z[k] for k in z.files}
    bad = [k for k in sorted(set(zs) | set(w))
           if k not in zs or k not in w or zs[k].dtype != w[k].dtype
           or zs[k].shape != w[k].shape
           or np.ascontiguousarray(zs[k]).tobytes() != np.ascontiguousarray(w[k]).tobytes()]
    check(f"{sample}: npz == safetensors (exact)", not bad,
          f"{len(w)} tensors" if not bad else f"differ: {bad}")

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
    return out, data, w


def check_onnx(sample, fname, weights, x, ref, want_ops, n_in, n_out):
    """Check one ONNX export against the safetensors weights and torch's outputs `ref`."""
    tag = f"{sample}: {fname}"
    if ONNX_IMPORT_ERROR is not None:
        check(f"{tag}: import onnx/onnxruntime", False, repr(ONNX_IMPORT_ERROR))
        return
    path = HERE / sample / fname
    try:
        m = onnx.load(str(path))
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:  # noqa: BLE001
        check(f"{tag}: load + onnx.checker", False, repr(e))
        return
    check(f"{tag}: load + onnx.checker", True)
    opsets = {o.domain: o.version for o in m.opset_import}
    check(f"{tag}: opset {ONNX_OPSET}", opsets.get("", opsets.get("ai.onnx")) == ONNX_OPSET,
          f"{opsets}")
    ops = [n.op_type for n in m.graph.node]
    check(f"{tag}: op types", ops == want_ops, " ".join(ops))

    def io_ok(vi, name, feat):
        t = vi.type.tensor_type
        dims = t.shape.dim
        return (vi.name == name and t.elem_type == onnx.TensorProto.FLOAT and len(dims) == 2
                and dims[0].dim_param != "" and dims[1].dim_value == feat)
    inits = {i.name for i in m.graph.initializer}
    ins = [i for i in m.graph.input if i.name not in inits]
    outs = list(m.graph.output)
    check(f"{tag}: input x [batch, {n_in}] / output y [batch, {n_out}] float32",
          len(ins) == 1 and len(outs) == 1 and io_ok(ins[0], "x", n_in)
          and io_ok(outs[0], "y", n_out),
          f"inputs {[i.name for i in ins]} outputs {[o.name for o in outs]}")

    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    bad = [k for k in sorted(set(init) | set(weights))
           if k not in init or k not in weights or init[k].dtype != np.float32
           or init[k].shape != weights[k].shape
           or init[k].tobytes() != np.ascontiguousarray(weights[k]).tobytes()]
    check(f"{tag}: initializers == safetensors (exact)", not bad,
          f"{len(init)} tensors" if not bad else f"differ: {bad}")

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        y = sess.run(["y"], {"x": x})[0]
        y1 = sess.run(["y"], {"x": x[:1]})[0]
    except Exception as e:  # noqa: BLE001
        check(f"{tag}: onnxruntime run", False, repr(e))
        return
    err = float(np.max(np.abs(y.astype(np.float64) - ref))) if y.shape == ref.shape else np.inf
    check(f"{tag}: onnxruntime == torch on x_test",
          y.dtype == np.float32 and y.shape == ref.shape
          and np.allclose(y, ref, atol=ATOL, rtol=RTOL),
          f"max abs diff {err:.3e}")
    check(f"{tag}: onnxruntime batch 1", y1.shape == (1, n_out)
          and np.allclose(y1, ref[:1], atol=ATOL, rtol=RTOL), f"{y1.shape}")
    return y


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
        out, data, w = r
        x = np.concatenate([data["x_train.npy"], data["x_test.npy"]]).astype(np.float64)
        y = np.concatenate([data["y_train.npy"], data["y_test.npy"]]).astype(np.float64)
        target = np.abs(np.mod(3.7 * x, 2.0) - 1.0)
        check("sawtooth: data is f(x)=|(3.7x mod 2)-1| on [-2,2]",
              np.allclose(y, target, atol=1e-6) and x.min() >= -2 and x.max() <= 2)
        mse = float(np.mean((out - data["y_test.npy"]) ** 2))
        # The paper's 2000-epoch setup gives test MSE ~1.0e-3; this only guards against a
        # broken or untrained model.
        check("sawtooth: test MSE < 2e-3", mse < 2e-3, f"test MSE {mse:.3e}")
        check_onnx("sawtooth", "sawtooth.onnx", w, data["x_test.npy"],
                   data["y_pred_test.npy"].astype(np.float64),
                   ["Gemm", "Softplus"] * 4 + ["Gemm"], 1, 1)

    # --- digits: 64-128-128-10, ReLU -----------------------------------------------------
    shapes = {"0.weight": (128, 64), "0.bias": (128,), "2.weight": (128, 128),
              "2.bias": (128,), "4.weight": (10, 128), "4.bias": (10,)}
    spec = {"x_train.npy": ((1257, 64), "float32"), "y_train.npy": ((1257,), "int64"),
            "x_test.npy": ((540, 64), "float32"), "y_test.npy": ((540,), "int64"),
            "logits_test.npy": ((540, 10), "float32")}
    r = check_sample("digits", shapes, relu, spec, "logits_test.npy")
    if r:
        out, data, w = r
        agree = bool(np.array_equal(out.argmax(1), data["logits_test.npy"].argmax(1)))
        check("digits: numpy argmax == torch argmax", agree)
        acc = float(np.mean(out.argmax(1) == data["y_test.npy"]))
        check("digits: test accuracy >= 0.96", acc >= 0.96, f"accuracy {acc:.4f}")
        xs = np.concatenate([data["x_train.npy"], data["x_test.npy"]])
        check("digits: inputs in [0,1]", xs.min() >= 0 and xs.max() <= 1)
        logits = data["logits_test.npy"].astype(np.float64)
        ops = ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
        check_onnx("digits", "digits.onnx", w, data["x_test.npy"], logits, ops, 64, 10)
        p = check_onnx("digits", "digits_softmax.onnx", w, data["x_test.npy"], softmax(logits),
                       ops + ["Softmax"], 64, 10)
        if p is not None:
            check("digits: digits_softmax.onnx rows sum to 1",
                  np.allclose(p.astype(np.float64).sum(axis=1), 1.0, atol=1e-5))

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
