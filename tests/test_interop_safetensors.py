#!/usr/bin/env python3
"""test_interop_safetensors - files written by the safetensors library are read
by dlor_dump_tensors and compared exactly (names, dtypes, shapes, values,
metadata) with numpy. Hand-built files check bf16 and agreement with the
reference reader on edge cases it accepts or refuses.

Environment: DLOR_DUMP (the dump tool), DLOR_TEST_TMP (scratch directory).
Prints "N passed, N failed" and exits non-zero on any failure."""
import json
import math
import os
import struct
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import DTYPE_NAMES, check, dump_objects, summary  # noqa: E402

DUMP = os.environ.get("DLOR_DUMP")
TMP = os.environ.get("DLOR_TEST_TMP") or "/tmp"





def path_for(name):
    os.makedirs(TMP, exist_ok=True)
    return os.path.join(TMP, "interop_st_" + name + ".safetensors")


def dump(path):
    """Runs the dump tool: (exit code, tensors in output order, metadata, stderr)."""
    rc, objs, err = dump_objects(DUMP, path)
    meta = {o["meta_key"]: o["meta_value"] for o in objs if "meta_key" in o}
    return rc, [o for o in objs if "meta_key" not in o], meta, err


def as_float(v):
    return float(v)  # also maps the dump's "nan"/"inf"/"-inf" strings


def same_values(expected, got, is_float):
    """Exact comparison; floats must match bit for bit as doubles (sign of
    zero included, any NaN matches NaN)."""
    if len(expected) != len(got):
        return "length %d != %d" % (len(got), len(expected))
    for i, (e, g) in enumerate(zip(expected, got)):
        if is_float:
            e, g = float(e), as_float(g)
            if math.isnan(e):
                ok = math.isnan(g)
            else:
                ok = e == g and math.copysign(1.0, e) == math.copysign(1.0, g)
        else:
            ok = int(e) == g and isinstance(g, int)
        if not ok:
            return "item %d: got %r, want %r" % (i, g, e)
    return None


def file_order(path):
    """Tensor names in data_offsets order, read from the header with Python."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
    hdr.pop("__metadata__", None)
    return [k for k, _ in sorted(hdr.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))]


def compare(label, path, arrays, metadata=None):
    rc, tensors, meta, err = dump(path)
    if not check(rc == 0, "%s: dump failed (%d): %s" % (label, rc, err.strip())):
        return
    check([t["name"] for t in tensors] == file_order(path),
          "%s: order %s" % (label, [t["name"] for t in tensors]))
    check(sorted(t["name"] for t in tensors) == sorted(arrays),
          "%s: names %s" % (label, [t["name"] for t in tensors]))
    for t in tensors:
        a = arrays.get(t["name"])
        if a is None:
            continue
        tag = "%s/%s" % (label, t["name"])
        check(t["dtype"] == DTYPE_NAMES[a.dtype], "%s: dtype %s" % (tag, t["dtype"]))
        check(t["shape"] == list(a.shape), "%s: shape %s, want %s" % (tag, t["shape"], a.shape))
        flat = a.reshape(-1).tolist()
        msg = same_values(flat, t["values"], a.dtype.kind == "f")
        check(msg is None, "%s: %s" % (tag, msg))
    check(meta == (metadata or {}), "%s: metadata %r, want %r" % (label, meta, metadata))


def test_library_files():
    rng = np.random.default_rng(20240611)
    f32 = rng.standard_normal((7, 13)).astype(np.float32)
    f32.flat[:6] = [np.inf, -np.inf, np.nan, -0.0, 1e-45, 3.4028235e38]
    f64 = rng.standard_normal((3, 4, 5))
    f64.flat[:4] = [5e-324, -0.0, 1.0 / 3.0, -1.7976931348623157e308]
    f16 = (rng.standard_normal(64) * 100).astype(np.float16)
    f16[:5] = [65504.0, 2.0 ** -24, np.inf, np.nan, -0.0]
    arrays = {
        "layer.0.f32": f32,
        "layer.0.f64": f64,
        "layer.1.f16": f16,
        "ids.i64": np.array([-2 ** 63, 2 ** 63 - 1, 0, -1, 12345678901234567], dtype=np.int64),
        "i8": np.array([-128, 127, 0, -1], dtype=np.int8),
        "i16": np.array([[-32768, 32767], [1, -2]], dtype=np.int16),
        "i32": np.array([-2 ** 31, 2 ** 31 - 1, 7], dtype=np.int32),
        "u8": np.arange(256, dtype=np.uint8).reshape(16, 16),
        "u16": np.array([0, 65535], dtype=np.uint16),
        "u32": np.array([0, 2 ** 32 - 1], dtype=np.uint32),
        "u64": np.array([0, 2 ** 64 - 1, 2 ** 53 + 1], dtype=np.uint64),
        "mask": np.array([True, False, True], dtype=np.bool_),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    meta = {"format": "np", "author": "dlor test", "unicode": "h\u00e9llo w\u00f6rld \u20ac"}
    p = path_for("all")
    save_file(arrays, p, metadata=meta)
    compare("library", p, arrays, meta)

    # one tensor per float dtype, no metadata
    for name, a in (("f32", f32), ("f64", f64), ("f16", f16)):
        p = path_for("single_" + name)
        save_file({"w": a}, p)
        compare("single_" + name, p, {"w": a})


def st_bytes(header, data, pad_to=None):
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if pad_to:
        hb += b" " * (-len(hb) % pad_to)
    return struct.pack("<Q", len(hb)) + hb + data


def reference_accepts(path):
    try:
        with safe_open(path, framework="np") as f:
            return [(k, f.get_slice(k).get_dtype(), f.get_slice(k).get_shape()) for k in f.keys()]
    except Exception:
        return None


def test_bf16():
    rng = np.random.default_rng(7)
    src = rng.standard_normal(20).astype(np.float32)
    src[:4] = [np.inf, -np.inf, -0.0, 3.3895313892515355e38]
    bits = (src.view(np.uint32) >> 16).astype(np.uint16)
    expected = (bits.astype(np.uint32) << 16).view(np.float32)  # what those bits mean
    other = np.arange(6, dtype=np.float32)
    data = bits.astype("<u2").tobytes() + other.astype("<f4").tobytes()
    # header order differs from file order; dlor lists tensors in file order
    header = {
        "o": {"dtype": "F32", "shape": [2, 3], "data_offsets": [40, 64]},
        "__metadata__": {"source": "hand-built"},
        "b": {"dtype": "BF16", "shape": [4, 5], "data_offsets": [0, 40]},
    }
    p = path_for("bf16")
    with open(p, "wb") as f:
        f.write(st_bytes(header, data, pad_to=8))
    check(sorted(reference_accepts(p) or []) == [("b", "BF16", [4, 5]), ("o", "F32", [2, 3])],
          "bf16: the reference reader does not accept the hand-built file")
    rc, tensors, meta, err = dump(p)
    if check(rc == 0 and len(tensors) == 2, "bf16: dump failed: %s" % err.strip()):
        t = tensors[0]
        check(t["name"] == "b" and t["dtype"] == "bf16" and t["shape"] == [4, 5],
              "bf16: header %r" % {k: t[k] for k in ("name", "dtype", "shape")})
        msg = same_values(expected.tolist(), t["values"], True)
        check(msg is None, "bf16: %s" % msg)
        msg = same_values(other.tolist(), tensors[1]["values"], True)
        check(msg is None, "bf16 neighbour f32: %s" % msg)
        check(meta == {"source": "hand-built"}, "bf16: metadata %r" % meta)


ONE = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'


def raw(header, data=b""):
    hb = header if isinstance(header, bytes) else header.encode("utf-8")
    return struct.pack("<Q", len(hb)) + hb + data


# Edge cases where dlor and the reference reader must agree.
AGREE_ACCEPT = {
    "leading_ws": raw("  \n\t" + ONE, bytes(8)),
    "trailing_ws": raw(ONE + "        ", bytes(8)),
    "zero_size_shared_offset": raw('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                   '"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}}', bytes(4)),
    "empty_header": raw("{}"),
    "scalar": raw('{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}', bytes(8)),
}
AGREE_REJECT = {
    "trailing_bytes": raw(ONE, bytes(9)),
    "short_data": raw(ONE, bytes(6)),
    "gap": raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
               '"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', bytes(12)),
    "overlap": raw('{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},'
                   '"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}', bytes(12)),
    "size_mismatch": raw('{"x":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}}', bytes(4)),
    "shape_wraps": raw('{"w":{"dtype":"U8","shape":[4194305,4194305,211106198978564],'
                       '"data_offsets":[0,4]}}', bytes(4)),
    "lowercase_dtype": raw('{"w":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}', bytes(8)),
    "negative_dim": raw('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', bytes(8)),
    "float_dim": raw('{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', bytes(8)),
    "three_offsets": raw('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}', bytes(8)),
    "metadata_number": raw('{"__metadata__":{"k":1},' + ONE[1:], bytes(8)),
    "duplicate_metadata": raw('{"__metadata__":{"a":"b"},"__metadata__":{"c":"d"}}'),
    "aliased_duplicate": raw('{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},'
                             '"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)),
    "array_header": raw("[]"),
    "deep_nesting": raw("[" * 100000),
    "not_utf8": raw(b'{"a\xff":{}}'),
    "bom": raw(b"\xef\xbb\xbf{}"),
    "not_json": raw("{"),
}
# dlor is stricter than the reference here (formats.md §1: reject unknown
# keys, duplicate keys, NUL in names) or does not handle the dtype; only
# dlor's answer is checked.
DLOR_REJECTS = {
    "unsupported_f8": raw('{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', bytes(2)),
    "unknown_entry_key": raw('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}', bytes(8)),
    "duplicate_metadata_key": raw('{"__metadata__":{"a":"b","a":"c"}}'),
    "nul_in_name": raw('{"a\\u0000b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', bytes(1)),
}


def test_edge_cases():
    for name, blob in AGREE_ACCEPT.items():
        p = path_for("accept_" + name)
        with open(p, "wb") as f:
            f.write(blob)
        check(reference_accepts(p) is not None, "%s: reference refuses it" % name)
        rc, tensors, _, err = dump(p)
        check(rc == 0, "%s: dlor refuses it: %s" % (name, err.strip()))
    for name, blob in list(AGREE_REJECT.items()) + list(DLOR_REJECTS.items()):
        p = path_for("reject_" + name)
        with open(p, "wb") as f:
            f.write(blob)
        if name in AGREE_REJECT:
            check(reference_accepts(p) is None, "%s: reference accepts it" % name)
        rc, _, _, err = dump(p)
        lines = err.strip().splitlines()
        check(rc != 0, "%s: dlor accepts it" % name)
        check(len(lines) == 1 and p in lines[0],
              "%s: error is not one line naming the file: %r" % (name, err))


def main():
    if not DUMP or not os.path.exists(DUMP):
        print("DLOR_DUMP is not set to the dump tool (%r)" % DUMP, file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    test_library_files()
    test_bf16()
    test_edge_cases()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
