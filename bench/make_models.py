"""Seeded models and matrices for the benchmarks.

    python3 make_models.py mlp OUT_PREFIX N [--layers L] [--seed S]
        writes OUT_PREFIX.safetensors (nn.Sequential names 0.weight, 0.bias, 2.weight, ...:
        L linear N x N layers with relu between them) and OUT_PREFIX.onnx (the same model
        as Gemm(transB=1) + Relu nodes, batch dimension free), and checks that onnxruntime
        gives NumPy's output.
    python3 make_models.py matrix OUT.npy N [--seed S]
        writes one N x N float64 Gaussian matrix (entries N(0, 1/N)).

Weights are N(0, 1/N) (so activations keep their scale through the layers), biases
N(0, 0.01^2); float32. Needs numpy, safetensors, onnx (and onnxruntime for the check).
"""
import argparse
import sys

import numpy as np


def mlp_weights(n, layers, seed):
    rng = np.random.default_rng(seed)
    t = {}
    for i in range(layers):
        t["%d.weight" % (2 * i)] = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
        t["%d.bias" % (2 * i)] = (0.01 * rng.standard_normal(n)).astype(np.float32)
    return t


def numpy_forward(t, layers, x):
    h = x.astype(np.float64)
    for i in range(layers):
        h = h @ t["%d.weight" % (2 * i)].T.astype(np.float64) + t["%d.bias" % (2 * i)]
        if i + 1 < layers:
            h = np.maximum(h, 0.0)
    return h


def write_onnx(path, t, layers, n):
    import onnx
    import onnx.helper as oh
    from onnx import TensorProto, numpy_helper

    nodes, inits = [], []
    cur = "x"
    for i in range(layers):
        w, b = "%d.weight" % (2 * i), "%d.bias" % (2 * i)
        inits.append(numpy_helper.from_array(t[w], name=w))
        inits.append(numpy_helper.from_array(t[b], name=b))
        last = i + 1 == layers
        g = "y" if last else "g%d" % i
        nodes.append(oh.make_node("Gemm", [cur, w, b], [g], transB=1, name="gemm%d" % i))
        if not last:
            cur = "h%d" % i
            nodes.append(oh.make_node("Relu", [g], [cur], name="relu%d" % i))
    graph = oh.make_graph(nodes, "mlp",
                              [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n])],
                              [oh.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])],
                              initializer=inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)],
                              producer_name="dlor-bench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def check_onnx(path, t, layers, n, tol=1e-4):
    """onnxruntime's output on seeded inputs equals NumPy's (float64 reference)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(7).standard_normal((8, n)).astype(np.float32)
    y = sess.run(None, {"x": x})[0]
    ref = numpy_forward(t, layers, x)
    err = float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))
    if not err <= tol:
        raise SystemExit("%s: onnxruntime differs from NumPy: max rel error %.3g > %.1g" % (path, err, tol))
    return err


def make_mlp(prefix, n, layers=3, seed=0, onnx_too=True, check=True):
    from safetensors.numpy import save_file

    t = mlp_weights(n, layers, seed)
    save_file(t, prefix + ".safetensors")
    err = None
    if onnx_too:
        write_onnx(prefix + ".onnx", t, layers, n)
        if check:
            err = check_onnx(prefix + ".onnx", t, layers, n)
    return err


def make_matrix(path, n, seed=2024):
    w = np.random.default_rng(seed).standard_normal((n, n)) / np.sqrt(n)
    np.save(path, w)
    return w


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["mlp", "matrix"])
    ap.add_argument("out")
    ap.add_argument("n", type=int)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.what == "mlp":
        err = make_mlp(a.out, a.n, a.layers, a.seed)
        print("%s.safetensors, %s.onnx: onnxruntime vs NumPy max rel error %.3g" % (a.out, a.out, err))
    else:
        make_matrix(a.out, a.n, a.seed)


if __name__ == "__main__":
    main(sys.argv[1:])
