"""dlor_embedded_demo (runtime sources only, model as a const array) must give
exactly the bits 'dlor run' gives for the same model and inputs, and carry NaN
inputs through to NaN outputs (as onnxruntime does on the digits model)."""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import DLOR, SRC, check, finish, scratch_dir  # noqa: E402

DEMO, MODEL = os.environ["DLOR_DEMO"], os.environ["DLOR_DEMO_MODEL"]
TMP = scratch_dir("embedded")


x = np.load(os.path.join(SRC, "samples", "digits", "x_test.npy")).astype("<f4")
# samples 3 and 11 hold a NaN, sample 5 an infinity: every output of the first two is NaN in onnxruntime
x[3, 17] = np.nan
x[11, 0] = np.nan
x[5, 40] = np.inf
xin = os.path.join(TMP, "x.npy")
np.save(xin, x)
p = subprocess.run([DEMO], input=x.tobytes(), capture_output=True)
check(p.returncode == 0, f"demo exit {p.returncode}: {p.stderr.decode()}")
demo = np.array([[float(v) for v in line.split()] for line in p.stdout.decode().splitlines()], dtype=np.float32)
out = os.path.join(TMP, "run.npy")
r = subprocess.run([DLOR, "run", MODEL, "-i", xin, "-o", out], capture_output=True, text=True)
check(r.returncode == 0, f"dlor run: {r.stderr}")
ref = np.load(out)
check(demo.shape == ref.shape, f"shapes {demo.shape} vs {ref.shape}")
if demo.shape == ref.shape:
    # printed and read back, a NaN keeps its sign but not its payload: NaN where dlor run has NaN,
    # every other value bit for bit
    nan = np.isnan(ref)
    same = np.array_equal(np.isnan(demo), nan) and np.array_equal(demo[~nan].view(np.uint32), ref[~nan].view(np.uint32))
    check(same, f"bit-exact: {np.count_nonzero(demo != ref)} values differ, max {np.abs(demo - ref).max():.3g}")
    try:
        import onnxruntime as ort
        onx = ort.InferenceSession(os.path.join(SRC, "samples", "digits", "digits.onnx"),
                                   providers=["CPUExecutionProvider"])
        want = onx.run(None, {onx.get_inputs()[0].name: x})[0]
        check(np.isnan(want[[3, 11]]).all(), "onnxruntime gives NaN logits for the NaN samples")
        check(np.array_equal(np.isnan(demo), np.isnan(want)),
              f"NaN outputs where onnxruntime has them: {np.argwhere(np.isnan(demo) != np.isnan(want))[:4].tolist()}")
    except ImportError:
        check(np.isnan(demo[[3, 11]]).all(), "NaN samples give NaN logits")
hdr = open(os.path.join(os.path.dirname(MODEL), "model.h")).read()
check("DLOR_MODEL_SCRATCH_BYTES" in hdr and "aligned(64)" in hdr, "header carries scratch size and alignment")
bad = os.path.join(TMP, "bad.h")
r = subprocess.run([DLOR, "export-c", os.path.join(SRC, "samples", "digits", "digits.safetensors"), "-o", bad],
                   capture_output=True, text=True)
check(r.returncode == 1 and "not a .dlor file" in r.stderr and not os.path.exists(bad), f"export-c dense: {r.stderr}")
r = subprocess.run([DLOR, "export-c", MODEL, "-o", bad, "--name", "1bad"], capture_output=True, text=True)
check(r.returncode == 2 and "--name" in r.stderr and not os.path.exists(bad), f"export-c bad name: {r.stderr}")
corrupt = os.path.join(TMP, "corrupt.dlor")
b = bytearray(open(MODEL, "rb").read())
b[len(b) // 2] ^= 1
open(corrupt, "wb").write(bytes(b))
r = subprocess.run([DLOR, "export-c", corrupt, "-o", bad], capture_output=True, text=True)
check(r.returncode == 1 and "corrupt" in r.stderr and not os.path.exists(bad), f"export-c corrupt: {r.stderr}")
finish()
