"""Reading and checking a ``.dlor`` image, written from formats/DLOR_FORMAT.md.

``read_image`` applies every rule of the specification's section 9 before it
hands out anything, and reports the first broken rule as one line naming the
file and the record. It returns plain
records; ``model.py`` turns them into the objects users see.
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import _dag
from .errors import FormatError

MAGIC = b"\x89DLOR\r\n\x1a"
MAJOR = 1
ENDIAN_TAG = 0x01020304
FLAG_DEFLATE = 1
PREAMBLE = 64
DIR_ENTRY = 32
ALIGN = 64

SECTION_STRINGS, SECTION_METADATA, SECTION_TENSORS, SECTION_LAYERS = 1, 2, 3, 4
SECTION_GRAPH = 0x8001
SECTION_DAG = 0x8002
ENTRY_SIZES = {SECTION_STRINGS: 0, SECTION_METADATA: 16, SECTION_TENSORS: 128, SECTION_LAYERS: 128}
GRAPH_REC = 32
DAG_REC = 96

MAX_HEADER = 64 << 20
MAX_SECTIONS = 64
MAX_TENSORS = 1 << 20
MAX_LAYERS = 1 << 20
MAX_META = 65536
MAX_META_TEXT = 1 << 20
MAX_NAME = 255
MAX_VALUE = 65535
MAX_NDIM = 8
MAX_OPS = 65536
U64_MAX = (1 << 64) - 1
MAX_INFLATED = 1 << 40  # the dlor tools' own input limit
DEFLATE_MAX_RATIO = 1032  # deflate cannot expand further

# dtype code -> (name, size in bytes, numpy dtype of the stored bytes)
DTYPES: Dict[int, Tuple[str, int, str]] = {
    1: ("f32", 4, "<f4"), 2: ("f16", 2, "<f2"), 3: ("bf16", 2, "<u2"), 4: ("f64", 8, "<f8"),
    5: ("i8", 1, "i1"), 6: ("i16", 2, "<i2"), 7: ("i32", 4, "<i4"), 8: ("i64", 8, "<i8"),
    9: ("u8", 1, "u1"), 10: ("u16", 2, "<u2"), 11: ("u32", 4, "<u4"), 12: ("u64", 8, "<u8"),
    13: ("bool", 1, "u1"),
}
FLOAT_DTYPES = (1, 2, 3, 4)
# block-quantized 2-D weights (DLOR_FORMAT.md 6.1): code -> (name, value bytes of a block of 32)
QUANT_DTYPES: Dict[int, Tuple[str, int]] = {14: ("q8", 32), 15: ("q4", 16)}
WEIGHT_DTYPES = FLOAT_DTYPES + tuple(QUANT_DTYPES)
QBLOCK = 32


def dtype_name(code: int) -> str:
    return QUANT_DTYPES[code][0] if code in QUANT_DTYPES else DTYPES[code][0]

METHOD_MUL, METHOD_ADD = 1, 2
BASIS_SCHUR, BASIS_RANDOM, BASIS_SVD = 1, 2, 3
U_ROWS, U_PANELS = 0, 1
PANEL = 16

OP_LINEAR, OP_ACT, OP_SOFTMAX, OP_BRANCH, OP_MERGE = 1, 2, 3, 4, 5
MAX_ACT = 8
NO_TENSOR = 0xFFFFFFFF
OP_FLAG_LAYER = 1


@dataclass
class TensorRecord:
    name: str
    dtype: int
    shape: Tuple[int, ...]
    offset: int
    nbytes: int


@dataclass
class LayerRecord:
    name: str
    method: int
    basis: int
    u_layout: int
    rows: int
    cols: int
    rank: int
    factors: int
    alpha: float
    u_tensor: int
    v_tensor: int
    source_dtype: int
    seed: int
    k: int        # columns of U and V (the U tensor's rows)
    dim_u: int
    dim_v: int
    base_tensor: Optional[int] = None  # 1.7: W = B + the add layer's matrix, B this tensor


@dataclass
class OpRecord:
    kind: int
    act: int
    weight: int
    bias: int          # NO_TENSOR for none
    is_layer: bool
    param: float


@dataclass
class Image:
    """A checked image: the (uncompressed) bytes and the records that describe them."""
    data: bytes
    minor: int
    compressed: bool
    metadata: Dict[str, str]
    tensors: List[TensorRecord]
    layers: List[LayerRecord]
    ops: List[OpRecord]
    has_graph: bool
    nodes: List["_dag.NodeRecord"]


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def shown(name: str) -> str:
    """A name from the file fit for a one-line message: at most 64 characters,
    control characters shown as '?'."""
    s = "".join(c if c.isprintable() else "?" for c in name[:64])
    return s + "..." if len(name) > 64 else s


class _Checker:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, msg: str) -> FormatError:
        return FormatError(f"{self.path}: {msg}")

    def check(self, cond: bool, msg: str) -> None:
        if not cond:
            raise self.fail(msg)


def inflate(raw: bytes, path: str) -> Tuple[bytes, bool]:
    """The uncompressed image of a file (DLOR_FORMAT.md 3.1); (bytes, was_compressed)."""
    c = _Checker(path)
    c.check(len(raw) >= PREAMBLE, f"file of {len(raw)} bytes is shorter than the 64-byte preamble")
    c.check(raw[:8] == MAGIC, "not a .dlor file (bad magic)")
    flags, = struct.unpack_from("<I", raw, 48)
    if not flags & FLAG_DEFLATE:
        return raw, False
    total, = struct.unpack_from("<Q", raw, 40)
    body = len(raw) - PREAMBLE
    c.check(PREAMBLE <= total <= MAX_INFLATED and total - PREAMBLE <= body * DEFLATE_MAX_RATIO + 64,
            f"compressed image claims {total} bytes, impossible for {body} compressed bytes")
    want_crc, = struct.unpack_from("<I", raw, 60)
    c.check(zlib.crc32(raw[PREAMBLE:]) & 0xFFFFFFFF == want_crc,
            "compressed data checksum mismatch (data corrupt)")
    want = total - PREAMBLE
    bad = f"compressed image is corrupt or does not inflate to the {want} bytes its preamble gives"
    d = zlib.decompressobj()
    try:
        out = d.decompress(raw[PREAMBLE:], want)
        if len(out) == want and not d.eof and d.unconsumed_tail:
            # the output is complete; what is left must be the stream's end alone
            c.check(d.decompress(d.unconsumed_tail, 1) == b"", bad)
    except zlib.error:
        raise c.fail(bad) from None
    c.check(len(out) == want and d.eof and not d.unused_data and not d.unconsumed_tail, bad)
    pre = bytearray(raw[:PREAMBLE])
    struct.pack_into("<I", pre, 48, flags & ~FLAG_DEFLATE)  # other bits: still checked
    struct.pack_into("<I", pre, 60, 0)
    return bytes(pre) + out, True


def read_image(raw: bytes, path: str, check_crc: bool = True) -> Image:
    """Checks an image (DLOR_FORMAT.md section 9) and returns its records."""
    b, compressed = inflate(raw, path)
    c = _Checker(path)
    n = len(b)
    major, minor, tag, header_len, data_offset, data_len, file_len, flags, nsec, hcrc, zero60 = \
        struct.unpack_from("<HHIQQQQIIII", b, 8)
    c.check(major == MAJOR, f"format version {major}.{minor} is not supported (this reader reads 1.x)")
    c.check(tag == ENDIAN_TAG, f"bad endianness tag 0x{tag:08x}")
    c.check(file_len == n, f"file is {n} bytes but its header says {file_len} (truncated or extended)")
    c.check(flags == 0, f"unknown required feature flags 0x{flags:08x}")
    c.check(zero60 == 0, "reserved preamble field is not zero")
    c.check(1 <= nsec <= MAX_SECTIONS, f"{nsec} sections (must be 1 to {MAX_SECTIONS})")
    c.check(header_len <= MAX_HEADER, f"header of {header_len} bytes exceeds the 64 MiB limit")
    c.check(PREAMBLE + DIR_ENTRY * nsec <= header_len <= n,
            f"header_len {header_len} is inconsistent with the file")
    c.check(data_offset == _align(header_len, ALIGN) and data_offset <= n and data_len == n - data_offset,
            f"data_offset {data_offset} / data_len {data_len} are inconsistent")
    # the checksum comes first, so that nothing below interprets corrupt records
    crc = zlib.crc32(b[:56])
    crc = zlib.crc32(b"\0\0\0\0", crc)
    c.check(zlib.crc32(b[60:header_len], crc) & 0xFFFFFFFF == hcrc, "header checksum mismatch (header corrupt)")
    c.check(not any(b[header_len:data_offset]), "nonzero padding before the data section")

    sections = _sections(c, b, nsec, header_len, minor)
    poff, psize, _ = sections[SECTION_STRINGS]
    pool = b[poff:poff + psize]

    def string(off: int, length: int, lo: int, hi: int, what: str) -> str:
        c.check(lo <= length <= hi and off <= len(pool) and length <= len(pool) - off, f"{what}: bad string reference")
        raw_s = pool[off:off + length]
        try:
            s = raw_s.decode("utf-8")  # strict: no overlong forms, surrogates or code points past U+10FFFF
        except UnicodeDecodeError:
            raise c.fail(f"{what}: string is not valid UTF-8") from None
        c.check("\0" not in s, f"{what}: string contains a NUL byte")
        return s

    metadata = _metadata(c, b, sections[SECTION_METADATA], string)
    tensors = _tensors(c, b, sections[SECTION_TENSORS], string, data_offset, n, check_crc)
    layers = _layers(c, b, sections[SECTION_LAYERS], string, tensors)
    ops: List[OpRecord] = []
    if SECTION_GRAPH in sections:
        ops = _graph(c, b, sections[SECTION_GRAPH], tensors, layers)
    nodes: List[_dag.NodeRecord] = []
    if SECTION_DAG in sections:
        nodes = _dag.read_dag(c, b, sections[SECTION_DAG], tensors, layers, string,
                              _panel_owners(tensors, layers), shown, FLOAT_DTYPES)
    return Image(b, minor, compressed, metadata, tensors, layers, ops, SECTION_GRAPH in sections, nodes)


def _sections(c: _Checker, b: bytes, nsec: int, header_len: int, minor: int) -> Dict[int, Tuple[int, int, int]]:
    dir_end = PREAMBLE + DIR_ENTRY * nsec
    pos = _align(dir_end, 8)
    c.check(not any(b[dir_end:pos]), "nonzero padding after the section directory")
    found: Dict[int, Tuple[int, int, int]] = {}
    # the kinds first: known, and strictly increasing, so that a file has one layout
    kinds = [struct.unpack_from("<I", b, PREAMBLE + DIR_ENTRY * s)[0] for s in range(nsec)]
    for s, kind in enumerate(kinds):
        if kind < 0x8000 and kind not in ENTRY_SIZES:
            raise c.fail(f"required section kind {kind} is unknown to this reader (file minor version {minor})")
        c.check(s == 0 or kind != kinds[s - 1], f"section kind {kind} appears twice")
        c.check(s == 0 or kind > kinds[s - 1],
                f"section kind {kind} follows kind {kinds[s - 1]}: kinds must be in increasing order")
    for s in range(nsec):
        kind, esize, off, size, count = struct.unpack_from("<IIQQQ", b, PREAMBLE + DIR_ENTRY * s)
        c.check(off == pos, f"section {s} (kind {kind}) starts at {off}, expected {pos}")
        c.check(size <= header_len - off,
                f"section {s} (kind {kind}) of {size} bytes runs past the header end {header_len}")
        if kind in ENTRY_SIZES:
            c.check(esize == ENTRY_SIZES[kind],
                    f"section kind {kind} has entry size {esize}, expected {ENTRY_SIZES[kind]}")
            ok = count == size if kind == SECTION_STRINGS else count * esize == size
            c.check(ok, f"section kind {kind}: size {size} does not match {count} records")
            found[kind] = (off, size, count)
        elif kind in (SECTION_GRAPH, SECTION_DAG):
            rec = GRAPH_REC if kind == SECTION_GRAPH else DAG_REC
            what = "graph" if kind == SECTION_GRAPH else "DAG"
            c.check(esize == rec and count * esize == size, f"{what} section: bad entry size or count")
            c.check(count <= MAX_OPS, f"{what} of {count} operations exceeds the limit of {MAX_OPS}")
            found[kind] = (off, size, count)
        else:  # optional and unknown: skipped once its sizes are checked
            c.check(count == size if esize == 0 else (size % esize == 0 and size // esize == count),
                    f"optional section kind {kind}: inconsistent size")
        end, nxt = off + size, _align(off + size, 8)
        if s + 1 == nsec:
            c.check(end == header_len, f"last section ends at {end} but header_len is {header_len}")
        else:
            c.check(nxt <= header_len, "sections run past the header end")
            c.check(not any(b[end:nxt]), f"nonzero padding after section {s}")
        pos = nxt
    for k in (SECTION_STRINGS, SECTION_METADATA, SECTION_TENSORS, SECTION_LAYERS):
        c.check(k in found, f"required section kind {k} is missing")
    c.check(not (SECTION_GRAPH in found and SECTION_DAG in found), "both a GRAPH and a DAG section")
    c.check(found[SECTION_METADATA][2] <= MAX_META,
            f"{found[SECTION_METADATA][2]} metadata records exceed the limit of {MAX_META}")
    c.check(found[SECTION_TENSORS][2] <= MAX_TENSORS,
            f"{found[SECTION_TENSORS][2]} tensors exceed the limit of {MAX_TENSORS}")
    c.check(found[SECTION_LAYERS][2] <= MAX_LAYERS,
            f"{found[SECTION_LAYERS][2]} layers exceed the limit of {MAX_LAYERS}")
    return found


def _metadata(c: _Checker, b: bytes, sec: Tuple[int, int, int], string) -> Dict[str, str]:
    off, _, count = sec
    meta: Dict[str, str] = {}
    prev: Optional[bytes] = None
    text = 0
    for i in range(count):
        ko, kl, vo, vl = struct.unpack_from("<IIII", b, off + 16 * i)
        key = string(ko, kl, 1, MAX_NAME, f"metadata record {i}")
        value = string(vo, vl, 0, MAX_VALUE, f"metadata '{shown(key)}'")
        kb = key.encode("utf-8")
        c.check(prev is None or prev < kb, f"metadata key '{shown(key)}' is out of order or duplicated")
        prev = kb
        text += kl + vl
        meta[key] = value
    c.check(text <= MAX_META_TEXT, f"metadata text of {text} bytes exceeds the 1 MiB limit")
    return meta


def _tensors(c: _Checker, b: bytes, sec: Tuple[int, int, int], string, data_offset: int, n: int,
             check_crc: bool) -> List[TensorRecord]:
    off, _, count = sec
    out: List[TensorRecord] = []
    prev: Optional[bytes] = None
    pos = data_offset
    for i in range(count):
        r = off + 128 * i
        no, nl, dtype, ndim = struct.unpack_from("<IIHB", b, r)
        name = string(no, nl, 1, MAX_NAME, f"tensor record {i}")
        what = f"tensor '{shown(name)}'"
        nb = name.encode("utf-8")
        c.check(prev is None or prev < nb, f"{what} is out of order or duplicated")
        prev = nb
        c.check(dtype in DTYPES or dtype in QUANT_DTYPES, f"{what}: unknown dtype code {dtype}")
        c.check(dtype not in QUANT_DTYPES or ndim == 2, f"{what}: a quantized tensor is 2-D, not {ndim}-D")
        c.check(ndim <= MAX_NDIM, f"{what}: {ndim} dimensions (limit 8)")
        c.check(not any(b[r + 11:r + 16]) and not any(b[r + 100:r + 128]), f"{what}: reserved bytes are not zero")
        dims = struct.unpack_from("<8Q", b, r + 16)
        for d in range(ndim, MAX_NDIM):
            c.check(dims[d] == 0, f"{what}: unused dimension {d} is {dims[d]}")
        shape = tuple(dims[:ndim])
        nelem = 1
        for d in shape:  # every partial product from the left within 64 bits, as a C reader computes it
            nelem *= d
            c.check(nelem <= U64_MAX, f"{what}: element count overflows")
        if dtype in QUANT_DTYPES:  # 6.1: R * ceil(C / 32) blocks of value bytes and a 2-byte scale
            need = shape[0] * -(-shape[1] // QBLOCK) * (QUANT_DTYPES[dtype][1] + 2) if nelem else 0
        else:
            need = nelem * DTYPES[dtype][1]
        c.check(need <= U64_MAX, f"{what}: byte size overflows")
        toff, nbytes, crc = struct.unpack_from("<QQI", b, r + 80)
        c.check(nbytes == need, f"{what}: nbytes {nbytes} but shape needs {need}")
        c.check(toff == pos, f"{what}: data at offset {toff}, expected {pos}")
        c.check(nbytes <= n - toff, f"{what}: needs {nbytes} bytes at offset {toff}, file has {n - toff} left")
        end = toff + nbytes
        if i + 1 < count:
            nxt = _align(end, ALIGN)
            c.check(nxt <= n, f"{what}: file ends inside padding")
            c.check(not any(b[end:nxt]), f"nonzero padding after {what}")
            pos = nxt
        else:
            pos = end
        if check_crc:
            c.check(zlib.crc32(b[toff:end]) & 0xFFFFFFFF == crc, f"{what}: CRC-32 mismatch (data corrupt)")
        if dtype in QUANT_DTYPES and nbytes:
            _check_quant(c, what, b, toff, dtype, shape)
        if dtype == 13:
            bad = np.flatnonzero(np.frombuffer(b, np.uint8, nbytes, toff) > 1)
            c.check(bad.size == 0, f"{what}: bool element {bad[0] if bad.size else 0} is "
                                   f"{b[toff + int(bad[0])] if bad.size else 0}, not 0 or 1")
        out.append(TensorRecord(name, dtype, shape, toff, nbytes))
    c.check(pos == n, f"{n - pos} trailing bytes after the last tensor")
    return out


def _quant_parts(data: bytes, off: int, dtype: int, shape: Tuple[int, ...]) -> Tuple[np.ndarray, np.ndarray]:
    """The values [R, B, 32] (int32) and scales [R, B] (float16) of a q8 or q4 tensor (6.1)."""
    rows, cols = shape
    nb, vb = -(-cols // QBLOCK), QUANT_DTYPES[dtype][1]
    vals = np.frombuffer(data, np.uint8, rows * nb * vb, off).reshape(rows, nb, vb)
    scales = np.frombuffer(data, "<f2", rows * nb, off + rows * nb * vb).reshape(rows, nb)
    if dtype == 14:
        q = vals.view(np.int8).astype(np.int32)
    else:  # byte j: column j in the low nibble, j + 16 in the high one, 4-bit two's complement
        q = np.concatenate([((vals & 15).astype(np.int32) ^ 8) - 8, ((vals >> 4).astype(np.int32) ^ 8) - 8], axis=2)
    return q, scales


def _check_quant(c: _Checker, what: str, b: bytes, off: int, dtype: int, shape: Tuple[int, ...]) -> None:
    q, scales = _quant_parts(b, off, dtype, shape)
    bits = scales.view(np.uint16)
    bad = np.flatnonzero(((bits & 0x7C00) == 0x7C00) | ((bits & 0x8000) != 0))
    c.check(bad.size == 0, f"{what}: the scale of block {int(bad[0]) if bad.size else 0} is not finite or negative")
    c.check(not q.reshape(shape[0], -1)[:, shape[1]:].any(), f"{what}: a padding value past column {shape[1]} is not 0")


def _layers(c: _Checker, b: bytes, sec: Tuple[int, int, int], string,
            tensors: List[TensorRecord]) -> List[LayerRecord]:
    off, _, count = sec
    out: List[LayerRecord] = []
    prev: Optional[bytes] = None
    for i in range(count):
        r = off + 128 * i
        no, nl, method, basis, layout = struct.unpack_from("<IIHHH", b, r)
        name = string(no, nl, 1, MAX_NAME, f"layer record {i}")
        what = f"layer '{shown(name)}'"
        nb = name.encode("utf-8")
        c.check(prev is None or prev < nb, f"{what} is out of order or duplicated")
        prev = nb
        rows, cols, rank, factors = struct.unpack_from("<QQQQ", b, r + 16)
        alpha, ui, vi, sdt = struct.unpack_from("<dIIH", b, r + 48)
        seed, = struct.unpack_from("<Q", b, r + 72)
        lflags, = struct.unpack_from("<H", b, r + 14)
        bi, = struct.unpack_from("<I", b, r + 80)
        c.check(lflags & ~1 == 0 and not any(b[r + 66:r + 72]) and not any(b[r + 84:r + 128]) and
                (lflags & 1 or bi == 0), f"{what}: reserved bytes are not zero")
        c.check(layout in (U_ROWS, U_PANELS), f"{what}: unknown U layout {layout}")
        c.check((method == METHOD_MUL and basis in (BASIS_SCHUR, BASIS_RANDOM)) or
                (method == METHOD_ADD and basis == BASIS_SVD),
                f"{what}: method {method} with basis {basis} is not defined")
        c.check(rows >= 1 and cols >= 1, f"{what}: empty shape")
        c.check(ui < len(tensors) and vi < len(tensors) and ui != vi, f"{what}: bad factor tensor indices {ui}, {vi}")
        tu, tv = tensors[ui], tensors[vi]
        dim_u = max(rows, cols) if method == METHOD_MUL else rows
        dim_v = max(rows, cols) if method == METHOD_MUL else cols
        k = tu.shape[0] if tu.shape else 0
        c.check(len(tu.shape) == 2 and tu.shape == (k, dim_u) and tv.shape == (k, dim_v),
                f"{what}: factor shapes {list(tu.shape)} and {list(tv.shape)} do not match [K, {dim_u}] and [K, {dim_v}]")
        kmax = max(rows, cols) if method == METHOD_MUL else min(rows, cols)
        c.check(1 <= k <= kmax, f"{what}: {k} factor columns, must be 1 to {kmax}")
        c.check(1 <= rank <= k, f"{what}: rank {rank} outside [1, {k}]")
        c.check(factors == (k + rank - 1) // rank, f"{what}: {factors} factors, expected ceil({k}/{rank})")
        c.check(math.isfinite(alpha) and not (method == METHOD_MUL and alpha == 0.0), f"{what}: invalid alpha {alpha:g}")
        c.check(sdt in FLOAT_DTYPES, f"{what}: source dtype {sdt} is not a float dtype")  # made from float weights
        c.check(basis == BASIS_RANDOM or seed == 0, f"{what}: seed set for a non-random basis")
        c.check(tu.dtype in WEIGHT_DTYPES and tu.dtype == tv.dtype,
                f"{what}: factor dtypes {tu.dtype} and {tv.dtype} are not one float or quantized dtype")
        c.check(tu.dtype in FLOAT_DTYPES or layout != U_PANELS, f"{what}: a quantized U tensor is stored in rows, not panels")
        c.check(layout != U_PANELS or tu.name == name + ".dlor.U",
                f"{what}: its U tensor is stored in panels, so it must be named '<layer>.dlor.U', "
                f"not '{shown(tu.name)}'")
        base = None
        if lflags & 1:
            c.check(method == METHOD_ADD, f"{what}: a base tensor needs method add, not {method}")
            c.check(bi < len(tensors) and bi not in (ui, vi), f"{what}: bad base tensor index {bi}")
            c.check(tensors[bi].dtype in WEIGHT_DTYPES and tensors[bi].shape == (rows, cols),
                    f"{what}: the base tensor must be a float or quantized [{rows}, {cols}] tensor")
            base = bi
        out.append(LayerRecord(name, method, basis, layout, rows, cols, rank, factors, alpha, ui, vi, sdt, seed,
                               k, dim_u, dim_v, base))
    # a U tensor in panels is read through its layer alone (7.6): no other reference may take it for rows
    owners = _panel_owners(tensors, out)
    for L in out:
        c.check(L.v_tensor not in owners and L.base_tensor not in owners and (L.u_layout == U_PANELS or L.u_tensor not in owners),
                f"layer '{shown(L.name)}': a factor tensor is another layer's U stored in panels, "
                "which only that layer may use")
    return out


def _panel_owners(tensors: List[TensorRecord], layers: List[LayerRecord]) -> Dict[int, str]:
    """Tensor index -> layer name, for the U tensors stored in panels (named '<layer>.dlor.U')."""
    return {L.u_tensor: L.name for L in layers
            if L.u_layout == U_PANELS and tensors[L.u_tensor].name == L.name + ".dlor.U"}


def _graph(c: _Checker, b: bytes, sec: Tuple[int, int, int], tensors: List[TensorRecord],
           layers: List[LayerRecord]) -> List[OpRecord]:
    """The GRAPH section, checked as DLOR_FORMAT.md 7.4 says (widths chain, groups close)."""
    off, _, count = sec
    layer_names = {L.name for L in layers}
    owners = _panel_owners(tensors, layers)
    ops: List[OpRecord] = []
    cur, have = 0, False
    in_group = gout_set = branch_linear = False
    gin = gout = 0
    for i in range(count):
        r = off + GRAPH_REC * i
        kind, act, res0, widx, bidx, flags, res1, param = struct.unpack_from("<HHIIIIId", b, r)
        what = f"graph op {i}"
        c.check(res0 == 0 and res1 == 0 and flags & ~OP_FLAG_LAYER == 0, f"{what}: reserved bytes are not zero")
        is_layer = bool(flags & OP_FLAG_LAYER)
        op = OpRecord(kind, act, widx, bidx, is_layer, param)
        ops.append(op)
        if kind in (OP_BRANCH, OP_MERGE):
            if kind == OP_BRANCH:
                c.check(act == 0 and math.isfinite(param) and not is_layer and widx == 0 and bidx == 0,
                        f"{what}: branch with operands or a bad weight")
            else:
                c.check(act == 0 and param == 0.0 and not is_layer and widx == 0, f"{what}: merge with operands")
                c.check(in_group, f"{what}: merge without a branch")
            if in_group:
                c.check(branch_linear, f"{what}: the branch before it has no linear operation")
                c.check(not gout_set or cur == gout, f"{what}: a branch gives {cur} features, the first one {gout}")
                gout, gout_set = cur, True
            if kind == OP_BRANCH:
                if not in_group:
                    gin = cur
                in_group, branch_linear, cur = True, False, gin
                have = have or gin != 0
                continue
            if bidx != NO_TENSOR:
                _check_bias(c, what, tensors, bidx, gout)
            in_group = gout_set = False
            cur = gout
            continue
        if kind == OP_ACT:
            c.check(0 <= act <= MAX_ACT and math.isfinite(param) and (act == 2 or param == 0.0),
                    f"{what}: bad activation {act} (param {param:g})")
            c.check(not is_layer and widx == 0 and bidx == 0, f"{what}: activation with operands")
            continue
        if kind == OP_SOFTMAX:
            c.check(act == 0 and param == 0.0 and not is_layer and widx == 0 and bidx == 0,
                    f"{what}: softmax with operands")
            continue
        c.check(kind == OP_LINEAR, f"{what}: unknown kind {kind}")
        c.check(act == 0 and param == 0.0, f"{what}: linear with an activation field")
        if is_layer:
            c.check(widx < len(layers), f"{what}: layer index {widx} out of range")
            n_in, n_out = layers[widx].cols, layers[widx].rows
        else:
            c.check(widx < len(tensors), f"{what}: tensor index {widx} out of range")
            t = tensors[widx]
            c.check(len(t.shape) == 2 and t.dtype in WEIGHT_DTYPES and t.shape[0] * t.shape[1] > 0,
                    f"{what}: weight '{shown(t.name)}' is not a 2-D float tensor")
            c.check(widx not in owners,
                    f"{what}: weight '{shown(t.name)}' is a layer's U stored in panels, which only that layer may use")
            c.check(t.name not in layer_names,
                    f"{what}: weight tensor '{shown(t.name)}' has the name of a layer, so the name is ambiguous")
            n_out, n_in = t.shape
        if bidx != NO_TENSOR:
            _check_bias(c, what, tensors, bidx, n_out)
        c.check(not have or n_in == cur, f"{what} takes {n_in} features but receives {cur}")
        if in_group and not branch_linear and gin == 0:
            gin = n_in  # a group opening the graph
        branch_linear = have = True
        cur = n_out
    c.check(not in_group, "graph ends inside a branch group (no merge)")
    c.check(count == 0 or have, "graph has no linear operation")
    return ops


def _check_bias(c: _Checker, what: str, tensors: List[TensorRecord], idx: int, length: int) -> None:
    c.check(idx < len(tensors), f"{what}: bias index {idx} out of range")
    t = tensors[idx]
    c.check(len(t.shape) == 1 and t.shape[0] == length and t.dtype in FLOAT_DTYPES,
            f"{what}: bias '{shown(t.name)}' is not a float vector of length {length}")


def tensor_array(img: Image, t: TensorRecord) -> np.ndarray:
    """The tensor's values as a read-only numpy array of its shape (bf16 widened
    exactly to float32, bool as numpy bool, q8 and q4 dequantized exactly to float32),
    viewing the image's bytes where it can."""
    if t.dtype in QUANT_DTYPES:
        rows, cols = t.shape
        if rows * cols == 0:
            a = np.zeros(t.shape, np.float32)
        else:
            q, scales = _quant_parts(img.data, t.offset, t.dtype, t.shape)
            a = (scales.astype(np.float32)[:, :, None] * q.astype(np.float32)).reshape(rows, -1)[:, :cols]
        a.flags.writeable = False
        return a
    _, size, npdt = DTYPES[t.dtype]
    a = np.frombuffer(img.data, np.dtype(npdt), t.nbytes // size, t.offset)
    if t.dtype == 3:
        a = (a.astype(np.uint32) << 16).view(np.float32)
    elif t.dtype == 13:
        a = a.view(np.bool_)
    a = a.reshape(t.shape)
    a.flags.writeable = False
    return a


def unpanel(stored: np.ndarray, rank: int) -> np.ndarray:
    """The rows of U^T from a U tensor stored in panels (DLOR_FORMAT.md 7.6): factor l's
    rows [g0, g0 + h) fill elements [g0 D, (g0 + h) D) column block by column block,
    each block (16 columns, the last one narrower) h rows of its width in C order."""
    k, dim = stored.shape
    flat = stored.reshape(-1)
    out = np.empty_like(stored)
    full, tail = dim // PANEL, dim % PANEL

    def place(g0: int, nf: int, h: int) -> None:
        # nf factors of h rows each, starting at row g0
        block = flat[g0 * dim:(g0 + nf * h) * dim].reshape(nf, h * dim)
        dst = out[g0:g0 + nf * h].reshape(nf, h, dim)
        if full:
            body = block[:, :full * PANEL * h].reshape(nf, full, h, PANEL)
            dst[:, :, :full * PANEL] = body.transpose(0, 2, 1, 3).reshape(nf, h, full * PANEL)
        if tail:
            dst[:, :, full * PANEL:] = block[:, full * PANEL * h:].reshape(nf, h, tail)

    whole = k // rank
    if whole:
        place(0, whole, rank)
    if k % rank:
        place(whole * rank, 1, k % rank)
    out.flags.writeable = False
    return out
