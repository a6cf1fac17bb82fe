"""A quantized base plus a low-rank correction (convert --method qlr; DLOR_FORMAT.md 7.2, 1.7).

The references are written here, apart from the C code: a numpy quantizer following 6.1's rule,
the correction as numpy's truncated SVD of the residual W - Q(W) (in weight space, and whitened
by the Cholesky factor of the calibration inputs' Gram matrix with --calib), and a numpy forward
pass of B + U V^T. Checked: the base's bytes, the correction against numpy's fit (within the f16
rounding of the stored factors), 'dlor run' against numpy (batch 1 and batched, two threads,
float64), the independent reader and the Python package, verify's form and bytes, the data-space
error against plain q4 on a heavy-tailed layer with anisotropic inputs, usage errors, and hostile
layer records (the base flag on a mul layer, a bad index, a wrong shape, an index without the
flag, an unknown flag): one line and exit 1 each, never a crash."""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
import dlor_pyreader  # noqa: E402
from dlor_spec_cases import fix_checksums  # noqa: E402
from dlor_quanttest import RUNS, check_runs, model_steps, quantize, rel_fro as rel  # noqa: E402
from dlor_testlib import check, finish, run, scratch  # noqa: E402

TMP, path, fresh = scratch("qlr")
st_file, convert, run_model = model_steps(fresh, path)


def raw_dtype(model, name):
    return [t for t in dlor_pyreader._load(model)[1] if t["name"] == name][0]["dtype"]


def truncate(a, k):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return (u[:, :k] * s[:k]) @ vt[:k]


def skewed_inputs(rng, n, k, spread):
    """A sampler of calibration inputs [rows, n] (float64) with a few directions of large variance,
    as activations of real models have: k of them, spread times the others, in a random rotation."""
    scale = np.ones(n)
    scale[:k] = spread
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return lambda rows: (rng.standard_normal((rows, n)) * scale) @ q.T


rng = np.random.default_rng(5)
M, N, K = 192, 160, 8  # 160 columns: five whole blocks; 192 rows
W0 = (0.05 * rng.standard_t(3, size=(M, N))).astype(np.float32)
W1 = (0.1 * rng.standard_normal((10, M))).astype(np.float32)
b0 = (0.1 * rng.standard_normal(M)).astype(np.float32)
src = st_file("t.safetensors", [("0.weight", W0), ("0.bias", b0), ("2.weight", W1)],
              "linear(0.weight,0.bias); relu; linear(2.weight)")
# calibration inputs with a few directions of large variance (as activations of real models have)
X = skewed_inputs(rng, N, 6, 25.0)(1024).astype(np.float32)
np.save(fresh("calib.npy"), X)
W64 = W0.astype(np.float64)

for dt in ("q4", "q8"):
    deq, stored = quantize(W0, dt)
    R = W64 - deq
    for calib in (False, True):
        tag = f"{dt}{'-calib' if calib else ''}"
        extra = ("--calib", path("calib.npy")) if calib else ()
        m = convert(src, f"{tag}.dlor", "--method", "qlr", "--rank", str(K), "--dtype", dt, *extra)
        meta, tensors, lay = dlor_pyreader.read(m)
        raw = {t["name"]: t["raw"] for t in dlor_pyreader._load(m)[1]}
        L = lay["0.weight"]
        check(meta.get("dlor.method") == "qlr" and meta.get("dlor.correction_dtype") == "f16", f"{tag}: metadata")
        check(raw.get("0.weight.dlor.B") == stored, f"{tag}: the base holds 6.1's bytes of W")
        check(L["B"] is not None and np.array_equal(L["B"].astype(np.float64), deq), f"{tag}: dequantized base")
        check(L["U"].dtype == np.float16 and L["U"].shape == (K, M) and L["alpha"] == 0.0, f"{tag}: f16 correction")
        corr = L["U"].astype(np.float64).T @ L["V"].astype(np.float64)
        if calib:
            S = np.linalg.cholesky(X.astype(np.float64).T @ X.astype(np.float64))  # S S^T = X^T X
            ref = np.linalg.solve(S.T, truncate(R @ S, K).T).T                   # (R S)_k S^-1
            e = rel(corr @ S, ref @ S)
        else:
            ref = truncate(R, K)
            e = rel(corr, ref)
        # the stored factors are f16 (relative rounding 2^-11 per entry)
        check(e <= 3e-3, f"{tag}: correction {e:.3g} from numpy's truncated SVD of the residual")
        Wh = dlor_pyreader.rebuild(L)
        check(np.abs(Wh - (deq + corr)).max() <= 1e-12, f"{tag}: the reader rebuilds B + U V^T")
        x = rng.standard_normal((23, N)).astype(np.float32)
        W1h = dlor_pyreader.rebuild(lay["2.weight"]) if "2.weight" in lay else tensors["2.weight"].astype(np.float64)
        yref = np.maximum(x @ Wh.T + b0, 0) @ W1h.T
        check_runs(run_model, m, x, yref, tag, RUNS + (("--batch", "7", "--threads", "2"),))
        check(np.abs(dlor_pyreader.forward(m, x) - yref).max() <= 1e-9 * np.abs(yref).max(), f"{tag}: pyreader")
        import dlor  # the Python package (python/)
        pl = dlor.load(m).layers["0.weight"]
        check(pl.form == "qlr" and np.abs(pl.dense() - Wh).max() <= 1e-9, f"{tag}: dlor.load's layer")
        rc, so, se = run("verify", src, m, "--json", fresh("v.json"))
        check(rc == 0, f"verify {tag}: exit {rc}, {se}")
        if rc == 0 or rc == 1:
            v = json.load(open(path("v.json")))
            lv = [x for x in v["layers"] if x["name"] == "0.weight"][0]
            nbytes = len(raw["0.weight.dlor.B"]) + len(raw["0.weight.dlor.U"]) + len(raw["0.weight.dlor.V"])
            check(lv["form"] == "qlr", f"{tag}: verify's form {lv['form']}")
            check(v["carried_tensors"] == 1 and not v["problems"], f"{tag}: verify's carried tensors {v['problems']}")
            # the alternatives at the layer's bytes, against numpy (weight space)
            alts = {(a["form"], a["dtype"]): a for a in lv["alternatives"]}
            B_ = lv["bytes_dlor"]
            check(all(a["bytes"] <= B_ for a in lv["alternatives"]), f"{tag}: an alternative above {B_} bytes")
            sv = np.linalg.svd(W64, compute_uv=False)
            ks = B_ // (2 * (M + N))
            e_svd = np.sqrt((sv[ks:] ** 2).sum()) / np.linalg.norm(W64)
            a = alts.get(("svd", "f16"))
            check(a is not None and a["bytes"] == 2 * ks * (M + N) and abs(a["rel_fro_error"] - e_svd) <= 1e-9,
                  f"{tag}: svd f16 alternative {a} against numpy {e_svd:.6g} at rank {ks}")
            for qd in ("q4", "q8"):
                dq, sq = quantize(W0, qd)
                a = alts.get(("dense", qd))
                if len(sq) <= B_:
                    check(a is not None and abs(a["rel_fro_error"] - rel(dq, W64)) <= 1e-9 and a["bytes"] == len(sq),
                          f"{tag}: dense {qd} alternative {a}, numpy {rel(dq, W64):.6g}")
                    kq = (B_ - len(sq)) // (2 * (M + N))
                    a = alts.get(("qlr", qd))
                    if kq >= 1:
                        sr = np.linalg.svd(W64 - dq, compute_uv=False)
                        e_q = np.sqrt((sr[kq:] ** 2).sum()) / np.linalg.norm(W64)
                        check(a is not None and abs(a["rel_fro_error"] - e_q) <= 1e-9,
                              f"{tag}: qlr {qd} alternative {a}, numpy {e_q:.6g} at rank {kq}")
                else:
                    check(a is None, f"{tag}: dense {qd} listed above the bytes")
            errs_ = [lv["rel_fro_error"]] + [a["rel_fro_error"] for a in lv["alternatives"]]
            fam = ["quantization"] + ["dlor" if a["form"] == "svd" else
                                      "dense" if a["dtype"] == "f32" and a["form"] == "dense" else "quantization"
                                      for a in lv["alternatives"]]
            check(lv["least_error_at_bytes"] == fam[int(np.argmin(errs_))], f"{tag}: least error {lv['least_error_at_bytes']}")
            check("alternatives at each compressed layer's bytes" in so, f"{tag}: verify's summary line: {so}")
            check(abs(lv["rel_fro_error"] - rel(Wh, W64)) <= 1e-6, f"{tag}: verify's error {lv['rel_fro_error']}")
            check(lv["bytes_dlor"] == nbytes + 8, f"{tag}: verify's bytes {lv.get('bytes_dlor')}")
        else:
            check(False, f"verify {tag}: {so} {se}")

# ---- the data-space error against plain q4 at about the same bytes ---------------------------------
# a larger heavy-tailed layer; q4 + rank-k f16 correction at ~5 bits per weight (q4: 4.5)
Nb = 512
Wb = (0.05 * rng.standard_t(3, size=(Nb, Nb))).astype(np.float32)
srcb = st_file("big.safetensors", [("0.weight", Wb)], "linear(0.weight)")
draw_big = skewed_inputs(rng, Nb, 8, 30.0)
Xb = draw_big(2048).astype(np.float32)
np.save(fresh("calib-big.npy"), Xb)
Xt = draw_big(1024)  # held-out inputs of the same distribution
kb = 8  # 8 (512 + 512) f16 = 16 KB over 144 KB of q4: 4.5 + 0.5 bits
Wb64 = Wb.astype(np.float64)
q4 = convert(srcb, "big-q4.dlor", "--tol", "1e-9", "--dtype", "q4")
qlr = convert(srcb, "big-qlr.dlor", "--method", "qlr", "--rank", str(kb), "--calib", path("calib-big.npy"))
W_q4 = dlor_pyreader.read(q4)[1]["0.weight"].astype(np.float64)
W_qlr = dlor_pyreader.rebuild(dlor_pyreader.read(qlr)[2]["0.weight"])
d_q4 = np.linalg.norm(Xt @ (W_q4 - Wb64).T) / np.linalg.norm(Xt @ Wb64.T)
d_qlr = np.linalg.norm(Xt @ (W_qlr - Wb64).T) / np.linalg.norm(Xt @ Wb64.T)
bits = 8 * sum(len(t["raw"]) for t in dlor_pyreader._load(qlr)[1]) / Wb.size
print(f"Student-t 512 x 512, held-out anisotropic inputs: q4 data error {d_q4:.4f} (4.5 bits), "
      f"q4 + rank {kb} f16 correction fitted with --calib {d_qlr:.4f} ({bits:.2f} bits)")
check(bits <= 5.01, f"qlr at {bits:.3f} bits per weight")
check(d_qlr <= 0.8 * d_q4, f"qlr data error {d_qlr:.4g} not 20% below q4's {d_q4:.4g}")

# ---- usage errors ----------------------------------------------------------------------------------
for args, msg in ((("--method", "qlr", "--rank", "4", "--dtype", "f16"), "q4 or q8"),
                  (("--method", "qlr", "--budget", "0.5"), "--rank R or --tol T"),
                  (("--method", "qlr", "--rank", "4", "--correction-dtype", "q4"), "f16, f32, bf16 or q8"),
                  (("--method", "lowrank", "--rank", "4", "--correction-dtype", "f16"), "goes with --method qlr")):
    rc, so, se = run("convert", src, "-o", fresh("u.dlor"), *args)
    check(rc == 2 and msg in se and not os.path.exists(path("u.dlor")), f"{args}: exit {rc}, {se!r}")
for flag in ("--emit", "--emit-onnx"):  # no factors to emit / not an ONNX source: refused, nothing written
    side = fresh("side.out")
    rc, so, se = run("convert", src, "-o", fresh("e.dlor"), "--method", "qlr", "--rank", "2", flag, side)
    check(rc in (1, 2) and se.count("\n") == 1 and not os.path.exists(path("e.dlor")) and not os.path.exists(side),
          f"qlr with {flag}: exit {rc}, {se!r}")
m = convert(src, "tol.dlor", "--method", "qlr", "--tol", "0.05", "--correction-dtype", "q8")
_, _, lay = dlor_pyreader.read(m)
if "0.weight" in lay:
    e = rel(dlor_pyreader.rebuild(lay["0.weight"]), W64)
    check(raw_dtype(m, "0.weight.dlor.U") == 14 and e <= 0.05 + 0.01, f"--tol 0.05 with a q8 correction: {e:.4g}")
else:
    check(False, "--tol 0.05 kept the layer dense")

# ---- --budget-bits: a form per layer at an average number of bits per weight -------------------------
# a nearly low-rank layer (DLoR's ground), a heavy-tailed one (quantization's) and a small head
n = 128
A = rng.standard_normal((n, 4)) @ rng.standard_normal((4, n)) / 4 + 1e-3 * rng.standard_normal((n, n))
Ws = [A.astype(np.float32), (0.05 * rng.standard_t(3, size=(n, n))).astype(np.float32),
      (0.1 * rng.standard_normal((10, n))).astype(np.float32)]
msrc = st_file("mixed.safetensors", [("0.weight", Ws[0]), ("2.weight", Ws[1]), ("4.weight", Ws[2])],
               "linear(0.weight); relu; linear(2.weight); relu; linear(4.weight)")
Xm = skewed_inputs(rng, n, 4, 20.0)(2048).astype(np.float32)
np.save(fresh("calib-mixed.npy"), Xm)
# each layer's inputs in the float model, as the calibration sees them
ins = [Xm.astype(np.float64)]
ins.append(np.maximum(ins[0] @ Ws[0].astype(np.float64).T, 0))
ins.append(np.maximum(ins[1] @ Ws[1].astype(np.float64).T, 0))
names = ["0.weight", "2.weight", "4.weight"]


def data_errs(model):
    """Per layer: (relative data error on its calibration inputs, bytes of its tensors, form)."""
    _, tensors, lay = dlor_pyreader.read(model)
    recs = {t["name"]: len(t["raw"]) for t in dlor_pyreader._load(model)[1]}
    out = []
    for nm, W, X_ in zip(names, Ws, ins):
        if nm in lay:
            Wh = dlor_pyreader.rebuild(lay[nm])
            nb = sum(v for k, v in recs.items() if k.startswith(nm + ".dlor."))
            form = "qlr" if lay[nm]["B"] is not None else "lowrank"
        else:
            Wh, nb, form = tensors[nm].astype(np.float64), recs[nm], "dense"
        W64_ = W.astype(np.float64)
        out.append((np.linalg.norm(X_ @ (Wh - W64_).T) / np.linalg.norm(X_ @ W64_.T), nb, form))
    return out


auto = convert(msrc, "auto.dlor", "--budget-bits", "4.5", "--calib", path("calib-mixed.npy"))
q4m = convert(msrc, "mixed-q4.dlor", "--tol", "1e-9", "--dtype", "q4")
meta, _, _ = dlor_pyreader.read(auto)
ea, eq = data_errs(auto), data_errs(q4m)
weights = sum(W.size for W in Ws)
bytes_auto = sum(e[1] for e in ea)
print("--budget-bits 4.5:", ", ".join(f"{nm} {f} {e:.4f} ({8 * b / W.size:.2f} bits)"
                                      for nm, (e, b, f), W in zip(names, ea, Ws)),
      f"| q4 everywhere: {', '.join(f'{e:.4f}' for e, _, _ in eq)}")
check(meta.get("dlor.dtype") == "mixed" and meta.get("dlor.target") == "budget-bits 4.5", f"metadata {meta}")
check(8 * bytes_auto <= 4.5 * weights, f"--budget-bits 4.5: {8 * bytes_auto / weights:.3f} bits per weight")
check(ea[0][2] == "lowrank", f"the nearly low-rank layer is stored as {ea[0][2]}")
s_auto, s_q4 = sum(e[0] ** 2 for e in ea), sum(e[0] ** 2 for e in eq)
check(s_auto <= s_q4, f"sum of squared data errors {s_auto:.4g} above q4 everywhere's {s_q4:.4g}")
xm = rng.standard_normal((9, n)).astype(np.float32)
y = run_model(auto, xm, "--threads", "2")
yr = dlor_pyreader.forward(auto, xm)
check(y is not None and np.abs(y - yr).max() <= 1e-5 * np.abs(yr).max(), "--budget-bits: dlor run against numpy")
for args, msg in ((("--budget-bits", "4.5", "--dtype", "q4"), "not --dtype"),
                  (("--budget-bits", "4.5", "--method", "lowrank"), "--method auto"),
                  (("--budget-bits", "0"), "in (0, 32]"),
                  (("--budget-bits", "4", "--rank", "3"), "exactly one target"),
                  (("--budget-bits", "0.05"), "cheapest forms")):
    rc, so, se = run("convert", msrc, "-o", fresh("u.dlor"), *args)
    check(rc == 2 and msg in se and not os.path.exists(path("u.dlor")), f"{args}: exit {rc}, {se!r}")

# ---- hostile layer records ---------------------------------------------------------------------------
base = open(path("q4.dlor"), "rb").read()
lrec = struct.unpack_from("<Q", base, 64 + 32 * 3 + 8)[0]  # the first (and only) layer record
bidx = struct.unpack_from("<I", base, lrec + 80)[0]


def edited(edit):
    b = bytearray(base)
    edit(b)
    return fix_checksums(bytes(b))


def on_mul(b):
    struct.pack_into("<HH", b, lrec + 8, 1, 1)


hostile = [
    ("base-on-mul", edited(on_mul), None),
    ("base-index", edited(lambda b: struct.pack_into("<I", b, lrec + 80, 1000)), "base tensor"),
    ("base-is-u", edited(lambda b: struct.pack_into("<I", b, lrec + 80, struct.unpack_from("<I", b, lrec + 56)[0])),
     "base tensor"),
    ("base-shape", edited(lambda b: struct.pack_into("<I", b, lrec + 80, 0)), "base tensor"),  # 0.bias, 1-D
    ("index-without-flag", edited(lambda b: struct.pack_into("<H", b, lrec + 14, 0)), "reserved"),
    ("unknown-flag", edited(lambda b: struct.pack_into("<H", b, lrec + 14, 3)), "reserved"),
]
check(bidx != 0, "the base tensor is not the first tensor (the base-shape case needs 0 to be another one)")
for name, img, msg in hostile:
    p = fresh(f"hostile-{name}.dlor")
    open(p, "wb").write(img)
    for cmd in (("info", p), ("run", p, "-i", path("x.npy"), "-o", fresh("y.npy"))):
        rc, so, se = run(*cmd)
        check(rc == 1 and se.count("\n") == 1 and (msg is None or msg in se), f"{name} ({cmd[0]}): exit {rc}, {se!r}")
    try:
        dlor_pyreader.read(p)
        check(False, f"{name}: the numpy reader accepted it")
    except dlor_pyreader.DlorError:
        pass
    try:
        dlor.load(p)
        check(False, f"{name}: the Python package accepted it")
    except Exception as e:  # noqa: BLE001 - its own error class
        check(type(e).__name__ != "IndexError", f"{name}: the Python package failed with {e!r}")
finish()
