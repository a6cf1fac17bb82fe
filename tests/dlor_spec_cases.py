"""Edge cases of formats/DLOR_FORMAT.md made from a valid .dlor image, byte by
byte, for the format test (tests/test_format_spec.py) and the fuzz seeds
(tests/fuzz/make_seeds.py).

The base image is `dlor convert` of spec_model_bytes() with `--rank 2`: three
mul layers of D = 3 with U in panels, a graph, a bool tensor 'mask' and two
empty tensors that sort last. cases(base)
returns (name, image, valid, what a reader's message says), every image with
its checksums recomputed so that the rule named is what a reader meets.
"""
import json
import struct
import zlib

import numpy as np

CONVERT_ARGS = ["--rank", "2"]


GRAPH = "linear(0.weight,0.bias); relu; linear(2.weight,2.bias); relu; linear(4.weight,4.bias)"


def safetensors_bytes(tensors, meta=None):
    """A safetensors file of [(name, dtype, shape, raw bytes)], written here so that any bytes go in."""
    hdr, blob = {"__metadata__": meta} if meta else {}, b""
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def spec_model_bytes():
    """A safetensors file: a 2-3-3-2 MLP, its graph in metadata, a bool mask, an i64 step and two
    empty tensors whose names sort after every other."""
    f32 = lambda a: np.asarray(a, "<f4").tobytes()  # noqa: E731
    return safetensors_bytes([
        ("0.weight", "F32", [3, 2], f32([[0.5, -1], [2, 0.25], [-0.75, 1.5]])),
        ("0.bias", "F32", [3], f32([0.1, -0.2, 0.3])),
        ("2.weight", "F32", [3, 3], f32([[1, 2, 0], [0, 1, -1], [2, 0, 1]])),
        ("2.bias", "F32", [3], f32([0, 0.5, -0.5])),
        ("4.weight", "F32", [2, 3], f32([[1, -1, 0.5], [0.25, 2, -2]])),
        ("4.bias", "F32", [2], f32([0.5, -0.5])),
        ("mask", "BOOL", [3], b"\x01\x00\x01"),
        ("step", "I64", [], struct.pack("<q", 7)),
        ("zz.empty0", "F32", [0, 2], b""),
        ("zz.empty1", "F16", [2, 0], b"")], {"dlor.graph": GRAPH})


def _u32(b, at):
    return struct.unpack_from("<I", b, at)[0]


def _u64(b, at):
    return struct.unpack_from("<Q", b, at)[0]


def fix_checksums(b):
    """Recomputes the tensor CRCs and the header CRC of an uncompressed image (the stream CRC of a
    compressed one), as the fuzz targets' dlf_fix_checksums does; anything else is left as it is."""
    b = bytearray(b)
    if len(b) < 64 or b[:8] != b"\x89DLOR\r\n\x1a":
        return bytes(b)
    if _u32(b, 48) & 1:
        struct.pack_into("<I", b, 60, zlib.crc32(bytes(b[64:])) & 0xFFFFFFFF)
        return bytes(b)
    hl, nsec = _u64(b, 16), _u32(b, 52)
    if hl < 64 or hl > len(b):
        return bytes(b)
    if nsec <= 64 and 64 + 32 * nsec <= hl:
        for s in range(nsec):
            e = 64 + 32 * s
            off, count = _u64(b, e + 8), _u64(b, e + 24)
            if _u32(b, e) != 3 or off > hl or count > (hl - off) // 128:
                continue
            for i in range(count):
                r = off + 128 * i
                to, nb = _u64(b, r + 80), _u64(b, r + 88)
                if to <= len(b) and nb <= len(b) - to:
                    struct.pack_into("<I", b, r + 96, zlib.crc32(bytes(b[to:to + nb])) & 0xFFFFFFFF)
    struct.pack_into("<I", b, 56, 0)
    struct.pack_into("<I", b, 56, zlib.crc32(bytes(b[:hl])) & 0xFFFFFFFF)
    return bytes(b)


def _entry(b, kind):
    """Offset of the directory entry of a section kind."""
    for s in range(_u32(b, 52)):
        if _u32(b, 64 + 32 * s) == kind:
            return 64 + 32 * s
    raise KeyError(kind)


def _records(b, kind, size):
    e = _entry(b, kind)
    return [_u64(b, e + 8) + size * i for i in range(_u64(b, e + 24))]


def _tensor_index(b, name):
    pool = _u64(b, _entry(b, 1) + 8)
    for i, r in enumerate(_records(b, 3, 128)):
        no, nl = struct.unpack_from("<II", b, r)
        if bytes(b[pool + no:pool + no + nl]) == name.encode():
            return i, r
    raise KeyError(name)


def cases(base):
    """[(name, image bytes, valid, message part)] derived from the base image."""
    out = []

    def case(name, valid, msg, edit):
        b = bytearray(base)
        edit(b)
        out.append((name, fix_checksums(bytes(b)), valid, msg))

    layers = _records(base, 4, 128)
    u0 = _u32(base, layers[0] + 56)

    def swap_sections(b):  # METADATA and TENSORS entries trade places
        e1, e2 = _entry(b, 2), _entry(b, 3)
        b[e1:e1 + 32], b[e2:e2 + 32] = b[e2:e2 + 32], b[e1:e1 + 32]

    def bool2(b):
        _, r = _tensor_index(b, "mask")
        b[_u64(b, r + 80) + 1] = 2

    def graph_kind(kind, esize=None, extra=0):
        def edit(b):
            e = _entry(b, 0x8001)
            struct.pack_into("<I", b, e, kind)
            if esize is not None:
                struct.pack_into("<I", b, e + 4, esize)
                struct.pack_into("<Q", b, e + 24, _u64(b, e + 16) + extra)
        return edit

    def weight_is_panel_u(b):  # the first LINEAR takes layer 0's U tensor as a dense weight
        g = _u64(b, _entry(b, 0x8001) + 8)
        struct.pack_into("<I", b, g + 8, u0)
        struct.pack_into("<I", b, g + 16, 0)

    case("base", True, "", lambda b: None)
    case("section-order", False, "increasing order", swap_sections)
    case("bool-2", False, "bool", bool2)
    case("source-dtype-u8", False, "source dtype", lambda b: struct.pack_into("<H", b, layers[0] + 64, 9))
    case("panel-u-as-v", False, "panels", lambda b: struct.pack_into("<I", b, layers[1] + 60, u0))
    case("panel-u-misnamed", False, "must be named", lambda b: struct.pack_into("<I", b, layers[1] + 56, u0))
    case("panel-u-as-weight", False, "panels", weight_is_panel_u)
    case("optional-skipped", True, "", graph_kind(0x9001))
    case("optional-raw", True, "", graph_kind(0x9001, 0, 0))
    case("optional-raw-count", False, "inconsistent size", graph_kind(0x9001, 0, 1))
    case("unknown-required", False, "kind 5", graph_kind(5))
    return out
