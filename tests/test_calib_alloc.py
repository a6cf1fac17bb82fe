"""--allocate uniform, and calibrated allocation against it.

- --budget F --allocate uniform gives every layer the largest rank k with k (m + n) + 1 <= F m n
  (at least 1; computed here from the shapes), so every layer stores at most F of its own size;
  it refuses to go without --budget (exit 2) and is recorded in dlor.target;
- with the same calibrated fits, the ranks allocated on sensitivity-weighted data-space errors
  (--budget F --calib, the default sum allocation) end to end at least as close to the dense model
  as one rank fraction for every layer (--allocate uniform --calib), on held-out inputs measured by
  dlor verify --inputs (mean per-sample cosine, at most 0.002 below): digits (x_train, x_test),
  bert-tiny and llama-tiny (calib.npz, test.npz) at --budget 0.5 and 0.25;
- --budget-bits 4.5 --calib (a form per layer) end to end at least as close as q4 everywhere (at
  most 0.0005 below, in no more bytes) and as DLoR in f16 at q4's bytes (--method auto --budget,
  at most 0.0005 below), on the same three samples and held-out inputs.
- the plan (convert --dry-run) counts the sensitivity passes of a calibrated allocation: none
  without --calib or with --allocate uniform; with --budget 0.5 --calib their estimate grows with the
  layers probed (one pass and one probe fit per layer: 8 layers over 1.2x 5 of them), and it is
  part of the total.
bench/bench_calib.py and bench/bench_qlr.py print the figures (the former with larger generated sets).
"""
import json
import os

import numpy as np
from safetensors.numpy import load_file, save_file

import dlor_pyreader
from dlor_testlib import SRC, check, finish, run, scratch, to_secs

TMP, path, fresh = scratch("calib-alloc")
os.environ["DLOR_TEST_PLAN_SPEED"] = "1"  # plans compared across runs: the reference rates, unscaled
S = os.path.join(SRC, "samples")
DIGITS = os.path.join(S, "digits", "digits.safetensors")
BERT = os.path.join(S, "bert-tiny")
LLAMA = os.path.join(S, "llama-tiny")
MARGIN = 0.002
BITS_MARGIN = 0.0005


def uniform_ranks(shapes, f):
    out = {}
    for n, (m, k) in shapes.items():
        r = int((f * m * k - 1) // (m + k))
        out[n] = min(max(r, 1), m, k)
    return out


w = load_file(DIGITS)
shapes = {n: v.shape for n, v in w.items() if n.endswith("weight")}
for f in (0.5, 0.25):
    out = fresh(f"digits_uniform_{f}.dlor")
    rc, so, se = run("convert", DIGITS, "--activation", "relu", "-o", out, "--budget", str(f), "--allocate", "uniform")
    check(rc == 0, f"--allocate uniform: {se}")
    if rc == 0:
        meta, _, layers = dlor_pyreader.read(out)
        got = {n: L["rank"] for n, L in layers.items()}
        check(got == uniform_ranks(shapes, f), f"uniform ranks at {f}: {got} vs {uniform_ranks(shapes, f)}")
        check(all(r * sum(shapes[n]) + 1 <= f * shapes[n][0] * shapes[n][1] for n, r in got.items()),
              "every layer within its share")
        check(meta.get("dlor.target") == f"budget {f:.9g} (uniform)", f"dlor.target: {meta.get('dlor.target')}")
rc, so, se = run("convert", DIGITS, "--activation", "relu", "-o", fresh("x.dlor"), "--rank", "4", "--allocate", "uniform")
check(rc == 2 and "--allocate" in se, f"--allocate uniform without --budget: {rc} {se}")


def plan_secs(*args):
    """The plan's total time and that of its sensitivity passes (0 when it has none)."""
    rc, so, se = run("convert", *args, "--dry-run")
    tot = [ln for ln in so.splitlines() if ln.startswith("total:")]
    check(rc == 0 and tot, f"dry run {args}: {se}")
    if not tot:
        return 0, 0
    rest = tot[0].split(", time ")[1]
    sens = rest.split("the sensitivity passes ")[1].rstrip(")") if "sensitivity" in rest else None
    return to_secs(rest.split(" (")[0]), to_secs(sens) if sens else 0


rng = np.random.default_rng(3)
chain = {f"{2 * i}.weight": (rng.standard_normal((512, 512)) / 23).astype(np.float32) for i in range(8)}
CHAIN = path("chain8.safetensors")
save_file(chain, CHAIN)
CHAIN_X = path("chain8_x.npy")
np.save(CHAIN_X, rng.standard_normal((4096, 512)).astype(np.float32))
base = [CHAIN, "--activation", "relu", "--budget", "0.5"]
t_uncal, s_uncal = plan_secs(*base)
t_unif, s_unif = plan_secs(*base, "--calib", CHAIN_X, "--allocate", "uniform")
t8, s8 = plan_secs(*base, "--calib", CHAIN_X)
t5, s5 = plan_secs(*base, "--calib", CHAIN_X, "--exclude", "1*")
tb, sb = plan_secs(CHAIN, "--activation", "relu", "--budget-bits", "4.5", "--calib", CHAIN_X)
print(f"plan, sensitivity passes: uncalibrated {s_uncal} s, uniform {s_unif} s, 8 layers {s8} s of {t8} s, "
      f"5 layers {s5} s, --budget-bits {sb} s")
check(s_uncal == 0 and s_unif == 0, f"no sensitivity passes without them: {s_uncal} {s_unif}")
check(s8 > 1.2 * s5 > 0, f"the sensitivity passes grow with the layers probed: {s8} vs {s5}")
check(t8 >= s8 and t8 > t_unif, f"the sensitivity passes are part of the total: {t8} {s8} {t_unif}")
check(sb > 0, f"--budget-bits --calib has sensitivity passes: {sb}")


def cosine(model, out, test):
    v = verified(model, out, test)
    return v["end_to_end"]["mean_cosine"] if v else None


def verified(model, out, test):
    js = out + ".json"
    rc, so, se = run("verify", model, out, "--inputs", test, "--json", js, "--min-cosine", "0")
    if not os.path.exists(js):
        return None
    with open(js) as fh:
        return json.load(fh)


cases = [("digits", DIGITS, ["--activation", "relu"], os.path.join(S, "digits", "x_train.npy"),
          os.path.join(S, "digits", "x_test.npy")),
         ("bert-tiny", BERT, [], os.path.join(BERT, "calib.npz"), os.path.join(BERT, "test.npz")),
         ("llama-tiny", LLAMA, [], os.path.join(LLAMA, "calib.npz"), os.path.join(LLAMA, "test.npz"))]
for name, model, extra, calib, test in cases:
    for f in ("0.5", "0.25"):
        cos = {}
        for way, flags in (("uniform", ["--allocate", "uniform"]), ("allocated", [])):
            out = fresh(f"{name}_{f}_{way}.dlor")
            rc, so, se = run("convert", model, "-o", out, "--budget", f, "--calib", calib, *extra, *flags)
            check(rc == 0, f"{name} {f} {way}: {se}")
            cos[way] = cosine(model, out, test) if rc == 0 else None
        print(f"{name} --budget {f} calibrated, mean cosine: uniform {cos['uniform']}, allocated {cos['allocated']}")
        check(None not in cos.values() and cos["allocated"] >= cos["uniform"] - MARGIN,
              f"{name} {f}: allocation at least as good as one fraction for every layer: {cos}")

# --budget-bits: against q4 everywhere and DLoR in f16 at q4's bytes
for name, model, extra, calib, test in cases:
    got = {}
    for way, flags in (("q4", ["--tol", "1e-9", "--dtype", "q4"]), ("auto", ["--budget-bits", "4.5", "--calib", calib])):
        out = fresh(f"{name}_{way}.dlor")
        rc, so, se = run("convert", model, "-o", out, *extra, *flags)
        check(rc == 0, f"{name} {way}: {se}")
        got[way] = verified(model, out, test) if rc == 0 else None
    if None in got.values():
        check(False, f"{name}: verify failed")
        continue
    q4b, dense = got["q4"]["bytes_dlor_total"], got["q4"]["bytes_dense_total"]
    out = fresh(f"{name}_dlor_f16.dlor")
    rc, so, se = run("convert", model, "-o", out, *extra, "--method", "auto", "--budget", f"{q4b / (dense / 2):.4f}",
                     "--dtype", "f16", "--calib", calib)
    check(rc == 0, f"{name} DLoR f16: {se}")
    got["dlor"] = verified(model, out, test) if rc == 0 else None
    if got["dlor"] is None:
        check(False, f"{name}: verify of DLoR f16 failed")
        continue
    cos = {k: v["end_to_end"]["mean_cosine"] for k, v in got.items()}
    nb = {k: v["bytes_dlor_total"] for k, v in got.items()}
    print(f"{name} 4.5 bits, mean cosine (bytes): " + ", ".join(f"{k} {cos[k]:.5f} ({nb[k]})" for k in cos))
    check(nb["auto"] <= q4b and nb["dlor"] <= 1.01 * q4b, f"{name}: bytes {nb}")
    check(cos["auto"] >= cos["q4"] - BITS_MARGIN, f"{name}: --budget-bits 4.5 at least as good as q4: {cos}")
    check(cos["auto"] >= cos["dlor"] - BITS_MARGIN, f"{name}: --budget-bits 4.5 at least as good as DLoR f16: {cos}")

finish()
