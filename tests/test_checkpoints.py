"""What users of whole checkpoints need from dlor convert and verify, checked from the outside:

- roles and the default selection: only matrix-multiplication weights convert (graph LINEAR
  weights; without a graph, 2-D float tensors not named like embeddings or norms and not
  vectors); --include still selects anything; info --json gives every tensor's role;
- the plan: --dry-run writes nothing, its estimated output bytes are within 2x of the file
  written; exact layers that grow past 4x are named on stderr; a peak memory (faked with
  DLOR_TEST_MEM_AVAILABLE) or output (DLOR_TEST_DISK_FREE) beyond the machine is refused (exit 2,
  nothing written) unless --force;
- per-layer targets: --set rules (later wins), plan files (--plan-out, --plan; unknown keys refused
  naming the line), shards of one plan merge into the file one process writes; a rule's dtype with
  --budget-bits (which chooses each layer's dtype) refused, exit 2;
- progress lines with counts and an ETA (DLOR_PROGRESS_AFTER=0 shows them at once);
- verify's verdict: UNCHECKED without --inputs for budget / rank / calibrated targets, the
  end-to-end tolerances with them (exit 1 on a miss), PASS for exact forms;
- calibration of bert-tiny on its token ids: the sentence embeddings of a calibrated
  --budget 0.5 are closer (cosine, numpy) to the dense model's than uncalibrated ones; bad ids
  are one line, exit 1."""
import json
import os
import re
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader  # noqa: E402
from dlor_testlib import DLOR, SRC, check, finish, run  # noqa: E402
from dlor_testlib import scratch  # noqa: E402
from sample_graphs import sample_with_graph  # noqa: E402

TMP, path, fresh = scratch("checkpoints")
os.environ["OPENBLAS_NUM_THREADS"] = "1"
digits = os.path.join(SRC, "samples", "digits")
dsrc = os.path.join(digits, "digits.safetensors")
bert_dir = os.path.join(SRC, "samples", "bert-tiny")
bert, _, _ = sample_with_graph("bert-tiny", TMP)
tied, _, _ = sample_with_graph("llama-tiny-tied", TMP)


def run_env(env, *args):
    e = dict(os.environ)
    e.update(env)
    p = subprocess.run([DLOR, *args], capture_output=True, text=True, env=e)
    return p.returncode, p.stdout, p.stderr


def layers_of(f):
    _, _, layers = dlor_pyreader.read(f)
    return layers


def meta_of(f):
    meta, _, _ = dlor_pyreader.read(f)
    return meta


def info_roles(f):
    rc, so, se = run("info", f, "--json")
    check(rc == 0, f"info --json {f}: {se}")
    return {t["name"]: t.get("role") for t in json.loads(so)["tensors"]}


# ---- 1. roles and the default selection ----------------------------------------------------
rng = np.random.default_rng(3)
nog = {
    "model.embed_tokens.weight": rng.standard_normal((50, 16)),
    "transformer.wte.weight": rng.standard_normal((50, 16)),
    "transformer.wpe.weight": rng.standard_normal((32, 16)),
    "enc.position_bias": rng.standard_normal((32, 16)),
    "enc.token_type_table": rng.standard_normal((2, 16)),
    "h.0.ln_1.weight": rng.standard_normal(16),
    "h.0.attn_norm_2d": rng.standard_normal((16, 16)),
    "h.0.fc.weight": rng.standard_normal((24, 16)),
    "h.0.fc.bias": rng.standard_normal(24),
    "h.0.proj.weight": rng.standard_normal((16, 24)),
    "cls_vector": rng.standard_normal((1, 16)),
    "ids_table": np.arange(16, dtype=np.int64).reshape(4, 4),
    "embeddings.position_ids": np.arange(32, dtype=np.int64).reshape(1, 32),
}
nog = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in nog.items()}
nogf = os.path.join(TMP, "nograph.safetensors")
save_file(nog, nogf)
want_roles = {"model.embed_tokens.weight": "embedding", "transformer.wte.weight": "embedding",
              "transformer.wpe.weight": "embedding", "enc.position_bias": "embedding",
              "enc.token_type_table": "embedding", "h.0.ln_1.weight": "norm", "h.0.attn_norm_2d": "norm",
              "h.0.fc.weight": "linear", "h.0.fc.bias": "other", "h.0.proj.weight": "linear",
              "cls_vector": "other", "ids_table": "other", "embeddings.position_ids": "other"}
check(info_roles(nogf) == want_roles, f"roles without a graph: {info_roles(nogf)}")
out = fresh("nograph.dlor")
rc, so, se = run("convert", nogf, "-o", out, "--method", "add")
check(rc == 0, f"convert without a graph: {se}")
check(sorted(layers_of(out)) == ["h.0.fc.weight", "h.0.proj.weight"], f"only the linear weights: {sorted(layers_of(out))}")
out = fresh("nograph_inc.dlor")
rc, so, se = run("convert", nogf, "-o", out, "--method", "add", "--include", "*wte*", "--include", "h.0.fc.weight")
check(rc == 0 and sorted(layers_of(out)) == ["h.0.fc.weight", "transformer.wte.weight"],
      f"--include selects an embedding-named table too: {se}")

roles = info_roles(bert)
check(roles["embeddings.word_embeddings.weight"] == "embedding" and
      roles["embeddings.LayerNorm.weight"] == "norm" and
      roles["encoder.layer.0.attention.self.query.weight"] == "linear" and
      roles["encoder.layer.0.attention.self.query.bias"] == "other", f"bert-tiny roles from its graph: {roles}")
linear = sorted(k for k, v in roles.items() if v == "linear")
check(len(linear) == 12, f"bert-tiny has 12 linear weights: {linear}")
out = fresh("bert_mul.dlor")
rc, so, se = run("convert", bert, "-o", out, "--method", "add")
check(rc == 0 and sorted(layers_of(out)) == linear, f"bert-tiny converts its 12 linear weights: {se}")
# an integer buffer named like an embedding (position_ids, as Hugging Face BERTs carry it) is no weight
bert_pos = path("bert_position_ids.safetensors")
bt = load_file(bert)
bt["embeddings.position_ids"] = np.arange(128, dtype=np.int64).reshape(1, 128)
save_file(bt, bert_pos, metadata=json.loads(subprocess.run([DLOR, "info", bert, "--json"], capture_output=True,
                                                           text=True).stdout)["metadata"])
roles = info_roles(bert_pos)
check(roles.get("embeddings.position_ids") == "other" and roles["embeddings.position_embeddings.weight"] == "embedding",
      f"position_ids is not an embedding: {roles.get('embeddings.position_ids')}")

# info on a .dlor file counts the layers kept dense among the converted ones: every layer kept dense
# (a target no smaller form meets), and some (rank 40 does not make a 64 x 64 layer smaller, it makes a
# 256 x 64 one smaller); the expected figures from the source's shapes and the independent reader
bt_lin = {n: bt[n].size for n in bt if n in linear}
for what, args in (("all kept dense", ["--tol", "1e-9"]), ("some kept dense", ["--method", "lowrank", "--rank", "40"])):
    f = fresh("bert_kept.dlor")
    rc, so, se = run("convert", bert_pos, "-o", f, *args)
    check(rc == 0, f"convert {what}: {se}")
    _, _, lay = dlor_pyreader.read(f)
    kept = sorted(n for n in linear if n not in lay)
    stored = sum(L["U"].size + L["V"].size + 1 for L in lay.values()) + sum(bt_lin[n] for n in kept)
    check(len(kept) == (12 if what == "all kept dense" else 8) and len(lay) + len(kept) == 12,
          f"{what}: {len(kept)} layers kept dense")
    rc, so, se = run("info", f, "--json")
    j = json.loads(so) if rc == 0 else {}
    check(j.get("params_dense_total") == sum(bt_lin.values()) and j.get("params_dlor_total") == stored,
          f"{what}: totals {j.get('params_dense_total')} -> {j.get('params_dlor_total')}, want "
          f"{sum(bt_lin.values())} -> {stored}")
    check(sorted(t["name"] for t in j.get("kept_dense", [])) == kept and
          all(t["shape"] == list(bt[t["name"]].shape) for t in j.get("kept_dense", [])), f"{what}: the kept_dense list")
    check({n: r for n, r in info_roles(f).items() if r == "kept dense"} == {n: "kept dense" for n in kept},
          f"{what}: the tensors' roles")
    rc, so, se = run("info", f)
    want = (f"converted layers' params: {sum(bt_lin.values())} dense -> {stored} stored "
            f"({stored / sum(bt_lin.values()):.3f}x; {len(lay)} factored, {len(kept)} kept dense)")
    check(rc == 0 and want in so.splitlines(), f"{what}: the text total, want {want!r}")

# info's tensor table: the name column as wide as the longest name (bert-tiny's run to 50
# characters), so every row's dtype starts in the same column, on the source and on a .dlor file
for shown in (bert, f):
    rc, so, se = run("info", shown)
    rows = [m for m in (re.match(r"^  (\S+)\s+([a-z]+[0-9]+)\s+\[", ln) for ln in so.splitlines()) if m]
    names = [m.group(1) for m in rows]
    cols = {m.start(2) for m in rows}
    check(rc == 0 and len(rows) > 10 and max(map(len, names)) > 36 and len(cols) == 1,
          f"info {shown}: the dtype column lines up ({len(rows)} rows, starts {sorted(cols)[:4]})")

# the tied head reads the embedding table: carried, and --include cannot make it a layer
out = fresh("tied.dlor")
rc, so, se = run("convert", tied, "-o", out, "--method", "add", "--include", "*")
check(rc == 0 and "model.embed_tokens.weight" not in layers_of(out) and "embedding lookup" in se,
      f"the tied table stays a table: {se}")

# ---- 2. the plan -----------------------------------------------------------------------------
out = fresh("dry.dlor")
rc, so, se = run("convert", bert, "-o", out, "--dry-run")
check(rc == 0 and not os.path.exists(out), f"--dry-run writes nothing: {se}")
check("plan for" in so and "total: 12 layers" in so and "GROWS" in so, f"the plan on stdout: {so[:400]}")
check(so.count(" linear ") >= 12 and " embedding " in so and " norm " in so, "the plan shows roles")
check(se.count("stores 8.0x its dense size") == 4, f"the four 256 x 64 layers grow 8x under mul: {se}")
est = {}
for line in so.splitlines():
    if line.startswith("total:"):
        est["out"] = line.split("output ")[1].split(" (")[0]
# the estimate against the file written (same options)
out = fresh("bert_mul.dlor")
rc, so2, se2 = run("convert", bert, "-o", out)
check(rc == 0 and se2.count("stores 8.0x") == 4, f"the growth notes go to stderr without a terminal too: {se2}")
num, unit = est["out"].split()
est_bytes = float(num) * {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
size = os.path.getsize(out)
check(0.5 <= est_bytes / size <= 2, f"estimated output {est_bytes} vs written {size}")
for budget_args in (["--budget", "0.5"], ["--rank", "8"]):
    rc, so, se = run("convert", bert, "--dry-run", *budget_args)
    check(rc == 0 and "lowrank" not in so or "auto" in so, f"dry run of {budget_args}: {se}")

# refusals before any work
out = fresh("refused.dlor")
rc, so, se = run_env({"DLOR_TEST_MEM_AVAILABLE": "1000000"}, "convert", bert, "-o", out)
check(rc == 2 and not os.path.exists(out), f"peak memory beyond MemAvailable: exit 2, nothing written ({rc})")
check(len(se.strip().splitlines()) == 1 + 4 and "memory" in se and "--force" in se and "MB" in se,
      f"one line with the estimate and --force: {se}")
rc, so, se = run_env({"DLOR_TEST_MEM_AVAILABLE": "1000000"}, "convert", bert, "-o", out, "--force")
check(rc == 0 and os.path.exists(out), f"--force converts anyway: {se}")
out = fresh("refused_disk.dlor")
rc, so, se = run_env({"DLOR_TEST_DISK_FREE": "1000"}, "convert", bert, "-o", out)
check(rc == 2 and not os.path.exists(out) and "free" in se and "--force" in se, f"output beyond the free space: {se}")
rc, so, se = run_env({"DLOR_TEST_MEM_AVAILABLE": "1000000"}, "convert", bert, "--dry-run")
check(rc == 0 and "would be refused" in so, f"a dry run says it would be refused: {so[-300:]}")

# ---- 3. verify's verdict ---------------------------------------------------------------------
x_test = os.path.join(digits, "x_test.npy")
x_train = os.path.join(digits, "x_train.npy")


def verify(src, f, *args):
    j = path("v.json")
    rc, so, se = run("verify", src, f, "--json", j, *args)
    rep = json.load(open(j)) if rc in (0, 1) and os.path.exists(j) else {}
    if os.path.exists(j):
        os.remove(j)
    return rc, so, se, rep


cases = {"budget": ["--budget", "0.5"], "rank": ["--rank", "48", "--method", "lowrank"],
         "tolcal": ["--tol", "0.02", "--calib", x_train], "tol": ["--tol", "0.3"], "mul": []}
for name, opts in cases.items():
    f = fresh(f"digits_{name}.dlor")
    rc, so, se = run("convert", dsrc, "-o", f, "--activation", "relu", *opts)
    check(rc == 0, f"convert {name}: {se}")
    rc, so, se, rep = verify(dsrc, f)
    if name in ("budget", "rank", "tolcal"):
        check(rc == 0 and "PASS" not in so and "UNCHECKED: nothing was checked" in so and
              rep.get("verdict") == "unchecked", f"{name} without --inputs: unchecked ({rc}, {so[-300:]})")
        rc, so, se, rep = verify(dsrc, f, "--inputs", x_test)
        e2e = rep.get("end_to_end", {})
        check(rc == 0 and rep.get("verdict") == "pass" and "PASS" in so and e2e.get("min_cosine_required") == 0.99 and
              e2e.get("min_cosine", 0) >= 0.99, f"{name} with --inputs: checked ({rc}, {e2e})")
        # the cosine, recomputed from dlor run's outputs
        yd, yl = path("yd.npy"), path("yl.npy")
        run("run", dsrc, "--activation", "relu", "-i", x_test, "-o", yd)
        run("run", f, "-i", x_test, "-o", yl)
        a, b = np.load(yd).astype(np.float64), np.load(yl).astype(np.float64)
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        check(abs(cos.min() - e2e.get("min_cosine", 0)) < 1e-5 and abs(cos.mean() - e2e.get("mean_cosine", 0)) < 1e-5,
              f"{name}: cosines {cos.min()} {cos.mean()} vs {e2e}")
        rc, so, se, rep = verify(dsrc, f, "--inputs", x_test, "--min-cosine", str(min(1.0, cos.min() + 1e-4)))
        check(rc == 1 and rep.get("verdict") == "fail" and "BELOW --min-cosine" in so, f"{name}: a cosine miss fails")
        rc, so, se, rep = verify(dsrc, f, "--inputs", x_test, "--max-rel-error", "1e-7")
        check(rc == 1 and rep.get("verdict") == "fail" and "exceeds --max-rel-error" in so,
              f"{name}: a relative error miss fails")
    else:
        check(rc == 0 and "PASS" in so and rep.get("verdict") == "pass", f"{name}: per-layer checks pass ({so[-200:]})")
rc, so, se = run("verify", dsrc, path("digits_budget.dlor"), "--min-cosine", "0.9")
check(rc == 2 and "--inputs" in se, "--min-cosine without --inputs is a usage error")
# a transformer, end to end on its token ids
f = fresh("bert_budget.dlor")
rc, so, se = run("convert", bert, "-o", f, "--budget", "0.5")
check(rc == 0, f"bert-tiny --budget 0.5: {se}")
rc, so, se, rep = verify(bert, f)
check(rc == 0 and rep.get("verdict") == "unchecked", f"bert-tiny budget without inputs: unchecked ({rc} {se})")
rc, so, se, rep = verify(bert, f, "--inputs", os.path.join(bert_dir, "test.npz"))
check(rc in (0, 1) and rep.get("end_to_end", {}).get("samples") == 16 and rep.get("verdict") in ("pass", "fail"),
      f"bert-tiny checked on test.npz ({rc}, {se})")


# verify's table keeps its columns under their headings whatever the names' lengths: each left-aligned
# cell starts where its heading starts, the right-aligned rank and L end where theirs end, and the
# name and shape cells hold the JSON report's values; a name past 64 characters keeps its end after "..."
def check_table(so, rep, what):
    lines = so.splitlines()
    hi = next((i for i, ln in enumerate(lines) if ln.startswith("layer ")), None)
    check(hi is not None, f"{what}: a table heading: {so[:300]}")
    if hi is None:
        return
    head, rows = lines[hi], lines[hi + 1:hi + 1 + len(rep.get("layers", []))]
    labels = ["layer", "shape", "form", "basis", "rank", "L", "alpha/beta", "rel_fro", "max_abs", "svd@size",
              "data_err", "params dense>dlor", "bytes dense>dlor"]
    starts = [head.index(" " + lab + " ") + 1 if k else 0 for k, lab in enumerate(labels[:-1])]
    starts.append(head.index(" " + labels[-1]) + 1)
    check(starts == sorted(starts), f"{what}: headings in order {starts}")
    for L, row in zip(rep["layers"], rows):
        for k, (lab, s) in enumerate(zip(labels, starts)):
            if lab in ("rank", "L"):
                e = s + len(lab)
                ok = row[e - 1] != " " and row[e] == " "
            else:
                ok = (s == 0 or row[s - 1] == " ") and row[s] != " "
            check(ok, f"{what}: column '{lab}' out of line in\n{head}\n{row}")
        name = L["name"] if len(L["name"]) <= 64 else "..." + L["name"][-61:]
        check(row[:starts[1]].rstrip() == name, f"{what}: name cell {row[:starts[1]]!r} for {L['name']}")
        check(row[starts[1]:starts[2]].rstrip() == "[%d, %d]" % tuple(L["shape"]), f"{what}: shape cell in {row}")
    width = max(len("layer"), min(64, max(len(L["name"]) for L in rep["layers"])))
    check(starts[1] == width + 1, f"{what}: the name column is {starts[1] - 1} wide, the longest name {width}")


mask = np.load(os.path.join(bert_dir, "test.npz"))["attention_mask"]
check_table(so, rep, "bert-tiny")
check(f"(16 sequences padded to {mask.shape[1]} tokens, of {mask.sum(1).mean():.1f} real tokens on average, at "
      f"most {mask.sum(1).max()})" in so, f"the token counts, from the mask: {so[-400:]}")
e2e = rep.get("end_to_end", {})
check(e2e.get("padded_length") == mask.shape[1] and abs(e2e.get("tokens_mean", 0) - mask.sum(1).mean()) < 1e-12 and
      e2e.get("tokens_max") == mask.sum(1).max(), f"the token counts in the JSON report: {e2e}")
vrc, vso, vse, vrep = verify(bert, f)
check("mean-pooled hidden states (256 sequences of 16 tokens, no padding)" in vso, f"random ids: {vso[-400:]}")
tied_ids = os.path.join(SRC, "samples", "llama-tiny-tied", "test.npz")
tmask = np.load(tied_ids)["attention_mask"]
ft = fresh("tied_add.dlor")
rc, so, se = run("convert", tied, "-o", ft, "--method", "add")
vrc, vso, vse, vrep = verify(tied, ft, "--inputs", tied_ids)
check(vrc == 0 and f"({len(tmask)} sequences padded to {tmask.shape[1]} tokens, of {tmask.sum(1).mean():.1f} real "
      f"tokens on average, at most {tmask.sum(1).max()}): top-1 agreement" in vso, f"a decoder's token counts: {vso[-400:]}")
longs = {"encoder." + "block_with_a_rather_long_name." * 3 + f"{i}.weight": rng.standard_normal((24, 16))
         .astype(np.float32) for i in range(2)}
longs["short.weight"] = rng.standard_normal((16, 24)).astype(np.float32)
longf, longd = path("long_names.safetensors"), fresh("long_names.dlor")
save_file(longs, longf)
rc, so, se = run("convert", longf, "-o", longd, "--method", "add")
check(rc == 0, f"convert long names: {se}")
vrc, vso, vse, vrep = verify(longf, longd)
check(vrc == 0 and max(len(n) for n in longs) > 64, f"verify long names: {vso}{vse}")
check_table(vso, vrep, "names past 64 characters")
# layers in model order (the graph's), compressed and kept-dense alike
names = [L["name"] for L in rep.get("layers", [])]
graph_order = [n for n in linear]
check(set(names) == set(linear) and names.index("encoder.layer.0.attention.self.query.weight") <
      names.index("encoder.layer.0.intermediate.dense.weight") < names.index("encoder.layer.1.attention.self.query.weight"),
      f"layers in model order: {names}")

# ---- 4. per-layer targets --------------------------------------------------------------------
f = fresh("digits_set.dlor")
rc, so, se = run("convert", dsrc, "-o", f, "--activation", "relu", "--rank", "16", "--method", "lowrank",
                 "--set", "2.weight:rank=4", "--set", "0.weight:rank=8,dtype=f16", "--set", "0.*:rank=6",
                 "--set", "4.weight:method=mul")
check(rc == 0, f"--set: {se}")
L = layers_of(f)
check(L.get("2.weight", {}).get("rank") == 4 and L.get("0.weight", {}).get("rank") == 6 and
      L.get("4.weight", {}).get("method") == 1, f"--set targets, later wins: {L}")
meta = meta_of(f)
check("0.weight method=lowrank rank=6 dtype=f16" in meta.get("dlor.layer_targets", ""), f"targets recorded: {meta}")
u0 = dlor_pyreader.read(f)[1]
check(any(k.startswith("0.weight.dlor.U") and v.dtype == np.float16 for k, v in u0.items()), "dtype=f16 for layer 0")
rc, so, se, rep = verify(dsrc, f)
check(rc == 0 and rep.get("verdict") == "unchecked", f"rank targets are unchecked: {so[-200:]}")
f = fresh("digits_dense.dlor")
rc, so, se = run("convert", dsrc, "-o", f, "--activation", "relu", "--set", "2.weight:method=dense")
check(rc == 0 and sorted(layers_of(f)) == ["0.weight", "4.weight"], f"method=dense carries a layer: {se}")
rc, so, se = run("convert", dsrc, "-o", fresh("x.dlor"), "--activation", "relu", "--set", "fc*:method=add")
check(rc == 0 and "--set 'fc*:...' matches no layer" in se, f"a rule that matches nothing is noted: {se}")

# dtype=q8 in a rule means what --dtype q8 means, for the layers it selects only: layers kept
# dense (a target no smaller form meets) are stored in q8 with the bytes --dtype q8 gives them,
# the other layers in float32; the factors of a compressed layer likewise
def info_tensors(f):
    rc, so, se = run("info", f, "--json")
    check(rc == 0, f"info --json {f}: {se}")
    return {t["name"]: t for t in json.loads(so)["tensors"]}, json.loads(so)


l0 = "encoder.layer.0.*"
fq_set, fq_all = fresh("bert_set_q8.dlor"), fresh("bert_all_q8.dlor")
rc, so, se = run("convert", bert, "-o", fq_set, "--tol", "1e-9", "--set", f"{l0}:dtype=q8")
check(rc == 0, f"--set '{l0}:dtype=q8': {se}")
rc, so, se = run("convert", bert, "-o", fq_all, "--tol", "1e-9", "--dtype", "q8")
check(rc == 0, f"--dtype q8: {se}")
ts_set, _ = info_tensors(fq_set)
ts_all, _ = info_tensors(fq_all)
want_q8 = sorted(n for n in linear if n.startswith("encoder.layer.0."))
got_q8 = sorted(n for n, t in ts_set.items() if t["dtype"] == "q8")
check(len(want_q8) == 6 and got_q8 == want_q8, f"the layers the rule selects are q8, no other: {got_q8}")
check(all(ts_set[n]["dtype"] == "f32" for n in linear if n not in want_q8), "the others stay f32")
check_table(*verify(bert, fq_set)[1:4:2], "layers kept dense, some in q8")
_, tset, _ = dlor_pyreader.read(fq_set)
_, tall, _ = dlor_pyreader.read(fq_all)
check(all(np.array_equal(tset[n], tall[n]) for n in want_q8) and
      all(ts_set[n]["nbytes"] == ts_all[n]["nbytes"] for n in want_q8),
      "a rule's q8 stores the values and bytes --dtype q8 stores")
fl = fresh("bert_set_q4_lowrank.dlor")
rc, so, se = run("convert", bert, "-o", fl, "--method", "lowrank", "--rank", "8", "--set", f"{l0}:dtype=q4")
ts, _ = info_tensors(fl)
_, info_l = info_tensors(fl)
dt = {L["name"]: L["dtype"] for L in info_l["layers"]}
check(rc == 0 and sorted(n for n, d in dt.items() if d == "q4") == want_q8 and
      all(dt[n] == "f32" for n in linear if n not in want_q8), f"dtype=q4 factors for the rule's layers: {dt} {se}")
# a plan written with --dtype q4 reads back (its lines say dtype=q4)
planq = fresh("bert_q4.plan")
rc, so, se = run("convert", bert, "--method", "lowrank", "--rank", "8", "--dtype", "q4", "--dry-run",
                 "--plan-out", planq)
check(rc == 0 and "dtype=q4" in open(planq).read(), f"--plan-out with --dtype q4: {se}")
rc, so, se = run("convert", bert, "-o", fresh("bert_plan_q4.dlor"), "--method", "lowrank", "--rank", "8",
                 "--plan", planq)
check(rc == 0, f"a plan with dtype=q4 converts: {se}")
rc, so, se = run("convert", dsrc, "-o", fresh("x.dlor"), "--activation", "relu", "--set", "2.weight:dtype=q2")
check(rc == 2 and "dtype must be f32, f64, f16, bf16, q8 or q4, not 'q2'" in se and len(se.strip().splitlines()) == 1,
      f"--set dtype=q2: {se}")
# --budget-bits chooses each layer's dtype: a rule's dtype would be dropped without a word, so it is refused
out_bits = fresh("bert_bits_f16.dlor")
rc, so, se = run("convert", bert, "-o", out_bits, "--budget-bits", "4.5", "--set", f"{l0}:dtype=f16")
check(rc == 2 and "--budget-bits chooses each layer's dtype" in se and "encoder.layer.0." in se and len(se.strip().splitlines()) == 1
      and not os.path.exists(out_bits), f"--set dtype= with --budget-bits: {rc} {se}")
rc, so, se = run("convert", bert, "-o", out_bits, "--budget-bits", "4.5", "--set", f"{l0}:rank=4")
check(rc == 0, f"--set rank= with --budget-bits converts: {se}")
rc, so, se = run("convert", dsrc, "-o", fresh("x.dlor"), "--activation", "relu", "--set", "2.weight:speed=9")
check(rc == 2 and "unknown key 'speed'" in se and len(se.strip().splitlines()) == 1, f"--set unknown key: {se}")
rc, so, se = run("convert", dsrc, "-o", fresh("x.dlor"), "--activation", "relu", "--set", "2.weight:method=lowrank")
check(rc == 2 and "needs a target" in se, f"a compressed layer without target: {se}")

# plan files
planf = fresh("digits.plan")
rc, so, se = run("convert", dsrc, "--activation", "relu", "--rank", "16", "--method", "lowrank", "--dry-run",
                 "--plan-out", planf)
check(rc == 0 and os.path.exists(planf), f"--plan-out: {se}")
lines = [ln for ln in open(planf).read().splitlines() if ln and not ln.startswith("#")]
check([ln.split()[0] for ln in lines] == ["0.weight", "2.weight", "4.weight"], f"one layer per line: {lines}")
text = open(planf).read().replace("2.weight method=lowrank rank=16", "2.weight method=lowrank rank=5")
text = text.replace("4.weight method=lowrank rank=16 dtype=f32", "4.weight method=add")
open(planf, "w").write(text)
f1 = fresh("plan1.dlor")
rc, so, se = run("convert", dsrc, "-o", f1, "--activation", "relu", "--rank", "16", "--method", "lowrank",
                 "--plan", planf)
L = layers_of(f1)
check(rc == 0 and L.get("2.weight", {}).get("rank") == 5 and L.get("0.weight", {}).get("rank") == 16 and
      L.get("4.weight", {}).get("method") == 2, f"--plan targets: {se} {L}")
bad = fresh("bad.plan")
open(bad, "w").write("# a plan\n0.weight method=lowrank rank=4\n2.weight method=lowrank colour=red\n")
rc, so, se = run("convert", dsrc, "-o", fresh("x.dlor"), "--activation", "relu", "--rank", "16", "--plan", bad)
check(rc == 2 and se.strip().count("\n") == 0 and "bad.plan:3:" in se and "unknown key 'colour'" in se,
      f"an unknown key names the line: {se}")
open(bad, "w").write("nosuch.weight method=add\n")
rc, so, se = run("convert", dsrc, "-o", fresh("x.dlor"), "--activation", "relu", "--plan", bad)
check(rc == 2 and "bad.plan:1:" in se and "nosuch.weight" in se, f"a layer the model lacks: {se}")
# shards made from one plan merge into the one-process file
parts = []
for i in range(2):
    pf = fresh(f"plan_part{i}.dlor")
    rc, so, se = run("convert", dsrc, "-o", pf, "--activation", "relu", "--rank", "16", "--method", "lowrank",
                     "--plan", planf, "--shard", f"{i}/2")
    check(rc == 0, f"plan shard {i}: {se}")
    parts.append(pf)
merged = fresh("plan_merged.dlor")
rc, so, se = run("merge", *parts, "-o", merged)
check(rc == 0 and open(merged, "rb").read() == open(f1, "rb").read(), f"plan shards merge to the same bytes: {se}")

# ---- 5. progress -----------------------------------------------------------------------------
rc, so, se = run_env({"DLOR_PROGRESS_AFTER": "0"}, "convert", dsrc, "-o", fresh("p.dlor"), "--activation", "relu",
                     "--budget", "0.5", "--verbose")
check(rc == 0 and "error curves: 1/3 layers" in se and "fits: 3/3 layers" in se and "ETA" in se and
      "allocation" in se and "writing" in se, f"progress lines with counts and an ETA: {se}")
rc, so, se = run_env({"DLOR_PROGRESS_AFTER": "0"}, "convert", dsrc, "-o", fresh("p.dlor"), "--activation", "relu",
                     "--verbose")
check(rc == 0 and "exact factorizations: 1/3 layers" in se, f"exact progress: {se}")
rc, so, se = run_env({"DLOR_PROGRESS_AFTER": "0"}, "convert", dsrc, "-o", fresh("p.dlor"), "--activation", "relu")
check(rc == 0 and "ETA" not in se, "no progress lines without a terminal or --verbose")

# ---- 6. calibration of a transformer ---------------------------------------------------------
test_ids = os.path.join(bert_dir, "test.npz")
calib = os.path.join(bert_dir, "calib.npz")
dense_emb = path("dense_emb.npy")
rc, so, se = run("run", bert, "-i", test_ids, "-o", dense_emb, "--select", "sentence_embedding")
check(rc == 0, f"dense embeddings: {se}")
cosines = {}
for name, extra in (("plain", []), ("calibrated", ["--calib", calib])):
    f = fresh(f"bert_{name}.dlor")
    rc, so, se = run("convert", bert, "-o", f, "--budget", "0.5", *extra)
    check(rc == 0, f"bert-tiny {name}: {se}")
    e = path(f"emb_{name}.npy")
    rc, so, se = run("run", f, "-i", test_ids, "-o", e, "--select", "sentence_embedding")
    a, b = np.load(dense_emb).astype(np.float64), np.load(e).astype(np.float64)
    cosines[name] = float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).mean())
print("bert-tiny --budget 0.5, mean sentence-embedding cosine on test.npz:", cosines)
check(cosines["calibrated"] > cosines["plain"], f"calibration brings the embeddings closer: {cosines}")
check(meta_of(path("bert_calibrated.dlor")).get("dlor.calib") == "calib.npz", "dlor.calib recorded")
# the Gram matrix leaves out padded positions: a calibration set with padding rows appended (mask 0,
# arbitrary ids) gives the same file
c = dict(np.load(calib))
pad = {k: np.concatenate([v, np.zeros_like(v[:, :8])], axis=1) for k, v in c.items()}
pad["input_ids"][:, -8:] = 7
padf = path("calib_padded.npz")
np.savez(padf, **pad)
f = fresh("bert_padded.dlor")
rc, so, se = run("convert", bert, "-o", f, "--budget", "0.5", "--calib", padf)
ta, tb = dlor_pyreader.read(path("bert_calibrated.dlor"))[1], dlor_pyreader.read(f)[1] if rc == 0 else {}
factors = [k for k in ta if ".dlor." in k]
check(rc == 0 and factors and set(factors) == {k for k in tb if ".dlor." in k} and
      all(np.array_equal(ta[k], tb[k]) for k in factors), f"masked positions do not count: the same factors ({se})")
for bad_name, arr, want in (("ids_range", np.full((2, 8), 500, dtype=np.int64), "outside"),
                            ("ids_shape", np.zeros((2, 8, 3), dtype=np.int64), "shape")):
    bf = path(bad_name + ".npz")
    np.savez(bf, input_ids=arr)
    out = fresh("bad.dlor")
    rc, so, se = run("convert", bert, "-o", out, "--budget", "0.5", "--calib", bf)
    check(rc == 1 and len(se.strip().splitlines()) == 1 and want in se and bad_name in se and not os.path.exists(out),
          f"bad calibration ids ({bad_name}): {rc} {se}")

finish()
