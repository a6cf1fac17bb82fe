"""The static cost of one inference that 'dlor export-c' writes into its header
(and prints) and 'dlor info' shows: multiply-accumulates per graph operation
and in total, the weight bytes each reads, the image's flash bytes and the
scratch for a batch of one. The counts are recomputed here from the file as
tests/dlor_pyreader.py reads it (independent of the C code): a dense layer out x
in, a DLoR layer one per element of its factors plus its diagonal (alpha x once
per mul factor, once for an add layer), a branch closing or a merge one per
feature it adds. A name quoted from the file cannot break the header's C comment. For a
transformer's graph of values (bert-tiny, llama-tiny) the rows are its nodes that read weights:
linear steps as above, lookups and norms with their tensors' bytes."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader as pr  # noqa: E402
from dlor_testlib import DLOR, SRC, check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("cost")
DIGITS = os.path.join(SRC, "samples", "digits", "digits.safetensors")


def expected(path):
    """{op index: (macs, weight bytes)} for the operations that cost something."""
    _, tensors, layers = pr.read(path)
    out, width, in_group = {}, 0, False
    for i, op in enumerate(pr.read_graph(path)):
        bias = tensors[op["bias"]].nbytes if op["bias"] else 0
        if op["kind"] == "linear" and op["is_layer"]:
            L = layers[op["weight"]]
            k = L["U"].shape[0]
            if L["method"] == 1:
                D = max(L["rows"], L["cols"])
                macs = 2 * k * D + L["factors"] * D
            else:
                macs = k * (L["rows"] + L["cols"]) + min(L["rows"], L["cols"])
            out[i] = (macs, L["U"].nbytes + L["V"].nbytes + bias)
            width = L["rows"]
        elif op["kind"] == "linear":
            W = tensors[op["weight"]]
            out[i] = (W.size, W.nbytes + bias)
            width = W.shape[0]
        elif op["kind"] in ("branch", "merge"):
            if in_group or op["kind"] == "merge":
                out[i] = (width, bias)
            elif bias:
                out[i] = (0, bias)
            in_group = op["kind"] == "branch"
    return out


rng = np.random.default_rng(3)
branchy = os.path.join(TMP, "branchy.safetensors")
save_file({"a": rng.standard_normal((12, 6)).astype(np.float32), "b": rng.standard_normal((12, 12)).astype(np.float32),
           "bb": rng.standard_normal(12).astype(np.float32), "bm": rng.standard_normal(12).astype(np.float32),
           "c*/x": rng.standard_normal((3, 12)).astype(np.float32)}, branchy,
          metadata={"dlor.graph": "linear(a); tanh; branch(0.5); linear(b,bb); tanh; branch(-1.25); linear(b); "
                                  "merge(bm); softplus; linear(c*/x)"})
cases = {"mul": [DIGITS, "--activation", "relu"], "add": [DIGITS, "--activation", "relu", "--method", "add"],
         "f16": [DIGITS, "--activation", "relu", "--budget", "0.5", "--dtype", "f16", "--compress"],
         "dense": [DIGITS, "--activation", "relu", "--exclude", "*"],
         "branchy": [branchy, "--rank", "4", "--exclude", "c*/x"],
         "wide": [DIGITS, "--activation", "relu", "--form", "network", "--construction", "wide", "--rank", "64"]}
cc = os.environ.get("DLOR_CC") or shutil.which("cc")
for name, args in cases.items():
    model, header = os.path.join(TMP, f"{name}.dlor"), os.path.join(TMP, f"{name}.h")
    rc, so, se = run("convert", args[0], "-o", model, *args[1:])
    if not check(rc == 0, f"{name}: convert: {se}"):
        continue
    want = expected(model)
    total = sum(m for m, _ in want.values())
    rc, printed, se = run("export-c", model, "-o", header)
    check(rc == 0, f"{name}: export-c: {se}")
    h = open(header).read()
    size = int(re.search(r"_SIZE (\d+)u", h).group(1))
    scratch = int(re.search(r"_SCRATCH_BYTES (\d+)u", h).group(1))
    check(int(re.search(r"_MACS (\d+)u", h).group(1)) == total, f"{name}: header MACs vs {total}")
    rows = {int(m.group(1)): (int(m.group(3)), int(m.group(2)))
            for m in re.finditer(r"^ \* +(\d+) .* (\d+) +(\d+)$", h, re.M)}
    check(rows == want, f"{name}: header rows {rows} vs {want}")
    comment = h[h.index("/*\n * cost") + 3:h.index(" */\n", h.index("/*\n * cost"))]
    check(printed == "".join(line[3:] + "\n" for line in comment.splitlines()),
          f"{name}: export-c prints what it writes into the header:\n{printed}\n{comment}")
    check(f"{size} bytes of flash" in printed and f"{scratch} bytes of scratch RAM" in printed
          and f"{total} multiply-accumulates" in printed, f"{name}: summary line: {printed}")
    # the image as export-c writes it: inflated when the file is compressed
    check((size > os.path.getsize(model)) == (name == "f16"), f"{name}: {size} vs file {os.path.getsize(model)}")
    rc, so, se = run("info", model)
    check(rc == 0 and printed in so, f"{name}: info shows the same cost:\n{so}")
    rc, so, se = run("info", model, "--json")
    cost = json.loads(so)["cost"] if rc == 0 else {}
    check(cost.get("macs") == total and cost.get("flash_bytes") == size and cost.get("scratch_bytes") == scratch,
          f"{name}: info --json cost {cost}")
    check({o["op"]: (o["macs"], o["weight_bytes"]) for o in cost.get("ops", [])} == want, f"{name}: JSON ops")
    if cc:  # the header compiles, quoted names and all
        src = os.path.join(TMP, f"{name}-use.c")
        open(src, "w").write(f'#include "{name}.h"\nconst unsigned char *p(void) {{ return dlor_model_image; }}\n')
        r = subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-fsyntax-only", src], capture_output=True, text=True)
        check(r.returncode == 0, f"{name}: header does not compile: {r.stderr[:500]}")
check("c*?x" in open(os.path.join(TMP, "branchy.h")).read(), "a '*/' in a name is defused in the header comment")
# the header on standard output: the same bytes, and the cost on stderr
p = subprocess.run([DLOR, "export-c", os.path.join(TMP, "f16.dlor"), "-o", "-"],
                   capture_output=True, text=True)
check(p.returncode == 0 and p.stdout == open(os.path.join(TMP, "f16.h")).read()
      and p.stderr.startswith("cost of one inference:"), f"export-c -o -: the header alone on stdout: {p.stderr}")
rc, so, se = run("info", os.path.join(TMP, "branchy.dlor"))
check(rc == 0 and "merge (weighted sum)" in so, f"info lists the merge's weighted sum: {so}")


def expected_dag(path, graph):
    """{node: (macs, weight bytes)} of a graph of values (info --json's 'graph', node i = entry i):
    a linear step as in a chain, a multiply or a scale one product per feature, a lookup or a norm
    its tensors' bytes and no products; attention, additions, activations and pooling nothing here."""
    _, tensors, layers = pr.read(path)
    out, width = {}, []
    for i, op in enumerate(graph):
        nbytes = sum(tensors[op[k]].nbytes for k in ("weight", "bias") if op.get(k) and op[k] in tensors)
        if op["op"] == "linear":
            width.append(layers[op["weight"]]["rows"] if op["weight"] in layers else tensors[op["weight"]].shape[0])
        elif op["op"] in ("embed", "pos_embed"):
            width.append(tensors[op["weight"]].shape[1])
        else:  # every other node as wide as its first input
            width.append(width[op["in"][0]] if op.get("in") else 0)
        if op["op"] in ("mul", "scale"):  # one product per feature
            out[i] = (width[i], nbytes)
        elif op["op"] == "linear" and op["weight"] in layers:
            L = layers[op["weight"]]
            k = L["U"].shape[0]
            D = max(L["rows"], L["cols"])
            macs = 2 * k * D + L["factors"] * D if L["method"] == 1 else k * (L["rows"] + L["cols"]) + min(L["rows"], L["cols"])
            out[i] = (macs, L["U"].nbytes + L["V"].nbytes + nbytes)
        elif op["op"] == "linear":
            out[i] = (tensors[op["weight"]].size, nbytes)
        elif nbytes:
            out[i] = (0, nbytes)
    return out


# transformers (graphs of values): info lists every node that reads weights, the column as wide as
# the longest description, and the rows add up to the total
for sample, args in (("bert-tiny", ["--budget", "0.5"]), ("llama-tiny", ["--method", "add"])):
    model = os.path.join(TMP, f"{sample}.dlor")
    rc, so, se = run("convert", os.path.join(SRC, "samples", sample), "-o", model, *args)
    if not check(rc == 0, f"{sample}: convert: {se}"):
        continue
    rc, so, se = run("info", model, "--json")
    j = json.loads(so) if rc == 0 else {}
    cost, want = j.get("cost", {}), expected_dag(model, j.get("graph", []))
    got = {o["op"]: (o["macs"], o["weight_bytes"]) for o in cost.get("ops", [])}
    check(len(want) > 10 and got == want, f"{sample}: JSON cost rows {got} vs {want}")
    check(cost.get("macs") == sum(m for m, _ in want.values()), f"{sample}: total {cost.get('macs')}")
    rc, so, se = run("info", model)
    table = so[so.index("cost of one inference"):].splitlines()[1:] if rc == 0 and "cost of one" in so else []
    rows = [ln for ln in table if re.match(r"^ +\d+  ", ln)]
    check(len(rows) == len(want) and len({len(ln) for ln in rows + table[:1]}) == 1,
          f"{sample}: the text table has a row per costly node, aligned: {table[:3]}")
finish()
