"""Exit status of every dlor command, from one table: 2 for a usage error (an
unknown option or option value, a number out of range, options that do not go
together or that the given file cannot take, a --rank no layer can use), 1 for
bad input or a failed check, 0 otherwise. A usage error names the option (and
lists the valid values); no failing run leaves an output file behind."""
import os
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import SRC, check, finish, run, scratch  # noqa: E402

TMP, path, _ = scratch("exit_codes")
digits = os.path.join(SRC, "samples", "digits")
onnx, dst = os.path.join(digits, "digits.onnx"), os.path.join(digits, "digits.safetensors")
x, y = os.path.join(digits, "x_test.npy"), os.path.join(digits, "y_test.npy")


OUT = path("out")          # every case writes here (under its own extension) or nowhere
missing = path("no-such-file.dlor")

# inputs the cases share
dl = path("digits.dlor")
rc, so, se = run("convert", onnx, "-o", dl)
check(rc == 0, f"convert digits: {se}")
nograph = path("nograph.dlor")
rc, so, se = run("convert", dst, "-o", nograph)
check(rc == 0, f"convert digits without a graph: {se}")
head7 = path("head7.safetensors")  # a 7 x 128 classifier head after a 128 x 64 layer
rng = np.random.default_rng(3)
save_file({"0.weight": rng.standard_normal((128, 64)).astype(np.float32),
           "2.weight": rng.standard_normal((7, 128)).astype(np.float32)}, head7)
notdlor = path("not-a-part.dlor")
rc, so, se = run("convert", onnx, "-o", notdlor, "--rank", "16")
check(rc == 0, f"convert a second file: {se}")
with open(path("corrupt.dlor"), "wb") as f:
    f.write(open(dl, "rb").read()[:-40])
with open(path("labels.npy"), "wb") as f:
    np.save(f, np.zeros(3, np.int64))

# (command line, exit status, text the message must contain; None: any)
TABLE = [
    # convert
    (["convert", onnx, "-o", OUT + ".dlor", "--activation", "RELU"], 2, "relu, leaky_relu"),
    (["convert", onnx, "-o", OUT + ".dlor", "--form", "network", "--activation", "Relu"], 2, "--activation"),
    (["convert", onnx, "-o", OUT + ".dlor", "--rank", "0"], 2, "--rank"),
    (["convert", onnx, "-o", OUT + ".dlor", "--method", "MUL"], 2, "mul, add, lowrank, svd, auto or qlr"),
    (["convert", onnx, "-o", OUT + ".dlor", "--jobs", "-1"], 2, "--jobs"),
    (["convert", onnx, "-o", OUT + ".dlor", "--shard", "3/2"], 2, "--shard"),
    (["convert", onnx, "-o", OUT + ".dlor", "--tol", "0"], 2, "--tol"),
    (["convert", onnx, "-o", OUT + ".dlor", "--budget", "0.5", "--method", "add"], 2, "--method"),
    (["convert", onnx, "-o", OUT + ".dlor", "--method", "lowrank", "--rank", "100000"], 2,
     "too large for every layer"),
    (["convert", dst, "-o", OUT + ".dlor", "--tol", "0.1", "--calib", x], 2, "--calib"),
    (["convert", onnx, "-o", OUT + ".dlor", "--form", "network", "--c", "0"], 2, "c > 0"),
    (["convert", onnx], 2, "-o"),
    (["convert", missing, "-o", OUT + ".dlor"], 1, "no-such-file.dlor"),
    (["convert", dl, "-o", OUT + ".dlor"], 1, ".dlor file"),
    (["convert", onnx, "-o", os.path.join(TMP, "no-such-dir", "x.dlor")], 1, "no-such-dir"),
    (["convert", head7, "-o", OUT + ".dlor", "--method", "add", "--rank", "8"], 0, "capped"),
    (["convert", onnx, "-o", OUT + ".dlor", "--rank", "100000"], 0, "capped"),
    (["convert", onnx, "-o", OUT + ".dlor", "--method", "lowrank", "--rank", "16"], 0, "kept dense"),
    # verify
    (["verify", onnx, dl, "--samples", "0"], 2, "--samples"),
    (["verify", onnx, dl, "--samples", "many"], 2, "--samples"),
    (["verify", onnx, dl, "--seed", "-1"], 2, "--seed"),
    (["verify", onnx, dl, "--tol", "-1"], 2, "--tol"),
    (["verify", onnx, dl, "--labels", y], 2, "--labels goes with --inputs"),
    (["verify", onnx, dl, "--inputs", x, "--samples", "5"], 2, "--samples"),
    (["verify", onnx, dl, "--activation", "RELU"], 2, "relu, leaky_relu"),
    (["verify", onnx, dl, "--activation", "relu"], 2, "network-form"),
    (["verify", dst, nograph, "--samples", "5"], 2, "no graph"),
    (["verify", onnx], 2, "expected"),
    (["verify", onnx, missing], 1, "no-such-file.dlor"),
    (["verify", onnx, path("corrupt.dlor")], 1, "corrupt.dlor"),
    (["verify", onnx, dl, "--inputs", x, "--labels", path("labels.npy")], 1, "labels.npy"),
    (["verify", onnx, dl, "--tol", "1e-12"], 1, None),
    (["verify", onnx, dl], 0, None),
    # info
    (["info"], 2, "expected"),
    (["info", dl, dl], 2, "expected"),
    (["info", dl, "--frobnicate"], 2, "--frobnicate"),
    (["info", missing], 1, "no-such-file.dlor"),
    (["info", path("corrupt.dlor")], 1, "corrupt.dlor"),
    (["info", dl], 0, None),
    # run
    (["run", dl, "-i", x, "-o", OUT + ".npy", "--batch", "0"], 2, "--batch"),
    (["run", dl, "-i", x, "-o", OUT + ".npy", "--threads", "0"], 2, "--threads"),
    (["run", dl, "-i", x, "-o", OUT + ".npy", "--dtype", "f16"], 2, "f32 or f64"),
    (["run", dl, "-i", x, "-o", OUT + ".npy", "--dtype", "f64", "--threads", "2"], 2, "--threads"),
    (["run", dst, "-i", x, "-o", OUT + ".npy", "--activation", "frob"], 2, "relu, leaky_relu"),
    (["run", dl, "-i", x], 2, "-o"),
    (["run", dl, "-i", missing, "-o", OUT + ".npy"], 1, "no-such-file.dlor"),
    (["run", dl, "-i", y, "-o", OUT + ".npy"], 1, "float"),
    (["run", nograph, "-i", x, "-o", OUT + ".npy"], 1, "no graph"),
    (["run", dl, "-i", x, "-o", OUT + ".npy"], 0, None),
    # export-c
    (["export-c", dl, "-o", OUT + ".h", "--name", "9lives"], 2, "--name"),
    (["export-c", dl], 2, "-o"),
    (["export-c", onnx, "-o", OUT + ".h"], 1, "not a .dlor file"),
    (["export-c", missing, "-o", OUT + ".h"], 1, "no-such-file.dlor"),
    (["export-c", dl, "-o", OUT + ".h"], 0, None),
    # reproduce (only the refusals: a run takes minutes)
    (["reproduce", "--step", "0"], 2, "--step"),
    (["reproduce", "--seeds", "0"], 2, "--seeds"),
    (["reproduce", "--epochs", "-5"], 2, "--epochs"),
    (["reproduce", "extra"], 2, "extra"),
    (["reproduce", "--json", "-", "--html", "-"], 2, "standard output"),
    (["reproduce", "--sample", os.path.join(TMP, "no-such-dir"), "--json", OUT + ".json"], 1, "no-such-dir"),
    # bench
    (["bench", dl, "--dense", onnx, "--batch", "0"], 2, "--batch"),
    (["bench", dl, "--dense", onnx, "--threads", "0"], 2, "--threads"),
    (["bench", dl, "--dense", onnx, "--time", "0"], 2, "--time"),
    (["bench", dl], 2, "--dense"),
    (["bench", onnx, "--dense", onnx], 1, "not a .dlor file"),
    (["bench", dl, "--dense", missing], 1, "no-such-file.dlor"),
    # merge
    (["merge", dl], 2, "-o"),
    (["merge", "-o", OUT + ".dlor"], 2, "expected"),
    (["merge", dl, "-o", dl], 2, "overwrite"),
    (["merge", notdlor, "-o", OUT + ".dlor"], 1, "not a part"),
    (["merge", missing, "-o", OUT + ".dlor"], 1, "no-such-file.dlor"),
    # the command itself
    ([], 2, "usage"),
    (["frobnicate"], 2, "unknown command"),
]

commands = set()
for args, want, needle in TABLE:
    for ext in (".dlor", ".npy", ".h", ".json"):
        if os.path.exists(OUT + ext):
            os.remove(OUT + ext)
    rc, so, se = run(*args)
    shown = " ".join(os.path.basename(a) if os.path.isabs(a) else a for a in args)
    check(rc == want, f"dlor {shown}: exit {rc}, expected {want}; stderr {se.strip()[:300]!r}")
    if needle:
        check(needle in se, f"dlor {shown}: the message says {needle!r}: {se.strip()[:300]!r}")
    if rc != 0:
        if needle:
            check(se.startswith("dlor") or se.startswith("usage: dlor"), f"dlor {shown}: a 'dlor ...' message")
        left = [ext for ext in (".dlor", ".npy", ".h", ".json") if os.path.exists(OUT + ext)]
        check(not left, f"dlor {shown}: a failed run left {left}")
    commands.add(args[0] if args else "")
for cmd in ("convert", "verify", "info", "run", "export-c", "reproduce", "bench", "merge"):
    codes = {w for a, w, _ in TABLE if a and a[0] == cmd}
    check({1, 2} <= codes, f"{cmd}: the table has usage errors and bad input ({sorted(codes)})")
finish()
