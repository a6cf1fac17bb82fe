"""convert's extra outputs against the source and numpy rebuilds.

--emit (the factors) keeps every metadata entry of the source's safetensors header (format:
pt and the rest) next to its own NAME.dlor.* keys. --emit-dense writes a drop-in for the
source: the same tensor names, shapes, dtypes and metadata; every converted layer equal to
the dense matrix rebuilt in numpy from the .dlor's factors (tests/dlor_pyreader.py, written
apart from the C code) rounded to the source dtype (within one rounding: 2 ulp of the
layer's largest value), every other tensor bit for bit the source's (a layer kept dense at a
narrower --dtype: the stored values widened exactly), loadable by safetensors; a model with a
graph in its metadata runs from it through `dlor run` as from the .dlor (1e-5). Sources:
digits, bert-tiny with its graph, and a file of mixed dtypes (f16 and f64 layers, tall and
wide, an integer and a 3-D tensor); forms mul, add, a budget, lowrank at f16. --emit-dense
refused with --shard or --form network, and with an output that is the input (exit 2,
nothing written)."""
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader as reader  # noqa: E402
from dlor_testlib import SRC, check, finish, run, scratch_dir  # noqa: E402
from sample_graphs import sample_with_graph  # noqa: E402

TMP = scratch_dir("emit")
rng = np.random.default_rng(77)


def fresh(name):
    p = os.path.join(TMP, name)
    if os.path.exists(p):
        os.remove(p)
    return p


def header(path):
    with safe_open(path, "np") as f:
        return f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}


def mixed_source():
    path = os.path.join(TMP, "mixed.safetensors")
    save_file({"tall.weight": rng.standard_normal((40, 12)).astype(np.float16),
               "wide.weight": rng.standard_normal((9, 30)),
               "sq.weight": rng.standard_normal((16, 16)).astype(np.float32),
               "sq.bias": rng.standard_normal(16).astype(np.float32),
               "steps": np.arange(7, dtype=np.int64), "conv": rng.standard_normal((2, 3, 4)).astype(np.float32)},
              path, metadata={"format": "pt", "note": "mixed dtypes", "empty": ""})
    return path


def check_pair(label, src, dl, emit, dense):
    smeta, stensors = header(src)
    emeta, etensors = header(emit)
    extra = {k for k in emeta if k not in smeta}
    check(all(emeta.get(k) == v for k, v in smeta.items()) and all(".dlor." in k for k in extra),
          f"{label}: --emit metadata {sorted(emeta)[:8]} against the source's {smeta}")
    dmeta, dtensors = header(dense)
    check(dmeta == smeta, f"{label}: --emit-dense metadata {dmeta} against the source's {smeta}")
    check(sorted(dtensors) == sorted(stensors), f"{label}: --emit-dense names {sorted(dtensors)}")
    check(load_file(dense).keys() == dtensors.keys(), f"{label}: loadable by safetensors.numpy.load_file")
    _, tensors, layers = reader.read(dl)
    for name, s in stensors.items():
        d = dtensors.get(name)
        if d is None:
            continue
        if not check(d.shape == s.shape and d.dtype == s.dtype, f"{label}: {name} {d.shape} {d.dtype}"):
            continue
        if name in layers:
            ref = reader.rebuild(layers[name])
            ulp = np.finfo(s.dtype).eps * np.abs(ref).max()
            e = np.abs(d.astype(np.float64) - ref).max()
            check(e <= 2 * ulp, f"{label}: {name} against the numpy rebuild: {e:.3g} (2 ulp {2 * ulp:.3g})")
        elif tensors[name].dtype != s.dtype:
            check(np.array_equal(d, tensors[name].astype(s.dtype)) and tensors[name].dtype.itemsize < s.dtype.itemsize,
                  f"{label}: {name} kept dense at {tensors[name].dtype}, widened back")
        else:
            check(d.tobytes() == s.tobytes(), f"{label}: {name} is not the source's bit for bit")


def test_sources():
    digits = os.path.join(SRC, "samples/digits/digits.safetensors")
    bert, _, _ = sample_with_graph("bert-tiny", TMP)
    forms = [("mul", ["--method", "mul", "--rank", "16"]), ("add", ["--method", "add"]),
             ("budget", ["--budget", "0.25"]), ("lowrank-f16", ["--method", "lowrank", "--rank", "8", "--dtype", "f16"])]
    for sname, src in (("digits", digits), ("mixed", mixed_source()), ("bert", bert)):
        for form, flags in forms:
            if sname == "bert" and form == "mul":
                continue
            label = f"{sname} {form}"
            dl, emit, dense = fresh(f"{sname}-{form}.dlor"), fresh(f"{sname}-{form}.emit.st"), fresh(f"{sname}-{form}.dense.st")
            rc, _, se = run("convert", src, "-o", dl, *flags, "--emit", emit, "--emit-dense", dense)
            if check(rc == 0 and os.path.exists(emit) and os.path.exists(dense), f"{label}: convert: {se}"):
                check_pair(label, src, dl, emit, dense)
    # the drop-in runs where the source ran: bert's graph is in its metadata
    dl, dense = os.path.join(TMP, "bert-budget.dlor"), os.path.join(TMP, "bert-budget.dense.st")
    inputs = os.path.join(SRC, "samples/bert-tiny/test.npz")
    outs = []
    for model in (dl, dense):
        y = fresh("y.npy")
        rc, _, se = run("run", model, "-i", inputs, "-o", y)
        outs.append(np.load(y) if check(rc == 0, f"run {model}: {se}") else None)
    if outs[0] is not None and outs[1] is not None:
        e = float(np.abs(outs[0] - outs[1]).max() / np.abs(outs[0]).max())
        check(e <= 1e-5, f"bert budget: dlor run of the --emit-dense file against the .dlor: {e:.3g}")


def test_refusals():
    digits = os.path.join(SRC, "samples/digits/digits.safetensors")
    for label, args in (("--shard", ["--shard", "0/2", "--method", "add"]),
                        ("--form network", ["--form", "network", "--activation", "relu"])):
        dl, dense = fresh("refused.dlor"), fresh("refused.dense.st")
        rc, so, se = run("convert", digits, "-o", dl, *args, "--emit-dense", dense)
        check(rc == 2 and "--emit-dense" in se and len(se.strip().splitlines()) == 1 and not os.path.exists(dl)
              and not os.path.exists(dense), f"--emit-dense with {label}: rc {rc}: {se}")
    copy = os.path.join(TMP, "copy.safetensors")
    with open(digits, "rb") as f, open(copy, "wb") as g:
        g.write(f.read())
    before = open(copy, "rb").read()
    rc, so, se = run("convert", copy, "-o", fresh("x.dlor"), "--emit-dense", copy)
    check(rc == 2 and "--emit-dense" in se and open(copy, "rb").read() == before and
          not os.path.exists(os.path.join(TMP, "x.dlor")), f"--emit-dense onto the input: rc {rc}: {se}")


test_sources()
test_refusals()
finish()
