"""Block-quantized storage (q8, q4; DLOR_FORMAT.md 6.1) through the dlor command.

The references are written here, apart from the C code: a numpy quantizer that
follows 6.1's rule and a numpy forward pass of the dequantized weights. Checked:
the values the converter stores (dense layers kept dense, and DLoR factors,
whose float64 twin comes from the same factorization), 'dlor run' against numpy
at batch 1 and batched, one and two threads, float32 and float64 passes, the
quantization error on Gaussian weights, q8 factors of beta*I + P Q^T against
float32 factors on a residual-style layer, and hostile files: truncated
payloads, NaN/inf/negative scales, nonzero padding, wrong byte counts, a
quantized U in panels, each one line and exit 1, never a crash."""
import json
import os
import struct
import sys

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader  # noqa: E402
from dlor_spec_cases import _tensor_index, fix_checksums  # noqa: E402
from dlor_quanttest import RUNS, check_runs, model_steps, quantize, rel_fro as rel  # noqa: E402
from dlor_testlib import SRC, check, finish, run, scratch  # noqa: E402

TMP, path, fresh = scratch("quant")
st_file, convert, run_model = model_steps(fresh, path)


rng = np.random.default_rng(11)

# ---- a model kept dense in q8 / q4: stored values equal the numpy quantizer's -----------------
# 100 and 70 features: rows that are not whole blocks (padding); one block of zeros; tiny values
W0 = rng.standard_normal((70, 100)).astype(np.float32)
W0[3, 32:64] = 0
W0[5, :] *= 1e-6
W0[6, :] *= 1e-3  # f16 subnormal scales (q8)
W0[7, :] *= 1e-4  # and for q4
W1 = (0.3 * rng.standard_normal((10, 70))).astype(np.float32)
b0, b1 = rng.standard_normal(70).astype(np.float32), rng.standard_normal(10).astype(np.float32)
dense = st_file("dense.safetensors", [("0.weight", W0), ("0.bias", b0), ("2.weight", W1), ("2.bias", b1)],
                "linear(0.weight,0.bias); relu; linear(2.weight,2.bias)")
x = rng.standard_normal((37, 100)).astype(np.float32)
for dt in ("q8", "q4"):
    m = convert(dense, f"dense-{dt}.dlor", "--tol", "1e-9", "--dtype", dt)
    meta, tensors, _ = dlor_pyreader.read(m)
    raw = {t["name"]: t["raw"] for t in dlor_pyreader._load(m)[1]}
    refs = {}
    for name, w in (("0.weight", W0), ("2.weight", W1)):
        deq, stored = quantize(w, dt)
        refs[name] = deq
        check(np.array_equal(tensors[name].astype(np.float64), deq), f"{dt} {name}: dequantized values")
        check(raw[name] == stored, f"{dt} {name}: the bytes of 6.1")
    bits = 8 * len(raw["0.weight"]) / W0.size
    check(abs(bits - (8.5 if dt == "q8" else 4.5) * 128 / 100) < 1e-9, f"{dt}: {bits} bits per weight (padded)")
    # numpy forward pass of the dequantized weights
    ref = np.maximum(x @ refs["0.weight"].T + b0, 0) @ refs["2.weight"].T + b1
    check_runs(run_model, m, x, ref, f"{dt} dense", RUNS + (("--batch", "5", "--threads", "2"),))
    check(np.abs(dlor_pyreader.forward(m, x) - ref).max() <= 1e-6 * np.abs(ref).max(), f"{dt}: pyreader forward")

# ---- factors: the q8/q4 factors are the numpy quantizer of the float64 factors -------------------
N = 96
Wf = (np.eye(N) + rng.standard_normal((N, 6)) @ rng.standard_normal((6, N)) / N
      + 0.01 * rng.standard_normal((N, N))).astype(np.float32)
W2 = (0.2 * rng.standard_normal((10, N))).astype(np.float32)
fsrc = st_file("factors.safetensors", [("0.weight", Wf), ("2.weight", W2)], "linear(0.weight); tanh; linear(2.weight)")
f64 = convert(fsrc, "factors-f64.dlor", "--method", "lowrank", "--rank", "12", "--dtype", "f64")
_, _, lay64 = dlor_pyreader.read(f64)
xf = rng.standard_normal((9, N)).astype(np.float32)
for dt in ("q8", "q4"):
    for method in (("--method", "lowrank", "--rank", "12"), ("--method", "mul", "--rank", "40")):
        m = convert(fsrc, f"factors-{dt}.dlor", *method, "--dtype", dt)
        _, tensors, lay = dlor_pyreader.read(m)
        L = lay["0.weight"]
        if method[1] == "lowrank":
            for part in ("U", "V"):
                deq, _ = quantize(lay64["0.weight"][part], dt)
                check(np.array_equal(L[part].astype(np.float64), deq), f"{dt} factor {part}: dequantized values")
        Wh = [dlor_pyreader.rebuild(lay[n]) if n in lay else tensors[n].astype(np.float64)
              for n in ("0.weight", "2.weight")]
        ref = np.tanh(xf @ Wh[0].T) @ Wh[1].T
        check_runs(run_model, m, xf, ref, f"{dt} {method[1]}", RUNS)

# ---- quantization error on Gaussian weights -----------------------------------------------------
G = rng.standard_normal((512, 512)).astype(np.float32)
gsrc = st_file("gauss.safetensors", [("0.weight", G)], "linear(0.weight)")
errs = {}
for dt, bound in (("q8", 0.006), ("q4", 0.10)):
    m = convert(gsrc, f"gauss-{dt}.dlor", "--tol", "1e-9", "--dtype", dt)
    errs[dt] = rel(dlor_pyreader.read(m)[1]["0.weight"].astype(np.float64), G.astype(np.float64))
    print(f"Gaussian 512 x 512, {dt}: relative Frobenius error {errs[dt]:.4%}")
    check(errs[dt] <= bound, f"{dt} Gaussian error {errs[dt]:.4g} above {bound}")
    y = run_model(m, G[:3])
    ref = G[:3].astype(np.float64) @ dlor_pyreader.read(m)[1]["0.weight"].astype(np.float64).T
    check(y is not None and np.abs(y - ref).max() <= 1e-5 * np.abs(ref).max(), f"{dt} Gaussian run")

# ---- beta*I + P Q^T with q8 factors on a residual-style layer ---------------------------------------
N = 768
A, B = rng.standard_normal((N, 16)), rng.standard_normal((N, 16))
Wr = (np.eye(N) + A @ B.T / N + 2e-3 * rng.standard_normal((N, N))).astype(np.float32)
rsrc = st_file("residual.safetensors", [("0.weight", Wr)], "linear(0.weight)")
res = {}
for dt in ("f32", "q8"):
    m = convert(rsrc, f"residual-{dt}.dlor", "--method", "lowrank", "--rank", "24", "--dtype", dt)
    _, _, lay = dlor_pyreader.read(m)
    recs = {t["name"]: t for t in dlor_pyreader._load(m)[1]}
    nbytes = len(recs["0.weight.dlor.U"]["raw"]) + len(recs["0.weight.dlor.V"]["raw"])
    res[dt] = (rel(dlor_pyreader.rebuild(lay["0.weight"]), Wr.astype(np.float64)), nbytes)
print(f"residual N={N}, rank 24: f32 factors error {res['f32'][0]:.5g} ({res['f32'][1]} bytes), "
      f"q8 factors {res['q8'][0]:.5g} ({res['q8'][1]} bytes): {res['q8'][0] / res['f32'][0]:.4f} x the error at "
      f"{res['q8'][1] / res['f32'][1]:.3f} x the bytes")
check(res["q8"][0] <= 1.05 * res["f32"][0], "q8 factors within 1.05 x the float32 factors' error")
check(res["q8"][1] <= 0.3 * res["f32"][1], "q8 factors in at most 0.3 x the bytes")

# ---- verify and info know the dtypes -----------------------------------------------------------------
rc, so, se = run("verify", dense, path("dense-q8.dlor"), "--json", fresh("v.json"))
check(rc == 0, f"verify of a q8 model: {so} {se}")
rc, so, se = run("info", path("factors-q4.dlor"))
check(rc == 0 and " q4 " in so, f"info names q4: {so[:200]}")
rc, so, se = run("convert", fsrc, "-o", fresh("x.dlor"), "--dtype", "q3")
check(rc == 2 and "q8 or q4" in se, f"--dtype q3 is a usage error: {se}")
rc, so, se = run("convert", fsrc, "-o", fresh("x.dlor"), "--dtype", "q8", "--emit", fresh("x.safetensors"))
# one line, beside the plan's notes on exact layers that grow past 4x
other = [ln for ln in se.splitlines() if "form stores" not in ln and "warning: " not in ln]
check(rc == 1 and len(other) == 1 and not os.path.exists(path("x.dlor")), f"--emit with q8: {se}")
big = st_file("big.safetensors", [("0.weight", (1e7 * rng.standard_normal((4, 40))).astype(np.float32))], "linear(0.weight)")
rc, so, se = run("convert", big, "-o", fresh("x.dlor"), "--tol", "1e-9", "--dtype", "q8")
check(rc == 1 and "f16" in se and se.count("\n") == 1 and not os.path.exists(path("x.dlor")),
      f"a block too large for an f16 scale: {se}")

# ---- an exact form in q4 or q8 is exact no more, and convert says so ----------------------------------
# The digits sample's layers: mul factors in q4 rebuild each layer (independent reader) with several
# times the error of the layer itself in q4, which the warning's suggestion stores, without a warning.
digits = os.path.join(SRC, "samples", "digits", "digits.safetensors")
Wd = load_file(digits)
WARN = ("dlor convert: warning: 3 layers take an exact form (mul) stored in q4: quantized factors are not exact, "
        "their rounding errors add up through the factors and can ruin the model; to store the layers themselves "
        "in q4, give a target no smaller form meets (--tol 1e-9 --dtype q4) or a bit budget (--budget-bits B)")
mq, mk = fresh("digits-mul-q4.dlor"), fresh("digits-dense-q4.dlor")
rc, so, se = run("convert", digits, "--activation", "relu", "-o", mq, "--dtype", "q4")
check(rc == 0 and se.splitlines().count(WARN) == 1, f"mul in q4 warns, one line: {se}")
rc, so, se = run("convert", digits, "--activation", "relu", "-o", mk, "--tol", "1e-9", "--dtype", "q4")
check(rc == 0 and "warning" not in se, f"the layers kept dense in q4 do not warn: {se}")
_, _, lay_q = dlor_pyreader.read(mq)
_, ten_k, _ = dlor_pyreader.read(mk)
for name in ("0.weight", "2.weight", "4.weight"):
    w = Wd[name].astype(np.float64)
    e_mul, e_dense = rel(dlor_pyreader.rebuild(lay_q[name]), w), rel(ten_k[name].astype(np.float64), w)
    print(f"digits {name}: mul factors in q4 {e_mul:.4f}, the layer in q4 {e_dense:.4f}")
    check(e_mul > 2 * e_dense, f"{name}: q4 mul factors {e_mul:.4g} not worse than the layer in q4 {e_dense:.4g}")
for args, want in ((("--method", "add", "--set", "2.weight:dtype=q8"), "1 layer takes an exact form (add) stored in q8"),
                   (("--method", "mul", "--dtype", "f16"), None), (("--rank", "8", "--method", "lowrank", "--dtype", "q4"), None)):
    rc, so, se = run("convert", digits, "--activation", "relu", "-o", fresh("x.dlor"), *args)
    warned = [ln for ln in se.splitlines() if "warning" in ln]
    check(rc == 0 and (warned == [] if want is None else len(warned) == 1 and want in warned[0]),
          f"convert {args}: warning {warned}")

# ---- hostile files ------------------------------------------------------------------------------------
base = open(path("dense-q4.dlor"), "rb").read()
_, rec = _tensor_index(base, "0.weight")
toff, nbytes = struct.unpack_from("<QQ", base, rec + 80)
nb = 70 * 4  # blocks of 0.weight: 70 rows of ceil(100 / 32) = 4
scales = toff + nb * 16


def edited(edit, reseal=True):
    b = bytearray(base)
    edit(b)
    return fix_checksums(bytes(b)) if reseal else bytes(b)


hostile = [
    ("truncated-payload", base[:toff + nbytes // 2], "truncated"),
    ("truncated-file", base[:toff + 5], None),
    ("scale-nan", edited(lambda b: struct.pack_into("<H", b, scales + 6, 0x7E00)), "not finite"),
    ("scale-inf", edited(lambda b: struct.pack_into("<H", b, scales, 0x7C00)), "not finite"),
    ("scale-negative", edited(lambda b: struct.pack_into("<H", b, scales + 2, 0xBC00)), "negative"),
    ("padding", edited(lambda b: b.__setitem__(toff + 3 * 16 + 10, 0x70)), "padding"),  # column 122 of row 0
    ("nbytes", edited(lambda b: struct.pack_into("<Q", b, rec + 88, 70 * 100)), "nbytes"),
    ("ndim", edited(lambda b: b.__setitem__(rec + 10, 1) or struct.pack_into("<Q", b, rec + 24, 0)), "2-D"),
    ("crc", edited(lambda b: b.__setitem__(toff, b[toff] ^ 1), reseal=False), "CRC"),
]
# a q4 U tensor in panels (layer record offset 12)
fb = open(path("factors-q4.dlor"), "rb").read()


def panels(b):
    lrec = struct.unpack_from("<Q", b, 64 + 32 * 3 + 8)[0]
    struct.pack_into("<H", b, lrec + 12, 1)


fb2 = bytearray(fb)
panels(fb2)
hostile.append(("u-panels", fix_checksums(bytes(fb2)), "panels"))
for name, img, msg in hostile:
    p = fresh(f"hostile-{name}.dlor")
    open(p, "wb").write(img)
    for cmd in (("info", p), ("run", p, "-i", path("x.npy"), "-o", fresh("y.npy"))):
        rc, so, se = run(*cmd)
        check(rc == 1 and se.count("\n") == 1 and (msg is None or msg in se),
              f"{name} ({cmd[0]}): exit {rc}, {se!r}")
    try:
        dlor_pyreader.read(p)
        check(False, f"{name}: the numpy reader accepted it")
    except dlor_pyreader.DlorError:
        check(True, "")

with open(fresh("quant-errors.json"), "w") as f:
    json.dump({"gauss_q8": errs["q8"], "gauss_q4": errs["q4"], "residual": res}, f)
finish()
