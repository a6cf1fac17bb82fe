"""dlor run and the end-to-end verify on the bundled samples: outputs checked
against numpy forward passes written here and torch's saved outputs; bad
inputs give clean errors and no output file."""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import SRC, check, finish, run, scratch  # noqa: E402

TMP, path, fresh = scratch("run")


def mlp(weights, x, act, n):
    """numpy float64 forward pass of an nn.Sequential MLP with layers 0, 2, 4, ..."""
    h = x.astype(np.float64)
    for i in range(n):
        W = weights[f"{2 * i}.weight"].astype(np.float64)
        b = weights[f"{2 * i}.bias"].astype(np.float64)
        h = h @ W.T + b
        if i + 1 < n:
            h = act(h)
    return h


relu = lambda z: np.maximum(z, 0)  # noqa: E731
softplus = lambda z: np.logaddexp(0, z)  # noqa: E731

digits = os.path.join(SRC, "samples", "digits")
saw = os.path.join(SRC, "samples", "sawtooth")
xd = np.load(os.path.join(digits, "x_test.npy"))
yd = np.load(os.path.join(digits, "y_test.npy"))
wd = load_file(os.path.join(digits, "digits.safetensors"))
ref_d = mlp(wd, xd, relu, 3)

# ---- dense sources run through the same runtime -----------------------------------
outs = {}
for name, args in [("safetensors", [os.path.join(digits, "digits.safetensors"), "--activation", "relu"]),
                   ("npz", [os.path.join(digits, "digits.npz"), "--activation", "relu"])]:
    o = fresh(f"dense-{name}.npy")
    rc, so, se = run("run", *args, "-i", os.path.join(digits, "x_test.npy"), "-o", o, "--batch", "17")
    check(rc == 0, f"run dense {name}: {se}")
    if rc == 0:
        y = np.load(o)
        outs[name] = y
        check(y.dtype == np.float32 and y.shape == (len(xd), 10), f"{name}: output shape {y.shape}")
        err = np.abs(y - ref_d).max() / np.abs(ref_d).max()
        check(err <= 1e-5, f"{name}: dense run vs numpy float64: {err:.3g}")
if len(outs) == 2:
    check(np.array_equal(outs["safetensors"], outs["npz"]), "safetensors and npz give identical outputs")

# ---- digits converted exactly: predictions identical, logits within 1e-4 ------------
for method in ("mul", "add"):
    dl = fresh(f"digits-{method}.dlor")
    flags = ["--rank", "16"] if method == "mul" else []
    rc, so, se = run("convert", os.path.join(digits, "digits.safetensors"), "-o", dl, "--activation", "relu",
                     "--method", method, *flags)
    check(rc == 0, f"convert digits {method}: {se}")
    rep = fresh(f"digits-{method}.json")
    rc, so, se = run("verify", os.path.join(digits, "digits.safetensors"), dl, "--inputs",
                     os.path.join(digits, "x_test.npy"), "--labels", os.path.join(digits, "y_test.npy"),
                     "--json", rep)
    check(rc == 0, f"verify digits {method}: {so}{se}")
    e2e = json.load(open(rep)).get("end_to_end", {})
    check(e2e.get("samples") == len(xd) and e2e.get("argmax_agreement") == 1.0,
          f"{method}: predictions identical on the whole test split: {e2e}")
    check(e2e.get("max_abs_error", 1) <= 1e-4, f"{method}: max abs logit difference {e2e.get('max_abs_error')}")
    check(abs(e2e.get("accuracy_dense", 0) - np.mean(ref_d.argmax(1) == yd)) < 1e-12, f"{method}: dense accuracy")
    o = fresh(f"dlor-{method}.npy")
    rc, so, se = run("run", dl, "-i", os.path.join(digits, "x_test.npy"), "-o", o)
    check(rc == 0, f"run {method}: {se}")
    if rc == 0:
        y = np.load(o)
        check(np.abs(y - ref_d).max() <= 1e-4 and np.array_equal(y.argmax(1), ref_d.argmax(1)),
              f"{method}: dlor run vs numpy: {np.abs(y - ref_d).max():.3g}")
        for b in ("1", "5", "540"):
            ob = fresh(f"dlor-{method}-b{b}.npy")
            run("run", dl, "-i", os.path.join(digits, "x_test.npy"), "-o", ob, "--batch", b)
            check(np.array_equal(np.load(ob), y), f"{method}: --batch {b} gives the same bits")
        for b, t in (("1", "2"), ("64", "3")):  # a team of threads splitting the rows: same bits
            ob = fresh(f"dlor-{method}-b{b}-t{t}.npy")
            rc, so, se = run("run", dl, "-i", os.path.join(digits, "x_test.npy"), "-o", ob, "--batch", b,
                             "--threads", t)
            check(rc == 0 and np.array_equal(np.load(ob), y), f"{method}: --batch {b} --threads {t}: {se}")
        rc, so, se = run("run", dl, "-i", os.path.join(digits, "x_test.npy"), "-o", fresh("t0.npy"), "--threads", "0")
        check(rc == 2 and "--threads" in se, f"--threads 0 is a usage error: {rc} {se}")

# ---- sawtooth (softplus) with the graph in safetensors metadata -------------------
ws = load_file(os.path.join(saw, "sawtooth.safetensors"))
xs = np.load(os.path.join(saw, "x_test.npy"))
ref_s = mlp(ws, xs, softplus, 5)
check(np.abs(ref_s - np.load(os.path.join(saw, "y_pred_test.npy"))).max() < 1e-5, "numpy sawtooth matches torch")
spec = ";".join(f"linear({2 * i}.weight,{2 * i}.bias)" + (";softplus" if i < 4 else "") for i in range(5))
meta_src = path("saw-meta.safetensors")
save_file(ws, meta_src, metadata={"dlor.graph": spec})
for dtype, tol in (("f32", 1e-4), ("f16", 3e-2), ("bf16", 2e-1)):
    dl = fresh(f"saw-{dtype}.dlor")
    rc, so, se = run("convert", meta_src, "-o", dl, "--rank", "3", "--dtype", dtype)
    o = fresh(f"saw-{dtype}.npy")
    rc2, so, se2 = run("run", dl, "-i", os.path.join(saw, "x_test.npy"), "-o", o)
    check(rc == 0 and rc2 == 0, f"sawtooth {dtype}: {se}{se2}")
    if rc2 == 0:
        err = np.abs(np.load(o) - ref_s).max()
        check(err <= tol, f"sawtooth {dtype}: max abs error {err:.3g} > {tol}")

# ---- --compress: a zlib data section, inflated by hosts, same outputs ---------------
plain, packed = path("digits-mul.dlor"), fresh("digits-mul-z.dlor")
rc, so, se = run("convert", os.path.join(digits, "digits.safetensors"), "-o", packed, "--activation", "relu",
                 "--rank", "16", "--compress")
check(rc == 0 and os.path.getsize(packed) < 0.8 * os.path.getsize(plain),
      f"--compress: {os.path.getsize(packed)} vs {os.path.getsize(plain)} bytes: {se}")
yz, yp = fresh("z.npy"), fresh("p.npy")
run("run", packed, "-i", os.path.join(digits, "x_test.npy"), "-o", yz)
run("run", plain, "-i", os.path.join(digits, "x_test.npy"), "-o", yp)
check(os.path.exists(yz) and np.array_equal(np.load(yz), np.load(yp)), "compressed model gives the same outputs")
rc, so, se = run("verify", os.path.join(digits, "digits.safetensors"), packed, "--inputs", os.path.join(digits, "x_test.npy"))
check(rc == 0 and "PASS" in so, f"verify compressed: {se}")
hz, hp = fresh("z.h"), fresh("p.h")
run("export-c", packed, "-o", hz)
run("export-c", plain, "-o", hp)
check(os.path.exists(hz) and open(hz).read().split("*/", 1)[1] == open(hp).read().split("*/", 1)[1],
      "export-c writes a compressed model inflated, identical to the plain one")
bad = bytearray(open(packed, "rb").read())
bad[-20] ^= 0x40
badp = path("bad-z.dlor")
open(badp, "wb").write(bytes(bad))
rc, so, se = run("run", badp, "-i", os.path.join(digits, "x_test.npy"), "-o", fresh("never.npy"))
check(rc == 1 and "bad-z.dlor" in se and not os.path.exists(path("never.npy")), f"corrupt compressed: {se}")

# ---- bad input: clean errors, nothing written ------------------------------------------
dl = path("digits-mul.dlor")
o = fresh("bad.npy")
for args, needle in [
    (["run", dl, "-i", os.path.join(saw, "x_test.npy"), "-o", o], "[N, 64]"),
    (["run", dl, "-i", os.path.join(digits, "y_test.npy"), "-o", o], "float"),
    (["run", dl, "-i", path("missing.npy"), "-o", o], "missing.npy"),
    (["run", os.path.join(digits, "digits.safetensors"), "-i", os.path.join(digits, "x_test.npy"), "-o", o],
     "--activation"),
]:
    rc, so, se = run(*args)
    check(rc == 1 and needle in se, f"{args[1:2]}: exit {rc}, stderr {se!r}")
    check(not os.path.exists(o), f"{args}: no output written")
rc, so, se = run("run", dl, "-i", os.path.join(digits, "x_test.npy"), "-o", o, "--batch", "0")
check(rc == 2 and "--batch" in se, f"--batch 0: {se}")
nograph = fresh("nograph.dlor")
run("convert", os.path.join(digits, "digits.safetensors"), "-o", nograph)
rc, so, se = run("run", nograph, "-i", os.path.join(digits, "x_test.npy"), "-o", o)
check(rc == 1 and "no graph" in se and "--activation" in se, f"no graph: {se}")
check(not os.path.exists(o), "no graph: no output")
bad_spec = path("bad-spec.safetensors")
save_file(ws, bad_spec, metadata={"dlor.graph": "linear(0.weight,0.bias);frobnicate"})
rc, so, se = run("convert", bad_spec, "-o", fresh("bad-spec.dlor"))
check(rc == 1 and "frobnicate" in se and not os.path.exists(path("bad-spec.dlor")), f"bad graph text: {se}")
chain = path("bad-chain.safetensors")
save_file(ws, chain, metadata={"dlor.graph": "linear(0.weight,0.bias);linear(2.weight,2.bias);linear(0.weight)"})
rc, so, se = run("convert", chain, "-o", fresh("bad-chain.dlor"))
check(rc == 1 and "0.weight" in se and "takes 1 inputs" in se, f"graph that does not chain: {se}")

# ---- an ONNX model that starts with Flatten takes inputs in its declared shape -------------
# Declared input [1, 16, 96]: samples [N, 16, 96] run as they are (flattened in C order, as
# Flatten does), [N, 1536] too; onnxruntime runs the declared [1, 16, 96] one sample at a time.
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

rng = np.random.default_rng(7)
fw1, fb1 = (rng.standard_normal((12, 1536)) * 0.05).astype(np.float32), rng.standard_normal(12).astype(np.float32)
fw2, fb2 = rng.standard_normal((5, 12)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
fgraph = helper.make_graph(
    [helper.make_node("Flatten", ["x"], ["f"], axis=1), helper.make_node("Gemm", ["f", "W1", "b1"], ["h"], transB=1),
     helper.make_node("Relu", ["h"], ["r"]), helper.make_node("Gemm", ["r", "W2", "b2"], ["y"], transB=1)],
    "flatten_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 96])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
    [numpy_helper.from_array(a, n) for n, a in (("W1", fw1), ("b1", fb1), ("W2", fw2), ("b2", fb2))])
fmodel = helper.make_model(fgraph, opset_imports=[helper.make_opsetid("", 17)])
fmodel.ir_version = 8
flat = path("flatten.onnx")
onnx.save(fmodel, flat)
x3 = rng.standard_normal((6, 16, 96)).astype(np.float32)
np.save(path("x-16x96.npy"), x3)
np.save(path("x-1536.npy"), x3.reshape(6, -1))
np.save(path("x-one.npy"), x3[0])
np.save(path("x-wrong.npy"), x3[:, :, :95])
sess = ort.InferenceSession(flat, providers=["CPUExecutionProvider"])
ref_f = np.concatenate([sess.run(None, {"x": x3[i:i + 1]})[0] for i in range(len(x3))])
flat_dlor = fresh("flatten.dlor")
rc, so, se = run("convert", flat, "-o", flat_dlor, "--rank", "8")
check(rc == 0, f"convert the Flatten model: {se}")
for model in (flat, flat_dlor):
    outs = {}
    for xs in ("x-16x96.npy", "x-1536.npy"):
        o = fresh("y-" + xs)
        rc, so, se = run("run", model, "-i", path(xs), "-o", o)
        check(rc == 0, f"run {os.path.basename(model)} on {xs}: {se}")
        if rc == 0:
            outs[xs] = np.load(o)
            e = np.abs(outs[xs] - ref_f).max() / np.abs(ref_f).max()
            check(outs[xs].shape == (6, 5) and e <= 1e-5, f"{os.path.basename(model)} {xs} vs onnxruntime: {e:.3g}")
    if len(outs) == 2:
        check(np.array_equal(outs["x-16x96.npy"], outs["x-1536.npy"]), "[N, 16, 96] and [N, 1536] give the same bits")
    o = fresh("y-never.npy")
    rc, so, se = run("run", model, "-i", path("x-one.npy"), "-o", o)
    check(rc == 1 and "[16, 96]" in se and "[1, 16, 96]" in se and not os.path.exists(o),
          f"one sample without its batch axis: the shape to give: {se}")
    rc, so, se = run("run", model, "-i", path("x-wrong.npy"), "-o", o)
    check(rc == 1 and "[6, 16, 95]" in se and "[N, 1536]" in se and not os.path.exists(o),
          f"a shape that does not fit says what the model takes: {se}")
rc, so, se = run("verify", flat, flat_dlor, "--inputs", path("x-16x96.npy"))
check(rc == 0 and "end to end on 6 x-16x96.npy inputs" in so, f"verify --inputs in the declared shape: {so}{se}")

finish()
