"""The runtime API alone (run_image) reproduces 'dlor run' bit for bit, so does
the runtime built without its per-processor kernel versions (run_image_noclones:
the baseline instruction set, against the AVX2 kernels that hosts with AVX2
dispatch to), and the BLAS build of the runtime (sgemm for batches) agrees with
the portable one within float32 rounding, for dense, mul, add and compressed
layers in several dtypes (q8 and q4 too) and both U layouts; with quantized
activations (--quant-acts) the three give the bits of 'dlor run --quant-acts'."""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import DLOR, SRC, check, finish, scratch_dir  # noqa: E402

RUN, RUN_BLAS = os.environ["DLOR_RUN_IMAGE"], os.environ["DLOR_RUN_IMAGE_BLAS"]
RUN_BASE = os.environ["DLOR_RUN_IMAGE_NOCLONES"]
TMP = scratch_dir("paths")


digits = os.path.join(SRC, "samples", "digits")
x = np.load(os.path.join(digits, "x_test.npy")).astype("<f4")
cases = [("dense", ["--exclude", "*"]), ("mul", ["--rank", "16"]), ("mul-f16", ["--rank", "8", "--dtype", "f16"]),
         ("add", ["--method", "add"]), ("add-rows", ["--method", "add", "--layout", "rows"]),
         ("lowrank-rows-f16", ["--method", "lowrank", "--rank", "5", "--layout", "rows", "--dtype", "f16"]),
         ("mul-f64", ["--rank", "3", "--dtype", "f64"]),
         ("lowrank-q8", ["--method", "lowrank", "--rank", "12", "--dtype", "q8"]),
         ("mul-q4", ["--rank", "40", "--dtype", "q4"]), ("dense-q8", ["--tol", "1e-9", "--dtype", "q8"]),
         ("dense-q4", ["--tol", "1e-9", "--dtype", "q4"])]
for name, flags in cases:
    model = os.path.join(TMP, f"{name}.dlor")
    r = subprocess.run([DLOR, "convert", os.path.join(digits, "digits.safetensors"), "-o", model, "--activation",
                        "relu", *flags], capture_output=True, text=True)
    check(r.returncode == 0, f"{name}: convert {r.stderr}")
    ref_path = os.path.join(TMP, f"{name}.npy")
    r = subprocess.run([DLOR, "run", model, "-i", os.path.join(digits, "x_test.npy"), "-o", ref_path],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"{name}: dlor run {r.stderr}")
    ref = np.load(ref_path)
    for tool, batch, exact in ((RUN, "64", True), (RUN, "7", True), (RUN_BASE, "64", True), (RUN_BASE, "1", True),
                               (RUN_BLAS, "64", False), (RUN_BLAS, "1", True)):
        p = subprocess.run([tool, model, batch], input=x.tobytes(), capture_output=True)
        y = np.frombuffer(p.stdout, dtype="<f4").reshape(-1, 10) if p.returncode == 0 else None
        what = f"{name}: {os.path.basename(tool)} batch {batch}"
        check(y is not None and y.shape == ref.shape, f"{what}: {p.stderr.decode()}")
        if y is None or y.shape != ref.shape:
            continue
        if exact:  # the portable path; batch 1 never takes the BLAS branch
            check(np.array_equal(y.view(np.uint32), ref.view(np.uint32)), f"{what}: not bit-identical")
        else:
            err = np.abs(y - ref).max() / np.abs(ref).max()
            check(err <= 1e-5 and np.array_equal(y.argmax(1), ref.argmax(1)), f"{what}: relative difference {err:.3g}")
    if "q8" not in name and "q4" not in name:
        continue
    # integer dot products on quantized activations: 'dlor run --quant-acts' bit for bit in the dispatched
    # runtime and the one without kernel versions (plain loops); the BLAS one only near them: its products stay
    # integer but its updates of U go through sgemm, and a float32 rounding apart in a layer's input can move a
    # quantized activation of the next layer by one step (scale = max|x| / 127): 1e-2 of the largest output
    r = subprocess.run([DLOR, "run", model, "-i", os.path.join(digits, "x_test.npy"), "-o", ref_path, "--quant-acts"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"{name}: dlor run --quant-acts {r.stderr}")
    qref = np.load(ref_path)
    check(not np.array_equal(qref, ref), f"{name}: --quant-acts changes nothing")
    for tool, batch in ((RUN, "64"), (RUN, "1"), (RUN_BASE, "64"), (RUN_BASE, "1"), (RUN_BLAS, "64")):
        p = subprocess.run([tool, "--quant-acts", model, batch], input=x.tobytes(), capture_output=True)
        y = np.frombuffer(p.stdout, dtype="<f4").reshape(-1, 10) if p.returncode == 0 else None
        what = f"{name}: {os.path.basename(tool)} --quant-acts batch {batch}"
        check(y is not None and y.shape == qref.shape, f"{what}: {p.stderr.decode()}")
        if y is None or y.shape != qref.shape:
            continue
        if tool != RUN_BLAS:
            check(np.array_equal(y.view(np.uint32), qref.view(np.uint32)), f"{what}: not bit-identical")
        else:
            err = np.abs(y - qref).max() / np.abs(qref).max()
            check(err <= 1e-2, f"{what}: relative difference {err:.3g}")

# wide q8/q4 layers (300 and 1060 features, 10 and 34 blocks: the integer kernels' sixteen blocks at a time,
# twice, and the rest, the last block partial), with --quant-acts: the dispatched runtime (on a processor with
# AVX-512 VNNI its vpdpbusd kernels for q8 and q4) and the plain loops give the same bits
rng = np.random.default_rng(3)
wide = os.path.join(TMP, "wide.npz")
np.savez(wide, **{"0.weight": (0.1 * rng.standard_normal((1060, 300))).astype("<f4"),
                  "2.weight": (0.1 * rng.standard_normal((10, 1060))).astype("<f4")})
xw = rng.standard_normal((33, 300)).astype("<f4")
for dt in ("q8", "q4"):
    model = os.path.join(TMP, f"wide-{dt}.dlor")
    r = subprocess.run([DLOR, "convert", wide, "-o", model, "--activation", "relu", "--tol", "1e-9", "--dtype", dt],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"wide {dt}: convert {r.stderr}")
    ys = {}
    for tool, batch in ((RUN, "33"), (RUN, "1"), (RUN_BASE, "33"), (RUN_BASE, "1")):
        p = subprocess.run([tool, "--quant-acts", model, batch], input=xw.tobytes(), capture_output=True)
        check(p.returncode == 0 and len(p.stdout) == 33 * 10 * 4, f"wide {dt} {tool} {batch}: {p.stderr.decode()}")
        ys[(tool, batch)] = p.stdout
    check(len(set(ys.values())) == 1, f"wide {dt}: the runtimes' outputs with --quant-acts are not bit-identical")

# the same for float32 layers whose rows, samples and features are no multiples of the batch tiles' (a 300 x 520 x
# 10 chain, batches of 33, 7 and 1: the tiles' scalar columns, the rows and samples left over)
model = os.path.join(TMP, "wide-f32.dlor")
r = subprocess.run([DLOR, "convert", wide, "-o", model, "--activation", "relu", "--tol", "1e-9"], capture_output=True,
                   text=True)
check(r.returncode == 0, f"wide f32: convert {r.stderr}")
ref_path = os.path.join(TMP, "wide-f32.npy")
np.save(os.path.join(TMP, "xw.npy"), xw)
r = subprocess.run([DLOR, "run", model, "-i", os.path.join(TMP, "xw.npy"), "-o", ref_path], capture_output=True,
                   text=True)
check(r.returncode == 0, f"wide f32: dlor run {r.stderr}")
if r.returncode == 0:
    ref = np.load(ref_path)
    for tool, batch in ((RUN, "33"), (RUN, "7"), (RUN, "1"), (RUN_BASE, "33"), (RUN_BASE, "1")):
        p = subprocess.run([tool, model, batch], input=xw.tobytes(), capture_output=True)
        check(p.returncode == 0 and p.stdout == ref.astype("<f4").tobytes(),
              f"wide f32 {os.path.basename(tool)} batch {batch}: not the bits of dlor run {p.stderr.decode()}")


# GELU over a sweep of float32 values (every sign and exponent, 2^20 of them, through an identity layer: x exactly,
# -0 as +0): the dispatched runtime (16 lanes at a time on AVX-512 processors, its coefficients picked by a permute)
# and the one without kernel versions give the same bits
def gelu_model():
    from onnx import TensorProto, helper, numpy_helper
    n = 250
    g = helper.make_graph([helper.make_node("Gemm", ["x", "W", "b"], ["h"], transB=1),
                           helper.make_node("Gelu", ["h"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n])],
                          initializer=[numpy_helper.from_array(np.eye(n, dtype=np.float32), "W"),
                                       numpy_helper.from_array(np.zeros(n, np.float32), "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    onnx_path = os.path.join(TMP, "gelu.onnx")
    with open(onnx_path, "wb") as f:
        f.write(m.SerializeToString())
    return onnx_path


bits = (np.arange(1 << 20, dtype=np.uint64) * 4093 + 17).astype(np.uint32)
bits[(bits >> 23 & 0xff) == 0xff] &= 0x807fffff  # no infinity or NaN (0 x inf in the identity layer)
xg = bits.view(np.float32)[:1048000].reshape(4192, 250)
model = os.path.join(TMP, "gelu.dlor")
r = subprocess.run([DLOR, "convert", gelu_model(), "-o", model, "--tol", "1e-9"], capture_output=True, text=True)
check(r.returncode == 0, f"gelu: convert {r.stderr}")
outs = {}
for tool in (RUN, RUN_BASE):
    p = subprocess.run([tool, model, "4192"], input=xg.tobytes(), capture_output=True)
    check(p.returncode == 0 and len(p.stdout) == xg.nbytes, f"gelu {os.path.basename(tool)}: {p.stderr.decode()}")
    outs[tool] = p.stdout
check(outs[RUN] == outs[RUN_BASE], "gelu: the dispatched runtime and the one without kernel versions differ")
yg = np.frombuffer(outs[RUN], np.float32).reshape(xg.shape).astype(np.float64)
xd = xg.astype(np.float64)
near = (np.abs(xd) < 10) & (np.abs(xd) > 1e-30)  # normal results
want = 0.5 * xd[near] * (1 + np.vectorize(__import__("math").erf)(xd[near] / np.sqrt(2)))
check(np.all(np.abs(yg[near] - want) <= 1e-6 * (np.abs(want) + np.abs(xd[near]))),
      "gelu: not within 1e-6 x (|gelu(x)| + |x|) of erf's GELU")

# transformer graphs of dense layers: BERT (attention four queries at a time through the batch tiles, its softmax
# and the weighted sum of the values; GELU, LayerNorm; a padding mask) and LLaMA (rotary embedding and the causal
# mask, query by query; RMSNorm, SiLU), both samples and a BERT of 72 features (18 a head, 200 intermediate: no
# multiples of 16) made here: the runtime API, dispatched and without kernel versions, gives the bits of dlor run
def bert72():
    from safetensors.numpy import load_file, save_file
    d = os.path.join(TMP, "bert72")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(5)
    new = {64: 72, 256: 200}
    tensors = {}
    for k, v in load_file(os.path.join(SRC, "samples", "bert-tiny", "model.safetensors")).items():
        shape = [new.get(n, n) for n in v.shape]
        if "LayerNorm.weight" in k:
            tensors[k] = (1 + 0.1 * rng.standard_normal(shape)).astype("<f4")
        else:
            tensors[k] = (0.08 * rng.standard_normal(shape)).astype("<f4")
    save_file(tensors, os.path.join(d, "model.safetensors"))
    import json
    c = json.load(open(os.path.join(SRC, "samples", "bert-tiny", "config.json")))
    c.update({"hidden_size": 72, "intermediate_size": 200})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f)
    return d


for name, folder, output in (("bert-tiny", os.path.join(SRC, "samples", "bert-tiny"), "last_hidden_state"),
                             ("bert72", bert72(), "last_hidden_state"),
                             ("llama-tiny", os.path.join(SRC, "samples", "llama-tiny"), "logits")):
    model = os.path.join(TMP, f"{name}.dlor")
    r = subprocess.run([DLOR, "convert", folder, "-o", model, "--method", "auto", "--tol", "1e-9"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"{name}: convert {r.stderr}")
    inputs = os.path.join(SRC, "samples", "bert-tiny" if name == "bert72" else name, "test.npz")
    ref_path = os.path.join(TMP, f"{name}.npy")
    r = subprocess.run([DLOR, "run", model, "-i", inputs, "-o", ref_path, "--select", output], capture_output=True,
                       text=True)
    if not check(r.returncode == 0, f"{name}: dlor run {r.stderr}"):
        continue
    ref = np.load(ref_path).astype("<f4")
    data = np.load(inputs)
    ids = data["input_ids"]
    stdin = b"".join(data[k].astype("<i8").tobytes() for k in ("input_ids", "attention_mask", "token_type_ids")
                     if k in data)
    check(not np.all(data["attention_mask"]), f"{name}: test.npz pads no sequence")
    for tool in (RUN, RUN_BASE):
        p = subprocess.run([tool, model, str(ids.shape[0]), str(ids.shape[1]), output], input=stdin,
                           capture_output=True)
        check(p.returncode == 0 and p.stdout == ref.tobytes(),
              f"{name}: {os.path.basename(tool)}: not the bits of dlor run {p.stderr.decode()}")
finish()
