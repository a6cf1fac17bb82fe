"""The package's DAG graphs (format 1.5: dlor.load(...).graph, Model.forward, Model.outputs)
against the C runtime and the samples' references:

- the transformer samples (bert-tiny, llama-tiny, llama-tiny-tied) with their graphs
  (tests/sample_graphs.py) converted with every layer kept dense (--exclude '*'), --method
  mul and --method add: every output of Model.forward (float64 and float32) within 1e-5
  (relative to the largest output) of `dlor run --select` on test.npz, and within 1e-5 of
  the samples' committed reference outputs (numpy float64 rounded to float32);
- random small graphs of every node kind (features and token models, several outputs):
  forward against `dlor run` within 1e-5;
- the chain samples (digits, sawtooth; branch groups of the network forms): the chain read
  as a DAG (Model.dag, DLOR_FORMAT.md 7.8) gives what the chain evaluator gives (1e-12) and
  what `dlor run` gives (1e-5);
- inputs as a dict (the graph's or Hugging Face's names), an ids array alone, a mask left
  out (all ones); dlor.run with the same dict and select= gives what forward gives; bad inputs (ids outside a table, sequences longer than the position
  table, mask values other than 0 and 1, floats for ids, shapes that differ, unknown names)
  raise one line naming the input;
- DAG records changed one field at a time are refused with a FormatError naming the node,
  and by `dlor info`.

Run by ctest (tests/python.cmake); needs DLOR_BIN and the pip Python's numpy and safetensors.
"""
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
from safetensors.numpy import save_file

SRC = os.environ.get("DLOR_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "python"))
sys.path.insert(0, os.path.join(SRC, "tests"))
import dlor  # noqa: E402
import dlor.dag  # noqa: E402
from dlor_testlib import DLOR, check, finish, run, scratch_dir  # noqa: E402
from sample_graphs import sample_with_graph  # noqa: E402

TMP = scratch_dir("python-dag")
TOL = 1e-5
rng = np.random.default_rng(2026)


def rel(a, b):
    b = np.asarray(b, np.float64)
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-300))


def convert(src, out, *args):
    if os.path.exists(out):
        os.remove(out)
    rc, _, se = run("convert", src, "-o", out, *args)
    return check(rc == 0, f"convert {out}: {se.strip()}")


def dlor_run(path, inputs, select=None):
    """`dlor run` on inputs (an array, or a dict saved as .npz); None when it fails."""
    if isinstance(inputs, dict):
        xi = os.path.join(TMP, "x.npz")
        np.savez(xi, **inputs)
    else:
        xi = os.path.join(TMP, "x.npy")
        np.save(xi, inputs)
    yo = os.path.join(TMP, "y.npy")
    if os.path.exists(yo):
        os.remove(yo)
    rc, _, se = run("run", path, "-i", xi, "-o", yo, *(["--select", select] if select else []))
    check(rc == 0, f"dlor run {path} --select {select}: {se.strip()}")
    return np.load(yo) if rc == 0 else None


def test_transformers():
    for name in ("bert-tiny", "llama-tiny", "llama-tiny-tied"):
        folder = os.path.join(SRC, "samples", name)
        src, c, first = sample_with_graph(name, TMP)
        batch = dict(np.load(os.path.join(folder, "test.npz")))
        ref = np.load(os.path.join(folder, f"test_{first}.npy"))
        for form, flags in (("dense", ["--exclude", "*"]), ("mul", ["--method", "mul"]),
                            ("add", ["--method", "add"])):
            path = os.path.join(TMP, f"{name}-{form}.dlor")
            if not convert(src, path, *flags):
                continue
            m = dlor.load(path)
            label = f"{name} {form}"
            check(m.is_dag and m.graph and all(isinstance(nd, dlor.dag.Node) for nd in m.graph),
                  f"{label}: graph is the DAG's nodes")
            check(len(m.layers) == (0 if form == "dense" else (12 if "bert" in name else 15 - name.endswith("tied"))),
                  f"{label}: {len(m.layers)} layers")
            kinds = {nd.kind for nd in m.graph}
            want = ({"embed", "pos_embed", "layernorm", "pool", "l2norm"} if "bert" in name
                    else {"embed", "rmsnorm", "mul"}) | {"input", "linear", "act", "add", "attention", "output"}
            check(want <= kinds, f"{label}: node kinds {sorted(kinds)}")
            check(m.output_names[0] == first and m.in_features == 0, f"{label}: outputs {m.output_names}")
            outs = m.outputs(batch)
            outs32 = m.outputs(batch, dtype=np.float32)
            for out in m.output_names:
                y = dlor_run(path, batch, out)
                if y is None:
                    continue
                e, e32 = rel(outs[out], y), rel(outs32[out], y)
                check(outs[out].shape == y.shape and e <= TOL and outs32[out].dtype == np.float32 and e32 <= TOL,
                      f"{label} {out}: forward vs dlor run {e:.3g}, float32 {e32:.3g}")
            e = rel(m.forward(batch), ref)
            check(e <= TOL, f"{label}: forward vs the committed {first} {e:.3g}")
            if form == "add":  # dlor.run takes the same dict and --select
                last = m.output_names[-1]
                y = dlor.run(m, batch, select=last)
                check(y.shape == outs[last].shape and rel(outs[last], y) <= TOL,
                      f"{label}: dlor.run(model, dict, select={last!r}) vs forward")
            if "bert" in name:
                emb = np.load(os.path.join(folder, "calib_embeddings.npy"))
                calib = dict(np.load(os.path.join(folder, "calib.npz")))
                e = rel(m.forward(calib, select="sentence_embedding"), emb)
                check(e <= TOL, f"{label}: sentence embeddings vs calib_embeddings.npy {e:.3g}")
        check_inputs(os.path.join(TMP, f"{name}-add.dlor"), batch, c)


def check_inputs(path, batch, c):
    """The forms inputs may take, and the bad ones refused."""
    m = dlor.load(path)
    y = m.forward(batch)
    ones = {k: v for k, v in batch.items() if k != "attention_mask"}
    ones_y = m.forward(ones)
    full = dict(ones, attention_mask=np.ones_like(batch["input_ids"]))
    check(np.array_equal(ones_y, m.forward(full)), f"{path}: a mask left out is all ones")
    if "token_type_ids" not in batch:
        check(np.array_equal(m.forward(batch["input_ids"]), ones_y), f"{path}: the ids array alone")
    one = m.forward({k: v[:1] for k, v in batch.items()})
    check(np.allclose(one, y[:1], rtol=0, atol=1e-12 * np.abs(y).max()), f"{path}: one sequence as a batch of one")
    check(np.array_equal(m.forward({k: v.astype(np.int32) for k, v in batch.items()}), y), f"{path}: int32 ids")

    def refused(label, inputs, *words):
        try:
            m.forward(inputs)
            check(False, f"{label}: accepted")
        except (ValueError, TypeError) as e:
            check(all(w in str(e) for w in words) and "\n" not in str(e), f"{label}: message {e}")

    bad = dict(batch)
    bad["input_ids"] = batch["input_ids"].copy()
    bad["input_ids"][1, 2] = c["vocab_size"]
    refused("an id outside the table", bad, str(c["vocab_size"]), "sequence 1, token 2", "outside")
    mask = batch["attention_mask"].copy()
    mask[0, 0] = 2
    refused("a mask value of 2", dict(batch, attention_mask=mask), "attention_mask", "0 and 1")
    refused("float ids", dict(batch, input_ids=batch["input_ids"].astype(np.float32)), "input_ids", "float32")
    refused("a mask of another shape", dict(batch, attention_mask=batch["attention_mask"][:, :3]),
            "attention_mask", "shape")
    refused("an unknown input", dict(batch, pixels=batch["input_ids"]), "'pixels'")
    refused("no ids", {"attention_mask": batch["attention_mask"]}, "input_ids")
    try:
        m.forward(batch, select="nope")
        check(False, "an unknown output: accepted")
    except ValueError as e:
        check("'nope'" in str(e), f"an unknown output: {e}")
    if "bert" in path:
        pos = m.tensors["embeddings.position_embeddings.weight"].shape[0]
        long = {k: np.zeros((1, pos + 1), np.int64) for k in batch}
        refused("a sequence longer than the position table", long, str(pos + 1), "position")


# ---- random small graphs of every node kind ----------------------------------------------

ACTS = ["relu", "leaky_relu(0.25)", "sigmoid", "tanh", "softplus", "gelu", "gelu_tanh", "silu", "identity"]


def f32(*shape, s=0.5):
    return (rng.standard_normal(shape) * s).astype(np.float32)


def random_graph(tokens):
    """(tensors, graph text, inputs) of a random graph over every node kind."""
    t, g, vals = {}, [], []

    def tensor(a):
        t[f"t{len(t)}"] = a
        return f"t{len(t) - 1}"

    def put(expr, f):
        name = f"v{len(vals)}"
        g.append(f"%{name} = {expr}")
        vals.append((name, f))
        return name

    s = int(rng.integers(2, 6))
    if tokens:
        g += ["input(ids, ids)", "input(mask, mask)", "input(tt, type_ids)"]
        f0 = int(rng.choice([4, 8]))
        e = put(f"embed(%ids, {tensor(f32(9, f0, s=1.0))})", f0)
        p = put(f"pos_embed(%mask, {tensor(f32(s + 2, f0))})", f0)
        put(f"add(%{e}, %{p})", f0)
        put(f"embed(%tt, {tensor(f32(3, f0))})", f0)
    else:
        f0 = int(rng.integers(3, 12))
        g.append(f"input(x, features, {f0})")
        vals.append(("x", f0))
    for _ in range(int(rng.integers(6, 14))):
        a, fa = vals[int(rng.integers(len(vals)))]
        op = rng.choice(["linear", "act", "softmax", "scale", "add", "mul", "layernorm", "rmsnorm", "l2norm"]
                        + (["attention"] * 3 if tokens else ["linear"]))
        if op == "linear":
            fo = int(rng.integers(2, 16))
            bias = f", {tensor(f32(fo, s=0.1))}" if rng.random() < 0.5 else ""
            put(f"linear(%{a}, {tensor(f32(fo, fa))}{bias})", fo)
        elif op == "act":
            act = ACTS[int(rng.integers(len(ACTS)))]
            put(f"leaky_relu(%{a}, 0.25)" if act.startswith("leaky") else f"{act}(%{a})", fa)
        elif op in ("softmax", "l2norm"):
            put(f"{op}(%{a})", fa)
        elif op == "scale":
            bias = f", {tensor(f32(fa, s=0.1))}" if rng.random() < 0.5 else ""
            put(f"scale(%{a}, {rng.normal():.6g}{bias})", fa)
        elif op in ("add", "mul"):
            same = [n for n, f in vals if f == fa]
            put(f"{op}(%{a}, %{same[int(rng.integers(len(same)))]})", fa)
        elif op == "layernorm":
            w = f"weight={tensor(1 + f32(fa, s=0.1))}, " if rng.random() < 0.7 else ""
            b = f"bias={tensor(f32(fa, s=0.1))}, " if rng.random() < 0.7 else ""
            put(f"layernorm(%{a}, {w}{b}eps=1e-5)", fa)
        elif op == "rmsnorm":
            w = f"{tensor(1 + f32(fa, s=0.1))}, " if rng.random() < 0.7 else ""
            put(f"rmsnorm(%{a}, {w}eps=1e-6)", fa)
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
                attrs += f", rope_theta={rng.choice([10.0, 10000.0])}"
            if rng.random() < 0.3:
                attrs += f", scale={rng.uniform(0.1, 1):.6g}"
            msk = ", %mask" if rng.random() < 0.7 else ""
            put(f"attention(%{a}, %{k}, %{v}{msk}, {attrs})", heads * dv)
    g.append(f"output(y, %{vals[-1][0]})")
    other = vals[int(rng.integers(len(vals)))][0]
    if tokens:
        msk = "%mask, " if rng.random() < 0.7 else ""
        g.append(f"pool(%{vals[-1][0]}, {msk}{'cls' if rng.random() < 0.4 else 'mean'})")
        g.append("output(pooled)")
    elif other != "x":
        g.append(f"output(z, %{other})")
    n = int(rng.integers(1, 4))
    if tokens:
        mask = (rng.random((n, s)) < 0.8).astype(np.int64)
        mask[:, 0] = 1
        inputs = {"ids": rng.integers(0, 9, (n, s)), "mask": mask, "tt": rng.integers(0, 3, (n, s))}
    else:
        inputs = f32(n, f0, s=1.0)
    return t, "; ".join(g), inputs


def test_random_graphs():
    kinds = set()
    for k in range(16):
        tokens = k % 2 == 1
        tensors, graph, inputs = random_graph(tokens)
        src = os.path.join(TMP, f"rand{k}.safetensors")
        save_file(tensors, src, metadata={"dlor.graph": graph})
        for form, flags in (("dense", ["--exclude", "*"]), ("add", ["--method", "add"])):
            path = os.path.join(TMP, f"rand{k}-{form}.dlor")
            if not convert(src, path, *flags):
                continue
            m = dlor.load(path)
            kinds |= {nd.kind for nd in m.graph}
            outs = m.outputs(inputs)
            for out in m.output_names:
                y = dlor_run(path, inputs, out)
                if y is not None:
                    e = rel(outs[out], y)
                    check(outs[out].shape == y.shape and e <= TOL, f"random graph {k} {form} {out}: {e:.3g} ({graph})")
    every = {"linear", "act", "softmax", "input", "output", "embed", "pos_embed", "add", "mul", "scale",
             "layernorm", "rmsnorm", "attention", "pool", "l2norm"}
    check(kinds == every, f"random graphs cover every kind: missing {sorted(every - kinds)}")


# ---- chains read as DAGs ----------------------------------------------------------------------

def test_chains():
    cases = [("digits", "samples/digits/digits.safetensors", "samples/digits/x_test.npy", "relu"),
             ("sawtooth", "samples/sawtooth/sawtooth.safetensors", "samples/sawtooth/x_test.npy", "softplus")]
    forms = [("mul", ["--method", "mul", "--rank", "16"]), ("add", ["--method", "add"]),
             ("budget", ["--budget", "0.25"]), ("wide", ["--form", "network", "--construction", "wide"])]
    for sample, src, xs, act in cases:
        x = np.load(os.path.join(SRC, xs))[:64]
        for form, flags in forms:
            path = os.path.join(TMP, f"{sample}-{form}.dlor")
            if not convert(os.path.join(SRC, src), path, "--activation", act, *flags):
                continue
            m = dlor.load(path)
            label = f"{sample} {form}"
            dag = m.dag
            check(not m.is_dag and dag[0].kind == "input" and dag[-1].kind == "output" and
                  m.input_names == ["input"] and m.output_names == ["output"], f"{label}: the chain as a DAG")
            if form == "wide" and sample == "digits":
                check({"scale", "add"} <= {nd.kind for nd in dag}, f"{label}: branches become scale and add")
            chain = m.forward(x)
            via = dlor.dag.evaluate(m, dag, {"features": x.astype(np.float64)}, np.float64, len(x), 1)["output"]
            check(rel(via, chain) <= 1e-12, f"{label}: DAG reading vs chain {rel(via, chain):.3g}")
            y = dlor_run(path, x)
            if y is not None:
                check(rel(via, y) <= TOL, f"{label}: DAG reading vs dlor run {rel(via, y):.3g}")
            check(m.forward(x[0]).shape == (m.out_features,), f"{label}: one sample")


# ---- hostile DAG records -----------------------------------------------------------------

def dag_section(b):
    for s in range(struct.unpack_from("<I", b, 52)[0]):
        kind, _, off, _, count = struct.unpack_from("<IIQQQ", b, 64 + 32 * s)
        if kind == 0x8002:
            return off, count
    return None, 0


def reseal(b):
    header_len = struct.unpack_from("<Q", b, 16)[0]
    struct.pack_into("<I", b, 56, 0)
    struct.pack_into("<I", b, 56, zlib.crc32(bytes(b[:header_len])) & 0xFFFFFFFF)
    return bytes(b)


def test_hostile():
    good = os.path.join(TMP, "bert-tiny-add.dlor")
    if not os.path.exists(good):
        check(False, "no bert-tiny-add.dlor")
        return
    data = open(good, "rb").read()
    off, count = dag_section(data)
    check(off is not None and count == len(dlor.load(good).graph), "found the DAG section")
    bad = os.path.join(TMP, "bad.dlor")
    nodes = dlor.load(good).graph
    att = next(nd.index for nd in nodes if nd.kind == "attention")
    lin = next(nd.index for nd in nodes if nd.kind == "linear")
    ln = next(nd.index for nd in nodes if nd.kind == "layernorm")
    out = next(nd.index for nd in nodes if nd.kind == "output")
    cases = [
        ("an unknown kind", lin, 0, "<H", 4, ["node", "unknown kind 4"]),
        ("a value read before it is made", lin, 8, "<I", lin, ["node", "not made before it"]),
        ("a declared feature count that differs", lin, 48, "<Q", 65, ["node", "declares"]),
        ("heads that do not divide the features", att, 40, "<I", 3, ["node", "heads"]),
        ("kv_heads that do not divide heads", att, 44, "<I", 3, ["node", "heads"]),
        ("an eps of 0", ln, 64, "<d", 0.0, ["node", "eps"]),
        ("a reserved byte", ln, 90, "<B", 1, ["node", "reserved"]),
        ("a flag the kind lacks", ln, 4, "<I", 2, ["node", "flags"]),
        ("an unused input slot set", ln, 12, "<I", 0, ["node", "unused input slot"]),
        ("a layer index out of range", lin, 24, "<I", 999, ["node", "layer index 999"]),
        ("an unknown value type", lin, 56, "<B", 9, ["node", "value type"]),
        ("a node reading an output", out + 1, 8, "<I", out, ["node", "OUTPUT"]),
    ]
    for label, node, field, fmt, value, words in cases:
        b = bytearray(data)
        struct.pack_into(fmt, b, off + 96 * node + field, value)
        with open(bad, "wb") as f:
            f.write(reseal(b))
        try:
            dlor.load(bad)
            check(False, f"{label}: accepted")
        except dlor.FormatError as e:
            msg = str(e)
            check(msg.startswith(bad + ": ") and f"DAG node {node}" in msg and "\n" not in msg and
                  all(w in msg for w in words), f"{label}: message {msg!r}")
        check(subprocess.run([DLOR, "info", bad], capture_output=True).returncode != 0,
              f"{label}: the C reader accepts it")


if __name__ == "__main__":
    test_transformers()
    test_random_graphs()
    test_chains()
    test_hostile()
    finish()
