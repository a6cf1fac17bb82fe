"""The network form on the sawtooth sample (convert --form network, run --dtype f64,
reproduce), against references written here: the paper's constructions (Appendix E.1,
Theorem 3) rebuilt in numpy from the plain mul/add factors of 'convert --method', the
dense MLP in numpy float64, the independent reader's graph evaluation, numpy's SVD for
the spectral split, and the paper's Table 1."""
import json
import math
import os
import struct
import sys
import zlib

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader as pr  # noqa: E402
from dlor_testlib import SRC, check, finish, run, scratch  # noqa: E402

TMP, path, fresh = scratch("network")
SAW = os.path.join(SRC, "samples", "sawtooth")
ST = os.path.join(SAW, "sawtooth.safetensors")
XT = os.path.join(SAW, "x_test.npy")
C, R = 0.5, 6


softplus = lambda z: np.logaddexp(0, z)  # noqa: E731
RHO_C = math.log1p(math.exp(C))
DRHO_C = 1 / (1 + math.exp(-C))

W = {k: v.astype(np.float64) for k, v in load_file(ST).items()}
x = np.load(XT).astype(np.float64)


def dense(xx):
    h = xx
    for i in range(5):
        h = h @ W[f"{2 * i}.weight"].T + W[f"{2 * i}.bias"]
        if i < 4:
            h = softplus(h)
    return h


y_dense = dense(x)


def convert(name, *args):
    out = fresh(name)
    rc, so, se = run("convert", ST, "-o", out, "--activation", "softplus", *args)
    check(rc == 0, f"convert {name} {args}: {se}")
    return out, so


def run_model(model, dtype="f32", xin=XT):
    out = fresh("y.npy")
    rc, so, se = run("run", model, "-i", xin, "-o", out, "--dtype", dtype)
    check(rc == 0, f"run {model} --dtype {dtype}: {se}")
    return np.load(out) if rc == 0 else None


def components(layer):
    """Each factor / component of a layer as a dense matrix (DLOR_FORMAT.md 7.1 / 7.2)."""
    U = layer["U"].astype(np.float64).T
    V = layer["V"].astype(np.float64).T
    a, r, K = layer["alpha"], layer["rank"], layer["U"].shape[0]
    out = []
    for l in range(layer["factors"]):
        cols = slice(l * r, min((l + 1) * r, K))
        M = U[:, cols] @ V[:, cols].T
        if layer["method"] == 1:
            M = M + a * np.eye(M.shape[0])
        else:
            k = min(M.shape)
            M[np.arange(k), np.arange(k)] += a
        out.append(M)
    return out


HIDDEN = ("2.weight", "4.weight", "6.weight")

# ---- the plain factors (the layer path of convert), the paper's constructions from them ----
mulf, _ = convert("mul.dlor", "--method", "mul", "--rank", str(R), "--alpha", "1", "--dtype", "f64",
                  "--include", "[246].weight")
addf, _ = convert("add.dlor", "--method", "add", "--rank", str(R), "--dtype", "f64", "--include", "[246].weight")
MUL = {k: components(v) for k, v in pr.read(mulf)[2].items()}
ADD = {k: components(v) for k, v in pr.read(addf)[2].items()}


def deep_sublayers(Ms, b, h):
    """Appendix E.1: weights h M_1, M_l / rho'(c), M_L / (h rho'(c)) and their biases."""
    L, one = len(Ms), np.ones(Ms[0].shape[0])
    out = []
    for l, M in enumerate(Ms):
        if l == 0:
            out.append((h * M, C * one))
        elif l < L - 1:
            out.append((M / DRHO_C, C * one - RHO_C / DRHO_C * (M @ one)))
        else:
            out.append((M / (h * DRHO_C), b - RHO_C / (h * DRHO_C) * (M @ one)))
    return out


def wide_branches(Ms, h, paired):
    """Theorem 3: branch weights (h / beta_l) M_l, outputs weighted by beta_l / (h rho'(c))."""
    if paired:
        return [(s * h / 2 * M, s / (h * DRHO_C)) for M in Ms for s in (1.0, -1.0)]
    L = len(Ms)
    betas = [1.0] * (L - 1) + [-(L - 1.0)]
    return [(h / be * M, be / (h * DRHO_C)) for M, be in zip(Ms, betas)]


def construction_forward(kind, h, paired=False):
    z = x
    for i in range(5):
        name, b = f"{2 * i}.weight", W[f"{2 * i}.bias"]
        if name not in HIDDEN:
            z = z @ W[name].T + b
        elif kind == "deep":
            subs = deep_sublayers(MUL[name], b, h)
            for l, (Wl, Bl) in enumerate(subs):
                z = z @ Wl.T + Bl
                if l < len(subs) - 1:
                    z = softplus(z)
        else:
            acc = 0
            for Wl, s in wide_branches(ADD[name], h, paired):
                acc = acc + s * softplus(z @ Wl.T + C)
            z = acc + b
        if i < 4:
            z = softplus(z)
    return z


def single_components(f):
    """Every LINEAR of the graph is a DLoR layer with one factor (one component)."""
    meta, tensors, layers = pr.read(f)
    ops = pr.read_graph(f)
    lin = [o for o in ops if o["kind"] == "linear"]
    ok = all(o["is_layer"] and layers[o["weight"]]["factors"] == 1 for o in lin)
    return ok, meta, tensors, layers, ops


# ---- deep, given h: the file is the construction, weight for weight -------------------------
H = 1e-3
deepf, _ = convert("deep-h.dlor", "--form", "network", "--rank", str(R), "--dtype", "f64", "--h", str(H))
ok, meta, tensors, layers, ops = single_components(deepf)
check(ok, "deep: every weight in the graph is a single DLoR component")
check(meta.get("dlor.construction") == "deep" and meta.get("dlor.h_choice") == "given" and
      float(meta.get("dlor.h")) == H, f"deep metadata: {meta.get('dlor.construction')} {meta.get('dlor.h')}")
worst_w = worst_b = 0.0
for name in HIDDEN:
    subs = deep_sublayers(MUL[name], W[name.replace("weight", "bias")], H)
    for l, (Wl, Bl) in enumerate(subs):
        got = pr.rebuild(layers[f"{name}.deep.{l}"])
        worst_w = max(worst_w, np.abs(got - Wl).max() / np.abs(Wl).max())
        gb = tensors[f"{name}.deep.{l}.bias"].astype(np.float64)
        worst_b = max(worst_b, np.abs(gb - Bl).max() / np.abs(Bl).max())
check(worst_w <= 1e-12, f"deep sub-layer weights = s_l M_l (E.1): relative difference {worst_w:.3g} (tol 1e-12)")
check(worst_b <= 1e-12, f"deep sub-layer biases as E.1: relative difference {worst_b:.3g} (tol 1e-12)")
for io in ("0.weight", "8.weight"):
    check(np.array_equal(pr.rebuild(layers[io]), W[io]), f"{io} (rank 1 <= r) is stored exactly")
y64 = run_model(deepf, "f64")
ref = construction_forward("deep", H)
if y64 is not None:
    check(y64.dtype == np.float64, "run --dtype f64 writes float64")
    d = np.abs(y64 - ref).max()
    check(d <= 1e-9, f"deep at h = {H}: f64 runtime vs numpy construction {d:.3g} (tol 1e-9)")
    d = np.abs(y64 - pr.forward(deepf, x)).max()
    check(d <= 1e-11, f"deep: f64 runtime vs the independent reader's graph evaluation {d:.3g} (tol 1e-11)")

# ---- wide, given h: the paper's beta and the paired beta ---------------------------------------
for beta in ("paper", "paired"):
    wf, _ = convert(f"wide-{beta}-h.dlor", "--form", "network", "--construction", "wide", "--beta", beta,
                    "--rank", str(R), "--dtype", "f64", "--h", str(H))
    ok, meta, tensors, layers, ops = single_components(wf)
    check(ok, f"wide {beta}: every weight in the graph is a single DLoR component")
    nb = sum(o["kind"] == "branch" for o in ops)
    check(nb == 3 * (6 if beta == "paired" else 3) and sum(o["kind"] == "merge" for o in ops) == 3,
          f"wide {beta}: {nb} branches in 3 groups")
    scales = [o["param"] for o in ops if o["kind"] == "branch"][: (6 if beta == "paired" else 3)]
    want = [s for _, s in wide_branches(ADD["2.weight"], H, beta == "paired")]
    check(np.allclose(scales, want, rtol=1e-15, atol=0), f"wide {beta}: branch weights beta_l / (h rho'(c)) {scales}")
    check(abs(sum(scales)) <= 1e-9 * max(abs(s) for s in scales), f"wide {beta}: the betas sum to zero")
    merges = [o for o in ops if o["kind"] == "merge"]
    check([m["bias"] for m in merges] == ["2.bias", "4.bias", "6.bias"], "wide: the original biases are added unchanged")
    y64 = run_model(wf, "f64")
    if y64 is not None:
        d = np.abs(y64 - construction_forward("wide", H, beta == "paired")).max()
        check(d <= 1e-9, f"wide {beta} at h = {H}: f64 runtime vs numpy construction {d:.3g} (tol 1e-9)")
        d = np.abs(y64 - pr.forward(wf, x)).max()
        check(d <= 1e-11, f"wide {beta}: f64 runtime vs the independent reader {d:.3g} (tol 1e-11)")
    rc, so, se = run("info", wf)
    check(rc == 0 and "branch(" in so and "merge(2.bias)" in so, f"info shows the branch groups: {so[:200]}")

# ---- the accuracy targets, h searched on x_test ----------------------------------------------
targets = [("deep", [], "f64", 1e-6), ("wide", ["--beta", "paired"], "f64", 1e-8),
           ("deep", [], "f32", 2e-2), ("wide", ["--beta", "paired"], "f32", 5e-4)]
for kind, extra, dt, tol in targets:
    f, so = convert(f"{kind}-auto-{dt}.dlor", "--form", "network", "--construction", kind, *extra, "--rank", str(R),
                    "--dtype", dt, "--calib", XT)
    meta = pr.read(f)[0]
    h = float(meta.get("dlor.h", "nan"))
    y = run_model(f, dt)
    if y is None:
        continue
    err = np.abs(y.astype(np.float64) - y_dense).max()
    check(err <= tol, f"{kind} {extra} {dt}: max abs error to the dense MLP {err:.3g} at h = {h:.3g} (target {tol:g})")
    check(meta.get("dlor.h_choice") == "auto", "h was searched")
    # the converter's own figure is the same measurement
    m = so.split("with the f64 runtime")[0].rsplit(":", 1)[-1] if dt == "f64" else \
        so.split("with the f32 runtime")[0].rsplit(",", 1)[-1]
    try:
        said = float(m.strip())
        check(abs(said - err) <= 0.01 * err + 1e-15, f"{kind} {dt}: convert reports {said:.3g}, measured {err:.3g}")
    except ValueError:
        check(False, f"cannot read the error convert printed: {so}")
    print(f"{kind} {' '.join(extra)} {dt}: h = {h:.3g}, max abs error {err:.3g} (target {tol:g})")

# ---- verify on network-form files -------------------------------------------------------------
def graph_params(f):
    """Parameters the graph of f uses: each referenced tensor once, the factors and nonzero alpha of
    each DLoR layer, one weight per branch (read with the independent reader)."""
    meta, tensors, layers = pr.read(f)
    used, total = set(), 0
    for o in pr.read_graph(f):
        total += o["kind"] == "branch"
        names = [o["bias"]] if o["bias"] else []
        if o["kind"] == "linear" and o["is_layer"] and o["weight"] not in used:
            used.add(o["weight"])
            L = layers[o["weight"]]
            total += L["U"].size + L["V"].size + (L["alpha"] != 0)
        elif o["kind"] == "linear":
            names.append(o["weight"])
        for nm in names:
            if nm not in used:
                used.add(nm)
                total += tensors[nm].size
    return total


DENSE_PARAMS = sum(v.size for v in W.values())


def verify_net(f, *args):
    js = fresh("verify-net.json")
    rc, so, se = run("verify", ST, f, "--inputs", XT, "--json", js, *args)
    rep = json.load(open(js)) if os.path.exists(js) else None
    return rc, so, se, rep


# deep, f64 factors (h given): the end-to-end error is the numpy construction's, in double
ref_err = np.abs(construction_forward("deep", H) - y_dense).max()
rc, so, se, rep = verify_net(deepf)
check(rc == 0 and rep is not None, f"verify a deep f64 network file: rc {rc} {se} {so[-400:]}")
if rep is not None:
    e2e, net = rep.get("end_to_end", {}), rep.get("network", {})
    got = e2e.get("max_abs_error", float("nan"))
    check(e2e.get("precision") == "f64" and e2e.get("samples") == len(x),
          f"deep: end to end in double on the {len(x)} x_test inputs: {e2e}")
    check(abs(got - ref_err) <= 1e-9, f"deep f64: verify's end-to-end max abs error {got:.6g}, numpy's construction "
                                      f"{ref_err:.6g} (tol 1e-9)")
    check(net.get("construction") == "deep" and net.get("h") == H and net.get("c") == C and net.get("rank") == R,
          f"deep: the structure reported: {net.get('construction')} h {net.get('h')} c {net.get('c')}")
    forms = {L["name"]: (L["form"], L["components"]) for L in net.get("layers", [])}
    L3 = math.ceil(16 / R)
    check(forms == {"0.weight": ("exact", 1), "2.weight": ("deep", L3), "4.weight": ("deep", L3),
                    "6.weight": ("deep", L3), "8.weight": ("exact", 1)}, f"deep: what became of each layer: {forms}")
    check(net.get("components") == 3 * L3 + 2 and net.get("sublayers_not_compared") == 3 * L3,
          f"deep: {net.get('components')} components, {net.get('sublayers_not_compared')} sub-layers not compared")
    check(net.get("params_dense_total") == DENSE_PARAMS and net.get("params_network_total") == graph_params(deepf),
          f"deep: parameters {net.get('params_dense_total')} -> {net.get('params_network_total')} "
          f"(numpy {DENSE_PARAMS} -> {graph_params(deepf)})")
    check(sum(L["params_network"] for L in net["layers"]) == net["params_network_total"], "deep: per-layer counts add up")
    check(sorted(L["name"] for L in rep["layers"]) == ["0.weight", "8.weight"] and
          all(L["rel_fro_error"] <= 1e-15 for L in rep["layers"]),
          "deep: only the exact components are compared weight for weight (exactly)")
    check(rep["problems"] == [] and rep["carried_identical"] == rep["carried_tensors"], f"deep: {rep['problems']}")
    check("no per-layer weight comparison" in so and "network form:" in so and so.rstrip().endswith("PASS"),
          f"deep: the text report says the sub-layers are not compared: {so[-600:]}")
for t, want in ((ref_err * 2, 0), (ref_err / 2, 1)):
    rc, so, se, rep = verify_net(deepf, "--tol", f"{t:.6g}")
    check(rc == want, f"deep: verify --tol {t:.3g} (measured {ref_err:.3g}) exits {rc}, expected {want}")
    if want:
        check(f"exceeds --tol {t:.3g}" in so and "FAIL" in so and rep is not None and not rep["pass"],
              f"deep: --tol below the measured error: a clear message: {so.splitlines()[-1:]}")

# wide, paired beta, f32 factors at h = 0.1 (the O(h^2) term dominates float32 rounding)
HW = 0.1
widef32, _ = convert("wide-f32.dlor", "--form", "network", "--construction", "wide", "--beta", "paired",
                     "--rank", str(R), "--dtype", "f32", "--h", str(HW))
ref_w = np.abs(construction_forward("wide", HW, paired=True) - y_dense).max()
html = fresh("wide-f32.html")
rc, so, se, rep = verify_net(widef32, "--html", html)
check(rc == 0 and rep is not None, f"verify a wide f32 network file: rc {rc} {se} {so[-400:]}")
if rep is not None:
    e2e, net = rep.get("end_to_end", {}), rep.get("network", {})
    got = e2e.get("max_abs_error", float("nan"))
    check(e2e.get("precision") == "f32", "wide f32: end to end in float32")
    check(abs(got - ref_w) <= 1e-3 * ref_w + 1e-5,
          f"wide f32: verify's end-to-end max abs error {got:.6g}, numpy's construction {ref_w:.6g} "
          f"(tol 1e-3 relative + 1e-5)")
    nb = 2 * math.ceil(16 / R)
    check(net.get("construction") == "wide" and net.get("beta") == "paired" and net.get("storage") == "f32" and
          net.get("components") == 3 * nb + 2, f"wide: structure {net.get('construction')} {net.get('components')}")
    check(net.get("params_network_total") == graph_params(widef32),
          f"wide: parameters {net.get('params_network_total')} (reader: {graph_params(widef32)})")
    page = open(html, encoding="utf-8").read() if os.path.exists(html) else ""
    check("Per-layer error bars are not applicable" in page and ">Structure<" in page and
          f"{net.get('params_dense_total')} dense \u2192 {net.get('params_network_total')} network" in page,
          "wide: the HTML page shows the structure and says layer error bars do not apply")
rc, so, se, rep = verify_net(widef32, "--tol", f"{ref_w / 2:.6g}")
check(rc == 1 and "exceeds --tol" in so, f"wide f32: --tol below the measured error exits 1: {so.splitlines()[-1:]}")

rc, so, se = run("verify", "--help")
check(rc == 0 and "network-form" in so and "--activation" in so and "end-to-end max abs output error" in so,
      "verify --help describes network-form files and --tol's meaning for them")
rc, so, se = run("reproduce", "--help")
check(rc == 0 and "--html FILE" in so and "log-log" in so, "reproduce --help describes --html")

# the wrong dense source, an unknown activation: clear failures, no report files
for src, extra, want in ((os.path.join(SRC, "samples", "digits", "digits.safetensors"), [], "digits.safetensors"),
                         (ST, ["--activation", "nosuch"], "nosuch")):
    js = fresh("verify-bad.json")
    rc, so, se = run("verify", src, deepf, "--json", js, *extra)
    check(rc == (2 if extra else 1) and want in se and not os.path.exists(js), f"verify against {want}: rc {rc} {se}")

# ---- refusals ------------------------------------------------------------------------------------
digits = os.path.join(SRC, "samples", "digits", "digits.safetensors")
for c in ("0", "-0.5"):
    out = fresh(f"relu-c{c}.dlor")
    rc, so, se = run("convert", digits, "-o", out, "--activation", "relu", "--form", "network", "--c", c)
    check(rc == 2 and "rho'(c)" in se and "c > 0" in se and "digits.safetensors" in se,
          f"relu with c = {c} is refused with a clear message: rc {rc} {se}")
    check(not os.path.exists(out), f"relu with c = {c}: no output file")
    check(not any(n.startswith(f"relu-c{c}.dlor.tmp") for n in os.listdir(TMP)), "no temporary file left")
out = fresh("nograph.dlor")
rc, so, se = run("convert", ST, "-o", out, "--form", "network")
check(rc == 1 and "graph" in se and not os.path.exists(out), f"no graph: refused: {se}")
for bad in (["--form", "network", "--beta", "paper"], ["--construction", "wide"], ["--form", "network", "--h", "0"],
            ["--form", "network", "--dtype", "f16"], ["--form", "network", "--method", "add"],
            ["--form", "netwrk"]):
    out = fresh("bad.dlor")
    rc, so, se = run("convert", ST, "-o", out, "--activation", "softplus", *bad)
    check(rc == 2 and not os.path.exists(out), f"usage error for {bad}: rc {rc} {se}")
rc, so, se = run("run", deepf, "-i", XT, "-o", fresh("y.npy"))
check(rc == 0 and "--dtype f64" in se, f"running a float64 network form in float32 says so: {se}")
rc, so, se = run("run", deepf, "-i", XT, "-o", fresh("y.npy"), "--dtype", "f16")
check(rc == 2, "run --dtype f16 is a usage error")

# a graph operation this reader does not know (as kinds 4 and 5 are to a 1.2 reader): refused, not misread
blob = bytearray(open(path("wide-paired-h.dlor"), "rb").read())
nsec, = struct.unpack_from("<I", blob, 52)
header_len, = struct.unpack_from("<Q", blob, 16)
for s in range(nsec):
    kind, esize, off, size, count = struct.unpack_from("<IIQQQ", blob, 64 + 32 * s)
    if kind == 0x8001:
        struct.pack_into("<H", blob, off + 32 * 2, 6)
struct.pack_into("<I", blob, 56, 0)
struct.pack_into("<I", blob, 56, zlib.crc32(bytes(blob[:header_len])) & 0xFFFFFFFF)
newer = fresh("newer.dlor")
open(newer, "wb").write(blob)
rc, so, se = run("run", newer, "-i", XT, "-o", fresh("y.npy"))
check(rc == 1 and "unknown kind 6" in se, f"an unknown graph operation is refused cleanly: rc {rc} {se}")

# ---- a dense model whose graph has a branch group (the safetensors 'dlor.graph' text form) ----------
from safetensors.numpy import save_file  # noqa: E402

rng = np.random.default_rng(5)
bw = {"a": rng.standard_normal((8, 4)), "b": rng.standard_normal((8, 8)) / 3, "c": rng.standard_normal((3, 8)),
      "bb": rng.standard_normal(8), "bm": rng.standard_normal(8)}
bst = fresh("branchy.safetensors")
save_file({k: v.astype(np.float32) for k, v in bw.items()}, bst,
          metadata={"dlor.graph": "linear(a); tanh; branch(0.5); linear(b,bb); tanh; branch(-1.25); linear(b); "
                                  "merge(bm); softplus; linear(c)"})
bw = {k: v.astype(np.float32).astype(np.float64) for k, v in bw.items()}
xb = rng.standard_normal((50, 4)).astype(np.float32)
np.save(path("xb.npy"), xb)
hb = np.tanh(xb.astype(np.float64) @ bw["a"].T)
yb = softplus(0.5 * np.tanh(hb @ bw["b"].T + bw["bb"]) - 1.25 * (hb @ bw["b"].T) + bw["bm"]) @ bw["c"].T
for dt, tol in (("f64", 1e-12), ("f32", 1e-5)):
    yy = run_model(bst, dt, path("xb.npy"))
    if yy is not None:
        d = np.abs(yy - yb).max()
        check(d <= tol * np.abs(yb).max(), f"dense branch graph, run --dtype {dt}: {d:.3g} vs numpy")
bd = fresh("branchy.dlor")
rc, so, se = run("convert", bst, "-o", bd, "--rank", "4")
check(rc == 0, f"convert a branch graph (mul): {se}")
vj = fresh("branchy-verify.json")
rc, so, se = run("verify", bst, bd, "--inputs", path("xb.npy"), "--json", vj)
check(rc == 0, f"verify a branch graph: {so} {se}")
if rc == 0:
    e2e = json.load(open(vj)).get("end_to_end", {})
    check(e2e.get("max_abs_error", 1) <= 1e-4, f"verify: the dense branch graph is evaluated as such: {e2e}")
bc = fresh("branchy-calib.dlor")
rc, so, se = run("convert", bst, "-o", bc, "--method", "lowrank", "--rank", "2", "--calib", path("xb.npy"))
check(rc == 0, f"calibrated compression through a branch graph: {se}")

rc, so, se = run("reproduce", "--sample", path("no-such-sample"), "--out", path("no-out"))
check(rc == 1 and "no-such-sample" in se and not os.path.exists(path("no-out")),
      f"reproduce without the sample: a clear error naming it: {se}")
rc, so, se = run("reproduce", "--step", "0")
check(rc == 2, "reproduce --step 0 is a usage error")

# ---- dlor reproduce (a quick grid): Table 1, the spectral split, the targets ------------------------
PAPER = {1: (573, 578, 594), 2: (622, 594, 611), 4: (622, 626, 645), 8: (726, 690, 713), 16: (838, 818, 849)}
rj, od = fresh("reproduce.json"), path("reproduce-out")
rc, so, se = run("reproduce", "--sample", SAW, "--json", rj, "--out", od, "--step", "0.5", "--seeds", "2",
                 "--epochs", "400")
check(rc == 0 and "targets: all met" in so, f"reproduce: rc {rc} {se} {so[-300:]}")
if rc == 0:
    rep = json.load(open(rj))
    rows = {t["k"]: t for t in rep["table1"]}
    check(sorted(rows) == [1, 2, 4, 8, 16], "Table 1 has k = 1, 2, 4, 8, 16")
    for k, (pd, pdeep, pwide) in PAPER.items():
        t = rows.get(k, {})
        check((t.get("dense"), t.get("deep"), t.get("wide")) == (pd, pdeep, pwide),
              f"Table 1, k = {k}: computed {t.get('dense')}, {t.get('deep')}, {t.get('wide')}; paper {pd}, {pdeep}, {pwide}")
        check(t.get("wide_formula") == pwide - 16 and t.get("rank") == math.ceil(16 / k),
              f"k = {k}: H.2's wide formula gives 16 fewer ({t.get('wide_formula')})")
    sp = rep["spectral"]
    n, r = sp["n"], sp["rank"]
    U, V = np.array(sp["U"]).reshape(n, r), np.array(sp["V"]).reshape(n, r)
    L = U @ V.T
    P, S, QT = np.linalg.svd(sp["alpha"] * np.eye(n) + L)
    check(np.abs(S - np.array(sp["sigma"])).max() <= 1e-10, "spectral split: singular values as numpy's")
    lr = np.diag(P.T @ L @ QT.T)
    ident = sp["alpha"] * np.diag(P.T @ QT.T)
    check(np.abs(lr - np.array(sp["lowrank"])).max() <= 1e-8 and np.abs(ident - np.array(sp["identity"])).max() <= 1e-8,
          "spectral split: low-rank and identity contributions as numpy's diag(P^T U V^T Q), diag(P^T alpha I Q)")
    check(abs(sp["test_mse_runtime"] - sp["test_mse"]) <= 1e-12 * max(1.0, sp["test_mse"]),
          "the trained model runs the same through the .dlor runtime")
    check(all(t["pass"] for t in rep["targets"]) and len(rep["targets"]) == 5, "reproduce: every target met")
    labels = [cv["label"] for cv in rep["curves"]]
    for want in ("deep, Schur basis, alpha = 0.8", "deep, Schur basis, alpha = auto",
                 "deep, random basis (seed 0), alpha = 0.8", "deep, random basis (seed 1), alpha = auto"):
        check(want in labels, f"curve '{want}' present")
    check(sum(cv["construction"] == "wide" for cv in rep["curves"]) == 2, "two wide curves (paper's and paired beta)")
    deep1 = next(cv for cv in rep["curves"] if cv["label"] == "deep, Schur basis, alpha = 1")
    hs = [p["h"] for p in deep1["points"]]
    check(hs[0] == 1.0 and abs(hs[-1] - 1e-12) < 1e-24 and len(hs) == 25, f"the h grid: {len(hs)} points")
    check(deep1["auto_f64"]["max_abs_error"] <= min(p["err_f64"] for p in deep1["points"]), "auto h beats the grid")
    for a in rep["approximation"]:
        xs = np.array(a["x"])
        check(np.abs(np.array(a["dense"]) - dense(xs[:, None])[:, 0]).max() <= 1e-12,
              f"{a['construction']}: the dense curve is the MLP")
        check(np.abs(np.array(a["target"]) - np.abs(np.mod(3.7 * xs, 2) - 1)).max() <= 1e-12,
              f"{a['construction']}: the target is the sawtooth")
        errs = [s["max_abs_to_dense"] for s in a["series"]]
        check(errs[0] > errs[1] > errs[2] > errs[3], f"{a['construction']}: the error falls with h: {errs}")
    check(len(rep["notes"]) >= 6, "the report says where it differs from the paper")
    for f in ("report.txt", "report.json", "curves.csv", "approx.csv", "table1.csv", "spectral.csv"):
        check(os.path.exists(os.path.join(od, f)), f"--out wrote {f}")
    t1 = open(os.path.join(od, "table1.csv")).read().splitlines()
    check(t1[0].startswith("k,rank,dense_width") and len(t1) == 6, "table1.csv")

finish()
