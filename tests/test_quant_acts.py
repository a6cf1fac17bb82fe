"""Integer dot products on quantized activations ('dlor run --quant-acts', the
runtime's DLOR_RT_QUANT_ACTS) against a numpy pass written here from the rule in
dlor_runtime.h: each dense layer's or V^T product's input rows quantized per
block of 32 features (scale = max|x| / 127 in float32, values x / scale rounded
to nearest even and clamped to +-127, a zero block scale 0), then per weight
block the exact integer dot product times (weight scale x activation scale) in
float32, summed. The weights' integers and scales come from the file
(dlor_pyreader). Checked within 1e-5 of the largest output (the summation order
differs from numpy's) for q8 and q4 dense layers (rows that are not whole
blocks, a zero block) and DLoR factors (lowrank and mul) in q8/q4, batch 1 and
larger, one and two threads; without the flag the outputs are those of the float
pass bit for bit, the flag changes them by the activations' rounding only, and
--quant-acts with --dtype f64 is a usage error."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader  # noqa: E402
from dlor_quanttest import model_steps  # noqa: E402
from dlor_testlib import check, finish, run, scratch  # noqa: E402

TMP, path, fresh = scratch("quant_acts")
st_file, convert, run_model = model_steps(fresh, path)
rng = np.random.default_rng(5)


def quant_acts(x):
    """Rows of x [n, C] float32 -> int values [n, B, 32] (zero padded) and float32 scales [n, B]."""
    n, C = x.shape
    B = -(-C // 32)
    p = np.zeros((n, 32 * B), np.float32)
    p[:, :C] = x
    blk = p.reshape(n, B, 32)
    s = (np.abs(blk).max(axis=2) / np.float32(127)).astype(np.float32)
    safe = np.where(s > 0, s, np.float32(1))
    q = np.where(s[:, :, None] > 0, np.rint(blk / safe[:, :, None]), 0)
    return np.clip(q, -127, 127).astype(np.int64), s


def qmatvec(q, ws, x):
    """x [n, C] . rows of a quantized tensor (values q [R, B, 32], float16 scales ws [R, B])."""
    xq, xs = quant_acts(np.asarray(x, np.float32))
    idot = np.einsum("rbj,nbj->nrb", q.astype(np.int64), xq)  # exact
    sc = (ws.astype(np.float32)[None, :, :] * xs[:, None, :]).astype(np.float32)
    return (sc.astype(np.float64) * idot.astype(np.float32).astype(np.float64)).sum(axis=2)


def parts(recs, name):
    t = recs[name]
    return dlor_pyreader._quant_parts(t["raw"], t["dtype"], t["dims"])


def linear(model, name, x):
    """One LINEAR step of 'model' with the flag: a dense quantized weight or a DLoR layer."""
    _, trecs, _, _ = dlor_pyreader._load(model)
    recs = {t["name"]: t for t in trecs}
    _, tensors, lay = dlor_pyreader.read(model)
    if name not in lay:
        q, ws = parts(recs, name)
        return qmatvec(q, ws, x)
    L = lay[name]
    qv, wv = parts(recs, name + ".dlor.V")
    U = L["U"].astype(np.float64)  # U^T [K, dim_u], dequantized (the update stays float)
    r, K = L["rank"], U.shape[0]
    if L["method"] == 1:  # mul: x~ = [x; 0], then x~ = a x~ + U_l (V_l^T x~)
        D = max(L["rows"], L["cols"])
        xt = np.zeros((x.shape[0], D))
        xt[:, :L["cols"]] = x
        for l in range(L["factors"]):
            c = slice(l * r, min((l + 1) * r, K))
            z = qmatvec(qv[c], wv[c], xt.astype(np.float32))
            xt = L["alpha"] * xt + z @ U[c]
        return xt[:, :L["rows"]]
    z = qmatvec(qv, wv, x)
    y = z @ U
    k = min(L["rows"], L["cols"])
    y[:, :k] += L["factors"] * L["alpha"] * np.asarray(x, np.float64)[:, :k]
    return y


def check_model(model, steps, x, what):
    """steps: [(name, bias or None, activation)] of the graph; compares every way of running."""
    h = x.astype(np.float32)
    for name, bias, act in steps:
        y = linear(model, name, h)
        if bias is not None:
            y = y + bias
        h = act(y).astype(np.float32)
    ref = h.astype(np.float64)
    base = run_model(model, x)
    for args in (("--batch", "1"), (), ("--threads", "2"), ("--batch", "5", "--threads", "2")):
        y = run_model(model, x, "--quant-acts", *args)
        if y is None:
            continue
        e = np.abs(y - ref).max() / np.abs(ref).max()
        check(e <= 1e-5, f"{what} --quant-acts {args}: relative difference {e:.3g} to numpy")
        if base is not None:
            d = np.abs(y - base).max() / np.abs(base).max()
            print(f"{what} {args}: quantized activations differ from float ones by {d:.3g} (max, relative)")
            check(0 < d < 0.05, f"{what} {args}: the flag changes the outputs by {d:.3g}")
    again = run_model(model, x, "--batch", "3")
    check(base is not None and again is not None and np.array_equal(base.view(np.uint32), again.view(np.uint32)),
          f"{what}: without the flag the outputs depend on the batch")


relu = lambda v: np.maximum(v, 0)  # noqa: E731

# dense q8 / q4: 100 and 70 features (partial blocks), a zero block of weights, a zero block of inputs
W0 = rng.standard_normal((70, 100)).astype(np.float32)
W0[3, 32:64] = 0
W1 = (0.3 * rng.standard_normal((10, 70))).astype(np.float32)
b0, b1 = rng.standard_normal(70).astype(np.float32), rng.standard_normal(10).astype(np.float32)
dense = st_file("dense.safetensors", [("0.weight", W0), ("0.bias", b0), ("2.weight", W1), ("2.bias", b1)],
                "linear(0.weight,0.bias); relu; linear(2.weight,2.bias)")
x = rng.standard_normal((23, 100)).astype(np.float32)
x[4, 64:96] = 0
x[6] *= 1e-3
for dt in ("q8", "q4"):
    m = convert(dense, f"dense-{dt}.dlor", "--tol", "1e-9", "--dtype", dt)
    check_model(m, [("0.weight", b0, relu), ("2.weight", b1, lambda v: v)], x, f"dense {dt}")

# wide layers: 300 and 1060 features, 10 and 34 blocks (the kernels take sixteen blocks at a time, then the rest)
Ww = [(0.1 * rng.standard_normal((1060, 300))).astype(np.float32),
      (0.1 * rng.standard_normal((10, 1060))).astype(np.float32)]
wide = st_file("wide.safetensors", [("0.weight", Ww[0]), ("2.weight", Ww[1])], "linear(0.weight); relu; linear(2.weight)")
xw = rng.standard_normal((6, 300)).astype(np.float32)
xw[2, :256] = 0
for dt in ("q8", "q4"):
    m = convert(wide, f"wide-{dt}.dlor", "--tol", "1e-9", "--dtype", dt)
    check_model(m, [("0.weight", None, relu), ("2.weight", None, lambda v: v)], xw, f"wide {dt}")

# DLoR factors in q8 / q4: lowrank (add) and mul layers
N = 96
Wf = (np.eye(N) + rng.standard_normal((N, 6)) @ rng.standard_normal((6, N)) / N
      + 0.01 * rng.standard_normal((N, N))).astype(np.float32)
W2 = (0.2 * rng.standard_normal((10, N))).astype(np.float32)
fsrc = st_file("factors.safetensors", [("0.weight", Wf), ("2.weight", W2)], "linear(0.weight); tanh; linear(2.weight)")
xf = rng.standard_normal((9, N)).astype(np.float32)
for dt in ("q8", "q4"):
    for method in (("--method", "lowrank", "--rank", "12"), ("--method", "mul", "--rank", "40")):
        m = convert(fsrc, f"factors-{dt}-{method[1]}.dlor", *method, "--dtype", dt)
        _, _, lay = dlor_pyreader.read(m)
        check("0.weight" in lay, f"{dt} {method[1]}: layer 0 is a DLoR layer")
        check_model(m, [("0.weight", None, np.tanh), ("2.weight", None, lambda v: v)], xf, f"{dt} {method[1]}")

# a float model: the flag changes nothing
f32 = convert(dense, "dense-f32.dlor", "--tol", "1e-9")
a, b = run_model(f32, x), run_model(f32, x, "--quant-acts")
check(a is not None and b is not None and np.array_equal(a.view(np.uint32), b.view(np.uint32)),
      "float32 weights: --quant-acts changes the outputs")
rc, so, se = run("run", path("dense-q8.dlor"), "-i", fresh("x.npy"), "-o", fresh("y.npy"), "--quant-acts",
                 "--dtype", "f64")
check(rc == 2 and se.count("\n") == 1 and "--quant-acts" in se, f"--quant-acts with --dtype f64: {rc} {se}")
finish()
