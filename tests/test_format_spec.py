"""test_format_spec - formats/DLOR_FORMAT.md, dlor's readers and writer, and the
independent reader tests/dlor_pyreader.py (written from the spec alone) agree.

  * every form dlor writes (exact mul in panels and rows, add, compressed with
    and without --factors, kept-dense layers narrowed to --dtype, network deep
    and wide, zlib-compressed) is accepted by both readers; its metadata keys
    are the ones section 5 lists (dlor.basis naming the layers' basis), its
    dlor.graph_source a value 7.4 lists, every layer's source dtype a float
    dtype, and every tensor no layer refers to is one section 7.3 describes;
  * empty tensors that sort last share the offset file_len (section 6);
  * each rule added to section 9 (section kinds in increasing order, bool bytes
    0 or 1, a float source dtype, a U tensor in panels used by its layer alone,
    an optional section of raw bytes with count == size) is refused by both
    readers, with dlor's message naming it, and the writer refuses to write a
    bool byte of 2 or a layer whose source dtype is not a float dtype;
  * both readers give the same verdict on every file of the fuzz corpus of
    .dlor images, as given and with its checksums recomputed.

Prints "N passed, N failed" and exits non-zero on any failure."""
import os
import re
import struct
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader  # noqa: E402
import dlor_spec_cases  # noqa: E402
from dlor_testlib import SRC, check, finish, run, scratch  # noqa: E402

CHECK = os.environ["DLOR_CHECK"]
TMP, path, _ = scratch("format_spec")
SPEC = open(os.path.join(SRC, "formats", "DLOR_FORMAT.md")).read()
CORPUS = os.path.join(SRC, "tests", "fuzz", "corpus", "dlor")


def write(name, data):
    p = path(name)
    with open(p, "wb") as f:
        f.write(data)
    return p


def c_verdicts(paths):
    """dlor's verdict on each file: (accepted, message)."""
    r = subprocess.run([CHECK] + paths, capture_output=True, text=True)
    lines = r.stdout.splitlines()
    check(len(lines) == len(paths), "check_dlor printed %d lines for %d files: %s" % (len(lines), len(paths), r.stderr))
    for p, line in zip(paths, lines):
        check(not line.startswith("DISAGREE"), "%s: dlor's in-place and host readers disagree: %s" % (p, line))
    return [(line == "ok", line) for line in lines]


def py_verdict(p):
    try:
        dlor_pyreader.read(p)
        return True, "ok"
    except dlor_pyreader.DlorError as e:
        return False, str(e)


# ---- the keys and values the spec lists ------------------------------------------------------------

def spec_keys():
    """Every `dlor.*` key named in the first column of the metadata tables (sections 5 and 7.5)."""
    keys = set()
    for line in SPEC.splitlines():
        cells = line.split("|")
        if len(cells) > 2:
            keys.update(re.findall(r"`(dlor\.[a-z0-9_]+)`", cells[1]))
    return keys


KEYS = spec_keys()
GRAPH_SOURCES = re.compile(r"^(onnx|metadata|names|network\((onnx|metadata|names)\))$")


def model():
    rng = np.random.default_rng(5)
    t = {"0.weight": rng.standard_normal((6, 4)).astype(np.float32), "0.bias": rng.standard_normal(6).astype(np.float32),
         "2.weight": rng.standard_normal((5, 6)).astype(np.float32), "2.bias": rng.standard_normal(5).astype(np.float32),
         "4.weight": rng.standard_normal((3, 5)).astype(np.float32), "4.bias": rng.standard_normal(3).astype(np.float32),
         "mask": np.array([True, False, True]), "step": np.array([3], dtype=np.int64),
         "zz.empty0": np.zeros((0, 2), dtype=np.float32), "zz.empty1": np.zeros((2, 0), dtype=np.float16)}
    p = path("model.safetensors")
    save_file(t, p, metadata={"note": "spec", "dlor.graph": dlor_spec_cases.GRAPH})
    return p, t


def test_forms():
    src, source = model()
    forms = {
        "mul": [], "rows": ["--layout", "rows"], "add": ["--method", "add"], "random": ["--basis", "random"],
        "lowrank": ["--method", "lowrank", "--rank", "2"], "factors": ["--method", "lowrank", "--rank", "2", "--factors", "3"],
        "kept-f16": ["--method", "auto", "--tol", "1e-9", "--dtype", "f16"],
        "deep": ["--form", "network", "--h", "0.01", "--rank", "2"],
        "wide": ["--form", "network", "--construction", "wide", "--h", "0.01", "--rank", "2"],
        "deflated": ["--compress"]}
    files = {}
    for name, args in forms.items():
        out = path(name + ".dlor")
        rc, _, se = run("convert", src, "-o", out, *args)
        if check(rc == 0, "convert %s: %s" % (name, se)):
            files[name] = out
    for (name, out), (ok, msg) in zip(files.items(), c_verdicts(list(files.values()))):
        check(ok, "%s: dlor's reader refuses what dlor wrote: %s" % (name, msg))
        pok, pmsg = py_verdict(out)
        if not check(pok, "%s: the independent reader refuses it: %s" % (name, pmsg)):
            continue
        meta, tensors, layers = dlor_pyreader.read(out)
        extra = sorted(k for k in meta if not k.startswith("source.") and k not in KEYS)
        check(not extra, "%s: metadata keys the spec does not list: %s" % (name, extra))
        check("dlor.padding" in meta and meta.get("dlor.padding") == "zero", "%s: dlor.padding" % name)
        check(bool(GRAPH_SOURCES.match(meta.get("dlor.graph_source", ""))),
              "%s: dlor.graph_source '%s'" % (name, meta.get("dlor.graph_source")))
        bases = {L["basis"] for L in layers.values()}
        want = {"schur": 1, "random": 2, "svd": 3}[meta["dlor.basis"]]
        if name == "wide" or name == "deep":  # exact components of a network form are add layers
            bases.discard(3)
        check(bases <= {want}, "%s: dlor.basis %s, layers record %s" % (name, meta["dlor.basis"], bases))
        check(all(L["source_dtype"] in (1, 2, 3, 4) for L in layers.values()), "%s: source dtypes" % name)
        # section 7.3: the tensors no layer refers to
        _, trecs, lrecs, _ = dlor_pyreader._load(out)
        used = {trecs[L["ui"]]["name"] for L in lrecs} | {trecs[L["vi"]]["name"] for L in lrecs}
        kept = set(filter(None, meta.get("dlor.kept_dense", "").split(",")))
        for t in trecs:
            n = t["name"]
            if n in used:
                continue
            if n in source:
                a = np.ascontiguousarray(source[n])
                store = {"f16": np.float16, "f32": np.float32, "f64": np.float64}.get(meta["dlor.dtype"])
                if n in kept and np.dtype(store).itemsize < a.dtype.itemsize:  # narrowed, rounded to nearest
                    ok = t["dtype"] == {np.float16: 2, np.float32: 1}[store] and np.array_equal(tensors[n],
                                                                                                 a.astype(store))
                else:  # carried unchanged (a kept-dense weight too, when dlor.dtype is not narrower)
                    ok = t["raw"] == a.tobytes() and t["dims"] == a.shape
                check(ok, "%s: tensor '%s' is not carried as section 7.3 says" % (name, n))
            else:
                check(name in ("deep", "wide") and re.match(r"^.+\.(deep\.\d+\.bias|wide\.c)$", n) is not None,
                      "%s: tensor '%s' is neither the source's nor the network form's" % (name, n))
        if name == "kept-f16":
            check(kept == {"0.weight", "2.weight", "4.weight"}, "kept dense: %s" % kept)
        if name == "mul":  # section 6: the empty tensors sorting last share the offset file_len
            size = os.path.getsize(out)
            ends = [t for t in trecs if t["name"].startswith("zz.")]
            raw = open(out, "rb").read()
            off = dlor_spec_cases._tensor_index(raw, "zz.empty0")[1]
            off1 = dlor_spec_cases._tensor_index(raw, "zz.empty1")[1]
            o0, o1 = struct.unpack_from("<Q", raw, off + 80)[0], struct.unpack_from("<Q", raw, off1 + 80)[0]
            check(len(ends) == 2 and o0 == o1 == size and size % 64 == 0,
                  "empty tensors last: offsets %d, %d, file of %d bytes" % (o0, o1, size))


def test_cases():
    base_path = path("spec-base.dlor")
    with open(path("spec-model.safetensors"), "wb") as f:
        f.write(dlor_spec_cases.spec_model_bytes())
    rc, _, se = run("convert", path("spec-model.safetensors"), "-o", base_path, *dlor_spec_cases.CONVERT_ARGS)
    if not check(rc == 0, "convert the spec model: %s" % se):
        return
    cases = dlor_spec_cases.cases(open(base_path, "rb").read())
    paths = [write("case-%s.dlor" % name, data) for name, data, _, _ in cases]
    for (name, _, valid, msg), p, (ok, line) in zip(cases, paths, c_verdicts(paths)):
        check(ok == valid and (valid or msg in line), "%s: dlor says '%s', expected %s" %
              (name, line, "valid" if valid else "a refusal naming '%s'" % msg))
        pok, pmsg = py_verdict(p)
        check(pok == valid, "%s: the independent reader says '%s', expected %s" % (name, pmsg, valid))
    # the fuzz corpus holds these cases (tests/fuzz/make_seeds.py writes them), with the same verdicts
    seeds = [os.path.join(CORPUS, "seed-spec-" + name) for name, _, _, _ in cases]
    present = [p for p in seeds if os.path.exists(p)]
    check(len(present) == len(seeds), "the corpus lacks %s" % sorted(set(seeds) - set(present)))
    for (name, _, valid, _), (ok, line) in zip(cases, c_verdicts(present) if len(present) == len(seeds) else []):
        check(ok == valid and py_verdict(os.path.join(CORPUS, "seed-spec-" + name))[0] == valid,
              "seed-spec-%s: dlor says '%s', expected %s" % (name, line, "valid" if valid else "a refusal"))
    # the writer refuses to carry what the readers refuse: a bool byte of 2 in a source
    bad = write("bool2.safetensors", dlor_spec_cases.safetensors_bytes(
        [("w", "F32", [2, 2], np.ones(4, "<f4").tobytes()), ("flag", "BOOL", [2], b"\x01\x02")]))
    out = path("bool2.dlor")
    rc, _, se = run("convert", bad, "-o", out)
    check(rc == 1 and "'flag'" in se and "bool element 1 is 2" in se and not os.path.exists(out),
          "convert refuses to carry a bool byte of 2: rc %d %s" % (rc, se))


def test_corpus():
    files = sorted(os.path.join(CORPUS, f) for f in os.listdir(CORPUS))
    fixed = [write("fixed-%s" % os.path.basename(f), dlor_spec_cases.fix_checksums(open(f, "rb").read()))
             for f in files]
    disagree, accepted = [], 0
    for p, (ok, line) in zip(files + fixed, c_verdicts(files + fixed)):
        pok, pmsg = py_verdict(p)
        accepted += ok
        if ok != pok:
            disagree.append("%s: dlor %s, independent reader %s" % (os.path.basename(p), line, pmsg))
    check(not disagree, "%d corpus files get different verdicts:\n  %s" % (len(disagree), "\n  ".join(disagree[:10])))
    check(accepted >= 20, "only %d corpus files are valid: the seeds are missing" % accepted)
    print("corpus: %d files, %d accepted, %d refused, both readers agreeing on %d" %
          (len(files + fixed), accepted, len(files + fixed) - accepted, len(files + fixed) - len(disagree)))


test_forms()
test_cases()
test_corpus()
finish()
