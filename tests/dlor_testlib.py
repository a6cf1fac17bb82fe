"""Shared scaffolding of dlor's Python tests: counting checks, running the
dlor command, scratch paths, and the closing 'N passed, N failed' line."""
import json
import os
import subprocess
import sys

import numpy as np

DLOR = os.environ.get("DLOR_BIN", "dlor")
SRC = os.environ.get("DLOR_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_counts = {"passed": 0, "failed": 0}


# numpy dtype -> dlor's dtype name (as the dump tools print it)
DTYPE_NAMES = {
    np.dtype(np.float32): "f32", np.dtype(np.float64): "f64", np.dtype(np.float16): "f16",
    np.dtype(np.int8): "i8", np.dtype(np.int16): "i16", np.dtype(np.int32): "i32",
    np.dtype(np.int64): "i64", np.dtype(np.uint8): "u8", np.dtype(np.uint16): "u16",
    np.dtype(np.uint32): "u32", np.dtype(np.uint64): "u64", np.dtype(np.bool_): "bool",
}


def check(cond, what):
    """Records one assertion; prints what failed; returns cond."""
    if cond:
        _counts["passed"] += 1
    else:
        _counts["failed"] += 1
        print("FAIL:", what)
    return cond


def dump_objects(tool, path, timeout=300):
    """Runs a dump tool (tests/tools) on path: (exit code, JSON objects, stderr).
    A value printed as -0 is read as negative zero, keeping its sign."""
    r = subprocess.run([tool, path], capture_output=True, timeout=timeout)
    objs = []
    if r.returncode == 0:
        for line in r.stdout.decode("utf-8").splitlines():
            objs.append(json.loads(line, parse_int=lambda s: -0.0 if s == "-0" else int(s)))
    return r.returncode, objs, r.stderr.decode("utf-8", "replace")


def summary():
    """Prints the 'N passed, N failed' line; returns the exit status."""
    print(f"{_counts['passed']} passed, {_counts['failed']} failed")
    return 1 if _counts["failed"] else 0


def run(*args):
    """Runs dlor with args: (exit code, stdout, stderr)."""
    p = subprocess.run([DLOR, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def to_secs(t):
    """Seconds of a time the plan prints ("0.43 s", "1.5 min", "2.1 h")."""
    num, unit = t.split()
    return float(num) * {"s": 1, "min": 60, "h": 3600}[unit]


def rel(a, b):
    """Largest difference of a from b over the largest |b| (float64)."""
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-300))


def run_npy(tmp, model, inputs, *flags):
    """'dlor run MODEL -i INPUTS' into TMP/y.npy: (outputs, stderr), outputs None on failure."""
    out = os.path.join(tmp, "y.npy")
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = run("run", model, "-i", inputs, "-o", out, *flags)
    return (np.load(out), err) if rc == 0 else (None, err)


def without_graph_note(err):
    """The stderr of dlor convert without its note that the model has no graph (a weight file of
    tensors only), for checks that nothing else was said."""
    return "".join(line for line in err.splitlines(True)
                   if not (line.startswith("dlor convert: note: ") and ": no graph recorded (" in line))


def without_growth_notes(err):
    """The stderr of dlor convert without the plan's notes on exact layers whose form stores more
    than 4x their dense size, for checks that nothing else was said."""
    return "".join(line for line in err.splitlines(True)
                   if not (line.startswith("dlor convert: note: layer '") and "form stores" in line))


def scratch_dir(name):
    d = os.path.join(os.environ.get("DLOR_TEST_TMP", "/tmp"), name)
    os.makedirs(d, exist_ok=True)
    return d


def scratch(name):
    """A scratch folder for one test script, and two ways to name a file in it:
    (folder, path, fresh); path(n) joins n to the folder, fresh(n) also removes
    an existing file n."""
    d = scratch_dir(name)

    def path(n):
        return os.path.join(d, n)

    def fresh(n):
        p = path(n)
        if os.path.exists(p):
            os.remove(p)
        return p

    return d, path, fresh


def finish():
    """Prints the summary line ctest logs show and exits non-zero on failure."""
    sys.exit(summary())
