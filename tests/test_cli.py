"""End-to-end tests of the dlor command: conversions checked by an
independent reader (dlor_pyreader, numpy), exit codes, messages, and that a
failed run leaves no output and never clobbers an existing file."""
import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader  # noqa: E402
from dlor_testlib import check, finish, run, scratch, without_graph_note  # noqa: E402

TMP, path, fresh = scratch("cli")


rng = np.random.default_rng(1234)
model = {
    "fc1.weight": rng.standard_normal((24, 10)).astype(np.float32),
    "fc1.bias": rng.standard_normal(24).astype(np.float32),
    "fc2.weight": rng.standard_normal((20, 20)).astype(np.float32),
    "fc3.weight": rng.standard_normal((7, 20)).astype(np.float32),
    "emb": rng.standard_normal((2, 3, 4)).astype(np.float32),
    "ids": np.arange(5, dtype=np.int64),
}
src = path("model.safetensors")
save_file(model, src, metadata={"origin": "test"})

# ---- conversions checked by the independent reader ----------------------------
cases = [
    (["--method", "mul", "--rank", "3"], 5e-6, "f32 mul schur"),
    (["--method", "mul", "--rank", "4", "--dtype", "f64"], 1e-12, "f64 mul schur"),
    (["--method", "mul", "--rank", "1", "--dtype", "f16"], 1e-2, "f16 mul r=1"),
    (["--method", "mul", "--rank", "5", "--dtype", "bf16"], 5e-2, "bf16 mul"),
    (["--method", "add", "--rank", "3"], 2e-6, "f32 add"),
    (["--method", "add", "--rank", "2", "--alpha", "0.5", "--dtype", "f64"], 1e-12, "f64 add alpha"),
    (["--method", "mul", "--basis", "random", "--seed", "7", "--rank", "5", "--dtype", "f64",
      "--include", "fc2.weight"], 1e-7, "f64 mul random"),
]
for i, (flags, tol, what) in enumerate(cases):
    out = fresh(f"case{i}.dlor")
    rc, so, se = run("convert", src, "-o", out, *flags)
    check(rc == 0, f"{what}: convert exit {rc}: {se}")
    if rc != 0:
        continue
    # without a terminal the only lines are the note that there is no graph and the plan's notes on layers
    # whose exact mul form grows past 4x (fc1 [24, 10] and fc3 [7, 20] under zero padding): nothing else
    rest = without_graph_note(se)
    notes = [ln for ln in rest.splitlines() if "form stores" not in ln]
    grows = sorted(ln.split("'")[1] for ln in rest.splitlines() if "form stores" in ln)
    check(notes == [] and "tensors only" in se and
          grows == (["fc1.weight", "fc3.weight"] if "mul" in flags and "--include" not in flags else []),
          f"{what}: quiet when stderr is not a terminal but for the graph and growth notes, got {se!r}")
    meta, tensors, layers = dlor_pyreader.read(out)
    expect = {"fc2.weight"} if "--include" in flags else {"fc1.weight", "fc2.weight", "fc3.weight"}
    check(set(layers) == expect, f"{what}: layers {sorted(layers)}")
    for carried in ("fc1.bias", "emb", "ids"):
        check(carried in tensors and tensors[carried].dtype == model[carried].dtype.newbyteorder("<")
              and np.array_equal(tensors[carried], model[carried]), f"{what}: {carried} carried bit-exact")
    for name, layer in layers.items():
        W = model[name].astype(np.float64)
        err = np.linalg.norm(dlor_pyreader.rebuild(layer) - W) / np.linalg.norm(W)
        check(err <= tol, f"{what}: {name} independent rebuild error {err:.3g} > {tol}")
        check(layer["factors"] == -(-(max(W.shape) if layer["method"] == 1 else min(W.shape)) // layer["rank"]),
              f"{what}: {name} factor count")
    check(meta["dlor.source"] == "model.safetensors" and meta["source.origin"] == "test"
          and len(meta["dlor.source_sha256"]) == 64, f"{what}: metadata {meta}")
    rep = fresh(f"case{i}.json")
    rc, so, se = run("verify", src, out, "--json", rep)
    check(rc == 0 and "PASS" in so, f"{what}: verify exit {rc}\n{so}{se}")
    r = json.load(open(rep))
    for key in ("layers", "max_rel_fro_error"):
        check(key in r, f"{what}: JSON key {key}")
    for L in r["layers"]:
        for key in ("name", "shape", "method", "basis", "rank", "factors", "alpha", "rel_fro_error",
                    "max_abs_error", "params_dense", "params_dlor", "bytes_dense", "bytes_dlor"):
            check(key in L, f"{what}: layer JSON key {key}")
        # dlor's own figure agrees with the independent rebuild
        W = model[L["name"]].astype(np.float64)
        mine = np.linalg.norm(dlor_pyreader.rebuild(layers[L["name"]]) - W) / np.linalg.norm(W)
        check(abs(mine - L["rel_fro_error"]) <= 1e-3 * mine + 1e-14,
              f"{what}: verify says {L['rel_fro_error']:.6g}, independent {mine:.6g}")
        check(L["params_dense"] == W.size, f"{what}: params_dense")
    check(r["max_rel_fro_error"] == max(L["rel_fro_error"] for L in r["layers"]), f"{what}: max")
    check(r["max_abs_error"] == max(L["max_abs_error"] for L in r["layers"]), f"{what}: max abs")
    check(r["params_dense_total"] == sum(L["params_dense"] for L in r["layers"]), f"{what}: totals")

# ---- --layout: U^T in panels (the default) or rows (DLOR_FORMAT.md 7.6) ------------
# The independent reader decodes both to the same factors; the files differ in the
# U tensors of layers wider than one panel (16 columns) and in the layout field only.
rows_out = fresh("case0rows.dlor")
rc, so, se = run("convert", src, "-o", rows_out, "--method", "mul", "--rank", "3", "--layout", "rows")
check(rc == 0, f"--layout rows: {se}")
if rc == 0:
    _, tr, lr = dlor_pyreader.read(rows_out)
    _, tp, lp = dlor_pyreader.read(path("case0.dlor"))
    for name in lp:
        check(lp[name]["u_layout"] == 1 and lr[name]["u_layout"] == 0, f"--layout: {name} layout fields")
        check(np.array_equal(lp[name]["U"], lr[name]["U"]) and np.array_equal(lp[name]["V"], lr[name]["V"]),
              f"--layout: {name} the same factors from both layouts")
        stored_same = np.array_equal(tp[name + ".dlor.U"], tr[name + ".dlor.U"])
        check(stored_same == (tp[name + ".dlor.U"].shape[1] <= 16), f"--layout: {name} stored bytes")
    rc, so, se = run("info", rows_out)
    check(rc == 0 and "U in rows" in so, f"info shows the layout: {so}")
    rc, so, se = run("info", path("case0.dlor"))
    check(rc == 0 and "U in panels" in so, f"info shows the layout: {so}")

# ---- --compress: the independent reader inflates it to the same tensors and layers ---
out = fresh("case0z.dlor")
rc, so, se = run("convert", src, "-o", out, "--method", "mul", "--rank", "3", "--compress")
check(rc == 0, f"--compress: {se}")
if rc == 0:
    _, tz, lz = dlor_pyreader.read(out)
    _, tp, lp = dlor_pyreader.read(path("case0.dlor"))
    check(set(tz) == set(tp) and all(np.array_equal(tz[k], tp[k]) for k in tp) and set(lz) == set(lp),
          "compressed file holds the same tensors as the plain one")

# ---- --emit safetensors: factors a PyTorch user can load, rebuilt here by the README's rules ---
from safetensors import safe_open  # noqa: E402

for method, extra in (("mul", ["--rank", "3"]), ("add", ["--rank", "4", "--alpha", "0.25"])):
    em = fresh(f"emit-{method}.safetensors")
    rc, so, se = run("convert", src, "-o", fresh(f"emit-{method}.dlor"), "--method", method, *extra, "--emit", em)
    check(rc == 0, f"--emit {method}: {se}")
    if rc != 0:
        continue
    f = safe_open(em, "np")
    meta = f.metadata()
    for name in ("fc1.weight", "fc2.weight", "fc3.weight"):
        W = model[name].astype(np.float64)
        m, n = W.shape
        U = f.get_tensor(name + ".dlor.U").astype(np.float64)
        V = f.get_tensor(name + ".dlor.V").astype(np.float64)
        a = float(f.get_tensor(name + ".dlor.alpha"))
        r, L = int(meta[name + ".dlor.rank"]), int(meta[name + ".dlor.factors"])
        check(meta[name + ".dlor.method"] == method and meta[name + ".dlor.shape"] == f"{m},{n}", f"{name} metadata")
        if method == "mul":
            D = max(m, n)
            P = np.eye(D)
            for l in range(L):
                c = slice(l * r, min((l + 1) * r, U.shape[1]))
                P = a * P + U[:, c] @ (V[:, c].T @ P)
            Wh = P[:m, :n]
        else:
            Wh = U @ V.T
            k = min(m, n)
            Wh[np.arange(k), np.arange(k)] += L * a
        e = np.linalg.norm(Wh - W) / np.linalg.norm(W)
        check(e <= 5e-6, f"--emit {method}: {name} rebuilt from the emitted factors: {e:.3g}")
    check(np.array_equal(f.get_tensor("fc1.bias"), model["fc1.bias"]) and "fc1.weight" not in f.keys(),
          "--emit carries unfactored tensors and replaces factored ones")

# ---- the random basis is exact in f64 at small N (independent check) ------------
small = path("small.npy")
np.save(small, rng.standard_normal((12, 12)))
for r_ in (1, 2, 5, 12):
    out = fresh(f"rand{r_}.dlor")
    rc, so, se = run("convert", small, "-o", out, "--basis", "random", "--rank", str(r_), "--dtype", "f64")
    check(rc == 0, f"random r={r_}: {se}")
    if rc == 0:
        _, _, layers = dlor_pyreader.read(out)
        (layer,) = layers.values()
        W = np.load(small)
        e = np.linalg.norm(dlor_pyreader.rebuild(layer) - W) / np.linalg.norm(W)
        check(e <= 1e-9, f"random basis f64 N=12 r={r_}: error {e:.3g}")

# The paper's construction needs an invertible W: a zero-padded rectangular layer
# is singular, and the random basis must say so rather than write garbage.
rc, so, se = run("convert", src, "-o", fresh("rand-rect.dlor"), "--basis", "random", "--rank", "4",
             "--include", "fc3.weight")
check(rc == 1 and "fc3.weight" in se and "--basis schur" in se and not os.path.exists(path("rand-rect.dlor")),
      f"random basis on a singular padded layer: {se}")

# ---- npz and npy inputs, include/exclude ------------------------------------------
npz = path("model.npz")
np.savez_compressed(npz, **{k: v for k, v in model.items()})
out = fresh("npz.dlor")
rc, so, se = run("convert", npz, "-o", out, "--rank", "4", "--exclude", "fc2*", "--verbose")
check(rc == 0, f"npz convert: {se}")
check("[1/2]" in se and "[2/2]" in se and "fc2" not in se.split("wrote")[0], f"progress lines: {se}")
_, tensors, layers = dlor_pyreader.read(out)
check(set(layers) == {"fc1.weight", "fc3.weight"} and np.array_equal(tensors["fc2.weight"], model["fc2.weight"]),
      "--exclude keeps fc2.weight dense")
out = fresh("inc.dlor")
rc, so, se = run("convert", src, "-o", out, "--include", "fc3.*")
_, tensors, layers = dlor_pyreader.read(out)
check(rc == 0 and set(layers) == {"fc3.weight"}, f"--include: {sorted(layers)}")
for f in (src, npz, small, out):
    rc, so, se = run("info", f)
    check(rc == 0 and so, f"info {f}: {se}")
    rc, so, se = run("info", f, "--json")
    check(rc == 0 and isinstance(json.loads(so), dict), f"info --json {f}")
rc, so, se = run("info", path("case0.dlor"), "--json")
j = json.loads(so)
check([L["name"] for L in j["layers"]] == ["fc1.weight", "fc2.weight", "fc3.weight"] and
      j["layers"][1]["rank"] == 3 and j["layers"][1]["factors"] == 7, f"info layers {j['layers']}")

# ---- verify catches what it must ----------------------------------------------------
tampered = dict(model)
tampered["fc2.weight"] = model["fc2.weight"] + np.float32(1e-2)
tsrc = path("tampered.safetensors")
save_file(tampered, tsrc)
rc, so, se = run("verify", tsrc, path("case0.dlor"))
check(rc == 1 and "FAIL" in so and "EXCEEDS" in so and "SHA-256" in so, f"verify tampered source: {rc}\n{so}")
rc, so, se = run("verify", src, path("case0.dlor"), "--tol", "0")
check(rc == 1 and "FAIL" in so, f"verify --tol 0: {rc}")
less = {k: v for k, v in model.items() if k != "fc1.bias"}
lsrc = path("less.safetensors")
save_file(less, lsrc)
rc, so, se = run("verify", lsrc, path("case0.dlor"))
check(rc == 1 and "fc1.bias" in so, f"verify carried tensor missing from source: {so}")

# ---- an explicit --rank larger than a layer: capped at that layer, with a note ------------
# add: fc3 (7 x 20) holds at most rank 7; fc1 (24 x 10) and fc2 (20 x 20) take rank 8.
out = fresh("cap-add.dlor")
rc, so, se = run("convert", src, "-o", out, "--method", "add", "--rank", "8")
check(rc == 0 and "note: --rank 8 is larger than 1 layer allows" in se, f"add --rank 8 on a 7-row layer: {rc} {se}")
if rc == 0:
    meta, _, layers = dlor_pyreader.read(out)
    check({n: (L["rank"], L["factors"]) for n, L in layers.items()} ==
          {"fc1.weight": (8, 2), "fc2.weight": (8, 3), "fc3.weight": (7, 1)}, f"add --rank 8: ranks {layers}")
    check(meta.get("dlor.rank_capped") == "fc3.weight" and meta.get("dlor.rank") == "8",
          f"add --rank 8: capped layers recorded: {meta.get('dlor.rank_capped')}")
    for name, L in layers.items():
        W = model[name].astype(np.float64)
        e = np.linalg.norm(dlor_pyreader.rebuild(L) - W) / np.linalg.norm(W)
        check(e <= 2e-6, f"add --rank 8: {name} still exact ({e:.3g})")
    rep = fresh("cap-add.json")
    rc, so, se = run("verify", src, out, "--json", rep)
    check(rc == 0 and "note: layer 'fc3.weight': --rank 8 is larger than the layer allows: capped at 7" in so,
          f"verify names the capped layer: {so}")
    notes = {L["name"]: L["note"] for L in json.load(open(rep))["layers"]} if rc == 0 else {}
    check(notes.get("fc1.weight") is None and notes.get("fc2.weight") is None and
          "capped at 7" in (notes.get("fc3.weight") or ""), f"verify JSON notes: {notes}")
rc, so, se = run("convert", src, "-o", fresh("cap-add-v.dlor"), "--method", "add", "--rank", "8", "--verbose")
lines = [ln for ln in se.splitlines() if ln.startswith("[")]
check(len(lines) == 3 and "capped" in lines[2] and "fc3.weight" in lines[2] and
      not any("capped" in ln for ln in lines[:2]) and "3 layers factored (1 with --rank capped)" in se,
      f"progress lines mark the capped layer: {se}")
# mul: --rank 1000 is capped at every layer: each becomes one factor of rank max(m, n)
out = fresh("cap-mul.dlor")
rc, so, se = run("convert", src, "-o", out, "--rank", "1000")
check(rc == 0 and "--rank 1000 is larger than 3 layers allow" in se, f"mul --rank 1000: {rc} {se}")
if rc == 0:
    meta, _, layers = dlor_pyreader.read(out)
    check({n: (L["rank"], L["factors"]) for n, L in layers.items()} ==
          {"fc1.weight": (24, 1), "fc2.weight": (20, 1), "fc3.weight": (20, 1)} and
          meta.get("dlor.rank_capped") == "fc1.weight,fc2.weight,fc3.weight", f"mul --rank 1000: {layers}")
    rc, so, se = run("verify", src, out)
    check(rc == 0 and so.count("capped at") == 3, f"verify notes every capped layer: {so}")
# the default rank (256) is capped silently: nothing to note
out = fresh("cap-default.dlor")
rc, so, se = run("convert", src, "-o", out)
meta = dlor_pyreader.read(out)[0] if rc == 0 else {}
check(rc == 0 and "capped" not in without_graph_note(se) and "dlor.rank_capped" not in meta,
      f"the default rank is capped without notes: {se}")

# ---- usage errors: exit 2, no output --------------------------------------------------
for args, needle in [
    (["convert", src, "-o", path("u.dlor"), "--rank", "0"], "--rank"),
    (["convert", src, "-o", path("u.dlor"), "--rank", "-3"], "--rank"),
    (["convert", src, "-o", path("u.dlor"), "--rank", "abc"], "--rank"),
    (["convert", src, "-o", path("u.dlor"), "--method", "prod"], "--method"),
    (["convert", src, "-o", path("u.dlor"), "--dtype", "f8"], "--dtype"),
    (["convert", src, "-o", path("u.dlor"), "--layout", "columns"], "--layout"),
    (["convert", src, "-o", path("u.dlor"), "--form", "network", "--activation", "relu", "--layout", "x"],
     "--layout"),
    (["convert", src, "-o", path("u.dlor"), "--basis", "svd"], "--basis"),
    (["convert", src, "-o", path("u.dlor"), "--method", "add", "--basis", "schur"], "--basis"),
    (["convert", src, "-o", path("u.dlor"), "--alpha", "0"], "--alpha"),
    (["convert", src, "-o", path("u.dlor"), "--alpha", "nan"], "--alpha"),
    (["convert", src, "-o", path("u.dlor"), "--frobnicate"], "--frobnicate"),
    (["convert", src], "-o"),
    (["convert", src, "-o", src], "overwrite"),
    (["verify", src], "expected"),
    (["verify", src, path("case0.dlor"), "--tol", "-1"], "--tol"),
    (["frobnicate"], "unknown command"),
]:
    if os.path.exists(path("u.dlor")):
        os.remove(path("u.dlor"))
    rc, so, se = run(*args)
    check(rc == 2 and needle in se, f"{args}: exit {rc}, stderr {se!r}")
    check(not os.path.exists(path("u.dlor")), f"{args}: no output file")

for cmd in ("convert", "verify", "info"):
    rc, so, se = run(cmd, "--help")
    check(rc == 0 and "usage: dlor " + cmd in so, f"{cmd} --help")
rc, so, se = run("--version")
check(rc == 0 and so.startswith("dlor "), "--version")

# ---- bad input: exit 1, message names file and tensor, old output untouched -------------
keep = path("keep.dlor")
with open(keep, "wb") as f:
    f.write(b"previous good output")


def untouched():
    return open(keep, "rb").read() == b"previous good output" and \
        not any(n.startswith("keep.dlor.tmp") for n in os.listdir(TMP))


raw = open(src, "rb").read()
trunc = path("trunc.safetensors")
open(trunc, "wb").write(raw[:-10])
rc, so, se = run("convert", trunc, "-o", keep)
check(rc == 1 and "trunc.safetensors" in se, f"truncated input: {se}")
check(untouched(), "truncated input: existing output untouched")
rc, so, se = run("convert", path("does-not-exist.safetensors"), "-o", keep)
check(rc == 1 and "does-not-exist.safetensors" in se, f"missing input: {se}")
rc, so, se = run("convert", src, "-o", os.path.join(TMP, "no-such-dir", "x.dlor"))
check(rc == 1 and "no-such-dir" in se, f"unwritable output: {se}")
nan_model = dict(model)
nan_model["fc2.weight"] = model["fc2.weight"].copy()
nan_model["fc2.weight"][3, 4] = np.nan
nsrc = path("nan.safetensors")
save_file(nan_model, nsrc)
rc, so, se = run("convert", nsrc, "-o", keep)
check(rc == 1 and "fc2.weight" in se, f"NaN weight: {se}")
check(untouched(), "NaN weight: existing output untouched")
corrupt = path("corrupt.dlor")
b = bytearray(open(path("case0.dlor"), "rb").read())
b[-3] ^= 0xFF
open(corrupt, "wb").write(bytes(b))
rc, so, se = run("verify", src, corrupt)
check(rc == 1 and "corrupt.dlor" in se and "CRC" in se, f"corrupt .dlor: {se}")
rc, so, se = run("info", corrupt)
check(rc == 1 and "CRC" in se, f"info corrupt: {se}")
legacy = path("legacy.pt")
open(legacy, "wb").write(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.")
rc, so, se = run("convert", legacy, "-o", keep)
check(rc == 1 and "pre-1.6" in se and "legacy.pt" in se, f"legacy torch file: {se}")
check(untouched(), "legacy torch file: existing output untouched")
rc, so, se = run("convert", path("case0.dlor"), "-o", keep)
check(rc == 1 and ".dlor file" in se, f"convert a .dlor: {se}")

# ---- '-' is standard output, and standard output carries that output alone ----------------
import io  # noqa: E402
import pty  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402

from dlor_testlib import DLOR, SRC  # noqa: E402

digits = os.path.join(SRC, "samples", "digits")
dsrc, dx = os.path.join(digits, "digits.safetensors"), os.path.join(digits, "x_test.npy")
dmodel = fresh("digits.dlor")
rc, so, se = run("convert", dsrc, "-o", dmodel, "--activation", "relu")
check(rc == 0, f"convert digits: {se}")
WORK = os.path.join(TMP, "cwd")  # the commands run here: no file named '-' may appear
os.makedirs(WORK, exist_ok=True)


def run_bytes(*args, stdout=subprocess.PIPE):
    """Runs dlor in WORK: (exit code, stdout bytes, stderr text)."""
    p = subprocess.run([DLOR, *args], cwd=WORK, stdout=stdout, stderr=subprocess.PIPE)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def no_dash_file(what):
    check(not os.path.exists(os.path.join(WORK, "-")), f"{what}: no file named '-'")
    if os.path.exists(os.path.join(WORK, "-")):
        os.remove(os.path.join(WORK, "-"))


def json_only(so, what):
    try:
        return json.loads(so)
    except ValueError:
        check(False, f"{what}: standard output is not one JSON document: {so[:300]!r}")
        return None


rc, so, se = run_bytes("verify", dsrc, dmodel, "-q", "--json", "-")
j = json_only(so, "verify -q --json -")
check(rc == 0 and j is not None and j["pass"] and "PASS" in se, f"verify -q --json -: the verdict on stderr: {se}")
rc, so, se = run_bytes("verify", dsrc, dmodel, "--json", "-", "--inputs", dx)
j = json_only(so, "verify --json -")
check(rc == 0 and j is not None and "end_to_end" in j and "rel_fro" in se and "PASS" in se,
      f"verify --json -: the table on stderr: {se}")
rc, so, se = run_bytes("verify", dsrc, dmodel, "--html", "-", "-q")
page = so.decode()
check(rc == 0 and page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>") and "PASS" in se,
      f"verify --html -: the page alone on stdout, the verdict on stderr: {page[-100:]!r} {se}")
rc, so, se = run_bytes("verify", dsrc, dmodel, "--json", "-", "--html", "-")
check(rc == 2 and so == b"" and "standard output" in se, f"--json - with --html -: usage error: {rc} {se}")
no_dash_file("verify --json - --html -")
rc, so, se = run_bytes("bench", dmodel, "--dense", dsrc, "--time", "0.1", "--json", "-")
j = json_only(so, "bench --json -")
check(rc == 0 and j is not None and "ratio" in j and "ratio DLoR / dense" in se, f"bench --json -: text on stderr: {se}")
rc, so, se = run_bytes("info", dmodel, "--json")
check(rc == 0 and json_only(so, "info --json") is not None, "info --json: JSON alone")
rc, so, se = run_bytes("reproduce", "--sample", os.path.join(SRC, "samples", "sawtooth"), "--step", "1", "--seeds", "1",
                       "--epochs", "10", "--json", "-")
j = json_only(so, "reproduce --json -")
check(j is not None and "targets" in j and "targets:" in se, f"reproduce --json -: the text on stderr: {se[-200:]}")
# -o - writes the stream itself to stdout (the same bytes as a file), never a file named '-'
yfile = fresh("y-file.npy")
rc1, _, _ = run_bytes("run", dmodel, "-i", dx, "-o", yfile)
rc, so, se = run_bytes("run", dmodel, "-i", dx, "-o", "-")
check(rc == 0 and rc1 == 0 and so == open(yfile, "rb").read() and np.load(io.BytesIO(so)).shape == (540, 10),
      f"run -o -: the .npy on stdout: {se}")
no_dash_file("run -o -")
hfile = fresh("model-file.h")
run_bytes("export-c", dmodel, "-o", hfile)
rc, so, se = run_bytes("export-c", dmodel, "-o", "-")
check(rc == 0 and so == open(hfile, "rb").read(), f"export-c -o -: the header on stdout: {se}")
no_dash_file("export-c -o -")
for extra in ([], ["--compress"], ["--rank", "8", "--method", "lowrank"], ["--form", "network", "--h", "1e-3"]):
    dfile = fresh("convert-file.dlor")
    rc1, so1, _ = run_bytes("convert", dsrc, "--activation", "relu", "-o", dfile, *extra)
    rc, so, se = run_bytes("convert", dsrc, "--activation", "relu", "-o", "-", *extra)
    check(rc == 0 and rc1 == 0 and so == open(dfile, "rb").read(), f"convert -o - {extra}: the .dlor on stdout: {se}")
    no_dash_file(f"convert -o - {extra}")
rc, so, se = run_bytes("convert", dsrc, "--activation", "relu", "-o", "x.dlor", "--emit", "-")
check(rc == 2 and "--emit" in se and not os.path.exists(os.path.join(WORK, "x.dlor")), f"--emit - is refused: {se}")
no_dash_file("convert --emit -")
rc, so, se = run_bytes("reproduce", "--out", "-")
check(rc == 2 and "--out" in se, f"reproduce --out - is refused: {se}")
no_dash_file("reproduce --out -")
# a binary stream is not written onto a terminal (text is)
master, slave = pty.openpty()
shown = []


def read_terminal():
    """The terminal's reader, so that a report larger than a pty buffer does not block."""
    try:
        while True:
            shown.append(os.read(master, 65536))
    except OSError:  # EIO once the last writer is gone
        pass


rc, _, se = run_bytes("run", dmodel, "-i", dx, "-o", "-", stdout=slave)
check(rc == 2 and "terminal" in se, f"run -o - onto a terminal is refused: {rc} {se}")
drain = threading.Thread(target=read_terminal, daemon=True)
drain.start()
rc, _, se = run_bytes("verify", dsrc, dmodel, "-q", "--json", "-", stdout=slave)
check(rc == 0, f"verify --json - onto a terminal works: {se}")
os.close(slave)
drain.join(30)
check(b"".join(shown).lstrip().startswith(b"{"), f"the JSON reached the terminal: {b''.join(shown)[:100]}")
os.close(master)
no_dash_file("onto a terminal")

# ---- an output never clobbers an input or another output --------------------------------
CL = os.path.join(TMP, "clobber")
shutil.rmtree(CL, ignore_errors=True)
os.makedirs(os.path.join(CL, "sub"))


def at(name):
    return os.path.join(CL, name)


shutil.copy(dsrc, at("m.safetensors"))
shutil.copy(dmodel, at("m.dlor"))
shutil.copy(dx, at("x.npy"))
np.save(at("labels.npy"), np.load(os.path.join(digits, "y_test.npy")))
os.symlink("m.safetensors", at("link.safetensors"))
os.link(at("m.safetensors"), at("hard.safetensors"))
before = {n: open(at(n), "rb").read() for n in ("m.safetensors", "m.dlor", "x.npy", "labels.npy")}
with open(at("e.safetensors"), "wb") as f:
    f.write(b"an earlier emit")
before["e.safetensors"] = b"an earlier emit"
saw_copy = at("saw")
shutil.copytree(os.path.join(SRC, "samples", "sawtooth"), saw_copy)
before["saw/x_test.npy"] = open(os.path.join(saw_copy, "x_test.npy"), "rb").read()
os.makedirs(at("rep"))
ms, md = at("m.safetensors"), at("m.dlor")
for args in (
        ["convert", ms, "-o", at("e.safetensors"), "--emit", at("e.safetensors"), "--activation", "relu"],
        ["convert", ms, "-o", at("new.dlor"), "--emit", ms],
        ["convert", ms, "-o", at("link.safetensors")],
        ["convert", ms, "-o", at("new.dlor"), "--emit", at("hard.safetensors")],
        ["convert", ms, "-o", at("sub/../m.safetensors")],
        ["convert", at("link.safetensors"), "-o", at("hard.safetensors")],
        ["convert", ms, "-o", at("new.dlor"), "--emit", at("sub/../new.dlor")],
        ["convert", ms, "-o", at("x.npy"), "--activation", "relu", "--rank", "4", "--method", "lowrank", "--calib",
         at("x.npy")],
        ["convert", ms, "-o", ms, "--form", "network", "--activation", "relu"],
        ["run", md, "-i", at("x.npy"), "-o", at("x.npy")],
        ["run", md, "-i", at("x.npy"), "-o", md],
        ["export-c", md, "-o", md],
        ["verify", ms, md, "--json", ms],
        ["verify", ms, md, "--html", md],
        ["verify", ms, md, "--json", at("r.json"), "--html", at("./r.json")],
        ["verify", ms, md, "--inputs", at("x.npy"), "--labels", at("labels.npy"), "--json", at("labels.npy")],
        ["bench", md, "--dense", ms, "--json", at("hard.safetensors")],
        ["merge", md, "-o", at("sub/../m.dlor")],
        ["reproduce", "--sample", saw_copy, "--json", os.path.join(saw_copy, "x_test.npy")],
        ["reproduce", "--sample", saw_copy, "--out", at("rep"), "--json", at("rep/report.json")]):
    rc, so, se = run(*args)
    check(rc == 2 and ("overwrite" in se or "same file" in se) and se.count("\n") == 1,
          f"{' '.join(os.path.relpath(a, CL) if a.startswith(CL) else a for a in args)}: refused as a usage error: "
          f"{rc} {se!r}")
for n, b in before.items():
    check(open(at(n), "rb").read() == b, f"{n} unchanged by the refused runs")
check(os.path.islink(at("link.safetensors")) and os.stat(at("hard.safetensors")).st_nlink == 2,
      "the links are as they were")
left = sorted(set(os.listdir(CL)) - {"m.safetensors", "m.dlor", "x.npy", "labels.npy", "link.safetensors",
                                     "hard.safetensors", "e.safetensors", "saw", "sub", "rep"})
check(left == [] and os.listdir(at("rep")) == [] and os.listdir(at("sub")) == [], f"nothing written: {left}")
rc, so, se = run("convert", ms, "-o", at("new.dlor"), "--emit", at("new.safetensors"))
check(rc == 0, f"different outputs still work: {se}")

# ---- info: the same graph, forms and formats as convert and verify -------------------------
wd = {k: v for k, v in __import__("safetensors.numpy", fromlist=["load_file"]).load_file(dsrc).items()}
spec = "linear(0.weight,0.bias); relu; linear(2.weight,2.bias); relu; linear(4.weight,4.bias)"
gsrc = path("graph-meta.safetensors")
save_file(wd, gsrc, metadata={"dlor.graph": spec})
rc, so, se = run("info", gsrc)
check(rc == 0 and "graph (from dlor.graph metadata): 5 operations" in so, f"info finds the dlor.graph metadata: {so}")
rc, so, se = run("info", gsrc, "--json")
ji = json.loads(so)
gdl = fresh("graph-meta.dlor")
rc2, _, se2 = run("convert", gsrc, "-o", gdl, "--rank", "8", "--method", "lowrank")
check(rc2 == 0, f"convert with the metadata graph: {se2}")
jd = json.loads(run("info", gdl, "--json")[1])
strip = lambda g: [(o["op"], o.get("weight"), o.get("bias")) for o in g]  # noqa: E731
check(ji.get("graph_source") == "metadata" and strip(ji["graph"]) == strip(jd["graph"]) and len(ji["graph"]) == 5,
      f"info's graph is the one convert records: {ji['graph']} vs {jd['graph']}")
rc, so, se = run("info", dsrc, "--activation", "relu", "--json")
check(rc == 0 and json.loads(so).get("graph_source") == "names" and strip(json.loads(so)["graph"]) == strip(jd["graph"]),
      f"info --activation recovers the nn.Sequential graph: {so[:200]}")
bad = path("bad-graph.safetensors")
save_file(wd, bad, metadata={"dlor.graph": "linear(0.weight,0.bias); frobnicate"})
rc, so, se = run("info", bad)
rc2, _, se2 = run("convert", bad, "-o", fresh("bad-graph.dlor"))
check(rc == 0 and "graph: none" in so and "frobnicate" in so and rc2 == 1 and "frobnicate" in se2,
      f"an unusable graph: info says why, as convert does: {so} / {se2}")
# a layer is named as verify names it: lowrank with beta, not add/svd with alpha
rep = fresh("graph-meta.json")
run("verify", gsrc, gdl, "--json", rep)
vj = {L["name"]: L for L in json.load(open(rep))["layers"]}
rc, so, se = run("info", gdl)
for L in jd["layers"]:
    v = vj[L["name"]]
    check(L.get("form") == v["form"] == "lowrank" and L.get("beta") == v["alpha"], f"info form/beta = verify's: {L} {v}")
    line = [ln for ln in so.splitlines() if ln.strip().startswith(L["name"] + " ")]
    check(len(line) == 1 and "lowrank/svd" in line[0] and " beta " in line[0] and "alpha" not in line[0],
          f"info text names the form and beta: {line}")
jm = json.loads(run("info", path("case0.dlor"), "--json")[1])
check(all(L.get("form") == "mul" and "beta" not in L for L in jm["layers"]), "exact mul layers keep alpha")
readme = os.path.join(SRC, "README.md")
for cmd in (["info", readme], ["convert", readme, "-o", fresh("readme.dlor")], ["info", path("empty-file")]):
    if cmd[1].endswith("empty-file"):
        open(cmd[1], "wb").close()
    rc, so, se = run(*cmd)
    check(rc == 1 and "not a model file (formats read: safetensors" in se and "header length" not in se,
          f"{cmd[0]} {os.path.basename(cmd[1])}: {se}")
rc, so, se = run("info", "--help")
check(rc == 0 and "ONNX" in so and ".pt" in so and "--activation" in so, f"info --help names every format: {so}")
rc, so, se = run("verify", "--help")
usage = so.split("\n\n")[0]
check(rc == 0 and "--inputs" in usage and "--labels" in usage and "--samples" in usage, f"verify usage: {usage}")
rc, so, se = run("-V")
check(rc == 0 and so == run("--version")[1] and so.startswith("dlor "), f"-V is --version: {rc} {so} {se}")

finish()
