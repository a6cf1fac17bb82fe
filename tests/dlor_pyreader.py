"""An independent .dlor reader written from formats/DLOR_FORMAT.md alone.

Used by the tests as a second implementation: it parses and checks the
container with Python's struct and zlib, rebuilds each layer's dense
matrix with numpy, and runs the model graph (section 7.4, branch groups of
format 1.3 included) in float64, without any of dlor's C code.
"""
import math
import struct
import zlib

import numpy as np

MAGIC = b"\x89DLOR\r\n\x1a"
DTYPES = {1: "<f4", 2: "<f2", 3: "bf16", 4: "<f8", 5: "i1", 6: "<i2", 7: "<i4", 8: "<i8",
          9: "u1", 10: "<u2", 11: "<u4", 12: "<u8", 13: "u1"}
SIZES = {1: 4, 2: 2, 3: 2, 4: 8, 5: 1, 6: 2, 7: 4, 8: 8, 9: 1, 10: 2, 11: 4, 12: 8, 13: 1}


class DlorError(Exception):
    pass


def _align(x, a):
    return (x + a - 1) // a * a


def _check(cond, msg):
    if not cond:
        raise DlorError(msg)


def read(path):
    with open(path, "rb") as f:
        b = f.read()
    _check(len(b) >= 64 and b[:8] == MAGIC, "bad magic")
    freq, = struct.unpack_from("<I", b, 48)
    if freq & 1:  # compressed (section 3.1): preamble + zlib stream of the rest of the image
        zcrc, = struct.unpack_from("<I", b, 60)
        _check(zlib.crc32(b[64:]) & 0xFFFFFFFF == zcrc, "compressed data crc")
        b = b[:48] + b"\0\0\0\0" + b[52:60] + b"\0\0\0\0" + zlib.decompress(b[64:])
    major, minor, tag, header_len, data_offset, data_len, file_len, freq, nsec, hcrc, res = \
        struct.unpack_from("<HHIQQQQIIII", b, 8)
    _check(major == 1 and tag == 0x01020304 and freq == 0 and res == 0, "preamble")
    _check(file_len == len(b) and data_offset == _align(header_len, 64), "lengths")
    _check(data_offset + data_len == file_len, "data length")
    zeroed = b[:56] + b"\0\0\0\0" + b[60:header_len]
    _check(zlib.crc32(zeroed) & 0xFFFFFFFF == hcrc, "header crc")
    sections = {}
    pos = _align(64 + 32 * nsec, 8)
    for s in range(nsec):
        kind, esize, off, size, count = struct.unpack_from("<IIQQQ", b, 64 + 32 * s)
        _check(off == pos, "section placement")
        sections[kind] = (esize, off, size, count)
        pos = _align(off + size, 8) if s + 1 < nsec else off + size
    _check(pos == header_len, "header_len")
    _, poff, psize, _ = sections[1]
    pool = b[poff:poff + psize]

    def s(off, n):
        _check(off + n <= len(pool), "string ref")
        return pool[off:off + n].decode("utf-8")

    meta = {}
    _, off, _, count = sections[2]
    for i in range(count):
        ko, kl, vo, vl = struct.unpack_from("<IIII", b, off + 16 * i)
        meta[s(ko, kl)] = s(vo, vl)

    tensors, order = {}, []
    _, off, _, count = sections[3]
    dpos = data_offset
    for i in range(count):
        r = off + 128 * i
        no, nl, dt, ndim = struct.unpack_from("<IIHB", b, r)
        dims = struct.unpack_from("<8Q", b, r + 16)[:ndim]
        toff, nbytes, crc = struct.unpack_from("<QQI", b, r + 80)
        name = s(no, nl)
        _check(toff == dpos, f"tensor {name} offset")
        _check(nbytes == math.prod(dims) * SIZES[dt], f"tensor {name} size")
        raw = b[toff:toff + nbytes]
        _check(zlib.crc32(raw) & 0xFFFFFFFF == crc, f"tensor {name} crc")
        dpos = _align(toff + nbytes, 64) if i + 1 < count else toff + nbytes
        if dt == 3:
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, DTYPES[dt])
        tensors[name] = arr.reshape(dims)
        order.append(name)
    _check(dpos == file_len, "file end")

    layers = {}
    _, off, _, count = sections[4]
    for i in range(count):
        r = off + 128 * i
        no, nl, method, basis = struct.unpack_from("<IIHH", b, r)
        rows, cols, rank, factors = struct.unpack_from("<QQQQ", b, r + 16)
        alpha, = struct.unpack_from("<d", b, r + 48)
        ui, vi, sdt = struct.unpack_from("<IIH", b, r + 56)
        seed, = struct.unpack_from("<Q", b, r + 72)
        layout, = struct.unpack_from("<H", b, r + 12)
        _check(layout in (0, 1), f"layer {i}: U layout {layout}")
        U = tensors[order[ui]]
        layers[s(no, nl)] = dict(method=method, basis=basis, rows=rows, cols=cols, rank=rank,
                                 factors=factors, alpha=alpha, U=unpanel(U, rank) if layout == 1 else U,
                                 V=tensors[order[vi]], source_dtype=sdt, seed=seed, u_layout=layout)
    return meta, tensors, layers


def unpanel(stored, rank):
    """The rows of U^T from a U tensor stored in panels (DLOR_FORMAT.md 7.6): each
    factor's rows [g0, g0 + h) occupy elements [g0 D, (g0 + h) D), column block by
    column block (16 columns, the last one narrower), each block h rows of its width."""
    k, dim = stored.shape
    flat = stored.reshape(-1)
    out = np.empty_like(stored)
    for g0 in range(0, k, rank):
        h = min(rank, k - g0)
        base = g0 * dim
        for c in range(0, dim, 16):
            w = min(16, dim - c)
            out[g0:g0 + h, c:c + w] = flat[base + c * h: base + c * h + h * w].reshape(h, w)
    return out


GRAPH_KINDS = {1: "linear", 2: "act", 3: "softmax", 4: "branch", 5: "merge"}


def read_graph(path):
    """The GRAPH section (kind 0x8001) as a list of dicts: kind ('linear', 'act',
    'softmax', 'branch', 'merge'), act, param, weight (a layer or tensor name),
    is_layer, bias (a tensor name or None). [] when the file has no graph."""
    with open(path, "rb") as f:
        b = f.read()
    freq, = struct.unpack_from("<I", b, 48)
    if freq & 1:
        b = b[:48] + b"\0\0\0\0" + b[52:60] + b"\0\0\0\0" + zlib.decompress(b[64:])
    nsec, = struct.unpack_from("<I", b, 52)
    sections = {}
    for s in range(nsec):
        kind, esize, off, size, count = struct.unpack_from("<IIQQQ", b, 64 + 32 * s)
        sections[kind] = (esize, off, size, count)
    if 0x8001 not in sections:
        return []
    _, poff, psize, _ = sections[1]
    pool = b[poff:poff + psize]
    _, toff, _, tcount = sections[3]
    tnames = []
    for i in range(tcount):
        no, nl = struct.unpack_from("<II", b, toff + 128 * i)
        tnames.append(pool[no:no + nl].decode("utf-8"))
    _, loff, _, lcount = sections[4]
    lnames = []
    for i in range(lcount):
        no, nl = struct.unpack_from("<II", b, loff + 128 * i)
        lnames.append(pool[no:no + nl].decode("utf-8"))
    esize, off, _, count = sections[0x8001]
    _check(esize == 32, "graph entry size")
    ops = []
    for i in range(count):
        kind, act, res0, widx, bidx, flags, res1, param = struct.unpack_from("<HHIIIIId", b, off + 32 * i)
        _check(kind in GRAPH_KINDS, f"graph op {i}: unknown kind {kind}")
        _check(res0 == 0 and res1 == 0 and flags & ~1 == 0, f"graph op {i}: reserved bytes")
        op = dict(kind=GRAPH_KINDS[kind], act=act, param=param, weight=None, is_layer=False, bias=None)
        if kind == 1:
            op["is_layer"] = bool(flags & 1)
            op["weight"] = lnames[widx] if flags & 1 else tnames[widx]
            _check(flags & 1 or op["weight"] not in lnames, f"graph op {i}: weight tensor named like a layer")
        if kind in (1, 5) and bidx != 0xFFFFFFFF:
            op["bias"] = tnames[bidx]
        if kind == 4:
            _check(math.isfinite(param) and act == 0 and widx == 0 and bidx == 0 and flags == 0,
                   f"graph op {i}: branch fields")
        if kind == 5:
            _check(act == 0 and param == 0 and widx == 0 and flags == 0, f"graph op {i}: merge fields")
        ops.append(op)
    return ops


def _act(code, x, p):
    if code == 0:
        return x
    if code == 1:
        return np.maximum(x, 0)
    if code == 2:
        return np.where(x >= 0, x, p * x)
    if code == 3:
        return 1 / (1 + np.exp(-x))
    if code == 4:
        return np.tanh(x)
    if code == 5:
        return np.logaddexp(0, x)
    if code == 6:
        erf = np.vectorize(math.erf)
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))
    if code == 7:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    if code == 8:
        return x / (1 + np.exp(-x))
    raise DlorError(f"unknown activation {code}")


def forward(path, x):
    """Runs the file's graph on x ([N, in]) in float64 with numpy, following
    DLOR_FORMAT.md 7.4: layers are rebuilt to dense matrices (7.1/7.2), a
    BRANCH group sums its branches' outputs weighted by their BRANCH param."""
    meta, tensors, layers = read(path)
    ops = read_graph(path)
    _check(ops, "no graph")
    h = np.asarray(x, dtype=np.float64)
    saved, acc, scale = None, None, 0.0
    for i, op in enumerate(ops):
        k = op["kind"]
        if k in ("branch", "merge"):
            if saved is not None:
                acc = scale * h if acc is None else acc + scale * h
            elif k == "branch":
                saved = h
            else:
                raise DlorError(f"graph op {i}: merge without a branch")
            if k == "branch":
                h, scale = saved, op["param"]
            else:
                h, saved, acc = acc, None, None
                if op["bias"]:
                    h = h + tensors[op["bias"]].astype(np.float64)
        elif k == "act":
            h = _act(op["act"], h, op["param"])
        elif k == "softmax":
            e = np.exp(h - h.max(axis=1, keepdims=True))
            h = e / e.sum(axis=1, keepdims=True)
        else:
            W = rebuild(layers[op["weight"]]) if op["is_layer"] else tensors[op["weight"]].astype(np.float64)
            h = h @ W.T
            if op["bias"]:
                h = h + tensors[op["bias"]].astype(np.float64)
    _check(saved is None, "graph ends inside a branch group")
    return h


def rebuild(layer):
    """Dense matrix of a layer, in float64, following DLOR_FORMAT.md 7.1/7.2."""
    U = layer["U"].astype(np.float64).T   # dim_u x K
    V = layer["V"].astype(np.float64).T   # dim_v x K
    a, r, L = layer["alpha"], layer["rank"], layer["factors"]
    m, n = layer["rows"], layer["cols"]
    K = U.shape[1]  # columns of U and V: the U tensor's rows (DLOR_FORMAT.md 7)
    if layer["method"] == 1:
        D = max(m, n)
        P = np.eye(D)
        for l in range(L):
            cols = slice(l * r, min((l + 1) * r, K))
            P = a * P + U[:, cols] @ (V[:, cols].T @ P)
        return P[:m, :n]
    W = U @ V.T
    k = min(m, n)
    W[np.arange(k), np.arange(k)] += L * a
    return W
