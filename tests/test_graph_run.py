"""Graphs of format 1.5 run by dlor, against numpy written apart from the C code.

A tiny BERT-like encoder (word, position and token type embeddings, LayerNorm,
attention over a padding mask, GELU MLP, mean pooling over the mask, L2
normalisation) and a tiny LLaMA-like decoder (RMSNorm, grouped-query attention
with rotary embedding and a causal mask, gated SiLU MLP, head) are built here
as safetensors with a 'dlor.graph' text, checked against direct numpy
implementations of those models (the rotary embedding as complex rotations,
not Hugging Face's rotate_half), and then run by `dlor run` from the source and
from .dlor files whose linear layers are DLoR layers, against the independent
reader tests/dlor_pyreader.py: relative error <= 1e-5 in float32 and <= 1e-12
in double. Random small graphs of every op do the same; teams give the bits
of one thread; bad inputs and bad graphs are refused in one line; files of
format 1.4 still give their old float32 outputs bit for bit."""
import json
import math
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader as pyreader  # noqa: E402
from dlor_testlib import DLOR, SRC, check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("graph_run")
rng = np.random.default_rng(1505)
ERF = np.vectorize(math.erf)


def rel(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-300))


def f32(*shape, s=0.5):
    return (rng.standard_normal(shape) * s).astype(np.float32)


# ---- a BERT-like encoder ----------------------------------------------------------

H, HEADS, FF, VOCAB, POS, LAYERS = 16, 4, 32, 30, 12, 2


def bert_model():
    t = {"word": f32(VOCAB, H), "pos": f32(POS, H), "type": f32(2, H), "ln.w": 1 + f32(H, s=0.1), "ln.b": f32(H, s=0.1)}
    g = ["input(input_ids, ids)", "input(attention_mask, mask)", "input(token_type_ids, type_ids)",
         "%w = embed(%input_ids, word)", "%p = pos_embed(%input_ids, pos)", "%t = embed(%token_type_ids, type)",
         "add(%w, %p)", "add(%t)", "%x0 = layernorm(ln.w, ln.b, eps=1e-12)"]
    for i in range(LAYERS):
        p = f"l{i}."
        for n in ("q", "k", "v", "o"):
            t[p + n + ".w"], t[p + n + ".b"] = f32(H, H), f32(H, s=0.1)
        t[p + "f1.w"], t[p + "f1.b"], t[p + "f2.w"], t[p + "f2.b"] = f32(FF, H), f32(FF, s=0.1), f32(H, FF), f32(H, s=0.1)
        for n in ("ln1", "ln2"):
            t[p + n + ".w"], t[p + n + ".b"] = 1 + f32(H, s=0.1), f32(H, s=0.1)
        x = f"%x{i}"
        g += [f"%q{i} = linear({x}, {p}q.w, {p}q.b)", f"%k{i} = linear({x}, {p}k.w, {p}k.b)",
              f"%v{i} = linear({x}, {p}v.w, {p}v.b)",
              f"attention(%q{i}, %k{i}, %v{i}, %attention_mask, heads={HEADS})", f"linear({p}o.w, {p}o.b)",
              f"add({x})", f"%h{i} = layernorm({p}ln1.w, {p}ln1.b, eps=1e-12)",
              f"linear({p}f1.w, {p}f1.b)", "gelu", f"linear({p}f2.w, {p}f2.b)", f"add(%h{i})",
              f"%x{i + 1} = layernorm({p}ln2.w, {p}ln2.b, eps=1e-12)"]
    g += ["output(last_hidden_state)", "pool(%attention_mask, mean)", "l2norm", "output(sentence_embedding)"]
    return t, "; ".join(g)


def layer_norm(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    return (x - m) / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + eps) * w + b


def bert_ref(t, ids, mask, tt):
    """BERT's forward as Hugging Face writes it: post-norm layers, the padding mask
    added to the scores as a large negative number."""
    T = {k: v.astype(np.float64) for k, v in t.items()}
    N, S = ids.shape
    x = layer_norm(T["word"][ids] + T["pos"][:S][None] + T["type"][tt], T["ln.w"], T["ln.b"], 1e-12)
    d = H // HEADS
    big = np.where(mask[:, None, None, :] == 1, 0.0, -1e30)
    for i in range(LAYERS):
        p = f"l{i}."
        lin = lambda u, n: u @ T[p + n + ".w"].T + T[p + n + ".b"]  # noqa: E731
        heads = lambda u: u.reshape(N, S, HEADS, d).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = heads(lin(x, "q")), heads(lin(x, "k")), heads(lin(x, "v"))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + big
        a = np.exp(s - s.max(-1, keepdims=True))
        a = (a / a.sum(-1, keepdims=True)) @ v
        h = layer_norm(x + lin(a.transpose(0, 2, 1, 3).reshape(N, S, H), "o"), T[p + "ln1.w"], T[p + "ln1.b"], 1e-12)
        f = lin(h, "f1")
        f = 0.5 * f * (1 + ERF(f / math.sqrt(2)))
        x = layer_norm(h + lin(f, "f2"), T[p + "ln2.w"], T[p + "ln2.b"], 1e-12)
    m = mask[..., None].astype(np.float64)
    pooled = (x * m).sum(1) / m.sum(1)
    return x, pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


# ---- a LLaMA-like decoder -----------------------------------------------------------

LH, LHEADS, LKV, LFF, THETA = 16, 4, 2, 24, 100.0


def llama_model():
    d = LH // LHEADS
    t = {"embed": f32(VOCAB, LH, s=1.0), "norm": 1 + f32(LH, s=0.1), "head": f32(VOCAB, LH)}
    g = ["input(input_ids, ids)", "input(attention_mask, mask)", "%x0 = embed(%input_ids, embed)"]
    for i in range(LAYERS):
        p = f"l{i}."
        t[p + "q"], t[p + "k"], t[p + "v"], t[p + "o"] = f32(LH, LH), f32(LKV * d, LH), f32(LKV * d, LH), f32(LH, LH)
        t[p + "gate"], t[p + "up"], t[p + "down"] = f32(LFF, LH), f32(LFF, LH), f32(LH, LFF)
        t[p + "n1"], t[p + "n2"] = 1 + f32(LH, s=0.1), 1 + f32(LH, s=0.1)
        g += [f"%n{i} = rmsnorm(%x{i}, {p}n1, eps=1e-6)", f"%q{i} = linear({p}q)", f"%k{i} = linear(%n{i}, {p}k)",
              f"%v{i} = linear(%n{i}, {p}v)",
              f"attention(%q{i}, %k{i}, %v{i}, %attention_mask, heads={LHEADS}, kv_heads={LKV}, causal, "
              f"rope_theta={THETA})", f"linear({p}o)", f"%h{i} = add(%x{i})", f"%m{i} = rmsnorm({p}n2, eps=1e-6)",
              f"linear({p}gate)", f"%g{i} = silu", f"%u{i} = linear(%m{i}, {p}up)", f"mul(%g{i}, %u{i})",
              f"linear({p}down)", f"%x{i + 1} = add(%h{i})"]
    g += ["rmsnorm(norm, eps=1e-6)", "linear(head)", "output(logits)"]
    return t, "; ".join(g)


def rotate(u):
    """Rotary embedding as complex numbers: feature i and i + d/2 are one complex
    number, turned by position s times theta^(-2i/d)."""
    S, d = u.shape[-2], u.shape[-1]
    z = u[..., :d // 2] + 1j * u[..., d // 2:]
    z = z * np.exp(1j * np.outer(np.arange(S), THETA ** (-2.0 * np.arange(d // 2) / d)))
    return np.concatenate([z.real, z.imag], axis=-1)


def llama_ref(t, ids, mask):
    T = {k: v.astype(np.float64) for k, v in t.items()}
    N, S = ids.shape
    d = LH // LHEADS
    rms = lambda u, w: u / np.sqrt((u * u).mean(-1, keepdims=True) + 1e-6) * w  # noqa: E731
    x = T["embed"][ids]
    seen = (mask[:, None, None, :] == 1) & np.tril(np.ones((S, S), bool))
    for i in range(LAYERS):
        p = f"l{i}."
        n = rms(x, T[p + "n1"])
        q = rotate((n @ T[p + "q"].T).reshape(N, S, LHEADS, d).transpose(0, 2, 1, 3))
        k = rotate((n @ T[p + "k"].T).reshape(N, S, LKV, d).transpose(0, 2, 1, 3))
        v = (n @ T[p + "v"].T).reshape(N, S, LKV, d).transpose(0, 2, 1, 3)
        out = np.zeros((N, LHEADS, S, d))
        for h in range(LHEADS):
            g = h // (LHEADS // LKV)
            s = q[:, h] @ k[:, g].transpose(0, 2, 1) / math.sqrt(d)
            for b in range(N):
                for r in range(S):
                    ok = seen[b, 0, r]
                    if ok.any():
                        e = np.exp(s[b, r][ok] - s[b, r][ok].max())
                        out[b, h, r] = (e / e.sum()) @ v[b, g][ok]
        h1 = x + out.transpose(0, 2, 1, 3).reshape(N, S, LH) @ T[p + "o"].T
        m = rms(h1, T[p + "n2"])
        gt = m @ T[p + "gate"].T
        x = h1 + ((gt / (1 + np.exp(-gt))) * (m @ T[p + "up"].T)) @ T[p + "down"].T
    return rms(x, T["norm"]) @ T["head"].T


# ---- running dlor -----------------------------------------------------------------

def save(name, tensors, graph):
    path = os.path.join(TMP, name + ".safetensors")
    save_file(tensors, path, metadata={"dlor.graph": graph})
    return path


def convert(src, name, *flags):
    out = os.path.join(TMP, name + ".dlor")
    rc, _, err = run("convert", src, "-o", out, *flags)
    check(rc == 0, f"convert {name} {flags}: {err}")
    return out


def dlor_run(model, inputs, *flags):
    """dlor run on a .npz of inputs (or a .npy of features); the output array, or
    (None, exit code, stderr)."""
    out = os.path.join(TMP, "y.npy")
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = run("run", model, "-i", inputs, "-o", out, *flags)
    return (np.load(out), rc, err) if rc == 0 else (None, rc, err)


def token_inputs(name, ids, mask=None, tt=None, dtype=np.int64):
    path = os.path.join(TMP, name + ".npz")
    arrays = {"input_ids": ids.astype(dtype)}
    if mask is not None:
        arrays["attention_mask"] = mask.astype(dtype)
    if tt is not None:
        arrays["token_type_ids"] = tt.astype(dtype)
    np.savez(path, **arrays)
    return path


def against(model, inputs, ref, what, select=None, threads=None):
    """dlor run in float32 and double against ref (float64)."""
    extra = (["--select", select] if select else []) + (["--threads", threads] if threads else [])
    y32, rc, err = dlor_run(model, inputs, *extra)
    if check(y32 is not None, f"{what}: dlor run: {err}"):
        check(y32.dtype == np.float32 and y32.shape == ref.shape, f"{what}: output {y32.dtype} {y32.shape}")
        e = rel(y32, ref)
        check(e <= 1e-5, f"{what}: float32 relative error {e:.3g} > 1e-5")
    y64, rc, err = dlor_run(model, inputs, "--dtype", "f64", *extra)
    if check(y64 is not None, f"{what}: dlor run --dtype f64: {err}"):
        e = rel(y64, ref)
        check(e <= 1e-12, f"{what}: double relative error {e:.3g} > 1e-12")
    return y32


# ---- the models ---------------------------------------------------------------------

N, S = 3, 7
ids = rng.integers(0, VOCAB, size=(N, S))
mask = np.ones((N, S), np.int64)
mask[1, 5:] = 0  # right padding (BERT)
mask[2, 2:] = 0
tt = np.zeros((N, S), np.int64)
tt[:, 4:] = 1

bt, bg = bert_model()
bsrc = save("bert", bt, bg)
hidden, emb = bert_ref(bt, ids, mask, tt)
bin_ = token_inputs("bert", ids, mask, tt)
bdlor = convert(bsrc, "bert-add", "--method", "add")
bmul = convert(bsrc, "bert-mul", "--rank", "4", "--dtype", "f64")
# a .dlor file is held to the reader's run of it (its layers as stored); the reader's
# run to numpy's BERT within the rounding of the stored factors (f32: ~1e-7 each)
for model, what, tol in ((bsrc, "bert source", 0), (bdlor, "bert add", 1e-5), (bmul, "bert mul f64", 1e-10)):
    want = {"sentence_embedding": emb, "last_hidden_state": hidden}
    if tol:
        ref = pyreader.run(model, ids=ids, mask=mask, type_ids=tt)
        for name, w in want.items():
            e = rel(ref[name], w)
            check(e <= tol, f"{what}: the reader's {name} against numpy BERT: {e:.3g} > {tol:.0e}")
        want = ref
    y = against(model, bin_, want["sentence_embedding"], what + ", sentence_embedding", select="sentence_embedding")
    against(model, bin_, want["last_hidden_state"], what + ", last_hidden_state")
    yt, _, err = dlor_run(model, bin_, "--select", "sentence_embedding", "--threads", "3")
    check(yt is not None and y is not None and np.array_equal(yt.view(np.uint32), y.view(np.uint32)),
          f"{what}: a team of 3 threads is not the bits of one: {err}")
    yb, _, err = dlor_run(model, bin_, "--select", "sentence_embedding", "--batch", "2")
    check(yb is not None and y is not None and np.array_equal(yb.view(np.uint32), y.view(np.uint32)),
          f"{what}: batches of 2 are not the bits of one batch: {err}")
# the mask and token type ids left out: all ones, all zeros (Hugging Face's defaults)
_, emb_plain = bert_ref(bt, ids, np.ones_like(mask), np.zeros_like(tt))
check(rel(pyreader.run(bmul, ids=ids)["sentence_embedding"], emb_plain) <= 1e-10, "the reader's defaults")
against(bmul, token_inputs("bert-ids", ids), emb_plain, "bert mul, ids only", select="sentence_embedding")
np.save(os.path.join(TMP, "ids32.npy"), ids.astype(np.int32))
against(bsrc, os.path.join(TMP, "ids32.npy"), emb_plain, "bert source, a .npy of int32 ids",
        select="sentence_embedding")
against(bsrc, token_inputs("bert32", ids, mask, tt, np.int32), emb, "bert source, int32 .npz",
        select="sentence_embedding")

lt, lg = llama_model()
lsrc = save("llama", lt, lg)
lmask = np.ones((N, S), np.int64)
lmask[1, :2] = 0  # left padding (decoders)
lmask[2, :5] = 0
logits = llama_ref(lt, ids, lmask)
lin_ = token_inputs("llama", ids, lmask)
ladd = convert(lsrc, "llama-add", "--method", "add", "--dtype", "f64")
for model, what in ((lsrc, "llama source"), (ladd, "llama add f64")):
    want = logits
    if model.endswith(".dlor"):
        want = pyreader.run(model, ids=ids, mask=lmask)["logits"]
        e = rel(want, logits)
        check(e <= 1e-10, f"{what}: the reader's run against numpy LLaMA: {e:.3g}")
    y = against(model, lin_, want, what)
    yt, _, err = dlor_run(model, lin_, "--threads", "2")
    check(yt is not None and y is not None and np.array_equal(yt.view(np.uint32), y.view(np.uint32)),
          f"{what}: a team of 2 threads is not the bits of one: {err}")
rc, out, err = run("info", ladd)
check(rc == 0 and "attention" in out and "rope_theta=100" in out, f"info shows the DAG: {out}{err}")


# ---- random small graphs ------------------------------------------------------------

ACTS = ["relu", "leaky_relu(0.2)", "sigmoid", "tanh", "softplus", "gelu", "gelu_tanh", "silu", "identity"]


def random_graph(k, tokens):
    """A random DAG over every op; returns tensors, the text, and the model's inputs."""
    t, g, floats = {}, [], []  # floats: (name, F)
    uid = [0]

    def new(prefix):
        uid[0] += 1
        return f"{prefix}{uid[0]}"

    def tensor(arr):
        name = new("t")
        t[name] = arr
        return name

    def put(expr, f):
        name = new("v")
        g.append(f"%{name} = {expr}")
        floats.append((name, f))
        return name

    if tokens:
        s = int(rng.integers(2, 6))
        g += ["input(ids, ids)", "input(mask, mask)", "input(tt, type_ids)"]
        f0 = int(rng.choice([4, 8, 12]))
        e = put(f"embed(%ids, {tensor(f32(9, f0, s=1.0))})", f0)
        p = put(f"pos_embed(%ids, {tensor(f32(s + int(rng.integers(0, 3)), f0))})", f0)
        put(f"add(%{e}, %{p})", f0)
        put(f"embed(%tt, {tensor(f32(3, f0))})", f0)
    else:
        f0 = int(rng.integers(2, 20))
        g.append(f"input(x, features, {f0})")
        floats.append(("x", f0))
    for _ in range(int(rng.integers(4, 12))):
        a, fa = floats[int(rng.integers(len(floats)))]
        op = rng.choice(["linear", "act", "softmax", "scale", "add", "mul", "layernorm", "rmsnorm", "l2norm"]
                        + (["attention"] * 3 if tokens else []))
        if op == "linear":
            fo = int(rng.integers(2, 24))
            bias = f", {tensor(f32(fo, s=0.1))}" if rng.random() < 0.5 else ""
            put(f"linear(%{a}, {tensor(f32(fo, fa))}{bias})", fo)
        elif op == "act":
            act = ACTS[int(rng.integers(len(ACTS)))]
            put(f"leaky_relu(%{a}, 0.2)" if act.startswith("leaky") else f"{act}(%{a})", fa)
        elif op == "softmax":
            put(f"softmax(%{a})", fa)
        elif op == "scale":
            bias = f", {tensor(f32(fa, s=0.1))}" if rng.random() < 0.5 else ""
            put(f"scale(%{a}, {rng.normal():.6g}{bias})", fa)
        elif op in ("add", "mul"):
            same = [n for n, f in floats if f == fa]
            put(f"{op}(%{a}, %{same[int(rng.integers(len(same)))]})", fa)
        elif op == "layernorm":
            w = f"weight={tensor(1 + f32(fa, s=0.1))}, " if rng.random() < 0.7 else ""
            b = f"bias={tensor(f32(fa, s=0.1))}, " if rng.random() < 0.7 else ""
            put(f"layernorm(%{a}, {w}{b}eps=1e-5)", fa)
        elif op == "rmsnorm":
            w = f"{tensor(1 + f32(fa, s=0.1))}, " if rng.random() < 0.7 else ""
            put(f"rmsnorm(%{a}, {w}eps=1e-6)", fa)
        elif op == "l2norm":
            put(f"l2norm(%{a})", fa)
        else:
            heads = int(rng.choice([h for h in (1, 2, 4) if fa % h == 0 and (fa // h) % 2 == 0] or [1]))
            kv = int(rng.choice([c for c in (1, 2, 4) if heads % c == 0]))
            d = fa // heads
            k = put(f"linear(%{a}, {tensor(f32(kv * d, fa))})", kv * d)
            dv = int(rng.integers(1, 5))
            v = put(f"linear(%{a}, {tensor(f32(kv * dv, fa))})", kv * dv)
            attrs = f"heads={heads}, kv_heads={kv}"
            if rng.random() < 0.5:
                attrs += ", causal"
            if rng.random() < 0.5 and d % 2 == 0:
                attrs += f", rope_theta={rng.choice([10.0, 500.0, 10000.0])}"
            if rng.random() < 0.3:
                attrs += f", scale={rng.uniform(0.1, 1):.6g}"
            m = ", %mask" if rng.random() < 0.7 else ""
            put(f"attention(%{a}, %{k}, %{v}{m}, {attrs})", heads * dv)
    last, fl = floats[-1]
    g.append(f"output(y, %{last})")
    if tokens:
        pool = "cls" if rng.random() < 0.3 else "mean"
        m = "%mask, " if rng.random() < 0.7 else ""
        g.append(f"pool(%{last}, {m}{pool})")
        g.append("output(pooled)")
    inputs = None
    if tokens:
        n = int(rng.integers(1, 4))
        iv = rng.integers(0, 9, size=(n, s))
        mv = (rng.random((n, s)) < 0.8).astype(np.int64)
        mv[:, 0] = 1
        tv = rng.integers(0, 3, size=(n, s))
        inputs = dict(ids=iv, mask=mv, type_ids=tv)
    else:
        inputs = dict(x=f32(int(rng.integers(1, 9)), f0, s=1.0))
    return t, "; ".join(g), inputs


for k in range(24):
    tokens = k % 2 == 1
    t, g, inputs = random_graph(k, tokens)
    src = save(f"random{k}", t, g)
    model = convert(src, f"random{k}", "--method", "add") if k % 4 < 2 else convert(src, f"random{k}", "--exclude", "*")
    if tokens:
        inp = token_inputs(f"random{k}", inputs["ids"], inputs["mask"], inputs["type_ids"])
    else:
        inp = os.path.join(TMP, f"random{k}.npy")
        np.save(inp, inputs["x"])
    try:
        ref = pyreader.run(model, **inputs)
    except Exception as e:  # noqa: BLE001
        check(False, f"random graph {k}: the reader refuses it: {e}\n{g}")
        continue
    for name in ref:
        against(model, inp, ref[name], f"random graph {k} ({name}): {g}", select=name)


# ---- bad inputs: one line naming the field, exit 1 ------------------------------------

def refused(model, inputs, text, what):
    y, rc, err = dlor_run(model, inputs)
    check(y is None and rc == 1 and text in err and err.count("\n") == 1, f"{what}: rc {rc}: {err}")


bad_ids = ids.copy()
bad_ids[1, 3] = VOCAB
refused(bdlor, token_inputs("bad-vocab", bad_ids, mask, tt),
        f"input_ids[1, 3] = {VOCAB} is outside the model's table of {VOCAB} rows", "an id outside the vocabulary")
refused(bdlor, token_inputs("bad-type", ids, mask, tt + 1), "token_type_ids[0, 4] = 2 is outside the model's table of 2",
        "a token type outside its table")
long_ids = rng.integers(0, VOCAB, size=(2, POS + 1))
refused(bdlor, token_inputs("bad-long", long_ids), f"input_ids has {POS + 1} tokens per sequence, more than the "
        f"model's {POS} positions", "a sequence longer than the position table")
refused(bdlor, token_inputs("bad-mask-shape", ids, mask[:, :5]), "attention_mask has shape [3, 5], not [3, 7]",
        "a mask of another shape")
bad_mask = mask.copy()
bad_mask[0, 0] = 2
refused(bdlor, token_inputs("bad-mask-value", ids, bad_mask), "attention_mask[0, 0] = 2 is not 0 or 1",
        "a mask value other than 0 and 1")
np.save(os.path.join(TMP, "float-ids.npy"), ids.astype(np.float32))
refused(bdlor, os.path.join(TMP, "float-ids.npy"), "input_ids must be int32 or int64 token ids [N, S], not f32",
        "a float .npy where ids are expected")
np.savez(os.path.join(TMP, "no-ids.npz"), ids=ids)
refused(bdlor, os.path.join(TMP, "no-ids.npz"), "no 'input_ids' array", "an .npz without input_ids")
# a name the model has no output of: a usage error (exit 2) listing the outputs the graph names
_, graph_json, _ = run("info", bdlor, "--json")
out_names = [op["name"] for op in json.loads(graph_json)["graph"] if op["op"] == "output"]
y, rc, err = dlor_run(bdlor, bin_, "--select", "pooler")
want = ("dlor run: --select 'pooler': the model has no output of that name (its outputs: " +
        ", ".join(f"'{n}'" for n in out_names) + ")")
check(y is None and rc == 2 and len(out_names) == 2 and err.strip() == want, f"--select of no output: {rc} {err}")


# ---- bad graphs: one line, exit 1 ---------------------------------------------------------

def text_refused(graph, text, what):
    src = save("bad", bt, graph)
    y, rc, err = dlor_run(src, bin_)
    check(y is None and rc == 1 and text in err and err.count("\n") == 1, f"{what}: rc {rc}: {err}")


text_refused(bg.replace("heads=4", "heads=3"), "q has 16 features, not a multiple of 3 heads", "heads not dividing q")
text_refused(bg.replace("pos_embed(%input_ids, pos)", "pos_embed(%input_ids, l0.f2.w)"), "(16 and 32 features)",
             "a position table of another width")
text_refused(bg.replace("linear(l0.f2.w, l0.f2.b)", "linear(l0.f1.w, l0.f2.b)"),
             "weight 'l0.f1.w' is f32 [32, 16], not a non-empty float [rows, 32] tensor", "a linear of the wrong width")
text_refused(bg.replace("%attention_mask, heads", "%input_ids, heads"), "the mask is not the mask input",
             "ids as the attention mask")
text_refused(bg + "; softmax(%nope)", "unknown value '%nope'", "an unknown value")


def patch_dag(path, out, node, offset, fmt, value):
    """Writes value into DAG record 'node' at 'offset' and fixes the header checksum."""
    with open(path, "rb") as f:
        b = bytearray(f.read())
    nsec, = struct.unpack_from("<I", b, 52)
    for s in range(nsec):
        kind, esize, off, size, count = struct.unpack_from("<IIQQQ", b, 64 + 32 * s)
        if kind == 0x8002:
            struct.pack_into(fmt, b, off + 96 * node + offset, value)
    header_len, = struct.unpack_from("<Q", b, 16)
    struct.pack_into("<I", b, 56, 0)
    struct.pack_into("<I", b, 56, zlib.crc32(bytes(b[:header_len])) & 0xFFFFFFFF)
    with open(out, "wb") as f:
        f.write(b)


nodes = pyreader.read_dag(bdlor)
att = next(i for i, n in enumerate(nodes) if n["kind"] == "attention")
ln = next(i for i, n in enumerate(nodes) if n["kind"] == "layernorm")
for what, args, text in (
        ("heads not dividing q", (att, 40, "<I", 3), "heads and 4 kv heads do not divide"),
        ("a value read before it is made", (ln, 8, "<I", ln + 1), "which is not made before it"),
        ("an unknown kind", (ln, 0, "<H", 5), "unknown kind 5"),
        ("a declared shape that is not the result", (ln, 48, "<Q", H + 1), "declares a value of type 2 with 17"),
        ("a reserved byte", (ln, 90, "<B", 1), "reserved bytes are not zero"),
        ("eps of zero", (ln, 64, "<d", 0.0), "eps 0 is not > 0"),
        ("a causal flag on a linear", (ln + 1, 4, "<I", 3), "a field its kind does not use is set")):
    bad = os.path.join(TMP, "bad.dlor")
    patch_dag(bdlor, bad, *args)
    y, rc, err = dlor_run(bad, bin_)
    check(y is None and rc == 1 and text in err and err.count("\n") == 1, f"{what}: rc {rc}: {err}")
    try:
        pyreader.read_dag(bad)
        check(False, f"{what}: the reader accepts it")
    except pyreader.DlorError:
        check(True, "")


# ---- files of format 1.4: their old float32 outputs, bit for bit ----------------------------

old = os.path.join(SRC, "tests", "data", "v1.4")
for name in sorted(f for f in os.listdir(old) if f.endswith(".dlor")):
    stem = name[:-5]
    x = os.path.join(old, "x18.npy" if stem in ("tiny-panels-wide", "tiny-rows-wide") else "x2.npy")
    if stem.startswith("digits"):
        x = os.path.join(SRC, "samples", "digits", "x_test.npy")
    y, rc, err = dlor_run(os.path.join(old, name), x)
    want = np.load(os.path.join(old, stem + ".f32.npy"))
    check(y is not None and y.shape == want.shape and np.array_equal(y.view(np.uint32), want.view(np.uint32)),
          f"{name}: float32 outputs are not the old runtime's bits: {err}")
    y64, rc, err = dlor_run(os.path.join(old, name), x, "--dtype", "f64")
    want64 = np.load(os.path.join(old, stem + ".f64.npy"))
    check(y64 is not None and rel(y64, want64) <= 1e-13, f"{name}: double outputs moved: {err}")
    ref = pyreader.run(os.path.join(old, name), x=np.load(x))["output"]
    check(y64 is not None and rel(y64, ref) <= 1e-12, f"{name}: double outputs against the reader")
finish()
