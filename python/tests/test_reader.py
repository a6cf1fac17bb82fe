"""The package's numpy reader (dlor.load, Model.forward, Layer) against the C tools:
the samples converted in every form run through Model.forward and through `dlor run`
(within 1e-5 of the largest output), layers equal what `convert --emit` writes and
what `verify --json` reports, tensors equal the tests' independent reader, and
hostile files raise dlor.FormatError with one line naming the file and tensor.

Run by ctest (tests/python.cmake); needs DLOR_BIN and the pip Python's numpy and safetensors.
"""
import json
import os
import random
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
from safetensors.numpy import load_file

SRC = os.environ.get("DLOR_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "python"))
sys.path.insert(0, os.path.join(SRC, "tests"))
import dlor  # noqa: E402
import dlor_pyreader as ref  # noqa: E402  (the tests' independent reader)
from dlor_testlib import DLOR, check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("python-reader")
TOL = 1e-5  # largest |forward - dlor run| over the largest |dlor run|

SAMPLES = {
    "digits": ("samples/digits/digits.safetensors", "samples/digits/x_test.npy", "relu"),
    "sawtooth": ("samples/sawtooth/sawtooth.safetensors", "samples/sawtooth/x_test.npy", "softplus"),
}
# (name, convert options, samples it applies to); sawtooth's 1-wide layers take rank 1 at most
FORMS = [
    ("mul", ["--method", "mul"], ("digits", "sawtooth")),
    ("mul-r16", ["--method", "mul", "--rank", "16"], ("digits", "sawtooth")),
    ("mul-rows", ["--method", "mul", "--rank", "3", "--layout", "rows"], ("digits", "sawtooth")),
    ("add", ["--method", "add"], ("digits", "sawtooth")),
    ("add-r5", ["--method", "add", "--rank", "5"], ("digits",)),
    ("budget", ["--budget", "0.25"], ("digits", "sawtooth")),
    ("budget-max", ["--budget", "0.5", "--allocate", "max"], ("digits", "sawtooth")),
    ("tol", ["--tol", "0.3"], ("digits", "sawtooth")),
    ("lowrank", ["--method", "lowrank", "--rank", "8"], ("digits",)),
    ("svd", ["--method", "svd", "--rank", "8"], ("digits",)),
    ("factors3", ["--method", "lowrank", "--rank", "6", "--factors", "3"], ("digits",)),
    ("f16", ["--budget", "0.25", "--dtype", "f16"], ("digits", "sawtooth")),
    ("f16-compress", ["--budget", "0.25", "--dtype", "f16", "--compress"], ("digits", "sawtooth")),
    ("bf16", ["--method", "add", "--dtype", "bf16"], ("digits", "sawtooth")),
    ("f64", ["--method", "mul", "--rank", "5", "--dtype", "f64"], ("digits", "sawtooth")),
    ("compress", ["--method", "mul", "--rank", "16", "--compress"], ("digits", "sawtooth")),
    ("net-deep", ["--form", "network"], ("digits", "sawtooth")),
    ("net-wide", ["--form", "network", "--construction", "wide"], ("digits", "sawtooth")),
    ("net-deep-f64", ["--form", "network", "--dtype", "f64"], ("digits", "sawtooth")),
    ("net-wide-f64", ["--form", "network", "--construction", "wide", "--dtype", "f64"], ("digits", "sawtooth")),
]


def rel(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


def convert(src, out, *args):
    if os.path.exists(out):
        os.remove(out)
    rc, so, se = run("convert", src, "-o", out, *args)
    check(rc == 0, f"convert {out}: {se.strip()}")
    return rc == 0


def dlor_run(path, x, f64=False):
    xi, yo = os.path.join(TMP, "x.npy"), os.path.join(TMP, "y.npy")
    np.save(xi, x)
    rc, so, se = run("run", path, "-i", xi, "-o", yo, *(["--dtype", "f64"] if f64 else []))
    check(rc == 0, f"dlor run {path}: {se.strip()}")
    return np.load(yo) if rc == 0 else None


def check_emit(label, m, emitted):
    """Layers in the --emit convention: the same U, V, alpha/beta and metadata."""
    e = load_file(emitted)
    with open(emitted, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(n)).get("__metadata__", {})
    for name, L in m.layers.items():
        ok = (np.array_equal(L.U, e[f"{name}.dlor.U"]) and np.array_equal(L.V, e[f"{name}.dlor.V"])
              and L.U.dtype == e[f"{name}.dlor.U"].dtype)
        check(ok, f"{label}: layer {name}: U, V differ from --emit's")
        key = "beta" if L.single else "alpha"
        coef = L.beta if L.single else L.alpha
        check(f"{name}.dlor.{key}" in e and float(e[f"{name}.dlor.{key}"]) == np.float64(coef).astype(L.U.dtype),
              f"{label}: layer {name}: {key} {coef} against --emit's")
        check(meta.get(f"{name}.dlor.method") == L.method and meta.get(f"{name}.dlor.rank") == str(L.rank) and
              meta.get(f"{name}.dlor.factors") == str(L.factors) and
              meta.get(f"{name}.dlor.shape") == f"{L.shape[0]},{L.shape[1]}",
              f"{label}: layer {name}: metadata against --emit's")


def check_verify_forms(label, src, path, m):
    """form, rank, factors, alpha and dtype per layer as `dlor verify --json` reports them."""
    rep = os.path.join(TMP, "verify.json")
    rc, so, se = run("verify", src, path, "--json", rep, "--samples", "8")
    if not check(rc in (0, 1) and os.path.exists(rep), f"{label}: verify: {se.strip()}"):
        return
    for r in json.load(open(rep))["layers"]:
        L = m.layers.get(r["name"])
        if r["form"] == "dense":
            check(L is None and r["name"] in m.tensors, f"{label}: dense layer {r['name']} is a plain tensor")
            continue
        check(L is not None and (L.form, L.method, L.basis, L.rank, L.factors, L.dtype) ==
              (r["form"], r["method"], r["basis"], r["rank"], r["factors"], r["dtype"])
              and L.coefficient == r["alpha"] and list(L.shape) == r["shape"],
              f"{label}: layer {r['name']}: {L} against verify's {r}")


def test_forms():
    worst = []
    for sample, (src, xs, act) in SAMPLES.items():
        src, x = os.path.join(SRC, src), np.load(os.path.join(SRC, xs))
        for form, args, where in FORMS:
            if sample not in where:
                continue
            label = f"{sample} {form}"
            path = os.path.join(TMP, f"{sample}-{form}.dlor")
            emit = os.path.join(TMP, f"{sample}-{form}.emit.safetensors")
            # safetensors.numpy has no bfloat16; network forms have no --emit
            with_emit = "bf16" not in form and "net" not in form
            if not convert(src, path, "--activation", act, *args, *(["--emit", emit] if with_emit else [])):
                continue
            m = dlor.load(path)
            f64 = "f64" in form
            y_run = dlor_run(path, x, f64)
            if y_run is None:
                continue
            y = m.forward(x)
            check(y.dtype == np.float64 and y.shape == y_run.shape, f"{label}: forward shape {y.shape}")
            check(rel(y, y_run) <= TOL, f"{label}: forward vs dlor run {rel(y, y_run):.3g}")
            worst.append((rel(y, y_run), label))
            y32 = m.forward(x, dtype=np.float32)
            check(y32.dtype == np.float32 and rel(y32, y_run) <= TOL,
                  f"{label}: float32 forward vs dlor run {rel(y32, y_run):.3g}")
            one = m.forward(x[3])
            check(one.shape == (m.out_features,) and rel(one, y[3]) <= 1e-12, f"{label}: a single sample")
            # the independent reader: same tensors bit for bit, same layers, same outputs
            meta, tensors, layers = ref.read(path)
            check(meta == m.metadata, f"{label}: metadata")
            check(sorted(tensors) == sorted(m.tensors), f"{label}: tensor names")
            # U tensors in panels: the independent reader gives them as stored, and in rows in its layers
            # (dlor convert names a layer's factors <layer>.dlor.U / .V)
            rows_u = {f"{n}.dlor.U": Lr["U"] for n, Lr in layers.items() if Lr["u_layout"] == 1}
            for name, a in tensors.items():
                a, b = rows_u.get(name, a), m.tensors[name]
                same = a.shape == b.shape and (a.dtype == b.dtype or (a.dtype == np.uint8 and b.dtype == np.bool_))
                check(same and a.tobytes() == b.tobytes(), f"{label}: tensor {name} differs from the independent reader's")
            for name, Lr in layers.items():
                L = m.layers[name]
                check(np.array_equal(Lr["U"].T, L.U) and np.array_equal(Lr["V"].T, L.V),
                      f"{label}: layer {name}: U, V against the independent reader")
                check(rel(L.dense(), ref.rebuild(Lr)) <= 1e-10, f"{label}: layer {name}: dense() against rebuild")
                d = max(L.shape)
                check(L.padding == ((d - L.shape[0], d - L.shape[1]) if L.method == "mul" else (0, 0)),
                      f"{label}: layer {name}: padding {L.padding}")
            check(rel(y, ref.forward(path, x)) <= 1e-7, f"{label}: forward against the independent reader's")
            check(m.compressed == ("compress" in form), f"{label}: compressed flag")
            if with_emit:
                check_emit(label, m, emit)
            if "net" not in form:
                check_verify_forms(label, src, path, m)
            if "wide" in form and sample == "digits":
                kinds = [op.kind for op in m.graph]
                check("branch" in kinds and "merge" in kinds, f"{label}: graph has a branch group: {kinds}")
    if worst:
        print(f"Model.forward against dlor run, {len(worst)} files: largest relative difference "
              f"{max(worst)[0]:.2e} ({max(worst)[1]})")


# ---- graphs: every activation, softmax, branch groups; every carried dtype ----------------

def st_write(path, tensors, metadata=None):
    """A safetensors file from (dtype string, shape, raw bytes) entries (BF16 and BOOL too)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        dt, shape, raw = tensors[name]
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def f32(a):
    a = np.asarray(a, np.float32)
    return ("F32", a.shape, a.tobytes())


def test_graph_ops():
    rng = np.random.default_rng(7)
    widths = [6, 9, 9, 9, 9, 9, 5, 8, 4]
    t = {}
    for i in range(len(widths) - 1):
        t[f"l{i}.weight"] = f32(rng.standard_normal((widths[i + 1], widths[i])) * 0.6)
        t[f"l{i}.bias"] = f32(rng.standard_normal(widths[i + 1]) * 0.1)
    t["b0.weight"] = f32(rng.standard_normal((7, 9)) * 0.5)
    t["b1.weight"] = f32(rng.standard_normal((6, 7)) * 0.5)
    t["b2.weight"] = f32(rng.standard_normal((7, 9)) * 0.5)
    t["b3.weight"] = f32(rng.standard_normal((6, 7)) * 0.5)
    t["m.bias"] = f32(rng.standard_normal(6) * 0.1)
    t["l8.weight"] = f32(rng.standard_normal((9, 6)) * 0.5)
    graph = ("linear(l0.weight,l0.bias); gelu; linear(l1.weight,l1.bias); gelu_tanh; "
             "linear(l2.weight,l2.bias); leaky_relu(0.2); "
             "branch(0.75); linear(b0.weight); silu; linear(b1.weight); "
             "branch(-1.5); linear(b2.weight); tanh; linear(b3.weight); sigmoid; merge(m.bias); "
             "linear(l8.weight); identity; linear(l3.weight,l3.bias); softplus; linear(l4.weight,l4.bias); "
             "sigmoid; linear(l5.weight,l5.bias); relu; linear(l6.weight,l6.bias); tanh; "
             "linear(l7.weight,l7.bias); softmax")
    src = os.path.join(TMP, "ops.safetensors")
    st_write(src, t, {"dlor.graph": graph})
    x = rng.standard_normal((33, 6)).astype(np.float32) * 2
    for form, args in (("mul", ["--method", "mul", "--rank", "2"]), ("add", ["--method", "add"]),
                       ("lowrank", ["--method", "lowrank", "--rank", "2"])):
        path = os.path.join(TMP, f"ops-{form}.dlor")
        if not convert(src, path, *args):
            continue
        m = dlor.load(path)
        names = [op.name for op in m.graph if op.kind == "act"]
        check(set(names) == set(dlor.graph.ACTIVATIONS), f"ops {form}: every activation in the graph: {names}")
        check([op.kind for op in m.graph].count("branch") == 2 and m.graph[-1].kind == "softmax",
              f"ops {form}: two branches and a softmax")
        y_run = dlor_run(path, x)
        if y_run is not None:
            y = m.forward(x)
            check(rel(y, y_run) <= TOL, f"ops {form}: forward vs dlor run {rel(y, y_run):.3g}")
            check(np.allclose(y.sum(axis=1), 1.0), f"ops {form}: softmax rows sum to 1")
            check(rel(y, ref.forward(path, x)) <= 1e-9, f"ops {form}: against the independent reader")
        # non-finite inputs go through as IEEE arithmetic gives them (DLOR_FORMAT.md 7.4)
        xs = np.tile(x[:6], (1, 1))
        xs[0, 2], xs[1, 0], xs[2, 5], xs[3, :] = np.nan, np.inf, -np.inf, 1e30
        xs[4, 1] = -1e30
        y_run = dlor_run(path, xs)
        if y_run is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # forward raises no numpy warnings either
                y = m.forward(xs)
            fin = np.isfinite(y_run)
            check(np.array_equal(np.isnan(y), np.isnan(y_run)) and np.array_equal(np.isinf(y), np.isinf(y_run)) and
                  np.allclose(y[fin], y_run[fin], rtol=1e-4, atol=1e-6),
                  f"ops {form}: non-finite inputs: {y} against dlor run's {y_run}")
    # no graph: forward says why
    bare = os.path.join(TMP, "nograph.dlor")
    st_write(os.path.join(TMP, "nograph.safetensors"), {"w": f32(np.eye(3))})
    if convert(os.path.join(TMP, "nograph.safetensors"), bare, "--method", "add"):
        try:
            dlor.load(bare).forward(np.ones((1, 3)))
            check(False, "a file without a graph runs")
        except ValueError as e:
            check("no graph" in str(e) and bare in str(e), f"no graph: {e}")


def test_dtypes():
    rng = np.random.default_rng(3)
    arrays = {
        "i8": ("I8", np.int8), "i16": ("I16", np.int16), "i32": ("I32", np.int32), "i64": ("I64", np.int64),
        "u8": ("U8", np.uint8), "u16": ("U16", np.uint16), "u32": ("U32", np.uint32), "u64": ("U64", np.uint64),
        "f16": ("F16", np.float16), "f64": ("F64", np.float64), "f32v": ("F32", np.float32),
    }
    t, want = {}, {}
    for name, (code, dt) in arrays.items():
        info = np.iinfo(dt) if np.dtype(dt).kind in "iu" else None
        a = (rng.integers(info.min, info.max, (3, 4), dtype=dt, endpoint=True) if info is not None
             else rng.standard_normal((3, 4)).astype(dt))
        if name == "f32v":
            a = a[0]
        t[name] = (code, a.shape, a.astype(np.dtype(dt).newbyteorder("<")).tobytes())
        want[name] = a
    b = np.array([[1, 0, 1], [0, 0, 1]], np.uint8)
    t["flags"] = ("BOOL", b.shape, b.tobytes())
    want["flags"] = b.astype(bool)
    bits = rng.integers(0, 1 << 16, 7, dtype=np.uint16) & 0x7F7F  # finite bfloat16 values
    t["bf"] = ("BF16", (7,), bits.astype("<u2").tobytes())
    want["bf"] = (bits.astype(np.uint32) << 16).view(np.float32)
    t["s"] = ("F32", (), np.float32(2.5).tobytes())
    want["s"] = np.array(2.5, np.float32)
    t["w.weight"] = f32(rng.standard_normal((5, 4)))
    src = os.path.join(TMP, "dtypes.safetensors")
    st_write(src, t)
    path = os.path.join(TMP, "dtypes.dlor")
    if not convert(src, path, "--method", "add", "--include", "w.weight", "--compress"):
        return
    m = dlor.load(path)
    for name, a in want.items():
        got = m.tensors.get(name)
        check(got is not None and got.dtype == a.dtype and got.shape == a.shape and np.array_equal(got, a),
              f"carried tensor {name}: {None if got is None else (got.dtype, got.shape)} against {a.dtype} {a.shape}")
    check(not m.tensors["i32"].flags.writeable, "tensors are read-only")
    check(sorted(m.carried) == sorted(want), f"carried tensors {sorted(m.carried)}")


# ---- hostile files -------------------------------------------------------------------

def expect_format_error(label, path, *words):
    try:
        dlor.load(path)
    except dlor.FormatError as e:
        msg = str(e)
        ok = msg.startswith(path + ": ") and "\n" not in msg and all(w in msg for w in words)
        return check(ok, f"{label}: message {msg!r} (wanted the file and {words})")
    except Exception as e:  # noqa: BLE001 - anything else is the failure this test looks for
        return check(False, f"{label}: {type(e).__name__}: {e}")
    return check(False, f"{label}: accepted")


def c_accepts(path):
    return subprocess.run([DLOR, "info", path], capture_output=True).returncode == 0


def tensor_records(b):
    """(record offset, name, data offset, nbytes) of every tensor record of an uncompressed image."""
    out = []
    for s in range(struct.unpack_from("<I", b, 52)[0]):
        kind, _, off, _, count = struct.unpack_from("<IIQQQ", b, 64 + 32 * s)
        if kind == 1:
            pool = off
        if kind == 3:
            recs = [(off + 128 * i) for i in range(count)]
    for r in recs:
        no, nl = struct.unpack_from("<II", b, r)
        toff, nbytes = struct.unpack_from("<QQ", b, r + 80)
        out.append((r, bytes(b[pool + no:pool + no + nl]).decode(), toff, nbytes))
    return out, pool


def refresh(b):
    """Every tensor CRC and the header CRC recomputed, so that a change reaches the checks behind them."""
    recs, _ = tensor_records(b)
    for r, _, toff, nbytes in recs:
        struct.pack_into("<I", b, r + 96, zlib.crc32(bytes(b[toff:toff + nbytes])) & 0xFFFFFFFF)
    header_len = struct.unpack_from("<Q", b, 16)[0]
    struct.pack_into("<I", b, 56, 0)
    struct.pack_into("<I", b, 56, zlib.crc32(bytes(b[:header_len])) & 0xFFFFFFFF)
    return bytes(b)


def test_rules():
    """Rules of section 9 that random changes seldom reach, each refused by the package and by `dlor info`."""
    bad = os.path.join(TMP, "rule.dlor")

    def refused(label, data, *words):
        with open(bad, "wb") as f:
            f.write(data)
        expect_format_error(label, bad, *words)
        check(not c_accepts(bad), f"{label}: the C reader accepts it")

    # a U tensor in panels must be named '<layer>.dlor.U' (7.6)
    good = os.path.join(TMP, "digits-mul-r16.dlor")
    if os.path.exists(good):
        b = bytearray(open(good, "rb").read())
        recs, pool = tensor_records(b)
        r, name, _, _ = [x for x in recs if x[1] == "2.weight.dlor.U"][0]
        no, nl = struct.unpack_from("<II", b, r)
        b[pool + no + nl - 1] = ord("T")  # still in name order
        refused("a panel U tensor named otherwise", refresh(b), "layer '2.weight'", "<layer>.dlor.U")
    # bool bytes are 0 or 1; partial products of the dims fit in 64 bits
    rng = np.random.default_rng(5)
    src = os.path.join(TMP, "rules.safetensors")
    st_write(src, {"flags": ("BOOL", (4,), bytes([1, 0, 1, 1])), "empty": ("F32", (0,), b""),
                   "w.weight": f32(rng.standard_normal((3, 3)))})
    path = os.path.join(TMP, "rules.dlor")
    if convert(src, path, "--method", "add"):
        data = bytearray(open(path, "rb").read())
        check(dlor.load(path).tensors["empty"].shape == (0,), "an empty tensor reads")
        recs, _ = tensor_records(data)
        b = bytearray(data)
        _, _, toff, _ = [x for x in recs if x[1] == "flags"][0]
        b[toff + 2] = 2
        refused("a bool byte of 2", refresh(b), "tensor 'flags'", "bool element 2 is 2")
        b = bytearray(data)
        r = [x for x in recs if x[1] == "empty"][0][0]
        b[r + 10] = 3
        struct.pack_into("<3Q", b, r + 16, 1 << 40, 1 << 40, 0)
        refused("dims whose partial product overflows", refresh(b), "tensor 'empty'", "overflows")


def test_hostile():
    src = os.path.join(SRC, SAMPLES["sawtooth"][0])
    good = os.path.join(TMP, "small.dlor")
    if not convert(src, good, "--activation", "softplus", "--method", "mul", "--rank", "3"):
        return
    data = open(good, "rb").read()
    bad = os.path.join(TMP, "bad.dlor")

    def write(b):
        with open(bad, "wb") as f:
            f.write(b)

    m = dlor.load(good)
    # a flipped data byte: the tensor it belongs to is named; check_crc=False reads it anyway
    name = "2.weight.dlor.U"
    img_off = struct.unpack_from("<Q", data, 24)[0]
    rec = [i for i, t in enumerate(sorted(m.tensors)) if t == name][0]
    ntab = 64 + 32 * struct.unpack_from("<I", data, 52)[0]
    toff = None
    for s in range(struct.unpack_from("<I", data, 52)[0]):
        kind, _, off, _, _ = struct.unpack_from("<IIQQQ", data, 64 + 32 * s)
        if kind == 3:
            toff = struct.unpack_from("<Q", data, off + 128 * rec + 80)[0]
    check(toff is not None and toff >= img_off and ntab <= img_off, "found the tensor's data")
    b = bytearray(data)
    b[toff + 5] ^= 0x40
    write(bytes(b))
    expect_format_error("flipped data byte", bad, f"tensor '{name}'", "CRC-32")
    check(not np.array_equal(dlor.load(bad, check_crc=False).layers["2.weight"].U, m.layers["2.weight"].U),
          "check_crc=False reads the changed tensor")

    # every single-byte change and every truncation is refused with a FormatError
    for i in range(len(data)):
        b = bytearray(data)
        b[i] ^= 1 << (i % 8)
        write(bytes(b))
        try:
            dlor.load(bad)
            check(False, f"byte {i} changed: accepted")
        except dlor.FormatError as e:
            check(str(e).startswith(bad) and "\n" not in str(e), f"byte {i}: message {e}")
        except Exception as e:  # noqa: BLE001
            check(False, f"byte {i} changed: {type(e).__name__}: {e}")
    for n in list(range(0, 200)) + list(range(200, len(data), 7)):
        write(data[:n])
        expect_format_error(f"truncated to {n} bytes", bad)
    write(data + b"\0")
    expect_format_error("a trailing byte", bad, "bytes but its header says")

    # header changes with the checksum made right again reach the structural checks: the
    # package and the C reader (`dlor info`) must accept and refuse the same files
    header_len = struct.unpack_from("<Q", data, 16)[0]
    rnd = random.Random(11)
    disagree, accepted = 0, 0
    for trial in range(400):
        b = bytearray(data)
        for _ in range(rnd.choice((1, 1, 2, 3))):
            i = rnd.randrange(0, header_len)
            if 56 <= i < 60:
                continue
            b[i] = rnd.choice((0, 1, 0xFF, b[i] ^ (1 << rnd.randrange(8)), rnd.randrange(256)))
        struct.pack_into("<I", b, 56, 0)
        struct.pack_into("<I", b, 56, zlib.crc32(bytes(b[:header_len])) & 0xFFFFFFFF)
        write(bytes(b))
        try:
            dlor.load(bad)
            py_ok = True
        except dlor.FormatError as e:
            py_ok = False
            check("\n" not in str(e) and str(e).startswith(bad), f"mutation {trial}: message {e!r}")
        except Exception as e:  # noqa: BLE001
            check(False, f"mutation {trial}: {type(e).__name__}: {e}")
            continue
        accepted += py_ok
        if py_ok != c_accepts(bad):
            disagree += 1
            check(False, f"mutation {trial}: the package {'accepts' if py_ok else 'refuses'} a file `dlor info` "
                         f"{'refuses' if py_ok else 'accepts'}")
    print(f"400 checksum-corrected header mutations: {accepted} accepted, {400 - accepted} refused; "
          f"{disagree} disagreements with the C reader")
    check(0 < accepted < 300, "the mutations reach both verdicts")

    # compressed files: a changed stream byte, a wrong size claim
    packed = os.path.join(TMP, "small-z.dlor")
    if convert(src, packed, "--activation", "softplus", "--method", "mul", "--rank", "3", "--compress"):
        z = open(packed, "rb").read()
        check(dlor.load(packed).compressed and np.array_equal(dlor.load(packed).layers["2.weight"].U,
                                                              m.layers["2.weight"].U), "compressed file reads")
        for i in range(64, len(z), max(1, len(z) // 150)):
            b = bytearray(z)
            b[i] ^= 0x10
            write(bytes(b))
            expect_format_error(f"compressed byte {i}", bad, "compressed data checksum")
        b = bytearray(z)
        struct.pack_into("<Q", b, 40, struct.unpack_from("<Q", z, 40)[0] + 64)
        write(bytes(b))
        expect_format_error("compressed size claim", bad, "inflate")
        b = bytearray(z)
        struct.pack_into("<Q", b, 40, 1 << 50)
        write(bytes(b))
        expect_format_error("impossible size claim", bad, "impossible")
    write(b"\x89DLOR\r\n\x1a" + bytes(56))
    expect_format_error("a preamble alone", bad)
    write(b"PK\x03\x04" + bytes(100))
    expect_format_error("another kind of file", bad, "bad magic")


if __name__ == "__main__":
    test_forms()
    test_graph_ops()
    test_dtypes()
    test_rules()
    test_hostile()
    finish()
