"""dlor convert streams its layers (one in double precision per job, the source mapped and released
layer by layer); what a conversion writes must not depend on it. Checked from the outside on a
seeded multi-layer safetensors model (square, wide and tall layers, near-identity ones, biases),
one OpenBLAS thread (the fits' bits depend on the BLAS thread count, not on --jobs):

- for each of exact mul, exact add at --rank 8, lowrank --rank 16, --budget 0.4 (max and sum
  allocation), --tol 0.5, --method svd --budget 0.4, lowrank --factors 3 and a --rank that keeps
  layers dense in f16: --jobs 1 and --jobs 2 write the same bytes, and a second run the same again;
- the files hold what the options ask, against numpy: exact forms rebuild the layer (relative error
  below 1e-5 in f32); a lowrank layer at rank r is within 0.2% of numpy's truncated SVD error at r
  (beta I + P Q^T is never worse than beta = 0, up to the block Krylov SVD's 1e-3); --method svd's
  factors reach numpy's SVD error at their rank (within 0.2%); a budget's stored numbers are within
  the budget and its largest layer error at most that of one uniform rank within the same budget
  (numpy SVD errors); --tol layers are within the tolerance; a layer kept dense holds the source's
  values rounded to f16; carried tensors are the source's bytes;
- peak memory (/usr/bin/time's maximum resident set size) of converting 8 layers of 1024 x 1024 at
  --rank 32: below 1.5x the plan's estimate (convert --dry-run) and below what holding every layer
  in double would take (the source plus 8 bytes per parameter); not in sanitizer builds."""
import os
import shutil
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader  # noqa: E402
from dlor_testlib import DLOR, check, finish, scratch  # noqa: E402

TMP, path, fresh = scratch("stream_convert")
os.environ["OPENBLAS_NUM_THREADS"] = "1"


def model():
    rng = np.random.default_rng(7)
    t = {}
    for i in range(3):
        t[f"b{i}.up.weight"] = (rng.standard_normal((160, 96)) / 10).astype(np.float32)
        t[f"b{i}.down.weight"] = (rng.standard_normal((96, 160)) / 13).astype(np.float32)
        t[f"b{i}.mix.weight"] = (np.eye(96) + rng.standard_normal((96, 96)) / 30).astype(np.float32)
        t[f"b{i}.bias"] = rng.standard_normal(96).astype(np.float32)
    return t


SRC_T = model()
SRC = path("model.safetensors")
save_file(SRC_T, SRC)
LAYERS = [n for n in SRC_T if n.endswith(".weight")]


def convert(out, *opts):
    p = subprocess.run([DLOR, "convert", SRC, "-o", out, *opts], capture_output=True, text=True)
    check(p.returncode == 0, f"convert {' '.join(opts)}: {p.stderr.strip()}")
    return p.returncode == 0


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def svd_errors(w):
    """Relative error of numpy's truncated SVD at every rank 0..min(m, n)."""
    s = np.linalg.svd(w.astype(np.float64), compute_uv=False)
    tail = np.sqrt(np.maximum(np.cumsum((s ** 2)[::-1])[::-1], 0))
    return np.append(tail, 0.0) / np.linalg.norm(s)


SVD_ERR = {n: svd_errors(SRC_T[n]) for n in LAYERS}


def stored_numbers(layers, tensors):
    """Numbers a compressed file stores for the layers (factors, beta, dense copies)."""
    total = 0
    for n in LAYERS:
        if n in layers:
            L = layers[n]
            total += L["U"].size + L["V"].size + (1 if L["alpha"] != 0 else 0)
        else:
            total += tensors[n].size
    return total


def check_exact(layers, what):
    for n in LAYERS:
        w = SRC_T[n].astype(np.float64)
        e = rel(dlor_pyreader.rebuild(layers[n]), w)
        check(e < 1e-5, f"{what}: {n} rebuilds the layer ({e:.2e})")


def check_lowrank(layers, tensors, rank, what):
    for n in LAYERS:
        w = SRC_T[n].astype(np.float64)
        if n not in layers:
            check(rank * sum(w.shape) + 1 >= w.size, f"{what}: {n} kept dense only where rank {rank} is not smaller")
            continue
        L = layers[n]
        e = rel(dlor_pyreader.rebuild(L), w)
        k = L["U"].shape[0]
        check(k == rank, f"{what}: {n} has rank {k}")
        check(e <= SVD_ERR[n][rank] * 1.002 + 1e-6, f"{what}: {n} error {e:.5f} vs SVD {SVD_ERR[n][rank]:.5f}")


def check_svd(layers, what):
    for n in LAYERS:
        if n not in layers:
            continue
        L = layers[n]
        k = L["U"].shape[0]
        e = rel(dlor_pyreader.rebuild(L), SRC_T[n].astype(np.float64))
        check(L["alpha"] == 0 and abs(e - SVD_ERR[n][k]) <= 0.002 * SVD_ERR[n][k] + 1e-6,
              f"{what}: {n} at rank {k} reaches numpy's SVD error ({e:.5f} vs {SVD_ERR[n][k]:.5f})")


def check_budget(layers, tensors, budget, what):
    dense = sum(SRC_T[n].size for n in LAYERS)
    used = stored_numbers(layers, tensors)
    check(used <= budget * dense, f"{what}: stores {used} numbers, budget {budget * dense:.0f}")
    worst = 0.0
    for n in LAYERS:
        if n in layers:
            worst = max(worst, rel(dlor_pyreader.rebuild(layers[n]), SRC_T[n].astype(np.float64)))
    # one rank for every layer within the same budget, with numpy's truncated SVD
    k = 1
    while sum((k + 1) * sum(SRC_T[n].shape) + 1 for n in LAYERS) <= budget * dense:
        k += 1
    uniform = max(SVD_ERR[n][k] for n in LAYERS)
    check(worst <= uniform * 1.002, f"{what}: largest error {worst:.4f} at most uniform rank {k}'s {uniform:.4f}")


def check_tol(layers, tensors, tol, what):
    for n in LAYERS:
        if n in layers:
            e = rel(dlor_pyreader.rebuild(layers[n]), SRC_T[n].astype(np.float64))
            check(e <= tol, f"{what}: {n} error {e:.4f} within --tol {tol}")
        else:
            check(np.array_equal(tensors[n], SRC_T[n]), f"{what}: {n} kept dense unchanged")


def check_kept_f16(layers, tensors, what):
    kept = [n for n in LAYERS if n not in layers]
    check(len(kept) > 0, f"{what}: some layer kept dense")
    for n in kept:
        check(tensors[n].dtype == np.float16 and np.array_equal(tensors[n], SRC_T[n].astype(np.float16)),
              f"{what}: {n} kept dense holds the source rounded to f16")


def check_carried(tensors, what):
    for n in SRC_T:
        if not n.endswith(".weight"):
            check(np.array_equal(tensors[n], SRC_T[n]), f"{what}: {n} carried unchanged")


CASES = [
    ("mul", ["--method", "mul"], lambda L, T: check_exact(L, "mul")),
    ("add", ["--method", "add", "--rank", "8"], lambda L, T: check_exact(L, "add")),
    ("lowrank", ["--method", "lowrank", "--rank", "16"], lambda L, T: check_lowrank(L, T, 16, "lowrank")),
    ("budget", ["--budget", "0.4"], lambda L, T: check_budget(L, T, 0.4, "budget")),
    ("budget-sum", ["--budget", "0.4", "--allocate", "sum"], lambda L, T: check_budget(L, T, 0.4, "budget sum")),
    ("tol", ["--tol", "0.5"], lambda L, T: check_tol(L, T, 0.5, "tol")),
    ("svd", ["--method", "svd", "--budget", "0.4"], lambda L, T: check_svd(L, "svd")),
    ("factors", ["--method", "lowrank", "--rank", "8", "--factors", "3"], None),
    ("dense-f16", ["--method", "lowrank", "--rank", "50", "--dtype", "f16"],
     lambda L, T: check_kept_f16(L, T, "kept dense f16")),
]

for name, opts, props in CASES:
    outs = []
    for j, tag in ((1, "a"), (2, "b"), (2, "c")):
        out = fresh(f"{name}-{tag}.dlor")
        if not convert(out, *opts, "--jobs", str(j)):
            break
        with open(out, "rb") as f:
            outs.append(f.read())
    if len(outs) != 3:
        continue
    check(outs[0] == outs[1], f"{name}: --jobs 1 and --jobs 2 write the same bytes")
    check(outs[1] == outs[2], f"{name}: a second run writes the same bytes")
    _, tensors, layers = dlor_pyreader.read(path(f"{name}-a.dlor"))
    check_carried(tensors, name)
    if name == "factors":
        for n in LAYERS:
            if n in layers:
                check(layers[n]["factors"] == 3, f"factors: {n} is a product of 3 factors")
    if props:
        props(layers, tensors)

# Peak memory against the plan's formula (not a time: the bytes a run touches). Skipped without
# /usr/bin/time (a child forked from this script would count its pages: Linux keeps ru_maxrss
# across exec) and in sanitizer builds (DLOR_TEST_NO_RSS: their shadow memory dominates).
if os.environ.get("DLOR_TEST_NO_RSS"):
    print("skipped the peak memory check: sanitizer build")
elif os.path.exists("/usr/bin/time"):
    rng = np.random.default_rng(3)
    big = {f"l{i}.weight": (rng.standard_normal((1024, 1024)) / 32).astype(np.float32) for i in range(8)}
    big_src = path("big.safetensors")
    save_file(big, big_src)
    del big
    opts = ["--method", "lowrank", "--rank", "32", "--jobs", "1"]
    p = subprocess.run([DLOR, "convert", big_src, "--dry-run", *opts], capture_output=True, text=True)
    tot = [ln for ln in p.stdout.splitlines() if ln.startswith("total:")]
    check(p.returncode == 0 and tot, f"dry run: {p.stderr.strip()}")
    if tot:
        num, unit = tot[0].split("peak memory ")[1].split(",")[0].split()
        est = float(num) * {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
        rss = path("rss.txt")
        q = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss, DLOR, "convert", big_src, "-o",
                            fresh("big.dlor"), *opts], capture_output=True, text=True)
        check(q.returncode == 0, f"big convert: {q.stderr.strip()}")
        with open(rss) as f:
            peak = int(f.read().split()[-1]) * 1024
        held_all = os.path.getsize(big_src) + 8 * 8 * 1024 * 1024
        check(peak <= 1.5 * est, f"peak RSS {peak / 1e6:.0f} MB within 1.5x the plan's {est / 1e6:.0f} MB")
        check(peak < held_all, f"peak RSS {peak / 1e6:.0f} MB below every layer in double ({held_all / 1e6:.0f} MB)")
        print(f"peak RSS {peak / 1e6:.1f} MB, plan {est / 1e6:.1f} MB, all layers held {held_all / 1e6:.1f} MB")
        # qlr (its base and residual made with the layer's doubles) and --budget-bits (every dense dtype
        # and qlr base measured with them) stream too: below every layer in double
        for more in (["--method", "qlr", "--rank", "32", "--dtype", "q4"], ["--budget-bits", "4.5"]):
            q = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss, DLOR, "convert", big_src, "-o",
                                fresh("big.dlor"), *more, "--jobs", "1"], capture_output=True, text=True)
            check(q.returncode == 0, f"big convert {' '.join(more)}: {q.stderr.strip()}")
            with open(rss) as f:
                peak = int(f.read().split()[-1]) * 1024
            check(peak < held_all, f"{' '.join(more)}: peak RSS {peak / 1e6:.0f} MB below every layer in double "
                                   f"({held_all / 1e6:.0f} MB)")
            print(f"{' '.join(more)}: peak RSS {peak / 1e6:.1f} MB")
else:
    print("skipped the peak memory check: no /usr/bin/time")

shutil.rmtree(TMP, ignore_errors=True)
finish()
