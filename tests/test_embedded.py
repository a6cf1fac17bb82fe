"""dlor_embedded_demo (runtime sources only, model as a const array) must give
exactly the bits 'dlor run' gives for the same model and inputs."""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import DLOR, SRC, check, finish, scratch_dir  # noqa: E402

DEMO, MODEL = os.environ["DLOR_DEMO"], os.environ["DLOR_DEMO_MODEL"]
TMP = scratch_dir("embedded")


x = np.load(os.path.join(SRC, "samples", "digits", "x_test.npy")).astype("<f4")
p = subprocess.run([DEMO], input=x.tobytes(), capture_output=True)
check(p.returncode == 0, f"demo exit {p.returncode}: {p.stderr.decode()}")
demo = np.array([[float(v) for v in line.split()] for line in p.stdout.decode().splitlines()], dtype=np.float32)
out = os.path.join(TMP, "run.npy")
r = subprocess.run([DLOR, "run", MODEL, "-i", os.path.join(SRC, "samples", "digits", "x_test.npy"), "-o", out],
                   capture_output=True, text=True)
check(r.returncode == 0, f"dlor run: {r.stderr}")
ref = np.load(out)
check(demo.shape == ref.shape, f"shapes {demo.shape} vs {ref.shape}")
if demo.shape == ref.shape:
    same = np.array_equal(demo.view(np.uint32), ref.view(np.uint32))
    check(same, f"bit-exact: {np.count_nonzero(demo != ref)} values differ, max {np.abs(demo - ref).max():.3g}")
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
