#!/usr/bin/env python3
"""test_interop_numpy - files written by numpy (np.save, write_array with
versions 1.0/2.0/3.0, np.savez, np.savez_compressed) are read by
dlor_dump_tensors and compared exactly with the arrays numpy wrote: names,
dtypes, shapes and every value (C order). Files numpy writes that dlor
refuses (object, complex, unicode, structured dtypes, streamed zips) must
fail cleanly with a message naming the problem.

Environment: DLOR_DUMP (the dump tool), DLOR_TEST_TMP (scratch directory).
Prints "N passed, N failed" and exits non-zero on any failure."""
import io
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import check, dump_objects, summary  # noqa: E402

DUMP = os.environ.get("DLOR_DUMP")
TMP = os.environ.get("DLOR_TEST_TMP") or "/tmp"

DTYPE_NAMES = {
    "f4": "f32", "f8": "f64", "f2": "f16", "i1": "i8", "i2": "i16", "i4": "i32", "i8": "i64",
    "u1": "u8", "u2": "u16", "u4": "u32", "u8": "u64", "b1": "bool",
}




def path_for(name, ext):
    os.makedirs(TMP, exist_ok=True)
    return os.path.join(TMP, "interop_np_" + name + ext)


def dump(path):
    """Runs the dump tool: (exit code, tensors in output order, stderr)."""
    rc, objs, err = dump_objects(DUMP, path)
    return rc, [o for o in objs if "name" in o], err


def same_value(got, want, kind):
    if kind in "iub":
        return isinstance(got, int) and got == int(want)
    w = float(want)
    if math.isnan(w):
        return got == "nan"
    if math.isinf(w):
        return got == ("inf" if w > 0 else "-inf")
    if isinstance(got, str):
        return False
    g = float(got)
    return g == w and math.copysign(1.0, g) == math.copysign(1.0, w)


def compare(label, t, name, a):
    """Checks one dumped tensor against the array numpy wrote."""
    dt = a.dtype
    ok = check(t["name"] == name, "%s: name %r, want %r" % (label, t["name"], name))
    ok &= check(t["dtype"] == DTYPE_NAMES[dt.kind + str(dt.itemsize)],
                "%s: dtype %s, want %s" % (label, t["dtype"], dt.str))
    ok &= check(list(t["shape"]) == list(a.shape),
                "%s: shape %s, want %s" % (label, t["shape"], list(a.shape)))
    flat = np.ascontiguousarray(a).reshape(-1)
    vals = t["values"]
    if not check(len(vals) == flat.size, "%s: %d values, want %d" % (label, len(vals), flat.size)):
        return False
    bad = [i for i in range(flat.size) if not same_value(vals[i], flat[i], dt.kind)]
    ok &= check(not bad, "%s: %d values differ, first at %s: got %r want %r" % (
        label, len(bad), bad[:1], vals[bad[0]] if bad else None, flat[bad[0]] if bad else None))
    return ok


def expect_arrays(label, path, named):
    """named: list of (name, array) in the order the file holds them."""
    rc, ts, err = dump(path)
    if not check(rc == 0, "%s: dump failed (%d): %s" % (label, rc, err.strip())):
        return
    if not check(len(ts) == len(named), "%s: %d tensors, want %d" % (label, len(ts), len(named))):
        return
    for t, (name, a) in zip(ts, named):
        compare("%s/%s" % (label, name), t, name, a)


def expect_refused(label, path, fragment):
    rc, ts, err = dump(path)
    check(rc == 1, "%s: exit code %d, want 1 (stderr: %s)" % (label, rc, err.strip()))
    check(fragment in err, "%s: message %r lacks %r" % (label, err.strip(), fragment))
    check(err.count("\n") == 1 and path in err, "%s: message is not one line naming the file: %r"
          % (label, err))


def arrays(rng):
    """A set of arrays covering every dtype dlor reads, byte orders and layouts."""
    f2 = np.array([[0.0, -0.0, 1.0, 65504.0], [np.inf, -np.inf, np.nan, 5.96e-08]], dtype="<f2")
    ints = {}
    for code in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"):
        info = np.iinfo(code)
        ints[code] = np.array([info.min, info.max, 0, 1, info.max // 3], dtype="<" + code)
        if code[1] != "1":
            ints[">" + code] = ints[code].astype(">" + code)
    out = [
        ("f4", rng.standard_normal((3, 4)).astype("<f4")),
        ("f8", rng.standard_normal(5)),
        ("f2", f2),
        ("be_f8", rng.standard_normal((3, 2)).astype(">f8")),
        ("be_f4", rng.standard_normal((2, 2, 2)).astype(">f4")),
        ("be_f2", f2.astype(">f2")),
        ("fortran_f4", np.asfortranarray(rng.standard_normal((3, 4)).astype("<f4"))),
        ("fortran_be_i2", np.asfortranarray(np.arange(24, dtype=">i2").reshape(2, 3, 4) - 7)),
        ("fortran_f8_r4", np.asfortranarray(rng.standard_normal((2, 3, 1, 4)))),
        ("bool", np.array([[True, False, True], [False, False, True]])),
        ("scalar", np.array(2.5, dtype="<f8")),
        ("scalar_i4", np.array(-7, dtype="<i4")),
        ("empty", np.zeros((0, 3), dtype="<f4")),
        ("empty_fortran", np.asfortranarray(np.zeros((2, 0), dtype=">f8"))),
        ("subnormal_f4", np.array([1e-45, -1e-40, 3.4028235e38], dtype="<f4")),
    ]
    for code, a in ints.items():
        out.append(("int_" + code.replace(">", "be_"), a))
    return out


def test_npy(rng):
    for name, a in arrays(rng):
        path = path_for("save_" + name, ".npy")
        np.save(path, a)
        # numpy keeps the byte order and Fortran flag in the file; check the fixture
        if a.dtype.byteorder == ">":
            with open(path, "rb") as f:
                check(b"'>" in f.read(128), "%s: fixture not big-endian" % name)
        expect_arrays("save " + name, path, [("interop_np_save_" + name, a)])


def test_versions(rng):
    a = rng.standard_normal((4, 5)).astype("<f4")
    b = np.asfortranarray(rng.standard_normal((3, 2)).astype(">f8"))
    for ver in ((1, 0), (2, 0), (3, 0)):
        for label, arr in (("c", a), ("fortran_be", b)):
            name = "v%d%d_%s" % (ver[0], ver[1], label)
            path = path_for(name, ".npy")
            with open(path, "wb") as f:
                np.lib.format.write_array(f, arr, version=ver)
            with open(path, "rb") as f:
                head = f.read(8)
            check(head[6] == ver[0] and head[7] == ver[1], "%s: fixture version %r" % (name, head))
            expect_arrays("write_array " + name, path, [("interop_np_" + name, arr)])


def test_npz(rng):
    named = [(n, a) for n, a in arrays(rng)]
    big = rng.standard_normal(300000).astype("<f4")          # 1.2 MB: multi-block deflate
    zeros = np.zeros((512, 1024), dtype="<f4")                 # 2 MB of zeros: high ratio
    named += [("fc1.weight", big), ("layer/zeros", zeros)]
    for label, fn in (("savez", np.savez), ("savez_compressed", np.savez_compressed)):
        path = path_for(label, ".npz")
        fn(path, **dict(named))
        expect_arrays(label, path, named)
        # positional arguments become arr_0, arr_1, ...
        path = path_for(label + "_positional", ".npz")
        fn(path, named[0][1], named[3][1], named[6][1])
        expect_arrays(label + " positional", path,
                      [("arr_0", named[0][1]), ("arr_1", named[3][1]), ("arr_2", named[6][1])])
    # an empty archive holds no tensors
    path = path_for("empty", ".npz")
    np.savez(path)
    rc, ts, err = dump(path)
    check(rc == 0 and ts == [], "empty npz: rc %d, %d tensors, %s" % (rc, len(ts), err.strip()))


class Unseekable(io.RawIOBase):
    """A write-only stream without seek, so zipfile streams with data descriptors."""

    def __init__(self, f):
        self.f = f

    def writable(self):
        return True

    def seekable(self):
        return False

    def write(self, b):
        return self.f.write(b)


def test_refused():
    cases = [
        ("object", np.array([1, "x", None], dtype=object), "'|O'"),
        ("complex", np.array([1 + 2j], dtype="<c8"), "'<c8'"),
        ("unicode", np.array(["abc"], dtype="<U3"), "'<U3'"),
        ("structured", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]), "[('a', '<f4'), ('b', '<i4')]"),
        ("datetime", np.array(["2020-01-01"], dtype="<M8[D]"), "'<M8[D]'"),
        ("longdouble", np.zeros(2, dtype=np.longdouble), "descr"),
    ]
    for name, a, frag in cases:
        path = path_for("refused_" + name, ".npy")
        np.save(path, a, allow_pickle=True)
        expect_refused("refused " + name, path, frag)
        path = path_for("refused_" + name, ".npz")
        np.savez_compressed(path, ok=np.ones(3, dtype="<f4"), bad=a)
        expect_refused("refused npz " + name, path, "member 'bad.npy'")
    # a streamed zip (np.savez to a pipe-like file) uses data descriptors
    path = path_for("streamed", ".npz")
    with open(path, "wb") as f:
        np.savez(Unseekable(f), w=np.ones(4, dtype="<f4"))
    with open(path, "rb") as f:
        check(f.read(8)[6] & 8, "streamed fixture lacks the data-descriptor flag")
    rc, ts, err = dump(path)
    check(rc == 0 and len(ts) == 1 and ts[0]["values"] == [1.0] * 4, f"streamed npz (data descriptors): {err}")
    # a truncated npz and a truncated npy
    for src, name in ((path_for("savez", ".npz"), "trunc.npz"), (path_for("save_f4", ".npy"), "trunc.npy")):
        with open(src, "rb") as f:
            data = f.read()
        path = path_for(name, "")
        with open(path, "wb") as f:
            f.write(data[:-5])
        expect_refused("truncated " + name, path, "interop_np_" + name)


def main():
    if not DUMP or not os.path.exists(DUMP):
        print("DLOR_DUMP is not set or missing: %r" % DUMP, file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    rng = np.random.default_rng(20240611)
    test_npy(rng)
    test_versions(rng)
    test_npz(rng)
    test_refused()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
