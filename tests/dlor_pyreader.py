"""An independent .dlor reader written from formats/DLOR_FORMAT.md alone.

Used by the tests as a second implementation: it parses the container with
Python's struct and zlib and enforces every rule of the spec's section 9 (a
file it accepts is valid, and it raises DlorError naming the broken rule
otherwise), rebuilds each layer's dense matrix with numpy, and runs the model
graph in float64, without any of dlor's C code: a chain (section 7.4, branch
groups of format 1.3 included) or a DAG (section 7.7, format 1.5: embeddings,
norms, attention with masks, causal order, rotary embedding and grouped-query
heads, pooling), each op written with numpy's array operations from the spec's
formulas.
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
QUANT = {14: 32, 15: 16}  # 6.1: q8, q4 and the value bytes of a block of 32
WEIGHTS = FLOATS + tuple(QUANT)
BOOL = 13
MIB = 1 << 20
# section 8
MAX_HEADER, MAX_SECTIONS, MAX_TENSORS, MAX_LAYERS, MAX_META, MAX_META_TEXT = 64 * MIB, 64, 1 << 20, 1 << 20, 65536, MIB
MAX_NAME, MAX_VALUE, MAX_NDIM, MAX_OPS = 255, 65535, 8, 65536
# section 4: required kinds and their entry sizes; GRAPH is optional
ENTRY_SIZES = {1: 0, 2: 16, 3: 128, 4: 128, 0x8001: 32, 0x8002: 96}
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


def _quant_parts(raw, dt, dims):
    """6.1: the values [R, B, 32] (int) and the scales [R, B] (float16) of a q8 or q4 tensor."""
    R, C = dims
    B, vb = -(-C // 32), QUANT[dt]
    vals = np.frombuffer(raw, np.uint8, R * B * vb).reshape(R, B, vb)
    scales = np.frombuffer(raw, "<f2", R * B, R * B * vb).reshape(R, B)
    if dt == 14:
        q = vals.view(np.int8).astype(np.int32)
    else:
        lo, hi = (vals & 15).astype(np.int32), (vals >> 4).astype(np.int32)
        q = np.concatenate([(lo ^ 8) - 8, (hi ^ 8) - 8], axis=2)
    return q, scales


def _check_quant(raw, dt, dims, sname):
    q, scales = _quant_parts(raw, dt, dims)
    bits = scales.view(np.uint16)
    _check(not ((bits & 0x7C00) == 0x7C00).any(), f"tensor {sname}: a scale is not finite")
    _check(not (bits & 0x8000).any(), f"tensor {sname}: a scale is negative")
    _check(not q.reshape(dims[0], -1)[:, dims[1]:].any(), f"tensor {sname}: a padding value is not 0")


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
    _check(not (0x8001 in sections and 0x8002 in sections), "two graph sections (GRAPH and DAG)")
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
        _check(dt in SIZES or dt in QUANT, f"tensor {sname}: unknown dtype {dt}")
        _check(dt not in QUANT or ndim == 2, f"tensor {sname}: a quantized tensor is not 2-D")
        _check(ndim <= MAX_NDIM, f"tensor {sname}: {ndim} dimensions")
        _zero(b, r + 11, r + 16, f"tensor {sname}")
        _zero(b, r + 100, r + 128, f"tensor {sname}")
        alldims = struct.unpack_from("<8Q", b, r + 16)
        _check(not any(alldims[ndim:]), f"tensor {sname}: unused dimensions not zero")
        dims = alldims[:ndim]
        toff, nbytes, crc = struct.unpack_from("<QQI", b, r + 80)
        want = 1
        if dt in QUANT:  # 6.1: R * ceil(C / 32) blocks of vb value bytes and a 2-byte scale
            want = dims[0] * -(-dims[1] // 32) * (QUANT[dt] + 2) if dims[0] and dims[1] else 0
            _check(want < 1 << 64, f"tensor {sname}: size overflows")
        for d in dims + (SIZES[dt],) if dt in SIZES else ():  # every partial product from the left fits in 64 bits
            want *= d
            _check(want < 1 << 64, f"tensor {sname}: size overflows")
        _check(nbytes == want, f"tensor {sname}: nbytes does not match the shape")
        _check(toff == dpos, f"tensor {sname}: offset {toff}, expected {dpos}")
        _check(toff + nbytes <= file_len, f"tensor {sname}: data outside the file")
        raw = b[toff:toff + nbytes]
        _check(zlib.crc32(raw) & 0xFFFFFFFF == crc, f"tensor {sname}: crc")
        _check(dt != BOOL or raw.translate(None, b"\0\1") == b"", f"tensor {sname}: a bool byte other than 0 or 1")
        if dt in QUANT and nbytes:
            _check_quant(raw, dt, dims, sname)
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
        lflags, = struct.unpack_from("<H", b, r + 14)
        bi, = struct.unpack_from("<I", b, r + 80)
        _check(lflags & ~1 == 0, f"layer {sname}: unknown flags {lflags:#x}")
        _zero(b, r + 66, r + 72, f"layer {sname}")
        _zero(b, r + 84, r + 128, f"layer {sname}")
        if lflags & 1:  # 1.7: W = B + the add layer's matrix
            _check(method == 2, f"layer {sname}: a base tensor on method {method}")
            _check(bi < len(trecs) and bi not in (ui, vi), f"layer {sname}: base tensor index {bi}")
            Bt = trecs[bi]
            _check(Bt["dtype"] in WEIGHTS and Bt["dims"] == (rows, cols), f"layer {sname}: base tensor dtype/shape")
        else:
            _check(bi == 0, f"layer {sname}: base index without the flag")
            bi = None
        _check(rows >= 1 and cols >= 1, f"layer {sname}: empty shape")
        _check(ui < len(trecs) and vi < len(trecs) and ui != vi, f"layer {sname}: factor tensor indices")
        U, V = trecs[ui], trecs[vi]
        kmax = max(rows, cols) if method == 1 else min(rows, cols)
        du, dv = (kmax, kmax) if method == 1 else (rows, cols)
        _check(U["dtype"] in WEIGHTS and V["dtype"] == U["dtype"], f"layer {sname}: factor dtypes")
        _check(U["dtype"] in FLOATS or layout == 0, f"layer {sname}: a quantized U in panels")
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
                          factors=factors, alpha=alpha, ui=ui, vi=vi, source_dtype=sdt, seed=seed, u_layout=layout,
                          bi=bi))
        lnames.append(name)
    increasing(lnames, "layer")
    # 8. a U tensor in panels is used by its layer alone
    panel_u = {L["ui"] for L in lrecs if L["u_layout"] == 1}
    for L in lrecs:
        _check(L["vi"] not in panel_u and L["bi"] not in panel_u and (L["u_layout"] == 1 or L["ui"] not in panel_u),
               f"layer {L['name']}: uses another layer's U stored in panels")
    # 9. graph; 10. DAG
    ops = _parse_graph(b, sections.get(0x8001), trecs, lrecs, panel_u)
    nodes = _parse_dag(b, sections.get(0x8002), trecs, lrecs, panel_u, string)
    return meta, trecs, lrecs, ops, nodes


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
                _check(len(t["dims"]) == 2 and t["dtype"] in WEIGHTS and math.prod(t["dims"]) > 0,
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


def _load_all(path):
    with open(path, "rb") as f:
        return _parse(f.read())


def _load(path):
    """(metadata, tensor records, layer records, GRAPH operations) of a valid file."""
    return _load_all(path)[:4]


def _array(t):
    raw, dt = t["raw"], t["dtype"]
    if dt == 3:
        arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    elif dt in QUANT:  # 6.1: scale * value, exact in float32
        R, C = t["dims"]
        if R == 0 or C == 0:
            return np.zeros((R, C), np.float32)
        q, scales = _quant_parts(raw, dt, t["dims"])
        arr = (scales.astype(np.float32)[:, :, None] * q.astype(np.float32)).reshape(R, -1)[:, :C]
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
                                 u_layout=L["u_layout"],
                                 B=None if L["bi"] is None else tensors[trecs[L["bi"]]["name"]])
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
    if layer.get("B") is not None:
        W += layer["B"].astype(np.float64)
    return W


# ---- the DAG section (7.7) ------------------------------------------------------------

DAG_KINDS = {1: "linear", 2: "act", 3: "softmax", 6: "input", 7: "output", 8: "embed", 9: "pos_embed",
             10: "add", 11: "mul", 12: "scale", 13: "layernorm", 14: "rmsnorm", 15: "attention", 16: "pool",
             17: "l2norm"}
ROWS, TOKENS, IDS, MASK = 1, 2, 3, 4
FEATURES_IN, IDS_IN, MASK_IN, TYPE_IDS_IN = 1, 2, 3, 4
NONE = 0xFFFFFFFF
MAX_OUTPUTS = 64
# which in slots a kind must fill / may fill, and which fields it uses (7.7's kind table)
_NEED = {"input": (), "add": (0, 1), "mul": (0, 1), "attention": (0, 1, 2)}
_MAY = {"attention": (3,), "pool": (1,)}
_WEIGHT = {"linear", "embed", "pos_embed", "layernorm", "rmsnorm"}
_BIAS = {"linear", "scale", "layernorm"}
_P0 = {"act", "scale", "layernorm", "rmsnorm", "l2norm", "attention"}
_CODE = {"act", "input", "pool"}
_ROWWISE = ("act", "softmax", "scale", "layernorm", "rmsnorm", "l2norm")


def _parse_dag(b, sec, trecs, lrecs, panel_u, string):
    """Rule 10: the DAG section's nodes, each a dict (kind name, code, in: the used
    slots' value numbers, slots: all four, weight/bias: tensor or layer names or
    None, is_layer, causal, name, heads, kv_heads, type, features, p0, p1); None
    when the file has no DAG section."""
    if sec is None:
        return None
    off, _, count = sec
    _check(count <= MAX_OPS, "too many graph nodes")
    lnames = {L["name"] for L in lrecs}
    nodes, modes, outputs, in_names, out_names = [], {}, 0, set(), set()
    for i in range(count):
        r = off + 96 * i
        what = f"graph node {i}"
        kind, code, flags = struct.unpack_from("<HHI", b, r)
        slots = list(struct.unpack_from("<4I", b, r + 8))
        widx, bidx, no, nl, heads, kv = struct.unpack_from("<6I", b, r + 24)
        features, = struct.unpack_from("<Q", b, r + 48)
        vtype = b[r + 56]
        p0, p1 = struct.unpack_from("<dd", b, r + 64)
        _check(kind in DAG_KINDS, f"{what}: unknown kind {kind}")
        _zero(b, r + 57, r + 64, what)
        _zero(b, r + 80, r + 96, what)
        k = DAG_KINDS[kind]
        _check(len(nodes) == len(modes) if k == "input" else len(modes) > 0, f"{what}: the inputs come first")
        allowed = {"linear": 1, "attention": 2}.get(k, 0)
        named = k in ("input", "output")
        _check(flags & ~allowed == 0 and (k in _WEIGHT or widx == NONE) and (k in _BIAS or bidx == NONE)
               and (k in _P0 or p0 == 0) and (k == "attention" or p1 == 0) and (k in _CODE or code == 0)
               and (named or (no == 0 and nl == 0)) and (k == "attention" or (heads == 0 and kv == 0)),
               f"{what} ({k}): a field its kind does not use is set")
        _check(math.isfinite(p0) and math.isfinite(p1), f"{what}: parameter is not finite")
        need, may = _NEED.get(k, (0,)), _MAY.get(k, ())
        for s, v in enumerate(slots):
            if v == NONE:
                _check(s not in need, f"{what}: input {s} is missing")
                continue
            _check(s in need or s in may, f"{what}: reads a value in slot {s}, which it has not")
            _check(v < i, f"{what} reads value {v}, which is not made before it")
            _check(nodes[v]["kind"] != "output", f"{what} reads value {v}, an output")
        n = dict(kind=k, code=code, slots=slots, ins=[v for v in slots if v != NONE], is_layer=bool(flags & 1),
                 causal=bool(flags & 2), weight=None, bias=None, name=None, heads=heads, kv_heads=kv,
                 type=vtype, features=features, p0=p0, p1=p1)
        if named:
            n["name"] = string(no, nl, 1, MAX_NAME, f"{what} name").decode("utf-8")
        typ, f = _dag_shape(n, slots, widx, bidx, nodes, modes, trecs, lrecs, lnames, panel_u, what)
        if k == "input":
            _check(n["name"] not in in_names, f"{what}: two inputs are named '{n['name']}'")
            in_names.add(n["name"])
            modes[code] = i
        elif k == "output":
            _check(outputs < MAX_OUTPUTS, f"{what}: more than {MAX_OUTPUTS} outputs")
            _check(n["name"] not in out_names, f"{what}: two outputs are named '{n['name']}'")
            out_names.add(n["name"])
            outputs += 1
        _check((vtype, features) == (typ, f),
               f"{what}: declares a value of type {vtype} with {features} features, but makes type {typ} with {f}")
        nodes.append(n)
    _check(not (FEATURES_IN in modes and IDS_IN in modes), "graph takes both features and token ids")
    _check(IDS_IN in modes or not (MASK_IN in modes or TYPE_IDS_IN in modes),
           "graph takes a mask or token type ids but no token ids")
    _check(count == 0 or outputs >= 1, "graph has no output")
    return nodes


def _dag_shape(n, slots, widx, bidx, nodes, modes, trecs, lrecs, lnames, panel_u, what):
    """The (type, F) node n makes, by 7.7's kind table, after checking what it reads and its
    tensors; fills n's weight and bias names."""
    k = n["kind"]
    x = nodes[slots[0]] if slots[0] != NONE else None
    xt, xf = (x["type"], x["features"]) if x else (None, None)

    def tensor(idx, role, ndim, first, second=None):
        _check(idx < len(trecs), f"{what}: {role} tensor index {idx} out of range")
        _check(idx not in panel_u, f"{what}: {role} is a layer's U stored in panels")
        t = trecs[idx]
        _check(len(t["dims"]) == ndim and (t["dtype"] in FLOATS or (role == "weight" and ndim == 2 and t["dtype"] in QUANT))
               and math.prod(t["dims"]) > 0
               and (first is None or t["dims"][0] == first) and (second is None or t["dims"][1] == second),
               f"{what}: {role} '{t['name']}' is not a non-empty float {ndim}-D tensor of the right shape")
        return t

    def is_mask(v):
        return v == modes.get(MASK_IN, -1)

    if k == "input":
        _check(n["code"] in (1, 2, 3, 4), f"{what}: unknown input mode {n['code']}")
        _check(n["code"] not in modes, f"{what}: two inputs of mode {n['code']}")
        _check((n["code"] == FEATURES_IN) == (n["features"] != 0),
               f"{what}: a features input has a feature count, others none")
        return {1: ROWS, 2: IDS, 3: MASK, 4: IDS}[n["code"]], n["features"]
    if k in ("output", "linear", "add", "mul") + _ROWWISE:
        _check(xt in (ROWS, TOKENS), f"{what}: {k} of an integer value")
    if k == "output":
        return xt, xf
    if k == "linear":
        if n["is_layer"]:
            _check(widx < len(lrecs), f"{what}: layer index {widx} out of range")
            L = lrecs[widx]
            _check(L["cols"] == xf, f"{what}: layer '{L['name']}' takes {L['cols']} features but receives {xf}")
            n["weight"], out = L["name"], L["rows"]
        else:
            t = tensor(widx, "weight", 2, None, xf)
            _check(t["name"] not in lnames, f"{what}: weight tensor '{t['name']}' has the name of a layer")
            n["weight"], out = t["name"], t["dims"][0]
        if bidx != NONE:
            n["bias"] = tensor(bidx, "bias", 1, out)["name"]
        return xt, out
    if k in _ROWWISE:
        if k == "act":
            _check(n["code"] <= MAX_ACT and (n["code"] == 2 or n["p0"] == 0), f"{what}: bad activation {n['code']}")
        if k in ("layernorm", "rmsnorm", "l2norm"):
            _check(n["p0"] > 0, f"{what}: eps {n['p0']} is not > 0")
        if k in _WEIGHT and widx != NONE:
            n["weight"] = tensor(widx, "weight", 1, xf)["name"]
        if k in _BIAS and bidx != NONE:
            n["bias"] = tensor(bidx, "bias", 1, xf)["name"]
        return xt, xf
    if k in ("embed", "pos_embed"):
        _check(xt == IDS or (k == "pos_embed" and xt == MASK), f"{what}: {k} reads no ids")
        t = tensor(widx, "table", 2, None)
        n["weight"] = t["name"]
        return TOKENS, t["dims"][1]
    if k in ("add", "mul"):
        y = nodes[slots[1]]
        _check((xt, xf) == (y["type"], y["features"]), f"{what}: adds or multiplies values of different shapes")
        return xt, xf
    if k == "attention":
        kk, v = nodes[slots[1]], nodes[slots[2]]
        h, g = n["heads"], n["kv_heads"]
        _check(xt == kk["type"] == v["type"] == TOKENS, f"{what}: attention of values that are not [N, S, F]")
        _check(h >= 1 and g >= 1 and h % g == 0 and xf % h == 0 and v["features"] % g == 0,
               f"{what}: {h} heads and {g} kv heads do not divide q or v")
        d = xf // h
        _check(kk["features"] == g * d, f"{what}: k has {kk['features']} features, not {g} kv heads of {d}")
        _check(slots[3] == NONE or is_mask(slots[3]), f"{what}: the mask is not the mask input")
        _check(n["p0"] >= 0 and n["p1"] >= 0 and (n["p1"] == 0 or d % 2 == 0),
               f"{what}: bad scale {n['p0']} or rotary theta {n['p1']}")
        return TOKENS, h * (v["features"] // g)
    if k == "pool":
        _check(xt == TOKENS, f"{what}: pooling of a value that is not [N, S, F]")
        _check(slots[1] == NONE or is_mask(slots[1]), f"{what}: the mask is not the mask input")
        _check(n["code"] in (1, 2), f"{what}: unknown pooling mode {n['code']}")
        return ROWS, xf
    raise DlorError(f"{what}: kind {k}")


def read_dag(path):
    """The DAG section (kind 0x8002) as a list of node dicts (see _parse_dag); None when
    the file has no DAG section. DlorError naming the broken rule for an invalid file."""
    return _load_all(path)[4]


def _rope(u, theta):
    """Rotary embedding, Hugging Face's rotate_half form: u [..., S, d] by position."""
    S, d = u.shape[-2], u.shape[-1]
    inv = theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    ang = np.outer(np.arange(S, dtype=np.float64), inv)
    emb = np.concatenate([ang, ang], axis=-1)
    half = np.concatenate([-u[..., d // 2:], u[..., :d // 2]], axis=-1)
    return u * np.cos(emb) + half * np.sin(emb)


def run(path, x=None, ids=None, mask=None, type_ids=None):
    """Runs the file's graph in float64: a chain on features x, or a DAG on x or on
    token ids [N, S] (mask and type_ids optional, as 7.7 says). Returns a dict of
    output name -> array."""
    nodes = read_dag(path)
    if nodes is None:
        return {"output": forward(path, x)}
    meta, tensors, layers = read(path)
    W = {name: t.astype(np.float64) for name, t in tensors.items() if t.dtype.kind == "f"}
    if ids is not None:
        ids = np.asarray(ids, dtype=np.int64)
        N, S = ids.shape
    vals, out = [], {}
    for i, n in enumerate(nodes):
        k = n["kind"]
        a = vals[n["ins"][0]] if n["ins"] else None
        if k == "input":
            y = {1: None if x is None else np.asarray(x, np.float64), 2: ids,
                 3: np.ones((N, S), np.int64) if mask is None and ids is not None else mask,
                 4: np.zeros((N, S), np.int64) if type_ids is None and ids is not None else type_ids}[n["code"]]
            _check(y is not None, f"input '{n['name']}' not given")
            if n["code"] == MASK_IN:
                y = np.asarray(y, np.int64)
                _check(np.isin(y, (0, 1)).all(), "a mask value other than 0 or 1")
        elif k == "output":
            out[n["name"]] = a
            y = a
        elif k == "linear":
            M = rebuild(layers[n["weight"]]) if n["is_layer"] else W[n["weight"]]
            y = a @ M.T + (W[n["bias"]] if n["bias"] else 0)
        elif k == "act":
            y = _act(n["code"], a, n["p0"])
        elif k == "softmax":
            e = np.exp(a - a.max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
        elif k == "embed":
            T = W[n["weight"]]
            _check(a.min() >= 0 and a.max() < T.shape[0], "an id outside the table")
            y = T[a]
        elif k == "pos_embed":
            T = W[n["weight"]]
            _check(a.shape[1] <= T.shape[0], "a sequence longer than the position table")
            y = np.broadcast_to(T[:a.shape[1]], a.shape + (T.shape[1],))
        elif k == "add":
            y = a + vals[n["ins"][1]]
        elif k == "mul":
            y = a * vals[n["ins"][1]]
        elif k == "scale":
            y = n["p0"] * a + (W[n["bias"]] if n["bias"] else 0)
        elif k == "layernorm":
            m = a.mean(axis=-1, keepdims=True)
            v = ((a - m) ** 2).mean(axis=-1, keepdims=True)
            y = (a - m) / np.sqrt(v + n["p0"])
            y = y * (W[n["weight"]] if n["weight"] else 1) + (W[n["bias"]] if n["bias"] else 0)
        elif k == "rmsnorm":
            y = a / np.sqrt((a * a).mean(axis=-1, keepdims=True) + n["p0"]) * (W[n["weight"]] if n["weight"] else 1)
        elif k == "l2norm":
            y = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), n["p0"])
        elif k == "pool":
            m = vals[n["slots"][1]] if n["slots"][1] != NONE else np.ones(a.shape[:2], np.int64)
            if n["code"] == 2:
                y = a[:, 0]
            else:
                cnt = m.sum(axis=1)[:, None].astype(np.float64)
                y = np.where(cnt > 0, (a * m[..., None]).sum(axis=1) / np.maximum(cnt, 1), 0.0)
        elif k == "attention":
            q, kk, v = (vals[j] for j in n["slots"][:3])
            h, g = n["heads"], n["kv_heads"]
            Nn, Ss = q.shape[:2]
            d, dv = q.shape[2] // h, v.shape[2] // g
            qh = q.reshape(Nn, Ss, h, d).transpose(0, 2, 1, 3)
            kh = np.repeat(kk.reshape(Nn, Ss, g, d).transpose(0, 2, 1, 3), h // g, axis=1)
            vh = np.repeat(v.reshape(Nn, Ss, g, dv).transpose(0, 2, 1, 3), h // g, axis=1)
            if n["p1"] > 0:
                qh, kh = _rope(qh, n["p1"]), _rope(kh, n["p1"])
            scale = n["p0"] if n["p0"] > 0 else 1 / math.sqrt(d)
            e = scale * qh @ kh.transpose(0, 1, 3, 2)
            seen = np.ones((Nn, 1, Ss, Ss), bool)
            if n["slots"][3] != NONE:
                seen &= (vals[n["slots"][3]] == 1)[:, None, None, :]
            if n["causal"]:
                seen &= np.tril(np.ones((Ss, Ss), bool))
            e = np.where(seen, e, -np.inf)
            mx = np.max(e, axis=-1, keepdims=True)
            p = np.where(seen, np.exp(e - np.where(np.isfinite(mx), mx, 0)), 0.0)
            tot = p.sum(axis=-1, keepdims=True)
            p = np.where(tot > 0, p / np.where(tot > 0, tot, 1), 0.0)
            y = (p @ vh).transpose(0, 2, 1, 3).reshape(Nn, Ss, h * dv)
        else:
            raise DlorError(f"node {i}: kind {k}")
        vals.append(y)
    return out
