"""The bundled samples in every format they ship in: dense ONNX models run by
dlor match onnxruntime; the .pt, safetensors and ONNX versions of a model give
identical outputs; ONNX and .pt sources convert with their graph and verify
end to end."""
import json
import os
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import SRC, check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("models")


def dlor_run(model, x_path, *extra):
    out = os.path.join(TMP, os.path.basename(model) + ".out.npy")
    if os.path.exists(out):
        os.remove(out)
    rc, so, se = run("run", model, "-i", x_path, "-o", out, *extra)
    check(rc == 0, f"run {model}: {se}")
    return np.load(out) if rc == 0 else None


samples = {
    "sawtooth": ("softplus", ["sawtooth.onnx"]),
    "digits": ("relu", ["digits.onnx", "digits_softmax.onnx"]),
}
for name, (act, onnx_files) in samples.items():
    d = os.path.join(SRC, "samples", name)
    x_path = os.path.join(d, "x_test.npy")
    x = np.load(x_path)
    # ONNX: dlor's runtime against onnxruntime on the same dense model
    for f in onnx_files:
        sess = ort.InferenceSession(os.path.join(d, f), providers=["CPUExecutionProvider"])
        ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        y = dlor_run(os.path.join(d, f), x_path)
        if y is not None:
            rel = np.abs(y - ref).max() / np.abs(ref).max()
            check(y.shape == ref.shape and rel <= 1e-5, f"{f}: dlor run vs onnxruntime, relative {rel:.3g}")
    # the same weights from safetensors, .pt and ONNX give identical outputs
    y_st = dlor_run(os.path.join(d, f"{name}.safetensors"), x_path, "--activation", act)
    y_pt = dlor_run(os.path.join(d, f"{name}.pt"), x_path, "--activation", act)
    y_onnx = dlor_run(os.path.join(d, onnx_files[0]), x_path)
    if y_st is not None and y_pt is not None and y_onnx is not None:
        check(np.array_equal(y_st, y_pt), f"{name}: .pt and safetensors outputs differ")
        check(np.array_equal(y_st, y_onnx), f"{name}: ONNX and safetensors outputs differ")
    # ONNX and .pt sources convert with their graph and verify end to end
    for src, extra in ((onnx_files[-1], []), (f"{name}.pt", ["--activation", act])):
        out = os.path.join(TMP, f"{src}.dlor")
        rc, so, se = run("convert", os.path.join(d, src), "-o", out, "--rank", "4", *extra)
        check(rc == 0, f"convert {src}: {se}")
        rep = os.path.join(TMP, f"{src}.json")
        rc, so, se = run("verify", os.path.join(d, src), out, "--inputs", x_path, "--json", rep)
        check(rc == 0, f"verify {src}: {so}{se}")
        if rc == 0:
            e2e = json.load(open(rep))["end_to_end"]
            check(e2e["samples"] == len(x) and e2e["max_rel_error"] <= 1e-4, f"{src}: end to end {e2e}")
        rc, so, se = run("info", out, "--json")
        if rc == 0:
            g = json.loads(so).get("graph", [])
            check(len(g) >= 3 and all(op.get("dlor") for op in g if op["op"] == "linear"),
                  f"{src}: recorded graph runs on DLoR layers: {g}")

# An ONNX model whose graph dlor cannot run still converts; run says why.
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "conv.weight")
node = helper.make_node("Conv", ["x", "conv.weight"], ["y"], name="Conv_3")
graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
conv = os.path.join(TMP, "conv.onnx")
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), conv)
out = os.path.join(TMP, "conv.dlor")
rc, so, se = run("convert", conv, "-o", out)
check(rc == 0, f"convert conv.onnx (tensors only): {se}")
np.save(os.path.join(TMP, "x3.npy"), np.ones((2, 3), np.float32))
rc, so, se = run("run", out, "-i", os.path.join(TMP, "x3.npy"), "-o", os.path.join(TMP, "never.npy"))
check(rc == 1 and "Conv" in se and "no graph" in se, f"run says why: {se}")
check(not os.path.exists(os.path.join(TMP, "never.npy")), "no output written")
rc, so, se = run("run", conv, "-i", os.path.join(TMP, "x3.npy"), "-o", os.path.join(TMP, "never.npy"))
check(rc == 1 and "Conv" in se, f"run on the dense ONNX says why: {se}")

finish()
