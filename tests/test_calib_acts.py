"""dlor convert --calib-acts on the digits MLP, with layer inputs computed here by numpy in
float64 from the weights (written apart from dlor's forward pass):

- activations (float32, leading dimensions [N, 3] flattened) and Gram matrices (NAME.gram) give the
  same ranks under --budget, and outputs within 1e-6 of the largest, with no graph (no --activation)
  too; Gram matrices and --calib x_train the same ranks under --tol and outputs within 1e-5 (against
  --calib's float64 propagation);
- an [in, in] array under a layer's own name is activations (n == in rows), not a Gram matrix:
  the same file as its X^T X given as NAME.gram;
- --tol T on the data: every layer's output error on its inputs, ||(W - W_hat) X^T|| / ||W X^T||
  measured by numpy, is at most T (and the weight-space error of some layer exceeds T);
- a file naming one layer: a note, the other layers fitted to their weights (a file equal to the
  uncalibrated one's factors for them); --set rules and --rank combine with it;
- a rank-deficient Gram matrix (20 rows for 128 inputs): one note on the ridge, one on the rows
  (naming the layer and the counts; also for --calib of 40 samples, and none for 1257), and a fit
  whose error on those 20 rows is below the uncalibrated fit's; a strongly indefinite one: exit 1;
- bad files: one line naming the file and the key, exit 1, nothing written and an existing output
  left as it was: unknown key, wrong widths, an integer array, NaN, Inf, an asymmetric Gram
  matrix, a negative diagonal, a layer given twice; usage errors (exit 2): with --calib, with an
  exact method, with --form network.
"""
import os

import numpy as np
from safetensors.numpy import load_file

import dlor_pyreader
from dlor_testlib import SRC, check, finish, rel, run, run_npy, scratch

TMP, path, fresh = scratch("calib-acts")
D = os.path.join(SRC, "samples", "digits")
MODEL = os.path.join(D, "digits.safetensors")
X_TRAIN, X_TEST = os.path.join(D, "x_train.npy"), os.path.join(D, "x_test.npy")
W = {k: v.astype(np.float64) for k, v in load_file(MODEL).items()}
NAMES = ["0.weight", "2.weight", "4.weight"]


def layer_inputs(x):
    """name -> the inputs that layer sees (numpy, float64, ReLU between layers)."""
    h, out = x.astype(np.float64), {}
    for i, n in enumerate(NAMES):
        out[n] = h
        h = h @ W[n].T + W[n.replace("weight", "bias")]
        if i < 2:
            h = np.maximum(h, 0)
    return out


X = layer_inputs(np.load(X_TRAIN))


def convert(out, *flags, graph=True):
    return run("convert", MODEL, *(["--activation", "relu"] if graph else []), "-o", out, *flags)


def layers(p):
    return dlor_pyreader.read(p)[2]


def ranks(p):
    return {n: L["rank"] for n, L in layers(p).items()}


def save(name, **arrays):
    p = path(name)
    np.savez(p, **arrays)
    return p


assert len(X["0.weight"]) % 3 == 0
acts = save("acts.npz", **{n: x.astype(np.float32).reshape(-1, 3, x.shape[1]) for n, x in X.items()})
grams = save("grams.npz", **{n + ".gram": x.T @ x for n, x in X.items()})
files = {}
# --budget with --calib also weighs the layers by their end-to-end sensitivity (measured by running
# the model's inputs, which captured activations do not give), so the whitening of --calib is
# compared with the Gram matrices' under --tol, which allocates nothing
for kind, flags, graph in (("calib", ["--tol", "0.2", "--calib", X_TRAIN], True),
                           ("grams-tol", ["--tol", "0.2", "--calib-acts", grams], True),
                           ("acts", ["--budget", "0.25", "--calib-acts", acts], True),
                           ("grams", ["--budget", "0.25", "--calib-acts", grams], True),
                           ("nograph", ["--budget", "0.25", "--calib-acts", grams], False)):
    f = fresh(f"{kind}.dlor")
    rc, so, se = convert(f, *flags, graph=graph)
    check(rc == 0, f"{kind}: {se}")
    check("fewer calibration rows" not in se, f"{kind}: no note on too few rows for 1257 of them: {se}")
    files[kind] = f
check(dlor_pyreader.read(files["grams"])[0].get("dlor.calib") == "grams.npz", "dlor.calib names the file")
y = {k: run_npy(TMP, files[k], X_TEST)[0] for k in ("calib", "grams-tol", "acts", "grams")}
check(ranks(files["acts"]) == ranks(files["grams"]) == ranks(files["nograph"]),
      "the same ranks from activations, Gram matrices, and without a graph")
check(ranks(files["calib"]) == ranks(files["grams-tol"]), "the same ranks from Gram matrices and --calib")
check(rel(y["acts"], y["grams"]) < 1e-6, f"activations vs Gram matrices: {rel(y['acts'], y['grams'])}")
check(rel(y["grams-tol"], y["calib"]) < 1e-5, f"Gram matrices vs --calib: {rel(y['grams-tol'], y['calib'])}")
Lg, Ln = layers(files["grams"]), layers(files["nograph"])
check(all(np.array_equal(Lg[n]["U"], Ln[n]["U"]) and np.array_equal(Lg[n]["V"], Ln[n]["V"]) for n in NAMES),
      "without a graph: the same factors")

# n == in: a square array under the layer's name is activations
sq = X["2.weight"][:128]
f1, f2 = fresh("square_acts.dlor"), fresh("square_gram.dlor")
r1 = convert(f1, "--rank", "8", "--calib-acts", save("square_acts.npz", **{"2.weight": sq}))
r2 = convert(f2, "--rank", "8", "--calib-acts", save("square_gram.npz", **{"2.weight.gram": sq.T @ sq}))
check(r1[0] == 0 and r2[0] == 0, f"square activations: {r1[2]} {r2[2]}")
if r1[0] == 0 and r2[0] == 0:
    a, b = dlor_pyreader.rebuild(layers(f1)["2.weight"]), dlor_pyreader.rebuild(layers(f2)["2.weight"])
    check(rel(a, b) < 1e-5, f"[128, 128] activations are rows, not a Gram matrix: {rel(a, b)}")

# --tol on the data
f = fresh("tol.dlor")
rc, so, se = convert(f, "--tol", "0.05", "--calib-acts", grams)
check(rc == 0, f"--tol with --calib-acts: {se}")
if rc == 0:
    wt_err = []
    for n, L in layers(f).items():
        E = W[n] - dlor_pyreader.rebuild(L)
        de = np.linalg.norm(E @ X[n].T) / np.linalg.norm(W[n] @ X[n].T)
        check(de <= 0.05 * (1 + 1e-6), f"{n}: data-space error {de} <= 0.05")
        wt_err.append(np.linalg.norm(E) / np.linalg.norm(W[n]))
    check(max(wt_err) > 0.05, f"the weight-space errors are not what was held: {wt_err}")

# one layer named: the others fitted to their weights
f, fu = fresh("partial.dlor"), fresh("uncal.dlor")
rc, so, se = convert(f, "--rank", "6", "--calib-acts", save("one.npz", **{"2.weight.gram": X["2.weight"].T @ X["2.weight"]}))
rcu, _, seu = convert(fu, "--method", "auto", "--rank", "6")
check(rc == 0 and "2 converted layers have no entry in" in se and "one.npz" in se, f"partial file: a note: {se}")
if rc == 0 and rcu == 0:
    Lp, Lu = layers(f), layers(fu)
    check(np.array_equal(Lp["0.weight"]["U"], Lu["0.weight"]["U"]) and
          not np.array_equal(Lp["2.weight"]["U"], Lu["2.weight"]["U"]), "unnamed layers fitted as without data")
f = fresh("set.dlor")
rc, so, se = convert(f, "--budget", "0.3", "--set", "4.weight:rank=3", "--calib-acts", grams)
check(rc == 0 and ranks(f).get("4.weight") == 3, f"--set with --calib-acts: {se} {ranks(f) if rc == 0 else ''}")

# a rank-deficient Gram matrix: a ridge and a note; a strongly indefinite one: refused
few = X["2.weight"][200:220]
f, fu = fresh("few.dlor"), fresh("few_uncal.dlor")
rc, so, se = convert(f, "--rank", "4", "--calib-acts", save("few.npz", **{"2.weight": few}))
check(rc == 0 and "singular or indefinite by rounding" in se, f"rank-deficient Gram matrix: a note: {se}")
check("1 layer had fewer calibration rows" in se and "'2.weight': 20 rows for 128 inputs" in se,
      f"20 rows for 128 inputs: a note naming the layer and the counts: {se}")
few_x = path("few_x.npy")
np.save(few_x, np.load(X_TRAIN)[:40])
rcx, _, sex = convert(fresh("few_x.dlor"), "--budget", "0.5", "--calib", few_x)
check(rcx == 0 and "3 layers had fewer calibration rows" in sex and "'2.weight': 40 rows for 128 inputs" in sex,
      f"--calib of 40 samples (64, 128 and 128 inputs): a note naming the layer with the fewest per input: {sex}")
convert(fu, "--method", "auto", "--rank", "4")
if rc == 0:
    e_cal = np.linalg.norm((W["2.weight"] - dlor_pyreader.rebuild(layers(f)["2.weight"])) @ few.T)
    e_unc = np.linalg.norm((W["2.weight"] - dlor_pyreader.rebuild(layers(fu)["2.weight"])) @ few.T)
    print(f"20 rows, rank 4: error on them calibrated {e_cal:.4g}, uncalibrated {e_unc:.4g}")
    check(e_cal < 0.5 * e_unc, f"the ridge-whitened fit follows the data: {e_cal} vs {e_unc}")
ind = np.eye(128)
ind[5, 7] = ind[7, 5] = 3.0  # eigenvalues 4 and -2 in that block
out = path("kept.dlor")
with open(out, "wb") as fh:
    fh.write(b"keep")
rc, so, se = convert(out, "--rank", "4", "--calib-acts", save("indef.npz", **{"2.weight.gram": ind}))
errs = [line for line in se.splitlines() if ": note: " not in line]
check(rc == 1 and len(errs) == 1 and "indef.npz" in errs[0] and "2.weight" in errs[0]
      and open(out, "rb").read() == b"keep", f"an indefinite Gram matrix: {rc} {se}")

# bad files: one line, the file and the key, exit 1, the output untouched
g2 = X["2.weight"].T @ X["2.weight"]
asym = g2.copy()
asym[3, 9] += 1e-3 * g2.diagonal().max()
negd = g2.copy()
negd[4, 4] = -1.0
nan = X["0.weight"].copy()
nan[7, 3] = np.nan
inf = g2.copy()
inf[1, 1] = np.inf
bad = {
    "unknown": ({"5.weight": X["0.weight"]}, "5.weight", "matches no converted layer"),
    "unknown_gram": ({"0.bias.gram": np.eye(64)}, "0.bias.gram", "matches no converted layer"),
    "width": ({"2.weight": X["0.weight"]}, "2.weight", "[..., 128]"),
    "gram_shape": ({"0.weight.gram": np.eye(128)}, "0.weight.gram", "[64, 64]"),
    "gram_3d": ({"0.weight.gram": np.ones((2, 64, 64))}, "0.weight.gram", "[64, 64]"),
    "ints": ({"0.weight": (X["0.weight"] * 16).astype(np.int64)}, "0.weight", "float"),
    "nan": ({"0.weight": nan}, "0.weight", "not finite"),
    "inf": ({"2.weight.gram": inf}, "2.weight.gram", "not finite"),
    "asym": ({"2.weight.gram": asym}, "2.weight.gram", "not symmetric"),
    "negdiag": ({"2.weight.gram": negd}, "2.weight.gram", "negative diagonal"),
    "twice": ({"2.weight": X["2.weight"], "2.weight.gram": g2}, "2.weight", "twice"),
    "empty": ({"0.weight": np.zeros((0, 64))}, "0.weight", "no row"),
}
for name, (arrays, key, want) in bad.items():
    p = save(f"bad_{name}.npz", **arrays)
    rc, so, se = convert(out, "--budget", "0.5", "--calib-acts", p)
    check(rc == 1 and len(se.strip().splitlines()) == 1 and f"bad_{name}.npz" in se and f"'{key}'" in se
          and want in se and open(out, "rb").read() == b"keep", f"bad file {name}: {rc} {se}")
rc, so, se = convert(out, "--budget", "0.5", "--calib-acts", path("missing.npz"))
check(rc == 1 and "missing.npz" in se and open(out, "rb").read() == b"keep", f"a missing file: {rc} {se}")
for flags, want in ((["--budget", "0.5", "--calib", X_TRAIN, "--calib-acts", grams], "do not go together"),
                    (["--method", "mul", "--calib-acts", grams], "compressed"),
                    (["--form", "network", "--calib-acts", grams], "--calib-acts"),
                    (["--rank", "4", "--allocate", "uniform", "--calib-acts", grams], "--allocate")):
    rc, so, se = convert(out, *flags)
    check(rc == 2 and want in se and len(se.strip().splitlines()) == 1 and open(out, "rb").read() == b"keep",
          f"usage {flags}: {rc} {se}")

finish()
