#!/usr/bin/env python3
"""Writes the generated seed files of the fuzz corpora (tests/fuzz/corpus/).

    python3 tests/fuzz/make_seeds.py DLOR_BINARY

Seeds are small valid (or nearly valid) files of every format dlor reads,
built byte by byte here (ONNX protobuf, pickles, zip archives via numpy) or
converted with the dlor binary (.dlor images), plus copies of the small
samples. Output is deterministic. libFuzzer adds what it finds to the corpora
and `-merge=1` keeps them small (see FUZZING.md).
"""
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def copy(target, path, name=None):
    with open(os.path.join(ROOT, path), "rb") as f:
        put(target, name or os.path.basename(path), f.read())


# ---- safetensors -----------------------------------------------------------

def safetensors(tensors, meta=None):
    import json
    hdr, blob = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def seeds_safetensors():
    copy("safetensors", "samples/sawtooth/sawtooth.safetensors")
    f32 = lambda a: np.asarray(a, "<f4").tobytes()
    w0, b0 = f32(np.arange(6) / 4 - 0.5), f32([0.1, -0.2, 0.3])
    w1, b1 = f32(np.arange(6) / 8), f32([0.5, 0.25])
    put("safetensors", "graph-meta", safetensors(
        [("0.weight", "F32", [3, 2], w0), ("0.bias", "F32", [3], b0),
         ("2.weight", "F32", [2, 3], w1), ("2.bias", "F32", [2], b1)],
        {"dlor.graph": "linear(0.weight,0.bias); leaky_relu(0.1); linear(2.weight,2.bias); softmax"}))
    put("safetensors", "names", safetensors(
        [("0.weight", "F32", [3, 2], w0), ("0.bias", "F32", [3], b0), ("2.weight", "F32", [2, 3], w1)]))
    put("safetensors", "dtypes", safetensors(
        [("a", "F64", [2], np.asarray([1.5, -2], "<f8").tobytes()),
         ("b", "F16", [2, 1], np.asarray([1, -2], "<f2").tobytes()),
         ("c", "BF16", [1, 2], b"\x80\x3f\x00\xc0"),
         ("d", "I64", [], struct.pack("<q", -7)), ("e", "BOOL", [3], b"\x01\x00\x01"),
         ("f", "U8", [0, 4], b""), ("g", "I32", [1], struct.pack("<i", 3)),
         ("h", "U16", [1], b"\x01\x02"), ("i", "I8", [2], b"\xff\x01"), ("j", "I16", [1], b"\x00\x80")],
        {"format": "pt", "note": "caf\u00e9 \\u \"q\""}))
    put("safetensors", "empty", safetensors([]))
    put("safetensors", "graph-dag", safetensors(
        [("e", "F32", [5, 2], f32(np.arange(10) / 8 - 0.5)), ("p", "F32", [3, 2], f32(np.arange(6) / 4)),
         ("w", "F32", [2, 2], f32([1, -1, 0.5, 2])), ("g", "F32", [2], f32([1, 0.5]))],
        {"dlor.graph": "input(ids, ids); input(mask, mask); %e = embed(%ids, e); pos_embed(%ids, p); add(%e); "
                       "%x = layernorm(g, eps=1e-5); %q = linear(w); attention(%q, %x, %x, %mask, heads=1, causal, "
                       "rope_theta=10); add(%x); output(h); pool(%mask, mean); l2norm; output(y)"}))


# ---- npy / npz ---------------------------------------------------------------

def npy_bytes(a, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, a)
    else:
        from numpy.lib import format as fmt
        fmt.write_array(b, a, version=version)
    return b.getvalue()


def seeds_npy():
    copy("npy", "samples/sawtooth/x_test.npy")
    put("npy", "f4-2d", npy_bytes(np.arange(6, dtype="<f4").reshape(2, 3)))
    put("npy", "f8-be", npy_bytes(np.arange(3, dtype=">f8")))
    put("npy", "f2-fortran", npy_bytes(np.asfortranarray(np.arange(6, dtype="<f2").reshape(3, 2))))
    put("npy", "bool", npy_bytes(np.array([True, False])))
    put("npy", "i8-scalar", npy_bytes(np.array(-5, dtype="<i8")))
    put("npy", "u2-empty", npy_bytes(np.zeros((0, 3), dtype="<u2")))
    put("npy", "v2", npy_bytes(np.arange(4, dtype="<i4"), version=(2, 0)))
    put("npy", "v3", npy_bytes(np.arange(2, dtype="|u1"), version=(3, 0)))
    put("npy", "i2-3d", npy_bytes(np.arange(8, dtype=">i2").reshape(2, 2, 2)))


def npz_bytes(arrays, compressed):
    b = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(b, **arrays)
    return b.getvalue()


def seeds_npz():
    copy("npz", "samples/sawtooth/sawtooth.npz")
    copy("npz", "tests/data/pt/parameter.npz")
    a = {"0.weight": np.arange(6, dtype="<f4").reshape(3, 2) / 7, "0.bias": np.ones(3, "<f4"),
         "2.weight": np.arange(3, dtype="<f8").reshape(1, 3)}
    put("npz", "stored", npz_bytes(a, False))
    put("npz", "deflated", npz_bytes(a, True))
    put("npz", "dtypes", npz_bytes({"h": np.arange(4, dtype=">f2"), "b": np.array([True]),
                                   "i": np.array(3, dtype="<i8")}, True))
    # a zip64 archive as numpy writes one with force_zip64
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        with z.open("w.npy", "w", force_zip64=True) as f:
            f.write(npy_bytes(np.arange(4, dtype="<f4").reshape(2, 2)))
    put("npz", "zip64", b.getvalue())


# ---- ONNX (protobuf written by hand) ---------------------------------------------

def varint(v):
    v &= 2**64 - 1  # negative ints as protobuf writes them: ten bytes
    out = b""
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            out += bytes([c | 0x80])
        else:
            return out + bytes([c])


def fld(num, wt, payload):
    tag = varint((num << 3) | wt)
    if wt == 0:
        return tag + varint(payload)
    if wt == 2:
        return tag + varint(len(payload)) + payload
    return tag + payload  # 1 / 5: fixed bytes given


def s(num, text):
    return fld(num, 2, text.encode() if isinstance(text, str) else text)


def tensor(name, dims, dtype, raw=None, floats=None, packed=True, int32s=None, doubles=None, int64s=None):
    t = b"".join(fld(1, 0, d) for d in dims) + fld(2, 0, dtype) + s(8, name)
    if raw is not None:
        t += s(9, raw)
    if floats is not None:
        if packed:
            t += s(4, struct.pack("<%df" % len(floats), *floats))
        else:
            t += b"".join(fld(4, 5, struct.pack("<f", x)) for x in floats)
    if int32s is not None:
        t += s(5, b"".join(varint(v) for v in int32s))
    if int64s is not None:
        t += s(7, b"".join(varint(v & (2**64 - 1)) for v in int64s))
    if doubles is not None:
        t += s(10, struct.pack("<%dd" % len(doubles), *doubles))
    return t


def attr_i(name, v):
    return s(1, name) + fld(3, 0, v) + fld(20, 0, 2)


def attr_f(name, v):
    return s(1, name) + fld(2, 5, struct.pack("<f", v)) + fld(20, 0, 1)


def node(op, ins, outs, attrs=(), name=None):
    n = b"".join(s(1, i) for i in ins) + b"".join(s(2, o) for o in outs)
    if name:
        n += s(3, name)
    n += s(4, op) + b"".join(s(5, a) for a in attrs)
    return n


def value_info(name, dims):
    shape = b"".join(s(1, fld(1, 0, d) if d else s(2, "N")) for d in dims)
    ttype = fld(1, 0, 1) + s(2, shape)
    return s(1, name) + s(2, s(1, ttype))


def model(nodes, inits, inputs, outputs, opset=13):
    g = b"".join(s(1, n) for n in nodes) + s(2, "g") + b"".join(s(5, t) for t in inits)
    g += b"".join(s(11, value_info(n, d)) for n, d in inputs) + b"".join(s(12, value_info(n, d)) for n, d in outputs)
    return fld(1, 0, 8) + s(2, "dlor-seed") + s(7, g) + s(8, s(1, "") + fld(2, 0, opset))


def seeds_onnx():
    copy("onnx", "samples/sawtooth/sawtooth.onnx")
    for m in ("prenorm_opset17", "prenorm_opset13", "postnorm_opset13"):  # LayerNorm, residual Add
        copy("onnx", f"tests/data/onnx_norms/{m}.onnx")
    w = [0.5, -0.25, 1.0, 0.75, -1.5, 2.0]
    put("onnx", "gemm-relu", model(
        [node("Gemm", ["x", "W", "B"], ["h"], [attr_i("transB", 1), attr_f("alpha", 1.0)], "fc"),
         node("Relu", ["h"], ["y"])],
        [tensor("W", [3, 2], 1, raw=struct.pack("<6f", *w)), tensor("B", [3], 1, floats=[0.1, 0.2, 0.3])],
        [("x", [0, 2])], [("y", [0, 3])]))
    put("onnx", "matmul-add-softmax", model(
        [node("MatMul", ["x", "W"], ["m"]), node("Add", ["m", "B"], ["a"]), node("Tanh", ["a"], ["t"]),
         node("Softmax", ["t"], ["y"], [attr_i("axis", -1)])],
        [tensor("W", [2, 3], 1, floats=w, packed=False), tensor("B", [3], 11, doubles=[1, 2, 3])],
        [("x", [0, 2])], [("y", [0, 3])]))
    put("onnx", "typed", model(
        [node("Flatten", ["x"], ["f"]), node("Gemm", ["f", "W"], ["y"], [attr_i("transB", 0)])],
        [tensor("W", [2, 2], 10, int32s=[0x3C00, 0xC000, 0x3800, 0]),
         tensor("steps", [2], 7, int64s=[5, -1]), tensor("bf", [1], 16, raw=b"\x80\x3f"),
         tensor("ext", [1], 1) + s(13, s(1, "location") + s(2, "w.bin")) + fld(14, 0, 1)],
        [("x", [0, 2])], [("y", [0, 2])]))
    put("onnx", "sigmoid-chain", model(
        [node("Gemm", ["x", "W"], ["a"], [attr_i("transB", 1)]), node("Sigmoid", ["a"], ["b"]),
         node("Mul", ["a", "b"], ["y"])],
        [tensor("W", [2, 2], 1, floats=[1, 2, 3, 4])], [("x", [0, 2])], [("y", [0, 2])]))


# ---- PyTorch archives and pickles ----------------------------------------------

def seeds_pt():
    copy("pt", "samples/sawtooth/sawtooth.pt")
    for n in ("parameter.pt", "views.pt", "byteorder_big.pt", "dtypes.pt", "script.pt"):
        copy("pt", "tests/data/pt/" + n)


def seeds_pickle():
    for path in ("samples/sawtooth/sawtooth.pt", "tests/data/pt/views.pt", "tests/data/pt/parameter.pt",
                 "tests/data/pt/checkpoint.pt", "tests/data/pt/dtypes.pt"):
        with zipfile.ZipFile(os.path.join(ROOT, path)) as z:
            for n in z.namelist():
                if n.endswith("data.pkl"):
                    put("pickle", os.path.basename(path) + ".pkl", z.read(n))
    plain = {"a": [1, 2.5, None, True, "x" * 3], "b": (1, (2, 3), {}), "c": -(2**40), 4: b"raw"}
    for proto in (2, 3, 4, 5):
        put("pickle", "plain-p%d" % proto, pickle.dumps(plain, protocol=proto))
    shared = [1, 2]
    put("pickle", "memo", pickle.dumps({"x": shared, "y": shared, "z": [shared] * 3}, protocol=2))


# ---- .dlor images (made by the dlor binary) ---------------------------------------

def seeds_dlor(dlor):
    # a tiny MLP (2-3-3-2) keeps the images, and so what the fuzzer derives from them, small
    tiny = safetensors(
        [("0.weight", "F32", [3, 2], np.asarray([[0.5, -1], [2, 0.25], [-0.75, 1.5]], "<f4").tobytes()),
         ("0.bias", "F32", [3], np.asarray([0.1, -0.2, 0.3], "<f4").tobytes()),
         ("2.weight", "F32", [3, 3], np.asarray([[1, 2, 0], [0, 1, -1], [2, 0, 1]], "<f4").tobytes()),
         ("2.bias", "F32", [3], np.asarray([0, 0.5, -0.5], "<f4").tobytes()),
         ("4.weight", "F32", [2, 3], np.asarray([[1, -1, 0.5], [0.25, 2, -2]], "<f4").tobytes()),
         ("4.bias", "F32", [2], np.asarray([0.5, -0.5], "<f4").tobytes()),
         ("step", "I64", [], struct.pack("<q", 7))],
        {"note": "tiny"})
    # graphs of values (format 1.5): an encoder and a decoder of width 4, a features model
    # with two outputs; embedding tables stay dense, the linear layers become DLoR layers
    r = np.random.default_rng(15)
    w = lambda *shape: r.standard_normal(shape).astype("<f4").round(2)  # noqa: E731
    enc = safetensors(
        [("word", "F32", [7, 4], w(7, 4).tobytes()), ("pos", "F32", [4, 4], w(4, 4).tobytes()),
         ("type", "F32", [2, 4], w(2, 4).tobytes()), ("q", "F32", [4, 4], w(4, 4).tobytes()),
         ("k", "F32", [4, 4], w(4, 4).tobytes()), ("v", "F32", [4, 4], w(4, 4).tobytes()),
         ("f", "F32", [6, 4], w(6, 4).tobytes()), ("fb", "F32", [6], w(6).tobytes()),
         ("o", "F32", [4, 6], w(4, 6).tobytes()), ("ln", "F32", [4], w(4).tobytes())],
        {"dlor.graph": "input(input_ids, ids); input(attention_mask, mask); input(token_type_ids, type_ids); "
                       "%w = embed(%input_ids, word); %p = pos_embed(%input_ids, pos); add(%w, %p); "
                       "%t = embed(%token_type_ids, type); %x = add(%t); %q = linear(%x, q); %k = linear(%x, k); "
                       "%v = linear(%x, v); attention(%q, %k, %v, %attention_mask, heads=2); add(%x); "
                       "%h = layernorm(ln, ln, eps=1e-12); linear(f, fb); gelu; linear(o); add(%h); "
                       "output(hidden); pool(%attention_mask, mean); l2norm; output(embedding)"})
    dec = safetensors(
        [("embed", "F32", [7, 4], w(7, 4).tobytes()), ("n", "F32", [4], w(4).tobytes()),
         ("q", "F32", [4, 4], w(4, 4).tobytes()), ("k", "F32", [2, 4], w(2, 4).tobytes()),
         ("v", "F32", [2, 4], w(2, 4).tobytes()), ("g", "F32", [3, 4], w(3, 4).tobytes()),
         ("u", "F32", [3, 4], w(3, 4).tobytes()), ("d", "F32", [4, 3], w(4, 3).tobytes()),
         ("head", "F32", [7, 4], w(7, 4).tobytes())],
        {"dlor.graph": "input(input_ids, ids); input(attention_mask, mask); %x = embed(%input_ids, embed); "
                       "%n = rmsnorm(n, eps=1e-6); %q = linear(q); %k = linear(%n, k); %v = linear(%n, v); "
                       "attention(%q, %k, %v, %attention_mask, heads=2, kv_heads=1, causal, rope_theta=10000); "
                       "%h = add(%x); %m = rmsnorm(n); linear(g); %s = silu; %u = linear(%m, u); mul(%s, %u); "
                       "linear(d); add(%h); linear(head); softmax; output(probs)"})
    feats = safetensors(
        [("a", "F32", [3, 2], w(3, 2).tobytes()), ("b", "F32", [2, 3], w(2, 3).tobytes()),
         ("s", "F32", [2], w(2).tobytes())],
        {"dlor.graph": "input(x, features, 2); linear(a); tanh; linear(b); %r = add(%x); scale(0.5, s); "
                       "output(y); mul(%r, %r); rmsnorm(s); output(z)"})
    # one layer wider than a panel of U^T (16 columns), f16 to stay small
    w = np.linspace(-1, 1, 20 * 18, dtype="<f2").reshape(20, 18)
    wide = safetensors([("0.weight", "F16", [20, 18], w.tobytes())], {"note": "wide"})
    runs = [
        ("mul-softplus", ["--activation", "softplus", "--rank", "2"]),
        ("add-f16", ["--method", "add", "--dtype", "f16", "--activation", "relu"]),
        ("random-f64", ["--basis", "random", "--rank", "2", "--dtype", "f64", "--include", "2.weight"]),
        ("lowrank-bf16", ["--method", "lowrank", "--budget", "0.8", "--dtype", "bf16", "--activation", "gelu"]),
        ("factors3", ["--method", "lowrank", "--rank", "1", "--factors", "3", "--activation", "silu"]),
        ("nograph", ["--include", "2.weight"]),
        ("compressed", ["--rank", "1", "--compress", "--activation", "leaky_relu"]),
        ("network-deep", ["--form", "network", "--construction", "deep", "--activation", "softplus", "--rank", "2",
                          "--h", "0.001"]),
        ("network-wide", ["--form", "network", "--construction", "wide", "--activation", "softplus", "--rank", "2",
                          "--h", "0.001"]),
    ]
    runs = [(name, "tiny", args) for name, args in runs] + [
        ("panels-wide", "wide", ["--rank", "8", "--dtype", "f16", "--activation", "relu"]),
        ("rows-wide", "wide", ["--rank", "8", "--dtype", "f16", "--activation", "relu", "--layout", "rows"]),
        ("dag-encoder", "enc", ["--method", "add"]),
        ("dag-encoder-dense", "enc", ["--exclude", "*", "--dtype", "f16"]),
        ("dag-decoder", "dec", ["--rank", "2", "--dtype", "bf16"]),
        ("dag-features", "feats", ["--rank", "1"]),
        # block-quantized tensors (format 1.6): factors, a layer kept dense, rows that are not whole blocks
        ("lowrank-q8", "tiny", ["--method", "lowrank", "--rank", "1", "--dtype", "q8", "--activation", "relu"]),
        ("mul-q4", "tiny", ["--rank", "2", "--dtype", "q4", "--activation", "tanh"]),
        ("dense-q4", "wide", ["--tol", "1e-9", "--dtype", "q4", "--activation", "relu"]),
        ("dense-q8", "wide", ["--tol", "1e-9", "--dtype", "q8", "--activation", "relu"]),
        ("dag-decoder-q8", "dec", ["--rank", "2", "--dtype", "q8"]),
        # quantized bases with a low-rank correction (format 1.7): q4 + f16, q8 + q8
        ("qlr-q4", "wide", ["--method", "qlr", "--rank", "2", "--activation", "relu"]),
        ("qlr-q8", "tiny", ["--method", "qlr", "--rank", "1", "--dtype", "q8", "--correction-dtype", "q8",
                            "--activation", "relu"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for model, data in (("tiny", tiny), ("wide", wide), ("enc", enc), ("dec", dec), ("feats", feats)):
            with open(os.path.join(tmp, model + ".safetensors"), "wb") as f:
                f.write(data)
        for name, model, args in runs:
            out = os.path.join(tmp, name + ".dlor")
            src = os.path.join(tmp, model + ".safetensors")
            subprocess.run([dlor, "convert", src, "-o", out] + args, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            with open(out, "rb") as f:
                data = f.read()
            put("dlor", name, data)  # also read by the runtime and dlor_roundtrip targets
        # the edge cases of DLOR_FORMAT.md that tests/test_format_spec.py checks, valid and not
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        import dlor_spec_cases
        # a q4 tensor's bad scale (NaN) and a nonzero padding value, checksums resealed (6.1)
        with open(os.path.join(tmp, "dense-q4.dlor"), "rb") as f:
            q4 = bytearray(f.read())
        _, rec = dlor_spec_cases._tensor_index(q4, "0.weight")
        toff = struct.unpack_from("<Q", q4, rec + 80)[0]
        bad = bytearray(q4)
        struct.pack_into("<H", bad, toff + 20 * 16, 0x7E00)  # 20 rows of one block: the first scale
        put("dlor", "q4-nan-scale", dlor_spec_cases.fix_checksums(bytes(bad)))
        bad = bytearray(q4)
        bad[toff + 5] |= 0x80  # high nibble of byte 5: column 21 of 18, padding
        put("dlor", "q4-padding", dlor_spec_cases.fix_checksums(bytes(bad)))
        src, out = os.path.join(tmp, "spec.safetensors"), os.path.join(tmp, "spec.dlor")
        with open(src, "wb") as f:
            f.write(dlor_spec_cases.spec_model_bytes())
        subprocess.run([dlor, "convert", src, "-o", out] + dlor_spec_cases.CONVERT_ARGS, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out, "rb") as f:
            for name, data, _, _ in dlor_spec_cases.cases(f.read()):
                put("dlor", "spec-" + name, data)
    for i, b in enumerate([b"\x03\x02\x01\x00\x05\x10\x20\x08" * 8, bytes(range(200)), b"\xff" * 64]):
        put("dlor_roundtrip", "builder-%d" % i, b)


# ---- hf_config (Hugging Face config.json) -----------------------------------

def seeds_hf_config():
    import json
    for m in ("bert-tiny", "llama-tiny", "llama-tiny-tied"):
        copy("hf_config", f"samples/{m}/config.json", m + ".json")
    # configs of the target's two fixed models, which give graphs
    bert = {"model_type": "bert", "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 8, "vocab_size": 10, "max_position_embeddings": 6, "type_vocab_size": 2,
            "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute"}
    llama = {"model_type": "llama", "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
             "num_key_value_heads": 1, "head_dim": 2, "intermediate_size": 6, "vocab_size": 10,
             "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": None, "tie_word_embeddings": False,
             "hidden_act": "silu"}
    put("hf_config", "bert-fixed", json.dumps(bert).encode())
    put("hf_config", "llama-fixed", json.dumps(llama).encode())
    put("hf_config", "llama-tied", json.dumps(dict(llama, tie_word_embeddings=True)).encode())
    put("hf_config", "bert-gelu-new", json.dumps(dict(bert, hidden_act="gelu_new", extra={"a": [1, 2.5e-3, None]})).encode())
    put("hf_config", "other-type", b'{"model_type": "gpt2", "n_embd": 4}')
    put("hf_config", "escapes", b'{"model_type": "b\u0065rt", "hidden_act": "\ud83d\ude00", "x\u0000": 1}')


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    seeds_safetensors()
    seeds_npy()
    seeds_npz()
    seeds_onnx()
    seeds_pt()
    seeds_pickle()
    seeds_dlor(sys.argv[1])
    seeds_hf_config()


if __name__ == "__main__":
    main()
