"""The spectra the HTML report draws (lib/spectrum.c), checked against numpy.

For every layer of several converted files, tests/tools/html_spectrum_dump
prints what the report plots; numpy recomputes it from the factors that the
independent reader (dlor_pyreader) extracts:
  - singular values of the rebuilt W_hat and of the dense W (within 1e-9 of sigma_1);
  - the low-rank part's singular values and the identity part's |L alpha|;
  - the Figure 2c split (identity / low-rank contributions p_j^T (.) q_j) and the
    Figure 3c per-branch split, compared per cluster of equal singular values
    (inside a cluster of a nonzero singular value the vectors are not unique,
    their sums are; directions of a zero singular value only have sigma = 0).
"""
import json
import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader  # noqa: E402
from dlor_testlib import SRC, check, finish, run, scratch  # noqa: E402

DUMP = os.environ.get("DLOR_HTML_SPECTRUM", "html_spectrum_dump")
TMP, _, path = scratch("html_spectrum")  # path(n) removes an existing n
digits = os.path.join(SRC, "samples", "digits", "digits.safetensors")


def dump(src, dl):
    r = subprocess.run([DUMP, src, dl], capture_output=True, text=True)
    check(r.returncode == 0, f"html_spectrum_dump {dl}: {r.stderr}")
    return [json.loads(line) for line in r.stdout.splitlines()] if r.returncode == 0 else []


def clusters(s, gap):
    """Index ranges of runs of singular values closer than gap (s descending)."""
    out, start = [], 0
    for j in range(1, len(s) + 1):
        if j == len(s) or s[j - 1] - s[j] > gap:
            out.append((start, j))
            start = j
    return out


def np_split(M, c, U, V, cols, branches):
    """numpy's identity / low-rank / per-branch contributions of M = c I + U V^T."""
    P, s, Qt = np.linalg.svd(M, full_matrices=False)
    Q = Qt.T
    k = len(s)
    d = np.einsum("ij,ij->j", P[:k, :], Q[:k, :])         # p_j^T I_{m x n} q_j
    A, B = P.T @ U, Q.T @ V                                # k x K each
    prod = A * B
    low = prod.sum(axis=1)
    br = []
    for l in range(branches):
        br.append(c / branches * d + prod[:, l * cols:(l + 1) * cols].sum(axis=1))
    return s, c * d, low, np.array(br)


def compare_layer(tag, rec, layer, W):
    name = rec["name"]
    what = f"{tag} {name}"
    W_hat = dlor_pyreader.rebuild(layer)
    s_np = np.linalg.svd(W_hat, compute_uv=False)
    s_c = np.array(rec["rebuilt"])
    top = s_np[0]
    check(len(s_c) == len(s_np) and np.max(np.abs(s_c - s_np)) <= 1e-9 * top,
          f"{what}: singular values of W_hat differ from numpy's by "
          f"{np.max(np.abs(s_c - s_np)) / top if len(s_c) == len(s_np) else 'count'} of sigma_1")
    big = s_np >= 1e-3 * top
    if len(s_c) == len(s_np):
        check(np.all(np.abs(s_c[big] - s_np[big]) <= 1e-9 * s_np[big]),
              f"{what}: singular values >= 1e-3 sigma_1 not within 1e-9 relative")
    s_w = np.linalg.svd(W.astype(np.float64), compute_uv=False)
    s_d = np.array(rec["dense"])
    check(len(s_d) == len(s_w) and np.max(np.abs(s_d - s_w)) <= 1e-9 * s_w[0],
          f"{what}: singular values of the dense W differ from numpy's")

    U = layer["U"].astype(np.float64).T   # dim_u x K
    V = layer["V"].astype(np.float64).T
    a, r, L = layer["alpha"], layer["rank"], layer["factors"]
    if layer["method"] == 2:              # add: W_hat = L a I + U V^T
        c, cols, branches, M = L * a, r, L, W_hat
        lowrank = U @ V.T
        check(rec["split_is_factor"] == 0, f"{what}: an add layer's split is of W_hat")
    else:                                 # mul: the first factor M_1 = a I + U_1 V_1^T
        c0 = min(r, U.shape[1])
        U, V = U[:, :c0], V[:, :c0]
        c, cols, branches = a, c0, 1
        M = a * np.eye(U.shape[0]) + U @ V.T
        lowrank = U @ V.T
        check(rec["split_is_factor"] == 1, f"{what}: a mul layer's split is of its first factor")
    check(abs(rec["identity_sv"] - abs(c)) <= 1e-15 * max(1.0, abs(c)), f"{what}: identity part |L alpha|")
    sl = np.linalg.svd(lowrank, compute_uv=False)[:len(rec["lowrank_sv"])]
    check(len(rec["lowrank_sv"]) == min(U.shape[1], *lowrank.shape) and
          np.max(np.abs(np.array(rec["lowrank_sv"]) - sl)) <= 1e-9 * max(sl[0], 1e-300),
          f"{what}: singular values of the low-rank part")

    sp = rec["split"]
    sig, ide, low = np.array(sp["sigma"]), np.array(sp["identity"]), np.array(sp["lowrank"])
    br = np.array(sp["branch"])
    s2, ide2, low2, br2 = np_split(M, c, U, V, cols, branches)
    t2 = s2[0]
    check(np.max(np.abs(sig - s2)) <= 1e-9 * t2, f"{what}: split sigma")
    check(np.max(np.abs(ide + low - sig)) <= 1e-12 * t2,
          f"{what}: identity + low-rank != sigma (by {np.max(np.abs(ide + low - sig)) / t2:.3g} of sigma_1)")
    check(br.shape == (branches, len(sig)) and np.max(np.abs(br.sum(axis=0) - sig)) <= 1e-12 * t2,
          f"{what}: the branches do not add up to sigma")
    worst = 0.0
    for (j0, j1) in clusters(s2, 1e-6 * t2):
        if s2[j0] <= 1e-8 * t2:
            # null directions: left and right vectors are chosen independently, so
            # only their total (sigma = 0) is defined, and checked above
            continue
        for x, y in ((ide, ide2), (low, low2)):
            worst = max(worst, abs(x[j0:j1].sum() - y[j0:j1].sum()))
        if br.shape == br2.shape:
            worst = max(worst, np.max(np.abs(br[:, j0:j1].sum(axis=1) - br2[:, j0:j1].sum(axis=1))))
    check(worst <= 1e-8 * t2, f"{what}: split differs from numpy's by {worst / t2:.3g} of sigma_1")
    return worst / t2


def case(tag, src, weights, *convert_args):
    out = path(f"{tag}.dlor")
    rc, so, se = run("convert", src, "-o", out, *convert_args)
    if not check(rc == 0, f"convert {tag}: {se}"):
        return
    _, _, layers = dlor_pyreader.read(out)
    recs = dump(src, out)
    check(len(recs) == len(layers), f"{tag}: one record per DLoR layer ({len(recs)} vs {len(layers)})")
    worst = 0.0
    for rec in recs:
        worst = max(worst, compare_layer(tag, rec, layers[rec["name"]], weights[rec["name"]]))
    print(f"{tag}: {len(recs)} layers, split agrees with numpy to {worst:.2g} of sigma_1")


wd = load_file(digits)
case("digits-mul", digits, wd, "--activation", "relu")
case("digits-add", digits, wd, "--activation", "relu", "--method", "add", "--rank", "8")
case("digits-budget", digits, wd, "--activation", "relu", "--budget", "0.5")
case("digits-mul-f64-r5", digits, wd, "--method", "mul", "--rank", "5", "--dtype", "f64")

# residual-style layers, square and rectangular: beta far from 0, so the identity part matters
rng = np.random.default_rng(3)
res = {}
for name, (m, n) in {"sq.weight": (96, 96), "wide.weight": (60, 90), "tall.weight": (90, 60)}.items():
    k = min(m, n)
    W = np.zeros((m, n))
    W[np.arange(k), np.arange(k)] = 0.8
    W += rng.standard_normal((m, 4)) @ rng.standard_normal((4, n)) / 6 + 1e-3 * rng.standard_normal((m, n))
    res[name] = W
rsrc = path("residual.safetensors")
save_file(res, rsrc)
case("residual-lowrank", rsrc, res, "--method", "lowrank", "--rank", "6", "--dtype", "f64")
case("residual-factors3", rsrc, {k: v for k, v in res.items() if k == "sq.weight"}, "--method", "lowrank",
     "--rank", "6", "--factors", "3", "--dtype", "f64", "--include", "sq.weight")
finish()
