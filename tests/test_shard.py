"""convert --shard I/N + dlor merge: for several models, methods and shard counts the
merged file has the same bytes as a single-process conversion; every layer is
converted by exactly one part; parts that do not belong together are refused and
leave the output untouched. convert --jobs J: the same bytes for every J, and the
same error (the first failing layer) whatever the timing.

BLAS's own threads can change the last bits of some LAPACK results, so the
comparisons run with OPENBLAS_NUM_THREADS=1, as the README asks of shards."""
import filecmp
import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader  # noqa: E402
from dlor_testlib import DLOR, SRC, check, finish, run, scratch  # noqa: E402

TMP, _, path = scratch("shard")  # path(n) removes an existing n
os.environ["OPENBLAS_NUM_THREADS"] = "1"
digits = os.path.join(SRC, "samples", "digits")
dsrc = os.path.join(digits, "digits.safetensors")


# A model with more layers of mixed shapes (and a non-layer tensor), seeded.
rng = np.random.default_rng(7)
dims = [48, 64, 40, 64, 64, 32, 24, 10]
tensors = {}
for i in range(len(dims) - 1):
    tensors[f"{i}.weight"] = (rng.standard_normal((dims[i + 1], dims[i])) / np.sqrt(dims[i])).astype(np.float32)
    tensors[f"{i}.bias"] = (0.1 * rng.standard_normal(dims[i + 1])).astype(np.float32)
tensors["step"] = np.array([3], dtype=np.int64)
mixed = os.path.join(TMP, "mixed.safetensors")
save_file(tensors, mixed)
xcal = os.path.join(TMP, "calib.npy")
np.save(xcal, rng.standard_normal((200, dims[0])).astype(np.float32))

cases = [
    (dsrc, ["--activation", "relu", "--rank", "16"], (1, 2, 3, 5)),
    (dsrc, ["--activation", "relu", "--method", "add"], (2,)),
    (dsrc, ["--activation", "relu", "--tol", "0.3", "--dtype", "f16", "--calib", os.path.join(digits, "x_train.npy")],
     (2, 3)),
    (mixed, ["--activation", "tanh", "--rank", "8"], (2, 3, 4)),
    (mixed, ["--activation", "tanh", "--tol", "0.5"], (3,)),
    (mixed, ["--rank", "4", "--method", "add"], (4,)),  # no graph: tensors only
    # a --rank that some layers cap (dlor.rank_capped) or keep dense (dlor.kept_dense): each part lists its own
    (mixed, ["--rank", "30", "--method", "add"], (2, 3)),
    (dsrc, ["--activation", "relu", "--rank", "16", "--method", "lowrank"], (2, 3)),
]
for ci, (src, opts, counts) in enumerate(cases):
    single = path(f"single{ci}.dlor")
    rc, so, se = run("convert", src, "-o", single, *opts)
    check(rc == 0, f"case {ci}: single-process convert: {se}")
    meta_single, _, layers_single = dlor_pyreader.read(single)
    if "30" in opts:
        check(meta_single.get("dlor.rank_capped") == "5.weight,6.weight", f"case {ci}: 24 x 32 and 10 x 24 capped")
    if "lowrank" in opts:
        check(meta_single.get("dlor.kept_dense") == "4.weight", f"case {ci}: the head kept dense at rank 16")
    for n in counts:
        parts = [path(f"c{ci}-part{i}of{n}.dlor") for i in range(n)]
        owned = []
        for i, p in enumerate(parts):
            rc, so, se = run("convert", src, "-o", p, *opts, "--shard", f"{i}/{n}")
            check(rc == 0, f"case {ci} shard {i}/{n}: {se}")
            meta, _, lay = dlor_pyreader.read(p)
            check(meta.get("dlor.shard") == f"{i}/{n}", f"case {ci}: part {i}/{n} records its shard")
            owned.append(set(lay) | set(filter(None, meta.get("dlor.kept_dense", "").split(","))))
        allnames = set().union(*owned)
        check(sum(len(s) for s in owned) == len(allnames), f"case {ci} n={n}: no layer converted twice")
        merged = path(f"c{ci}-merged{n}.dlor")
        rc, so, se = run("merge", *reversed(parts), "-o", merged)  # order of the parts does not matter
        check(rc == 0, f"case {ci} n={n}: merge: {se}")
        check(filecmp.cmp(single, merged, shallow=False), f"case {ci} n={n}: merged bytes equal the single conversion")
        if n >= 3 and len(allnames) >= n:
            sizes = sorted(len(s) for s in owned)
            check(sizes[0] >= 1, f"case {ci} n={n}: every shard gets work when there are enough layers ({sizes})")

# ---- --jobs: the bytes do not depend on the number of threads -----------------------------
for ci, (src, opts, _) in enumerate(cases):
    outs = []
    for j in ("1", "3", "0"):
        o = path(f"jobs{ci}-{j}.dlor")
        rc, so, se = run("convert", src, "-o", o, *opts, "--jobs", j)
        check(rc == 0, f"case {ci} --jobs {j}: {se}")
        outs.append(o)
    check(all(filecmp.cmp(outs[0], o, shallow=False) for o in outs[1:]), f"case {ci}: --jobs 1, 3 and 0 write the same bytes")
# two broken layers: whatever the threads, the error names the first
broken = dict(tensors)
for nm in ("2.weight", "5.weight"):
    w = broken[nm].copy()
    w[1, 1] = np.nan
    broken[nm] = w
bsrc = os.path.join(TMP, "broken.safetensors")
save_file(broken, bsrc)
for method in (["--method", "mul"], ["--tol", "0.1"]):
    for j in ("1", "4"):
        o = path("broken.dlor")
        rc, so, se = run("convert", bsrc, "-o", o, *method, "--jobs", j)
        check(rc == 1 and "'2.weight'" in se and "5.weight" not in se and not os.path.exists(o),
              f"{method} --jobs {j}: the first broken layer is reported: {se.strip()}")
rc, so, se = run("convert", dsrc, "-o", path("j.dlor"), "--jobs", "x")
check(rc == 2 and "--jobs" in se, "--jobs x is refused")

# ---- refusals: the output stays untouched --------------------------------------------------
parts = [path(f"r-part{i}.dlor") for i in range(3)]
for i, p in enumerate(parts):
    run("convert", dsrc, "-o", p, "--activation", "relu", "--shard", f"{i}/3")
other = path("r-other-rank.dlor")
run("convert", dsrc, "-o", other, "--activation", "relu", "--rank", "8", "--shard", "1/3")
single = path("r-single.dlor")
run("convert", dsrc, "-o", single, "--activation", "relu")
out = path("r-out.dlor")
with open(out, "wb") as f:
    f.write(b"previous contents")
bad_merges = [
    (parts[:2], "3 parts, 2 were given"),
    ([parts[0], parts[1], parts[1]], "both shard 1/3"),
    ([parts[0], other, parts[2]], "different conversions"),
    ([parts[0], parts[1], single], "not a part"),
    ([parts[0], parts[1], os.path.join(TMP, "missing.dlor")], "missing.dlor"),
]
for ps, msg in bad_merges:
    rc, so, se = run("merge", *ps, "-o", out)
    check(rc == 1 and msg in se, f"merge refused ({msg}): rc={rc} {se.strip()}")
    check(open(out, "rb").read() == b"previous contents", f"merge refused ({msg}): output untouched")
for opts, msg in ((["--shard", "3/3"], "--shard takes I/N"), (["--shard", "x"], "--shard takes I/N"),
                  (["--shard", "0/2", "--budget", "0.5"], "--budget"),
                  (["--shard", "0/2", "--emit", os.path.join(TMP, "e.safetensors")], "--emit")):
    rc, so, se = run("convert", dsrc, "-o", out, "--activation", "relu", *opts)
    check(rc == 2 and msg in se, f"convert {' '.join(opts)} refused: rc={rc} {se.strip()}")
    check(open(out, "rb").read() == b"previous contents", f"convert {' '.join(opts)}: output untouched")
saw = os.path.join(SRC, "samples", "sawtooth", "sawtooth.onnx")
rc, so, se = run("convert", saw, "-o", out, "--form", "network", "--shard", "0/2")
check(rc == 2 and "--shard does not go with --form network" in se, f"--form network --shard is refused: {se.strip()}")
check(open(out, "rb").read() == b"previous contents", "--form network --shard: output untouched")
rc, so, se = run("merge", parts[0], "-o", parts[0])
check(rc == 2 and "overwrite" in se, "merge onto one of its parts is refused")
# '-' is standard output: the merged bytes there, and no file named '-'
merged = path("merged-file.dlor")
rc, so, se = run("merge", *parts, "-o", merged)
p = subprocess.run([DLOR, "merge", *parts, "-o", "-"], cwd=TMP, capture_output=True)
check(rc == 0 and p.returncode == 0 and p.stdout == open(merged, "rb").read() and not os.path.exists(path("-")),
      f"merge -o - writes the merged file to stdout: {p.stderr.decode()}")
finish()
