"""An independent .dlor reader written from formats/DLOR_FORMAT.md alone.

Used by the tests as a second implementation: it parses the container with
Python's struct and zlib and enforces every rule of the spec's section 9 (a
file it accepts is valid, and it raises DlorError naming the broken rule
otherwise), rebuilds each layer's dense matrix with numpy, and runs the model
graph (section 7.4, branch groups of format 1.3 included) in float64, without
any of dlor's C code.
"""
import math
import struct
import zlib

import numpy as np

MAGIC = b"\x89DLOR\r\n\x1a"
DTYPES = {1: "<f4", 2: "<f2", 3: "bf16", 4: "<f8", 5: "i1", 6: "<i2", 7: "<i4", 8: "<i8",
          9: "u1", 10: "<u2", 11: "<u4", 12: "<u8", 13: "u1"}
SIZES = {1: 4, 2: 2, 3: 2, 4: 8, 5: 1, 6: 2, 7: 4, 8: 8, 9: 1, 10: 2, 11: 4, 12: 8, 13: 1}
FLOATS = (1, 2, 3, 4)
BOOL = 13
MIB = 1 << 20
# section 8
MAX_HEADER, MAX_SECTIONS, MAX_TENSORS, MAX_LAYERS, MAX_META, MAX_META_TEXT = 64 * MIB, 64, 1 << 20, 1 << 20, 65536, MIB
MAX_NAME, MAX_VALUE, MAX_NDIM, MAX_OPS = 255, 65535, 8, 65536
# section 4: required kinds and their entry sizes; GRAPH is optional
ENTRY_SIZES = {1: 0, 2: 16, 3: 128, 4: 128, 0x8001: 32}
GRAPH_KINDS = {1: "linear", 2: "act", 3: "softmax", 4: "branch", 5: "merge"}
MAX_ACT = 8


class DlorError(Exception):
    pass


def _align(x, a):
    return (x + a - 1) // a * a


def _check(cond, msg):
    if not cond:
        raise DlorError(msg)


def _zero(b, lo, hi, what):
    _check(b[lo:hi].count(0) == hi - lo, f"{what}: nonzero padding or reserved bytes")


def _inflate(b):
    """Section 3.1: the uncompressed image of a compressed file."""
    file_len, = struct.unpack_from("<Q", b, 40)
    zcrc, = struct.unpack_from("<I", b, 60)
    stream = b[64:]
    _check(file_len >= 64 and file_len - 64 <= 1032 * len(stream) and file_len <= 1 << 36,
           "compressed: impossible uncompressed size")
    _check(zlib.crc32(stream) & 0xFFFFFFFF == zcrc, "compressed data crc")
    d = zlib.decompressobj()
    try:
        body = d.decompress(stream, file_len - 64 + 1)
    except zlib.error as e:
        raise DlorError(f"compressed: {e}")
    _check(d.eof and len(body) == file_len - 64 and not d.unused_data and not d.unconsumed_tail,
           "compressed: the stream does not inflate to exactly file_len - 64 bytes")
    freq, = struct.unpack_from("<I", b, 48)
    return b[:48] + struct.pack("<I", freq & ~1) + b[52:60] + b"\0\0\0\0" + body


def _utf8(raw, what):
    _check(b"\0" not in raw, f"{what}: NUL byte")
    try:
        return raw.decode("utf-8")  # strict: no overlong forms, surrogates or code points above U+10FFFF
    except UnicodeDecodeError:
        raise DlorError(f"{what}: not valid UTF-8")


def _parse(b):
    """Checks everything section 9 lists; returns the parts."""
    _check(len(b) >= 64 and b[:8] == MAGIC, "bad magic")
    freq, = struct.unpack_from("<I", b, 48)
    if freq & 1:
        b = _inflate(b)
    major, minor, tag, header_len, data_offset, data_len, file_len, freq, nsec, hcrc, dcrc = \
        struct.unpack_from("<HHIQQQQIIII", b, 8)
    _check(major == 1, f"major version {major}")
    _check(tag == 0x01020304, "endian tag")
    _check(freq == 0, f"unknown required flags {freq:#x}")
    _check(dcrc == 0, "data_crc32 of an uncompressed file is not 0")
    # 2. sizes
    _check(file_len == len(b), "file_len is not the file's size")
    _check(1 <= nsec <= MAX_SECTIONS, f"{nsec} sections")
    _check(64 + 32 * nsec <= header_len <= min(MAX_HEADER, file_len), "header_len")
    _check(data_offset == _align(header_len, 64), "data_offset")
    _check(data_offset + data_len == file_len, "data_len")
    # 3. header checksum, before any record is read
    _check(zlib.crc32(b[:56] + b"\0\0\0\0" + b[60:header_len]) & 0xFFFFFFFF == hcrc, "header crc")
    # 4. section directory
    sections, prev = {}, None
    pos = _align(64 + 32 * nsec, 8)
    _zero(b, 64 + 32 * nsec, pos, "after the section directory")
    for s in range(nsec):
        kind, esize, off, size, count = struct.unpack_from("<IIQQQ", b, 64 + 32 * s)
        _check(kind >= 0x8000 or kind in ENTRY_SIZES, f"unknown required section kind {kind}")
        _check(prev is None or kind > prev, f"section kind {kind} after {prev}: kinds must increase")
        prev = kind
        _check(off == pos, f"section kind {kind}: placement")
        _check(off + size <= header_len, f"section kind {kind}: runs past header_len")
        if kind in ENTRY_SIZES:
            _check(esize == ENTRY_SIZES[kind], f"section kind {kind}: entry size {esize}")
        _check(count == size if esize == 0 else size == count * esize, f"section kind {kind}: size and count")
        sections[kind] = (off, size, count)
        end = off + size
        if s + 1 < nsec:
            pos = _align(end, 8)
            _check(pos <= header_len, "sections run past header_len")
            _zero(b, end, pos, f"after section kind {kind}")
        else:
            _check(end == header_len, "the last section does not end at header_len")
    _check(all(k in sections for k in (1, 2, 3, 4)), "a required section is missing")
    _zero(b, header_len, data_offset, "before the data")
    poff, psize, _ = sections[1]
    pool = b[poff:poff + psize]

    def string(off, n, lo, hi, what):
        _check(lo <= n <= hi, f"{what}: length {n}")
        _check(off + n <= len(pool), f"{what}: outside the string pool")
        raw = pool[off:off + n]
        _utf8(raw, what)
        return raw

    def increasing(names, what):
        for a, c in zip(names, names[1:]):
            _check(a < c, f"{what} '{c.decode('utf-8')}' out of order or duplicated")  # bytes: bytewise order

    # 5. metadata
    off, _, count = sections[2]
    _check(count <= MAX_META, "too many metadata records")
    keys, meta, text = [], {}, 0
    for i in range(count):
        ko, kl, vo, vl = struct.unpack_from("<IIII", b, off + 16 * i)
        k = string(ko, kl, 1, MAX_NAME, f"metadata record {i} key")
        v = string(vo, vl, 0, MAX_VALUE, f"metadata record {i} value")
        keys.append(k)
        meta[k.decode("utf-8")] = v.decode("utf-8")
        text += kl + vl
    increasing(keys, "metadata key")
    _check(text <= MAX_META_TEXT, "metadata text over 1 MiB")
    # 6. tensors
    off, _, count = sections[3]
    _check(count <= MAX_TENSORS, "too many tensors")
    trecs, tnames = [], []
    dpos = data_offset
    for i in range(count):
        r = off + 128 * i
        no, nl, dt, ndim = struct.unpack_from("<IIHB", b, r)
        name = string(no, nl, 1, MAX_NAME, f"tensor record {i} name")
        sname = name.decode("utf-8")
        _check(dt in SIZES, f"tensor {sname}: unknown dtype {dt}")
        _check(ndim <= MAX_NDIM, f"tensor {sname}: {ndim} dimensions")
        _zero(b, r + 11, r + 16, f"tensor {sname}")
        _zero(b, r + 100, r + 128, f"tensor {sname}")
        alldims = struct.unpack_from("<8Q", b, r + 16)
        _check(not any(alldims[ndim:]), f"tensor {sname}: unused dimensions not zero")
        dims = alldims[:ndim]
        toff, nbytes, crc = struct.unpack_from("<QQI", b, r + 80)
        want = 1
        for d in dims + (SIZES[dt],):  # every partial product from the left fits in 64 bits
            want *= d
            _check(want < 1 << 64, f"tensor {sname}: size overflows")
        _check(nbytes == want, f"tensor {sname}: nbytes does not match the shape")
        _check(toff == dpos, f"tensor {sname}: offset {toff}, expected {dpos}")
        _check(toff + nbytes <= file_len, f"tensor {sname}: data outside the file")
        raw = b[toff:toff + nbytes]
        _check(zlib.crc32(raw) & 0xFFFFFFFF == crc, f"tensor {sname}: crc")
        _check(dt != BOOL or raw.translate(None, b"\0\1") == b"", f"tensor {sname}: a bool byte other than 0 or 1")
        end = toff + nbytes
        if i + 1 < count:
            dpos = _align(end, 64)
            _check(dpos <= file_len, f"tensor {sname}: the file ends inside padding")
            _zero(b, end, dpos, f"after tensor {sname}")
        else:
            dpos = end
        trecs.append(dict(name=sname, dtype=dt, dims=dims, raw=raw))
        tnames.append(name)
    _check(dpos == file_len, "bytes after the last tensor")
    increasing(tnames, "tensor")
    # 7. layers
    off, _, count = sections[4]
    _check(count <= MAX_LAYERS, "too many layers")
    lrecs, lnames = [], []
    for i in range(count):
        r = off + 128 * i
        no, nl, method, basis, layout = struct.unpack_from("<IIHHH", b, r)
        name = string(no, nl, 1, MAX_NAME, f"layer record {i} name")
        sname = name.decode("utf-8")
        rows, cols, rank, factors = struct.unpack_from("<QQQQ", b, r + 16)
        alpha, = struct.unpack_from("<d", b, r + 48)
        ui, vi, sdt = struct.unpack_from("<IIH", b, r + 56)
        seed, = struct.unpack_from("<Q", b, r + 72)
        _check((method, basis) in ((1, 1), (1, 2), (2, 3)), f"layer {sname}: method {method} with basis {basis}")
        _check(layout in (0, 1), f"layer {sname}: U layout {layout}")
        _zero(b, r + 14, r + 16, f"layer {sname}")
        _zero(b, r + 66, r + 72, f"layer {sname}")
        _zero(b, r + 80, r + 128, f"layer {sname}")
        _check(rows >= 1 and cols >= 1, f"layer {sname}: empty shape")
        _check(ui < len(trecs) and vi < len(trecs) and ui != vi, f"layer {sname}: factor tensor indices")
        U, V = trecs[ui], trecs[vi]
        kmax = max(rows, cols) if method == 1 else min(rows, cols)
        du, dv = (kmax, kmax) if method == 1 else (rows, cols)
        _check(U["dtype"] in FLOATS and V["dtype"] == U["dtype"], f"layer {sname}: factor dtypes")
        _check(len(U["dims"]) == 2 and len(V["dims"]) == 2, f"layer {sname}: factor tensors not 2-D")
        K = U["dims"][0]
        _check(1 <= K <= kmax, f"layer {sname}: K = {K}")
        _check(1 <= rank <= K and factors == -(-K // rank), f"layer {sname}: rank {rank}, factors {factors}")
        _check(U["dims"] == (K, du) and V["dims"] == (K, dv), f"layer {sname}: factor shapes")
        _check(math.isfinite(alpha) and (method == 2 or alpha != 0), f"layer {sname}: alpha {alpha}")
        _check(sdt in FLOATS, f"layer {sname}: source dtype {sdt} is not a float dtype")
        _check(basis == 2 or seed == 0, f"layer {sname}: seed set for a non-random basis")
        if layout == 1:
            _check(U["name"] == sname + ".dlor.U", f"layer {sname}: U in panels named '{U['name']}'")
        lrecs.append(dict(name=sname, method=method, basis=basis, rows=rows, cols=cols, rank=rank,
                          factors=factors, alpha=alpha, ui=ui, vi=vi, source_dtype=sdt, seed=seed, u_layout=layout))
        lnames.append(name)
    increasing(lnames, "layer")
    # 8. a U tensor in panels is used by its layer alone
    panel_u = {L["ui"] for L in lrecs if L["u_layout"] == 1}
    for L in lrecs:
        _check(L["vi"] not in panel_u and (L["u_layout"] == 1 or L["ui"] not in panel_u),
               f"layer {L['name']}: uses another layer's U stored in panels")
    # 9. graph
    ops = _parse_graph(b, sections.get(0x8001), trecs, lrecs, panel_u)
    return meta, trecs, lrecs, ops


def _parse_graph(b, sec, trecs, lrecs, panel_u):
    if sec is None:
        return []
    off, _, count = sec
    _check(count <= MAX_OPS, "too many graph operations")
    lnames = {L["name"] for L in lrecs}
    ops = []
    cur, have = None, False          # features flowing; whether a LINEAR has run
    group, gin, gout, branch_linear = False, None, None, False

    def float_vector(idx, n, what):
        _check(idx < len(trecs), f"{what}: bias index")
        t = trecs[idx]
        _check(t["dtype"] in FLOATS and t["dims"] == (n,), f"{what}: bias '{t['name']}' is not a float vector of {n}")
        return t["name"]

    for i in range(count):
        kind, act, res0, widx, bidx, flags, res1 = struct.unpack_from("<HHIIIII", b, off + 32 * i)
        param, = struct.unpack_from("<d", b, off + 32 * i + 24)
        what = f"graph op {i}"
        _check(kind in GRAPH_KINDS, f"{what}: unknown kind {kind}")
        _check(res0 == 0 and res1 == 0 and flags & ~1 == 0, f"{what}: reserved bytes")
        op = dict(kind=GRAPH_KINDS[kind], act=act, param=param, weight=None, is_layer=False, bias=None)
        if kind == 2:
            _check(0 <= act <= MAX_ACT and math.isfinite(param) and (act == 2 or param == 0), f"{what}: activation")
            _check(widx == 0 and bidx == 0 and flags == 0, f"{what}: activation with operands")
        elif kind == 3:
            _check(act == 0 and param == 0 and widx == 0 and bidx == 0 and flags == 0, f"{what}: softmax with operands")
        elif kind == 4:
            _check(math.isfinite(param) and act == 0 and widx == 0 and bidx == 0 and flags == 0, f"{what}: branch fields")
            if group:
                _check(branch_linear, f"{what}: a branch without a linear operation")
                _check(gout is None or cur == gout, f"{what}: branches give different widths")
                gout = cur
            else:
                group, gin, gout = True, cur, None
            branch_linear = False
            cur = gin
        elif kind == 5:
            _check(act == 0 and param == 0 and widx == 0 and flags == 0, f"{what}: merge fields")
            _check(group, f"{what}: merge without a branch")
            _check(branch_linear, f"{what}: a branch without a linear operation")
            _check(gout is None or cur == gout, f"{what}: branches give different widths")
            if bidx != 0xFFFFFFFF:
                op["bias"] = float_vector(bidx, cur, what)
            group, have = False, True
        else:
            _check(act == 0 and param == 0, f"{what}: linear with an activation field")
            if flags & 1:
                _check(widx < len(lrecs), f"{what}: layer index")
                L = lrecs[widx]
                n_in, n_out, op["weight"] = L["cols"], L["rows"], L["name"]
            else:
                _check(widx < len(trecs), f"{what}: tensor index")
                t = trecs[widx]
                _check(len(t["dims"]) == 2 and t["dtype"] in FLOATS and math.prod(t["dims"]) > 0,
                       f"{what}: weight '{t['name']}' is not a 2-D float tensor")
                _check(t["name"] not in lnames, f"{what}: weight tensor named like a layer")
                _check(widx not in panel_u, f"{what}: weight is a layer's U stored in panels")
                n_out, n_in = t["dims"]
                op["weight"] = t["name"]
            op["is_layer"] = bool(flags & 1)
            if bidx != 0xFFFFFFFF:
                op["bias"] = float_vector(bidx, n_out, what)
            _check(cur is None or n_in == cur, f"{what} takes {n_in} features but receives {cur}")
            if group and gin is None:
                gin = n_in  # a group opening the graph
            branch_linear, have, cur = True, True, n_out
        ops.append(op)
    _check(not group, "the graph ends inside a branch group")
    _check(count == 0 or have, "the graph has no linear operation")
    return ops


def _load(path):
    with open(path, "rb") as f:
        return _parse(f.read())


def _array(t):
    raw, dt = t["raw"], t["dtype"]
    if dt == 3:
        arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        arr = np.frombuffer(raw, DTYPES[dt])
    return arr.reshape(t["dims"])


def read(path):
    """(metadata {key: value}, tensors {name: array}, layers {name: dict}) of a valid file; DlorError
    naming the rule a file breaks otherwise."""
    meta, trecs, lrecs, _ = _load(path)
    tensors = {t["name"]: _array(t) for t in trecs}
    layers = {}
    for L in lrecs:
        U = tensors[trecs[L["ui"]]["name"]]
        layers[L["name"]] = dict(method=L["method"], basis=L["basis"], rows=L["rows"], cols=L["cols"],
                                 rank=L["rank"], factors=L["factors"], alpha=L["alpha"],
                                 U=unpanel(U, L["rank"]) if L["u_layout"] == 1 else U,
                                 V=tensors[trecs[L["vi"]]["name"]], source_dtype=L["source_dtype"], seed=L["seed"],
                                 u_layout=L["u_layout"])
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


def read_graph(path):
    """The GRAPH section (kind 0x8001) as a list of dicts: kind ('linear', 'act',
    'softmax', 'branch', 'merge'), act, param, weight (a layer or tensor name),
    is_layer, bias (a tensor name or None). [] when the file has no graph."""
    return _load(path)[3]


def _act(code, x, p):
    if code == 0:
        return x
    if code == 1:
        return np.where(x < 0, 0.0, x)  # NaN stays NaN (section 7.4)
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
