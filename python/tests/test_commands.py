"""dlor.convert, verify, run and info (the package's wrappers of the dlor command):
results come back as Python objects equal to what the command writes, keyword
options map onto the command line, failures raise dlor.DlorError with the
command's message and exit status, and the command is found through DLOR_BIN,
then PATH, else a clear error.

Run by ctest (tests/python.cmake) with the pip Python.
"""
import json
import os
import sys

import numpy as np

SRC = os.environ.get("DLOR_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "python"))
sys.path.insert(0, os.path.join(SRC, "tests"))
import dlor  # noqa: E402
from dlor_testlib import DLOR, check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("python-commands")
DIGITS = os.path.join(SRC, "samples", "digits")
ST = os.path.join(DIGITS, "digits.safetensors")
X = np.load(os.path.join(DIGITS, "x_test.npy"))
Y = np.load(os.path.join(DIGITS, "y_test.npy"))


def path(name):
    p = os.path.join(TMP, name)
    if os.path.exists(p):
        os.remove(p)
    return p


def raises(label, fn, code, *words):
    """fn() raises DlorError with exit status code and a message containing words."""
    try:
        fn()
    except dlor.DlorError as e:
        return check(e.returncode == code and "\n" not in e.message and all(w in e.message for w in words),
                     f"{label}: DlorError({e.message!r}, {e.returncode}), wanted status {code} and {words}")
    except Exception as e:  # noqa: BLE001
        return check(False, f"{label}: {type(e).__name__}: {e}")
    return check(False, f"{label}: no error")


def test_convert():
    out = path("c.dlor")
    m = dlor.convert(ST, out, method="mul", rank=16, compress=True, activation="relu")
    check(isinstance(m, dlor.Model) and m.path == out and m.compressed, "convert returns the loaded file")
    check(all(L.method == "mul" and L.rank == 16 for L in m.layers.values()) and len(m.layers) == 3,
          f"convert options reach the command: {[(n, L.method, L.rank) for n, L in m.layers.items()]}")
    # a list repeats the option; an array becomes a .npy file; a float keeps every digit
    m = dlor.convert(ST, path("inc.dlor"), include=["0.weight", "4.weight"], activation="relu", method="add")
    check(sorted(m.layers) == ["0.weight", "4.weight"], f"include list: {sorted(m.layers)}")
    m = dlor.convert(ST, path("cal.dlor"), budget=0.5, calib=np.load(os.path.join(DIGITS, "x_train.npy")),
                     activation="relu")
    m2 = dlor.convert(ST, path("cal2.dlor"), budget=0.5, calib=os.path.join(DIGITS, "x_train.npy"), activation="relu")
    check(m.metadata.get("dlor.calib") == "calib.npy" and sorted(m.layers) == sorted(m2.layers) and
          all(np.array_equal(L.U, m2.layers[n].U) for n, L in m.layers.items()),
          f"calib given as an array fits as from its file: {m.metadata.get('dlor.calib')}")
    m = dlor.convert(ST, path("alpha.dlor"), method="mul", alpha=0.1 + 0.2, rank=64, activation="relu")
    check(m.layers["2.weight"].alpha == np.float32(0.1 + 0.2), "a float option keeps its digits")
    # the command's failures
    missing = os.path.join(TMP, "missing.safetensors")
    raises("missing source", lambda: dlor.convert(missing, path("x.dlor")), 1, "missing.safetensors")
    check(not os.path.exists(os.path.join(TMP, "x.dlor")), "no output after a failure")
    raises("unknown option", lambda: dlor.convert(ST, path("x.dlor"), bogus_option=3), 2, "--bogus-option")
    raises("bad value", lambda: dlor.convert(ST, path("x.dlor"), rank="many"), 2, "rank")
    try:
        dlor.convert(ST, path("x.dlor"), output="y.dlor")
        check(False, "an option the function sets is refused")
    except TypeError as e:
        check("output" in str(e), f"reserved option: {e}")


def test_verify_run_info():
    out = path("v.dlor")
    rc, so, se = run("convert", ST, "-o", out, "--budget", "0.25", "--activation", "relu")
    check(rc == 0, f"convert: {se}")
    # a budget gives the layers no tolerance: the outputs are held to a cosine (least 0.979 here)
    r = dlor.verify(ST, out, inputs=X, labels=Y, min_cosine=0.95)
    check(isinstance(r, dlor.VerifyReport) and r.passed is True and r.source_sha256_match is True,
          f"verify report: passed {r.passed}")
    rep = path("v.json")
    rc, so, se = run("verify", ST, out, "--json", rep, "--inputs", os.path.join(DIGITS, "x_test.npy"),
                     "--labels", os.path.join(DIGITS, "y_test.npy"), "--min-cosine", "0.95")
    raw = json.load(open(rep))
    check(rc == 0 and r.raw["layers"] == raw["layers"] and r.raw["end_to_end"]["accuracy_dlor"] ==
          raw["end_to_end"]["accuracy_dlor"], "the report equals the command's JSON")
    check([type(L) for L in r.layers] == [dlor.LayerCheck] * 3 and [L.name for L in r.layers] ==
          ["0.weight", "2.weight", "4.weight"], "layers are LayerCheck records")
    L0 = r.layers[0]
    check(isinstance(L0.shape, tuple) and L0.shape == (128, 64) and isinstance(L0.rank, int) and
          isinstance(L0.rel_fro_error, float) and L0.tol is None and L0.passed is True and L0.form == "lowrank",
          f"typed fields: {L0}")
    e = r.end_to_end
    m = dlor.load(out)
    acc = float(np.mean(m.forward(X).argmax(axis=1) == Y))
    check(isinstance(e, dlor.EndToEnd) and e.samples == len(X) and abs(e.accuracy_dlor - acc) < 1e-12,
          f"end to end: {e} against the numpy forward's accuracy {acc}")
    # a failed check is a report, not an exception
    r = dlor.verify(ST, out, tol=1e-9, samples=16)
    check(r.passed is False and not r.layers[0].passed and r.layers[0].tol == 1e-9 and r.end_to_end.samples == 16,
          "a failed verify returns passed=False")
    raises("verify of a missing file", lambda: dlor.verify(ST, os.path.join(TMP, "none.dlor")), 1, "none.dlor")
    raises("verify usage", lambda: dlor.verify(ST, out, no_such=True), 2, "--no-such")

    y = dlor.run(out, X)
    yp = path("y.npy")
    rc, so, se = run("run", out, "-i", os.path.join(DIGITS, "x_test.npy"), "-o", yp)
    check(rc == 0 and y.dtype == np.float32 and np.array_equal(y, np.load(yp)), "run equals dlor run")
    check(np.array_equal(dlor.run(m, os.path.join(DIGITS, "x_test.npy"), batch=7, threads=2), y),
          "run with a Model, a .npy path and options")
    y64 = dlor.run(out, X.astype(np.float64), dtype="f64")
    check(y64.dtype == np.float64 and np.abs(y64 - m.forward(X)).max() <= 1e-9 * np.abs(y64).max(),
          "run --dtype f64 against the numpy forward")
    check(np.array_equal(dlor.run(ST, X, activation="relu"), dlor.run(ST, X.astype(np.float64), activation="relu")),
          "run a dense source")
    raises("run with the wrong width", lambda: dlor.run(out, X[:, :10]), 1)

    i = dlor.info(out)
    check(i["format"] == "dlor" and [L["name"] for L in i["layers"]] == sorted(m.layers) and
          i["metadata"] == m.metadata, "info returns the parsed JSON")
    raises("info of a missing file", lambda: dlor.info(os.path.join(TMP, "none.dlor")), 1)


def test_binary_lookup():
    saved = dict(os.environ)
    try:
        os.environ["DLOR_BIN"] = os.path.join(TMP, "no-such-dlor")
        raises("DLOR_BIN not a file", lambda: dlor.info(ST), None, "DLOR_BIN", "no-such-dlor")
        del os.environ["DLOR_BIN"]
        bindir = os.path.join(TMP, "bin")
        os.makedirs(bindir, exist_ok=True)
        link = os.path.join(bindir, "dlor")
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(DLOR), link)
        os.environ["PATH"] = bindir
        check(dlor.info(ST)["format"] == "safetensors", "dlor found on PATH")
        os.environ["PATH"] = os.path.join(TMP, "empty")
        raises("no dlor anywhere", lambda: dlor.info(ST), None, "not found", "DLOR_BIN", "PATH")
    finally:
        os.environ.clear()
        os.environ.update(saved)


if __name__ == "__main__":
    test_convert()
    test_verify_run_info()
    test_binary_lookup()
    finish()
