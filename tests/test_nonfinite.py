"""test_nonfinite - NaN and infinity go through every forward pass as they do in
onnxruntime and PyTorch: a NaN input or weight gives NaN outputs, never finite
ones (relu(NaN) is NaN), and each activation and softmax treats +-inf as they do
(relu(inf) = inf, sigmoid(-inf) = 0, gelu(-inf) = NaN, a softmax over an inf
is NaN, ...).

Oracles: onnxruntime (always) and Debian's PyTorch through /usr/bin/python3
when it is installed. Checked:

  * every activation and softmax on NaN, +-inf, +-0 and finite values, through
    dlor run on the dense model (float32 and float64 runtime) and on its DLoR
    conversion: NaN exactly where the oracle has NaN, the same infinity where
    it has one (dense), finite values within 1e-5 (DLoR: non-finite where the
    oracle is; NaN for NaN inputs);
  * an MLP with NaN and infinite inputs, and one with a NaN weight: the same
    NaN / infinity pattern as onnxruntime in every dense pass, NaN rows NaN
    through the DLoR forms;
  * dlor run warns on stderr about non-finite inputs (and not otherwise);
  * dlor verify counts non-finite outputs of both models, in its text and in
    the JSON end_to_end (layer forms: runtime; network form: the dense model
    evaluated on the host, lib/graph_eval.c, for every activation), and keeps
    a NaN error once one shows.

Prints "N passed, N failed" and exits non-zero on any failure."""
import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import check, finish, run, scratch  # noqa: E402

TMP, path, _ = scratch("nonfinite")
RNG = np.random.default_rng(20240607)
ort.set_default_logger_severity(3)
NAN, INF = float("nan"), float("inf")
SPECIAL = np.array([NAN, INF, -INF, -0.0, 0.0, 1.0, -1.0, 0.5, -2.5, 7.0, -7.0, 30.0, -30.0, 100.0, -100.0],
                   dtype=np.float32)

# (label, ONNX op, attributes, opset, torch expression of 'x' for F = torch.nn.functional)
ACTS = [("relu", "Relu", {}, 17, "F.relu(x)"),
        ("leaky_relu", "LeakyRelu", {"alpha": 0.1}, 17, "F.leaky_relu(x, 0.1)"),
        ("leaky_relu0", "LeakyRelu", {"alpha": 0.0}, 17, "F.leaky_relu(x, 0.0)"),
        ("sigmoid", "Sigmoid", {}, 17, "torch.sigmoid(x)"),
        ("tanh", "Tanh", {}, 17, "torch.tanh(x)"),
        ("softplus", "Softplus", {}, 17, "F.softplus(x)"),
        ("gelu", "Gelu", {}, 20, "F.gelu(x)"),
        ("gelu_tanh", "Gelu", {"approximate": "tanh"}, 20, "F.gelu(x, approximate='tanh')"),
        ("silu", None, {}, 17, "F.silu(x)")]


def model(label, layers, opset=17):
    """An ONNX model from [('linear', W, b), ('act', op, attrs), ('silu',), ('softmax',)]."""
    nodes, inits, cur = [], [], "x"
    for i, L in enumerate(layers):
        out = "y" if i + 1 == len(layers) else "h%d" % i
        if L[0] == "linear":
            inits += [numpy_helper.from_array(L[1], "W%d" % i), numpy_helper.from_array(L[2], "b%d" % i)]
            nodes.append(helper.make_node("Gemm", [cur, "W%d" % i, "b%d" % i], [out], transB=1))
        elif L[0] == "act":
            nodes.append(helper.make_node(L[1], [cur], [out], **L[2]))
        elif L[0] == "silu":
            nodes += [helper.make_node("Sigmoid", [cur], ["s%d" % i]), helper.make_node("Mul", [cur, "s%d" % i], [out])]
        else:
            nodes.append(helper.make_node("Softmax", [cur], [out], axis=-1))
        cur = out
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", layers[0][1].shape[1]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "M"])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    p = path(label + ".onnx")
    with open(p, "wb") as f:
        f.write(m.SerializeToString())
    return p


def onnx_ref(p, x):
    return ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


TORCH = "/usr/bin/python3"
TORCH_SCRIPT = r"""
import json, sys, numpy as np, torch
F = torch.nn.functional
for job in json.load(open(sys.argv[1])):
    d = np.load(job["in"], allow_pickle=False)
    out = {}
    for dt, name in ((torch.float32, "f32"), (torch.float64, "f64")):
        x = torch.tensor(d["x"]).to(dt)
        for i, e in enumerate(job["exprs"]):
            if e == "linear":
                x = x @ torch.tensor(d["W%d" % i]).to(dt).T + torch.tensor(d["b%d" % i]).to(dt)
            elif e == "softmax":
                x = torch.softmax(x, dim=1)
            else:
                x = eval(e)
        out[name] = x.numpy()
    np.savez(job["out"], **out)
"""


def torch_available():
    try:
        r = subprocess.run([TORCH, "-c", "import torch"], capture_output=True, timeout=300)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


HAVE_TORCH = torch_available()


def torch_refs(cases):
    """PyTorch's outputs of [(label, layers, x)] in one process (importing torch takes seconds):
    {label: {'f32': ..., 'f64': ...}}, empty without torch."""
    if not HAVE_TORCH:
        return {}
    jobs = []
    for label, layers, x in cases:
        arrays, exprs = {"x": x}, []
        for i, L in enumerate(layers):
            if L[0] == "linear":
                arrays["W%d" % i], arrays["b%d" % i] = L[1], L[2]
                exprs.append("linear")
            elif L[0] == "softmax":
                exprs.append("softmax")
            else:
                exprs.append(L[3])
        jobs.append({"in": path(label + "-torch-in.npz"), "out": path(label + "-torch-out.npz"), "exprs": exprs})
        np.savez(jobs[-1]["in"], **arrays)
    with open(path("torch-jobs.json"), "w") as f:
        json.dump(jobs, f)
    r = subprocess.run([TORCH, "-c", TORCH_SCRIPT, path("torch-jobs.json")], capture_output=True, text=True,
                       timeout=600)
    if not check(r.returncode == 0, "PyTorch reference failed: %s" % r.stderr[-400:]):
        return {}
    refs = {}
    for (label, _, _), job in zip(cases, jobs):
        d = np.load(job["out"])
        refs[label] = {"f32": d["f32"], "f64": d["f64"]}
    return refs


def classes(a):
    """0 finite, 1 NaN, 2 +inf, 3 -inf for each element."""
    c = np.zeros(a.shape, dtype=np.int8)
    c[np.isnan(a)] = 1
    c[np.isposinf(a)] = 2
    c[np.isneginf(a)] = 3
    return c


def same_nonfinite(label, got, ref, tol):
    """NaN and +-inf exactly where ref has them, finite values within tol (relative to 1)."""
    if not check(got.shape == ref.shape, "%s: shape %s, expected %s" % (label, got.shape, ref.shape)):
        return
    cg, cr = classes(got), classes(ref)
    bad = np.argwhere(cg != cr)
    check(len(bad) == 0, "%s: %d values differ in kind from the reference (NaN/inf/finite), first at %s: %s vs %s"
          % (label, len(bad), bad[0].tolist() if len(bad) else None,
             got[tuple(bad[0])] if len(bad) else None, ref[tuple(bad[0])] if len(bad) else None))
    fin = (cg == 0) & (cr == 0)
    err = np.max(np.abs(got[fin].astype(np.float64) - ref[fin]) / np.maximum(1.0, np.abs(ref[fin]))) if fin.any() else 0
    check(err <= tol, "%s: finite outputs differ by %.3g (tolerance %.1g)" % (label, err, tol))


def dlor_run(label, model_path, x, *args):
    xp, yp = path(label + "-x.npy"), path(label + "-y.npy")
    np.save(xp, x)
    if os.path.exists(yp):
        os.remove(yp)
    rc, so, se = run("run", model_path, "-i", xp, "-o", yp, *args)
    if not check(rc == 0 and os.path.exists(yp), "%s: dlor run %s: rc %d %s" % (label, " ".join(args), rc, se)):
        return None, se
    return np.load(yp), se


def convert(label, model_path, *args):
    out = path(label + ".dlor")
    rc, so, se = run("convert", model_path, "-o", out, *args)
    return out if check(rc == 0, "%s: convert %s: rc %d %s" % (label, " ".join(args), rc, se)) else None


def dense_and_dlor(label, layers, x, ref, opset=17, dlor_tol=1e-4, nan_rows=(), inf_rows=()):
    """The dense model through dlor's float32 and float64 runtime against ref exactly in kind; its
    DLoR conversion: NaN rows all NaN, non-finite where ref is non-finite, finite rows close."""
    p = model(label, layers, opset)
    for dt in ("f32", "f64"):
        y, _ = dlor_run("%s-dense-%s" % (label, dt), p, x, "--dtype", dt)
        if y is not None:
            same_nonfinite("%s: dense, %s runtime" % (label, dt), y, ref, 1e-5)
    f = convert(label, p, "--rank", "1")
    for dt in ("f32", "f64") if f else ():
        y, _ = dlor_run("%s-dlor-%s" % (label, dt), f, x, "--dtype", dt)
        if y is None:
            continue
        rows = [i for i in range(len(x)) if i not in nan_rows and i not in inf_rows]
        for i in nan_rows:
            check(np.isnan(y[i]).all() == np.isnan(ref[i]).all() and np.isnan(ref[i]).all(),
                  "%s: DLoR, %s runtime: NaN input row %d gives %s (reference %s)" % (label, dt, i, y[i], ref[i]))
        for i in inf_rows:
            check((~np.isfinite(y[i]) | np.isfinite(ref[i])).all(),
                  "%s: DLoR, %s runtime: row %d with an infinity gives %s where the reference has %s"
                  % (label, dt, i, y[i], ref[i]))
        same_nonfinite("%s: DLoR, %s runtime, finite rows" % (label, dt), y[rows], ref[rows], dlor_tol)
    return p


def oracles_agree(label, ref, tr):
    """onnxruntime's and PyTorch's outputs (both precisions) are NaN, +inf and -inf at the same places."""
    if tr is not None:
        check((classes(tr["f32"]) == classes(ref)).all() and (classes(tr["f64"]) == classes(ref)).all(),
              "%s: onnxruntime %s and PyTorch %s disagree" % (label, ref.tolist(), tr["f32"].tolist()))


# One special value per sample through y = act(x W^T + b), x one feature: the linear step is exact
# (one product, one sum), so every value reaches the activation as it is.
X1 = SPECIAL.reshape(-1, 1)
W1, B1 = np.array([[1.0], [-2.0]], dtype=np.float32), np.array([0.0, 0.5], dtype=np.float32)
ACT_LAYERS = {label: [("linear", W1, B1), ("silu", None, None, texpr) if op is None else ("act", op, attrs, texpr)]
              for label, op, attrs, opset, texpr in ACTS}
# softmax over samples holding -inf (weight 0 after softmax), +inf or NaN (all NaN)
WS = np.array([[1.0], [-1.0], [0.5]], dtype=np.float32)
SOFTMAX_LAYERS = {label: [("linear", WS, np.array([0.0, 1.0, last], dtype=np.float32)), ("softmax",)]
                  for label, last in (("minf", -INF), ("pinf", INF), ("nan", NAN))}


def mlp_layers(nan_weight=False):
    W1, b1 = RNG.standard_normal((16, 6)).astype(np.float32), RNG.standard_normal(16).astype(np.float32)
    W2, b2 = (RNG.standard_normal((12, 16)) / 4).astype(np.float32), RNG.standard_normal(12).astype(np.float32)
    W3, b3 = (RNG.standard_normal((4, 12)) / 3).astype(np.float32), RNG.standard_normal(4).astype(np.float32)
    if nan_weight:
        W1[5, 2] = NAN
    return [("linear", W1, b1), ("act", "Relu", {}, "F.relu(x)"), ("linear", W2, b2),
            ("act", "Relu", {}, "F.relu(x)"), ("linear", W3, b3)]


MLP = mlp_layers()
XM = RNG.standard_normal((10, 6)).astype(np.float32)
XM[2, 3] = NAN
XM[7, 0] = NAN
XM[5, 1] = INF
XM[8, 4] = -INF
TORCH_REFS = torch_refs([("act-" + k, v, X1) for k, v in ACT_LAYERS.items()] +
                        [("softmax-" + k, v, X1) for k, v in SOFTMAX_LAYERS.items()] + [("mlp", MLP, XM)])


def test_activations():
    x = X1
    nan_rows = [i for i in range(len(x)) if np.isnan(x[i, 0])]
    inf_rows = [i for i in range(len(x)) if np.isinf(x[i, 0])]
    for label, op, attrs, opset, texpr in ACTS:
        layers = ACT_LAYERS[label]
        p = model("act-" + label, layers, opset)
        ref = onnx_ref(p, x)
        oracles_agree(label, ref, TORCH_REFS.get("act-" + label))
        dense_and_dlor("act-" + label, layers, x, ref, opset, nan_rows=nan_rows, inf_rows=inf_rows)
        # verify evaluates a network form's dense model on the host (lib/graph_eval.c, double)
        f = convert("act-%s-net" % label, p, "--form", "network", "--h", "1e-3")
        if f:
            _, _, e2e = verify_json("act-%s-net" % label, p, f, x)
            want = int((~np.isfinite(ref)).sum())
            check(e2e.get("nonfinite_dense") == want, "%s: verify's host evaluation has %s non-finite outputs, "
                  "onnxruntime %d" % (label, e2e.get("nonfinite_dense"), want))
        if label == "relu":
            check(np.isnan(ref[nan_rows]).all() and np.isposinf(ref[x[:, 0] == INF, 0]).all(),
                  "relu: the oracle keeps NaN and +inf (%s)" % ref.tolist())


def test_softmax():
    x = X1
    for label, layers in SOFTMAX_LAYERS.items():
        p = model("softmax-" + label, layers)
        ref = onnx_ref(p, x)
        oracles_agree("softmax " + label, ref, TORCH_REFS.get("softmax-" + label))
        for dt in ("f32", "f64"):
            y, _ = dlor_run("softmax-%s-%s" % (label, dt), p, x, "--dtype", dt)
            if y is not None:
                same_nonfinite("softmax with a %s bias, dense, %s runtime" % (label, dt), y, ref, 1e-5)
        if label == "minf":  # finite rows: the -inf feature gets exactly 0
            fin = np.isfinite(x[:, 0])
            check((ref[fin, 2] == 0).all() and np.isfinite(ref[fin]).all(), "softmax -inf: oracle %s" % ref.tolist())


def test_mlp():
    layers, x = MLP, XM
    p = model("mlp", layers)
    ref = onnx_ref(p, x)
    check(np.isnan(ref[[2, 7]]).all() and np.isfinite(np.delete(ref, [2, 5, 7, 8], axis=0)).all(),
          "mlp: onnxruntime gives NaN logits for the NaN rows (%s)" % ref.tolist())
    oracles_agree("mlp", ref, TORCH_REFS.get("mlp"))
    dense_and_dlor("mlp", layers, x, ref, nan_rows=[2, 7], inf_rows=[5, 8])
    # dlor run says so when inputs are not finite, and only then
    _, se = dlor_run("mlp-warn", p, x)
    check("warning" in se and "4 input values" in se and "4 of 10 samples" in se and "first: sample 2" in se,
          "dlor run warns about non-finite inputs: %r" % se)
    _, se = dlor_run("mlp-warn64", p, x, "--dtype", "f64")
    check("warning" in se and "4 input values" in se, "dlor run --dtype f64 warns too: %r" % se)
    _, se = dlor_run("mlp-clean", p, np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0))
    check(se == "", "dlor run is quiet on finite inputs: %r" % se)
    # a NaN weight: every output NaN, as in onnxruntime (relu no longer maps it to 0)
    bad = mlp_layers(nan_weight=True)
    xc = RNG.standard_normal((5, 6)).astype(np.float32)
    pb = model("mlp-nanw", bad)
    ref = onnx_ref(pb, xc)
    check(np.isnan(ref).all(), "mlp with a NaN weight: onnxruntime gives NaN outputs (%s)" % ref.tolist())
    for dt in ("f32", "f64"):
        y, _ = dlor_run("mlp-nanw-" + dt, pb, xc, "--dtype", dt)
        if y is not None:
            same_nonfinite("mlp with a NaN weight, dense, %s runtime" % dt, y, ref, 1e-5)


def verify_json(label, dense, f, x, *args):
    xp, js = path(label + "-x.npy"), path(label + ".json")
    np.save(xp, x)
    if os.path.exists(js):
        os.remove(js)
    rc, so, se = run("verify", dense, f, "--inputs", xp, "--json", js, *args)
    rep = json.load(open(js)) if os.path.exists(js) else None
    check(rep is not None and "end_to_end" in rep, "%s: verify wrote no end_to_end report: rc %d %s" % (label, rc, se))
    return rc, so, (rep or {}).get("end_to_end", {})


def test_verify():
    layers = mlp_layers()
    p = model("vmlp", layers)
    x = RNG.standard_normal((12, 6)).astype(np.float32)
    x[3, 2] = NAN
    x[9, 5] = NAN
    want = int((~np.isfinite(onnx_ref(p, x))).sum())
    check(want == 8, "vmlp: onnxruntime has 8 non-finite outputs, got %d" % want)
    for form, args in (("mul", ()), ("add", ("--method", "add"))):
        f = convert("vmlp-" + form, p, *args)
        if not f:
            continue
        rc, so, e2e = verify_json("vmlp-" + form, p, f, x)
        check(e2e.get("nonfinite_dense") == want and e2e.get("nonfinite_dlor") == want,
              "verify %s: non-finite outputs dense %s, DLoR %s, expected %d" %
              (form, e2e.get("nonfinite_dense"), e2e.get("nonfinite_dlor"), want))
        check("non-finite outputs: dense %d, DLoR %d of %d" % (want, want, x.shape[0] * 4) in so,
              "verify %s prints the non-finite counts: %s" % (form, so[-600:]))
        err = e2e.get("max_abs_error")
        check(err is not None and err < 1e-4, "verify %s: NaN outputs reproduced as NaN leave the error of the rest "
              "(%s)" % (form, err))
        rc, so, e2e = verify_json("vmlp-%s-clean" % form, p, f, np.nan_to_num(x))
        check(e2e.get("nonfinite_dense") == 0 and e2e.get("nonfinite_dlor") == 0 and
              "non-finite outputs: dense 0, DLoR 0 of" in so, "verify %s on finite inputs: %s" % (form, e2e))
    # an infinite input: the dense relu layer gives [inf, 0], its DLoR form NaN (inf - inf inside the
    # factors); that difference must show as a NaN error (null), whatever the samples after it
    p1 = path("act-relu.onnx")
    f1 = convert("act-relu-v", p1, "--rank", "1")
    xi = np.array([[INF], [1.0], [NAN], [2.0]], dtype=np.float32)
    yd, _ = dlor_run("act-relu-vd", p1, xi)
    yl, _ = dlor_run("act-relu-vl", f1, xi) if f1 else (None, None)
    if f1 and yd is not None and yl is not None:
        check((classes(yd) != classes(yl)).any(), "the DLoR form of relu differs from dense on inf: %s vs %s" % (yd, yl))
        rc, so, e2e = verify_json("act-relu-v", p1, f1, xi)
        check("max_abs_error" in e2e and e2e["max_abs_error"] is None and e2e.get("max_rel_error", 0) is None,
              "verify: non-finite DLoR outputs where dense ones differ give a NaN error (null): %s" % e2e)
        check(e2e.get("nonfinite_dense") == int((~np.isfinite(yd)).sum()) and
              e2e.get("nonfinite_dlor") == int((~np.isfinite(yl)).sum()), "verify counts %s, dlor run %s and %s"
              % (e2e, yd.tolist(), yl.tolist()))
        check("max abs output error nan" in so, "verify prints the NaN error: %s" % so[-400:])
    # the network form: its dense reference is evaluated on the host (lib/graph_eval.c)
    f = convert("vmlp-net", p, "--form", "network", "--h", "1e-3", "--rank", "4")
    if f:
        rc, so, e2e = verify_json("vmlp-net", p, f, x)
        check(e2e.get("nonfinite_dense") == want and e2e.get("nonfinite_dlor") == want,
              "verify network form: non-finite outputs dense %s, DLoR %s, expected %d" %
              (e2e.get("nonfinite_dense"), e2e.get("nonfinite_dlor"), want))
        rc, so, e2e = verify_json("vmlp-net-clean", p, f, np.nan_to_num(x))
        check(e2e.get("nonfinite_dense") == 0 and e2e.get("nonfinite_dlor") == 0,
              "verify network form on finite inputs: %s" % e2e)


if not HAVE_TORCH:
    print("note: PyTorch is not installed for %s: onnxruntime alone is the oracle" % TORCH)
test_activations()
test_softmax()
test_mlp()
test_verify()
finish()
