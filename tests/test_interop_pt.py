#!/usr/bin/env python3
"""test_interop_pt - PyTorch state dicts read by dlor_dump_tensors, compared
exactly with independent oracles (torch itself is not needed):

  - samples/*/*.pt against samples/*/*.safetensors (safetensors library);
  - the torch-written fixtures in tests/data/pt against their .npz (numpy);
  - archives built here the way torch.save lays them out, with CPython's
    pickle (protocol 2, persistent_id) and stand-in torch classes, holding
    random views (shapes, strides, offsets, every dtype) checked against
    numpy's as_strided, and hostile pickles that must be refused.

Environment: DLOR_DUMP (the dump tool), DLOR_TEST_TMP (scratch directory),
DLOR_SOURCE_DIR (the source tree). Prints "N passed, N failed" and exits
non-zero on any failure."""
import collections
import io
import math
import os
import pickle
import sys
import types
import zipfile

import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import DTYPE_NAMES, check, dump_objects, summary  # noqa: E402

DUMP = os.environ.get("DLOR_DUMP")
TMP = os.environ.get("DLOR_TEST_TMP") or "/tmp"
SRC = os.environ.get("DLOR_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..")




def path_for(name):
    os.makedirs(TMP, exist_ok=True)
    return os.path.join(TMP, "interop_pt_" + name + ".pt")


def dump(path):
    """Runs the dump tool: (exit code, tensors in output order, stderr)."""
    rc, objs, err = dump_objects(DUMP, path)
    return rc, [o for o in objs if "name" in o], err


# bf16 arrays are carried as uint16 bits with a flag (see compare)


def bf16_values(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def same_values(expected, got, is_float):
    """Exact: floats bit for bit as doubles (sign of zero kept, NaN == NaN)."""
    if len(expected) != len(got):
        return "length %d != %d" % (len(got), len(expected))
    for i, (e, g) in enumerate(zip(expected, got)):
        if is_float:
            e, g = float(e), float(g)
            ok = math.isnan(g) if math.isnan(e) else (e == g and math.copysign(1, e) == math.copysign(1, g))
        else:
            ok = isinstance(g, int) and int(e) == g
        if not ok:
            return "item %d: got %r, want %r" % (i, g, e)
    return None


def compare(label, path, arrays, order=True, bf16=()):
    """arrays: name -> numpy array (uint16 bits for names in bf16)."""
    rc, tensors, err = dump(path)
    if not check(rc == 0, "%s: dump failed (%d): %s" % (label, rc, err.strip())):
        return
    names = [t["name"] for t in tensors]
    if order:
        check(names == list(arrays), "%s: names %s, want %s" % (label, names, list(arrays)))
    else:
        check(sorted(names) == sorted(arrays), "%s: names %s" % (label, names))
    for t in tensors:
        a = arrays.get(t["name"])
        if a is None:
            continue
        tag = "%s/%s" % (label, t["name"])
        if t["name"] in bf16:
            want_dtype, flat, is_float = "bf16", bf16_values(a).reshape(-1).tolist(), True
        else:
            want_dtype, flat, is_float = DTYPE_NAMES[a.dtype], a.reshape(-1).tolist(), a.dtype.kind == "f"
        check(t["dtype"] == want_dtype, "%s: dtype %s, want %s" % (tag, t["dtype"], want_dtype))
        check(t["shape"] == list(a.shape), "%s: shape %s, want %s" % (tag, t["shape"], list(a.shape)))
        msg = same_values(flat, t["values"], is_float)
        check(msg is None, "%s: %s" % (tag, msg))


def expect_refused(label, path, fragment):
    rc, _, err = dump(path)
    check(rc != 0, "%s: accepted" % label)
    check(fragment in err, "%s: message %r lacks %r" % (label, err.strip(), fragment))
    check(err.count("\n") <= 1 and err.startswith(path + ": "), "%s: message not one line naming the file: %r"
          % (label, err))


# ---- the real samples and the torch-written fixtures ----------------------

def test_samples():
    for name in ("sawtooth", "digits"):
        pt = os.path.join(SRC, "samples", name, name + ".pt")
        st = os.path.join(SRC, "samples", name, name + ".safetensors")
        arrays = load_file(st)
        # the .pt keeps the state-dict order; safetensors sorts by name
        rc, tensors, err = dump(pt)
        if not check(rc == 0, "%s.pt: dump failed: %s" % (name, err.strip())):
            continue
        order = [t["name"] for t in tensors]
        check(order[:2] == ["0.weight", "0.bias"], "%s.pt: order %s" % (name, order))
        compare(name + ".pt", pt, {k: arrays[k] for k in order}, order=True)
        check(sorted(order) == sorted(arrays), "%s.pt: names %s vs %s" % (name, order, sorted(arrays)))


def test_fixtures():
    d = os.path.join(SRC, "tests", "data", "pt")
    for name in ("dtypes", "views", "checkpoint", "parameter", "byteorder_little"):
        with np.load(os.path.join(d, name + ".npz")) as z:
            arrays = {k: z[k] for k in z.files}
        compare("fixture " + name, os.path.join(d, name + ".pt"), arrays, bf16=("bf16",))
    expect_refused("fixture byteorder_big", os.path.join(d, "byteorder_big.pt"),
                   "big-endian archives are not supported")
    expect_refused("fixture script", os.path.join(d, "script.pt"), "TorchScript")


# ---- stand-in torch: enough for pickle to write what torch.save writes ----

torch_mod = types.ModuleType("torch")
utils_mod = types.ModuleType("torch._utils")
torch_mod._utils = utils_mod
sys.modules.setdefault("torch", torch_mod)
sys.modules.setdefault("torch._utils", utils_mod)
if sys.modules["torch"] is not torch_mod:
    raise SystemExit("a real torch is importable here; this test needs the stand-in")

STORAGE_TYPES = {}  # name -> (class, numpy dtype or "bf16")
for cls_name, dt in (("FloatStorage", np.float32), ("DoubleStorage", np.float64),
                     ("HalfStorage", np.float16), ("BFloat16Storage", "bf16"),
                     ("LongStorage", np.int64), ("IntStorage", np.int32),
                     ("ShortStorage", np.int16), ("CharStorage", np.int8),
                     ("ByteStorage", np.uint8), ("BoolStorage", np.bool_),
                     ("ComplexFloatStorage", np.complex64)):
    cls = type(cls_name, (), {"__module__": "torch"})
    setattr(torch_mod, cls_name, cls)
    STORAGE_TYPES[cls_name] = (cls, dt)


def _rebuild_tensor_v2(*args):
    raise AssertionError("never called")


def _rebuild_parameter(*args):
    raise AssertionError("never called")


for f in (_rebuild_tensor_v2, _rebuild_parameter):
    f.__module__ = "torch._utils"
    f.__qualname__ = f.__name__
    setattr(utils_mod, f.__name__, f)


class Storage:
    """A storage: its key, type name and flat data (uint16 bits for bf16)."""

    def __init__(self, key, type_name, data):
        self.key, self.type_name, self.data = key, type_name, data


class Tensor:
    def __init__(self, storage, offset, size, stride, metadata=False):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())
        if metadata:
            self.args += (None,)

    def __reduce_ex__(self, proto):
        return (_rebuild_tensor_v2, self.args)


class Parameter:
    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.tensor, True, collections.OrderedDict()))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            numel = obj.__dict__.get("numel", len(obj.data))
            return ("storage", STORAGE_TYPES[obj.type_name][0], obj.key, "cpu", numel)
        return None


def write_pt(path, obj, storages, prefix="archive", compress=zipfile.ZIP_STORED, byteorder=None,
             pickle_bytes=None):
    buf = io.BytesIO()
    if pickle_bytes is None:
        Pickler(buf, protocol=2).dump(obj)
        pickle_bytes = buf.getvalue()
    with zipfile.ZipFile(path, "w", compress) as z:
        z.writestr(prefix + "/data.pkl", pickle_bytes)
        if byteorder is not None:
            z.writestr(prefix + "/byteorder", byteorder)
        for s in storages:
            z.writestr(prefix + "/data/" + s.key, np.ascontiguousarray(s.data).tobytes())
        z.writestr(prefix + "/version", "3\n")
    return path


def view_of(storage, offset, size, stride):
    """What torch would see: numpy's as_strided over the storage."""
    data = storage.data
    if int(np.prod(size)) == 0:
        return np.zeros(size, dtype=data.dtype)
    it = data.dtype.itemsize
    v = np.lib.stride_tricks.as_strided(data[offset:], shape=size, strides=[s * it for s in stride])
    return v.copy(order="C")  # ascontiguousarray would make a 0-d view 1-d


def random_storage(rng, key, type_name, n):
    dt = STORAGE_TYPES[type_name][1]
    if dt == "bf16":
        data = (rng.standard_normal(n).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    elif dt == np.bool_:
        data = rng.integers(0, 2, n).astype(np.bool_)
    elif np.dtype(dt).kind == "f":
        data = rng.standard_normal(n).astype(dt)
    else:
        info = np.iinfo(dt)
        data = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    return Storage(key, type_name, data)


def test_random_views():
    rng = np.random.default_rng(20240611)
    names = [n for n in STORAGE_TYPES if n != "ComplexFloatStorage"]
    for trial in range(12):
        storages = [random_storage(rng, str(i), names[(trial + i) % len(names)], int(rng.integers(1, 80)))
                    for i in range(4)]
        sd = collections.OrderedDict()
        expected, bf16 = collections.OrderedDict(), set()
        for j in range(25):
            s = storages[int(rng.integers(0, len(storages)))]
            n = len(s.data)
            ndim = int(rng.integers(0, 5))
            for _ in range(100):
                size = [int(rng.integers(0, 5)) if rng.random() < 0.1 else int(rng.integers(1, 5))
                        for _ in range(ndim)]
                order = rng.permutation(ndim)
                stride, acc = [0] * ndim, 1
                for d in reversed(order):  # a permuted C layout, sometimes stepped or broadcast
                    r = rng.random()
                    stride[d] = 0 if r < 0.1 else acc * (2 if r < 0.3 else 1)
                    acc *= max(size[d], 1) * (2 if r >= 0.1 and r < 0.3 else 1)
                extent = sum((a - 1) * b for a, b in zip(size, stride)) if all(size) else 0
                if extent < n:
                    break
            else:
                continue
            offset = int(rng.integers(0, n - extent)) if all(size) else int(rng.integers(0, n + 1))
            name = "layer%d.%s" % (j, "weight" if ndim == 2 else "t")
            sd[name] = Tensor(s, offset, size, stride, metadata=bool(j % 3 == 0))
            expected[name] = view_of(s, offset, size, stride)
            if STORAGE_TYPES[s.type_name][1] == "bf16":
                bf16.add(name)
        path = write_pt(path_for("views%d" % trial), sd, storages,
                        compress=zipfile.ZIP_DEFLATED if trial % 2 else zipfile.ZIP_STORED)
        compare("random views %d" % trial, path, expected, bf16=bf16)


def test_layouts():
    rng = np.random.default_rng(7)
    w = random_storage(rng, "0", "FloatStorage", 12)
    b = random_storage(rng, "1", "DoubleStorage", 3)
    # a checkpoint: nested dicts flattened with '.', int keys in decimal, the rest ignored
    ck = {"model": collections.OrderedDict([("fc.weight", Parameter(Tensor(w, 0, (3, 4), (4, 1)))),
                                            ("fc.bias", Tensor(b, 0, (3,), (1,)))]),
          "optimizer": {"state": {0: {"step": 3, "exp_avg": Tensor(w, 0, (4, 3), (1, 4))}},
                        "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "params": [0], "foreach": None}]},
          "epoch": 7, "best": 0.25, "note": "text", "flags": [True, False]}
    want = collections.OrderedDict([
        ("model.fc.weight", w.data.reshape(3, 4)), ("model.fc.bias", b.data),
        ("optimizer.state.0.exp_avg", w.data.reshape(3, 4).T.copy())])
    compare("checkpoint", write_pt(path_for("checkpoint"), ck, [w, b]), want)
    # tied weights: one tensor object twice, and two tensors on one storage
    t = Tensor(w, 0, (12,), (1,))
    sd = collections.OrderedDict([("enc", t), ("dec", t), ("half", Tensor(w, 6, (6,), (1,)))])
    compare("tied", write_pt(path_for("tied"), sd, [w], prefix="tied model"),
            collections.OrderedDict([("enc", w.data), ("dec", w.data), ("half", w.data[6:])]))
    # byteorder records, deflated storages
    sd = collections.OrderedDict([("x", Tensor(b, 1, (2,), (1,)))])
    compare("byteorder little", write_pt(path_for("little"), sd, [b], byteorder="little",
                                         compress=zipfile.ZIP_DEFLATED), {"x": b.data[1:]})
    expect_refused("byteorder big", write_pt(path_for("big"), sd, [b], byteorder="big"), "big-endian")


def test_refused():
    rng = np.random.default_rng(3)
    w = random_storage(rng, "0", "FloatStorage", 8)
    marker = os.path.join(TMP, "interop_pt_pwned")
    if os.path.exists(marker):
        os.remove(marker)

    class Evil:
        def __init__(self, fn, arg):
            self.fn, self.arg = fn, arg

        def __reduce__(self):
            return (self.fn, (self.arg,))

    sd = collections.OrderedDict([("w", Tensor(w, 0, (8,), (1,))), ("x", Evil(os.system, "touch " + marker))])
    expect_refused("os.system", write_pt(path_for("evil_system"), sd, [w]),
                   "pickle global '%s system' at offset" % os.system.__module__)
    check(not os.path.exists(marker), "os.system payload ran")
    sd = collections.OrderedDict([("x", Evil(eval, "1+1"))])
    # protocol 2 writes Python 3's builtins under their Python 2 name
    expect_refused("builtins.eval", write_pt(path_for("evil_eval"), sd, []), "pickle global '__builtin__ eval'")
    # protocol 4 writes STACK_GLOBAL for the same payload
    buf = io.BytesIO()
    Pickler(buf, protocol=4).dump({"x": Evil(eval, "1+1")})
    expect_refused("STACK_GLOBAL", write_pt(path_for("evil_p4"), None, [], pickle_bytes=buf.getvalue()),
                   "STACK_GLOBAL (0x93)")
    # views and storages torch would never write
    cases = [
        ("negative stride", Tensor(w, 7, (4,), (-1,)), "negative stride -1"),
        ("size beyond storage", Tensor(w, 0, (9,), (1,)), "reaches element 8 of a storage of 8 elements"),
        ("offset beyond storage", Tensor(w, 8, (1,), (1,)), "reaches element 8"),
        ("extent overflow", Tensor(w, 0, (5,), (1 << 62,)), "overflows"),
        ("int beyond int64", Tensor(w, 1 << 64, (1,), (1,)), "beyond the 8-byte (int64) limit"),
        ("complex storage", Tensor(Storage("0", "ComplexFloatStorage", w.data), 0, (1,), (1,)),
         "pickle global 'torch ComplexFloatStorage'"),
    ]
    for label, t, frag in cases:
        expect_refused(label, write_pt(path_for(label.replace(" ", "_")), {"w": t}, [w]), frag)
    short = Storage("0", "FloatStorage", w.data[:6])
    short.numel = 8
    expect_refused("short record", write_pt(path_for("short"), {"w": Tensor(short, 0, (8,), (1,))}, [short]),
                   "holds 24 bytes, but its storage of 8 f32 elements needs 32")
    expect_refused("tensor in a list", write_pt(path_for("list"), {"layers": [Tensor(w, 0, (8,), (1,))]}, [w]),
                   "'layers' is a list holding tensor data")
    expect_refused("not a dict", write_pt(path_for("tensor_only"), Tensor(w, 0, (8,), (1,)), [w]),
                   "the pickled object is a tensor, not a dict of tensors")


def main():
    if not DUMP:
        print("DLOR_DUMP is not set", file=sys.stderr)
        return 2
    test_samples()
    test_fixtures()
    test_random_views()
    test_layouts()
    test_refused()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
