"""An independent .dlor reader written from formats/DLOR_FORMAT.md alone.

Used by the tests as a second implementation: it parses and checks the
container with Python's struct and zlib, and rebuilds each layer's dense
matrix with numpy, without any of dlor's C code.
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
        layers[s(no, nl)] = dict(method=method, basis=basis, rows=rows, cols=cols, rank=rank,
                                 factors=factors, alpha=alpha, U=tensors[order[ui]],
                                 V=tensors[order[vi]], source_dtype=sdt, seed=seed)
    return meta, tensors, layers


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
